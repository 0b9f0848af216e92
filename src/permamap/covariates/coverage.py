"""Coverage: does a raster source cover a window of the :class:`~permamap.grid.Grid`, and how much.

This module owns the coverage concept of alignment (the reading and warping live in
:mod:`permamap.covariates.align`, which re-exports the public names here):

- :func:`check_coverage` checks, from a source's extent and CRS alone, that it covers the part of a
  grid window that lies on the grid, and returns the covered share. With ``coverage = "full"`` (the
  default) a shortfall raises a :class:`~permamap.errors.GridMismatchError` naming each short edge,
  by how much, and the fix; with ``coverage = "partial"`` nothing is raised. The resampling halo is
  not required: rows and columns of a window beyond the grid (a reader's one-cell halo for slopes)
  are dropped, and the source may fall short of the window's edges by less than half a grid cell.
- :func:`coverage_fraction` tells, from the file's header alone, what share of the grid's cells a
  source covers (for the run plan).
- The window geometry shared with the warper: a grid window's bounds and the multiples of 360° by
  which a geographic source's longitudes (a 0–360° or 20–380° axis) overlap them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform
from rasterio.windows import Window

from permamap.contracts import M_PER_DEGREE
from permamap.errors import ConfigError, GridMismatchError
from permamap.grid import Grid

if TYPE_CHECKING:
    from permamap.covariates.align import SourceLayer

__all__ = ["Coverage", "check_coverage", "coverage_fraction"]

Coverage = Literal["full", "partial"]
_COVERAGES = ("full", "partial")


def _window_bounds(grid: Grid, window: Window) -> tuple[float, float, float, float]:
    t = grid.window_transform(window)
    west, north = t.c, t.f
    return (west, north - window.height * grid.res, west + window.width * grid.res, north)


def _lon_shifts(src_bounds: tuple[float, ...], dst_bounds: tuple[float, ...]) -> list[float]:
    """Multiples of 360° by which the source's longitudes overlap the destination's."""
    return [
        s
        for s in (0.0, -360.0, 360.0)
        if src_bounds[0] + s < dst_bounds[2] and src_bounds[2] + s > dst_bounds[0]
    ]


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    try:
        return crs.to_proj4() or crs.to_string()[:80]
    except CRSError:
        return crs.to_string()[:80]


def _clip_to_grid(grid: Grid, window: Window) -> Window | None:
    """The part of ``window`` on the grid (a halo beyond the grid's edge is dropped)."""
    c0, r0 = max(int(window.col_off), 0), max(int(window.row_off), 0)
    c1 = min(int(window.col_off + window.width), grid.width)
    r1 = min(int(window.row_off + window.height), grid.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _grid_res_in(crs: CRS, grid: Grid) -> float:
    """The grid's cell size in the units of ``crs`` (approximate across CRS kinds)."""
    # align imports this module, so its helpers are imported where used (no import cycle)
    from permamap.covariates.align import pixel_size_m

    dst_crs = CRS.from_user_input(grid.crs)
    if crs.is_geographic == dst_crs.is_geographic:
        if crs.is_geographic:
            return grid.res
        return grid.res * dst_crs.linear_units_factor[1] / crs.linear_units_factor[1]
    metres = pixel_size_m(dst_crs, grid.res)
    return metres / M_PER_DEGREE if crs.is_geographic else metres / crs.linear_units_factor[1]


def _units(crs: CRS) -> str:
    if crs.is_geographic:
        return "°"
    return f" {crs.linear_units or 'units'}".replace(" metre", " m")


def _fmt(v: float, unit: str) -> str:
    return f"{v:.6g}{unit}"


def _shortfalls(
    src_bounds: tuple[float, float, float, float],
    src_crs: CRS,
    dst: tuple[float, float, float, float],
    dst_crs: CRS,
    tol: float,
) -> list[str]:
    """Edges where the source falls short of ``dst`` by more than ``tol`` (in the source's CRS).

    Returns phrases such as ``"its east edge is 179.5° but the grid's is 180° (0.5° short)"``.
    """
    unit = _units(src_crs)
    out = []
    if src_crs.is_geographic and dst_crs.is_geographic:
        spans = sorted(
            (max(src_bounds[0] + s, dst[0]), min(src_bounds[2] + s, dst[2]))
            for s in _lon_shifts(src_bounds, dst)
        )
        if not spans:
            return [
                f"it lies at longitudes {_fmt(src_bounds[0], unit)} to {_fmt(src_bounds[2], unit)}, "
                f"outside the grid's {_fmt(dst[0], unit)} to {_fmt(dst[2], unit)}"
            ]
        west_gap = spans[0][0] - dst[0]
        east_gap = dst[2] - max(hi for _, hi in spans)
        if west_gap > tol:
            out.append(
                f"its west edge is {_fmt(spans[0][0], unit)} but the grid's is "
                f"{_fmt(dst[0], unit)} ({_fmt(west_gap, unit)} short)"
            )
        if east_gap > tol:
            east = max(hi for _, hi in spans)
            out.append(
                f"its east edge is {_fmt(east, unit)} but the grid's is {_fmt(dst[2], unit)} "
                f"({_fmt(east_gap, unit)} short)"
            )
        covered = sum(hi - lo for lo, hi in spans if hi > lo)
        if not out and covered < (dst[2] - dst[0]) - tol:
            out.append(
                f"it covers only {_fmt(covered, unit)} of the grid's {_fmt(dst[2] - dst[0], unit)} "
                "of longitude"
            )
        reach = dst
    else:
        n = 21
        xs = np.linspace(dst[0], dst[2], n)
        ys = np.linspace(dst[1], dst[3], n)
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        with np.errstate(all="ignore"):
            sx, sy = (np.asarray(v) for v in transform(dst_crs, src_crs, gx.tolist(), gy.tolist()))
        if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sy))):
            return [f"part of the grid window has no coordinates in {_crs_name(src_crs)}"]
        if src_crs.is_geographic:
            # the grid's longitudes may sit on another 360° axis than the source's
            mid = 0.5 * (src_bounds[0] + src_bounds[2])
            sx = sx + 360.0 * np.round((mid - sx) / 360.0)
        reach = (float(sx.min()), float(sy.min()), float(sx.max()), float(sy.max()))
    for i, name, short in (
        (1, "south", src_bounds[1] - reach[1]),
        (3, "north", reach[3] - src_bounds[3]),
        *(
            []
            if src_crs.is_geographic and dst_crs.is_geographic
            else [(0, "west", src_bounds[0] - reach[0]), (2, "east", reach[2] - src_bounds[2])]
        ),
    ):
        if short > tol:
            whose = "the grid's is" if src_crs == dst_crs else "the grid reaches"
            out.append(
                f"its {name} edge is {_fmt(src_bounds[i], unit)} but {whose} "
                f"{_fmt(reach[i], unit)} ({_fmt(short, unit)} short)"
            )
    return out


