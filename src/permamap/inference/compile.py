"""Predictors that map a block of factor rows to (probability, spread): reference and compiled.

:func:`compile_model` is the entry point. It unwraps a :class:`~permamap.modelio.FeatureGuard`
and a :class:`~sklearn.pipeline.Pipeline` (earlier steps stay scikit-learn transforms) and, when
the final estimator is a classification forest or tree and numba is installed, returns a
:class:`CompiledForest`; otherwise a :class:`ReferencePredictor` that calls the estimator
itself. Both implement :class:`Predictor`.

``spread`` is the standard deviation over member trees of their probability for the positive
class (in [0, 0.5]) for tree ensembles, and ``None`` for other models.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

from ..errors import DataError
from .flatten import BoxForest, FlatForest, box_forest, flatten_forest, tree_estimators
from .kernels import BOX_BLOCK, HAVE_NUMBA, KERNELS, ROW_BLOCK, pack_nodes

__all__ = [
    "CompiledForest",
    "Predictor",
    "ReferencePredictor",
    "compile_model",
    "positive_class_index",
    "unwrap",
]

log = logging.getLogger(__name__)


class Predictor(Protocol):
    """What the map loop needs: probabilities and, for ensembles, the spread of members."""

    n_features: int
    is_ensemble: bool

    def predict_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(proba, spread)`` for rows ``X`` of shape ``(n_rows, n_features)``, no NaN."""
        ...


def positive_class_index(model: Any) -> int:
    """Column of class 1 (permafrost) in ``model.predict_proba``."""
    classes = [
        int(c) if isinstance(c, int | np.integer) else c for c in getattr(model, "classes_", [0, 1])
    ]
    if 1 not in classes:
        raise DataError(
            f"model classes {classes} do not include 1 (permafrost); retrain on 0/1 labels"
        )
    return classes.index(1)


def unwrap(model: Any) -> tuple[Any, Any]:
    """``(preprocess, final)``: the transforms before the final estimator (or ``None``) and it.

    A :class:`~permamap.modelio.FeatureGuard` contributes its fitted ``estimator_``; a
    :class:`~sklearn.pipeline.Pipeline` is split into ``pipe[:-1]`` and ``pipe[-1]``;
    ``"passthrough"`` steps are dropped.
    """
    from sklearn.pipeline import Pipeline

    inner = getattr(model, "estimator_", model) if type(model).__name__ == "FeatureGuard" else model
    if isinstance(inner, Pipeline):
        steps = [(n, s) for n, s in inner.steps[:-1] if s not in (None, "passthrough")]
        pre = Pipeline(steps) if steps else None
        return pre, inner.steps[-1][1]
    return None, inner


class ReferencePredictor:
    """The scikit-learn path: ``predict_proba`` of the model itself (the reference for exactness).

    Parameters
    ----------
    model : classifier
        Fitted, with ``predict_proba`` and ``classes_`` (a FeatureGuard, Pipeline or estimator).
    n_features : int
        Width of the rows.
    """

    def __init__(self, model: Any, n_features: int) -> None:
        self.model = model
        self.n_features = int(n_features)
        self.positive = positive_class_index(model)
        self.pre, final = unwrap(model)
        self.trees = tree_estimators(final)
        self.is_ensemble = self.trees is not None and len(self.trees) > 1

    def predict_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)[:, self.positive]
        if not self.is_ensemble or self.trees is None:
            return proba, None
        Xt = self.pre.transform(X) if self.pre is not None else X
        Xt = np.asarray(Xt, dtype=np.float32)
        # Member trees of a forest are fitted on encoded labels: their columns follow classes_.
        # Sums of p and p² tree by tree keep memory at O(rows), not O(trees × rows).
        total = np.zeros(len(Xt))
        total_sq = np.zeros(len(Xt))
        for t in self.trees:
            p = t.predict_proba(Xt)[:, self.positive]
            total += p
            total_sq += p * p
        mean = total / len(self.trees)
        return proba, np.sqrt(np.maximum(total_sq / len(self.trees) - mean * mean, 0.0))


