"""Pure prediction of one block of factors: :func:`predict_block`, the member summaries, band names.

Bands follow docs/contracts.md (:data:`permamap.contracts.MAP_BANDS`): ``class``, ``probability``
(%), ``uncertainty``, then ``aoa`` with an :class:`~permamap.aoa.AOAReference` and
``expected_accuracy`` (%) with an error profile.

``uncertainty`` is ``round(100 × sd)`` of the members' calibrated probabilities, where the members
are the model refitted on spatial block-bootstrap resamples of the sites
(:mod:`permamap.selection.ensemble`) and sd is the population standard deviation over members: the
same quantity, in percentage points (0–50), for a logistic regression, a forest or a boosted model.
Without an ensemble the band is :data:`~permamap.contracts.MAP_NODATA`; no substitute is made up.
The ``class`` and ``probability`` bands are always the main model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..aoa import AOAReference
from ..contracts import AOA_BAND, EXPECTED_ACCURACY_BAND, MAP_BANDS, MAP_NODATA
from ..errors import DataError
from ..inference import Predictor, ReferencePredictor
from ..selection.calibration import Calibrator

__all__ = [
    "CellPrediction",
    "ErrorProfileLike",
    "MembersLike",
    "map_bands",
    "member_areas",
    "member_classes",
    "predict_block",
    "predict_cells",
    "probability_percent",
]


class MembersLike(Protocol):
    """What prediction needs of an ensemble (:class:`permamap.selection.ensemble.Ensemble`)."""

    @property
    def n_members(self) -> int: ...

    def predict_members(self, X: np.ndarray) -> np.ndarray: ...


class ErrorProfileLike(Protocol):
    """What prediction needs of an error profile: expected accuracy in [0, 1] from DI and p."""

    def expected_accuracy(self, di: np.ndarray, p: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


def map_bands(aoa: AOAReference | None, error_profile: object | None = None) -> tuple[str, ...]:
    """Band names of a map: :data:`~permamap.contracts.MAP_BANDS`, ``aoa``, ``expected_accuracy``.

    >>> map_bands(None)
    ('class', 'probability', 'uncertainty')
    """
    bands = MAP_BANDS + ((AOA_BAND,) if aoa is not None else ())
    return bands + ((EXPECTED_ACCURACY_BAND,) if error_profile is not None else ())


def _as_predictor(model: Any, n_features: int) -> Predictor:
    return model if hasattr(model, "predict_stats") else ReferencePredictor(model, n_features)


@dataclass(frozen=True)
class CellPrediction:
    """One block's bands and, with an ensemble, its members' calibrated probabilities.

    Attributes
    ----------
    bands : numpy.ndarray of uint8, (n_bands, rows, cols)
    valid : numpy.ndarray of bool, (rows, cols)
        Cells with every factor (the others are 255 in every band).
    member_p : numpy.ndarray of float64, (n_members, n_valid) or None
        Calibrated P(permafrost) of each member at the valid cells, in row-major cell order.
    """

    bands: np.ndarray
    valid: np.ndarray
    member_p: np.ndarray | None = None


def predict_cells(
    model: Any,
    block: np.ndarray,
    threshold: float = 0.5,
    *,
    aoa: AOAReference | None = None,
    calibration: Calibrator | None = None,
    members: MembersLike | None = None,
    error_profile: ErrorProfileLike | None = None,
) -> CellPrediction:
    """:func:`predict_block` that also returns the members' probabilities (for member files)."""
    if block.ndim != 3:
        raise DataError(
            f"a block must be (band, row, col), got shape {block.shape}; add a band axis"
        )
    if error_profile is not None and aoa is None:
        raise DataError(
            "an error profile maps the dissimilarity index to accuracy, which needs the AOA "
            "reference; pass aoa= too (the model artefact holds it) or leave error_profile out"
        )
    n_features, rows, cols = block.shape
    out = np.full((len(map_bands(aoa, error_profile)), rows, cols), MAP_NODATA, dtype=np.uint8)
    valid = np.isfinite(block).all(axis=0)
    if not valid.any():
        empty = None if members is None else np.empty((members.n_members, 0))
        return CellPrediction(out, valid, empty)
    x = np.ascontiguousarray(block[:, valid].T)
    proba, _ = _as_predictor(model, n_features).predict_stats(x)
    if calibration is not None:
        proba = calibration.apply(proba)
    out[0][valid] = (proba >= threshold).astype(np.uint8)
    out[1][valid] = probability_percent(proba)
    member_p = None
    if members is not None:
        member_p = np.asarray(members.predict_members(x), dtype=np.float64)
        if calibration is not None:
            member_p = calibration.apply(member_p)
        # population sd (ddof=0): two members at 0.2 and 0.8 give 0.3 → 30 percentage points
        out[2][valid] = np.clip(np.rint(member_p.std(axis=0) * 100.0), 0, 50).astype(np.uint8)
    if aoa is not None:
        if error_profile is None:
            out[3][valid] = aoa.inside(x).astype(np.uint8)
        else:
            di = aoa.dissimilarity(x)  # computed once: the aoa band and the accuracy band
            out[3][valid] = (di <= aoa.threshold).astype(np.uint8)
            acc = np.asarray(error_profile.expected_accuracy(di, proba), dtype=np.float64)
            ok = np.isfinite(acc)
            pct = np.full(acc.shape, MAP_NODATA, dtype=np.uint8)
            pct[ok] = np.rint(np.clip(acc[ok], 0.0, 1.0) * 100.0).astype(np.uint8)
            out[4][valid] = pct
    return CellPrediction(out, valid, member_p)


