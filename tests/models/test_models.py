"""Candidate registry: 13 + 1 unfitted pipelines with valid grids, simplest grid point first."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from permamap.errors import ConfigError
from permamap.models import (
    CORE_CANDIDATES,
    EXTRA_CANDIDATES,
    available_candidates,
    make_candidate,
)


def test_thirteen_core_candidates() -> None:
    assert len(CORE_CANDIDATES) == 13
    assert set(CORE_CANDIDATES) <= set(available_candidates())


@pytest.mark.parametrize("name", CORE_CANDIDATES + EXTRA_CANDIDATES)
def test_candidate_is_unfitted_pipeline_with_valid_grid(name: str) -> None:
    cand = make_candidate(name, grid="full", random_state=0)
    assert isinstance(cand.estimator, Pipeline) and is_classifier(cand.estimator)
    assert cand.estimator.steps[-1][0] == "clf"
    with pytest.raises(NotFittedError):
        cand.estimator.predict(np.zeros((1, 3)))
    points = cand.grid_points()
    assert len(points) >= 2
    for p in points:  # every key is a real parameter
        cand.build(p)
    cx = [cand.complexity(p) for p in points]
    assert cx == sorted(cx)
    if cand.size_param:
        assert cand.size_param in cand.estimator.get_params()


@pytest.mark.parametrize("name", CORE_CANDIDATES + EXTRA_CANDIDATES)
def test_candidate_fits_and_gives_probabilities(name: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    est = make_candidate(name, grid="none", random_state=0).build()
    proba = est.fit(X, y).predict_proba(X)
    assert proba.shape == (80, 2)
    assert np.allclose(proba.sum(axis=1), 1)


def test_scaling_only_where_needed() -> None:
    scaled = {n for n in CORE_CANDIDATES if "scale" in make_candidate(n).estimator.named_steps}
    assert scaled == {"logistic_regression", "qda", "knn", "svm_rbf", "mlp"}


def test_forest_grid_includes_size_and_depth() -> None:
    grid = make_candidate("random_forest", grid="full").param_grid
    assert grid["clf__n_estimators"] == [50, 100, 200, 500]
    assert None in grid["clf__max_depth"]


def test_unknown_names_and_grids() -> None:
    with pytest.raises(ConfigError, match="choose from"):
        make_candidate("catboost")
    with pytest.raises(ConfigError, match="one of"):
        make_candidate("lda", grid="huge")


# --------------------------------------------------------------------------- spline logistic
def band_data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 inside a band of factor 0 (|x0| < 0.8): no straight line on the logit scale fits it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (np.abs(X[:, 0]) < 0.8).astype(int)


def test_spline_logistic_is_always_available_beside_the_published_thirteen() -> None:
    assert EXTRA_CANDIDATES == ("spline_logistic",)
    assert "spline_logistic" in available_candidates(include_optional=False)
    assert "spline_logistic" not in CORE_CANDIDATES
    steps = [name for name, _ in make_candidate("spline_logistic").estimator.steps]
    assert steps == ["scale", "basis", "clf"]


def test_spline_logistic_fits_a_band_that_the_straight_logit_cannot() -> None:
    X, y = band_data()
    Xt, yt = band_data(seed=1)
    plain = make_candidate("logistic_regression", grid="none").build().fit(X, y)
    spline = make_candidate("spline_logistic", grid="none").build({"clf__C": 10.0}).fit(X, y)
    base_rate = max(yt.mean(), 1 - yt.mean())
    assert (plain.predict(Xt) == yt).mean() < base_rate + 0.05
    assert (spline.predict(Xt) == yt).mean() > 0.9


def test_spline_logistic_strong_penalty_leaves_straight_lines() -> None:
    # the factor itself sits beside its splines, so shrinking leaves the linear fit, not a flat map
    X, y = band_data()
    y = (X[:, 0] + 0.2 * X[:, 1] < 0).astype(int)
    est = make_candidate("spline_logistic", grid="none").build({"clf__C": 0.01}).fit(X, y)
    coef = est.named_steps["clf"].coef_[0]
    n_spline = est.named_steps["basis"].transformer_list[1][1].n_features_out_ // 2
    linear = coef[:2]
    splines = coef[2:]
    assert len(splines) == 2 * n_spline
    assert linear[0] < 0 and abs(linear[0]) > np.abs(splines).max()
    assert (est.predict(X) == y).mean() > 0.95


def test_spline_logistic_one_hot_codes_and_splines_the_rest() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=200), rng.choice([2.0, 5.0, 7.0], 200)])
    y = ((X[:, 1] == 7.0) | (np.abs(X[:, 0]) < 0.5)).astype(int)
    cand = make_candidate("spline_logistic", grid="small", categorical=[1])
    est = cand.build({"clf__C": 10.0}).fit(X, y)
    enc = est.named_steps["encode"]
    # 3 indicators first, then the continuous column and its 5 splines
    assert enc.transform(X[:1]).shape == (1, 3 + 1 + 5)
    assert (est.predict(X) == y).mean() > 0.9
    assert cand.select([0]).categorical == () and "basis" in cand.select([0]).estimator.named_steps


def test_spline_logistic_through_the_model_stage() -> None:
    # a band rule in f0: spatial CV prefers the splines, and calibration and the bootstrap
    # ensemble run on the chosen pipeline as they do on the plain logistic regression
    from permamap.selection import ModelSettings, model_stage

    from .conftest import make_table

    table = make_table()
    table["label"] = (table["f0"].abs() < 0.7).astype(int)
    settings = ModelSettings.from_dict(
        {
            "candidates": ["logistic_regression", "spline_logistic"],
            "n_repeats": 2,
            "n_folds": 3,
            "knndm_nk_len": 8,
            "inner_folds": 2,
            "importance_repeats": 2,
            "forward_pool": 3,
            "forward_max_features": 2,
            "bootstrap_members": 4,
            "costs": {"logistic_regression": 0.05, "spline_logistic": 0.05},
        }
    )
    result = model_stage(table, ["f0", "f1", "f2"], settings, n_jobs=1, random_state=0)
    assert result.card["model"] == "spline_logistic"
    assert "f0" in result.features
    assert result.summary["spatial"]["accuracy"]["mean"] > 0.85
    assert result.card["calibration"]["method"] in ("none", "sigmoid", "isotonic")
    assert result.ensemble is not None and result.ensemble.n_members == 4
    X = table[result.features].to_numpy(float)
    members = result.ensemble.predict_members(X)
    assert members.shape == (4, len(table)) and np.isfinite(members).all()
