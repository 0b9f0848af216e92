"""Map figures: a band of a raster (:func:`raster_figure`), one panel per epoch
(:func:`small_multiples`) and the sites (:func:`sites_figure`).

Figures are built with the object API (:class:`matplotlib.figure.Figure`, Agg canvas), never
pyplot, so nothing here touches global backend state or needs a display.

Rasters are read through a decimated ``out_shape``, so GDAL serves them from the COG's overviews
and a continental map costs a few megabytes, not gigabytes. Coastlines are contours of the
``global-land-mask`` package's 1 km land mask (a declared dependency, no download), sampled at
the figure's pixels; if that package cannot be imported the map's own data mask is contoured
instead (maps mark the ocean as no data).

Every colour bar names its quantity and unit: percent for the probability and uncertainty bands
(docs/contracts.md), otherwise the band's unit (:func:`band_unit`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rasterio.enums import Resampling

from ..change.maps import CHANGE_COLORS, READ_ERRORS, one_line, reading
from ..contracts import CHANGE_CODES, MAP_BANDS
from ..errors import DataError, InputFileError, PermamapError

__all__ = [
    "AOA_STYLE",
    "CHANGE_STYLE",
    "CLASS_STYLE",
    "RasterView",
    "band_unit",
    "raster_figure",
    "read_raster_view",
    "sites_figure",
    "small_multiples",
    "value_label",
]

logger = logging.getLogger(__name__)

NODATA_COLOR = "#dfe6ec"
COAST_COLOR = "#1b1b1b"
CHANGE_STYLE: dict[int, tuple[str, str]] = {
    code: (CHANGE_CODES[code], color) for code, color in CHANGE_COLORS.items()
}
"""Change code → (legend label, colour); labels follow the contract's code table by number."""
CLASS_STYLE: dict[int, tuple[str, str]] = {
    0: ("not permafrost", CHANGE_COLORS[0]),
    1: ("permafrost", "#3163a7"),
}
AOA_STYLE: dict[int, tuple[str, str]] = {
    0: ("outside AOA", "#f4a582"),
    1: ("inside AOA", "#92c5de"),
}
_PERCENT_LABELS = {
    "probability": "permafrost probability (%)",
    "uncertainty": "uncertainty (percentage points: 100 × ensemble sd of p)",
    "expected_accuracy": "expected accuracy (%)",
}


@dataclass(frozen=True)
class RasterView:
    """A decimated band of a raster, ready to plot.

    Attributes
    ----------
    data : numpy.ma.MaskedArray
        ``(rows, cols)`` values, masked where the raster has no data.
    bounds : tuple of float
        ``(west, south, east, north)`` in the raster's CRS.
    crs : str
        The raster's CRS.
    description : str
        Band description (``class``, ``probability``, ``change …``, …) or ``""``.
    tags : dict
        Dataset tags (``epoch``, ``kind``, ``codes``, …).
    decimation : int
        Source pixels per plotted pixel along each axis.
    unit : str
        Unit of the band (``m``, ``degC``, …) or ``""`` (see :func:`band_unit`).
    band : int
        The 1-based band that was read.
    """

    data: np.ma.MaskedArray
    bounds: tuple[float, float, float, float]
    crs: str
    description: str
    tags: dict[str, str]
    decimation: int
    unit: str = ""
    band: int = 1


