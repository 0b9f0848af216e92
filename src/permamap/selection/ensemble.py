"""A spatially blocked bootstrap ensemble of the final model: the source of the map's uncertainty.

The final model is refitted on ``B`` resamples of the training sites (:func:`fit_ensemble`); the
spread of the members' probabilities at a cell is the map's ``uncertainty`` band
(:mod:`permamap.predict.block`), with the same meaning for every model kind: how much P(permafrost)
would move had another sample of sites of the same spatial structure been drawn.

Resampling rows one by one would treat neighbouring sites (which nearly copy each other) as
independent draws and understate the spread. :func:`block_bootstrap` resamples whole spatial
blocks instead (Künsch 1989; the "moving/stationary block bootstrap" of time series carried to
space, e.g. Lahiri 2003, ch. 12): each member draws as many blocks as there are, with replacement,
and takes every row of a drawn block once per draw. Blocks as wide as the labels' autocorrelation
range (:func:`bootstrap_blocks`, the same rule as :class:`~permamap.cv.SpatialBlockKFold`) are
roughly independent of each other, which is what the bootstrap assumes.

References
----------
Künsch (1989) The jackknife and the bootstrap for general stationary observations. Ann. Stat. 17.
Lahiri (2003) Resampling Methods for Dependent Data. Springer.
"""

from __future__ import annotations

import logging
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing, check_random_state

from ..cv import SpatialBlockKFold
from ..errors import DataError, InputFileError
from ..fileio import atomic_write_bytes
from ..inference import compile_model, positive_class_index

__all__ = [
    "ENSEMBLE_METHOD",
    "Ensemble",
    "block_bootstrap",
    "bootstrap_blocks",
    "fit_ensemble",
    "member_estimator",
]

log = logging.getLogger(__name__)

ENSEMBLE_METHOD = "spatial block bootstrap"
_FORMAT = "permamap-ensemble"
_VERSION = 1
_MAX_REDRAWS = 100


def bootstrap_blocks(
    lonlat: np.ndarray,
    y: np.ndarray,
    *,
    block_size_km: float | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """Spatial block id of every training row, for :func:`block_bootstrap`.

    Blocks are the equal-area cells of :class:`~permamap.cv.SpatialBlockKFold` (one random offset
    from ``random_state``), ``block_size_km`` wide or, when None, as wide as the labels'
    autocorrelation range (:func:`~permamap.cv.autocorrelation_range_km`).

    Parameters
    ----------
    lonlat : array of shape (n_rows, 2)
        Site positions, longitude and latitude in degrees.
    y : array of shape (n_rows,)
        Labels (0/1); used only to derive the block size.
    block_size_km : float, optional
        Block edge in km (e.g. the spatial CV's ``splits["spatial"].info["block_size_km"]``).
    random_state : int, default=0
        Offset of the block grid.

    Examples
    --------
    >>> lonlat = np.array([[10.0, 50.0], [10.1, 50.1], [40.0, 60.0]])
    >>> bootstrap_blocks(lonlat, np.array([0, 0, 1]), block_size_km=100).tolist()
    [0, 0, 1]
    """
    splitter = SpatialBlockKFold(block_size_km=block_size_km)
    size = splitter.resolve_block_size_km(lonlat, y)
    return splitter.block_ids(lonlat, size, check_random_state(random_state))


def block_bootstrap(
    groups: np.ndarray, y: np.ndarray, n_members: int, random_state: int
) -> list[np.ndarray]:
    """Row indices of ``n_members`` spatial block-bootstrap resamples.

    Each resample draws ``n_groups`` blocks (the distinct values of ``groups``) with replacement
    and returns the rows of every drawn block, repeated as many times as the block was drawn
    (rows in ascending order). A resample that lacks a class is redrawn from the same seeded
    stream, so the result is a deterministic function of the arguments.

    Parameters
    ----------
    groups : array of shape (n_rows,)
        Spatial block (or cluster) of each training row, e.g. from :func:`bootstrap_blocks`.
    y : array of shape (n_rows,)
        Labels; every resample holds both classes.
    n_members : int
        Number of resamples.
    random_state : int
        Seed.

    Returns
    -------
    list of numpy.ndarray of int
        One index array per member.

    Raises
    ------
    DataError
        Fewer than 2 groups, a single class, mismatched lengths, or no resample with both classes
        after 100 draws.

    Examples
    --------
    >>> groups = np.array([0, 0, 1, 1, 2])
    >>> y = np.array([0, 1, 0, 1, 1])
    >>> idx = block_bootstrap(groups, y, n_members=3, random_state=0)
    >>> [np.bincount(groups[i], minlength=3).tolist() for i in idx]  # rows per block: 2, 2, 1
    [[4, 2, 0], [0, 4, 1], [4, 0, 1]]
    """
    groups, y = np.asarray(groups).ravel(), np.asarray(y).ravel()
    if len(groups) != len(y):
        raise DataError(
            f"groups has {len(groups)} rows but y has {len(y)}; pass one block id per training row"
        )
    if isinstance(n_members, bool) or not isinstance(n_members, int | np.integer) or n_members < 1:
        raise DataError(f"n_members={n_members!r} must be a positive integer; e.g. 20")
    labels, inverse = np.unique(groups, return_inverse=True)
    n_groups = len(labels)
    if n_groups < 2:
        raise DataError(
            f"the {len(y)} training rows fall into {n_groups} spatial block(s); a block bootstrap "
            "needs at least 2; use smaller blocks (block_size_km) or more spread-out sites"
        )
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"the training labels hold one class only ({classes.tolist()}); the ensemble needs "
            "permafrost (1) and non-permafrost (0) rows"
        )
    # Rows of each block in ascending row order, and the classes each block holds.
    block_classes = [set(np.unique(y[inverse == g]).tolist()) for g in range(n_groups)]
    rng = check_random_state(random_state)
    out = []
    for k in range(n_members):
        for _ in range(_MAX_REDRAWS):
            counts = np.bincount(rng.randint(0, n_groups, n_groups), minlength=n_groups)
            seen: set[Any] = set().union(*(block_classes[g] for g in np.flatnonzero(counts)))
            if len(seen) == len(classes):
                break
        else:
            raise DataError(
                f"{_MAX_REDRAWS} block-bootstrap draws of member {k} over {n_groups} blocks all "
                "lacked a class: one class sits in very few blocks; use smaller blocks or add "
                "sites of the rare class"
            )
        out.append(np.repeat(np.arange(len(y)), counts[inverse]))
    return out


