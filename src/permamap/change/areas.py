"""Permafrost area per epoch in km²: in total, per latitude band, elevation zone and user region.

Every sum uses exact cell areas on the WGS84 ellipsoid (:meth:`permamap.grid.Grid.cell_area_km2`)
and keeps apart the three "how much permafrost" figures of :data:`AREA_COLUMNS` (see
:mod:`permamap.change`). :func:`area_sums` is the pure maths on one block; :func:`area_by_epoch`
reads each map window by window.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window

from ..contracts import CLASS_NODATA, DEFAULT_TILE
from ..errors import ConfigError, DataError, InputFileError
from ..grid import Grid
from .maps import (
    READ_ERRORS,
    band_by_description,
    check_on_grid,
    iter_tiles,
    map_bands,
    one_line,
    open_map,
    read_class,
    read_prob,
    reading,
)
from .regions import Regions, load_regions, region_masks

__all__ = [
    "AREA_COLUMNS",
    "DEFAULT_ELEVATION_EDGES_M",
    "area_by_epoch",
    "area_sums",
    "check_area_options",
    "elevation_band",
    "latitude_band_edges",
]

logger = logging.getLogger(__name__)

AREA_COLUMNS: tuple[str, ...] = (
    "cell_km2",
    "land_km2",
    "permafrost_region_km2",
    "permafrost_extent_km2",
    "probability_weighted_km2",
)
"""The area figures summed per zone, in this order (see :func:`area_sums`)."""

DEFAULT_ELEVATION_EDGES_M: tuple[float, ...] = (0.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0)
"""Inner edges of the elevation zones, m; zones are open below the first and above the last."""


# ================================================================================================
# Pure maths on arrays
# ================================================================================================
def area_sums(
    cls: np.ndarray,
    prob: np.ndarray,
    cell_area_km2: np.ndarray,
    zone: np.ndarray | None = None,
    n_zones: int = 1,
) -> np.ndarray:
    """Sum the area figures of :data:`AREA_COLUMNS` per zone, in km².

    Parameters
    ----------
    cls : ndarray of uint8, shape (rows, cols)
        Class band: 1 permafrost, 0 not, :data:`~permamap.contracts.CLASS_NODATA` no data.
    prob : ndarray of uint8, shape (rows, cols)
        Probability band in percent (0–100), :data:`~permamap.contracts.CLASS_NODATA` no data.
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².
    zone : ndarray of int, shape (rows, cols), optional
        Zone index of each cell in ``[0, n_zones)``; cells with a negative index are left out.
        All cells are zone 0 when omitted.
    n_zones : int
        Number of zones.

    Returns
    -------
    ndarray of float, shape (n_zones, 5)
        Columns ``cell_km2`` (every cell), ``land_km2`` (cells with a class),
        ``permafrost_region_km2`` (probability ≥ 1 %), ``permafrost_extent_km2`` (class 1) and
        ``probability_weighted_km2`` (Σ probability/100 × area).

    Examples
    --------
    >>> cls = np.array([[1, 0, 255]], dtype=np.uint8)
    >>> prob = np.array([[80, 30, 255]], dtype=np.uint8)
    >>> area_sums(cls, prob, np.array([[10.0, 10.0, 10.0]])).round(1).tolist()
    [[30.0, 20.0, 20.0, 10.0, 11.0]]
    """
    cls = np.asarray(cls)
    prob = np.asarray(prob)
    area = np.asarray(cell_area_km2, dtype=np.float64)
    if not (cls.shape == prob.shape == area.shape):
        raise DataError(
            f"class {cls.shape}, probability {prob.shape} and cell-area {area.shape} arrays differ "
            "in shape; pass blocks read with the same window"
        )
    if zone is None:
        zone = np.zeros(cls.shape, dtype=np.int64)
    zone = np.asarray(zone)
    keep = zone >= 0
    z = zone[keep].astype(np.int64, copy=False)
    a = area[keep]
    c = cls[keep]
    p = prob[keep]
    land = c != CLASS_NODATA
    prob_ok = p != CLASS_NODATA
    weights = (
        a,
        np.where(land, a, 0.0),
        np.where(prob_ok & (p > 0), a, 0.0),
        np.where(c == 1, a, 0.0),
        np.where(prob_ok, a * (p.astype(np.float64) / 100.0), 0.0),
    )
    out = np.empty((n_zones, len(weights)))
    for j, w in enumerate(weights):
        out[:, j] = np.bincount(z, weights=w, minlength=n_zones)[:n_zones]
    return out


def _zone_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Index of the zone of each value: 0 below ``edges[0]`` … ``len(edges)`` above the last."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")


def _zone_labels(edges: Sequence[float], unit: str) -> list[str]:
    e = [f"{v:g}" for v in edges]
    labels = [f"< {e[0]} {unit}"]
    labels += [f"{lo}–{hi} {unit}" for lo, hi in itertools.pairwise(e)]
    labels.append(f"≥ {e[-1]} {unit}")
    return labels


def _lat_band_edges(south: float, north: float, band_deg: float) -> list[float]:
    lo = math.floor(south / band_deg) * band_deg
    hi = math.ceil(north / band_deg) * band_deg
    n = max(1, round((hi - lo) / band_deg))
    return [lo + i * band_deg for i in range(n + 1)]


def latitude_band_edges(grid: Grid, band_deg: float) -> list[float]:
    """Edges of the latitude bands (degrees, whole multiples of ``band_deg``) covering ``grid``.

    >>> latitude_band_edges(Grid.from_bounds((100, 52, 110, 71), res=1.0), 10.0)
    [50.0, 60.0, 70.0, 80.0]
    """
    if grid.is_geographic:
        south, north = grid.south, grid.north
    else:
        from pyproj import Transformer

        tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        south, north = tr.transform_bounds(*grid.bounds, densify_pts=51)[1::2]
    return [float(e) for e in _lat_band_edges(south, north, band_deg)]


def _lat_band_labels(edges: Sequence[float]) -> list[str]:
    def fmt(v: float) -> str:
        return f"{abs(v):g}°{'N' if v >= 0 else 'S'}"

    return [f"{fmt(lo)}–{fmt(hi)}" for lo, hi in itertools.pairwise(edges)]


def _cell_lat(grid: Grid, window: Window) -> np.ndarray:
    """Latitude of each cell centre of ``window``, shape (rows, cols)."""
    rows, cols = int(window.height), int(window.width)
    if grid.is_geographic:
        return np.broadcast_to(grid.lat_centers(window)[:, None], (rows, cols))
    from pyproj import Transformer

    lon, lat = np.meshgrid(grid.lon_centers(window), grid.lat_centers(window))
    tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    return tr.transform(lon, lat)[1]


# ================================================================================================
# Elevation
# ================================================================================================
_ELEVATION_FIX = "build the covariate stack again (delete it and re-run) or leave elevation unset"


def _elevation_band_of(src: Any) -> int | None:
    """The band described ``elevation``; a single band without a description counts as one."""
    band = band_by_description(src, "elevation")
    if band is None and src.count == 1 and not (src.descriptions[0] or "").strip():
        band = 1
    return band


def _open_elevation_src(path: Path, grid: Grid) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"elevation raster {path} does not exist; give the covariate stack of the run or "
            "leave elevation unset to skip elevation zones"
        )
    try:
        src = rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputFileError(
            f"elevation raster {path} cannot be read ({one_line(exc)}); {_ELEVATION_FIX}"
        ) from exc
    try:
        check_on_grid(src, grid, path, "elevation raster")
    except BaseException:
        src.close()
        raise
    return src


def elevation_band(path: Path, grid: Grid) -> int | None:
    """The band of ``path`` that holds elevation (m), or None when it has none.

    Reads the header only. A band described ``elevation`` (case-insensitive) is the elevation; a
    single band without a description is taken as elevation too; a stack without such a band
    (a run without an elevation factor) gives None.

    Raises
    ------
    InputFileError
        If the file is missing or unreadable.
    GridMismatchError
        If it is not on ``grid``.
    """
    with _open_elevation_src(path, grid) as src:
        return _elevation_band_of(src)


def open_elevation(path: Path, grid: Grid) -> tuple[Any, int]:
    path = Path(path)
    src = _open_elevation_src(path, grid)
    band = _elevation_band_of(src)
    if band is None:
        src.close()
        raise DataError(
            f"{path} has {src.count} band(s) {list(src.descriptions)} and none is described "
            "'elevation'; set that band description, give a single-band elevation raster, or "
            "leave elevation unset to skip elevation zones"
        )
    return src, band


def read_elevation(src: Any, band: int, window: Window) -> np.ndarray:
    with reading(Path(src.name), "elevation raster", _ELEVATION_FIX):
        arr = src.read(band, window=window, masked=True).astype(np.float64)
    return np.ma.filled(arr, np.nan)


# ================================================================================================
# Area per epoch
# ================================================================================================
def check_area_options(lat_band_deg: object, elevation_edges_m: object) -> list[float]:
    """Check the latitude band width and the elevation edges; return the edges as floats.

    >>> check_area_options(10, (0, 500, 1000))
    [0.0, 500.0, 1000.0]
    >>> check_area_options(0, (0, 500))
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [change] lat_band_deg = 0 must be a positive number of degrees (at most 180); use e.g. 10
    """
    ok = (
        isinstance(lat_band_deg, numbers.Real)
        and not isinstance(lat_band_deg, bool)
        and math.isfinite(float(lat_band_deg))
        and 0 < float(lat_band_deg) <= 180
    )
    if not ok:
        raise ConfigError(
            f"[change] lat_band_deg = {lat_band_deg!r} must be a positive number of degrees "
            "(at most 180); use e.g. 10"
        )
    example = "e.g. [0, 500, 1000, 2000]"
    if isinstance(elevation_edges_m, str | bytes) or not isinstance(elevation_edges_m, Sequence):
        raise ConfigError(
            f"[change] elevation_edges_m = {elevation_edges_m!r} must be a list of heights in m; "
            f"{example}"
        )
    bad = [
        v
        for v in elevation_edges_m
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v))
    ]
    if bad:
        raise ConfigError(
            f"[change] elevation_edges_m holds {bad[0]!r}, not a finite number of metres; {example}"
        )
    edges = [float(v) for v in elevation_edges_m]
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ConfigError(
            f"[change] elevation_edges_m = {list(elevation_edges_m)} must be a non-empty list of "
            f"strictly increasing heights in m; {example}"
        )
    return edges


def area_zeros(
    domains: Sequence[str], n_lat: int, n_elev: int, n_reg: int
) -> dict[str, dict[str, np.ndarray]]:
    """Empty area sums per domain and stratum (the shapes :func:`area_tile_sums` fills)."""
    ncol = len(AREA_COLUMNS)
    return {
        d: {
            "total": np.zeros((1, ncol)),
            "latitude_band": np.zeros((n_lat, ncol)),
            "elevation_zone": np.zeros((n_elev, ncol)),
            "region": np.zeros((n_reg, ncol)),
        }
        for d in domains
    }


def lat_index(grid: Grid, window: Window, lat_edges: Sequence[float]) -> np.ndarray:
    """Latitude band of each cell of ``window`` (edges of :func:`latitude_band_edges`)."""
    n_lat = len(lat_edges) - 1
    return np.clip(
        np.searchsorted(np.asarray(lat_edges), _cell_lat(grid, window), side="right") - 1,
        0,
        n_lat - 1,
    )


def elevation_index(values: np.ndarray, edges_m: Sequence[float], n_elev: int) -> np.ndarray:
    """Elevation zone of each cell; the last zone is "no data", so zones add up to the total."""
    return np.where(np.isnan(values), n_elev - 1, _zone_index(values, edges_m))


_N_PROB = 102  # probability 0–100 %, then 101 = no probability
_N_STATE = 3 * _N_PROB  # class 0, 1, 2 = no data, times the probability
_STATE_PROB = np.tile(np.arange(_N_PROB), 3)
_STATE_CLASS = np.repeat(np.arange(3), _N_PROB)
# each area column as weights on the cell states: Σ over states of weight × area in the state
_STATE_WEIGHTS = np.stack(
    [
        np.ones(_N_STATE),  # cell_km2
        (_STATE_CLASS != 2).astype(np.float64),  # land_km2
        ((_STATE_PROB >= 1) & (_STATE_PROB <= 100)).astype(np.float64),  # region: p ≥ 1 %
        (_STATE_CLASS == 1).astype(np.float64),  # extent
        np.where(_STATE_PROB <= 100, _STATE_PROB / 100.0, 0.0),  # probability-weighted
    ],
    axis=1,
)


def _state(cls: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Each cell's state: class (0, 1, 2 = no data) × 102 + probability (101 = none)."""
    c = np.where(cls == CLASS_NODATA, 2, cls).astype(np.int64)
    p = np.where(prob == CLASS_NODATA, _N_PROB - 1, prob).astype(np.int64)
    return c * _N_PROB + p


