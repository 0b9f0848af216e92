"""PERMOS borehole files (wide: a date column, then one column per sensor depth in metres).

The GTN-P "Date/Depth" wide export has the same layout.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputFileError
from .labels import sites_from_series
from .parsing import check_file, read_csv, to_dates, to_float

__all__ = ["read_permos"]


def read_permos(
    path: str | os.PathLike[str],
    *,
    lon: float,
    lat: float,
    borehole: str | None = None,
    source: str = "permos",
    missing_values: Sequence[float] = (-999.0, -9999.0),
    epochs: Sequence[int] | None = None,
    window: int = 9,
    depth_m: float | None = None,
    threshold_c: float = 0.0,
    min_days_per_month: int = 20,
    min_months_harmonic: int = 7,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a PERMOS borehole file (wide: date column + one column per depth in m).

    PERMOS files carry no coordinates; give them (WGS84 degrees) with ``lon`` and ``lat``.
    The GTN-P wide export (first column ``Date/Depth``) has the same layout.

    Parameters
    ----------
    path : path
        The CSV; first column the date/time, then columns named by depth in metres; ``NA``,
        empty cells and ``missing_values`` are missing.
    lon, lat : float
        Borehole coordinates.
    borehole : str, optional
        Original identifier (default: the file stem).
    source, epochs, window, depth_m, threshold_c, min_days_per_month, min_months_harmonic
        See :func:`read_gtnp`.
    encoding : str
        Text encoding of the CSV (default ``"utf-8"``).

    Returns
    -------
    DataFrame
        Raw site table rows for the borehole.
    """
    csv_path = check_file(path, "PERMOS borehole file")
    df = read_csv(csv_path, "PERMOS borehole file", encoding=encoding)
    date_col, depth_cols = df.columns[0], list(df.columns[1:])
    if not depth_cols:
        raise InputFileError(
            f"PERMOS borehole file {csv_path} has only the column {date_col!r}; it needs a date "
            "column followed by one column per sensor depth in metres (e.g. time,0.5,1,2.3)"
        )
    depths = []
    for c in depth_cols:
        try:
            depths.append(float(c))
        except ValueError:
            raise InputFileError(
                f"PERMOS borehole file {csv_path}: column {c!r} is not a depth in metres; "
                "name every column after the first by its sensor depth (e.g. '2.3')"
            ) from None
    dates = to_dates(df[date_col], csv_path, str(date_col))
    parts = []
    for c, d in zip(depth_cols, depths, strict=True):
        t = to_float(df[c], csv_path, str(c), "temperatures must be °C numbers or NA").copy()
        t[np.isin(t, np.asarray(missing_values, dtype=float))] = np.nan
        parts.append(pd.DataFrame({"date": dates, "depth_m": d, "temperature_c": t}))
    sid = borehole or csv_path.stem
    series = pd.concat(parts, ignore_index=True).assign(source_id=sid)
    boreholes = pd.DataFrame({"source_id": [sid], "lon": [float(lon)], "lat": [float(lat)]})
    return sites_from_series(
        series,
        boreholes,
        source=source,
        epochs=epochs,
        window=window,
        depth_m=depth_m,
        threshold_c=threshold_c,
        min_days_per_month=min_days_per_month,
        min_months_harmonic=min_months_harmonic,
    )
