"""Alignment: read any raster source into a window of the :class:`~permamap.grid.Grid`.

One function, :func:`read_aligned`, turns a file (GeoTIFF, COG, VRT, NetCDF variable, a member of a
zip through ``/vsizip/``) into a float32 ``(row, col)`` array on a grid window. It is windowed and
lazy: GDAL's warper reads only the source blocks that the window needs, so the continent is never
held in memory. :func:`warp_to_grid` does the same for an in-memory array (coarse NetCDF files that
a reader has already normalised).

Resampling follows the kind of variable and the direction of the change of resolution:

===============  ======================  =====================
kind             source finer than grid  source coarser / equal
===============  ======================  =====================
``continuous``   average (block means)   bilinear
``categorical``  mode                    nearest
===============  ======================  =====================

Nodata is propagated: source nodata becomes NaN, and a cell whose source pixels are all nodata is
NaN (GDAL's average and bilinear skip nodata pixels and use the valid ones). Geographic sources on a
0–360° or 20–380° longitude axis are wrapped onto the grid by warping with the grid shifted by
±360°.

Coverage: a source must cover the part of the window that lies on the grid (``coverage = "full"``,
the default), else a :class:`~permamap.errors.GridMismatchError` names the edge that falls short,
by how much, and the fix. The resampling halo is not required: rows and columns of a window beyond
the grid (a reader's one-cell halo for slopes) and GDAL's read padding are clipped at the source's
edge, so a DEM that covers exactly the grid passes, and the grid's edge cells take the source
pixels that do exist. With ``coverage = "partial"`` nothing is required: cells outside the source
are NaN (nodata). The check (:func:`check_coverage`) and :func:`coverage_fraction` (what share of
the grid's cells a source covers, from the header alone) live in
:mod:`permamap.covariates.coverage` and are re-exported here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioIOError
from rasterio.warp import Resampling, reproject, transform
from rasterio.windows import Window

from permamap.contracts import M_PER_DEGREE
from permamap.covariates.coverage import (
    _COVERAGES,
    Coverage,
    _lon_shifts,
    _window_bounds,
    check_coverage,
    coverage_fraction,
)
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid

__all__ = [
    "Kind",
    "OpenedLayer",
    "SourceLayer",
    "SourcePart",
    "check_coverage",
    "choose_resampling",
    "coverage_fraction",
    "inspect_layer",
    "layer_crs",
    "open_source",
    "pixel_size_m",
    "read_aligned",
    "read_parts",
    "resampling_for",
    "warp_parts",
    "warp_to_grid",
]

log = logging.getLogger(__name__)

Kind = Literal["continuous", "categorical"]
_WARP_MEM_MB = 64


@dataclass(frozen=True)
class SourceLayer:
    """One band of one raster file, with what the file itself may not say.

    Parameters
    ----------
    path : str
        Anything GDAL opens: a path, ``/vsizip/archive.zip/member.tif``,
        ``netcdf:file.nc:variable``, a ``.vrt``.
    band : int
        1-based band number.
    kind : {"continuous", "categorical"}
        Chooses the resampling (see the module docstring).
    scale, offset : float, optional
        ``value = stored · scale + offset``; by default the file's own (GDAL scale/offset
        metadata, e.g. NetCDF ``scale_factor``/``add_offset``), else 1 and 0.
    nodata : float, optional
        Nodata value of the stored numbers; overrides the file's own when given.
    crs : str, optional
        CRS to assume when the file has none (e.g. ``"EPSG:4326"``); an error when the file
        declares a different one.
    name : str
        What the layer is, for messages (``"clay 0-5cm"``).
    options : dict
        Reader-specific options.
    coverage : {"full", "partial"}
        ``"full"`` (default): the source must cover every grid cell it is read for, else a
        :class:`~permamap.errors.GridMismatchError` names the short edge. ``"partial"``: cells
        outside the source are NaN (nodata) and nothing is raised, for a source that covers only
        part of the grid on purpose.
    """

    path: str
    band: int = 1
    kind: Kind = "continuous"
    scale: float | None = None
    offset: float | None = None
    nodata: float | None = None
    crs: str | None = None
    name: str = ""
    options: dict[str, str] = field(default_factory=dict)
    coverage: Coverage = "full"

    def __post_init__(self) -> None:
        if self.coverage not in _COVERAGES:
            raise ConfigError(
                f"layer {self.label}: coverage {self.coverage!r} is not one of 'full', 'partial'; "
                "use 'partial' to map cells outside the source as nodata, 'full' to require it to "
                "cover the grid"
            )
        if self.kind not in ("continuous", "categorical"):
            raise ConfigError(
                f"layer {self.label}: kind {self.kind!r} is not one of 'continuous', 'categorical'; "
                "use 'categorical' for classes and 'continuous' for everything else"
            )
        if self.band < 1:
            raise ConfigError(
                f"layer {self.label}: band {self.band} must be 1 or more (bands are 1-based)"
            )

    @property
    def label(self) -> str:
        return f"{self.name} ({self.path})" if self.name else str(self.path)


def pixel_size_m(crs: CRS, res: float, lat: float = 0.0) -> float:
    """Approximate north-south pixel size in metres, for comparing resolutions across CRSs.

    >>> round(pixel_size_m(CRS.from_epsg(4326), 1 / 120))
    928
    """
    if crs.is_geographic:
        return abs(res) * M_PER_DEGREE
    return abs(res) * float(crs.linear_units_factor[1])


def choose_resampling(kind: Kind, src_size_m: float, dst_size_m: float) -> Resampling:
    """Resampling for a variable kind and a change of pixel size (see the module table).

    >>> choose_resampling("continuous", 250.0, 1000.0).name
    'average'
    >>> choose_resampling("continuous", 4600.0, 1000.0).name
    'bilinear'
    >>> choose_resampling("categorical", 250.0, 1000.0).name
    'mode'
    """
    coarsening = src_size_m < dst_size_m * 0.999
    if kind == "categorical":
        return Resampling.mode if coarsening else Resampling.nearest
    return Resampling.average if coarsening else Resampling.bilinear


def _geo_subset(
    height: int,
    width: int,
    src_transform: Affine,
    dst: tuple[float, ...],
    shift: float,
    pad: int = 2,
) -> Window | None:
    """Source window (north-up geographic source) under ``dst`` shifted by ``shift`` degrees."""
    inv = ~src_transform
    c0, r0 = inv @ (dst[0] - shift, dst[3])
    c1, r1 = inv @ (dst[2] - shift, dst[1])
    c0, c1 = max(math.floor(min(c0, c1)) - pad, 0), min(math.ceil(max(c0, c1)) + pad, width)
    r0, r1 = max(math.floor(min(r0, r1)) - pad, 0), min(math.ceil(max(r0, r1)) + pad, height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def warp_to_grid(
    source: np.ndarray | rasterio.Band,
    src_transform: Affine,
    src_crs: CRS,
    src_nodata: float | None,
    grid: Grid,
    window: Window,
    resampling: Resampling,
) -> np.ndarray:
    """Warp a 2-D array (or an open dataset band) into a grid window; NaN where nothing lands.

    A geographic source is read one longitude shift (0, ±360°) at a time and only in the part
    under the window, so a source on a 0–360° or 20–380° axis lands on a −180–180° grid. Handing
    GDAL the part (rather than the whole globe) also stops its own antimeridian handling from
    seeing a 360°-wide source window, which would widen the bilinear kernel to the whole globe.
    """
    rows, cols = int(window.height), int(window.width)
    dst_transform = grid.window_transform(window)
    dst_crs = CRS.from_user_input(grid.crs)
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    if isinstance(source, np.ndarray):
        height, width = source.shape[-2:]
    else:
        height, width = source.ds.height, source.ds.width
    if src_crs.is_geographic and dst_crs.is_geographic and src_transform.b == src_transform.d == 0:
        dst = _window_bounds(grid, window)
        sb = rasterio.transform.array_bounds(height, width, src_transform)
        parts: list[tuple[float, Window | None]] = []
        # Only a source spanning the globe triggers GDAL's wrap; smaller ones (a DEM mosaic) go to
        # GDAL whole, so that its warper reads them in chunks within the memory limit.
        is_global = sb[2] - sb[0] >= 359.0
        for shift in _lon_shifts((sb[0], sb[1], sb[2], sb[3]), dst):
            sub = _geo_subset(height, width, src_transform, dst, shift) if is_global else None
            if sub is not None or not is_global:
                parts.append((shift, sub))
    else:
        parts = [(0.0, None)]
    for shift, sub in parts:
        if sub is None:
            src_data, src_t = source, src_transform
        elif isinstance(source, np.ndarray):
            src_data = source[
                sub.row_off : sub.row_off + sub.height, sub.col_off : sub.col_off + sub.width
            ]
            src_t = rasterio.windows.transform(sub, src_transform)
        else:
            src_data = source.ds.read(source.bidx, window=sub)
            src_t = rasterio.windows.transform(sub, src_transform)
        part = np.full((rows, cols), np.nan, dtype=np.float32)
        is_band = isinstance(src_data, rasterio.Band)
        reproject(
            source=src_data,
            destination=part,
            src_transform=None if is_band else src_t,
            src_crs=None if is_band else src_crs,
            src_nodata=src_nodata,
            dst_transform=Affine.translation(-shift, 0) @ dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=resampling,
            warp_mem_limit=_WARP_MEM_MB,
            init_dest_nodata=True,
        )
        np.copyto(out, part, where=np.isnan(out))
    return out


def open_source(path: str, label: str | None = None) -> rasterio.io.DatasetReader:
    """Open a raster, turning GDAL's errors into one that names the file and the fix."""
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputFileError(
            f"{label or path} cannot be read as a raster ({exc}); check the path, or delete the "
            "file and download it again if it is truncated or corrupt"
        ) from exc


