"""Error profiles: expected accuracy from DI and confidence, with known generating coefficients."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from permamap.aoa import fit_aoa
from permamap.errors import ConfigError, DataError
from permamap.selection.errorprofile import (
    ErrorProfile,
    accuracy_by_bin,
    cv_dissimilarity,
    fit_error_profile,
)

A, B, C = 0.4, 1.3, 1.5


def _rows(n: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose class is right with P = sigmoid(A + B·logit(conf) − C·DI); returns di, p, y, P."""
    rng = np.random.default_rng(seed)
    di = rng.uniform(0.0, 2.0, n)
    conf = rng.uniform(0.5, 0.98, n)
    cls = rng.integers(0, 2, n)
    p = np.where(cls == 1, conf, 1.0 - conf)
    p_right = expit(A + B * np.log(conf / (1 - conf)) - C * di)
    right = rng.random(n) < p_right
    y = np.where(right, cls, 1 - cls)
    return di, p, y, p_right


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _rows()


@pytest.fixture(scope="module")
def glm(rows: tuple[np.ndarray, ...]) -> ErrorProfile:
    di, p, y, _ = rows
    return fit_error_profile(di, p, y)


def test_glm_recovers_the_generating_coefficients(glm: ErrorProfile) -> None:
    a, b, c = glm.coef
    # standard errors at n = 5000 are about 0.07 (a), 0.06 (b), 0.06 (c)
    assert a == pytest.approx(A, abs=0.2)
    assert b == pytest.approx(B, abs=0.2)
    assert c == pytest.approx(C, abs=0.2)
    ev = glm.evidence
    assert ev["n_rows"] == 5000 and ev["converged"] is True
    assert ev["coefficients"] == {"intercept": a, "logit_confidence": b, "di": c}
    assert ev["log_loss"] < ev["log_loss_constant"] - 0.05


def test_binned_observed_accuracy_matches_expected(
    glm: ErrorProfile, rows: tuple[np.ndarray, ...]
) -> None:
    binned = glm.evidence["binned"]
    assert 9 <= len(binned) <= 10 and sum(r["n"] for r in binned) == 5000
    for r in binned:
        assert abs(r["observed_accuracy"] - r["mean_expected"]) < 0.05, r
    # fresh rows from the same world (out of sample): the fixed bins agree too
    di, p, y, _ = _rows(20000, seed=1)
    correct = ((p >= 0.5).astype(int) == y).astype(int)
    fresh = accuracy_by_bin(
        glm.expected_accuracy(di, p), correct, edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    )
    assert [r["bin"] for r in fresh] == [
        "[0, 0.2)",
        "[0.2, 0.4)",
        "[0.4, 0.6)",
        "[0.6, 0.8)",
        "[0.8, 1]",
    ]
    for r in fresh:
        assert abs(r["observed_accuracy"] - r["mean_expected"]) < 0.03, r
    # and the expected accuracy is close to the generating probability, row by row
    _, _, _, p_right = rows
    assert np.abs(glm.expected_accuracy(rows[0], rows[1]) - p_right).max() < 0.05


def test_glm_is_monotone_on_a_grid(glm: ErrorProfile) -> None:
    conf = np.linspace(0.5, 1.0, 41)
    di = np.linspace(0.0, 5.0, 51)
    cc, dd = np.meshgrid(conf, di)  # rows: DI, columns: confidence
    for p in (cc, 1.0 - cc):  # class 1 with confidence p, class 0 with confidence 1 - p
        e = glm.expected_accuracy(dd, p)
        assert ((e >= 0) & (e <= 1)).all()
        assert (np.diff(e, axis=1) >= 0).all()  # surer → not less accurate
        assert (np.diff(e, axis=0) <= 0).all()  # more dissimilar → not more accurate
        assert (np.diff(e, axis=0) < 0).any()


def test_calibrated_model_at_zero_di_gives_its_confidence() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.0, 1.0, 8000)
    y = (rng.random(8000) < p).astype(int)
    prof = fit_error_profile(np.zeros(8000), p, y)
    a, b, c = prof.coef
    assert a == pytest.approx(0.0, abs=0.1) and b == pytest.approx(1.0, abs=0.1)
    assert c == 0.0  # DI carries no information: the bound holds it at its start
    grid = np.linspace(0.02, 0.98, 49)
    got = prof.expected_accuracy(np.zeros_like(grid), grid)
    assert np.abs(got - np.maximum(grid, 1 - grid)).max() < 0.03


