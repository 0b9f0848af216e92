"""``[projections]``: which scenarios, periods and GCMs to project, against which baseline epoch.

::

    [projections]
    scenarios = ["ssp126", "ssp585"]           # CMIP6 SSPs: ssp126 | ssp245 | ssp370 | ssp585
    periods = ["2041-2060", "2081-2100"]       # WorldClim CMIP6 periods: 2021-2040 … 2081-2100
    gcms = ["MIROC6", "MPI-ESM1-2-HR"]          # the GCMs to average; the virtual world has 5
    baseline_epoch = 2020                       # the [run] epoch whose stack and map the futures change
    method = "downscaled"                       # real sources (required): "downscaled" or "delta"
    [projections.source]                        # real sources only (permamap.projections.real)

Every key is required with real sources: a projection names what it projects, so a forgotten GCM
list is an error naming the fix, never "all GCMs" by surprise, and a forgotten ``method`` never
decides for the user whether a GCM's bias counts as climate change. With the virtual
world (``[covariates] source = "demo"``) the futures are the world's own
(:class:`~permamap.projections.sources.VirtualFutureClimate`): ``[projections.source]`` and
``method`` are refused there (its GCMs have no bias, so there is nothing for the delta method to
remove).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..covariates.sources.worldclim_cmip6 import CMIP6_PERIODS, CMIP6_SSPS
from ..errors import ConfigError
from ..keys import check_keys, did_you_mean, is_int, wrong

__all__ = ["METHODS", "PROJECTION_KEYS", "ProjectionSettings", "parse_projections"]

PROJECTION_KEYS = ("scenarios", "periods", "gcms", "baseline_epoch", "method", "source")
METHODS = ("downscaled", "delta")
_EXAMPLE = {
    "scenarios": '["ssp126", "ssp585"]',
    "periods": '["2041-2060", "2081-2100"]',
    "gcms": '["MIROC6", "MPI-ESM1-2-HR"]',
    "baseline_epoch": "2020",
}


@dataclass(frozen=True)
class ProjectionSettings:
    """A validated ``[projections]`` table.

    Attributes
    ----------
    scenarios, periods, gcms : tuple of str
        What to project; every scenario × period is one map, the mean over ``gcms``.
    baseline_epoch : int
        The ``[run]`` epoch whose stack gives the static factors and whose map the futures are
        compared with.
    method : {"downscaled", "delta"}
        How real future files are used (:mod:`permamap.projections.real`); "downscaled" for the
        virtual world, whose futures are bias-free.
    source : mapping
        The ``[projections.source]`` table (real sources), empty for the virtual world.
    """

    scenarios: tuple[str, ...]
    periods: tuple[str, ...]
    gcms: tuple[str, ...]
    baseline_epoch: int
    method: str = "downscaled"
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def combinations(self) -> list[tuple[str, str]]:
        """(scenario, period) pairs in the order they are projected."""
        return [(s, p) for s in self.scenarios for p in self.periods]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenarios": list(self.scenarios),
            "periods": list(self.periods),
            "gcms": list(self.gcms),
            "baseline_epoch": self.baseline_epoch,
            "method": self.method,
        }


def _names(
    table: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...] | None
) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise wrong(where, key, value, "must be a non-empty list of names", _EXAMPLE[key])
    dup = sorted({v for v in value if value.count(v) > 1})
    if dup:
        raise ConfigError(f"{where}.{key} lists {dup} twice; name each once")
    for v in value:
        if allowed is not None and v not in allowed:
            raise ConfigError(
                f"{where}.{key}: {v!r} is not a CMIP6 {key[:-1]}{did_you_mean(v, allowed)}; "
                f"use one of {list(allowed)}"
            )
    return tuple(value)


def parse_projections(
    table: Mapping[str, Any],
    where: str,
    base_dir: Path,
    epochs: tuple[int, ...],
    covariate_source: str,
) -> ProjectionSettings | None:
    """Validate ``[projections]`` (None when the table is absent or empty).

    Raises
    ------
    ConfigError
        An unknown or missing key, a name that is not a CMIP6 scenario or period, a baseline that
        is not a ``[run]`` epoch, a source table with the virtual world or none with real data.
    """
    if not table:
        return None
    required = ("scenarios", "periods", "gcms", "baseline_epoch")
    check_keys(table, PROJECTION_KEYS, where, required=required, example=_EXAMPLE)
    scenarios = _names(table, "scenarios", where, CMIP6_SSPS)
    periods = _names(table, "periods", where, CMIP6_PERIODS)
    gcms = _names(table, "gcms", where, None)
    base = table["baseline_epoch"]
    if not is_int(base) or base not in epochs:
        raise wrong(
            where,
            "baseline_epoch",
            base,
            f"must be one of [run].epochs {list(epochs)}",
            str(epochs[-1]),
        )
    method = table.get("method", "downscaled")
    if method not in METHODS:
        raise ConfigError(
            f"{where}.method = {method!r} is unknown{did_you_mean(str(method), METHODS)}; use "
            '"downscaled" (the future files as they are) or "delta" (their change added to the '
            "baseline climate)"
        )
    source = table.get("source", {})
    if not isinstance(source, Mapping):
        raise wrong(
            where,
            "source",
            source,
            "must be a table",
            '[projections.source] type = "worldclim-cmip6"',
        )
    if covariate_source == "demo":
        if source or "method" in table:
            raise ConfigError(
                f'{where}: [covariates] source = "demo" projects the virtual world\'s own futures; '
                "remove [projections.source] and `method` (they are for real future files)"
            )
        from ..demo.futures import GCMS

        names = tuple(g.name for g in GCMS)
        for g in gcms:
            if g not in names:
                raise ConfigError(
                    f"{where}.gcms: {g!r} is not a virtual GCM{did_you_mean(g, names)}; the "
                    f"virtual world has {list(names)}"
                )
    else:
        if "method" not in table:
            raise ConfigError(
                f'{where} lacks `method`: say how the future files are used, method = "downscaled" '
                '(as they are, e.g. WorldClim CMIP6 against a WorldClim baseline) or "delta" (each '
                "GCM's change added to the baseline climate, which removes the GCM's bias)"
            )
        if not source:
            raise ConfigError(
                f"{where} lacks [projections.source]: say where the future climate files are, "
                'e.g. [projections.source] type = "worldclim-cmip6", folder = "cmip6/", res = "10m"'
            )
        from .real import check_source_table

        check_source_table(source, f"{where}.source", method, base_dir)
    return ProjectionSettings(
        scenarios=scenarios,
        periods=periods,
        gcms=gcms,
        baseline_epoch=int(base),
        method=str(method),
        source=dict(source),
    )
