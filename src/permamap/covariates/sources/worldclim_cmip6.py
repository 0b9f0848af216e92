"""Future monthly climate: WorldClim 2.1 CMIP6 downscaled futures, user files, the delta method.

WorldClim 2.1 CMIP6 (https://www.worldclim.org/data/cmip6/cmip6climate.html; Fick & Hijmans
2017 for the baseline) serves one GeoTIFF per variable, resolution, GCM, SSP and 20-year period::

    https://geodata.ucdavis.edu/cmip6/{res}/{gcm}/{ssp}/wc2.1_{res}_{var}_{gcm}_{ssp}_{period}.tif
    e.g. …/cmip6/10m/ACCESS-CM2/ssp126/wc2.1_10m_tmin_ACCESS-CM2_ssp126_2021-2040.tif

(layout as used by the R package ``geodata``, ``cmip6_world``). Resolutions ``10m``, ``5m``,
``2.5m``, ``30s``; SSPs ``ssp126``, ``ssp245``, ``ssp370``, ``ssp585``; periods ``2021-2040`` …
``2081-2100``; variables ``tmin``, ``tmax`` (°C), ``prec`` (mm/month), each 12 bands = months
January … December, and ``bioc`` (19 bioclimatic bands, not read here). Files are EPSG:4326 and
global. Not every GCM ran every SSP (e.g. no ``GFDL-ESM4`` ``ssp245``): a missing combination is a
404 that :func:`download_cmip6` reports as such. The futures are already downscaled and
bias-corrected against the WorldClim 2.1 baseline climate (1970–2000), so they can be used as they
are (:class:`WorldClimCMIP6`).

The delta method (:func:`delta_monthly`, :class:`DeltaMethodClimate`) instead adds a GCM's change
to the climate the model was trained on::

    temperature:   baseline + (gcm_future − gcm_historical)
    precipitation: baseline · max(gcm_future, floor) / max(gcm_historical, floor), ≥ 0

What the historical reference must be
-------------------------------------
The **same GCM**'s simulation over the **same period as the baseline**. The delta then holds
only the GCM's change between the baseline period and the future period; its bias cancels
because it appears in both terms. With WorldClim 2.1 as the baseline (1970–2000) the reference is
that GCM's 1970–2000 historical run; for WorldClim's downscaled futures, which are calibrated to
the WorldClim 1970–2000 climatology, that downscaled reference *is* the WorldClim 1970–2000
climatology at the same resolution. A reference from another period biases the delta by the
GCM's change between the two periods: a 2016–2024 baseline with a 1970–2000 reference counts the
≈35 years of warming in between twice (in the baseline and again in the delta), ≈1 °C globally and
about twice that in the Arctic, so the projected permafrost loss is too large. Either use a
baseline over the reference period, or a reference over the baseline period (the GCM's
historical + SSP run over the baseline years). :meth:`DeltaMethodClimate.check` notes any gap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from rasterio.windows import Window

from permamap.covariates.align import SourceLayer, read_aligned
from permamap.covariates.download import NotFoundError, default_cache_dir, download
from permamap.covariates.sources import ClimateSource
from permamap.covariates.sources.checks import (
    LayerHeader,
    check_layer,
    check_same_grid,
    coverage_note,
    open_header,
    reading,
)
from permamap.covariates.sources.generic import GenericRaster, check_plausible, convert_units
from permamap.errors import ConfigError, DataError, GridMismatchError, InputFileError
from permamap.grid import Grid
from permamap.keys import did_you_mean

__all__ = [
    "BASELINE_PERIOD",
    "CMIP6_BASE",
    "CMIP6_GCMS",
    "CMIP6_PERIODS",
    "CMIP6_RESOLUTIONS",
    "CMIP6_SSPS",
    "CMIP6_VARIABLES",
    "PREC_FLOOR_MM",
    "DeltaMethodClimate",
    "GenericFutureClimate",
    "WorldClimCMIP6",
    "check_choice",
    "cmip6_name",
    "cmip6_url",
    "delta_monthly",
    "download_cmip6",
]

log = logging.getLogger(__name__)

CMIP6_BASE = "https://geodata.ucdavis.edu/cmip6"
# the GCMs WorldClim 2.1 serves (as listed by the R package geodata)
CMIP6_GCMS = tuple(
    (
        "ACCESS-CM2 ACCESS-ESM1-5 AWI-CM-1-1-MR BCC-CSM2-MR CanESM5 CanESM5-CanOE CMCC-ESM2 "
        "CNRM-CM6-1 CNRM-CM6-1-HR CNRM-ESM2-1 EC-Earth3-Veg EC-Earth3-Veg-LR FIO-ESM-2-0 "
        "GFDL-ESM4 GISS-E2-1-G GISS-E2-1-H HadGEM3-GC31-LL INM-CM4-8 INM-CM5-0 IPSL-CM6A-LR "
        "MIROC-ES2L MIROC6 MPI-ESM1-2-HR MPI-ESM1-2-LR MRI-ESM2-0 UKESM1-0-LL"
    ).split()
)
CMIP6_SSPS = ("ssp126", "ssp245", "ssp370", "ssp585")
CMIP6_PERIODS = ("2021-2040", "2041-2060", "2061-2080", "2081-2100")
CMIP6_RESOLUTIONS = ("10m", "5m", "2.5m", "30s")
CMIP6_VARIABLES = ("tmin", "tmax", "prec", "bioc")
MONTHLY = ("tmin", "tmax", "prec")
BASELINE_PERIOD = (1970, 2000)  # WorldClim 2.1 climatology, the futures' calibration baseline
# Monthly totals below 1 mm are "no precipitation" for the ratio: see delta_monthly.
PREC_FLOOR_MM = 1.0
_UNITS = {
    "tmin": ("temperature", "degC"),
    "tmax": ("temperature", "degC"),
    "prec": ("precipitation", "mm"),
}
_RES_DEG = {"10m": 1 / 6, "5m": 1 / 12, "2.5m": 1 / 24, "30s": 1 / 120}
_FILL = 1e20  # |value| above this is a fill value that the file does not declare as nodata
_MONTHS = list(range(1, 13))


def check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a :class:`ConfigError` naming the choices.

    >>> check_choice("ssp585", CMIP6_SSPS, "SSP")
    'ssp585'
    >>> check_choice("585", CMIP6_SSPS, "SSP")
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: WorldClim CMIP6 SSP '585' is not one of ssp126, ssp245, ssp370, ssp585 (did you mean `ssp585`?)
    """
    if value in allowed:
        return value
    hint = did_you_mean(value, allowed)
    if not hint:
        low = {a.lower(): a for a in allowed}
        if str(value).lower() in low:
            hint = f" (did you mean `{low[str(value).lower()]}`?)"
    raise ConfigError(f"WorldClim CMIP6 {what} {value!r} is not one of {', '.join(allowed)}{hint}")


