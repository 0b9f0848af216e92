"""Readers (and downloaders) for the real covariate products.

Each reader implements one of three small protocols, so that :class:`~.real.RealSources` can
combine any of them into the same ``factors(grid, epoch, window, window_years)`` method the virtual
world has:

- :class:`ClimateSource`: monthly temperature (°C) and precipitation (mm/month) means over years;
- :class:`StaticSource`: one static layer (elevation in m, a soil property in %);
- :class:`SnowSource`: snow-cover days per year averaged over years.

Readers: WorldClim 2.1 (:mod:`.worldclim`), Copernicus DEM (:mod:`.copdem`), MODIS snow cover
(:mod:`.modis`, HDF4-EOS granules through :mod:`.hdf4`), SoilGrids 2.0 (:mod:`.soilgrids`),
generic GeoTIFF/NetCDF (:mod:`.generic`) and the coarse NCEP/NCAR, CMAP and ETOPO20 files
(:mod:`.ncep`).

Every reader also has ``check(grid, epochs, window_years) -> list[str]``: a header-level check of
every file it will read (helpers in :mod:`.checks`) that raises the first problem in one line and
returns notes for the run plan. It is not part of the protocols, so that a user-written reader
without it still works (:meth:`.real.RealSources.check` notes that it was not checked).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from rasterio.windows import Window

from permamap.grid import Grid

__all__ = ["ClimateSource", "SnowSource", "StaticSource"]


@runtime_checkable
class ClimateSource(Protocol):
    """Monthly climate: ``monthly_means`` returns ``(t_degc, p_mm)``, each ``(12, row, col)``."""

    name: str

    def available_years(self) -> set[int] | None:
        """Years the source holds; ``None`` for a climatology (valid for any window)."""
        ...

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean monthly temperature (°C) and precipitation (mm/month) over ``years``."""
        ...


@runtime_checkable
class StaticSource(Protocol):
    """A static layer aligned to a grid window, ``(row, col)`` float32, NaN = nodata."""

    name: str
    unit: str

    def read(self, grid: Grid, window: Window) -> np.ndarray:
        """The layer on ``window`` of ``grid``."""
        ...


@runtime_checkable
class SnowSource(Protocol):
    """Snow-cover days per year, averaged over years, ``(row, col)`` float32."""

    name: str

    def available_years(self) -> set[int] | None:
        """Years the source holds."""
        ...

    def snow_days(self, grid: Grid, window: Window, years: list[int]) -> np.ndarray:
        """Mean snow-cover days per year over ``years``."""
        ...
