"""Virtual futures: AR6-sized, Arctic-amplified warming, GCM spread, and a truth that shrinks with it."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from permamap.covariates.factors import DAYS_IN_MONTH
from permamap.demo import futures as fu
from permamap.demo.futures import PERIODS, SCENARIOS, VirtualFutures
from permamap.demo.world import VirtualWorld, WorldSettings
from permamap.errors import ConfigError
from permamap.grid import Grid


@pytest.fixture(scope="module")
def world() -> VirtualWorld:
    return VirtualWorld()


@pytest.fixture(scope="module")
def futures(world: VirtualWorld) -> VirtualFutures:
    return VirtualFutures(world)


@pytest.fixture(scope="module")
def eurasia() -> Grid:
    """The demo extent at 2°: coarse, but every permafrost region is in it."""
    return Grid.from_bounds((26, 24, 180, 84), res=2.0)


@pytest.fixture(scope="module")
def extents(futures: VirtualFutures, eurasia: Grid) -> dict[tuple[str, str], float]:
    """True extent (km², cell-area weighted) for every scenario × period, GCM-mean climate."""
    area = eurasia.cell_area_km2()
    lon, lat = eurasia.lonlat()
    land = futures.world.land(eurasia)  # once: truth() would look it up for each map
    return {
        (s, p): float(area[futures.truth_at(lon, lat, s, p, land=land) == 1].sum())
        for s in SCENARIOS
        for p in PERIODS
    }


# -- the historical world is untouched ----------------------------------------------------------
# Computed with the world.py of before the futures existed (commit 21313b3): per-band sums of the
# factor stack and truth class counts. The refactor that lets futures inject a climate must leave
# them as they were.
_FACTOR_SUMS = {
    2000: [-2263.5962, 6529.3196, -11138.579, 17667.898, 658145.76, 1484924.3, 240.27565,
           140603.26, 46326.088, 94277.171, 80242.617, 214135.0, 66.333653, 0.0791086, 49133.0,
           3590.0, 28867.0, 832.4, 24000.0, 50000.0],
    2020: [-1848.626, 6944.2897, -10723.608, 17667.898, 721939.99, 1397150.6, 232.82297,
           139786.39, 46055.374, 93731.014, 76776.07, 214135.0, 66.333653, 0.0791086, 49133.0,
           3590.0, 28867.0, 832.4, 24000.0, 50000.0],
}  # fmt: skip
_TRUTH_COUNTS = {2000: [355, 705, 20], 2020: [430, 630, 20]}  # cells of class 0, 1, 255


@pytest.mark.parametrize("epoch", [2000, 2020])
def test_historical_factors_and_truth_are_unchanged(world: VirtualWorld, epoch: int) -> None:
    stack = world.factors(Grid.from_bounds((120, 55, 130, 65), res=0.5), epoch)
    sums = np.nansum(stack.astype(np.float64), axis=(1, 2))
    assert np.allclose(sums, _FACTOR_SUMS[epoch], rtol=2e-6, atol=1e-6)
    truth = world.truth(Grid.from_bounds((100, 45, 140, 72), res=1.0), epoch)
    assert [int((truth == k).sum()) for k in (0, 1, 255)] == _TRUTH_COUNTS[epoch]
    ttop = world.ttop_at(np.array([129.7, 37.6, 90.0]), np.array([62.0, 55.7, 32.0]), 2015)
    assert np.allclose(ttop, [-1.3593595, 4.5496607, 1.3527843], atol=1e-5)


# -- global trajectories ------------------------------------------------------------------------
def test_trajectory_passes_through_ar6_and_the_present() -> None:
    for s in SCENARIOS:
        assert float(fu.global_warming_k(s, 2020)) == pytest.approx(1.2)
        years = np.arange(2020, 2101)
        assert np.all(np.diff(fu.global_warming_k(s, years)) >= 0)
    assert fu.warming_above_present_k("ssp126", "2041-2060") == pytest.approx(0.5)
    assert fu.warming_above_present_k("ssp245", "2081-2100") == pytest.approx(1.5)
    assert fu.warming_above_present_k("ssp585", "2081-2100") == pytest.approx(3.2)
    assert fu.warming_above_present_k("ssp370", "2061-2080") == pytest.approx((0.9 + 2.4) / 2)


def test_warming_grows_with_scenario_strength_and_time() -> None:
    dg = np.array([[fu.warming_above_present_k(s, p) for p in PERIODS] for s in SCENARIOS])
    assert np.all(np.diff(dg, axis=1) > 0)  # later is warmer in every scenario
    assert np.all(np.diff(dg, axis=0) >= 0)  # stronger is never cooler ...
    assert np.all(np.diff(dg[:, 1:], axis=0) > 0)  # ... and warmer from 2041-2060 on
    assert dg[0, 0] == dg[1, 0] == dg[2, 0]  # AR6: 1.5 K for SSP1-2.6 to SSP3-7.0 in 2021-2040


def test_arctic_amplified_winter_weighted_warming(futures: VirtualFutures) -> None:
    lon, lat = np.array([100.0, 100.0]), np.array([35.0, 72.0])
    dts = np.stack([futures.change_at(lon, lat, "ssp585", g, "2081-2100")[0] for g in futures.gcms])
    mean = dts.mean(axis=0)  # (12, 2): the centred patterns cancel, sensitivities average 1
    annual = mean.mean(axis=0)
    assert annual == pytest.approx([3.2 * 1.45, 3.2 * 2.4], rel=1e-4)
    ratio = annual[1] / 3.2
    assert 2.0 <= ratio <= 4.0
    january, july = mean[0], mean[6]
    assert np.all(january > july)
    assert january[1] / july[1] == pytest.approx(
        (1 + 0.35 * np.cos(2 * np.pi * -0.3 / 12)) / (1 + 0.35 * np.cos(2 * np.pi * 5.7 / 12)),
        rel=1e-4,
    )


def test_precipitation_rises_a_few_percent_per_kelvin_more_in_the_north(
    futures: VirtualFutures,
) -> None:
    lon, lat = np.array([60.0, 60.0]), np.array([35.0, 72.0])
    dt, ratio = futures.change_at(lon, lat, "ssp245", "ve-cedar", "2081-2100")
    per_k = np.log(ratio[0]) / dt.mean(axis=0)  # per K of local warming
    assert np.all((per_k > 0.005) & (per_k < 0.08))
    assert per_k[1] > per_k[0]
    assert ratio[0, 1] > ratio[0, 0] > 1.0


# -- GCM members --------------------------------------------------------------------------------
def _mean_warming(futures: VirtualFutures, scenario: str, gcm: str) -> float:
    """Annual warming (K) in 2081-2100 averaged over the demo's Eurasia (2° lattice, cos-latitude)."""
    lon, lat = np.meshgrid(np.arange(26.0, 180.0, 2.0), np.arange(26.0, 84.0, 2.0))
    dt, _ = futures.change_at(lon, lat, scenario, gcm, "2081-2100")
    weights = np.cos(np.radians(lat))
    return float((dt.mean(axis=0) * weights).sum() / weights.sum())


