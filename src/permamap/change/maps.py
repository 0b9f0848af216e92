"""Opening and reading the maps the change stage works on (docs/contracts.md "Maps").

A map is checked before it is read: it exists, lies on the run's grid and stores classes as
uint8. Every block is checked as it is read: classes are 0, 1 or :data:`CLASS_NODATA`,
probabilities percent 0–100 or :data:`CLASS_NODATA`.

It also holds the one definition of the change classes' colours (:data:`CHANGE_COLORS`), used by
the colour table written into the change map and by the report's legend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm.auto import tqdm

from ..contracts import CHANGE_NODATA, CLASS_NODATA
from ..errors import DataError, GridMismatchError, InputFileError
from ..grid import Grid
from ..layout import RunLayout

__all__ = ["CHANGE_COLORMAP", "CHANGE_COLORS", "find_run_maps"]

# What reading a damaged raster raises: GDAL's I/O errors (a truncated tile, a file cut short
# while being copied) and the CPL errors rasterio chains to them.
READ_ERRORS: tuple[type[BaseException], ...] = (rasterio.errors.RasterioError,)
try:  # the CPL errors live in rasterio._err; keep working if that private module moves
    from rasterio._err import CPLE_BaseError

    READ_ERRORS += (CPLE_BaseError,)
except ImportError:  # pragma: no cover
    pass

_MAP_FIX = "run the predict stage again for this epoch (`permamap run` resumes the others)"

CHANGE_COLORS: dict[int, str] = {
    0: "#F3EBD3",  # stable non-permafrost: pale sand, L* 93
    1: "#9DBCDB",  # stable permafrost: pale blue, L* 75
    2: "#D55E00",  # degraded: Okabe–Ito vermillion, L* 54
    3: "#332288",  # aggraded: Paul Tol indigo, L* 22
}
"""Change code → sRGB colour (codes :data:`permamap.contracts.CHANGE_CODES`).