def layer_crs(ds: rasterio.io.DatasetReader, layer: SourceLayer) -> CRS:
    """The layer's CRS: the file's own, or the declared one when the file has none."""
    declared = None
    if layer.crs is not None:
        try:
            declared = CRS.from_user_input(layer.crs)
        except CRSError as exc:
            raise ConfigError(
                f"{layer.label}: crs {layer.crs!r} is not a CRS GDAL knows ({exc}); give an EPSG code "
                "such as 'EPSG:4326' or a PROJ/WKT string"
            ) from exc
    if ds.crs is None or not ds.crs.to_wkt():
        if declared is None:
            raise InputFileError(
                f"{layer.label} has no CRS (unknown georeferencing); declare it in the source config, "
                "e.g. crs = 'EPSG:4326'"
            )
        return declared
    if declared is not None and declared != ds.crs:
        raise ConfigError(
            f"{layer.label}: the config says crs {layer.crs!r} but the file declares "
            f"{ds.crs.to_string()}; remove crs from the config or fix the file"
        )
    return ds.crs


@dataclass
class SourcePart:
    """A piece of a source read around a grid window: ``(band, row, col)`` float32 with NaN.

    For geographic sources ``transform`` is already shifted by the 360° multiple that puts the
    piece in the grid's longitude range.
    """

    data: np.ndarray
    transform: Affine
    crs: CRS


