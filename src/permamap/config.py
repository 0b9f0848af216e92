"""Run configuration: typed, frozen settings and the TOML loader (the only code that reads a config file).

Every table and key is parsed and checked at load, before any stage runs: an unknown section or
key is an error with a "did you mean" suggestion (:mod:`permamap.keys`), every value has its type
and range checked, and every input path must exist. Opening the inputs (headers, years, coverage)
is :func:`permamap.plan.check_run`, which ``permamap check`` prints and ``permamap run`` performs
before writing anything.

The virtual world is used only when the config says so (``[covariates] source = "demo"``); a
config that says nothing, or mixes the virtual world with real inputs, is an error naming the fix.

A run config looks like ``src/permamap/demo/demo.toml`` or ``examples/own_data/own_data.toml``::

    [run]
    out = "out/demo"             # the run folder (permamap.layout.RunLayout)
    epochs = [2000, 2005, 2010, 2015, 2020]
    window_years = 9
    seed = 0
    n_jobs = -1                  # worker count (-1 = all cores)
    scheduler = "local"          # optional: dask.distributed LocalCluster, or "tcp://host:8786"

    [grid]
    bounds = [25, 25, 180, 84]   # west, south, east, north
    res_arcsec = 300             # or res = 0.008333333 (CRS units); crs = "EPSG:4326"
    # like = "dem.tif"           # or: CRS, transform and shape of a raster (bounds crops it;
                                 # crs only for a raster that has none)
    tile = [256, 256]

    [covariates]
    source = "demo"              # "demo" (virtual world) | "real" ([covariates.real.*]) | "none"
    # use = ["maat", "ndvi"]     # pick factors from the whole catalogue; or drop = [...]
    # [covariates.factors.ndvi]  # custom factors (permamap.covariates.custom.CustomFactor)

    [[sites.inputs]]             # one table per input, in order
    type = "demo"                # the virtual world's sites; or "table" | "gtnp" | "permos" | "ghcn"

    [qc]                         # permamap.sites.QCSettings fields
    [models]                     # permamap.selection.ModelSettings fields, or profile = "demo" | "published"
    [change]                     # reference = "obu2019.tif", regions = "regions.gpkg", ... (ChangeSettings)
    [world]                      # the virtual world's settings (only with source = "demo")
    [projections]                # scenarios, periods, gcms, baseline_epoch (permamap.projections)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .change.areas import DEFAULT_ELEVATION_EDGES_M
from .contracts import DEFAULT_TILE
from .errors import ConfigError, InputFileError
from .grid import Grid
from .keys import (
    check_keys,
    did_you_mean,
    existing_path,
    in_file,
    is_int,
    is_number,
    named_paths,
    need,
    table_of,
    wrong,
)
from .layout import RunLayout

if TYPE_CHECKING:
    from .covariates.custom import CustomFactor
    from .demo.world import WorldSettings
    from .projections import ProjectionSettings
    from .selection import ModelSettings
    from .sites import QCSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ChangeSettings",
    "CovariateSettings",
    "RunConfig",
    "demo_config",
    "load_config",
    "parse_config",
]

SECTIONS = (
    "run", "grid", "covariates", "sites", "qc", "models", "change", "world", "projections",
)  # fmt: skip
RUN_KEYS = ("out", "epochs", "window_years", "seed", "n_jobs", "scheduler")
GRID_KEYS = ("bounds", "res", "res_arcsec", "crs", "tile", "like")
COVARIATE_KEYS = ("source", "real", "factors", "use", "drop")
COVARIATE_SOURCES = ("demo", "real", "none")
SITES_KEYS = ("source", "inputs")
#: keys of ``[change]``: options of :func:`permamap.change.change_stage`
CHANGE_KEYS = (
    "reference",
    "reference_kind",
    "reference_nodata",
    "reference_epochs",
    "regions",
    "region_name_column",
    "lat_band_deg",
    "elevation_edges_m",
)
REFERENCE_KINDS = ("auto", "map", "probability", "fraction", "class", "zones")
_DEMO_FIX = (
    'set [covariates] source = "real" (with [covariates.real.*] tables) or "none" (only '
    '[covariates.factors.*]) for your own data, or source = "demo" for the virtual world'
)


@dataclass(frozen=True)
class CovariateSettings:
    """``[covariates]``: where the factors come from and which are used.

    Attributes
    ----------
    source : {"demo", "real", "none"}
        The virtual world, real sources (``real``), or custom factors only.
    real : mapping
        The ``[covariates.real]`` table (schema: :mod:`permamap.covariates.sources.from_config`).
    factors : tuple of CustomFactor
        ``[covariates.factors.<name>]`` tables, in config order.
    use, drop : tuple of str
        Factor names picked from (or removed from) the whole catalogue; ``use = None`` keeps all.
    """

    source: str
    real: Mapping[str, Any] = field(default_factory=dict)
    factors: tuple[CustomFactor, ...] = ()
    use: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeSettings:
    """``[change]``: the reference map, regions and zone definitions of the change stage."""

    reference: Path | None = None
    reference_kind: str = "auto"
    reference_nodata: float | None = None
    reference_epochs: tuple[int, ...] | None = None
    regions: Path | None = None
    region_name_column: str | None = None
    lat_band_deg: float = 10.0
    elevation_edges_m: tuple[float, ...] = DEFAULT_ELEVATION_EDGES_M

    def options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`permamap.change.change_stage` (only what was set)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration."""

    out_dir: Path
    epochs: tuple[int, ...]
    grid: Grid
    window_years: int = 9
    random_state: int = 0  # ``[run] seed``
    n_jobs: int = -1
    scheduler: str | None = (
        None  # dask.distributed address, "local" for a LocalCluster, None = local pool
    )
    tile_shape: tuple[int, int] = DEFAULT_TILE
    covariates: CovariateSettings = field(default_factory=lambda: CovariateSettings("demo"))
    #: ``[[sites.inputs]]`` tables in order; ``[sites] source = "demo"`` is the input ``{type = "demo"}``
    site_inputs: tuple[dict[str, Any], ...] = ({"type": "demo"},)
    qc: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Any] = field(default_factory=lambda: {"profile": "demo"})
    change: ChangeSettings = field(default_factory=ChangeSettings)
    world: Mapping[str, Any] = field(default_factory=dict)
    #: ``[projections]`` (:class:`permamap.projections.ProjectionSettings`), None without one
    projections: ProjectionSettings | None = None
    base_dir: Path = Path(".")
    #: where the config came from (a file path, or the demo's package resource)
    source: str = "<config>"
    #: sha256 of everything that decides the results (not ``out``, ``n_jobs``, ``scheduler``)
    fingerprint: str = ""

    @property
    def layout(self) -> RunLayout:
        """The paths of this run's folder."""
        return RunLayout(self.out_dir)

    @property
    def is_demo(self) -> bool:
        """True when the virtual world is the covariate source."""
        return self.covariates.source == "demo"

    def qc_settings(self) -> QCSettings:
        """``[qc]`` as :class:`permamap.sites.QCSettings` (validated at load)."""
        from .sites import QCSettings

        return QCSettings.from_dict(self.qc)

    def model_settings(self) -> ModelSettings:
        """``[models]`` as :class:`permamap.selection.ModelSettings` (validated at load)."""
        return _model_settings(self.models, self.grid, f"{self.source} [models]")

    def world_settings(self) -> WorldSettings:
        """``[world]`` as :class:`permamap.demo.world.WorldSettings`."""
        from .demo.world import WorldSettings

        return WorldSettings(**self.world)

    def with_out_dir(self, out_dir: Path) -> RunConfig:
        return replace(self, out_dir=Path(out_dir))

    def with_compute(self, n_jobs: int | None = None, scheduler: str | None = None) -> RunConfig:
        """A copy with the command line's ``--jobs`` / ``--scheduler`` applied (None keeps the file's)."""
        return replace(
            self,
            n_jobs=self.n_jobs if n_jobs is None else n_jobs,
            scheduler=self.scheduler if scheduler is None else scheduler,
        )


