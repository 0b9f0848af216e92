"""The change stage: area per epoch, change between epochs and the reference comparison.

:func:`change_stage` returns its tables in a :class:`ChangeResult` and leaves writing them to the
pipeline (:func:`permamap.stages.write_change_outputs`); only the rasters, too big for memory
on a continental grid, are streamed into the paths the :class:`~permamap.layout.RunLayout` names.

Every input is read once per tile in one pass (:mod:`permamap.change.tilepass`), and a killed
stage resumes from its tile store ``change/.tiles_change/``: from the first unfinished tile, and
with the reference on the grid and the change maps already written reused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .. import __version__
from ..contracts import CHANGE_CODES, DEFAULT_TILE
from ..errors import ConfigError, InputFileError
from ..grid import Grid
from ..layout import RunLayout
from .areas import (
    AREA_COLUMNS,
    DEFAULT_ELEVATION_EDGES_M,
    area_labels,
    area_rows,
    check_area_options,
    elevation_band,
)
from .maps import map_bands, open_map
from .members import check_members
from .reference import comparison_from_sums, resample_reference
from .regions import load_regions
from .tilepass import PassInputs, file_stamp, run_tile_pass
from .transitions import epoch_pairs, transition_table
from .uncertainty import AreaIntervals, intervals_from_sums, uncertainty_summary

__all__ = ["NO_ELEVATION_NOTE", "ChangeResult", "change_stage"]

logger = logging.getLogger(__name__)

NO_ELEVATION_NOTE = "no elevation factor: areas by elevation zone are left out"
"""The note of a change stage run without elevation (``summary["notes"]``)."""


@dataclass(frozen=True, eq=False)
class ChangeResult:
    """What the change stage computed; the pipeline writes the tables where the layout says.

    Attributes
    ----------
    areas : DataFrame
        Area per epoch, domain, stratum and zone (:func:`area_by_epoch`);
        ``layout.area_by_epoch``.
    transitions : dict of (int, int) to DataFrame
        Transition table per pair of epochs (:func:`transitions`), consecutive pairs then
        first → last; ``layout.transitions(a, b)``.
    reference_comparison : DataFrame or None
        One row per compared epoch (the ``stats`` of :func:`compare_with_reference` without the
        confusion); ``layout.reference_comparison``. None without a reference.
    reference_confusion : dict of int to DataFrame
        Confusion table in km² per compared epoch; ``layout.reference_confusion(epoch)``.
    summary : dict
        JSON-able figures for ``summary.json``: ``epochs``, ``area_km2``, ``area_detail_km2``,
        ``transitions``, ``reference``, ``files``, ``elevation_zones``, ``uncertainty`` and
        ``notes`` (see :func:`change_stage`).
    uncertainty : AreaIntervals or None
        Areas with 95 % intervals from the model ensemble (:func:`area_intervals`); its
        ``table`` goes to ``change/area_intervals.csv``. None for a run without an ensemble.
    work : dict of str to int
        What this run had to do (``tiles_computed``, ``tiles_reused``, ``maps_written``,
        ``maps_reused``); all reused on a rerun after completion.
    """

    areas: pd.DataFrame
    transitions: dict[tuple[int, int], pd.DataFrame]
    reference_comparison: pd.DataFrame | None
    reference_confusion: dict[int, pd.DataFrame]
    summary: dict[str, Any]
    uncertainty: AreaIntervals | None = None
    work: dict[str, int] = field(default_factory=dict)


def _check_inputs(
    paths: dict[int, Path],
    epochs: Sequence[int] | None,
    reference: Path | None,
    reference_epochs: Sequence[int] | None,
) -> list[int]:
    """Validate the cheap things before any tile is read; return the epochs to compare."""
    if epochs is not None:
        missing = sorted(set(int(e) for e in epochs) - set(paths))
        if missing:
            raise InputFileError(
                f"no map for epoch(s) {missing} (maps given for {sorted(paths)}); run the predict "
                "stage for them or remove them from the run's epochs"
            )
    if not paths:
        raise ConfigError("no maps given; pass {epoch: path} for at least one epoch")
    absent = {e: p for e, p in paths.items() if not p.is_file()}
    if absent:
        raise InputFileError(
            "map file(s) missing: "
            + ", ".join(f"{e}: {p}" for e, p in sorted(absent.items()))
            + "; run the predict stage for those epochs or drop them from the epochs"
        )
    if reference is None:
        return []
    ref_epochs = sorted(paths) if reference_epochs is None else sorted(reference_epochs)
    unknown = [e for e in ref_epochs if e not in paths]
    if unknown:
        raise ConfigError(
            f"reference_epochs {unknown} have no map (maps: {sorted(paths)}); pick among them"
        )
    return ref_epochs


STORE_NAME = ".tiles_change"
"""The change stage's tile store inside ``change/`` (see :mod:`permamap.change.tilepass`)."""


