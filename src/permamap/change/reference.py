"""Comparison with a reference map: resampling it onto the grid, agreement, kappa, confusion in km².

A reference may be any GDAL raster with a CRS — a probability (percent or fraction), classes,
IPA zones (:data:`IPA_ZONE_PERCENT`) or another permamap map. :func:`resample_reference` turns it
into a map in the permamap contract on the run's grid (streamed into the path its caller gives);
:func:`compare_with_reference` then reads both window by window and sums the pure maths of
:mod:`permamap.change.agreement`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..contracts import CLASS_NODATA, DEFAULT_TILE
from ..errors import ConfigError, DataError, InputFileError
from ..fileio import warp_window, write_blocks_cog
from ..grid import Grid
from .agreement import agreement_stats, confusion_area, confusion_table
from .maps import (
    READ_ERRORS,
    band_by_description,
    iter_tiles,
    map_bands,
    one_line,
    open_map,
    read_class,
    read_prob,
    reading,
    version,
)

__all__ = [
    "IPA_ZONE_PERCENT",
    "REFERENCE_KINDS",
    "ReferenceComparison",
    "compare_with_reference",
    "resample_reference",
]

logger = logging.getLogger(__name__)

IPA_ZONE_PERCENT: dict[int, float] = {0: 0.0, 1: 95.0, 2: 70.0, 3: 30.0, 4: 5.0}
"""Zone code → permafrost percent for a zone raster: 0 none, 1 continuous (90–100 %),
2 discontinuous (50–90 %), 3 sporadic (10–50 %), 4 isolated patches (0–10 %); the middle of each
range (Brown et al. 1997 / IPA zones, the same classes as Obu et al. 2019)."""

REFERENCE_KINDS: tuple[str, ...] = ("auto", "map", "probability", "fraction", "class", "zones")
"""What a reference raster may hold (see :func:`resample_reference`)."""

_REFERENCE_FIX = "copy or download the reference again, or leave reference unset"
_ON_GRID_FIX = "delete it; the change stage writes it again"

_VALID_RANGE = {"probability": (0.0, 100.0), "fraction": (0.0, 1.0), "class": (0.0, 1.0)}


# ================================================================================================
# The reference on the grid
# ================================================================================================
def _guess_kind(src: Any, band: int, nodata: float | None) -> str:
    """Guess the reference kind from a decimated read (cheap on a COG with overviews)."""
    if band_by_description(src, "class") is not None:
        return "map"
    scale = max(1, max(src.height, src.width) // 1024)
    with reading(Path(src.name), "reference map", _REFERENCE_FIX):
        arr = src.read(
            band,
            out_shape=(max(1, src.height // scale), max(1, src.width // scale)),
            resampling=Resampling.nearest,
            masked=True,
        ).astype(np.float64)
    vals = np.ma.compressed(arr)
    if nodata is not None:
        vals = vals[vals != nodata]
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        raise DataError(
            f"reference {src.name} holds no valid values in its overview; check its nodata value "
            "or pass reference_nodata"
        )
    integral = bool(np.all(vals == np.round(vals)))
    lo, hi = float(vals.min()), float(vals.max())
    if lo < 0:
        raise DataError(
            f"reference {src.name} holds negative values (min {lo:g}) and declares no nodata "
            f"({src.nodata}); pass reference_nodata=<value> or give reference_kind explicitly"
        )
    if integral and hi <= 1:
        return "class"
    if hi <= 1:
        return "fraction"
    if integral and hi <= 4 and src.dtypes[band - 1] in ("uint8", "int8", "int16", "uint16"):
        return "zones"
    if hi <= 100:
        return "probability"
    raise DataError(
        f"cannot tell what reference {src.name} holds: values {lo:g}–{hi:g}; a probability "
        "must be 0–100 % or 0–1, a class 0/1, zones 0–4; if the larger values are no data, "
        "pass reference_nodata, otherwise pass reference_kind"
    )


def _check_reference_values(
    src: Any,
    band: int,
    kind: str,
    nodata: float | None,
    zones: Mapping[int, float],
    reference: Path,
) -> None:
    """Scan the reference band once, in chunks, for values its kind does not allow.

    Checking before resampling matters: an undeclared no-data value (say 255 in a percent map)
    averaged with valid neighbours could land inside 0–100 and go unnoticed.
    """
    hint = (
        "the file declares no nodata; if {v:g} means no data, pass reference_nodata={v:g}"
        if nodata is None
        else f"its nodata is {nodata:g}"
    )
    rows = max(1, min(src.height, (16 * 2**20) // max(1, src.width)))
    for r0 in range(0, src.height, rows):
        with reading(reference, "reference map", _REFERENCE_FIX):
            arr = src.read(band, window=Window(0, r0, src.width, min(rows, src.height - r0)))
        vals = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr.ravel()
        if nodata is not None:
            vals = vals[vals != nodata]
        if vals.size == 0:
            continue
        if kind == "zones":
            codes = np.unique(vals)
            bad = [c for c in codes.tolist() if c != int(c) or int(c) not in zones]
            if bad:
                v = float(bad[0])
                raise DataError(
                    f"reference {reference} read as zones holds code {v:g}, not in the zone "
                    f"table {dict(zones)} ({hint.format(v=v)}); pass zone_percent={{code: percent}}"
                )
            continue
        lo, hi = _VALID_RANGE[kind]
        outside = vals[(vals < lo) | (vals > hi)]
        if kind == "class" and outside.size == 0:
            outside = vals[(vals != 0) & (vals != 1)]
        if outside.size:
            v = float(outside[0])
            raise DataError(
                f"reference {reference} read as {kind} holds {v:g}, outside {lo:g}–{hi:g} "
                f"({hint.format(v=v)}); or pass another reference_kind"
            )


def resample_reference(
    reference: Path,
    grid: Grid,
    out_path: Path,
    *,
    kind: str = "auto",
    band: int = 1,
    nodata: float | None = None,
    zone_percent: Mapping[int, float] | None = None,
    threshold_percent: float = 50.0,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> tuple[Path, str]:
    """Resample a user's reference map onto the Grid, as a map in the permamap contract.

    The reference may be in any CRS and resolution; it is warped on the fly (``average`` for
    probabilities, ``mode`` for classes and zones) window by window. The result has band 1
    ``class`` (probability ≥ ``threshold_percent``) and band 2 ``probability`` (percent), 255 no
    data, so it can be compared with — or shown like — any permamap map.

    Parameters
    ----------
    reference : Path
        Any GDAL raster with a CRS, e.g. the Obu et al. (2019) permafrost probability GeoTIFF.
    grid : Grid
        Target grid.
    out_path : Path
        Where to write the resampled map (a uint8 COG, streamed tile by tile).
    kind : {"auto", "map", "probability", "fraction", "class", "zones"}
        ``probability`` percent 0–100, ``fraction`` 0–1, ``class`` 0/1, ``zones`` codes mapped by
        ``zone_percent``, ``map`` a permamap map. ``auto`` decides from band descriptions and a
        decimated read, and logs the decision.
    band : int
        Band to read (ignored for ``map``).
    nodata : float, optional
        No-data value of the reference; overrides the file's. Cells outside the reference are
        always no data.
    zone_percent : mapping of int to float, optional
        Zone code → permafrost percent for ``kind="zones"``; :data:`IPA_ZONE_PERCENT` by default.
    threshold_percent : float
        Probability at and above which a cell is permafrost.
    tile_shape : (int, int)
        Rows and columns warped at once.
    progress : bool, default=False
        Show a progress bar over the tiles.
    extra_tags : mapping of str to str, optional
        More tags for the written map (the change stage's input fingerprint).

    Returns
    -------
    (Path, str)
        The written path and the kind used.
    """
    reference = Path(reference)
    if kind not in REFERENCE_KINDS:
        raise ConfigError(f"reference kind {kind!r} is not one of {REFERENCE_KINDS}")
    if not reference.is_file():
        raise InputFileError(
            f"reference map {reference} does not exist; give a GeoTIFF (e.g. the Obu et al. 2019 "
            "permafrost probability) or leave reference unset"
        )
    zones = dict(IPA_ZONE_PERCENT if zone_percent is None else zone_percent)
    try:
        src = rasterio.open(reference)
    except READ_ERRORS as exc:
        raise InputFileError(
            f"reference map {reference} cannot be read ({one_line(exc)}); give a GeoTIFF or "
            "another raster GDAL reads, or leave reference unset"
        ) from exc
    with src:
        if src.crs is None:
            raise InputFileError(
                f"reference map {reference} has no CRS; set it (e.g. `gdal_edit.py -a_srs "
                f"EPSG:3995 {reference.name}`) so it can be placed on the grid"
            )
        if not 1 <= band <= src.count:
            raise ConfigError(
                f"reference band {band} does not exist; {reference} has {src.count} band(s)"
            )
        src_nodata = nodata if nodata is not None else src.nodatavals[band - 1]
        if kind == "auto":
            kind = _guess_kind(src, band, src_nodata)
            logger.info(
                "reference %s read as kind %r (pass reference_kind to override)",
                reference.name,
                kind,
            )
        if kind == "map":
            cls_band = band_by_description(src, "class") or 1
            prob_band = band_by_description(src, "probability")
            src_nodata = CLASS_NODATA if nodata is None else nodata
        else:
            cls_band, prob_band = band, None
            _check_reference_values(src, band, kind, src_nodata, zones, reference)
        on_grid = grid.matches(src.crs, src.transform, (src.height, src.width))
        if not on_grid:
            logger.info(
                "reference %s is in %s at %g × %g; resampling to the grid (%s, %g)",
                reference.name,
                src.crs,
                src.res[0],
                src.res[1],
                grid.crs,
                grid.res,
            )
        categorical = kind in ("map", "class", "zones")
        cls_resampling = Resampling.mode if categorical else Resampling.average

        def blocks() -> Iterator[tuple[Window, np.ndarray]]:
            for window in iter_tiles(grid, tile_shape, progress, "reference on grid"):
                with reading(reference, "reference map", _REFERENCE_FIX):
                    raw = warp_window(
                        src, cls_band, grid, window, src_nodata, cls_resampling, on_grid
                    )
                    prob_raw = (
                        warp_window(
                            src, prob_band, grid, window, src_nodata, Resampling.average, on_grid
                        )
                        if prob_band is not None
                        else None
                    )
                cls, prob = _reference_block(
                    raw, prob_raw, kind, zones, threshold_percent, reference, src_nodata
                )
                yield window, np.stack([cls, prob])

        write_blocks_cog(
            Path(out_path),
            grid,
            blocks(),
            count=2,
            descriptions=["class", "probability"],
            tags={
                "kind": "reference",
                "source": reference.name,
                "reference_kind": kind,
                "threshold_percent": f"{threshold_percent:g}",
                "permamap_version": version(),
                **(extra_tags or {}),
            },
            nodata=CLASS_NODATA,
            overview_resampling="mode",
        )
    return Path(out_path), kind


def _reference_block(
    raw: np.ndarray,
    prob_raw: np.ndarray | None,
    kind: str,
    zones: Mapping[int, float],
    threshold_percent: float,
    reference: Path,
    src_nodata: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a warped float block of the reference into (class, probability %) uint8 blocks."""
    valid = np.isfinite(raw)
    hint = (
        "it declares no nodata; if {v:g} means no data, pass reference_nodata={v:g}"
        if src_nodata is None
        else f"its nodata is {src_nodata:g}"
    )
    if kind == "map":
        pct = prob_raw if prob_raw is not None else np.where(raw == 1, 100.0, 0.0)
        pct = np.where(valid & np.isfinite(pct), pct, np.nan)
    elif kind == "probability":
        pct = raw
    elif kind == "fraction":
        pct = raw * 100.0
    elif kind == "class":
        bad = valid & (raw != 0) & (raw != 1)
        if bad.any():
            v = float(raw[bad][0])
            raise DataError(
                f"reference {reference} read as classes holds value {v:g}; classes must be 0 or 1 "
                f"({hint.format(v=v)}), or pass another reference_kind"
            )
        pct = raw * 100.0
    else:  # zones
        pct = np.full(raw.shape, np.nan)
        codes = np.unique(raw[valid])
        unknown = [c for c in codes if int(c) not in zones or c != int(c)]
        if unknown:
            v = float(unknown[0])
            raise DataError(
                f"reference {reference} read as zones holds code {v:g}, not in the zone table "
                f"{dict(zones)} ({hint.format(v=v)}); pass zone_percent={{code: percent}}"
            )
        for code in codes:
            pct[raw == code] = zones[int(code)]
    pct = np.where(valid, pct, np.nan)
    ok = np.isfinite(pct)
    bad = ok & ((pct < 0) | (pct > 100 + 1e-6))
    if bad.any():
        v = float(raw[bad][0])
        raise DataError(
            f"reference {reference} read as {kind} gives {float(pct[bad][0]):g} %, outside 0–100 "
            f"(raw value {v:g}; {hint.format(v=v)}); or pass another reference_kind"
        )
    prob = np.full(raw.shape, CLASS_NODATA, dtype=np.uint8)
    prob[ok] = np.clip(np.rint(pct[ok]), 0, 100).astype(np.uint8)
    cls = np.full(raw.shape, CLASS_NODATA, dtype=np.uint8)
    if kind in ("map", "class"):
        cls[ok] = (raw[ok] == 1).astype(np.uint8)
    else:
        cls[ok] = (pct[ok] >= threshold_percent).astype(np.uint8)
    return cls, prob


# ================================================================================================
# Map against reference
# ================================================================================================
@dataclass(frozen=True, eq=False)
class ReferenceComparison:
    """What :func:`compare_with_reference` found for one map.

    Attributes
    ----------
    stats : dict
        JSON-able: :func:`agreement_stats` plus ``epoch``, ``reference``, ``reference_kind``,
        ``map_probability_weighted_km2``, ``reference_probability_weighted_km2`` (on the compared
        cells), ``probability_weighted_difference_km2`` and ``confusion_km2`` (2 × 2 list,
        ``[map][reference]``).
    confusion : DataFrame
        The confusion as a table (``map_class, reference_class, area_km2``), the
        ``reference_confusion_<year>.csv`` of a run.
    """

    stats: dict[str, Any]
    confusion: pd.DataFrame


def compare_with_reference(
    map_path: Path,
    reference: Path,
    grid: Grid,
    *,
    epoch: int | None = None,
    reference_kind: str = "auto",
    reference_band: int = 1,
    reference_nodata: float | None = None,
    zone_percent: Mapping[int, float] | None = None,
    threshold_percent: float = 50.0,
    resampled_path: Path | None = None,
    tile_shape: tuple[int, int] = DEFAULT_TILE,
    progress: bool = False,
) -> ReferenceComparison:
    """Compare a map with a reference map: agreement, kappa, confusion in km², area difference.

    The reference is resampled to the grid first (:func:`resample_reference`), then both are read
    window by window. Only cells with data in both count; the comparison says how much area that
    is (``compared_km2``).

    Parameters
    ----------
    map_path : Path
        A permamap map on ``grid``.
    reference : Path
        The user's reference raster (any CRS, resolution, nodata), or a map already resampled.
    grid : Grid
        The run's grid.
    epoch : int, optional
        Epoch of the map, for the result.
    reference_kind, reference_band, reference_nodata, zone_percent, threshold_percent
        See :func:`resample_reference`.
    resampled_path : Path, optional
        Where to keep the resampled reference; a temporary folder by default. If this file
        exists, is on the grid and was made from a file of the same name, it is reused.
    tile_shape : (int, int)
        Rows and columns read at once.
    progress : bool, default=False
        Show progress bars over the tiles.

    Returns
    -------
    ReferenceComparison
        ``stats`` (agreement, kappa, extents, confusion in km²) and the ``confusion`` table.

    Examples
    --------
    Comparing a map with itself gives ``overall_agreement == kappa == 1``.
    """
    map_path = Path(map_path)
    scratch: tempfile.TemporaryDirectory[str] | None = None
    if resampled_path is None:
        scratch = tempfile.TemporaryDirectory(prefix="permamap-ref-")
        target = Path(scratch.name) / "reference_on_grid.tif"
    else:
        target = Path(resampled_path)
    try:
        kind = reference_kind
        if target.is_file():
            try:
                with rasterio.open(target) as r:
                    reusable = (
                        grid.matches(r.crs, r.transform, (r.height, r.width))
                        and r.tags().get("source") == Path(reference).name
                    )
                    kind = r.tags().get("reference_kind", "map")
            except READ_ERRORS:  # a damaged leftover: make it again
                reusable = False
            if not reusable:  # another grid or another reference: resample again
                target.unlink()
        if not target.is_file():
            _, kind = resample_reference(
                reference,
                grid,
                target,
                kind=reference_kind,
                band=reference_band,
                nodata=reference_nodata,
                zone_percent=zone_percent,
                threshold_percent=threshold_percent,
                tile_shape=tile_shape,
                progress=progress,
            )
        cm = np.zeros((2, 2))
        pw = np.zeros(2)
        with (
            open_map(map_path, grid, epoch if epoch is not None else "?") as src,
            rasterio.open(target) as ref,
        ):
            bands = map_bands(src, map_path)
            for window in iter_tiles(grid, tile_shape, progress, f"compare {map_path.name}"):
                cls = read_class(src, bands.cls, window, map_path)
                prob = read_prob(src, bands.prob, cls, window, map_path)
                with reading(target, "reference on the grid", _ON_GRID_FIX):
                    rcls = ref.read(1, window=window)
                    rprob = ref.read(2, window=window)
                reference_tile_sums(cm, pw, cls, prob, rcls, rprob, grid.cell_area_km2(window))
    finally:
        if scratch is not None:
            scratch.cleanup()
    return comparison_from_sums(cm, pw, epoch, map_path.name, Path(reference).name, kind)


def reference_tile_sums(
    cm: np.ndarray,
    pw: np.ndarray,
    cls: np.ndarray,
    prob: np.ndarray,
    rcls: np.ndarray,
    rprob: np.ndarray,
    area: np.ndarray,
) -> None:
    """Add one tile to the confusion ``cm`` (2 × 2 km²) and probability-weighted areas ``pw``.

    Only cells with data in the map and the reference count; ``pw`` is (map, reference).
    """
    both = (cls != CLASS_NODATA) & (rcls != CLASS_NODATA)
    cm += confusion_area(cls, rcls, area, both)
    ok = both & (prob != CLASS_NODATA) & (rprob != CLASS_NODATA)
    pw[0] += float(np.sum(area[ok] * prob[ok] / 100.0))
    pw[1] += float(np.sum(area[ok] * rprob[ok] / 100.0))


def comparison_from_sums(
    cm: np.ndarray,
    pw: np.ndarray,
    epoch: int | None,
    map_name: str,
    reference_name: str,
    kind: str,
) -> ReferenceComparison:
    """The :class:`ReferenceComparison` of whole-grid sums of :func:`reference_tile_sums`."""
    stats = agreement_stats(cm)
    result: dict[str, Any] = {
        "epoch": epoch,
        "reference": reference_name,
        "reference_kind": kind,
        **stats,
        "map_probability_weighted_km2": float(pw[0]),
        "reference_probability_weighted_km2": float(pw[1]),
        "probability_weighted_difference_km2": float(pw[0] - pw[1]),
        "confusion_km2": cm.tolist(),
    }
    if stats["compared_km2"] == 0:
        logger.warning(
            "map %s and reference %s share no cell with data; "
            "check that the reference covers the grid",
            map_name,
            reference_name,
        )
    logger.info(
        "map %s vs reference %s: agreement %s, kappa %s over %.0f km²",
        map_name,
        reference_name,
        _fmt(stats["overall_agreement"]),
        _fmt(stats["kappa"]),
        stats["compared_km2"],
    )
    return ReferenceComparison(stats=result, confusion=confusion_table(cm))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
