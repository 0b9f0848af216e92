"""Real static layers that installable packages ship, read for any window of any lat/lon Grid.

- land mask: :mod:`permamap.landmask` (NOAA GLOBE via ``global-land-mask``);
- elevation: pvlib's ``data/Altitude.h5`` (5 arc-min, uint8, metres = v·28 − 450, 255 = nodata);
- topsoil clay, sand, organic carbon: permamodel's ``data/T_*.nc4`` (HWSD regridded to 3 arc-min,
  percent, −1 = missing);
- distance to the open ocean (km), derived here from the land mask on a 0.25° globe.

Nothing is downloaded and nothing is copied into the repository: the files are read from the
installed packages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.ndimage import label as label_components
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from .. import fileio
from ..cache import cache_dir
from ..grid import Grid
from ..landmask import land_fraction, package_file

__all__ = [
    "elevation_m",
    "ocean_distance_km",
    "soil_percent",
    "westerly_fetch_km",
]

log = logging.getLogger(__name__)

_COARSE = 4  # cells per degree of the ocean-distance globe (0.25°)
# water bodies smaller than this (Caspian, Black Sea, Baltic) are not "open ocean"
_OPEN_OCEAN_MIN_CELLS = 3000
_EARTH_RADIUS_KM = 6371.0088
_MAX_FETCH_KM = 12000.0


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

    path = package_file("pvlib", "data/Altitude.h5")
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
    path = package_file("permamodel", f"data/{var}.nc4")
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
    with fileio.atomic_path(target) as tmp:  # the temporary name keeps ".npy": np.save adds none
        np.save(tmp, values)
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
