"""Build :class:`~.real.RealSources` from the plain TOML data of ``[covariates.real]``.

This module owns the ``[covariates.real]`` schema: it maps each table's ``type`` to one reader
constructor and passes the table's other keys to it as arguments. The allowed keys, and which of
them are required, come from the constructor's signature (:func:`inspect.signature`), so a new
argument on a reader is configurable without touching this module. Keys whose annotation is a
path are resolved against the config file's folder (``base_dir``) unless absolute (or a GDAL
``/vsi…`` path) and must exist.

Schema (one table per source; only ``climate`` is required)::

    [covariates]
    source = "real"

    [covariates.real.climate]            # one of:
    type = "ncep"                        #   NCEP/NCAR air + CMAP precip long-term means
    air = "data/air.mon.ltm.nc"          #     (ncep.ncep_cmap_climatology)
    precip = "data/precip.mon.ltm.nc"
    # type = "worldclim"                 #   WorldClim 2.1 monthly weather (WorldClimMonthly)
    # folders = ["worldclim/"]           #     a single string is accepted too
    # res = "2.5m"
    # type = "worldclim-climatology"     #   WorldClim 1970-2000 (WorldClimClimatology): folders, res
    # type = "generic"                   #   12-band files (GenericMonthlyClimate), with sub-tables
    # [covariates.real.climate.temperature]    path, units, variable, scale, offset, nodata, ...
    # [covariates.real.climate.precipitation]  idem (quantity is implied by the table name)
    # [covariates.real.climate.series.2001.temperature]  a yearly series instead (and .precipitation)

    [covariates.real.elevation]          # optional; one of:
    type = "etopo20"                     #   Ferret etopo20.cdf (ncep.etopo20): path
    path = "data/etopo20.cdf"
    # type = "copdem"                    #   Copernicus DEM tiles (CopernicusDEM): folder, arcsec
    # type = "generic"                   #   any raster (GenericRaster, quantity "length"):
    # path = "dem.tif"                   #     path, units, variable, band, scale, offset,
    # units = "m"                        #     nodata, crs, kind, name

    [covariates.real.soil.clay]          # optional; clay, sand and/or soc; one of:
    type = "soilgrids"                   #   SoilGrids 2.0 VRT or GeoTIFF (SoilGrids): path, prop
    path = "soilgrids/clay/clay_0-5cm_mean.vrt"   # prop defaults to the table name (clay)
    # type = "generic"                   #   GenericRaster, quantity "percent": path, units, ...

    [covariates.real.snow]               # optional (else the degree-day snow rule); one of:
    type = "modis"                       #   MODIS snow HDF4 granules or GeoTIFFs (ModisSnow):
    folder = "modis/"                    #     folder, product, ndsi_threshold, min_valid_days,
    product = "MOD10CM"                  #     crs, coverage

Every reader that reads rasters takes ``coverage = "full"`` (the default: the source must cover
the whole grid) or ``coverage = "partial"`` (cells outside it become no-data; the plan says how
much of the grid is covered).

An unknown ``type``, an unknown key, a missing required key or a value of the wrong type raises
:class:`~permamap.errors.ConfigError` naming the table, the value and the allowed types or keys; a
path that does not exist raises :class:`~permamap.errors.InputFileError`.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from permamap.covariates.sources.copdem import CopernicusDEM
from permamap.covariates.sources.generic import GenericMonthlyClimate, GenericRaster
from permamap.covariates.sources.modis import ModisSnow
from permamap.covariates.sources.ncep import etopo20, ncep_cmap_climatology
from permamap.covariates.sources.real import _SOIL, RealSources, SourceConfig
from permamap.covariates.sources.soilgrids import SoilGrids
from permamap.covariates.sources.worldclim import WorldClimClimatology, WorldClimMonthly
from permamap.errors import ConfigError, InputFileError
from permamap.keys import did_you_mean

__all__ = ["READERS", "sources_from_config"]

_ROOT = "[covariates.real]"


def ncep(air: str | Path, precip: str | Path) -> GenericMonthlyClimate:
    """``type = "ncep"``: :func:`~.ncep.ncep_cmap_climatology` with short TOML keys.

    Parameters
    ----------
    air : path
        NCEP/NCAR ``air.mon.ltm.nc``.
    precip : path
        CMAP ``precip.mon.ltm.nc``.
    """
    return ncep_cmap_climatology(air, precip)


# role -> type -> reader constructor; the constructor's signature is the table's schema
READERS: dict[str, dict[str, Callable[..., Any]]] = {
    "climate": {
        "ncep": ncep,
        "worldclim": WorldClimMonthly,
        "worldclim-climatology": WorldClimClimatology,
        "generic": GenericMonthlyClimate,
    },
    "elevation": {
        "etopo20": etopo20,
        "copdem": CopernicusDEM,
        "generic": functools.partial(GenericRaster, quantity="length"),
    },
    "soil": {
        "soilgrids": SoilGrids,
        "generic": functools.partial(GenericRaster, quantity="percent"),
    },
    "snow": {"modis": ModisSnow},
}


def sources_from_config(table: Mapping[str, Any], base_dir: Path) -> RealSources:
    """Build the real covariate sources described by the ``[covariates.real]`` table.

    Parameters
    ----------
    table : mapping
        ``cfg.covariates["real"]`` as loaded from TOML: ``climate``, ``elevation``, ``snow``
        tables and a ``soil`` table of ``clay`` / ``sand`` / ``soc`` tables (schema in the module
        docstring).
    base_dir : Path
        Folder relative paths are resolved against (the config file's folder,
        ``RunConfig.base_dir``).

    Returns
    -------
    RealSources

    Raises
    ------
    ConfigError
        An unknown role, type or key, a missing required key or a value of the wrong type; the
        message names the TOML table and lists what is allowed.
    InputFileError
        A configured path does not exist, or a reader finds no usable files there.

    Examples
    --------
    >>> sources_from_config({"climate": {"type": "era5"}}, Path("."))
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [covariates.real.climate] type = 'era5' is not a climate reader; use one of "generic", "ncep", "worldclim", "worldclim-climatology"
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{_ROOT} must be a table of source tables, got {table!r}")
    roles = [f.name for f in fields(SourceConfig)]
    unknown = sorted(set(table) - set(roles))
    if unknown:
        raise ConfigError(
            f"{_ROOT} has unknown key `{unknown[0]}`{did_you_mean(unknown[0], roles)}; allowed: "
            f"{', '.join(roles)} (e.g. [covariates.real.elevation])"
        )
    if "climate" not in table:
        raise ConfigError(
            f"{_ROOT} lacks the required [covariates.real.climate] table; add e.g. "
            '[covariates.real.climate] with type = "ncep", air = "air.mon.ltm.nc", '
            'precip = "precip.mon.ltm.nc"'
        )
    built: dict[str, Any] = {}
    for role in ("climate", "elevation", "snow"):
        if role in table:
            built[role] = _reader(f"[covariates.real.{role}]", role, table[role], base_dir)
    soil = table.get("soil", {})
    if not isinstance(soil, Mapping):
        raise ConfigError(
            f"[covariates.real.soil] = {soil!r} must be a table of {list(_SOIL)} tables, e.g. "
            '[covariates.real.soil.clay] with type = "soilgrids", path = "clay_0-5cm_mean.vrt"'
        )
    bad = sorted(set(soil) - set(_SOIL))
    if bad:
        raise ConfigError(
            f"[covariates.real.soil] has unknown factor(s) {bad}{did_you_mean(bad[0], _SOIL)}; "
            f"soil factors are {list(_SOIL)}"
        )
    built["soil"] = {
        name: _reader(f"[covariates.real.soil.{name}]", "soil", spec, base_dir, soil_name=name)
        for name, spec in soil.items()
    }
    try:
        return RealSources(SourceConfig(**built))
    except ConfigError as exc:
        raise ConfigError(f"{_ROOT}: {exc}") from None


