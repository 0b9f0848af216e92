"""``[projections]`` with real sources: every key is required, `method` too."""

from __future__ import annotations

from pathlib import Path

import pytest

from permamap.errors import ConfigError
from permamap.projections import parse_projections

TABLE = {
    "scenarios": ["ssp585"],
    "periods": ["2081-2100"],
    "gcms": ["MIROC6"],
    "baseline_epoch": 2020,
    "source": {"type": "worldclim-cmip6", "folder": ".", "res": "10m"},
}


def test_real_sources_must_say_how_the_future_files_are_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'lacks `method`: .*"downscaled" .* or "delta"'):
        parse_projections(TABLE, "[projections]", tmp_path, (2000, 2020), "real")
    got = parse_projections(
        {**TABLE, "method": "downscaled"}, "[projections]", tmp_path, (2000, 2020), "real"
    )
    assert got is not None and got.method == "downscaled" and got.gcms == ("MIROC6",)


def test_the_virtual_world_needs_no_method(tmp_path: Path) -> None:
    table = {k: v for k, v in TABLE.items() if k != "source"} | {"gcms": ["ve-pine"]}
    got = parse_projections(table, "[projections]", tmp_path, (2000, 2020), "demo")
    assert got is not None and got.method == "downscaled"
