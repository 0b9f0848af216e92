"""How a run's areas compare with published figures, for the virtual world (``summary["plausibility"]``).

The virtual world stands in for Eurasia, so its totals should land where the literature puts the
real ones (the ranges are wide on purpose: the virtual world is built from rules, not fitted):

- permafrost extent of the first epoch 8.5–11 M km²: the whole Northern Hemisphere holds
  ≈ 14 M km² (Obu et al. 2019, Earth-Sci. Rev. 193:299; 14.77 M km², Ran et al. 2022, Earth Syst.
  Sci. Data 14:865) and North America about a third of it;
- permafrost region (cells with p ≥ 1 %) 12–16 M km²: the hemisphere's region is ≈ 21 M km²
  (Obu et al. 2021);
- permafrost on the Tibetan Plateau (26–40 °N, 73–105 °E, above 3,000 m) 0.9–1.4 M km²:
  1.06 M km² (Zou et al. 2017, The Cryosphere 11:2527);
- the extent falls by a few percent per decade (−1 to −8 % per decade) and every consecutive pair
  of epochs degrades more than it aggrades.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import rasterio

from ..contracts import DEFAULT_TILE
from ..grid import Grid

__all__ = ["TIBETAN_PLATEAU", "plausibility", "tibetan_plateau_km2"]

#: west, south, east, north (degrees) and the lowest elevation (m) of the Tibetan Plateau box
TIBETAN_PLATEAU = ((73.0, 26.0, 105.0, 40.0), 3000.0)
_RANGES_KM2 = {
    "extent": (
        8.5e6,
        11e6,
        "Obu et al. 2019; Ran et al. 2022: Northern Hemisphere ≈ 14-14.8 M km²",
    ),
    "region": (12e6, 16e6, "Obu et al. 2021: Northern Hemisphere permafrost region ≈ 21 M km²"),
    "plateau": (0.9e6, 1.4e6, "Zou et al. 2017: Tibetan Plateau 1.06 M km²"),
}
_DECLINE_PCT_PER_DECADE = (-8.0, -1.0)


def tibetan_plateau_km2(map_path: Path, stack_path: Path, grid: Grid) -> float:
    """Permafrost area (km², class 1) inside :data:`TIBETAN_PLATEAU` of one epoch's map."""
    (w, s, e, n), z_min = TIBETAN_PLATEAU
    total = 0.0
    with rasterio.open(map_path) as m, rasterio.open(stack_path) as st:
        band = list(st.descriptions).index("elevation") + 1
        for win in grid.tiles(DEFAULT_TILE):
            lon, lat = grid.lon_centers(win), grid.lat_centers(win)
            cols = (lon >= w) & (lon <= e)
            rows = (lat >= s) & (lat <= n)
            if not cols.any() or not rows.any():
                continue
            cls = m.read(1, window=win)
            z = st.read(band, window=win)
            inside = rows[:, None] & cols[None, :] & (z >= z_min) & (cls == 1)
            total += float(grid.cell_area_km2(win)[inside].sum())
    return total


def _row(
    quantity: str, epoch: int | None, value: float, key: str | None, unit: str = "km²"
) -> dict[str, Any]:
    low, high, anchor = _RANGES_KM2[key] if key else (*_DECLINE_PCT_PER_DECADE, "")
    return {
        "quantity": quantity,
        "epoch": epoch,
        "value": value,
        "low": low,
        "high": high,
        "unit": unit,
        "anchor": anchor,
        "inside": bool(low <= value <= high),
    }


def plausibility(
    summary_change: Mapping[str, Any],
    area_km2: Mapping[str, Mapping[str, float]],
    plateau_km2: float,
) -> dict[str, Any]:
    """Rows comparing the run with published figures, and the extent's trajectory.

    Parameters
    ----------
    summary_change : mapping
        The change stage's summary (``area_detail_km2``, ``transitions``).
    area_km2 : mapping
        ``summary["area_km2"]``: per epoch ``permafrost_extent_km2``.
    plateau_km2 : float
        :func:`tibetan_plateau_km2` of the first epoch.

    Returns
    -------
    dict
        ``rows`` (quantity, epoch, value, low, high, unit, anchor, inside), ``extent_km2`` per
        epoch, ``pairs`` (consecutive: degraded and aggraded km²), ``decline_pct_per_decade``,
        ``monotone_decline`` and ``all_inside``.
    """
    epochs = sorted(int(e) for e in area_km2)
    first, last = epochs[0], epochs[-1]
    extent = {e: float(area_km2[str(e)]["permafrost_extent_km2"]) for e in epochs}
    region = float(summary_change["area_detail_km2"][str(first)]["all"]["permafrost_region_km2"])
    rows = [
        _row("permafrost extent", first, extent[first], "extent"),
        _row("permafrost region (p ≥ 1 %)", first, region, "region"),
        _row(
            "permafrost on the Tibetan Plateau (26–40 °N, 73–105 °E, ≥ 3,000 m)",
            first,
            plateau_km2,
            "plateau",
        ),
    ]
    consecutive = set(pairwise(epochs))
    pairs = []
    for t in summary_change.get("transitions", []):
        if (int(t["from_epoch"]), int(t["to_epoch"])) in consecutive:
            pairs.append(
                {
                    "from_epoch": int(t["from_epoch"]),
                    "to_epoch": int(t["to_epoch"]),
                    "degraded_km2": float(t["degraded_km2"]),
                    "aggraded_km2": float(t["aggraded_km2"]),
                }
            )
    decline = float("nan")
    if last > first and extent[first] > 0:
        decline = 100.0 * ((extent[last] / extent[first]) ** (10.0 / (last - first)) - 1.0)
        rows.append(_row("change of the extent", None, decline, None, unit="% per decade"))
    falling = [extent[b] < extent[a] for a, b in pairwise(epochs)]
    degrading = [p["degraded_km2"] > p["aggraded_km2"] for p in pairs]
    monotone = bool(all(falling) and all(degrading) and len(degrading) == len(falling))
    rows.append(
        {
            "quantity": "epoch pairs where the extent falls and degradation exceeds aggradation",
            "epoch": None,
            "value": float(sum(a and b for a, b in zip(falling, degrading, strict=False))),
            "low": float(len(falling)),
            "high": float(len(falling)),
            "unit": "pairs",
            "anchor": "steady warming degrades permafrost a little every five years",
            "inside": monotone,
        }
    )
    return {
        "rows": rows,
        "extent_km2": {str(e): v for e, v in extent.items()},
        "pairs": pairs,
        "decline_pct_per_decade": decline,
        "monotone_decline": monotone,
        "all_inside": bool(all(r["inside"] for r in rows)),
    }
