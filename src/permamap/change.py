"""Area statistics per epoch, change between epochs and comparison with a reference map.

This module owns the numbers that people quote from a permamap run, so it is strict about two
things the literature often gets wrong:

* **Area, not cell counts.** Every sum is in km² with exact cell areas on the WGS84 ellipsoid
  (:meth:`permamap.grid.Grid.cell_area_km2`); a cell at 80 °N counts about a third of one at 25 °N.
* **Region versus area.** Three different "how much permafrost" figures are kept apart by name:

  ``permafrost_region_km2``
      area of the cells with any permafrost (probability ≥ 1 %) — the "permafrost region"
      (Obu et al. 2021: ≈ 21 M km² in the Northern Hemisphere);
  ``permafrost_extent_km2``
      area of the cells classed as permafrost (band ``class`` = 1);
  ``probability_weighted_km2``
      Σ probability × cell area — the area actually underlain by permafrost (≈ 14 M km²).

The maths lives in small pure functions on arrays (:func:`area_sums`, :func:`change_classes`,
:func:`transition_area`, :func:`confusion_area`, :func:`agreement_stats`); the I/O functions
(:func:`area_by_epoch`, :func:`transitions`, :func:`compare_with_reference`,
:func:`run_change_stage`) loop over :meth:`Grid.tiles` windows, so a continental
7,080 × 18,600 map is never held in memory at once. Outputs are written atomically (temporary
file, then :func:`os.replace`).

Change classes (``change_<a>_<b>.tif``, uint8, 255 = no data in either epoch):

====  ======================  ================
code  name                    class a → b
====  ======================  ================
0     stable non-permafrost   0 → 0
1     stable permafrost       1 → 1
2     degraded                1 → 0
3     aggregated              0 → 1
====  ======================  ================
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.windows import Window

from .errors import ConfigError, DataError, GridMismatchError, InputFileError
from .grid import Grid

__all__ = [
    "AREA_COLUMNS",
    "CHANGE_CODES",
    "CHANGE_NODATA",
    "CLASS_NODATA",
    "DEFAULT_ELEVATION_EDGES_M",
    "IPA_ZONE_PERCENT",
    "agreement_stats",
    "area_by_epoch",
    "area_sums",
    "change_classes",
    "compare_with_reference",
    "confusion_area",
    "find_maps",
    "resample_reference",
    "run_change_stage",
    "transition_area",
    "transitions",
]

logger = logging.getLogger(__name__)

CLASS_NODATA = 255
"""No-data value of the ``class`` and ``probability`` bands of a map (docs/contracts.md)."""

CHANGE_NODATA = 255
"""No-data value of a change map: no data in either epoch."""

CHANGE_CODES: dict[int, str] = {
    0: "stable non-permafrost",
    1: "stable permafrost",
    2: "degraded",
    3: "aggregated",
}
"""Code → name of the change classes; see the module docstring."""

AREA_COLUMNS: tuple[str, ...] = (
    "cell_km2",
    "land_km2",
    "permafrost_region_km2",
    "permafrost_extent_km2",
    "probability_weighted_km2",
)
"""The area figures summed per zone, in this order (see :func:`area_sums`)."""

DEFAULT_ELEVATION_EDGES_M: tuple[float, ...] = (0.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0)
"""Inner edges of the elevation zones, m; zones are open below the first and above the last."""

IPA_ZONE_PERCENT: dict[int, float] = {0: 0.0, 1: 95.0, 2: 70.0, 3: 30.0, 4: 5.0}
"""Zone code → permafrost percent for a zone raster: 0 none, 1 continuous (90–100 %),
2 discontinuous (50–90 %), 3 sporadic (10–50 %), 4 isolated patches (0–10 %); the middle of each
range (Brown et al. 1997 / IPA zones, the same classes as Obu et al. 2019)."""

_CLASS_NAMES = ("non-permafrost", "permafrost", "nodata")  # index = class code, 2 = no data
_DEFAULT_TILE = (1024, 1024)
_MAP_RE = re.compile(r"^permafrost_(\d{4})\.tif$")


# ================================================================================================
# Pure maths on arrays
# ================================================================================================
def area_sums(
    cls: np.ndarray,
    prob: np.ndarray,
    cell_area_km2: np.ndarray,
    zone: np.ndarray | None = None,
    n_zones: int = 1,
) -> np.ndarray:
    """Sum the area figures of :data:`AREA_COLUMNS` per zone, in km².

    Parameters
    ----------
    cls : ndarray of uint8, shape (rows, cols)
        Class band: 1 permafrost, 0 not, :data:`CLASS_NODATA` no data.
    prob : ndarray of uint8, shape (rows, cols)
        Probability band in percent (0–100), :data:`CLASS_NODATA` no data.
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².
    zone : ndarray of int, shape (rows, cols), optional
        Zone index of each cell in ``[0, n_zones)``; cells with a negative index are left out.
        All cells are zone 0 when omitted.
    n_zones : int
        Number of zones.

    Returns
    -------
    ndarray of float, shape (n_zones, 5)
        Columns ``cell_km2`` (every cell), ``land_km2`` (cells with a class),
        ``permafrost_region_km2`` (probability ≥ 1 %), ``permafrost_extent_km2`` (class 1) and
        ``probability_weighted_km2`` (Σ probability/100 × area).

    Examples
    --------
    >>> cls = np.array([[1, 0, 255]], dtype=np.uint8)
    >>> prob = np.array([[80, 30, 255]], dtype=np.uint8)
    >>> area_sums(cls, prob, np.array([[10.0, 10.0, 10.0]])).round(1).tolist()
    [[30.0, 20.0, 20.0, 10.0, 11.0]]
    """
    cls = np.asarray(cls)
    prob = np.asarray(prob)
    area = np.asarray(cell_area_km2, dtype=np.float64)
    if not (cls.shape == prob.shape == area.shape):
        raise DataError(
            f"class {cls.shape}, probability {prob.shape} and cell-area {area.shape} arrays differ "
            "in shape; pass blocks read with the same window"
        )
    if zone is None:
        zone = np.zeros(cls.shape, dtype=np.int64)
    zone = np.asarray(zone)
    keep = zone >= 0
    z = zone[keep].astype(np.int64, copy=False)
    a = area[keep]
    c = cls[keep]
    p = prob[keep]
    land = c != CLASS_NODATA
    prob_ok = p != CLASS_NODATA
    weights = (
        a,
        np.where(land, a, 0.0),
        np.where(prob_ok & (p > 0), a, 0.0),
        np.where(c == 1, a, 0.0),
        np.where(prob_ok, a * (p.astype(np.float64) / 100.0), 0.0),
    )
    out = np.empty((n_zones, len(weights)))
    for j, w in enumerate(weights):
        out[:, j] = np.bincount(z, weights=w, minlength=n_zones)[:n_zones]
    return out


def change_classes(cls_a: np.ndarray, cls_b: np.ndarray) -> np.ndarray:
    """Change class of each cell between two class maps (see :data:`CHANGE_CODES`).

    Parameters
    ----------
    cls_a, cls_b : ndarray of uint8
        Class bands of the earlier and the later epoch (1, 0 or :data:`CLASS_NODATA`).

    Returns
    -------
    ndarray of uint8
        0 stable non-permafrost, 1 stable permafrost, 2 degraded, 3 aggregated,
        :data:`CHANGE_NODATA` where either epoch has no data.

    Examples
    --------
    >>> change_classes(np.array([0, 1, 1, 0, 255], np.uint8), np.array([0, 1, 0, 1, 1], np.uint8))
    array([  0,   1,   2,   3, 255], dtype=uint8)
    """
    a = np.asarray(cls_a)
    b = np.asarray(cls_b)
    out = np.full(np.broadcast_shapes(a.shape, b.shape), CHANGE_NODATA, dtype=np.uint8)
    out[(a == 0) & (b == 0)] = 0
    out[(a == 1) & (b == 1)] = 1
    out[(a == 1) & (b == 0)] = 2
    out[(a == 0) & (b == 1)] = 3
    return out


def _class_index(cls: np.ndarray) -> np.ndarray:
    """0 non-permafrost, 1 permafrost, 2 no data (anything else)."""
    idx = np.full(cls.shape, 2, dtype=np.int64)
    idx[cls == 0] = 0
    idx[cls == 1] = 1
    return idx


def transition_area(cls_a: np.ndarray, cls_b: np.ndarray, cell_area_km2: np.ndarray) -> np.ndarray:
    """Area in km² of each (class a, class b) transition.

    Parameters
    ----------
    cls_a, cls_b : ndarray of uint8, shape (rows, cols)
        Class bands of the earlier and the later epoch.
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².

    Returns
    -------
    ndarray of float, shape (3, 3)
        ``out[i, j]`` = area that was class ``i`` in epoch a and class ``j`` in epoch b, with
        0 non-permafrost, 1 permafrost, 2 no data. Rows add up to each class's area in epoch a,
        columns to epoch b's: stable + degraded (+ to-no-data) = earlier permafrost extent.

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], np.uint8); b = np.array([[1, 0, 1]], np.uint8)
    >>> transition_area(a, b, np.ones((1, 3)))[:2, :2].tolist()
    [[0.0, 1.0], [1.0, 1.0]]
    """
    a = _class_index(np.asarray(cls_a))
    b = _class_index(np.asarray(cls_b))
    area = np.asarray(cell_area_km2, dtype=np.float64)
    if not (a.shape == b.shape == area.shape):
        raise DataError(
            f"class arrays {a.shape} and {b.shape} and cell areas {area.shape} differ in shape; "
            "read both epochs with the same window"
        )
    flat = (a * 3 + b).ravel()
    return np.bincount(flat, weights=area.ravel(), minlength=9).reshape(3, 3)


def confusion_area(
    map_cls: np.ndarray,
    ref_cls: np.ndarray,
    cell_area_km2: np.ndarray,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Confusion table in km² between a map and a reference, on cells valid in both.

    Parameters
    ----------
    map_cls, ref_cls : ndarray of uint8, shape (rows, cols)
        Class bands (1 permafrost, 0 not, anything else no data).
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².
    inside : ndarray of bool, optional
        Only count these cells (e.g. inside the area of applicability).

    Returns
    -------
    ndarray of float, shape (2, 2)
        ``out[i, j]`` = area with map class ``i`` and reference class ``j``.
    """
    t = transition_area(
        map_cls,
        ref_cls,
        np.where(inside, cell_area_km2, 0.0) if inside is not None else cell_area_km2,
    )
    return t[:2, :2]


