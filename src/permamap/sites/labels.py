"""Permafrost labels from temperature: MAGT from ground-temperature series, station MAAT.

This module owns the pure computations that turn temperature records into site labels:

* :func:`monthly_means` / :func:`magt_profile` — mean annual ground temperature (MAGT) by depth
  from a daily or monthly series, from complete years (mean of 12 monthly means) or, when a
  record never covers a whole year, from a fitted annual harmonic;
* :func:`select_magt` — the MAGT at the depth of zero annual amplitude (ZAA), at a configured
  depth, or at the deepest usable sensor;
* :func:`label_from_magt` — ``MAGT ≤ 0 °C`` → permafrost;
* :func:`station_maat` / :func:`stations_nonpermafrost` — weather stations whose mean annual air
  temperature (MAAT) over an epoch's window is warm enough to rule permafrost out.

A *ground-temperature series* is a long DataFrame with ``depth_m``, ``temperature_c`` and
either ``date`` (daily or sub-daily) or ``year`` + ``month`` (monthly values).
Temperatures are °C, depths metres below the surface.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

__all__ = [
    "MagtResult",
    "label_from_magt",
    "magt_profile",
    "monthly_means",
    "select_magt",
    "sites_from_series",
    "station_maat",
    "stations_nonpermafrost",
]

logger = logging.getLogger(__name__)

#: Annual range (°C, max − min of the monthly means) below which a depth counts as the depth
#: of zero annual amplitude; 0.1 °C is the usual convention (IPA glossary, GTN-P).
ZAA_RANGE_C = 0.1


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {missing}; it has {list(df.columns)}. "
            f"Give a DataFrame with columns {list(columns)}."
        )


def monthly_means(
    series: pd.DataFrame,
    *,
    min_days_per_month: int = 20,
    frequency: Literal["auto", "daily", "monthly"] = "auto",
) -> pd.DataFrame:
    """Monthly mean temperature per depth from a daily or monthly ground-temperature series.

    Parameters
    ----------
    series : DataFrame
        ``depth_m``, ``temperature_c`` and either ``date`` or ``year`` + ``month``.
        NaN temperatures are ignored.
    min_days_per_month : int
        For daily data, a month counts only with at least this many values (default 20).
    frequency : {"auto", "daily", "monthly"}
        ``"auto"`` treats the series as daily when the median number of values per depth and
        month is above one.

    Returns
    -------
    DataFrame
        ``depth_m, year, month, temperature_c, n`` for the valid months, sorted.

    Examples
    --------
    >>> s = pd.DataFrame({"date": pd.date_range("2001-01-01", "2001-02-28"),
    ...                   "depth_m": 1.0, "temperature_c": 2.0})
    >>> monthly_means(s)[["year", "month", "temperature_c", "n"]].to_numpy().tolist()
    [[2001.0, 1.0, 2.0, 31.0], [2001.0, 2.0, 2.0, 28.0]]
    """
    _require(series, ["depth_m", "temperature_c"], "ground-temperature series")
    df = series[np.isfinite(series["temperature_c"].to_numpy(dtype=float))]
    if "date" in df.columns:
        dates = pd.to_datetime(df["date"])
        df = df.assign(year=dates.dt.year, month=dates.dt.month)
    else:
        _require(series, ["year", "month"], "ground-temperature series without 'date'")
    g = df.groupby(["depth_m", "year", "month"], sort=True)["temperature_c"].agg(["mean", "count"])
    g = g.rename(columns={"mean": "temperature_c", "count": "n"}).reset_index()
    if frequency == "auto":
        daily = bool(len(g)) and float(g["n"].median()) > 1
    elif frequency in ("daily", "monthly"):
        daily = frequency == "daily"
    else:
        raise ConfigError(f"frequency {frequency!r} is not one of 'auto', 'daily', 'monthly'")
    if daily:
        g = g[g["n"] >= min_days_per_month]
    return g.reset_index(drop=True)


def _harmonic_fit(month: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Fit ``T(m) = c + a·cos(ωm) + b·sin(ωm)`` to monthly values; return (c, 2·√(a²+b²))."""
    phase = 2 * np.pi * (month - 0.5) / 12.0
    design = np.column_stack([np.ones_like(phase), np.cos(phase), np.sin(phase)])
    coef, *_ = np.linalg.lstsq(design, value, rcond=None)
    return float(coef[0]), float(2 * np.hypot(coef[1], coef[2]))


