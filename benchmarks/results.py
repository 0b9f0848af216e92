"""``out/bench/bench.json``: one file, one key per benchmark section, each section rewritten alone.

A section saves its figures with :func:`save_section` (after every step, so an interrupted run still
leaves what it measured); the other sections' figures in the file stay as they were.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["load_results", "machine", "save_section"]

#: Top-level keys a direct ``python -m benchmarks.predict`` run wrote before sections had keys.
_FLAT_PREDICT = ("demo_model", "routes", "reference_forest")


def machine() -> dict[str, Any]:
    """The machine the figures were measured on (they depend on it)."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "date": date.today().isoformat(),
    }


def load_results(out_dir: Path) -> dict[str, Any]:
    """The figures in ``out_dir / "bench.json"`` so far ({} when there are none).

    A file in the older flat layout of the prediction benchmark is read as the ``predict`` section.
    """
    path = Path(out_dir) / "bench.json"
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(
            f"{path} is not readable JSON ({exc}); delete it and rerun the benchmarks"
        ) from None
    if any(key in results for key in _FLAT_PREDICT):
        return {"predict": results}
    return dict(results)


def save_section(out_dir: Path, name: str, figures: Any) -> Path:
    """Write ``figures`` under key ``name`` of ``out_dir / "bench.json"``, keeping the other keys."""
    from permamap.fileio import write_json  # here: a measured child imports this module too

    results = load_results(out_dir)
    results[name] = figures
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_json(Path(out_dir) / "bench.json", results, newline=True)
