"""Real coarse data from ../shared/data/real-coarse (skipped when the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from permamap.grid import Grid
from permamap.sites import build_sites, read_gtnp, read_table

REAL = Path(__file__).resolve().parents[2].parent / "shared/data/real-coarse"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real coarse data not found at {REAL}"),
]


def test_permos_boreholes_get_magt_and_labels_from_daily_series():
    sites = read_gtnp(REAL / "tsp-gtnp-samples/gtnp2026-multi.csv").set_index("source_id")
    assert sorted(sites.index) == ["COR_0315", "FLU_0102", "MUR_0499"]
    assert sites["label"].tolist() == [1, 1, 1]  # all three are PERMOS permafrost boreholes
    # Complete years only: COR_0315 2016-2017 at 0.75 m, FLU_0102 2003-2010 at 0.25 m;
    # MUR_0499 has Dec-Jun at the surface only, so an annual harmonic is fitted.
    assert sites.loc["COR_0315", "magt"] == pytest.approx(-0.396, abs=0.005)
    assert sites.loc["FLU_0102", "magt"] == pytest.approx(-0.657, abs=0.005)
    assert sites.loc["MUR_0499", "magt"] == pytest.approx(-1.10, abs=0.05)
    assert sites["magt_depth_m"].tolist() == [0.75, 0.25, 0.0]
    assert sites["magt_method"].tolist() == ["annual/deepest", "annual/deepest", "harmonic/deepest"]
    assert sites.loc["FLU_0102", ["lon", "lat"]].tolist() == [9.943555, 46.748868]
    # independent check: plain mean of FLU_0102's daily values over its 8 complete years
    raw = pd.read_csv(REAL / "tsp-gtnp-samples/gtnp2026-multi.csv", parse_dates=["date"])
    flu = raw[(raw["borehole_id"] == 872) & raw["date"].dt.year.between(2003, 2010)]
    assert sites.loc["FLU_0102", "magt"] == pytest.approx(flu["temperature"].mean(), abs=0.05)


def _ncep_maat():
    xr = pytest.importorskip("xarray")
    from scipy.interpolate import RegularGridInterpolator

    with xr.open_dataset(REAL / "ncep-air-ltm/air.mon.ltm.nc", decode_times=False) as ds:
        air = ds["air"].mean("time").load()
    lat = air["lat"].to_numpy()[::-1]
    interp = RegularGridInterpolator(
        (lat, air["lon"].to_numpy()), air.to_numpy()[::-1], bounds_error=False
    )

    def maat(lon: np.ndarray, lat: np.ndarray, epoch: int) -> np.ndarray:
        return interp(np.column_stack([lat, np.mod(lon, 360.0)]))

    return maat


def test_baganuur_wrong_latitude_is_flagged_by_the_climate_check():
    raw = read_table(
        REAL / "gtnp-pages-seed/gtnp_pages_seed.csv",
        {"source_id": "name", "magt": "magt_c", "label": "label_pf"},
        kind="borehole",
    )
    grid = Grid.from_bounds((25, 25, 180, 84), res=1 / 12)  # the demo grid: Tsengel M10/M10a apart
    sites, report = build_sites(raw, grid, [2000, 2010], maat=_ncep_maat())
    dropped = report.groupby("source_id")["rule"].agg(set)
    baganuur = "Baganuur M1a depression (plain)"
    assert dropped[baganuur] == {"climate_contradiction"}
    detail = report.loc[report["source_id"] == baganuur, "detail"].iloc[0]
    assert "label 1 but MAAT 6." in detail  # NCEP MAAT at 41.69 N, 108.29 E is about +6 °C
    assert dropped["Hatgal house b (CALM M11 B)"] == {"unclear_label"}
    assert len(dropped) == 2
    assert sites["source_id"].nunique() == 7  # the other sites are kept in both epochs
    assert len(sites) == 14
    # without a MAAT layer the wrong latitude goes unnoticed
    sites_no_maat, _ = build_sites(raw, grid, [2000])
    assert baganuur in set(sites_no_maat["source_id"])


def test_antarctic_borehole_is_outside_the_eurasian_grid():
    raw = read_gtnp(REAL / "tsp-gtnp-samples/gtnp2026.csv")
    assert raw["label"].tolist() == [1]
    sites, report = build_sites(raw, Grid.from_bounds((25, 25, 180, 84), res=1), [2010])
    assert sites.empty and report["rule"].tolist() == ["outside_grid"]
