"""Scenario futures of the virtual world: CMIP6-like climates to 2100 whose true permafrost is known.

What the virtual world's GCMs give a projection stage: for each scenario (``ssp126``, ``ssp245``,
``ssp370``, ``ssp585``), each virtual GCM and each WorldClim CMIP6 period (``2021-2040`` …
``2081-2100``) a 20-year mean monthly climate, turned into the same factor stack as a historical
epoch (:meth:`VirtualFutures.factors`, the names and units of :data:`VirtualWorld.factor_names`),
and the true map under that climate from the same ground rule (:meth:`VirtualFutures.truth`).

**Global warming.** The best estimates of AR6 WG1 Table SPM.1 (IPCC 2021), in K above 1850–1900:

=========  =========  =========  =========
scenario   2021–2040  2041–2060  2081–2100
=========  =========  =========  =========
SSP1-2.6   1.5        1.7        1.8
SSP2-4.5   1.5        2.0        2.7
SSP3-7.0   1.5        2.1        3.6
SSP5-8.5   1.6        2.4        4.4
=========  =========  =========  =========

The virtual world's present is the 2020 epoch (window 2016–2024, centred on 2020), which the world
calibrates to observations: 1.2 K above 1850–1900 (Forster et al. 2024, Earth Syst. Sci. Data
16:2625, observed warming 1.19 K over 2014–2023; AR6 SPM A.1.2, 1.09 K over 2011–2020, plus about
0.1 K for the half decade since). The global warming *above the virtual present* of a period is
therefore the table value minus 1.2 K: 0.3/0.3/0.3/0.4 K (2021–2040), 0.5/0.8/0.9/1.2 K
(2041–2060) and 0.6/1.5/2.4/3.2 K (2081–2100). 2061–2080 is not in Table SPM.1; the trajectory
(:func:`global_warming_k`) is piecewise linear through the present and the period midpoints (the
mean of a period's year labels, 2030.5, 2050.5, 2090.5, the world's own convention for 1981–2010 →
1995.5), so 2061–2080 (midpoint 2070.5) takes the mean of its neighbours, and the line of the last
segment is continued to 2100. In 2021–2040 SSP1-2.6 to SSP3-7.0 share 1.5 K, as in AR6: their
futures are the same until mid-century.

**Regional warming** of the month ``m`` at latitude ``φ``, for a GCM with sensitivity ``s`` and
pattern ``f`` (K per K of global warming), is ``ΔT = ΔG · (s · A(φ) · (1 + S(φ) cos(2π(m − 0.3)/12))
+ f(lon, φ))`` (pattern scaling: Tebaldi & Arblaster 2014, Clim. Change 122:459):

- ``A`` land amplification, 1.45 at ≤ 40 °N rising linearly to 2.4 at ≥ 66.5 °N (the latitudes
  of the world's historical trend), constant beyond. Land warms faster than the globe: 1.59 K
  against 1.09 K over 2011–2020 (AR6 WG1 SPM A.1.2), a ratio of 1.45. The Arctic warms 2–4 × the
  globe: observed nearly 4 × over 1979–2021 (Rantanen et al. 2022, Commun. Earth Environ. 3:168),
  which CMIP6 models rarely reproduce; they project "more than twice" (AR6 SPM B.2.1), less over
  land than over the sea ice. 2.4 keeps the SSP5-8.5 warming of the Arctic land in 2081–2100 at
  7.7 K above the present. The choice matters most for the strongest scenario: the true extent
  under SSP5-8.5 in 2081–2100 on a 1° grid (1.4 in the south) was 0.24 M km² with 2.8, 0.50 with
  2.4 and 0.91 with 2.0.
- ``S`` seasonality, 0.10 at ≤ 40 °N rising to 0.35 at ≥ 66.5 °N: January warms ``1 + S`` and July
  ``1 − S`` times the annual mean (winter / summer ≈ 1.2 in the south, ≈ 2.1 in the Arctic:
  Arctic amplification is strongest in the cold season, when the lost sea ice and snow no longer
  insulate, Screen & Simmonds 2010, Nature 464:1334; AR6 WG1 Section 4.5.1). The months average
  to the annual ``A``.
- Precipitation is multiplied by ``exp(r(φ) · ΔT̄ + ΔG · q(lon, φ))`` with ``ΔT̄`` the local annual
  warming and ``r`` 1.5 %/K at ≤ 40 °N rising to 4.5 %/K at ≥ 66.5 °N (global 1–3 %/K, AR6 WG1
  Ch. 8; Arctic 4.5 %/K of Arctic warming, Bintanja & Andry 2017, Nat. Clim. Change 7:263), and
  ``q`` the GCM's precipitation pattern (σ 1 % per K of global warming).

**Virtual GCMs** (:data:`GCMS`): five named members with sensitivities 0.80, 0.90, 1.00, 1.05 and
1.25 (mean exactly 1, so the GCM mean follows the AR6 best estimates; the spread of global warming
above 1850–1900 in 2081–2100 under SSP5-8.5 is then 3.8–5.2 K, inside AR6's very likely 3.3–5.7 K)
and a smooth seeded pattern each (8 random plane waves, wavelengths ≈ 8,000–20,000 km, amplitude
0.3 K per K of global warming). Each pattern has zero mean over the demo's Eurasia
(:data:`PATTERN_DOMAIN`), so a member's mean warming there is set by its sensitivity and the
pattern only moves warming around (σ 0.1–0.26 K per K inside the domain with seed 42, at most
2.0 K under SSP5-8.5 in 2081–2100); and the patterns are centred over the members (they sum to
zero at every point), so the members' mean warming is ``ΔG · A`` (up to float rounding). With seed
42 the members' annual warming of 70 °N 130 °E under SSP5-8.5 in 2081–2100 spans 4.7–9.6 K
(mean 7.7 K), their precipitation there +28 to +49 %.

**What is left out, on purpose.** A future period is the forced climate: the world's present
warming (its trend at 2020, without the year-to-year noise of 2016–2024) plus the change above,
with no noise of its own (a 20-year mean of one GCM run carries little). The virtual GCMs have no
bias against the world, so their future climate is already "delta-method" climate.

**Truth.** The true map of a scenario and period is the ground rule of :mod:`permamap.demo.ground`
(TTOP < 0 °C) under the GCM-mean climate: the mean of the members' monthly temperature and
precipitation, the best estimate of the future the members share and the reference a GCM-mean
projection is scored against (issue 13). The GCM-mean warming is exactly the AR6 best estimate
times the amplification, so the truth does not depend on which members happen to be drawn. A
member's own truth is :meth:`VirtualFutures.truth` with ``gcm=`` its name (its range is the "GCM
range" of the truth).

True Eurasian extent (M km², seed 42, the 5 arc-min demo grid 25–84 °N × 25–180 °E; the present
is 8.97 without and 9.05 with the noise of 2016–2024; in brackets the range of the members' own
truths at 1/4°):

=========  ==================  ==================  ==================  ==================
scenario   2021–2040           2041–2060           2061–2080           2081–2100
=========  ==================  ==================  ==================  ==================
ssp126     7.89 [7.66, 8.16]   7.23 [6.83, 7.63]   7.07 [6.62, 7.50]   6.91 [6.42, 7.38]
ssp245     7.89 [7.66, 8.16]   6.26 [5.70, 6.91]   5.23 [4.38, 6.14]   4.15 [3.01, 5.41]
ssp370     7.89 [7.66, 8.16]   5.97 [5.32, 6.69]   3.65 [2.47, 5.14]   1.55 [0.70, 3.67]
ssp585     7.56 [7.25, 7.89]   5.09 [4.19, 6.03]   2.07 [0.95, 4.03]   0.55 [0.19, 2.40]
=========  ==================  ==================  ==================  ==================

Up to mid-century 3.2–3.6 M km² (36–40 % of the present) are lost per K of global warming, close to
what the world's own history implies (1.5 M km² lost from 2000 to 2020 at 1°, while its trend
corresponds to 0.38 K of global warming: 3.9 M km² per K); Chadburn et al. (2017, Nat. Clim.
Change 7:340) estimate 4 M km² per K (≈ 26 %) for the whole Northern Hemisphere, so the virtual
permafrost is about 1.5 × as sensitive as the real one.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rasterio.windows import Window

from ..errors import ConfigError
from ..grid import Grid
from . import climate, ground, layers
from .world import ClimateFn, VirtualWorld

__all__ = [
    "AR6_WARMING_K",
    "GCMS",
    "PATTERN_DOMAIN",
    "PERIODS",
    "PRESENT_WARMING_K",
    "PRESENT_YEAR",
    "SCENARIOS",
    "VirtualFutures",
    "VirtualGCM",
    "amplification",
    "global_warming_k",
    "period_midpoint",
    "precip_sensitivity_per_k",
    "seasonality",
    "warming_above_present_k",
]

SCENARIOS: tuple[str, ...] = ("ssp126", "ssp245", "ssp370", "ssp585")
PERIODS: tuple[str, ...] = ("2021-2040", "2041-2060", "2061-2080", "2081-2100")
PRESENT_YEAR = 2020.0  # centre of the world's last default epoch window (2016–2024)
PRESENT_WARMING_K = 1.2  # K above 1850–1900 at PRESENT_YEAR (module docstring)
#: AR6 WG1 Table SPM.1 best estimates (K above 1850–1900) for 2021–2040, 2041–2060, 2081–2100
AR6_WARMING_K: dict[str, tuple[float, float, float]] = {
    "ssp126": (1.5, 1.7, 1.8),
    "ssp245": (1.5, 2.0, 2.7),
    "ssp370": (1.5, 2.1, 3.6),
    "ssp585": (1.6, 2.4, 4.4),
}
_AR6_MIDPOINTS = (2030.5, 2050.5, 2090.5)
END_YEAR = 2100.0
AMPLIFICATION_LOW = 1.45  # land warming / global warming at ≤ 40 °N
AMPLIFICATION_ARCTIC = 2.4  # at ≥ 66.5 °N
SEASONALITY_LOW = 0.10  # January warms (1 + S), July (1 − S) times the annual mean
SEASONALITY_ARCTIC = 0.35
PRECIP_LOW_PER_K = 0.015  # d ln P per K of local annual warming at ≤ 40 °N
PRECIP_ARCTIC_PER_K = 0.045  # at ≥ 66.5 °N
GCM_PATTERN_K_PER_K = 0.3  # σ of a GCM's warming pattern per K of global warming
GCM_PRECIP_PATTERN_PER_K = 0.01  # σ of a GCM's ln-precipitation pattern per K of global warming
_LAT_LOW, _LAT_ARCTIC = 40.0, 66.5
_PATTERN_WAVES = 8
_PATTERN_CACHE_BYTES = 128 * 2**20  # patterns kept per VirtualFutures (see _patterns)
_PATTERN_SEED = 2_000_003  # added to the world's seed, so patterns differ from every other field
_MONTH = np.arange(12, dtype=np.float32)
#: (west, south, east, north) over which every GCM pattern has zero mean: the demo's Eurasia
PATTERN_DOMAIN = (25.0, 25.0, 180.0, 84.0)


@dataclass(frozen=True)
class VirtualGCM:
    """One virtual GCM: a name, a climate-sensitivity factor and the seed offset of its pattern."""

    name: str
    sensitivity: float
    member: int


GCMS: tuple[VirtualGCM, ...] = (
    VirtualGCM("ve-alder", 0.80, 0),
    VirtualGCM("ve-birch", 0.90, 1),
    VirtualGCM("ve-cedar", 1.00, 2),
    VirtualGCM("ve-larch", 1.05, 3),
    VirtualGCM("ve-pine", 1.25, 4),
)


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{what} {value!r} is not one of the virtual world's {what}s {list(allowed)}; "
            f"use one of them"
        )


def period_midpoint(period: str) -> float:
    """The mean of a period's year labels: ``"2041-2060"`` → 2050.5.

    >>> period_midpoint("2081-2100")
    2090.5
    """
    _check(period, PERIODS, "period")
    first, last = (int(y) for y in period.split("-"))
    return (first + last) / 2.0


def global_warming_k(scenario: str, year: float | np.ndarray) -> np.ndarray:
    """Global-mean warming (K above 1850–1900) of ``scenario`` in ``year`` (2020–2100).

    Piecewise linear through the present (2020, 1.2 K) and the AR6 Table SPM.1 best estimates at the
    period midpoints, the last segment continued to 2100 (module docstring).

    >>> float(global_warming_k("ssp585", 2090.5)), float(global_warming_k("ssp126", 2020))
    (4.4, 1.2)
    """
    _check(scenario, SCENARIOS, "scenario")
    v = AR6_WARMING_K[scenario]
    end = v[2] + (v[2] - v[1]) * (END_YEAR - _AR6_MIDPOINTS[2]) / (
        _AR6_MIDPOINTS[2] - _AR6_MIDPOINTS[1]
    )
    years = np.asarray(year, dtype=float)
    if np.any((years < PRESENT_YEAR) | (years > END_YEAR)):
        raise ConfigError(
            f"year {year} is outside the virtual futures {PRESENT_YEAR:.0f}-{END_YEAR:.0f}; "
            f"use the historical world before {PRESENT_YEAR:.0f}"
        )
    xp = (PRESENT_YEAR, *_AR6_MIDPOINTS, END_YEAR)
    return np.interp(years, xp, (PRESENT_WARMING_K, *v, end))


def warming_above_present_k(scenario: str, period: str) -> float:
    """Global-mean warming of a period above the virtual world's present (K).

    >>> round(warming_above_present_k("ssp585", "2081-2100"), 3)
    3.2
    >>> round(warming_above_present_k("ssp245", "2061-2080"), 3)  # between 2.0 and 2.7 K
    1.15
    """
    return float(global_warming_k(scenario, period_midpoint(period))) - PRESENT_WARMING_K


def _ramp(lat: np.ndarray, low: float, arctic: float) -> np.ndarray:
    w = np.clip((np.asarray(lat, dtype=np.float32) - _LAT_LOW) / (_LAT_ARCTIC - _LAT_LOW), 0.0, 1.0)
    return (low + (arctic - low) * w).astype(np.float32)


def amplification(lat: np.ndarray) -> np.ndarray:
    """Annual local warming per K of global warming: 1.45 at ≤ 40 °N to 2.4 at ≥ 66.5 °N."""
    return _ramp(lat, AMPLIFICATION_LOW, AMPLIFICATION_ARCTIC)


def seasonality(lat: np.ndarray) -> np.ndarray:
    """Monthly factor ``1 + S(φ) cos(2π(m − 0.3)/12)`` on the annual warming, ``(12, *lat.shape)``."""
    s = _ramp(lat, SEASONALITY_LOW, SEASONALITY_ARCTIC)
    phase = np.cos(2 * np.pi * (_MONTH - 0.3) / 12).reshape((12,) + (1,) * s.ndim)
    return (1.0 + s[None] * phase).astype(np.float32)


def precip_sensitivity_per_k(lat: np.ndarray) -> np.ndarray:
    """d ln(precipitation) per K of local annual warming: 0.015 at ≤ 40 °N to 0.045 at ≥ 66.5 °N."""
    return _ramp(lat, PRECIP_LOW_PER_K, PRECIP_ARCTIC_PER_K)


def _member_waves(seed: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Each member's smooth unit-variance field, ``(gcm, ...)``."""
    return np.stack(
        [climate._waves(seed + 17 * g.member, 0, lon, lat, n=_PATTERN_WAVES) for g in GCMS]
    )


