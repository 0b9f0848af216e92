"""The report's "How sure are we?" section (issue 12): calibration, spread, expected accuracy, intervals.

Four parts, each drawn from what a stage wrote; nothing is recomputed here:

1. **Reliability diagram** from the model card's ``calibration`` (spatial-CV out-of-fold bins
   before and after the chosen calibrator; Brier and ECE before → after in the caption).
2. **Spread map**: the last epoch's ``uncertainty`` band (100 × sd of the ensemble members'
   calibrated probabilities, in percentage points).
3. **Expected accuracy** beside the AOA: the ``expected_accuracy`` band, the model card's
   ``error_profile`` evidence (expected vs observed out-of-fold accuracy per bin) and, on the
   demo, the summary's ``uncertainty_check.expected_accuracy_vs_truth``.
4. **Areas with 95 % intervals**: ``summary.json`` ``area_km2["<epoch>"]`` ``*_ci95`` as bands
   around the area series, and ``summary["uncertainty"]["pairs"]``: whether each change exceeds
   its interval.

Bands are found by their description, never by position. An absent input (no ensemble, no error
profile) makes its part say so in one sentence; a damaged one becomes a note in that part only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio

from ..contracts import AOA_BAND, EXPECTED_ACCURACY_BAND
from ..layout import RunLayout
from . import figures
from .markup import esc, figure, get, km2, missing, sig, table
from .page import Page, pair_order, part, read_json
from .uncertainty_figures import (
    AREA_KEYS,
    accuracy_figure,
    area_interval_figure,
    bins_table,
    percent_map,
    reliability_figure,
    spread_figure,
)

__all__ = ["km2_range", "section_uncertainty"]

logger = logging.getLogger(__name__)

UNCERTAINTY_BAND = "uncertainty"


# -- text helpers ---------------------------------------------------------------------------------
def _interval(ci: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` as floats, or None when it is not two finite numbers."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in ci):
        return None
    lo, hi = float(ci[0]), float(ci[1])
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def km2_range(lo: float, hi: float) -> str:
    """An interval of areas in one unit (million km² from 1 M km², else km²), minus signs.

    >>> km2_range(11_900_000, 12_640_000), km2_range(-1_250_000, -30_000), km2_range(-40, 960.4)
    ('11.90 to 12.64 M km²', '−1.25 to −0.03 M km²', '−40 to 960 km²')
    """
    big = max(abs(lo), abs(hi)) >= 1e6

    def one(v: float) -> str:
        text = f"{abs(v) / 1e6:.2f}" if big else f"{abs(v):,.0f}"
        return ("−" if v < 0 and text.strip("0.,") else "") + text

    return f"{one(lo)} to {one(hi)} {'M km²' if big else 'km²'}"


def _mapping(v: Any) -> Mapping[str, Any]:
    """``v`` if it is a mapping, else an empty one (a JSON entry of the wrong kind)."""
    return v if isinstance(v, Mapping) else {}


def _explain(what: str, how: str) -> str:
    return f'<p class="note">{what} {how}</p>'


def _band(path: Path, name: str) -> int | None:
    """The 1-based band of ``path`` described ``name`` (case ignored); None if there is none."""
    with rasterio.open(path) as src:
        for i, desc in enumerate(src.descriptions, start=1):
            if (desc or "").strip().lower() == name:
                return i
    return None


# -- the four parts -------------------------------------------------------------------------------
class _Inputs:
    """What the parts read: the model card (or why it is absent) and the last epoch's map."""

    def __init__(self, page: Page) -> None:
        self.page = page
        path = page.layout.model_card
        self.card: Mapping[str, Any] | None = None
        self.card_note = ""
        if not path.is_file():
            self.card_note = f"{esc(page.name(path))} was not found"
        else:
            try:
                card = read_json(path)
            except (OSError, ValueError) as exc:
                self.card_note = f"{esc(page.name(path))} could not be read ({esc(exc)})"
            else:
                if isinstance(card, Mapping):
                    self.card = card
                else:
                    self.card_note = f"{esc(page.name(path))} is not a JSON object"
        maps = page.run_maps()
        last = max(maps) if maps else None
        self.epoch: int | None = last
        self.map: Path | None = maps[last] if last is not None else None

    def no_map(self) -> str:
        return missing(
            f"this run folder holds none of its maps (<code>{esc(RunLayout.pattern('map'))}</code>), "
            "so there is no map to show"
        )


