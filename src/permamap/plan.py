"""``permamap check``: open every input of a run at header level and print the plan, in seconds.

:func:`check_run` builds the covariate source, asks every reader to check its files against the
grid and the epoch windows (CRS, extent, bands, years), parses the site tables with their column
mappings, opens the change stage's reference map and regions, looks at the run folder, and
estimates time, memory and disk. ``permamap run`` calls it before any stage writes anything, so an
input error never surfaces after an expensive stage.

The estimates are rates measured on the project's 2-core benchmark box (``BENCHMARKS.md``): the
virtual world's covariates at 3.6 s per million cells per epoch, prediction at 0.11 s (a small
model) to 5.9 s (a 500-tree forest) per million cells. Real readers' speed depends on the files;
the plan says so rather than inventing a figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import RunConfig
from .covariates.combined import CombinedSource
from .covariates.timewindow import window_years as years_of_window
from .errors import ConfigError
from .runfolder import folder_state, refusal

__all__ = ["Plan", "check_run"]

#: seconds per million cells and epoch, measured (BENCHMARKS.md, 2026-11-28, 2-core box)
VIRTUAL_COVARIATES_S_PER_MCELL = 3.6
PREDICT_S_PER_MCELL = (0.11, 5.9)  # the demo's small model … a 500-tree forest


@dataclass
class Plan:
    """What a run will do: one line per topic, the inputs' notes and the estimates."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    estimates: dict[str, Any] = field(default_factory=dict)
    folder: str = "new"
    #: the covariate source the check opened (``run`` computes the stacks with it)
    source: CombinedSource | None = None
    #: the future climate of ``[projections]`` the check opened (None without projections)
    future: Any = None

    def add(self, topic: str, text: str) -> None:
        self.lines.append((topic, text))

    def text(self) -> str:
        width = max((len(t) for t, _ in self.lines), default=8)
        out = [f"{topic:<{width}}  {text}" for topic, text in self.lines]
        out += [f"{'note':<{width}}  {n}" for n in self.notes]
        return "\n".join(out)


def _notes(fn: Callable[..., list[str]], *args: Any, **kwargs: Any) -> list[str]:
    return [str(n) for n in (fn(*args, **kwargs) or [])]


def check_run(cfg: RunConfig, *, overwrite: bool = False) -> Plan:
    """Open every input of ``cfg`` at header level and return the plan.

    Raises
    ------
    ConfigError, InputFileError, GridMismatchError, DataError
        The first problem found, as one line naming the file, the value, the rule and the fix.
    """
    from .change import NO_ELEVATION_NOTE, check_change_inputs
    from .sites.inputs import check_site_inputs
    from .stages import covariate_source

    plan = Plan()
    g = cfg.grid
    cells = g.height * g.width
    n_tiles = g.n_tiles(cfg.tile_shape)
    plan.add("config", f"{cfg.source} (fingerprint {cfg.fingerprint[:12]})")
    plan.add(
        "grid",
        f"{g.crs}, bounds {tuple(round(v, 6) for v in g.bounds)}, pixel {g.res:.10g}, "
        f"{g.height:,} × {g.width:,} = {cells:,} cells in {n_tiles:,} tiles of "
        f"{cfg.tile_shape[0]} × {cfg.tile_shape[1]}",
    )
    windows = ", ".join(
        f"{e} ({min(years_of_window(e, cfg.window_years))}–{max(years_of_window(e, cfg.window_years))})"
        for e in cfg.epochs
    )
    plan.add("epochs", f"{len(cfg.epochs)}: {windows}")

    source = plan.source = covariate_source(cfg)
    plan.notes += _notes(source.check, g, list(cfg.epochs), cfg.window_years)
    rows = source.catalogue_rows(cfg.window_years)
    plan.add("factors", f"{len(rows)}: {', '.join(r['name'] for r in rows)}")
    for r in rows:
        window = f"; {r['window']}" if r["window"] not in ("", "static") else ""
        plan.add(f"  {r['name']}", f"{r['kind']}, {r['unit']}: {r['source']}{window}")

    plan.add("sites", site_input_summary(cfg.site_inputs))
    plan.notes += _notes(
        check_site_inputs,
        cfg.site_inputs,
        cfg.base_dir,
        list(cfg.epochs),
        window_years=cfg.window_years,
    )
    names = [r["name"] for r in rows]
    if "maat" not in names:
        plan.notes.append(
            "no maat factor: QC checks labels against the climate only where a site carries its "
            "own MAAT"
        )

    settings = cfg.model_settings()
    plan.add(
        "models",
        f"{len(settings.candidates)} candidates ({', '.join(settings.candidates)}), "
        f"{settings.n_repeats} × {settings.n_folds}-fold random and spatial CV",
    )

    c = cfg.change
    plan.notes += _notes(
        check_change_inputs,
        g,
        reference=c.reference,
        reference_kind=c.reference_kind,
        reference_nodata=c.reference_nodata,
        reference_epochs=c.reference_epochs,
        regions=c.regions,
        region_name_column=c.region_name_column,
        lat_band_deg=c.lat_band_deg,
        elevation_edges_m=c.elevation_edges_m,
        epochs=list(cfg.epochs),
    )
    if "elevation" not in names:
        plan.notes.append(NO_ELEVATION_NOTE)
    _check_projections(cfg, plan, names)

    plan.folder = folder_state(cfg.layout, cfg.fingerprint)
    plan.add("run folder", _folder_text(cfg, plan.folder, overwrite))
    plan.estimates = estimate(cfg, len(rows), cells)
    e = plan.estimates
    plan.add(
        "time",
        f"covariates ≈ {_duration(e['covariates_s'])}"
        + ("" if cfg.is_demo else " at the virtual world's rate (real readers vary with the files)")
        + f"; maps ≈ {_duration(e['maps_s'][0])}–{_duration(e['maps_s'][1])} (small model … "
        "500-tree forest); sites and models: seconds to hours, set by [models]",
    )
    plan.add("memory", f"peak ≈ {_size(e['peak_memory_bytes'])} ({e['workers']} worker(s))")
    plan.add(
        "disk",
        f"≤ {_size(e['disk_bytes'])} uncompressed (stacks {_size(e['stack_bytes'])}, maps "
        f"{_size(e['map_bytes'])}); compressed GeoTIFFs are usually 2–4× smaller",
    )
    return plan


