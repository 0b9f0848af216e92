"""Quality control of site points: the rules, their settings, and one small pure function each.

Every check takes arrays and returns a boolean mask (or the new values), so each rule can be
tested on its own; :func:`permamap.sites.build_sites` applies them in order and writes every
drop or change to the QC report under one of the rule names below.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..grid import Grid
from ..keys import check_keys

__all__ = [
    "ACTIONS",
    "CLIMATE_CONTRADICTION",
    "DUPLICATE_CONFLICT",
    "DUPLICATE_MERGED",
    "INVALID_COORDINATES",
    "IN_SEA",
    "NO_EPOCH",
    "OUTSIDE_GRID",
    "RULES",
    "SWAPPED_COORDINATES",
    "UNCLEAR_LABEL",
    "QCSettings",
    "assign_epochs",
    "climate_contradiction",
    "group_duplicates",
    "in_sea",
    "invalid_coordinates",
    "outside_grid",
    "swapped_coordinates",
]

logger = logging.getLogger(__name__)

LandMask = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Rule names: stable strings written to qc_report.csv; scripts and the report key on them.
INVALID_COORDINATES = "invalid_coordinates"
SWAPPED_COORDINATES = "swapped_coordinates"
OUTSIDE_GRID = "outside_grid"
IN_SEA = "in_sea"
UNCLEAR_LABEL = "unclear_label"
NO_EPOCH = "no_epoch"
CLIMATE_CONTRADICTION = "climate_contradiction"
DUPLICATE_CONFLICT = "duplicate_conflict"
DUPLICATE_MERGED = "duplicate_merged"

#: All rules in the order :func:`~permamap.sites.build_sites` applies them.
RULES = (
    INVALID_COORDINATES,
    SWAPPED_COORDINATES,
    OUTSIDE_GRID,
    IN_SEA,
    UNCLEAR_LABEL,
    NO_EPOCH,
    CLIMATE_CONTRADICTION,
    DUPLICATE_CONFLICT,
    DUPLICATE_MERGED,
)
#: QC report actions.
ACTIONS = ("dropped", "changed", "merged")


@dataclass(frozen=True)
class QCSettings:
    """Settings of the site QC; every check can be switched off or tuned.

    Invalid coordinates, points outside the grid and unclear labels are always dropped: such
    rows cannot be placed on the grid or used for training.

    Parameters
    ----------
    swapped : bool
        Detect swapped lat/lon and swap them back (default True).
    swap_from_sea : bool
        Also treat points that fall in the sea as swap candidates (default True); otherwise
        only points outside the grid are.
    swap_out_of_range : bool
        Also treat out-of-range coordinates as swap candidates (default True): east of 90 °E a
        swapped Eurasian point always has "lat" > 90. With False such points are dropped as
        ``invalid_coordinates``. Either way, a point whose swap is not valid on land in the grid
        (NaN, lon 200, lat 95 with lon 140) is ``invalid_coordinates``.
    sea : bool
        Drop points that the land mask puts in the sea (default True; needs ``is_land``).
    climate : bool
        Drop labels that contradict the local MAAT (default True). MAAT comes from the run's
        MAAT layer, else from the site's own ``maat`` column; a run without a MAAT factor
        checks only the sites that carry their own MAAT, and :func:`~permamap.sites.build_sites`
        says so in a note.
    permafrost_max_maat_c : float
        Permafrost labels where MAAT ≥ this (°C) contradict the climate (default +3).
    nonpermafrost_min_maat_c : float
        Non-permafrost labels where MAAT ≤ this (°C) contradict the climate (default −8).
    duplicates : bool
        Resolve several sites in one grid cell and epoch (default True): agreeing labels are
        merged into one site, conflicting ones are all dropped.
    magt_threshold_c : float
        MAGT at or below this (°C) means permafrost when a label is derived (default 0).
    epoch_tolerance_years : int
        A dated observation maps to the nearest epoch within this many years (default 4,
        i.e. the 9-year climate window); farther ones are dropped as ``no_epoch``.

    Examples
    --------
    >>> QCSettings.from_dict({"permafrost_max_maat_c": 2.5}).permafrost_max_maat_c
    2.5
    >>> QCSettings.from_dict({"permafrost_max_maat": 2.5})
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [qc] has unknown key `permafrost_max_maat` (did you mean `permafrost_max_maat_c`?); allowed keys: ...
    >>> QCSettings.from_dict({"sea": "no"})
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [qc] sea = "no" must be true or false (a TOML boolean, without quotes); e.g. sea = true
    """

    swapped: bool = True
    swap_from_sea: bool = True
    swap_out_of_range: bool = True
    sea: bool = True
    climate: bool = True
    permafrost_max_maat_c: float = 3.0
    nonpermafrost_min_maat_c: float = -8.0
    duplicates: bool = True
    magt_threshold_c: float = 0.0
    epoch_tolerance_years: int = 4

    def __post_init__(self) -> None:
        _check_settings({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "[qc]")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "[qc]") -> QCSettings:
        """Settings from a config table (the ``[qc]`` table), validated.

        Parameters
        ----------
        values : mapping
            The table as loaded; missing keys keep their defaults, integers are accepted for
            °C values.
        where : str
            How the user finds the table in messages (default ``"[qc]"``).

        Raises
        ------
        ConfigError
            An unknown key (with "did you mean"), or a value of the wrong type or range: one line
            ``[qc] <key> = <value>``, the rule and an example.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        check_keys(values, names, where)
        kwargs = dict(values)
        for key in ("permafrost_max_maat_c", "nonpermafrost_min_maat_c", "magt_threshold_c"):
            v = kwargs.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                kwargs[key] = float(v)
        _check_settings({**{n: getattr(cls, n) for n in names}, **kwargs}, where)
        return cls(**kwargs)


