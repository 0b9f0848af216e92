"""Prediction: :func:`predict_block` (pure, one array) and :func:`predict_map` (tiles → COG).

:func:`predict_map` runs in three steps, each safe to interrupt:

1. **Tiles.** Every tile of the grid is read from the on-disk stack, predicted and saved on its own
   in the tile store ``<maps>/.tiles_<map stem>/`` (one ``.npy`` per tile, or an ``.empty``
   marker when the tile has no cell with every factor), each written to a temporary name and
   renamed, so a tile file is either complete or absent. Tiles run on a local thread pool
   (default) or on dask.distributed (``scheduler="local"`` or an address); both call the same
   :func:`predict_tile`, so their outputs are identical bit for bit.
2. **Resume.** The store holds a ``manifest.json`` fingerprint (model, features, stack, grid, tile
   shape, bands, threshold, AOA). A rerun with the same fingerprint computes only the missing
   tiles; a different fingerprint clears the stale tiles first.
3. **Assembly.** One pass writes all tiles into a tiled GeoTIFF in a scratch file and converts it
   to a Cloud-Optimized GeoTIFF with overviews, renamed onto the final path. The tile store is
   then removed. Nothing half-written ever sits at the final path.

Bands follow docs/contracts.md: ``class``, ``probability`` (%), ``uncertainty`` (%), and ``aoa``
when an :class:`~permamap.aoa.AOAReference` is given. ``uncertainty`` is 200 × the standard
deviation of the member trees' probabilities for tree ensembles (0 = all trees agree, 100 = half
say 0 and half say 1), and ``100 × (1 − |2p − 1|)`` (closeness to the 50 % boundary) for other
models; the tag ``uncertainty_method`` says which.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm.auto import tqdm

from . import __version__
from .aoa import AOAReference
from .covariates.stack import read_stack
from .errors import DataError, PermamapError
from .grid import Grid
from .inference import Predictor, ReferencePredictor, compile_model, positive_class_index
from .fileio import check_on_grid, open_tiled, scratch_path, to_cog

__all__ = [
    "BANDS",
    "NODATA",
    "MapEstimate",
    "OutputWriteError",
    "TileStore",
    "estimate_map",
    "map_bands",
    "positive_class_index",
    "predict_block",
    "predict_map",
    "predict_tile",
    "run_tiles",
]

log = logging.getLogger(__name__)

NODATA = 255
#: Bands always written; ``aoa`` is appended when an AOA reference is given.
BANDS = ("class", "probability", "uncertainty")
AOA_BAND = "aoa"
_STORE_VERSION = 1
_WRITE_SECONDS_PER_MILLION = 0.3


class OutputWriteError(PermamapError, OSError):
    """A map or tile could not be written (disk full, no permission); earlier outputs are intact."""


def map_bands(aoa: AOAReference | None) -> tuple[str, ...]:
    """Band names of a map: :data:`BANDS` plus ``aoa`` when an AOA reference is given."""
    return BANDS + ((AOA_BAND,) if aoa is not None else ())


def _as_predictor(model: Any, n_features: int) -> Predictor:
    return model if hasattr(model, "predict_stats") else ReferencePredictor(model, n_features)


# --------------------------------------------------------------------------- pure block prediction
def predict_block(
    model: Any,
    block: np.ndarray,
    threshold: float = 0.5,
    *,
    aoa: AOAReference | None = None,
) -> np.ndarray:
    """Predict one ``(band, row, col)`` block of factors; return uint8 ``(n_bands, row, col)``.

    Parameters
    ----------
    model : Predictor or classifier
        A predictor from :func:`permamap.inference.compile_model`, or any fitted classifier with
        ``predict_proba`` (then predicted through scikit-learn).
    block : numpy.ndarray, (n_features, rows, cols)
        Factors in model order; NaN = missing.
    threshold : float, default=0.5
        Probability from which a cell is classed as permafrost.
    aoa : AOAReference, optional
        When given, a fourth band ``aoa`` (1 inside, 0 outside) is added.

    Returns
    -------
    numpy.ndarray of uint8, (n_bands, rows, cols)
        Bands as :func:`map_bands`; cells with any missing factor are 255 in every band.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> m = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [1, 1, 0, 0])
    >>> predict_block(m, np.array([[[-3.0, np.nan, 3.0]]], dtype="float32"))[:, 0].tolist()
    [[1, 255, 0], [95, 255, 5], [9, 255, 9]]
    """
    if block.ndim != 3:
        raise DataError(
            f"a block must be (band, row, col), got shape {block.shape}; add a band axis"
        )
    n_features, rows, cols = block.shape
    predictor = _as_predictor(model, n_features)
    out = np.full((len(map_bands(aoa)), rows, cols), NODATA, dtype=np.uint8)
    valid = np.isfinite(block).all(axis=0)
    if not valid.any():
        return out
    x = np.ascontiguousarray(block[:, valid].T)
    proba, spread = predictor.predict_stats(x)
    out[0][valid] = (proba >= threshold).astype(np.uint8)
    out[1][valid] = np.rint(proba * 100.0).astype(np.uint8)
    if spread is not None:
        unc = np.clip(np.rint(spread * 200.0), 0, 100)
    else:
        unc = np.rint(100.0 * (1.0 - np.abs(2.0 * proba - 1.0)))
    out[2][valid] = unc.astype(np.uint8)
    if aoa is not None:
        out[3][valid] = aoa.inside(x).astype(np.uint8)
    return out


# --------------------------------------------------------------------------- tile store
def _window_key(window: Window) -> str:
    return f"r{int(window.row_off):06d}_c{int(window.col_off):06d}"


@dataclass(frozen=True)
class TileStore:
    """Per-tile results of one map in a hidden folder beside it, each file written atomically.

    Parameters
    ----------
    folder : Path
        ``<maps>/.tiles_<map stem>``; created on demand.
    """

    folder: Path

    @classmethod
    def beside(cls, out: Path) -> TileStore:
        out = Path(out)
        return cls(out.with_name(f".tiles_{out.stem}"))

    def path(self, window: Window) -> Path:
        return self.folder / f"{_window_key(window)}.npy"

    def empty_path(self, window: Window) -> Path:
        return self.folder / f"{_window_key(window)}.empty"

    def is_done(self, window: Window) -> bool:
        return self.path(window).is_file() or self.empty_path(window).is_file()

    def _atomic(self, final: Path, write: Callable[[Any], None]) -> None:
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                write(fh)
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            hint = (
                "the disk is full; free space (the dry run estimates what a map needs) and "
                "rerun: finished tiles are kept"
                if exc.errno == errno.ENOSPC
                else "check the folder's permissions and free space, then rerun: "
                "finished tiles are kept"
            )
            raise OutputWriteError(
                exc.errno or 0, f"could not write tile {final} ({exc}); {hint}"
            ) from exc

    def write(self, window: Window, data: np.ndarray | None) -> None:
        """Save a tile's bands, or an empty marker when ``data`` is ``None``."""
        if data is None:
            self._atomic(self.empty_path(window), lambda fh: None)
        else:
            self._atomic(self.path(window), lambda fh: np.save(fh, data, allow_pickle=False))

    def read(self, window: Window, n_bands: int) -> np.ndarray:
        """A tile's bands; all nodata for an empty tile."""
        path = self.path(window)
        if path.is_file():
            data = np.load(path, allow_pickle=False)
            want = (n_bands, int(window.height), int(window.width))
            if data.shape != want or data.dtype != np.uint8:
                raise OutputWriteError(
                    0,
                    f"tile {path} holds {data.dtype} {data.shape}, expected uint8 {want}; delete "
                    f"{self.folder} and rerun",
                )
            return data
        if self.empty_path(window).is_file():
            return np.full((n_bands, int(window.height), int(window.width)), NODATA, dtype=np.uint8)
        raise OutputWriteError(0, f"tile {path} is missing; rerun predict_map to compute it")

    def prepare(self, fingerprint: dict[str, Any]) -> None:
        """Create the store, or clear it when its manifest belongs to another run's settings."""
        manifest = self.folder / "manifest.json"
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = None
            if old == fingerprint:
                return
            log.info("tile store %s belongs to other settings; clearing it", self.folder)
            self.clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(fingerprint, indent=2, sort_keys=True)
        self._atomic(manifest, lambda fh: fh.write(text.encode("utf-8")))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------- one tile
