"""The training data of the model stage: the checked feature table, the tuning hold-out, the splits.

:func:`prepare_data` checks the feature table once (columns, labels, NaN, enough sites and
classes for the folds) and sets aside the tuning hold-out; :func:`make_splits` computes the random
and spatial CV splits once, so that every later step (comparison, choice, importance, feature
combinations, final scores) sees identical folds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..cv import KNNDMKFold, SpatialBlockKFold, Splits
from ..errors import ConfigError, DataError
from ..keys import did_you_mean
from .settings import ModelSettings

__all__ = [
    "MAX_CLASSES",
    "TrainingData",
    "location_ids",
    "make_splits",
    "prepare_data",
    "spatial_folds_of_rows",
    "split_ratios",
]


#: Most classes a categorical factor may hold (histogram gradient boosting's categorical limit;
#: more distinct values suggest a continuous layer declared categorical).
MAX_CLASSES = 255


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The checked feature table: all rows (for the final fit) and the evaluation rows (for CV).

    Attributes
    ----------
    table : pandas.DataFrame
        The feature table as given.
    X_all : numpy.ndarray, (n_rows, n_features)
        Factor values of every row, in ``features`` order.
    y_all : numpy.ndarray, (n_rows,)
        Labels (1 permafrost, 0 not).
    lonlat_all : numpy.ndarray, (n_rows, 2)
        Site positions.
    features : list of str
    tune_rows, eval_rows : numpy.ndarray
        Row indices of the tuning hold-out and of the rows all outer CV runs on.
    categorical : tuple of str
        The features that hold class codes (in ``features`` order); empty by default.
    """

    table: pd.DataFrame
    X_all: np.ndarray
    y_all: np.ndarray
    lonlat_all: np.ndarray
    features: list[str]
    tune_rows: np.ndarray
    eval_rows: np.ndarray
    categorical: tuple[str, ...] = ()

    @property
    def categorical_columns(self) -> tuple[int, ...]:
        """Positions of the categorical features in ``features`` (columns of ``X``)."""
        return tuple(self.features.index(f) for f in self.categorical)

    def categorical_positions(self, names: Sequence[str]) -> tuple[int, ...]:
        """Positions of the categorical features within the subset ``names``."""
        return tuple(i for i, f in enumerate(names) if f in self.categorical)

    def classes(self, name: str) -> list[int]:
        """The classes of categorical feature ``name`` over every row, sorted."""
        return [int(v) for v in np.unique(self.X_all[:, self.features.index(name)])]

    @property
    def X(self) -> np.ndarray:
        """Factor values of the evaluation rows."""
        return self.X_all[self.eval_rows]

    @property
    def y(self) -> np.ndarray:
        """Labels of the evaluation rows."""
        return self.y_all[self.eval_rows]

    @property
    def lonlat(self) -> np.ndarray:
        """Positions of the evaluation rows."""
        return self.lonlat_all[self.eval_rows]

    def factors(self, names: Sequence[str]) -> np.ndarray:
        """Factor columns ``names`` of every row, taken from the table as pandas gives them.

        The area of applicability is fitted on this array; its floating-point sums depend on
        the memory order, which this keeps the same as for a reference fitted from the table.
        """
        return self.table[list(names)].to_numpy(float)


