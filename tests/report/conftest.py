"""A tiny but complete run folder (docs/contracts.md layout) with synthetic, known content.

The run is a virtual-world run (``virtual_world`` true) with the summary keys of issue 11: points
vs site-epoch rows, the best single-factor model, a plausibility table, an area-weighted truth
agreement equal to the reference comparison's, and a reference table wider than the page (an
extra agreement column and long column names) that the report must fold to fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from permamap.grid import Grid
from tests.change.helpers import run_change

EPOCHS = (2000, 2010, 2020)

PLAUSIBILITY = [
    {
        "quantity": "permafrost extent",
        "epoch": 2000,
        "value": 12560285.4,
        "low": 8.5e6,
        "high": 11e6,
        "unit": "km²",
        "anchor": "Obu et al. 2019",
        "inside": False,
    },
    {
        "quantity": "change of the extent",
        "epoch": None,
        "value": -4.123456,
        "low": -8.0,
        "high": -1.0,
        "unit": "% per decade",
        "anchor": "",
        "inside": True,
    },
]


def _land(grid: Grid) -> np.ndarray:
    """A synthetic land mask: sea in the north-west corner and along the northern edge."""
    lat = grid.lat_centers()[:, None]
    lon = grid.lon_centers()[None, :]
    return ~((lat > 72.5) | ((lon < 68) & (lat > 68)))


def _write_map(path: Path, grid: Grid, epoch: int, warming: float) -> Path:
    """The five bands of a map (contract order) with an ensemble spread and expected accuracy."""
    lat = grid.lat_centers()[:, None] * np.ones(grid.shape)
    lon = grid.lon_centers()[None, :] * np.ones(grid.shape)
    prob = np.clip((lat - 62 + 0.1 * (lon - 80) - warming) * 12 + 50, 0, 100)
    land = _land(grid)
    cls = np.where(land, prob >= 50, 255).astype(np.uint8)
    # spread: 12 pp at the 50 % isotherm, fading away from it; expected accuracy the reverse
    spread = 12 * np.exp(-(((prob - 50) / 25) ** 2))
    inside = lon < 95
    accuracy = np.clip(100 - 4 * spread - np.where(inside, 0, 10), 0, 100)
    prob = np.where(land, np.rint(prob), 255).astype(np.uint8)
    aoa = np.where(land, inside, 255).astype(np.uint8)
    spread = np.where(land, np.rint(spread), 255).astype(np.uint8)
    accuracy = np.where(land, np.rint(accuracy), 255).astype(np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=5,
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
        nodata=255,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    ) as dst:
        dst.write(np.stack([cls, prob, spread, aoa, accuracy]))
        names = ("class", "probability", "uncertainty", "aoa", "expected_accuracy")
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(
            epoch=str(epoch),
            model="random_forest",
            permamap_version="test",
            uncertainty_method="ensemble_sd: 100 x sd of calibrated member probabilities, "
            "B=20 spatial block-bootstrap refits (percentage points)",
            uncertainty_members="20",
        )
    return path


def _write_truth(path: Path, map_path: Path) -> Path:
    """The "true" class map: the map's class band with a 4 × 6-cell block flipped."""
    with rasterio.open(map_path) as src:
        cls = src.read(1)
        profile = src.profile | {"count": 1}
    block = cls[10:14, 30:36]
    cls[10:14, 30:36] = np.where(block == 255, 255, 1 - block.astype(int)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cls, 1)
        dst.set_band_description(1, "class")
    return path


# A model card with what makes a raw dump unreadable: long floats, an interval past 1, a
# p-value of 8e-144, scikit-learn's "deprecated" placeholder.
CARD_EXTRA = {
    "params": {
        "clf__C": 10.0,
        "clf__penalty": "deprecated",
        "clf__tol": 0.0001,
        "clf__max_iter": 2000,
        "clf__class_weight": None,
        "clf__l1_ratio": 0.123456789,
    },
    "tuned_params": {"clf__C": 10.0},
    "n_training_rows": 60,
    "n_sites": 57,
    "class_counts": {"0": 27, "1": 33},
    "cv_protocol": {
        "n_repeats": 2,
        "n_folds": 3,
        "random": "repeated stratified k-fold on rows",
        "spatial": {
            "W": [76.5419348852334, 74.54733764958632],
            "q": [35, 46],
            "method": "knndm",
            "ks_pvalue": 8.092400547075736e-144,
        },
        "interval": "Nadeau-Bengio corrected t interval",
    },
    "prediction_s_per_million_cells": 0.06849979999969946,
    "settings": {"cost_rows": 20000, "prediction_bounds": [25.0, 25.0, 180.0, 84.0]},
}


