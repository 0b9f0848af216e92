"""Projections under CMIP6 climate scenarios: the trained model on each GCM's future climate.

``[projections]`` (:mod:`.settings`) names scenarios, periods, GCMs and the baseline epoch;
:func:`future_source` picks the future climate (:mod:`.sources`: the virtual world's futures, or
:mod:`.real`: WorldClim CMIP6 / the user's files, as they are or by the delta method);
:func:`~.stage.projection_stage` writes ``maps/future/``, ``change/future/`` and the area tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import ProjectionSettings, parse_projections
from .sources import CLIMATE_FACTORS, FutureClimate, VirtualFutureClimate
from .stage import ProjectionResult, project, projection_stage

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = [
    "CLIMATE_FACTORS",
    "FutureClimate",
    "ProjectionResult",
    "ProjectionSettings",
    "VirtualFutureClimate",
    "future_source",
    "parse_projections",
    "project",
    "projection_stage",
]


def future_source(cfg: RunConfig, covariates: Any) -> FutureClimate:
    """The future climate of ``cfg.projections``: the virtual world's, or the real files'.

    ``covariates`` is the run's :class:`~permamap.covariates.combined.CombinedSource` (its base is
    the virtual world when ``[covariates] source = "demo"``).
    """
    settings = cfg.projections
    if settings is None:
        raise ValueError("the config has no [projections]")
    if cfg.covariates.source == "demo":
        return VirtualFutureClimate(covariates.base)
    from ..covariates.timewindow import window_years
    from .real import future_climate_from_config

    return future_climate_from_config(
        settings.source,
        settings.method,
        cfg.base_dir,
        cfg.covariates.real,
        window_years(settings.baseline_epoch, cfg.window_years),
    )
