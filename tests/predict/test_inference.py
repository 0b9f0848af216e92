"""The compiled forest kernel against scikit-learn's predict_proba (the reference path)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from permamap.errors import DataError
from permamap.inference import CompiledForest, ReferencePredictor, compile_model
from permamap.modelio import FeatureGuard

pytest.importorskip("numba")


def _data(seed: int = 0, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3], 1)  # ties and repeated values exercise the threshold codes
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 3] + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return X, y


MODELS = {
    "rf": lambda: RandomForestClassifier(30, random_state=0),
    "rf_shallow": lambda: RandomForestClassifier(30, max_depth=4, random_state=1),
    "extra": lambda: ExtraTreesClassifier(30, random_state=0),
    "tree": lambda: DecisionTreeClassifier(random_state=0),
    "best_first": lambda: RandomForestClassifier(20, max_leaf_nodes=25, random_state=0),
    "scaled_pipe": lambda: Pipeline(
        [("s", StandardScaler()), ("clf", RandomForestClassifier(20, random_state=0))]
    ),
    "guard": lambda: FeatureGuard(
        Pipeline([("clf", RandomForestClassifier(20, random_state=0))]), features=list("abcd")
    ),
}


@pytest.mark.parametrize("kernel", ["boxed", "packed", "simple", "lockstep"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_probability_equals_sklearn(name: str, kernel: str) -> None:
    X, y = _data()
    model = MODELS[name]().fit(X, y)
    new = np.random.default_rng(5).normal(size=(3000, 4)).astype(np.float32)
    new[:500] = X[:500]  # values exactly on training points sit on or beside thresholds
    compiled = compile_model(model, 4, kernel=kernel)
    assert isinstance(compiled, CompiledForest)
    proba, spread = compiled.predict_stats(new)
    ref = model.predict_proba(new)[:, 1]
    assert np.abs(proba - ref).max() <= 1e-6
    _, ref_spread = ReferencePredictor(model, 4).predict_stats(new)
    if spread is None:
        assert ref_spread is None and name == "tree"
    else:
        assert np.abs(spread - ref_spread).max() <= 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dedup=st.booleans())
def test_exact_for_any_input(seed: int, dedup: bool) -> None:
    """Random inputs, including float32 values equal to thresholds and their neighbours."""
    X, y = _data()
    model = _forest_cache(X, y)
    rng = np.random.default_rng(seed)
    t = model.estimators_[0].tree_
    thr = t.threshold[t.feature >= 0].astype(np.float32)
    new = rng.normal(size=(200, 4)).astype(np.float32)
    new[:50, 0] = rng.choice(thr, 50)
    new[50:100, 0] = np.nextafter(rng.choice(thr, 50), np.float32(np.inf))
    p, _ = compile_model(model, 4, dedup=dedup).predict_stats(new)
    assert np.abs(p - model.predict_proba(new)[:, 1]).max() <= 1e-6


_CACHE: dict[str, RandomForestClassifier] = {}


def _forest_cache(X: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    if "rf" not in _CACHE:
        _CACHE["rf"] = RandomForestClassifier(15, random_state=3).fit(X, y)
    return _CACHE["rf"]


def test_non_forest_falls_back_to_sklearn() -> None:
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    pred = compile_model(model, 4)
    assert isinstance(pred, ReferencePredictor)
    p, spread = pred.predict_stats(X)
    np.testing.assert_array_equal(p, model.predict_proba(X)[:, 1])
    assert spread is None


def test_model_without_class_one_is_refused() -> None:
    X, _ = _data()
    model = RandomForestClassifier(5, random_state=0).fit(X, np.where(X[:, 0] > 0, 2, 3))
    with pytest.raises(DataError, match="do not include 1"):
        compile_model(model, 4)


def test_wrong_width_is_refused() -> None:
    X, y = _data()
    compiled = compile_model(RandomForestClassifier(5, random_state=0).fit(X, y), 4)
    with pytest.raises(DataError, match="4 features"):
        compiled.predict_stats(X[:, :3])