def _forest_keys(estimator: Any) -> list[str]:
    """Parameter paths (``""`` = the estimator itself) of the bagged forests inside ``estimator``."""
    keys = [""] if isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier) else []
    if hasattr(estimator, "get_params"):
        for key, value in estimator.get_params(deep=True).items():
            if isinstance(value, RandomForestClassifier | ExtraTreesClassifier):
                keys.append(key)
    return keys


def member_estimator(estimator: Any, n_members: int) -> Any:
    """An unfitted clone of ``estimator`` to refit as one member of an ``n_members`` ensemble.

    Bagged tree ensembles (:class:`~sklearn.ensemble.RandomForestClassifier`,
    :class:`~sklearn.ensemble.ExtraTreesClassifier`, alone, as a Pipeline step or inside a
    :class:`~permamap.modelio.FeatureGuard`) get ``n_estimators = max(10, ceil(n_estimators /
    n_members))`` trees, so that the members together cost about one final model to fit and to
    predict. A forest's probability is already an average over trees; each member only needs
    enough trees for its own mean, and the ensemble's mean probability uses
    ``n_members × trees`` trees. The price: with ``m`` trees a member's probability carries a
    Monte-Carlo noise of variance ``var_trees / m`` on top of the resampling variance, which
    inflates the spread slightly (with 25 trees and a tree-vote sd of 0.3, by 0.06 in
    quadrature); it is the same for every cell class, so the band stays comparable.
    Other models (logistic regression, boosting) are unchanged: each member is a full model.

    Every ``n_jobs`` parameter is set to 1: members are fitted side by side
    (:func:`fit_ensemble`) and predicted inside the map's parallel tiles, so parallel trees
    inside a member would only oversubscribe the cores (results do not depend on ``n_jobs``).

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> pipe = Pipeline([("clf", RandomForestClassifier(n_estimators=500, n_jobs=-1))])
    >>> m = member_estimator(pipe, 20)
    >>> m.get_params()["clf__n_estimators"], m.get_params()["clf__n_jobs"]
    (25, 1)
    >>> member_estimator(RandomForestClassifier(n_estimators=50), 20).n_estimators
    10
    """
    est = clone(estimator)
    n = max(1, int(n_members))
    for key in _forest_keys(est):
        forest = est if key == "" else est.get_params(deep=True)[key]
        forest.set_params(n_estimators=max(10, math.ceil(forest.n_estimators / n)))
    if hasattr(est, "get_params"):
        jobs = {k: 1 for k, v in est.get_params(deep=True).items() if k.endswith("n_jobs") and v}
        if jobs:
            est.set_params(**jobs)
    return est