def magt_profile(
    series: pd.DataFrame,
    *,
    years: tuple[int, int] | None = None,
    min_days_per_month: int = 20,
    min_months_harmonic: int = 7,
    frequency: Literal["auto", "daily", "monthly"] = "auto",
) -> pd.DataFrame:
    """MAGT and annual range per depth of one borehole.

    For each depth, complete years (12 valid months) give the annual mean as the mean of the
    monthly means weighted by month length; MAGT is the mean over complete years and the range
    the mean annual ``max − min`` of the monthly means (method ``"annual"``). A depth without
    any complete year but with at least ``min_months_harmonic`` distinct calendar months gets
    MAGT from a fitted annual harmonic on the monthly climatology (method ``"harmonic"``, range
    = peak to peak). Other depths get NaN.

    Parameters
    ----------
    series : DataFrame
        A ground-temperature series (see the module docstring).
    years : (int, int), optional
        Inclusive first and last year to use (an epoch's window); all years by default.
    min_days_per_month, frequency
        See :func:`monthly_means`.
    min_months_harmonic : int
        Calendar months needed for the harmonic fallback (default 7 of 12, over half the cycle).

    Returns
    -------
    DataFrame
        ``depth_m, magt_c, range_c, n_years, first_year, last_year, method``, one row per depth.

    Examples
    --------
    A sinusoid of mean −1.5 °C sampled daily over two years is recovered:

    >>> t = pd.date_range("2001-01-01", "2002-12-31")
    >>> temp = -1.5 + 3 * np.sin(2 * np.pi * t.day_of_year / 365.25)
    >>> p = magt_profile(pd.DataFrame({"date": t, "depth_m": 2.0, "temperature_c": temp}))
    >>> round(float(p["magt_c"].iloc[0]), 2), p["method"].iloc[0], int(p["n_years"].iloc[0])
    (-1.5, 'annual', 2)
    """
    monthly = monthly_means(series, min_days_per_month=min_days_per_month, frequency=frequency)
    if years is not None:
        monthly = monthly[(monthly["year"] >= years[0]) & (monthly["year"] <= years[1])]
    rows = []
    for depth, d in monthly.groupby("depth_m", sort=True):
        # Weight months by their length so that the annual mean of a daily record equals the
        # mean of its days (an unweighted mean of monthly means is biased by ~0.02 °C per 5 °C
        # of amplitude).
        days = pd.to_datetime(
            pd.DataFrame({"year": d["year"], "month": d["month"], "day": 1})
        ).dt.days_in_month.to_numpy(dtype=float)
        d = d.assign(weighted=d["temperature_c"].to_numpy() * days, days=days)
        per_year = d.groupby("year").agg(
            wsum=("weighted", "sum"),
            dsum=("days", "sum"),
            count=("temperature_c", "count"),
            max=("temperature_c", "max"),
            min=("temperature_c", "min"),
        )
        per_year["mean"] = per_year["wsum"] / per_year["dsum"]
        complete = per_year[per_year["count"] == 12]
        if len(complete):
            rows.append(
                (
                    float(depth),
                    float(complete["mean"].mean()),
                    float((complete["max"] - complete["min"]).mean()),
                    len(complete),
                    int(complete.index.min()),
                    int(complete.index.max()),
                    "annual",
                )
            )
            continue
        clim = d.groupby("month")["temperature_c"].mean()
        if len(clim) >= min_months_harmonic:
            magt, rng = _harmonic_fit(clim.index.to_numpy(dtype=float), clim.to_numpy(dtype=float))
            rows.append(
                (float(depth), magt, rng, 0, int(d["year"].min()), int(d["year"].max()), "harmonic")
            )
        else:
            rows.append((float(depth), np.nan, np.nan, 0, -1, -1, "insufficient"))
    columns = ["depth_m", "magt_c", "range_c", "n_years", "first_year", "last_year", "method"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class MagtResult:
    """The MAGT chosen for one borehole.

    Attributes
    ----------
    magt_c : float
        MAGT in °C (NaN when no depth qualifies).
    depth_m : float
        Depth of that MAGT in m (NaN when none).
    method : str
        ``"<fit>/<depth rule>"``: fit ``annual`` or ``harmonic``; depth rule ``zaa`` (depth of
        zero annual amplitude), ``configured`` or ``deepest`` (no depth reached the ZAA); or
        ``"none"``.
    year : int | None
        Central year of the data used.
    """

    magt_c: float
    depth_m: float
    method: str
    year: int | None


def select_magt(
    profile: pd.DataFrame,
    *,
    depth_m: float | None = None,
    depth_tolerance_m: float = 0.5,
    zaa_range_c: float = ZAA_RANGE_C,
) -> MagtResult:
    """Pick the MAGT of a borehole from its :func:`magt_profile`.

    With ``depth_m`` the usable depth nearest to it (within ``depth_tolerance_m``) is taken.
    Otherwise the shallowest depth whose annual range is at most ``zaa_range_c`` (the depth of
    zero annual amplitude); if no depth gets there, the deepest depth with a MAGT — deeper is
    closer to the ZAA, and a single deep reading cannot be used because its range is unknown.

    Examples
    --------
    >>> p = pd.DataFrame({"depth_m": [1.0, 10.0, 20.0], "magt_c": [0.5, -0.4, -0.3],
    ...                   "range_c": [8.0, 0.05, 0.01], "n_years": 2, "first_year": 2001,
    ...                   "last_year": 2002, "method": "annual"})
    >>> select_magt(p)
    MagtResult(magt_c=-0.4, depth_m=10.0, method='annual/zaa', year=2002)
    >>> select_magt(p, depth_m=1.2).depth_m
    1.0
    """
    usable = profile[np.isfinite(profile["magt_c"].to_numpy(dtype=float))]
    if usable.empty:
        return MagtResult(np.nan, np.nan, "none", None)
    if depth_m is not None:
        gap = (usable["depth_m"] - depth_m).abs()
        if float(gap.min()) > depth_tolerance_m:
            return MagtResult(np.nan, np.nan, "none", None)
        row, rule = usable.loc[gap.idxmin()], "configured"
    else:
        zaa = usable[usable["range_c"] <= zaa_range_c]
        if len(zaa):
            row, rule = zaa.loc[zaa["depth_m"].idxmin()], "zaa"
        else:
            row, rule = usable.loc[usable["depth_m"].idxmax()], "deepest"
    year = int(np.ceil((int(row["first_year"]) + int(row["last_year"])) / 2))
    return MagtResult(float(row["magt_c"]), float(row["depth_m"]), f"{row['method']}/{rule}", year)


def label_from_magt(magt_c: np.ndarray | pd.Series, threshold_c: float = 0.0) -> pd.Series:
    """Permafrost label from MAGT: 1 where ``MAGT ≤ threshold_c``, 0 above, ``<NA>`` when unknown.

    >>> label_from_magt(np.array([-0.2, 0.0, 0.3, np.nan])).tolist()
    [1, 1, 0, <NA>]
    """
    values = np.asarray(magt_c, dtype=float)
    out = pd.array(np.where(values <= threshold_c, 1, 0), dtype="Int64")
    out[~np.isfinite(values)] = pd.NA
    return pd.Series(out, index=getattr(magt_c, "index", None))


def sites_from_series(
    series: pd.DataFrame,
    boreholes: pd.DataFrame,
    *,
    source: str,
    epochs: Sequence[int] | None = None,
    window: int = 9,
    depth_m: float | None = None,
    threshold_c: float = 0.0,
    **profile_kwargs: object,
) -> pd.DataFrame:
    """Raw site rows (docs/contracts.md) from ground-temperature series of several boreholes.

    Parameters
    ----------
    series : DataFrame
        A ground-temperature series with a ``source_id`` column naming the borehole.
    boreholes : DataFrame
        ``source_id, lon, lat`` (+ optional ``name``, ``elev_m``), one row per borehole.
    source : str
        Source name for ``source`` and the ``site_id`` prefix.
    epochs : sequence of int, optional
        When given, one row per borehole and epoch whose window ``[Y − window//2, Y + window//2]``
        has data, with ``year = Y``; otherwise one row per borehole over its whole record,
        with ``year`` the central year of the data used.
    window : int
        Epoch window length in years (default 9).
    depth_m, threshold_c
        See :func:`select_magt` and :func:`label_from_magt`.
    **profile_kwargs
        Passed to :func:`magt_profile`.

    Returns
    -------
    DataFrame
        Raw site rows with ``magt``, ``magt_depth_m``, ``magt_method`` and the label derived
        from MAGT (``label_from = "magt"``); boreholes without a usable MAGT keep ``<NA>``.
    """
    half = int(window) // 2
    rows = []
    for b in boreholes.itertuples(index=False):
        s = series[series["source_id"] == b.source_id]
        spans: list[tuple[int | None, tuple[int, int] | None]]
        spans = (
            [(None, None)] if epochs is None else [(int(e), (e - half, e + half)) for e in epochs]
        )
        if epochs is not None:
            spans.append((None, None))  # used only when no epoch window has data
        emitted = False
        for epoch, years in spans:
            if epoch is None and emitted:
                break
            result = select_magt(
                magt_profile(s, years=years, **profile_kwargs),  # type: ignore[arg-type]
                depth_m=depth_m,
            )
            if epoch is not None and result.method == "none":
                continue
            if epochs is not None and epoch is None:
                # No epoch window has a usable MAGT: keep one unlabelled row so that QC
                # reports the borehole (as unclear) instead of losing it silently.
                result = MagtResult(np.nan, np.nan, "none", None)
            emitted = True
            rows.append(
                {
                    "site_id": f"{source}:{b.source_id}",
                    "source": source,
                    "source_id": str(b.source_id),
                    "kind": "borehole",
                    "lon": float(b.lon),
                    "lat": float(b.lat),
                    "year": epoch if epoch is not None else result.year,
                    "magt": result.magt_c,
                    "magt_depth_m": result.depth_m,
                    "magt_method": result.method,
                    "maat": np.nan,
                    "name": getattr(b, "name", None),
                }
            )
            logger.debug("%s:%s epoch %s -> MAGT %s", source, b.source_id, epoch, result)
    columns = ["site_id", "source", "source_id", "kind", "lon", "lat", "year", "magt"]
    columns += ["magt_depth_m", "magt_method", "maat", "name"]
    out = pd.DataFrame(rows, columns=columns)
    out["year"] = out["year"].astype("Int64")
    out["label"] = label_from_magt(out["magt"], threshold_c).array
    out["label_from"] = np.where(out["label"].notna(), "magt", "none")
    return out


# -- weather stations ---------------------------------------------------------------------------


def station_maat(
    monthly: pd.DataFrame,
    epochs: Sequence[int],
    *,
    window: int = 9,
    min_years: int = 5,
    drop_qc_flagged: bool = True,
) -> pd.DataFrame:
    """Station mean annual air temperature (MAAT, °C) over each epoch's window.

    A year counts when all 12 monthly means are present (and, with ``drop_qc_flagged``, not
    flagged by GHCN quality control); MAAT is the mean of the annual means of the counted years
    in ``[Y − window//2, Y + window//2]``, reported only with at least ``min_years`` of them.

    Parameters
    ----------
    monthly : DataFrame
        ``station_id, year, month, value_c`` (+ ``qcflag``), as :func:`~permamap.sites.read_ghcnm`
        returns.
    epochs : sequence of int
    window, min_years, drop_qc_flagged
        See above.

    Returns
    -------
    DataFrame
        ``station_id, epoch, maat_c, n_years``.

    Examples
    --------
    >>> m = pd.DataFrame({"station_id": "X", "year": np.repeat(np.arange(1996, 2005), 12),
    ...                   "month": np.tile(np.arange(1, 13), 9), "value_c": 4.0})
    >>> station_maat(m, [2000]).to_numpy().tolist()
    [['X', 2000, 4.0, 9]]
    """
    _require(monthly, ["station_id", "year", "month", "value_c"], "GHCN monthly table")
    if min_years < 1 or window < 1:
        raise ConfigError(f"window={window} and min_years={min_years} must be at least 1")
    ok = np.isfinite(monthly["value_c"].to_numpy(dtype=float))
    if drop_qc_flagged and "qcflag" in monthly.columns:
        ok &= monthly["qcflag"].fillna("").astype(str).str.strip().eq("").to_numpy()
    m = monthly[ok]
    annual = m.groupby(["station_id", "year"])["value_c"].agg(["mean", "count"])
    annual = annual[annual["count"] == 12]["mean"].reset_index()
    half = int(window) // 2
    parts = []
    for epoch in epochs:
        w = annual[(annual["year"] >= epoch - half) & (annual["year"] <= epoch + half)]
        g = w.groupby("station_id")["mean"].agg(["mean", "count"]).reset_index()
        g = g[g["count"] >= min_years]
        parts.append(
            pd.DataFrame(
                {
                    "station_id": g["station_id"].astype(str),
                    "epoch": int(epoch),
                    "maat_c": g["mean"].astype(float),
                    "n_years": g["count"].astype(int),
                }
            )
        )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["station_id", "epoch", "maat_c", "n_years"])
    )


