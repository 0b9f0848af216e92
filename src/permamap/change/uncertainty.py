"""Areas with 95 % intervals from the model ensemble (issue 12, "areas with intervals").

The model's ensemble (B members, the final model refitted on B spatially blocked bootstrap
resamples of the sites) leaves a members file per epoch beside the maps
(:mod:`permamap.change.members`: bit k of each cell = member k says permafrost, with a JSON
sidecar of per-member whole-grid totals).

This module streams the members files window by window together with the maps (memory is one
tile per epoch) and sums, per member, the permafrost extent per epoch and the degraded and aggraded area
per pair of epochs, for the whole grid and each user region. Member k is the same refitted model
in every epoch, so its change between epochs is paired: the spread of the members' *changes*
is the spread of the change, not the spread of two independent extents.

Interval
--------
Around the main model's figure (the published one), the normal bootstrap interval
``main ± 1.96 × sd(members, ddof=1)``, clipped at 0 for areas (an area cannot be negative; a net
change can and is not clipped). The normal interval is used rather than the members' percentiles
because with B ≈ 20 the 2.5 % and 97.5 % percentiles are interpolated between the two most extreme
members, so they jump with every refit; the sd of 20 members is known to about ±16 %
(``1/sqrt(2(B−1))``). Efron & Tibshirani (1993, ch. 6 and 13) ask for 25–200 resamples for a
standard error and about 1,000 for percentile intervals. The percentiles 2.5/97.5 are still
reported for reference. The interval measures how much the figure depends on which sites trained
the model; it does not include the error of the map against the ground (see the spatial-CV scores
and, for the demo, the truth agreement).

Validity comes from the map's class band (255 = no data), never from the member file. The
probability-weighted area's interval uses the members' whole-grid totals of the JSON sidecar (the
member file holds classes, not probabilities), so it has no per-region split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio

from ..contracts import CLASS_NODATA, DEFAULT_TILE
from ..errors import ConfigError, DataError
from ..grid import Grid
from .maps import iter_tiles, map_bands, open_map, read_class, read_prob
from .members import (
    MEMBERS_FIX,
    MemberFiles,
    check_members,
    member_area,
    read_words,
    sidecar_path,
)
from .regions import Regions, load_regions, region_masks
from .transitions import epoch_pairs, transition_area

__all__ = [
    "METHOD",
    "Z95",
    "AreaIntervals",
    "Estimate",
    "area_intervals",
    "normal_interval",
    "uncertainty_summary",
]

logger = logging.getLogger(__name__)

Z95 = 1.96
"""Standard normal quantile of a two-sided 95 % interval."""

METHOD = (
    "normal bootstrap interval: main model's figure ± 1.96 × sd of the ensemble members "
    "(ddof=1), clipped at 0 for areas; member percentiles 2.5/97.5 in area_intervals.csv for "
    "reference; changes are paired per member; probability-weighted area from the members' "
    "whole-grid totals"
)
"""The method as ``summary.json`` states it."""

_WHOLE = "all"
_ALL = (slice(None), slice(None))  # index of every cell of a block

TABLE_COLUMNS: tuple[str, ...] = (
    "period",
    "kind",
    "stratum",
    "region",
    "quantity",
    "value",
    "low",
    "high",
    "member_mean",
    "member_sd",
    "member_p2_5",
    "member_p97_5",
    "n_members",
    "exceeds_interval",
)
"""Columns of :attr:`AreaIntervals.table` (``change/area_intervals.csv``)."""


# ================================================================================================
# Pure maths
# ================================================================================================
def normal_interval(
    main: float, members: np.ndarray, *, clip_at_zero: bool = True
) -> tuple[float, float]:
    """The normal bootstrap interval ``main ± 1.96 × sd(members, ddof=1)``.

    >>> normal_interval(10.0, np.array([9.0, 10.0, 11.0]))
    (8.04, 11.96)
    >>> normal_interval(1.0, np.array([0.0, 2.0, 4.0]))
    (0.0, 4.92)
    >>> normal_interval(-1.0, np.array([0.0, -2.0, -4.0]), clip_at_zero=False)
    (-4.92, 2.92)
    """
    half = Z95 * float(np.std(np.asarray(members, dtype=np.float64), ddof=1))
    lo, hi = float(main) - half, float(main) + half
    if clip_at_zero:
        lo, hi = max(lo, 0.0), max(hi, 0.0)
    return round(lo, 12), round(hi, 12)


@dataclass(frozen=True)
class Estimate:
    """One figure of the main model with its interval from the members."""

    value: float
    low: float
    high: float
    members: tuple[float, ...]

    @classmethod
    def of(cls, main: float, members: np.ndarray, *, clip_at_zero: bool = True) -> Estimate:
        lo, hi = normal_interval(main, members, clip_at_zero=clip_at_zero)
        return cls(float(main), lo, hi, tuple(float(v) for v in members))

    @property
    def sd(self) -> float:
        return float(np.std(self.members, ddof=1))

    @property
    def percentiles(self) -> tuple[float, float]:
        """The members' 2.5 and 97.5 percentiles (linear interpolation), for reference."""
        lo, hi = np.percentile(self.members, [2.5, 97.5])
        return float(lo), float(hi)

    @property
    def ci95(self) -> list[float]:
        return [self.low, self.high]

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)


