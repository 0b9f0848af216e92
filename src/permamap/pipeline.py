"""``run(config)``: the stages in order, each an importable function; no maths here."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from tqdm.auto import tqdm

from . import __version__
from .aoa import AOAReference, fit_aoa
from .config import RunConfig
from .covariates.catalogue import write_catalogue
from .covariates.stack import (
    CovariateSource,
    build_stack,
    sample_stack,
    stack_is_current,
    stack_path,
)
from .errors import ConfigError, InputFileError
from .features import feature_table
from .grid import Grid
from .modelio import atomic_write_text
from .predict import estimate_map, predict_map
from .fileio import open_tiled, scratch_path, to_cog

__all__ = [
    "covariate_stage",
    "feature_stage",
    "map_stage",
    "run",
    "site_stage",
    "truth_stage",
]

log = logging.getLogger(__name__)


def _world(cfg: RunConfig) -> Any:
    from .demo.world import VirtualWorld, WorldSettings

    return VirtualWorld(WorldSettings(**cfg.world))


def covariate_source(cfg: RunConfig) -> CovariateSource:
    """The configured source of factors: the virtual world or real data."""
    kind = cfg.covariates.get("source", "demo")
    if kind == "demo":
        return _world(cfg)
    if kind == "real":
        from .covariates.sources.from_config import sources_from_config

        # relative paths in [covariates.real] resolve against the config file's folder
        return sources_from_config(cfg.covariates.get("real", {}), cfg.base_dir)
    raise ConfigError(f'[covariates].source = {kind!r} is unknown; use "demo" or "real"')


def covariate_stage(
    cfg: RunConfig, source: CovariateSource, progress: bool = True
) -> dict[int, Path]:
    """Build the factor stack of every epoch (reused when it already exists for this grid)."""
    folder = cfg.out / "covariates"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for epoch in cfg.epochs:
        path = stack_path(folder, epoch)
        if not stack_is_current(path, cfg.grid, list(source.factor_names)):
            build_stack(
                source,
                cfg.grid,
                epoch,
                path,
                window_years=cfg.window_years,
                tile_shape=cfg.tile_shape,
                progress=progress,
            )
        paths[epoch] = path
    sources = source.sources() if hasattr(source, "sources") else {}
    write_catalogue(folder / "factors.csv", sources, cfg.window_years)
    return paths


def _land_at(grid: Grid) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from rasterio.windows import Window

    from .landmask import land_fraction

    def is_land(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        rows, cols = grid.index(lon, lat)
        out = np.zeros(len(rows), dtype=bool)
        for i in np.flatnonzero(rows >= 0):
            out[i] = land_fraction(grid, Window(int(cols[i]), int(rows[i]), 1, 1))[0, 0] >= 0.5
        return out

    return is_land


def site_stage(
    cfg: RunConfig, stacks: dict[int, Path]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read the configured site sources, QC them against the land mask and the MAAT layer, write ``sites/``."""
    from .sites import (
        QCSettings,
        build_sites,
        read_ghcnm,
        stations_nonpermafrost,
        write_ghcnm,
        write_sites,
    )

    out = cfg.out / "sites"
    extra: dict[str, Any] = {}
    if cfg.sites.get("source", "demo") == "demo":
        from .demo.sites import sample_sites

        demo = sample_sites(_world(cfg), cfg.grid, list(cfg.epochs), seed=cfg.seed + 7)
        inputs = out / "input"
        inputs.mkdir(parents=True, exist_ok=True)
        inv, dat = write_ghcnm(
            demo.stations,
            demo.station_monthly,
            inputs / "ghcnm.tavg.virtual.inv",
            inputs / "ghcnm.tavg.virtual.dat",
        )
        demo.boreholes.to_csv(inputs / "boreholes.csv", index=False)
        demo.planted.to_csv(inputs / "planted_defects.csv", index=False)
        inventory, monthly = read_ghcnm(inv, dat)
        stations = stations_nonpermafrost(
            inventory, monthly, list(cfg.epochs), window=cfg.window_years
        )
        raw = pd.concat([demo.boreholes, stations], ignore_index=True)
        extra["planted"] = demo.planted
    else:
        raw = read_site_inputs(cfg)

    def maat(lon: np.ndarray, lat: np.ndarray, epoch: int) -> np.ndarray:
        return sample_stack(stacks[epoch], cfg.grid, lon, lat, ["maat"])[:, 0]

    sites, report = build_sites(
        raw,
        cfg.grid,
        list(cfg.epochs),
        is_land=_land_at(cfg.grid),
        maat=maat,
        settings=QCSettings.from_dict(cfg.qc),
    )
    write_sites(sites, report, out)
    return sites, report, extra


