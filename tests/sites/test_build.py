"""build_sites on a planted world: every defect is caught with its rule, no good site is lost."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from permamap.errors import ConfigError, DataError
from permamap.sites import (
    QC_REPORT_COLUMNS,
    SITE_COLUMNS,
    QCSettings,
    build_sites,
    summarize,
    write_sites,
)

EPOCHS = [2000, 2005, 2010]


@pytest.fixture
def built(planted, grid, is_land, maat):
    raw = planted.drop(columns="expect")
    return build_sites(raw, grid, EPOCHS, is_land=is_land, maat=maat)


def test_every_planted_defect_is_caught_with_its_rule(planted, built):
    sites, report = built
    for site_id, expect in planted[["site_id", "expect"]].itertuples(index=False):
        rules = set(report.loc[report["site_id"] == site_id, "rule"])
        if expect == "kept":
            assert rules <= {"duplicate_merged"} and site_id in set(sites["site_id"]), site_id
        elif expect == "swapped_coordinates":
            assert rules == {expect} and site_id in set(sites["site_id"]), site_id
        else:
            assert rules == {expect}, (site_id, rules)
            assert site_id not in set(sites["site_id"]), site_id


def test_no_good_site_is_dropped_and_epochs_are_assigned(built):
    sites, _ = built
    got = sorted(map(tuple, sites[["site_id", "epoch"]].to_numpy().tolist()))
    static = ["g:1", "g:2", "g:3", "d:swap", "d:swapsea", "m:a"]
    expected = sorted([(s, e) for s in static for e in EPOCHS] + [("g:4", 2005)])
    assert got == expected
    assert list(sites.columns[: len(SITE_COLUMNS)]) == list(SITE_COLUMNS)
    assert sites["label"].dtype == "Int64" and sites["epoch"].dtype == np.int64


def test_swapped_point_is_swapped_back_and_recorded(built):
    sites, report = built
    row = sites[sites["site_id"] == "d:swap"].iloc[0]
    assert (row["lon"], row["lat"]) == (110.7, 65.2)
    assert row["qc_flags"] == "swapped_coordinates"
    entry = report[report["site_id"] == "d:swap"].iloc[0]
    assert entry["action"] == "changed"
    assert (entry["lon"], entry["lat"]) == (65.2, 110.7)  # the report keeps the values as given
    assert "(65.2, 110.7) -> (110.7, 65.2)" in entry["detail"]
    assert "out of the WGS84 range" in entry["detail"]
    sea = report[report["site_id"] == "d:swapsea"].iloc[0]
    assert "in the sea" in sea["detail"]


def test_label_derived_from_magt_and_duplicates_merged(built):
    sites, report = built
    g3 = sites[sites["site_id"] == "g:3"]
    assert g3["label"].tolist() == [1, 1, 1] and set(g3["label_from"]) == {"magt"}
    ma = sites[sites["site_id"] == "m:a"]
    assert set(ma["merged_from"]) == {"m:b"} and set(ma["qc_flags"]) == {"duplicate_merged"}
    merged = report[report["rule"] == "duplicate_merged"]
    assert set(merged["site_id"]) == {"m:b"} and set(merged["action"]) == {"merged"}
    assert len(merged) == len(EPOCHS)
    conflict = report[report["rule"] == "duplicate_conflict"]
    assert len(conflict) == 2 * len(EPOCHS)
    assert "d:c1=1, d:c2=0" in conflict["detail"].iloc[0]


def test_report_names_values_and_thresholds(built):
    _, report = built
    assert list(report.columns) == list(QC_REPORT_COLUMNS)
    assert set(report["action"]) == {"dropped", "changed", "merged"}
    warm = report[report["site_id"] == "d:warm"]
    assert (
        warm["detail"].tolist()[0]
        == "epoch 2000: label 1 but MAAT 4.75 °C ≥ 3 °C (permafrost_max_maat_c)"
    )
    cold = report[report["site_id"] == "d:cold"]["detail"].iloc[0]
    assert "MAAT -10.25 °C ≤ -8 °C" in cold
    late = report[report["site_id"] == "d:late"]["detail"].iloc[0]
    assert "year 2040" in late and "[2000, 2005, 2010]" in late
    bad = report[report["site_id"] == "d:lon200"]["detail"].iloc[0]
    assert "lon 200" in bad


def test_checks_can_be_switched_off(planted, grid, is_land, maat):
    raw = planted.drop(columns="expect")
    off = QCSettings(climate=False, duplicates=False, sea=False, swapped=False)
    sites, report = build_sites(raw, grid, EPOCHS, is_land=is_land, maat=maat, settings=off)
    kept = set(sites["site_id"])
    assert {"d:warm", "d:cold", "d:c1", "d:c2", "m:b", "d:sea", "d:swapsea"} <= kept
    assert report.loc[report["site_id"] == "d:swap", "rule"].tolist() == ["invalid_coordinates"]
    assert set(report["rule"]) == {
        "invalid_coordinates",
        "outside_grid",
        "unclear_label",
        "no_epoch",
    }


def test_without_land_mask_or_maat_layer_uses_what_is_there(make_raw, grid):
    raw = make_raw(
        [
            {"lon": 150.5, "lat": 40.5, "label": 0},  # sea in the synthetic mask, but no mask given
            {
                "lon": 100.5,
                "lat": 50.5,
                "label": 1,
                "maat": 5.0,
                "year": 2001,
            },  # station-style MAAT
            {"lon": 101.5, "lat": 50.5, "label": 1, "maat": 2.0, "year": 2001},
        ]
    )
    sites, report = build_sites(raw, grid, [2000])
    assert sites["site_id"].tolist() == ["t:0", "t:2"]
    assert report["rule"].tolist() == ["climate_contradiction"]


def test_input_table_is_not_modified(planted, grid, is_land, maat):
    raw = planted.drop(columns="expect")
    before = raw.copy()
    build_sites(raw, grid, EPOCHS, is_land=is_land, maat=maat)
    pd.testing.assert_frame_equal(raw, before)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns="lat"), r"lacks column\(s\) \['lat'\]"),
        (
            lambda df: df.assign(label=pd.array([2] + [1] * (len(df) - 1), dtype="Int64")),
            "label 2 is not",
        ),
        (lambda df: df.assign(kind="well"), "kind 'well' is not one of"),
        (lambda df: df.assign(lon=["x"] * len(df)), "column 'lon' value 'x' is not a number"),
        (lambda df: df.assign(site_id="same"), "site_id 'same' with year <NA> appears"),
    ],
)
def test_bad_raw_tables_raise_data_errors(planted, grid, change, message):
    with pytest.raises(DataError, match=message):
        build_sites(change(planted.drop(columns="expect")), grid, EPOCHS)


def test_bad_layers_and_epochs_raise_config_errors(planted, grid):
    raw = planted.drop(columns="expect")
    with pytest.raises(ConfigError, match="no epochs"):
        build_sites(raw, grid, [])
    with pytest.raises(ConfigError, match="MAAT layer returned shape"):
        build_sites(raw, grid, EPOCHS, maat=lambda lon, lat, e: np.zeros(1))


def test_write_sites_writes_geoparquet_and_report(built, tmp_path):
    sites, report = built
    out = tmp_path / "sites"
    paths = write_sites(sites, report, out / "sites.parquet", out / "qc_report.csv")
    assert paths == {
        "sites": tmp_path / "sites/sites.parquet",
        "qc_report": tmp_path / "sites/qc_report.csv",
    }
    assert sorted(p.name for p in (tmp_path / "sites").iterdir()) == [
        "qc_report.csv",
        "sites.parquet",
    ]
    back = gpd.read_parquet(paths["sites"])
    assert back.crs.to_epsg() == 4326 and len(back) == len(sites)
    np.testing.assert_array_equal(back.geometry.x, sites["lon"])
    np.testing.assert_array_equal(back.geometry.y, sites["lat"])
    assert back["label"].tolist() == sites["label"].tolist()
    csv = pd.read_csv(paths["qc_report"])
    assert list(csv.columns) == list(QC_REPORT_COLUMNS) and len(csv) == len(report)


def test_write_sites_writes_nothing_on_bad_input(built, tmp_path):
    sites, report = built
    out = tmp_path / "sites"
    with pytest.raises(DataError, match="columns"):
        write_sites(sites.drop(columns="epoch"), report, out / "s.parquet", out / "qc.csv")
    assert not out.exists() or not any(out.iterdir())


def test_summarize_counts_per_source_and_rule(built):
    sites, report = built
    table = summarize(sites, report)
    assert table.loc["total", "kept"] == len(sites)
    assert table.loc["total", "dropped"] == int((report["action"] == "dropped").sum())
    assert table.loc["d", "invalid_coordinates"] == 3
    assert table.loc["d", "climate_contradiction"] == 2 * len(EPOCHS)
    assert table.loc["g", "kept"] == 3 * 3 + 1 and table.loc["g", "dropped"] == 0
    assert table.loc["m", "duplicate_merged"] == len(EPOCHS)
