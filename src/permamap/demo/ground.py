"""The ground-thermal rule of the virtual world: which cells hold permafrost, and why.

The truth is the equilibrium TTOP model (Smith & Riseborough 2002, Permafrost Periglac. Process.
13:1–15) applied to the window-mean monthly climate:

``TTOP = (r_k · n_t · TDD − n_f · FDD) / 365 + ε``,   permafrost where ``TTOP < 0 °C``,

with each term moved by the factors that move it in the field (each effect can be switched off, see
:data:`EFFECTS`, to measure how much it matters):

``snow`` — freezing n-factor ``n_f = 1 − 0.9 · S · D``: ``S = 1 − exp(−SWE / 150 mm)`` for the depth
    (150 mm water ≈ 55 cm of snow at 0.27 g cm⁻³, about where insulation saturates) and ``D`` the
    share of the freezing season that is snow-covered (snow-cover days over freezing days). Deep,
    lasting snow gives ``n_f ≈ 0.2–0.35``, thin or short snow ``0.8–1``: the range measured by
    Karunaratne & Burn (2004, Can. J. Earth Sci. 41:1437) and Smith & Riseborough (2002).
``vegetation`` — thawing n-factor of the canopy and moss, ``n_t = 1.15 − 0.6 · C`` with the cover
    ``C`` rising with the warmest month (tree line near 10 °C) and summer rain: dense forest 0.55,
    tundra ≈ 0.9, bare or sparse ground 1.15 (Klene et al. 2001, Arct. Antarct. Alp. Res. 33:140,
    tundra 0.62–1.13; Karunaratne & Burn 2004, spruce forest 0.47–0.69; Lunardini 1978, CRREL 78-27, gravel and bare soil above 1).
``radiation`` — bare ground under a high summer sun warms above the air: the thawing n-factor
    gains ``0.75 · (1 − C) · max(I / I₆₀ − 1, 0)`` where the clear-sky summer irradiance
    ``I ∝ cos(φ − 23°) · (1 + 0.08 · z/km)`` grows with elevation (≈ 8 % per km) and towards the
    south, relative to 60 °N at sea level; on the dry Tibetan Plateau ``n_t`` reaches ≈ 1.6 and the
    surface runs 2–4 K above the air (Wu & Zhang 2008, J. Geophys. Res. 113:D13108).
``topography`` — pole-facing slopes receive less sun: ``n_t`` falls by ``1.2 · northness``
    (northness = cos(aspect) · sin(slope)), so north and south faces of 30° slopes differ by about
    2–3 K in ground surface temperature in summer-dominated terms, as in the Alps (Gubler et al.
    2011, The Cryosphere 5:431).
``organic`` — the thermal offset of an organic layer: thawed peat conducts far worse than frozen
    peat, ``r_k = 1 − 0.5 · min(SOC / 15 %, 1)`` (Williams & Smith 1989, *The Frozen Earth*;
    offsets of 1–3 K under peat, Burn & Smith 1988, Arctic 41:99).
``moisture`` — wet fine-grained mineral soils add a smaller offset, dry sands none:
    ``r_k ×= 1 − 0.25 · W · (1 − sand/100) · (0.8 + 0.4 · min(clay/60, 1))`` with the summer wetness
    ``W = P_warm / (P_warm + 0.35 · TDD)`` (a degree-day stand-in for evaporative demand);
    Romanovsky & Osterkamp (1995, Permafrost Periglac. Process. 6:313) measured 0.2–1 K.

``ε`` is a smooth static field (±0.3 K) for what no factor sees (e.g. geothermal flux, ground ice).
Everything here works on arrays of any shape; terrain comes from the elevation at a fixed 5 arc-min
stencil (the native spacing of the elevation layer), so the truth at a point does not depend on the
grid it is mapped on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..contracts import M_PER_DEGREE
from ..covariates import factors as fx

__all__ = ["EFFECTS", "GroundInputs", "terrain_at", "ttop_terms"]

EFFECTS: tuple[str, ...] = ("snow", "vegetation", "radiation", "topography", "organic", "moisture")
STENCIL_DEG = 1.0 / 12.0  # the elevation layer's native spacing
SNOW_INSULATION = 0.9  # largest reduction of the freezing n-factor by snow
SNOW_DEPTH_MM = 150.0  # snowfall (mm water) at which snow reaches 63 % of its insulation
NT_BARE = 1.15  # thawing n-factor of bare ground
NT_CANOPY = 0.6  # reduction of n_t by a full canopy and moss cover
RADIATION = 0.75  # n_t gain per unit of relative summer irradiance above 60 °N sea level
NORTHNESS = 1.2  # n_t reduction per unit northness
ORGANIC = 0.5  # largest r_k reduction by an organic layer (at SOC ≥ 15 %)
MOISTURE = 0.25  # largest r_k reduction by wet fine-grained soil


@dataclass(frozen=True)
class GroundInputs:
    """What the rule reads at each point: window-mean monthly climate ``(12, ...)`` and the rest."""

    t: np.ndarray  # °C, (12, ...)
    p: np.ndarray  # mm/month, (12, ...)
    elevation: np.ndarray  # m
    slope: np.ndarray  # degrees
    northness: np.ndarray  # 1
    clay: np.ndarray  # percent (NaN where missing)
    sand: np.ndarray  # percent
    soc: np.ndarray  # percent organic carbon
    lat: np.ndarray  # degrees north
    residual: np.ndarray  # K, the static field for what the factors do not see


def terrain_at(
    lon: np.ndarray, lat: np.ndarray, elevation: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees) and northness from central differences of ``elevation(lon, lat)`` at ±1/12°."""
    h = STENCIL_DEG
    lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    dy = 2 * h * M_PER_DEGREE
    dx = dy * np.cos(np.radians(lat))
    dzdx = (elevation(lon + h, lat) - elevation(lon - h, lat)) / dx
    dzdy_north = (elevation(lon, lat + h) - elevation(lon, lat - h)) / dy
    grad = np.hypot(dzdx, dzdy_north)
    angle = np.arctan(grad)
    slope = np.degrees(angle)
    with np.errstate(invalid="ignore", divide="ignore"):
        northness = np.where(grad > 0, -dzdy_north / np.where(grad > 0, grad, 1), 0.0)
    return slope.astype(np.float32), (northness * np.sin(angle)).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def ttop_terms(g: GroundInputs, off: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """``n_t``, ``n_f``, ``r_k`` and ``ttop`` (°C); effects named in ``off`` take neutral values.

    Neutral: ``n_f = 1 − 0.9·0.6`` (a mid snow cover), ``n_t`` parts 1 (vegetation: half cover,
    0.85), ``r_k`` parts 1 (organic: 0.85) — the middle of each range, so switching an effect off removes
    its spatial pattern, not its mean.
    """
    off = set(off)
    unknown = off - set(EFFECTS)
    if unknown:
        raise ValueError(f"unknown effects {sorted(unknown)}; use any of {list(EFFECTS)}")
    t, p = g.t, g.p
    tdd, fdd = fx.tdd_degc_days(t), fx.fdd_degc_days(t)
    # snow: depth and duration
    if "snow" in off:
        n_f = np.full(tdd.shape, 1.0 - SNOW_INSULATION * 0.6)
    else:
        swe = fx.snowfall_swe_mm(t, p)
        depth = 1.0 - np.exp(-swe / SNOW_DEPTH_MM)
        days = fx.DAYS_IN_MONTH.reshape(12, *([1] * (t.ndim - 1)))
        freeze_days = np.maximum((days * (t < 0)).sum(axis=0), 1.0)
        duration = np.clip(fx.snow_cover_days(t, p) / freeze_days, 0.0, 1.0)
        n_f = 1.0 - SNOW_INSULATION * depth * duration
    # summer surface: canopy and moss, sun, slope aspect
    p_warm = fx.precip_sum_mm(p, fx.WARM_MONTHS)
    cover = _sigmoid((t.max(axis=0) - 10.0) / 2.0) * (1.0 - np.exp(-p_warm / 200.0))
    if "vegetation" in off:
        n_t = np.full(tdd.shape, NT_BARE - NT_CANOPY * 0.5)
        bare = np.full(tdd.shape, 0.5)
    else:
        n_t = NT_BARE - NT_CANOPY * cover
        bare = 1.0 - cover
    if "radiation" not in off:
        z_km = np.maximum(np.asarray(g.elevation, float), 0.0) / 1000.0
        irradiance = np.cos(np.radians(np.asarray(g.lat, float) - 23.0)) * (1.0 + 0.08 * z_km)
        n_t = n_t + RADIATION * bare * np.maximum(irradiance / np.cos(np.radians(37.0)) - 1.0, 0.0)
    if "topography" not in off:
        n_t = n_t * (1.0 - NORTHNESS * np.nan_to_num(g.northness))
    # thermal offset: organic layer, soil moisture and texture
    soc = np.nan_to_num(g.soc, nan=1.0)
    clay = np.nan_to_num(g.clay, nan=20.0)
    sand = np.nan_to_num(g.sand, nan=40.0)
    r_k = (
        np.full(tdd.shape, 1.0 - ORGANIC * 0.3)
        if "organic" in off
        else 1.0 - ORGANIC * np.clip(soc / 15.0, 0, 1)
    )
    if "moisture" not in off:
        wet = p_warm / (p_warm + 0.35 * np.maximum(tdd, 1.0))
        r_k = r_k * (
            1.0 - MOISTURE * wet * (1 - sand / 100.0) * (0.8 + 0.4 * np.clip(clay / 60.0, 0, 1))
        )
    ttop = (r_k * n_t * tdd - n_f * fdd) / 365.0 + g.residual
    return {
        "n_t": n_t.astype(np.float32),
        "n_f": n_f.astype(np.float32),
        "r_k": r_k.astype(np.float32),
        "ttop": ttop.astype(np.float32),
    }
