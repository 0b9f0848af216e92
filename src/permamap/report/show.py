"""``permamap show FILE.tif``: a quick PNG of any permamap raster (map, change map, stack).

The band is read decimated (from the COG's overviews), so showing a continental map takes
seconds. Colours follow the band: classes and change codes get a legend, percent bands a 0–100
colour bar, anything else a 2–98 % stretch whose colour bar names the band and its unit (a stack
band's unit comes from the band itself, its ``unit`` tag, or ``factors.csv`` beside the stack).
"""

from __future__ import annotations

import logging
from pathlib import Path

from matplotlib.figure import Figure

from .. import fileio
from .figures import figure_to_png, raster_figure, read_raster_view

__all__ = ["show", "show_figure"]

logger = logging.getLogger(__name__)


def show(
    tif: Path,
    png: Path | None = None,
    band: int | str = 1,
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
        Output path; ``<tif stem>.png`` (``<stem>_b<band>.png`` for bands other than 1,
        ``<stem>_<name>.png`` for a band given by name) next to the input by default.
    band : int or str
        1-based band to show (maps: 1 class, 2 probability, …), or a band description
        (``"probability"``, a stack's factor name such as ``"maat"``).
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
        suffix = "" if band == 1 else f"_b{band}" if isinstance(band, int) else f"_{band}"
        png = tif.with_name(f"{tif.stem}{suffix}.png")
    png = Path(png)
    fig = show_figure(tif, band, max_pixels=max_pixels, coastlines=coastlines)
    fileio.atomic_write_bytes(png, figure_to_png(fig, dpi=dpi))  # creates the parent folder
    logger.info("wrote %s (band %s of %s)", png, band, tif)
    return png


def show_figure(
    tif: Path,
    band: int | str = 1,
    *,
    max_pixels: int = 1600,
    coastlines: str = "land-mask",
) -> Figure:
    """The figure :func:`show` writes: one band, decimated, titled with the file, band and epoch.

    Classes and change codes get a legend; values a colour bar labelled with the band's
    quantity and unit (:func:`permamap.report.figures.value_label`), e.g. ``maat (degC)``.

    Raises
    ------
    InputFileError
        As :func:`show`.
    """
    tif = Path(tif)
    view = read_raster_view(tif, band, max_pixels=max_pixels)
    epoch = view.tags.get("epoch")
    label = (view.description or f"band {view.band}").split(" (")[0]  # codes are in the legend
    if view.unit:
        label += f" ({view.unit})"
    title = f"{tif.name} — {label}" + (f" — epoch {epoch}" if epoch else "")
    logger.debug("showing band %d of %s, decimated %d×", view.band, tif, view.decimation)
    return raster_figure(view, title, coastlines=coastlines)
