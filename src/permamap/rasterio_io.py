"""Raster I/O at the edges: atomic outputs, tiled GeoTIFF writers and Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.shutil import copy as rio_copy

from .errors import GridMismatchError, InputFileError
from .grid import Grid

__all__ = ["atomic_path", "check_on_grid", "open_tiled", "scratch_path", "to_cog"]


@contextlib.contextmanager
def scratch_path(beside: Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``beside``, removed when the block ends."""
    beside = Path(beside)
    beside.parent.mkdir(parents=True, exist_ok=True)
    tmp = beside.with_name(f".{beside.stem}.{uuid.uuid4().hex[:8]}.tmp{beside.suffix}")
    try:
        yield tmp
    finally:
        for leftover in (tmp, Path(str(tmp) + ".aux.xml")):
            if leftover.exists():
                leftover.unlink()


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds.

    Nothing half-written ever appears at ``final``; on error the temporary file is removed.
    """
    with scratch_path(final) as tmp:
        yield tmp
        os.replace(tmp, final)


def open_tiled(
    path: Path,
    grid: Grid,
    count: int,
    dtype: str,
    nodata: float | None,
    descriptions: Sequence[str],
    block: int = 256,
    tags: dict[str, Any] | None = None,
) -> rasterio.io.DatasetWriter:
    """Open a tiled, compressed GeoTIFF on ``grid`` for windowed writing."""
    predictor = 3 if np.dtype(dtype).kind == "f" else 2
    ds = rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=grid.height,
        width=grid.width,
        count=count,
        dtype=dtype,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
        tiled=True,
        blockxsize=block,
        blockysize=block,
        compress="deflate",
        predictor=predictor,
        BIGTIFF="IF_SAFER",
        # bands are data, never colours: without this GDAL reads 3 or 4 byte bands as RGB(A)
        photometric="MINISBLACK",
        ALPHA="NO",
    )
    ds.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (count - 1)
    for i, d in enumerate(descriptions, start=1):
        ds.set_band_description(i, d)
    if tags:
        ds.update_tags(**{k: str(v) for k, v in tags.items()})
    return ds


def to_cog(src: Path, dst: Path, resampling: str = "nearest") -> Path:
    """Copy a GeoTIFF to a Cloud-Optimized GeoTIFF (deflate, 512-px blocks, overviews), atomically."""
    with atomic_path(Path(dst)) as tmp:
        rio_copy(
            str(src),
            str(tmp),
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE=512,
            OVERVIEW_RESAMPLING=resampling.upper(),
            BIGTIFF="IF_SAFER",
            NUM_THREADS="ALL_CPUS",
        )
    return Path(dst)


def check_on_grid(path: Path, grid: Grid) -> None:
    """Raise unless the raster at ``path`` lies on ``grid``."""
    if not Path(path).is_file():
        raise InputFileError(f"{path} does not exist; run the stage that writes it first")
    with rasterio.open(path) as ds:
        if not grid.matches(ds.crs, ds.transform, (ds.height, ds.width)):
            raise GridMismatchError(
                f"{path} is on grid {ds.crs} {ds.bounds} {ds.height}×{ds.width}, not on the run's grid "
                f"{grid.crs} {grid.bounds} {grid.height}×{grid.width}; rebuild it for this grid"
            )
