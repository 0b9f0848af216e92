"""The projection stage: every scenario × period predicted under each GCM's future climate.

For each scenario × period of ``[projections]`` (:class:`~.settings.ProjectionSettings`):

1. **Project** (:func:`project`): tile by tile, the baseline epoch's stack with each GCM's future
   climate factors (:func:`~.tiles.future_blocks`) goes through the trained model and its
   calibration; the tiles are averaged over GCMs into ``maps/future/permafrost_<s>_<p>.tif``
   (bands :func:`~.tiles.projection_bands`), and each GCM's class goes into one bit of
   ``maps/future/gcms/gcms_<s>_<p>.tif``. Tiles run on the run's pool or dask cluster and are
   kept in a tile store, so a killed run resumes at the first missing tile; a combination whose
   map and sidecar carry the same fingerprint is reused whole. The sidecar
   ``permafrost_<s>_<p>.json`` holds the totals in km²: the GCM-mean extent, each GCM's own
   extent (the "GCM range"), the probability-weighted area and the area outside the AOA.
2. **Change against the baseline** (:func:`permamap.change.transitions.transitions`): the
   transition table and change map (the same codes as between epochs) against the baseline
   epoch's map, and lost / stable / gained per zone (:mod:`.areas`).
3. **Truth** (sources that know it, i.e. the virtual world): the true map of the scenario and
   period (:mod:`.truth`), its extent and the area-weighted agreement of the projection with it.

Sums are added in grid order from per-tile files, so a rerun gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from .. import __version__
from ..change.transitions import transitions
from ..contracts import DEFAULT_TILE, MAP_NODATA, MEMBER_CLASSES_BAND
from ..fileio import write_json
from ..grid import Grid
from ..inference import compile_model
from ..layout import RunLayout
from ..modelio import ModelArtefact
from ..predict.map import assemble_tiles
from ..predict.store import TileStore, fingerprint
from ..predict.tiles import run_tiles
from ..selection.calibration import Calibrator
from .areas import change_by_zone
from .settings import ProjectionSettings
from .sources import CLIMATE_FACTORS
from .tiles import SUM_NAMES, ProjectionJob, projection_bands

__all__ = ["ProjectionResult", "period_midpoint", "project", "projection_stage"]

log = logging.getLogger(__name__)


def period_midpoint(period: str) -> float:
    """The mean of a period's year labels.

    >>> period_midpoint("2041-2060")
    2050.5
    """
    a, b = (int(y) for y in period.split("-"))
    return (a + b) / 2


@dataclass
class ProjectionResult:
    """What the stage returns: the summary entries and the lost / stable / gained table."""

    projections: dict[str, dict[str, dict[str, Any]]]
    settings: dict[str, Any]
    areas: pd.DataFrame
    #: (scenario, period) → the transition table against the baseline map
    transitions: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    maps: dict[tuple[str, str], Path] = field(default_factory=dict)
    #: what the user should know about the projections (summary notes)
    notes: list[str] = field(default_factory=list)


def _sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def project(
    trained: ModelArtefact,
    source: Any,
    settings: ProjectionSettings,
    scenario: str,
    period: str,
    stack: Path,
    grid: Grid,
    layout: RunLayout,
    *,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    extra_tags: dict[str, str] | None = None,
    predictor: Any = None,
) -> dict[str, Any]:
    """Project one scenario × period; return its sidecar (totals in km², GCM extents, fingerprint).

    ``predictor``: the compiled model (:func:`permamap.inference.compile_model`), compiled here
    when not given.
    """
    out = layout.future_map(scenario, period)
    gcm_out = layout.future_gcms(scenario, period)
    features = tuple(trained.card["features"])
    aoa = trained.aoa
    bands = projection_bands(aoa)
    calibration = trained.card.get("calibration")
    calibrator = Calibrator.from_dict(dict(calibration)) if calibration else None
    if calibrator is not None and calibrator.method == "none":
        calibrator = None
    gcms = settings.gcms
    tags = {
        "scenario": scenario,
        "period": period,
        "gcms": ",".join(gcms),
        "baseline_epoch": str(settings.baseline_epoch),
        "method": settings.method,
        "model": str(trained.card.get("model", "model")),
        "features": ",".join(features),
        "permamap_version": __version__,
        "class_values": f"1=permafrost,0=not,{MAP_NODATA}=nodata",
        "probability_units": "percent",
        "probability_method": "mean over GCMs of the calibrated probability",
        "gcm_spread_units": "percentage points (100 x population sd of the GCMs' probabilities)",
        "source_sha": _digest(source.describe()),
        **({"calibration": calibrator.method} if calibrator is not None else {}),
        **(extra_tags or {}),
    }
    if aoa is not None:
        tags.update(
            aoa_values=f"1=every GCM inside,0=at least one GCM outside,{MAP_NODATA}=nodata",
            aoa_gcm_share_units="percent of GCMs inside the area of applicability",
            aoa_threshold=f"{aoa.threshold:.6g}",
        )
    if predictor is None:
        predictor = compile_model(trained.model, len(features))
    settings_fp = fingerprint(
        trained.model, predictor, features, stack, grid, tile_shape, bands, 0.5, aoa, tags
    )
    fp = _digest(settings_fp)
    side = _sidecar(out)
    if out.is_file() and gcm_out.is_file() and side.is_file():
        try:
            done = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            done = {}
        if done.get("fingerprint") == fp:
            log.info("%s %s: %s is current; reused", scenario, period, out)
            return dict(done)
    store = TileStore.beside(out)
    gcm_store = TileStore(store.folder / "gcms")
    store.prepare(settings_fp)
    gcm_store.prepare(settings_fp)
    job = ProjectionJob(
        stack=Path(stack),
        features=features,
        store=store,
        gcm_store=gcm_store,
        source=source,
        scenario=scenario,
        period=period,
        gcms=gcms,
        grid=grid,
        n_bands=len(bands),
        calibration=calibrator,
    )
    tiles = list(grid.tiles(tile_shape))
    run_tiles(
        predictor,
        cast(Any, job),  # a job with its own predict(): predict_tile hands the tile to it
        tiles,
        aoa=aoa,
        n_jobs=int(n_jobs or os.cpu_count() or 1),
        scheduler=scheduler,
        progress=progress,
        desc=f"project {scenario} {period}",
    )
    totals = np.zeros(len(SUM_NAMES))
    gcm_totals = np.zeros((2, len(gcms)))
    for w in tiles:  # grid order: the same sums, bit for bit, on a rerun
        s = store.read_extra(w, "sums")
        if s is not None:
            totals += s
        g = gcm_store.read_extra(w, "sums")
        if g is not None:
            gcm_totals += g
    gcm_out.parent.mkdir(parents=True, exist_ok=True)
    gcm_tags = {
        **{k: tags[k] for k in ("scenario", "period", "gcms", "permamap_version")},
        "bit_meaning": "bit k (value 2**k) set = GCM k of the `gcms` tag (in order) gives a "
        "calibrated permafrost probability >= 0.5; 0 also where the map has no data",
    }
    assemble_tiles(
        gcm_store, tiles, grid, [MEMBER_CLASSES_BAND], gcm_tags, gcm_out,
        dtype="uint32", nodata=None, fill=0,
    )  # fmt: skip
    assemble_tiles(store, tiles, grid, bands, tags, out)
    extent = {g: float(v) for g, v in zip(gcms, gcm_totals[0], strict=True)}
    mapped = float(totals[3])
    sidecar = {
        "scenario": scenario,
        "period": period,
        "gcms": list(gcms),
        "permafrost_extent_km2": float(totals[0]),
        "probability_weighted_km2": float(totals[1]),
        "gcm_extent_km2": extent,
        "gcm_range_km2": [min(extent.values()), max(extent.values())],
        "outside_aoa_km2": float(totals[2]) if aoa is not None else None,
        "outside_aoa_share": float(totals[2]) / mapped if aoa is not None and mapped else None,
        "mapped_km2": mapped,
        "fingerprint": fp,
    }
    write_json(side, sidecar, allow_nan=False, newline=True)
    store.clear()
    return sidecar


def projection_stage(
    settings: ProjectionSettings,
    source: Any,
    trained: ModelArtefact,
    stack: Path,
    baseline_map: Path,
    grid: Grid,
    layout: RunLayout,
    *,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    extra_tags: dict[str, str] | None = None,
    elevation: Path | None = None,
    regions: Path | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] | None = None,
) -> ProjectionResult:
    """Project every scenario × period, compare each with the baseline map, score it on the truth.

    Parameters
    ----------
    settings : ProjectionSettings
        ``[projections]``.
    source : FutureClimate
        :class:`~.sources.VirtualFutureClimate` or :class:`~.real.RealFutureClimate`.
    trained : ModelArtefact
        The model, its card (features, calibration) and AOA reference.
    stack, baseline_map : Path
        The baseline epoch's covariate stack and map.
    grid, layout : Grid, RunLayout
        The run's grid and folder.
    elevation, regions, region_name_column, lat_band_deg, elevation_edges_m
        The zones of the lost / stable / gained table, as ``[change]`` defines them.

    Returns
    -------
    ProjectionResult
        ``projections[scenario][period]``: the sidecar's figures, lost / stable / gained km²
        against the baseline, the map's path, and on sources with a truth ``true_extent_km2``
        and ``truth_agreement``.
    """
    # header checks of every combination's files (and what describe() lists for fingerprints)
    source.check(grid, settings.scenarios, settings.periods, settings.gcms)
    notes = []
    if not any(f in CLIMATE_FACTORS for f in trained.card["features"]):
        notes.append(
            f"the model uses no climate factor ({', '.join(trained.card['features'])}): every "
            f"projection equals the {settings.baseline_epoch} map"
        )
        log.warning(notes[-1])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    tables = []
    moves: dict[tuple[str, str], pd.DataFrame] = {}
    maps: dict[tuple[str, str], Path] = {}
    base = settings.baseline_epoch
    predictor = compile_model(trained.model, len(trained.card["features"]))
    for scenario, period in settings.combinations:
        side = project(
            trained, source, settings, scenario, period, stack, grid, layout,
            tile_shape=tile_shape, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
            extra_tags=extra_tags, predictor=predictor,
        )  # fmt: skip
        path = layout.future_map(scenario, period)
        maps[(scenario, period)] = path
        change_map = layout.future_change_map(base, scenario, period)
        change_map.parent.mkdir(parents=True, exist_ok=True)
        table = transitions(
            baseline_map, path, grid, epochs=(base, f"{scenario} {period}"),  # type: ignore[arg-type]
            change_map=change_map, tile_shape=tile_shape, progress=progress,
        )  # fmt: skip
        moves[(scenario, period)] = table
        zones = change_by_zone(
            change_map, grid, elevation=elevation, regions=regions,
            region_name_column=region_name_column, lat_band_deg=lat_band_deg,
            elevation_edges_m=elevation_edges_m, tile_shape=tile_shape,
        )  # fmt: skip
        tables.append(zones.assign(scenario=scenario, period=period))
        total = zones[zones["zone_kind"] == "total"].iloc[0]
        entry = {
            k: side[k]
            for k in (
                "permafrost_extent_km2",
                "gcm_range_km2",
                "gcm_extent_km2",
                "probability_weighted_km2",
                "outside_aoa_share",
            )
        }
        entry.update(
            lost_km2=float(total["lost_km2"]),
            stable_km2=float(total["stable_km2"]),
            gained_km2=float(total["gained_km2"]),
            map=layout.relative(path),
        )
        if getattr(source, "has_truth", False):
            from .truth import future_truth

            entry.update(
                future_truth(
                    source, scenario, period, path, grid, layout.future_truth(scenario, period),
                    tile_shape=tile_shape, progress=progress, extra_tags=extra_tags,
                )
            )  # fmt: skip
        out.setdefault(scenario, {})[period] = entry
    cols = ["scenario", "period", "zone_kind", "zone"]
    areas = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=cols)
    areas = areas[cols + [c for c in areas.columns if c not in cols]]
    return ProjectionResult(
        projections=out,
        settings={**settings.to_dict(), "source": source.name},
        areas=areas,
        transitions=moves,
        maps=maps,
        notes=notes,
    )
