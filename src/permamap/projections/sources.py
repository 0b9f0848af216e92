"""Where a projection's future climate comes from: the :class:`FutureClimate` protocol and the
virtual world's futures behind it.

A projection keeps every static factor of the baseline epoch's stack (elevation, terrain, soil,
latitude, longitude, custom factors) and recomputes the climate factors of the catalogue
(:data:`~permamap.covariates.catalogue.FACTORS` of kind ``climate``: MAAT, degree days, frost
number, precipitation sums, snow-cover days) from each GCM's future monthly climate, with the same
functions the covariate stage uses (:func:`permamap.covariates.factors.climate_factors`,
:func:`~permamap.covariates.factors.snow_cover_days`). A source therefore only has to give monthly
temperature and precipitation per scenario, period and GCM on a window of the run's grid:

- :class:`VirtualFutureClimate`: the virtual world's CMIP6-like futures
  (:class:`permamap.demo.futures.VirtualFutures`), whose truth is known;
- :class:`permamap.projections.real.RealFutureClimate`: WorldClim 2.1 CMIP6 files or the user's
  own future monthly files, used as they are or by the delta method.

Snow-cover days: when the baseline stack's snow band came from the degree-day rule (the virtual
world, or real sources without a snow product) the future value is the same rule on the future
climate. When it came from a product (MODIS), which has no future, the rule's *change* is added
to the observed baseline: ``snow_future = snow_baseline + rule(future) − rule(baseline)``, clipped
to 0–365 days (the delta method for snow); :meth:`FutureClimate.baseline_monthly` gives the
baseline climate for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from rasterio.windows import Window

from ..covariates.catalogue import FACTORS
from ..grid import Grid

__all__ = ["CLIMATE_FACTORS", "FutureClimate", "VirtualFutureClimate"]

#: factors recomputed from the future climate; every other factor keeps its baseline value
CLIMATE_FACTORS: tuple[str, ...] = tuple(f.name for f in FACTORS if f.kind == "climate")

Monthly = tuple[np.ndarray, np.ndarray]


@runtime_checkable
class FutureClimate(Protocol):
    """Future monthly climate per scenario, period and GCM on windows of a grid."""

    name: str
    #: the truth is known (the virtual world): the stage scores the projection against it
    has_truth: bool

    def check(
        self, grid: Grid, scenarios: Sequence[str], periods: Sequence[str], gcms: Sequence[str]
    ) -> list[str]:
        """Validate every combination before any work (one-line error); notes for the plan."""
        ...

    def monthly(
        self, grid: Grid, window: Window, scenario: str, period: str, gcms: Sequence[str]
    ) -> list[Monthly]:
        """Each GCM's period-mean ``(t °C, p mm/month)``, ``(12, rows, cols)`` float32, in order."""
        ...

    def baseline_monthly(self, grid: Grid, window: Window) -> Monthly | None:
        """The baseline epoch's monthly climate when its snow band came from a product, else None."""
        ...

    def describe(self) -> dict[str, Any]:
        """What decides the values (for fingerprints and the report): kind, method, files."""
        ...


class VirtualFutureClimate:
    """The virtual world's scenario futures (:class:`permamap.demo.futures.VirtualFutures`).

    The virtual GCMs have no bias against the world, so their climates are used as they are;
    the baseline stack's snow band is the degree-day rule, so no baseline climate is needed.

    Parameters
    ----------
    world : VirtualWorld
        The run's virtual world (``[world]`` settings): the futures change its present.
    """

    has_truth = True

    def __init__(self, world: Any) -> None:
        from ..demo.futures import VirtualFutures

        self.futures = VirtualFutures(world)
        self.world = world
        self.name = f"virtual CMIP6-like futures (seed {world.settings.seed})"
        self.gcms: tuple[str, ...] = self.futures.gcms

    def check(
        self, grid: Grid, scenarios: Sequence[str], periods: Sequence[str], gcms: Sequence[str]
    ) -> list[str]:
        return self.futures.check(scenarios, periods, gcms)

    def monthly(
        self, grid: Grid, window: Window, scenario: str, period: str, gcms: Sequence[str]
    ) -> list[Monthly]:
        from ..demo import layers

        lon, lat = np.meshgrid(
            grid.lon_centers(window).astype(np.float64), grid.lat_centers(window).astype(np.float64)
        )
        elev = layers.elevation_m(lon, lat)
        return self.futures.member_climates(lon, lat, elev, scenario, period, gcms)

    def baseline_monthly(self, grid: Grid, window: Window) -> Monthly | None:
        return None

    def truth(self, grid: Grid, scenario: str, period: str, window: Window) -> np.ndarray:
        """The true class (1, 0, 255 off land) under the GCM-mean climate."""
        return self.futures.truth(grid, scenario, period, window)

    def describe(self) -> dict[str, Any]:
        return {"kind": "virtual", "seed": int(self.world.settings.seed), "method": "as-is"}
