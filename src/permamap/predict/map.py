"""The map of one epoch: :func:`predict_map` (stack → tiles → COG), resumable and atomic.

:func:`predict_map` runs in three steps, each safe to interrupt:

1. **Tiles.** Every tile of the grid is read from the on-disk stack, predicted and saved on its own
   in the tile store ``<maps>/.tiles_<map stem>/`` (:mod:`permamap.predict.store`), by the thread
   pool or dask (:mod:`permamap.predict.tiles`).
2. **Resume.** A rerun with the same settings fingerprint computes only the missing tiles; a
   different fingerprint clears the stale tiles first.
3. **Assembly.** One pass writes all tiles into a tiled GeoTIFF in a scratch file and converts it
   to a Cloud-Optimized GeoTIFF with overviews, renamed onto the final path (both through
   :mod:`permamap.fileio`). The tile store is then removed. Nothing half-written ever sits at the
   final path.

The map is too large for memory, so this stage streams it into the path its caller gives (from
:class:`permamap.layout.RunLayout`); the tag ``uncertainty_method`` says how the ``uncertainty``
band was computed (see :mod:`permamap.predict.block`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rasterio
from rasterio.windows import Window

from .. import __version__
from ..aoa import AOAReference
from ..contracts import DEFAULT_TILE, MAP_NODATA
from ..errors import DataError
from ..fileio import check_on_grid, open_tiled, scratch_path, to_cog
from ..grid import Grid
from ..inference import Predictor, compile_model
from ..selection.calibration import Calibrator
from .block import map_bands
from .store import OutputWriteError, TileStore, fingerprint
from .tiles import TileJob, run_tiles

__all__ = ["predict_map"]

log = logging.getLogger(__name__)


def _assemble(
    store: TileStore,
    tiles: Sequence[Window],
    grid: Grid,
    bands: Sequence[str],
    tags: dict[str, str],
    out: Path,
) -> None:
    with scratch_path(out) as work:
        try:
            with open_tiled(
                work, grid, len(bands), "uint8", MAP_NODATA, list(bands), tags=tags
            ) as ds:
                for w in tiles:
                    ds.write(store.read(w, len(bands)), window=w)
            to_cog(work, out)
        except rasterio.errors.RasterioIOError as exc:
            raise OutputWriteError(
                0,
                f"could not write {out} ({exc}); free disk space and rerun: the tiles are kept in "
                f"{store.folder}, only the assembly is redone",
            ) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise OutputWriteError(
                    exc.errno,
                    f"disk full while writing {out}; free space and rerun: the tiles are "
                    f"kept in {store.folder}",
                ) from exc
            raise


def predict_map(
    model: Any,
    features: Sequence[str],
    stack: Path,
    grid: Grid,
    out: Path,
    *,
    epoch: int,
    model_name: str = "model",
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
    threshold: float = 0.5,
    aoa: AOAReference | None = None,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    predictor: Predictor | None = None,
    keep_tiles: bool = False,
    extra_tags: Mapping[str, str] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Path:
    """Predict the map for one epoch tile by tile and write ``out`` as a COG, resumably.

    Parameters
    ----------
    model : classifier
        Fitted model with ``predict_proba`` (a FeatureGuard from the model stage, a Pipeline...).
    features : sequence of str
        Model features in order; each must be a band of ``stack``.
    stack : Path
        The epoch's covariate stack on ``grid``.
    grid : Grid
        The run's grid; the stack must lie on it.
    out : Path
        ``maps/permafrost_<year>.tif``. Tiles go to ``.tiles_<stem>/`` beside it.
    epoch : int
        Written to the tags.
    model_name : str, default="model"
        Written to the tags.
    tile_shape : (int, int), default=:data:`~permamap.contracts.DEFAULT_TILE` (512, 512)
        Rows and columns per tile; peak memory is set by it, not by the grid.
    progress : bool, default=False
        Show a progress bar with ETA.
    threshold : float, default=0.5
        Probability from which a cell is classed as permafrost.
    aoa : AOAReference, optional
        Adds the ``aoa`` band (see :mod:`permamap.aoa`).
    n_jobs : int, optional
        Worker threads (local) or workers (``scheduler="local"``); default: CPU count.
    scheduler : str, optional
        ``None`` = local thread pool; ``"local"`` = a dask LocalCluster; ``"local-threads"`` = a
        LocalCluster in this process; anything else = the address of a dask scheduler (the
        workers must see ``stack`` and ``out``'s folder at the same paths).
    predictor : Predictor, optional
        Pre-built predictor (default: :func:`~permamap.inference.compile_model` of ``model``).
    keep_tiles : bool, default=False
        Keep the tile store after assembly (for debugging).
    extra_tags : mapping of str to str, optional
        More dataset tags, e.g. ``virtual_world=true`` on maps of the demonstration world.
    calibration : mapping, optional
        The model card's ``calibration`` entry: the probability band carries the calibrated
        probability (tag ``probability_calibration``).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    GridMismatchError
        The stack is not on ``grid``.
    DataError
        The stack lacks a model feature, or the model's width differs from ``features``.
    OutputWriteError
        A tile or the map could not be written (e.g. disk full); finished tiles and any earlier
        map at ``out`` are left intact.
    """
    out, stack = Path(out), Path(stack)
    features = tuple(features)
    check_on_grid(stack, grid)
    with rasterio.open(stack) as ds:
        have = list(ds.descriptions)
    missing = [f for f in features if f not in have]
    if missing:
        raise DataError(
            f"stack {stack} lacks model feature(s) {missing} (it has {have}); rebuild the stack "
            "with these factors or retrain the model without them"
        )
    width = getattr(model, "n_features_in_", len(features))
    if width != len(features):
        raise DataError(
            f"the model was fitted on {width} features but {len(features)} were given "
            f"({list(features)}); pass the model card's features in order"
        )
    if not 0.0 <= threshold <= 1.0:
        raise DataError(f"threshold {threshold} must lie in [0, 1]; 0.5 is the usual choice")
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    predictor = predictor if predictor is not None else compile_model(model, len(features))
    bands = map_bands(aoa)
    tags = {
        "epoch": str(epoch),
        "model": model_name,
        "permamap_version": __version__,
        "features": ",".join(features),
        "class_values": f"1=permafrost,0=not,{MAP_NODATA}=nodata",
        "probability_units": "percent",
        "uncertainty_units": "percent",
        "uncertainty_method": (
            "tree_vote_spread: 200 x standard deviation of member-tree probabilities"
            if predictor.is_ensemble
            else "margin: 100 x (1 - |2p - 1|)"
        ),
    }
    tags.update(extra_tags or {})
    calibrator = Calibrator.from_dict(dict(calibration)) if calibration else None
    if calibrator is not None and calibrator.method != "none":
        tags["probability_calibration"] = (
            f"{calibrator.method} on spatial-CV out-of-fold predictions (model card: calibration)"
        )
        tags["calibration_table_sha"] = hashlib.sha256(
            json.dumps([calibrator.x, calibrator.y]).encode()
        ).hexdigest()[:16]
    else:
        calibrator = None
    if aoa is not None:
        tags.update(
            aoa_values=f"1=inside,0=outside,{MAP_NODATA}=nodata",
            aoa_method="Meyer & Pebesma 2021 DI",
            aoa_threshold=f"{aoa.threshold:.6g}",
        )
    store = TileStore.beside(out)
    tiles = list(grid.tiles(tile_shape))
    t0 = time.perf_counter()
    store.prepare(
        fingerprint(
            model, predictor, features, stack, grid, tile_shape, bands, threshold, aoa, tags
        )
    )
    job = TileJob(
        stack=stack,
        features=features,
        store=store,
        threshold=threshold,
        n_bands=len(bands),
        calibration=calibrator,
    )
    counts = run_tiles(
        predictor,
        job,
        tiles,
        aoa=aoa,
        n_jobs=n_jobs,
        scheduler=scheduler,
        progress=progress,
        desc=f"predict {epoch}",
    )
    t1 = time.perf_counter()
    _assemble(store, tiles, grid, bands, tags, out)
    if not keep_tiles:
        store.clear()
    log.info(
        "wrote %s: %d tiles predicted, %d empty, %d reused; %.1f s tiles + %.1f s COG",
        out,
        counts["written"],
        counts["empty"],
        counts["reused"],
        t1 - t0,
        time.perf_counter() - t1,
    )
    return out
