"""The real-layout generator of ``benchmarks.real_layout`` and the real readers on its files.

Known answers: every product holds the virtual world's values on its own grid, so what the
readers give back at cells where the resampling is exact equals the virtual world there.
"""

from __future__ import annotations

import calendar
import zipfile
from pathlib import Path

import numpy as np
import pytest

from permamap.covariates.sources.copdem import CopernicusDEM
from permamap.covariates.sources.modis import ModisSnow
from permamap.covariates.sources.soilgrids import SoilGrids
from permamap.covariates.sources.worldclim import WorldClimMonthly
from permamap.demo import layers
from permamap.demo.world import VirtualWorld
from permamap.grid import Grid

real_layout = pytest.importorskip("benchmarks.real_layout")

BOUNDS = (100.0, 60.0, 101.0, 61.0)
BLOCK = (100.0, 60.0, 101.0, 61.0)
EPOCH = 2000  # a one-year window keeps the 36 global WorldClim files few
GRID = Grid.from_bounds((100.25, 60.25, 100.75, 60.75), 1 / 120)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> object:
    root = tmp_path_factory.mktemp("real-layout")
    return real_layout.generate(root, BOUNDS, BLOCK, EPOCH, window_years=1)


def test_files_have_the_real_names_and_generation_is_cached(layout: object) -> None:
    lay = layout  # a real_layout.Layout
    zips = sorted(p.name for p in lay.worldclim.glob("*.zip"))  # type: ignore[attr-defined]
    assert zips == [f"wc2.1_cruts4.09_2.5m_{v}_2000-2009.zip" for v in ("prec", "tmax", "tmin")]
    with zipfile.ZipFile(lay.worldclim / zips[0]) as zf:  # type: ignore[attr-defined]
        assert sorted(zf.namelist())[0] == "wc2.1_cruts4.09_2.5m_prec_2000-01.tif"
    tiles = sorted(p.name for p in lay.copdem.rglob("*.tif"))  # type: ignore[attr-defined]
    assert tiles == ["Copernicus_DSM_COG_30_N60_00_E100_00_DEM.tif"]
    assert len(list(lay.modis.glob("MOD10CM.A2000*.061.*.tif"))) == 12  # type: ignore[attr-defined]
    vrt = lay.soilgrids_vrt  # type: ignore[attr-defined]
    assert vrt.name == "clay_0-5cm_mean.vrt"
    assert list(vrt.parent.glob("clay_0-5cm_mean/tileSG-*/tileSG-*_*-*.tif"))
    # a second run finds every file complete and rewrites none
    before = {p: p.stat().st_mtime_ns for p in lay.root.rglob("*.tif")}  # type: ignore[attr-defined]
    real_layout.generate(lay.root, BOUNDS, BLOCK, EPOCH, window_years=1)  # type: ignore[attr-defined]
    assert {p: p.stat().st_mtime_ns for p in before} == before
    with pytest.raises(ValueError, match="delete the folder"):
        real_layout.generate(lay.root, (100.0, 60.0, 102.0, 61.0), BLOCK, EPOCH, window_years=1)  # type: ignore[attr-defined]


