"""Values of a ``[[sites.inputs]]`` table, checked against the reader's annotations and ranges.

A reader's keyword-only parameters are the keys of its table (:mod:`.inputs`); their type hints
and the ranges here say which values are allowed, so a quoted number, a fraction of a year or a
latitude of 146 is caught at load with the key, the value, the rule and an example.
"""

from __future__ import annotations

import codecs
import collections.abc
import inspect
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import ConfigError
from ..keys import did_you_mean

__all__ = ["EXAMPLES", "RANGES", "check_value", "toml_literal", "value_problem"]

#: Example values (TOML) for messages, where a reader's default does not give one.
EXAMPLES = {
    "path": '"boreholes.csv"',
    "data": '"ghcnm.tavg.v4.dat"',
    "metadata": '"boreholes_metadata.json"',
    "lon": "9.82",
    "lat": "46.43",
    "columns": '{source_id = "name", lon = "longitude", lat = "latitude", label = "pf"}',
    "depth_m": "10.0",
    "borehole": '"Murtel_1987"',
    "source": '"my_boreholes"',
    "layer": '"sites"',
}


#: Ranges of numeric keys, ``key -> (low, high)`` inclusive (``None``: open).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "lon": (-180.0, 180.0),
    "lat": (-90.0, 90.0),
    "window": (1, None),
    "min_years": (1, None),
    "min_days_per_month": (1, 31),
    "min_months_harmonic": (1, 12),
    "depth_m": (0.0, None),
    "n": (1, None),
}


def toml_literal(value: Any) -> str:
    """``value`` as a TOML literal (for "e.g." parts of messages)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_problem(value: Any, hint: Any) -> str | None:
    """What is wrong with ``value`` for the annotation ``hint`` (``None`` when it fits)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        problems = [value_problem(value, a) for a in options]
        return None if any(p is None for p in problems) else problems[0]
    if origin is Literal:
        hint_text = did_you_mean(str(value), [str(a) for a in args])
        return (
            None if value in args else f"not one of {', '.join(map(toml_literal, args))}{hint_text}"
        )
    if hint is bool:
        return None if isinstance(value, bool) else "not true or false (no quotes)"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "not a whole number"
    if hint is float:
        return None if _is_number(value) else "not a finite number (write it without quotes)"
    if hint is str:
        return None if isinstance(value, str) and value else "not a non-empty string (in quotes)"
    if origin is tuple:
        ok = isinstance(value, list | tuple) and len(value) == len(args)
        ok = ok and all(value_problem(v, a) is None for v, a in zip(value, args, strict=False))
        return None if ok else f"not a list of {len(args)} numbers"
    if origin in (Sequence, collections.abc.Sequence, list):
        ok = isinstance(value, list | tuple) and all(
            value_problem(v, args[0]) is None for v in value
        )
        return None if ok else "not a list of numbers"
    if origin in (Mapping, collections.abc.Mapping, dict):
        return None if isinstance(value, Mapping) else 'not a table (e.g. {key = "value"})'
    return None


def check_value(
    where: str,
    key: str,
    value: Any,
    hint: Any,
    default: Any = inspect.Parameter.empty,
    *,
    path: bool = False,
) -> None:
    """Raise a one-line :class:`ConfigError` when ``value`` does not fit key ``key``.

    Parameters
    ----------
    where : str
        How the user finds the table, e.g. ``[[sites.inputs]] #2 (type = "permos")``.
    key, value
        The key and its value as loaded.
    hint
        The reader parameter's type hint.
    default
        The parameter's default (the example of the message), if any.
    path : bool
        The key names a file: it must be a non-empty string.

    Examples
    --------
    >>> check_value("[[sites.inputs]] #1", "window", 2.5, int, 9)
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [[sites.inputs]] #1 has window = 2.5, which is not a whole number; write e.g. window = 9
    >>> check_value("[[sites.inputs]] #1", "lat", 95.0, float)
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [[sites.inputs]] #1 has lat = 95.0, which is not from -90 to 90; fix the value
    """
    if path:
        if not isinstance(value, str | os.PathLike) or not str(value):
            raise ConfigError(
                f"{where} has {key} = {value!r}, which is not a file path; write it as a string, "
                f"e.g. {key} = {EXAMPLES.get(key, chr(34) + 'sites.csv' + chr(34))} (relative to "
                "the config file's folder)"
            )
        return
    problem = value_problem(value, hint)
    if problem is not None:
        example = (
            toml_literal(default)
            if default is not inspect.Parameter.empty and default is not None
            else EXAMPLES.get(key, "...")
        )
        raise ConfigError(
            f"{where} has {key} = {value!r}, which is {problem}; write e.g. {key} = {example}"
        )
    low, high = RANGES.get(key, (None, None))
    if value is not None and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        rule = (
            f"from {low:g} to {high:g}"
            if low is not None and high is not None
            else f"at least {low:g}"
            if low is not None
            else f"at most {high:g}"
        )
        raise ConfigError(f"{where} has {key} = {value!r}, which is not {rule}; fix the value")
    if key == "encoding" and value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ConfigError(
                f"{where} has encoding = {value!r}, which is not a text encoding Python "
                'knows; write e.g. encoding = "utf-8", "latin-1" or "cp1252"'
            ) from None
