"""Real static layers that installable packages ship, read for any window of any lat/lon Grid.

- land mask: ``global-land-mask`` (NOAA GLOBE, 30 arc-sec, 21,600 × 43,200), cached once as packed
  bits so that a window is read through a memory map instead of loading ~1 GB per process;
- elevation: pvlib's ``data/Altitude.h5`` (5 arc-min, uint8, metres = v·28 − 450, 255 = nodata);
- topsoil clay, sand, organic carbon: permamodel's ``data/T_*.nc4`` (HWSD regridded to 3 arc-min,
  percent, −1 = missing);
- distance to the open ocean (km), derived here from the land mask on a 0.25° globe.

Nothing is downloaded and nothing is copied into the repository: the files are read from the
installed packages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
from rasterio.windows import Window
from scipy.ndimage import label as label_components
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from ..errors import InputFileError
from ..grid import Grid

__all__ = [
    "cache_dir",
    "elevation_m",
    "land_at_points",
    "land_fraction",
    "ocean_distance_km",
    "soil_percent",
    "westerly_fetch_km",
]

log = logging.getLogger(__name__)

_MASK_RES = 1 / 120  # GLOBE mask: 30 arc-sec, rows from 90 N, columns from 180 W
_MASK_SHAPE = (21600, 43200)
_COARSE = 4  # cells per degree of the ocean-distance globe (0.25°)
_OPEN_OCEAN_MIN_CELLS = (
    3000  # water bodies smaller than this (Caspian, Black Sea, Baltic) are not "open ocean"
)
_EARTH_RADIUS_KM = 6371.0088
_MAX_FETCH_KM = 12000.0


def cache_dir() -> Path:
    """Folder for derived caches: ``$PERMAMAP_CACHE_DIR`` or ``~/.cache/permamap``."""
    path = Path(os.environ.get("PERMAMAP_CACHE_DIR", Path.home() / ".cache" / "permamap"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_file(package: str, relative: str) -> Path:
    try:
        path = Path(str(files(package).joinpath(relative)))
    except ModuleNotFoundError as exc:
        raise InputFileError(
            f"package {package!r} is not installed, so {relative} cannot be read; "
            f"install it with `pip install {package.replace('_', '-')}` (or `make demo`)"
        ) from exc
    if not path.is_file():
        raise InputFileError(
            f"{path} is missing from the installed package {package!r}; reinstall it with "
            f"`pip install --force-reinstall {package.replace('_', '-')}`"
        )
    return path


@lru_cache(maxsize=1)
def _mask_bits() -> np.ndarray:
    """The GLOBE land mask as packed bits (1 = land), memory-mapped from the cache."""
    target = cache_dir() / "globe_land_bits_v1.npy"
    if not target.is_file():
        source = _package_file("global_land_mask", "globe_combined_mask_compressed.npz")
        log.info("caching the 30 arc-sec land mask as packed bits in %s (once)", target)
        with np.load(source) as npz:
            ocean = npz["mask"]
        if ocean.shape != _MASK_SHAPE:
            raise InputFileError(
                f"{source} holds a mask of shape {ocean.shape}, expected {_MASK_SHAPE}; "
                "reinstall global-land-mask 1.0"
            )
        bits = np.packbits(~ocean, axis=1)
        del ocean
        tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, bits)
        os.replace(tmp, target)
    return np.load(target, mmap_mode="r")


def _mask_block(row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """Boolean land mask rows ``row0:row1``, columns ``col0:col1`` of the 30 arc-sec globe (wrapping in lon)."""
    bits = _mask_bits()
    cols = np.arange(col0, col1) % _MASK_SHAPE[1]
    rows = np.clip(np.arange(row0, row1), 0, _MASK_SHAPE[0] - 1)
    b0, b1 = int(cols.min()) // 8, int(cols.max()) // 8 + 1
    if col1 - col0 == b1 * 8 - b0 * 8 or (cols[-1] - cols[0] == col1 - col0 - 1):
        block = np.unpackbits(np.asarray(bits[rows[0] : rows[-1] + 1, b0:b1]), axis=1)
        block = block[rows - rows[0]]
        return block[:, cols - b0 * 8].astype(bool)
    # wrapped across the antimeridian: read the full rows
    block = np.unpackbits(np.asarray(bits[rows[0] : rows[-1] + 1]), axis=1)[rows - rows[0]]
    return block[:, cols].astype(bool)


def land_fraction(grid: Grid, window: Window | None = None) -> np.ndarray:
    """Fraction of land (0–1) in each cell of ``window`` of a lat/lon ``grid``.

    Where the grid's pixels are whole multiples of 30 arc-sec on the GLOBE lattice the fraction is
    the exact share of land sub-cells; otherwise the mask is sampled at cell centres (0 or 1).
    """
    w = window or grid.full_window
    rows, cols = int(w.height), int(w.width)
    factor = grid.res / _MASK_RES
    k = round(factor)
    west_idx = (grid.west + 180.0) / _MASK_RES + int(w.col_off) * factor
    north_idx = (90.0 - grid.north) / _MASK_RES + int(w.row_off) * factor
    aligned = (
        k >= 1
        and abs(factor - k) < 1e-9
        and abs(west_idx - round(west_idx)) < 1e-6
        and abs(north_idx - round(north_idx)) < 1e-6
    )
    if aligned:
        r0, c0 = round(north_idx), round(west_idx)
        block = _mask_block(r0, r0 + rows * k, c0, c0 + cols * k)
        return block.reshape(rows, k, cols, k).mean(axis=(1, 3), dtype=np.float32)
    lat = grid.lat_centers(w)
    lon = grid.lon_centers(w)
    ri = np.clip(((90.0 - lat) / _MASK_RES).astype(int), 0, _MASK_SHAPE[0] - 1)
    ci = (np.floor((lon + 180.0) / _MASK_RES).astype(int)) % _MASK_SHAPE[1]
    out = np.empty((rows, cols), dtype=np.float32)
    bits = _mask_bits()
    for i, r in enumerate(ri):
        line = np.unpackbits(np.asarray(bits[r]))
        out[i] = line[ci]
    return out


def land_at_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where the 30 arc-sec GLOBE mask says land at each point (memory-mapped, no 1 GB load)."""
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    r = np.clip(((90.0 - lat_b) / _MASK_RES).astype(np.int64), 0, _MASK_SHAPE[0] - 1).ravel()
    c = (np.floor((lon_b + 180.0) / _MASK_RES).astype(np.int64) % _MASK_SHAPE[1]).ravel()
    bits = _mask_bits()
    out = np.empty(r.size, dtype=bool)
    order = np.argsort(r, kind="stable")
    rows, starts = np.unique(r[order], return_index=True)
    bounds = np.append(starts, r.size)
    for row, a, b in zip(rows, bounds[:-1], bounds[1:], strict=True):
        idx = order[a:b]
        byte = np.asarray(bits[row])[c[idx] // 8]
        out[idx] = (byte >> (7 - c[idx] % 8)) & 1
    return out.reshape(lon_b.shape)


def _sample(
    array: np.ndarray,
    lat0: float,
    lon0: float,
    step: float,
    lon: np.ndarray,
    lat: np.ndarray,
    order: int,
) -> np.ndarray:
    """Sample a global north-up array whose first cell centre is (lat0, lon0) at points (lon, lat)."""
    r = (lat0 - lat) / step
    c = ((lon - lon0) / step) % array.shape[1]
    return map_coordinates(array, [r, c], order=order, mode="grid-wrap", prefilter=False)


@lru_cache(maxsize=1)
def _altitude() -> np.ndarray:
    import h5py

    path = _package_file("pvlib", "data/Altitude.h5")
    with h5py.File(path, "r") as h5:
        raw = h5["Altitude"][:]
    metres = raw.astype(np.float32) * 28.0 - 450.0
    # 255 = nodata (ocean): sea level, so that interpolation at coasts stays sensible
    metres[raw == 255] = 0.0
    return np.maximum(metres, -450.0)


def elevation_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Elevation in metres from pvlib's 5 arc-min altitude grid, bilinear between cell centres."""
    alt = _altitude()
    step = 180.0 / alt.shape[0]
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    out = _sample(alt, 90.0 - step / 2, -180.0 + step / 2, step, lon_b.ravel(), lat_b.ravel(), 1)
    return out.reshape(lon_b.shape).astype(np.float32)


_SOILS = {"clay": "T_CLAY", "sand": "T_SAND", "silt": "T_SILT", "oc": "T_OC"}


@lru_cache(maxsize=4)
def _soil(name: str) -> np.ndarray:
    import netCDF4

    var = _SOILS[name]
    path = _package_file("permamodel", f"data/{var}.nc4")
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        values = np.asarray(ds[var][:], dtype=np.float32)
        lat = np.asarray(ds["lat"][:])
    if lat[0] < lat[-1]:  # stored south to north: make it north-up
        values = values[::-1]
    values[values < 0] = np.nan
    return values


def soil_percent(name: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """HWSD topsoil ``clay``, ``sand``, ``silt`` or ``oc`` (organic carbon) in percent; NaN where missing.

    Nearest 3 arc-min cell, as befits a soil-unit map.
    """
    if name not in _SOILS:
        raise ValueError(f"soil layer {name!r} is unknown; use one of {sorted(_SOILS)}")
    grid = _soil(name)
    step = 180.0 / grid.shape[0]
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    r = np.clip(((90.0 - lat_b) / step).astype(int), 0, grid.shape[0] - 1)
    c = (np.floor((lon_b + 180.0) / step).astype(int)) % grid.shape[1]
    return grid[r, c]


def _cached_globe(name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    target = cache_dir() / name
    if target.is_file():
        return np.load(target)
    values = compute()
    tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, values)
    os.replace(tmp, target)
    return values


def _open_ocean() -> tuple[Grid, np.ndarray]:
    """The 0.25° globe and its open-ocean mask (large connected water bodies)."""
    globe = Grid.from_bounds((-180, -90, 180, 90), res=1 / _COARSE)
    mask = _cached_globe("open_ocean_025_v1.npy", lambda: _compute_open_ocean(globe))
    return globe, mask


def _compute_open_ocean(globe: Grid) -> np.ndarray:
    frac = np.concatenate(
        [land_fraction(globe, w) for w in globe.tiles((180, globe.width))], axis=0
    )
    labels, _ = label_components(frac < 0.5)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.isin(labels, np.flatnonzero(sizes >= _OPEN_OCEAN_MIN_CELLS))


@lru_cache(maxsize=1)
def _ocean_distance_globe() -> np.ndarray:
    """Great-circle distance (km) from each 0.25° cell centre to the nearest open-ocean cell."""
    return _cached_globe("ocean_distance_025_v1.npy", _compute_ocean_distance)


def _compute_ocean_distance() -> np.ndarray:
    globe, ocean = _open_ocean()
    lat = np.radians(globe.lat_centers())[:, None] * np.ones((1, globe.width))
    lon = np.radians(globe.lon_centers())[None, :] * np.ones((globe.height, 1))
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    tree = cKDTree(xyz[ocean])
    chord, _ = tree.query(xyz[~ocean])
    dist = np.zeros(globe.shape, dtype=np.float32)
    dist[~ocean] = 2 * _EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2, 1.0))
    return dist


