"""The real-data example runs through the CLI (skipped without ../shared/data/real-coarse)."""

from __future__ import annotations

import importlib.util
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
