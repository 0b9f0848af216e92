"""Flatten a fitted scikit-learn tree ensemble into compact arrays, with thresholds quantised.

The forest is rewritten as one set of node arrays (all trees back to back) in depth-first
pre-order, so that a node's left child is always the next node and only the right child needs to
be stored. Every split threshold of feature ``f`` is replaced by its rank among the forest's
sorted unique thresholds of ``f``; a cell's value of ``f`` is replaced by the number of those
thresholds strictly below it (:meth:`FlatForest.quantise`). Then

``x <= t_j``  ⇔  ``rank(x) <= j``

holds exactly (scikit-learn compares the float32 value, promoted to float64, with the float64
threshold; :meth:`FlatForest.quantise` does the same comparison), so traversal on the small
integer codes reaches the same leaf as scikit-learn, and the probabilities agree to rounding of
the final average (≈1e-16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "BoxForest",
    "FlatForest",
    "box_forest",
    "flatten_forest",
    "float32_threshold",
    "tree_estimators",
]

LEAF = -1


def tree_estimators(estimator: Any) -> list[Any] | None:
    """The member trees of a fitted classification forest, or ``None`` if it is not one.

    Accepts :class:`~sklearn.ensemble.RandomForestClassifier`,
    :class:`~sklearn.ensemble.ExtraTreesClassifier` (anything with ``estimators_`` made of
    classifier trees) and a single :class:`~sklearn.tree.DecisionTreeClassifier`.
    """
    from sklearn.tree import BaseDecisionTree

    if isinstance(estimator, BaseDecisionTree) and hasattr(estimator, "tree_"):
        trees = [estimator]
    else:
        trees = list(getattr(estimator, "estimators_", None) or [])
        if not trees or not all(isinstance(t, BaseDecisionTree) for t in trees):
            return None
    if not all(hasattr(t, "predict_proba") and getattr(t, "n_outputs_", 1) == 1 for t in trees):
        return None
    # Bagging-style ensembles may give members a feature subset; the kernel assumes full width.
    if getattr(estimator, "estimators_features_", None) is not None:
        return None
    return trees


@dataclass(frozen=True)
class FlatForest:
    """A tree ensemble as flat arrays over quantised features.

    Attributes
    ----------
    feature : numpy.ndarray of int32, (n_nodes,)
        Split feature of each node; ``-1`` marks a leaf.
    code : numpy.ndarray of int32, (n_nodes,)
        Quantised threshold: go left when ``code(x[feature]) <= code[node]``.
    right : numpy.ndarray of int32, (n_nodes,)
        Index of the right child (the left child is ``node + 1``); for leaves the node itself.
    left : numpy.ndarray of int32, (n_nodes,)
        Index of the left child; for leaves the node itself (used by lockstep kernels).
    value : numpy.ndarray of float64, (n_nodes,)
        Probability of the positive class at a leaf (0 at split nodes).
    roots : numpy.ndarray of int64, (n_trees,)
        Index of each tree's root node.
    thresholds : tuple of numpy.ndarray of float64
        Sorted unique thresholds per feature (the quantisation tables).
    max_depth : int
        Deepest leaf over all trees (edges from the root).
    """

    feature: np.ndarray
    code: np.ndarray
    right: np.ndarray
    left: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    thresholds: tuple[np.ndarray, ...]
    max_depth: int

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def n_features(self) -> int:
        return len(self.thresholds)

    @property
    def code_dtype(self) -> np.dtype:
        """Smallest unsigned dtype that holds every feature code (uint8 or uint16, else uint32)."""
        most = max((len(t) for t in self.thresholds), default=0)
        for dt in (np.uint8, np.uint16):
            if most <= np.iinfo(dt).max:
                return np.dtype(dt)
        return np.dtype(np.uint32)

    def quantise(self, X: np.ndarray) -> np.ndarray:
        """Codes of ``X`` (``(n_rows, n_features)``): thresholds strictly below each value.

        ``X`` is cast to float32 first, as scikit-learn's trees do, then compared in float64.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(
                f"X has shape {X.shape}, but the forest was fitted on {self.n_features} features; "
                "pass one column per model feature, in model order"
            )
        x64 = X.astype(np.float32, copy=False).astype(np.float64)
        out = np.empty(X.shape, dtype=self.code_dtype)
        for f, table in enumerate(self.thresholds):
            out[:, f] = np.searchsorted(table, x64[:, f], side="left")
        return out


