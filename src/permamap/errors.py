"""The exception hierarchy: one root, specific errors that also inherit the builtin they refine.

Messages follow one rule: say the value, the rule it broke and the fix, e.g.
``"epoch 2003 is not in the config's epochs [2000, 2005]; add it to [run].epochs or pick one of them"``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GridMismatchError",
    "InputFileError",
    "PermamapError",
]


class PermamapError(Exception):
    """Root of every error permamap raises on purpose; the CLI turns it into a one-line message."""


class ConfigError(PermamapError, ValueError):
    """A configuration value breaks a rule (unknown epoch, bad extent, wrong type)."""


class InputFileError(PermamapError, OSError):
    """An input file is missing, unreadable, empty or in the wrong layout."""


class DataError(PermamapError, ValueError):
    """Input data breaks a rule (one class only, NaN coordinates, missing factor)."""


class GridMismatchError(PermamapError, ValueError):
    """Two rasters or a raster and a model do not share the same grid."""
