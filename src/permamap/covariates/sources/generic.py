"""Generic GeoTIFF/NetCDF sources with scale, offset, nodata and units declared in the config.

Units are converted to the catalogue's canonical ones (°C, mm per month, m, percent), and the
converted values are checked against a plausible range, so that a file in kelvin declared as
``degC`` (or precipitation in m declared as mm) stops with an error that suggests the right unit.

NetCDF variables are read through GDAL (``netcdf:file.nc:variable``); a variable with a 12-step
time axis reads as 12 bands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rasterio.windows import Window

from permamap.covariates.align import Kind, SourceLayer, read_aligned
from permamap.covariates.factors import DAYS_IN_MONTH
from permamap.covariates.sources.checks import (
    LayerHeader,
    check_layer,
    coverage_note,
    epoch_years,
    reading,
    year_span,
)
from permamap.errors import ConfigError, DataError
from permamap.grid import Grid

__all__ = [
    "QUANTITIES",
    "GenericMonthlyClimate",
    "GenericRaster",
    "check_plausible",
    "convert_units",
    "gdal_path",
]

log = logging.getLogger(__name__)

# quantity -> (canonical unit, {accepted unit spelling: (factor, offset)}, plausible range)
# value_canonical = value * factor + offset; "per day" precipitation is handled separately.
QUANTITIES: dict[str, tuple[str, dict[str, tuple[float, float]], tuple[float, float]]] = {
    "temperature": (
        "degC",
        {
            "degc": (1, 0),
            "c": (1, 0),
            "°c": (1, 0),
            "celsius": (1, 0),
            "deg_c": (1, 0),
            "k": (1, -273.15),
            "kelvin": (1, -273.15),
            "degk": (1, -273.15),
            "degc*10": (0.1, 0),
            "0.1 degc": (0.1, 0),
        },
        (-90.0, 65.0),
    ),
    "precipitation": (
        "mm/month",
        {
            "mm": (1, 0),
            "mm/month": (1, 0),
            "mm month-1": (1, 0),
            "kg m-2": (1, 0),
            "cm": (10, 0),
            "m": (1000, 0),
            "m/month": (1000, 0),
            "mm/day": (1, 0),
            "mm day-1": (1, 0),
            "mm/d": (1, 0),
            "kg m-2 s-1": (86400, 0),
        },
        (0.0, 3000.0),
    ),
    "length": (
        "m",
        {
            "m": (1, 0),
            "meters": (1, 0),
            "metres": (1, 0),
            "meter": (1, 0),
            "km": (1000, 0),
            "ft": (0.3048, 0),
            "feet": (0.3048, 0),
        },
        (-11000.0, 9000.0),
    ),
    "percent": (
        "percent",
        {
            "percent": (1, 0),
            "%": (1, 0),
            "g/100g": (1, 0),
            "g/kg": (0.1, 0),
            "dg/kg": (0.01, 0),
            "fraction": (100, 0),
            "1": (100, 0),
            "permille": (0.1, 0),
            "cm3/dm3": (0.1, 0),
        },
        (0.0, 100.0),
    ),
    "days": ("day", {"day": (1, 0), "days": (1, 0), "d": (1, 0)}, (0.0, 366.0)),
}
_PER_DAY = {"mm/day", "mm day-1", "mm/d", "kg m-2 s-1"}


def gdal_path(path: str | Path, variable: str | None = None) -> str:
    """GDAL name of a file or of one NetCDF variable (``netcdf:path:variable``)."""
    if variable:
        return f"netcdf:{path}:{variable}"
    return str(path)


def _norm(unit: str) -> str:
    return re.sub(r"\s+", " ", unit.strip().lower())


def convert_units(
    values: np.ndarray, unit: str, quantity: str, label: str, months: np.ndarray | None = None
) -> np.ndarray:
    """Convert ``values`` in ``unit`` to the canonical unit of ``quantity``.

    Parameters
    ----------
    values : numpy.ndarray
        Data; for per-day precipitation the month must be axis 0 (12 months).
    unit : str
        Declared unit (case-insensitive), e.g. ``"K"``, ``"mm/day"``, ``"g/kg"``.
    quantity : str
        One of :data:`QUANTITIES`.
    label : str
        File or layer name for the error message.
    months : numpy.ndarray, optional
        Day counts per month for per-day precipitation (default: a mean year).

    Examples
    --------
    >>> convert_units(np.array([273.15, 283.15]), "K", "temperature", "t.nc").tolist()
    [0.0, 10.0]
    >>> convert_units(np.array([250.0]), "g/kg", "percent", "clay.tif").tolist()
    [25.0]
    """
    if quantity not in QUANTITIES:
        raise ConfigError(f"{label}: quantity {quantity!r} is not one of {sorted(QUANTITIES)}")
    canonical, table, _ = QUANTITIES[quantity]
    u = _norm(unit)
    if u not in table:
        raise ConfigError(
            f"{label}: unit {unit!r} is not a {quantity} unit permamap converts; declare one of "
            f"{sorted(table)} (converted to {canonical})"
        )
    factor, offset = table[u]
    out = values.astype(np.float32) * np.float32(factor) + np.float32(offset)
    if quantity == "precipitation" and u in _PER_DAY:
        if out.shape[0] != 12:
            raise DataError(
                f"{label}: per-day precipitation needs the 12 months on the first axis to become "
                f"mm/month, got shape {out.shape}; declare a monthly total unit such as 'mm'"
            )
        days = DAYS_IN_MONTH if months is None else months
        out = out * days.reshape(12, *([1] * (out.ndim - 1)))
    return out


def check_plausible(values: np.ndarray, quantity: str, unit: str, label: str) -> None:
    """Raise if the median of the finite values lies outside the quantity's plausible range.

    The median (not the extremes) is tested, so that a few outliers pass but a wrong unit, which
    shifts everything, does not.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    lo, hi = QUANTITIES[quantity][2]
    med = float(np.median(finite))
    if not lo <= med <= hi:
        hint = {
            "temperature": "kelvin data need unit 'K'; tenths of a degree need 'degC*10'",
            "precipitation": "metres need unit 'm', per-day rates 'mm/day'",
            "length": "kilometres need unit 'km'",
            "percent": "g/kg need unit 'g/kg', fractions 'fraction'",
            "days": "check the scale factor",
        }[quantity]
        raise DataError(
            f"{label}: values declared as {unit!r} have median {med:.4g} after conversion to "
            f"{QUANTITIES[quantity][0]}, outside the plausible {quantity} range [{lo}, {hi}]; the "
            f"declared unit (or scale) is probably wrong: {hint}"
        )


