"""Where the model will predict: an equal-area sample of the prediction domain for kNNDM."""

from __future__ import annotations

import functools
import logging

import numpy as np

from ..errors import ConfigError, InputFileError

__all__ = ["prediction_domain_points"]

logger = logging.getLogger(__name__)

_DEFAULT_BOUNDS = (25.0, 25.0, 180.0, 84.0)


@functools.lru_cache(maxsize=8)
def _cached_domain(
    bounds: tuple[float, float, float, float], n: int, land_only: bool
) -> np.ndarray:
    pts = _domain_points(bounds, n, land_only)
    pts.setflags(write=False)
    return pts


def prediction_domain_points(
    bounds: tuple[float, float, float, float] = _DEFAULT_BOUNDS,
    n: int = 2000,
    *,
    land_only: bool = True,
) -> np.ndarray:
    """A regular, equal-area sample of the prediction domain (lon, lat degrees).

    Points come from a Fibonacci lattice on the sphere (equal area per point), clipped to
    ``bounds = (west, south, east, north)`` and, with ``land_only``, to land (via the optional
    ``global_land_mask`` package; without it every point in the box is kept). This stands in for
    CAST's ``modeldomain`` sampling when no prediction points are given. Results are cached.

    Examples
    --------
    >>> pts = prediction_domain_points((0, -10, 10, 10), n=500, land_only=False)
    >>> bool(((pts[:, 0] >= 0) & (pts[:, 0] <= 10)).all())
    True
    """
    return _cached_domain(tuple(float(b) for b in bounds), int(n), bool(land_only)).copy()


def _domain_points(
    bounds: tuple[float, float, float, float], n: int, land_only: bool
) -> np.ndarray:
    west, south, east, north = bounds
    if not (west < east and south < north):
        raise ConfigError(
            f"bounds {bounds} are not (west, south, east, north) with west < east and "
            "south < north; pass them in that order"
        )
    # Fraction of the sphere inside the box, to size the global lattice so ~n points land in it.
    frac = (np.sin(np.radians(north)) - np.sin(np.radians(south))) / 2 * (east - west) / 360
    total = int(np.ceil(n / max(frac, 1e-9)))
    i = np.arange(total) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / total))
    lon = (np.degrees(np.pi * (1 + 5**0.5) * i) + 180) % 360 - 180
    keep = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    pts = np.column_stack([lon[keep], lat[keep]])
    if land_only:
        # permamap's memory-mapped copy of the GLOBE mask (global_land_mask.globe loads 1 GB)
        from ..landmask import land_at_points

        # Only a missing package is tolerated; a misconfigured cache (ConfigError) names its fix.
        try:
            on_land = land_at_points(
                np.where(pts[:, 0] > 180, pts[:, 0] - 360, pts[:, 0]), pts[:, 1]
            )
        except InputFileError:  # package missing: the box itself is a usable, if coarser, domain
            logger.info("global-land-mask not installed; prediction domain keeps ocean points")
        else:
            if on_land.any():
                pts = pts[on_land]
    return pts