def read_site_inputs(cfg: RunConfig) -> pd.DataFrame:
    """Read every ``[[sites.inputs]]`` table of a real-data config into one raw site table."""
    from . import sites as S

    tables = []
    for i, spec in enumerate(cfg.sites.get("inputs", [])):
        spec = dict(spec)
        kind = spec.pop("type", None)
        if "path" not in spec:
            raise ConfigError(f"[[sites.inputs]] #{i + 1} lacks `path`; add the file to read")
        path = cfg.base_dir / spec.pop("path")
        if kind == "table":
            tables.append(S.read_table(path, **spec))
        elif kind == "gtnp":
            tables.append(S.read_gtnp(path, epochs=list(cfg.epochs), **spec))
        elif kind == "permos":
            tables.append(S.read_permos(path, epochs=list(cfg.epochs), **spec))
        elif kind == "ghcn":
            inventory, monthly = S.read_ghcnm(path, cfg.base_dir / spec.pop("data"))
            tables.append(
                S.stations_nonpermafrost(
                    inventory, monthly, list(cfg.epochs), window=cfg.window_years, **spec
                )
            )
        else:
            raise ConfigError(
                f'[[sites.inputs]] #{i + 1} has type = {kind!r}; use "table", "gtnp", "permos" or "ghcn"'
            )
    if not tables:
        raise ConfigError(
            '[sites] has no inputs; add [[sites.inputs]] tables or use source = "demo"'
        )
    return pd.concat(tables, ignore_index=True)


def feature_stage(
    cfg: RunConfig, sites: pd.DataFrame, stacks: dict[int, Path], names: list[str]
) -> pd.DataFrame:
    """Factor values at the sites; written to ``models/feature_table.parquet``."""
    table = feature_table(
        sites, names, lambda epoch, lon, lat: sample_stack(stacks[epoch], cfg.grid, lon, lat, names)
    )
    (cfg.out / "models").mkdir(parents=True, exist_ok=True)
    table.to_parquet(cfg.out / "models" / "feature_table.parquet", index=False)
    return table


def aoa_reference(
    table: pd.DataFrame, features: list[str], selection: dict[str, Any], folds: np.ndarray | None
) -> AOAReference:
    """The area-of-applicability reference of the final model (Meyer & Pebesma 2021).

    Factors are weighted by their permutation importance from ``selection.json`` (equal weights
    when none is positive); ``folds`` are the spatial-CV folds of the training rows.
    """
    imp = {d["feature"]: d.get("permutation_mean") for d in selection.get("importance", [])}
    weights = np.array([max(float(imp.get(f) or 0.0), 0.0) for f in features])
    return fit_aoa(
        table[features].to_numpy(float),
        weights=weights if weights.sum() > 0 else None,
        folds=folds,
    )


def map_stage(
    cfg: RunConfig,
    model: Any,
    features: list[str],
    stacks: dict[int, Path],
    model_name: str,
    *,
    aoa: AOAReference | None = None,
    progress: bool = True,
) -> dict[int, Path]:
    """Predict one map per epoch: ``maps/permafrost_<year>.tif`` (resumable, local pool or dask)."""
    maps = {}
    for epoch in cfg.epochs:
        maps[epoch] = predict_map(
            model, features, stacks[epoch], cfg.grid,
            cfg.out / "maps" / f"permafrost_{epoch}.tif",
            epoch=epoch, model_name=model_name, tile_shape=cfg.tile_shape, progress=progress,
            aoa=aoa, n_jobs=None if cfg.n_jobs < 1 else cfg.n_jobs, scheduler=cfg.scheduler,
        )  # fmt: skip
    return maps