#: Kernels over quantised codes (:class:`FlatForest`) and over float32 rows (:class:`BoxForest`).
CODE_KERNELS = ("simple", "packed", "lockstep")
FLOAT_KERNELS = ("boxed",)


class CompiledForest:
    """Exact forest inference with a numba kernel.

    Parameters
    ----------
    model : classifier
        A fitted forest or tree (possibly inside a FeatureGuard / Pipeline).
    n_features : int
        Width of the rows given to :meth:`predict_stats`.
    kernel : {"boxed", "simple", "packed", "lockstep"}, default="boxed"
        Traversal variant (see :mod:`permamap.inference.kernels`). ``boxed`` walks float32 rows
        and follows scikit-learn's rule for NaN values; the others walk quantised codes and send
        NaN to the right child.
    dedup : bool, default=False
        Predict each distinct row (of codes, or of float32 values) once and copy the result to
        its duplicates.

    Raises
    ------
    DataError
        If the model is not a tree ensemble or numba is missing.
    """

    def __init__(
        self, model: Any, n_features: int, kernel: str = "boxed", dedup: bool = False
    ) -> None:
        if not HAVE_NUMBA:
            raise DataError("numba is not installed; `pip install numba` or use the reference path")
        if kernel not in FLOAT_KERNELS + CODE_KERNELS:
            raise DataError(
                f"kernel {kernel!r} is unknown; use one of {', '.join(FLOAT_KERNELS + CODE_KERNELS)}"
            )
        self.pre, final = unwrap(model)
        trees = tree_estimators(final)
        if trees is None:
            raise DataError(
                f"{type(final).__name__} is not a scikit-learn classification forest or tree; "
                "use ReferencePredictor (compile_model falls back automatically)"
            )
        self.positive = positive_class_index(final)
        self.n_features = int(n_features)
        self.is_ensemble = len(trees) > 1
        self.kernel = kernel
        self.dedup = dedup
        self.width = int(getattr(final, "n_features_in_", n_features))
        self.n_trees = len(trees)
        self.forest: FlatForest | None = None
        self.boxes: BoxForest | None = None
        if kernel in FLOAT_KERNELS:
            self.boxes = box_forest(trees, self.positive, self.width)
        else:
            self.forest = flatten_forest(trees, self.positive, self.width)
            self._nodes = pack_nodes(self.forest.feature, self.forest.code, self.forest.right)
            self._feature0 = np.where(self.forest.feature < 0, 0, self.forest.feature).astype(
                np.int32
            )

    def __repr__(self) -> str:
        if self.boxes is not None:
            b = self.boxes
            return (
                f"CompiledForest({b.n_trees} trees, {b.n_nodes} nodes, max depth {b.max_depth}, "
                f"float32 with leaf boxes ({b.nbytes / 1e6:.0f} MB), kernel={self.kernel!r}, "
                f"dedup={self.dedup})"
            )
        f = self.forest
        if f is None:  # pragma: no cover - one of the two is always built
            raise DataError("internal error: CompiledForest without nodes")
        return (
            f"CompiledForest({f.n_trees} trees, {f.n_nodes} nodes, max depth {f.max_depth}, "
            f"codes {f.code_dtype}, kernel={self.kernel!r}, dedup={self.dedup})"
        )

    def rows(self, X: np.ndarray) -> np.ndarray:
        """What the kernel walks: ``X`` as C-contiguous float32 (or quantised codes)."""
        X = np.asarray(X)
        if self.pre is not None:
            X = self.pre.transform(X)
        if self.forest is not None:
            return np.ascontiguousarray(self.forest.quantise(X))
        if X.ndim != 2 or X.shape[1] != self.width:
            raise DataError(
                f"X has shape {X.shape}, but the forest was fitted on {self.width} features; "
                "pass one column per model feature, in model order"
            )
        # scikit-learn's trees cast to float32 too; NumPy rounds to nearest, as it does.
        return np.ascontiguousarray(X, dtype=np.float32)

    def sums(self, xr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row sum over trees (in tree order) of the leaf probability and of its square."""
        n = xr.shape[0]
        s = np.zeros(n, dtype=np.float64)
        q = np.zeros(n, dtype=np.float64)
        if n == 0:
            return s, q
        if self.boxes is not None:
            b = self.boxes
            KERNELS["boxed"](
                xr, b.feature, b.threshold, b.right, b.nan_left, b.lo, b.hi, b.value, b.roots,
                s, q, BOX_BLOCK,
            )  # fmt: skip
            return s, q
        f = self.forest
        if f is None:  # pragma: no cover - one of the two is always built
            raise DataError("internal error: CompiledForest without nodes")
        if self.kernel == "packed":
            KERNELS["packed"](xr, self._nodes, f.value, f.roots, s, q, ROW_BLOCK)
        elif self.kernel == "simple":
            KERNELS["simple"](xr, f.feature, f.code, f.right, f.value, f.roots, s, q, ROW_BLOCK)
        else:
            KERNELS["lockstep"](
                xr, self._feature0, f.code, f.left, f.right, f.value, f.roots, s, q, ROW_BLOCK
            )
        return s, q

    def predict_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        xr = self.rows(X)
        if self.dedup and len(xr) > 1:
            bits = xr.view(np.uint32) if xr.dtype == np.float32 else xr
            firsts, inverse = KERNELS["unique_rows"](bits)
            s, q = self.sums(np.ascontiguousarray(xr[firsts]))
            s, q = s[inverse], q[inverse]
        else:
            s, q = self.sums(xr)
        n = float(self.n_trees)
        # As scikit-learn: the sum of the trees' probabilities in tree order, divided by their number.
        proba = s / n
        if not self.is_ensemble:
            return proba, None
        spread = np.sqrt(np.maximum(q / n - proba * proba, 0.0))
        return proba, spread

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Two-column ``(1 - p, p)`` in class order, like scikit-learn for 0/1 models."""
        p, _ = self.predict_stats(X)
        out = np.empty((len(p), 2), dtype=np.float64)
        out[:, self.positive] = p
        out[:, 1 - self.positive] = 1.0 - p
        return out


def compile_model(
    model: Any,
    n_features: int | None = None,
    *,
    kernel: str = "boxed",
    dedup: bool = False,
    reference: bool = False,
) -> CompiledForest | ReferencePredictor:
    """A fast exact predictor for ``model``, or the model's own ``predict_proba`` path.

    Parameters
    ----------
    model : classifier
        Fitted; a FeatureGuard, a Pipeline or a bare estimator.
    n_features : int, optional
        Width of the rows (default: the model's ``n_features_in_``).
    kernel : str, default="boxed"
        Traversal kernel for forests (see :class:`CompiledForest`).
    dedup : bool, default=False
        Predict each distinct quantised row once.
    reference : bool, default=False
        Force the scikit-learn path.

    Returns
    -------
    CompiledForest or ReferencePredictor

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
    >>> rf = RandomForestClassifier(20, random_state=0).fit(X, X[:, 0] > 0)
    >>> rf.classes_ = np.array([0, 1])  # boolean labels relabelled as 0/1 for the example
    >>> p, spread = compile_model(rf).predict_stats(X)
    >>> bool(np.abs(p - rf.predict_proba(X)[:, 1]).max() <= 1e-12)
    True
    """
    width = int(n_features if n_features is not None else getattr(model, "n_features_in_", 0))
    if not reference and HAVE_NUMBA:
        _, final = unwrap(model)
        if tree_estimators(final) is not None:
            return CompiledForest(model, width, kernel=kernel, dedup=dedup)
        log.debug("%s has no compiled kernel; predicting with scikit-learn", type(final).__name__)
    elif not HAVE_NUMBA and not reference:
        log.info(
            "numba is not installed; predicting with scikit-learn (pip install numba for speed)"
        )
    return ReferencePredictor(model, width)
