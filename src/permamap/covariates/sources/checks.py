"""Header-level checks shared by the covariate readers: open, inspect, cover, not truncated.

Every reader's ``check(grid, epochs, window_years)`` (run before any tile is computed) opens each
file it will read at header level only, through the helpers here:

- :func:`open_header` opens a raster and turns GDAL's errors into one
  :class:`~permamap.errors.InputFileError` line naming the file, the rule and the fix;
- :func:`check_layer` validates one :class:`~permamap.covariates.align.SourceLayer` against a grid
  (bands, CRS, geotransform, coverage, a GeoTIFF cut short);
- :func:`covered_fraction` measures how much of a grid the union of several footprints (MODIS
  tiles) covers;
- :func:`reading` wraps a full read so that a file that breaks only then (a corrupt block) still
  ends in one line, not a traceback.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import transform

from permamap.covariates.align import (
    OpenedLayer,
    SourceLayer,
    check_coverage,
    inspect_layer,
)
from permamap.covariates.timewindow import check_years
from permamap.errors import GridMismatchError, InputFileError, PermamapError
from permamap.grid import Grid

__all__ = [
    "MOSAIC_CACHE_BYTES",
    "LayerHeader",
    "check_layer",
    "check_not_truncated",
    "check_same_grid",
    "coverage_note",
    "covered_fraction",
    "epoch_years",
    "file_of",
    "mosaic_cache",
    "open_header",
    "reading",
    "require_coverage",
    "year_span",
]

_REFETCH = "delete it and download it again, or fix the path"


def file_of(path: str) -> Path | None:
    """The local file behind a GDAL name (``netcdf:f.nc:var``, ``/vsizip/a.zip/m.tif``), or None.

    >>> str(file_of("netcdf:/data/air.nc:air"))
    '/data/air.nc'
    >>> str(file_of("/vsizip//data/wc.zip/wc2.1_2.5m_tmin_2000-01.tif"))
    '/data/wc.zip'
    >>> file_of("/vsicurl/https://example.org/x.tif") is None
    True
    """
    text = str(path)
    if text.lower().startswith("netcdf:"):
        inner = text[len("netcdf:") :]
        if inner.startswith('"'):
            return Path(inner[1:].split('"', 1)[0])
        return Path(inner.rsplit(":", 1)[0]) if ":" in inner else Path(inner)
    if text.startswith("/vsizip/"):
        inner = text[len("/vsizip/") :]
        cut = inner.lower().find(".zip")
        return Path(inner[: cut + 4]) if cut >= 0 else None
    if text.startswith("/vsi"):
        return None
    return Path(text)


@contextmanager
def open_header(path: str, label: str | None = None) -> Iterator[rasterio.io.DatasetReader]:
    """Open a raster at header level; every failure is one :class:`InputFileError` line.

    The message tells a missing file, an empty file and a file GDAL cannot read (truncated,
    corrupt, not a raster, or a NetCDF without the variable) apart.
    """
    what = label or str(path)
    local = file_of(path)
    if local is not None and not local.exists():
        raise InputFileError(f"{what}: {local} does not exist; fix the path or download the file")
    if local is not None and local.is_file() and local.stat().st_size == 0:
        raise InputFileError(f"{what}: {local} is empty (0 bytes); {_REFETCH}")
    try:
        ds = rasterio.open(path)
    except RasterioError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        var = ""
        if str(path).lower().startswith("netcdf:"):
            var = f" or has no variable `{str(path).rsplit(':', 1)[-1]}`"
        raise InputFileError(
            f"{what} cannot be opened as a raster (GDAL: {detail}): the file is truncated, "
            f"corrupt or not a GeoTIFF/NetCDF{var}; {_REFETCH}"
        ) from None
    try:
        yield ds
    finally:
        ds.close()


def check_not_truncated(ds: rasterio.io.DatasetReader, path: str, label: str) -> None:
    """A GeoTIFF whose last block ends past the end of the file was cut short in a download."""
    local = file_of(path)
    if ds.driver != "GTiff" or local is None or str(path).startswith("/vsi") or not local.is_file():
        return
    size = local.stat().st_size
    bh, bw = ds.block_shapes[0]
    r, c = math.ceil(ds.height / bh) - 1, math.ceil(ds.width / bw) - 1
    for b in sorted({1, ds.count}):
        off = ds.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=b)
        n = ds.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=b)
        if off and n and int(off) + int(n) > size:
            raise InputFileError(
                f"{label} is truncated: its last block ends at byte {int(off) + int(n)} but the "
                f"file has {size} bytes (an interrupted download?); {_REFETCH}"
            )


@dataclass(frozen=True)
class LayerHeader:
    """What :func:`check_layer` read from a header: the opened layer, its shape and coverage."""

    info: OpenedLayer
    width: int
    height: int
    transform: Affine
    dtype: str
    fraction: float

    @property
    def same_grid_key(self) -> tuple[object, ...]:
        """Shape, transform and CRS: files of one source must agree on these."""
        return (self.width, self.height, tuple(self.transform)[:6], self.info.crs.to_wkt())


def check_layer(
    layer: SourceLayer,
    grid: Grid,
    bands: Sequence[int] | None = None,
    coverage: bool = True,
) -> LayerHeader:
    """Open ``layer`` at header level and check it against ``grid``.

    Checks that the file opens, has the bands, a CRS and a north-up geotransform, is not a
    GeoTIFF cut short, and (``coverage=True``) covers the grid: fully, or for a layer with
    ``coverage="partial"`` in part (the fraction is returned for the plan).

    Raises
    ------
    InputFileError
        The file is missing, unreadable, truncated, lacks a band or a CRS.
    GridMismatchError
        The source does not cover the grid (or, when partial, does not touch it).
    """
    b = list(bands) if bands is not None else [layer.band]
    with open_header(layer.path, layer.label) as ds:
        check_not_truncated(ds, layer.path, layer.label)  # before a cut header is misread
        info = inspect_layer(ds, layer, b)
        shape = (ds.width, ds.height, ds.transform, ds.dtypes[b[0] - 1])
    fraction = 1.0
    if coverage:
        fraction = float(
            check_coverage(
                info.bounds,
                info.crs,
                info.res,
                grid,
                grid.full_window,
                layer.label,
                coverage=layer.coverage,
            )
        )
        # "full" was judged by check_coverage (with its one-pixel tolerance); a source that
        # misses the grid entirely is an error even when partial coverage is allowed
        require_coverage(fraction, "partial", layer.label, grid, "fix the grid or the file")
    return LayerHeader(info, shape[0], shape[1], shape[2], shape[3], fraction)


def check_same_grid(
    layer: SourceLayer, first: LayerHeader, first_label: str, bands: Sequence[int] | None = None
) -> None:
    """Header-check one more file of a multi-file source: readable, and on ``first``'s grid.

    Raises
    ------
    InputFileError
        The file is unreadable or truncated, or its shape, transform or CRS differ from the
        first file's (the files of one source are averaged pixel by pixel).
    """
    b = list(bands) if bands is not None else [layer.band]
    with open_header(layer.path, layer.label) as ds:
        check_not_truncated(ds, layer.path, layer.label)  # before a cut header is misread
        info = inspect_layer(ds, layer, b)
        same = (
            ds.width == first.width
            and ds.height == first.height
            and ds.transform.almost_equals(first.transform)
            and (info.crs is first.info.crs or info.crs == first.info.crs)
        )
        shape = (ds.width, ds.height, ds.transform)
    if not same:
        raise InputFileError(
            f"{layer.label} is {shape[0]} × {shape[1]} pixels at origin "
            f"({shape[2].c:.6g}, {shape[2].f:.6g}) and resolution {shape[2].a:.6g}, but "
            f"{first_label} is {first.width} × {first.height} at ({first.transform.c:.6g}, "
            f"{first.transform.f:.6g}) and {first.transform.a:.6g}; all files of one source must "
            "share a grid: use one resolution and product version"
        )


def coverage_note(fraction: float) -> str:
    """``", partial coverage, 63 % of the grid"`` or an empty string for full coverage."""
    if fraction >= 0.9995:
        return ""
    return f", partial coverage, {fraction * 100:.0f} % of the grid"


def covered_fraction(
    footprints: Iterable[tuple[tuple[float, float, float, float], CRS]],
    grid: Grid,
    max_side: int = 64,
) -> float:
    """Fraction of grid cells (sampled on at most ``max_side²`` centres) inside any footprint.

    Parameters
    ----------
    footprints : iterable of ((west, south, east, north), CRS)
        Bounds of each file in its own CRS (e.g. MODIS sinusoidal tiles).
    grid : Grid
        The grid to cover.
    max_side : int
        Cell centres sampled per axis at most.
    """
    rows = np.unique(np.linspace(0, grid.height - 1, min(grid.height, max_side)).round())
    cols = np.unique(np.linspace(0, grid.width - 1, min(grid.width, max_side)).round())
    t = grid.transform
    xs = t.c + (cols + 0.5) * t.a
    ys = t.f + (rows + 0.5) * t.e
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    inside = np.zeros(gx.size, bool)
    dst_crs = CRS.from_user_input(grid.crs)
    by_crs: dict[str, tuple[CRS, list[tuple[float, float, float, float]]]] = {}
    for bounds, crs in footprints:
        by_crs.setdefault(crs.to_wkt(), (crs, []))[1].append(bounds)
    for crs, boxes in by_crs.values():
        with np.errstate(all="ignore"):
            sx, sy = (np.asarray(v) for v in transform(dst_crs, crs, gx.tolist(), gy.tolist()))
        ok = np.isfinite(sx) & np.isfinite(sy)
        for w, s, e, n in set(boxes):
            inside |= ok & (sx >= w) & (sx <= e) & (sy >= s) & (sy <= n)
    return float(inside.mean()) if inside.size else 0.0


def require_coverage(fraction: float, coverage: str, label: str, grid: Grid, fix: str) -> None:
    """Raise :class:`GridMismatchError` if ``fraction`` breaks the ``coverage`` rule."""
    if fraction <= 0.0:
        raise GridMismatchError(
            f"{label} does not overlap the grid {tuple(round(v, 4) for v in grid.bounds)} "
            f"({grid.crs}) at all; {fix}"
        )
    if coverage == "full" and fraction < 0.9995:
        raise GridMismatchError(
            f"{label} covers {fraction * 100:.0f} % of the grid "
            f"{tuple(round(v, 4) for v in grid.bounds)}, but coverage = 'full'; {fix}, or set "
            "coverage = 'partial' to accept missing cells (they become no-data)"
        )


MOSAIC_CACHE_BYTES = 128 * 2**20
"""GDAL's block cache while a tile is read from a mosaic of many files (a DEM or SoilGrids VRT).
GDAL's default, 5 % of the RAM, fills with the blocks of the mosaic's sources, which GDAL keeps
open between tiles; a tile needs a few tens of MB and reads few blocks twice. On the 20° × 20°
Copernicus GLO-90 block, the default let the read's peak reach 662 MB."""


