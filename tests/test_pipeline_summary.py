"""The run's closing figures: agreement with the truth weighted by area, and the console lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from permamap.contracts import MAP_NODATA, TRUTH_NODATA
from permamap.demo.truthcheck import truth_check
from permamap.fileio import open_tiled
from permamap.grid import Grid
from permamap.pipeline import console_lines


def _write(path: Path, grid: Grid, data: np.ndarray, nodata: int) -> Path:
    with open_tiled(path, grid, 1, "uint8", nodata, ["class"]) as ds:
        ds.write(data[None].astype(np.uint8))
    return path


def test_agreement_is_the_share_of_mapped_land_area_not_of_cells(tmp_path: Path) -> None:
    grid = Grid.from_bounds((0, 0, 2, 80), res=1.0)  # 80 rows, cells shrink towards the pole
    true = np.ones(grid.shape, np.uint8)
    pred = true.copy()
    pred[:10] = 0  # wrong in the ten northernmost rows (70-80 °N, small cells)
    pred[-1, 0] = MAP_NODATA  # one cell unmapped
    true[-1, 1] = TRUTH_NODATA  # one cell off land
    m = _write(tmp_path / "map.tif", grid, pred, MAP_NODATA)
    t = _write(tmp_path / "truth.tif", grid, true, TRUTH_NODATA)
    checked = truth_check({2000: m}, {2000: t}, grid, (16, 2))
    agreement, coverage = checked.agreement, checked.coverage
    area = grid.cell_area_km2()
    land = true != TRUTH_NODATA
    mapped = land & (pred != MAP_NODATA)
    expect = area[mapped & (pred == true)].sum() / area[mapped].sum()
    assert agreement["2000"] == pytest.approx(expect)
    assert agreement["2000"] > 1 - 10 / 80  # small polar cells weigh less than their count
    assert coverage["2000"] == pytest.approx(area[mapped].sum() / area[land].sum())


def test_console_lines_say_what_the_summary_says() -> None:
    summary = {
        "virtual_world": True,
        "epochs": [2000],
        "area_km2": {"2000": {"permafrost_extent_km2": 10_297_940.7}},
        "truth_agreement": {"2000": 0.97641},
        "truth_coverage": {"2000": 0.9893},
        "plausibility": [
            {"quantity": "permafrost region (p ≥ 1 %)", "epoch": 2000, "value": 19.54e6,
             "low": 12e6, "high": 16e6, "unit": "km²", "inside": False},
            {"quantity": "change of the extent", "epoch": None, "value": -6.858, "low": -8.0,
             "high": -1.0, "unit": "% per decade", "inside": True},
        ],
    }  # fmt: skip
    assert console_lines(summary) == [
        "VIRTUAL DATA - demonstration world: figures describe the virtual Eurasia",
        "2000: permafrost extent 10.30 M km², agreement with the truth 97.6% "
        "(area-weighted; 98.9% of the land mapped)",
        "OFF permafrost region (p ≥ 1 %) 2000: 19.54 M km² (expected 12 to 16)",
        "ok  change of the extent: -6.86 % per decade (expected -8 to -1)",
    ]
