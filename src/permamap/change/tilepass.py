"""The change stage's tile pass: every input read once per tile, resumable after a kill.

One pass over the grid's tiles reads, per tile, each epoch's map (class, probability, AOA in
one read), the elevation band, the members files and the reference on the grid, and computes
everything the stage sums: areas per epoch (:func:`~permamap.change.areas.area_tile_sums`),
transition matrices and change codes per pair, the ensemble's interval sums
(:func:`~permamap.change.uncertainty.interval_tile_sums`) and the reference confusion
(:func:`~permamap.change.reference.reference_tile_sums`). Memory is one tile per input.

Resume (issue 14, point 2) reuses the predict stage's :class:`~permamap.predict.store.TileStore`
in ``change/.tiles_change/``: its manifest is the :meth:`PassInputs.fingerprint` of the stage (a
different one, from another map, option or version, clears the store first). Each tile leaves
its flat vector of sums (``<tile>.sums.npy``) and then its change codes (``<tile>.npy``, one band
per pair), each written atomically, the codes last, so a tile is either done or redone. The
whole-grid sums are the tile vectors added in tile order, so a resumed run gives the same bits as
an uninterrupted one; they are kept in ``totals.npy`` once every tile is done. The reference on
the grid and each change map, once written, are recorded in the store (size and modification
time); a recorded output that is still the same file is reused, so a stage killed while writing
its maps reads no tile of any input again. When everything is made the store is removed: the run
folder keeps only the outputs, whose bytes do not depend on where the run was or how often it was
interrupted; a finished stage is not run again at all (``run.json`` records it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from .. import __version__
from ..contracts import CHANGE_NODATA
from ..fileio import atomic_path, atomic_write_text
from ..grid import Grid
from ..predict.store import TileStore
from .areas import (
    area_tile_sums,
    area_zeros,
    elevation_index,
    lat_index,
    open_elevation,
    read_elevation,
)
from .maps import iter_tiles, map_bands, open_map, read_map_block, reading
from .members import MemberFiles, read_words
from .regions import Regions, region_masks
from .transitions import change_classes, transition_area, write_change_map
from .uncertainty import interval_tile_sums, interval_zeros

__all__ = ["STATE_VERSION", "PassInputs", "PassOutcome", "file_stamp", "run_tile_pass"]

logger = logging.getLogger(__name__)

STATE_VERSION = 1
"""Version of the store's layout; part of the fingerprint, so a new layout starts afresh."""

_ON_GRID_FIX = "delete it; the change stage writes it again"

GDAL_CACHE_BYTES = 128 * 2**20
"""GDAL's block cache during the pass and the assembly. GDAL's default (5 % of the RAM, 1.2 GB
on a 24 GB machine) fills with the 20-band covariate stack's blocks and sets the stage's peak;
one tile of every input needs a few tens of MB, and no block is read twice."""


def _checkpoint(event: str) -> None:
    """Called after each durable step (``tile``, ``totals``, ``change_map``); tests hook it."""


def file_stamp(path: Path | None) -> dict[str, Any] | None:
    """What identifies an input file: its resolved path, size and modification time."""
    if path is None:
        return None
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True, eq=False)
class PassInputs:
    """Everything the tile pass reads, checked by the stage before the pass starts."""

    maps: dict[int, Path]
    grid: Grid
    pairs: list[tuple[int, int]]
    lat_edges: list[float]
    n_elev: int
    edges_m: list[float]
    elevation: Path | None
    regions: Regions | None
    members: MemberFiles | None
    reference_on_grid: Path | None
    ref_epochs: list[int]
    tile_shape: tuple[int, int]
    options: dict[str, Any] = field(default_factory=dict)  # what else the sums depend on

    def fingerprint(self) -> dict[str, Any]:
        """The inputs and settings the sums depend on (the store's manifest), JSON-ready."""
        members = self.members
        return {
            "state_version": STATE_VERSION,
            "permamap_version": __version__,
            "grid": self.grid.to_dict(),
            "tile_shape": list(self.tile_shape),
            "maps": {str(e): file_stamp(p) for e, p in sorted(self.maps.items())},
            "pairs": [list(p) for p in self.pairs],
            "lat_edges": self.lat_edges,
            "edges_m": self.edges_m,
            "elevation": file_stamp(self.elevation),
            "members": None
            if members is None
            else {
                str(e): [file_stamp(p), file_stamp(p.with_suffix(".json"))]
                for e, p in sorted(members.paths.items())
            },
            "ref_epochs": self.ref_epochs,
            **self.options,
        }


