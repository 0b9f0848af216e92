"""Scores of the model stage: per-fold metrics, their summary and interval, paired comparisons.

The tidy score table (``cv_scores.csv``) has the columns :data:`SCORE_COLUMNS`, one row per model,
scheme, repeat, fold and metric; rows of the chosen configuration carry the model name
:data:`FINAL`. Means of repeated CV get the Nadeau–Bengio corrected standard error
(:func:`corrected_se`), which accounts for the overlap of training sets across folds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, cohen_kappa_score, make_scorer

__all__ = [
    "FINAL",
    "GREATER_IS_BETTER",
    "METRICS",
    "METRIC_RANGE",
    "SCORERS",
    "SCORE_COLUMNS",
    "TUNING_METRICS",
    "corrected_se",
    "cv_block",
    "fold_metrics",
    "fold_stats",
    "paired_comparison",
    "summarize_scores",
]


METRICS = ("accuracy", "f1", "roc_auc", "pr_auc", "kappa", "brier")
GREATER_IS_BETTER = {m: m != "brier" for m in METRICS}
#: the values each metric can take; 95 % intervals are clipped to them
METRIC_RANGE = {m: ((-1.0, 1.0) if m == "kappa" else (0.0, 1.0)) for m in METRICS}
#: scikit-learn scorer of each metric (tuning and permutation importance).
SCORERS: dict[str, Any] = {
    "accuracy": "accuracy",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "kappa": make_scorer(cohen_kappa_score),
    "brier": "neg_brier_score",
    "log_loss": "neg_log_loss",
}
#: Scores the grid search may maximise (``[models] tuning_metric``): the metrics and the log-loss.
TUNING_METRICS = (*METRICS, "log_loss")
#: Columns of the tidy score table (``cv_scores.csv``).
SCORE_COLUMNS = ["model", "scheme", "repeat", "fold", "metric", "value"]
#: Model name of the score rows of the final configuration.
FINAL = "final"


def fold_metrics(y_true: Any, proba: Any) -> dict[str, float]:
    """Accuracy, F1, ROC AUC, PR AUC, Cohen's kappa and Brier score of one test fold.

    ``proba`` is the probability of class 1; the class is 1 where it is ≥ 0.5. Metrics that need
    both classes in ``y_true`` (ROC AUC, PR AUC, kappa when undefined) are NaN otherwise.

    Examples
    --------
    >>> m = fold_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> m["accuracy"], m["roc_auc"], round(m["brier"], 3)
    (0.5, 0.75, 0.185)
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    pred = p >= 0.5
    pos = y == 1
    tp = float(np.sum(pred & pos))
    tn = float(np.sum(~pred & ~pos))
    fp = float(np.sum(pred & ~pos))
    fn = float(np.sum(~pred & pos))
    n = float(len(y))
    acc = (tp + tn) / n
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0
    pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    kappa = (acc - pe) / (1 - pe) if pe < 1 else float("nan")
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos and n_neg:
        ranks = stats.rankdata(p)
        auc = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        ap = float(average_precision_score(y, p))
    else:
        auc = ap = float("nan")
    return {
        "accuracy": acc,
        "f1": f1,
        "roc_auc": float(auc),
        "pr_auc": ap,
        "kappa": float(kappa),
        "brier": float(np.mean((p - y) ** 2)),
    }


def corrected_se(values: np.ndarray, ratio: float) -> float:
    """Nadeau–Bengio standard error of a CV mean: sqrt((1/J + n_test/n_train) s²).

    ``ratio`` is ``n_test / n_train``; non-finite values are ignored; NaN below two values.

    >>> round(corrected_se(np.array([0.8, 0.9, 0.85, 0.95]), 0.25), 4)
    0.0456
    """
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return float("nan")
    return float(np.sqrt((1 / len(v) + ratio) * np.var(v, ddof=1)))


