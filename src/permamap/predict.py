"""Prediction: :func:`predict_block` (pure, one array) and :func:`predict_map` (the tiled loop to a COG)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .covariates.stack import read_stack
from .errors import DataError
from .grid import Grid
from .rasterio_io import check_on_grid, open_tiled, scratch_path, to_cog

__all__ = ["BANDS", "NODATA", "predict_block", "predict_map"]

log = logging.getLogger(__name__)

NODATA = 255
BANDS = ("class", "probability")


def positive_class_index(model: Any) -> int:
    classes = list(getattr(model, "classes_", [0, 1]))
    if 1 not in classes:
        raise DataError(f"model classes {classes} do not include 1 (permafrost); retrain on 0/1 labels")
    return classes.index(1)


def predict_block(model: Any, block: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Predict one ``(band, row, col)`` block of factors; return uint8 ``(2, row, col)``.

    Band 0 is the class (1 permafrost, 0 not), band 1 the permafrost probability in percent;
    cells with any missing factor are 255 in both.
    """
    if block.ndim != 3:
        raise DataError(f"a block must be (band, row, col), got shape {block.shape}")
    _, rows, cols = block.shape
    out = np.full((2, rows, cols), NODATA, dtype=np.uint8)
    valid = np.isfinite(block).all(axis=0)
    if valid.any():
        x = block[:, valid].T
        proba = model.predict_proba(x)[:, positive_class_index(model)]
        out[0][valid] = (proba >= threshold).astype(np.uint8)
        out[1][valid] = np.rint(proba * 100).astype(np.uint8)
    return out


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
) -> Path:
    """Predict the map for one epoch tile by tile and write ``out`` as a COG (atomically).

    Peak memory is one tile of factors plus the model; tiles without any land are skipped.
    """
    check_on_grid(stack, grid)
    tags = {"epoch": epoch, "model": model_name, "permamap_version": __version__,
            "features": ",".join(features), "class_values": "1=permafrost,0=not,255=nodata",
            "probability_units": "percent"}
    with scratch_path(Path(out)) as work:
        with open_tiled(work, grid, 2, "uint8", NODATA, BANDS, tags=tags) as ds:
            tiles = list(grid.tiles(tile_shape))
            for w in tqdm(tiles, desc=f"predict {epoch}", unit="tile", disable=not progress):
                block = read_stack(stack, w, features)
                ds.write(predict_block(model, block), window=w)
        to_cog(work, Path(out))
    log.info("wrote %s", out)
    return Path(out)
