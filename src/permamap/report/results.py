"""Sections on what the run mapped: the maps with their quality bands, the area, the change.

Each section reads its files through the page's :class:`~permamap.layout.RunLayout` and shows
what the stages computed; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import rasterio

from ..change import NO_ELEVATION_NOTE
from ..contracts import CHANGE_CODES
from ..layout import RunLayout
from . import figures
from .markup import esc, figure, get, km2, missing, sig, table
from .page import Page

__all__ = ["section_area", "section_change", "section_maps", "section_plausibility"]

_AREA_LABELS = {
    "permafrost_extent_km2": "Permafrost extent (class = permafrost)",
    "probability_weighted_km2": "Probability-weighted permafrost area",
    "land_km2": "Mapped land",
    "permafrost_region_km2": "Permafrost region (any permafrost, p ≥ 1 %)",
    "cell_km2": "All cells",
}

# (the uncertainty band is shown in "How sure are we?", report/uncertainty.py)
_QUALITY_BANDS = {
    "aoa": (
        "Area of applicability {epoch}",
        "Outside (0) = factor combinations unlike any training site (dissimilarity index above "
        "{threshold}, Meyer &amp; Pebesma 2021): predictions there are extrapolation.",
    ),
}

# Rows of the reference comparison (one column per epoch compared), with their labels. Only one
# agreement figure is shown: the area-weighted ``overall_agreement``.
_REFERENCE_ROWS = {
    "reference": "reference map",
    "reference_kind": "reference kind",
    "compared_km2": "compared area",
    "overall_agreement": "agreement (area-weighted)",
    "kappa": "kappa (area-weighted)",
    "map_extent_km2": "permafrost extent, this map",
    "reference_extent_km2": "permafrost extent, reference",
    "extent_difference_km2": "extent difference (map − reference)",
    "omission_km2": "omission (permafrost in the reference only)",
    "commission_km2": "commission (permafrost in this map only)",
    "probability_weighted_difference_km2": "probability-weighted difference",
}

# Older runs wrote the 0 → 1 change class as "aggregated"; it is permafrost aggradation.
_OLD_CHANGE_NAMES = {"aggregated": CHANGE_CODES[3]}


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


def _area_caption(page: Page, epoch: int) -> str:
    a = get(page.summary, "area_km2", str(epoch)) or {}
    if not isinstance(a, Mapping) or not {
        "permafrost_extent_km2",
        "probability_weighted_km2",
    } <= set(a):
        return ""
    return (
        f"Extent {km2(a['permafrost_extent_km2'])}, probability-weighted "
        f"{km2(a['probability_weighted_km2'])}."
    )


def section_maps(page: Page) -> str:
    """All epochs' probability as one panel (one colour bar), the last epoch large, its quality."""
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
    if len(maps) > 1:
        fig = figures.small_multiples(
            {str(e): p for e, p in maps.items()},
            "probability",
            max_pixels=min(600, page.max_pixels),
            coastlines=page.coastlines,
        )
        out.append(
            figure(
                figures.figure_to_data_uri(fig),
                "permafrost probability of every epoch",
                "Permafrost probability (%) of each epoch on one colour scale, from "
                + ", ".join(f"<code>{esc(page.name(p))}</code>" for p in maps.values())
                + '. Areas per epoch: see <a href="#area">Permafrost area</a>.',
                "maps-panel",
            )
        )
    epoch, path = list(maps.items())[-1]
    band = _band_named(path, "probability") or 1
    view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
    fig = figures.raster_figure(view, f"Permafrost probability {epoch}", coastlines=page.coastlines)
    out.append(
        figure(
            figures.figure_to_data_uri(fig),
            f"permafrost map {epoch}",
            f"<code>{esc(page.name(path))}</code>, band {band} "
            f"({esc(view.description or 'class')}), shown at 1/{view.decimation} "
            f"resolution. {_area_caption(page, epoch)}",
            f"map-{epoch}",
        )
    )
    out.extend(_quality_maps(page, epoch, path))
    return "".join(out)


def _rounded(text: str) -> str:
    """A number read from a tag, to four significant digits; other text unchanged."""
    try:
        return sig(float(text))
    except ValueError:
        return text


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
            threshold=esc(_rounded(view.tags.get("aoa_threshold", "the threshold"))),
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


