"""Header-level checks of the [change] inputs: one-line errors naming file, value, rule and fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from permamap.change import check_change_inputs
from permamap.errors import ConfigError, DataError, InputFileError, PermamapError
from permamap.grid import Grid

EPOCHS = [2000, 2010, 2020]


def _raster(
    path: Path,
    *,
    crs: str | None = "EPSG:4326",
    west: float = 100,
    north: float = 70,
    res: float = 0.5,
    shape: tuple[int, int] = (20, 24),
    dtype: str = "float32",
    nodata: float | None = -1,
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype=dtype,
        count=1,
        height=shape[0],
        width=shape[1],
        crs=crs,
        transform=from_origin(west, north, res, res),
        nodata=nodata,
    ) as dst:
        dst.write(np.full((1, *shape), 50, dtype=dtype))
    return path


def _regions(path: Path, *, crs: Any = 4326, **columns: list[Any]) -> Path:
    cols = columns or {"name": ["south", "north"]}
    n = len(next(iter(cols.values())))
    geoms = [box(101, 61 + i, 105, 62 + i) for i in range(n)]
    gpd.GeoDataFrame(cols, geometry=geoms, crs=crs).to_file(path)
    return path


@pytest.fixture
def check(small_grid: Grid) -> Callable[..., list[str]]:
    """check_change_inputs on the small grid, with nothing set unless a test says so."""

    def _check(**kw: Any) -> list[str]:
        args: dict[str, Any] = {
            "reference": None,
            "reference_kind": None,
            "reference_nodata": None,
            "reference_epochs": None,
            "regions": None,
            "region_name_column": None,
            "lat_band_deg": 10.0,
            "elevation_edges_m": [0, 500, 1000],
            "epochs": EPOCHS,
        }
        return check_change_inputs(small_grid, **(args | kw))

    return _check


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and isinstance(exc.value, PermamapError)
    return msg


# -- all fine: notes for the plan ----------------------------------------------------------------
def test_nothing_set_gives_no_notes(check) -> None:
    assert check() == []


def test_valid_inputs_give_plan_notes(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "obu.tif")  # covers 100–112 °E, 60–70 °N: the whole grid
    reg = _regions(tmp_path / "regions.gpkg")
    notes = check(reference=ref, reference_epochs=[2020], regions=reg)
    assert notes[0].startswith("reference obu.tif: EPSG:4326, 20 × 24 cells of 0.5 × 0.5")
    assert "kind auto" in notes[0] and "compared with epochs [2020]" in notes[0]
    assert notes[1] == "regions regions.gpkg: 2 feature(s) in EPSG:4326, names from column `name`"
    assert len(notes) == 2


def test_reference_in_another_crs_that_covers_the_grid(check, tmp_path: Path) -> None:
    # polar stereographic, ±4000 km around the pole: covers 60–70 °N everywhere
    ref = _raster(
        tmp_path / "polar.tif", crs="EPSG:3995", west=-4e6, north=4e6, res=1e5, shape=(80, 80)
    )
    notes = check(reference=ref, reference_kind="probability")
    assert "EPSG:3995" in notes[0] and "kind probability" in notes[0]
    assert len(notes) == 1  # full coverage: no partial-coverage note


def test_partial_coverage_is_a_note(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "half.tif", west=106, shape=(20, 12))  # 106–112 °E of 100–112
    notes = check(reference=ref)
    assert notes[1] == (
        "reference half.tif covers about 50% of the grid's extent; cells outside it are left out "
        "of the comparison"
    )


def test_regions_name_column_defaults_to_first_text_column(check, tmp_path: Path) -> None:
    reg = _regions(tmp_path / "r.geojson", code=[1, 2], label=["a", "b"])
    assert check(regions=reg) == [
        "regions r.geojson: 2 feature(s) in EPSG:4326, names from column `label` (the first "
        "text column; set region_name_column to pick another)"
    ]


def test_shapefile_regions_with_chosen_column(check, tmp_path: Path) -> None:
    reg = _regions(tmp_path / "r.shp", basin=["x", "y"], name=["a", "b"])
    assert "names from column `basin`" in check(regions=reg, region_name_column="basin")[0]


# -- reference errors ----------------------------------------------------------------------------
def test_missing_reference(check, tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as exc:
        check(reference=tmp_path / "nope.tif")
    assert "nope.tif' does not exist" in _one_line(exc) and "remove the key" in str(exc.value)


@pytest.mark.parametrize("content", [b"not a raster at all", b"II*\x00\x08\x00\x00\x00"])
def test_reference_that_is_not_a_raster(check, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "obu.tif"
    bad.write_bytes(content)
    with pytest.raises(InputFileError) as exc:
        check(reference=bad)
    assert "obu.tif cannot be opened as a raster" in _one_line(exc)


def test_reference_without_crs(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(InputFileError) as exc:
        check(reference=ref)
    assert "has no CRS" in _one_line(exc) and "gdal_edit.py -a_srs" in str(exc.value)


def test_reference_off_the_grid(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "alps.tif", west=5, north=48)
    with pytest.raises(InputFileError) as exc:
        check(reference=ref)
    assert "does not overlap the grid (100, 60, 112, 70)" in _one_line(exc)


def test_reference_kind_typo_suggests(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "obu.tif")
    with pytest.raises(ConfigError) as exc:
        check(reference=ref, reference_kind="probabilty")
    assert "did you mean `probability`" in _one_line(exc)


def test_reference_epochs_must_be_run_epochs(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "obu.tif")
    with pytest.raises(ConfigError) as exc:
        check(reference=ref, reference_epochs=[1995, 2000])
    assert "reference_epochs [1995] are not epochs of the run [2000, 2010, 2020]" in _one_line(exc)
    with pytest.raises(ConfigError, match=r"compares nothing"):
        check(reference=ref, reference_epochs=[])
    with pytest.raises(ConfigError, match=r"holds '2000', not a year"):
        check(reference=ref, reference_epochs=["2000"])


def test_nodata_outside_the_band_type(check, tmp_path: Path) -> None:
    ref = _raster(tmp_path / "zones.tif", dtype="uint8", nodata=255)
    with pytest.raises(ConfigError) as exc:
        check(reference=ref, reference_nodata=-9999)
    assert "-9999 can never occur" in _one_line(exc) and "uint8" in str(exc.value)
    with pytest.raises(ConfigError, match=r"must be a number"):
        check(reference=ref, reference_nodata="255")
    assert check(reference=ref, reference_nodata=0)  # fits uint8: fine


def test_reference_options_without_reference(check) -> None:
    with pytest.raises(ConfigError) as exc:
        check(reference_kind="zones", reference_epochs=[2000])
    msg = _one_line(exc)
    assert "sets reference_kind, reference_epochs but no reference" in msg
    assert check(reference_kind="auto") == []  # the default is not a setting


# -- regions errors ------------------------------------------------------------------------------
def test_missing_regions(check, tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as exc:
        check(regions=tmp_path / "basins.gpkg")
    assert "basins.gpkg' does not exist" in _one_line(exc)


def test_truncated_regions(check, tmp_path: Path) -> None:
    full = _regions(tmp_path / "full.gpkg")
    bad = tmp_path / "regions.gpkg"
    bad.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with pytest.raises(InputFileError) as exc:
        check(regions=bad)
    assert "regions.gpkg cannot be read" in _one_line(exc)


def test_name_column_typo_suggests(check, tmp_path: Path) -> None:
    reg = _regions(tmp_path / "r.gpkg", basin_name=["a", "b"])
    with pytest.raises(ConfigError) as exc:
        check(regions=reg, region_name_column="basin_nmae")
    msg = _one_line(exc)
    assert "'basin_nmae' is not a column" in msg and "did you mean `basin_name`" in msg


def test_regions_without_crs(check, tmp_path: Path) -> None:
    reg = _regions(tmp_path / "r.shp")
    reg.with_suffix(".prj").unlink()
    with pytest.raises(InputFileError) as exc:
        check(regions=reg)
    assert "has no CRS" in _one_line(exc) and "ogr2ogr -a_srs" in str(exc.value)


def test_point_regions_are_refused(check, tmp_path: Path) -> None:
    reg = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(101, 61)], crs=4326).to_file(reg)
    with pytest.raises(DataError, match=r"holds Point geometries; regions must be Polygon"):
        check(regions=reg)


def test_name_column_without_regions(check) -> None:
    with pytest.raises(ConfigError, match=r"region_name_column = 'name' but no regions"):
        check(region_name_column="name")


def test_regions_off_the_grid_is_a_note(check, tmp_path: Path) -> None:
    reg = tmp_path / "alps.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(5, 45, 10, 48)], crs=4326).to_file(reg)
    assert check(regions=reg)[1].endswith(
        "lie outside the grid (100, 60, 112, 70); their areas will be 0"
    )


# -- numeric options -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"lat_band_deg": 0}, r"lat_band_deg = 0 must be a positive number"),
        ({"lat_band_deg": float("nan")}, r"lat_band_deg = nan"),
        ({"lat_band_deg": "10"}, r"lat_band_deg = '10'"),
        ({"elevation_edges_m": [500, 0]}, r"strictly increasing"),
        ({"elevation_edges_m": []}, r"non-empty"),
        ({"elevation_edges_m": "0,500"}, r"must be a list of heights"),
        ({"elevation_edges_m": [0, "500"]}, r"holds '500', not a finite number"),
    ],
)
def test_numeric_options(check, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        check(**kw)
    _one_line(exc)
