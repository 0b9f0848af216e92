"""permamap show: a PNG of any band, fast (decimated), with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from matplotlib.image import imread

from permamap.errors import InputFileError
from permamap.report import show
from permamap.report.figures import read_raster_view


def test_show_writes_png_for_map_bands_and_change_map(run_folder, tmp_path: Path) -> None:
    run, _ = run_folder
    tif = run / "maps" / "permafrost_2000.tif"
    out = show(tif, tmp_path / "class.png", coastlines="none")
    assert out.read_bytes()[:4] == b"\x89PNG"
    prob = show(tif, tmp_path / "prob.png", band=2, coastlines="data-mask")
    assert imread(prob).shape[0] > 100
    change = show(
        run / "change" / "change_2000_2020.tif", tmp_path / "change.png", coastlines="none"
    )
    assert change.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["change.png", "class.png", "prob.png"]


def test_default_png_name(run_folder, tmp_path: Path) -> None:
    run, _ = run_folder
    tif = tmp_path / "permafrost_2010.tif"
    tif.write_bytes((run / "maps" / "permafrost_2010.tif").read_bytes())
    assert show(tif, coastlines="none") == tmp_path / "permafrost_2010.png"
    assert show(tif, band=2, coastlines="none") == tmp_path / "permafrost_2010_b2.png"


def test_read_is_decimated(tmp_path: Path) -> None:
    tif = tmp_path / "big.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=1,
        height=300,
        width=900,
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(0, 80, 0.1, 0.1),
        nodata=255,
    ) as dst:
        dst.write(np.ones((1, 300, 900), np.uint8))
    view = read_raster_view(tif, 1, max_pixels=100)
    assert max(view.data.shape) <= 100 and view.decimation == 9


def test_bad_band_and_missing_file(run_folder, tmp_path: Path) -> None:
    run, _ = run_folder
    with pytest.raises(InputFileError, match="band 9 does not exist"):
        show(run / "maps" / "permafrost_2000.tif", tmp_path / "x.png", band=9)
    with pytest.raises(InputFileError, match="does not exist"):
        show(tmp_path / "nope.tif")