@dataclass(frozen=True)
class TileJob:
    """Everything a worker needs for one map's tiles except the predictor (picklable)."""

    stack: Path
    features: tuple[str, ...]
    store: TileStore
    threshold: float
    n_bands: int


def predict_tile(
    job: TileJob, predictor: Predictor, aoa: AOAReference | None, window: tuple[int, int, int, int]
) -> str:
    """Read, predict and store one tile ``(col_off, row_off, width, height)``.

    Returns ``"written"`` or ``"empty"`` (no cell has every factor; only a marker is stored).
    """
    w = Window(*window)
    block = read_stack(job.stack, w, job.features)
    if not np.isfinite(block).all(axis=0).any():
        job.store.write(w, None)
        return "empty"
    job.store.write(w, predict_block(predictor, block, job.threshold, aoa=aoa))
    return "written"


# --------------------------------------------------------------------------- backends
def _run_local(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    todo: list[tuple[int, int, int, int]],
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    counts = {"written": 0, "empty": 0}
    if n_jobs <= 1:
        for win in todo:
            counts[predict_tile(job, predictor, aoa, win)] += 1
            bar.update()
        return counts
    # Threads: GDAL reads and the numba / scikit-learn tree kernels release the GIL.
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="permamap-tile") as pool:
        pending = set()
        it = iter(todo)
        for win in it:  # keep at most 2 × n_jobs tiles in flight: bounded memory
            pending.add(pool.submit(predict_tile, job, predictor, aoa, win))
            if len(pending) >= 2 * n_jobs:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise exc
                counts[fut.result()] += 1
                bar.update()
            for win in it:
                pending.add(pool.submit(predict_tile, job, predictor, aoa, win))
                if len(pending) >= 2 * n_jobs:
                    break
    return counts


