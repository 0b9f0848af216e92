"""Splitters: folds are disjoint, cover each sample once per repeat, and are spatially separated."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from permamap.cv import (
    KNNDMKFold,
    SpatialBlockKFold,
    Splits,
    autocorrelation_range_km,
    nearest_distance_km,
    prediction_domain_points,
    w_statistic,
)
from permamap.errors import ConfigError, DataError


def _two_clusters(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.array([40.0, 60.0]) + rng.normal(0, 0.05, (n, 2))
    b = np.array([140.0, 45.0]) + rng.normal(0, 0.05, (n, 2))
    return np.vstack([a, b])


def _check_partition(splits: Splits) -> None:
    n = splits.n_samples
    for r in range(splits.n_repeats):
        tested = np.zeros(n, dtype=int)
        for f in range(splits.n_folds):
            test = np.flatnonzero(splits.folds[r] == f)
            train = np.flatnonzero(splits.folds[r] != f)
            assert np.intersect1d(train, test).size == 0
            assert len(train) + len(test) == n
            tested[test] += 1
        assert (tested == 1).all()


def test_haversine_known_distance() -> None:
    # one degree of arc on a sphere of radius 6371.0088 km
    d = nearest_distance_km([[0.0, 0.0]], [[1.0, 0.0]])
    assert d[0] == pytest.approx(111.195, abs=1e-3)
    # at 60°N a degree of longitude is half as long (near enough on the sphere)
    d60 = nearest_distance_km([[0.0, 60.0]], [[1.0, 60.0]])
    assert d60[0] == pytest.approx(55.6, abs=0.1)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=10, max_value=60),
    k=st.integers(min_value=2, max_value=5),
    repeats=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_random_splits_partition_each_repeat(n: int, k: int, repeats: int, seed: int) -> None:
    y = np.arange(n) % 2
    s = Splits.random(y, n_folds=k, n_repeats=repeats, random_state=seed)
    _check_partition(s)
    assert len(list(s)) == k * repeats == s.get_n_splits()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=1000), size=st.sampled_from([200.0, 500.0, 900.0]))
def test_block_splits_partition_and_keep_blocks_whole(seed: int, size: float) -> None:
    rng = np.random.default_rng(seed)
    lonlat = np.column_stack([rng.uniform(30, 150, 150), rng.uniform(30, 80, 150)])
    cv = SpatialBlockKFold(4, block_size_km=size, n_repeats=2, random_state=seed)
    s = Splits.from_splitter("spatial", cv, lonlat)
    _check_partition(s)
    for r in range(2):  # a block never straddles train and test
        for unit in np.unique(s.units[r]):
            assert len(np.unique(s.folds[r][s.units[r] == unit])) == 1


def test_same_seed_same_splits(table, pred_points) -> None:
    lonlat = table[["lon", "lat"]].to_numpy()
    y = table["label"].to_numpy()
    for make in (
        lambda: SpatialBlockKFold(5, n_repeats=2, random_state=3),
        lambda: KNNDMKFold(
            5,
            prediction_lonlat=pred_points,
            n_repeats=2,
            clustering="kmeans",
            nk_len=8,
            random_state=3,
        ),
    ):
        a = make().assign(lonlat, y).folds
        b = make().assign(lonlat, y).folds
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        Splits.random(y, n_repeats=3, random_state=1).folds,
        Splits.random(y, n_repeats=3, random_state=1).folds,
    )


def test_two_clusters_never_in_train_and_test() -> None:
    lonlat = _two_clusters()
    cluster = np.repeat([0, 1], 40)
    # Prediction points as far from the nearest site as the two clusters are from each other:
    # matching that distance means holding out whole clusters.
    gap = nearest_distance_km(lonlat[:1], lonlat[40:41])[0]
    grid = np.array([[lon, lat] for lon in range(-180, 180, 3) for lat in range(-80, 81, 3)], float)
    far = grid[np.abs(nearest_distance_km(grid, lonlat) - gap) < 0.05 * gap]
    assert len(far) > 10
    block = SpatialBlockKFold(2, block_size_km=300, n_repeats=5, random_state=0)
    knndm = KNNDMKFold(2, prediction_lonlat=far, maxp=0.6, nk_len=20)
    for splitter in (block, knndm):
        for train, test in splitter.split(lonlat, None):
            assert set(cluster[train]).isdisjoint(cluster[test])


def test_knndm_w_lower_than_random_cv_for_clustered_sites(pred_points) -> None:
    rng = np.random.default_rng(2)
    centres = rng.uniform([30, 30], [170, 80], (8, 2))
    lonlat = np.vstack([c + rng.normal(0, 0.3, (25, 2)) for c in centres])
    a = KNNDMKFold(5, prediction_lonlat=pred_points, nk_len=30).assign(lonlat)
    random_folds = Splits.random(np.arange(len(lonlat)) % 2, n_repeats=1, random_state=0).folds[0]
    w_random = w_statistic(lonlat, random_folds, pred_points)
    assert a.info["W"][0] == pytest.approx(w_statistic(lonlat, a.folds[0], pred_points))
    assert a.info["W"][0] < 0.5 * w_random


def test_knndm_returns_random_folds_when_sites_are_not_clustered() -> None:
    rng = np.random.default_rng(0)
    sites = np.column_stack([rng.uniform(30, 150, 150), rng.uniform(30, 70, 150)])
    pred = np.column_stack([rng.uniform(30, 150, 300), rng.uniform(30, 70, 300)])
    a = KNNDMKFold(5, prediction_lonlat=pred, random_state=0).assign(sites)
    assert a.info["q"] == ["random CV"]
    assert sorted(np.bincount(a.folds[0]).tolist()) == [30, 30, 30, 30, 30]


def test_rows_of_one_site_share_a_fold(pred_points) -> None:
    lonlat = _two_clusters(20)
    doubled = np.vstack([lonlat, lonlat])  # the same sites in a second epoch
    for cv in (
        KNNDMKFold(2, prediction_lonlat=pred_points, maxp=0.6, nk_len=10),
        SpatialBlockKFold(2, block_size_km=300, random_state=0),
    ):
        folds = cv.assign(doubled).folds[0]
        np.testing.assert_array_equal(folds[:40], folds[40:])


def test_block_size_rule_follows_the_data() -> None:
    rng = np.random.default_rng(0)
    lonlat = np.column_stack([rng.uniform(30, 150, 500), rng.uniform(30, 80, 500)])
    iid = rng.integers(0, 2, 500)
    smooth = (lonlat[:, 0] > 90).astype(int)
    r_iid = autocorrelation_range_km(lonlat, iid)
    r_smooth = autocorrelation_range_km(lonlat, smooth)
    assert r_iid < 500 < r_smooth
    cv = SpatialBlockKFold(5, random_state=0)
    assert cv.resolve_block_size_km(lonlat, smooth) == pytest.approx(r_smooth)


def test_prediction_domain_points_in_bounds() -> None:
    pts = prediction_domain_points((25, 25, 180, 84), n=500)
    assert len(pts) > 50
    assert (pts[:, 0] >= 25).all() and (pts[:, 0] <= 180).all()
    assert (pts[:, 1] >= 25).all() and (pts[:, 1] <= 84).all()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: SpatialBlockKFold(5, block_size_km=5000).assign(_two_clusters()),
            DataError,
            "smaller block_size_km",
        ),
        (lambda: SpatialBlockKFold(5).assign(_two_clusters()), ConfigError, "pass y"),
        (lambda: KNNDMKFold(5, n_repeats=3).assign(_two_clusters()), ConfigError, "kmeans"),
        (lambda: KNNDMKFold(5, maxp=0.1).assign(_two_clusters()), ConfigError, "maxp"),
        (lambda: KNNDMKFold(5).assign(_two_clusters(2)), DataError, "lower n_splits"),
        (lambda: KNNDMKFold(5).assign(np.zeros((4, 3))), DataError, "lon, lat"),
        (lambda: Splits.random([0, 0, 0, 1], n_folds=2), DataError, "lower n_folds"),
        (lambda: autocorrelation_range_km(_two_clusters(), np.ones(80)), DataError, "one class"),
    ],
)
def test_bad_input_errors_say_the_fix(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_splits_usable_as_sklearn_cv(table) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    y = table["label"].to_numpy()
    s = Splits.random(y, n_folds=3, n_repeats=2, random_state=0)
    scores = cross_val_score(LogisticRegression(), table[["f0"]].to_numpy(), y, cv=s)
    assert len(scores) == 6
    assert len(s.head(1)) == 3
