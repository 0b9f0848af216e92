"""Benchmark of continental prediction (issue 6): one epoch of the 30 arc-sec virtual Eurasia.

:func:`run` builds (or reuses from ``out/bench/covariates/``) the factor stack of epoch 2010 on
the full 30 arc-second grid, then

1. predicts the whole epoch with the model the demo selected (``out/demo/models``; a 100-tree
   depth-16 random forest, the demo's forest candidate, when no demo run exists) — reading
   factors, predicting, writing the tiles and the COG included; then the same model with its
   area-of-applicability band (the map as the pipeline made it before issue 12) and with its
   uncertainty on top (the bootstrap ensemble's band and member-classes file, the expected-accuracy
   band), and the cost ratio between the two (issue 12: at most 2×);
2. times every inference route for the 500-tree reference forest (no depth limit, 10 factors) on
   a sample of the same tiles: scikit-learn ``predict_proba`` (``n_jobs`` threads and 1) and
   each compiled kernel, with and without de-duplication of rows; each checked against
   scikit-learn (max abs diff);
3. predicts the whole epoch with the 500-tree forest through the fastest exact route (unless
   ``quick``), and reports its time beside the demo model's.

Each map runs in a fresh process (:func:`benchmarks.rss.measure`), so its peak memory is its own,
not that of the runs before it (issue 14). The figures go to ``out/bench/bench.json`` under
``predict``. ``quick=True`` uses a 10° × 10° sub-extent (1.44 M cells) and a 100-tree reference
forest so that it finishes in a minute or two.

Figures depend on the machine and on what else runs on it; the JSON records the CPU count.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from benchmarks.results import save_section
from benchmarks.rss import measure
from permamap import __version__
from permamap.contracts import DEFAULT_TILE, MAP_NODATA
from permamap.covariates.stack import build_stack, read_stack, sample_stack, stack_is_current
from permamap.fileio import atomic_path
from permamap.grid import Grid
from permamap.inference import HAVE_NUMBA, CompiledForest, ReferencePredictor, compile_model
from permamap.layout import RunLayout
from permamap.predict import estimate_map, predict_map

__all__ = ["REFERENCE_FEATURES", "run"]

log = logging.getLogger(__name__)

EPOCH = 2010
FULL_BOUNDS = (25, 25, 180, 84)
QUICK_BOUNDS = (100, 60, 110, 70)
RES = 1 / 120
#: The 10 factors of the reference forest (issue 6: "500 trees on 10 float32 factors").
REFERENCE_FEATURES = [
    "maat",
    "t_warmest",
    "t_coldest",
    "tdd",
    "fdd",
    "precip_annual",
    "snow_days",
    "elevation",
    "slope",
    "soc",
]


# --------------------------------------------------------------------------- helpers
def ensure_stack(grid: Grid, path: Path, progress: bool) -> tuple[Path, float, bool]:
    """The epoch's virtual-world stack at ``path``, built unless a current one exists."""
    from permamap.demo.world import VirtualWorld

    world = VirtualWorld()
    if stack_is_current(path, grid, list(world.factor_names)):
        return path, 0.0, True
    t = time.perf_counter()
    build_stack(world, grid, EPOCH, path, tile_shape=DEFAULT_TILE, progress=progress)
    return path, time.perf_counter() - t, False


