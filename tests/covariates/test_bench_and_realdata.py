"""The covariate benchmark on a small sub-extent, and the optional real-data check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from permamap.covariates.sources.ncep import etopo20, ncep_cmap_climatology
from permamap.covariates.sources.real import RealSources
from permamap.grid import Grid

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-coarse"


def test_bench_builds_a_stack_and_reports_memory(tmp_path: Path) -> None:
    from benchmarks.covariates import run

    figures = run(
        bounds=(128, 61, 130, 62), res=1 / 60, tile_shape=(32, 64), out_dir=tmp_path, progress=False
    )
    assert figures["cells"] == 60 * 120 and figures["tiles"] == 4
    assert 0 < figures["peak_rss_mb"] < 2048
    with rasterio.open(figures["path"]) as ds:
        assert ds.count == figures["factors"] and ds.descriptions[0] == "maat"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real-coarse is absent")
def test_real_coarse_maat_yakutsk_and_moscow() -> None:
    src = RealSources(
        {
            "climate": ncep_cmap_climatology(
                REAL / "ncep-air-ltm" / "air.mon.ltm.nc",
                REAL / "cmap-precip-ltm" / "precip.mon.ltm.nc",
            ),
            "elevation": etopo20(REAL / "ferret-etopo" / "etopo20.cdf"),
        }
    )
    grid = Grid.from_bounds((25, 25, 180, 84), 0.5)
    stack = src.factors(grid, 2000)
    maat = stack[src.factor_names.index("maat")]
    rows, cols = grid.index(np.array([129.73, 37.62]), np.array([62.03, 55.75]))
    yakutsk, moscow = maat[rows, cols]
    assert yakutsk == pytest.approx(-8.0, abs=1.5)
    assert moscow == pytest.approx(5.0, abs=1.5)
    # and the wrapped 20-380 E relief: the Tibetan plateau is high, the Caspian depression low
    elev = stack[src.factor_names.index("elevation")]
    r, c = grid.index(np.array([90.0, 50.0]), np.array([33.0, 46.0]))
    assert elev[r[0], c[0]] > 4000 and elev[r[1], c[1]] < 100