@dataclass(frozen=True)
class OpenedLayer:
    """What :func:`inspect_layer` learnt about a layer: CRS, nodata, scale, offset, pixel size."""

    crs: CRS
    nodata: float | None
    scale: float
    offset: float
    res: float
    bounds: tuple[float, float, float, float]
    count: int


def inspect_layer(
    ds: rasterio.io.DatasetReader, layer: SourceLayer, bands: Sequence[int]
) -> OpenedLayer:
    """Validate a layer against its open dataset (bands, CRS, geotransform)."""
    bad = [b for b in bands if b < 1 or b > ds.count]
    if bad:
        raise InputFileError(
            f"{layer.label} has {ds.count} band(s) but band(s) {bad} were asked for; "
            "use band numbers from 1 to the band count"
        )
    crs = layer_crs(ds, layer)
    if ds.transform == Affine.identity():
        raise InputFileError(
            f"{layer.label} has no geotransform (pixel coordinates only); georeference the file "
            "(e.g. gdal_translate -a_ullr) or use a source with coordinates"
        )
    if ds.transform.b != 0 or ds.transform.d != 0:
        raise InputFileError(
            f"{layer.label} is rotated (geotransform {tuple(ds.transform)[:6]}); warp it to a "
            "north-up raster first (gdalwarp)"
        )
    b0 = bands[0] - 1
    nodata = layer.nodata if layer.nodata is not None else ds.nodatavals[b0]
    scale = layer.scale if layer.scale is not None else float(ds.scales[b0] or 1.0)
    offset = layer.offset if layer.offset is not None else float(ds.offsets[b0] or 0.0)
    return OpenedLayer(
        crs,
        nodata,
        scale,
        offset,
        abs(ds.transform.e),
        tuple(ds.bounds),
        ds.count,
    )