# ================================================================== sections
def _run(run: dict[str, Any], where: str, base_dir: Path) -> dict[str, Any]:
    check_keys(run, RUN_KEYS, where)
    epochs = need(run, "epochs", where, "[2000, 2005, 2010, 2015, 2020]")
    if not isinstance(epochs, list) or not epochs or not all(is_int(e) for e in epochs):
        raise wrong(
            where, "epochs", epochs, "must be a non-empty list of years (integers)", "[2000, 2020]"
        )
    if len(set(epochs)) != len(epochs):
        raise wrong(where, "epochs", epochs, "repeats a year; list each epoch once", "[2000, 2020]")
    window_years = run.get("window_years", 9)
    if not is_int(window_years) or window_years < 1 or window_years % 2 == 0:
        raise wrong(
            where,
            "window_years",
            window_years,
            "must be an odd positive integer (a window centred on the epoch)",
            "9",
        )
    seed = run.get("seed", 0)
    if not is_int(seed) or seed < 0:
        raise wrong(where, "seed", seed, "must be a whole number ≥ 0", "0")
    n_jobs = run.get("n_jobs", -1)
    if not is_int(n_jobs) or n_jobs == 0 or n_jobs < -1:
        raise wrong(
            where, "n_jobs", n_jobs, "must be a positive worker count or -1 (all cores)", "-1"
        )
    scheduler = run.get("scheduler")
    if scheduler is not None and not isinstance(scheduler, str):
        raise wrong(
            where,
            "scheduler",
            scheduler,
            'must be "local" (a LocalCluster) or a dask address',
            '"tcp://10.0.0.5:8786"',
        )
    out = run.get("out", "out/run")
    if not isinstance(out, str) or not out:
        raise wrong(where, "out", out, "must be a folder path (a string)", '"out/run"')
    out_path = Path(out)
    return {
        "out_dir": out_path if out_path.is_absolute() else base_dir / out_path,
        "epochs": tuple(sorted(epochs)),
        "window_years": window_years,
        "random_state": seed,
        "n_jobs": n_jobs,
        "scheduler": scheduler,
    }


