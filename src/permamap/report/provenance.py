"""Sections on how the maps were made: CV scores, feature importance, sites and QC, model card,
and the files of the run.

Each section reads its files through the page's :class:`~permamap.layout.RunLayout`; a missing
file becomes a note that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from . import figures
from .markup import esc, figure, get, kv_html, missing, table
from .page import Page, read_json

__all__ = [
    "section_cv",
    "section_files",
    "section_importance",
    "section_model_card",
    "section_sites",
]

_CARD_FIRST = ("model", "features", "params", "cv", "seed", "training_hash", "versions")


def _not_found(page: Page, path: Path) -> str:
    return missing(f"{esc(page.name(path))} was not found in this run folder")


def section_cv(page: Page) -> str:
    """Random versus spatial CV per model and metric (chart and table with the gap)."""
    path = page.layout.cv_scores
    if not path.is_file():
        return _not_found(page, path)
    scores = pd.read_csv(path)
    out = [
        figure(
            figures.figure_to_data_uri(figures.cv_figure(scores)),
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
    wide = wide.reset_index()
    out.append(table(wide))
    return "".join(out)


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
        counts = sites.groupby(group).size().rename("rows").reset_index()
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
                f"{len(sites):,} site-epoch rows at {len(pts):,} locations.",
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
    """Site counts per source and label, a map of the sites, and what QC dropped or changed."""
    return "".join(_sites_part(page) + _qc_part(page))


def section_model_card(page: Page) -> str:
    """The model card as nested tables, its key facts first."""
    path = page.layout.model_card
    if not path.is_file():
        return _not_found(page, path)
    card = read_json(path)
    first = [k for k in _CARD_FIRST if k in card]
    ordered = {k: card[k] for k in first} | {k: v for k, v in card.items() if k not in first}
    return kv_html(ordered)


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
