"""The float32 kernels give exactly scikit-learn's predict_proba: same leaves, same summation order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from permamap.inference import CompiledForest, compile_model
from permamap.inference.flatten import box_forest, float32_threshold

pytest.importorskip("numba")

FLOAT_KERNELS = ["boxed"]


def _data(seed: int, n: int, nan_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3], 1)  # repeated values: impure leaves with fractional probabilities
    X[:, 4] = rng.integers(0, 4, n)  # a few levels: many rows share all their split outcomes
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 3] + rng.normal(0, 0.8, n) > 0.5).astype(int)
    if nan_share:
        X[rng.random(X.shape) < nan_share] = np.nan
    return X, y


def _new_rows(X: np.ndarray, seed: int, n: int) -> np.ndarray:
    """Random rows, rows equal to training rows, and a smooth track like neighbouring map cells.

    On the track most rows reach the same leaves as the row before (the ``boxed`` kernel's box
    hits); the random rows mostly do not (its walks).
    """
    rng = np.random.default_rng(seed)
    new = rng.normal(size=(n, X.shape[1])).astype(np.float32)
    new[: n // 4] = X[rng.integers(0, len(X), n // 4)]
    m = n // 2 - n // 4
    s = np.linspace(0.0, 1.0, m)[:, None]
    new[n // 4 : n // 2] = (-2.0 + 4.0 * s * rng.uniform(0.5, 1.0, X.shape[1])).astype(np.float32)
    new[n // 4 : n // 2, 4] = np.round(new[n // 4 : n // 2, 4] + 2.0)
    return new


@pytest.fixture(scope="module")
def forests() -> dict[str, object]:
    X, y = _data(0, 800)
    Xn, yn = _data(1, 800, nan_share=0.1)
    return {
        "rf": (RandomForestClassifier(25, random_state=0).fit(X, y), X),
        "rf_bootstrap_off": (
            RandomForestClassifier(10, bootstrap=False, max_features=None, random_state=2).fit(
                X, y
            ),
            X,
        ),
        "extra": (ExtraTreesClassifier(25, random_state=0).fit(X, y), X),
        "tree": (DecisionTreeClassifier(min_samples_leaf=3, random_state=0).fit(X, y), X),
        "rf_nan_fit": (RandomForestClassifier(25, random_state=1).fit(Xn, yn), Xn),
    }


@pytest.mark.parametrize("n_rows", [1, 7, 8, 9, 4097, 10_003])
@pytest.mark.parametrize("dedup", [False, True])
@pytest.mark.parametrize("kernel", FLOAT_KERNELS)
@pytest.mark.parametrize("name", ["rf", "rf_bootstrap_off", "extra", "tree", "rf_nan_fit"])
def test_bitwise_equal_to_sklearn(
    forests: dict[str, object], name: str, kernel: str, dedup: bool, n_rows: int
) -> None:
    """Odd row counts cover partly filled lanes and blocks; dedup must not change a bit."""
    model, X = forests[name]  # type: ignore[misc]
    new = _new_rows(X, seed=n_rows, n=n_rows)
    if n_rows > 8:
        # thresholds themselves and their float32 neighbours (the rounding edge of the cast)
        thr = model.estimators_[0].tree_ if hasattr(model, "estimators_") else model.tree_
        t = thr.threshold[(thr.feature == 0) & np.isfinite(thr.threshold)].astype(np.float32)
        k = min(len(t), n_rows // 4)
        new[-k:, 0] = t[:k]
        new[-2 * k : -k, 0] = np.nextafter(t[:k], np.float32(-np.inf))
    if n_rows == 10_003 and name != "tree":
        # the track really reuses leaves, so box hits are exercised as well as walks
        track = model.apply(new[n_rows // 4 : n_rows // 2])
        assert (track[1:] == track[:-1]).mean() > 0.5
    ref = model.predict_proba(new)[:, 1]
    p, spread = CompiledForest(model, 5, kernel=kernel, dedup=dedup).predict_stats(new)
    assert np.array_equal(p, ref)
    assert (spread is None) == (name == "tree")


@pytest.mark.parametrize("kernel", FLOAT_KERNELS)
@pytest.mark.parametrize("name", ["rf", "rf_nan_fit"])
def test_nan_follows_sklearn_missing_rule(
    forests: dict[str, object], name: str, kernel: str
) -> None:
    """NaN goes where each split's missing_go_to_left says (fitted with or without NaN)."""
    model, X = forests[name]  # type: ignore[misc]
    new = _new_rows(X, seed=3, n=2001)
    rng = np.random.default_rng(4)
    new[rng.random(new.shape) < 0.15] = np.nan
    new[5] = np.nan  # a row with nothing known
    assert np.isnan(new).any(axis=1).mean() > 0.3
    p, _ = CompiledForest(model, 5, kernel=kernel).predict_stats(new)
    assert np.array_equal(p, model.predict_proba(new)[:, 1])


