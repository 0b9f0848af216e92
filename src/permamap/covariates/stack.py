"""The on-disk covariate stack: one tiled, compressed float32 GeoTIFF per epoch, read by windows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm.auto import tqdm

from ..contracts import DEFAULT_TILE
from ..errors import DataError
from ..fileio import atomic_path, check_on_grid, open_tiled
from ..grid import Grid
from ..tilestore import TileStore, code_fingerprint, for_each

__all__ = [
    "FINGERPRINT_TAG",
    "CovariateSource",
    "build_stack",
    "read_stack",
    "sample_stack",
    "stack_is_current",
]

log = logging.getLogger(__name__)


class CovariateSource(Protocol):
    """What the stack builder needs from a source of factors (the virtual world or real data)."""

    factor_names: list[str]

    def factors(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray: ...


FINGERPRINT_TAG = "factors_sha"


def stack_is_current(
    path: Path, grid: Grid, names: list[str], *, fingerprint: str | None = None
) -> bool:
    """True if ``path`` is a stack on ``grid`` with exactly the bands ``names`` (so it can be reused).

    Parameters
    ----------
    path : Path
        The stack.
    grid : Grid
        The run's grid.
    names : list of str
        The factor names, in band order.
    fingerprint : str, optional
        Fingerprint of the factor definitions (e.g.
        :meth:`permamap.covariates.combined.CombinedSource.fingerprint`); when given, the stack is
        current only if :func:`build_stack` wrote the same one (tag ``factors_sha``), so a changed
        custom factor file, scale or window rebuilds the stack. ``None`` compares grid and names only.
    """
    if not Path(path).is_file():
        return False
    with rasterio.open(path) as ds:
        same = grid.matches(ds.crs, ds.transform, (ds.height, ds.width)) and list(
            ds.descriptions
        ) == list(names)
        if fingerprint is not None:
            same = same and ds.tags().get(FINGERPRINT_TAG) == fingerprint
    return same


def build_stack(
    source: CovariateSource,
    grid: Grid,
    epoch: int,
    path: Path,
    *,
    window_years: int = 9,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
    fingerprint: str | None = None,
    n_jobs: int = 1,
) -> Path:
    """Compute every factor for ``epoch`` tile by tile and write the stack at ``path`` atomically.

    Each tile goes first to a tile store beside the stack (:class:`permamap.tilestore.TileStore`,
    ``.tiles_<stem>``); the stack is assembled from it in tile order once every tile is there, and
    the store removed. With a ``fingerprint`` (written as the tag ``factors_sha`` for
    :func:`stack_is_current`), an interrupted build resumes from the tiles already stored; the
    assembled stack is byte-identical to an uninterrupted build's. Without one the store starts
    empty. ``n_jobs`` threads compute tiles at once (the source's ``factors`` must be thread-safe:
    the virtual world and the real readers open their files per call). Memory is set by
    ``tile_shape``, not by the grid: about ``2 × n_jobs`` tiles of all factors at a time.
    """
    names = list(source.factor_names)
    tags: dict[str, object] = {"epoch": epoch, "window_years": window_years}
    if fingerprint is not None:
        tags[FINGERPRINT_TAG] = fingerprint
    store = TileStore.beside(Path(path))
    if fingerprint is None:
        store.clear()
    store.prepare(
        {
            "stack_store_version": 1,
            "code": code_fingerprint(),  # tiles of another permamap are not reused
            "factors_sha": fingerprint,
            "names": names,
            "grid": grid.to_dict(),
            "tile_shape": list(tile_shape),
            "epoch": epoch,
            "window_years": window_years,
        }
    )
    tiles = list(grid.tiles(tile_shape))
    todo = [w for w in tiles if not store.is_done(w)]

    def compute(w: Window) -> None:
        block = source.factors(grid, epoch, w, window_years)
        want = (len(names), int(w.height), int(w.width))
        if block.shape != want:
            raise DataError(
                f"source returned shape {block.shape} for window {w}, expected {want}; the "
                "source is inconsistent"
            )
        block = block.astype(np.float32, copy=False)
        store.write(w, block if np.isfinite(block).any() else None)

    if len(todo) < len(tiles):
        log.info(
            "covariates %d: %d of %d tiles already stored",
            epoch,
            len(tiles) - len(todo),
            len(tiles),
        )
    with tqdm(
        total=len(tiles),
        initial=len(tiles) - len(todo),
        desc=f"covariates {epoch}",
        unit="tile",
        disable=not progress,
    ) as bar:
        for_each(compute, todo, n_jobs, lambda _: bar.update(), prefix="permamap-stack")
    with atomic_path(Path(path)) as tmp:
        with open_tiled(tmp, grid, len(names), "float32", float("nan"), names, tags=tags) as ds:
            for w in tiles:
                ds.write(store.read(w, len(names), dtype=np.float32, fill=np.nan), window=w)
    store.clear()
    log.info("wrote %s", path)
    return Path(path)


def stack_names(path: Path) -> list[str]:
    with rasterio.open(path) as ds:
        return [d or f"band{i + 1}" for i, d in enumerate(ds.descriptions)]


def read_stack(
    path: Path, window: Window | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """Read ``names`` (all bands by default) of a stack for ``window`` as ``(band, row, col)`` float32."""
    with rasterio.open(path) as ds:
        have = [d for d in ds.descriptions]
        wanted = list(names) if names is not None else have
        missing = [n for n in wanted if n not in have]
        if missing:
            raise DataError(
                f"{path} has no band(s) {missing} (it has {have}); rebuild the stack with these factors "
                "or train the model without them"
            )
        idx = [have.index(n) + 1 for n in wanted]
        return ds.read(idx, window=window).astype(np.float32, copy=False)


def sample_stack(
    path: Path, grid: Grid, lon: np.ndarray, lat: np.ndarray, names: Sequence[str] | None = None
) -> np.ndarray:
    """Factor values at points, ``(n_points, n_factors)``; NaN for points off the grid or off land."""
    check_on_grid(path, grid)
    rows, cols = grid.index(lon, lat)
    with rasterio.open(path) as ds:
        wanted = list(names) if names is not None else list(ds.descriptions)
        out = np.full((len(rows), len(wanted)), np.nan, dtype=np.float32)
        inside = np.flatnonzero(rows >= 0)
        if inside.size:
            xs = grid.west + (cols[inside] + 0.5) * grid.res
            ys = grid.north - (rows[inside] + 0.5) * grid.res
            idx = [list(ds.descriptions).index(n) + 1 for n in wanted]
            values = np.array(
                list(ds.sample(zip(xs, ys, strict=True), indexes=idx)), dtype=np.float32
            )
            out[inside] = values
    return out
