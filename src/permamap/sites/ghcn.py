"""GHCN-Monthly v4 station files (``.inv`` inventory + ``.dat`` data, fixed width): read and write.

The format code exists once, on text: :func:`parse_ghcnm_inventory`, :func:`parse_ghcnm_data`,
:func:`parse_ghcnm` read it and :func:`format_ghcnm` writes it; :func:`read_ghcnm` and
:func:`write_ghcnm` are the same on files (Latin-1, ``\\n`` line ends, written atomically through
:mod:`permamap.fileio`). Pass the stations to :func:`~permamap.sites.stations_nonpermafrost`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import fileio
from ..errors import ConfigError, DataError, InputFileError
from .parsing import check_file, read_text

__all__ = [
    "GHCNM_DAT_MISSING",
    "GHCNM_ENCODING",
    "format_ghcnm",
    "parse_ghcnm",
    "parse_ghcnm_data",
    "parse_ghcnm_inventory",
    "read_ghcnm",
    "read_ghcnm_data",
    "read_ghcnm_inventory",
    "write_ghcnm",
]

logger = logging.getLogger(__name__)

#: GHCN-M missing value.
GHCNM_DAT_MISSING = -9999
#: Text encoding of GHCN-M files.
GHCNM_ENCODING = "latin-1"

# .inv: ID 1-11, LATITUDE 13-20, LONGITUDE 22-30, STNELEV 32-37, NAME 39-68 (1-based, inclusive)
# .dat: ID 1-11, YEAR 12-15, ELEMENT 16-19, then 12 × (VALUE 5, DMFLAG 1, QCFLAG 1, DSFLAG 1)
_INV_SPECS = [(0, 11), (12, 20), (21, 30), (31, 37), (38, 68)]
_INV_NAMES = ["station_id", "lat", "lon", "elev_m", "name"]
_DAT_WIDTH = 19 + 12 * 8


# -- reading ------------------------------------------------------------------------------------


def parse_ghcnm_inventory(text: str, *, origin: str = "<text>") -> pd.DataFrame:
    """Parse the text of a GHCN-M v4 station inventory (``.inv``).

    Parameters
    ----------
    text : str
        The inventory's lines.
    origin : str
        What to call the text in error messages (the file name).

    Returns
    -------
    DataFrame
        ``station_id, lat, lon, elev_m, name``.

    Examples
    --------
    >>> parse_ghcnm_inventory("RSM00024266  67.5500  133.3833  137.0 VERHOJANSK\\n").to_dict("list")
    {'station_id': ['RSM00024266'], 'lat': [67.55], 'lon': [133.3833], 'elev_m': [137.0], 'name': ['VERHOJANSK']}
    """
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [line[a:b].strip() for a, b in _INV_SPECS]
        if line[11:15].isdigit() and line[15:19].isalpha() and line[15:19].isupper():
            raise InputFileError(
                f"GHCN-M inventory {origin}, line {n}: {line[:27]!r}… is a data line (station, "
                f"year {line[11:15]}, element {line[15:19]}), not a station; the inventory must be "
                "the .inv file and the data the .dat file (are the two swapped?)"
            )
        if len(line) < 30:  # a fixed-width line ending inside the longitude: a cut file
            raise InputFileError(
                f"GHCN-M inventory {origin}, line {n}: {line!r} is cut short (a station line "
                "holds the latitude in columns 13-20 and the longitude in 22-30); the file is "
                "truncated: download it again"
            )
        try:
            lat, lon, elev = float(fields[1]), float(fields[2]), float(fields[3] or "nan")
        except ValueError:
            raise InputFileError(
                f"GHCN-M inventory {origin}, line {n}: {line[:40]!r}… has no numeric latitude "
                "(columns 13-20), longitude (22-30) or elevation (32-37); it must be a GHCN-M v4 "
                ".inv file"
            ) from None
        if len(fields[0]) != 11:
            raise InputFileError(
                f"GHCN-M inventory {origin}, line {n}: station id {fields[0]!r} is not 11 "
                "characters (columns 1-11); it must be a GHCN-M v4 .inv file"
            )
        rows.append((fields[0], lat, lon, elev, fields[4]))
    if not rows:
        raise InputFileError(f"GHCN-M inventory {origin} has no station lines; export it again")
    return pd.DataFrame(rows, columns=_INV_NAMES)


def parse_ghcnm_data(text: str, *, element: str = "TAVG", origin: str = "<text>") -> pd.DataFrame:
    """Parse the text of a GHCN-M v4 data file (``.dat``) into a long monthly table.

    Values are converted from hundredths of °C to °C; ``-9999`` becomes NaN. Flags are kept
    as read (a blank flag is ``""``).

    Parameters
    ----------
    text : str
        The data file's lines.
    element : str
        Element to keep (columns 16-19, default ``"TAVG"``).
    origin : str
        What to call the text in error messages (the file name).

    Returns
    -------
    DataFrame
        ``station_id, year, month, value_c, dmflag, qcflag, dsflag`` for ``element``.
    """
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line = line.ljust(_DAT_WIDTH)
        if line[15:19] != element:
            continue
        try:
            year = int(line[11:15])
            for m in range(12):
                a = 19 + 8 * m
                field = line[a : a + 5]
                if field != field.rstrip():  # values are right-aligned: a cut line ends in spaces
                    raise ValueError(field)
                raw = int(field)
                value = np.nan if raw == GHCNM_DAT_MISSING else raw / 100.0
                records.append(
                    (line[:11], year, m + 1, value, line[a + 5], line[a + 6], line[a + 7])
                )
        except ValueError:
            raise InputFileError(
                f"GHCN-M data file {origin}, line {n}: {line.rstrip()[:40]!r}… has no integer "
                "year (columns 12-15) or is cut short in its 12 monthly values (5 characters "
                "from column 20, every 8 columns); it must be a complete GHCN-M v4 .dat file "
                "(data = the .dat, path = the .inv): download it again"
            ) from None
    if not records:
        raise InputFileError(
            f"GHCN-M data file {origin} has no {element} lines; check the element "
            "(columns 16-19, e.g. TAVG) or the file"
        )
    out = pd.DataFrame(
        records, columns=["station_id", "year", "month", "value_c", "dmflag", "qcflag", "dsflag"]
    )
    for flag in ("dmflag", "qcflag", "dsflag"):
        out[flag] = out[flag].str.strip()
    return out


def _warn_orphans(
    inventory: pd.DataFrame, monthly: pd.DataFrame, inv_origin: str, dat_origin: str
) -> None:
    orphans = sorted(set(monthly["station_id"]) - set(inventory["station_id"]))
    if orphans:
        logger.warning(
            "%d station(s) in %s are not in %s and have no coordinates (e.g. %s)",
            len(orphans),
            dat_origin,
            inv_origin,
            orphans[:3],
        )


def parse_ghcnm(
    inv_text: str,
    dat_text: str,
    *,
    element: str = "TAVG",
    origins: tuple[str, str] = ("<inventory>", "<data>"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the texts of a GHCN-M v4 inventory and data file (as :func:`read_ghcnm` does files).

    ``origins`` name the two texts in error messages and warnings.
    """
    inventory = parse_ghcnm_inventory(inv_text, origin=origins[0])
    monthly = parse_ghcnm_data(dat_text, element=element, origin=origins[1])
    _warn_orphans(inventory, monthly, *origins)
    return inventory, monthly


