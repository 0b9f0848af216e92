"""The shared shape of permamap's spatial splitters: fold labels per repeat, then sklearn's protocol.

A splitter's ``assign`` returns a :class:`FoldAssignment` (fold and spatial-unit labels of every
sample in every repeat); :class:`_RepeatedSpatialCV` turns it into scikit-learn's
``split``/``get_n_splits``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from ..errors import ConfigError

__all__ = ["FoldAssignment"]


@dataclass(frozen=True, eq=False)
class FoldAssignment:
    """Fold labels of every sample in every repeat.

    Attributes
    ----------
    folds : numpy.ndarray of shape (n_repeats, n_samples)
        Fold index ``0..n_folds-1`` of each sample in each repeat.
    units : numpy.ndarray of shape (n_repeats, n_samples)
        The spatial unit (block or cluster) of each sample; units never straddle folds, so they
        serve as groups for inner, tuning splits.
    info : dict
        Diagnostics (block size, W statistic, number of clusters...).
    """

    folds: np.ndarray
    units: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}; set it to e.g. 5")
    return int(value)


class _RepeatedSpatialCV(BaseCrossValidator):
    """Shared machinery: ``assign`` gives fold labels per repeat; ``split`` yields index pairs."""

    n_splits: int
    n_repeats: int

    def assign(self, X: Any, y: Any = None) -> FoldAssignment:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of (train, test) pairs: ``n_splits * n_repeats``."""
        return self.n_splits * self.n_repeats

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` index arrays, repeat by repeat, fold by fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Site longitude and latitude in degrees.
        y : array-like of shape (n_samples,), optional
            Labels (used by :class:`SpatialBlockKFold` to size blocks automatically).
        groups : ignored
            Rows at identical coordinates always share a fold.
        """
        assignment = self.assign(X, y)
        idx = np.arange(assignment.folds.shape[1])
        for row in assignment.folds:
            for f in range(self.n_splits):
                test = row == f
                yield idx[~test], idx[test]

    def _iter_test_indices(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator:
        for _, test in self.split(X, y, groups):
            yield test