def _reliability(inp: _Inputs) -> str:
    if inp.card is None:
        return missing(f"{inp.card_note}, so there is no reliability diagram")
    cal = inp.card.get("calibration")
    if not isinstance(cal, Mapping):
        return missing(
            f"{esc(inp.page.name(inp.page.layout.model_card))} has no <code>calibration</code> "
            "entry (the model was trained before permamap calibrated probabilities), so there is "
            "no reliability diagram"
        )
    method = str(cal.get("method", "?"))
    fig = reliability_figure(
        cal.get("reliability_before") or [], cal.get("reliability_after"), method=method
    )
    scores = _mapping(cal.get("cross_fitted"))
    before, after = _mapping(scores.get("none")), _mapping(scores.get(method))
    n_rows = cal.get("n_rows")
    rows = f" on {sig(n_rows)} site rows" if isinstance(n_rows, int) else ""
    if method == "none":
        chosen = (
            "Chosen calibration: <b>none</b> — no calibrator lowered the spatial-CV log-loss, so "
            "the maps carry the model's own probabilities. "
            f"Spatial-CV Brier score {sig(before.get('brier'))}, expected calibration error "
            f"(ECE) {sig(before.get('ece'))}"
        )
    else:
        chosen = (
            f"Chosen calibration: <b>{esc(method)}</b>, fitted under spatial CV; the maps carry "
            f"the calibrated probabilities. Spatial-CV Brier score {sig(before.get('brier'))} → "
            f"{sig(after.get('brier'))}, expected calibration error (ECE) "
            f"{sig(before.get('ece'))} → {sig(after.get('ece'))}"
        )
    caption = f"{chosen} (before → after, cross-fitted{rows}; lower is better)."
    return figure(
        figures.figure_to_data_uri(fig), "reliability diagram", caption, "reliability-diagram"
    ) + _explain(
        "Each point gathers the sites whose probability of permafrost, predicted by a model that "
        "never saw them (spatial cross-validation), fell in one tenth of the 0–1 range: across is "
        "the mean predicted probability, up the share of those sites that had permafrost.",
        "Points on the dashed diagonal mean a 70 % on the map is permafrost about 7 times in 10; "
        "points below it mean the model overstates permafrost, above it understates it.",
    )


def _spread(inp: _Inputs) -> str:
    page, path, epoch = inp.page, inp.map, inp.epoch
    if path is None or epoch is None:
        return inp.no_map()
    band = _band(path, UNCERTAINTY_BAND)
    name = esc(page.name(path))
    if band is None:
        return missing(
            f"<code>{name}</code> has no <code>uncertainty</code> band, so there is no spread map"
        )
    view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
    method = view.tags.get("uncertainty_method", "")
    if method.lower().startswith("none") or not np.ma.count(view.data):
        return missing(
            "this run fitted no ensemble of refitted models (the map's uncertainty band is "
            'empty), so there is no spread map; set [models] bootstrap_members = "auto" and rerun'
        )
    if not method.lower().startswith("ensemble"):
        return missing(
            f"the uncertainty band of <code>{name}</code> was made by an earlier permamap "
            f"({esc(method or 'method not recorded')}), not by an ensemble; run the map stage "
            "again for a spread map"
        )
    fig = spread_figure(view, f"Ensemble spread {epoch}", coastlines=page.coastlines)
    members = view.tags.get("uncertainty_members")
    b = f"{esc(members)} " if members else ""
    return figure(
        figures.figure_to_data_uri(fig),
        f"ensemble spread map {epoch}",
        f"<code>{name}</code>, band {band} (uncertainty): 100 × the standard deviation of the "
        f"calibrated probabilities of the {b}ensemble members, in percentage points; shown at "
        f"1/{view.decimation} resolution.",
        f"spread-{epoch}",
    ) + _explain(
        "Each cell shows how much its probability of permafrost moves when the model is refitted "
        "on other spatially blocked bootstrap resamples of the sites.",
        "Dark cells depend on which sites happened to train the model; pale cells agree across "
        "every refit, which says the map is stable there, not that it is right.",
    )


def _bin_label(lo: Any, hi: Any) -> str:
    return f"{100 * float(lo):.0f}–{100 * float(hi):.0f} %"


