"""The "VIRTUAL DATA" banner: from summary.json's ``virtual_world``, else the maps' tag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from permamap.layout import RunLayout
from permamap.report.page import Page, render

BANNER = "VIRTUAL DATA — demonstration world"


def _run(tmp_path: Path, summary: dict | None, tag: str | None) -> Path:
    """A run folder with one 4 × 4 map (tagged ``virtual_world=tag`` if given) and a summary."""
    lay = RunLayout(tmp_path)
    lay.map(2020).parent.mkdir(parents=True)
    with rasterio.open(
        lay.map(2020),
        "w",
        driver="GTiff",
        dtype="uint8",
        count=1,
        height=4,
        width=4,
        crs="EPSG:4326",
        transform=from_origin(0, 4, 1, 1),
    ) as dst:
        dst.write(np.ones((1, 4, 4), dtype=np.uint8))
        if tag is not None:
            dst.update_tags(virtual_world=tag)
    if summary is not None:
        lay.summary.write_text(json.dumps({"epochs": [2020], **summary}))
    return tmp_path


def _page(run: Path) -> str:
    return render(Page(RunLayout(run), "none", 60), "now")


@pytest.mark.parametrize(
    ("summary", "tag", "shown"),
    [
        ({"virtual_world": True}, None, True),
        ({"virtual_world": False}, None, False),
        ({"virtual_world": False}, "true", False),  # the summary says, the tag is not asked
        ({}, "true", True),  # an older summary: the map's tag
        ({}, "TRUE", True),
        ({}, "false", False),
        ({}, None, False),
        (None, "true", True),  # no summary at all: every map found
    ],
)
def test_banner_follows_summary_then_map_tag(
    tmp_path: Path, summary: dict | None, tag: str | None, shown: bool
) -> None:
    text = _page(_run(tmp_path, summary, tag))
    assert (BANNER in text) is shown
    assert ('id="virtual-banner"' in text) is shown


def test_banner_comes_before_the_header(tmp_path: Path) -> None:
    text = _page(_run(tmp_path, {"virtual_world": True}, None))
    assert text.index(BANNER) < text.index("<header>") < text.index("<main>")