def test_gcm_spread_is_real_but_smaller_than_the_scenario_difference(
    futures: VirtualFutures,
) -> None:
    strong = [_mean_warming(futures, "ssp585", g) for g in futures.gcms]
    weak = [_mean_warming(futures, "ssp126", g) for g in futures.gcms]
    spread = max(strong) - min(strong)
    assert spread > 0.5  # K: the members disagree
    assert spread < np.mean(strong) - np.mean(weak)
    # the patterns have zero mean over Eurasia: the members rank by their sensitivity
    assert np.all(np.diff(strong) > 0)


def test_gcm_patterns_are_smooth_bounded_and_centred(futures: VirtualFutures) -> None:
    lon, lat = np.meshgrid(np.arange(25.0, 180.0, 1.0), np.arange(25.0, 85.0, 1.0))
    f_t, f_p = futures._patterns(lon, lat)
    assert np.allclose(f_t.sum(axis=0), 0.0, atol=1e-5)
    assert np.abs(f_t).max() * 3.2 < 4.0  # K, at most a few kelvin under SSP5-8.5 in 2081-2100
    assert np.abs(np.diff(f_t, axis=2)).max() < 0.1  # per degree of longitude: large-scale
    assert 0.0 < np.abs(f_p).max() < 0.05


# -- the truth ----------------------------------------------------------------------------------
def test_true_extent_falls_with_scenario_strength_and_time(
    world: VirtualWorld, eurasia: Grid, extents: dict[tuple[str, str], float]
) -> None:
    area = eurasia.cell_area_km2()
    present = float(area[world.truth(eurasia, 2020) == 1].sum())
    table = np.array([[extents[s, p] for p in PERIODS] for s in SCENARIOS])
    assert table.max() < present
    assert np.all(np.diff(table, axis=1) <= 0)  # later: never more
    assert np.all(np.diff(table, axis=0) <= 0)  # stronger: never more
    assert np.all(table[:, -1] < table[:, 0])  # and 2081-2100 strictly less than 2021-2040
    assert np.all(table[-1, 1:] < table[0, 1:])  # SSP5-8.5 strictly less than SSP1-2.6
    assert table[-1, -1] < 0.5 * table[0, -1]


