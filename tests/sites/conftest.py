"""Site-stage fixtures: a coarse Eurasian grid, a synthetic land mask and MAAT field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from permamap.grid import Grid


@pytest.fixture(scope="session")
def grid() -> Grid:
    """Default extent at 1° (59 × 155 cells)."""
    return Grid.from_bounds((25, 25, 180, 84), res=1)


def synthetic_is_land(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Sea north of 78 °N, east of 140 °E south of 45 °N, and an inland sea 35–55 °E × 38–47 °N."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    sea = (
        (lat > 78)
        | ((lon > 140) & (lat < 45))
        | ((lon > 35) & (lon < 55) & (lat > 38) & (lat < 47))
    )
    return ~sea


def synthetic_maat(lon: np.ndarray, lat: np.ndarray, epoch: int) -> np.ndarray:
    """MAAT = 25 − 0.5·lat °C, 0.1 °C warmer per 5 years after 2000 (lat 44 → +3 °C, 66 → −8 °C)."""
    return 25.0 - 0.5 * np.asarray(lat, dtype=float) + 0.02 * (epoch - 2000) + 0 * np.asarray(lon)


@pytest.fixture(scope="session")
def is_land():
    return synthetic_is_land


@pytest.fixture(scope="session")
def maat():
    return synthetic_maat


@pytest.fixture(scope="session")
def make_raw():
    return raw_rows


def raw_rows(rows: list[dict]) -> pd.DataFrame:
    """Raw site table from short dicts (defaults for the optional columns)."""
    out = []
    for i, r in enumerate(rows):
        base = {
            "site_id": f"t:{i}",
            "source": "t",
            "source_id": str(i),
            "kind": "borehole",
            "year": pd.NA,
            "label": pd.NA,
            "magt": np.nan,
            "magt_depth_m": np.nan,
            "maat": np.nan,
        }
        base.update(r)
        out.append(base)
    df = pd.DataFrame(out)
    df["year"] = df["year"].astype("Int64")
    df["label"] = df["label"].astype("Int64")
    return df


@pytest.fixture
def planted() -> pd.DataFrame:
    """One raw table with every defect planted once next to good sites; ``expect`` is the answer."""
    rows = [
        # good sites: kept as they are
        {"site_id": "g:1", "lon": 100.3, "lat": 62.4, "label": 1, "expect": "kept"},
        {"site_id": "g:2", "lon": 70.5, "lat": 55.5, "label": 0, "expect": "kept"},
        {"site_id": "g:3", "lon": 120.5, "lat": 50.5, "magt": -0.4, "expect": "kept"},
        {"site_id": "g:4", "lon": 90.5, "lat": 50.5, "label": 0, "year": 2006, "expect": "kept"},
        # defects
        {
            "site_id": "d:lat95",
            "lon": 140.0,
            "lat": 95.0,
            "label": 1,
            "expect": "invalid_coordinates",
        },
        {
            "site_id": "d:lon200",
            "lon": 200.0,
            "lat": 60.0,
            "label": 1,
            "expect": "invalid_coordinates",
        },
        {
            "site_id": "d:nan",
            "lon": np.nan,
            "lat": 60.0,
            "label": 1,
            "expect": "invalid_coordinates",
        },
        {
            "site_id": "d:swap",
            "lon": 65.2,
            "lat": 110.7,
            "label": 1,
            "expect": "swapped_coordinates",
        },
        {
            "site_id": "d:swapsea",
            "lon": 60.3,
            "lat": 80.5,
            "label": 0,
            "expect": "swapped_coordinates",
        },
        {"site_id": "d:sea", "lon": 150.5, "lat": 40.5, "label": 0, "expect": "in_sea"},
        {"site_id": "d:out", "lon": 10.0, "lat": 20.0, "label": 0, "expect": "outside_grid"},
        {
            "site_id": "d:warm",
            "lon": 80.5,
            "lat": 40.5,
            "label": 1,
            "expect": "climate_contradiction",
        },
        {
            "site_id": "d:cold",
            "lon": 130.5,
            "lat": 70.5,
            "label": 0,
            "expect": "climate_contradiction",
        },
        {"site_id": "d:unclear", "lon": 110.5, "lat": 60.5, "expect": "unclear_label"},
        {
            "site_id": "d:late",
            "lon": 105.5,
            "lat": 60.5,
            "label": 1,
            "year": 2040,
            "expect": "no_epoch",
        },
        {"site_id": "d:c1", "lon": 95.2, "lat": 65.2, "label": 1, "expect": "duplicate_conflict"},
        {"site_id": "d:c2", "lon": 95.8, "lat": 65.8, "label": 0, "expect": "duplicate_conflict"},
        {"site_id": "m:a", "lon": 85.2, "lat": 60.2, "label": 1, "expect": "kept"},
        {"site_id": "m:b", "lon": 85.7, "lat": 60.7, "magt": -1.0, "expect": "duplicate_merged"},
    ]
    df = raw_rows(rows)
    df["source"] = df["site_id"].str.split(":").str[0]
    df["source_id"] = df["site_id"].str.split(":").str[1]
    return df
