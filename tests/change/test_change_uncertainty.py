"""Areas with 95 % intervals from the ensemble's member files: known answers on a 4 × 6 grid.

The grid is EASE-Grid 2.0 (equal area) with 1 km cells, so every cell is exactly 1 km² and each
area is a count of cells. Three members, three epochs; cell (0, 5) has no data in every map.

=======  ====================  ======================================  ==========
epoch    main class 1          member 0 / 1 / 2                        extents
=======  ====================  ======================================  ==========
2000     P = rows 0–1 \\ (0,5)  P / P + (2,0) / P − (1,4)               11, 12, 10
2010     Q = P \\ (1,0),(1,1)   Q / Q + (2,0) / Q − (1,4)               9, 10, 8
2020     Q                     Q / Q + (2,0),(3,0) / Q − (1,4),(0,0)   9, 11, 8
                                                  + (3,5)
=======  ====================  ======================================  ==========
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from permamap.change import (
    area_intervals,
    change_stage,
    check_members,
    member_area,
    normal_interval,
    uncertainty_summary,
)
from permamap.errors import DataError
from permamap.grid import Grid
from permamap.layout import RunLayout

from .ensemble import pack_members, write_epoch, write_members

GRID = Grid.from_bounds((0, 0, 6000, 4000), res=1000, crs="EPSG:6933")
SD3 = math.sqrt(1 / 3)  # sd (ddof=1) of {0, 0, 1}
NODATA_CELL = (0, 5)


def cells(*rc: tuple[int, int], base: np.ndarray | None = None, drop=()) -> np.ndarray:
    out = np.zeros(GRID.shape, np.uint8) if base is None else base.copy()
    for r, c in rc:
        out[r, c] = 1
    for r, c in drop:
        out[r, c] = 0
    return out


P = cells(*[(r, c) for r in (0, 1) for c in range(6)], drop=[NODATA_CELL])
Q = cells(base=P, drop=[(1, 0), (1, 1)])
MEMBERS = {
    2000: [P, cells((2, 0), base=P), cells(base=P, drop=[(1, 4)])],
    2010: [Q, cells((2, 0), base=Q), cells(base=Q, drop=[(1, 4)])],
    2020: [Q, cells((2, 0), (3, 0), base=Q), cells((3, 5), base=Q, drop=[(1, 4), (0, 0)])],
}
MAIN = {2000: P, 2010: Q, 2020: Q}
PW = {2000: [10.0, 11.0, 9.0], 2010: [8.0, 8.0, 8.0], 2020: [8.0, 9.0, 10.0]}


def main_class(epoch: int) -> np.ndarray:
    cls = MAIN[epoch].copy()
    cls[NODATA_CELL] = 255
    return cls


def prob_of(cls: np.ndarray) -> np.ndarray:
    """80 % where permafrost, 10 % where not: probability-weighted area 0.8 n1 + 0.1 n0."""
    return np.where(cls == 255, 255, np.where(cls == 1, 80, 10)).astype(np.uint8)


@pytest.fixture
def run(tmp_path: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    maps, members = {}, {}
    for e in (2000, 2010, 2020):
        stack = np.stack(MEMBERS[e])
        # every member flags the no-data cell: validity must come from the map's class band
        stack[:, NODATA_CELL[0], NODATA_CELL[1]] = 1
        maps[e], members[e] = write_epoch(
            tmp_path,
            GRID,
            e,
            main_class(e),
            stack,
            prob_of(main_class(e)),
            probability_weighted_km2=PW[e],
            zero_off_land=False,
        )
    return maps, members


@pytest.fixture
def halves(tmp_path: Path) -> Path:
    """Two regions: west = columns 0–2, east = columns 3–5."""
    gdf = gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[box(0, 0, 3000, 4000), box(3000, 0, 6000, 4000)],
        crs="EPSG:6933",
    )
    path = tmp_path / "halves.gpkg"
    gdf.to_file(path)
    return path


# ---------------------------------------------------------------------------------- pure maths
def test_member_area_equals_a_loop_over_bits() -> None:
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**32, size=(7, 9), dtype=np.uint64).astype(np.uint32)
    words[0] = 0
    words[1, :3] = 0xFFFFFFFF
    area = rng.uniform(0.5, 2.0, size=(7, 9))
    expected = [area[(words >> k) & 1 == 1].sum() for k in range(32)]
    np.testing.assert_allclose(member_area(words, area, 32), expected, rtol=1e-12)
    np.testing.assert_allclose(member_area(words & 0b111, area, 3), expected[:3], rtol=1e-12)
    assert member_area(np.zeros((2, 2), np.uint32), np.ones((2, 2)), 5).tolist() == [0.0] * 5


def test_normal_interval_is_main_plus_minus_1_96_sd_clipped_at_zero() -> None:
    assert normal_interval(11.0, np.array([11.0, 12.0, 10.0])) == pytest.approx((9.04, 12.96))
    assert normal_interval(0.0, np.array([0.0, 1.0, 1.0])) == pytest.approx((0.0, 1.96 * SD3))
    lo, hi = normal_interval(-2.0, np.array([-2.0, -1.0, -2.0]), clip_at_zero=False)
    assert (lo, hi) == pytest.approx((-2 - 1.96 * SD3, -2 + 1.96 * SD3))


def test_pack_members_sets_bit_k_for_member_k() -> None:
    stack = np.zeros((32, 1, 2), np.uint8)
    stack[0, 0, 0] = stack[2, 0, 0] = stack[31, 0, 1] = 1
    assert pack_members(stack).tolist() == [[5, 2**31]]


# ----------------------------------------------------------------------------- known answers
def test_member_extents_per_epoch(run) -> None:
    maps, members = run
    res = area_intervals(maps, members, GRID, tile_shape=(3, 4))
    assert res.n_members == 3
    expected = {2000: (11, [11, 12, 10]), 2010: (9, [9, 10, 8]), 2020: (9, [9, 11, 8])}
    for e, (main, per_member) in expected.items():
        est = res.epochs[e]["permafrost_extent_km2"]
        assert est.value == pytest.approx(main)
        assert est.members == pytest.approx(per_member)  # the no-data cell is never counted
        half = 1.96 * np.std(per_member, ddof=1)
        assert est.ci95 == pytest.approx([main - half, main + half])
    assert res.epochs[2000]["permafrost_extent_km2"].ci95 == pytest.approx([9.04, 12.96])


def test_probability_weighted_interval_uses_the_sidecar_totals(run) -> None:
    maps, members = run
    res = area_intervals(maps, members, GRID)
    est = res.epochs[2000]["probability_weighted_km2"]
    assert est.value == pytest.approx(11 * 0.8 + 12 * 0.1)  # main model, from its map
    assert est.members == (10.0, 11.0, 9.0)
    assert est.ci95 == pytest.approx([10.0 - 1.96, 10.0 + 1.96])
    # identical members: a zero-width interval around the main figure (2010: 9 × 0.8 + 14 × 0.1)
    assert res.epochs[2010]["probability_weighted_km2"].ci95 == pytest.approx([8.6, 8.6])


def test_degraded_and_aggraded_per_member_are_paired(run) -> None:
    maps, members = run
    res = area_intervals(maps, members, GRID, tile_shape=(2, 5))
    p = res.pairs[(2000, 2010)]
    assert p["degraded_km2"].value == 2 and p["degraded_km2"].members == (2, 2, 2)
    assert p["aggraded_km2"].members == (0, 0, 0)
    assert p["net_change_km2"].members == (-2, -2, -2)
    assert p["net_change_km2"].ci95 == pytest.approx([-2, -2])

    q = res.pairs[(2010, 2020)]
    assert q["degraded_km2"].members == (0, 0, 1)
    assert q["aggraded_km2"].members == (0, 1, 1)
    assert q["aggraded_km2"].ci95 == pytest.approx([0.0, 1.96 * SD3])  # clipped at 0
    assert q["net_change_km2"].members == (0, 1, 0)

    first_last = res.pairs[(2000, 2020)]
    assert first_last["degraded_km2"].members == (2, 2, 3)
    assert first_last["aggraded_km2"].members == (0, 1, 1)
    assert first_last["net_change_km2"].members == (-2, -1, -2)
    assert list(res.pairs) == [(2000, 2010), (2010, 2020), (2000, 2020)]


def test_exceeds_interval_when_the_net_change_interval_excludes_zero(run) -> None:
    maps, members = run
    s = uncertainty_summary(area_intervals(maps, members, GRID))
    # the epochs' own intervals overlap ([9.04, 12.96] and [7.04, 10.96]), yet every member
    # loses 2 km²: the paired change is significant
    assert s["pairs"]["2000-2010"]["exceeds_interval"] is True
    assert s["pairs"]["2010-2020"]["exceeds_interval"] is False
    assert s["pairs"]["2010-2020"]["net_change_km2"] == 0
    assert s["pairs"]["2010-2020"]["net_change_km2_ci95"] == pytest.approx(
        [-1.96 * SD3, 1.96 * SD3]
    )
    assert s["pairs"]["2000-2020"]["exceeds_interval"] is True
    assert s["pairs"]["2000-2020"]["net_change_km2_ci95"] == pytest.approx(
        [-2 - 1.96 * SD3, -2 + 1.96 * SD3]
    )


def test_region_split(run, halves: Path) -> None:
    maps, members = run
    res = area_intervals(maps, members, GRID, regions=halves, tile_shape=(4, 4))
    assert res.regions == ["west", "east"]
    west = res.epoch_regions[2000]["west"]["permafrost_extent_km2"]
    east = res.epoch_regions[2000]["east"]["permafrost_extent_km2"]
    assert (west.value, west.members) == (6, (6, 7, 6))
    assert (east.value, east.members) == (5, (5, 5, 4))
    # degraded 2000 → 2020: (1,0), (1,1) west for all; (0,0) west for member 2
    deg_w = res.pair_regions[(2000, 2020)]["west"]["degraded_km2"]
    assert deg_w.members == (2, 2, 3)
    assert res.pair_regions[(2000, 2020)]["east"]["degraded_km2"].members == (0, 0, 0)
    agg_e = res.pair_regions[(2000, 2020)]["east"]["aggraded_km2"]
    assert agg_e.members == (0, 0, 1)  # (3,5); member 1's (3,0) is west
    # the two halves partition the grid
    for e in (2000, 2010, 2020):
        whole = np.array(res.epochs[e]["permafrost_extent_km2"].members)
        parts = sum(
            np.array(res.epoch_regions[e][n]["permafrost_extent_km2"].members)
            for n in ("west", "east")
        )
        np.testing.assert_allclose(parts, whole)
    s = uncertainty_summary(res)
    assert set(s["2000"]["regions"]) == {"west", "east"}
    assert s["2000"]["regions"]["west"]["permafrost_extent_km2_ci95"] == pytest.approx(
        [6 - 1.96 * SD3, 6 + 1.96 * SD3]
    )
    assert s["pairs"]["2000-2010"]["regions"]["west"]["exceeds_interval"] is True
    assert s["pairs"]["2000-2010"]["regions"]["east"]["net_change_km2"] == 0


def test_summary_shape_and_table(run, halves: Path) -> None:
    maps, members = run
    res = area_intervals(maps, members, GRID, regions=halves)
    s = uncertainty_summary(res)
    json.dumps(s, allow_nan=False)
    assert type(s["2000"]["permafrost_extent_km2_ci95"][0]) is float  # not a numpy scalar
    assert set(s) == {"2000", "2010", "2020", "pairs", "n_members", "method"}
    assert s["n_members"] == 3 and "1.96" in s["method"]
    assert set(s["2010"]) == {
        "permafrost_extent_km2_ci95",
        "probability_weighted_km2_ci95",
        "regions",
    }
    assert set(s["pairs"]["2000-2010"]) == {
        "net_change_km2",
        "net_change_km2_ci95",
        "exceeds_interval",
        "degraded_km2_ci95",
        "aggraded_km2_ci95",
        "regions",
    }
    t = res.table
    # 3 epochs × (2 whole-grid + 2 regions × 1) + 3 pairs × (3 + 2 × 3)
    assert len(t) == 3 * 4 + 3 * 9
    row = t[(t.period == "2000") & (t.region == "all") & (t.quantity == "permafrost_extent_km2")]
    assert row.iloc[0][["value", "low", "high", "member_sd"]].tolist() == pytest.approx(
        [11, 9.04, 12.96, 1.0]
    )
    assert row.iloc[0][["member_p2_5", "member_p97_5"]].tolist() == pytest.approx([10.05, 11.95])
    net = t[(t.period == "2000-2010") & (t.quantity == "net_change_km2") & (t.region == "all")]
    assert bool(net.iloc[0]["exceeds_interval"]) is True
    assert t[t.quantity != "net_change_km2"]["exceeds_interval"].isna().all()


def test_one_epoch_has_intervals_and_no_pairs(run) -> None:
    maps, members = run
    s = uncertainty_summary(area_intervals({2000: maps[2000]}, {2000: members[2000]}, GRID))
    assert s["pairs"] == {}
    assert s["2000"]["permafrost_extent_km2_ci95"] == pytest.approx([9.04, 12.96])


# ------------------------------------------------------------------------------------ stage
def test_change_stage_adds_intervals_to_the_summary(run, halves: Path, tmp_path: Path) -> None:
    maps, members = run
    layout = RunLayout(tmp_path / "out")
    res = change_stage(maps, GRID, layout, members=members, regions=halves, tile_shape=(4, 4))
    assert res.uncertainty is not None
    a = res.summary["area_km2"]["2000"]
    assert a["permafrost_extent_km2"] == 11
    assert a["permafrost_extent_km2_ci95"] == pytest.approx([9.04, 12.96])
    assert a["probability_weighted_km2_ci95"] == pytest.approx([10.0 - 1.96, 10.0 + 1.96])
    assert res.summary["uncertainty"]["pairs"]["2000-2010"]["exceeds_interval"] is True
    # the stage's net change (aggraded − degraded) is the one the intervals are around
    t = {(d["from_epoch"], d["to_epoch"]): d for d in res.summary["transitions"]}
    for key, pair in res.uncertainty.pairs.items():
        assert pair["net_change_km2"].value == pytest.approx(t[key]["net_change_km2"])
    json.dumps(res.summary, allow_nan=False)


def test_change_stage_without_ensemble_computes_nothing(run, tmp_path: Path) -> None:
    maps, _ = run
    res = change_stage(maps, GRID, RunLayout(tmp_path / "out"), members=None)
    assert res.uncertainty is None and res.summary["uncertainty"] is None
    assert "permafrost_extent_km2_ci95" not in res.summary["area_km2"]["2000"]


def test_change_stage_checks_members_before_reading_tiles(run, tmp_path: Path) -> None:
    maps, members = run
    layout = RunLayout(tmp_path / "out")
    with pytest.raises(DataError, match=r"members_2010\.tif for epoch 2010 is missing"):
        change_stage(maps, GRID, layout, members={2000: members[2000], 2020: members[2020]})
    assert not layout.change_map(2000, 2010).exists()


# ------------------------------------------------------------------------------------ errors
def test_missing_member_file_names_it_and_the_fix(run) -> None:
    maps, members = run
    members[2020].unlink()
    with pytest.raises(
        DataError, match=r"members_2020\.tif for epoch 2020 is missing.*permamap map"
    ):
        check_members(members, maps, GRID)
    with pytest.raises(DataError, match=r"epoch\(s\) \[1990\] that have no map"):
        check_members({1990: members[2000]}, maps, GRID)


def test_missing_sidecar(run) -> None:
    maps, members = run
    members[2010].with_suffix(".json").unlink()
    with pytest.raises(DataError, match=r"members_2010\.tif has no sidecar members_2010\.json"):
        check_members(members, maps, GRID)


def test_member_count_mismatch_between_epochs(run, tmp_path: Path) -> None:
    maps, members = run
    four = np.stack([*MEMBERS[2010], Q])
    members[2010] = write_members(tmp_path / "four", GRID, 2010, four, main_class(2010))
    with pytest.raises(DataError, match=r"members_2010\.tif has 4 members but .*has 3; member k"):
        check_members(members, maps, GRID)


def test_member_file_off_the_grid(run, tmp_path: Path) -> None:
    maps, members = run
    other = Grid.from_bounds((1000, 0, 7000, 4000), res=1000, crs="EPSG:6933")
    members[2000] = write_members(
        tmp_path / "shifted", other, 2000, np.stack(MEMBERS[2000]), main_class(2000)
    )
    with pytest.raises(
        DataError, match=r"members_2000\.tif is not on the run's grid.*permamap map"
    ):
        check_members(members, maps, GRID)


def test_one_member_is_not_an_interval(run, tmp_path: Path) -> None:
    maps, _ = run
    one = write_members(tmp_path / "one", GRID, 2000, np.stack([P]), main_class(2000))
    with pytest.raises(DataError, match=r"n_members tag '1'; an interval needs 2 to 32 members"):
        check_members({2000: one}, {2000: maps[2000]}, GRID)


def test_sidecar_from_another_run_is_refused(run, tmp_path: Path) -> None:
    maps, _ = run
    stale = write_members(
        tmp_path / "stale",
        GRID,
        2000,
        np.stack(MEMBERS[2000]),
        main_class(2000),
        extent_km2=[11.0, 12.0, 13.0],
    )
    with pytest.raises(DataError, match=r"gives member 2 an extent of 13 km².*different runs"):
        area_intervals({2000: maps[2000]}, {2000: stale}, GRID)


def test_bits_beyond_n_members_are_refused(run, tmp_path: Path) -> None:
    maps, _ = run
    words = pack_members(np.stack(MEMBERS[2000]))
    words[3, 3] = 0b1000  # a fourth member in a 3-member file
    bad = write_members(
        tmp_path / "bad", GRID, 2000, np.stack(MEMBERS[2000]), main_class(2000), words=words
    )
    with pytest.raises(DataError, match=r"holds word 8 .*beyond its n_members = 3"):
        area_intervals({2000: maps[2000]}, {2000: bad}, GRID)


def test_epoch_tag_must_match(run, tmp_path: Path) -> None:
    maps, _ = run
    wrong = write_members(tmp_path / "w", GRID, 2010, np.stack(MEMBERS[2000]), main_class(2000))
    with pytest.raises(DataError, match=r"epoch tag '2010' but is given for epoch 2000"):
        check_members({2000: wrong}, {2000: maps[2000]}, GRID)


def test_unequal_cells_and_any_tile_shape_agree_with_area_by_epoch(tmp_path: Path) -> None:
    """On 1° cells over 60–70 °N (areas shrink northwards) the sums weight by exact cell area."""
    from permamap.change import area_by_epoch

    grid = Grid.from_bounds((100, 60, 112, 70), res=1.0)
    rng = np.random.default_rng(3)
    maps, members = {}, {}
    stacks = {}
    for e in (2000, 2020):
        cls = (rng.random(grid.shape) < 0.5).astype(np.uint8)
        cls[0, :4] = 255
        stacks[e] = (rng.random((5, *grid.shape)) < 0.5).astype(np.uint8)
        maps[e], members[e] = write_epoch(tmp_path, grid, e, cls, stacks[e])
    area = grid.cell_area_km2()
    valid = {e: np.asarray(rasterio_class(maps[e])) != 255 for e in maps}
    results = [area_intervals(maps, members, grid, tile_shape=t) for t in ((3, 5), (10, 12))]
    for res in results:
        for e in maps:
            expected = [area[valid[e] & (m == 1)].sum() for m in stacks[e]]
            assert res.epochs[e]["permafrost_extent_km2"].members == pytest.approx(expected)
        both = valid[2000] & valid[2020]
        deg = [
            area[both & (a == 1) & (b == 0)].sum() for a, b in zip(*stacks.values(), strict=True)
        ]
        assert res.pairs[(2000, 2020)]["degraded_km2"].members == pytest.approx(deg)
    num = ["value", "low", "high", "member_sd"]
    np.testing.assert_allclose(results[0].table[num], results[1].table[num], rtol=1e-12)
    table = area_by_epoch(maps, grid)
    total = table[(table.stratum == "total") & (table.domain == "all")].set_index("epoch")
    for e in maps:
        assert results[0].epochs[e]["permafrost_extent_km2"].value == pytest.approx(
            total.loc[e, "permafrost_extent_km2"]
        )
        assert results[0].epochs[e]["probability_weighted_km2"].value == pytest.approx(
            total.loc[e, "probability_weighted_km2"]
        )


def rasterio_class(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)
