"""The ``[projections.source]`` schema: :func:`check_source_table` validates it at config load;
:class:`permamap.projections.real.RealFutureClimate` builds readers from it::

    [projections]
    method = "downscaled"              # or "delta"

    [projections.source]
    type = "worldclim-cmip6"           # WorldClim 2.1 CMIP6 (WorldClimCMIP6)
    folder = "cmip6/"                  #   GeoTIFFs under their WorldClim names, searched
                                       #   recursively (a list of folders is accepted too)
    res = "10m"                        #   10m | 5m | 2.5m | 30s (default 10m)
    # coverage = "partial"             #   cells outside the files become no-data (default "full")
    # prec_floor_mm = 1.0              #   delta method only: floor of the precipitation ratio

    # delta method only (required there, refused otherwise): the same GCMs' climate over the
    # reference period. For WorldClim CMIP6 futures, which are downscaled and bias-corrected
    # against WorldClim 2.1 1970-2000, that is the WorldClim 2.1 1970-2000 climatology at the
    # same res (res defaults to the source's and must equal it).
    [projections.source.historical]
    type = "worldclim-climatology"     # folder, res, coverage
    folder = "wc2.1_10m/"
    # type = "generic": one file per GCM from a {gcm} template, plus its years:
    # period = [1970, 2000]
    # [projections.source.historical.temperature]  path = "hist/tas_{gcm}.nc", units = "K", ...
    # [projections.source.historical.precipitation]  path = "hist/pr_{gcm}.nc", units = "mm/day"

    # type = "generic" (instead of worldclim-cmip6): one file per combination from templates
    # holding {gcm}, {scenario} and {period}; 12 bands or 12 time steps, units declared
    # [projections.source.temperature]   # or both .tmin and .tmax (averaged)
    # path = "future/tas_{gcm}_{scenario}_{period}.nc"
    # units = "K"                        # as GenericRaster takes them: units (required),
    # variable = "tas"                   #   variable, scale, offset, nodata, crs, coverage
    # [projections.source.precipitation]
    # path = "future/pr_{gcm}_{scenario}_{period}.nc"
    # units = "mm/day"
    # variable = "pr"

``method = "downscaled"`` uses each GCM's monthly climate as it is; ``"delta"`` adds the GCM's
change (future − historical) to the baseline climate the model was trained on
(:func:`~permamap.covariates.sources.worldclim_cmip6.delta_monthly`; the module docstring of
:mod:`~permamap.covariates.sources.worldclim_cmip6` says what the historical reference must be).

Errors are one line naming the table, the value, the rule and the fix: :class:`ConfigError` for
keys and values, :class:`InputFileError` for paths and files.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from permamap.covariates.sources.generic import GenericRaster
from permamap.covariates.sources.worldclim_cmip6 import CMIP6_RESOLUTIONS
from permamap.errors import ConfigError, InputFileError
from permamap.keys import check_keys, did_you_mean, is_int, is_number, wrong

__all__ = [
    "HISTORICAL_TYPES",
    "METHODS",
    "SOURCE_TYPES",
    "VARIABLES",
    "WHERE",
    "check_source_table",
    "resolve_folders",
]

METHODS = ("downscaled", "delta")
SOURCE_TYPES = ("worldclim-cmip6", "generic")
HISTORICAL_TYPES = ("worldclim-climatology", "generic")
WHERE = "[projections.source]"
#: the file tables of a ``generic`` table (temperature, or tmin + tmax; and precipitation)
VARIABLES = ("temperature", "tmin", "tmax", "precipitation")
_COVERAGE = ("full", "partial")
# GenericRaster keys a file table may set (quantity comes from the table name, band is 1…12)
_RASTER_KEYS = ("path", "units", "variable", "scale", "offset", "nodata", "crs", "coverage")
_FUTURE_FIELDS = ("gcm", "scenario", "period")


def _choice(where: str, key: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(
            f"{where}.{key} = {value!r} is not allowed{did_you_mean(str(value), allowed)}; "
            f"use one of {', '.join(repr(a) for a in allowed)}"
        )
    return str(value)


def resolve_folders(where: str, value: Any, base_dir: Path) -> list[Path | str]:
    """``folder``: a string or a list of strings, relative to the config's folder; each must exist."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise wrong(where, "folder", value, "must be a folder path or a list of them", '"cmip6/"')
    out: list[Path | str] = []
    for item in items:
        path = Path(item).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            raise InputFileError(
                f"{where}.folder = {item!r}: {path} does not exist; download the files there "
                "(download_cmip6) or fix the path (relative paths are relative to the config "
                f"file's folder {base_dir})"
            )
        out.append(path)
    return out


