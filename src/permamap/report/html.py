"""``report.html``: one self-contained page (inline CSS, PNGs as data URIs) for a run folder.

The page reads what the stages left in the run folder (docs/contracts.md, "What a run leaves
behind"), every path through :class:`~permamap.layout.RunLayout`, and never recomputes a number:
headline figures come from the run's summary and carry ``data-summary-key`` / ``data-value``
attributes (the exact JSON value) so tests and scripts can check the page against the summary.
Epochs, epoch pairs and the reference come from the summary too, never from what the folders hold,
so files an earlier run left in the folder (another epoch, a reference since removed) are never
shown; the file list only counts them.
A run of the built-in virtual world (``virtual_world`` in the summary, or the maps' tag) carries a
"VIRTUAL DATA" banner above everything; a summary with ``plausibility`` rows adds a section
comparing the virtual world with published figures.
Anything missing or unreadable becomes a visible note in its section, never a crash. The page has
no script and loads nothing from the network, so it works opened from disk, offline.

The page is assembled from :mod:`.page` (section machinery and HTML shell), :mod:`.headline`,
:mod:`.results` (maps, area, change), :mod:`.provenance` (CV, importance, sites, model card,
files) and :mod:`.uncertainty` ("How sure are we?"); :mod:`.markup` holds the HTML fragments they
share.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from pathlib import Path

from .. import fileio
from ..errors import InputFileError
from ..layout import RunLayout
from .future import section_future
from .headline import headline_values, section_headline
from .page import Page, render
from .provenance import (
    section_cv,
    section_files,
    section_importance,
    section_model_card,
    section_sites,
)
from .results import section_area, section_change, section_maps, section_plausibility
from .uncertainty import section_uncertainty

__all__ = ["headline_values", "write_report"]

logger = logging.getLogger(__name__)

_COASTLINES = ("land-mask", "data-mask", "none")

# (id, title, builder) in page order; a builder returning None leaves its section out
_SECTIONS: tuple[tuple[str, str, Callable[[Page], str | None]], ...] = (
    ("headline", "Headline figures", section_headline),
    ("plausibility", "How the virtual world compares with published figures", section_plausibility),
    ("maps", "Permafrost maps", section_maps),
    ("area", "Permafrost area", section_area),
    ("change", "Change between epochs", section_change),
    ("cv", "Model evaluation: random vs spatial CV", section_cv),
    ("importance", "Feature importance", section_importance),
    ("sites", "Sites and quality control", section_sites),
    ("model-card", "Model card", section_model_card),
    ("uncertainty", "How sure are we?", section_uncertainty),
    ("future", "Future: permafrost under climate scenarios", section_future),
    ("files", "Files in this run", section_files),
)


def write_report(
    run_dir: Path | RunLayout,
    *,
    out: Path | None = None,
    coastlines: str = "land-mask",
    max_pixels: int = 1000,
) -> Path:
    """Write ``report.html`` for a run folder and return its path.

    Parameters
    ----------
    run_dir : Path or RunLayout
        A run folder (``out/demo`` or what ``permamap run`` wrote), or its layout. Any of the
        summary, the maps, the change tables and maps, the CV scores, the selection, the model
        card, the QC report and the sites may be missing: the page then says so in that section.
    out : Path, optional
        Where to write; the layout's ``report`` path (``report.html`` in the run folder) by
        default. Written atomically.
    coastlines : {"land-mask", "data-mask", "none"}
        Coastline source for the maps (see :mod:`permamap.report.figures`).
    max_pixels : int
        Longest side of the decimated map images.

    Returns
    -------
    Path
        The written page.

    Raises
    ------
    InputFileError
        If ``run_dir`` is not a folder, or ``coastlines`` is not one of the choices.
    """
    layout = run_dir if isinstance(run_dir, RunLayout) else RunLayout(Path(run_dir))
    if not layout.root.is_dir():
        raise InputFileError(
            f"run folder {layout.root} does not exist; run `permamap demo` or `permamap run` "
            "first, or pass the folder they wrote"
        )
    if coastlines not in _COASTLINES:
        raise InputFileError(
            f"coastlines {coastlines!r} is not one of 'land-mask', 'data-mask', 'none'"
        )
    page = Page(layout, coastlines, max_pixels)
    for ident, title, build in _SECTIONS:
        page.add(ident, title, build)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    target = fileio.atomic_write_text(
        Path(out) if out is not None else layout.report, render(page, generated)
    )
    logger.info("wrote %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target
