"""The report's "Future" section on a small hand-made run folder with known content."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.contour import ContourSet

from permamap import fileio
from permamap.errors import DataError
from permamap.fileio import open_tiled
from permamap.grid import Grid
from permamap.layout import RunLayout
from permamap.report import write_report
from permamap.report.future import projection_table, section_future
from permamap.report.future_figures import (
    SSP_COLORS,
    fan_chart,
    probability_panels,
    scenario_colors,
)
from permamap.report.page import Page
from tests.report.html_parts import images, part_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID = Grid.from_bounds((60, 55, 80, 65), res=1.0)  # 10 rows × 20 columns
SCENARIOS = ("ssp126", "ssp585")
PERIODS = ("2041-2060", "2081-2100")
BASELINE = 8_000_000.0
# scenario, period → (extent, GCM range, true extent, outside-AOA share, first outside column)
FUTURES = {
    ("ssp126", "2041-2060"): (7_234_567.8, [6_830_000.0, 7_630_000.0], 7.3e6, 0.0, None),
    ("ssp126", "2081-2100"): (7_071_234.0, [6_620_000.0, 7_500_000.0], 7.0e6, 0.0123456, 18),
    ("ssp585", "2041-2060"): (5_091_000.0, [4_190_000.0, 6_030_000.0], 5.2e6, 0.05, 15),
    ("ssp585", "2081-2100"): (549_876.5, [190_000.0, 2_400_000.0], 450_000.0, 0.3456789, 10),
}
GCMS = ["ve-alder", "ve-birch", "ve-cedar"]


def _write_future(path: Path, shift: float, first_outside: int | None) -> Path:
    """A future map: probability falls from north to south and with ``shift``; AOA by column."""
    rows = np.arange(GRID.height)[:, None] * np.ones(GRID.shape)
    cols = np.arange(GRID.width)[None, :] * np.ones(GRID.shape)
    prob = np.clip(100 - 10 * rows - shift, 0, 100)
    outside = np.zeros(GRID.shape, bool) if first_outside is None else cols >= first_outside
    bands = {
        "class": (prob >= 50).astype(np.uint8),
        "probability": np.rint(prob),
        "gcm_spread": np.full(GRID.shape, 5),
        "aoa": (~outside).astype(np.uint8),
        "aoa_gcm_share": np.where(outside, 60, 100),
    }
    bands["probability"][0, 0] = 255  # one cell of no data
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_tiled(path, GRID, len(bands), "uint8", 255, list(bands)) as dst:
        dst.write(np.stack([b.astype(np.uint8) for b in bands.values()]))
    return path


def _summary(*, virtual: bool = True) -> dict:
    projections: dict = {s: {} for s in SCENARIOS}
    for (s, p), (extent, rng, true, share, _) in FUTURES.items():
        lost = max(0.0, BASELINE - extent) + 10_000.0
        entry = {
            "permafrost_extent_km2": extent,
            "gcm_range_km2": rng,
            "gcm_extent_km2": dict(zip(GCMS, [rng[0], extent, rng[1]], strict=True)),
            "probability_weighted_km2": 1.02 * extent,
            "outside_aoa_share": share,
            "lost_km2": lost,
            "stable_km2": BASELINE - lost,
            "gained_km2": extent - (BASELINE - lost),
            "map": f"maps/future/permafrost_{s}_{p}.tif",
        }
        if virtual:
            entry |= {"true_extent_km2": true, "truth_agreement": 0.9312}
        projections[s][p] = entry
    return {
        "epochs": [2000, 2020],
        "virtual_world": virtual,
        "area_km2": {
            "2000": {"permafrost_extent_km2": 8_400_000.0},
            "2020": {"permafrost_extent_km2": BASELINE},
        },
        "projection_settings": {
            "baseline_epoch": 2020,
            "baseline_extent_km2": BASELINE,
            "scenarios": list(SCENARIOS),
            "periods": list(PERIODS),
            "gcms": GCMS,
            "source": "virtual world CMIP6-like futures",
            "method": "delta",
        },
        "projections": projections,
    }


def _areas_csv() -> pd.DataFrame:
    """Totals, two latitude bands (60 % / 40 % of everything) and one elevation zone per combo."""
    rows = []
    for (s, p), (extent, *_rest) in FUTURES.items():
        lost = max(0.0, BASELINE - extent) + 10_000.0
        total = {
            "baseline_extent_km2": BASELINE,
            "extent_km2": extent,
            "lost_km2": lost,
            "stable_km2": BASELINE - lost,
            "gained_km2": extent - (BASELINE - lost),
        }
        zones = [("total", "total", 1.0), ("latitude", "55°N–60°N", 0.4)]
        zones += [("latitude", "60°N–65°N", 0.6), ("elevation", "< 500 m", 1.0)]
        for kind, zone, w in zones:
            rows.append(
                {"scenario": s, "period": p, "zone_kind": kind, "zone": zone}
                | {k: w * v for k, v in total.items()}
            )
    return pd.DataFrame(rows)


def _run(
    tmp_path: Path, *, summary: dict | None = None, csv: bool = True, skip: tuple = ()
) -> Page:
    lay = RunLayout(tmp_path)
    for k, ((s, p), fut) in enumerate(FUTURES.items()):
        if (s, p) not in skip:
            _write_future(lay.future_map(s, p), 15.0 * k, fut[4])
    if csv:
        lay.change_dir.mkdir(parents=True, exist_ok=True)
        fileio.write_csv(_areas_csv(), lay.future_areas)
    fileio.write_json(lay.summary, summary if summary is not None else _summary())
    return Page(lay, "none", 60)


def _rows(html: str, ident: str) -> list[list[str]]:
    body = re.search(rf'<table id="{ident}">.*?<tbody>(.*?)</tbody>', html).group(1)
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    ]


# -------------------------------------------------------------------------------- the section
@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The section of the default (virtual, complete) run, rendered once for the module."""
    return section_future(_run(tmp_path_factory.mktemp("future")))


