"""The report's "Future" section (issue 13): permafrost under climate scenarios.

Drawn from what the projection stage wrote; nothing is recomputed here:

1. **What was projected**: the baseline epoch, the GCMs, the future-climate source and method
   (``summary["projection_settings"]``) and, on virtual runs, each projection against the
   virtual truth (``true_extent_km2``, ``truth_agreement``).
2. **Fan chart** of the extent: the mapped epochs (``summary["area_km2"]``), then per scenario the
   GCM-mean extent at the period midpoints with the GCM range (``gcm_range_km2``) as a band; a
   table of the same numbers, each projected extent tagged with its summary key.
3. **Maps**: the GCM-mean probability of every ``maps/future/permafrost_<scenario>_<period>.tif``,
   a row per scenario and a column per period, cells outside the area of applicability hatched.
4. **Lost, stable and gained** permafrost against the baseline, in total and per latitude band
   (``change/future_areas.csv``; elevation zones and regions folded away below).
5. **Where the model extrapolates**: ``outside_aoa_share`` per scenario × period.

A summary without ``projections`` leaves the section out. An absent input makes its part say so in
one sentence; a damaged one becomes a note in that part only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..projections.areas import ZONE_COLUMNS
from . import figures
from .future_figures import (
    fan_chart,
    period_label,
    period_midpoint,
    probability_panels,
    scenario_label,
)
from .markup import esc, figure, get, headline_cell, km2, missing, sig, table
from .page import Page, part

__all__ = ["projection_table", "section_future", "signed_percent"]

logger = logging.getLogger(__name__)

_NUMBERS = (
    "permafrost_extent_km2",
    "probability_weighted_km2",
    "outside_aoa_share",
    "lost_km2",
    "stable_km2",
    "gained_km2",
    "true_extent_km2",
    "truth_agreement",
)
_CSV_COLUMNS = ("scenario", "period", *ZONE_COLUMNS)
_ZONE_KINDS = {
    "total": "In total",
    "latitude": "By latitude band",
    "elevation": "By elevation zone",
    "region": "By region",
}
_METHODS = {
    "as-is": (
        "Future climate: each GCM's downscaled values as they are, so the GCM's own bias is part "
        "of its projection."
    ),
    "delta": (
        "Future climate by the delta method: each GCM's change (its future minus its own "
        "historical climate) added to the baseline climate, which takes each GCM's bias out."
    ),
}
TRUTH_TOLERANCE = 0.10
"""A projection "matches" the virtual truth when its extent lies within ±10 % of the true one."""


# -- helpers --------------------------------------------------------------------------------------
def _number(v: Any) -> float:
    """``v`` as a float, NaN when it is not a finite number (a JSON entry of the wrong kind)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v) if math.isfinite(v) else math.nan


def signed_percent(v: float, digits: int = 3) -> str:
    """A relative change in percent with its sign (a true minus), ``digits`` significant digits.

    >>> signed_percent(-12.3456), signed_percent(4.0), signed_percent(0.0), signed_percent(math.nan)
    ('−12.3 %', '+4 %', '0 %', '–')
    """
    if not math.isfinite(v):
        return "–"
    text = sig(abs(v), digits)
    if text == "0":
        return "0 %"
    return f"{'−' if v < 0 else '+'}{text} %"


def _share(v: float) -> str:
    """A share in [0, 1] as percent, three significant digits."""
    return "–" if not math.isfinite(v) else f"{sig(100 * v, 3)} %"