def probability_percent(p: np.ndarray) -> np.ndarray:
    """Probabilities as the maps' whole percent (uint8): rounded, and 0 below 1 %.

    A stored value ≥ 1 then means p ≥ 1 % exactly, the permafrost region's threshold
    (:mod:`permamap.change.areas`); plain rounding would store 0.5 % as 1 and count it.

    >>> probability_percent(np.array([0.004, 0.006, 0.0101, 0.494, 0.996])).tolist()
    [0, 0, 1, 49, 100]
    """
    pct = np.rint(np.asarray(p, dtype=np.float64) * 100.0)
    pct[np.asarray(p) < 0.01] = 0.0
    return pct.astype(np.uint8)


def predict_block(
    model: Any,
    block: np.ndarray,
    threshold: float = 0.5,
    *,
    aoa: AOAReference | None = None,
    calibration: Calibrator | None = None,
    members: MembersLike | None = None,
    error_profile: ErrorProfileLike | None = None,
) -> np.ndarray:
    """Predict one ``(band, row, col)`` block of factors; return uint8 ``(n_bands, row, col)``.

    Parameters
    ----------
    model : Predictor or classifier
        A predictor from :func:`permamap.inference.compile_model`, or any fitted classifier with
        ``predict_proba`` (then predicted through scikit-learn).
    block : numpy.ndarray, (n_features, rows, cols)
        Factors in model order; NaN = missing.
    threshold : float, default=0.5
        Probability from which a cell is classed as permafrost.
    aoa : AOAReference, optional
        When given, a fourth band ``aoa`` (1 inside, 0 outside) is added.
    calibration : Calibrator, optional
        Maps the model's and the members' probabilities to calibrated ones before any band is
        made (:mod:`permamap.selection.calibration`).
    members : Ensemble, optional
        The block-bootstrap ensemble (:class:`permamap.selection.ensemble.Ensemble`): the
        ``uncertainty`` band is ``round(100 × sd)`` of its members' calibrated probabilities.
        Without it the band is 255.
    error_profile : object, optional
        Anything with ``expected_accuracy(di, p)`` (accuracy in [0, 1] from the dissimilarity
        index and the calibrated probability): adds the band ``expected_accuracy`` (percent).
        Needs ``aoa``.

    Returns
    -------
    numpy.ndarray of uint8, (n_bands, rows, cols)
        Bands as :func:`map_bands`; cells with any missing factor are 255 in every band.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> m = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [1, 1, 0, 0])
    >>> predict_block(m, np.array([[[-3.0, np.nan, 3.0]]], dtype="float32"))[:, 0].tolist()
    [[1, 255, 0], [95, 255, 5], [255, 255, 255]]
    """
    return predict_cells(
        model,
        block,
        threshold,
        aoa=aoa,
        calibration=calibration,
        members=members,
        error_profile=error_profile,
    ).bands


def member_classes(member_p: np.ndarray, valid: np.ndarray, threshold: float) -> np.ndarray:
    """Bit-packed member classes, uint32 ``(1, rows, cols)``: bit k = member k's p >= threshold.

    Cells outside ``valid`` (the map's no-data) are 0.

    >>> p = np.array([[0.7, 0.2], [0.4, 0.9], [0.6, 0.6]])  # 3 members × 2 valid cells
    >>> member_classes(p, np.array([[True, False, True]]), 0.5).tolist()
    [[[5, 0, 6]]]
    """
    n = member_p.shape[0]
    if n > 32:
        raise DataError(f"{n} members do not fit in a uint32 member-classes band; use at most 32")
    bits = np.zeros(valid.shape, dtype=np.uint32)
    if member_p.shape[1]:
        weights = np.left_shift(np.uint32(1), np.arange(n, dtype=np.uint32))
        bits[valid] = ((member_p >= threshold).astype(np.uint32) * weights[:, None]).sum(
            axis=0, dtype=np.uint32
        )
    return bits[None]


def member_areas(
    member_p: np.ndarray, valid: np.ndarray, threshold: float, area_km2: np.ndarray
) -> np.ndarray:
    """Per member: permafrost extent and probability-weighted area in km², float64 ``(2, n_members)``.

    ``area_km2`` is the ``(rows, cols)`` cell area of the block (cells with no finite area count 0).

    >>> p = np.array([[0.7, 0.2], [0.4, 0.9]])
    >>> member_areas(p, np.array([[True, True]]), 0.5, np.array([[10.0, 30.0]])).tolist()
    [[10.0, 30.0], [13.0, 31.0]]
    """
    a = np.asarray(area_km2, dtype=np.float64)[valid]
    a = np.where(np.isfinite(a), a, 0.0)
    return np.stack([(member_p >= threshold) @ a, member_p @ a])
