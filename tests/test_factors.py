"""Derived factors against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from permamap.covariates import factors as fx

DAYS = fx.DAYS_IN_MONTH.astype(float)


def test_maat_is_day_weighted() -> None:
    t = np.arange(12, dtype=float)
    assert float(fx.maat_degc(t)) == pytest.approx((t * DAYS).sum() / DAYS.sum())


def test_degree_days_by_hand() -> None:
    t = np.array([-20, -15, -8, 0, 6, 12, 16, 14, 7, -2, -10, -18], dtype=float)
    tdd = 6 * 31 + 12 * 30 + 16 * 31 + 14 * 31 + 7 * 30
    fdd = 20 * 31 + 15 * 28.25 + 8 * 31 + 2 * 31 + 10 * 30 + 18 * 31
    assert float(fx.tdd_degc_days(t)) == pytest.approx(tdd)
    assert float(fx.fdd_degc_days(t)) == pytest.approx(fdd)
    fn = np.sqrt(fdd) / (np.sqrt(fdd) + np.sqrt(tdd))
    assert float(fx.frost_number(np.array(fdd), np.array(tdd))) == pytest.approx(fn)


def test_factors_broadcast_over_grids() -> None:
    t = np.full((12, 3, 4), -5.0)
    assert fx.fdd_degc_days(t).shape == (3, 4)
    assert np.allclose(fx.fdd_degc_days(t), 5 * DAYS.sum())


def test_precip_sums() -> None:
    p = np.arange(1, 13, dtype=float)
    assert float(fx.precip_sum_mm(p)) == 78
    assert float(fx.precip_sum_mm(p, fx.WARM_MONTHS)) == 5 + 6 + 7 + 8 + 9
    assert float(fx.precip_sum_mm(p, fx.COLD_MONTHS)) == 78 - 35


def test_snow_cover_days_limits() -> None:
    warm = fx.snow_cover_days(np.full(12, 25.0), np.full(12, 80.0))
    dry_cold = fx.snow_cover_days(np.full(12, -20.0), np.full(12, 0.5))
    wet_cold = fx.snow_cover_days(np.full(12, -20.0), np.full(12, 80.0))
    assert float(warm) < 1
    assert float(wet_cold) == pytest.approx(DAYS.sum(), rel=1e-3)
    assert 0 < float(dry_cold) < 0.2 * float(wet_cold)  # patchy cover where little snow falls


def test_terrain_on_a_plane() -> None:
    # z = 0.1 * x (east), cells 100 m: slope atan(0.1), facing west: northness 0
    x = np.arange(6) * 100.0
    z = np.tile(0.1 * x, (5, 1))
    out = fx.terrain_factors(z, np.full(5, 100.0), 100.0)
    assert np.allclose(out["slope"], np.degrees(np.arctan(0.1)), atol=1e-4)
    assert np.allclose(out["northness"], 0.0, atol=1e-6)
    # TRI on a plane: mean |dz| to 8 neighbours = (3 * 10 + 3 * 10 + 0 + 0) / 8
    assert np.allclose(out["roughness"], 60 / 8)
