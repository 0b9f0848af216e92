"""The model stage as steps: compare, choose, select features, train the final model.

Each step is a public function with typed inputs that returns a result object, so a step can be
rerun or inspected on its own; :func:`model_stage` composes them on one set of splits::

    data = prepare_data(table, features, settings, random_state=0)
    splits = make_splits(data, settings, random_state=0)
    comparison = compare_models(data, splits, settings)        # tuning + CV scores
    choice = choose_model(data, splits, comparison, settings)  # skill vs prediction cost
    selected = select_features(data, splits, choice, settings)
    final = train_final(data, splits, choice, selected, settings)  # model, card, AOA

Nothing here writes a file: :func:`permamap.pipeline.run` writes ``cv_scores.csv``
(:attr:`ModelStageResult.scores`), ``selection.json`` (:attr:`ModelStageResult.selection`) and the
model artefact (:func:`permamap.modelio.save_model` with the model, card and AOA reference).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..aoa import AOAReference, fit_aoa
from ..cv import Splits
from ..modelio import FeatureGuard, jsonable, package_versions, training_hash
from ..models import Candidate, make_candidate
from .backend import parallel_backend, quiet, stopwatch
from .calibration import Calibrator, calibrate, cross_fit
from .cost import choose_within_noise, cost_class, measured_cost, paired_se, pareto
from .data import TrainingData, make_splits, prepare_data, spatial_folds_of_rows, split_ratios
from .ensemble import auto_members, bootstrap_blocks, fit_ensemble
from .errorprofile import MIN_ROWS, ErrorProfile, cv_dissimilarity, fit_error_profile
from .evaluation import cv_scores, evaluate_subset, fit_predict, most_common_params
from .importance import rank_importance, search_feature_subsets
from .metrics import (
    FINAL,
    GREATER_IS_BETTER,
    SCORE_COLUMNS,
    cv_block,
    fold_stats,
    paired_comparison,
    summarize_scores,
)
from .results import Comparison, FeatureSelection, FinalModel, ModelChoice, ModelStageResult
from .settings import ModelSettings
from .tuning import retune_final, tune_candidates

__all__ = [
    "aoa_weights",
    "choose_model",
    "compare_models",
    "model_stage",
    "select_features",
    "selection_record",
    "train_final",
]

logger = logging.getLogger(__name__)


# =========================================================================== steps
def compare_models(
    data: TrainingData,
    splits: Mapping[str, Splits],
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
) -> Comparison:
    """Tune every candidate without leakage and score it under random and spatial CV.

    Parameters
    ----------
    data : TrainingData
        From :func:`~permamap.selection.data.prepare_data`.
    splits : mapping of str to Splits
        ``"random"`` and ``"spatial"`` (:func:`~permamap.selection.data.make_splits`).
    settings : ModelSettings
    n_jobs : int, default=-1
        Parallel workers (joblib; -1 = all cores).
    random_state : int, default=0
        Seeds the candidates and the inner tuning splits.

    Returns
    -------
    Comparison
    """
    ratios = split_ratios(splits)
    cands = {
        n: make_candidate(
            n,
            grid=settings.grid,
            random_state=random_state,
            categorical=data.categorical_columns,
        )
        for n in settings.candidates
    }
    timings: dict[str, float] = {}
    X, y = data.X, data.y
    with parallel_backend(settings, n_jobs):
        stop = stopwatch(timings, "tuning")
        tuned, inner = tune_candidates(
            cands, data, splits, settings, n_jobs=n_jobs, random_state=random_state
        )
        stop()

        stop = stopwatch(timings, "comparison")
        rows: list[tuple[Any, ...]] = []
        used_params: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for name, cand in cands.items():
            r, used_params[name] = cv_scores(
                name, cand, tuned.get(name, {}), X, y, splits, inner, settings, n_jobs
            )
            rows.extend(r)
            logger.info("compared %s", name)
        scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
        summary = summarize_scores(scores, ratios)
        stop()
    return Comparison(cands, tuned, used_params, scores, summary, timings)


def choose_model(
    data: TrainingData,
    splits: Mapping[str, Splits],
    comparison: Comparison,
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
) -> ModelChoice:
    """The cheapest candidate within ``choice_se`` SE of the best spatial score, then its size.

    Each candidate's prediction cost (``settings.costs`` or measured: single-core seconds per
    million cells) sits beside its spatial-CV score; for an ensemble, the sizes in
    ``settings.size_variants`` are then compared the same way on the first
    ``settings.front_repeats`` spatial repeats.
    """
    timings: dict[str, float] = {}
    stop = stopwatch(timings, "cost")
    with parallel_backend(settings, n_jobs):
        choice = _choose(data, splits, comparison, settings, n_jobs, random_state)
    stop()
    return replace(choice, timings=timings)


def _choose(
    data: TrainingData,
    splits: Mapping[str, Splits],
    comparison: Comparison,
    settings: ModelSettings,
    n_jobs: int,
    random_state: int,
) -> ModelChoice:
    metric, sign = settings.metric, (1.0 if GREATER_IS_BETTER[settings.metric] else -1.0)
    cands, summary = comparison.candidates, comparison.summary
    ratios = split_ratios(splits)
    X, y = data.X, data.y

    def cost_of(cand: Candidate, params: dict[str, Any]) -> float:
        return measured_cost(
            cand, params, X, y, n_rows=settings.cost_rows, random_state=random_state
        )

    params_of = {n: most_common_params(comparison.used_params[n]["spatial"]) for n in cands}
    front = summary[(summary["scheme"] == "spatial") & (summary["metric"] == metric)]
    front = front.set_index("model").loc[list(cands), ["mean", "sd", "se"]].reset_index()
    front["cost_s_per_million"] = [
        float(settings.costs[n])
        if settings.costs and n in settings.costs
        else cost_of(cands[n], params_of[n])
        for n in front["model"]
    ]
    front["pareto"] = pareto(
        sign * front["mean"].to_numpy(), front["cost_s_per_million"].to_numpy()
    )
    front["cost_class"] = cost_class(front["cost_s_per_million"].to_numpy())
    front["neg_score"] = -sign * front["mean"]
    # each candidate against the best on the same spatial folds (paired differences)
    compared = comparison.scores
    wide = compared[(compared["scheme"] == "spatial") & (compared["metric"] == metric)].pivot_table(
        index=["repeat", "fold"], columns="model", values="value"
    )
    paired = paired_se(
        {n: wide[n].to_numpy(dtype=float) for n in front["model"] if n in wide},
        metric,
        ratios["spatial"],
    )
    front["se_paired"] = [paired.get(n, np.nan) for n in front["model"]]
    choice = choose_within_noise(
        front, metric, settings.choice_se, ["cost_class", "neg_score", "model"]
    )
    name = str(choice["model"])
    best_name = str(front.iloc[int(np.nanargmax(sign * front["mean"].to_numpy()))]["model"])
    front["chosen"] = front["model"] == name
    cand, params = cands[name], dict(params_of[name])
    cost = float(choice["cost_s_per_million"])
    size_front: list[dict[str, Any]] = []
    if cand.size_param and settings.size_variants:
        # Same spatial folds, only the ensemble size changes: skill vs prediction cost.
        front_splits = splits["spatial"].head(settings.front_repeats)
        current = params.get(cand.size_param) or cand.estimator.get_params()[cand.size_param]
        recs = []
        for size in sorted(set(settings.size_variants) | {int(current)}):
            p = {**params, cand.size_param: size}
            vals = evaluate_subset(cand, p, X, y, range(X.shape[1]), front_splits, metric, n_jobs)
            recs.append(
                {
                    "size": size,
                    **fold_stats(vals, ratios["spatial"]),
                    "cost_s_per_million": cost_of(cand, p),
                }
            )
        size_df = pd.DataFrame(recs)
        pick = choose_within_noise(
            size_df, metric, settings.choice_se, ["cost_s_per_million", "size"]
        )
        params[cand.size_param] = int(pick["size"])
        cost = float(pick["cost_s_per_million"])
        size_df["chosen"] = size_df["size"] == int(pick["size"])
        size_front = size_df.to_dict(orient="records")
    logger.info("cost-aware choice: %s %s (best score: %s)", name, params, best_name)
    return ModelChoice(name, cand, params, best_name, cost, front, size_front)


def select_features(
    data: TrainingData,
    splits: Mapping[str, Splits],
    choice: ModelChoice,
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
) -> FeatureSelection:
    """Rank features by permutation importance, then test subsets; the smallest good one wins.

    Both steps use the first ``settings.selection_repeats`` repeats of the spatial splits and the
    chosen candidate with its parameters.
    """
    timings: dict[str, float] = {}
    sel_splits = splits["spatial"].head(settings.selection_repeats)
    ratio = split_ratios(splits)["spatial"]
    with parallel_backend(settings, n_jobs):
        stop = stopwatch(timings, "importance")
        ranking, order = rank_importance(
            choice.candidate,
            choice.params,
            data,
            sel_splits,
            settings,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        stop()

        stop = stopwatch(timings, "combinations")
        combos, chosen = search_feature_subsets(
            choice.candidate,
            choice.params,
            data,
            order,
            sel_splits,
            ratio,
            settings,
            n_jobs=n_jobs,
        )
        stop()
    return FeatureSelection(ranking, combos, chosen, timings)


def aoa_weights(
    importance: Sequence[Mapping[str, Any]], features: Sequence[str]
) -> np.ndarray | None:
    """AOA weight of each feature: its permutation importance, negatives and NaN as 0.

    None (equal weights) when no weight is positive.

    >>> aoa_weights([{"feature": "a", "permutation_mean": 0.2},
    ...              {"feature": "b", "permutation_mean": -0.1}], ["b", "a"]).tolist()
    [0.0, 0.2]
    >>> aoa_weights([{"feature": "a", "permutation_mean": float("nan")}], ["a"]) is None
    True
    """
    imp = {d["feature"]: d.get("permutation_mean") for d in importance}

    def weight(f: str) -> float:
        v = imp.get(f)
        return max(float(v), 0.0) if v is not None and np.isfinite(v) else 0.0

    weights = np.array([weight(f) for f in features])
    return weights if weights.sum() > 0 else None


def final_tuning(
    data: TrainingData,
    choice: ModelChoice,
    features: Sequence[str],
    settings: ModelSettings,
    *,
    random_state: int = 0,
) -> ModelChoice:
    """``choice`` with its parameters searched again on every site and ``features``.

    See :func:`~.tuning.retune_final`; the hold-out's parameters move to ``holdout_params``. The
    final CV rows, the calibration, the ensemble and the final fit all use the new parameters.
    """
    cols = [data.features.index(f) for f in features]
    found = retune_final(
        choice.candidate.select(cols),
        choice.params,
        np.ascontiguousarray(data.X_all[:, cols]),
        data.y_all,
        data.lonlat_all,
        settings,
        random_state=random_state,
    )
    if found is None:
        return choice
    if found != choice.params:
        logger.info("final tuning on all sites: %s (hold-out: %s)", found, choice.params)
    return replace(choice, params=found, holdout_params=dict(choice.params))


def score_final(
    data: TrainingData,
    splits: Mapping[str, Splits],
    choice: ModelChoice,
    selected: FeatureSelection | Sequence[str],
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    name: str = FINAL,
) -> pd.DataFrame:
    """The chosen model on a feature subset, scored under both schemes on the stage's folds.

    ``selected`` is the feature selection (rows named :data:`FINAL`) or any list of features (e.g.
    the best single factor, with its own ``name``).
    """
    features = selected.features if isinstance(selected, FeatureSelection) else list(selected)
    cols = [data.features.index(f) for f in features]
    with parallel_backend(settings, n_jobs):
        final_rows, _ = cv_scores(
            name,
            choice.candidate.select(cols),
            {"random": choice.params, "spatial": choice.params},
            np.ascontiguousarray(data.X[:, cols]),
            data.y,
            splits,
            {},
            settings,
            n_jobs,
        )
    return pd.DataFrame(final_rows, columns=SCORE_COLUMNS)


def calibration_of(
    data: TrainingData,
    splits: Mapping[str, Splits],
    choice: ModelChoice,
    features: Sequence[str],
) -> tuple[Calibrator, dict[str, Any], np.ndarray]:
    """Out-of-fold probabilities of the final configuration (first spatial repeat), calibrated.

    See :mod:`permamap.selection.calibration`; ``none`` wins unless a calibrator lowers the
    cross-fitted spatial-CV log-loss. The third value holds, per evaluation row, the out-of-fold
    probability calibrated by the chosen method fitted on the other folds (NaN where no fold
    model predicted the row): what the error profile is fitted on.
    """
    cols = [data.features.index(f) for f in features]
    cand = choice.candidate.select(cols)
    X, y = np.ascontiguousarray(data.X[:, cols]), data.y
    folds = np.asarray(splits["spatial"].folds)[0]
    p = np.full(len(y), np.nan)
    for f in np.unique(folds):
        test, train = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        got = fit_predict(cand.build(choice.params), X, y, train, test)
        if got is not None:
            p[test] = got
    ok = np.isfinite(p)
    calibrator, evidence = calibrate(p[ok], y[ok], folds[ok])
    p_cal = np.full(len(y), np.nan)
    p_cal[ok] = cross_fit(calibrator.method, p[ok], y[ok], folds[ok])
    return calibrator, evidence, p_cal


def error_profile_of(
    data: TrainingData, aoa: AOAReference, p_cal: np.ndarray, settings: ModelSettings
) -> tuple[ErrorProfile | None, str | None]:
    """Expected accuracy from the DI and the confidence, fitted on the spatial-CV rows.

    Each evaluation row pairs its DI against the rows of the other spatial folds
    (:func:`~permamap.selection.errorprofile.cv_dissimilarity`, the tuning hold-out excluded) with
    its cross-fitted calibrated out-of-fold probability. ``[models] error_profile = "none"``
    skips it (the maps then have no ``expected_accuracy`` band). Without it, the second value
    says why (also when every out-of-fold class is right: nothing to relate to the DI).
    """
    if settings.error_profile == "none":
        return None, '[models] error_profile = "none": no expected-accuracy band'
    di = cv_dissimilarity(aoa)[data.eval_rows]
    ok = np.isfinite(di) & np.isfinite(p_cal)
    right = (p_cal[ok] >= 0.5) == (data.y[ok] == 1)
    if ok.sum() < MIN_ROWS or right.all() or not right.any():
        # nothing to relate to the DI: a constant accuracy is all the sites can tell
        return None, (
            f"no error profile: {int(right.sum())} of {int(ok.sum())} out-of-fold classes are "
            f"right, and the profile needs at least {MIN_ROWS} rows with both right and "
            "wrong ones; the maps get no expected_accuracy band (the spatial-CV accuracy is the "
            "only accuracy figure)"
        )
    return fit_error_profile(di[ok], p_cal[ok], data.y[ok], kind=settings.error_profile), None


def train_final(
    data: TrainingData,
    splits: Mapping[str, Splits],
    choice: ModelChoice,
    selected: FeatureSelection,
    settings: ModelSettings,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
    scores: pd.DataFrame | None = None,
) -> FinalModel:
    """Fit the chosen configuration on all sites; score it, build its card, fit its AOA.

    The final configuration is scored under both schemes on the stage's folds (rows with model
    :data:`FINAL`); the model is then fitted on every row, tuning hold-out included. The AOA
    reference uses the chosen features of every row, weighted by permutation importance
    (:func:`aoa_weights`), with the first-repeat spatial fold of each row (-1 for the tuning
    hold-out) so that a site's neighbours in its own fold do not count.

    Categorical features (``data.categorical``) are encoded inside the fitted pipeline as the
    chosen family needs (:mod:`permamap.models`), so the model predicts from the raw factor
    columns; the AOA treats them as "same class or not" (:func:`~permamap.aoa.fit_aoa`). The card
    records them under ``categorical`` (feature → training classes) and ``categorical_encoding``
    (``"one_hot"``, ``"codes"`` or ``"native"``; None without categorical features).
    """
    timings: dict[str, float] = {}
    params, chosen = choice.params, selected.features
    ratios = split_ratios(splits)
    stop = stopwatch(timings, "final")
    cols = [data.features.index(f) for f in chosen]
    cand = choice.candidate.select(cols)
    if scores is None:
        scores = score_final(data, splits, choice, selected, settings, n_jobs=n_jobs)
    summary = summarize_scores(scores, ratios)
    # Fitted outside the parallel backend: forests fit (and later predict) on threads.
    X_fit = np.ascontiguousarray(data.X_all[:, cols])
    final = cand.build(params)
    if final.get_params().get("clf__n_jobs") is not None:
        final.set_params(clf__n_jobs=n_jobs)  # prediction over millions of cells uses all cores
    guard = FeatureGuard(final, features=chosen)
    with quiet():
        guard.fit(X_fit, data.y_all)
    stop()

    ensemble = None
    n_members, sizing = (
        auto_members(final, choice.cost_s_per_million)
        if settings.bootstrap_members == "auto"
        else (int(settings.bootstrap_members), "[models] bootstrap_members")
    )
    if n_members:
        stop = stopwatch(timings, "ensemble")
        block_km = splits["spatial"].info.get("block_size_km")
        ensemble = fit_ensemble(
            FeatureGuard(cand.build(params), features=chosen),
            X_fit,
            data.y_all,
            bootstrap_blocks(
                data.lonlat_all,
                data.y_all,
                block_size_km=float(block_km) if block_km else None,
                random_state=random_state,
            ),
            n_members=n_members,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        stop()

    stop = stopwatch(timings, "aoa")
    aoa = fit_aoa(
        data.factors(chosen),
        weights=aoa_weights(selected.importance, chosen),
        folds=spatial_folds_of_rows(data, splits),
        categorical=data.categorical_positions(chosen),
    )
    stop()
    categorical = {f: data.classes(f) for f in chosen if f in data.categorical}
    stop = stopwatch(timings, "calibration")
    calibrator, evidence, p_cal = calibration_of(data, splits, choice, chosen)
    stop()

    stop = stopwatch(timings, "error_profile")
    profile, profile_note = error_profile_of(data, aoa, p_cal, settings)
    stop()

    y_all = data.y_all
    card = {
        "model": choice.name,
        "features": chosen,
        "params": {
            k: v
            for k, v in final.get_params(deep=True).items()
            # "deprecated" marks a parameter scikit-learn is retiring (LogisticRegression's
            # penalty since 1.8): it says nothing about the fitted model
            if k.startswith("clf__") and not k.endswith("n_jobs") and v != "deprecated"
        },
        "tuned_params": params,
        "holdout_params": choice.holdout_params,
        "categorical": categorical,
        "categorical_encoding": cand.categorical_mode if categorical else None,
        "training_hash": training_hash(X_fit, y_all, chosen),
        "n_training_rows": len(y_all),
        "n_sites": int(data.table["site_id"].nunique()),
        "class_counts": {"0": int((y_all == 0).sum()), "1": int((y_all == 1).sum())},
        "cv": {s: cv_block(summary, s, ("mean", "sd", "ci95")) for s in splits},
        "cv_protocol": {
            "n_repeats": settings.n_repeats,
            "n_folds": settings.n_folds,
            "random": "repeated stratified k-fold on rows",
            "spatial": dict(splits["spatial"].info),
            "tuning": settings.tuning,
            "n_evaluation_rows": len(data.eval_rows),
            "interval": "Nadeau-Bengio corrected t interval",
            "note": "the feature subset, size and final parameters were chosen on these sites, "
            "so the figures are mildly optimistic; the comparison rows in cv_scores.csv "
            "(model = the candidate name, hold-out parameters) are the reference",
        },
        "calibration": {**calibrator.to_dict(), **evidence},
        "error_profile": profile.to_dict() if profile is not None else None,
        "error_profile_note": profile_note,
        "ensemble": {**ensemble.info, "sizing": sizing} if ensemble is not None else None,
        "prediction_s_per_million_cells": choice.cost_s_per_million,
        "versions": package_versions(),
        "seed": random_state,
        "settings": settings.to_dict(),
    }
    return FinalModel(guard, chosen, jsonable(card), scores, summary, aoa, timings, ensemble)


# =========================================================================== the stage
def selection_record(
    comparison: Comparison,
    choice: ModelChoice,
    selected: FeatureSelection,
    splits: Mapping[str, Splits],
    settings: ModelSettings,
) -> dict[str, Any]:
    """The content of ``selection.json`` (JSON-ready)."""
    metric = settings.metric
    ratios = split_ratios(splits)
    compared = comparison.scores
    selection = {
        "importance": selected.importance,
        "combinations": selected.combinations,
        "chosen": selected.features,
        "model": choice.name,
        "params": choice.params,
        "holdout_params": choice.holdout_params,
        "metric": metric,
        "cost_front": choice.front.to_dict(orient="records"),
        "size_front": choice.size_front,
        "comparison": [
            *paired_comparison(compared, choice.best_name, "spatial", metric, ratios["spatial"]),
            *paired_comparison(compared, choice.best_name, "random", metric, ratios["random"]),
        ],
        "summary": comparison.summary.to_dict(orient="records"),
        "tuned_params": comparison.tuned,
    }
    return dict(jsonable(selection))


def model_stage(
    table: pd.DataFrame,
    features: Sequence[str],
    settings: ModelSettings | None = None,
    *,
    n_jobs: int = -1,
    random_state: int = 0,
    prediction_lonlat: Any = None,
    categorical: Collection[str] = (),
) -> ModelStageResult:
    """Compare candidates, choose one by skill and cost, select features and fit the final model.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table: ``site_id, source, epoch, lon, lat, label`` + one float column per feature.
    features : sequence of str
        Candidate factor columns.
    settings : ModelSettings, optional
        Defaults to :meth:`ModelSettings.demo`.
    n_jobs : int, default=-1
        Parallel workers (joblib; -1 = all cores).
    random_state : int, default=0
        Seeds splits, tuning subset, estimators and permutations; same value → same scores.
    prediction_lonlat : array-like of shape (m, 2), optional
        Prediction locations for kNNDM; default samples ``settings.prediction_bounds`` on land.
    categorical : collection of str, default=()
        Features that hold class codes (soil class, land cover...): one-hot encoded inside every
        candidate's pipeline for the methods that read numbers as magnitudes, kept as codes by
        trees, native categorical splits for histogram gradient boosting (:mod:`permamap.models`);
        "same class or not" in the area of applicability. Empty: every feature is continuous
        (and the results are those of a run without this argument).

    Returns
    -------
    ModelStageResult
        Nothing is written; :func:`permamap.pipeline.run` writes the result.
    """
    settings = settings or ModelSettings.demo()
    rs = random_state
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    metric = settings.metric
    data = prepare_data(table, features, settings, random_state=rs, categorical=categorical)

    stop = stopwatch(timings, "splits")
    splits = make_splits(data, settings, random_state=rs, prediction_lonlat=prediction_lonlat)
    stop()
    logger.info(
        "splits: %d x %d random and %s spatial (%s) on %d rows",
        settings.n_repeats,
        settings.n_folds,
        settings.spatial_method,
        {k: v for k, v in splits["spatial"].info.items() if k in ("W", "block_size_km")},
        len(data.eval_rows),
    )
    # One backend (one dask cluster) for every CV step; the final fit runs outside it.
    with parallel_backend(settings, n_jobs):
        comparison = compare_models(data, splits, settings, n_jobs=n_jobs, random_state=rs)
        choice = choose_model(data, splits, comparison, settings, n_jobs=n_jobs, random_state=rs)
        selected = select_features(data, splits, choice, settings, n_jobs=n_jobs, random_state=rs)
        stop = stopwatch(timings, "final_tuning")
        choice = final_tuning(data, choice, selected.features, settings, random_state=rs)
        stop()
        stop = stopwatch(timings, "final_cv")
        final_scores = score_final(data, splits, choice, selected, settings, n_jobs=n_jobs)
        stop()
        single = selected.best_single(metric, GREATER_IS_BETTER[metric])
        single_block: dict[str, Any] | None = None
        if single is not None:
            stop = stopwatch(timings, "single_factor_cv")
            single_scores = score_final(
                data, splits, choice, [single], settings, n_jobs=n_jobs, name=f"single:{single}"
            )
            summ_single = summarize_scores(single_scores, split_ratios(splits))
            single_block = {
                "model": choice.name,
                "factor": single,
                **{s: cv_block(summ_single, s, ("mean", "sd")) for s in splits},
            }
            stop()
    final = train_final(
        data,
        splits,
        choice,
        selected,
        settings,
        n_jobs=n_jobs,
        random_state=rs,
        scores=final_scores,
    )
    for step in (comparison, choice, selected, final):
        timings.update(step.timings)

    scores = pd.concat([comparison.scores, final.scores], ignore_index=True)
    summ: dict[str, Any] = {
        "model": choice.name,
        "features": final.features,
        **{s: cv_block(final.summary, s, ("mean", "sd")) for s in splits},
        "best_single_factor": single_block,
    }
    timings["total"] = round(time.perf_counter() - t_all, 2)
    rnd, spt = summ["random"].get(metric, {}), summ["spatial"].get(metric, {})
    logger.info(
        "model %s with %d features: %s random CV %.3f ± %.3f | spatial CV %.3f ± %.3f",
        choice.name,
        len(final.features),
        metric,
        rnd.get("mean", np.nan),
        rnd.get("sd", np.nan),
        spt.get("mean", np.nan),
        spt.get("sd", np.nan),
    )
    return ModelStageResult(
        model=final.model,
        features=final.features,
        card=final.card,
        summary=jsonable(summ),
        scores=scores,
        selection={
            **selection_record(comparison, choice, selected, splits, settings),
            "best_single_factor": jsonable(single_block),
        },
        timings=timings,
        aoa=final.aoa,
        ensemble=final.ensemble,
    )
