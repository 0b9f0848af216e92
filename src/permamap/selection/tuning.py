"""Tuning without leakage: hold-out or nested grid search, with a one-standard-error rule.

``tuning="holdout"`` (default, cheap): a stratified share of the site locations is set aside once
(:func:`~permamap.selection.data.prepare_data`); each candidate's grid is searched on it with inner
CV of the matching kind (stratified-grouped for the random scheme, spatial clusters for the
spatial one), and all outer CV runs on the remaining sites, which never influenced a parameter.
``tuning="nested"``: a grid search inside every outer training fold (inner groups = the outer
scheme's sites/blocks/clusters), exact and ``~inner_folds × grid`` times costlier.
``tuning="none"``: registry defaults. Inside every search :func:`pick_one_se` picks the simplest
grid point whose score is within one paired SE of the best. :func:`retune_final` searches the
chosen candidate's grid again on every site with the chosen features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from ..cv import Splits, spatial_clusters
from ..errors import DataError
from ..models import Candidate
from .backend import quiet, run_tasks
from .data import TrainingData, location_ids
from .metrics import SCORERS, corrected_se
from .settings import ModelSettings

__all__ = ["InnerSplits", "pick_one_se", "retune_final", "search_grid", "tune_candidates"]

#: Tuned parameters: candidate name -> scheme -> parameters.
Tuned = dict[str, dict[str, dict[str, Any]]]


def pick_one_se(split_scores: Any, n_se: float = 1.0) -> int:
    """Index of the first (simplest) option within ``n_se`` paired SE of the best.

    ``split_scores`` is ``(options, splits)``: every option scored on the same inner folds,
    options ordered simplest first, greater is better. An option's SE is the Nadeau–Bengio
    corrected SE (:func:`~.metrics.corrected_se`, ``n_test / n_train = 1 / (k − 1)``) of its
    per-fold difference to the best, as in the feature and cost choices
    (:func:`~.cost.paired_se`): spatial folds differ much more from each other than the options
    differ on any one fold, and the SE of the best's own scores would call every option equal.

    Examples
    --------
    >>> pick_one_se([[0.80, 0.70, 0.90], [0.89, 0.82, 0.97], [0.90, 0.80, 1.00]])
    1
    >>> pick_one_se([[0.88, 0.78, 0.98], [0.90, 0.80, 1.00]])
    1
    """
    m = np.asarray(split_scores, dtype=float)
    means = np.array([np.nanmean(r) if np.isfinite(r).any() else -np.inf for r in m])
    if not np.isfinite(means).any():
        return 0
    best = int(np.argmax(means))
    ratio = 1.0 / max(m.shape[1] - 1, 1)
    for i in range(best):
        se = corrected_se(m[best] - m[i], ratio)
        if means[i] >= means[best] - n_se * (se if np.isfinite(se) else 0.0):
            return i
    return best


@dataclass(frozen=True)
class InnerSplits:
    """How to build inner (tuning) splits inside a set of rows.

    Attributes
    ----------
    kind : {"random", "spatial"}
        Stratified-grouped folds, or folds grouped by spatial units.
    groups : numpy.ndarray
        One group id per row of the arrays the search runs on.
    n_splits : int
    random_state : int
    """

    kind: str
    groups: np.ndarray
    n_splits: int
    random_state: int

    def splits(self, rows: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train, test) index pairs into ``rows`` (positions 0..len(rows)-1)."""
        g = self.groups[rows]
        k = int(min(self.n_splits, len(np.unique(g))))
        if k < 2:
            raise DataError(
                f"only {len(np.unique(g))} group(s) are available for inner tuning folds; "
                "use tuning='none' or more sites"
            )
        if self.kind == "random":
            cv: Any = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=self.random_state)
        else:
            cv = GroupKFold(n_splits=k)
        return list(cv.split(np.zeros(len(rows)), y[rows], g))


def search_grid(
    cand: Candidate,
    X: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    inner: InnerSplits,
    metric: str,
    n_se: float,
) -> dict[str, Any]:
    """Grid search on ``rows`` with inner CV; one-SE rule over the simplest-first grid."""
    points = cand.grid_points()
    if len(points) <= 1:
        return points[0] if points else {}
    pairs = inner.splits(rows, y)
    search = GridSearchCV(
        cand.build(),
        [{k: [v] for k, v in p.items()} for p in points],
        scoring=SCORERS[metric],
        cv=pairs,
        refit=False,
        n_jobs=1,
        error_score=np.nan,
    )
    with quiet(), threadpool_limits(1):
        search.fit(X[rows], y[rows])
    res = search.cv_results_
    split_scores = np.column_stack([res[f"split{i}_test_score"] for i in range(len(pairs))])
    return dict(res["params"][pick_one_se(split_scores, n_se)])