def _accuracy_table(df: pd.DataFrame, ident: str, count: str) -> str:
    """Bins of expected accuracy: expected, observed, their difference in pp."""
    diff = 100 * (df["observed_accuracy"] - df["mean_expected"])
    out = pd.DataFrame(
        {
            "expected accuracy bin": [
                _bin_label(lo, hi) for lo, hi in zip(df["low"], df["high"], strict=True)
            ],
            count: df["count"],
            "mean expected": [f"{100 * v:.1f} %" for v in df["mean_expected"]],
            "observed": [f"{100 * v:.1f} %" for v in df["observed_accuracy"]],
            "observed − expected": [f"{v:+.1f} pp".replace("-", "−") for v in diff],
        }
    )
    within = int((diff.abs() <= 5.0).sum())
    formats = {count: (lambda v: f"{v:.1f} %") if count.startswith("share") else sig}
    return (
        table(out, formats=formats, ident=ident)
        + f"<p>{within} of {len(out)} bins within ±5 percentage points.</p>"
    )


def _accuracy(inp: _Inputs) -> str:
    page, path, epoch = inp.page, inp.map, inp.epoch
    out = []
    ea = _band(path, EXPECTED_ACCURACY_BAND) if path is not None else None
    if path is None or epoch is None:
        out.append(inp.no_map())
    elif ea is None:
        out.append(
            missing(
                f"<code>{esc(page.name(path))}</code> has no <code>expected_accuracy</code> band "
                "(no error profile was fitted; it needs the area of applicability), so there is "
                "no expected-accuracy map"
            )
        )
    else:
        view = figures.read_raster_view(path, ea, max_pixels=page.max_pixels)
        cards = [
            figure(
                figures.figure_to_data_uri(
                    percent_map(view, f"Expected accuracy {epoch}", page.coastlines)
                ),
                f"expected accuracy map {epoch}",
                f"<code>{esc(page.name(path))}</code>, band {ea} (expected_accuracy, %).",
                f"expected-accuracy-{epoch}",
            )
        ]
        aoa = _band(path, AOA_BAND)
        if aoa is not None:
            aview = figures.read_raster_view(path, aoa, max_pixels=page.max_pixels)
            fig = figures.raster_figure(
                aview, f"Area of applicability {epoch}", coastlines=page.coastlines, width_in=6.0
            )
            cards.append(
                figure(
                    figures.figure_to_data_uri(fig),
                    f"area of applicability {epoch}",
                    f"<code>{esc(page.name(path))}</code>, band {aoa} (aoa): outside = factor "
                    "combinations unlike any training site.",
                    f"aoa-beside-accuracy-{epoch}",
                )
            )
        out.append(
            '<div class="cards">'
            + "".join(f'<div class="card">{c}</div>' for c in cards)
            + "</div>"
        )
        out.append(
            _explain(
                "Each cell shows the chance that its class (permafrost or not) is right, learnt "
                "from how the model fared at sites it never saw (spatial cross-validation), given "
                "how sure the model is there and how unlike the training sites the cell is (the "
                "dissimilarity index behind the area of applicability).",
                "Read it beside the AOA map: inside the AOA it rests on sites like the cell; "
                "outside it extends the same relation beyond the training data, so trust it less.",
            )
        )
    out.append(_profile_evidence(inp))
    return "".join(out)


