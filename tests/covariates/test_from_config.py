"""[covariates.real] TOML tables -> RealSources, on tiny synthetic rasters with known values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasterio.transform import from_origin

from permamap.config import load_config
from permamap.covariates.factors import maat_degc
from permamap.covariates.sources.from_config import sources_from_config
from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.covariates.sources.real import RealSources
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid

from .conftest import write_tif

GRID = Grid.from_bounds((100, 60, 101, 61), 1 / 12)
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-coarse"


@pytest.fixture
def rasters(tmp_path: Path) -> Path:
    """``data/t.tif`` (12 bands, °C: month index − 10), ``data/p.tif`` (mm/day), ``data/z.tif`` (m)."""
    tr = from_origin(99, 62, 0.25, 0.25)
    months = np.arange(12, dtype="float32").reshape(12, 1, 1)
    write_tif(tmp_path / "data" / "t.tif", np.broadcast_to(months - 10, (12, 8, 12)).copy(), tr)
    write_tif(tmp_path / "data" / "p.tif", np.full((12, 8, 12), 1.0, "float32"), tr)
    z = np.add.outer(np.arange(8.0) * 10, np.arange(12.0)).astype("float32")
    write_tif(tmp_path / "data" / "z.tif", z, tr)
    return tmp_path


def _generic_table() -> dict[str, Any]:
    return {
        "climate": {
            "type": "generic",
            "temperature": {"path": "data/t.tif", "units": "degC"},
            "precipitation": {"path": "data/p.tif", "units": "mm/day"},
        },
        "elevation": {"type": "generic", "path": "data/z.tif", "units": "m"},
    }


def test_generic_config_matches_readers_built_directly(rasters: Path) -> None:
    src = sources_from_config(_generic_table(), rasters)
    data = rasters / "data"
    direct = RealSources(
        {
            "climate": GenericMonthlyClimate(
                GenericRaster(data / "t.tif", "degC", "temperature"),
                GenericRaster(data / "p.tif", "mm/day", "precipitation"),
            ),
            "elevation": GenericRaster(data / "z.tif", "m", "length"),
        }
    )
    assert src.factor_names == direct.factor_names
    got, want = src.factors(GRID, 2000), direct.factors(GRID, 2000)
    np.testing.assert_array_equal(got, want)
    # the known answer: the day-weighted mean of (month index − 10)
    want_maat = float(maat_degc(np.arange(12.0) - 10))
    assert got[src.factor_names.index("maat"), 5, 5] == pytest.approx(want_maat, abs=1e-4)


def test_relative_paths_resolve_against_base_dir(rasters: Path) -> None:
    table = _generic_table()
    table["elevation"]["path"] = str(rasters / "data" / "z.tif")  # absolute: kept as written
    src = sources_from_config(table, rasters)
    assert src.config.climate.temperature.path == rasters / "data" / "t.tif"
    assert src.config.elevation.path == rasters / "data" / "z.tif"


def test_config_file_folder_is_the_base_dir(rasters: Path, tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text("site_id,lon,lat,year,label\n")  # [sites] is required
    (tmp_path / "run.toml").write_text(
        """