def _grid(grid_t: dict[str, Any], where: str, base_dir: Path) -> tuple[Grid, tuple[int, int]]:
    check_keys(grid_t, GRID_KEYS, where)
    tile = grid_t.get("tile", list(DEFAULT_TILE))
    if not isinstance(tile, list) or len(tile) != 2 or not all(is_int(t) and t > 0 for t in tile):
        raise wrong(where, "tile", tile, "must be two positive integers (rows, cols)", "[512, 512]")
    bounds = grid_t.get("bounds")
    if bounds is not None and (
        not isinstance(bounds, list) or len(bounds) != 4 or not all(is_number(b) for b in bounds)
    ):
        raise wrong(
            where,
            "bounds",
            bounds,
            "must be [west, south, east, north] (numbers)",
            "[25, 25, 180, 84]",
        )
    try:
        if "like" in grid_t:
            given = sorted({"res", "res_arcsec"} & set(grid_t))
            if given:
                raise ConfigError(
                    f"{where} gives `like` and {given}: `like` takes the resolution from the "
                    f"raster; drop {given} (keep `bounds` to crop the raster's grid, `crs` only "
                    "for a raster without one)"
                )
            like = existing_path(where, "like", grid_t["like"], base_dir)
            crs = grid_t.get("crs")
            if crs is not None and not isinstance(crs, str):
                raise wrong(where, "crs", crs, "must be a CRS string", '"EPSG:4326"')
            grid = Grid.from_raster(like, bounds=None if bounds is None else tuple(bounds), crs=crs)
        else:
            if bounds is None:
                raise ConfigError(
                    f"{where} lacks `bounds`; add e.g. `bounds = [25, 25, 180, 84]` (west, south, "
                    'east, north) with `res_arcsec = 30`, or `like = "dem.tif"` for a raster\'s grid'
                )
            res = _resolution(grid_t, where)
            crs = grid_t.get("crs", "EPSG:4326")
            if not isinstance(crs, str):
                raise wrong(where, "crs", crs, "must be a CRS string", '"EPSG:4326"')
            grid = Grid.from_bounds(tuple(bounds), res=res, crs=crs)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None
    return grid, (int(tile[0]), int(tile[1]))


def _resolution(grid_t: Mapping[str, Any], where: str) -> float:
    if "res" in grid_t and "res_arcsec" in grid_t:
        raise ConfigError(
            f"{where} gives both `res` = {grid_t['res']!r} and `res_arcsec` = "
            f"{grid_t['res_arcsec']!r}; keep one"
        )
    if "res_arcsec" in grid_t:
        value = grid_t["res_arcsec"]
        if not is_number(value) or value <= 0:
            raise wrong(
                where, "res_arcsec", value, "must be a positive number of arc-seconds", "30"
            )
        return float(value) / 3600.0
    if "res" not in grid_t:
        raise ConfigError(
            f"{where} lacks a resolution; add `res_arcsec = 30` (arc-seconds) or `res = 0.25` "
            "(CRS units)"
        )
    value = grid_t["res"]
    if not is_number(value) or value <= 0:
        raise wrong(
            where, "res", value, "must be a positive number (CRS units)", "0.008333333333333333"
        )
    return float(value)


