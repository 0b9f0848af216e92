"""The spatial block-bootstrap ensemble: whole blocks drawn, members sized and refitted, saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from permamap.errors import DataError, InputFileError
from permamap.modelio import FeatureGuard
from permamap.selection.ensemble import (
    Ensemble,
    block_bootstrap,
    bootstrap_blocks,
    fit_ensemble,
    member_estimator,
)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """120 rows in 12 blocks of unequal size; label 1 where x0 < 0."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 2))
    y = (X[:, 0] + rng.normal(0, 0.3, 120) < 0).astype(int)
    groups = np.repeat(np.arange(12), [4, 6, 8, 10, 12, 14, 16, 12, 10, 10, 9, 9])
    return X, y, groups


def test_block_bootstrap_draws_whole_blocks(data) -> None:
    _, y, groups = data
    sizes = np.bincount(groups)
    resamples = block_bootstrap(groups, y, n_members=15, random_state=0)
    assert len(resamples) == 15
    for rows in resamples:
        per_block = np.bincount(groups[rows], minlength=len(sizes))
        draws = per_block // sizes
        np.testing.assert_array_equal(per_block, draws * sizes)  # whole blocks only
        assert draws.sum() == len(sizes)  # as many draws as blocks
        # a block drawn twice contributes each of its rows exactly twice
        counts = np.bincount(rows, minlength=len(y))
        np.testing.assert_array_equal(counts, draws[groups])
    again = block_bootstrap(groups, y, n_members=15, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(resamples, again, strict=True))
    other = block_bootstrap(groups, y, n_members=15, random_state=1)
    assert not all(np.array_equal(a, b) for a, b in zip(resamples, other, strict=True))


def test_block_bootstrap_redraws_resamples_lacking_a_class() -> None:
    groups = np.repeat(np.arange(10), 3)
    y = np.zeros(30, dtype=int)
    y[groups == 7] = 1  # one block of ten holds every permafrost row
    rows = block_bootstrap(groups, y, n_members=30, random_state=0)
    # without redraws about (0.9 ** 10) = 35 % of resamples would miss class 1
    assert all(set(y[r]) == {0, 1} for r in rows)


def test_block_bootstrap_errors() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match=r"1 spatial block.*at least 2"):
        block_bootstrap(np.zeros(4, dtype=int), y, 5, 0)
    with pytest.raises(DataError, match="one class only"):
        block_bootstrap(np.array([0, 0, 1, 1]), np.zeros(4, dtype=int), 5, 0)
    with pytest.raises(DataError, match="groups has 3 rows but y has 4"):
        block_bootstrap(np.array([0, 1, 2]), y, 5, 0)


def test_bootstrap_blocks_follow_block_size() -> None:
    lonlat = np.array([[100.0, 60.0], [100.2, 60.1], [110.0, 60.0], [110.1, 60.05]])
    y = np.array([0, 1, 0, 1])
    ids = bootstrap_blocks(lonlat, y, block_size_km=100)
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    again = bootstrap_blocks(lonlat, y, block_size_km=100)
    np.testing.assert_array_equal(ids, again)  # the block grid's offset comes from the seed


def _clf(est):
    return Pipeline([("scale", StandardScaler()), ("clf", est)])


def test_member_estimator_scales_bagged_forests_only() -> None:
    rf = _clf(RandomForestClassifier(n_estimators=500, n_jobs=-1))
    m = member_estimator(rf, 20)
    assert m.get_params()["clf__n_estimators"] == 25 and m.get_params()["clf__n_jobs"] == 1
    assert rf.get_params()["clf__n_estimators"] == 500  # the original is untouched
    assert member_estimator(ExtraTreesClassifier(n_estimators=100), 20).n_estimators == 10
    assert member_estimator(RandomForestClassifier(n_estimators=301), 20).n_estimators == 16
    guard = FeatureGuard(_clf(RandomForestClassifier(n_estimators=200)), features=["a", "b"])
    assert member_estimator(guard, 10).get_params()["estimator__clf__n_estimators"] == 20
    for other in (_clf(LogisticRegression(C=0.3)), _clf(HistGradientBoostingClassifier())):
        got = member_estimator(other, 20)
        assert got is not other
        assert got.named_steps["clf"].get_params() == other.named_steps["clf"].get_params()


