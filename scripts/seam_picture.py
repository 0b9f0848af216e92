"""Draw West Siberia's 2010 MAAT at the demo resolution and its row-to-row jumps (issue 11's check).

Left: MAAT (°C) of 55–72 °N × 60–90 °E on the 5 arc-min demo grid, computed by the virtual world
exactly as the demo stack's ``maat`` band. Right: for each pair of neighbouring rows, the median over
land of the jump (the median, so that the Urals' and Putorana's slopes do not hide it): |ΔMAAT| in
grey, and in blue |ΔMAAT + 6.5 K/km · Δz|, the part the terrain does not explain (what the seam
scanner, :mod:`permamap.demo.seams`, tests). A seam, a step along a whole parallel, shows as a spike
in the blue line; the grey one also shows the elevation layer's 28 m steps on the plains.

Usage: ``.venv/bin/python scripts/seam_picture.py [--out docs/img/west_siberia_maat_2010.png]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from permamap.demo.seams import LAPSE_K_PER_M
from permamap.demo.world import VirtualWorld
from permamap.grid import Grid

ROOT = Path(__file__).resolve().parents[1]
BOUNDS = (60.0, 55.0, 90.0, 72.0)  # west, south, east, north
EPOCH = 2010


def row_jumps(maat: np.ndarray) -> np.ndarray:
    """Median over land of |MAAT(r + 1) − MAAT(r)| for each pair of rows r, r + 1."""
    d = np.abs(np.diff(maat, axis=0))
    return np.nanmedian(np.where(np.isfinite(d), d, np.nan), axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs/img/west_siberia_maat_2010.png")
    args = ap.parse_args()

    grid = Grid.from_bounds(BOUNDS, res=1 / 12)
    world = VirtualWorld()
    stack = world.factors(grid, EPOCH)
    maat = stack[VirtualWorld.factor_names.index("maat")]
    elev = stack[VirtualWorld.factor_names.index("elevation")]
    lat_edges = grid.lat_centers()[:-1] - grid.res / 2  # the parallel between rows r and r + 1

    fig, (ax_map, ax_prof) = plt.subplots(
        1, 2, figsize=(11, 5.2), gridspec_kw={"width_ratios": [2.4, 1]}, sharey=True
    )
    im = ax_map.imshow(
        maat,
        extent=(BOUNDS[0], BOUNDS[2], BOUNDS[1], BOUNDS[3]),
        cmap="RdYlBu_r",
        interpolation="nearest",
        aspect="auto",
    )
    ax_map.set_xlabel("longitude (°E)")
    ax_map.set_ylabel("latitude (°N)")
    ax_map.set_title(f"Virtual-world MAAT {EPOCH} (9-year window), 5 arc-min")
    fig.colorbar(im, ax=ax_map, label="MAAT (°C)", shrink=0.9)

    ax_prof.plot(row_jumps(maat), lat_edges, color="0.6", lw=1.0, label="|ΔMAAT|")
    ax_prof.plot(
        row_jumps(maat + LAPSE_K_PER_M * elev),
        lat_edges,
        color="tab:blue",
        lw=1.4,
        label="|ΔMAAT + 6.5 K/km·Δz| (seam test)",
    )
    ax_prof.set_xlabel("median jump over land, row to next row (K)")
    ax_prof.set_title("Row-to-row jumps over land")
    ax_prof.set_xlim(left=0)
    ax_prof.legend(fontsize=7, loc="lower right")
    ax_prof.set_ylim(BOUNDS[1], BOUNDS[3])
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
