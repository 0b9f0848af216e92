"""Benchmark of the model stage: the full protocol on synthetic clustered sites.

``run()`` builds ~1749 synthetic sites shaped like the seed study's (borehole clusters in Siberia,
the Alps, Tibet, Mongolia and Scandinavia plus scattered stations, 20 factors, a physical labelling
rule with noise), runs :func:`permamap.selection.model_stage` with the published profile
(13 candidates with grids, 40 × 5 random and spatial CV; the final fit includes the area of
applicability) and prints the wall time and the headline figures. ``run(quick=True)`` uses the demo
profile instead.

Run it with ``python -m benchmarks.models`` (``--quick`` for the demo profile).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run", "synthetic_sites"]

# (name, lon, lat, spread in degrees, share of sites)
_CLUSTERS = (
    ("siberia", 118.0, 64.0, 6.0, 0.30),
    ("alps", 9.5, 46.5, 1.2, 0.12),
    ("tibet", 92.0, 33.5, 4.0, 0.18),
    ("mongolia", 103.0, 48.0, 3.0, 0.12),
    ("scandinavia", 17.0, 67.0, 2.5, 0.10),
)


def synthetic_sites(
    n_sites: int = 1749, n_factors: int = 20, random_state: int = 0
) -> pd.DataFrame:
    """A feature table (contracts.md "Feature table") of clustered sites with a known rule.

    The label is 1 (permafrost) where a noisy mean annual ground temperature proxy built from
    latitude, elevation, continentality and snow is below 0 °C. Factors ``f00``... include the
    informative ones (air temperature, elevation, snow, continentality, frost index), correlated
    copies and pure noise, as a real covariate stack would.
    """
    rng = np.random.default_rng(random_state)
    shares = np.array([c[4] for c in _CLUSTERS])
    n_clustered = rng.multinomial(int(n_sites * shares.sum()), shares / shares.sum())
    lon, lat, src = [], [], []
    for (name, clon, clat, spread, _), m in zip(_CLUSTERS, n_clustered, strict=True):
        lon.append(clon + rng.normal(0, spread, m))
        lat.append(clat + rng.normal(0, spread / 2, m))
        src += [f"demo-borehole-{name}"] * m
    n_scatter = n_sites - int(n_clustered.sum())
    lon.append(rng.uniform(25, 180, n_scatter))
    lat.append(
        np.degrees(
            np.arcsin(rng.uniform(np.sin(np.radians(25)), np.sin(np.radians(84)), n_scatter))
        )
    )
    src += ["demo-station"] * n_scatter
    lon_a = np.clip(np.concatenate(lon), -180, 180)
    lat_a = np.clip(np.concatenate(lat), 25, 84)
    # Smooth "terrain" so nearby sites share conditions (spatial autocorrelation).
    elev = np.clip(
        1.5 * np.exp(-(((lon_a - 90) / 15) ** 2 + ((lat_a - 33) / 5) ** 2)) * 3
        + 1.2 * np.exp(-(((lon_a - 9.5) / 3) ** 2 + ((lat_a - 46.5) / 1.5) ** 2)) * 2
        + 0.4 * (1 + np.sin(np.radians(lon_a) * 7) * np.cos(np.radians(lat_a) * 5))
        + rng.gamma(1.5, 0.15, n_sites),
        0,
        6,
    )
    conti = np.abs(lon_a - 10) / 170 * 20 + rng.normal(0, 1, n_sites)
    maat = 24 - 0.62 * (lat_a - 25) - 5.5 * elev - 0.25 * conti + rng.normal(0, 1.0, n_sites)
    snow = np.clip(0.3 + 0.02 * (lat_a - 25) + rng.normal(0, 0.1, n_sites), 0, 1.2)
    # A regional ground-temperature offset (soil, vegetation, history) that no factor measures:
    # nearby sites share it, so random CV can learn it from neighbours and spatial CV cannot.
    regional = 3.0 * np.sin(np.radians(lon_a) * 50) * np.cos(np.radians(lat_a) * 40)
    magt = maat + 2.5 * snow + 1.0 + regional + rng.normal(0, 0.8, n_sites)
    label = (magt < 0).astype(int)
    informative = {
        "maat": maat + rng.normal(0, 0.5, n_sites),
        "elevation_km": elev,
        "snow_depth_m": snow,
        "continentality": conti,
        "longitude_proxy": np.sin(np.radians(lon_a) * 3) + rng.normal(0, 0.05, n_sites),
        "frost_index": 1 / (1 + np.exp(maat / 3)) + rng.normal(0, 0.03, n_sites),
    }
    cols: dict[str, np.ndarray] = {}
    for i, v in enumerate(informative.values()):
        cols[f"f{i:02d}"] = v
    base = list(informative.values())
    for i in range(len(informative), n_factors):
        if i < 12:  # correlated copies of informative factors
            src_col = base[i % len(base)]
            cols[f"f{i:02d}"] = src_col + rng.normal(0, src_col.std() * 0.8, n_sites)
        else:  # noise
            cols[f"f{i:02d}"] = rng.normal(0, 1, n_sites)
    table = pd.DataFrame(
        {
            "site_id": [f"{s}:{i}" for i, s in enumerate(src)],
            "source": src,
            "epoch": 2000,
            "lon": lon_a,
            "lat": lat_a,
            "label": label,
        }
    )
    return pd.concat([table, pd.DataFrame(cols)], axis=1)


def run(quick: bool = False, *, n_jobs: int = -1, random_state: int = 0) -> dict[str, Any]:
    """Time the model stage on ~1749 synthetic sites × 20 factors and print the figures.

    Parameters
    ----------
    quick : bool, default=False
        Demo profile instead of the published one.
    n_jobs : int, default=-1
        Worker processes.
    random_state : int, default=0
        Seeds the synthetic sites and the model stage.

    Returns
    -------
    dict
        Wall time per step and the chosen model's random- and spatial-CV figures.
    """
    from permamap.selection import ModelSettings, model_stage

    table = synthetic_sites(random_state=random_state)
    features = [c for c in table.columns if c.startswith("f")]
    settings = ModelSettings.demo() if quick else ModelSettings.published()
    t0 = time.perf_counter()
    result = model_stage(table, features, settings, n_jobs=n_jobs, random_state=random_state)
    wall = time.perf_counter() - t0
    s = result.summary
    out = {
        "profile": "demo" if quick else "published",
        "n_sites": len(table),
        "n_factors": len(features),
        "n_candidates": len(settings.candidates),
        "cv": f"{settings.n_repeats} x {settings.n_folds}",
        "cpu_count": os.cpu_count(),
        "wall_s": round(wall, 1),
        "timings_s": result.timings,
        "model": s["model"],
        "features": s["features"],
        "random_accuracy": s["random"]["accuracy"],
        "spatial_accuracy": s["spatial"]["accuracy"],
        "prediction_s_per_million_cells": result.card.get("prediction_s_per_million_cells"),
    }
    print(
        f"model stage ({out['profile']} profile): {out['n_candidates']} candidates, "
        f"{out['cv']} random + spatial CV, {out['n_sites']} sites x {out['n_factors']} factors"
    )
    print(f"wall time: {wall:.1f} s on {os.cpu_count()} cores")
    for step, sec in result.timings.items():
        print(f"  {step:<14s} {sec:8.1f} s")
    print(f"chosen: {s['model']} with {len(s['features'])} features")
    print(
        "accuracy  random CV {:.3f} ± {:.3f}   spatial CV {:.3f} ± {:.3f}".format(
            s["random"]["accuracy"]["mean"],
            s["random"]["accuracy"]["sd"],
            s["spatial"]["accuracy"]["mean"],
            s["spatial"]["accuracy"]["sd"],
        )
    )
    print(json.dumps(out, default=str))
    return out


if __name__ == "__main__":
    run(quick="--quick" in sys.argv[1:])
