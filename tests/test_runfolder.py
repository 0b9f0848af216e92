"""Run folders: claimed before anything is written, continued by the same config, never mixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from permamap.errors import ConfigError
from permamap.layout import RunLayout
from permamap.runfolder import claim, folder_state, mark, read_record, stage_done


def _fill(lay: RunLayout) -> None:
    lay.maps_dir.mkdir(parents=True)
    lay.map(1995).write_bytes(b"old map")
    lay.summary.write_text("{}")
    lay.report.write_text("<html>old</html>")


def test_a_new_folder_is_claimed_and_marked_running(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path / "run")
    assert folder_state(lay, "abc") == "new"
    assert claim(lay, "abc", config="run.toml") == "new"
    record = read_record(lay)
    assert record is not None
    assert record["status"] == "running" and record["config_sha256"] == "abc"
    assert record["config"] == "run.toml" and record["stages_done"] == []


def test_the_same_config_continues_and_drops_only_the_headline_files(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path / "run")
    claim(lay, "abc")
    stage_done(lay, "covariates")
    mark(lay, "failed at sites", stage="sites", error="DataError: x")
    _fill(lay)
    assert claim(lay, "abc") == "same"
    assert lay.map(1995).read_bytes() == b"old map"  # finished work is kept for reuse
    assert not lay.summary.exists() and not lay.report.exists()  # never stale headline figures
    record = read_record(lay)
    assert record is not None
    assert record["status"] == "running" and "error" not in record
    assert record["stages_done"] == ["covariates"]


def test_another_config_is_refused_unless_overwrite_which_clears_the_run(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path / "run")
    claim(lay, "abc", config="a.toml")
    mark(lay, "complete")
    _fill(lay)
    with pytest.raises(ConfigError, match=r"another config \(a.toml, complete\).*--overwrite"):
        claim(lay, "xyz")
    assert lay.map(1995).exists()
    (lay.root / ".summary.1234abcd.tmp.json").write_text("")  # a killed write's leftover
    assert claim(lay, "xyz", overwrite=True) == "other"
    assert sorted(p.name for p in lay.root.iterdir()) == ["run.json"]
    assert json.loads(lay.run_record.read_text())["config_sha256"] == "xyz"


def test_a_folder_of_other_files_is_never_emptied(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path / "home")
    lay.root.mkdir()
    (lay.root / "notes.txt").write_text("mine")
    (lay.root / "maps").mkdir()
    assert folder_state(lay, "abc") == "foreign"
    with pytest.raises(ConfigError, match=r"not a permamap run's \(notes.txt\)"):
        claim(lay, "abc", overwrite=True)
    assert (lay.root / "notes.txt").read_text() == "mine" and (lay.root / "maps").is_dir()


def test_results_without_a_run_record_are_another_run(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path / "run")
    _fill(lay)
    assert folder_state(lay, "abc") == "other"
    with pytest.raises(ConfigError, match=r"without a run\.json"):
        claim(lay, "abc")
