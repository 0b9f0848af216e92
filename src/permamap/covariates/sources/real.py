"""RealSources: the covariate-source protocol of the virtual world, backed by real products.

:class:`RealSources` combines one climate source, an optional elevation source, optional soil
sources and an optional snow source into ``factors(grid, epoch, window, window_years)`` — the
same method and ``factor_names`` attribute as :class:`~permamap.demo.world.VirtualWorld` — so the
lead's tiled stack writer drives both. Factors without a source are left out of ``factor_names``
(and logged); snow-cover days fall back to the degree-day snow rule of
:func:`~permamap.covariates.factors.snow_cover_days` when no snow product is given.

Cells where any included factor is missing are set to NaN in every band ("missing-value areas
removed"), so the stack has one valid-data mask.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.windows import Window

from permamap.contracts import M_PER_DEGREE
from permamap.covariates import factors as fx
from permamap.covariates.catalogue import FACTORS
from permamap.covariates.sources import ClimateSource, SnowSource, StaticSource
from permamap.covariates.timewindow import check_years, window_text
from permamap.errors import ConfigError
from permamap.grid import Grid

__all__ = ["RealSources", "SourceConfig"]

log = logging.getLogger(__name__)

_CLIMATE = (
    "maat",
    "t_warmest",
    "t_coldest",
    "t_range",
    "tdd",
    "fdd",
    "frost_number",
    "precip_annual",
    "precip_cold",
    "precip_warm",
)
_TERRAIN = ("slope", "northness", "roughness")
_SOIL = ("clay", "sand", "soc")


@dataclass
class SourceConfig:
    """Which reader provides what. Only ``climate`` is required.

    Parameters
    ----------
    climate : ClimateSource
        Monthly temperature and precipitation (WorldClim, NCEP/CMAP, generic).
    elevation : StaticSource, optional
        Elevation in m (Copernicus DEM, ETOPO, generic); gives elevation, slope, northness,
        roughness.
    soil : dict, optional
        ``{"clay": source, "sand": source, "soc": source}`` in percent (SoilGrids, generic).
    snow : SnowSource, optional
        Snow-cover days (MODIS); otherwise derived from the climate.
    """

    climate: ClimateSource
    elevation: StaticSource | None = None
    soil: dict[str, StaticSource] = field(default_factory=dict)
    snow: SnowSource | None = None


class RealSources:
    """Real covariate sources behind the virtual world's ``factors`` protocol.

    Parameters
    ----------
    config : SourceConfig or dict
        The readers (a dict with the same keys is accepted).

    Examples
    --------
    >>> from permamap.covariates.sources.ncep import ncep_cmap_climatology, etopo20
    >>> src = RealSources({"climate": ncep_cmap_climatology("air.mon.ltm.nc", "precip.mon.ltm.nc"),
    ...                    "elevation": etopo20("etopo20.cdf")})  # doctest: +SKIP
    >>> src.factors(grid, 2000, window).shape  # doctest: +SKIP
    (15, 512, 512)
    """

    def __init__(self, config: SourceConfig | dict[str, object]) -> None:
        if isinstance(config, dict):
            unknown = set(config) - {"climate", "elevation", "soil", "snow"}
            if unknown:
                raise ConfigError(
                    f"unknown covariate source keys {sorted(unknown)}; use climate, elevation, soil, snow"
                )
            config = SourceConfig(**config)  # type: ignore[arg-type]
        if not isinstance(config.climate, ClimateSource):
            raise ConfigError(
                f"climate source {config.climate!r} does not provide monthly_means/available_years; "
                "use a WorldClim, NCEP/CMAP or generic climate reader"
            )
        bad_soil = set(config.soil) - set(_SOIL)
        if bad_soil:
            raise ConfigError(f"soil sources {sorted(bad_soil)} are not factors; use {list(_SOIL)}")
        self.config = config
        have = set(_CLIMATE) | {"snow_days", "latitude", "longitude"}
        if config.elevation is not None:
            have |= {"elevation", *_TERRAIN}
        have |= set(config.soil)
        self.factor_names: list[str] = [f.name for f in FACTORS if f.name in have]
        left_out = [f.name for f in FACTORS if f.name not in have]
        if left_out:
            log.debug("no source for factors %s: they are left out of the stack", left_out)

    def sources(self) -> dict[str, str]:
        """Factor name → source description, for the catalogue."""
        c = self.config
        out = {n: c.climate.name for n in _CLIMATE}
        out["snow_days"] = (
            c.snow.name if c.snow else f"derived from {c.climate.name} (degree-day snow rule)"
        )
        if c.elevation is not None:
            out["elevation"] = c.elevation.name
            out.update({n: f"derived from {c.elevation.name}" for n in _TERRAIN})
        out.update({k: v.name for k, v in c.soil.items()})
        out["latitude"] = out["longitude"] = "grid"
        return {k: v for k, v in out.items() if k in self.factor_names}

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int = 9) -> list[str]:
        """Check every source at header level before anything is computed; notes for the plan.

        Each reader's ``check(grid, epochs, window_years)`` opens every file it will read at
        header level (CRS, bands, coverage of ``grid``, files cut short) and checks the years of
        every epoch window. A reader without a ``check`` method (a user-written one) gets a note
        saying it was not checked.

        Returns
        -------
        list of str
            One line per source, prefixed with its role, e.g.
            ``"climate: WorldClim 2.1 monthly 2.5m, years 1996-2004, 324 files"`` or
            ``"snow: MODIS MOD10A1 snow cover, years 1996-2004, 3285 files (HDF4), partial
            coverage, 63 % of the grid"``.

        Raises
        ------
        InputFileError, GridMismatchError, DataError, ConfigError
            The first problem found, in one line naming the file, the rule and the fix.
        """
        c = self.config
        roles: list[tuple[str, object]] = [("climate", c.climate)]
        if c.elevation is not None:
            roles.append(("elevation", c.elevation))
        roles += [(f"soil {name}", src) for name, src in c.soil.items()]
        if c.snow is not None:
            roles.append(("snow", c.snow))
        notes: list[str] = []
        for role, src in roles:
            check = getattr(src, "check", None)
            if check is None:
                notes.append(f"{role}: {getattr(src, 'name', src)!s} (no header check available)")
                continue
            notes += [f"{role}: {n}" for n in check(grid, list(epochs), window_years)]
        if c.snow is None:
            notes.append(f"snow: derived from {c.climate.name} (degree-day snow rule)")
        return notes

    def windows(self, window_years: int = 9) -> dict[str, str]:
        """Factor name → the temporal window its values come from (``""`` for static factors).

        Climate factors (and snow-cover days) average ``window_years`` years centred on the
        epoch, or are a long-term mean when the source is a climatology.

        Examples
        --------
        >>> src.windows(9)["maat"]  # doctest: +SKIP
        '9 years centred on the epoch'
        """
        c = self.config
        clim = window_text(window_years, climatology=c.climate.available_years() is None)
        out = {n: clim for n in _CLIMATE}
        out["snow_days"] = clim if c.snow is None else window_text(window_years)
        return {n: out.get(n, "") for n in self.factor_names}

    def _lon_lat(self, grid: Grid, w: Window) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.meshgrid(grid.lon_centers(w), grid.lat_centers(w))
        if grid.is_geographic:
            return x, y
        tr = Transformer.from_crs(CRS.from_user_input(grid.crs), "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(x, y)
        return np.asarray(lon), np.asarray(lat)

    def _terrain(self, grid: Grid, w: Window) -> dict[str, np.ndarray]:
        halo = Window(w.col_off - 1, w.row_off - 1, w.width + 2, w.height + 2)
        elev_h = self.config.elevation.read(grid, halo)  # type: ignore[union-attr]
        elev_h = _extend_at_grid_edges(elev_h, grid, w)
        if grid.is_geographic:
            dy = grid.res * M_PER_DEGREE
            dx = dy * np.cos(np.radians(grid.lat_centers(halo)))
        else:
            dy = grid.res * float(CRS.from_user_input(grid.crs).linear_units_factor[1])
            dx = np.full(int(halo.height), dy)
        out = fx.terrain_factors(elev_h, dx, dy)
        out["elevation"] = elev_h[1:-1, 1:-1]
        return out

    def factors(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray:
        """The factor stack ``(band, row, col)`` float32 for ``window``, bands = ``factor_names``.

        Raises
        ------
        DataError
            A climate or snow source lacks some of the window years (the message lists them).
        """
        w = window or grid.full_window
        c = self.config
        years = check_years(epoch, window_years, c.climate.available_years(), c.climate.name)
        t, p = c.climate.monthly_means(grid, w, years)
        values: dict[str, np.ndarray] = fx.climate_factors(t, p)
        if c.snow is not None:
            snow_years = check_years(epoch, window_years, c.snow.available_years(), c.snow.name)
            values["snow_days"] = c.snow.snow_days(grid, w, snow_years)
        else:
            values["snow_days"] = fx.snow_cover_days(t, p)
        if c.elevation is not None:
            values.update(self._terrain(grid, w))
        for name, src in c.soil.items():
            values[name] = src.read(grid, w)
        lon, lat = self._lon_lat(grid, w)
        values["latitude"], values["longitude"] = lat, lon
        stack = np.stack([np.asarray(values[n], dtype=np.float32) for n in self.factor_names])
        stack[:, np.isnan(stack).any(axis=0)] = np.nan
        return stack


def _extend_at_grid_edges(z: np.ndarray, grid: Grid, w: Window) -> np.ndarray:
    """Fill the halo ring beyond the grid's edges by linear extrapolation where it is NaN.

    A DEM that covers exactly the grid has nothing beyond it; extrapolating the edge makes the
    terrain factors there one-sided differences instead of NaN (which would blank the edge cells).
    Halo cells inside the grid, and halo cells the source does cover, are left as read.
    """
    z = np.array(z, dtype=np.float64)

    def fill(edge: np.ndarray, inner: np.ndarray, inner2: np.ndarray) -> None:
        np.copyto(edge, 2 * inner - inner2, where=np.isnan(edge))

    if z.shape[0] >= 3:
        if w.row_off == 0:
            fill(z[0], z[1], z[2])
        if w.row_off + w.height == grid.height:
            fill(z[-1], z[-2], z[-3])
    if z.shape[1] >= 3:
        if w.col_off == 0:
            fill(z[:, 0], z[:, 1], z[:, 2])
        if w.col_off + w.width == grid.width:
            fill(z[:, -1], z[:, -2], z[:, -3])
    return z.astype(np.float32)