def _template(where: str, value: Any, fields: Sequence[str], base_dir: Path) -> None:
    """A path template holding exactly the placeholders ``fields``; its fixed folder must exist."""
    example = "_".join(f"{{{f}}}" for f in fields)
    if not isinstance(value, str) or not value:
        raise wrong(where, "path", value, "must be a path template", f'"data/tas_{example}.nc"')
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise wrong(
            where, "path", value, f"is not a valid template ({exc})", f'"tas_{example}.nc"'
        ) from None
    bad = sorted(used - set(fields))
    if bad:
        raise ConfigError(
            f"{where}.path = {value!r} has placeholder {{{bad[0]}}}"
            f"{did_you_mean(bad[0], fields)}; allowed: {', '.join(f'{{{f}}}' for f in fields)}"
        )
    lacking = [f for f in fields if f not in used]
    if lacking:
        raise ConfigError(
            f"{where}.path = {value!r} lacks {{{lacking[0]}}}, so every {lacking[0]} would read "
            f'the same file; put it in the name, e.g. path = "tas_{example}.nc"'
        )
    if value.startswith("/vsi"):
        return
    fixed = Path(value.split("{", 1)[0] + "x").expanduser().parent  # the folder before any {…}
    fixed = fixed if fixed.is_absolute() else base_dir / fixed
    if not fixed.exists():
        raise InputFileError(
            f"{where}.path = {value!r}: the folder {fixed} does not exist; fix the path "
            f"(relative paths are relative to the config file's folder {base_dir})"
        )


def _raster_table(where: str, spec: Any, fields: Sequence[str], base_dir: Path) -> None:
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f'{where} = {spec!r} must be a table, e.g. path = "tas_{{gcm}}.nc", units = "K"'
        )
    if "quantity" in spec:
        raise ConfigError(f"{where} quantity is implied by the table name; drop the key")
    check_keys(spec, _RASTER_KEYS, where, required=("path", "units"), example={"units": '"K"'})
    _template(where, spec["path"], fields, base_dir)
    for key in ("units", "variable", "crs"):
        if key in spec and not isinstance(spec[key], str):
            raise wrong(
                where, key, spec[key], "must be a string", '"K"' if key == "units" else '"tas"'
            )
    for key in ("scale", "offset", "nodata"):
        if key in spec and not is_number(spec[key]):
            raise wrong(where, key, spec[key], "must be a number", "0.1")
    if "coverage" in spec:
        _choice(where, "coverage", spec["coverage"], _COVERAGE)
    quantity = "precipitation" if where.endswith(".precipitation]") else "temperature"
    try:  # the unit must be one the quantity knows (checked now, not at the first tile)
        GenericRaster("x.tif", str(spec["units"]), quantity)
    except ConfigError as exc:
        raise ConfigError(f"{where}.units: {exc}") from None


def _file_tables(
    where: str, table: Mapping[str, Any], fields: Sequence[str], base_dir: Path
) -> None:
    """temperature (or tmin + tmax) and precipitation sub-tables of a ``generic`` table."""
    has = {v for v in VARIABLES if v in table}
    temperature = has & {"temperature", "tmin", "tmax"}
    if "precipitation" not in has or temperature not in ({"temperature"}, {"tmin", "tmax"}):
        raise ConfigError(
            f"{where} (type = 'generic') has file tables {sorted(has) or 'none'}; it needs "
            f"[{where[1:-1]}.precipitation] and either [{where[1:-1]}.temperature] or both "
            f"[{where[1:-1]}.tmin] and [{where[1:-1]}.tmax]"
        )
    for var in sorted(has):
        _raster_table(f"{where[:-1]}.{var}]", table[var], fields, base_dir)


def _check_historical(spec: Any, source: Mapping[str, Any], base_dir: Path) -> None:
    where = f"{WHERE[:-1]}.historical]"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} = {spec!r} must be a table with a `type` key")
    kind = spec.get("type")
    if kind is None:
        raise ConfigError(f'{where} lacks `type`; add e.g. type = "worldclim-climatology"')
    _choice(where, "type", kind, HISTORICAL_TYPES)
    if kind == "worldclim-climatology":
        check_keys(
            spec,
            ("type", "folder", "res", "coverage"),
            where,
            required=("folder",),
            example={"folder": '"wc2.1_10m/"'},
        )
        resolve_folders(where, spec["folder"], base_dir)
        src_res = source.get("res", "10m") if source.get("type") == "worldclim-cmip6" else None
        if "res" not in spec and src_res is None:
            raise ConfigError(f'{where} lacks `res`; add e.g. res = "10m" (10m, 5m, 2.5m, 30s)')
        res = _choice(where, "res", spec.get("res", src_res), CMIP6_RESOLUTIONS)
        if src_res is not None and res != src_res:
            raise ConfigError(
                f"{where}.res = {res!r} differs from {WHERE}.res = {src_res!r}: the delta would "
                "hold the difference between the two resolutions' detail; use the climatology at "
                f'res = "{src_res}" (or drop res)'
            )
        if "coverage" in spec:
            _choice(where, "coverage", spec["coverage"], _COVERAGE)
        return
    check_keys(
        spec,
        ("type", "period", *VARIABLES),
        where,
        required=("period",),
        example={"period": "[1970, 2000]"},
    )
    period = spec["period"]
    if not (
        isinstance(period, list)
        and len(period) == 2
        and all(is_int(y) for y in period)
        and period[0] <= period[1]
    ):
        raise wrong(
            where, "period", period, "must be [first year, last year] of the files", "[1970, 2000]"
        )
    _file_tables(where, spec, ("gcm",), base_dir)