def test_spread_equals_std_of_tree_votes(forests: dict[str, object]) -> None:
    model, X = forests["rf"]  # type: ignore[misc]
    new = _new_rows(X, seed=9, n=501)
    _, spread = compile_model(model, 5).predict_stats(new)
    votes = np.stack([t.predict_proba(new)[:, 1] for t in model.estimators_])
    assert spread is not None
    np.testing.assert_allclose(spread, votes.std(axis=0), rtol=0, atol=1e-12)


def test_float64_rows_are_cast_like_sklearn(forests: dict[str, object]) -> None:
    """float64 input rounds to float32 first; a value just above a threshold may round onto it."""
    model, X = forests["rf"]  # type: ignore[misc]
    tr = model.estimators_[0].tree_
    t = tr.threshold[tr.feature == 1]
    new = np.repeat(_new_rows(X, seed=5, n=len(t)).astype(np.float64), 3, axis=0)
    new[:, 1] = np.concatenate([t, t + 1e-12, np.nextafter(t, np.inf)])
    p, _ = compile_model(model, 5).predict_stats(new)
    assert np.array_equal(p, model.predict_proba(new)[:, 1])


def test_float32_threshold_is_the_largest_float32_below() -> None:
    t = np.array([0.1, -0.1, 1.5, 3.0000001, -2.0, 1e39, -1e39])
    t32 = float32_threshold(t)
    assert (t32.astype(np.float64) <= t).all()
    with np.errstate(over="ignore"):
        above = np.nextafter(t32, np.float32(np.inf)).astype(np.float64)
    assert (above > t).all()
    assert t32[2] == np.float32(1.5)  # representable thresholds stay as they are
    assert t32[6] == -np.inf


def test_box_forest_layout_and_boxes(forests: dict[str, object]) -> None:
    """Pre-order (left child next), one root per tree, and each leaf's box holds exactly its rows."""
    model, X = forests["rf"]  # type: ignore[misc]
    bf = box_forest(model.estimators_, 1, 5)
    assert bf.n_nodes == sum(t.tree_.node_count for t in model.estimators_)
    assert bf.n_trees == 25
    split = np.flatnonzero(bf.feature >= 0)
    ends = np.append(bf.roots[1:], bf.n_nodes)
    owner = np.searchsorted(ends, split, side="right")
    assert (bf.right[split] > split + 1).all() and (bf.right[split] < ends[owner]).all()
    reached = np.zeros(bf.n_nodes, dtype=int)
    np.add.at(reached, split + 1, 1)
    np.add.at(reached, bf.right[split], 1)
    reached[bf.roots] += 1
    assert (reached == 1).all()  # every node is a child of exactly one split, or a root
    leaf_no = bf.right[bf.feature < 0]
    np.testing.assert_array_equal(np.sort(leaf_no), np.arange(len(bf.value)))
    # the rows a scikit-learn tree sends to a leaf are exactly the rows inside its box
    new = _new_rows(X, seed=11, n=3000)
    tree = model.estimators_[0]
    first = np.flatnonzero(bf.feature[: bf.roots[1]] < 0)  # tree 0's leaves in pre-order
    sk_leaves = np.flatnonzero(tree.tree_.children_left == -1)  # scikit-learn's pre-order too
    sk_to_box = dict(zip(sk_leaves, bf.right[first], strict=True))
    box = np.array([sk_to_box[leaf] for leaf in tree.apply(new)])
    inside = (new[:, None, :] > bf.lo[None, :, :]) & (new[:, None, :] <= bf.hi[None, :, :])
    inside = inside.all(axis=2)[:, : len(first)]
    np.testing.assert_array_equal(inside.argmax(axis=1), box)
    assert (inside.sum(axis=1) == 1).all()  # boxes of one tree do not overlap