def _names(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong(where, key, value, "must be a list of factor names", '["maat", "elevation"]')
    if len(set(value)) != len(value):
        raise wrong(
            where, key, value, "names a factor twice; list each once", '["maat", "elevation"]'
        )
    return tuple(value)


def _covariates(cov: dict[str, Any], where: str, base_dir: Path) -> CovariateSettings:
    check_keys(cov, COVARIATE_KEYS, where)
    if "source" not in cov:
        raise ConfigError(f"{where} lacks `source`; {_DEMO_FIX}")
    source = cov["source"]
    if source not in COVARIATE_SOURCES:
        raise ConfigError(
            f"{where}.source = {source!r} is unknown{did_you_mean(str(source), COVARIATE_SOURCES)}; "
            f"use one of {', '.join(repr(s) for s in COVARIATE_SOURCES)}"
        )
    real = cov.get("real")
    factors_t = cov.get("factors", {})
    if not isinstance(factors_t, Mapping):
        raise ConfigError(
            f"{where}.factors must hold [covariates.factors.<name>] tables, e.g. "
            '[covariates.factors.ndvi] with path = "ndvi.tif", kind = "continuous"'
        )
    if source == "demo" and (real is not None or factors_t):
        given = "[covariates.real]" if real is not None else "[covariates.factors]"
        raise ConfigError(
            f'{where}.source = "demo" is the virtual world, but the config gives real inputs '
            f'({given}); set source = "real" (or "none") to use them, or remove {given}'
        )
    if source == "real" and real is None:
        raise ConfigError(
            f'{where}.source = "real" needs [covariates.real.*] tables, e.g. '
            '[covariates.real.climate] with type = "worldclim", folders = ["worldclim/"]'
        )
    if source == "none" and real is not None:
        raise ConfigError(
            f'{where}.source = "none" means custom factors only, but [covariates.real] is given; '
            'set source = "real" or remove [covariates.real]'
        )
    if source == "none" and not factors_t:
        raise ConfigError(
            f'{where}.source = "none" needs at least one [covariates.factors.<name>] table '
            '(path = "x.tif", kind = "continuous")'
        )
    if real is not None:
        from .covariates.sources.from_config import sources_from_config

        sources_from_config(real, base_dir)  # every type, key, value and path, at load
    from .covariates.custom import CustomFactor

    custom = tuple(
        CustomFactor.from_table(str(name), table, base_dir) for name, table in factors_t.items()
    )
    use = _names(where, "use", cov["use"]) if "use" in cov else None
    drop = _names(where, "drop", cov["drop"]) if "drop" in cov else ()
    if use is not None and drop:
        raise ConfigError(
            f"{where} gives both `use` and `drop`; keep one (use lists the factors to keep, "
            "drop the ones to remove)"
        )
    return CovariateSettings(
        source=source, real=dict(real or {}), factors=custom, use=use, drop=drop
    )


def _site_inputs(sites: dict[str, Any], where: str, demo: bool) -> tuple[dict[str, Any], ...]:
    """``[sites]`` → the list of site inputs: ``source = "demo"`` is the input ``{type = "demo"}``."""
    check_keys(sites, SITES_KEYS, where)
    kind = sites.get("source")
    inputs = sites.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, Mapping) for i in inputs):
        raise ConfigError(
            f"{where}.inputs must be [[sites.inputs]] tables, e.g. "
            '[[sites.inputs]] type = "gtnp", path = "boreholes.csv"'
        )
    if kind is not None and kind != "demo":
        raise ConfigError(
            f'{where}.source = {kind!r} is unknown; use "demo" for the virtual world\'s '
            "sites, or drop it and list your files as [[sites.inputs]] tables"
        )
    specs = ([{"type": "demo"}] if kind == "demo" else []) + [dict(i) for i in inputs]
    if not specs:
        raise ConfigError(
            f'{where} has no inputs; add [[sites.inputs]] tables, e.g. type = "table" with '
            'path = "sites.csv" (or type = "demo" with [covariates] source = "demo")'
        )
    for i, spec in enumerate(specs, start=1):
        kind_i = spec.get("type")
        if kind_i == "demo" and not demo:
            raise ConfigError(
                f'[[sites.inputs]] {i} type = "demo" takes the virtual world\'s sites, but '
                "[covariates] is not the virtual world; remove that input and list your site "
                'files, or set [covariates] source = "demo"'
            )
        if demo and kind_i != "demo":
            raise ConfigError(
                f"[[sites.inputs]] {i} type = {kind_i!r} gives real sites, but [covariates] "
                'source = "demo" is the virtual world; use your own covariates ([covariates] '
                'source = "real" or "none") with real sites, or remove this input'
            )
    return tuple(specs)


