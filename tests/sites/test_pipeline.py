"""The stage end to end: files → readers → stations → build_sites → write_sites → summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from permamap.errors import InputFileError
from permamap.sites import (
    build_sites,
    read_ghcnm,
    read_table,
    stations_nonpermafrost,
    summarize,
    write_ghcnm,
    write_sites,
)


def _stations(tmp_path):
    ids = ["RSM00030001", "RSM00030002", "RSM00030003", "RSM00030004"]
    inventory = pd.DataFrame(
        {
            "station_id": ids,
            "lat": [52.5, 62.5, 49.5, 47.5],
            "lon": [60.5, 120.5, 85.5, 100.5],
            "elev_m": 100.0,
            "name": ["WARM", "COLD", "MILD", "SEA"],
        }
    )
    years = np.arange(1994, 2013)
    rows = []
    for sid, t in zip(ids, [4.0, -9.0, 2.5, 5.0], strict=True):
        for y in years:
            for m in range(1, 13):
                rows.append((sid, int(y), m, t + 10 * np.cos(2 * np.pi * (m - 7) / 12)))
    monthly = pd.DataFrame(rows, columns=["station_id", "year", "month", "value_c"])
    monthly["value_c"] = monthly["value_c"].round(2)
    return write_ghcnm(inventory, monthly, tmp_path / "ghcnm.inv", tmp_path / "ghcnm.dat")


def test_stage_end_to_end(tmp_path, grid, is_land, maat):
    lit = tmp_path / "literature.csv"
    lit.write_text("id,lat,lon,permafrost\nL1,66.5,110.5,1\nL2,49.5,85.6,1\nL3,42.5,75.5,1\n")
    raw_lit = read_table(lit, {"source_id": "id", "label": "permafrost"}, kind="literature")
    inventory, monthly = read_ghcnm(*_stations(tmp_path))
    raw_st = stations_nonpermafrost(inventory, monthly, [2000, 2010])
    # the cold station (MAAT about -9 °C) never becomes a non-permafrost point
    assert sorted(set(raw_st["source_id"])) == ["RSM00030001", "RSM00030003", "RSM00030004"]
    sea = lambda lon, lat: is_land(lon, lat) & ~((lon > 100) & (lon < 101) & (lat < 48))  # noqa: E731
    sites, report = build_sites(
        pd.concat([raw_lit, raw_st], ignore_index=True), grid, [2000, 2010], is_land=sea, maat=maat
    )
    out = tmp_path / "out" / "sites"
    paths = write_sites(sites, report, out / "sites.parquet", out / "qc_report.csv")
    assert paths["sites"].is_file() and paths["qc_report"].is_file()
    rules = dict(zip(report["source_id"] + "@" + report["rule"], report["action"], strict=True))
    # L2 (permafrost) shares a cell with the MILD station (non-permafrost): conflict, both dropped
    assert (
        rules["L2@duplicate_conflict"] == "dropped"
        and rules["RSM00030003@duplicate_conflict"] == "dropped"
    )
    assert rules["RSM00030004@in_sea"] == "dropped"
    assert rules["L3@climate_contradiction"] == "dropped"  # MAAT 25 - 0.5*42.5 = +3.75 °C
    table = summarize(sites, report)
    assert table.loc["ghcn", "kept"] == 2 and table.loc["total", "kept"] == len(sites)


def test_bad_input_writes_nothing(tmp_path, grid):
    out = tmp_path / "out"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lat,lon,pf\nA,60,100,1\n")
    with pytest.raises(InputFileError, match="no column 'label_pf'"):
        raw = read_table(bad, {"label": "label_pf"})
        write_sites(*build_sites(raw, grid, [2000]), out / "sites.parquet", out / "qc_report.csv")
    assert not out.exists()
