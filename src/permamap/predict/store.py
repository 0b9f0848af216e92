"""The fingerprint that makes a map's tile store resumable (the store: :mod:`permamap.tilestore`).

A map's store ``<maps>/.tiles_<map stem>/`` holds one ``.npy`` per tile, or an ``.empty`` marker when
the tile has no cell with every factor. Its ``manifest.json`` holds :func:`fingerprint`: the
settings (model, features, stack, grid, tile shape, bands, threshold, AOA, ensemble members, error
profile, member-classes output) the tiles depend on; a rerun with the same fingerprint reuses the
finished tiles, a different one clears them first. With a member-classes file, a second store
``members/`` inside the first holds each tile's uint32 member bits and its per-member area sums.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..aoa import AOAReference
from ..grid import Grid
from ..inference import Predictor
from ..tilestore import OutputWriteError, TileStore, code_fingerprint, window_key

__all__ = ["OutputWriteError", "TileStore", "fingerprint", "window_key"]

_STORE_VERSION = 2


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
        "code": code_fingerprint(),  # tiles of another permamap are not reused
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
