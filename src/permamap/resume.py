"""Resume anywhere: each stage of a run records a fingerprint in ``run.json`` when it completes.

A stage's fingerprint (:func:`stage_fingerprints`) is the SHA-256 of

* the config's fingerprint (:attr:`permamap.config.RunConfig.fingerprint`: everything that decides
  the results);
* the code: every source file of the installed ``permamap`` package (:func:`code_fingerprint`),
  so an upgraded or edited permamap recomputes instead of mixing two versions' outputs;
* the inputs: size and modification time of every file the config names (:func:`input_files`:
  site tables, rasters, reference maps, regions, future climate files; a named folder counts with
  every file inside it);
* the stage's name and the fingerprint of the stage before it.

When a stage completes, :meth:`StageBook.done` stores its fingerprint, its seconds, the files it
wrote and the small JSON-able results later stages and ``summary.json`` need (``run.json`` →
``stages``). After a ``kill -9`` at any moment, ``permamap run`` reloads every stage whose record
matches and whose files are all there, and continues from the first one that does not; inside a
stage the tile stores (stacks, maps, truth, change, projections) continue from the first missing
tile. A folder whose stages are all current and whose ``summary.json`` and report are there has
nothing to do (:meth:`StageBook.complete`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import RunConfig
from .fileio import write_json
from .keys import named_paths
from .layout import RunLayout
from .runfolder import read_record
from .tilestore import code_fingerprint

__all__ = [
    "STAGES",
    "StageBook",
    "code_fingerprint",
    "input_files",
    "stage_fingerprints",
]

#: Every stage a run may have, in order (a run without truth or projections skips those).
STAGES = ("covariates", "sites", "models", "maps", "truth", "change", "projections", "report")

_MAX_FOLDER_FILES = 100_000


def input_files(cfg: RunConfig) -> list[Path]:
    """Every existing file or folder a path in the config's input sections names, resolved.

    Strings in ``[covariates]``, ``[[sites.inputs]]``, ``[change]`` and ``[projections]`` that
    name an existing file or folder (relative to the config's folder) count; other strings (names,
    URLs, templates) do not.
    """
    sections = (cfg.covariates, cfg.site_inputs, cfg.change, cfg.projections)
    return named_paths(sections, cfg.base_dir)


def _stat_lines(paths: Sequence[Path]) -> list[str]:
    lines = []
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files[:_MAX_FOLDER_FILES]:
            st = f.stat()
            lines.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}")
    return lines


def stage_fingerprints(cfg: RunConfig, stages: Sequence[str] = STAGES) -> dict[str, str]:
    """Each stage's fingerprint: config, code, input files and the stage before it (see module)."""
    base = hashlib.sha256(
        "\n".join([cfg.fingerprint, code_fingerprint(), *_stat_lines(input_files(cfg))]).encode()
    ).hexdigest()
    out: dict[str, str] = {}
    previous = base
    for name in stages:
        previous = hashlib.sha256(f"{previous}\n{name}".encode()).hexdigest()
        out[name] = previous
    return out


class StageBook:
    """The stage records of one run folder (``run.json`` → ``stages``) against this run's fingerprints.

    Parameters
    ----------
    layout : RunLayout
        The run folder.
    fingerprints : mapping of str to str
        This run's fingerprint of every stage (:func:`stage_fingerprints`).
    """

    def __init__(self, layout: RunLayout, fingerprints: Mapping[str, str]) -> None:
        self.layout = layout
        self.fingerprints = dict(fingerprints)

    def _records(self) -> dict[str, Any]:
        record = read_record(self.layout) or {}
        stages = record.get("stages", {})
        return stages if isinstance(stages, dict) else {}

    def current(self, name: str) -> dict[str, Any] | None:
        """The stage's record when it completed with this run's fingerprint and its files are there."""
        rec = self._records().get(name)
        if not isinstance(rec, dict) or rec.get("fingerprint") != self.fingerprints[name]:
            return None
        root = self.layout.root
        if not all((root / f).exists() for f in rec.get("outputs", [])):
            return None
        return rec

    def done(
        self, name: str, seconds: float, outputs: Sequence[Path], data: Mapping[str, Any]
    ) -> None:
        """Record that ``name`` completed: fingerprint, seconds, files (relative) and results."""
        path = self.layout.run_record
        record = read_record(self.layout) or {}
        old = record.get("stages")
        stages: dict[str, Any] = old if isinstance(old, dict) else {}
        root = self.layout.root.resolve()
        stages[name] = {
            "fingerprint": self.fingerprints[name],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 2),
            "outputs": sorted({os.path.relpath(Path(p).resolve(), root) for p in outputs}),
            "data": dict(data),
        }
        record["stages"] = stages
        write_json(path, record, newline=True)

    def forget(self, names: Sequence[str]) -> None:
        """Drop the records of ``names`` (a stage that reruns invalidates the ones after it)."""
        record = read_record(self.layout) or {}
        stages = record.get("stages")
        if isinstance(stages, dict) and any(n in stages for n in names):
            record["stages"] = {k: v for k, v in stages.items() if k not in names}
            write_json(self.layout.run_record, record, newline=True)

    def complete(self, names: Sequence[str]) -> bool:
        """Every stage of ``names`` is current, ``run.json`` says complete, summary and report exist."""
        record = read_record(self.layout) or {}
        return (
            record.get("status") == "complete"
            and self.layout.summary.is_file()
            and self.layout.report.is_file()
            and all(self.current(n) is not None for n in names)
        )


def summary_of(layout: RunLayout) -> dict[str, Any]:
    """The run's ``summary.json``."""
    return dict(json.loads(layout.summary.read_text(encoding="utf-8")))