# Spatial-CV reliability bins of issue 12 (selection.calibration.reliability_table): the model's
# own probabilities are too sure at both ends; the sigmoid-calibrated ones lie near the diagonal.
RELIABILITY_BEFORE = [
    {"bin_low": 0.0, "bin_high": 0.1, "n": 755, "mean_p": 0.0078917, "observed": 0.00264},
    {"bin_low": 0.1, "bin_high": 0.2, "n": 60, "mean_p": 0.15, "observed": 0.3},
    {"bin_low": 0.4, "bin_high": 0.5, "n": 41, "mean_p": 0.46, "observed": 0.5},
    {"bin_low": 0.5, "bin_high": 0.6, "n": 38, "mean_p": 0.55, "observed": 0.6},
    {"bin_low": 0.9, "bin_high": 1.0, "n": 614, "mean_p": 0.97, "observed": 0.9},
]
RELIABILITY_AFTER = [
    {"bin_low": 0.0, "bin_high": 0.1, "n": 700, "mean_p": 0.02, "observed": 0.018},
    {"bin_low": 0.2, "bin_high": 0.3, "n": 110, "mean_p": 0.26, "observed": 0.27},
    {"bin_low": 0.5, "bin_high": 0.6, "n": 80, "mean_p": 0.54, "observed": 0.55},
    {"bin_low": 0.9, "bin_high": 1.0, "n": 618, "mean_p": 0.93, "observed": 0.925},
]
# ErrorProfile.to_dict() of a glm profile (selection.errorprofile), evidence binned by deciles
ERROR_PROFILE = {
    "kind": "glm",
    "threshold": 0.5,
    "coef": [0.1, 0.9, 0.4],
    "table_di": [],
    "table_accuracy": [],
    "evidence": {
        "kind": "glm",
        "n_rows": 1508,
        "observed_accuracy": 0.9,
        "coefficients": {"intercept": 0.1, "logit_confidence": 0.9, "di": 0.4},
        "di_range": [0.0, 1.2],
        "log_loss": 0.3,
        "log_loss_constant": 0.33,
        "binned": [
            {
                "bin": "[0.6, 0.8)",
                "low": 0.6,
                "high": 0.8,
                "n": 150,
                "weight": 150.0,
                "mean_expected": 0.72,
                "observed_accuracy": 0.7,
            },
            {
                "bin": "[0.8, 0.95)",
                "low": 0.8,
                "high": 0.95,
                "n": 358,
                "weight": 358.0,
                "mean_expected": 0.88,
                "observed_accuracy": 0.9,
            },
            {
                "bin": "[0.95, 1]",
                "low": 0.95,
                "high": 1.0,
                "n": 1000,
                "weight": 1000.0,
                "mean_expected": 0.97,
                "observed_accuracy": 0.975,
            },
        ],
        "binned_by": "deciles of the in-sample expected accuracy",
        "converged": True,
    },
}


