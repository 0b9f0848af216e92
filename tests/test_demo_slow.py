"""The full demo (the acceptance run of issues 2, 11 and 13): `make test-slow`, about 4 minutes on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from permamap.cli import main
from permamap.grid import Grid

EPOCHS = [2000, 2005, 2010, 2015, 2020]
SCENARIOS = ["ssp126", "ssp585"]  # weakest first
PERIODS = ["2041-2060", "2081-2100"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """One demo run shared by the tests: its folder, summary and console output."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(main, ["-q", "demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "summary.json").read_text()), result.output


@pytest.mark.slow
def test_demo_meets_the_acceptance_figures(demo: tuple[Path, dict[str, Any], str]) -> None:
    out, summary, output = demo
    for epoch in EPOCHS:
        with rasterio.open(out / f"maps/permafrost_{epoch}.tif") as ds:
            assert ds.crs.to_epsg() == 4326 and ds.shape == (708, 1860)
            assert ds.bounds == pytest.approx((25, 25, 180, 84))
            assert ds.overviews(1) and ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.tags()["virtual_world"] == "true"
        assert (out / f"truth/permafrost_truth_{epoch}.tif").is_file()
        assert summary["truth_agreement"][str(epoch)] >= 0.95  # area-weighted
        extent = summary["area_km2"][str(epoch)]["permafrost_extent_km2"] / 1e6
        agree = summary["truth_agreement"][str(epoch)]
        assert (
            f"{epoch}: permafrost extent {extent:.2f} M km², agreement with the truth {agree:.1%}"
            in output
        )  # the console prints the summary's figures
    assert summary["virtual_world"] is True
    # plausible totals and a steady decline (published anchors, issue 11)
    rows = summary["plausibility"]
    assert len(rows) == 5 and all(row["inside"] for row in rows), rows
    assert summary["trajectory"]["monotone_decline"]
    area = summary["area_km2"]
    assert area["2020"]["permafrost_extent_km2"] < area["2000"]["permafrost_extent_km2"]
    planted = pd.read_csv(out / "sites/input/planted_defects.csv")
    report = pd.read_csv(out / "sites/qc_report.csv")
    assert set(report.site_id) == set(planted.site_id)  # every defect found, no good site dropped
    # about the published 1,749 sites: site-epoch rows (1,222 points, some observed in several epochs)
    assert 1650 < summary["sites"]["site_epoch_rows"] < 1850
    best_single = summary["cv"]["best_single_factor"]
    assert best_single["spatial"]["accuracy"]["mean"] < summary["cv"]["spatial"]["accuracy"]["mean"]


@pytest.mark.slow
def test_demo_permafrost_region_covers_the_true_region(
    demo: tuple[Path, dict[str, Any], str],
) -> None:
    """The mapped region (p >= 1 %) holds the true one: the cells where >= 1 % of the ground is frozen."""
    out, summary, _ = demo
    region = next(
        r for r in summary["plausibility"] if r["quantity"].startswith("permafrost region")
    )
    with rasterio.open(out / "truth/permafrost_truth_2000.tif") as ds:
        share = ds.read(ds.descriptions.index("site_label_probability") + 1)
        true_km2 = Grid.from_raster(ds.name).cell_area_km2()[(share >= 1) & (share <= 100)].sum()
    assert 12.5e6 < true_km2 < 14e6  # sub-grid sigma 0.4 K: TTOP < 0.93 degC
    # the model adds its own uncertainty to the sub-grid share, so its region is wider, not narrower
    assert true_km2 * 0.98 < region["value"] < true_km2 + 3.5e6


@pytest.mark.slow
def test_demo_projects_each_future_within_ten_percent_of_its_truth(
    demo: tuple[Path, dict[str, Any], str],
) -> None:
    out, summary, output = demo
    proj = summary["projections"]
    assert summary["projection_settings"]["baseline_epoch"] == 2020
    base = summary["area_km2"]["2020"]["permafrost_extent_km2"]
    for s in SCENARIOS:
        for p in PERIODS:
            e = proj[s][p]
            with rasterio.open(out / f"maps/future/permafrost_{s}_{p}.tif") as ds:
                assert ds.descriptions[:3] == ("class", "probability", "gcm_spread")
                assert ds.tags()["scenario"] == s and ds.tags()["virtual_world"] == "true"
            low, high = e["gcm_range_km2"]
            assert low <= e["permafrost_extent_km2"] <= high
            assert abs(e["permafrost_extent_km2"] / e["true_extent_km2"] - 1) <= 0.10, (s, p, e)
            assert e["lost_km2"] > e["gained_km2"]
            assert (
                f"{s} {p}: projected extent {e['permafrost_extent_km2'] / 1e6:.2f} M km²" in output
            )
    # less permafrost with a stronger scenario and with time, all below the baseline
    for p in PERIODS:
        assert (
            proj["ssp585"][p]["permafrost_extent_km2"] < proj["ssp126"][p]["permafrost_extent_km2"]
        )
    for s in SCENARIOS:
        series = [base] + [proj[s][p]["permafrost_extent_km2"] for p in PERIODS]
        assert series == sorted(series, reverse=True), (s, series)
    areas = pd.read_csv(out / "change/future_areas.csv")
    assert set(areas["scenario"]) == set(SCENARIOS)
    assert "Future: permafrost under climate scenarios" in (out / "report.html").read_text()
