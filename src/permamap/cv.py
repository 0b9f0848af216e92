"""Cross-validation splitters for sites on the sphere, and the :class:`Splits` value object.

This module owns how sites are divided into training and test folds:

* :class:`SpatialBlockKFold` – blocks of equal size on the sphere, assigned whole to folds; the
  block size is derived from the data (the range of the labels' spatial autocorrelation, see
  :func:`autocorrelation_range_km`) unless given.
* :class:`KNNDMKFold` – k-fold nearest-neighbour distance matching (kNNDM, Linnenbrink et al.
  2024, as in CAST's ``knndm``): clusters of sites are merged into folds so that the distribution of
  test-to-training distances matches the distribution of prediction-to-training distances.
* :class:`Splits` – the folds computed once, held as index arrays and reused by every step of the
  model stage (comparison, tuning, importance, feature combinations), so all of them see identical
  folds.

Splitters take the site coordinates as ``X``: an ``(n, 2)`` array of ``lon, lat`` in degrees.
Distances are great-circle distances on a sphere of radius :data:`EARTH_RADIUS_KM`.

References
----------
Roberts et al. (2017) Cross-validation strategies for data with temporal, spatial, hierarchical,
or phylogenetic structure. Ecography 40, 913–929.
Milà et al. (2022) Nearest neighbour distance matching Leave-One-Out Cross-Validation for map
validation. Methods Ecol. Evol. 13, 1304–1316.
Linnenbrink et al. (2024) kNNDM CV: k-fold nearest-neighbour distance matching cross-validation
for map accuracy estimation. Geosci. Model Dev. 17, 5897–5912.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.cluster import KMeans
from sklearn.model_selection import BaseCrossValidator, RepeatedStratifiedKFold
from sklearn.neighbors import BallTree
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .errors import ConfigError, DataError

__all__ = [
    "EARTH_RADIUS_KM",
    "FoldAssignment",
    "KNNDMKFold",
    "SpatialBlockKFold",
    "Splits",
    "autocorrelation_range_km",
    "label_variogram",
    "nearest_distance_km",
    "prediction_domain_points",
    "spatial_clusters",
    "w_statistic",
]

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), km; the sphere on which site distances are measured."""

_DEFAULT_BOUNDS = (25.0, 25.0, 180.0, 84.0)


# --------------------------------------------------------------------------- coordinates
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
        from .errors import PermamapError
        from .landmask import land_at_points

        try:
            on_land = land_at_points(
                np.where(pts[:, 0] > 180, pts[:, 0] - 360, pts[:, 0]), pts[:, 1]
            )
        except PermamapError:  # package missing: the box itself is a usable, if coarser, domain
            logger.info("global-land-mask not installed; prediction domain keeps ocean points")
        else:
            if on_land.any():
                pts = pts[on_land]
    return pts


# --------------------------------------------------------------------------- block size rule
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


# --------------------------------------------------------------------------- fold assignment
@dataclass(frozen=True, eq=False)
class FoldAssignment:
    """Fold labels of every sample in every repeat.

    Attributes
    ----------
    folds : numpy.ndarray of shape (n_repeats, n_samples)
        Fold index ``0..n_folds-1`` of each sample in each repeat.
    units : numpy.ndarray of shape (n_repeats, n_samples)
        The spatial unit (block or cluster) of each sample; units never straddle folds, so they
        serve as groups for inner, tuning splits.
    info : dict
        Diagnostics (block size, W statistic, number of clusters...).
    """

    folds: np.ndarray
    units: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


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


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}; set it to e.g. 5")
    return int(value)