def _source_windows(
    ds: rasterio.io.DatasetReader, crs: CRS, grid: Grid, window: Window, pad: int
) -> list[tuple[float, Window]]:
    """Source windows (with their longitude shift) under a grid window."""
    dst = _window_bounds(grid, window)
    dst_crs = CRS.from_user_input(grid.crs)
    if crs.is_geographic and dst_crs.is_geographic:
        out = []
        for shift in _lon_shifts(tuple(ds.bounds), dst):
            sub = _geo_subset(ds.height, ds.width, ds.transform, dst, shift, pad)
            if sub is not None:
                out.append((shift, sub))
        return out
    n = 21
    xs = np.concatenate(
        [
            np.linspace(dst[0], dst[2], n),
            np.full(n, dst[2]),
            np.linspace(dst[2], dst[0], n),
            np.full(n, dst[0]),
        ]
    )
    ys = np.concatenate(
        [
            np.full(n, dst[1]),
            np.linspace(dst[1], dst[3], n),
            np.full(n, dst[3]),
            np.linspace(dst[3], dst[1], n),
        ]
    )
    with np.errstate(all="ignore"):
        sx, sy = (np.asarray(v) for v in transform(dst_crs, crs, xs.tolist(), ys.tolist()))
    ok = np.isfinite(sx) & np.isfinite(sy)
    if not ok.any():
        return []
    inv = ~ds.transform
    cols, rows = inv @ (sx[ok], sy[ok])
    c0, c1 = max(math.floor(cols.min()) - pad, 0), min(math.ceil(cols.max()) + pad, ds.width)
    r0, r1 = max(math.floor(rows.min()) - pad, 0), min(math.ceil(rows.max()) + pad, ds.height)
    if c1 <= c0 or r1 <= r0:
        return []
    return [(0.0, Window(c0, r0, c1 - c0, r1 - r0))]


def read_parts(
    layer: SourceLayer,
    grid: Grid,
    window: Window | None = None,
    bands: Sequence[int] | None = None,
    check: bool = True,
    pad: int = 2,
) -> tuple[list[SourcePart], OpenedLayer]:
    """Read the pieces of a source under a grid window, in the source's own pixels.

    Readers that combine many files (nine years × twelve months) average these pieces first and
    warp once (:func:`warp_parts`); averaging and the linear resamplings commute.

    Returns
    -------
    parts : list of SourcePart
        One piece per 360° longitude shift that overlaps the window (usually one).
    info : OpenedLayer
        CRS, nodata, scale, offset and pixel size of the layer.
    """
    w = window or grid.full_window
    bands = list(bands) if bands is not None else [layer.band]
    with open_source(layer.path, layer.label) as ds:
        info = inspect_layer(ds, layer, bands)
        if check:
            check_coverage(
                info.bounds, info.crs, info.res, grid, w, layer.label, coverage=layer.coverage
            )
        parts = []
        for shift, sub in _source_windows(ds, info.crs, grid, w, pad):
            try:
                raw = ds.read(bands, window=sub, masked=False)
            except RasterioIOError as exc:
                raise InputFileError(
                    f"{layer.label} could not be read ({exc}); the file may be truncated or "
                    "corrupt: delete it and download it again"
                ) from exc
            data = raw.astype(np.float32)
            if info.nodata is not None:
                data[raw == info.nodata if not np.isnan(info.nodata) else np.isnan(raw)] = np.nan
            if info.scale != 1.0 or info.offset != 0.0:
                data = data * np.float32(info.scale) + np.float32(info.offset)
            t = Affine.translation(shift, 0) @ rasterio.windows.transform(sub, ds.transform)
            parts.append(SourcePart(data, t, info.crs))
    return parts, info


def warp_parts(
    parts: Sequence[SourcePart],
    grid: Grid,
    window: Window | None,
    resampling: Resampling,
    n_bands: int | None = None,
) -> np.ndarray:
    """Warp source pieces (NaN = nodata) into a grid window: ``(band, row, col)`` float32.

    No pieces (a partial source that misses the window) give all-NaN ``n_bands`` bands (1 if not
    given).
    """
    w = window or grid.full_window
    nb = parts[0].data.shape[0] if parts else (n_bands or 1)
    out = np.full((nb, int(w.height), int(w.width)), np.nan, dtype=np.float32)
    for part in parts:
        for b in range(part.data.shape[0]):
            warped = warp_to_grid(
                np.ascontiguousarray(part.data[b]),
                part.transform,
                part.crs,
                np.nan,
                grid,
                w,
                resampling,
            )
            np.copyto(out[b], warped, where=np.isnan(out[b]))
    return out


def resampling_for(layer: SourceLayer, info: OpenedLayer, grid: Grid) -> Resampling:
    """:func:`choose_resampling` for an opened layer on a grid."""
    return choose_resampling(
        layer.kind,
        pixel_size_m(info.crs, info.res),
        pixel_size_m(CRS.from_user_input(grid.crs), grid.res),
    )