def test_members_are_refits_on_the_resamples(data) -> None:
    X, y, groups = data
    est = _clf(LogisticRegression(C=0.5))
    ens = fit_ensemble(est, X, y, groups, n_members=5, random_state=4, n_jobs=2)
    assert ens.n_members == 5 and ens.info["n_groups"] == 12
    rows = block_bootstrap(groups, y, 5, 4)
    probe = np.linspace(-2, 2, 9)[:, None] * np.ones((1, 2))
    for k, r in enumerate(rows):
        by_hand = _clf(LogisticRegression(C=0.5)).fit(X[r], y[r]).predict_proba(probe)[:, 1]
        np.testing.assert_allclose(ens.predict_members(probe)[k], by_hand, rtol=0, atol=1e-12)
    # members differ (different resamples), so the spread is not zero
    assert ens.predict_members(probe).std(axis=0).max() > 0


def test_forest_members_have_scaled_trees_and_own_seeds(data) -> None:
    X, y, groups = data
    guard = FeatureGuard(_clf(RandomForestClassifier(n_estimators=100, random_state=0)), ["a", "b"])
    ens = fit_ensemble(guard, X, y, groups, n_members=4, random_state=0)
    assert (
        ens.info["member_n_estimators"] == 25 and ens.info["estimator"] == "RandomForestClassifier"
    )
    assert ens.info["features"] == ["a", "b"]
    for m in ens.members:
        assert isinstance(m, Pipeline)  # stored without the permamap guard
        assert len(m.named_steps["clf"].estimators_) == 25
    seeds = {m.named_steps["clf"].random_state for m in ens.members}
    assert len(seeds) == 4


def test_fit_ensemble_needs_two_members(data) -> None:
    X, y, groups = data
    with pytest.raises(DataError, match="at least 2 members"):
        fit_ensemble(LogisticRegression(), X, y, groups, n_members=1)


def test_save_load_roundtrip_and_bad_files(tmp_path: Path, data) -> None:
    X, y, groups = data
    ens = fit_ensemble(_clf(HistGradientBoostingClassifier(max_iter=20)), X, y, groups, n_members=3)
    path = ens.save(tmp_path / "models" / "ensemble.skops")
    back = Ensemble.load(path)
    assert back.n_members == 3 and back.info == ens.info
    np.testing.assert_array_equal(back.predict_members(X), ens.predict_members(X))
    assert not list(path.parent.glob(".*.tmp*"))
    with pytest.raises(InputFileError, match=r"missing\.skops does not exist; re-run"):
        Ensemble.load(tmp_path / "missing.skops")
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InputFileError, match=r"bad\.skops is unreadable or corrupt"):
        Ensemble.load(bad)


def test_linear_members_are_predicted_as_one_matrix_product() -> None:
    """Scaled logistic members fold into one weight matrix with the same probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from permamap.selection.ensemble import Ensemble, _linear_stack

    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 5.0, (400, 3))
    y = (X[:, 0] - 0.5 * X[:, 2] + rng.normal(0, 2, 400) > 3).astype(int)
    members = [
        make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X[k::2], y[k::2])
        for k, c in enumerate((0.1, 10.0))
    ]
    assert _linear_stack(members) is not None
    by_member = np.stack([m.predict_proba(X)[:, 1] for m in members])
    assert np.allclose(Ensemble(members).predict_members(X), by_member, atol=1e-12)
    assert _linear_stack([*members, make_pipeline(StandardScaler())]) is None
