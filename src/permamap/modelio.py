"""The model artefact: save and load with skops plus a JSON model card, and a feature guard.

The fitted estimator is stored with :mod:`skops.io`, which rebuilds objects from a declarative
description instead of running pickle byte-code, and :func:`load_model` accepts only
scikit-learn, NumPy and SciPy types (plus the optional LightGBM / XGBoost models). The model card
(``model_card.json``) records the features in order, the parameters, the training-data hash, the
cross-validation results, the package versions and the seed (docs/contracts.md, "Models").

:class:`FeatureGuard` wraps the estimator so that prediction checks its input against the card:
a table must hold every feature (any column order; extra columns are ignored), an array must have
one column per feature in card order, and no value may be NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import DataError, InputFileError

__all__ = [
    "CARD_NAME",
    "MODEL_NAME",
    "FeatureGuard",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_model",
    "package_versions",
    "save_model",
    "training_hash",
]

MODEL_NAME = "model.skops"
CARD_NAME = "model_card.json"

# Type prefixes load_model trusts inside a skops file; anything else is refused.
_TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.sparse.",
    "lightgbm.",
    "xgboost.",
    "builtins.",
    "collections.",
)


# --------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- provenance
def training_hash(X: np.ndarray, y: np.ndarray, features: Sequence[str]) -> str:
    """SHA-256 of the training data: feature names, values (float64, C order) and labels.

    Examples
    --------
    >>> h = training_hash(np.zeros((2, 1)), np.array([0, 1]), ["a"])
    >>> h == training_hash(np.zeros((2, 1)), np.array([0, 1]), ["a"]), len(h)
    (True, 71)
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(list(features)).encode())
    digest.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return "sha256:" + digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that define the artefact's behaviour."""
    import joblib
    import scipy
    import sklearn
    import skops

    from . import __version__

    return {
        "permamap": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "joblib": joblib.__version__,
    }


