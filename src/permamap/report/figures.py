"""Figures for the report and for ``permamap show``: matplotlib figures rendered to PNG bytes.

Figures are built with the object API (:class:`matplotlib.figure.Figure`, Agg canvas), never
pyplot, so nothing here touches global backend state or needs a display. Each figure function
takes its inputs and returns a :class:`~matplotlib.figure.Figure`; :func:`figure_to_png` and
:func:`figure_to_data_uri` render it.

This module owns the charts (cross-validation, importance, area); the maps live in
:mod:`permamap.report.mapfigs` and are re-exported here, so ``figures.raster_figure`` and
``figures.small_multiples`` keep working.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..errors import DataError, InputFileError
from .mapfigs import (
    AOA_STYLE,
    CHANGE_STYLE,
    CLASS_STYLE,
    COAST_COLOR,
    NODATA_COLOR,
    RasterView,
    band_by_name,
    band_unit,
    raster_figure,
    read_raster_view,
    sites_figure,
    small_multiples,
    value_label,
)

__all__ = [
    "AOA_STYLE",
    "CHANGE_STYLE",
    "CLASS_STYLE",
    "COAST_COLOR",
    "NODATA_COLOR",
    "RasterView",
    "area_figure",
    "band_by_name",
    "band_unit",
    "cv_figure",
    "cv_summary",
    "figure_to_data_uri",
    "figure_to_png",
    "importance_figure",
    "raster_figure",
    "read_raster_view",
    "sites_figure",
    "small_multiples",
    "value_label",
]

logger = logging.getLogger(__name__)

SCHEME_COLORS = {"random": "#7a8794", "spatial": "#1f5f8b"}
"""Grey for random CV, blue for spatial CV (L* 56 and 38: apart in grey scale too)."""
GAP_COLOR = "#b8580f"
CHOSEN_COLOR = "#fff1b8"
METRIC_ORDER = ("accuracy", "kappa", "f1", "roc_auc", "pr_auc", "brier")
LOWER_IS_BETTER = frozenset({"brier"})
_METRIC_RANGE = {"kappa": (-1.0, 1.0)}  # every other metric lies in 0–1


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes (Agg, whatever pyplot's backend is)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """Render a figure to a ``data:image/png;base64,…`` URI (self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


# -- cross-validation -----------------------------------------------------------------------------
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


def _cv_stats(summ: pd.DataFrame, metric: str, scheme: str, models: Sequence[str]) -> tuple:
    """``(mean, sd)`` arrays in ``models`` order (NaN where a model lacks the scheme)."""
    sel = summ[(summ["metric"] == metric) & (summ["scheme"] == scheme)].set_index("model")
    mean = np.array([sel["mean"].get(m, np.nan) for m in models], dtype=float)
    sd = np.array([sel["sd"].get(m, np.nan) for m in models], dtype=float)
    return mean, np.nan_to_num(sd)  # one fold has no sd: draw no whisker


def _model_order(summ: pd.DataFrame, metric: str) -> list[str]:
    """Models best first by spatial CV score of ``metric`` (random CV where spatial is absent)."""
    models = sorted(summ["model"].unique())
    scheme = "spatial" if (summ["scheme"] == "spatial").any() else "random"
    mean, _ = _cv_stats(summ, metric, scheme, models)
    key = mean if metric in LOWER_IS_BETTER else -mean
    key = np.where(np.isnan(key), np.inf, key)
    return [models[i] for i in np.argsort(key, kind="stable")]


def _zoomed_limits(values: np.ndarray, metric: str) -> tuple[float, float]:
    """Y limits around the data (not from 0), kept inside the metric's possible range."""
    finite = values[np.isfinite(values)]
    lo_bound, hi_bound = _METRIC_RANGE.get(metric, (0.0, 1.0))
    if not finite.size:
        return lo_bound, hi_bound
    lo, hi = float(finite.min()), float(finite.max())
    pad = max(hi - lo, 0.02) * 0.15
    return max(lo_bound, lo - pad), min(hi_bound, hi + pad)


def cv_figure(
    scores: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    chosen: str | None = None,
    sort_metric: str | None = None,
) -> Figure:
    """Random versus spatial cross-validation per model: scores and their gap.

    One column per metric. The upper panel shows each model's mean score as a dot with ±1 sd
    whiskers over the folds, random CV (open square) beside spatial CV (filled circle), joined
    by a line; its y-axis is zoomed to the data, so it does not start at 0. The lower panel
    shows the gap, random − spatial mean, as a labelled bar: how optimistic random CV is (for
    ``brier``, lower is better, so optimism is a negative gap).

    Parameters
    ----------
    scores : DataFrame
        The tidy CV table (``model, scheme, metric, value``; docs/contracts.md).
    metrics : sequence of str, optional
        Metrics to draw, in order; by default all in the table (accuracy, kappa, f1, roc_auc,
        pr_auc, brier first).
    chosen : str, optional
        The model the run chose; its column is shaded and its name marked.
    sort_metric : str, optional
        Models are sorted best first by their spatial CV score of this metric (the first metric
        drawn by default), the same order in every panel.

    Raises
    ------
    DataError
        If a metric, ``sort_metric`` or ``chosen`` is not in the table.
    """
    summ = cv_summary(scores)
    present = list(summ["metric"].unique())
    models_all = sorted(summ["model"].unique())
    if metrics:
        metrics = list(metrics)
    else:
        metrics = [m for m in METRIC_ORDER if m in present] + sorted(
            set(present) - set(METRIC_ORDER)
        )
    absent = [m for m in [*metrics, *([sort_metric] if sort_metric else [])] if m not in present]
    if absent or not metrics:
        raise DataError(
            f"metric(s) {absent} not in the cv_scores table, which has {sorted(present)}; "
            "pick metrics from those"
        )
    if chosen is not None and chosen not in models_all:
        raise DataError(
            f"chosen model {chosen!r} is not in the cv_scores table, which has models "
            f"{models_all}; pass one of those or chosen=None"
        )
    models = _model_order(summ, sort_metric or metrics[0])
    x = np.arange(len(models), dtype=float)
    # about half an inch per model, in a figure that fits the report's width (~11 in)
    panel_w = max(3.4, 0.45 * len(models) + 0.7)
    ncol = max(1, min(3, len(metrics), int(11.0 // panel_w)))
    nrow = -(-len(metrics) // ncol)
    fig = Figure(figsize=(panel_w * ncol, 3.9 * nrow + 0.5), layout="constrained")
    grid = fig.add_gridspec(2 * nrow, ncol, height_ratios=[2.6, 1.3] * nrow)
    for i, metric in enumerate(metrics):
        r, c = divmod(i, ncol)
        ax = fig.add_subplot(grid[2 * r, c])
        gap_ax = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
        ax.set_label(f"cv-{metric}")
        gap_ax.set_label(f"cv-gap-{metric}")
        _cv_panels(ax, gap_ax, summ, metric, models, x, chosen)
        if c == 0:
            ax.set_ylabel("mean ± sd over folds", fontsize=8)
            gap_ax.set_ylabel("random − spatial", fontsize=8)
    handles: list[Any] = [
        Line2D(
            [], [], marker="s", ls="", mfc="white", color=SCHEME_COLORS["random"], label="random CV"
        ),
        Line2D([], [], marker="o", ls="", color=SCHEME_COLORS["spatial"], label="spatial CV"),
        Patch(color=GAP_COLOR, label="gap: random − spatial mean"),
    ]
    if chosen is not None:
        handles.append(Patch(color=CHOSEN_COLOR, label=f"chosen model ({chosen})"))
    fig.legend(
        handles=handles, loc="outside upper center", ncol=len(handles), frameon=False, fontsize=8
    )
    return fig


def _cv_panels(
    ax: Any,
    gap_ax: Any,
    summ: pd.DataFrame,
    metric: str,
    models: list[str],
    x: np.ndarray,
    chosen: str | None,
) -> None:
    """Draw the score panel and the gap panel of one metric."""
    if chosen is not None:
        k = models.index(chosen)
        for a in (ax, gap_ax):
            a.axvspan(k - 0.45, k + 0.45, color=CHOSEN_COLOR, zorder=0)
    stats = {s: _cv_stats(summ, metric, s, models) for s in ("random", "spatial")}
    (r_mean, r_sd), (s_mean, s_sd) = stats["random"], stats["spatial"]
    for xi, a, b in zip(x, r_mean, s_mean, strict=True):
        if np.isfinite(a) and np.isfinite(b):
            ax.plot([xi - 0.13, xi + 0.13], [a, b], color="#9a9a9a", lw=0.8, zorder=1)
    ax.errorbar(
        x - 0.13,
        r_mean,
        yerr=r_sd,
        fmt="s",
        ms=5,
        mfc="white",
        color=SCHEME_COLORS["random"],
        capsize=3,
        lw=1.2,
        zorder=2,
        label="random CV",
    )
    ax.errorbar(
        x + 0.13,
        s_mean,
        yerr=s_sd,
        fmt="o",
        ms=5,
        color=SCHEME_COLORS["spatial"],
        capsize=3,
        lw=1.2,
        zorder=3,
        label="spatial CV",
    )
    lo, hi = _zoomed_limits(
        np.concatenate([r_mean - r_sd, r_mean + r_sd, s_mean - s_sd, s_mean + s_sd]), metric
    )
    ax.set_ylim(lo, hi)
    better = "lower" if metric in LOWER_IS_BETTER else "higher"
    ax.set_title(f"{metric} ({better} is better)", fontsize=9)
    ax.tick_params(axis="x", labelbottom=False)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)

    gap = r_mean - s_mean
    bars = gap_ax.bar(x, np.nan_to_num(gap), 0.5, color=GAP_COLOR, label="gap")
    gap_ax.bar_label(
        bars,
        labels=[f"{g:+.3f}" if np.isfinite(g) else "n/a" for g in gap],
        fontsize=7,
        padding=1,
    )
    finite = gap[np.isfinite(gap)]
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(0.0, float(finite.max())) if finite.size else 0.0
    span = max(hi - lo, 0.005)  # room for the value labels beyond the bars' ends
    gap_ax.set_ylim(lo - span * (0.05 + 0.35 * (lo < 0)), hi + span * (0.05 + 0.35 * (hi > 0)))
    gap_ax.axhline(0, color="#555", lw=0.6)
    gap_ax.set_xticks(
        x,
        [m + (" (chosen)" if m == chosen else "") for m in models],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    for label in gap_ax.get_xticklabels():
        if label.get_text().endswith(" (chosen)"):
            label.set_fontweight("bold")
    gap_ax.tick_params(axis="y", labelsize=7)
    gap_ax.set_xlim(-0.6, len(models) - 0.4)


# -- importance and area --------------------------------------------------------------------------
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


AREA_STYLES: dict[str, tuple[str, str, str]] = {
    "permafrost_region_km2": ("permafrost region (any permafrost, p ≥ 1 %)", "#6baed6", ":"),
    "permafrost_extent_km2": ("permafrost extent (class = permafrost)", "#3163a7", "-"),
    "probability_weighted_km2": ("probability-weighted permafrost area", "#08306b", "--"),
}
"""Area column → (legend label, colour, line style)."""


def area_unit(max_km2: float) -> tuple[float, str]:
    """``(divisor, unit)`` for an area axis: million km² from 1 million km² up, else km².

    >>> area_unit(2.5e6)
    (1000000.0, 'million km²')
    >>> area_unit(42_000.0)
    (1.0, 'km²')
    """
    return (1e6, "million km²") if max_km2 >= 1e6 else (1.0, "km²")


def area_figure(area: pd.DataFrame) -> Figure:
    """Area time series: class-based extent and probability-weighted area per epoch.

    ``area`` has an ``epoch`` column and any of ``permafrost_region_km2``,
    ``permafrost_extent_km2``, ``probability_weighted_km2`` (and ``domain`` for AOA lines). The
    y-axis is in million km² for continental areas, km² below 1 million km² (:func:`area_unit`).

    Raises
    ------
    DataError
        If ``area`` has no ``epoch`` column or none of the area columns.
    """
    cols = [c for c in AREA_STYLES if c in area]
    if "epoch" not in area or not cols:
        raise DataError(
            f"area table has columns {sorted(map(str, area.columns))}, but an area chart needs "
            f"'epoch' and at least one of {sorted(AREA_STYLES)} (docs/contracts.md)"
        )
    top = float(np.nanmax(area[cols].to_numpy(dtype=float))) if len(area) else 0.0
    divisor, unit = area_unit(top if np.isfinite(top) else 0.0)
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.subplots()
    domains = area["domain"].unique() if "domain" in area else ["all"]
    for domain in domains:
        sub = area[area["domain"] == domain] if "domain" in area else area
        sub = sub.sort_values("epoch")
        for col in cols:
            label, color, ls = AREA_STYLES[col]
            suffix = " — inside AOA" if domain == "aoa" else ""
            ax.plot(
                sub["epoch"],
                sub[col] / divisor,
                ls,
                color=color,
                marker="o",
                lw=1.8,
                alpha=1.0 if domain == "all" else 0.5,
                label=label + suffix,
            )
    ax.set_ylabel(f"permafrost area ({unit})", fontsize=10)
    ax.set_xlabel("epoch", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.set_xticks(sorted(area["epoch"].unique()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    if divisor == 1.0:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.grid(alpha=0.3)
    fig.legend(fontsize=9, loc="outside lower center", ncol=2, frameon=False)
    return fig