def _preorder(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Depth-first pre-order of one tree's nodes (left subtree first)."""
    order = np.empty(len(left), dtype=np.int64)
    stack = [0]
    k = 0
    while stack:
        node = stack.pop()
        order[k] = node
        k += 1
        if left[node] != LEAF:
            stack.append(int(right[node]))
            stack.append(int(left[node]))
    return order[:k]


def flatten_forest(trees: list[Any], positive: int, n_features: int) -> FlatForest:
    """Flatten fitted scikit-learn classification trees into a :class:`FlatForest`.

    Parameters
    ----------
    trees : list of DecisionTreeClassifier
        The fitted member trees (see :func:`tree_estimators`).
    positive : int
        Column of the positive class in ``predict_proba``.
    n_features : int
        Width of the input.

    Returns
    -------
    FlatForest
    """
    per_feature: list[list[np.ndarray]] = [[] for _ in range(n_features)]
    for t in trees:
        tr = t.tree_
        split = tr.children_left != LEAF
        for f in np.unique(tr.feature[split]):
            per_feature[int(f)].append(tr.threshold[split & (tr.feature == f)])
    tables = tuple(
        np.unique(np.concatenate(v)).astype(np.float64) if v else np.empty(0, dtype=np.float64)
        for v in per_feature
    )

    feats, codes, rights, lefts, values, roots = [], [], [], [], [], []
    offset = 0
    max_depth = 0
    for t in trees:
        tr = t.tree_
        order = _preorder(tr.children_left, tr.children_right)
        new_of = np.full(tr.node_count, -1, dtype=np.int64)
        new_of[order] = np.arange(len(order)) + offset
        is_leaf = tr.children_left[order] == LEAF
        f = np.where(is_leaf, LEAF, tr.feature[order]).astype(np.int32)
        c = np.zeros(len(order), dtype=np.int32)
        for j in np.flatnonzero(~is_leaf):
            table = tables[f[j]]
            # The threshold itself is in the table: its index is its code.
            c[j] = int(np.searchsorted(table, tr.threshold[order[j]]))
        self_idx = np.arange(len(order), dtype=np.int64) + offset
        r = np.where(is_leaf, self_idx, new_of[np.maximum(tr.children_right[order], 0)])
        left = np.where(is_leaf, self_idx, self_idx + 1)
        if not np.array_equal(left[~is_leaf], new_of[tr.children_left[order][~is_leaf]]):
            raise DataError(
                "internal error: pre-order layout broke the left-child rule"
            )  # pragma: no cover
        # Leaf probabilities exactly as DecisionTreeClassifier.predict_proba normalises them.
        v = tr.value[order, 0, :].astype(np.float64)
        norm = v.sum(axis=1)
        norm[norm == 0.0] = 1.0
        p = np.where(is_leaf, v[:, positive] / norm, 0.0)
        feats.append(f)
        codes.append(c)
        rights.append(r.astype(np.int32))
        lefts.append(left.astype(np.int32))
        values.append(p)
        roots.append(offset)
        offset += len(order)
        max_depth = max(max_depth, int(tr.max_depth))
    if offset >= np.iinfo(np.int32).max:
        raise DataError(
            f"the forest has {offset} nodes, more than the int32 index allows; use fewer or "
            "shallower trees"
        )
    return FlatForest(
        feature=np.concatenate(feats),
        code=np.concatenate(codes),
        right=np.concatenate(rights),
        left=np.concatenate(lefts),
        value=np.concatenate(values),
        roots=np.asarray(roots, dtype=np.int64),
        thresholds=tables,
        max_depth=max_depth,
    )


def float32_threshold(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 ``threshold``.

    For any float32 ``x``, ``x <= t`` (compared in float64, as scikit-learn does) holds exactly when
    ``x <= float32_threshold(t)`` holds in float32, so float32 traversal reaches the same leaves.

    Examples
    --------
    >>> t = np.array([0.1, 0.5, -0.1])
    >>> t32 = float32_threshold(t)
    >>> bool((t32.astype(np.float64) <= t).all()), t32.dtype
    (True, dtype('float32'))
    """
    t64 = np.asarray(threshold, dtype=np.float64)
    with np.errstate(over="ignore"):  # beyond the float32 range: ±inf, then stepped below
        t32 = t64.astype(np.float32)
    up = t32.astype(np.float64) > t64
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


@dataclass(frozen=True)
class BoxForest:
    """A tree ensemble over float32 rows, with the box of every leaf.

    Nodes are in depth-first pre-order, tree after tree (a split's left child is the next node).
    A leaf's box is the set of rows that reach it: ``lo < x <= hi`` in every feature (bounds
    from the splits on its path, ``±inf`` where none). Rows next to each other on a map mostly
    reach the same leaf of a tree as the row before, and a box test costs a few comparisons
    where a walk from the root costs a chain of ~20 dependent loads.

    Attributes
    ----------
    feature : numpy.ndarray of int32, (n_nodes,)
        Split feature; ``-1`` marks a leaf.
    threshold : numpy.ndarray of float32, (n_nodes,)
        Go left when ``x <= threshold`` (:func:`float32_threshold` of scikit-learn's threshold).
    right : numpy.ndarray of int32, (n_nodes,)
        Right child of a split; for a leaf, its leaf number (row of ``lo``, ``hi``, ``value``).
    nan_left : numpy.ndarray of uint8, (n_nodes,)
        scikit-learn's ``missing_go_to_left``: where a NaN goes at each split.
    roots : numpy.ndarray of int64, (n_trees,)
        Root of each tree.
    lo, hi : numpy.ndarray of float32, (n_leaves, n_features)
        Leaf boxes.
    value : numpy.ndarray of float64, (n_leaves,)
        Positive-class probability of each leaf.
    max_depth : int
        Deepest leaf over all trees.
    """

    feature: np.ndarray
    threshold: np.ndarray
    right: np.ndarray
    nan_left: np.ndarray
    roots: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    value: np.ndarray
    max_depth: int

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def n_features(self) -> int:
        return int(self.lo.shape[1])

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (self.feature, self.threshold, self.right, self.nan_left, self.lo, self.hi)
        ) + int(self.value.nbytes)


def box_forest(trees: list[Any], positive: int, n_features: int) -> BoxForest:
    """Lay fitted scikit-learn classification trees out as a :class:`BoxForest`.

    Parameters
    ----------
    trees : list of DecisionTreeClassifier
        The fitted member trees (see :func:`tree_estimators`).
    positive : int
        Column of the positive class in ``predict_proba``.
    n_features : int
        Width of the input.

    Returns
    -------
    BoxForest
    """
    from .kernels import KERNELS

    sizes = np.array([t.tree_.node_count for t in trees], dtype=np.int64)
    n_nodes = int(sizes.sum())
    if n_nodes >= np.iinfo(np.int32).max:
        raise DataError(
            f"the forest has {n_nodes} nodes, more than the int32 index allows; use fewer or "
            "shallower trees"
        )
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cat = {
        k: np.concatenate([getattr(t.tree_, k) for t in trees])
        for k in ("children_left", "children_right", "feature", "threshold", "missing_go_to_left")
    }
    left = np.where(
        cat["children_left"] == LEAF, LEAF, cat["children_left"] + np.repeat(starts, sizes)
    )
    right = np.where(
        cat["children_left"] == LEAF, LEAF, cat["children_right"] + np.repeat(starts, sizes)
    )
    # Leaf probabilities exactly as DecisionTreeClassifier.predict_proba normalises them.
    v = np.concatenate([t.tree_.value[:, 0, :] for t in trees]).astype(np.float64)
    norm = v.sum(axis=1)
    norm[norm == 0.0] = 1.0
    feature, threshold, right_out, nan_left, lo, hi, value = KERNELS["box_forest"](
        left.astype(np.int64),
        right.astype(np.int64),
        cat["feature"].astype(np.int32),
        float32_threshold(cat["threshold"]),
        (cat["missing_go_to_left"] != 0).astype(np.uint8),
        v[:, positive] / norm,
        starts,
        int(n_features),
        int((cat["children_left"] == LEAF).sum()),
        max(int(t.tree_.max_depth) for t in trees),
    )
    return BoxForest(
        feature=feature,
        threshold=threshold,
        right=right_out,
        nan_left=nan_left,
        roots=starts,
        lo=lo,
        hi=hi,
        value=value,
        max_depth=max(int(t.tree_.max_depth) for t in trees),
    )