def cmip6_name(variable: str, gcm: str, ssp: str, period: str, res: str = "10m") -> str:
    """The file name WorldClim gives one variable of one GCM, SSP and period.

    >>> cmip6_name("tmin", "ACCESS-CM2", "ssp126", "2021-2040")
    'wc2.1_10m_tmin_ACCESS-CM2_ssp126_2021-2040.tif'
    """
    check_choice(variable, CMIP6_VARIABLES, "variable")
    check_choice(gcm, CMIP6_GCMS, "GCM")
    check_choice(ssp, CMIP6_SSPS, "SSP")
    check_choice(period, CMIP6_PERIODS, "period")
    check_choice(res, CMIP6_RESOLUTIONS, "resolution")
    return f"wc2.1_{res}_{variable}_{gcm}_{ssp}_{period}.tif"


def cmip6_url(
    variable: str, gcm: str, ssp: str, period: str, res: str = "10m", base: str = CMIP6_BASE
) -> str:
    """Download address of one file.

    >>> cmip6_url("prec", "MPI-ESM1-2-HR", "ssp585", "2081-2100", "2.5m")
    'https://geodata.ucdavis.edu/cmip6/2.5m/MPI-ESM1-2-HR/ssp585/wc2.1_2.5m_prec_MPI-ESM1-2-HR_ssp585_2081-2100.tif'
    """
    name = cmip6_name(variable, gcm, ssp, period, res)
    return f"{base.rstrip('/')}/{res}/{gcm}/{ssp}/{name}"


