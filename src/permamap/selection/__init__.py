"""The model stage: compare candidates under random and spatial CV, select features, fit a model.

Steps, each reusing the same :class:`~permamap.cv.Splits` (computed once), each a public function
that returns a result object (:mod:`~permamap.selection.stage`; :func:`model_stage` runs them in
order and writes nothing):

1. **Data and splits** (:mod:`~permamap.selection.data`) – the feature table checked once; repeated
   stratified k-fold on rows (the published protocol) and spatial CV (kNNDM or data-sized spatial
   blocks) on site positions.
2. **Tuning without leakage** (:mod:`~permamap.selection.tuning`) – ``tuning="holdout"`` (default,
   cheap): a stratified share of the site locations (``tuning_fraction``) is set aside once; each
   candidate's grid is searched on it with inner CV of the matching kind (stratified-grouped for
   the random scheme, spatial clusters for the spatial one), and all outer CV runs on the
   remaining sites, which never influenced a parameter. ``tuning="nested"``: a grid search inside
   every outer training fold (inner groups = the outer scheme's sites/blocks/clusters), exact and
   ``~inner_folds × grid`` times costlier. ``tuning="none"``: registry defaults. Inside every
   search a one-standard-error rule picks the simplest grid point whose score is within one SE of
   the best.
3. **Comparison** (:func:`compare_models`, :mod:`~permamap.selection.metrics`) – per fold:
   accuracy, F1, ROC AUC, PR AUC (average precision), Cohen's kappa and Brier score →
   ``cv_scores.csv``; mean, sd and a 95 % interval per model and scheme (Nadeau–Bengio corrected
   t interval, which accounts for the overlap of training sets across folds); paired comparison
   of the best against the rest on identical folds.
4. **Cost-aware choice** (:func:`choose_model`, :mod:`~permamap.selection.cost`) – each
   candidate's prediction cost (single-core seconds per million cells, measured here) beside its
   spatial-CV score; the cheapest candidate within ``choice_se`` standard errors of the best
   spatial score wins; for ensembles, sizes in ``size_variants`` are then compared the same way.
   The skill-vs-cost front goes to ``selection.json``.
5. **Feature selection** (:func:`select_features`, :mod:`~permamap.selection.importance`) –
   permutation importance on held-out spatial folds (impurity importance as a second view), then
   incremental top-k and forward selection driven by spatial CV; the subset with the fewest
   features among those within one SE of the best wins.
6. **Final model** (:func:`train_final`) on all sites (tuning subset included) with the chosen
   features and parameters, its model card, and its area-of-applicability reference (weighted by
   permutation importance, with the spatial folds), which the model artefact stores
   (:func:`permamap.modelio.save_model`).

Categorical factors (``model_stage(..., categorical=[...])``: class codes such as soil class or
land cover) are encoded inside every candidate's pipeline as its family needs (one-hot, raw codes
for trees, native splits for histogram gradient boosting; :mod:`permamap.models`), following their
names through feature subsets; the fitted model still takes the raw factor columns. The area of
applicability treats them as "same class or not" (:func:`permamap.aoa.fit_aoa`), and the model card
lists them with their training classes.

Random CV rows are site × epoch rows, as published; both spatial schemes keep all rows at one
location in one fold. Parallel steps run on joblib or dask (:mod:`~permamap.selection.backend`).
"""

from __future__ import annotations

from .cost import (
    FREE_COST_S_PER_MILLION,
    choose_within_noise,
    cost_class,
    pareto,
    prediction_cost,
)
from .data import TrainingData, make_splits, prepare_data
from .metrics import (
    FINAL,
    GREATER_IS_BETTER,
    METRICS,
    SCORE_COLUMNS,
    fold_metrics,
    paired_comparison,
    summarize_scores,
)
from .results import Comparison, FeatureSelection, FinalModel, ModelChoice, ModelStageResult
from .settings import DEMO_CANDIDATES, PROFILES, ModelSettings
from .stage import (
    aoa_weights,
    choose_model,
    compare_models,
    model_stage,
    score_final,
    select_features,
    selection_record,
    train_final,
)
from .tuning import pick_one_se

__all__ = [
    "DEMO_CANDIDATES",
    "FINAL",
    "FREE_COST_S_PER_MILLION",
    "GREATER_IS_BETTER",
    "METRICS",
    "PROFILES",
    "SCORE_COLUMNS",
    "Comparison",
    "FeatureSelection",
    "FinalModel",
    "ModelChoice",
    "ModelSettings",
    "ModelStageResult",
    "TrainingData",
    "aoa_weights",
    "choose_model",
    "choose_within_noise",
    "compare_models",
    "cost_class",
    "fold_metrics",
    "make_splits",
    "model_stage",
    "paired_comparison",
    "pareto",
    "pick_one_se",
    "prediction_cost",
    "prepare_data",
    "score_final",
    "select_features",
    "selection_record",
    "summarize_scores",
    "train_final",
]
