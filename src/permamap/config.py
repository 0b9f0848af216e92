"""Run configuration: frozen dataclasses and the TOML loader (the only code that reads a config file).

A run config looks like ``src/permamap/demo/demo.toml``::

    [run]
    out = "out/demo"             # the run folder (permamap.layout.RunLayout)
    epochs = [2000, 2005, 2010, 2015, 2020]
    window_years = 9
    seed = 0
    n_jobs = -1                  # worker count (-1 = all cores)
    scheduler = "local"          # optional: dask.distributed LocalCluster, or "tcp://host:8786"

    [grid]
    bounds = [25, 25, 180, 84]   # west, south, east, north
    res_arcsec = 300             # or res = 0.008333333 (degrees)
    tile = [256, 256]

    [covariates]
    source = "demo"              # the virtual world; "real" reads [covariates.real]

    [[sites.inputs]]             # one table per input, in order
    type = "demo"                # the virtual world's sites; or "table" | "gtnp" | "permos" | "ghcn"

    [qc]                         # permamap.sites.QCSettings fields
    [models]                     # permamap.selection.ModelSettings fields, or profile = "demo" | "published"
    [change]                     # reference = "obu2019.tif", regions = "regions.gpkg", ... (CHANGE_KEYS)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from .contracts import DEFAULT_TILE
from .errors import ConfigError, InputFileError
from .grid import Grid
from .layout import RunLayout

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["RunConfig", "demo_config", "load_config"]

#: keys of ``[change]``: options of :func:`permamap.change.change_stage`
CHANGE_KEYS = frozenset(
    {"reference", "reference_kind", "reference_nodata", "reference_epochs", "regions",
     "region_name_column", "lat_band_deg", "elevation_edges_m"}
)  # fmt: skip
_SECTIONS = {"run", "grid", "covariates", "sites", "qc", "models", "change", "world"}


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
    covariates: dict[str, Any] = field(default_factory=lambda: {"source": "demo"})
    #: ``[[sites.inputs]]`` tables in order; ``[sites] source = "demo"`` is the input ``{type = "demo"}``
    site_inputs: tuple[dict[str, Any], ...] = ({"type": "demo"},)
    qc: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=lambda: {"profile": "demo"})
    change: dict[str, Any] = field(default_factory=dict)
    world: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")

    @property
    def layout(self) -> RunLayout:
        """The paths of this run's folder."""
        return RunLayout(self.out_dir)

    def with_out_dir(self, out_dir: Path) -> RunConfig:
        return replace(self, out_dir=Path(out_dir))

    def with_compute(self, n_jobs: int | None = None, scheduler: str | None = None) -> RunConfig:
        """A copy with the command line's ``--jobs`` / ``--scheduler`` applied (None keeps the file's)."""
        return replace(
            self,
            n_jobs=self.n_jobs if n_jobs is None else n_jobs,
            scheduler=self.scheduler if scheduler is None else scheduler,
        )


def _need(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, example: str
) -> Any:
    if key not in table:
        raise ConfigError(f"{where} lacks `{key}`; add e.g. `{key} = {example}`")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(
            f"{where}.{key} = {value!r} has the wrong type; write e.g. `{key} = {example}`"
        )
    return value


