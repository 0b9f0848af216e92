"""`permamap run` with real-layout files: a WorldClim 1970-2000 climatology as the baseline, sites
that follow a known MAAT rule, and WorldClim CMIP6 futures of two GCMs used by the delta method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from permamap.cli import main
from permamap.covariates import factors as fx
from permamap.covariates.sources.worldclim_cmip6 import cmip6_name
from tests.covariates.conftest import write_tif

RES = 1 / 6  # WorldClim 10′
WEST, NORTH, COLS, ROWS = 99.0, 63.0, 36, 24  # the files: 99-105 °E, 59-63 °N
MONTH = np.arange(1, 13).reshape(12, 1, 1)
WARMING = {"ACCESS-CM2": 1.0, "MIROC6": 3.0}  # each GCM's future minus its 1970-2000, K
THRESHOLD_DEGC = -5.0  # sites: permafrost where MAAT < -5 °C


def _tavg() -> np.ndarray:
    """Monthly mean temperature, (12, rows, cols): -12 °C in the west to +5.5 °C in the east."""
    annual = -12.0 + 0.5 * np.arange(COLS)[None, None, :]
    return np.broadcast_to(annual + 15.0 * np.cos(2 * np.pi * (MONTH - 7) / 12), (12, ROWS, COLS))


def _maat_at(lon: np.ndarray, warming: float = 0.0) -> np.ndarray:
    col = np.clip(((lon - WEST) / RES).astype(int), 0, COLS - 1)
    return fx.maat_degc(_tavg()[:, 0, :] + warming)[col]


def _write_inputs(root: Path) -> Path:
    transform = from_origin(WEST, NORTH, RES, RES)
    tavg = _tavg().astype("float32")
    prec = np.full((ROWS, COLS), 30.0, "float32")
    for m in range(12):
        write_tif(root / "wc" / f"wc2.1_10m_tavg_{m + 1:02d}.tif", tavg[m], transform)
        write_tif(root / "wc" / f"wc2.1_10m_prec_{m + 1:02d}.tif", prec, transform)
    for gcm, dt in WARMING.items():
        values = {"tmin": tavg - 4.0 + dt, "tmax": tavg + 4.0 + dt, "prec": np.stack([prec] * 12)}
        for var, data in values.items():
            name = cmip6_name(var, gcm, "ssp585", "2081-2100", "10m")
            write_tif(root / "cmip6" / name, data.astype("float32"), transform)
    rng = np.random.default_rng(5)
    lon = rng.uniform(100.05, 103.95, 400)
    lat = rng.uniform(60.05, 61.95, 400)
    pf = (_maat_at(lon) < THRESHOLD_DEGC).astype(int)
    pd.DataFrame({"name": [f"B{i}" for i in range(400)], "lon": lon, "lat": lat, "pf": pf}).to_csv(
        root / "sites.csv", index=False
    )
    config = root / "run.toml"
    config.write_text(
        """
[run]
out = "run"
epochs = [2000]
window_years = 9
seed = 1

[grid]
bounds = [100, 60, 104, 62]
res_arcsec = 600
tile = [8, 8]

[covariates]
source = "real"
use = ["maat", "fdd", "tdd", "latitude"]

[covariates.real.climate]
type = "worldclim-climatology"
folders = ["wc"]
res = "10m"

[[sites.inputs]]
type = "table"
path = "sites.csv"
kind = "borehole"
columns = { source_id = "name", label = "pf" }

[models]
candidates = ["logistic_regression"]
n_repeats = 1
grid = "none"
importance_repeats = 1
forward_pool = 2
forward_max_features = 2
bootstrap_members = 0

[projections]
scenarios = ["ssp585"]
periods = ["2081-2100"]
gcms = ["ACCESS-CM2", "MIROC6"]
baseline_epoch = 2000
method = "delta"

[projections.source]
type = "worldclim-cmip6"
folder = "cmip6"
res = "10m"

[projections.source.historical]
type = "worldclim-climatology"
folder = "wc"
"""
    )
    return config


def test_a_real_data_run_projects_each_gcm_by_the_delta_method(tmp_path: Path) -> None:
    config = _write_inputs(tmp_path)
    result = CliRunner().invoke(main, ["-q", "run", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    entry = summary["projections"]["ssp585"]["2081-2100"]
    assert summary["projection_settings"]["method"] == "delta"
    assert "true_extent_km2" not in entry and summary["virtual_world"] is False
    with rasterio.open(run / "maps/future/permafrost_ssp585_2081-2100.tif") as ds:
        lon = np.array([ds.xy(0, c)[0] for c in range(ds.width)])
        cls = ds.read(1)
    with rasterio.open(run / "maps/future/gcms/gcms_ssp585_2081-2100.tif") as ds:
        bits = ds.read(1)
    with rasterio.open(run / "maps/permafrost_2000.tif") as ds:
        base = ds.read(1)
    # each GCM's class follows the rule on the baseline + its own warming (delta method: the
    # future climatology minus the GCM's 1970-2000, added to the baseline); the boundary column
    # may go either way
    for k, dt in enumerate(WARMING.values()):
        want = _maat_at(lon, dt) < THRESHOLD_DEGC
        got = ((bits >> k) & 1).astype(bool)
        assert (got == want[None, :]).mean() >= 0.9, (k, got[0], want)
    ext = entry["gcm_extent_km2"]
    assert ext["MIROC6"] < ext["ACCESS-CM2"] < summary["area_km2"]["2000"]["permafrost_extent_km2"]
    assert entry["gcm_range_km2"] == [ext["MIROC6"], ext["ACCESS-CM2"]]
    assert (cls <= base).all()  # warming only: no cell gains permafrost
    assert entry["gained_km2"] == 0.0 and entry["lost_km2"] > 0
    table = pd.read_csv(run / "change/future/transitions_2000_ssp585_2081-2100.csv")
    lost = table[(table["from_class"] == "permafrost") & (table["to_class"] == "non-permafrost")]
    assert float(lost["area_km2"].iloc[0]) == entry["lost_km2"]