def _check_table(
    table: pd.DataFrame, features: Sequence[str], settings: ModelSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    feats = [str(f) for f in features]
    if not feats:
        raise ConfigError("features is empty; pass the factor columns of the feature table")
    dup = sorted({f for f in feats if feats.count(f) > 1})
    if dup:
        raise ConfigError(f"features {dup} are listed twice; list each factor once")
    required = ["site_id", "lon", "lat", "label", *feats]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"the feature table lacks column(s) {missing}; it needs site_id, lon, lat, label and "
            "one column per feature (docs/contracts.md, 'Feature table')"
        )
    if len(table) == 0:
        raise DataError("the feature table is empty; extract features for at least some sites")
    non_num = [f for f in feats if not pd.api.types.is_numeric_dtype(table[f])]
    if non_num:
        raise DataError(
            f"feature column(s) {non_num} are not numeric; factors must be float columns; "
            "encode or drop them"
        )
    X = table[feats].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        per_feature = {feats[j]: int(bad[:, j].sum()) for j in np.flatnonzero(bad.any(axis=0))}
        ids = table.loc[bad.any(axis=1), "site_id"].astype(str).head(5).tolist()
        raise DataError(
            f"NaN or infinite factor values: {per_feature} (rows per feature; e.g. sites {ids}); "
            "the model stage needs complete factors; drop those rows or fill the covariate gaps "
            "before training"
        )
    lab = pd.to_numeric(table["label"], errors="coerce")
    if lab.isna().any() or not lab.isin([0, 1]).all():
        odd = sorted({str(v) for v in table["label"][lab.isna() | ~lab.isin([0, 1])]})[:5]
        raise DataError(
            f"label holds values {odd} besides 0 and 1; labels must be 1 (permafrost) or 0; "
            "drop unclear sites (label <NA>) before the model stage"
        )
    y = lab.to_numpy(dtype=int)
    counts = np.bincount(y, minlength=2)
    if (counts == 0).any():
        only = int(np.argmax(counts))
        raise DataError(
            f"all {len(y)} rows have label {only}; a classifier needs both permafrost (1) and "
            "non-permafrost (0) sites; add sites of the missing class (e.g. pseudo-absences)"
        )
    if counts.min() < settings.n_folds:
        raise DataError(
            f"class counts {counts.tolist()} (0, 1) are too few for {settings.n_folds} folds; "
            f"each class needs at least n_folds rows; add sites or set n_folds <= {counts.min()}"
        )
    lonlat = table[["lon", "lat"]].to_numpy(dtype=np.float64)
    if not np.isfinite(lonlat).all():
        raise DataError("lon/lat hold NaN; every site needs coordinates; drop those rows in QC")
    n_loc = len(np.unique(lonlat, axis=0))
    need = settings.n_folds * (3 if settings.tuning == "holdout" else 2)
    if n_loc < need:
        raise DataError(
            f"{n_loc} distinct site locations are too few for {settings.n_folds}-fold spatial CV "
            f"(need at least {need}); add sites or lower n_folds"
        )
    return X, y, lonlat, feats


def _check_categorical(
    X: np.ndarray, feats: list[str], categorical: Collection[str]
) -> tuple[str, ...]:
    """The categorical features in feature order; each must be a feature holding class codes."""
    names = [str(c) for c in categorical]
    for name in names:
        if name not in feats:
            raise ConfigError(
                f"categorical factor `{name}` is not among the model features {feats}"
                f"{did_you_mean(name, feats)}; list only factors the feature table holds"
            )
    for name in names:
        values = np.unique(X[:, feats.index(name)])
        if not np.array_equal(values, np.round(values)):
            odd = values[values != np.round(values)][:3].tolist()
            raise DataError(
                f"categorical factor `{name}` holds non-integer values such as {odd}; a "
                "categorical factor holds class codes (1, 2, 7...); declare it continuous or "
                "reclassify the layer to integer codes"
            )
        if len(values) > MAX_CLASSES:
            raise DataError(
                f"categorical factor `{name}` holds {len(values)} distinct values at the sites; "
                f"at most {MAX_CLASSES} classes are supported; declare it continuous or merge "
                "classes"
            )
    return tuple(f for f in feats if f in set(names))


def location_ids(lonlat: np.ndarray) -> np.ndarray:
    """One integer id per distinct site position (rows at one location share it)."""
    return np.unique(lonlat, axis=0, return_inverse=True)[1].ravel()


