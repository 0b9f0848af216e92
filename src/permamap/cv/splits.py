"""The :class:`Splits` value object: cross-validation folds computed once and reused everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from ..errors import DataError
from .base import _RepeatedSpatialCV

__all__ = ["Splits"]


@dataclass(frozen=True, eq=False)
class Splits:
    """Cross-validation folds computed once and held as index arrays.

    Pass a :class:`Splits` wherever scikit-learn takes ``cv=``; iterate it for ``(train, test)``
    pairs. All steps of the model stage reuse the same instance, so model comparison, tuning,
    importance and feature-combination tests see identical folds.

    Attributes
    ----------
    scheme : str
        ``"random"`` or ``"spatial"``.
    folds : numpy.ndarray of shape (n_repeats, n_samples)
        Fold index of each sample in each repeat.
    units : numpy.ndarray of shape (n_repeats, n_samples)
        Group labels that never straddle folds (sites, blocks or clusters), for inner splits.
    info : dict
        Diagnostics from the splitter.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1] * 10)
    >>> s = Splits.random(y, n_folds=5, n_repeats=2, random_state=0)
    >>> len(s), s.n_repeats, s.n_folds
    (10, 2, 5)
    >>> all(np.intersect1d(tr, te).size == 0 for tr, te in s)
    True
    """

    scheme: str
    folds: np.ndarray
    units: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = np.asarray(self.folds)
        if f.ndim != 2:
            raise DataError(f"folds has shape {f.shape}; expected (n_repeats, n_samples)")
        for r, row in enumerate(f):
            present = np.unique(row)
            if present.size != self.n_folds or present[0] != 0:
                raise DataError(
                    f"repeat {r} of the {self.scheme} splits has folds {present.tolist()}; every "
                    f"fold 0..{self.n_folds - 1} needs at least one test sample; use fewer folds"
                )

    @property
    def n_repeats(self) -> int:
        return int(self.folds.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.folds.shape[1])

    @property
    def n_folds(self) -> int:
        return int(self.folds.max()) + 1

    @classmethod
    def random(
        cls,
        y: Any,
        *,
        n_folds: int = 5,
        n_repeats: int = 40,
        random_state: int | np.random.RandomState | None = None,
    ) -> Splits:
        """Repeated stratified k-fold on rows (the published protocol)."""
        yy = np.asarray(y)
        counts = np.bincount(yy.astype(int)) if yy.size else np.array([0])
        if (counts[counts > 0] < n_folds).any() or (counts > 0).sum() < 2:
            raise DataError(
                f"class counts {counts.tolist()} cannot fill {n_folds} stratified folds; each of "
                f"the two classes needs at least {n_folds} samples; add sites or lower n_folds"
            )
        cv = RepeatedStratifiedKFold(
            n_splits=n_folds, n_repeats=n_repeats, random_state=random_state
        )
        folds = np.empty((n_repeats, len(yy)), dtype=int)
        for i, (_, test) in enumerate(cv.split(np.zeros(len(yy)), yy)):
            folds[i // n_folds, test] = i % n_folds
        units = np.tile(np.arange(len(yy)), (n_repeats, 1))
        return cls("random", folds, units, {"method": "repeated stratified k-fold"})

    @classmethod
    def from_splitter(
        cls, scheme: str, splitter: _RepeatedSpatialCV, X: Any, y: Any = None
    ) -> Splits:
        """Compute the folds of a spatial splitter once (``X`` = lon/lat degrees)."""
        a = splitter.assign(X, y)
        return cls(scheme, a.folds, a.units, dict(a.info))

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` index arrays, repeat by repeat, fold by fold."""
        if X is not None and len(X) != self.n_samples:
            raise DataError(
                f"these {self.scheme} splits were computed for {self.n_samples} samples but got "
                f"{len(X)}; compute the splits on the same table"
            )
        idx = np.arange(self.n_samples)
        for row in self.folds:
            for f in range(self.n_folds):
                test = row == f
                yield idx[~test], idx[test]

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_repeats * self.n_folds

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.split()

    def __len__(self) -> int:
        return self.get_n_splits()

    def keys(self) -> list[tuple[int, int]]:
        """``(repeat, fold)`` of each split, in iteration order."""
        return [(r, f) for r in range(self.n_repeats) for f in range(self.n_folds)]

    def head(self, n_repeats: int) -> Splits:
        """The first ``n_repeats`` repeats (cheaper steps such as feature selection use these)."""
        n = max(1, min(int(n_repeats), self.n_repeats))
        return Splits(self.scheme, self.folds[:n], self.units[:n], dict(self.info))

    def test_train_ratio(self) -> float:
        """Mean ``n_test / n_train``, for the Nadeau–Bengio variance correction."""
        sizes = np.array([np.bincount(row) for row in self.folds], dtype=float)
        return float(np.mean(sizes / (self.n_samples - sizes)))
