"""Header-level checks of the ``[change]`` inputs, run when the config is loaded.

:func:`check_change_inputs` reads only headers (the raster header of the reference map, the layer
information of the regions file) and the numeric options, so a mistyped path, a missing CRS, a
misspelt column or a reference that misses the grid is reported before the first tile of the run
is computed. It returns one-line notes for the run's plan; every problem is one-line
:class:`~permamap.errors.ConfigError` or :class:`~permamap.errors.InputFileError` naming the file,
the value, the rule and the fix.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from ..covariates.sources.checks import check_not_truncated
from ..errors import ConfigError, DataError, InputFileError
from ..grid import Grid
from ..keys import did_you_mean
from .areas import check_area_options
from .maps import READ_ERRORS, one_line
from .reference import REFERENCE_KINDS
from .regions import name_column_message

__all__ = ["check_change_inputs"]

logger = logging.getLogger(__name__)

_POLYGON_TYPES = ("Polygon", "MultiPolygon")


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _overlap_fraction(bounds: Sequence[float], crs: Any, grid: Grid) -> float | None:
    """Share of the grid's extent covered by ``bounds`` (in ``crs``); None if it can't be told."""
    from rasterio.warp import transform_bounds

    try:
        w, s, e, n = transform_bounds(crs, grid.crs, *bounds, densify_pts=21)
    except Exception:
        return None
    if not all(np.isfinite([w, s, e, n])):
        return None
    gw, gs, ge, gn = grid.bounds
    dx = min(e, ge) - max(w, gw)
    dy = min(n, gn) - max(s, gs)
    if dx <= 0 or dy <= 0:
        return 0.0
    return float(dx * dy / ((ge - gw) * (gn - gs)))


def _fmt_bounds(b: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in b) + ")"


def _check_reference(
    grid: Grid,
    reference: Path,
    kind: str,
    nodata: object,
    compared: list[int],
) -> list[str]:
    if not reference.is_file():
        raise InputFileError(
            f"[change] reference = {str(reference)!r} does not exist; give the path of a raster "
            "GDAL reads (e.g. the Obu et al. 2019 permafrost probability GeoTIFF), relative to "
            "the config file, or remove the key"
        )
    try:
        src = rasterio.open(reference)
    except READ_ERRORS as exc:
        raise InputFileError(
            f"[change] reference {reference} cannot be opened as a raster ({one_line(exc)}); "
            "give a GeoTIFF or another raster GDAL reads (copy it again if it was cut short)"
        ) from exc
    with src:
        check_not_truncated(src, str(reference), f"[change] reference {reference}")
        if src.crs is None:
            raise InputFileError(
                f"[change] reference {reference} has no CRS; set it (e.g. `gdal_edit.py -a_srs "
                f"EPSG:3995 {reference.name}`) so it can be placed on the grid"
            )
        dtype = np.dtype(src.dtypes[0])
        if nodata is not None and np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            v = float(nodata)  # type: ignore[arg-type]
            if not (np.isfinite(v) and v == round(v) and info.min <= v <= info.max):
                raise ConfigError(
                    f"[change] reference_nodata = {nodata!r} can never occur in {reference}, "
                    f"whose band 1 is {dtype} ({info.min}…{info.max}); give a value of that "
                    "range or remove reference_nodata"
                )
        frac = _overlap_fraction(tuple(src.bounds), src.crs, grid)
        if frac == 0.0:
            raise InputFileError(
                f"[change] reference {reference} covers {_fmt_bounds(src.bounds)} in {src.crs}, "
                f"which does not overlap the grid {_fmt_bounds(grid.bounds)} in {grid.crs}; give "
                "a reference that covers the mapped area, or remove the key"
            )
        file_nodata = src.nodatavals[0]
        res = src.res
        shape = (src.height, src.width)
        crs = src.crs.to_string()
    shown_nodata = nodata if nodata is not None else file_nodata
    what = "auto: decided from its values when the change stage runs" if kind == "auto" else kind
    notes = [
        f"reference {reference.name}: {crs}, {shape[0]} × {shape[1]} cells of "
        f"{res[0]:g} × {res[1]:g}, nodata {shown_nodata if shown_nodata is not None else 'none'}, "
        f"kind {what}; resampled onto the grid and compared with epochs {compared}"
    ]
    if frac is None:
        notes.append(
            f"reference {reference.name}: its overlap with the grid could not be worked out from "
            "the header; cells outside it are left out of the comparison"
        )
    elif frac < 0.999:
        notes.append(
            f"reference {reference.name} covers about {frac:.0%} of the grid's extent; cells "
            "outside it are left out of the comparison"
        )
    return notes


def _check_regions(grid: Grid, regions: Path, name_column: str | None) -> list[str]:
    import pyogrio

    if not regions.is_file():
        raise InputFileError(
            f"[change] regions = {str(regions)!r} does not exist; give a GeoPackage, GeoJSON or "
            "shapefile of polygons (path relative to the config file), or remove the key"
        )
    try:
        layers = pyogrio.list_layers(regions)
        info = pyogrio.read_info(regions, force_total_bounds=True)
    except Exception as exc:  # pyogrio raises DataSourceError and friends; keep the message
        raise InputFileError(
            f"[change] regions {regions} cannot be read ({one_line(exc)}); give a GeoPackage, "
            "GeoJSON or shapefile of polygons (re-export it if it was cut short)"
        ) from exc
    notes = []
    if len(layers) > 1:
        notes.append(
            f"regions {regions.name} has {len(layers)} layers; the first, "
            f"`{info['layer_name']}`, is used"
        )
    geom = info.get("geometry_type")
    if geom is None:
        raise InputFileError(
            f"[change] regions {regions} has no geometry column; give a file of polygons"
        )
    base = str(geom).replace(" Z", "").replace(" M", "").replace("25D", "")
    if base not in _POLYGON_TYPES and base != "Unknown":
        raise DataError(
            f"[change] regions {regions} holds {geom} geometries; regions must be Polygon or "
            "MultiPolygon (buffer points or lines first if you mean an area around them)"
        )
    if info.get("features") == 0:
        raise InputFileError(
            f"[change] regions {regions} has no features; add at least one polygon, or remove "
            "the key to skip per-region statistics"
        )
    if info.get("crs") is None:
        raise InputFileError(
            f"[change] regions {regions} has no CRS; set one (e.g. `ogr2ogr -a_srs EPSG:4326 "
            f"out.gpkg {regions.name}`) so the polygons can be placed on the grid"
        )
    fields = [str(f) for f in info.get("fields", [])]
    dtypes = [str(d) for d in info.get("dtypes", [])]
    if name_column is not None:
        if name_column not in fields:
            raise ConfigError(name_column_message(regions, name_column, fields))
        used = f"column `{name_column}`"
    elif "name" in fields:
        used = "column `name`"
    else:
        text = [f for f, d in zip(fields, dtypes, strict=False) if d == "object"]
        used = (
            f"column `{text[0]}` (the first text column; set region_name_column to pick another)"
            if text
            else "region_<n> (the file has no text column)"
        )
    n = info.get("features")
    count = f"{n} feature(s)" if isinstance(n, int) and n >= 0 else "features"
    notes.insert(0, f"regions {regions.name}: {count} in {info['crs']}, names from {used}")
    bounds = info.get("total_bounds")
    if bounds is not None and all(np.isfinite(bounds)):
        frac = _overlap_fraction(tuple(float(b) for b in bounds), info["crs"], grid)
        if frac == 0.0:
            notes.append(
                f"regions {regions.name} lie outside the grid {_fmt_bounds(grid.bounds)}; "
                "their areas will be 0"
            )
    return notes


def check_change_inputs(
    grid: Grid,
    *,
    reference: Path | None,
    reference_kind: str | None,
    reference_nodata: float | None,
    reference_epochs: Sequence[int] | None,
    regions: Path | None,
    region_name_column: str | None,
    lat_band_deg: float,
    elevation_edges_m: Sequence[float],
    epochs: Sequence[int],
) -> list[str]:
    """Check the ``[change]`` inputs from their headers; return notes for the run's plan.

    Cheap: opens the reference raster and the regions file for their headers only, reads no
    pixel and no polygon.

    Parameters
    ----------
    grid : Grid
        The run's grid.
    reference : Path, optional
        ``[change] reference``: must exist, open as a raster, have a CRS and overlap the grid.
    reference_kind : str, optional
        One of :data:`~permamap.change.REFERENCE_KINDS`; None means ``"auto"``.
    reference_nodata : float, optional
        A number; for an integer raster it must fit the band's data type.
    reference_epochs : sequence of int, optional
        Epochs to compare with the reference; each must be one of ``epochs``.
    regions : Path, optional
        ``[change] regions``: a GeoPackage, GeoJSON or shapefile of polygons with a CRS.
    region_name_column : str, optional
        Must be a column of the regions file.
    lat_band_deg, elevation_edges_m
        See :func:`~permamap.change.area_by_epoch`.
    epochs : sequence of int
        The run's epochs.

    Returns
    -------
    list of str
        One-line notes for the plan (what will be compared, which column names the regions,
        partial coverage).

    Raises
    ------
    ConfigError
        For an invalid option value (kind, nodata, epochs, band width, edges, name column), or a
        reference option without a reference.
    InputFileError
        For a missing or unreadable file, a file without CRS, or a reference that misses the grid.
    DataError
        For a regions file of points or lines.

    Examples
    --------
    >>> from permamap.grid import Grid
    >>> grid = Grid.from_bounds((100, 60, 112, 70), res=1.0)
    >>> check_change_inputs(grid, reference=None, reference_kind=None, reference_nodata=None,
    ...     reference_epochs=None, regions=None, region_name_column=None, lat_band_deg=10,
    ...     elevation_edges_m=[0, 500], epochs=[2000, 2020])
    []
    """
    check_area_options(lat_band_deg, elevation_edges_m)
    epoch_list = [int(e) for e in epochs]
    kind = "auto" if reference_kind is None else reference_kind
    if not isinstance(kind, str) or kind not in REFERENCE_KINDS:
        raise ConfigError(
            f"[change] reference_kind = {kind!r} is not a reference kind"
            f"{did_you_mean(str(kind), REFERENCE_KINDS)}; use one of {', '.join(REFERENCE_KINDS)}"
        )
    if reference_nodata is not None and not _is_number(reference_nodata):
        raise ConfigError(
            f"[change] reference_nodata = {reference_nodata!r} must be a number (the value that "
            "means no data in the reference), e.g. 255"
        )
    if reference_epochs is not None:
        if isinstance(reference_epochs, str | bytes) or not isinstance(reference_epochs, Sequence):
            raise ConfigError(
                f"[change] reference_epochs = {reference_epochs!r} must be a list of years, "
                f"e.g. {epoch_list[:1]}"
            )
        for e in reference_epochs:
            if isinstance(e, bool) or not isinstance(e, numbers.Integral):
                raise ConfigError(
                    f"[change] reference_epochs holds {e!r}, not a year; use years of the run's "
                    f"epochs {epoch_list}"
                )
        unknown = [int(e) for e in reference_epochs if int(e) not in epoch_list]
        if unknown:
            raise ConfigError(
                f"[change] reference_epochs {unknown} are not epochs of the run {epoch_list}; "
                "pick among them or add them to [run] epochs"
            )
        if not reference_epochs:
            raise ConfigError(
                "[change] reference_epochs = [] compares nothing; list some of the run's epochs "
                f"{epoch_list} or remove the key to compare all"
            )
    if reference is None:
        given = [
            name
            for name, value in (
                (
                    "reference_kind",
                    reference_kind if reference_kind not in (None, "auto") else None,
                ),
                ("reference_nodata", reference_nodata),
                ("reference_epochs", reference_epochs),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"[change] sets {', '.join(given)} but no reference; add "
                '`reference = "path/to/map.tif"` or remove ' + ("it" if len(given) == 1 else "them")
            )
    notes: list[str] = []
    if reference is not None:
        compared = sorted(int(e) for e in reference_epochs) if reference_epochs else epoch_list
        notes += _check_reference(grid, Path(reference), kind, reference_nodata, compared)
    if regions is not None:
        notes += _check_regions(grid, Path(regions), region_name_column)
    elif region_name_column is not None:
        raise ConfigError(
            f"[change] sets region_name_column = {region_name_column!r} but no regions; add "
            '`regions = "path/to/regions.gpkg"` or remove region_name_column'
        )
    for note in notes:
        logger.info("change inputs: %s", note)
    return notes
