"""``run(config)``: the stages in order, and the only module that writes a run's outputs.

Each stage is an importable function in the module that owns its concept; it takes typed inputs
and returns a result object (:func:`permamap.sites.build_sites`, :func:`permamap.features.feature_table`,
:func:`permamap.selection.model_stage`, :func:`permamap.predict.predict_map`,
:func:`permamap.change.change_stage`). This module turns the config into their arguments, calls
them in order and writes what they return into the run folder (:class:`permamap.layout.RunLayout`)
through :mod:`permamap.fileio`. Rasters too large for memory (stacks, maps, change maps, truth
maps) are streamed by their stage, tile by tile, into the paths the layout names. No maths here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from rasterio.windows import Window
from tqdm.auto import tqdm

from . import __version__
from .change import ChangeResult, change_stage
from .config import RunConfig
from .contracts import TRUTH_NODATA
from .covariates.catalogue import write_catalogue
from .covariates.combined import CombinedSource
from .covariates.stack import (
    CovariateSource,
    build_stack,
    sample_stack,
    stack_is_current,
    stack_names,
)
from .demo.plausibility import plausibility, tibetan_plateau_km2
from .demo.truthcheck import TRUTH_BANDS, extent_in_interval, truth_check, truth_tile
from .features import feature_table
from .fileio import (
    atomic_write_bytes,
    atomic_write_text,
    open_tiled,
    scratch_path,
    to_cog,
    write_csv,
    write_json,
    write_parquet,
)
from .grid import Grid
from .layout import RunLayout
from .modelio import ModelArtefact, load_artefact, save_model
from .predict import estimate_map, predict_map
from .projections import ProjectionResult, ProjectionSettings
from .runfolder import claim, mark, stage_done
from .selection import ModelSettings, ModelStageResult, model_stage
from .selection.ensemble import Ensemble
from .selection.errorprofile import ErrorProfile
from .sites import build_sites, write_sites
from .sites.inputs import SiteReadContext, read_site_inputs

__all__ = [
    "SiteStageResult",
    "covariate_source",
    "covariate_stage",
    "feature_stage",
    "load_trained",
    "map_dry_run",
    "map_stage",
    "model_settings",
    "projection_step",
    "run",
    "site_stage",
    "truth_stage",
    "write_change_outputs",
    "write_model_outputs",
    "write_projection_outputs",
    "write_site_outputs",
]

log = logging.getLogger(__name__)


# ================================================================== covariates
def covariate_source(cfg: RunConfig) -> CombinedSource:
    """The configured factors: the built-in source (``[covariates] source``) and custom factors.

    ``source = "demo"`` is the virtual world, ``"real"`` the readers of ``[covariates.real]``,
    ``"none"`` no built-in source (custom factors and the grid's latitude/longitude only);
    ``[covariates.factors.*]``, ``use`` and ``drop`` are applied on top.
    """
    base: CovariateSource | None = None
    if cfg.covariates.source == "demo":
        from .demo.world import VirtualWorld

        base = VirtualWorld(cfg.world_settings())
    elif cfg.covariates.source == "real":
        from .covariates.sources.from_config import sources_from_config

        # relative paths in [covariates.real] resolve against the config file's folder
        base = sources_from_config(cfg.covariates.real, cfg.base_dir)
    return CombinedSource(
        base, cfg.covariates.factors, use=cfg.covariates.use, drop=cfg.covariates.drop
    )


def covariate_stage(
    cfg: RunConfig, source: CombinedSource, progress: bool = False
) -> dict[int, Path]:
    """The factor stack of every epoch, streamed to ``covariates/stack_<year>.tif``.

    A stack already on the run's grid with the same factors (and the same factor definitions)
    is reused; ``factors.csv`` records each factor's unit, kind, source and window.
    """
    lay = cfg.layout
    rows = source.catalogue_rows(cfg.window_years)
    paths = {}
    for epoch in cfg.epochs:
        path = lay.stack(epoch)
        fingerprint = source.fingerprint(epoch, cfg.window_years)
        if not stack_is_current(path, cfg.grid, list(source.factor_names), fingerprint=fingerprint):
            build_stack(
                source,
                cfg.grid,
                epoch,
                path,
                window_years=cfg.window_years,
                tile_shape=cfg.tile_shape,
                progress=progress,
                fingerprint=fingerprint,
            )
        paths[epoch] = path
    write_catalogue(lay.factors, rows)
    return paths


# ================================================================== sites
@dataclass(frozen=True, eq=False)
class SiteStageResult:
    """The QC'd sites, the QC report and the files the site readers rendered."""

    sites: pd.DataFrame
    qc_report: pd.DataFrame
    rendered: dict[str, Any]
    notes: list[str]

    @property
    def n_dropped(self) -> int:
        report = self.qc_report
        return int((report["action"] == "dropped").sum()) if len(report) else 0


def _land_at(grid: Grid) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from .landmask import land_fraction

    def is_land(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        rows, cols = grid.index(lon, lat)
        out = np.zeros(len(rows), dtype=bool)
        for i in np.flatnonzero(rows >= 0):
            out[i] = land_fraction(grid, Window(int(cols[i]), int(rows[i]), 1, 1))[0, 0] >= 0.5
        return out

    return is_land


def site_stage(
    cfg: RunConfig, stacks: dict[int, Path], source: CombinedSource | None = None
) -> SiteStageResult:
    """Read every ``[[sites.inputs]]`` table and QC the sites against the land mask and MAAT.

    ``source`` is the run's covariate source; the virtual world's site reader (``type = "demo"``)
    samples its sites from it. Without a ``maat`` band in the stacks the climate-contradiction
    rule checks only sites that carry their own MAAT, and the notes say so.
    """
    # the stack says whether the run has a MAAT factor (whoever built it)
    has_maat = "maat" in stack_names(stacks[cfg.epochs[0]])

    def maat(lon: np.ndarray, lat: np.ndarray, epoch: int) -> np.ndarray:
        return sample_stack(stacks[epoch], cfg.grid, lon, lat, ["maat"])[:, 0]

    is_land = _land_at(cfg.grid)
    inputs = read_site_inputs(
        cfg.site_inputs,
        SiteReadContext(
            base_dir=cfg.base_dir,
            grid=cfg.grid,
            epochs=tuple(cfg.epochs),
            window_years=cfg.window_years,
            random_state=cfg.random_state,
            world=None if source is None else source.base,
            maat=maat if has_maat else None,
            is_land=is_land,
        ),
    )
    qc = build_sites(
        inputs.raw,
        cfg.grid,
        list(cfg.epochs),
        is_land=is_land,
        maat=maat if has_maat else None,
        settings=cfg.qc_settings(),
    )
    return SiteStageResult(
        qc.sites, qc.qc_report, dict(inputs.rendered), [*inputs.notes, *qc.notes]
    )


def write_site_outputs(layout: RunLayout, result: SiteStageResult) -> None:
    """``sites/sites.parquet`` + ``qc_report.csv`` (together), and the readers' rendered inputs."""
    for name, content in result.rendered.items():
        target = layout.site_inputs_dir / name
        if isinstance(content, pd.DataFrame):
            write_csv(content, target)
        elif isinstance(content, bytes):
            atomic_write_bytes(target, content)
        else:
            atomic_write_text(target, str(content))
    write_sites(result.sites, result.qc_report, layout.sites, layout.qc_report)


# ================================================================== features and model
def feature_stage(
    cfg: RunConfig, sites: pd.DataFrame, stacks: dict[int, Path], names: list[str]
) -> pd.DataFrame:
    """Factor values at the sites (one row per site and epoch)."""
    return feature_table(
        sites, names, lambda epoch, lon, lat: sample_stack(stacks[epoch], cfg.grid, lon, lat, names)
    )


def model_settings(cfg: RunConfig) -> ModelSettings:
    """``[models]`` → :class:`permamap.selection.ModelSettings` (``profile`` picks the base)."""
    return cfg.model_settings()


def prediction_lonlat(cfg: RunConfig, n: int = 20_000) -> np.ndarray | None:
    """Cell centres (lon, lat) for kNNDM on a projected grid; None on a geographic one.

    A geographic grid's bounds are the prediction domain (``ModelSettings.prediction_bounds``);
    a projected grid's bounds are not lon/lat, so cells are sampled from the grid instead.
    """
    if cfg.grid.is_geographic:
        return None
    from pyproj import Transformer

    rng = np.random.default_rng(cfg.random_state)
    g = cfg.grid
    x = g.west + (rng.integers(0, g.width, n) + 0.5) * g.res
    y = g.north - (rng.integers(0, g.height, n) + 0.5) * g.res
    lon, lat = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.column_stack([lon, lat])


def write_model_outputs(layout: RunLayout, table: pd.DataFrame, result: ModelStageResult) -> None:
    """``models/``: the feature table, CV scores, selection record and the model artefact."""
    write_parquet(table, layout.feature_table)
    write_csv(result.scores, layout.cv_scores)
    write_json(layout.selection, result.selection, allow_nan=False, newline=True)
    save_model(result.model, result.card, layout.model, layout.model_card, aoa=result.aoa)
    if result.ensemble is not None:
        result.ensemble.save(layout.ensemble)


def load_trained(cfg: RunConfig) -> ModelArtefact:
    """The saved final model of the run folder: estimator, card and area-of-applicability reference.

    A model saved before the reference moved into the artefact has none: its maps get no ``aoa``
    band, and the user is told so.
    """
    trained = load_artefact(cfg.layout.model, cfg.layout.model_card)
    if trained.card.get("ensemble"):
        # the card says the model has bootstrap refits: they must be there (Ensemble.load
        # names the file and the fix)
        trained = dataclasses.replace(trained, ensemble=Ensemble.load(cfg.layout.ensemble))
    if trained.aoa is None:
        log.warning(
            "%s holds no area-of-applicability reference (saved by an older permamap): the maps "
            "get no aoa band; re-run `permamap run` to train and save one",
            cfg.layout.model,
        )
    return trained


# ================================================================== maps
VIRTUAL_TAGS = {"virtual_world": "true", "data": "VIRTUAL DATA - demonstration world"}


def _error_profile(trained: ModelArtefact) -> ErrorProfile | None:
    """The card's error profile (it needs the AOA's dissimilarity index), or None."""
    d = trained.card.get("error_profile")
    return ErrorProfile.from_dict(d) if d and trained.aoa is not None else None


def map_stage(
    cfg: RunConfig,
    trained: ModelArtefact,
    stacks: dict[int, Path],
    progress: bool = False,
    *,
    virtual: bool = False,
) -> dict[int, Path]:
    """Predict one map per epoch, streamed to ``maps/permafrost_<year>.tif`` (resumable, pool or dask).

    ``virtual``: the inputs are the demonstration world; the maps carry :data:`VIRTUAL_TAGS`.
    """
    maps = {}
    profile = _error_profile(trained)
    for epoch in cfg.epochs:
        maps[epoch] = predict_map(
            trained.model,
            list(trained.card["features"]),
            stacks[epoch],
            cfg.grid,
            cfg.layout.map(epoch),
            epoch=epoch,
            model_name=str(trained.card.get("model", "model")),
            tile_shape=cfg.tile_shape,
            progress=progress,
            aoa=trained.aoa,
            n_jobs=None if cfg.n_jobs < 1 else cfg.n_jobs,
            scheduler=cfg.scheduler,
            extra_tags=VIRTUAL_TAGS if virtual else None,
            calibration=trained.card.get("calibration"),
            members=trained.ensemble,
            members_out=cfg.layout.members(epoch) if trained.ensemble is not None else None,
            error_profile=profile,
        )
    return maps


def map_dry_run(cfg: RunConfig, trained: ModelArtefact, stacks: dict[int, Path]) -> str:
    """What predicting the maps of every epoch would take: cells, tiles, time, memory, disk."""
    first = estimate_map(
        trained.model,
        list(trained.card["features"]),
        stacks[cfg.epochs[0]],
        cfg.grid,
        tile_shape=cfg.tile_shape,
        n_jobs=None if cfg.n_jobs < 1 else cfg.n_jobs,
        aoa=trained.aoa,
        members=trained.ensemble,
        member_classes=trained.ensemble is not None,
        error_profile=_error_profile(trained),
    )
    return f"per epoch ({len(cfg.epochs)} epochs: {list(cfg.epochs)}):\n{first.summary()}"


# ================================================================== truth (sources that know it)
def truth_stage(cfg: RunConfig, world: Any, progress: bool = False) -> dict[int, Path]:
    """The world's true map per epoch, streamed to ``truth/permafrost_truth_<year>.tif``.

    Bands :data:`~permamap.demo.truthcheck.TRUTH_BANDS`: the true class and the chance that a
    borehole is labelled permafrost (:func:`~permamap.demo.truthcheck.truth_tile`).
    """
    paths = {}
    for epoch in cfg.epochs:
        final = cfg.layout.truth(epoch)
        with scratch_path(final) as work:
            with open_tiled(
                work,
                cfg.grid,
                len(TRUTH_BANDS),
                "uint8",
                TRUTH_NODATA,
                list(TRUTH_BANDS),
                tags={"epoch": epoch, "rule": "TTOP < 0 degC (virtual world)", **VIRTUAL_TAGS},
            ) as ds:
                for w in tqdm(
                    list(cfg.grid.tiles(cfg.tile_shape)),
                    desc=f"truth {epoch}",
                    unit="tile",
                    disable=not progress,
                ):
                    ds.write(truth_tile(world, cfg.grid, epoch, w, cfg.window_years), window=w)
            to_cog(work, final)
        paths[epoch] = final
    return paths


# ================================================================== change
def change_options(cfg: RunConfig, truths: dict[int, Path] | None = None) -> dict[str, Any]:
    """Keyword arguments for the change stage from ``[change]`` (paths resolved at load).

    When the source knows the truth and no reference is configured, the last epoch is compared
    with the true map through the same reference-map code a user's map (e.g. Obu et al. 2019)
    would take.
    """
    opts = cfg.change.options()
    if truths and "reference" not in opts:
        last = max(truths)
        opts.update(reference=truths[last], reference_kind="class", reference_epochs=[last])
    return opts


def write_change_outputs(layout: RunLayout, result: ChangeResult) -> None:
    """``change/``: area tables (and their intervals), one transition table per pair, the reference."""
    write_csv(result.areas, layout.area_by_epoch)
    for (a, b), table in result.transitions.items():
        write_csv(table, layout.transitions(a, b))
    if result.reference_comparison is not None:
        write_csv(result.reference_comparison, layout.reference_comparison)
    for epoch, table in result.reference_confusion.items():
        write_csv(table, layout.reference_confusion(epoch))
    if result.uncertainty is not None:
        write_csv(result.uncertainty.table, layout.area_intervals)


# ================================================================== projections
def projection_step(
    cfg: RunConfig,
    source: CombinedSource,
    trained: ModelArtefact,
    stacks: dict[int, Path],
    maps: dict[int, Path],
    progress: bool = False,
) -> ProjectionResult:
    """``[projections]``: each scenario × period from the baseline epoch's stack and map."""
    from .projections import future_source, projection_stage

    settings = cast(ProjectionSettings, cfg.projections)
    base = settings.baseline_epoch
    names = list(source.factor_names)
    return projection_stage(
        settings,
        future_source(cfg, source),
        trained,
        stacks[base],
        maps[base],
        cfg.grid,
        cfg.layout,
        tile_shape=cfg.tile_shape,
        n_jobs=None if cfg.n_jobs < 1 else cfg.n_jobs,
        scheduler=cfg.scheduler,
        progress=progress,
        extra_tags=VIRTUAL_TAGS if source.has_truth else None,
        elevation=stacks[base] if "elevation" in names else None,
        regions=cfg.change.regions,
        region_name_column=cfg.change.region_name_column,
        lat_band_deg=cfg.change.lat_band_deg,
        elevation_edges_m=cfg.change.elevation_edges_m,
    )


def write_projection_outputs(layout: RunLayout, baseline: int, result: ProjectionResult) -> None:
    """``change/future/transitions_<baseline>_<s>_<p>.csv`` and ``change/future_areas.csv``."""
    for (scenario, period), table in result.transitions.items():
        write_csv(table, layout.future_transitions(baseline, scenario, period))
    write_csv(result.areas, layout.future_areas)


# ================================================================== the run
class _Stages:
    """Times each stage, echoes it and keeps ``run.json`` saying which stage is running."""

    def __init__(self, layout: RunLayout, echo: Callable[[str], None]) -> None:
        self.layout, self.echo = layout, echo
        self.timings: dict[str, float] = {}
        self.current = "check"

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.current = name
        mark(self.layout, "running", stage=name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 2)
        stage_done(self.layout, name)
        self.echo(f"[{name}] done in {self.timings[name]:.1f} s")


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
    results is refused unless ``overwrite``). ``run.json`` ends ``complete`` or ``failed at
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
    claim(lay, cfg.fingerprint, overwrite=overwrite, config=cfg.source)
    stage = _Stages(lay, echo)
    try:
        with compute_cluster(cfg.scheduler, cfg.n_jobs, verbose=verbose) as address:
            summary = _run_stages(
                cfg.with_compute(scheduler=address),
                plan.source or covariate_source(cfg),
                progress,
                echo,
                stage,
                plan.notes,
            )
    except BaseException as exc:
        mark(
            lay,
            f"failed at {stage.current}",
            stage=stage.current,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    summary["timings_s"] = {**stage.timings, "total": round(time.perf_counter() - t0, 2)}
    write_json(lay.summary, summary)
    with stage("report"):
        from .report import write_report

        write_report(lay.root)
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
    with stage("covariates"):
        stacks = covariate_stage(cfg, source, progress)

    with stage("sites"):
        site_result = site_stage(cfg, stacks, source)
        write_site_outputs(lay, site_result)
    sites = site_result.sites
    n_points = int(sites["site_id"].nunique()) if len(sites) else 0
    echo(
        f"sites: {n_points} points ({len(sites)} site-epoch rows) kept, "
        f"{site_result.n_dropped} points dropped by QC (see {lay.qc_report})"
    )
    for note in site_result.notes:
        echo(f"note: {note}")

    with stage("models"):
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
    cv = result.summary
    for scheme in ("random", "spatial"):
        acc = cv[scheme]["accuracy"]
        echo(
            f"CV {scheme:>7}: accuracy {acc['mean']:.3f} ± {acc['sd']:.3f}  ({cv['model']}, "
            f"{len(result.features)} features)"
        )

    with stage("maps"):
        trained = ModelArtefact(
            model=result.model, card=result.card, aoa=result.aoa, ensemble=result.ensemble
        )
        maps = map_stage(cfg, trained, stacks, progress=progress, virtual=source.has_truth)

    summary: dict[str, Any] = {
        "tool": "permamap",
        "version": __version__,
        "virtual_world": source.has_truth,
        "config_sha256": cfg.fingerprint,
        "grid": cfg.grid.to_dict(),
        "epochs": list(cfg.epochs),
        "factors": names,
        "sites": {
            "points_kept": n_points,
            "points_dropped": site_result.n_dropped,
            "site_epoch_rows": len(sites),
            "rows_in_feature_table": len(table),
        },
        "cv": {
            "model": cv["model"],
            "features": result.features,
            "random": cv["random"],
            "spatial": cv["spatial"],
            "best_single_factor": cv.get("best_single_factor"),
        },
    }
    truths: dict[int, Path] | None = None
    if source.has_truth:
        with stage("truth"):
            truths = truth_stage(cfg, source.base, progress)
            checked_truth = truth_check(maps, truths, cfg.grid, cfg.tile_shape)
        summary["truth_agreement"] = checked_truth.agreement
        summary["truth_coverage"] = checked_truth.coverage

    with stage("change"):
        change = change_stage(
            maps,
            cfg.grid,
            lay,
            elevation=stacks[cfg.epochs[0]] if "elevation" in names else None,
            tile_shape=cfg.tile_shape,
            epochs=list(cfg.epochs),
            progress=progress,
            members={e: lay.members(e) for e in cfg.epochs} if result.ensemble else None,
            **change_options(cfg, truths),
        )
        write_change_outputs(lay, change)
    summary["area_km2"] = change.summary["area_km2"]
    summary["change"] = {
        k: v for k, v in change.summary.items() if k not in ("area_km2", "notes", "uncertainty")
    }
    if change.summary.get("uncertainty"):
        summary["uncertainty"] = change.summary["uncertainty"]
    if truths is not None:
        summary["uncertainty_check"] = {
            "true_extent_km2": checked_truth.true_extent_km2,
            "extent_in_interval": extent_in_interval(
                summary["area_km2"], checked_truth.true_extent_km2
            ),
            "expected_accuracy_vs_truth": checked_truth.accuracy_bins,
        }
    if source.has_truth and "elevation" in names:
        first = cfg.epochs[0]
        plateau = tibetan_plateau_km2(maps[first], stacks[first], cfg.grid)
        checked = plausibility(change.summary, summary["area_km2"], plateau)
        summary["plausibility"] = checked.pop("rows")
        summary["trajectory"] = checked
    if cfg.projections is not None:
        with stage("projections"):
            projected = projection_step(cfg, source, trained, stacks, maps, progress)
            write_projection_outputs(lay, cfg.projections.baseline_epoch, projected)
        base_area = summary["area_km2"][str(cfg.projections.baseline_epoch)]
        summary["projection_settings"] = {
            **projected.settings,
            "baseline_extent_km2": base_area["permafrost_extent_km2"],
        }
        summary["projections"] = projected.projections
    model_notes = [n for n in [result.card.get("error_profile_note")] if n]
    projection_notes = projected.notes if cfg.projections is not None else []
    every = [
        *notes,
        *site_result.notes,
        *model_notes,
        *change.summary.get("notes", []),
        *projection_notes,
    ]
    summary["notes"] = list(dict.fromkeys(every))  # in order, each once
    return summary
