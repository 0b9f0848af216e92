"""What every site reader shares: the raw-table columns and kinds, file checks, value parsing.

The readers (:mod:`.gtnp`, :mod:`.permos`, :mod:`.ghcn`, :mod:`.table`) each return the raw site
table of docs/contracts.md and raise :class:`~permamap.errors.InputFileError` (file missing, empty,
corrupt, wrong layout) or :class:`~permamap.errors.DataError` (a value that cannot be parsed)
naming the file, the row or column, the value and the fix; the helpers here build those errors.
"""

from __future__ import annotations

import codecs
import io
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
    "one_line",
    "read_csv",
    "read_text",
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


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The text of ``exc`` on one line (library messages may span lines), at most ``limit`` chars.

    >>> one_line(ValueError("Error tokenizing data.\\nC error: EOF"))
    'Error tokenizing data. C error: EOF'
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Leading bytes of binary formats a user may point a text reader at by mistake.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "a SQLite database or GeoPackage"),
    (b"%PDF", "a PDF document"),
)


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; an error names ``what`` when it is missing, not a file or empty."""
    p = Path(path)
    if not p.is_file():
        is_dir = p.is_dir()
        raise InputFileError(
            f"{what} {p} {'is a folder, not a file' if is_dir else 'does not exist'}; check the "
            "path (relative paths start at the config file's folder)"
        )
    if p.stat().st_size == 0:
        raise InputFileError(f"{what} {p} is empty (0 bytes); export it again or remove it")
    return p


def read_text(path: Path, what: str, encoding: str = "utf-8") -> str:
    """The text of a site file; binary content or bytes that are not ``encoding`` raise one line.

    Raises
    ------
    InputFileError
        The file holds NUL bytes or starts like a binary format (ZIP/Excel, Parquet, …), or a byte
        cannot be decoded: the message names the line, the bytes and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_bytes(b"name,lat\\nZ\\xfcrich,47.4\\n")
    >>> read_text(p, "site table")
    Traceback (most recent call last):
    ...
    permamap.errors.InputFileError: site table ... is not utf-8 text: line 2 has the byte(s) b'\\xfc' (...
    """
    data = path.read_bytes()
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise InputFileError(
                f"{what} {path} is {kind}, not a text file; unpack or export it as text (a table "
                "as CSV UTF-8) or point the path at the right file"
            )
    try:
        wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        raise InputFileError(
            f"{what} {path}: encoding = {encoding!r} is not a known text encoding; use e.g. "
            '"utf-8", "latin-1" or "cp1252"'
        ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not wide:
        raise InputFileError(
            f'{what} {path} is UTF-16 text (e.g. Excel\'s "Unicode Text"), not {encoding}; save '
            'it as CSV UTF-8, or give its encoding, encoding = "utf-16"'
        )
    if not wide and b"\x00" in data[:65536]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputFileError(
            f"{what} {path} is a binary file (a NUL byte on line {line}), not text; export it "
            "again as CSV text (UTF-8) or point the path at the right file"
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        context = data[start : end if end >= 0 else len(data)][:60].decode(encoding, "replace")
        raise InputFileError(
            f"{what} {path} is not {encoding} text: line {line} has the byte(s) "
            f"{data[exc.start : exc.end]!r} ({context.strip()!r}); save the file as UTF-8 (e.g. "
            'Save As → CSV UTF-8), or give its encoding, e.g. encoding = "latin-1"'
        ) from None


def read_csv(path: Path, what: str, *, encoding: str = "utf-8", **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` of a checked text; every failure is one :class:`InputFileError` line.

    Errors name ``what`` and the file: binary or wrongly encoded content (:func:`read_text`), no
    header or rows, a malformed line, a file separated by ``;`` or tabs instead of commas, a
    first data line with more fields than the header.
    """
    text = read_text(path, what, encoding)
    try:
        df = pd.read_csv(io.StringIO(text), **kwargs)
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{what} {path} has no header or rows; export it again") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputFileError(
            f"{what} {path} is not a readable CSV ({one_line(exc)}); fix that line or export "
            "the file again"
        ) from None
    sep = kwargs.get("sep", ",")
    if len(df.columns) == 1:
        header = str(df.columns[0])
        for other, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if other != sep and other in header:
                raise InputFileError(
                    f"{what} {path} has one column {header[:60]!r}: its fields are separated by "
                    f"{name}, not {'commas' if sep == ',' else repr(sep)}; save it "
                    "comma-separated (.csv) or tab-separated (.tsv)"
                )
    if not isinstance(df.index, pd.RangeIndex):
        # pandas turns the extra leading field(s) of a too-long first row into a silent index
        raise InputFileError(
            f"{what} {path}: the first data line has more fields than the header "
            f"({len(df.columns)} columns: {[str(c) for c in df.columns][:8]}); fix that line "
            "or the header"
        )
    if df.empty:
        raise InputFileError(f"{what} {path} has a header but no data rows; export it again")
    return df


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so messages show ``2``, not ``np.int64(2)``)."""
    return value.item() if isinstance(value, np.generic) else value


def bad_rows_message(
    path: Path, column: str, values: pd.Series, bad: np.ndarray, line0: int
) -> str:
    """The first problems of ``values[bad]`` as ``line N: value`` (``line0`` = line of row 0)."""
    idx = np.flatnonzero(bad)
    shown = ", ".join(f"line {int(i) + line0}: {_plain(values.iloc[i])!r}" for i in idx[:5])
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
