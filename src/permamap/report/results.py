"""Sections on what the run mapped: the maps with their quality bands, the area, the change.

Each section reads its files through the page's :class:`~permamap.layout.RunLayout` and shows
what the stages computed; nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import rasterio

from ..change import NO_ELEVATION_NOTE
from ..layout import RunLayout
from . import figures
from .markup import esc, figure, get, km2, missing, table
from .page import Page

__all__ = ["section_area", "section_change", "section_maps"]

_AREA_LABELS = {
    "permafrost_extent_km2": "Permafrost extent (class = permafrost)",
    "probability_weighted_km2": "Probability-weighted permafrost area",
    "land_km2": "Mapped land",
    "permafrost_region_km2": "Permafrost region (any permafrost, p ≥ 1 %)",
    "cell_km2": "All cells",
}

_QUALITY_BANDS = {
    "uncertainty": (
        "Uncertainty {epoch}",
        "0 = the model is sure, 100 = a coin toss ({method}).",
    ),
    "aoa": (
        "Area of applicability {epoch}",
        "Outside (0) = factor combinations unlike any training site (dissimilarity index above "
        "{threshold}, Meyer &amp; Pebesma 2021): predictions there are extrapolation.",
    ),
}

_REFERENCE_COLUMNS = (
    "epoch",
    "reference",
    "reference_kind",
    "compared_km2",
    "overall_agreement",
    "kappa",
    "map_extent_km2",
    "reference_extent_km2",
    "extent_difference_km2",
    "probability_weighted_difference_km2",
)


def _band_named(path: Path, name: str) -> int | None:
    with rasterio.open(path) as src:
        for i, d in enumerate(src.descriptions, start=1):
            if (d or "").lower() == name:
                return i
    return None


def _unlisted_note(page: Page, what: str) -> str:
    """Without a summary the page cannot tell this run's files from an earlier run's: say so."""
    if page.epochs is not None:
        return ""
    why = page.summary_note or f"{page.name(page.layout.summary)} does not list the run's epochs"
    return (
        f'<p class="note">{esc(why)}: showing every {esc(what)} found, which may '
        "include files left by an earlier run in this folder.</p>"
    )


def _area_notes(page: Page) -> str:
    """The run's notes on what the area tables leave out (no elevation zones), one paragraph each."""
    return "".join(
        f'<p class="note">{esc(n)}.</p>' for n in page.notes if n.startswith(NO_ELEVATION_NOTE)
    )


def section_maps(page: Page) -> str:
    """The probability band of every epoch's map, then the last epoch's quality bands."""
    maps = page.run_maps()
    if not maps:
        if page.epochs:
            return missing(
                "none of this run's maps "
                + ", ".join(esc(page.name(page.layout.map(e))) for e in page.epochs)
                + " is in the run folder"
            )
        return missing(f"no {esc(RunLayout.pattern('map'))} in this run folder")
    out = [_unlisted_note(page, RunLayout.pattern("map"))]
    if page.epochs is not None:
        absent = [e for e in page.epochs if e not in maps]
        if absent:
            out.append(
                missing(
                    ", ".join(esc(page.name(page.layout.map(e))) for e in absent) + " not found"
                )
            )
    areas = get(page.summary, "area_km2") or {}
    for epoch, path in maps.items():
        band = _band_named(path, "probability") or 1
        view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
        fig = figures.raster_figure(
            view, f"Permafrost probability {epoch}", coastlines=page.coastlines
        )
        a = areas.get(str(epoch)) or {}
        extra = (
            f" Extent {km2(a['permafrost_extent_km2'])}, probability-weighted "
            f"{km2(a['probability_weighted_km2'])}."
            if "permafrost_extent_km2" in a and "probability_weighted_km2" in a
            else ""
        )
        out.append(
            figure(
                figures.figure_to_data_uri(fig),
                f"permafrost map {epoch}",
                f"<code>{esc(page.name(path))}</code>, band {band} "
                f"({esc(view.description or 'class')}), shown at 1/{view.decimation} "
                f"resolution.{extra}",
                f"map-{epoch}",
            )
        )
    out.extend(_quality_maps(page, *list(maps.items())[-1]))
    return "".join(out)


def _quality_maps(page: Page, epoch: int, path: Path) -> list[str]:
    """The uncertainty and area-of-applicability bands of one epoch's map, when it has them."""
    out = []
    for name, (title, note) in _QUALITY_BANDS.items():
        band = _band_named(path, name)
        if band is None:
            continue
        view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
        fig = figures.raster_figure(view, title.format(epoch=epoch), coastlines=page.coastlines)
        text = note.format(
            method=esc(view.tags.get("uncertainty_method", "")),
            threshold=esc(view.tags.get("aoa_threshold", "the threshold")),
        )
        out.append(
            figure(
                figures.figure_to_data_uri(fig),
                f"{name} map {epoch}",
                f"<code>{esc(page.name(path))}</code>, band {band} ({name}). {text}",
                f"{name}-{epoch}",
            )
        )
    return out


