"""Generic site tables (CSV, GeoPackage, GeoParquet) read through a column mapping."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InputFileError
from ..keys import did_you_mean
from .parsing import KINDS, bad_rows_message, check_file, one_line, read_csv, to_float

__all__ = ["TABLE_FIELDS", "read_table"]

logger = logging.getLogger(__name__)

#: Fields a generic table's column mapping may set (raw columns the reader cannot make itself).
TABLE_FIELDS = ("source_id", "kind", "lon", "lat", "year", "label", "magt", "magt_depth_m", "maat")

_LABEL_WORDS = {
    "1": 1,
    "1.0": 1,
    "true": 1,
    "yes": 1,
    "y": 1,
    "permafrost": 1,
    "0": 0,
    "0.0": 0,
    "false": 0,
    "no": 0,
    "n": 0,
    "none": 0,
    "no permafrost": 0,
}


def _read_any_table(path: Path, layer: str | None, encoding: str) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(
            path, "site table", encoding=encoding, sep="\t" if suffix == ".tsv" else ","
        )
    try:
        if suffix in (".gpkg", ".shp", ".geojson", ".json", ".fgb"):
            import geopandas as gpd

            df = gpd.read_file(path, layer=layer)
        elif suffix in (".parquet", ".geoparquet"):
            import pyarrow.parquet as pq

            meta = pq.read_schema(path).metadata or {}
            if b"geo" in meta:
                import geopandas as gpd

                df = gpd.read_parquet(path)
            else:
                df = pd.read_parquet(path)
        else:
            raise InputFileError(
                f"site table {path} has an unknown extension {suffix!r}; save it as .csv, .tsv, "
                ".gpkg or .parquet (GeoParquet)"
            )
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio/pyarrow raise many types for corrupt files; keep the text
        raise InputFileError(
            f"site table {path} cannot be read as {suffix[1:]} ({type(exc).__name__}: "
            f"{one_line(exc)}); the file is truncated, corrupt or not {suffix[1:]}: export it again"
        ) from None
    if len(df) == 0:
        raise InputFileError(f"site table {path} has no rows; export it again")
    return df


def _parse_labels(values: pd.Series, path: Path, column: str) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    parsed = text.map(_LABEL_WORDS)
    empty = values.isna() | text.eq("") | text.eq("nan") | text.eq("<na>")
    bad = (parsed.isna() & ~empty).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        raise DataError(
            bad_rows_message(path, column, values, bad, 2)
            + "; labels must be 1 (permafrost), 0 (no permafrost) or empty (unclear)"
        )
    return pd.Series(pd.array(parsed.where(~empty), dtype="Int64"), index=values.index)


def _parse_years(values: pd.Series, path: Path, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.Series(pd.array(values.dt.year, dtype="Int64"), index=values.index)
    num = pd.to_numeric(values, errors="coerce")
    out = pd.Series(pd.array(np.full(len(values), pd.NA), dtype="Int64"), index=values.index)
    whole = num.notna() & (num == np.floor(num)) & num.between(1000, 3000)
    out[whole] = num[whole].astype(int)
    rest = values.notna() & ~whole & values.astype(str).str.strip().ne("")
    if rest.any():
        dates = pd.to_datetime(values[rest].astype(str), errors="coerce", format="mixed")
        bad = dates.isna()
        if bad.any():
            mask = np.zeros(len(values), dtype=bool)
            mask[np.flatnonzero(rest.to_numpy())[bad.to_numpy()]] = True
            raise DataError(
                bad_rows_message(path, column, values, mask, 2)
                + "; give a year (e.g. 2004) or an ISO date (2004-08-01), or leave it empty for "
                "static evidence"
            )
        out[rest] = dates.dt.year.astype(int).to_numpy()
    return out


def read_table(
    path: str | os.PathLike[str],
    columns: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    kind: str = "other",
    layer: str | None = None,
    on_missing_coordinates: Literal["raise", "keep"] = "raise",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a generic site table (CSV, GeoPackage, GeoParquet) with a column mapping.

    Parameters
    ----------
    path : path
        ``.csv`` (comma), ``.tsv``, ``.gpkg`` (``layer`` optional) or ``.parquet``
        (GeoParquet or plain Parquet).
    columns : mapping, optional
        Raw-table field → column in the file, for the fields in :data:`TABLE_FIELDS`, e.g.
        ``{"source_id": "name", "label": "label_pf", "magt": "magt_c"}``. Unmapped fields use
        the file's column of the same name when present. ``lon``/``lat`` come from point
        geometries (reprojected to EPSG:4326) when the file has them and they are not mapped.
        Required: coordinates; ``label`` or ``magt`` (else every row is unclear).
    source : str, optional
        Source name (default ``"table:<file stem>"``).
    kind : str
        Kind for rows without a mapped ``kind`` column (default ``"other"``).
    layer : str, optional
        GeoPackage layer.
    on_missing_coordinates : {"raise", "keep"}
        Empty (NaN) coordinates raise :class:`~permamap.errors.DataError` naming the rows
        (default), or are kept for QC to drop and report as ``invalid_coordinates``.
    encoding : str
        Text encoding of a CSV/TSV (default ``"utf-8"``; e.g. ``"latin-1"``, ``"cp1252"``).

    Returns
    -------
    DataFrame
        Raw site table; other file columns are kept after the raw columns as provenance.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "lit.csv"
    >>> _ = p.write_text("name,Y,X,pf\\nA,67.9,61.7,1\\nB,50.2,100.8,\\n")
    >>> t = read_table(p, {"source_id": "name", "lat": "Y", "lon": "X", "label": "pf"})
    >>> t[["site_id", "lon", "lat", "label"]].to_numpy().tolist()
    [['table:lit:A', 61.7, 67.9, 1], ['table:lit:B', 100.8, 50.2, <NA>]]
    """
    p = check_file(path, "site table")
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(TABLE_FIELDS))
    if unknown:
        raise ConfigError(
            f"columns has unknown field {unknown[0]!r}{did_you_mean(unknown[0], TABLE_FIELDS)} "
            f"(all unknown: {unknown}); map only {', '.join(TABLE_FIELDS)} to columns of {p.name} "
            "(site_id and source are made by the reader)"
        )
    for field, wanted in mapping.items():
        if not isinstance(wanted, str) or not wanted:
            raise ConfigError(
                f"columns.{field} = {wanted!r} must name a column of {p.name} as a string, e.g. "
                f'columns = {{{field} = "{field}"}}'
            )
    if on_missing_coordinates not in ("raise", "keep"):
        raise ConfigError(
            f"on_missing_coordinates = {on_missing_coordinates!r}: use 'raise' or 'keep'"
            f"{did_you_mean(str(on_missing_coordinates), ('raise', 'keep'))}"
        )
    if kind not in KINDS:
        raise ConfigError(
            f"kind = {kind!r} is not a kind of site{did_you_mean(str(kind), KINDS)}; use one of "
            f"{', '.join(KINDS)}"
        )
    df = _read_any_table(p, layer, encoding)
    absent = {field: col for field, col in mapping.items() if col not in df.columns}
    if absent:
        field, wanted = next(iter(absent.items()))
        have = [str(c) for c in df.columns if c != "geometry"]
        raise InputFileError(
            f"site table {p} has no column {wanted!r} (columns.{field}){did_you_mean(wanted, have)}"
            f"; its columns are {have}: fix columns.{field} or the file's header"
        )
    col = {f: mapping.get(f, f) for f in TABLE_FIELDS if mapping.get(f, f) in df.columns}
    src = source or f"table:{p.stem}"
    out = pd.DataFrame(index=df.index)
    if "source_id" in col:
        sid = df[col["source_id"]].astype("string").str.strip()
        empty = sid.isna() | sid.eq("")
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataError(
                f"{p}: column {col['source_id']!r} (source_id) is empty on line {i + 2}; "
                "give every row an identifier"
            )
        out["source_id"] = sid.astype(str)
    else:
        out["source_id"] = [str(i + 1) for i in range(len(df))]  # 1-based row number
    dup = out["source_id"][out["source_id"].duplicated(keep=False)]
    if len(dup) and "year" not in col:
        raise DataError(
            f"{p}: identifier {dup.iloc[0]!r} in column {col.get('source_id', '<row number>')!r} "
            f"appears {int((out['source_id'] == dup.iloc[0]).sum())} times; identifiers must be "
            "unique (or map a 'year' column for repeated observations of one site)"
        )
    out.insert(0, "site_id", src + ":" + out["source_id"])
    out.insert(1, "source", src)
    if "kind" in col:
        k = df[col["kind"]].astype("string").str.strip().str.lower().fillna(kind)
        bad = ~k.isin(KINDS)
        if bad.any():
            raise DataError(
                bad_rows_message(p, col["kind"], df[col["kind"]], bad.to_numpy(), 2)
                + f"; kinds must be one of {list(KINDS)}"
            )
        out["kind"] = k.astype(str)
    else:
        out["kind"] = kind
    geom = getattr(df, "geometry", None) if "geometry" in df.columns else None
    for axis in ("lon", "lat"):
        if axis in col:
            out[axis] = to_float(df[col[axis]], p, col[axis], "coordinates must be decimal degrees")
        elif geom is not None:
            g = df.to_crs("EPSG:4326").geometry if df.crs is not None else geom
            if not (g.geom_type.dropna() == "Point").all():
                raise InputFileError(
                    f"site table {p}: geometries must be points to give lon/lat; found "
                    f"{sorted(set(g.geom_type.dropna()))}. Convert them to points (e.g. centroids)"
                )
            out[axis] = (g.x if axis == "lon" else g.y).to_numpy(dtype=float)
        else:
            raise InputFileError(
                f"site table {p} has no {axis!r} column and no point geometry; its columns are "
                f"{list(df.columns)}. Map the {axis} column, e.g. columns = {{{axis} = "
                f'"{"longitude" if axis == "lon" else "latitude"}"}}'
            )
    nan = ~(np.isfinite(out["lon"].to_numpy()) & np.isfinite(out["lat"].to_numpy()))
    if nan.any() and on_missing_coordinates == "raise":
        lines = [int(i) + 2 for i in np.flatnonzero(nan)[:5]]
        raise DataError(
            f"{p}: {int(nan.sum())} row(s) have empty or non-finite coordinates (lines {lines}, "
            f"source_id {out['source_id'][nan].tolist()[:5]}); fill them in, remove the rows, or "
            "read with on_missing_coordinates='keep' so QC reports them as invalid_coordinates"
        )
    out["year"] = (
        _parse_years(df[col["year"]], p, col["year"])
        if "year" in col
        else pd.array(np.full(len(df), pd.NA), dtype="Int64")
    )
    out["label"] = (
        _parse_labels(df[col["label"]], p, col["label"])
        if "label" in col
        else pd.array(np.full(len(df), pd.NA), dtype="Int64")
    )
    for field in ("magt", "magt_depth_m", "maat"):
        out[field] = (
            to_float(df[col[field]], p, col[field], "it must be a number (°C or m) or empty")
            if field in col
            else np.nan
        )
    if "label" not in col and "magt" not in col:
        raise InputFileError(
            f"site table {p} has neither a label nor a MAGT column, so no row can be labelled; "
            'map one, e.g. columns = {label = "permafrost"} or {magt = "magt_c"}'
        )
    out["label_from"] = np.where(out["label"].notna(), "given", "none")
    extra = [c for c in df.columns if c not in set(col.values()) | {"geometry"}]
    for c in extra:
        if c not in out.columns:
            out[c] = df[c].to_numpy()
    logger.debug("read %d rows from site table %s (source %s)", len(out), p, src)
    return out.reset_index(drop=True)