def test_a_less_sensitive_gcm_keeps_more_permafrost(
    futures: VirtualFutures, eurasia: Grid, extents: dict[tuple[str, str], float]
) -> None:
    area = eurasia.cell_area_km2()
    per_gcm = [
        float(area[futures.truth(eurasia, "ssp245", "2041-2060", gcm=g) == 1].sum())
        for g in ("ve-alder", "ve-pine")
    ]
    assert per_gcm[0] > extents["ssp245", "2041-2060"] > per_gcm[1]


def test_truth_at_points_matches_the_map(futures: VirtualFutures) -> None:
    grid = Grid.from_bounds((110, 60, 130, 70), res=2.0)
    truth = futures.truth(grid, "ssp370", "2061-2080")
    lon, lat = grid.lonlat()
    land = futures.world.land(grid)
    assert np.array_equal(futures.truth_at(lon, lat, "ssp370", "2061-2080", land=land), truth)
    ttop = futures.ttop_at(lon, lat, "ssp370", "2061-2080")
    assert np.array_equal((ttop < 0)[land], truth[land] == 1)


# -- factors ------------------------------------------------------------------------------------
def test_factor_stack_matches_the_historical_bands(
    world: VirtualWorld, futures: VirtualFutures
) -> None:
    grid = Grid.from_bounds((120, 55, 130, 65), res=1.0)
    future = futures.factors(grid, "ssp585", "ve-birch", "2081-2100")
    present = world.factors_for_climate(grid, futures.present_climate)
    names = futures.factor_names
    assert names == world.factor_names and future.shape[0] == len(names)
    assert np.array_equal(np.isnan(future), np.isnan(world.factors(grid, 2020)))
    for static in ("elevation", "slope", "clay", "latitude"):
        i = names.index(static)
        assert np.array_equal(future[i], present[i], equal_nan=True)
    # MAAT rises by exactly the member's day-weighted annual warming
    lon, lat = grid.lonlat()
    dt, _ = futures.change_at(lon, lat, "ssp585", "ve-birch", "2081-2100")
    days = DAYS_IN_MONTH[:, None, None]
    expected = (dt * days).sum(axis=0) / days.sum()
    i = names.index("maat")
    land = ~np.isnan(future[i])
    assert np.allclose((future[i] - present[i])[land], expected[land], atol=1e-3)