# ================================================================================================
# The streaming pass
# ================================================================================================
@dataclass(frozen=True, eq=False)
class AreaIntervals:
    """Areas of the main model with 95 % intervals from its ensemble.

    Attributes
    ----------
    n_members : int
        Ensemble size B.
    regions : list of str
        The user regions, in file order.
    epochs : dict of int to dict of str to Estimate
        Whole grid, per epoch: ``permafrost_extent_km2`` and ``probability_weighted_km2``.
    epoch_regions : dict of int to dict of str to dict of str to Estimate
        Per epoch and user region: ``permafrost_extent_km2``.
    pairs : dict of (int, int) to dict of str to Estimate
        Whole grid, per pair of epochs (consecutive, then first → last): ``degraded_km2``,
        ``aggraded_km2`` and ``net_change_km2`` (extent b − extent a, paired per member, not
        clipped at 0).
    pair_regions : dict of (int, int) to dict of str to dict of str to Estimate
        The same per user region.
    table : DataFrame
        The tidy table of :data:`TABLE_COLUMNS` for ``change/area_intervals.csv``: one row per
        ``period`` (``"2000"`` or ``"2000-2020"``) × region × quantity, the whole grid as
        stratum ``total``, region ``all``.
    """

    n_members: int
    regions: list[str]
    epochs: dict[int, dict[str, Estimate]]
    epoch_regions: dict[int, dict[str, dict[str, Estimate]]]
    pairs: dict[tuple[int, int], dict[str, Estimate]]
    pair_regions: dict[tuple[int, int], dict[str, dict[str, Estimate]]]
    table: pd.DataFrame


def interval_zeros(epochs: Sequence[int], n_members: int, n_regions: int) -> dict[str, Any]:
    """Empty per-region sums of :func:`interval_tile_sums` (region 0 is the whole grid)."""
    epochs = sorted(epochs)
    pairs = epoch_pairs(epochs)
    n_reg = 1 + n_regions
    b = n_members
    return {
        "main_extent": {e: np.zeros(n_reg) for e in epochs},
        "main_weighted": {e: np.zeros(1) for e in epochs},
        "member_extent": {e: np.zeros((n_reg, b)) for e in epochs},
        "main_deg": {p: np.zeros(n_reg) for p in pairs},
        "main_agg": {p: np.zeros(n_reg) for p in pairs},
        "member_deg": {p: np.zeros((n_reg, b)) for p in pairs},
        "member_agg": {p: np.zeros((n_reg, b)) for p in pairs},
    }


