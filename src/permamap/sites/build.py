"""The site stage: raw site table → QC → one row per site and epoch, plus the QC report.

:func:`build_sites` validates the raw table, applies the checks of :mod:`permamap.sites.qc` in
the order of :data:`~permamap.sites.qc.RULES` and records every drop, change and merge;
:mod:`.outputs` writes and summarises the two tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..grid import Grid
from . import qc
from .labels import label_from_magt
from .parsing import KINDS, RAW_COLUMNS
from .qc import QCSettings

__all__ = [
    "QC_REPORT_COLUMNS",
    "SITE_COLUMNS",
    "SiteQC",
    "build_sites",
    "validate_raw",
]

logger = logging.getLogger(__name__)

#: Columns of ``qc_report.csv`` (docs/contracts.md).
QC_REPORT_COLUMNS = ("site_id", "source", "source_id", "lon", "lat", "rule", "action", "detail")
#: Leading columns of ``sites.parquet``; provenance columns of the raw table follow them.
SITE_COLUMNS = (*RAW_COLUMNS, "epoch", "label_from", "qc_flags", "merged_from")

MaatLayer = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
LandMask = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Kept first when sites in one cell agree: direct evidence before station-derived points.
_KIND_PRIORITY = {"borehole": 0, "literature": 1, "other": 2, "station": 3}
_REQUIRED = ("site_id", "source", "lon", "lat")


def validate_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """Check a raw site table and return a normalised copy with every raw column.

    Missing optional columns are added (``source_id`` from ``site_id``, ``kind = "other"``,
    ``year``/``label`` ``<NA>``, ``magt``/``magt_depth_m``/``maat`` NaN).

    Raises
    ------
    DataError
        Missing required columns, a label that is not 0/1/empty, a non-numeric coordinate,
        year or temperature, an unknown kind, or a repeated ``(site_id, year)``.
    """
    if not isinstance(raw, pd.DataFrame):
        raise DataError(f"the raw site table must be a pandas DataFrame, not {type(raw).__name__}")
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(
            f"raw site table lacks column(s) {missing}; it has {list(raw.columns)}. Read sites "
            "with permamap.sites readers or add the columns of docs/contracts.md"
        )
    df = raw.reset_index(drop=True).copy()
    if "source_id" not in df.columns:
        df["source_id"] = df["site_id"].astype(str).str.split(":", n=1).str[-1]
    if "kind" not in df.columns:
        df["kind"] = "other"
    for c in ("site_id", "source", "source_id", "kind"):
        df[c] = df[c].astype(str)
    bad_kind = ~df["kind"].isin(KINDS)
    if bad_kind.any():
        i = int(np.flatnonzero(bad_kind.to_numpy())[0])
        raise DataError(
            f"raw site table row {i} ({df['site_id'][i]}): kind {df['kind'][i]!r} is not one of "
            f"{list(KINDS)}; fix the reader or the kind column"
        )
    for c in ("lon", "lat", "magt", "magt_depth_m", "maat"):
        if c not in df.columns:
            df[c] = np.nan
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"raw site table row {i} ({df['site_id'][i]}): column {c!r} value "
                f"{df[c][i]!r} is not a number; convert it to float (NaN when unknown)"
            )
        df[c] = num.astype(float)
    for c in ("year", "label"):
        if c not in df.columns:
            df[c] = pd.NA
        try:
            df[c] = df[c].astype("Int64")
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"raw site table column {c!r} holds non-integer values ({exc}); "
                f"give whole numbers or <NA>"
            ) from exc
    bad_label = df["label"].notna() & ~df["label"].isin([0, 1])
    if bad_label.any():
        i = int(np.flatnonzero(bad_label.to_numpy())[0])
        raise DataError(
            f"raw site table row {i} ({df['site_id'][i]}): label {df['label'][i]} is not "
            "1 (permafrost), 0 (not) or <NA> (unclear); fix the label column"
        )
    dup = df.duplicated(["site_id", "year"], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(
            f"raw site table: site_id {df['site_id'][i]!r} with year {df['year'][i]} appears "
            f"{int(dup.sum())} times; each (site_id, year) must be unique — give repeated "
            "observations their own year or identifier"
        )
    if "label_from" not in df.columns:
        df["label_from"] = np.where(df["label"].notna(), "given", "none")
    extra = [c for c in df.columns if c not in RAW_COLUMNS]
    return df[[*RAW_COLUMNS, *extra]]


@dataclass(frozen=True, eq=False)
class SiteQC:
    """What :func:`build_sites` returns; it unpacks as ``sites, qc_report = build_sites(...)``.

    Attributes
    ----------
    sites : DataFrame
        One row per site and epoch (:data:`SITE_COLUMNS` then provenance columns).
    qc_report : DataFrame
        One row per dropped, changed or merged row (:data:`QC_REPORT_COLUMNS`).
    notes : list of str
        What the user should see in the console and the report: a check that was skipped or
        run on part of the sites (e.g. the climate check of a run without a MAAT factor).
    """

    sites: pd.DataFrame
    qc_report: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.sites, self.qc_report))

    def __len__(self) -> int:
        return 2

    @overload
    def __getitem__(self, i: int) -> pd.DataFrame: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[pd.DataFrame, ...]: ...
    def __getitem__(self, i: int | slice) -> pd.DataFrame | tuple[pd.DataFrame, ...]:
        return (self.sites, self.qc_report)[i]


def _climate_note(n_rows: int, n_own: int, n_unchecked: int, layer: bool) -> str | None:
    """The note on a climate check that could not look at every site-epoch row."""
    fix = (
        "add the maat factor to the run's factors to check every site, or set [qc] climate = "
        "false to turn the check off"
    )
    if not layer and n_own == 0:
        return (
            f"QC {qc.CLIMATE_CONTRADICTION} skipped: the run has no MAAT layer (no maat factor) "
            f"and no site carries its own MAAT, so none of the {n_rows} site-epoch rows was "
            f"checked against the climate; {fix}"
        )
    if not layer:
        return (
            f"QC {qc.CLIMATE_CONTRADICTION}: the run has no MAAT layer (no maat factor), so only "
            f"the {n_own} of {n_rows} site-epoch rows with their own MAAT (the sites' maat "
            f"column) were checked against the climate; {fix}"
        )
    if n_unchecked:
        return (
            f"QC {qc.CLIMATE_CONTRADICTION}: {n_unchecked} of {n_rows} site-epoch rows have no "
            "MAAT (the layer is empty at their cell and the site gives none), so their labels "
            "were not checked against the climate"
        )
    return None


class _Report:
    """Collects QC report rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(
        self, df: pd.DataFrame, mask: np.ndarray, rule: str, action: str, details: Sequence[str]
    ) -> None:
        sub = df[mask]
        for (_, r), detail in zip(sub.iterrows(), details, strict=True):
            self.rows.append(
                {
                    "site_id": r["site_id"],
                    "source": r["source"],
                    "source_id": r["source_id"],
                    "lon": r["lon"],
                    "lat": r["lat"],
                    "rule": rule,
                    "action": action,
                    "detail": detail,
                }
            )
        if mask.any():
            logger.info("QC %s: %d row(s) %s", rule, int(mask.sum()), action)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(QC_REPORT_COLUMNS))