def _as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def download_cmip6(
    gcms: str | Iterable[str],
    ssps: str | Iterable[str],
    periods: str | Iterable[str],
    cache_dir: Path | str | None = None,
    variables: Iterable[str] = MONTHLY,
    res: str = "10m",
    base: str = CMIP6_BASE,
    sha256: dict[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download every GCM × SSP × period × variable file (resumable, checksummed, cached).

    Every name is validated before the first byte is fetched. ``sha256`` maps file names to known
    digests; without one, the digest is recorded on first download and checked on every later
    use of the cache (:func:`~permamap.covariates.download.download`). Files go to
    ``cache_dir`` (default ``<cache>/downloads/worldclim_cmip6``) under their WorldClim names.

    Raises
    ------
    ConfigError
        An unknown GCM, SSP, period, resolution or variable.
    NotFoundError
        WorldClim has no such file (not every GCM ran every SSP).
    DownloadError
        Network trouble (the part is kept to resume) or a checksum mismatch.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "worldclim_cmip6"
    combos = [
        (var, gcm, ssp, period)
        for gcm in _as_list(gcms)
        for ssp in _as_list(ssps)
        for period in _as_list(periods)
        for var in _as_list(variables)
    ]
    urls = [(cmip6_name(*c, res), cmip6_url(*c, res, base)) for c in combos]  # validate all first
    out = []
    for (var, gcm, ssp, period), (name, url) in zip(combos, urls, strict=True):
        try:
            out.append(download(url, folder, sha256=(sha256 or {}).get(name), progress=progress))
        except NotFoundError as exc:
            raise NotFoundError(
                f"WorldClim has no {var} for {gcm} {ssp} {period} at {res} ({url}: HTTP 404); "
                "not every GCM ran every SSP: drop this GCM or SSP, see "
                "https://www.worldclim.org/data/cmip6/cmip6climate.html"
            ) from exc
    return out


def _check_bands(path: str, label: str, variable: str) -> None:
    """12 bands; band descriptions, when present, name the months in order and the variable."""
    with open_header(path, label) as ds:
        count, descriptions = ds.count, ds.descriptions
    if count != 12:
        raise InputFileError(
            f"{label} has {count} bands, but a WorldClim CMIP6 {variable} file has 12 (one per "
            "month); download the file again (bioc files hold 19 bioclimatic bands, not months)"
        )
    for band, desc in enumerate(descriptions, start=1):
        if not desc:
            continue
        # a trailing 1…12 claims a month ("tmin01", "…_2021-2040_3"); a year does not
        month = re.search(r"(?<!\d)(\d{1,2})\s*$", desc)
        other = re.match(r"\s*(tmin|tmax|prec|tavg|bio)", desc, re.IGNORECASE)
        if (month and 1 <= int(month.group(1)) <= 12 and int(month.group(1)) != band) or (
            other and other.group(1).lower() != variable
        ):
            raise InputFileError(
                f"{label}: band {band} is described as {desc!r}, expected month {band} of "
                f"{variable}; the bands must be January … December of {variable}: fix the file"
            )


@dataclass
class WorldClimCMIP6:
    """WorldClim 2.1 CMIP6 downscaled future climate of one GCM, SSP and 20-year period.

    A :class:`~permamap.covariates.sources.ClimateSource` without years (a climatology of the
    period): ``monthly_means`` gives ``(tmin + tmax) / 2`` in °C and ``prec`` in mm/month on a
    window of the grid, whatever ``years`` it is asked for.

    Parameters
    ----------
    folders : list of path
        Folders (searched recursively) or files holding the GeoTIFFs under their WorldClim names
        (:func:`download_cmip6` puts them there).
    gcm, ssp, period, res : str
        One of :data:`CMIP6_GCMS`, :data:`CMIP6_SSPS`, :data:`CMIP6_PERIODS`,
        :data:`CMIP6_RESOLUTIONS`.
    coverage : {"full", "partial"}
        ``"full"``: the files must cover the whole grid; ``"partial"``: cells outside are no-data.

    Examples
    --------
    >>> src = WorldClimCMIP6(["/data/cmip6"], "MIROC6", "ssp585", "2081-2100")  # doctest: +SKIP
    >>> t, p = src.monthly_means(grid, window, [])  # doctest: +SKIP
    """

    folders: list[Path | str]
    gcm: str
    ssp: str
    period: str
    res: str = "10m"
    coverage: Literal["full", "partial"] = "full"
    name: str = ""
    _paths: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.coverage not in ("full", "partial"):
            raise ConfigError(
                f"WorldClim CMIP6 coverage {self.coverage!r} must be 'full' or 'partial'"
            )
        if isinstance(self.folders, (str, Path)):
            self.folders = [self.folders]
        names = {v: cmip6_name(v, self.gcm, self.ssp, self.period, self.res) for v in MONTHLY}
        if not self.name:
            self.name = f"WorldClim 2.1 CMIP6 {self.gcm} {self.ssp} {self.period} ({self.res})"
        for folder in self.folders:
            root = Path(folder)
            if not root.exists():
                raise InputFileError(
                    f"WorldClim CMIP6 folder {root} does not exist; download the files first "
                    "(download_cmip6) or fix the path"
                )
            for var, name in names.items():
                if var in self._paths:
                    continue
                hits = [root] if root.is_file() and root.name == name else sorted(root.rglob(name))
                if hits:
                    self._paths[var] = str(hits[0])
        missing = [names[v] for v in MONTHLY if v not in self._paths]
        if missing:
            raise InputFileError(
                f"{self.name}: {', '.join(missing)} not found under "
                f"{[str(f) for f in self.folders]}; download them with "
                f"download_cmip6({self.gcm!r}, {self.ssp!r}, {self.period!r}, folder, "
                f"res={self.res!r}) or fix the folder"
            )

    def available_years(self) -> None:
        """A climatology of the period: valid for any window."""
        return None

    def _layer(self, var: str) -> SourceLayer:
        return SourceLayer(self._paths[var], name=f"WorldClim CMIP6 {var}", coverage=self.coverage)

    def check(self, grid: Grid, epochs: Sequence[int] = (), window_years: int = 9) -> list[str]:
        """Header-level check of the three files; a note for the plan.

        Each file opens, has exactly 12 bands (month order checked when bands are described),
        a CRS, covers the grid, and the three share one grid.

        Raises
        ------
        InputFileError, GridMismatchError
            The first problem, in one line.
        """
        first = self._layer("tmin")
        head = check_layer(first, grid, _MONTHS)
        step = _RES_DEG[self.res]
        if head.info.crs.is_geographic and abs(head.info.res - step) > 1e-6 * step:
            raise InputFileError(
                f"{first.label} has {head.info.res:.6g}° pixels, but WorldClim {self.res} files "
                f"have {step:.6g}°; the file is not what its name says: download it again"
            )
        for var in MONTHLY:
            lay = self._layer(var)
            if var != "tmin":
                check_same_grid(lay, head, first.label, _MONTHS)
            _check_bands(lay.path, lay.label, var)
        return [f"{self.name}, 3 files of 12 months{coverage_note(head.fraction)}"]

    def read_variable(self, var: str, grid: Grid, window: Window) -> np.ndarray:
        """One of ``tmin``, ``tmax`` (°C), ``prec`` (mm/month) as ``(12, row, col)`` float32."""
        check_choice(var, MONTHLY, "monthly variable")
        lay = self._layer(var)
        quantity, unit = _UNITS[var]
        with reading(lay.label):
            with open_header(lay.path, lay.label) as ds:
                declared = ds.units[0] if ds.units and ds.units[0] else None
            data = read_aligned(lay, grid, window, bands=_MONTHS)
        if np.any(np.abs(data[np.isfinite(data)]) > _FILL):
            raise DataError(
                f"{lay.label} holds fill values (|value| > 1e20) that it does not declare as "
                "nodata; declare them (gdal_edit.py -a_nodata -3.4e38 FILE) or download the "
                "file again"
            )
        # WorldClim documents °C and mm/month; a unit the file declares itself takes precedence
        out = convert_units(data, declared or unit, quantity, lay.label)
        check_plausible(out, quantity, declared or unit, lay.label)
        return out

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(t, p)``: ``(tmin + tmax) / 2`` in °C and ``prec`` in mm/month, ``(12, row, col)``."""
        t = (
            self.read_variable("tmin", grid, window) + self.read_variable("tmax", grid, window)
        ) / 2
        return t.astype(np.float32), self.read_variable("prec", grid, window)


def _monthly_raster(raster: GenericRaster, quantity: str, role: str, where: str) -> None:
    if raster.quantity != quantity:
        raise ConfigError(
            f"{where}: the {role} file {raster.path} is declared as quantity "
            f"{raster.quantity!r}; it must be {quantity!r} (set quantity = {quantity!r})"
        )


@dataclass(frozen=True)
class GenericFutureClimate:
    """Future monthly climate from the user's files: 12-band GeoTIFFs or NetCDF variables with a
    12-step month (or time) axis, read through GDAL (``netcdf:file.nc:variable``) as
    :class:`~.generic.GenericRaster` does, with declared units converted to °C and mm/month.

    Temperature is either one mean-temperature file (``temperature``) or ``tmin`` and ``tmax``
    (averaged). A climatology of its period: ``available_years()`` is ``None``.

    Examples
    --------
    >>> fut = GenericFutureClimate(
    ...     precipitation=GenericRaster("pr.nc", "mm/day", "precipitation", variable="pr"),
    ...     temperature=GenericRaster("tas.nc", "K", "temperature", variable="tas"),
    ...     name="MyGCM ssp585 2081-2100")
    >>> fut.available_years() is None
    True
    """

    precipitation: GenericRaster
    temperature: GenericRaster | None = None
    tmin: GenericRaster | None = None
    tmax: GenericRaster | None = None
    name: str = "generic future monthly climate"

    def __post_init__(self) -> None:
        pair = self.tmin is not None and self.tmax is not None
        half_pair = (self.tmin is None) != (self.tmax is None)
        if half_pair or (self.temperature is not None) == pair:
            raise ConfigError(
                f"{self.name}: give either `temperature` (monthly mean) or both `tmin` and `tmax`, "
                "not both and not neither"
            )
        _monthly_raster(self.precipitation, "precipitation", "precipitation", self.name)
        for role in ("temperature", "tmin", "tmax"):
            r = getattr(self, role)
            if r is not None:
                _monthly_raster(r, "temperature", role, self.name)

    def _rasters(self) -> list[GenericRaster]:
        rs = [self.temperature, self.tmin, self.tmax, self.precipitation]
        return [r for r in rs if r is not None]

    def available_years(self) -> None:
        """A climatology of its period: valid for any window."""
        return None

    def check(self, grid: Grid, epochs: Sequence[int] = (), window_years: int = 9) -> list[str]:
        """Header-level check: every file opens, has exactly 12 bands and covers the grid.

        Raises
        ------
        InputFileError, GridMismatchError
            The first problem, in one line.
        """
        fraction = 1.0
        for r in self._rasters():
            head: LayerHeader = r.check_header(grid, _MONTHS)
            if head.info.count != 12:
                raise InputFileError(
                    f"{r.layer().label} has {head.info.count} bands (or time steps), but a "
                    "monthly climatology has 12; average it to 12 months first (e.g. xarray "
                    "`ds.groupby('time.month').mean()`)"
                )
            fraction = min(fraction, head.fraction)
        return [f"{self.name}, {len(self._rasters())} files of 12 months{coverage_note(fraction)}"]

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(t, p)`` in °C and mm/month, ``(12, row, col)``; ``years`` is ignored."""
        if self.temperature is not None:
            t = self.temperature.read_months(grid, window)
        elif self.tmin is not None and self.tmax is not None:
            t = (self.tmin.read_months(grid, window) + self.tmax.read_months(grid, window)) / 2
        else:  # __post_init__ refuses this; kept for a frozen instance built around it
            raise ConfigError(f"{self.name}: no temperature, and not both tmin and tmax")
        return t.astype(np.float32), self.precipitation.read_months(grid, window)


def delta_monthly(
    baseline: np.ndarray,
    gcm_future: np.ndarray,
    gcm_historical: np.ndarray,
    kind: str,
    floor_mm: float = PREC_FLOOR_MM,
) -> np.ndarray:
    """Apply a GCM's change to a baseline climate (the delta or change-factor method).

    Parameters
    ----------
    baseline : numpy.ndarray
        The climate the model knows, e.g. ``(12, row, col)``.
    gcm_future, gcm_historical : numpy.ndarray
        The **same GCM** over the future period and over the **baseline's period** (see the
        module docstring: another reference period biases the delta by the change between the
        periods). Same shape as ``baseline``.
    kind : {"temperature", "precipitation"}
        ``temperature`` (°C or K, any unit with a fixed zero offset): additive,
        ``baseline + (future − historical)``. ``precipitation`` (mm/month): multiplicative,
        ``baseline · max(future, floor) / max(historical, floor)``, clipped to ≥ 0.
    floor_mm : float
        Monthly totals below it count as ``floor_mm`` in the precipitation ratio (default
        1 mm/month). Why: a ratio with a near-zero historical month (a dry Arctic winter month
        in a coarse GCM cell) explodes, turning a trace of future rain into a ten- or
        hundredfold increase of the baseline; 1 mm/month is below what monthly gauge totals
        resolve, so treating smaller amounts as 1 mm changes no real signal. The floor applies
        to the future as well, so that a month dry in both periods keeps its baseline
        (ratio 1) instead of being set to zero.

    Returns
    -------
    numpy.ndarray
        float32, NaN where any input is NaN.

    Examples
    --------
    >>> delta_monthly(np.array([10.0]), np.array([15.0]), np.array([12.0]), "temperature")
    array([13.], dtype=float32)
    >>> delta_monthly(np.array([50.0]), np.array([60.0]), np.array([40.0]), "precipitation")
    array([75.], dtype=float32)
    >>> delta_monthly(np.array([8.0, 8.0]), np.array([0.0, 3.0]), np.array([0.0, 0.0]),
    ...               "precipitation")
    array([ 8., 24.], dtype=float32)
    """
    kind = check_choice(kind, ("temperature", "precipitation"), "delta kind")
    b, f, h = (np.asarray(a, dtype=np.float64) for a in (baseline, gcm_future, gcm_historical))
    if not b.shape == f.shape == h.shape:
        raise GridMismatchError(
            f"delta method: baseline {b.shape}, GCM future {f.shape} and GCM historical "
            f"{h.shape} must have one shape; read all three on the same grid window"
        )
    if kind == "temperature":
        return (b + (f - h)).astype(np.float32)
    if not floor_mm > 0:
        raise ConfigError(f"delta method: floor_mm {floor_mm} must be > 0 (default 1 mm/month)")
    with np.errstate(invalid="ignore"):
        ratio = np.fmax(f, floor_mm) / np.fmax(h, floor_mm)
        out = np.clip(b * ratio, 0.0, None)
    out[np.isnan(b) | np.isnan(f) | np.isnan(h)] = np.nan  # fmax would drop a NaN
    return out.astype(np.float32)


def _span(period: tuple[int, int]) -> str:
    return f"{period[0]}-{period[1]}"


@dataclass(frozen=True)
class DeltaMethodClimate:
    """A :class:`~permamap.covariates.sources.ClimateSource` for a future by the delta method.

    ``monthly_means(grid, window, years)`` reads the baseline over ``years`` (the model's
    baseline epoch window) and both GCM climatologies, and applies :func:`delta_monthly` to
    temperature and precipitation.

    Parameters
    ----------
    baseline : ClimateSource
        The climate the model was trained on (e.g. :class:`~.worldclim.WorldClimMonthly`).
    future, historical : ClimateSource
        The same GCM over the future period and over the reference period (climatologies).
        With :class:`WorldClimCMIP6` futures, ``historical`` is the WorldClim 1970–2000
        climatology at the same resolution (:class:`~.worldclim.WorldClimClimatology`).
    baseline_period, reference_period : (int, int)
        First and last year of each, for the plan's note when they differ (the delta is then
        biased by the GCM's change between them; see the module docstring).
    floor_mm : float
        Precipitation floor of the ratio (:func:`delta_monthly`).
    """

    baseline: ClimateSource
    future: ClimateSource
    historical: ClimateSource
    baseline_period: tuple[int, int]
    reference_period: tuple[int, int] = BASELINE_PERIOD
    floor_mm: float = PREC_FLOOR_MM
    name: str = ""

    def __post_init__(self) -> None:
        for what, p in (("baseline", self.baseline_period), ("reference", self.reference_period)):
            if len(p) != 2 or p[0] > p[1]:
                raise ConfigError(
                    f"delta method: {what} period {p} must be (first year, last year)"
                )
        if not self.floor_mm > 0:
            raise ConfigError(f"delta method: floor_mm {self.floor_mm} must be > 0")
        if not self.name:
            object.__setattr__(
                self, "name", f"{self.future.name} by the delta method on {self.baseline.name}"
            )

    def available_years(self) -> set[int] | None:
        """The baseline's years: ``monthly_means`` reads the baseline over the window years."""
        return self.baseline.available_years()

    def period_gap_years(self) -> float:
        """Years between the midpoints of the baseline and reference periods (0 when equal)."""
        (b0, b1), (r0, r1) = self.baseline_period, self.reference_period
        return (b0 + b1) / 2 - (r0 + r1) / 2

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """The three sources' checks (when they have one) and a note on the reference period."""
        notes: list[str] = []
        for src in (self.baseline, self.future, self.historical):
            check = getattr(src, "check", None)
            notes += check(grid, epochs, window_years) if check else [f"{src.name}: not checked"]
        gap = self.period_gap_years()
        if abs(gap) >= 1:
            msg = (
                f"delta method: the GCM reference period {_span(self.reference_period)} is "
                f"{abs(gap):.0f} years {'before' if gap > 0 else 'after'} the baseline "
                f"{_span(self.baseline_period)}, so the delta includes the GCM's change between "
                "them and the future climate is biased by it; use a reference over the baseline "
                "period (or a baseline over the reference period) to remove it"
            )
            log.warning(msg)
            notes.append(msg)
        return notes

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(t, p)`` of the future: the baseline over ``years`` plus the GCM's change."""
        tb, pb = self.baseline.monthly_means(grid, window, years)
        tf, pf = self.future.monthly_means(grid, window, [])
        th, ph = self.historical.monthly_means(grid, window, [])
        return (
            delta_monthly(tb, tf, th, "temperature"),
            delta_monthly(pb, pf, ph, "precipitation", self.floor_mm),
        )
