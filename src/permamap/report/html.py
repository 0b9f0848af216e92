"""``report.html``: one self-contained page (inline CSS, PNGs as data URIs) for a run folder.

The page reads what the stages left in the run folder (docs/contracts.md, "What a run leaves
behind") and never recomputes a number: headline figures come from ``summary.json`` and carry
``data-summary-key`` / ``data-value`` attributes (the exact JSON value) so tests and scripts can
check the page against the summary. Anything missing or unreadable becomes a visible note in its
section, never a crash. The page has no script and loads nothing from the network, so it works
opened from disk, offline.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio

from ..errors import InputFileError
from . import figures

__all__ = ["headline_values", "write_report"]

logger = logging.getLogger(__name__)

# What a section may fail on when an input is damaged; anything else is a bug and propagates.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    rasterio.errors.RasterioError,
)

_CSS = """
:root { --ink:#1d2630; --muted:#5b6774; --line:#d8dee4; --accent:#1f5f8b; --bg:#fbfcfd; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--bg); margin: 0; }
header { background: #12344d; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.6rem; }
header p { margin: 0; color: #c9d6e2; font-size: .9rem; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
      padding: .4rem 2rem; z-index: 1; font-size: .9rem; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 2rem 3rem; }
section { margin: 2rem 0; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: .3rem; font-size: 1.3rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .88rem; background: #fff; }
th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #eef2f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: .8rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
.missing { color: #8a4b08; background: #fff6e5; border-left: 4px solid #f0a030;
           padding: .4rem .8rem; }
.note { color: var(--muted); background: #f1f5f9; border-left: 4px solid var(--accent);
        padding: .5rem .9rem; font-size: .9rem; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem;
        min-width: 15rem; }
.card h3 { margin-top: 0; }
details summary { cursor: pointer; color: var(--accent); margin: .4rem 0; }
code { background: #eef2f6; padding: 0 .25rem; border-radius: 3px; }
footer { color: var(--muted); font-size: .8rem; text-align: center; padding: 2rem; }
"""

_AREA_LABELS = {
    "permafrost_extent_km2": "Permafrost extent (class = permafrost)",
    "probability_weighted_km2": "Probability-weighted permafrost area",
    "land_km2": "Mapped land",
    "permafrost_region_km2": "Permafrost region (any permafrost, p ≥ 1 %)",
    "cell_km2": "All cells",
}


# ================================================================================================
# Small helpers
# ================================================================================================
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _km2(v: float) -> str:
    return f"{v:,.0f} km²"


def _num(v: Any, digits: int = 3) -> str:
    """Numbers for tables: thousands separators for large values, years left alone."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return str(v)


def _missing(what: str) -> str:
    return f'<p class="missing">Not available: {what}</p>'


def _headline_cell(key: str, value: Any, text: str) -> str:
    """A table cell that carries the exact summary.json value for automated checks."""
    ident = "hl-" + key.replace(".", "-").replace("_", "-")
    return (
        f'<td class="num" id="{_e(ident)}" data-summary-key="{_e(key)}" '
        f'data-value="{_e(json.dumps(value))}">{_e(text)}</td>'
    )


def _table(
    df: pd.DataFrame,
    *,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    index: bool = False,
) -> str:
    formats = formats or {}
    cols = list(df.columns)
    head = "".join(f"<th>{_e(c)}</th>" for c in ([df.index.name or ""] if index else []) + cols)
    rows = []
    # itertuples keeps each column's dtype (iterrows would turn an int epoch into a float)
    for idx, values in zip(df.index, df.itertuples(index=False, name=None), strict=True):
        cells = [f"<th>{_e(idx)}</th>"] if index else []
        for c, v in zip(cols, values, strict=True):
            if c in formats:
                cells.append(f'<td class="num">{_e(formats[c](v))}</td>')
            elif isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):
                cells.append(f'<td class="num">{_e(_num(v))}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(uri: str, alt: str, caption: str, ident: str) -> str:
    return (
        f'<figure id="{_e(ident)}"><img src="{uri}" alt="{_e(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _rel(path: Path, run_dir: Path) -> str:
    try:
        return str(path.relative_to(run_dir))
    except ValueError:
        return str(path)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


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
    for epoch, areas in (_get(summary, "area_km2") or {}).items():
        for key in ("permafrost_extent_km2", "probability_weighted_km2", "land_km2"):
            if isinstance(areas, Mapping) and key in areas:
                out[f"area_km2.{epoch}.{key}"] = areas[key]
    for scheme in ("random", "spatial"):
        for metric in ("accuracy", "kappa", "roc_auc"):
            v = _get(summary, "cv", scheme, metric, "mean")
            if v is not None:
                out[f"cv.{scheme}.{metric}.mean"] = v
    for epoch, v in (_get(summary, "truth_agreement") or {}).items():
        out[f"truth_agreement.{epoch}"] = v
    for key in ("kept", "dropped"):
        v = _get(summary, "sites", key)
        if v is not None:
            out[f"sites.{key}"] = v
    return out


# ================================================================================================
# Sections
# ================================================================================================
class _Page:
    """Collects the sections of one report; each section is built independently."""

    def __init__(self, run_dir: Path, coastlines: str, max_pixels: int) -> None:
        self.run_dir = run_dir
        self.coastlines = coastlines
        self.max_pixels = max_pixels
        self.sections: list[tuple[str, str, str]] = []  # (id, title, body)
        self.summary: dict[str, Any] | None = None
        self.summary_note = ""
        path = run_dir / "summary.json"
        if path.is_file():
            try:
                self.summary = _read_json(path)
            except (OSError, ValueError) as exc:
                self.summary_note = f"summary.json could not be read ({exc})"
                logger.warning("report: %s", self.summary_note)
        else:
            self.summary_note = "summary.json was not found in this run folder"

    def add(self, ident: str, title: str, build: Callable[[], str]) -> None:
        try:
            body = build()
        except _READ_ERRORS as exc:
            logger.warning("report section %r could not be built: %s", title, exc, exc_info=True)
            body = _missing(f"this section could not be built ({_e(exc)})")
        self.sections.append((ident, title, body))

    def path(self, rel: str) -> Path:
        return self.run_dir / rel


def _section_headline(page: _Page) -> str:
    s = page.summary
    if s is None:
        return _missing(_e(page.summary_note))
    parts = []
    areas = _get(s, "area_km2") or {}
    if areas:
        rows = []
        for epoch in sorted(areas, key=str):
            a = areas[epoch]
            cells = [f"<th>{_e(epoch)}</th>"]
            for key in ("permafrost_extent_km2", "probability_weighted_km2", "land_km2"):
                v = a.get(key) if isinstance(a, Mapping) else None
                cells.append(
                    _headline_cell(f"area_km2.{epoch}.{key}", v, _km2(v))
                    if isinstance(v, int | float)
                    else "<td>–</td>"
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(
            '<div class="card"><h3>Permafrost area per epoch</h3><table id="headline-area">'
            "<thead><tr><th>epoch</th><th>extent (class = permafrost)</th>"
            "<th>probability-weighted area</th><th>mapped land</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        parts.append(_missing("summary.json has no area_km2"))
    cv = _get(s, "cv")
    if isinstance(cv, Mapping):
        rows = []
        for metric in ("accuracy", "kappa", "roc_auc"):
            cells = []
            for scheme in ("random", "spatial"):
                v = _get(cv, scheme, metric, "mean")
                sd = _get(cv, scheme, metric, "sd")
                text = "–" if v is None else f"{v:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
                cells.append(
                    _headline_cell(f"cv.{scheme}.{metric}.mean", v, text)
                    if v is not None
                    else "<td>–</td>"
                )
            if any(c != "<td>–</td>" for c in cells):
                rows.append(f"<tr><th>{_e(metric)}</th>{''.join(cells)}</tr>")
        model = _e(cv.get("model", "?"))
        nfeat = len(cv.get("features", []) or [])
        parts.append(
            f'<div class="card"><h3>Cross-validation ({model}, {nfeat} features)</h3>'
            '<table id="headline-cv"><thead><tr><th>metric</th><th>random CV</th>'
            f"<th>spatial CV</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            '<p class="note">Random CV scores sites near their training neighbours and is '
            "optimistic; spatial CV (held-out blocks) is the honest estimate for unmapped "
            "regions.</p></div>"
        )
    truth = _get(s, "truth_agreement")
    if isinstance(truth, Mapping) and truth:
        truth_rows = "".join(
            f"<tr><th>{_e(ep)}</th>"
            + _headline_cell(f"truth_agreement.{ep}", v, f"{v:.3f}" if v is not None else "–")
            + "</tr>"
            for ep, v in sorted(truth.items(), key=lambda kv: str(kv[0]))
        )
        parts.append(
            '<div class="card"><h3>Agreement with the known truth (demo)</h3>'
            '<table id="headline-truth"><thead><tr><th>epoch</th><th>agreement</th></tr></thead>'
            f"<tbody>{truth_rows}</tbody></table></div>"
        )
    sites = _get(s, "sites")
    if isinstance(sites, Mapping):
        site_rows = "".join(
            f"<tr><th>{k}</th>" + _headline_cell(f"sites.{k}", sites[k], _num(sites[k])) + "</tr>"
            for k in ("kept", "dropped")
            if k in sites
        )
        parts.append(
            '<div class="card"><h3>Sites</h3><table id="headline-sites">'
            f"<tbody>{site_rows}</tbody></table></div>"
        )
    note = (
        '<p class="note"><b>Extent, region and area are different numbers.</b> '
        "<i>Permafrost extent</i> is the area of the cells classed as permafrost; the "
        "<i>probability-weighted area</i> sums probability × cell area and estimates the ground "
        "actually underlain by permafrost; the <i>permafrost region</i> (in the area tables) "
        "counts every cell with any permafrost. All areas are km² from exact cell areas on the "
        "WGS84 ellipsoid, never cell counts.</p>"
    )
    return f'<div class="cards">{"".join(parts)}</div>{note}'


def _map_paths(run_dir: Path) -> dict[int, Path]:
    out = {}
    maps = run_dir / "maps"
    if maps.is_dir():
        for p in maps.glob("permafrost_*.tif"):
            stem = p.stem.removeprefix("permafrost_")
            if stem.isdigit():
                out[int(stem)] = p
    return dict(sorted(out.items()))


def _band_named(path: Path, name: str) -> int | None:
    with rasterio.open(path) as src:
        for i, d in enumerate(src.descriptions, start=1):
            if (d or "").lower() == name:
                return i
    return None


def _section_maps(page: _Page) -> str:
    maps = _map_paths(page.run_dir)
    if not maps:
        return _missing("no maps/permafrost_&lt;year&gt;.tif in this run folder")
    out = []
    areas = _get(page.summary, "area_km2") or {}
    for epoch, path in maps.items():
        band = _band_named(path, "probability") or 1
        view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
        fig = figures.raster_figure(
            view, f"Permafrost probability {epoch}", coastlines=page.coastlines
        )
        a = areas.get(str(epoch)) or {}
        extra = (
            f" Extent {_km2(a['permafrost_extent_km2'])}, probability-weighted "
            f"{_km2(a['probability_weighted_km2'])}."
            if "permafrost_extent_km2" in a and "probability_weighted_km2" in a
            else ""
        )
        out.append(
            _figure(
                figures.figure_to_data_uri(fig),
                f"permafrost map {epoch}",
                f"<code>{_e(_rel(path, page.run_dir))}</code>, band {band} "
                f"({_e(view.description or 'class')}), shown at 1/{view.decimation} "
                f"resolution.{extra}",
                f"map-{epoch}",
            )
        )
    out.extend(_quality_maps(page, *list(maps.items())[-1]))
    return "".join(out)


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


def _quality_maps(page: _Page, epoch: int, path: Path) -> list[str]:
    """The uncertainty and area-of-applicability bands of one epoch's map, when it has them."""
    out = []
    for name, (title, note) in _QUALITY_BANDS.items():
        band = _band_named(path, name)
        if band is None:
            continue
        view = figures.read_raster_view(path, band, max_pixels=page.max_pixels)
        fig = figures.raster_figure(view, title.format(epoch=epoch), coastlines=page.coastlines)
        text = note.format(
            method=_e(view.tags.get("uncertainty_method", "")),
            threshold=_e(view.tags.get("aoa_threshold", "the threshold")),
        )
        out.append(
            _figure(
                figures.figure_to_data_uri(fig),
                f"{name} map {epoch}",
                f"<code>{_e(_rel(path, page.run_dir))}</code>, band {band} ({name}). {text}",
                f"{name}-{epoch}",
            )
        )
    return out


def _area_table(page: _Page) -> pd.DataFrame | None:
    path = page.path("change/area_by_epoch.csv")
    if not path.is_file():
        return None
    return pd.read_csv(path)


def _section_area(page: _Page) -> str:
    df = _area_table(page)
    out = []
    if df is None:
        areas = _get(page.summary, "area_km2")
        if not areas:
            return _missing("change/area_by_epoch.csv and summary.json area_km2 are both absent")
        totals = pd.DataFrame(
            [{"epoch": int(e), "domain": "all", **v} for e, v in areas.items()]
        ).sort_values("epoch")
        out.append(_missing("change/area_by_epoch.csv not found; showing summary.json totals"))
    else:
        totals = df[df["stratum"] == "total"].drop(columns=["stratum", "zone"])
    out.append(
        _figure(
            figures.figure_to_data_uri(figures.area_figure(totals)),
            "permafrost area time series",
            "Permafrost area per epoch (million km²). Lighter lines: inside the area of "
            "applicability, where present.",
            "area-timeseries",
        )
    )
    show = totals.rename(columns={k: v + " (km²)" for k, v in _AREA_LABELS.items()})
    out.append(_table(show.reset_index(drop=True)))
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
                f"{_table(wide, index=True)}</details>"
            )
    return "".join(out)


def _section_change(page: _Page) -> str:
    change_dir = page.path("change")
    tables = sorted(change_dir.glob("transitions_*_*.csv")) if change_dir.is_dir() else []

    def order(p: Path) -> tuple[int, int, int]:  # consecutive pairs first, then first → last
        a, b = (int(x) if x.isdigit() else 0 for x in p.stem.split("_")[1:3])
        return (1 if len(tables) > 2 and b - a == max_span else 0, a, b)

    spans = [
        int(p.stem.split("_")[2]) - int(p.stem.split("_")[1])
        for p in tables
        if all(x.isdigit() for x in p.stem.split("_")[1:3])
    ]
    max_span = max(spans, default=0)
    tables.sort(key=order)
    if not tables:
        return _missing(
            "no change/transitions_&lt;a&gt;_&lt;b&gt;.csv (one epoch, or the change "
            "stage did not run)"
        )
    out = []
    for csv in tables:
        a, b = csv.stem.split("_")[1:3]
        tif = change_dir / f"change_{a}_{b}.tif"
        out.append(f"<h3>{_e(a)} → {_e(b)}</h3>")
        if tif.is_file():
            view = figures.read_raster_view(tif, 1, max_pixels=page.max_pixels)
            fig = figures.raster_figure(view, f"Change {a} → {b}", coastlines=page.coastlines)
            out.append(
                _figure(
                    figures.figure_to_data_uri(fig),
                    f"change map {a} to {b}",
                    f"<code>{_e(_rel(tif, page.run_dir))}</code>: degraded = permafrost in {a}, "
                    f"not in {b}; aggregated = the reverse.",
                    f"change-{a}-{b}",
                )
            )
        else:
            out.append(_missing(f"{_e(_rel(tif, page.run_dir))} not found"))
        t = pd.read_csv(csv)
        t = t[t["area_km2"] > 0] if "area_km2" in t else t
        keep = [c for c in ("from_class", "to_class", "change", "area_km2") if c in t]
        out.append(_table(t[keep].reset_index(drop=True), formats={"area_km2": _km2}))
    ref = change_dir / "reference_comparison.csv"
    if ref.is_file():
        r = pd.read_csv(ref)
        out.append("<h3>Comparison with the reference map</h3>")
        keep = [
            c
            for c in (
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
            if c in r
        ]
        out.append(_table(r[keep]))
        out.append(
            '<p class="note">Computed on the cells with data in both maps, after resampling the '
            "reference to the grid; kappa is area-weighted.</p>"
        )
    return "".join(out)


def _section_cv(page: _Page) -> str:
    path = page.path("models/cv_scores.csv")
    if not path.is_file():
        return _missing("models/cv_scores.csv was not found in this run folder")
    scores = pd.read_csv(path)
    out = [
        _figure(
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
    out.append(_table(wide))
    return "".join(out)


def _section_importance(page: _Page) -> str:
    path = page.path("models/selection.json")
    if not path.is_file():
        return _missing("models/selection.json was not found in this run folder")
    sel = _read_json(path)
    out = []
    chosen = list(sel.get("chosen") or [])
    imp = sel.get("importance") or []
    if imp:
        out.append(
            _figure(
                figures.figure_to_data_uri(figures.importance_figure(imp, chosen)),
                "feature importance",
                "Permutation importance (mean ± sd); dark bars are the features the final model "
                "uses.",
                "importance-chart",
            )
        )
    else:
        out.append(_missing("selection.json has no importance ranking"))
    if chosen:
        out.append(
            "<p>Chosen features: " + ", ".join(f"<code>{_e(f)}</code>" for f in chosen) + "</p>"
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
            f"{_table(c.head(30).reset_index(drop=True))}</details>"
        )
    return "".join(out)


def _section_sites(page: _Page) -> str:
    out = []
    sites_path = page.path("sites/sites.parquet")
    if sites_path.is_file():
        sites = pd.read_parquet(sites_path)
        sites = sites.drop(columns=[c for c in ("geometry",) if c in sites.columns])
        group = [c for c in ("source", "label") if c in sites]
        if group:
            counts = sites.groupby(group).size().rename("rows").reset_index()
            out.append("<h3>Sites used</h3>" + _table(counts))
        if {"lon", "lat"} <= set(sites.columns) and len(sites):
            bounds = _grid_bounds(page) or (
                float(sites["lon"].min()) - 1,
                float(sites["lat"].min()) - 1,
                float(sites["lon"].max()) + 1,
                float(sites["lat"].max()) + 1,
            )
            pts = sites.drop_duplicates(
                subset=["lon", "lat"] + (["label"] if "label" in sites else [])
            )
            fig = figures.sites_figure(pts, bounds, coastlines=page.coastlines)
            out.append(
                _figure(
                    figures.figure_to_data_uri(fig),
                    "site locations",
                    f"{len(sites):,} site-epoch rows at {len(pts):,} locations.",
                    "sites-map",
                )
            )
    else:
        out.append(_missing("sites/sites.parquet was not found in this run folder"))
    qc_path = page.path("sites/qc_report.csv")
    if qc_path.is_file():
        qc = pd.read_csv(qc_path)
        if qc.empty:
            out.append("<h3>Quality control</h3><p>No site was dropped or changed by QC.</p>")
        else:
            group = [c for c in ("rule", "action") if c in qc]
            counts = qc.groupby(group).size().rename("sites").reset_index() if group else qc.head(0)
            out.append("<h3>Quality control</h3>" + _table(counts))
            out.append(
                f"<details><summary>First {min(len(qc), 50)} of {len(qc):,} QC entries"
                f"</summary>{_table(qc.head(50))}</details>"
            )
    else:
        out.append(_missing("sites/qc_report.csv was not found in this run folder"))
    return "".join(out)


def _grid_bounds(page: _Page) -> tuple[float, float, float, float] | None:
    g = _get(page.summary, "grid")
    if not isinstance(g, Mapping) or str(g.get("crs", "EPSG:4326")).upper() != "EPSG:4326":
        return None
    try:
        west, north, res = float(g["west"]), float(g["north"]), float(g["res"])
        return (west, north - res * int(g["height"]), west + res * int(g["width"]), north)
    except (KeyError, TypeError, ValueError):
        return None


def _kv_html(obj: Any, depth: int = 0) -> str:
    """Nested JSON as nested key/value tables."""
    if isinstance(obj, Mapping):
        if not obj:
            return "<i>empty</i>"
        rows = "".join(
            f"<tr><th>{_e(k)}</th><td>{_kv_html(v, depth + 1)}</td></tr>" for k, v in obj.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(obj, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in obj):
            return ", ".join(f"<code>{_e(v)}</code>" for v in obj) or "<i>none</i>"
        return "<ol>" + "".join(f"<li>{_kv_html(v, depth + 1)}</li>" for v in obj) + "</ol>"
    if isinstance(obj, float):
        return _e(_num(obj, 4))
    return _e(obj)


def _section_model_card(page: _Page) -> str:
    path = page.path("models/model_card.json")
    if not path.is_file():
        return _missing("models/model_card.json was not found in this run folder")
    card = _read_json(path)
    first = [
        k
        for k in ("model", "features", "params", "cv", "seed", "training_hash", "versions")
        if k in card
    ]
    ordered = {k: card[k] for k in first} | {k: v for k, v in card.items() if k not in first}
    return _kv_html(ordered)


def _section_files(page: _Page) -> str:
    rows = []
    for p in sorted(page.run_dir.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.name != "report.html":
            rows.append(
                {"file": _rel(p, page.run_dir), "size (kB)": round(p.stat().st_size / 1024, 1)}
            )
    if not rows:
        return _missing("the run folder is empty")
    return f"<details><summary>{len(rows)} files</summary>{_table(pd.DataFrame(rows))}</details>"


# ================================================================================================
# The page
# ================================================================================================
def _render(page: _Page, generated: str) -> str:
    s = page.summary or {}
    version = _e(s.get("version", "?"))
    epochs = ", ".join(str(e) for e in s.get("epochs", [])) or "?"
    grid = s.get("grid") or {}
    grid_txt = (
        f"{_e(grid.get('crs', '?'))}, {grid.get('height', '?')} × {grid.get('width', '?')} cells"
        if grid
        else "grid unknown"
    )
    nav = "".join(f'<a href="#{_e(i)}">{_e(t)}</a>' for i, t, _ in page.sections)
    body = "".join(
        f'<section id="{_e(i)}"><h2>{_e(t)}</h2>{b}</section>' for i, t, b in page.sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="permamap {version}">
<title>permamap report — {_e(page.run_dir.name)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Permafrost distribution and change</h1>
<p>permamap {version} · epochs {_e(epochs)} · {grid_txt} · run folder
<code>{_e(page.run_dir.name)}</code> · generated {_e(generated)}</p>
</header>
<nav>{nav}</nav>
<main>
{body}
</main>
<footer>Made by permamap {version}. Self-contained page: every figure is embedded; no network
access is needed.</footer>
</body>
</html>
"""


def write_report(
    run_dir: Path,
    *,
    out: Path | None = None,
    coastlines: str = "land-mask",
    max_pixels: int = 1000,
) -> Path:
    """Write ``report.html`` for a run folder and return its path.

    Parameters
    ----------
    run_dir : Path
        A run folder (``out/demo`` or what ``permamap run`` wrote). Any of ``summary.json``,
        ``maps/``, ``change/``, ``models/cv_scores.csv``, ``models/selection.json``,
        ``models/model_card.json``, ``sites/qc_report.csv`` and ``sites/sites.parquet`` may be
        missing: the page then says so in that section.
    out : Path, optional
        Where to write; ``run_dir / "report.html"`` by default. Written atomically.
    coastlines : {"land-mask", "data-mask", "none"}
        Coastline source for the maps (see :mod:`permamap.report.figures`).
    max_pixels : int
        Longest side of the decimated map images.

    Returns
    -------
    Path
        The written page.

    Raises
    ------
    InputFileError
        If ``run_dir`` is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(
            f"run folder {run_dir} does not exist; run `permamap demo` or `permamap run` first, "
            "or pass the folder they wrote"
        )
    if coastlines not in ("land-mask", "data-mask", "none"):
        raise InputFileError(
            f"coastlines {coastlines!r} is not one of 'land-mask', 'data-mask', 'none'"
        )
    page = _Page(run_dir, coastlines, max_pixels)
    page.add("headline", "Headline figures", lambda: _section_headline(page))
    page.add("maps", "Permafrost maps", lambda: _section_maps(page))
    page.add("area", "Permafrost area", lambda: _section_area(page))
    page.add("change", "Change between epochs", lambda: _section_change(page))
    page.add("cv", "Model evaluation: random vs spatial CV", lambda: _section_cv(page))
    page.add("importance", "Feature importance", lambda: _section_importance(page))
    page.add("sites", "Sites and quality control", lambda: _section_sites(page))
    page.add("model-card", "Model card", lambda: _section_model_card(page))
    page.add("files", "Files in this run", lambda: _section_files(page))
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = _render(page, generated)
    target = Path(out) if out is not None else run_dir / "report.html"
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target
