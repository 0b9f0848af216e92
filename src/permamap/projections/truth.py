"""A projection against the future it projects, where the source knows it (the virtual world).

The true map of a scenario and period (the world's ground rule under the GCM-mean climate,
:meth:`permamap.demo.futures.VirtualFutures.truth`) is streamed to
``truth/future/permafrost_truth_<s>_<p>.tif`` and compared with the projection by
:func:`permamap.demo.truthcheck.truth_check`: the true extent over the mapped cells and the
area-weighted share of the mapped land whose projected class is the true one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rasterio
from tqdm.auto import tqdm

from ..contracts import DEFAULT_TILE, TRUTH_NODATA
from ..demo.truthcheck import truth_check
from ..fileio import open_tiled, scratch_path, to_cog
from ..grid import Grid

__all__ = ["future_truth"]


def _current(path: Path, tags: dict[str, str]) -> bool:
    if not path.is_file():
        return False
    try:
        with rasterio.open(path) as ds:
            have = ds.tags()
    except rasterio.errors.RasterioIOError:
        return False
    return all(have.get(k) == v for k, v in tags.items())


def future_truth(
    source: Any,
    scenario: str,
    period: str,
    projection: Path,
    grid: Grid,
    out: Path,
    *,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, float]:
    """Write the true map of ``scenario`` × ``period``; return ``true_extent_km2``, ``truth_agreement``.

    A true map already at ``out`` with the same scenario, period and source tags is reused.
    """
    tags = {
        "scenario": scenario,
        "period": period,
        "rule": "TTOP < 0 degC under the GCM-mean climate (virtual world)",
        "source": str(source.name),
        **(extra_tags or {}),
    }
    if not _current(out, tags):
        out.parent.mkdir(parents=True, exist_ok=True)
        with scratch_path(out) as work:
            with open_tiled(work, grid, 1, "uint8", TRUTH_NODATA, ["class"], tags=tags) as ds:
                for w in tqdm(
                    list(grid.tiles(tile_shape)),
                    desc=f"truth {scenario} {period}",
                    unit="tile",
                    disable=not progress,
                ):
                    ds.write(source.truth(grid, scenario, period, w)[None], window=w)
            to_cog(work, out)
    key = f"{scenario} {period}"
    check = truth_check({key: projection}, {key: out}, grid, tile_shape)  # type: ignore[dict-item]
    return {
        "true_extent_km2": float(check.true_extent_km2[key]),
        "truth_agreement": float(check.agreement[key]),
    }