def read_aligned(
    layer: SourceLayer,
    grid: Grid,
    window: Window | None = None,
    resampling: Resampling | None = None,
    check: bool = True,
    bands: Sequence[int] | None = None,
) -> np.ndarray:
    """Read a raster into a grid window, as float32 with NaN for nodata.

    Parameters
    ----------
    layer : SourceLayer
        The file, band, kind, scale/offset and nodata.
    grid : Grid
        Target grid.
    window : rasterio.windows.Window, optional
        Part of the grid to fill (the whole grid by default; prefer tiles).
    resampling : rasterio.enums.Resampling, optional
        Overrides the choice made from ``layer.kind`` and the pixel sizes.
    check : bool
        Check that the source covers the window's grid cells (default) and raise if not, unless
        ``layer.coverage`` is ``"partial"``; a halo beyond the grid need not be covered.
    bands : sequence of int, optional
        Read these bands and return ``(band, row, col)``; by default ``layer.band`` and
        ``(row, col)``.

    Returns
    -------
    numpy.ndarray
        ``stored · scale + offset``, NaN where the source has nodata or nothing lands.

    Raises
    ------
    InputFileError
        Unreadable or corrupt file, no CRS, band out of range.
    GridMismatchError
        The source does not cover the window's grid cells and ``layer.coverage`` is ``"full"``.

    Examples
    --------
    A 250 m-like source (1/480°) averaged onto a 1/120° grid gives the 4 × 4 block means:

    >>> import tempfile, os
    >>> from rasterio.transform import from_origin
    >>> path = os.path.join(tempfile.mkdtemp(), "fine.tif")
    >>> data = np.arange(64, dtype="float32").reshape(8, 8)
    >>> with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
    ...                    crs="EPSG:4326", transform=from_origin(10, 50, 1 / 480, 1 / 480)) as ds:
    ...     ds.write(data, 1)
    >>> g = Grid.from_bounds((10, 50 - 2 / 120, 10 + 2 / 120, 50), 1 / 120)
    >>> read_aligned(SourceLayer(path), g).tolist()
    [[13.5, 17.5], [45.5, 49.5]]
    """
    w = window or grid.full_window
    squeeze = bands is None
    bands = list(bands) if bands is not None else [layer.band]
    with open_source(layer.path, layer.label) as ds:
        info = inspect_layer(ds, layer, bands)
        big = _too_big(ds, info, grid, w)
    if resampling is None:
        resampling = resampling_for(layer, info, grid)
    if big and not (info.crs.is_geographic and info.bounds[2] - info.bounds[0] >= 359.0):
        # A fine source under a large window (a 30 m DEM under a 512-cell tile): let GDAL's
        # warper stream it in chunks instead of reading the piece into memory.
        out = _read_streamed(layer, info, grid, w, bands, resampling, check)
    else:
        parts, _ = read_parts(layer, grid, w, bands, check)
        out = warp_parts(parts, grid, w, resampling, n_bands=len(bands))
    log.debug("aligned %s to window %s with %s", layer.label, w, resampling.name)
    return out[0] if squeeze else out


_MAX_PIECE_PIXELS = 16_000_000  # ~64 MB of float32 per band


def _too_big(ds: rasterio.io.DatasetReader, info: OpenedLayer, grid: Grid, window: Window) -> bool:
    ratio = pixel_size_m(CRS.from_user_input(grid.crs), grid.res) / max(
        pixel_size_m(info.crs, info.res), 1e-9
    )
    return float(window.height * window.width) * ratio * ratio > _MAX_PIECE_PIXELS


def _read_streamed(
    layer: SourceLayer,
    info: OpenedLayer,
    grid: Grid,
    window: Window,
    bands: Sequence[int],
    resampling: Resampling,
    check: bool,
) -> np.ndarray:
    if info.crs is None:  # pragma: no cover - inspect_layer guarantees a CRS
        raise InputFileError(f"{layer.label} has no CRS")
    out = np.full((len(bands), int(window.height), int(window.width)), np.nan, dtype=np.float32)
    with open_source(layer.path, layer.label) as ds:
        if check:
            check_coverage(
                info.bounds, info.crs, info.res, grid, window, layer.label, coverage=layer.coverage
            )
        for i, b in enumerate(bands):
            try:
                out[i] = warp_to_grid(
                    rasterio.band(ds, b),
                    ds.transform,
                    info.crs,
                    info.nodata,
                    grid,
                    window,
                    resampling,
                )
            except RasterioIOError as exc:
                raise InputFileError(
                    f"{layer.label} could not be read ({exc}); the file may be truncated or corrupt: "
                    "delete it and download it again"
                ) from exc
    if info.scale != 1.0 or info.offset != 0.0:
        out = out * np.float32(info.scale) + np.float32(info.offset)
    return out
