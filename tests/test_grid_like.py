"""Grids from rasters (``[grid] like``), whole-pixel tolerance, and grids in projected CRSs.

Known answers: the grid of a raster has the raster's transform and shape; a cropped grid sits on the
raster's own pixel edges; on EPSG:6931 (EASE-Grid 2.0 North, equal area) a 25 km cell is 625 km²;
on EPSG:3995 (polar stereographic, conformal) the cells north of 60°N add up to the ellipsoidal zone
area; on UTM a cell on the central meridian is res²/k0².
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid, zone_area_km2

ODD = 0.009622504490074476  # a pixel size from someone's DEM: 192 × 121 of them


def write_raster(
    path: Path,
    transform: Affine,
    shape: tuple[int, int] = (121, 192),
    crs: str | None = "EPSG:4326",
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=shape[0],
        width=shape[1],
        count=1,
        dtype="uint8",
        crs=crs,
        transform=transform,
    ) as ds:
        ds.write(np.ones((1, *shape), "uint8"))
    return path


def cover_count(grid: Grid, tile_shape: tuple[int, int]) -> np.ndarray:
    count = np.zeros(grid.shape, dtype=int)
    for w in grid.tiles(tile_shape):
        count[
            int(w.row_off) : int(w.row_off + w.height), int(w.col_off) : int(w.col_off + w.width)
        ] += 1
    return count


# -- from_bounds: a tolerance, not a denominator -----------------------------------------------


def test_odd_pixel_extent_is_whole() -> None:
    # 192 × 121 pixels of 0.009622504490074476°: refused before as "192.0000 × 121.0000"
    west, north = 93.21, 67.4
    east, south = west + 192 * ODD, north - 121 * ODD
    g = Grid.from_bounds((west, south, east, north), res=ODD)
    assert g.shape == (121, 192)
    assert g.res == ODD
    assert g.east == pytest.approx(east, abs=1e-12) and g.south == pytest.approx(south, abs=1e-12)


@pytest.mark.parametrize("res", [1 / 12, 1 / 120])
def test_nice_fractions_stay_exact(res: float) -> None:
    g = Grid.from_bounds((25, 25, 180, 84), res=res)
    n = round(1 / res)
    assert g.shape == (59 * n, 155 * n)
    assert g.east == 180.0 and g.south == 25.0  # exact, not 179.99999999999997
    assert g.bounds == (25.0, 25.0, 180.0, 84.0)
    tiles = [(w.row_off, w.col_off, w.height, w.width) for w in g.tiles((512, 512))]
    expected = [
        (r, c, min(512, g.height - r), min(512, g.width - c))
        for r in range(0, g.height, 512)
        for c in range(0, g.width, 512)
    ]
    assert tiles == expected


def test_non_whole_extent_says_which_side_to_move_and_by_how_much() -> None:
    with pytest.raises(ConfigError) as err:
        Grid.from_bounds((25, 25, 180.01, 84), res=1 / 12)
    msg = str(err.value)
    assert "not a whole number" in msg and "\n" not in msg
    # 180.01 is 0.01 past the edge at 180 and 0.0733… short of the next one
    assert "move east to 180 (0.01 west) or 180.0833333 (0.0733333 east)" in msg
    assert "south" not in msg
    with pytest.raises(ConfigError, match=r"move south to 25\.05 \(0\.05 north\)"):
        Grid.from_bounds((25, 25, 180, 84.05), res=1 / 12)


# -- from_raster -------------------------------------------------------------------------------


def test_from_raster_odd_pixels_equals_its_transform_and_shape(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "dem.tif", from_origin(93.21, 67.4, ODD, ODD))
    g = Grid.from_raster(path)
    with rasterio.open(path) as ds:
        assert g.transform == ds.transform  # exactly
        assert g.shape == ds.shape == (121, 192)
        assert g.crs == "EPSG:4326"
        assert g.matches(ds.crs, ds.transform, ds.shape)
        np.testing.assert_allclose(g.bounds, tuple(ds.bounds), rtol=0, atol=1e-12)
    assert (cover_count(g, (50, 64)) == 1).all()
    assert (cover_count(g, (512, 512)) == 1).all()


def test_from_raster_projected_keeps_the_epsg_code(tmp_path: Path) -> None:
    path = write_raster(
        tmp_path / "arctic.tif", from_origin(-1e6, 1e6, 25_000, 25_000), (80, 80), "EPSG:3995"
    )
    g = Grid.from_raster(path)
    assert g.crs == "EPSG:3995" and g.res == 25_000.0 and g.shape == (80, 80)
    assert g.bounds == (-1e6, -1e6, 1e6, 1e6)


def test_from_raster_vrt(tmp_path: Path) -> None:
    tif = write_raster(tmp_path / "a.tif", from_origin(10, 50, 0.5, 0.5), (6, 12))
    vrt = tmp_path / "a.vrt"
    rasterio.shutil.copy(tif, vrt, driver="VRT")
    assert Grid.from_raster(vrt) == Grid.from_raster(tif) == Grid.from_bounds((10, 47, 16, 50), 0.5)


def test_from_raster_netcdf(tmp_path: Path) -> None:
    tif = write_raster(tmp_path / "a.tif", from_origin(93.21, 67.4, ODD, ODD))
    nc = tmp_path / "a.nc"
    rasterio.shutil.copy(tif, nc, driver="netCDF")
    g = Grid.from_raster(nc)
    assert g.shape == (121, 192)
    assert g.transform.almost_equals(Grid.from_raster(tif).transform, precision=1e-12)
    assert Grid.from_raster(f"netcdf:{nc}:Band1") == g


def test_from_raster_bounds_snap_outward_to_its_pixel_edges(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "r.tif", from_origin(10, 50, 0.5, 0.5), (20, 40))
    g = Grid.from_raster(path, bounds=(11.2, 42.1, 13.0, 49.9))
    assert g.bounds == (11.0, 42.0, 13.0, 50.0)
    assert g.res == 0.5 and g.shape == (16, 4)
    # cells of the crop are cells of the raster
    full = Grid.from_raster(path)
    assert full.index(np.array([g.lon_centers()[0]]), np.array([g.lat_centers()[0]])) == (
        np.array([0]),
        np.array([2]),
    )
    # a bound a hair off an edge (rounding) stays on the edge instead of adding a pixel
    g2 = Grid.from_raster(path, bounds=(11.0 + 1e-9, 42.0 - 1e-9, 13.0 + 1e-9, 50.0))
    assert g2.bounds == (11.0, 42.0, 13.0, 50.0)


def test_from_raster_odd_pixels_cropped(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "dem.tif", from_origin(93.21, 67.4, ODD, ODD))
    g = Grid.from_raster(path, bounds=(93.5, 66.5, 94.5, 67.0))
    full = Grid.from_raster(path)
    c0 = (g.west - full.west) / ODD
    r0 = (full.north - g.north) / ODD
    assert abs(c0 - round(c0)) < 1e-9 and abs(r0 - round(r0)) < 1e-9
    assert g.west <= 93.5 and g.east >= 94.5 and g.south <= 66.5 and g.north >= 67.0
    assert g.west > 93.5 - ODD and g.east < 94.5 + ODD
    assert (cover_count(g, (7, 9)) == 1).all()


def test_from_raster_bounds_outside_is_an_error(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "r.tif", from_origin(10, 50, 0.5, 0.5), (20, 40))
    with pytest.raises(ConfigError, match=r"r\.tif \(east 30\.5 is 0\.5 beyond its 30\)"):
        Grid.from_raster(path, bounds=(12, 42, 30.5, 48))
    with pytest.raises(ConfigError, match="inverted"):
        Grid.from_raster(path, bounds=(14, 42, 12, 48))


def test_from_raster_refuses_what_is_not_a_grid(tmp_path: Path) -> None:
    rect = write_raster(tmp_path / "rect.tif", from_origin(0, 10, 0.5, 0.25), (8, 8))
    with pytest.raises(InputFileError, match=r"rect\.tif has non-square pixels \(0\.5 × 0\.25\)"):
        Grid.from_raster(rect)
    rot = write_raster(tmp_path / "rot.tif", Affine(0.5, 0.1, 0, 0.1, -0.5, 10), (8, 8))
    with pytest.raises(InputFileError, match=r"rot\.tif is rotated.*gdalwarp"):
        Grid.from_raster(rot)
    south_up = write_raster(tmp_path / "south_up.tif", Affine(1, 0, 0, 0, 1, 2), (8, 8))
    with pytest.raises(InputFileError, match=r"south_up\.tif is not north-up"):
        Grid.from_raster(south_up)
    nocrs = write_raster(tmp_path / "nocrs.tif", from_origin(0, 10, 1, 1), (8, 8), crs=None)
    with pytest.raises(InputFileError, match=r"nocrs\.tif has no CRS.*-a_srs"):
        Grid.from_raster(nocrs)
    assert Grid.from_raster(nocrs, crs="EPSG:4326") == Grid.from_bounds((0, 2, 8, 10), 1.0)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a raster at all")
    with pytest.raises(InputFileError, match=r"junk\.tif cannot be read as a raster"):
        Grid.from_raster(junk)
    with pytest.raises(InputFileError, match=r"missing\.tif cannot be read"):
        Grid.from_raster(tmp_path / "missing.tif")
    for bad in ("rect", "rot", "south_up", "nocrs", "junk"):
        with pytest.raises((InputFileError, ConfigError)) as err:
            Grid.from_raster(tmp_path / f"{bad}.tif")
        assert "\n" not in str(err.value)


# -- projected grids: areas, lon/lat, tiles ----------------------------------------------------


def test_ease_grid_cell_is_res_squared() -> None:
    g = Grid(west=-9e6, north=9e6, res=25_000.0, height=720, width=720, crs="EPSG:6931")
    area = g.cell_area_km2(Window(0, 0, 40, 30))
    assert area.shape == (30, 40)
    assert (area == 625.0).all()


def test_polar_stereographic_cells_add_up_to_the_zone_north_of_60() -> None:
    g = Grid(west=-4e6, north=4e6, res=25_000.0, height=320, width=320, crs="EPSG:3995")
    _, lat = g.lonlat()
    area = g.cell_area_km2()
    zone = float(zone_area_km2(np.array(60.0), np.array(90.0), 360.0))
    assert area[lat >= 60].sum() == pytest.approx(zone, rel=5e-3)
    # res² (what was returned before) is wrong by more than 1 % on this conformal projection
    assert abs((lat >= 60).sum() * 625.0 / zone - 1) > 0.01
    # tiles add up to the whole
    tiled = sum(g.cell_area_km2(w).sum() for w in g.tiles((100, 70)))
    assert tiled == pytest.approx(area.sum(), rel=1e-12)


def test_polar_stereographic_cells_match_a_geodesic_polygon() -> None:
    from pyproj import Geod

    g = Grid(west=1_000_000.0, north=-1_500_000.0, res=25_000.0, height=1, width=1, crs="EPSG:3995")
    # densified cell outline, its geodesic area on WGS84
    t = np.linspace(0, 1, 200)
    x = np.r_[g.west + t * g.res, np.full(200, g.east), g.east - t * g.res, np.full(200, g.west)]
    y = np.r_[
        np.full(200, g.north), g.north - t * g.res, np.full(200, g.south), g.south + t * g.res
    ]
    lon, lat = Transformer.from_crs("EPSG:3995", "EPSG:4326", always_xy=True).transform(x, y)
    geodesic, _ = Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    assert g.cell_area_km2()[0, 0] == pytest.approx(abs(geodesic) / 1e6, rel=1e-5)


def test_utm_cell_on_the_central_meridian() -> None:
    k0 = 0.9996
    for res in (30.0, 1000.0):
        g = Grid(
            west=500_000 - res / 2, north=7_000_000.0, res=res, height=1, width=1, crs="EPSG:32633"
        )
        assert g.cell_area_km2()[0, 0] == pytest.approx((res / 1000) ** 2 / k0**2, rel=1e-6)


def test_projected_area_of_a_512_tile_is_fast() -> None:
    g = Grid(west=-6e6, north=6e6, res=12_345.0, height=972, width=972, crs="EPSG:3995")
    start = time.perf_counter()
    area = g.cell_area_km2(Window(0, 0, 512, 512))
    took = time.perf_counter() - start
    assert area.shape == (512, 512) and np.isfinite(area).all()
    assert took < 1.0  # ~0.2 s on one core; margin for a loaded test machine


def test_lonlat_geographic_is_the_meshgrid() -> None:
    g = Grid.from_bounds((170, 60, 190, 70), 5.0)
    lon, lat = g.lonlat()
    assert lon.tolist() == [[172.5, 177.5, 182.5, 187.5]] * 2
    assert lat.tolist() == [[67.5] * 4, [62.5] * 4]


def test_lonlat_projected_inverts_the_projection() -> None:
    g = Grid(west=-1e6, north=1e6, res=100_000.0, height=20, width=20, crs="EPSG:3995")
    w = Window(3, 5, 4, 2)
    lon, lat = g.lonlat(w)
    assert lon.shape == lat.shape == (2, 4)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3995", always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(x, np.tile(g.lon_centers(w), (2, 1)), atol=1e-4)
    np.testing.assert_allclose(y, np.tile(g.lat_centers(w)[:, None], (1, 4)), atol=1e-4)
    assert (lat > 80).all()


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 50),
    width=st.integers(1, 50),
    th=st.integers(1, 60),
    tw=st.integers(1, 60),
    crs=st.sampled_from(["EPSG:3995", "EPSG:6931", "EPSG:32633"]),
)
def test_tiles_cover_a_projected_grid_exactly_once(
    height: int, width: int, th: int, tw: int, crs: str
) -> None:
    g = Grid(west=400_000.0, north=600_000.0, res=1000.0, height=height, width=width, crs=crs)
    tiles = list(g.tiles((th, tw)))
    assert (cover_count(g, (th, tw)) == 1).all()
    assert len(tiles) == g.n_tiles((th, tw))
    tiled = sum(g.cell_area_km2(w).sum() for w in tiles)
    assert tiled == pytest.approx(g.cell_area_km2().sum(), rel=1e-9)