def test_bounds_hold_when_the_data_point_the_other_way() -> None:
    """Accuracy that rises with DI is fitted as c = 0, never a negative c."""
    rng = np.random.default_rng(4)
    di = rng.uniform(0, 2, 3000)
    p = rng.uniform(0.0, 1.0, 3000)
    right = rng.random(3000) < expit(-0.5 + 1.0 * di)
    y = np.where(right, (p >= 0.5).astype(int), (p < 0.5).astype(int))
    prof = fit_error_profile(di, p, y)
    assert prof.coef[2] == 0.0 and prof.coef[1] >= 0.0


def test_di_kind_is_isotonic_and_non_increasing(rows: tuple[np.ndarray, ...]) -> None:
    di, p, y, _ = rows
    prof = fit_error_profile(di, p, y, kind="di")
    assert prof.kind == "di" and prof.coef == () and prof.evidence["coefficients"] is None
    grid = np.linspace(-0.0, 4.0, 401)
    e = prof.expected_accuracy(grid, np.full_like(grid, 0.7))
    assert (np.diff(e) <= 0).all() and e[0] > e[-1] + 0.3
    # p does not enter a DI-only profile
    assert np.array_equal(e, prof.expected_accuracy(grid, np.full_like(grid, 0.99)))
    # constant beyond the training DI range (CAST's scam is not extrapolated either)
    assert e[-1] == prof.table_accuracy[-1]
    # it learns the DI effect: observed accuracy per DI third falls as the fit says
    correct = ((p >= 0.5).astype(int) == y).astype(int)
    for lo, hi in ((0.0, 0.66), (0.66, 1.33), (1.33, 2.0)):
        sel = (di >= lo) & (di < hi)
        assert prof.expected_accuracy(di[sel], p[sel]).mean() == pytest.approx(
            correct[sel].mean(), abs=0.01
        )
    assert prof.evidence["log_loss"] < prof.evidence["log_loss_constant"]


@pytest.mark.parametrize("kind", ["glm", "di"])
def test_round_trip_gives_identical_predictions(kind: str, rows: tuple[np.ndarray, ...]) -> None:
    di, p, y, _ = rows
    prof = fit_error_profile(di[:2000], p[:2000], y[:2000], kind=kind)
    text = json.dumps(prof.to_dict())  # JSON-safe
    again = ErrorProfile.from_dict(json.loads(text))
    assert again == prof and again.to_dict() == prof.to_dict()
    grid_di, grid_p = np.meshgrid(np.linspace(0, 3, 31), np.linspace(0, 1, 21))
    assert np.array_equal(
        again.expected_accuracy(grid_di, grid_p), prof.expected_accuracy(grid_di, grid_p)
    )


def test_nodata_stays_nodata(glm: ErrorProfile) -> None:
    e = glm.expected_accuracy(np.array([0.1, np.nan, 0.2]), np.array([0.9, 0.8, np.nan]))
    assert np.isfinite(e[0]) and np.isnan(e[1:]).all()


def test_accuracy_by_bin_with_area_weights() -> None:
    expected = np.array([[0.55, 0.65, np.nan], [0.92, 0.97, 1.0]])
    correct = np.array([[1, 0, 0], [1, 0, 1]])
    area = np.array([[2.0, 1.0, 5.0], [1.0, 3.0, 1.0]])
    rows = accuracy_by_bin(expected, correct, area)
    assert [(r["bin"], r["n"], r["weight"]) for r in rows] == [
        ("[0.5, 0.6)", 1, 2.0),
        ("[0.6, 0.7)", 1, 1.0),
        ("[0.9, 0.95)", 1, 1.0),
        ("[0.95, 1]", 2, 4.0),
    ]
    last = rows[-1]
    assert last["observed_accuracy"] == pytest.approx(0.25)  # 3 km² wrong, 1 km² right
    assert last["mean_expected"] == pytest.approx((0.97 * 3 + 1.0) / 4)


