"""Derive the constants of the virtual world's climate rules from real climatologies (run once, by hand).

Reads NCEP/NCAR Reanalysis 1 monthly long-term-mean air temperature (sigma 0.995, 1981-2010) and
CMAP monthly long-term-mean precipitation from ``../shared/data/real-coarse`` and fits, by least
squares over the 2.5° cells of 25–84 °N × 25–180 °E that are at least 60 % land:

    T_ann   = a0 + a1·x + a2·x² + a3·cw + a4·cn − 6.5 K/km · z          x = (lat − 50°)/10°
    A_half  = b0 + b1·x + b2·cw + b3·cn + b4·x·cw                      (first-harmonic amplitude)
    ln P    = p0 + p1·x + p2·x² + p3·cw + p4·cn                        (P in mm/yr)
    s       = s0 + s1·x + s2·cw + s3·cn                                 (P seasonality, harmonic/mean)

with cw = 1 − exp(−fetch/Dw) (westerly fetch over land, as the virtual world uses it: smoothed over
σ = ``layers.FETCH_SMOOTHING_KM``) and cn = 1 − exp(−dist/Dn) (distance to the open ocean), Dw and
Dn chosen by grid search. The printed constants and RMSEs are pasted into
``src/permamap/demo/climate.py``; the run-time code never needs the shared files. Issue 11's run
(σ = 500 km): Dw = Dn = 4000 km; RMSE 2.06 K (T_ann), 1.76 K (A_half), 0.60 (ln P), 0.24 (s); with
the per-parallel fetch before it: 2.17 K, 2.03 K, 0.60, 0.26.

Then the mass-elevation effect (issue 11): the slope ``k`` (K per km of plateau height,
``layers.plateau_height_m``) of WorldClim 2 bio10 (mean temperature of the warmest quarter, 1°, from
``cast-bioclim-global``) minus the virtual warmest quarter, fitted with an intercept over the
domain's land cells; ``k`` is pasted as ``climate.MASS_ELEVATION_K_PER_KM`` (1.5 K/km).

Usage: ``.venv/bin/python scripts/calibrate_climate.py``
"""

from __future__ import annotations

import itertools
from pathlib import Path

import netCDF4
import numpy as np
import rasterio

from permamap.demo.climate import climatology
from permamap.demo.layers import (
    FETCH_SMOOTHING_KM,
    elevation_m,
    ocean_distance_km,
    plateau_height_m,
    westerly_fetch_km,
)
from permamap.grid import Grid
from permamap.landmask import land_fraction

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-coarse"
LAPSE_K_PER_M = -6.5e-3


