"""The benchmarks' memory figures: each run's own peak, and the product run's peak per stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from benchmarks.product import StageTracker, product_config
from benchmarks.rss import ChildRunError, measure


def hold_mb(mb: int, value: int = 7) -> int:
    """Touch ``mb`` MiB of fresh memory (every page written), then return ``value``."""
    block = np.ones(mb * 2**20, dtype=np.uint8)
    return int(block[::4096].sum() // (mb * 256)) * value


def fail() -> None:
    raise ValueError("planned failure")


def test_measure_reports_each_runs_own_peak() -> None:
    result, seconds, big = measure(hold_mb, 200)
    assert result == 7
    assert seconds >= 0
    assert big >= 200
    result, _, small = measure(hold_mb, 20, value=3)
    assert result == 3
    assert small < 150  # the interpreter and numpy plus 20 MB, not the 200 MB run before it
    assert big - small >= 150


def test_measure_passes_the_childs_error() -> None:
    with pytest.raises(ChildRunError, match="planned failure"):
        measure(fail)


def test_measure_refuses_a_lambda() -> None:
    with pytest.raises(ChildRunError, match="module level"):
        measure(lambda: 1)


# --------------------------------------------------------------------------- product stages
def fake_run(folder: str, plan: list[tuple[str, int, int]]) -> None:
    """A stand-in for ``permamap run``: for each ``(stage, MB here, MB in a child process)``, name
    the stage in ``run.json`` (as ``runfolder.mark`` does), hold the memory a while, free it."""
    record = Path(folder) / "run.json"
    time.sleep(0.3)  # the "check" before the first stage
    for stage, mb, child_mb in plan:
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"status": "running", "stage": stage}))
        os.replace(tmp, record)
        block = np.ones(mb * 2**20, dtype=np.uint8)
        if child_mb:
            code = (
                "import time, numpy as np; "
                f"b = np.ones({child_mb} * 2**20, dtype=np.uint8); time.sleep(0.8)"
            )
            subprocess.run([sys.executable, "-c", code], check=True)
        else:
            time.sleep(0.5)
        del block


def test_stage_tracker_charges_each_stage_its_own_peak(tmp_path: Path) -> None:
    tracker = StageTracker(tmp_path / "run.json")
    plan = [("covariates", 250, 0), ("maps", 10, 200), ("change", 10, 0)]
    _, _, peak = measure(fake_run, str(tmp_path), plan, interval=0.05, on_sample=tracker)
    rows = {row["stage"]: row for row in tracker.table()}
    assert list(rows) == ["check", "covariates", "maps", "change"]
    assert rows["covariates"]["peak_rss_mb"] >= 250
    assert rows["maps"]["peak_rss_mb"] >= 200  # held by the run's own child process
    assert rows["maps"]["peak_rss_mb_main"] < 150  # ... not by the run's process itself
    assert rows["covariates"]["peak_rss_mb_main"] >= 250
    assert rows["change"]["peak_rss_mb"] < 150  # after the big stages, its own peak only
    assert rows["check"]["peak_rss_mb"] < 150
    assert peak >= 250


def test_stage_table_takes_the_pipelines_timings(tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    now = [0.0]
    tracker = StageTracker(record, clock=lambda: now[0])
    samples = [  # (clock, status, stage, MB of the process tree, MB of the run process)
        (1, None, None, 50, 50),
        (2, "running", "covariates", 300, 300),
        (5, "running", "covariates", 400, 390),
        (6, "running", "maps", 900, 380),  # pool workers
        (9, "running", "report", 80, 70),
        (10, "complete", "report", 60, 60),
        (14, "complete", "report", 95, 95),  # after the end: memory counts, time does not
    ]
    for t, status, stage, tree, main in samples:
        now[0] = t
        if stage:
            record.write_text(json.dumps({"status": status, "stage": stage}))
        tracker(tree, main)
    # the pipeline timed a stage no sample saw ("change", between maps and report); "check" runs
    # from the start of the tracker to the first sample in another stage
    table = tracker.table({"covariates": 3.5, "maps": 2.9, "change": 0.1, "total": 9.0})
    assert table == [
        {"stage": "check", "seconds": 2.0, "peak_rss_mb": 50.0, "peak_rss_mb_main": 50.0},
        {"stage": "covariates", "seconds": 3.5, "peak_rss_mb": 400.0, "peak_rss_mb_main": 390.0},
        {"stage": "maps", "seconds": 2.9, "peak_rss_mb": 900.0, "peak_rss_mb_main": 380.0},
        {"stage": "change", "seconds": 0.1, "peak_rss_mb": None, "peak_rss_mb_main": None},
        {"stage": "report", "seconds": 1.0, "peak_rss_mb": 95.0, "peak_rss_mb_main": 95.0},
    ]


def test_product_config_is_the_demo_at_another_resolution(tmp_path: Path) -> None:
    from permamap.config import demo_config, load_config

    cfg = load_config(product_config(600, tmp_path))
    demo = demo_config()
    assert (cfg.grid.height, cfg.grid.width) == (354, 930)
    assert cfg.grid.res == pytest.approx(600 / 3600)
    assert cfg.epochs == demo.epochs == (2000, 2005, 2010, 2015, 2020)
    assert (cfg.grid.west, cfg.grid.south, cfg.grid.east, cfg.grid.north) == (25, 25, 180, 84)
