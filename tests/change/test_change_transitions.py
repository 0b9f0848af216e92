"""Change between epochs: tables that add up in km², change maps with documented codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from permamap.change import (
    CHANGE_CODES,
    area_by_epoch,
    area_sums,
    change_classes,
    change_stage,
    transition_area,
    transitions,
)
from permamap.change.maps import CHANGE_COLORMAP
from permamap.errors import InputFileError
from permamap.grid import Grid
from permamap.layout import RunLayout

from .helpers import run_change

classes = st.sampled_from([0, 1, 255])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 8),
    cols=st.integers(1, 8),
)
def test_transition_rows_and_columns_are_the_epoch_areas(seed: int, rows: int, cols: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.choice(np.array([0, 1, 255], np.uint8), (rows, cols))
    b = rng.choice(np.array([0, 1, 255], np.uint8), (rows, cols))
    area = rng.uniform(1, 100, (rows, cols))
    t = transition_area(a, b, area)
    extent_a = area_sums(a, a * 0, area)[0, 3]
    extent_b = area_sums(b, b * 0, area)[0, 3]
    # stable + degraded (+ permafrost → no data) = earlier permafrost extent
    assert t[1, 1] + t[1, 0] + t[1, 2] == pytest.approx(extent_a)
    assert t[1, 1] + t[0, 1] + t[2, 1] == pytest.approx(extent_b)
    assert t.sum() == pytest.approx(area.sum())
    # where both epochs have data: gain − loss = net change
    both = (a != 255) & (b != 255)
    net = (
        area_sums(np.where(both, b, 255), b * 0, area)[0, 3]
        - area_sums(np.where(both, a, 255), a * 0, area)[0, 3]
    )
    assert t[0, 1] - t[1, 0] == pytest.approx(net, abs=1e-9)
    codes = change_classes(a, b)
    for code, (i, j) in {0: (0, 0), 1: (1, 1), 2: (1, 0), 3: (0, 1)}.items():
        assert area[codes == code].sum() == pytest.approx(t[i, j])


def test_change_classes_names() -> None:
    assert CHANGE_CODES == {
        0: "stable non-permafrost",
        1: "stable permafrost",
        2: "degraded",
        3: "aggraded",
    }


def _three_epochs(grid: Grid, map_writer) -> dict[int, Path]:
    rng = np.random.default_rng(3)
    out = {}
    for i, epoch in enumerate((2000, 2010, 2020)):
        prob = np.clip(rng.integers(0, 101, grid.shape) - 15 * i, 0, 100).astype(np.uint8)
        cls = (prob >= 50).astype(np.uint8)
        cls[:, 0] = prob[:, 0] = 255  # ocean
        if i == 1:
            cls[0, 5] = prob[0, 5] = 255  # a cell lost in one epoch only
        out[epoch] = map_writer(f"permafrost_{epoch}.tif", grid, cls, prob, epoch=epoch)
    return out


@pytest.mark.parametrize("tile_shape", [(1, 1), (4, 5), (64, 64)])
def test_transition_table_adds_up_to_epoch_areas(small_grid: Grid, map_writer, tile_shape) -> None:
    paths = _three_epochs(small_grid, map_writer)
    areas = area_by_epoch(paths, small_grid)
    tot = areas[(areas.stratum == "total") & (areas.domain == "all")].set_index("epoch")
    t = transitions(paths[2000], paths[2010], small_grid, tile_shape=tile_shape)
    assert len(t) == 9
    assert set(t.from_epoch) == {2000} and set(t.to_epoch) == {2010}
    by = t.groupby(["from_class", "to_class"]).area_km2.sum()
    stable = by["permafrost", "permafrost"]
    degraded = by["permafrost", "non-permafrost"]
    aggraded = by["non-permafrost", "permafrost"]
    lost = by["permafrost", "nodata"]
    assert stable + degraded + lost == pytest.approx(
        tot.loc[2000, "permafrost_extent_km2"], rel=1e-12
    )
    assert stable + aggraded + by["nodata", "permafrost"] == pytest.approx(
        tot.loc[2010, "permafrost_extent_km2"], rel=1e-12
    )
    assert t.groupby("from_class").area_km2.sum()["non-permafrost"] == pytest.approx(
        tot.loc[2000, "land_km2"] - tot.loc[2000, "permafrost_extent_km2"], rel=1e-12
    )
    assert t.area_km2.sum() == pytest.approx(small_grid.cell_area_km2().sum(), rel=1e-12)


def test_change_map_codes_and_tags(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    paths = _three_epochs(small_grid, map_writer)
    out = tmp_path / "change_2000_2020.tif"
    transitions(paths[2000], paths[2020], small_grid, change_map=out, tile_shape=(3, 4))
    with rasterio.open(paths[2000]) as a, rasterio.open(paths[2020]) as b:
        expected = change_classes(a.read(1), b.read(1))
    with rasterio.open(out) as src:
        assert src.read(1).tolist() == expected.tolist()
        assert src.nodata == 255
        assert src.profile["tiled"]
        assert small_grid.matches(src.crs, src.transform, (src.height, src.width))
        tags = src.tags()
        assert tags["kind"] == "change"
        assert (tags["from_epoch"], tags["to_epoch"]) == ("2000", "2020")
        assert "2=degraded" in tags["codes"] and "3=aggraded" in tags["codes"]
        assert "degraded" in src.descriptions[0]
        table = src.colormap(1)  # the report's colours, written into the file
        assert all(table[code] == rgba for code, rgba in CHANGE_COLORMAP.items())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_change_stage_writes_the_contract_files(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    paths = _three_epochs(small_grid, map_writer)
    out = tmp_path / "change"
    summary = run_change(paths, small_grid, tmp_path, tile_shape=(4, 4))
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "area_by_epoch.csv",
        "change_2000_2010.tif",
        "change_2000_2020.tif",
        "change_2010_2020.tif",
        "transitions_2000_2010.csv",
        "transitions_2000_2020.csv",
        "transitions_2010_2020.csv",
    ]
    assert summary["epochs"] == [2000, 2010, 2020]
    assert set(summary["area_km2"]["2000"]) == {
        "permafrost_extent_km2",
        "probability_weighted_km2",
        "land_km2",
    }
    pairs = [(p["from_epoch"], p["to_epoch"]) for p in summary["transitions"]]
    assert pairs == [(2000, 2010), (2010, 2020), (2000, 2020)]
    first_last = summary["transitions"][2]
    net = (
        summary["area_km2"]["2020"]["permafrost_extent_km2"]
        - summary["area_km2"]["2000"]["permafrost_extent_km2"]
    )
    assert first_last["net_change_km2"] == pytest.approx(net, rel=1e-12)  # same land mask
    csv = pd.read_csv(out / "transitions_2000_2020.csv")
    assert csv.area_km2.sum() == pytest.approx(small_grid.cell_area_km2().sum())
    import json

    json.dumps(summary)  # JSON-able for summary.json


def test_one_epoch_writes_areas_and_says_no_change(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    summary = run_change({2000: path}, small_grid, tmp_path)
    assert summary["transitions"] == []
    assert summary["notes"] == [
        "no elevation factor: areas by elevation zone are left out",
        "only one epoch: no change computed",
    ]
    assert (tmp_path / "change" / "area_by_epoch.csv").is_file()


def test_missing_epochs_are_named(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    path = map_writer("permafrost_2000.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    with pytest.raises(InputFileError, match=r"epoch\(s\) \[2005, 2010\].*run the predict stage"):
        change_stage({2000: path}, small_grid, RunLayout(tmp_path / "c"), epochs=[2000, 2005, 2010])
    with pytest.raises(InputFileError, match=r"2010: .*permafrost_2010.tif"):
        change_stage(
            {2000: path, 2010: tmp_path / "permafrost_2010.tif"},
            small_grid,
            RunLayout(tmp_path / "c"),
        )


def test_find_run_maps_sorts_by_epoch_and_names_the_fix(
    small_grid: Grid, map_writer, tmp_path
) -> None:
    from permamap.change import find_run_maps

    (tmp_path / "maps").mkdir()
    for e in (2020, 2000, 2010):
        map_writer(f"maps/permafrost_{e}.tif", small_grid, np.ones(small_grid.shape, np.uint8))
    (tmp_path / "maps" / "permafrost_truth_2000.tif").write_bytes(b"")
    assert list(find_run_maps(RunLayout(tmp_path))) == [2000, 2010, 2020]
    with pytest.raises(InputFileError, match="run the predict stage"):
        find_run_maps(RunLayout(tmp_path / "missing"))
    (tmp_path / "empty" / "maps").mkdir(parents=True)
    with pytest.raises(InputFileError, match="run the predict stage"):
        find_run_maps(RunLayout(tmp_path / "empty"))


def test_change_stage_streams_rasters_and_returns_tables(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    paths = _three_epochs(small_grid, map_writer)
    layout = RunLayout(tmp_path)
    result = change_stage(paths, small_grid, layout, tile_shape=(4, 4))
    # the stage writes only the rasters; the tables are the caller's to write
    assert sorted(p.name for p in layout.change_dir.iterdir()) == [
        "change_2000_2010.tif",
        "change_2000_2020.tif",
        "change_2010_2020.tif",
    ]
    assert list(result.transitions) == [(2000, 2010), (2010, 2020), (2000, 2020)]
    assert result.reference_comparison is None and result.reference_confusion == {}
    pd.testing.assert_frame_equal(result.areas, area_by_epoch(paths, small_grid))
    assert [(t["table"], t["change_map"]) for t in result.summary["transitions"]] == [
        (layout.transitions(a, b).name, layout.change_map(a, b).name) for a, b in result.transitions
    ]
