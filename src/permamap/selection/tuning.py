"""Tuning without leakage: hold-out or nested grid search, with a one-standard-error rule.

``tuning="holdout"`` (default, cheap): a stratified share of the site locations is set aside once
(:func:`~permamap.selection.data.prepare_data`); each candidate's grid is searched on it with inner
CV of the matching kind (stratified-grouped for the random scheme, spatial clusters for the
spatial one), and all outer CV runs on the remaining sites, which never influenced a parameter.
``tuning="nested"``: a grid search inside every outer training fold (inner groups = the outer
scheme's sites/blocks/clusters), exact and ``~inner_folds × grid`` times costlier.
``tuning="none"``: registry defaults. Inside every search :func:`pick_one_se` picks the simplest
grid point whose score is within one SE of the best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from .metrics import SCORERS
from .settings import ModelSettings

__all__ = ["InnerSplits", "pick_one_se", "search_grid", "tune_candidates"]

#: Tuned parameters: candidate name -> scheme -> parameters.
Tuned = dict[str, dict[str, dict[str, Any]]]


def pick_one_se(
    means: Sequence[float], sds: Sequence[float], n_splits: int, n_se: float = 1.0
) -> int:
    """Index of the first (simplest) option whose mean is within ``n_se`` SE of the best.

    Options must be ordered simplest first; ``SE = sd_best / sqrt(n_splits)``.

    Examples
    --------
    >>> pick_one_se([0.80, 0.90, 0.91], [0.02, 0.02, 0.02], n_splits=4)
    1
    """
    m = np.asarray(means, dtype=float)
    if not np.isfinite(m).any():
        return 0
    best = int(np.nanargmax(m))
    se = float(np.asarray(sds, dtype=float)[best]) / np.sqrt(max(n_splits, 1))
    se = se if np.isfinite(se) else 0.0
    eligible = np.flatnonzero(np.nan_to_num(m, nan=-np.inf) >= m[best] - n_se * se)
    return int(eligible[0])


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
    idx = pick_one_se(res["mean_test_score"], res["std_test_score"], len(pairs), n_se)
    return dict(res["params"][idx])


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
        "spatial": InnerSplits(
            "spatial",
            spatial_clusters(data.lonlat_all, settings.inner_folds * 4, random_state=rs),
            settings.inner_folds,
            rs,
        ),
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
