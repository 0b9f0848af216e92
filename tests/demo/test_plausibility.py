"""The virtual world's totals against published figures: rows, trajectory and the plateau area."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import rasterio

from permamap.demo.plausibility import plausibility, tibetan_plateau_km2
from permamap.fileio import open_tiled
from permamap.grid import Grid


def change_summary(extents: dict[int, float], aggraded: float = 0.0) -> dict:
    epochs = sorted(extents)
    pairs = [*pairwise(epochs), (epochs[0], epochs[-1])]
    return {
        "area_detail_km2": {str(epochs[0]): {"all": {"permafrost_region_km2": 14e6}}},
        "transitions": [
            {
                "from_epoch": a,
                "to_epoch": b,
                "degraded_km2": max(extents[a] - extents[b], 0) + aggraded,
                "aggraded_km2": aggraded,
            }
            for a, b in pairs
        ],
    }


def areas(extents: dict[int, float]) -> dict[str, dict[str, float]]:
    return {str(e): {"permafrost_extent_km2": v} for e, v in extents.items()}


def test_a_steady_decline_inside_every_range() -> None:
    ext = {2000: 10e6, 2010: 9.5e6, 2020: 9.025e6}  # -5 % per decade
    out = plausibility(change_summary(ext), areas(ext), 1.1e6)
    rows = {r["quantity"].split(" (")[0]: r for r in out["rows"]}
    assert rows["change of the extent"]["value"] == pytest.approx(-5.0)
    assert rows["permafrost region"]["value"] == 14e6
    assert out["monotone_decline"] and out["all_inside"]
    assert [p["from_epoch"] for p in out["pairs"]] == [2000, 2010]  # consecutive pairs only


def test_growth_or_too_much_aggradation_is_flagged() -> None:
    ext = {2000: 10e6, 2005: 10.2e6, 2010: 9.0e6}
    out = plausibility(change_summary(ext), areas(ext), 2.1e6)
    assert not out["monotone_decline"] and not out["all_inside"]
    plateau = next(r for r in out["rows"] if "Tibetan" in r["quantity"])
    assert not plateau["inside"] and plateau["high"] == 1.4e6
    ext = {2000: 10e6, 2005: 9.9e6}  # falls, but aggrades more than it degrades elsewhere
    summ = change_summary(ext)
    summ["transitions"][0].update(degraded_km2=0.5e6, aggraded_km2=0.6e6)
    assert not plausibility(summ, areas(ext), 1e6)["monotone_decline"]


def test_plateau_area_counts_only_high_permafrost_cells_in_the_box(tmp_path: Path) -> None:
    grid = Grid.from_bounds((70, 24, 110, 42), res=1.0)  # 18 x 40 cells
    lon, lat = np.meshgrid(grid.lon_centers(), grid.lat_centers())
    cls = np.ones(grid.shape, np.uint8)
    cls[:, lon[0] > 100] = 0  # east of 100 °E: no permafrost
    z = np.where(lat > 33, 4500.0, 1000.0).astype(np.float32)
    for path, data, names, dtype in (
        (tmp_path / "map.tif", cls[None], ["class"], "uint8"),
        (tmp_path / "stack.tif", np.stack([z, z]), ["maat", "elevation"], "float32"),
    ):
        with open_tiled(path, grid, len(names), dtype, 255, names) as ds:
            ds.write(data.astype(dtype))
    inside = (lat > 33) & (lat <= 40) & (lon >= 73) & (lon <= 100)
    expect = float(grid.cell_area_km2()[inside].sum())
    assert tibetan_plateau_km2(tmp_path / "map.tif", tmp_path / "stack.tif", grid) == pytest.approx(
        expect
    )
    with rasterio.open(tmp_path / "stack.tif") as ds:
        assert ds.descriptions == ("maat", "elevation")
