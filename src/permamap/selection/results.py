"""Result objects of the model stage's steps (:mod:`permamap.selection.stage`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..aoa import AOAReference
from ..modelio import FeatureGuard
from ..models import Candidate
from .tuning import Tuned

__all__ = ["Comparison", "FeatureSelection", "FinalModel", "ModelChoice", "ModelStageResult"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`compare_models` returns: every candidate tuned and scored under both schemes.

    Attributes
    ----------
    candidates : dict of str to Candidate
        The registry candidates, in settings order.
    tuned : dict
        ``{candidate: {scheme: params}}`` found on the tuning hold-out (empty unless
        ``tuning="holdout"``).
    used_params : dict
        ``{candidate: {scheme: [params of each fold]}}`` actually used.
    scores : pandas.DataFrame
        Tidy per-fold scores (:data:`~permamap.selection.metrics.SCORE_COLUMNS`).
    summary : pandas.DataFrame
        :func:`~permamap.selection.metrics.summarize_scores` of ``scores``.
    timings : dict
        Seconds of ``tuning`` and ``comparison``.
    """

    candidates: dict[str, Candidate]
    tuned: Tuned
    used_params: dict[str, dict[str, list[dict[str, Any]]]]
    scores: pd.DataFrame
    summary: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ModelChoice:
    """What :func:`choose_model` returns: the chosen candidate, its parameters and the fronts.

    Attributes
    ----------
    name : str
        The chosen candidate.
    candidate : Candidate
    params : dict
        Its parameters (ensemble size included).
    best_name : str
        The candidate with the best spatial-CV score (the reference of the paired comparison).
    cost_s_per_million : float
        Prediction cost of the chosen configuration.
    front : pandas.DataFrame
        Skill vs cost of every candidate (``cost_s_per_million``, ``pareto``, ``cost_class``,
        ``chosen``...).
    size_front : list of dict
        Skill vs cost of each ensemble size of the chosen family (empty for other models).
    timings : dict
        Seconds of ``cost``.
    holdout_params : dict or None
        The hold-out tuning's parameters when :func:`~.tuning.retune_final` replaced them in
        ``params`` (None: ``params`` are the hold-out's, or tuning was nested or off).
    """

    name: str
    candidate: Candidate
    params: dict[str, Any]
    best_name: str
    cost_s_per_million: float
    front: pd.DataFrame
    size_front: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    holdout_params: dict[str, Any] | None = None


@dataclass(frozen=True, eq=False)
class FeatureSelection:
    """What :func:`select_features` returns.

    Attributes
    ----------
    importance : list of dict
        ``feature, permutation_mean, permutation_sd, impurity``, most important first.
    combinations : list of dict
        Every feature subset tested, with its spatial-CV ``mean``, ``sd`` and ``se``.
    features : list of str
        The chosen subset.
    timings : dict
        Seconds of ``importance`` and ``combinations``.
    """

    importance: list[dict[str, Any]]
    combinations: list[dict[str, Any]]
    features: list[str]
    timings: dict[str, float] = field(default_factory=dict)

    def best_single(self, metric: str, greater_is_better: bool = True) -> str | None:
        """The factor whose one-factor model scored best (None when no single factor was tested)."""
        singles = [c for c in self.combinations if c.get("n_features") == 1]
        sign = 1.0 if greater_is_better else -1.0
        scored = [c for c in singles if c.get("metric") == metric and c["mean"] == c["mean"]]
        if not scored:
            return None
        return str(max(scored, key=lambda c: sign * c["mean"])["features"][0])


@dataclass(frozen=True, eq=False)
class FinalModel:
    """What :func:`train_final` returns: the model fitted on all sites, its card and its AOA.

    Attributes
    ----------
    model : FeatureGuard
        The chosen configuration fitted on every row (tuning hold-out included).
    features : list of str
    card : dict
        The model card (JSON-ready).
    scores : pandas.DataFrame
        Per-fold scores of the final configuration under both schemes (model :data:`FINAL`).
    summary : pandas.DataFrame
        :func:`~permamap.selection.metrics.summarize_scores` of ``scores``.
    aoa : AOAReference
        The area-of-applicability reference of the model's features (Meyer & Pebesma 2021).
    timings : dict
        Seconds of ``final`` (scores and fit) and ``aoa``.
    ensemble : Ensemble or None
        Refits on spatially blocked bootstrap resamples (``[models] bootstrap_members``; None = 0).
    """

    model: FeatureGuard
    features: list[str]
    card: dict[str, Any]
    scores: pd.DataFrame
    summary: pd.DataFrame
    aoa: AOAReference
    timings: dict[str, float] = field(default_factory=dict)
    ensemble: Any = None


@dataclass(frozen=True, eq=False)
class ModelStageResult:
    """What :func:`model_stage` returns; the pipeline writes it into the run folder.

    Attributes
    ----------
    model : FeatureGuard
        The final model.
    features : list of str
        Its features, in model order.
    card : dict
        The model card (``model_card.json``).
    summary : dict
        ``model``, ``features`` and the final configuration's ``random`` / ``spatial`` CV
        ``{metric: {mean, sd}}``.
    scores : pandas.DataFrame
        The content of ``cv_scores.csv``: every candidate's and the final configuration's
        per-fold scores.
    selection : dict
        The content of ``selection.json`` (JSON-ready: NaN as None).
    timings : dict
        Seconds per step and ``total``.
    aoa : AOAReference
        The area-of-applicability reference, fitted on the training rows with the first-repeat
        spatial folds (the tuning hold-out as one more fold, -1); it is saved in the model artefact.
    ensemble : Ensemble or None
        The bootstrap refits behind the maps' uncertainty band (saved as ``models/ensemble.joblib``).
    """

    model: FeatureGuard
    features: list[str]
    card: dict[str, Any]
    summary: dict[str, Any]
    scores: pd.DataFrame
    selection: dict[str, Any]
    timings: dict[str, float]
    aoa: AOAReference
    ensemble: Any = None