def check_source_table(table: Mapping[str, Any], where: str, method: str, base_dir: Path) -> None:
    """Validate the ``[projections.source]`` table at config load (schema: module docstring).

    Parameters
    ----------
    table : mapping
        The table as loaded from TOML.
    where : str
        How the user finds it, e.g. ``"config.toml [projections.source]"``; prefixed to messages
        that do not already start with the table name.
    method : {"downscaled", "delta"}
        ``[projections].method``.
    base_dir : Path
        The config file's folder (relative paths are resolved against it).

    Raises
    ------
    ConfigError
        An unknown key (with a suggestion), a value of the wrong type or out of its choices, a
        missing or superfluous ``historical`` table, a template without its placeholders.
    InputFileError
        A folder (or the fixed folder of a template) does not exist.

    Examples
    --------
    >>> check_source_table({"type": "worldclim-cmip6", "foldr": "x"}, "[projections.source]",
    ...                    "downscaled", Path("."))
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [projections.source] has unknown key `foldr` (did you mean `folder`?); allowed keys: coverage, folder, res, type
    """
    try:
        _check_source(table, method, base_dir)
    except (ConfigError, InputFileError) as exc:
        # messages name the table themselves; keep only what ``where`` adds (the file)
        prefix = where[: -len(WHERE)] if where.endswith(WHERE) else f"{where}: "
        if not prefix:
            raise
        raise type(exc)(f"{prefix}{exc}") from None


def _check_source(table: Mapping[str, Any], method: str, base_dir: Path) -> None:
    if method not in METHODS:
        raise ConfigError(
            f"[projections].method = {method!r} is not allowed{did_you_mean(str(method), METHODS)}"
            "; use 'downscaled' (the GCM values as they are) or 'delta' (the GCM's change added "
            "to the baseline climate)"
        )
    if not isinstance(table, Mapping):
        raise ConfigError(f"{WHERE} = {table!r} must be a table with a `type` key")
    kind = table.get("type")
    if kind is None:
        raise ConfigError(f'{WHERE} lacks `type`; add e.g. type = "worldclim-cmip6" (or "generic")')
    _choice(WHERE, "type", kind, SOURCE_TYPES)
    delta_keys = ("historical", "prec_floor_mm") if method == "delta" else ()
    if kind == "worldclim-cmip6":
        allowed: tuple[str, ...] = ("type", "folder", "res", "coverage", *delta_keys)
    else:
        allowed = ("type", *VARIABLES, *delta_keys)
    for key in ("historical", "prec_floor_mm"):
        if key in table and method != "delta":
            raise ConfigError(
                f"{WHERE}.{key} is used by the delta method only, but [projections].method = "
                f'{method!r}; drop it or set method = "delta"'
            )
    check_keys(
        table,
        allowed,
        WHERE,
        required=("folder",) if kind == "worldclim-cmip6" else (),
        example={"folder": '"cmip6/"'},
    )
    if kind == "worldclim-cmip6":
        resolve_folders(WHERE, table["folder"], base_dir)
        if "res" in table:
            _choice(WHERE, "res", table["res"], CMIP6_RESOLUTIONS)
        if "coverage" in table:
            _choice(WHERE, "coverage", table["coverage"], _COVERAGE)
    else:
        _file_tables(WHERE, table, _FUTURE_FIELDS, base_dir)
    if method == "delta":
        if "historical" not in table:
            raise ConfigError(
                f"{WHERE} lacks [projections.source.historical], which the delta method needs "
                "(the same GCMs' climate over the reference period); add it, e.g. "
                '[projections.source.historical] type = "worldclim-climatology", folder = '
                '"wc2.1_10m/" for WorldClim CMIP6, or set method = "downscaled"'
            )
        if "prec_floor_mm" in table:
            floor = table["prec_floor_mm"]
            if not is_number(floor) or not floor > 0:
                raise wrong(WHERE, "prec_floor_mm", floor, "must be a number > 0 (mm/month)", "1.0")
        _check_historical(table["historical"], table, base_dir)