def _mkm2(v: Any) -> str:
    """km² as millions with three decimals (1,000 km²), for columns headed "(M km²)"."""
    return sig(None) if not isinstance(v, int | float) else f"{v / 1e6:,.3f}"


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
            "Permafrost area per epoch (unit on the axis). Lighter lines: inside the area of "
            "applicability, where present.",
            "area-timeseries",
        )
    )
    if "domain" in totals:
        totals = totals.assign(
            domain=totals["domain"].replace({"all": "all land", "aoa": "inside the AOA"})
        )
    columns = [c for c in ("epoch", "domain", *_AREA_LABELS) if c in totals]
    out.append(
        table(
            totals[columns].reset_index(drop=True),
            headers={k: v + " (M km²)" for k, v in _AREA_LABELS.items()},
            formats=dict.fromkeys(_AREA_LABELS, _mkm2),
            ident="area-table",
        )
    )
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


def _pairs_table(page: Page, pairs: list[tuple[int, int]]) -> str:
    """One row per epoch pair from the summary: stable, degraded, aggraded and net change."""
    by_pair = {}
    for t in get(page.summary, "change", "transitions") or []:
        if isinstance(t, Mapping) and {"from_epoch", "to_epoch"} <= set(t):
            by_pair[(int(t["from_epoch"]), int(t["to_epoch"]))] = t
    rows = []
    for a, b in pairs:
        t = by_pair.get((a, b))
        if t is None:
            continue
        aggraded = t.get("aggraded_km2", t.get("aggregated_km2"))
        rows.append(
            {
                "epochs": f"{a} → {b}",
                "stable permafrost": t.get("stable_permafrost_km2"),
                "degraded (1 → 0)": t.get("degraded_km2"),
                "aggraded (0 → 1)": aggraded,
                "net change": t.get("net_change_km2"),
            }
        )
    if not rows:
        return ""
    df = pd.DataFrame(rows)
    fmt = {c: (lambda v: km2(v) if isinstance(v, int | float) else "–") for c in df.columns[1:]}
    return (
        table(df, formats=fmt, ident="change-pairs")
        + '<p class="note">Areas from exact cell areas; net change = aggraded − degraded. '
        "Consecutive epochs first, then the whole period.</p>"
    )


def _reference_part(page: Page) -> list[str]:
    """The reference comparison, one column per epoch compared; one agreement figure."""
    lay = page.layout
    r = pd.read_csv(lay.reference_comparison)
    if page.epochs is not None and "epoch" in r:
        r = r[r["epoch"].isin(page.epochs)]
    if r.empty or "epoch" not in r:
        return []
    rows = [c for c in _REFERENCE_ROWS if c in r]
    wide = r.set_index(r["epoch"].astype(int))[rows].T
    wide.index = [_REFERENCE_ROWS[c] for c in wide.index]
    wide.index.name = "epoch"
    wide.columns = [str(c) for c in wide.columns]
    for col in wide.columns:
        wide[col] = [
            km2(v) if key.endswith("_km2") and isinstance(v, int | float) else sig(v, 3)
            for key, v in zip(rows, wide[col], strict=True)
        ]
    out = ["<h3>Comparison with the reference map</h3>", table(wide, index=True, ident="reference")]
    out.append(
        '<p class="note">Computed on the cells with data in both maps, after resampling the '
        "reference to the grid; agreement and kappa weight each cell by its area.</p>"
    )
    truth = get(page.summary, "truth_agreement") or {}
    for epoch, row in r.set_index(r["epoch"].astype(int)).iterrows():
        shown = truth.get(str(epoch)) if isinstance(truth, Mapping) else None
        is_truth = str(row.get("reference", "")) == lay.truth(int(epoch)).name
        agree = row.get("overall_agreement")
        if is_truth and isinstance(shown, int | float) and isinstance(agree, int | float):
            if abs(shown - agree) >= 5e-4:
                out.append(
                    f'<p class="missing">The headline agreement with the truth for {epoch} '
                    f"({shown:.3f}) is not this table's area-weighted {agree:.3f}: "
                    f"{esc(page.name(lay.summary))} was written by a permamap that counted "
                    "cells. Run the demo again to refresh it.</p>"
                )
    return out


