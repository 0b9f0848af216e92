"""``permamap -q run CONFIG`` that dies like ``kill -9`` at a chosen point (tests/test_resume.py).

``python tests/resume_child.py CONFIG POINT N``: ``POINT`` is ``tile`` (the N-th tile written to
any tile store in this process), ``stage`` (right after the N-th stage is recorded complete) or
``report`` (as the report starts). The process ends with ``os._exit(9)``: no cleanup, no
``finally``, nothing flushed — what a ``kill -9`` leaves behind.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any


def _die_after(owner: Any, name: str, n: int) -> None:
    original = getattr(owner, name)
    count = [0]
    lock = threading.Lock()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with lock:
            count[0] += 1
            if count[0] >= n:
                os._exit(9)
        return result

    setattr(owner, name, wrapper)


def main(config: str, point: str, n: int) -> None:
    import permamap.report
    from permamap.cli import main as cli
    from permamap.resume import StageBook
    from permamap.tilestore import TileStore

    if point == "tile":
        _die_after(TileStore, "write", n)
    elif point == "stage":
        _die_after(StageBook, "done", n)
    elif point == "report":

        def die(*args: Any, **kwargs: Any) -> None:
            os._exit(9)

        permamap.report.write_report = die  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown point {point!r}")
    cli(["-q", "run", config], standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
