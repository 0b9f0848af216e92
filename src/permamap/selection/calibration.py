"""Calibrated probabilities: reliability under spatial CV and a calibrator chosen by it.

A classifier's P(permafrost) is only a probability if, among cells given p, a share p hold
permafrost. :func:`calibrate` measures that on out-of-fold predictions of the chosen model under the
spatial splits (one repeat: every site is predicted once by a model that did not see its
neighbourhood), then compares three maps of p — ``none``, ``sigmoid`` (Platt scaling on logit p)
and ``isotonic`` (scikit-learn's :class:`~sklearn.isotonic.IsotonicRegression`) — each fitted on
the other folds' predictions and scored on the held-out fold (cross-fitting, so the calibrator is
judged on sites it did not see). Among the maps that do not worsen the Brier score of the raw
probabilities, the lowest log-loss wins (probabilities clipped to [0.001, 0.999] so that a single
surprise cannot make it infinite); Brier score and expected calibration error (ECE, 10 equal-width
bins) are recorded beside it. The winner is refitted on every out-of-fold
prediction and stored as a monotone lookup table ``p → p'`` (:class:`Calibrator`), applied to the
probability band of the maps; the model card's ``calibration`` entry holds the table, the choice
and its evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = [
    "CALIBRATION_METHODS",
    "Calibrator",
    "calibrate",
    "cross_fit",
    "expected_calibration_error",
    "reliability_table",
]

CALIBRATION_METHODS = ("none", "sigmoid", "isotonic")
_EPS = 1e-3
_GRID = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Calibrator:
    """A monotone map of probabilities, ``np.interp(p, x, y)``; ``none`` is the identity."""

    method: str
    x: tuple[float, ...] = (0.0, 1.0)
    y: tuple[float, ...] = (0.0, 1.0)

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``p`` (same shape, float64)."""
        return np.interp(np.asarray(p, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "table_p": list(self.x), "table_calibrated": list(self.y)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(str(d["method"]), tuple(d["table_p"]), tuple(d["table_calibrated"]))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _floats(a: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in a)


def _fit(method: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "none" or len(np.unique(y)) < 2:
        return Calibrator("none")
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return Calibrator("isotonic", _floats(_GRID), _floats(iso.predict(_GRID)))
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
        return Calibrator(
            "sigmoid", _floats(_GRID), _floats(lr.predict_proba(_logit(_GRID)[:, None])[:, 1])
        )
    raise ValueError(f"calibration method {method!r} is unknown; use one of {CALIBRATION_METHODS}")


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width bin of ``p``: ``bin_low, bin_high, n, mean_p, observed`` (empty bins left out).

    >>> reliability_table(np.array([0, 1, 1, 1]), np.array([0.05, 0.95, 0.9, 0.97]), 2)[1]["observed"]
    1.0
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            rows.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "n": int(sel.sum()),
                    "mean_p": float(p[sel].mean()),
                    "observed": float(y[sel].mean()),
                }
            )
    return rows


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE: the row-weighted mean of |observed − mean p| over equal-width bins.

    >>> round(expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])), 3)
    0.1
    """
    rows = reliability_table(y, p, n_bins)
    n = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["observed"] - r["mean_p"]) for r in rows) / n) if n else 0.0


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    q = np.clip(p, _EPS, 1 - _EPS)
    return {
        "log_loss": float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }


def cross_fit(method: str, p_oof: np.ndarray, y: np.ndarray, fold_of_row: np.ndarray) -> np.ndarray:
    """Each row's probability calibrated by ``method`` fitted on the other folds' rows only.

    >>> p = np.array([0.1, 0.2, 0.8, 0.9]); y = np.array([0, 0, 1, 1])
    >>> cross_fit("none", p, y, np.array([0, 1, 0, 1])).tolist()
    [0.1, 0.2, 0.8, 0.9]
    """
    p_oof, y, fold_of_row = np.asarray(p_oof, float), np.asarray(y, int), np.asarray(fold_of_row)
    out = np.empty_like(p_oof)
    for f in np.unique(fold_of_row):
        test = fold_of_row == f
        out[test] = _fit(method, p_oof[~test], y[~test]).apply(p_oof[test])
    return out


def calibrate(
    p_oof: np.ndarray,
    y: np.ndarray,
    fold_of_row: np.ndarray,
    methods: Sequence[str] = CALIBRATION_METHODS,
) -> tuple[Calibrator, dict[str, Any]]:
    """Choose and fit the calibrator of out-of-fold probabilities (module docstring).

    Parameters
    ----------
    p_oof : array of float
        Out-of-fold P(class 1) of each site row (spatial CV, one repeat).
    y : array of int
        The rows' labels.
    fold_of_row : array of int
        The spatial fold that predicted each row.
    methods : sequence of str
        Candidates; ``none`` should stay among them so that calibration never makes things worse.

    Returns
    -------
    Calibrator, dict
        The fitted calibrator and its evidence: ``method``, ``cross_fitted`` (per method:
        ``log_loss``, ``brier``, ``ece`` on held-out folds), ``reliability_before`` and
        ``reliability_after`` (cross-fitted), ``n_rows``.
    """
    p_oof, y = np.asarray(p_oof, float), np.asarray(y, int)
    cross = {m: cross_fit(m, p_oof, y, fold_of_row) for m in methods}
    evidence = {m: _scores(y, cross[m]) for m in methods}
    # a calibrator must not worsen the Brier score of the raw probabilities
    eligible = [
        m
        for m in methods
        if m == "none"
        or "none" not in evidence
        or evidence[m]["brier"] <= evidence["none"]["brier"]
    ]
    best = min(eligible, key=lambda m: (evidence[m]["log_loss"], m != "none"))
    return _fit(best, p_oof, y), {
        "method": best,
        "criterion": "cross-fitted log-loss under spatial CV (lower is better) among the maps "
        "that do not worsen the Brier score",
        "cross_fitted": evidence,
        "reliability_before": reliability_table(y, p_oof),
        "reliability_after": reliability_table(y, cross[best]),
        "n_rows": len(y),
    }
