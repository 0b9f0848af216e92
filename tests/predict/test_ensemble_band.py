"""Band 3 from a block-bootstrap ensemble; member classes file; expected-accuracy band."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from permamap.aoa import fit_aoa
from permamap.covariates.stack import read_stack as real_read_stack
from permamap.errors import DataError
from permamap.predict import TileStore, estimate_map, predict_block, predict_map
from permamap.predict import tiles as P
from permamap.selection.calibration import Calibrator
from permamap.selection.ensemble import Ensemble, fit_ensemble

from .conftest import FEATURES


class FixedMembers:
    """Members whose P(permafrost) is the same at every cell: ``p[k]`` for member k."""

    def __init__(self, p: list[float]) -> None:
        self.p = np.asarray(p, dtype=float)
        self.n_members = len(p)
        self.n_features = 3

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        return np.repeat(self.p[:, None], len(X), axis=1)

    def predictors(self) -> list[Any]:
        return []


class LinearProfile:
    """A fake error profile: accuracy falls 0.1 per unit of DI from 0.95, floor 0.5."""

    def expected_accuracy(self, di: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.clip(0.95 - 0.1 * di, 0.5, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear", "slope": -0.1}


def _pipe(est: Any) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", est)])


KINDS = {
    "logistic": lambda: _pipe(LogisticRegression()),
    "forest": lambda: _pipe(RandomForestClassifier(n_estimators=60, random_state=0)),
    "boosted": lambda: _pipe(HistGradientBoostingClassifier(max_iter=30, random_state=0)),
}


@pytest.fixture(scope="module")
def groups(training) -> np.ndarray:
    X, _ = training
    return (np.arange(len(X)) * 7) % 16  # 16 blocks of 25 rows


@pytest.fixture(scope="module")
def ensemble(training, groups) -> Ensemble:
    X, y = training
    return fit_ensemble(KINDS["forest"](), X, y, groups, n_members=4, random_state=0)


def test_agreeing_members_give_zero_and_spread_members_give_the_sd(forest, block) -> None:
    valid = np.isfinite(block).all(axis=0)
    same = predict_block(forest, block, members=FixedMembers([0.7, 0.7, 0.7]))
    assert (same[2][valid] == 0).all() and (same[2][~valid] == 255).all()
    two = predict_block(forest, block, members=FixedMembers([0.2, 0.8]))
    assert (two[2][valid] == 30).all()  # population sd of {0.2, 0.8} = 0.3
    # class and probability stay the main model's
    alone = predict_block(forest, block)
    np.testing.assert_array_equal(two[:2], alone[:2])
    assert (alone[2] == 255).all()  # no ensemble → no uncertainty, never a made-up margin


def test_members_go_through_the_same_calibrator(forest, block) -> None:
    cal = Calibrator("sigmoid", (0.0, 0.5, 1.0), (0.0, 0.2, 0.4))  # halves p below 0.5...
    valid = np.isfinite(block).all(axis=0)
    got = predict_block(forest, block, calibration=cal, members=FixedMembers([0.2, 0.8]))
    # calibrated members: 0.08 and 0.32 → sd 0.12 → 12 percentage points
    assert (got[2][valid] == 12).all()


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_band_meaning_for_every_model_kind(kind: str, training, groups, block) -> None:
    X, y = training
    model = KINDS[kind]().fit(X, y)
    ens = fit_ensemble(KINDS[kind](), X, y, groups, n_members=5, random_state=1)
    cal = Calibrator("isotonic", (0.0, 0.3, 0.7, 1.0), (0.0, 0.2, 0.9, 1.0))
    out = predict_block(model, block, calibration=cal, members=ens)
    valid = np.isfinite(block).all(axis=0)
    x = block[:, valid].T
    # by hand, through scikit-learn: each member's P(1), calibrated, population sd, percent
    p = np.stack([m.predict_proba(x)[:, 1] for m in ens.members])
    # float32 factors: scikit-learn keeps float32 for linear pipelines, the folded-weight route
    # of linear members computes in float64 (differences ~1e-7, far below one percentage point)
    np.testing.assert_allclose(ens.predict_members(x), p, rtol=0, atol=1e-6)
    expected = np.rint(100 * np.interp(ens.predict_members(x), cal.x, cal.y).std(axis=0))
    np.testing.assert_array_equal(out[2][valid], expected.astype(np.uint8))
    assert out[2][valid].max() <= 50 and out[2][valid].max() > 0
    np.testing.assert_array_equal(
        out[1][valid], np.rint(100 * cal.apply(model.predict_proba(x)[:, 1]))
    )


def test_expected_accuracy_band(forest, training, block) -> None:
    X, _ = training
    ref = fit_aoa(X, weights=forest.feature_importances_, folds=np.arange(len(X)) % 5)
    out = predict_block(forest, block, aoa=ref, error_profile=LinearProfile())
    valid = np.isfinite(block).all(axis=0)
    di = ref.dissimilarity(block[:, valid].T)
    np.testing.assert_array_equal(out[3][valid], (di <= ref.threshold).astype(np.uint8))
    np.testing.assert_array_equal(out[4][valid], np.rint(100 * np.clip(0.95 - 0.1 * di, 0.5, 1)))
    assert (out[4][~valid] == 255).all()
    with pytest.raises(DataError, match="needs the AOA reference"):
        predict_block(forest, block, error_profile=LinearProfile())


def _run(model, stack, grid, out: Path, ens, **kw) -> Path:
    return predict_map(
        model,
        FEATURES,
        stack,
        grid,
        out / "permafrost_2000.tif",
        epoch=2000,
        tile_shape=(10, 12),
        progress=False,
        members=ens,
        members_out=out / "members" / "members_2000.tif",
        **{"n_jobs": 1, **kw},
    )


def test_member_classes_file_and_sidecar(tmp_path: Path, forest, ensemble, stack, grid, block):
    cal = {"method": "isotonic", "table_p": [0.0, 0.4, 1.0], "table_calibrated": [0.0, 0.5, 1.0]}
    out = _run(forest, stack, grid, tmp_path, ensemble, calibration=cal, threshold=0.45)
    members_tif = tmp_path / "members" / "members_2000.tif"
    with rasterio.open(out) as ds:
        tags, bands = ds.tags(), ds.read()
    assert tags["uncertainty_units"] == "percentage points"
    assert tags["uncertainty_method"] == (
        "ensemble_sd: 100 x sd of calibrated member probabilities, B=4 spatial block-bootstrap "
        "refits (percentage points)"
    )
    with rasterio.open(members_tif) as ds:
        assert ds.descriptions == ("member_classes",) and ds.dtypes == ("uint32",)
        assert grid.matches(ds.crs, ds.transform, (ds.height, ds.width))
        mtags, bits = ds.tags(), ds.read(1)
    assert mtags["n_members"] == "4" and mtags["epoch"] == "2000" and mtags["threshold"] == "0.45"
    assert "bit k" in mtags["bit_meaning"]
    valid = np.isfinite(block).all(axis=0)
    assert (bits[bands[0] == 255] == 0).all()
    p = np.interp(
        ensemble.predict_members(block[:, valid].T), cal["table_p"], cal["table_calibrated"]
    )
    for k in range(4):  # bit k decodes to member k's class
        np.testing.assert_array_equal((bits[valid] >> k) & 1, (p[k] >= 0.45).astype(np.uint32))
    np.testing.assert_array_equal(bands[2][valid], np.rint(100 * p.std(axis=0)))
    side = json.loads(members_tif.with_suffix(".json").read_text())
    area = grid.cell_area_km2()[valid]
    assert side["epoch"] == 2000 and side["n_members"] == 4
    np.testing.assert_allclose(side["permafrost_extent_km2"], (p >= 0.45) @ area, rtol=1e-12)
    np.testing.assert_allclose(side["probability_weighted_km2"], p @ area, rtol=1e-12)
    assert not TileStore.beside(out).folder.exists()


def test_killed_run_resumes_to_identical_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forest, ensemble, stack, grid
) -> None:
    clean = _run(forest, stack, grid, tmp_path / "clean", ensemble)
    calls: list[int] = []

    def crashing_read(*args, **kwargs):
        if len(calls) >= 5:
            raise RuntimeError("simulated kill")
        calls.append(1)
        return real_read_stack(*args, **kwargs)

    monkeypatch.setattr(P, "read_stack", crashing_read)
    with pytest.raises(RuntimeError, match="simulated kill"):
        _run(forest, stack, grid, tmp_path / "resumed", ensemble)
    monkeypatch.setattr(P, "read_stack", real_read_stack)
    resumed = _run(forest, stack, grid, tmp_path / "resumed", ensemble)
    rerun = _run(forest, stack, grid, tmp_path / "resumed", ensemble)
    assert resumed.read_bytes() == clean.read_bytes() == rerun.read_bytes()
    for name in ("members_2000.tif", "members_2000.json"):
        a = (tmp_path / "clean" / "members" / name).read_bytes()
        assert (tmp_path / "resumed" / "members" / name).read_bytes() == a


def test_dask_path_with_members(tmp_path: Path, forest, ensemble, stack, grid) -> None:
    pytest.importorskip("distributed")
    local = _run(forest, stack, grid, tmp_path / "local", ensemble, n_jobs=2)
    dask = _run(
        forest, stack, grid, tmp_path / "dask", ensemble, n_jobs=2, scheduler="local-threads"
    )
    assert local.read_bytes() == dask.read_bytes()
    for name in ("members_2000.tif", "members_2000.json"):
        a = (tmp_path / "local" / "members" / name).read_bytes()
        assert (tmp_path / "dask" / "members" / name).read_bytes() == a


def test_map_without_members_says_so(tmp_path: Path, forest, stack, grid, block) -> None:
    out = predict_map(
        forest, FEATURES, stack, grid, tmp_path / "m.tif", epoch=2000, tile_shape=(16, 16),
        progress=False,
    )  # fmt: skip
    with rasterio.open(out) as ds:
        assert ds.tags()["uncertainty_method"] == "none: no ensemble was given"
        assert (ds.read(3) == 255).all()


def test_member_limits(tmp_path: Path, forest, stack, grid) -> None:
    with pytest.raises(DataError, match="at most 32"):
        _run(forest, stack, grid, tmp_path, FixedMembers([0.5] * 33))
    with pytest.raises(DataError, match="no ensemble was given"):
        _run(forest, stack, grid, tmp_path, None)
    assert not (tmp_path / "permafrost_2000.tif").exists()


def test_expected_accuracy_band_in_the_map(tmp_path: Path, forest, training, stack, grid, block):
    X, _ = training
    ref = fit_aoa(X, weights=forest.feature_importances_, folds=np.arange(len(X)) % 5)
    out = predict_map(
        forest, FEATURES, stack, grid, tmp_path / "m.tif", epoch=2000, tile_shape=(16, 16),
        progress=False, aoa=ref, error_profile=LinearProfile(),
    )  # fmt: skip
    with rasterio.open(out) as ds:
        assert ds.descriptions == (
            "class",
            "probability",
            "uncertainty",
            "aoa",
            "expected_accuracy",
        )
        assert ds.tags()["expected_accuracy_units"] == "percent"
        np.testing.assert_array_equal(
            ds.read(5), predict_block(forest, block, aoa=ref, error_profile=LinearProfile())[4]
        )


def test_estimate_counts_the_members(forest, ensemble, stack, grid) -> None:
    kw: dict[str, Any] = dict(tile_shape=(16, 16), n_jobs=1, sample_tiles=3)
    plain = estimate_map(forest, FEATURES, stack, grid, **kw)
    with_members = estimate_map(
        forest, FEATURES, stack, grid, members=ensemble, member_classes=True, **kw
    )
    assert plain.details["n_members"] == 0 and with_members.details["n_members"] == 4
    assert with_members.details["members_bytes"] > 0
    assert with_members.details["members_seconds_per_million"] > 0
    assert with_members.tile_store_bytes > plain.tile_store_bytes
    assert "4 ensemble members" in with_members.summary()
