"""Resume anywhere: a run killed (``kill -9``) at several points continues to the same bytes.

One small demo run is killed six times, each rerun dying further on — inside the covariate
stack's tiles (twice), between stages, inside the map tiles, after the truth and as the report
starts — and then finished. Every file it leaves equals, byte for byte, the file of a run that was
never interrupted — except what no two runs share: ``summary.json``'s timings, the prediction
costs the models stage measures (model card, selection record) and the array names inside a
``.skops`` model, which are compared by content. A rerun of the finished folder does no
work and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from permamap.cli import main

from .test_cli import SMALL_RUN

CONFIG = SMALL_RUN

#: Where each killed invocation dies, in order: (point, n) of tests/resume_child.py.
KILLS = [
    ("tile", 3),  # covariates 2000, half its tiles stored
    ("tile", 5),  # covariates 2020, part of its tiles stored
    ("stage", 2),  # covariates and sites recorded complete
    ("tile", 3),  # the models stage ran; dies inside the 2000 map's tiles
    ("stage", 3),  # maps, truth and change recorded complete
    ("report", 0),  # summary.json written, the report not
]
CHILD = Path(__file__).with_name("resume_child.py")
VOLATILE = {"run.json", "summary.json", "report.html"}


#: Figures measured while the models stage ran (seconds per million cells): they differ between
#: any two runs, interrupted or not.
MEASURED = ("prediction_s_per_million_cells", "cost_s_per_million", "cost_class")


def _without_measured(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _without_measured(v) for k, v in obj.items() if k not in MEASURED}
    if isinstance(obj, list):
        return [_without_measured(v) for v in obj]
    return obj


def _content(path: Path) -> object:
    """A file's bytes; a model's loaded content (skops names its arrays by memory address); a
    model card or selection record without :data:`MEASURED`."""
    if path.suffix == ".skops":
        import joblib
        import skops.io as sio

        return joblib.hash(sio.load(path, trusted=sio.get_untrusted_types(file=path)))
    if path.name in ("model_card.json", "selection.json"):
        return _without_measured(json.loads(path.read_text()))
    return path.read_bytes()


def _files(root: Path) -> dict[str, object]:
    return {
        str(p.relative_to(root)): _content(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in VOLATILE
    }


def _summary(root: Path) -> dict[str, object]:
    data = json.loads((root / "summary.json").read_text())
    data.pop("timings_s")
    data.pop("resumed", None)
    return _without_measured(data)  # type: ignore[return-value]


def _run(config: Path) -> str:
    result = CliRunner().invoke(main, ["run", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, object]]]:
    clean, killed = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("killed")
    for folder in (clean, killed):
        (folder / "run.toml").write_text(CONFIG)
    _run(clean / "run.toml")
    records = []
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent.parent)}
    for point, n in KILLS:
        proc = subprocess.run(
            [sys.executable, str(CHILD), str(killed / "run.toml"), point, str(n)],
            cwd=killed,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 9, proc.stderr[-2000:]
        records.append(json.loads((killed / "run" / "run.json").read_text()))
    _run(killed / "run.toml")
    return clean / "run", killed / "run", records


def test_each_kill_left_the_run_further_on(runs: tuple[Path, Path, list[dict]]) -> None:
    _, _, records = runs
    done = [list(r.get("stages", {})) for r in records]
    assert done[0] == [] and done[1] == []  # inside the covariates stage
    assert done[2] == ["covariates", "sites"]
    assert done[3] == ["covariates", "sites", "models"]
    assert done[4] == ["covariates", "sites", "models", "maps", "truth", "change"]
    assert done[5] == done[4]  # died as the report started
    assert all(r["status"] == "running" for r in records)  # a kill -9 marks nothing


def test_killed_and_resumed_equals_uninterrupted_byte_for_byte(
    runs: tuple[Path, Path, list[dict]],
) -> None:
    clean, killed, _ = runs
    a, b = _files(clean), _files(killed)
    assert sorted(a) == sorted(b)  # no tile store or scratch file is left behind
    assert not [k for k in b if "/.tiles_" in k or ".tmp" in k]
    different = [k for k in a if a[k] != b[k]]
    assert different == []
    assert _summary(clean) == _summary(killed)
    assert json.loads((killed / "run.json").read_text())["status"] == "complete"
    assert (killed / "report.html").is_file()


def test_a_rerun_of_a_finished_run_does_no_work_and_says_so(
    runs: tuple[Path, Path, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, _, _ = runs
    import permamap.pipeline as pipeline

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stage ran on a complete run folder")

    for name in ("covariate_stage", "site_stage", "model_stage", "map_stage", "change_stage"):
        monkeypatch.setattr(pipeline, name, no_work)
    before = {p: p.stat().st_mtime_ns for p in clean.rglob("*")}
    output = _run(clean.parent / "run.toml")
    assert "is complete and current" in output and "nothing to do" in output
    assert {p: p.stat().st_mtime_ns for p in clean.rglob("*")} == before


def test_the_fingerprint_names_the_folder_only_when_the_config_names_files(tmp_path: Path) -> None:
    from permamap.config import load_config

    text = CONFIG
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "run.toml").write_text(text)
    # no path in the config: the same run wherever the file lies
    assert load_config(a / "run.toml").fingerprint == load_config(b / "run.toml").fingerprint
    own = '\n[change]\nregions = "regions.geojson"\n'
    for folder in (a, b):
        (folder / "regions.geojson").write_text('{"type": "FeatureCollection", "features": []}')
        (folder / "run.toml").write_text(text + own)
    # a relative path: each folder's config reads its own file
    assert load_config(a / "run.toml").fingerprint != load_config(b / "run.toml").fingerprint
