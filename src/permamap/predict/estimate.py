"""Dry run of :func:`~permamap.predict.predict_map`: :func:`estimate_map` and :class:`MapEstimate`."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..aoa import AOAReference
from ..contracts import DEFAULT_TILE
from ..covariates.stack import read_stack
from ..fileio import check_on_grid
from ..grid import Grid
from ..inference import Predictor, compile_model
from .block import ErrorProfileLike, MembersLike, map_bands

__all__ = ["MapEstimate", "estimate_map"]

_WRITE_SECONDS_PER_MILLION = 0.3


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
                f"{self.read_seconds_per_tile:.2f} s to read a tile"
                + (
                    f" (of which {self.details['members_seconds_per_million']:.2f} s for "
                    f"{self.details['n_members']} ensemble members)"
                    if self.details.get("n_members")
                    else ""
                ),
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
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    n_jobs: int | None = None,
    aoa: AOAReference | None = None,
    sample_tiles: int = 6,
    predictor: Predictor | None = None,
    members: MembersLike | None = None,
    error_profile: ErrorProfileLike | None = None,
    member_classes: bool = False,
) -> MapEstimate:
    """Dry run: estimate cells, tiles, time, peak memory and disk of :func:`predict_map`.

    Reads ``sample_tiles`` tiles spread evenly over the grid, times reading and predicting them
    (on at most 50,000 valid cells each) and extrapolates. Nothing is written. With ``members``
    (the ensemble behind the ``uncertainty`` band) their prediction is timed too and reported
    apart (``details["members_seconds_per_million"]``); with ``error_profile`` the full
    dissimilarity index is timed instead of the AOA's bounded search; ``member_classes`` adds the
    uint32 member-classes file to the disk and memory figures.
    """
    stack = Path(stack)
    check_on_grid(stack, grid)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    predictor = predictor if predictor is not None else compile_model(model, len(features))
    tiles = list(grid.tiles(tile_shape))
    pick = sorted({round(i) for i in np.linspace(0, len(tiles) - 1, min(sample_tiles, len(tiles)))})
    valid = cells_seen = timed_cells = 0
    t_read = t_pred = t_members = 0.0
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
            if members is not None:
                members.predict_members(x[:64])
            t = time.perf_counter()
            predictor.predict_stats(x)
            if aoa is not None:
                if error_profile is None:
                    aoa.inside(x)
                else:
                    aoa.dissimilarity(x)
            t_pred += time.perf_counter() - t
            if members is not None:
                t = time.perf_counter()
                members.predict_members(x)
                t_members += time.perf_counter() - t
            timed_cells += len(x)
    cells = grid.height * grid.width
    frac = valid / cells_seen if cells_seen else 0.0
    members_s_per_m = t_members / timed_cells * 1e6 if timed_cells else 0.0
    s_per_m = (t_pred + t_members) / timed_cells * 1e6 if timed_cells else 0.0
    read_per_tile = t_read / max(1, len(pick))
    est = (frac * cells * s_per_m / 1e6 + read_per_tile * len(tiles)) / n_jobs
    # Saving tiles and the serial COG assembly: ≈0.3 s per million grid cells, measured on the
    # 30 arc-sec Eurasia grid (131.7 M cells: 29 s tiles incl. a trivial model + 14 s COG, 2 cores).
    est += _WRITE_SECONDS_PER_MILLION * cells / 1e6
    n_bands = len(map_bands(aoa, error_profile))
    n_members = int(members.n_members) if members is not None else 0
    tile_cells = int(tile_shape[0]) * int(tile_shape[1])
    # Per tile in flight: float32 block + transposed rows + codes + float64 intermediates + bands,
    # and with an ensemble the members' float64 probabilities (twice: raw and calibrated).
    per_tile = tile_cells * (len(features) * (4 + 4 + 2) + 8 * 6 + n_bands + 16 * n_members)
    model_bytes = _model_bytes(predictor)
    members_bytes = 0
    if members is not None:
        get = getattr(members, "predictors", None)
        members_bytes = sum(_model_bytes(p) for p in get()) if callable(get) else 0
    peak = 400 * 1024**2 + model_bytes + members_bytes + 2 * n_jobs * per_tile
    bits = 4 if member_classes and members is not None else 0  # uint32 member classes
    store = int(frac * cells * (n_bands + bits) + len(tiles) * 128)
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
            "n_members": n_members,
            "members_bytes": members_bytes,
            "members_seconds_per_million": members_s_per_m,
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
