"""Prediction: :func:`predict_block` (pure, one array) and :func:`predict_map` (tiles → COG).

One concept per module:

* :mod:`~permamap.predict.block` – :func:`predict_block`, the pure prediction of one
  ``(band, row, col)`` block, and :func:`map_bands`;
* :mod:`~permamap.predict.store` – :class:`TileStore`, per-tile results beside the map, each
  written atomically, with the settings fingerprint that makes a rerun resume;
* :mod:`~permamap.predict.tiles` – :func:`predict_tile` and :func:`run_tiles`: the local thread
  pool or dask.distributed, both calling the same tile function, so their outputs are identical
  bit for bit;
* :mod:`~permamap.predict.map` – :func:`predict_map`: checks, tiles, then one assembly into a
  Cloud-Optimized GeoTIFF at the path the caller gives;
* :mod:`~permamap.predict.estimate` – :func:`estimate_map`, the dry run (:class:`MapEstimate`).

Bands, codes and no-data follow :mod:`permamap.contracts` (docs/contracts.md): ``class``,
``probability`` (%), ``uncertainty`` (%), and ``aoa`` when an :class:`~permamap.aoa.AOAReference`
is given; every band is 255 where a factor is missing.
"""

from __future__ import annotations

from ..inference import positive_class_index
from .block import map_bands, predict_block
from .estimate import MapEstimate, estimate_map
from .map import predict_map
from .store import OutputWriteError, TileStore
from .tiles import TileJob, predict_tile, run_tiles

__all__ = [
    "MapEstimate",
    "OutputWriteError",
    "TileJob",
    "TileStore",
    "estimate_map",
    "map_bands",
    "positive_class_index",
    "predict_block",
    "predict_map",
    "predict_tile",
    "run_tiles",
]
