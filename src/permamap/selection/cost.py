"""Cost-aware choice: prediction cost, cost classes, the Pareto front and the "within noise" rule.

Each candidate's prediction cost (single-core seconds per million cells, :func:`prediction_cost`)
sits beside its spatial-CV score; :func:`choose_within_noise` takes the preferred option (the
cheapest, or the one with fewest features) among those within a band of standard errors of the
best score. :func:`cost_class` bins costs so that timing noise cannot flip the choice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..models import Candidate
from .backend import quiet
from .metrics import GREATER_IS_BETTER, corrected_se

__all__ = [
    "FREE_COST_S_PER_MILLION",
    "choose_within_noise",
    "cost_class",
    "measured_cost",
    "paired_se",
    "pareto",
    "prediction_cost",
]

#: Prediction costs below this (s per million cells) are all "free": cheaper than reading the factors.
FREE_COST_S_PER_MILLION = 0.5


def prediction_cost(
    estimator: Any,
    X: np.ndarray,
    *,
    n_rows: int = 100_000,
    repeats: int = 3,
    random_state: int = 0,
) -> float:
    """Single-core seconds to predict one million cells with a fitted ``estimator``.

    Rows are resampled from ``X`` (so trees follow realistic paths); the best of ``repeats``
    timings is scaled to 10⁶ rows. Measured with one thread so candidates compare fairly; a map
    run divides it by the workers it uses.
    """
    rng = np.random.default_rng(random_state)
    rows = np.ascontiguousarray(X[rng.integers(0, len(X), n_rows)])
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    # Only estimators that parallelise prediction (forests, k-NN) carry a set n_jobs.
    jobs_key = next((k for k in params if k.endswith("n_jobs") and params[k] is not None), None)
    old = params.get(jobs_key) if jobs_key else None
    if jobs_key:
        estimator.set_params(**{jobs_key: 1})
    best = float("inf")
    try:
        with threadpool_limits(1):
            for _ in range(repeats):
                t0 = time.perf_counter()
                estimator.predict_proba(rows)
                best = min(best, time.perf_counter() - t0)
    finally:
        if jobs_key:
            estimator.set_params(**{jobs_key: old})
    return best / n_rows * 1e6


def cost_class(cost_s_per_million: np.ndarray) -> np.ndarray:
    """Bin measured prediction costs so that timing noise cannot flip the choice.

    Costs under :data:`FREE_COST_S_PER_MILLION` form class 0; above it, classes are a factor of two
    wide. Within the noise band of the best score, the cheapest class wins and, inside a class,
    the better score (then the name), so reruns with the same random state choose the same model.

    >>> cost_class(np.array([0.01, 0.4, 0.6, 0.9, 1.1, 20.0])).tolist()
    [0, 0, 1, 1, 2, 6]
    """
    c = np.asarray(cost_s_per_million, dtype=float)
    with np.errstate(divide="ignore"):
        bins = 1 + np.floor(np.log2(np.maximum(c, 1e-12) / FREE_COST_S_PER_MILLION))
    return np.where(c < FREE_COST_S_PER_MILLION, 0, bins).astype(int)


def choose_within_noise(
    table: pd.DataFrame, metric: str, n_se: float, order_by: Sequence[str]
) -> pd.Series:
    """The first row, sorted by ``order_by``, whose mean is within ``n_se`` SE of the best.

    ``table`` has one option per row with columns ``mean`` and ``se`` (the Nadeau–Bengio SE of
    the best option sets the band); ``order_by`` puts the preferred options first (cheapest,
    fewest features...). This is the cost-aware choice and the feature-subset choice.

    When ``table`` has a column ``se_paired`` (each option's corrected SE of its fold-by-fold
    difference to the best, :func:`paired_se`), each option gets its own band: options scored on
    the same folds are compared by their paired difference, whose noise is far smaller than
    either mean's when the folds differ a lot (spatial CV), so a clearly worse option is not
    taken as "within noise" of the best.

    Examples
    --------
    >>> front = pd.DataFrame({"model": ["rf500", "rf50", "tree"], "mean": [0.913, 0.911, 0.85],
    ...                       "se": [0.005, 0.005, 0.01], "cost": [25.0, 2.5, 0.1]})
    >>> choose_within_noise(front, "accuracy", 1.0, ["cost"])["model"]
    'rf50'
    """
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    score = sign * table["mean"]
    best = int(np.nanargmax(score.to_numpy()))
    if "se_paired" in table:
        band = table["se_paired"].fillna(0.0).to_numpy(dtype=float)
    else:
        se = float(table["se"].iloc[best])
        band = np.full(len(table), se if np.isfinite(se) else 0.0)
    eligible = table[score.to_numpy() >= score.iloc[best] - n_se * band]
    return eligible.sort_values(list(order_by), kind="stable").iloc[0]


def paired_se(values: Mapping[Any, np.ndarray], metric: str, ratio: float) -> dict[Any, float]:
    """Corrected SE of each option's per-fold difference to the best option (0 for the best).

    ``values`` maps each option to its per-fold scores on the same folds, in the same order;
    the best is the one with the best mean. The SE is Nadeau–Bengio's (:func:`corrected_se`) of
    the differences, as in the corrected resampled t-test.

    >>> paired_se({"a": np.array([0.9, 0.8, 0.95]), "b": np.array([0.88, 0.79, 0.92])},
    ...           "accuracy", 0.25)["b"] > 0
    True
    """
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    means = {
        k: float(np.nanmean(v)) if np.isfinite(v).any() else -np.inf for k, v in values.items()
    }
    best = max(means, key=lambda k: sign * means[k])
    out = {}
    for k, v in values.items():
        if k == best:
            out[k] = 0.0
            continue
        se = corrected_se(np.asarray(values[best]) - np.asarray(v), ratio)
        out[k] = se if np.isfinite(se) else float("nan")
    return out


def measured_cost(
    cand: Candidate,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_rows: int,
    random_state: int = 0,
) -> float:
    """Fit ``cand`` with ``params`` on ``X, y`` and time its prediction of ``n_rows`` rows."""
    est = cand.build(params)
    with quiet():
        est.fit(X, y)
    return prediction_cost(est, X, n_rows=n_rows, random_state=random_state)


def pareto(mean: np.ndarray, cost: np.ndarray) -> list[bool]:
    """True where no other option is at least as good and as cheap, and better in one.

    ``mean`` is oriented so that larger is better.

    >>> pareto(np.array([0.9, 0.8, 0.85]), np.array([2.0, 1.0, 3.0]))
    [True, True, False]
    """
    return [
        not np.any((mean >= m) & (cost <= c) & ((mean > m) | (cost < c)))
        for m, c in zip(mean, cost, strict=True)
    ]
