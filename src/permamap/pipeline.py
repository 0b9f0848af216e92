"""``run(config)``: the stages in order, each skipped when it is already complete.

Each stage is an importable function in the module that owns its concept; it takes typed inputs
and returns a result object (:func:`permamap.sites.build_sites`, :func:`permamap.features.feature_table`,
:func:`permamap.selection.model_stage`, :func:`permamap.predict.predict_map`,
:func:`permamap.change.change_stage`). :mod:`permamap.stages` turns the config into their
arguments and writes what they return into the run folder; this module calls them in order and
composes ``summary.json``. No maths here.

Resume anywhere (:mod:`permamap.resume`): a stage that completes records its fingerprint, files and
small results in ``run.json``; a rerun after an interruption reloads every stage that is current
and continues with the first that is not, whose tile stores continue from the first missing tile.
A run folder that is complete and current has nothing to do, and the run says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .change import change_stage
from .config import RunConfig
from .covariates.combined import CombinedSource
from .demo.plausibility import plausibility, tibetan_plateau_km2
from .demo.truthcheck import extent_in_interval, truth_check
from .fileio import write_json
from .memory import release_memory
from .modelio import ModelArtefact
from .resume import STAGES, StageBook, stage_fingerprints, summary_of
from .runfolder import claim, mark, stage_done
from .selection import model_stage
from .stages import (
    SiteStageResult,
    change_options,
    covariate_source,
    covariate_stage,
    feature_stage,
    load_trained,
    map_stage,
    model_settings,
    prediction_lonlat,
    projection_step,
    site_stage,
    truth_stage,
    write_change_outputs,
    write_model_outputs,
    write_projection_outputs,
    write_site_outputs,
)

__all__ = ["console_lines", "run", "run_stages"]

log = logging.getLogger(__name__)

#: What a stage's ``compute`` returns: its value, the files it wrote, its JSON-able results.
Computed = tuple[Any, Sequence[Path], dict[str, Any]]


# ================================================================== the run
class _Stages:
    """Runs or reloads each stage, times and echoes it, and keeps ``run.json`` up to date."""

    def __init__(
        self, layout: Any, echo: Callable[[str], None], book: StageBook, names: Sequence[str]
    ) -> None:
        self.layout, self.echo, self.book, self.names = layout, echo, book, list(names)
        self.timings: dict[str, float] = {}
        self.reused: list[str] = []
        self.current = "check"

    def __call__(
        self, name: str, compute: Callable[[], Computed], load: Callable[[dict[str, Any]], Any]
    ) -> Any:
        """``load(data)`` when the stage is current, else ``compute()`` and record it."""
        rec = self.book.current(name)
        if rec is not None:
            self.timings[name] = float(rec.get("seconds", 0.0))
            self.reused.append(name)
            self.echo(f"[{name}] current (completed {rec.get('finished', '?')}): reused")
            return load(rec.get("data", {}))
        # whatever this stage rewrites, the stages after it must follow
        self.book.forget(self.names[self.names.index(name) + 1 :])
        self.current = name
        mark(self.layout, "running", stage=name)
        start = time.perf_counter()
        value, outputs, data = compute()
        release_memory()  # the next stage starts from what is live, not this one's peak
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 2)
        stage_done(self.layout, name)
        self.book.done(name, seconds, outputs, data)
        self.echo(f"[{name}] done in {seconds:.1f} s")
        return value


def run_stages(cfg: RunConfig, has_truth: bool) -> list[str]:
    """The stages ``cfg`` runs, in order (truth only with a source that knows it, ``has_truth``)."""
    return [
        s
        for s in STAGES
        if (s != "truth" or has_truth) and (s != "projections" or cfg.projections is not None)
    ]


def run(
    cfg: RunConfig,
    progress: bool = False,
    echo: Callable[[str], None] = log.info,
    *,
    overwrite: bool = False,
    verbose: bool = False,
) -> dict[str, Any]:
    """Check every input, then run every stage for ``cfg``; write the run folder and ``summary.json``.

    Nothing is written before :func:`permamap.plan.check_run` has opened every input and the run
    folder has been claimed (:func:`permamap.runfolder.claim`: a folder holding another config's
    results is refused unless ``overwrite``). Stages already complete with the same fingerprint
    are reloaded, not rerun (:mod:`permamap.resume`); a folder that is complete and current is
    left as it is and its summary returned. ``run.json`` ends ``complete`` or ``failed at
    <stage>``. With a dask ``scheduler`` the whole run shares one cluster
    (:func:`permamap.cluster.compute_cluster`), whose INFO logs show only with ``verbose``.
    """
    from .cluster import compute_cluster
    from .plan import check_run

    t0 = time.perf_counter()
    plan = check_run(cfg, overwrite=overwrite)
    for note in plan.notes:
        echo(f"note: {note}")
    lay = cfg.layout
    source = plan.source or covariate_source(cfg)
    names = run_stages(cfg, source.has_truth)
    book = StageBook(lay, stage_fingerprints(cfg, names))
    if not overwrite and plan.folder == "same" and book.complete(names):
        echo(
            f"{lay.root} is complete and current (same config, code and input files): nothing to "
            "do. Pass --overwrite to compute it again"
        )
        return summary_of(lay)
    claim(lay, cfg.fingerprint, overwrite=overwrite, config=cfg.source)
    stage = _Stages(lay, echo, book, names)
    try:
        with compute_cluster(cfg.scheduler, cfg.n_jobs, verbose=verbose) as address:
            summary = _run_stages(
                cfg.with_compute(scheduler=address),
                source,
                progress,
                echo,
                stage,
                plan.notes,
            )
        summary["timings_s"] = {**stage.timings, "total": round(time.perf_counter() - t0, 2)}
        if stage.reused:
            summary["resumed"] = {"stages_reused": stage.reused}
        write_json(lay.summary, summary)

        def report() -> Computed:
            from .report import write_report

            write_report(lay.root)
            return None, [lay.report, lay.summary], {}

        stage.book.forget(["report"])  # the summary was rewritten: the report follows it
        stage("report", report, lambda data: None)
    except BaseException as exc:
        mark(
            lay,
            f"failed at {stage.current}",
            stage=stage.current,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    mark(lay, "complete")
    for line in console_lines(summary):
        echo(line)
    echo(f"wrote {lay.report} and {lay.summary}")
    return summary


def console_lines(summary: dict[str, Any]) -> list[str]:
    """The closing lines of a run: the figures the report's headline shows, worded the same way."""
    out = []
    if summary.get("virtual_world"):
        out.append("VIRTUAL DATA - demonstration world: figures describe the virtual Eurasia")
    for epoch in summary["epochs"]:
        a = summary["area_km2"][str(epoch)]
        line = f"{epoch}: permafrost extent {a['permafrost_extent_km2'] / 1e6:.2f} M km²"
        if "truth_agreement" in summary:
            line += (
                f", agreement with the truth {summary['truth_agreement'][str(epoch)]:.1%} "
                f"(area-weighted; {summary['truth_coverage'][str(epoch)]:.1%} of the land mapped)"
            )
        out.append(line)
    for scenario, periods in summary.get("projections", {}).items():
        for period, e in periods.items():
            lo, hi = e["gcm_range_km2"]
            line = (
                f"{scenario} {period}: projected extent {e['permafrost_extent_km2'] / 1e6:.2f} M km² "
                f"(GCMs {lo / 1e6:.2f}–{hi / 1e6:.2f})"
            )
            if "true_extent_km2" in e:
                line += f", true {e['true_extent_km2'] / 1e6:.2f} M km²"
            out.append(line)
    for row in summary.get("plausibility", []):
        scale, unit = (1e6, "M km²") if row["unit"] == "km²" else (1.0, row["unit"])
        out.append(
            f"{'ok ' if row['inside'] else 'OFF'} {row['quantity']}"
            + (f" {row['epoch']}" if row.get("epoch") else "")
            + f": {row['value'] / scale:.2f} {unit} (expected {row['low'] / scale:g} to "
            f"{row['high'] / scale:g})"
        )
    return out


