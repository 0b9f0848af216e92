"""The real-source readers at full scale, on files in the real products' layouts (issue 14, point 3).

:func:`generate` writes, locally, files with the exact names and layouts of the real products,
filled with the virtual world's values on each product's own grid (nodata outside the domain,
so the files stay small):

- WorldClim 2.1 historical monthly weather, 2.5 arc-min, global: decade zips
  ``wc2.1_cruts4.09_2.5m_<tmin|tmax|prec>_<period>.zip`` of monthly GeoTIFFs
  ``wc2.1_cruts4.09_2.5m_<var>_<YYYY-MM>.tif`` (float32, DEFLATE, nodata −3.4e38) for the years
  of one epoch window; ``tmin``/``tmax`` are the virtual monthly mean ∓ 4 °C, so their mean is it;
- Copernicus DEM GLO-90: 1° COG tiles ``Copernicus_DSM_COG_30_N50_00_E080_00_DEM/<same>.tif``,
  1200 rows and the real product's column count per latitude band, for a 20° × 20° block;
- SoilGrids 2.0 ``clay/clay_0-5cm_mean.vrt`` in Homolosine (ESRI:54052, 250 m, the real VRT's
  origin) pointing to int16 g/kg tiles ``clay_0-5cm_mean/tileSG-XXX-YYY/tileSG-XXX-YYY_i-j.tif``;
- MODIS MOD10CM monthly snow cover on the 0.05° climate-modelling grid, as GeoTIFFs keeping the
  granule names (``MOD10CM.A2000001.061.2020245012345.tif``), uint8 percent, 255 = fill; the
  monthly cover is the virtual world's degree-day snow share of that month.

Generation is cached: files already present (written atomically, so complete) are skipped; a
``real-layout.json`` records the extent and refuses a different one in the same folder.

:func:`run` then measures each reader building its layer for one epoch (window of 9 years) on the
30 arc-sec grid, tile by tile as the stack writer drives it, each in a fresh process
(:func:`benchmarks.rss.measure`): seconds, Mcells/s and peak RSS. The DEM is measured on its
block; the combined ``sources_from_config`` stack (all four readers) is built on the block too.

``python -m benchmarks.real_layout [--quick]``.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from tqdm.auto import tqdm

from benchmarks.rss import measure
from permamap.covariates.sources.copdem import CopernicusDEM, tile_name
from permamap.covariates.sources.from_config import sources_from_config
from permamap.covariates.sources.modis import ModisSnow
from permamap.covariates.sources.soilgrids import SoilGrids
from permamap.covariates.sources.worldclim import (
    WorldClimMonthly,
    decade_periods,
    monthly_zip_name,
)
from permamap.covariates.stack import build_stack
from permamap.demo import layers
from permamap.demo.world import VirtualWorld
from permamap.fileio import atomic_path, atomic_write_text, write_json
from permamap.grid import Grid

__all__ = ["DEM_BLOCK", "EURASIA", "Layout", "generate", "run"]

EURASIA = (25.0, 25.0, 180.0, 84.0)
DEM_BLOCK = (80.0, 45.0, 100.0, 65.0)  # 20° x 20°: three GLO-90 column bands (1200, 800, 600)
QUICK_BOUNDS = (100.0, 60.0, 104.0, 62.0)
QUICK_DEM_BLOCK = (100.0, 60.0, 102.0, 62.0)
EPOCH = 2000
WINDOW_YEARS = 9

WC_RES = 1 / 24  # 2.5 arc-min
WC_NODATA = np.float32(-3.4e38)
WC_HALF_RANGE = np.float32(4.0)  # tmax - tmin = 8 °C
CMG_RES = 0.05
MODIS_FILL = 255
MODIS_PRODUCTION = "2020245012345"
SG_RES = 250.0
SG_ORIGIN = (-19949750.0, 8751750.0)  # the real SoilGrids VRTs' upper-left corner
SG_SIZE = (159246, 58034)  # columns, rows of the real VRTs
SG_SUBTILE = 2000  # pixels per sub-tile side; a tileSG folder holds 2 x 2 of them
SG_NODATA = -32768
HOMOLOSINE = "+proj=igh +lat_0=0 +lon_0=0 +datum=WGS84 +units=m +no_defs"
GTIFF = {"driver": "GTiff", "compress": "deflate", "sparse_ok": True}


@dataclass(frozen=True)
class Layout:
    """Where :func:`generate` puts each product under ``root``."""

    root: Path

    @property
    def worldclim(self) -> Path:
        return self.root / "worldclim"

    @property
    def copdem(self) -> Path:
        return self.root / "copdem90"

    @property
    def soilgrids_vrt(self) -> Path:
        return self.root / "soilgrids" / "clay" / "clay_0-5cm_mean.vrt"

    @property
    def modis(self) -> Path:
        return self.root / "modis"


def _world() -> Any:

    return VirtualWorld()  # the demo config has no [world] table: the default settings


def _window(epoch: int, window_years: int) -> list[int]:
    return list(_world().window_years(epoch, window_years))


def _bar(total: int, desc: str, progress: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="file", disable=not progress)


def _domain_rows_cols(bounds: tuple[float, ...], res: float) -> tuple[int, int, int, int]:
    """Rows and columns of a global -180/90 lattice at ``res`` covering ``bounds``."""
    w, s, e, n = bounds
    return (
        round((90 - n) / res),
        round((90 - s) / res),
        round((w + 180) / res),
        round((e + 180) / res),
    )


def _write_global(path: Path, rows: Iterable[tuple[int, np.ndarray]], dtype: str, nodata: float,
                  res: float, predictor: int) -> None:  # fmt: skip
    """A global lat/lon GeoTIFF (sparse: only the given full-width row chunks are stored)."""

    width, height = round(360 / res), round(180 / res)
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", width=width, height=height, count=1, dtype=dtype, crs="EPSG:4326",
            transform=from_origin(-180, 90, res, res), nodata=nodata, predictor=predictor, **GTIFF,
        ) as ds:  # fmt: skip
            for r0, block in rows:
                ds.write(block, 1, window=((r0, r0 + block.shape[0]), (0, width)))


def _chunks(bounds: tuple[float, ...], res: float, rows_per_chunk: int) -> list[tuple[int, int]]:
    r0, r1, _, _ = _domain_rows_cols(bounds, res)
    return [(a, min(a + rows_per_chunk, r1)) for a in range(r0, r1, rows_per_chunk)]


def _monthly(world: Any, bounds: tuple[float, ...], res: float, year: int,
             rows: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, int, int]:  # fmt: skip
    """The virtual world's monthly t, p ``(12, row, col)`` at the lattice centres of a row chunk."""
    _, _, c0, c1 = _domain_rows_cols(bounds, res)
    lon = -180 + (np.arange(c0, c1) + 0.5) * res
    lat = 90 - (np.arange(*rows) + 0.5) * res
    lon2, lat2 = np.meshgrid(lon, lat)
    t, p = world.monthly_at(lon2.ravel(), lat2.ravel(), [year])
    shape = (12, rows[1] - rows[0], c1 - c0)
    return t[0].reshape(shape), p[0].reshape(shape), c0, c1


