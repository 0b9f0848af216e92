"""A seam scanner: steps in a temperature field that neither its neighbourhood nor the terrain explain.

A seam is an artefact where a field that should vary smoothly jumps between two neighbouring
cells: a tile, band or region edge of the code that made it. :func:`seam_report` cuts the field
into boxes of ``box_deg`` × ``box_deg`` and looks, in each box, at the steps of MAAT between
neighbouring land cells, separately along columns (``"row"`` steps: cell ``(r, c)`` against
``(r + 1, c)``, i.e. north–south) and along rows (``"col"`` steps: ``(r, c)`` against
``(r, c + 1)``, west–east).

What the terrain explains is removed first: with the lapse rate ``Γ = 6.5 K/km``, the step of a
pair is ``s = |ΔMAAT + Γ · Δz|`` (Δ taken the same way for MAAT and elevation), the part of the
MAAT difference that the standard-atmosphere cooling with height does not account for. A real
mountain front is steep in MAAT and in elevation and leaves ``s`` ≈ 0; a seam is steep in MAAT
alone. (Excusing a pair only when ``Γ·|Δz| ≥ |ΔMAAT| / 2`` was tried first and fails on gentle
slopes: a smooth gradient ``g`` plus a terrain step just under ``g`` makes ``|ΔMAAT|`` ≈ ``2g``,
not excused and three times the box median, although nothing is wrong: on the 30 arc-sec grid it
flagged 22 such pairs on Yamal, 0.017 K each.) A step is flagged when
both hold:

- ``s > factor · m``, with ``m`` the median of the box's steps in the same direction. The
  two directions have their own medians because the meridional temperature gradient makes
  north–south steps systematically larger than west–east ones; a pooled median would flag
  the ordinary latitude gradient;
- ``s > floor_k``, by default ``FLOOR_K_PER_DEG · res_deg`` = 1.5 K per degree of cell size
  (0.125 K between 5 arc-min cells, 0.0125 K between 30 arc-sec cells). Where most of a box is
  flat in one direction its median is close to zero (0.01 K west–east on the North China Plain
  at 5 arc-min), and the smooth but steeper coastal part of the same box (ocean distance and
  fetch change fastest there; the steepest MAAT gradient without terrain on the demo grid is
  0.019 K/km) would be ``factor`` times it. The floor scales with the cell because a smooth
  field's steps do; the seams this scanner was built for were 0.4–5 K at 5 arc-min and, spread
  by bilinear sampling of the 0.25° layers, about 0.05–0.8 K at 30 arc-sec;
- ``s > Γ · |Δz|``: the elevation does not jump as much as the unexplained step — where it
  does, the step is at a terrain break (a coast rising from the sea, a valley wall), and the
  terrain-dependent terms of a real climate (the mass-elevation effect, the coastal fetch) change
  there too. On the demo grid this excuses one 0.158 K step on the Sea of Okhotsk coast (elevation
  0 → 54 m, i.e. 0.35 K of lapse) at 3.0 × its box median.

Pairs belong to the box of their first (northern or western) cell, and the second cell may lie
in the next box, so steps along box edges are seen. To scan a grid too large for memory, pass
tiles that carry one extra row and column of the next tile and give ``core`` (the tile's own
shape): cells of the extra row/column only serve as partners (:func:`seam_report` with
``origin`` keeps the reported indices global).

Examples
--------
>>> lat = (60 - (np.arange(120) + 0.5) / 12)[:, None] * np.ones((1, 60))  # one 5° box wide
>>> maat = -0.8 * (lat - 50.0)  # a smooth gradient: 0.067 K from row to row
>>> flat, land = np.zeros_like(maat), np.ones(maat.shape, bool)
>>> seam_report(maat, flat, land, res_deg=1 / 12)
[]
>>> maat[60:] -= 1.0  # a 1 K step between rows 59 and 60
>>> [(b.rows, b.n_row_flags, round(b.worst_step_k, 2)) for b in seam_report(maat, flat, land, 1 / 12)]
[((59,), 60, 0.93)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FLOOR_K_PER_DEG", "LAPSE_K_PER_M", "SeamBox", "seam_report"]

LAPSE_K_PER_M = 6.5e-3
FLOOR_K_PER_DEG = 1.5  # smallest flagged step per degree of cell size (module docstring)


@dataclass(frozen=True)
class SeamBox:
    """One box with flagged steps; indices are cells of the scanned array (plus ``origin``).

    ``rows`` holds the northern row ``r`` of each flagged north–south pair ``(r, r + 1)``;
    ``cols`` the western column ``c`` of each flagged west–east pair ``(c, c + 1)``. Steps are
    terrain-corrected, ``|ΔMAAT + Γ·Δz|`` in K; ``worst_ratio`` is the largest flagged step over
    its direction's box median ``median_row_k`` or ``median_col_k``.
    """

    row_off: int
    col_off: int
    n_row_flags: int
    n_col_flags: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    worst_step_k: float
    worst_ratio: float
    median_row_k: float
    median_col_k: float


def _flags(
    step: np.ndarray, terrain: np.ndarray, ok: np.ndarray, factor: float, floor_k: float
) -> tuple[np.ndarray, float]:
    """Boolean flags of one direction's terrain-corrected steps in one box and their median."""
    if not ok.any():
        return np.zeros(step.shape, bool), 0.0
    median = float(np.median(step[ok]))
    return ok & (step > factor * median) & (step > floor_k) & (step > terrain), median