def summarize_scores(scores: pd.DataFrame, ratios: Mapping[str, float]) -> pd.DataFrame:
    """Mean, sd, corrected SE and 95 % interval per model, scheme and metric.

    ``ratios`` maps scheme to the mean ``n_test / n_train`` of its folds
    (:meth:`Splits.test_train_ratio`).
    The interval is ``mean ± t(0.975, J-1) · SE`` with the Nadeau–Bengio corrected SE, because the
    J fold scores of repeated CV are not independent; it is clipped to the values the metric can
    take (:data:`METRIC_RANGE`), so a PR-AUC interval never reaches past 1.
    """
    rows = []
    for (model, scheme, metric), g in scores.groupby(["model", "scheme", "metric"], sort=False):
        v = g["value"].to_numpy(dtype=float)
        ok = v[np.isfinite(v)]
        mean = float(ok.mean()) if ok.size else float("nan")
        sd = float(ok.std(ddof=1)) if ok.size > 1 else float("nan")
        se = corrected_se(v, ratios.get(str(scheme), 0.25))
        half = float(stats.t.ppf(0.975, ok.size - 1) * se) if ok.size > 1 else float("nan")
        lo, hi = METRIC_RANGE.get(str(metric), (-np.inf, np.inf))
        low, high = max(mean - half, lo), min(mean + half, hi)
        rows.append((model, scheme, metric, mean, sd, se, low, high, ok.size))
    return pd.DataFrame(
        rows, columns=["model", "scheme", "metric", "mean", "sd", "se", "ci_low", "ci_high", "n"]
    )


def paired_comparison(
    scores: pd.DataFrame, best: str, scheme: str, metric: str, ratio: float
) -> list[dict[str, Any]]:
    """Best model against each other model on identical folds (corrected paired t-test).

    ``diff`` is oriented so that positive means ``best`` is better. ``p_value`` is two-sided, from
    the Nadeau–Bengio corrected resampled t statistic with ``J - 1`` degrees of freedom.
    """
    sub = scores[(scores["scheme"] == scheme) & (scores["metric"] == metric)]
    wide = sub.pivot_table(index=["repeat", "fold"], columns="model", values="value")
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    out = []
    for other in wide.columns:
        if other == best:
            continue
        d = (sign * (wide[best] - wide[other])).to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        if len(d) < 2:
            continue
        se = corrected_se(d, ratio)
        t = float(d.mean() / se) if se > 0 else float("inf") if d.mean() > 0 else 0.0
        p = float(2 * stats.t.sf(abs(t), len(d) - 1)) if np.isfinite(t) else 0.0
        out.append(
            {
                "best": best,
                "other": str(other),
                "scheme": scheme,
                "metric": metric,
                "diff_mean": float(d.mean()),
                "diff_sd": float(d.std(ddof=1)),
                "t": t,
                "p_value": p,
                "n_folds": len(d),
            }
        )
    return out


def fold_stats(values: np.ndarray, ratio: float) -> dict[str, float]:
    """``mean``, ``sd`` and corrected ``se`` of per-fold scores (non-finite values ignored)."""
    ok = values[np.isfinite(values)]
    return {
        "mean": float(ok.mean()) if ok.size else float("nan"),
        "sd": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
        "se": corrected_se(values, ratio),
    }


def cv_block(summary: pd.DataFrame, scheme: str, keys: Sequence[str]) -> dict[str, Any]:
    """``{metric: {key: ...}}`` of one scheme of a :func:`summarize_scores` table.

    ``keys`` picks from ``mean``, ``sd`` and ``ci95`` (``[ci_low, ci_high]``).
    """
    out: dict[str, Any] = {}
    for _, r in summary[summary["scheme"] == scheme].iterrows():
        d = {"mean": r["mean"], "sd": r["sd"], "ci95": [r["ci_low"], r["ci_high"]]}
        out[str(r["metric"])] = {k: d[k] for k in keys}
    return out