def _inside(
    src_bounds: tuple[float, float, float, float],
    src_crs: CRS,
    grid: Grid,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """True where the centres of cells ``rows × cols`` (a lattice) fall inside the source extent."""
    full = grid.full_window
    x, y = np.meshgrid(grid.lon_centers(full)[cols], grid.lat_centers(full)[rows])
    dst_crs = CRS.from_user_input(grid.crs)
    if dst_crs != src_crs:
        with np.errstate(all="ignore"):
            sx, sy = transform(dst_crs, src_crs, x.ravel().tolist(), y.ravel().tolist())
        x, y = np.asarray(sx).reshape(x.shape), np.asarray(sy).reshape(y.shape)
    with np.errstate(invalid="ignore"):
        lat_ok = (y >= src_bounds[1]) & (y <= src_bounds[3])
        if src_crs.is_geographic:
            lon_ok = np.zeros(x.shape, dtype=bool)
            for s in (0.0, -360.0, 360.0):
                lon_ok |= (x >= src_bounds[0] + s) & (x <= src_bounds[2] + s)
        else:
            lon_ok = (x >= src_bounds[0]) & (x <= src_bounds[2])
    return np.asarray(lon_ok & lat_ok & np.isfinite(x) & np.isfinite(y))


_MAX_LATTICE = 256  # rows (and columns) of cell centres sampled for a coverage fraction


def _lattice(off: int, n: int) -> np.ndarray:
    if n <= _MAX_LATTICE:
        return np.arange(off, off + n)
    return off + np.unique(np.round(np.linspace(0, n - 1, _MAX_LATTICE)).astype(np.int64))


def _fraction(
    src_bounds: tuple[float, float, float, float], src_crs: CRS, grid: Grid, window: Window
) -> float:
    rows = _lattice(int(window.row_off), int(window.height))
    cols = _lattice(int(window.col_off), int(window.width))
    return float(_inside(src_bounds, src_crs, grid, rows, cols).mean())


def check_coverage(
    src_bounds: tuple[float, float, float, float],
    src_crs: CRS,
    src_res: float,
    grid: Grid,
    window: Window,
    label: str,
    *,
    coverage: Coverage = "full",
) -> float:
    """Check that the source covers the part of the window on the grid; return the covered share.

    Only the cells of ``window`` that lie on the grid count: a halo beyond the grid's edge (a
    reader's extra row and column for slopes) need not be covered and reads as NaN where the source
    ends. The source must reach every cell centre: it may fall short of the window's edges by less
    than half a grid cell (rounding, pixel-is-point), since the edge cells then still take the
    source pixels that exist; a shortfall of half a cell or more would leave cells empty.

    Parameters
    ----------
    src_bounds, src_crs, src_res
        The source's extent ``(west, south, east, north)``, CRS and pixel size (the pixel size no
        longer sets the tolerance; kept so that existing calls work).
    grid, window
        The grid and the window to be read.
    label
        The source, for messages.
    coverage : {"full", "partial"}
        ``"full"`` raises when the source falls short; ``"partial"`` never does.

    Returns
    -------
    float
        Share of the window's grid cells whose centres lie inside the source extent (sampled on a
        lattice of at most 256 × 256 centres).

    Raises
    ------
    GridMismatchError
        ``coverage="full"`` and the source falls short: the message names each short edge, by how
        much, and the fixes.
    """
    if coverage not in _COVERAGES:
        raise ConfigError(f"{label}: coverage {coverage!r} is not one of 'full', 'partial'")
    on_grid = _clip_to_grid(grid, window)
    if on_grid is None:
        return 0.0
    dst = _window_bounds(grid, on_grid)
    dst_crs = CRS.from_user_input(grid.crs)
    if coverage == "full":
        tol = 0.5 * _grid_res_in(src_crs, grid) * (1 - 1e-9)
        short = _shortfalls(src_bounds, src_crs, dst, dst_crs, tol)
        if short:
            where = "" if src_crs == dst_crs else f" (in {_crs_name(src_crs)})"
            raise GridMismatchError(
                f"{label} does not cover the grid window {tuple(round(v, 4) for v in dst)} "
                f"({grid.crs}): {' and '.join(short)}{where}; download tiles that cover it, or set "
                'coverage = "partial" on this source to map cells outside it as nodata '
                "(or shrink the grid extent to the source's)"
            )
    return _fraction(src_bounds, src_crs, grid, on_grid)


def coverage_fraction(layer: SourceLayer, grid: Grid) -> float:
    """Share of the grid's cells whose centres fall inside the source's extent (header only).

    Reads no pixels: the file's extent and CRS against the grid's cell centres, sampled on a
    lattice of at most 256 × 256 centres on large grids. Geographic sources on a 0–360° or
    20–380° axis count where they wrap onto the grid; a source or grid in another CRS is compared
    by transforming the centres. For the run plan (``"DEM covers 83 % of the grid"``).

    Examples
    --------
    >>> import tempfile, os
    >>> import rasterio
    >>> from rasterio.transform import from_origin
    >>> from permamap.covariates.align import SourceLayer
    >>> path = os.path.join(tempfile.mkdtemp(), "west_half.tif")
    >>> with rasterio.open(path, "w", driver="GTiff", width=5, height=5, count=1, dtype="uint8",
    ...                    crs="EPSG:4326", transform=from_origin(0, 5, 1, 1)) as ds:
    ...     ds.write(np.ones((1, 5, 5), "uint8"))
    >>> coverage_fraction(SourceLayer(path), Grid.from_bounds((0, 0, 10, 5), 1.0))
    0.5
    """
    from permamap.covariates.align import layer_crs, open_source  # see _grid_res_in

    with open_source(layer.path, layer.label) as ds:
        crs = layer_crs(ds, layer)
        bounds = tuple(ds.bounds)
    return _fraction(bounds, crs, grid, grid.full_window)
