"""Area of applicability (Meyer & Pebesma 2021): dissimilarity index and its threshold.

Follows CAST's ``trainDI()`` / ``aoa()`` (R package CAST, ``R/trainDI.R``):

1. Predictors are standardised with the training mean and standard deviation (``ddof=1``, as R's
   ``scale``) and multiplied by importance weights (negative weights set to 0).
2. ``d̄`` is the mean, over training points, of each point's mean distance to every other
   training point.
3. The DI of a training point is its distance to the nearest training point **in another CV
   fold** (any other point when no folds are given), divided by ``d̄``.
4. The threshold is the upper whisker of the training DI (R ``boxplot.stats(DI)$stats[5]``: the
   largest DI not above the upper Tukey hinge + 1.5 × the hinge spread).
5. A new cell's DI is its distance to the nearest training point divided by ``d̄``; the cell is
   inside the AOA when ``DI <= threshold``.

Categorical factors (class codes: soil class, land cover...) depart from CAST, which standardises
them like any number (class 7 would be "far" from class 2 and "near" class 6). Here a categorical
factor contributes ``weight²`` to the squared distance when two classes differ and 0 when they are
equal ("same class or not"). This is computed exactly through a one-hot expansion: each class of a
categorical column becomes an indicator column of value ``weight / √2``, so two different classes
are ``√(w²/2 + w²/2) = w`` apart and the nearest-neighbour search stays a kd-tree. One extra
"unseen class" indicator per categorical column takes any class the training data never held, so
such a cell differs from every training point in that factor.

Reference: Meyer, H., Pebesma, E. (2021). Predicting into unknown space? Estimating the area of
applicability of spatial prediction models. *Methods Ecol. Evol.* 12, 1620–1633.
doi:10.1111/2041-210X.13650
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .errors import DataError

__all__ = ["AOAReference", "boxplot_upper_whisker", "fit_aoa", "fivenum"]

log = logging.getLogger(__name__)


def fivenum(x: np.ndarray) -> np.ndarray:
    """Tukey's five numbers as R's ``fivenum``: min, lower hinge, median, upper hinge, max.

    >>> fivenum(np.array([1.0, 2.0, 3.0, 4.0, 100.0])).tolist()
    [1.0, 2.0, 3.0, 4.0, 100.0]
    """
    xs = np.sort(np.asarray(x, dtype=np.float64)[np.isfinite(x)])
    n = len(xs)
    if n == 0:
        return np.full(5, np.nan)
    n4 = np.floor((n + 3) / 2) / 2
    d = np.array([1, n4, (n + 1) / 2, n + 1 - n4, n]) - 1  # 0-based positions
    return 0.5 * (xs[np.floor(d).astype(int)] + xs[np.ceil(d).astype(int)])


def boxplot_upper_whisker(x: np.ndarray, coef: float = 1.5) -> float:
    """R's ``boxplot.stats(x, coef)$stats[5]``: largest value not above hinge + coef × spread.

    >>> boxplot_upper_whisker(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    4.0
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    s = fivenum(x)
    iqr = s[3] - s[1]
    kept = x[(x >= s[1] - coef * iqr) & (x <= s[3] + coef * iqr)]
    return float(kept.max()) if kept.size else float("nan")


@dataclass(frozen=True)
class AOAReference:
    """What a map needs to compute the AOA tile by tile: the weighted training points and limits.

    Attributes
    ----------
    center, scale : numpy.ndarray, (n_features,)
        Training mean and standard deviation (``ddof=1``).
    weights : numpy.ndarray, (n_features,)
        Importance weights (non-negative).
    train : numpy.ndarray, (n_train, n_features)
        Standardised, weighted training points.
    mean_distance : float
        ``d̄``, the normaliser of the DI.
    train_di : numpy.ndarray, (n_train,)
        DI of each training point to the nearest point in another fold.
    threshold : float
        Upper whisker of ``train_di``; cells with ``DI <= threshold`` are inside the AOA.
    folds : numpy.ndarray, (n_train,), or None
        The CV fold of each training point that ``train_di`` was computed with (None: no folds).
        Kept so that the reference records how it was fitted; prediction does not use it.
    categorical : tuple of int
        Columns of ``X`` (model feature order) that hold class codes; empty by default. Their
        ``center`` is 0 and ``scale`` 1 (unused).
    classes : tuple of numpy.ndarray
        The sorted training classes of each categorical column (same order as ``categorical``).

    Notes
    -----
    ``train`` has one column per continuous feature (standardised × weight, in feature order)
    followed, per categorical feature, by one indicator column per training class and one for an
    unseen class (each ``weight / √2`` where set), see :func:`fit_aoa`.

    Examples
    --------
    :meth:`to_dict` and :meth:`from_dict` round-trip exactly (the model artefact stores the
    reference this way, as plain arrays and floats):

    >>> ref = fit_aoa(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), folds=[0, 1, 0, 1])
    >>> again = AOAReference.from_dict(ref.to_dict())
    >>> bool((again.train == ref.train).all()), again.threshold == ref.threshold
    (True, True)
    """

    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    train: np.ndarray
    mean_distance: float
    train_di: np.ndarray
    threshold: float
    folds: np.ndarray | None = None
    categorical: tuple[int, ...] = ()
    classes: tuple[np.ndarray, ...] = ()
    _kdtree: cKDTree = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once; tiles (and dask workers, after unpickling) reuse it.
        object.__setattr__(self, "_kdtree", cKDTree(self.train))

    def to_dict(self) -> dict[str, Any]:
        """The reference as NumPy arrays and Python floats (``folds`` may be None)."""
        return {
            "center": np.asarray(self.center, dtype=np.float64),
            "scale": np.asarray(self.scale, dtype=np.float64),
            "weights": np.asarray(self.weights, dtype=np.float64),
            "train": np.asarray(self.train, dtype=np.float64),
            "mean_distance": float(self.mean_distance),
            "train_di": np.asarray(self.train_di, dtype=np.float64),
            "threshold": float(self.threshold),
            "folds": None if self.folds is None else np.asarray(self.folds),
            "categorical": [int(j) for j in self.categorical],
            "classes": [np.asarray(c, dtype=np.float64) for c in self.classes],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AOAReference:
        """Rebuild a reference written by :meth:`to_dict`, checking keys and shapes.

        ``folds``, ``categorical`` and ``classes`` are optional (references written before
        categorical factors existed have none: every column is continuous).
        """
        keys = ("center", "scale", "weights", "train", "mean_distance", "train_di", "threshold")
        optional = ("folds", "categorical", "classes")
        missing = [k for k in keys if k not in d]
        unknown = sorted(set(d) - {*keys, *optional})
        if missing or unknown:
            raise DataError(
                f"AOA reference has missing keys {missing} and unknown keys {unknown}; it needs "
                f"{list(keys)} (+ optional {list(optional)}), as AOAReference.to_dict writes; "
                "refit the AOA"
            )
        train = np.asarray(d["train"], dtype=np.float64)
        vectors = {k: np.asarray(d[k], dtype=np.float64) for k in ("center", "scale", "weights")}
        train_di = np.asarray(d["train_di"], dtype=np.float64)
        folds = None if d.get("folds") is None else np.asarray(d["folds"])
        categorical = tuple(int(j) for j in (d.get("categorical") or ()))
        classes = tuple(np.asarray(c, dtype=np.float64) for c in (d.get("classes") or ()))
        n_features = vectors["center"].shape[0] if vectors["center"].ndim == 1 else -1
        if (
            len(classes) != len(categorical)
            or len(set(categorical)) != len(categorical)
            or any(not 0 <= j < n_features for j in categorical)
            or any(c.ndim != 1 or c.size == 0 for c in classes)
        ):
            raise DataError(
                f"AOA reference categorical columns {list(categorical)} and their {len(classes)} "
                f"class lists do not fit {n_features} features; they must name distinct columns, "
                "one non-empty class list each; refit the AOA"
            )
        width = n_features - len(categorical) + sum(len(c) + 1 for c in classes)
        if (
            n_features < 1
            or train.ndim != 2
            or train.shape[1] != width
            or any(v.shape != (n_features,) for v in vectors.values())
            or train_di.shape != (len(train),)
            or (folds is not None and folds.shape != (len(train),))
        ):
            shapes = {"train": train.shape, **{k: v.shape for k, v in vectors.items()}}
            shapes["train_di"] = train_di.shape
            raise DataError(
                f"AOA reference arrays do not fit together (shapes {shapes}); they must describe "
                "n_train points × n_features; refit the AOA"
            )
        return cls(
            **vectors,
            train=train,
            mean_distance=float(d["mean_distance"]),
            train_di=train_di,
            threshold=float(d["threshold"]),
            folds=folds,
            categorical=categorical,
            classes=classes,
        )

    def _transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.center):
            raise DataError(
                f"X has shape {X.shape}, but the AOA was fitted on {len(self.center)} features; "
                "pass the model's features in model order"
            )
        if not self.categorical:
            return (X - self.center) / self.scale * self.weights
        return _embed(X, self.center, self.scale, self.weights, self.categorical, self.classes)

    def dissimilarity(self, X: np.ndarray) -> np.ndarray:
        """DI of each row of ``X``: distance to the nearest training point / ``d̄``."""
        dist, _ = self._kdtree.query(self._transform(X), k=1)
        return np.asarray(dist, dtype=np.float64) / self.mean_distance

    def inside(self, X: np.ndarray) -> np.ndarray:
        """True where ``DI <= threshold``.

        Uses a bounded nearest-neighbour search (only "is any training point within
        threshold × d̄?"), which is much faster than the full DI and gives the same answer.
        """
        limit = self.threshold * self.mean_distance
        # cKDTree's bound is strict (<); nudge it so that DI == threshold counts as inside.
        dist, _ = self._kdtree.query(
            self._transform(X), k=1, distance_upper_bound=np.nextafter(limit, np.inf)
        )
        return np.isfinite(dist) & (dist <= limit)


def _embed(
    X: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    weights: np.ndarray,
    categorical: Sequence[int],
    classes: Sequence[np.ndarray],
) -> np.ndarray:
    """Continuous columns standardised × weight, then a one-hot block per categorical column.

    Each block has one indicator per training class plus one "unseen class" indicator, of value
    ``weight / √2``: two rows of different classes are then ``weight`` apart in that factor, rows
    of the same class 0 apart (a class absent from ``classes`` takes the unseen indicator).
    """
    cat = set(categorical)
    cont = [j for j in range(X.shape[1]) if j not in cat]
    parts = [(X[:, cont] - center[cont]) / scale[cont] * weights[cont]]
    rows = np.arange(len(X))
    for j, cls in zip(categorical, classes, strict=True):
        block = np.zeros((len(X), len(cls) + 1))
        pos = np.minimum(np.searchsorted(cls, X[:, j]), len(cls) - 1)
        seen = cls[pos] == X[:, j]
        block[rows, np.where(seen, pos, len(cls))] = weights[j] / np.sqrt(2.0)
        parts.append(block)
    return np.hstack(parts)


def fit_aoa(
    X: np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    folds: Sequence[int] | np.ndarray | None = None,
    categorical: Sequence[int] = (),
    chunk: int = 512,
) -> AOAReference:
    """Training-side DI and threshold (CAST ``trainDI``).

    Parameters
    ----------
    X : numpy.ndarray, (n_train, n_features)
        Training factors in model feature order, no NaN.
    weights : array-like of float, optional
        Importance of each feature (e.g. permutation importance); negative values are set to 0;
        equal weights by default.
    folds : array-like of int, optional
        CV fold of each training row (spatial folds in permamap); nearest neighbours in the same
        fold are ignored for the training DI. Without folds, any other point counts.
    categorical : sequence of int, default=()
        Columns of ``X`` holding class codes. Such a column adds ``weight²`` to the squared
        distance of two rows when their classes differ and 0 when they are equal (a class unseen
        in training differs from every training class); it is not standardised and needs no
        variance.
    chunk : int, default=512
        Rows per block of the pairwise-distance computation (memory: ``chunk × n_train`` floats).

    Returns
    -------
    AOAReference

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    >>> ref = fit_aoa(X, folds=[0, 1, 0, 1, 2])
    >>> ref.inside(np.array([[0.5, 0.4], [9.0, 9.0]])).tolist()
    [True, False]

    A categorical second column: same class → only the first column counts; another class adds
    its weight (here 1) to the distance:

    >>> ref = fit_aoa(np.array([[0.0, 3.0], [1.0, 3.0], [2.0, 5.0]]), categorical=[1])
    >>> ref.classes[0].tolist(), round(float(ref.dissimilarity(np.array([[2.0, 3.0]]))[0]
    ...                                     * ref.mean_distance), 12)
    ([3.0, 5.0], 1.0)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise DataError(
            f"AOA training data has shape {X.shape}; it needs at least two rows of factors"
        )
    if not np.isfinite(X).all():
        raise DataError(
            "AOA training data contains NaN or inf; drop those sites before fitting the AOA"
        )
    n, d = X.shape
    w = np.ones(d) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    if w.shape != (d,):
        raise DataError(f"{w.size} AOA weights given for {d} features; give one weight per feature")
    if (w < 0).any():
        log.info(
            "AOA: %d negative importance weight(s) set to 0 (as CAST does)", int((w < 0).sum())
        )
        w[w < 0] = 0.0
    fold = None if folds is None else np.asarray(folds)
    if fold is not None and fold.shape != (n,):
        raise DataError(f"{fold.size} fold labels given for {n} training rows; give one per row")
    cat = tuple(int(j) for j in categorical)
    if len(set(cat)) != len(cat) or any(not 0 <= j < d for j in cat):
        raise DataError(
            f"AOA categorical columns {list(cat)} must be distinct column indices in [0, {d}); "
            "pass the positions of the categorical factors in model feature order"
        )
    center = X.mean(axis=0)
    scale = X.std(axis=0, ddof=1)
    if cat:
        center[list(cat)] = 0.0
        scale[list(cat)] = 1.0
    if (scale == 0).any():
        flat = np.flatnonzero(scale == 0).tolist()
        raise DataError(
            f"AOA feature column(s) {flat} have no variance in the training data; drop them from "
            "the model or add sites that vary"
        )
    classes = tuple(np.unique(X[:, j]) for j in cat)
    if cat:
        train = _embed(X, center, scale, w, cat, classes)
    else:
        train = (X - center) / scale * w
    mean_to_others = np.empty(n)
    nearest_other_fold = np.empty(n)
    sq = (train**2).sum(axis=1)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        d2 = sq[a:b, None] + sq[None, :] - 2.0 * train[a:b] @ train.T
        dist = np.sqrt(np.maximum(d2, 0.0))
        rows = np.arange(a, b)
        dist[rows - a, rows] = np.nan  # a point is not its own neighbour
        mean_to_others[a:b] = np.nanmean(dist, axis=1)
        if fold is not None:
            dist[fold[a:b, None] == fold[None, :]] = np.nan
        with np.errstate(all="ignore"):
            nearest_other_fold[a:b] = np.nanmin(np.where(np.isnan(dist), np.inf, dist), axis=1)
    if not np.isfinite(nearest_other_fold).all():
        raise DataError(
            "every training row is in one CV fold; give at least two folds for the AOA threshold"
        )
    mean_distance = float(mean_to_others.mean())
    if not mean_distance > 0:
        raise DataError("all training rows are identical in factor space; the AOA is undefined")
    train_di = nearest_other_fold / mean_distance
    return AOAReference(
        center=center,
        scale=scale,
        weights=w,
        train=train,
        mean_distance=mean_distance,
        train_di=train_di,
        threshold=boxplot_upper_whisker(train_di),
        folds=None if fold is None else fold.copy(),
        categorical=cat,
        classes=classes,
    )