def interval_tile_sums(
    acc: dict[str, Any],
    n_members: int,
    area: np.ndarray,
    masks: Sequence[tuple[int, np.ndarray]],
    cls: Mapping[int, np.ndarray],
    prob: Mapping[int, np.ndarray],
    raw_words: Mapping[int, np.ndarray],
) -> None:
    """Add one tile of every epoch (class, probability, member words) to ``acc``, in place.

    ``masks`` are the user regions touching the tile, ``(index from 0, mask)``.
    """
    b = n_members
    keep_bits = np.uint32((1 << b) - 1)
    # region 0 is the whole grid (no mask), then the user regions that touch the window
    sel_masks: list[tuple[int, np.ndarray | None]] = [(0, None)]
    sel_masks += [(i + 1, m) for i, m in masks]
    words: dict[int, np.ndarray] = {}
    for e in acc["main_extent"]:
        words[e] = np.where(cls[e] != CLASS_NODATA, raw_words[e], np.uint32(0))
        # Σ p/100 × area, as area_sums's probability_weighted_km2, without its other sums
        p = np.where(prob[e] != CLASS_NODATA, prob[e], 0).astype(np.float64)
        acc["main_weighted"][e] += float(np.vdot(p, area)) / 100.0
        for r, m in sel_masks:
            sel = _ALL if m is None else m
            c, a = cls[e][sel], area[sel]
            acc["main_extent"][e][r] += float(np.where(c == 1, a, 0.0).sum())
            acc["member_extent"][e][r] += member_area(words[e][sel], a, b)
    for pa, pb in acc["main_deg"]:
        both = (cls[pa] != CLASS_NODATA) & (cls[pb] != CLASS_NODATA)
        deg = np.where(both, words[pa] & ~words[pb] & keep_bits, np.uint32(0))
        agg = np.where(both, ~words[pa] & words[pb] & keep_bits, np.uint32(0))
        for r, m in sel_masks:
            sel = _ALL if m is None else m
            tr = transition_area(cls[pa][sel], cls[pb][sel], area[sel])
            acc["main_deg"][(pa, pb)][r] += tr[1, 0]
            acc["main_agg"][(pa, pb)][r] += tr[0, 1]
            acc["member_deg"][(pa, pb)][r] += member_area(deg[sel], area[sel], b)
            acc["member_agg"][(pa, pb)][r] += member_area(agg[sel], area[sel], b)


def _accumulate(
    maps: Mapping[int, Path],
    files: MemberFiles,
    grid: Grid,
    reg: Regions | None,
    tile_shape: tuple[int, int],
    progress: bool,
) -> dict[str, Any]:
    """One windowed pass over every epoch's map and members file; sums per region."""
    epochs = sorted(maps)
    b = files.n_members
    acc = interval_zeros(epochs, b, len(reg.names) if reg is not None else 0)
    with ExitStack() as stack:
        srcs = {e: stack.enter_context(open_map(Path(maps[e]), grid, e)) for e in epochs}
        bands = {e: map_bands(srcs[e], Path(maps[e])) for e in epochs}
        msrcs = {e: stack.enter_context(rasterio.open(files.paths[e])) for e in epochs}
        for window in iter_tiles(grid, tile_shape, progress, "area intervals"):
            masks = list(region_masks(reg, grid, window)) if reg is not None else []
            cls: dict[int, np.ndarray] = {}
            prob: dict[int, np.ndarray] = {}
            raw: dict[int, np.ndarray] = {}
            for e in epochs:
                path = Path(maps[e])
                cls[e] = read_class(srcs[e], bands[e].cls, window, path)
                prob[e] = read_prob(srcs[e], bands[e].prob, cls[e], window, path)
                raw[e] = read_words(msrcs[e], window, files.paths[e], b)
            interval_tile_sums(acc, b, grid.cell_area_km2(window), masks, cls, prob, raw)
    return acc


def _check_against_sidecar(files: MemberFiles, extent: Mapping[int, np.ndarray]) -> None:
    """The members file and its sidecar must give the same whole-grid extents."""
    for e, computed in extent.items():
        listed = files.extent_km2[e]
        tol = 1e-3 * np.maximum(np.abs(listed), np.abs(computed)) + 1e-6
        off = np.flatnonzero(np.abs(computed - listed) > tol)
        if off.size:
            k = int(off[0])
            raise DataError(
                f"members sidecar {sidecar_path(files.paths[e])} gives member {k} an extent of "
                f"{listed[k]:.6g} km², but {files.paths[e].name} with the map's class band gives "
                f"{computed[k]:.6g} km² (rule: within 0.1 %); they come from different runs: "
                + MEMBERS_FIX
            )


