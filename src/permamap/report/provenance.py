"""Sections on how the maps were made: CV scores, feature importance, sites and QC, model card,
and the files of the run.

Each section reads its files through the page's :class:`~permamap.layout.RunLayout`; a missing
file becomes a note that names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import figures
from .headline import cv_comparison_table, sites_sentence
from .markup import esc, figure, get, kv_html, label, missing, p_value, sig, table
from .page import Page, read_json

__all__ = [
    "section_cv",
    "section_files",
    "section_importance",
    "section_model_card",
    "section_sites",
]

# Range of each bounded CV metric: a confidence interval is clipped to it.
_METRIC_RANGE = {
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "pr_auc": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "kappa": (-1.0, 1.0),
}
# Card entries the readable tables show; anything else is listed under "Other entries".
_CARD_SHOWN = frozenset(
    {
        "model",
        "features",
        "params",
        "tuned_params",
        "holdout_params",
        "categorical",
        "categorical_encoding",
        "training_hash",
        "n_training_rows",
        "n_sites",
        "class_counts",
        "cv",
        "cv_protocol",
        "prediction_s_per_million_cells",
        "versions",
        "seed",
        "settings",
        "calibration",
        "error_profile",  # shown in "How sure are we?"
    }
)
# What the entries of the card's cv_protocol.spatial mean (kNNDM, Linnenbrink et al. 2024).
_SPATIAL_LABELS = {
    "method": "spatial folds",
    "W": "kNNDM W per repeat (distance mismatch to the map; lower is better)",
    "q": "kNNDM clusters per repeat",
}
_P_KEY = re.compile(r"(^|_)p_?value$|^p$", re.I)


def _not_found(page: Page, path: Path) -> str:
    return missing(f"{esc(page.name(path))} was not found in this run folder")


def _chosen(page: Page, scores: pd.DataFrame) -> str | None:
    """The chosen model's name when the score table has its comparison rows."""
    name = get(page.summary, "cv", "model")
    return str(name) if name is not None and name in set(scores.get("model", [])) else None


def section_cv(page: Page) -> str:
    """Random versus spatial CV per model and metric (chart and table with the gap)."""
    path = page.layout.cv_scores
    if not path.is_file():
        return _not_found(page, path)
    scores = pd.read_csv(path)
    out = [
        figure(
            figures.figure_to_data_uri(figures.cv_figure(scores, chosen=_chosen(page, scores))),
            "cross-validation random versus spatial",
            "Mean ± sd over folds and repeats. The gap between random and spatial CV shows how "
            "much random CV overstates skill away from the training sites.",
            "cv-chart",
        )
    ]
    summ = figures.cv_summary(scores)
    wide = summ.pivot_table(index=["model", "metric"], columns="scheme", values="mean")
    if {"random", "spatial"} <= set(wide.columns):
        wide["random − spatial"] = wide["random"] - wide["spatial"]
    cv = get(page.summary, "cv")
    if isinstance(cv, Mapping):
        out.append(
            "<h3>Chosen model and best single-factor model</h3>"
            + cv_comparison_table(
                cv,
                ("accuracy", "kappa", "roc_auc", "f1", "pr_auc", "brier"),
                keyed=False,
                ident="cv-chosen",
            )
        )
    selection = read_json(page.layout.selection) if page.layout.selection.is_file() else {}
    metric = str(selection.get("metric") or "accuracy")
    out.append("<h3>Every candidate model</h3>" + _candidates_table(summ, metric))
    out.append(
        "<details><summary>Every model and metric, with the gap random − spatial</summary>"
        f"{table(wide.reset_index(), ident='cv-table')}</details>"
    )
    return "".join(out)


