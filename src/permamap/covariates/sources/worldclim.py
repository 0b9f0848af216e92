"""WorldClim 2.1: historical monthly weather (CRU-TS downscaled) and the 1970–2000 climatologies.

Layouts, as distributed at ``https://geodata.ucdavis.edu/climate/worldclim/2_1/``:

- historical monthly weather, 2.5 arc-min, one zip per variable and decade, e.g.
  ``hist/cts4.09/wc2.1_cruts4.09_2.5m_tmin_2010-2019.zip`` (CRU-TS 4.09, periods
  ``1950-1959`` … ``2010-2019``, ``2020-2024``) or
  ``hist/cts4.06/2.5m/wc2.1_cruts4.06_2.5m_tmin_2010-2019.zip`` (CRU-TS 4.06, last period
  ``2020-2021``). Members are one GeoTIFF per month: ``wc2.1_2.5m_tmin_2010-01.tif`` (4.06) or
  ``wc2.1_cruts4.09_2.5m_tmin_2010-01.tif`` (4.09). Variables ``tmin``, ``tmax`` (°C) and
  ``prec`` (mm/month); there is no ``tavg``, so the monthly mean is ``(tmin + tmax) / 2``.
- climatologies, 30 arc-sec (also 2.5m, 5m, 10m): ``base/wc2.1_30s_tavg.zip`` with members
  ``wc2.1_30s_tavg_01.tif`` … ``_12.tif`` (``tmin``, ``tmax``, ``tavg``, ``prec`` …).

Readers accept folders holding the zips (read in place through ``/vsizip/``) or the extracted
GeoTIFFs. The monthly reader averages the window years in the source's own pixels and warps once
(bilinear onto a finer grid, block average onto a coarser one). It reads each row of tiles once:
the window-year means of the grid's full-width row band are kept (the last two bands, a few tens
of MB) and each tile is sliced from them, bit-identical to reading the tile alone, instead of
reopening the 324 monthly files (and inflating their zip members from the start) for every tile.
"""

from __future__ import annotations

import logging
import re
import threading
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from permamap.covariates.align import (
    OpenedLayer,
    SourceLayer,
    SourcePart,
    _geo_subset,
    check_coverage,
    inspect_layer,
    open_source,
    read_aligned,
    read_parts,
    resampling_for,
    warp_parts,
)
from permamap.covariates.coverage import _lon_shifts, _window_bounds
from permamap.covariates.download import default_cache_dir, download
from permamap.covariates.sources.checks import (
    check_layer,
    check_same_grid,
    coverage_note,
    epoch_years,
    reading,
    year_span,
)
from permamap.errors import ConfigError, DataError, InputFileError
from permamap.grid import Grid

__all__ = [
    "WORLDCLIM_BASE",
    "WorldClimClimatology",
    "WorldClimMonthly",
    "climatology_zip_url",
    "decade_periods",
    "download_worldclim_monthly",
    "monthly_zip_name",
    "monthly_zip_url",
]

log = logging.getLogger(__name__)

WORLDCLIM_BASE = "https://geodata.ucdavis.edu/climate/worldclim/2_1"
_LAST_PERIOD = {"4.06": "2020-2021", "4.09": "2020-2024"}
_MONTHLY_RE = re.compile(
    r"wc2\.1_(?:cruts(?P<cru>[\d.]+)_)?(?P<res>[\d.]+m)_(?P<var>tmin|tmax|prec)_"
    r"(?P<year>\d{4})-(?P<month>\d{2})\.tif$"
)
_CLIM_RE = re.compile(
    r"wc2\.1_(?P<res>[\d.]+[ms])_(?P<var>tmin|tmax|tavg|prec)_(?P<month>\d{2})\.tif$"
)
MONTHLY_VARIABLES = ("tmin", "tmax", "prec")


def decade_periods(years: Iterable[int], cru: str = "4.09") -> list[str]:
    """The WorldClim decade archives that hold ``years``.

    >>> decade_periods(range(1996, 2005))
    ['1990-1999', '2000-2009']
    >>> decade_periods([2021], cru="4.06")
    ['2020-2021']
    """
    last = _LAST_PERIOD.get(cru)
    if last is None:
        raise DataError(f"CRU-TS version {cru!r} is not one of {sorted(_LAST_PERIOD)}; use '4.09'")
    out = []
    last_start, last_end = (int(v) for v in last.split("-"))
    for y in sorted(set(years)):
        if y > last_end or y < 1950:
            raise DataError(
                f"WorldClim historical monthly weather (CRU-TS {cru}) covers 1950-{last_end}, not "
                f"{y}; choose epochs whose window lies inside it or another climate source"
            )
        period = last if y >= last_start else f"{y // 10 * 10}-{y // 10 * 10 + 9}"
        if period not in out:
            out.append(period)
    return out


