"""Derived environmental factors: small pure functions with units in their names and docstrings.

Climate factors take a monthly climatology with the month on axis 0 (12, ...), in °C or mm/month.
Terrain factors take an elevation window with a one-cell halo on each side.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DAYS_IN_MONTH",
    "climate_factors",
    "degree_days",
    "fdd_degc_days",
    "frost_number",
    "maat_degc",
    "precip_sum_mm",
    "snow_cover_days",
    "tdd_degc_days",
    "terrain_factors",
]

DAYS_IN_MONTH = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float32)
COLD_MONTHS = (0, 1, 2, 3, 9, 10, 11)  # October–April
WARM_MONTHS = (4, 5, 6, 7, 8)  # May–September


def _days(ndim: int) -> np.ndarray:
    return DAYS_IN_MONTH.reshape(12, *([1] * (ndim - 1)))


def maat_degc(t_month_degc: np.ndarray) -> np.ndarray:
    """Mean annual air temperature (°C): day-weighted mean of the 12 monthly means.

    >>> float(maat_degc(np.full(12, -3.0)))
    -3.0
    """
    d = _days(t_month_degc.ndim)
    return (t_month_degc * d).sum(axis=0) / d.sum()


def degree_days(
    t_month_degc: np.ndarray, threshold_degc: float = 0.0, above: bool = True
) -> np.ndarray:
    """Degree days (°C·days) above (or below) a threshold from monthly means.

    >>> float(degree_days(np.array([-10.0] * 6 + [10.0] * 6)))
    1840.0
    """
    d = _days(t_month_degc.ndim)
    excess = t_month_degc - threshold_degc if above else threshold_degc - t_month_degc
    return (np.maximum(excess, 0.0) * d).sum(axis=0)


def tdd_degc_days(t_month_degc: np.ndarray) -> np.ndarray:
    """Thawing degree days (°C·days above 0 °C)."""
    return degree_days(t_month_degc, 0.0, above=True)


def fdd_degc_days(t_month_degc: np.ndarray) -> np.ndarray:
    """Freezing degree days (°C·days below 0 °C, positive numbers)."""
    return degree_days(t_month_degc, 0.0, above=False)


def frost_number(fdd: np.ndarray, tdd: np.ndarray) -> np.ndarray:
    """Nelson & Outcalt (1987) air frost number √FDD / (√FDD + √TDD), 0–1; > 0.5 suggests permafrost.

    >>> float(frost_number(np.array(400.0), np.array(100.0)))
    0.6666666666666666
    """
    sf, st = np.sqrt(np.maximum(fdd, 0)), np.sqrt(np.maximum(tdd, 0))
    total = sf + st
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sf / np.where(total > 0, total, 1), 0.5)


def precip_sum_mm(p_month_mm: np.ndarray, months: tuple[int, ...] | None = None) -> np.ndarray:
    """Precipitation total (mm) over ``months`` (0 = January; all by default)."""
    sel = p_month_mm if months is None else p_month_mm[list(months)]
    return sel.sum(axis=0)


def snow_cover_days(t_month_degc: np.ndarray, p_month_mm: np.ndarray) -> np.ndarray:
    """Snow-cover days per year from monthly temperature and precipitation (a degree-day snow rule).

    A month is snow-covered in the share ``1 / (1 + exp(T / 1.5 °C))`` of its days; that share is
    scaled by how much snow falls, ``1 − exp(−SWE / 40 mm)``, so that dry cold regions (Mongolia,
    the Tibetan Plateau) keep patchy cover, as MODIS shows.

    >>> round(float(snow_cover_days(np.full(12, -20.0), np.full(12, 50.0))), 1)
    365.2
    """
    snow_share = 1.0 / (1.0 + np.exp(np.clip(t_month_degc / 1.5, -50, 50)))
    swe = (p_month_mm * snow_share).sum(axis=0)
    d = _days(t_month_degc.ndim)
    return (snow_share * d).sum(axis=0) * (1.0 - np.exp(-swe / 40.0))


def climate_factors(t_month_degc: np.ndarray, p_month_mm: np.ndarray) -> dict[str, np.ndarray]:
    """The catalogue's climate factors from a monthly climatology ``(12, ...)`` (°C, mm/month).

    Snow-cover days are not among them: a snow product may provide them, else
    :func:`snow_cover_days`.

    >>> out = climate_factors(np.full((12, 1), -2.0), np.full((12, 1), 10.0))
    >>> sorted(out)[:4], float(out["fdd"][0])
    (['fdd', 'frost_number', 'maat', 'precip_annual'], 730.5)
    """
    t, p = t_month_degc, p_month_mm
    tdd, fdd = tdd_degc_days(t), fdd_degc_days(t)
    return {
        "maat": maat_degc(t),
        "t_warmest": t.max(axis=0),
        "t_coldest": t.min(axis=0),
        "t_range": t.max(axis=0) - t.min(axis=0),
        "tdd": tdd,
        "fdd": fdd,
        "frost_number": frost_number(fdd, tdd),
        "precip_annual": precip_sum_mm(p),
        "precip_cold": precip_sum_mm(p, COLD_MONTHS),
        "precip_warm": precip_sum_mm(p, WARM_MONTHS),
    }


def snowfall_swe_mm(t_month_degc: np.ndarray, p_month_mm: np.ndarray) -> np.ndarray:
    """Annual snowfall in mm water equivalent (the same snow share as :func:`snow_cover_days`)."""
    snow_share = 1.0 / (1.0 + np.exp(np.clip(t_month_degc / 1.5, -50, 50)))
    return (p_month_mm * snow_share).sum(axis=0)


def terrain_factors(
    elev_halo_m: np.ndarray, dx_m: np.ndarray, dy_m: float
) -> dict[str, np.ndarray]:
    """Slope (degrees), northness (cos aspect · sin slope) and roughness (TRI, m) of the window.

    ``elev_halo_m`` has one extra cell on each side; ``dx_m`` is the east-west cell size per row of
    the halo array (it shrinks with latitude), ``dy_m`` the north-south cell size.

    A slope rising 10 m per 100 m cell towards the north faces south (northness < 0):

    >>> z = np.add.outer(np.arange(4.0) * -10, np.zeros(4))
    >>> out = terrain_factors(z, np.full(4, 100.0), 100.0)
    >>> round(float(out["slope"][0, 0]), 3), round(float(out["northness"][0, 0]), 3)
    (5.711, -0.1)
    """
    z = elev_halo_m.astype(np.float64)
    dx = np.asarray(dx_m, dtype=np.float64).reshape(-1, 1)
    dzdx = (z[1:-1, 2:] - z[1:-1, :-2]) / (2 * dx[1:-1])
    # rows run north to south: z[:-2] is the northern neighbour
    dzdy_north = (z[:-2, 1:-1] - z[2:, 1:-1]) / (2 * dy_m)
    grad = np.hypot(dzdx, dzdy_north)
    slope = np.degrees(np.arctan(grad))
    with np.errstate(invalid="ignore", divide="ignore"):
        # downslope direction points north when the terrain rises to the south: aspect = direction faced
        northness = np.where(grad > 0, -dzdy_north / np.where(grad > 0, grad, 1), 0.0) * np.sin(
            np.arctan(grad)
        )
    centre = z[1:-1, 1:-1]
    neighbours = [
        z[r : r + centre.shape[0], c : c + centre.shape[1]]
        for r in range(3)
        for c in range(3)
        if (r, c) != (1, 1)
    ]
    roughness = np.mean([np.abs(n - centre) for n in neighbours], axis=0)
    return {
        "slope": slope.astype(np.float32),
        "northness": northness.astype(np.float32),
        "roughness": roughness.astype(np.float32),
    }