def read_raster_view(path: Path, band: int | str = 1, max_pixels: int = 1200) -> RasterView:
    """Read one band, decimated so that neither side exceeds ``max_pixels``.

    Parameters
    ----------
    path : Path
        Any GDAL raster; on a COG the read is served from the overviews.
    band : int or str
        1-based band index, or a band description (``"probability"``; see
        :func:`band_by_name`).
    max_pixels : int
        Largest side of the returned array.

    Raises
    ------
    InputFileError
        If the file is missing, unreadable or has no such band.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"raster {path} does not exist; give the path of a GeoTIFF")
    try:
        src = rasterio.open(path)
    except READ_ERRORS as exc:
        raise InputFileError(
            f"raster {path} cannot be read ({one_line(exc)}); give a GeoTIFF or another raster "
            "GDAL reads"
        ) from exc
    fix = "write it again (re-run the stage that made it) or copy it again"
    with src, reading(path, "raster", fix):
        if isinstance(band, str):
            band = band_by_name(src, band, path)
        if not 1 <= band <= src.count:
            raise InputFileError(
                f"band {band} does not exist in {path}, which has {src.count} band(s) "
                f"{list(src.descriptions)}; pick a band between 1 and {src.count}"
            )
        step = max(1, int(np.ceil(max(src.height, src.width) / max_pixels)))
        shape = (max(1, src.height // step), max(1, src.width // step))
        desc = src.descriptions[band - 1] or ""
        categorical = src.dtypes[band - 1] == "uint8" and not desc.lower().startswith(
            ("probability", "uncertainty")
        )
        data = src.read(
            band,
            out_shape=shape,
            masked=True,
            resampling=Resampling.nearest if categorical else Resampling.average,
        )
        b = src.bounds
        return RasterView(
            data=data,
            bounds=(b.left, b.bottom, b.right, b.top),
            crs=src.crs.to_string() if src.crs else "",
            description=desc,
            tags=dict(src.tags()),
            decimation=step,
            unit=band_unit(src, band, path),
            band=band,
        )


def band_by_name(src: Any, name: str, path: Path) -> int:
    """The 1-based band of an open raster whose description is ``name``.

    A description matches when it equals ``name`` or starts with ``name`` and a space
    (``"change 2000-2020 (…)"`` for ``"change"``), ignoring case. A raster whose bands carry no
    description at all is read by position instead: its only band, or a map band in the
    contract order (:data:`permamap.contracts.MAP_BANDS`).

    Raises
    ------
    InputFileError
        If no band is described ``name`` (the message lists the descriptions there are).
    """
    want = name.strip().lower()
    descs = [(d or "").strip() for d in src.descriptions]
    for i, desc in enumerate(descs, start=1):
        if desc.lower() == want or desc.lower().startswith(want + " "):
            return i
    if not any(descs):
        if src.count == 1:
            return 1
        if want in MAP_BANDS and MAP_BANDS.index(want) < src.count:
            return MAP_BANDS.index(want) + 1
    raise InputFileError(
        f"no band of {path} is described {name!r}; its {src.count} band(s) are described "
        f"{descs}; pick one of those names or give a band number"
    )


def band_unit(src: Any, band: int, path: Path) -> str:
    """The unit of one band of an open raster, or ``""``.

    The band's own unit (``src.units``, GDAL's unit type) or its ``unit``/``units`` tag first;
    otherwise, for a band with a description, the ``unit`` column of a ``factors.csv`` beside the
    file (the factor catalogue the covariate stage writes next to its stacks).
    """
    unit = (src.units[band - 1] or "").strip()
    if unit:
        return unit
    tags = src.tags(band)
    for key in ("unit", "units", "UNIT", "UNITS"):
        if tags.get(key, "").strip():
            return str(tags[key]).strip()
    desc = (src.descriptions[band - 1] or "").strip()
    catalogue = Path(path).with_name("factors.csv")
    if not desc or not catalogue.is_file():
        return ""
    try:
        with open(catalogue, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if (row.get("name") or "").strip() == desc:
                    return (row.get("unit") or "").strip()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        logger.warning("could not read units from %s: %s", catalogue, exc)
    return ""


def value_label(view: RasterView) -> str:
    """Quantity and unit of a value band, for its colour bar: ``"maat (degC)"``.

    Probability and uncertainty bands are percent (docs/contracts.md); a unit of ``"1"`` is
    spelled out as dimensionless; a band without a recorded unit says so rather than guess one.
    """
    desc = view.description or f"band {view.band}"
    percent = _PERCENT_LABELS.get(desc.lower())
    if percent is not None:
        return percent
    unit = view.unit.strip()
    if unit == "1":
        unit = "dimensionless"
    return f"{desc} ({unit or 'no unit recorded'})"


# -- coastlines -----------------------------------------------------------------------------------
def _land_mask(lon: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
    """True on land at the given points, from the global-land-mask package (None if absent).

    Read through permamap's memory-mapped packed-bit cache, not ``global_land_mask.globe``,
    whose import loads a 1 GB array.
    """
    try:
        from ..landmask import land_at_points

        return land_at_points(((lon + 180.0) % 360.0) - 180.0, np.clip(lat, -90.0, 90.0))
    except PermamapError:  # package missing: fall back to the map's own mask
        return None


def _sample_lonlat(
    bounds: tuple[float, float, float, float], crs: str, cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of the centres of a ``cols``-wide raster over ``bounds`` (in ``crs``)."""
    w, s, e, n = bounds
    rows = max(2, round(cols * (n - s) / max(e - w, 1e-12)))
    x = w + (np.arange(cols) + 0.5) * (e - w) / cols
    y = n - (np.arange(rows) + 0.5) * (n - s) / rows
    xx, yy = np.meshgrid(x, y)
    if not crs or rasterio.crs.CRS.from_user_input(crs).is_geographic:
        return xx, yy
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def _coast_land(view: RasterView, coastlines: str, cols: int = 1000) -> np.ndarray | None:
    """The land/sea array to contour for ``view`` (None: draw no coastline)."""
    if coastlines == "none":
        return None
    land = None
    if coastlines == "land-mask":
        land = _land_mask(*_sample_lonlat(view.bounds, view.crs, cols))
    if land is None:  # "data-mask", or the land mask is unavailable
        land = ~np.ma.getmaskarray(view.data)
    if land.all() or not land.any():
        return None
    return land