def _toml(value: Any) -> str:
    """``value`` as the user wrote it in TOML (strings quoted, booleans lower case)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _check_settings(values: Mapping[str, Any], where: str) -> None:
    """Raise a one-line :class:`ConfigError` for the first QC setting of the wrong type or range."""
    for f in dataclasses.fields(QCSettings):
        value = values[f.name]
        shown = f"{where} {f.name} = {_toml(value)}"
        if f.type in ("bool", bool) and not isinstance(value, bool):
            raise ConfigError(
                f"{shown} must be true or false (a TOML boolean, without quotes); "
                f"e.g. {f.name} = {_toml(f.default)}"
            )
        if f.type in ("float", float) and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(
                f"{shown} must be a finite number of °C (without quotes); "
                f"e.g. {f.name} = {f.default:g}"
            )
        if f.type in ("int", int) and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ConfigError(
                f"{shown} must be a whole number of years ≥ 0 (no decimal point); "
                f"e.g. {f.name} = {f.default}"
            )
    low, high = values["nonpermafrost_min_maat_c"], values["permafrost_max_maat_c"]
    if low >= high:
        raise ConfigError(
            f"{where} nonpermafrost_min_maat_c = {low:g} must be below permafrost_max_maat_c = "
            f"{high:g} (a site cannot be too cold for no permafrost and too warm for permafrost "
            "at once); e.g. nonpermafrost_min_maat_c = -8 and permafrost_max_maat_c = 3"
        )


# -- coordinate checks --------------------------------------------------------------------------


def invalid_coordinates(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where coordinates are not finite WGS84 degrees (lat in [-90, 90], lon in [-180, 180]).

    >>> lon, lat = np.array([10.0, 200.0, np.nan, 10.0]), np.array([50.0, 50.0, 50.0, 95.0])
    >>> invalid_coordinates(lon, lat)
    array([False,  True,  True,  True])
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    with np.errstate(invalid="ignore"):
        ok &= (np.abs(lat) <= 90) & (lon >= -180) & (lon <= 180)
    return ~ok


def outside_grid(lon: np.ndarray, lat: np.ndarray, grid: Grid) -> np.ndarray:
    """True where the point falls outside ``grid``."""
    return ~grid.contains(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def in_sea(lon: np.ndarray, lat: np.ndarray, is_land: LandMask) -> np.ndarray:
    """True where ``is_land(lon, lat)`` says the point is not on land."""
    lon = np.asarray(lon, dtype=float)
    land = np.asarray(is_land(lon, np.asarray(lat, dtype=float)), dtype=bool)
    if land.shape != lon.shape:
        raise ConfigError(
            f"the land mask returned shape {land.shape} for {lon.shape} points; "
            "is_land(lon, lat) must return one boolean per point"
        )
    return ~land


def _placeable(
    lon: np.ndarray, lat: np.ndarray, grid: Grid, is_land: LandMask | None
) -> np.ndarray:
    """Valid, inside the grid and (with a land mask) on land."""
    ok = ~invalid_coordinates(lon, lat)
    ok &= ~outside_grid(lon, lat, grid)
    if is_land is not None and ok.any():
        ok[ok] &= ~in_sea(lon[ok], lat[ok], is_land)
    return ok


def swapped_coordinates(
    lon: np.ndarray,
    lat: np.ndarray,
    grid: Grid,
    is_land: LandMask | None = None,
    *,
    from_sea: bool = True,
    out_of_range: bool = True,
) -> np.ndarray:
    """True where lat and lon look swapped.

    A point is swapped when, as given, it is outside the grid (or, with ``from_sea``, at sea;
    with ``out_of_range``, out of the WGS84 range) while ``(lon, lat) = (lat, lon)`` is valid,
    inside the grid and on land.

    Examples
    --------
    >>> g = Grid.from_bounds((25, 25, 180, 84), res=1)
    >>> lon, lat = np.array([67.5, 130.0, 20.0]), np.array([130.0, 67.5, 60.0])
    >>> swapped_coordinates(lon, lat, g)
    array([ True, False, False])
    >>> swapped_coordinates(lon, lat, g, out_of_range=False)
    array([False, False, False])
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    invalid = invalid_coordinates(lon, lat)
    outside = np.ones(lon.shape, dtype=bool)
    outside[~invalid] = outside_grid(lon[~invalid], lat[~invalid], grid)
    candidate = outside & (~invalid if not out_of_range else True)
    if from_sea and is_land is not None:
        inside = ~invalid & ~outside
        sea = np.zeros(lon.shape, dtype=bool)
        if inside.any():
            sea[inside] = in_sea(lon[inside], lat[inside], is_land)
        candidate |= sea
    finite = np.isfinite(lon) & np.isfinite(lat)
    candidate &= finite
    result = np.zeros(lon.shape, dtype=bool)
    if candidate.any():
        result[candidate] = _placeable(lat[candidate], lon[candidate], grid, is_land)
    return result


