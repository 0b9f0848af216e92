"""Copernicus DEM GLO-30 / GLO-90: 1° Cloud-Optimized GeoTIFF tiles, mosaicked through a VRT.

Tile names (AWS open data, ``copernicus-dem-30m`` and ``copernicus-dem-90m`` buckets)::

    Copernicus_DSM_COG_<arcsec>_<N|S><lat:02d>_00_<E|W><lon:03d>_00_DEM/
        Copernicus_DSM_COG_<arcsec>_<N|S><lat:02d>_00_<E|W><lon:03d>_00_DEM.tif

with ``arcsec`` 10 for GLO-30 and 30 for GLO-90, and ``lat``/``lon`` the tile's south-west corner.
Tiles are float32 heights in metres (EGM2008). Columns shrink towards the poles (e.g. GLO-30 has
3600 columns below 50°, 2400 at 50–60°, 1800 at 60–70°, 1200 at 70–80°), so the mosaic VRT is built
at the finest resolution and GDAL resamples coarser tiles into it. The ocean has no tiles: the
server answers 404, the downloader records those tiles as absent, and their cells are nodata
(the stack masks them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from permamap.covariates.align import SourceLayer, read_aligned
from permamap.covariates.download import NotFoundError, default_cache_dir, download
from permamap.covariates.sources.checks import (
    check_layer,
    check_not_truncated,
    mosaic_cache,
    open_header,
    reading,
)
from permamap.errors import ConfigError, InputFileError
from permamap.fileio import atomic_write_text
from permamap.grid import Grid

__all__ = [
    "COPDEM_BUCKETS",
    "CopernicusDEM",
    "build_mosaic_vrt",
    "download_copdem",
    "tile_name",
    "tile_url",
    "tiles_for_bounds",
]

log = logging.getLogger(__name__)

COPDEM_BUCKETS = {
    10: "https://copernicus-dem-30m.s3.amazonaws.com",
    30: "https://copernicus-dem-90m.s3.amazonaws.com",
}
ABSENT_LIST = "absent_tiles.txt"


def _check_arcsec(arcsec: int) -> None:
    if arcsec not in COPDEM_BUCKETS:
        raise ConfigError(f"Copernicus DEM arcsec {arcsec!r} must be 10 (GLO-30) or 30 (GLO-90)")


def tile_name(lat: int, lon: int, arcsec: int = 10) -> str:
    """Name of the tile whose south-west corner is at (``lat``, ``lon``).

    >>> tile_name(46, 9)
    'Copernicus_DSM_COG_10_N46_00_E009_00_DEM'
    >>> tile_name(-1, -75, arcsec=30)
    'Copernicus_DSM_COG_30_S01_00_W075_00_DEM'
    """
    _check_arcsec(arcsec)
    ns = f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}"
    ew = f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}"
    return f"Copernicus_DSM_COG_{arcsec}_{ns}_00_{ew}_00_DEM"


def tile_url(name: str, arcsec: int = 10, base: str | None = None) -> str:
    """Address of a tile: ``<bucket>/<name>/<name>.tif``."""
    _check_arcsec(arcsec)
    return f"{(base or COPDEM_BUCKETS[arcsec]).rstrip('/')}/{name}/{name}.tif"


def tiles_for_bounds(bounds: tuple[float, float, float, float], arcsec: int = 10) -> list[str]:
    """Names of the 1° tiles that intersect ``(west, south, east, north)`` in degrees.

    >>> tiles_for_bounds((9.5, 46.2, 10.5, 46.8))
    ['Copernicus_DSM_COG_10_N46_00_E009_00_DEM', 'Copernicus_DSM_COG_10_N46_00_E010_00_DEM']
    """
    west, south, east, north = bounds
    eps = 1e-9  # a window edge computed as 59.999999999 still lies on the 60° line
    lats = range(math.floor(south + eps), math.ceil(north - eps))
    lons = range(math.floor(west + eps), math.ceil(east - eps))
    return [tile_name(la, ((lo + 180) % 360) - 180, arcsec) for la in lats for lo in lons]


def download_copdem(
    bounds: tuple[float, float, float, float],
    cache_dir: Path | str | None = None,
    arcsec: int = 10,
    base: str | None = None,
    progress: bool = False,
) -> Path:
    """Download the tiles covering ``bounds`` into ``cache_dir``; return the folder.

    Tiles the server does not have (ocean) are listed in ``absent_tiles.txt`` in the folder, so
    that the reader can tell "ocean" from "not downloaded".
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / f"copdem{arcsec}"
    folder.mkdir(parents=True, exist_ok=True)
    absent_file = folder / ABSENT_LIST
    absent = set(absent_file.read_text().split()) if absent_file.is_file() else set()
    for name in tiles_for_bounds(bounds, arcsec):
        if name in absent:
            continue
        try:
            download(
                tile_url(name, arcsec, base), folder, filename=f"{name}.tif", progress=progress
            )
        except NotFoundError:
            log.info("Copernicus DEM has no tile %s (ocean)", name)
            absent.add(name)
    atomic_write_text(absent_file, "".join(f"{n}\n" for n in sorted(absent)))
    return folder