def _pair_estimates(acc: Mapping[str, Any], pair: tuple[int, int], r: int) -> dict[str, Estimate]:
    a, b = pair
    return {
        "degraded_km2": Estimate.of(acc["main_deg"][pair][r], acc["member_deg"][pair][r]),
        "aggraded_km2": Estimate.of(acc["main_agg"][pair][r], acc["member_agg"][pair][r]),
        "net_change_km2": Estimate.of(
            acc["main_extent"][b][r] - acc["main_extent"][a][r],
            acc["member_extent"][b][r] - acc["member_extent"][a][r],
            clip_at_zero=False,
        ),
    }


def _row(
    period: str, kind: str, stratum: str, region: str, quantity: str, est: Estimate
) -> dict[str, Any]:
    p_lo, p_hi = est.percentiles
    return {
        "period": period,
        "kind": kind,
        "stratum": stratum,
        "region": region,
        "quantity": quantity,
        "value": est.value,
        "low": est.low,
        "high": est.high,
        "member_mean": float(np.mean(est.members)),
        "member_sd": est.sd,
        "member_p2_5": p_lo,
        "member_p97_5": p_hi,
        "n_members": len(est.members),
        "exceeds_interval": est.excludes_zero if quantity == "net_change_km2" else pd.NA,
    }


def _table(
    whole: Mapping[Any, Mapping[str, Estimate]],
    by_region: Mapping[Any, Mapping[str, Mapping[str, Estimate]]],
    kind: str,
) -> list[dict[str, Any]]:
    rows = []
    for key, quantities in whole.items():
        period = str(key) if kind == "epoch" else f"{key[0]}-{key[1]}"
        for q, est in quantities.items():
            rows.append(_row(period, kind, "total", _WHOLE, q, est))
        for region, rq in by_region[key].items():
            for q, est in rq.items():
                rows.append(_row(period, kind, "region", region, q, est))
    return rows


def area_intervals(
    maps: Mapping[int, Path],
    members: Mapping[int, Path],
    grid: Grid,
    *,
    regions: Path | None = None,
    region_name_column: str | None = None,
    checked: MemberFiles | None = None,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
) -> AreaIntervals:
    """Permafrost extent and change with 95 % intervals from the ensemble's member files.

    One windowed pass reads, per tile, every epoch's class and probability bands and its members
    file; memory is one tile per epoch.

    Parameters
    ----------
    maps : mapping of int to Path
        Epoch → ``permafrost_<year>.tif``; its class band decides which cells have data.
    members : mapping of int to Path
        Epoch → ``members_<year>.tif`` (with ``members_<year>.json`` beside it), for every epoch
        of ``maps``.
    grid : Grid
        The grid of the maps and member files.
    regions, region_name_column
        User regions, as for :func:`~permamap.change.area_by_epoch`.
    checked : MemberFiles, optional
        The result of :func:`check_members` when the caller checked them already.
    tile_shape : (int, int)
        Rows and columns read at once.
    progress : bool, default=False
        Show a progress bar over the tiles.

    Returns
    -------
    AreaIntervals

    Raises
    ------
    DataError
        For the member-file problems of :func:`check_members`, a word with bits beyond
        ``n_members``, or a sidecar whose extents disagree with the members file.
    """
    if not maps:
        raise ConfigError("no maps given; pass {epoch: path} for at least one epoch")
    files = checked if checked is not None else check_members(members, maps, grid)
    reg = load_regions(Path(regions), grid, region_name_column) if regions is not None else None
    names = list(reg.names) if reg is not None else []
    acc = _accumulate(maps, files, grid, reg, tile_shape, progress)
    return intervals_from_sums(acc, files, names)


