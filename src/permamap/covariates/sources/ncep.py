"""NCEP/NCAR Reanalysis 1 and CMAP monthly long-term means, and ETOPO20 relief (coarse, real).

These small NOAA files drive the optional real-data test and a coarse real-data stack:

- ``air.mon.ltm.nc``: NCEP/NCAR Reanalysis 1 monthly long-term-mean air temperature at
  sigma 0.995 (°C), 2.5° global, latitudes 90 → −90, longitudes 0 → 357.5;
- ``precip.mon.ltm.nc``: CPC Merged Analysis of Precipitation (CMAP) monthly long-term-mean rate
  (mm/day, converted to mm/month with the days of each month), 2.5° global;
- ``etopo20.cdf``: ETOPO5-derived relief ``ROSE`` (m, land and sea) at 20 arc-min on a Ferret
  "modulo" longitude axis running 20 → 380 °E, which alignment wraps onto the grid.

Long-term means have no years: they are treated as a climatology valid for any epoch window
(:func:`~permamap.covariates.timewindow.check_years` logs this), so every epoch gets the same
climate from them. The files carry no CRS; they are geographic lat/lon, declared as EPSG:4326.
"""

from __future__ import annotations

from pathlib import Path

from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster

__all__ = ["etopo20", "ncep_cmap_climatology"]


def ncep_cmap_climatology(air_path: str | Path, precip_path: str | Path) -> GenericMonthlyClimate:
    """Climate source from the NCEP air-temperature and CMAP precipitation long-term means.

    Parameters
    ----------
    air_path : path
        ``air.mon.ltm.nc`` (variable ``air``, °C).
    precip_path : path
        ``precip.mon.ltm.nc`` (variable ``precip``, mm/day).
    """
    return GenericMonthlyClimate(
        temperature=GenericRaster(
            air_path,
            units="degC",
            quantity="temperature",
            variable="air",
            crs="EPSG:4326",
            name="NCEP/NCAR R1 air.mon.ltm (sigma 0.995), 2.5 deg",
        ),
        precipitation=GenericRaster(
            precip_path,
            units="mm/day",
            quantity="precipitation",
            variable="precip",
            crs="EPSG:4326",
            name="CPC CMAP precip.mon.ltm, 2.5 deg",
        ),
        name=f"NCEP/NCAR + CMAP long-term means ({Path(air_path).name}, {Path(precip_path).name})",
    )


def etopo20(path: str | Path) -> GenericRaster:
    """Elevation source from Ferret's ``etopo20.cdf`` (variable ``ROSE``, m, 20–380 °E axis)."""
    return GenericRaster(
        path,
        units="m",
        quantity="length",
        variable="ROSE",
        crs="EPSG:4326",
        name="ETOPO20 relief (ETOPO5-derived), 20 arc-min",
    )
