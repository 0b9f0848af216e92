"""Tiny synthetic maps in the contract format (docs/contracts.md "Maps") on small 4326 grids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio

from permamap.grid import Grid


def write_map(
    path: Path,
    grid: Grid,
    cls: np.ndarray,
    prob: np.ndarray | None = None,
    *,
    epoch: int = 2000,
    aoa: np.ndarray | None = None,
) -> Path:
    """Write a permamap map: band 1 class, band 2 probability (%), optional band 3 aoa."""
    cls = np.asarray(cls, dtype=np.uint8)
    if prob is None:
        prob = np.where(cls == 255, 255, cls * 100).astype(np.uint8)
    bands = [cls, np.asarray(prob, dtype=np.uint8)]
    names = ["class", "probability"]
    if aoa is not None:
        bands.append(np.asarray(aoa, dtype=np.uint8))
        names.append("aoa")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=len(bands),
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
        nodata=255,
    ) as dst:
        dst.write(np.stack(bands))
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(epoch=str(epoch), model="synthetic", permamap_version="test")
    return path


@pytest.fixture
def small_grid() -> Grid:
    """10 × 12 cells of 1° over 60–70 °N, 100–112 °E."""
    return Grid.from_bounds((100, 60, 112, 70), res=1.0)


@pytest.fixture
def map_writer(tmp_path: Path) -> Callable[..., Path]:
    def _write(name: str, grid: Grid, cls: np.ndarray, prob: np.ndarray | None = None, **kw):
        return write_map(tmp_path / name, grid, cls, prob, **kw)

    return _write
