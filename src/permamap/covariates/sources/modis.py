"""MODIS snow cover (MOD10A1/MYD10A1 daily, MOD10CM/MYD10CM monthly) as snow-cover days per year.

Read from a folder (searched recursively), in any mix:

- the HDF4-EOS granules as NASA distributes them (``MOD10A1.A2000055.h23v02.061.<production>.hdf``,
  ``MOD10CM.A2000061.061.<production>.hdf``), read with pyhdf (:mod:`.hdf4`): SDS
  ``NDSI_Snow_Cover`` of the 500 m sinusoidal tiles or ``Snow_Cover_Monthly_CMG`` of the 0.05°
  climate-modelling grid, georeferenced from ``StructMetadata.0``; several tiles of one day
  are mosaicked;
- GeoTIFF exports from NASA AppEEARS, named like
  ``MOD10A1.061_NDSI_Snow_Cover_doy2000055_aid0001.tif`` (the ``doyYYYYDDD`` part gives the date);
- GeoTIFFs converted from the granules, keeping the granule name (``MOD10A1.A2000055.h23v02.061….tif``).

The date comes from the ``A<YYYY><DDD>`` (or ``doy<YYYY><DDD>``) token of the name.

Snow-cover days per year:

- daily (``NDSI_Snow_Cover`` 0–100, flags > 100 such as 200 missing, 201 no decision, 211 night,
  237 inland water, 239 ocean, 250 cloud, 254 saturated, 255 fill are not observations): a day is
  snow-covered where NDSI snow cover ≥ ``ndsi_threshold`` (10 by default, NDSI 0.1). Per year,
  ``days = snow observations / valid observations · days in the year``, computed per grid cell
  from the fraction of its 500 m cells (a cloud gap is filled by the year's clear-sky rate);
  cells with fewer valid days than ``min_valid_days`` are NaN.
- monthly (``Snow_Cover_Monthly_CMG``, percent of the month's days, flags > 100):
  ``days = Σ_month cover/100 · days in the month``; all 12 months are needed. When every month
  is one file on one source grid (the global CMG, or exports of one extent), the sum and the
  window's mean are taken per source pixel and warped once (block average), so a source pixel
  with a flagged month drops out of the cell's average; otherwise each month is warped first.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from permamap.covariates.align import SourceLayer, SourcePart, read_parts, warp_parts
from permamap.covariates.sources import hdf4
from permamap.covariates.sources.checks import (
    check_layer,
    coverage_note,
    covered_fraction,
    epoch_years,
    reading,
    require_coverage,
    year_span,
)
from permamap.errors import ConfigError, DataError, InputFileError
from permamap.grid import Grid
from permamap.keys import did_you_mean

__all__ = ["PRODUCTS", "SDS_NAMES", "ModisSnow", "parse_modis_name"]

log = logging.getLogger(__name__)

PRODUCTS = ("MOD10A1", "MYD10A1", "MOD10CM", "MYD10CM")
# product kind -> SDS read from the HDF4 granules
SDS_NAMES = {"A1": "NDSI_Snow_Cover", "CM": "Snow_Cover_Monthly_CMG"}
_SUFFIXES = (".hdf", ".tif", ".tiff")
_NAME_RE = re.compile(
    r"(?P<product>M[OY]D10(?:A1|CM))[^/]*?(?:\.A|_doy)(?P<year>\d{4})(?P<doy>\d{3})", re.IGNORECASE
)


def parse_modis_name(name: str) -> tuple[str, dt.date] | None:
    """Product and date of a MODIS snow file name (granule or AppEEARS), or ``None``.

    >>> parse_modis_name("MOD10A1.061_NDSI_Snow_Cover_doy2000055_aid0001.tif")
    ('MOD10A1', datetime.date(2000, 2, 24))
    >>> parse_modis_name("MOD10CM.A2001032.061.2021202231655.tif")
    ('MOD10CM', datetime.date(2001, 2, 1))
    >>> parse_modis_name("MOD10A1.A2005001.h23v02.061.2020123456789.hdf")
    ('MOD10A1', datetime.date(2005, 1, 1))
    """
    m = _NAME_RE.search(name)
    if not m:
        return None
    year, doy = int(m["year"]), int(m["doy"])
    if not 1 <= doy <= (366 if calendar.isleap(year) else 365):
        return None
    return m["product"].upper(), dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def _valid_fraction(value: np.ndarray) -> np.ndarray:
    """Fraction/percent values 0–100 kept; flag values (> 100, see :mod:`.hdf4`) become NaN."""
    out = value.astype(np.float32)
    out[(out < 0) | (out > 100)] = np.nan
    return out


@dataclass
class ModisSnow:
    """Snow-cover days per year from MODIS snow files (daily MOD10A1 or monthly MOD10CM).

    Parameters
    ----------
    folder : path
        Folder searched recursively for HDF4 granules (``*.hdf``) and GeoTIFFs (``*.tif``) with
        MODIS names.
    product : {"MOD10A1", "MYD10A1", "MOD10CM", "MYD10CM"}
        Which product to use when several are present.
    ndsi_threshold : float
        Daily only: NDSI snow cover (0–100) from which a day counts as snow-covered.
    min_valid_days : int
        Daily only: fewer clear-sky observations in a year make that cell NaN.
    crs : str, optional
        CRS to assume for GeoTIFFs without one (AppEEARS exports and HDF granules carry theirs).
    coverage : {"full", "partial"}
        ``"full"``: the files of every window year must cover the whole grid (checked by
        :meth:`check`); ``"partial"``: cells outside them are no-data, and the plan says how
        much of the grid is covered.
    """

    folder: Path | str
    product: str = "MOD10A1"
    ndsi_threshold: float = 10.0
    min_valid_days: int = 30
    crs: str | None = None
    coverage: Literal["full", "partial"] = "full"
    _files: dict[dt.date, list[Path]] = field(
        default_factory=lambda: defaultdict(list), init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.product = str(self.product).upper()
        if self.product not in PRODUCTS:
            raise ConfigError(
                f"MODIS product {self.product!r} is not one of {', '.join(PRODUCTS)}"
                f"{did_you_mean(self.product, PRODUCTS)}"
            )
        if self.coverage not in ("full", "partial"):
            raise ConfigError(
                f"MODIS coverage {self.coverage!r} is not 'full' or 'partial'"
                f"{did_you_mean(str(self.coverage), ('full', 'partial'))}"
            )
        root = Path(self.folder)
        if not root.is_dir():
            raise InputFileError(
                f"MODIS snow folder {root} does not exist or is not a folder; fix the path"
            )
        others: set[str] = set()
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in _SUFFIXES or not path.is_file():
                continue
            parsed = parse_modis_name(path.name)
            if parsed is None:
                continue
            if parsed[0] == self.product:
                self._files[parsed[1]].append(path)
            else:
                others.add(parsed[0])
        if not self._files:
            hint = (
                f"; the folder holds {sorted(others)}: set product to one of them" if others else ""
            )
            raise InputFileError(
                f"no {self.product} files (HDF4 granules {self.product}.A2005001.h23v02.061.….hdf "
                f"or GeoTIFFs such as {self.product}.061_NDSI_Snow_Cover_doy2005001_aid0001.tif) "
                f"under {root}{hint}; download them or fix the folder"
            )

    @property
    def daily(self) -> bool:
        return self.product.endswith("A1")

    @property
    def sds(self) -> str:
        """Name of the SDS read from the HDF4 granules."""
        return SDS_NAMES[self.product[-2:]]

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

    def _fix(self) -> str:
        need = "files" if self.daily else "all 12 monthly files"
        return f"add {need} of those years to {self.folder} or choose a shorter window"

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Header-level check of every file of the epochs' window years; notes for the plan.

        Opens each HDF4 granule (``StructMetadata.0`` and the SDS header) or GeoTIFF header,
        checks the window years are present and that the files' union covers the grid
        (``coverage``).

        Raises
        ------
        DataError
            A window year is missing.
        InputFileError
            A file is unreadable, truncated, lacks the SDS or georeferencing.
        GridMismatchError
            The files do not cover the grid (``coverage="full"``) or do not touch it.
        """
        years = epoch_years(epochs, window_years, self.available_years(), self.name, self._fix())
        paths = [p for d, ps in sorted(self._files.items()) if d.year in years for p in ps]
        footprints = set()
        n_hdf = 0
        for path in paths:
            if path.suffix.lower() == ".hdf":
                h = hdf4.read_header(path, self.sds)
                footprints.add((h.grid.bounds, h.grid.crs))
                n_hdf += 1
            else:
                lay = self._layer(path)
                head = check_layer(lay, grid, coverage=False)
                footprints.add((head.info.bounds, head.info.crs))
        fraction = covered_fraction(footprints, grid)
        require_coverage(
            fraction,
            self.coverage,
            f"{self.name} (years {year_span(years)})",
            grid,
            "download the tiles that cover the grid",
        )
        counts = {"HDF4": n_hdf, "GeoTIFF": len(paths) - n_hdf}
        kinds = ", ".join(kind for kind, n in counts.items() if n)
        return [
            f"MODIS {self.product} snow cover, years {year_span(years)}, {len(paths)} files "
            f"({kinds}){coverage_note(fraction)}"
        ]

    def _layer(self, path: Path) -> SourceLayer:
        return SourceLayer(
            str(path),
            crs=self.crs,
            nodata=None,
            name=f"{self.product} {path.name}",
            coverage=self.coverage,
        )

    def _pieces(self, path: Path, grid: Grid, window: Window) -> list[SourcePart]:
        """The parts of one file under the window, raw values (flags not yet masked)."""
        if path.suffix.lower() == ".hdf":
            part = hdf4.read_window(path, self.sds, grid, window)
            return [] if part is None else [part]
        lay = self._layer(path)
        with reading(lay.label):
            parts, _ = read_parts(lay, grid, window, check=False)
        return parts

    def _aligned(
        self,
        paths: list[Path],
        grid: Grid,
        window: Window,
        transform_fn: Callable[[np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """Mosaic of one date's files on the window: per-file values → fn → block average."""
        out = np.full((int(window.height), int(window.width)), np.nan, np.float32)
        for p in paths:
            parts = [
                SourcePart(transform_fn(q.data), q.transform, q.crs)
                for q in self._pieces(p, grid, window)
            ]
            if parts:
                warped = warp_parts(parts, grid, window, Resampling.average)[0]
                np.copyto(out, warped, where=np.isnan(out))
        return out

    def snow_days(self, grid: Grid, window: Window, years: list[int]) -> np.ndarray:
        """Mean snow-cover days per year over ``years`` on the grid window."""
        missing = sorted(set(years) - self.available_years())
        if missing:
            raise DataError(f"{self.name} lacks years {missing}; {self._fix()}")
        if not self.daily:
            summed = self._monthly_on_source(grid, window, years)
            if summed is not None:
                return summed
        per_year = [self._year(grid, window, y) for y in years]
        return np.mean(per_year, axis=0).astype(np.float32)

    def _monthly_on_source(self, grid: Grid, window: Window, years: list[int]) -> np.ndarray | None:
        """Window mean of ``Σ cover/100 · month days`` per source pixel, warped once.

        One warp instead of one per month: 108 → 1 for a 9-year window (the per-month warps were
        three quarters of the reader's time at 30″). ``None`` when a month has several files or
        the months' pieces differ in grid (mosaics of tiles): those take the per-month path.
        """
        sums: list[np.ndarray] = []
        layout: list[tuple[Affine, CRS, tuple[int, ...]]] | None = None
        for year in years:
            for d in sorted(d for d in self._files if d.year == year):
                if len(self._files[d]) != 1:
                    return None
                parts = self._pieces(self._files[d][0], grid, window)
                here = [(q.transform, q.crs, q.data.shape) for q in parts]
                if layout is None:
                    layout, sums = here, [np.zeros(q.data.shape, np.float32) for q in parts]
                elif here != layout:
                    return None
                mdays = np.float32(calendar.monthrange(year, d.month)[1] / 100.0)
                for total, q in zip(sums, parts, strict=True):
                    total += _valid_fraction(q.data) * mdays
        if layout is None:
            return None
        n = np.float32(len(years))
        mean = [SourcePart(t / n, tr, crs) for t, (tr, crs, _) in zip(sums, layout, strict=True)]
        return warp_parts(mean, grid, window, Resampling.average, n_bands=1)[0]

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
