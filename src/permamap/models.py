"""The candidate registry: name -> unfitted scikit-learn pipeline + parameter grid.

Thirteen classifiers from the published comparison are always available (:data:`CORE_CANDIDATES`),
and so is a spline logistic regression (:data:`EXTRA_CANDIDATES`); LightGBM and XGBoost join when
their packages are installed (``lightgbm``, ``xgboost``). Each candidate is a
:class:`~sklearn.pipeline.Pipeline` whose last step is called ``"clf"``, with a standard scaler in
front where the method is sensitive to feature scale (logistic regression, QDA, k-NN, SVM, MLP,
spline logistic regression).

The spline logistic regression is the additive logistic model (GAM) of permafrost distribution
modelling (e.g. Karjalainen et al. 2019, Sci. Data 6:190037): each standardised factor, beside a
cubic B-spline basis of itself (step ``"basis"``, knots at training quantiles, linear beyond them),
gets one smooth curve on the logit scale; the ridge penalty ``C`` sets the smoothness, and since the
factor's own column is cheap under it, a strong penalty leaves straight lines, as a GAM's does.

Categorical factors (class codes: soil class, land cover...) reach each family in the form it can
use; :meth:`Candidate.with_categorical` names their columns and :meth:`Candidate.select` keeps them
attached to the right columns when a feature subset is taken. The fitted pipeline always takes the
raw factor columns (class codes as floats), so a map predicts from the stack unchanged:

- **one-hot** (:data:`ONE_HOT`: logistic regression, LDA, QDA, Gaussian NB, k-NN, SVM, MLP): a
  :class:`~sklearn.compose.ColumnTransformer` expands each categorical column into 0/1 indicators
  (:class:`~sklearn.preprocessing.OneHotEncoder`, ``handle_unknown="ignore"``: a class never seen
  in training is all zeros) and passes the other columns on, standardised where the family scales
  them. These methods read numbers as magnitudes, so a code must not be one.
- **codes** (:data:`CODES`: decision tree, random forest, extra trees, gradient boosting,
  AdaBoost, LightGBM, XGBoost): trees keep the raw codes. A threshold split groups classes by code
  order, which is arbitrary, but two splits isolate any single class and an ensemble averages many
  such groupings; one-hot would widen the input, make each indicator a rare split candidate under
  feature subsampling, and break the exact compiled forest kernels (:mod:`permamap.inference`)
  that make tree maps cheap.
- **native** (:data:`NATIVE`: histogram gradient boosting): its own categorical splits (any
  partition of the classes) on codes from an
  :class:`~sklearn.preprocessing.OrdinalEncoder` (``handle_unknown="use_encoded_value"``, −1: an
  unseen class follows the missing-value branch).

Grids come in three sizes: ``"full"`` (the published protocol), ``"small"`` (the demo) and
``"none"`` (defaults only). Within a grid, each point has a *complexity* (forest size × depth,
boosting rounds × depth, neighbours, hidden units...) so that a one-standard-error rule can prefer
the simplest, cheapest setting among those that score alike.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, SplineTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from .errors import ConfigError
from .keys import did_you_mean

__all__ = [
    "CATEGORICAL_MODES",
    "CODES",
    "CORE_CANDIDATES",
    "EXTRA_CANDIDATES",
    "GRID_SIZES",
    "NATIVE",
    "ONE_HOT",
    "OPTIONAL_CANDIDATES",
    "Candidate",
    "available_candidates",
    "make_candidate",
]

GRID_SIZES = ("full", "small", "none")

CORE_CANDIDATES = (
    "logistic_regression",
    "lda",
    "qda",
    "gaussian_nb",
    "knn",
    "svm_rbf",
    "decision_tree",
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "hist_gradient_boosting",
    "adaboost",
    "mlp",
)
#: Always available, not part of the published comparison (add them to ``candidates`` by name).
EXTRA_CANDIDATES = ("spline_logistic",)
OPTIONAL_CANDIDATES = ("lightgbm", "xgboost")

Grid = dict[str, list[Any]] | list[dict[str, list[Any]]]

#: How a family sees a categorical factor (see the module docstring).
ONE_HOT, CODES, NATIVE = "one_hot", "codes", "native"
CATEGORICAL_MODES = (ONE_HOT, CODES, NATIVE)


@dataclass(frozen=True)
class Candidate:
    """One classifier of the comparison.

    Attributes
    ----------
    name : str
    estimator : sklearn.pipeline.Pipeline
        Unfitted; the classifier is the step ``"clf"``.
    param_grid : dict or list of dict
        Grid for :class:`~sklearn.model_selection.GridSearchCV` (keys ``clf__...``).
    size_param : str or None
        The parameter that sets ensemble size (``clf__n_estimators``...), if any.
    complexity : callable
        ``complexity(params) -> float``; larger means more complex / costlier to predict.
    scale : bool
        Whether the continuous columns are standardised before ``"clf"``.
    categorical_mode : {"one_hot", "codes", "native"}
        How the family sees categorical columns (module docstring).
    categorical : tuple of int
        Columns of the input that hold class codes (empty: every column is continuous, and the
        pipeline is the plain ``[scale,] [basis,] clf``).
    basis : transformer or None
        Expands each continuous column after scaling (the spline basis of ``spline_logistic``,
        step ``"basis"``); class-code columns are one-hot encoded instead and skip it.
    """

    name: str
    estimator: Pipeline
    param_grid: Grid
    size_param: str | None = None
    complexity: Callable[[Mapping[str, Any]], float] = lambda params: 0.0
    scale: bool = False
    categorical_mode: str = CODES
    categorical: tuple[int, ...] = ()
    basis: Any = None

    def with_categorical(self, columns: Sequence[int]) -> Candidate:
        """This candidate for inputs whose columns ``columns`` hold class codes.

        The parameter grid and ``clf__`` parameters stay valid: the classifier is still the step
        ``"clf"``; an ``"encode"`` step in front of it (one-hot or ordinal) replaces ``"scale"``.

        >>> c = make_candidate("logistic_regression", grid="small").with_categorical([1])
        >>> [name for name, _ in c.estimator.steps], c.categorical
        (['encode', 'clf'], (1,))
        >>> make_candidate("random_forest").with_categorical([1]).estimator.steps[0][0]
        'clf'
        """
        cols = tuple(sorted({int(c) for c in columns}))
        if cols == self.categorical:
            return self
        clf = clone(self.estimator.named_steps["clf"])
        if self.categorical_mode == NATIVE:
            default = type(clf)().get_params()["categorical_features"]
            clf.set_params(categorical_features=list(range(len(cols))) if cols else default)
        pipe = _pipe(
            clf, self.scale, mode=self.categorical_mode, categorical=cols, basis=self.basis
        )
        return replace(self, estimator=pipe, categorical=cols)

    def select(self, columns: Sequence[int]) -> Candidate:
        """This candidate for the input ``X[:, columns]`` (a feature subset, in that order).

        The categorical columns follow their features to their new positions.

        >>> c = make_candidate("knn", grid="none").with_categorical([0, 3])
        >>> c.select([3, 1]).categorical, c.select([1, 2]).categorical
        ((0,), ())
        """
        if not self.categorical:
            return self
        cat = set(self.categorical)
        return self.with_categorical([i for i, c in enumerate(columns) if c in cat])

    def grid_points(self) -> list[dict[str, Any]]:
        """All grid points, simplest first (ties keep grid order)."""
        points = list(ParameterGrid(self.param_grid))
        return sorted(points, key=lambda p: self.complexity(p))

    def build(self, params: Mapping[str, Any] | None = None) -> Pipeline:
        """A fresh, unfitted copy with ``params`` set."""
        est = clone(self.estimator)
        if params:
            est.set_params(**params)
        return est


def _pipe(
    clf: Any,
    scale: bool,
    *,
    mode: str = CODES,
    categorical: Sequence[int] = (),
    basis: Any = None,
) -> Pipeline:
    """``[scale,] [basis,] clf`` for continuous inputs; ``encode, clf`` when columns hold codes."""
    if not categorical or mode == CODES:
        steps: list[tuple[str, Any]] = [("scale", StandardScaler())] if scale else []
        if basis is not None:
            steps.append(("basis", clone(basis)))
        return Pipeline([*steps, ("clf", clf)])
    cat = list(categorical)
    if mode == ONE_HOT:
        enc: Any = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        rest: Any = StandardScaler() if scale else "passthrough"
        if basis is not None:
            # the spline expands the continuous columns only: a class code has no curve
            rest = Pipeline([("scale", rest), ("basis", clone(basis))])
        name = "one_hot"
    else:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64)
        rest, name = "passthrough", "ordinal"
    # Encoded columns come first, the continuous ones (scaled or not) after them.
    encode = ColumnTransformer([(name, enc, cat)], remainder=rest, sparse_threshold=0.0)
    return Pipeline([("encode", encode), ("clf", clf)])


def _candidate(
    name: str,
    clf: Any,
    scale: bool,
    grid: Grid,
    mode: str,
    *,
    size_param: str | None = None,
    complexity: Callable[[Mapping[str, Any]], float] = lambda params: 0.0,
    basis: Any = None,
) -> Candidate:
    return Candidate(
        name,
        _pipe(clf, scale, basis=basis),
        grid,
        size_param=size_param,
        complexity=complexity,
        scale=scale,
        categorical_mode=mode,
        basis=basis,
    )


def _depth(value: Any, unlimited: float = 32.0) -> float:
    return unlimited if value is None else float(value)


def _pick(grid: str, full: Grid, small: Grid) -> Grid:
    if grid == "full":
        return full
    if grid == "small":
        return small
    return {}


def _logistic(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "logistic_regression",
        LogisticRegression(max_iter=2000, random_state=random_state),
        True,
        _pick(grid, {"clf__C": [0.01, 0.1, 1.0, 10.0, 100.0]}, {"clf__C": [0.1, 1.0, 10.0]}),
        ONE_HOT,
        complexity=lambda p: math.log10(p.get("clf__C", 1.0)),
    )


def _spline_logistic(grid: str, random_state: int | None) -> Candidate:
    # 4 quantile knots: 5 cubic B-splines per factor (no constant), beside the factor itself;
    # B-splines alone would be shrunk towards a flat line (a strong penalty maps the base rate).
    spline = SplineTransformer(
        n_knots=4, degree=3, knots="quantile", extrapolation="linear", include_bias=False
    )
    basis = FeatureUnion([("linear", "passthrough"), ("spline", spline)])
    return _candidate(
        "spline_logistic",
        LogisticRegression(max_iter=5000, random_state=random_state),
        True,
        _pick(grid, {"clf__C": [0.01, 0.1, 1.0, 10.0, 100.0]}, {"clf__C": [0.1, 1.0, 10.0]}),
        ONE_HOT,
        complexity=lambda p: math.log10(p.get("clf__C", 1.0)),
        basis=basis,
    )


def _lda(grid: str, random_state: int | None) -> Candidate:
    full: Grid = [
        {"clf__solver": ["svd"]},
        {"clf__solver": ["lsqr"], "clf__shrinkage": ["auto", 0.1, 0.5]},
    ]
    small: Grid = [{"clf__solver": ["svd"]}, {"clf__solver": ["lsqr"], "clf__shrinkage": ["auto"]}]
    return _candidate(
        "lda",
        LinearDiscriminantAnalysis(),
        False,
        _pick(grid, full, small),
        ONE_HOT,
        complexity=lambda p: 0.0 if p.get("clf__shrinkage") is not None else 1.0,
    )


def _qda(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "qda",
        QuadraticDiscriminantAnalysis(reg_param=0.01),
        True,
        _pick(
            grid,
            {"clf__reg_param": [0.0, 0.01, 0.1, 0.5]},
            {"clf__reg_param": [0.01, 0.1]},
        ),
        ONE_HOT,
        complexity=lambda p: -p.get("clf__reg_param", 0.01),
    )


def _nb(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "gaussian_nb",
        GaussianNB(),
        False,
        _pick(
            grid,
            {"clf__var_smoothing": [1e-9, 1e-7, 1e-5, 1e-3]},
            {"clf__var_smoothing": [1e-9, 1e-5]},
        ),
        ONE_HOT,
        complexity=lambda p: -math.log10(p.get("clf__var_smoothing", 1e-9)),
    )


def _knn(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "knn",
        KNeighborsClassifier(n_neighbors=11),
        True,
        _pick(
            grid,
            {"clf__n_neighbors": [5, 11, 21, 41], "clf__weights": ["uniform", "distance"]},
            {"clf__n_neighbors": [11, 31]},
        ),
        ONE_HOT,
        # More neighbours = smoother decision surface.
        complexity=lambda p: -p.get("clf__n_neighbors", 11),
    )


def _svm(grid: str, random_state: int | None) -> Candidate:
    # SVC(probability=True) is deprecated in scikit-learn 1.9; sigmoid calibration on 3 folds
    # gives the probabilities the maps need.
    svc = CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", cv=3, ensemble=False)
    return _candidate(
        "svm_rbf",
        svc,
        True,
        _pick(
            grid,
            {
                "clf__estimator__C": [0.1, 1.0, 10.0, 100.0],
                "clf__estimator__gamma": ["scale", 0.01, 0.1],
            },
            {"clf__estimator__C": [1.0, 10.0]},
        ),
        ONE_HOT,
        complexity=lambda p: math.log10(p.get("clf__estimator__C", 1.0)),
    )


def _tree(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "decision_tree",
        DecisionTreeClassifier(max_depth=8, min_samples_leaf=5, random_state=random_state),
        False,
        _pick(
            grid,
            {"clf__max_depth": [3, 5, 8, 12, None], "clf__min_samples_leaf": [1, 5, 20]},
            {"clf__max_depth": [5, 10], "clf__min_samples_leaf": [5]},
        ),
        CODES,
        complexity=lambda p: (
            _depth(p.get("clf__max_depth", 8)) - 0.01 * p.get("clf__min_samples_leaf", 5)
        ),
    )


def _forest(cls: type, name: str) -> Callable[[str, int | None], Candidate]:
    def make(grid: str, random_state: int | None) -> Candidate:
        return _candidate(
            name,
            cls(n_estimators=100, max_depth=16, n_jobs=1, random_state=random_state),
            False,
            _pick(
                grid,
                {"clf__n_estimators": [50, 100, 200, 500], "clf__max_depth": [8, 16, None]},
                {"clf__n_estimators": [50, 200], "clf__max_depth": [12, None]},
            ),
            CODES,
            size_param="clf__n_estimators",
            complexity=lambda p: (
                p.get("clf__n_estimators", 100) * _depth(p.get("clf__max_depth", 16))
            ),
        )

    return make


def _gb(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "gradient_boosting",
        GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=random_state),
        False,
        _pick(
            grid,
            {"clf__n_estimators": [50, 100, 200], "clf__max_depth": [2, 3, 5]},
            {"clf__n_estimators": [100], "clf__max_depth": [3]},
        ),
        CODES,
        size_param="clf__n_estimators",
        complexity=lambda p: p.get("clf__n_estimators", 100) * p.get("clf__max_depth", 3),
    )


def _hgb(grid: str, random_state: int | None) -> Candidate:
    clf = HistGradientBoostingClassifier(
        max_iter=100, early_stopping=False, random_state=random_state
    )
    return _candidate(
        "hist_gradient_boosting",
        clf,
        False,
        _pick(
            grid,
            {"clf__max_iter": [50, 100, 200], "clf__max_leaf_nodes": [15, 31]},
            {"clf__max_iter": [50, 150], "clf__max_leaf_nodes": [15]},
        ),
        NATIVE,
        size_param="clf__max_iter",
        complexity=lambda p: p.get("clf__max_iter", 100) * p.get("clf__max_leaf_nodes", 31),
    )


def _ada(grid: str, random_state: int | None) -> Candidate:
    return _candidate(
        "adaboost",
        AdaBoostClassifier(n_estimators=100, random_state=random_state),
        False,
        _pick(
            grid,
            {"clf__n_estimators": [50, 100, 200], "clf__learning_rate": [0.5, 1.0]},
            {"clf__n_estimators": [50, 100]},
        ),
        CODES,
        size_param="clf__n_estimators",
        complexity=lambda p: p.get("clf__n_estimators", 100) - p.get("clf__learning_rate", 1.0),
    )


def _mlp(grid: str, random_state: int | None) -> Candidate:
    clf = MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=500, early_stopping=True, random_state=random_state
    )
    return _candidate(
        "mlp",
        clf,
        True,
        _pick(
            grid,
            {"clf__hidden_layer_sizes": [(32,), (64,), (64, 32)], "clf__alpha": [1e-4, 1e-2]},
            {"clf__hidden_layer_sizes": [(32,), (64,)]},
        ),
        ONE_HOT,
        complexity=lambda p: (
            float(sum(p.get("clf__hidden_layer_sizes", (64,)))) - p.get("clf__alpha", 1e-4)
        ),
    )


def _lightgbm(grid: str, random_state: int | None) -> Candidate:  # pragma: no cover - extra
    from lightgbm import LGBMClassifier

    clf = LGBMClassifier(n_estimators=100, n_jobs=1, random_state=random_state, verbose=-1)
    return _candidate(
        "lightgbm",
        clf,
        False,
        _pick(
            grid,
            {"clf__n_estimators": [50, 100, 200], "clf__num_leaves": [15, 31]},
            {"clf__n_estimators": [100]},
        ),
        CODES,
        size_param="clf__n_estimators",
        complexity=lambda p: p.get("clf__n_estimators", 100) * p.get("clf__num_leaves", 31),
    )


def _xgboost(grid: str, random_state: int | None) -> Candidate:  # pragma: no cover - extra
    from xgboost import XGBClassifier

    clf = XGBClassifier(n_estimators=100, max_depth=4, n_jobs=1, random_state=random_state or 0)
    return _candidate(
        "xgboost",
        clf,
        False,
        _pick(
            grid,
            {"clf__n_estimators": [50, 100, 200], "clf__max_depth": [3, 6]},
            {"clf__n_estimators": [100]},
        ),
        CODES,
        size_param="clf__n_estimators",
        complexity=lambda p: p.get("clf__n_estimators", 100) * p.get("clf__max_depth", 4),
    )


_REGISTRY: dict[str, Callable[[str, int | None], Candidate]] = {
    "logistic_regression": _logistic,
    "spline_logistic": _spline_logistic,
    "lda": _lda,
    "qda": _qda,
    "gaussian_nb": _nb,
    "knn": _knn,
    "svm_rbf": _svm,
    "decision_tree": _tree,
    "random_forest": _forest(RandomForestClassifier, "random_forest"),
    "extra_trees": _forest(ExtraTreesClassifier, "extra_trees"),
    "gradient_boosting": _gb,
    "hist_gradient_boosting": _hgb,
    "adaboost": _ada,
    "mlp": _mlp,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
}


def available_candidates(*, include_optional: bool = True) -> tuple[str, ...]:
    """Names that :func:`make_candidate` can build here (optional ones only when installed)."""
    extra = tuple(
        n for n in OPTIONAL_CANDIDATES if include_optional and importlib.util.find_spec(n)
    )
    return CORE_CANDIDATES + EXTRA_CANDIDATES + extra


def make_candidate(
    name: str,
    *,
    grid: str = "full",
    random_state: int | None = None,
    categorical: Sequence[int] = (),
) -> Candidate:
    """Build the candidate ``name`` with the grid of size ``grid``.

    Parameters
    ----------
    name : str
        One of :data:`CORE_CANDIDATES`, :data:`EXTRA_CANDIDATES` or, when installed,
        :data:`OPTIONAL_CANDIDATES`.
    grid : {"full", "small", "none"}, default="full"
    random_state : int or None
        Seed given to every randomised estimator.
    categorical : sequence of int, default=()
        Input columns that hold class codes (:meth:`Candidate.with_categorical`); empty = every
        column is continuous.

    Examples
    --------
    >>> c = make_candidate("random_forest", grid="small", random_state=0)
    >>> c.estimator.named_steps["clf"].n_estimators, len(c.grid_points())
    (100, 4)
    >>> c.grid_points()[0]["clf__n_estimators"]
    50
    """
    if grid not in GRID_SIZES:
        raise ConfigError(f"grid={grid!r} is not one of {list(GRID_SIZES)}; pick one of them")
    if name not in _REGISTRY:
        names = CORE_CANDIDATES + EXTRA_CANDIDATES + OPTIONAL_CANDIDATES
        raise ConfigError(
            f"unknown candidate {name!r}{did_you_mean(name, names)}; choose from {list(names)}"
        )
    if name in OPTIONAL_CANDIDATES and importlib.util.find_spec(name) is None:
        raise ConfigError(
            f"candidate {name!r} needs the optional package {name!r}; install it "
            f"(pip install {name}) or drop it from the candidates"
        )
    cand = _REGISTRY[name](grid, random_state)
    return cand.with_categorical(categorical) if categorical else cand