def test_section_has_one_image_per_figure_and_every_part(html: str) -> None:
    figs = images(html)
    assert list(figs) == ["future-fan", "future-maps"]
    assert all(png[:8] == PNG_MAGIC for png in figs.values())
    titles = re.findall(r"<h3>(.*?)</h3>", html)
    assert titles == [
        "What was projected",
        "Permafrost extent by scenario",
        "Maps per scenario and period",
        "Lost, stable and gained permafrost",
        "Where the model extrapolates",
    ]
    assert 'class="missing"' not in html


def test_intro_names_baseline_gcms_method_and_the_truth_check(html: str) -> None:
    part = part_html(html, "What was projected")
    assert "Baseline: the 2020 map (8.00 M km² of permafrost)" in part
    assert "Climate models (GCMs): 3 — <code>ve-alder</code>, <code>ve-birch</code>" in part
    assert "Future climate by the delta method: each GCM's change (its future minus" in part
    assert "Scenarios: SSP1-2.6, SSP5-8.5; periods: 2041–2060, 2081–2100." in part
    rows = _rows(part, "future-truth")
    assert rows[0] == ["SSP1-2.6, 2041–2060", "7,235,000", "7,300,000", "−0.896 %", "yes", "93.1 %"]
    # 549,876.5 against 450,000: +22.2 %, outside ±10 %
    assert rows[3] == ["SSP5-8.5, 2081–2100", "549,900", "450,000", "+22.2 %", "no", "93.1 %"]
    assert "3 of 4 projected extents lie within ±10 % of the virtual truth." in part


def test_a_real_run_has_no_truth_check_and_gaps_are_named(tmp_path: Path) -> None:
    summary = _summary(virtual=False)
    summary["projection_settings"]["method"] = "as-is"
    summary["projection_settings"]["scenarios"].append("ssp245")
    part = part_html(section_future(_run(tmp_path, summary=summary)), "What was projected")
    assert "future-truth" not in part and "virtual truth" not in part
    assert "Future climate: each GCM's downscaled values as they are" in part
    assert (
        "Not available: summary.json <code>projections</code> has no figures for SSP2-4.5, "
        "2041–2060; SSP2-4.5, 2081–2100 (listed in <code>projection_settings</code>)" in part
    )


