"""The model artefact: save and load with skops plus a JSON model card, and a feature guard.

The artefact is two files (named by :class:`~permamap.layout.RunLayout`): ``model.skops`` and
``model_card.json``. The skops file holds a plain dict: the fitted estimator under ``"estimator"``
and the area-of-applicability reference under ``"aoa"`` (:meth:`AOAReference.to_dict`: NumPy
arrays and floats, or None). :mod:`skops.io` rebuilds objects from a declarative description
instead of running pickle byte-code, and :func:`load_artefact` accepts only scikit-learn, NumPy
and SciPy types (plus the optional LightGBM / XGBoost models), so the AOA reference loads as
safely as the estimator. A skops file holding a bare estimator (written before the AOA moved into
the artefact) still loads, with no AOA reference. The model card records the features in order,
the parameters, the training-data hash, the cross-validation results, the package versions and the
seed (docs/contracts.md, "Models"), and the categorical features with their training classes
(``categorical``: feature → classes; the AOA reference holds the same columns as
``categorical`` indices and ``classes``, which :func:`save_model` and :func:`load_artefact` check
against each other).

:class:`FeatureGuard` wraps the estimator so that prediction checks its input against the card:
a table must hold every feature (any column order; extra columns are ignored), an array must have
one column per feature in card order, and no value may be NaN.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from .aoa import AOAReference
from .errors import DataError, InputFileError
from .fileio import write_files_together
from .layout import RunLayout

__all__ = [
    "FeatureGuard",
    "ModelArtefact",
    "jsonable",
    "load_artefact",
    "load_model",
    "package_versions",
    "save_model",
    "training_hash",
]

# Type prefixes load_artefact trusts inside a skops file; anything else is refused.
_TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.sparse.",
    "lightgbm.",
    "xgboost.",
    "builtins.",
    "collections.",
)
# Exact types trusted besides the prefixes. Histogram gradient boosting with categorical features
# keeps a functools.partial of sklearn's check_array in its fitted preprocessor; skops lists the
# wrapped function as a type of its own, so a partial of anything outside the trusted prefixes is
# still refused.
_TRUSTED_TYPES = frozenset(
    {
        "functools.partial",
        # a fitted SplineTransformer (the spline_logistic candidate) holds SciPy B-splines
        "scipy.interpolate._bsplines.BSpline",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
    }
)


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
def _categorical_mismatch(card: dict[str, Any], aoa: AOAReference | None) -> str | None:
    """Why the card's categorical features and the AOA's categorical columns disagree, or None.

    Cards written before categorical factors existed have no ``categorical`` entry: nothing to
    check then.
    """
    if aoa is None or card.get("categorical") is None:
        return None
    features = [str(f) for f in card.get("features", [])]
    named = card["categorical"]
    expected = [i for i, f in enumerate(features) if f in named]
    if list(aoa.categorical) != expected:
        return (
            f"the model card's categorical features {sorted(named)} sit at columns {expected} "
            f"but the AOA reference treats columns {list(aoa.categorical)} as categorical"
        )
    for j, classes in zip(aoa.categorical, aoa.classes, strict=True):
        listed = np.asarray(named[features[j]], dtype=np.float64)
        if not np.array_equal(listed, classes):
            return (
                f"the model card lists classes {listed.tolist()} for `{features[j]}` but the AOA "
                f"reference was fitted on {classes.tolist()}"
            )
    return None


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy scalars and arrays as Python values, tuples as lists, NaN/inf as None.

    Anything else that JSON cannot hold becomes its ``repr``.

    >>> jsonable({"a": np.float64(1.5), "b": (np.int64(2), float("nan"))})
    {'a': 1.5, 'b': [2, None]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return repr(obj)


@dataclass(frozen=True, eq=False)
class ModelArtefact:
    """A loaded (or freshly trained) model artefact.

    Attributes
    ----------
    model : FeatureGuard
        The fitted estimator, checking features against the card at predict time.
    card : dict
        The model card.
    aoa : AOAReference or None
        The area-of-applicability reference fitted with the model (None for artefacts saved
        without one).
    ensemble : Ensemble or None
        The bootstrap refits (:mod:`permamap.selection.ensemble`), saved beside the model.
    """

    model: FeatureGuard
    card: dict[str, Any]
    aoa: AOAReference | None = None
    ensemble: Any = None


def _card_beside(model_path: Path) -> Path:
    """The model card's path beside ``model_path`` (its file name as the run layout names it)."""
    return model_path.with_name(RunLayout(model_path.parent).model_card.name)