@dataclass(frozen=True)
class GenericRaster:
    """A static layer from any GeoTIFF or NetCDF variable with declared units.

    Parameters
    ----------
    path : str or Path
        File.
    units : str
        Unit of ``stored · scale + offset`` (see :data:`QUANTITIES`).
    quantity : str
        ``"length"`` (elevation), ``"percent"`` (soil), ``"temperature"``, ``"precipitation"``,
        ``"days"``.
    variable : str, optional
        NetCDF variable name.
    band : int
        1-based band.
    scale, offset, nodata : float, optional
        Override the file's own.
    crs : str, optional
        CRS to assume when the file has none.
    kind : {"continuous", "categorical"}
        Chooses the resampling.
    name : str
        Description for the catalogue.
    coverage : {"full", "partial"}
        ``"full"``: the file must cover the whole grid; ``"partial"``: cells outside it are
        no-data (the plan says how much of the grid it covers).
    """

    path: str | Path
    units: str
    quantity: str = "length"
    variable: str | None = None
    band: int = 1
    scale: float | None = None
    offset: float | None = None
    nodata: float | None = None
    crs: str | None = None
    kind: Kind = "continuous"
    name: str = ""
    coverage: Literal["full", "partial"] = "full"

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ConfigError(
                f"{self.path}: quantity {self.quantity!r} is not one of {sorted(QUANTITIES)}"
            )
        convert_units(np.zeros(12, np.float32), self.units, self.quantity, str(self.path))
        if not self.name:  # factors.csv and the plan name the source: the file, when not told
            band = f" band {self.band}" if self.band != 1 else ""
            variable = f" {self.variable}" if self.variable else ""
            object.__setattr__(self, "name", f"{Path(str(self.path)).name}{variable}{band}")

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity][0]

    def layer(self, band: int | None = None) -> SourceLayer:
        return SourceLayer(
            gdal_path(self.path, self.variable),
            band=band or self.band,
            kind=self.kind,
            scale=self.scale,
            offset=self.offset,
            nodata=self.nodata,
            crs=self.crs,
            name=self.name or Path(str(self.path)).name,
            coverage=self.coverage,
        )

    def check(
        self,
        grid: Grid,
        epochs: Sequence[int] = (),
        window_years: int = 9,
        *,
        bands: Sequence[int] | None = None,
    ) -> list[str]:
        """Header-level check against ``grid``: the file opens, has the bands and a CRS, is not
        cut short and covers the grid; returns a note for the plan.

        ``epochs`` and ``window_years`` are accepted for the common reader interface (a static
        layer has no years). ``bands`` defaults to ``band``; monthly climate checks ``1…12``.

        Raises
        ------
        InputFileError, GridMismatchError, ConfigError
            The first problem, in one line.
        """
        head = self.check_header(grid, bands)
        return [
            f"{self.layer().name}, {self.quantity} in {self.units}{coverage_note(head.fraction)}"
        ]

    def check_header(self, grid: Grid, bands: Sequence[int] | None = None) -> LayerHeader:
        """:func:`~.checks.check_layer` on this file (what :meth:`check` notes is built from)."""
        return check_layer(self.layer(), grid, bands)

    def read(self, grid: Grid, window: Window) -> np.ndarray:
        """The layer on the window, in the canonical unit."""
        lay = self.layer()
        with reading(lay.label):
            data = read_aligned(lay, grid, window)
        out = convert_units(data, self.units, self.quantity, lay.label)
        check_plausible(out, self.quantity, self.units, lay.label)
        return out

    def read_months(self, grid: Grid, window: Window, bands: list[int] | None = None) -> np.ndarray:
        """Twelve monthly bands ``(12, row, col)`` in the canonical unit."""
        lay = self.layer()
        with reading(lay.label):
            data = read_aligned(lay, grid, window, bands=bands or list(range(1, 13)))
        out = convert_units(data, self.units, self.quantity, lay.label)
        check_plausible(out, self.quantity, self.units, lay.label)
        return out


