"""The report's sections on small hand-made inputs with known text: sites, CV, agreement, card."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from permamap.layout import RunLayout
from permamap.report import headline_values
from permamap.report.headline import section_headline, sites_sentence
from permamap.report.markup import km2, p_value, sig
from permamap.report.page import Page, pair_order
from permamap.report.provenance import section_cv, section_model_card, section_sites
from permamap.report.results import section_change, section_plausibility
from tests.report.conftest import PLAUSIBILITY


def _page(run: Path, summary: dict | None = None) -> Page:
    lay = RunLayout(run)
    if summary is not None:
        lay.summary.write_text(json.dumps(summary))
    return Page(lay, "none", 60)


SCORES = {m: {"mean": 0.9, "sd": 0.01} for m in ("accuracy", "kappa", "roc_auc")}
CV = {
    "model": "random_forest",
    "features": ["maat", "snow_days"],
    "random": SCORES,
    "spatial": {m: {"mean": 0.8, "sd": 0.02} for m in SCORES},
    "best_single_factor": {
        "model": "logistic_regression",
        "factor": "maat",
        "random": {m: {"mean": 0.85, "sd": 0.01} for m in SCORES},
        "spatial": {m: {"mean": 0.7125, "sd": 0.03} for m in SCORES},
    },
}


# ------------------------------------------------------------------------------- sites
def test_sites_sentence_names_points_and_rows() -> None:
    new = {"points_kept": 1233, "points_dropped": 21, "site_epoch_rows": 1747}
    assert sites_sentence(new) == (
        "1,233 points (1,747 site-epoch rows) kept; 21 points dropped by QC"
    )
    # an older summary: "kept" counted site-epoch rows, "dropped" points
    assert sites_sentence({"kept": 1747, "dropped": 21}) == (
        "1,747 site-epoch rows kept; 21 points dropped by QC"
    )


def test_sites_card_and_section_use_the_sentence(tmp_path: Path) -> None:
    sites = {"points_kept": 57, "points_dropped": 2, "site_epoch_rows": 60}
    page = _page(tmp_path, {"sites": sites})
    card = section_headline(page)
    assert "57 points (60 site-epoch rows) kept; 2 points dropped by QC." in card
    assert '<th>points kept</th><td class="num" id="hl-sites-points-kept"' in card
    assert "57 points (60 site-epoch rows) kept; 2 points dropped by QC." in section_sites(page)
    old = section_headline(_page(tmp_path, {"sites": {"kept": 60, "dropped": 2}}))
    assert "<th>site-epoch rows kept</th>" in old and "<th>points dropped by QC</th>" in old


# ---------------------------------------------------------------------------------- CV
def test_best_single_factor_stands_beside_the_chosen_model(tmp_path: Path) -> None:
    summary = {"cv": CV}
    values = headline_values(summary)
    assert values["cv.best_single_factor.spatial.kappa.mean"] == 0.7125
    assert values["cv.spatial.kappa.mean"] == 0.8
    html = section_headline(_page(tmp_path, summary))
    assert "chosen: random_forest (2 factors)" in html
    assert "best single factor: logistic_regression (maat)" in html
    row = re.search(r"<tr><th>kappa</th>(.*?)</tr>", html).group(1)
    assert re.findall(r">([^<]*)</td>", row) == [
        "0.900 ± 0.010",
        "0.800 ± 0.020",
        "0.850 ± 0.010",
        "0.713 ± 0.030",
    ]
    without = dict(CV, best_single_factor=None)  # the pipeline writes null when it has none
    html = section_headline(_page(tmp_path, {"cv": without}))
    assert "best single factor" not in html
    assert "cv.best_single_factor" not in str(headline_values({"cv": without}))


def test_cv_section_repeats_the_comparison_without_summary_keys(run_folder) -> None:
    run, _ = run_folder
    html = section_cv(Page(RunLayout(run), "none", 60))
    assert 'id="cv-chosen"' in html and "best single factor: logistic (maat)" in html
    assert "data-summary-key" not in html  # only the headline carries them, once each
    models = re.findall(r"<tr><th>([^<]+)</th><td", html.split('id="cv-candidates"')[1])
    assert models[:2] == ["random_forest", "logistic"]  # best spatial accuracy first


# ----------------------------------------------------------------------- agreement
def test_truth_agreement_is_labelled_area_weighted(tmp_path: Path) -> None:
    html = section_headline(_page(tmp_path, {"truth_agreement": {"2020": 0.97461}}))
    assert "<th>agreement (area-weighted)</th>" in html
    assert 'data-summary-key="truth_agreement.2020" data-value="0.97461">0.975</td>' in html


def test_reference_table_shows_one_agreement_and_fits(run_folder) -> None:
    run, summary = run_folder
    html = section_change(Page(RunLayout(run), "none", 60))
    ref = html.split('<table id="reference">')[1].split("</table>")[0]
    # the table has one column per epoch compared, not one per quantity
    assert ref.count("<tr>") == 1 + 11
    assert re.findall(r"<th>([^<]*agreement[^<]*)</th>", ref) == ["agreement (area-weighted)"]
    assert "cell_count" not in ref and "an_extra_very_long" not in ref
    agree = summary["change"]["reference"]["by_epoch"]["2020"]["overall_agreement"]
    assert f"<th>agreement (area-weighted)</th><td>{sig(agree, 3)}</td>" in ref
    extent = summary["change"]["reference"]["by_epoch"]["2020"]["map_extent_km2"]
    assert f"<td>{km2(extent)}</td>" in ref
    assert "is not this table" not in html  # the headline's figure is the same number


def test_a_cell_count_headline_agreement_is_flagged(run_folder, tmp_path: Path) -> None:
    run, summary = run_folder
    lay = RunLayout(run)
    summary = dict(summary, truth_agreement={"2020": 0.5})
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / lay.relative(lay.summary)).write_text(json.dumps(summary))
    html = section_change(Page(RunLayout(copy), "none", 60))
    assert "The headline agreement with the truth for 2020 (0.500) is not this table" in html


# --------------------------------------------------------------------------- order
def test_pairs_consecutive_first_whole_period_last() -> None:
    pairs = [(2000, 2020), (2015, 2020), (2000, 2005), (2010, 2015), (2005, 2010)]
    assert pair_order(pairs) == [
        (2000, 2005),
        (2005, 2010),
        (2010, 2015),
        (2015, 2020),
        (2000, 2020),
    ]
    # no epoch between 2000 and 2010 among these pairs: 2000 → 2010 is consecutive
    assert pair_order([(2000, 2020), (2010, 2020), (2000, 2010)]) == [
        (2000, 2010),
        (2010, 2020),
        (2000, 2020),
    ]


def test_change_section_order_and_aggraded(run_folder) -> None:
    run, _ = run_folder
    html = section_change(Page(RunLayout(run), "none", 60))
    heads = re.findall(r"<h3>(\d+) → (\d+)</h3>", html)
    assert heads == [("2000", "2010"), ("2010", "2020"), ("2000", "2020")]
    pairs = re.findall(r"<td>(\d+ → \d+)</td>", html.split('id="change-pairs"')[1])
    assert pairs == ["2000 → 2010", "2010 → 2020", "2000 → 2020"]
    assert "aggraded (0 → 1)" in html and "aggregat" not in html


# ---------------------------------------------------------------------- plausibility
def test_plausibility_table(tmp_path: Path) -> None:
    assert section_plausibility(_page(tmp_path, {"epochs": [2000]})) is None
    rows = PLAUSIBILITY
    html = section_plausibility(_page(tmp_path, {"plausibility": rows}))
    assert html is not None and "1 of 2 quantities fall inside the published range" in html
    assert (
        '<td class="num">12.56 M km²</td><td class="num">8.50 – 11.00 M km²</td>'
        '<td class="bad">no</td><td>Obu et al. 2019</td>'
    ) in html
    assert "<td>all</td>" in html
    assert '<td class="num">−4.12 % per decade</td><td class="num">−8 to −1 % per decade' in html


# ------------------------------------------------------------------------ model card
CARD = {
    "model": "logistic_regression",
    "features": ["maat", "tdd", "snow_days"],
    "params": {"clf__C": 10.0, "clf__penalty": "deprecated", "clf__tol": 0.000123456},
    "tuned_params": {"clf__C": 10.0},
    "training_hash": "sha256:df37cd6725d52d68",
    "class_counts": {"0": 1014, "1": 733},
    "cv": {
        "spatial": {
            "pr_auc": {"mean": 0.9692727, "sd": 0.02599, "ci95": [0.93779, 1.0007505]},
            "kappa": {"mean": 0.87903, "sd": 0.0631, "ci95": [-1.2, 0.95480]},
        }
    },
    "cv_protocol": {"spatial": {"method": "knndm", "ks_pvalue": 8.09e-144, "W": [76.54193]}},
    "versions": {"permamap": "0.1.0", "scikit-learn": "1.9.1"},
    "brand_new_key": {"x": 3.14159265},
}


@pytest.fixture
def card_html(tmp_path: Path) -> str:
    lay = RunLayout(tmp_path)
    lay.model_card.parent.mkdir(parents=True)
    lay.model_card.write_text(json.dumps(CARD))
    return section_model_card(Page(lay, "none", 60))


def test_model_card_is_readable_tables(card_html: str) -> None:
    html = card_html
    assert "1. <code>maat</code>, 2. <code>tdd</code>, 3. <code>snow_days</code>" in html
    assert "<code>sha256:df37cd6725d52d68</code>" in html
    assert "not permafrost: 1014; permafrost: 733" in html
    # intervals clipped to what the metric can take
    assert "0.969 ± 0.026 [0.938, 1.000]" in html
    assert "0.879 ± 0.063 [-1.000, 0.955]" in html
    # hyper-parameters: the pipeline prefix dropped, "deprecated" left out, tuned ones marked
    params = html.split('id="model-card-params"')[1].split("</table>")[0]
    assert "<th>C</th><td>10 <i>(tuned)</i></td>" in params
    assert "<th>tol</th><td>0.0001235</td>" in params
    assert "penalty" not in params and "deprecated" not in html
    assert "<th>scikit-learn</th><td><code>1.9.1</code></td>" in html
    assert "3.142" in html and "3.14159" not in html  # an unknown key, rounded too


def test_model_card_names_the_hold_out_choice_the_final_tuning_replaced(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path)
    lay.model_card.parent.mkdir(parents=True)
    lay.model_card.write_text(json.dumps({**CARD, "holdout_params": {"clf__C": 0.1}}))
    html = section_model_card(Page(lay, "none", 60))
    params = html.split('id="model-card-params"')[1].split("</table>")[0]
    assert (
        "<th>C</th><td>10 <i>(tuned on all sites; the tuning hold-out chose 0.1)</i></td>" in params
    )
    assert "Other entries" not in html or "holdout_params" not in html


def test_model_card_explains_its_test_in_one_line(card_html: str) -> None:
    tests = card_html.split('id="model-card-tests"')[1].split("</dl>")[0]
    assert tests.count("<dd>") == 1
    assert "Random vs spatial CV: are the sites clustered?" in tests
    assert "<dd>p &lt; 0.001: the sites are clustered, so random CV would overstate" in tests
    assert "8.09" not in card_html and "0.0000" not in card_html
    assert "76.54" in card_html and "76.541" not in card_html


def test_number_formats() -> None:
    assert p_value(0.0) == "p < 0.001" and p_value(0.04) == "p = 0.040"
    assert [sig(v) for v in (0.069, 1.0007505, 123456.0, 20000, -0.00001234)] == [
        "0.069",
        "1.001",
        "123,500",
        "20,000",
        "-1.234×10⁻⁵",
    ]
    assert km2(999_999.6) == "1,000,000 km²" and km2(1_000_000.0) == "1.00 M km²"


def test_model_card_says_which_probabilities_the_maps_carry(tmp_path: Path) -> None:
    lay = RunLayout(tmp_path)
    lay.model_card.parent.mkdir(parents=True)
    scores = {"none": {"log_loss": 0.19913, "brier": 0.062877, "ece": 0.0300599}}
    for method, said in (
        ("none", "the model's own probabilities"),
        ("isotonic", "isotonic-calibrated"),
    ):
        cal = {"method": method, "criterion": "log-loss", "cross_fitted": scores,
               "table_p": [0.0, 1.0], "table_calibrated": [0.0, 1.0]}  # fmt: skip
        lay.model_card.write_text(json.dumps({**CARD, "calibration": cal}))
        html = section_model_card(Page(lay, "none", 60))
        assert "<h3>Probability calibration</h3>" in html and said in html
        assert '<td>none</td><td class="num">0.1991</td>' in html
        assert "table_calibrated" not in html  # the lookup table stays in the JSON


def test_candidates_table_sorts_on_the_choice_metric() -> None:
    import pandas as pd

    from permamap.report.provenance import _candidates_table

    rows = [
        (model, scheme, metric, value)
        for model, acc, brier in (("lr", 0.90, 0.05), ("rf", 0.92, 0.07), ("knn", 0.80, 0.12))
        for scheme in ("random", "spatial")
        for metric, value in (("accuracy", acc), ("brier", brier))
    ]
    summ = pd.DataFrame(rows, columns=["model", "scheme", "metric", "mean"])
    by_brier = _candidates_table(summ, "brier")
    assert re.findall(r"<tr><th>(\w+)</th><td", by_brier) == ["lr", "rf", "knn"]  # lowest first
    assert "sorted by spatial brier (lower is better), the metric the model choice uses" in by_brier
    assert by_brier.index('colspan="2">brier') < by_brier.index('colspan="2">accuracy')
    by_accuracy = _candidates_table(summ, "accuracy")
    assert re.findall(r"<tr><th>(\w+)</th><td", by_accuracy) == ["rf", "lr", "knn"]