def save_model(
    estimator: Any,
    card: dict[str, Any],
    model_path: Path,
    card_path: Path | None = None,
    *,
    aoa: AOAReference | None = None,
) -> None:
    """Write the model artefact: ``model_path`` (skops) and ``card_path`` (JSON), together.

    Parameters
    ----------
    estimator : FeatureGuard or classifier
        A :class:`FeatureGuard` is unwrapped first: the artefact holds only scikit-learn types, so
        :func:`load_artefact` can trust it without running code; the guard is rebuilt from the
        card.
    card : dict
        The model card; its ``features`` must match the estimator's width.
    model_path : Path
        The skops file, e.g. :attr:`RunLayout.model <permamap.layout.RunLayout.model>`.
    card_path : Path, optional
        The card, e.g. :attr:`RunLayout.model_card <permamap.layout.RunLayout.model_card>`;
        defaults to the card file name of the run layout beside ``model_path``.
    aoa : AOAReference, optional
        The area-of-applicability reference, stored inside the skops file (as arrays and floats).

    Both files are written atomically and renamed into place only when both succeeded.
    """
    import skops.io as sio

    model_path = Path(model_path)
    card_path = _card_beside(model_path) if card_path is None else Path(card_path)
    inner = estimator.estimator_ if isinstance(estimator, FeatureGuard) else estimator
    n_in = getattr(inner, "n_features_in_", None)
    if n_in is not None and len(card.get("features", [])) != n_in:
        raise DataError(
            f"the model card lists {len(card.get('features', []))} features but the model was "
            f"fitted on {n_in}; build the card from the same feature list"
        )
    if aoa is not None and len(aoa.center) != len(card.get("features", [])):
        raise DataError(
            f"the AOA reference was fitted on {len(aoa.center)} features but the model card lists "
            f"{len(card.get('features', []))}; fit the AOA on the model's features"
        )
    mismatch = _categorical_mismatch(card, aoa)
    if mismatch:
        raise DataError(f"{mismatch}; build the card and the AOA from the same training data")
    payload = sio.dumps({"estimator": inner, "aoa": None if aoa is None else aoa.to_dict()})
    text = json.dumps(jsonable(card), indent=2, allow_nan=False) + "\n"

    def writer(data: bytes) -> Callable[[Path], None]:
        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        return write

    write_files_together({model_path: writer(payload), card_path: writer(text.encode("utf-8"))})


def _read_card(card_path: Path) -> dict[str, Any]:
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
    return card


def load_artefact(model_path: str | Path, card_path: str | Path | None = None) -> ModelArtefact:
    """Load a saved model, its card and its AOA reference; only trusted types are accepted.

    Parameters
    ----------
    model_path : str or Path
        The skops file (or the folder holding it under the run layout's file name).
    card_path : str or Path, optional
        The model card; defaults to the card file name of the run layout beside ``model_path``.

    Returns
    -------
    ModelArtefact
        ``model`` (a :class:`FeatureGuard` that checks features against the card), ``card`` and
        ``aoa`` (None when the artefact was saved without one).
    """
    import skops.io as sio

    model_path = Path(model_path)
    if model_path.is_dir():
        model_path = model_path / RunLayout(model_path).model.name
    card_path = _card_beside(model_path) if card_path is None else Path(card_path)
    for p in (model_path, card_path):
        if not p.is_file():
            raise InputFileError(
                f"{p} does not exist; a model artefact is {model_path.name} plus "
                f"{card_path.name} in one folder, as written by the model stage of `permamap run` "
                "(permamap.modelio.save_model)"
            )
    card = _read_card(card_path)
    untrusted = sio.get_untrusted_types(file=model_path)
    refused = [
        t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES) and t not in _TRUSTED_TYPES
    ]
    if refused:
        raise InputFileError(
            f"{model_path} holds types permamap does not trust: {refused}; only scikit-learn, "
            "NumPy and SciPy objects load without review; rebuild the model with permamap"
        )
    stored = sio.load(model_path, trusted=untrusted)
    aoa = None
    if isinstance(stored, dict):
        if set(stored) != {"estimator", "aoa"}:
            raise InputFileError(
                f"{model_path} holds a dict with keys {sorted(stored)}, not a permamap model "
                "artefact ('estimator', 'aoa'); re-run the model stage"
            )
        estimator = stored["estimator"]
        if stored["aoa"] is not None:
            try:
                aoa = AOAReference.from_dict(stored["aoa"])
            except DataError as exc:
                raise InputFileError(f"{model_path}: {exc}") from exc
    else:  # an artefact saved before the AOA reference moved into it
        estimator = stored
    features = [str(f) for f in card["features"]]
    n_in = getattr(estimator, "n_features_in_", len(features))
    if n_in != len(features) or (aoa is not None and len(aoa.center) != len(features)):
        raise InputFileError(
            f"{model_path} was fitted on {n_in} features but {card_path} lists {len(features)}; "
            "the two files do not belong together; re-run the model stage"
        )
    mismatch = _categorical_mismatch(card, aoa)
    if mismatch:
        raise InputFileError(
            f"{model_path} and {card_path} do not belong together: {mismatch}; re-run the model "
            "stage"
        )
    guard = FeatureGuard(estimator, features=features)
    guard.estimator_ = estimator
    guard.classes_ = estimator.classes_
    guard.n_features_in_ = len(features)
    return ModelArtefact(model=guard, card=card, aoa=aoa)


def load_model(path: str | Path) -> tuple[FeatureGuard, dict[str, Any]]:
    """Load a saved model and its card (:func:`load_artefact` without the AOA reference).

    Parameters
    ----------
    path : str or Path
        The skops file or the folder holding it; the model card must sit beside it.

    Returns
    -------
    model : FeatureGuard
        The fitted estimator wrapped so that ``predict_proba`` checks features against the card.
    card : dict
        The model card.
    """
    artefact = load_artefact(path)
    return artefact.model, artefact.card
