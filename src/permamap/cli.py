"""The ``permamap`` command: a thin layer over the pipeline's functions."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ConfigError, PermamapError

log = logging.getLogger("permamap")


def _friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn permamap's own errors into one line on stderr and exit code 2 (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PermamapError as exc:
            click.echo(f"permamap: error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="permamap")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Map permafrost and its change at continental scale with machine learning."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(message)s" if verbose == 0 else "%(levelname)s %(name)s: %(message)s"
    )
    if verbose == 0:
        for noisy in ("rasterio", "matplotlib", "PIL", "distributed", "fiona", "pyogrio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = {"progress": not quiet, "verbose": verbose > 0}


def _run(cfg: Any, obj: dict[str, Any], overwrite: bool) -> None:
    from .pipeline import run

    run(cfg, progress=obj["progress"], echo=click.echo, overwrite=overwrite, verbose=obj["verbose"])


def _overwrite_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--overwrite",
        is_flag=True,
        help="Delete another config's results in the run folder first (a folder holding this "
        "config's run is continued without it).",
    )(func)


def _compute_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--scheduler",
        default=None,
        help='Predict tiles on dask.distributed: "local" (a LocalCluster) or a scheduler address '
        "(tcp://host:8786; workers must see the same paths). Default: a local pool.",
    )(func)
    return click.option(
        "--jobs", "n_jobs", type=int, default=None,
        help="Workers (default: [run].n_jobs, -1 = all cores).",
    )(func)  # fmt: skip


def _config(
    config: Path | None, out: Path | None, n_jobs: int | None, scheduler: str | None
) -> Any:
    from .config import demo_config, load_config

    cfg = load_config(config) if config else demo_config()
    if out:
        cfg = cfg.with_out_dir(out)
    return cfg.with_compute(n_jobs, scheduler)


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("out/demo"),
    show_default=True,
    help="Run folder to write.",
)
@_compute_options
@_overwrite_option
@click.pass_context
@_friendly
def demo(
    ctx: click.Context, out: Path, n_jobs: int | None, scheduler: str | None, overwrite: bool
) -> None:
    """Run the whole flow on the embedded virtual world (no downloads)."""
    _run(_config(None, out, n_jobs, scheduler), ctx.obj, overwrite)


@main.command("run")
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Run folder (overrides [run].out)."
)
@_compute_options
@_overwrite_option
@click.pass_context
@_friendly
def run_cmd(
    ctx: click.Context,
    config: Path,
    out: Path | None,
    n_jobs: int | None,
    scheduler: str | None,
    overwrite: bool,
) -> None:
    """Check every input, then run the whole flow from a TOML CONFIG file."""
    _run(_config(config, out, n_jobs, scheduler), ctx.obj, overwrite)


@main.command("check")
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Run folder (overrides [run].out)."
)
@_compute_options
@_overwrite_option
@_friendly
def check_cmd(
    config: Path | None,
    out: Path | None,
    n_jobs: int | None,
    scheduler: str | None,
    overwrite: bool,
) -> None:
    """Validate CONFIG (the demo's by default), open every input and print the plan; write nothing.

    Exit code 0 when the run can start, 2 with one line naming the problem otherwise.
    """
    from .plan import check_run

    plan = check_run(_config(config, out, n_jobs, scheduler), overwrite=overwrite)
    click.echo(plan.text())
    click.echo("ok: every input opens; `permamap run` would start with this plan")


@main.command("map")
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Run folder (overrides [run].out)."
)
@click.option("--dry-run", is_flag=True, help="Only print cells, tiles, time, memory and disk.")
@_compute_options
@click.pass_context
@_friendly
def map_cmd(
    ctx: click.Context,
    config: Path | None,
    out: Path | None,
    dry_run: bool,
    n_jobs: int | None,
    scheduler: str | None,
) -> None:
    """Predict the maps again from a run folder's trained model and stacks (the demo's by default).

    Resumable: an interrupted run computes only the tiles it lacks.
    """
    from .cluster import compute_cluster
    from .runfolder import read_record
    from .stages import load_trained, map_dry_run, map_stage

    cfg = _config(config, out, n_jobs, scheduler)
    record = read_record(cfg.layout)
    if record is not None and record.get("config_sha256") != cfg.fingerprint:
        raise ConfigError(
            f"run folder {cfg.layout.root} holds the results of another config "
            f"({record.get('config', '?')}); pass the config that made it, or another --out"
        )
    trained = load_trained(cfg)
    stacks = {e: cfg.layout.stack(e) for e in cfg.epochs}
    if dry_run:
        click.echo(map_dry_run(cfg, trained, stacks))
        return
    with compute_cluster(cfg.scheduler, cfg.n_jobs, verbose=ctx.obj["verbose"]) as address:
        maps = map_stage(
            cfg.with_compute(scheduler=address),
            trained,
            stacks,
            progress=ctx.obj["progress"],
            virtual=cfg.is_demo,
        )
    for path in maps.values():
        click.echo(str(path))


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Run folder (overrides [run].out)."
)
@click.pass_context
@_friendly
def sites(ctx: click.Context, config: Path | None, out: Path | None) -> None:
    """Run the covariate and site stages only and print kept/dropped sites by source and rule."""
    from .plan import check_run
    from .runfolder import claim, mark
    from .sites import summarize
    from .stages import covariate_source, covariate_stage, site_stage, write_site_outputs

    cfg = _config(config, out, None, None)
    check_run(cfg)
    claim(cfg.layout, cfg.fingerprint, config=cfg.source)
    source = covariate_source(cfg)
    stacks = covariate_stage(cfg, source, ctx.obj["progress"])
    result = site_stage(cfg, stacks, source)
    write_site_outputs(cfg.layout, result)
    mark(cfg.layout, "complete up to sites", stage="sites")
    click.echo(summarize(result.sites, result.qc_report).to_string())


@main.command()
@click.argument("tif", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "png",
    type=click.Path(path_type=Path),
    default=None,
    help="PNG to write (default: beside the GeoTIFF).",
)
@click.option("--band", default=1, show_default=True, help="Band to show.")
@_friendly
def show(tif: Path, png: Path | None, band: int) -> None:
    """Write a quick PNG of any permamap GeoTIFF (maps, change maps, stacks)."""
    from .report import show as show_png

    click.echo(str(show_png(tif, png, band=band)))


if __name__ == "__main__":  # pragma: no cover
    main()
