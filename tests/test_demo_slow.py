"""The full demo (issue 2's acceptance run): `make test-slow`, about 2 minutes on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from permamap.cli import main

EPOCHS = [2000, 2005, 2010, 2015, 2020]


@pytest.mark.slow
def test_demo_meets_the_acceptance_figures(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["-q", "demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for epoch in EPOCHS:
        with rasterio.open(out / f"maps/permafrost_{epoch}.tif") as ds:
            assert ds.crs.to_epsg() == 4326 and ds.shape == (708, 1860)
            assert ds.bounds == pytest.approx((25, 25, 180, 84))
            assert ds.overviews(1) and ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (out / f"truth/permafrost_truth_{epoch}.tif").is_file()
        assert summary["truth_agreement"][str(epoch)] >= 0.90
        assert f"{epoch}: permafrost extent" in result.output
    area = summary["area_km2"]
    assert area["2020"]["permafrost_extent_km2"] < area["2000"]["permafrost_extent_km2"]
    planted = pd.read_csv(out / "sites/input/planted_defects.csv")
    report = pd.read_csv(out / "sites/qc_report.csv")
    assert set(report.site_id) == set(planted.site_id)  # every defect found, no good site dropped
    assert 1650 < summary["sites"]["kept"] < 1850  # about the published 1,749
