"""How much each effect of the virtual world's ground rule moves the true permafrost extent.

Prints the Markdown table of README.md's demo section: for each effect of
:mod:`permamap.demo.ground`, the true extent with that effect held at its neutral value, the change
against the full rule and the area whose class flips (km² on the ellipsoid).

    .venv/bin/python scripts/truth_effects.py [--res-arcmin 5] [--epoch 2000]
"""

from __future__ import annotations

import argparse

from permamap.demo import ground
from permamap.demo.world import VirtualWorld
from permamap.grid import Grid

EURASIA = (25.0, 25.0, 180.0, 84.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res-arcmin", type=float, default=5.0)
    ap.add_argument("--epoch", type=int, default=2000)
    args = ap.parse_args()
    grid = Grid.from_bounds(EURASIA, res=args.res_arcmin / 60.0)
    world = VirtualWorld()
    variants = [(), *[(e,) for e in ground.EFFECTS]]
    extent = dict.fromkeys(variants, 0.0)
    flipped = dict.fromkeys(variants, 0.0)
    for win in grid.tiles((256, 2048)):
        lon, lat = world._coords(grid, win)
        land = world.land(grid, win)
        area = grid.cell_area_km2(win)
        full = world.ttop_at(lon, lat, args.epoch) < 0
        for v in variants:
            pf = full if not v else world.ttop_at(lon, lat, args.epoch, off=v) < 0
            extent[v] += float(area[pf & land].sum())
            flipped[v] += float(area[(pf != full) & land].sum())
    base = extent[()]
    print(f"true extent {args.epoch} at {args.res_arcmin:g} arc-min: {base / 1e6:.2f} M km²\n")
    print("| effect held neutral | extent (M km²) | change | area that flips class (M km²) |")
    print("|---|---:|---:|---:|")
    for v in variants[1:]:
        change = 100.0 * (extent[v] / base - 1.0)
        print(f"| {v[0]} | {extent[v] / 1e6:.2f} | {change:+.1f} % | {flipped[v] / 1e6:.2f} |")


if __name__ == "__main__":
    main()