def build_mosaic_vrt(tiles: list[Path], vrt_path: Path) -> Path:
    """Write a VRT that mosaics the tiles at the finest tile resolution (atomically)."""
    if not tiles:
        raise InputFileError(f"no Copernicus DEM tiles to mosaic into {vrt_path}")
    infos = []
    for t in tiles:
        try:
            with rasterio.open(t) as ds:
                infos.append(
                    (t, ds.bounds, ds.width, ds.height, ds.res, ds.crs, ds.nodata, ds.dtypes[0])
                )
        except rasterio.errors.RasterioIOError as exc:
            raise InputFileError(
                f"Copernicus DEM tile {t} cannot be read ({exc}); delete it and download it again"
            ) from exc
    crs = infos[0][5]
    xres = min(i[4][0] for i in infos)
    yres = min(i[4][1] for i in infos)
    west = min(i[1].left for i in infos)
    north = max(i[1].top for i in infos)
    east = max(i[1].right for i in infos)
    south = min(i[1].bottom for i in infos)
    width = round((east - west) / xres)
    height = round((north - south) / yres)
    nodata = infos[0][6] if infos[0][6] is not None else -32767.0
    sources = []
    for path, b, w, h, _, tcrs, _, _ in infos:
        if tcrs != crs:
            raise InputFileError(f"{path} has CRS {tcrs}, the other tiles {crs}; mixed tile sets")
        xo, yo = (b.left - west) / xres, (north - b.top) / yres
        xs, ys = (b.right - b.left) / xres, (b.top - b.bottom) / yres
        sources.append(
            f'    <ComplexSource resampling="nearest">\n'
            f'      <SourceFilename relativeToVRT="0">{escape(str(Path(path).resolve()))}</SourceFilename>\n'
            f"      <SourceBand>1</SourceBand>\n"
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>\n'
            f'      <DstRect xOff="{xo:.6f}" yOff="{yo:.6f}" xSize="{xs:.6f}" ySize="{ys:.6f}"/>\n'
            f"      <NODATA>{nodata}</NODATA>\n"
            f"    </ComplexSource>"
        )
    xml = (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
        f"  <SRS>{escape(crs.to_wkt())}</SRS>\n"
        f"  <GeoTransform>{west!r}, {xres!r}, 0.0, {north!r}, 0.0, {-yres!r}</GeoTransform>\n"
        f'  <VRTRasterBand dataType="Float32" band="1">\n'
        f"    <NoDataValue>{nodata}</NoDataValue>\n" + "\n".join(sources) + "\n"
        "  </VRTRasterBand>\n</VRTDataset>\n"
    )
    atomic_write_text(vrt_path, xml)
    return vrt_path


