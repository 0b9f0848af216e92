"""The projection stage on a tiny synthetic stack with a made-up future: known answers by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from sklearn.linear_model import LogisticRegression

from permamap.aoa import fit_aoa
from permamap.covariates import factors as fx
from permamap.grid import Grid
from permamap.layout import RunLayout
from permamap.modelio import ModelArtefact
from permamap.predict import predict_map
from permamap.projections import ProjectionSettings, projection_stage
from permamap.projections.tiles import future_blocks
from tests.predict.conftest import FEATURES, factors, write_stack

GCMS = ("cold-gcm", "mid-gcm", "hot-gcm")
#: warming of each GCM against the baseline, K, per scenario and period
WARMING = {
    ("ssp126", "2041-2060"): (0.5, 1.0, 1.5),
    ("ssp585", "2041-2060"): (1.0, 2.5, 4.0),
}
PRECIP_MM = 30.0


class ShiftedFuture:
    """A future whose months all equal the baseline MAAT plus a fixed warming per GCM."""

    name = "shifted test future"
    has_truth = False

    def __init__(self, base_maat: np.ndarray, grid: Grid, fail_after: int | None = None) -> None:
        self.base_maat, self.grid = base_maat, grid
        self.calls, self.fail_after = 0, fail_after

    def check(
        self, grid: Grid, scenarios: Sequence[str], periods: Sequence[str], gcms: Any
    ) -> list[str]:
        return []

    def monthly(
        self, grid: Grid, window: Window, scenario: str, period: str, gcms: Sequence[str]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        r0, c0 = int(window.row_off), int(window.col_off)
        maat = self.base_maat[r0 : r0 + int(window.height), c0 : c0 + int(window.width)]
        out = []
        for g in gcms:
            dt = WARMING[(scenario, period)][GCMS.index(g)]
            t = np.repeat((maat + dt)[None], 12, axis=0).astype(np.float32)
            out.append((t, np.full(t.shape, PRECIP_MM, dtype=np.float32)))
        return out

    def baseline_monthly(self, grid: Grid, window: Window) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "test"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("proj")
    grid = Grid.from_bounds((100, 50, 125, 68), res=0.5)
    block = factors(grid)
    stack = write_stack(root / "stack_2020.tif", grid, block)
    rng = np.random.default_rng(3)
    X = np.column_stack(
        [rng.uniform(-12, 8, 300), rng.uniform(500, 2500, 300), rng.uniform(0, 365, 300)]
    )
    y = ((X[:, 0] + rng.normal(0, 1.5, 300)) < -1).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    aoa = fit_aoa(X.astype(np.float64))
    trained = ModelArtefact(
        model=model, card={"features": FEATURES, "model": "logistic_regression"}, aoa=aoa
    )
    return {"root": root, "grid": grid, "block": block, "stack": stack, "trained": trained}


def _settings() -> ProjectionSettings:
    return ProjectionSettings(
        scenarios=("ssp126", "ssp585"), periods=("2041-2060",), gcms=GCMS, baseline_epoch=2020
    )


def _run(setup: dict[str, Any], run: Path, source: Any) -> Any:
    lay = RunLayout(run)
    base_map = lay.map(2020)
    if not base_map.is_file():
        base_map.parent.mkdir(parents=True, exist_ok=True)
        predict_map(
            setup["trained"].model, FEATURES, setup["stack"], setup["grid"], base_map,
            epoch=2020, tile_shape=(16, 16), n_jobs=1,
        )  # fmt: skip
    return projection_stage(
        _settings(), source, setup["trained"], setup["stack"], base_map, setup["grid"], lay,
        tile_shape=(16, 16), n_jobs=2, elevation=setup["stack"],
    )  # fmt: skip


def _expected(setup: dict[str, Any], scenario: str, period: str) -> dict[str, np.ndarray]:
    """The projection computed by hand: each GCM's factors through scikit-learn's predict_proba."""
    block, model = setup["block"], setup["trained"].model
    valid = np.isfinite(block).all(axis=0)
    ps, inside = [], []
    for dt in WARMING[(scenario, period)]:
        t = np.repeat((block[0] + dt)[None], 12, axis=0)
        snow = fx.snow_cover_days(t, np.full(t.shape, PRECIP_MM))
        X = np.column_stack([fx.maat_degc(t)[valid], block[1][valid], snow[valid]])
        ps.append(model.predict_proba(X)[:, 1])
        inside.append(setup["trained"].aoa.inside(X))
    return {"valid": valid, "p": np.array(ps), "inside": np.array(inside)}


def test_future_blocks_replace_climate_factors_and_keep_static_ones() -> None:
    base = np.array([[[-5.0]], [[300.0]], [[120.0]]], dtype=np.float32)  # maat, elevation, snow
    t = np.full((12, 1, 1), -1.0)
    p = np.full((12, 1, 1), 20.0)
    out = future_blocks(base, FEATURES, [(t, p), (t + 3, p)])
    assert out.shape == (2, 3, 1, 1)
    assert out[:, 0, 0, 0].tolist() == [-1.0, 2.0]  # maat from the months
    assert out[:, 1, 0, 0].tolist() == [300.0, 300.0]  # elevation unchanged
    assert out[0, 2, 0, 0] == pytest.approx(float(fx.snow_cover_days(t, p)[0, 0]), rel=1e-6)
    # with a snow product, the rule's change is added to the observed baseline, clipped to 0-365
    base_t = np.full((12, 1, 1), -4.0)
    delta = fx.snow_cover_days(t, p) - fx.snow_cover_days(base_t, p)
    out = future_blocks(base, FEATURES, [(t, p)], baseline=(base_t, p))
    assert out[0, 2, 0, 0] == pytest.approx(float(np.clip(120.0 + delta[0, 0], 0, 365)), rel=1e-6)


def test_projection_bands_gcm_bits_and_totals_match_a_hand_computation(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    grid = setup["grid"]
    result = _run(setup, tmp_path / "run", ShiftedFuture(setup["block"][0], grid))
    lay = RunLayout(tmp_path / "run")
    area = grid.cell_area_km2(grid.full_window)
    for scenario, period in (("ssp126", "2041-2060"), ("ssp585", "2041-2060")):
        want = _expected(setup, scenario, period)
        valid, p = want["valid"], want["p"]
        with rasterio.open(lay.future_map(scenario, period)) as ds:
            assert ds.descriptions == ("class", "probability", "gcm_spread", "aoa", "aoa_gcm_share")
            assert ds.tags()["gcms"] == ",".join(GCMS)
            bands = ds.read()
        mean = p.mean(axis=0)
        assert (bands[:, ~valid] == 255).all()
        np.testing.assert_array_equal(bands[0][valid], (mean >= 0.5).astype(np.uint8))
        got_p = bands[1][valid].astype(int)
        assert np.abs(got_p - np.rint(mean * 100)).max() <= 1  # float32 vs float64 rounding
        assert np.abs(bands[2][valid] - np.rint(p.std(axis=0) * 100)).max() <= 1
        np.testing.assert_array_equal(bands[3][valid], want["inside"].all(axis=0))
        np.testing.assert_array_equal(
            bands[4][valid], np.rint(want["inside"].mean(axis=0) * 100).astype(np.uint8)
        )
        with rasterio.open(lay.future_gcms(scenario, period)) as ds:
            bits = ds.read(1)
        for g in range(len(GCMS)):
            np.testing.assert_array_equal((bits[valid] >> g) & 1, (p[g] >= 0.5).astype(int))
        entry = result.projections[scenario][period]
        a = area[valid]
        extents = [float(a[p[g] >= 0.5].sum()) for g in range(len(GCMS))]
        assert entry["gcm_extent_km2"] == pytest.approx(dict(zip(GCMS, extents, strict=True)))
        assert entry["gcm_range_km2"] == pytest.approx([min(extents), max(extents)])
        assert entry["permafrost_extent_km2"] == pytest.approx(float(a[mean >= 0.5].sum()))
        assert entry["probability_weighted_km2"] == pytest.approx(float((a * mean).sum()))
        outside = ~want["inside"].all(axis=0)
        assert entry["outside_aoa_share"] == pytest.approx(float(a[outside].sum() / a.sum()))
        # against the baseline map: lost + stable = the baseline extent, stable + gained = projected
        with rasterio.open(lay.map(2020)) as ds:
            base_cls = ds.read(1)
        base_extent = float(area[base_cls == 1].sum())
        assert entry["lost_km2"] + entry["stable_km2"] == pytest.approx(base_extent)
        assert entry["stable_km2"] + entry["gained_km2"] == pytest.approx(
            entry["permafrost_extent_km2"]
        )
        assert "true_extent_km2" not in entry
    # warming more loses more: the stronger scenario maps less permafrost
    ext = {
        s: result.projections[s]["2041-2060"]["permafrost_extent_km2"] for s in ("ssp126", "ssp585")
    }
    assert ext["ssp585"] < ext["ssp126"]
    zones = result.areas
    assert set(zones["zone_kind"]) == {"total", "latitude", "elevation"}
    lat = zones[(zones["zone_kind"] == "latitude") & (zones["scenario"] == "ssp585")]
    total = zones[(zones["zone_kind"] == "total") & (zones["scenario"] == "ssp585")].iloc[0]
    assert lat["lost_km2"].sum() == pytest.approx(total["lost_km2"])


def test_a_killed_projection_resumes_and_gives_the_same_bytes(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    grid = setup["grid"]
    clean = tmp_path / "clean"
    _run(setup, clean, ShiftedFuture(setup["block"][0], grid))
    run = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        _run(setup, run, ShiftedFuture(setup["block"][0], grid, fail_after=5))
    lay = RunLayout(run)
    assert not lay.future_map("ssp126", "2041-2060").exists()  # nothing half-written
    stored = list((lay.future_dir / ".tiles_permafrost_ssp126_2041-2060").glob("*.npy"))
    assert stored  # finished tiles are kept
    source = ShiftedFuture(setup["block"][0], grid)
    _run(setup, run, source)
    n_tiles = len(list(grid.tiles((16, 16))))
    assert source.calls < 2 * n_tiles  # the stored tiles were not computed again
    for s in ("ssp126", "ssp585"):
        for path in (
            RunLayout(clean).future_map(s, "2041-2060"),
            RunLayout(clean).future_gcms(s, "2041-2060"),
        ):
            other = run / path.relative_to(clean)
            assert path.read_bytes() == other.read_bytes()
    # a rerun after completion reuses every map: the source is never asked
    _run(setup, run, ShiftedFuture(setup["block"][0], grid, fail_after=0))