def _reader(where: str, role: str, spec: Any, base_dir: Path, soil_name: str | None = None) -> Any:
    """One reader from its table: pick the constructor by ``type``, check and pass the keys."""
    choices = READERS[role]
    allowed_types = ", ".join(f'"{t}"' for t in sorted(choices))
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where} = {spec!r} must be a table with a `type` key; use one of {allowed_types}"
        )
    kind = spec.get("type")
    if kind is None:
        raise ConfigError(
            f"{where} lacks `type`; add e.g. `type = {sorted(choices)[0]!r}` ({allowed_types})"
        )
    if kind not in choices:
        raise ConfigError(
            f"{where} type = {kind!r} is not a {role} reader{did_you_mean(str(kind), choices)}; "
            f"use one of {allowed_types}"
        )
    ctor = choices[kind]
    args = {k: v for k, v in spec.items() if k != "type"}
    if ctor is SoilGrids and soil_name is not None:
        prop = args.setdefault("prop", soil_name)
        if prop != soil_name:
            raise ConfigError(
                f"{where} prop = {prop!r} would read {prop} into the {soil_name} factor; "
                f"drop `prop` or set prop = {soil_name!r}"
            )
    if ctor is GenericMonthlyClimate:
        args = _generic_climate_args(where, args, base_dir)
    return _call(where, f"type = {kind!r}", ctor, args, base_dir)


