"""Alignment to the Grid: resampling per kind, nodata, Homolosine placement, wrap, coverage, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.transform import from_origin

from permamap.covariates.align import SourceLayer, read_aligned
from permamap.covariates.sources.soilgrids import HOMOLOSINE
from permamap.errors import ConfigError, GridMismatchError, InputFileError
from permamap.grid import Grid

from .conftest import write_tif

RES_250 = 1 / 480  # ~250 m
RES_1K = 1 / 120  # 30 arc-sec, ~1 km


def test_250m_to_1km_block_means_with_nodata(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    fine = rng.uniform(0, 100, (16, 24)).astype("float32")
    fine[0:4, 0:4] = -9999  # a whole 1 km block of nodata -> NaN
    fine[4, 4] = -9999  # one nodata cell -> mean of the other 15
    path = write_tif(
        tmp_path / "fine.tif", fine, from_origin(10, 50, RES_250, RES_250), nodata=-9999
    )
    grid = Grid.from_bounds((10, 50 - 4 * RES_1K, 10 + 6 * RES_1K, 50), RES_1K)
    out = read_aligned(SourceLayer(str(path)), grid)
    blocks = np.ma.masked_equal(fine, -9999).reshape(4, 4, 6, 4).mean(axis=(1, 3))
    assert out.shape == (4, 6)
    assert np.isnan(out[0, 0])
    assert out[1, 1] == pytest.approx(float(blocks[1, 1]), rel=1e-6)
    np.testing.assert_allclose(out[~np.isnan(out)], blocks.compressed(), rtol=1e-5)


def test_bilinear_refines_a_linear_field_exactly(tmp_path: Path) -> None:
    # value = 10·lon on a 1° source; a 0.25° grid inside it sees the same linear field
    lon_c = np.arange(0.5, 10, 1.0)
    src = np.tile(10 * lon_c, (10, 1)).astype("float32")
    path = write_tif(tmp_path / "coarse.tif", src, from_origin(0, 60, 1, 1))
    grid = Grid.from_bounds((3, 53, 6, 56), 0.25)
    out = read_aligned(SourceLayer(str(path)), grid)
    np.testing.assert_allclose(out, np.tile(10 * grid.lon_centers(), (grid.height, 1)), atol=1e-3)


def test_categorical_coarsening_takes_the_mode(tmp_path: Path) -> None:
    classes = np.zeros((4, 8), "uint8")
    classes[:, :4] = [[1, 1, 1, 2]] * 4  # left block: mostly 1
    classes[:, 4:] = [[3, 3, 2, 2]] * 3 + [[3, 2, 3, 3]]  # right block: 3 wins 7 vs 9? count below
    path = write_tif(tmp_path / "cls.tif", classes, from_origin(0, 1, 0.25, 0.25))
    grid = Grid.from_bounds((0, 0, 2, 1), 1.0)
    out = read_aligned(SourceLayer(str(path), kind="categorical"), grid)
    right = np.bincount(classes[:, 4:].ravel()).argmax()
    assert out.tolist() == [[1.0, float(right)]]


def test_homolosine_source_lands_at_the_right_place(tmp_path: Path) -> None:
    # A SoilGrids-like 250 m raster in Interrupted Goode Homolosine with one hot 1 km patch
    to_igh = Transformer.from_crs("EPSG:4326", HOMOLOSINE, always_xy=True)
    x, y = to_igh.transform(100.5, 60.5)
    size = 250.0
    west, north = np.floor(x / 1000) * 1000 - 50_000, np.ceil(y / 1000) * 1000 + 50_000
    data = np.full((400, 400), 100, "int16")
    col, row = int((x - west) // size), int((north - y) // size)
    data[row - 2 : row + 2, col - 2 : col + 2] = 500
    path = write_tif(
        tmp_path / "clay_0-5cm_mean.tif",
        data,
        from_origin(west, north, size, size),
        crs=HOMOLOSINE,
        nodata=-32768,
    )
    grid = Grid.from_bounds((100.3, 60.3, 100.7, 60.7), 1 / 120)
    out = read_aligned(SourceLayer(str(path)), grid)
    r, c = np.unravel_index(np.nanargmax(out), out.shape)
    hot_lon, hot_lat = grid.lon_centers()[c], grid.lat_centers()[r]
    assert abs(hot_lon - 100.5) < 2 / 120 and abs(hot_lat - 60.5) < 2 / 120
    assert np.nanmin(out) == pytest.approx(100.0)


def test_longitude_axis_0_360_wraps_onto_the_grid(tmp_path: Path) -> None:
    lon_c = np.arange(0.5, 360, 1.0)
    path = write_tif(
        tmp_path / "g.tif", np.tile(lon_c, (180, 1)).astype("float32"), from_origin(0, 90, 1, 1)
    )
    grid = Grid.from_bounds((-3, 0, 3, 1), 1.0)
    out = read_aligned(SourceLayer(str(path)), grid)
    assert out[0].tolist() == [357.5, 358.5, 359.5, 0.5, 1.5, 2.5]


def test_source_not_covering_the_grid_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "small.tif", np.ones((10, 10), "float32"), from_origin(10, 50, 1, 1)
    )
    grid = Grid.from_bounds((5, 45, 15, 50), 1.0)
    with pytest.raises(
        GridMismatchError, match=r"small\.tif does not cover the grid window.*shrink"
    ):
        read_aligned(SourceLayer(str(path)), grid)


def test_unknown_crs_asks_for_a_declaration(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "nocrs.tif", np.full((4, 4), 7, "float32"), from_origin(0, 4, 1, 1), crs=None
    )
    grid = Grid.from_bounds((0, 0, 4, 4), 1.0)
    with pytest.raises(InputFileError, match=r"nocrs\.tif has no CRS.*crs = 'EPSG:4326'"):
        read_aligned(SourceLayer(str(path)), grid)
    assert np.all(read_aligned(SourceLayer(str(path), crs="EPSG:4326"), grid) == 7)
    with pytest.raises(ConfigError, match="not a CRS GDAL knows"):
        read_aligned(SourceLayer(str(path), crs="EPSG:999999"), grid)


def test_corrupt_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    good = write_tif(
        tmp_path / "good.tif", np.ones((64, 64), "float32"), from_origin(0, 1, 1 / 64, 1 / 64)
    )
    bad = tmp_path / "bad.tif"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    grid = Grid.from_bounds((0, 0, 1, 1), 0.5)
    with pytest.raises(InputFileError, match=r"bad\.tif.*(download it again)"):
        read_aligned(SourceLayer(str(bad)), grid)


def test_scale_offset_from_config(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "t.tif", np.full((2, 2), 2731, "int16"), from_origin(0, 2, 1, 1))
    grid = Grid.from_bounds((0, 0, 2, 2), 1.0)
    out = read_aligned(SourceLayer(str(path), scale=0.1, offset=-273.1), grid)
    np.testing.assert_allclose(out, 0.0, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(th=st.integers(1, 7), tw=st.integers(1, 9))
def test_tiled_alignment_equals_whole_grid(
    tmp_path_factory: pytest.TempPathFactory, th: int, tw: int
) -> None:
    folder = tmp_path_factory.mktemp("tiles")
    rng = np.random.default_rng(3)
    fine = rng.normal(0, 1, (28, 36)).astype("float32")
    path = write_tif(folder / "f.tif", fine, from_origin(0, 7, 0.25, 0.25))
    grid = Grid.from_bounds((0, 0, 9, 7), 1.0)
    lay = SourceLayer(str(path))
    whole = read_aligned(lay, grid)
    tiled = np.full(grid.shape, np.nan, np.float32)
    for w in grid.tiles((th, tw)):
        tiled[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = read_aligned(
            lay, grid, w
        )
    np.testing.assert_allclose(tiled, whole, rtol=1e-6)