#: Seconds per million grid cells a map costs besides the model: reading the factors, writing the
#: tiles and the COG (make bench, predict: 14.3 s for the 131.7 M cells of a 30 arc-sec epoch with a
#: one-factor tree, 2026-11-28).
MAP_IO_S_PER_MILLION = 0.1
#: Members of the ``auto`` ensemble when members are cheap (linear, or forests of scaled size).
AUTO_MEMBERS = 20


def auto_members(estimator: Any, cost_s_per_million: float | None) -> tuple[int, str]:
    """How many members ``bootstrap_members = "auto"`` gives, and why (issue 12: band ≤ 2× the map).

    Scaled logistic regressions fold into one matrix product and forests get ``1/B`` of the trees
    (:func:`member_estimator`), so :data:`AUTO_MEMBERS` of them cost about one model. Any other
    member is a full model: as many as the plain map's own cost allows (model + I/O, with
    ``cost_s_per_million`` the model's measured prediction cost), at least 2.

    >>> auto_members(RandomForestClassifier(), 40.0)[0]
    20
    >>> from sklearn.naive_bayes import GaussianNB
    >>> auto_members(GaussianNB(), None)  # cost not measured: the cheap-member size
    (20, 'prediction cost not measured')
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> auto_members(HistGradientBoostingClassifier(), 0.02)
    (6, 'full-size members: as many as fit in one map (model 0.02 + I/O 0.1 s per million cells)')
    """
    if _forest_keys(estimator) or _is_linear(estimator):
        return AUTO_MEMBERS, "members cost about one model together (scaled forests or linear)"
    if not cost_s_per_million or cost_s_per_million <= 0:
        return AUTO_MEMBERS, "prediction cost not measured"
    budget = cost_s_per_million + MAP_IO_S_PER_MILLION
    n = int(min(AUTO_MEMBERS, max(2, budget // cost_s_per_million)))
    return n, (
        f"full-size members: as many as fit in one map (model {cost_s_per_million:g} + I/O "
        f"{MAP_IO_S_PER_MILLION:g} s per million cells)"
    )


def _is_linear(estimator: Any) -> bool:
    """``[StandardScaler →] LogisticRegression`` (inside a FeatureGuard or not), unfitted or fitted."""
    est = (
        getattr(estimator, "estimator", estimator)
        if type(estimator).__name__ == "FeatureGuard"
        else estimator
    )
    steps = list(est.steps) if isinstance(est, Pipeline) else [("clf", est)]
    *pre, (_, clf) = steps
    return isinstance(clf, LogisticRegression) and all(
        isinstance(s, StandardScaler) for _, s in pre
    )


def _unwrap_guard(model: Any) -> Any:
    """The fitted estimator inside a FeatureGuard (members are stored as plain scikit-learn)."""
    return model.estimator_ if type(model).__name__ == "FeatureGuard" else model


def _fit_member(base: Any, X: Any, y: np.ndarray, rows: np.ndarray, seed: int) -> Any:
    est = clone(base)
    if hasattr(est, "get_params"):
        # A fresh seed per member: identical tree seeds on overlapping resamples would correlate
        # the members beyond what the resampling implies. None (non-deterministic) stays None.
        seeds = {
            k: seed
            for k, v in est.get_params(deep=True).items()
            if k.endswith("random_state") and isinstance(v, int | np.integer)
        }
        if seeds:
            est.set_params(**seeds)
    return _unwrap_guard(est.fit(_safe_indexing(X, rows), y[rows]))


def _final_name(estimator: Any) -> str:
    """Class name of the final estimator inside a FeatureGuard / Pipeline (for the card)."""
    inner = estimator.estimator if type(estimator).__name__ == "FeatureGuard" else estimator
    steps = getattr(inner, "steps", None)
    return type(steps[-1][1] if steps else inner).__name__


class Ensemble:
    """Fitted members of a block-bootstrap ensemble and how they were made.

    Parameters
    ----------
    members : sequence of classifier
        Fitted scikit-learn classifiers (Pipelines...) with ``predict_proba`` and classes 0/1.
    info : dict
        How the members were made (``method``, ``n_groups``, ``random_state``...), JSON-ready.

    Attributes
    ----------
    n_members : int
    """

    def __init__(self, members: Sequence[Any], info: dict[str, Any] | None = None) -> None:
        if len(members) < 1:
            raise DataError(
                "an ensemble needs at least one fitted member; fit it with fit_ensemble"
            )
        self.members = list(members)
        self.info = dict(info or {})
        self.info.setdefault("method", ENSEMBLE_METHOD)
        self.info["n_members"] = len(self.members)
        self._predictors: list[Any] | None = None
        self._linear: tuple[np.ndarray, np.ndarray] | None = None
        self._linear_checked = False
        self._hash: str | None = None

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def n_features(self) -> int:
        return int(getattr(self.members[0], "n_features_in_", 0))

    def __repr__(self) -> str:
        kind = type(self.members[0]).__name__
        return f"Ensemble({self.n_members} x {kind}, {self.info.get('method')})"

    def predictors(self) -> list[Any]:
        """One fast predictor per member (:func:`~permamap.inference.compile_model`), built once."""
        if self._predictors is None:
            width = self.n_features or None
            self._predictors = [compile_model(m, width) for m in self.members]
        return self._predictors

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) of every member for rows ``X``: float64 ``(n_members, n_rows)``.

        Examples
        --------
        >>> from sklearn.linear_model import LogisticRegression
        >>> X, y = np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([1, 1, 0, 0])
        >>> ens = Ensemble([LogisticRegression().fit(X, y), LogisticRegression(C=0.01).fit(X, y)])
        >>> ens.predict_members(np.array([[0.0]])).round(2).tolist()
        [[0.5], [0.5]]
        """
        X = np.asarray(X)
        out = np.empty((self.n_members, len(X)), dtype=np.float64)
        if len(X) == 0:
            return out
        if not self._linear_checked:
            self._linear, self._linear_checked = _linear_stack(self.members), True
        if self._linear is not None:
            W, c = self._linear
            return np.ascontiguousarray(expit(X.astype(np.float64) @ W + c).T)
        for k, pred in enumerate(self.predictors()):
            out[k] = pred.predict_stats(X)[0]
        return out

    def fingerprint(self) -> str:
        """A hash of the fitted members (for the map's tile store), computed once."""
        if self._hash is None:
            import joblib

            self._hash = str(joblib.hash((self.members, self.info)))
        return self._hash

    def __getstate__(self) -> dict[str, Any]:
        # compiled predictors are rebuilt where they are needed (smaller to ship to dask workers)
        return {**self.__dict__, "_predictors": None, "_linear": None, "_linear_checked": False}

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> Path:
        """Write the members with skops (no pickle byte-code), atomically; return ``path``."""
        import skops.io as sio

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "members": self.members,
            "info": self.info,
        }
        return atomic_write_bytes(path, sio.dumps(payload))

    @classmethod
    def load(cls, path: str | Path) -> Ensemble:
        """Read an ensemble written by :meth:`save`; only trusted scikit-learn types load."""
        import skops.io as sio

        from ..modelio import _TRUSTED_PREFIXES, _TRUSTED_TYPES

        path = Path(path)
        fix = "re-run the model stage (permamap run) to refit and save the ensemble"
        if not path.is_file():
            raise InputFileError(f"ensemble file {path} does not exist; {fix}")
        try:
            untrusted = sio.get_untrusted_types(file=path)
            refused = [
                t
                for t in untrusted
                if not t.startswith(_TRUSTED_PREFIXES) and t not in _TRUSTED_TYPES
            ]
            if refused:
                raise InputFileError(
                    f"ensemble file {path} holds types permamap does not trust: {refused}; {fix}"
                )
            stored = sio.load(path, trusted=untrusted)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as e:
            if isinstance(e, InputFileError):
                raise
            raise InputFileError(
                f"ensemble file {path} is unreadable or corrupt ({type(e).__name__}: {e}); {fix}"
            ) from e
        if not isinstance(stored, dict) or stored.get("format") != _FORMAT:
            raise InputFileError(f"{path} is not a permamap ensemble file; {fix}")
        if stored.get("version") != _VERSION:
            raise InputFileError(
                f"ensemble file {path} has format version {stored.get('version')}, this permamap "
                f"reads {_VERSION}; {fix}"
            )
        return cls(stored["members"], stored["info"])


def _linear_stack(members: Sequence[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Members that are all ``[StandardScaler →] LogisticRegression`` on 0/1, as one matrix.

    The scaler folds into the weights (``w / σ``, ``b − μ·w/σ``), so B members cost one
    ``(n, k) @ (k, B)`` product instead of B pipeline calls (20 members: about the cost of one).
    None when any member is something else.
    """
    weights, biases = [], []
    for m in members:
        steps = list(m.steps) if isinstance(m, Pipeline) else [("clf", m)]
        *pre, (_, clf) = steps
        if not isinstance(clf, LogisticRegression) or list(clf.classes_) != [0, 1]:
            return None
        w, b = clf.coef_[0].astype(np.float64), float(clf.intercept_[0])
        for _, step in reversed(pre):  # fold the step nearest the classifier first
            if not isinstance(step, StandardScaler):
                return None
            scale = step.scale_ if step.scale_ is not None else np.ones_like(w)
            mean = step.mean_ if step.mean_ is not None else np.zeros_like(w)
            w = w / scale
            b = b - float(mean @ w)
        weights.append(w)
        biases.append(b)
    return np.column_stack(weights), np.asarray(biases)


def fit_ensemble(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    n_members: int = 20,
    random_state: int = 0,
    n_jobs: int = 1,
) -> Ensemble:
    """Refit ``estimator`` on ``n_members`` spatial block-bootstrap resamples of ``(X, y)``.

    Parameters
    ----------
    estimator : classifier
        The final model's *unfitted* configuration (a Pipeline, a FeatureGuard...); each member is
        :func:`member_estimator` of it (forests get fewer trees).
    X : array of shape (n_rows, n_features)
        Training factors, in model order (the rows the final model was fitted on).
    y : array of shape (n_rows,)
        Labels 0/1.
    groups : array of shape (n_rows,)
        Spatial block of each row (:func:`bootstrap_blocks`).
    n_members : int, default=20
        Number of members (at least 2: a spread needs two).
    random_state : int, default=0
        Seeds the resamples and the members' own seeds.
    n_jobs : int, default=1
        Members fitted in parallel (joblib threads; -1 = all cores).

    Returns
    -------
    Ensemble
    """
    if isinstance(n_members, bool) or not isinstance(n_members, int | np.integer) or n_members < 2:
        raise DataError(
            f"n_members={n_members!r}: an ensemble spread needs at least 2 members; use e.g. 20"
        )
    y = np.asarray(y).ravel()
    if len(y) != len(X):
        raise DataError(f"X has {len(X)} rows but y has {len(y)}; pass one label per row")
    rows = block_bootstrap(groups, y, int(n_members), random_state)
    base = member_estimator(estimator, int(n_members))
    seeds = np.random.SeedSequence([int(random_state), 1]).generate_state(int(n_members))
    members = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_member)(base, X, y, r, int(s) & 0x7FFFFFFF)
        for r, s in zip(rows, seeds, strict=True)
    )
    for m in members:
        positive_class_index(m)  # members must know class 1 (they always see both classes)
    n_trees = [
        int(base.get_params(deep=True)[k].n_estimators) if k else int(base.n_estimators)
        for k in _forest_keys(base)
    ]
    info = {
        "method": ENSEMBLE_METHOD,
        "n_members": int(n_members),
        "n_groups": len(np.unique(np.asarray(groups))),
        "n_rows": len(y),
        "random_state": int(random_state),
        "estimator": _final_name(estimator),
        "member_n_estimators": n_trees[0] if n_trees else None,
        "features": list(getattr(estimator, "features", None) or []),
    }
    log.info(
        "ensemble: %d members refitted on block-bootstrap resamples of %d blocks",
        n_members,
        info["n_groups"],
    )
    return Ensemble(members, info)
