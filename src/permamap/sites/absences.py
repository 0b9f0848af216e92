"""Non-permafrost points where the gridded climate is clearly too warm (``type = "climate_absences"``).

The published workflow adds GHCN weather stations whose mean annual air temperature (MAAT) lies
between 2 and 10 °C as non-permafrost sites: borehole networks record permafrost far more often
than its absence. A user without station files gets the same kind of points from the run's own
MAAT factor: cells drawn at random on land (area-weighted, so high latitudes are not
over-represented on a lon/lat grid) whose window-mean MAAT lies in ``[maat_min_c, maat_max_c]``,
one raw row per cell and epoch in range, labelled 0 with ``label_from = "climate_absence"``.
They are pseudo-absences and say so (source, kind ``other``, the QC report and the site table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from rasterio.windows import Window

from ..errors import ConfigError, DataError
from ..grid import Grid

__all__ = ["climate_absences"]

log = logging.getLogger(__name__)

#: ``maat(lon, lat, epoch) -> °C`` at points (NaN off the grid or where the stack has no value)
MaatAt = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
#: ``is_land(lon, lat) -> bool`` at points
LandAt = Callable[[np.ndarray, np.ndarray], np.ndarray]


def climate_absences(
    grid: Grid,
    epochs: list[int],
    maat: MaatAt,
    is_land: LandAt | None,
    *,
    n: int,
    maat_min_c: float = 2.0,
    maat_max_c: float = 10.0,
    source: str = "climate_absences",
    random_state: int = 0,
    oversample: int = 20,
) -> pd.DataFrame:
    """Up to ``n`` land cells with MAAT in range, as raw non-permafrost rows (one per epoch in range).

    Parameters
    ----------
    grid : Grid
        The run's grid; points are cell centres (in the grid's CRS, which must be lon/lat).
    epochs : list of int
        The run's epochs.
    maat, is_land : callable
        MAAT (°C) and the land mask at points (the pipeline samples the stack and the land mask).
    n : int
        Cells wanted. Fewer are returned (and logged) when the grid holds fewer in range.
    maat_min_c, maat_max_c : float
        Inclusive MAAT range (°C); the published rule is 2–10 °C.
    random_state : int
        Seed of the draw (the run's ``[run] seed``).

    Raises
    ------
    ConfigError
        ``n`` < 1, an empty range, or a projected grid.
    DataError
        No land cell of the grid has MAAT in the range in any epoch.

    Examples
    --------
    >>> g = Grid.from_bounds((0, 40, 10, 50), res=1.0)
    >>> warm = lambda lon, lat, epoch: 30.0 - 0.6 * lat  # 6 °C at 40 °N ... 0 °C at 50 °N
    >>> rows = climate_absences(g, [2000], warm, None, n=5, random_state=1)
    >>> len(rows), bool((rows.maat >= 2).all()), set(rows.label.tolist())
    (5, True, {0})
    """
    if n < 1:
        raise ConfigError(f"climate_absences n = {n} must be 1 or more; e.g. n = 100")
    if not maat_min_c < maat_max_c:
        raise ConfigError(
            f"climate_absences maat_min_c = {maat_min_c} must be below maat_max_c = {maat_max_c}; "
            "the published rule is 2 to 10 °C"
        )
    if not grid.is_geographic:
        raise ConfigError(
            f"climate_absences draws sites as lon/lat cell centres, but the grid's CRS is "
            f"{grid.crs}; use a table of non-permafrost sites instead"
        )
    rng = np.random.default_rng(random_state)
    row_area = grid.cell_area_km2(Window(0, 0, 1, grid.height))[:, 0]
    k = n * oversample
    rows = rng.choice(grid.height, size=k, p=row_area / row_area.sum())
    cols = rng.integers(0, grid.width, k)
    cells = np.unique(rows * grid.width + cols)
    cells = cells[rng.permutation(len(cells))]
    rows, cols = np.divmod(cells, grid.width)
    lon = grid.west + (cols + 0.5) * grid.res
    lat = grid.north - (rows + 0.5) * grid.res
    keep = np.ones(len(lon), dtype=bool) if is_land is None else np.asarray(is_land(lon, lat))
    values = np.column_stack([np.asarray(maat(lon, lat, e), dtype=float) for e in epochs])
    with np.errstate(invalid="ignore"):
        ok = (values >= maat_min_c) & (values <= maat_max_c) & keep[:, None]
    chosen = np.flatnonzero(ok.any(axis=1))[:n]
    if chosen.size == 0:
        raise DataError(
            f"climate_absences: no land cell of the grid has MAAT in [{maat_min_c}, {maat_max_c}] "
            f"°C in any epoch; widen the range or remove this input"
        )
    if chosen.size < n:
        log.warning(
            "climate_absences: only %d of %d cells wanted have MAAT in [%g, %g] °C",
            chosen.size,
            n,
            maat_min_c,
            maat_max_c,
        )
    records = [
        {
            "site_id": f"{source}:{i:05d}",
            "source": source,
            "source_id": f"{i:05d}",
            "kind": "other",
            "lon": float(lon[c]),
            "lat": float(lat[c]),
            "year": int(e),
            "label": 0,
            "magt": np.nan,
            "magt_depth_m": np.nan,
            "maat": float(values[c, j]),
            "label_from": "climate_absence",
        }
        for i, c in enumerate(chosen)
        for j, e in enumerate(epochs)
        if ok[c, j]
    ]
    out = pd.DataFrame.from_records(records)
    out["year"] = out["year"].astype("Int64")
    out["label"] = out["label"].astype("Int64")
    return out