# -- epochs, climate, duplicates ----------------------------------------------------------------


def assign_epochs(year: np.ndarray, epochs: Sequence[int], tolerance: int) -> np.ndarray:
    """Nearest epoch of each observation year, or −1 when none is within ``tolerance`` years.

    Ties go to the earlier epoch. NaN years (static evidence) return −1 too; the caller expands
    them to all epochs.

    >>> assign_epochs(np.array([2001.0, 2003.0, 2013.0, 2030.0]), [2000, 2005, 2010], 4)
    array([2000, 2005, 2010,   -1])
    """
    ep = np.asarray(sorted(int(e) for e in epochs), dtype=np.int64)
    year = np.asarray(year, dtype=float)
    if ep.size == 0:
        return np.full(year.shape, -1, dtype=np.int64)
    gap = np.abs(year[:, None] - ep[None, :])
    gap = np.where(np.isfinite(gap), gap, np.inf)
    best = np.argmin(gap, axis=1)  # first minimum = earlier epoch on ties
    ok = gap[np.arange(year.size), best] <= tolerance
    return np.where(ok, ep[best], -1)


def climate_contradiction(
    label: np.ndarray,
    maat_c: np.ndarray,
    *,
    permafrost_max_maat_c: float = 3.0,
    nonpermafrost_min_maat_c: float = -8.0,
) -> np.ndarray:
    """True where a label contradicts the local mean annual air temperature.

    Permafrost (1) where ``MAAT ≥ permafrost_max_maat_c`` or non-permafrost (0) where
    ``MAAT ≤ nonpermafrost_min_maat_c``; unknown MAAT never contradicts.

    >>> climate_contradiction(np.array([1, 1, 0, 0, 1]), np.array([4.0, -2.0, -9.0, 5.0, np.nan]))
    array([ True, False,  True, False, False])
    """
    label = np.asarray(label, dtype=float)
    maat = np.asarray(maat_c, dtype=float)
    with np.errstate(invalid="ignore"):
        warm_pf = (label == 1) & (maat >= permafrost_max_maat_c)
        cold_npf = (label == 0) & (maat <= nonpermafrost_min_maat_c)
    return warm_pf | cold_npf


def group_duplicates(
    row: np.ndarray, col: np.ndarray, epoch: np.ndarray, label: np.ndarray, priority: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Resolve several sites in one grid cell and epoch.

    Parameters
    ----------
    row, col, epoch, label : array
        Grid cell, epoch and label (0/1) of each site-epoch.
    priority : array
        Sort key: the lowest value in a group is the one kept when labels agree.

    Returns
    -------
    status : array of str
        ``"single"``, ``"kept"`` (representative of merged sites), ``"merged"`` (absorbed into
        the representative) or ``"conflict"`` (labels disagree: all dropped).
    representative : array of int
        Position of the representative for ``"merged"`` and ``"kept"`` rows, −1 otherwise.

    Examples
    --------
    >>> s, r = group_duplicates(np.array([0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2]),
    ...                         np.full(5, 2000), np.array([1, 1, 0, 1, 0]), np.arange(5))
    >>> s.tolist(), r.tolist()
    (['kept', 'merged', 'conflict', 'conflict', 'single'], [0, 0, -1, -1, -1])
    """
    n = len(row)
    status = np.full(n, "single", dtype=object)
    rep = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return status, rep
    keys = np.column_stack([row, col, epoch]).astype(np.int64)
    order = np.lexsort((priority, keys[:, 2], keys[:, 1], keys[:, 0]))
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, np.any(sk[1:] != sk[:-1], axis=1)])
    ends = np.r_[starts[1:], n]
    for a, b in zip(starts, ends, strict=True):
        if b - a == 1:
            continue
        members = order[a:b]
        if np.unique(np.asarray(label)[members]).size > 1:
            status[members] = "conflict"
        else:
            status[members] = "merged"
            status[members[0]] = "kept"
            rep[members] = members[0]
    return status, rep