def _check_projections(cfg: RunConfig, plan: Plan, names: Sequence[str]) -> None:
    """Open the future climate of ``[projections]``: every scenario × period × GCM it will read."""
    p = cfg.projections
    if p is None:
        return
    from .projections import CLIMATE_FACTORS, future_source

    if not any(n in CLIMATE_FACTORS for n in names):
        raise ConfigError(
            f"{cfg.source} [projections]: the run has no climate factor ({', '.join(names)}), so "
            "a future climate changes nothing; add climate factors or remove [projections]"
        )
    static = [n for n in names if n not in CLIMATE_FACTORS and n not in ("latitude", "longitude")]
    if static:
        plan.notes.append(
            f"projections keep {', '.join(static)} at their {p.baseline_epoch} values: only the "
            "catalogue's climate factors follow the future climate"
        )
    plan.future = future_source(cfg, plan.source)
    plan.notes += _notes(plan.future.check, cfg.grid, p.scenarios, p.periods, p.gcms)
    plan.add(
        "projections",
        f"{len(p.scenarios)} scenarios × {len(p.periods)} periods × {len(p.gcms)} GCMs "
        f"({', '.join(p.scenarios)}; {', '.join(p.periods)}) against {p.baseline_epoch}: "
        f"{plan.future.name}",
    )


def _duration(seconds: float) -> str:
    """``"40 s"``, ``"12.5 min"``, ``"3.2 h"``."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n_bytes: float) -> str:
    """``"12 MB"``, ``"2.30 GB"`` (decimal units)."""
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes < 1e9 else f"{n_bytes / 1e9:.2f} GB"


def _folder_text(cfg: RunConfig, state: str, overwrite: bool) -> str:
    root = cfg.layout.root
    reason = refusal(cfg.layout, cfg.fingerprint, overwrite=overwrite)
    if reason is not None:
        raise ConfigError(reason)
    return {
        "new": f"{root} (new)",
        "same": f"{root} holds this config's run: it continues, reusing finished stacks and tiles",
        "other": f"{root} holds another run: --overwrite deletes it first",
    }[state]


def estimate(cfg: RunConfig, n_factors: int, cells: int) -> dict[str, Any]:
    """Time, memory and disk of a run from the grid size, the factors and the measured rates."""
    import os

    mcells = cells / 1e6
    n_epochs = len(cfg.epochs)
    workers = cfg.n_jobs if cfg.n_jobs > 0 else (os.cpu_count() or 1)
    tile_cells = cfg.tile_shape[0] * cfg.tile_shape[1]
    stack_bytes = cells * n_factors * 4 * n_epochs
    map_bytes = cells * 4 * n_epochs
    pairs = max(n_epochs - 1, 0) + (1 if n_epochs > 2 else 0)
    change_bytes = cells * pairs + (cells * n_epochs if cfg.is_demo else 0)
    # per worker: a tile of every factor, its float64 copies in the model and AOA, the outputs
    per_worker = tile_cells * n_factors * 4 * 12
    return {
        "cells": cells,
        "workers": workers,
        "covariates_s": VIRTUAL_COVARIATES_S_PER_MCELL * mcells * n_epochs,
        "maps_s": tuple(
            rate * mcells * n_epochs / max(1, min(workers, 8)) for rate in PREDICT_S_PER_MCELL
        ),
        "peak_memory_bytes": int(400e6 + workers * per_worker),
        "stack_bytes": stack_bytes,
        "map_bytes": map_bytes,
        "disk_bytes": stack_bytes + map_bytes + change_bytes,
        "tiles": math.ceil(cfg.grid.height / cfg.tile_shape[0])
        * math.ceil(cfg.grid.width / cfg.tile_shape[1]),
    }


def site_input_summary(specs: Sequence[Mapping[str, Any]]) -> str:
    """``"demo, gtnp (boreholes.csv)"``: the site inputs in one line, for the plan."""
    parts = []
    for spec in specs:
        path = spec.get("path") or spec.get("data")
        parts.append(f"{spec.get('type')}" + (f" ({path})" if path else ""))
    return ", ".join(parts)
