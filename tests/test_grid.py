"""Grid: construction, tiles that cover it exactly once, exact ellipsoidal cell areas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from permamap.errors import ConfigError
from permamap.grid import Grid, ellipsoid_area_km2, zone_area_km2

# WGS84 surface area (km²): 2πa² + πb²/e · ln((1+e)/(1−e)), a = 6378137 m, f = 1/298.257223563
WGS84_AREA_KM2 = 510_065_621.724


def test_default_grid_shape_and_bounds() -> None:
    g = Grid.from_bounds((25, 25, 180, 84), res=1 / 120)
    assert g.shape == (7080, 18600)
    assert g.bounds == (25.0, 25.0, 180.0, 84.0)
    assert g.transform.a == pytest.approx(1 / 120) and g.transform.e == pytest.approx(-1 / 120)


def test_bounds_not_on_pixel_edges_is_an_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match="not a whole number"):
        Grid.from_bounds((25, 25, 180.01, 84), res=1 / 12)


@pytest.mark.parametrize("bounds", [(30, 25, 25, 84), (25, 84, 180, 25), (25, -95, 180, 84)])
def test_bad_extent(bounds: tuple[float, float, float, float]) -> None:
    with pytest.raises(ConfigError):
        Grid.from_bounds(bounds, res=1)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 60),
    width=st.integers(1, 60),
    th=st.integers(1, 70),
    tw=st.integers(1, 70),
)
def test_tiles_cover_grid_exactly_once(height: int, width: int, th: int, tw: int) -> None:
    g = Grid(west=0.0, north=float(height), res=1.0, height=height, width=width)
    count = np.zeros(g.shape, dtype=int)
    tiles = list(g.tiles((th, tw)))
    for w in tiles:
        count[
            int(w.row_off) : int(w.row_off + w.height), int(w.col_off) : int(w.col_off + w.width)
        ] += 1
        assert 1 <= w.height <= th and 1 <= w.width <= tw
    assert (count == 1).all()
    assert len(tiles) == g.n_tiles((th, tw))


def test_globe_cell_areas_sum_to_the_ellipsoid() -> None:
    g = Grid.from_bounds((-180, -90, 180, 90), res=1.0)
    total = g.cell_area_km2().sum()
    assert abs(total - WGS84_AREA_KM2) / WGS84_AREA_KM2 < 1e-4  # the 0.01 %
    assert total == pytest.approx(WGS84_AREA_KM2, rel=1e-9)
    assert ellipsoid_area_km2() == pytest.approx(WGS84_AREA_KM2, rel=1e-9)


def test_cell_area_matches_geodesic_polygon_area() -> None:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lons = np.r_[
        np.linspace(10, 11, 300), np.full(300, 11.0), np.linspace(11, 10, 300), np.full(300, 10.0)
    ]
    lats = np.r_[
        np.full(300, 60.0), np.linspace(60, 61, 300), np.full(300, 61.0), np.linspace(61, 60, 300)
    ]
    # densified edges follow the parallels closely: agreement to 1e-6
    area, _ = geod.polygon_area_perimeter(lons, lats)
    assert float(zone_area_km2(np.array(60.0), np.array(61.0), 1.0)) == pytest.approx(
        abs(area) / 1e6, rel=1e-6
    )


def test_cell_areas_are_not_spherical() -> None:
    # a sphere of the same mean radius gives a visibly different equatorial cell (≈ 0.3 %)
    r = 6371.0088
    spherical = np.radians(1.0) * r**2 * np.sin(np.radians(1.0))
    ellipsoidal = float(zone_area_km2(np.array(0.0), np.array(1.0), 1.0))
    assert abs(ellipsoidal - spherical) / spherical > 1e-3


def test_index_and_contains() -> None:
    g = Grid.from_bounds((25, 25, 180, 84), res=1 / 12)
    row, col = g.index(
        np.array([25.0001, 179.9999, 24.9, np.nan]), np.array([83.9999, 25.0001, 50, 50])
    )
    assert row.tolist() == [0, 707, -1, -1]
    assert col.tolist() == [0, 1859, -1, -1]
    assert g.contains(np.array([100.0]), np.array([60.0])).tolist() == [True]


def test_window_centres() -> None:
    g = Grid.from_bounds((0, 0, 4, 2), res=1)
    w = list(g.tiles((1, 2)))[1]
    assert g.lon_centers(w).tolist() == [2.5, 3.5]
    assert g.lat_centers(w).tolist() == [1.5]