def _spatial_inner(lonlat: np.ndarray, settings: ModelSettings, random_state: int) -> InnerSplits:
    """Inner folds of spatial clusters (4 per fold) of the sites at ``lonlat``."""
    clusters = spatial_clusters(lonlat, settings.inner_folds * 4, random_state=random_state)
    return InnerSplits("spatial", clusters, settings.inner_folds, random_state)


def tune_candidates(
    cands: Mapping[str, Candidate],
    data: TrainingData,
    splits: Mapping[str, Splits],
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
) -> tuple[Tuned, dict[str, InnerSplits | None]]:
    """Hold-out tuning now, or the inner-split specs for nested tuning.

    Returns
    -------
    tuned : dict
        ``{candidate: {scheme: params}}`` for ``tuning="holdout"``; empty otherwise.
    inner : dict
        ``{scheme: InnerSplits}`` for ``tuning="nested"`` (each outer fold searches its grid);
        empty otherwise.
    """
    rs = random_state
    if settings.tuning == "nested":
        return {}, {
            "random": InnerSplits("random", location_ids(data.lonlat), settings.inner_folds, rs),
            # inner groups = the outer spatial units (blocks/clusters), set per repeat
            "spatial": InnerSplits("spatial", splits["spatial"].units[0], settings.inner_folds, rs),
        }
    if settings.tuning == "none":
        return {}, {}
    inner = {
        "random": InnerSplits("random", location_ids(data.lonlat_all), settings.inner_folds, rs),
        "spatial": _spatial_inner(data.lonlat_all, settings, rs),
    }
    keys = [(name, scheme) for name in cands for scheme in ("random", "spatial")]
    jobs = [
        joblib.delayed(search_grid)(
            cands[name],
            data.X_all,
            data.y_all,
            data.tune_rows,
            inner[scheme],
            settings.tuning_metric,
            settings.choice_se,
        )
        for name, scheme in keys
    ]
    tuned: Tuned = {}
    for (name, scheme), params in zip(keys, run_tasks(jobs, n_jobs), strict=True):
        tuned.setdefault(name, {})[scheme] = params
    return tuned, {}


def retune_final(
    cand: Candidate,
    params: Mapping[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    lonlat: np.ndarray,
    settings: ModelSettings,
    *,
    random_state: int = 0,
) -> dict[str, Any] | None:
    """The chosen candidate's grid searched again on every site, with the chosen features only.

    Hold-out tuning searches each grid on a fifth of the sites with every factor; the best
    regularisation for that sample is stronger than for all sites with the chosen factors (the
    virtual Eurasia: logistic regression's spatial-CV log-loss is best at C = 0.1 on the hold-out
    and at C ≥ 10 on all sites; C = 0.1 flattens the probabilities and widens the region at
    p ≥ 1 % by about 2 M km²). So before the final fit the grid is searched once more on
    ``X, y`` (every row) with inner spatial folds (clusters of ``lonlat``) and the tuning metric;
    the ensemble size the cost-aware choice set stays. The best grid point wins, without the
    one-SE rule: the simplest point is the most regularised one, whose probabilities are the
    flattest, and the maps' probabilities come from this fit. None when tuning is not
    ``"holdout"`` (``"nested"`` already tunes on four fifths of the sites per outer fold;
    ``"none"`` keeps the defaults) or the grid has one point.
    """
    size = cand.size_param
    keep = {size: params[size]} if size is not None and size in params else {}
    points = [{**p, **keep} for p in cand.grid_points()]
    unique = [dict(t) for t in dict.fromkeys(tuple(sorted(p.items())) for p in points)]
    if settings.tuning != "holdout" or len(unique) <= 1:
        return None
    inner = _spatial_inner(lonlat, settings, random_state)
    fixed = replace(cand, param_grid=[{k: [v] for k, v in p.items()} for p in unique])
    found = search_grid(fixed, X, y, np.arange(len(y)), inner, settings.tuning_metric, 0.0)
    return {**params, **found}
