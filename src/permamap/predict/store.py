"""The tile store: per-tile results of one map beside it, and the fingerprint that makes it resumable.

The store ``<maps>/.tiles_<map stem>/`` holds one ``.npy`` per tile, or an ``.empty`` marker when
the tile has no cell with every factor. Each file is written atomically through
:mod:`permamap.fileio`, so a tile file is either complete or absent. A ``manifest.json`` holds the
fingerprint of the settings (model, features, stack, grid, tile shape, bands, threshold, AOA,
ensemble members, error profile, member-classes output): a rerun with the same fingerprint reuses
the finished tiles; a different one clears them first. With a member-classes file, a second store
``members/`` inside the first holds each tile's uint32 member bits and its per-member area sums.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from .. import __version__
from ..aoa import AOAReference
from ..contracts import MAP_NODATA
from ..errors import PermamapError
from ..fileio import atomic_path, atomic_write_bytes, atomic_write_text
from ..grid import Grid
from ..inference import Predictor

__all__ = ["OutputWriteError", "TileStore", "fingerprint", "window_key"]

log = logging.getLogger(__name__)

_STORE_VERSION = 2


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
        fill: int = MAP_NODATA,
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
        raise OutputWriteError(0, f"tile {path} is missing; rerun predict_map to compute it")

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


def fingerprint(
    model: Any,
    predictor: Predictor,
    features: Sequence[str],
    stack: Path,
    grid: Grid,
    tile_shape: tuple[int, int],
    bands: Sequence[str],
    threshold: float,
    aoa: AOAReference | None,
    tags: dict[str, str],
    *,
    members: Any = None,
    error_profile: Any = None,
    member_classes: bool = False,
) -> dict[str, Any]:
    """The settings a tile store's tiles depend on (its ``manifest.json``), JSON-ready."""
    import joblib

    st = Path(stack).stat()
    return {
        "store_version": _STORE_VERSION,
        "permamap_version": __version__,
        "model": joblib.hash(model),
        "predictor": type(predictor).__name__,
        "features": list(features),
        "stack": {
            "path": str(Path(stack).resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        },
        "grid": grid.to_dict(),
        "tile_shape": list(tile_shape),
        "bands": list(bands),
        "threshold": threshold,
        "aoa": joblib.hash(None if aoa is None else (aoa.train, aoa.threshold, aoa.mean_distance)),
        "tags": tags,
        "members": None if members is None else _members_hash(members),
        "error_profile": None
        if error_profile is None
        else joblib.hash(json.dumps(error_profile.to_dict(), sort_keys=True, default=str)),
        "member_classes": bool(member_classes),
    }


def _members_hash(members: Any) -> str:
    """The ensemble's own cached hash when it has one (hashing 20 forests takes a while)."""
    import joblib

    own = getattr(members, "fingerprint", None)
    return str(own()) if callable(own) else str(joblib.hash(members))
