"""Compiled traversal kernels over a flattened forest (numba).

Every kernel returns, per row, the sum over trees (in tree order, as scikit-learn adds them) of
the leaf probability and the sum of its square (for the spread of tree votes). All are exact:
they reach the same leaves as scikit-learn. ``KERNELS`` names them so the benchmark can time each
(``benchmarks.predict``).

- ``boxed`` (default, over a :class:`~permamap.inference.flatten.BoxForest` and float32 rows):
  tree by tree over a block of rows; a row inside the box of the leaf that the previous row
  reached takes that leaf after ``n_features`` pairs of comparisons, other rows walk from the
  root. Neighbouring map cells reach the same leaf 87-98 % of the time (500-tree reference
  forest), so most walks are skipped.

The others walk quantised codes of a :class:`~permamap.inference.flatten.FlatForest` (NaN goes
right, unlike scikit-learn; the map never passes NaN) and stay for the benchmark:

- ``simple``: for each block of rows, for each tree, walk each row to its leaf; nodes as
  separate arrays (structure of arrays).
- ``packed``: the same loop over one ``(n_nodes, 4)`` int32 record per node
  ``[feature, code, right, 0]``; one cache line holds a node's whole decision.
- ``lockstep``: walks ``LANES`` rows through a tree together with branch-free updates
  (leaves point to themselves), so independent cache misses overlap.

The module imports without numba; :data:`HAVE_NUMBA` tells whether the kernels are available.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # numba is optional: without it permamap predicts through scikit-learn.
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised on machines without numba
    numba = None  # type: ignore[assignment]
    HAVE_NUMBA = False

__all__ = ["BOX_BLOCK", "HAVE_NUMBA", "KERNELS", "LANES", "ROW_BLOCK", "pack_nodes"]

#: Rows walked through one tree before moving to the next. Large, so that a deep tree (≈100 kB)
#: stays hot in L2 over many rows; 256 was 30 % slower on a 100-tree, 4,000-node-per-tree forest.
ROW_BLOCK = 32768
#: Rows walked together by the lockstep kernel.
LANES = 8
#: Rows per block of the ``boxed`` kernel: 4,096 rows of float32 factors (160 kB for 10) and one
#: tree's nodes stay in L2 while every tree visits the block (32,768 timed the same).
BOX_BLOCK = 4096


def pack_nodes(feature: np.ndarray, code: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``(n_nodes, 4)`` int32 records ``[feature, code, right, 0]`` for the ``packed`` kernel."""
    out = np.zeros((len(feature), 4), dtype=np.int32)
    out[:, 0] = feature
    out[:, 1] = code
    out[:, 2] = right
    return out


