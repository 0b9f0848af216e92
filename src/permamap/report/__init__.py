"""The visual report: ``report.html`` for a run folder and quick PNGs of any output raster.

>>> from permamap.report import write_report, show  # doctest: +SKIP
>>> write_report(Path("out/demo"))                   # doctest: +SKIP
>>> show(Path("out/demo/maps/permafrost_2020.tif"), band=2)  # doctest: +SKIP
"""

from __future__ import annotations

from .html import headline_values, write_report
from .show import show

__all__ = ["headline_values", "show", "write_report"]
