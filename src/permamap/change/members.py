"""The ensemble's member files: checks from headers and sidecars, reading and decoding bits.

When the model has an ensemble of B ≤ 32 members, the map stage writes beside each
``permafrost_<year>.tif``:

``maps/members/members_<year>.tif``
    one uint32 band ``member_classes``; bit k (value ``1 << k``) set = member k classes the cell
    as permafrost; 0 where the map has no data. Tags ``n_members``, ``epoch``, ``threshold``.
``maps/members/members_<year>.json``
    ``{"epoch", "n_members", "permafrost_extent_km2": [B], "probability_weighted_km2": [B]}``,
    each member's totals over the whole grid.

:func:`check_members` checks them before any tile is read; :func:`member_area` turns a block of
words into each member's area (:mod:`permamap.change.uncertainty` uses both).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from ..contracts import MAX_MEMBERS, MEMBER_CLASSES_BAND
from ..errors import DataError
from ..grid import Grid
from .maps import READ_ERRORS, one_line, reading, wstr

__all__ = [
    "MEMBERS_FIX",
    "MemberFiles",
    "check_members",
    "member_area",
    "read_words",
    "sidecar_path",
]

MEMBERS_FIX = "rerun `permamap map` (or the predict stage) so every epoch has its members file"
"""The fix every member-file error names."""

_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
"""(256, 8): bit k of each byte value."""


def member_area(words: np.ndarray, cell_area_km2: np.ndarray, n_members: int) -> np.ndarray:
    """Area in km² of the cells each member flags, from the bit words of a member file.

    Each byte of the words is summed by value first (one ``np.bincount`` of 256 bins per 8
    members), then the 256 sums are unpacked into bits: linear time, memory one tile, whatever
    the number of distinct words.

    Parameters
    ----------
    words : ndarray of uint32
        Bit k set = member k flags the cell.
    cell_area_km2 : ndarray of float, same shape
        Area of each cell in km².
    n_members : int
        Number of members B (1–32); bits from B on are ignored.

    Returns
    -------
    ndarray of float, shape (n_members,)

    Examples
    --------
    >>> member_area(np.array([[1, 3, 2, 0]], np.uint32), np.array([[1.0, 2.0, 4.0, 8.0]]), 2)
    array([3., 6.])
    """
    w = np.ascontiguousarray(np.ravel(words), dtype="<u4")
    a = np.ravel(np.asarray(cell_area_km2, dtype=np.float64))
    if w.shape != a.shape:
        raise DataError(
            f"member words {np.shape(words)} and cell areas {np.shape(cell_area_km2)} differ in "
            "shape; read both with the same window"
        )
    by_byte = w.view(np.uint8).reshape(-1, 4)
    n_bytes = -(-n_members // 8)
    out = np.concatenate(
        [np.bincount(by_byte[:, j], weights=a, minlength=256) @ _BYTE_BITS for j in range(n_bytes)]
    )
    return out[:n_members]


@dataclass(frozen=True)
class MemberFiles:
    """The checked member files of a run (headers and sidecars only, no pixel read)."""

    paths: dict[int, Path]
    n_members: int
    extent_km2: dict[int, np.ndarray]  # per epoch, (B,), from the JSON sidecar
    probability_weighted_km2: dict[int, np.ndarray]  # per epoch, (B,), from the JSON sidecar


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar beside a members file."""
    return path.with_suffix(".json")


