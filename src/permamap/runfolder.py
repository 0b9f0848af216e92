"""Run folders that never mix: ``run.json`` records which config a folder holds and how far it got.

A run claims its folder before it writes anything (:func:`claim`):

* an absent or empty folder is new;
* a folder whose ``run.json`` has the same config fingerprint is the same run: it continues
  (finished stacks and map tiles are reused), and whatever it finished before stays until rewritten;
* ``overwrite`` on the same config's folder starts it afresh (nothing is reused);
* a folder holding another config's results, or files that are not a run's, is refused unless
  ``overwrite`` — which first removes only the entries a run creates (:attr:`RunLayout.ENTRIES`),
  and still refuses a folder holding anything else, so a mistyped ``--out`` never empties a folder
  of someone's own files.

While it runs, ``run.json`` says ``running`` and the stage; at the end ``complete``, or
``failed at <stage>`` with the error. ``summary.json`` and ``report.html`` are removed when a run
starts, so a failed run never leaves an earlier run's headline figures looking current.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

from . import __version__
from .errors import ConfigError, InputFileError
from .fileio import write_json
from .layout import RunLayout

__all__ = ["claim", "folder_state", "mark", "read_record", "refusal", "stage_done"]


def read_record(layout: RunLayout) -> dict[str, Any] | None:
    """The folder's ``run.json``, or None when there is none."""
    path = layout.run_record
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"{path} is not a readable run record ({exc}); delete the run folder or run with "
            "--overwrite"
        ) from None
    if not isinstance(record, dict):
        raise InputFileError(f"{path} is not a run record; run with --overwrite to start afresh")
    return record


def _foreign(layout: RunLayout) -> list[str]:
    """Names in the folder that a run does not create (a killed write's hidden ``.*.tmp*`` aside)."""
    return sorted(
        p.name
        for p in layout.root.iterdir()
        if p.name not in RunLayout.ENTRIES and not _is_scratch(p.name)
    )


def _is_scratch(name: str) -> bool:
    return name.startswith(".") and ".tmp" in name


def folder_state(layout: RunLayout, fingerprint: str) -> str:
    """``"new"``, ``"same"`` (this config's run, to continue), ``"other"`` or ``"foreign"``."""
    root = layout.root
    if not root.exists():
        return "new"
    if not root.is_dir():
        return "foreign"
    if not any(root.iterdir()):
        return "new"
    if _foreign(layout):
        return "foreign"
    record = read_record(layout)
    if record is None:
        return "other"
    return "same" if record.get("config_sha256") == fingerprint else "other"


def refusal(layout: RunLayout, fingerprint: str, *, overwrite: bool = False) -> str | None:
    """Why this config may not run into ``layout.root`` (None when it may)."""
    root = layout.root
    state = folder_state(layout, fingerprint)
    if state == "foreign":
        names = _foreign(layout) if root.is_dir() else [root.name]
        return (
            f"run folder {root} holds files that are not a permamap run's ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}); choose another [run].out or --out"
        )
    if state == "other" and not overwrite:
        record = read_record(layout)
        what = (
            f"the results of another config ({record.get('config', '?')}, "
            f"{record.get('status', '?')})"
            if record
            else "results without a run.json (from an older permamap)"
        )
        return (
            f"run folder {root} holds {what}; choose another [run].out or --out, or pass "
            "--overwrite to delete them first"
        )
    return None


def claim(layout: RunLayout, fingerprint: str, *, overwrite: bool = False, config: str = "") -> str:
    """Make ``layout.root`` this config's run folder, or refuse; returns the folder's state.

    Raises
    ------
    ConfigError
        The folder holds another run (without ``overwrite``), or files a run does not create.
    """
    root = layout.root
    reason = refusal(layout, fingerprint, overwrite=overwrite)
    if reason is not None:
        raise ConfigError(reason)
    state = folder_state(layout, fingerprint)
    if state == "other" or (state == "same" and overwrite):  # overwrite: start afresh
        for name in RunLayout.ENTRIES:
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for leftover in root.iterdir():
            if _is_scratch(leftover.name):
                leftover.unlink()
    root.mkdir(parents=True, exist_ok=True)
    for stale in (layout.summary, layout.report):
        stale.unlink(missing_ok=True)
    if state != "same":
        layout.run_record.unlink(missing_ok=True)  # a fresh record for a fresh run
    mark(layout, "running", fingerprint=fingerprint, config=config)
    return state


def mark(
    layout: RunLayout,
    status: str,
    *,
    stage: str | None = None,
    error: str | None = None,
    fingerprint: str | None = None,
    config: str | None = None,
) -> None:
    """Update ``run.json``: status (``running``, ``complete``, ``failed at <stage>``), stage, error."""
    record = read_record(layout) or {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record.setdefault("started", now)
    record.update(tool="permamap", version=__version__, status=status, updated=now)
    if fingerprint is not None:
        record["config_sha256"] = fingerprint
    if config is not None:
        record["config"] = config
    if stage is not None:
        record["stage"] = stage
    record.setdefault("stages_done", [])
    if error is not None:
        record["error"] = error
    else:
        record.pop("error", None)
    write_json(layout.run_record, record, newline=True)


def stage_done(layout: RunLayout, stage: str) -> None:
    """Record that ``stage`` finished (``run.json`` → ``stages_done``)."""
    record = read_record(layout) or {}
    done = [s for s in record.get("stages_done", []) if s != stage] + [stage]
    record["stages_done"] = done
    write_json(layout.run_record, record, newline=True)
