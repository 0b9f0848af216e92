"""dask with real worker processes: one cluster per run, the thread pool's bytes, quiet logs."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import distributed
import numpy as np
import pytest
import rasterio
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from permamap import cluster as C
from permamap import pipeline
from permamap.aoa import fit_aoa
from permamap.cluster import ClusterError, compute_cluster
from permamap.config import demo_config
from permamap.errors import ConfigError
from permamap.grid import Grid
from permamap.modelio import ModelArtefact
from permamap.predict import predict_map, run_tiles
from permamap.selection.ensemble import Ensemble, fit_ensemble
from permamap.selection.errorprofile import ErrorProfile
from permamap.stages import map_stage

from .conftest import FEATURES

pytestmark = pytest.mark.slow  # worker processes start in seconds each (~30-40 s in all)

EPOCHS = (2000, 2010, 2020)
CALIBRATION = {
    "method": "isotonic",
    "table_p": [0.0, 0.4, 1.0],
    "table_calibrated": [0.0, 0.5, 1.0],
}


@pytest.fixture(scope="module")
def trained(
    forest: RandomForestClassifier, training: tuple[np.ndarray, np.ndarray]
) -> ModelArtefact:
    """Everything a map ships to the workers: model, AOA, ensemble, calibration, error profile."""
    X, y = training
    members: Ensemble = fit_ensemble(
        Pipeline(
            [("scale", StandardScaler()), ("clf", RandomForestClassifier(20, random_state=0))]
        ),
        X,
        y,
        (np.arange(len(X)) * 7) % 16,
        n_members=4,
        random_state=0,
    )
    card = {
        "features": FEATURES,
        "model": "random_forest",
        "calibration": CALIBRATION,
        "error_profile": ErrorProfile("glm", 0.5, coef=(0.2, 1.0, 0.3)).to_dict(),
    }
    aoa = fit_aoa(X, weights=forest.feature_importances_, folds=np.arange(len(X)) % 5)
    return ModelArtefact(model=forest, card=card, aoa=aoa, ensemble=members)


def _cfg(tmp: Path, grid: Grid, scheduler: str | None) -> Any:
    cfg = dataclasses.replace(demo_config(), grid=grid, epochs=EPOCHS, tile_shape=(10, 12))
    return cfg.with_out_dir(tmp).with_compute(n_jobs=2, scheduler=scheduler)


def _read(path: Path) -> tuple[np.ndarray, dict[str, str], tuple[str | None, ...]]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.tags(), ds.descriptions


def _assert_same_files(a: Path, b: Path) -> None:
    pa, ta, da = _read(a)
    pb, tb, db = _read(b)
    np.testing.assert_array_equal(pa, pb)
    assert ta == tb and da == db


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record each LocalCluster started (its ``processes`` flag)."""
    starts: list[bool] = []

    class Counting(distributed.LocalCluster):  # type: ignore[misc]
        def __init__(self, *args: Any, **kw: Any) -> None:
            starts.append(bool(kw.get("processes")))
            super().__init__(*args, **kw)

    monkeypatch.setattr(distributed, "LocalCluster", Counting)
    return starts