def area_tile_sums(
    acc: dict[str, dict[str, np.ndarray]],
    cls: np.ndarray,
    prob: np.ndarray,
    inside: np.ndarray | None,
    area: np.ndarray,
    lat_idx: np.ndarray,
    elev_idx: np.ndarray | None,
    masks: Sequence[tuple[int, np.ndarray]],
) -> None:
    """Add one tile of one map to ``acc`` (from :func:`area_zeros`), in place.

    The same figures as :func:`area_sums` per zone, from one histogram per domain: the area of
    each latitude band × elevation zone × class × probability, then weighted by state. Classes
    must be 0, 1 or no data and probabilities 0–100 or no data (as the map readers check).
    """
    n_lat = acc["all"]["latitude_band"].shape[0]
    n_elev = acc["all"]["elevation_zone"].shape[0]
    n_e = n_elev if elev_idx is not None else 1
    state = _state(np.asarray(cls), np.asarray(prob))
    zone = np.asarray(lat_idx, dtype=np.int64) * n_e
    if elev_idx is not None:
        zone = zone + np.asarray(elev_idx, dtype=np.int64)
    code = (zone * _N_STATE + state).ravel()
    region_states = [(i, state[mask]) for i, mask in masks]
    for d in acc:
        a = area if inside is None or d == "all" else np.where(inside, area, 0.0)
        hist = np.bincount(code, weights=np.ravel(a), minlength=n_lat * n_e * _N_STATE)
        by_zone = hist.reshape(n_lat, n_e, _N_STATE) @ _STATE_WEIGHTS  # (lat, elev, 5)
        acc[d]["total"] += by_zone.sum(axis=(0, 1))[None, :]
        acc[d]["latitude_band"] += by_zone.sum(axis=1)
        if elev_idx is not None:
            acc[d]["elevation_zone"] += by_zone.sum(axis=0)
        for (i, mask), (_, st) in zip(masks, region_states, strict=True):
            h = np.bincount(st, weights=a[mask], minlength=_N_STATE)
            acc[d]["region"][i] += h @ _STATE_WEIGHTS


