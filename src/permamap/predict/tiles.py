"""Running tiles: :func:`predict_tile` (read, predict, store one tile) and :func:`run_tiles`.

Tiles run on a local thread pool (default) or on dask.distributed (``scheduler="local"`` or an
address); both call the same :func:`predict_tile`, so their outputs are identical bit for bit.
Only tiles missing from the :class:`~permamap.predict.store.TileStore` are computed, so a killed
run resumes where it stopped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from ..aoa import AOAReference
from ..covariates.stack import read_stack
from ..errors import PermamapError
from ..inference import Predictor
from ..selection.calibration import Calibrator
from .block import predict_block
from .store import TileStore, window_key

__all__ = ["TileJob", "predict_tile", "run_tiles"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileJob:
    """Everything a worker needs for one map's tiles except the predictor (picklable)."""

    stack: Path
    features: tuple[str, ...]
    store: TileStore
    threshold: float
    n_bands: int
    calibration: Calibrator | None = None


def predict_tile(
    job: TileJob, predictor: Predictor, aoa: AOAReference | None, window: tuple[int, int, int, int]
) -> str:
    """Read, predict and store one tile ``(col_off, row_off, width, height)``.

    Returns ``"written"`` or ``"empty"`` (no cell has every factor; only a marker is stored).
    """
    w = Window(*window)
    block = read_stack(job.stack, w, job.features)
    if not np.isfinite(block).all(axis=0).any():
        job.store.write(w, None)
        return "empty"
    job.store.write(
        w, predict_block(predictor, block, job.threshold, aoa=aoa, calibration=job.calibration)
    )
    return "written"


# --------------------------------------------------------------------------- backends
def _run_local(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    todo: list[tuple[int, int, int, int]],
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    counts = {"written": 0, "empty": 0}
    if n_jobs <= 1:
        for win in todo:
            counts[predict_tile(job, predictor, aoa, win)] += 1
            bar.update()
        return counts
    # Threads: GDAL reads and the numba / scikit-learn tree kernels release the GIL.
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="permamap-tile") as pool:
        pending = set()
        it = iter(todo)
        for win in it:  # keep at most 2 × n_jobs tiles in flight: bounded memory
            pending.add(pool.submit(predict_tile, job, predictor, aoa, win))
            if len(pending) >= 2 * n_jobs:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise exc
                counts[fut.result()] += 1
                bar.update()
            for win in it:
                pending.add(pool.submit(predict_tile, job, predictor, aoa, win))
                if len(pending) >= 2 * n_jobs:
                    break
    return counts


def _run_dask(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    todo: list[tuple[int, int, int, int]],
    scheduler: str,
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise PermamapError(
            f"scheduler={scheduler!r} needs dask.distributed; `pip install distributed` or leave "
            "scheduler unset for the local pool"
        ) from exc
    counts = {"written": 0, "empty": 0}
    cluster = None
    if scheduler in ("local", "local-threads"):
        # "local-threads" keeps workers in this process (light; used by the tests).
        cluster = LocalCluster(
            n_workers=max(1, n_jobs),
            threads_per_worker=1,
            processes=scheduler == "local",
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        # Ship the model once per worker, then one small task per tile, each writing its own file.
        pred_f = client.scatter(predictor, broadcast=True, hash=False)
        aoa_f = client.scatter(aoa, broadcast=True, hash=False) if aoa is not None else None
        run_id = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                predict_tile,
                job,
                pred_f,
                aoa_f,
                win,
                pure=False,
                key=f"permamap-tile-{run_id}-{window_key(Window(*win))}",
            )
            for win in todo
        ]
        try:
            for fut in as_completed(futures):
                counts[fut.result()] += 1
                bar.update()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return counts


def run_tiles(
    predictor: Predictor,
    job: TileJob,
    tiles: Iterable[Window],
    *,
    aoa: AOAReference | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    desc: str = "predict",
) -> dict[str, int]:
    """Compute every tile not yet in ``job.store``; return counts written / empty / reused."""
    tiles = list(tiles)
    todo = [
        (int(w.col_off), int(w.row_off), int(w.width), int(w.height))
        for w in tiles
        if not job.store.is_done(w)
    ]
    reused = len(tiles) - len(todo)
    if reused:
        log.info(
            "%s: %d of %d tiles already done; computing the other %d",
            desc,
            reused,
            len(tiles),
            len(todo),
        )
    with tqdm(
        total=len(tiles),
        initial=reused,
        desc=desc,
        unit="tile",
        disable=not progress,
        smoothing=0.1,
    ) as bar:
        if scheduler is None:
            counts = _run_local(job, predictor, aoa, todo, n_jobs, bar)
        else:
            counts = _run_dask(job, predictor, aoa, todo, scheduler, n_jobs, bar)
    counts["reused"] = reused
    return counts
