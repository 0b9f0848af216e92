"""GTN-P ground-temperature exports → MAGT and labels per borehole (and epoch).

A GTN-P export is a long CSV ``id, date, depth, temperature, flag, dataset_id, borehole_id,
site_id`` with a ``<stem>_metadata.json`` beside it that holds the coordinates.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError
from .labels import sites_from_series
from .parsing import (
    bad_rows_message,
    check_file,
    one_line,
    read_csv,
    read_text,
    to_dates,
    to_float,
)

__all__ = ["read_gtnp"]

logger = logging.getLogger(__name__)

_GTNP_COLUMNS = ("date", "depth", "temperature", "dataset_id")


def _gtnp_metadata(path: Path, csv_path: Path) -> pd.DataFrame:
    text = read_text(check_file(path, "GTN-P metadata"), "GTN-P metadata")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"GTN-P metadata {path} is not valid JSON ({one_line(exc)}); it is truncated or "
            f"not the metadata JSON exported with {csv_path.name}: download it again"
        ) from None
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not records:
        raise InputFileError(
            f"GTN-P metadata {path} holds {type(records).__name__} {str(records)[:40]!r}, not a "
            f"list of dataset records; use the metadata JSON exported with {csv_path.name}"
        )
    rows = []
    for i, rec in enumerate(records):
        try:
            bh = rec["borehole"]
            loc = bh["location"]
            rows.append(
                {
                    "dataset_id": int(rec["id"]),
                    "source_id": str(bh.get("name") or bh["id"]),
                    "lat": float(loc["latitude"]) if loc["latitude"] is not None else np.nan,
                    "lon": float(loc["longitude"]) if loc["longitude"] is not None else np.nan,
                    "elev_m": float(loc["elevation"])
                    if loc.get("elevation") is not None
                    else np.nan,
                    "name": bh.get("site_name"),
                    "citation": "; ".join(
                        c.get("citation", "") for c in rec.get("citations") or []
                    ),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFileError(
                f"GTN-P metadata {path}: record {i} lacks id/borehole.location.latitude/longitude "
                f"({type(exc).__name__}: {one_line(exc)}); it must be the metadata JSON exported "
                f"with {csv_path.name}"
            ) from None
    return pd.DataFrame(rows)


def read_gtnp(
    path: str | os.PathLike[str],
    metadata: str | os.PathLike[str] | None = None,
    *,
    source: str = "gtnp",
    epochs: Sequence[int] | None = None,
    window: int = 9,
    depth_m: float | None = None,
    threshold_c: float = 0.0,
    min_days_per_month: int = 20,
    min_months_harmonic: int = 7,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a GTN-P ground-temperature export and derive MAGT and labels per borehole.

    Parameters
    ----------
    path : path
        The data CSV with columns ``date, depth, temperature, dataset_id`` (GTN-P API export;
        ``flag`` and ``borehole_id`` are optional).
    metadata : path, optional
        The metadata JSON (a list of datasets with ``borehole.location``); by default
        ``<stem>_metadata.json`` next to ``path``.
    source : str
        Source name (default ``"gtnp"``); ``site_id = "<source>:<borehole name>"``.
    epochs, window
        With ``epochs``, one row per borehole and epoch window with data (see
        :func:`~permamap.sites.labels.sites_from_series`); otherwise one row per borehole.
    depth_m : float, optional
        Depth for MAGT; by default the depth of zero annual amplitude, else the deepest usable.
    threshold_c : float
        MAGT ≤ this → permafrost (default 0 °C).
    min_days_per_month, min_months_harmonic
        See :func:`~permamap.sites.labels.magt_profile`.
    encoding : str
        Text encoding of the data CSV (default ``"utf-8"``).

    Returns
    -------
    DataFrame
        Raw site table (+ ``magt_method``, ``name``, ``elev_m``, ``label_from``).
    """
    csv_path = check_file(path, "GTN-P data file")
    meta_path = (
        Path(metadata)
        if metadata is not None
        else csv_path.with_name(f"{csv_path.stem}_metadata.json")
    )
    if not meta_path.is_file():
        raise InputFileError(
            f"GTN-P metadata {meta_path} for {csv_path} does not exist; GTN-P coordinates are "
            "only in the metadata JSON: pass metadata=<its path> (in the config: metadata = "
            '"boreholes_metadata.json") or put it next to the CSV'
        )
    df = read_csv(csv_path, "GTN-P data file", encoding=encoding)
    missing = [c for c in _GTNP_COLUMNS if c not in df.columns]
    if missing:
        raise InputFileError(
            f"GTN-P data file {csv_path} lacks column(s) {missing}; it has "
            f"{[str(c) for c in df.columns][:12]}. A GTN-P export has {list(_GTNP_COLUMNS)}; "
            'for a wide file (date + one column per depth) use type = "permos" (read_permos)'
        )
    meta = _gtnp_metadata(meta_path, csv_path)
    dataset = to_float(df["dataset_id"], csv_path, "dataset_id", "it must be an integer id")
    not_id = ~np.isfinite(dataset) | (dataset != np.round(dataset))
    if not_id.any():
        raise DataError(
            bad_rows_message(csv_path, "dataset_id", df["dataset_id"], not_id, 2)
            + "; every row needs the integer id of its dataset (the id of a metadata record)"
        )
    known = {int(v) for v in meta["dataset_id"]}
    unknown = sorted({int(v) for v in dataset[np.isfinite(dataset)]} - known)
    if unknown:
        raise InputFileError(
            f"{csv_path}: dataset_id(s) {unknown} have no record in {meta_path}; use the metadata "
            "JSON exported with this file"
        )
    series = pd.DataFrame(
        {
            "date": to_dates(df["date"], csv_path, "date"),
            "depth_m": to_float(df["depth"], csv_path, "depth", "depths must be metres"),
            "temperature_c": to_float(
                df["temperature"], csv_path, "temperature", "temperatures must be °C numbers"
            ),
            "dataset_id": dataset,
        }
    )
    series = series.merge(meta[["dataset_id", "source_id"]], on="dataset_id", how="left")
    boreholes = meta.drop_duplicates("source_id")
    boreholes = boreholes[boreholes["source_id"].isin(series["source_id"])]
    out = sites_from_series(
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
    out = out.merge(boreholes[["source_id", "elev_m"]], on="source_id", how="left")
    logger.debug("read %d borehole rows from GTN-P export %s", len(out), csv_path)
    return out
