"""What every site reader shares: the raw-table columns and kinds, file checks, value parsing.

The readers (:mod:`.gtnp`, :mod:`.permos`, :mod:`.ghcn`, :mod:`.table`) each return the raw site
table of docs/contracts.md and raise :class:`~permamap.errors.InputFileError` (file missing, empty,
corrupt, wrong layout) or :class:`~permamap.errors.DataError` (a value that cannot be parsed)
naming the file, the row or column, the value and the fix; the helpers here build those errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, InputFileError

__all__ = [
    "KINDS",
    "RAW_COLUMNS",
    "bad_rows_message",
    "check_file",
    "read_csv",
    "to_dates",
    "to_float",
]

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
#: Kinds of observation a raw row may have.
KINDS = ("borehole", "station", "literature", "other")


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; an error names ``what`` when it is missing, not a file or empty."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{what} {p} does not exist or is not a file; check the path")
    if p.stat().st_size == 0:
        raise InputFileError(f"{what} {p} is empty (0 bytes); export it again or remove it")
    return p


def read_csv(path: Path, what: str, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv``; errors name ``what`` and the file (no header, no rows, bad layout)."""
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


def bad_rows_message(
    path: Path, column: str, values: pd.Series, bad: np.ndarray, line0: int
) -> str:
    """The first problems of ``values[bad]`` as ``line N: value`` (``line0`` = line of row 0)."""
    idx = np.flatnonzero(bad)
    shown = ", ".join(f"line {int(i) + line0}: {values.iloc[i]!r}" for i in idx[:5])
    more = f" (and {idx.size - 5} more)" if idx.size > 5 else ""
    return (
        f"{path}: column {column!r} has {idx.size} value(s) that cannot be parsed — {shown}{more}"
    )


def to_float(values: pd.Series, path: Path, column: str, fix: str, line0: int = 2) -> np.ndarray:
    """Numbers of a column; a value that is neither a number nor empty raises ``DataError``."""
    num = pd.to_numeric(values, errors="coerce")
    bad = (num.isna() & values.notna() & values.astype(str).str.strip().ne("")).to_numpy()
    if bad.any():
        raise DataError(bad_rows_message(path, column, values, bad, line0) + f"; {fix}")
    return num.to_numpy(dtype=float)


def to_dates(values: pd.Series, path: Path, column: str, line0: int = 2) -> pd.Series:
    """Dates of a column (any unambiguous format); an unparsable value raises ``DataError``."""
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = (dates.isna() & values.notna()).to_numpy()
    if bad.any():
        raise DataError(
            bad_rows_message(path, column, values, bad, line0)
            + "; write dates as YYYY-MM-DD (ISO 8601) or leave the cell empty"
        )
    return dates
