"""Settings of the model stage: :class:`ModelSettings`, validated once, with demo and published profiles."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..keys import check_keys, did_you_mean
from ..models import (
    CORE_CANDIDATES,
    EXTRA_CANDIDATES,
    GRID_SIZES,
    OPTIONAL_CANDIDATES,
    available_candidates,
)
from .metrics import METRICS, TUNING_METRICS

__all__ = ["DEMO_CANDIDATES", "PROFILES", "ModelSettings"]

_ALL_NAMES = CORE_CANDIDATES + EXTRA_CANDIDATES + OPTIONAL_CANDIDATES

#: Base settings a ``[models]`` table can start from (``profile = "..."``).
PROFILES = ("demo", "published")

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
        Metric that drives the model choice and feature selection: ``brier`` by default, because
        the maps publish probabilities and accuracy only scores the 0.5 line (in the virtual
        Eurasia the fewest-features rule on accuracy keeps one factor, whose probabilities are
        the flattest); the published profile keeps the study's ``accuracy``.
    tuning_metric : str
        Score the hyper-parameter grid search maximises (default ``log_loss``). A proper scoring
        rule, because the maps publish probabilities: accuracy is flat across a logistic
        regression's ``C`` and the one-SE rule then picks the strongest regularisation, whose
        probabilities are the flattest (the virtual Eurasia's region at p ≥ 1 % grew by 2 M km²).
    error_profile : {"calibrated", "glm", "di", "none"}
        Expected accuracy per cell: the calibrated confidence lowered with the dissimilarity index
        (``calibrated``), a free logistic fit of both (``glm``), the DI alone (``di``, as CAST's
        errorProfiles), or none (:mod:`permamap.selection.errorprofile`).
    bootstrap_members : int or "auto"
        Refits of the final model on spatially blocked bootstrap resamples of the sites (2-32);
        the maps' ``uncertainty`` band is their spread and the areas get 95 % intervals from them.
        0 = no ensemble (no uncertainty band, no intervals); ``"auto"`` = as many as keep the band
        within the cost of one more map (:func:`~permamap.selection.ensemble.auto_members`: 20
        for logistic regressions and forests).
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
    metric: str = "brier"
    tuning_metric: str = "log_loss"
    error_profile: str = "calibrated"
    bootstrap_members: int | str = "auto"
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
        _validate({f.name: getattr(self, f.name) for f in fields(self)}, "[models]")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "[models]") -> ModelSettings:
        """Build from a mapping of settings (e.g. the ``[models]`` TOML table), checking every key.

        Parameters
        ----------
        d : mapping
            Setting name → value; missing names take the demo defaults. Lists are accepted for
            tuples (``candidates``, ``size_variants``, ``prediction_bounds``).
        where : str, default="[models]"
            How the user finds the table, for messages (e.g. ``"run.toml [models]"``).

        Raises
        ------
        ConfigError
            One line naming ``<where> <key> = <value>``, the rule and an example fix, for an
            unknown key (with a "did you mean"), a value of the wrong type or out of range, or an
            unknown candidate.

        Examples
        --------
        >>> ModelSettings.from_dict({"n_folds": 4}).n_folds
        4
        >>> ModelSettings.from_dict({"n_fold": 4})
        Traceback (most recent call last):
        ...
        permamap.errors.ConfigError: [models] has unknown key `n_fold` (did you mean `n_folds`?); ...
        """
        names = [f.name for f in fields(cls)]
        check_keys(d, names, where)
        kw = dict(d)
        _validate({**_DEFAULTS, **kw}, where)
        for key in ("candidates", "size_variants", "prediction_bounds"):
            if key in kw and isinstance(kw[key], list | tuple):
                kw[key] = tuple(kw[key])
        if kw.get("prediction_bounds") is not None:
            kw["prediction_bounds"] = tuple(float(v) for v in kw["prediction_bounds"])
        for key in ("knndm_maxp", "tuning_fraction", "choice_se", "block_size_km"):
            if isinstance(kw.get(key), int):
                kw[key] = float(kw[key])
        if kw.get("costs") is not None:
            kw["costs"] = {str(k): float(v) for k, v in kw["costs"].items()}
        return cls(**kw)

    @classmethod
    def from_config(
        cls,
        table: Mapping[str, Any],
        *,
        where: str = "[models]",
        default_bounds: Sequence[float] | None = None,
    ) -> ModelSettings:
        """Settings from the whole ``[models]`` table of a run config, validated.

        Parameters
        ----------
        table : mapping
            The ``[models]`` table: optional ``profile = "demo" | "published"`` (default
            ``"demo"``) picks the base settings (:meth:`demo`, :meth:`published`); every other key
            is a :class:`ModelSettings` field that overrides the base, ``prediction_bounds``
            included.
        where : str, default="[models]"
            How the user finds the table, for messages (e.g. ``"run.toml [models]"``).
        default_bounds : sequence of 4 float, optional
            ``prediction_bounds`` when the table does not set them (e.g. the grid's lon/lat
            bounds).

        Examples
        --------
        >>> s = ModelSettings.from_config({"profile": "published", "n_repeats": 10})
        >>> s.grid, s.n_repeats
        ('full', 10)
        >>> ModelSettings.from_config({"profile": "publshed"})
        Traceback (most recent call last):
        ...
        permamap.errors.ConfigError: [models] profile = "publshed" is not a profile (did you mean `published`?); ...
        """
        names = [f.name for f in fields(cls)]
        check_keys(table, [*names, "profile"], where)
        values = dict(table)
        profile = values.pop("profile", "demo")
        if profile not in PROFILES:
            raise ConfigError(
                f"{where} profile = {_toml(profile)} is not a profile"
                f"{did_you_mean(str(profile), PROFILES)}; use one of "
                f'{", ".join(_toml(p) for p in PROFILES)}, e.g. profile = "demo"'
            )
        base = cls.published() if profile == "published" else cls.demo()
        if default_bounds is not None and "prediction_bounds" not in values:
            values["prediction_bounds"] = list(default_bounds)
        return cls.from_dict({**base.to_dict(), **values}, where=where)

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
            # the published comparison's 13 (+ optional); extras are added by name
            candidates=tuple(n for n in available_candidates() if n not in EXTRA_CANDIDATES),
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
            metric="accuracy",
        )


# --------------------------------------------------------------------------- validation
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(ModelSettings)}

_CHOICES: dict[str, tuple[str, ...]] = {
    "grid": GRID_SIZES,
    "spatial_method": ("knndm", "block"),
    "tuning": ("holdout", "nested", "none"),
    "metric": METRICS,
    "tuning_metric": TUNING_METRICS,
    "error_profile": ("calibrated", "glm", "di", "none"),
    "backend": ("loky", "threading", "dask"),
}

#: Smallest value of each whole-number setting, and an example.
_MINIMA: dict[str, tuple[int, int]] = {
    "n_repeats": (1, 3),
    "n_folds": (2, 5),
    "knndm_nk_len": (1, 20),
    "inner_folds": (2, 3),
    "importance_repeats": (1, 3),
    "selection_repeats": (1, 1),
    "forward_pool": (1, 8),
    "forward_max_features": (1, 6),
    "front_repeats": (1, 1),
    "cost_rows": (100, 20_000),
}


def _toml(value: Any) -> str:
    """``value`` as it would be written in TOML (for messages).

    >>> _toml("x"), _toml(True), _toml([1, "a"]), _toml(None)
    ('"x"', 'true', '[1, "a"]', 'None')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value) if not isinstance(value, int | float) else str(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _validate(values: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` for the first setting in ``values`` that breaks its rule."""

    def fail(key: str, rule: str, example: str) -> ConfigError:
        return ConfigError(f"{where} {key} = {_toml(values[key])} {rule}; e.g. {key} = {example}")

    def check(key: str, ok: Callable[[Any], bool], rule: str, example: str) -> None:
        if not ok(values[key]):
            raise fail(key, rule, example)

    _check_candidates(values["candidates"], where)
    for key, allowed in _CHOICES.items():
        if values[key] not in allowed:
            v = values[key]
            hint = did_you_mean(v, allowed) if isinstance(v, str) else ""
            raise ConfigError(
                f"{where} {key} = {_toml(v)} is not one of {', '.join(_toml(a) for a in allowed)}"
                f"{hint}; e.g. {key} = {_toml(_DEFAULTS[key])}"
            )
    for key, (lo, example) in _MINIMA.items():
        if not (_is_int(values[key]) and values[key] >= lo):
            raise fail(key, f"must be a whole number, at least {lo}", str(example))
    check("topk_max", lambda v: v is None or (_is_int(v) and v >= 1), "must be a whole number, at least 1 (or left out: all features)", "20")  # fmt: skip
    check("tuning_fraction", lambda v: _is_number(v) and 0.05 <= v <= 0.5, "must be a number in [0.05, 0.5]", "0.2")  # fmt: skip
    check("bootstrap_members", lambda v: v == "auto" or (_is_int(v) and (v == 0 or 2 <= v <= 32)), 'must be "auto", 0 (no ensemble) or a whole number from 2 (a spread needs two) to 32', "20")  # fmt: skip
    check("choice_se", lambda v: _is_number(v) and v >= 0, "must be a number >= 0 (standard errors)", "1.0")  # fmt: skip
    check("block_size_km", lambda v: v is None or (_is_number(v) and v > 0), "must be a positive number of km (or left out: derived from the data)", "500.0")  # fmt: skip
    check("size_variants", lambda v: isinstance(v, list | tuple) and all(_is_int(s) and s >= 1 for s in v), "must be a list of positive whole numbers", "[50, 100, 200]")  # fmt: skip
    check("scheduler", lambda v: v is None or (isinstance(v, str) and v != ""), 'must be a dask scheduler address (or left out)', '"tcp://10.0.0.5:8786"')  # fmt: skip
    n_folds = values["n_folds"]
    check("knndm_maxp", lambda v: _is_number(v) and 1 / n_folds < v < 1, f"must be a number in (1/n_folds, 1) = ({1 / n_folds:.2f}, 1)", "0.5")  # fmt: skip
    _check_bounds(values["prediction_bounds"], where)
    _check_costs(values["costs"], where)


def _check_candidates(candidates: Any, where: str) -> None:
    known = available_candidates()
    example = '["logistic_regression", "random_forest"]'
    prefix = f"{where} candidates = {_toml(candidates)}"
    if not isinstance(candidates, list | tuple) or not all(isinstance(c, str) for c in candidates):
        raise ConfigError(f"{prefix} must be a list of model names; e.g. candidates = {example}")
    if not candidates:
        raise ConfigError(
            f"{prefix} is empty; list at least one model, e.g. candidates = {example}; "
            f"choose from {', '.join(known)}"
        )
    for name in candidates:
        if name in OPTIONAL_CANDIDATES and name not in known:
            raise ConfigError(
                f"{prefix} names `{name}`, which needs the optional package {name}; install it "
                f"(pip install {name}) or drop it from candidates"
            )
        if name not in known:
            raise ConfigError(
                f"{prefix} names the unknown model `{name}`"
                f"{did_you_mean(name, _ALL_NAMES)}; choose from "
                f"{', '.join(known)}"
            )
    dup = sorted({c for c in candidates if list(candidates).count(c) > 1})
    if dup:
        raise ConfigError(f"{prefix} lists {dup} twice; list each model once")


def _check_bounds(bounds: Any, where: str) -> None:
    rule = (
        "must be [west, south, east, north] in degrees, west < east in [-180, 180] and "
        "south < north in [-90, 90]"
    )
    ok = (
        isinstance(bounds, list | tuple) and len(bounds) == 4 and all(_is_number(v) for v in bounds)
    )
    if ok:
        w, s, e, n = bounds
        ok = -180 <= w < e <= 180 and -90 <= s < n <= 90
    if not ok:
        raise ConfigError(
            f"{where} prediction_bounds = {_toml(bounds)} {rule}; "
            "e.g. prediction_bounds = [25.0, 25.0, 180.0, 84.0]"
        )


def _check_costs(costs: Any, where: str) -> None:
    if costs is None:
        return
    example = "costs = {random_forest = 1.5, logistic_regression = 0.05}"
    if not isinstance(costs, Mapping):
        raise ConfigError(
            f"{where} costs = {_toml(costs)} must be a table of model name = seconds per million "
            f"cells; e.g. {example}"
        )
    names = _ALL_NAMES
    for name, value in costs.items():
        if name not in names:
            raise ConfigError(
                f"{where} costs has the unknown model `{name}`{did_you_mean(str(name), names)}; "
                f"name a model of candidates, e.g. {example}"
            )
        if not (_is_number(value) and value >= 0):
            raise ConfigError(
                f"{where} costs.{name} = {_toml(value)} must be a number >= 0 (seconds per "
                f"million cells); e.g. {example}"
            )
