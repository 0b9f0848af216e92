"""Observation sites of the virtual world, sampled like the real networks, with planted defects.

Boreholes come in clusters where the real networks are (GTN-P Siberia and Scandinavia, PERMOS in the
Alps, the Tibetan Plateau network along the Qinghai–Tibet highway, Mongolia); each is observed in one
year, at one spot of its cell, in the climate of the nearest epoch. Ground temperature varies within
a cell (snow drifts, vegetation patches, microtopography), so the spot may hold permafrost where the
cell's mean TTOP is above 0 °C, or none where it is below: the label is drawn with the chance
:func:`site_label_probability`, a normal spread of :data:`SUBGRID_SIGMA_K` around the cell's TTOP.
That is the areal fraction of permafrost that Obu et al. (2019) map as "permafrost probability"
(200 sub-grid snow realisations per cell) and that Gisnås et al. (2016) found from snow
redistribution. 7.5 % of the demo's boreholes carry the label the cell's mean would not give.
Weather stations spread over the land and carry monthly temperature series (the GHCN role).
A few defects are planted for QC to find; :func:`sample_sites` returns them in a manifest.

Obu, J. et al. (2019) Earth-Sci. Rev. 193, 299-316. Gisnås, K. et al. (2016) The Cryosphere 10,
1201-1215.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rasterio.windows import Window
from scipy.special import ndtr

from ..grid import Grid
from .world import VirtualWorld

__all__ = ["CLUSTERS", "DemoSites", "near_boundary", "sample_sites", "site_label_probability"]

# name, lon, lat, spread (km), number of boreholes
CLUSTERS: tuple[tuple[str, float, float, float, int], ...] = (
    ("central-yakutia", 129.7, 62.0, 250, 150),
    ("west-siberia", 75.0, 65.5, 300, 110),
    ("pechora-vorkuta", 64.0, 67.5, 200, 70),
    ("taymyr-norilsk", 88.0, 69.3, 200, 60),
    ("lena-delta-tiksi", 127.0, 71.5, 150, 40),
    ("transbaikal", 113.0, 52.0, 300, 70),
    ("caucasus", 42.5, 43.3, 80, 40),
    ("tien-shan", 78.0, 42.3, 200, 60),
    ("tibetan-plateau", 93.0, 34.5, 350, 240),
    ("mongolia", 104.0, 48.0, 400, 150),
    ("finnmark-lapland", 26.5, 69.3, 120, 60),
    ("kola-khibiny", 33.7, 67.7, 100, 30),
)
N_STATIONS = 600
# σ (K) of the ground temperature within a cell around its mean TTOP. Gisnås et al. (2016) found
# snow redistribution spreads it by several K on wind-swept ground and by a few tenths in forest
# and lowland tundra, where most of Eurasia's permafrost lies; 0.4 K is a cell-wide middle. The
# true permafrost region (share ≥ 1 %: TTOP < 0.93 °C) is 13.3 M km² in 2000; 12.6 at σ = 0.3 K,
# 14.0 at 0.5, 17.5 at 1.0 (README, demo section).
SUBGRID_SIGMA_K = 0.4
NOISE_TTOP_K = 1.0  # |TTOP| below which either label is plausible (the duplicate defects use it)
# The spread acts near the climatic boundary, not in the tropics; kept 1 K inside QC's
# climate-consistency thresholds (-8 / +3 °C) so that a drawn label is not mistaken for a defect.
NOISE_MAAT_RANGE = (-7.0, 2.0)


@dataclass
class DemoSites:
    """Raw observations of the virtual world."""

    boreholes: pd.DataFrame  # raw site table (docs/contracts.md)
    stations: pd.DataFrame  # GHCN-M inventory: station_id, lat, lon, elev_m, name
    station_monthly: pd.DataFrame  # station_id, year, month (1-12), value_c (TAVG, °C)
    planted: pd.DataFrame  # site_id, rule: what QC must find


def _in_noise_climate(maat: np.ndarray) -> np.ndarray:
    return (maat > NOISE_MAAT_RANGE[0]) & (maat < NOISE_MAAT_RANGE[1])


def near_boundary(ttop: np.ndarray, maat: np.ndarray) -> np.ndarray:
    """Where either label is plausible: ground within :data:`NOISE_TTOP_K` of 0 °C.

    Kept inside QC's climate thresholds (:data:`NOISE_MAAT_RANGE`), as the label spread is.
    """
    return (np.abs(ttop) < NOISE_TTOP_K) & _in_noise_climate(maat)


def site_label_probability(ttop: np.ndarray, maat: np.ndarray) -> np.ndarray:
    """Chance that a borehole at these points is labelled permafrost (the sampling's label model).

    The share of the cell whose ground is below 0 °C, Φ(−TTOP / :data:`SUBGRID_SIGMA_K`) (module
    docstring), inside :data:`NOISE_MAAT_RANGE`; the true class (1 or 0) outside it. A map's
    accuracy *as the sites can observe it* is this probability where the map says permafrost and
    one minus it elsewhere: what spatial CV and the error profile estimate.

    >>> s = SUBGRID_SIGMA_K
    >>> site_label_probability(np.array([-9 * s, -s, 0.0, s, 9 * s]), np.zeros(5)).round(3).tolist()
    [1.0, 0.841, 0.5, 0.159, 0.0]
    """
    ttop = np.asarray(ttop, dtype=np.float64)
    p = (ttop < 0).astype(np.float64)
    spread = _in_noise_climate(np.asarray(maat))
    p[spread] = ndtr(-ttop[spread] / SUBGRID_SIGMA_K)
    return p


def _nearest_epoch(year: np.ndarray, epochs: list[int]) -> np.ndarray:
    e = np.asarray(epochs)
    return e[np.abs(year[:, None] - e[None, :]).argmin(axis=1)]


def _cluster_points(
    rng: np.random.Generator, world: VirtualWorld, grid: Grid, taken: set[tuple[int, int]]
) -> pd.DataFrame:
    rows = []
    west, south, east, north = grid.bounds
    for name, lon0, lat0, spread_km, n in CLUSTERS:
        if not (west <= lon0 < east and south <= lat0 < north):
            continue  # a grid smaller than Eurasia keeps the networks it contains
        found, attempts = 0, 0
        while found < n:
            attempts += 1
            if attempts > 200:
                raise ValueError(
                    f"cluster {name!r} at ({lon0}, {lat0}) found only {found} of {n} free land cells on "
                    f"grid {grid.bounds}; move the cluster onto land inside the grid or lower its count"
                )
            k = 4 * (n - found)
            dlat = rng.normal(0, spread_km / 111.32, k)
            dlon = rng.normal(0, spread_km / (111.32 * np.cos(np.radians(lat0))), k)
            lon, lat = lon0 + dlon, lat0 + dlat
            r, c = grid.index(lon, lat)
            ok = r >= 0
            land = np.zeros(k, bool)
            if ok.any():
                land[ok] = np.array(
                    [
                        world.land(grid, _cell(rr, cc))[0, 0]
                        for rr, cc in zip(r[ok], c[ok], strict=True)
                    ]
                )
            for i in np.flatnonzero(land):
                if found == n or (r[i], c[i]) in taken:
                    continue
                taken.add((int(r[i]), int(c[i])))
                rows.append((name, lon[i], lat[i]))
                found += 1
    return pd.DataFrame(rows, columns=["cluster", "lon", "lat"])


def _cell(row: int, col: int) -> Window:
    return Window(int(col), int(row), 1, 1)


def sample_sites(
    world: VirtualWorld, grid: Grid, epochs: list[int], random_state: int = 7
) -> DemoSites:
    """Sample boreholes and stations on ``grid`` for ``epochs``, with planted defects.

    ``random_state`` seeds every draw (positions, years, label noise, defects, station weather).
    """
    rng = np.random.default_rng(random_state)
    taken: set[tuple[int, int]] = set()
    pts = _cluster_points(rng, world, grid, taken)
    n = len(pts)
    # observed within two years of an epoch, as a campaign or a borehole's yearly mean would be
    year = rng.choice(np.asarray(epochs), n) + rng.integers(-2, 3, n)
    epoch = _nearest_epoch(year, epochs)
    label = np.zeros(n, dtype=np.int64)
    maat = np.zeros(n)
    ttop = np.zeros(n)
    for ep in epochs:
        sel = epoch == ep
        if sel.any():
            ttop[sel] = world.ttop_at(pts.lon.values[sel], pts.lat.values[sel], ep)
            maat[sel] = world.maat_at(pts.lon.values[sel], pts.lat.values[sel], ep)
    label = (rng.random(n) < site_label_probability(ttop, maat)).astype(np.int64)
    flip = label != (ttop < 0)
    near = near_boundary(ttop, maat)
    bore = pd.DataFrame(
        {
            "site_id": [f"demo-borehole:{i:05d}" for i in range(n)],
            "source": "demo-borehole",
            "source_id": [f"{i:05d}" for i in range(n)],
            "kind": "borehole",
            "lon": pts.lon.values,
            "lat": pts.lat.values,
            "year": pd.array(year, dtype="Int64"),
            "label": pd.array(label, dtype="Int64"),
            "magt": np.nan,
            "magt_depth_m": np.nan,
            "maat": np.nan,
            "cluster": pts.cluster.values,
            "label_flipped": flip,
        }
    )
    bore, planted = _plant_defects(rng, world, grid, bore, epochs, near & ~flip)
    stations, monthly = _stations(rng, world, grid, taken)
    return DemoSites(bore, stations, monthly, planted)


def _plant_defects(
    rng: np.random.Generator,
    world: VirtualWorld,
    grid: Grid,
    bore: pd.DataFrame,
    epochs: list[int],
    duplicable: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Append defective rows; return the table and the manifest ``site_id -> rule``."""
    mid = epochs[len(epochs) // 2]
    defects: list[dict[str, object]] = []

    def add(
        rule: str,
        lon: float,
        lat: float,
        label: object = 1,
        year: object = mid,
        at: tuple[float, float] | None = None,
    ) -> None:
        """Plant a defect; ``at`` is where the site really is (it must lie inside the grid)."""
        where = at if at is not None else (lon, lat)
        if at is not None or rule not in ("invalid_coordinates", "outside_grid"):
            if not grid.contains(np.array([where[0]]), np.array([where[1]]))[0]:
                return  # a smaller grid keeps only the defects it can hold
        i = len(defects)
        defects.append(
            {
                "site_id": f"demo-defect:{i:03d}",
                "source": "demo-defect",
                "source_id": f"{i:03d}",
                "kind": "borehole",
                "lon": lon,
                "lat": lat,
                "year": year,
                "label": label,
                "rule": rule,
            }
        )

    add("invalid_coordinates", 120.0, 95.0)
    add("invalid_coordinates", 200.0, 60.0)
    add("invalid_coordinates", np.nan, 62.0)
    # swapped: as given, latitude > 90 or a point at sea; swapped back, on land inside the grid
    add(
        "swapped_coordinates", 62.1, 129.5, at=(129.5, 62.1)
    )  # Yakutia given as (lon=62.1, lat=129.5)
    add("swapped_coordinates", 34.5, 92.5, at=(92.5, 34.5))  # Tibetan Plateau, lat > 90 as given
    add("swapped_coordinates", 65.5, 75.0, at=(75.0, 65.5))  # West Siberia given in the Kara Sea
    # in the sea (Sea of Okhotsk, East Siberian Sea, Arctic Ocean); swapping would not help
    add("in_sea", 150.0, 55.0)
    add("in_sea", 160.0, 75.0)
    add("in_sea", 150.0, 80.0)
    # just west of the grid, at mid-latitude; chosen so that swapping lon and lat does not put it
    # inside the grid either (else QC would rightly call it a swap)
    lon_out, lat_out = grid.west - 3.0, 0.5 * (grid.south + grid.north)
    if grid.contains(np.array([lat_out]), np.array([lon_out]))[0]:
        lon_out = grid.east + 3.0
    add("outside_grid", lon_out, lat_out, label=0)
    add("no_epoch", 100.0, 52.0, label=0, year=min(epochs) - 30)
    add("unclear_label", 95.0, 63.0, label=pd.NA)
    add("unclear_label", 110.0, 55.0, label=pd.NA)
    # climate contradictions: permafrost where it is warm, non-permafrost where it is very cold
    for lon, lat, lab in (
        (37.0, 53.5, 1),
        (115.0, 35.0, 1),
        (45.0, 46.0, 1),
        (140.0, 70.0, 0),
        (150.0, 69.0, 0),
    ):
        add("climate_contradiction", lon, lat, label=lab)
    table = pd.DataFrame(defects)
    # duplicates: a second row in the cell of an existing borehole whose climate makes either
    # label plausible, so that only the duplicate rule can catch the pair
    base = bore[duplicable].sample(5, random_state=int(rng.integers(1 << 31)))
    dup_rows = []
    for k, (_, row) in enumerate(base.iterrows()):
        r, c = grid.index(np.array([row.lon]), np.array([row.lat]))
        cell_lon = grid.lon_centers()[c[0]] + grid.res * 0.2
        cell_lat = grid.lat_centers()[r[0]] - grid.res * 0.2
        conflict = k < 3
        lab = (1 - int(row.label)) if conflict else int(row.label)
        dup_rows.append(
            {
                "site_id": f"demo-duplicate:{k:03d}",
                "source": "demo-duplicate",
                "source_id": f"{k:03d}",
                "kind": "borehole",
                "lon": cell_lon,
                "lat": cell_lat,
                "year": row.year,
                "label": lab,
                "rule": "duplicate_conflict" if conflict else "duplicate_merged",
                "partner": row.site_id,
            }
        )
    dups = pd.DataFrame(dup_rows)
    manifest = pd.concat(
        [
            table[["site_id", "rule"]],
            dups[["site_id", "rule"]],
            # the partner of a conflicting pair is dropped too
            pd.DataFrame(
                {
                    "site_id": dups.partner[dups.rule == "duplicate_conflict"],
                    "rule": "duplicate_conflict",
                }
            ),
        ],
        ignore_index=True,
    )
    extra = pd.concat(
        [table.drop(columns="rule"), dups.drop(columns=["rule", "partner"])], ignore_index=True
    )
    extra["year"] = pd.array(extra["year"], dtype="Int64")
    extra["label"] = pd.array(extra["label"], dtype="Int64")
    extra["magt"] = np.nan
    extra["magt_depth_m"] = np.nan
    extra["maat"] = np.nan
    extra["label_flipped"] = False
    return pd.concat([bore, extra], ignore_index=True), manifest


def _stations(
    rng: np.random.Generator, world: VirtualWorld, grid: Grid, taken: set[tuple[int, int]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weather stations on land cells not used by boreholes, with monthly temperature for all years."""
    lons: list[float] = []
    lats: list[float] = []
    while len(lons) < N_STATIONS:
        lon = rng.uniform(grid.west, grid.east, 2000)
        lat = np.degrees(
            np.arcsin(
                rng.uniform(np.sin(np.radians(grid.south)), np.sin(np.radians(grid.north)), 2000)
            )
        )
        r, c = grid.index(lon, lat)
        for i in range(len(lon)):
            if len(lons) == N_STATIONS:
                break
            if r[i] < 0 or (int(r[i]), int(c[i])) in taken:
                continue
            if not world.land(grid, _cell(r[i], c[i]))[0, 0]:
                continue
            taken.add((int(r[i]), int(c[i])))
            lons.append(lon[i])
            lats.append(lat[i])
    lon_a, lat_a = np.array(lons), np.array(lats)
    ids = [f"VEM{i:08d}" for i in range(N_STATIONS)]
    years = list(world.years)
    t, _ = world.monthly_at(lon_a, lat_a, years)  # (year, 12, n)
    t = t + rng.normal(0, 0.3, size=t.shape).astype(np.float32)  # station-scale weather noise
    from .layers import elevation_m

    stations = pd.DataFrame(
        {
            "station_id": ids,
            "lat": lat_a,
            "lon": lon_a,
            "elev_m": elevation_m(lon_a, lat_a),
            "name": [f"VIRTUAL STATION {i}" for i in range(N_STATIONS)],
        }
    )
    yy, mm, ss = np.meshgrid(
        np.array(years), np.arange(1, 13), np.arange(N_STATIONS), indexing="ij"
    )
    monthly = pd.DataFrame(
        {
            "station_id": np.array(ids)[ss.ravel()],
            "year": yy.ravel(),
            "month": mm.ravel(),
            "value_c": np.round(t.ravel().astype(float), 2),
        }
    )
    return stations, monthly
