"""Run the change stage into a run folder the way the pipeline does: rasters streamed, tables written."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from permamap.change import change_stage
from permamap.grid import Grid
from permamap.layout import RunLayout
from permamap.stages import write_change_outputs


def run_change(maps: Mapping[int, Path], grid: Grid, run: Path, **options: Any) -> dict[str, Any]:
    """:func:`change_stage` into the run folder ``run`` (outputs in ``run/change``); the summary."""
    layout = RunLayout(run)
    result = change_stage(maps, grid, layout, **options)
    write_change_outputs(layout, result)
    return result.summary