@dataclass(frozen=True)
class _Models:
    """What the stages after ``models`` need of it: the saved artefact and the CV figures."""

    trained: ModelArtefact
    data: dict[str, Any]


def _run_stages(
    cfg: RunConfig,
    source: CombinedSource,
    progress: bool,
    echo: Callable[[str], None],
    stage: _Stages,
    notes: list[str],
) -> dict[str, Any]:
    lay = cfg.layout
    names = list(source.factor_names)
    epochs = list(cfg.epochs)

    def covariates() -> Computed:
        stacks = covariate_stage(cfg, source, progress)
        return stacks, [*stacks.values(), lay.factors], {}

    stacks = stage("covariates", covariates, lambda data: {e: lay.stack(e) for e in epochs})

    def read_sites(data: dict[str, Any]) -> SiteStageResult:
        # the models stage always starts from the written sites, resumed or not: one code path
        sites = pd.read_parquet(lay.sites).drop(columns="geometry", errors="ignore")
        return SiteStageResult(sites, pd.read_csv(lay.qc_report), {}, list(data["notes"]))

    def sites_() -> Computed:
        result = site_stage(cfg, stacks, source)
        write_site_outputs(lay, result)
        data = {"notes": result.notes}
        rendered = [lay.site_inputs_dir / n for n in result.rendered]
        return read_sites(data), [lay.sites, lay.qc_report, *rendered], data

    site_result = stage("sites", sites_, read_sites)
    sites = site_result.sites
    n_points = int(sites["site_id"].nunique()) if len(sites) else 0
    echo(
        f"sites: {n_points} points ({len(sites)} site-epoch rows) kept, "
        f"{site_result.n_dropped} points dropped by QC (see {lay.qc_report})"
    )
    for note in site_result.notes:
        echo(f"note: {note}")

    def models() -> Computed:
        table = feature_stage(cfg, sites, stacks, names)
        result = model_stage(
            table,
            names,
            model_settings(cfg),
            n_jobs=cfg.n_jobs,
            random_state=cfg.random_state,
            prediction_lonlat=prediction_lonlat(cfg),
            categorical=[n for n in names if n in source.categorical],
        )
        write_model_outputs(lay, table, result)
        data = {
            "cv": result.summary,
            "features": list(result.features),
            "rows": len(table),
            "notes": [n for n in [result.card.get("error_profile_note")] if n],
        }
        files = [lay.feature_table, lay.cv_scores, lay.selection, lay.model, lay.model_card]
        if result.ensemble is not None:
            files.append(lay.ensemble)
        # the maps always come from the saved artefact, resumed or not: one code path
        return _Models(load_trained(cfg), data), files, data

    model = stage("models", models, lambda data: _Models(load_trained(cfg), data))
    cv = model.data["cv"]
    for scheme in ("random", "spatial"):
        acc = cv[scheme]["accuracy"]
        echo(
            f"CV {scheme:>7}: accuracy {acc['mean']:.3f} ± {acc['sd']:.3f}  ({cv['model']}, "
            f"{len(model.data['features'])} features)"
        )
    trained = model.trained
    has_members = trained.ensemble is not None

    def maps_() -> Computed:
        maps = map_stage(cfg, trained, stacks, progress=progress, virtual=source.has_truth)
        members = [lay.members(e) for e in epochs] if has_members else []
        return maps, [*maps.values(), *members], {}

    maps = stage("maps", maps_, lambda data: {e: lay.map(e) for e in epochs})

    summary: dict[str, Any] = {
        "tool": "permamap",
        "version": __version__,
        "virtual_world": source.has_truth,
        "config_sha256": cfg.fingerprint,
        "grid": cfg.grid.to_dict(),
        "epochs": epochs,
        "factors": names,
        "sites": {
            "points_kept": n_points,
            "points_dropped": site_result.n_dropped,
            "site_epoch_rows": len(sites),
            "rows_in_feature_table": model.data["rows"],
        },
        "cv": {
            "model": cv["model"],
            "features": model.data["features"],
            "random": cv["random"],
            "spatial": cv["spatial"],
            "best_single_factor": cv.get("best_single_factor"),
        },
    }
    truths: dict[int, Path] | None = None
    checked_truth: dict[str, Any] = {}
    if source.has_truth:

        def truth() -> Computed:
            paths = truth_stage(cfg, source.base, progress)
            checked = truth_check(maps, paths, cfg.grid, cfg.tile_shape)
            data = {
                "agreement": checked.agreement,
                "coverage": checked.coverage,
                "true_extent_km2": checked.true_extent_km2,
                "accuracy_bins": checked.accuracy_bins,
            }
            checked_truth.update(data)
            return paths, list(paths.values()), data

        def load_truth(data: dict[str, Any]) -> dict[int, Path]:
            checked_truth.update(data)
            return {e: lay.truth(e) for e in epochs}

        truths = stage("truth", truth, load_truth)
        summary["truth_agreement"] = checked_truth["agreement"]
        summary["truth_coverage"] = checked_truth["coverage"]

    elevation = stacks[epochs[0]] if "elevation" in names else None

    def change() -> Computed:
        result = change_stage(
            maps,
            cfg.grid,
            lay,
            elevation=elevation,
            tile_shape=cfg.tile_shape,
            epochs=epochs,
            progress=progress,
            members={e: lay.members(e) for e in epochs} if has_members else None,
            **change_options(cfg, truths),
        )
        write_change_outputs(lay, result)
        plateau = None
        if source.has_truth and elevation is not None:
            plateau = tibetan_plateau_km2(maps[epochs[0]], elevation, cfg.grid)
        data = {"summary": result.summary, "plateau_km2": plateau}
        return data, [lay.area_by_epoch], data

    changed = stage("change", change, lambda data: data)
    change_summary = changed["summary"]
    summary["area_km2"] = change_summary["area_km2"]
    summary["change"] = {
        k: v for k, v in change_summary.items() if k not in ("area_km2", "notes", "uncertainty")
    }
    if change_summary.get("uncertainty"):
        summary["uncertainty"] = change_summary["uncertainty"]
    if truths is not None:
        summary["uncertainty_check"] = {
            "true_extent_km2": checked_truth["true_extent_km2"],
            "extent_in_interval": extent_in_interval(
                summary["area_km2"], checked_truth["true_extent_km2"]
            ),
            "expected_accuracy_vs_truth": checked_truth["accuracy_bins"],
        }
    if changed["plateau_km2"] is not None:
        checked = plausibility(change_summary, summary["area_km2"], changed["plateau_km2"])
        summary["plausibility"] = checked.pop("rows")
        summary["trajectory"] = checked
    projection_notes: list[str] = []
    if cfg.projections is not None:
        baseline = cfg.projections.baseline_epoch

        def projections() -> Computed:
            projected = projection_step(cfg, source, trained, stacks, maps, progress)
            write_projection_outputs(lay, baseline, projected)
            data = {
                "settings": projected.settings,
                "projections": projected.projections,
                "notes": projected.notes,
            }
            return data, [lay.future_areas], data

        projected = stage("projections", projections, lambda data: data)
        base_area = summary["area_km2"][str(baseline)]
        summary["projection_settings"] = {
            **projected["settings"],
            "baseline_extent_km2": base_area["permafrost_extent_km2"],
        }
        summary["projections"] = projected["projections"]
        projection_notes = list(projected["notes"])
    every = [
        *notes,
        *site_result.notes,
        *model.data["notes"],
        *change_summary.get("notes", []),
        *projection_notes,
    ]
    summary["notes"] = list(dict.fromkeys(every))  # in order, each once
    return summary
