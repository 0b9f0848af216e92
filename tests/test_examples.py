"""The real-data example runs through the CLI (skipped without ../shared/data/real-coarse)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-coarse"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real coarse data not found at {REAL}")
def test_real_coarse_sites_example_flags_baganuur(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("example", ROOT / "examples/real_coarse_sites.py")
    assert spec and spec.loader
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(tmp_path) == 0
    report = pd.read_csv(tmp_path / "run/sites/qc_report.csv")
    rules = report.groupby("source_id")["rule"].agg(set)
    assert rules["Baganuur M1a depression (plain)"] == {"climate_contradiction"}
    stack = tmp_path / "run/covariates/stack_2000.tif"
    assert stack.is_file()  # the NCEP/CMAP/ETOPO20 stack, built through [covariates.real]


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real coarse data not found at {REAL}")
def test_own_data_example_checks_and_runs_end_to_end(tmp_path: Path) -> None:
    """examples/own_data: real NCEP/CMAP, ETOPO20, HWSD, bioclim custom factors, GTN-P/PERMOS sites."""
    import json

    import rasterio
    from click.testing import CliRunner

    from permamap.cli import main

    shutil.copy(ROOT / "examples/own_data/own_data.toml", tmp_path / "own_data.toml")
    _load("link_real_coarse", ROOT / "examples/own_data/link_real_coarse.py").link(tmp_path)
    config = str(tmp_path / "own_data.toml")
    check = CliRunner().invoke(main, ["check", config])
    assert check.exit_code == 0, check.output
    assert "190 × 59" in check.output or "59 × 190" in check.output
    run = CliRunner().invoke(main, ["-q", "run", config])
    assert run.exit_code == 0, run.output
    out = tmp_path / "run"
    for epoch in (2000, 2010):
        with rasterio.open(out / f"maps/permafrost_{epoch}.tif") as ds:
            assert (ds.height, ds.width) == (59, 190)
            assert ds.bounds == pytest.approx((-10, 25, 180, 84))
    factors = pd.read_csv(out / "covariates/factors.csv").set_index("name")
    assert "NCEP" in factors.loc["maat", "source"]
    assert "etopo20" in factors.loc["elevation", "source"].lower()
    assert "T_CLAY.nc4" in factors.loc["clay", "source"]
    assert "bioclim_global.tif" in factors.loc["bio10", "source"]
    assert "longitude" not in factors.index  # dropped in the config
    summary = json.loads((out / "summary.json").read_text())
    assert summary["area_km2"]["2000"]["permafrost_extent_km2"] > 0
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    html = (out / "report.html").read_text()
    assert "bio10" in html  # custom factors reach the report
