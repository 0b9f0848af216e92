"""A DEM that covers exactly the grid gives terrain factors on the grid's edge cells too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from permamap.covariates.sources.generic import GenericRaster
from permamap.covariates.sources.real import _extend_at_grid_edges
from permamap.grid import Grid


def test_the_halo_beyond_the_grid_is_extrapolated_so_edge_slopes_exist(tmp_path: Path) -> None:
    # a plane rising 10 m per row southwards and 5 m per column eastwards, exactly the grid
    z = np.add.outer(np.arange(20.0) * 10, np.arange(30.0) * 5).astype("float32")
    with rasterio.open(
        tmp_path / "z.tif", "w", driver="GTiff", width=30, height=20, count=1,
        dtype="float32", crs="EPSG:4326", transform=from_origin(10, 60, 0.1, 0.1),
    ) as ds:  # fmt: skip
        ds.write(z, 1)
    grid = Grid.from_bounds((10, 58, 13, 60), 0.1)
    dem = GenericRaster(path=tmp_path / "z.tif", quantity="length", units="m")
    halo = dem.read(grid, Window(-1, -1, 32, 22))
    assert np.isnan(halo[0]).all() and np.isnan(halo[:, -1]).all()  # nothing beyond the DEM
    filled = _extend_at_grid_edges(halo, grid, Window(0, 0, 30, 20))
    assert np.allclose(filled[1:-1, 1:-1], z, atol=1e-4)  # inside: as read
    # outside: the plane continued, so one-sided differences equal the interior's
    assert np.allclose(filled[0, 1:4], [-10.0, -5.0, 0.0], atol=1e-4)
    assert np.allclose(filled[1:4, -1], [150.0, 160.0, 170.0], atol=1e-4)
    assert np.allclose([filled[0, 0], filled[-1, -1]], [-15.0, 350.0], atol=1e-4)
    # a tile inside the grid keeps its halo as read (its neighbours are real cells)
    inner = dem.read(grid, Window(4, 4, 12, 12))
    assert np.array_equal(_extend_at_grid_edges(inner, grid, Window(5, 5, 10, 10)), inner)