def _fmt(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:g}"


def _why_misplaced(lon: float, lat: float, grid: Grid, is_land: LandMask | None) -> str:
    """Why a point cannot be used as given (for the swapped-coordinates detail)."""
    a, b = np.array([lon]), np.array([lat])
    if qc.invalid_coordinates(a, b)[0]:
        return "out of the WGS84 range"
    if qc.outside_grid(a, b, grid)[0]:
        return "outside the grid"
    if is_land is not None and qc.in_sea(a, b, is_land)[0]:
        return "in the sea"
    return "misplaced"


def _add_flag(flags: pd.Series, mask: np.ndarray, rule: str) -> pd.Series:
    out = flags.copy()
    out[mask] = [f"{f};{rule}" if f else rule for f in out[mask]]
    return out


def build_sites(
    raw: pd.DataFrame,
    grid: Grid,
    epochs: Sequence[int],
    *,
    is_land: LandMask | None = None,
    maat: MaatLayer | None = None,
    settings: QCSettings = QCSettings(),  # noqa: B008 - frozen, immutable default
) -> SiteQC:
    """Harmonise and quality-control a raw site table into one row per site and epoch.

    Checks, in order (rule names from :mod:`permamap.sites.qc`):

    1. ``invalid_coordinates`` — NaN or out of the WGS84 range: dropped.
    2. ``swapped_coordinates`` — outside the grid (or at sea) as given, valid on land when
       swapped: swapped back and kept (action ``changed``).
    3. ``outside_grid`` — dropped.
    4. ``in_sea`` — the land mask says sea: dropped (only with ``is_land``).
    5. ``unclear_label`` — no label and no MAGT to derive one (MAGT ≤ threshold → 1): dropped.
    6. ``no_epoch`` — the observation year is farther than the tolerance from every epoch:
       dropped; dated rows map to the nearest epoch, undated (static) rows to all epochs.
    7. ``climate_contradiction`` — permafrost where MAAT ≥ the warm limit or non-permafrost
       where MAAT ≤ the cold limit, per epoch: dropped. MAAT comes from ``maat(lon, lat,
       epoch)`` where it has a value, else from the row's own ``maat`` column (a station's
       MAAT, a table's mapped column). Without a MAAT layer (a run with no ``maat`` factor,
       ``maat=None``) only rows with their own MAAT are checked, and :attr:`SiteQC.notes` says
       how many (or that the check was skipped); rows with no MAAT at all are never dropped.
    8. ``duplicate_conflict`` / ``duplicate_merged`` — several sites in one grid cell and epoch:
       conflicting labels are all dropped; agreeing ones are merged into the one of the most
       direct kind (borehole first, station last), the others reported as ``merged``.

    Parameters
    ----------
    raw : DataFrame
        Raw site table (docs/contracts.md), e.g. readers' outputs and
        :func:`~permamap.sites.stations_nonpermafrost` rows concatenated.
    grid : Grid
        The analysis grid.
    epochs : sequence of int
        The epochs (years).
    is_land : callable, optional
        ``is_land(lon, lat) -> bool array``; without it the sea check is skipped.
    maat : callable, optional
        ``maat(lon, lat, epoch) -> °C array`` from a climate layer (the stack's ``maat``
        band); ``None`` when the run has no MAAT factor.
    settings : QCSettings
        Which checks run and their thresholds.

    Returns
    -------
    SiteQC
        Unpacks as ``(sites, qc_report)``; ``.notes`` holds the notes for the user.
        ``sites`` has columns :data:`SITE_COLUMNS` then the raw table's provenance columns;
        ``qc_flags`` lists the non-dropping rules that touched the row (``;``-separated),
        ``merged_from`` the site_ids merged into it. ``qc_report`` has one row per dropped,
        changed or merged row (:data:`QC_REPORT_COLUMNS`).

    Raises
    ------
    DataError
        The raw table breaks the contract (see :func:`validate_raw`).
    ConfigError
        No epochs, or a MAAT layer / land mask that returns the wrong shape.

    Examples
    --------
    >>> g = Grid.from_bounds((25, 25, 180, 84), res=1)
    >>> raw = pd.DataFrame({"site_id": ["a:1", "a:2"], "source": "a", "lon": [100.5, 60.2],
    ...                     "lat": [60.5, 120.3], "label": [1, 1]})
    >>> sites, report = build_sites(raw, g, [2000])
    >>> sites[["site_id", "lon", "lat", "epoch"]].to_numpy().tolist()
    [['a:1', 100.5, 60.5, 2000], ['a:2', 120.3, 60.2, 2000]]
    >>> report[["site_id", "rule", "action"]].to_numpy().tolist()
    [['a:2', 'swapped_coordinates', 'changed']]
    """
    epochs = sorted({int(e) for e in epochs})
    if not epochs:
        raise ConfigError("no epochs given; set [run].epochs, e.g. [2000, 2005, 2010, 2015, 2020]")
    df = validate_raw(raw)
    report = _Report()
    notes: list[str] = []
    flags = pd.Series([""] * len(df), index=df.index, dtype=object)
    n_raw = len(df)

    # 1-2. invalid and swapped coordinates
    lon, lat = df["lon"].to_numpy(), df["lat"].to_numpy()
    swapped = (
        qc.swapped_coordinates(
            lon,
            lat,
            grid,
            is_land if settings.sea else None,
            from_sea=settings.swap_from_sea,
            out_of_range=settings.swap_out_of_range,
        )
        if settings.swapped
        else np.zeros(len(df), dtype=bool)
    )
    invalid = qc.invalid_coordinates(lon, lat) & ~swapped
    report.add(
        df,
        invalid,
        qc.INVALID_COORDINATES,
        "dropped",
        [
            f"lon {_fmt(a)}, lat {_fmt(b)}: coordinates must be finite with lat in [-90, 90] and "
            f"lon in [-180, 180]"
            for a, b in zip(lon[invalid], lat[invalid], strict=True)
        ],
    )
    report.add(
        df,
        swapped,
        qc.SWAPPED_COORDINATES,
        "changed",
        [
            f"lon/lat ({_fmt(a)}, {_fmt(b)}) -> ({_fmt(b)}, {_fmt(a)}): as given "
            f"{_why_misplaced(a, b, grid, is_land if settings.sea else None)}; swapped it is "
            "inside the grid" + (" on land" if is_land is not None and settings.sea else "")
            for a, b in zip(lon[swapped], lat[swapped], strict=True)
        ],
    )
    df.loc[swapped, ["lon", "lat"]] = np.column_stack([lat[swapped], lon[swapped]])
    flags = _add_flag(flags, swapped, qc.SWAPPED_COORDINATES)
    keep = ~invalid

    # 3. outside the grid
    lon, lat = df["lon"].to_numpy(), df["lat"].to_numpy()
    outside = keep & qc.outside_grid(lon, lat, grid)
    w, s, e, n = grid.bounds
    report.add(
        df,
        outside,
        qc.OUTSIDE_GRID,
        "dropped",
        [
            f"lon {_fmt(a)}, lat {_fmt(b)} is outside the grid bounds (west {w:g}, south {s:g}, "
            f"east {e:g}, north {n:g})"
            for a, b in zip(lon[outside], lat[outside], strict=True)
        ],
    )
    keep &= ~outside

    # 4. in the sea
    if settings.sea and is_land is not None and keep.any():
        sea = np.zeros(len(df), dtype=bool)
        sea[keep] = qc.in_sea(lon[keep], lat[keep], is_land)
        report.add(
            df,
            sea,
            qc.IN_SEA,
            "dropped",
            [
                f"lon {_fmt(a)}, lat {_fmt(b)} is not on land in the land mask"
                for a, b in zip(lon[sea], lat[sea], strict=True)
            ],
        )
        keep &= ~sea

    # 5. labels: derive from MAGT, drop unclear
    derive = df["label"].isna().to_numpy() & np.isfinite(df["magt"].to_numpy())
    if derive.any():
        df.loc[derive, "label"] = label_from_magt(
            df.loc[derive, "magt"], settings.magt_threshold_c
        ).to_numpy()
        df.loc[derive, "label_from"] = "magt"
    unclear = keep & df["label"].isna().to_numpy()
    report.add(
        df,
        unclear,
        qc.UNCLEAR_LABEL,
        "dropped",
        ["no label and no MAGT to derive one from (label <NA>, magt NaN)"] * int(unclear.sum()),
    )
    keep &= ~unclear
    df, flags = df[keep].reset_index(drop=True), flags[keep].reset_index(drop=True)

    # 6. epochs: dated rows to the nearest epoch, static rows to all
    year = df["year"].to_numpy(dtype=float, na_value=np.nan)
    static = ~np.isfinite(year)
    epoch = qc.assign_epochs(year, epochs, settings.epoch_tolerance_years)
    no_epoch = ~static & (epoch < 0)
    report.add(
        df,
        no_epoch,
        qc.NO_EPOCH,
        "dropped",
        [
            f"year {int(y)} is more than {settings.epoch_tolerance_years} years from every "
            f"epoch {epochs}"
            for y in year[no_epoch]
        ],
    )
    dated = df[~static & ~no_epoch].assign(epoch=epoch[~static & ~no_epoch])
    dated_flags = flags[~static & ~no_epoch]
    stat = df[static]
    expanded = stat.loc[stat.index.repeat(len(epochs))].assign(epoch=np.tile(epochs, len(stat)))
    expanded_flags = flags[static].loc[stat.index.repeat(len(epochs))]
    out = pd.concat([dated, expanded], ignore_index=False)
    flags = pd.concat([dated_flags, expanded_flags])
    order = np.lexsort((out["epoch"].to_numpy(), out.index.to_numpy()))
    out, flags = out.iloc[order].reset_index(drop=True), flags.iloc[order].reset_index(drop=True)
    out["epoch"] = out["epoch"].astype(np.int64)

    # 7. climate contradiction, per epoch
    if settings.climate and len(out):
        air = out["maat"].to_numpy(dtype=float).copy()
        n_own = int(np.isfinite(air).sum())
        if maat is not None:
            for ep in epochs:
                m = (out["epoch"] == ep).to_numpy()
                if m.any():
                    v = np.asarray(
                        maat(out["lon"].to_numpy()[m], out["lat"].to_numpy()[m], ep), dtype=float
                    )
                    if v.shape != (int(m.sum()),):
                        raise ConfigError(
                            f"the MAAT layer returned shape {v.shape} for {int(m.sum())} points "
                            f"in epoch {ep}; maat(lon, lat, epoch) must return one value per point"
                        )
                    air[m] = np.where(np.isfinite(v), v, air[m])
        note = _climate_note(
            len(out), n_own, int((~np.isfinite(air)).sum()), layer=maat is not None
        )
        if note is not None:
            logger.warning(note)
            notes.append(note)
        label = out["label"].to_numpy(dtype=float, na_value=np.nan)
        bad = qc.climate_contradiction(
            label,
            air,
            permafrost_max_maat_c=settings.permafrost_max_maat_c,
            nonpermafrost_min_maat_c=settings.nonpermafrost_min_maat_c,
        )
        report.add(
            out,
            bad,
            qc.CLIMATE_CONTRADICTION,
            "dropped",
            [
                f"epoch {ep}: label {int(lb)} but MAAT {t:.2f} °C "
                + (
                    f"≥ {settings.permafrost_max_maat_c:g} °C (permafrost_max_maat_c)"
                    if lb == 1
                    else f"≤ {settings.nonpermafrost_min_maat_c:g} °C (nonpermafrost_min_maat_c)"
                )
                for ep, lb, t in zip(out["epoch"][bad], label[bad], air[bad], strict=True)
            ],
        )
        out, flags = out[~bad].reset_index(drop=True), flags[~bad].reset_index(drop=True)

    # 8. several sites in one cell and epoch
    out["merged_from"] = ""
    if settings.duplicates and len(out):
        row, col = grid.index(out["lon"].to_numpy(), out["lat"].to_numpy())
        priority = np.array([_KIND_PRIORITY.get(k, 2) for k in out["kind"]], dtype=np.int64)
        # Tie-break within a kind by site_id, so the representative does not depend on row order.
        rank = pd.Series(out["site_id"]).rank(method="dense").to_numpy(dtype=np.int64)
        status, rep = qc.group_duplicates(
            row,
            col,
            out["epoch"].to_numpy(),
            out["label"].to_numpy(dtype=np.int64),
            priority * (len(out) + 1) + rank,
        )
        conflict = status == "conflict"
        cell_labels: dict[tuple[int, int, int], list[str]] = {}
        for i in np.flatnonzero(conflict):
            key = (int(row[i]), int(col[i]), int(out["epoch"][i]))
            cell_labels.setdefault(key, []).append(f"{out['site_id'][i]}={int(out['label'][i])}")
        report.add(
            out,
            conflict,
            qc.DUPLICATE_CONFLICT,
            "dropped",
            [
                f"epoch {ep}: grid cell (row {r}, col {c}) holds conflicting labels "
                f"({', '.join(cell_labels[(int(r), int(c), int(ep))])}); all dropped"
                for r, c, ep in zip(
                    row[conflict], col[conflict], out["epoch"][conflict], strict=True
                )
            ],
        )
        merged = status == "merged"
        sid = out["site_id"].to_numpy()
        report.add(
            out,
            merged,
            qc.DUPLICATE_MERGED,
            "merged",
            [
                f"epoch {ep}: same grid cell (row {r}, col {c}) and label {int(lb)} as "
                f"{sid[k]}; merged into it"
                for r, c, ep, lb, k in zip(
                    row[merged],
                    col[merged],
                    out["epoch"][merged],
                    out["label"][merged],
                    rep[merged],
                    strict=True,
                )
            ],
        )
        kept = np.flatnonzero(status == "kept")
        for k in kept:
            absorbed = sid[(rep == k) & merged]
            out.loc[k, "merged_from"] = ";".join(absorbed)
        flags = _add_flag(flags, status == "kept", qc.DUPLICATE_MERGED)
        drop = conflict | merged
        out, flags = out[~drop].reset_index(drop=True), flags[~drop].reset_index(drop=True)

    out["qc_flags"] = flags.to_numpy()
    extra = [c for c in out.columns if c not in SITE_COLUMNS]
    sites = out[[*SITE_COLUMNS, *extra]].reset_index(drop=True)
    qc_report = report.frame()
    logger.info(
        "sites: %d raw rows -> %d site-epoch rows; %d QC report entries",
        n_raw,
        len(sites),
        len(qc_report),
    )
    return SiteQC(sites, qc_report, notes)
