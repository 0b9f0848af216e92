"""Benchmark of the whole product (issue 14): ``permamap run`` on the demo config at 1 km, per stage.

:func:`run` writes the demo config (``permamap/demo/demo.toml``) with ``[grid] res_arcsec`` set to
the resolution asked for (default 30 arc-seconds: 7,080 × 18,600 cells, five epochs) to
``out/bench/product/demo_<res>arcsec.toml``, empties the run folder ``out/bench/product/run_<res>arcsec``
and runs ``permamap -q run CONFIG --out FOLDER`` — the command itself, through its click entry
point — in a fresh process (:func:`benchmarks.rss.measure`). Every 0.2 s the process tree's
resident memory is sampled and charged to the stage that the run's ``run.json`` names at that
moment (:class:`StageTracker`): ``check`` until the first stage starts, then ``covariates``,
``sites``, ``models``, ``maps``, ``truth``, ``change``, ``report``. The demo's ``[projections]``
are left out (``projections`` section of the benchmarks: one scenario × period × GCM). A stage's seconds are the
pipeline's own (``summary.json`` → ``timings_s``) where it records them, else the tracker's.

The figures go to ``out/bench/bench.json`` under ``product``. A 30 arc-sec run takes about 25 minutes
on two cores; ``--quick`` runs the demo's own 300 arc-sec grid (a few minutes).
``python -m benchmarks product [--res-arcsec 30]`` or ``python -m benchmarks.product``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from benchmarks.results import machine, save_section
from benchmarks.rss import measure

__all__ = ["StageTracker", "permamap_run", "product_config", "run"]

FULL_RES_ARCSEC = 30.0
QUICK_RES_ARCSEC = 300.0  # the demo's own grid
#: Before the first stage: interpreter start, imports, the config check and the folder claim.
BEFORE = "check"


class StageTracker:
    """Charges each memory sample and the time between samples to the stage ``run.json`` names.

    Call it with each sample (MB: the run's process tree, and the run's process alone) while the
    run goes; :meth:`table` gives the stages in the order they ran, each with its seconds (from
    its first sample to the next stage's, or to the first sample after the run says it is
    ``complete`` or ``failed``) and its peaks. Samples after the end (the closing lines, the
    interpreter's exit) still count towards the last stage's memory.
    """

    def __init__(self, run_record: Path, clock: Callable[[], float] = time.perf_counter) -> None:
        self.run_record = Path(run_record)
        self.clock = clock
        self.current = BEFORE
        self._stages: dict[str, dict[str, float]] = {}
        self._since = clock()
        self._ended: float | None = None

    def _read(self) -> tuple[str, bool]:
        """The stage ``run.json`` names now, and whether the run has ended."""
        try:
            record = json.loads(self.run_record.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return BEFORE, False
        except (OSError, ValueError):  # being replaced: nothing new
            return self.current, self._ended is not None
        if not isinstance(record, dict):
            return self.current, self._ended is not None
        status = str(record.get("status", "running"))
        return str(record.get("stage") or BEFORE), status != "running"

    def __call__(self, tree_mb: float, main_mb: float | None = None) -> None:
        now = self.clock()
        stage, ended = self._read()
        if stage != self.current and self._ended is None:
            self._row(self.current)["seconds"] += now - self._since
            self._since, self.current = now, stage
        if ended and self._ended is None:
            self._ended = now
        row = self._row(self.current)
        row["peak_rss_mb"] = max(row["peak_rss_mb"], tree_mb)
        row["peak_rss_mb_main"] = max(
            row["peak_rss_mb_main"], tree_mb if main_mb is None else main_mb
        )

    def _row(self, stage: str) -> dict[str, float]:
        return self._stages.setdefault(
            stage, {"seconds": 0.0, "peak_rss_mb": 0.0, "peak_rss_mb_main": 0.0}
        )

    def table(self, timings: dict[str, float] | None = None) -> list[dict[str, Any]]:
        """``[{"stage", "seconds", "peak_rss_mb", "peak_rss_mb_main"}, ...]`` in run order.

        ``peak_rss_mb`` is the run's process tree (with pool workers, idle ones too),
        ``peak_rss_mb_main`` the run's own process; ``timings`` (the pipeline's) win over the
        tracker's seconds.

        A stage the pipeline timed but no sample saw (shorter than the interval) is listed with
        its time and peaks None.
        """
        timings = {k: v for k, v in (timings or {}).items() if k != "total"}
        end = self._ended if self._ended is not None else self.clock()
        seen = {
            stage: row["seconds"] + (end - self._since if stage == self.current else 0.0)
            for stage, row in self._stages.items()
        }
        order = list(seen)
        previous = BEFORE
        for stage in timings:
            if stage not in order:
                order.insert(order.index(previous) + 1 if previous in order else len(order), stage)
            previous = stage
        rows = []
        for stage in order:
            row: dict[str, Any] = {
                "stage": stage,
                "seconds": round(float(timings.get(stage, seen.get(stage, 0.0))), 1),
                "peak_rss_mb": None,
                "peak_rss_mb_main": None,
            }
            if stage in self._stages:
                row["peak_rss_mb"] = round(self._stages[stage]["peak_rss_mb"], 1)
                row["peak_rss_mb_main"] = round(self._stages[stage]["peak_rss_mb_main"], 1)
            rows.append(row)
        return rows


def product_config(res_arcsec: float, folder: Path) -> Path:
    """The demo config with ``[grid] res_arcsec = res_arcsec``, written to ``folder``; its path."""
    from permamap.config import parse_config
    from permamap.fileio import atomic_write_text

    text = files("permamap.demo").joinpath("demo.toml").read_text(encoding="utf-8")
    value = f"{res_arcsec:g}"
    text, n = re.subn(r"(?m)^res_arcsec\s*=\s*[^\s#]+", f"res_arcsec = {value}", text)
    if n != 1:
        raise ValueError(
            f"permamap/demo/demo.toml has {n} `res_arcsec = ...` lines, not 1; update "
            "benchmarks/product.py to the demo config's layout"
        )
    # the product is the five epochs through change and report; the demo's projections (20 GCM
    # runs) are measured on their own, one scenario × period × GCM (benchmarks/projections.py)
    text = re.sub(r"(?ms)^\[projections\].*?(?=^\[|\Z)", "", text)
    cfg = parse_config(tomllib.loads(text), source="demo.toml")
    if cfg.projections is not None:
        raise ValueError(
            "the product config still has [projections]; update benchmarks/product.py to the demo "
            "config's layout"
        )
    if abs(cfg.grid.res * 3600 - res_arcsec) > 1e-6 * res_arcsec:
        raise ValueError(
            f"the demo config with res_arcsec = {value} has a {cfg.grid.res * 3600:g} arc-sec "
            "grid; update benchmarks/product.py to the demo config's layout"
        )
    path = Path(folder) / f"demo_{value}arcsec.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, f"# written by benchmarks/product.py\n{text}")
    return path


def permamap_run(config: str, out: str) -> None:
    """``permamap -q run CONFIG --out OUT``, in this process (the child of :func:`run`)."""
    from permamap.cli import main

    main(["-q", "run", config, "--out", out], standalone_mode=False)


def run(
    quick: bool = False,
    res_arcsec: float | None = None,
    out_dir: Path = Path("out/bench"),
    interval: float = 0.2,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the whole flow on the demo config at ``res_arcsec``; save and return the figures.

    Parameters
    ----------
    quick : bool, default=False
        Default resolution 300 arc-sec (the demo's grid) instead of 30.
    res_arcsec : float, optional
        Grid resolution in arc-seconds (default 30, or 300 with ``quick``).
    out_dir : Path, default="out/bench"
        Where ``bench.json`` and the ``product/`` folder (config, run folder) go.
    interval : float, default=0.2
        Seconds between memory samples.
    echo : callable, default=print
        Where the human-readable lines go.
    """
    from permamap.config import load_config

    res = float(res_arcsec or (QUICK_RES_ARCSEC if quick else FULL_RES_ARCSEC))
    folder = Path(out_dir) / "product"
    config = product_config(res, folder)
    cfg = load_config(config)
    run_dir = folder / f"run_{res:g}arcsec"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the benchmark's own folder: measure a run from nothing
    echo(
        f"permamap run {config} --out {run_dir}: {cfg.grid.height:,} x {cfg.grid.width:,} cells, "
        f"{len(cfg.epochs)} epochs"
    )
    tracker = StageTracker(run_dir / "run.json")
    _, seconds, peak = measure(
        permamap_run, str(config), str(run_dir), interval=interval, on_sample=tracker
    )
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    stages = tracker.table(summary.get("timings_s"))
    figures: dict[str, Any] = {
        "epochs": len(cfg.epochs),
        "epoch_years": list(cfg.epochs),
        "res_arcsec": res,
        "grid": {"height": cfg.grid.height, "width": cfg.grid.width},
        "cells": cfg.grid.height * cfg.grid.width,
        "total_seconds": round(seconds, 1),
        "peak_rss_mb": round(max([peak] + [s["peak_rss_mb"] or 0.0 for s in stages]), 1),
        "peak_rss_mb_main": round(max(s["peak_rss_mb_main"] or 0.0 for s in stages), 1),
        "stages": stages,
        "memory": f"peak_rss_mb: the run's process tree (with its pool workers, idle ones too), "
        f"sampled every {interval:g} s (a process whose high-water mark rose since the last "
        "sample counts at that mark), the total also at the run process's final high-water "
        "mark; peak_rss_mb_main: the run's own process alone",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python -m benchmarks product --res-arcsec {res:g}",
        "run_folder": str(run_dir),
        "quick": quick,
    }
    save_section(out_dir, "product", figures)
    for line in table_lines(figures):
        echo(line)
    return figures


def table_lines(figures: dict[str, Any]) -> list[str]:
    """The per-stage table as text."""

    def mb(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    lines = [f"{'stage':<12} {'seconds':>9} {'peak RSS MB':>12} {'run process':>12}"]
    for row in figures["stages"]:
        lines.append(
            f"{row['stage']:<12} {row['seconds']:>9.1f} {mb(row['peak_rss_mb']):>12} "
            f"{mb(row['peak_rss_mb_main']):>12}"
        )
    lines.append(
        f"{'total':<12} {figures['total_seconds']:>9.1f} {mb(figures['peak_rss_mb']):>12} "
        f"{mb(figures['peak_rss_mb_main']):>12}   ({figures['epochs']} epochs at "
        f"{figures['res_arcsec']:g} arc-sec, {figures['grid']['height']:,} x "
        f"{figures['grid']['width']:,} cells)"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.product", description=__doc__)
    parser.add_argument("--res-arcsec", type=float, default=FULL_RES_ARCSEC)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    run(res_arcsec=args.res_arcsec, out_dir=args.out)


if __name__ == "__main__":
    main()
