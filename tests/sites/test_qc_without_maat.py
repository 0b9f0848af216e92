"""QC of a run without a MAAT factor, and the [qc] table checked at load.

Without a MAAT layer the climate check looks only at sites that carry their own MAAT (a station's
MAAT, a table's mapped column) and says so in a note; with no such site it is skipped, with a
note. Known answers come from the synthetic MAAT of conftest (25 - 0.5·lat °C: lat 40.5 → 4.75,
lat 70.5 → -10.25, lat 60.5 → -5.25).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from permamap.errors import ConfigError
from permamap.sites import CLIMATE_CONTRADICTION, QCSettings, SiteQC, build_sites

EPOCH = [2000]


@pytest.fixture
def raw(make_raw):
    """Three sites without their own MAAT, a station (own MAAT 5 °C) and a table row (6 °C)."""
    return make_raw(
        [
            {"site_id": "t:warm_pf", "lon": 100.5, "lat": 40.5, "label": 1},
            {"site_id": "t:cold_npf", "lon": 100.5, "lat": 70.5, "label": 0},
            {"site_id": "t:ok", "lon": 110.5, "lat": 60.5, "label": 1},
            {
                "site_id": "s:st",
                "lon": 80.5,
                "lat": 50.5,
                "label": 0,
                "kind": "station",
                "maat": 5.0,
            },
            {"site_id": "t:own", "lon": 120.5, "lat": 55.5, "label": 1, "maat": 6.0},
        ]
    )


def _climate_drops(report: pd.DataFrame) -> list[str]:
    return sorted(report.loc[report["rule"] == CLIMATE_CONTRADICTION, "site_id"])


def test_with_a_maat_layer_the_layer_decides_and_there_is_no_note(raw, grid, maat):
    result = build_sites(raw, grid, EPOCH, maat=maat)
    assert isinstance(result, SiteQC)
    assert _climate_drops(result.qc_report) == ["t:cold_npf", "t:warm_pf"]
    assert result.notes == []


def test_without_a_layer_only_sites_with_their_own_maat_are_checked(raw, grid, caplog):
    with caplog.at_level(logging.WARNING, logger="permamap.sites.build"):
        result = build_sites(raw, grid, EPOCH, maat=None)
    assert _climate_drops(result.qc_report) == ["t:own"]  # 6 °C ≥ 3 °C with label 1
    assert sorted(result.sites["site_id"]) == ["s:st", "t:cold_npf", "t:ok", "t:warm_pf"]
    assert result.notes == [
        "QC climate_contradiction: the run has no MAAT layer (no maat factor), so only the 2 of 5 "
        "site-epoch rows with their own MAAT (the sites' maat column) were checked against the "
        "climate; add the maat factor to the run's factors to check every site, or set [qc] "
        "climate = false to turn the check off"
    ]
    assert result.notes[0] in caplog.text


def test_without_a_layer_and_no_own_maat_the_check_is_skipped_with_a_note(raw, grid):
    no_own = raw[raw["maat"].isna()].reset_index(drop=True)
    result = build_sites(no_own, grid, [2000, 2005], maat=None)
    off = build_sites(no_own, grid, [2000, 2005], settings=QCSettings(climate=False))
    pd.testing.assert_frame_equal(result.sites, off.sites)
    pd.testing.assert_frame_equal(result.qc_report, off.qc_report)
    assert _climate_drops(result.qc_report) == []
    assert result.notes == [
        "QC climate_contradiction skipped: the run has no MAAT layer (no maat factor) and no site "
        "carries its own MAAT, so none of the 6 site-epoch rows was checked against the climate; "
        "add the maat factor to the run's factors to check every site, or set [qc] climate = "
        "false to turn the check off"
    ]
    assert off.notes == []


def test_a_layer_with_holes_names_the_rows_it_could_not_check(raw, grid, maat):
    def holes(lon, lat, epoch):
        return np.where(np.asarray(lat) > 65, np.nan, maat(lon, lat, epoch))

    result = build_sites(raw, grid, EPOCH, maat=holes)
    assert _climate_drops(result.qc_report) == ["t:warm_pf"]  # cold_npf is in a hole
    assert result.notes == [
        "QC climate_contradiction: 1 of 5 site-epoch rows have no MAAT (the layer is empty at "
        "their cell and the site gives none), so their labels were not checked against the climate"
    ]


def test_the_result_unpacks_as_before(raw, grid):
    result = build_sites(raw, grid, EPOCH)
    sites, report = result
    assert sites is result.sites and report is result.qc_report
    assert len(result) == 2 and result[0] is sites and result[1] is report


def test_the_station_rule_needs_no_stack_maat(grid):
    """GHCN stations become non-permafrost sites from their own temperatures, with or without a layer."""
    from permamap.sites import stations_nonpermafrost

    inventory = pd.DataFrame({"station_id": ["KZ000036870"], "lat": [50.5], "lon": [80.5]})
    years = np.repeat(np.arange(1990, 2010), 12)
    monthly = pd.DataFrame(
        {
            "station_id": "KZ000036870",
            "year": years,
            "month": np.tile(np.arange(1, 13), 20),
            "value_c": 5.0,
        }
    )
    raw = stations_nonpermafrost(inventory, monthly, [2000], window=9)
    assert raw["maat"].tolist() == [5.0] and raw["label"].tolist() == [0]
    result = build_sites(raw, grid, [2000], maat=None)
    assert result.sites["site_id"].tolist() == raw["site_id"].tolist()
    assert "only the 1 of 1 site-epoch rows" in result.notes[0]


# -- [qc] checked at load -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"climat": True},
            "[qc] has unknown key `climat` (did you mean `climate`?); allowed keys: climate, "
            "duplicates, epoch_tolerance_years, magt_threshold_c, nonpermafrost_min_maat_c, "
            "permafrost_max_maat_c, sea, swap_from_sea, swap_out_of_range, swapped",
        ),
        ({"permafrost_max_maat": 2}, "(did you mean `permafrost_max_maat_c`?)"),
        (
            {"sea": "no"},
            '[qc] sea = "no" must be true or false (a TOML boolean, without quotes); e.g. sea = '
            "true",
        ),
        ({"duplicates": 1}, "[qc] duplicates = 1 must be true or false"),
        (
            {"permafrost_max_maat_c": "3"},
            '[qc] permafrost_max_maat_c = "3" must be a finite number of °C (without quotes); '
            "e.g. permafrost_max_maat_c = 3",
        ),
        ({"permafrost_max_maat_c": float("inf")}, "permafrost_max_maat_c = inf must be a finite"),
        ({"magt_threshold_c": True}, "[qc] magt_threshold_c = true must be a finite number"),
        (
            {"epoch_tolerance_years": 4.0},
            "[qc] epoch_tolerance_years = 4.0 must be a whole number of years ≥ 0 (no decimal "
            "point); e.g. epoch_tolerance_years = 4",
        ),
        ({"epoch_tolerance_years": -1}, "[qc] epoch_tolerance_years = -1 must be a whole number"),
        (
            {"nonpermafrost_min_maat_c": 5},
            "[qc] nonpermafrost_min_maat_c = 5 must be below permafrost_max_maat_c = 3",
        ),
        (["climate"], "[qc] = ['climate'] must be a table"),
    ],
)
def test_qc_mistakes_are_one_line_with_the_key_value_rule_and_example(values, message):
    with pytest.raises(ConfigError) as exc:
        QCSettings.from_dict(values)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_qc_table_accepts_integers_for_degrees_and_names_its_place():
    s = QCSettings.from_dict({"permafrost_max_maat_c": 2, "nonpermafrost_min_maat_c": -9})
    assert s == QCSettings(permafrost_max_maat_c=2.0, nonpermafrost_min_maat_c=-9.0)
    assert isinstance(s.permafrost_max_maat_c, float)
    assert QCSettings.from_dict({}) == QCSettings()
    with pytest.raises(ConfigError, match=r"^run\.toml \[qc\] has unknown key `x`"):
        QCSettings.from_dict({"x": 1}, where="run.toml [qc]")
    with pytest.raises(ConfigError, match=r"^run\.toml \[qc\] sea = 2 must be true or false"):
        QCSettings.from_dict({"sea": 2}, where="run.toml [qc]")