Colour-blind safe: the four colours differ pairwise by at least 15 in CIELAB lightness L*, so
they stay apart in grey scale and for every kind of colour vision; the stable classes are pale
and the two changes saturated, so change stands out. Change codes are matched by number, never by
name.
"""

CHANGE_COLORMAP: dict[int, tuple[int, int, int, int]] = {
    **{
        code: (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16), 255)
        for code, h in CHANGE_COLORS.items()
    },
    CHANGE_NODATA: (0, 0, 0, 0),
}
"""The GeoTIFF colour table of a change map (RGBA per code; no data transparent)."""

CLASS_NAMES = ("non-permafrost", "permafrost", "nodata")
"""Class name by index as the tables spell it: 0 not, 1 permafrost, 2 no data."""


def find_run_maps(layout: RunLayout) -> dict[int, Path]:
    """Epoch → path of the ``permafrost_<year>.tif`` maps of a run, sorted by epoch.

    :meth:`RunLayout.find_maps` with the errors a change stage needs: a missing or empty maps
    folder names the fix.

    Raises
    ------
    InputFileError
        If the folder does not exist or holds no map.
    """
    maps_dir = layout.maps_dir
    if not maps_dir.is_dir():
        raise InputFileError(
            f"map folder {maps_dir} does not exist; run the predict stage first or give the "
            "folder that holds permafrost_<year>.tif"
        )
    found = layout.find_maps()
    if not found:
        raise InputFileError(f"no permafrost_<year>.tif in {maps_dir}; run the predict stage first")
    return found


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` (and of the GDAL error behind it) on one line.

    rasterio's "Read failed. See previous exception for details." hides GDAL's message in the
    chained exception; both are kept so the user sees which block of which file failed.
    """
    msg = str(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in msg:
        msg = str(cause) if "previous exception" in msg else f"{msg} — {cause}"
    return " ".join(msg.split())


@contextmanager
def reading(path: Path, what: str, fix: str) -> Iterator[None]:
    """Turn a GDAL read error inside the block into a one-line :class:`InputFileError`.

    Parameters
    ----------
    path : Path
        The file being read.
    what : str
        What the file is, as the user knows it (``"map for epoch 2000"``, ``"reference map"``).
    fix : str
        What to do about a damaged file (``"re-run the predict stage"``).
    """
    try:
        yield
    except READ_ERRORS as exc:
        raise InputFileError(
            f"{what} {path} is damaged or truncated: reading it failed ({one_line(exc)}); {fix}"
        ) from exc


def band_by_description(src: Any, name: str) -> int | None:
    """1-based index of the first band described ``name`` (case-insensitive), or None."""
    for i, desc in enumerate(src.descriptions, start=1):
        if desc is not None and desc.strip().lower() == name:
            return i
    return None


@dataclass(frozen=True)
class MapBands:
    """Band indexes of an opened permamap map."""

    cls: int
    prob: int | None
    aoa: int | None


def check_on_grid(src: Any, grid: Grid, path: Path, what: str) -> None:
    """Raise :class:`GridMismatchError` unless the open raster ``src`` lies on ``grid``."""
    if not grid.matches(src.crs, src.transform, (src.height, src.width)):
        raise GridMismatchError(
            f"{what} {path} is not on the run's grid: it has CRS {src.crs}, shape "
            f"{(src.height, src.width)}, origin ({src.transform.c:g}, {src.transform.f:g}) and "
            f"pixel {src.transform.a:g}, but the grid has CRS {grid.crs}, shape {grid.shape}, "
            f"origin ({grid.west:g}, {grid.north:g}) and pixel {grid.res:g}; "
            "rebuild it on the same Grid (or pass the Grid the maps were made on)"
        )


def map_bands(src: Any, path: Path) -> MapBands:
    """Find the class, probability and aoa bands of an open map (by description, else order)."""
    cls = band_by_description(src, "class") or 1
    prob = band_by_description(src, "probability")
    if prob is None and src.count >= 2 and band_by_description(src, "class") is None:
        prob = 2  # contract order when descriptions are missing
    aoa = band_by_description(src, "aoa")
    if src.dtypes[cls - 1] != "uint8":
        raise DataError(
            f"band {cls} (class) of {path} is {src.dtypes[cls - 1]}, but maps store classes as "
            "uint8 (1 permafrost, 0 not, 255 no data); write it with the predict stage"
        )
    return MapBands(cls=cls, prob=prob, aoa=aoa)


def open_map(path: Path, grid: Grid, epoch: int | str) -> Any:
    """Open the map of ``epoch`` for reading, after checking it exists and lies on ``grid``."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"map for epoch {epoch} not found at {path}; run the predict stage for that epoch "
            "or drop it from the epochs"
        )
    try:
        src = rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputFileError(
            f"map {path} cannot be read ({one_line(exc)}); re-run the predict stage"
        ) from exc
    check_on_grid(src, grid, path, f"map for epoch {epoch}")
    return src


def read_class(src: Any, band: int, window: Window, path: Path) -> np.ndarray:
    """Read a class block; raise :class:`DataError` on a value other than 0, 1 or no data."""
    with reading(path, "map", _MAP_FIX):
        arr = src.read(band, window=window)
    _check_class(arr, window, path)
    return arr


def read_prob(
    src: Any, band: int | None, cls: np.ndarray, window: Window, path: Path
) -> np.ndarray:
    """Read a probability block (percent); without a probability band, 0 % or 100 % by class."""
    if band is None:
        # No probability band: the class is the best estimate (0 % or 100 %).
        return np.where(cls == CLASS_NODATA, CLASS_NODATA, cls * 100).astype(np.uint8)
    with reading(path, "map", _MAP_FIX):
        arr = src.read(band, window=window)
    _check_prob(arr, window, path)
    return arr


def read_map_block(
    src: Any, bands: MapBands, window: Window, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Class, probability and inside-the-AOA blocks of a map in one read (one decode per block).

    Checked as :func:`read_class` and :func:`read_prob` check them; the AOA mask is None for a
    map without an ``aoa`` band.
    """
    wanted = [bands.cls] + [b for b in (bands.prob, bands.aoa) if b is not None]
    with reading(path, "map", _MAP_FIX):
        data = src.read(wanted, window=window)
    cls = data[0]
    _check_class(cls, window, path)
    prob = data[1] if bands.prob is not None else None
    if prob is None:
        prob = np.where(cls == CLASS_NODATA, CLASS_NODATA, cls * 100).astype(np.uint8)
    else:
        _check_prob(prob, window, path)
    aoa = data[-1] == 1 if bands.aoa is not None else None
    return cls, prob, aoa


def _check_class(arr: np.ndarray, window: Window, path: Path) -> None:
    bad = (arr != 0) & (arr != 1) & (arr != CLASS_NODATA)
    if bad.any():
        raise DataError(
            f"class band of {path} holds value {int(arr[bad][0])} in window {wstr(window)}; "
            "classes must be 0 (not permafrost), 1 (permafrost) or 255 (no data)"
        )


def _check_prob(arr: np.ndarray, window: Window, path: Path) -> None:
    bad = (arr > 100) & (arr != CLASS_NODATA)
    if bad.any():
        raise DataError(
            f"probability band of {path} holds value {int(arr[bad][0])} in window "
            f"{wstr(window)}; probabilities are percent 0–100 with 255 as no data"
        )


def wstr(w: Window) -> str:
    """A window as people read it in an error message."""
    return f"(row {int(w.row_off)}, col {int(w.col_off)}, {int(w.height)} × {int(w.width)})"


def iter_tiles(
    grid: Grid, tile_shape: tuple[int, int], progress: bool, desc: str
) -> Iterator[Window]:
    """The windows of ``grid``, with a tqdm bar (``progress=True``) that goes away when done."""
    windows = list(grid.tiles(tile_shape))
    yield from tqdm(windows, desc=desc, unit="tile", disable=not progress, leave=False)


def version() -> str:
    """permamap's version, for the tags of the rasters the stage writes."""
    from .. import __version__

    return __version__
