"""permamap: continental permafrost distribution and change maps with machine learning."""

from __future__ import annotations

import os

# permamap reads and writes rasters tile by tile and never revisits a block soon: GDAL's default
# block cache (5 % of RAM, 1.2 GB on a 24 GB box) only held memory — at 1 km it filled with stack
# blocks read for the sites and the maps. 256 MB unless the user set their own (before GDAL starts).
os.environ.setdefault("GDAL_CACHEMAX", "256")

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