@lru_cache(maxsize=8)
def _domain_means(seed: int) -> np.ndarray:
    """Each member's field averaged over :data:`PATTERN_DOMAIN` (1° lattice, cos-latitude weights).

    Subtracted from the fields, so over the demo's Eurasia a member's mean warming is set by its
    sensitivity alone and the pattern only moves warming around inside it.
    """
    west, south, east, north = PATTERN_DOMAIN
    lon, lat = np.meshgrid(np.arange(west + 0.5, east), np.arange(south + 0.5, north))
    weights = np.cos(np.radians(lat))
    fields = _member_waves(seed, lon, lat).astype(np.float64)
    return ((fields * weights).sum(axis=(1, 2)) / weights.sum()).astype(np.float32)


class VirtualFutures:
    """Scenario × GCM × period futures of a :class:`~permamap.demo.world.VirtualWorld`.

    Parameters
    ----------
    world : VirtualWorld
        The historical world whose present the futures change (its seed sets the GCM patterns).

    Examples
    --------
    >>> futures = VirtualFutures(VirtualWorld())
    >>> g = Grid.from_bounds((125, 60, 135, 64), res=1.0)
    >>> futures.factors(g, "ssp585", "ve-cedar", "2081-2100").shape
    (20, 4, 10)
    >>> futures.gcms
    ('ve-alder', 've-birch', 've-cedar', 've-larch', 've-pine')
    """

    scenarios: tuple[str, ...] = SCENARIOS
    periods: tuple[str, ...] = PERIODS
    gcms: tuple[str, ...] = tuple(g.name for g in GCMS)

    def __init__(self, world: VirtualWorld) -> None:
        self.world = world
        self.factor_names: list[str] = list(world.factor_names)
        self._cache: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        # a worker process gets the world, not the cache or the lock
        return {"world": self.world, "factor_names": self.factor_names}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def check(
        self, scenarios: Sequence[str], periods: Sequence[str], gcms: Sequence[str] | None = None
    ) -> list[str]:
        """Validate names before any work (``ConfigError`` naming the bad one); the plan as lines."""
        for s in scenarios:
            _check(s, SCENARIOS, "scenario")
        for p in periods:
            _check(p, PERIODS, "period")
        for g in gcms or ():
            _check(g, self.gcms, "gcm")
        return [
            f"virtual futures (seed {self.world.settings.seed}): {len(scenarios)} scenarios × "
            f"{len(periods)} periods × {len(gcms or self.gcms)} virtual GCMs, computed on the grid"
        ]

    def sources(self, scenario: str, gcm: str | None, period: str) -> dict[str, str]:
        """Factor name → source text, as :meth:`VirtualWorld.sources` for a historical epoch."""
        self._validate(scenario, gcm, period)
        who = "GCM mean" if gcm is None else gcm
        text = f"virtual CMIP6-like future {scenario} {period} ({who}; seed {self.world.settings.seed})"
        hist = self.world.sources()
        return {n: text if hist[n].startswith("virtual climate") else hist[n] for n in hist}

    # -- climate ------------------------------------------------------------------------------
    def _validate(self, scenario: str, gcm: str | None, period: str) -> None:
        _check(scenario, SCENARIOS, "scenario")
        _check(period, PERIODS, "period")
        if gcm is not None:
            _check(gcm, self.gcms, "gcm")

    def present_climate(
        self, lon: np.ndarray, lat: np.ndarray, elev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The world's forced climate at 2020 (its trend, no year-to-year noise): what futures change."""
        t, p = self.world.base_climatology(lon, lat, elev)
        rate = climate.trend_k_per_decade(np.asarray(lat, dtype=np.float32))
        offset = rate * np.float32((PRESENT_YEAR - climate.BASE_YEAR) / 10.0)
        return (t + offset[None]).astype(np.float32), p

    def _patterns(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred warming (K/K) and ln-precipitation (1/K) patterns of every GCM, ``(gcm, ...)``.

        They depend on the places only, not on the scenario or period, so the last
        :data:`_PATTERN_CACHE_BYTES` worth of them are kept: a projection asks for the same tile
        under every scenario and period (and for its truth).
        """
        lon, lat = np.asarray(lon), np.asarray(lat)
        digest = hashlib.blake2b(digest_size=16)
        for a in (lon, lat):
            digest.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        key = (lon.shape, digest.hexdigest())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        out = self._compute_patterns(lon, lat)
        with self._lock:
            self._cache[key] = out
            size = sum(a.nbytes + b.nbytes for a, b in self._cache.values())
            while size > _PATTERN_CACHE_BYTES and len(self._cache) > 1:
                _, (a, b) = self._cache.popitem(last=False)
                size -= a.nbytes + b.nbytes
        return out

    def _compute_patterns(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seed = self.world.settings.seed + _PATTERN_SEED
        k = len(GCMS)

        def centred(offset: int, sigma: float) -> np.ndarray:
            w = _member_waves(seed + offset, lon, lat)
            w -= _domain_means(seed + offset).reshape((k,) + (1,) * (w.ndim - 1))
            scale = np.float32(sigma * np.sqrt(k / (k - 1)))
            return ((w - w.mean(axis=0)) * scale).astype(np.float32)

        return centred(0, GCM_PATTERN_K_PER_K), centred(1, GCM_PRECIP_PATTERN_PER_K)

    def _changes(
        self, lon: np.ndarray, lat: np.ndarray, scenario: str, period: str, members: list[int]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's monthly warming (K) and precipitation ratio, ``(12, ...)`` each."""
        dg = np.float32(warming_above_present_k(scenario, period))
        amp, seas = amplification(lat), seasonality(lat)
        r = precip_sensitivity_per_k(lat)
        f_t, f_p = self._patterns(lon, lat)
        out = []
        for i in members:
            annual = dg * (np.float32(GCMS[i].sensitivity) * amp + f_t[i])
            dt = dg * (np.float32(GCMS[i].sensitivity) * amp)[None] * seas + (dg * f_t[i])[None]
            ratio = np.exp(r * annual + dg * f_p[i]).astype(np.float32)
            out.append((dt.astype(np.float32), np.broadcast_to(ratio[None], dt.shape)))
        return out

    def _members(self, gcm: str | None) -> list[int]:
        return list(range(len(GCMS))) if gcm is None else [self.gcms.index(gcm)]

    def climate_fn(self, scenario: str, gcm: str | None, period: str) -> ClimateFn:
        """The period-mean monthly climate as a :data:`~permamap.demo.world.ClimateFn`.

        ``gcm=None`` is the GCM mean: the mean of the members' temperature and precipitation.
        """
        self._validate(scenario, gcm, period)
        members = self._members(gcm)

        def fn(lon: np.ndarray, lat: np.ndarray, elev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            t0, p0 = self.present_climate(lon, lat, elev)
            changes = self._changes(lon, lat, scenario, period, members)
            t = np.mean([t0 + dt for dt, _ in changes], axis=0)
            p = np.mean([p0 * ratio for _, ratio in changes], axis=0)
            return t.astype(np.float32), p.astype(np.float32)

        return fn

    def member_climates(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        elev: np.ndarray,
        scenario: str,
        period: str,
        gcms: Sequence[str],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each named GCM's period-mean monthly climate ``(t, p)``, ``(12, ...)`` each.

        The same values as :meth:`climate_fn` per GCM, with the present climate and the GCM
        patterns computed once for all of them (a projection tile needs every GCM).
        """
        for g in gcms:
            self._validate(scenario, g, period)
        t0, p0 = self.present_climate(lon, lat, elev)
        members = [self.gcms.index(g) for g in gcms]
        return [
            ((t0 + dt).astype(np.float32), (p0 * ratio).astype(np.float32))
            for dt, ratio in self._changes(lon, lat, scenario, period, members)
        ]

    def climate_at(
        self, lon: np.ndarray, lat: np.ndarray, scenario: str, gcm: str | None, period: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Period-mean monthly temperature (°C) and precipitation (mm/month) ``(12, ...)`` at points."""
        fn = self.climate_fn(scenario, gcm, period)
        lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        return fn(lon, lat, layers.elevation_m(lon, lat))

    def change_at(
        self, lon: np.ndarray, lat: np.ndarray, scenario: str, gcm: str, period: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """One GCM's change against the present at points: warming (K) and precipitation ratio, ``(12, ...)``."""
        self._validate(scenario, gcm, period)
        lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        ((dt, ratio),) = self._changes(lon, lat, scenario, period, self._members(gcm))
        return dt, np.array(ratio)

    # -- products -----------------------------------------------------------------------------
    def factors(
        self, grid: Grid, scenario: str, gcm: str | None, period: str, window: Window | None = None
    ) -> np.ndarray:
        """The factor stack ``(band, row, col)`` float32 of :meth:`VirtualWorld.factors`, same bands."""
        return self.world.factors_for_climate(grid, self.climate_fn(scenario, gcm, period), window)

    def truth(
        self,
        grid: Grid,
        scenario: str,
        period: str,
        window: Window | None = None,
        gcm: str | None = None,
    ) -> np.ndarray:
        """The true map (uint8 1 permafrost, 0 not, 255 off land) under the GCM-mean climate.

        ``gcm`` names one member instead (its own truth).
        """
        return self.world.truth_for_climate(grid, self.climate_fn(scenario, gcm, period), window)

    def truth_at(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        scenario: str,
        period: str,
        gcm: str | None = None,
        land: np.ndarray | None = None,
    ) -> np.ndarray:
        """The true class at points (1 permafrost, 0 not, 255 where not ``land``)."""
        fn = self.climate_fn(scenario, gcm, period)
        return self.world.truth_at_for_climate(lon, lat, fn, land)

    def ttop_at(
        self, lon: np.ndarray, lat: np.ndarray, scenario: str, period: str, gcm: str | None = None
    ) -> np.ndarray:
        """Temperature at the top of permafrost (°C) at points under the future climate."""
        g = self.world.ground_inputs_for_climate(lon, lat, self.climate_fn(scenario, gcm, period))
        return ground.ttop_terms(g)["ttop"]
