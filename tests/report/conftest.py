"""A tiny but complete run folder (docs/contracts.md layout) with synthetic, known content."""

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


def build_run(run: Path) -> dict:
    """Write maps, change/, models/, sites/ and summary.json into ``run``; return the summary."""
    grid = Grid.from_bounds((60, 55, 100, 75), res=0.5)
    (run / "maps").mkdir(parents=True)
    maps = {
        e: _write_map(run / "maps" / f"permafrost_{e}.tif", grid, e, 0.8 * i)
        for i, e in enumerate(EPOCHS)
    }
    change = run_change(maps, grid, run, tile_shape=(16, 32))

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
        "params": {"n_estimators": 200, "max_depth": None},
        "training_hash": "sha256:0123abcd",
        "cv": {
            s: {m: {**v, "ci95": [v["mean"] - 0.02, v["mean"] + 0.02]} for m, v in cv[s].items()}
            for s in ("random", "spatial")
        },
        "versions": {"permamap": "0.1.0", "scikit-learn": "1.5"},
        "seed": 42,
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
            "detail": ["", "lon/lat outside", "MAGT -0.1"],
        }
    ).to_csv(sites / "qc_report.csv", index=False)

    summary = {
        "tool": "permamap",
        "version": "0.1.0",
        "grid": grid.to_dict(),
        "epochs": list(EPOCHS),
        "area_km2": change["area_km2"],
        "cv": cv,
        "truth_agreement": {str(e): 0.91 - 0.01 * i for i, e in enumerate(EPOCHS)},
        "sites": {"kept": n, "dropped": 2},
        "change": change,
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("run") / "demo"
    return run, build_run(run)