def stations_nonpermafrost(
    inventory: pd.DataFrame,
    monthly: pd.DataFrame,
    epochs: Sequence[int],
    window: int = 9,
    maat_range: tuple[float, float] = (2.0, 10.0),
    min_years: int = 5,
    *,
    source: str = "ghcn",
    drop_qc_flagged: bool = True,
) -> pd.DataFrame:
    """Non-permafrost raw site rows from weather stations with a warm MAAT.

    A station becomes a ``kind="station"``, ``label=0`` row for an epoch when its MAAT over the
    epoch's window (see :func:`station_maat`) lies in ``maat_range`` (inclusive, °C). Too warm
    stations are left out as well as cold ones: warm lowland points say little about the
    permafrost boundary.

    Parameters
    ----------
    inventory : DataFrame
        ``station_id, lat, lon`` (+ ``elev_m``, ``name``), e.g. from ``read_ghcnm``.
    monthly : DataFrame
        ``station_id, year, month, value_c`` (+ ``qcflag``).
    epochs : sequence of int
    window : int
        Epoch window in years (default 9, i.e. Y−4 … Y+4).
    maat_range : (float, float)
        Inclusive MAAT range in °C (default 2–10 °C).
    min_years : int
        Complete years needed in the window (default 5).
    source : str
        Source name (default ``"ghcn"``).
    drop_qc_flagged : bool
        Ignore monthly values with a GHCN QC flag (default True).

    Returns
    -------
    DataFrame
        Raw site rows: ``site_id = "<source>:<station id>"``, ``year = epoch``, ``label = 0``,
        ``maat`` = the window mean, ``label_from = "station_maat"``.

    Examples
    --------
    >>> inv = pd.DataFrame({"station_id": ["W", "C"], "lat": [50.0, 70.0], "lon": [60.0, 60.0]})
    >>> m = pd.DataFrame({"station_id": np.repeat(["W", "C"], 108),
    ...                   "year": np.tile(np.repeat(np.arange(1996, 2005), 12), 2),
    ...                   "month": np.tile(np.arange(1, 13), 18),
    ...                   "value_c": np.repeat([5.0, -12.0], 108)})
    >>> rows = stations_nonpermafrost(inv, m, [2000])
    >>> rows[["site_id", "year", "label", "maat"]].to_numpy().tolist()
    [['ghcn:W', 2000, 0, 5.0]]
    """
    lo, hi = (float(v) for v in maat_range)
    if not lo <= hi:
        raise ConfigError(
            f"maat_range {maat_range} must be (low, high) with low <= high, e.g. (2, 10)"
        )
    _require(inventory, ["station_id", "lat", "lon"], "GHCN station inventory")
    maat = station_maat(
        monthly, epochs, window=window, min_years=min_years, drop_qc_flagged=drop_qc_flagged
    )
    maat = maat[(maat["maat_c"] >= lo) & (maat["maat_c"] <= hi)]
    inv = inventory.assign(station_id=inventory["station_id"].astype(str))
    rows = maat.merge(inv, on="station_id", how="inner", validate="many_to_one")
    out = pd.DataFrame(
        {
            "site_id": source + ":" + rows["station_id"],
            "source": source,
            "source_id": rows["station_id"],
            "kind": "station",
            "lon": rows["lon"].astype(float),
            "lat": rows["lat"].astype(float),
            "year": rows["epoch"].astype("Int64"),
            "label": pd.array(np.zeros(len(rows), dtype=int), dtype="Int64"),
            "magt": np.nan,
            "magt_depth_m": np.nan,
            "maat": rows["maat_c"].astype(float),
            "label_from": "station_maat",
        }
    )
    if "name" in rows.columns:
        out["name"] = rows["name"].to_numpy()
    logger.info(
        "%d station-epoch rows with MAAT in [%g, %g] °C from %d stations",
        len(out),
        lo,
        hi,
        inventory.shape[0],
    )
    return out.sort_values(["site_id", "year"], ignore_index=True)
