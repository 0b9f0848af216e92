"""The truth comparison: agreement, true extent, and expected vs observed accuracy (known answers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from permamap.demo.sites import SUBGRID_SIGMA_K, site_label_probability
from permamap.demo.truthcheck import extent_in_interval, truth_check
from permamap.fileio import open_tiled
from permamap.grid import Grid

GRID = Grid.from_bounds((0.0, 0.0, 4.0, 2.0), res=1.0)  # 2 rows x 4 columns


def _write(path: Path, bands: dict[str, np.ndarray]) -> Path:
    with open_tiled(path, GRID, len(bands), "uint8", 255, list(bands)) as ds:
        ds.write(np.stack([b.astype(np.uint8) for b in bands.values()]))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cls = np.array([[1, 1, 0, 0], [1, 0, 0, 255]])
    true = np.array([[1, 0, 0, 0], [1, 0, 1, 255]])
    ea = np.array([[97, 55, 97, 97], [97, 97, 55, 255]])
    lab = np.array([[100, 30, 0, 0], [70, 0, 100, 255]])
    m = _write(
        tmp_path / "map.tif", {"class": cls, "probability": cls * 90, "expected_accuracy": ea}
    )
    t = _write(tmp_path / "truth.tif", {"class": true, "site_label_probability": lab})
    return m, t


def test_agreement_true_extent_and_accuracy_bins(pair: tuple[Path, Path]) -> None:
    m, t = pair
    area = GRID.cell_area_km2()
    out = truth_check({2000: m}, {2000: t}, GRID, (1, 2))
    land = np.ones((2, 4), bool)
    land[1, 3] = False
    right = np.array([[1, 0, 1, 1], [1, 1, 0, 0]], bool) & land
    assert out.agreement["2000"] == pytest.approx(area[right].sum() / area[land].sum())
    assert out.coverage["2000"] == pytest.approx(1.0)
    assert out.true_extent_km2["2000"] == pytest.approx(area[0, 0] + area[1, 0] + area[1, 2])
    low, high = out.accuracy_bins  # [0.5, 0.6) holds the two 55 % cells; [0.95, 1] the rest
    assert (low["n"], high["n"]) == (2, 5)
    assert low["observed_class_accuracy"] == 0.0  # both 55 % cells are wrong
    # as the sites see them: cell (0, 1) maps 1 where a borehole says permafrost 30 % of the time,
    # cell (1, 2) maps 0 where it never does
    w = np.array([area[0, 1], area[1, 2]])
    assert low["observed_accuracy"] == pytest.approx((0.3 * w[0] + 0.0 * w[1]) / w.sum())
    assert low["mean_expected"] == pytest.approx(0.55)


def test_site_label_probability_is_the_share_of_the_cell_below_zero() -> None:
    """A normal spread of σ around the cell's TTOP: one σ above 0 °C leaves 15.9 % frozen."""
    s = SUBGRID_SIGMA_K
    ttop = np.array([-s, s, 0.0, 2.33 * s, -s, s])
    maat = np.array([-3.0, -3.0, -3.0, -3.0, -9.0, 5.0])
    p = site_label_probability(ttop, maat)
    assert p[:4] == pytest.approx([0.8413, 0.1587, 0.5, 0.0099], abs=1e-4)
    assert p[:4] == pytest.approx(norm.cdf(-ttop[:4] / s))
    assert p[4:].tolist() == [1.0, 0.0]  # the true class outside the MAAT range


def test_extent_in_interval() -> None:
    areas = {"2000": {"permafrost_extent_km2_ci95": [9.0, 11.0]}, "2005": {}}
    assert extent_in_interval(areas, {"2000": 12.0, "2005": 10.0}) == {"2000": False}