def section_change(page: Page) -> str:
    """Change per epoch pair (consecutive pairs first, the whole period last), and the reference.

    A table of stable, degraded, aggraded and net areas of every pair; then each pair's change
    map and transition table; then the comparison with the reference map.
    """
    lay = page.layout
    # This run's pairs (from the summary): a transitions file of an earlier run is never shown.
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
    out = [_unlisted_note(page, RunLayout.pattern("transitions")), _pairs_table(page, list(pairs))]
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
                    f"not in {b}; aggraded = the reverse (new permafrost).",
                    f"change-{a}-{b}",
                )
            )
        else:
            out.append(missing(f"{esc(page.name(tif))} not found"))
        t = pd.read_csv(csv)
        t = t[t["area_km2"] > 0] if "area_km2" in t else t
        if "change" in t:
            t = t.assign(change=t["change"].replace(_OLD_CHANGE_NAMES))
        keep = [c for c in ("from_class", "to_class", "change", "area_km2") if c in t]
        out.append(
            f"<details><summary>Transitions {esc(a)} → {esc(b)} "
            f"(<code>{esc(page.name(csv))}</code>)</summary>"
            + table(
                t[keep].reset_index(drop=True),
                formats={"area_km2": km2},
                headers={"area_km2": "area", "from_class": f"class {a}", "to_class": f"class {b}"},
            )
            + "</details>"
        )
    if lay.reference_comparison.is_file() and page.has_reference is not False:
        out.extend(_reference_part(page))
    return "".join(out)


def _plausible_values(row: Mapping[str, Any]) -> tuple[str, str]:
    """(value, published range) of one plausibility row as text with the unit."""
    unit = str(row.get("unit", ""))
    v, low, high = row.get("value"), row.get("low"), row.get("high")
    if unit == "km²" and all(isinstance(x, int | float) for x in (v, low, high)):
        v, low, high = float(v), float(low), float(high)  # type: ignore[arg-type]
        if min(abs(v), abs(low), abs(high)) >= 1e5:  # all near millions: one unit for the row
            return km2(v), f"{low / 1e6:.2f} – {high / 1e6:.2f} M km²"
        return km2(v), f"{km2(low)} – {km2(high)}"
    unit = f" {unit}" if unit else ""

    def show(x: Any) -> str:
        return sig(x, 3).replace("-", "−")  # a minus sign, not a hyphen

    return f"{show(v)}{unit}", f"{show(low)} to {show(high)}{unit}"


def section_plausibility(page: Page) -> str | None:
    """The virtual world against published figures (``summary["plausibility"]``), if present."""
    rows = get(page.summary, "plausibility")
    if not isinstance(rows, list) or not rows:
        return None
    body = []
    for r in rows:
        if not isinstance(r, Mapping):
            continue
        inside = r.get("inside")
        mark = (
            '<td class="ok">yes</td>'
            if inside is True
            else '<td class="bad">no</td>'
            if inside is False
            else "<td>–</td>"
        )
        value, bounds = _plausible_values(r)
        epoch = r.get("epoch")
        body.append(
            f"<tr><td>{esc(r.get('quantity', '?'))}</td>"
            f"<td>{esc(epoch) if epoch is not None else 'all'}</td>"
            f'<td class="num">{esc(value)}</td><td class="num">{esc(bounds)}</td>{mark}'
            f"<td>{esc(r.get('anchor') or '–')}</td></tr>"
        )
    n_in = sum(1 for r in rows if isinstance(r, Mapping) and r.get("inside") is True)
    return (
        f"<p>{n_in} of {len(body)} quantities fall inside the published range.</p>"
        '<table id="plausibility"><thead><tr><th>quantity</th><th>epoch</th>'
        "<th>virtual world</th><th>published range</th><th>inside</th><th>source</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
        '<p class="note">The virtual world is built to look like the real Northern Hemisphere '
        "permafrost zone, not to reproduce it: a value outside its range says where the "
        "demonstration differs from the literature.</p>"
    )
