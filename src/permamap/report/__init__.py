"""The visual report: ``report.html`` for a run folder and quick PNGs of any output raster.

>>> from permamap.layout import RunLayout             # doctest: +SKIP
>>> from permamap.report import write_report, show  # doctest: +SKIP
>>> run = RunLayout(Path("out/demo"))                # doctest: +SKIP
>>> write_report(run)                                # doctest: +SKIP
>>> show(run.map(2020), band=2)                      # doctest: +SKIP
"""

from __future__ import annotations

from .html import headline_values, write_report
from .show import show

__all__ = ["headline_values", "show", "write_report"]
