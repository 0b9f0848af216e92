"""One projection tile: the baseline's factors with each GCM's future climate, predicted and averaged.

:func:`future_blocks` is the pure maths (the climate factors of each GCM's monthly climate
replace the baseline's; static factors stay); :class:`ProjectionJob` reads, predicts and stores a
tile for the tile runner of :mod:`permamap.predict.tiles`, so projections run on the same thread
pool or dask cluster as the maps and resume from the same kind of tile store.

Bands of a projection map (:data:`PROJECTION_BANDS`, uint8, 255 no data):

- ``class``: 1 where the GCM-mean probability reaches the threshold;
- ``probability``: the mean over GCMs of the calibrated probability, percent;
- ``gcm_spread``: 100 × the population sd of the GCMs' probabilities, percentage points (0–50);
- with an AOA reference, ``aoa``: 1 when every GCM's factors lie inside the area of
  applicability, 0 when at least one extrapolates; ``aoa_gcm_share``: percent of GCMs inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from ..aoa import AOAReference
from ..contracts import MAP_NODATA
from ..covariates import factors as fx
from ..covariates.stack import read_stack
from ..grid import Grid
from ..inference import Predictor
from ..predict.block import member_areas, member_classes, probability_percent
from ..predict.store import TileStore
from ..selection.calibration import Calibrator
from .sources import CLIMATE_FACTORS, Monthly

__all__ = ["PROJECTION_BANDS", "SUM_NAMES", "ProjectionJob", "future_blocks", "projection_bands"]

PROJECTION_BANDS: tuple[str, ...] = ("class", "probability", "gcm_spread")
AOA_BANDS: tuple[str, ...] = ("aoa", "aoa_gcm_share")
#: the per-tile totals of a projection map, km² (summed over tiles into its sidecar)
SUM_NAMES: tuple[str, ...] = (
    "permafrost_extent_km2",
    "probability_weighted_km2",
    "outside_aoa_km2",
    "mapped_km2",
)
SNOW_DAYS_MAX = 365.0


def projection_bands(aoa: AOAReference | None) -> tuple[str, ...]:
    """Band names of a projection map.

    >>> projection_bands(None)
    ('class', 'probability', 'gcm_spread')
    """
    return PROJECTION_BANDS + (AOA_BANDS if aoa is not None else ())


def future_blocks(
    base: np.ndarray,
    features: Sequence[str],
    climates: Sequence[Monthly],
    baseline: Monthly | None = None,
) -> np.ndarray:
    """The factor blocks of each GCM: the baseline block with its climate factors recomputed.

    Parameters
    ----------
    base : numpy.ndarray, (n_features, rows, cols)
        The baseline epoch's stack in model order.
    features : sequence of str
        The model's features (band names of ``base``).
    climates : sequence of (t, p)
        Each GCM's future monthly temperature (°C) and precipitation (mm/month), ``(12, rows, cols)``.
    baseline : (t, p), optional
        The baseline's monthly climate when its ``snow_days`` came from a snow product: the
        future snow is then the product plus the degree-day rule's change, clipped to 0–365 days.
        Without it the future snow is the rule itself (as the baseline's was).

    Returns
    -------
    numpy.ndarray, float32, (n_gcms, n_features, rows, cols)
        NaN where the baseline or a GCM's climate is missing.

    Examples
    --------
    >>> base = np.array([[[-5.0]], [[300.0]]], dtype=np.float32)  # maat, elevation
    >>> t, p = np.full((12, 1, 1), 1.0), np.full((12, 1, 1), 10.0)
    >>> future_blocks(base, ["maat", "elevation"], [(t, p)])[0, :, 0, 0].tolist()
    [1.0, 300.0]
    """
    features = list(features)
    climate_rows = [(i, n) for i, n in enumerate(features) if n in CLIMATE_FACTORS]
    out = np.repeat(base[None].astype(np.float32), len(climates), axis=0)
    if not climate_rows:
        return out
    snow_i = features.index("snow_days") if "snow_days" in features else None
    rule_base = None
    if snow_i is not None and baseline is not None:
        rule_base = fx.snow_cover_days(*baseline)
    for g, (t, p) in enumerate(climates):
        values = fx.climate_factors(t, p)
        if snow_i is not None:
            snow = fx.snow_cover_days(t, p)
            if rule_base is not None:
                snow = np.clip(base[snow_i] + (snow - rule_base), 0.0, SNOW_DAYS_MAX)
            values["snow_days"] = snow
        for i, name in climate_rows:
            out[g, i] = np.asarray(values[name], dtype=np.float32)
    return out


@dataclass(frozen=True)
class ProjectionJob:
    """One scenario × period: what a worker needs for its tiles except the predictor (picklable)."""

    stack: Path
    features: tuple[str, ...]
    store: TileStore
    gcm_store: TileStore
    source: Any  # FutureClimate
    scenario: str
    period: str
    gcms: tuple[str, ...]
    grid: Grid
    n_bands: int
    threshold: float = 0.5
    calibration: Calibrator | None = None

    def is_done(self, window: Window) -> bool:
        """The tile's map bands and its GCM classes are stored."""
        return self.store.is_done(window) and self.gcm_store.is_done(window)

    def predict(
        self,
        predictor: Predictor,
        aoa: AOAReference | None,
        window: tuple[int, int, int, int],
        members: Any = None,
    ) -> str:
        """Read, project and store one tile ``(col_off, row_off, width, height)``."""
        w = Window(*window)
        base = read_stack(self.stack, w, self.features)
        valid = np.isfinite(base).all(axis=0)
        if not valid.any():
            self.gcm_store.write(w, None)
            self.store.write(w, None)
            return "empty"
        climates = self.source.monthly(self.grid, w, self.scenario, self.period, self.gcms)
        baseline = self.source.baseline_monthly(self.grid, w)
        blocks = future_blocks(base, self.features, climates, baseline)
        valid &= np.isfinite(blocks).all(axis=(0, 1))
        p = np.empty((len(self.gcms), int(valid.sum())))
        inside = np.ones(p.shape, dtype=bool)
        for g in range(len(self.gcms)):
            x = np.ascontiguousarray(blocks[g][:, valid].T)
            proba, _ = predictor.predict_stats(x)
            p[g] = proba if self.calibration is None else self.calibration.apply(proba)
            if aoa is not None and x.shape[0]:
                inside[g] = aoa.inside(x)
        area = self.grid.cell_area_km2(w)
        bands, sums = self._bands(p, inside, valid, aoa is not None, area)
        self.gcm_store.write_extra(w, "sums", member_areas(p, valid, self.threshold, area))
        self.gcm_store.write(w, member_classes(p, valid, self.threshold))
        self.store.write_extra(w, "sums", sums)
        self.store.write(w, bands)  # last: the map tile marks the whole tile done
        return "written"

    def _bands(
        self,
        p: np.ndarray,
        inside: np.ndarray,
        valid: np.ndarray,
        with_aoa: bool,
        area_km2: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        mean = p.mean(axis=0)
        out = np.full((self.n_bands, *valid.shape), MAP_NODATA, dtype=np.uint8)
        cls = mean >= self.threshold
        out[0][valid] = cls.astype(np.uint8)
        out[1][valid] = probability_percent(mean)
        # population sd (ddof=0), as the ensemble's uncertainty band
        out[2][valid] = np.clip(np.rint(p.std(axis=0) * 100.0), 0, 50).astype(np.uint8)
        all_inside = inside.all(axis=0)
        if with_aoa:
            out[3][valid] = all_inside.astype(np.uint8)
            out[4][valid] = np.rint(inside.mean(axis=0) * 100.0).astype(np.uint8)
        a = np.asarray(area_km2, dtype=np.float64)[valid]
        a = np.where(np.isfinite(a), a, 0.0)
        sums = np.array(
            [
                a[cls].sum(),
                (mean * a).sum(),
                a[~all_inside].sum() if with_aoa else 0.0,
                a.sum(),
            ]
        )
        return out, sums