def agreement_stats(confusion_km2: np.ndarray) -> dict[str, float | None]:
    """Area-weighted agreement, Cohen's kappa and extents from a 2 × 2 confusion table in km².

    Parameters
    ----------
    confusion_km2 : ndarray of float, shape (2, 2)
        ``[map class, reference class]`` areas, 0 non-permafrost, 1 permafrost.

    Returns
    -------
    dict
        ``compared_km2``, ``overall_agreement`` (fraction of the compared area),
        ``kappa`` (``None`` when undefined: one class only in both), ``map_extent_km2``,
        ``reference_extent_km2``, ``extent_difference_km2`` (map − reference),
        ``omission_km2`` (reference permafrost the map misses), ``commission_km2``.

    Examples
    --------
    >>> agreement_stats(np.array([[3.0, 0.0], [0.0, 1.0]]))["kappa"]
    1.0
    """
    cm = np.asarray(confusion_km2, dtype=np.float64)
    if cm.shape != (2, 2) or not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise DataError(
            f"confusion table {cm.tolist()} must be a 2 × 2 table of non-negative areas; "
            "build it with confusion_area()"
        )
    total = float(cm.sum())
    map_pf = float(cm[1, :].sum())
    ref_pf = float(cm[:, 1].sum())
    out: dict[str, float | None] = {
        "compared_km2": total,
        "overall_agreement": None,
        "kappa": None,
        "map_extent_km2": map_pf,
        "reference_extent_km2": ref_pf,
        "extent_difference_km2": map_pf - ref_pf,
        "omission_km2": float(cm[0, 1]),
        "commission_km2": float(cm[1, 0]),
    }
    if total <= 0:
        return out
    po = float(cm[0, 0] + cm[1, 1]) / total
    pe = (map_pf * ref_pf + (total - map_pf) * (total - ref_pf)) / total**2
    out["overall_agreement"] = po
    if pe < 1.0 - 1e-12:
        out["kappa"] = (po - pe) / (1.0 - pe)
    return out


def _zone_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Index of the zone of each value: 0 below ``edges[0]`` … ``len(edges)`` above the last."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")


def _zone_labels(edges: Sequence[float], unit: str) -> list[str]:
    e = [f"{v:g}" for v in edges]
    labels = [f"< {e[0]} {unit}"]
    labels += [f"{lo}–{hi} {unit}" for lo, hi in itertools.pairwise(e)]
    labels.append(f"≥ {e[-1]} {unit}")
    return labels


def _lat_band_edges(south: float, north: float, band_deg: float) -> list[float]:
    lo = math.floor(south / band_deg) * band_deg
    hi = math.ceil(north / band_deg) * band_deg
    n = max(1, round((hi - lo) / band_deg))
    return [lo + i * band_deg for i in range(n + 1)]


def _lat_band_labels(edges: Sequence[float]) -> list[str]:
    def fmt(v: float) -> str:
        return f"{abs(v):g}°{'N' if v >= 0 else 'S'}"

    return [f"{fmt(lo)}–{fmt(hi)}" for lo, hi in itertools.pairwise(edges)]


# ================================================================================================
# Reading and writing
# ================================================================================================
def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_target(path)
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def find_maps(maps_dir: Path) -> dict[int, Path]:
    """Epoch → path of the ``permafrost_<year>.tif`` maps in a folder, sorted by epoch.

    Raises
    ------
    InputFileError
        If the folder does not exist or holds no map.
    """
    maps_dir = Path(maps_dir)
    if not maps_dir.is_dir():
        raise InputFileError(
            f"map folder {maps_dir} does not exist; run the predict stage first or give the "
            "folder that holds permafrost_<year>.tif"
        )
    found = {
        int(m.group(1)): p for p in maps_dir.iterdir() if (m := _MAP_RE.match(p.name)) is not None
    }
    if not found:
        raise InputFileError(f"no permafrost_<year>.tif in {maps_dir}; run the predict stage first")
    return dict(sorted(found.items()))


