"""Scoring one configuration on the stage's folds: per fold, per scheme, per feature subset.

Every function here fits fresh copies of a :class:`~permamap.models.Candidate` on the training
rows of each fold and scores P(class 1) on the test rows with :func:`~.metrics.fold_metrics`;
the folds are the :class:`~permamap.cv.Splits` computed once for the stage.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import joblib
import numpy as np

from ..cv import Splits
from ..models import Candidate
from .backend import quiet, run_tasks
from .metrics import METRICS, fold_metrics
from .settings import ModelSettings
from .tuning import InnerSplits, search_grid

__all__ = ["cv_scores", "evaluate_fold", "evaluate_subset", "fit_predict", "most_common_params"]

logger = logging.getLogger(__name__)


def fit_predict(
    est: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray | None:
    """Fit on ``train`` and return P(class 1) on ``test``; None when training has one class."""
    if len(np.unique(y[train])) < 2:
        return None
    with quiet():
        est.fit(X[train], y[train])
        proba = est.predict_proba(X[test])
    return proba[:, list(est.classes_).index(1)]


def evaluate_fold(
    cand: Candidate,
    params: dict[str, Any] | None,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    inner: InnerSplits | None,
    metric: str,
    n_se: float,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Scores of one outer fold (tuning inside it first when ``inner`` is given)."""
    if inner is not None:
        params = search_grid(cand, X, y, train, inner, metric, n_se)
    params = params or {}
    try:
        p = fit_predict(cand.build(params), X, y, train, test)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        logger.warning("%s failed on a fold (%s); its scores are NaN", cand.name, exc)
        p = None
    if p is None:
        return {m: float("nan") for m in METRICS}, params
    return fold_metrics(y[test], p), params


def cv_scores(
    name: str,
    cand: Candidate,
    params_by_scheme: Mapping[str, dict[str, Any] | None],
    X: np.ndarray,
    y: np.ndarray,
    splits: Mapping[str, Splits],
    inners: Mapping[str, InnerSplits | None],
    settings: ModelSettings,
    n_jobs: int,
) -> tuple[list[tuple[Any, ...]], dict[str, list[dict[str, Any]]]]:
    """Tidy score rows of one configuration under every scheme, plus the params used per fold."""
    jobs, keys = [], []
    for scheme, sp in splits.items():
        for (r, f), (tr, te) in zip(sp.keys(), sp, strict=True):
            inner = inners.get(scheme)
            if inner is not None and inner.kind == "spatial":
                # nested spatial tuning groups by this repeat's blocks/clusters
                inner = replace(inner, groups=sp.units[r])
            jobs.append(
                joblib.delayed(evaluate_fold)(
                    cand,
                    params_by_scheme.get(scheme),
                    X,
                    y,
                    tr,
                    te,
                    inner,
                    settings.metric,
                    settings.choice_se,
                )
            )
            keys.append((scheme, r, f))
    results = run_tasks(jobs, n_jobs)
    rows: list[tuple[Any, ...]] = []
    used: dict[str, list[dict[str, Any]]] = {s: [] for s in splits}
    for (scheme, r, f), (mets, params) in zip(keys, results, strict=True):
        used[scheme].append(params)
        rows.extend((name, scheme, r, f, m, mets[m]) for m in METRICS)
    return rows, used


def evaluate_subset(
    cand: Candidate,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    cols: Sequence[int],
    splits: Splits,
    metric: str,
    n_jobs: int,
) -> np.ndarray:
    """Per-fold ``metric`` of one feature subset on ``splits`` (fixed parameters).

    ``cand`` describes the columns of ``X``; its categorical columns follow the subset
    (:meth:`~permamap.models.Candidate.select`).
    """
    cand = cand.select(list(cols))
    Xs = np.ascontiguousarray(X[:, list(cols)])
    jobs = [
        joblib.delayed(evaluate_fold)(cand, params, Xs, y, tr, te, None, metric, 0.0)
        for tr, te in splits
    ]
    return np.array([m[metric] for m, _ in run_tasks(jobs, n_jobs)])


def most_common_params(used: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameter set chosen most often across folds (first seen wins ties)."""
    if not used:
        return {}
    keyed = [tuple(sorted((k, repr(v)) for k, v in p.items())) for p in used]
    top = Counter(keyed).most_common(1)[0][0]
    return used[keyed.index(top)]


#: Prediction costs below this (s per million cells) are all "free": cheaper than reading the factors.
FREE_COST_S_PER_MILLION = 0.5