@dataclass(frozen=True, eq=False)
class PassOutcome:
    """The whole-grid sums of the pass and what this run had to do for them."""

    sums: dict[str, Any]
    work: dict[str, int]
    reference_kind: str | None = None


# ================================================================================================
# Sums as one flat vector per tile
# ================================================================================================
def _leaves(tree: Any) -> Iterator[np.ndarray]:
    """The arrays of nested dicts, in insertion order."""
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    else:
        yield tree


def _pack(tree: Mapping[str, Any]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in _leaves(dict(tree))]).astype(np.float64)


def _unpack(vec: np.ndarray, template: dict[str, Any]) -> dict[str, Any]:
    """Fill ``template``'s arrays (in place) from ``vec``; return the template."""
    i = 0
    for leaf in _leaves(template):
        n = leaf.size
        leaf[...] = vec[i : i + n].reshape(leaf.shape)
        i += n
    return template


def _zeros(inp: PassInputs, domains: Mapping[int, list[str]]) -> dict[str, Any]:
    n_lat = len(inp.lat_edges) - 1
    n_reg = len(inp.regions.names) if inp.regions is not None else 0
    tree: dict[str, Any] = {
        "areas": {e: area_zeros(domains[e], n_lat, inp.n_elev, n_reg) for e in sorted(inp.maps)},
        "transitions": {p: np.zeros((3, 3)) for p in inp.pairs},
        "reference": {e: {"cm": np.zeros((2, 2)), "pw": np.zeros(2)} for e in inp.ref_epochs},
    }
    if inp.members is not None:
        tree["intervals"] = interval_zeros(list(inp.maps), inp.members.n_members, n_reg)
    return tree


# ================================================================================================
# One tile
# ================================================================================================
class _Sources:
    """The open inputs of the pass (maps, elevation, members, reference on the grid)."""

    def __init__(self, inp: PassInputs, stack: ExitStack) -> None:
        self.inp = inp
        self.maps = {e: stack.enter_context(open_map(p, inp.grid, e)) for e, p in inp.maps.items()}
        self.bands = {e: map_bands(src, inp.maps[e]) for e, src in self.maps.items()}
        self.elev: tuple[Any, int] | None = None
        if inp.elevation is not None:
            src, band = open_elevation(inp.elevation, inp.grid)
            stack.enter_context(src)
            self.elev = (src, band)
        self.members = (
            {e: stack.enter_context(rasterio.open(p)) for e, p in inp.members.paths.items()}
            if inp.members is not None
            else {}
        )
        self.ref = (
            stack.enter_context(rasterio.open(inp.reference_on_grid))
            if inp.reference_on_grid is not None and inp.ref_epochs
            else None
        )

    def domains(self) -> dict[int, list[str]]:
        return {e: ["all"] + (["aoa"] if b.aoa is not None else []) for e, b in self.bands.items()}