def _candidates_table(summ: pd.DataFrame, metric: str = "accuracy") -> str:
    """One row per model: random and spatial means, best first on the choice ``metric``."""
    shown = dict.fromkeys((metric, "accuracy", "kappa", "roc_auc"))
    metrics = [m for m in shown if m in set(summ["metric"])]
    if not metrics:
        return ""
    wide = summ.pivot_table(index="model", columns=["metric", "scheme"], values="mean")
    first = (metrics[0], "spatial")
    lower_better = metrics[0] == "brier"
    if first in wide.columns:
        wide = wide.sort_values(first, ascending=lower_better)
    schemes = ("random", "spatial")
    head = "".join(f'<th colspan="2">{esc(m)}</th>' for m in metrics)
    sub = "".join(f"<th>{s}</th>" for _ in metrics for s in schemes)
    rows = []
    for model, row in wide.iterrows():
        name = "final (chosen factors)" if model == "final" else str(model)
        cells = "".join(
            f'<td class="num">{row[(m, s)]:.3f}</td>'
            if (m, s) in row.index and pd.notna(row[(m, s)])
            else "<td>–</td>"
            for m in metrics
            for s in schemes
        )
        rows.append(f"<tr><th>{esc(name)}</th>{cells}</tr>")
    return (
        f'<table id="cv-candidates"><thead><tr><th rowspan="2">model</th>{head}</tr>'
        f"<tr>{sub}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="note">Mean over folds and repeats, sorted by spatial {esc(metrics[0])}'
        f"{' (lower is better)' if lower_better else ''}"
        f"{', the metric the model choice uses' if metrics[0] == metric else ''}. "
        "Each candidate was tuned and scored on the same folds.</p>"
    )


def section_importance(page: Page) -> str:
    """Permutation importance, the chosen features and the feature combinations tested."""
    path = page.layout.selection
    if not path.is_file():
        return _not_found(page, path)
    sel = read_json(path)
    out = []
    chosen = list(sel.get("chosen") or [])
    imp = sel.get("importance") or []
    if imp:
        out.append(
            figure(
                figures.figure_to_data_uri(figures.importance_figure(imp, chosen)),
                "feature importance",
                "Permutation importance (mean ± sd); dark bars are the features the final model "
                "uses.",
                "importance-chart",
            )
        )
    else:
        out.append(missing(f"{esc(path.name)} has no importance ranking"))
    if chosen:
        out.append(
            "<p>Chosen features: " + ", ".join(f"<code>{esc(f)}</code>" for f in chosen) + "</p>"
        )
    combos = sel.get("combinations") or []
    if combos:
        c = pd.DataFrame(combos)
        if "features" in c:
            c["features"] = c["features"].map(
                lambda f: ", ".join(f) if isinstance(f, list | tuple) else f
            )
        if "mean" in c:
            c = c.sort_values("mean", ascending=False)
        out.append(
            "<details><summary>Feature combinations tested</summary>"
            f"{table(c.head(30).reset_index(drop=True))}</details>"
        )
    return "".join(out)


def _grid_bounds(page: Page) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the run's grid from the summary, if it is in degrees."""
    g = get(page.summary, "grid")
    if not isinstance(g, Mapping) or str(g.get("crs", "EPSG:4326")).upper() != "EPSG:4326":
        return None
    try:
        west, north, res = float(g["west"]), float(g["north"]), float(g["res"])
        return (west, north - res * int(g["height"]), west + res * int(g["width"]), north)
    except (KeyError, TypeError, ValueError):
        return None


def _sites_part(page: Page) -> list[str]:
    path = page.layout.sites
    if not path.is_file():
        return [_not_found(page, path)]
    out = []
    sites = pd.read_parquet(path)
    sites = sites.drop(columns=[c for c in ("geometry",) if c in sites.columns])
    group = [c for c in ("source", "label") if c in sites]
    if group:
        counts = sites.groupby(group).size().rename("site-epoch rows").reset_index()
        if "label" in counts:
            counts["label"] = (
                counts["label"]
                .map({0: "not permafrost", 1: "permafrost"})
                .fillna(counts["label"].astype(str))
            )
        out.append("<h3>Sites used</h3>" + table(counts))
    if {"lon", "lat"} <= set(sites.columns) and len(sites):
        bounds = _grid_bounds(page) or (
            float(sites["lon"].min()) - 1,
            float(sites["lat"].min()) - 1,
            float(sites["lon"].max()) + 1,
            float(sites["lat"].max()) + 1,
        )
        pts = sites.drop_duplicates(subset=["lon", "lat"] + (["label"] if "label" in sites else []))
        fig = figures.sites_figure(pts, bounds, coastlines=page.coastlines)
        out.append(
            figure(
                figures.figure_to_data_uri(fig),
                "site locations",
                f"{len(sites):,} site-epoch rows at {len(pts):,} points.",
                "sites-map",
            )
        )
    return out


