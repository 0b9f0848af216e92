"""The change stage degrades with a note when elevation is absent, and names damaged files in one line."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.shutil
from shapely.geometry import box

from permamap.change import NO_ELEVATION_NOTE, area_by_epoch, change_stage
from permamap.errors import DataError, InputFileError
from permamap.grid import Grid
from permamap.layout import RunLayout

from .conftest import write_map
from .helpers import run_change

# 100 × 120 cells: enough tiles that a truncated file opens but fails part-way through.
FINE = Grid.from_bounds((100, 60, 112, 70), res=0.1)


def _stack(path: Path, grid: Grid, names: list[str]) -> Path:
    """A stack on ``grid`` with one float32 band per name; ``elevation`` rises 100 m a row."""
    rows = np.arange(grid.height, dtype=np.float32)[:, None] * np.ones(grid.shape, np.float32)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="float32",
        count=len(names),
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
        nodata=np.nan,
    ) as dst:
        for i, name in enumerate(names, start=1):
            dst.write(rows * 100 if name == "elevation" else rows, i)
            dst.set_band_description(i, name)
    return path


def _two_maps(grid: Grid, tmp_path: Path) -> dict[int, Path]:
    cls = np.zeros(grid.shape, np.uint8)
    cls[: grid.height // 2] = 1
    later = cls.copy()
    later[grid.height // 4 : grid.height // 2] = 0  # degraded band
    return {
        2000: write_map(tmp_path / "permafrost_2000.tif", grid, cls, epoch=2000),
        2020: write_map(tmp_path / "permafrost_2020.tif", grid, later, epoch=2020),
    }


def _truncate(src: Path, dst: Path, keep: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _big_tiled(path: Path, grid: Grid, arr: np.ndarray, names: list[str], nodata: float) -> Path:
    """A compressed COG of random data in 16 × 16 tiles: headers first, so a cut keeps them."""
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(
        tmp,
        "w",
        driver="GTiff",
        dtype=arr.dtype.name,
        count=arr.shape[0],
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
        compress="deflate",
    ) as dst:
        dst.write(arr)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
    rasterio.shutil.copy(
        tmp, path, driver="COG", blocksize=16, compress="deflate", overviews="none"
    )
    tmp.unlink()
    return path


def _random_map(path: Path, grid: Grid, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    prob = rng.integers(0, 101, grid.shape).astype(np.uint8)
    cls = (prob >= 50).astype(np.uint8)
    return _big_tiled(path, grid, np.stack([cls, prob]), ["class", "probability"], 255)


def _check_one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# -- elevation absent: the stage runs and says so --------------------------------------------------
def test_no_elevation_runs_with_a_note(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    result = change_stage(maps, small_grid, RunLayout(tmp_path / "run"), elevation=None)
    assert result.summary["notes"] == [NO_ELEVATION_NOTE]
    assert result.summary["elevation_zones"] is False
    assert "elevation_zone" not in set(result.areas["stratum"])
    assert {"total", "latitude_band"} <= set(result.areas["stratum"])
    assert len(result.summary["transitions"]) == 1


def test_stack_without_elevation_band_runs_with_a_note(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    stack = _stack(tmp_path / "stack_2000.tif", small_grid, ["maat", "snow_days"])
    summary = run_change(maps, small_grid, tmp_path / "run", elevation=stack)
    assert summary["notes"] == [f"{NO_ELEVATION_NOTE} (stack_2000.tif has no band 'elevation')"]
    assert summary["elevation_zones"] is False
    areas = (tmp_path / "run" / "change" / "area_by_epoch.csv").read_text()
    assert "elevation_zone" not in areas


def test_single_band_named_otherwise_is_not_elevation(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    stack = _stack(tmp_path / "maat_only.tif", small_grid, ["maat"])
    result = change_stage(maps, small_grid, RunLayout(tmp_path / "run"), elevation=stack)
    assert result.summary["elevation_zones"] is False
    assert "maat_only.tif has no band 'elevation'" in result.summary["notes"][0]


def test_stack_with_elevation_gives_zones_and_no_note(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    stack = _stack(tmp_path / "stack_2000.tif", small_grid, ["maat", "elevation"])
    result = change_stage(
        maps, small_grid, RunLayout(tmp_path / "run"), elevation=stack, elevation_edges_m=[450]
    )
    assert result.summary["notes"] == []
    assert result.summary["elevation_zones"] is True
    zones = result.areas[
        (result.areas.stratum == "elevation_zone") & (result.areas.epoch == 2000)
    ].set_index("zone")
    # rows 0–4 are below 450 m (0–400 m), rows 5–9 above: the permafrost half is the low half
    total = result.areas[(result.areas.stratum == "total") & (result.areas.epoch == 2000)]
    assert zones.loc["< 450 m", "permafrost_extent_km2"] == pytest.approx(
        float(total["permafrost_extent_km2"].iloc[0]), rel=1e-12
    )
    assert zones.loc["≥ 450 m", "permafrost_extent_km2"] == 0


def test_area_by_epoch_called_directly_stays_strict(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    stack = _stack(tmp_path / "stack_2000.tif", small_grid, ["maat", "snow_days"])
    with pytest.raises(DataError, match=r"none is described 'elevation'.*leave elevation unset"):
        area_by_epoch(maps, small_grid, elevation=stack)


# -- damaged files found mid-run: one line naming the file -----------------------------------------
def test_truncated_map_is_a_one_line_input_error(tmp_path: Path) -> None:
    good = _random_map(tmp_path / "full.tif", FINE, 0)
    bad = _truncate(good, tmp_path / "permafrost_2020.tif")
    with rasterio.open(bad) as src:  # the header survives: only reading finds the damage
        assert src.count == 2
    maps = {2000: good, 2020: bad}
    with pytest.raises(InputFileError) as exc:
        change_stage(maps, FINE, RunLayout(tmp_path / "run"), tile_shape=(16, 16))
    msg = _check_one_line(exc)
    assert "permafrost_2020.tif is damaged or truncated" in msg
    assert "predict stage" in msg


def test_truncated_reference_is_a_one_line_input_error(tmp_path: Path) -> None:
    good = _random_map(tmp_path / "permafrost_2000.tif", FINE, 1)
    rng = np.random.default_rng(2)
    ref = _big_tiled(
        tmp_path / "full_ref.tif",
        FINE,
        rng.uniform(0, 100, (1, *FINE.shape)).astype(np.float32),
        ["probability"],
        -1,
    )
    bad = _truncate(ref, tmp_path / "obu.tif")
    for kind in ("auto", "probability"):
        with pytest.raises(InputFileError) as exc:
            change_stage(
                {2000: good},
                FINE,
                RunLayout(tmp_path / f"run_{kind}"),
                reference=bad,
                reference_kind=kind,
                tile_shape=(16, 16),
            )
        msg = _check_one_line(exc)
        assert "reference map" in msg and "obu.tif is damaged or truncated" in msg


def test_truncated_elevation_stack_is_a_one_line_input_error(tmp_path: Path) -> None:
    good = _random_map(tmp_path / "permafrost_2000.tif", FINE, 3)
    rng = np.random.default_rng(4)
    stack = _big_tiled(
        tmp_path / "full_stack.tif",
        FINE,
        rng.uniform(0, 3000, (2, *FINE.shape)).astype(np.float32),
        ["maat", "elevation"],
        np.nan,
    )
    bad = _truncate(stack, tmp_path / "stack_2000.tif")
    with pytest.raises(InputFileError) as exc:
        change_stage(
            {2000: good}, FINE, RunLayout(tmp_path / "run"), elevation=bad, tile_shape=(16, 16)
        )
    assert "elevation raster" in _check_one_line(exc)


def test_corrupt_regions_file_is_a_one_line_input_error(small_grid: Grid, tmp_path: Path) -> None:
    maps = _two_maps(small_grid, tmp_path)
    full = tmp_path / "full.gpkg"
    gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=[box(101, 61, 104, 64), box(105, 65, 110, 69)], crs=4326
    ).to_file(full)
    bad = _truncate(full, tmp_path / "regions.gpkg", keep=0.3)
    with pytest.raises(InputFileError) as exc:
        change_stage(maps, small_grid, RunLayout(tmp_path / "run"), regions=bad)
    msg = _check_one_line(exc)
    assert "regions file" in msg and "regions.gpkg cannot be read" in msg
