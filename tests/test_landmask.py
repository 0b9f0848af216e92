"""The memory-mapped land mask equals the global-land-mask package's own answer."""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from permamap.grid import Grid
from permamap.landmask import land_at_points, land_fraction


def test_points_match_the_package() -> None:
    from global_land_mask import globe  # the 1 GB load, once, to compare against

    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-180, 180, 5000), rng.uniform(-89.9, 89.9, 5000)
    assert np.array_equal(land_at_points(lon, lat), globe.is_land(lat, lon))


def test_fraction_is_the_share_of_30_arcsec_land_cells() -> None:
    grid = Grid.from_bounds((100, 60, 101, 61), res=1 / 12)  # 10 × 10 mask cells per grid cell
    frac = land_fraction(grid, Window(0, 0, 2, 2))
    fine = Grid.from_bounds((100, 60, 101, 61), res=1 / 120)
    lon, lat = np.meshgrid(fine.lon_centers(), fine.lat_centers())
    land = land_at_points(lon, lat)[:20, :20].reshape(2, 10, 2, 10).mean(axis=(1, 3))
    assert np.allclose(frac, land)


def test_sea_and_land_points() -> None:
    # Moscow is land; the middle of the Sea of Okhotsk is not
    assert land_at_points(np.array([37.6, 150.0]), np.array([55.75, 55.0])).tolist() == [
        True,
        False,
    ]