def _read_sidecar(path: Path, epoch: int) -> tuple[int, np.ndarray, np.ndarray]:
    side = sidecar_path(path)
    if not side.is_file():
        raise DataError(f"members file {path} has no sidecar {side.name} beside it; {MEMBERS_FIX}")
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"members sidecar {side} is not valid JSON ({one_line(exc)}); {MEMBERS_FIX}"
        ) from exc
    keys = ("epoch", "n_members", "permafrost_extent_km2", "probability_weighted_km2")
    missing = [k for k in keys if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise DataError(f"members sidecar {side} lacks {missing}; {MEMBERS_FIX}")
    if doc["epoch"] != epoch:
        raise DataError(
            f"members sidecar {side} says epoch {doc['epoch']!r} but is given for epoch {epoch}; "
            f"{MEMBERS_FIX}"
        )
    n = doc["n_members"]
    out = []
    for key in keys[2:]:
        values = doc[key]
        ok = isinstance(values, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in values
        )
        if not ok or len(values) != n:
            raise DataError(
                f"members sidecar {side}: {key} must list n_members = {n!r} finite areas ≥ 0 in "
                f"km², one per member; {MEMBERS_FIX}"
            )
        out.append(np.asarray(values, dtype=np.float64))
    return int(n), out[0], out[1]


def _check_member_header(path: Path, grid: Grid, epoch: int) -> int:
    try:
        src = rasterio.open(path)
    except READ_ERRORS as exc:
        raise DataError(
            f"members file {path} cannot be read ({one_line(exc)}); {MEMBERS_FIX}"
        ) from exc
    with src:
        if not grid.matches(src.crs, src.transform, (src.height, src.width)):
            raise DataError(
                f"members file {path} is not on the run's grid (CRS {src.crs}, shape "
                f"{(src.height, src.width)}; the grid: {grid.crs}, {grid.shape}); members must lie "
                f"on the grid of the maps: {MEMBERS_FIX}"
            )
        desc = (src.descriptions[0] or "").strip()
        if src.count != 1 or src.dtypes[0] != "uint32" or desc not in ("", MEMBER_CLASSES_BAND):
            raise DataError(
                f"members file {path} has {src.count} band(s) {list(src.dtypes)} described "
                f"{list(src.descriptions)}; a members file has one uint32 band '{MEMBER_CLASSES_BAND}': "
                f"{MEMBERS_FIX}"
            )
        tags = src.tags()
    tag_epoch = str(tags.get("epoch", "")).strip()
    if tag_epoch != str(epoch):
        raise DataError(
            f"members file {path} has epoch tag {tag_epoch or 'none'!r} but is given for epoch "
            f"{epoch}; {MEMBERS_FIX}"
        )
    raw = str(tags.get("n_members", "")).strip()
    if not raw.isdigit() or not 2 <= int(raw) <= MAX_MEMBERS:
        raise DataError(
            f"members file {path} has n_members tag {raw or 'none'!r}; an interval needs 2 to "
            f"{MAX_MEMBERS} members (set the ensemble size in that range and {MEMBERS_FIX})"
        )
    return int(raw)


def check_members(members: Mapping[int, Path], maps: Mapping[int, Path], grid: Grid) -> MemberFiles:
    """Check the member files of every epoch from their headers and JSON sidecars.

    Cheap: reads raster headers and the sidecars, no pixel.

    Raises
    ------
    DataError
        One line naming the file, the rule and the fix, when an epoch of ``maps`` has no members
        file (or its sidecar) while others do, a members file is given for an epoch without a
        map, a file is not on ``grid`` or not one uint32 band, its epoch tag or sidecar disagree,
        or the member count differs between epochs or is not 2–32.
    """
    paths = {int(e): Path(p) for e, p in members.items()}
    epochs = sorted(int(e) for e in maps)
    extra = sorted(set(paths) - set(epochs))
    if extra:
        raise DataError(
            f"members files given for epoch(s) {extra} that have no map (maps: {epochs}); "
            "pass members for the mapped epochs only"
        )
    lacking = [e for e in epochs if e not in paths or not paths[e].is_file()]
    if lacking:
        e = lacking[0]
        beside = next(iter(paths.values())).parent if paths else Path()
        where = paths.get(e, beside / f"members_{e}.tif")
        have = [x for x in epochs if x not in lacking]
        raise DataError(
            f"members file {where} for epoch {e} is missing (epochs with members: {have}); every "
            f"epoch needs its members file for area intervals: {MEMBERS_FIX}"
        )
    counts: dict[int, int] = {}
    extent: dict[int, np.ndarray] = {}
    weighted: dict[int, np.ndarray] = {}
    for e in epochs:
        n_tag = _check_member_header(paths[e], grid, e)
        n_json, extent[e], weighted[e] = _read_sidecar(paths[e], e)
        if n_json != n_tag:
            raise DataError(
                f"members file {paths[e]} has n_members tag {n_tag} but its sidecar says "
                f"{n_json}; the two come from different runs: {MEMBERS_FIX}"
            )
        counts[e] = n_tag
        first = epochs[0]
        if n_tag != counts[first]:
            raise DataError(
                f"members file {paths[e]} has {n_tag} members but {paths[first]} has "
                f"{counts[first]}; member k must be the same refitted model in every epoch: "
                + MEMBERS_FIX
            )
    return MemberFiles(paths, counts[epochs[0]], extent, weighted)


def read_words(src: Any, window: Any, path: Path, n_members: int) -> np.ndarray:
    """Read a block of member words; refuse bits set beyond ``n_members``."""
    with reading(path, "members file", MEMBERS_FIX):
        words = src.read(1, window=window)
    if n_members < MAX_MEMBERS:
        bad = words >> np.uint32(n_members)
        if bad.any():
            v = int(words[bad != 0][0])
            raise DataError(
                f"members file {path} holds word {v} in window {wstr(window)}, with bits set "
                f"beyond its n_members = {n_members}; {MEMBERS_FIX}"
            )
    return words