def load(path: Path, var: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with netCDF4.Dataset(path) as ds:
        return np.asarray(ds[var][:], float), np.asarray(ds["lat"][:]), np.asarray(ds["lon"][:])


def harmonic(monthly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and first-harmonic amplitude of 12 monthly values along axis 0."""
    k = np.exp(-2j * np.pi * np.arange(12) / 12)[:, None]
    return monthly.mean(axis=0), 2 * np.abs((monthly * k).sum(axis=0)) / 12


def cell_predictors(lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """Land fraction, mean elevation, fetch and ocean distance over each 2.5° cell (0.25° samples)."""
    out: dict[str, list[float]] = {"land": [], "z": [], "fetch": [], "dist": []}
    offs = (np.arange(10) - 4.5) * 0.25
    for la, lo in zip(lat, lon, strict=True):
        sl, so = np.meshgrid(la + offs, lo + offs, indexing="ij")
        g = Grid.from_bounds((lo - 1.25, la - 1.25, lo + 1.25, la + 1.25), res=0.25)
        frac = land_fraction(g)
        land = frac >= 0.5
        out["land"].append(float(frac.mean()))
        out["z"].append(float(elevation_m(so[land], sl[land]).mean()) if land.any() else 0.0)
        out["fetch"].append(float(westerly_fetch_km(so, sl).mean()))
        out["dist"].append(float(ocean_distance_km(so, sl).mean()))
    return {k: np.asarray(v) for k, v in out.items()}


def main() -> None:
    air, alat, alon = load(SHARED / "ncep-air-ltm" / "air.mon.ltm.nc", "air")
    pre, plat, plon = load(SHARED / "cmap-precip-ltm" / "precip.mon.ltm.nc", "precip")
    la2, lo2 = np.meshgrid(alat, alon, indexing="ij")
    sel = (la2 >= 26) & (la2 <= 83) & (lo2 >= 27) & (lo2 <= 178)
    lat, lon = la2[sel], lo2[sel]
    t_mon = air[:, sel]
    # CMAP lat centres are 88.75 .. -88.75: nearest CMAP cell to each NCEP cell
    pi = np.abs(plat[:, None] - lat[None, :]).argmin(axis=0)
    pj = np.abs(plon[:, None] - lon[None, :]).argmin(axis=0)
    p_mon = pre[:, pi, pj] * 30.44  # mm/day -> mm/month
    pred = cell_predictors(lat, lon)
    keep = pred["land"] >= 0.6
    x = (lat[keep] - 50) / 10
    z = pred["z"][keep]
    t_ann, t_amp = harmonic(t_mon[:, keep])
    p_mean, p_amp = harmonic(p_mon[:, keep])
    p_ann = p_mean * 12
    t_resid = t_ann - LAPSE_K_PER_M * z
    best = None
    for dw, dn in itertools.product(
        [1000, 2000, 4000, 6000, 8000, 12000], [250, 500, 1000, 2000, 4000]
    ):
        cw = 1 - np.exp(-pred["fetch"][keep] / dw)
        cn = 1 - np.exp(-pred["dist"][keep] / dn)
        one = np.ones_like(x)
        designs = {
            "T": (np.stack([one, x, x**2, cw, cn], 1), t_resid),
            "A": (np.stack([one, x, cw, cn, x * cw], 1), t_amp),
            "P": (np.stack([one, x, x**2, cw, cn], 1), np.log(np.maximum(p_ann, 20))),
            "S": (np.stack([one, x, cw, cn], 1), p_amp / np.maximum(p_mean, 1e-3)),
        }
        fits = {k: np.linalg.lstsq(m, y, rcond=None)[0] for k, (m, y) in designs.items()}
        rmse = {
            k: float(np.sqrt(np.mean((designs[k][0] @ fits[k] - designs[k][1]) ** 2))) for k in fits
        }
        score = rmse["T"] + rmse["A"]
        if best is None or score < best[0]:
            best = (score, dw, dn, fits, rmse)
    assert best is not None
    _, dw, dn, fits, rmse = best
    print(f"cells used: {int(keep.sum())}; fetch smoothed over {FETCH_SMOOTHING_KM:g} km")
    print(f"Dw = {dw} km, Dn = {dn} km")
    for k, coef in fits.items():
        print(k, np.array2string(coef, precision=4, separator=", "), f"rmse={rmse[k]:.3f}")


def fit_mass_elevation() -> None:
    """Slope of (WorldClim bio10 − virtual warmest quarter) against the plateau height."""
    with rasterio.open(SHARED / "cast-bioclim-global" / "bioclim_global.tif") as ds:
        bio10 = ds.read(list(ds.descriptions).index("bio10") + 1).astype(float)
        bio10[bio10 == ds.nodata] = np.nan
        rows, cols = np.mgrid[0 : ds.height, 0 : ds.width]
        lon, lat = ds.transform * (cols + 0.5, rows + 0.5)
    sel = (lat >= 25) & (lat <= 84) & (lon >= 25) & (lon <= 180) & np.isfinite(bio10)
    lo, la = lon[sel], lat[sel]
    t, _ = climatology(
        la, elevation_m(lo, la), westerly_fetch_km(lo, la), ocean_distance_km(lo, la)
    )
    quarter = np.max([t[[(m - 1) % 12, m, (m + 1) % 12]].mean(axis=0) for m in range(12)], axis=0)
    resid = bio10[sel] / 10.0 - quarter
    plateau_km = plateau_height_m(lo, la) / 1000.0
    design = np.stack([plateau_km, np.ones_like(plateau_km)], 1)
    (k, b), *_ = np.linalg.lstsq(design, resid, rcond=None)
    after = resid - k * plateau_km
    print(
        f"mass elevation: k = {k:.2f} K/km (intercept {b:.2f} K) over {int(sel.sum())} cells; "
        f"rmse {np.sqrt(np.mean(resid**2)):.2f} -> {np.sqrt(np.mean(after**2)):.2f} K"
    )


if __name__ == "__main__":
    main()
    fit_mass_elevation()
