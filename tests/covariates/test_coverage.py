"""Coverage that matches what users have: exact and regional sources pass, a short source names its
short edge, ``coverage = "partial"`` maps the rest as nodata, and coverage_fraction counts cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from permamap.covariates.align import (
    SourceLayer,
    check_coverage,
    coverage_fraction,
    read_aligned,
)
from permamap.errors import ConfigError, GridMismatchError
from permamap.grid import Grid

from .conftest import write_tif

RES = 1 / 120


def _ramp(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1000, shape).astype("float32")


def test_source_on_the_identical_grid_is_returned_unchanged(tmp_path: Path) -> None:
    grid = Grid.from_bounds((100, 60, 100.5, 60.25), RES)
    data = _ramp(grid.shape)
    path = write_tif(tmp_path / "same.tif", data, grid.transform)
    out = read_aligned(SourceLayer(str(path)), grid)
    np.testing.assert_array_equal(out, data)
    # the same with the reader's one-cell halo around the whole grid: the halo is NaN, the grid exact
    halo = Window(-1, -1, grid.width + 2, grid.height + 2)
    out_h = read_aligned(SourceLayer(str(path)), grid, halo)
    np.testing.assert_array_equal(out_h[1:-1, 1:-1], data)
    assert np.isnan(out_h[0]).all() and np.isnan(out_h[-1]).all()
    assert np.isnan(out_h[:, 0]).all() and np.isnan(out_h[:, -1]).all()


def test_dem_covering_exactly_the_grid_passes_with_a_halo(tmp_path: Path) -> None:
    # a finer (1/480°) DEM whose extent is exactly the grid's: every tile, with its halo, reads
    grid = Grid.from_bounds((100, 60, 100.5, 60.25), RES)
    dem = _ramp((grid.height * 4, grid.width * 4), seed=1)
    path = write_tif(tmp_path / "dem.tif", dem, from_origin(100, 60.25, RES / 4, RES / 4))
    lay = SourceLayer(str(path))
    whole = read_aligned(lay, grid)
    blocks = dem.reshape(grid.height, 4, grid.width, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(whole, blocks, rtol=1e-5)
    for w in grid.tiles((11, 17)):
        halo = Window(w.col_off - 1, w.row_off - 1, w.width + 2, w.height + 2)
        out = read_aligned(lay, grid, halo)
        np.testing.assert_allclose(
            out[1:-1, 1:-1],
            blocks[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width],
            rtol=1e-5,
        )


def test_coarser_source_exactly_covering_gives_edge_cells_a_value(tmp_path: Path) -> None:
    # 1° source, 0.25° grid, same extent: bilinear; edge rows and columns are not NaN
    lon_c = np.arange(0.5, 10, 1.0)
    path = write_tif(
        tmp_path / "coarse.tif",
        np.tile(10 * lon_c, (10, 1)).astype("float32"),
        from_origin(0, 60, 1, 1),
    )
    grid = Grid.from_bounds((0, 50, 10, 60), 0.25)
    out = read_aligned(SourceLayer(str(path)), grid)
    assert np.isfinite(out).all()
    assert out[0, 0] == pytest.approx(5.0) and out[-1, -1] == pytest.approx(95.0)


def test_regional_source_bigger_than_the_grid_passes(tmp_path: Path) -> None:
    big = _ramp((240, 960), seed=2)
    path = write_tif(tmp_path / "region.tif", big, from_origin(95, 62, RES, RES))
    grid = Grid.from_bounds((100, 60, 100.5, 60.25), RES)
    out = read_aligned(SourceLayer(str(path)), grid)
    r0, c0 = round((62 - 60.25) / RES), round((100 - 95) / RES)
    np.testing.assert_array_equal(out, big[r0 : r0 + grid.height, c0 : c0 + grid.width])


def test_source_short_on_the_east_names_the_edge_and_the_gap(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "west_part.tif", _ramp((20, 19), 3), from_origin(170, 70, 0.5, 0.5)
    )  # 170–179.5°E
    grid = Grid.from_bounds((170, 60, 180, 70), 0.5)
    with pytest.raises(GridMismatchError) as err:
        read_aligned(SourceLayer(str(path)), grid)
    msg = str(err.value)
    assert "\n" not in msg and "west_part.tif" in msg
    assert "its east edge is 179.5° but the grid's is 180° (0.5° short)" in msg
    assert 'coverage = "partial"' in msg
    assert "west edge" not in msg and "north edge" not in msg


def test_source_short_on_two_edges_names_both(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "s.tif", _ramp((16, 20), 4), from_origin(170, 68, 0.5, 0.5))
    grid = Grid.from_bounds((169, 60, 180, 70), 0.5)  # short: west 1°, north 2°
    with pytest.raises(GridMismatchError) as err:
        read_aligned(SourceLayer(str(path)), grid)
    msg = str(err.value)
    assert "its west edge is 170° but the grid's is 169° (1° short)" in msg
    assert "its north edge is 68° but the grid's is 70° (2° short)" in msg


def test_partial_source_is_nodata_outside_and_counts_its_share(tmp_path: Path) -> None:
    data = _ramp((20, 19), 5)
    path = write_tif(tmp_path / "west_part.tif", data, from_origin(170, 70, 0.5, 0.5))
    grid = Grid.from_bounds((170, 60, 180, 70), 0.5)
    lay = SourceLayer(str(path), coverage="partial")
    out = read_aligned(lay, grid)
    assert np.isnan(out[:, 19]).all()
    np.testing.assert_array_equal(out[:, :19], data)
    assert coverage_fraction(lay, grid) == pytest.approx(19 / 20)
    assert check_coverage(
        (170.0, 60.0, 179.5, 70.0), CRS.from_epsg(4326), 0.5, grid, grid.full_window, "x",
        coverage="partial",
    ) == pytest.approx(19 / 20)  # fmt: skip
    # a tile wholly outside the source is all NaN, for one band or several
    outside = Window(19, 0, 1, 5)
    assert np.isnan(read_aligned(lay, grid, outside)).all()
    multi = read_aligned(lay, grid, outside, bands=[1, 1])
    assert multi.shape == (2, 5, 1) and np.isnan(multi).all()


def test_full_coverage_returns_one(tmp_path: Path) -> None:
    grid = Grid.from_bounds((0, 0, 4, 4), 1.0)
    frac = check_coverage((0.0, 0.0, 4.0, 4.0), CRS.from_epsg(4326), 1.0, grid, grid.full_window,
                          "x")  # fmt: skip
    assert frac == 1.0
    # the old positional call still works and a halo beyond the grid is not required
    assert check_coverage((0.0, 0.0, 4.0, 4.0), CRS.from_epsg(4326), 0.1, grid,
                          Window(-1, -1, 6, 6), "x") == 1.0  # fmt: skip


@pytest.mark.parametrize(
    ("src_west", "src_east", "grid_bounds", "expected"),
    [
        (0.0, 360.0, (-10, 0, 10, 10), 1.0),  # 0–360 axis on a −180–180 grid
        (20.0, 380.0, (-10, 0, 30, 10), 1.0),  # 20–380 axis
        (0.0, 180.0, (-90, 0, 90, 10), 0.5),
        (180.0, 360.0, (-90, 0, 90, 10), 0.5),  # the western half, on the 0–360 axis
        (-180.0, 180.0, (170, 0, 190, 10), 1.0),  # grid across the antimeridian on 0–360
    ],
)
def test_coverage_fraction_wraps_longitudes(
    tmp_path: Path,
    src_west: float,
    src_east: float,
    grid_bounds: tuple[float, float, float, float],
    expected: float,
) -> None:
    width = int(src_east - src_west)
    path = write_tif(
        tmp_path / "g.tif", np.ones((90, width), "float32"), from_origin(src_west, 90, 1, 1)
    )
    grid = Grid.from_bounds(grid_bounds, 1.0)
    assert coverage_fraction(SourceLayer(str(path)), grid) == pytest.approx(expected)
    if expected == 1.0:
        check_coverage(
            (src_west, 0.0, src_east, 90.0), CRS.from_epsg(4326), 1.0, grid, grid.full_window, "g"
        )


def test_coverage_fraction_geographic_source_on_a_polar_grid(tmp_path: Path) -> None:
    # a lon/lat source north of 60°N under an EPSG:3995 grid: the share is that of cells above 60°N
    path = write_tif(
        tmp_path / "north.tif", np.ones((30, 360), "float32"), from_origin(-180, 90, 1, 1)
    )
    grid = Grid(west=-4e6, north=4e6, res=50_000.0, height=160, width=160, crs="EPSG:3995")
    _, lat = grid.lonlat()
    lay = SourceLayer(str(path))
    assert coverage_fraction(lay, grid) == pytest.approx(float((lat >= 60).mean()), abs=1e-9)
    with pytest.raises(GridMismatchError, match=r"its south edge is 60° but the grid reaches"):
        read_aligned(lay, grid, Window(0, 0, 10, 10))
    inner = Window(70, 70, 20, 20)  # around the pole: covered
    assert check_coverage((-180.0, 60.0, 180.0, 90.0), CRS.from_epsg(4326), 1.0, grid, inner,
                          "n") == 1.0  # fmt: skip


def test_coverage_fraction_samples_large_grids(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "w.tif", np.ones((10, 10), "float32"), from_origin(0, 10, 1, 1))
    grid = Grid.from_bounds((0, 0, 30, 10), 1 / 120)  # 3600 columns: sampled, not every cell
    assert coverage_fraction(SourceLayer(str(path)), grid) == pytest.approx(1 / 3, abs=0.01)


def test_projected_source_on_its_own_grid(tmp_path: Path) -> None:
    grid = Grid(
        west=400_000.0, north=7_000_000.0, res=1000.0, height=12, width=15, crs="EPSG:32633"
    )
    data = _ramp(grid.shape, 6)
    path = write_tif(tmp_path / "utm.tif", data, grid.transform, crs="EPSG:32633")
    np.testing.assert_array_equal(read_aligned(SourceLayer(str(path)), grid), data)
    short = write_tif(
        tmp_path / "short.tif", data[:, :13], grid.transform, crs="EPSG:32633"
    )  # 2 km short on the east
    with pytest.raises(GridMismatchError, match=r"its east edge is 413000 m but the grid's is "
                                                r"415000 m \(2000 m short\)"):  # fmt: skip
        read_aligned(SourceLayer(str(short)), grid)
    assert coverage_fraction(SourceLayer(str(short)), grid) == pytest.approx(13 / 15)


def test_unknown_coverage_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"coverage 'partly' is not one of 'full', 'partial'"):
        SourceLayer("x.tif", coverage="partly")  # type: ignore[arg-type]
