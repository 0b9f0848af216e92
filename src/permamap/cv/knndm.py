"""k-fold nearest-neighbour distance matching: :class:`KNNDMKFold` and its :func:`w_statistic`.

References
----------
Milà et al. (2022) Nearest neighbour distance matching Leave-One-Out Cross-Validation for map
validation. Methods Ecol. Evol. 13, 1304–1316.
Linnenbrink et al. (2024) kNNDM CV: k-fold nearest-neighbour distance matching cross-validation
for map accuracy estimation. Geosci. Model Dev. 17, 5897–5912.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..errors import ConfigError, DataError
from .base import FoldAssignment, _check_int, _RepeatedSpatialCV
from .distances import (
    _check_lonlat,
    _lonlat_to_xyz,
    _loo_nearest_km,
    _pairwise_km,
    nearest_distance_km,
)
from .domain import prediction_domain_points

__all__ = ["KNNDMKFold", "w_statistic"]

logger = logging.getLogger(__name__)


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