def _qc_part(page: Page) -> list[str]:
    path = page.layout.qc_report
    if not path.is_file():
        return [_not_found(page, path)]
    qc = pd.read_csv(path)
    if qc.empty:
        return ["<h3>Quality control</h3><p>No site was dropped or changed by QC.</p>"]
    group = [c for c in ("rule", "action") if c in qc]
    counts = qc.groupby(group).size().rename("sites").reset_index() if group else qc.head(0)
    return [
        "<h3>Quality control</h3>" + table(counts),
        f"<details><summary>First {min(len(qc), 50)} of {len(qc):,} QC entries"
        f"</summary>{table(qc.head(50))}</details>",
    ]


def section_sites(page: Page) -> str:
    """Points and site-epoch rows kept, counts per source and label, a map, what QC did."""
    counts = get(page.summary, "sites")
    head = (
        f'<p id="sites-kept"><b>{esc(sites_sentence(counts))}.</b> A point is one location; it '
        "gives one site-epoch row per epoch it has an observation for.</p>"
        if isinstance(counts, Mapping) and sites_sentence(counts)
        else ""
    )
    return head + "".join(_sites_part(page) + _qc_part(page))


def _kv_table(rows: list[tuple[str, str]], ident: str = "") -> str:
    """Rows of (label, HTML value) as a two-column table (labels are plain text)."""
    id_attr = f' id="{esc(ident)}"' if ident else ""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table{id_attr}><tbody>{body}</tbody></table>"


def _value(v: Any) -> str:
    """A card value as HTML: numbers to four significant digits, lists joined, None as "none"."""
    if v is None:
        return "<i>none</i>"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) or "<i>none</i>"
    if isinstance(v, Mapping):
        return kv_html(v)
    return esc(sig(v))


def _facts(card: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str]] = [("model", f"<b>{esc(card.get('model', '?'))}</b>")]
    feats = card.get("features") or []
    if isinstance(feats, list):
        rows.append(
            (
                f"factors, in model order ({len(feats)})",
                ", ".join(f"{i}. <code>{esc(f)}</code>" for i, f in enumerate(feats, 1)),
            )
        )
    counts = card.get("class_counts")
    for key, text in (("n_training_rows", "training rows"), ("n_sites", "training points")):
        if key in card:
            rows.append((text, _value(card[key])))
    if isinstance(counts, Mapping):
        names = {"0": "not permafrost", "1": "permafrost"}
        rows.append(
            (
                "rows per class",
                "; ".join(f"{esc(names.get(str(k), k))}: {_value(v)}" for k, v in counts.items()),
            )
        )
    if card.get("categorical"):
        rows.append(("categorical factors", _value(card["categorical"])))
    if "prediction_s_per_million_cells" in card:
        rows.append(
            ("prediction time", _value(card["prediction_s_per_million_cells"]) + " s per 10⁶ cells")
        )
    if "seed" in card:
        rows.append(("random seed", _value(card["seed"])))
    if "training_hash" in card:
        rows.append(("training-data hash", f"<code>{esc(card['training_hash'])}</code>"))
    return _kv_table(rows, "model-card-facts")


def _ci(metric: str, ci: Any) -> str:
    """A 95 % interval clipped to the metric's range, as "[low, high]"."""
    if not (isinstance(ci, list | tuple) and len(ci) == 2):
        return ""
    low, high = (float(x) if isinstance(x, int | float) else float("nan") for x in ci)
    lo_b, hi_b = _METRIC_RANGE.get(metric, (float("-inf"), float("inf")))
    low, high = max(low, lo_b), min(high, hi_b)
    if metric in _METRIC_RANGE:  # |value| ≤ 1: three decimals, as the means
        return f" [{low:.3f}, {high:.3f}]"
    return f" [{sig(low)}, {sig(high)}]"


def _cv_table(cv: Mapping[str, Any], interval: str) -> str:
    schemes = [s for s in ("random", "spatial") if isinstance(cv.get(s), Mapping)]
    metrics = list(dict.fromkeys(m for s in schemes for m in cv[s]))
    rows = []
    for m in metrics:
        cells = []
        for s in schemes:
            v = cv[s].get(m)
            if not isinstance(v, Mapping) or not isinstance(v.get("mean"), int | float):
                cells.append("<td>–</td>")
                continue
            text = f"{v['mean']:.3f}"
            if isinstance(v.get("sd"), int | float):
                text += f" ± {v['sd']:.3f}"
            cells.append(f'<td class="num">{esc(text + _ci(m, v.get("ci95")))}</td>')
        rows.append(f"<tr><th>{esc(m)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{esc(s)} CV: mean ± sd [95 % interval]</th>" for s in schemes)
    how = f" ({esc(interval)})" if interval else ""
    return (
        f'<table id="model-card-cv"><thead><tr><th>metric</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="note">95 % interval over folds and repeats{how}, clipped to the range '
        "the metric can take ([0, 1]; kappa [−1, 1]). Brier score: lower is better.</p>"
    )


