"""Lost, stable and gained permafrost per zone, from a change map against the baseline epoch.

The zones are those of the historical area tables (:mod:`permamap.change.areas`): the total,
latitude bands, elevation zones (from the stack's ``elevation`` band) and the user's regions, with
exact WGS84 cell areas. ``lost`` is baseline permafrost that the projection no longer maps
(change code 2, *degraded*), ``gained`` the reverse (code 3, *aggraded*), ``stable`` permafrost
in both (code 1); ``baseline_extent_km2 = stable + lost`` and ``extent_km2 = stable + gained``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from ..change.areas import (
    DEFAULT_ELEVATION_EDGES_M,
    _cell_lat,
    _lat_band_labels,
    _open_elevation,
    _read_elevation,
    _zone_index,
    _zone_labels,
    check_area_options,
    latitude_band_edges,
)
from ..change.maps import iter_tiles, reading
from ..change.regions import load_regions, region_masks
from ..contracts import DEFAULT_TILE
from ..grid import Grid

__all__ = ["ZONE_COLUMNS", "change_by_zone", "code_areas"]

ZONE_COLUMNS = (
    "zone_kind",
    "zone",
    "baseline_extent_km2",
    "extent_km2",
    "lost_km2",
    "stable_km2",
    "gained_km2",
)


def code_areas(
    codes: np.ndarray, area_km2: np.ndarray, zone: np.ndarray, n_zones: int
) -> np.ndarray:
    """Area per zone of change codes 1 (stable), 2 (lost) and 3 (gained), ``(n_zones, 3)`` km².

    Cells with a negative zone or another code are left out.

    >>> code_areas(np.array([1, 2, 3, 0, 255]), np.ones(5), np.array([0, 0, 1, 1, 1]), 2).tolist()
    [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    a = np.where(np.isfinite(area_km2), area_km2, 0.0).astype(np.float64)
    out = np.zeros((n_zones, 3))
    keep = zone >= 0
    for j, code in enumerate((1, 2, 3)):
        sel = keep & (codes == code)
        out[:, j] = np.bincount(zone[sel].astype(np.int64), weights=a[sel], minlength=n_zones)[
            :n_zones
        ]
    return out


def change_by_zone(
    change_map: Path,
    grid: Grid,
    *,
    elevation: Path | None = None,
    regions: Path | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] | None = None,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
) -> pd.DataFrame:
    """Lost / stable / gained km² per zone of a change map (:data:`ZONE_COLUMNS`)."""
    edges_m = check_area_options(
        lat_band_deg, DEFAULT_ELEVATION_EDGES_M if elevation_edges_m is None else elevation_edges_m
    )
    lat_edges = latitude_band_edges(grid, lat_band_deg)
    lat_labels = _lat_band_labels(lat_edges)
    elev_labels = [*_zone_labels(edges_m, "m"), "no data"]
    reg = load_regions(Path(regions), grid, region_name_column) if regions is not None else None
    acc = {
        "total": np.zeros((1, 3)),
        "latitude": np.zeros((len(lat_labels), 3)),
        "elevation": np.zeros((len(elev_labels), 3)),
        "region": np.zeros((len(reg.names) if reg else 0, 3)),
    }
    with ExitStack() as stack:
        src = stack.enter_context(rasterio.open(change_map))
        elev = None
        if elevation is not None:
            elev = _open_elevation(Path(elevation), grid)
            stack.enter_context(elev[0])
        for w in iter_tiles(grid, tile_shape, False, "zones"):
            with reading(Path(change_map), "change map", "run the projection again"):
                codes = src.read(1, window=w)
            area = grid.cell_area_km2(w)
            zero = np.zeros(codes.shape, dtype=np.int64)
            acc["total"] += code_areas(codes, area, zero, 1)
            lat_idx = np.clip(
                np.searchsorted(np.asarray(lat_edges), _cell_lat(grid, w), side="right") - 1,
                0,
                len(lat_labels) - 1,
            )
            acc["latitude"] += code_areas(codes, area, lat_idx, len(lat_labels))
            if elev is not None:
                values = _read_elevation(elev[0], elev[1], w)
                idx = np.where(np.isnan(values), len(elev_labels) - 1, _zone_index(values, edges_m))
                acc["elevation"] += code_areas(codes, area, idx, len(elev_labels))
            for i, mask in region_masks(reg, grid, w) if reg is not None else ():
                acc["region"][i] += code_areas(codes, area, mask.astype(np.int64) - 1, 1)[0]
    labels = {
        "total": ["all"],
        "latitude": lat_labels,
        "elevation": elev_labels if elev is not None else [],
        "region": reg.names if reg is not None else [],
    }
    rows = []
    for kind, names in labels.items():
        if not names:  # no elevation band, no regions
            continue
        for name, (stable, lost, gained) in zip(names, acc[kind], strict=True):
            rows.append(
                {
                    "zone_kind": kind,
                    "zone": name,
                    "baseline_extent_km2": stable + lost,
                    "extent_km2": stable + gained,
                    "lost_km2": lost,
                    "stable_km2": stable,
                    "gained_km2": gained,
                }
            )
    return pd.DataFrame(rows, columns=list(ZONE_COLUMNS))
