"""The model stage: compare candidates under random and spatial CV, select features, fit a model.

Steps, each reusing the same :class:`~permamap.cv.Splits` (computed once):

1. **Splits** – repeated stratified k-fold on rows (the published protocol) and spatial CV (kNNDM
   or data-sized spatial blocks) on site positions.
2. **Tuning without leakage** – ``tuning="holdout"`` (default, cheap): a stratified share of the
   site locations (``tuning_fraction``) is set aside once; each candidate's grid is searched on it
   with inner CV of the matching kind (stratified-grouped for the random scheme, spatial clusters
   for the spatial one), and all outer CV runs on the remaining sites, which never influenced a
   parameter. ``tuning="nested"``: a grid search inside every outer training fold (inner groups =
   the outer scheme's sites/blocks/clusters), exact and ``~inner_folds × grid`` times costlier.
   ``tuning="none"``: registry defaults. Inside every search a one-standard-error rule picks the
   simplest grid point whose score is within one SE of the best.
3. **Comparison** – per fold: accuracy, F1, ROC AUC, PR AUC (average precision), Cohen's kappa
   and Brier score → ``cv_scores.csv``; mean, sd and a 95 % interval per model and scheme
   (Nadeau–Bengio corrected t interval, which accounts for the overlap of training sets across
   folds); paired comparison of the best against the rest on identical folds.
4. **Cost-aware choice** – each candidate's prediction cost (single-core seconds per million cells,
   measured here) beside its spatial-CV score; the cheapest candidate within ``choice_se``
   standard errors of the best spatial score wins; for ensembles, sizes in ``size_variants`` are
   then compared the same way. The skill-vs-cost front goes to ``selection.json``.
5. **Feature selection** – permutation importance on held-out spatial folds (impurity importance
   as a second view), then incremental top-k and forward selection driven by spatial CV; the subset
   with the fewest features among those within one SE of the best wins.
6. **Final model** on all sites (tuning subset included) with the chosen features and parameters,
   saved with skops plus ``model_card.json``.

Random CV rows are site × epoch rows, as published; both spatial schemes keep all rows at one
location in one fold.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import permutation_importance
from sklearn.metrics import average_precision_score, cohen_kappa_score, make_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedGroupKFold
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .cv import KNNDMKFold, SpatialBlockKFold, Splits, spatial_clusters
from .errors import ConfigError, DataError
from .modelio import (
    FeatureGuard,
    _jsonable,
    atomic_write_text,
    package_versions,
    save_model,
    training_hash,
)
from .models import GRID_SIZES, Candidate, available_candidates, make_candidate

__all__ = [
    "GREATER_IS_BETTER",
    "METRICS",
    "ModelSettings",
    "ModelStageResult",
    "choose_within_noise",
    "fold_metrics",
    "paired_comparison",
    "pick_one_se",
    "prediction_cost",
    "run_model_stage",
    "summarize_scores",
]

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "f1", "roc_auc", "pr_auc", "kappa", "brier")
GREATER_IS_BETTER = {m: m != "brier" for m in METRICS}
_SCORERS: dict[str, Any] = {
    "accuracy": "accuracy",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "kappa": make_scorer(cohen_kappa_score),
    "brier": "neg_brier_score",
}
SCORE_COLUMNS = ["model", "scheme", "repeat", "fold", "metric", "value"]
FINAL = "final"

DEMO_CANDIDATES = (
    "logistic_regression",
    "lda",
    "gaussian_nb",
    "knn",
    "decision_tree",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
)


# =========================================================================== settings
@dataclass(frozen=True)
class ModelSettings:
    """Validated settings of the model stage (defaults = the demo profile).

    Attributes
    ----------
    candidates : tuple of str
        Registry names (:mod:`permamap.models`).
    grid : {"full", "small", "none"}
    n_repeats, n_folds : int
        Repeats × folds of both CV schemes (published: 40 × 5).
    spatial_method : {"knndm", "block"}
    block_size_km : float or None
        Block edge for ``"block"``; None = the labels' autocorrelation range.
    knndm_nk_len, knndm_maxp : int, float
        kNNDM's number of cluster counts tried per repeat and largest fold share.
    prediction_bounds : (west, south, east, north)
        Domain sampled as kNNDM prediction points when none are passed.
    tuning : {"holdout", "nested", "none"}
    tuning_fraction : float
        Share of site locations set aside for ``"holdout"`` tuning.
    inner_folds : int
    metric : str
        Metric that drives tuning, the choice and feature selection.
    choice_se : float
        Width of the "within noise" band, in standard errors.
    importance_repeats : int
        Permutations per feature and fold.
    selection_repeats : int
        Repeats of the spatial splits used by importance and combination tests.
    topk_max : int or None
        Largest k of the incremental top-k test (None = all features).
    forward_pool, forward_max_features : int
        Forward selection searches the top ``forward_pool`` features, up to
        ``forward_max_features`` steps.
    size_variants : tuple of int
        Ensemble sizes compared for the chosen family.
    front_repeats : int
        Repeats of the spatial splits used for the size comparison.
    cost_rows : int
        Rows predicted when timing a model.
    costs : mapping or None
        Fixed prediction costs (s per million cells) by candidate name, replacing measurement
        (for bit-identical reruns).
    backend : {"loky", "threading", "dask"}
        joblib backend; ``"dask"`` uses ``scheduler`` or a LocalCluster.
    scheduler : str or None
        Address of a dask.distributed scheduler.
    """

    candidates: tuple[str, ...] = DEMO_CANDIDATES
    grid: str = "small"
    n_repeats: int = 3
    n_folds: int = 5
    spatial_method: str = "knndm"
    block_size_km: float | None = None
    knndm_nk_len: int = 20
    knndm_maxp: float = 0.5
    prediction_bounds: tuple[float, float, float, float] = (25.0, 25.0, 180.0, 84.0)
    tuning: str = "holdout"
    tuning_fraction: float = 0.2
    inner_folds: int = 3
    metric: str = "accuracy"
    choice_se: float = 1.0
    importance_repeats: int = 3
    selection_repeats: int = 1
    topk_max: int | None = None
    forward_pool: int = 8
    forward_max_features: int = 6
    size_variants: tuple[int, ...] = (25, 50, 100, 200)
    front_repeats: int = 1
    cost_rows: int = 20_000
    costs: Mapping[str, float] | None = None
    backend: str = "loky"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        def bad(name: str, rule: str, fix: str) -> ConfigError:
            return ConfigError(f"model setting {name}={getattr(self, name)!r} {rule}; {fix}")

        known = set(available_candidates())
        if not self.candidates:
            raise bad("candidates", "is empty", f"list at least one of {sorted(known)}")
        unknown = [c for c in self.candidates if c not in known]
        if unknown:
            raise bad(
                "candidates",
                f"names {unknown} that are unknown or not installed",
                f"choose from {sorted(known)}",
            )
        if len(set(self.candidates)) != len(self.candidates):
            raise bad("candidates", "lists a name twice", "remove the duplicate")
        choices = {
            "grid": GRID_SIZES,
            "spatial_method": ("knndm", "block"),
            "tuning": ("holdout", "nested", "none"),
            "metric": METRICS,
            "backend": ("loky", "threading", "dask"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise bad(name, "is not allowed", f"use one of {list(allowed)}")
        minima = {
            "n_repeats": 1,
            "n_folds": 2,
            "knndm_nk_len": 1,
            "inner_folds": 2,
            "importance_repeats": 1,
            "selection_repeats": 1,
            "forward_pool": 1,
            "forward_max_features": 1,
            "front_repeats": 1,
            "cost_rows": 100,
        }
        for name, lo in minima.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise bad(name, f"must be an integer >= {lo}", f"set it to at least {lo}")
        if self.topk_max is not None and (not isinstance(self.topk_max, int) or self.topk_max < 1):
            raise bad("topk_max", "must be a positive integer or None", "e.g. 20")
        if not 0.05 <= self.tuning_fraction <= 0.5:
            raise bad("tuning_fraction", "must lie in [0.05, 0.5]", "e.g. 0.2")
        if not 1 / self.n_folds < self.knndm_maxp < 1:
            raise bad(
                "knndm_maxp",
                f"must lie in (1/n_folds, 1) = ({1 / self.n_folds:.2f}, 1)",
                "e.g. 0.5",
            )
        if self.choice_se < 0:
            raise bad("choice_se", "must be >= 0", "e.g. 1.0")
        if self.block_size_km is not None and not self.block_size_km > 0:
            raise bad("block_size_km", "must be positive or None", "None derives it from data")
        if any((not isinstance(s, int)) or s < 1 for s in self.size_variants):
            raise bad("size_variants", "must hold positive integers", "e.g. [50, 100, 200]")
        w, s, e, n = self.prediction_bounds
        if not (w < e and s < n):
            raise bad("prediction_bounds", "is not (west, south, east, north)", "fix the order")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSettings:
        """Build from a config mapping (e.g. the ``[models]`` TOML table), checking every key."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown model setting(s) {unknown}; allowed keys are {sorted(names)}"
            )
        kw = dict(d)
        for key in ("candidates", "size_variants", "prediction_bounds"):
            if key in kw and isinstance(kw[key], list | tuple):
                kw[key] = tuple(kw[key])
        if "costs" in kw and kw["costs"] is not None:
            kw["costs"] = dict(kw["costs"])
        try:
            return cls(**kw)
        except TypeError as exc:  # e.g. comparing a string with a number in validation
            raise ConfigError(
                f"model settings {dict(d)} have a value of the wrong type: {exc}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def demo(cls) -> ModelSettings:
        """Fast profile: 8 candidates, small grids, 3 × 5 CV (≈ 1–3 min on 2 cores)."""
        return cls()

    @classmethod
    def published(cls) -> ModelSettings:
        """The published protocol: 13 candidates (+ LightGBM/XGBoost when installed), full grids,
        40 × 5 random and spatial CV."""
        return cls(
            candidates=available_candidates(),
            grid="full",
            n_repeats=40,
            n_folds=5,
            knndm_nk_len=30,
            inner_folds=5,
            importance_repeats=5,
            selection_repeats=2,
            forward_pool=12,
            forward_max_features=10,
            size_variants=(50, 100, 200, 500),
            front_repeats=2,
            cost_rows=100_000,
        )


# =========================================================================== metrics
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


def _corrected_se(values: np.ndarray, ratio: float) -> float:
    """Nadeau–Bengio standard error of a CV mean: sqrt((1/J + n_test/n_train) s²)."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return float("nan")
    return float(np.sqrt((1 / len(v) + ratio) * np.var(v, ddof=1)))


def summarize_scores(scores: pd.DataFrame, ratios: Mapping[str, float]) -> pd.DataFrame:
    """Mean, sd, corrected SE and 95 % interval per model, scheme and metric.

    ``ratios`` maps scheme to the mean ``n_test / n_train`` of its folds
    (:meth:`Splits.test_train_ratio`).
    The interval is ``mean ± t(0.975, J-1) · SE`` with the Nadeau–Bengio corrected SE, because the
    J fold scores of repeated CV are not independent.
    """
    rows = []
    for (model, scheme, metric), g in scores.groupby(["model", "scheme", "metric"], sort=False):
        v = g["value"].to_numpy(dtype=float)
        ok = v[np.isfinite(v)]
        mean = float(ok.mean()) if ok.size else float("nan")
        sd = float(ok.std(ddof=1)) if ok.size > 1 else float("nan")
        se = _corrected_se(v, ratios.get(str(scheme), 0.25))
        half = float(stats.t.ppf(0.975, ok.size - 1) * se) if ok.size > 1 else float("nan")
        rows.append((model, scheme, metric, mean, sd, se, mean - half, mean + half, ok.size))
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
        se = _corrected_se(d, ratio)
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


# =========================================================================== parallel
@contextmanager
def _parallel_backend(settings: ModelSettings, n_jobs: int) -> Iterator[None]:
    """joblib on one machine, or the same joblib calls on a dask.distributed cluster."""
    if settings.backend != "dask" and settings.scheduler is None:
        with joblib.parallel_config(backend=settings.backend, n_jobs=n_jobs):
            yield
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "backend='dask' needs dask.distributed; pip install 'permamap[dask]' or use "
            "backend='loky'"
        ) from exc
    cluster = None
    if settings.scheduler:
        client = Client(settings.scheduler)
    else:
        workers = joblib.cpu_count() if n_jobs < 1 else n_jobs
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
    try:
        with joblib.parallel_config(backend="dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(tasks: list[Any], n_jobs: int) -> list[Any]:
    if not tasks:
        return []
    return joblib.Parallel(n_jobs=n_jobs)(tasks)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence convergence and collinearity chatter of candidates inside one task."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*[Cc]ollinear.*")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


# =========================================================================== tuning
@dataclass(frozen=True)
class _Inner:
    """How to build inner (tuning) splits inside a set of rows."""

    kind: str  # "random" (stratified-grouped) or "spatial" (grouped by spatial units)
    groups: np.ndarray  # one group id per row of the full table
    n_splits: int
    seed: int

    def splits(self, rows: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        g = self.groups[rows]
        k = int(min(self.n_splits, len(np.unique(g))))
        if k < 2:
            raise DataError(
                f"only {len(np.unique(g))} group(s) are available for inner tuning folds; "
                "use tuning='none' or more sites"
            )
        if self.kind == "random":
            cv: Any = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=self.seed)
        else:
            cv = GroupKFold(n_splits=k)
        return list(cv.split(np.zeros(len(rows)), y[rows], g))


def _search(
    cand: Candidate,
    X: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    inner: _Inner,
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
        scoring=_SCORERS[metric],
        cv=pairs,
        refit=False,
        n_jobs=1,
        error_score=np.nan,
    )
    with _quiet(), threadpool_limits(1):
        search.fit(X[rows], y[rows])
    res = search.cv_results_
    idx = pick_one_se(res["mean_test_score"], res["std_test_score"], len(pairs), n_se)
    return dict(res["params"][idx])


# =========================================================================== fold evaluation
def _fit_predict(
    est: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray | None:
    """Fit on ``train`` and return P(class 1) on ``test``; None when training has one class."""
    if len(np.unique(y[train])) < 2:
        return None
    with _quiet():
        est.fit(X[train], y[train])
        proba = est.predict_proba(X[test])
    return proba[:, list(est.classes_).index(1)]


def _evaluate_fold(
    cand: Candidate,
    params: dict[str, Any] | None,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    inner: _Inner | None,
    metric: str,
    n_se: float,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Scores of one outer fold (tuning inside it first when ``inner`` is given)."""
    if inner is not None:
        params = _search(cand, X, y, train, inner, metric, n_se)
    params = params or {}
    try:
        p = _fit_predict(cand.build(params), X, y, train, test)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        logger.warning("%s failed on a fold (%s); its scores are NaN", cand.name, exc)
        p = None
    if p is None:
        return {m: float("nan") for m in METRICS}, params
    return fold_metrics(y[test], p), params


def _cv_scores(
    name: str,
    cand: Candidate,
    params_by_scheme: Mapping[str, dict[str, Any] | None],
    X: np.ndarray,
    y: np.ndarray,
    splits: Mapping[str, Splits],
    inners: Mapping[str, _Inner | None],
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
                joblib.delayed(_evaluate_fold)(
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
    results = _run(jobs, n_jobs)
    rows: list[tuple[Any, ...]] = []
    used: dict[str, list[dict[str, Any]]] = {s: [] for s in splits}
    for (scheme, r, f), (mets, params) in zip(keys, results, strict=True):
        used[scheme].append(params)
        rows.extend((name, scheme, r, f, m, mets[m]) for m in METRICS)
    return rows, used


# =========================================================================== cost
def prediction_cost(
    estimator: Any, X: np.ndarray, *, n_rows: int = 100_000, repeats: int = 3, seed: int = 0
) -> float:
    """Single-core seconds to predict one million cells with a fitted ``estimator``.

    Rows are resampled from ``X`` (so trees follow realistic paths); the best of ``repeats``
    timings is scaled to 10⁶ rows. Measured with one thread so candidates compare fairly; a map
    run divides it by the workers it uses.
    """
    rng = np.random.default_rng(seed)
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


# =========================================================================== result
@dataclass(frozen=True, eq=False)
class ModelStageResult:
    """What :func:`run_model_stage` returns (and wrote to ``out_dir``)."""

    model: FeatureGuard
    features: list[str]
    card: dict[str, Any]
    summary: dict[str, Any]
    scores: pd.DataFrame
    selection: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    #: spatial-CV fold of each table row (first repeat); -1 for rows set aside for tuning.
    #: The area of applicability uses it so that a site's nearest neighbour in its own fold
    #: does not count (Meyer & Pebesma 2021).
    spatial_folds: np.ndarray | None = None


# =========================================================================== input checks
def _check_table(
    table: pd.DataFrame, features: Sequence[str], settings: ModelSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    feats = [str(f) for f in features]
    if not feats:
        raise ConfigError("features is empty; pass the factor columns of the feature table")
    dup = sorted({f for f in feats if feats.count(f) > 1})
    if dup:
        raise ConfigError(f"features {dup} are listed twice; list each factor once")
    required = ["site_id", "lon", "lat", "label", *feats]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"the feature table lacks column(s) {missing}; it needs site_id, lon, lat, label and "
            "one column per feature (docs/contracts.md, 'Feature table')"
        )
    if len(table) == 0:
        raise DataError("the feature table is empty; extract features for at least some sites")
    non_num = [f for f in feats if not pd.api.types.is_numeric_dtype(table[f])]
    if non_num:
        raise DataError(
            f"feature column(s) {non_num} are not numeric; factors must be float columns; "
            "encode or drop them"
        )
    X = table[feats].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        per_feature = {feats[j]: int(bad[:, j].sum()) for j in np.flatnonzero(bad.any(axis=0))}
        ids = table.loc[bad.any(axis=1), "site_id"].astype(str).head(5).tolist()
        raise DataError(
            f"NaN or infinite factor values: {per_feature} (rows per feature; e.g. sites {ids}); "
            "the model stage needs complete factors; drop those rows or fill the covariate gaps "
            "before training"
        )
    lab = pd.to_numeric(table["label"], errors="coerce")
    if lab.isna().any() or not lab.isin([0, 1]).all():
        odd = sorted({str(v) for v in table["label"][lab.isna() | ~lab.isin([0, 1])]})[:5]
        raise DataError(
            f"label holds values {odd} besides 0 and 1; labels must be 1 (permafrost) or 0; "
            "drop unclear sites (label <NA>) before the model stage"
        )
    y = lab.to_numpy(dtype=int)
    counts = np.bincount(y, minlength=2)
    if (counts == 0).any():
        only = int(np.argmax(counts))
        raise DataError(
            f"all {len(y)} rows have label {only}; a classifier needs both permafrost (1) and "
            "non-permafrost (0) sites; add sites of the missing class (e.g. pseudo-absences)"
        )
    if counts.min() < settings.n_folds:
        raise DataError(
            f"class counts {counts.tolist()} (0, 1) are too few for {settings.n_folds} folds; "
            f"each class needs at least n_folds rows; add sites or set n_folds <= {counts.min()}"
        )
    lonlat = table[["lon", "lat"]].to_numpy(dtype=np.float64)
    if not np.isfinite(lonlat).all():
        raise DataError("lon/lat hold NaN; every site needs coordinates; drop those rows in QC")
    n_loc = len(np.unique(lonlat, axis=0))
    need = settings.n_folds * (3 if settings.tuning == "holdout" else 2)
    if n_loc < need:
        raise DataError(
            f"{n_loc} distinct site locations are too few for {settings.n_folds}-fold spatial CV "
            f"(need at least {need}); add sites or lower n_folds"
        )
    return X, y, lonlat, feats


def _location_ids(lonlat: np.ndarray) -> np.ndarray:
    return np.unique(lonlat, axis=0, return_inverse=True)[1].ravel()


def _tuning_rows(
    loc: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified share of locations (by majority label) for tuning: (tune, evaluate) rows."""
    rng = check_random_state(seed)
    n_loc = loc.max() + 1
    maj = np.bincount(loc, weights=y, minlength=n_loc) / np.bincount(loc, minlength=n_loc) >= 0.5
    chosen = []
    for cls in (False, True):
        ids = np.flatnonzero(maj == cls)
        take = round(fraction * len(ids))
        chosen.append(rng.permutation(ids)[:take])
    tune_loc = np.zeros(n_loc, dtype=bool)
    tune_loc[np.concatenate(chosen)] = True
    rows = np.arange(len(loc))
    return rows[tune_loc[loc]], rows[~tune_loc[loc]]


# =========================================================================== the stage
def _spatial_splits(
    lonlat: np.ndarray,
    y: np.ndarray,
    settings: ModelSettings,
    seed: int,
    prediction_lonlat: Any,
) -> Splits:
    if settings.spatial_method == "block":
        splitter: Any = SpatialBlockKFold(
            settings.n_folds,
            block_size_km=settings.block_size_km,
            n_repeats=settings.n_repeats,
            random_state=seed,
        )
    else:
        if prediction_lonlat is None:
            from .cv import prediction_domain_points

            prediction_lonlat = prediction_domain_points(settings.prediction_bounds)
        splitter = KNNDMKFold(
            settings.n_folds,
            prediction_lonlat=prediction_lonlat,
            n_repeats=settings.n_repeats,
            clustering="kmeans" if settings.n_repeats > 1 else "hierarchical",
            maxp=settings.knndm_maxp,
            nk_len=settings.knndm_nk_len,
            random_state=seed,
        )
    splits = Splits.from_splitter("spatial", splitter, lonlat, y)
    splits.info["method"] = settings.spatial_method
    return splits


def _params_of(used: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameter set chosen most often across folds (first seen wins ties)."""
    if not used:
        return {}
    keyed = [tuple(sorted((k, repr(v)) for k, v in p.items())) for p in used]
    top = Counter(keyed).most_common(1)[0][0]
    return used[keyed.index(top)]


#: Prediction costs below this (s per million cells) are all "free": cheaper than reading the factors.
FREE_COST_S_PER_MILLION = 0.5


def cost_class(cost_s_per_million: np.ndarray) -> np.ndarray:
    """Bin measured prediction costs so that timing noise cannot flip the choice.

    Costs under :data:`FREE_COST_S_PER_MILLION` form class 0; above it, classes are a factor of two
    wide. Within the noise band of the best score, the cheapest class wins and, inside a class,
    the better score (then the name), so reruns with the same seed choose the same model.

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
    se = float(table["se"].iloc[best])
    se = se if np.isfinite(se) else 0.0
    eligible = table[score >= score.iloc[best] - n_se * se]
    return eligible.sort_values(list(order_by), kind="stable").iloc[0]


def _evaluate_subset(
    cand: Candidate,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    cols: Sequence[int],
    splits: Splits,
    metric: str,
    n_jobs: int,
) -> np.ndarray:
    """Per-fold ``metric`` of one feature subset on ``splits`` (fixed parameters)."""
    Xs = np.ascontiguousarray(X[:, list(cols)])
    jobs = [
        joblib.delayed(_evaluate_fold)(cand, params, Xs, y, tr, te, None, metric, 0.0)
        for tr, te in splits
    ]
    return np.array([m[metric] for m, _ in _run(jobs, n_jobs)])


def _perm_importance_fold(
    est: Any,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    metric: str,
    n_repeats: int,
    seed: int,
) -> np.ndarray:
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        return np.full(X.shape[1], np.nan)
    with _quiet():
        est.fit(X[train], y[train])
        res = permutation_importance(
            est,
            X[test],
            y[test],
            scoring=_SCORERS[metric],
            n_repeats=n_repeats,
            random_state=seed,
            n_jobs=1,
        )
    return res.importances_mean


def _timed(timings: dict[str, float], key: str) -> Callable[[], None]:
    t0 = time.perf_counter()

    def stop() -> None:
        timings[key] = round(time.perf_counter() - t0, 2)

    return stop


def _stats(vals: np.ndarray, ratio: float) -> dict[str, float]:
    ok = vals[np.isfinite(vals)]
    return {
        "mean": float(ok.mean()) if ok.size else float("nan"),
        "sd": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
        "se": _corrected_se(vals, ratio),
    }


@dataclass(frozen=True, eq=False)
class _Data:
    """The checked table: all rows (for the final fit) and the evaluation rows (for CV)."""

    X_all: np.ndarray
    y_all: np.ndarray
    lonlat_all: np.ndarray
    features: list[str]
    tune_rows: np.ndarray
    eval_rows: np.ndarray

    @property
    def X(self) -> np.ndarray:
        return self.X_all[self.eval_rows]

    @property
    def y(self) -> np.ndarray:
        return self.y_all[self.eval_rows]

    @property
    def lonlat(self) -> np.ndarray:
        return self.lonlat_all[self.eval_rows]


def _prepare(
    table: pd.DataFrame, features: Sequence[str], settings: ModelSettings, seed: int
) -> _Data:
    X_all, y_all, lonlat_all, feats = _check_table(table, features, settings)
    if settings.tuning == "holdout":
        loc = _location_ids(lonlat_all)
        tune_rows, eval_rows = _tuning_rows(loc, y_all, settings.tuning_fraction, seed)
    else:
        tune_rows, eval_rows = np.array([], dtype=int), np.arange(len(y_all))
    counts = np.bincount(y_all[eval_rows], minlength=2)
    if (counts < settings.n_folds).any():
        raise DataError(
            f"after setting aside {len(tune_rows)} tuning rows, class counts {counts.tolist()} "
            f"cannot fill {settings.n_folds} folds; lower tuning_fraction, use tuning='nested' "
            "or add sites"
        )
    return _Data(X_all, y_all, lonlat_all, feats, tune_rows, eval_rows)


def _tune(
    cands: Mapping[str, Candidate],
    data: _Data,
    splits: Mapping[str, Splits],
    settings: ModelSettings,
    seed: int,
    n_jobs: int,
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, _Inner | None]]:
    """Holdout tuning now (params per candidate and scheme), or inner specs for nested tuning."""
    if settings.tuning == "nested":
        return {}, {
            "random": _Inner("random", _location_ids(data.lonlat), settings.inner_folds, seed),
            # inner groups = the outer spatial units (blocks/clusters), set per repeat
            "spatial": _Inner("spatial", splits["spatial"].units[0], settings.inner_folds, seed),
        }
    if settings.tuning == "none":
        return {}, {}
    inner = {
        "random": _Inner("random", _location_ids(data.lonlat_all), settings.inner_folds, seed),
        "spatial": _Inner(
            "spatial",
            spatial_clusters(data.lonlat_all, settings.inner_folds * 4, random_state=seed),
            settings.inner_folds,
            seed,
        ),
    }
    keys = [(name, scheme) for name in cands for scheme in ("random", "spatial")]
    jobs = [
        joblib.delayed(_search)(
            cands[name],
            data.X_all,
            data.y_all,
            data.tune_rows,
            inner[scheme],
            settings.metric,
            settings.choice_se,
        )
        for name, scheme in keys
    ]
    tuned: dict[str, dict[str, dict[str, Any]]] = {}
    for (name, scheme), params in zip(keys, _run(jobs, n_jobs), strict=True):
        tuned.setdefault(name, {})[scheme] = params
    return tuned, {}


@dataclass(frozen=True, eq=False)
class _Choice:
    name: str
    params: dict[str, Any]
    best_name: str
    cost: float
    front: pd.DataFrame
    size_front: list[dict[str, Any]]


def _measured_cost(
    cand: Candidate,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    settings: ModelSettings,
    seed: int,
) -> float:
    """Fit ``cand`` with ``params`` on the evaluation rows and time its prediction."""
    est = cand.build(params)
    with _quiet():
        est.fit(X, y)
    return prediction_cost(est, X, n_rows=settings.cost_rows, seed=seed)


def _pareto(mean: np.ndarray, cost: np.ndarray) -> list[bool]:
    """True where no other option is at least as good and as cheap, and better in one."""
    return [
        not np.any((mean >= m) & (cost <= c) & ((mean > m) | (cost < c)))
        for m, c in zip(mean, cost, strict=True)
    ]


def _choose(
    cands: Mapping[str, Candidate],
    summary: pd.DataFrame,
    used_params: Mapping[str, Mapping[str, list[dict[str, Any]]]],
    data: _Data,
    splits: Mapping[str, Splits],
    ratios: Mapping[str, float],
    settings: ModelSettings,
    seed: int,
    n_jobs: int,
) -> _Choice:
    """Cheapest candidate within ``choice_se`` SE of the best spatial score, then its size."""
    metric, sign = settings.metric, (1.0 if GREATER_IS_BETTER[settings.metric] else -1.0)
    X, y = data.X, data.y
    params_of = {n: _params_of(used_params[n]["spatial"]) for n in cands}
    front = summary[(summary["scheme"] == "spatial") & (summary["metric"] == metric)]
    front = front.set_index("model").loc[list(cands), ["mean", "sd", "se"]].reset_index()
    front["cost_s_per_million"] = [
        float(settings.costs[n])
        if settings.costs and n in settings.costs
        else _measured_cost(cands[n], params_of[n], X, y, settings, seed)
        for n in front["model"]
    ]
    front["pareto"] = _pareto(
        sign * front["mean"].to_numpy(), front["cost_s_per_million"].to_numpy()
    )
    front["cost_class"] = cost_class(front["cost_s_per_million"].to_numpy())
    front["neg_score"] = -sign * front["mean"]
    choice = choose_within_noise(
        front, metric, settings.choice_se, ["cost_class", "neg_score", "model"]
    )
    name = str(choice["model"])
    best_name = str(front.iloc[int(np.nanargmax(sign * front["mean"].to_numpy()))]["model"])
    front["chosen"] = front["model"] == name
    cand, params = cands[name], dict(params_of[name])
    cost = float(choice["cost_s_per_million"])
    size_front: list[dict[str, Any]] = []
    if cand.size_param and settings.size_variants:
        # Same spatial folds, only the ensemble size changes: skill vs prediction cost.
        front_splits = splits["spatial"].head(settings.front_repeats)
        current = params.get(cand.size_param) or cand.estimator.get_params()[cand.size_param]
        recs = []
        for size in sorted(set(settings.size_variants) | {int(current)}):
            p = {**params, cand.size_param: size}
            vals = _evaluate_subset(cand, p, X, y, range(X.shape[1]), front_splits, metric, n_jobs)
            recs.append(
                {
                    "size": size,
                    **_stats(vals, ratios["spatial"]),
                    "cost_s_per_million": _measured_cost(cand, p, X, y, settings, seed),
                }
            )
        size_df = pd.DataFrame(recs)
        pick = choose_within_noise(
            size_df, metric, settings.choice_se, ["cost_s_per_million", "size"]
        )
        params[cand.size_param] = int(pick["size"])
        cost = float(pick["cost_s_per_million"])
        size_df["chosen"] = size_df["size"] == int(pick["size"])
        size_front = size_df.to_dict(orient="records")
    logger.info("cost-aware choice: %s %s (best score: %s)", name, params, best_name)
    return _Choice(name, params, best_name, cost, front, size_front)


def _rank_importance(
    cand: Candidate,
    params: dict[str, Any],
    data: _Data,
    sel_splits: Splits,
    settings: ModelSettings,
    seed: int,
    n_jobs: int,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Permutation importance on held-out spatial folds; impurity importance as a second view."""
    X, y, feats = data.X, data.y, data.features
    jobs = [
        joblib.delayed(_perm_importance_fold)(
            cand.build(params), X, y, tr, te, settings.metric, settings.importance_repeats, seed
        )
        for tr, te in sel_splits
    ]
    perm = np.array(_run(jobs, n_jobs))
    perm_mean = np.nanmean(perm, axis=0)
    perm_sd = np.nanstd(perm, axis=0, ddof=1) if len(perm) > 1 else np.zeros(len(feats))
    est = cand.build(params)
    with _quiet():
        est.fit(X, y)
    impurity = getattr(est.steps[-1][1], "feature_importances_", None)
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


def _test_combinations(
    cand: Candidate,
    params: dict[str, Any],
    data: _Data,
    order: list[int],
    sel_splits: Splits,
    ratio: float,
    settings: ModelSettings,
    n_jobs: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Incremental top-k by rank and forward selection, scored by spatial CV.

    The chosen subset has the fewest features among those within ``choice_se`` SE of the best
    subset; among equally small ones, the best score wins.
    """
    X, y, feats, metric = data.X, data.y, data.features, settings.metric
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    combos: list[dict[str, Any]] = []
    seen: dict[tuple[int, ...], dict[str, Any]] = {}

    def record(cols: tuple[int, ...], method: str) -> dict[str, Any]:
        key = tuple(sorted(cols))
        if key not in seen:
            vals = _evaluate_subset(cand, params, X, y, cols, sel_splits, metric, n_jobs)
            seen[key] = {
                "features": [feats[j] for j in cols],
                "scheme": "spatial",
                "metric": metric,
                **_stats(vals, ratio),
                "method": method,
                "n_features": len(cols),
            }
            combos.append(seen[key])
        return seen[key]

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
    table = pd.DataFrame(combos)
    table["rank_score"] = -sign * table["mean"]
    pick = choose_within_noise(table, metric, settings.choice_se, ["n_features", "rank_score"])
    return combos, list(pick["features"])


def _cv_block(summary: pd.DataFrame, scheme: str, keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, r in summary[summary["scheme"] == scheme].iterrows():
        d = {"mean": r["mean"], "sd": r["sd"], "ci95": [r["ci_low"], r["ci_high"]]}
        out[str(r["metric"])] = {k: d[k] for k in keys}
    return out


def run_model_stage(
    table: pd.DataFrame,
    features: list[str],
    out_dir: Path,
    settings: ModelSettings | None = None,
    *,
    n_jobs: int = -1,
    seed: int = 0,
    prediction_lonlat: Any = None,
) -> ModelStageResult:
    """Compare candidates, choose one by skill and cost, select features and fit the final model.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table: ``site_id, source, epoch, lon, lat, label`` + one float column per feature.
    features : list of str
        Candidate factor columns.
    out_dir : Path
        Receives ``cv_scores.csv``, ``selection.json``, ``model.skops``, ``model_card.json``.
    settings : ModelSettings, optional
        Defaults to :meth:`ModelSettings.demo`.
    n_jobs : int, default=-1
        Parallel workers (joblib; -1 = all cores).
    seed : int, default=0
        Seeds splits, tuning subset, estimators and permutations; same seed → same scores.
    prediction_lonlat : array-like of shape (m, 2), optional
        Prediction locations for kNNDM; default samples ``settings.prediction_bounds`` on land.

    Returns
    -------
    ModelStageResult
    """
    settings = settings or ModelSettings.demo()
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    metric = settings.metric
    data = _prepare(table, features, settings, seed)
    X, y = data.X, data.y

    stop = _timed(timings, "splits")
    splits = {
        "random": Splits.random(
            y, n_folds=settings.n_folds, n_repeats=settings.n_repeats, random_state=seed
        ),
        "spatial": _spatial_splits(data.lonlat, y, settings, seed, prediction_lonlat),
    }
    ratios = {s: sp.test_train_ratio() for s, sp in splits.items()}
    stop()
    logger.info(
        "splits: %d x %d random and %s spatial (%s) on %d rows",
        settings.n_repeats,
        settings.n_folds,
        settings.spatial_method,
        {k: v for k, v in splits["spatial"].info.items() if k in ("W", "block_size_km")},
        len(y),
    )
    cands = {
        n: make_candidate(n, grid=settings.grid, random_state=seed) for n in settings.candidates
    }

    with _parallel_backend(settings, n_jobs):
        stop = _timed(timings, "tuning")
        tuned, inner = _tune(cands, data, splits, settings, seed, n_jobs)
        stop()

        stop = _timed(timings, "comparison")
        rows: list[tuple[Any, ...]] = []
        used_params: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for name, cand in cands.items():
            r, used_params[name] = _cv_scores(
                name, cand, tuned.get(name, {}), X, y, splits, inner, settings, n_jobs
            )
            rows.extend(r)
            logger.info("compared %s", name)
        scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
        summary = summarize_scores(scores, ratios)
        stop()

        stop = _timed(timings, "cost")
        choice = _choose(cands, summary, used_params, data, splits, ratios, settings, seed, n_jobs)
        cand, params = cands[choice.name], choice.params
        stop()

        stop = _timed(timings, "importance")
        sel_splits = splits["spatial"].head(settings.selection_repeats)
        ranking, order = _rank_importance(cand, params, data, sel_splits, settings, seed, n_jobs)
        stop()

        stop = _timed(timings, "combinations")
        combos, chosen = _test_combinations(
            cand, params, data, order, sel_splits, ratios["spatial"], settings, n_jobs
        )
        stop()

        # The final configuration under both schemes, on the same folds.
        stop = _timed(timings, "final")
        cols = [data.features.index(f) for f in chosen]
        final_rows, _ = _cv_scores(
            FINAL,
            cand,
            {"random": params, "spatial": params},
            np.ascontiguousarray(X[:, cols]),
            y,
            splits,
            {},
            settings,
            n_jobs,
        )
    scores = pd.concat([scores, pd.DataFrame(final_rows, columns=SCORE_COLUMNS)], ignore_index=True)
    final_summary = summarize_scores(scores[scores["model"] == FINAL], ratios)
    X_fit = np.ascontiguousarray(data.X_all[:, cols])
    final = cand.build(params)
    if final.get_params().get("clf__n_jobs") is not None:
        final.set_params(clf__n_jobs=n_jobs)  # prediction over millions of cells uses all cores
    guard = FeatureGuard(final, features=chosen)
    with _quiet():
        guard.fit(X_fit, data.y_all)
    stop()

    card = {
        "model": choice.name,
        "features": chosen,
        "params": {
            k: v
            for k, v in final.get_params(deep=True).items()
            if k.startswith("clf__") and not k.endswith("n_jobs")
        },
        "tuned_params": params,
        "training_hash": training_hash(X_fit, data.y_all, chosen),
        "n_training_rows": len(data.y_all),
        "n_sites": int(table["site_id"].nunique()),
        "class_counts": {"0": int((data.y_all == 0).sum()), "1": int((data.y_all == 1).sum())},
        "cv": {s: _cv_block(final_summary, s, ("mean", "sd", "ci95")) for s in splits},
        "cv_protocol": {
            "n_repeats": settings.n_repeats,
            "n_folds": settings.n_folds,
            "random": "repeated stratified k-fold on rows",
            "spatial": dict(splits["spatial"].info),
            "tuning": settings.tuning,
            "n_evaluation_rows": len(y),
            "interval": "Nadeau-Bengio corrected t interval",
            "note": "the feature subset and size were chosen on these spatial folds, so the "
            "figures are mildly optimistic; the comparison rows in cv_scores.csv "
            "(model = the candidate name) are the reference",
        },
        "prediction_s_per_million_cells": choice.cost,
        "versions": package_versions(),
        "seed": seed,
        "settings": settings.to_dict(),
    }
    compared = scores[scores["model"] != FINAL]
    selection = {
        "importance": ranking,
        "combinations": combos,
        "chosen": chosen,
        "model": choice.name,
        "params": params,
        "metric": metric,
        "cost_front": choice.front.to_dict(orient="records"),
        "size_front": choice.size_front,
        "comparison": [
            *paired_comparison(compared, choice.best_name, "spatial", metric, ratios["spatial"]),
            *paired_comparison(compared, choice.best_name, "random", metric, ratios["random"]),
        ],
        "summary": summary.to_dict(orient="records"),
        "tuned_params": tuned,
    }
    summ: dict[str, Any] = {
        "model": choice.name,
        "features": chosen,
        **{s: _cv_block(final_summary, s, ("mean", "sd")) for s in splits},
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "cv_scores.csv", scores.to_csv(index=False))
    atomic_write_text(
        out_dir / "selection.json",
        json.dumps(_jsonable(selection), indent=2, allow_nan=False) + "\n",
    )
    model_path, card_path = save_model(guard, card, out_dir)
    timings["total"] = round(time.perf_counter() - t_all, 2)
    rnd, spt = summ["random"].get(metric, {}), summ["spatial"].get(metric, {})
    logger.info(
        "model %s with %d features: %s random CV %.3f ± %.3f | spatial CV %.3f ± %.3f",
        choice.name,
        len(chosen),
        metric,
        rnd.get("mean", np.nan),
        rnd.get("sd", np.nan),
        spt.get("mean", np.nan),
        spt.get("sd", np.nan),
    )
    spatial_folds = np.full(len(data.y_all), -1, dtype=np.int64)
    spatial_folds[data.eval_rows] = np.asarray(splits["spatial"].folds)[0]
    return ModelStageResult(
        spatial_folds=spatial_folds,
        model=guard,
        features=chosen,
        card=_jsonable(card),
        summary=_jsonable(summ),
        scores=scores,
        selection=_jsonable(selection),
        timings=timings,
        paths={
            "cv_scores": out_dir / "cv_scores.csv",
            "selection": out_dir / "selection.json",
            "model": model_path,
            "card": card_path,
        },
    )
