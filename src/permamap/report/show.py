"""``permamap show FILE.tif``: a quick PNG of any permamap raster (map, change map, stack).

The band is read decimated (from the COG's overviews), so showing a continental map takes
seconds. Colours follow the band: classes and change codes get a legend, percent bands a 0–100
colour bar, anything else a 2–98 % stretch labelled with the band's unit (a stack band's unit
comes from the band itself or from ``factors.csv`` beside the stack).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import fileio
from .figures import figure_to_png, raster_figure, read_raster_view

__all__ = ["show"]

logger = logging.getLogger(__name__)


def show(
    tif: Path,
    png: Path | None = None,
    band: int = 1,
    *,
    max_pixels: int = 1600,
    coastlines: str = "land-mask",
    dpi: int = 110,
) -> Path:
    """Write a PNG picture of one band of a raster.

    Parameters
    ----------
    tif : Path
        Any GeoTIFF, typically a map or a change map of a run folder
        (:meth:`RunLayout.map <permamap.layout.RunLayout.map>`,
        :meth:`RunLayout.change_map <permamap.layout.RunLayout.change_map>`).
    png : Path, optional
        Output path; ``<tif stem>.png`` (``<stem>_b<band>.png`` for bands other than 1) next to
        the input by default.
    band : int
        1-based band to show (maps: 1 class, 2 probability, …).
    max_pixels : int
        Longest side of the decimated read.
    coastlines : {"land-mask", "data-mask", "none"}
        See :mod:`permamap.report.figures`.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    Path
        The PNG written (atomically).

    Raises
    ------
    InputFileError
        If the raster is missing, not a raster, damaged or truncated, or has no such band (one
        line naming the file).
    """
    tif = Path(tif)
    if png is None:
        png = tif.with_name(f"{tif.stem}.png" if band == 1 else f"{tif.stem}_b{band}.png")
    png = Path(png)
    view = read_raster_view(tif, band, max_pixels=max_pixels)
    epoch = view.tags.get("epoch")
    label = (view.description or f"band {band}").split(" (")[0]  # codes are in the legend
    if view.unit:
        label += f" ({view.unit})"
    title = f"{tif.name} — {label}" + (f" — epoch {epoch}" if epoch else "")
    data = figure_to_png(raster_figure(view, title, coastlines=coastlines), dpi=dpi)
    fileio.atomic_write_bytes(png, data)  # creates the parent folder
    logger.info("wrote %s (band %d of %s, decimated %d×)", png, band, tif, view.decimation)
    return png
