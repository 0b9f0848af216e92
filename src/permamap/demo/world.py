"""The virtual world: covariates, the true permafrost map and observations, for any window of a Grid.

Everything is a deterministic function of (seed, position, year), so a tile computed alone equals
the same cells computed as part of a larger window, at any resolution: the full 30 arc-sec
continent can be produced tile by tile without ever holding it in memory.

The truth is the equilibrium TTOP rule of :mod:`permamap.demo.ground`: snow depth and duration,
vegetation, summer radiation, slope aspect, the organic layer and soil moisture and texture all move
the ground temperature by amounts taken from field studies; permafrost where TTOP < 0 °C.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from ..contracts import M_PER_DEGREE
from ..covariates import factors as fx
from ..covariates.catalogue import FACTORS, factor_names
from ..grid import Grid
from ..landmask import land_fraction
from . import climate, ground, layers

__all__ = ["ClimateFn", "VirtualWorld", "WorldSettings"]

#: A window-mean monthly climate: ``(lon, lat, elevation_m) -> (t °C, p mm/month)``, each
#: ``(12, *lon.shape)``. The historical epochs are one such function each; the scenario futures of
#: :mod:`permamap.demo.futures` are others, read by the same factor and ground rules.
ClimateFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

RESIDUAL_K = 0.3  # amplitude of the static field for what the factors do not see


@dataclass(frozen=True)
class WorldSettings:
    """Settings of the virtual world."""

    seed: int = 42
    first_year: int = 1991
    last_year: int = 2024
    land_threshold: float = 0.5  # land fraction above which a cell is land


SOURCES = {
    "elevation": "pvlib Altitude.h5 (5 arc-min), bilinear",
    "slope": "derived from elevation",
    "northness": "derived from elevation",
    "roughness": "derived from elevation",
    "clay": "HWSD topsoil via permamodel T_CLAY.nc4 (3 arc-min)",
    "sand": "HWSD topsoil via permamodel T_SAND.nc4 (3 arc-min)",
    "soc": "HWSD topsoil via permamodel T_OC.nc4 (3 arc-min)",
    "latitude": "grid",
    "longitude": "grid",
}


class VirtualWorld:
    """The embedded default world ("virtual Eurasia").

    Examples
    --------
    >>> world = VirtualWorld()
    >>> g = Grid.from_bounds((125, 60, 135, 64), res=1.0)
    >>> stack = world.factors(g, 2000)
    >>> stack.shape
    (20, 4, 10)
    """

    factor_names: list[str] = factor_names(FACTORS)

    def __init__(self, settings: WorldSettings | None = None) -> None:
        self.settings = settings or WorldSettings()

    @property
    def years(self) -> range:
        return range(self.settings.first_year, self.settings.last_year + 1)

    def sources(self) -> dict[str, str]:
        clim = f"virtual climate (seed {self.settings.seed}), monthly {self.years.start}-{self.years.stop - 1}"
        return {f.name: SOURCES.get(f.name, clim) for f in FACTORS}

    def check(self, grid: Grid, epochs: list[int], window_years: int = 9) -> list[str]:
        """What ``permamap check`` needs: every epoch's window within the world's years.

        Raises
        ------
        ConfigError
            An epoch whose window reaches outside the virtual years (the message lists them).
        """
        for epoch in epochs:
            self.window_years(epoch, window_years)
        return [
            f"virtual world (seed {self.settings.seed}): climate {self.years.start}-"
            f"{self.years.stop - 1}, computed on the grid, nothing read"
        ]

    # -- the pieces -----------------------------------------------------------------------------
    def _coords(self, grid: Grid, window: Window, halo: int = 0) -> tuple[np.ndarray, np.ndarray]:
        w = Window(
            window.col_off - halo,
            window.row_off - halo,
            window.width + 2 * halo,
            window.height + 2 * halo,
        )
        lon = grid.lon_centers(w).astype(np.float64)
        lat = grid.lat_centers(w).astype(np.float64)
        return np.meshgrid(lon, lat)

    def land(self, grid: Grid, window: Window | None = None) -> np.ndarray:
        """Boolean land mask of the window (land fraction ≥ the threshold)."""
        return land_fraction(grid, window) >= self.settings.land_threshold

    def base_climatology(
        self, lon: np.ndarray, lat: np.ndarray, elev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 1981–2010 monthly climatology ``(12, ...)`` (°C, mm/month) without trend or noise."""
        return self._climate_inputs(lon, lat, elev)

    def _climate_inputs(
        self, lon: np.ndarray, lat: np.ndarray, elev: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        fetch = layers.westerly_fetch_km(lon, lat)
        dist = layers.ocean_distance_km(lon, lat)
        plateau = layers.plateau_height_m(lon, lat)
        return climate.climatology(lat, elev, fetch, dist, plateau)

    def window_years(self, epoch: int, window: int = 9) -> list[int]:
        """The years ``epoch − window//2 … epoch + window//2``; an error lists any the world lacks."""
        half = window // 2
        years = list(range(epoch - half, epoch + half + 1))
        missing = [y for y in years if y not in self.years]
        if missing:
            from ..errors import ConfigError

            raise ConfigError(
                f"epoch {epoch} needs climate years {years[0]}-{years[-1]} but the virtual world has "
                f"{self.years.start}-{self.years.stop - 1} (missing {missing}); choose epochs between "
                f"{self.years.start + half} and {self.years.stop - 1 - half} or a shorter window"
            )
        return years

    def climate_at(
        self, lon: np.ndarray, lat: np.ndarray, epoch: int, window: int = 9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window-mean monthly temperature and precipitation ``(12, ...)`` at points."""
        return self._window_climate(lon, lat, layers.elevation_m(lon, lat), epoch, window)

    def _window_climate(
        self, lon: np.ndarray, lat: np.ndarray, elev: np.ndarray, epoch: int, window: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ct, cp = self._climate_inputs(lon, lat, elev)
        return climate.window_climatology(
            self.settings.seed, self.window_years(epoch, window), lon, lat, ct, cp
        )

    def epoch_climate(self, epoch: int, window_years: int = 9) -> ClimateFn:
        """The window-mean climate of ``epoch`` as a :data:`ClimateFn` (the years are checked now)."""
        self.window_years(epoch, window_years)

        def fn(lon: np.ndarray, lat: np.ndarray, elev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self._window_climate(lon, lat, elev, epoch, window_years)

        return fn

    def monthly_at(
        self, lon: np.ndarray, lat: np.ndarray, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monthly temperature and precipitation ``(year, 12, n)`` at points (for weather stations)."""
        elev = layers.elevation_m(lon, lat)
        ct, cp = self._climate_inputs(lon, lat, elev)
        return climate.monthly_climate(self.settings.seed, years, lon, lat, ct, cp)

    def maat_at(self, lon: np.ndarray, lat: np.ndarray, epoch: int, window: int = 9) -> np.ndarray:
        t, _ = self.climate_at(np.asarray(lon, float), np.asarray(lat, float), epoch, window)
        return fx.maat_degc(t)

    # -- products -------------------------------------------------------------------------------
    def factors(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray:
        """The factor stack ``(band, row, col)`` float32 for ``window``; NaN off land."""
        return self.factors_for_climate(grid, self.epoch_climate(epoch, window_years), window)

    def factors_for_climate(
        self, grid: Grid, climate_fn: ClimateFn, window: Window | None = None
    ) -> np.ndarray:
        """The factor stack of :meth:`factors` with the monthly climate taken from ``climate_fn``."""
        w = window or grid.full_window
        lon_h, lat_h = self._coords(grid, w, halo=1)
        elev_h = layers.elevation_m(lon_h, lat_h)
        lon, lat, elev = lon_h[1:-1, 1:-1], lat_h[1:-1, 1:-1], elev_h[1:-1, 1:-1]
        # kilometres per degree first, then metres: this order of the products keeps the terrain
        # bit-identical to earlier releases at every resolution
        dy_m = grid.res * (M_PER_DEGREE / 1000.0) * 1000.0
        dx_m = dy_m * np.cos(np.radians(lat_h[:, 0]))
        terrain = fx.terrain_factors(elev_h, dx_m, dy_m)
        t, p = climate_fn(lon, lat, elev)
        values = {
            **fx.climate_factors(t, p),
            "snow_days": fx.snow_cover_days(t, p),
            "elevation": elev,
            **terrain,
            "clay": layers.soil_percent("clay", lon, lat),
            "sand": layers.soil_percent("sand", lon, lat),
            "soc": layers.soil_percent("oc", lon, lat),
            "latitude": lat,
            "longitude": lon,
        }
        stack = np.stack([np.asarray(values[n], dtype=np.float32) for n in self.factor_names])
        land = self.land(grid, w)
        stack[:, ~land] = np.nan
        return stack

    def ground_inputs(
        self, lon: np.ndarray, lat: np.ndarray, epoch: int, window_years: int = 9
    ) -> ground.GroundInputs:
        """What the ground-thermal rule reads at points (see :mod:`permamap.demo.ground`)."""
        return self.ground_inputs_for_climate(lon, lat, self.epoch_climate(epoch, window_years))

    def ground_inputs_for_climate(
        self, lon: np.ndarray, lat: np.ndarray, climate_fn: ClimateFn
    ) -> ground.GroundInputs:
        """:meth:`ground_inputs` with the monthly climate taken from ``climate_fn``."""
        lon, lat = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float))
        elev = layers.elevation_m(lon, lat)
        t, p = climate_fn(lon, lat, elev)
        slope, northness = ground.terrain_at(lon, lat, layers.elevation_m)
        return ground.GroundInputs(
            t=t,
            p=p,
            elevation=elev,
            slope=slope,
            northness=northness,
            clay=layers.soil_percent("clay", lon, lat),
            sand=layers.soil_percent("sand", lon, lat),
            soc=layers.soil_percent("oc", lon, lat),
            lat=lat,
            residual=RESIDUAL_K * climate._waves(self.settings.seed + 104729, 0, lon, lat),
        )

    def ttop_at(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        epoch: int,
        window_years: int = 9,
        off: tuple[str, ...] = (),
    ) -> np.ndarray:
        """Temperature at the top of permafrost (°C) at points; ``off`` switches effects off."""
        terms = ground.ttop_terms(self.ground_inputs(lon, lat, epoch, window_years), off)
        return terms["ttop"]

    def truth(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray:
        """The true map: uint8 1 permafrost, 0 not, 255 off land."""
        return self.truth_for_climate(grid, self.epoch_climate(epoch, window_years), window)

    def truth_for_climate(
        self, grid: Grid, climate_fn: ClimateFn, window: Window | None = None
    ) -> np.ndarray:
        """The true map of :meth:`truth` under the monthly climate ``climate_fn``."""
        w = window or grid.full_window
        lon, lat = self._coords(grid, w)
        return self.truth_at_for_climate(lon, lat, climate_fn, land=self.land(grid, w))

    def truth_at(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        epoch: int,
        window_years: int = 9,
        land: np.ndarray | None = None,
    ) -> np.ndarray:
        """The true class at points: uint8 1 permafrost (TTOP < 0 °C), 0 not, 255 where not ``land``."""
        return self.truth_at_for_climate(lon, lat, self.epoch_climate(epoch, window_years), land)

    def truth_at_for_climate(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        climate_fn: ClimateFn,
        land: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`truth_at` under the monthly climate ``climate_fn``."""
        ttop = ground.ttop_terms(self.ground_inputs_for_climate(lon, lat, climate_fn))["ttop"]
        out = (ttop < 0).astype(np.uint8)
        if land is not None:
            out[~land] = 255
        return out