def _band_by_description(src: Any, name: str) -> int | None:
    for i, desc in enumerate(src.descriptions, start=1):
        if desc is not None and desc.strip().lower() == name:
            return i
    return None


@dataclass(frozen=True)
class _MapBands:
    """Band indexes of an opened permamap map."""

    cls: int
    prob: int | None
    aoa: int | None


def _check_on_grid(src: Any, grid: Grid, path: Path, what: str) -> None:
    if not grid.matches(src.crs, src.transform, (src.height, src.width)):
        raise GridMismatchError(
            f"{what} {path} is not on the run's grid: it has CRS {src.crs}, shape "
            f"{(src.height, src.width)}, origin ({src.transform.c:g}, {src.transform.f:g}) and "
            f"pixel {src.transform.a:g}, but the grid has CRS {grid.crs}, shape {grid.shape}, "
            f"origin ({grid.west:g}, {grid.north:g}) and pixel {grid.res:g}; "
            "rebuild it on the same Grid (or pass the Grid the maps were made on)"
        )


def _map_bands(src: Any, path: Path) -> _MapBands:
    cls = _band_by_description(src, "class") or 1
    prob = _band_by_description(src, "probability")
    if prob is None and src.count >= 2 and _band_by_description(src, "class") is None:
        prob = 2  # contract order when descriptions are missing
    aoa = _band_by_description(src, "aoa")
    if src.dtypes[cls - 1] != "uint8":
        raise DataError(
            f"band {cls} (class) of {path} is {src.dtypes[cls - 1]}, but maps store classes as "
            "uint8 (1 permafrost, 0 not, 255 no data); write it with the predict stage"
        )
    return _MapBands(cls=cls, prob=prob, aoa=aoa)


def _open_map(path: Path, grid: Grid, epoch: int | str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"map for epoch {epoch} not found at {path}; run the predict stage for that epoch "
            "or drop it from the epochs"
        )
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(
            f"map {path} cannot be read ({exc}); re-run the predict stage"
        ) from exc
    _check_on_grid(src, grid, path, f"map for epoch {epoch}")
    return src


def _read_class(src: Any, band: int, window: Window, path: Path) -> np.ndarray:
    arr = src.read(band, window=window)
    bad = (arr != 0) & (arr != 1) & (arr != CLASS_NODATA)
    if bad.any():
        raise DataError(
            f"class band of {path} holds value {int(arr[bad][0])} in window {_wstr(window)}; "
            "classes must be 0 (not permafrost), 1 (permafrost) or 255 (no data)"
        )
    return arr


def _read_prob(
    src: Any, band: int | None, cls: np.ndarray, window: Window, path: Path
) -> np.ndarray:
    if band is None:
        # No probability band: the class is the best estimate (0 % or 100 %).
        return np.where(cls == CLASS_NODATA, CLASS_NODATA, cls * 100).astype(np.uint8)
    arr = src.read(band, window=window)
    bad = (arr > 100) & (arr != CLASS_NODATA)
    if bad.any():
        raise DataError(
            f"probability band of {path} holds value {int(arr[bad][0])} in window "
            f"{_wstr(window)}; probabilities are percent 0–100 with 255 as no data"
        )
    return arr


def _wstr(w: Window) -> str:
    return f"(row {int(w.row_off)}, col {int(w.col_off)}, {int(w.height)} × {int(w.width)})"


def _cell_lat(grid: Grid, window: Window) -> np.ndarray:
    """Latitude of each cell centre of ``window``, shape (rows, cols)."""
    rows, cols = int(window.height), int(window.width)
    if grid.is_geographic:
        return np.broadcast_to(grid.lat_centers(window)[:, None], (rows, cols))
    from pyproj import Transformer

    lon, lat = np.meshgrid(grid.lon_centers(window), grid.lat_centers(window))
    tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    return tr.transform(lon, lat)[1]


def _version() -> str:
    from . import __version__

    return __version__