def test_a_tile_equals_the_same_cells_of_a_larger_window(futures: VirtualFutures) -> None:
    grid = Grid.from_bounds((120, 55, 130, 65), res=0.5)
    whole = futures.factors(grid, "ssp245", "ve-larch", "2041-2060")
    part = futures.factors(grid, "ssp245", "ve-larch", "2041-2060", Window(5, 3, 7, 6))
    assert np.allclose(part, whole[:, 3:9, 5:12], equal_nan=True, atol=1e-4)


def test_futures_are_deterministic_and_follow_the_seed(world: VirtualWorld) -> None:
    grid = Grid.from_bounds((60, 50, 80, 70), res=2.0)
    one = VirtualFutures(world).factors(grid, "ssp370", "ve-alder", "2061-2080")
    two = VirtualFutures(VirtualWorld()).factors(grid, "ssp370", "ve-alder", "2061-2080")
    assert np.array_equal(one, two, equal_nan=True)
    other = VirtualFutures(VirtualWorld(WorldSettings(seed=7)))
    lon, lat = np.array([70.0]), np.array([60.0])
    a = VirtualFutures(world).change_at(lon, lat, "ssp370", "ve-alder", "2061-2080")[0]
    b = other.change_at(lon, lat, "ssp370", "ve-alder", "2061-2080")[0]
    assert not np.allclose(a, b)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "gcm", "period", "match"),
    [
        ("ssp119", "ve-pine", "2041-2060", r"scenario 'ssp119' .*'ssp126'"),
        ("ssp126", "MPI-ESM1-2-HR", "2041-2060", r"gcm 'MPI-ESM1-2-HR' .*'ve-alder'"),
        ("ssp126", "ve-pine", "2050", r"period '2050' .*'2041-2060'"),
    ],
)
def test_unknown_names_are_refused_with_the_choices(
    futures: VirtualFutures, scenario: str, gcm: str, period: str, match: str
) -> None:
    grid = Grid.from_bounds((120, 55, 122, 57), res=1.0)
    with pytest.raises(ConfigError, match=match):
        futures.factors(grid, scenario, gcm, period)
    with pytest.raises(ConfigError, match=match):
        futures.check([scenario], [period], [gcm])


def test_years_outside_the_futures_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"year 2010 is outside the virtual futures 2020-2100"):
        fu.global_warming_k("ssp245", 2010)


def test_sources_name_the_future_for_climate_factors_only(
    world: VirtualWorld, futures: VirtualFutures
) -> None:
    src = futures.sources("ssp245", "ve-cedar", "2041-2060")
    assert list(src) == world.factor_names
    assert "ssp245 2041-2060 (ve-cedar" in src["maat"]
    assert "GCM mean" in futures.sources("ssp245", None, "2041-2060")["snow_days"]
    assert src["elevation"] == world.sources()["elevation"]
    plan = futures.check(["ssp126", "ssp585"], ["2041-2060", "2081-2100"])
    assert "2 scenarios × 2 periods × 5 virtual GCMs" in plan[0]


def test_member_climates_equal_each_gcms_own_climate(futures: VirtualFutures) -> None:
    lon, lat = np.meshgrid(np.linspace(60, 150, 7), np.linspace(45, 75, 5))
    from permamap.demo import layers

    elev = layers.elevation_m(lon, lat)
    gcms = ["ve-pine", "ve-alder"]
    together = futures.member_climates(lon, lat, elev, "ssp245", "2061-2080", gcms)
    for gcm, (t, p) in zip(gcms, together, strict=True):
        t1, p1 = futures.climate_fn("ssp245", gcm, "2061-2080")(lon, lat, elev)
        np.testing.assert_allclose(t, t1, rtol=0, atol=1e-5)
        np.testing.assert_allclose(p, p1, rtol=1e-6)
    with pytest.raises(ConfigError, match="ve-oak"):
        futures.member_climates(lon, lat, elev, "ssp245", "2061-2080", ["ve-oak"])
