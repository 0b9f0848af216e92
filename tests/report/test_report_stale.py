"""The report shows this run's files only: epochs and pairs come from summary.json, not the folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from permamap.layout import RunLayout
from permamap.report import write_report
from permamap.report.headline import section_headline
from permamap.report.page import Page, render
from permamap.report.provenance import section_files
from permamap.report.results import section_area, section_change, section_maps

_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _text(page: Path) -> str:
    """The page without its embedded images (base64 may spell any digits)."""
    return _DATA_URI.sub("", page.read_text(encoding="utf-8"))


def _sections(run: Path) -> str:
    """The run-dependent sections only (maps, area, change, files): the page minus slow charts."""
    page = Page(RunLayout(run), "none", 60)
    for ident, build in (
        ("maps", section_maps),
        ("area", section_area),
        ("change", section_change),
        ("files", section_files),
    ):
        page.add(ident, ident, build)
    return _DATA_URI.sub("", render(page, "now"))


@pytest.fixture
def stale_run(run_folder, tmp_path: Path) -> Path:
    """A copy of the run folder with leftovers of an earlier run: epoch 1995 and a reference.

    This run compared with no reference: its summary has no ``change.reference``, so the
    reference files (the fixture's and the 1995 ones written here) are an earlier run's.
    """
    src, _ = run_folder
    run = tmp_path / "run"
    shutil.copytree(src, run)
    summary = json.loads((run / "summary.json").read_text())
    del summary["change"]["reference"]
    (run / "summary.json").write_text(json.dumps(summary))
    shutil.copy(run / "maps" / "permafrost_2000.tif", run / "maps" / "permafrost_1995.tif")
    shutil.copy(
        run / "change" / "transitions_2000_2010.csv", run / "change" / "transitions_1995_2000.csv"
    )
    shutil.copy(run / "change" / "change_2000_2010.tif", run / "change" / "change_1995_2000.tif")
    (run / "covariates").mkdir()
    shutil.copy(run / "maps" / "permafrost_2000.tif", run / "covariates" / "stack_1995.tif")
    pd.DataFrame(
        {"epoch": [1995], "reference": ["old_ref.tif"], "kappa": [0.5], "compared_km2": [1.0]}
    ).to_csv(run / "change" / "reference_comparison.csv", index=False)
    pd.DataFrame({"map_class": [0], "reference_class": [0], "area_km2": [1.0]}).to_csv(
        run / "change" / "reference_confusion_1995.csv", index=False
    )
    area = pd.read_csv(run / "change" / "area_by_epoch.csv")
    old = area[area.epoch == 2000].assign(epoch=1995)
    pd.concat([old, area]).to_csv(run / "change" / "area_by_epoch.csv", index=False)
    return run


def test_stale_files_never_appear(stale_run: Path) -> None:
    text = _text(write_report(stale_run, coastlines="none", max_pixels=120))
    assert "1995" not in text
    assert "old_ref.tif" not in text and "reference_comparison" not in text
    # 1995: map, stack, transitions, change map, reference confusion; and the reference
    # comparison, its 2020 confusion table and the reference on the grid
    assert "8 file(s) left in this folder by an earlier run" in text
    # this run's files are all there
    for name in ("maps/permafrost_2000.tif", "change/change_2000_2020.tif"):
        assert f"<code>{name}</code>" in text
    assert "<h3>2010 → 2020</h3>" in text and 'id="map-2020"' in text


def test_this_runs_pairs_come_from_the_summary(stale_run: Path) -> None:
    summary = json.loads((stale_run / "summary.json").read_text())
    # a run of two epochs in a folder whose change/ still holds the 3-epoch run's tables
    summary["epochs"] = [2000, 2020]
    summary["change"]["transitions"] = [
        t
        for t in summary["change"]["transitions"]
        if (t["from_epoch"], t["to_epoch"]) == (2000, 2020)
    ]
    (stale_run / "summary.json").write_text(json.dumps(summary))
    text = _sections(stale_run)
    assert "<h3>2000 → 2020</h3>" in text
    assert "2000 → 2010" not in text and "2010 → 2020" not in text
    assert 'id="map-2010"' not in text and "permafrost_2010" not in text


def test_reference_of_this_run_is_shown(stale_run: Path) -> None:
    summary = json.loads((stale_run / "summary.json").read_text())
    summary["change"]["reference"] = {"reference": "obu.tif", "by_epoch": {"2000": {}}}
    (stale_run / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"epoch": [1995, 2000], "reference": ["obu.tif"] * 2, "kappa": [0.1, 0.7]}).to_csv(
        stale_run / "change" / "reference_comparison.csv", index=False
    )
    text = _sections(stale_run)
    assert "Comparison with the reference map" in text and "obu.tif" in text
    assert "1995" not in text  # its row and reference_confusion_1995.csv are not this run's


def test_without_summary_every_file_is_shown_with_a_warning(stale_run: Path) -> None:
    (stale_run / "summary.json").unlink()
    text = _sections(stale_run)
    assert "summary.json was not found in this run folder: showing every" in text
    assert "may include files left by an earlier run" in text
    assert "<code>maps/permafrost_1995.tif</code>" in text  # in the panel of every epoch


def test_no_elevation_breakdown_is_said_not_assumed(run_folder) -> None:
    run, summary = run_folder
    assert summary["change"]["elevation_zones"] is False  # the fixture has no elevation
    text = _sections(run)
    assert "By elevation zone" not in text
    assert "no elevation factor: areas by elevation zone are left out." in text
    assert "By latitude band" in text


def test_top_level_notes_are_listed_once(stale_run: Path) -> None:
    summary = json.loads((stale_run / "summary.json").read_text())
    change_notes = summary["change"].pop("notes")  # the pipeline lifts them to the top level
    summary["notes"] = ["factor maat: 2 of 20 tiles filled", *change_notes, *change_notes]
    (stale_run / "summary.json").write_text(json.dumps(summary))
    page = Page(RunLayout(stale_run), "none", 60)
    page.add("headline", "Headline", section_headline)
    text = render(page, "now")
    assert "<li>factor maat: 2 of 20 tiles filled</li>" in text
    assert text.count("no elevation factor: areas by elevation zone are left out") == 1
    assert "no elevation factor: areas by elevation zone are left out." in _sections(stale_run)