def test_extent_table_rounds_and_tags_the_summary_values(html: str) -> None:
    part = part_html(html, "Permafrost extent by scenario")
    rows = _rows(part, "future-extents")
    assert [r[:2] for r in rows] == [
        ["SSP1-2.6", "2041–2060"],
        ["SSP1-2.6", "2081–2100"],
        ["SSP5-8.5", "2041–2060"],
        ["SSP5-8.5", "2081–2100"],
    ]
    assert rows[0][2:] == ["7,235,000", "6,830,000 to 7,630,000", "7,379,000", "−9.57 %"]
    assert rows[3][2:] == ["549,900", "190,000 to 2,400,000", "560,900", "−93.1 %"]
    cell = re.search(r'<td[^>]*data-summary-key="projections.ssp585.2081-2100[^"]*"[^>]*>', part)
    assert 'data-value="549876.5"' in cell.group(0)
    assert "change of the extent against 2020" in part
    assert "stars: the virtual truth" in part


def test_maps_part_hatches_outside_the_aoa_and_names_its_files(html: str) -> None:
    part = part_html(html, "Maps per scenario and period")
    assert "Hatched: cells outside the area of applicability (band <code>aoa</code> = 0)" in part
    assert "<code>maps/future/permafrost_ssp585_2081-2100.tif</code>" in part


def test_lost_stable_gained_tables_per_zone_kind(html: str) -> None:
    part = part_html(html, "Lost, stable and gained permafrost")
    total = _rows(part, "future-areas-total")
    assert len(total) == 4
    # ssp585 2081-2100: lost 7,460,123.5 → 7,460,000; stable 539,876.5; gained 10,000
    assert total[3] == [
        "SSP5-8.5, 2081–2100",
        "8,000,000",
        "549,900",
        "7,460,000",
        "539,900",
        "10,000",
        "−93.1 %",
    ]
    lat = _rows(part, "future-areas-latitude")
    assert len(lat) == 8 and [r[0] for r in lat[:2]] == ["55°N–60°N", "55°N–60°N"]
    assert lat[0][2:4] == ["3,200,000", "2,894,000"]  # 40 % of 8 M and of 7,234,567.8
    assert "<details><summary>By elevation zone</summary>" in part
    assert len(_rows(part, "future-areas-elevation")) == 4


def test_outside_aoa_share_per_scenario_and_period(html: str) -> None:
    part = part_html(html, "Where the model extrapolates")
    assert re.findall(r"<thead><tr>(.*?)</tr>", part) == [
        "<th>scenario</th><th>2041–2060</th><th>2081–2100</th>"
    ]
    assert _rows(part, "future-outside-aoa") == [
        ["SSP1-2.6", "0 %", "1.23 %"],
        ["SSP5-8.5", "5 %", "34.6 %"],
    ]


def test_section_is_left_out_without_projections(tmp_path: Path) -> None:
    summary = _summary()
    del summary["projections"]
    page = _run(tmp_path, summary=summary)
    assert section_future(page) is None
    text = write_report(page.layout, coastlines="none").read_text(encoding="utf-8")
    assert 'id="future"' not in text and "#future" not in text
    page.layout.summary.unlink()
    assert section_future(Page(page.layout, "none", 60)) is None


def test_the_section_sits_before_the_file_list(tmp_path: Path) -> None:
    page = _run(tmp_path)
    text = write_report(page.layout, coastlines="none").read_text(encoding="utf-8")
    order = [text.index(f'<section id="{s}">') for s in ("uncertainty", "future", "files")]
    assert order == sorted(order)
    assert '<a href="#future">Future: permafrost under climate scenarios</a>' in text
    assert set(images(text[order[1] : order[2]])) == {"future-fan", "future-maps"}


# ------------------------------------------------------------------------------ absent inputs
def test_a_missing_map_drops_its_scenario_row_and_says_so(tmp_path: Path) -> None:
    page = _run(tmp_path, skip=(("ssp585", "2041-2060"),))
    part = part_html(section_future(page), "Maps per scenario and period")
    assert (
        "Not available: <code>maps/future/permafrost_ssp585_2041-2060.tif</code> not found, so "
        "those scenarios have no row of maps" in part
    )
    assert "future-maps" in images(part)
    assert "permafrost_ssp585_2081-2100.tif" not in part.split("</p>", 1)[1]