def seam_report(
    maat: np.ndarray,
    elev: np.ndarray,
    land: np.ndarray,
    res_deg: float,
    box_deg: float = 5.0,
    factor: float = 3.0,
    floor_k: float | None = None,
    core: tuple[int, int] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> list[SeamBox]:
    """Boxes of ``maat`` (°C, ``(row, col)``) with steps that are seams, by the rules of the module.

    Parameters
    ----------
    maat, elev, land
        Mean annual air temperature (°C), elevation (m) and the land mask, same shape; only pairs
        of two finite land cells count.
    res_deg
        Cell size in degrees; a box is ``round(box_deg / res_deg)`` cells square.
    box_deg, factor, floor_k
        Box size, the multiple of the box median that makes a step suspect, and the smallest
        step (K) ever flagged (default ``FLOOR_K_PER_DEG · res_deg``).
    core
        ``(rows, cols)`` of cells that own pairs; cells beyond are only partners (tiled scans).
        Default: the whole array.
    origin
        ``(row, col)`` of the array's first cell in the whole grid, added to reported indices.

    Returns
    -------
    list of SeamBox
        One entry per box with at least one flagged step, in row-major order; empty when clean.
    """
    maat = np.asarray(maat, dtype=np.float64)
    elev = np.asarray(elev, dtype=np.float64)
    if maat.shape != elev.shape or maat.shape != np.shape(land):
        raise ValueError(
            f"maat {maat.shape}, elev {np.shape(elev)} and land {np.shape(land)} differ in shape; "
            "pass the three layers of the same window"
        )
    good = np.asarray(land, bool) & np.isfinite(maat) & np.isfinite(elev)
    n_rows, n_cols = core if core is not None else maat.shape
    box = max(1, round(box_deg / res_deg))
    floor = FLOOR_K_PER_DEG * res_deg if floor_k is None else floor_k
    out: list[SeamBox] = []
    for r0 in range(0, n_rows, box):
        r1 = min(r0 + box, n_rows)
        for c0 in range(0, n_cols, box):
            c1 = min(c0 + box, n_cols)
            # north-south pairs (r, r + 1) with r in the box; the partner may be in the next box
            rr1 = min(r1, maat.shape[0] - 1)
            a, b = np.s_[r0:rr1, c0:c1], np.s_[r0 + 1 : rr1 + 1, c0:c1]
            ok_r = good[a] & good[b]
            d_r = np.abs(maat[b] - maat[a] + LAPSE_K_PER_M * (elev[b] - elev[a]))
            t_r = LAPSE_K_PER_M * np.abs(elev[b] - elev[a])
            # west-east pairs (c, c + 1)
            cc1 = min(c1, maat.shape[1] - 1)
            a, b = np.s_[r0:r1, c0:cc1], np.s_[r0:r1, c0 + 1 : cc1 + 1]
            ok_c = good[a] & good[b]
            d_c = np.abs(maat[b] - maat[a] + LAPSE_K_PER_M * (elev[b] - elev[a]))
            t_c = LAPSE_K_PER_M * np.abs(elev[b] - elev[a])
            with np.errstate(invalid="ignore"):
                flag_r, med_r = _flags(d_r, t_r, ok_r, factor, floor)
                flag_c, med_c = _flags(d_c, t_c, ok_c, factor, floor)
            if not (flag_r.any() or flag_c.any()):
                continue
            steps = np.concatenate([d_r[flag_r], d_c[flag_c]])
            ratios = np.concatenate(
                [d_r[flag_r] / max(med_r, 1e-12), d_c[flag_c] / max(med_c, 1e-12)]
            )
            out.append(
                SeamBox(
                    row_off=origin[0] + r0,
                    col_off=origin[1] + c0,
                    n_row_flags=int(flag_r.sum()),
                    n_col_flags=int(flag_c.sum()),
                    rows=tuple(int(origin[0] + r0 + r) for r in np.unique(np.nonzero(flag_r)[0])),
                    cols=tuple(int(origin[1] + c0 + c) for c in np.unique(np.nonzero(flag_c)[1])),
                    worst_step_k=float(steps.max()),
                    worst_ratio=float(ratios.max()),
                    median_row_k=med_r,
                    median_col_k=med_c,
                )
            )
    return out
