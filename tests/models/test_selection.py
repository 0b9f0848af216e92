"""Model stage: metrics, interval and one-SE rules, settings, and the stage end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    roc_auc_score,
)

from permamap.aoa import fit_aoa
from permamap.errors import ConfigError, DataError
from permamap.fileio import write_csv, write_json
from permamap.layout import RunLayout
from permamap.modelio import load_artefact, load_model, save_model
from permamap.selection import (
    METRICS,
    ModelSettings,
    ModelStageResult,
    aoa_weights,
    choose_model,
    choose_within_noise,
    compare_models,
    fold_metrics,
    make_splits,
    model_stage,
    paired_comparison,
    pareto,
    pick_one_se,
    prepare_data,
    select_features,
    summarize_scores,
    train_final,
)

from .conftest import make_table

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
COSTS = {"logistic_regression": 0.05, "decision_tree": 0.03, "random_forest": 1.0}


def small_settings(**kw) -> ModelSettings:
    base = dict(
        candidates=("logistic_regression", "decision_tree", "random_forest"),
        grid="small",
        n_repeats=2,
        n_folds=3,
        knndm_nk_len=8,
        inner_folds=2,
        importance_repeats=2,
        forward_pool=3,
        forward_max_features=2,
        size_variants=(5, 10),
        cost_rows=1000,
        costs=COSTS,
    )
    base.update(kw)
    return ModelSettings.from_dict(base)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fold_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 50)
    p = np.clip(y * 0.6 + rng.uniform(0, 0.5, 50), 0, 1)
    m = fold_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))


def test_fold_metrics_one_class_test_fold() -> None:
    m = fold_metrics([1, 1, 1], [0.9, 0.8, 0.2])
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_one_se_rule_prefers_simplest_within_paired_noise() -> None:
    # Four folds that differ a lot (0.70-1.00). The simplest option trails the best by 0.01 on
    # every fold, a difference with no spread: paired SE 0, not within noise. The second trails
    # by 0, 0.04, 0, 0.04 (mean 0.02, sd 0.0231, corrected SE sqrt((1/4 + 1/3)) * 0.0231 =
    # 0.0176): not within one SE, within two.
    best = np.array([0.70, 0.80, 0.90, 1.00])
    scores = [best - 0.01, best - np.array([0.0, 0.04, 0.0, 0.04]), best]
    assert pick_one_se(scores) == 2
    assert pick_one_se(scores, n_se=2.0) == 1
    # the old rule (SE of the best's own scores, 0.129 / 2) would have called all three equal
    assert pick_one_se([best - 0.05, best], n_se=1.0) == 1
    assert pick_one_se([best, best - 0.05]) == 0  # the simplest is the best


def test_cost_aware_choice_takes_cheapest_within_noise() -> None:
    front = pd.DataFrame(
        {
            "model": ["rf500", "rf200", "rf50", "tree"],
            "mean": [0.913, 0.914, 0.910, 0.880],
            "se": [0.006, 0.006, 0.006, 0.009],
            "cost": [25.0, 10.0, 2.5, 0.1],
        }
    )
    assert choose_within_noise(front, "accuracy", 1.0, ["cost"])["model"] == "rf50"
    assert choose_within_noise(front, "accuracy", 0.0, ["cost"])["model"] == "rf200"
    # lower is better for the Brier score
    brier = front.assign(mean=[0.05, 0.06, 0.051, 0.2])
    assert choose_within_noise(brier, "brier", 1.0, ["cost"])["model"] == "rf50"
    assert pareto(front["mean"].to_numpy(), front["cost"].to_numpy()) == [
        False,
        True,
        True,
        True,
    ]


def test_summary_interval_and_paired_comparison() -> None:
    keys = [(r, f) for r in range(2) for f in range(5)]
    a = np.linspace(0.80, 0.90, 10)
    rows = [("a", "spatial", r, f, "accuracy", v) for (r, f), v in zip(keys, a, strict=True)]
    rows += [
        ("b", "spatial", r, f, "accuracy", v - 0.05) for (r, f), v in zip(keys, a, strict=True)
    ]
    scores = pd.DataFrame(rows, columns=["model", "scheme", "repeat", "fold", "metric", "value"])
    s = summarize_scores(scores, {"spatial": 0.25}).set_index("model")
    sd = np.std(a, ddof=1)
    assert s.loc["a", "sd"] == pytest.approx(sd)
    assert s.loc["a", "se"] == pytest.approx(np.sqrt((1 / 10 + 0.25) * sd**2))
    assert s.loc["a", "ci_low"] < s.loc["a", "mean"] < s.loc["a", "ci_high"]
    (cmp,) = paired_comparison(scores, "a", "spatial", "accuracy", 0.25)
    assert cmp["diff_mean"] == pytest.approx(0.05)
    assert cmp["p_value"] < 1e-6  # identical folds: a constant difference is certain


def test_settings_validation() -> None:
    assert ModelSettings.demo().n_repeats == 3
    pub = ModelSettings.published()
    assert (pub.n_repeats, pub.n_folds, pub.grid) == (40, 5, "full")
    assert len(pub.candidates) >= 13
    with pytest.raises(ConfigError, match="allowed keys"):
        ModelSettings.from_dict({"n_repeat": 3})
    with pytest.raises(ConfigError, match="choose from"):
        ModelSettings.from_dict({"candidates": ["catboost"]})
    with pytest.raises(ConfigError, match="one of"):
        ModelSettings.from_dict({"spatial_method": "buffer"})
    with pytest.raises(ConfigError, match="at least 2"):
        ModelSettings.from_dict({"n_folds": 1})
    assert ModelSettings.from_dict({"candidates": ["lda"]}).candidates == ("lda",)


def write_like_pipeline(result: ModelStageResult, root) -> RunLayout:
    """Write a stage result the way permamap.pipeline does (the stage itself writes nothing)."""
    lay = RunLayout(root)
    write_csv(result.scores, lay.cv_scores)
    write_json(lay.selection, result.selection, allow_nan=False, newline=True)
    save_model(result.model, result.card, lay.model, lay.model_card, aoa=result.aoa)
    return lay


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    from .conftest import make_table

    rng = np.random.default_rng(5)
    pred = np.column_stack([rng.uniform(25, 180, 300), rng.uniform(25, 84, 300)])
    root = tmp_path_factory.mktemp("run")
    table = make_table()
    result = model_stage(
        table, FEATURES, small_settings(), n_jobs=1, random_state=0, prediction_lonlat=pred
    )
    assert not list(root.iterdir())  # the stage writes nothing
    out = write_like_pipeline(result, root).models_dir
    return table, out, result, pred


def test_stage_writes_contract_files(stage) -> None:
    _, out, result, _ = stage
    scores = pd.read_csv(out / "cv_scores.csv")
    assert list(scores.columns) == ["model", "scheme", "repeat", "fold", "metric", "value"]
    assert set(scores["metric"]) == set(METRICS)
    assert set(scores["scheme"]) == {"random", "spatial"}
    assert set(scores["model"]) >= {"logistic_regression", "decision_tree", "random_forest"}
    # every model × scheme × metric has one value per repeat × fold
    counts = scores.groupby(["model", "scheme", "metric"]).size()
    assert (counts == 2 * 3).all()
    sel = json.loads((out / "selection.json").read_text())
    assert {"importance", "combinations", "chosen"} <= set(sel)
    assert {"feature", "permutation_mean", "permutation_sd", "impurity"} <= set(
        sel["importance"][0]
    )
    assert {"features", "scheme", "metric", "mean", "sd"} <= set(sel["combinations"][0])
    assert sel["chosen"] == result.features
    assert {"cost_s_per_million", "pareto", "chosen"} <= set(sel["cost_front"][0])
    card = json.loads((out / "model_card.json").read_text())
    for key in ("features", "params", "training_hash", "cv", "versions", "seed", "model"):
        assert key in card
    assert set(card["cv"]) == {"random", "spatial"}
    assert {"mean", "sd", "ci95"} <= set(card["cv"]["spatial"]["accuracy"])
    assert not list(out.glob("*.tmp"))


def test_stage_result_and_saved_model_agree(stage) -> None:
    table, out, result, _ = stage
    s = result.summary
    assert s["model"] == result.card["model"] and s["features"] == result.features
    assert set(s["random"]["accuracy"]) == {"mean", "sd"}
    assert 0.5 < s["spatial"]["accuracy"]["mean"] <= 1.0
    model, card = load_model(out / "model.skops")
    assert card["features"] == result.features
    assert card == result.card
    X = table[result.features].to_numpy()
    np.testing.assert_allclose(model.predict_proba(X), result.model.predict_proba(X))
    # f0 carries the rule, so it must be chosen and ranked first
    assert "f0" in result.features
    assert result.selection["importance"][0]["feature"] == "f0"


def test_aoa_reference_is_fitted_at_training_and_saved(stage) -> None:
    table, out, result, _ = stage
    folds = result.aoa.folds
    # first-repeat spatial fold of every row; -1 for the tuning hold-out (20 % of locations)
    assert folds.shape == (len(table),) and (folds == -1).sum() > 0
    assert set(np.unique(folds[folds >= 0])) == set(range(3))
    # the same fit as the pipeline did after the stage before the AOA moved into training
    weights = aoa_weights(result.selection["importance"], result.features)
    again = fit_aoa(table[result.features].to_numpy(float), weights=weights, folds=folds)
    for key, value in again.to_dict().items():
        np.testing.assert_array_equal(result.aoa.to_dict()[key], value)
    saved = load_artefact(out / "model.skops").aoa
    assert saved is not None
    new = np.random.default_rng(1).normal(scale=2.0, size=(300, len(result.features)))
    np.testing.assert_array_equal(saved.dissimilarity(new), result.aoa.dissimilarity(new))
    np.testing.assert_array_equal(saved.inside(new), result.aoa.inside(new))


def test_steps_compose_to_the_stage(stage) -> None:
    table, _, result, pred = stage
    settings = small_settings()
    data = prepare_data(table, FEATURES, settings, random_state=0)
    splits = make_splits(data, settings, random_state=0, prediction_lonlat=pred)
    comparison = compare_models(data, splits, settings, n_jobs=1, random_state=0)
    choice = choose_model(data, splits, comparison, settings, n_jobs=1, random_state=0)
    selected = select_features(data, splits, choice, settings, n_jobs=1, random_state=0)
    final = train_final(data, splits, choice, selected, settings, n_jobs=1, random_state=0)
    stage_scores = result.scores
    pd.testing.assert_frame_equal(
        comparison.scores, stage_scores[stage_scores["model"] != "final"].reset_index(drop=True)
    )
    assert choice.name == result.card["model"] and selected.features == result.features
    assert final.card["training_hash"] == result.card["training_hash"]
    np.testing.assert_array_equal(final.aoa.train, result.aoa.train)


def test_chosen_subset_prefers_fewer_features(stage) -> None:
    _, _, result, _ = stage
    combos = pd.DataFrame(result.selection["combinations"])
    best = combos["mean"].max()
    chosen = combos[combos["features"].apply(lambda f: sorted(f) == sorted(result.features))]
    assert len(chosen)
    # nothing smaller scores as well as the best
    smaller = combos[combos["n_features"] < len(result.features)]
    assert (smaller["mean"] < best).all()


def test_same_seed_same_results(stage) -> None:
    table, out, result, pred = stage
    again = model_stage(
        table, FEATURES, small_settings(), n_jobs=1, random_state=0, prediction_lonlat=pred
    )
    assert again.scores.to_csv(index=False) == (out / "cv_scores.csv").read_text()
    assert again.features == result.features
    assert again.summary == result.summary
    assert again.card["training_hash"] == result.card["training_hash"]


def _bad(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    t = table.copy()
    if kind == "one_class":
        t["label"] = 1
    elif kind == "nan":
        t.loc[3, "f2"] = np.nan
    elif kind == "missing":
        t = t.drop(columns="f4")
    elif kind == "few":
        t = t.head(8)
    elif kind == "labels":
        t.loc[0, "label"] = 2
    return t


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("one_class", "add sites of the missing class"),
        ("nan", r"NaN.*'f2'.*drop those rows or fill"),
        ("missing", r"lacks column\(s\) \['f4'\]"),
        ("few", "add sites or"),
        ("labels", "must be 1 .permafrost. or 0"),
    ],
)
def test_bad_input_errors(kind: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        model_stage(_bad(make_table(), kind), FEATURES, small_settings(), n_jobs=1)


def test_block_scheme_and_nested_tuning() -> None:
    settings = small_settings(
        candidates=("logistic_regression", "decision_tree"),
        spatial_method="block",
        block_size_km=300.0,
        tuning="nested",
        forward_max_features=1,
    )
    result = model_stage(make_table(), FEATURES, settings, n_jobs=1)
    assert result.card["cv_protocol"]["spatial"]["block_size_km"] == 300.0
    assert result.card["cv_protocol"]["n_evaluation_rows"] == 160
    assert (result.aoa.folds >= 0).all()  # no tuning hold-out under nested tuning


def test_dask_backend_runs_the_same_code(stage) -> None:
    distributed = pytest.importorskip("distributed")
    table, out, result, pred = stage
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2) as client:
        settings = small_settings(scheduler=client.scheduler.address)
        again = model_stage(
            table, FEATURES, settings, n_jobs=2, random_state=0, prediction_lonlat=pred
        )
    assert again.scores.to_csv(index=False) == (out / "cv_scores.csv").read_text()
    assert again.features == result.features


def test_forest_size_front(stage) -> None:
    table, _, _, pred = stage
    settings = small_settings(
        candidates=("random_forest",), size_variants=(3, 10, 30), metric="accuracy"
    )
    result = model_stage(
        table, FEATURES, settings, n_jobs=1, random_state=0, prediction_lonlat=pred
    )
    front = pd.DataFrame(result.selection["size_front"])
    assert set(front["size"]) >= {3, 10, 30}
    assert front["chosen"].sum() == 1
    best = front.loc[front["mean"].idxmax()]
    chosen = front[front["chosen"]].iloc[0]
    # the cheapest size within one SE of the best
    within = front[front["mean"] >= best["mean"] - best["se"]]
    assert chosen["cost_s_per_million"] == within["cost_s_per_million"].min()
    assert result.card["params"]["clf__n_estimators"] == chosen["size"]
