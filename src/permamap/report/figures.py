"""Figures for the report and for ``permamap show``: matplotlib figures rendered to PNG bytes.

Figures are built with the object API (:class:`matplotlib.figure.Figure`, Agg canvas), never
pyplot, so nothing here touches global backend state or needs a display.

Rasters are read through a decimated ``out_shape``, so GDAL serves them from the COG's overviews
and a continental map costs a few megabytes, not gigabytes. Coastlines are contours of the
``global-land-mask`` package's 1 km land mask (a declared dependency, no download), sampled at
the figure's pixels; if that package cannot be imported the map's own data mask is contoured
instead (maps mark the ocean as no data).
"""

from __future__ import annotations

import base64
import csv
import io
import logging
from collections.abc import Mapping, Sequence
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

from ..change.maps import READ_ERRORS, one_line, reading
from ..errors import InputFileError, PermamapError

__all__ = [
    "RasterView",
    "area_figure",
    "cv_figure",
    "figure_to_data_uri",
    "figure_to_png",
    "importance_figure",
    "raster_figure",
    "read_raster_view",
    "sites_figure",
]

logger = logging.getLogger(__name__)

NODATA_COLOR = "#dfe6ec"
COAST_COLOR = "#1b1b1b"
SCHEME_COLORS = {"random": "#9aa5b1", "spatial": "#1f5f8b"}
CHANGE_STYLE: dict[int, tuple[str, str]] = {
    0: ("stable non-permafrost", "#e6e6dc"),
    1: ("stable permafrost", "#3163a7"),
    2: ("degraded", "#d73027"),
    3: ("aggregated", "#74add1"),
}
CLASS_STYLE: dict[int, tuple[str, str]] = {
    0: ("not permafrost", "#e6e6dc"),
    1: ("permafrost", "#3163a7"),
}
AOA_STYLE: dict[int, tuple[str, str]] = {
    0: ("outside AOA", "#f4a582"),
    1: ("inside AOA", "#92c5de"),
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
    """

    data: np.ma.MaskedArray
    bounds: tuple[float, float, float, float]
    crs: str
    description: str
    tags: dict[str, str]
    decimation: int
    unit: str = ""


def read_raster_view(path: Path, band: int = 1, max_pixels: int = 1200) -> RasterView:
    """Read one band, decimated so that neither side exceeds ``max_pixels``.

    Parameters
    ----------
    path : Path
        Any GDAL raster; on a COG the read is served from the overviews.
    band : int
        1-based band index.
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


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes (Agg, whatever pyplot's backend is)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """Render a figure to a ``data:image/png;base64,…`` URI (self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


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


def _draw_coastlines(ax: Any, view: RasterView, coastlines: str, cols: int = 1000) -> None:
    """Contour land/sea; the land mask is sampled finer than the (decimated) data."""
    if coastlines == "none":
        return
    land = None
    if coastlines == "land-mask":
        land = _land_mask(*_sample_lonlat(view.bounds, view.crs, cols))
    if land is None:  # "data-mask", or the land mask is unavailable
        land = ~np.ma.getmaskarray(view.data)
    if land.all() or not land.any():
        return
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
    if desc in ("probability", "uncertainty"):
        return "percent", None
    return "continuous", None


def raster_figure(
    view: RasterView,
    title: str = "",
    *,
    coastlines: str = "land-mask",
    points: pd.DataFrame | None = None,
    width_in: float = 9.0,
) -> Figure:
    """A map of one band with a legend (classes) or colour bar (values) and coastlines.

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
    geographic = not view.crs or rasterio.crs.CRS.from_user_input(view.crs).is_geographic
    fig, ax, aspect = _map_axes(view.bounds, geographic, width_in)
    extent = (w, e, s, n)
    data = view.data
    if classes is not None:
        codes = sorted(classes)
        cmap = ListedColormap([classes[c][1] for c in codes])
        norm = BoundaryNorm([c - 0.5 for c in codes] + [codes[-1] + 0.5], cmap.N)
        ax.imshow(data, cmap=cmap, norm=norm, extent=extent, interpolation="nearest", aspect=aspect)
        handles = [
            Patch(facecolor=classes[c][1], edgecolor="#555", label=classes[c][0]) for c in codes
        ]
        handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="#555", label="no data / ocean"))
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.08),
            ncol=min(5, len(handles)),
            frameon=False,
            fontsize=8,
        )
    else:
        if kind == "percent":
            vmin, vmax, label = 0.0, 100.0, f"{view.description} (%)"
            cmap_name = "YlGnBu" if view.description.lower() == "probability" else "magma_r"
        else:
            valid = np.ma.compressed(data)
            vmin, vmax = (
                (float(np.percentile(valid, 2)), float(np.percentile(valid, 98)))
                if valid.size
                else (0.0, 1.0)
            )
            label, cmap_name = view.description or "value", "viridis"
            if view.unit:
                label = f"{label} ({view.unit})"
        im = ax.imshow(
            data,
            cmap=cmap_name,
            vmin=vmin,
            vmax=vmax,
            extent=extent,
            interpolation="nearest",
            aspect=aspect,
        )
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.05, pad=0.08, shrink=0.6)
        cb.set_label(label + " — grey: no data / ocean", fontsize=8)
        cb.ax.tick_params(labelsize=8)
    _draw_coastlines(ax, view, coastlines)
    if points is not None and len(points):
        _scatter_sites(ax, points)
    _finish_map_axes(ax, view.bounds, geographic, title)
    return fig


def _map_axes(
    bounds: tuple[float, float, float, float], geographic: bool, width_in: float
) -> tuple[Figure, Any, float]:
    w, s, e, n = bounds
    # lon/lat maps: stretch by 1/cos(mid-latitude) so shapes look right at high latitudes
    aspect = 1.0 / max(0.2, float(np.cos(np.radians((s + n) / 2)))) if geographic else 1.0
    ratio = (n - s) * aspect / max(e - w, 1e-9)
    fig = Figure(figsize=(width_in, max(2.5, min(width_in * ratio + 0.9, 12.0))))
    ax = fig.subplots()
    ax.set_facecolor(NODATA_COLOR)
    return fig, ax, aspect


def _finish_map_axes(
    ax: Any, bounds: tuple[float, float, float, float], geographic: bool, title: str
) -> None:
    w, s, e, n = bounds
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    unit = "°" if geographic else ""
    ax.set_xlabel("longitude (°E)" if geographic else "x", fontsize=8)
    ax.set_ylabel("latitude (°N)" if geographic else "y", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:g}{unit}")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:g}{unit}")
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


# -- charts ---------------------------------------------------------------------------------------
def cv_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and fold count per model × scheme × metric from the tidy CV score table."""
    needed = {"model", "scheme", "metric", "value"}
    missing = needed - set(scores.columns)
    if missing:
        raise InputFileError(
            f"cv_scores table lacks columns {sorted(missing)}; docs/contracts.md lists "
            "model, scheme, repeat, fold, metric, value"
        )
    g = scores.groupby(["model", "scheme", "metric"])["value"]
    return g.agg(mean="mean", sd="std", n="count").reset_index()


def cv_figure(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> Figure:
    """Random versus spatial cross-validation, one panel per metric, one bar pair per model."""
    summ = cv_summary(scores)
    order = ["accuracy", "kappa", "f1", "roc_auc", "pr_auc", "brier"]
    present = list(summ["metric"].unique())
    metrics = (
        list(metrics)
        if metrics
        else [m for m in order if m in present] + sorted(set(present) - set(order))
    )
    models = sorted(summ["model"].unique())
    ncol = min(3, max(1, len(metrics)))
    nrow = int(np.ceil(len(metrics) / ncol))
    fig = Figure(figsize=(3.3 * ncol, 2.6 * nrow + 0.4))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    x = np.arange(len(models))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        for k, scheme in enumerate(("random", "spatial")):
            sel = summ[(summ["metric"] == metric) & (summ["scheme"] == scheme)].set_index("model")
            mean = [sel["mean"].get(m, np.nan) for m in models]
            sd = [sel["sd"].get(m, np.nan) for m in models]
            ax.bar(
                x + (k - 0.5) * 0.38,
                mean,
                0.38,
                yerr=sd,
                capsize=2,
                color=SCHEME_COLORS[scheme],
                label=f"{scheme} CV",
            )
        ax.set_title(metric + (" (lower is better)" if metric == "brier" else ""), fontsize=9)
        ax.set_xticks(x, models, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    handles = [Patch(color=SCHEME_COLORS[s], label=f"{s} CV") for s in ("random", "spatial")]
    fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def importance_figure(
    importance: Sequence[Mapping[str, Any]], chosen: Sequence[str] = ()
) -> Figure:
    """Permutation importance (mean ± sd), most important on top; chosen features highlighted."""
    df = pd.DataFrame(list(importance))
    if df.empty or "feature" not in df or "permutation_mean" not in df:
        raise InputFileError(
            "the selection's 'importance' ranking needs entries with 'feature' and "
            f"'permutation_mean'; got {len(df)} entries with keys {sorted(map(str, df.columns))}"
        )
    df = df.sort_values("permutation_mean")
    sd = df["permutation_sd"] if "permutation_sd" in df else None
    colors = ["#1f5f8b" if f in set(chosen) else "#b8c2cc" for f in df["feature"]]
    fig = Figure(figsize=(6.5, 0.28 * len(df) + 1.2))
    ax = fig.subplots()
    ax.barh(df["feature"], df["permutation_mean"], xerr=sd, color=colors, capsize=2)
    ax.set_xlabel("drop in score when the feature is permuted", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    if chosen:
        ax.legend(
            handles=[
                Patch(color="#1f5f8b", label="chosen"),
                Patch(color="#b8c2cc", label="not chosen"),
            ],
            fontsize=8,
            loc="lower right",
        )
    fig.tight_layout()
    return fig


def area_figure(area: pd.DataFrame) -> Figure:
    """Area time series: class-based extent and probability-weighted area, km² per epoch.

    ``area`` has an ``epoch`` column and any of ``permafrost_region_km2``,
    ``permafrost_extent_km2``, ``probability_weighted_km2`` (and ``domain`` for AOA lines).
    """
    fig = Figure(figsize=(7.0, 3.4))
    ax = fig.subplots()
    styles = {
        "permafrost_region_km2": ("permafrost region (any permafrost, p ≥ 1 %)", "#9ecae1", ":"),
        "permafrost_extent_km2": ("permafrost extent (class = permafrost)", "#3163a7", "-"),
        "probability_weighted_km2": ("probability-weighted permafrost area", "#08306b", "--"),
    }
    domains = area["domain"].unique() if "domain" in area else ["all"]
    for domain in domains:
        sub = area[area["domain"] == domain] if "domain" in area else area
        sub = sub.sort_values("epoch")
        for col, (label, color, ls) in styles.items():
            if col not in sub:
                continue
            suffix = " — inside AOA" if domain == "aoa" else ""
            ax.plot(
                sub["epoch"],
                sub[col] / 1e6,
                ls,
                color=color,
                marker="o",
                alpha=1.0 if domain == "all" else 0.5,
                label=label + suffix,
            )
    ax.set_ylabel("million km²", fontsize=8)
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_xticks(sorted(area["epoch"].unique()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


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
