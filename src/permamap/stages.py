"""The stages of a run as functions of the config: each turns ``[section]`` settings into a stage's
arguments, calls the stage in the module that owns its concept and writes what it returns into the
run folder (:class:`permamap.layout.RunLayout`) through :mod:`permamap.fileio`.

:func:`permamap.pipeline.run` calls them in order (and skips those already complete,
:mod:`permamap.resume`); the CLI's per-stage commands call the same functions. Rasters too large
for memory (stacks, maps, change maps, truth maps) are streamed by their stage, tile by tile, into
the paths the layout names. No maths here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from rasterio.windows import Window
from tqdm.auto import tqdm

from .change import ChangeResult
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
from .demo.truthcheck import TRUTH_BANDS, truth_tile
from .features import feature_table
from .fileio import (
    atomic_write_bytes,
    atomic_write_text,
    dataset_tag,
    write_csv,
    write_json,
    write_parquet,
)
from .grid import Grid
from .layout import RunLayout
from .modelio import ModelArtefact, load_artefact, save_model
from .predict import estimate_map, predict_map
from .predict.map import assemble_tiles
from .projections import ProjectionResult, ProjectionSettings
from .selection import ModelSettings, ModelStageResult
from .selection.ensemble import Ensemble
from .selection.errorprofile import ErrorProfile
from .sites import build_sites, write_sites
from .sites.inputs import SiteReadContext, read_site_inputs
from .tilestore import TileStore, for_each

__all__ = [
    "VIRTUAL_TAGS",
    "SiteStageResult",
    "change_options",
    "covariate_source",
    "covariate_stage",
    "feature_stage",
    "load_trained",
    "map_dry_run",
    "map_stage",
    "model_settings",
    "prediction_lonlat",
    "projection_step",
    "site_stage",
    "threads",
    "truth_stage",
    "write_change_outputs",
    "write_model_outputs",
    "write_projection_outputs",
    "write_site_outputs",
]

log = logging.getLogger(__name__)


def threads(cfg: RunConfig) -> int:
    """Threads for tile work: ``[run] jobs``, or every core for ``jobs < 1``."""
    return cfg.n_jobs if cfg.n_jobs >= 1 else max(1, os.cpu_count() or 1)


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
                n_jobs=threads(cfg),
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
    borehole is labelled permafrost (:func:`~permamap.demo.truthcheck.truth_tile`). One pass
    over the tiles computes every epoch's tile in turn (neighbouring epochs' windows share years,
    which the world keeps in its cache) into a tile store per epoch (resumable,
    :class:`permamap.tilestore.TileStore`). A true map whose tag ``truth_sha`` matches the world,
    the code, the grid, the epoch and the window is kept as it is.
    """
    import hashlib

    from .resume import code_fingerprint

    paths = {e: cfg.layout.truth(e) for e in cfg.epochs}
    stores: dict[int, TileStore] = {}
    shas: dict[int, str] = {}
    for epoch, final in paths.items():
        settings = {
            "truth_version": 1,
            "world": repr(getattr(world, "settings", type(world).__name__)),
            "code": code_fingerprint(),
            "grid": cfg.grid.to_dict(),
            "tile_shape": list(cfg.tile_shape),
            "epoch": epoch,
            "window_years": cfg.window_years,
        }
        shas[epoch] = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        if final.is_file() and dataset_tag(final, "truth_sha") == shas[epoch]:
            log.info("%s is current (truth_sha %s): kept", final, shas[epoch])
            continue
        stores[epoch] = TileStore.beside(final)
        stores[epoch].prepare(settings)
    tiles = list(cfg.grid.tiles(cfg.tile_shape))
    todo = [w for w in tiles if not all(s.is_done(w) for s in stores.values())]

    def compute(w: Window) -> None:
        for epoch, store in stores.items():
            if not store.is_done(w):
                store.write(w, truth_tile(world, cfg.grid, epoch, w, cfg.window_years))

    with tqdm(
        total=len(tiles),
        initial=len(tiles) - len(todo),
        desc=f"truth {list(stores)}",
        unit="tile",
        disable=not progress or not stores,
    ) as bar:
        for_each(compute, todo, threads(cfg), lambda _: bar.update(), prefix="permamap-truth")
    for epoch, store in stores.items():
        tags = {
            "epoch": str(epoch),
            "rule": "TTOP < 0 degC (virtual world)",
            "truth_sha": shas[epoch],
            **VIRTUAL_TAGS,
        }
        assemble_tiles(
            store,
            tiles,
            cfg.grid,
            list(TRUTH_BANDS),
            tags,
            paths[epoch],
            nodata=TRUTH_NODATA,
            fill=TRUTH_NODATA,
        )
        store.clear()
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
