"""Fixtures for the model-stage tests: tiny synthetic tables with a known rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_table(n_sites: int = 160, n_features: int = 5, seed: int = 0) -> pd.DataFrame:
    """Clustered sites; label 1 where factor f0 (a cold index) plus noise is below 0."""
    rng = np.random.default_rng(seed)
    centres = np.array([[40.0, 65.0], [90.0, 35.0], [120.0, 62.0], [100.0, 48.0]])
    which = rng.integers(0, len(centres), n_sites)
    lonlat = centres[which] + rng.normal(0, 1.0, (n_sites, 2))
    f0 = rng.normal(0, 1, n_sites)
    cols = {"f0": f0}
    for j in range(1, n_features):
        cols[f"f{j}"] = (
            0.3 * f0 + rng.normal(0, 1, n_sites) if j == 1 else rng.normal(0, 1, n_sites)
        )
    label = (f0 + rng.normal(0, 0.3, n_sites) < 0).astype(int)
    table = pd.DataFrame(
        {
            "site_id": [f"t:{i}" for i in range(n_sites)],
            "source": "test",
            "epoch": 2000,
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "label": label,
        }
    )
    return pd.concat([table, pd.DataFrame(cols)], axis=1)


@pytest.fixture
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture
def pred_points() -> np.ndarray:
    """Prediction points spread over the whole domain, far from most sites."""
    rng = np.random.default_rng(5)
    return np.column_stack([rng.uniform(25, 180, 400), rng.uniform(25, 84, 400)])
