"""The combined covariate source: a built-in source plus custom factors, with a selection.

:class:`CombinedSource` puts a built-in source (the virtual world, real products, or none) and
the custom factors (:class:`~.custom.CustomFactor`, one per ``[covariates.factors.<name>]``
table) behind one :class:`~.stack.CovariateSource`, with the ``use``/``drop`` selection of
``[covariates]``. It also gives the ``factors.csv`` rows of the selected factors, the fingerprint
that decides when a stack is rebuilt, and passes the virtual world's ``truth`` through.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence

import numpy as np
from rasterio.windows import Window

from permamap.covariates.catalogue import FACTORS, builtin_row
from permamap.covariates.custom import CustomFactor
from permamap.covariates.stack import CovariateSource
from permamap.errors import ConfigError
from permamap.grid import Grid
from permamap.keys import did_you_mean

__all__ = ["CombinedSource"]

log = logging.getLogger(__name__)

_BUILTIN = {f.name: f for f in FACTORS}
_GRID_FACTORS = ("latitude", "longitude")

# which [covariates] configuration provides each built-in factor (for "use" errors)
_PROVIDER = {
    **{
        n: '[covariates] source = "demo", or source = "real" with [covariates.real.climate]'
        for n in (f.name for f in FACTORS if f.kind == "climate")
    },
    **{
        n: '[covariates] source = "demo", or [covariates.real.elevation] (a DEM)'
        for n in ("elevation", "slope", "northness", "roughness")
    },
    **{
        n: f'[covariates] source = "demo", or [covariates.real.soil.{n}]'
        for n in ("clay", "sand", "soc")
    },
    "latitude": "the grid (always available)",
    "longitude": "the grid (always available)",
}


class CombinedSource:
    """A built-in covariate source plus custom factors, with a factor selection.

    Parameters
    ----------
    base : CovariateSource or None
        The virtual world or :class:`~.sources.real.RealSources`; ``None`` for
        ``[covariates] source = "none"``: no built-in factors except ``latitude`` and
        ``longitude``, computed from the grid.
    custom : sequence of CustomFactor
        In config order.
    use : sequence of str, optional
        Keep only these factors (built-in or custom). The stack's band order does not follow
        ``use``: it is always the built-ins in catalogue order (:data:`~.catalogue.FACTORS`),
        then the custom factors in config order. ``None`` keeps every available factor.
    drop : sequence of str
        Remove these factors (after ``use``).

    Raises
    ------
    ConfigError
        An unknown name in ``use``/``drop`` (with a suggestion and the available factors), a
        built-in factor in ``use`` that the base cannot provide (naming what would), a name in both
        lists, in ``drop`` but not available, or an empty selection.

    Notes
    -----
    Each band keeps its own no-data (NaN): a cell missing one factor is not blanked in the
    others, so a factor the model does not choose never removes cells from the maps; the maps
    remove cells missing any of the model's factors (:func:`permamap.predict.predict_block`), as
    the published workflow removes missing-value areas. A base source may apply its own rule
    (the real readers blank a cell missing any of their factors).
    """

    def __init__(
        self,
        base: CovariateSource | None,
        custom: Sequence[CustomFactor] = (),
        use: Sequence[str] | None = None,
        drop: Sequence[str] = (),
    ) -> None:
        self.base = base
        self.custom = list(custom)
        names = [c.name for c in self.custom]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"custom factors {dup} are defined twice; give each a single table")
        clash = [n for n in names if n in _BUILTIN]
        if clash:
            raise ConfigError(
                f"custom factor(s) {clash} share a built-in factor's name; rename their tables"
            )
        self.base_names: list[str] = (
            list(base.factor_names) if base is not None else list(_GRID_FACTORS)
        )
        available = self.base_names + names
        known = list(_BUILTIN) + names
        use_l = list(use) if use is not None else None
        drop_l = list(drop)
        for key, listed in (("use", use_l or []), ("drop", drop_l)):
            for n in listed:
                if n not in known:
                    raise ConfigError(
                        f"[covariates] {key} names the unknown factor {n!r}"
                        f"{did_you_mean(n, known)}; available factors: {', '.join(available)}"
                    )
        if use_l is not None:
            for n in use_l:
                if n not in available:
                    what = (
                        'source = "none"'
                        if base is None
                        else f"the configured source ({type(base).__name__})"
                    )
                    raise ConfigError(
                        f"[covariates] use names {n!r}, which {what} does not provide; it comes "
                        f"from {_PROVIDER.get(n, 'a built-in source')}: configure that, or remove "
                        f"{n!r} from use"
                    )
            both = [n for n in drop_l if n in use_l]
            if both:
                raise ConfigError(
                    f"[covariates] names {both} in both use and drop; keep each in one list"
                )
        absent = [n for n in drop_l if n not in available]
        if absent:
            raise ConfigError(
                f"[covariates] drop names {absent}, which the configured source does not provide "
                f"anyway; remove them from drop (available factors: {', '.join(available)})"
            )
        chosen = [n for n in available if (use_l is None or n in use_l) and n not in drop_l]
        if not chosen:
            raise ConfigError(
                "[covariates] use/drop leave no factor in the stack; keep at least one of "
                f"{', '.join(available)}"
            )
        self.factor_names: list[str] = chosen
        self._custom = {c.name: c for c in self.custom if c.name in chosen}
        self._from_base = [n for n in chosen if n in self.base_names]

    # -- what it holds ----------------------------------------------------------------------------
    @property
    def categorical(self) -> frozenset[str]:
        """The selected factors whose values are class codes (categorical custom factors)."""
        return frozenset(n for n, c in self._custom.items() if c.kind == "categorical")

    @property
    def has_truth(self) -> bool:
        """True when the base source knows the true map (the virtual world)."""
        return self.base is not None and hasattr(self.base, "truth")

    @property
    def truth(self) -> Callable[..., np.ndarray]:
        """The base source's ``truth(grid, epoch, window, window_years)``.

        Raises ``AttributeError`` when the base has none, so ``hasattr(source, "truth")`` stays
        a valid test.
        """
        if not self.has_truth:
            raise AttributeError("this covariate source does not know the true map")
        truth: Callable[..., np.ndarray] = getattr(self.base, "truth")  # noqa: B009 (not in the protocol)
        return truth

    def sources(self) -> dict[str, str]:
        """Factor name → where its values come from, for the selected factors."""
        base_sources = getattr(self.base, "sources", None)
        base = (
            dict(base_sources()) if base_sources is not None else {n: "grid" for n in _GRID_FACTORS}
        )
        return {
            n: self._custom[n].source if n in self._custom else base.get(n, "")
            for n in self.factor_names
        }

    def catalogue_rows(self, window_years: int) -> list[dict[str, str]]:
        """One ``factors.csv`` row per selected factor (see :mod:`~.catalogue`)."""
        sources = self.sources()
        # a source may know better than "N years": a climatology is the same for every epoch
        windows_of = getattr(self.base, "windows", None)
        windows: dict[str, str] = windows_of(window_years) if windows_of is not None else {}
        rows = []
        for n in self.factor_names:
            if n in self._custom:
                rows.append(self._custom[n].catalogue_row(window_years))
                continue
            row = builtin_row(_BUILTIN[n], sources.get(n, ""), window_years)
            if windows.get(n):
                row["window"] = windows[n]
            rows.append(row)
        return rows

    def fingerprint(self, epoch: int | None = None, window_years: int | None = None) -> str:
        """SHA-256 of the selected factors' definitions and sources and of the custom files.

        Pass it to :func:`~.stack.build_stack` and :func:`~.stack.stack_is_current`, so that a
        changed custom file (size or modification time), scale, band, selection or source
        rebuilds the stack.

        Parameters
        ----------
        epoch : int, optional
            Fingerprint only the files this epoch reads (a new file for another epoch's years
            leaves it unchanged); by default every file of every custom factor.
        window_years : int, optional
            Include the window length (so a changed window rebuilds the stack); with ``epoch``,
            selects the epoch's files. Pass both for one stack per epoch.
        """
        rows = self.catalogue_rows(window_years if window_years is not None else 0)
        if window_years is None:
            rows = [{k: v for k, v in r.items() if k != "window"} for r in rows]
        payload = {
            "window_years": window_years,
            "rows": rows,
            "custom": [c.signature(epoch, window_years) for c in self._custom.values()],
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- checking and reading ---------------------------------------------------------------------
    def check(self, grid: Grid, epochs: Sequence[int], window_years: int) -> list[str]:
        """Header checks of the base (if it has ``check``) and of every custom file; plan notes."""
        notes: list[str] = []
        base_check = getattr(self.base, "check", None)
        if base_check is not None:
            notes.extend(base_check(grid, epochs, window_years) or [])
        for c in self._custom.values():
            notes.extend(c.check(grid, epochs, window_years))
        return notes

    def factors(
        self, grid: Grid, epoch: int, window: Window | None = None, window_years: int = 9
    ) -> np.ndarray:
        """The selected factors ``(band, row, col)`` float32 on ``window`` (NaN = no data)."""
        w = window or grid.full_window
        values: dict[str, np.ndarray] = {}
        if self._from_base:
            if self.base is None:
                lon, lat = grid.lonlat(w)
                values.update(latitude=lat, longitude=lon)
            else:
                block = self.base.factors(grid, epoch, w, window_years)
                values.update({n: block[self.base_names.index(n)] for n in self._from_base})
        for n, c in self._custom.items():
            values[n] = c.read(grid, w, epoch, window_years)
        return np.stack([np.asarray(values[n], dtype=np.float32) for n in self.factor_names])