def projection_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """``summary["projections"]`` as one row per scenario × period.

    Scenarios come in the order of ``projection_settings.scenarios`` (then any others in the
    order of ``projections``), periods in time order. Values that are not finite numbers are NaN.

    Returns
    -------
    DataFrame
        ``scenario, period, midpoint, permafrost_extent_km2, gcm_low_km2, gcm_high_km2,
        probability_weighted_km2, outside_aoa_share, lost_km2, stable_km2, gained_km2,
        true_extent_km2, truth_agreement``.

    Raises
    ------
    DataError
        If ``projections`` is not a mapping of scenario → period → entry, or a period is not
        named ``<first year>-<last year>``.

    Examples
    --------
    >>> s = {"projections": {"ssp585": {"2081-2100": {"permafrost_extent_km2": 2e6,
    ...      "gcm_range_km2": [1e6, 3e6]}, "2041-2060": {"permafrost_extent_km2": 5e6}}}}
    >>> projection_table(s)[["period", "midpoint", "permafrost_extent_km2", "gcm_high_km2"]]
          period  midpoint  permafrost_extent_km2  gcm_high_km2
    0  2041-2060    2050.5              5000000.0           NaN
    1  2081-2100    2090.5              2000000.0     3000000.0
    """
    projections = summary.get("projections")
    if not isinstance(projections, Mapping):
        raise DataError(
            "summary.json 'projections' is not an object of scenario → period → figures; "
            "re-run the projection stage"
        )
    listed = get(summary, "projection_settings", "scenarios")
    order = [s for s in listed if s in projections] if isinstance(listed, list) else []
    order += [s for s in projections if s not in order]
    rows = []
    for scenario in order:
        periods = projections[scenario]
        if not isinstance(periods, Mapping):
            raise DataError(
                f"summary.json projections[{scenario!r}] is not an object of period → figures; "
                "re-run the projection stage"
            )
        for period, entry in periods.items():
            e = entry if isinstance(entry, Mapping) else {}
            rng = e.get("gcm_range_km2")
            lo, hi = rng if isinstance(rng, list | tuple) and len(rng) == 2 else (None, None)
            row: dict[str, Any] = {
                "scenario": str(scenario),
                "period": str(period),
                "midpoint": period_midpoint(str(period)),
            }
            row |= {k: _number(e.get(k)) for k in _NUMBERS}
            row["gcm_low_km2"], row["gcm_high_km2"] = _number(lo), _number(hi)
            rows.append(row)
    cols = ["scenario", "period", "midpoint", _NUMBERS[0], "gcm_low_km2", "gcm_high_km2"]
    df = pd.DataFrame(rows, columns=[*cols, *_NUMBERS[1:]])
    # periods in time order within each scenario, scenarios as listed (a stable sort)
    return (
        df.sort_values("midpoint", kind="stable")
        .sort_values(
            "scenario", key=lambda c: c.map({s: k for k, s in enumerate(order)}), kind="stable"
        )
        .reset_index(drop=True)
    )


def _history(page: Page) -> pd.DataFrame:
    """The mapped epochs' extents from ``summary["area_km2"]`` (this run's epochs only)."""
    areas = get(page.summary, "area_km2")
    rows = []
    if isinstance(areas, Mapping):
        epochs = page.epochs if page.epochs is not None else []
        keys = [str(e) for e in epochs] or [k for k in areas if str(k).isdigit()]
        for k in keys:
            v = _number(get(areas, k, "permafrost_extent_km2"))
            if math.isfinite(v):
                rows.append({"epoch": int(k), "permafrost_extent_km2": v})
    return pd.DataFrame(rows, columns=["epoch", "permafrost_extent_km2"])


