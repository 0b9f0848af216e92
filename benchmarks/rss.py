"""Memory of one run, not of the benchmark process: run it in a fresh process and watch that process.

``ru_maxrss`` of the benchmark process is its cumulative maximum, so a figure taken after an
earlier, bigger run reports the earlier run's peak (issue 14, point 5). Nor does a child's
``ru_maxrss`` help: Linux carries the parent's high-water mark across ``fork``/``vfork`` + ``exec``
(a child started by a 300 MB parent reports >= 300 MB even for ``python -c pass``). :func:`measure`
therefore runs a function in a fresh Python process and reads memory that belongs to that process:

* every ``interval`` seconds, the resident memory of the child *plus all its live descendants* (a
  dask worker, a process pool), with psutil (:class:`TreeWatcher`); a process whose ``VmHWM``
  (its own high-water mark since ``exec``) rose since the last sample counts at ``VmHWM``, so a
  spike between two samples is not lost;
* at the end, the child's own final ``VmHWM`` (reported by the child itself).

The peak is the largest of these. Pages shared by forked processes count once per process.
Linux-only (``/proc``), as the benchmarks are.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ChildRunError", "TreeWatcher", "hwm_mb", "measure"]


class ChildRunError(RuntimeError):
    """The measured function or command failed in its child process."""


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the dev extras (distributed)
        raise ChildRunError(
            "the memory benchmarks need psutil to watch child processes; "
            "install it with `.venv/bin/python -m pip install psutil` (or `make` the dev extras)"
        ) from None
    return psutil


def hwm_mb(pid: int | str = "self") -> float:
    """``VmHWM`` of a process in MB: its peak resident memory since it started (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeWatcher:
    """Resident memory (MB) of a process and all its live descendants, summed, at each :meth:`sample`.

    :attr:`root_mb` is the process's own share of the last sample (without its descendants).
    """

    def __init__(self, pid: int) -> None:
        self._psutil = _psutil()
        self.root = self._psutil.Process(pid)
        self.peak_mb = 0.0
        self.root_mb = 0.0
        self._hwm: dict[int, float] = {}

    def sample(self) -> float:
        """The tree's resident memory now (0 once it has gone); updates :attr:`peak_mb`.

        A process whose high-water mark rose since the previous sample counts at that mark: it
        reached it at some moment since then, which the sum at this instant would miss.
        """
        psutil = self._psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return 0.0
        total = 0.0
        for proc in procs:
            try:
                rss = proc.memory_info().rss / 2**20
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue  # ended between the listing and the reading
            hwm = hwm_mb(proc.pid)
            rose = hwm > self._hwm.get(proc.pid, 0.0)
            self._hwm[proc.pid] = max(hwm, self._hwm.get(proc.pid, 0.0))
            share = max(rss, hwm) if rose else rss
            total += share
            if proc.pid == self.root.pid:
                self.root_mb = share
        self.peak_mb = max(self.peak_mb, total)
        return total


def _watch(
    cmd: Sequence[str], interval: float, on_sample: Callable[[float, float], None] | None
) -> tuple[int, float]:
    """Run ``cmd`` until it ends, sampling its process tree; ``(exit code, sampled peak MB)``."""
    proc = subprocess.Popen(list(cmd))
    try:
        watcher = TreeWatcher(proc.pid)
        while True:
            rss = watcher.sample()
            if on_sample is not None:
                on_sample(rss, watcher.root_mb)
            code = proc.poll()
            if code is not None:
                return code, watcher.peak_mb
            time.sleep(interval)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _reference(fn: Callable[..., Any]) -> tuple[str, str]:
    """``(module, qualname)`` by which a fresh interpreter finds ``fn`` (``python -m`` mains too)."""
    module = fn.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None or not spec.name:
            raise ChildRunError(
                f"{fn.__qualname__} is defined in a script run by path; a child process cannot "
                "import it — run the script with `python -m package.module` or move the function "
                "into a module"
            )
        module = spec.name
    if "<locals>" in fn.__qualname__ or "<lambda>" in fn.__qualname__:
        raise ChildRunError(
            f"{module}.{fn.__qualname__} is a local function or lambda; a child process cannot "
            "import it — define it at module level"
        )
    return module, fn.__qualname__


def measure(
    fn: Callable[..., Any],
    *args: Any,
    interval: float = 0.05,
    on_sample: Callable[[float, float], None] | None = None,
    **kwargs: Any,
) -> tuple[Any, float, float]:
    """Run ``fn(*args, **kwargs)`` in a fresh Python process; return ``(result, seconds, peak MB)``.

    ``fn`` must be importable by name (a module-level function); arguments and result are pickled.
    ``seconds`` is the call itself, measured in the child (not the interpreter start-up); the peak
    is the child's own (with its descendants), whatever ran in this process before.
    ``on_sample(tree_mb, child_mb)`` is called in this process after every sample: the child with
    its descendants, and the child alone.

    Raises
    ------
    ChildRunError
        ``fn`` raised in the child (the message holds its traceback) or the child died.

    Examples
    --------
    >>> import math
    >>> value, seconds, peak_mb = measure(math.factorial, 5)
    >>> value, peak_mb > 0
    (120, True)
    """
    module, qualname = _reference(fn)
    with tempfile.TemporaryDirectory(prefix="permamap-measure-") as tmp:
        job, out = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        with job.open("wb") as fh:
            pickle.dump((module, qualname, args, kwargs), fh, protocol=pickle.HIGHEST_PROTOCOL)
        boot = (
            "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
            "from benchmarks.rss import _child; _child(sys.argv[2], sys.argv[3])"
        )
        cmd = [sys.executable, "-c", boot, json.dumps(sys.path), str(job), str(out)]
        code, sampled = _watch(cmd, interval, on_sample)
        if not out.is_file():
            raise ChildRunError(f"{module}.{qualname} died in its child process (exit code {code})")
        with out.open("rb") as fh:
            ok, value, seconds, own_peak = pickle.load(fh)
    if not ok:
        raise ChildRunError(f"{module}.{qualname} failed in its child process:\n{value}")
    return value, seconds, round(max(sampled, own_peak), 1)


def _child(job: str, out: str) -> None:
    """The child's side of :func:`measure`: load the call, run it, pickle the outcome."""
    try:
        with open(job, "rb") as fh:  # streamed: the payload is never held twice
            module, qualname, args, kwargs = pickle.load(fh)
        fn: Any = importlib.import_module(module)
        for part in qualname.split("."):
            fn = getattr(fn, part)
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        outcome: tuple[bool, Any, float, float] = (
            True,
            value,
            time.perf_counter() - start,
            hwm_mb(),
        )
    except BaseException:
        outcome = (False, traceback.format_exc(), 0.0, hwm_mb())
    # A private hand-off file in measure()'s temporary folder, renamed into place by hand:
    # importing permamap.fileio would put rasterio and pandas (~130 MB) under every figure.
    tmp = out + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(outcome, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)
