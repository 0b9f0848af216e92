"""The feature table: factor values at each site for its epoch (pure given a sampler)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = ["feature_table"]

Sampler = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def feature_table(sites: pd.DataFrame, names: Sequence[str], sample: Sampler) -> pd.DataFrame:
    """``site_id, source, epoch, lon, lat, label`` + one column per factor, for every site row.

    ``sample(epoch, lon, lat)`` returns ``(n, len(names))`` factor values of that epoch's stack.
    Rows whose factors are missing (a site on a cell the stack has no data for) are dropped with a
    :class:`~permamap.errors.DataError` if that leaves nothing.

    >>> s = pd.DataFrame({"site_id": ["a", "b"], "source": "x", "epoch": [2000, 2005],
    ...                   "lon": [1.0, 2.0], "lat": [3.0, 4.0], "label": [1, 0]})
    >>> f = feature_table(s, ["t"], lambda e, lo, la: (lo + la + e)[:, None])
    >>> f["t"].tolist()
    [2004.0, 2011.0]
    """
    base = sites[["site_id", "source", "epoch", "lon", "lat", "label"]].reset_index(drop=True)
    values = np.full((len(base), len(names)), np.nan, dtype=np.float64)
    for epoch, idx in base.groupby("epoch").indices.items():
        values[idx] = sample(
            int(epoch), base.lon.to_numpy(float)[idx], base.lat.to_numpy(float)[idx]
        )
    table = pd.concat([base, pd.DataFrame(values, columns=list(names))], axis=1)
    table["label"] = table["label"].astype(int)
    complete = np.isfinite(values).all(axis=1)
    if not complete.any():
        raise DataError(
            "no site has a complete set of factors; check that the sites lie on land cells of the "
            "covariate stack"
        )
    return table[complete].reset_index(drop=True)
