"""Custom factors: a user's own rasters as extra bands of the stack.

Each ``[covariates.factors.<name>]`` table of the config becomes a :class:`CustomFactor`::

    [covariates.factors.ndvi]
    path = "ndvi_{year}.tif"        # {year}: yearly files averaged over each epoch's window
    kind = "continuous"             # or "categorical"
    units = "1"                     # required for continuous; categorical default "class"
    nodata = -9999                  # optional: overrides the file's
    scale = 0.0001                  # optional, offset too: value = stored * scale + offset
    band = 1                        # optional (1-based)
    variable = "NDVI"               # NetCDF variable (path = "x.nc")
    resampling = "average"          # optional, a rasterio Resampling name
    coverage = "full"               # or "partial" (cells outside the source become nodata)
    description = "..."             # optional
    crs = "EPSG:4326"               # optional: only for a file that declares no CRS

Reading
    A static file (no ``{year}``) gives the same values for every epoch. A ``{year}``
    template is read for every year of the epoch's window (:func:`~.timewindow.window_years`) and
    averaged per cell over the years that have data there (a cell is NaN only where every year is
    nodata). For a categorical ``{year}`` factor the per-cell *mode* of the years is taken
    instead (ties go to the smallest class value). A window year without a file is an
    :class:`~permamap.errors.InputFileError` that lists the missing years.
Resampling
    By default ``average`` for continuous factors when the file is finer than the grid and
    ``bilinear`` when it is coarser; ``mode`` for categorical factors when finer and ``nearest``
    when coarser (:func:`~.align.choose_resampling`). ``resampling`` overrides it; a categorical
    factor accepts only ``nearest``, ``mode``, ``min``, ``max`` (class-preserving choices).
Coverage
    ``full`` (the default): a file that does not cover the grid is an error. ``partial``: cells
    outside the file are nodata, and through the stack's NaN rule (a cell missing any factor is
    NaN in every band) they drop out of the map.

:class:`~.combined.CombinedSource` (in :mod:`~.combined`) puts a built-in source and these
factors behind one :class:`~.stack.CovariateSource`.
"""

from __future__ import annotations

import contextlib
import glob
import keyword
import logging
import math
import re
import string
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from permamap.covariates import align
from permamap.covariates.catalogue import FACTORS, window_text
from permamap.covariates.sources.checks import check_layer
from permamap.covariates.timewindow import missing_years
from permamap.covariates.timewindow import window_years as window_of
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid
from permamap.keys import check_keys, did_you_mean

__all__ = ["CustomFactor"]

log = logging.getLogger(__name__)

Kind = Literal["continuous", "categorical"]
Coverage = Literal["full", "partial"]