@contextmanager
def _atomic_raster(path: Path) -> Iterator[Path]:
    """Yield a temporary path in the target folder; move it onto ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_target(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_cog(
    path: Path,
    grid: Grid,
    blocks: Iterator[tuple[Window, np.ndarray]],
    *,
    count: int,
    descriptions: Sequence[str],
    tags: Mapping[str, str],
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
) -> Path:
    """Write ``(window, (band, rows, cols) uint8 block)`` pairs into a uint8 COG, atomically."""
    with _atomic_raster(path) as final_tmp:
        stage = _atomic_target(path)
        try:
            profile = {
                "driver": "GTiff",
                "dtype": "uint8",
                "count": count,
                "height": grid.height,
                "width": grid.width,
                "crs": grid.crs,
                "transform": grid.transform,
                "nodata": CLASS_NODATA,
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
                "compress": "deflate",
                "BIGTIFF": "IF_SAFER",
            }
            with rasterio.open(stage, "w", **profile) as dst:
                for i, desc in enumerate(descriptions, start=1):
                    dst.set_band_description(i, desc)
                dst.update_tags(**tags)
                if colormap is not None:
                    dst.write_colormap(1, dict(colormap))
                for window, block in blocks:
                    dst.write(block, window=window)
            rasterio.shutil.copy(
                stage,
                final_tmp,
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE=512,
                OVERVIEW_RESAMPLING="MODE",
                BIGTIFF="IF_SAFER",
            )
        finally:
            stage.unlink(missing_ok=True)
    return path


# ================================================================================================
# Regions
# ================================================================================================
@dataclass(frozen=True)
class _Regions:
    names: list[str]
    geometries: list[Any]  # shapely geometries in the grid CRS
    bounds: np.ndarray  # (n, 4) west, south, east, north


def _load_regions(path: Path, grid: Grid, name_column: str | None = None) -> _Regions:
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
            f"regions file {path} cannot be read ({exc}); give a GeoPackage or GeoJSON of polygons"
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
            f"region name column {name_column!r} is not in {path} (columns: "
            f"{[c for c in gdf.columns if c != gdf.geometry.name]}); pick one of them"
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
    return _Regions(names=unique, geometries=geoms, bounds=bounds)


def _region_masks(
    regions: _Regions, grid: Grid, window: Window
) -> Iterator[tuple[int, np.ndarray]]:
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


# ================================================================================================
# Elevation
# ================================================================================================
def _open_elevation(path: Path, grid: Grid) -> tuple[Any, int]:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(
            f"elevation raster {path} does not exist; give the covariate stack of the run or "
            "leave elevation unset to skip elevation zones"
        )
    src = rasterio.open(path)
    _check_on_grid(src, grid, path, "elevation raster")
    band = _band_by_description(src, "elevation")
    if band is None:
        if src.count == 1:
            band = 1
        else:
            src.close()
            raise DataError(
                f"{path} has {src.count} bands {list(src.descriptions)} and none is described "
                "'elevation'; set that band description or give a single-band elevation raster"
            )
    return src, band


def _read_elevation(src: Any, band: int, window: Window) -> np.ndarray:
    arr = src.read(band, window=window, masked=True).astype(np.float64)
    return np.ma.filled(arr, np.nan)


# ================================================================================================
# Area per epoch
# ================================================================================================
def _accumulate_epoch(
    src: Any,
    path: Path,
    grid: Grid,
    tile_shape: tuple[int, int],
    lat_edges: Sequence[float],
    n_lat: int,
    elev: tuple[Any, int] | None,
    edges_m: Sequence[float],
    n_elev: int,
    reg: _Regions | None,
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """One windowed pass over a map: area sums per domain and stratum."""
    bands = _map_bands(src, path)
    domains = ["all"] + (["aoa"] if bands.aoa is not None else [])
    ncol = len(AREA_COLUMNS)
    acc = {
        d: {
            "total": np.zeros((1, ncol)),
            "latitude_band": np.zeros((n_lat, ncol)),
            "elevation_zone": np.zeros((n_elev, ncol)),
            "region": np.zeros((len(reg.names) if reg else 0, ncol)),
        }
        for d in domains
    }
    for window in grid.tiles(tile_shape):
        cls = _read_class(src, bands.cls, window, path)
        prob = _read_prob(src, bands.prob, cls, window, path)
        area = grid.cell_area_km2(window)
        lat_idx = np.clip(
            np.searchsorted(np.asarray(lat_edges), _cell_lat(grid, window), side="right") - 1,
            0,
            n_lat - 1,
        )
        elev_idx = None
        if elev is not None:
            values = _read_elevation(elev[0], elev[1], window)
            # the last zone is "no data", so elevation zones add up to the total
            elev_idx = np.where(np.isnan(values), n_elev - 1, _zone_index(values, edges_m))
        masks = list(_region_masks(reg, grid, window)) if reg is not None else []
        inside = src.read(bands.aoa, window=window) == 1 if bands.aoa is not None else None
        for d in domains:
            a = area if inside is None or d == "all" else np.where(inside, area, 0.0)
            acc[d]["total"] += area_sums(cls, prob, a)
            acc[d]["latitude_band"] += area_sums(cls, prob, a, lat_idx, n_lat)
            if elev_idx is not None:
                acc[d]["elevation_zone"] += area_sums(cls, prob, a, elev_idx, n_elev)
            for i, mask in masks:
                acc[d]["region"][i] += area_sums(cls, prob, a, mask.astype(np.int64) - 1)[0]
    return acc, domains


def area_by_epoch(
    map_paths: Mapping[int, Path],
    grid: Grid,
    *,
    elevation: Path | None = None,
    regions: Path | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] = DEFAULT_ELEVATION_EDGES_M,
    tile_shape: tuple[int, int] = _DEFAULT_TILE,
) -> pd.DataFrame:
    """Permafrost area per epoch in km², in total and per latitude band, elevation zone and region.

    Each map is read window by window; the sums use exact WGS84 cell areas.

    Parameters
    ----------
    map_paths : mapping of int to Path
        Epoch → ``permafrost_<year>.tif`` (docs/contracts.md "Maps").
    grid : Grid
        The grid the maps are on; a map on another grid raises :class:`GridMismatchError`.
    elevation : Path, optional
        A raster on the grid with a band described ``elevation`` (m), e.g. the covariate stack.
        Cells without elevation form the zone ``"no data"``, so zones add up to the total.
    regions : Path, optional
        Polygons (GeoPackage, GeoJSON, any OGR format) with a CRS; a cell belongs to a region when
        its centre is inside. Regions may overlap.
    region_name_column : str, optional
        Attribute that names the regions; default ``name``, else the first text column.
    lat_band_deg : float
        Width of the latitude bands in degrees (cell centre decides the band).
    elevation_edges_m : sequence of float
        Inner edges of the elevation zones, m.
    tile_shape : (int, int)
        Rows and columns read at once; sets peak memory.

    Returns
    -------
    DataFrame
        One row per epoch × ``domain`` (``all``, and ``aoa`` = inside the area of applicability
        when the map has an ``aoa`` band) × ``stratum`` (``total``, ``latitude_band``,
        ``elevation_zone``, ``region``) × ``zone``, with the :data:`AREA_COLUMNS` in km².
    """
    if not map_paths:
        raise ConfigError("no maps given; pass {epoch: path} for at least one epoch")
    if not (lat_band_deg > 0):
        raise ConfigError(f"lat_band_deg {lat_band_deg!r} must be positive; use e.g. 10")
    edges_m = [float(v) for v in elevation_edges_m]
    if not edges_m or any(b <= a for a, b in itertools.pairwise(edges_m)):
        raise ConfigError(
            f"elevation_edges_m {list(elevation_edges_m)} must be increasing; e.g. (0, 500, 1000)"
        )

    if grid.is_geographic:
        lat_south, lat_north = grid.south, grid.north
    else:
        from pyproj import Transformer

        tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        lat_south, lat_north = tr.transform_bounds(*grid.bounds, densify_pts=51)[1::2]
    lat_edges = _lat_band_edges(lat_south, lat_north, lat_band_deg)
    lat_labels = _lat_band_labels(lat_edges)
    elev_labels = [*_zone_labels(edges_m, "m"), "no data"]
    reg = _load_regions(Path(regions), grid, region_name_column) if regions is not None else None

    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        elev_src = None
        if elevation is not None:
            elev_src, elev_band = _open_elevation(Path(elevation), grid)
            stack.enter_context(elev_src)
        for epoch, path in sorted(map_paths.items()):
            with _open_map(Path(path), grid, epoch) as src:
                acc, domains = _accumulate_epoch(
                    src,
                    Path(path),
                    grid,
                    tile_shape,
                    lat_edges,
                    len(lat_labels),
                    (elev_src, elev_band) if elev_src is not None else None,
                    edges_m,
                    len(elev_labels),
                    reg,
                )
            for d in domains:
                strata: list[tuple[str, list[str]]] = [
                    ("total", ["all"]),
                    ("latitude_band", lat_labels),
                ]
                if elev_src is not None:
                    strata.append(("elevation_zone", elev_labels))
                if reg is not None:
                    strata.append(("region", reg.names))
                for stratum, labels in strata:
                    for label, sums in zip(labels, acc[d][stratum], strict=True):
                        rows.append(
                            {"epoch": int(epoch), "domain": d, "stratum": stratum, "zone": label}
                            | dict(zip(AREA_COLUMNS, (float(v) for v in sums), strict=True))
                        )
            logger.info(
                "epoch %s: permafrost extent %.0f km², probability-weighted %.0f km², "
                "land %.0f km²",
                epoch,
                acc["all"]["total"][0, 3],
                acc["all"]["total"][0, 4],
                acc["all"]["total"][0, 1],
            )
    return pd.DataFrame(rows, columns=["epoch", "domain", "stratum", "zone", *AREA_COLUMNS])


# ================================================================================================
# Change between epochs
# ================================================================================================
def _transition_table(matrix: np.ndarray, epoch_a: int, epoch_b: int) -> pd.DataFrame:
    change_name = {
        (0, 0): CHANGE_CODES[0],
        (1, 1): CHANGE_CODES[1],
        (1, 0): CHANGE_CODES[2],
        (0, 1): CHANGE_CODES[3],
    }
    rows = []
    for i in range(3):
        for j in range(3):
            rows.append(
                {
                    "from_epoch": epoch_a,
                    "to_epoch": epoch_b,
                    "from_class": _CLASS_NAMES[i],
                    "to_class": _CLASS_NAMES[j],
                    "change": change_name.get((i, j), "no data"),
                    "area_km2": float(matrix[i, j]),
                }
            )
    return pd.DataFrame(rows)


def transitions(
    path_a: Path,
    path_b: Path,
    grid: Grid,
    *,
    epochs: tuple[int, int] | None = None,
    change_map: Path | None = None,
    tile_shape: tuple[int, int] = _DEFAULT_TILE,
) -> pd.DataFrame:
    """Transition table in km² between two maps, and optionally the change map.

    Parameters
    ----------
    path_a, path_b : Path
        Maps of the earlier and the later epoch, on ``grid``.
    grid : Grid
        The grid of both maps.
    epochs : (int, int), optional
        The two epochs, for the table and the change map's tags; read from the maps' ``epoch``
        tag or file name when omitted.
    change_map : Path, optional
        Where to write the change map (uint8 COG, codes in :data:`CHANGE_CODES`, 255 no data).
    tile_shape : (int, int)
        Rows and columns read at once.

    Returns
    -------
    DataFrame
        Nine rows, one per ``from_class`` × ``to_class`` (``non-permafrost``, ``permafrost``,
        ``nodata``), with ``from_epoch, to_epoch, change, area_km2``. For any class,
        the rows ``from_class == c`` add up to the class's area in the earlier map.
    """
    path_a, path_b = Path(path_a), Path(path_b)
    ea, eb = epochs if epochs is not None else (_epoch_of(path_a), _epoch_of(path_b))
    with _open_map(path_a, grid, ea) as src_a, _open_map(path_b, grid, eb) as src_b:
        band_a = _map_bands(src_a, path_a).cls
        band_b = _map_bands(src_b, path_b).cls
        total = np.zeros((3, 3))

        def blocks() -> Iterator[tuple[Window, np.ndarray]]:
            nonlocal total
            for window in grid.tiles(tile_shape):
                a = _read_class(src_a, band_a, window, path_a)
                b = _read_class(src_b, band_b, window, path_b)
                total += transition_area(a, b, grid.cell_area_km2(window))
                yield window, change_classes(a, b)[None]

        if change_map is None:
            for _ in blocks():
                pass
        else:
            codes = ", ".join(f"{k} {v}" for k, v in CHANGE_CODES.items())
            _write_cog(
                Path(change_map),
                grid,
                blocks(),
                count=1,
                descriptions=[f"change {ea}-{eb} ({codes}, 255 no data)"],
                tags={
                    "kind": "change",
                    "from_epoch": str(ea),
                    "to_epoch": str(eb),
                    "codes": "; ".join(f"{k}={v}" for k, v in CHANGE_CODES.items())
                    + f"; {CHANGE_NODATA}=no data",
                    "permamap_version": _version(),
                },
                colormap=_CHANGE_COLORMAP,
            )
    return _transition_table(total, ea, eb)


_CHANGE_COLORMAP: dict[int, tuple[int, int, int, int]] = {
    0: (230, 230, 220, 255),
    1: (49, 99, 167, 255),
    2: (215, 48, 39, 255),
    3: (116, 173, 209, 255),
    CHANGE_NODATA: (0, 0, 0, 0),
}


def _epoch_of(path: Path) -> int:
    with rasterio.open(path) as src:
        tag = src.tags().get("epoch")
    if tag is not None and str(tag).strip().lstrip("-").isdigit():
        return int(tag)
    m = _MAP_RE.match(path.name)
    if m:
        return int(m.group(1))
    raise DataError(
        f"cannot tell the epoch of {path}: no 'epoch' tag and the name is not "
        "permafrost_<year>.tif; pass epochs=(a, b)"
    )


def _pairs(epochs: Sequence[int]) -> list[tuple[int, int]]:
    e = sorted(epochs)
    pairs = list(itertools.pairwise(e))
    if len(e) > 2:
        pairs.append((e[0], e[-1]))
    return pairs


# ================================================================================================
# Comparison with a reference map
# ================================================================================================
_REFERENCE_KINDS = ("auto", "map", "probability", "fraction", "class", "zones")


def _guess_kind(src: Any, band: int, nodata: float | None) -> str:
    """Guess the reference kind from a decimated read (cheap on a COG with overviews)."""
    if _band_by_description(src, "class") is not None:
        return "map"
    scale = max(1, max(src.height, src.width) // 1024)
    arr = src.read(
        band,
        out_shape=(max(1, src.height // scale), max(1, src.width // scale)),
        resampling=Resampling.nearest,
        masked=True,
    ).astype(np.float64)
    vals = np.ma.compressed(arr)
    if nodata is not None:
        vals = vals[vals != nodata]
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        raise DataError(
            f"reference {src.name} holds no valid values in its overview; check its nodata value "
            "or pass reference_nodata"
        )
    integral = bool(np.all(vals == np.round(vals)))
    lo, hi = float(vals.min()), float(vals.max())
    if lo < 0:
        raise DataError(
            f"reference {src.name} holds negative values (min {lo:g}) and declares no nodata "
            f"({src.nodata}); pass reference_nodata=<value> or give reference_kind explicitly"
        )
    if integral and hi <= 1:
        return "class"
    if hi <= 1:
        return "fraction"
    if integral and hi <= 4 and src.dtypes[band - 1] in ("uint8", "int8", "int16", "uint16"):
        return "zones"
    if hi <= 100:
        return "probability"
    raise DataError(
        f"cannot tell what reference {src.name} holds: values {lo:g}–{hi:g}; a probability "
        "must be 0–100 % or 0–1, a class 0/1, zones 0–4; if the larger values are no data, "
        "pass reference_nodata, otherwise pass reference_kind"
    )


def _warp_tile(
    src: Any,
    band: int,
    grid: Grid,
    window: Window,
    src_nodata: float | None,
    resampling: Resampling,
    on_grid: bool,
) -> np.ndarray:
    """One grid window of a source band as float32, NaN where there is no data.

    ``rasterio.warp.reproject`` from the open dataset lets GDAL read only the source blocks the
    window needs. (A ``WarpedVRT`` with a float32 working type ignored the source nodata with
    GDAL 3.10, so it is not used here.)
    """
    from rasterio.warp import reproject

    if on_grid:
        arr = src.read(band, window=window).astype(np.float32)
        if src_nodata is not None:
            arr[arr == src_nodata] = np.nan
        return arr
    out = np.full((int(window.height), int(window.width)), np.nan, dtype=np.float32)
    reproject(
        rasterio.band(src, band),
        out,
        src_nodata=src_nodata,
        dst_transform=grid.window_transform(window),
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return out


_VALID_RANGE = {"probability": (0.0, 100.0), "fraction": (0.0, 1.0), "class": (0.0, 1.0)}


def _check_reference_values(
    src: Any,
    band: int,
    kind: str,
    nodata: float | None,
    zones: Mapping[int, float],
    reference: Path,
) -> None:
    """Scan the reference band once, in chunks, for values its kind does not allow.

    Checking before resampling matters: an undeclared no-data value (say 255 in a percent map)
    averaged with valid neighbours could land inside 0–100 and go unnoticed.
    """
    hint = (
        "the file declares no nodata; if {v:g} means no data, pass reference_nodata={v:g}"
        if nodata is None
        else f"its nodata is {nodata:g}"
    )
    rows = max(1, min(src.height, (16 * 2**20) // max(1, src.width)))
    for r0 in range(0, src.height, rows):
        arr = src.read(band, window=Window(0, r0, src.width, min(rows, src.height - r0)))
        vals = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr.ravel()
        if nodata is not None:
            vals = vals[vals != nodata]
        if vals.size == 0:
            continue
        if kind == "zones":
            codes = np.unique(vals)
            bad = [c for c in codes.tolist() if c != int(c) or int(c) not in zones]
            if bad:
                v = float(bad[0])
                raise DataError(
                    f"reference {reference} read as zones holds code {v:g}, not in the zone "
                    f"table {dict(zones)} ({hint.format(v=v)}); pass zone_percent={{code: percent}}"
                )
            continue
        lo, hi = _VALID_RANGE[kind]
        outside = vals[(vals < lo) | (vals > hi)]
        if kind == "class" and outside.size == 0:
            outside = vals[(vals != 0) & (vals != 1)]
        if outside.size:
            v = float(outside[0])
            raise DataError(
                f"reference {reference} read as {kind} holds {v:g}, outside {lo:g}–{hi:g} "
                f"({hint.format(v=v)}); or pass another reference_kind"
            )


def resample_reference(
    reference: Path,
    grid: Grid,
    out_path: Path,
    *,
    kind: str = "auto",
    band: int = 1,
    nodata: float | None = None,
    zone_percent: Mapping[int, float] | None = None,
    threshold_percent: float = 50.0,
    tile_shape: tuple[int, int] = _DEFAULT_TILE,
) -> tuple[Path, str]:
    """Resample a user's reference map onto the Grid, as a map in the permamap contract.

    The reference may be in any CRS and resolution; it is warped on the fly (``average`` for
    probabilities, ``mode`` for classes and zones) window by window. The result has band 1
    ``class`` (probability ≥ ``threshold_percent``) and band 2 ``probability`` (percent), 255 no
    data, so it can be compared with — or shown like — any permamap map.

    Parameters
    ----------
    reference : Path
        Any GDAL raster with a CRS, e.g. the Obu et al. (2019) permafrost probability GeoTIFF.
    grid : Grid
        Target grid.
    out_path : Path
        Where to write the resampled map.
    kind : {"auto", "map", "probability", "fraction", "class", "zones"}
        ``probability`` percent 0–100, ``fraction`` 0–1, ``class`` 0/1, ``zones`` codes mapped by
        ``zone_percent``, ``map`` a permamap map. ``auto`` decides from band descriptions and a
        decimated read, and logs the decision.
    band : int
        Band to read (ignored for ``map``).
    nodata : float, optional
        No-data value of the reference; overrides the file's. Cells outside the reference are
        always no data.
    zone_percent : mapping of int to float, optional
        Zone code → permafrost percent for ``kind="zones"``; :data:`IPA_ZONE_PERCENT` by default.
    threshold_percent : float
        Probability at and above which a cell is permafrost.
    tile_shape : (int, int)
        Rows and columns warped at once.

    Returns
    -------
    (Path, str)
        The written path and the kind used.
    """
    reference = Path(reference)
    if kind not in _REFERENCE_KINDS:
        raise ConfigError(f"reference kind {kind!r} is not one of {_REFERENCE_KINDS}")
    if not reference.is_file():
        raise InputFileError(
            f"reference map {reference} does not exist; give a GeoTIFF (e.g. the Obu et al. 2019 "
            "permafrost probability) or leave reference unset"
        )
    zones = dict(IPA_ZONE_PERCENT if zone_percent is None else zone_percent)
    try:
        src = rasterio.open(reference)
    except rasterio.errors.RasterioIOError as exc:
        raise InputFileError(f"reference map {reference} cannot be read ({exc})") from exc
    with src:
        if src.crs is None:
            raise InputFileError(
                f"reference map {reference} has no CRS; set it (e.g. `gdal_edit.py -a_srs "
                f"EPSG:3995 {reference.name}`) so it can be placed on the grid"
            )
        if not 1 <= band <= src.count:
            raise ConfigError(
                f"reference band {band} does not exist; {reference} has {src.count} band(s)"
            )
        src_nodata = nodata if nodata is not None else src.nodatavals[band - 1]
        if kind == "auto":
            kind = _guess_kind(src, band, src_nodata)
            logger.info(
                "reference %s read as kind %r (pass reference_kind to override)",
                reference.name,
                kind,
            )
        if kind == "map":
            cls_band = _band_by_description(src, "class") or 1
            prob_band = _band_by_description(src, "probability")
            src_nodata = CLASS_NODATA if nodata is None else nodata
        else:
            cls_band, prob_band = band, None
            _check_reference_values(src, band, kind, src_nodata, zones, reference)
        on_grid = grid.matches(src.crs, src.transform, (src.height, src.width))
        if not on_grid:
            logger.info(
                "reference %s is in %s at %g × %g; resampling to the grid (%s, %g)",
                reference.name,
                src.crs,
                src.res[0],
                src.res[1],
                grid.crs,
                grid.res,
            )
        categorical = kind in ("map", "class", "zones")
        cls_resampling = Resampling.mode if categorical else Resampling.average

        def blocks() -> Iterator[tuple[Window, np.ndarray]]:
            for window in grid.tiles(tile_shape):
                raw = _warp_tile(src, cls_band, grid, window, src_nodata, cls_resampling, on_grid)
                prob_raw = (
                    _warp_tile(
                        src, prob_band, grid, window, src_nodata, Resampling.average, on_grid
                    )
                    if prob_band is not None
                    else None
                )
                cls, prob = _reference_block(
                    raw, prob_raw, kind, zones, threshold_percent, reference, src_nodata
                )
                yield window, np.stack([cls, prob])

        _write_cog(
            Path(out_path),
            grid,
            blocks(),
            count=2,
            descriptions=["class", "probability"],
            tags={
                "kind": "reference",
                "source": reference.name,
                "reference_kind": kind,
                "threshold_percent": f"{threshold_percent:g}",
                "permamap_version": _version(),
            },
        )
    return Path(out_path), kind


def _reference_block(
    raw: np.ndarray,
    prob_raw: np.ndarray | None,
    kind: str,
    zones: Mapping[int, float],
    threshold_percent: float,
    reference: Path,
    src_nodata: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a warped float block of the reference into (class, probability %) uint8 blocks."""
    valid = np.isfinite(raw)
    hint = (
        "it declares no nodata; if {v:g} means no data, pass reference_nodata={v:g}"
        if src_nodata is None
        else f"its nodata is {src_nodata:g}"
    )
    if kind == "map":
        pct = prob_raw if prob_raw is not None else np.where(raw == 1, 100.0, 0.0)
        pct = np.where(valid & np.isfinite(pct), pct, np.nan)
    elif kind == "probability":
        pct = raw
    elif kind == "fraction":
        pct = raw * 100.0
    elif kind == "class":
        bad = valid & (raw != 0) & (raw != 1)
        if bad.any():
            v = float(raw[bad][0])
            raise DataError(
                f"reference {reference} read as classes holds value {v:g}; classes must be 0 or 1 "
                f"({hint.format(v=v)}), or pass another reference_kind"
            )
        pct = raw * 100.0
    else:  # zones
        pct = np.full(raw.shape, np.nan)
        codes = np.unique(raw[valid])
        unknown = [c for c in codes if int(c) not in zones or c != int(c)]
        if unknown:
            v = float(unknown[0])
            raise DataError(
                f"reference {reference} read as zones holds code {v:g}, not in the zone table "
                f"{dict(zones)} ({hint.format(v=v)}); pass zone_percent={{code: percent}}"
            )
        for code in codes:
            pct[raw == code] = zones[int(code)]
    pct = np.where(valid, pct, np.nan)
    ok = np.isfinite(pct)
    bad = ok & ((pct < 0) | (pct > 100 + 1e-6))
    if bad.any():
        v = float(raw[bad][0])
        raise DataError(
            f"reference {reference} read as {kind} gives {float(pct[bad][0]):g} %, outside 0–100 "
            f"(raw value {v:g}; {hint.format(v=v)}); or pass another reference_kind"
        )
    prob = np.full(raw.shape, CLASS_NODATA, dtype=np.uint8)
    prob[ok] = np.clip(np.rint(pct[ok]), 0, 100).astype(np.uint8)
    cls = np.full(raw.shape, CLASS_NODATA, dtype=np.uint8)
    if kind in ("map", "class"):
        cls[ok] = (raw[ok] == 1).astype(np.uint8)
    else:
        cls[ok] = (pct[ok] >= threshold_percent).astype(np.uint8)
    return cls, prob