def _intervals(change: dict) -> dict:
    """Issue 12's summary keys around the change stage's figures: the ``*_ci95`` of each epoch's
    areas (± 4 %), ``uncertainty`` (2000 → 2010 exceeds its interval, 2010 → 2020 does not) and
    the demo's ``uncertainty_check``."""
    areas = {e: dict(a) for e, a in change["area_km2"].items()}
    for a in areas.values():
        for key in ("permafrost_extent_km2", "probability_weighted_km2"):
            a[f"{key}_ci95"] = [0.96 * a[key], 1.04 * a[key]]
    pairs = {}
    for t in change["transitions"]:
        a, b, net = t["from_epoch"], t["to_epoch"], t["net_change_km2"]
        exceeds = (a, b) != (2010, 2020)
        half = 0.5 * abs(net) if exceeds else 2 * abs(net) + 1.0
        pairs[f"{a}-{b}"] = {
            "net_change_km2": net,
            "net_change_km2_ci95": [net - half, net + half],
            "exceeds_interval": exceeds,
            "degraded_km2_ci95": [0.9 * t["degraded_km2"], 1.1 * t["degraded_km2"]],
            "aggraded_km2_ci95": [0.9 * t["aggraded_km2"], 1.1 * t["aggraded_km2"]],
        }
    uncertainty = {"n_members": 20, "method": "normal bootstrap interval", "pairs": pairs}
    check = {
        "extent_in_interval": {str(e): e != 2000 for e in EPOCHS},
        "expected_accuracy_vs_truth": [
            {
                "low": 0.6,
                "high": 0.8,
                "mean_expected": 0.74,
                "observed_accuracy": 0.71,
                "weight": 2.0e5,
            },
            {
                "low": 0.8,
                "high": 0.95,
                "mean_expected": 0.9,
                "observed_accuracy": 0.82,
                "weight": 3.0e5,
            },
            {
                "low": 0.95,
                "high": 1.0,
                "mean_expected": 0.98,
                "observed_accuracy": 0.97,
                "weight": 5.0e5,
            },
        ],
    }
    return {"area_km2": areas, "uncertainty": uncertainty, "uncertainty_check": check}


