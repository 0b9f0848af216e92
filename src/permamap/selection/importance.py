"""Feature selection: permutation importance on held-out spatial folds, then subset tests.

:func:`rank_importance` ranks the features by permutation importance on the spatial test folds
(impurity importance as a second view); :func:`search_feature_subsets` scores the incremental
top-k subsets by rank and a forward selection by spatial CV, and picks the subset with the fewest
features among those within ``choice_se`` standard errors of the best.
"""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from ..cv import Splits
from ..models import Candidate
from .backend import quiet, run_tasks
from .cost import choose_within_noise, paired_se
from .data import TrainingData
from .evaluation import evaluate_subset
from .metrics import GREATER_IS_BETTER, SCORERS, fold_stats
from .settings import ModelSettings

__all__ = ["permutation_importance_fold", "rank_importance", "search_feature_subsets"]


def permutation_importance_fold(
    est: Any,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    metric: str,
    n_repeats: int,
    random_state: int,
) -> np.ndarray:
    """Mean drop of ``metric`` per permuted feature on ``test`` after fitting on ``train``.

    NaN for every feature when the training or test rows hold one class only.
    """
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        return np.full(X.shape[1], np.nan)
    with quiet():
        est.fit(X[train], y[train])
        res = permutation_importance(
            est,
            X[test],
            y[test],
            scoring=SCORERS[metric],
            n_repeats=n_repeats,
            random_state=random_state,
            n_jobs=1,
        )
    return res.importances_mean


def rank_importance(
    cand: Candidate,
    params: dict[str, Any],
    data: TrainingData,
    sel_splits: Splits,
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Permutation importance on held-out spatial folds; impurity importance as a second view.

    Permutation importance is per original factor: the pipeline takes the raw columns, so a
    categorical factor's class codes are permuted as one column before any encoding.

    Returns
    -------
    ranking : list of dict
        ``feature, permutation_mean, permutation_sd, impurity`` per feature, most important first.
    order : list of int
        Column indices into ``data.features`` in ranking order.
    """
    X, y, feats = data.X, data.y, data.features
    jobs = [
        joblib.delayed(permutation_importance_fold)(
            cand.build(params),
            X,
            y,
            tr,
            te,
            settings.metric,
            settings.importance_repeats,
            random_state,
        )
        for tr, te in sel_splits
    ]
    perm = np.array(run_tasks(jobs, n_jobs))
    perm_mean = np.nanmean(perm, axis=0)
    perm_sd = np.nanstd(perm, axis=0, ddof=1) if len(perm) > 1 else np.zeros(len(feats))
    est = cand.build(params)
    with quiet():
        est.fit(X, y)
    impurity = getattr(est.steps[-1][1], "feature_importances_", None)
    if impurity is not None and len(impurity) != len(feats):
        impurity = None  # an encoder widened the input: no importance per original factor
    imp = np.zeros(len(feats)) if impurity is None else np.asarray(impurity)
    order = sorted(range(len(feats)), key=lambda j: (-perm_mean[j], -imp[j], feats[j]))
    ranking = [
        {
            "feature": feats[j],
            "permutation_mean": float(perm_mean[j]),
            "permutation_sd": float(perm_sd[j]),
            "impurity": float(imp[j]) if impurity is not None else None,
        }
        for j in order
    ]
    return ranking, order


def search_feature_subsets(
    cand: Candidate,
    params: dict[str, Any],
    data: TrainingData,
    order: list[int],
    sel_splits: Splits,
    ratio: float,
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every factor alone, incremental top-k by rank and forward selection, scored by spatial CV.

    The chosen subset has the fewest features among those within ``choice_se`` SE of the best
    subset, each judged by the corrected SE of its fold-by-fold difference to the best
    (``se_paired``, :func:`~.cost.paired_se`); among equally small ones, the best score wins.

    Returns
    -------
    combinations : list of dict
        Every subset tested: ``features, scheme, metric, mean, sd, se, method, n_features``.
    chosen : list of str
        The chosen subset, in ranking order.
    """
    X, y, feats, metric = data.X, data.y, data.features, settings.metric
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    combos: list[dict[str, Any]] = []
    seen: dict[tuple[int, ...], dict[str, Any]] = {}
    fold_values: dict[tuple[int, ...], np.ndarray] = {}

    def record(cols: tuple[int, ...], method: str) -> dict[str, Any]:
        key = tuple(sorted(cols))
        if key not in seen:
            vals = evaluate_subset(cand, params, X, y, cols, sel_splits, metric, n_jobs)
            fold_values[key] = vals
            seen[key] = {
                "features": [feats[j] for j in cols],
                "scheme": "spatial",
                "metric": metric,
                **fold_stats(vals, ratio),
                "method": method,
                "n_features": len(cols),
            }
            combos.append(seen[key])
        return seen[key]

    for j in range(len(feats)):  # every factor alone: the best single-factor model
        record((j,), "single")
    for k in range(1, min(settings.topk_max or len(feats), len(feats)) + 1):
        record(tuple(order[:k]), "top_k")
    pool = order[: min(settings.forward_pool, len(feats))]
    current: list[int] = []
    current_score = -np.inf
    while len(current) < min(settings.forward_max_features, len(pool)):
        options = [j for j in pool if j not in current]
        scores = [sign * record((*current, j), "forward")["mean"] for j in options]
        i = int(np.nanargmax(scores))
        if not scores[i] > current_score:
            break
        current_score = scores[i]
        current.append(options[i])
    # each subset against the best on the same folds (paired), not against the best's own SE
    paired = paired_se(fold_values, metric, ratio)
    for key, combo in seen.items():
        combo["se_paired"] = paired[key]
    table = pd.DataFrame(combos)
    table["rank_score"] = -sign * table["mean"]
    pick = choose_within_noise(table, metric, settings.choice_se, ["n_features", "rank_score"])
    return combos, list(pick["features"])
