"""Great-circle geometry of site coordinates: lon/lat checks, nearest and pairwise distances.

Every splitter takes the site coordinates as an ``(n, 2)`` array of ``lon, lat`` in degrees;
distances are great-circle distances on a sphere of radius :data:`EARTH_RADIUS_KM`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import BallTree

from ..errors import DataError

__all__ = ["EARTH_RADIUS_KM", "nearest_distance_km"]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), km; the sphere on which site distances are measured."""


def _check_lonlat(X: Any, name: str = "X") -> np.ndarray:
    """Return ``X`` as a float ``(n, 2)`` lon/lat array or raise :class:`DataError`."""
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(
            f"{name} has shape {arr.shape}; spatial splitters need an (n, 2) array of lon, lat "
            "in degrees; pass table[['lon', 'lat']].to_numpy()"
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise DataError(
            f"{name} has {bad} rows with NaN or infinite lon/lat; every site needs coordinates; "
            "drop those sites in QC"
        )
    if (np.abs(arr[:, 1]) > 90).any() or (np.abs(arr[:, 0]) > 360).any():
        raise DataError(
            f"{name} holds lat outside [-90, 90] or lon outside [-360, 360] "
            f"(lat range {arr[:, 1].min():.1f}..{arr[:, 1].max():.1f}); columns must be lon, lat "
            "in degrees, in that order"
        )
    return arr


def _radians_latlon(lonlat: np.ndarray) -> np.ndarray:
    """BallTree's haversine metric wants ``[lat, lon]`` in radians."""
    return np.radians(lonlat[:, ::-1])


def _lonlat_to_xyz(lonlat: np.ndarray) -> np.ndarray:
    """Unit vectors on the sphere: a Euclidean embedding where chord length grows with arc."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def nearest_distance_km(query_lonlat: Any, ref_lonlat: Any) -> np.ndarray:
    """Great-circle distance in km from each query point to its nearest reference point.

    Parameters
    ----------
    query_lonlat, ref_lonlat : array-like of shape (n, 2) and (m, 2)
        Longitude, latitude in degrees.

    Returns
    -------
    numpy.ndarray of shape (n,)

    Examples
    --------
    >>> d = nearest_distance_km([[0.0, 0.0]], [[1.0, 0.0], [50.0, 0.0]])
    >>> round(float(d[0]), 1)
    111.2
    """
    q = _check_lonlat(query_lonlat, "query_lonlat")
    r = _check_lonlat(ref_lonlat, "ref_lonlat")
    tree = BallTree(_radians_latlon(r), metric="haversine")
    dist, _ = tree.query(_radians_latlon(q), k=1)
    return dist[:, 0] * EARTH_RADIUS_KM


def _loo_nearest_km(lonlat: np.ndarray) -> np.ndarray:
    """Distance of each point to its nearest *other* point (the G_j of NNDM)."""
    tree = BallTree(_radians_latlon(lonlat), metric="haversine")
    dist, _ = tree.query(_radians_latlon(lonlat), k=2)
    return dist[:, 1] * EARTH_RADIUS_KM


def _pairwise_km(lonlat: np.ndarray) -> np.ndarray:
    """Full great-circle distance matrix in km (haversine)."""
    lat = np.radians(lonlat[:, 1])[:, None]
    lon = np.radians(lonlat[:, 0])[:, None]
    dlat = lat - lat.T
    dlon = lon - lon.T
    a = np.sin(dlat / 2) ** 2 + np.cos(lat) * np.cos(lat.T) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