def _reference_fingerprint(
    reference: Path,
    grid: Grid,
    kind: str,
    nodata: float | None,
    tile_shape: tuple[int, int],
) -> dict[str, Any]:
    """What the reference on the grid depends on."""
    return {
        "version": __version__,
        "reference": file_stamp(reference),
        "kind": kind,
        "nodata": nodata,
        "grid": grid.to_dict(),
        "tile_shape": list(tile_shape),
    }


def _area_summary(
    areas: pd.DataFrame,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """Per epoch: the three headline areas (domain ``all``) and every total per domain."""
    totals = areas[areas["stratum"] == "total"]
    area_km2: dict[str, dict[str, float]] = {}
    detail: dict[str, dict[str, dict[str, float]]] = {}
    for row in totals.itertuples(index=False):
        sums = {c: float(getattr(row, c)) for c in AREA_COLUMNS}
        detail.setdefault(str(row.epoch), {})[row.domain] = sums
        if row.domain == "all":
            area_km2[str(row.epoch)] = {
                "permafrost_extent_km2": sums["permafrost_extent_km2"],
                "probability_weighted_km2": sums["probability_weighted_km2"],
                "land_km2": sums["land_km2"],
            }
    return area_km2, detail


def _pair_summary(table: pd.DataFrame, a: int, b: int, layout: RunLayout) -> dict[str, Any]:
    """Stable, degraded, aggraded and net change in km² of one transition table."""
    by_change = table.groupby("change")["area_km2"].sum()
    degraded = float(by_change.get(CHANGE_CODES[2], 0.0))
    aggraded = float(by_change.get(CHANGE_CODES[3], 0.0))
    return {
        "from_epoch": a,
        "to_epoch": b,
        "stable_permafrost_km2": float(by_change.get(CHANGE_CODES[1], 0.0)),
        "degraded_km2": degraded,
        "aggraded_km2": aggraded,
        "stable_non_permafrost_km2": float(by_change.get(CHANGE_CODES[0], 0.0)),
        "no_data_in_either_km2": float(by_change.get("no data", 0.0)),
        "net_change_km2": aggraded - degraded,
        "table": layout.transitions(a, b).name,
        "change_map": layout.change_map(a, b).name,
    }


def change_stage(
    maps: Mapping[int, Path],
    grid: Grid,
    layout: RunLayout,
    *,
    elevation: Path | None = None,
    regions: Path | None = None,
    reference: Path | None = None,
    epochs: Sequence[int] | None = None,
    reference_kind: str = "auto",
    reference_nodata: float | None = None,
    reference_epochs: Sequence[int] | None = None,
    region_name_column: str | None = None,
    lat_band_deg: float = 10.0,
    elevation_edges_m: Sequence[float] = DEFAULT_ELEVATION_EDGES_M,
    members: Mapping[int, Path] | None = None,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
) -> ChangeResult:
    """Area per epoch, change between epochs and the reference comparison.

    Computes the area table; for each consecutive pair of epochs and for first → last, the
    transition table and the change map (streamed to ``layout.change_map(a, b)``); with a
    reference, the reference on the grid (streamed to ``layout.reference_on_grid``) and its
    comparison with each epoch (or ``reference_epochs``). The tables come back in the
    :class:`ChangeResult`; the caller writes them.

    All headers are checked before the first tile is read. The tiles are summed in one pass that
    resumes after a kill (``change/.tiles_change/``, see :mod:`permamap.change.tilepass`): the
    rerun computes only the tiles left, and reuses the reference on the grid and the change maps
    already written (``ChangeResult.work`` says what was done). The store is removed when the
    stage completes.

    Parameters
    ----------
    maps : mapping of int to Path
        Epoch → map. With one epoch there is no change to compute: areas are computed and the
        result says so.
    grid : Grid
        The grid of the maps.
    layout : RunLayout
        The run folder; names the rasters written here and the files named in the summary.
    elevation : Path, optional
        A raster on the grid with a band described ``elevation`` (m), e.g. the covariate stack.
        Without it, or when the stack has no such band (a run without an elevation factor), the
        stage runs without elevation zones and says so in ``summary["notes"]``
        (:data:`NO_ELEVATION_NOTE`).
    regions, region_name_column, lat_band_deg, elevation_edges_m
        See :func:`~permamap.change.area_by_epoch`.
    reference : Path, optional
        A reference map to compare each epoch (or ``reference_epochs``) with.
    epochs : sequence of int, optional
        The epochs the run expects; a missing map raises :class:`InputFileError` naming them.
    reference_kind, reference_nodata
        See :func:`~permamap.change.resample_reference`.
    reference_epochs : sequence of int, optional
        Epochs to compare with the reference; all by default.
    members : mapping of int to Path, optional
        Epoch → ``members_<year>.tif`` of the model ensemble (its JSON sidecar beside it), for
        every epoch. None means the run has no ensemble: no intervals are computed. Given, the
        files are checked before any tile is read (:func:`check_members`) and the areas get 95 %
        intervals (:func:`area_intervals`, per region too).
    tile_shape : (int, int)
        Rows and columns read at once.
    progress : bool, default=False
        Show progress bars over the steps and the tiles of each step.

    Returns
    -------
    ChangeResult
        The tables and ``summary``, the JSON-able dict for ``summary.json``: ``epochs``,
        ``area_km2`` (per epoch the three keys of the summary contract), ``area_detail_km2``
        (all totals, also inside the area of applicability), ``transitions`` (per pair: stable,
        degraded, aggraded and net change in km², and the files), ``reference`` (or ``None``),
        ``files``, ``elevation_zones`` (whether the areas have elevation zones), ``uncertainty``
        (:func:`uncertainty_summary`, or ``None`` without ``members``) and ``notes`` (what was
        left out and why, one line each). With ``members``, each ``area_km2[epoch]`` also gains
        ``permafrost_extent_km2_ci95`` and ``probability_weighted_km2_ci95``.

    Raises
    ------
    InputFileError
        For a missing map, elevation raster, reference or regions file, and — as one line naming
        the file — for one found damaged or truncated while it is read.
    DataError
        For a members file that is missing for an epoch, off the grid or from another run.
    """
    paths = {int(k): Path(v) for k, v in maps.items()}
    ref_epochs = _check_inputs(paths, epochs, reference, reference_epochs)
    edges_m = check_area_options(lat_band_deg, elevation_edges_m)
    member_files = check_members(members, paths, grid) if members is not None else None
    for e, p in sorted(paths.items()):
        with open_map(p, grid, e) as src:
            map_bands(src, p)  # every header before the first tile
    notes: list[str] = []
    if elevation is None:
        notes.append(NO_ELEVATION_NOTE)
    elif elevation_band(Path(elevation), grid) is None:
        notes.append(f"{NO_ELEVATION_NOTE} ({Path(elevation).name} has no band 'elevation')")
        elevation = None
    for note in notes:
        logger.info("change: %s", note)
    reg = load_regions(Path(regions), grid, region_name_column) if regions is not None else None
    lat_edges, lat_labels, elev_labels = area_labels(grid, lat_band_deg, edges_m)
    pairs = epoch_pairs(list(paths))
    if not pairs:
        logger.warning("only one epoch (%s): no change between epochs to compute", list(paths))
    n_steps = 1 + (reference is not None) + len(pairs)
    bar = tqdm(total=n_steps, desc="change", unit="step", disable=not progress)
    started = False

    def say(msg: str) -> None:
        nonlocal started
        if started:  # the previous step is done
            bar.update()
        started = True
        bar.set_description(msg)
        logger.info("%s", msg)

    options: dict[str, Any] = {
        "regions": [file_stamp(Path(regions)) if regions is not None else None, region_name_column],
        "reference": None,
    }
    on_grid: Path | None = None
    make_reference = None
    if reference is not None:
        on_grid = layout.reference_on_grid
        options["reference"] = _reference_fingerprint(
            Path(reference), grid, reference_kind, reference_nodata, tile_shape
        )

        def make_reference() -> str:
            on_grid.unlink(missing_ok=True)  # a new run may bring a new reference
            return resample_reference(
                Path(reference),
                grid,
                on_grid,
                kind=reference_kind,
                nodata=reference_nodata,
                tile_shape=tile_shape,
                progress=progress,
            )[1]

    with bar:
        inputs = PassInputs(
            maps=paths,
            grid=grid,
            pairs=pairs,
            lat_edges=lat_edges,
            n_elev=len(elev_labels),
            edges_m=edges_m,
            elevation=Path(elevation) if elevation is not None else None,
            regions=reg,
            members=member_files,
            reference_on_grid=on_grid,
            ref_epochs=ref_epochs,
            tile_shape=tile_shape,
            options=options,
        )
        outcome = run_tile_pass(
            inputs,
            layout.change_dir / STORE_NAME,
            {p: layout.change_map(*p) for p in pairs},
            reference=make_reference,
            progress=progress,
            on_step=say,
        )
        bar.update(bar.total - bar.n)
    sums = outcome.sums
    kind = outcome.reference_kind
    rows: list[dict[str, Any]] = []
    for e in sorted(paths):
        rows += area_rows(
            e,
            sums["areas"][e],
            lat_labels,
            elev_labels if elevation is not None else None,
            reg.names if reg is not None else None,
        )
    areas = pd.DataFrame(rows, columns=["epoch", "domain", "stratum", "zone", *AREA_COLUMNS])
    area_km2, detail = _area_summary(areas)
    tables = {(a, b): transition_table(sums["transitions"][(a, b)], a, b) for a, b in pairs}

    intervals: AreaIntervals | None = None
    if member_files is not None:
        names = list(reg.names) if reg is not None else []
        intervals = intervals_from_sums(sums["intervals"], member_files, names)

    comparison: pd.DataFrame | None = None
    confusion: dict[int, pd.DataFrame] = {}
    ref_summary: dict[str, Any] | None = None
    if reference is not None and on_grid is not None:
        results = []
        for e in ref_epochs:
            r = sums["reference"][e]
            res = comparison_from_sums(
                r["cm"], r["pw"], e, paths[e].name, Path(reference).name, str(kind)
            )
            results.append({**res.stats, "reference_kind": kind})
            confusion[e] = res.confusion
        comparison = pd.DataFrame(
            [{k: v for k, v in r.items() if k != "confusion_km2"} for r in results]
        )
        ref_summary = {
            "reference": Path(reference).name,
            "reference_kind": kind,
            "by_epoch": {
                str(r["epoch"]): {k: v for k, v in r.items() if k not in ("epoch",)}
                for r in results
            },
            "table": layout.reference_comparison.name,
            "resampled": on_grid.name,
        }
    uncertainty = uncertainty_summary(intervals) if intervals is not None else None
    if uncertainty is not None:
        for epoch, figures in area_km2.items():
            figures["permafrost_extent_km2_ci95"] = uncertainty[epoch]["permafrost_extent_km2_ci95"]
            figures["probability_weighted_km2_ci95"] = uncertainty[epoch][
                "probability_weighted_km2_ci95"
            ]
    summary = {
        "epochs": sorted(paths),
        "area_km2": area_km2,
        "area_detail_km2": detail,
        "transitions": [_pair_summary(t, a, b, layout) for (a, b), t in tables.items()],
        "reference": ref_summary,
        "files": {"area_by_epoch": layout.area_by_epoch.name},
        "elevation_zones": elevation is not None,
        "uncertainty": uncertainty,
        "notes": notes + (["only one epoch: no change computed"] if not pairs else []),
    }
    return ChangeResult(
        areas=areas,
        transitions=tables,
        reference_comparison=comparison,
        reference_confusion=confusion,
        summary=summary,
        uncertainty=intervals,
        work=outcome.work,
    )
