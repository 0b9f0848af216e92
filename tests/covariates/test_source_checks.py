"""Header-level checks of the covariate readers: notes for the plan, one-line input errors."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from permamap.covariates.sources.copdem import CopernicusDEM, tile_name
from permamap.covariates.sources.from_config import sources_from_config
from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.covariates.sources.ncep import etopo20, ncep_cmap_climatology
from permamap.covariates.sources.real import RealSources
from permamap.covariates.sources.soilgrids import SoilGrids
from permamap.covariates.sources.worldclim import WorldClimClimatology, WorldClimMonthly
from permamap.errors import ConfigError, DataError, GridMismatchError, InputFileError
from permamap.grid import Grid

from .conftest import write_tif

GRID = Grid.from_bounds((100, 60, 101, 61), 1 / 12)
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-coarse"


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _worldclim(folder: Path, years: range, zipped: bool = True) -> Path:
    """WorldClim 2.1 monthly weather (CRU-TS 4.09 names): decade zips of 12 monthly GeoTIFFs."""
    folder.mkdir(parents=True, exist_ok=True)
    tif = write_tif(
        folder / "tmp" / "m.tif",
        np.full((48, 48), 1.0, "float32"),
        from_origin(99, 62, 1 / 24, 1 / 24),
        nodata=-3.4e38,
    )
    for var in ("tmin", "tmax", "prec"):
        for decade in sorted({y // 10 * 10 for y in years}):
            members = [(y, m) for y in years if y // 10 * 10 == decade for m in range(1, 13)]
            if not zipped:
                for y, m in members:
                    (folder / f"wc2.1_cruts4.09_2.5m_{var}_{y}-{m:02d}.tif").write_bytes(
                        tif.read_bytes()
                    )
                continue
            name = f"wc2.1_cruts4.09_2.5m_{var}_{decade}-{decade + 9}.zip"
            with zipfile.ZipFile(folder / name, "w") as zf:
                for y, m in members:
                    zf.write(tif, f"wc2.1_cruts4.09_2.5m_{var}_{y}-{m:02d}.tif")
    (folder / "tmp" / "m.tif").unlink()
    return folder


# -- notes and speed ----------------------------------------------------------------------------
def test_worldclim_check_reads_324_headers_quickly(tmp_path: Path) -> None:
    src = WorldClimMonthly([_worldclim(tmp_path / "wc", range(1996, 2005))])
    start = time.perf_counter()
    notes = src.check(GRID, [2000], 9)
    elapsed = time.perf_counter() - start
    assert notes == ["WorldClim 2.1 monthly 2.5m, years 1996-2004, 324 files"]
    assert elapsed < 1.0, f"header check took {elapsed:.2f} s"
    with pytest.raises(
        DataError, match=r"epoch 2002 needs years 1998-2006.*missing years: \[2005, 2006\]"
    ):
        src.check(GRID, [2000, 2002], 9)


def test_real_sources_check_and_windows(tmp_path: Path) -> None:
    tr = from_origin(99, 62, 0.25, 0.25)
    t = write_tif(tmp_path / "t.tif", np.full((12, 8, 12), -5.0, "float32"), tr)
    p = write_tif(tmp_path / "p.tif", np.full((12, 8, 12), 1.0, "float32"), tr)
    half = write_tif(tmp_path / "z.tif", np.zeros((8, 6), "float32"), tr)  # 99-100.5 E
    g = Grid.from_bounds((100, 60, 101, 61), 0.25)
    src = RealSources(
        {
            "climate": GenericMonthlyClimate(
                GenericRaster(t, "degC", "temperature"), GenericRaster(p, "mm/day", "precipitation")
            ),
            "elevation": GenericRaster(half, "m", "length", coverage="partial", name="DEM"),
        }
    )
    notes = src.check(g, [2000, 2010], 9)
    assert notes == [
        "climate: generic monthly climate, climatology without years (the same climate for "
        "every epoch), 2 files of 12 months",
        "elevation: DEM, length in m, partial coverage, 50 % of the grid",
        "snow: derived from generic monthly climate (degree-day snow rule)",
    ]
    windows = src.windows(9)
    assert set(windows) == set(src.factor_names)
    assert windows["maat"].startswith("long-term mean") and windows["elevation"] == ""
    # a half-covering DEM with the default coverage is an error naming the short edge
    strict = GenericRaster(half, "m", "length")
    with pytest.raises(GridMismatchError, match=r"z\.tif"):
        strict.check(g)
    # a partial layer that misses the grid entirely is still an error
    far = write_tif(tmp_path / "far.tif", np.zeros((4, 4), "float32"), from_origin(0, 10, 1, 1))
    with pytest.raises(GridMismatchError, match=r"does not overlap the grid"):
        GenericRaster(far, "m", "length", coverage="partial").check(g)


def test_generic_series_check_lists_missing_years(tmp_path: Path) -> None:
    tr = from_origin(99, 62, 0.25, 0.25)
    series = {}
    for y in (1999, 2000, 2001):
        t = write_tif(tmp_path / f"t{y}.tif", np.full((12, 8, 12), -5.0, "float32"), tr)
        p = write_tif(tmp_path / f"p{y}.tif", np.full((12, 8, 12), 30.0, "float32"), tr)
        series[y] = (
            GenericRaster(t, "degC", "temperature"),
            GenericRaster(p, "mm", "precipitation"),
        )
    clim = GenericMonthlyClimate(series=series, name="series")
    assert clim.check(GRID, [2000], 3) == ["series, years 1999-2001, 6 files of 12 months"]
    with pytest.raises(DataError, match=r"missing years: \[2002\]"):
        clim.check(GRID, [2001], 3)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real-coarse is absent")
def test_real_coarse_check_is_fast() -> None:
    src = RealSources(
        {
            "climate": ncep_cmap_climatology(
                REAL / "ncep-air-ltm" / "air.mon.ltm.nc",
                REAL / "cmap-precip-ltm" / "precip.mon.ltm.nc",
            ),
            "elevation": etopo20(REAL / "ferret-etopo" / "etopo20.cdf"),
        }
    )
    g = Grid.from_bounds((25, 25, 180, 84), 1.0)
    start = time.perf_counter()
    notes = src.check(g, [2000, 2010], 9)
    assert time.perf_counter() - start < 1.0
    assert notes[0].startswith("climate: NCEP/NCAR + CMAP long-term means")
    assert notes[1] == "elevation: ETOPO20 relief (ETOPO5-derived), 20 arc-min, length in m"


# -- one-line errors for unreadable inputs ------------------------------------------------------
def test_generic_truncated_geotiff_netcdf_text_and_empty(tmp_path: Path) -> None:
    tr = from_origin(99, 62, 1 / 24, 1 / 24)
    cut = _truncate(write_tif(tmp_path / "cut.tif", np.ones((72, 72), "float32"), tr))
    with pytest.raises(InputFileError, match=r"cut\.tif\) is truncated.*download it again"):
        GenericRaster(cut, "m").check(GRID)
    with pytest.raises(InputFileError, match=r"cut\.tif\) could not be read.*download it again"):
        GenericRaster(cut, "m").read(GRID, GRID.full_window)
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster")
    with pytest.raises(InputFileError, match=r"notes\.tif\) cannot be (opened|read) as a raster"):
        GenericRaster(text, "m").check(GRID)
    with pytest.raises(InputFileError, match=r"notes\.tif\) cannot be (opened|read) as a raster"):
        GenericRaster(text, "m").read(GRID, GRID.full_window)
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty \(0 bytes\)"):
        GenericRaster(empty, "m").check(GRID)
    nc = tmp_path / "t.nc"
    _write_nc(nc)
    assert GenericRaster(nc, "degC", "temperature", variable="t", crs="EPSG:4326").check(
        GRID, bands=[1]
    )
    with pytest.raises(
        InputFileError, match=r"cannot be opened as a raster.*or has no variable `tt`"
    ):
        GenericRaster(nc, "degC", "temperature", variable="tt", crs="EPSG:4326").check(GRID)
    _truncate(nc, 0.6)
    with pytest.raises(
        InputFileError, match=r"t\.nc.*cannot be opened as a raster.*download it again"
    ):
        GenericRaster(nc, "degC", "temperature", variable="t", crs="EPSG:4326").check(GRID)


def _write_nc(path: Path) -> None:
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("lat", 8)
        ds.createDimension("lon", 12)
        lat = ds.createVariable("lat", "f4", ("lat",))
        lon = ds.createVariable("lon", "f4", ("lon",))
        lat[:] = 61.875 - np.arange(8) * 0.25
        lon[:] = 99.125 + np.arange(12) * 0.25
        lat.units, lon.units = "degrees_north", "degrees_east"
        v = ds.createVariable("t", "f4", ("lat", "lon"))
        v[:] = np.full((8, 12), -3.0, "float32")


def test_worldclim_truncated_zip_member_and_empty_folder(tmp_path: Path) -> None:
    folder = _worldclim(tmp_path / "wc", range(2000, 2001))
    _truncate(next(folder.glob("*tmax*.zip")))
    with pytest.raises(
        InputFileError, match=r"tmax_2000-2009\.zip is not a valid zip archive.*again"
    ):
        WorldClimMonthly([folder])
    plain = _worldclim(tmp_path / "plain", range(2000, 2001), zipped=False)
    _truncate(plain / "wc2.1_cruts4.09_2.5m_prec_2000-07.tif")
    src = WorldClimMonthly([plain])
    with pytest.raises(InputFileError, match=r"prec 2000-07.*is truncated"):
        src.check(GRID, [2000], 1)
    (tmp_path / "none").mkdir()
    with pytest.raises(InputFileError, match=r"no WorldClim monthly files"):
        WorldClimMonthly([tmp_path / "none"])
    with pytest.raises(InputFileError, match=r"lacks the 12 months"):
        WorldClimClimatology([tmp_path / "none"])


def test_worldclim_files_on_another_grid(tmp_path: Path) -> None:
    plain = _worldclim(tmp_path / "plain", range(2000, 2001), zipped=False)
    write_tif(
        plain / "wc2.1_cruts4.09_2.5m_tmax_2000-03.tif",
        np.ones((24, 24), "float32"),
        from_origin(99, 62, 1 / 12, 1 / 12),
    )
    with pytest.raises(InputFileError, match=r"tmax 2000-03.*all files of one source must share"):
        WorldClimMonthly([plain]).check(GRID, [2000], 1)


def test_soilgrids_and_copdem_truncated(tmp_path: Path) -> None:
    cut = _truncate(
        write_tif(
            tmp_path / "clay.tif",
            np.full((60, 60), 200, "int16"),
            from_origin(99.5, 61.5, 1 / 40, 1 / 40),
            nodata=-32768,
        )
    )
    with pytest.raises(InputFileError, match=r"clay\.tif\) is truncated"):
        SoilGrids(cut, "clay").check(GRID)
    junk = tmp_path / "sand.tif"
    junk.write_text("<html>404</html>")
    with pytest.raises(InputFileError, match=r"sand\.tif cannot be opened as a raster"):
        SoilGrids(junk, "sand")
    dem = tmp_path / "dem"
    for lon in (100,):
        name = tile_name(60, lon, 30)
        write_tif(
            dem / name / f"{name}.tif",
            np.full((12, 12), 5.0, "float32"),
            from_origin(lon, 61, 1 / 12, 1 / 12),
        )
    src = CopernicusDEM(dem, arcsec=30)
    assert src.check(GRID) == [f"{src.name}, 1 tiles under the grid"]
    _truncate(next(dem.rglob("*.tif")), 0.3)
    with pytest.raises(InputFileError, match=r"Copernicus DEM tile .* is truncated"):
        src.check(GRID)
    wide = Grid.from_bounds((100, 60, 102, 61), 0.25)
    with pytest.raises(InputFileError, match=r"N60_00_E101_00_DEM.*download_copdem"):
        src.check(wide)
    (tmp_path / "nodem").mkdir()
    with pytest.raises(InputFileError, match=r"no Copernicus DEM tiles"):
        CopernicusDEM(tmp_path / "nodem", arcsec=30)


# -- config: coverage key, "did you mean" ---------------------------------------------------------
@pytest.fixture
def rasters(tmp_path: Path) -> Path:
    tr = from_origin(99, 62, 0.25, 0.25)
    write_tif(tmp_path / "t.tif", np.full((12, 8, 12), -5.0, "float32"), tr)
    write_tif(tmp_path / "p.tif", np.full((12, 8, 12), 1.0, "float32"), tr)
    write_tif(tmp_path / "z.tif", np.zeros((8, 6), "float32"), tr)
    return tmp_path


def _climate() -> dict[str, object]:
    return {
        "type": "generic",
        "temperature": {"path": "t.tif", "units": "degC"},
        "precipitation": {"path": "p.tif", "units": "mm/day", "coverage": "partial"},
    }


def test_config_coverage_key_reaches_the_readers(rasters: Path) -> None:
    src = sources_from_config(
        {
            "climate": _climate(),
            "elevation": {"type": "generic", "path": "z.tif", "units": "m", "coverage": "partial"},
        },
        rasters,
    )
    assert src.config.elevation.coverage == "partial"  # type: ignore[union-attr]
    assert src.config.climate.precipitation.coverage == "partial"  # type: ignore[attr-defined]
    g = Grid.from_bounds((100, 60, 101, 61), 0.25)
    assert "partial coverage, 50 % of the grid" in src.check(g, [2000], 9)[1]


@pytest.mark.parametrize(
    ("table", "pattern"),
    [
        (
            {
                "elevation": {
                    "type": "generic",
                    "path": "z.tif",
                    "units": "m",
                    "coverage": "parital",
                }
            },
            r"coverage = 'parital' is not allowed \(did you mean `partial`\?\); use one of 'full', 'partial'",
        ),
        (
            {"elevation": {"type": "etopo20", "paht": "z.tif"}},
            r"unknown key `paht` = 'z.tif' \(did you mean `path`\?\)",
        ),
        (
            {"elevation": {"type": "copdme", "folder": "."}},
            r"type = 'copdme' is not a elevation reader \(did you mean `copdem`\?\)",
        ),
        ({"elevaton": {}}, r"unknown key `elevaton` \(did you mean `elevation`\?\)"),
        (
            {"soil": {"clya": {"type": "soilgrids", "path": "z.tif"}}},
            r"unknown factor\(s\) \['clya'\] \(did you mean `clay`\?\)",
        ),
    ],
)
def test_config_typos_get_suggestions(
    rasters: Path, table: dict[str, object], pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern):
        sources_from_config({"climate": _climate(), **table}, rasters)


def test_modis_geotiff_check_and_truncated_tile(tmp_path: Path) -> None:
    from permamap.covariates.sources.modis import ModisSnow

    tr = from_origin(100, 61, 1 / 240, 1 / 240)
    for doy in range(1, 4):
        write_tif(
            tmp_path / f"MOD10A1.061_NDSI_Snow_Cover_doy2001{doy:03d}_aid0001.tif",
            np.full((240, 240), 80, "uint8"),
            tr,
            nodata=255,
        )
    g = Grid.from_bounds((100, 60.5, 101, 61), 1 / 12)
    src = ModisSnow(tmp_path, "MOD10A1", min_valid_days=1)
    assert src.check(g, [2001], 1) == ["MODIS MOD10A1 snow cover, years 2001, 3 files (GeoTIFF)"]
    with pytest.raises(GridMismatchError, match=r"covers 50 % of the grid"):
        src.check(Grid.from_bounds((100, 60, 102, 61), 1 / 12), [2001], 1)
    _truncate(tmp_path / "MOD10A1.061_NDSI_Snow_Cover_doy2001002_aid0001.tif")
    with pytest.raises(InputFileError, match=r"doy2001002_aid0001\.tif\) is truncated"):
        src.check(g, [2001], 1)
