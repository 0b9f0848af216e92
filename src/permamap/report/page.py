"""The report page: what every section shares (the run folder, its summary) and the HTML shell.

:class:`Page` collects sections; each is built on its own, and a section whose input is damaged
becomes a visible note instead of ending the report. :func:`render` wraps the sections in the
self-contained page (inline CSS, no script, nothing loaded from the network).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import rasterio

from ..layout import RunLayout
from .markup import esc, get, missing

__all__ = ["READ_ERRORS", "Page", "pair_order", "part", "read_json", "render"]

logger = logging.getLogger(__name__)

# Files whose names carry years, as regexes on the path relative to the run folder.
_PER_EPOCH_RES = {
    kind: re.compile(re.sub(r"<\w+>", r"(\\d+)", re.escape(RunLayout.pattern(kind))))
    for kind in ("stack", "map", "transitions", "change_map", "reference_confusion", "truth")
}

# What a section may fail on when an input is damaged; anything else is a bug and propagates.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    rasterio.errors.RasterioError,
)

_CSS = """
:root { --ink:#1d2630; --muted:#5b6774; --line:#d8dee4; --accent:#1f5f8b; --bg:#fbfcfd; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--bg); margin: 0; }
header { background: #12344d; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.6rem; }
header p { margin: 0; color: #c9d6e2; font-size: .9rem; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
      padding: .4rem 2rem; z-index: 1; font-size: .9rem; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 2rem 3rem; }
section { margin: 2rem 0; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: .3rem; font-size: 1.3rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .88rem; background: #fff; }
table { max-width: 100%; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
td { overflow-wrap: anywhere; }
th { background: #eef2f6; font-weight: 600; }
thead th { vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
         overflow-wrap: normal; }
td.ok { color: #1a7f37; } td.bad { color: #b42318; font-weight: 600; }
.banner { background: #b42318; color: #fff; text-align: center; font-weight: 700;
          letter-spacing: .04em; padding: .6rem 2rem; font-size: 1.05rem; }
.banner span { display: block; font-weight: 400; font-size: .85rem; letter-spacing: 0;
               color: #fde8e6; }
figure { margin: .8rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
.missing { color: #8a4b08; background: #fff6e5; border-left: 4px solid #f0a030;
           padding: .4rem .8rem; }
.note { color: var(--muted); background: #f1f5f9; border-left: 4px solid var(--accent);
        padding: .5rem .9rem; font-size: .9rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 1rem;
         align-items: start; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem;
        min-width: 0; }
.card.wide { grid-column: 1 / -1; }
dl.tests dt { font-weight: 600; margin-top: .5rem; } dl.tests dd { margin: .1rem 0 0 1.2rem; }
.card h3 { margin-top: 0; }
details summary { cursor: pointer; color: var(--accent); margin: .4rem 0; }
code { background: #eef2f6; padding: 0 .25rem; border-radius: 3px; }
footer { color: var(--muted); font-size: .8rem; text-align: center; padding: 2rem; }
"""


def pair_order(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Epoch pairs as a paper shows them: consecutive pairs in time order, then longer spans.

    A pair is consecutive when no epoch of the given pairs lies between its two epochs; longer
    spans follow, shortest first, so the first → last span comes last.

    >>> pair_order([(2000, 2020), (2010, 2020), (2000, 2010)])
    [(2000, 2010), (2010, 2020), (2000, 2020)]
    """
    unique = sorted(set(pairs))
    epochs = sorted({e for p in unique for e in p})

    def key(p: tuple[int, int]) -> tuple[int, int, int]:
        between = any(p[0] < e < p[1] for e in epochs)
        return (1 if between else 0, p[1] - p[0] if between else 0, p[0])

    return sorted(unique, key=key)


def part(title: str, build: Callable[[], str]) -> str:
    """One part of a section under its heading; a damaged input becomes a note in that part only."""
    try:
        body = build()
    except READ_ERRORS as exc:
        logger.warning("report part %r could not be built: %s", title, exc, exc_info=True)
        body = missing(f"this part could not be built ({esc(exc)})")
    return f"<h3>{esc(title)}</h3>{body}"


def read_json(path: Path) -> Any:
    """The parsed JSON file at ``path``."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class Page:
    """Collects the sections of one report; each section is built independently.

    Parameters
    ----------
    layout : RunLayout
        The run folder the page describes; every file the sections read comes from it.
    coastlines : {"land-mask", "data-mask", "none"}
        Coastline source for the maps (see :mod:`permamap.report.figures`).
    max_pixels : int
        Longest side of the decimated map images.

    Attributes
    ----------
    summary : dict or None
        The run's summary, or None when it is missing or unreadable (``summary_note`` says which).
    sections : list of (id, title, body HTML)
        The sections added so far, in page order.
    """

    def __init__(self, layout: RunLayout, coastlines: str, max_pixels: int) -> None:
        self.layout = layout
        self.coastlines = coastlines
        self.max_pixels = max_pixels
        self.sections: list[tuple[str, str, str]] = []
        self.summary: dict[str, Any] | None = None
        self.summary_note = ""
        name = self.name(layout.summary)
        if layout.summary.is_file():
            try:
                self.summary = read_json(layout.summary)
            except (OSError, ValueError) as exc:
                self.summary_note = f"{name} could not be read ({exc})"
                logger.warning("report: %s", self.summary_note)
        else:
            self.summary_note = f"{name} was not found in this run folder"

    # -- what belongs to this run -----------------------------------------------------------
    # A run folder may hold files of an earlier run (other epochs, a reference since removed);
    # the page shows only what the summary says this run made, and lists the rest nowhere.
    @property
    def notes(self) -> list[str]:
        """The run's notes (what was left out and why): ``notes`` and ``change.notes``, once each."""
        found: list[str] = []
        for notes in (get(self.summary, "notes"), get(self.summary, "change", "notes")):
            for n in notes if isinstance(notes, list) else []:
                if isinstance(n, str) and n not in found:
                    found.append(n)
        return found

    @property
    def epochs(self) -> list[int] | None:
        """The run's epochs from the summary; None without a summary that lists them."""
        epochs = get(self.summary, "epochs")
        if not isinstance(epochs, list):
            return None
        try:
            return sorted(int(e) for e in epochs)
        except (TypeError, ValueError):
            return None

    @property
    def pairs(self) -> list[tuple[int, int]] | None:
        """The epoch pairs the change stage compared, in :func:`pair_order`; None if not known.

        From the summary's ``change.transitions``; an empty list when the summary says the change
        stage did not run (no ``change``) or compared nothing.
        """
        if self.epochs is None:
            return None
        found = []
        for t in get(self.summary, "change", "transitions") or []:
            try:
                found.append((int(t["from_epoch"]), int(t["to_epoch"])))
            except (KeyError, TypeError, ValueError):
                continue
        return pair_order(found)

    @property
    def has_reference(self) -> bool | None:
        """Whether this run compared with a reference map; None if not known."""
        if self.epochs is None:
            return None
        return isinstance(get(self.summary, "change", "reference"), Mapping)

    def run_maps(self) -> dict[int, Path]:
        """Epoch → path of this run's maps (those present); every map found without a summary."""
        if self.epochs is None:
            return self.layout.find_maps()
        return {e: self.layout.map(e) for e in self.epochs if self.layout.map(e).is_file()}

    def run_transitions(self) -> dict[tuple[int, int], Path]:
        """(a, b) → this run's transition tables (present); all found without a summary."""
        if self.pairs is None:
            found = self.layout.find_transitions()
            return {p: found[p] for p in pair_order(found)}
        lay = self.layout
        return {
            (a, b): lay.transitions(a, b) for a, b in self.pairs if lay.transitions(a, b).is_file()
        }

    @functools.cached_property
    def virtual_world(self) -> bool:
        """Whether the run mapped the built-in virtual world (the page then carries a banner).

        The summary's boolean ``virtual_world``; a summary without it falls back to the
        ``virtual_world`` tag of the run's maps (``true``, any case). Neither: False.
        """
        flag = get(self.summary, "virtual_world")
        if isinstance(flag, bool):
            return flag
        for path in reversed(list(self.run_maps().values())):
            try:
                with rasterio.open(path) as src:
                    tag = src.tags().get("virtual_world")
            except rasterio.errors.RasterioError as exc:
                logger.warning("report: %s: %s", self.name(path), exc)
                continue
            if tag is not None:
                return tag.strip().lower() == "true"
        return False

    def is_stale(self, path: Path) -> bool:
        """True for a per-epoch or reference file this run did not make (left by an earlier run).

        Needs the summary; without it nothing is called stale.
        """
        epochs, pairs = self.epochs, self.pairs
        if epochs is None or pairs is None:
            return False
        lay = self.layout
        rel = lay.relative(path)
        if not self.has_reference and path in (lay.reference_on_grid, lay.reference_comparison):
            return True
        for kind, regex in _PER_EPOCH_RES.items():
            m = regex.fullmatch(rel)
            if m is None:
                continue
            years = [int(y) for y in m.groups()]
            if kind in ("transitions", "change_map"):
                return tuple(years) not in pairs
            if kind == "reference_confusion":
                compared = get(self.summary, "change", "reference", "by_epoch")
                return not isinstance(compared, Mapping) or str(years[0]) not in compared
            return years[0] not in epochs
        return False

    def add(self, ident: str, title: str, build: Callable[[Page], str | None]) -> None:
        """Build one section with ``build(self)``; a damaged input becomes a note in it.

        A builder returns None for a section that does not apply to this run (e.g. the
        plausibility table of a run without one): the page then has no such section.
        """
        try:
            body = build(self)
        except READ_ERRORS as exc:
            logger.warning("report section %r could not be built: %s", title, exc, exc_info=True)
            body = missing(f"this section could not be built ({esc(exc)})")
        if body is not None:
            self.sections.append((ident, title, body))

    def name(self, path: Path) -> str:
        """How the page names a file of the run folder: relative to it, POSIX style."""
        return self.layout.relative(path)


def render(page: Page, generated: str) -> str:
    """The whole HTML document: header (run, epochs, grid, time), navigation, sections, footer."""
    s = page.summary or {}
    version = esc(s.get("version", "?"))
    epochs = ", ".join(str(e) for e in s.get("epochs", [])) or "?"
    grid = s.get("grid") or {}
    grid_txt = (
        f"{esc(grid.get('crs', '?'))}, {grid.get('height', '?')} × {grid.get('width', '?')} cells"
        if grid
        else "grid unknown"
    )
    run_name = esc(page.layout.root.name)
    banner = (
        '<div class="banner" id="virtual-banner" role="note">VIRTUAL DATA — demonstration world'
        "<span>Every map, site and number on this page comes from permamap's built-in virtual "
        "world, not from observations: use it to learn the tool, never as permafrost figures."
        "</span></div>"
        if page.virtual_world
        else ""
    )
    nav = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t, _ in page.sections)
    body = "".join(
        f'<section id="{esc(i)}"><h2>{esc(t)}</h2>{b}</section>' for i, t, b in page.sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="permamap {version}">
<title>permamap report — {run_name}</title>
<style>{_CSS}</style>
</head>
<body>
{banner}
<header>
<h1>Permafrost distribution and change</h1>
<p>permamap {version} · epochs {esc(epochs)} · {grid_txt} · run folder
<code>{run_name}</code> · generated {esc(generated)}</p>
</header>
<nav>{nav}</nav>
<main>
{body}
</main>
<footer>Made by permamap {version}. Self-contained page: every figure is embedded; no network
access is needed.</footer>
</body>
</html>
"""