def training_sample(
    stack: Path, grid: Grid, features: list[str], n: int, random_state: int, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random land cells with the virtual world's true label, ``noise`` of labels flipped."""
    from permamap.demo.world import VirtualWorld

    rng = np.random.default_rng(random_state)
    lon = rng.uniform(grid.west, grid.east, 4 * n)
    lat = rng.uniform(grid.south, grid.north, 4 * n)
    X = sample_stack(stack, grid, lon, lat, features)
    ok = np.flatnonzero(np.isfinite(X).all(axis=1))[:n]
    y = VirtualWorld().truth_at(lon[ok], lat[ok], EPOCH).astype(int)
    flip = rng.random(len(y)) < noise
    y[flip] = 1 - y[flip]
    return X[ok], y


def reference_forest(
    stack: Path, grid: Grid, cache: Path, n_trees: int, n_jobs: int, n_train: int = 20_000
) -> tuple[Any, dict[str, Any]]:
    """The reference random forest (no depth limit), cached as skops in ``cache``."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    path = cache / f"reference_rf_{n_trees}_{n_train}.skops"
    if path.is_file():
        model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        reused = True
    else:
        X, y = training_sample(stack, grid, REFERENCE_FEATURES, n_train, random_state=0)
        model = RandomForestClassifier(n_trees, n_jobs=n_jobs, random_state=0).fit(X, y)
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            sio.dump(model, tmp)
        reused = False
    depths = [_mean_leaf_depth(t.tree_) for t in model.estimators_]
    return model, {
        "n_trees": n_trees,
        "n_train": n_train,
        "features": REFERENCE_FEATURES,
        "mean_leaf_depth": round(float(np.mean(depths)), 2),
        "max_depth": int(max(t.tree_.max_depth for t in model.estimators_)),
        "nodes": int(sum(t.tree_.node_count for t in model.estimators_)),
        "cached": reused,
    }


def _mean_leaf_depth(tree: Any) -> float:
    depth = np.zeros(tree.node_count, dtype=np.int64)
    for node in range(tree.node_count):  # children come after parents in scikit-learn trees
        for child in (tree.children_left[node], tree.children_right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
    return float(depth[tree.children_left < 0].mean())


def demo_model(stack: Path, grid: Grid, demo: RunLayout) -> tuple[Any, list[str], str, str]:
    """The model the demo run selected, or the demo's forest candidate trained here as a stand-in."""
    from sklearn.ensemble import RandomForestClassifier

    from permamap.modelio import load_model

    if demo.model.is_file():
        model, card = load_model(demo.models_dir)
        return model, list(card["features"]), str(card.get("model", "model")), str(demo.models_dir)
    features = REFERENCE_FEATURES
    X, y = training_sample(stack, grid, features, 2_000, random_state=1)
    model = RandomForestClassifier(100, max_depth=16, random_state=0).fit(X, y)
    return model, features, "random_forest", "stand-in: no demo run found (run `make demo`)"


def sample_rows(
    stack: Path, grid: Grid, features: list[str], n_tiles: int, max_rows: int
) -> np.ndarray:
    """Valid rows from ``n_tiles`` land tiles spread over the grid (the benchmark's sample)."""
    tiles = list(grid.tiles(DEFAULT_TILE))
    rows = []
    for i in np.linspace(0, len(tiles) - 1, 4 * n_tiles).astype(int):
        block = read_stack(stack, tiles[i], features)
        valid = np.isfinite(block).all(axis=0)
        if valid.mean() > 0.5:
            rows.append(block[:, valid].T)
        if len(rows) == n_tiles:
            break
    X = np.ascontiguousarray(np.concatenate(rows)[:max_rows])
    return X


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _split_threads(
    fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray, n_jobs: int
) -> np.ndarray:
    if n_jobs <= 1:
        return fn(X)
    parts = np.array_split(X, n_jobs)
    with ThreadPoolExecutor(n_jobs) as pool:
        return np.concatenate(list(pool.map(fn, parts)))


def time_routes(model: Any, X: np.ndarray, n_jobs: int, repeat: int = 3) -> list[dict[str, Any]]:
    """s per million cells of every exact route on rows ``X`` with ``n_jobs`` threads.

    scikit-learn and the default ``boxed`` kernel (each with ``n_jobs`` and with 1 thread) are
    timed ``repeat`` times and keep their fastest run (the box is shared); the other kernels once.
    ``speedup_vs_sklearn`` compares a route with scikit-learn on as many threads.
    Compiled routes split the rows into ``n_jobs`` contiguous parts, one thread each.
    """
    n = len(X)

    def with_threads(fn: Callable[[], Any], jobs: int) -> tuple[float, Any]:
        saved = model.get_params().get("n_jobs")
        model.set_params(n_jobs=jobs)
        try:
            return _timed(fn, repeat)
        finally:
            model.set_params(n_jobs=saved)

    def route(
        name: str, seconds: float, diff: float = 0.0, threads: int = n_jobs
    ) -> dict[str, Any]:
        return {"route": name, "threads": threads, "s_per_million": round(seconds / n * 1e6, 3),
                "max_abs_diff": diff}  # fmt: skip

    t_ref, ref = with_threads(lambda: model.predict_proba(X)[:, 1], n_jobs)
    routes = [route("sklearn predict_proba", t_ref)]
    if n_jobs > 1:
        t1, p1 = with_threads(lambda: model.predict_proba(X)[:, 1], 1)
        routes.append(route("sklearn predict_proba", t1, float(np.abs(p1 - ref).max()), 1))
    # What the map needs: probability and the spread of tree votes (uncertainty band).
    rp = ReferencePredictor(model, X.shape[1])
    dt, _ = with_threads(lambda: rp.predict_stats(X), n_jobs)
    routes.append(route("sklearn proba + tree spread", dt))
    if not HAVE_NUMBA:
        return routes
    share = None
    for kernel in ("boxed", "simple", "packed", "lockstep"):
        for dedup in (False, True):
            pred = CompiledForest(model, X.shape[1], kernel=kernel, dedup=dedup)
            pred.predict_stats(X[:256])  # compile outside the timing
            if share is None and pred.forest is not None:
                share = len(np.unique(pred.forest.quantise(X), axis=0)) / n

            def proba(x: np.ndarray, pred: CompiledForest = pred) -> np.ndarray:
                return pred.predict_stats(x)[0]

            times = repeat if kernel == "boxed" else 1
            dt, p = _timed(lambda: _split_threads(proba, X, n_jobs), times)
            name = f"compiled {kernel}" + (" + dedup" if dedup else "") + " (+spread)"
            # max_abs_diff 0: the same bits as scikit-learn's predict_proba
            routes.append(route(name, dt, float(np.abs(p - ref).max())))
            if kernel == "boxed" and not dedup and n_jobs > 1:  # the default on one thread too
                dt, p = _timed(lambda: proba(X), times)
                routes.append(route(name, dt, float(np.abs(p - ref).max()), 1))
    routes.append({"route": "distinct quantised rows (share)", "value": round(share or 0.0, 4)})
    # each route against scikit-learn on as many threads
    sklearn = {r["threads"]: r["s_per_million"] for r in routes
               if r.get("route") == "sklearn predict_proba"}  # fmt: skip
    for r in routes:
        if "s_per_million" in r:
            r["speedup_vs_sklearn"] = round(sklearn[r["threads"]] / r["s_per_million"], 2)
    return routes


def uncertainty_inputs(demo: RunLayout) -> dict[str, Any] | None:
    """The demo run's AOA, ensemble, calibration and error profile (None without a demo run)."""
    from permamap.modelio import load_artefact
    from permamap.selection.ensemble import Ensemble
    from permamap.selection.errorprofile import ErrorProfile

    if not (demo.model.is_file() and demo.ensemble.is_file()):
        return None
    art = load_artefact(demo.model, demo.model_card)
    prof = art.card.get("error_profile")
    return {
        "aoa": art.aoa,
        "members": Ensemble.load(demo.ensemble),
        "calibration": art.card.get("calibration"),
        "error_profile": ErrorProfile.from_dict(prof) if prof and art.aoa is not None else None,
    }


def _predict_epoch(
    model: Any,
    features: list[str],
    stack: Path,
    grid: Grid,
    out: Path,
    name: str,
    n_jobs: int,
    progress: bool,
    route: tuple[str, bool] | None,
    extra: dict[str, Any],
) -> tuple[float, str]:
    """One map (in the child process of :func:`_map_run`): ``(seconds, predictor)``."""
    if route is None:
        predictor: Any = compile_model(model, len(features))
    elif route[0] == "sklearn":
        predictor = ReferencePredictor(model, len(features))
    else:
        predictor = CompiledForest(model, len(features), kernel=route[0], dedup=route[1])
    t = time.perf_counter()
    predict_map(
        model,
        features,
        stack,
        grid,
        out,
        epoch=EPOCH,
        model_name=name,
        tile_shape=DEFAULT_TILE,
        progress=progress,
        n_jobs=n_jobs,
        predictor=predictor,
        **extra,
    )
    return time.perf_counter() - t, repr(predictor)


def _map_run(
    model: Any,
    features: list[str],
    stack: Path,
    grid: Grid,
    out: Path,
    name: str,
    n_jobs: int,
    progress: bool,
    route: tuple[str, bool] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One map run in a fresh process, so its peak memory is its own.

    ``route`` is ``(kernel, dedup)`` of a :class:`CompiledForest`, ``("sklearn", False)`` for
    scikit-learn, or None for :func:`compile_model`'s choice; ``extra`` goes to
    :func:`predict_map` (aoa, members, error_profile...).
    """
    (seconds, predictor), _, peak_mb = measure(
        _predict_epoch, model, features, stack, grid, out, name, n_jobs, progress, route, extra
    )
    with rasterio.open(out) as ds:
        valid = sum(int((ds.read(1, window=w) != MAP_NODATA).sum()) for _, w in ds.block_windows(1))
    cells = grid.height * grid.width
    return {
        "model": name,
        "predictor": predictor,
        "seconds": round(seconds, 1),
        "cells": cells,
        "predicted_cells": valid,
        "cells_per_second": round(cells / seconds),
        "land_cells_per_second": round(valid / seconds),
        "peak_rss_mb": peak_mb,
        "peak_rss_of": "the map run's own process (fresh), with the model loaded in it",
        "map": str(out),
        "map_bytes": out.stat().st_size,
    }


def _save(out_dir: Path, result: dict[str, Any]) -> None:
    # Written after every stage, so an interrupted benchmark still leaves its figures so far.
    save_section(out_dir, "predict", result)


# --------------------------------------------------------------------------- entry point
def run(
    quick: bool = False,
    out_dir: Path = Path("out/bench"),
    n_jobs: int | None = None,
    progress: bool = True,
    full_reference: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build or reuse the stack, time every route, predict the epoch; write ``bench.json``.

    Parameters
    ----------
    quick : bool, default=False
        10° × 10° sub-extent and a 100-tree reference forest (a minute or two).
    out_dir : Path, default="out/bench"
        Cache and output folder.
    n_jobs : int, optional
        Threads (default: CPU count).
    progress : bool, default=True
        Progress bars.
    full_reference : bool, default=True
        Also predict the whole extent with the reference forest (skipped in quick mode).
    echo : callable, default=print
        Where the human-readable lines go.

    Returns
    -------
    dict
        The figures written to ``out_dir / "bench.json"``.
    """
    out_dir = Path(out_dir)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    grid = Grid.from_bounds(QUICK_BOUNDS if quick else FULL_BOUNDS, res=RES)
    stack_file = (
        out_dir / "covariates" / (f"stack_{EPOCH}_quick.tif" if quick else f"stack_{EPOCH}.tif")
    )
    t_all = time.perf_counter()
    stack, t_stack, reused = ensure_stack(grid, stack_file, progress)
    echo(
        f"stack {stack}: {grid.height} x {grid.width} cells, "
        + ("reused from cache" if reused else f"built in {t_stack:.0f} s")
    )

    result: dict[str, Any] = {
        "tool": "permamap",
        "version": __version__,
        "quick": quick,
        "epoch": EPOCH,
        "grid": grid.to_dict(),
        "cells": grid.height * grid.width,
        "n_jobs": n_jobs,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "note": "shared machine; figures are indicative",
        },
        "stack": {"path": str(stack), "build_seconds": round(t_stack, 1), "reused": reused},
    }

    # 1. the demo's model over the whole epoch
    model, features, name, origin = demo_model(stack, grid, RunLayout(Path("out/demo")))
    est = estimate_map(model, features, stack, grid, n_jobs=n_jobs)
    echo("dry run (demo model):\n" + est.summary())
    demo_run = _map_run(
        model,
        features,
        stack,
        grid,
        out_dir / "maps" / f"permafrost_{EPOCH}_demo.tif",
        name,
        n_jobs,
        progress,
    )
    demo_run.update(origin=origin, features=features, dry_run=est.to_dict())
    result["demo_model"] = demo_run
    echo(
        f"demo model ({name}): {demo_run['seconds']:.0f} s for the epoch, "
        f"{demo_run['cells_per_second']:,} cells/s, peak {demo_run['peak_rss_mb']:.0f} MB"
    )

    _save(out_dir, result)

    # 1b. the same model with its uncertainty: the map as the pipeline made it before issue 12 (with
    # the AOA band), then with the ensemble band, member classes and expected accuracy on top
    unc = uncertainty_inputs(RunLayout(Path("out/demo")))
    if unc is not None:
        with_aoa = _map_run(
            model,
            features,
            stack,
            grid,
            out_dir / "maps" / f"permafrost_{EPOCH}_demo_aoa.tif",
            name,
            n_jobs,
            progress,
            aoa=unc["aoa"],
            calibration=unc["calibration"],
        )
        result["demo_model_aoa"] = with_aoa
        echo(
            f"demo model with the AOA band: {with_aoa['seconds']:.0f} s, "
            f"peak {with_aoa['peak_rss_mb']:.0f} MB"
        )
        band = _map_run(
            model,
            features,
            stack,
            grid,
            out_dir / "maps" / f"permafrost_{EPOCH}_demo_band.tif",
            name,
            n_jobs,
            progress,
            members_out=out_dir / "maps" / "members" / f"members_{EPOCH}.tif",
            **{k: v for k, v in unc.items() if k != "error_profile"},
        )
        band["cost_ratio"] = round(band["seconds"] / with_aoa["seconds"], 2)
        result["demo_model_ensemble_band"] = band
        echo(
            f"  + ensemble band and member classes: {band['seconds']:.0f} s = "
            f"{band['cost_ratio']:.2f} x the map with the AOA band, peak {band['peak_rss_mb']:.0f} MB"
        )
        full = _map_run(
            model,
            features,
            stack,
            grid,
            out_dir / "maps" / f"permafrost_{EPOCH}_demo_uncertainty.tif",
            name,
            n_jobs,
            progress,
            members_out=out_dir / "maps" / "members" / f"members_{EPOCH}.tif",
            **unc,
        )
        full["cost_ratio"] = round(full["seconds"] / with_aoa["seconds"], 2)
        full["cost_ratio_vs_plain"] = round(full["seconds"] / demo_run["seconds"], 2)
        full["n_members"] = unc["members"].n_members
        result["demo_model_uncertainty"] = full
        echo(
            f"demo model with uncertainty ({full['n_members']} members, AOA, expected accuracy): "
            f"{full['seconds']:.0f} s = {full['cost_ratio']:.2f} x the map with the AOA band "
            f"({full['cost_ratio_vs_plain']:.2f} x the bare map), peak {full['peak_rss_mb']:.0f} MB"
        )
        _save(out_dir, result)

    # 2. the reference forest: every route on a sample of the same tiles
    n_trees = 100 if quick else 500
    forest, info = reference_forest(stack, grid, out_dir / "models", n_trees, n_jobs)
    result["reference_forest"] = info
    X = sample_rows(
        stack,
        grid,
        REFERENCE_FEATURES,
        n_tiles=2 if quick else 4,
        max_rows=100_000 if quick else 400_000,
    )
    routes = time_routes(forest, X, n_jobs)
    result["routes"] = {"sample_rows": len(X), "results": routes}
    for r in routes:
        if "s_per_million" in r:
            echo(
                f"  {r['route']:<36} {r['threads']} thr {r['s_per_million']:8.2f} s/M cells"
                f"  x{r['speedup_vs_sklearn']:.2f}"
                f"  max|dp| {r['max_abs_diff']:.1e}"
            )
        else:
            echo(f"  {r['route']:<36} {r['value']}")
    timed = [
        r
        for r in routes
        if "s_per_million" in r
        and r["max_abs_diff"] == 0.0
        and r["threads"] == n_jobs
        and r["route"] != "sklearn proba + tree spread"
    ]
    best = min(timed, key=lambda r: r["s_per_million"])
    result["speed_ratio_vs_sklearn"] = best["speedup_vs_sklearn"]
    result["best_route"] = best["route"]

    _save(out_dir, result)

    # 3. the reference forest over the whole epoch, through the best exact route
    if full_reference and not quick:
        kernel = best["route"].split()[1] if best["route"].startswith("compiled") else "sklearn"
        route = (kernel, "dedup" in best["route"])
        ref_run = _map_run(
            forest,
            REFERENCE_FEATURES,
            stack,
            grid,
            out_dir / "maps" / f"permafrost_{EPOCH}_rf{n_trees}.tif",
            f"random_forest_{n_trees}",
            n_jobs,
            progress,
            route=route,
        )
        result["reference_map"] = ref_run
        echo(
            f"reference forest ({n_trees} trees): {ref_run['seconds']:.0f} s for the epoch, "
            f"{ref_run['cells_per_second']:,} cells/s, peak {ref_run['peak_rss_mb']:.0f} MB"
        )

    # The benchmark process itself (stack reads, the reference forest's training, the route
    # timings); the maps ran in their own processes.
    result["peak_rss_mb_process"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)
    _save(out_dir, result)
    echo(
        f"speed ratio vs scikit-learn ({best['route']}): x{result['speed_ratio_vs_sklearn']:.2f}; "
        f"total {result['total_seconds']:.0f} s; figures in {out_dir / 'bench.json'}"
    )
    return result


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--no-full-reference", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(quick=args.quick, n_jobs=args.jobs, full_reference=not args.no_full_reference)