def test_a_run_starts_one_process_cluster_quietly_and_matches_the_thread_pool(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    trained: ModelArtefact,
    stack: Path,
    grid: Grid,
) -> None:
    stacks = dict.fromkeys(EPOCHS, stack)
    seen: list[str | None] = []

    def stages(cfg: Any, source: Any, progress: bool, echo: Any, stage: Any, notes: Any) -> dict:
        # the real run() around the map stage of three epochs (the other stages are not dask's)
        seen.append(cfg.scheduler)
        stage("maps", lambda: (map_stage(cfg, trained, stacks), [], {}), lambda data: None)
        area = {str(e): {"permafrost_extent_km2": 1.0} for e in EPOCHS}
        return {"virtual_world": False, "epochs": list(EPOCHS), "area_km2": area}

    monkeypatch.setattr(pipeline, "_run_stages", stages)
    monkeypatch.setattr("permamap.report.write_report", lambda root: None)
    starts = _counting(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="permamap")
    level_before = logging.getLogger("distributed").level  # a CLI run earlier may have set it
    dask_cfg = _cfg(tmp_path / "dask", grid, "local")
    pipeline.run(dask_cfg)

    assert starts == [True]  # one LocalCluster of processes for the three maps
    assert len(seen) == 1 and seen[0] is not None and seen[0].startswith("tcp://127.0.0.1:")
    out, err = capfd.readouterr()
    chatter = [r for r in caplog.records if r.name.startswith(("distributed", "tornado"))]
    assert [r for r in chatter if r.levelno < logging.WARNING] == []
    assert "distributed.worker - INFO" not in err and "Start worker" not in out + err
    assert logging.getLogger("distributed").level == level_before  # restored after the run
    assert C.WORKER_LOG_ENV not in os.environ

    threads = _cfg(tmp_path / "threads", grid, None)
    map_stage(threads, trained, stacks)
    for epoch in EPOCHS:
        _assert_same_files(dask_cfg.layout.map(epoch), threads.layout.map(epoch))
        _assert_same_files(dask_cfg.layout.members(epoch), threads.layout.members(epoch))
    with rasterio.open(threads.layout.map(2000)) as ds:
        assert ds.count == 5 and ds.tags()["uncertainty_members"] == "4"  # every band was made


def test_library_call_with_local_starts_its_own_cluster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forest: RandomForestClassifier,
    stack: Path,
    grid: Grid,
) -> None:
    starts = _counting(monkeypatch)
    kw: dict[str, Any] = dict(epoch=2000, tile_shape=(10, 12), n_jobs=2, calibration=CALIBRATION)
    a = predict_map(forest, FEATURES, stack, grid, tmp_path / "a.tif", scheduler="local", **kw)
    b = predict_map(forest, FEATURES, stack, grid, tmp_path / "b.tif", **kw)
    assert starts == [True]
    _assert_same_files(a, b)


def test_quiet_levels_are_restored_and_verbose_leaves_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = {n: logging.getLogger(n).level for n in C.DASK_LOGGERS}
    with compute_cluster("local-threads", 1) as address:
        assert address is not None and address.startswith("inproc://")
        assert logging.getLogger("distributed.scheduler").getEffectiveLevel() == logging.WARNING
        assert os.environ[C.WORKER_LOG_ENV] == "warning"
    assert {n: logging.getLogger(n).level for n in C.DASK_LOGGERS} == before
    # `-v` leaves the loggers as they are (the CLI sets them to INFO with -v; a CLI run without
    # it, earlier in this process, may have left WARNING)
    with caplog.at_level(logging.INFO, logger="distributed"):
        with compute_cluster("local-threads", 1, verbose=True):
            assert C.WORKER_LOG_ENV not in os.environ  # `-v`: worker processes log at INFO too
    assert any(
        r.name.startswith("distributed") and r.levelno == logging.INFO for r in caplog.records
    )


def test_bad_scheduler_values_fail_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"scheduler 'lokal' is neither .* fix --scheduler"):
        with compute_cluster("lokal", 2):
            pass
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(C, "CONNECT_TIMEOUT_S", 0.5)
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(
        ClusterError, match=rf"no dask scheduler answers at {address} .*--scheduler"
    ):
        with compute_cluster(address, 2):
            pass


class DyingJob:
    """A tile job whose every tile kills the worker process computing it."""

    def is_done(self, window: Any) -> bool:
        return False

    def predict(self, *args: Any) -> str:
        os._exit(3)


def test_a_dying_worker_gives_one_line_with_the_fix(forest: RandomForestClassifier) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            with compute_cluster("local", 1) as address:
                with pytest.raises(ClusterError, match=r"workers died .* lower --jobs .* resume"):
                    run_tiles(
                        forest, DyingJob(), [rasterio.windows.Window(0, 0, 4, 4)], scheduler=address
                    )  # type: ignore[arg-type]
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
