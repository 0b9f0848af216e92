"""Real future climate for projections (:mod:`permamap.projections.real`): WorldClim 2.1 CMIP6
files in their real names and 12-band layout for two GCMs, a WorldClim 1970-2000 climatology and
a baseline climate, with known answers for the downscaled values and the delta method."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasterio.transform import from_origin
from rasterio.windows import Window

from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid
from permamap.projections.real import (
    RealFutureClimate,
    check_source_table,
    future_climate_from_config,
)
from permamap.projections.sources import FutureClimate
from tests.covariates.conftest import write_tif
from tests.covariates.test_worldclim_cmip6 import RES_10M, _cmip6_file

GCMS = ["ACCESS-CM2", "MIROC6"]
SHIFT = {"ACCESS-CM2": 0.0, "MIROC6": 2.0}  # MIROC6 is 2 °C warmer and 2 mm/month wetter
M = np.arange(1, 13, dtype="float64")
SSP, PERIOD = "ssp126", "2041-2060"
TR_10M = from_origin(99, 63, RES_10M, RES_10M)


def _grid() -> Grid:
    return Grid.from_bounds((100.5, 60.5, 101.5, 61.5), 1 / 12)


def _stack(value: Any) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, "float32").reshape(-1, 1, 1), (12, 24, 24)).copy()


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """cmip6/: tmin = -20 + m, tmax = -10 + m, prec = 10 m (+ the GCM's shift);
    wc2.1_10m/: the 1970-2000 climatology, tavg = -17 + m, prec = 5 mm;
    baseline/: the model's climate, t = -20 °C, p = 40 mm."""
    for gcm in GCMS:
        for var in ("tmin", "tmax", "prec"):
            _cmip6_file(tmp_path / "cmip6", var, gcm, SSP, PERIOD, shift=SHIFT[gcm])
    for m in range(1, 13):
        clim = tmp_path / "wc2.1_10m"
        write_tif(clim / f"wc2.1_10m_tavg_{m:02d}.tif", np.full((24, 24), -17.0 + m, "f4"), TR_10M)
        write_tif(clim / f"wc2.1_10m_prec_{m:02d}.tif", np.full((24, 24), 5.0, "f4"), TR_10M)
    write_tif(tmp_path / "baseline" / "t.tif", _stack(np.full(12, -20.0)), TR_10M)
    write_tif(tmp_path / "baseline" / "p.tif", _stack(np.full(12, 40.0)), TR_10M)
    return tmp_path


def _baseline(root: Path) -> GenericMonthlyClimate:
    return GenericMonthlyClimate(
        GenericRaster(root / "baseline" / "t.tif", "degC", "temperature"),
        GenericRaster(root / "baseline" / "p.tif", "mm", "precipitation"),
        name="baseline climate",
    )


DOWNSCALED = {"type": "worldclim-cmip6", "folder": "cmip6", "res": "10m"}
DELTA = {**DOWNSCALED, "historical": {"type": "worldclim-climatology", "folder": "wc2.1_10m"}}


def _source(root: Path, table: dict[str, Any], method: str, **kw: Any) -> RealFutureClimate:
    args: dict[str, Any] = {"baseline_years": list(range(1981, 1990)), "snow_from_product": False}
    return RealFutureClimate(table, method, root, _baseline(root), **{**args, **kw})


def test_downscaled_gives_the_files_values(world: Path) -> None:
    g = _grid()
    src = _source(world, DOWNSCALED, "downscaled")
    assert isinstance(src, FutureClimate) and src.has_truth is False
    notes = src.check(g, [SSP], [PERIOD], GCMS)
    assert "1 scenario(s) × 1 period(s) × 2 GCM(s) = 2 combinations, 6 files" in notes[0]
    assert any("trained on baseline climate" in n and 'method = "delta"' in n for n in notes)
    out = src.monthly(g, g.full_window, SSP, PERIOD, GCMS)
    assert len(out) == 2
    for (t, p), gcm in zip(out, GCMS, strict=True):
        assert t.shape == p.shape == (12, 12, 12) and t.dtype == p.dtype == np.float32
        # (tmin + tmax) / 2 = -15 + m, prec = 10 m, each plus the GCM's shift
        np.testing.assert_allclose(t, _stack(-15.0 + M + SHIFT[gcm])[:, :12, :12], atol=1e-5)
        np.testing.assert_allclose(p, _stack(10.0 * M + SHIFT[gcm])[:, :12, :12], rtol=1e-6)
    assert src.baseline_monthly(g, g.full_window) is None
    # the order of gcms is the order of the result
    (t_rev, _), _ = src.monthly(g, Window(2, 3, 4, 5), SSP, PERIOD, GCMS[::-1])
    np.testing.assert_allclose(t_rev, -13.0 + M.reshape(12, 1, 1) + 0 * t_rev, atol=1e-5)


def test_delta_adds_each_gcms_change_to_the_baseline(world: Path) -> None:
    """t = -20 + (future − (-17 + m)), p = 40 · future / 5: ACCESS-CM2 -18 °C and 80 m mm,
    MIROC6 -16 °C and 80 m + 16 mm."""
    g = _grid()
    src = _source(world, DELTA, "delta", snow_from_product=True)
    notes = src.check(g, [SSP], [PERIOD], GCMS)
    assert any(
        "GCM historical reference: WorldClim 2.1 climatology 1970-2000 10m" in n for n in notes
    )
    assert not any("biased" in n for n in notes)  # baseline years 1981-1989 vs reference 1970-2000
    (ta, pa), (tb, pb) = src.monthly(g, g.full_window, SSP, PERIOD, GCMS)
    np.testing.assert_allclose(ta, -18.0, atol=1e-5)
    np.testing.assert_allclose(tb, -16.0, atol=1e-5)
    np.testing.assert_allclose(pa, 80.0 * M.reshape(12, 1, 1) + 0 * pa, rtol=1e-6)
    np.testing.assert_allclose(pb, 80.0 * M.reshape(12, 1, 1) + 16.0 + 0 * pb, rtol=1e-6)
    # exactly what DeltaMethodClimate computes for each GCM
    w = Window(1, 2, 7, 5)
    for (t, p), gcm in zip(src.monthly(g, w, SSP, PERIOD, GCMS), GCMS, strict=True):
        td, pd = src.delta_source(SSP, PERIOD, gcm).monthly_means(g, w, src.baseline_years)
        np.testing.assert_array_equal(t, td)
        np.testing.assert_array_equal(p, pd)
    base = src.baseline_monthly(g, g.full_window)
    assert base is not None
    np.testing.assert_array_equal(base[0], -20.0)
    np.testing.assert_array_equal(base[1], 40.0)


def test_delta_notes_a_baseline_far_from_the_reference_period(world: Path) -> None:
    src = _source(world, DELTA, "delta", baseline_years=list(range(2016, 2025)))
    notes = src.check(_grid(), [SSP], [PERIOD], GCMS)
    assert any("climatology without years" in n and "2016-2024" in n for n in notes)
    assert any("1970-2000 is 35 years before the baseline 2016-2024" in n for n in notes)


def test_a_missing_gcm_file_is_one_line_naming_it_and_the_download(world: Path) -> None:
    name = f"wc2.1_10m_tmax_MIROC6_{SSP}_{PERIOD}.tif"
    next((world / "cmip6").rglob(name)).unlink()
    src = _source(world, DOWNSCALED, "downscaled")
    with pytest.raises(InputFileError) as err:
        src.check(_grid(), [SSP], [PERIOD], GCMS)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("[projections.source]")
    assert name in msg and "download_cmip6('MIROC6', 'ssp126', '2041-2060'" in msg
    assert "drop MIROC6 from [projections] gcms" in msg
    with pytest.raises(ConfigError, match=r"GCM 'MIROC7'.*`MIROC6`"):
        src.check(_grid(), [SSP], [PERIOD], ["MIROC7"])


@pytest.mark.parametrize(
    ("table", "method", "error", "match"),
    [
        (
            {**DOWNSCALED, "ress": "10m"},
            "downscaled",
            ConfigError,
            r"`ress` \(did you mean `res`\?\)",
        ),
        (
            {**DOWNSCALED, "type": "worldclim_cmip6"},
            "downscaled",
            ConfigError,
            r"`worldclim-cmip6`",
        ),
        ({**DOWNSCALED, "res": "10"}, "downscaled", ConfigError, r"res = '10' .*`10m`"),
        (
            {**DOWNSCALED, "folder": "nowhere"},
            "downscaled",
            InputFileError,
            r"folder = 'nowhere'.*does not exist",
        ),
        (
            DOWNSCALED,
            "delta",
            ConfigError,
            r"lacks \[projections.source.historical\].*worldclim-climatology.*downscaled",
        ),
        (
            DELTA,
            "downscaled",
            ConfigError,
            r"historical is used by the delta method only.*method = \"delta\"",
        ),
        (DOWNSCALED, "deltas", ConfigError, r"method = 'deltas'.*`delta`"),
        (
            {
                **DOWNSCALED,
                "historical": {
                    "type": "worldclim-climatology",
                    "folder": "wc2.1_10m",
                    "res": "30s",
                },
            },
            "delta",
            ConfigError,
            r"historical\].res = '30s' differs from .*res = '10m'",
        ),
        (
            {**DOWNSCALED, "historical": {"type": "worldclim-climatology", "foldr": "wc2.1_10m"}},
            "delta",
            ConfigError,
            r"historical\] has unknown key `foldr` \(did you mean `folder`\?\)",
        ),
        (
            {**DELTA, "prec_floor_mm": 0},
            "delta",
            ConfigError,
            r"prec_floor_mm = 0 must be a number > 0",
        ),
    ],
)
def test_the_table_is_checked_at_load(
    world: Path, table: dict[str, Any], method: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as err:
        check_source_table(table, "run.toml [projections.source]", method, world)
    assert str(err.value).startswith("run.toml [projections") and "\n" not in str(err.value)


def test_objects_pickle_and_describe_fingerprints_the_files(world: Path) -> None:
    g = _grid()
    src = _source(world, DELTA, "delta", snow_from_product=True)
    with pytest.raises(RuntimeError, match="call check"):
        src.describe()
    src.check(g, [SSP], [PERIOD], GCMS)
    before = src.monthly(g, g.full_window, SSP, PERIOD, GCMS)
    src.baseline_monthly(g, g.full_window)
    clone = pickle.loads(pickle.dumps(src))
    assert clone._cache is None  # the last window's arrays stay behind
    for (t0, p0), (t1, p1) in zip(
        before, clone.monthly(g, g.full_window, SSP, PERIOD, GCMS), strict=True
    ):
        np.testing.assert_array_equal(t0, t1)
        np.testing.assert_array_equal(p0, p1)
    desc = src.describe()
    assert json.loads(json.dumps(desc)) == desc
    assert desc["kind"] == "worldclim-cmip6" and desc["method"] == "delta" and desc["res"] == "10m"
    files = desc["files"][f"{SSP} {PERIOD} MIROC6"]
    assert [Path(f["path"]).name for f in files] == sorted(
        f"wc2.1_10m_{v}_MIROC6_{SSP}_{PERIOD}.tif" for v in ("tmin", "tmax", "prec")
    )
    assert all(f["size"] > 0 for f in files)
    assert len(desc["historical"]["all GCMs"]) == 24 and desc["reference_period"] == [1970, 2000]
    # a changed file changes the description
    _cmip6_file(world / "cmip6", "prec", "MIROC6", SSP, PERIOD, shift=5.0, compress="deflate")
    assert src.describe() != desc


def test_generic_templates_and_from_config(world: Path) -> None:
    g = _grid()
    for gcm in GCMS:
        write_tif(
            world / "future" / f"tas_{gcm}_{SSP}_{PERIOD}.tif",
            _stack(-15.0 + M + SHIFT[gcm]) + 273.15,
            TR_10M,
        )
        write_tif(world / "future" / f"pr_{gcm}_{SSP}_{PERIOD}.tif", _stack(10.0 * M), TR_10M)
    table: dict[str, Any] = {
        "type": "generic",
        "temperature": {"path": "future/tas_{gcm}_{scenario}_{period}.tif", "units": "K"},
        "precipitation": {"path": "future/pr_{gcm}_{scenario}_{period}.tif", "units": "mm"},
    }
    real = {
        "climate": {
            "type": "generic",
            "temperature": {"path": "baseline/t.tif", "units": "degC"},
            "precipitation": {"path": "baseline/p.tif", "units": "mm"},
        }
    }
    src = future_climate_from_config(table, "downscaled", world, real, list(range(1996, 2005)))
    assert src.snow_from_product is False and src.baseline.name == "generic monthly climate"
    src.check(g, [SSP], [PERIOD], GCMS)
    (ta, pa), (tb, _) = src.monthly(g, g.full_window, SSP, PERIOD, GCMS)
    np.testing.assert_allclose(ta[:, 0, 0], -15.0 + M, atol=1e-4)
    np.testing.assert_allclose(tb[:, 0, 0], -13.0 + M, atol=1e-4)
    np.testing.assert_allclose(pa[:, 0, 0], 10.0 * M, rtol=1e-6)
    with pytest.raises(
        InputFileError,
        match=r"temperature file .*tas_MIROC6_ssp585_2041-2060.tif for MIROC6 ssp585",
    ):
        src.check(g, ["ssp585"], [PERIOD], ["MIROC6"])
    no_gcm = {
        **table,
        "precipitation": {"path": "future/pr_{scenario}_{period}.tif", "units": "mm"},
    }
    with pytest.raises(ConfigError, match=r"lacks \{gcm\}, so every gcm would read the same file"):
        check_source_table(no_gcm, "[projections.source]", "downscaled", world)
    bad_unit = {**table, "temperature": {"path": table["temperature"]["path"], "units": "Kelvinn"}}
    with pytest.raises(ConfigError, match=r"temperature\].units: .*Kelvinn"):
        check_source_table(bad_unit, "[projections.source]", "downscaled", world)
    half = {
        "type": "generic",
        "tmin": table["temperature"],
        "precipitation": table["precipitation"],
    }
    with pytest.raises(ConfigError, match=r"either \[projections.source.temperature\] or both"):
        check_source_table(half, "[projections.source]", "downscaled", world)


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        (
            "future/tas_{gcm}_{scenarios}_{period}.tif",
            ConfigError,
            r"\{scenarios\} \(did you mean `scenario`\?\)",
        ),
        (
            "missing/{gcm}/tas_{scenario}_{period}.tif",
            InputFileError,
            r"the folder .*missing does not exist",
        ),
    ],
)
def test_generic_templates_are_checked_at_load(
    tmp_path: Path, path: str, error: type[Exception], match: str
) -> None:
    (tmp_path / "future").mkdir()
    table: dict[str, Any] = {
        "type": "generic",
        "temperature": {"path": path, "units": "K"},
        "precipitation": {"path": "future/pr_{gcm}_{scenario}_{period}.tif", "units": "mm"},
    }
    with pytest.raises(error, match=match):
        check_source_table(table, "[projections.source]", "downscaled", tmp_path)
    table["temperature"]["path"] = "future/tas_{gcm}_{scenario}_{period}.tif"
    check_source_table(table, "[projections.source]", "downscaled", tmp_path)  # now it passes
