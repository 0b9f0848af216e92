"""Comparison with a user's reference map: kappa 1 with itself, other CRS and nodata handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_transform

from permamap.change import (
    IPA_ZONE_PERCENT,
    agreement_stats,
    compare_with_reference,
    confusion_area,
    resample_reference,
)
from permamap.errors import DataError, InputFileError
from permamap.grid import Grid

from .helpers import run_change


def test_agreement_stats_known_answer() -> None:
    # 40 km² both non-permafrost, 40 both permafrost, 10 + 10 disagree: po 0.8, pe 0.5 → κ 0.6
    stats = agreement_stats(np.array([[40.0, 10.0], [10.0, 40.0]]))
    assert stats["overall_agreement"] == pytest.approx(0.8)
    assert stats["kappa"] == pytest.approx(0.6)
    assert stats["extent_difference_km2"] == 0.0
    one_class = agreement_stats(np.array([[5.0, 0.0], [0.0, 0.0]]))
    assert one_class["overall_agreement"] == 1.0 and one_class["kappa"] is None


def test_confusion_area_ignores_no_data() -> None:
    m = np.array([[1, 0, 255]], np.uint8)
    r = np.array([[1, 1, 1]], np.uint8)
    assert confusion_area(m, r, np.array([[2.0, 3.0, 4.0]])).tolist() == [[0.0, 3.0], [0.0, 2.0]]


def test_map_compared_with_itself_gives_kappa_one(small_grid: Grid, map_writer) -> None:
    rng = np.random.default_rng(11)
    prob = rng.integers(0, 101, small_grid.shape).astype(np.uint8)
    cls = (prob >= 50).astype(np.uint8)
    cls[:, 0] = prob[:, 0] = 255
    path = map_writer("permafrost_2000.tif", small_grid, cls, prob)
    cmp = compare_with_reference(path, path, small_grid, epoch=2000, tile_shape=(3, 4))
    res = cmp.stats
    assert cmp.confusion.columns.tolist() == ["map_class", "reference_class", "area_km2"]
    assert cmp.confusion.area_km2.sum() == pytest.approx(res["compared_km2"], rel=1e-12)
    assert res["reference_kind"] == "map"
    assert res["kappa"] == pytest.approx(1.0, abs=1e-12)
    assert res["overall_agreement"] == pytest.approx(1.0, abs=1e-12)
    assert res["extent_difference_km2"] == 0.0
    assert res["probability_weighted_difference_km2"] == pytest.approx(0.0, abs=1e-6)
    land = small_grid.cell_area_km2()[:, 1:].sum()
    assert res["compared_km2"] == pytest.approx(land, rel=1e-12)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def _polar_reference(
    path: Path, rule_lat: float, *, nodata: float | None, fill: float, fraction: bool = False
) -> Path:
    """Permafrost probability in EPSG:3995 at 10 km: 90 % north of ``rule_lat``, 10 % south."""
    res = 10_000.0
    west, north, n = 1_800_000.0, 1_400_000.0, 180  # covers 100–112 °E, 60–70 °N
    transform = from_origin(west, north, res, res)
    cols, rows = np.meshgrid(np.arange(n), np.arange(n))
    x = west + (cols + 0.5) * res
    y = north - (rows + 0.5) * res
    _, lat = warp_transform("EPSG:3995", "EPSG:4326", x.ravel(), y.ravel())
    lat = np.asarray(lat).reshape(x.shape)
    value = np.where(lat >= rule_lat, 90.0, 10.0)
    if fraction:
        value = value / 100.0
    value[:, 70:90] = fill  # a strip of "no data" in the file's own convention
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "height": n,
        "width": n,
        "crs": "EPSG:3995",
        "transform": transform,
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(value.astype(np.float32), 1)
    return path


def _map_north_of(grid: Grid, map_writer, lat: float) -> Path:
    cls = (grid.lat_centers()[:, None] >= lat).astype(np.uint8) * np.ones(grid.shape, np.uint8)
    return map_writer("permafrost_2000.tif", grid, cls, cls * 90)


def test_reference_in_polar_stereographic_with_its_own_nodata(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    ref = _polar_reference(tmp_path / "obu_like.tif", 65, nodata=-9999.0, fill=-9999.0)
    path = _map_north_of(small_grid, map_writer, 65)
    res = compare_with_reference(path, ref, small_grid, epoch=2000).stats
    assert res["reference_kind"] == "probability"
    # 1° cells averaged from 10 km pixels: the class boundary at 65 °N is a cell edge.
    assert res["overall_agreement"] > 0.99
    assert res["kappa"] > 0.98
    assert res["extent_difference_km2"] == pytest.approx(0.0, abs=0.01 * res["map_extent_km2"])


def test_undeclared_nodata_is_a_clear_error_then_handled(
    small_grid: Grid, map_writer, tmp_path: Path
) -> None:
    ref = _polar_reference(tmp_path / "no_nodata.tif", 65, nodata=None, fill=255.0)
    path = _map_north_of(small_grid, map_writer, 65)
    with pytest.raises(DataError, match=r"pass reference_nodata"):
        compare_with_reference(path, ref, small_grid, reference_kind="probability")
    res = compare_with_reference(
        path, ref, small_grid, reference_kind="probability", reference_nodata=255
    ).stats
    assert res["kappa"] > 0.98


def test_fraction_reference_is_scaled(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    ref = _polar_reference(tmp_path / "frac.tif", 65, nodata=-1.0, fill=-1.0, fraction=True)
    path = _map_north_of(small_grid, map_writer, 65)
    res = compare_with_reference(path, ref, small_grid).stats
    assert res["reference_kind"] == "fraction"
    assert res["kappa"] > 0.98


def test_zone_reference_maps_codes_to_percent(small_grid: Grid, tmp_path: Path) -> None:
    zones = np.zeros(small_grid.shape, np.uint8)
    zones[:3] = 1  # continuous
    zones[3:5] = 2  # discontinuous
    zones[5:7] = 3  # sporadic
    zones[7:9] = 4  # isolated
    zones[9] = 255
    ref = tmp_path / "ipa.tif"
    with rasterio.open(
        ref,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=1,
        height=small_grid.height,
        width=small_grid.width,
        crs=small_grid.crs,
        transform=small_grid.transform,
        nodata=255,
    ) as dst:
        dst.write(zones, 1)
    out, kind = resample_reference(ref, small_grid, tmp_path / "on_grid.tif", kind="zones")
    assert kind == "zones"
    with rasterio.open(out) as src:
        cls, prob = src.read(1), src.read(2)
    assert prob[0, 0] == IPA_ZONE_PERCENT[1] and prob[4, 0] == IPA_ZONE_PERCENT[2]
    assert cls[:5].min() == 1 and cls[5:9].max() == 0 and (cls[9] == 255).all()


def test_unknown_zone_code_is_refused(small_grid: Grid, tmp_path: Path) -> None:
    ref = tmp_path / "zones.tif"
    with rasterio.open(
        ref,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=1,
        height=small_grid.height,
        width=small_grid.width,
        crs=small_grid.crs,
        transform=small_grid.transform,
    ) as dst:
        dst.write(np.full(small_grid.shape, 9, np.uint8), 1)
    with pytest.raises(DataError, match=r"code 9.*zone_percent"):
        resample_reference(ref, small_grid, tmp_path / "x.tif", kind="zones")


def test_reference_without_crs_is_refused(small_grid: Grid, tmp_path: Path) -> None:
    ref = tmp_path / "nocrs.tif"
    with rasterio.open(
        ref,
        "w",
        driver="GTiff",
        dtype="float32",
        count=1,
        height=4,
        width=4,
        transform=from_origin(0, 4, 1, 1),
    ) as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    with pytest.raises(InputFileError, match=r"has no CRS.*gdal_edit"):
        resample_reference(ref, small_grid, tmp_path / "x.tif")


def test_stage_writes_comparison_tables(small_grid: Grid, map_writer, tmp_path: Path) -> None:
    ref = _polar_reference(tmp_path / "obu_like.tif", 65, nodata=-9999.0, fill=-9999.0)
    path = _map_north_of(small_grid, map_writer, 65)
    out = tmp_path / "change"
    summary = run_change({2000: path}, small_grid, tmp_path, reference=ref)
    assert (out / "reference_on_grid.tif").is_file()
    assert (out / "reference_comparison.csv").is_file()
    assert (out / "reference_confusion_2000.csv").is_file()
    got = summary["reference"]["by_epoch"]["2000"]
    assert got["kappa"] > 0.98 and summary["reference"]["reference_kind"] == "probability"