def _run_dask(
    job: TileJob,
    predictor: Predictor,
    aoa: AOAReference | None,
    todo: list[tuple[int, int, int, int]],
    scheduler: str,
    n_jobs: int,
    bar: tqdm,
) -> dict[str, int]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise PermamapError(
            f"scheduler={scheduler!r} needs dask.distributed; `pip install distributed` or leave "
            "scheduler unset for the local pool"
        ) from exc
    counts = {"written": 0, "empty": 0}
    cluster = None
    if scheduler in ("local", "local-threads"):
        # "local-threads" keeps workers in this process (light; used by the tests).
        cluster = LocalCluster(
            n_workers=max(1, n_jobs),
            threads_per_worker=1,
            processes=scheduler == "local",
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        # Ship the model once per worker, then one small task per tile, each writing its own file.
        pred_f = client.scatter(predictor, broadcast=True, hash=False)
        aoa_f = client.scatter(aoa, broadcast=True, hash=False) if aoa is not None else None
        run_id = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                predict_tile,
                job,
                pred_f,
                aoa_f,
                win,
                pure=False,
                key=f"permamap-tile-{run_id}-{_window_key(Window(*win))}",
            )
            for win in todo
        ]
        try:
            for fut in as_completed(futures):
                counts[fut.result()] += 1
                bar.update()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return counts


