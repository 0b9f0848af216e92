"""Figures of the report's "How sure are we?" section (:mod:`permamap.report.uncertainty`).

Built with the object API (:class:`matplotlib.figure.Figure`), never pyplot, like
:mod:`permamap.report.figures`, whose map helper, colours and area styles they reuse: a
reliability diagram, the spread and expected-accuracy maps with their colour bars in percentage
points and percent, expected against observed accuracy, and the area series with interval bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ..errors import DataError
from . import figures
from .figures import AREA_STYLES, SCHEME_COLORS, area_unit

__all__ = [
    "AREA_KEYS",
    "accuracy_figure",
    "area_interval_figure",
    "bins_table",
    "percent_map",
    "reliability_figure",
    "spread_figure",
]

BEFORE_COLOR = SCHEME_COLORS["random"]  # grey: the model's own probabilities
AFTER_COLOR = SCHEME_COLORS["spatial"]  # blue: calibrated (what the maps carry)
TRUTH_COLOR = "#b8580f"
MAX_SPREAD_PP = 50.0  # the sd of a probability in [0, 1] is at most 0.5
AREA_KEYS = ("permafrost_extent_km2", "probability_weighted_km2")


def bins_table(rows: Any, what: str, keys: Sequence[str]) -> pd.DataFrame:
    """A list of bin dicts as a table, rows with a missing or non-finite value left out.

    Raises
    ------
    DataError
        If ``rows`` is not a list of objects with ``keys``.
    """
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise DataError(f"{what} is not a list of bins; re-run the stage that wrote it")
    absent = sorted({k for r in rows for k in keys if k not in r})
    if absent:
        raise DataError(f"{what} has bins without {absent}; re-run the stage that wrote it")
    df = pd.DataFrame([{k: r[k] for k in keys} for r in rows], columns=list(keys))
    df = df.apply(pd.to_numeric, errors="coerce")
    return df[np.isfinite(df.to_numpy(dtype=float)).all(axis=1)].reset_index(drop=True)


def reliability_figure(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]] | None = None,
    *,
    method: str = "none",
) -> Figure:
    """Reliability diagram: mean predicted probability against the observed share per bin.

    The upper panel has the diagonal (perfect calibration), the model's own out-of-fold
    probabilities (grey, open) and, when a calibrator was chosen, the calibrated ones (blue,
    filled); marker area grows with the rows in the bin. The lower panel shows the rows per bin
    (log scale) of each curve.

    Parameters
    ----------
    before, after : list of dict
        Bins with ``bin_low, bin_high, n, mean_p, observed`` (probabilities in [0, 1]), as
        :func:`permamap.selection.calibration.reliability_table` writes them. ``after`` is left
        out when ``method`` is ``"none"`` (the maps then carry ``before``).
    method : str
        The chosen calibrator, for the legend.

    Raises
    ------
    DataError
        If a bin lacks a key or no bin has finite values.
    """
    keys = ("bin_low", "bin_high", "n", "mean_p", "observed")
    curves = [
        (
            bins_table(before, "reliability_before", keys),
            "model's own probabilities" + (" (in the maps)" if method == "none" else ""),
            BEFORE_COLOR,
        )
    ]
    if method != "none" and after is not None:
        curves.append(
            (
                bins_table(after, "reliability_after", keys),
                f"{method}-calibrated (in the maps)",
                AFTER_COLOR,
            )
        )
    if all(df.empty for df, _, _ in curves):
        raise DataError("the reliability bins hold no finite values; re-run the model stage")
    n_max = max(float(df["n"].max()) for df, _, _ in curves if len(df))
    fig = Figure(figsize=(6.0, 6.2), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[3.4, 1.0])
    ax = fig.add_subplot(grid[0])
    hax = fig.add_subplot(grid[1])
    ax.set_label("reliability")
    hax.set_label("reliability-counts")
    ax.plot([0, 1], [0, 1], ls="--", color="#555", lw=0.8, label="perfect calibration")
    width = 1.0 / len(curves)
    for k, (df, name, color) in enumerate(curves):
        sizes = 12 + 180 * df["n"] / n_max
        filled = color == AFTER_COLOR or len(curves) == 1
        ax.plot(df["mean_p"], df["observed"], "-", color=color, lw=1.2, zorder=2)
        ax.scatter(
            df["mean_p"],
            df["observed"],
            s=sizes,
            facecolors=color if filled else "white",
            edgecolors=color,
            linewidths=1.2,
            zorder=3,
        )
        ax.plot([], [], "o", color=color, mfc=color if filled else "white", label=name)
        bw = (df["bin_high"] - df["bin_low"]) * width * 0.85
        left = df["bin_low"] + (df["bin_high"] - df["bin_low"]) * (0.075 + k * width)
        hax.bar(left, df["n"], width=bw, align="edge", color=color)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed share with permafrost", fontsize=9)
    ax.tick_params(labelsize=8, labelbottom=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", title="marker area: sites in the bin", title_fontsize=7)
    hax.set_xlim(0, 1)
    hax.set_yscale("log")
    hax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    hax.yaxis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))
    hax.set_xlabel("mean predicted probability of permafrost (spatial-CV, out of fold)", fontsize=9)
    hax.set_ylabel("sites per bin", fontsize=8)
    hax.tick_params(labelsize=8)
    return fig


def spread_figure(view: figures.RasterView, title: str, *, coastlines: str = "none") -> Figure:
    """The ``uncertainty`` band as a map, colour bar in percentage points.

    The map helper's colours (``magma_r``, dark = large spread) on a scale from 0 to the band's
    largest value rounded up to 5 pp (at most 50 pp, the largest possible sd of a probability),
    so that the usual few-point spreads are not drawn in one pale colour.
    """
    fig = figures.raster_figure(view, title, coastlines=coastlines)
    top = float(np.ma.max(view.data)) if np.ma.count(view.data) else 0.0
    top = min(MAX_SPREAD_PP, max(5.0, 5.0 * math.ceil(top / 5.0)))
    for im in (im for a in fig.axes for im in a.images):
        if im.colorbar is not None:
            im.set_clim(0.0, top)
            im.colorbar.set_label(
                "ensemble spread: sd of p (percentage points) — grey: no data / ocean", fontsize=8
            )
    return fig


def percent_map(
    view: figures.RasterView, title: str, coastlines: str, *, width_in: float = 6.0
) -> Figure:
    """The ``expected_accuracy`` band as a map, colour bar in percent, up to 100 %."""
    fig = figures.raster_figure(view, title, coastlines=coastlines, width_in=width_in)
    low = float(np.ma.min(view.data)) if np.ma.count(view.data) else 50.0
    for im in (im for a in fig.axes for im in a.images):
        if im.colorbar is not None:
            im.set_clim(min(50.0, 10.0 * math.floor(low / 10.0)), 100.0)
            im.colorbar.set_label("expected accuracy (%) — grey: no data / ocean", fontsize=8)
    return fig


def accuracy_figure(
    profile_bins: pd.DataFrame | None, truth_bins: pd.DataFrame | None = None
) -> Figure:
    """Expected against observed accuracy per bin (percent), the diagonal and a ±5 pp band.

    Both tables have ``mean_expected`` and ``observed_accuracy`` in [0, 1]: the error profile's
    out-of-fold bins (blue) and, on the demo, the bins against the virtual truth (orange).
    """
    fig = Figure(figsize=(4.8, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.set_label("expected-accuracy")
    ax.fill_between([0, 100], [-5, 95], [5, 105], color="#e8edf2", label="±5 pp")
    ax.plot([0, 100], [0, 100], ls="--", color="#555", lw=0.8, label="expected = observed")
    found = []
    for df, name, color, marker in (
        (profile_bins, "sites, spatial-CV out of fold", AFTER_COLOR, "o"),
        (truth_bins, "virtual truth (map cells)", TRUTH_COLOR, "s"),
    ):
        if df is None or df.empty:
            continue
        x, y = 100 * df["mean_expected"], 100 * df["observed_accuracy"]
        found.extend([*x, *y])
        ax.plot(x, y, marker=marker, color=color, ms=5, lw=1.0, label=name)
    low = min(found) if found else 50.0
    lo = max(0.0, min(50.0, 10.0 * math.floor(low / 10.0)))
    ax.set_xlim(lo, 100)
    ax.set_ylim(lo, 100)
    ax.set_xlabel("expected accuracy (%)", fontsize=9)
    ax.set_ylabel("observed accuracy (%)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def area_interval_figure(areas: pd.DataFrame) -> Figure:
    """Extent and probability-weighted area per epoch, each with its 95 % interval as a band.

    ``areas`` has ``epoch`` and, per area column of :data:`~permamap.report.figures.AREA_STYLES`
    present, ``<col>`` and optionally ``<col>_lo`` / ``<col>_hi``; an epoch without an interval
    leaves a gap in its band.

    Raises
    ------
    DataError
        If ``areas`` has no ``epoch`` or no area column.
    """
    cols = [c for c in AREA_KEYS if c in areas]
    if "epoch" not in areas or not cols or areas.empty:
        raise DataError(
            f"area table has columns {sorted(map(str, areas.columns))}; an interval chart needs "
            f"'epoch' and one of {list(AREA_KEYS)}"
        )
    areas = areas.sort_values("epoch")
    values = areas[[c for c in areas if str(c).endswith(("_km2", "_lo", "_hi"))]]
    top = float(np.nanmax(values.to_numpy(dtype=float)))
    divisor, unit = area_unit(top if np.isfinite(top) else 0.0)
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_label("area-intervals")
    epochs = areas["epoch"].to_numpy(dtype=float)
    for col in cols:
        name, color, ls = AREA_STYLES[col]
        if f"{col}_lo" in areas and f"{col}_hi" in areas:
            ax.fill_between(
                epochs,
                areas[f"{col}_lo"].to_numpy(dtype=float) / divisor,
                areas[f"{col}_hi"].to_numpy(dtype=float) / divisor,
                color=color,
                alpha=0.18,
                lw=0,
            )
        ax.plot(epochs, areas[col] / divisor, ls, color=color, marker="o", lw=1.8, label=name)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="#9aa7b4", lw=8, alpha=0.5, label="95 % interval"))
    ax.set_ylabel(f"permafrost area ({unit})", fontsize=10)
    ax.set_xlabel("epoch", fontsize=10)
    ax.set_xticks(sorted(areas["epoch"].unique()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    if divisor == 1.0:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    fig.legend(handles=handles, fontsize=9, loc="outside lower center", ncol=3, frameon=False)
    return fig
