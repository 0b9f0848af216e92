"""Agreement between a map and a reference: confusion in km², overall agreement, Cohen's kappa.

Pure functions on arrays; :func:`permamap.change.compare_with_reference` sums them over the tiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .maps import CLASS_NAMES
from .transitions import transition_area

__all__ = ["agreement_stats", "confusion_area", "confusion_table"]


def confusion_area(
    map_cls: np.ndarray,
    ref_cls: np.ndarray,
    cell_area_km2: np.ndarray,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Confusion table in km² between a map and a reference, on cells valid in both.

    Parameters
    ----------
    map_cls, ref_cls : ndarray of uint8, shape (rows, cols)
        Class bands (1 permafrost, 0 not, anything else no data).
    cell_area_km2 : ndarray of float, shape (rows, cols)
        Area of each cell in km².
    inside : ndarray of bool, optional
        Only count these cells (e.g. inside the area of applicability).

    Returns
    -------
    ndarray of float, shape (2, 2)
        ``out[i, j]`` = area with map class ``i`` and reference class ``j``.
    """
    t = transition_area(
        map_cls,
        ref_cls,
        np.where(inside, cell_area_km2, 0.0) if inside is not None else cell_area_km2,
    )
    return t[:2, :2]


def agreement_stats(confusion_km2: np.ndarray) -> dict[str, float | None]:
    """Area-weighted agreement, Cohen's kappa and extents from a 2 × 2 confusion table in km².

    Parameters
    ----------
    confusion_km2 : ndarray of float, shape (2, 2)
        ``[map class, reference class]`` areas, 0 non-permafrost, 1 permafrost.

    Returns
    -------
    dict
        ``compared_km2``, ``overall_agreement`` (fraction of the compared area),
        ``kappa`` (``None`` when undefined: one class only in both), ``map_extent_km2``,
        ``reference_extent_km2``, ``extent_difference_km2`` (map − reference),
        ``omission_km2`` (reference permafrost the map misses), ``commission_km2``.

    Examples
    --------
    >>> agreement_stats(np.array([[3.0, 0.0], [0.0, 1.0]]))["kappa"]
    1.0
    """
    cm = np.asarray(confusion_km2, dtype=np.float64)
    if cm.shape != (2, 2) or not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise DataError(
            f"confusion table {cm.tolist()} must be a 2 × 2 table of non-negative areas; "
            "build it with confusion_area()"
        )
    total = float(cm.sum())
    map_pf = float(cm[1, :].sum())
    ref_pf = float(cm[:, 1].sum())
    out: dict[str, float | None] = {
        "compared_km2": total,
        "overall_agreement": None,
        "kappa": None,
        "map_extent_km2": map_pf,
        "reference_extent_km2": ref_pf,
        "extent_difference_km2": map_pf - ref_pf,
        "omission_km2": float(cm[0, 1]),
        "commission_km2": float(cm[1, 0]),
    }
    if total <= 0:
        return out
    po = float(cm[0, 0] + cm[1, 1]) / total
    pe = (map_pf * ref_pf + (total - map_pf) * (total - ref_pf)) / total**2
    out["overall_agreement"] = po
    if pe < 1.0 - 1e-12:
        out["kappa"] = (po - pe) / (1.0 - pe)
    return out


def confusion_table(confusion_km2: np.ndarray) -> pd.DataFrame:
    """The 2 × 2 confusion in km² as a table: ``map_class, reference_class, area_km2``.

    >>> confusion_table(np.array([[3.0, 0.0], [0.5, 1.0]])).area_km2.tolist()
    [3.0, 0.0, 0.5, 1.0]
    """
    cm = np.asarray(confusion_km2, dtype=np.float64)
    return pd.DataFrame(
        [
            {
                "map_class": CLASS_NAMES[i],
                "reference_class": CLASS_NAMES[j],
                "area_km2": float(cm[i, j]),
            }
            for i in range(2)
            for j in range(2)
        ]
    )
