"""A scientist's own data, built in a temporary folder: an odd-grid raster, three custom factors, sites.

The grid is a survey raster's: pixel 0.009622504490074476°, 192 × 121 px, over the Central Siberian
Plateau (all land). The factors:

* ``tmean`` (continuous, °C): a west–east gradient, −10 °C at the west edge to 0 °C at the east;
* ``ndvi_{year}.tif`` (continuous, yearly 1995–2015, stored ×10,000 with nodata −9999): a
  north–south gradient that greens by 0.002 per year;
* ``soil`` (categorical, uint8): class 1 in the north, 2 in the middle, 3 in the south, with 0 the
  file's "no data" class in a 10 × 10 corner block.

Sites follow a known rule: permafrost where ``tmean < −5 °C``, or where ``tmean < −3 °C`` on soil
class 2 (peat keeps the ground cold).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

RES = 0.009622504490074476
WIDTH, HEIGHT = 192, 121
WEST, NORTH = 100.0, 66.0
YEARS = range(1995, 2016)
#: the same survey on a polar stereographic grid (EPSG:3995, 1 km pixels) near 100 °E, 66 °N
POLAR = {"crs": "EPSG:3995", "res": 1000.0, "west": 2_604_000.0, "north": 459_000.0}

MODELS = """
[models]
candidates = ["logistic_regression", "random_forest"]
n_repeats = 1
grid = "none"
size_variants = [25, 50]
importance_repeats = 1
forward_pool = 4
forward_max_features = 3
cost_rows = 2000
# the known rule is a sharp class boundary: on accuracy the fewest-features rule keeps tmean and
# soil, whose path through the model the tests follow (on the Brier score, longitude and ndvi)
metric = "accuracy"
"""

CONFIG = (
    """
[run]
out = "run"
epochs = [2000, 2010]
window_years = 3
seed = 3

[grid]
like = "survey.tif"
tile = [64, 64]

[covariates]
source = "none"

[covariates.factors.tmean]
path = "tmean.tif"
kind = "continuous"
units = "degC"
description = "mean annual air temperature from the survey"

[covariates.factors.ndvi]
path = "ndvi_{year}.tif"
kind = "continuous"
units = "1"
scale = 0.0001
nodata = -9999

[covariates.factors.soil]
path = "soil.tif"
kind = "categorical"
nodata = 0
description = "soil class (1 mineral, 2 peat, 3 sand)"

[[sites.inputs]]
type = "table"
path = "sites.csv"
kind = "borehole"
columns = { source_id = "name", label = "pf" }
"""
    + MODELS
)


def _write(
    path: Path, data: np.ndarray, nodata: float | None = None, geo: dict | None = None
) -> None:
    g = geo or {"crs": "EPSG:4326", "res": RES, "west": WEST, "north": NORTH}
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=WIDTH,
        height=HEIGHT,
        count=1,
        dtype=data.dtype,
        crs=g["crs"],
        transform=from_origin(g["west"], g["north"], g["res"], g["res"]),
        nodata=nodata,
    ) as ds:
        ds.write(data, 1)


def tmean(col: np.ndarray) -> np.ndarray:
    """The tmean field (°C) at column ``col`` (cell centres)."""
    return -10.0 + 10.0 * (col + 0.5) / WIDTH


def soil(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The soil class at ``row, col`` (0 = no data)."""
    cls = np.where(row < 40, 1, np.where(row < 80, 2, 3)).astype(np.uint8)
    return np.where((row < 10) & (col < 10), 0, cls).astype(np.uint8)


def truth(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The known rule: 1 = permafrost."""
    t, s = tmean(col), soil(row, col)
    return ((t < -5.0) | ((t < -3.0) & (s == 2))).astype(int)


def make_own_data(folder: Path, n_sites: int = 300, seed: int = 0, geo: dict | None = None) -> Path:
    """Write the rasters, the site table and ``own.toml`` into ``folder``; return the config.

    ``geo`` (e.g. :data:`POLAR`) puts the same survey on another CRS and pixel size; the sites
    are then the lon/lat of the projected cell centres.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    _write(folder / "survey.tif", (200.0 + rows + cols).astype(np.float32), geo=geo)
    _write(folder / "tmean.tif", tmean(cols).astype(np.float32), geo=geo)
    for year in YEARS:
        ndvi = 0.2 + 0.5 * rows / HEIGHT + 0.002 * (year - 2000)
        stored = np.round(ndvi * 10_000).astype(np.int16)
        stored[HEIGHT - 1, WIDTH - 1] = -9999
        _write(folder / f"ndvi_{year}.tif", stored, nodata=-9999, geo=geo)
    _write(folder / "soil.tif", soil(rows, cols), nodata=None, geo=geo)
    rng = np.random.default_rng(seed)
    r = rng.integers(10, HEIGHT, n_sites)
    c = rng.integers(10, WIDTH, n_sites)
    g = geo or {"crs": "EPSG:4326", "res": RES, "west": WEST, "north": NORTH}
    x = g["west"] + (c + 0.5) * g["res"]
    y = g["north"] - (r + 0.5) * g["res"]
    if g["crs"] != "EPSG:4326":
        x, y = Transformer.from_crs(g["crs"], "EPSG:4326", always_xy=True).transform(x, y)
    pd.DataFrame(
        {
            "name": [f"S{i:03d}" for i in range(n_sites)],
            "lon": x,
            "lat": y,
            "pf": truth(r, c),
        }
    ).to_csv(folder / "sites.csv", index=False)
    config = folder / "own.toml"
    config.write_text(CONFIG)
    return config
