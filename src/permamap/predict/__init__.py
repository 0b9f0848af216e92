"""Prediction: :func:`predict_block` (pure, one array) and :func:`predict_map` (tiles → COG).

One concept per module:

* :mod:`~permamap.predict.block` – :func:`predict_block`, the pure prediction of one
  ``(band, row, col)`` block (:func:`predict_cells` also returns the ensemble members'
  probabilities), :func:`member_classes` and :func:`member_areas`, and :func:`map_bands`;
* :mod:`~permamap.predict.store` – :class:`TileStore`, per-tile results beside the map, each
  written atomically, with the settings fingerprint that makes a rerun resume;
* :mod:`~permamap.predict.tiles` – :func:`predict_tile` and :func:`run_tiles`: the local thread
  pool or dask.distributed, both calling the same tile function, so their outputs are identical
  bit for bit;
* :mod:`~permamap.predict.map` – :func:`predict_map`: checks, tiles, then one assembly into a
  Cloud-Optimized GeoTIFF at the path the caller gives;
* :mod:`~permamap.predict.estimate` – :func:`estimate_map`, the dry run (:class:`MapEstimate`).

Bands, codes and no-data follow :mod:`permamap.contracts` (docs/contracts.md): ``class``,
``probability`` (%), ``uncertainty`` (percentage points: 100 × the sd of the calibrated
probabilities of a spatial block-bootstrap ensemble, :mod:`permamap.selection.ensemble`; 255
without one), ``aoa`` when an :class:`~permamap.aoa.AOAReference` is given and
``expected_accuracy`` (%) with an error profile; every band is 255 where a factor is missing.
"""

from __future__ import annotations

from ..inference import positive_class_index
from .block import (
    CellPrediction,
    map_bands,
    member_areas,
    member_classes,
    predict_block,
    predict_cells,
)
from .estimate import MapEstimate, estimate_map
from .map import members_sidecar, predict_map, uncertainty_tags
from .store import OutputWriteError, TileStore
from .tiles import TileJob, predict_tile, run_tiles

__all__ = [
    "CellPrediction",
    "MapEstimate",
    "OutputWriteError",
    "TileJob",
    "TileStore",
    "estimate_map",
    "map_bands",
    "member_areas",
    "member_classes",
    "members_sidecar",
    "positive_class_index",
    "predict_block",
    "predict_cells",
    "predict_map",
    "predict_tile",
    "run_tiles",
    "uncertainty_tags",
]