def _draw_coastlines(ax: Any, view: RasterView, coastlines: str, cols: int = 1000) -> None:
    """Contour land/sea; the land mask is sampled finer than the (decimated) data."""
    land = _coast_land(view, coastlines, cols)
    if land is not None:
        _contour_coast(ax, land, view.bounds)


def _contour_coast(ax: Any, land: np.ndarray, bounds: tuple[float, float, float, float]) -> None:
    w, s, e, n = bounds
    ax.contour(
        land.astype(float),
        levels=[0.5],
        colors=COAST_COLOR,
        linewidths=0.5,
        extent=(w, e, s, n),
        origin="upper",
    )


# -- maps -----------------------------------------------------------------------------------------
def _style_for(view: RasterView) -> tuple[str, dict[int, tuple[str, str]] | None]:
    desc = view.description.lower()
    if view.tags.get("kind") == "change" or desc.startswith("change"):
        return "change", CHANGE_STYLE
    if desc == "class":
        return "class", CLASS_STYLE
    if desc == "aoa":
        return "aoa", AOA_STYLE
    if desc in _PERCENT_LABELS:
        return "percent", None
    return "continuous", None


def _class_cmap(classes: Mapping[int, tuple[str, str]]) -> tuple[ListedColormap, BoundaryNorm]:
    codes = sorted(classes)
    cmap = ListedColormap([classes[c][1] for c in codes])
    return cmap, BoundaryNorm([c - 0.5 for c in codes] + [codes[-1] + 0.5], cmap.N)


def _class_handles(classes: Mapping[int, tuple[str, str]]) -> list[Patch]:
    handles = [
        Patch(facecolor=classes[c][1], edgecolor="#555", label=classes[c][0])
        for c in sorted(classes)
    ]
    handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="#555", label="no data / ocean"))
    return handles


def _value_scale(views: list[RasterView], kind: str) -> tuple[float, float, str]:
    """``(vmin, vmax, colormap)`` shared by the views: 0–100 % or a 2–98 % stretch."""
    if kind == "percent":
        prob = views[0].description.lower() == "probability"
        return 0.0, 100.0, "YlGnBu" if prob else "magma_r"
    valid = np.concatenate([np.ma.compressed(v.data).astype(float) for v in views])
    if not valid.size:
        return 0.0, 1.0, "viridis"
    return float(np.percentile(valid, 2)), float(np.percentile(valid, 98)), "viridis"


def raster_figure(
    view: RasterView,
    title: str = "",
    *,
    coastlines: str = "land-mask",
    points: pd.DataFrame | None = None,
    width_in: float = 9.0,
) -> Figure:
    """A map of one band with a legend (classes) or colour bar (values) and coastlines.

    The colour bar is labelled with the quantity and its unit (:func:`value_label`).

    Parameters
    ----------
    view : RasterView
        From :func:`read_raster_view`.
    title : str
        Figure title.
    coastlines : {"land-mask", "data-mask", "none"}
        Where the coastlines come from (see the module docstring).
    points : DataFrame, optional
        ``lon, lat`` (and optionally ``label``) to overlay, e.g. the sites.
    width_in : float
        Figure width in inches.
    """
    kind, classes = _style_for(view)
    w, s, e, n = view.bounds
    geographic = _is_geographic(view.crs)
    fig, ax, aspect = _map_axes(view.bounds, geographic, width_in)
    extent = (w, e, s, n)
    if classes is not None:
        cmap, norm = _class_cmap(classes)
        ax.imshow(
            view.data, cmap=cmap, norm=norm, extent=extent, interpolation="nearest", aspect=aspect
        )
        handles = _class_handles(classes)
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.08),
            ncol=min(5, len(handles)),
            frameon=False,
            fontsize=8,
        )
    else:
        vmin, vmax, cmap_name = _value_scale([view], kind)
        im = ax.imshow(
            view.data,
            cmap=cmap_name,
            vmin=vmin,
            vmax=vmax,
            extent=extent,
            interpolation="nearest",
            aspect=aspect,
        )
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.05, pad=0.08, shrink=0.6)
        cb.set_label(value_label(view) + " — grey: no data / ocean", fontsize=8)
        cb.ax.tick_params(labelsize=8)
    _draw_coastlines(ax, view, coastlines)
    if points is not None and len(points):
        _scatter_sites(ax, points)
    _finish_map_axes(ax, view.bounds, geographic, title, crs=view.crs)
    return fig


