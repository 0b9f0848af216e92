"""Running tiles: :func:`predict_tile` (read, predict, store one tile) and :func:`run_tiles`.

Tiles run on a local thread pool (default) or on dask.distributed: the address of a running
scheduler (a run's one cluster, :func:`permamap.cluster.compute_cluster`), or ``"local"`` /
``"local-threads"`` for a LocalCluster of processes / threads started for the call. Both call the
same :func:`predict_tile`, so their outputs are identical bit for bit.
Only tiles missing from the :class:`~permamap.predict.store.TileStore` are computed, so a killed
run resumes where it stopped. With a member-classes output the tile's member bits and per-member
area sums are written to ``job.members_store`` *before* the map tile, so a tile counts as done only
when both are there. The ensemble, like the predictor, is shipped once to each dask worker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from ..aoa import AOAReference
from ..cluster import LOCAL_SCHEDULERS, ClusterError, compute_cluster, connect
from ..covariates.stack import read_stack
from ..errors import PermamapError
from ..grid import Grid
from ..inference import Predictor
from ..selection.calibration import Calibrator
from ..tilestore import for_each
from .block import (
    ErrorProfileLike,
    MembersLike,
    member_areas,
    member_classes,
    predict_block,
    predict_cells,
)
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
    error_profile: ErrorProfileLike | None = None
    members_store: TileStore | None = None
    grid: Grid | None = None

    def is_done(self, window: Window) -> bool:
        """The tile's map bands (and member files, when asked for) are stored."""
        return self.store.is_done(window) and (
            self.members_store is None or self.members_store.is_done(window)
        )


def predict_tile(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    window: tuple[int, int, int, int],
    members: MembersLike | None = None,
) -> str:
    """Read, predict and store one tile ``(col_off, row_off, width, height)``.

    Returns ``"written"`` or ``"empty"`` (no cell has every factor; only a marker is stored).
    A job with its own ``predict`` method (e.g. :class:`permamap.projections.stage.ProjectionJob`)
    computes the tile itself, on the same pool or cluster.
    """
    own = getattr(job, "predict", None)
    if own is not None:
        return str(own(predictor, aoa, window, members))
    w = Window(*window)
    block = read_stack(job.stack, w, job.features)
    if not np.isfinite(block).all(axis=0).any():
        if job.members_store is not None:
            job.members_store.write(w, None)
        job.store.write(w, None)
        return "empty"
    kw: dict[str, Any] = dict(
        aoa=aoa, calibration=job.calibration, members=members, error_profile=job.error_profile
    )
    if job.members_store is None or members is None:
        job.store.write(w, predict_block(predictor, block, job.threshold, **kw))
        return "written"
    if job.grid is None:
        raise PermamapError("a member-classes output needs the grid in the TileJob (cell areas)")
    cells = predict_cells(predictor, block, job.threshold, **kw)
    member_p = cast(np.ndarray, cells.member_p)  # set: members were given
    area = job.grid.cell_area_km2(w)
    job.members_store.write_extra(
        w, "sums", member_areas(member_p, cells.valid, job.threshold, area)
    )
    job.members_store.write(w, member_classes(member_p, cells.valid, job.threshold))
    job.store.write(w, cells.bands)  # last: the map tile marks the whole tile done
    return "written"


# --------------------------------------------------------------------------- backends
def _run_local(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    members: MembersLike | None,
    todo: list[tuple[int, int, int, int]],
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    counts = {"written": 0, "empty": 0}

    def tile(win: tuple[int, int, int, int]) -> str:
        return predict_tile(job, predictor, aoa, win, members)

    def done(result: str) -> None:
        counts[result] += 1
        bar.update()

    for_each(tile, todo, n_jobs, done)
    return counts


def _run_dask(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    members: MembersLike | None,
    todo: list[tuple[int, int, int, int]],
    scheduler: str,
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    """One task per tile on the scheduler at ``scheduler``, or on a LocalCluster started here.

    A run passes the address of its one cluster (:func:`permamap.cluster.compute_cluster`);
    ``"local"`` / ``"local-threads"`` (library use without a run) start a cluster for this call.
    """
    try:
        from distributed import KilledWorker, as_completed
        from distributed.comm import CommClosedError
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise PermamapError(
            f"scheduler={scheduler!r} needs dask.distributed; `pip install distributed` or leave "
            "scheduler unset for the local pool"
        ) from exc
    counts = {"written": 0, "empty": 0}
    with ExitStack() as stack:
        address = scheduler
        if scheduler in LOCAL_SCHEDULERS:
            address = cast(str, stack.enter_context(compute_cluster(scheduler, n_jobs)))
        client = connect(address)
        stack.callback(client.close)
        # Ship the model once per worker, then one small task per tile, each writing its own file.
        pred_f = client.scatter(predictor, broadcast=True, hash=False)
        aoa_f = client.scatter(aoa, broadcast=True, hash=False) if aoa is not None else None
        members_f = (
            client.scatter(members, broadcast=True, hash=False) if members is not None else None
        )
        run_id = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                predict_tile,
                job,
                pred_f,
                aoa_f,
                win,
                members_f,
                pure=False,
                key=f"permamap-tile-{run_id}-{window_key(Window(*win))}",
            )
            for win in todo
        ]
        try:
            for fut in as_completed(futures, loop=client.loop):
                counts[fut.result()] += 1
                bar.update()
        except KilledWorker as exc:
            client.cancel(futures)
            raise ClusterError(
                f"dask workers died while predicting {getattr(exc, 'task', 'a tile')} "
                f"({len(todo)} tiles asked); the usual cause is memory: lower --jobs or "
                "[grid].tile, or leave --scheduler unset for the thread pool. Finished tiles are "
                "kept: rerun to resume"
            ) from exc
        except CommClosedError as exc:
            raise ClusterError(
                f"lost the dask scheduler at {address} ({exc}); restart it and rerun (finished "
                "tiles are kept), or leave --scheduler unset for the thread pool"
            ) from exc
        except BaseException:
            client.cancel(futures)
            raise
    return counts


def run_tiles(
    predictor: Predictor,
    job: TileJob,
    tiles: Iterable[Window],
    *,
    aoa: AOAReference | None = None,
    members: MembersLike | None = None,
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
        if not job.is_done(w)
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
            counts = _run_local(job, predictor, aoa, members, todo, n_jobs, bar)
        else:
            counts = _run_dask(job, predictor, aoa, members, todo, scheduler, n_jobs, bar)
    counts["reused"] = reused
    return counts