class _RepeatedSpatialCV(BaseCrossValidator):
    """Shared machinery: ``assign`` gives fold labels per repeat; ``split`` yields index pairs."""

    n_splits: int
    n_repeats: int

    def assign(self, X: Any, y: Any = None) -> FoldAssignment:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of (train, test) pairs: ``n_splits * n_repeats``."""
        return self.n_splits * self.n_repeats

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` index arrays, repeat by repeat, fold by fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, 2)
            Site longitude and latitude in degrees.
        y : array-like of shape (n_samples,), optional
            Labels (used by :class:`SpatialBlockKFold` to size blocks automatically).
        groups : ignored
            Rows at identical coordinates always share a fold.
        """
        assignment = self.assign(X, y)
        idx = np.arange(assignment.folds.shape[1])
        for row in assignment.folds:
            for f in range(self.n_splits):
                test = row == f
                yield idx[~test], idx[test]

    def _iter_test_indices(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator:
        for _, test in self.split(X, y, groups):
            yield test


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


# --------------------------------------------------------------------------- kNNDM
def _cv_distances_km(
    lonlat: np.ndarray, folds: np.ndarray, dist: np.ndarray | None = None
) -> np.ndarray:
    """For each sample, the distance to its nearest training sample of its fold (CAST's G*_j).

    ``dist`` is an optional precomputed distance matrix (km), reused across many fold layouts.
    """
    out = np.empty(len(lonlat))
    for f in np.unique(folds):
        test = folds == f
        if test.all():
            out[test] = np.nan
        elif dist is not None:
            out[test] = dist[np.ix_(test, ~test)].min(axis=1)
        else:
            out[test] = nearest_distance_km(lonlat[test], lonlat[~test])
    return out


def w_statistic(lonlat: Any, folds: Any, prediction_lonlat: Any) -> float:
    """Wasserstein-1 distance (km) between CV and prediction nearest-neighbour distances.

    ``W = integral |G*_j(r) - G_ij(r)| dr``, where ``G*_j`` is the ECDF of the distance from each
    test site to the nearest training site of its fold and ``G_ij`` the ECDF of the distance from
    each prediction point to the nearest site. Lower means the folds mimic the prediction situation
    better; this is the statistic kNNDM minimises.

    Examples
    --------
    >>> sites = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    >>> pred = np.array([[20.0, 0.0], [21.0, 0.0]])  # prediction ~1000 km from the sites
    >>> w_pairs = w_statistic(sites, [0, 0, 1, 1], pred)  # hold out whole pairs: ~1000 km gaps
    >>> w_mixed = w_statistic(sites, [0, 1, 0, 1], pred)  # split pairs: ~111 km gaps
    >>> w_pairs < w_mixed
    True
    """
    xy = _check_lonlat(lonlat, "lonlat")
    gjstar = _cv_distances_km(xy, np.asarray(folds))
    gij = nearest_distance_km(prediction_lonlat, xy)
    return float(wasserstein_distance(gjstar[np.isfinite(gjstar)], gij))


class KNNDMKFold(_RepeatedSpatialCV):
    """k-fold nearest-neighbour distance matching (kNNDM) cross-validation.

    Follows CAST's ``knndm`` (Linnenbrink et al. 2024) in geographic space: if the sites are no
    more clustered than the prediction points (one-sided Kolmogorov–Smirnov test of ``G_j`` against
    ``G_ij`` at 5 %), a random fold assignment is returned. Otherwise the sites are clustered into
    ``q`` groups for ``q`` on a log-spaced grid from ``n_splits`` to ``n - 2``; the clusters are
    ordered along the first principal axis of their centroids; clusters holding at least ``n/k``
    sites keep a fold of their own and the rest are dealt round-robin into the remaining folds;
    configurations with a fold larger than ``maxp`` of the sites are skipped; the configuration with
    the lowest :func:`w_statistic` wins.

    Departures from CAST, all deliberate: distances are great-circle distances via a ball tree;
    Ward clustering runs on unit vectors on the sphere (a Euclidean embedding, where Ward's variance
    criterion is valid) rather than on the great-circle matrix; sites at identical coordinates
    (one site in several epochs) are one point and always share a fold; and repeats are supported
    through k-means clustering with a new seed per repeat (hierarchical clustering is
    deterministic, so it allows one repeat only).

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds ``k``.
    prediction_lonlat : array-like of shape (m, 2) or None, default=None
        Where the model will predict (lon, lat degrees). ``None`` samples the default permamap
        domain (25–180 °E, 25–84 °N, land) with :func:`prediction_domain_points`.
    n_repeats : int, default=1
        Repeats; more than one needs ``clustering="kmeans"``.
    clustering : {"hierarchical", "kmeans"}, default="hierarchical"
    maxp : float, default=0.5
        Largest share of sites one fold may hold; strictly between ``1/k`` and 1.
    nk_len : int, default=100
        Number of cluster counts ``q`` to try (CAST's ``nk_len``).
    random_state : int, RandomState instance or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> centres = np.array([[40, 60], [90, 50], [130, 65], [100, 35]])
    >>> lonlat = np.vstack([c + rng.normal(0, 0.5, (30, 2)) for c in centres])
    >>> cv = KNNDMKFold(n_splits=4, nk_len=20, random_state=0)
    >>> a = cv.assign(lonlat)
    >>> np.unique(a.folds[0]).tolist(), a.info["method"]
    ([0, 1, 2, 3], 'hierarchical')
    >>> folds = list(cv.split(lonlat))  # sklearn protocol: (train, test) index pairs
    >>> len(folds)
    4
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        prediction_lonlat: Any = None,
        n_repeats: int = 1,
        clustering: str = "hierarchical",
        maxp: float = 0.5,
        nk_len: int = 100,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.prediction_lonlat = prediction_lonlat
        self.n_repeats = n_repeats
        self.clustering = clustering
        self.maxp = maxp
        self.nk_len = nk_len
        self.random_state = random_state

    def _check_params(self) -> tuple[int, int]:
        k = _check_int(self.n_splits, "n_splits", 2)
        n_repeats = _check_int(self.n_repeats, "n_repeats", 1)
        _check_int(self.nk_len, "nk_len", 1)
        if self.clustering not in ("hierarchical", "kmeans"):
            raise ConfigError(
                f"clustering={self.clustering!r} is not supported; use 'hierarchical' or 'kmeans'"
            )
        if self.clustering == "hierarchical" and n_repeats > 1:
            raise ConfigError(
                f"n_repeats={n_repeats} with hierarchical clustering would repeat identical folds "
                "(it is deterministic); use clustering='kmeans' or n_repeats=1"
            )
        if not 1 / k < self.maxp < 1:
            raise ConfigError(
                f"maxp={self.maxp} must lie strictly between 1/n_splits={1 / k:.2f} and 1; "
                "raise it (e.g. 0.5) or use more folds"
            )
        return k, n_repeats

    @staticmethod
    def _merge(clust: np.ndarray, xyz: np.ndarray, axis: np.ndarray, k: int) -> np.ndarray:
        """Merge cluster labels into ``k`` folds, CAST-style (big clusters keep their own fold)."""
        labels, inv, counts = np.unique(clust, return_inverse=True, return_counts=True)
        inv = inv.ravel()
        proj = np.bincount(inv, weights=xyz @ axis) / counts  # centroid position on the PC axis
        order = np.argsort(proj, kind="stable")
        fold_of = np.full(len(labels), -1)
        big = order[counts[order] >= len(clust) / k]
        fold_of[big] = np.arange(len(big))
        small = order[counts[order] < len(clust) / k]
        rest = np.arange(len(big), k)
        if len(small):
            fold_of[small] = rest[np.arange(len(small)) % len(rest)]
        return fold_of[inv]

    def assign(self, X: Any, y: Any = None) -> FoldAssignment:
        """Fold and cluster labels of each site in each repeat, with W per repeat in ``info``."""
        k, n_repeats = self._check_params()
        xy_all = _check_lonlat(X)
        uniq, inverse = np.unique(xy_all, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        n = len(uniq)
        if n < k + 2:
            raise DataError(
                f"{n} distinct site locations are too few for {k} kNNDM folds (need at least "
                f"{k + 2}); add sites or lower n_splits"
            )
        pred = (
            prediction_domain_points()
            if self.prediction_lonlat is None
            else _check_lonlat(self.prediction_lonlat, "prediction_lonlat")
        )
        rng = check_random_state(self.random_state)
        gij = nearest_distance_km(pred, uniq)
        gj = _loo_nearest_km(uniq)
        xyz = _lonlat_to_xyz(uniq)
        folds = np.empty((n_repeats, len(xy_all)), dtype=int)
        units = np.empty((n_repeats, len(xy_all)), dtype=int)
        info: dict[str, Any] = {"W": [], "q": [], "method": self.clustering}
        # One-sided KS: is the sites' NN distance ECDF above the prediction one (sites clustered)?
        p_value = float(ks_2samp(gj, gij, alternative="greater", method="asymp").pvalue)
        info["ks_pvalue"] = p_value
        if p_value >= 0.05:
            logger.info("kNNDM: sites are not clustered relative to the domain; random folds")
            for r in range(n_repeats):
                lab = rng.permutation(np.resize(np.arange(k), n))
                folds[r], units[r] = lab[inverse], np.arange(n)[inverse]
                info["W"].append(w_statistic(uniq, lab, pred))
                info["q"].append("random CV")
            return FoldAssignment(folds, units, info)
        centred = xyz - xyz.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        grid = np.unique(np.round(np.exp(np.linspace(np.log(k), np.log(n - 2), self.nk_len))))
        tree = linkage(xyz, method="ward") if self.clustering == "hierarchical" else None
        dist = _pairwise_km(uniq) if n <= 6000 else None  # 6000² float64 = 288 MB at most
        for _ in range(n_repeats):
            seed = rng.randint(np.iinfo(np.int32).max)
            best: tuple[float, np.ndarray, np.ndarray, int] | None = None
            for q in grid.astype(int):
                if tree is not None:
                    clust = fcluster(tree, t=q, criterion="maxclust")
                else:
                    # One thread: on small problems OpenMP start-up costs more than it saves.
                    with threadpool_limits(1):
                        km = KMeans(n_clusters=q, n_init=1, random_state=seed)
                        clust = km.fit_predict(xyz)
                lab = self._merge(clust, xyz, axis, k)
                sizes = np.bincount(lab, minlength=k)
                if (sizes == 0).any() or (sizes / n > self.maxp).any():
                    continue
                gjstar = _cv_distances_km(uniq, lab, dist)
                w = float(wasserstein_distance(gjstar, gij))
                if best is None or w < best[0]:
                    best = (w, lab, clust, int(q))
            if best is None:
                raise DataError(
                    f"kNNDM found no fold configuration with every fold under maxp={self.maxp} "
                    f"of the {n} site locations; raise maxp (e.g. 0.8) or lower n_splits"
                )
            w, lab, clust, q = best
            folds[len(info["W"])] = lab[inverse]
            units[len(info["W"])] = clust[inverse]
            info["W"].append(w)
            info["q"].append(q)
        logger.debug("kNNDM: W=%s q=%s", info["W"], info["q"])
        return FoldAssignment(folds, units, info)


# --------------------------------------------------------------------------- Splits
@dataclass(frozen=True, eq=False)
class Splits:
    """Cross-validation folds computed once and held as index arrays.

    Pass a :class:`Splits` wherever scikit-learn takes ``cv=``; iterate it for ``(train, test)``
    pairs. All steps of the model stage reuse the same instance, so model comparison, tuning,
    importance and feature-combination tests see identical folds.

    Attributes
    ----------
    scheme : str
        ``"random"`` or ``"spatial"``.
    folds : numpy.ndarray of shape (n_repeats, n_samples)
        Fold index of each sample in each repeat.
    units : numpy.ndarray of shape (n_repeats, n_samples)
        Group labels that never straddle folds (sites, blocks or clusters), for inner splits.
    info : dict
        Diagnostics from the splitter.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1] * 10)
    >>> s = Splits.random(y, n_folds=5, n_repeats=2, random_state=0)
    >>> len(s), s.n_repeats, s.n_folds
    (10, 2, 5)
    >>> all(np.intersect1d(tr, te).size == 0 for tr, te in s)
    True
    """

    scheme: str
    folds: np.ndarray
    units: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = np.asarray(self.folds)
        if f.ndim != 2:
            raise DataError(f"folds has shape {f.shape}; expected (n_repeats, n_samples)")
        for r, row in enumerate(f):
            present = np.unique(row)
            if present.size != self.n_folds or present[0] != 0:
                raise DataError(
                    f"repeat {r} of the {self.scheme} splits has folds {present.tolist()}; every "
                    f"fold 0..{self.n_folds - 1} needs at least one test sample; use fewer folds"
                )

    @property
    def n_repeats(self) -> int:
        return int(self.folds.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.folds.shape[1])

    @property
    def n_folds(self) -> int:
        return int(self.folds.max()) + 1

    @classmethod
    def random(
        cls,
        y: Any,
        *,
        n_folds: int = 5,
        n_repeats: int = 40,
        random_state: int | np.random.RandomState | None = None,
    ) -> Splits:
        """Repeated stratified k-fold on rows (the published protocol)."""
        yy = np.asarray(y)
        counts = np.bincount(yy.astype(int)) if yy.size else np.array([0])
        if (counts[counts > 0] < n_folds).any() or (counts > 0).sum() < 2:
            raise DataError(
                f"class counts {counts.tolist()} cannot fill {n_folds} stratified folds; each of "
                f"the two classes needs at least {n_folds} samples; add sites or lower n_folds"
            )
        cv = RepeatedStratifiedKFold(
            n_splits=n_folds, n_repeats=n_repeats, random_state=random_state
        )
        folds = np.empty((n_repeats, len(yy)), dtype=int)
        for i, (_, test) in enumerate(cv.split(np.zeros(len(yy)), yy)):
            folds[i // n_folds, test] = i % n_folds
        units = np.tile(np.arange(len(yy)), (n_repeats, 1))
        return cls("random", folds, units, {"method": "repeated stratified k-fold"})

    @classmethod
    def from_splitter(
        cls, scheme: str, splitter: _RepeatedSpatialCV, X: Any, y: Any = None
    ) -> Splits:
        """Compute the folds of a spatial splitter once (``X`` = lon/lat degrees)."""
        a = splitter.assign(X, y)
        return cls(scheme, a.folds, a.units, dict(a.info))

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` index arrays, repeat by repeat, fold by fold."""
        if X is not None and len(X) != self.n_samples:
            raise DataError(
                f"these {self.scheme} splits were computed for {self.n_samples} samples but got "
                f"{len(X)}; compute the splits on the same table"
            )
        idx = np.arange(self.n_samples)
        for row in self.folds:
            for f in range(self.n_folds):
                test = row == f
                yield idx[~test], idx[test]

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_repeats * self.n_folds

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.split()

    def __len__(self) -> int:
        return self.get_n_splits()

    def keys(self) -> list[tuple[int, int]]:
        """``(repeat, fold)`` of each split, in iteration order."""
        return [(r, f) for r in range(self.n_repeats) for f in range(self.n_folds)]

    def head(self, n_repeats: int) -> Splits:
        """The first ``n_repeats`` repeats (cheaper steps such as feature selection use these)."""
        n = max(1, min(int(n_repeats), self.n_repeats))
        return Splits(self.scheme, self.folds[:n], self.units[:n], dict(self.info))

    def test_train_ratio(self) -> float:
        """Mean ``n_test / n_train``, for the Nadeau–Bengio variance correction."""
        sizes = np.array([np.bincount(row) for row in self.folds], dtype=float)
        return float(np.mean(sizes / (self.n_samples - sizes)))