def parse_config(
    data: dict[str, Any], source: str = "<config>", base_dir: Path = Path(".")
) -> RunConfig:
    """Validate a config mapping (as loaded from TOML) into a :class:`RunConfig`."""
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; allowed: {sorted(_SECTIONS)}")
    run = data.get("run", {})
    grid_t = data.get("grid", {})
    epochs = _need(run, "epochs", list, f"{source} [run]", "[2000, 2005, 2010, 2015, 2020]")
    if not epochs or not all(isinstance(e, int) and not isinstance(e, bool) for e in epochs):
        raise ConfigError(
            f"{source} [run].epochs = {epochs!r} must be a non-empty list of years (integers)"
        )
    if len(set(epochs)) != len(epochs):
        raise ConfigError(
            f"{source} [run].epochs = {epochs!r} repeats a year; list each epoch once"
        )
    bounds = _need(grid_t, "bounds", list, f"{source} [grid]", "[25, 25, 180, 84]")
    if len(bounds) != 4:
        raise ConfigError(f"{source} [grid].bounds = {bounds!r} must be [west, south, east, north]")
    if "res_arcsec" in grid_t:
        res = float(_need(grid_t, "res_arcsec", (int, float), f"{source} [grid]", "30")) / 3600.0
    else:
        res = float(_need(grid_t, "res", (int, float), f"{source} [grid]", "0.008333333333333333"))
    try:
        grid = Grid.from_bounds(tuple(bounds), res=res, crs=str(grid_t.get("crs", "EPSG:4326")))
    except ConfigError as exc:
        raise ConfigError(f"{source} [grid]: {exc}") from None
    tile = tuple(grid_t.get("tile", list(DEFAULT_TILE)))
    if len(tile) != 2 or not all(isinstance(t, int) and t > 0 for t in tile):
        raise ConfigError(
            f"{source} [grid].tile = {list(tile)!r} must be two positive integers, e.g. [512, 512]"
        )
    window_years = run.get("window_years", 9)
    if not isinstance(window_years, int) or window_years < 1 or window_years % 2 == 0:
        raise ConfigError(
            f"{source} [run].window_years = {window_years!r} must be an odd positive integer "
            "(a window centred on the epoch), e.g. 9"
        )
    change = dict(data.get("change", {}))
    unknown_change = sorted(set(change) - CHANGE_KEYS)
    if unknown_change:
        raise ConfigError(
            f"{source} [change] has unknown key(s) {unknown_change}; allowed: {sorted(CHANGE_KEYS)}"
        )
    scheduler = run.get("scheduler")
    if scheduler is not None and not isinstance(scheduler, str):
        raise ConfigError(
            f'{source} [run].scheduler = {scheduler!r} must be a string: "local" or a dask address '
            'such as "tcp://10.0.0.5:8786"'
        )
    out = Path(str(run.get("out", "out/run")))
    return RunConfig(
        out_dir=out if out.is_absolute() else base_dir / out,
        epochs=tuple(sorted(epochs)),
        grid=grid,
        window_years=window_years,
        random_state=int(run.get("seed", 0)),
        n_jobs=int(run.get("n_jobs", -1)),
        scheduler=scheduler,
        tile_shape=(int(tile[0]), int(tile[1])),
        covariates=dict(data.get("covariates", {"source": "demo"})),
        site_inputs=_site_inputs(data.get("sites", {"source": "demo"}), source),
        qc=dict(data.get("qc", {})),
        models=dict(data.get("models", {"profile": "demo"})),
        change=change,
        world=dict(data.get("world", {})),
        base_dir=base_dir,
    )


def _site_inputs(sites: dict[str, Any], source: str) -> tuple[dict[str, Any], ...]:
    """``[sites]`` → the list of site inputs: ``source = "demo"`` is the input ``{type = "demo"}``."""
    sites = dict(sites)
    kind = sites.pop("source", None)
    inputs = sites.pop("inputs", [])
    if sites:
        raise ConfigError(
            f"{source} [sites] has unknown key(s) {sorted(sites)}; allowed: source, inputs"
        )
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise ConfigError(
            f"{source} [sites].inputs must be [[sites.inputs]] tables, e.g. "
            '[[sites.inputs]] type = "gtnp", path = "boreholes.csv"'
        )
    if kind == "demo":
        return ({"type": "demo"}, *inputs)
    if kind is not None:
        raise ConfigError(
            f'{source} [sites].source = {kind!r} is unknown; use "demo" for the virtual world\'s '
            "sites, or drop it and list your files as [[sites.inputs]] tables"
        )
    return tuple(inputs)


def load_config(path: Path | str) -> RunConfig:
    """Read and validate a TOML run configuration; relative paths are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"config file {path} does not exist; pass the path of a TOML run config"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the line it names") from None
    return parse_config(data, source=str(path), base_dir=path.parent)


def demo_config(out_dir: Path | str = "out/demo") -> RunConfig:
    """The built-in configuration of the virtual world (``permamap demo``)."""
    text = files("permamap.demo").joinpath("demo.toml").read_text()
    cfg = parse_config(tomllib.loads(text), source="permamap/demo/demo.toml")
    return cfg.with_out_dir(Path(out_dir))
