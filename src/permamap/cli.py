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
from .errors import PermamapError

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
    ctx.obj = {"progress": not quiet}


def _run(cfg: Any, progress: bool) -> None:
    from .pipeline import run

    run(cfg, progress=progress, echo=click.echo)


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("out/demo"),
    show_default=True,
    help="Run folder to write.",
)
@click.pass_context
@_friendly
def demo(ctx: click.Context, out: Path) -> None:
    """Run the whole flow on the embedded virtual world (no downloads)."""
    from .config import demo_config

    _run(demo_config(out), ctx.obj["progress"])


@main.command("run")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Override [run].out.")
@click.pass_context
@_friendly
def run_cmd(ctx: click.Context, config: Path, out: Path | None) -> None:
    """Run the whole flow from a TOML CONFIG file."""
    from .config import load_config

    cfg = load_config(config)
    _run(cfg.with_out(out) if out else cfg, ctx.obj["progress"])


@main.command()
@click.argument("config", type=click.Path(path_type=Path), required=False)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Override [run].out.")
@click.pass_context
@_friendly
def sites(ctx: click.Context, config: Path | None, out: Path | None) -> None:
    """Run the covariate and site stages only and print kept/dropped sites by source and rule."""
    from .config import demo_config, load_config
    from .pipeline import covariate_source, covariate_stage, site_stage
    from .sites import summarize

    cfg = load_config(config) if config else demo_config()
    if out:
        cfg = cfg.with_out(out)
    stacks = covariate_stage(cfg, covariate_source(cfg), ctx.obj["progress"])
    table, report, _ = site_stage(cfg, stacks)
    click.echo(summarize(table, report).to_string())


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