def build_run(run: Path) -> dict:
    """Write maps, change/, models/, sites/ and summary.json into ``run``; return the summary."""
    grid = Grid.from_bounds((60, 55, 100, 75), res=0.5)
    (run / "maps").mkdir(parents=True)
    maps = {
        e: _write_map(run / "maps" / f"permafrost_{e}.tif", grid, e, 0.8 * i)
        for i, e in enumerate(EPOCHS)
    }
    last = EPOCHS[-1]
    truth = _write_truth(run / "truth" / f"permafrost_truth_{last}.tif", maps[last])
    change = run_change(
        maps,
        grid,
        run,
        tile_shape=(16, 32),
        reference=truth,
        reference_kind="class",
        reference_epochs=[last],
    )
    # wider than any page: a second (cell-count) agreement and long-named extra columns
    ref_csv = run / "change" / "reference_comparison.csv"
    ref = pd.read_csv(ref_csv)
    ref["agreement_cell_count"] = 0.5
    for i in range(4):
        ref[f"an_extra_very_long_column_name_without_any_spaces_{i}_km2"] = 123456789.123
    ref.to_csv(ref_csv, index=False)

    models = run / "models"
    models.mkdir()
    rows = []
    rng = np.random.default_rng(0)
    base = {
        "accuracy": 0.9,
        "f1": 0.88,
        "roc_auc": 0.95,
        "pr_auc": 0.93,
        "kappa": 0.78,
        "brier": 0.08,
    }
    for model, shift in (("random_forest", 0.0), ("logistic", -0.04)):
        for scheme, drop in (("random", 0.0), ("spatial", 0.08)):
            for repeat in range(2):
                for fold in range(3):
                    for metric, v in base.items():
                        sign = 1 if metric == "brier" else -1
                        val = v + shift * -sign + sign * drop + rng.normal(0, 0.01)
                        rows.append((model, scheme, repeat, fold, metric, float(val)))
    scores = pd.DataFrame(rows, columns=["model", "scheme", "repeat", "fold", "metric", "value"])
    scores.to_csv(models / "cv_scores.csv", index=False)
    best = scores[scores.model == "random_forest"]
    cv = {"model": "random_forest", "features": ["maat", "elevation", "snow_days"]}
    for scheme in ("random", "spatial"):
        sub = best[best.scheme == scheme].groupby("metric")["value"]
        cv[scheme] = {m: {"mean": float(sub.mean()[m]), "sd": float(sub.std()[m])} for m in base}
    single = scores[scores.model == "logistic"]
    cv["best_single_factor"] = {"model": "logistic", "factor": "maat"}
    for scheme in ("random", "spatial"):
        sub = single[single.scheme == scheme].groupby("metric")["value"]
        cv["best_single_factor"][scheme] = {
            m: {"mean": float(sub.mean()[m]), "sd": float(sub.std()[m])} for m in base
        }
    selection = {
        "importance": [
            {"feature": f, "permutation_mean": m, "permutation_sd": 0.01, "impurity": m / 2}
            for f, m in (
                ("maat", 0.21),
                ("elevation", 0.07),
                ("snow_days", 0.05),
                ("sand", 0.004),
                ("ndvi", 0.001),
            )
        ],
        "combinations": [
            {
                "features": ["maat"],
                "scheme": "spatial",
                "metric": "accuracy",
                "mean": 0.8,
                "sd": 0.02,
            },
            {
                "features": ["maat", "elevation", "snow_days"],
                "scheme": "spatial",
                "metric": "accuracy",
                "mean": 0.83,
                "sd": 0.02,
            },
        ],
        "chosen": ["maat", "elevation", "snow_days"],
    }
    (models / "selection.json").write_text(json.dumps(selection))
    card = {
        "model": "random_forest",
        "features": cv["features"],
        "training_hash": "sha256:0123abcd",
        "cv": {
            s: {
                m: {**v, "ci95": [v["mean"] - 0.123456, v["mean"] + 0.123456]}
                for m, v in cv[s].items()
            }
            for s in ("random", "spatial")
        },
        "versions": {"permamap": "0.1.0", "scikit-learn": "1.5.2", "python": "3.11.7"},
        "seed": 42,
        "calibration": {
            "method": "sigmoid",
            "table_p": [0.0, 0.5, 1.0],
            "table_calibrated": [0.0123456, 0.5, 0.987654],
            "criterion": "cross-fitted log-loss under spatial CV",
            "cross_fitted": {
                m: {"log_loss": 0.2345678 - k / 100, "brier": 0.0712345, "ece": 0.0312345}
                for k, m in enumerate(("none", "sigmoid", "isotonic"))
            },
            "reliability_before": RELIABILITY_BEFORE,
            "reliability_after": RELIABILITY_AFTER,
            "n_rows": 1508,
        },
        "error_profile": ERROR_PROFILE,
        **CARD_EXTRA,
    }
    (models / "model_card.json").write_text(json.dumps(card))

    sites = run / "sites"
    sites.mkdir()
    n = 60
    lon = rng.uniform(62, 98, n)
    lat = rng.uniform(56, 72, n)
    df = pd.DataFrame(
        {
            "site_id": [f"demo-borehole:{i}" for i in range(n)],
            "source": np.where(np.arange(n) % 3 == 0, "demo-station", "demo-borehole"),
            "lon": lon,
            "lat": lat,
            "epoch": 2000,
            "label": (lat > 63).astype(int),
        }
    )
    gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_parquet(
        sites / "sites.parquet"
    )
    pd.DataFrame(
        {
            "site_id": ["demo-borehole:x1", "demo-borehole:x2", "demo-station:x3"],
            "source": ["demo-borehole", "demo-borehole", "demo-station"],
            "source_id": ["x1", "x2", "x3"],
            "lon": [70.0, 0.0, 80.0],
            "lat": [60.0, 0.0, 61.0],
            "rule": ["duplicate", "outside_grid", "magt_unclear"],
            "action": ["merged", "dropped", "dropped"],
            # a long path without spaces: a table cell the page must wrap, not overflow
            "detail": ["", "lon/lat outside " + "/data/" + "x" * 300 + ".csv", "MAGT -0.1"],
        }
    ).to_csv(sites / "qc_report.csv", index=False)

    agreement = {str(e): 0.91 - 0.01 * i for i, e in enumerate(EPOCHS)}
    # area-weighted, as the reference comparison of the same epoch
    agreement[str(last)] = change["reference"]["by_epoch"][str(last)]["overall_agreement"]
    summary = {
        "tool": "permamap",
        "version": "0.1.0",
        "virtual_world": True,
        "grid": grid.to_dict(),
        "epochs": list(EPOCHS),
        **_intervals(change),
        "cv": cv,
        "truth_agreement": agreement,
        "sites": {
            "points_kept": 57,
            "points_dropped": 2,
            "site_epoch_rows": n,
            "rows_in_feature_table": n,
        },
        "change": change,
        "plausibility": PLAUSIBILITY,
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run") / "demo"
    return run, build_run(run)