def _tile(srcs: _Sources, window: Window) -> tuple[np.ndarray, np.ndarray | None]:
    """The flat sums and the change codes ``(pairs, rows, cols)`` of one tile."""
    inp = srcs.inp
    grid = inp.grid
    acc = _zeros(inp, srcs.domains())
    area = grid.cell_area_km2(window)
    lat_idx = lat_index(grid, window, inp.lat_edges)
    elev_idx = None
    if srcs.elev is not None:
        values = read_elevation(srcs.elev[0], srcs.elev[1], window)
        elev_idx = elevation_index(values, inp.edges_m, inp.n_elev)
    masks = list(region_masks(inp.regions, grid, window)) if inp.regions is not None else []
    cls: dict[int, np.ndarray] = {}
    prob: dict[int, np.ndarray] = {}
    for e in sorted(inp.maps):
        cls[e], prob[e], inside = read_map_block(srcs.maps[e], srcs.bands[e], window, inp.maps[e])
        area_tile_sums(acc["areas"][e], cls[e], prob[e], inside, area, lat_idx, elev_idx, masks)
    codes = None
    if inp.pairs:
        codes = np.empty((len(inp.pairs), int(window.height), int(window.width)), np.uint8)
        for i, (a, b) in enumerate(inp.pairs):
            acc["transitions"][(a, b)] += transition_area(cls[a], cls[b], area)
            codes[i] = change_classes(cls[a], cls[b])
    if inp.members is not None:
        files = inp.members
        words = {
            e: read_words(srcs.members[e], window, files.paths[e], files.n_members)
            for e in sorted(inp.maps)
        }
        interval_tile_sums(acc["intervals"], files.n_members, area, masks, cls, prob, words)
    if srcs.ref is not None:
        from .reference import reference_tile_sums

        on_grid = Path(srcs.ref.name)
        with reading(on_grid, "reference on the grid", _ON_GRID_FIX):
            ref = srcs.ref.read([1, 2], window=window)
        for e in inp.ref_epochs:
            r = acc["reference"][e]
            reference_tile_sums(r["cm"], r["pw"], cls[e], prob[e], ref[0], ref[1], area)
    return _pack(acc), codes


# ================================================================================================
# The pass
# ================================================================================================
def _mark(store: TileStore, name: str, made: Path, **extra: Any) -> None:
    """Record in the store that ``made`` is finished (its size and time, and ``extra``)."""
    st = made.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, **extra}
    atomic_write_text(store.folder / f"{name}.json", json.dumps(record, sort_keys=True))


def _marked(store: TileStore, name: str, made: Path) -> dict[str, Any] | None:
    """The record of ``made`` when it is finished and unchanged since; None otherwise."""
    path = store.folder / f"{name}.json"
    if not (path.is_file() and made.is_file()):
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    st = made.stat()
    if not isinstance(record, dict) or (record.get("size"), record.get("mtime_ns")) != (
        st.st_size,
        st.st_mtime_ns,
    ):
        return None
    return record


def _totals(store: TileStore, windows: Sequence[Window], size: int) -> np.ndarray:
    """The tile vectors added in tile order (the order fixes the bits of the sums)."""
    total = np.zeros(size)
    for w in windows:
        vec = store.read_extra(w, "sums")
        if vec is None or vec.shape != (size,):
            raise FileNotFoundError(f"tile sums of {w} missing in {store.folder}")
        total += vec
    return total


def _write_totals(path: Path, total: np.ndarray) -> None:
    # the temporary name keeps the .npy suffix, so np.save does not append another one
    with atomic_path(path) as tmp:
        np.save(tmp, total, allow_pickle=False)