def map_dry_run(
    cfg: RunConfig,
    model: Any,
    features: list[str],
    stacks: dict[int, Path],
    aoa: AOAReference | None = None,
) -> str:
    """What predicting the maps of every epoch would take: cells, tiles, time, memory, disk."""
    first = estimate_map(
        model,
        features,
        stacks[cfg.epochs[0]],
        cfg.grid,
        tile_shape=cfg.tile_shape,
        n_jobs=None if cfg.n_jobs < 1 else cfg.n_jobs,
        aoa=aoa,
    )
    return f"per epoch ({len(cfg.epochs)} epochs: {list(cfg.epochs)}):\n{first.summary()}"


def load_trained(cfg: RunConfig) -> tuple[Any, list[str], dict[str, Any], AOAReference]:
    """The saved final model, its features, card and AOA reference from the run folder."""
    from .modelio import load_model

    path = cfg.out / "models" / "model.skops"
    if not path.is_file():
        raise InputFileError(
            f"{path} does not exist; run `permamap run CONFIG` (or `permamap demo`) to train a model first"
        )
    model, card = load_model(path)
    features = list(card["features"])
    table = pd.read_parquet(cfg.out / "models" / "feature_table.parquet")
    selection = json.loads((cfg.out / "models" / "selection.json").read_text())
    folds = table["spatial_fold"].to_numpy() if "spatial_fold" in table else None
    return model, features, card, aoa_reference(table, features, selection, folds)


def truth_stage(cfg: RunConfig, world: Any, progress: bool = True) -> dict[int, Path]:
    """The virtual world's true map per epoch: ``truth/permafrost_truth_<year>.tif`` (demo only)."""
    paths = {}
    for epoch in cfg.epochs:
        final = cfg.out / "truth" / f"permafrost_truth_{epoch}.tif"
        with scratch_path(final) as work:
            with open_tiled(
                work,
                cfg.grid,
                1,
                "uint8",
                255,
                ["class"],
                tags={"epoch": epoch, "rule": "TTOP < 0 degC (virtual world)"},
            ) as ds:
                for w in tqdm(
                    list(cfg.grid.tiles(cfg.tile_shape)),
                    desc=f"truth {epoch}",
                    unit="tile",
                    disable=not progress,
                ):
                    ds.write(world.truth(cfg.grid, epoch, w, cfg.window_years)[None], window=w)
            to_cog(work, final)
        paths[epoch] = final
    return paths


def change_options(cfg: RunConfig, truths: dict[int, Path] | None = None) -> dict[str, Any]:
    """Keyword arguments for the change stage from ``[change]``; paths relative to the config.

    In the demo, without a configured reference, the last epoch is compared with the virtual
    truth through the same reference-map code a user's map (e.g. Obu et al. 2019) would take.
    """
    opts = dict(cfg.change)
    for key in ("reference", "regions"):
        if key in opts:
            path = Path(str(opts[key]))
            opts[key] = path if path.is_absolute() else cfg.base_dir / path
    if truths and "reference" not in opts:
        last = max(truths)
        opts.update(reference=truths[last], reference_kind="class", reference_epochs=[last])
    return opts


def truth_agreement(
    maps: dict[int, Path], truths: dict[int, Path], grid: Grid, tile_shape: tuple[int, int]
) -> tuple[dict[str, float], dict[str, float]]:
    """Agreement with the truth and map coverage, per epoch.

    Agreement is the share of mapped land cells whose class equals the true class; coverage is the
    share of land cells that are mapped (cells missing a factor, e.g. soil, are removed as in the
    published workflow).
    """
    agreement, coverage = {}, {}
    for epoch, path in maps.items():
        agree = mapped = land_total = 0
        with rasterio.open(path) as m, rasterio.open(truths[epoch]) as t:
            for w in grid.tiles(tile_shape):
                pred, true = m.read(1, window=w), t.read(1, window=w)
                land = true != 255
                ok = land & (pred != 255)
                agree += int((pred[ok] == true[ok]).sum())
                mapped += int(ok.sum())
                land_total += int(land.sum())
        agreement[str(epoch)] = agree / mapped if mapped else float("nan")
        coverage[str(epoch)] = mapped / land_total if land_total else float("nan")
    return agreement, coverage


