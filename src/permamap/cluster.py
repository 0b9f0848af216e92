"""Where a run's tiles are computed: one dask.distributed cluster per run, with quiet logs.

:func:`compute_cluster` turns a run's ``scheduler`` setting into the address of a running dask
scheduler, once for the whole run, so that every map (one per epoch) connects to the same workers
instead of starting its own cluster:

* ``None`` — no dask: the maps use the local thread pool; yields ``None``.
* ``"local"`` — one :class:`distributed.LocalCluster` of ``n_jobs`` single-threaded worker
  *processes* (no dashboard) for the duration of the block; yields its ``tcp://127.0.0.1:…``.
* ``"local-threads"`` — the same with the workers as threads of this process (light; tests).
* any other value — the address of a running scheduler (``tcp://host:8786``); checked by
  connecting once, then yielded as it is.

distributed logs every worker start, connection and registration at INFO (about 40 lines per
cluster), and its worker processes log through their own handlers. Unless ``verbose``,
:func:`quiet_dask_logs` sets distributed's and tornado's loggers to WARNING in this process and,
through dask's ``DASK_LOGGING__DISTRIBUTED`` variable, in the worker processes it spawns; both are
restored when the block ends.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, PermamapError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "LOCAL_SCHEDULERS",
    "ClusterError",
    "check_scheduler",
    "compute_cluster",
    "connect",
    "quiet_dask_logs",
]

log = logging.getLogger(__name__)

#: scheduler values that start a cluster on this machine (processes, threads)
LOCAL_SCHEDULERS = ("local", "local-threads")
#: the loggers quieted to WARNING (their children inherit); louder ones (tornado) are left alone
DASK_LOGGERS = (
    "distributed",
    "distributed.scheduler",
    "distributed.worker",
    "distributed.nanny",
    "distributed.core",
    "distributed.http.proxy",
    "distributed.deploy",
    "tornado",
    "tornado.application",
    "bokeh",
)
#: read by distributed when a worker process imports it: the workers log at this level
WORKER_LOG_ENV = "DASK_LOGGING__DISTRIBUTED"
#: seconds to wait for a scheduler address to answer
CONNECT_TIMEOUT_S = 10.0

_ADDRESS = re.compile(r"^([a-z][a-z0-9+]*://\S+|[\w.\-\[\]:]+:\d+)$", re.IGNORECASE)
_FIX = "leave --scheduler ([run].scheduler) unset to use the local thread pool"


class ClusterError(PermamapError, RuntimeError):
    """The dask cluster could not start, could not be reached, or lost a worker mid-run."""


def check_scheduler(scheduler: str) -> None:
    """Refuse a scheduler value that is neither a local cluster name nor an address.

    >>> check_scheduler("tcp://10.0.0.5:8786")
    >>> check_scheduler("lokal")
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: scheduler 'lokal' is neither "local", "local-threads" nor a dask scheduler address like "tcp://host:8786"; fix --scheduler or [run].scheduler
    """
    if scheduler in LOCAL_SCHEDULERS or _ADDRESS.match(scheduler):
        return
    raise ConfigError(
        f'scheduler {scheduler!r} is neither "local", "local-threads" nor a dask scheduler '
        'address like "tcp://host:8786"; fix --scheduler or [run].scheduler'
    )


def _workers(n_jobs: int) -> int:
    """``n_jobs`` workers; ``-1`` (or any value below 1) means one per core."""
    return n_jobs if n_jobs >= 1 else (os.cpu_count() or 1)


@contextmanager
def quiet_dask_logs(quiet: bool = True) -> Iterator[None]:
    """distributed's and tornado's loggers at WARNING (here and in spawned workers) for the block.

    Levels already at WARNING or above stay as they are; everything is restored on exit. Does
    nothing when ``quiet`` is False (``-v``). An explicit ``DASK_LOGGING__DISTRIBUTED`` in the
    environment is respected.
    """
    if not quiet:
        yield
        return
    import distributed  # noqa: F401  # importing it sets its loggers to INFO: quiet them after

    saved = {}
    for name in DASK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            saved[name] = logger.level
            logger.setLevel(logging.WARNING)
    set_env = WORKER_LOG_ENV not in os.environ
    if set_env:
        os.environ[WORKER_LOG_ENV] = "warning"
    try:
        yield
    finally:
        if set_env:
            os.environ.pop(WORKER_LOG_ENV, None)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def connect(address: str, timeout: float | None = None) -> Client:
    """A :class:`distributed.Client` of the scheduler at ``address``, or a one-line ClusterError."""
    from distributed import Client

    check_scheduler(address)
    wait = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        return Client(address, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"no dask scheduler answers at {address} within {wait:g} s ({type(exc).__name__}); "
            f"start one there (`dask scheduler` and `dask worker {address}`), fix the address, "
            f"use --scheduler local for a cluster on this machine, or {_FIX}"
        ) from exc


def _start_local(scheduler: str, workers: int) -> Any:
    from distributed import LocalCluster

    try:
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=scheduler == "local",
            dashboard_address=None,
            # the scheduler's HTTP server still starts: a free port, not 8787 (another cluster's)
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterError(
            f"the dask LocalCluster ({workers} worker "
            f"{'processes' if scheduler == 'local' else 'threads'}) did not start: "
            f"{type(exc).__name__}: {exc}; try fewer workers (--jobs) or {_FIX}"
        ) from exc


@contextmanager
def compute_cluster(
    scheduler: str | None, n_jobs: int, verbose: bool = False
) -> Iterator[str | None]:
    """The scheduler address every map of a run connects to (one cluster for the whole run).

    Parameters
    ----------
    scheduler : str or None
        ``None`` (local thread pool: yields None), ``"local"`` (a LocalCluster of worker
        processes), ``"local-threads"`` (its workers in this process) or a scheduler address.
    n_jobs : int
        Workers of a local cluster, one thread each; ``-1`` = one per core.
    verbose : bool, default=False
        Keep distributed's INFO logs (``permamap -v``); otherwise they are held at WARNING.

    Yields
    ------
    str or None
        The address for :class:`distributed.Client`, or None.

    Raises
    ------
    ConfigError
        ``scheduler`` is not a local cluster name nor an address.
    ClusterError
        The local cluster did not start, or nothing answers at the address.

    Examples
    --------
    >>> with compute_cluster(None, 2) as address:
    ...     print(address)
    None
    >>> with compute_cluster("local-threads", 1) as address:
    ...     address.startswith("inproc://")
    True
    """
    if scheduler is None:
        yield None
        return
    check_scheduler(scheduler)
    with quiet_dask_logs(not verbose):
        if scheduler not in LOCAL_SCHEDULERS:
            connect(scheduler).close()  # fail now, not after the stages before the maps
            yield scheduler
            return
        workers = _workers(n_jobs)
        cluster = _start_local(scheduler, workers)
        log.info(
            "dask: %d %s on %s for this run",
            workers,
            "worker processes" if scheduler == "local" else "worker threads",
            cluster.scheduler_address,
        )
        try:
            yield str(cluster.scheduler_address)
        finally:
            cluster.close()
