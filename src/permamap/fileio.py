"""File I/O at the edges, written once: atomic writes, tables, JSON, tiled GeoTIFFs, COGs, warping.

Every file permamap writes goes through this module, so that one rule holds everywhere: nothing
half-written ever appears at a final path (write to a hidden temporary file beside it, then
:func:`os.replace`), and an interrupted run leaves earlier outputs intact.

- :func:`atomic_path` / :func:`scratch_path`: the temporary-then-rename mechanism itself;
- :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`write_json`, :func:`write_csv`,
  :func:`write_parquet`, :func:`write_files_together`: text, tables and several files at once;
- :func:`open_tiled`, :func:`to_cog`, :func:`write_blocks_cog`: GeoTIFFs on a :class:`Grid`;
- :func:`warp_window`: one grid window of any raster band (reprojected and resampled by GDAL);
- :func:`check_on_grid`: a raster lies on the run's grid.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from .errors import GridMismatchError, InputFileError
from .grid import Grid

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_on_grid",
    "open_tiled",
    "scratch_path",
    "to_cog",
    "warp_window",
    "write_blocks_cog",
    "write_csv",
    "write_files_together",
    "write_json",
    "write_parquet",
]


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


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file beside it, then rename)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, with ``\\n`` line ends on every platform."""
    return atomic_write_bytes(path, text.encode(encoding))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(path: Path, obj: Any, *, allow_nan: bool = True, newline: bool = False) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars and paths are converted)."""
    text = json.dumps(obj, indent=2, default=_json_default, allow_nan=allow_nan)
    return atomic_write_text(path, text + ("\n" if newline else ""))


def write_csv(table: pd.DataFrame, path: Path, **to_csv: Any) -> Path:
    """Write a table as CSV atomically (no index column unless ``index=True`` is passed)."""
    to_csv.setdefault("index", False)
    with atomic_path(Path(path)) as tmp:
        table.to_csv(tmp, **to_csv)
    return Path(path)


def write_parquet(table: pd.DataFrame, path: Path, **to_parquet: Any) -> Path:
    """Write a (Geo)DataFrame as (Geo)Parquet atomically (no index unless ``index=True``)."""
    to_parquet.setdefault("index", False)
    with atomic_path(Path(path)) as tmp:
        table.to_parquet(tmp, **to_parquet)
    return Path(path)


def write_files_together(writers: Mapping[Path, Callable[[Path], None]]) -> list[Path]:
    """Write several files so that either all appear or none changes.

    Each writer is called with a temporary path beside its final path; the renames happen only
    after every writer succeeded (e.g. ``sites.parquet`` with its ``qc_report.csv``).
    """
    with contextlib.ExitStack() as stack:
        tmps = {Path(f): stack.enter_context(scratch_path(Path(f))) for f in writers}
        for final, write in writers.items():
            write(tmps[Path(final)])
        for final, tmp in tmps.items():
            os.replace(tmp, final)
    return list(tmps)


def dataset_tag(path: Path, name: str) -> str | None:
    """A raster's dataset tag ``name``; None when it has none or is missing or unreadable."""
    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(name)
    except rasterio.errors.RasterioIOError:
        return None


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
        # one plane per band: reading a few factors of a stack reads only their blocks, and the
        # predictor works along one factor (a 20-factor stack: 31 % smaller, 1.4× faster to write)
        interleave="band",
        ZLEVEL=3,  # 1.7× faster than GDAL's default 6 for 4 % more bytes
        NUM_THREADS="ALL_CPUS",  # blocks compressed in parallel; the file's bytes are the same
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


def write_blocks_cog(
    path: Path,
    grid: Grid,
    blocks: Iterator[tuple[Window, np.ndarray]],
    *,
    count: int,
    descriptions: Sequence[str],
    tags: Mapping[str, str],
    nodata: int = 255,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
    overview_resampling: str = "mode",
) -> Path:
    """Stream ``(window, (band, rows, cols) uint8 block)`` pairs into a uint8 COG, atomically.

    The blocks go to a tiled GeoTIFF beside ``path`` first (memory is one block), then GDAL's COG
    driver copies it with overviews; a colour table, when given, is written on band 1.
    """
    path = Path(path)
    with scratch_path(path) as stage:
        profile = {
            "driver": "GTiff",
            "dtype": "uint8",
            "count": count,
            "height": grid.height,
            "width": grid.width,
            "crs": grid.crs,
            "transform": grid.transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        with rasterio.open(stage, "w", **profile) as dst:
            for i, desc in enumerate(descriptions, start=1):
                dst.set_band_description(i, desc)
            dst.update_tags(**tags)
            if colormap is not None:
                dst.write_colormap(1, dict(colormap))
            for window, block in blocks:
                dst.write(block, window=window)
        with atomic_path(path) as tmp:
            rio_copy(
                stage,
                tmp,
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE=512,
                OVERVIEW_RESAMPLING=overview_resampling.upper(),
                BIGTIFF="IF_SAFER",
            )
    return path


def warp_window(
    src: Any,
    band: int,
    grid: Grid,
    window: Window,
    src_nodata: float | None,
    resampling: Resampling,
    on_grid: bool = False,
) -> np.ndarray:
    """One grid window of a source band as float32, NaN where there is no data.

    ``rasterio.warp.reproject`` from the open dataset lets GDAL read only the source blocks the
    window needs. (A ``WarpedVRT`` with a float32 working type ignored the source nodata with
    GDAL 3.10, so it is not used here.) ``on_grid=True`` reads the window directly.
    """
    from rasterio.warp import reproject

    if on_grid:
        arr = src.read(band, window=window).astype(np.float32)
        if src_nodata is not None:
            arr[arr == src_nodata] = np.nan
        return arr
    out = np.full((int(window.height), int(window.width)), np.nan, dtype=np.float32)
    reproject(
        rasterio.band(src, band),
        out,
        src_nodata=src_nodata,
        dst_transform=grid.window_transform(window),
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return out
