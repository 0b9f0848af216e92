"""User regions: polygons read once, put in the grid CRS and rasterised window by window.

A cell belongs to a region when its centre is inside; regions may overlap. Names come from a
column (``name`` by default, else the first text column, else ``region_<n>``) and are made unique.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from ..errors import ConfigError, DataError, InputFileError
from ..grid import Grid
from ..keys import did_you_mean
from .maps import one_line

__all__: list[str] = []  # used inside permamap.change only

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Regions:
    """Named polygons in the grid CRS."""

    names: list[str]
    geometries: list[Any]  # shapely geometries in the grid CRS
    bounds: np.ndarray  # (n, 4) west, south, east, north


def name_column_message(path: Path, name_column: str, columns: Sequence[str]) -> str:
    """The one-line message for a region name column that is not in the file."""
    return (
        f"[change] region_name_column = {name_column!r} is not a column of {path}"
        f"{did_you_mean(name_column, columns)}; its columns are {list(columns)}: pick one of them "
        "or leave region_name_column unset (then `name`, else the first text column)"
    )


def load_regions(path: Path, grid: Grid, name_column: str | None = None) -> Regions:
    """Read user polygons (GeoPackage, GeoJSON, anything OGR reads) and put them in the grid CRS."""
    import geopandas as gpd
    import shapely

    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"regions file {path} does not exist; give a GeoPackage or GeoJSON of polygons or "
            "leave regions unset"
        )
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends; keep the message
        raise InputFileError(
            f"regions file {path} cannot be read ({one_line(exc)}); give a GeoPackage, GeoJSON "
            "or shapefile of polygons (re-export it if it was cut short), or leave regions unset"
        ) from exc
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        raise InputFileError(
            f"regions file {path} has no polygons; add at least one polygon, or leave regions "
            "unset to skip per-region statistics"
        )
    kinds = set(gdf.geom_type)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DataError(
            f"regions file {path} holds {sorted(kinds)} geometries; regions must be Polygon or "
            "MultiPolygon (buffer points or lines first if you mean an area around them)"
        )
    if gdf.crs is None:
        raise InputFileError(
            f"regions file {path} has no CRS; set one (e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg "
            f"{path.name}`) so the polygons can be placed on the grid"
        )
    gdf = gdf.to_crs(grid.crs)
    if name_column is None:
        if "name" in gdf.columns:
            name_column = "name"
        else:
            text = [c for c in gdf.columns if c != gdf.geometry.name and gdf[c].dtype == object]
            name_column = text[0] if text else None
    if name_column is not None and name_column not in gdf.columns:
        raise ConfigError(
            name_column_message(
                path, name_column, [c for c in gdf.columns if c != gdf.geometry.name]
            )
        )
    if name_column is None:
        names = [f"region_{i + 1}" for i in range(len(gdf))]
    else:
        names = [str(v) for v in gdf[name_column]]
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    geoms = [shapely.make_valid(g) for g in gdf.geometry]
    bounds = np.array([g.bounds for g in geoms], dtype=np.float64).reshape(-1, 4)
    gw, gs, ge, gn = grid.bounds
    for name, (w, s, e, n) in zip(unique, bounds, strict=True):
        if w >= ge or e <= gw or s >= gn or n <= gs:
            logger.warning("region %r lies outside the grid %s; its areas are 0", name, grid.bounds)
        elif w < gw or e > ge or s < gs or n > gn:
            logger.warning(
                "region %r extends beyond the grid %s; only the part on the grid is counted",
                name,
                grid.bounds,
            )
    return Regions(names=unique, geometries=geoms, bounds=bounds)


def region_masks(regions: Regions, grid: Grid, window: Window) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(region index, mask of cells whose centre is inside)`` for regions on ``window``."""
    from rasterio.features import rasterize

    transform = grid.window_transform(window)
    w = transform.c
    n = transform.f
    e = w + transform.a * int(window.width)
    s = n + transform.e * int(window.height)
    shape = (int(window.height), int(window.width))
    for i, (rw, rs, re_, rn) in enumerate(regions.bounds):
        if rw >= e or re_ <= w or rs >= n or rn <= s:
            continue
        mask = rasterize(
            [(regions.geometries[i], 1)],
            out_shape=shape,
            transform=transform,
            fill=0,
            dtype="uint8",
            all_touched=False,
        ).astype(bool)
        if mask.any():
            yield i, mask