@contextmanager
def mosaic_cache() -> Iterator[None]:
    """Bound GDAL's block cache to :data:`MOSAIC_CACHE_BYTES` inside the block (restored after)."""
    with rasterio.Env(GDAL_CACHEMAX=MOSAIC_CACHE_BYTES):
        yield


@contextmanager
def reading(label: str) -> Iterator[None]:
    """Turn a low-level read failure (GDAL, zip, HDF4, OS) into one :class:`InputFileError` line."""
    from pyhdf.error import HDF4Error

    try:
        yield
    except PermamapError:
        raise
    except (RasterioError, zipfile.BadZipFile, HDF4Error, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(
            f"{label} could not be read ({type(exc).__name__}: {detail}); the file may be "
            f"truncated or corrupt: {_REFETCH}"
        ) from None


def year_span(years: Iterable[int]) -> str:
    """Compact text for a set of years.

    >>> year_span([1996, 1997, 1998, 2016, 2017])
    '1996-1998, 2016-2017'
    >>> year_span([2000])
    '2000'
    """
    ys = sorted(set(years))
    if not ys:
        return "none"
    runs: list[list[int]] = [[ys[0], ys[0]]]
    for y in ys[1:]:
        if y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def epoch_years(
    epochs: Iterable[int],
    window_years: int,
    available: Collection[int] | None,
    source: str,
    fix: str | None = None,
) -> list[int]:
    """Union of the window years of every epoch, after :func:`check_years` on each (sorted).

    Empty for a climatology (``available is None``).

    >>> epoch_years([2000, 2010], 3, range(1990, 2020), "tmin")
    [1999, 2000, 2001, 2009, 2010, 2011]
    """
    out: set[int] = set()
    for epoch in epochs:
        out.update(check_years(int(epoch), window_years, available, source, fix))
    return sorted(out)