def _wc_member(var: str, year: int, month: int) -> str:
    return f"wc2.1_cruts4.09_2.5m_{var}_{year}-{month:02d}.tif"


def generate_worldclim(folder: Path, bounds: tuple[float, ...], years: list[int],
                       progress: bool = False) -> list[Path]:  # fmt: skip
    """The decade zips holding ``years`` (only those years inside), values of the virtual world."""

    world = _world()
    periods = {p: [y for y in years if decade_periods([y]) == [p]] for p in decade_periods(years)}
    zips = {
        (v, p): folder / monthly_zip_name(v, p) for v in ("tmin", "tmax", "prec") for p in periods
    }
    staging = folder / "staging"
    todo = [
        y for y in years if any(not z.is_file() for (_, p), z in zips.items() if y in periods[p])
    ]
    bar = _bar(36 * len(todo), "WorldClim 2.5m monthly", progress)
    for year in todo:
        names = {(v, m): staging / _wc_member(v, year, m) for v in ("tmin", "tmax", "prec")
                 for m in range(1, 13)}  # fmt: skip
        if all(p.is_file() for p in names.values()):
            bar.update(36)
            continue
        chunks = [(*_monthly(world, bounds, WC_RES, year, rows), rows[0])
                  for rows in _chunks(bounds, WC_RES, 256)]  # fmt: skip
        for (var, month), path in names.items():
            if not path.is_file():
                _write_global(path, _wc_rows(chunks, var, month), "float32",
                              float(WC_NODATA), WC_RES, 3)  # fmt: skip
            bar.update(1)
    bar.close()
    for (var, period), zpath in zips.items():
        if zpath.is_file():
            continue
        with atomic_path(zpath) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:  # fmt: skip
            for y in periods[period]:
                for m in range(1, 13):
                    zf.write(staging / _wc_member(var, y, m), _wc_member(var, y, m))
    shutil.rmtree(staging, ignore_errors=True)
    return sorted(zips.values())


