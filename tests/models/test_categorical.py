"""Categorical factors (class codes): encoding per family, the AOA's "same class or not", the
artefact, and the typed ``[models]`` table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from permamap.aoa import AOAReference, fit_aoa
from permamap.cv import Splits
from permamap.errors import ConfigError, DataError, InputFileError
from permamap.inference import compile_model
from permamap.modelio import load_artefact, save_model
from permamap.models import (
    CODES,
    CORE_CANDIDATES,
    EXTRA_CANDIDATES,
    NATIVE,
    ONE_HOT,
    make_candidate,
)
from permamap.predict.block import predict_block, probability_percent
from permamap.selection import ModelSettings, model_stage, prepare_data
from permamap.selection.evaluation import evaluate_subset

from .conftest import make_table

SOIL = [2.0, 5.0, 7.0, 11.0]


def soil_table(n_sites: int = 160, seed: int = 0) -> pd.DataFrame:
    """``f0, f1, f2`` continuous, ``soil`` class codes; soil class 7 is always permafrost."""
    table = make_table(n_sites=n_sites, n_features=3, seed=seed)
    rng = np.random.default_rng(seed + 10)
    table["soil"] = rng.choice(SOIL, len(table))
    table.loc[table["soil"] == 7.0, "label"] = 1
    return table


def xy(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.choice(SOIL, n), rng.normal(size=n)])
    y = ((X[:, 1] == 7.0) | (X[:, 0] > 0.8)).astype(int)
    return X, y


# --------------------------------------------------------------------------- candidates
def test_modes_per_family() -> None:
    modes = {n: make_candidate(n).categorical_mode for n in CORE_CANDIDATES}
    assert {n for n, m in modes.items() if m == ONE_HOT} == {
        "logistic_regression",
        "lda",
        "qda",
        "gaussian_nb",
        "knn",
        "svm_rbf",
        "mlp",
    }
    assert modes["hist_gradient_boosting"] == NATIVE
    assert modes["random_forest"] == modes["decision_tree"] == CODES


def test_no_categorical_keeps_todays_pipeline() -> None:
    for name in CORE_CANDIDATES + EXTRA_CANDIDATES:
        plain = make_candidate(name, random_state=0)
        again = make_candidate(name, random_state=0, categorical=())
        assert repr(again.estimator) == repr(plain.estimator)
        # dropping the categorical columns of a subset gives the plain pipeline back
        back = make_candidate(name, random_state=0, categorical=[1]).select([0, 2])
        assert back.categorical == () and repr(back.estimator) == repr(plain.estimator)


def test_linear_model_sees_indicators_and_unseen_class_is_all_zero() -> None:
    X, y = xy()
    est = make_candidate("logistic_regression", grid="none", categorical=[1]).build().fit(X, y)
    clf = est.named_steps["clf"]
    assert clf.coef_.shape == (1, len(SOIL) + 2)  # 4 indicators + 2 scaled continuous
    enc = est.named_steps["encode"]
    row = np.array([[0.0, 7.0, 0.0], [0.0, 99.0, 0.0]])
    # class 7 switches on its own indicator; the unseen class 99 none of them
    np.testing.assert_array_equal(enc.transform(row)[:, :4], [[0, 0, 1, 0], [0, 0, 0, 0]])
    # the indicator of class 7 carries the rule: its coefficient is the largest
    assert int(np.argmax(clf.coef_[0][:4])) == SOIL.index(7.0)


@pytest.mark.parametrize("name", CORE_CANDIDATES + EXTRA_CANDIDATES)
def test_every_candidate_fits_with_a_categorical_column(name: str) -> None:
    X, y = xy()
    cand = make_candidate(name, grid="small", random_state=0, categorical=[1])
    est = cand.build(cand.grid_points()[0]).fit(X, y)
    new = X[:20].copy()
    new[:5, 1] = 99.0  # a class never seen in training
    proba = est.predict_proba(new)
    assert proba.shape == (20, 2) and np.isfinite(proba).all()


def test_hist_gradient_boosting_splits_on_classes() -> None:
    X, y = xy()
    est = make_candidate("hist_gradient_boosting", grid="none", categorical=[1]).build()
    est.set_params(clf__max_iter=30).fit(X, y)
    assert est.named_steps["clf"].is_categorical_.tolist() == [True, False, False]
    assert (est.predict(X) == y).mean() > 0.95


@pytest.mark.parametrize("name", ["hist_gradient_boosting", "svm_rbf", "random_forest"])
def test_encoded_pipelines_save_and_load_as_trusted_artefacts(name: str, tmp_path) -> None:
    from permamap.modelio import FeatureGuard

    X, y = xy()
    est = make_candidate(name, grid="none", random_state=0, categorical=[1]).build()
    if name == "hist_gradient_boosting":
        est.set_params(clf__max_iter=10)
    model = FeatureGuard(est, features=["a", "soil", "b"]).fit(X, y)
    card = {"features": ["a", "soil", "b"], "categorical": {"soil": [2, 5, 7, 11]}}
    save_model(model, card, tmp_path / "model.skops", aoa=fit_aoa(X, categorical=[1]))
    art = load_artefact(tmp_path / "model.skops")
    np.testing.assert_array_equal(art.model.predict_proba(X), model.predict_proba(X))


def test_a_partial_of_an_untrusted_function_is_refused(tmp_path) -> None:
    import functools
    import os

    import skops.io as sio

    (tmp_path / "model_card.json").write_text('{"features": ["a"]}')
    sio.dump({"estimator": functools.partial(os.getcwd), "aoa": None}, tmp_path / "model.skops")
    with pytest.raises(InputFileError, match="does not trust"):
        load_artefact(tmp_path / "model.skops")


def test_encoding_follows_the_feature_subset() -> None:
    X, y = xy()
    cand = make_candidate("knn", grid="none", categorical=[1])
    assert cand.select([2, 1, 0]).categorical == (1,)
    assert cand.select([1]).categorical == (0,)
    splits = Splits.random(y, n_folds=3, n_repeats=1, random_state=0)
    got = evaluate_subset(cand, {}, X, y, [1, 0], splits, "accuracy", 1)
    manual = make_candidate("knn", grid="none", categorical=[0])
    want = evaluate_subset(manual, {}, X[:, [1, 0]], y, [0, 1], splits, "accuracy", 1)
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- AOA
def test_aoa_categorical_known_answer() -> None:
    # continuous x = 0, 1, 2 (mean 1, sd 1); classes 5, 5, 7; weights 2 (x) and 3 (class):
    # d² = 4 Δx² + 9 [class differs]
    X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 7.0]])
    ref = fit_aoa(X, weights=[2.0, 3.0], categorical=[1])
    d01, d02, d12 = 2.0, 5.0, math.sqrt(13.0)
    dbar = ((d01 + d02) / 2 + (d01 + d12) / 2 + (d02 + d12) / 2) / 3
    assert ref.mean_distance == pytest.approx(dbar, rel=1e-12)
    np.testing.assert_allclose(ref.train_di, np.array([d01, d01, d12]) / dbar, rtol=1e-12)
    assert ref.categorical == (1,) and ref.classes[0].tolist() == [5.0, 7.0]
    new = np.array(
        [
            [2.0, 5.0],  # nearest: point 1 (Δx 1, same class) → 2
            [3.0, 7.0],  # nearest: point 2 (Δx 1, same class) → 2
            [0.0, 9.0],  # unseen class: point 0 (Δx 0, differs) → 3
            [1.0, 7.0],  # point 1 (Δx 0, differs) → 3; point 2 (Δx 1, same) → 2
        ]
    )
    np.testing.assert_allclose(ref.dissimilarity(new), np.array([2.0, 2.0, 3.0, 2.0]) / dbar)
    # a class code is not a magnitude: class 5 is no nearer to class 7 than class 1000 is
    np.testing.assert_array_equal(
        ref.dissimilarity(np.array([[1.0, 6.0]])), ref.dissimilarity(np.array([[1.0, 1000.0]]))
    )


def test_aoa_categorical_round_trip_and_old_dicts() -> None:
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(size=60), rng.choice(SOIL, 60), rng.normal(size=60)])
    ref = fit_aoa(X, weights=[0.3, 0.5, 1.2], folds=rng.integers(0, 3, 60), categorical=[1])
    d = ref.to_dict()
    assert d["categorical"] == [1] and d["classes"][0].tolist() == SOIL
    again = AOAReference.from_dict(d)
    new = np.column_stack(
        [rng.normal(size=300), rng.choice([*SOIL, 3.0], 300), rng.normal(size=300)]
    )
    np.testing.assert_array_equal(again.dissimilarity(new), ref.dissimilarity(new))
    np.testing.assert_array_equal(again.inside(new), ref.inside(new))
    # a reference written before categorical factors existed: every column continuous
    plain = fit_aoa(X).to_dict()
    old = {k: v for k, v in plain.items() if k not in ("categorical", "classes")}
    assert AOAReference.from_dict(old).categorical == ()
    with pytest.raises(DataError, match="categorical columns"):
        AOAReference.from_dict({**d, "classes": []})
    with pytest.raises(DataError, match="do not fit together"):
        AOAReference.from_dict({**d, "classes": [np.array([2.0, 5.0])]})


def test_aoa_categorical_needs_no_variance_and_checks_indices() -> None:
    X = np.array([[0.0, 4.0], [1.0, 4.0], [2.0, 4.0]])
    assert np.isfinite(fit_aoa(X, categorical=[1]).train_di).all()
    with pytest.raises(DataError, match="distinct column indices"):
        fit_aoa(X, categorical=[2])


# --------------------------------------------------------------------------- the stage
def stage_settings(**kw) -> ModelSettings:
    base = dict(
        candidates=("logistic_regression",),
        grid="none",
        n_repeats=1,
        n_folds=3,
        knndm_nk_len=5,
        tuning="none",
        importance_repeats=2,
        forward_pool=2,
        forward_max_features=2,
        cost_rows=1000,
        costs={"logistic_regression": 0.05, "random_forest": 1.0},
    )
    base.update(kw)
    return ModelSettings.from_dict(base)


@pytest.fixture(scope="module")
def cat_stage():
    rng = np.random.default_rng(5)
    pred = np.column_stack([rng.uniform(25, 180, 200), rng.uniform(25, 84, 200)])
    table = soil_table()
    features = ["f1", "soil", "f0", "f2"]
    result = model_stage(
        table,
        features,
        stage_settings(),
        n_jobs=1,
        random_state=0,
        prediction_lonlat=pred,
        categorical=["soil"],
    )
    return table, result


def test_stage_records_categorical_factors(cat_stage, tmp_path) -> None:
    table, result = cat_stage
    assert {"f0", "soil"} <= set(result.features)
    card = result.card
    assert card["categorical"] == {"soil": [2, 5, 7, 11]}
    assert card["categorical_encoding"] == ONE_HOT
    # permutation importance stays per original factor
    ranked = [r["feature"] for r in result.selection["importance"]]
    assert sorted(ranked) == ["f0", "f1", "f2", "soil"]
    # the AOA treats the chosen soil column as categorical, wherever selection put it
    assert result.aoa.categorical == (result.features.index("soil"),)
    assert result.aoa.classes[0].tolist() == SOIL
    # the artefact round-trips the categorical AOA and the card
    save_model(result.model, card, tmp_path / "model.skops", aoa=result.aoa)
    art = load_artefact(tmp_path / "model.skops")
    assert art.card["categorical"] == card["categorical"]
    assert art.aoa is not None and art.aoa.categorical == result.aoa.categorical
    X = table[result.features].to_numpy(np.float32)
    np.testing.assert_array_equal(art.aoa.inside(X), result.aoa.inside(X))
    np.testing.assert_array_equal(art.model.predict_proba(X), result.model.predict_proba(X))


def test_map_block_predicts_like_the_pipeline(cat_stage) -> None:
    table, result = cat_stage
    X = table[result.features].to_numpy(np.float32)[:60]
    X[:3, result.features.index("soil")] = 99.0  # a class the sites never had
    block = np.ascontiguousarray(X.T.reshape(len(result.features), 6, 10))
    block[0, 0, 0] = np.nan  # nodata cell
    predictor = compile_model(result.model, len(result.features))
    out = predict_block(predictor, block, aoa=result.aoa)
    proba = result.model.predict_proba(X.astype(np.float64))[:, 1]
    want = probability_percent(proba).reshape(6, 10).astype(float)
    got = out[1].astype(float)
    assert out[1, 0, 0] == 255
    np.testing.assert_array_equal(got.ravel()[1:], want.ravel()[1:])
    # the aoa band is DI <= threshold on the same raw rows (unseen classes included)
    aoa = result.aoa.dissimilarity(X.astype(np.float64)) <= result.aoa.threshold
    np.testing.assert_array_equal(out[3].ravel()[1:], aoa[1:].astype(np.uint8))


def test_tree_codes_block_predicts_like_the_pipeline() -> None:
    X, y = xy()
    model = make_candidate("random_forest", grid="none", random_state=0, categorical=[1]).build()
    model.set_params(clf__n_estimators=20).fit(X, y)
    block = np.ascontiguousarray(X.T.astype(np.float32).reshape(3, 10, 20))
    out = predict_block(compile_model(model, 3), block)
    want = np.rint(model.predict_proba(X.astype(np.float32).astype(np.float64))[:, 1] * 100)
    np.testing.assert_array_equal(out[1].ravel(), want)


def test_no_categorical_argument_changes_nothing() -> None:
    table = soil_table(seed=1)
    s = stage_settings()
    a = prepare_data(table, ["f0", "soil"], s, random_state=0)
    b = prepare_data(table, ["f0", "soil"], s, random_state=0, categorical=())
    assert a.categorical == b.categorical == () and np.array_equal(a.X_all, b.X_all)


@pytest.mark.parametrize(
    ("change", "categorical", "error", "match"),
    [
        (
            None,
            ["sol"],
            ConfigError,
            r"`sol` is not among the model features .*did you mean `soil`",
        ),
        ("fraction", ["soil"], DataError, "non-integer values"),
        ("many", ["soil"], DataError, "at most 255 classes"),
    ],
)
def test_bad_categorical_factors(change, categorical, error, match) -> None:
    table = soil_table(n_sites=300)
    if change == "fraction":
        table.loc[0, "soil"] = 2.5
    elif change == "many":
        table["soil"] = np.arange(len(table), dtype=float)
    with pytest.raises(error, match=match):
        prepare_data(table, ["f0", "soil"], stage_settings(), categorical=categorical)


def test_card_and_aoa_must_agree(cat_stage, tmp_path) -> None:
    _, result = cat_stage
    card = {**result.card, "categorical": {"soil": [2, 5, 7]}}
    with pytest.raises(DataError, match="classes"):
        save_model(result.model, card, tmp_path / "model.skops", aoa=result.aoa)
    card = {**result.card, "categorical": {}}
    with pytest.raises(DataError, match="categorical"):
        save_model(result.model, card, tmp_path / "model.skops", aoa=result.aoa)
    # a card from before categorical factors (no entry) is not checked
    old = {k: v for k, v in result.card.items() if k != "categorical"}
    save_model(result.model, old, tmp_path / "model.skops", aoa=result.aoa)
    assert load_artefact(tmp_path / "model.skops").aoa is not None
    # a card edited after saving no longer matches its artefact
    save_model(result.model, result.card, tmp_path / "model.skops", aoa=result.aoa)
    text = (tmp_path / "model_card.json").read_text().replace('"soil": [', '"soil": [3, ')
    (tmp_path / "model_card.json").write_text(text)
    with pytest.raises(InputFileError, match="do not belong together"):
        load_artefact(tmp_path / "model.skops")


# --------------------------------------------------------------------------- [models] table
@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"n_repeat": 3}, r"\[models\] has unknown key `n_repeat` \(did you mean `n_repeats`\?\)"),
        (
            {"candidates": ["random_forst"]},
            r"unknown model `random_forst` \(did you mean `random_forest`\?\); choose from",
        ),
        (
            {"candidates": "random_forest"},
            r'candidates = "random_forest" must be a list .*e\.g\. candidates = \[',
        ),
        (
            {"n_folds": "5"},
            r'\[models\] n_folds = "5" must be a whole number, at least 2; e\.g\. n_folds = 5',
        ),
        ({"n_folds": 2.5}, r"\[models\] n_folds = 2\.5 must be a whole number"),
        (
            {"tuning": "nestd"},
            r'tuning = "nestd" is not one of .*did you mean `nested`.*e\.g\. tuning = "holdout"',
        ),
        (
            {"tuning_fraction": "0.2"},
            r'tuning_fraction = "0\.2" must be a number in \[0\.05, 0\.5\]; e\.g\.',
        ),
        (
            {"prediction_bounds": [0, 0, 10]},
            r"prediction_bounds = \[0, 0, 10\] must be \[west, south, east, north\]",
        ),
        (
            {"size_variants": [50, "a"]},
            r"size_variants = \[50, \"a\"\] must be a list of positive whole numbers",
        ),
        (
            {"costs": {"random_forst": 1.0}},
            r"costs has the unknown model `random_forst` \(did you mean `random_forest`\?\)",
        ),
        ({"block_size_km": -5}, r"block_size_km = -5 must be a positive number of km"),
        (
            {"profile": "publshed"},
            r'profile = "publshed" is not a profile \(did you mean `published`\?\)',
        ),
        ({"profle": "demo"}, r"unknown key `profle` \(did you mean `profile`\?\)"),
        ({"use_gpu": True}, r"\[models\] has unknown key `use_gpu`; allowed keys"),
    ],
)
def test_bad_models_tables_raise_one_line_with_the_fix(table, match) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        ModelSettings.from_config(table)
    message = str(info.value)
    assert "\n" not in message
    assert "e.g." in message or "did you mean" in message or "allowed keys" in message


def test_from_config_profiles_and_bounds() -> None:
    demo = ModelSettings.from_config({})
    assert demo == ModelSettings.demo()
    pub = ModelSettings.from_config({"profile": "published", "n_repeats": 10})
    assert pub.grid == "full" and pub.n_repeats == 10 and pub.n_folds == 5
    s = ModelSettings.from_config({}, default_bounds=[0, 40, 30, 70])
    assert s.prediction_bounds == (0.0, 40.0, 30.0, 70.0)
    s = ModelSettings.from_config(
        {"prediction_bounds": [1, 2, 3, 4]}, default_bounds=[0, 40, 30, 70]
    )
    assert s.prediction_bounds == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ConfigError, match=r"^run\.toml \[models\] n_folds = 1 "):
        ModelSettings.from_config({"n_folds": 1}, where="run.toml [models]")