def read_aoa(src: Any, band: int | None, window: Window, path: Path) -> np.ndarray | None:
    """Inside-the-AOA mask of a map block, or None for a map without an ``aoa`` band."""
    if band is None:
        return None
    with reading(path, "map", "run the predict stage again for this epoch"):
        return np.asarray(src.read(band, window=window) == 1)


def _accumulate_epoch(
    src: Any,
    path: Path,
    grid: Grid,
    tile_shape: tuple[int, int],
    lat_edges: Sequence[float],
    n_lat: int,
    elev: tuple[Any, int] | None,
    edges_m: Sequence[float],
    n_elev: int,
    reg: Regions | None,
    progress: bool,
    desc: str,
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """One windowed pass over a map: area sums per domain and stratum."""
    bands = map_bands(src, path)
    domains = ["all"] + (["aoa"] if bands.aoa is not None else [])
    acc = area_zeros(domains, n_lat, n_elev, len(reg.names) if reg else 0)
    for window in iter_tiles(grid, tile_shape, progress, desc):
        cls = read_class(src, bands.cls, window, path)
        prob = read_prob(src, bands.prob, cls, window, path)
        elev_idx = None
        if elev is not None:
            elev_idx = elevation_index(read_elevation(elev[0], elev[1], window), edges_m, n_elev)
        masks = list(region_masks(reg, grid, window)) if reg is not None else []
        area_tile_sums(
            acc,
            cls,
            prob,
            read_aoa(src, bands.aoa, window, path),
            grid.cell_area_km2(window),
            lat_index(grid, window, lat_edges),
            elev_idx,
            masks,
        )
    return acc, domains


def area_rows(
    epoch: int,
    acc: dict[str, dict[str, np.ndarray]],
    lat_labels: Sequence[str],
    elev_labels: Sequence[str] | None,
    region_names: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """The rows of :func:`area_by_epoch`'s table for one epoch's sums (and its log line)."""
    rows: list[dict[str, Any]] = []
    for d in acc:
        strata: list[tuple[str, Sequence[str]]] = [
            ("total", ["all"]),
            ("latitude_band", lat_labels),
        ]
        if elev_labels is not None:
            strata.append(("elevation_zone", elev_labels))
        if region_names is not None:
            strata.append(("region", region_names))
        for stratum, labels in strata:
            for label, sums in zip(labels, acc[d][stratum], strict=True):
                rows.append(
                    {"epoch": int(epoch), "domain": d, "stratum": stratum, "zone": label}
                    | dict(zip(AREA_COLUMNS, (float(v) for v in sums), strict=True))
                )
    logger.info(
        "epoch %s: permafrost extent %.0f km², probability-weighted %.0f km², land %.0f km²",
        epoch,
        acc["all"]["total"][0, 3],
        acc["all"]["total"][0, 4],
        acc["all"]["total"][0, 1],
    )
    return rows


def area_labels(
    grid: Grid, lat_band_deg: float, edges_m: Sequence[float]
) -> tuple[list[float], list[str], list[str]]:
    """Latitude band edges and labels, and elevation zone labels (with "no data" last)."""
    lat_edges = latitude_band_edges(grid, lat_band_deg)
    return lat_edges, _lat_band_labels(lat_edges), [*_zone_labels(edges_m, "m"), "no data"]


def area_by_epoch(
    map_paths: Mapping[int, Path],
    grid: Grid,
    *,
    elevation: Path | None = None,
    regions: Path | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] = DEFAULT_ELEVATION_EDGES_M,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
) -> pd.DataFrame:
    """Permafrost area per epoch in km², in total and per latitude band, elevation zone and region.

    Each map is read window by window; the sums use exact WGS84 cell areas.

    Parameters
    ----------
    map_paths : mapping of int to Path
        Epoch → ``permafrost_<year>.tif`` (docs/contracts.md "Maps").
    grid : Grid
        The grid the maps are on; a map on another grid raises :class:`GridMismatchError`.
    elevation : Path, optional
        A raster on the grid with a band described ``elevation`` (m), e.g. the covariate stack.
        Cells without elevation form the zone ``"no data"``, so zones add up to the total.
    regions : Path, optional
        Polygons (GeoPackage, GeoJSON, any OGR format) with a CRS; a cell belongs to a region when
        its centre is inside. Regions may overlap.
    region_name_column : str, optional
        Attribute that names the regions; default ``name``, else the first text column.
    lat_band_deg : float
        Width of the latitude bands in degrees (cell centre decides the band).
    elevation_edges_m : sequence of float
        Inner edges of the elevation zones, m.
    tile_shape : (int, int)
        Rows and columns read at once; sets peak memory.
    progress : bool, default=False
        Show a progress bar over the tiles of each map.

    Returns
    -------
    DataFrame
        One row per epoch × ``domain`` (``all``, and ``aoa`` = inside the area of applicability
        when the map has an ``aoa`` band) × ``stratum`` (``total``, ``latitude_band``,
        ``elevation_zone``, ``region``) × ``zone``, with the :data:`AREA_COLUMNS` in km².
    """
    if not map_paths:
        raise ConfigError("no maps given; pass {epoch: path} for at least one epoch")
    edges_m = check_area_options(lat_band_deg, elevation_edges_m)

    lat_edges, lat_labels, elev_labels = area_labels(grid, lat_band_deg, edges_m)
    reg = load_regions(Path(regions), grid, region_name_column) if regions is not None else None

    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        elev_src = None
        if elevation is not None:
            elev_src, elev_band = open_elevation(Path(elevation), grid)
            stack.enter_context(elev_src)
        for epoch, path in sorted(map_paths.items()):
            with open_map(Path(path), grid, epoch) as src:
                acc, _ = _accumulate_epoch(
                    src,
                    Path(path),
                    grid,
                    tile_shape,
                    lat_edges,
                    len(lat_labels),
                    (elev_src, elev_band) if elev_src is not None else None,
                    edges_m,
                    len(elev_labels),
                    reg,
                    progress,
                    f"area {epoch}",
                )
            rows += area_rows(
                epoch,
                acc,
                lat_labels,
                elev_labels if elev_src is not None else None,
                reg.names if reg is not None else None,
            )
    return pd.DataFrame(rows, columns=["epoch", "domain", "stratum", "zone", *AREA_COLUMNS])


# the projections' areas import these under their old private names
_open_elevation = open_elevation
_read_elevation = read_elevation
