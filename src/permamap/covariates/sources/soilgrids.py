"""SoilGrids 2.0 (ISRIC): 250 m soil properties in the Interrupted Goode Homolosine projection.

Layout at ``https://files.isric.org/soilgrids/latest/data/``: one folder per property, a VRT per
layer named ``<property>_<depth>_<statistic>.vrt`` (e.g. ``clay/clay_0-5cm_mean.vrt``) that points
(relative paths) to GeoTIFF tiles ``clay_0-5cm_mean/tileSG-XXX-YYY/tileSG-XXX-YYY_i-j.tif``. Depth
intervals ``0-5cm, 5-15cm, 15-30cm, 30-60cm, 60-100cm, 100-200cm``; statistics ``mean, Q0.05,
Q0.5, Q0.95, uncertainty``. Values are int16 in "mapped units" (nodata −32768); conventional
units are the mapped value divided by a factor: clay, sand and silt are g/kg (÷ 10 → %), soc is
dg/kg (÷ 100 → %), bdod cg/cm³, nitrogen cg/kg, phh2o pH·10, cfvo cm³/dm³.

:func:`download_soilgrids` fetches the VRT and only the tiles that intersect the grid; the local
VRT then reads like the remote one. :class:`SoilGrids` averages the 250 m cells onto the grid.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from permamap.covariates.align import SourceLayer, read_aligned
from permamap.covariates.download import default_cache_dir, download
from permamap.covariates.sources.checks import (
    check_layer,
    check_not_truncated,
    coverage_note,
    mosaic_cache,
    open_header,
    reading,
)
from permamap.errors import ConfigError, InputFileError
from permamap.grid import Grid

__all__ = [
    "DEPTHS",
    "HOMOLOSINE",
    "MAPPED_UNITS",
    "SOILGRIDS_BASE",
    "SoilGrids",
    "download_soilgrids",
    "layer_name",
    "vrt_url",
]

log = logging.getLogger(__name__)

SOILGRIDS_BASE = "https://files.isric.org/soilgrids/latest/data"
HOMOLOSINE = "+proj=igh +lat_0=0 +lon_0=0 +datum=WGS84 +units=m +no_defs"
DEPTHS = ("0-5cm", "5-15cm", "15-30cm", "30-60cm", "60-100cm", "100-200cm")
STATS = ("mean", "Q0.05", "Q0.5", "Q0.95", "uncertainty")
# property -> (mapped unit, divisor to percent or conventional unit, conventional unit)
MAPPED_UNITS: dict[str, tuple[str, float, str]] = {
    "clay": ("g/kg", 10.0, "percent"),
    "sand": ("g/kg", 10.0, "percent"),
    "silt": ("g/kg", 10.0, "percent"),
    "soc": ("dg/kg", 100.0, "percent"),
    "cfvo": ("cm3/dm3", 10.0, "percent"),
    "bdod": ("cg/cm3", 100.0, "kg/dm3"),
    "nitrogen": ("cg/kg", 100.0, "g/kg"),
    "phh2o": ("pH*10", 10.0, "pH"),
    "cec": ("mmol(c)/kg", 10.0, "cmol(c)/kg"),
    "ocd": ("hg/m3", 10.0, "kg/m3"),
}
NODATA = -32768


def layer_name(prop: str, depth: str = "0-5cm", stat: str = "mean") -> str:
    """``clay_0-5cm_mean``; an error names the allowed values.

    >>> layer_name("clay")
    'clay_0-5cm_mean'
    """
    if prop not in MAPPED_UNITS:
        raise ConfigError(f"SoilGrids property {prop!r} is not one of {sorted(MAPPED_UNITS)}")
    if depth not in DEPTHS:
        raise ConfigError(f"SoilGrids depth {depth!r} is not one of {list(DEPTHS)}")
    if stat not in STATS:
        raise ConfigError(f"SoilGrids statistic {stat!r} is not one of {list(STATS)}")
    return f"{prop}_{depth}_{stat}"


def vrt_url(prop: str, depth: str = "0-5cm", stat: str = "mean", base: str = SOILGRIDS_BASE) -> str:
    """``…/clay/clay_0-5cm_mean.vrt``."""
    return f"{base.rstrip('/')}/{prop}/{layer_name(prop, depth, stat)}.vrt"


def _vrt_sources(vrt: Path) -> tuple[list[tuple[str, tuple[float, float, float, float]]], CRS]:
    """Relative tile paths of a VRT with the bounds (in the VRT's CRS) of each."""
    try:
        root = ET.parse(vrt).getroot()
    except ET.ParseError as exc:
        raise InputFileError(
            f"{vrt} is not a valid VRT ({exc}); delete it and download it again"
        ) from exc
    srs = root.findtext("SRS")
    gt_text = root.findtext("GeoTransform")
    if not srs or not gt_text:
        raise InputFileError(f"{vrt} has no SRS or GeoTransform; it is not a SoilGrids layer VRT")
    x0, dx, _, y0, _, dy = (float(v) for v in gt_text.split(","))
    out = []
    for band in root.iter("VRTRasterBand"):
        for src in band:
            fname = src.find("SourceFilename")
            rect = src.find("DstRect")
            if fname is None or rect is None or not fname.text:
                continue
            xo, yo = float(rect.get("xOff", 0)), float(rect.get("yOff", 0))
            xs, ys = float(rect.get("xSize", 0)), float(rect.get("ySize", 0))
            west, north = x0 + xo * dx, y0 + yo * dy
            east, south = west + xs * dx, north + ys * dy
            out.append((fname.text, (west, south, east, north)))
        break  # one band is enough: SoilGrids layers have one
    return out, CRS.from_user_input(srs)


def download_soilgrids(
    prop: str,
    bounds: tuple[float, float, float, float],
    cache_dir: Path | str | None = None,
    depth: str = "0-5cm",
    stat: str = "mean",
    base: str = SOILGRIDS_BASE,
    progress: bool = False,
) -> Path:
    """Download a SoilGrids layer's VRT and the tiles intersecting ``bounds`` (lon/lat).

    Returns the local VRT, whose relative tile paths resolve inside the cache.
    """
    name = layer_name(prop, depth, stat)
    folder = (
        Path(cache_dir) if cache_dir is not None else default_cache_dir() / "soilgrids"
    ) / prop
    url = vrt_url(prop, depth, stat, base)
    vrt = download(url, folder, progress=progress)
    tiles, crs = _vrt_sources(vrt)
    w, s, e, n = transform_bounds("EPSG:4326", crs, *bounds, densify_pts=101)
    wanted = [t for t, (tw, ts, te, tn) in tiles if tw < e and te > w and ts < n and tn > s]
    log.info("SoilGrids %s: %d of %d tiles intersect %s", name, len(wanted), len(tiles), bounds)
    url_dir = url.rsplit("/", 1)[0]
    for rel in wanted:
        download(f"{url_dir}/{rel}", folder, filename=rel, progress=progress)
    return vrt


@dataclass(frozen=True)
class SoilGrids:
    """One SoilGrids 2.0 property as a static source, in its conventional unit (percent for texture).

    Parameters
    ----------
    path : path
        Local (or ``/vsicurl/``) VRT or GeoTIFF of the layer, e.g. ``clay_0-5cm_mean.vrt``.
    prop : str
        Property name (``clay``, ``sand``, ``soc`` …), which sets the unit conversion.
    coverage : {"full", "partial"}
        ``"full"``: the layer must cover the whole grid; ``"partial"``: cells outside it are
        no-data (the plan says how much of the grid it covers).
    """

    path: str | Path
    prop: str = "clay"
    coverage: Literal["full", "partial"] = "full"

    def __post_init__(self) -> None:
        if self.prop not in MAPPED_UNITS:
            raise ConfigError(
                f"SoilGrids property {self.prop!r} is not one of {sorted(MAPPED_UNITS)}"
            )
        p = str(self.path)
        if not p.startswith("/vsi") and not os.path.exists(p):
            raise InputFileError(
                f"SoilGrids layer {p} does not exist; download it with download_soilgrids"
                f"({self.prop!r}, bounds) or fix the path"
            )
        with open_header(p, f"SoilGrids layer {p}") as ds:
            if ds.crs is None:
                raise InputFileError(
                    f"{p} has no CRS; SoilGrids layers are in Homolosine ({HOMOLOSINE})"
                )
            if ds.dtypes[0] not in ("int16", "uint16", "int32") and ds.dtypes[0] != "float32":
                log.warning("%s has data type %s; SoilGrids layers are int16", p, ds.dtypes[0])

    @property
    def name(self) -> str:
        return f"SoilGrids 2.0 {Path(str(self.path)).stem} ({MAPPED_UNITS[self.prop][0]} / {MAPPED_UNITS[self.prop][1]:g})"

    @property
    def unit(self) -> str:
        return MAPPED_UNITS[self.prop][2]

    def _layer(self) -> SourceLayer:
        return SourceLayer(
            str(self.path), nodata=NODATA, name=f"SoilGrids {self.prop}", coverage=self.coverage
        )

    def check(self, grid: Grid, epochs: Sequence[int] = (), window_years: int = 9) -> list[str]:
        """Header-level check: the layer opens and covers the grid, and (for a local VRT) every
        tile under the grid is present, opens and is not cut short. Returns a note for the plan.

        Raises
        ------
        InputFileError, GridMismatchError
            The first problem, in one line.
        """
        lay = self._layer()
        head = check_layer(lay, grid)
        path = Path(str(self.path))
        n_tiles = 0
        if path.suffix.lower() == ".vrt" and path.is_file():
            tiles, crs = _vrt_sources(path)
            w, s, e, n = transform_bounds(grid.crs, crs, *grid.bounds, densify_pts=21)
            for rel, (tw, ts, te, tn) in tiles:
                if not (tw < e and te > w and ts < n and tn > s):
                    continue
                tile = Path(rel) if Path(rel).is_absolute() else path.parent / rel
                if not tile.is_file():
                    raise InputFileError(
                        f"SoilGrids tile {tile} (of {path.name}) is needed for the grid but is "
                        f"missing; run download_soilgrids({self.prop!r}, bounds) for the grid's "
                        "bounds, or fix the folder"
                    )
                with open_header(str(tile), f"SoilGrids tile {tile}") as ds:
                    check_not_truncated(ds, str(tile), f"SoilGrids tile {tile}")
                n_tiles += 1
        tiles_note = f", {n_tiles} tiles under the grid" if n_tiles else ""
        return [f"{self.name}{tiles_note}{coverage_note(head.fraction)}"]

    def read(self, grid: Grid, window: Window) -> np.ndarray:
        """The property on the window: block average of the 250 m cells, divided into its unit."""
        divisor = MAPPED_UNITS[self.prop][1]
        lay = self._layer()
        with reading(lay.label), mosaic_cache():
            return read_aligned(lay, grid, window) / np.float32(divisor)
