"""The report's "How sure are we?" section on small hand-made run folders with known content."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection, PolyCollection

from permamap.fileio import open_tiled
from permamap.grid import Grid
from permamap.layout import RunLayout
from permamap.report import write_report
from permamap.report.figures import read_raster_view
from permamap.report.page import Page
from permamap.report.uncertainty import km2_range, section_uncertainty
from permamap.report.uncertainty_figures import (
    area_interval_figure,
    reliability_figure,
    spread_figure,
)
from tests.report.conftest import ERROR_PROFILE, RELIABILITY_AFTER, RELIABILITY_BEFORE
from tests.report.html_parts import images, part_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID = Grid.from_bounds((60, 55, 80, 65), res=1.0)  # 10 rows × 20 columns
ENSEMBLE_TAG = "ensemble_sd: 100 x sd of calibrated member probabilities, B=20 refits"

CALIBRATION = {
    "method": "sigmoid",
    "cross_fitted": {
        "none": {"log_loss": 0.31, "brier": 0.0812345, "ece": 0.0432109},
        "sigmoid": {"log_loss": 0.25, "brier": 0.0698765, "ece": 0.0123456},
        "isotonic": {"log_loss": 0.27, "brier": 0.0701, "ece": 0.015},
    },
    "reliability_before": RELIABILITY_BEFORE,
    "reliability_after": RELIABILITY_AFTER,
    "n_rows": 1508,
}

# 2000 → 2010 exceeds its interval (which excludes 0); 2010 → 2020 does not (includes 0)
PAIRS = {
    "2000-2010": {
        "net_change_km2": -250_000.0,
        "net_change_km2_ci95": [-400_000.0, -100_000.0],
        "exceeds_interval": True,
        "degraded_km2_ci95": [150_000.0, 420_000.0],
        "aggraded_km2_ci95": [0.0, 20_000.0],
    },
    "2010-2020": {
        "net_change_km2": -30_000.0,
        "net_change_km2_ci95": [-90_000.0, 30_000.0],
        "exceeds_interval": False,
        "degraded_km2_ci95": [10_000.0, 100_000.0],
        "aggraded_km2_ci95": [0.0, 25_000.0],
    },
    "2000-2020": {
        "net_change_km2": -280_000.0,
        "net_change_km2_ci95": [-450_000.0, -110_000.0],
        "exceeds_interval": True,
        "degraded_km2_ci95": [160_000.0, 460_000.0],
        "aggraded_km2_ci95": [0.0, 30_000.0],
    },
}
EXTENT = {2000: 2_500_000.0, 2010: 2_250_000.0, 2020: 2_220_000.0}


def _write_map(path: Path, bands: dict[str, np.ndarray], **tags: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_tiled(path, GRID, len(bands), "uint8", 255, list(bands), tags=tags) as dst:
        dst.write(np.stack([b.astype(np.uint8) for b in bands.values()]))
    return path


def _bands(full: bool) -> dict[str, np.ndarray]:
    """Class, probability and (``full``) a spread of 0–12 pp, the AOA, an expected accuracy."""
    cols = np.arange(GRID.width)[None, :] * np.ones(GRID.shape)
    prob = np.rint(cols * 5)
    bands = {"class": (prob >= 50).astype(np.uint8), "probability": prob}
    if full:
        # bands in another order than the contract's: they are found by their description
        bands["expected_accuracy"] = 100 - cols
        bands["aoa"] = (cols < 15).astype(np.uint8)
        bands["uncertainty"] = np.rint(12 * cols / (GRID.width - 1))
    else:
        bands["uncertainty"] = np.full(GRID.shape, 255)
    return bands


def _run(
    tmp_path: Path,
    *,
    full: bool = True,
    card: dict | None = None,
    summary: dict | None = None,
    write_card: bool = True,
) -> Page:
    lay = RunLayout(tmp_path)
    tag = ENSEMBLE_TAG if full else "none: no ensemble was given"
    for e in EXTENT:
        _write_map(lay.map(e), _bands(full), uncertainty_method=tag, uncertainty_members="20")
    if write_card:
        card = card if card is not None else {"calibration": CALIBRATION}
        lay.model_card.parent.mkdir(parents=True, exist_ok=True)
        lay.model_card.write_text(json.dumps(card))
    if summary is None:
        summary = {
            "epochs": list(EXTENT),
            "area_km2": {
                str(e): {
                    "permafrost_extent_km2": v,
                    "probability_weighted_km2": 1.01 * v,
                    "permafrost_extent_km2_ci95": [0.95 * v, 1.05 * v],
                    "probability_weighted_km2_ci95": [0.96 * v, 1.06 * v],
                }
                for e, v in EXTENT.items()
            },
            "uncertainty": {"n_members": 20, "method": "normal interval", "pairs": PAIRS},
        }
    lay.summary.write_text(json.dumps(summary))
    return Page(lay, "none", 60)


# ---------------------------------------------------------------------------- reliability
def test_reliability_part_names_the_method_and_brier_before_and_after(tmp_path: Path) -> None:
    html = section_uncertainty(_run(tmp_path))
    part = part_html(html, "Are the probabilities honest?")
    assert "Chosen calibration: <b>sigmoid</b>" in part
    assert "Brier score 0.08123 → 0.06988" in part  # the card's none → sigmoid, 4 digits
    assert "expected calibration error (ECE) 0.04321 → 0.01235" in part
    assert "cross-fitted on 1508 site rows" in part
    figs = images(part)
    assert list(figs) == ["reliability-diagram"]
    assert figs["reliability-diagram"][:8] == PNG_MAGIC
    assert part.count('<p class="note">') == 1  # the two sentences of explanation


def test_reliability_diagram_draws_both_curves_with_bin_sizes() -> None:
    fig = reliability_figure(RELIABILITY_BEFORE, RELIABILITY_AFTER, method="sigmoid")
    ax = next(a for a in fig.axes if a.get_label() == "reliability")
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 2
    before, after = points
    assert before.get_offsets()[:, 0].tolist() == [r["mean_p"] for r in RELIABILITY_BEFORE]
    assert after.get_offsets()[:, 1].tolist() == [r["observed"] for r in RELIABILITY_AFTER]
    sizes = before.get_sizes()
    assert sizes.argmax() == 0 and sizes.argmin() == 3  # 755 rows largest, 38 smallest
    diagonal = ax.lines[0]
    assert diagonal.get_xydata().tolist() == [[0, 0], [1, 1]]
    counts = next(a for a in fig.axes if a.get_label() == "reliability-counts")
    heights = sorted(p.get_height() for p in counts.patches)
    assert heights == sorted(r["n"] for r in RELIABILITY_BEFORE + RELIABILITY_AFTER)


def test_without_a_calibrator_one_curve_and_one_brier(tmp_path: Path) -> None:
    fig = reliability_figure(RELIABILITY_BEFORE, RELIABILITY_AFTER, method="none")
    ax = next(a for a in fig.axes if a.get_label() == "reliability")
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 1
    card = {"calibration": CALIBRATION | {"method": "none"}}
    part = part_html(section_uncertainty(_run(tmp_path, card=card)), "Are the probabilities")
    assert "Chosen calibration: <b>none</b>" in part
    assert "the maps carry the model's own probabilities" in part
    assert "Brier score 0.08123, expected calibration error (ECE) 0.04321" in part
    assert "0.06988" not in part


# --------------------------------------------------------------------- spread and accuracy
def test_spread_map_shows_the_uncertainty_band_in_percentage_points(tmp_path: Path) -> None:
    page = _run(tmp_path)
    part = part_html(section_uncertainty(page), "How much do refitted models disagree?")
    assert "spread-2020" in images(part)
    assert "band 5 (uncertainty)" in part  # found by description, wherever it is
    assert "of the 20 ensemble members, in percentage points" in part
    view = read_raster_view(page.layout.map(2020), "uncertainty", 60)
    fig = spread_figure(view, "spread")
    (im,) = [im for a in fig.axes for im in a.images if im.colorbar is not None]
    assert im.get_clim() == (0.0, 15.0)  # largest spread 12 pp, rounded up to 5 pp
    assert "percentage points" in im.colorbar.ax.get_xlabel()


def test_expected_accuracy_beside_the_aoa_with_its_evidence(tmp_path: Path) -> None:
    card = {"calibration": CALIBRATION, "error_profile": ERROR_PROFILE}
    summary = json.loads(_run(tmp_path).layout.summary.read_text())
    summary["uncertainty_check"] = {
        "extent_in_interval": {"2000": True, "2010": True, "2020": False},
        "expected_accuracy_vs_truth": [
            {
                "low": 0.8,
                "high": 0.95,
                "mean_expected": 0.9,
                "observed_accuracy": 0.82,
                "weight": 1,
            },
            {"low": 0.95, "high": 1, "mean_expected": 0.98, "observed_accuracy": 0.97, "weight": 3},
        ],
    }
    html = section_uncertainty(_run(tmp_path, card=card, summary=summary))
    part = part_html(html, "Where is the class likely right?")
    assert list(images(part)) == [
        "expected-accuracy-2020",
        "aoa-beside-accuracy-2020",
        "expected-vs-observed",
    ]
    assert "band 3 (expected_accuracy, %)" in part and "band 4 (aoa)" in part
    assert "sigmoid(0.1 + 0.9 · logit(confidence) − 0.4 · DI)" in part
    oof = re.search(r'<table id="error-profile-bins">.*?</table>', part).group(0)
    assert '<td>60–80 %</td><td class="num">150</td><td>72.0 %</td><td>70.0 %</td>' in oof
    assert "<td>−2.0 pp</td>" in oof and "<td>+2.0 pp</td>" in oof
    assert "3 of 3 bins within ±5 percentage points." in part
    truth = re.search(r'<table id="expected-vs-truth">.*?</table>', part).group(0)
    assert (
        '<td class="num">25.0 %</td>' in truth and '<td class="num">75.0 %</td>' in truth
    )  # shares of the weight
    assert "<td>−8.0 pp</td>" in truth
    assert "1 of 2 bins within ±5 percentage points." in part
    areas = part_html(html, "Areas with 95 % intervals")
    assert "lies inside the interval in 2 of 3 epochs" in areas


# ------------------------------------------------------------------------------ intervals
def test_interval_table_marks_a_change_that_exceeds_and_one_that_does_not(
    tmp_path: Path,
) -> None:
    part = part_html(section_uncertainty(_run(tmp_path)), "Changes against their intervals")
    rows = re.findall(r'<tr data-pair="([\d-]+)" data-exceeds="(\w*)">(.*?)</tr>', part)
    assert [(p, flag) for p, flag, _ in rows] == [
        ("2000-2010", "true"),
        ("2010-2020", "false"),
        ("2000-2020", "true"),
    ]
    cells = {p: re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body) for p, _, body in rows}
    assert cells["2000-2010"][:4] == [
        "2000 → 2010",
        "−250,000 km²",
        "−400,000 to −100,000 km²",
        "yes: the interval excludes 0",
    ]
    assert cells["2010-2020"][2:4] == ["−90,000 to 30,000 km²", "no: the interval includes 0"]


def test_area_series_bands_are_the_summary_intervals(tmp_path: Path) -> None:
    html = section_uncertainty(_run(tmp_path))
    part = part_html(html, "Areas with 95 % intervals")
    assert "area-intervals" in images(part)
    assert "with its 95 % interval from 20 ensemble members (normal interval)" in part
    assert '<td class="num">2.38 to 2.62 M km²</td>' in part  # 2000: 0.95–1.05 × 2.5 M
    df = pd.DataFrame(
        {
            "epoch": [2000, 2010],
            "permafrost_extent_km2": [2.5e6, 2.25e6],
            "permafrost_extent_km2_lo": [2.0e6, 2.1e6],
            "permafrost_extent_km2_hi": [3.0e6, 2.4e6],
        }
    )
    fig = area_interval_figure(df)
    ax = next(a for a in fig.axes if a.get_label() == "area-intervals")
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == (2.0, 3.0)  # million km²
    assert ax.get_ylabel() == "permafrost area (million km²)"


def test_km2_range_keeps_one_unit_and_minus_signs() -> None:
    assert km2_range(-1_250_000, 40_000) == "−1.25 to 0.04 M km²"
    assert km2_range(-0.4, 12.6) == "0 to 13 km²"  # −0.4 rounds to 0: no minus sign


# ------------------------------------------------------------------------- absent inputs
def test_absent_inputs_each_say_so_in_one_sentence(tmp_path: Path) -> None:
    summary = {
        "epochs": list(EXTENT),
        "area_km2": {str(e): {"permafrost_extent_km2": v} for e, v in EXTENT.items()},
    }
    html = section_uncertainty(_run(tmp_path, full=False, summary=summary, write_card=False))
    assert "<img" not in html
    missing = re.findall(r'<p class="missing">Not available: (.*?)</p>', html)
    assert missing == [
        "models/model_card.json was not found, so there is no reliability diagram",
        "this run fitted no ensemble of refitted models (the map's uncertainty band is empty), "
        'so there is no spread map; set [models] bootstrap_members = "auto" and rerun',
        "<code>maps/permafrost_2020.tif</code> has no <code>expected_accuracy</code> band (no "
        "error profile was fitted; it needs the area of applicability), so there is no "
        "expected-accuracy map",
        "models/model_card.json was not found, so there is no error-profile evidence",
        "summary.json has no 95 % intervals for the areas (this run fitted no ensemble), so the "
        'areas are single figures; set [models] bootstrap_members = "auto" and rerun',
    ]
    for text in missing:  # one sentence each, and no number made up
        assert text.count(". ") == 0 and not re.search(r"\d\.\d", text)


def test_a_card_without_calibration_or_error_profile_says_so(tmp_path: Path) -> None:
    html = section_uncertainty(_run(tmp_path, card={"model": "logistic"}))
    assert (
        "models/model_card.json has no <code>calibration</code> entry (the model was trained "
        "before permamap calibrated probabilities), so there is no reliability diagram" in html
    )
    assert "has no <code>error_profile</code> entry" in html
    assert "expected-accuracy-2020" in images(html)  # the band itself is still shown


def test_an_old_map_without_a_spread_band_says_so(tmp_path: Path) -> None:
    page = _run(tmp_path)
    bands = {k: v for k, v in _bands(True).items() if k != "uncertainty"}
    _write_map(page.layout.map(2020), bands)
    part = part_html(section_uncertainty(page), "How much do refitted models disagree?")
    assert "<code>maps/permafrost_2020.tif</code> has no <code>uncertainty</code> band" in part
    _write_map(page.layout.map(2020), _bands(True), uncertainty_method="1-|2p-1| (closeness)")
    part = part_html(section_uncertainty(page), "How much do refitted models disagree?")
    assert "was made by an earlier permamap (1-|2p-1| (closeness)), not by an ensemble" in part
    assert "<img" not in part


def test_a_damaged_input_is_a_note_in_its_part_only(tmp_path: Path) -> None:
    broken = [{k: v for k, v in r.items() if k != "observed"} for r in RELIABILITY_BEFORE]
    card = {"calibration": CALIBRATION | {"reliability_before": broken}}
    html = section_uncertainty(_run(tmp_path, card=card))
    part = part_html(html, "Are the probabilities honest?")
    assert "this part could not be built" in part and "reliability_before" in part
    assert {"spread-2020", "expected-accuracy-2020", "area-intervals"} <= set(images(html))


def test_without_a_summary_the_areas_part_says_so(tmp_path: Path) -> None:
    page = _run(tmp_path)
    page.layout.summary.unlink()
    html = section_uncertainty(Page(page.layout, "none", 60))
    assert (
        "summary.json was not found in this run folder, so there are no areas with intervals"
        in html
    )
    assert "spread-2020" in images(html)  # the maps are still found without a summary


# ----------------------------------------------------------------------------- whole page
def test_the_section_follows_the_model_card_in_the_report(run_folder) -> None:
    run, _ = run_folder
    text = write_report(run, coastlines="none").read_text(encoding="utf-8")
    order = [text.index(f'<section id="{s}">') for s in ("model-card", "uncertainty", "files")]
    assert order == sorted(order)
    assert '<a href="#uncertainty">How sure are we?</a>' in text
    body = text[order[1] : order[2]]
    assert {
        "reliability-diagram",
        "spread-2020",
        "expected-accuracy-2020",
        "aoa-beside-accuracy-2020",
        "expected-vs-observed",
        "area-intervals",
    } <= set(images(body))
    assert 'class="missing"' not in body


def test_a_calibrated_error_profile_shows_its_di_penalty(tmp_path: Path) -> None:
    profile = {"kind": "calibrated", "coef": [0.0, 1.0, 0.42], "evidence": {"n_rows": 300}}
    html = section_uncertainty(_run(tmp_path, card={"model": "lr", "error_profile": profile}))
    assert "sigmoid(logit(confidence) − 0.42 · DI)" in html
    assert "300 out-of-fold site rows" not in html  # no overall accuracy recorded: none shown
