"""The factor catalogue: the named environmental factors, their units, sources and temporal windows."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fileio import atomic_path

__all__ = ["FACTORS", "Factor", "factor_names", "write_catalogue"]


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


def write_catalogue(
    path: Path, sources: dict[str, str], window_years: int, factors: Iterable[Factor] = FACTORS
) -> Path:
    """Write ``factors.csv`` (name, unit, kind, source, window, description), atomically."""
    # csv.DictWriter into the temporary file (its \r\n row ends are the file's format)
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["name", "unit", "kind", "source", "window", "description"]
        )
        writer.writeheader()
        for f in factors:
            row = asdict(f)
            row["source"] = sources.get(f.name, "")
            row["window"] = (
                f"{window_years} years centred on the epoch" if f.kind == "climate" else ""
            )
            writer.writerow(row)
    return Path(path)