@dataclass(frozen=True)
class GenericMonthlyClimate:
    """Monthly climate from 12-band files (or NetCDF variables with 12 time steps).

    Either a climatology (``temperature`` and ``precipitation`` are one file each; valid for any
    window) or a series: ``series`` maps year → ``(temperature, precipitation)`` files of that year.
    """

    temperature: GenericRaster | None = None
    precipitation: GenericRaster | None = None
    series: dict[int, tuple[GenericRaster, GenericRaster]] | None = None
    name: str = "generic monthly climate"

    def __post_init__(self) -> None:
        if self.series is None and (self.temperature is None or self.precipitation is None):
            raise ConfigError(
                f"{self.name}: give either temperature and precipitation files (a climatology) "
                "or a series {year: (temperature, precipitation)}"
            )

    def available_years(self) -> set[int] | None:
        return None if self.series is None else set(self.series)

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Header-level check of the 12-band files the epochs' windows read; notes for the plan.

        Raises
        ------
        DataError
            A series lacks a window year.
        InputFileError, GridMismatchError, ConfigError
            A file is unreadable, has fewer than 12 bands, or does not cover the grid.
        """
        months = list(range(1, 13))
        if self.series is None:
            if self.temperature is None or self.precipitation is None:
                raise ConfigError(f"{self.name}: a climatology needs temperature and precipitation")
            fraction = min(
                self.temperature.check_header(grid, months).fraction,
                self.precipitation.check_header(grid, months).fraction,
            )
            return [
                f"{self.name}, climatology without years (the same climate for every epoch), "
                f"2 files of 12 months{coverage_note(fraction)}"
            ]
        years = epoch_years(
            epochs,
            window_years,
            self.available_years(),
            self.name,
            "add the missing years to the series or choose a shorter window",
        )
        fraction = 1.0
        for y in years:
            for src in self.series[y]:
                fraction = min(fraction, src.check_header(grid, months).fraction)
        return [
            f"{self.name}, years {year_span(years)}, {2 * len(years)} files of 12 months"
            f"{coverage_note(fraction)}"
        ]

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.series is None or not years:
            if self.temperature is None or self.precipitation is None:
                raise ConfigError(f"{self.name}: a climatology needs temperature and precipitation")
            return (
                self.temperature.read_months(grid, window),
                self.precipitation.read_months(grid, window),
            )
        t_sum: np.ndarray | None = None
        p_sum: np.ndarray | None = None
        for y in years:
            t_src, p_src = self.series[y]
            t = t_src.read_months(grid, window)
            p = p_src.read_months(grid, window)
            t_sum = t if t_sum is None else t_sum + t
            p_sum = p if p_sum is None else p_sum + p
        n = np.float32(len(years))
        return t_sum / n, p_sum / n  # type: ignore[operator]
