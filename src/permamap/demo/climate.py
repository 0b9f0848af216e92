"""Monthly air temperature and precipitation of the virtual world, from physical rules.

For a point at latitude φ, elevation z, westerly fetch over land ``fetch`` and distance to the open
ocean ``dist`` (see :mod:`permamap.demo.layers`):

- annual mean   T̄ = a0 + a1·x + a2·x² + a3·cw + a4·cn − 6.5 K/km·z,   x = (φ − 50°)/10°
- half-range    A = b0 + b1·x + b2·cw + b3·cn + b4·x·cw  (continentality: stronger cycle inland)
- month m       T_m = T̄ − A·cos(2π(m − 0.3)/12)             (coldest in January, warmest in July)
- precipitation ln P = p0 + p1·x + p2·x² + p3·cw + p4·cn (mm/yr), summer-peaked with seasonality s
- cw = 1 − exp(−fetch/8000 km), cn = 1 − exp(−dist/4000 km)

The constants were fitted once by ``scripts/calibrate_climate.py`` (least squares over the 825
land cells of 25–84 °N × 25–180 °E in NCEP/NCAR Reanalysis 1 air.sig995 1981–2010 long-term means
and CMAP V1902 precipitation; RMSE 2.2 K for T̄, 2.0 K for A, 0.60 in ln P). They describe the
1981–2010 climate, centred on 1995.5.

Warming: an Arctic-amplified linear trend, 0.30 K/decade at ≤ 40 °N rising to 0.73 K/decade at
≥ 66.5 °N (Rantanen et al. 2022, Commun. Earth Environ. 3:168: Arctic 0.73 K/decade over
1979–2021, nearly four times the global 0.19 K/decade; mid-latitude Eurasian land ≈ 0.3 K/decade,
Berkeley Earth). Year-to-year noise: a smooth, seeded anomaly field per year (σ 0.5 K at 30 °N to
1.1 K at 80 °N) and ±10 % precipitation anomalies, the same at every resolution and every tile.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BASE_YEAR",
    "annual_anomaly_degc",
    "climatology",
    "monthly_climate",
    "precip_anomaly_factor",
    "trend_k_per_decade",
    "window_climatology",
]

A_T = (10.048, -8.5166, 0.00079, -12.215, 10.409)
B_AMP = (12.42, 1.4298, 10.8191, 0.2758, 4.1206)
P_LN = (6.5693, -0.0253, -0.1596, -0.3505, -1.8357)
S_SEAS = (0.5651, -0.1269, 1.0736, -1.2788)
FETCH_SCALE_KM = 8000.0
DIST_SCALE_KM = 4000.0
LAPSE_K_PER_KM = -6.5
BASE_YEAR = 1995.5
TREND_LOW_K_PER_DECADE = 0.30
TREND_ARCTIC_K_PER_DECADE = 0.73
_MONTH = np.arange(12, dtype=np.float32)


def trend_k_per_decade(lat: np.ndarray) -> np.ndarray:
    """Warming rate (K/decade): 0.30 at ≤ 40 °N rising linearly to 0.73 at ≥ 66.5 °N."""
    w = np.clip((np.asarray(lat, dtype=np.float32) - 40.0) / (66.5 - 40.0), 0.0, 1.0)
    return TREND_LOW_K_PER_DECADE + (TREND_ARCTIC_K_PER_DECADE - TREND_LOW_K_PER_DECADE) * w


def climatology(
    lat: np.ndarray, elev_m: np.ndarray, fetch_km: np.ndarray, dist_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """1981–2010 monthly temperature (°C) and precipitation (mm/month), shape ``(12, *lat.shape)``."""
    x = (np.asarray(lat, dtype=np.float32) - 50.0) / 10.0
    cw = 1.0 - np.exp(-np.asarray(fetch_km, dtype=np.float32) / FETCH_SCALE_KM)
    cn = 1.0 - np.exp(-np.asarray(dist_km, dtype=np.float32) / DIST_SCALE_KM)
    z_km = np.asarray(elev_m, dtype=np.float32) / 1000.0
    t_ann = A_T[0] + A_T[1] * x + A_T[2] * x**2 + A_T[3] * cw + A_T[4] * cn + LAPSE_K_PER_KM * z_km
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


def _waves(seed: int, year: int, lon: np.ndarray, lat: np.ndarray, n: int = 6) -> np.ndarray:
    """A smooth unit-variance random field on the sphere for one year (sum of planar waves in 3-D)."""
    rng = np.random.default_rng([seed, year])
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    wavenumber = rng.uniform(2.0, 5.0, size=n)  # wavelengths of roughly 8,000–20,000 km
    phase = rng.uniform(0, 2 * np.pi, size=n)
    la, lo = np.radians(lat), np.radians(lon)
    xyz = (np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la))
    out = np.zeros(np.broadcast(la, lo).shape, dtype=np.float32)
    for k in range(n):
        proj = dirs[k, 0] * xyz[0] + dirs[k, 1] * xyz[1] + dirs[k, 2] * xyz[2]
        out += np.cos(wavenumber[k] * proj + phase[k]).astype(np.float32)
    return out * np.float32(np.sqrt(2.0 / n))


def annual_anomaly_degc(seed: int, year: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Trend plus year-to-year anomaly of the annual temperature (K) relative to 1981–2010."""
    lat32 = np.asarray(lat, dtype=np.float32)
    sigma = 0.5 + 0.6 * np.clip((lat32 - 30.0) / 50.0, 0.0, 1.0)
    trend = trend_k_per_decade(lat32) * (year - BASE_YEAR) / 10.0
    return trend + sigma * _waves(seed, year, lon, lat)


def precip_anomaly_factor(seed: int, year: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Multiplicative year-to-year precipitation anomaly (mean 1, about ±10 %)."""
    return np.exp(0.1 * _waves(seed + 7919, year, lon, lat)).astype(np.float32)


def monthly_climate(
    seed: int,
    years: list[int] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    clim_t: np.ndarray,
    clim_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly temperature and precipitation for each year: arrays ``(year, 12, ...)``."""
    t = np.stack([clim_t + annual_anomaly_degc(seed, int(y), lon, lat)[None] for y in years])
    p = np.stack([clim_p * precip_anomaly_factor(seed, int(y), lon, lat)[None] for y in years])
    return t, p


def window_climatology(
    seed: int,
    years: list[int] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    clim_t: np.ndarray,
    clim_p: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean monthly climate over ``years`` (the moving window), without materialising every year.

    Equal to ``monthly_climate(...)`` averaged over the year axis, because anomalies are additive
    in temperature and multiplicative per year in precipitation.
    """
    dt = np.mean([annual_anomaly_degc(seed, int(y), lon, lat) for y in years], axis=0)
    fp = np.mean([precip_anomaly_factor(seed, int(y), lon, lat) for y in years], axis=0)
    return (clim_t + dt[None]).astype(np.float32), (clim_p * fp[None]).astype(np.float32)