def _change(
    change: dict[str, Any], where: str, base_dir: Path, epochs: tuple[int, ...]
) -> ChangeSettings:
    check_keys(change, CHANGE_KEYS, where)
    kw: dict[str, Any] = {}
    for key in ("reference", "regions"):
        if key in change:
            kw[key] = existing_path(where, key, change[key], base_dir)
    if "reference_kind" in change:
        kind = change["reference_kind"]
        if kind not in REFERENCE_KINDS:
            raise ConfigError(
                f"{where}.reference_kind = {kind!r} is unknown"
                f"{did_you_mean(str(kind), REFERENCE_KINDS)}; use one of {list(REFERENCE_KINDS)}"
            )
        kw["reference_kind"] = kind
    if "reference_nodata" in change:
        value = change["reference_nodata"]
        if not is_number(value):
            raise wrong(where, "reference_nodata", value, "must be a number", "255")
        kw["reference_nodata"] = float(value)
    if "reference_epochs" in change:
        value = change["reference_epochs"]
        if not isinstance(value, list) or not value or not all(is_int(e) for e in value):
            raise wrong(
                where, "reference_epochs", value, "must be a list of years", f"[{epochs[-1]}]"
            )
        outside = [e for e in value if e not in epochs]
        if outside:
            raise ConfigError(
                f"{where}.reference_epochs = {value!r}: {outside} not among [run].epochs "
                f"{list(epochs)}; compare the reference with epochs the run maps"
            )
        kw["reference_epochs"] = tuple(value)
    if "region_name_column" in change:
        value = change["region_name_column"]
        if not isinstance(value, str) or not value:
            raise wrong(where, "region_name_column", value, "must be a column name", '"name"')
        kw["region_name_column"] = value
    if "lat_band_deg" in change:
        value = change["lat_band_deg"]
        if not is_number(value) or not 0 < value <= 90:
            raise wrong(
                where, "lat_band_deg", value, "must be a band height in degrees, 0 < x ≤ 90", "10"
            )
        kw["lat_band_deg"] = float(value)
    if "elevation_edges_m" in change:
        value = change["elevation_edges_m"]
        if (
            not isinstance(value, list)
            or not value
            or not all(is_number(v) for v in value)
            or any(b <= a for a, b in itertools.pairwise(value))
        ):
            raise wrong(
                where,
                "elevation_edges_m",
                value,
                "must be increasing elevations in metres",
                "[1000, 2000, 3000, 4000]",
            )
        kw["elevation_edges_m"] = tuple(float(v) for v in value)
    return ChangeSettings(**kw)


def _model_settings(models: Mapping[str, Any], grid: Grid, where: str) -> ModelSettings:
    from .selection import ModelSettings

    # kNNDM samples prediction points in the grid's bounds (lon/lat); projected grids pass
    # sampled cell centres instead (pipeline.prediction_lonlat)
    return ModelSettings.from_config(
        models, where=where, default_bounds=grid.bounds if grid.is_geographic else None
    )


def _world(world: dict[str, Any], where: str, demo: bool) -> dict[str, Any]:
    if not world:
        return {}
    if not demo:
        raise ConfigError(
            f'{where} configures the virtual world, but [covariates] source is not "demo"; '
            "remove [world]"
        )
    from .demo.world import WorldSettings

    allowed = {f.name: f for f in fields(WorldSettings)}
    check_keys(world, allowed, where)
    for key, value in world.items():
        default = getattr(WorldSettings(), key)
        ok = is_number(value) if isinstance(default, float) else is_int(value)
        if not ok:
            raise wrong(where, key, value, f"must be a {type(default).__name__}", repr(default))
    return dict(world)


def _projections(
    table: dict[str, Any],
    source: str,
    base_dir: Path,
    run: Mapping[str, Any],
    covariates: CovariateSettings,
) -> ProjectionSettings | None:
    where = f"{source} [projections]"
    if table and covariates.source == "none":
        raise ConfigError(
            f'{where} needs the catalogue\'s climate factors, but [covariates] source = "none" '
            'has none; use source = "real" with [covariates.real.climate], or remove [projections]'
        )
    from .projections import parse_projections

    return parse_projections(table, where, base_dir, tuple(run["epochs"]), covariates.source)


