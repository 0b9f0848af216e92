"""Monthly air temperature and precipitation of the virtual world, from physical rules.

For a point at latitude φ, elevation z, westerly fetch over land ``fetch`` and distance to the open
ocean ``dist`` (see :mod:`permamap.demo.layers`; both are continuous fields, so is every climate
field built here):

- annual mean   T̄ = a0 + a1·x + a2·x² + a3·cw + a4·cn − 6.5 K/km·z,   x = (φ − 50°)/10°
- half-range    A = b0 + b1·x + b2·cw + b3·cn + b4·x·cw  (continentality: stronger cycle inland)
- month m       T_m = T̄ − A·cos(2π(m − 0.3)/12)             (coldest in January, warmest in July)
- precipitation ln P = p0 + p1·x + p2·x² + p3·cw + p4·cn (mm/yr), summer-peaked with seasonality s
- cw = 1 − exp(−fetch/4000 km), cn = 1 − exp(−dist/4000 km)

The constants were fitted by ``scripts/calibrate_climate.py`` (least squares over the 825 land
cells of 25–84 °N × 25–180 °E in NCEP/NCAR Reanalysis 1 air.sig995 1981–2010 long-term means and
CMAP V1902 precipitation) against the fetch smoothed over σ = 500 km (issue 11): RMSE 2.06 K for
T̄, 1.76 K for A, 0.60 in ln P, 0.24 in s (with the earlier per-parallel fetch: 2.17 K, 2.03 K,
0.60, 0.26). They describe the 1981–2010 climate, centred on 1995.5.

Mass-elevation effect: a large high plateau heats the air above it, so the Tibetan Plateau is
several kelvin warmer than the free-air lapse rate from a sea-level field gives (Yao et al. 2013,
J. Mt. Sci. 10:1; Zhang et al. 2016, J. Geogr. Sci. 26:1223). The fitted field above was 5 K too
cold in the warmest quarter there against WorldClim 2 (bio10, 1°). ``T̄`` gains
``1.5 K/km × plateau height`` (elevation smoothed over σ = 100 km,
:func:`permamap.demo.layers.plateau_height_m`): the slope of WorldClim bio10 minus the virtual
warmest quarter against the plateau height over the land of the domain (6,105 1° cells, with an intercept; fitted by
``scripts/calibrate_climate.py``: 1.48 K/km, RMSE of that residual 3.18 → 3.10 K). NCEP's 2.5° reanalysis is
known to be too cold over the plateau, so the NCEP fit above is kept and this term added to it.

Warming: an Arctic-amplified linear trend, 0.30 K/decade at ≤ 40 °N rising to 0.73 K/decade at
≥ 66.5 °N (Rantanen et al. 2022, Commun. Earth Environ. 3:168: Arctic 0.73 K/decade over
1979–2021, nearly four times the global 0.19 K/decade; mid-latitude Eurasian land ≈ 0.3 K/decade,
Berkeley Earth).

Year-to-year noise: a smooth, seeded anomaly field per year (12 random plane waves on the sphere,
wavelengths ≈ 5,000–13,000 km), independent between years, the same at every resolution and every
tile, with σ = 0.4 decade × the local trend: 0.12 K at ≤ 40 °N to 0.29 K at ≥ 66.5 °N; and ±3 %
precipitation anomalies (``PRECIP_NOISE``: with ±10 % the 9-year snowfall alone moved the true
extent by ±0.3 M km² between epochs, against a warming signal of −0.35 M km² per five years). The amplitude is chosen so that the warming signal has emerged from the
noise (in the sense of Hawkins & Sutton 2012, Geophys. Res. Lett. 39:L01702, "Time of emergence of
climate signals") for the quantity the pipeline uses, the 9-year window mean: consecutive windows
five years apart share four years, so their difference has the noise σ·√10/9 ≈ 0.35σ against the
signal 0.5 decade × trend, a signal-to-noise ratio of 0.5 / (0.35 · 0.4) ≈ 3.6 everywhere. On the
demo grid the window-mean MAAT then rises from each epoch to the next (2000 → … → 2020) in every
land cell with seed 42, and in ≥ 97 % of land cells for each of the 30 seeds 30–59 (lowest
97.2 %); with the earlier σ of 0.5–1.1 K it rose in only 40 % (2000 → 2005) and 7 %
(2015 → 2020). Real annual means vary more (Siberian stations: about 1 K) and real 9-year means
do not rise everywhere; the virtual world trades that realism for epochs whose order the change
maps can be checked against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

__all__ = [
    "BASE_YEAR",
    "UnitVectors",
    "annual_anomaly_degc",
    "climatology",
    "combine_years",
    "monthly_climate",
    "precip_anomaly_factor",
    "trend_k_per_decade",
    "unit_vectors",
    "unit_vectors_of_axes",
    "window_climatology",
    "year_anomalies",
]

A_T = (11.466, -8.5721, -0.00167, -12.468, 15.020)
B_AMP = (11.2951, 0.8648, 11.1393, -4.2973, 4.0535)
P_LN = (6.5886, -0.0252, -0.1579, -0.3118, -1.7353)
S_SEAS = (0.4144, -0.1196, 1.174, -1.7636)
FETCH_SCALE_KM = 4000.0
DIST_SCALE_KM = 4000.0
LAPSE_K_PER_KM = -6.5
MASS_ELEVATION_K_PER_KM = 1.5  # warming per km of plateau height (fitted to WorldClim bio10)
BASE_YEAR = 1995.5
TREND_LOW_K_PER_DECADE = 0.30
TREND_ARCTIC_K_PER_DECADE = 0.73
# σ of the annual temperature anomaly in decades of the local trend (see the module docstring)
NOISE_DECADES = 0.4
PRECIP_NOISE = 0.03  # σ of ln(precipitation) from year to year (see the module docstring)
_ANOMALY_WAVES = 12
_ANOMALY_WAVENUMBERS = (3.0, 8.0)  # per Earth radius: wavelengths of about 5,000–13,000 km
_MONTH = np.arange(12, dtype=np.float32)


def trend_k_per_decade(lat: np.ndarray) -> np.ndarray:
    """Warming rate (K/decade): 0.30 at ≤ 40 °N rising linearly to 0.73 at ≥ 66.5 °N."""
    w = np.clip((np.asarray(lat, dtype=np.float32) - 40.0) / (66.5 - 40.0), 0.0, 1.0)
    return TREND_LOW_K_PER_DECADE + (TREND_ARCTIC_K_PER_DECADE - TREND_LOW_K_PER_DECADE) * w


def climatology(
    lat: np.ndarray,
    elev_m: np.ndarray,
    fetch_km: np.ndarray,
    dist_km: np.ndarray,
    plateau_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """1981–2010 monthly temperature (°C) and precipitation (mm/month), shape ``(12, *lat.shape)``.

    ``plateau_m`` (:func:`permamap.demo.layers.plateau_height_m`) adds the mass-elevation effect,
    ``MASS_ELEVATION_K_PER_KM`` per km of plateau height (module docstring).
    """
    x = (np.asarray(lat, dtype=np.float32) - 50.0) / 10.0
    cw = 1.0 - np.exp(-np.asarray(fetch_km, dtype=np.float32) / FETCH_SCALE_KM)
    cn = 1.0 - np.exp(-np.asarray(dist_km, dtype=np.float32) / DIST_SCALE_KM)
    z_km = np.asarray(elev_m, dtype=np.float32) / 1000.0
    t_ann = A_T[0] + A_T[1] * x + A_T[2] * x**2 + A_T[3] * cw + A_T[4] * cn + LAPSE_K_PER_KM * z_km
    if plateau_m is not None:
        t_ann = t_ann + MASS_ELEVATION_K_PER_KM * np.asarray(plateau_m, np.float32) / 1000.0
    amp = np.maximum(
        B_AMP[0] + B_AMP[1] * x + B_AMP[2] * cw + B_AMP[3] * cn + B_AMP[4] * x * cw, 1.0
    )
    p_ann = np.exp(P_LN[0] + P_LN[1] * x + P_LN[2] * x**2 + P_LN[3] * cw + P_LN[4] * cn)
    seas = np.clip(S_SEAS[0] + S_SEAS[1] * x + S_SEAS[2] * cw + S_SEAS[3] * cn, 0.0, 0.95)
    shape = (12,) + (1,) * x.ndim
    phase_t = np.cos(2 * np.pi * (_MONTH - 0.3) / 12).reshape(shape)
    phase_p = np.cos(2 * np.pi * (_MONTH - 6.3) / 12).reshape(shape)
    t = t_ann[None] - amp[None] * phase_t
    p = (p_ann / 12.0)[None] * (1.0 + seas[None] * phase_p)
    return t.astype(np.float32), p.astype(np.float32)


def _wave_parameters(
    seed: int, year: int, n: int, wavenumbers: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions ``(n, 3)`` (unit vectors), wavenumbers and phases of one field's plane waves."""
    rng = np.random.default_rng([seed, year])
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    wavenumber = rng.uniform(wavenumbers[0], wavenumbers[1], size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    return dirs, wavenumber, phase


#: Points on the unit sphere ``(x, y, z)``, float64 (:func:`unit_vectors`).
UnitVectors = tuple[np.ndarray, np.ndarray, np.ndarray]


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> UnitVectors:
    """Points on the unit sphere ``(x, y, z)`` (float64, broadcast shape of ``lon`` and ``lat``).

    Computed once per window and handed to :func:`annual_anomaly_degc` and its kin (``xyz=``), so
    the 19 fields of an epoch share the trigonometry.
    """
    la, lo = np.radians(lat), np.radians(lon)
    cos_la = np.cos(la)
    x, y, z = cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)
    return tuple(np.ascontiguousarray(v) for v in np.broadcast_arrays(x, y, z))  # type: ignore[return-value]


