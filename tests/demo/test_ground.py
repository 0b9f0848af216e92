"""The virtual world's ground-thermal rule: each effect moves TTOP the way field studies say."""

from __future__ import annotations

import numpy as np
import pytest

from permamap.contracts import M_PER_DEGREE
from permamap.covariates import factors as fx
from permamap.demo import ground

# Two months above zero (+10 °C) and ten below (-10 °C): TDD = 10·(31+31), FDD = 10·(rest)
T = np.array([-10, -10, -10, -10, -10, 10, 10, -10, -10, -10, -10, -10], dtype=float)
TDD = 10 * (30 + 31)  # June and July
FDD = 10 * (365.25 - 61)


def inputs(n: int = 1, **over: object) -> ground.GroundInputs:
    base: dict[str, object] = {
        "t": np.repeat(T[:, None], n, axis=1),
        "p": np.full((12, n), 30.0),
        "elevation": np.zeros(n),
        "slope": np.zeros(n),
        "northness": np.zeros(n),
        "clay": np.full(n, 20.0),
        "sand": np.full(n, 40.0),
        "soc": np.zeros(n),
        "lat": np.full(n, 60.0),
        "residual": np.zeros(n),
    }
    base.update(over)
    return ground.GroundInputs(**base)  # type: ignore[arg-type]


def test_ttop_is_the_smith_riseborough_equation_of_its_terms() -> None:
    terms = ground.ttop_terms(inputs())
    expect = (terms["r_k"] * terms["n_t"] * TDD - terms["n_f"] * FDD) / 365.0
    assert terms["ttop"] == pytest.approx(expect, rel=1e-5)


def test_deep_lasting_snow_insulates_and_thin_snow_does_not() -> None:
    p = np.full((12, 1), 25.0)  # 250 mm of snowfall over the ten frozen months
    deep = ground.ttop_terms(inputs(p=p))
    thin = ground.ttop_terms(inputs(p=np.full((12, 1), 0.5)))
    swe = fx.snowfall_swe_mm(T[:, None], p)[0]
    cover = min(fx.snow_cover_days(T[:, None], p)[0] / (365.25 - 61), 1.0)
    expect = 1 - ground.SNOW_INSULATION * (1 - np.exp(-swe / ground.SNOW_DEPTH_MM)) * cover
    assert deep["n_f"][0] == pytest.approx(expect, rel=1e-4)
    assert 0.2 < deep["n_f"][0] < 0.35  # Karunaratne & Burn: ≈ 0.2-0.3 under deep snow
    assert thin["n_f"][0] > 0.95
    assert deep["ttop"][0] > thin["ttop"][0] + 5  # insulation warms the ground by several K


def test_organic_layer_and_wet_fine_soil_cool_the_ground_dry_sand_not() -> None:
    peat = ground.ttop_terms(inputs(soc=np.array([30.0])))
    mineral = ground.ttop_terms(inputs(soc=np.array([0.0])))
    assert peat["r_k"][0] == pytest.approx(0.5 * mineral["r_k"][0], rel=1e-5)
    assert peat["ttop"][0] < mineral["ttop"][0]
    dry_sand = ground.ttop_terms(inputs(sand=np.array([100.0])), off=["organic"])
    wet_clay = ground.ttop_terms(inputs(sand=np.array([0.0]), clay=np.array([60.0])))
    assert dry_sand["r_k"][0] == pytest.approx(0.85)  # no moisture offset in pure sand
    wet = 150.0 / (150.0 + 0.35 * TDD)  # May-September rain over rain + degree-day demand
    assert wet_clay["r_k"][0] == pytest.approx(1 - 0.25 * wet * 1.2, rel=1e-5)


def test_pole_facing_slopes_and_canopy_are_colder_sun_on_bare_high_ground_warmer() -> None:
    flat = ground.ttop_terms(inputs())
    north = ground.ttop_terms(inputs(northness=np.array([0.25])))
    assert north["n_t"][0] == pytest.approx(flat["n_t"][0] * 0.7, rel=1e-5)
    assert north["ttop"][0] < flat["ttop"][0]
    high_south = ground.ttop_terms(inputs(elevation=np.array([4500.0]), lat=np.array([33.0])))
    # cover of the flat cell: warmest month 10 °C (half), 150 mm of summer rain
    bare = 1 - 0.5 * (1 - np.exp(-150 / 200))
    gain = ground.RADIATION * bare * (np.cos(np.radians(10)) * 1.36 / np.cos(np.radians(37)) - 1)
    assert high_south["n_t"][0] == pytest.approx(flat["n_t"][0] + gain, rel=1e-5)
    assert gain > 0.3  # Tibetan Plateau: the surface runs well above the air


def test_switching_an_effect_off_gives_its_neutral_value_and_typos_fail() -> None:
    off = ground.ttop_terms(inputs(soc=np.array([30.0])), off=["snow", "organic"])
    assert off["n_f"][0] == pytest.approx(1 - ground.SNOW_INSULATION * 0.6)
    assert off["r_k"][0] < 0.85  # the moisture part still acts
    with pytest.raises(ValueError, match=r"unknown effects.*'snw'.*snow"):
        ground.ttop_terms(inputs(), off=["snw"])


def test_terrain_at_a_known_plane() -> None:
    # the ground falls by 1 m per 100 m towards the north: it faces north, 0.573° steep
    def elevation(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return 1000.0 - 0.01 * np.asarray(lat) * M_PER_DEGREE

    slope, north = ground.terrain_at(np.array([100.0]), np.array([50.0]), elevation)
    assert slope[0] == pytest.approx(np.degrees(np.arctan(0.01)), rel=1e-4)
    assert north[0] == pytest.approx(np.sin(np.arctan(0.01)), rel=1e-4)
