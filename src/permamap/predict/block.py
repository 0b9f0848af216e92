"""Pure prediction of one block of factors: :func:`predict_block` and the band names of a map.

Bands follow docs/contracts.md (:data:`permamap.contracts.MAP_BANDS`): ``class``, ``probability``
(%), ``uncertainty`` (%), and ``aoa`` when an :class:`~permamap.aoa.AOAReference` is given.
``uncertainty`` is 200 × the standard deviation of the member trees' probabilities for tree
ensembles (0 = all trees agree, 100 = half say 0 and half say 1), and ``100 × (1 − |2p − 1|)``
(closeness to the 50 % boundary) for other models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..aoa import AOAReference
from ..contracts import AOA_BAND, MAP_BANDS, MAP_NODATA
from ..errors import DataError
from ..inference import Predictor, ReferencePredictor
from ..selection.calibration import Calibrator

__all__ = ["map_bands", "predict_block"]


def map_bands(aoa: AOAReference | None) -> tuple[str, ...]:
    """Band names of a map: :data:`~permamap.contracts.MAP_BANDS`, plus ``aoa`` with an AOA reference.

    >>> map_bands(None)
    ('class', 'probability', 'uncertainty')
    """
    return MAP_BANDS + ((AOA_BAND,) if aoa is not None else ())


def _as_predictor(model: Any, n_features: int) -> Predictor:
    return model if hasattr(model, "predict_stats") else ReferencePredictor(model, n_features)


def predict_block(
    model: Any,
    block: np.ndarray,
    threshold: float = 0.5,
    *,
    aoa: AOAReference | None = None,
    calibration: Calibrator | None = None,
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
        Maps the model's probability to the calibrated one before the class, probability and
        (non-forest) uncertainty bands are made (:mod:`permamap.selection.calibration`).

    Returns
    -------
    numpy.ndarray of uint8, (n_bands, rows, cols)
        Bands as :func:`map_bands`; cells with any missing factor are 255 in every band.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> m = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [1, 1, 0, 0])
    >>> predict_block(m, np.array([[[-3.0, np.nan, 3.0]]], dtype="float32"))[:, 0].tolist()
    [[1, 255, 0], [95, 255, 5], [9, 255, 9]]
    """
    if block.ndim != 3:
        raise DataError(
            f"a block must be (band, row, col), got shape {block.shape}; add a band axis"
        )
    n_features, rows, cols = block.shape
    predictor = _as_predictor(model, n_features)
    out = np.full((len(map_bands(aoa)), rows, cols), MAP_NODATA, dtype=np.uint8)
    valid = np.isfinite(block).all(axis=0)
    if not valid.any():
        return out
    x = np.ascontiguousarray(block[:, valid].T)
    proba, spread = predictor.predict_stats(x)
    if calibration is not None:
        proba = calibration.apply(proba)
    out[0][valid] = (proba >= threshold).astype(np.uint8)
    out[1][valid] = np.rint(proba * 100.0).astype(np.uint8)
    if spread is not None:
        unc = np.clip(np.rint(spread * 200.0), 0, 100)
    else:
        unc = np.rint(100.0 * (1.0 - np.abs(2.0 * proba - 1.0)))
    out[2][valid] = unc.astype(np.uint8)
    if aoa is not None:
        out[3][valid] = aoa.inside(x).astype(np.uint8)
    return out
