"""Change between two epochs: change classes, transition areas in km² and the change map.

:func:`change_classes` and :func:`transition_area` are the pure maths on one block;
:func:`transitions` reads two maps window by window, sums the transition table and streams the
change map (``change_<a>_<b>.tif``, codes :data:`~permamap.contracts.CHANGE_CODES`) into the path
its caller gives.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window

from ..contracts import CHANGE_CODES, CHANGE_NODATA, DEFAULT_TILE
from ..errors import DataError
from ..fileio import write_blocks_cog
from ..grid import Grid
from ..layout import RunLayout
from .maps import CHANGE_COLORMAP, CLASS_NAMES, iter_tiles, map_bands, open_map, read_class, version

__all__ = ["change_classes", "transition_area", "transitions"]


def change_classes(cls_a: np.ndarray, cls_b: np.ndarray) -> np.ndarray:
    """Change class of each cell between two class maps (see :data:`CHANGE_CODES`).

    Parameters
    ----------
    cls_a, cls_b : ndarray of uint8
        Class bands of the earlier and the later epoch (1, 0 or
        :data:`~permamap.contracts.CLASS_NODATA`).

    Returns
    -------
    ndarray of uint8
        0 stable non-permafrost, 1 stable permafrost, 2 degraded, 3 aggraded,
        :data:`~permamap.contracts.CHANGE_NODATA` where either epoch has no data.

    Examples
    --------
    >>> change_classes(np.array([0, 1, 1, 0, 255], np.uint8), np.array([0, 1, 0, 1, 1], np.uint8))
    array([  0,   1,   2,   3, 255], dtype=uint8)
    """
    a = np.asarray(cls_a)
    b = np.asarray(cls_b)
    out = np.full(np.broadcast_shapes(a.shape, b.shape), CHANGE_NODATA, dtype=np.uint8)
    out[(a == 0) & (b == 0)] = 0
    out[(a == 1) & (b == 1)] = 1
    out[(a == 1) & (b == 0)] = 2
    out[(a == 0) & (b == 1)] = 3
    return out


def _class_index(cls: np.ndarray) -> np.ndarray:
    """0 non-permafrost, 1 permafrost, 2 no data (anything else)."""
    idx = np.full(cls.shape, 2, dtype=np.int64)
    idx[cls == 0] = 0
    idx[cls == 1] = 1
    return idx


def transition_area(cls_a: np.ndarray, cls_b: np.ndarray, cell_area_km2: np.ndarray) -> np.ndarray:
    """Area in km² of each (class a, class b) transition.

    Parameters
    ----------
    cls_a, cls_b : ndarray of uint8, shape (rows, cols)
        Class bands of the earlier and the later epoch.
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².

    Returns
    -------
    ndarray of float, shape (3, 3)
        ``out[i, j]`` = area that was class ``i`` in epoch a and class ``j`` in epoch b, with
        0 non-permafrost, 1 permafrost, 2 no data. Rows add up to each class's area in epoch a,
        columns to epoch b's: stable + degraded (+ to-no-data) = earlier permafrost extent.

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], np.uint8); b = np.array([[1, 0, 1]], np.uint8)
    >>> transition_area(a, b, np.ones((1, 3)))[:2, :2].tolist()
    [[0.0, 1.0], [1.0, 1.0]]
    """
    a = _class_index(np.asarray(cls_a))
    b = _class_index(np.asarray(cls_b))
    area = np.asarray(cell_area_km2, dtype=np.float64)
    if not (a.shape == b.shape == area.shape):
        raise DataError(
            f"class arrays {a.shape} and {b.shape} and cell areas {area.shape} differ in shape; "
            "read both epochs with the same window"
        )
    flat = (a * 3 + b).ravel()
    return np.bincount(flat, weights=area.ravel(), minlength=9).reshape(3, 3)


def transition_table(matrix: np.ndarray, epoch_a: int, epoch_b: int) -> pd.DataFrame:
    change_name = {
        (0, 0): CHANGE_CODES[0],
        (1, 1): CHANGE_CODES[1],
        (1, 0): CHANGE_CODES[2],
        (0, 1): CHANGE_CODES[3],
    }
    rows = []
    for i in range(3):
        for j in range(3):
            rows.append(
                {
                    "from_epoch": epoch_a,
                    "to_epoch": epoch_b,
                    "from_class": CLASS_NAMES[i],
                    "to_class": CLASS_NAMES[j],
                    "change": change_name.get((i, j), "no data"),
                    "area_km2": float(matrix[i, j]),
                }
            )
    return pd.DataFrame(rows)


def transitions(
    path_a: Path,
    path_b: Path,
    grid: Grid,
    *,
    epochs: tuple[int, int] | None = None,
    change_map: Path | None = None,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
) -> pd.DataFrame:
    """Transition table in km² between two maps, and optionally the change map.

    Parameters
    ----------
    path_a, path_b : Path
        Maps of the earlier and the later epoch, on ``grid``.
    grid : Grid
        The grid of both maps.
    epochs : (int, int), optional
        The two epochs, for the table and the change map's tags; read from the maps' ``epoch``
        tag or file name when omitted.
    change_map : Path, optional
        Where to write the change map (uint8 COG, codes in
        :data:`~permamap.contracts.CHANGE_CODES`, 255 no data), streamed tile by tile.
    tile_shape : (int, int)
        Rows and columns read at once.
    progress : bool, default=False
        Show a progress bar over the tiles.

    Returns
    -------
    DataFrame
        Nine rows, one per ``from_class`` × ``to_class`` (``non-permafrost``, ``permafrost``,
        ``nodata``), with ``from_epoch, to_epoch, change, area_km2``. For any class,
        the rows ``from_class == c`` add up to the class's area in the earlier map.
    """
    path_a, path_b = Path(path_a), Path(path_b)
    ea, eb = epochs if epochs is not None else (_epoch_of(path_a), _epoch_of(path_b))
    with open_map(path_a, grid, ea) as src_a, open_map(path_b, grid, eb) as src_b:
        band_a = map_bands(src_a, path_a).cls
        band_b = map_bands(src_b, path_b).cls
        total = np.zeros((3, 3))

        def blocks() -> Iterator[tuple[Window, np.ndarray]]:
            nonlocal total
            for window in iter_tiles(grid, tile_shape, progress, f"change {ea}-{eb}"):
                a = read_class(src_a, band_a, window, path_a)
                b = read_class(src_b, band_b, window, path_b)
                total += transition_area(a, b, grid.cell_area_km2(window))
                yield window, change_classes(a, b)[None]

        if change_map is None:
            for _ in blocks():
                pass
        else:
            write_change_map(Path(change_map), grid, blocks(), ea, eb)
    return transition_table(total, ea, eb)


def write_change_map(
    path: Path,
    grid: Grid,
    blocks: Iterator[tuple[Window, np.ndarray]],
    epoch_a: int,
    epoch_b: int,
    extra_tags: dict[str, str] | None = None,
) -> Path:
    """Stream ``(window, (1, rows, cols) codes)`` blocks into the change map COG, atomically."""
    codes = ", ".join(f"{k} {v}" for k, v in CHANGE_CODES.items())
    return write_blocks_cog(
        Path(path),
        grid,
        blocks,
        count=1,
        descriptions=[f"change {epoch_a}-{epoch_b} ({codes}, 255 no data)"],
        tags={
            "kind": "change",
            "from_epoch": str(epoch_a),
            "to_epoch": str(epoch_b),
            "codes": "; ".join(f"{k}={v}" for k, v in CHANGE_CODES.items())
            + f"; {CHANGE_NODATA}=no data",
            "permamap_version": version(),
            **(extra_tags or {}),
        },
        nodata=CHANGE_NODATA,
        colormap=CHANGE_COLORMAP,
        overview_resampling="mode",
    )


def _epoch_of(path: Path) -> int:
    with rasterio.open(path) as src:
        tag = src.tags().get("epoch")
    if tag is not None and str(tag).strip().lstrip("-").isdigit():
        return int(tag)
    epoch = RunLayout.epoch_of_map(path)
    if epoch is not None:
        return epoch
    raise DataError(
        f"cannot tell the epoch of {path}: no 'epoch' tag and the name is not "
        "permafrost_<year>.tif; pass epochs=(a, b)"
    )


def epoch_pairs(epochs: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs of epochs the change stage compares: each consecutive pair, then first → last.

    >>> epoch_pairs([2010, 2000, 2020])
    [(2000, 2010), (2010, 2020), (2000, 2020)]
    """
    e = sorted(epochs)
    pairs = list(itertools.pairwise(e))
    if len(e) > 2:
        pairs.append((e[0], e[-1]))
    return pairs