def run(
    cfg: RunConfig, progress: bool = True, echo: Callable[[str], None] = log.info
) -> dict[str, Any]:
    """Run every stage for ``cfg`` and write ``summary.json``; return the summary."""
    from .change import run_change_stage
    from .report import write_report
    from .selection import ModelSettings, run_model_stage

    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def lap(name: str, start: float) -> None:
        timings[name] = round(time.perf_counter() - start, 2)
        echo(f"[{name}] done in {timings[name]:.1f} s")

    source = covariate_source(cfg)
    names = list(source.factor_names)
    t = time.perf_counter()
    stacks = covariate_stage(cfg, source, progress)
    lap("covariates", t)

    t = time.perf_counter()
    sites, report, _extra = site_stage(cfg, stacks)
    lap("sites", t)
    n_dropped = int((report["action"] == "dropped").sum()) if len(report) else 0
    echo(
        f"sites: {len(sites)} site-epoch rows kept, {n_dropped} points dropped by QC "
        f"(see {cfg.out / 'sites' / 'qc_report.csv'})"
    )

    t = time.perf_counter()
    table = feature_stage(cfg, sites, stacks, names)
    models_cfg = dict(cfg.models)
    profile = models_cfg.pop("profile", "demo")
    base = ModelSettings.published() if profile == "published" else ModelSettings.demo()
    models_cfg.setdefault("prediction_bounds", list(cfg.grid.bounds))
    settings = ModelSettings.from_dict({**base.to_dict(), **models_cfg})
    result = run_model_stage(
        table, names, cfg.out / "models", settings, n_jobs=cfg.n_jobs, seed=cfg.seed
    )
    lap("models", t)
    cv = result.summary
    for scheme in ("random", "spatial"):
        acc = cv[scheme]["accuracy"]
        echo(
            f"CV {scheme:>7}: accuracy {acc['mean']:.3f} ± {acc['sd']:.3f}  ({cv['model']}, "
            f"{len(result.features)} features)"
        )

    if result.spatial_folds is not None:
        table.assign(spatial_fold=result.spatial_folds).to_parquet(
            cfg.out / "models" / "feature_table.parquet", index=False
        )
    aoa = aoa_reference(table, result.features, result.selection, result.spatial_folds)

    t = time.perf_counter()
    maps = map_stage(cfg, result.model, result.features, stacks, cv["model"], aoa=aoa,
                     progress=progress)  # fmt: skip
    lap("maps", t)

    summary: dict[str, Any] = {
        "tool": "permamap",
        "version": __version__,
        "grid": cfg.grid.to_dict(),
        "epochs": list(cfg.epochs),
        "sites": {"kept": len(sites), "dropped": n_dropped, "rows_in_feature_table": len(table)},
        "cv": {
            "model": cv["model"],
            "features": result.features,
            "random": cv["random"],
            "spatial": cv["spatial"],
        },
    }
    truths: dict[int, Path] | None = None
    if cfg.is_demo:
        t = time.perf_counter()
        truths = truth_stage(cfg, source, progress)
        agreement, coverage = truth_agreement(maps, truths, cfg.grid, cfg.tile_shape)
        summary["truth_agreement"] = agreement
        summary["truth_coverage"] = coverage
        lap("truth", t)

    t = time.perf_counter()
    change = run_change_stage(
        maps,
        cfg.grid,
        cfg.out / "change",
        elevation=stacks[cfg.epochs[0]],
        tile_shape=cfg.tile_shape,
        epochs=list(cfg.epochs),
        **change_options(cfg, truths),
    )
    summary["area_km2"] = change["area_km2"]
    summary["change"] = {k: v for k, v in change.items() if k != "area_km2"}
    lap("change", t)
    summary["timings_s"] = timings
    summary["timings_s"]["total"] = round(time.perf_counter() - t0, 2)
    atomic_write_text(
        cfg.out / "summary.json", json.dumps(summary, indent=2, default=_json_default)
    )

    t = time.perf_counter()
    write_report(cfg.out)
    lap("report", t)
    for epoch in cfg.epochs:
        a = summary["area_km2"][str(epoch)]
        line = f"{epoch}: permafrost extent {a['permafrost_extent_km2'] / 1e6:6.2f} M km²"
        if "truth_agreement" in summary:
            line += (
                f", agrees with the truth on {summary['truth_agreement'][str(epoch)]:.1%} of the "
                f"{summary['truth_coverage'][str(epoch)]:.1%} of land cells mapped"
            )
        echo(line)
    echo(f"wrote {cfg.out / 'report.html'} and {cfg.out / 'summary.json'}")
    return summary


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
