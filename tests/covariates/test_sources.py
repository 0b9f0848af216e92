"""Readers and downloaders of the real products, on small files in their real layouts."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.transform import from_origin

from permamap.covariates.factors import maat_degc
from permamap.covariates.sources.copdem import CopernicusDEM, download_copdem, tile_name
from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.covariates.sources.modis import ModisSnow
from permamap.covariates.sources.real import RealSources
from permamap.covariates.sources.soilgrids import HOMOLOSINE, SoilGrids, download_soilgrids
from permamap.covariates.sources.worldclim import (
    WorldClimClimatology,
    WorldClimMonthly,
    download_worldclim_monthly,
    monthly_zip_url,
)
from permamap.errors import ConfigError, DataError, InputFileError
from permamap.grid import Grid

from .conftest import write_tif

RES_25M = 1 / 24  # WorldClim 2.5 arc-min
GRID = Grid.from_bounds((100, 60, 101, 61), 1 / 12)


# -- WorldClim ----------------------------------------------------------------------------------
def _worldclim_zips(folder: Path, years: range) -> None:
    """Decade zips as WorldClim serves them (CRU-TS 4.09 names), one GeoTIFF per month."""
    tr = from_origin(99, 62, RES_25M, RES_25M)
    for var in ("tmin", "tmax", "prec"):
        by_period: dict[str, list[int]] = {}
        for y in years:
            by_period.setdefault(f"{y // 10 * 10}-{y // 10 * 10 + 9}", []).append(y)
        for period, ys in by_period.items():
            zpath = folder / f"wc2.1_cruts4.09_2.5m_{var}_{period}.zip"
            with zipfile.ZipFile(zpath, "w") as zf:
                for y in ys:
                    for m in range(1, 13):
                        base = {"tmin": -20.0, "tmax": -10.0, "prec": 30.0}[var]
                        val = base + (y - 2000) + (m if var != "prec" else 0)
                        tif = write_tif(
                            folder / "tmp" / "x.tif",
                            np.full((72, 72), val, "float32"),
                            tr,
                            nodata=-3.4e38,
                        )
                        zf.write(tif, f"wc2.1_cruts4.09_2.5m_{var}_{y}-{m:02d}.tif")


def test_worldclim_download_and_window_means(
    http_server: tuple[str, object], tmp_path: Path
) -> None:
    base, state = http_server
    www = state.root / "hist" / "cts4.09"  # type: ignore[attr-defined]
    www.mkdir(parents=True)
    _worldclim_zips(www, range(1998, 2003))
    assert monthly_zip_url("tmin", "2000-2009", base=base).endswith(
        "/hist/cts4.09/wc2.1_cruts4.09_2.5m_tmin_2000-2009.zip"
    )
    paths = download_worldclim_monthly(
        range(1999, 2002), tmp_path / "wc", base=base, progress=False
    )
    assert sorted(p.name for p in paths)[0] == "wc2.1_cruts4.09_2.5m_prec_1990-1999.zip"
    src = WorldClimMonthly([tmp_path / "wc"])
    assert src.available_years() == {1998, 1999, 2000, 2001, 2002}
    t, p = src.monthly_means(GRID, GRID.full_window, [1999, 2000, 2001])
    # mean over years of (tmin + tmax)/2 = (-20 + -10)/2 + (year - 2000) + month -> -15 + month
    np.testing.assert_allclose(t[:, 3, 3], -15.0 + np.arange(1, 13), atol=1e-5)
    np.testing.assert_allclose(p[:, 3, 3], 30.0, atol=1e-5)
    with pytest.raises(DataError, match=r"lacks years \[2003, 2004\]"):
        src.monthly_means(GRID, GRID.full_window, [2002, 2003, 2004])


def test_worldclim_climatology_and_missing_folder(tmp_path: Path) -> None:
    tr = from_origin(99, 62, 1 / 120, 1 / 120)
    for m in range(1, 13):
        write_tif(
            tmp_path / f"wc2.1_30s_tavg_{m:02d}.tif", np.full((240, 240), m - 10.0, "float32"), tr
        )
        write_tif(
            tmp_path / f"wc2.1_30s_prec_{m:02d}.tif",
            np.full((240, 240), 20, "int16"),
            tr,
            nodata=-32768,
        )
    src = WorldClimClimatology([tmp_path])
    assert src.available_years() is None
    t, p = src.monthly_means(GRID, GRID.full_window, [])
    np.testing.assert_allclose(t[:, 0, 0], np.arange(1, 13) - 10.0)
    assert float(p.sum(axis=0)[0, 0]) == pytest.approx(240.0)
    with pytest.raises(InputFileError, match="does not exist"):
        WorldClimMonthly([tmp_path / "nowhere"])


# -- SoilGrids ----------------------------------------------------------------------------------
def _soilgrids_tree(root: Path) -> None:
    """``clay/clay_0-5cm_mean.vrt`` + 4 Homolosine tiles (250 m, int16 g/kg) as ISRIC lays them out."""
    to_igh = Transformer.from_crs("EPSG:4326", HOMOLOSINE, always_xy=True)
    x, y = to_igh.transform(100.5, 60.5)
    x0, y0 = np.floor(x / 1e5) * 1e5 - 1e5, np.ceil(y / 1e5) * 1e5 + 1e5
    n = 400  # 400 × 250 m = 100 km per tile, 2 × 2 tiles
    sources = []
    for i in range(2):
        for j in range(2):
            rel = f"clay_0-5cm_mean/tileSG-{i:03d}-{j:03d}/tileSG-{i:03d}-{j:03d}_1-1.tif"
            write_tif(
                root / "clay" / rel,
                np.full((n, n), 100 * (1 + 2 * i + j), "int16"),
                from_origin(x0 + j * n * 250, y0 - i * n * 250, 250, 250),
                crs=HOMOLOSINE,
                nodata=-32768,
            )
            sources.append(
                f'<ComplexSource><SourceFilename relativeToVRT="1">{rel}</SourceFilename>'
                f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{n}" ySize="{n}"/>'
                f'<DstRect xOff="{j * n}" yOff="{i * n}" xSize="{n}" ySize="{n}"/><NODATA>-32768</NODATA></ComplexSource>'
            )
    from rasterio.crs import CRS

    (root / "clay" / "clay_0-5cm_mean.vrt").write_text(
        f'<VRTDataset rasterXSize="{2 * n}" rasterYSize="{2 * n}"><SRS>{CRS.from_proj4(HOMOLOSINE).to_wkt()}</SRS>'
        f"<GeoTransform>{x0}, 250.0, 0.0, {y0}, 0.0, -250.0</GeoTransform>"
        f'<VRTRasterBand dataType="Int16" band="1"><NoDataValue>-32768</NoDataValue>{"".join(sources)}'
        "</VRTRasterBand></VRTDataset>"
    )


def test_soilgrids_downloads_only_needed_tiles_and_converts_g_per_kg(
    http_server: tuple[str, object], tmp_path: Path
) -> None:
    base, state = http_server
    _soilgrids_tree(state.root)  # type: ignore[attr-defined]
    g = Grid.from_bounds((100.2, 60.3, 100.3, 60.4), 1 / 120)
    vrt = download_soilgrids("clay", g.bounds, tmp_path / "sg", base=base, progress=False)
    tiles = sorted(p.name for p in (tmp_path / "sg").rglob("tileSG-*.tif"))
    assert 1 <= len(tiles) < 4  # only the tiles under the grid
    clay = SoilGrids(vrt, "clay").read(g, g.full_window)
    # stored g/kg 100·k -> percent 10·k, one tile's value everywhere on this small grid
    assert np.isfinite(clay).all() and set(np.unique(clay)) <= {10.0, 20.0, 30.0, 40.0}


# -- Copernicus DEM -----------------------------------------------------------------------------
def test_copdem_mosaic_with_ocean_tile(http_server: tuple[str, object], tmp_path: Path) -> None:
    base, state = http_server
    # 3 land tiles of 1° (12 px, 60 s) and one missing (ocean); the N61 row has half the columns
    for lat, lon, h in [(60, 100, 100.0), (60, 101, 200.0), (61, 100, 300.0)]:
        name = tile_name(lat, lon, 30)
        cols = 6 if lat >= 61 else 12
        write_tif(
            state.root / name / f"{name}.tif",
            np.full((12, cols), h, "float32"),  # type: ignore[attr-defined]
            from_origin(lon, lat + 1, 1 / cols, 1 / 12),
        )
    folder = download_copdem(
        (100, 60, 102, 62), tmp_path / "dem", arcsec=30, base=base, progress=False
    )
    assert (folder / "absent_tiles.txt").read_text().split() == [tile_name(61, 101, 30)]
    dem = CopernicusDEM(folder, arcsec=30)
    g = Grid.from_bounds((100, 60, 102, 62), 0.5)
    out = dem.read(g, g.full_window)
    np.testing.assert_allclose(out[2:, :2], 100.0)
    np.testing.assert_allclose(out[2:, 2:], 200.0)
    np.testing.assert_allclose(out[:2, :2], 300.0)
    assert np.isnan(out[:2, 2:]).all()  # ocean
    with pytest.raises(
        InputFileError, match=r"Copernicus_DSM_COG_30_N62_00_E100_00_DEM.*download_copdem"
    ):
        dem.read(
            Grid.from_bounds((100, 61, 101, 63), 0.5),
            Grid.from_bounds((100, 61, 101, 63), 0.5).full_window,
        )


# -- MODIS --------------------------------------------------------------------------------------
def test_modis_daily_appeears_snow_days(tmp_path: Path) -> None:
    tr = from_origin(100, 61, 1 / 240, 1 / 240)  # ~500 m on a 1/12° grid: 20 × 20 cells per cell
    g = Grid.from_bounds((100, 60.5, 101, 61), 1 / 12)
    for doy in range(1, 41):
        v = np.full((120, 240), 80, "uint8") if doy <= 30 else np.zeros((120, 240), "uint8")
        if doy in (5, 6):
            v[:] = 250  # cloud: not an observation
        write_tif(
            tmp_path / f"MOD10A1.061_NDSI_Snow_Cover_doy2001{doy:03d}_aid0001.tif",
            v,
            tr,
            nodata=255,
        )
    src = ModisSnow(tmp_path, "MOD10A1", min_valid_days=10)
    days = src.snow_days(g, g.full_window, [2001])
    # 28 snow days out of 38 clear ones, scaled to the 365-day year
    np.testing.assert_allclose(days, 28 / 38 * 365, rtol=1e-5)
    with pytest.raises(DataError, match=r"lacks years \[2000, 2002\]"):
        src.snow_days(g, g.full_window, [2000, 2001, 2002])


def test_modis_monthly_cmg_and_hdf_error(tmp_path: Path) -> None:
    tr = from_origin(100, 61, 0.05, 0.05)
    g = Grid.from_bounds((100, 60.5, 101, 61), 0.25)
    for m in range(1, 13):
        doy = (dt.date(2003, m, 1) - dt.date(2003, 1, 1)).days + 1
        v = np.full((10, 20), 100 if m in (1, 2, 12) else 0, "uint8")
        write_tif(tmp_path / "cm" / f"MOD10CM.A2003{doy:03d}.061.2021.tif", v, tr, nodata=255)
    days = ModisSnow(tmp_path / "cm", "MOD10CM").snow_days(g, g.full_window, [2003])
    np.testing.assert_allclose(days, 31 + 28 + 31)
    (tmp_path / "hdf").mkdir()
    (tmp_path / "hdf" / "MOD10A1.A2001001.h23v02.061.2020.hdf").write_bytes(b"\x0e\x03\x13\x01")
    # HDF4 granules are read with pyhdf now; a cut-off one stops at the header check
    with pytest.raises(
        InputFileError, match=r"cannot be opened as an HDF4 file.*download it again"
    ):
        ModisSnow(tmp_path / "hdf").check(g, [2001], 1)


def test_modis_monthly_sums_on_the_source_grid_and_mosaics_fall_back(tmp_path: Path) -> None:
    g = Grid.from_bounds((100, 60.5, 101, 61), 0.25)  # a cell is 5 × 5 CMG pixels

    def write(folder: str, year: int, jan: int, july_flag: bool, feb_width: int = 20) -> None:
        for m in range(1, 13):
            doy = (dt.date(year, m, 1) - dt.date(year, 1, 1)).days + 1
            v = np.zeros((10, feb_width if m == 2 else 20), "uint8")
            if m == 1:
                v[:] = jan
                v[0, 0] = 100
            if m == 7 and july_flag:
                v[0, 0] = 250  # cloud: this pixel's year is unknown
            tr = from_origin(100, 61, 0.05, 0.05)
            path = tmp_path / folder / f"MOD10CM.A{year}{doy:03d}.061.2021.tif"
            write_tif(path, v, tr, nodata=255)

    write("one", 2003, 100, True)
    write("one", 2004, 50, True)
    days = ModisSnow(tmp_path / "one", "MOD10CM").snow_days(g, g.full_window, [2003, 2004])
    # the mean of 31 and 15.5 days; the flagged pixel leaves cell (0, 0) but not the others
    np.testing.assert_allclose(days, (31 + 15.5) / 2, rtol=1e-6)
    write("zero", 2003, 0, True)
    days = ModisSnow(tmp_path / "zero", "MOD10CM").snow_days(g, g.full_window, [2003])
    assert days[0, 0] == 0 and np.all(days == 0)  # per-month warps would give 100/25 % · 31
    # months on different extents (no single source grid) are warped month by month
    write("mixed", 2003, 0, False, feb_width=24)
    days = ModisSnow(tmp_path / "mixed", "MOD10CM").snow_days(g, g.full_window, [2003])
    np.testing.assert_allclose(days[0, 0], 100 / 25 * 31 / 100, rtol=1e-5)
    np.testing.assert_allclose(days[:, 1:], 0)


# -- generic ------------------------------------------------------------------------------------
def test_generic_units_conversion_and_wrong_units(tmp_path: Path) -> None:
    tr = from_origin(99, 62, 0.5, 0.5)
    kelvin = write_tif(tmp_path / "t2m.tif", np.full((12, 4, 6), 263.15, "float32"), tr)
    t = GenericRaster(kelvin, units="K", quantity="temperature").read_months(GRID, GRID.full_window)
    np.testing.assert_allclose(t, -10.0, atol=1e-4)
    with pytest.raises(DataError, match=r"t2m\.tif.*median 263.*unit 'K'"):
        GenericRaster(kelvin, units="degC", quantity="temperature").read_months(
            GRID, GRID.full_window
        )
    with pytest.raises(ConfigError, match="unit 'furlongs'"):
        GenericRaster(kelvin, units="furlongs", quantity="length")


# -- RealSources --------------------------------------------------------------------------------
def _real_sources(tmp_path: Path) -> RealSources:
    tr = from_origin(99, 62, 0.25, 0.25)
    months = np.arange(12, dtype="float32").reshape(12, 1, 1)
    t = write_tif(
        tmp_path / "t.tif", np.broadcast_to(months - 10, (12, 8, 12)).astype("float32"), tr
    )
    p = write_tif(tmp_path / "p.tif", np.full((12, 8, 12), 1.0, "float32"), tr)
    z = np.add.outer(np.arange(8.0) * 10, np.zeros(12)).astype("float32")  # rises towards the south
    dem = write_tif(tmp_path / "z.tif", z, tr)
    return RealSources(
        {
            "climate": GenericMonthlyClimate(
                GenericRaster(t, "degC", "temperature"), GenericRaster(p, "mm/day", "precipitation")
            ),
            "elevation": GenericRaster(dem, "m", "length"),
        }
    )


def test_real_sources_follow_the_virtual_world_protocol(tmp_path: Path) -> None:
    src = _real_sources(tmp_path)
    assert "clay" not in src.factor_names and "elevation" in src.factor_names
    assert src.factor_names[-2:] == ["latitude", "longitude"]
    stack = src.factors(GRID, 2000, window_years=9)
    assert stack.shape == (len(src.factor_names), *GRID.shape) and stack.dtype == np.float32
    get = dict(zip(src.factor_names, stack[:, 5, 5], strict=True))
    assert get["maat"] == pytest.approx(float(maat_degc(np.arange(12.0) - 10)), abs=1e-4)
    assert get["precip_annual"] == pytest.approx(365.25, abs=1e-3)  # 1 mm/day
    assert get["latitude"] == pytest.approx(GRID.lat_centers()[5])
    assert set(src.sources()) == set(src.factor_names)


def test_stack_builder_writes_real_sources(tmp_path: Path) -> None:
    stack_mod = pytest.importorskip("permamap.covariates.stack")
    import rasterio

    src = _real_sources(tmp_path)
    out = stack_mod.build_stack(
        src, GRID, 2000, tmp_path / "stack_2000.tif", tile_shape=(5, 7), progress=False
    )
    with rasterio.open(out) as ds:
        assert list(ds.descriptions) == src.factor_names
        np.testing.assert_allclose(ds.read(), src.factors(GRID, 2000), equal_nan=True)
