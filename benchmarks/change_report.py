"""Benchmark of the change stage and the report at 30 arc-sec (issue 14: "stream tiles at 1 km").

:func:`build_fake_run` makes a run folder at 30 arc-sec without running the product: five epoch
maps ``permafrost_<year>.tif`` (2000…2020) derived from the bench map of epoch 2010
(``out/bench/maps/permafrost_2010_demo_uncertainty.tif``, written by the ``predict`` section) with
the probability shifted 3 points per 5 years plus a small cell pattern (so cells degrade *and*
aggrade), each epoch's 20-member bit file with its JSON sidecar, a truth map to compare with
(the 2010 classes, as the demo's change stage compares with its truth), and the demo run's
``models/``, ``sites/`` and ``summary.json`` for the report's other sections. Everything is
streamed window by window; nothing holds the grid.

:func:`run` then measures, each in a fresh process (:func:`benchmarks.rss.measure`, so each peak
is that run's own): the change stage (``change_stage`` plus writing its tables, as the pipeline
does) and ``write_report``, each with its CPU seconds (the wall time on a shared machine says
more about the neighbours than about the code).
``quick=True`` cuts a 10° × 10° sub-extent (1,200 × 1,200 cells) from the same map.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.predict import FULL_BOUNDS, QUICK_BOUNDS, RES
from benchmarks.rss import measure
from permamap.grid import Grid
from permamap.layout import RunLayout

__all__ = ["build_fake_run", "run"]

SOURCE_MAP = Path("out/bench/maps/permafrost_2010_demo_uncertainty.tif")
SOURCE_STACK = Path("out/bench/covariates/stack_2010.tif")
DEMO = Path("out/demo")
EPOCHS = (2000, 2005, 2010, 2015, 2020)
N_MEMBERS = 20
SHIFT_PER_EPOCH = 3  # probability points lost per 5 years
# member k classes a cell as permafrost at probability >= 50 + offset k
MEMBER_OFFSETS = np.linspace(-6.0, 6.0, N_MEMBERS)
_DROP = (
    "projections",
    "projection_settings",
    "truth_agreement",
    "truth_coverage",
    "uncertainty_check",
    "plausibility",
    "trajectory",
    "timings_s",
)


def _windows(grid: Grid) -> Iterator[Any]:
    yield from grid.tiles((512, 512))


def _epoch_prob(prob: np.ndarray, cls: np.ndarray, window: Any, epoch: int) -> np.ndarray:
    """The fake probability of ``epoch``: shifted by the trend plus a cell pattern of −2…+2."""
    k = (epoch - 2010) // 5
    rows = np.arange(int(window.row_off), int(window.row_off) + int(window.height))[:, None]
    cols = np.arange(int(window.col_off), int(window.col_off) + int(window.width))[None, :]
    pattern = (rows * 7919 + cols * 104729 + epoch * 31) % 5 - 2
    p = prob.astype(np.int32) - SHIFT_PER_EPOCH * k + pattern
    out = np.clip(p, 0, 100).astype(np.uint8)
    return np.where(cls == 255, np.uint8(255), out)


def _src_window(src_grid: Grid, grid: Grid, window: Any) -> Any:
    from rasterio.windows import Window

    row0 = round((src_grid.north - grid.north) / grid.res)
    col0 = round((grid.west - src_grid.west) / grid.res)
    return Window(
        col_off=col0 + int(window.col_off),
        row_off=row0 + int(window.row_off),
        width=int(window.width),
        height=int(window.height),
    )


def build_fake_run(
    root: Path, grid: Grid, source: Path = SOURCE_MAP, demo: Path = DEMO
) -> dict[str, Any]:
    """Write a fake 5-epoch run folder on ``grid`` (a window of ``source``'s grid) under ``root``."""
    import rasterio

    from permamap.fileio import open_tiled, scratch_path, to_cog, write_blocks_cog, write_json

    lay = RunLayout(root)
    t0 = time.perf_counter()
    with rasterio.open(source) as src:
        src_grid = Grid.from_raster(source)
        descriptions = list(src.descriptions)
        tags = {k: v for k, v in src.tags().items() if k != "AREA_OR_POINT"}
        count = src.count
        for epoch in EPOCHS:
            member_extent = np.zeros(N_MEMBERS)
            member_weighted = np.zeros(N_MEMBERS)

            def blocks(epoch: int = epoch) -> Iterator[tuple[Any, np.ndarray]]:
                for w in _windows(grid):
                    data = src.read(window=_src_window(src_grid, grid, w))
                    cls = data[0]
                    prob = _epoch_prob(data[1], cls, w, epoch)
                    data[1] = prob
                    data[0] = np.where(cls == 255, np.uint8(255), (prob >= 50).astype(np.uint8))
                    yield w, data

            write_blocks_cog(
                lay.map(epoch),
                grid,
                blocks(),
                count=count,
                descriptions=descriptions,
                tags={**tags, "epoch": str(epoch), "virtual_world": "true"},
                overview_resampling="nearest",
            )
            members = lay.members(epoch)
            mtags = {"epoch": str(epoch), "n_members": str(N_MEMBERS), "threshold": "0.5"}
            with scratch_path(members) as stage:
                with (
                    open_tiled(
                        stage, grid, 1, "uint32", None, ["member_classes"], tags=mtags
                    ) as dst,
                    rasterio.open(lay.map(epoch)) as made,
                ):
                    for w in _windows(grid):
                        cls, prob = made.read(1, window=w), made.read(2, window=w)
                        valid = cls != 255
                        area = grid.cell_area_km2(w)
                        words = np.zeros(cls.shape, np.uint32)
                        for k, off in enumerate(MEMBER_OFFSETS):
                            flag = valid & (prob >= 50 + off)
                            words |= flag.astype(np.uint32) << np.uint32(k)
                            member_extent[k] += float(area[flag].sum())
                            pk = np.clip(prob.astype(np.float64) - off, 0, 100) / 100
                            member_weighted[k] += float((pk * area)[valid].sum())
                        dst.write(words, 1, window=w)
                to_cog(stage, members)
            write_json(
                members.with_suffix(".json"),
                {
                    "epoch": epoch,
                    "n_members": N_MEMBERS,
                    "threshold": 0.5,
                    "permafrost_extent_km2": member_extent.tolist(),
                    "probability_weighted_km2": member_weighted.tolist(),
                },
            )

        def truth_blocks() -> Iterator[tuple[Any, np.ndarray]]:
            for w in _windows(grid):
                yield w, src.read([1], window=_src_window(src_grid, grid, w))

        write_blocks_cog(
            lay.truth(2020),
            grid,
            truth_blocks(),
            count=1,
            descriptions=["class"],
            tags={"epoch": "2020", "virtual_world": "true"},
            overview_resampling="mode",
        )
    for folder in ("models", "sites"):
        shutil.copytree(demo / folder, root / folder, dirs_exist_ok=True)
    summary = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    summary = {k: v for k, v in summary.items() if k not in _DROP}
    summary["grid"] = grid.to_dict()
    summary["epochs"] = list(EPOCHS)
    write_json(lay.summary, summary)
    return {"build_seconds": round(time.perf_counter() - t0, 1)}


def _elevation(grid: Grid, stack: Path = SOURCE_STACK) -> Path | None:
    """The 30″ bench stack as the elevation raster, when it exists and lies on ``grid``."""
    import rasterio

    if not stack.is_file():
        return None
    with rasterio.open(stack) as src:
        return stack if grid.matches(src.crs, src.transform, (src.height, src.width)) else None


def _change(root: Path, grid: Grid, elevation: Path | None) -> dict[str, Any]:
    """The change stage as the pipeline calls it, with its tables written (runs in the child)."""
    from permamap.change import change_stage
    from permamap.fileio import write_json
    from permamap.stages import write_change_outputs

    lay = RunLayout(root)
    cpu0 = _cpu_s()
    result = change_stage(
        {e: lay.map(e) for e in EPOCHS},
        grid,
        lay,
        elevation=elevation,
        epochs=list(EPOCHS),
        members={e: lay.members(e) for e in EPOCHS},
        reference=lay.truth(2020),
        reference_kind="class",
        reference_epochs=[2020],
    )
    write_change_outputs(lay, result)
    summary = json.loads(lay.summary.read_text(encoding="utf-8"))
    summary["area_km2"] = result.summary["area_km2"]
    summary["change"] = {
        k: v for k, v in result.summary.items() if k not in ("area_km2", "notes", "uncertainty")
    }
    summary["uncertainty"] = result.summary["uncertainty"]
    write_json(lay.summary, summary)
    return {
        "extent_km2": {
            e: round(v["permafrost_extent_km2"]) for e, v in result.summary["area_km2"].items()
        },
        "work": result.work,
        "cpu_s": round(_cpu_s() - cpu0, 1),
    }


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far: on a shared machine, wall time varies."""
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _report(root: Path) -> dict[str, Any]:
    """``write_report`` (runs in the child); the page's size in bytes and the CPU seconds."""
    from permamap.report import write_report

    cpu0 = _cpu_s()
    size = write_report(root).stat().st_size
    return {"bytes": size, "cpu_s": round(_cpu_s() - cpu0, 1)}


def run(quick: bool = False, out_dir: Path = Path("out/bench")) -> dict[str, Any]:
    """Build the fake 30″ run folder; time the change stage and the report (``bench.json`` entry)."""
    if not SOURCE_MAP.is_file():
        return {"skipped": f"no {SOURCE_MAP}: run `python -m benchmarks predict` first"}
    if not (DEMO / "summary.json").is_file():
        return {"skipped": "no demo run: run `make demo` first (the report uses its models/)"}
    grid = Grid.from_bounds(QUICK_BOUNDS if quick else FULL_BOUNDS, res=RES)
    root = out_dir / ("change-report-quick" if quick else "change-report-run")
    shutil.rmtree(root, ignore_errors=True)
    _, build_s, build_mb = measure(build_fake_run, root, grid)
    elevation = _elevation(grid)
    changed, change_s, change_mb = measure(_change, root, grid, elevation)
    page, report_s, report_mb = measure(_report, root)
    return {
        "grid_shape": list(grid.shape),
        "cells": grid.height * grid.width,
        "epochs": list(EPOCHS),
        "elevation": elevation is not None,
        "build": {"seconds": round(build_s, 1), "peak_rss_mb": build_mb},
        "change": {
            "seconds": round(change_s, 1),
            "cpu_s": changed["cpu_s"],
            "peak_rss_mb": change_mb,
        },
        "report": {
            "seconds": round(report_s, 1),
            "cpu_s": page["cpu_s"],
            "peak_rss_mb": report_mb,
            "bytes": page["bytes"],
        },
        "extent_km2": changed["extent_km2"],
        "peak_rss_mb": max(change_mb, report_mb),
        "run_folder": str(root),
    }
