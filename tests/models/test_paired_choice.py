"""Choosing within noise by paired fold differences: a clearly worse option is not 'within noise'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from permamap.selection.cost import choose_within_noise, paired_se
from permamap.selection.metrics import corrected_se
from permamap.selection.results import FeatureSelection

# Ten folds that differ a lot (spatial CV): the cheap option is 0.02 worse on every fold.
BEST = np.array([0.99, 0.80, 0.95, 0.70, 0.90, 0.85, 0.97, 0.75, 0.92, 0.88])
CHEAP = BEST - 0.02 + np.array([0.002, -0.002] * 5)


def test_paired_se_is_the_corrected_se_of_the_differences() -> None:
    se = paired_se({"best": BEST, "cheap": CHEAP}, "accuracy", 0.25)
    assert se["best"] == 0.0
    assert se["cheap"] == pytest.approx(corrected_se(BEST - CHEAP, 0.25))
    assert se["cheap"] < 0.01 < corrected_se(BEST, 0.25)  # pairing removes the fold-to-fold spread


def test_a_consistently_worse_option_is_outside_the_paired_band_but_inside_the_unpaired() -> None:
    front = pd.DataFrame(
        {
            "model": ["best", "cheap"],
            "mean": [BEST.mean(), CHEAP.mean()],
            "se": [corrected_se(BEST, 0.25), corrected_se(CHEAP, 0.25)],
            "cost": [10.0, 1.0],
        }
    )
    assert choose_within_noise(front, "accuracy", 1.0, ["cost"])["model"] == "cheap"
    paired = paired_se({"best": BEST, "cheap": CHEAP}, "accuracy", 0.25)
    front["se_paired"] = [paired["best"], paired["cheap"]]
    assert choose_within_noise(front, "accuracy", 1.0, ["cost"])["model"] == "best"


def test_lower_is_better_metrics_pick_the_smallest_mean_as_best() -> None:
    se = paired_se(
        {"a": np.array([0.1, 0.2, 0.15]), "b": np.array([0.05, 0.1, 0.1])}, "brier", 0.25
    )
    assert se["b"] == 0.0 and se["a"] > 0


def test_best_single_factor_comes_from_the_one_factor_subsets() -> None:
    combos = [
        {"features": ["maat"], "n_features": 1, "metric": "accuracy", "mean": 0.90},
        {"features": ["snow_days"], "n_features": 1, "metric": "accuracy", "mean": 0.93},
        {"features": ["maat", "soc"], "n_features": 2, "metric": "accuracy", "mean": 0.96},
        {"features": ["soc"], "n_features": 1, "metric": "accuracy", "mean": float("nan")},
    ]
    sel = FeatureSelection(importance=[], combinations=combos, features=["maat", "soc"])
    assert sel.best_single("accuracy") == "snow_days"
    assert sel.best_single("accuracy", greater_is_better=False) == "maat"
    assert sel.best_single("brier") is None


def test_tuning_on_log_loss_keeps_probabilities_sharp() -> None:
    """Accuracy ties across C, so the one-SE rule takes the flattest model; log-loss does not."""
    from permamap.models import make_candidate
    from permamap.selection.tuning import InnerSplits, search_grid

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 1))
    y = (x[:, 0] + rng.normal(0, 0.05, 600) > 0).astype(int)
    cand = make_candidate("logistic_regression", grid="full")
    inner = InnerSplits("random", np.arange(600) % 30, 3, 0)
    rows = np.arange(600)
    by_accuracy = search_grid(cand, x, y, rows, inner, "accuracy", 1.0)
    by_log_loss = search_grid(cand, x, y, rows, inner, "log_loss", 1.0)
    assert by_accuracy["clf__C"] < by_log_loss["clf__C"]
    assert by_log_loss["clf__C"] >= 10.0


def _sharp_sites(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` sites on a 10 x 10 degree square whose class is a near-sharp line in one factor."""
    rng = np.random.default_rng(seed)
    lonlat = np.column_stack([rng.uniform(100, 110, n), rng.uniform(60, 70, n)])
    x = rng.normal(size=(n, 1))
    y = (x[:, 0] + rng.normal(0, 0.1, n) > 0).astype(int)
    return x, y, lonlat


def test_final_tuning_searches_the_grid_again_on_every_site() -> None:
    """The hold-out's strong regularisation gives way to the best C on all sites."""
    from dataclasses import replace

    from permamap.models import make_candidate
    from permamap.selection import ModelSettings
    from permamap.selection.tuning import retune_final

    x, y, lonlat = _sharp_sites(800)
    cand = make_candidate("logistic_regression", grid="small")  # C in 0.1, 1, 10
    settings = ModelSettings(tuning="holdout", inner_folds=3)
    found = retune_final(cand, {"clf__C": 0.1}, x, y, lonlat, settings)
    assert found == {"clf__C": 10.0}  # the sharpest line wins: no one-SE step back to C = 0.1
    assert (
        retune_final(cand, {"clf__C": 0.1}, x, y, lonlat, replace(settings, tuning="nested"))
        is None
    )
    assert (
        retune_final(cand, {"clf__C": 0.1}, x, y, lonlat, replace(settings, tuning="none")) is None
    )


def test_final_tuning_keeps_the_chosen_ensemble_size() -> None:
    from permamap.models import make_candidate
    from permamap.selection import ModelSettings
    from permamap.selection.tuning import retune_final

    x, y, lonlat = _sharp_sites(300)
    cand = make_candidate("random_forest", grid="small")  # n_estimators 50/200 x max_depth 12/None
    chosen = {"clf__n_estimators": 25, "clf__max_depth": 12}
    found = retune_final(cand, chosen, x, y, lonlat, ModelSettings(inner_folds=3))
    assert found is not None
    assert found["clf__n_estimators"] == 25  # the cost-aware size stays; only the depth is searched
    assert found["clf__max_depth"] in (12, None)
