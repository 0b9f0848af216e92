"""Checking the keys of a config table: unknown keys are errors with a "did you mean" suggestion.

Every table a user writes (``[run]``, ``[grid]``, ``[[sites.inputs]]``, ``[covariates.factors.x]``,
``[models]``, ...) goes through :func:`check_keys`, so that a typo is caught at load with the same
kind of message everywhere, and never replaced by a default.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["check_keys", "did_you_mean", "unknown_key_message"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` for the closest choice, or an empty string.

    >>> did_you_mean("windw_years", ["window_years", "epochs"])
    ' (did you mean `window_years`?)'
    >>> did_you_mean("zzz", ["epochs"])
    ''
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_key_message(where: str, key: str, allowed: Collection[str]) -> str:
    """The one-line message for an unknown key of table ``where``."""
    return (
        f"{where} has unknown key `{key}`{did_you_mean(key, allowed)}; "
        f"allowed keys: {', '.join(sorted(allowed))}"
    )


def check_keys(
    table: Mapping[str, Any],
    allowed: Collection[str],
    where: str,
    required: Collection[str] = (),
    example: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`ConfigError` for the first unknown key or missing required key of ``table``.

    Parameters
    ----------
    table : mapping
        The TOML table as loaded.
    allowed : collection of str
        Every key the table may hold.
    where : str
        How the user finds the table, e.g. ``"config.toml [run]"``.
    required : collection of str
        Keys that must be present.
    example : mapping, optional
        ``key -> example value`` for the "add e.g." part of a missing-key message.

    Examples
    --------
    >>> check_keys({"windw_years": 5}, ["window_years", "epochs"], "[run]")
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [run] has unknown key `windw_years` (did you mean `window_years`?); allowed keys: epochs, window_years
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} = {table!r} must be a table (key = value lines)")
    for key in table:
        if key not in allowed:
            raise ConfigError(unknown_key_message(where, str(key), allowed))
    for key in required:
        if key not in table:
            hint = f"; add e.g. `{key} = {example[key]}`" if example and key in example else ""
            raise ConfigError(f"{where} lacks the required key `{key}`{hint}")
