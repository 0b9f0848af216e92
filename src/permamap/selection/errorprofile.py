"""Expected accuracy of a map cell from its dissimilarity index and the model's confidence.

After CAST's ``errorProfiles()`` (R package CAST, ``R/errorProfiles.R``; Meyer & Pebesma 2021,
2022). CAST takes the cross-validated predictions of the training points, each with its training
DI (distance to the nearest training point in another CV fold / ``d̄``, see
:mod:`permamap.aoa`), keeps those inside the AOA, orders them by DI, computes the model's metric
(e.g. accuracy) in a moving window of ``window.size = 5`` points and fits it against DI with a
shape-constrained spline (``scam``, basis ``mpd``: monotone decreasing for metrics to maximise).
The fit, applied to the DI of every cell, is the expected-error map.

Here the cross-validated rows are the spatial-CV out-of-fold probabilities of the final model
(calibrated, as the map's probability band is) and the quantity is the probability that the
cell's class (``p >= threshold``) is right. Two fits:

``glm`` (default)
    ``P(correct) = sigmoid(a + b · logit(confidence) − c · DI)`` with ``confidence`` the
    probability the model gives its own class (``max(p, 1 − p)`` at threshold 0.5), fitted by
    log-loss under the bounds ``b >= 0`` and ``c >= 0`` (L-BFGS-B): the expected accuracy never
    falls as the model gets surer, nor rises as the cell gets more dissimilar. The confidence term
    is a departure from CAST: a classifier's map already says, cell by cell, how sure it is, and
    a calibrated ``p`` alone gives the accuracy when DI = 0 (``a = 0, b = 1``); DI then says how
    much less to trust it away from the training data. Being parametric, it also extrapolates
    beyond the largest training DI in a defined way.
``calibrated`` (the pipeline's default)
    The ``glm`` form with ``a = 0`` and ``b = 1`` held: ``P(correct) = sigmoid(logit(confidence)
    − c · DI)``, only ``c >= 0`` fitted. The map's probability band is already calibrated under
    spatial CV (:mod:`permamap.selection.calibration`), so its confidence *is* the expected
    accuracy where the cell resembles the training data; the profile adds only how fast accuracy
    falls with DI. Freeing ``a`` and ``b`` fits the out-of-fold rows of the fold models, whose
    probabilities are less sure than the final model's: on the virtual Eurasia ``b`` came out at
    1.45, and the map's expected accuracy in the 0.8–0.95 bins ran 6–8 points above what the
    sites would observe, while the calibrated confidence alone stayed within 3–4 points.
``di``
    CAST's shape: accuracy against DI alone, non-increasing — scikit-learn's
    :class:`~sklearn.isotonic.IsotonicRegression` (``increasing=False``) on the 0/1 correctness of
    each row, the maximum-likelihood monotone fit, instead of ``scam`` on a moving-window metric
    (no window size to choose). Constant beyond the training DI range. Its end steps rest on the
    few rows of the smallest and largest DI and often reach 1 or 0 (CAST's moving window smooths
    them), one reason ``glm`` is the default. CAST keeps only rows inside the AOA; pass only those
    rows for strict parity.

:func:`cv_dissimilarity` gives the DI of each CV row against the rows the out-of-fold model was
actually fitted on (it leaves out rows that were in no CV fold, such as a tuning hold-out);
:func:`accuracy_by_bin` compares an expected-accuracy map with observed correctness (out-of-fold
rows, or a virtual world's truth weighted by cell area).

References
----------
Meyer, H., Pebesma, E. (2021). Predicting into unknown space? Estimating the area of
applicability of spatial prediction models. *Methods Ecol. Evol.* 12, 1620–1633.
doi:10.1111/2041-210X.13650

Meyer, H., Pebesma, E. (2022). Machine learning-based global maps of ecological variables and the
challenge of assessing them. *Nat. Commun.* 13, 2208. doi:10.1038/s41467-022-29838-9
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from ..aoa import AOAReference
from ..errors import ConfigError, DataError

__all__ = [
    "ERROR_PROFILE_KINDS",
    "ErrorProfile",
    "accuracy_by_bin",
    "cv_dissimilarity",
    "fit_error_profile",
]

log = logging.getLogger(__name__)

ERROR_PROFILE_KINDS = ("calibrated", "glm", "di")
MIN_ROWS = 20
_EPS = 1e-3  # probabilities are clipped as in selection.calibration: no infinite logit or loss
_DEFAULT_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def _confidence(p: np.ndarray, threshold: float) -> np.ndarray:
    """Probability the model gives the class it predicts (``p >= threshold`` → class 1)."""
    return np.clip(np.where(p >= threshold, p, 1.0 - p), _EPS, 1.0 - _EPS)


def _logit(q: np.ndarray) -> np.ndarray:
    return np.log(q / (1.0 - q))


def _log_loss(t: np.ndarray, q: np.ndarray) -> float:
    q = np.clip(q, _EPS, 1.0 - _EPS)
    return float(-np.mean(t * np.log(q) + (1.0 - t) * np.log(1.0 - q)))


@dataclass(frozen=True)
class ErrorProfile:
    """A fitted relation from (DI, p) to the probability that a cell's class is right.

    Attributes
    ----------
    kind : {"calibrated", "glm", "di"}
        The fit (module docstring).
    threshold : float
        Class threshold on ``p``: class 1 where ``p >= threshold``.
    coef : tuple of float
        ``(a, b, c)`` of ``sigmoid(a + b · logit(confidence) − c · DI)`` (``glm``); empty for ``di``.
    table_di, table_accuracy : tuple of float
        The non-increasing step table of the ``di`` fit, read by linear interpolation and held
        constant beyond its ends; empty for ``glm``.
    evidence : dict
        JSON-ready record of the fit: ``n_rows``, ``observed_accuracy``, ``coefficients``,
        ``di_range``, ``log_loss`` (in sample) against ``log_loss_constant`` (one accuracy for
        every row), ``binned`` (:func:`accuracy_by_bin` over deciles of the expected accuracy),
        and for ``glm`` whether the optimiser ``converged``.

    Examples
    --------
    A profile with ``a = 0, b = 1`` and no DI effect returns the confidence itself:

    >>> prof = ErrorProfile("glm", 0.5, coef=(0.0, 1.0, 0.0))
    >>> prof.expected_accuracy(np.array([0.0, 2.0]), np.array([0.9, 0.2])).round(6).tolist()
    [0.9, 0.8]
    """

    kind: str
    threshold: float = 0.5
    coef: tuple[float, ...] = ()
    table_di: tuple[float, ...] = ()
    table_accuracy: tuple[float, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ERROR_PROFILE_KINDS:
            raise ConfigError(
                f"error profile kind {self.kind!r} is unknown; use one of {list(ERROR_PROFILE_KINDS)}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(
                f"class threshold {self.threshold!r} must lie strictly between 0 and 1; use 0.5 "
                "unless the maps use another threshold"
            )
        if self.kind in ("glm", "calibrated"):
            ok = len(self.coef) == 3 and all(np.isfinite(self.coef)) and min(self.coef[1:]) >= 0
            if self.kind == "calibrated":
                ok = ok and tuple(self.coef[:2]) == (0.0, 1.0)
            if not ok or self.table_di or self.table_accuracy:
                raise DataError(
                    f"{self.kind} error profile has coefficients {list(self.coef)} and a table of "
                    f"{len(self.table_di)} rows; it needs three finite numbers (a, b >= 0, c >= 0) "
                    "and no table; refit it with fit_error_profile"
                )
        else:
            x, y = np.asarray(self.table_di), np.asarray(self.table_accuracy)
            if (
                self.coef
                or x.size == 0
                or x.shape != y.shape
                or not (np.isfinite(x).all() and np.isfinite(y).all())
                or (np.diff(x) < 0).any()
                or (np.diff(y) > 0).any()
                or (y < 0).any()
                or (y > 1).any()
            ):
                raise DataError(
                    f"di error profile has {x.size} DI and {y.size} accuracy table values and "
                    f"coefficients {list(self.coef)}; it needs equal-length finite tables, DI "
                    "ascending and accuracy in [0, 1] non-increasing, and no coefficients; refit "
                    "it with fit_error_profile"
                )

    def expected_accuracy(self, di: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Probability that the class ``p >= threshold`` is right, per cell, in [0, 1].

        Parameters
        ----------
        di : numpy.ndarray
            Dissimilarity index of each cell (:meth:`permamap.aoa.AOAReference.dissimilarity`).
        p : numpy.ndarray, same shape
            Calibrated P(permafrost) in [0, 1] (not the map band's percent). Unused by ``di``
            profiles except for its shape.

        Returns
        -------
        numpy.ndarray of float64, same shape; NaN where ``di`` or ``p`` is NaN (nodata).
        """
        di = np.asarray(di, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        if di.shape != p.shape:
            raise DataError(
                f"DI has shape {di.shape} and p has shape {p.shape}; pass one DI and one "
                "probability per cell"
            )
        if ((p < 0) | (p > 1)).any() or (di < 0).any():
            raise DataError(
                "p outside [0, 1] or a negative DI given to the error profile; pass probabilities "
                "(the map band's percent divided by 100) and DI from AOAReference.dissimilarity"
            )
        if self.kind == "di":
            out = np.interp(di, self.table_di, self.table_accuracy)
        else:
            a, b, c = self.coef
            out = expit(a + b * _logit(_confidence(p, self.threshold)) - c * di)
        out[np.isnan(di) | np.isnan(p)] = np.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready lists and floats (:meth:`from_dict` rebuilds it exactly)."""
        return {
            "kind": self.kind,
            "threshold": float(self.threshold),
            "coef": [float(v) for v in self.coef],
            "table_di": [float(v) for v in self.table_di],
            "table_accuracy": [float(v) for v in self.table_accuracy],
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ErrorProfile:
        """Rebuild a profile written by :meth:`to_dict`, checking its keys and values."""
        keys = ("kind", "threshold", "coef", "table_di", "table_accuracy", "evidence")
        missing = [k for k in keys if k not in d]
        unknown = sorted(set(d) - set(keys))
        if missing or unknown:
            raise DataError(
                f"error profile has missing keys {missing} and unknown keys {unknown}; it needs "
                f"{list(keys)}, as ErrorProfile.to_dict writes; refit the error profile"
            )
        return cls(
            kind=str(d["kind"]),
            threshold=float(d["threshold"]),
            coef=tuple(float(v) for v in d["coef"]),
            table_di=tuple(float(v) for v in d["table_di"]),
            table_accuracy=tuple(float(v) for v in d["table_accuracy"]),
            evidence=dict(d["evidence"]),
        )


def _check_rows(di: Any, p: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = {
        "di": np.asarray(di, dtype=np.float64),
        "p": np.asarray(p, dtype=np.float64),
        "y": np.asarray(y, dtype=np.float64),
    }
    shapes = {k: v.shape for k, v in arrays.items()}
    if any(v.ndim != 1 for v in arrays.values()) or len({v.size for v in arrays.values()}) != 1:
        raise DataError(
            f"error profile rows have shapes {shapes}; di, p and y must be 1-D with one value "
            "per out-of-fold site row each"
        )
    for name, v in arrays.items():
        bad = int((~np.isfinite(v)).sum())
        if bad:
            raise DataError(
                f"error profile input {name} has {bad} NaN or inf value(s); it needs finite "
                "values: drop the rows no CV model predicted (or that are in no CV fold)"
            )
    n = arrays["di"].size
    if n < MIN_ROWS:
        raise DataError(
            f"error profile got {n} out-of-fold rows; it needs at least {MIN_ROWS}: add sites "
            "or skip the expected-accuracy map"
        )
    if ((arrays["p"] < 0) | (arrays["p"] > 1)).any():
        raise DataError("error profile p has values outside [0, 1]; pass probabilities of class 1")
    if not np.isin(arrays["y"], (0.0, 1.0)).all():
        raise DataError("error profile y has values other than 0 and 1; pass the site labels")
    if (arrays["di"] < 0).any():
        raise DataError(
            "error profile di has negative values; pass the DI of AOAReference (cv_dissimilarity)"
        )
    return arrays["di"], arrays["p"], arrays["y"].astype(np.int64)


def _fit_glm(
    L: np.ndarray, D: np.ndarray, t: np.ndarray, calibrated: bool = False
) -> tuple[tuple[float, ...], bool]:
    """Bounded logistic fit of ``t ~ a + b·L − c·D`` (mean log-loss, analytic gradient).

    ``calibrated`` holds ``a = 0, b = 1`` (equal bounds) and fits ``c`` alone.
    """

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, c = theta
        z = a + b * L - c * D
        r = expit(z) - t
        value = float(np.mean(np.logaddexp(0.0, z) - t * z))
        return value, np.array([r.mean(), (r * L).mean(), -(r * D).mean()])

    mean = float(np.clip(t.mean(), _EPS, 1 - _EPS))
    start = [0.0, 1.0, 0.0] if calibrated else [np.log(mean / (1 - mean)), 0.0, 0.0]
    bounds = [(0.0, 0.0), (1.0, 1.0)] if calibrated else [(None, None), (0.0, None)]
    res = minimize(
        loss,
        x0=np.array(start),
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (0.0, None)],
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-10},
    )
    if not res.success:
        log.warning("error profile: the bounded logistic fit stopped early (%s)", res.message)
    return tuple(float(v) for v in res.x), bool(res.success)


def fit_error_profile(
    di: np.ndarray,
    p: np.ndarray,
    y: np.ndarray,
    *,
    kind: str = "glm",
    threshold: float = 0.5,
) -> ErrorProfile:
    """Fit the expected accuracy of the class against DI (and confidence) on out-of-fold rows.

    Parameters
    ----------
    di : numpy.ndarray, (n,)
        DI of each site row against the rows its out-of-fold model was fitted on
        (:func:`cv_dissimilarity`, or the AOA's ``train_di``).
    p : numpy.ndarray, (n,)
        Out-of-fold P(permafrost) of each row, calibrated as the map's probability band is.
    y : numpy.ndarray, (n,)
        Labels (1 permafrost, 0 not).
    kind : {"calibrated", "glm", "di"}, default="glm"
        The fit (module docstring).
    threshold : float, default=0.5
        Class threshold on ``p``.

    Returns
    -------
    ErrorProfile

    Raises
    ------
    DataError
        Rows of different lengths, non-finite values, fewer than 20 rows, or every class right
        (or every class wrong): accuracy then cannot vary with anything.
    ConfigError
        An unknown ``kind`` or a threshold outside (0, 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0, 1, 2000)
    >>> y = (rng.random(2000) < p).astype(int)  # calibrated: the class is right with P = conf
    >>> prof = fit_error_profile(np.zeros(2000), p, y)
    >>> float(prof.expected_accuracy(np.array([0.0]), np.array([0.8]))[0]) > 0.75
    True
    """
    if kind not in ERROR_PROFILE_KINDS:
        raise ConfigError(
            f"error profile kind {kind!r} is unknown; use one of {list(ERROR_PROFILE_KINDS)}"
        )
    if not 0.0 < threshold < 1.0:
        raise ConfigError(
            f"class threshold {threshold!r} must lie strictly between 0 and 1; use 0.5 unless "
            "the maps use another threshold"
        )
    di, p, y = _check_rows(di, p, y)
    t = ((p >= threshold).astype(np.int64) == y).astype(np.float64)
    n_right = int(t.sum())
    if n_right in (0, len(t)):
        raise DataError(
            f"every one of the {len(t)} out-of-fold classes is {'right' if n_right else 'wrong'}; "
            "the error profile needs both right and wrong predictions: add sites or use the "
            "cross-validation accuracy as a single figure"
        )
    converged = True
    if kind in ("glm", "calibrated"):
        coef, converged = _fit_glm(_logit(_confidence(p, threshold)), di, t, kind == "calibrated")
        prof = ErrorProfile(kind, threshold, coef=coef)
    else:
        iso = IsotonicRegression(increasing=False, y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(di, t)
        prof = ErrorProfile(
            "di",
            threshold,
            table_di=tuple(float(v) for v in iso.X_thresholds_),
            table_accuracy=tuple(float(v) for v in iso.y_thresholds_),
        )
    expected = prof.expected_accuracy(di, p)
    deciles = np.unique(np.quantile(expected, np.linspace(0.0, 1.0, 11)))
    evidence: dict[str, Any] = {
        "kind": kind,
        "n_rows": len(t),
        "observed_accuracy": float(t.mean()),
        "coefficients": (
            dict(zip(("intercept", "logit_confidence", "di"), prof.coef, strict=True))
            if kind != "di"
            else None
        ),
        "di_range": [float(di.min()), float(di.max())],
        "log_loss": _log_loss(t, expected),
        "log_loss_constant": _log_loss(t, np.full_like(t, t.mean())),
        "binned": _bins(expected, t, np.ones_like(t), deciles, closed_outside=False),
        "binned_by": "deciles of the in-sample expected accuracy",
    }
    if kind != "di":
        evidence["converged"] = converged
    log.info(
        "error profile (%s): %d rows, log-loss %.4f vs %.4f for one accuracy everywhere",
        kind,
        len(t),
        evidence["log_loss"],
        evidence["log_loss_constant"],
    )
    return ErrorProfile(
        prof.kind, threshold, prof.coef, prof.table_di, prof.table_accuracy, evidence
    )


def _bins(
    x: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    edges: np.ndarray,
    *,
    closed_outside: bool = True,
) -> list[dict[str, Any]]:
    """Rows per bin ``[e_i, e_{i+1})`` (last closed), plus below/above bins when non-empty."""
    rows: list[dict[str, Any]] = []
    last = len(edges) - 1

    def add(sel: np.ndarray, low: float, high: float, label: str) -> None:
        if not sel.any():
            return
        ws = w[sel]
        rows.append(
            {
                "bin": label,
                "low": low,
                "high": high,
                "n": int(sel.sum()),
                "weight": float(ws.sum()),
                "mean_expected": float(np.average(x[sel], weights=ws)),
                "observed_accuracy": float(np.average(t[sel], weights=ws)),
            }
        )

    lo, hi = float(edges[0]), float(edges[-1])
    if closed_outside:
        add(x < lo, 0.0, lo, f"[0, {lo:g})")
    for i in range(max(last, 1)):
        a, b = float(edges[i]), float(edges[min(i + 1, last)])
        upper = x <= b if i + 1 >= last else x < b
        add((x >= a) & upper, a, b, f"[{a:g}, {b:g}]" if i + 1 >= last else f"[{a:g}, {b:g})")
    if closed_outside:
        add(x > hi, hi, 1.0, f"({hi:g}, 1]")
    return rows


def accuracy_by_bin(
    expected: np.ndarray,
    correct: np.ndarray,
    weights: np.ndarray | None = None,
    edges: Sequence[float] = _DEFAULT_EDGES,
) -> list[dict[str, Any]]:
    """Mean expected and observed accuracy per bin of the expected accuracy.

    Parameters
    ----------
    expected : numpy.ndarray
        Expected accuracy per row or cell (:meth:`ErrorProfile.expected_accuracy`); NaN marks
        nodata, which is left out.
    correct : numpy.ndarray, same shape
        1 where the class was right, 0 where wrong (bool allowed).
    weights : numpy.ndarray, same shape, optional
        Positive weight per row, e.g. cell area in km²; 1 by default.
    edges : sequence of float, default=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
        Increasing bin edges in [0, 1]; bins are ``[e_i, e_{i+1})``, the last one closed. Values
        below the first edge (or above the last) get their own bin ``[0, e_0)`` (``(e_n, 1]``),
        listed only when they hold rows.

    Returns
    -------
    list of dict
        One per non-empty bin: ``bin`` (label), ``low``, ``high``, ``n``, ``weight`` (sum),
        ``mean_expected`` and ``observed_accuracy`` (both weighted means).

    Examples
    --------
    >>> rows = accuracy_by_bin(np.array([0.55, 0.58, 0.97, 0.3]), np.array([1, 0, 1, 0]))
    >>> [(r["bin"], r["n"], r["observed_accuracy"]) for r in rows]
    [('[0, 0.5)', 1, 0.0), ('[0.5, 0.6)', 2, 0.5), ('[0.95, 1]', 1, 1.0)]
    """
    x = np.asarray(expected, dtype=np.float64).ravel()
    t = np.asarray(correct, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not (x.size == t.size == w.size):
        raise DataError(
            f"accuracy_by_bin got {x.size} expected, {t.size} correct and {w.size} weight "
            "values; pass one of each per cell"
        )
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or (np.diff(e) <= 0).any() or e[0] < 0 or e[-1] > 1:
        raise ConfigError(
            f"accuracy bin edges {list(edges)} must be at least two increasing values in "
            "[0, 1], e.g. (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)"
        )
    keep = ~np.isnan(x)
    x, t, w = x[keep], t[keep], w[keep]
    if ((x < 0) | (x > 1)).any():
        raise DataError(
            "expected accuracy has values outside [0, 1]; pass expected_accuracy output"
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise DataError(
            "correct has values other than 0 and 1 where the expected accuracy is known; pass "
            "(class == truth) and NaN expected accuracy for nodata cells"
        )
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise DataError(
            "weights must be finite and positive where the expected accuracy is known; pass "
            "cell areas (km²) or leave weights out"
        )
    return _bins(x, t, w, e)


def cv_dissimilarity(
    reference: AOAReference, folds: np.ndarray | Sequence[int] | None = None
) -> np.ndarray:
    """DI of each training row against the CV rows of the other folds (what its model saw).

    The AOA's ``train_di`` counts every row of another fold as a neighbour, including rows that
    were in no CV fold (a tuning hold-out, fold -1 in permamap), which no out-of-fold model was
    fitted on. Here rows with a negative fold are neither neighbours nor given a DI (NaN), so the
    DI matches the training set of the model that predicted the row out of fold. Without negative
    folds it equals ``reference.train_di`` (up to rounding).

    Parameters
    ----------
    reference : AOAReference
        The fitted AOA (its ``train`` rows in table order and ``mean_distance``).
    folds : array-like of int, optional
        CV fold of each training row; ``reference.folds`` by default.

    Returns
    -------
    numpy.ndarray, (n_train,)
        Distance to the nearest row of another non-negative fold / ``d̄``; NaN for rows of a
        negative fold.

    Examples
    --------
    >>> from permamap.aoa import fit_aoa
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    >>> ref = fit_aoa(X, folds=[0, 1, 0, 1, -1])
    >>> np.round(cv_dissimilarity(ref) * ref.mean_distance * ref.scale[0], 6).tolist()
    [1.0, 1.0, 1.0, 1.0, nan]
    """
    fold = reference.folds if folds is None else np.asarray(folds)
    if fold is None:
        raise DataError(
            "the AOA reference records no CV folds; pass folds (the spatial fold of each "
            "training row) to cv_dissimilarity"
        )
    fold = np.asarray(fold)
    n = len(reference.train)
    if fold.shape != (n,):
        raise DataError(
            f"{fold.size} fold labels given for {n} AOA training rows; give one per row"
        )
    out = np.full(n, np.nan)
    used = np.unique(fold[fold >= 0])
    if len(used) < 2:
        raise DataError(
            f"CV folds {used.tolist()} leave no other fold to measure from; give at least two "
            "non-negative folds"
        )
    for f in used:
        query, pool = np.flatnonzero(fold == f), np.flatnonzero((fold >= 0) & (fold != f))
        dist, _ = cKDTree(reference.train[pool]).query(reference.train[query], k=1)
        out[query] = np.asarray(dist, dtype=np.float64) / reference.mean_distance
    return out
