"""Each QC rule on its own, with known answers, plus invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from permamap.errors import ConfigError
from permamap.sites import qc
from permamap.sites.qc import QCSettings


def test_rule_names_are_stable():
    assert qc.RULES == (
        "invalid_coordinates",
        "swapped_coordinates",
        "outside_grid",
        "in_sea",
        "unclear_label",
        "no_epoch",
        "climate_contradiction",
        "duplicate_conflict",
        "duplicate_merged",
    )


def test_invalid_coordinates():
    lon = np.array([10.0, 200.0, np.nan, 10.0, -180.0, np.inf])
    lat = np.array([50.0, 50.0, 50.0, -95.0, -90.0, 0.0])
    assert qc.invalid_coordinates(lon, lat).tolist() == [False, True, True, True, False, True]


def test_swapped_out_of_range_outside_and_sea(grid, is_land):
    # as given: lat > 90 | outside the grid | Arctic sea | fine | lat 95 whose swap is invalid too
    lon = np.array([65.2, 30.0, 60.3, 100.3, 140.0])
    lat = np.array([110.7, 20.0, 80.5, 62.4, 95.0])
    got = qc.swapped_coordinates(lon, lat, grid, is_land)
    assert got.tolist() == [True, False, True, False, False]
    # (30, 20) swapped is (20, 30): west of the grid -> not a swap
    no_sea = qc.swapped_coordinates(lon, lat, grid, is_land, from_sea=False)
    assert no_sea.tolist() == [True, False, False, False, False]
    strict = qc.swapped_coordinates(lon, lat, grid, is_land, out_of_range=False)
    assert strict.tolist() == [False, False, True, False, False]


def test_swap_never_lands_in_sea(grid, is_land):
    # as given outside the grid (lat 150 > 90), swapped (150.5, 40.5) is in the synthetic sea
    assert not qc.swapped_coordinates(np.array([40.5]), np.array([150.5]), grid, is_land)[0]


def test_outside_grid_and_in_sea(grid, is_land):
    lon, lat = np.array([24.9, 100.0, 150.5]), np.array([50.0, 60.0, 40.5])
    assert qc.outside_grid(lon, lat, grid).tolist() == [True, False, False]
    assert qc.in_sea(lon, lat, is_land).tolist() == [False, False, True]


def test_in_sea_rejects_a_mask_of_the_wrong_shape():
    with pytest.raises(ConfigError, match="one boolean per point"):
        qc.in_sea(np.zeros(3), np.zeros(3), lambda lon, lat: np.array([True]))


def test_assign_epochs_nearest_within_tolerance_and_ties_to_earlier():
    years = np.array([1995.0, 1996.0, 2002.0, 2003.0, 2005.0, 2024.0, 2025.0, np.nan])
    got = qc.assign_epochs(years, [2000, 2005, 2010, 2015, 2020], tolerance=4)
    assert got.tolist() == [-1, 2000, 2000, 2005, 2005, 2020, -1, -1]
    assert qc.assign_epochs(np.array([2005.0]), [2010, 2000], tolerance=5).tolist() == [2000]


def test_climate_contradiction_thresholds_are_inclusive():
    label = np.array([1, 1, 0, 0, 1, 0])
    maat = np.array([3.0, 2.99, -8.0, -7.99, np.nan, 20.0])
    assert qc.climate_contradiction(label, maat).tolist() == [
        True,
        False,
        True,
        False,
        False,
        False,
    ]
    loose = qc.climate_contradiction(
        label, maat, permafrost_max_maat_c=5, nonpermafrost_min_maat_c=-10
    )
    assert not loose.any()


def test_group_duplicates_merge_conflict_and_priority():
    row = np.array([5, 5, 5, 7, 7, 9, 5])
    col = np.array([1, 1, 1, 2, 2, 3, 1])
    epoch = np.array([2000, 2000, 2000, 2000, 2000, 2000, 2005])
    label = np.array([1, 1, 1, 0, 1, 0, 0])
    priority = np.array([3, 1, 2, 0, 0, 0, 0])
    status, rep = qc.group_duplicates(row, col, epoch, label, priority)
    assert status.tolist() == [
        "merged",
        "kept",
        "merged",
        "conflict",
        "conflict",
        "single",
        "single",
    ]
    assert rep.tolist() == [1, 1, 1, -1, -1, -1, -1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 3), st.sampled_from([2000, 2005]), st.integers(0, 1)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_group_duplicates_leaves_one_consistent_site_per_cell(rows):
    row, col, epoch, label = (np.array(v) for v in zip(*rows, strict=True))
    status, rep = qc.group_duplicates(row, col, epoch, label, np.arange(len(rows)))
    survivors = np.isin(status, ["single", "kept"])
    keys = list(zip(row[survivors], col[survivors], epoch[survivors], strict=True))
    assert len(keys) == len(set(keys))  # at most one site per cell and epoch
    for i in np.flatnonzero(status == "merged"):
        assert status[rep[i]] == "kept" and label[rep[i]] == label[i]
    for i in np.flatnonzero(status == "conflict"):
        same = (row == row[i]) & (col == col[i]) & (epoch == epoch[i])
        assert np.unique(label[same]).size == 2


@settings(max_examples=60, deadline=None)
@given(st.floats(25, 179.9), st.floats(25, 83.9))
def test_a_valid_land_point_is_never_swapped(grid, is_land, lon, lat):
    """A point on land inside the grid is kept as given, whatever its swap would be."""
    lon_a, lat_a = np.array([lon]), np.array([lat])
    if is_land(lon_a, lat_a)[0] and grid.contains(lon_a, lat_a)[0]:
        assert not qc.swapped_coordinates(lon_a, lat_a, grid, is_land)[0]


def test_settings_from_dict_validates():
    s = QCSettings.from_dict({"permafrost_max_maat_c": 2, "epoch_tolerance_years": 2, "sea": False})
    assert s.permafrost_max_maat_c == 2.0 and s.epoch_tolerance_years == 2 and not s.sea
    with pytest.raises(ConfigError, match=r"\[qc\] has unknown key `climat` \(did you mean"):
        QCSettings.from_dict({"climat": True})
    with pytest.raises(ConfigError, match='sea = "yes" must be true or false'):
        QCSettings.from_dict({"sea": "yes"})
    with pytest.raises(ConfigError, match="must be a finite number"):
        QCSettings.from_dict({"nonpermafrost_min_maat_c": "cold"})
    with pytest.raises(ConfigError, match="must be below permafrost_max_maat_c"):
        QCSettings(permafrost_max_maat_c=-9.0)
    with pytest.raises(ConfigError, match="whole number"):
        QCSettings(epoch_tolerance_years=-1)