def _wc_rows(chunks: list[tuple[np.ndarray, np.ndarray, int, int, int]], var: str,
             month: int) -> Iterable[tuple[int, np.ndarray]]:  # fmt: skip
    for t, p, c0, c1, r0 in chunks:
        block = np.full((t.shape[1], round(360 / WC_RES)), WC_NODATA, np.float32)
        value = {"tmin": t[month - 1] - WC_HALF_RANGE, "tmax": t[month - 1] + WC_HALF_RANGE,
                 "prec": p[month - 1]}[var]  # fmt: skip
        block[:, c0:c1] = value
        yield r0, block


def copdem_columns(lat: int) -> int:
    """Columns of a GLO-90 tile whose southern edge is at ``lat`` (rows are always 1200)."""
    a = abs(lat + 0.5)
    for limit, cols in ((50, 1200), (60, 800), (70, 600), (80, 400), (85, 240)):
        if a < limit:
            return cols
    return 120


def generate_copdem(folder: Path, block: tuple[float, ...], progress: bool = False) -> list[Path]:
    """GLO-90 COG tiles of the 1° cells of ``block``, elevation of the virtual world (m)."""

    w, s, e, n = (int(v) for v in block)
    cells = [(la, lo) for la in range(s, n) for lo in range(w, e)]
    out = []
    for la, lo in tqdm(cells, desc="Copernicus DEM GLO-90", unit="tile", disable=not progress):
        name = tile_name(la, lo, 30)
        path = folder / name / f"{name}.tif"
        out.append(path)
        if path.is_file():
            continue
        cols = copdem_columns(la)
        lon = lo + (np.arange(cols) + 0.5) / cols
        lat = la + 1 - (np.arange(1200) + 0.5) / 1200
        lon2, lat2 = np.meshgrid(lon, lat)
        z = layers.elevation_m(lon2, lat2).astype(np.float32)
        profile = {"driver": "MEM", "width": cols, "height": 1200, "count": 1,
                   "dtype": "float32", "crs": "EPSG:4326",
                   "transform": from_origin(lo, la + 1, 1 / cols, 1 / 1200)}  # fmt: skip
        with MemoryFile() as mem, mem.open(**profile) as ds, atomic_path(path) as tmp:
            ds.write(z, 1)
            rio_copy(ds, tmp, driver="COG", compress="deflate", predictor="yes", blocksize=1024)
    return out


