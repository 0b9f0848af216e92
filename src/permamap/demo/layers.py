"""Real static layers that installable packages ship, read for any window of any lat/lon Grid.

- land mask: :mod:`permamap.landmask` (NOAA GLOBE via ``global-land-mask``);
- elevation: pvlib's ``data/Altitude.h5`` (5 arc-min, uint8, metres = v·28 − 450, 255 = nodata);
- topsoil clay, sand, organic carbon: permamodel's ``data/T_*.nc4`` (HWSD regridded to 3 arc-min,
  percent, −1 = missing);
- distance to the open ocean (km) and the westerly fetch over land (km), derived here from the land
  mask on a 0.25° globe.

Every derived layer is a continuous function of position, so the climate built on it has no seams
at tile, band or region edges: the ocean distance is a distance field (it changes by at most the
distance moved), and the fetch, first measured along each parallel separately, is smoothed by a
Gaussian of σ = 500 km on the sphere (wrapping in longitude). Measured along one parallel, the fetch
jumps by 1,000–9,000 km between neighbouring 0.25° parallels wherever a parallel just misses the
end of a gulf (the Gulf of Bothnia near 66 °N, the Adriatic at 45.7 °N, the Gulf of Sidra at
30.2 °N, the Sea of Okhotsk): on the 5 arc-min demo stack those jumps made MAAT steps of up to
5 K between neighbouring rows, the stripes of issue 11.
After smoothing, the fetch changes by at most 6.3 km per km (measured on the 0.25° globe), at
most 0.02 K of MAAT per km with the constants of :mod:`permamap.demo.climate`.

Nothing is downloaded and nothing is copied into the repository: the files are read from the
installed packages.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates
from scipy.ndimage import label as label_components
from scipy.spatial import cKDTree

from .. import fileio
from ..cache import cache_dir
from ..grid import Grid
from ..landmask import land_fraction, package_file

__all__ = [
    "FETCH_SMOOTHING_KM",
    "PLATEAU_SMOOTHING_KM",
    "elevation_m",
    "ocean_distance_km",
    "plateau_height_m",
    "smooth_on_sphere",
    "soil_percent",
    "westerly_fetch_km",
]

log = logging.getLogger(__name__)

_COARSE = 4  # cells per degree of the ocean-distance globe (0.25°)
# water bodies smaller than this (Caspian, Black Sea, Baltic) are not "open ocean"
_OPEN_OCEAN_MIN_CELLS = 3000
_EARTH_RADIUS_KM = 6371.0088
_MAX_FETCH_KM = 12000.0
FETCH_SMOOTHING_KM = 500.0  # σ of the Gaussian that turns the per-parallel fetch into a field


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
    kernel = _bilinear_kernel() if order == 1 and array.dtype == np.float32 else None
    if kernel is not None:
        return _bilinear(kernel, array, r, c)
    return map_coordinates(array, [r, c], order=order, mode="grid-wrap", prefilter=False)


def _bilinear(
    kernel: Callable[..., int], array: np.ndarray, r: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """``map_coordinates(array, [r, c], order=1, mode="grid-wrap", prefilter=False)``, compiled.

    The kernel repeats scipy's arithmetic for points whose 2 × 2 neighbourhood lies inside the
    array (weights ``w0 = 1 − (x − ⌊x⌋)``, ``w1 = 1 − w0``; the four products summed from 0 in
    scipy's order, each ``value · w_row · w_col``); the few others (at the wrap in longitude)
    go to scipy itself. :func:`_bilinear_kernel` checks the match before it is ever used.
    """
    r = np.ascontiguousarray(r, dtype=np.float64).ravel()
    c = np.ascontiguousarray(c, dtype=np.float64).ravel()
    out = np.empty(r.size, dtype=np.float32)
    rest = np.empty(r.size, dtype=np.int64)
    n_rest = kernel(np.ascontiguousarray(array), r, c, out, rest)
    if n_rest:
        idx = rest[:n_rest]
        out[idx] = map_coordinates(
            array, [r[idx], c[idx]], order=1, mode="grid-wrap", prefilter=False
        )
    return out


@lru_cache(maxsize=1)
def _bilinear_kernel() -> Callable[..., int] | None:
    """The compiled bilinear sampler, if numba is installed and it matches scipy bit for bit."""
    try:
        import numba
    except ImportError:  # pragma: no cover - exercised on machines without numba
        return None

    @numba.njit(nogil=True, cache=True, fastmath=False, boundscheck=False)
    def bilinear(array, r, c, out, rest):  # pragma: no cover - compiled
        n_rows, n_cols = array.shape
        n_rest = 0
        for i in range(r.shape[0]):
            ri, ci = r[i], c[i]
            if not (ri >= 0.0 and ci >= 0.0 and ri < n_rows - 1 and ci < n_cols - 1):
                rest[n_rest] = i
                n_rest += 1
                continue
            r0, c0 = math.floor(ri), math.floor(ci)
            wr0 = 1.0 - (ri - r0)
            wc0 = 1.0 - (ci - c0)
            wr1, wc1 = 1.0 - wr0, 1.0 - wc0
            j, k = int(r0), int(c0)
            t = 0.0
            t += float(array[j, k]) * wr0 * wc0
            t += float(array[j, k + 1]) * wr0 * wc1
            t += float(array[j + 1, k]) * wr1 * wc0
            t += float(array[j + 1, k + 1]) * wr1 * wc1
            out[i] = np.float32(t)
        return n_rest

    # the check: random points, integers and the edges, against scipy
    rng = np.random.default_rng(0)
    array = rng.normal(size=(40, 60)).astype(np.float32) * 1000
    r = np.concatenate([rng.uniform(-1, 40, 4000), np.arange(40.0), np.full(60, 38.999999)])
    c = np.concatenate([rng.uniform(0, 60, 4000), np.full(40, 59.5), np.arange(60.0)]) % 60
    out, rest = np.empty(r.size, np.float32), np.empty(r.size, np.int64)
    n_rest = bilinear(array, r, c, out, rest)
    if n_rest:
        idx = rest[:n_rest]
        out[idx] = map_coordinates(
            array, [r[idx], c[idx]], order=1, mode="grid-wrap", prefilter=False
        )
    expected = map_coordinates(array, [r, c], order=1, mode="grid-wrap", prefilter=False)
    if not np.array_equal(out, expected):  # pragma: no cover - a scipy that interpolates otherwise
        log.debug("compiled bilinear sampling differs from scipy's; using scipy")
        return None
    return bilinear


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


_NETCDF_LOCK = threading.Lock()
_SOILS = {"clay": "T_CLAY", "sand": "T_SAND", "silt": "T_SILT", "oc": "T_OC"}


@lru_cache(maxsize=4)
def _soil(name: str) -> np.ndarray:
    import netCDF4

    var = _SOILS[name]
    path = package_file("permamodel", f"data/{var}.nc4")
    # the netCDF-C library is not thread-safe: stack tiles run on threads
    with _NETCDF_LOCK, netCDF4.Dataset(path) as ds:
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
    """The westerlies' fetch (km): distance westwards to open ocean, smoothed over σ = 500 km."""
    return _cached_globe("westerly_fetch_025_v2.npy", _compute_westerly_fetch)


def _compute_westerly_fetch() -> np.ndarray:
    globe, _ = _open_ocean()
    return smooth_on_sphere(_parallel_fetch(), globe.lat_centers(), FETCH_SMOOTHING_KM)


PLATEAU_SMOOTHING_KM = 100.0  # σ of the Gaussian that turns the elevation into the plateau height


@lru_cache(maxsize=1)
def _plateau_globe() -> np.ndarray:
    """Land elevation (m, sea = 0) on the 0.25° globe, smoothed over σ = 100 km."""
    return _cached_globe("plateau_height_025_v1.npy", _compute_plateau)


def _compute_plateau() -> np.ndarray:
    globe = Grid.from_bounds((-180, -90, 180, 90), res=1 / _COARSE)
    lon, lat = np.meshgrid(globe.lon_centers(), globe.lat_centers())
    z = np.maximum(elevation_m(lon, lat), 0.0).astype(np.float64)
    return smooth_on_sphere(z, globe.lat_centers(), PLATEAU_SMOOTHING_KM).astype(np.float32)


def plateau_height_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Mean height (m) of the land around a point: elevation smoothed over σ = 100 km on the sphere.

    What the mass-elevation effect of :func:`permamap.demo.climate.climatology` scales with: a
    large plateau heats the air above it, so it is warmer than a lone peak of the same height.
    """
    return _sample_globe(_plateau_globe(), lon, lat)


def smooth_on_sphere(values: np.ndarray, lat_deg: np.ndarray, sigma_km: float) -> np.ndarray:
    """Gaussian smoothing (σ in km) of a global north-up lat/lon array, periodic in longitude.

    Along each parallel the kernel is the exact periodic Gaussian (in Fourier space) whose width in
    cells follows the parallel's length, so σ is ``sigma_km`` on the ground at every latitude; then
    along the meridians with σ in rows (reflecting at the array's first and last rows). Rows are
    parallels with centres ``lat_deg``; columns span 360° of longitude.

    >>> lat = np.array([60.0, 0.0])
    >>> spike = np.zeros((2, 360)); spike[:, 0] = 1.0
    >>> out = smooth_on_sphere(spike, lat, sigma_km=0.0)
    >>> bool(np.allclose(out, spike))
    True
    >>> wide = smooth_on_sphere(spike, np.array([0.0]).repeat(2), sigma_km=500.0)
    >>> round(float(wide.sum()), 6), bool(np.allclose(wide[:, 3], wide[:, -3]))  # mass kept, wraps
    (2.0, True)
    """
    n_rows, n_cols = values.shape
    cell_deg = 360.0 / n_cols
    km_per_deg = np.radians(1.0) * _EARTH_RADIUS_KM
    cos_lat = np.maximum(np.cos(np.radians(np.asarray(lat_deg, float))), 1e-6)
    sigma_cols = sigma_km / (km_per_deg * cell_deg * cos_lat)  # per row
    freq = np.fft.rfftfreq(n_cols)  # cycles per cell
    gain = np.exp(-2.0 * (np.pi * freq[None, :] * sigma_cols[:, None]) ** 2)
    along = np.fft.irfft(np.fft.rfft(values, axis=1) * gain, n=n_cols, axis=1)
    sigma_rows = sigma_km / (km_per_deg * 180.0 / n_rows)
    if sigma_rows > 0:
        along = gaussian_filter1d(along, sigma_rows, axis=0, mode="reflect", truncate=4.0)
    return along.astype(np.float32)


def _parallel_fetch() -> np.ndarray:
    """Fetch measured along each parallel alone (rows independent: smoothed before use)."""
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
    """Distance in km that westerly air travels over land before reaching the point.

    Measured westwards along the parallel to the last open-ocean cell, then smoothed by a Gaussian
    of σ = ``FETCH_SMOOTHING_KM`` on the sphere, so it is continuous everywhere: it is about half
    its inland value on an east coast and rises from near 0 on a west coast within a few hundred km.
    Bilinear on a 0.25° globe.
    """
    return _sample_globe(_westerly_fetch_globe(), lon, lat)


def ocean_distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance from the open ocean in km (0 over the ocean), bilinear on a 0.25° globe."""
    return _sample_globe(_ocean_distance_globe(), lon, lat)


def _sample_globe(dist: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    step = 1 / _COARSE
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    out = _sample(dist, 90.0 - step / 2, -180.0 + step / 2, step, lon_b.ravel(), lat_b.ravel(), 1)
    return out.reshape(lon_b.shape).astype(np.float32)