def read_ghcnm_inventory(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a GHCN-M v4 station inventory (``.inv``): ``station_id, lat, lon, elev_m, name``."""
    p = check_file(path, "GHCN-M inventory")
    return parse_ghcnm_inventory(read_text(p, "GHCN-M inventory", GHCNM_ENCODING), origin=str(p))


def read_ghcnm_data(path: str | os.PathLike[str], *, element: str = "TAVG") -> pd.DataFrame:
    """Read a GHCN-M v4 data file (``.dat``) into a long monthly table (:func:`parse_ghcnm_data`)."""
    p = check_file(path, "GHCN-M data file")
    text = read_text(p, "GHCN-M data file", GHCNM_ENCODING)
    return parse_ghcnm_data(text, element=element, origin=str(p))


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
    _warn_orphans(inventory, monthly, str(inv_path), str(dat_path))
    return inventory, monthly


# -- writing ------------------------------------------------------------------------------------


def format_ghcnm(
    inventory: pd.DataFrame, monthly: pd.DataFrame, *, element: str = "TAVG"
) -> tuple[str, str]:
    """Stations as the texts of a GHCN-M v4 inventory and data file (fixed width, ``\\n`` ends).

    Parameters
    ----------
    inventory : DataFrame
        ``station_id`` (11 characters), ``lat``, ``lon``, optional ``elev_m`` and ``name``.
    monthly : DataFrame
        ``station_id, year, month, value_c`` (°C, NaN = missing), optional ``dmflag``,
        ``qcflag``, ``dsflag``. Values are rounded to hundredths of °C.
    element : str
        Four-character element code (default ``"TAVG"``).

    Returns
    -------
    (str, str)
        The ``.inv`` and ``.dat`` texts.

    Examples
    --------
    >>> inv = pd.DataFrame({"station_id": ["RSM00024266"], "lat": [67.55], "lon": [133.3833],
    ...                     "elev_m": [137.0], "name": ["VERHOJANSK"]})
    >>> mon = pd.DataFrame({"station_id": "RSM00024266", "year": 2000, "month": [1, 2],
    ...                     "value_c": [-45.12, np.nan]})
    >>> inv_text, dat_text = format_ghcnm(inv, mon)
    >>> inv_text
    'RSM00024266  67.5500  133.3833  137.0 VERHOJANSK\\n'
    >>> dat_text[:35]
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
    # plain lists, not pandas rows: the demo writes ~250 k values (20 k station-years)
    texts = [
        f"{v:5d}{d or ' ':1}{q or ' ':1}{s or ' ':1}"
        for v, d, q, s in zip(
            m["v"].tolist(),
            m["dmflag"].tolist(),
            m["qcflag"].tolist(),
            m["dsflag"].tolist(),
            strict=True,
        )
    ]
    dat_lines = []
    key: tuple[str, int] | None = None
    cells: list[str] = []
    for sid, year, month, text in zip(
        m["station_id"].tolist(), m["year"].tolist(), m["month"].tolist(), texts, strict=True
    ):
        if (sid, year) != key:  # rows are sorted: one station-year after the other
            if key is not None:
                dat_lines.append(f"{key[0]:<11}{key[1]:04d}{element}" + "".join(cells))
            key, cells = (sid, year), [f"{GHCNM_DAT_MISSING:5d}   "] * 12
        cells[month - 1] = text
    if key is not None:
        dat_lines.append(f"{key[0]:<11}{key[1]:04d}{element}" + "".join(cells))
    return "\n".join(inv_lines) + "\n", "\n".join(dat_lines) + "\n"


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
    inventory, monthly, element
        See :func:`format_ghcnm`.
    inv_path, dat_path : path
        Output files, written atomically (Latin-1, ``\\n`` line ends).

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
    inv_text, dat_text = format_ghcnm(inventory, monthly, element=element)
    inv_p, dat_p = Path(inv_path), Path(dat_path)
    fileio.atomic_write_text(inv_p, inv_text, encoding=GHCNM_ENCODING)
    fileio.atomic_write_text(dat_p, dat_text, encoding=GHCNM_ENCODING)
    return inv_p, dat_p
