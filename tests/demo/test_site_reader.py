"""The virtual world's site reader: the same raw table and files as writing and reading GHCN-M."""

from __future__ import annotations

import pandas as pd
import pytest

from permamap.demo import sites as demo_sites
from permamap.demo.site_reader import (
    BOREHOLES_FILE,
    GHCNM_DAT_FILE,
    GHCNM_INV_FILE,
    PLANTED_FILE,
)
from permamap.demo.sites import sample_sites
from permamap.demo.world import VirtualWorld, WorldSettings
from permamap.grid import Grid
from permamap.sites import (
    SiteReadContext,
    read_ghcnm,
    read_site_inputs,
    stations_nonpermafrost,
    write_ghcnm,
)

EPOCHS = (2000, 2010)


@pytest.fixture(scope="module")
def world() -> VirtualWorld:
    return VirtualWorld(WorldSettings(first_year=1995, last_year=2015))


def test_the_demo_input_equals_sampling_writing_and_reading_the_files(
    world, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(demo_sites, "N_STATIONS", 60)  # fewer GHCN lines to write and parse
    grid = Grid.from_bounds((100, 45, 140, 72), res=0.5)
    context = SiteReadContext(
        base_dir=tmp_path, grid=grid, epochs=EPOCHS, window_years=9, random_state=3, world=world
    )
    got = read_site_inputs([{"type": "demo", "seed_offset": 2}], context)

    demo = sample_sites(world, grid, list(EPOCHS), random_state=5)
    inv, dat = write_ghcnm(demo.stations, demo.station_monthly, tmp_path / "i", tmp_path / "d")
    stations = stations_nonpermafrost(*read_ghcnm(inv, dat), list(EPOCHS), window=9)
    expected = pd.concat([demo.boreholes, stations], ignore_index=True)

    pd.testing.assert_frame_equal(got.raw, expected)
    assert list(got.rendered) == [GHCNM_INV_FILE, GHCNM_DAT_FILE, BOREHOLES_FILE, PLANTED_FILE]
    assert got.rendered[GHCNM_INV_FILE] == inv.read_bytes()
    assert got.rendered[GHCNM_DAT_FILE] == dat.read_bytes()
    pd.testing.assert_frame_equal(got.rendered[BOREHOLES_FILE], demo.boreholes)
    pd.testing.assert_frame_equal(got.rendered[PLANTED_FILE], demo.planted)
    assert (got.raw["kind"] == "station").sum() == len(stations) > 0