def _profile_evidence(inp: _Inputs) -> str:
    """The error profile's binned out-of-fold evidence and, on the demo, the bins against truth."""
    page = inp.page
    out = []
    prof = inp.card.get("error_profile") if inp.card is not None else None
    profile_bins = truth_bins = None
    keys = ("low", "high", "mean_expected", "observed_accuracy")
    if inp.card is None:
        out.append(missing(f"{inp.card_note}, so there is no error-profile evidence"))
    elif not isinstance(prof, Mapping):
        out.append(
            missing(
                f"{esc(page.name(page.layout.model_card))} has no <code>error_profile</code> "
                "entry, so there is no evidence of expected against observed accuracy"
            )
        )
    else:
        ev = _mapping(prof.get("evidence"))
        profile_bins = bins_table(
            ev.get("binned") or [], "error_profile.evidence.binned", (*keys, "n")
        )
        profile_bins = profile_bins.rename(columns={"n": "count"})
        coef = prof.get("coef")
        fit = ""
        if prof.get("kind") == "glm" and isinstance(coef, list) and len(coef) == 3:
            a, b, c = (sig(v, 3) for v in coef)
            fit = (
                f"Fit <code>glm</code>: P(class right) = sigmoid({a} + {b} · logit(confidence) − "
                f"{c} · DI). "
            )
        elif prof.get("kind") == "calibrated" and isinstance(coef, list) and len(coef) == 3:
            fit = (
                "Fit <code>calibrated</code>: P(class right) = sigmoid(logit(confidence) − "
                f"{sig(coef[2], 3)} · DI): the calibrated probability's own confidence, lowered "
                "as the cell departs from the training sites. "
            )
        elif prof.get("kind"):
            fit = f"Fit <code>{esc(prof.get('kind'))}</code>. "
        n, acc = ev.get("n_rows"), ev.get("observed_accuracy")
        overall = (
            f"{sig(n)} out-of-fold site rows, {100 * acc:.1f} % of their classes right overall."
            if isinstance(n, int) and isinstance(acc, int | float)
            else ""
        )
        out.append(f"<p>{fit}{overall}</p>")
        out.append(_accuracy_table(profile_bins, "error-profile-bins", "site rows"))
    check = get(page.summary, "uncertainty_check", "expected_accuracy_vs_truth")
    if check is not None:
        truth_bins = bins_table(
            check, "uncertainty_check.expected_accuracy_vs_truth", (*keys, "weight")
        )
        total = float(truth_bins["weight"].sum())
        truth_bins["count"] = 100 * truth_bins["weight"] / total if total > 0 else np.nan
        out.append(
            "<p>Against the virtual world (its cells binned by their expected accuracy; observed = "
            "the chance that a borehole in the cell carries the mapped class, as the sites the "
            "profile was fitted on would see it; the true class itself is right more often near "
            "the boundary, where the borehole labels are noisy):</p>"
        )
        out.append(_accuracy_table(truth_bins, "expected-vs-truth", "share of cells (weighted)"))
    if profile_bins is not None or truth_bins is not None:
        out.insert(
            0,
            figure(
                figures.figure_to_data_uri(accuracy_figure(profile_bins, truth_bins)),
                "expected against observed accuracy",
                "Expected against observed accuracy per bin of the expected accuracy; shaded: "
                "within ±5 percentage points.",
                "expected-vs-observed",
            ),
        )
    return "".join(out)


def _area_rows(page: Page) -> tuple[pd.DataFrame, Mapping[str, Any]]:
    """Per epoch: the areas and their intervals (``<col>_lo``/``_hi``); and truth-in-interval."""
    areas = get(page.summary, "area_km2")
    if not isinstance(areas, Mapping):
        return pd.DataFrame(), {}
    epochs = [str(e) for e in page.epochs] if page.epochs is not None else list(areas)
    rows = []
    for e in epochs:
        a = areas.get(e)
        if not isinstance(a, Mapping):
            continue
        # the change stage's own record, in case the pipeline did not merge it into area_km2
        extra = _mapping(get(page.summary, "uncertainty", e))
        row: dict[str, Any] = {"epoch": int(e)}
        for col in AREA_KEYS:
            v = a.get(col)
            row[col] = float(v) if isinstance(v, int | float) else np.nan
            ci = _interval(a.get(f"{col}_ci95", extra.get(f"{col}_ci95")))
            row[f"{col}_lo"], row[f"{col}_hi"] = ci if ci else (np.nan, np.nan)
        rows.append(row)
    inside = get(page.summary, "uncertainty_check", "extent_in_interval")
    return pd.DataFrame(rows), _mapping(inside)