def intervals_from_sums(
    acc: Mapping[str, Any], files: MemberFiles, names: Sequence[str]
) -> AreaIntervals:
    """The :class:`AreaIntervals` of the sums of :func:`interval_tile_sums` over the whole grid.

    Raises
    ------
    DataError
        If the members' whole-grid extents disagree with their JSON sidecars.
    """
    _check_against_sidecar(files, {e: m[0] for e, m in acc["member_extent"].items()})

    epochs: dict[int, dict[str, Estimate]] = {}
    epoch_regions: dict[int, dict[str, dict[str, Estimate]]] = {}
    for e in sorted(acc["main_extent"]):
        ext, mem = acc["main_extent"][e], acc["member_extent"][e]
        epochs[e] = {
            "permafrost_extent_km2": Estimate.of(ext[0], mem[0]),
            "probability_weighted_km2": Estimate.of(
                float(acc["main_weighted"][e][0]), files.probability_weighted_km2[e]
            ),
        }
        epoch_regions[e] = {
            n: {"permafrost_extent_km2": Estimate.of(ext[r], mem[r])}
            for r, n in enumerate(names, start=1)
        }
    pairs: dict[tuple[int, int], dict[str, Estimate]] = {}
    pair_regions: dict[tuple[int, int], dict[str, dict[str, Estimate]]] = {}
    for pair in acc["main_deg"]:
        pairs[pair] = _pair_estimates(acc, pair, 0)
        pair_regions[pair] = {
            n: _pair_estimates(acc, pair, r) for r, n in enumerate(names, start=1)
        }
        net = pairs[pair]["net_change_km2"]
        logger.info(
            "%s → %s: net change %.0f km², 95 %% interval [%.0f, %.0f] (%s 0)",
            *pair,
            net.value,
            net.low,
            net.high,
            "excludes" if net.excludes_zero else "includes",
        )
    rows = _table(epochs, epoch_regions, "epoch") + _table(pairs, pair_regions, "pair")
    return AreaIntervals(
        n_members=files.n_members,
        regions=list(names),
        epochs=epochs,
        epoch_regions=epoch_regions,
        pairs=pairs,
        pair_regions=pair_regions,
        table=pd.DataFrame(rows, columns=list(TABLE_COLUMNS)),
    )


def _pair_dict(est: Mapping[str, Estimate]) -> dict[str, Any]:
    net = est["net_change_km2"]
    return {
        "net_change_km2": net.value,
        "net_change_km2_ci95": net.ci95,
        "exceeds_interval": net.excludes_zero,
        "degraded_km2_ci95": est["degraded_km2"].ci95,
        "aggraded_km2_ci95": est["aggraded_km2"].ci95,
    }


def uncertainty_summary(result: AreaIntervals) -> dict[str, Any]:
    """The JSON-able intervals for ``summary.json``.

    Shape::

        {"<epoch>": {"permafrost_extent_km2_ci95": [lo, hi],
                     "probability_weighted_km2_ci95": [lo, hi],
                     "regions": {"<region>": {"permafrost_extent_km2_ci95": [lo, hi]}}},
         "pairs": {"<a>-<b>": {"net_change_km2": x, "net_change_km2_ci95": [lo, hi],
                               "exceeds_interval": bool, "degraded_km2_ci95": [lo, hi],
                               "aggraded_km2_ci95": [lo, hi], "regions": {"<region>": {...}}}},
         "n_members": B, "method": METHOD}

    ``exceeds_interval`` is true when the net change's interval excludes 0.
    """
    out: dict[str, Any] = {}
    for e, est in result.epochs.items():
        out[str(e)] = {
            "permafrost_extent_km2_ci95": est["permafrost_extent_km2"].ci95,
            "probability_weighted_km2_ci95": est["probability_weighted_km2"].ci95,
            "regions": {
                n: {"permafrost_extent_km2_ci95": q["permafrost_extent_km2"].ci95}
                for n, q in result.epoch_regions[e].items()
            },
        }
    out["pairs"] = {
        f"{a}-{b}": _pair_dict(est)
        | {"regions": {n: _pair_dict(q) for n, q in result.pair_regions[(a, b)].items()}}
        for (a, b), est in result.pairs.items()
    }
    out["n_members"] = result.n_members
    out["method"] = METHOD
    return out