[run]
epochs = [2000]
[grid]
bounds = [100, 60, 101, 61]
res = 0.08333333333333333
[[sites.inputs]]
type = "table"
path = "sites.csv"
[covariates]
source = "real"
[covariates.real.climate]
type = "generic"
temperature = { path = "data/t.tif", units = "degC" }
precipitation = { path = "data/p.tif", units = "mm/day" }
[covariates.real.elevation]
type = "generic"
path = "data/z.tif"
units = "m"
"""
    )
    cfg = load_config(tmp_path / "run.toml")
    src = sources_from_config(cfg.covariates.real, cfg.base_dir)
    assert src.config.elevation.path == tmp_path / "data" / "z.tif"


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown role", {"landcover": {}}, r"\[covariates\.real\] has unknown key.*landcover"),
    (
        "unknown type",
        {"climate": {"type": "era5"}},
        r"\[covariates\.real\.climate\] type = 'era5'.*\"generic\", \"ncep\", \"worldclim\"",
    ),
    ("no type", {"climate": {"air": "a.nc"}}, r"\[covariates\.real\.climate\] lacks `type`"),
    ("not a table", {"climate": "air.nc"}, r"\[covariates\.real\.climate\] = 'air.nc' must be"),
    (
        "unknown key",
        {"elevation": {"type": "etopo20", "paht": "e.cdf"}},
        r"\[covariates\.real\.elevation\].*unknown key `paht` = 'e.cdf'.*path \(required\)",
    ),
    (
        "missing key",
        {"elevation": {"type": "generic", "path": "data/z.tif"}},
        r"\[covariates\.real\.elevation\].*lacks required key\(s\) \['units'\]",
    ),
    (
        "wrong value type",
        {"elevation": {"type": "generic", "path": "data/z.tif", "units": "m", "band": "1"}},
        r"\[covariates\.real\.elevation\] band = '1' has the wrong type; band must be int",
    ),
    (
        "constructor rule",
        {"elevation": {"type": "generic", "path": "data/z.tif", "units": "furlongs"}},
        r"\[covariates\.real\.elevation\]: .*unit 'furlongs'",
    ),
    (
        "nested generic climate",
        {"climate": {"type": "generic", "temperature": {"path": "data/t.tif"}}},
        r"\[covariates\.real\.climate\.temperature\].*lacks required key\(s\) \['units'\]",
    ),
    (
        "unknown soil factor",
        {"soil": {"silt": {"type": "soilgrids", "path": "s.vrt"}}},
        r"\[covariates\.real\.soil\] has unknown factor\(s\) \['silt'\]",
    ),
    (
        "soil prop mismatch",
        {"soil": {"sand": {"type": "soilgrids", "path": "data/z.tif", "prop": "clay"}}},
        r"\[covariates\.real\.soil\.sand\] prop = 'clay'.*prop = 'sand'",
    ),
]


@pytest.mark.parametrize(("table", "pattern"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_configs_name_the_table(rasters: Path, table: dict[str, Any], pattern: str) -> None:
    full = {"climate": _generic_table()["climate"], **table}
    with pytest.raises(ConfigError, match=pattern):
        sources_from_config(full, rasters)


def test_climate_is_required(rasters: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"\[covariates\.real\] lacks.*\[covariates\.real\.climate\]"
    ):
        sources_from_config({"elevation": _generic_table()["elevation"]}, rasters)


def test_missing_path_is_an_input_file_error(rasters: Path) -> None:
    table = _generic_table()
    table["elevation"]["path"] = "data/nope.tif"
    with pytest.raises(InputFileError, match=r"\[covariates\.real\.elevation\] path = 'data/nope"):
        sources_from_config(table, rasters)


def test_single_worldclim_folder_is_accepted_and_reader_errors_name_the_table(
    tmp_path: Path,
) -> None:
    (tmp_path / "wc").mkdir()
    # a string is wrapped into the list WorldClimMonthly expects; the empty folder then fails there
    with pytest.raises(
        InputFileError, match=r"\[covariates\.real\.climate\]: no WorldClim monthly"
    ):
        sources_from_config({"climate": {"type": "worldclim", "folders": "wc"}}, tmp_path)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real-coarse is absent")
def test_real_coarse_toml_config_maat_yakutsk_and_moscow(tmp_path: Path) -> None:
    rel = Path(os.path.relpath(REAL, tmp_path))  # relative, to exercise resolution via base_dir
    (tmp_path / "sites.csv").write_text("site_id,lon,lat,year,label\n")  # [sites] is required
    (tmp_path / "real.toml").write_text(
        f"""
[run]
epochs = [2000]
[grid]
bounds = [25, 25, 180, 84]
res = 1.0
[[sites.inputs]]
type = "table"
path = "sites.csv"
[covariates]
source = "real"
[covariates.real.climate]
type = "ncep"
air = "{rel / "ncep-air-ltm" / "air.mon.ltm.nc"}"
precip = "{rel / "cmap-precip-ltm" / "precip.mon.ltm.nc"}"
[covariates.real.elevation]
type = "etopo20"
path = "{rel / "ferret-etopo" / "etopo20.cdf"}"
"""
    )
    cfg = load_config(tmp_path / "real.toml")
    src = sources_from_config(cfg.covariates.real, cfg.base_dir)
    stack = src.factors(cfg.grid, 2000)
    maat = stack[src.factor_names.index("maat")]
    rows, cols = cfg.grid.index(np.array([129.7, 37.6]), np.array([62.0, 55.75]))
    yakutsk, moscow = maat[rows, cols]
    assert yakutsk == pytest.approx(-8.0, abs=3.0)
    assert moscow == pytest.approx(5.0, abs=3.0)
