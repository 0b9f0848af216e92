"""The AOA against hand-computed values and R's fivenum / boxplot.stats."""

from __future__ import annotations

import numpy as np
import pytest

from permamap.aoa import boxplot_upper_whisker, fit_aoa, fivenum
from permamap.errors import DataError


def test_fivenum_matches_r() -> None:
    # R: fivenum(c(1, 2, 3, 4, 5, 6)) -> 1.0 2.0 3.5 5.0 6.0 ; fivenum(1:7) -> 1 2.5 4 5.5 7
    np.testing.assert_allclose(fivenum(np.arange(1.0, 7.0)), [1, 2, 3.5, 5, 6])
    np.testing.assert_allclose(fivenum(np.arange(1.0, 8.0)), [1, 2.5, 4, 5.5, 7])


def test_upper_whisker_excludes_outliers() -> None:
    # R: boxplot.stats(c(1:10, 50))$stats[5] -> 10
    assert boxplot_upper_whisker(np.r_[np.arange(1.0, 11.0), 50.0]) == 10.0


def test_train_di_by_hand() -> None:
    X = np.array([[0.0], [1.0], [3.0], [6.0]])
    ref = fit_aoa(X, folds=[0, 0, 1, 1])
    z = (X[:, 0] - 2.5) / X[:, 0].std(ddof=1)
    d = np.abs(z[:, None] - z[None, :])
    mean_to_others = d.sum(axis=1) / 3
    dbar = mean_to_others.mean()
    nearest_other_fold = np.array([d[0, 2], d[1, 2], d[2, 1], d[3, 1]])
    np.testing.assert_allclose(ref.mean_distance, dbar)
    np.testing.assert_allclose(ref.train_di, nearest_other_fold / dbar)
    np.testing.assert_allclose(
        ref.dissimilarity(np.array([[2.0]])), abs((2.0 - 2.5) / X[:, 0].std(ddof=1) - z[1]) / dbar
    )


def test_weights_zero_ignore_a_feature() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    ref = fit_aoa(X, weights=[1.0, -3.0])  # negative → 0, as CAST
    far_in_ignored = np.array([[0.0, 1e6]])
    assert ref.inside(far_in_ignored).all()


def test_inside_equals_threshold_on_di() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    ref = fit_aoa(X, folds=rng.integers(0, 4, 80))
    new = rng.normal(scale=2.0, size=(500, 3))
    np.testing.assert_array_equal(ref.inside(new), ref.dissimilarity(new) <= ref.threshold)
    assert 0 < ref.inside(new).mean() < 1


@pytest.mark.parametrize(
    ("X", "kw", "match"),
    [
        (np.zeros((1, 2)), {}, "at least two rows"),
        (np.array([[0.0, 1.0], [0.0, 2.0]]), {}, "no variance"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, "NaN"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), {"weights": [1.0]}, "one weight per feature"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), {"folds": [0, 0]}, "at least two folds"),
    ],
)
def test_bad_training_data(X: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        fit_aoa(X, **kw)


def test_to_dict_from_dict_round_trip_exactly() -> None:
    from permamap.aoa import AOAReference

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    folds = rng.integers(-1, 3, 60)
    ref = fit_aoa(X, weights=[0.3, 0.0, 1.2], folds=folds)
    again = AOAReference.from_dict(ref.to_dict())
    new = rng.normal(scale=2.0, size=(400, 3))
    np.testing.assert_array_equal(again.dissimilarity(new), ref.dissimilarity(new))
    np.testing.assert_array_equal(again.inside(new), ref.inside(new))
    np.testing.assert_array_equal(again.folds, folds)
    assert AOAReference.from_dict(fit_aoa(X).to_dict()).folds is None


def test_from_dict_names_what_is_wrong() -> None:
    from permamap.aoa import AOAReference

    d = fit_aoa(np.random.default_rng(0).normal(size=(10, 2))).to_dict()
    with pytest.raises(DataError, match=r"missing keys \['threshold'\]"):
        AOAReference.from_dict({k: v for k, v in d.items() if k != "threshold"})
    with pytest.raises(DataError, match="do not fit together"):
        AOAReference.from_dict({**d, "center": d["center"][:1]})