def monthly_zip_name(variable: str, period: str, res: str = "2.5m", cru: str = "4.09") -> str:
    """``wc2.1_cruts4.09_2.5m_tmin_2010-2019.zip``."""
    return f"wc2.1_cruts{cru}_{res}_{variable}_{period}.zip"


def monthly_zip_url(
    variable: str, period: str, res: str = "2.5m", cru: str = "4.09", base: str = WORLDCLIM_BASE
) -> str:
    """Download address of a decade archive (4.06 keeps a resolution sub-folder, 4.09 does not)."""
    sub = f"hist/cts{cru}/{res}" if cru == "4.06" else f"hist/cts{cru}"
    return f"{base.rstrip('/')}/{sub}/{monthly_zip_name(variable, period, res, cru)}"


def climatology_zip_url(variable: str, res: str = "30s", base: str = WORLDCLIM_BASE) -> str:
    """``…/base/wc2.1_30s_tavg.zip``."""
    return f"{base.rstrip('/')}/base/wc2.1_{res}_{variable}.zip"


def download_worldclim_monthly(
    years: Iterable[int],
    cache_dir: Path | str | None = None,
    variables: Iterable[str] = MONTHLY_VARIABLES,
    res: str = "2.5m",
    cru: str = "4.09",
    base: str = WORLDCLIM_BASE,
    sha256: dict[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download the decade archives holding ``years`` (resumable, cached); return their paths.

    ``sha256`` maps archive names to known digests; without one, the digest is recorded on first
    download and checked on every later use of the cache.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "worldclim"
    out = []
    for var in variables:
        for period in decade_periods(years, cru):
            name = monthly_zip_name(var, period, res, cru)
            out.append(
                download(
                    monthly_zip_url(var, period, res, cru, base),
                    folder,
                    sha256=(sha256 or {}).get(name),
                    progress=progress,
                )
            )
    return out


def _scan(
    folders: Iterable[Path | str], pattern: re.Pattern[str]
) -> list[tuple[re.Match[str], str]]:
    """Files (plain or inside zips) whose name matches ``pattern``, as GDAL paths."""
    found = []
    for folder in folders:
        root = Path(folder)
        if not root.exists():
            raise InputFileError(
                f"WorldClim folder {root} does not exist; download the archives first "
                "(permamap.covariates.sources.worldclim.download_worldclim_monthly) or fix the path"
            )
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in candidates:
            if path.suffix == ".zip":
                try:
                    with zipfile.ZipFile(path) as zf:
                        members = zf.namelist()
                except (zipfile.BadZipFile, OSError) as exc:
                    raise InputFileError(
                        f"{path} is not a valid zip archive ({exc}; truncated by an interrupted "
                        "download?); delete it and download it again"
                    ) from None
                for member in members:
                    m = pattern.search(member.rsplit("/", 1)[-1])
                    if m:
                        found.append((m, f"/vsizip/{path}/{member}"))
            elif path.suffix == ".tif":
                m = pattern.search(path.name)
                if m:
                    found.append((m, str(path)))
    return found


def _check_coverage_value(coverage: str) -> None:
    if coverage not in ("full", "partial"):
        raise ConfigError(f"WorldClim coverage {coverage!r} must be 'full' or 'partial'")


def _mean_parts(layers: list[SourceLayer], grid: Grid, window: Window) -> list[SourcePart]:
    """Mean of the same-layout files' pieces under the window (NaN if any file is nodata)."""
    total: list[SourcePart] | None = None
    for lay in layers:
        parts, _ = read_parts(lay, grid, window)
        if total is None:
            total = [SourcePart(p.data.copy(), p.transform, p.crs) for p in parts]
            continue
        if [p.data.shape for p in parts] != [p.data.shape for p in total]:
            raise DataError(
                f"{lay.label} does not have the same grid as {layers[0].label}; all WorldClim "
                "files of one source must share a resolution"
            )
        for acc, p in zip(total, parts, strict=True):
            acc.data += p.data
    if total is None:
        return []
    for acc in total:
        acc.data /= np.float32(len(layers))
    return total


@dataclass
class WorldClimMonthly:
    """WorldClim 2.1 historical monthly weather (tmin, tmax, prec per month and year).

    Parameters
    ----------
    folders : list of path
        Folders (searched recursively) or files holding the decade zips or extracted GeoTIFFs.
    res : str
        Resolution tag to use when several are present (``"2.5m"``).
    coverage : {"full", "partial"}
        ``"full"``: the files must cover the whole grid; ``"partial"``: cells outside are no-data.

    Examples
    --------
    >>> src = WorldClimMonthly(["/data/worldclim"])  # doctest: +SKIP
    >>> t, p = src.monthly_means(grid, window, [1996, ..., 2004])  # doctest: +SKIP
    """

    folders: list[Path | str]
    res: str = "2.5m"
    name: str = "WorldClim 2.1 historical monthly weather (CRU-TS downscaled)"
    coverage: Literal["full", "partial"] = "full"
    _index: dict[tuple[str, int, int], str] = field(default_factory=dict, init=False, repr=False)
    _bands: list[_RowBand] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_coverage_value(self.coverage)
        for m, path in _scan(self.folders, _MONTHLY_RE):
            if m["res"] == self.res:
                self._index[(m["var"], int(m["year"]), int(m["month"]))] = path
        if not self._index:
            raise InputFileError(
                f"no WorldClim monthly files at {self.res} (wc2.1_[cruts4.09_]{self.res}_tmin_YYYY-MM.tif, "
                f"plain or in wc2.1_cruts*_{self.res}_*.zip) under {[str(f) for f in self.folders]}; "
                "download them with download_worldclim_monthly or fix the folder"
            )
        log.info("WorldClim monthly: %d files indexed", len(self._index))

    def __getstate__(self) -> dict[str, object]:
        # the row-band cache and its lock stay in this process (a lock cannot be pickled)
        return {k: v for k, v in self.__dict__.items() if k not in ("_bands", "_lock")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state, _bands=[], _lock=threading.Lock())

    def available_years(self) -> set[int]:
        """Years for which all 12 months of tmin, tmax and prec are present."""
        years = {y for (_, y, _) in self._index}
        return {
            y
            for y in years
            if all((v, y, m) in self._index for v in MONTHLY_VARIABLES for m in range(1, 13))
        }

    def _layer(self, var: str, year: int, month: int) -> SourceLayer:
        return SourceLayer(
            self._index[(var, year, month)],
            name=f"WorldClim {var} {year}-{month:02d}",
            coverage=self.coverage,
        )

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Header-level check of every file the epochs' windows read; a note for the plan.

        Checks that each window year has the 12 months of tmin, tmax and prec, opens every
        file's header (in place inside the zips), and checks that they share the first file's
        grid and that it covers ``grid``.

        Raises
        ------
        DataError
            A window year is missing.
        InputFileError, GridMismatchError
            A file is unreadable or on another grid, or the files do not cover the grid.
        """
        folders = [str(f) for f in self.folders]
        years = epoch_years(
            epochs,
            window_years,
            self.available_years(),
            f"WorldClim under {folders}",
            "download them with download_worldclim_monthly(years, folder) or choose a shorter "
            "window or other epochs",
        )
        keys = [(v, y, m) for y in years for v in MONTHLY_VARIABLES for m in range(1, 13)]
        fraction = 1.0
        if keys:
            first = self._layer(*keys[0])
            head = check_layer(first, grid)
            fraction = head.fraction
            for key in keys[1:]:
                check_same_grid(self._layer(*key), head, first.label)
        return [
            f"WorldClim 2.1 monthly {self.res}, years {year_span(years)}, {len(keys)} files"
            f"{coverage_note(fraction)}"
        ]

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window-mean monthly temperature ``(tmin+tmax)/2`` (°C) and precipitation (mm/month)."""
        missing = sorted(set(years) - self.available_years())
        if missing:
            raise DataError(
                f"{self.name} under {[str(f) for f in self.folders]} lacks years {missing} "
                "(all 12 months of tmin, tmax and prec are needed); download them with "
                "download_worldclim_monthly"
            )
        rows, cols = int(window.height), int(window.width)
        t = np.empty((12, rows, cols), np.float32)
        p = np.empty((12, rows, cols), np.float32)
        first = self._layer("tmin", years[0], 1)
        with reading(f"{self.name} under {[str(f) for f in self.folders]}"):
            self._means(grid, window, years, first, t, p)
        return t, p

    def _means(
        self,
        grid: Grid,
        window: Window,
        years: list[int],
        first: SourceLayer,
        t: np.ndarray,
        p: np.ndarray,
    ) -> None:
        band = self._row_band(grid, window, years, first)
        if band is None:
            self._means_per_tile(grid, window, years, first, t, p)
            return
        check_coverage(
            band.info.bounds,
            band.info.crs,
            band.info.res,
            grid,
            window,
            first.label,
            coverage=self.coverage,
        )
        resampling = resampling_for(first, band.info, grid)
        for month in range(1, 13):
            tmin, tmax, prec = (band.slice(v, month, grid, window) for v in MONTHLY_VARIABLES)
            tmean = [
                SourcePart((a.data + b.data) / 2, a.transform, a.crs)
                for a, b in zip(tmin, tmax, strict=True)
            ]
            t[month - 1] = warp_parts(tmean, grid, window, resampling)[0]
            p[month - 1] = warp_parts(prec, grid, window, resampling)[0]

    def _row_band(
        self, grid: Grid, window: Window, years: list[int], first: SourceLayer
    ) -> _RowBand | None:
        """The cached window-year means of the grid's row band under ``window`` (read if new).

        ``None`` where slicing a band would not reproduce the per-tile read exactly: a projected
        grid or source, or a window reaching beyond the grid (a halo).
        """
        inside = (
            window.col_off >= 0
            and window.row_off >= 0
            and window.col_off + window.width <= grid.width
            and window.row_off + window.height <= grid.height
        )
        if not grid.is_geographic or not inside:
            return None
        key = (grid, int(window.row_off), int(window.height), tuple(years))
        with self._lock:
            for band in self._bands:
                if band.key == key:
                    return band
            with open_source(first.path, first.label) as ds:
                info = inspect_layer(ds, first, [first.band])
                geometry = (ds.height, ds.width, ds.transform)
            if not info.crs.is_geographic:
                return None
            # the previous bands go first, so that at most _BANDS_KEPT are held while reading
            del self._bands[: max(len(self._bands) - _BANDS_KEPT + 1, 0)]
            full = Window(0, window.row_off, grid.width, window.height)
            dst = _window_bounds(grid, full)
            subs = [
                (shift, sub)
                for shift in _lon_shifts(info.bounds, dst)
                if (sub := _geo_subset(*geometry, dst, shift, _PAD)) is not None
            ]
            means: dict[tuple[str, int], list[tuple[float, Window, SourcePart]]] = {}
            with reading(f"{self.name} under {[str(f) for f in self.folders]}"):
                for var in MONTHLY_VARIABLES:
                    for month in range(1, 13):
                        lays = [self._layer(var, y, month) for y in years]
                        parts = _mean_parts(lays, grid, full)
                        if len(parts) != len(subs):
                            return None
                        means[(var, month)] = [
                            (shift, sub, part)
                            for (shift, sub), part in zip(subs, parts, strict=True)
                        ]
            band = _RowBand(key, info, geometry, means)
            self._bands.append(band)
            log.debug("WorldClim monthly: read row band %s of %s", full, grid)
            return band

    def _means_per_tile(
        self,
        grid: Grid,
        window: Window,
        years: list[int],
        first: SourceLayer,
        t: np.ndarray,
        p: np.ndarray,
    ) -> None:
        resampling: Resampling | None = None
        for month in range(1, 13):
            tmin = _mean_parts([self._layer("tmin", y, month) for y in years], grid, window)
            tmax = _mean_parts([self._layer("tmax", y, month) for y in years], grid, window)
            prec = _mean_parts([self._layer("prec", y, month) for y in years], grid, window)
            if resampling is None:
                _, info = read_parts(first, grid, window, check=False)
                resampling = resampling_for(first, info, grid)
            tmean = [
                SourcePart((a.data + b.data) / 2, a.transform, a.crs)
                for a, b in zip(tmin, tmax, strict=True)
            ]
            t[month - 1] = warp_parts(tmean, grid, window, resampling)[0]
            p[month - 1] = warp_parts(prec, grid, window, resampling)[0]


_PAD = 2  # read_parts' padding: a tile's slice of a band equals what the tile reads itself
_BANDS_KEPT = 2  # row bands held (two threads on neighbouring tile rows share them)


@dataclass(frozen=True)
class _RowBand:
    """Window-year means of every (variable, month) over one row band of the grid, full width, in
    the source's own pixels, with the source window and longitude shift of each piece.

    The stack writer asks for the grid tile by tile, row-major; reading the 324 monthly files
    once per band row instead of once per tile (and inflating each zip member from its start
    each time) is what lets the whole continent finish. Averaging is element-wise, so a tile's
    slice of the band is bit-identical to the tile's own read.
    """

    key: tuple[object, ...]
    info: OpenedLayer
    geometry: tuple[int, int, Affine]  # the source's height, width, transform
    means: dict[tuple[str, int], list[tuple[float, Window, SourcePart]]]

    def slice(self, var: str, month: int, grid: Grid, window: Window) -> list[SourcePart]:
        """The pieces :func:`read_parts` would return for ``window``, averaged over the years."""
        dst = _window_bounds(grid, window)
        held = {shift: (sub, part) for shift, sub, part in self.means[(var, month)]}
        out = []
        for shift in _lon_shifts(self.info.bounds, dst):
            sub = _geo_subset(*self.geometry, dst, shift, _PAD)
            if sub is None:
                continue
            band_sub, part = held[shift]
            r = int(sub.row_off - band_sub.row_off)
            c = int(sub.col_off - band_sub.col_off)
            data = part.data[:, r : r + int(sub.height), c : c + int(sub.width)]
            if r < 0 or c < 0 or data.shape[1:] != (int(sub.height), int(sub.width)):
                raise DataError(  # pragma: no cover - a band spans the grid's full width
                    f"WorldClim row band {band_sub} does not hold the tile's source window {sub}"
                )
            shifted = Affine.translation(shift, 0) @ window_transform(sub, self.geometry[2])
            out.append(SourcePart(data, shifted, part.crs))
        return out


@dataclass
class WorldClimClimatology:
    """WorldClim 2.1 monthly climatology 1970–2000 (``wc2.1_30s_tavg_01.tif`` …), no years."""

    folders: list[Path | str]
    res: str = "30s"
    name: str = "WorldClim 2.1 climatology 1970-2000"
    coverage: Literal["full", "partial"] = "full"
    _index: dict[tuple[str, int], str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_coverage_value(self.coverage)
        for m, path in _scan(self.folders, _CLIM_RE):
            if m["res"] == self.res:
                self._index[(m["var"], int(m["month"]))] = path
        has_t = all(("tavg", mo) in self._index for mo in range(1, 13)) or all(
            (v, mo) in self._index for v in ("tmin", "tmax") for mo in range(1, 13)
        )
        has_p = all(("prec", mo) in self._index for mo in range(1, 13))
        if not (has_t and has_p):
            raise InputFileError(
                f"WorldClim climatology under {[str(f) for f in self.folders]} lacks the 12 months "
                f"of tavg (or tmin+tmax) and prec at {self.res} (wc2.1_{self.res}_tavg_01.tif …); "
                f"download {climatology_zip_url('tavg', self.res)} and "
                f"{climatology_zip_url('prec', self.res)}"
            )

    def available_years(self) -> None:
        """A climatology: valid for any window."""
        return None

    def _lay(self, var: str, month: int) -> SourceLayer:
        return SourceLayer(
            self._index[(var, month)], name=f"WorldClim {var} {month:02d}", coverage=self.coverage
        )

    def _variables(self) -> tuple[str, ...]:
        if all(("tavg", m) in self._index for m in range(1, 13)):
            return ("tavg", "prec")
        return ("tmin", "tmax", "prec")

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Header-level check of the 12 months of each variable read; a note for the plan.

        A climatology has no years, so every epoch gets the same climate (the note says so).

        Raises
        ------
        InputFileError, GridMismatchError
            A file is unreadable, or does not cover the grid.
        """
        fraction = 1.0
        n = 0
        for var in self._variables():
            head = check_layer(self._lay(var, 1), grid)
            fraction = min(fraction, head.fraction)
            for month in range(2, 13):
                check_same_grid(self._lay(var, month), head, self._lay(var, 1).label)
            n += 12
        return [
            f"WorldClim 2.1 climatology 1970-2000 {self.res}, no years (the same climate for "
            f"every epoch), {n} files{coverage_note(fraction)}"
        ]

    def _read(self, var: str, month: int, grid: Grid, window: Window) -> np.ndarray:
        lay = self._lay(var, month)
        with reading(lay.label):
            return read_aligned(lay, grid, window)

    def monthly_means(
        self, grid: Grid, window: Window, years: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        t = np.stack(
            [
                self._read("tavg", m, grid, window)
                if ("tavg", m) in self._index
                else (self._read("tmin", m, grid, window) + self._read("tmax", m, grid, window)) / 2
                for m in range(1, 13)
            ]
        )
        p = np.stack([self._read("prec", m, grid, window) for m in range(1, 13)])
        return t.astype(np.float32), p.astype(np.float32)