def small_multiples(
    paths: Mapping[str, Path],
    band_name: str = "probability",
    *,
    max_pixels: int = 600,
    coastlines: str = "land-mask",
    ncols: int | None = None,
    width_in: float = 10.0,
) -> Figure:
    """One small map per raster (e.g. per epoch) on one colour scale, with one colour bar.

    Parameters
    ----------
    paths : mapping of str to Path
        Panel title (``"2000"``) → raster, in panel order.
    band_name : str
        Description of the band to show in every raster (see :func:`band_by_name`).
    max_pixels : int
        Longest side of each decimated read.
    coastlines : {"land-mask", "data-mask", "none"}
        Where the coastlines come from (see the module docstring).
    ncols : int, optional
        Panels per row; by default up to 3 (2 for wide maps or four panels).
    width_in : float
        Figure width in inches.

    Returns
    -------
    Figure
        Percent bands share a 0–100 scale, other values one 2–98 % stretch over all panels,
        classes one legend; the colour bar is labelled with the unit (:func:`value_label`).

    Raises
    ------
    InputFileError
        If a raster is missing, unreadable or has no band described ``band_name``.
    DataError
        If ``paths`` is empty.
    """
    if not paths:
        raise DataError("small_multiples got no rasters; pass at least one {title: path}")
    views = [read_raster_view(Path(p), band_name, max_pixels) for p in paths.values()]
    titles = [str(t) for t in paths]
    first = views[0]
    kind, classes = _style_for(first)
    ratio = _aspect_ratio(first.bounds, _is_geographic(first.crs))[1]
    n = len(views)
    if ncols is None:
        ncols = n if n <= 2 else 2 if (n == 4 or ratio < 0.45) else 3
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    panel_h = (width_in / ncols - 0.35) * ratio
    fig = Figure(figsize=(width_in, nrows * (max(panel_h, 1.0) + 0.45) + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    coast_cols = int(min(1000, max(300, 2 * max_pixels)))
    land_cache: dict[tuple[Any, ...], np.ndarray | None] = {}
    if classes is not None:
        cmap, norm = _class_cmap(classes)
        scale: dict[str, Any] = {"cmap": cmap, "norm": norm}
    else:
        vmin, vmax, cmap_name = _value_scale(views, kind)
        scale = {"cmap": cmap_name, "vmin": vmin, "vmax": vmax}
    same_extent = len({(v.bounds, v.crs) for v in views}) == 1
    im = None
    for k, (ax, view, title) in enumerate(zip(axes.ravel(), views, titles, strict=False)):
        w, s, e, n_ = view.bounds
        ax.set_facecolor(NODATA_COLOR)
        geo = _is_geographic(view.crs)
        im = ax.imshow(
            view.data,
            extent=(w, e, s, n_),
            interpolation="nearest",
            aspect=_aspect_ratio(view.bounds, geo)[0],
            **scale,
        )
        # epochs share one grid: sample the land mask once, not once per panel
        key = (view.bounds, view.crs, coastlines if coastlines != "data-mask" else k)
        if key not in land_cache:
            land_cache[key] = _coast_land(view, coastlines, coast_cols)
        land = land_cache[key]
        if land is not None:
            _contour_coast(ax, land, view.bounds)
        row, col = divmod(k, ncols)
        _finish_map_axes(
            ax,
            view.bounds,
            geo,
            title,
            crs=view.crs,
            xlabel=row == nrows - 1 or k + ncols >= n,
            ylabel=col == 0,
        )
        if same_extent:  # inner panels repeat the outer ones' ticks: drop their labels
            ax.tick_params(labelleft=col == 0, labelbottom=row == nrows - 1 or k + ncols >= n)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    shown = list(axes.ravel()[:n])
    if classes is not None:
        handles = _class_handles(classes)
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(5, len(handles)), frameon=False
        )
    elif im is not None:
        cb = fig.colorbar(im, ax=shown, orientation="horizontal", shrink=0.6, aspect=40)
        cb.set_label(value_label(first) + " — grey: no data / ocean", fontsize=9)
        cb.ax.tick_params(labelsize=8)
    return fig


def _is_geographic(crs: str) -> bool:
    return not crs or bool(rasterio.crs.CRS.from_user_input(crs).is_geographic)


def _aspect_ratio(
    bounds: tuple[float, float, float, float], geographic: bool
) -> tuple[float, float]:
    """``(imshow aspect, height / width of the drawn map)``.

    lon/lat maps are stretched by 1/cos(mid-latitude) so shapes look right at high latitudes.
    """
    w, s, e, n = bounds
    aspect = 1.0 / max(0.2, float(np.cos(np.radians((s + n) / 2)))) if geographic else 1.0
    return aspect, (n - s) * aspect / max(e - w, 1e-9)


def _map_axes(
    bounds: tuple[float, float, float, float], geographic: bool, width_in: float
) -> tuple[Figure, Any, float]:
    aspect, ratio = _aspect_ratio(bounds, geographic)
    fig = Figure(figsize=(width_in, max(2.5, min(width_in * ratio + 0.9, 12.0))))
    ax = fig.subplots()
    ax.set_facecolor(NODATA_COLOR)
    return fig, ax, aspect


def _finish_map_axes(
    ax: Any,
    bounds: tuple[float, float, float, float],
    geographic: bool,
    title: str,
    *,
    crs: str = "",
    xlabel: bool = True,
    ylabel: bool = True,
) -> None:
    """Limits, axis labels with units (° or km for a metric CRS) and the title."""
    w, s, e, n = bounds
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    if geographic:
        names, scale, suffix = ("longitude (°E)", "latitude (°N)"), 1.0, "°"
    elif crs and rasterio.crs.CRS.from_user_input(crs).linear_units in ("metre", "meter"):
        names, scale, suffix = ("easting (km)", "northing (km)"), 1e-3, ""
    else:
        names, scale, suffix = ("x (CRS units)", "y (CRS units)"), 1.0, ""
    if xlabel:
        ax.set_xlabel(names[0], fontsize=8)
    if ylabel:
        ax.set_ylabel(names[1], fontsize=8)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v * scale:g}{suffix}")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v * scale:g}{suffix}")
    if title:
        ax.set_title(title, fontsize=10)


