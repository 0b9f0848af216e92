"""Benchmark of a projection (issue 13): one scenario × period × GCM on the 30 arc-sec virtual Eurasia.

:func:`run` reuses (or builds) the 30 arc-sec stack of epoch 2010 that the ``predict`` section uses
(``out/bench/covariates/stack_2010.tif``) as the baseline, takes the model the demo selected (with
its calibration and area-of-applicability reference; ``out/demo/models``), and projects SSP5-8.5
2081–2100 under one virtual GCM through :func:`permamap.projections.project`: the future climate of
every tile, its climate factors, the prediction, the AOA band, the tile store and the COGs. The run
is in a fresh process (:func:`benchmarks.rss.measure`), so the peak memory is its own. Figures go
to ``out/bench/bench.json`` under ``projections``. ``quick=True`` uses the 10° × 10° sub-extent of
the ``predict`` section.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.predict import FULL_BOUNDS, QUICK_BOUNDS, RES, ensure_stack
from benchmarks.rss import measure
from permamap.contracts import DEFAULT_TILE
from permamap.grid import Grid
from permamap.layout import RunLayout

__all__ = ["run"]

SCENARIO, PERIOD, GCM = "ssp585", "2081-2100", "ve-cedar"


def _project(stack: Path, grid: Grid, demo: Path, out_dir: Path, n_jobs: int) -> dict[str, Any]:
    """The projection itself (runs in the child process)."""
    from permamap.demo.world import VirtualWorld
    from permamap.modelio import load_artefact
    from permamap.projections import ProjectionSettings, VirtualFutureClimate, project

    lay = RunLayout(demo)
    trained = load_artefact(lay.model, lay.model_card)
    settings = ProjectionSettings(
        scenarios=(SCENARIO,), periods=(PERIOD,), gcms=(GCM,), baseline_epoch=2010
    )
    source = VirtualFutureClimate(VirtualWorld())
    run_lay = RunLayout(out_dir)
    side = project(
        trained, source, settings, SCENARIO, PERIOD, stack, grid, run_lay,
        tile_shape=DEFAULT_TILE, n_jobs=n_jobs,
    )  # fmt: skip
    return {
        "permafrost_extent_km2": round(side["permafrost_extent_km2"]),
        "outside_aoa_share": side["outside_aoa_share"],
        "map_bytes": run_lay.future_map(SCENARIO, PERIOD).stat().st_size,
    }


def run(quick: bool = False, out_dir: Path = Path("out/bench")) -> dict[str, Any]:
    """Project one scenario × period × GCM at 30 arc-sec; time and the run's own peak memory."""
    bounds = QUICK_BOUNDS if quick else FULL_BOUNDS
    grid = Grid.from_bounds(bounds, res=RES)
    folder = out_dir / ("covariates-quick" if quick else "covariates")
    stack, stack_s, reused = ensure_stack(grid, folder / "stack_2010.tif", progress=True)
    demo = Path("out/demo")
    if not RunLayout(demo).model.is_file():
        return {"skipped": "no demo model: run `make demo` first (the projection uses its model)"}
    target = out_dir / "projection-run"
    shutil.rmtree(target, ignore_errors=True)  # a fresh projection, not a reused one
    n_jobs = os.cpu_count() or 1
    t0 = time.perf_counter()
    figures, seconds, peak_mb = measure(_project, stack, grid, demo, target, n_jobs)
    cells = grid.height * grid.width
    return {
        "scenario": SCENARIO,
        "period": PERIOD,
        "gcm": GCM,
        "cells": cells,
        "grid_shape": list(grid.shape),
        "seconds": round(seconds, 1),
        "wall_with_startup_s": round(time.perf_counter() - t0, 1),
        "cells_per_second": round(cells / seconds),
        "peak_rss_mb": peak_mb,
        "workers": n_jobs,
        "baseline_stack_built_s": round(stack_s, 1),
        "baseline_stack_reused": reused,
        **figures,
    }
