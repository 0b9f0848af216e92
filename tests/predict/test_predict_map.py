"""predict_map: tiles equal the whole array, resume after a crash, backends agree, bad input."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permamap.aoa import fit_aoa
from permamap.covariates.stack import read_stack as real_read_stack
from permamap.errors import DataError, GridMismatchError
from permamap.grid import Grid
from permamap.inference import ReferencePredictor, compile_model
from permamap.predict import OutputWriteError, TileStore, estimate_map, predict_block, predict_map
from permamap.predict import tiles as P  # the tile runner: its read_stack and predict_block

from .conftest import FEATURES, write_stack


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def _predict_small(forest: Any, stack: Path, grid: Grid, out: Path) -> Path:
    """The serial 10 × 12-tile prediction the resume and disk-full tests repeat."""
    return predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        out,
        epoch=2000,
        tile_shape=(10, 12),
        progress=False,
        n_jobs=1,
    )


def test_map_contract(tmp_path: Path, forest, stack: Path, grid: Grid, block: np.ndarray) -> None:
    out = predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        tmp_path / "permafrost_2000.tif",
        epoch=2000,
        model_name="random_forest",
        tile_shape=(16, 16),
        progress=False,
        n_jobs=1,
    )
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("class", "probability", "uncertainty")
        assert ds.dtypes == ("uint8",) * 3 and ds.nodata == 255
        assert grid.matches(ds.crs, ds.transform, (ds.height, ds.width))
        tags = ds.tags()
        assert tags["epoch"] == "2000" and tags["model"] == "random_forest"
        # no ensemble given: the uncertainty band is empty and the tag says why
        assert tags["uncertainty_method"] == "none: no ensemble was given"
        assert ds.profile["tiled"]
        data = ds.read()
    valid = np.isfinite(block).all(axis=0)
    assert (data[:, ~valid] == 255).all()
    assert set(np.unique(data[0][valid])) <= {0, 1}
    assert data[1][valid].max() <= 100 and (data[2] == 255).all()
    assert not TileStore.beside(out).folder.exists()  # the tile store is removed after assembly
    # The probability band is scikit-learn's predict_proba in percent.
    ref = forest.predict_proba(block[:, valid].T)[:, 1]
    assert np.abs(data[1][valid] - np.rint(ref * 100)).max() <= 1


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(1, 40), cols=st.integers(1, 55))
def test_tiled_equals_whole_array(
    rows: int, cols: int, forest, stack: Path, grid: Grid, block: np.ndarray
) -> None:
    """Any tile shape gives the same map as predicting the whole array at once."""
    whole = predict_block(forest, block)
    with tempfile.TemporaryDirectory() as tmp:
        out = predict_map(
            forest,
            FEATURES,
            stack,
            grid,
            Path(tmp) / "m.tif",
            epoch=2000,
            tile_shape=(rows, cols),
            progress=False,
            n_jobs=2,
        )
        np.testing.assert_array_equal(_read(out), whole)


def test_compiled_and_reference_paths_agree(
    tmp_path: Path, forest, stack: Path, grid: Grid
) -> None:
    a = predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        tmp_path / "a.tif",
        epoch=2000,
        tile_shape=(16, 16),
        progress=False,
        predictor=ReferencePredictor(forest, 3),
    )
    b = predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        tmp_path / "b.tif",
        epoch=2000,
        tile_shape=(16, 16),
        progress=False,
        predictor=compile_model(forest, 3),
    )
    da, db = _read(a), _read(b)
    np.testing.assert_array_equal(da[0], db[0])
    assert np.abs(da[1:].astype(int) - db[1:].astype(int)).max() <= 1  # rint at exact .5 only


class Crash(RuntimeError):
    pass


def _counting_reads(monkeypatch: pytest.MonkeyPatch, crash_after: int | None) -> list[int]:
    calls: list[int] = []

    def read(*args, **kwargs):
        if crash_after is not None and len(calls) >= crash_after:
            raise Crash("simulated kill")
        calls.append(1)
        return real_read_stack(*args, **kwargs)

    monkeypatch.setattr(P, "read_stack", read)
    return calls


def test_killed_run_resumes_to_identical_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forest, stack: Path, grid: Grid
) -> None:
    kw = dict(epoch=2000, tile_shape=(10, 12), progress=False, n_jobs=1)
    n_tiles = grid.n_tiles((10, 12))
    clean = predict_map(
        forest, FEATURES, stack, grid, tmp_path / "clean" / "permafrost_2000.tif", **kw
    )

    out = tmp_path / "resumed" / "permafrost_2000.tif"
    _counting_reads(monkeypatch, crash_after=7)
    with pytest.raises(Crash):
        predict_map(forest, FEATURES, stack, grid, out, **kw)
    assert not out.exists()  # nothing at the final path
    store = TileStore.beside(out)
    assert sum(store.is_done(w) for w in grid.tiles((10, 12))) == 7
    assert not list(store.folder.glob(".*.tmp*"))  # no half-written tile either

    calls = _counting_reads(monkeypatch, crash_after=None)
    predict_map(forest, FEATURES, stack, grid, out, **kw)
    assert len(calls) == n_tiles - 7  # only the missing tiles were computed
    assert out.read_bytes() == clean.read_bytes()  # byte-identical COG


def test_changed_settings_clear_stale_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forest, stack: Path, grid: Grid
) -> None:
    out = tmp_path / "m.tif"
    _counting_reads(monkeypatch, crash_after=3)
    with pytest.raises(Crash):
        _predict_small(forest, stack, grid, out)
    calls = _counting_reads(monkeypatch, crash_after=None)
    predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        out,
        epoch=2000,
        tile_shape=(10, 12),
        threshold=0.4,
        progress=False,
        n_jobs=1,
    )
    assert len(calls) == grid.n_tiles((10, 12))  # a new threshold: every tile recomputed


def test_dask_equals_local(tmp_path: Path, forest, stack: Path, grid: Grid) -> None:
    pytest.importorskip("distributed")
    kw = dict(epoch=2000, tile_shape=(12, 16), progress=False, n_jobs=2)
    local = predict_map(forest, FEATURES, stack, grid, tmp_path / "local.tif", **kw)
    dask = predict_map(
        forest, FEATURES, stack, grid, tmp_path / "dask.tif", scheduler="local-threads", **kw
    )
    np.testing.assert_array_equal(_read(local), _read(dask))
    assert local.read_bytes() == dask.read_bytes()


def test_aoa_band(
    tmp_path: Path, forest, training, stack: Path, grid: Grid, block: np.ndarray
) -> None:
    X, _ = training
    ref = fit_aoa(X, weights=forest.feature_importances_, folds=np.arange(len(X)) % 5)
    out = predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        tmp_path / "m.tif",
        epoch=2000,
        tile_shape=(16, 16),
        progress=False,
        aoa=ref,
    )
    with rasterio.open(out) as ds:
        assert ds.descriptions[-1] == "aoa"
        aoa = ds.read(4)
    valid = np.isfinite(block).all(axis=0)
    expected = ref.dissimilarity(block[:, valid].T) <= ref.threshold
    np.testing.assert_array_equal(aoa[valid], expected.astype(np.uint8))
    assert (aoa[~valid] == 255).all()


# --------------------------------------------------------------------------- bad input
def test_stack_missing_feature(tmp_path: Path, forest, stack: Path, grid: Grid) -> None:
    out = tmp_path / "m.tif"
    out.write_bytes(b"earlier map")
    with pytest.raises(DataError, match=r"lacks model feature\(s\) \['permafrost_index'\]"):
        predict_map(
            forest,
            ["maat", "elevation", "permafrost_index"],
            stack,
            grid,
            out,
            epoch=2000,
            progress=False,
        )
    assert out.read_bytes() == b"earlier map"


def test_grid_mismatch(tmp_path: Path, forest, stack: Path) -> None:
    other = Grid.from_bounds((100, 50, 126, 68), res=0.5)
    with pytest.raises(GridMismatchError, match="rebuild it for this grid"):
        predict_map(forest, FEATURES, stack, other, tmp_path / "m.tif", epoch=2000, progress=False)


def test_model_width_mismatch(tmp_path: Path, forest, stack: Path, grid: Grid) -> None:
    with pytest.raises(DataError, match="fitted on 3 features but 2"):
        predict_map(
            forest, FEATURES[:2], stack, grid, tmp_path / "m.tif", epoch=2000, progress=False
        )


def test_disk_full_keeps_earlier_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forest, stack: Path, grid: Grid
) -> None:
    out = tmp_path / "m.tif"
    out.write_bytes(b"earlier map")
    real_save = np.save
    saved: list[int] = []

    def save(fh, arr, **kw):
        if len(saved) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(1)
        real_save(fh, arr, **kw)

    monkeypatch.setattr(np, "save", save)
    with pytest.raises(OutputWriteError, match="disk is full") as info:
        _predict_small(forest, stack, grid, out)
    assert isinstance(info.value, OSError)
    assert out.read_bytes() == b"earlier map"
    store = TileStore.beside(out)
    assert len(list(store.folder.glob("*.npy"))) == 2 and not list(store.folder.glob(".*.tmp*"))
    monkeypatch.setattr(np, "save", real_save)
    _predict_small(forest, stack, grid, out)
    assert out.read_bytes()[:2] in (b"II", b"MM")


def test_all_nodata_tiles_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forest, grid: Grid
) -> None:
    empty = np.full((3, *grid.shape), np.nan, dtype=np.float32)
    stack = write_stack(tmp_path / "ocean.tif", grid, empty)
    called: list[int] = []
    monkeypatch.setattr(P, "predict_block", lambda *a, **k: called.append(1))
    out = predict_map(
        forest,
        FEATURES,
        stack,
        grid,
        tmp_path / "m.tif",
        epoch=2000,
        tile_shape=(16, 16),
        progress=False,
    )
    assert not called
    assert (_read(out) == 255).all()


def test_estimate(forest, stack: Path, grid: Grid, block: np.ndarray) -> None:
    est = estimate_map(forest, FEATURES, stack, grid, tile_shape=(16, 16), n_jobs=2, sample_tiles=4)
    assert est.cells == grid.height * grid.width and est.tiles == grid.n_tiles((16, 16))
    assert 0 <= est.valid_fraction <= 1 and est.est_seconds >= 0
    assert 0 < est.peak_memory_bytes < 2 * 1024**3
    assert "cells" in est.summary() and "memory" in est.summary()