def _p_values(obj: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    """Every p-value in the card (keys like ``ks_pvalue``, ``p_value``) with its key path."""
    found = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if _P_KEY.search(str(k)) and isinstance(v, int | float) and not isinstance(v, bool):
                found.append(((*path, str(k)), float(v)))
            else:
                found.extend(_p_values(v, (*path, str(k))))
    return found


def _explain_test(path: tuple[str, ...], p: float) -> tuple[str, str]:
    """(name, one-line meaning) of a statistical test in the card."""
    if path[-1] == "ks_pvalue":
        verdict = (
            "the sites are clustered, so random CV would overstate map accuracy and spatial "
            "(kNNDM) folds were used"
            if p < 0.05
            else "the sites are spread like the map, so random folds were used"
        )
        return (
            "Random vs spatial CV: are the sites clustered? (one-sided Kolmogorov–Smirnov "
            "test of nearest-neighbour distances, sites vs map cells)",
            f"{p_value(p)}: {verdict}; p < 0.05 means sites lie closer to each other than the "
            "map's cells lie to the sites.",
        )
    name = " › ".join(label(k) for k in path)
    return (
        name,
        f"{p_value(p)}: the chance of a result at least this extreme if there were no effect; "
        "below 0.05 is taken as a real difference.",
    )


def _tests(card: Mapping[str, Any]) -> str:
    found = _p_values(card)
    if not found:
        return ""
    items = "".join(
        f"<dt>{esc(name)}</dt><dd>{esc(text)}</dd>"
        for name, text in (_explain_test(path, p) for path, p in found)
    )
    return f'<h3>Statistical tests</h3><dl class="tests" id="model-card-tests">{items}</dl>'


def _protocol(proto: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for k, v in proto.items():
        if k == "spatial" and isinstance(v, Mapping):
            for sk, sv in v.items():
                if not _P_KEY.search(str(sk)):
                    rows.append((_SPATIAL_LABELS.get(sk, f"spatial: {label(sk)}"), _value(sv)))
        elif k not in ("interval",):
            rows.append((label(k), _value(v)))
    return _kv_table(rows, "model-card-protocol")


def _params(card: Mapping[str, Any]) -> str:
    params = card.get("params")
    if not isinstance(params, Mapping) or not params:
        return ""
    tuned = card.get("tuned_params") if isinstance(card.get("tuned_params"), Mapping) else {}
    holdout = card.get("holdout_params")
    holdout = holdout if isinstance(holdout, Mapping) else {}
    prefixes = {k.split("__", 1)[0] for k in params if "__" in k}
    strip = len(prefixes) == 1 and all("__" in k for k in params)
    rows = []
    for k, v in params.items():
        if v == "deprecated":  # scikit-learn's placeholder for a parameter on its way out
            continue
        name = k.split("__", 1)[1] if strip else k
        note = " <i>(tuned)</i>" if k in (tuned or {}) else ""
        if k in holdout and holdout[k] != v:
            note = f" <i>(tuned on all sites; the tuning hold-out chose {_value(holdout[k])})</i>"
        rows.append((name, _value(v) + note))
    return "<h3>Hyper-parameters</h3>" + _kv_table(rows, "model-card-params")


def _calibration(cal: Mapping[str, Any]) -> str:
    """Which probability map the maps use, the spatial-CV evidence and the reliability bins."""
    method = str(cal.get("method", "?"))
    said = (
        "the maps carry the model's own probabilities (no calibrator beat them)"
        if method == "none"
        else f"the maps' probability band carries {esc(method)}-calibrated probabilities"
    )
    scores = cal.get("cross_fitted") or {}
    rows = pd.DataFrame(
        [
            {"map": m, "log-loss": v.get("log_loss"), "Brier": v.get("brier"), "ECE": v.get("ece")}
            for m, v in scores.items()
        ]
    )
    out = [
        "<h3>Probability calibration</h3>",
        f"<p>{said}. Chosen by {esc(cal.get('criterion', ''))}, each map fitted on the other "
        "spatial folds' out-of-fold predictions and scored on the held-out fold.</p>",
    ]
    if len(rows):
        out.append(table(rows, formats={c: sig for c in ("log-loss", "Brier", "ECE")}))
    before = pd.DataFrame(cal.get("reliability_before") or [])
    if len(before):
        before = before.assign(
            bin=[
                f"{lo:.1f}–{hi:.1f}"
                for lo, hi in zip(before["bin_low"], before["bin_high"], strict=True)
            ]
        )
        out.append(
            "<details><summary>Reliability of the out-of-fold probabilities</summary>"
            + table(
                before[["bin", "n", "mean_p", "observed"]],
                formats={"mean_p": sig, "observed": sig},
                headers={"mean_p": "mean predicted p", "observed": "observed share permafrost"},
            )
            + "</details>"
        )
    return "".join(out)


def section_model_card(page: Page) -> str:
    """The model card (``models/model_card.json``) as readable tables.

    What was fitted on what (factors in model order, rows, classes, training-data hash), its CV
    scores with 95 % intervals clipped to each metric's range, each statistical test in one
    line, the CV protocol, the hyper-parameters (without scikit-learn's "deprecated"
    placeholders), the package versions and the model-stage settings. Numbers have at most four
    significant digits; the JSON file keeps the exact values.
    """
    path = page.layout.model_card
    if not path.is_file():
        return _not_found(page, path)
    card = read_json(path)
    if not isinstance(card, Mapping):
        raise ValueError(f"{page.name(path)} holds a {type(card).__name__}, not a JSON object")
    raw = card.get("cv_protocol")
    proto: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    out = [_facts(card)]
    if isinstance(card.get("cv"), Mapping):
        out.append("<h3>Cross-validation of the final model</h3>")
        out.append(_cv_table(card["cv"], str(proto.get("interval", ""))))
    out.append(_tests(card))
    if proto:
        out.append("<h3>Cross-validation protocol</h3>" + _protocol(proto))
    out.append(_params(card))
    if isinstance(card.get("calibration"), Mapping):
        out.append(_calibration(card["calibration"]))
    versions = card.get("versions")
    if isinstance(versions, Mapping):
        out.append(
            "<h3>Versions</h3>"
            + _kv_table([(k, f"<code>{esc(v)}</code>") for k, v in versions.items()], "versions")
        )
    settings = card.get("settings")
    if isinstance(settings, Mapping):
        out.append(
            "<details><summary>Model-stage settings</summary>"
            + _kv_table([(label(k), _value(v)) for k, v in settings.items()], "model-settings")
            + "</details>"
        )
    other = {k: v for k, v in card.items() if k not in _CARD_SHOWN}
    if other:
        out.append(f"<details><summary>Other entries</summary>{kv_html(other)}</details>")
    out.append(
        f'<p class="note">Rounded for reading; <code>{esc(page.name(path))}</code> keeps the '
        "exact values.</p>"
    )
    return "".join(out)


def section_files(page: Page) -> str:
    """Every file of this run with its size; not hidden files, the page, or an earlier run's files.

    Files of an earlier run (maps, stacks, change tables of epochs this run did not make, a
    reference comparison this run did not do) are counted in a note, never named.
    """
    lay = page.layout
    rows = []
    stale = 0
    for p in sorted(lay.root.rglob("*")):
        parts = Path(page.name(p)).parts
        if not p.is_file() or any(x.startswith(".") for x in parts) or p == lay.report:
            continue
        if page.is_stale(p):
            stale += 1
            continue
        rows.append({"file": page.name(p), "size (kB)": round(p.stat().st_size / 1024, 1)})
    note = (
        f'<p class="note">{stale} file(s) left in this folder by an earlier run (epochs or a '
        "reference this run did not use) are not listed; delete them, or give each run its own "
        "folder.</p>"
        if stale
        else ""
    )
    if not rows:
        return missing("the run folder is empty") + note
    return (
        f"<details><summary>{len(rows)} files</summary>{table(pd.DataFrame(rows))}</details>" + note
    )
