"""k-means clusters of site positions on the sphere (spatial groups for inner, tuning splits)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .distances import _check_lonlat, _lonlat_to_xyz

__all__ = ["spatial_clusters"]


def spatial_clusters(
    lonlat: Any, n_clusters: int, random_state: int | np.random.RandomState | None = None
) -> np.ndarray:
    """k-means clusters of site positions on the unit sphere; labels ``0..n_clusters-1``."""
    xy = _check_lonlat(lonlat, "lonlat")
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    k = int(min(n_clusters, len(uniq)))
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    with threadpool_limits(1):
        lab = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(_lonlat_to_xyz(uniq))
    return lab[inverse.ravel()]
