"""The factor catalogue: the named environmental factors, their units, sources and temporal windows.

:data:`FACTORS` lists the built-in factors (climate and static). ``factors.csv`` describes the
factors of a run's stack, one row each, with the columns :data:`CATALOGUE_COLUMNS`:

``name``
    Band name in the stack.
``unit``
    Unit of the values (``class`` for categorical custom factors without a declared unit).
``kind``
    ``climate`` (built-in, averaged over the epoch window), ``static`` (built-in, one layer for
    every epoch), ``custom-continuous`` or ``custom-categorical`` (a user's
    ``[covariates.factors.<name>]`` table; resampled by averaging or by the mode, see
    :mod:`permamap.covariates.custom`).
``source``
    Where the values come from: a product name, ``grid``, or a custom factor's file (template).
``window``
    ``"<n> years centred on the epoch"`` (climate factors and ``{year}`` custom factors, the
    latter followed by the file template) or ``"static"``.
``description``
    What the factor is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_path

__all__ = [
    "CATALOGUE_COLUMNS",
    "FACTORS",
    "FACTOR_KINDS",
    "Factor",
    "builtin_row",
    "factor_names",
    "window_text",
    "write_catalogue",
]

CATALOGUE_COLUMNS: tuple[str, ...] = ("name", "unit", "kind", "source", "window", "description")
FACTOR_KINDS: tuple[str, ...] = ("climate", "static", "custom-continuous", "custom-categorical")


@dataclass(frozen=True)
class Factor:
    """One environmental factor of the stack."""

    name: str
    unit: str
    kind: str  # "climate" (averaged over the epoch window) or "static"
    description: str


FACTORS: tuple[Factor, ...] = (
    Factor("maat", "degC", "climate", "mean annual air temperature"),
    Factor("t_warmest", "degC", "climate", "mean temperature of the warmest month"),
    Factor("t_coldest", "degC", "climate", "mean temperature of the coldest month"),
    Factor("t_range", "K", "climate", "annual range, warmest minus coldest month"),
    Factor("tdd", "degC day", "climate", "thawing degree days (above 0 degC)"),
    Factor("fdd", "degC day", "climate", "freezing degree days (below 0 degC)"),
    Factor("frost_number", "1", "climate", "Nelson-Outcalt air frost number"),
    Factor("precip_annual", "mm", "climate", "annual precipitation"),
    Factor("precip_cold", "mm", "climate", "precipitation October-April"),
    Factor("precip_warm", "mm", "climate", "precipitation May-September"),
    Factor("snow_days", "day", "climate", "snow-cover days per year"),
    Factor("elevation", "m", "static", "elevation above sea level"),
    Factor("slope", "degree", "static", "terrain slope"),
    Factor("northness", "1", "static", "cos(aspect) * sin(slope)"),
    Factor(
        "roughness",
        "m",
        "static",
        "terrain ruggedness index (mean absolute difference to 8 neighbours)",
    ),
    Factor("clay", "percent", "static", "topsoil clay content"),
    Factor("sand", "percent", "static", "topsoil sand content"),
    Factor("soc", "percent", "static", "topsoil organic carbon"),
    Factor("latitude", "degree_north", "static", "latitude of the cell centre"),
    Factor("longitude", "degree_east", "static", "longitude of the cell centre"),
)


def factor_names(factors: Iterable[Factor] = FACTORS) -> list[str]:
    return [f.name for f in factors]


def window_text(window_years: int) -> str:
    """The window column of a factor averaged over the epoch window.

    >>> window_text(9)
    '9 years centred on the epoch'
    """
    return f"{window_years} years centred on the epoch"


def builtin_row(factor: Factor, source: str, window_years: int) -> dict[str, str]:
    """The catalogue row of a built-in factor.

    >>> builtin_row(FACTORS[0], "WorldClim", 9)["window"]
    '9 years centred on the epoch'
    >>> builtin_row(FACTORS[-1], "grid", 9)["window"]
    'static'
    """
    return {
        "name": factor.name,
        "unit": factor.unit,
        "kind": factor.kind,
        "source": source,
        "window": window_text(window_years) if factor.kind == "climate" else "static",
        "description": factor.description,
    }


def write_catalogue(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write ``factors.csv`` (columns :data:`CATALOGUE_COLUMNS`), atomically.

    Parameters
    ----------
    path : Path
        Where to write.
    rows : iterable of mapping
        One row per factor, e.g. from
        :meth:`permamap.covariates.combined.CombinedSource.catalogue_rows`.
    """
    # csv.DictWriter into the temporary file (its \r\n row ends are the file's format)
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CATALOGUE_COLUMNS), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row))
    return Path(path)
