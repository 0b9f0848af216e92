"""permamap: continental permafrost distribution and change maps with machine learning."""

from __future__ import annotations

from .errors import (
    ConfigError,
    DataError,
    GridMismatchError,
    InputFileError,
    PermamapError,
)
from .grid import Grid

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "Grid",
    "GridMismatchError",
    "InputFileError",
    "PermamapError",
    "__version__",
]