# --------------------------------------------------------------------------- guard
class FeatureGuard(ClassifierMixin, BaseEstimator):
    """A classifier that checks its input features before fitting or predicting.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``predict_proba``; cloned on ``fit``.
    features : sequence of str or None, default=None
        Feature names in model order. With names, a :class:`pandas.DataFrame` input is reordered
        to them (missing names raise :class:`~permamap.errors.DataError` naming the fix) and an
        array must have exactly that many columns. ``None`` accepts any width fixed at ``fit``.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : numpy.ndarray
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"maat": [-5.0, -3.0, 2.0, 4.0], "snow": [0.1, 0.2, 0.3, 0.1]})
    >>> guard = FeatureGuard(LogisticRegression(), features=["maat", "snow"]).fit(X, [1, 1, 0, 0])
    >>> guard.predict(X[["snow", "maat"]]).tolist()  # column order does not matter for tables
    [1, 1, 0, 0]
    >>> guard.predict(X[["maat"]])
    Traceback (most recent call last):
    ...
    permamap.errors.DataError: input lacks feature(s) ['snow'] that the model was trained on ...
    """

    def __init__(self, estimator: Any = None, features: Sequence[str] | None = None) -> None:
        self.estimator = estimator
        self.features = features

    def _select(self, X: Any) -> Any:
        """Reorder a table to the model's features; name missing ones."""
        names = list(self.features) if self.features is not None else None
        if isinstance(X, pd.DataFrame) and names is not None:
            missing = [f for f in names if f not in X.columns]
            if missing:
                raise DataError(
                    f"input lacks feature(s) {missing} that the model was trained on (model "
                    f"card features: {names}); supply those factors, in any order"
                )
            # Columns are now in model order; plain values avoid feature-name warnings when the
            # same model later gets arrays (the map predictor's input).
            X = X[names].to_numpy()
        return X

    def _check_values(self, X: Any, width: int | None) -> None:
        """Width and finiteness checks with messages that name the features and the fix."""
        if hasattr(X, "toarray"):
            return  # sparse input: validate_data rejects it with its own message
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            return
        names = list(self.features) if self.features is not None else None
        if width is not None and arr.shape[1] != width:
            raise DataError(
                f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting {width} "
                "features as input"
                + (f" ({names})" if names else "")
                + "; select the model card's features in order"
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            cols = np.flatnonzero(bad.any(axis=0))
            label = (
                [names[c] for c in cols] if names and len(names) == arr.shape[1] else cols.tolist()
            )
            raise DataError(
                f"input contains NaN or inf in {int(bad.any(axis=1).sum())} row(s), feature(s) "
                f"{label}; mask nodata cells (or drop those sites) before calling the model"
            )

    def fit(self, X: Any, y: Any = None) -> FeatureGuard:
        """Check ``X`` and fit a clone of ``estimator``."""
        est = clone(self.estimator) if self.estimator is not None else LogisticRegression()
        X = self._select(X)
        self._check_values(X, len(self.features) if self.features is not None else None)
        arr, y_arr = validate_data(self, X, y, dtype=np.float64)
        self.estimator_ = est.fit(arr, y_arr)
        self.classes_ = self.estimator_.classes_
        return self

    def _checked(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = self._select(X)
        self._check_values(X, self.n_features_in_)
        return validate_data(self, X, reset=False, dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities; columns follow ``classes_``."""
        arr = self._checked(X)
        return self.estimator_.predict_proba(arr)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class of each row."""
        arr = self._checked(X)
        return self.estimator_.predict(arr)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


# --------------------------------------------------------------------------- save / load
def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return repr(obj)


def save_model(estimator: Any, card: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``model.skops`` and ``model_card.json`` into ``out_dir``, each atomically.

    A :class:`FeatureGuard` is unwrapped first: the artefact holds only scikit-learn types, so
    :func:`load_model` can trust it without running code; the guard is rebuilt from the card.
    """
    import skops.io as sio

    out_dir = Path(out_dir)
    inner = estimator.estimator_ if isinstance(estimator, FeatureGuard) else estimator
    n_in = getattr(inner, "n_features_in_", None)
    if n_in is not None and len(card.get("features", [])) != n_in:
        raise DataError(
            f"the model card lists {len(card.get('features', []))} features but the model was "
            f"fitted on {n_in}; build the card from the same feature list"
        )
    model_path, card_path = out_dir / MODEL_NAME, out_dir / CARD_NAME
    atomic_write_bytes(model_path, sio.dumps(inner))
    atomic_write_text(card_path, json.dumps(_jsonable(card), indent=2, allow_nan=False) + "\n")
    return model_path, card_path


def load_model(path: str | Path) -> tuple[FeatureGuard, dict[str, Any]]:
    """Load a saved model and its card; only trusted scikit-learn/NumPy types are accepted.

    Parameters
    ----------
    path : str or Path
        ``model.skops`` or the folder holding it; ``model_card.json`` must sit beside it.

    Returns
    -------
    model : FeatureGuard
        The fitted estimator wrapped so that ``predict_proba`` checks features against the card.
    card : dict
        The model card.
    """
    import skops.io as sio

    path = Path(path)
    model_path = path / MODEL_NAME if path.is_dir() else path
    card_path = model_path.with_name(CARD_NAME)
    for p in (model_path, card_path):
        if not p.is_file():
            raise InputFileError(
                f"{p} does not exist; a model artefact is {MODEL_NAME} plus {CARD_NAME} in one "
                "folder, as written by run_model_stage / save_model"
            )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{card_path} is not valid JSON ({exc}); re-run the model stage"
        ) from exc
    if not isinstance(card, dict) or not isinstance(card.get("features"), list):
        raise InputFileError(
            f"{card_path} has no 'features' list; it is not a permamap model card; re-run the "
            "model stage"
        )
    untrusted = sio.get_untrusted_types(file=model_path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise InputFileError(
            f"{model_path} holds types permamap does not trust: {refused}; only scikit-learn, "
            "NumPy and SciPy objects load without review; rebuild the model with permamap"
        )
    estimator = sio.load(model_path, trusted=untrusted)
    features = [str(f) for f in card["features"]]
    n_in = getattr(estimator, "n_features_in_", len(features))
    if n_in != len(features):
        raise InputFileError(
            f"{model_path} was fitted on {n_in} features but {card_path} lists {len(features)}; "
            "the two files do not belong together; re-run the model stage"
        )
    guard = FeatureGuard(estimator, features=features)
    guard.estimator_ = estimator
    guard.classes_ = estimator.classes_
    guard.n_features_in_ = len(features)
    return guard, card