# --------------------------------------------------------------------------- orchestration
def _fingerprint(
    model: Any,
    predictor: Predictor,
    features: Sequence[str],
    stack: Path,
    grid: Grid,
    tile_shape: tuple[int, int],
    bands: Sequence[str],
    threshold: float,
    aoa: AOAReference | None,
    tags: dict[str, str],
) -> dict[str, Any]:
    import joblib

    st = Path(stack).stat()
    return {
        "store_version": _STORE_VERSION,
        "permamap_version": __version__,
        "model": joblib.hash(model),
        "predictor": type(predictor).__name__,
        "features": list(features),
        "stack": {
            "path": str(Path(stack).resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        },
        "grid": grid.to_dict(),
        "tile_shape": list(tile_shape),
        "bands": list(bands),
        "threshold": threshold,
        "aoa": joblib.hash(None if aoa is None else (aoa.train, aoa.threshold, aoa.mean_distance)),
        "tags": tags,
    }


def run_tiles(
    predictor: Predictor,
    job: TileJob,
    tiles: Iterable[Window],
    *,
    aoa: AOAReference | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    desc: str = "predict",
) -> dict[str, int]:
    """Compute every tile not yet in ``job.store``; return counts written / empty / reused."""
    tiles = list(tiles)
    todo = [
        (int(w.col_off), int(w.row_off), int(w.width), int(w.height))
        for w in tiles
        if not job.store.is_done(w)
    ]
    reused = len(tiles) - len(todo)
    if reused:
        log.info(
            "%s: %d of %d tiles already done; computing the other %d",
            desc,
            reused,
            len(tiles),
            len(todo),
        )
    with tqdm(
        total=len(tiles),
        initial=reused,
        desc=desc,
        unit="tile",
        disable=not progress,
        smoothing=0.1,
    ) as bar:
        if scheduler is None:
            counts = _run_local(job, predictor, aoa, todo, n_jobs, bar)
        else:
            counts = _run_dask(job, predictor, aoa, todo, scheduler, n_jobs, bar)
    counts["reused"] = reused
    return counts


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
            with open_tiled(work, grid, len(bands), "uint8", NODATA, list(bands), tags=tags) as ds:
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
    tile_shape: tuple[int, int] = (512, 512),
    progress: bool = True,
    threshold: float = 0.5,
    aoa: AOAReference | None = None,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    predictor: Predictor | None = None,
    keep_tiles: bool = False,
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
    tile_shape : (int, int), default=(512, 512)
        Rows and columns per tile; peak memory is set by it, not by the grid.
    progress : bool, default=True
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
        "class_values": "1=permafrost,0=not,255=nodata",
        "probability_units": "percent",
        "uncertainty_units": "percent",
        "uncertainty_method": (
            "tree_vote_spread: 200 x standard deviation of member-tree probabilities"
            if predictor.is_ensemble
            else "margin: 100 x (1 - |2p - 1|)"
        ),
    }
    if aoa is not None:
        tags.update(
            aoa_values="1=inside,0=outside,255=nodata",
            aoa_method="Meyer & Pebesma 2021 DI",
            aoa_threshold=f"{aoa.threshold:.6g}",
        )
    store = TileStore.beside(out)
    tiles = list(grid.tiles(tile_shape))
    t0 = time.perf_counter()
    store.prepare(
        _fingerprint(
            model, predictor, features, stack, grid, tile_shape, bands, threshold, aoa, tags
        )
    )
    job = TileJob(
        stack=stack, features=features, store=store, threshold=threshold, n_bands=len(bands)
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


# --------------------------------------------------------------------------- dry run
@dataclass(frozen=True)
class MapEstimate:
    """What :func:`predict_map` will cost, from a sample of tiles (see :func:`estimate_map`)."""

    cells: int
    tiles: int
    valid_fraction: float
    valid_cells: int
    seconds_per_million: float
    read_seconds_per_tile: float
    n_jobs: int
    est_seconds: float
    peak_memory_bytes: int
    tile_store_bytes: int
    cog_bytes: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """Human-readable lines for a ``--dry-run``."""
        gib = 1024**3
        return "\n".join(
            [
                f"cells        {self.cells:,} in {self.tiles} tiles; about {self.valid_cells:,} "
                f"({self.valid_fraction:.0%}) with every factor",
                f"speed        {self.seconds_per_million:.2f} s per million cells per worker, "
                f"{self.read_seconds_per_tile:.2f} s to read a tile",
                f"time         about {self.est_seconds / 60:.1f} min with {self.n_jobs} worker(s)",
                f"memory       peak about {self.peak_memory_bytes / gib:.2f} GiB",
                f"disk         tile store up to {self.tile_store_bytes / gib:.2f} GiB (removed), "
                f"map about {self.cog_bytes / gib:.2f} GiB",
            ]
        )


def estimate_map(
    model: Any,
    features: Sequence[str],
    stack: Path,
    grid: Grid,
    *,
    tile_shape: tuple[int, int] = (512, 512),
    n_jobs: int | None = None,
    aoa: AOAReference | None = None,
    sample_tiles: int = 6,
    predictor: Predictor | None = None,
) -> MapEstimate:
    """Dry run: estimate cells, tiles, time, peak memory and disk of :func:`predict_map`.

    Reads ``sample_tiles`` tiles spread evenly over the grid, times reading and predicting them
    (on at most 50,000 valid cells each) and extrapolates. Nothing is written.
    """
    stack = Path(stack)
    check_on_grid(stack, grid)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    predictor = predictor if predictor is not None else compile_model(model, len(features))
    tiles = list(grid.tiles(tile_shape))
    pick = sorted({round(i) for i in np.linspace(0, len(tiles) - 1, min(sample_tiles, len(tiles)))})
    valid = cells_seen = timed_cells = 0
    t_read = t_pred = 0.0
    for i in pick:
        w = tiles[i]
        t = time.perf_counter()
        block = read_stack(stack, w, features)
        t_read += time.perf_counter() - t
        mask = np.isfinite(block).all(axis=0)
        valid += int(mask.sum())
        cells_seen += mask.size
        x = np.ascontiguousarray(block[:, mask].T[:50_000])
        if len(x):
            predictor.predict_stats(x[:64])  # warm-up (compilation) outside the timing
            t = time.perf_counter()
            predictor.predict_stats(x)
            if aoa is not None:
                aoa.inside(x)
            t_pred += time.perf_counter() - t
            timed_cells += len(x)
    cells = grid.height * grid.width
    frac = valid / cells_seen if cells_seen else 0.0
    s_per_m = t_pred / timed_cells * 1e6 if timed_cells else 0.0
    read_per_tile = t_read / max(1, len(pick))
    est = (frac * cells * s_per_m / 1e6 + read_per_tile * len(tiles)) / n_jobs
    # Saving tiles and the serial COG assembly: ≈0.3 s per million grid cells, measured on the
    # 30 arc-sec Eurasia grid (131.7 M cells: 29 s tiles incl. a trivial model + 14 s COG, 2 cores).
    est += _WRITE_SECONDS_PER_MILLION * cells / 1e6
    n_bands = len(map_bands(aoa))
    tile_cells = int(tile_shape[0]) * int(tile_shape[1])
    # Per tile in flight: float32 block + transposed rows + codes + float64 intermediates + bands.
    per_tile = tile_cells * (len(features) * (4 + 4 + 2) + 8 * 6 + n_bands)
    model_bytes = _model_bytes(predictor)
    peak = 400 * 1024**2 + model_bytes + 2 * n_jobs * per_tile
    store = int(frac * cells * n_bands + len(tiles) * 128)
    cog = int(store * 0.25)  # deflate on uint8 class/percent bands, measured ≈4× on the demo
    return MapEstimate(
        cells=cells,
        tiles=len(tiles),
        valid_fraction=frac,
        valid_cells=int(frac * cells),
        seconds_per_million=s_per_m,
        read_seconds_per_tile=read_per_tile,
        n_jobs=n_jobs,
        est_seconds=est,
        peak_memory_bytes=int(peak),
        tile_store_bytes=store,
        cog_bytes=cog,
        details={
            "sampled_tiles": len(pick),
            "predictor": repr(predictor),
            "model_bytes": model_bytes,
        },
    )


def _model_bytes(predictor: Any) -> int:
    forest = getattr(predictor, "forest", None)
    if forest is not None:
        return int(
            sum(
                a.nbytes
                for a in (forest.feature, forest.code, forest.right, forest.left, forest.value)
            )
            * 2
        )
    import pickle

    try:
        return len(pickle.dumps(getattr(predictor, "model", predictor), protocol=5))
    except (pickle.PicklingError, TypeError, AttributeError):  # only an estimate
        return 0
