"""permamap.memory: freed heap goes back to the OS between stages."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from permamap.memory import _malloc_trim, release_memory


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * 4096 / 1e6


@pytest.mark.skipif(_malloc_trim() is None, reason="needs glibc's malloc_trim")
def test_memory_freed_on_threads_is_returned() -> None:
    # 64 kB arrays are below glibc's mmap threshold: they live in the threads' arenas, which
    # keep the pages of freed arrays lying between live ones (what a stage on threads leaves)
    survivors: list[np.ndarray] = []

    def work() -> None:
        arrays = [np.ones(8_000) for _ in range(1_000)]  # 64 MB per thread
        survivors.extend(arrays[::8])  # 1 in 8 stays alive: 56 MB per thread freed in between

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = _rss_mb()
    assert release_memory() is True
    assert _rss_mb() < held - 100  # most of the 224 MB freed by the threads left the process
    assert len(survivors) == 500 and all(a[0] == 1 for a in survivors)
