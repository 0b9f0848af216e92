"""Settings of the model stage: :class:`ModelSettings`, validated once, with demo and published profiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..models import GRID_SIZES, available_candidates
from .metrics import METRICS

__all__ = ["DEMO_CANDIDATES", "ModelSettings"]

DEMO_CANDIDATES = (
    "logistic_regression",
    "lda",
    "gaussian_nb",
    "knn",
    "decision_tree",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
)


@dataclass(frozen=True)
class ModelSettings:
    """Validated settings of the model stage (defaults = the demo profile).

    Attributes
    ----------
    candidates : tuple of str
        Registry names (:mod:`permamap.models`).
    grid : {"full", "small", "none"}
    n_repeats, n_folds : int
        Repeats × folds of both CV schemes (published: 40 × 5).
    spatial_method : {"knndm", "block"}
    block_size_km : float or None
        Block edge for ``"block"``; None = the labels' autocorrelation range.
    knndm_nk_len, knndm_maxp : int, float
        kNNDM's number of cluster counts tried per repeat and largest fold share.
    prediction_bounds : (west, south, east, north)
        Domain sampled as kNNDM prediction points when none are passed.
    tuning : {"holdout", "nested", "none"}
    tuning_fraction : float
        Share of site locations set aside for ``"holdout"`` tuning.
    inner_folds : int
    metric : str
        Metric that drives tuning, the choice and feature selection.
    choice_se : float
        Width of the "within noise" band, in standard errors.
    importance_repeats : int
        Permutations per feature and fold.
    selection_repeats : int
        Repeats of the spatial splits used by importance and combination tests.
    topk_max : int or None
        Largest k of the incremental top-k test (None = all features).
    forward_pool, forward_max_features : int
        Forward selection searches the top ``forward_pool`` features, up to
        ``forward_max_features`` steps.
    size_variants : tuple of int
        Ensemble sizes compared for the chosen family.
    front_repeats : int
        Repeats of the spatial splits used for the size comparison.
    cost_rows : int
        Rows predicted when timing a model.
    costs : mapping or None
        Fixed prediction costs (s per million cells) by candidate name, replacing measurement
        (for bit-identical reruns).
    backend : {"loky", "threading", "dask"}
        joblib backend; ``"dask"`` uses ``scheduler`` or a LocalCluster.
    scheduler : str or None
        Address of a dask.distributed scheduler.
    """

    candidates: tuple[str, ...] = DEMO_CANDIDATES
    grid: str = "small"
    n_repeats: int = 3
    n_folds: int = 5
    spatial_method: str = "knndm"
    block_size_km: float | None = None
    knndm_nk_len: int = 20
    knndm_maxp: float = 0.5
    prediction_bounds: tuple[float, float, float, float] = (25.0, 25.0, 180.0, 84.0)
    tuning: str = "holdout"
    tuning_fraction: float = 0.2
    inner_folds: int = 3
    metric: str = "accuracy"
    choice_se: float = 1.0
    importance_repeats: int = 3
    selection_repeats: int = 1
    topk_max: int | None = None
    forward_pool: int = 8
    forward_max_features: int = 6
    size_variants: tuple[int, ...] = (25, 50, 100, 200)
    front_repeats: int = 1
    cost_rows: int = 20_000
    costs: Mapping[str, float] | None = None
    backend: str = "loky"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        def bad(name: str, rule: str, fix: str) -> ConfigError:
            return ConfigError(f"model setting {name}={getattr(self, name)!r} {rule}; {fix}")

        known = set(available_candidates())
        if not self.candidates:
            raise bad("candidates", "is empty", f"list at least one of {sorted(known)}")
        unknown = [c for c in self.candidates if c not in known]
        if unknown:
            raise bad(
                "candidates",
                f"names {unknown} that are unknown or not installed",
                f"choose from {sorted(known)}",
            )
        if len(set(self.candidates)) != len(self.candidates):
            raise bad("candidates", "lists a name twice", "remove the duplicate")
        choices = {
            "grid": GRID_SIZES,
            "spatial_method": ("knndm", "block"),
            "tuning": ("holdout", "nested", "none"),
            "metric": METRICS,
            "backend": ("loky", "threading", "dask"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise bad(name, "is not allowed", f"use one of {list(allowed)}")
        minima = {
            "n_repeats": 1,
            "n_folds": 2,
            "knndm_nk_len": 1,
            "inner_folds": 2,
            "importance_repeats": 1,
            "selection_repeats": 1,
            "forward_pool": 1,
            "forward_max_features": 1,
            "front_repeats": 1,
            "cost_rows": 100,
        }
        for name, lo in minima.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise bad(name, f"must be an integer >= {lo}", f"set it to at least {lo}")
        if self.topk_max is not None and (not isinstance(self.topk_max, int) or self.topk_max < 1):
            raise bad("topk_max", "must be a positive integer or None", "e.g. 20")
        if not 0.05 <= self.tuning_fraction <= 0.5:
            raise bad("tuning_fraction", "must lie in [0.05, 0.5]", "e.g. 0.2")
        if not 1 / self.n_folds < self.knndm_maxp < 1:
            raise bad(
                "knndm_maxp",
                f"must lie in (1/n_folds, 1) = ({1 / self.n_folds:.2f}, 1)",
                "e.g. 0.5",
            )
        if self.choice_se < 0:
            raise bad("choice_se", "must be >= 0", "e.g. 1.0")
        if self.block_size_km is not None and not self.block_size_km > 0:
            raise bad("block_size_km", "must be positive or None", "None derives it from data")
        if any((not isinstance(s, int)) or s < 1 for s in self.size_variants):
            raise bad("size_variants", "must hold positive integers", "e.g. [50, 100, 200]")
        w, s, e, n = self.prediction_bounds
        if not (w < e and s < n):
            raise bad("prediction_bounds", "is not (west, south, east, north)", "fix the order")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSettings:
        """Build from a config mapping (e.g. the ``[models]`` TOML table), checking every key."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown model setting(s) {unknown}; allowed keys are {sorted(names)}"
            )
        kw = dict(d)
        for key in ("candidates", "size_variants", "prediction_bounds"):
            if key in kw and isinstance(kw[key], list | tuple):
                kw[key] = tuple(kw[key])
        if "costs" in kw and kw["costs"] is not None:
            kw["costs"] = dict(kw["costs"])
        try:
            return cls(**kw)
        except TypeError as exc:  # e.g. comparing a string with a number in validation
            raise ConfigError(
                f"model settings {dict(d)} have a value of the wrong type: {exc}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def demo(cls) -> ModelSettings:
        """Fast profile: 8 candidates, small grids, 3 × 5 CV (≈ 1–3 min on 2 cores)."""
        return cls()

    @classmethod
    def published(cls) -> ModelSettings:
        """The published protocol: 13 candidates (+ LightGBM/XGBoost when installed), full grids,
        40 × 5 random and spatial CV."""
        return cls(
            candidates=available_candidates(),
            grid="full",
            n_repeats=40,
            n_folds=5,
            knndm_nk_len=30,
            inner_folds=5,
            importance_repeats=5,
            selection_repeats=2,
            forward_pool=12,
            forward_max_features=10,
            size_variants=(50, 100, 200, 500),
            front_repeats=2,
            cost_rows=100_000,
        )
