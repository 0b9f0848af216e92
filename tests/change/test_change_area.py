"""Area per epoch: exact km² on the ellipsoid, strata that add up, region/extent/area kept apart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, box

from permamap.change import AREA_COLUMNS, area_by_epoch, area_sums
from permamap.errors import DataError, GridMismatchError, InputFileError
from permamap.grid import WGS84_A, WGS84_F, Grid


def authalic_zone_area_km2(south: float, north: float, dlon_deg: float) -> float:
    """Area between two parallels from the authalic-latitude closed form (Snyder 1987, eq. 3-12).

    Written independently of permamap.grid: A = a²/2 · Δλ · (1 − e²) · [q̃(φ₂) − q̃(φ₁)], with
    q̃(φ) = sinφ/(1 − e² sin²φ) − 1/(2e) · ln((1 − e sinφ)/(1 + e sinφ)).
    """
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)

    def q(phi_deg: float) -> float:
        s = math.sin(math.radians(phi_deg))
        return (1 - e2) * (s / (1 - e2 * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e))

    return WGS84_A**2 / 2 * math.radians(dlon_deg) * (q(north) - q(south)) / 1e6


def geod_box_area_km2(west: float, south: float, east: float, north: float) -> float:
    """Area of a lon/lat box with pyproj's geodesic polygon area, parallels densified."""
    lons = np.linspace(west, east, 2001)
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full(lons.size, south), np.full(lons.size, north)])
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)
    return abs(area) / 1e6


def totals(df: pd.DataFrame, epoch: int, domain: str = "all") -> pd.Series:
    sel = df[(df.epoch == epoch) & (df.domain == domain) & (df.stratum == "total")]
    return sel.iloc[0]


# -- pure function --
def test_area_sums_separates_region_extent_and_area() -> None:
    cls = np.array([[1, 1, 0, 0, 255]], dtype=np.uint8)
    prob = np.array([[100, 60, 40, 0, 255]], dtype=np.uint8)
    area = np.array([[1.0, 2.0, 4.0, 8.0, 16.0]])
    cell, land, region, extent, weighted = area_sums(cls, prob, area)[0]
    assert cell == 31.0
    assert land == 15.0
    assert region == 7.0  # cells with any permafrost (prob ≥ 1 %): 1 + 2 + 4
    assert extent == 3.0  # class 1
    assert weighted == pytest.approx(1.0 + 1.2 + 1.6)
    assert weighted <= region


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    n_zones=st.integers(1, 4),
)
def test_zones_add_up_to_total(seed: int, rows: int, cols: int, n_zones: int) -> None:
    rng = np.random.default_rng(seed)
    cls = rng.choice(np.array([0, 1, 255], dtype=np.uint8), size=(rows, cols))
    prob = np.where(cls == 255, 255, rng.integers(0, 101, (rows, cols))).astype(np.uint8)
    area = rng.uniform(0.5, 2.0, (rows, cols))
    zone = rng.integers(0, n_zones, (rows, cols))
    by_zone = area_sums(cls, prob, area, zone, n_zones)
    np.testing.assert_allclose(by_zone.sum(axis=0), area_sums(cls, prob, area)[0])


def test_area_sums_rejects_misaligned_blocks() -> None:
    with pytest.raises(DataError, match=r"same window"):
        area_sums(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), np.ones((2, 2)))


# -- exact areas --
def test_whole_grid_equals_analytic_ellipsoid_area(small_grid: Grid, map_writer) -> None:
    cls = np.ones(small_grid.shape, np.uint8)
    path = map_writer("permafrost_2000.tif", small_grid, cls)
    df = area_by_epoch({2000: path}, small_grid, tile_shape=(3, 5))
    row = totals(df, 2000)
    expected = authalic_zone_area_km2(60, 70, 12)
    assert row.permafrost_extent_km2 == pytest.approx(expected, rel=1e-10)
    assert row.permafrost_extent_km2 == pytest.approx(geod_box_area_km2(100, 60, 112, 70), rel=1e-5)
    # Counting cells would say 120 × (area at 65 °N); the exact sum is what we report.
    assert row.probability_weighted_km2 == pytest.approx(expected, rel=1e-10)