def section_area(page: Page) -> str:
    """Area per epoch (chart and table) and extent per stratum; summary totals as a fallback."""
    lay = page.layout
    df = pd.read_csv(lay.area_by_epoch) if lay.area_by_epoch.is_file() else None
    area_name = esc(page.name(lay.area_by_epoch))
    summary_name = esc(page.name(lay.summary))
    out = []
    if df is None:
        areas = get(page.summary, "area_km2")
        if not areas:
            return missing(f"{area_name} and {summary_name} area_km2 are both absent")
        totals = pd.DataFrame(
            [{"epoch": int(e), "domain": "all", **v} for e, v in areas.items()]
        ).sort_values("epoch")
        out.append(missing(f"{area_name} not found; showing {summary_name} totals"))
    else:
        if page.epochs is not None:  # only this run's epochs, whatever the table holds
            df = df[df["epoch"].isin(page.epochs)]
        totals = df[df["stratum"] == "total"].drop(columns=["stratum", "zone"])
    out.append(
        figure(
            figures.figure_to_data_uri(figures.area_figure(totals)),
            "permafrost area time series",
            "Permafrost area per epoch (million km²). Lighter lines: inside the area of "
            "applicability, where present.",
            "area-timeseries",
        )
    )
    show = totals.rename(columns={k: v + " (km²)" for k, v in _AREA_LABELS.items()})
    out.append(table(show.reset_index(drop=True)))
    if df is not None:
        for stratum, title in (
            ("latitude_band", "By latitude band"),
            ("elevation_zone", "By elevation zone"),
            ("region", "By region"),
        ):
            sub = df[(df["stratum"] == stratum) & (df["domain"] == "all")]
            if sub.empty:
                continue
            wide = sub.pivot_table(
                index="zone", columns="epoch", values="permafrost_extent_km2", sort=False
            )
            wide.columns = [f"{c} extent (km²)" for c in wide.columns]
            out.append(
                f"<details><summary>{title}: permafrost extent in km²</summary>"
                f"{table(wide, index=True)}</details>"
            )
    out.append(_area_notes(page))
    return "".join(out)


def section_change(page: Page) -> str:
    """Change map and transition areas of every epoch pair, and the reference comparison."""
    lay = page.layout
    # This run's pairs (from the summary) in time order, (a, b) ascending: the order the page has
    # always shown; a transitions file of an earlier run is never shown.
    pairs = page.run_transitions()
    if not pairs:
        if page.pairs:
            return missing(
                ", ".join(esc(page.name(lay.transitions(a, b))) for a, b in page.pairs)
                + " not found"
            )
        return missing(
            f"no {esc(RunLayout.pattern('transitions'))} (one epoch, or the change "
            "stage did not run)"
        )
    out = [_unlisted_note(page, RunLayout.pattern("transitions"))]
    for (a, b), csv in pairs.items():
        tif = lay.change_map(a, b)
        out.append(f"<h3>{esc(a)} → {esc(b)}</h3>")
        if tif.is_file():
            view = figures.read_raster_view(tif, 1, max_pixels=page.max_pixels)
            fig = figures.raster_figure(view, f"Change {a} → {b}", coastlines=page.coastlines)
            out.append(
                figure(
                    figures.figure_to_data_uri(fig),
                    f"change map {a} to {b}",
                    f"<code>{esc(page.name(tif))}</code>: degraded = permafrost in {a}, "
                    f"not in {b}; aggregated = the reverse.",
                    f"change-{a}-{b}",
                )
            )
        else:
            out.append(missing(f"{esc(page.name(tif))} not found"))
        t = pd.read_csv(csv)
        t = t[t["area_km2"] > 0] if "area_km2" in t else t
        keep = [c for c in ("from_class", "to_class", "change", "area_km2") if c in t]
        out.append(table(t[keep].reset_index(drop=True), formats={"area_km2": km2}))
    if lay.reference_comparison.is_file() and page.has_reference is not False:
        r = pd.read_csv(lay.reference_comparison)
        if page.epochs is not None and "epoch" in r:
            r = r[r["epoch"].isin(page.epochs)]
        out.append("<h3>Comparison with the reference map</h3>")
        out.append(table(r[[c for c in _REFERENCE_COLUMNS if c in r]]))
        out.append(
            '<p class="note">Computed on the cells with data in both maps, after resampling the '
            "reference to the grid; kappa is area-weighted.</p>"
        )
    return "".join(out)
