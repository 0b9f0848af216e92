"""Give freed memory back to the operating system between a run's stages.

A stage that works on threads (the stack tiles, the map tiles) frees its arrays when it ends, but
glibc's allocator keeps much of that memory in its per-thread arenas and on the heap, so the
process stays as large as the stage's peak: at 30 arc-sec the run entered the models stage at
about 1.3 GB of which little was live, and the stage's two joblib workers pushed the process tree
past 2 GB. :func:`release_memory` collects garbage and calls glibc's ``malloc_trim(0)``, which
returns the free pages of every arena (``man 3 malloc_trim``). On other C libraries it only
collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

__all__ = ["release_memory"]


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)
    except OSError:  # pragma: no cover - no C library to load
        return None
    if trim is None:  # musl, macOS: no malloc_trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Collect garbage and return free heap pages to the OS; whether ``malloc_trim`` ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
