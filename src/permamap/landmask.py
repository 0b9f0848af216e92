"""The land mask: NOAA GLOBE (30 arc-sec) from the ``global-land-mask`` package, for any Grid.

The package's mask is a 21,600 × 43,200 boolean array that its module loads whole (~1 GB) on
import. permamap caches it once as packed bits (117 MB on disk) and reads windows and points
through a memory map, so a process pays only for what it reads (the cache lives in
:func:`permamap.cache.cache_dir`). Also the home of the helper that finds data files inside
installed packages.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from .cache import cache_dir
from .errors import InputFileError
from .fileio import atomic_path
from .grid import Grid

# cache_dir is re-exported for permamap.demo.layers, which imports it from here
__all__ = ["cache_dir", "land_at_points", "land_fraction", "package_file"]

log = logging.getLogger(__name__)

_MASK_RES = 1 / 120  # GLOBE mask: 30 arc-sec, rows from 90 N, columns from 180 W
_MASK_SHAPE = (21600, 43200)


def package_file(package: str, relative: str) -> Path:
    try:
        path = Path(str(files(package).joinpath(relative)))
    except ModuleNotFoundError as exc:
        raise InputFileError(
            f"package {package!r} is not installed, so {relative} cannot be read; "
            f"install it with `pip install {package.replace('_', '-')}` (or `make demo`)"
        ) from exc
    if not path.is_file():
        raise InputFileError(
            f"{path} is missing from the installed package {package!r}; reinstall it with "
            f"`pip install --force-reinstall {package.replace('_', '-')}`"
        )
    return path


@lru_cache(maxsize=1)
def _mask_bits() -> np.ndarray:
    """The GLOBE land mask as packed bits (1 = land), memory-mapped from the cache."""
    target = cache_dir() / "globe_land_bits_v1.npy"
    if not target.is_file():
        source = package_file("global_land_mask", "globe_combined_mask_compressed.npz")
        log.info("caching the 30 arc-sec land mask as packed bits in %s (once)", target)
        with np.load(source) as npz:
            ocean = npz["mask"]
        if ocean.shape != _MASK_SHAPE:
            raise InputFileError(
                f"{source} holds a mask of shape {ocean.shape}, expected {_MASK_SHAPE}; "
                "reinstall global-land-mask 1.0"
            )
        bits = np.packbits(~ocean, axis=1)
        del ocean
        # the temporary name keeps the .npy suffix, so np.save does not append another one
        with atomic_path(target) as tmp:
            np.save(tmp, bits)
    return np.load(target, mmap_mode="r")


def _mask_block(row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """Boolean land mask rows ``row0:row1``, columns ``col0:col1`` of the 30 arc-sec globe (wrapping in lon)."""
    bits = _mask_bits()
    cols = np.arange(col0, col1) % _MASK_SHAPE[1]
    rows = np.clip(np.arange(row0, row1), 0, _MASK_SHAPE[0] - 1)
    b0, b1 = int(cols.min()) // 8, int(cols.max()) // 8 + 1
    if col1 - col0 == b1 * 8 - b0 * 8 or (cols[-1] - cols[0] == col1 - col0 - 1):
        block = np.unpackbits(np.asarray(bits[rows[0] : rows[-1] + 1, b0:b1]), axis=1)
        block = block[rows - rows[0]]
        return block[:, cols - b0 * 8].astype(bool)
    # wrapped across the antimeridian: read the full rows
    block = np.unpackbits(np.asarray(bits[rows[0] : rows[-1] + 1]), axis=1)[rows - rows[0]]
    return block[:, cols].astype(bool)


def land_fraction(grid: Grid, window: Window | None = None) -> np.ndarray:
    """Fraction of land (0–1) in each cell of ``window`` of ``grid``.

    On a projected grid the mask is sampled at each cell centre (0 or 1). Where a lat/lon grid's pixels are whole multiples of 30 arc-sec on the GLOBE lattice the fraction is
    the exact share of land sub-cells; otherwise the mask is sampled at cell centres (0 or 1).
    """
    w = window or grid.full_window
    rows, cols = int(w.height), int(w.width)
    factor = grid.res / _MASK_RES
    k = round(factor)
    west_idx = (grid.west + 180.0) / _MASK_RES + int(w.col_off) * factor
    north_idx = (90.0 - grid.north) / _MASK_RES + int(w.row_off) * factor
    aligned = (
        k >= 1
        and abs(factor - k) < 1e-9
        and abs(west_idx - round(west_idx)) < 1e-6
        and abs(north_idx - round(north_idx)) < 1e-6
    )
    if not grid.is_geographic:
        # a projected grid: the mask at each cell centre's lon/lat (NaN centres are not land)
        lon2, lat2 = grid.lonlat(w)
        ok = np.isfinite(lon2) & np.isfinite(lat2)
        out = np.zeros((rows, cols), dtype=np.float32)
        out[ok] = land_at_points(lon2[ok], lat2[ok])
        return out
    if aligned:
        r0, c0 = round(north_idx), round(west_idx)
        block = _mask_block(r0, r0 + rows * k, c0, c0 + cols * k)
        return block.reshape(rows, k, cols, k).mean(axis=(1, 3), dtype=np.float32)
    lat = grid.lat_centers(w)
    lon = grid.lon_centers(w)
    ri = np.clip(((90.0 - lat) / _MASK_RES).astype(int), 0, _MASK_SHAPE[0] - 1)
    ci = (np.floor((lon + 180.0) / _MASK_RES).astype(int)) % _MASK_SHAPE[1]
    out = np.empty((rows, cols), dtype=np.float32)
    bits = _mask_bits()
    for i, r in enumerate(ri):
        line = np.unpackbits(np.asarray(bits[r]))
        out[i] = line[ci]
    return out


def land_at_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where the 30 arc-sec GLOBE mask says land at each point (memory-mapped, no 1 GB load)."""
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
    r = np.clip(((90.0 - lat_b) / _MASK_RES).astype(np.int64), 0, _MASK_SHAPE[0] - 1).ravel()
    c = (np.floor((lon_b + 180.0) / _MASK_RES).astype(np.int64) % _MASK_SHAPE[1]).ravel()
    bits = _mask_bits()
    out = np.empty(r.size, dtype=bool)
    order = np.argsort(r, kind="stable")
    rows, starts = np.unique(r[order], return_index=True)
    bounds = np.append(starts, r.size)
    for row, a, b in zip(rows, bounds[:-1], bounds[1:], strict=True):
        idx = order[a:b]
        byte = np.asarray(bits[row])[c[idx] // 8]
        out[idx] = (byte >> (7 - c[idx] % 8)) & 1
    return out.reshape(lon_b.shape)
