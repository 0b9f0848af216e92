"""MAGT from synthetic ground-temperature series with known answers; station MAAT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from permamap.sites import (
    label_from_magt,
    magt_profile,
    select_magt,
    station_maat,
    stations_nonpermafrost,
)
from permamap.sites.labels import sites_from_series

DEPTHS = [0.5, 2.0, 5.0, 10.0, 15.0, 20.0]
T0, GRADIENT = -1.2, 0.03  # surface MAGT °C and geothermal gradient °C/m


def heat_wave(dates: pd.DatetimeIndex, depths=DEPTHS, amplitude=8.0, damping_m=2.5) -> pd.DataFrame:
    """Annual wave damped and delayed with depth: T = T0 + g·z + A·e^(−z/d)·sin(ωt − z/d)."""
    t = (dates - pd.Timestamp("2000-01-01")).days.to_numpy() / 365.25
    parts = []
    for z in depths:
        temp = (
            T0
            + GRADIENT * z
            + amplitude * np.exp(-z / damping_m) * np.sin(2 * np.pi * t - z / damping_m)
        )
        parts.append(pd.DataFrame({"date": dates, "depth_m": z, "temperature_c": temp}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return heat_wave(pd.date_range("2001-01-01", "2003-12-31"))


def test_magt_profile_recovers_the_mean_at_every_depth(daily):
    p = magt_profile(daily)
    assert p["depth_m"].tolist() == DEPTHS
    assert (p["method"] == "annual").all() and (p["n_years"] == 3).all()
    np.testing.assert_allclose(p["magt_c"], T0 + GRADIENT * np.array(DEPTHS), atol=0.002)
    # range of monthly means = 2·A·e^(−z/d)·sinc(1/12) for a pure sinusoid
    expected_range = 2 * 8.0 * np.exp(-np.array(DEPTHS) / 2.5) * np.sinc(1 / 12)
    np.testing.assert_allclose(p["range_c"], expected_range, rtol=0.03, atol=0.005)


def test_magt_taken_at_the_depth_of_zero_annual_amplitude(daily):
    # range at 10 m ≈ 0.29 °C, at 15 m ≈ 0.04 °C <= 0.1 °C: the ZAA depth is 15 m
    r = select_magt(magt_profile(daily))
    assert r.depth_m == 15.0 and r.method == "annual/zaa" and r.year == 2002
    assert r.magt_c == pytest.approx(T0 + GRADIENT * 15, abs=0.01)


def test_magt_at_a_configured_depth_and_without_zaa(daily):
    assert select_magt(magt_profile(daily), depth_m=4.6).depth_m == 5.0
    assert np.isnan(select_magt(magt_profile(daily), depth_m=30.0).magt_c)
    shallow = daily[daily["depth_m"] <= 5.0]
    r = select_magt(magt_profile(shallow))
    assert r.depth_m == 5.0 and r.method == "annual/deepest"


def test_monthly_series_give_the_same_magt(daily):
    monthly = (
        daily.assign(year=daily["date"].dt.year, month=daily["date"].dt.month)
        .groupby(["depth_m", "year", "month"], as_index=False)["temperature_c"]
        .mean()
    )
    a = magt_profile(daily)["magt_c"].to_numpy()
    b = magt_profile(monthly)["magt_c"].to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_gappy_months_and_years_are_not_counted(daily):
    # remove 15 days of July 2002 at every depth: 2002 is no longer complete
    gap = (daily["date"] >= "2002-07-01") & (daily["date"] < "2002-07-16")
    p = magt_profile(daily[~gap])
    assert (p["n_years"] == 2).all()
    assert (p["first_year"] == 2001).all() and (p["last_year"] == 2003).all()


def test_harmonic_fallback_for_a_record_shorter_than_a_year():
    # 8 months of a pure sinusoid (no complete calendar year): the mean is still recovered
    dates = pd.date_range("2001-03-01", "2001-10-31")
    p = magt_profile(heat_wave(dates, depths=[1.0]))
    assert p["method"].tolist() == ["harmonic"]
    assert p["magt_c"].iloc[0] == pytest.approx(T0 + GRADIENT, abs=0.15)
    too_short = magt_profile(heat_wave(pd.date_range("2001-03-01", "2001-07-31"), depths=[1.0]))
    assert too_short["method"].tolist() == ["insufficient"] and too_short["magt_c"].isna().all()


def test_years_window_limits_the_data(daily):
    p = magt_profile(daily, years=(2003, 2007))
    assert (p["n_years"] == 1).all() and (p["first_year"] == 2003).all()


def test_label_from_magt_threshold():
    assert label_from_magt(np.array([-0.1, 0.0, 0.1, np.nan])).tolist() == [1, 1, 0, pd.NA]
    assert label_from_magt(pd.Series([-0.3, -0.1]), threshold_c=-0.2).tolist() == [1, 0]


def test_sites_from_series_one_row_per_borehole_and_epoch(daily):
    series = pd.concat([daily.assign(source_id="A"), daily.iloc[:10].assign(source_id="B")])
    boreholes = pd.DataFrame({"source_id": ["A", "B"], "lon": [100.0, 101.0], "lat": [60.0, 61.0]})
    whole = sites_from_series(series, boreholes, source="x")
    assert whole["site_id"].tolist() == ["x:A", "x:B"]
    assert whole["label"].tolist() == [1, pd.NA]  # B has 10 days only: unclear, kept for QC
    assert whole["magt_depth_m"].iloc[0] == 15.0 and whole["year"].iloc[0] == 2002
    per_epoch = sites_from_series(series, boreholes, source="x", epochs=[2000, 2005, 2015])
    assert per_epoch["site_id"].tolist() == ["x:A", "x:A", "x:B"]
    assert per_epoch["year"].tolist() == [2000, 2005, pd.NA]  # B: no epoch has data


def _station_months(station: str, years: range, value: float) -> pd.DataFrame:
    n = len(years) * 12
    return pd.DataFrame(
        {
            "station_id": station,
            "year": np.repeat(list(years), 12),
            "month": np.tile(np.arange(1, 13), len(years)),
            "value_c": np.full(n, value),
            "qcflag": "",
        }
    )


def test_station_maat_window_completeness_and_qc_flags():
    m = _station_months("S", range(1990, 2011), 3.0)
    m.loc[(m["year"] >= 2001) & (m["year"] <= 2010), "value_c"] = 5.0
    m.loc[(m["year"] == 1996) & (m["month"] == 2), "value_c"] = np.nan  # 1996 incomplete
    m.loc[(m["year"] == 1997) & (m["month"] == 3), "qcflag"] = "O"  # 1997 fails QC
    got = station_maat(m, [2000, 2005], window=9, min_years=5)
    # epoch 2000 -> years 1996..2004: 1998, 1999, 2000 at 3 °C and 2001..2004 at 5 °C
    assert got["epoch"].tolist() == [2000, 2005]
    assert got["n_years"].tolist() == [7, 9]
    assert got["maat_c"].iloc[0] == pytest.approx((3 * 3 + 4 * 5) / 7)
    assert got["maat_c"].iloc[1] == pytest.approx(5.0)  # 2001..2009
    keep_flagged = station_maat(m, [2000], drop_qc_flagged=False)
    assert keep_flagged["n_years"].tolist() == [8]
    assert station_maat(m, [2000], min_years=8).empty


def test_stations_nonpermafrost_keeps_the_inclusive_range():
    monthly = pd.concat(
        [
            _station_months(s, range(1996, 2005), v)
            for s, v in [("LOW", 2.0), ("HIGH", 10.0), ("COLD", 1.99), ("HOT", 10.01)]
        ]
    )
    inv = pd.DataFrame(
        {
            "station_id": ["LOW", "HIGH", "COLD", "HOT"],
            "lat": [50.0, 45.0, 60.0, 40.0],
            "lon": [80.0, 90.0, 100.0, 110.0],
            "name": ["a", "b", "c", "d"],
        }
    )
    rows = stations_nonpermafrost(inv, monthly, [2000])
    assert rows["site_id"].tolist() == ["ghcn:HIGH", "ghcn:LOW"]
    assert set(rows["kind"]) == {"station"} and rows["label"].tolist() == [0, 0]
    assert rows["maat"].tolist() == [10.0, 2.0] and rows["year"].tolist() == [2000, 2000]
    assert rows["lon"].tolist() == [90.0, 80.0]
