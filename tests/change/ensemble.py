"""Member files of a model ensemble in the map stage's layout, for the area-interval tests.

Beside ``maps/permafrost_<year>.tif`` the map stage writes ``maps/members/members_<year>.tif``
(one uint32 band ``member_classes``, bit k = member k says permafrost, 0 where the map has no
data; tags ``n_members``, ``epoch``, ``threshold``) and ``members_<year>.json`` (per-member
totals over the whole grid). :func:`write_members` writes both from a stack of member class
arrays, as a COG like the producer does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil

from permamap.grid import Grid

from .conftest import write_map


def pack_members(member_cls: np.ndarray) -> np.ndarray:
    """(B, rows, cols) of 0/1 → (rows, cols) uint32 words with bit k = member k."""
    member_cls = np.asarray(member_cls, dtype=np.uint32)
    weights = (np.uint32(1) << np.arange(member_cls.shape[0], dtype=np.uint32))[:, None, None]
    return (member_cls * weights).sum(axis=0, dtype=np.uint64).astype(np.uint32)


def write_members(
    folder: Path,
    grid: Grid,
    epoch: int,
    member_cls: np.ndarray,
    map_cls: np.ndarray,
    *,
    probability_weighted_km2: Sequence[float] | None = None,
    words: np.ndarray | None = None,
    n_members: int | None = None,
    extent_km2: Sequence[float] | None = None,
    zero_off_land: bool = True,
) -> Path:
    """Write ``members_<epoch>.tif`` and its JSON sidecar into ``folder``; return the tif's path.

    The sidecar's extents are computed from ``member_cls`` where ``map_cls`` has data, unless
    ``extent_km2`` is given. ``words`` and ``n_members`` override the packed bits and the member
    count (to build broken files).
    """
    folder.mkdir(parents=True, exist_ok=True)
    member_cls = np.asarray(member_cls)
    b = member_cls.shape[0] if n_members is None else n_members
    valid = np.asarray(map_cls) != 255
    if words is None:
        words = pack_members(member_cls)
        if zero_off_land:
            words = np.where(valid, words, 0).astype(np.uint32)
    area = grid.cell_area_km2()
    if extent_km2 is None:
        extent_km2 = [float(np.where(valid & (m == 1), area, 0.0).sum()) for m in member_cls]
    if probability_weighted_km2 is None:
        probability_weighted_km2 = [float(v) for v in extent_km2]
    tif = folder / f"members_{epoch}.tif"
    stage = folder / f".stage_{epoch}.tif"
    with rasterio.open(
        stage,
        "w",
        driver="GTiff",
        dtype="uint32",
        count=1,
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
    ) as dst:
        dst.write(np.asarray(words, dtype=np.uint32)[None])
        dst.set_band_description(1, "member_classes")
        dst.update_tags(n_members=str(b), epoch=str(epoch), threshold="0.5")
    rasterio.shutil.copy(stage, tif, driver="COG")
    stage.unlink()
    doc = {
        "epoch": epoch,
        "n_members": b,
        "permafrost_extent_km2": list(extent_km2),
        "probability_weighted_km2": list(probability_weighted_km2),
    }
    tif.with_suffix(".json").write_text(json.dumps(doc), encoding="utf-8")
    return tif


def write_epoch(
    root: Path,
    grid: Grid,
    epoch: int,
    map_cls: np.ndarray,
    member_cls: np.ndarray,
    prob: np.ndarray | None = None,
    **members_kw: Any,
) -> tuple[Path, Path]:
    """The map ``root/maps/permafrost_<epoch>.tif`` and its members files; their paths."""
    maps = root / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    path = write_map(maps / f"permafrost_{epoch}.tif", grid, map_cls, prob, epoch=epoch)
    folder = maps / "members"
    members = write_members(folder, grid, epoch, member_cls, map_cls, **members_kw)
    return path, members
