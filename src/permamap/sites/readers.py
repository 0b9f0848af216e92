"""Readers (and one writer) for site sources; each returns the raw site table of docs/contracts.md.

* :func:`read_gtnp` — GTN-P exports: a long CSV ``id, date, depth, temperature, flag, dataset_id,
  borehole_id, site_id`` with a ``<stem>_metadata.json`` that holds the coordinates;
* :func:`read_permos` — a PERMOS borehole file: a wide CSV, first column the date, one column
  per sensor depth in metres (also the GTN-P "Date/Depth" wide export);
* :func:`read_ghcnm` / :func:`write_ghcnm` — GHCN-Monthly v4 ``.inv`` + ``.dat`` fixed-width files;
* :func:`read_table` — any CSV, GeoPackage or (Geo)Parquet table, with a column mapping.

Every reader keeps the source and the original identifier of each row, and raises
:class:`~permamap.errors.InputFileError` (file missing, empty, corrupt, wrong layout) or
:class:`~permamap.errors.DataError` (a value that cannot be parsed) naming the file, the row or
column, the value and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InputFileError
from .labels import sites_from_series

__all__ = [
    "GHCNM_DAT_MISSING",
    "RAW_COLUMNS",
    "TABLE_FIELDS",
    "read_ghcnm",
    "read_ghcnm_data",
    "read_ghcnm_inventory",
    "read_gtnp",
    "read_permos",
    "read_table",
    "write_ghcnm",
]

logger = logging.getLogger(__name__)

#: Columns of the raw site table, in order (docs/contracts.md).
RAW_COLUMNS = (
    "site_id",
    "source",
    "source_id",
    "kind",
    "lon",
    "lat",
    "year",
    "label",
    "magt",
    "magt_depth_m",
    "maat",
)
#: Fields a generic table's column mapping may set (raw columns the reader cannot make itself).
TABLE_FIELDS = ("source_id", "kind", "lon", "lat", "year", "label", "magt", "magt_depth_m", "maat")
KINDS = ("borehole", "station", "literature", "other")
#: GHCN-M missing value.
GHCNM_DAT_MISSING = -9999

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


def _check_file(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{what} {p} does not exist or is not a file; check the path")
    if p.stat().st_size == 0:
        raise InputFileError(f"{what} {p} is empty (0 bytes); export it again or remove it")
    return p


def _read_csv(path: Path, what: str, **kwargs: Any) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{what} {path} has no header or rows; export it again") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputFileError(
            f"{what} {path} is not a readable CSV ({exc}); check its layout"
        ) from exc
    if df.empty:
        raise InputFileError(f"{what} {path} has a header but no data rows; export it again")
    return df


def _bad_rows_message(
    path: Path, column: str, values: pd.Series, bad: np.ndarray, line0: int
) -> str:
    idx = np.flatnonzero(bad)
    shown = ", ".join(f"line {int(i) + line0}: {values.iloc[i]!r}" for i in idx[:5])
    more = f" (and {idx.size - 5} more)" if idx.size > 5 else ""
    return (
        f"{path}: column {column!r} has {idx.size} value(s) that cannot be parsed — {shown}{more}"
    )


def _to_float(values: pd.Series, path: Path, column: str, fix: str, line0: int = 2) -> np.ndarray:
    num = pd.to_numeric(values, errors="coerce")
    bad = (num.isna() & values.notna() & values.astype(str).str.strip().ne("")).to_numpy()
    if bad.any():
        raise DataError(_bad_rows_message(path, column, values, bad, line0) + f"; {fix}")
    return num.to_numpy(dtype=float)


def _to_dates(values: pd.Series, path: Path, column: str, line0: int = 2) -> pd.Series:
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = (dates.isna() & values.notna()).to_numpy()
    if bad.any():
        raise DataError(
            _bad_rows_message(path, column, values, bad, line0)
            + "; write dates as YYYY-MM-DD (ISO 8601) or leave the cell empty"
        )
    return dates


# -- GTN-P --------------------------------------------------------------------------------------

_GTNP_COLUMNS = ("date", "depth", "temperature", "dataset_id")


def _gtnp_metadata(path: Path, csv_path: Path) -> pd.DataFrame:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"GTN-P metadata {path} is not valid JSON ({exc}); download it again"
        ) from exc
    if isinstance(records, dict):
        records = [records]
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
                f"({exc!r}); it must be the metadata JSON exported with {csv_path.name}"
            ) from exc
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

    Returns
    -------
    DataFrame
        Raw site table (+ ``magt_method``, ``name``, ``elev_m``, ``label_from``).
    """
    csv_path = _check_file(path, "GTN-P data file")
    meta_path = (
        Path(metadata)
        if metadata is not None
        else csv_path.with_name(f"{csv_path.stem}_metadata.json")
    )
    if not meta_path.is_file():
        raise InputFileError(
            f"GTN-P metadata {meta_path} for {csv_path} does not exist; GTN-P coordinates are "
            "only in the metadata JSON: pass metadata=... or put it next to the CSV"
        )
    df = _read_csv(csv_path, "GTN-P data file")
    missing = [c for c in _GTNP_COLUMNS if c not in df.columns]
    if missing:
        raise InputFileError(
            f"GTN-P data file {csv_path} lacks column(s) {missing}; it has {list(df.columns)}. "
            f"A GTN-P export has {list(_GTNP_COLUMNS)}; for a wide file (date + one column per "
            "depth) use read_permos"
        )
    meta = _gtnp_metadata(meta_path, csv_path)
    dataset = _to_float(df["dataset_id"], csv_path, "dataset_id", "it must be an integer id")
    known = {int(v) for v in meta["dataset_id"]}
    unknown = sorted({int(v) for v in dataset[np.isfinite(dataset)]} - known)
    if unknown:
        raise InputFileError(
            f"{csv_path}: dataset_id(s) {unknown} have no record in {meta_path}; use the metadata "
            "JSON exported with this file"
        )
    series = pd.DataFrame(
        {
            "date": _to_dates(df["date"], csv_path, "date"),
            "depth_m": _to_float(df["depth"], csv_path, "depth", "depths must be metres"),
            "temperature_c": _to_float(
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
    logger.info("read %d borehole rows from GTN-P export %s", len(out), csv_path)
    return out


# -- PERMOS -------------------------------------------------------------------------------------


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

    Returns
    -------
    DataFrame
        Raw site table rows for the borehole.
    """
    csv_path = _check_file(path, "PERMOS borehole file")
    df = _read_csv(csv_path, "PERMOS borehole file")
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
    dates = _to_dates(df[date_col], csv_path, str(date_col))
    parts = []
    for c, d in zip(depth_cols, depths, strict=True):
        t = _to_float(df[c], csv_path, str(c), "temperatures must be °C numbers or NA").copy()
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


# -- GHCN-M v4 ----------------------------------------------------------------------------------
# .inv: ID 1-11, LATITUDE 13-20, LONGITUDE 22-30, STNELEV 32-37, NAME 39-68 (1-based, inclusive)
# .dat: ID 1-11, YEAR 12-15, ELEMENT 16-19, then 12 × (VALUE 5, DMFLAG 1, QCFLAG 1, DSFLAG 1)
_INV_SPECS = [(0, 11), (12, 20), (21, 30), (31, 37), (38, 68)]
_INV_NAMES = ["station_id", "lat", "lon", "elev_m", "name"]
_DAT_WIDTH = 19 + 12 * 8


def read_ghcnm_inventory(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a GHCN-M v4 station inventory (``.inv``): ``station_id, lat, lon, elev_m, name``."""
    p = _check_file(path, "GHCN-M inventory")
    rows = []
    for n, line in enumerate(p.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [line[a:b].strip() for a, b in _INV_SPECS]
        try:
            lat, lon, elev = float(fields[1]), float(fields[2]), float(fields[3] or "nan")
        except ValueError:
            raise InputFileError(
                f"GHCN-M inventory {p}, line {n}: {line[:40]!r}… has no numeric latitude "
                "(columns 13-20), longitude (22-30) or elevation (32-37); it must be a GHCN-M v4 "
                ".inv file"
            ) from None
        if len(fields[0]) != 11:
            raise InputFileError(
                f"GHCN-M inventory {p}, line {n}: station id {fields[0]!r} is not 11 characters "
                "(columns 1-11); it must be a GHCN-M v4 .inv file"
            )
        rows.append((fields[0], lat, lon, elev, fields[4]))
    if not rows:
        raise InputFileError(f"GHCN-M inventory {p} has no station lines; export it again")
    return pd.DataFrame(rows, columns=_INV_NAMES)


def read_ghcnm_data(path: str | os.PathLike[str], *, element: str = "TAVG") -> pd.DataFrame:
    """Read a GHCN-M v4 data file (``.dat``) into a long monthly table.

    Values are converted from hundredths of °C to °C; ``-9999`` becomes NaN. Flags are kept
    as read (a blank flag is ``""``).

    Returns
    -------
    DataFrame
        ``station_id, year, month, value_c, dmflag, qcflag, dsflag`` for ``element``.
    """
    p = _check_file(path, "GHCN-M data file")
    records = []
    for n, line in enumerate(p.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        line = line.ljust(_DAT_WIDTH)
        if line[15:19] != element:
            continue
        try:
            year = int(line[11:15])
            for m in range(12):
                a = 19 + 8 * m
                raw = int(line[a : a + 5])
                value = np.nan if raw == GHCNM_DAT_MISSING else raw / 100.0
                records.append(
                    (line[:11], year, m + 1, value, line[a + 5], line[a + 6], line[a + 7])
                )
        except ValueError:
            raise InputFileError(
                f"GHCN-M data file {p}, line {n}: {line[:27]!r}… has no integer year (columns "
                "12-15) or monthly value (5 characters from column 20, every 8 columns); it "
                "must be a GHCN-M v4 .dat file"
            ) from None
    if not records:
        raise InputFileError(
            f"GHCN-M data file {p} has no {element} lines; check the element "
            "(columns 16-19, e.g. TAVG) or the file"
        )
    out = pd.DataFrame(
        records, columns=["station_id", "year", "month", "value_c", "dmflag", "qcflag", "dsflag"]
    )
    for flag in ("dmflag", "qcflag", "dsflag"):
        out[flag] = out[flag].str.strip()
    return out


def read_ghcnm(
    inv_path: str | os.PathLike[str],
    dat_path: str | os.PathLike[str],
    *,
    element: str = "TAVG",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a GHCN-M v4 inventory and data file.

    Returns
    -------
    inventory, monthly : DataFrame
        See :func:`read_ghcnm_inventory` and :func:`read_ghcnm_data`; pass both to
        :func:`~permamap.sites.stations_nonpermafrost`.
    """
    inventory = read_ghcnm_inventory(inv_path)
    monthly = read_ghcnm_data(dat_path, element=element)
    orphans = sorted(set(monthly["station_id"]) - set(inventory["station_id"]))
    if orphans:
        logger.warning(
            "%d station(s) in %s are not in %s and have no coordinates (e.g. %s)",
            len(orphans),
            dat_path,
            inv_path,
            orphans[:3],
        )
    return inventory, monthly


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="latin-1", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_ghcnm(
    inventory: pd.DataFrame,
    monthly: pd.DataFrame,
    inv_path: str | os.PathLike[str],
    dat_path: str | os.PathLike[str],
    *,
    element: str = "TAVG",
) -> tuple[Path, Path]:
    """Write stations in the GHCN-M v4 fixed-width layout (for fixtures and the demo world).

    Parameters
    ----------
    inventory : DataFrame
        ``station_id`` (11 characters), ``lat``, ``lon``, optional ``elev_m`` and ``name``.
    monthly : DataFrame
        ``station_id, year, month, value_c`` (°C, NaN = missing), optional ``dmflag``,
        ``qcflag``, ``dsflag``. Values are rounded to hundredths of °C.
    inv_path, dat_path : path
        Output files, written atomically.
    element : str
        Four-character element code (default ``"TAVG"``).

    Returns
    -------
    (Path, Path)
        The inventory and data paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> inv = pd.DataFrame({"station_id": ["RSM00024266"], "lat": [67.55], "lon": [133.3833],
    ...                     "elev_m": [137.0], "name": ["VERHOJANSK"]})
    >>> mon = pd.DataFrame({"station_id": "RSM00024266", "year": 2000, "month": [1, 2],
    ...                     "value_c": [-45.12, np.nan]})
    >>> i, t = write_ghcnm(inv, mon, d / "s.inv", d / "s.dat")
    >>> i.read_text()[:40]
    'RSM00024266  67.5500  133.3833  137.0 VE'
    >>> t.read_text()[:35]
    'RSM000242662000TAVG-4512   -9999   '
    """
    for df, cols, what in (
        (inventory, ("station_id", "lat", "lon"), "inventory"),
        (monthly, ("station_id", "year", "month", "value_c"), "monthly table"),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataError(f"GHCN-M {what} lacks column(s) {missing}; it needs {list(cols)}")
    if len(element) != 4:
        raise ConfigError(f"GHCN-M element {element!r} must have 4 characters, e.g. 'TAVG'")
    ids = inventory["station_id"].astype(str)
    bad = ids[ids.str.len() != 11]
    if len(bad):
        raise DataError(
            f"GHCN-M station ids must have 11 characters; {bad.iloc[0]!r} (inventory row "
            f"{bad.index[0]}) has {len(bad.iloc[0])}; pad or shorten the ids"
        )
    inv_lines = []
    for r in inventory.itertuples(index=False):
        elev = getattr(r, "elev_m", np.nan)
        elev = -999.0 if elev is None or not np.isfinite(elev) else float(elev)
        name = str(getattr(r, "name", "") or "")[:30]
        line = f"{r.station_id:<11} {r.lat:8.4f} {r.lon:9.4f} {elev:6.1f} {name}"
        inv_lines.append(line.rstrip())
    values = monthly["value_c"].to_numpy(dtype=float)
    hundredths = np.where(np.isfinite(values), np.round(values * 100.0), GHCNM_DAT_MISSING)
    if np.any((hundredths < -9999) | (hundredths > 99999)):
        raise DataError("GHCN-M values must lie in -99.98 … 999.99 °C to fit 5 characters")
    m = pd.DataFrame(
        {
            "station_id": monthly["station_id"].astype(str),
            "year": monthly["year"].astype(int),
            "month": monthly["month"].astype(int),
            "v": hundredths.astype(int),
        }
    )
    for flag in ("dmflag", "qcflag", "dsflag"):
        f = monthly[flag].fillna("").astype(str) if flag in monthly.columns else ""
        m[flag] = f
    if m.duplicated(["station_id", "year", "month"]).any():
        raise DataError(
            "GHCN-M monthly table has duplicate (station_id, year, month) rows; drop them"
        )
    # Stations in order of first appearance (as in the inventory/data given), years ascending.
    rank = {sid: i for i, sid in enumerate(pd.unique(m["station_id"]))}
    m = m.assign(_rank=m["station_id"].map(rank)).sort_values(["_rank", "year"], kind="stable")
    dat_lines = []
    for (_, sid, year), g in m.groupby(["_rank", "station_id", "year"], sort=False):
        cells = [f"{GHCNM_DAT_MISSING:5d}   "] * 12
        for r in g.itertuples(index=False):
            cells[r.month - 1] = (
                f"{r.v:5d}{r.dmflag or ' ':1}{r.qcflag or ' ':1}{r.dsflag or ' ':1}"
            )
        dat_lines.append(f"{sid:<11}{year:04d}{element}" + "".join(cells))
    inv_p, dat_p = Path(inv_path), Path(dat_path)
    _atomic_write_text(inv_p, "\n".join(inv_lines) + "\n")
    _atomic_write_text(dat_p, "\n".join(dat_lines) + "\n")
    return inv_p, dat_p


# -- generic table ------------------------------------------------------------------------------


def _read_any_table(path: Path, layer: str | None) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path, "site table", sep="\t" if suffix == ".tsv" else ",")
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
                f"site table {path} has an unknown extension {suffix!r}; use .csv, .gpkg or "
                ".parquet (GeoParquet)"
            )
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio/pyarrow raise many types for corrupt files; keep the text
        raise InputFileError(
            f"site table {path} cannot be read ({type(exc).__name__}: {exc}); the file may be "
            "corrupt or not a GeoPackage/GeoParquet; export it again"
        ) from exc
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
            _bad_rows_message(path, column, values, bad, 2)
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
                _bad_rows_message(path, column, values, mask, 2)
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
    p = _check_file(path, "site table")
    mapping = dict(columns or {})
    unknown = sorted(set(mapping) - set(TABLE_FIELDS))
    if unknown:
        raise ConfigError(
            f"column mapping for {p} has unknown field(s) {unknown}; map only {list(TABLE_FIELDS)} "
            "(site_id and source are made by the reader)"
        )
    if on_missing_coordinates not in ("raise", "keep"):
        raise ConfigError(
            f"on_missing_coordinates={on_missing_coordinates!r}: use 'raise' or 'keep'"
        )
    if kind not in KINDS:
        raise ConfigError(f"kind {kind!r} is not one of {list(KINDS)}")
    df = _read_any_table(p, layer)
    absent = {field: col for field, col in mapping.items() if col not in df.columns}
    if absent:
        field, wanted = next(iter(absent.items()))
        raise InputFileError(
            f"site table {p} has no column {wanted!r} (mapped to {field!r}); its columns are "
            f"{[c for c in df.columns if c != 'geometry']}. Fix the column mapping or the file"
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
                _bad_rows_message(p, col["kind"], df[col["kind"]], bad.to_numpy(), 2)
                + f"; kinds must be one of {list(KINDS)}"
            )
        out["kind"] = k.astype(str)
    else:
        out["kind"] = kind
    geom = getattr(df, "geometry", None) if "geometry" in df.columns else None
    for axis in ("lon", "lat"):
        if axis in col:
            out[axis] = _to_float(
                df[col[axis]], p, col[axis], "coordinates must be decimal degrees"
            )
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
            _to_float(df[col[field]], p, col[field], "it must be a number (°C or m) or empty")
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
    logger.info("read %d rows from site table %s (source %s)", len(out), p, src)
    return out.reset_index(drop=True)
