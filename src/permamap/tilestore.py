"""Tile stores: per-tile results of one raster beside it, so a killed run resumes where it stopped.

A :class:`TileStore` is a hidden folder beside its raster (``.tiles_<stem>``) holding one ``.npy``
per tile, or an ``.empty`` marker for a tile with nothing to store. Each file is written
atomically through :mod:`permamap.fileio`, so a tile file is either complete or absent. A
``manifest.json`` holds the fingerprint of the settings the tiles depend on: a rerun with the same
fingerprint reuses the finished tiles, a different one clears them first. The stacks
(:func:`permamap.covariates.stack.build_stack`), the maps (:mod:`permamap.predict`), the truth and
the projections keep their tiles here until the raster is assembled. :func:`for_each` runs a
function over tiles on a bounded thread pool.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rasterio.windows import Window

from .contracts import MAP_NODATA
from .errors import PermamapError
from .fileio import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["OutputWriteError", "TileStore", "code_fingerprint", "for_each", "window_key"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@cache
def code_fingerprint() -> str:
    """SHA-256 of the ``permamap`` package's source files (``.py`` and ``.toml``), by relative path.

    >>> len(code_fingerprint())
    64
    """
    root = Path(__file__).resolve().parent  # the package folder
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


class OutputWriteError(PermamapError, OSError):
    """A map or tile could not be written (disk full, no permission); earlier outputs are intact."""


def window_key(window: Window) -> str:
    """File stem of a tile in the store: ``r<row_off:06d>_c<col_off:06d>``.

    >>> window_key(Window(col_off=512, row_off=0, width=512, height=512))
    'r000000_c000512'
    """
    return f"r{int(window.row_off):06d}_c{int(window.col_off):06d}"


@contextlib.contextmanager
def _tile_write_errors(final: Path) -> Iterator[None]:
    """Turn an :class:`OSError` while writing ``final`` into an :class:`OutputWriteError` with the fix."""
    try:
        yield
    except OSError as exc:
        hint = (
            "the disk is full; free space (the dry run estimates what a map needs) and "
            "rerun: finished tiles are kept"
            if exc.errno == errno.ENOSPC
            else "check the folder's permissions and free space, then rerun: "
            "finished tiles are kept"
        )
        raise OutputWriteError(
            exc.errno or 0, f"could not write tile {final} ({exc}); {hint}"
        ) from exc


@dataclass(frozen=True)
class TileStore:
    """Per-tile results of one map in a hidden folder beside it, each file written atomically.

    Parameters
    ----------
    folder : Path
        ``<maps>/.tiles_<map stem>``; created on demand.
    """

    folder: Path

    @classmethod
    def beside(cls, out: Path) -> TileStore:
        """The store of the map at ``out``: ``.tiles_<stem>`` in the map's folder."""
        out = Path(out)
        return cls(out.with_name(f".tiles_{out.stem}"))

    def path(self, window: Window) -> Path:
        return self.folder / f"{window_key(window)}.npy"

    def empty_path(self, window: Window) -> Path:
        return self.folder / f"{window_key(window)}.empty"

    def is_done(self, window: Window) -> bool:
        return self.path(window).is_file() or self.empty_path(window).is_file()

    def write(self, window: Window, data: np.ndarray | None) -> None:
        """Save a tile's bands, or an empty marker when ``data`` is ``None``."""
        if data is None:
            final = self.empty_path(window)
            with _tile_write_errors(final):
                atomic_write_bytes(final, b"")
        else:
            final = self.path(window)
            # the temporary name keeps the .npy suffix, so np.save does not append another one
            with _tile_write_errors(final), atomic_path(final) as tmp:
                np.save(tmp, data, allow_pickle=False)

    def read(
        self,
        window: Window,
        n_bands: int,
        *,
        dtype: Any = np.uint8,
        fill: float = MAP_NODATA,
    ) -> np.ndarray:
        """A tile's bands; all ``fill`` for an empty tile."""
        path = self.path(window)
        want_dtype = np.dtype(dtype)
        if path.is_file():
            data = np.load(path, allow_pickle=False)
            want = (n_bands, int(window.height), int(window.width))
            if data.shape != want or data.dtype != want_dtype:
                raise OutputWriteError(
                    0,
                    f"tile {path} holds {data.dtype} {data.shape}, expected {want_dtype} {want}; "
                    f"delete {self.folder} and rerun",
                )
            return data
        if self.empty_path(window).is_file():
            return np.full((n_bands, int(window.height), int(window.width)), fill, dtype=want_dtype)
        raise OutputWriteError(0, f"tile {path} is missing; rerun to compute it")

    def extra_path(self, window: Window, name: str) -> Path:
        return self.folder / f"{window_key(window)}.{name}.npy"

    def write_extra(self, window: Window, name: str, data: np.ndarray) -> None:
        """Save a small per-tile array beside the tile (e.g. per-member area sums), atomically."""
        final = self.extra_path(window, name)
        with _tile_write_errors(final), atomic_path(final) as tmp:
            np.save(tmp, data, allow_pickle=False)

    def read_extra(self, window: Window, name: str) -> np.ndarray | None:
        """The array :meth:`write_extra` saved, or None (an empty tile has none)."""
        path = self.extra_path(window, name)
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def prepare(self, fingerprint: dict[str, Any]) -> None:
        """Create the store, or clear it when its manifest belongs to another run's settings."""
        manifest = self.folder / "manifest.json"
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = None
            if old == fingerprint:
                return
            log.info("tile store %s belongs to other settings; clearing it", self.folder)
            self.clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(fingerprint, indent=2, sort_keys=True)
        with _tile_write_errors(manifest):
            atomic_write_text(manifest, text)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def for_each(
    fn: Callable[[T], R],
    items: Iterable[T],
    n_jobs: int,
    done: Callable[[R], None],
    *,
    prefix: str = "permamap-tile",
) -> None:
    """Call ``fn`` on every item, ``done`` on each result; ``n_jobs`` threads, in order with one.

    At most ``2 × n_jobs`` items are in flight, so memory stays bounded whatever the number of
    items. The first exception cancels what has not started and is raised. Threads suit tile work:
    GDAL reads, numpy's array operations and the compiled tree kernels release the GIL.
    """
    if n_jobs <= 1:
        for item in items:
            done(fn(item))
        return
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix=prefix) as pool:
        pending = set()
        it = iter(items)
        for item in it:
            pending.add(pool.submit(fn, item))
            if len(pending) >= 2 * n_jobs:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in finished:
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise exc
                done(fut.result())
            for item in it:
                pending.add(pool.submit(fn, item))
                if len(pending) >= 2 * n_jobs:
                    break
