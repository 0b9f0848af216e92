"""WorldClim 2.1 CMIP6 futures on small files in the real names and 12-band layout, served by the
local test server; the generic future source; the delta method with known answers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from permamap.covariates.download import ChecksumError, NotFoundError
from permamap.covariates.sources import ClimateSource
from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.covariates.sources.worldclim_cmip6 import (
    DeltaMethodClimate,
    GenericFutureClimate,
    WorldClimCMIP6,
    cmip6_name,
    cmip6_url,
    delta_monthly,
    download_cmip6,
)
from permamap.errors import ConfigError, DataError, InputFileError

from .conftest import write_tif

RES_10M = 1 / 6
GRID_BOUNDS = (100.5, 60.5, 101.5, 61.5)
NODATA = -3.4e38
MONTHS = np.arange(1, 13, dtype="float32").reshape(12, 1, 1)
# the rule of the test files: tmin = -20 + m, tmax = -10 + m (so t = -15 + m), prec = 10 m
RULE = {"tmin": -20.0 + MONTHS, "tmax": -10.0 + MONTHS, "prec": 10.0 * MONTHS}


def _grid():
    from permamap.grid import Grid

    return Grid.from_bounds(GRID_BOUNDS, 1 / 12)


def _cmip6_file(
    folder: Path, var: str, gcm: str, ssp: str, period: str, shift: float = 0.0, **kw: object
) -> Path:
    """One WorldClim CMIP6 file at 10′ (EPSG:4326, 12 bands, float32, -3.4e38 nodata) over
    99–103 °E, 59–63 °N; the south-west source pixel is nodata."""
    data = np.broadcast_to(RULE[var] + shift, (12, 24, 24)).astype("float32").copy()
    data[:, -1, 0] = NODATA
    path = folder / "10m" / gcm / ssp / cmip6_name(var, gcm, ssp, period, "10m")
    return write_tif(path, data, from_origin(99, 63, RES_10M, RES_10M), nodata=NODATA, **kw)


def _set(folder: Path, gcm: str = "ACCESS-CM2", ssp: str = "ssp126", period: str = "2041-2060"):
    return [_cmip6_file(folder, v, gcm, ssp, period) for v in ("tmin", "tmax", "prec")]


# -- names and validation -----------------------------------------------------------------------
def test_names_follow_the_worldclim_layout() -> None:
    assert cmip6_name("tmin", "ACCESS-CM2", "ssp126", "2021-2040") == (
        "wc2.1_10m_tmin_ACCESS-CM2_ssp126_2021-2040.tif"
    )
    assert cmip6_url("tmax", "UKESM1-0-LL", "ssp370", "2061-2080", "30s") == (
        "https://geodata.ucdavis.edu/cmip6/30s/UKESM1-0-LL/ssp370/"
        "wc2.1_30s_tmax_UKESM1-0-LL_ssp370_2061-2080.tif"
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("tmin", "ACCESS-CM3", "ssp126", "2021-2040", "10m"), r"GCM 'ACCESS-CM3'.*`ACCESS-CM2`"),
        (("tmin", "MIROC6", "585", "2021-2040", "10m"), r"SSP '585'.*ssp126, .*`ssp585`"),
        (("tmin", "MIROC6", "ssp585", "2050", "10m"), r"period '2050' is not one of 2021-2040"),
        (("tmin", "MIROC6", "ssp585", "2081-2100", "2.5"), r"resolution '2.5'.*`2.5m`"),
        (("tmean", "MIROC6", "ssp585", "2081-2100", "10m"), r"variable 'tmean'.*`tmin`"),
        (("tmin", "miroc6", "ssp585", "2081-2100", "10m"), r"`MIROC6`"),
    ],
)
def test_unknown_values_name_the_choices(args: tuple[str, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cmip6_name(*args)


# -- download -----------------------------------------------------------------------------------
def test_download_resume_and_checksum(http_server: tuple[str, object], tmp_path: Path) -> None:
    base, state = http_server
    www: Path = state.root  # type: ignore[attr-defined]
    served = _set(www)
    cache = tmp_path / "cache"
    cache.mkdir()
    tmin = served[0].read_bytes()
    (cache / f"{served[0].name}.part").write_bytes(tmin[:1000])  # an earlier run stopped here
    paths = download_cmip6("ACCESS-CM2", "ssp126", "2041-2060", cache, base=base)
    assert [p.name for p in paths] == [p.name for p in served]
    assert all(p.read_bytes() == s.read_bytes() for p, s in zip(paths, served, strict=True))
    ranged = [r for path, r in state.requests if path.endswith(served[0].name)]  # type: ignore[attr-defined]
    assert ranged == ["bytes=1000-"]
    assert not (cache / f"{served[0].name}.part").exists()

    n = len(state.requests)  # type: ignore[attr-defined]
    download_cmip6(["ACCESS-CM2"], ["ssp126"], ["2041-2060"], cache, base=base)
    assert len(state.requests) == n  # type: ignore[attr-defined]  # all from the cache

    wrong = {served[2].name: "0" * 64}
    with pytest.raises(ChecksumError, match="does not match the expected 0000"):
        download_cmip6(
            "ACCESS-CM2", "ssp126", "2041-2060", tmp_path / "c2", base=base, sha256=wrong
        )
    assert not (tmp_path / "c2" / served[2].name).exists()
    right = {s.name: hashlib.sha256(s.read_bytes()).hexdigest() for s in served}
    assert (
        len(
            download_cmip6(
                "ACCESS-CM2", "ssp126", "2041-2060", tmp_path / "c2", base=base, sha256=right
            )
        )
        == 3
    )


def test_download_validates_everything_first_and_explains_a_404(
    http_server: tuple[str, object], tmp_path: Path
) -> None:
    base, state = http_server
    with pytest.raises(ConfigError, match="GCM 'GFDL-ESM5'"):
        download_cmip6(["ACCESS-CM2", "GFDL-ESM5"], "ssp126", "2041-2060", tmp_path, base=base)
    assert state.requests == []  # type: ignore[attr-defined]  # nothing fetched before the check
    with pytest.raises(NotFoundError, match=r"no tmin for GFDL-ESM4 ssp245 2041-2060.*every SSP"):
        download_cmip6("GFDL-ESM4", "ssp245", "2041-2060", tmp_path, base=base)


# -- reader -------------------------------------------------------------------------------------
def test_reader_gives_known_monthly_values_on_the_grid(tmp_path: Path) -> None:
    _set(tmp_path)
    g = _grid()
    src = WorldClimCMIP6([tmp_path], "ACCESS-CM2", "ssp126", "2041-2060")
    assert isinstance(src, ClimateSource) and src.available_years() is None
    assert src.check(g, [2000], 9) == [
        "WorldClim 2.1 CMIP6 ACCESS-CM2 ssp126 2041-2060 (10m), 3 files of 12 months"
    ]
    t, p = src.monthly_means(g, g.full_window, [])
    assert t.shape == p.shape == (12, *g.shape) and t.dtype == p.dtype == np.float32
    np.testing.assert_allclose(t[:, 5, 5], -15.0 + np.arange(1, 13), atol=1e-5)
    np.testing.assert_allclose(p[:, 5, 5], 10.0 * np.arange(1, 13), atol=1e-4)
    # a window reads the same cells
    from rasterio.windows import Window

    tw, _ = src.monthly_means(g, Window(4, 3, 5, 6), [])
    np.testing.assert_array_equal(tw, t[:, 3:9, 4:9])


def test_reader_maps_nodata_to_nan(tmp_path: Path) -> None:
    _set(tmp_path)
    from permamap.grid import Grid

    g = Grid.from_bounds((99, 59, 101, 61), RES_10M)  # the source's own pixels
    t, p = WorldClimCMIP6(tmp_path, "ACCESS-CM2", "ssp126", "2041-2060").monthly_means(
        g, g.full_window, []
    )
    assert np.isnan(t[:, -1, 0]).all() and np.isnan(p[:, -1, 0]).all()
    assert np.isfinite(t[:, :-1]).all() and np.isfinite(t[:, -1, 1:]).all()
    assert np.isnan(t).sum() == 12


def test_reader_missing_file_names_the_download(tmp_path: Path) -> None:
    _set(tmp_path)
    (
        tmp_path
        / "10m"
        / "ACCESS-CM2"
        / "ssp126"
        / cmip6_name("prec", "ACCESS-CM2", "ssp126", "2041-2060")
    ).unlink()
    with pytest.raises(
        InputFileError,
        match=r"wc2.1_10m_prec_ACCESS-CM2_ssp126_2041-2060.tif not found.*download_cmip6\('ACCESS-CM2'",
    ):
        WorldClimCMIP6([tmp_path], "ACCESS-CM2", "ssp126", "2041-2060")
    with pytest.raises(ConfigError, match="`ssp126`"):
        WorldClimCMIP6([tmp_path], "ACCESS-CM2", "ssp12", "2041-2060")


def test_reader_checks_bands_resolution_and_fill_values(tmp_path: Path) -> None:
    g = _grid()
    # 13 bands
    _set(tmp_path / "a")
    bad = (
        tmp_path
        / "a"
        / "10m"
        / "ACCESS-CM2"
        / "ssp126"
        / cmip6_name("tmax", "ACCESS-CM2", "ssp126", "2041-2060")
    )
    write_tif(bad, np.zeros((13, 24, 24), "float32"), from_origin(99, 63, RES_10M, RES_10M))
    with pytest.raises(
        InputFileError, match=r"tmax.* has 13 bands, but a WorldClim CMIP6 tmax file has 12"
    ):
        WorldClimCMIP6([tmp_path / "a"], "ACCESS-CM2", "ssp126", "2041-2060").check(g)
    # bands described out of order
    _set(tmp_path / "b")
    path = _cmip6_file(tmp_path / "b", "tmin", "ACCESS-CM2", "ssp126", "2041-2060")
    with rasterio.open(path, "r+") as ds:
        for b in range(1, 13):
            ds.set_band_description(b, f"tmin{13 - b:02d}")
    with pytest.raises(InputFileError, match=r"band 1 is described as 'tmin12', expected month 1"):
        WorldClimCMIP6([tmp_path / "b"], "ACCESS-CM2", "ssp126", "2041-2060").check(g)
    with rasterio.open(path, "r+") as ds:  # the right order passes
        for b in range(1, 13):
            ds.set_band_description(b, f"tmin{b:02d}")
    assert WorldClimCMIP6([tmp_path / "b"], "ACCESS-CM2", "ssp126", "2041-2060").check(g)
    # a 5' file under a 10' name
    _set(tmp_path / "c")
    data = np.broadcast_to(RULE["prec"], (12, 48, 48)).astype("float32")
    write_tif(
        tmp_path / "c" / cmip6_name("tmin", "ACCESS-CM2", "ssp126", "2041-2060"),
        data,
        from_origin(99, 63, 1 / 12, 1 / 12),
    )
    for old in (tmp_path / "c" / "10m").rglob("*tmin*"):
        old.unlink()
    with pytest.raises(
        InputFileError, match=r"0.0833333° pixels, but WorldClim 10m files have 0.166667°"
    ):
        WorldClimCMIP6([tmp_path / "c"], "ACCESS-CM2", "ssp126", "2041-2060").check(g)
    # fill values the file does not declare as nodata
    d = tmp_path / "d"
    _set(d)
    prec = np.broadcast_to(RULE["prec"], (12, 24, 24)).astype("float32").copy()
    prec[:, 8:16, 8:16] = NODATA
    p = next(d.rglob("*_prec_*"))
    write_tif(p, prec, from_origin(99, 63, RES_10M, RES_10M), nodata=None)
    with pytest.raises(DataError, match=r"holds fill values .* not declare as nodata.*gdal_edit"):
        WorldClimCMIP6([d], "ACCESS-CM2", "ssp126", "2041-2060").monthly_means(g, g.full_window, [])


def test_reader_honours_a_declared_unit_and_checks_plausibility(tmp_path: Path) -> None:
    g = _grid()
    _set(tmp_path)
    tmax = next(tmp_path.rglob("*_tmax_*"))
    kelvin = np.broadcast_to(RULE["tmax"] + 273.15, (12, 24, 24)).astype("float32")
    write_tif(tmax, kelvin, from_origin(99, 63, RES_10M, RES_10M), nodata=NODATA)
    src = WorldClimCMIP6([tmp_path], "ACCESS-CM2", "ssp126", "2041-2060")
    with pytest.raises(
        DataError, match=r"'degC' have median 2[0-9.]+ .*unit 'K'"
    ):  # kelvin without a unit
        src.monthly_means(g, g.full_window, [])
    with rasterio.open(tmax, "r+") as ds:
        ds.units = ["K"] * 12
    t, _ = src.monthly_means(g, g.full_window, [])
    np.testing.assert_allclose(t[:, 2, 2], -15.0 + np.arange(1, 13), atol=1e-4)


# -- generic futures ----------------------------------------------------------------------------
def _netcdf(path: Path, name: str, values: np.ndarray, units: str) -> Path:
    lat = 62.9 - 0.2 * np.arange(20)
    lon = 99.1 + 0.2 * np.arange(20)
    da = xr.DataArray(
        np.broadcast_to(values, (12, 20, 20)).astype("float32"),
        dims=("month", "lat", "lon"),
        coords={"month": np.arange(1, 13), "lat": lat, "lon": lon},
        attrs={"units": units},
    )
    da.lat.attrs.update(units="degrees_north", standard_name="latitude")
    da.lon.attrs.update(units="degrees_east", standard_name="longitude")
    da.to_dataset(name=name).to_netcdf(path)
    return path


def test_generic_future_from_netcdf_with_a_month_dimension(tmp_path: Path) -> None:
    g = _grid()
    tas = _netcdf(tmp_path / "tas.nc", "tas", 273.15 - 15.0 + MONTHS, "K")
    pr = _netcdf(tmp_path / "pr.nc", "pr", MONTHS, "mm/day")
    fut = GenericFutureClimate(
        precipitation=GenericRaster(pr, "mm/day", "precipitation", variable="pr", crs="EPSG:4326"),
        temperature=GenericRaster(tas, "K", "temperature", variable="tas", crs="EPSG:4326"),
        name="MyGCM ssp585 2081-2100",
    )
    assert isinstance(fut, ClimateSource)
    assert fut.check(g) == ["MyGCM ssp585 2081-2100, 2 files of 12 months"]
    t, p = fut.monthly_means(g, g.full_window, [])
    np.testing.assert_allclose(t[:, 4, 4], -15.0 + np.arange(1, 13), atol=1e-4)
    days = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    np.testing.assert_allclose(p[:, 4, 4], np.arange(1, 13) * days, rtol=1e-3)


def test_generic_future_tmin_tmax_and_its_errors(tmp_path: Path) -> None:
    g = _grid()
    tr = from_origin(99, 63, RES_10M, RES_10M)
    files = {
        v: write_tif(
            tmp_path / f"{v}.tif", np.broadcast_to(RULE[v], (12, 24, 24)).astype("float32"), tr
        )
        for v in RULE
    }
    tmin = GenericRaster(files["tmin"], "degC", "temperature")
    tmax = GenericRaster(files["tmax"], "degC", "temperature")
    prec = GenericRaster(files["prec"], "mm", "precipitation")
    t, p = GenericFutureClimate(prec, tmin=tmin, tmax=tmax).monthly_means(g, g.full_window, [])
    np.testing.assert_allclose(t[:, 0, 0], -15.0 + np.arange(1, 13))
    np.testing.assert_allclose(p[:, 0, 0], 10.0 * np.arange(1, 13))
    with pytest.raises(ConfigError, match=r"either `temperature` .* or both `tmin` and `tmax`"):
        GenericFutureClimate(prec, tmin=tmin)
    with pytest.raises(ConfigError, match="either `temperature`"):
        GenericFutureClimate(prec, temperature=tmin, tmin=tmin, tmax=tmax)
    with pytest.raises(
        ConfigError,
        match=r"precipitation file .* quantity 'temperature'; it must be 'precipitation'",
    ):
        GenericFutureClimate(tmin, temperature=tmax)
    long = write_tif(tmp_path / "t24.tif", np.zeros((24, 24, 24), "float32"), tr)
    with pytest.raises(
        InputFileError, match=r"has 24 bands \(or time steps\), but a monthly climatology has 12"
    ):
        GenericFutureClimate(prec, temperature=GenericRaster(long, "degC", "temperature")).check(g)


# -- delta method -------------------------------------------------------------------------------
def test_delta_method_known_answers() -> None:
    t = delta_monthly(
        np.array([10.0, -5.0]), np.array([15.0, 2.0]), np.array([12.0, 0.5]), "temperature"
    )
    np.testing.assert_array_equal(t, [13.0, -3.5])
    p = delta_monthly(
        np.array([50.0, 8.0, 8.0, 8.0, 30.0, np.nan]),
        np.array([60.0, 0.0, 3.0, 0.5, 0.0, 10.0]),
        np.array([40.0, 0.0, 0.0, 0.25, 30.0, 10.0]),
        "precipitation",
    )
    # 50·60/40; dry in both -> baseline kept; 0 -> 3 mm: 3/1 (floor 1 mm); both under the floor;
    # future 0 -> max(0, 1)/30; NaN stays NaN
    np.testing.assert_allclose(p, [75.0, 8.0, 24.0, 8.0, 1.0, np.nan], rtol=1e-6)
    assert (
        delta_monthly(
            np.array([50.0]), np.array([3.0]), np.array([0.0]), "precipitation", floor_mm=2.0
        )[0]
        == 75.0
    )
    assert (
        delta_monthly(np.array([-1.0]), np.array([60.0]), np.array([40.0]), "precipitation")[0]
        == 0.0
    )
    with pytest.raises(ConfigError, match=r"delta kind 'temperatur'.*`temperature`"):
        delta_monthly(np.zeros(1), np.zeros(1), np.zeros(1), "temperatur")
    with pytest.raises(ValueError, match=r"must have one shape"):
        delta_monthly(np.zeros(2), np.zeros(3), np.zeros(2), "temperature")


def test_delta_method_source_end_to_end(tmp_path: Path) -> None:
    """WorldClim CMIP6 future (t = -15 + m, p = 10 m) minus a reference 2 °C colder and with 5 mm
    a month, applied to a baseline of -20 °C and 40 mm: t = -20 + (-15 + m) - (-17 + m) = -18,
    p = 40 · 10m / 5 = 80 m."""
    g = _grid()
    _set(tmp_path / "cmip6")
    tr = from_origin(99, 63, 0.25, 0.25)
    ref_t = write_tif(
        tmp_path / "ref_t.tif", np.broadcast_to(-17.0 + MONTHS, (12, 16, 16)).astype("float32"), tr
    )
    ref_p = write_tif(tmp_path / "ref_p.tif", np.full((12, 16, 16), 5.0, "float32"), tr)
    base_t = write_tif(tmp_path / "base_t.tif", np.full((12, 16, 16), -20.0, "float32"), tr)
    base_p = write_tif(tmp_path / "base_p.tif", np.full((12, 16, 16), 40.0, "float32"), tr)
    baseline = GenericMonthlyClimate(
        GenericRaster(base_t, "degC", "temperature"),
        GenericRaster(base_p, "mm", "precipitation"),
        name="baseline 1970-2000",
    )
    reference = GenericFutureClimate(
        GenericRaster(ref_p, "mm", "precipitation"),
        GenericRaster(ref_t, "degC", "temperature"),
        name="ACCESS-CM2 historical",
    )
    future = WorldClimCMIP6([tmp_path / "cmip6"], "ACCESS-CM2", "ssp126", "2041-2060")
    src = DeltaMethodClimate(baseline, future, reference, baseline_period=(1970, 2000))
    assert isinstance(src, ClimateSource) and src.available_years() is None
    t, p = src.monthly_means(g, g.full_window, [])
    np.testing.assert_allclose(t, -18.0, atol=1e-4)
    np.testing.assert_allclose(p[:, 3, 3], 80.0 * np.arange(1, 13), rtol=1e-5)
    assert not any("biased" in n for n in src.check(g, [1985], 9))

    late = DeltaMethodClimate(baseline, future, reference, baseline_period=(2016, 2024))
    notes = late.check(g, [2020], 9)
    assert any(
        "1970-2000 is 35 years before the baseline 2016-2024" in n and "biased" in n for n in notes
    )
    with pytest.raises(ConfigError, match=r"baseline period \(2024, 2016\)"):
        DeltaMethodClimate(baseline, future, reference, baseline_period=(2024, 2016))
