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

__all__ = ["cv_comparison_table", "headline_values", "section_headline", "sites_sentence"]

_AREA_KEYS = ("permafrost_extent_km2", "probability_weighted_km2", "land_km2")
_CV_METRICS = ("accuracy", "kappa", "roc_auc")
_CV_SCHEMES = ("random", "spatial")
# summary["sites"] keys with their labels; ``kept`` and ``dropped`` are an older summary's names
# for the site-epoch rows kept and the points QC dropped.
_SITE_LABELS = {
    "points_kept": "points kept",
    "site_epoch_rows": "site-epoch rows kept",
    "kept": "site-epoch rows kept",
    "points_dropped": "points dropped by QC",
    "dropped": "points dropped by QC",
    "rows_in_feature_table": "rows in the feature table",
}
_SITE_KEYS = tuple(_SITE_LABELS)


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
    for prefix in ("cv", "cv.best_single_factor"):
        for scheme in _CV_SCHEMES:
            for metric in _CV_METRICS:
                v = get(summary, *prefix.split("."), scheme, metric, "mean")
                if v is not None:
                    out[f"{prefix}.{scheme}.{metric}.mean"] = v
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


def _score(cv: Mapping[str, Any], key: str, scheme: str, metric: str, keyed: bool) -> str:
    v = get(cv, scheme, metric, "mean")
    if not isinstance(v, int | float):
        return "<td>–</td>"
    sd = get(cv, scheme, metric, "sd")
    text = f"{v:.3f}" + (f" ± {sd:.3f}" if isinstance(sd, int | float) else "")
    if not keyed:
        return f'<td class="num">{esc(text)}</td>'
    return headline_cell(f"{key}.{scheme}.{metric}.mean", v, text)


def cv_comparison_table(
    cv: Mapping[str, Any],
    metrics: tuple[str, ...] = _CV_METRICS,
    *,
    keyed: bool = True,
    ident: str = "headline-cv",
) -> str:
    """Random and spatial CV of the chosen model beside the best single-factor model's, if known.

    ``cv`` is the summary's ``cv``; its ``best_single_factor`` (``model``, ``factor``,
    ``random`` / ``spatial`` ``{metric: {mean, sd}}``) adds two columns. With ``keyed`` every
    score cell carries its summary key (``cv.random.kappa.mean``,
    ``cv.best_single_factor.spatial.kappa.mean``), so one page should key only one such table.
    """
    single = cv.get("best_single_factor")
    single = single if isinstance(single, Mapping) else None
    feats = [str(f) for f in cv.get("features", []) or []]
    chosen = f"chosen: {cv.get('model', '?')} ({len(feats)} factor{'s' if len(feats) != 1 else ''})"
    head = f'<th rowspan="2">metric</th><th colspan="2">{esc(chosen)}</th>'
    sub = "<th>random CV</th><th>spatial CV</th>"
    if single is not None:
        name = f"best single factor: {single.get('model', '?')} ({single.get('factor', '?')})"
        head += f'<th colspan="2">{esc(name)}</th>'
        sub *= 2
    rows = []
    for metric in metrics:
        cells = [_score(cv, "cv", s, metric, keyed) for s in _CV_SCHEMES]
        if single is not None:
            key = "cv.best_single_factor"
            cells += [_score(single, key, s, metric, keyed) for s in _CV_SCHEMES]
        if any(c != "<td>–</td>" for c in cells):
            rows.append(f"<tr><th>{esc(metric)}</th>{''.join(cells)}</tr>")
    return (
        f'<table id="{esc(ident)}"><thead><tr>{head}</tr><tr>{sub}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _cv_card(cv: Mapping[str, Any]) -> str:
    feats = ", ".join(esc(f) for f in cv.get("features", []) or []) or "?"
    wide = " wide" if isinstance(cv.get("best_single_factor"), Mapping) else ""
    return (
        f'<div class="card{wide}"><h3>Cross-validation (mean ± sd over folds)</h3>'
        f"{cv_comparison_table(cv)}"
        f"<p>Chosen factors: {feats}.</p>"
        '<p class="note">Random CV scores sites near their training neighbours and is '
        "optimistic; spatial CV (held-out blocks) is the honest estimate for unmapped "
        "regions. The single-factor model shows how much the other factors add.</p></div>"
    )


def _truth_card(truth: Mapping[str, Any]) -> str:
    truth_rows = "".join(
        f"<tr><th>{esc(ep)}</th>"
        + headline_cell(
            f"truth_agreement.{ep}", v, f"{v:.3f}" if isinstance(v, int | float) else "–"
        )
        + "</tr>"
        for ep, v in sorted(truth.items(), key=lambda kv: str(kv[0]))
    )
    return (
        '<div class="card"><h3>Agreement with the known truth</h3>'
        '<table id="headline-truth"><thead><tr><th>epoch</th><th>agreement (area-weighted)</th>'
        f"</tr></thead><tbody>{truth_rows}</tbody></table>"
        '<p class="note">Share of the compared land area whose mapped class equals the true '
        "class, each cell weighted by its area.</p></div>"
    )


def sites_sentence(sites: Mapping[str, Any]) -> str:
    """ "N points (M site-epoch rows) kept; K points dropped by QC" from the summary's ``sites``.

    Reads the older names too (``kept`` = site-epoch rows, ``dropped`` = points).

    >>> sites_sentence({"points_kept": 1233, "site_epoch_rows": 1747, "points_dropped": 21})
    '1,233 points (1,747 site-epoch rows) kept; 21 points dropped by QC'
    >>> sites_sentence({"kept": 1747, "dropped": 21})
    '1,747 site-epoch rows kept; 21 points dropped by QC'
    """

    def count(*keys: str) -> int | None:
        for k in keys:
            v = sites.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    points, rows = count("points_kept"), count("site_epoch_rows", "kept")
    dropped = count("points_dropped", "dropped")
    parts = []
    if points is not None:
        parts.append(f"{points:,} points" + (f" ({rows:,} site-epoch rows)" if rows else ""))
    elif rows is not None:
        parts.append(f"{rows:,} site-epoch rows")
    text = " ".join(parts) + " kept" if parts else ""
    if dropped is not None:
        text += ("; " if text else "") + f"{dropped:,} points dropped by QC"
    return text


def _count(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else num(v)


def _sites_card(sites: Mapping[str, Any]) -> str:
    site_rows = "".join(
        f"<tr><th>{esc(label)}</th>"
        + headline_cell(f"sites.{k}", sites[k], _count(sites[k]))
        + "</tr>"
        for k, label in _SITE_LABELS.items()
        if k in sites
    )
    sentence = sites_sentence(sites)
    return (
        f'<div class="card"><h3>Sites</h3><p id="sites-sentence">{esc(sentence)}.</p>'
        f'<table id="headline-sites"><tbody>{site_rows}</tbody></table></div>'
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
