"""How the maps compare with the virtual world's true maps: agreement, and whether the uncertainty is honest.

Only a source that knows the truth (the virtual Eurasia) can answer these; every figure is
area-weighted (km² on the ellipsoid, never cell counts) and read tile by tile, so the check costs
bounded memory at any resolution.

- **agreement**: share of the mapped land area whose class equals the true class;
- **coverage**: share of the land area that is mapped;
- **true extent**: true permafrost area over the mapped cells (the cells the map's own extent
  counts), to set beside the map's extent and its 95 % interval;
- **expected vs observed accuracy**: the map's ``expected_accuracy`` band binned by its own value,
  with the share of each bin's area whose class is right (pooled over the epochs), twice: as the
  sites observe it (``observed_accuracy``: the chance that a borehole in the cell carries the
  mapped class, the truth's second band) and against the true class (``observed_class_accuracy``). The
  error profile is fitted on spatial-CV errors against site labels, which a borehole draws from
  its cell's frozen share (up to 50 % against the cell's class where the mean ground is at
  0 °C), so it estimates the first; the second is higher near the boundary, where the map beats
  the noisy labels it learnt from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from ..contracts import EXPECTED_ACCURACY_BAND, MAP_NODATA, TRUTH_NODATA
from ..grid import Grid
from ..predict.block import probability_percent
from .sites import site_label_probability

__all__ = [
    "ACCURACY_EDGES",
    "SITE_LABEL_BAND",
    "TRUTH_BANDS",
    "TruthCheck",
    "extent_in_interval",
    "truth_check",
    "truth_tile",
]

SITE_LABEL_BAND = "site_label_probability"

#: Bin edges of the expected accuracy (fractions), as :func:`permamap.selection.errorprofile.accuracy_by_bin`.
ACCURACY_EDGES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


@dataclass
class TruthCheck:
    """Per epoch agreement, coverage and true extent; pooled expected-vs-observed accuracy bins."""

    agreement: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    true_extent_km2: dict[str, float] = field(default_factory=dict)
    accuracy_bins: list[dict[str, float | None]] = field(default_factory=list)


#: Bands of a true map (``truth/permafrost_truth_<year>.tif``).
TRUTH_BANDS = ("class", SITE_LABEL_BAND)


def truth_tile(world: Any, grid: Grid, epoch: int, window: Window, window_years: int) -> np.ndarray:
    """The true map's bands for one window: uint8 ``(2, rows, cols)``, 255 off land.

    Band 1 is the true class (TTOP < 0 °C, as :meth:`VirtualWorld.truth`); band 2 the chance in
    percent that a borehole here is labelled permafrost
    (:func:`~permamap.demo.sites.site_label_probability`): what the sites, and so spatial CV and the
    error profile, can observe. One evaluation of the ground rule, on the land cells only
    (:meth:`VirtualWorld.truth_window`), gives both.
    """
    found = world.truth_window(grid, epoch, window, window_years)
    out = np.full((2, *found.truth.shape), TRUTH_NODATA, dtype=np.uint8)
    if found.sel is None:
        return out
    out[0] = found.truth
    out[1][found.sel] = probability_percent(
        site_label_probability(found.ttop, found.inputs.t.mean(axis=0))
    )
    out[:, ~found.land] = TRUTH_NODATA
    return out


def _band(ds: Any, name: str) -> int | None:
    names = list(ds.descriptions)
    return names.index(name) + 1 if name in names else None


def truth_check(
    maps: Mapping[int, Path],
    truths: Mapping[int, Path],
    grid: Grid,
    tile_shape: tuple[int, int],
    edges: Sequence[float] = ACCURACY_EDGES,
) -> TruthCheck:
    """Compare each epoch's map with its true map (module docstring), tile by tile."""
    out = TruthCheck()
    e = np.asarray(edges, dtype=np.float64)
    n_bins = len(e) - 1
    w_sum, w_exp, w_ok = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    w_site = np.zeros(n_bins)
    has_site_view = True
    n_cells = np.zeros(n_bins, dtype=np.int64)
    for epoch, path in maps.items():
        agree = mapped = land_total = true_area = 0.0
        with rasterio.open(path) as m, rasterio.open(truths[epoch]) as t:
            band_ea = _band(m, EXPECTED_ACCURACY_BAND)
            band_lab = _band(t, SITE_LABEL_BAND)
            has_site_view = has_site_view and band_lab is not None
            for w in grid.tiles(tile_shape):
                pred, true = m.read(1, window=w), t.read(1, window=w)
                area = grid.cell_area_km2(w)
                land = true != TRUTH_NODATA
                ok = land & (pred != MAP_NODATA)
                right = ok & (pred == true)
                agree += float(area[right].sum())
                mapped += float(area[ok].sum())
                land_total += float(area[land].sum())
                true_area += float(area[ok & (true == 1)].sum())
                if band_ea is None:
                    continue
                ea = m.read(band_ea, window=w)
                sel = ok & (ea != MAP_NODATA)
                x = ea[sel] / 100.0
                idx = np.clip(np.searchsorted(e, x, side="right") - 1, 0, n_bins - 1)
                a = area[sel]
                w_sum += np.bincount(idx, a, n_bins)
                w_exp += np.bincount(idx, a * x, n_bins)
                w_ok += np.bincount(idx, a * right[sel], n_bins)
                n_cells += np.bincount(idx, minlength=n_bins)
                if band_lab is not None:
                    q = t.read(band_lab, window=w)[sel] / 100.0
                    seen = np.where(pred[sel] == 1, q, 1.0 - q)
                    w_site += np.bincount(idx, a * seen, n_bins)
        key = str(epoch)
        out.agreement[key] = agree / mapped if mapped else float("nan")
        out.coverage[key] = mapped / land_total if land_total else float("nan")
        out.true_extent_km2[key] = true_area
    out.accuracy_bins = [
        {
            "low": float(e[i]),
            "high": float(e[i + 1]),
            "n": int(n_cells[i]),
            "weight": float(w_sum[i]),
            "mean_expected": float(w_exp[i] / w_sum[i]),
            # as the sites observe it when the truth has the site-label band, else the class
            "observed_accuracy": float((w_site if has_site_view else w_ok)[i] / w_sum[i]),
            "observed_class_accuracy": float(w_ok[i] / w_sum[i]),
        }
        for i in range(n_bins)
        if w_sum[i] > 0
    ]
    return out


def extent_in_interval(
    area_km2: Mapping[str, Mapping[str, Any]], true_extent_km2: Mapping[str, float]
) -> dict[str, bool]:
    """Per epoch: does the map's 95 % extent interval contain the true extent?

    >>> extent_in_interval({"2000": {"permafrost_extent_km2_ci95": [9.0, 11.0]}}, {"2000": 10.5})
    {'2000': True}
    """
    out = {}
    for epoch, truth in true_extent_km2.items():
        ci = area_km2.get(epoch, {}).get("permafrost_extent_km2_ci95")
        if ci is not None:
            out[epoch] = bool(ci[0] <= truth <= ci[1])
    return out
