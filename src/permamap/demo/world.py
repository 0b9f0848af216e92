"""The virtual world: covariates, the true permafrost map and observations, for any window of a Grid.

Everything is a deterministic function of (seed, position, year), so a tile computed alone equals
the same cells computed as part of a larger window, at any resolution: the full 30 arc-sec
continent can be produced tile by tile without ever holding it in memory.

The truth is the equilibrium TTOP rule of :mod:`permamap.demo.ground`: snow depth and duration,
vegetation, summer radiation, slope aspect, the organic layer and soil moisture and texture all move
the ground temperature by amounts taken from field studies; permafrost where TTOP < 0 °C.

Speed (the 30 arc-sec product: 518 tiles of 512 × 512 per epoch): a window computes its land
cells only (every product is nodata off land), and a small least-recently-used cache, bounded in
bytes (``cache_mb``), keeps per window what other calls reuse: the static layers for every epoch,
each year's anomaly fields for the overlapping 9-year windows of neighbouring epochs, and an
epoch's monthly climate for both the factor stack and the true map. It pays when the same window
comes back, so callers should loop over epochs (and products) inside the loop over tiles. Every
value is bit-identical to the plain computation (``tests/demo/test_world_cache.py``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields, is_dataclass
from functools import partial
from typing import Any, NamedTuple, TypeVar

import numpy as np
from rasterio.windows import Window

from ..contracts import M_PER_DEGREE
from ..covariates import factors as fx
from ..covariates.catalogue import FACTORS, factor_names
from ..grid import Grid
from ..landmask import land_fraction
from . import climate, ground, layers

__all__ = ["ClimateFn", "VirtualWorld", "WindowTruth", "WorldSettings"]

#: A window-mean monthly climate: ``(lon, lat, elevation_m) -> (t °C, p mm/month)``, each
#: ``(12, *lon.shape)``. The historical epochs are one such function each; the scenario futures of
#: :mod:`permamap.demo.futures` are others, read by the same factor and ground rules.
ClimateFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

RESIDUAL_K = 0.3  # amplitude of the static field for what the factors do not see
CACHE_MB = 128.0  # default bound of a world's window cache (:class:`VirtualWorld`)


class WindowTruth(NamedTuple):
    """The true map of a window and what it came from (:meth:`VirtualWorld.truth_window`).

    ``ttop`` (°C) and ``inputs`` are flat arrays over the cells of ``sel`` in the order of
    ``np.nonzero(sel)``: the land cells, or every cell when the window has a single land cell;
    the three are ``None`` when it has no land.
    """

    truth: np.ndarray  # uint8 (rows, cols): 1 permafrost, 0 not, 255 off land
    land: np.ndarray  # bool (rows, cols)
    sel: np.ndarray | None  # bool (rows, cols): the cells computed
    ttop: np.ndarray | None  # float32 (n,)
    inputs: ground.GroundInputs | None


@dataclass(frozen=True)
class _Cells:
    """The cells of a window the world computes: flat arrays in the order of ``np.nonzero(sel)``.

    Every value the world reports is nodata off land, so only land cells are computed (every rule
    is cell by cell: a value does not depend on which other cells are computed with it). ``sel``
    is ``None`` when the window has no land. ``key`` names the window in the cache.
    """

    key: tuple[Hashable, ...]
    land: np.ndarray
    sel: np.ndarray | None
    lon: np.ndarray
    lat: np.ndarray
    xyz: climate.UnitVectors


@dataclass(frozen=True)
class _Statics:
    """What does not change between epochs at the cells of a window."""

    elev: np.ndarray  # m
    clay: np.ndarray  # %
    sand: np.ndarray  # %
    soc: np.ndarray  # %


#: The climate of a window's cells: ``(cells, elevation) -> (t, p)``, each ``(12, n)``.
_CellsClimate = Callable[[_Cells, np.ndarray], tuple[np.ndarray, np.ndarray]]

_T = TypeVar("_T")


def _at_cells(fn: ClimateFn) -> _CellsClimate:
    """A :data:`ClimateFn` read at a window's cells."""

    def call(cells: _Cells, elev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fn(cells.lon, cells.lat, elev)

    return call


def _nbytes(value: object) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if is_dataclass(value) and not isinstance(value, type):
        return sum(_nbytes(getattr(value, f.name)) for f in fields(value))
    return 0


class _WindowCache:
    """A least-recently-used store of per-window arrays, bounded in bytes, safe across threads.

    The world's window products share pieces: the static layers of a window serve every epoch,
    one year's anomaly field serves the (overlapping) windows of up to nine epochs, and an epoch's
    monthly climate serves both the factor stack and the true map. Values are never modified
    after they are stored.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value = compute()
        size = _nbytes(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped
        return value

    @property
    def nbytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._items)


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

    Parameters
    ----------
    settings : WorldSettings, optional
        Seed, years and land threshold.
    cache_mb : float
        Bound of the window cache (module docstring); 0 turns it off. A pickled world leaves
        its cache behind.

    Examples
    --------
    >>> world = VirtualWorld()
    >>> g = Grid.from_bounds((125, 60, 135, 64), res=1.0)
    >>> stack = world.factors(g, 2000)
    >>> stack.shape
    (20, 4, 10)
    """

    factor_names: list[str] = factor_names(FACTORS)

    def __init__(self, settings: WorldSettings | None = None, cache_mb: float = CACHE_MB) -> None:
        self.settings = settings or WorldSettings()
        self._cache = _WindowCache(int(cache_mb * 2**20))

    def __getstate__(self) -> dict[str, Any]:
        # the cache (and its lock) stays behind: a copy in another process starts empty
        state = self.__dict__.copy()
        state["_cache"] = self._cache.max_bytes
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache = _WindowCache(int(state["_cache"]))

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

    # -- a window's cells, through the cache -----------------------------------------------------
    def _cells(self, grid: Grid, window: Window) -> _Cells:
        """The cells of ``window`` the world computes (:class:`_Cells`)."""
        key = (grid, *(int(v) for v in window.flatten()))  # col_off, row_off, width, height
        return self._cache.get(("cells", key), lambda: self._compute_cells(key, grid, window))

    def _compute_cells(self, key: tuple[Hashable, ...], grid: Grid, window: Window) -> _Cells:
        land = self.land(grid, window)
        n_land = int(land.sum())
        if n_land == 0:
            empty = np.empty(0)
            return _Cells(key, land, None, empty, empty, (empty, empty, empty))
        # one land cell alone would make the month sums a 12-element pairwise sum, whose rounding
        # differs from the cell-by-cell sums of a larger array: take the whole window then
        sel = land if n_land >= 2 else np.ones_like(land)
        rows, cols = np.nonzero(sel)
        lon_axis = grid.lon_centers(window).astype(np.float64)
        lat_axis = grid.lat_centers(window).astype(np.float64)
        xyz = climate.unit_vectors_of_axes(lon_axis, lat_axis, rows, cols)
        return _Cells(key, land, sel, lon_axis[cols], lat_axis[rows], xyz)

    def _statics(self, cells: _Cells) -> _Statics:
        def compute() -> _Statics:
            lon, lat = cells.lon, cells.lat
            return _Statics(
                elev=layers.elevation_m(lon, lat),
                clay=layers.soil_percent("clay", lon, lat),
                sand=layers.soil_percent("sand", lon, lat),
                soc=layers.soil_percent("oc", lon, lat),
            )

        return self._cache.get(("statics", cells.key), compute)

    def _cells_epoch_climate(self, epoch: int, window_years: int) -> _CellsClimate:
        """The window-mean climate of ``epoch`` at a window's cells, from cached pieces.

        Equal to :meth:`epoch_climate` at the cells: the 1981–2010 climatology and each year's
        anomaly fields are kept (:class:`_WindowCache`), so neighbouring epochs share the years
        their windows share, and the factor stack and the true map of an epoch share the result.
        """
        years = self.window_years(epoch, window_years)
        seed = self.settings.seed

        def fn(cells: _Cells, elev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            def compute() -> tuple[np.ndarray, np.ndarray]:
                ct, cp = self._cache.get(
                    ("climatology", cells.key),
                    lambda: self._climate_inputs(cells.lon, cells.lat, elev),
                )
                anomalies = [
                    self._cache.get(
                        ("year", cells.key, seed, y),
                        partial(climate.year_anomalies, seed, y, cells.lon, cells.lat, cells.xyz),
                    )
                    for y in years
                ]
                return climate.combine_years(ct, cp, anomalies)

            return self._cache.get(("climate", cells.key, epoch, window_years), compute)

        return fn

    # -- products -------------------------------------------------------------------------------
    def factors(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray:
        """The factor stack ``(band, row, col)`` float32 for ``window``; NaN off land."""
        return self._factors(grid, self._cells_epoch_climate(epoch, window_years), window)

    def factors_for_climate(
        self, grid: Grid, climate_fn: ClimateFn, window: Window | None = None
    ) -> np.ndarray:
        """The factor stack of :meth:`factors` with the monthly climate taken from ``climate_fn``."""
        return self._factors(grid, _at_cells(climate_fn), window)

    def _factors(
        self, grid: Grid, climate_fn: _CellsClimate, window: Window | None = None
    ) -> np.ndarray:
        w = window or grid.full_window
        cells = self._cells(grid, w)
        stack = np.full((len(self.factor_names), *cells.land.shape), np.nan, dtype=np.float32)
        if cells.sel is None:  # no land: every band is NaN
            return stack
        st = self._statics(cells)
        t, p = climate_fn(cells, st.elev)
        values = {
            **fx.climate_factors(t, p),
            "snow_days": fx.snow_cover_days(t, p),
            "elevation": st.elev,
            **self._cache.get(("terrain", cells.key), lambda: self._terrain(grid, w, cells)),
            "clay": st.clay,
            "sand": st.sand,
            "soc": st.soc,
            "latitude": cells.lat,
            "longitude": cells.lon,
        }
        for band, name in enumerate(self.factor_names):
            stack[band][cells.sel] = values[name]
        stack[:, ~cells.land] = np.nan
        return stack

    def _terrain(self, grid: Grid, window: Window, cells: _Cells) -> dict[str, np.ndarray]:
        """Slope, northness and roughness of the window's cells (from the window with a halo)."""
        lon_h, lat_h = self._coords(grid, window, halo=1)
        elev_h = layers.elevation_m(lon_h, lat_h)
        # kilometres per degree first, then metres: this order of the products keeps the terrain
        # bit-identical to earlier releases at every resolution
        dy_m = grid.res * (M_PER_DEGREE / 1000.0) * 1000.0
        dx_m = dy_m * np.cos(np.radians(lat_h[:, 0]))
        terrain = fx.terrain_factors(elev_h, dx_m, dy_m)
        return {k: np.asarray(v, dtype=np.float32)[cells.sel] for k, v in terrain.items()}

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
            residual=self._residual(lon, lat),
        )

    def _residual(
        self, lon: np.ndarray, lat: np.ndarray, xyz: climate.UnitVectors | None = None
    ) -> np.ndarray:
        """The static field ``ε`` (K) of :mod:`permamap.demo.ground` for what no factor sees."""
        return RESIDUAL_K * climate._waves(self.settings.seed + 104729, 0, lon, lat, xyz=xyz)

    def _window_ground_inputs(
        self, cells: _Cells, climate_fn: _CellsClimate
    ) -> ground.GroundInputs:
        """:meth:`ground_inputs_for_climate` at a window's cells, the static parts cached."""
        st = self._statics(cells)
        t, p = climate_fn(cells, st.elev)
        slope, northness = self._cache.get(
            ("slope_at", cells.key),
            lambda: ground.terrain_at(cells.lon, cells.lat, layers.elevation_m),
        )
        residual = self._cache.get(
            ("residual", cells.key), lambda: self._residual(cells.lon, cells.lat, cells.xyz)
        )
        return ground.GroundInputs(
            t=t,
            p=p,
            elevation=st.elev,
            slope=slope,
            northness=northness,
            clay=st.clay,
            sand=st.sand,
            soc=st.soc,
            lat=cells.lat,
            residual=residual,
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
        w = window or grid.full_window
        return self._truth_window(grid, w, self._cells_epoch_climate(epoch, window_years)).truth

    def truth_for_climate(
        self, grid: Grid, climate_fn: ClimateFn, window: Window | None = None
    ) -> np.ndarray:
        """The true map of :meth:`truth` under the monthly climate ``climate_fn``."""
        w = window or grid.full_window
        return self._truth_window(grid, w, _at_cells(climate_fn)).truth

    def truth_window(
        self, grid: Grid, epoch: int, window: Window, window_years: int = 9
    ) -> WindowTruth:
        """The true map of ``window`` (:meth:`truth`) with the TTOP and inputs it came from.

        Off land the world computes nothing (every value there is nodata), so the TTOP and the
        inputs are flat arrays over the cells ``sel`` only (:class:`WindowTruth`).
        """
        return self._truth_window(grid, window, self._cells_epoch_climate(epoch, window_years))

    def _truth_window(self, grid: Grid, window: Window, climate_fn: _CellsClimate) -> WindowTruth:
        cells = self._cells(grid, window)
        out = np.full(cells.land.shape, 255, dtype=np.uint8)
        if cells.sel is None:
            return WindowTruth(out, cells.land, None, None, None)
        inputs = self._window_ground_inputs(cells, climate_fn)
        ttop = ground.ttop_terms(inputs)["ttop"]
        out[cells.sel] = ttop < 0
        out[~cells.land] = 255
        return WindowTruth(out, cells.land, cells.sel, ttop, inputs)

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