def compare_with_reference(
    map_path: Path,
    reference: Path,
    grid: Grid,
    *,
    epoch: int | None = None,
    reference_kind: str = "auto",
    reference_band: int = 1,
    reference_nodata: float | None = None,
    zone_percent: Mapping[int, float] | None = None,
    threshold_percent: float = 50.0,
    resampled_path: Path | None = None,
    confusion_csv: Path | None = None,
    tile_shape: tuple[int, int] = _DEFAULT_TILE,
) -> dict[str, Any]:
    """Compare a map with a reference map: agreement, kappa, confusion in km², area difference.

    The reference is resampled to the grid first (:func:`resample_reference`), then both are read
    window by window. Only cells with data in both count; the comparison says how much area that
    is (``compared_km2``).

    Parameters
    ----------
    map_path : Path
        A permamap map on ``grid``.
    reference : Path
        The user's reference raster (any CRS, resolution, nodata), or a map already resampled.
    grid : Grid
        The run's grid.
    epoch : int, optional
        Epoch of the map, for the result.
    reference_kind, reference_band, reference_nodata, zone_percent, threshold_percent
        See :func:`resample_reference`.
    resampled_path : Path, optional
        Where to keep the resampled reference; a temporary folder by default. If this file
        exists, is on the grid and was made from a file of the same name, it is reused.
    confusion_csv : Path, optional
        Where to write the confusion table (``map_class, reference_class, area_km2``).
    tile_shape : (int, int)
        Rows and columns read at once.

    Returns
    -------
    dict
        :func:`agreement_stats` plus ``epoch``, ``reference``, ``reference_kind``,
        ``confusion_km2`` (2 × 2 list, ``[map][reference]``), ``map_probability_weighted_km2``
        and ``reference_probability_weighted_km2`` on the compared cells and their difference.

    Examples
    --------
    Comparing a map with itself gives ``overall_agreement == kappa == 1``.
    """
    map_path = Path(map_path)
    scratch: tempfile.TemporaryDirectory[str] | None = None
    if resampled_path is None:
        scratch = tempfile.TemporaryDirectory(prefix="permamap-ref-")
        target = Path(scratch.name) / "reference_on_grid.tif"
    else:
        target = Path(resampled_path)
    try:
        kind = reference_kind
        if target.is_file():
            with rasterio.open(target) as r:
                reusable = (
                    grid.matches(r.crs, r.transform, (r.height, r.width))
                    and r.tags().get("source") == Path(reference).name
                )
                kind = r.tags().get("reference_kind", "map")
            if not reusable:  # another grid or another reference: resample again
                target.unlink()
        if not target.is_file():
            _, kind = resample_reference(
                reference,
                grid,
                target,
                kind=reference_kind,
                band=reference_band,
                nodata=reference_nodata,
                zone_percent=zone_percent,
                threshold_percent=threshold_percent,
                tile_shape=tile_shape,
            )
        cm = np.zeros((2, 2))
        pw = np.zeros(2)
        with (
            _open_map(map_path, grid, epoch if epoch is not None else "?") as src,
            rasterio.open(target) as ref,
        ):
            bands = _map_bands(src, map_path)
            for window in grid.tiles(tile_shape):
                cls = _read_class(src, bands.cls, window, map_path)
                prob = _read_prob(src, bands.prob, cls, window, map_path)
                rcls = ref.read(1, window=window)
                rprob = ref.read(2, window=window)
                area = grid.cell_area_km2(window)
                both = (cls != CLASS_NODATA) & (rcls != CLASS_NODATA)
                cm += confusion_area(cls, rcls, area, both)
                ok = both & (prob != CLASS_NODATA) & (rprob != CLASS_NODATA)
                pw[0] += float(np.sum(area[ok] * prob[ok] / 100.0))
                pw[1] += float(np.sum(area[ok] * rprob[ok] / 100.0))
    finally:
        if scratch is not None:
            scratch.cleanup()
    stats = agreement_stats(cm)
    result: dict[str, Any] = {
        "epoch": epoch,
        "reference": Path(reference).name,
        "reference_kind": kind,
        **stats,
        "map_probability_weighted_km2": float(pw[0]),
        "reference_probability_weighted_km2": float(pw[1]),
        "probability_weighted_difference_km2": float(pw[0] - pw[1]),
        "confusion_km2": cm.tolist(),
    }
    if stats["compared_km2"] == 0:
        logger.warning(
            "map %s and reference %s share no cell with data; "
            "check that the reference covers the grid",
            map_path.name,
            Path(reference).name,
        )
    if confusion_csv is not None:
        table = pd.DataFrame(
            [
                {
                    "map_class": _CLASS_NAMES[i],
                    "reference_class": _CLASS_NAMES[j],
                    "area_km2": float(cm[i, j]),
                }
                for i in range(2)
                for j in range(2)
            ]
        )
        _write_csv_atomic(table, Path(confusion_csv))
    logger.info(
        "map %s vs reference %s: agreement %s, kappa %s over %.0f km²",
        map_path.name,
        Path(reference).name,
        _fmt(stats["overall_agreement"]),
        _fmt(stats["kappa"]),
        stats["compared_km2"],
    )
    return result


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


