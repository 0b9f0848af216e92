"""Spatial blocks: the labels' autocorrelation range (the block-size rule) and :class:`SpatialBlockKFold`.

References
----------
Roberts et al. (2017) Cross-validation strategies for data with temporal, spatial, hierarchical,
or phylogenetic structure. Ecography 40, 913–929.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ..errors import ConfigError, DataError
from .base import FoldAssignment, _check_int, _RepeatedSpatialCV
from .distances import EARTH_RADIUS_KM, _check_lonlat, _pairwise_km

__all__ = ["SpatialBlockKFold", "autocorrelation_range_km", "label_variogram"]

logger = logging.getLogger(__name__)


def label_variogram(
    lonlat: Any,
    y: Any,
    *,
    n_bins: int = 30,
    max_km: float | None = None,
    max_sites: int = 3000,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical semivariogram of the labels against great-circle distance.

    ``gamma(h) = mean over pairs at lag h of (y_i - y_j)**2 / 2``. For a 0/1 label this is half the
    share of pairs whose labels differ; independent pairs give ``p (1 - p)``, the label variance.

    Returns
    -------
    lag_km, gamma, n_pairs : numpy.ndarray of shape (n_bins,)
        Bin centres (km), semivariance and pair counts; empty bins hold NaN.
    """
    xy = _check_lonlat(lonlat, "lonlat")
    yy = np.asarray(y, dtype=float)
    if len(xy) > max_sites:
        idx = check_random_state(random_state).choice(len(xy), max_sites, replace=False)
        xy, yy = xy[idx], yy[idx]
    d = _pairwise_km(xy)
    iu = np.triu_indices(len(xy), k=1)
    dist = d[iu]
    sq = 0.5 * (yy[iu[0]] - yy[iu[1]]) ** 2
    if max_km is None:
        max_km = float(dist.max()) / 2 if dist.size else 1.0
    edges = np.linspace(0.0, max_km, n_bins + 1)
    which = np.digitize(dist, edges) - 1
    ok = (which >= 0) & (which < n_bins)
    n_pairs = np.bincount(which[ok], minlength=n_bins).astype(float)
    sums = np.bincount(which[ok], weights=sq[ok], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.where(n_pairs > 0, sums / n_pairs, np.nan)
    return (edges[:-1] + edges[1:]) / 2, gamma, n_pairs


def autocorrelation_range_km(
    lonlat: Any,
    y: Any,
    *,
    n_bins: int = 30,
    sill_fraction: float = 0.95,
    min_pairs: int = 30,
) -> float:
    """Range of the labels' spatial autocorrelation in km: the block-size rule.

    Rule: compute :func:`label_variogram`; the sill is the label variance ``p (1 - p)`` (the
    semivariance of independent pairs); the range is the first lag whose semivariance, smoothed
    over three bins and counted only where a bin has at least ``min_pairs`` pairs, reaches
    ``sill_fraction`` of the sill. Pairs of sites closer than this are statistically dependent, so
    blocks at least this wide keep test sites from having near-copies in training (Roberts et al.
    2017). If the semivariance never reaches the sill, the largest lag is returned; if the
    labels have no variance the rule cannot be applied (:class:`DataError`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lon = rng.uniform(0, 40, 400); lat = rng.uniform(40, 60, 400)
    >>> y = (lon > 20).astype(int)  # one sharp boundary: labels correlated over ~1000 km
    >>> r = autocorrelation_range_km(np.column_stack([lon, lat]), y)
    >>> 300 < r < 3000
    True
    """
    yy = np.asarray(y, dtype=float)
    p = float(yy.mean()) if yy.size else 0.0
    sill = p * (1 - p)
    if sill <= 0:
        raise DataError(
            f"the labels hold one class only (mean {p:.2f}); the autocorrelation range needs both "
            "permafrost (1) and non-permafrost (0) sites; add sites of the missing class or give "
            "block_size_km explicitly"
        )
    lag, gamma, n_pairs = label_variogram(lonlat, yy, n_bins=n_bins)
    g = np.where(n_pairs >= min_pairs, gamma, np.nan)
    # Three-bin running mean of the valid bins, to stop one noisy bin from deciding the range.
    smooth = np.array(
        [
            np.nanmean(g[max(0, i - 1) : i + 2]) if np.isfinite(g[i]) else np.nan
            for i in range(len(g))
        ]
    )
    hit = np.flatnonzero(np.nan_to_num(smooth, nan=-1.0) >= sill_fraction * sill)
    rng_km = float(lag[hit[0]]) if hit.size else float(lag[-1])
    logger.debug("label autocorrelation range %.0f km (sill %.3f)", rng_km, sill)
    return rng_km


def _balanced_assign(
    unit_sizes: np.ndarray, n_folds: int, rng: np.random.RandomState
) -> np.ndarray:
    """Assign units to folds, largest first, each to the fold with fewest samples so far."""
    order = rng.permutation(len(unit_sizes))
    order = order[np.argsort(-unit_sizes[order], kind="stable")]
    load = np.zeros(n_folds)
    out = np.empty(len(unit_sizes), dtype=int)
    for u in order:
        f = int(np.argmin(load + rng.uniform(0, 1e-9, n_folds)))
        out[u] = f
        load[f] += unit_sizes[u]
    return out


class SpatialBlockKFold(_RepeatedSpatialCV):
    """K-fold cross-validation over equal-size spatial blocks on the sphere.

    The sphere is cut into latitude bands ``block_size_km`` tall; each band is cut into blocks
    ``block_size_km`` wide at the band's central latitude. Blocks (never single sites) are assigned
    to folds, largest first, each to the fold holding the fewest sites so far, so folds are
    balanced in size. Each repeat shifts the block grid by a random offset and reshuffles.
    Blocks do not wrap across the antimeridian (sites at 179 °E and 179 °W are in different
    blocks), which is harmless for Eurasia's 25–180 °E.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds.
    block_size_km : float or None, default=None
        Block edge in km. ``None`` derives it from the data with :func:`autocorrelation_range_km`
        (the range of the labels' spatial autocorrelation), which needs ``y`` in ``split``.
    n_repeats : int, default=1
        Number of repeats with different block offsets and assignments.
    random_state : int, RandomState instance or None, default=None
        Controls the offsets and the assignment.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lonlat = np.column_stack([rng.uniform(30, 150, 200), rng.uniform(30, 80, 200)])
    >>> cv = SpatialBlockKFold(n_splits=5, block_size_km=500, random_state=0)
    >>> folds = [test for _, test in cv.split(lonlat)]
    >>> len(folds), sum(len(t) for t in folds)
    (5, 200)
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        block_size_km: float | None = None,
        n_repeats: int = 1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.block_size_km = block_size_km
        self.n_repeats = n_repeats
        self.random_state = random_state

    def resolve_block_size_km(self, X: Any, y: Any = None) -> float:
        """Block size in km: ``block_size_km`` or, when None, the labels' autocorrelation range."""
        if self.block_size_km is not None:
            size = float(self.block_size_km)
            if not np.isfinite(size) or size <= 0:
                raise ConfigError(
                    f"block_size_km={self.block_size_km!r} must be a positive number of km, "
                    "or None to derive it from the data"
                )
            return size
        if y is None:
            raise ConfigError(
                "block_size_km=None derives the block size from the labels, but split() got no y; "
                "pass y or set block_size_km"
            )
        return autocorrelation_range_km(X, y)

    def block_ids(self, X: Any, block_size_km: float, rng: np.random.RandomState) -> np.ndarray:
        """Block label of each site for one random offset of the block grid."""
        xy = _check_lonlat(X)
        dlat = block_size_km / (EARTH_RADIUS_KM * np.pi / 180)
        lat0 = -90.0 - rng.uniform(0, dlat)
        band = np.floor((xy[:, 1] - lat0) / dlat).astype(int)
        centre = np.clip(lat0 + (band + 0.5) * dlat, -89.0, 89.0)
        dlon = np.minimum(dlat / np.cos(np.radians(centre)), 360.0)
        lon0 = -360.0 - rng.uniform(0, 1, size=band.max() + 1)[band] * dlon
        col = np.floor((xy[:, 0] - lon0) / dlon).astype(int)
        _, ids = np.unique(np.column_stack([band, col]), axis=0, return_inverse=True)
        return ids.ravel()

    def assign(self, X: Any, y: Any = None) -> FoldAssignment:
        """Fold and block labels of each site in each repeat."""
        n_splits = _check_int(self.n_splits, "n_splits", 2)
        n_repeats = _check_int(self.n_repeats, "n_repeats", 1)
        xy = _check_lonlat(X)
        size = self.resolve_block_size_km(xy, y)
        rng = check_random_state(self.random_state)
        folds = np.empty((n_repeats, len(xy)), dtype=int)
        units = np.empty((n_repeats, len(xy)), dtype=int)
        n_blocks = []
        for r in range(n_repeats):
            ids = self.block_ids(xy, size, rng)
            sizes = np.bincount(ids)
            if len(sizes) < n_splits:
                raise DataError(
                    f"the {len(xy)} sites fall into only {len(sizes)} blocks of {size:.0f} km, "
                    f"fewer than n_splits={n_splits}; set a smaller block_size_km or fewer folds"
                )
            folds[r] = _balanced_assign(sizes, n_splits, rng)[ids]
            units[r] = ids
            n_blocks.append(len(sizes))
        return FoldAssignment(folds, units, {"block_size_km": size, "n_blocks": n_blocks})
