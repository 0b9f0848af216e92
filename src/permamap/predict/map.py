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

With an ensemble (:class:`~permamap.selection.ensemble.Ensemble`) and ``members_out``, the same
tiles also give the **member classes** file: a uint32 COG whose bit k says whether member k calls
the cell permafrost, and a JSON sidecar with each member's permafrost extent and
probability-weighted area over the whole grid (cell areas on the ellipsoid), from which the
change stage draws intervals.
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

import numpy as np
import rasterio
from rasterio.windows import Window

from .. import __version__
from ..aoa import AOAReference
from ..contracts import DEFAULT_TILE, MAP_NODATA, MAX_MEMBERS, MEMBER_CLASSES_BAND
from ..errors import DataError
from ..fileio import check_on_grid, dataset_tag, open_tiled, scratch_path, to_cog, write_json
from ..grid import Grid
from ..inference import Predictor, compile_model
from ..selection.calibration import Calibrator
from ..selection.ensemble import Ensemble
from .block import ErrorProfileLike, map_bands
from .store import OutputWriteError, TileStore, fingerprint
from .tiles import TileJob, run_tiles

__all__ = ["assemble_tiles", "members_sidecar", "predict_map", "uncertainty_tags"]

log = logging.getLogger(__name__)


def members_sidecar(path: Path) -> Path:
    """The JSON beside a member-classes file: ``members_<year>.tif`` → ``members_<year>.json``."""
    return Path(path).with_suffix(".json")


def uncertainty_tags(members: Ensemble | None) -> dict[str, str]:
    """The ``uncertainty_*`` tags of a map predicted with (or without) an ensemble.

    >>> uncertainty_tags(None)["uncertainty_method"]
    'none: no ensemble was given'
    """
    if members is None:
        return {
            "uncertainty_method": "none: no ensemble was given",
            "uncertainty_units": "percentage points",
        }
    return {
        "uncertainty_method": "ensemble_sd: 100 x sd of calibrated member probabilities, "
        f"B={members.n_members} spatial block-bootstrap refits (percentage points)",
        "uncertainty_units": "percentage points",
        "uncertainty_members": str(members.n_members),
    }


def assemble_tiles(
    store: TileStore,
    tiles: Sequence[Window],
    grid: Grid,
    bands: Sequence[str],
    tags: dict[str, str],
    out: Path,
    *,
    dtype: str = "uint8",
    nodata: int | None = MAP_NODATA,
    fill: int = MAP_NODATA,
) -> None:
    """Write every stored tile of ``store`` into the COG ``out`` (scratch file, then rename)."""
    with scratch_path(out) as work:
        try:
            with open_tiled(work, grid, len(bands), dtype, nodata, list(bands), tags=tags) as ds:
                for w in tiles:
                    ds.write(store.read(w, len(bands), dtype=dtype, fill=fill), window=w)
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
    members: Ensemble | None = None,
    members_out: Path | None = None,
    error_profile: ErrorProfileLike | None = None,
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
        probability (tag ``probability_calibration``); the members' probabilities go through
        the same calibrator.
    members : Ensemble, optional
        The block-bootstrap ensemble of the model (:func:`permamap.selection.ensemble.fit_ensemble`):
        the ``uncertainty`` band is 100 × the sd of its members' calibrated probabilities, in
        percentage points. Without it the band is 255 (tag ``uncertainty_method=none``).
    members_out : Path, optional
        With ``members``: also write ``maps/members/members_<year>.tif`` (one uint32 band
        ``member_classes``, bit k = member k's calibrated p >= ``threshold``, 0 where the map has
        no data) and its sidecar ``members_<year>.json`` (``epoch``, ``n_members``,
        ``permafrost_extent_km2`` and ``probability_weighted_km2``: one total per member over the
        grid). At most :data:`~permamap.contracts.MAX_MEMBERS` members.
    error_profile : object, optional
        Anything with ``expected_accuracy(di, p)`` (in [0, 1]) and ``to_dict()``: adds the band
        ``expected_accuracy`` (percent) from the AOA's dissimilarity index; needs ``aoa``.

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
    _check_members(members, members_out, features)
    if error_profile is not None and aoa is None:
        raise DataError(
            "an error profile maps the AOA's dissimilarity index to expected accuracy, but no "
            "AOA reference was given; pass aoa= (the model artefact holds it) or no error_profile"
        )
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    predictor = predictor if predictor is not None else compile_model(model, len(features))
    if members is not None:
        members.predictors()  # compile the members once, before the threads share them
    bands = map_bands(aoa, error_profile)
    tags = {
        "epoch": str(epoch),
        "model": model_name,
        "permamap_version": __version__,
        "features": ",".join(features),
        "class_values": f"1=permafrost,0=not,{MAP_NODATA}=nodata",
        "probability_units": "percent",
        **uncertainty_tags(members),
    }
    if error_profile is not None:
        profile = json.dumps(error_profile.to_dict(), sort_keys=True, default=str)
        tags.update(
            expected_accuracy_units="percent",
            expected_accuracy_method="error profile: expected accuracy from the AOA dissimilarity "
            "index and the calibrated probability (spatial CV)",
            error_profile_sha=hashlib.sha256(profile.encode()).hexdigest()[:16],
        )
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
    write_members = members is not None and members_out is not None
    members_store = TileStore(store.folder / "members") if write_members else None
    tiles = list(grid.tiles(tile_shape))
    t0 = time.perf_counter()
    settings = fingerprint(
        model,
        predictor,
        features,
        stack,
        grid,
        tile_shape,
        bands,
        threshold,
        aoa,
        tags,
        members=members,
        error_profile=error_profile,
        member_classes=write_members,
    )
    settings_sha = _settings_sha(settings, stack)
    if _is_current(out, settings_sha, members_out if write_members else None):
        log.info("%s is current (tiles_sha %s): kept", out, settings_sha)
        return out
    tags["tiles_sha"] = settings_sha
    store.prepare(settings)
    if members_store is not None:
        members_store.prepare(settings)
    job = TileJob(
        stack=stack,
        features=features,
        store=store,
        threshold=threshold,
        n_bands=len(bands),
        calibration=calibrator,
        error_profile=error_profile,
        members_store=members_store,
        grid=grid if write_members else None,
    )
    counts = run_tiles(
        predictor,
        job,
        tiles,
        aoa=aoa,
        members=members,
        n_jobs=n_jobs,
        scheduler=scheduler,
        progress=progress,
        desc=f"predict {epoch}",
    )
    t1 = time.perf_counter()
    if members_store is not None and members is not None and members_out is not None:
        _write_members(members_store, tiles, grid, members, Path(members_out), epoch, threshold)
    assemble_tiles(store, tiles, grid, bands, tags, out)
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