def _tuning_rows(
    loc: np.ndarray, y: np.ndarray, fraction: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified share of locations (by majority label) for tuning: (tune, evaluate) rows."""
    rng = check_random_state(random_state)
    n_loc = loc.max() + 1
    maj = np.bincount(loc, weights=y, minlength=n_loc) / np.bincount(loc, minlength=n_loc) >= 0.5
    chosen = []
    for cls in (False, True):
        ids = np.flatnonzero(maj == cls)
        take = round(fraction * len(ids))
        chosen.append(rng.permutation(ids)[:take])
    tune_loc = np.zeros(n_loc, dtype=bool)
    tune_loc[np.concatenate(chosen)] = True
    rows = np.arange(len(loc))
    return rows[tune_loc[loc]], rows[~tune_loc[loc]]


def prepare_data(
    table: pd.DataFrame,
    features: Sequence[str],
    settings: ModelSettings,
    *,
    random_state: int = 0,
    categorical: Collection[str] = (),
) -> TrainingData:
    """Check the feature table and set aside the tuning hold-out (``tuning="holdout"``).

    Parameters
    ----------
    table : pandas.DataFrame
        ``site_id, lon, lat, label`` + one numeric column per feature, no NaN.
    features : sequence of str
        Candidate factor columns.
    settings : ModelSettings
    random_state : int, default=0
        Seeds the choice of the tuning locations.
    categorical : collection of str, default=()
        Features that hold class codes (integers; at most :data:`MAX_CLASSES` classes).

    Returns
    -------
    TrainingData
    """
    X_all, y_all, lonlat_all, feats = _check_table(table, features, settings)
    cat = _check_categorical(X_all, feats, categorical)
    if settings.tuning == "holdout":
        loc = location_ids(lonlat_all)
        tune_rows, eval_rows = _tuning_rows(loc, y_all, settings.tuning_fraction, random_state)
    else:
        tune_rows, eval_rows = np.array([], dtype=int), np.arange(len(y_all))
    counts = np.bincount(y_all[eval_rows], minlength=2)
    if (counts < settings.n_folds).any():
        raise DataError(
            f"after setting aside {len(tune_rows)} tuning rows, class counts {counts.tolist()} "
            f"cannot fill {settings.n_folds} folds; lower tuning_fraction, use tuning='nested' "
            "or add sites"
        )
    return TrainingData(table, X_all, y_all, lonlat_all, feats, tune_rows, eval_rows, cat)


def make_splits(
    data: TrainingData,
    settings: ModelSettings,
    *,
    random_state: int = 0,
    prediction_lonlat: Any = None,
) -> dict[str, Splits]:
    """Random and spatial CV splits of the evaluation rows, computed once.

    ``"random"``: repeated stratified k-fold on rows (the published protocol); ``"spatial"``:
    kNNDM (against ``prediction_lonlat``, default: points sampled on land in
    ``settings.prediction_bounds``) or spatial blocks, keeping all rows at one location together.
    """
    y = data.y
    return {
        "random": Splits.random(
            y, n_folds=settings.n_folds, n_repeats=settings.n_repeats, random_state=random_state
        ),
        "spatial": _spatial_splits(data.lonlat, y, settings, random_state, prediction_lonlat),
    }


def split_ratios(splits: Mapping[str, Splits]) -> dict[str, float]:
    """Mean ``n_test / n_train`` of each scheme (for the corrected standard errors)."""
    return {s: sp.test_train_ratio() for s, sp in splits.items()}


def spatial_folds_of_rows(data: TrainingData, splits: Mapping[str, Splits]) -> np.ndarray:
    """Spatial-CV fold of every table row in the first repeat; -1 for the tuning hold-out."""
    folds = np.full(len(data.y_all), -1, dtype=np.int64)
    folds[data.eval_rows] = np.asarray(splits["spatial"].folds)[0]
    return folds


def _spatial_splits(
    lonlat: np.ndarray,
    y: np.ndarray,
    settings: ModelSettings,
    random_state: int,
    prediction_lonlat: Any,
) -> Splits:
    if settings.spatial_method == "block":
        splitter: Any = SpatialBlockKFold(
            settings.n_folds,
            block_size_km=settings.block_size_km,
            n_repeats=settings.n_repeats,
            random_state=random_state,
        )
    else:
        if prediction_lonlat is None:
            from ..cv import prediction_domain_points

            prediction_lonlat = prediction_domain_points(settings.prediction_bounds)
        splitter = KNNDMKFold(
            settings.n_folds,
            prediction_lonlat=prediction_lonlat,
            n_repeats=settings.n_repeats,
            clustering="kmeans" if settings.n_repeats > 1 else "hierarchical",
            maxp=settings.knndm_maxp,
            nk_len=settings.knndm_nk_len,
            random_state=random_state,
        )
    splits = Splits.from_splitter("spatial", splitter, lonlat, y)
    splits.info["method"] = settings.spatial_method
    return splits
