"""Tiny synthetic stacks with a known rule (cold and high = permafrost) on small 4326 grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from permamap.fileio import open_tiled
from permamap.grid import Grid

FEATURES = ["maat", "elevation", "snow_days"]


def factors(grid: Grid, seed: int = 0) -> np.ndarray:
    """``(3, rows, cols)`` float32 factors; an ocean corner and scattered gaps are NaN."""
    rng = np.random.default_rng(seed)
    rows, cols = grid.shape
    lat = grid.lat_centers()[:, None] * np.ones((1, cols))
    lon = grid.lon_centers()[None, :] * np.ones((rows, 1))
    maat = (20.0 - 0.5 * lat + rng.normal(0, 1.0, (rows, cols))).astype(np.float32)
    elev = (1000 + 30 * (lon - lon.min()) + rng.normal(0, 50, (rows, cols))).astype(np.float32)
    snow = rng.uniform(50, 250, (rows, cols)).astype(np.float32)
    block = np.stack([maat, elev, snow])
    block[:, : rows // 3, : cols // 3] = np.nan  # "ocean": whole tiles with nothing to predict
    gaps = rng.random((rows, cols)) < 0.05
    block[1][gaps] = np.nan  # one factor missing → nodata in every band
    return block


def write_stack(path: Path, grid: Grid, block: np.ndarray, names: list[str] = FEATURES) -> Path:
    with open_tiled(path, grid, len(names), "float32", float("nan"), names, block=16) as ds:
        ds.write(block)
    return path


@pytest.fixture(scope="session")
def grid() -> Grid:
    """36 × 50 cells of 0.5° over 50–68 °N, 100–125 °E (tile shapes cut it unevenly)."""
    return Grid.from_bounds((100, 50, 125, 68), res=0.5)


@pytest.fixture(scope="session")
def block(grid: Grid) -> np.ndarray:
    return factors(grid)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, grid: Grid, block: np.ndarray) -> Path:
    return write_stack(tmp_path_factory.mktemp("stack") / "stack_2000.tif", grid, block)


@pytest.fixture(scope="session")
def training() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = np.column_stack(
        [rng.uniform(-12, 8, 400), rng.uniform(500, 2500, 400), rng.uniform(50, 250, 400)]
    )
    y = ((X[:, 0] - 0.002 * (X[:, 1] - 1000) + rng.normal(0, 1.5, 400)) < -1).astype(int)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def forest(training: tuple[np.ndarray, np.ndarray]) -> RandomForestClassifier:
    X, y = training
    return RandomForestClassifier(n_estimators=25, min_samples_leaf=2, random_state=0).fit(X, y)
