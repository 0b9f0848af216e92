"""Calibration: reliability under spatial CV, a calibrator chosen by it, applied to the map band."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from permamap.predict import predict_block
from permamap.selection.calibration import (
    Calibrator,
    calibrate,
    expected_calibration_error,
    reliability_table,
)


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True P(1) = q uniform; the model says q pushed towards 0 and 1 (overconfident)."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < q).astype(int)
    logit = np.log(q / (1 - q))
    p = 1 / (1 + np.exp(-3.0 * logit))  # three times too steep
    return p, y, rng.integers(0, 5, n)


def test_reliability_table_and_ece_have_known_values() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.9])
    rows = reliability_table(y, p, n_bins=2)
    assert [(r["n"], r["observed"]) for r in rows] == [
        (3, pytest.approx(1 / 3)),
        (3, pytest.approx(2 / 3)),
    ]
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(
        0.5 * (1 / 3 - 0.1) + 0.5 * (0.9 - 2 / 3)
    )


def test_an_overconfident_model_is_calibrated_and_its_brier_improves() -> None:
    p, y, folds = _overconfident()
    cal, evidence = calibrate(p, y, folds)
    assert cal.method in ("sigmoid", "isotonic")
    before, after = evidence["cross_fitted"]["none"], evidence["cross_fitted"][cal.method]
    assert after["brier"] < before["brier"] and after["ece"] < before["ece"] / 2
    # the map recovers the slope: a said 0.9 (logit 2.197) is truly logistic(2.197 / 3) = 0.675
    assert cal.apply(np.array([0.9]))[0] == pytest.approx(
        1 / (1 + np.exp(-np.log(9) / 3)), abs=0.05
    )


def test_calibrated_probabilities_stay_as_they_are() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 3000)
    y = (rng.random(3000) < p).astype(int)
    cal, evidence = calibrate(p, y, rng.integers(0, 5, 3000))
    assert cal.method == "none" or (
        evidence["cross_fitted"][cal.method]["brier"] <= evidence["cross_fitted"]["none"]["brier"]
    )
    assert np.allclose(Calibrator("none").apply(p), p)


def test_round_trip_and_the_map_band_carries_the_calibrated_probability() -> None:
    cal = Calibrator("isotonic", (0.0, 0.5, 1.0), (0.0, 0.2, 1.0))
    assert Calibrator.from_dict(cal.to_dict()) == cal
    m = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [1, 1, 0, 0])
    block = np.array([[[-3.0, 3.0]]], dtype="float32")
    raw = predict_block(m, block)
    calibrated = predict_block(m, block, calibration=cal)
    p = raw[1, 0] / 100.0
    expect = np.rint(100 * np.interp(p, cal.x, cal.y))
    assert calibrated[1, 0].tolist() == pytest.approx(expect.tolist(), abs=1)
    assert calibrated[0, 0].tolist() == (np.interp(p, cal.x, cal.y) >= 0.5).astype(int).tolist()
