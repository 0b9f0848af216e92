"""MODIS snow cover (MOD10A1/MYD10A1 daily, MOD10CM/MYD10CM monthly) as snow-cover days per year.

The products ship as HDF4-EOS (``MOD10A1.A2000055.h23v02.061.<production>.hdf``,
``MOD10CM.A2000061.061.<production>.hdf``). The GDAL inside the rasterio wheels has no HDF4
driver, so ``.hdf`` files stop with an error that says how to convert them. Read instead:

- GeoTIFF exports from NASA AppEEARS, named like
  ``MOD10A1.061_NDSI_Snow_Cover_doy2000055_aid0001.tif`` (the ``doyYYYYDDD`` part gives the date);
- GeoTIFFs converted from the HDF files with a GDAL that has HDF4 (e.g. conda-forge), keeping the
  granule name (``MOD10A1.A2000055.h23v02.061….tif``), e.g.
  ``gdal_translate 'HDF4_EOS:EOS_GRID:"f.hdf":MOD_Grid_Snow_500m:NDSI_Snow_Cover' f.tif`` or, for
  the monthly CMG, ``…:MOD_CMG_Snow_5km:Snow_Cover_Monthly_CMG``.

Snow-cover days per year:

- daily (``NDSI_Snow_Cover`` 0–100, flags > 100 such as 200 missing, 201 no decision, 211 night,
  237 inland water, 239 ocean, 250 cloud, 254 saturated, 255 fill are not observations): a day is
  snow-covered where NDSI snow cover ≥ ``ndsi_threshold`` (10 by default, NDSI 0.1). Per year,
  ``days = snow observations / valid observations · days in the year``, computed per grid cell
  from the fraction of its 500 m cells (a cloud gap is filled by the year's clear-sky rate);
  cells with fewer valid days than ``min_valid_days`` are NaN.
- monthly (``Snow_Cover_Monthly_CMG``, percent of the month's days, flags > 100):
  ``days = Σ_month cover/100 · days in the month``; all 12 months are needed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from permamap.covariates.align import SourceLayer, SourcePart, read_parts, warp_parts
from permamap.errors import ConfigError, DataError, InputFileError
from permamap.grid import Grid

__all__ = ["ModisSnow", "parse_modis_name"]

log = logging.getLogger(__name__)

_NAME_RE = re.compile(
    r"(?P<product>M[OY]D10(?:A1|CM))[^/]*?(?:\.A|_doy)(?P<year>\d{4})(?P<doy>\d{3})", re.IGNORECASE
)


def parse_modis_name(name: str) -> tuple[str, dt.date] | None:
    """Product and date of a MODIS snow file name (granule or AppEEARS), or ``None``.

    >>> parse_modis_name("MOD10A1.061_NDSI_Snow_Cover_doy2000055_aid0001.tif")
    ('MOD10A1', datetime.date(2000, 2, 24))
    >>> parse_modis_name("MOD10CM.A2001032.061.2021202231655.tif")
    ('MOD10CM', datetime.date(2001, 2, 1))
    """
    m = _NAME_RE.search(name)
    if not m:
        return None
    year, doy = int(m["year"]), int(m["doy"])
    return m["product"].upper(), dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def _valid_fraction(value: np.ndarray) -> np.ndarray:
    """Fraction/percent values 0–100 kept; flag values (> 100) become NaN."""
    out = value.astype(np.float32)
    out[(out < 0) | (out > 100)] = np.nan
    return out


@dataclass
class ModisSnow:
    """Snow-cover days per year from MODIS snow GeoTIFFs (daily MOD10A1 or monthly MOD10CM).

    Parameters
    ----------
    folder : path
        Folder searched recursively for ``*.tif`` files with MODIS names.
    product : {"MOD10A1", "MYD10A1", "MOD10CM", "MYD10CM"}
        Which product to use when several are present.
    ndsi_threshold : float
        Daily only: NDSI snow cover (0–100) from which a day counts as snow-covered.
    min_valid_days : int
        Daily only: fewer clear-sky observations in a year make that cell NaN.
    crs : str, optional
        CRS to assume for files without one (AppEEARS exports carry theirs).
    """

    folder: Path | str
    product: str = "MOD10A1"
    ndsi_threshold: float = 10.0
    min_valid_days: int = 30
    crs: str | None = None
    _files: dict[dt.date, list[Path]] = field(
        default_factory=lambda: defaultdict(list), init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.product = self.product.upper()
        if self.product not in ("MOD10A1", "MYD10A1", "MOD10CM", "MYD10CM"):
            raise ConfigError(
                f"MODIS product {self.product!r} is not one of MOD10A1, MYD10A1, MOD10CM, MYD10CM"
            )
        root = Path(self.folder)
        hdf = [p for p in root.rglob("*.hdf")] if root.is_dir() else []
        for path in sorted(root.rglob("*.tif")) if root.is_dir() else []:
            parsed = parse_modis_name(path.name)
            if parsed and parsed[0] == self.product:
                self._files[parsed[1]].append(path)
        if not self._files:
            if hdf:
                raise InputFileError(
                    f"{hdf[0]} (and {len(hdf) - 1} more) are HDF4-EOS files, which the GDAL in the "
                    "rasterio wheels cannot read (no HDF4 driver); convert them to GeoTIFF with a "
                    "GDAL that has HDF4 (conda-forge), e.g. gdal_translate "
                    "'HDF4_EOS:EOS_GRID:\"f.hdf\":MOD_Grid_Snow_500m:NDSI_Snow_Cover' f.tif, or "
                    "order GeoTIFF from NASA AppEEARS"
                )
            raise InputFileError(
                f"no {self.product} GeoTIFFs (e.g. {self.product}.061_NDSI_Snow_Cover_doy2000055_"
                f"aid0001.tif or {self.product}.A2000055.….tif) under {root}; fix the folder"
            )

    @property
    def daily(self) -> bool:
        return self.product.endswith("A1")

    @property
    def name(self) -> str:
        return f"MODIS {self.product} snow cover ({self.folder})"

    def available_years(self) -> set[int]:
        """Years with data: any day for daily products, all 12 months for monthly ones."""
        by_year: dict[int, set[int]] = defaultdict(set)
        for d in self._files:
            by_year[d.year].add(d.month)
        if self.daily:
            return set(by_year)
        return {y for y, months in by_year.items() if len(months) == 12}

    def _aligned(self, paths: list[Path], grid: Grid, window: Window, transform_fn) -> np.ndarray:
        """Mosaic of one date's files on the window: per-file values → fn → block average."""
        out = np.full((int(window.height), int(window.width)), np.nan, np.float32)
        for p in paths:
            lay = SourceLayer(str(p), crs=self.crs, nodata=None, name=f"{self.product} {p.name}")
            parts, _ = read_parts(lay, grid, window, check=False)
            parts = [SourcePart(transform_fn(q.data), q.transform, q.crs) for q in parts]
            if parts:
                warped = warp_parts(parts, grid, window, Resampling.average)[0]
                np.copyto(out, warped, where=np.isnan(out))
        return out

    def snow_days(self, grid: Grid, window: Window, years: list[int]) -> np.ndarray:
        """Mean snow-cover days per year over ``years`` on the grid window."""
        missing = sorted(set(years) - self.available_years())
        if missing:
            need = "files" if self.daily else "all 12 monthly files"
            raise DataError(
                f"{self.name} lacks years {missing} ({need} per year are needed); add them to "
                f"{self.folder} or choose a shorter window"
            )
        per_year = [self._year(grid, window, y) for y in years]
        return np.mean(per_year, axis=0).astype(np.float32)

    def _year(self, grid: Grid, window: Window, year: int) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        ndays = 366 if calendar.isleap(year) else 365
        dates = sorted(d for d in self._files if d.year == year)
        if self.daily:
            snow = np.zeros(shape, np.float32)
            valid = np.zeros(shape, np.float32)
            thr = np.float32(self.ndsi_threshold)

            def to_snow(v: np.ndarray) -> np.ndarray:
                vv = _valid_fraction(v)
                return np.where(np.isnan(vv), np.nan, (vv >= thr).astype(np.float32))

            for d in dates:
                frac = self._aligned(self._files[d], grid, window, to_snow)
                ok = np.isfinite(frac)
                snow[ok] += frac[ok]
                valid[ok] += 1
            with np.errstate(invalid="ignore", divide="ignore"):
                days = snow / valid * ndays
            days[valid < self.min_valid_days] = np.nan
            log.info("%s %d: %d days of files", self.product, year, len(dates))
            return days
        total = np.zeros(shape, np.float32)
        for d in dates:
            cover = self._aligned(self._files[d], grid, window, _valid_fraction)
            total += cover / 100.0 * calendar.monthrange(year, d.month)[1]
        return total
