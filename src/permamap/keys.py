"""Checking config tables: unknown keys are errors with a "did you mean" suggestion; values too.

Every table a user writes (``[run]``, ``[grid]``, ``[[sites.inputs]]``, ``[covariates.factors.x]``,
``[models]``, ...) goes through :func:`check_keys`, so that a typo is caught at load with the same
kind of message everywhere, and never replaced by a default.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputFileError

__all__ = [
    "check_keys",
    "config_leaves",
    "did_you_mean",
    "existing_path",
    "in_file",
    "is_int",
    "is_number",
    "named_paths",
    "need",
    "table_of",
    "unknown_key_message",
    "wrong",
]


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


# ---------------------------------------------------------------- values of config tables
def is_int(value: Any) -> bool:
    """A TOML integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A TOML integer or float (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def need(table: Mapping[str, Any], key: str, where: str, example: str) -> Any:
    """``table[key]``, or an error saying to add it (with an example)."""
    if key not in table:
        raise ConfigError(f"{where} lacks the required key `{key}`; add e.g. `{key} = {example}`")
    return table[key]


def wrong(where: str, key: str, value: Any, rule: str, example: str) -> ConfigError:
    """The error for ``where.key = value``: the value, the rule it breaks and an example fix."""
    return ConfigError(f"{where}.{key} = {value!r} {rule}; write e.g. `{key} = {example}`")


def table_of(data: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    """Section ``name`` of ``data`` as a dict (empty when absent); an error if it is no table."""
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: `{name} = {value!r}` must be a table ([{name}] with key = value lines)"
        )
    return dict(value)


def in_file(where: str, exc: ConfigError) -> ConfigError:
    """``exc`` prefixed with where it happened, without repeating a table name it already has."""
    message = str(exc)
    table = where.rsplit(" ", 1)[-1]
    if message.startswith(table):
        return ConfigError(f"{where[: -len(table)]}{message}")
    return ConfigError(f"{where}: {message}")


def existing_path(where: str, key: str, value: Any, base_dir: Path) -> Path:
    """A path key: a string, relative to the config file's folder, that must exist."""
    if not isinstance(value, str) or not value:
        raise wrong(where, key, value, "must be a file path (a string)", '"data/file.tif"')
    path = Path(value)
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise InputFileError(
            f"{where}.{key} = {value!r}: {path} does not exist; fix the path (relative paths "
            "are relative to the config file's folder)"
        )
    return path


def config_leaves(obj: Any) -> Iterable[Any]:
    """Every leaf value inside dataclasses, mappings and sequences of a config (strings are leaves)."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from config_leaves(getattr(obj, f.name))
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from config_leaves(value)
    elif isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            yield from config_leaves(value)
    else:
        yield obj


def named_paths(obj: Any, base_dir: Path, *, relative_only: bool = False) -> list[Path]:
    """The existing files and folders the strings inside a config name (relative to ``base_dir``).

    Names, URLs and templates that are not an existing path are left out.
    """
    found = set()
    for value in config_leaves(obj):
        if not isinstance(value, str | Path) or not str(value) or "\n" in str(value):
            continue
        path = Path(value)
        if path.is_absolute() and relative_only:
            continue
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            if path.exists():
                found.add(path.resolve())
        except OSError:  # too long or otherwise not a path
            continue
    return sorted(found)
