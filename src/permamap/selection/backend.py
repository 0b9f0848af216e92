"""Where the model stage's tasks run: joblib on one machine or on a dask.distributed cluster.

Every parallel step of the stage builds a list of :func:`joblib.delayed` tasks and hands it to
:func:`run_tasks`; :func:`parallel_backend` decides where they run. The same tasks, in the same
order, give the same results on every backend.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import joblib
from sklearn.exceptions import ConvergenceWarning

from ..errors import ConfigError

if TYPE_CHECKING:
    from .settings import ModelSettings

__all__ = ["parallel_backend", "quiet", "run_tasks", "stopwatch"]

# True inside a parallel_backend block, so that the steps of the stage can each open one and,
# called from model_stage, share the block (and the dask cluster) it opened.
_ACTIVE: ContextVar[bool] = ContextVar("permamap_selection_backend", default=False)


@contextmanager
def parallel_backend(settings: ModelSettings, n_jobs: int) -> Iterator[None]:
    """joblib on one machine (``settings.backend``), or the same joblib calls on dask.

    ``backend="dask"`` connects to ``settings.scheduler`` or starts a LocalCluster with
    ``n_jobs`` single-threaded workers (all cores for ``n_jobs < 1``) for the block. Inside an
    active block a nested call does nothing, so the steps of the stage share one backend.
    """
    if _ACTIVE.get():
        yield
        return
    token = _ACTIVE.set(True)
    try:
        with _backend(settings, n_jobs):
            yield
    finally:
        _ACTIVE.reset(token)


@contextmanager
def _backend(settings: ModelSettings, n_jobs: int) -> Iterator[None]:
    if settings.backend != "dask" and settings.scheduler is None:
        try:
            with joblib.parallel_config(backend=settings.backend, n_jobs=n_jobs):
                yield
        finally:
            if settings.backend == "loky":
                _release_loky_workers()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "backend='dask' needs dask.distributed; pip install 'permamap[dask]' or use "
            "backend='loky'"
        ) from exc
    cluster = None
    if settings.scheduler:
        client = Client(settings.scheduler)
    else:
        workers = joblib.cpu_count() if n_jobs < 1 else n_jobs
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        client = Client(cluster)
    try:
        with joblib.parallel_config(backend="dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _release_loky_workers() -> None:
    """Stop joblib's reusable loky workers: idle, they would hold ≈ 300 MB each to the run's end.

    The next parallel call starts fresh ones (BENCHMARKS.md, the product benchmark, issue 14).
    """
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def run_tasks(tasks: list[Any], n_jobs: int) -> list[Any]:
    """Results of ``tasks`` (:func:`joblib.delayed` calls), in order, on the active backend."""
    if not tasks:
        return []
    return joblib.Parallel(n_jobs=n_jobs)(tasks)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence convergence and collinearity chatter of candidates inside one task."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*[Cc]ollinear.*")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def stopwatch(timings: dict[str, float], key: str) -> Callable[[], None]:
    """Start timing ``key``; the returned function stores the seconds (2 decimals) in ``timings``."""
    t0 = time.perf_counter()

    def stop() -> None:
        timings[key] = round(time.perf_counter() - t0, 2)

    return stop
