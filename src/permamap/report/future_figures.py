"""Figures of the report's "Future" section (:mod:`permamap.report.future`).

Built with the object API (:class:`matplotlib.figure.Figure`), never pyplot, like the other report
figures: the scenario fan chart (mapped epochs, then the GCM-mean extent per scenario through the
period midpoints with the GCM range as a band) and the probability maps per scenario × period on
one colour scale (:func:`~permamap.report.mapfigs.small_multiples`) with the cells outside the area
of applicability hatched.

Scenario colours are the IPCC AR6 WGI ones (``categorical_colors_rgb_0-255/ssp_cat_2.txt`` of
github.com/IPCC-WG1/colormaps); each scenario also has its own marker, so the lines stay apart
without colour. Scenarios outside that table take the Okabe–Ito colours in the order they come.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ..errors import DataError
from .figures import area_unit
from .mapfigs import read_raster_view, small_multiples

__all__ = [
    "HATCH",
    "SSP_COLORS",
    "fan_chart",
    "period_label",
    "period_midpoint",
    "probability_panels",
    "scenario_colors",
    "scenario_key",
    "scenario_label",
]

SSP_COLORS: dict[str, str] = {
    "ssp119": "#00adcf",  # (0, 173, 207)
    "ssp126": "#173c66",  # (23, 60, 102)
    "ssp245": "#f79420",  # (247, 148, 32)
    "ssp370": "#e71d25",  # (231, 29, 37)
    "ssp585": "#951b1e",  # (149, 27, 30)
}
"""IPCC AR6 WGI colours of the SSP scenarios (RGB 0–255 in the comments)."""

# Okabe & Ito (2008): told apart by the common colour-vision deficiencies
_FALLBACK = ("#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#0072b2", "#d55e00", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
HISTORY_COLOR = "#7a8794"  # grey, apart from the dark SSP1-2.6 blue
HATCH = "////"
_PERIOD_RE = re.compile(r"^(\d{4})-(\d{4})$")


def scenario_key(name: str) -> str:
    """A scenario name folded for look-ups: lower case, no ``-``, ``.``, ``_`` or spaces.

    >>> scenario_key("SSP5-8.5"), scenario_key("ssp126")
    ('ssp585', 'ssp126')
    """
    return re.sub(r"[-._\s]", "", name.lower())


def scenario_label(name: str) -> str:
    """How people write a scenario: ``ssp126`` → ``SSP1-2.6``; other names as they are.

    >>> scenario_label("ssp126"), scenario_label("ssp585"), scenario_label("rcp45")
    ('SSP1-2.6', 'SSP5-8.5', 'rcp45')
    """
    m = re.fullmatch(r"ssp(\d)(\d)(\d)", scenario_key(name))
    return f"SSP{m.group(1)}-{m.group(2)}.{m.group(3)}" if m else name


def scenario_colors(scenarios: Sequence[str]) -> dict[str, str]:
    """Scenario → colour: the AR6 colour where there is one, else the next Okabe–Ito colour.

    >>> scenario_colors(["ssp585", "warm", "ssp126", "cold"])
    {'ssp585': '#951b1e', 'warm': '#009e73', 'ssp126': '#173c66', 'cold': '#cc79a7'}
    """
    out: dict[str, str] = {}
    k = 0
    for s in scenarios:
        if s in out:
            continue
        known = SSP_COLORS.get(scenario_key(s))
        if known is None:
            known = _FALLBACK[k % len(_FALLBACK)]
            k += 1
        out[s] = known
    return out


def period_midpoint(period: str) -> float:
    """The middle of a period named ``<first>-<last>`` (years included), e.g. 2050.5.

    >>> period_midpoint("2041-2060"), period_midpoint("2021-2040")
    (2050.5, 2030.5)

    Raises
    ------
    DataError
        If ``period`` is not two years joined by ``-``, the first not after the second.
    """
    m = _PERIOD_RE.fullmatch(str(period))
    if m is None or int(m.group(1)) > int(m.group(2)):
        raise DataError(
            f"period {period!r} is not '<first year>-<last year>' (e.g. '2041-2060'); "
            "name the projection periods that way"
        )
    return (int(m.group(1)) + int(m.group(2))) / 2


def period_label(period: str) -> str:
    """A period with an en dash between its years: ``2041-2060`` → ``2041–2060``.

    >>> period_label("2081-2100")
    '2081–2100'
    """
    return str(period).replace("-", "–")


def fan_chart(
    history: pd.DataFrame,
    projections: pd.DataFrame,
    *,
    baseline: tuple[float, float] | None = None,
) -> Figure:
    """Permafrost extent against time: the mapped epochs, then one line per scenario.

    Parameters
    ----------
    history : DataFrame
        ``epoch`` and ``permafrost_extent_km2`` of the mapped epochs (may be empty).
    projections : DataFrame
        One row per scenario × period: ``scenario``, ``midpoint`` (year), ``permafrost_extent_km2``
        (GCM mean), ``gcm_low_km2`` / ``gcm_high_km2`` (the GCM range) and, on virtual runs,
        ``true_extent_km2``. Scenarios are drawn in the order they first come.
    baseline : (year, km²), optional
        The baseline epoch's extent; a dotted line joins it to each scenario's first period.

    Returns
    -------
    Figure
        One axes labelled ``future-fan``; areas in million km² from 1 million km² up (else km²).

    Raises
    ------
    DataError
        If ``projections`` lacks a column or has no finite extent.
    """
    need = ("scenario", "midpoint", "permafrost_extent_km2", "gcm_low_km2", "gcm_high_km2")
    absent = [c for c in need if c not in projections]
    if absent:
        raise DataError(f"projection table lacks columns {absent}; a fan chart needs {list(need)}")
    proj = projections.sort_values("midpoint", kind="stable")
    values = proj[["permafrost_extent_km2", "gcm_low_km2", "gcm_high_km2"]].to_numpy(dtype=float)
    if not np.isfinite(values[:, 0]).any():
        raise DataError("no projected extent is a finite number; re-run the projection stage")
    tops = [np.nanmax(values)]
    if len(history):
        tops.append(np.nanmax(history["permafrost_extent_km2"].to_numpy(dtype=float)))
    if "true_extent_km2" in proj and proj["true_extent_km2"].notna().any():
        tops.append(np.nanmax(proj["true_extent_km2"].to_numpy(dtype=float)))
    divisor, unit = area_unit(float(np.nanmax(tops)))
    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.set_label("future-fan")
    handles: list[Line2D | Patch] = []
    if len(history):
        h = history.sort_values("epoch")
        (line,) = ax.plot(
            h["epoch"].to_numpy(dtype=float),
            h["permafrost_extent_km2"].to_numpy(dtype=float) / divisor,
            "-o",
            color=HISTORY_COLOR,
            lw=1.8,
            ms=5,
            label="mapped epochs (this run)",
        )
        handles.append(line)
    order = list(dict.fromkeys(proj["scenario"]))
    colors = scenario_colors(order)
    has_truth = False
    for k, scenario in enumerate(order):
        sub = proj[proj["scenario"] == scenario]
        color, marker = colors[scenario], _MARKERS[k % len(_MARKERS)]
        x = sub["midpoint"].to_numpy(dtype=float)
        y = sub["permafrost_extent_km2"].to_numpy(dtype=float) / divisor
        lo = sub["gcm_low_km2"].to_numpy(dtype=float) / divisor
        hi = sub["gcm_high_km2"].to_numpy(dtype=float) / divisor
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
        # whiskers too: a single period has a band of no width
        ax.vlines(x, lo, hi, color=color, lw=1.0, alpha=0.8)
        if baseline is not None and np.isfinite(y[0]):
            ax.plot([baseline[0], x[0]], [baseline[1] / divisor, y[0]], ":", color=color, lw=1.2)
        (line,) = ax.plot(
            x, y, "-", marker=marker, color=color, lw=1.8, ms=6, label=scenario_label(scenario)
        )
        handles.append(line)
        if "true_extent_km2" in sub and sub["true_extent_km2"].notna().any():
            has_truth = True
            ax.plot(
                x,
                sub["true_extent_km2"].to_numpy(dtype=float) / divisor,
                "*",
                mfc="none",
                mec=color,
                mew=1.3,
                ms=13,
                zorder=4,
            )
    handles.append(Patch(facecolor="#9aa7b4", alpha=0.5, label="range of the GCMs"))
    if has_truth:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="*",
                mfc="none",
                mec="#4a4a4a",
                mew=1.3,
                ms=13,
                label="virtual truth",
            )
        )
    ax.set_ylabel(f"permafrost extent ({unit})", fontsize=10)
    ax.set_xlabel("year (a projection sits at the middle of its period)", fontsize=10)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    if divisor == 1.0:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    fig.legend(
        handles=handles,
        fontsize=9,
        loc="outside lower center",
        ncol=len(handles) if len(handles) <= 5 else 3,
        frameon=False,
    )
    return fig


def _has_band(path: Path, name: str) -> bool:
    with rasterio.open(path) as src:
        return any((d or "").strip().lower() == name for d in src.descriptions)


def probability_panels(
    paths: Mapping[str, Path],
    *,
    ncols: int,
    max_pixels: int = 600,
    coastlines: str = "land-mask",
) -> tuple[Figure, int]:
    """The ``probability`` band of each future map on one 0–100 % scale, outside-AOA cells hatched.

    Parameters
    ----------
    paths : mapping of str to Path
        Panel title → future map, row by row (a row per scenario, a column per period).
    ncols : int
        Panels per row (the number of periods).
    max_pixels : int
        Longest side of each decimated read (served from the maps' overviews).
    coastlines : {"land-mask", "data-mask", "none"}
        See :mod:`permamap.report.mapfigs`.

    Returns
    -------
    (Figure, int)
        The figure, and how many panels have cells outside the area of applicability (the
        ``aoa`` band is 0 there; a map without an ``aoa`` band is drawn without hatching).
    """
    fig = small_multiples(
        paths, "probability", max_pixels=max_pixels, coastlines=coastlines, ncols=ncols
    )
    panels = [ax for ax in fig.axes if ax.images][: len(paths)]
    hatched = 0
    for ax, path in zip(panels, paths.values(), strict=True):
        if not _has_band(path, "aoa"):
            continue
        view = read_raster_view(path, "aoa", max_pixels)
        outside = np.ma.filled(view.data, 255) == 0
        if not outside.any():
            continue
        hatched += 1
        # Cells split in 2 × 2: the 0.5 contour between two split cells' centres then runs along
        # the cell edge, not through the cell centres; one split cell of padding (edge values)
        # carries the hatching out to the raster's edges.
        fine = np.pad(np.kron(outside.astype(float), np.ones((2, 2))), 1, mode="edge")
        w, s, e, n = view.bounds
        dx, dy = (e - w) / (fine.shape[1] - 2), (n - s) / (fine.shape[0] - 2)
        cs = ax.contourf(
            fine,
            levels=[0.5, 1.5],
            colors="none",
            hatches=[HATCH],
            extent=(w - dx, e + dx, s - dy, n + dy),
            origin="upper",
        )
        ax.set_xlim(w, e)
        ax.set_ylim(s, n)
        if hasattr(cs, "set_hatchcolor"):  # matplotlib >= 3.10; black before
            cs.set_hatchcolor("#2b2b2b")
    for im in (im for ax in panels for im in ax.images):
        if im.colorbar is not None:
            im.colorbar.set_label(
                "GCM-mean permafrost probability (%) — grey: no data / ocean", fontsize=9
            )
    if hatched:
        fig.legend(
            handles=[
                Patch(
                    facecolor="white",
                    edgecolor="#2b2b2b",
                    hatch=HATCH,
                    label="outside the area of applicability (the model extrapolates)",
                )
            ],
            loc="outside upper center",
            frameon=False,
            fontsize=9,
        )
    return fig, hatched
