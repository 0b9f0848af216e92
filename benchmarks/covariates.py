"""Benchmark of the covariate stage: one epoch of the full 30 arc-sec Eurasia stack.

``run()`` builds ``stack_<epoch>.tif`` for the default Grid (EPSG:4326, 1/120°, 25–84 °N ×
25–180 °E, 7,080 × 18,600 cells, 20 factors) from the virtual world through the same tiled stack
writer as real sources (:func:`permamap.covariates.stack.build_stack`), and reports the wall time
and the peak resident memory of the build, run in a fresh process (:func:`benchmarks.rss.measure`:
resident memory, which, unlike ``tracemalloc``, counts numpy and GDAL buffers, of that process
alone, whatever ran before it). Pass ``bounds`` for a sub-extent.

Run it with ``python -m benchmarks.covariates`` (``--bounds W S E N`` for a sub-extent).
It is CPU-heavy: the full extent takes a long time on a small machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.rss import measure
from permamap.contracts import DEFAULT_TILE

__all__ = ["run"]

EURASIA = (25.0, 25.0, 180.0, 84.0)


QUICK_BOUNDS = (100.0, 60.0, 108.0, 64.0)  # 960 x 480 cells at 30 arc-sec, central Siberia


def run(
    quick: bool = False,
    bounds: tuple[float, float, float, float] | None = None,
    res: float = 1 / 120,
    epoch: int = 2000,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    out_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build one epoch's stack from the virtual world and return the figures.

    Returns
    -------
    dict
        ``cells``, ``factors``, ``tiles``, ``seconds``, ``peak_rss_mb``, ``cells_per_second``,
        ``file_mb``, ``path``.
    """
    from permamap.grid import Grid

    grid = Grid.from_bounds(bounds or (QUICK_BOUNDS if quick else EURASIA), res)
    folder = (
        Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="permamap-bench-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    (path, n_factors), seconds, peak_mb = measure(
        _build, grid, epoch, folder / f"stack_{epoch}.tif", tile_shape, progress
    )
    cells = grid.height * grid.width
    return {
        "grid": grid.to_dict(),
        "cells": cells,
        "factors": n_factors,
        "tiles": grid.n_tiles(tile_shape),
        "seconds": round(seconds, 2),
        "cells_per_second": round(cells / seconds),
        "peak_rss_mb": peak_mb,
        "peak_rss_of": "the build's own process (fresh)",
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "path": str(path),
    }


def _build(
    grid: Any, epoch: int, path: Path, tile_shape: tuple[int, int], progress: bool
) -> tuple[Path, int]:
    """The stack build (in the child process of :func:`run`): ``(path, number of factors)``."""
    from permamap.covariates.stack import build_stack
    from permamap.demo.world import VirtualWorld

    world = VirtualWorld()
    built = build_stack(world, grid, epoch, path, tile_shape=tile_shape, progress=progress)
    return built, len(world.factor_names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bounds", nargs=4, type=float, default=EURASIA, metavar=("W", "S", "E", "N")
    )
    parser.add_argument("--epoch", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    figures = run(bounds=tuple(args.bounds), epoch=args.epoch, out_dir=args.out)
    print(json.dumps(figures, indent=2))
    print(
        f"covariates {args.epoch}: {figures['cells']:,} cells × {figures['factors']} factors in "
        f"{figures['seconds']:.1f} s, peak memory {figures['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