def test_readers_give_back_the_virtual_world(layout: object) -> None:
    lay = layout
    world = VirtualWorld()
    # WorldClim: a 30" cell in the middle of a 2.5' cell sits on that cell's centre, where the
    # bilinear resampling returns the cell itself: the mean of (t - 4 + t + 4) / 2 = t
    t, p = WorldClimMonthly([lay.worldclim]).monthly_means(GRID, GRID.full_window, [EPOCH])  # type: ignore[attr-defined]
    rows, cols = np.arange(2, GRID.height, 5), np.arange(2, GRID.width, 5)
    lon, lat = np.meshgrid(GRID.lon_centers()[cols], GRID.lat_centers()[rows])
    want_t, want_p = world.climate_at(lon.ravel(), lat.ravel(), EPOCH, 1)
    np.testing.assert_allclose(t[:, rows][:, :, cols].reshape(12, -1), want_t, atol=1e-4)
    np.testing.assert_allclose(p[:, rows][:, :, cols].reshape(12, -1), want_p, rtol=1e-5)
    # Copernicus DEM: the 30" cell is the mean of its 10 x 10 (here 5 x 10) 90 m pixels of a
    # bilinear elevation surface: the surface's value at the cell centre
    lon, lat = np.meshgrid(GRID.lon_centers(), GRID.lat_centers())
    dem = CopernicusDEM(lay.copdem, arcsec=30).read(GRID, GRID.full_window)  # type: ignore[attr-defined]
    np.testing.assert_allclose(dem, layers.elevation_m(lon, lat), atol=0.01)
    # SoilGrids: int16 g/kg of the nearest 3' soil cell; cells whose 250 m pixels all lie in one
    # soil cell (the soil value is the same 2 km around the cell: Homolosine shears the pixels
    # this far from its central meridian) read back exactly
    clay = SoilGrids(lay.soilgrids_vrt, "clay").read(GRID, GRID.full_window)  # type: ignore[attr-defined]
    half = GRID.res / 2 + 0.02
    around = [
        layers.soil_percent("clay", lon + dx, lat + dy)
        for dx in (-half, half)
        for dy in (-half, half)
    ]
    interior = np.all([a == around[0] for a in around], axis=0)
    assert interior.mean() > 0.5
    want_clay = np.round(layers.soil_percent("clay", lon, lat) * 10) / 10
    np.testing.assert_allclose(clay[interior], want_clay[interior], atol=1e-4)
    # MODIS MOD10CM on its own 0.05° grid: snow days = sum of monthly cover % x days in the month
    g = Grid.from_bounds((100.25, 60.25, 100.75, 60.75), 0.05)
    days = ModisSnow(lay.modis, "MOD10CM").snow_days(g, g.full_window, [EPOCH])  # type: ignore[attr-defined]
    lon, lat = np.meshgrid(g.lon_centers(), g.lat_centers())
    mt, mp = world.monthly_at(lon.ravel(), lat.ravel(), [EPOCH])
    cover = real_layout.modis_cover(mt[0], mp[0]).astype(np.float32) / 100
    month_days = np.array([calendar.monthrange(EPOCH, m)[1] for m in range(1, 13)], np.float32)
    want = (cover * month_days[:, None]).sum(axis=0).reshape(g.shape)
    assert 0 < float(want.mean()) < 366
    np.testing.assert_allclose(days, want, atol=1e-3)


def test_band_cache_equals_the_per_tile_read(layout: object) -> None:
    """WorldClim tiles sliced from the cached row band are the per-tile reads, bit for bit."""
    src = WorldClimMonthly([layout.worldclim])  # type: ignore[attr-defined]
    first = src._layer("tmin", EPOCH, 1)
    for w in GRID.tiles((23, 37)):
        t_ref = np.empty((12, int(w.height), int(w.width)), np.float32)
        p_ref = np.empty_like(t_ref)
        src._means_per_tile(GRID, w, [EPOCH], first, t_ref, p_ref)
        t, p = src.monthly_means(GRID, w, [EPOCH])
        assert np.array_equal(t, t_ref, equal_nan=True) and np.array_equal(p, p_ref, equal_nan=True)
    assert len(src._bands) == 2  # the last two row bands are held, no more


def test_quick_benchmark_reports_each_reader(layout: object, tmp_path: Path) -> None:
    result = real_layout.read_tiles("modis", str(layout.root), BOUNDS, EPOCH, 1, (60, 60))  # type: ignore[attr-defined]
    assert result["cells"] == 120 * 120 and result["tiles"] == 4
    assert result["valid_fraction"] == 1.0


def test_combined_stack_on_a_dem_that_covers_exactly_the_grid(
    layout: object, tmp_path: Path
) -> None:
    """The whole [covariates.real] config on the DEM block: the terrain's one-cell halo beyond
    the grid needs no DEM tile there (it used to ask for the neighbouring tiles)."""
    import rasterio

    out = tmp_path / "stack.tif"
    figures = real_layout.build_combined(str(layout.root), BLOCK, EPOCH, str(out), window_years=1)  # type: ignore[attr-defined]
    assert figures["cells"] == 120 * 120
    grid = Grid.from_bounds(BLOCK, 1 / 120)
    with rasterio.open(out) as ds:
        names = list(ds.descriptions)
        assert {"maat", "elevation", "slope", "clay", "snow_days"} <= set(names)
        elev = ds.read(names.index("elevation") + 1)
    lon, lat = np.meshgrid(grid.lon_centers(), grid.lat_centers())
    ok = np.isfinite(elev)
    assert ok.mean() > 0.5  # cells where a factor is missing (clay at soil-unit edges) are NaN
    np.testing.assert_allclose(elev[ok], layers.elevation_m(lon, lat)[ok], atol=0.01)