def unit_vectors_of_axes(
    lon_axis: np.ndarray, lat_axis: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> UnitVectors:
    """:func:`unit_vectors` at the points ``(lon_axis[cols], lat_axis[rows])``, bit for bit.

    The trigonometry runs on the axes only (one value per row and per column of a window).

    >>> lon, lat = np.array([10.0, 20.0]), np.array([60.0, 50.0, 40.0])
    >>> rows, cols = np.array([0, 2, 1]), np.array([1, 0, 1])
    >>> a = unit_vectors_of_axes(lon, lat, rows, cols)
    >>> b = unit_vectors(lon[cols], lat[rows])
    >>> all(np.array_equal(u, v) for u, v in zip(a, b))
    True
    """
    la, lo = np.radians(lat_axis), np.radians(lon_axis)
    cos_la = np.cos(la)[rows]
    return cos_la * np.cos(lo)[cols], cos_la * np.sin(lo)[cols], np.sin(la)[rows]


def _waves(
    seed: int,
    year: int,
    lon: np.ndarray,
    lat: np.ndarray,
    n: int = 6,
    wavenumbers: tuple[float, float] = (2.0, 5.0),
    xyz: UnitVectors | None = None,
) -> np.ndarray:
    """A smooth unit-variance random field on the sphere for one year (sum of planar waves in 3-D).

    ``wavenumbers`` bound the waves' wavenumbers per Earth radius; the default (2, 5) gives
    wavelengths of roughly 8,000–20,000 km. ``xyz`` is :func:`unit_vectors` of ``lon, lat`` when
    the caller has it already. The sum is :func:`_wave_sum`: identical with and without numba.
    """
    dirs, wavenumber, phase = _wave_parameters(seed, year, n, wavenumbers)
    if xyz is None:
        xyz = unit_vectors(lon, lat)
    return _wave_sum(dirs, wavenumber, phase, xyz) * np.float32(np.sqrt(2.0 / n))


def _wave_sum_numpy(
    dirs: np.ndarray,
    wavenumber: np.ndarray,
    phase: np.ndarray,
    xyz: UnitVectors,
) -> np.ndarray:
    """The reference: ``Σ_k float32(cos(wavenumber_k · (dir_k · xyz) + phase_k))``, in wave order."""
    out = np.zeros(xyz[0].shape, dtype=np.float32)
    for k in range(len(wavenumber)):
        proj = dirs[k, 0] * xyz[0] + dirs[k, 1] * xyz[1] + dirs[k, 2] * xyz[2]
        out += np.cos(wavenumber[k] * proj + phase[k]).astype(np.float32)
    return out


def _wave_sum(
    dirs: np.ndarray,
    wavenumber: np.ndarray,
    phase: np.ndarray,
    xyz: UnitVectors,
) -> np.ndarray:
    """:func:`_wave_sum_numpy`, through the compiled kernel when numba is installed.

    Bit-identical either way: the kernel's cosine is within 1e-15 of the C library's (which numpy
    calls), and a cell is recomputed by :func:`_wave_sum_numpy` whenever any of its cosines lies
    within ``_COS_MARGIN`` of a float32 rounding boundary (about 1 cell in 1,000 per field), so every
    float32 term, and so the sum, equals the reference.
    """
    kernel = _kernel()
    if kernel is None or xyz[0].size < 64:
        return _wave_sum_numpy(dirs, wavenumber, phase, xyz)
    shape = xyz[0].shape
    flat = [np.ascontiguousarray(v, dtype=np.float64).ravel() for v in xyz]
    out = np.zeros(flat[0].size, dtype=np.float32)
    unsure = np.zeros(flat[0].size, dtype=np.uint8)
    redo = np.empty(flat[0].size, dtype=np.int64)
    n_redo = kernel(*flat, np.ascontiguousarray(dirs), wavenumber, phase, out, unsure, redo)
    if n_redo:
        sel = redo[:n_redo]
        out[sel] = _wave_sum_numpy(
            dirs, wavenumber, phase, (flat[0][sel], flat[1][sel], flat[2][sel])
        )
    return out.reshape(shape)


# fdlibm's split of π/2 (33 leading bits, then the rest) and its minimax polynomials of cos and sin
# on [-π/4, π/4]: the kernel's cosine is within 2.3e-16 of the C library's for |arguments| < 20
# (measured on 5 million arguments); the margin leaves 4,000 times that.
_PIO2_HI = 1.57079632673412561417e00
_PIO2_LO = 6.07710050650619224932e-11
_INV_PIO2 = 6.36619772367581382433e-01
_COS_C = (
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
)
_SIN_S = (
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
)
_COS_MARGIN = 1e-12


@lru_cache(maxsize=1)
def _kernel() -> Callable[..., int] | None:
    """The compiled wave-sum loop, or None without numba (then numpy computes the same sums)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - exercised on machines without numba
        return None
    c1, c2, c3, c4, c5, c6 = _COS_C
    s1, s2, s3, s4, s5, s6 = _SIN_S
    pio2_hi, pio2_lo, inv_pio2, margin = _PIO2_HI, _PIO2_LO, _INV_PIO2, _COS_MARGIN

    @numba.njit(nogil=True, cache=True, fastmath=False, boundscheck=False)
    def wave_sum(
        x, y, z, dirs, wavenumber, phase, out, unsure, redo
    ):  # pragma: no cover - compiled
        for k in range(dirs.shape[0]):
            d0, d1, d2 = dirs[k, 0], dirs[k, 1], dirs[k, 2]
            kk, ph = wavenumber[k], phase[k]
            for i in range(x.shape[0]):
                a = kk * (d0 * x[i] + d1 * y[i] + d2 * z[i]) + ph
                q = math.floor(a * inv_pio2 + 0.5)
                r = (a - q * pio2_hi) - q * pio2_lo
                r2 = r * r
                c = (
                    1.0
                    - 0.5 * r2
                    + r2 * r2 * (c1 + r2 * (c2 + r2 * (c3 + r2 * (c4 + r2 * (c5 + r2 * c6)))))
                )
                s = r + r * r2 * (s1 + r2 * (s2 + r2 * (s3 + r2 * (s4 + r2 * (s5 + r2 * s6)))))
                m = np.int64(q) & 3
                v = s if (m & 1) == 1 else c
                v = -v if (m == 1) | (m == 2) else v
                lo = np.float32(v - margin)
                doubt = (lo != np.float32(v + margin)) | (abs(a) > 1000.0)
                unsure[i] = unsure[i] | np.uint8(doubt)
                out[i] += lo
        n_redo = 0
        for i in range(x.shape[0]):
            if unsure[i]:
                redo[n_redo] = i
                n_redo += 1
        return n_redo

    return wave_sum


def annual_anomaly_degc(
    seed: int,
    year: int,
    lon: np.ndarray,
    lat: np.ndarray,
    xyz: UnitVectors | None = None,
) -> np.ndarray:
    """Trend plus year-to-year anomaly of the annual temperature (K) relative to 1981–2010.

    The anomaly's σ is ``NOISE_DECADES`` × the local trend per decade (module docstring).
    ``xyz``: :func:`unit_vectors` of the points, if already computed.
    """
    rate = trend_k_per_decade(np.asarray(lat, dtype=np.float32))
    noise = _waves(
        seed, year, lon, lat, n=_ANOMALY_WAVES, wavenumbers=_ANOMALY_WAVENUMBERS, xyz=xyz
    )
    return rate * np.float32((year - BASE_YEAR) / 10.0) + rate * np.float32(NOISE_DECADES) * noise


def precip_anomaly_factor(
    seed: int,
    year: int,
    lon: np.ndarray,
    lat: np.ndarray,
    xyz: UnitVectors | None = None,
) -> np.ndarray:
    """Multiplicative year-to-year precipitation anomaly (mean 1, about ±3 %, ``PRECIP_NOISE``)."""
    return np.exp(PRECIP_NOISE * _waves(seed + 7919, year, lon, lat, xyz=xyz)).astype(np.float32)


def monthly_climate(
    seed: int,
    years: list[int] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    clim_t: np.ndarray,
    clim_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly temperature and precipitation for each year: arrays ``(year, 12, ...)``."""
    xyz = unit_vectors(lon, lat)
    t = np.stack([clim_t + annual_anomaly_degc(seed, int(y), lon, lat, xyz)[None] for y in years])
    p = np.stack([clim_p * precip_anomaly_factor(seed, int(y), lon, lat, xyz)[None] for y in years])
    return t, p


def window_climatology(
    seed: int,
    years: list[int] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    clim_t: np.ndarray,
    clim_p: np.ndarray,
    xyz: UnitVectors | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean monthly climate over ``years`` (the moving window), without materialising every year.

    Equal to ``monthly_climate(...)`` averaged over the year axis, because anomalies are additive
    in temperature and multiplicative per year in precipitation. ``xyz``: :func:`unit_vectors` of
    the points, if already computed.
    """
    if xyz is None:
        xyz = unit_vectors(lon, lat)
    fields = [year_anomalies(seed, int(y), lon, lat, xyz) for y in years]
    return combine_years(clim_t, clim_p, fields)


def year_anomalies(
    seed: int, year: int, lon: np.ndarray, lat: np.ndarray, xyz: UnitVectors | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One year's temperature anomaly (K, :func:`annual_anomaly_degc`) and precipitation factor.

    What :func:`window_climatology` averages; a caller that keeps them can share them between
    the overlapping windows of neighbouring epochs (:func:`combine_years`).
    """
    if xyz is None:
        xyz = unit_vectors(lon, lat)
    return (
        annual_anomaly_degc(seed, year, lon, lat, xyz),
        precip_anomaly_factor(seed, year, lon, lat, xyz),
    )


def combine_years(
    clim_t: np.ndarray, clim_p: np.ndarray, fields: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """The window-mean climate from each year's :func:`year_anomalies`, in the order of the years."""
    dt = np.mean([f[0] for f in fields], axis=0)
    fp = np.mean([f[1] for f in fields], axis=0)
    return (clim_t + dt[None]).astype(np.float32), (clim_p * fp[None]).astype(np.float32)
