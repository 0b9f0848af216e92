"""Cross-validation splitters for sites on the sphere, and the :class:`Splits` value object.

This package owns how sites are divided into training and test folds, one concept per module:

* :mod:`~permamap.cv.blocks` – :class:`SpatialBlockKFold`: blocks of equal size on the sphere,
  assigned whole to folds; the block size is derived from the data (the range of the labels'
  spatial autocorrelation, see :func:`autocorrelation_range_km`) unless given.
* :mod:`~permamap.cv.knndm` – :class:`KNNDMKFold`: k-fold nearest-neighbour distance matching
  (kNNDM, Linnenbrink et al. 2024, as in CAST's ``knndm``): clusters of sites are merged into folds
  so that the distribution of test-to-training distances matches the distribution of
  prediction-to-training distances (:func:`w_statistic`).
* :mod:`~permamap.cv.splits` – :class:`Splits`: the folds computed once, held as index arrays and
  reused by every step of the model stage (comparison, tuning, importance, feature combinations),
  so all of them see identical folds.
* :mod:`~permamap.cv.clusters` – :func:`spatial_clusters`, k-means groups of sites on the sphere.
* :mod:`~permamap.cv.domain` – :func:`prediction_domain_points`, where the model will predict.
* :mod:`~permamap.cv.distances` – great-circle distances (:func:`nearest_distance_km`).
* :mod:`~permamap.cv.base` – :class:`FoldAssignment` and the splitters' shared sklearn protocol.

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

from .base import FoldAssignment
from .blocks import SpatialBlockKFold, autocorrelation_range_km, label_variogram
from .clusters import spatial_clusters
from .distances import EARTH_RADIUS_KM, nearest_distance_km
from .domain import prediction_domain_points
from .knndm import KNNDMKFold, w_statistic
from .splits import Splits

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
