"""Compiled traversal kernels over a :class:`~permamap.inference.flatten.FlatForest` (numba).

Every kernel returns, per row, the sum over trees of the leaf probability and the sum of its
square (for the spread of tree votes). All are exact: they visit the same leaves as
scikit-learn. They differ only in memory layout and loop order; ``KERNELS`` names them so the
benchmark can time each (``benchmarks.predict``).

- ``simple`` (default): for each block of rows, for each tree, walk each row to its leaf; nodes as
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

__all__ = ["HAVE_NUMBA", "KERNELS", "LANES", "ROW_BLOCK", "pack_nodes"]

#: Rows walked through one tree before moving to the next. Large, so that a deep tree (≈100 kB)
#: stays hot in L2 over many rows; 256 was 30 % slower on a 100-tree, 4,000-node-per-tree forest.
ROW_BLOCK = 32768
#: Rows walked together by the lockstep kernel.
LANES = 8


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

    return {"simple": simple, "packed": packed, "lockstep": lockstep, "unique_rows": unique_rows}


KERNELS: dict[str, Any] = _define() if HAVE_NUMBA else {}
