"""permamap show: a PNG of any band, fast (decimated), with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from matplotlib.image import imread

from permamap.errors import InputFileError
from permamap.report import show
from permamap.report.figures import read_raster_view
from permamap.report.show import show_figure


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


def _stack(path: Path, units: dict[str, str] | None = None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="float32",
        count=2,
        height=40,
        width=60,
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(100, 70, 0.2, 0.2),
        nodata=np.nan,
        tiled=True,
        blockxsize=16,
        blockysize=16,
        compress="deflate",
    ) as dst:
        rng = np.random.default_rng(0)
        dst.write(rng.uniform(0, 3000, (2, 40, 60)).astype(np.float32))
        for i, name in enumerate(("maat", "elevation"), start=1):
            dst.set_band_description(i, name)
            if units and name in units:
                dst.set_band_unit(i, units[name])
    return path


def test_stack_band_unit_from_the_band_or_factors_csv(tmp_path: Path) -> None:
    own = _stack(tmp_path / "own.tif", {"elevation": "metre"})
    assert read_raster_view(own, 2).unit == "metre"
    stacks = tmp_path / "covariates"
    stacks.mkdir()
    tif = _stack(stacks / "stack_2000.tif")
    assert read_raster_view(tif, 2).unit == ""  # no band unit, no catalogue
    (stacks / "factors.csv").write_text(
        "name,unit,kind,source,window,description\n"
        "maat,degC,climate,demo,,mean annual air temperature\n"
        "elevation,m,static,demo,,elevation above sea level\n"
    )
    assert read_raster_view(tif, 1).unit == "degC"
    assert read_raster_view(tif, 2).unit == "m"
    assert show(tif, band=2, coastlines="none").name == "stack_2000_b2.png"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"just some text", r"cannot be read .*not recognized"),
        (b"II*\x00\x08\x00\x00\x00", r"cannot be read"),
        (None, r"is damaged or truncated: reading it failed"),
    ],
)
def test_show_on_a_damaged_file_is_one_line(
    tmp_path: Path, content: bytes | None, match: str
) -> None:
    bad = tmp_path / "bad.tif"
    if content is None:  # a COG cut short: its header opens, its tiles do not
        full = _stack(tmp_path / "full.tif")
        cog = tmp_path / "full_cog.tif"
        rasterio.shutil.copy(full, cog, driver="COG", blocksize=16, overviews="none")
        data = cog.read_bytes()
        bad.write_bytes(data[: len(data) * 6 // 10])
    else:
        bad.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as exc:
        show(bad, tmp_path / "x.png", coastlines="none")
    assert "\n" not in str(exc.value) and "bad.tif" in str(exc.value)
    assert not (tmp_path / "x.png").exists()


def _colorbar_label(fig) -> str:
    (label,) = [ax.get_xlabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return label


def test_show_colour_bar_carries_the_stack_unit(tmp_path: Path) -> None:
    stacks = tmp_path / "covariates"
    stacks.mkdir()
    tif = _stack(stacks / "stack_2000.tif")
    assert _colorbar_label(show_figure(tif, 1, coastlines="none")).startswith(
        "maat (no unit recorded)"
    )
    (stacks / "factors.csv").write_text(
        "name,unit,kind,source,window,description\n"
        "maat,degC,climate,demo,,mean annual air temperature\n"
        "elevation,m,static,demo,,elevation above sea level\n"
    )
    assert _colorbar_label(show_figure(tif, 1, coastlines="none")).startswith("maat (degC) — ")
    fig = show_figure(tif, "elevation", coastlines="none")
    assert _colorbar_label(fig).startswith("elevation (m) — ")
    assert fig.axes[0].get_title() == "stack_2000.tif — elevation (m)"
    assert show(tif, band="elevation", coastlines="none").name == "stack_2000_elevation.png"