def _baseline(page: Page, settings: Mapping[str, Any]) -> tuple[int, float] | None:
    """``(baseline epoch, its extent)``: the settings' extent, else the epoch's area."""
    epoch = settings.get("baseline_epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    v = _number(settings.get("baseline_extent_km2"))
    if not math.isfinite(v):
        v = _number(get(page.summary, "area_km2", str(epoch), "permafrost_extent_km2"))
    return (epoch, v) if math.isfinite(v) else None


def _combo(scenario: str, period: str) -> str:
    return f"{scenario_label(scenario)}, {period_label(period)}"


# -- the parts ------------------------------------------------------------------------------------
def _intro(page: Page, df: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    """Baseline, GCMs, source and method in a few sentences; on virtual runs, the truth check."""
    out = []
    base = _baseline(page, settings)
    if base is not None:
        out.append(
            f"Baseline: the {base[0]} map ({esc(km2(base[1]))} of permafrost); lost, stable and "
            "gained permafrost below are counted against it."
        )
    else:
        out.append("The baseline epoch is not recorded in summary.json.")
    gcms = settings.get("gcms")
    if isinstance(gcms, list) and gcms:
        names = ", ".join(f"<code>{esc(g)}</code>" for g in gcms)
        out.append(
            f"Climate models (GCMs): {len(gcms)} — {names}; a projection is their mean "
            "probability, and its range is the lowest to the highest single-GCM extent."
        )
    method = settings.get("method")
    if isinstance(method, str):
        out.append(
            _METHODS.get(method, f"Future climate by the method <code>{esc(method)}</code>.")
        )
    source = settings.get("source")
    if isinstance(source, str) and source:
        out.append(f"Source: {esc(source)}.")
    scen = ", ".join(esc(scenario_label(s)) for s in dict.fromkeys(df["scenario"]))
    pers = ", ".join(esc(period_label(p)) for p in sorted(set(df["period"]), key=period_midpoint))
    out.append(f"Scenarios: {scen}; periods: {pers}.")
    html = "<p>" + " ".join(out) + "</p>"
    listed_s, listed_p = settings.get("scenarios"), settings.get("periods")
    if isinstance(listed_s, list) and isinstance(listed_p, list):
        have = set(zip(df["scenario"], df["period"], strict=True))
        lacking = [(str(a), str(b)) for a in listed_s for b in listed_p if (a, b) not in have]
        if lacking:
            html += missing(
                "summary.json <code>projections</code> has no figures for "
                + "; ".join(esc(_combo(a, b)) for a, b in lacking)
                + " (listed in <code>projection_settings</code>)"
            )
    if page.virtual_world:
        html += _truth(df)
    return html


def _truth(df: pd.DataFrame) -> str:
    """Projected against true extent per scenario × period (virtual runs)."""
    sub = df[np.isfinite(df["true_extent_km2"])]
    if sub.empty:
        return missing(
            "summary.json has no <code>true_extent_km2</code> for the projections, so they cannot "
            "be set against the virtual truth"
        )
    rows = []
    within = 0
    tol = f"{sig(100 * TRUTH_TOLERANCE)} %"
    for r in sub.itertuples(index=False):
        diff = 100 * (r.permafrost_extent_km2 - r.true_extent_km2) / r.true_extent_km2
        ok = math.isfinite(diff) and abs(diff) <= 100 * TRUTH_TOLERANCE
        within += ok
        rows.append(
            {
                "scenario, period": _combo(r.scenario, r.period),
                "projected extent (km²)": sig(r.permafrost_extent_km2),
                "true extent (km²)": sig(r.true_extent_km2),
                "projected − true": signed_percent(diff),
                f"within ±{tol}": "yes" if ok else "no",
                "class agreement with the truth": _share(r.truth_agreement),
            }
        )
    out = pd.DataFrame(rows)
    right = {c: str for c in out.columns if c not in ("scenario, period", f"within ±{tol}")}
    return (
        "<p>Against the virtual world's true permafrost under the GCM-mean climate of each "
        "scenario and period:</p>"
        + table(out, formats=right, ident="future-truth")
        + f"<p>{within} of {len(out)} projected extents lie within ±{tol} of the virtual truth.</p>"
    )


def _fan(page: Page, df: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    summary_name = esc(page.name(page.layout.summary))
    base = _baseline(page, settings)
    fig = fan_chart(_history(page), df, baseline=base)
    caption = (
        "Permafrost extent (class = permafrost) of the mapped epochs, then per scenario the "
        "GCM-mean projection at the middle of each period; shaded, with whiskers: the range of the "
        "single GCMs"
        + ("; stars: the virtual truth" if page.virtual_world else "")
        + ("; dotted: from the baseline epoch" if base is not None else "")
        + f". From <code>{summary_name}</code>."
    )
    body = []
    for r in df.itertuples(index=False):
        key = f"projections.{r.scenario}.{r.period}.permafrost_extent_km2"
        value = get(page.summary, "projections", r.scenario, r.period, "permafrost_extent_km2")
        change = (
            signed_percent(100 * (r.permafrost_extent_km2 - base[1]) / base[1])
            if base is not None and base[1] > 0
            else "–"
        )
        rng = (
            f"{sig(r.gcm_low_km2)} to {sig(r.gcm_high_km2)}"
            if math.isfinite(r.gcm_low_km2) and math.isfinite(r.gcm_high_km2)
            else "–"
        )
        cells = [
            f"<th>{esc(scenario_label(r.scenario))}</th>",
            f"<td>{esc(period_label(r.period))}</td>",
            headline_cell(key, value, sig(r.permafrost_extent_km2))
            if math.isfinite(r.permafrost_extent_km2)
            else '<td class="num">–</td>',
            f'<td class="num">{esc(rng)}</td>',
            f'<td class="num">{esc(sig(r.probability_weighted_km2))}</td>',
            f'<td class="num">{esc(change)}</td>',
        ]
        body.append(f'<tr data-scenario="{esc(r.scenario)}">' + "".join(cells) + "</tr>")
    against = f" against {base[0]}" if base is not None else ""
    head = (
        "<th>scenario</th><th>period</th><th>extent, GCM mean (km²)</th>"
        "<th>GCM range (km²)</th><th>probability-weighted (km²)</th>"
        f"<th>change of the extent{against}</th>"
    )
    return (
        figure(figures.figure_to_data_uri(fig), "scenario fan chart", caption, "future-fan")
        + f'<table id="future-extents"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _maps(page: Page, df: pd.DataFrame) -> str:
    lay = page.layout
    scenarios = list(dict.fromkeys(df["scenario"]))
    periods = sorted(set(df["period"]), key=period_midpoint)
    absent = [(s, p) for s in scenarios for p in periods if not lay.future_map(s, p).is_file()]
    rows = [s for s in scenarios if all((s, p) not in absent for p in periods)]
    out = []
    if absent:
        out.append(
            missing(
                ", ".join(f"<code>{esc(page.name(lay.future_map(s, p)))}</code>" for s, p in absent)
                + " not found"
                + (", so those scenarios have no row of maps" if rows else ", so there are no maps")
            )
        )
    if not rows:
        return "".join(out)
    paths = {_combo(s, p): lay.future_map(s, p) for s in rows for p in periods}
    fig, hatched = probability_panels(
        paths,
        ncols=len(periods),
        max_pixels=min(600, page.max_pixels),
        coastlines=page.coastlines,
    )
    names = ", ".join(f"<code>{esc(page.name(p))}</code>" for p in paths.values())
    aoa = (
        "Hatched: cells outside the area of applicability (band <code>aoa</code> = 0), where the "
        "future climate is unlike any the model was trained on."
        if hatched
        else "No cell lies outside the area of applicability, so nothing is hatched."
    )
    out.append(
        figure(
            figures.figure_to_data_uri(fig),
            "projected permafrost probability per scenario and period",
            "Mean permafrost probability of the GCMs (%, band <code>probability</code>), a row per "
            f"scenario and a column per period, on one colour scale. {aoa} From {names}.",
            "future-maps",
        )
    )
    return "".join(out)


def _zone_table(df: pd.DataFrame, kind: str, combos: list[tuple[str, str]]) -> str:
    """One zone kind's rows: zones as the CSV lists them, each with its scenarios × periods."""
    sub = df[df["zone_kind"] == kind].copy()
    rank = {c: k for k, c in enumerate(combos)}
    zones = {z: k for k, z in enumerate(dict.fromkeys(sub["zone"].astype(str)))}
    sub["_zone"] = sub["zone"].astype(str).map(zones)
    sub["_combo"] = [
        rank[(str(s), str(p))] for s, p in zip(sub["scenario"], sub["period"], strict=True)
    ]
    sub = sub.sort_values(["_zone", "_combo"], kind="stable")
    rows = []
    for r in sub.itertuples(index=False):
        base, ext = _number(r.baseline_extent_km2), _number(r.extent_km2)
        change = 100 * (ext - base) / base if base > 0 else math.nan
        row = {} if kind == "total" else {"zone": str(r.zone)}
        rows.append(
            row
            | {
                "scenario, period": _combo(str(r.scenario), str(r.period)),
                "baseline extent (km²)": sig(base),
                "projected extent (km²)": sig(ext),
                "lost (km²)": sig(_number(r.lost_km2)),
                "stable (km²)": sig(_number(r.stable_km2)),
                "gained (km²)": sig(_number(r.gained_km2)),
                "change of the extent": signed_percent(change),
            }
        )
    out = pd.DataFrame(rows)
    right = {c: str for c in out.columns if c not in ("zone", "scenario, period")}
    return table(out, formats=right, ident=f"future-areas-{kind}")


def _areas(page: Page, df: pd.DataFrame) -> str:
    path = page.layout.future_areas
    name = esc(page.name(path))
    if not path.is_file():
        sub = df[["scenario", "period", "lost_km2", "stable_km2", "gained_km2"]]
        if not np.isfinite(sub[["lost_km2", "stable_km2", "gained_km2"]].to_numpy()).any():
            return missing(
                f"<code>{name}</code> was not found, so there is no lost/stable/gained table"
            )
        totals = pd.DataFrame(
            {
                "scenario, period": [
                    _combo(s, p) for s, p in zip(sub["scenario"], sub["period"], strict=True)
                ],
                "lost (km²)": [sig(v) for v in sub["lost_km2"]],
                "stable (km²)": [sig(v) for v in sub["stable_km2"]],
                "gained (km²)": [sig(v) for v in sub["gained_km2"]],
            }
        )
        right = {c: str for c in totals.columns if c != "scenario, period"}
        return missing(
            f"<code>{name}</code> was not found, so the table has the totals of summary.json only"
        ) + table(totals, formats=right, ident="future-areas-total")
    areas = pd.read_csv(path)
    lacking = [c for c in _CSV_COLUMNS if c not in areas]
    if lacking:
        raise DataError(
            f"{page.name(path)} lacks columns {lacking}; re-run the projection stage to write it "
            "again"
        )
    combos = list(zip(df["scenario"], df["period"], strict=True))
    known = set(combos)
    areas = areas[
        [(str(s), str(p)) in known for s, p in zip(areas["scenario"], areas["period"], strict=True)]
    ]
    out = [
        "<p>Lost: permafrost in the baseline map, none in the projection; stable: permafrost in "
        "both; gained: permafrost in the projection only. Areas of the GCM-mean class maps, in "
        f"km², from <code>{name}</code>.</p>"
    ]
    kinds = list(dict.fromkeys(areas["zone_kind"].astype(str)))
    for kind in ("total", "latitude"):
        if kind in kinds:
            out.append(f"<h4>{esc(_ZONE_KINDS[kind])}</h4>" + _zone_table(areas, kind, combos))
        else:
            out.append(missing(f"<code>{name}</code> has no rows of zone kind <code>{kind}</code>"))
    for kind in kinds:
        if kind not in ("total", "latitude"):
            title = _ZONE_KINDS.get(kind, f"By {kind}")
            out.append(
                f"<details><summary>{esc(title)}</summary>{_zone_table(areas, kind, combos)}</details>"
            )
    return "".join(out)


def _extrapolation(page: Page, df: pd.DataFrame) -> str:
    if not np.isfinite(df["outside_aoa_share"]).any():
        return missing(
            "summary.json records no <code>outside_aoa_share</code> (the model has no area of "
            "applicability), so where the model extrapolates is not known"
        )
    periods = sorted(set(df["period"]), key=period_midpoint)
    body = []
    for s in dict.fromkeys(df["scenario"]):
        sub = df[df["scenario"] == s].set_index("period")["outside_aoa_share"]
        cells = "".join(
            f'<td class="num">{esc(_share(float(sub[p])) if p in sub.index else "–")}</td>'
            for p in periods
        )
        body.append(f'<tr data-scenario="{esc(s)}"><th>{esc(scenario_label(s))}</th>{cells}</tr>')
    head = "<th>scenario</th>" + "".join(f"<th>{esc(period_label(p))}</th>" for p in periods)
    return (
        "<p>Share of the mapped land where at least one GCM's climate lies outside the area of "
        "applicability: there the model extrapolates beyond the climates of its training sites, "
        "and the projection is least certain.</p>"
        f'<table id="future-outside-aoa"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def section_future(page: Page) -> str | None:
    """ "Future": scenario fan chart, maps per scenario × period, lost/stable/gained, extrapolation.

    None (no section) when the summary has no ``projections`` or they are empty; each part reads
    its own inputs (module docstring), and a damaged one becomes a note in that part only.
    """
    projections = get(page.summary, "projections")
    if projections is None or (isinstance(projections, Mapping) and not projections):
        return None
    summary = page.summary or {}
    df = projection_table(summary)
    settings = get(summary, "projection_settings")
    settings = settings if isinstance(settings, Mapping) else {}
    return (
        part("What was projected", lambda: _intro(page, df, settings))
        + part("Permafrost extent by scenario", lambda: _fan(page, df, settings))
        + part("Maps per scenario and period", lambda: _maps(page, df))
        + part("Lost, stable and gained permafrost", lambda: _areas(page, df))
        + part("Where the model extrapolates", lambda: _extrapolation(page, df))
    )