KEYS = tuple(
    "path kind units nodata scale offset band variable resampling coverage description crs".split()
)
_NETCDF = (".nc", ".nc4", ".cdf", ".netcdf")
_CATEGORICAL_RESAMPLING = ("nearest", "mode", "min", "max")
_BUILTIN = {f.name: f for f in FACTORS}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _template_fields(template: str, where: str) -> list[str]:
    """The placeholders of a path template; only a bare ``{year}`` is allowed."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{where} path {template!r} is not a valid template ({exc}); write placeholders as "
            "{year} and a literal brace as {{ or }}"
        ) from exc
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field != "year" or spec or conversion:
            conv, fmt = (f"!{conversion}" if conversion else ""), (f":{spec}" if spec else "")
            shown = "{" + field + conv + fmt + "}"
            raise ConfigError(
                f"{where} path {template!r} has the placeholder {shown}, but only {{year}} is "
                "filled in (with the 4-digit years of each epoch's window); give one file per year "
                "named with {year}, or a single static file"
            )
        names.append(field)
    return names


def _year_pattern(template: str) -> tuple[str, re.Pattern[str]]:
    """Glob pattern and regex (group ``year``) of a ``{year}`` template."""
    globbed, regex, seen = "", "", False
    for literal, field, _, _ in string.Formatter().parse(template):
        globbed += glob.escape(literal)
        regex += re.escape(literal)
        if field is not None:
            globbed += "[0-9][0-9][0-9][0-9]"
            regex += r"(?P=year)" if seen else r"(?P<year>\d{4})"
            seen = True
    return globbed, re.compile(regex)


def _short(path: str) -> str:
    """The file name, or the part of the path from the first folder that holds ``{year}``.

    >>> _short("/data/ndvi_{year}.tif"), _short("/data/{year}/ndvi.tif")
    ('ndvi_{year}.tif', '{year}/ndvi.tif')
    """
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if "{year}" in part:
            return str(Path(*parts[i:]))
    return parts[-1]


def _spans(years: Sequence[int]) -> str:
    """Years as runs of consecutive years.

    >>> _spans([1999, 2000, 2001, 2009, 2011])
    '1999-2001, 2009, 2011'
    """
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(
        f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(str(v) for v in r) for r in runs
    )


def _literal(template: str) -> str:
    """A template without placeholders, with ``{{``/``}}`` turned into braces."""
    return template.replace("{{", "{").replace("}}", "}")


@dataclass(frozen=True)
class CustomFactor:
    """One user factor: a raster file (or one file per year) read onto the grid.

    Build it with :meth:`from_table`; the fields are the validated table.

    Parameters
    ----------
    name : str
        Band name in the stack (an identifier that is not a built-in factor name).
    path : str
        Absolute path, or GDAL ``/vsi…`` path; may contain ``{year}``.
    kind : {"continuous", "categorical"}
        Resampling family and catalogue kind.
    units : str
        Unit of ``stored · scale + offset``.
    nodata, scale, offset : float, optional
        Override the file's own.
    band : int
        1-based band.
    variable : str, optional
        NetCDF variable.
    resampling : str, optional
        A :class:`rasterio.enums.Resampling` name; by default chosen from ``kind`` and pixel sizes.
    coverage : {"full", "partial"}
        Whether the file must cover the whole grid.
    description : str
        For the catalogue.
    crs : str, optional
        CRS to assume when the file declares none (a NetCDF file without ``grid_mapping``).
    years : tuple of int
        For a ``{year}`` template, the years that have a file (found when the table was read).
    """

    name: str
    path: str
    kind: Kind = "continuous"
    units: str = "1"
    nodata: float | None = None
    scale: float | None = None
    offset: float | None = None
    band: int = 1
    variable: str | None = None
    resampling: str | None = None
    coverage: Coverage = "full"
    description: str = ""
    crs: str | None = None
    years: tuple[int, ...] = ()

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], base_dir: Path) -> CustomFactor:
        """Validate a ``[covariates.factors.<name>]`` table.

        Parameters
        ----------
        name : str
            The table name (becomes the band name).
        table : mapping
            The TOML table.
        base_dir : Path
            Folder that relative paths resolve against (the config file's).

        Raises
        ------
        ConfigError
            Unknown or missing key, wrong type or value, a name that collides with a built-in
            factor, a placeholder other than ``{year}``, scale/offset on a categorical factor.
        InputFileError
            The file (or, for a template, every year's file) does not exist.
        """
        where = f"[covariates.factors.{name}]"
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            fixed = re.sub(r"\W", "_", str(name)).strip("_") or "my_factor"
            if fixed[0].isdigit():
                fixed = "f_" + fixed
            raise ConfigError(
                f"{where}: the factor name {name!r} must be an identifier (letters, digits and "
                f"underscores, not starting with a digit); rename the table e.g. "
                f"[covariates.factors.{fixed}]"
            )
        if name in _BUILTIN:
            raise ConfigError(
                f"{where}: {name!r} is the name of a built-in factor ({_BUILTIN[name].description}); "
                f"rename the table, e.g. [covariates.factors.{name}_custom], or drop the built-in "
                f'one with [covariates] drop = ["{name}"] and use another name'
            )
        check_keys(
            table,
            KEYS,
            where,
            required=("path", "kind"),
            example={"path": '"ndvi_{year}.tif"', "kind": '"continuous"'},
        )

        def text(key: str, default: str | None = None) -> str | None:
            value = table.get(key, default)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{where} {key} = {value!r} must be a string; put it in quotes")
            return value

        def number(key: str) -> float | None:
            value = table.get(key)
            if value is not None and not _number(value):
                raise ConfigError(f"{where} {key} = {value!r} must be a number, e.g. {key} = 0.5")
            return None if value is None else float(value)

        kind = text("kind")
        if kind not in ("continuous", "categorical"):
            raise ConfigError(
                f"{where} kind = {kind!r} is not one of 'continuous', 'categorical'"
                f"{did_you_mean(str(kind), ['continuous', 'categorical'])}; use 'categorical' for "
                "classes (land cover, soil type) and 'continuous' for everything else"
            )
        units = text("units")
        if units is None:
            if kind == "continuous":
                raise ConfigError(
                    f'{where} lacks the required key `units`; add e.g. `units = "1"` for a '
                    'dimensionless index or `units = "m"`'
                )
            units = "class"
        scale, offset, nodata = number("scale"), number("offset"), number("nodata")
        if kind == "categorical" and (scale is not None or offset is not None):
            raise ConfigError(
                f"{where} is categorical but has scale/offset; class codes are used as stored: "
                "remove scale and offset, or set kind = 'continuous'"
            )
        for key, value in (("scale", scale), ("offset", offset)):
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"{where} {key} = {value} must be a finite number")
        band = table.get("band", 1)
        if isinstance(band, bool) or not isinstance(band, int) or band < 1:
            raise ConfigError(f"{where} band = {band!r} must be a whole number from 1 (1-based)")
        resampling = text("resampling")
        if resampling is not None:
            names = list(Resampling.__members__)
            if resampling not in names:
                raise ConfigError(
                    f"{where} resampling = {resampling!r} is not a rasterio resampling"
                    f"{did_you_mean(resampling, names)}; use one of {', '.join(names)} or leave it "
                    "out for the default (average/bilinear for continuous, mode/nearest for "
                    "categorical)"
                )
            if kind == "categorical" and resampling not in _CATEGORICAL_RESAMPLING:
                raise ConfigError(
                    f"{where} resampling = {resampling!r} would blend class codes of a categorical "
                    f"factor; use one of {', '.join(_CATEGORICAL_RESAMPLING)} or leave it out"
                )
        coverage = text("coverage", "full")
        if coverage not in ("full", "partial"):
            raise ConfigError(
                f"{where} coverage = {coverage!r} is not one of 'full', 'partial'"
                f"{did_you_mean(str(coverage), ['full', 'partial'])}; 'partial' makes cells "
                "outside the file nodata"
            )
        description = text("description", "") or ""
        crs = text("crs")
        if crs is not None:
            try:
                CRS.from_user_input(crs)
            except CRSError as exc:
                raise ConfigError(
                    f"{where} crs {crs!r} is not a CRS GDAL knows ({exc}); give an EPSG code such "
                    "as 'EPSG:4326' or a PROJ/WKT string"
                ) from exc
        raw = text("path")
        if not raw:
            raise ConfigError(f'{where} path is empty; give a file, e.g. path = "ndvi.tif"')
        variable = text("variable")
        is_vsi = raw.startswith("/vsi")
        placeholders = _template_fields(raw, where)
        if is_vsi:
            path = _literal(raw)
            if placeholders:
                raise ConfigError(
                    f"{where} path {raw!r}: a {{year}} template must be a local path; unpack the "
                    "yearly files into a folder"
                )
        elif placeholders:  # a template: braces of the config's folder stay literal
            p = Path(raw).expanduser()
            folder = str(Path(base_dir)).replace("{", "{{").replace("}", "}}")
            path = str(p if p.is_absolute() else Path(folder) / p)
        else:
            p = Path(_literal(raw)).expanduser()
            path = str(p if p.is_absolute() else Path(base_dir) / p)
        suffix = Path(_literal(raw.split("{year}")[-1]) if placeholders else _literal(raw))
        is_netcdf = suffix.suffix.lower() in _NETCDF
        if variable is not None and not is_netcdf:
            raise ConfigError(
                f"{where} has variable = {variable!r} but {raw!r} is not a NetCDF file "
                f"({', '.join(_NETCDF)}); remove variable, or point path at the NetCDF file"
            )
        years: tuple[int, ...] = ()
        if placeholders:
            pattern, regex = _year_pattern(path)
            found = {}
            for hit in glob.glob(pattern):
                m = regex.fullmatch(hit)
                if m:
                    found[int(m.group("year"))] = hit
            if not found:
                raise InputFileError(
                    f"{where} path {raw!r} matches no file (looked for {pattern}); put the yearly "
                    f"files there, named with the 4-digit year, or fix the path"
                )
            years = tuple(sorted(found))
        elif not is_vsi and not Path(path).is_file():
            raise InputFileError(
                f"{where} path {raw!r} does not exist (resolved to {path}); fix the path "
                "(relative paths start at the config file's folder)"
            )
        return cls(
            name=name,
            path=path,
            kind=kind,  # type: ignore[arg-type]
            units=units,
            nodata=nodata,
            scale=scale,
            offset=offset,
            band=int(band),
            variable=variable,
            resampling=resampling,
            coverage=coverage,  # type: ignore[arg-type]
            description=description,
            crs=crs,
            years=years,
        )

    # -- files ------------------------------------------------------------------------------------
    @property
    def is_yearly(self) -> bool:
        """True for a ``{year}`` template (averaged over the epoch window)."""
        return bool(self.years)

    @property
    def where(self) -> str:
        return f"[covariates.factors.{self.name}]"

    def file_for(self, year: int | None = None) -> str:
        """The file of ``year`` (a template) or the static file."""
        if self.is_yearly:
            if year is None:
                raise ValueError(f"{self.where} is yearly; give the year")
            return self.path.format(year=year)
        return self.path

    def epoch_years(self, epoch: int, window_years: int) -> list[int]:
        """The years of ``epoch``'s window, after checking each has a file (``[]`` if static).

        Raises
        ------
        InputFileError
            Naming the missing years and the files to add.
        """
        if not self.is_yearly:
            return []
        wanted = window_of(epoch, window_years)
        missing = missing_years(wanted, self.years)
        if missing:
            have = (
                f"{self.years[0]}-{self.years[-1]}" if len(self.years) > 1 else str(self.years[0])
            )
            raise InputFileError(
                f"{self.where}: epoch {epoch} needs {_short(self.path)} for {wanted[0]}-"
                f"{wanted[-1]} ({window_years}-year window) but years {missing} have no file "
                f"(found {have}); add {_short(self.path).format(year=missing[0])} and the others, or "
                "choose other epochs or a shorter window"
            )
        return wanted

    def layer(self, year: int | None = None) -> align.SourceLayer:
        """The :class:`~.align.SourceLayer` of one file."""
        path = self.file_for(year)
        gdal = f"netcdf:{path}:{self.variable}" if self.variable else path
        return _source_layer(self, gdal, self.where)

    # -- reading ----------------------------------------------------------------------------------
    def read(
        self, grid: Grid, window: Window | None, epoch: int, window_years: int = 9
    ) -> np.ndarray:
        """The factor on a grid window for ``epoch``: ``(row, col)`` float32, NaN for nodata.

        Static: the file on the window. ``{year}``: the per-cell mean (continuous) or mode
        (categorical) over the window years, ignoring nodata years of a cell.
        """
        w = window or grid.full_window
        years = self.epoch_years(epoch, window_years)
        if not years:
            return self._read_one(grid, w, None)
        if self.kind == "categorical":
            return _mode(np.stack([self._read_one(grid, w, y) for y in years]))
        total = np.zeros((int(w.height), int(w.width)), dtype=np.float64)
        count = np.zeros(total.shape, dtype=np.int32)
        for y in years:
            values = self._read_one(grid, w, y)
            ok = ~np.isnan(values)
            total[ok] += values[ok]
            count += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)

    def _read_one(self, grid: Grid, window: Window, year: int | None) -> np.ndarray:
        resampling = Resampling[self.resampling] if self.resampling else None
        return align.read_aligned(self.layer(year), grid, window, resampling=resampling)

    # -- checking ---------------------------------------------------------------------------------
    def files(self, epochs: Sequence[int], window_years: int) -> list[tuple[int | None, str]]:
        """``(year, file)`` of every file the epochs need (``year`` None for a static file)."""
        if not self.is_yearly:
            return [(None, self.path)]
        needed = sorted({y for e in epochs for y in self.epoch_years(e, window_years)})
        return [(y, self.file_for(y)) for y in needed]

    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Open the header of every file the epochs need; return plan notes.

        Checks that each year of each epoch window has a file, that the file opens, has the band
        (and the NetCDF variable), a CRS and a geotransform, and covers the grid (``full``) or
        overlaps it (``partial``, whose covered fraction goes into the notes).

        Raises
        ------
        InputFileError, ConfigError, GridMismatchError
            One line naming the factor, the file and the fix.
        """
        files = self.files(epochs, window_years)
        fractions = []
        for year, _ in files:
            layer = self.layer(year)
            if self.variable:
                _check_variable(self.file_for(year), self.variable, self.where)
            with _quiet(), align.open_source(layer.path, layer.label) as ds:
                if ds.count == 0:
                    names = _netcdf_variables(ds)
                    raise InputFileError(
                        f"{self.where}: {layer.path} has no raster band of its own (it holds "
                        f'variables {", ".join(names) or "none"}); add variable = "..." naming one'
                    )
            # opens again at header level: bands, CRS, geotransform, a GeoTIFF cut short, coverage
            with _quiet():
                header = check_layer(layer, grid, [self.band])
            if self.coverage == "partial":
                fractions.append(header.fraction)
        what = (
            f"{len(files)} yearly files {_spans([y for y, _ in files if y is not None])}"
            if self.is_yearly
            else "static"
        )
        note = f"custom factor {self.name} ({self.kind}, {self.units}): {_short(self.path)}, {what}"
        if self.variable:
            note += f", variable {self.variable}"
        if self.resampling:
            note += f", resampling {self.resampling}"
        if fractions:
            note += (
                f", partial coverage: {min(fractions):.0%} of the grid; cells outside are NaN in "
                "every band"
            )
        return [note]

    def window_label(self, window_years: int) -> str:
        """The catalogue's window column: ``"9 years centred on the epoch (ndvi_{year}.tif)"``."""
        if self.is_yearly:
            return f"{window_text(window_years)} ({_short(self.path)})"
        return "static"

    @property
    def source(self) -> str:
        """The file (or template), with the NetCDF variable and band when they matter."""
        source = self.path + (f" variable {self.variable}" if self.variable else "")
        return source + (f" band {self.band}" if self.band != 1 else "")

    def catalogue_row(self, window_years: int) -> dict[str, str]:
        """The ``factors.csv`` row: kind ``custom-<kind>``, source = the file (template)."""
        return {
            "name": self.name,
            "unit": self.units,
            "kind": f"custom-{self.kind}",
            "source": self.source,
            "window": self.window_label(window_years),
            "description": self.description,
        }

    def signature(
        self, epoch: int | None = None, window_years: int | None = None
    ) -> dict[str, Any]:
        """The definition and the (path, size, mtime) of each file read, for fingerprints.

        With ``epoch`` and ``window_years``, the files of that epoch's window; otherwise every
        file the template matched.
        """
        definition = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "years"}
        if epoch is not None and window_years is not None:
            paths = [path for _, path in self.files([epoch], window_years)]
        elif self.is_yearly:
            paths = [self.file_for(y) for y in self.years]
        else:
            paths = [self.path]
        files = []
        for path in paths:
            try:
                st = Path(path).stat()
                files.append([path, st.st_size, st.st_mtime_ns])
            except OSError:
                files.append([path, None, None])  # /vsi… paths: the name only
        return {"definition": definition, "files": files}


def _source_layer(factor: CustomFactor, gdal_path: str, label: str) -> align.SourceLayer:
    """The one place a :class:`~.align.SourceLayer` is made for a custom factor."""
    return align.SourceLayer(
        gdal_path,
        band=factor.band,
        kind=factor.kind,
        scale=factor.scale,
        offset=factor.offset,
        nodata=factor.nodata,
        crs=factor.crs,
        name=label,
        coverage=factor.coverage,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence rasterio's "no geotransform" warning for a NetCDF container opened to list its
    variables (the layer itself is checked for a geotransform by ``inspect_layer``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def _netcdf_variables(ds: Any) -> list[str]:
    """Variable names of an open NetCDF container (from its subdatasets)."""
    return [s.rsplit(":", 1)[-1] for s in (ds.subdatasets or [])]


def _check_variable(path: str, variable: str, where: str) -> None:
    """Raise if a NetCDF file has no variable ``variable`` (listing those it has)."""
    try:
        with _quiet(), align.open_source(path, f"{where} {Path(path).name}") as ds:
            names = _netcdf_variables(ds)
            if not names:  # a single-variable file opens as that variable
                names = [v for v in [ds.tags(1).get("NETCDF_VARNAME")] if v] if ds.count else []
    except RasterioIOError as exc:  # pragma: no cover - open_source converts these
        raise InputFileError(f"{where}: {path} cannot be read ({exc})") from exc
    if names and variable not in names:
        raise InputFileError(
            f"{where}: {Path(path).name} has no variable {variable!r}"
            f"{did_you_mean(variable, names)}; its variables are {', '.join(names)}"
        )


def _mode(stack: np.ndarray) -> np.ndarray:
    """Per-cell most frequent value along axis 0, ignoring NaN; ties to the smallest value.

    >>> _mode(np.array([[[1.0, 2.0]], [[3.0, 2.0]], [[3.0, np.nan]]], dtype="float32")).tolist()
    [[3.0, 2.0]]
    """
    classes = np.unique(stack[~np.isnan(stack)])
    out = np.full(stack.shape[1:], np.nan, dtype=np.float32)
    if classes.size == 0:
        return out
    counts = np.stack([(stack == c).sum(axis=0) for c in classes])
    best = counts.argmax(axis=0)  # first maximum: the smallest class of a tie
    has = counts.max(axis=0) > 0
    out[has] = classes[best[has]]
    return out
