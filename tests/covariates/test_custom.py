"""Custom factors ([covariates.factors.<name>]) and the combined source, on tiny rasters with known values."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from permamap.covariates.catalogue import write_catalogue
from permamap.covariates.combined import CombinedSource
from permamap.covariates.custom import CustomFactor
from permamap.covariates.stack import build_stack, stack_is_current
from permamap.errors import ConfigError, GridMismatchError, InputFileError
from permamap.grid import Grid

from .conftest import write_tif

GRID = Grid.from_bounds((10, 50, 14, 52), 1.0)  # 2 rows x 4 cols
ON_GRID = Affine(1.0, 0, 10, 0, -1.0, 52)
VALUES = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype="float32")


def factor(tmp_path: Path, name: str = "ndvi", **table: object) -> CustomFactor:
    table.setdefault("kind", "continuous")
    table.setdefault("units", "1")
    return CustomFactor.from_table(name, table, tmp_path)


# -- reading ---------------------------------------------------------------------------------------
def test_static_continuous_on_identical_grid_equals_file(tmp_path: Path) -> None:
    data = VALUES.copy()
    data[1, 3] = -9999
    write_tif(tmp_path / "a.tif", data, ON_GRID, nodata=-9999)
    f = factor(tmp_path, path="a.tif")
    assert f.path == str(tmp_path / "a.tif") and not f.is_yearly
    out = f.read(GRID, None, 2000, 9)
    expected = VALUES.copy()
    expected[1, 3] = np.nan
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32
    # a window reads the same cells
    np.testing.assert_array_equal(f.read(GRID, Window(1, 0, 2, 2), 2000, 9), expected[:, 1:3])


def test_yearly_files_are_averaged_over_the_window(tmp_path: Path) -> None:
    for y in range(1998, 2003):
        write_tif(tmp_path / "ndvi" / f"ndvi_{y}.tif", VALUES * (y - 1997), ON_GRID)
    f = factor(tmp_path, path="ndvi/ndvi_{year}.tif")
    assert f.years == (1998, 1999, 2000, 2001, 2002)
    out = f.read(GRID, None, 2000, 3)  # 1999, 2000, 2001 -> factors 2, 3, 4
    np.testing.assert_allclose(out, VALUES * 3.0)
    assert f.window_label(3) == "3 years centred on the epoch (ndvi_{year}.tif)"


def test_yearly_mean_skips_nodata_years_of_a_cell(tmp_path: Path) -> None:
    for y, v in ((1999, 1.0), (2000, 2.0), (2001, 6.0)):
        data = np.full((2, 4), v, "float32")
        if y == 2001:
            data[0, 0] = -1
        write_tif(tmp_path / f"x_{y}.tif", data, ON_GRID, nodata=-1)
    out = factor(tmp_path, path="x_{year}.tif").read(GRID, None, 2000, 3)
    assert out[0, 0] == pytest.approx(1.5) and out[1, 1] == pytest.approx(3.0)


def test_categorical_coarsening_takes_the_mode_and_nodata_class_is_nan(tmp_path: Path) -> None:
    # source at 0.5 degree: each grid cell holds 2 x 2 source pixels
    fine = np.array(
        [
            [1, 1, 2, 2, 3, 0, 5, 0],
            [1, 2, 2, 3, 3, 3, 0, 0],
            [4, 4, 1, 2, 7, 7, 0, 0],
            [4, 1, 1, 2, 7, 8, 0, 0],
        ],
        dtype="uint8",
    )
    write_tif(tmp_path / "lc.tif", fine, Affine(0.5, 0, 10, 0, -0.5, 52), nodata=255)
    f = CustomFactor.from_table("landcover", {"path": "lc.tif", "kind": "categorical"}, tmp_path)
    assert f.units == "class"
    np.testing.assert_array_equal(f.read(GRID, None, 2000, 9), [[1, 2, 3, 0], [4, 1, 7, 0]])
    # class 0 declared nodata in the table: all-nodata cells become NaN, others keep their mode
    g = CustomFactor.from_table(
        "landcover", {"path": "lc.tif", "kind": "categorical", "nodata": 0}, tmp_path
    )
    out = g.read(GRID, None, 2000, 9)
    np.testing.assert_array_equal(out[:, :3], [[1, 2, 3], [4, 1, 7]])
    assert np.isnan(out[1, 3]) and out[0, 3] == 5  # [5, 0, 0, 0]: nodata skipped


def test_categorical_yearly_takes_the_mode_of_the_years(tmp_path: Path) -> None:
    for y, v in ((1999, 1), (2000, 2), (2001, 2)):
        write_tif(tmp_path / f"lc_{y}.tif", np.full((2, 4), v, "uint8"), ON_GRID)
    f = CustomFactor.from_table("lc", {"path": "lc_{year}.tif", "kind": "categorical"}, tmp_path)
    np.testing.assert_array_equal(f.read(GRID, None, 2000, 3), np.full((2, 4), 2.0))


def test_scale_and_offset_are_applied(tmp_path: Path) -> None:
    write_tif(tmp_path / "s.tif", (VALUES * 100).astype("int16"), ON_GRID)
    f = factor(tmp_path, path="s.tif", scale=0.01, offset=-1)
    np.testing.assert_allclose(f.read(GRID, None, 2000, 9), VALUES - 1, rtol=1e-6)


def test_partial_coverage_is_nan_outside_and_full_is_an_error(tmp_path: Path) -> None:
    write_tif(tmp_path / "west.tif", VALUES[:, :2].copy(), ON_GRID)  # covers 10-12 E only
    f = factor(tmp_path, path="west.tif", coverage="partial")
    out = f.read(GRID, None, 2000, 9)
    np.testing.assert_array_equal(out[:, :2], VALUES[:, :2])
    assert np.isnan(out[:, 2:]).all()
    notes = f.check(GRID, [2000], 9)
    assert "partial coverage: 50% of the grid" in notes[0]
    full = factor(tmp_path, path="west.tif")
    with pytest.raises(GridMismatchError, match="does not cover"):
        full.check(GRID, [2000], 9)
    with pytest.raises(GridMismatchError):
        full.read(GRID, None, 2000, 9)


def test_missing_year_is_an_error_listing_it(tmp_path: Path) -> None:
    for y in (1999, 2001):
        write_tif(tmp_path / f"n_{y}.tif", VALUES, ON_GRID)
    f = factor(tmp_path, path="n_{year}.tif")
    with pytest.raises(InputFileError, match=r"years \[2000\] have no file.*add n_2000.tif") as e:
        f.read(GRID, None, 2000, 3)
    assert "\n" not in str(e.value)
    with pytest.raises(InputFileError, match=r"\[2000\]"):
        f.check(GRID, [2000], 3)


def test_check_notes_and_years(tmp_path: Path) -> None:
    for y in range(1999, 2006):
        write_tif(tmp_path / f"n_{y}.tif", VALUES, ON_GRID)
    f = factor(tmp_path, path="n_{year}.tif", resampling="bilinear")
    notes = f.check(GRID, [2000, 2004], 3)
    assert notes == [
        "custom factor ndvi (continuous, 1): n_{year}.tif, 6 yearly files 1999-2001, 2003-2005, "
        "resampling bilinear"
    ]
    assert [y for y, _ in f.files([2000, 2004], 3)] == [1999, 2000, 2001, 2003, 2004, 2005]


def test_netcdf_variable(tmp_path: Path) -> None:
    netCDF4 = pytest.importorskip("netCDF4")
    path = tmp_path / "v.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("lat", 2)
        nc.createDimension("lon", 4)
        lat = nc.createVariable("lat", "f8", ("lat",))
        lat.units, lat.standard_name = "degrees_north", "latitude"
        lat[:] = [51.5, 50.5]
        lon = nc.createVariable("lon", "f8", ("lon",))
        lon.units, lon.standard_name = "degrees_east", "longitude"
        lon[:] = [10.5, 11.5, 12.5, 13.5]
        for name, mult in (("NDVI", 1.0), ("EVI", 10.0)):
            v = nc.createVariable(name, "f4", ("lat", "lon"))
            v[:] = VALUES * mult
    with pytest.raises(InputFileError, match=r"has no CRS.*crs = 'EPSG:4326'"):
        factor(tmp_path, path="v.nc", variable="NDVI").check(GRID, [2000], 9)
    f = factor(tmp_path, path="v.nc", variable="NDVI", crs="EPSG:4326")
    np.testing.assert_allclose(f.read(GRID, None, 2000, 9), VALUES)
    assert f.check(GRID, [2000], 9)[0].endswith("static, variable NDVI")
    with pytest.raises(InputFileError, match=r"no variable 'NDV' \(did you mean `NDVI`\?\)"):
        factor(tmp_path, path="v.nc", variable="NDV", crs="EPSG:4326").check(GRID, [2000], 9)
    with pytest.raises(InputFileError, match=r"add variable"):
        factor(tmp_path, path="v.nc", crs="EPSG:4326").check(GRID, [2000], 9)


# -- bad tables ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "table", "error", "match"),
    [
        ("ndvi", {"sacle": 2}, ConfigError, r"unknown key `sacle` \(did you mean `scale`\?\)"),
        ("ndvi", {"kind": "continous"}, ConfigError, r"did you mean `continuous`"),
        ("elevation", {}, ConfigError, r"built-in factor.*elevation_custom"),
        ("2ndvi", {}, ConfigError, r"must be an identifier.*f_2ndvi"),
        ("lc", {"kind": "categorical", "scale": 0.1}, ConfigError, r"categorical but has scale"),
        ("ndvi", {"path": None}, ConfigError, r"lacks the required key `path`"),
        ("ndvi", {"path": "n_{year}_{month}.tif"}, ConfigError, r"\{month\}.*only \{year\}"),
        ("ndvi", {"path": "n_{year:02d}.tif"}, ConfigError, r"\{year:02d\}"),
        ("ndvi", {"path": "missing.tif"}, InputFileError, r"does not exist"),
        ("ndvi", {"path": "none_{year}.tif"}, InputFileError, r"matches no file"),
        ("ndvi", {"resampling": "avrage"}, ConfigError, r"did you mean `average`"),
        ("lc", {"kind": "categorical", "resampling": "average"}, ConfigError, r"blend class"),
        ("ndvi", {"variable": "NDVI"}, ConfigError, r"not a NetCDF file"),
        ("ndvi", {"units": None}, ConfigError, r"required key `units`"),
        ("ndvi", {"band": 0}, ConfigError, r"band = 0"),
        ("ndvi", {"scale": "0.1"}, ConfigError, r"must be a number"),
        ("ndvi", {"coverage": "some"}, ConfigError, r"coverage = 'some'"),
        ("ndvi", {"crs": "EPSG:99999"}, ConfigError, r"crs 'EPSG:99999' is not a CRS"),
    ],
)
def test_bad_tables(
    tmp_path: Path, name: str, table: dict[str, object], error: type, match: str
) -> None:
    write_tif(tmp_path / "a.tif", VALUES, ON_GRID)
    full: dict[str, object] = {"path": "a.tif", "kind": "continuous", "units": "1"}
    full.update(table)
    full = {k: v for k, v in full.items() if v is not None}
    with pytest.raises(error, match=match) as e:
        CustomFactor.from_table(name, full, tmp_path)
    assert "\n" not in str(e.value)


# -- the combined source ---------------------------------------------------------------------------
class FakeBase:
    """A base source with four factors, constant values, and a truth."""

    def __init__(self) -> None:
        self.factor_names = ["maat", "elevation", "latitude", "longitude"]

    def factors(self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9):
        w = window or grid.full_window
        out = np.stack(
            [np.full((int(w.height), int(w.width)), v, "float32") for v in (-3.0, 500.0, 0, 0)]
        )
        lon, lat = grid.lonlat(w)
        out[2], out[3] = lat, lon
        return out

    def sources(self) -> dict[str, str]:
        return {
            "maat": "WorldClim",
            "elevation": "dem.tif",
            "latitude": "grid",
            "longitude": "grid",
        }

    def truth(self, grid: Grid, epoch: int, window: Window, window_years: int) -> np.ndarray:
        return np.ones((int(window.height), int(window.width)), "uint8")

    def check(self, grid: Grid, epochs: list[int], window_years: int) -> list[str]:
        return ["base ok"]


def _ndvi(tmp_path: Path) -> CustomFactor:
    data = VALUES.copy()
    data[0, 0] = -9999
    write_tif(tmp_path / "ndvi.tif", data, ON_GRID, nodata=-9999)
    return factor(tmp_path, path="ndvi.tif", description="greenness")


def test_base_none_gives_custom_and_grid_coordinates(tmp_path: Path) -> None:
    src = CombinedSource(None, [_ndvi(tmp_path)])
    assert src.factor_names == ["latitude", "longitude", "ndvi"]
    assert not src.has_truth and not hasattr(src, "truth")
    stack = src.factors(GRID, 2000, None, 9)
    assert stack.shape == (3, 2, 4) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[0, :, 1], [51.5, 50.5])
    np.testing.assert_allclose(stack[1, 1], [10.5, 11.5, 12.5, 13.5])
    np.testing.assert_array_equal(stack[2, 1], VALUES[1])
    # each band keeps its own no-data: the cell without ndvi still has its coordinates (the
    # maps remove cells missing any of the *model's* factors, predict.block)
    assert np.isnan(stack[2, 0, 0]) and not np.isnan(stack[:2, 0, 0]).any()
    assert not np.isnan(stack[:, 0, 1]).any()
    assert src.sources() == {
        "latitude": "grid",
        "longitude": "grid",
        "ndvi": str(tmp_path / "ndvi.tif"),
    }


def test_base_none_on_a_projected_grid_gives_geographic_coordinates(tmp_path: Path) -> None:
    g = Grid.from_bounds((500000, 5500000, 502000, 5501000), 1000.0, crs="EPSG:32633")
    write_tif(tmp_path / "u.tif", np.ones((1, 2), "float32"), g.transform, crs="EPSG:32633")
    src = CombinedSource(None, [factor(tmp_path, path="u.tif")], drop=[])
    lat, lon, u = src.factors(g, 2000)
    assert 15.0 < lon[0, 0] < lon[0, 1] < 15.1 and 49.6 < lat[0, 0] < 49.7
    np.testing.assert_array_equal(u, [[1.0, 1.0]])


def test_use_and_drop(tmp_path: Path) -> None:
    nd = _ndvi(tmp_path)
    base = FakeBase()
    src = CombinedSource(base, [nd])
    assert src.factor_names == ["maat", "elevation", "latitude", "longitude", "ndvi"]
    assert src.has_truth and src.truth(GRID, 2000, GRID.full_window, 9).shape == (2, 4)
    assert src.check(GRID, [2000], 9)[0] == "base ok"
    # use keeps catalogue order (built-ins) then config order (custom), whatever the listed order
    picked = CombinedSource(base, [nd], use=["ndvi", "elevation", "maat"])
    assert picked.factor_names == ["maat", "elevation", "ndvi"]
    stack = picked.factors(GRID, 2000, Window(1, 0, 3, 2), 9)
    np.testing.assert_array_equal(stack[1], np.full((2, 3), 500.0))
    np.testing.assert_array_equal(stack[2], VALUES[:, 1:4])
    dropped = CombinedSource(base, [nd], drop=["latitude", "longitude"])
    assert dropped.factor_names == ["maat", "elevation", "ndvi"]


@pytest.mark.parametrize(
    ("use", "drop", "match"),
    [
        (["mat"], [], r"unknown factor 'mat' \(did you mean `maat`\?\); available factors: maat"),
        (None, ["ndiv"], r"did you mean `ndvi`"),
        (["clay"], [], r"does not provide.*\[covariates.real.soil.clay\]"),
        (None, ["clay"], r"drop names \['clay'\].*does not provide"),
        (["maat"], ["maat"], r"both use and drop"),
        ([], [], r"leave no factor"),
    ],
)
def test_use_and_drop_errors(
    tmp_path: Path, use: list[str] | None, drop: list[str], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        CombinedSource(FakeBase(), [_ndvi(tmp_path)], use=use, drop=drop)
    assert "\n" not in str(e.value)


def test_use_with_source_none_names_the_provider(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'source = "none" does not provide.*\[covariates.real'):
        CombinedSource(None, [_ndvi(tmp_path)], use=["maat"])


def test_categorical_set(tmp_path: Path) -> None:
    write_tif(tmp_path / "lc.tif", np.ones((2, 4), "uint8"), ON_GRID)
    lc = CustomFactor.from_table("lc", {"path": "lc.tif", "kind": "categorical"}, tmp_path)
    src = CombinedSource(None, [_ndvi(tmp_path), lc])
    assert src.categorical == frozenset({"lc"})
    assert CombinedSource(None, [_ndvi(tmp_path), lc], drop=["lc"]).categorical == frozenset()


# -- catalogue -------------------------------------------------------------------------------------
def test_catalogue_rows_and_file(tmp_path: Path) -> None:
    for y in (1999, 2000, 2001):
        write_tif(tmp_path / f"lc_{y}.tif", np.ones((2, 4), "uint8"), ON_GRID)
    lc = CustomFactor.from_table(
        "lc",
        {"path": "lc_{year}.tif", "kind": "categorical", "description": "land cover"},
        tmp_path,
    )
    src = CombinedSource(FakeBase(), [_ndvi(tmp_path), lc], drop=["longitude"])
    rows = src.catalogue_rows(3)
    assert [r["name"] for r in rows] == ["maat", "elevation", "latitude", "ndvi", "lc"]
    by = {r["name"]: r for r in rows}
    assert by["maat"] == {
        "name": "maat",
        "unit": "degC",
        "kind": "climate",
        "source": "WorldClim",
        "window": "3 years centred on the epoch",
        "description": "mean annual air temperature",
    }
    assert by["elevation"]["window"] == "static" and by["elevation"]["source"] == "dem.tif"
    assert by["ndvi"] == {
        "name": "ndvi",
        "unit": "1",
        "kind": "custom-continuous",
        "source": str(tmp_path / "ndvi.tif"),
        "window": "static",
        "description": "greenness",
    }
    assert by["lc"]["kind"] == "custom-categorical" and by["lc"]["unit"] == "class"
    assert by["lc"]["source"] == str(tmp_path / "lc_{year}.tif")
    assert by["lc"]["window"] == "3 years centred on the epoch (lc_{year}.tif)"
    out = write_catalogue(tmp_path / "factors.csv", rows)
    with open(out, newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert read == rows


# -- fingerprint -----------------------------------------------------------------------------------
def test_fingerprint_change_makes_the_stack_stale(tmp_path: Path) -> None:
    nd = _ndvi(tmp_path)
    src = CombinedSource(None, [nd])
    fp = src.fingerprint(2000, 9)
    path = build_stack(src, GRID, 2000, tmp_path / "stack.tif", tile_shape=(1, 3), fingerprint=fp)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(), src.factors(GRID, 2000), strict=False)
        assert ds.tags()["factors_sha"] == fp
    assert stack_is_current(path, GRID, src.factor_names, fingerprint=fp)
    assert stack_is_current(path, GRID, src.factor_names)  # None: names and grid only
    # same file, new scale
    scaled = CombinedSource(None, [factor(tmp_path, path="ndvi.tif", scale=2.0)])
    assert scaled.fingerprint(2000, 9) != fp
    assert not stack_is_current(
        path, GRID, src.factor_names, fingerprint=scaled.fingerprint(2000, 9)
    )
    # same definition, the file rewritten
    write_tif(tmp_path / "ndvi.tif", VALUES + 1, ON_GRID, nodata=-9999)
    st = os.stat(tmp_path / "ndvi.tif")
    os.utime(tmp_path / "ndvi.tif", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not stack_is_current(path, GRID, src.factor_names, fingerprint=src.fingerprint(2000, 9))
    # another window length, another fingerprint
    assert src.fingerprint(2000, 9) != src.fingerprint(2000, 3)
    # without arguments: every file, no window
    assert src.fingerprint() == src.fingerprint() != src.fingerprint(2000, 9)


def test_fingerprint_covers_the_epoch_years_only(tmp_path: Path) -> None:
    for y in range(1999, 2004):
        write_tif(tmp_path / f"n_{y}.tif", VALUES, ON_GRID)
    src = CombinedSource(None, [factor(tmp_path, path="n_{year}.tif")])
    before = src.fingerprint(2000, 3)
    later = src.fingerprint(2002, 3)
    write_tif(tmp_path / "n_2003.tif", VALUES + 5, ON_GRID)  # only epoch 2002 reads 2003
    st = os.stat(tmp_path / "n_2003.tif")
    os.utime(tmp_path / "n_2003.tif", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    everything = src.fingerprint()
    assert src.fingerprint(2000, 3) == before
    assert src.fingerprint(2002, 3) != later
    os.utime(tmp_path / "n_1999.tif", ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert src.fingerprint() != everything


def test_year_in_a_folder_name_and_static_path_with_literal_braces(tmp_path: Path) -> None:
    for y in (1999, 2000, 2001):
        write_tif(tmp_path / str(y) / "ndvi.tif", VALUES * (y - 1998), ON_GRID)
    f = factor(tmp_path, path="{year}/ndvi.tif")
    assert f.years == (1999, 2000, 2001)
    np.testing.assert_allclose(f.read(GRID, None, 2000, 3), VALUES * 2.0)
    assert f.window_label(3) == "3 years centred on the epoch ({year}/ndvi.tif)"
    with pytest.raises(InputFileError, match=r"add 2002/ndvi.tif"):
        f.read(GRID, None, 2001, 3)
    write_tif(tmp_path / "a{b}.tif", VALUES, ON_GRID)
    g = factor(tmp_path, path="a{{b}}.tif")
    assert g.path == str(tmp_path / "a{b}.tif")
    np.testing.assert_array_equal(g.read(GRID, None, 2000, 9), VALUES)