@dataclass
class CopernicusDEM:
    """Elevation (m) from a folder of Copernicus DEM tiles, mosaicked lazily.

    Parameters
    ----------
    folder : path
        Folder with ``Copernicus_DSM_COG_*_DEM.tif`` tiles (any depth) and, from
        :func:`download_copdem`, ``absent_tiles.txt``.
    arcsec : int
        10 (GLO-30) or 30 (GLO-90).
    coverage : {"full", "partial"}
        ``"full"``: every tile under the grid must be present or known to be ocean;
        ``"partial"``: missing tiles leave no-data cells (the plan counts them).
    """

    folder: Path | str
    arcsec: int = 10
    unit: str = "m"
    coverage: Literal["full", "partial"] = "full"

    def __post_init__(self) -> None:
        _check_arcsec(self.arcsec)
        if self.coverage not in ("full", "partial"):
            raise ConfigError(
                f"Copernicus DEM coverage {self.coverage!r} must be 'full' or 'partial'"
            )
        root = Path(self.folder)
        self._tiles = {
            p.stem: p for p in sorted(root.rglob(f"Copernicus_DSM_COG_{self.arcsec}_*_DEM.tif"))
        }
        if not self._tiles:
            raise InputFileError(
                f"no Copernicus DEM tiles (Copernicus_DSM_COG_{self.arcsec}_*_DEM.tif) under {root}; "
                "download them with download_copdem(bounds, folder) or fix the path"
            )
        absent_file = root / ABSENT_LIST
        self._absent = set(absent_file.read_text().split()) if absent_file.is_file() else set()
        self._vrt = build_mosaic_vrt(
            list(self._tiles.values()), root / f"copdem{self.arcsec}_mosaic.vrt"
        )

    @property
    def name(self) -> str:
        glo = "GLO-30" if self.arcsec == 10 else "GLO-90"
        return f"Copernicus DEM {glo} ({len(self._tiles)} tiles, {self.folder})"

    def check_tiles(self, bounds: tuple[float, float, float, float]) -> None:
        """Raise if a tile needed for ``bounds`` is neither present nor known to be ocean."""
        missing = [
            t
            for t in tiles_for_bounds(bounds, self.arcsec)
            if t not in self._tiles and t not in self._absent
        ]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputFileError(
                f"Copernicus DEM tiles {missing[:5]}{more} are needed for {bounds} but are not in "
                f"{self.folder}; run download_copdem({bounds}, {str(self.folder)!r}) (tiles the server "
                "lacks are recorded as ocean)"
            )

    def check(self, grid: Grid, epochs: Sequence[int] = (), window_years: int = 9) -> list[str]:
        """Header-level check: the tiles under the grid are present (or known ocean), open and
        are not cut short, and the mosaic opens. Returns a note for the plan.

        Raises
        ------
        InputFileError
            A needed tile is missing (``coverage="full"``), unreadable or truncated.
        """
        lonlat = grid.bounds
        if not grid.is_geographic:
            lonlat = transform_bounds(
                CRS.from_user_input(grid.crs), "EPSG:4326", *grid.bounds, densify_pts=21
            )
        needed = tiles_for_bounds(lonlat, self.arcsec)
        if self.coverage == "full":
            self.check_tiles(lonlat)
        present = [t for t in needed if t in self._tiles]
        for name in present:
            path = str(self._tiles[name])
            with open_header(path, f"Copernicus DEM tile {path}") as ds:
                check_not_truncated(ds, path, f"Copernicus DEM tile {path}")
        check_layer(self._layer(), grid, coverage=False)
        ocean = sum(t in self._absent for t in needed if t not in self._tiles)
        missing = len(needed) - len(present) - ocean
        if not present:
            raise InputFileError(
                f"none of the {len(needed)} Copernicus DEM tiles under the grid "
                f"{tuple(round(v, 4) for v in lonlat)} is in {self.folder}; run "
                f"download_copdem({tuple(round(v, 4) for v in lonlat)}, {str(self.folder)!r})"
            )
        extra = f", {ocean} ocean tiles (no data)" if ocean else ""
        if missing:
            extra += (
                f", partial coverage: {missing} of {len(needed)} tiles missing "
                f"({100 * (len(needed) - missing) / len(needed):.0f} % of the tiles)"
            )
        return [f"{self.name}, {len(present)} tiles under the grid{extra}"]

    def _layer(self) -> SourceLayer:
        return SourceLayer(str(self._vrt), name=self.name, coverage=self.coverage)

    def read(self, grid: Grid, window: Window) -> np.ndarray:
        """Elevation on the window (block average of the DEM cells); NaN over ocean."""
        t = grid.window_transform(window)
        gw, gs, ge, gn = grid.bounds
        # the tiles under the window's part on the grid: a halo beyond the grid's edge (the
        # terrain factors' one cell) need not be covered, as read_aligned does not require it
        bounds = (
            max(t.c, gw),
            max(t.f - window.height * grid.res, gs),
            min(t.c + window.width * grid.res, ge),
            min(t.f, gn),
        )
        if grid.is_geographic and self.coverage == "full":
            self.check_tiles(bounds)
        lay = self._layer()
        with reading(lay.label), mosaic_cache():
            return read_aligned(lay, grid, window, check=False)