def test_without_the_csv_the_totals_come_from_the_summary(tmp_path: Path) -> None:
    part = part_html(
        section_future(_run(tmp_path, csv=False)), "Lost, stable and gained permafrost"
    )
    assert "<code>change/future_areas.csv</code> was not found, so the table has the totals" in part
    assert _rows(part, "future-areas-total")[3] == [
        "SSP5-8.5, 2081–2100",
        "7,460,000",
        "539,900",
        "10,000",
    ]


def test_a_malformed_period_names_the_fix() -> None:
    summary = {"projections": {"ssp126": {"2041to2060": {"permafrost_extent_km2": 1.0}}}}
    with pytest.raises(DataError, match=r"period '2041to2060' is not '<first year>-<last year>'"):
        projection_table(summary)


def test_a_damaged_csv_is_a_note_in_its_part_only(tmp_path: Path) -> None:
    page = _run(tmp_path)
    page.layout.future_areas.write_text("scenario,period\nssp126,2041-2060\n")
    html = section_future(page)
    part = part_html(html, "Lost, stable and gained permafrost")
    assert "this part could not be built" in part
    assert "future_areas.csv lacks columns [&#x27;zone_kind&#x27;, &#x27;zone&#x27;" in part
    assert list(images(html)) == ["future-fan", "future-maps"]


# ---------------------------------------------------------------------------------- figures
def test_fan_chart_draws_midpoints_ranges_and_truth() -> None:
    df = projection_table(_summary())
    history = pd.DataFrame({"epoch": [2000, 2020], "permafrost_extent_km2": [8.4e6, 8.0e6]})
    fig = fan_chart(history, df, baseline=(2020, BASELINE))
    ax = next(a for a in fig.axes if a.get_label() == "future-fan")
    assert ax.get_ylabel() == "permafrost extent (million km²)"
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert lines["SSP5-8.5"].get_xdata().tolist() == [2050.5, 2090.5]
    assert lines["SSP5-8.5"].get_ydata().tolist() == pytest.approx([5.091, 0.5498765])
    assert lines["SSP1-2.6"].get_color() == SSP_COLORS["ssp126"]
    assert lines["SSP5-8.5"].get_marker() != lines["SSP1-2.6"].get_marker()
    assert lines["mapped epochs (this run)"].get_xdata().tolist() == [2000.0, 2020.0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = bands[1].get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((0.19, 6.03))  # ssp585's GCM range
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert [s.get_ydata().tolist() for s in stars] == [[7.3, 7.0], [5.2, 0.45]]


def test_probability_panels_share_a_percent_colour_bar_and_hatch_outside(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path)
    paths = {
        "inside": _write_future(lay.future_map("a", "2041-2060"), 0.0, None),
        "outside": _write_future(lay.future_map("b", "2041-2060"), 0.0, 10),
    }
    fig, hatched = probability_panels(paths, ncols=2, max_pixels=60, coastlines="none")
    assert hatched == 1
    panels = [a for a in fig.axes if a.images]
    assert [a.get_title() for a in panels] == ["inside", "outside"]
    hatches = [[c for c in a.collections if isinstance(c, ContourSet)] for a in panels]
    assert [len(h) for h in hatches] == [0, 1]
    (cs,) = hatches[1]
    west = min(p.vertices[:, 0].min() for p in cs.get_paths() if len(p.vertices))
    assert west == pytest.approx(70.0, abs=0.3)  # columns ≥ 10 of 60–80 °E: from 70 °E
    bars = [im.colorbar for a in panels for im in a.images if im.colorbar is not None]
    assert len(bars) == 1 and "(%)" in bars[0].ax.get_xlabel()
    assert bars[0].mappable.get_clim() == (0.0, 100.0)


def test_scenario_colours_are_ar6_then_a_fixed_fallback() -> None:
    assert scenario_colors(["SSP5-8.5", "ssp245"]) == {"SSP5-8.5": "#951b1e", "ssp245": "#f79420"}
    first = scenario_colors(["warm", "ssp126", "cold"])
    assert first == scenario_colors(["warm", "ssp126", "cold"])
    assert len(set(first.values())) == 3 and first["ssp126"] == "#173c66"
