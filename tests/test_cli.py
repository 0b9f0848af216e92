"""The CLI end to end: a small run from a config file, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.enums import ColorInterp

from permamap.cli import main

from .own_data import MODELS

SMALL_RUN = (
    """
[run]
out = "run"
epochs = [2000, 2020]
seed = 1

[grid]
bounds = [100, 45, 140, 72]
res = 0.25
tile = [64, 64]

[covariates]
source = "demo"

[[sites.inputs]]
type = "demo"
"""
    + MODELS
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("cli")
    cfg = folder / "run.toml"
    cfg.write_text(SMALL_RUN)
    result = CliRunner().invoke(main, ["-q", "run", str(cfg)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder / "run", result.output


def test_run_writes_the_run_folder_layout(small_run: tuple[Path, str]) -> None:
    out, _ = small_run
    for rel in [
        "sites/sites.parquet",
        "sites/qc_report.csv",
        "covariates/stack_2000.tif",
        "covariates/factors.csv",
        "models/cv_scores.csv",
        "models/model_card.json",
        "maps/permafrost_2000.tif",
        "maps/permafrost_2020.tif",
        "truth/permafrost_truth_2020.tif",
        "change/reference_comparison.csv",  # the demo compares its last map with the truth
        "change/area_by_epoch.csv",
        "change/change_2000_2020.tif",
        "report.html",
        "summary.json",
    ]:
        assert (out / rel).is_file(), rel


def test_maps_follow_the_contract(small_run: tuple[Path, str]) -> None:
    out, _ = small_run
    with (
        rasterio.open(out / "maps/permafrost_2000.tif") as ds,
        rasterio.open(out / "truth/permafrost_truth_2000.tif") as truth,
    ):
        assert ds.crs.to_epsg() == 4326
        assert ds.bounds == pytest.approx((100, 45, 140, 72))
        assert ds.descriptions[:2] == ("class", "probability")
        assert ds.nodata == 255 and ds.tags()["epoch"] == "2000"
        # four byte bands are data, not an RGBA picture
        assert ds.colorinterp[0] == ColorInterp.gray and ColorInterp.alpha not in ds.colorinterp
        cls, prob, true = ds.read(1), ds.read(2), truth.read(1)
        assert set(np.unique(cls)) <= {0, 1, 255}
        assert prob[prob != 255].max() <= 100
        assert (cls[true == 255] == 255).all()  # ocean is nodata in both
        land = true != 255
        mapped = land & (
            cls != 255
        )  # land cells without every factor (e.g. no soil data) are removed
        assert mapped.sum() / land.sum() > 0.95
        assert (cls[mapped] == true[mapped]).mean() > 0.85


def test_summary_and_qc(small_run: tuple[Path, str]) -> None:
    out, _output = small_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == [2000, 2020]
    for scheme in ("random", "spatial"):
        assert 0.5 < summary["cv"][scheme]["accuracy"]["mean"] <= 1
    a = summary["area_km2"]
    assert a["2020"]["permafrost_extent_km2"] < a["2000"]["permafrost_extent_km2"]
    planted = pd.read_csv(out / "sites/input/planted_defects.csv")
    report = pd.read_csv(out / "sites/qc_report.csv")
    found = dict(zip(report.site_id, report.rule, strict=True))
    for site_id, rule in zip(planted.site_id, planted.rule, strict=True):
        if rule == "duplicate_merged":
            continue  # either row of an agreeing pair may be the one merged away
        assert found.get(site_id) == rule, site_id
    merged = report[report.rule == "duplicate_merged"]
    assert len(merged) == (planted.rule == "duplicate_merged").sum()
    # nothing else is dropped: every other report row is a planted defect
    assert set(report.site_id) - set(planted.site_id) <= set(merged.site_id)


def _error(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def test_missing_config_is_a_one_line_error(tmp_path: Path) -> None:
    code, out = _error(["run", str(tmp_path / "nope.toml")])
    assert code == 2 and "nope.toml does not exist" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"[run]\n": "[run]\nwindow_years = 4\n"}, "window_years = 4 must be an odd"),
        ({"bounds = [100, 45, 140, 72]": "bounds = [100, 45, 140.1, 72]"}, "not a whole number"),
        (
            {"epochs = [2000, 2020]": "epochs = [1990, 2020]"},
            "missing [1986, 1987, 1988, 1989, 1990]",
        ),
        ({"epochs = [2000, 2020]": 'epochs = ["2000"]'}, "must be a non-empty list of years"),
        (
            {"[models]": '[change]\nreferense = "obu.tif"\n\n[models]'},
            "[change] has unknown key `referense`",
        ),
    ],
)
def test_bad_config_values(tmp_path: Path, patch: dict[str, str], message: str) -> None:
    text = SMALL_RUN
    for old, new in patch.items():
        text = text.replace(old, new, 1)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    code, out = _error(["-q", "run", str(cfg), "--out", str(tmp_path / "o")])
    assert code == 2, out
    assert message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_unknown_subcommand_exits_2() -> None:
    code, _ = _error(["frobnicate"])
    assert code == 2


def test_map_dry_run_and_remap_from_the_saved_model(small_run: tuple[Path, str]) -> None:
    out, _ = small_run
    cfg = out.parent / "run.toml"
    runner = CliRunner()
    dry = runner.invoke(main, ["-q", "map", str(cfg), "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert "cells" in dry.output and "tiles" in dry.output and "memory" in dry.output
    with rasterio.open(out / "maps/permafrost_2020.tif") as ds:
        first = ds.read()
        assert ds.descriptions == (
            "class",
            "probability",
            "uncertainty",
            "aoa",
            "expected_accuracy",
        )
    (out / "maps/permafrost_2020.tif").unlink()
    again = runner.invoke(main, ["-q", "map", str(cfg), "--jobs", "1"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    with rasterio.open(out / "maps/permafrost_2020.tif") as ds:
        # the saved model (skops) and the AOA rebuilt from the run folder give the same map
        assert np.array_equal(ds.read(), first)


def test_map_without_a_trained_model_is_a_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(SMALL_RUN)
    code, out = _error(["map", str(cfg)])
    assert code == 2 and "model.skops does not exist" in out and "Traceback" not in out


def test_map_refuses_a_folder_made_by_another_config(small_run: tuple[Path, str]) -> None:
    out, _ = small_run
    other = out.parent / "other.toml"
    other.write_text(SMALL_RUN.replace("seed = 1", "seed = 2"))
    code, text = _error(["map", str(other)])
    assert code == 2 and "holds the results of another config (" in text, text
    assert len(text.strip().splitlines()) == 1