def _define() -> dict[str, Any]:
    jit = numba.njit(nogil=True, cache=True, fastmath=False, boundscheck=False)

    @jit
    def simple(xq, feature, code, right, value, roots, out_sum, out_sq, block):
        n = xq.shape[0]
        for b0 in range(0, n, block):
            b1 = min(b0 + block, n)
            for t in range(roots.shape[0]):
                root = roots[t]
                for i in range(b0, b1):
                    node = root
                    f = feature[node]
                    while f >= 0:
                        if xq[i, f] <= code[node]:
                            node = node + 1
                        else:
                            node = right[node]
                        f = feature[node]
                    v = value[node]
                    out_sum[i] += v
                    out_sq[i] += v * v

    @jit
    def packed(xq, nodes, value, roots, out_sum, out_sq, block):
        n = xq.shape[0]
        for b0 in range(0, n, block):
            b1 = min(b0 + block, n)
            for t in range(roots.shape[0]):
                root = roots[t]
                for i in range(b0, b1):
                    node = root
                    f = nodes[node, 0]
                    while f >= 0:
                        go_right = xq[i, f] > nodes[node, 1]
                        node = nodes[node, 2] if go_right else node + 1
                        f = nodes[node, 0]
                    v = value[node]
                    out_sum[i] += v
                    out_sq[i] += v * v

    @jit
    def lockstep(xq, feature0, code, left, right, value, roots, out_sum, out_sq, block):
        # feature0: leaves have feature 0 (any valid column) and left == right == self.
        n = xq.shape[0]
        lanes = np.empty(LANES, dtype=np.int64)
        for b0 in range(0, n, block):
            b1 = min(b0 + block, n)
            for t in range(roots.shape[0]):
                root = roots[t]
                for g in range(b0, b1, LANES):
                    m = min(LANES, b1 - g)
                    for k in range(m):
                        lanes[k] = root
                    active = True
                    while active:
                        active = False
                        for k in range(m):
                            node = lanes[k]
                            nxt = (
                                right[node]
                                if xq[g + k, feature0[node]] > code[node]
                                else left[node]
                            )
                            active |= nxt != node
                            lanes[k] = nxt
                    for k in range(m):
                        v = value[lanes[k]]
                        out_sum[g + k] += v
                        out_sq[g + k] += v * v

    @jit
    def unique_rows(xq):
        # First-occurrence index of each distinct row and, per row, the index of its representative
        # (open addressing on a 64-bit FNV-1a hash; rows compared in full on collision).
        n, d = xq.shape
        size = 1
        while size < 2 * n:
            size *= 2
        table = np.full(size, -1, dtype=np.int64)
        inverse = np.empty(n, dtype=np.int64)
        firsts = np.empty(n, dtype=np.int64)
        n_unique = 0
        for i in range(n):
            h = np.uint64(14695981039346656037)
            for j in range(d):
                h = (h ^ np.uint64(xq[i, j])) * np.uint64(1099511628211)
            slot = np.int64(h & np.uint64(size - 1))
            while True:
                r = table[slot]
                if r < 0:
                    table[slot] = n_unique
                    firsts[n_unique] = i
                    inverse[i] = n_unique
                    n_unique += 1
                    break
                same = True
                ri = firsts[r]
                for j in range(d):
                    if xq[ri, j] != xq[i, j]:
                        same = False
                        break
                if same:
                    inverse[i] = r
                    break
                slot = (slot + 1) & (size - 1)
        return firsts[:n_unique], inverse

    # ---- float32 kernels over a BoxForest
    @jit
    def box_forest(left, right, feature, threshold, nan_left, value, roots, d, n_leaves, depth):
        # Depth-first pre-order of every tree (node ids of the concatenated scikit-learn arrays
        # in, new ids out) and, on the way, the box of each leaf. Stack slot k holds a node still
        # to emit, its box and, for a right child, its parent's new id (to link it).
        n = left.shape[0]
        o_feature = np.empty(n, dtype=np.int32)
        o_threshold = np.zeros(n, dtype=np.float32)
        o_right = np.empty(n, dtype=np.int32)
        o_nan = np.zeros(n, dtype=np.uint8)
        lo = np.empty((n_leaves, d), dtype=np.float32)
        hi = np.empty((n_leaves, d), dtype=np.float32)
        o_value = np.empty(n_leaves, dtype=np.float64)
        st_node = np.empty(depth + 2, dtype=np.int64)
        st_parent = np.empty(depth + 2, dtype=np.int64)
        st_lo = np.empty((depth + 2, d), dtype=np.float32)
        st_hi = np.empty((depth + 2, d), dtype=np.float32)
        pos = 0
        leaf = 0
        for t in range(roots.shape[0]):
            sp = 0
            st_node[0] = roots[t]
            st_parent[0] = -1
            st_lo[0, :] = -np.inf
            st_hi[0, :] = np.inf
            while sp >= 0:
                old = st_node[sp]
                if st_parent[sp] >= 0:
                    o_right[st_parent[sp]] = pos
                if left[old] < 0:
                    o_feature[pos] = -1
                    o_right[pos] = leaf
                    lo[leaf, :] = st_lo[sp, :]
                    hi[leaf, :] = st_hi[sp, :]
                    o_value[leaf] = value[old]
                    leaf += 1
                    sp -= 1
                else:
                    f = feature[old]
                    thr = threshold[old]
                    o_feature[pos] = f
                    o_threshold[pos] = thr
                    o_nan[pos] = nan_left[old]
                    # slot sp + 1: the left child (emitted next, so at pos + 1), x <= thr
                    st_node[sp + 1] = left[old]
                    st_parent[sp + 1] = -1
                    st_lo[sp + 1, :] = st_lo[sp, :]
                    st_hi[sp + 1, :] = st_hi[sp, :]
                    st_hi[sp + 1, f] = min(st_hi[sp, f], thr)
                    # slot sp: the right child, x > thr, linked to this node when emitted
                    st_node[sp] = right[old]
                    st_parent[sp] = pos
                    st_lo[sp, f] = max(st_lo[sp, f], thr)
                    sp += 1
                pos += 1
        return o_feature, o_threshold, o_right, o_nan, lo, hi, o_value

    @jit
    def boxed(X, feature, threshold, right, nan_left, lo, hi, value, roots, out_sum, out_sq, block):
        # Tree by tree over a block of rows; a row inside the box of the leaf the previous row
        # reached gets that leaf without a walk. NaN fails every box test and walks, following
        # scikit-learn's missing_go_to_left at each split.
        n, d = X.shape
        for b0 in range(0, n, block):
            b1 = min(b0 + block, n)
            for t in range(roots.shape[0]):
                root = roots[t]
                leaf = -1
                for i in range(b0, b1):
                    if leaf >= 0:
                        inside = True
                        for f in range(d):
                            x = X[i, f]
                            inside &= (x > lo[leaf, f]) & (x <= hi[leaf, f])
                        if inside:
                            v = value[leaf]
                            out_sum[i] += v
                            out_sq[i] += v * v
                            continue
                    node = root
                    f = feature[node]
                    while f >= 0:
                        x = X[i, f]
                        if x <= threshold[node]:
                            node = node + 1
                        elif x > threshold[node] or not nan_left[node]:
                            node = right[node]
                        else:
                            node = node + 1
                        f = feature[node]
                    leaf = right[node]
                    v = value[leaf]
                    out_sum[i] += v
                    out_sq[i] += v * v

    return {
        "simple": simple,
        "packed": packed,
        "lockstep": lockstep,
        "unique_rows": unique_rows,
        "box_forest": box_forest,
        "boxed": boxed,
    }


KERNELS: dict[str, Any] = _define() if HAVE_NUMBA else {}
