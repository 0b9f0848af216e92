"""Real future climate for projections: WorldClim 2.1 CMIP6 files or the user's own, used as they
are or by the delta method (:class:`RealFutureClimate`, a
:class:`~permamap.projections.sources.FutureClimate`).

The ``[projections.source]`` table that configures it, and its checks at config load, live in
:mod:`permamap.projections.real_schema` (re-exported here: :func:`check_source_table`);
:func:`future_climate_from_config` builds the source from it and ``[covariates.real]``.

``method = "downscaled"`` uses each GCM's monthly climate as it is; ``"delta"`` adds the GCM's
change (future − historical) to the baseline climate the model was trained on
(:func:`~permamap.covariates.sources.worldclim_cmip6.delta_monthly`; the module docstring of
:mod:`~permamap.covariates.sources.worldclim_cmip6` says what the historical reference must be).
WorldClim CMIP6 futures are downscaled and bias-corrected against WorldClim 2.1 1970-2000, so
their historical reference is that climatology at the same resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from permamap.covariates.sources import ClimateSource
from permamap.covariates.sources.checks import file_of
from permamap.covariates.sources.generic import GenericRaster
from permamap.covariates.sources.worldclim import WorldClimClimatology, WorldClimMonthly
from permamap.covariates.sources.worldclim_cmip6 import (
    BASELINE_PERIOD,
    PREC_FLOOR_MM,
    DeltaMethodClimate,
    GenericFutureClimate,
    WorldClimCMIP6,
    delta_monthly,
)
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid
from permamap.projections.real_schema import (
    METHODS,
    SOURCE_TYPES,
    VARIABLES,
    WHERE,
    check_source_table,
    resolve_folders,
)

__all__ = [
    "METHODS",
    "SOURCE_TYPES",
    "RealFutureClimate",
    "check_source_table",
    "future_climate_from_config",
]

log = logging.getLogger(__name__)

Monthly = tuple[np.ndarray, np.ndarray]


def _raster(
    spec: Mapping[str, Any], quantity: str, base_dir: Path, name: str, **fields: str
) -> GenericRaster:
    path = str(spec["path"]).format(**fields)  # before joining: base_dir may hold braces
    if not path.startswith("/vsi"):
        p = Path(path).expanduser()
        path = str(p if p.is_absolute() else base_dir / p)
    args = {k: v for k, v in spec.items() if k != "path"}
    return GenericRaster(path, quantity=quantity, name=name, **args)


def _generic(
    table: Mapping[str, Any], base_dir: Path, name: str, **fields: str
) -> GenericFutureClimate:
    """A :class:`GenericFutureClimate` for one combination; every file must exist."""
    rasters: dict[str, GenericRaster] = {}
    for var in VARIABLES:
        if var not in table:
            continue
        quantity = "precipitation" if var == "precipitation" else "temperature"
        r = _raster(table[var], quantity, base_dir, f"{name} {var}", **fields)
        local = file_of(str(r.path))
        if local is not None and not local.exists():
            what = " ".join(fields.values())
            raise InputFileError(
                f"{WHERE}: the {var} file {local} for {what} does not exist (template "
                f"{table[var]['path']!r}); add it, or drop that GCM, scenario or period from "
                "[projections]"
            )
        rasters[var] = r
    return GenericFutureClimate(name=name, **rasters)


def _span(period: tuple[int, int]) -> str:
    return f"{period[0]}-{period[1]}"


def _file_stat(path: str) -> dict[str, Any]:
    local = file_of(path)
    if local is None or not local.exists():
        return {"path": path}
    st = local.stat()
    return {"path": str(local), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _files_of(src: Any) -> list[str]:
    """The files a reader reads (its GDAL names)."""
    if isinstance(src, WorldClimCMIP6):
        return sorted(src._paths.values())
    if isinstance(src, WorldClimClimatology):
        return sorted(set(src._index.values()))
    if isinstance(src, GenericFutureClimate):
        return sorted(str(r.path) for r in src._rasters())
    return []


class RealFutureClimate:
    """Future monthly climate from WorldClim 2.1 CMIP6 or the user's files (``[projections.source]``).

    Parameters
    ----------
    table : mapping
        The ``[projections.source]`` table (schema: module docstring); validated here too.
    method : {"downscaled", "delta"}
        The GCM values as they are, or the GCM's change added to ``baseline``.
    base_dir : Path
        The config file's folder.
    baseline : ClimateSource
        The climate the model was trained on (``[covariates.real.climate]``).
    baseline_years : list of int
        The baseline epoch's window years (what ``baseline.monthly_means`` averages).
    snow_from_product : bool
        The baseline snow band came from a product (MODIS): :meth:`baseline_monthly` then gives
        the baseline climate for the snow delta.

    Notes
    -----
    Readers are built per scenario × period × GCM on first use (:meth:`check` builds them all)
    and kept, so the object pickles with them to process workers. The delta method reads the
    baseline (and a historical shared by all GCMs) once per window, not once per GCM; the values
    equal :meth:`DeltaMethodClimate.monthly_means` of each GCM.
    """

    has_truth = False

    def __init__(
        self,
        table: Mapping[str, Any],
        method: str,
        base_dir: Path,
        baseline: ClimateSource,
        baseline_years: list[int],
        snow_from_product: bool,
    ) -> None:
        check_source_table(table, WHERE, method, Path(base_dir))
        if not isinstance(baseline, ClimateSource):
            raise ConfigError(
                f"baseline climate {baseline!r} does not provide monthly_means/available_years; "
                "use a reader from [covariates.real.climate]"
            )
        if method == "delta" and not baseline_years:
            raise ConfigError(
                "the delta method needs the baseline epoch's window years; none given"
            )
        self.table = dict(table)
        self.method = method
        self.base_dir = Path(base_dir)
        self.baseline = baseline
        self.baseline_years = sorted(int(y) for y in baseline_years)
        self.snow_from_product = bool(snow_from_product)
        self.kind = str(table["type"])
        self.res = str(table.get("res", "10m")) if self.kind == "worldclim-cmip6" else None
        self.floor_mm = float(table.get("prec_floor_mm", PREC_FLOOR_MM))
        hist = table.get("historical") if method == "delta" else None
        self._hist_table: dict[str, Any] | None = dict(hist) if hist is not None else None
        self.reference_period: tuple[int, int] | None = None
        if self._hist_table is not None:
            period = self._hist_table.get("period", BASELINE_PERIOD)
            self.reference_period = (int(period[0]), int(period[1]))
        self.baseline_period = self._baseline_period()
        # readers: ClimateSource objects (typed Any: the frozen dataclasses have a read-only name)
        self._future: dict[tuple[str, str, str], Any] = {}
        self._historical: dict[str, Any] = {}
        self._checked = False
        self._cache: tuple[Any, Monthly] | None = None
        source = f"WorldClim 2.1 CMIP6 ({self.res})" if self.res else "generic future climate"
        how = (
            "downscaled values as they are"
            if method == "downscaled"
            else f"by the delta method on {baseline.name}"
        )
        self.name = f"{source}, {how}"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None  # arrays of the last window: not worth shipping to a worker
        return state

    def _baseline_period(self) -> tuple[int, int]:
        if isinstance(self.baseline, WorldClimClimatology):
            return BASELINE_PERIOD  # a climatology: its years, not the epoch window's
        if not self.baseline_years:
            return BASELINE_PERIOD
        return (self.baseline_years[0], self.baseline_years[-1])

    # -- readers --------------------------------------------------------------------------
    def _future_reader(self, scenario: str, period: str, gcm: str) -> ClimateSource:
        key = (scenario, period, gcm)
        if key not in self._future:
            if self.kind == "worldclim-cmip6":
                t = self.table
                try:
                    reader: Any = WorldClimCMIP6(
                        resolve_folders(WHERE, t["folder"], self.base_dir),
                        gcm,
                        scenario,
                        period,
                        res=str(self.res),
                        coverage=t.get("coverage", "full"),
                    )
                except ConfigError as exc:
                    raise ConfigError(f"{WHERE} {exc}") from None
                except InputFileError as exc:
                    raise InputFileError(
                        f"{WHERE} {exc}; not every GCM ran every SSP: if WorldClim has no such "
                        f"file, drop {gcm} from [projections] gcms"
                    ) from None
            else:
                reader = _generic(
                    self.table,
                    self.base_dir,
                    f"{gcm} {scenario} {period}",
                    gcm=gcm,
                    scenario=scenario,
                    period=period,
                )
            self._future[key] = reader
        return self._future[key]

    def _historical_reader(self, gcm: str) -> ClimateSource:
        h = self._hist_table
        if h is None:
            raise ConfigError(f"{WHERE}: the delta method needs [projections.source.historical]")
        key = gcm if h["type"] == "generic" else ""  # a climatology is shared by every GCM
        if key not in self._historical:
            where = f"{WHERE[:-1]}.historical]"
            if h["type"] == "generic":
                self._historical[key] = _generic(h, self.base_dir, f"{gcm} historical", gcm=gcm)
            else:
                try:
                    self._historical[key] = WorldClimClimatology(
                        resolve_folders(where, h["folder"], self.base_dir),
                        res=str(h.get("res", self.res)),
                        coverage=h.get("coverage", "full"),
                    )
                except (ConfigError, InputFileError) as exc:
                    raise type(exc)(f"{where} {exc}") from None
        return self._historical[key]

    # -- FutureClimate ----------------------------------------------------------------------
    def check(
        self, grid: Grid, scenarios: Sequence[str], periods: Sequence[str], gcms: Sequence[str]
    ) -> list[str]:
        """Open the header of every file of every scenario × period × GCM (and each GCM's
        historical for the delta method) before any work; notes for the plan.

        Raises
        ------
        ConfigError
            An unknown GCM, SSP or period name (WorldClim CMIP6), with a suggestion.
        InputFileError, GridMismatchError
            The first missing or unusable file, in one line naming it and the fix.
        """
        combos = [(s, p, g) for s in scenarios for p in periods for g in gcms]
        partial: list[str] = []
        n_files = 0
        for s, p, g in combos:
            reader = self._future_reader(s, p, g)
            for note in reader.check(grid, [], 0):  # type: ignore[attr-defined]
                if "partial coverage" in note:
                    partial.append(note)
            n_files += len(_files_of(reader))
        notes = [
            f"future climate: {self.name}; {len(scenarios)} scenario(s) × {len(periods)} "
            f"period(s) × {len(gcms)} GCM(s) = {len(combos)} combinations, {n_files} files"
        ]
        notes += partial
        if self.method == "delta":
            hist_notes: list[str] = []
            for g in gcms:
                for note in self._historical_reader(g).check(grid, [], 0):  # type: ignore[attr-defined]
                    if note not in hist_notes:
                        hist_notes.append(note)
            notes += [f"GCM historical reference: {n}" for n in hist_notes]
            notes += self._gap_notes(combos[0]) if combos else []
        elif not (
            self.kind == "worldclim-cmip6"
            and isinstance(self.baseline, (WorldClimClimatology, WorldClimMonthly))
        ):
            notes.append(
                f"the future values are used as they are, but the model was trained on "
                f"{self.baseline.name}: any bias between it and the GCM climate counts as "
                'change; method = "delta" removes it'
            )
        self._checked = True
        return notes

    def _gap_notes(self, combo: tuple[str, str, str]) -> list[str]:
        """:meth:`DeltaMethodClimate.period_gap_years` as a plan note (and a warning)."""
        notes = []
        if self.baseline.available_years() is None and not isinstance(
            self.baseline, WorldClimClimatology
        ):
            notes.append(
                f"delta method: the baseline {self.baseline.name} is a climatology without "
                f"years; the reference-period check assumes it covers {_span(self.baseline_period)}"
            )
        ref = self.reference_period or BASELINE_PERIOD
        gap = self.delta_source(*combo).period_gap_years()
        if abs(gap) >= 1:
            msg = (
                f"delta method: the GCM reference period {_span(ref)} is {abs(gap):.0f} years "
                f"{'before' if gap > 0 else 'after'} the baseline {_span(self.baseline_period)}, "
                "so the delta includes the GCM's change between them and the future climate is "
                "biased by it; use a reference over the baseline period (or a baseline over the "
                "reference period) to remove it"
            )
            log.warning(msg)
            notes.append(msg)
        return notes

    def _baseline(self, grid: Grid, window: Window) -> Monthly:
        key = (grid, *(int(v) for v in window.flatten()))  # col_off, row_off, width, height
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        value = self.baseline.monthly_means(grid, window, self.baseline_years)
        self._cache = (key, value)
        return value

    def monthly(
        self, grid: Grid, window: Window, scenario: str, period: str, gcms: Sequence[str]
    ) -> list[Monthly]:
        """Each GCM's ``(t °C, p mm/month)``, ``(12, rows, cols)`` float32, in the order of ``gcms``."""
        if self.method == "downscaled":
            return [
                self._future_reader(scenario, period, g).monthly_means(grid, window, [])
                for g in gcms
            ]
        tb, pb = self._baseline(grid, window)
        out: list[Monthly] = []
        hist_read: dict[int, Monthly] = {}
        for g in gcms:
            tf, pf = self._future_reader(scenario, period, g).monthly_means(grid, window, [])
            hist = self._historical_reader(g)
            if id(hist) not in hist_read:  # the shared climatology is read once
                hist_read[id(hist)] = hist.monthly_means(grid, window, [])
            th, ph = hist_read[id(hist)]
            out.append(
                (
                    delta_monthly(tb, tf, th, "temperature"),
                    delta_monthly(pb, pf, ph, "precipitation", self.floor_mm),
                )
            )
        return out

    def delta_source(self, scenario: str, period: str, gcm: str) -> DeltaMethodClimate:
        """The :class:`DeltaMethodClimate` of one combination (what :meth:`monthly` computes)."""
        return DeltaMethodClimate(
            self.baseline,
            self._future_reader(scenario, period, gcm),
            self._historical_reader(gcm),
            baseline_period=self.baseline_period,
            reference_period=self.reference_period or BASELINE_PERIOD,
            floor_mm=self.floor_mm,
        )

    def baseline_monthly(self, grid: Grid, window: Window) -> Monthly | None:
        """The baseline climate over the baseline years when the snow band came from a product."""
        if not self.snow_from_product:
            return None
        return self._baseline(grid, window)

    def describe(self) -> dict[str, Any]:
        """Kind, method, res and every checked file with its size and modification time.

        Call :meth:`check` first: the files are those of the combinations it resolved.
        """
        if not self._checked:
            raise RuntimeError(
                "RealFutureClimate.describe() lists the files check() resolved; call check() first"
            )
        futures = {
            f"{s} {p} {g}": [_file_stat(f) for f in _files_of(r)]
            for (s, p, g), r in sorted(self._future.items())
        }
        out: dict[str, Any] = {
            "kind": self.kind,
            "method": self.method,
            "res": self.res,
            "files": futures,
        }
        if self.method == "delta":
            out["historical"] = {
                k or "all GCMs": [_file_stat(f) for f in _files_of(r)]
                for k, r in sorted(self._historical.items())
            }
            out["reference_period"] = list(self.reference_period or BASELINE_PERIOD)
            out["baseline"] = self.baseline.name
            out["baseline_years"] = list(self.baseline_years)
            out["prec_floor_mm"] = self.floor_mm
        if self.snow_from_product:
            out["snow_from_product"] = True
        return out


def future_climate_from_config(
    table: Mapping[str, Any],
    method: str,
    base_dir: Path,
    real_table: Mapping[str, Any],
    baseline_years: list[int],
) -> RealFutureClimate:
    """Build the :class:`RealFutureClimate` of ``[projections.source]``.

    The baseline climate and whether a snow product is configured come from the
    ``[covariates.real]`` table (:func:`~permamap.covariates.sources.from_config.sources_from_config`).
    """
    from permamap.covariates.sources.from_config import sources_from_config

    sources = sources_from_config(real_table, Path(base_dir))
    return RealFutureClimate(
        table,
        method,
        Path(base_dir),
        sources.config.climate,
        baseline_years,
        snow_from_product=sources.config.snow is not None,
    )