def _scatter_sites(ax: Any, points: pd.DataFrame) -> None:
    if "label" in points:
        lab = pd.to_numeric(points["label"], errors="coerce")
        for value, color, name in (
            (1, "#08306b", "permafrost"),
            (0, "#e08214", "no permafrost"),
        ):
            sel = points[lab == value]
            ax.scatter(
                sel["lon"], sel["lat"], s=7, c=color, label=f"{name} ({len(sel)})", linewidths=0
            )
        ax.legend(loc="lower left", fontsize=8, markerscale=2)
    else:
        ax.scatter(points["lon"], points["lat"], s=7, c="#08306b", linewidths=0)


def sites_figure(
    sites: pd.DataFrame,
    bounds: tuple[float, float, float, float],
    *,
    coastlines: str = "land-mask",
    title: str = "",
) -> Figure:
    """Site locations over a land/sea background (from the land mask), coloured by label.

    ``sites`` needs ``lon`` and ``lat`` (degrees) and may have ``label`` (1 permafrost, 0 not).
    """
    w, s, e, n = bounds
    fig, ax, aspect = _map_axes(bounds, geographic=True, width_in=9.0)
    if coastlines == "land-mask":
        land = _land_mask(*_sample_lonlat(bounds, "EPSG:4326", 1000))
        if land is not None:
            ax.imshow(
                np.where(land, 1.0, 0.0),
                cmap=ListedColormap([NODATA_COLOR, "#f3f1ea"]),
                vmin=0,
                vmax=1,
                extent=(w, e, s, n),
                aspect=aspect,
                interpolation="nearest",
            )
            _contour_coast(ax, land, bounds)
    pts = sites.dropna(subset=["lon", "lat"])
    _scatter_sites(ax, pts)
    _finish_map_axes(ax, bounds, geographic=True, title=title)
    return fig