def _settings_sha(settings: dict[str, Any], stack: Path) -> str:
    """The tile settings without where the run folder is: the stack by its factors and size."""
    where = {"factors_sha": dataset_tag(stack, "factors_sha"), "size": Path(stack).stat().st_size}
    text = json.dumps({**settings, "stack": where}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_current(out: Path, sha: str, members_out: Path | None) -> bool:
    """``out`` (and ``members_out``) were assembled from tiles with these settings (tag ``tiles_sha``)."""
    if members_out is not None and not Path(members_out).is_file():
        return False
    return Path(out).is_file() and dataset_tag(out, "tiles_sha") == sha


def _check_members(
    members: Ensemble | None, members_out: Path | None, features: Sequence[str]
) -> None:
    """Cheap checks of the ensemble arguments, before any tile is computed."""
    if members_out is not None and members is None:
        raise DataError(
            f"members_out={members_out} asks for member classes but no ensemble was given; pass "
            "members= (permamap.selection.ensemble.Ensemble) or leave members_out out"
        )
    if members is None:
        return
    width = getattr(members, "n_features", 0)
    if width and width != len(features):
        raise DataError(
            f"the ensemble's members were fitted on {width} features but {len(features)} were "
            f"given ({list(features)}); refit the ensemble with the model's features"
        )
    if members.n_members < 2:
        raise DataError(
            f"the ensemble has {members.n_members} member; a spread needs at least 2; refit it "
            "with n_members >= 2"
        )
    if members_out is not None and members.n_members > MAX_MEMBERS:
        raise DataError(
            f"the ensemble has {members.n_members} members but a member-classes file holds at "
            f"most {MAX_MEMBERS} (one bit each in a uint32); refit with n_members <= "
            f"{MAX_MEMBERS} or leave members_out out"
        )


def _write_members(
    store: TileStore,
    tiles: Sequence[Window],
    grid: Grid,
    members: Ensemble,
    out: Path,
    epoch: int,
    threshold: float,
) -> None:
    """Assemble the member-classes COG and its sidecar of per-member area totals."""
    n = members.n_members
    totals = np.zeros((2, n), dtype=np.float64)
    for w in tiles:  # always in grid order: the same sums, bit for bit, on a rerun
        sums = store.read_extra(w, "sums")
        if sums is not None:
            totals += sums
    tags = {
        "epoch": str(epoch),
        "n_members": str(n),
        "threshold": f"{threshold:.6g}",
        "bit_meaning": f"bit k (value 2**k, k = 0..{n - 1}) set = ensemble member k has calibrated "
        f"permafrost probability >= {threshold:.6g}; 0 also where the map has no data (its "
        "class band is 255)",
        "ensemble_method": str(members.info.get("method", "")),
        "permamap_version": __version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    assemble_tiles(
        store, tiles, grid, [MEMBER_CLASSES_BAND], tags, out, dtype="uint32", nodata=None, fill=0
    )
    write_json(
        members_sidecar(out),
        {
            "epoch": int(epoch),
            "n_members": n,
            "threshold": float(threshold),
            "permafrost_extent_km2": [float(v) for v in totals[0]],
            "probability_weighted_km2": [float(v) for v in totals[1]],
        },
        allow_nan=False,
        newline=True,
    )
