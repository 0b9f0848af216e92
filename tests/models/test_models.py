"""Candidate registry: 13 unfitted pipelines with valid grids, simplest grid point first."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from permamap.errors import ConfigError
from permamap.models import CORE_CANDIDATES, available_candidates, make_candidate


def test_thirteen_core_candidates() -> None:
    assert len(CORE_CANDIDATES) == 13
    assert set(CORE_CANDIDATES) <= set(available_candidates())


@pytest.mark.parametrize("name", CORE_CANDIDATES)
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


@pytest.mark.parametrize("name", CORE_CANDIDATES)
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
