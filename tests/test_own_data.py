"""A user's own data end to end: a raster's odd grid via ``like``, three custom factors, run folders.

The data (``tests/own_data.py``) follow a known rule, so the maps can be checked against it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from permamap.cli import main

from .own_data import HEIGHT, POLAR, RES, WIDTH, make_own_data, truth


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-q", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def own_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("own")
    config = make_own_data(folder)
    code, out = _cli("run", str(config))
    assert code == 0, out
    return config, folder / "run", out


def test_check_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    config = make_own_data(tmp_path)
    code, out = _cli("check", str(config))
    assert code == 0, out
    assert f"{HEIGHT} × {WIDTH} = {HEIGHT * WIDTH:,} cells" in out
    for name in ("tmean", "ndvi", "soil", "latitude", "longitude"):
        assert f"  {name}" in out, name
    assert "3 years centred on the epoch" in out  # the {year} factor's window
    assert "time" in out and "memory" in out and "disk" in out
    assert "no maat factor" in out  # QC's climate rule is skipped, and the plan says so
    assert not (tmp_path / "run").exists()


def test_maps_lie_on_exactly_the_rasters_grid(own_run: tuple[Path, Path, str]) -> None:
    config, run, _ = own_run
    with rasterio.open(config.parent / "survey.tif") as src:
        transform, shape = src.transform, (src.height, src.width)
    for epoch in (2000, 2010):
        with rasterio.open(run / f"maps/permafrost_{epoch}.tif") as ds:
            assert (ds.height, ds.width) == shape == (HEIGHT, WIDTH)
            assert ds.transform.almost_equals(transform, precision=1e-12)
            assert abs(ds.transform.a - RES) < 1e-15
            cls = ds.read(1)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    known = truth(rows, cols)
    mapped = cls != 255
    assert (cls[mapped] == known[mapped]).mean() > 0.9
    # the soil file's "no data" class (0) removes its 10 x 10 corner block from the map
    assert (cls[:10, :10] == 255).all()


def test_custom_factors_flow_through_catalogue_and_model(own_run: tuple[Path, Path, str]) -> None:
    _, run, _ = own_run
    factors = pd.read_csv(run / "covariates/factors.csv").set_index("name")
    assert {"tmean", "ndvi", "soil"} <= set(factors.index)
    assert "tmean.tif" in factors.loc["tmean", "source"]
    assert "ndvi_{year}.tif" in factors.loc["ndvi", "source"]
    assert "3 years" in factors.loc["ndvi", "window"]
    assert "categorical" in factors.loc["soil", "kind"]
    card = json.loads((run / "models/model_card.json").read_text())
    assert set(card["features"]) <= {"tmean", "ndvi", "soil", "latitude", "longitude"}
    # the rule needs the soil class: the model takes it, as classes (0 is the file's no data)
    assert "soil" in card["features"] and card["categorical"] == {"soil": [1, 2, 3]}
    with rasterio.open(run / "covariates/stack_2000.tif") as ds:
        names = list(ds.descriptions)
        ndvi = ds.read(names.index("ndvi") + 1)
    # yearly files averaged over 1999-2001: 0.2 + 0.5 row/H + 0.002 * 0 (the middle year)
    expected = 0.2 + 0.5 * np.arange(HEIGHT) / HEIGHT
    assert np.allclose(ndvi[10:-1, 50], expected[10:-1], atol=2e-4)


def test_run_record_and_report(own_run: tuple[Path, Path, str]) -> None:
    _, run, output = own_run
    assert "note: no elevation factor" in output  # the console says what was left out
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete"
    assert record["stages_done"][:2] == ["covariates", "sites"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config_sha256"] == record["config_sha256"]
    assert any("maat" in note for note in summary["notes"])
    assert any("elevation" in note for note in summary["notes"])  # no elevation zones, a note
    assert "soil" in (run / "report.html").read_text()


def test_run_folders_never_mix(own_run: tuple[Path, Path, str], tmp_path: Path) -> None:
    config, run, _ = own_run
    other = config.parent / "other.toml"
    other.write_text(config.read_text().replace("seed = 3", "seed = 4"))
    code, out = _cli("run", str(other))
    assert code == 2 and "holds the results of another config" in out, out
    assert len(out.strip().splitlines()) == 1
    assert json.loads((run / "run.json").read_text())["status"] == "complete"  # untouched
    # a folder of someone's own files is refused even with --overwrite
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    code, out = _cli("run", str(config), "--out", str(mine), "--overwrite")
    assert code == 2 and "not a permamap run's (thesis.docx)" in out
    assert (mine / "thesis.docx").read_text() == "precious"


def test_a_failed_run_marks_its_folder(tmp_path: Path) -> None:
    config = make_own_data(tmp_path)
    sites = pd.read_csv(tmp_path / "sites.csv")
    sites["pf"] = 1  # one class only: the model stage fails after covariates and sites
    sites.to_csv(tmp_path / "sites.csv", index=False)
    code, out = _cli("run", str(config))
    assert code == 2 and "permafrost (1) and non-permafrost (0)" in out, out
    record = json.loads((tmp_path / "run/run.json").read_text())
    assert record["status"] == "failed at models"
    assert "DataError" in record["error"]
    assert not (tmp_path / "run/summary.json").exists()
    assert not (tmp_path / "run/report.html").exists()


def test_a_polar_stereographic_grid_runs_with_true_cell_areas(tmp_path: Path) -> None:
    """EPSG:3995 (conformal, not equal-area): sites land in the right cells, areas are true."""
    from pyproj import Geod, Transformer

    config = make_own_data(tmp_path, geo=POLAR)
    code, out = _cli("run", str(config))
    assert code == 0, out
    with rasterio.open(tmp_path / "run/maps/permafrost_2000.tif") as ds:
        assert ds.crs.to_epsg() == 3995 and (ds.height, ds.width) == (HEIGHT, WIDTH)
        cls = ds.read(1)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    mapped = cls != 255
    assert (cls[mapped] == truth(rows, cols)[mapped]).mean() > 0.9
    # the grid's outline on the ellipsoid: the land area of the (all-land) survey
    w, n, res = POLAR["west"], POLAR["north"], POLAR["res"]
    e, s = w + WIDTH * res, n - HEIGHT * res
    xs = np.concatenate(
        [np.linspace(w, e, 50), np.full(50, e), np.linspace(e, w, 50), np.full(50, w)]
    )
    ys = np.concatenate(
        [np.full(50, n), np.linspace(n, s, 50), np.full(50, s), np.linspace(s, n, 50)]
    )
    lon, lat = Transformer.from_crs("EPSG:3995", "EPSG:4326", always_xy=True).transform(xs, ys)
    outline = abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]) / 1e6
    land = json.loads((tmp_path / "run/summary.json").read_text())["area_km2"]["2000"]["land_km2"]
    assert land == pytest.approx(outline, rel=5e-3)
    assert abs(land / (HEIGHT * WIDTH) - 1.0) > 0.01  # not res²: the projection's scale matters