@lru_cache(maxsize=1)
def _westerly_fetch_globe() -> np.ndarray:
    """Distance (km) along the parallel, westwards, to the last open-ocean cell (the westerlies' fetch)."""
    return _cached_globe("westerly_fetch_025_v1.npy", _compute_westerly_fetch)


def _compute_westerly_fetch() -> np.ndarray:
    globe, ocean = _open_ocean()
    cell_km = np.radians(globe.res) * _EARTH_RADIUS_KM * np.cos(np.radians(globe.lat_centers()))
    fetch = np.zeros(globe.shape, dtype=np.float32)
    run = np.zeros(globe.height, dtype=np.float32)
    # two passes around the globe so that rows starting on land inherit the wrap-around fetch
    for _ in range(2):
        for col in range(globe.width):
            run = np.where(ocean[:, col], 0.0, run + cell_km).astype(np.float32)
            fetch[:, col] = run
    return np.minimum(fetch, _MAX_FETCH_KM)


def westerly_fetch_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance in km that westerly air travels over land before reaching the point (0 over the ocean)."""
    return _sample_globe(_westerly_fetch_globe(), lon, lat)


def ocean_distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance from the open ocean in km (0 over the ocean), bilinear on a 0.25° globe."""
    return _sample_globe(_ocean_distance_globe(), lon, lat)


def _sample_globe(dist: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    step = 1 / _COARSE
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    out = _sample(dist, 90.0 - step / 2, -180.0 + step / 2, step, lon_b.ravel(), lat_b.ravel(), 1)
    return out.reshape(lon_b.shape).astype(np.float32)