def _fingerprint(data: Mapping[str, Any], base_dir: Path) -> str:
    """sha256 of what decides the results: the config minus out/n_jobs/scheduler, and its folder
    when a relative path in it names a file (the same text in another folder reads other files)."""
    decided = {k: v for k, v in data.items() if k != "run"}
    decided["run"] = {
        k: v
        for k, v in dict(data.get("run", {})).items()
        if k not in ("out", "n_jobs", "scheduler")
    }
    if named_paths(decided, base_dir, relative_only=True):  # the same text reads other files
        decided["_base_dir"] = str(base_dir.resolve())
    text = json.dumps(decided, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_config(
    data: Mapping[str, Any], source: str = "<config>", base_dir: Path = Path(".")
) -> RunConfig:
    """Validate a config mapping (as loaded from TOML) into a :class:`RunConfig`.

    Raises
    ------
    ConfigError
        An unknown section or key (with a suggestion), a missing key, a value of the wrong type
        or range, a mix of the virtual world with real inputs.
    InputFileError
        A path that does not exist.
    """
    for name in data:
        if name not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{name}]{did_you_mean(name, SECTIONS)}; "
                f"sections: {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
    if "run" not in data:
        raise ConfigError(f"{source} lacks [run]; add [run] with epochs = [2000, 2020]")
    if "grid" not in data:
        raise ConfigError(
            f'{source} lacks [grid]; add [grid] with bounds = [...] and res_arcsec = 30, or like = "dem.tif"'
        )
    if "covariates" not in data:
        raise ConfigError(f"{source} lacks [covariates]; {_DEMO_FIX}")
    if "sites" not in data:
        raise ConfigError(
            f"{source} lacks [sites]; add [[sites.inputs]] tables for your site files "
            '(e.g. type = "table", path = "sites.csv"), or type = "demo" for the virtual world'
        )
    run = _run(table_of(data, "run", source), f"{source} [run]", base_dir)
    grid, tile = _grid(table_of(data, "grid", source), f"{source} [grid]", base_dir)
    covariates = _covariates(
        table_of(data, "covariates", source), f"{source} [covariates]", base_dir
    )
    demo = covariates.source == "demo"
    site_inputs = _site_inputs(table_of(data, "sites", source), f"{source} [sites]", demo)
    qc = table_of(data, "qc", source)
    try:
        from .sites import QCSettings

        QCSettings.from_dict(qc, where=f"{source} [qc]")
    except ConfigError as exc:
        raise in_file(f"{source} [qc]", exc) from None
    models = table_of(data, "models", source)
    _model_settings(models, grid, f"{source} [models]")
    change = _change(
        table_of(data, "change", source), f"{source} [change]", base_dir, run["epochs"]
    )
    if demo and change.reference is not None:
        raise ConfigError(
            f'{source} [change].reference is a real map, but [covariates] source = "demo" is the '
            "virtual world (compared with its own truth); remove `reference` or use your own "
            "covariates"
        )
    world = _world(table_of(data, "world", source), f"{source} [world]", demo)
    projections = _projections(
        table_of(data, "projections", source), source, base_dir, run, covariates
    )
    return RunConfig(
        **run,
        grid=grid,
        tile_shape=tile,
        covariates=covariates,
        site_inputs=site_inputs,
        qc=qc,
        models=models,
        change=change,
        world=world,
        projections=projections,
        base_dir=base_dir,
        source=source,
        fingerprint=_fingerprint(data, base_dir),
    )


def load_config(path: Path | str) -> RunConfig:
    """Read and validate a TOML run configuration; relative paths are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"config file {path} does not exist; pass the path of a TOML run config"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the line it names") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path} is not UTF-8 text ({exc}); save the config as UTF-8"
        ) from None
    return parse_config(data, source=str(path), base_dir=path.parent)


def demo_config(out_dir: Path | str = "out/demo") -> RunConfig:
    """The built-in configuration of the virtual world (``permamap demo``)."""
    text = files("permamap.demo").joinpath("demo.toml").read_text()
    cfg = parse_config(tomllib.loads(text), source="permamap/demo/demo.toml")
    return cfg.with_out_dir(Path(out_dir))
