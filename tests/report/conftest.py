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
    lat = grid.lat_centers()[:, None] * np.ones(grid.shape)
    lon = grid.lon_centers()[None, :] * np.ones(grid.shape)
    prob = np.clip((lat - 62 + 0.1 * (lon - 80) - warming) * 12 + 50, 0, 100)
    land = _land(grid)
    cls = np.where(land, prob >= 50, 255).astype(np.uint8)
    prob = np.where(land, np.rint(prob), 255).astype(np.uint8)
    aoa = np.where(land, lon < 95, 255).astype(np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=3,
        height=grid.height,
        width=grid.width,
        crs=grid.crs,
        transform=grid.transform,
        nodata=255,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    ) as dst:
        dst.write(np.stack([cls, prob, aoa]))
        for i, name in enumerate(("class", "probability", "aoa"), start=1):
            dst.set_band_description(i, name)
        dst.update_tags(epoch=str(epoch), model="random_forest", permamap_version="test")
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
            "reliability_before": [
                {
                    "bin_low": 0.0,
                    "bin_high": 0.1,
                    "n": 755,
                    "mean_p": 0.0078917,
                    "observed": 0.00264,
                }
            ],
        },
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
        "area_km2": change["area_km2"],
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