def test_region_area_equals_analytic_ellipsoid_area(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    cls = np.zeros(small_grid.shape, np.uint8)
    cls[:5, :] = 1  # permafrost north of 65 °N
    path = map_writer("permafrost_2000.tif", small_grid, cls)
    regions = gpd.GeoDataFrame(
        {"name": ["taimyr box", "south strip"]},
        geometry=[box(101, 61, 105, 66), box(100, 60, 112, 62)],
        crs="EPSG:4326",
    )
    gpkg = tmp_path / "regions.gpkg"
    regions.to_file(gpkg)
    df = area_by_epoch({2000: path}, small_grid, regions=gpkg, tile_shape=(4, 4))
    reg = df[df.stratum == "region"].set_index("zone")
    assert reg.loc["taimyr box", "cell_km2"] == pytest.approx(
        authalic_zone_area_km2(61, 66, 4), rel=1e-10
    )
    assert reg.loc["taimyr box", "permafrost_extent_km2"] == pytest.approx(
        authalic_zone_area_km2(65, 66, 4), rel=1e-10
    )
    assert reg.loc["south strip", "permafrost_extent_km2"] == 0.0
    assert reg.loc["south strip", "land_km2"] == pytest.approx(
        geod_box_area_km2(100, 60, 112, 62), rel=1e-5
    )


@pytest.mark.parametrize("fmt", ["gpkg-polar-stereographic", "geojson"])
def test_region_file_in_another_crs_or_format(
    small_grid: Grid, map_writer, tmp_path: Path, fmt: str
) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    reg = gpd.GeoDataFrame(
        {"label": ["box"]}, geometry=[box(101, 61, 105, 66).segmentize(0.01)], crs="EPSG:4326"
    )
    if fmt == "geojson":
        f = tmp_path / "regions.geojson"
        reg.to_file(f, driver="GeoJSON")
    else:  # stored in EPSG:3995: reprojected to the grid before rasterising
        f = tmp_path / "regions.gpkg"
        reg.to_crs("EPSG:3995").to_file(f)
    df = area_by_epoch({2000: path}, small_grid, regions=f, region_name_column="label")
    row = df[df.stratum == "region"].iloc[0]
    assert row.zone == "box"
    assert row.cell_km2 == pytest.approx(authalic_zone_area_km2(61, 66, 4), rel=1e-10)


def test_latitude_bands_and_elevation_zones_add_up(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    prob = rng.integers(0, 101, small_grid.shape).astype(np.uint8)
    cls = (prob >= 50).astype(np.uint8)
    cls[0, :3] = prob[0, :3] = 255
    path = map_writer("permafrost_2000.tif", small_grid, cls, prob)
    elev = np.tile(
        np.linspace(-50, 2500, small_grid.width, dtype=np.float32), (small_grid.height, 1)
    )
    elev[9, 9] = np.nan
    stack = tmp_path / "stack_2000.tif"
    with rasterio.open(
        stack,
        "w",
        driver="GTiff",
        dtype="float32",
        count=2,
        height=small_grid.height,
        width=small_grid.width,
        crs=small_grid.crs,
        transform=small_grid.transform,
        nodata=np.nan,
    ) as dst:
        dst.write(np.stack([np.zeros_like(elev), elev]))
        dst.set_band_description(1, "maat")
        dst.set_band_description(2, "elevation")
    df = area_by_epoch({2000: path}, small_grid, elevation=stack, lat_band_deg=5, tile_shape=(3, 7))
    total = totals(df, 2000)[list(AREA_COLUMNS)].astype(float)
    for stratum in ("latitude_band", "elevation_zone"):
        part = df[df.stratum == stratum][list(AREA_COLUMNS)].sum()
        np.testing.assert_allclose(part.to_numpy(float), total.to_numpy(), rtol=1e-12)
    lat = df[df.stratum == "latitude_band"].set_index("zone")
    assert list(lat.index) == ["60°N–65°N", "65°N–70°N"]
    assert lat.loc["65°N–70°N", "cell_km2"] == pytest.approx(authalic_zone_area_km2(65, 70, 12))
    zones = df[df.stratum == "elevation_zone"].set_index("zone")
    assert zones.loc["no data", "cell_km2"] == pytest.approx(authalic_zone_area_km2(60, 61, 1))
    assert zones.loc["< 0 m", "cell_km2"] == pytest.approx(authalic_zone_area_km2(60, 70, 1))


def test_aoa_domain_is_a_subset(small_grid: Grid, map_writer) -> None:
    cls = np.ones(small_grid.shape, np.uint8)
    aoa = np.zeros(small_grid.shape, np.uint8)
    aoa[:, :6] = 1
    path = map_writer("permafrost_2000.tif", small_grid, cls, aoa=aoa)
    df = area_by_epoch({2000: path}, small_grid)
    inside = totals(df, 2000, "aoa")
    assert inside.permafrost_extent_km2 == pytest.approx(authalic_zone_area_km2(60, 70, 6))
    assert totals(df, 2000).permafrost_extent_km2 == pytest.approx(2 * inside.permafrost_extent_km2)


def test_tiling_does_not_change_the_numbers(small_grid: Grid, map_writer) -> None:
    rng = np.random.default_rng(7)
    prob = rng.integers(0, 101, small_grid.shape).astype(np.uint8)
    path = map_writer("permafrost_2000.tif", small_grid, (prob >= 50).astype(np.uint8), prob)
    ref = area_by_epoch({2000: path}, small_grid, tile_shape=(100, 100))
    for shape in [(1, 1), (3, 5), (7, 2)]:
        got = area_by_epoch({2000: path}, small_grid, tile_shape=shape)
        np.testing.assert_allclose(
            got[list(AREA_COLUMNS)].to_numpy(float),
            ref[list(AREA_COLUMNS)].to_numpy(float),
            rtol=1e-12,
        )


# -- bad input --
def test_empty_region_file_is_a_clear_error(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputFileError, match=r"has no polygons.*leave regions unset"):
        area_by_epoch({2000: path}, small_grid, regions=empty)


def test_point_regions_are_refused(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    pts = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[Point(101, 61)], crs="EPSG:4326").to_file(pts)
    with pytest.raises(DataError, match=r"must be Polygon"):
        area_by_epoch({2000: path}, small_grid, regions=pts)


def test_region_outside_grid_counts_zero(
    small_grid: Grid, map_writer, tmp_path: Path, caplog
) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    f = tmp_path / "far.gpkg"
    gpd.GeoDataFrame({"name": ["alps"]}, geometry=[box(6, 45, 10, 47)], crs="EPSG:4326").to_file(f)
    df = area_by_epoch({2000: path}, small_grid, regions=f)
    assert df[df.stratum == "region"].cell_km2.item() == 0.0
    assert "outside the grid" in caplog.text


def test_map_on_another_grid_is_refused(small_grid: Grid, map_writer) -> None:
    other = Grid.from_bounds((100, 60, 112, 70), res=0.5)
    path = map_writer("permafrost_2000.tif", other, np.ones(other.shape, np.uint8))
    with pytest.raises(GridMismatchError, match=r"not on the run's grid.*rebuild it"):
        area_by_epoch({2000: path}, small_grid)


def test_bad_class_value_is_refused(small_grid: Grid, map_writer) -> None:
    cls = np.ones(small_grid.shape, np.uint8)
    cls[2, 3] = 7
    path = map_writer("permafrost_2000.tif", small_grid, cls, np.zeros(small_grid.shape, np.uint8))
    with pytest.raises(DataError, match=r"value 7.*must be 0"):
        area_by_epoch({2000: path}, small_grid)


def test_missing_map_names_the_epoch(small_grid: Grid, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"epoch 2005"):
        area_by_epoch({2005: tmp_path / "permafrost_2005.tif"}, small_grid)