def _areas(inp: _Inputs) -> str:
    page = inp.page
    summary_name = esc(page.name(page.layout.summary))
    if page.summary is None:
        return missing(f"{esc(page.summary_note)}, so there are no areas with intervals")
    df, inside = _area_rows(page)
    has_ci = not df.empty and df.filter(like="_lo").notna().any().any()
    if not has_ci:
        return missing(
            f"{summary_name} has no 95 % intervals for the areas (this run fitted no ensemble), "
            'so the areas are single figures; set [models] bootstrap_members = "auto" and rerun'
        )
    unc = get(page.summary, "uncertainty")
    unc = unc if isinstance(unc, Mapping) else {}
    b = unc.get("n_members")
    how = f" from {sig(b)} ensemble members" if isinstance(b, int) else ""
    method = f" ({esc(unc['method'])})" if isinstance(unc.get("method"), str) else ""
    out = [
        figure(
            figures.figure_to_data_uri(area_interval_figure(df)),
            "permafrost area with 95 % intervals",
            f"Permafrost area per epoch with its 95 % interval{how}{method}, from "
            f"<code>{summary_name}</code>.",
            "area-intervals",
        ),
        _explain(
            "The lines are the published areas of the main model; the shaded bands are their 95 % "
            "intervals, from how much the area changes when the model is refitted on resamples "
            "of the sites.",
            "The interval measures the dependence on which sites trained the model, not the map's "
            "error against the ground; a change whose interval excludes zero is larger than that "
            "spread.",
        ),
    ]
    body = []
    for r in df.itertuples(index=False):
        cells = [f"<th>{esc(r.epoch)}</th>"]
        for col in AREA_KEYS:
            v, lo, hi = getattr(r, col), getattr(r, f"{col}_lo"), getattr(r, f"{col}_hi")
            cells.append(f'<td class="num">{esc(km2(v)) if np.isfinite(v) else "–"}</td>')
            ci = km2_range(lo, hi) if np.isfinite(lo) and np.isfinite(hi) else "–"
            cells.append(f'<td class="num">{esc(ci)}</td>')
        if inside:
            flag = inside.get(str(r.epoch))
            cells.append(f"<td>{'yes' if flag is True else 'no' if flag is False else '–'}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        "<th>epoch</th><th>permafrost extent</th><th>95 % interval</th>"
        "<th>probability-weighted area</th><th>95 % interval</th>"
        + ("<th>virtual truth's extent inside the interval</th>" if inside else "")
    )
    out.append(
        f'<table id="area-intervals-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if inside:
        n_in = sum(1 for v in inside.values() if v is True)
        out.append(
            f"<p>The virtual truth's permafrost extent lies inside the interval in {n_in} of "
            f"{len(inside)} epochs.</p>"
        )
    out.append(_pairs(page, unc))
    return "".join(out)


def _pairs(page: Page, unc: Mapping[str, Any]) -> str:
    """One row per epoch pair: net change, its interval, whether the change exceeds it."""
    pairs = unc.get("pairs")
    if not isinstance(pairs, Mapping) or not pairs:
        return missing(
            f"{esc(page.name(page.layout.summary))} has no <code>uncertainty.pairs</code>, so no "
            "change can be set against its interval"
        )
    keyed: dict[tuple[int, int], Mapping[str, Any]] = {}
    for key, v in pairs.items():
        first, _, second = str(key).partition("-")
        if isinstance(v, Mapping) and first.isdigit() and second.isdigit():
            keyed[(int(first), int(second))] = v
    body = []
    for a, b in pair_order(keyed):
        p = keyed[(a, b)]
        net = p.get("net_change_km2")
        exceeds = p.get("exceeds_interval")
        verdict = (
            "yes: the interval excludes 0"
            if exceeds is True
            else "no: the interval includes 0"
            if exceeds is False
            else "–"
        )
        cells = [
            f"<th>{a} → {b}</th>",
            f'<td class="num">{esc(km2(net)) if isinstance(net, int | float) else "–"}</td>',
        ]
        for key in ("net_change_km2_ci95", "degraded_km2_ci95", "aggraded_km2_ci95"):
            ci = _interval(p.get(key))
            cells.append(f'<td class="num">{esc(km2_range(*ci)) if ci else "–"}</td>')
        cells.insert(3, f"<td>{verdict}</td>")
        flag = "true" if exceeds is True else "false" if exceeds is False else ""
        body.append(f'<tr data-pair="{a}-{b}" data-exceeds="{flag}">' + "".join(cells) + "</tr>")
    head = (
        "<th>epochs</th><th>net change</th><th>95 % interval of the net change</th>"
        "<th>exceeds its interval?</th><th>degraded, 95 % interval</th>"
        "<th>aggraded, 95 % interval</th>"
    )
    return (
        "<h3>Changes against their intervals</h3>"
        f'<table id="change-intervals"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        '<p class="note">Net change = aggraded − degraded; each ensemble member is the same refitted '
        "model in every epoch, so the interval is that of the change itself. Consecutive epochs "
        "first, then the whole period.</p>"
    )


def section_uncertainty(page: Page) -> str:
    """ "How sure are we?": reliability, spread, expected accuracy, areas with intervals.

    Each part reads its own inputs (module docstring); an absent input makes the part say so in
    one sentence, a damaged one a note in that part, and the other parts are still shown.
    """
    inp = _Inputs(page)
    return (
        "<p>Four checks of how far to trust the maps and areas above, each with what it measures "
        "and what it does not.</p>"
        + part("Are the probabilities honest? Reliability", lambda: _reliability(inp))
        + part("How much do refitted models disagree? Spread", lambda: _spread(inp))
        + part("Where is the class likely right? Expected accuracy", lambda: _accuracy(inp))
        + part("Areas with 95 % intervals", lambda: _areas(inp))
    )
