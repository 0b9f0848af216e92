"""The virtual world: tile independence, climate rules, the truth and the planted site defects."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from permamap.covariates.factors import maat_degc
from permamap.demo import climate
from permamap.demo.sites import sample_sites
from permamap.demo.world import VirtualWorld
from permamap.errors import ConfigError
from permamap.grid import Grid

EPOCHS = [2000, 2005, 2010, 2015, 2020]


@pytest.fixture(scope="module")
def world() -> VirtualWorld:
    return VirtualWorld()


@pytest.fixture(scope="module")
def siberia() -> Grid:
    return Grid.from_bounds((100, 45, 140, 72), res=0.25)


def test_a_tile_equals_the_same_cells_of_a_larger_window(world: VirtualWorld) -> None:
    grid = Grid.from_bounds((120, 55, 130, 65), res=0.5)
    whole = world.factors(grid, 2010)
    tile = Window(5, 3, 7, 6)
    part = world.factors(grid, 2010, tile)
    expected = whole[:, 3:9, 5:12]
    assert np.array_equal(part, expected, equal_nan=True)  # bit for bit, not merely close


def test_window_climatology_is_the_mean_of_the_monthly_series(world: VirtualWorld) -> None:
    lon, lat = np.array([129.7, 37.6]), np.array([62.0, 55.7])
    years = world.window_years(2010)
    t_all, p_all = world.monthly_at(lon, lat, years)
    t_win, p_win = world.climate_at(lon, lat, 2010)
    assert np.allclose(t_all.mean(axis=0), t_win, atol=1e-4)
    assert np.allclose(p_all.mean(axis=0), p_win, rtol=1e-5)


def test_missing_years_are_listed(world: VirtualWorld) -> None:
    with pytest.raises(ConfigError, match=r"missing \[1986, 1987, 1988, 1989, 1990\]"):
        world.window_years(1990)


def test_climate_rules_have_the_right_signs(world: VirtualWorld) -> None:
    lon = np.array([129.7, 37.6, 90.0])
    lat = np.array([62.0, 55.7, 32.0])
    t, _ = world.climate_at(lon, lat, 2000)
    maat = maat_degc(t)
    amplitude = t.max(axis=0) - t.min(axis=0)
    assert maat[0] < maat[1]  # Yakutsk colder than Moscow
    assert amplitude[0] > amplitude[1] + 10  # and far more continental
    assert maat[2] < 0  # the Tibetan Plateau is cold by lapse rate
    # lapse rate: the same point 1 km higher is 6.5 K colder
    t0, _ = climate.climatology(
        np.array([50.0]), np.array([0.0]), np.array([1000.0]), np.array([500.0])
    )
    t1, _ = climate.climatology(
        np.array([50.0]), np.array([1000.0]), np.array([1000.0]), np.array([500.0])
    )
    assert np.allclose(t0 - t1, 6.5, atol=1e-4)


def test_arctic_amplified_trend() -> None:
    assert climate.trend_k_per_decade(np.array(30.0)) == pytest.approx(0.30)
    assert climate.trend_k_per_decade(np.array(75.0)) == pytest.approx(0.73)


def test_truth_shrinks_with_warming(world: VirtualWorld, siberia: Grid) -> None:
    area = siberia.cell_area_km2()
    early, late = world.truth(siberia, 2000), world.truth(siberia, 2020)
    assert set(np.unique(early)) <= {0, 1, 255}
    assert np.array_equal(early == 255, late == 255)
    assert area[late == 1].sum() < area[early == 1].sum()


def test_sites_are_clustered_labelled_and_carry_planted_defects(
    world: VirtualWorld, siberia: Grid
) -> None:
    sites = sample_sites(world, siberia, EPOCHS, random_state=3)
    bore = sites.boreholes[sites.boreholes.source == "demo-borehole"]
    assert set(bore.cluster) == {"central-yakutia", "lena-delta-tiksi", "transbaikal", "mongolia"}
    flipped = bore.label_flipped.mean()
    assert 0.02 < flipped < 0.08  # ~5 % label noise
    rows, cols = siberia.index(bore.lon.to_numpy(), bore.lat.to_numpy())
    assert len(set(zip(rows, cols, strict=True))) == len(
        bore
    )  # one borehole per cell: only planted duplicates share
    assert sites.stations.station_id.str.len().eq(11).all()
    assert len(sites.station_monthly) == len(sites.stations) * 12 * len(world.years)


def test_the_eurasian_demo_plants_every_kind_of_defect(world: VirtualWorld) -> None:
    grid = Grid.from_bounds((25, 25, 180, 84), res=1 / 12)
    sites = sample_sites(world, grid, EPOCHS, random_state=7)
    assert set(sites.planted.rule) == {
        "invalid_coordinates",
        "swapped_coordinates",
        "in_sea",
        "duplicate_conflict",
        "duplicate_merged",
        "climate_contradiction",
        "unclear_label",
        "no_epoch",
        "outside_grid",
    }
    assert 1000 < len(sites.boreholes) < 1200