def _sg_lonlat(x0: float, y0: float, size: int, step: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of a sub-tile's pixel centres: exact on a lattice every ``step`` pixels, bilinear
    between (the projection is smooth at 2 km), exact where the lattice leaves the projection."""
    to_ll = Transformer.from_crs(HOMOLOSINE, "EPSG:4326", always_xy=True)
    lattice = np.arange(0, size + step, step)
    xs = x0 + (lattice + 0.5) * SG_RES
    ys = y0 - (lattice + 0.5) * SG_RES
    gx, gy = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        lon_l, lat_l = (np.asarray(v, np.float64) for v in to_ll.transform(gx, gy, errcheck=False))
    lon_l[~np.isfinite(lon_l) | (np.abs(lon_l) > 180)] = np.nan
    lat_l[np.isnan(lon_l)] = np.nan
    idx = np.arange(size)
    i0, f = idx // step, (idx % step / step)[None, :]

    def interp(a: np.ndarray) -> np.ndarray:
        cols = a[:, i0] * (1 - f) + a[:, i0 + 1] * f
        return cols[i0, :] * (1 - f.T) + cols[i0 + 1, :] * f.T

    lon, lat = interp(lon_l), interp(lat_l)
    bad = np.isnan(lon)
    if bad.any():
        r, c = np.nonzero(bad)
        with np.errstate(all="ignore"):
            bx, by = to_ll.transform(
                x0 + (c + 0.5) * SG_RES, y0 - (r + 0.5) * SG_RES, errcheck=False
            )
        lon[bad], lat[bad] = bx, by
    return lon, lat


def generate_soilgrids(vrt: Path, bounds: tuple[float, ...], progress: bool = False) -> Path:
    """SoilGrids clay 0-5 cm mean: Homolosine int16 g/kg sub-tiles under ``bounds`` and the VRT."""
    from xml.sax.saxutils import escape

    folder = vrt.parent
    xw, ys, xe, yn = transform_bounds("EPSG:4326", HOMOLOSINE, *bounds, densify_pts=201)
    c0 = max(int((xw - SG_ORIGIN[0]) // (SG_RES * SG_SUBTILE)), 0)
    c1 = math.ceil((xe - SG_ORIGIN[0]) / (SG_RES * SG_SUBTILE))
    r0 = max(int((SG_ORIGIN[1] - yn) // (SG_RES * SG_SUBTILE)), 0)
    r1 = math.ceil((SG_ORIGIN[1] - ys) / (SG_RES * SG_SUBTILE))
    w, s, e, n = bounds
    sources = []
    cells = [(r, c) for r in range(r0, r1) for c in range(c0, c1)]
    for r, c in tqdm(cells, desc="SoilGrids clay 250 m", unit="tile", disable=not progress):
        tile = f"tileSG-{r // 2:03d}-{c // 2:03d}"
        rel = f"clay_0-5cm_mean/{tile}/{tile}_{r % 2 + 1}-{c % 2 + 1}.tif"
        path, empty = folder / rel, folder / (rel + ".empty")
        x0 = SG_ORIGIN[0] + c * SG_SUBTILE * SG_RES
        y0 = SG_ORIGIN[1] - r * SG_SUBTILE * SG_RES
        nx = min(SG_SUBTILE, SG_SIZE[0] - c * SG_SUBTILE)
        ny = min(SG_SUBTILE, SG_SIZE[1] - r * SG_SUBTILE)
        if empty.is_file():
            continue
        if not path.is_file():
            lon, lat = _sg_lonlat(x0, y0, SG_SUBTILE)
            lon, lat = lon[:ny, :nx], lat[:ny, :nx]
            inside = (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
            if not inside.any():
                atomic_write_text(empty, "no cell of the domain\n")  # cached: outside
                continue
            clay = np.full(lon.shape, np.nan, np.float32)
            clay[inside] = layers.soil_percent("clay", lon[inside], lat[inside])
            data = np.where(np.isfinite(clay), np.round(clay * 10), SG_NODATA).astype(np.int16)
            with atomic_path(path) as tmp, rasterio.open(
                tmp, "w", width=nx, height=ny, count=1, dtype="int16", crs=HOMOLOSINE,
                transform=from_origin(x0, y0, SG_RES, SG_RES), nodata=SG_NODATA, tiled=True,
                blockxsize=512, blockysize=512, driver="GTiff", compress="deflate", predictor=2,
            ) as ds:  # fmt: skip
                ds.write(data, 1)
        sources.append(
            f'    <ComplexSource>\n      <SourceFilename relativeToVRT="1">{rel}</SourceFilename>\n'
            f"      <SourceBand>1</SourceBand>\n"
            f'      <SrcRect xOff="0" yOff="0" xSize="{nx}" ySize="{ny}"/>\n'
            f'      <DstRect xOff="{c * SG_SUBTILE}" yOff="{r * SG_SUBTILE}" xSize="{nx}" ySize="{ny}"/>\n'
            f"      <NODATA>{SG_NODATA}</NODATA>\n    </ComplexSource>"
        )
    xml = (
        f'<VRTDataset rasterXSize="{SG_SIZE[0]}" rasterYSize="{SG_SIZE[1]}">\n'
        f"  <SRS>{escape(CRS.from_proj4(HOMOLOSINE).to_wkt())}</SRS>\n"
        f"  <GeoTransform>{SG_ORIGIN[0]}, {SG_RES}, 0.0, {SG_ORIGIN[1]}, 0.0, {-SG_RES}</GeoTransform>\n"
        f'  <VRTRasterBand dataType="Int16" band="1">\n    <NoDataValue>{SG_NODATA}</NoDataValue>\n'
        + "\n".join(sources)
        + "\n  </VRTRasterBand>\n</VRTDataset>\n"
    )
    atomic_write_text(vrt, xml)
    return vrt


def modis_cover(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Monthly snow cover (uint8 percent) of one year from its monthly t, p ``(12, ...)``: the
    degree-day snow share of each month scaled by the year's snowfall, as
    :func:`permamap.covariates.factors.snow_cover_days` reckons it."""
    share = 1.0 / (1.0 + np.exp(np.clip(t / 1.5, -50, 50)))
    swe = (p * share).sum(axis=0)
    return np.round(100 * share * (1.0 - np.exp(-swe / 40.0))).astype(np.uint8)


def generate_modis(folder: Path, bounds: tuple[float, ...], years: list[int],
                   progress: bool = False) -> list[Path]:  # fmt: skip
    """MOD10CM monthly GeoTIFFs (0.05° CMG, global, 255 outside the domain) for ``years``."""
    world = _world()
    out: list[Path] = []
    bar = _bar(12 * len(years), "MODIS MOD10CM monthly", progress)
    for year in years:
        paths = {}
        for m in range(1, 13):
            paths[m] = folder / f"MOD10CM.A{year}{_doy(year, m):03d}.061.{MODIS_PRODUCTION}.tif"
        out += paths.values()
        if all(p.is_file() for p in paths.values()):
            bar.update(12)
            continue
        chunks = [(*_monthly(world, bounds, CMG_RES, year, rows), rows[0])
                  for rows in _chunks(bounds, CMG_RES, 256)]  # fmt: skip
        covers = [(modis_cover(t, p), c0, c1, r0) for t, p, c0, c1, r0 in chunks]
        for m, path in paths.items():
            if not path.is_file():
                _write_global(path, _modis_rows(covers, m), "uint8", MODIS_FILL, CMG_RES, 2)
            bar.update(1)
    bar.close()
    return out


def _doy(year: int, month: int) -> int:
    return sum(calendar.monthrange(year, m)[1] for m in range(1, month)) + 1


def _modis_rows(covers: list[tuple[np.ndarray, int, int, int]], month: int) -> Iterable[tuple[int, np.ndarray]]:  # fmt: skip
    for cover, c0, c1, r0 in covers:
        block = np.full((cover.shape[1], round(360 / CMG_RES)), MODIS_FILL, np.uint8)
        block[:, c0:c1] = cover[month - 1]
        yield r0, block


def generate(
    root: Path,
    bounds: tuple[float, float, float, float] = EURASIA,
    dem_block: tuple[float, float, float, float] = DEM_BLOCK,
    epoch: int = EPOCH,
    window_years: int = WINDOW_YEARS,
    progress: bool = False,
) -> Layout:
    """Write (or reuse) the four products under ``root`` for ``bounds`` and the epoch's window.

    Raises
    ------
    ValueError
        ``root`` holds files generated for another extent, epoch or window (delete it first).
    """

    layout = Layout(Path(root))
    spec = {"bounds": list(bounds), "dem_block": list(dem_block), "epoch": epoch,
            "window_years": window_years}  # fmt: skip
    stamp = layout.root / "real-layout.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != spec:
        raise ValueError(
            f"{layout.root} holds real-layout files for {stamp.read_text().strip()}, not {spec}; "
            "delete the folder or choose another one"
        )
    write_json(stamp, spec)
    years = _window(epoch, window_years)
    generate_worldclim(layout.worldclim, bounds, years, progress)
    generate_copdem(layout.copdem, dem_block, progress)
    generate_soilgrids(layout.soilgrids_vrt, bounds, progress)
    generate_modis(layout.modis, bounds, years, progress)
    return layout


READERS = ("worldclim", "soilgrids", "modis", "copdem")


def read_tiles(
    kind: str,
    root: str,
    bounds: tuple[float, float, float, float],
    epoch: int = EPOCH,
    window_years: int = WINDOW_YEARS,
    tile_shape: tuple[int, int] = (512, 512),
    max_tiles: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """One reader's layer for the epoch on the 30" grid of ``bounds``, tile by tile as the stack
    writer asks for it (the DEM with the one-cell halo of the terrain factors). Runs in the child
    process of :func:`benchmarks.rss.measure`; returns cells, tiles and the valid share."""

    grid = Grid.from_bounds(bounds, 1 / 120)
    lay = Layout(Path(root))
    years = _window(epoch, window_years)
    if kind == "worldclim":
        clim = WorldClimMonthly([lay.worldclim])

        def layer(w: Window) -> np.ndarray:
            return clim.monthly_means(grid, w, years)[0][0]
    elif kind == "copdem":
        dem = CopernicusDEM(lay.copdem, arcsec=30)

        def layer(w: Window) -> np.ndarray:
            halo = Window(w.col_off - 1, w.row_off - 1, w.width + 2, w.height + 2)
            return dem.read(grid, halo)[1:-1, 1:-1]
    elif kind == "soilgrids":
        soil = SoilGrids(lay.soilgrids_vrt, "clay")

        def layer(w: Window) -> np.ndarray:
            return soil.read(grid, w)
    elif kind == "modis":
        snow = ModisSnow(lay.modis, "MOD10CM")

        def layer(w: Window) -> np.ndarray:
            return snow.snow_days(grid, w, years)
    else:
        raise ValueError(f"reader {kind!r} is not one of {READERS}")
    tiles = list(grid.tiles(tile_shape))[:max_tiles]
    cells = valid = 0
    for w in tqdm(tiles, desc=kind, unit="tile", disable=not progress):
        out = layer(w)
        cells += out.size
        valid += int(np.isfinite(out).sum())
    return {"cells": cells, "tiles": len(tiles), "valid_fraction": round(valid / max(cells, 1), 3)}


def real_config(layout: Layout) -> dict[str, Any]:
    """The ``[covariates.real]`` table that reads the generated products."""
    return {
        "climate": {"type": "worldclim", "folders": [str(layout.worldclim)]},
        "elevation": {"type": "copdem", "folder": str(layout.copdem), "arcsec": 30},
        "soil": {"clay": {"type": "soilgrids", "path": str(layout.soilgrids_vrt)}},
        "snow": {"type": "modis", "folder": str(layout.modis), "product": "MOD10CM"},
    }


def build_combined(
    root: str, bounds: tuple[float, float, float, float], epoch: int, out: str,
    window_years: int = WINDOW_YEARS, progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The whole ``sources_from_config`` stack on the 30" grid of ``bounds`` (child process)."""

    grid = Grid.from_bounds(bounds, 1 / 120)
    base = Path(root).resolve()  # the table's paths are absolute: nothing resolves twice
    src = sources_from_config(real_config(Layout(base)), base)
    path = build_stack(src, grid, epoch, Path(out), window_years=window_years, progress=progress)
    return {"cells": grid.height * grid.width, "factors": len(src.factor_names),
            "file_mb": round(path.stat().st_size / 1e6, 1)}  # fmt: skip


def _figures(result: dict[str, Any], seconds: float, peak_mb: float) -> dict[str, Any]:
    return {**result, "seconds": round(seconds, 2),
            "mcells_per_s": round(result["cells"] / seconds / 1e6, 3),
            "peak_rss_mb": peak_mb}  # fmt: skip


def _folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def run(
    quick: bool = False,
    out_dir: Path = Path("out/bench"),
    readers: Iterable[str] = READERS,
    combined: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate (or reuse) the real-layout files and measure each reader; return the figures.

    ``quick``: a 4° × 2° extent and a 2° × 2° DEM block (about a minute); otherwise the whole
    domain (25–84 °N × 25–180 °E, 7,080 × 18,600 cells) and the 20° × 20° DEM block.
    Each reader runs in a fresh process: ``seconds``, ``mcells_per_s`` and ``peak_rss_mb`` are
    that reader's own.
    """
    import os
    import time

    bounds, block = (QUICK_BOUNDS, QUICK_DEM_BLOCK) if quick else (EURASIA, DEM_BLOCK)
    root = Path(out_dir) / ("real-layout-quick" if quick else "real-layout")
    t0 = time.perf_counter()
    layout = generate(root, bounds, block, progress=progress)
    figures: dict[str, Any] = {
        "epoch": EPOCH, "window_years": WINDOW_YEARS, "bounds": list(bounds),
        "dem_block": list(block), "generate_seconds": round(time.perf_counter() - t0, 1),
        "files_mb": {k: _folder_mb(getattr(layout, k) if k != "soilgrids" else
                                   layout.soilgrids_vrt.parent.parent)
                     for k in ("worldclim", "copdem", "soilgrids", "modis")},
        "load_before": [round(v, 2) for v in os.getloadavg()], "readers": {},
    }  # fmt: skip
    for kind in readers:
        area = block if kind == "copdem" else bounds
        result, seconds, peak = measure(read_tiles, kind, str(root), area, progress=progress)
        figures["readers"][kind] = _figures(result, seconds, peak)
    if combined:
        out = root / f"stack_{EPOCH}_block.tif"
        result, seconds, peak = measure(
            build_combined, str(root), block, EPOCH, str(out), progress=progress
        )
        figures["combined_block"] = _figures(result, seconds, peak)
    figures["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--readers", nargs="*", default=list(READERS), choices=READERS)
    parser.add_argument("--no-combined", action="store_true")
    args = parser.parse_args(argv)
    figures = run(args.quick, args.out, args.readers, combined=not args.no_combined)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