def test_cv_dissimilarity_leaves_out_rows_in_no_fold() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    folds = np.repeat([0, 1, 2], 20)
    ref = fit_aoa(X, folds=folds)
    assert cv_dissimilarity(ref) == pytest.approx(ref.train_di, rel=1e-9)
    held = folds.copy()
    held[:6] = -1
    got = cv_dissimilarity(ref, held)
    assert np.isnan(got[:6]).all() and np.isfinite(got[6:]).all()
    assert (got[6:] >= ref.train_di[6:] - 1e-12).all()  # fewer neighbours: never nearer
    with pytest.raises(DataError, match="fold labels given for 60"):
        cv_dissimilarity(ref, folds[:10])
    with pytest.raises(DataError, match="no CV folds"):
        cv_dissimilarity(fit_aoa(X))


def test_errors_name_the_value_and_the_fix(rows: tuple[np.ndarray, ...]) -> None:
    di, p, y, _ = rows
    with pytest.raises(DataError, match=r"shapes .*di.*\(100,\).*one value per"):
        fit_error_profile(di[:100], p[:99], y[:100])
    bad = p[:100].copy()
    bad[3] = np.nan
    with pytest.raises(DataError, match="input p has 1 NaN"):
        fit_error_profile(di[:100], bad, y[:100])
    with pytest.raises(DataError, match="got 19 out-of-fold rows; it needs at least 20"):
        fit_error_profile(di[:19], p[:19], y[:19])
    right = (p[:100] >= 0.5).astype(int)
    with pytest.raises(DataError, match="every one of the 100 out-of-fold classes is right"):
        fit_error_profile(di[:100], p[:100], right)
    with pytest.raises(
        ConfigError, match=r"kind 'gam' is unknown; use one of \['calibrated', 'glm', 'di'\]"
    ):
        fit_error_profile(di, p, y, kind="gam")
    with pytest.raises(ConfigError, match=r"threshold 1\.5"):
        fit_error_profile(di, p, y, threshold=1.5)
    with pytest.raises(DataError, match="missing keys \\['evidence'\\]"):
        ErrorProfile.from_dict(
            {
                "kind": "glm",
                "threshold": 0.5,
                "coef": [0, 1, 0],
                "table_di": [],
                "table_accuracy": [],
            }
        )
    with pytest.raises(DataError, match="b >= 0, c >= 0"):
        ErrorProfile("glm", coef=(0.0, 1.0, -0.5))
    with pytest.raises(DataError, match="one DI and one probability per cell"):
        ErrorProfile("glm", coef=(0.0, 1.0, 0.0)).expected_accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(DataError, match="percent divided by 100"):
        ErrorProfile("glm", coef=(0.0, 1.0, 0.0)).expected_accuracy(
            np.zeros(2), np.array([50.0, 1.0])
        )
    with pytest.raises(ConfigError, match="bin edges"):
        accuracy_by_bin(np.array([0.6]), np.array([1]), edges=(0.9, 0.5))
    with pytest.raises(DataError, match="weights must be finite and positive"):
        accuracy_by_bin(np.array([0.6]), np.array([1]), np.array([0.0]))


def test_calibrated_kind_fits_only_the_di_penalty() -> None:
    """a = 0 and b = 1 are held; c is recovered from rows drawn with P = sigmoid(logit(conf) − c·DI)."""
    rng = np.random.default_rng(5)
    n = 6000
    p = rng.uniform(0.0, 1.0, n)
    di = rng.uniform(0.0, 1.5, n)
    conf = np.clip(np.maximum(p, 1 - p), 0.5 + 1e-3, 1 - 1e-3)
    right = rng.random(n) < 1 / (1 + np.exp(-(np.log(conf / (1 - conf)) - 0.8 * di)))
    y = np.where(right, (p >= 0.5).astype(int), (p < 0.5).astype(int))
    prof = fit_error_profile(di, p, y, kind="calibrated")
    a, b, c = prof.coef
    assert (a, b) == (0.0, 1.0)
    assert c == pytest.approx(0.8, abs=0.15)
    # at DI = 0 the expected accuracy is the confidence itself
    grid = np.linspace(0.05, 0.95, 19)
    got = prof.expected_accuracy(np.zeros_like(grid), grid)
    assert np.allclose(got, np.maximum(grid, 1 - grid), atol=2e-3)
    assert ErrorProfile.from_dict(prof.to_dict()) == prof
    with pytest.raises(DataError, match="calibrated error profile has coefficients"):
        ErrorProfile("calibrated", 0.5, coef=(0.2, 1.0, 0.5))
