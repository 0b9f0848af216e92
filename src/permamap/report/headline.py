"""The headline figures: the summary's key numbers, each tagged with its exact JSON value.

Every headline number sits in an element with ``data-summary-key`` (the dotted key of
:func:`headline_values`) and ``data-value`` (the exact JSON value), so tests and scripts can check
the page against the run's summary; the visible text is only the rounded value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .markup import esc, get, headline_cell, km2, missing, num
from .page import Page

__all__ = ["headline_values", "section_headline"]

_AREA_KEYS = ("permafrost_extent_km2", "probability_weighted_km2", "land_km2")
_CV_METRICS = ("accuracy", "kappa", "roc_auc")
_CV_SCHEMES = ("random", "spatial")
_SITE_KEYS = ("kept", "dropped")


def headline_values(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The headline figures of a summary.json, flattened to ``dotted.key -> value``.

    These are the numbers the report's first section shows, each in an element with
    ``data-summary-key`` = the key and ``data-value`` = the JSON value.

    Examples
    --------
    >>> headline_values({"area_km2": {"2000": {"permafrost_extent_km2": 5.0}},
    ...                  "cv": {"random": {"accuracy": {"mean": 0.9}}}})
    {'area_km2.2000.permafrost_extent_km2': 5.0, 'cv.random.accuracy.mean': 0.9}
    """
    out: dict[str, Any] = {}
    for epoch, areas in (get(summary, "area_km2") or {}).items():
        for key in _AREA_KEYS:
            if isinstance(areas, Mapping) and key in areas:
                out[f"area_km2.{epoch}.{key}"] = areas[key]
    for scheme in _CV_SCHEMES:
        for metric in _CV_METRICS:
            v = get(summary, "cv", scheme, metric, "mean")
            if v is not None:
                out[f"cv.{scheme}.{metric}.mean"] = v
    for epoch, v in (get(summary, "truth_agreement") or {}).items():
        out[f"truth_agreement.{epoch}"] = v
    for key in _SITE_KEYS:
        v = get(summary, "sites", key)
        if v is not None:
            out[f"sites.{key}"] = v
    return out


def _area_card(areas: Mapping[str, Any]) -> str:
    rows = []
    for epoch in sorted(areas, key=str):
        a = areas[epoch]
        cells = [f"<th>{esc(epoch)}</th>"]
        for key in _AREA_KEYS:
            v = a.get(key) if isinstance(a, Mapping) else None
            cells.append(
                headline_cell(f"area_km2.{epoch}.{key}", v, km2(v))
                if isinstance(v, int | float)
                else "<td>–</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="card"><h3>Permafrost area per epoch</h3><table id="headline-area">'
        "<thead><tr><th>epoch</th><th>extent (class = permafrost)</th>"
        "<th>probability-weighted area</th><th>mapped land</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cv_card(cv: Mapping[str, Any]) -> str:
    rows = []
    for metric in _CV_METRICS:
        cells = []
        for scheme in _CV_SCHEMES:
            v = get(cv, scheme, metric, "mean")
            sd = get(cv, scheme, metric, "sd")
            text = "–" if v is None else f"{v:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
            cells.append(
                headline_cell(f"cv.{scheme}.{metric}.mean", v, text)
                if v is not None
                else "<td>–</td>"
            )
        if any(c != "<td>–</td>" for c in cells):
            rows.append(f"<tr><th>{esc(metric)}</th>{''.join(cells)}</tr>")
    model = esc(cv.get("model", "?"))
    nfeat = len(cv.get("features", []) or [])
    return (
        f'<div class="card"><h3>Cross-validation ({model}, {nfeat} features)</h3>'
        '<table id="headline-cv"><thead><tr><th>metric</th><th>random CV</th>'
        f"<th>spatial CV</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Random CV scores sites near their training neighbours and is '
        "optimistic; spatial CV (held-out blocks) is the honest estimate for unmapped "
        "regions.</p></div>"
    )


def _truth_card(truth: Mapping[str, Any]) -> str:
    truth_rows = "".join(
        f"<tr><th>{esc(ep)}</th>"
        + headline_cell(f"truth_agreement.{ep}", v, f"{v:.3f}" if v is not None else "–")
        + "</tr>"
        for ep, v in sorted(truth.items(), key=lambda kv: str(kv[0]))
    )
    return (
        '<div class="card"><h3>Agreement with the known truth (demo)</h3>'
        '<table id="headline-truth"><thead><tr><th>epoch</th><th>agreement</th></tr></thead>'
        f"<tbody>{truth_rows}</tbody></table></div>"
    )


def _sites_card(sites: Mapping[str, Any]) -> str:
    site_rows = "".join(
        f"<tr><th>{k}</th>" + headline_cell(f"sites.{k}", sites[k], num(sites[k])) + "</tr>"
        for k in _SITE_KEYS
        if k in sites
    )
    return (
        '<div class="card"><h3>Sites</h3><table id="headline-sites">'
        f"<tbody>{site_rows}</tbody></table></div>"
    )


_AREA_NOTE = (
    '<p class="note"><b>Extent, region and area are different numbers.</b> '
    "<i>Permafrost extent</i> is the area of the cells classed as permafrost; the "
    "<i>probability-weighted area</i> sums probability × cell area and estimates the ground "
    "actually underlain by permafrost; the <i>permafrost region</i> (in the area tables) "
    "counts every cell with any permafrost. All areas are km² from exact cell areas on the "
    "WGS84 ellipsoid, never cell counts.</p>"
)


def section_headline(page: Page) -> str:
    """Area per epoch, random vs spatial CV, truth agreement, site counts and the run's notes."""
    s = page.summary
    if s is None:
        return missing(esc(page.summary_note))
    parts = []
    areas = get(s, "area_km2") or {}
    if areas:
        parts.append(_area_card(areas))
    else:
        parts.append(missing(f"{esc(page.name(page.layout.summary))} has no area_km2"))
    cv = get(s, "cv")
    if isinstance(cv, Mapping):
        parts.append(_cv_card(cv))
    truth = get(s, "truth_agreement")
    if isinstance(truth, Mapping) and truth:
        parts.append(_truth_card(truth))
    sites = get(s, "sites")
    if isinstance(sites, Mapping):
        parts.append(_sites_card(sites))
    notes = "".join(f"<li>{esc(n)}</li>" for n in page.notes)
    if notes:
        notes = f'<div class="note" id="run-notes"><b>Notes on this run</b><ul>{notes}</ul></div>'
    return f'<div class="cards">{"".join(parts)}</div>{notes}{_AREA_NOTE}'