def _generic_climate_args(where: str, args: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Turn the temperature / precipitation (and series) sub-tables into GenericRaster objects."""

    def raster(sub_where: str, quantity: str, spec: Any) -> GenericRaster:
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f'{sub_where} = {spec!r} must be a table, e.g. path = "{quantity}.tif", units = ...'
            )
        if "quantity" in spec:
            raise ConfigError(
                f"{sub_where} quantity = {spec['quantity']!r} is implied by the table name "
                f"({quantity}); drop the key"
            )
        ctor = functools.partial(GenericRaster, quantity=quantity)
        return _call(sub_where, "generic raster", ctor, dict(spec), base_dir, fixed={"quantity"})

    out = dict(args)
    for q in ("temperature", "precipitation"):
        if q in out:
            out[q] = raster(f"{where[:-1]}.{q}]", q, out[q])
    if "series" in out:
        series = out["series"]
        s_where = f"{where[:-1]}.series]"
        if not isinstance(series, Mapping):
            raise ConfigError(
                f"{s_where} = {series!r} must be a table of years, e.g. "
                f"{where[:-1]}.series.2001.temperature] with path and units"
            )
        years: dict[int, tuple[GenericRaster, GenericRaster]] = {}
        for year, pair in series.items():
            y_where = f"{s_where[:-1]}.{year}]"
            if not str(year).isdigit() or not isinstance(pair, Mapping):
                raise ConfigError(
                    f"{y_where} must be a year holding temperature and precipitation tables"
                )
            extra = sorted(set(pair) - {"temperature", "precipitation"})
            lacking = sorted({"temperature", "precipitation"} - set(pair))
            if extra or lacking:
                raise ConfigError(
                    f"{y_where} has keys {sorted(pair)}; it needs exactly the tables "
                    "temperature and precipitation"
                )
            years[int(year)] = (
                raster(f"{y_where[:-1]}.temperature]", "temperature", pair["temperature"]),
                raster(f"{y_where[:-1]}.precipitation]", "precipitation", pair["precipitation"]),
            )
        out["series"] = years
    return out


def _call(
    where: str,
    what: str,
    ctor: Callable[..., Any],
    args: dict[str, Any],
    base_dir: Path,
    fixed: Collection[str] = (),
) -> Any:
    """Check ``args`` against ``ctor``'s signature, resolve paths, call it, name the table on error."""
    params = {
        n: p
        for n, p in _signature(ctor).parameters.items()
        if not n.startswith("_")
        and n not in fixed
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    unknown = sorted(set(args) - set(params))
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"{where} ({what}) has unknown key `{key}` = {args[key]!r}"
            f"{did_you_mean(key, params)}; allowed keys: {_describe(params)}"
        )
    missing = [n for n, p in params.items() if p.default is p.empty and n not in args]
    if missing:
        raise ConfigError(
            f"{where} ({what}) lacks required key(s) {missing}; add them (keys: {_describe(params)})"
        )
    kwargs: dict[str, Any] = {}
    for key, value in args.items():
        ann = params[key].annotation
        if isinstance(value, str) and _origin(ann) is list:
            value = [value]  # a single folder where a list is expected
        if _accepts(ann, value) is False:
            choices = _literal_choices(ann)
            if choices and isinstance(value, str):
                raise ConfigError(
                    f"{where} {key} = {value!r} is not allowed{did_you_mean(value, choices)}; "
                    f"use one of {', '.join(repr(c) for c in choices)}"
                )
            raise ConfigError(
                f"{where} {key} = {value!r} has the wrong type; {key} must be {_type_name(ann)}"
            )
        if _is_path(ann):
            value = _resolve(where, key, value, base_dir)
        kwargs[key] = value
    try:
        return ctor(**kwargs)
    except (ConfigError, InputFileError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _signature(ctor: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(ctor, eval_str=True)
    except (NameError, TypeError):  # an annotation that cannot be evaluated stays a string
        return inspect.signature(ctor)


def _describe(params: Mapping[str, inspect.Parameter]) -> str:
    return ", ".join(
        f"{n} (required)" if p.default is p.empty else f"{n} = {p.default!r}"
        for n, p in params.items()
    )


def _origin(ann: Any) -> Any:
    return typing.get_origin(ann)


def _members(ann: Any) -> tuple[Any, ...]:
    if _origin(ann) in (typing.Union, types.UnionType):
        return typing.get_args(ann)
    return (ann,)


def _accepts(ann: Any, value: Any) -> bool | None:
    """Whether ``value`` (from TOML) fits annotation ``ann``; None when it cannot tell."""
    verdicts = []
    for a in _members(ann):
        if a is inspect.Parameter.empty or a is Any or isinstance(a, str):
            return None
        if _origin(a) is Literal:
            verdicts.append(value in typing.get_args(a))
        elif _origin(a) is list:
            inner = typing.get_args(a)
            verdicts.append(
                isinstance(value, list)
                and (not inner or all(_accepts(inner[0], v) is not False for v in value))
            )
        elif a is type(None):
            verdicts.append(value is None)
        elif a is bool:
            verdicts.append(isinstance(value, bool))
        elif a is int:
            verdicts.append(isinstance(value, int) and not isinstance(value, bool))
        elif a is float:
            verdicts.append(isinstance(value, (int, float)) and not isinstance(value, bool))
        elif a in (str, Path):
            verdicts.append(isinstance(value, str))
        else:
            return None
    return any(verdicts)


def _literal_choices(ann: Any) -> list[str]:
    """The string values a ``Literal[...]`` annotation (or a union holding one) allows."""
    return [str(v) for a in _members(ann) if _origin(a) is Literal for v in typing.get_args(a)]


def _type_name(ann: Any) -> str:
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("pathlib.", "").replace("typing.", "")


def _is_path(ann: Any) -> bool:
    if isinstance(ann, str):
        return "Path" in ann
    if ann is Path:
        return True
    return any(_is_path(a) for a in typing.get_args(ann))


def _resolve(where: str, key: str, value: Any, base_dir: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(where, key, v, base_dir) for v in value]
    text = str(value)
    if text.startswith("/vsi"):  # GDAL virtual file systems (e.g. /vsicurl/https://...)
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        raise InputFileError(
            f"{where} {key} = {text!r} points to {path}, which does not exist; fix the path "
            f"(relative paths are relative to the config file's folder {base_dir})"
        )
    return path
