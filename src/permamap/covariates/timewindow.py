"""Temporal windows: which source years feed the climate factors of an epoch.

Climate factors for epoch ``Y`` average the years ``Y − n//2 … Y + n//2`` of a source series
(``n = 9`` by default, the published model's 9-year moving window). A source that lacks some of
those years is an error that lists them; a long-term-mean climatology (no years at all) is valid
for any window and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from permamap.errors import ConfigError, DataError

__all__ = ["check_years", "missing_years", "window_text", "window_years"]

log = logging.getLogger(__name__)


def window_years(epoch: int, window_years: int = 9) -> list[int]:
    """The years of the window centred on ``epoch``.

    Parameters
    ----------
    epoch : int
        Target year.
    window_years : int
        Length of the window in years; must be a positive odd number so that it is centred.

    Returns
    -------
    list of int
        ``epoch − window_years//2 … epoch + window_years//2``.

    Examples
    --------
    >>> window_years(2000)
    [1996, 1997, 1998, 1999, 2000, 2001, 2002, 2003, 2004]
    >>> window_years(2010, 3)
    [2009, 2010, 2011]
    """
    if isinstance(window_years, bool) or not isinstance(window_years, int) or window_years < 1:
        raise ConfigError(
            f"climate window {window_years!r} must be a positive whole number of years; use e.g. 9"
        )
    if window_years % 2 == 0:
        raise ConfigError(
            f"climate window {window_years} years is even, so it cannot be centred on the epoch; "
            f"use an odd length such as {window_years - 1} or {window_years + 1}"
        )
    half = window_years // 2
    return list(range(int(epoch) - half, int(epoch) + half + 1))


def window_text(window_years: int, climatology: bool = False) -> str:
    """How a climate factor's values relate to the epoch, for the plan and the report.

    >>> window_text(9)
    '9 years centred on the epoch'
    >>> window_text(9, climatology=True)
    'long-term mean (climatology): the same for every epoch'
    """
    if climatology:
        return "long-term mean (climatology): the same for every epoch"
    return f"{window_years} years centred on the epoch"


def missing_years(wanted: Iterable[int], available: Collection[int]) -> list[int]:
    """The wanted years absent from ``available``, sorted.

    >>> missing_years([1999, 2000, 2001], {2000})
    [1999, 2001]
    """
    return sorted(y for y in set(wanted) if y not in available)


def check_years(
    epoch: int,
    window: int,
    available: Collection[int] | None,
    source: str,
    fix: str | None = None,
) -> list[int]:
    """The window years of ``epoch``, after checking that the source has each of them.

    Parameters
    ----------
    epoch, window : int
        Target year and window length (see :func:`window_years`).
    available : collection of int or None
        Years the source holds. ``None`` marks a climatology (a long-term mean without years),
        which is accepted for any window; the returned list is then empty.
    source : str
        What the source is (a folder or file name), for the error message.
    fix : str, optional
        How to obtain the missing years; a generic hint is used when omitted.

    Returns
    -------
    list of int
        The window years (empty for a climatology).

    Raises
    ------
    DataError
        If any window year is missing; the message lists them.

    Examples
    --------
    >>> check_years(2000, 3, range(1990, 2010), "tmin")
    [1999, 2000, 2001]
    >>> check_years(2000, 9, range(1998, 2003), "wc2.1 tmin")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    DataError: epoch 2000 needs years 1996-2004 (9-year window) but wc2.1 tmin has 1998-2002; missing years: [1996, 1997, 2003, 2004]; download those years or choose a shorter window or other epochs
    """
    years = window_years(epoch, window)
    if available is None:
        log.info(
            "%s is a climatology without years; using it for epoch %d (window %d-%d) as is",
            source,
            epoch,
            years[0],
            years[-1],
        )
        return []
    missing = missing_years(years, available)
    if missing:
        have = sorted(available)
        span = f"{have[0]}-{have[-1]}" if have else "no years"
        raise DataError(
            f"epoch {epoch} needs years {years[0]}-{years[-1]} ({window}-year window) but {source} "
            f"has {span}; missing years: {missing}; "
            + (fix or "download those years or choose a shorter window or other epochs")
        )
    return years