def run_tile_pass(
    inp: PassInputs,
    store_dir: Path,
    change_maps: Mapping[tuple[int, int], Path],
    *,
    reference: Callable[[], str] | None = None,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> PassOutcome:
    """Make the reference on the grid, sum every tile and write the change maps, resuming.

    Parameters
    ----------
    inp : PassInputs
        The checked inputs.
    store_dir : Path
        The tile store (``change/.tiles_change``); removed once every output is made.
    change_maps : mapping of (int, int) to Path
        Where each pair's change map goes.
    reference : callable, optional
        Writes the reference on the grid to ``inp.reference_on_grid`` and returns its kind
        (:func:`~permamap.change.resample_reference`); run unless a finished one is recorded.
    progress : bool, default=False
        Show a progress bar over the tiles.
    on_step : callable, optional
        Called with a description before each step that does work.

    Returns
    -------
    PassOutcome
        ``sums``: the nested whole-grid sums (``areas``, ``transitions``, ``reference``,
        ``intervals``); ``reference_kind``; ``work``: ``tiles_computed``, ``tiles_reused``,
        ``maps_written``, ``maps_reused``, ``reference_written``.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        return _run(inp, TileStore(Path(store_dir)), change_maps, reference, progress, on_step)


def _step(on_step: Callable[[str], None] | None, msg: str) -> None:
    if on_step is not None:
        on_step(msg)


def _run(
    inp: PassInputs,
    store: TileStore,
    change_maps: Mapping[tuple[int, int], Path],
    reference: Callable[[], str] | None,
    progress: bool,
    on_step: Callable[[str], None] | None,
) -> PassOutcome:
    store.prepare(inp.fingerprint())
    grid = inp.grid
    windows = list(grid.tiles(inp.tile_shape))
    totals_path = store.folder / "totals.npy"
    work = {
        "tiles_computed": 0,
        "tiles_reused": 0,
        "maps_written": 0,
        "maps_reused": 0,
        "reference_written": 0,
    }
    kind: str | None = None
    if reference is not None and inp.reference_on_grid is not None:
        record = _marked(store, "reference_on_grid", inp.reference_on_grid)
        if record is None:
            _step(on_step, "reference map onto the grid")
            kind = reference()
            _mark(store, "reference_on_grid", inp.reference_on_grid, kind=kind)
            work["reference_written"] = 1
            _checkpoint("reference")
        else:
            kind = str(record["kind"])
    pending = [p for p in inp.pairs if _marked(store, _map_name(p), change_maps[p]) is None]
    with ExitStack() as stack:
        srcs = _Sources(inp, stack)
        template = _zeros(inp, srcs.domains())
        size = _pack(template).size
        total: np.ndarray | None = None
        if totals_path.is_file():
            loaded = np.load(totals_path, allow_pickle=False)
            total = loaded if loaded.shape == (size,) else None
        if total is None:
            _step(on_step, f"change: {len(windows)} tiles")
            for w in iter_tiles(grid, inp.tile_shape, progress, "change tiles"):
                if store.is_done(w) and store.read_extra(w, "sums") is not None:
                    work["tiles_reused"] += 1
                    continue
                vec, codes = _tile(srcs, w)
                store.write_extra(w, "sums", vec)
                store.write(w, codes)
                work["tiles_computed"] += 1
                _checkpoint("tile")
            total = _totals(store, windows, size)
            _write_totals(totals_path, total)
            _checkpoint("totals")
        else:
            work["tiles_reused"] = len(windows)
    n_pairs = len(inp.pairs)
    for i, pair in enumerate(inp.pairs):
        if pair not in pending:
            work["maps_reused"] += 1
            continue
        _step(on_step, f"change map {pair[0]} → {pair[1]}")

        def blocks(i: int = i) -> Iterator[tuple[Window, np.ndarray]]:
            for w in windows:
                yield w, store.read(w, n_pairs, fill=CHANGE_NODATA)[i : i + 1]

        write_change_map(change_maps[pair], grid, blocks(), *pair)
        _mark(store, _map_name(pair), change_maps[pair])
        work["maps_written"] += 1
        _checkpoint("change_map")
    sums = _unpack(total, template)
    store.clear()  # every output is made; a kill before this line resumes from the records
    _checkpoint("cleared")
    if work["tiles_computed"] == 0 and work["maps_written"] == 0:
        logger.info("change: every tile and change map was already made; nothing recomputed")
    else:
        logger.info(
            "change: %d tiles computed, %d reused; %d change maps written, %d reused",
            work["tiles_computed"],
            work["tiles_reused"],
            work["maps_written"],
            work["maps_reused"],
        )
    return PassOutcome(sums=sums, work=work, reference_kind=kind)


def _map_name(pair: tuple[int, int]) -> str:
    return f"change_{pair[0]}_{pair[1]}"
