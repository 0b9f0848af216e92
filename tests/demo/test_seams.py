"""Issue 11: the virtual climate has no seams in space and its window means follow the trend in time."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from permamap.demo import layers
from permamap.demo.climate import MASS_ELEVATION_K_PER_KM
from permamap.demo.seams import LAPSE_K_PER_M as LAPSE
from permamap.demo.seams import seam_report
from permamap.demo.world import VirtualWorld
from permamap.grid import Grid

EURASIA = (25, 25, 180, 84)
EPOCHS = [2000, 2005, 2010, 2015, 2020]
RES = 1 / 12


@pytest.fixture(scope="module")
def world() -> VirtualWorld:
    return VirtualWorld()


def _smooth_field(n_rows: int = 120, n_cols: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """MAAT (°C) falling 0.8 K per degree northwards with a gentle 3-D wobble, on a flat plain."""
    lat = (60 - (np.arange(n_rows) + 0.5) * RES)[:, None] * np.ones((1, n_cols))
    lon = (70 + (np.arange(n_cols) + 0.5) * RES)[None, :] * np.ones((n_rows, 1))
    maat = -0.8 * (lat - 50.0) + 1.5 * np.sin(np.radians(lon) * 20) * np.cos(np.radians(lat) * 15)
    return maat, np.full(maat.shape, 120.0)


def _coords(grid: Grid, window: Window) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(grid.lon_centers(window), grid.lat_centers(window))
    return lon, lat


def _scan_window(world: VirtualWorld, grid: Grid, core: Window, epoch: int = 2010) -> list:
    """Scan ``core`` of ``grid`` with one extra row and column of partners (MAAT only on land).

    The terrain's two smooth effects are removed: the lapse rate by :func:`seam_report` and, here,
    the mass-elevation warming (``MASS_ELEVATION_K_PER_KM`` × plateau height), which is steep but
    smooth along mountain fronts such as the Kunlun above the Tarim basin.
    """
    rows = min(int(core.height) + 1, grid.height - int(core.row_off))
    cols = min(int(core.width) + 1, grid.width - int(core.col_off))
    win = Window(core.col_off, core.row_off, cols, rows)
    land = world.land(grid, win)
    maat = np.full(land.shape, np.nan, dtype=np.float32)
    if land.any():
        lon, lat = _coords(grid, win)
        mass = MASS_ELEVATION_K_PER_KM * layers.plateau_height_m(lon[land], lat[land]) / 1000
        maat[land] = world.maat_at(lon[land], lat[land], epoch) - mass
        elev = layers.elevation_m(lon, lat)
    else:
        elev = np.zeros(land.shape, dtype=np.float32)
    return seam_report(
        maat,
        elev,
        land,
        grid.res,
        core=(int(core.height), int(core.width)),
        origin=(int(core.row_off), int(core.col_off)),
    )


# -- the scanner, on fields with known answers ------------------------------------------------------
def test_a_smooth_field_passes_and_an_injected_1k_step_is_flagged_where_it_is() -> None:
    maat, elev = _smooth_field()
    land = np.ones(maat.shape, bool)
    assert seam_report(maat, elev, land, RES) == []
    stepped = maat.copy()
    stepped[75:, 30:] += 1.0  # a step between rows 74 and 75, east of column 30
    report = seam_report(stepped, elev, land, RES)
    # 5° boxes are 60 cells: the step lies in the boxes of rows 60-119, columns 0-59 and 60-119;
    # and the step's western end (column 29 against 30, rows 75-119) in the box of column 0
    assert [(b.row_off, b.col_off) for b in report] == [(60, 0), (60, 60)]
    assert [b.rows for b in report] == [(74,), (74,)]
    assert [b.n_row_flags for b in report] == [30, 60]
    assert report[0].cols == (29,) and report[0].n_col_flags == 45
    assert report[1].n_col_flags == 0


def test_a_step_the_terrain_explains_is_excused() -> None:
    maat, _ = _smooth_field()
    land = np.ones(maat.shape, bool)
    step = np.zeros(maat.shape)
    step[75:] = 1.0
    # a scarp between rows 74 and 75 and MAAT 1 K lower above it: 1 K / 6.5 K/km = 154 m explains
    # it all; at 60 m the lapse rate explains 0.39 K and leaves 0.61 K unexplained (a seam)
    for rise_m, unexplained_k in [(1000.0 / 6.5, None), (60.0, 0.61)]:
        elev = 100.0 + rise_m * step
        report = seam_report(maat - step, elev, land, RES)
        if unexplained_k is None:
            assert report == []
        else:
            assert {b.rows for b in report} == {(74,)}
            assert max(b.worst_step_k for b in report) == pytest.approx(unexplained_k, abs=0.1)


def test_terrain_on_a_smooth_gradient_is_no_seam() -> None:
    # the smooth gradient plus terrain: |ΔMAAT| is four times the gradient's where the ground drops
    # and reverses where it rises again, but all of that is the lapse rate
    maat, _ = _smooth_field()
    land = np.ones(maat.shape, bool)
    elev = np.zeros(maat.shape)
    elev[::6] = -30.0  # every sixth row a 30 m dip: 0.195 K warmer
    assert seam_report(maat - LAPSE * elev, elev, land, RES) == []
    # the same MAAT judged against a flat plain: stepping into a dip is a 0.26 K seam
    flagged = seam_report(maat - LAPSE * elev, np.zeros(maat.shape), land, RES)
    assert {r % 6 for b in flagged for r in b.rows} == {5}


def test_ocean_cells_and_small_steps_are_not_seams() -> None:
    maat, elev = _smooth_field()
    land = np.ones(maat.shape, bool)
    land[:, 40:50] = False
    maat[:, 45:] += 5.0  # a 5 K jump hidden inside a strait: no pair of land cells straddles it
    assert seam_report(maat, elev, land, RES) == []
    maat[:, 100:] += 0.06  # over 3× the box median, under the 0.125 K floor
    assert seam_report(maat, elev, land, RES) == []


def test_the_floor_scales_with_the_cell() -> None:
    # 30 arc-sec: MAAT falls 0.8 K per degree northwards, 0.0067 K from row to row; the floor is
    # 1.5 K/deg × 1/120° = 0.0125 K, so a 0.05 K step (7× the median) is a seam here
    res = 1 / 120
    lat = (60 - (np.arange(600) + 0.5) * res)[:, None] * np.ones((1, 50))
    maat = -0.8 * (lat - 50.0)
    flat, land = np.zeros_like(maat), np.ones(maat.shape, bool)
    assert seam_report(maat, flat, land, res) == []
    maat[300:] += 0.05
    assert [(b.rows, b.n_row_flags) for b in seam_report(maat, flat, land, res)] == [((299,), 50)]
    assert seam_report(maat, flat, land, res, floor_k=0.1) == []


def test_a_tiled_scan_equals_the_whole_scan() -> None:
    maat, elev = _smooth_field(180, 150)
    maat[60:, :] -= 0.7  # on the edge between two tiles of 60 rows
    maat[:, 90:] += 0.5  # on the edge between two tiles of 90 columns (not a box edge of 60)
    land = np.ones(maat.shape, bool)
    whole = seam_report(maat, elev, land, RES)
    tiled = []
    for r0 in range(0, 180, 60):
        for c0 in range(0, 150, 60):
            sl = np.s_[r0 : r0 + 61, c0 : c0 + 61]
            core = (min(60, 180 - r0), min(60, 150 - c0))
            tiled += seam_report(maat[sl], elev[sl], land[sl], RES, core=core, origin=(r0, c0))
    assert tiled == whole
    assert {r for b in whole for r in b.rows} == {59}
    assert {c for b in whole for c in b.cols} == {89}


def test_layers_of_different_shapes_are_refused() -> None:
    maat, elev = _smooth_field()
    with pytest.raises(ValueError, match="differ in shape"):
        seam_report(maat, elev[:-1], np.ones(maat.shape, bool), RES)


# -- the virtual world --------------------------------------------------------------------------------
def test_smoothing_on_the_sphere_wraps_and_keeps_the_mean() -> None:
    lat = np.array([70.0, 60.0, 50.0])
    values = np.zeros((3, 1440))
    values[:, :10] = 1000.0  # a band just east of the antimeridian
    out = layers.smooth_on_sphere(values, lat, 500.0)
    assert np.allclose(out.sum(axis=1), values.sum(axis=1), rtol=1e-5)  # no mass lost
    assert out[1, -1] > 50.0  # spread westwards across the antimeridian
    # the same 500 km is more degrees of longitude at 70 °N than at 50 °N
    assert out[0, 200] > out[2, 200]


def test_maat_is_continuous_across_tile_edges(world: VirtualWorld) -> None:
    # West Siberia across the latitudes of the old seams (61, 63.7 and 66 °N)
    grid = Grid.from_bounds((60, 58, 90, 68), res=RES)
    maat_band = VirtualWorld.factor_names.index("maat")
    elev_band = VirtualWorld.factor_names.index("elevation")
    whole = world.factors(grid, 2010)
    tiled = np.full(whole.shape, np.nan, dtype=np.float32)
    for w in grid.tiles((47, 130)):
        tiled[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = world.factors(
            grid, 2010, w
        )
    assert np.allclose(tiled, whole, atol=1e-4, equal_nan=True)
    maat, elev = tiled[maat_band], tiled[elev_band]
    assert seam_report(maat, elev, np.isfinite(maat), grid.res) == []


def test_the_demo_grid_has_no_seams(world: VirtualWorld) -> None:
    grid = Grid.from_bounds(EURASIA, res=RES)  # 708 × 1860, scanned in bands of one box
    box = round(5.0 / grid.res)
    flagged = [
        b
        for r0 in range(0, grid.height, box)
        for b in _scan_window(world, grid, Window(0, r0, grid.width, min(box, grid.height - r0)))
    ]
    assert flagged == []


def test_window_means_rise_from_each_epoch_to_the_next(world: VirtualWorld) -> None:
    grid = Grid.from_bounds(EURASIA, res=RES)
    land = world.land(grid)
    lon, lat = _coords(grid, grid.full_window)
    # every second row and column: 196,886 of the demo grid's 787,728 land cells
    land[1::2] = False
    land[:, 1::2] = False
    lon, lat = lon[land], lat[land]
    maat = [world.maat_at(lon, lat, e) for e in EPOCHS]
    for e, before, after in zip(EPOCHS, maat[:-1], maat[1:], strict=False):
        rising = np.mean(after > before)
        assert rising >= 0.97, f"{e} -> {e + 5}: MAAT rises in only {rising:.1%} of land cells"


def test_stations_see_coherent_interannual_variability_of_a_few_tenths(
    world: VirtualWorld,
) -> None:
    # Yakutsk, a point 50 km east of it, and one at 35 °N
    lon, lat = np.array([129.7, 130.4, 100.0]), np.array([62.0, 62.0, 35.0])
    years = list(world.years)
    t, _ = world.monthly_at(lon, lat, years)
    annual = t.mean(axis=1)  # (year, point)
    resid = annual - np.polyval(np.polyfit(years, annual, 1), np.array(years)[:, None])
    sigma = resid.std(axis=0)
    assert 0.15 < sigma[0] < 0.4  # 0.4 decade × 0.66 K/decade = 0.26 K expected
    assert 0.06 < sigma[2] < 0.2  # 0.4 decade × 0.30 K/decade = 0.12 K expected
    assert np.corrcoef(resid[:, 0], resid[:, 1])[0, 1] > 0.95  # spatially coherent


@pytest.mark.slow
def test_the_30_arcsec_bench_grid_has_no_seams(world: VirtualWorld) -> None:
    grid = Grid.from_bounds(EURASIA, res=1 / 120)  # 7080 × 18600 cells, one 5° box at a time
    assert grid.shape == (7080, 18600)
    flagged = [b for w in grid.tiles((600, 600)) for b in _scan_window(world, grid, w)]
    assert flagged == []