# ================================================================================================
# The stage
# ================================================================================================
def run_change_stage(
    map_paths: Mapping[int, Path],
    grid: Grid,
    out_dir: Path,
    *,
    elevation: Path | None = None,
    regions: Path | None = None,
    reference: Path | None = None,
    epochs: Sequence[int] | None = None,
    reference_kind: str = "auto",
    reference_nodata: float | None = None,
    reference_epochs: Sequence[int] | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] = DEFAULT_ELEVATION_EDGES_M,
    tile_shape: tuple[int, int] = _DEFAULT_TILE,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Area per epoch, change between epochs and the reference comparison; write ``change/``.

    Writes into ``out_dir``: ``area_by_epoch.csv``; for each consecutive pair of epochs and for
    first → last, ``transitions_<a>_<b>.csv`` and ``change_<a>_<b>.tif``; with a reference,
    ``reference_on_grid.tif``, ``reference_comparison.csv`` and
    ``reference_confusion_<year>.csv``.

    Parameters
    ----------
    map_paths : mapping of int to Path
        Epoch → map. With one epoch there is no change to compute: areas are written and the
        result says so.
    grid : Grid
        The grid of the maps.
    out_dir : Path
        The run's ``change/`` folder.
    elevation, regions, region_name_column, lat_band_deg, elevation_edges_m
        See :func:`area_by_epoch`.
    reference : Path, optional
        A reference map to compare each epoch (or ``reference_epochs``) with.
    epochs : sequence of int, optional
        The epochs the run expects; a missing map raises :class:`InputFileError` naming them.
    reference_kind, reference_nodata
        See :func:`resample_reference`.
    reference_epochs : sequence of int, optional
        Epochs to compare with the reference; all by default.
    tile_shape : (int, int)
        Rows and columns read at once.
    progress : callable, optional
        Called with a short message as each step starts (the CLI hooks a progress display here).

    Returns
    -------
    dict
        JSON-able summary for ``summary.json["change"]``: ``epochs``, ``area_km2`` (per epoch the
        three keys of the summary contract), ``area_detail_km2`` (all totals, also inside the
        area of applicability), ``transitions`` (per pair: stable, degraded, aggregated and net
        change in km², and the files), ``reference`` (or ``None``) and ``files``.
    """
    out_dir = Path(out_dir)
    paths = {int(k): Path(v) for k, v in map_paths.items()}
    if epochs is not None:
        missing = sorted(set(int(e) for e in epochs) - set(paths))
        if missing:
            raise InputFileError(
                f"no map for epoch(s) {missing} (maps given for {sorted(paths)}); run the predict "
                "stage for them or remove them from the run's epochs"
            )
    if not paths:
        raise ConfigError("no maps given; pass {epoch: path} for at least one epoch")
    absent = {e: p for e, p in paths.items() if not p.is_file()}
    if absent:
        raise InputFileError(
            "map file(s) missing: "
            + ", ".join(f"{e}: {p}" for e, p in sorted(absent.items()))
            + "; run the predict stage for those epochs or drop them from the epochs"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: logger.info("%s", msg))
    files: dict[str, Any] = {}

    say("area per epoch")
    areas = area_by_epoch(
        paths,
        grid,
        elevation=elevation,
        regions=regions,
        region_name_column=region_name_column,
        lat_band_deg=lat_band_deg,
        elevation_edges_m=elevation_edges_m,
        tile_shape=tile_shape,
    )
    _write_csv_atomic(areas, out_dir / "area_by_epoch.csv")
    files["area_by_epoch"] = "area_by_epoch.csv"
    totals = areas[areas["stratum"] == "total"]
    area_km2: dict[str, dict[str, float]] = {}
    detail: dict[str, dict[str, dict[str, float]]] = {}
    for row in totals.itertuples(index=False):
        sums = {c: float(getattr(row, c)) for c in AREA_COLUMNS}
        detail.setdefault(str(row.epoch), {})[row.domain] = sums
        if row.domain == "all":
            area_km2[str(row.epoch)] = {
                "permafrost_extent_km2": sums["permafrost_extent_km2"],
                "probability_weighted_km2": sums["probability_weighted_km2"],
                "land_km2": sums["land_km2"],
            }

    pair_summaries = []
    pairs = _pairs(list(paths))
    if not pairs:
        logger.warning("only one epoch (%s): no change between epochs to compute", list(paths))
    for a, b in pairs:
        say(f"change {a} → {b}")
        table = transitions(
            paths[a],
            paths[b],
            grid,
            epochs=(a, b),
            change_map=out_dir / f"change_{a}_{b}.tif",
            tile_shape=tile_shape,
        )
        csv_name = f"transitions_{a}_{b}.csv"
        _write_csv_atomic(table, out_dir / csv_name)
        by_change = table.groupby("change")["area_km2"].sum()
        stable = float(by_change.get(CHANGE_CODES[1], 0.0))
        degraded = float(by_change.get(CHANGE_CODES[2], 0.0))
        aggregated = float(by_change.get(CHANGE_CODES[3], 0.0))
        pair_summaries.append(
            {
                "from_epoch": a,
                "to_epoch": b,
                "stable_permafrost_km2": stable,
                "degraded_km2": degraded,
                "aggregated_km2": aggregated,
                "stable_non_permafrost_km2": float(by_change.get(CHANGE_CODES[0], 0.0)),
                "no_data_in_either_km2": float(by_change.get("no data", 0.0)),
                "net_change_km2": aggregated - degraded,
                "table": csv_name,
                "change_map": f"change_{a}_{b}.tif",
            }
        )

    ref_summary: dict[str, Any] | None = None
    if reference is not None:
        say("comparison with the reference map")
        ref_epochs = sorted(paths) if reference_epochs is None else sorted(reference_epochs)
        unknown = [e for e in ref_epochs if e not in paths]
        if unknown:
            raise ConfigError(
                f"reference_epochs {unknown} have no map (maps: {sorted(paths)}); pick among them"
            )
        on_grid = out_dir / "reference_on_grid.tif"
        on_grid.unlink(missing_ok=True)  # a new run may bring a new reference
        _, kind = resample_reference(
            Path(reference),
            grid,
            on_grid,
            kind=reference_kind,
            nodata=reference_nodata,
            tile_shape=tile_shape,
        )
        results = []
        for e in ref_epochs:
            res = compare_with_reference(
                paths[e],
                Path(reference),
                grid,
                epoch=e,
                resampled_path=on_grid,
                confusion_csv=out_dir / f"reference_confusion_{e}.csv",
                tile_shape=tile_shape,
            )
            res["reference_kind"] = kind
            results.append(res)
        flat = pd.DataFrame([{k: v for k, v in r.items() if k != "confusion_km2"} for r in results])
        _write_csv_atomic(flat, out_dir / "reference_comparison.csv")
        ref_summary = {
            "reference": Path(reference).name,
            "reference_kind": kind,
            "by_epoch": {
                str(r["epoch"]): {k: v for k, v in r.items() if k not in ("epoch",)}
                for r in results
            },
            "table": "reference_comparison.csv",
            "resampled": on_grid.name,
        }
    return {
        "epochs": sorted(paths),
        "area_km2": area_km2,
        "area_detail_km2": detail,
        "transitions": pair_summaries,
        "reference": ref_summary,
        "files": files,
        "notes": (["only one epoch: no change computed"] if not pairs else []),
    }
