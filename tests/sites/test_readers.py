"""Readers: real layouts in tiny fixtures, exact GHCN round trips, clear errors on bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from permamap.errors import ConfigError, DataError, InputFileError
from permamap.sites import read_ghcnm, read_gtnp, read_permos, read_table, write_ghcnm

# GHCN-M v4, columns 1-based: .inv ID 1-11, LATITUDE 13-20, LONGITUDE 22-30, STNELEV 32-37,
# NAME 39-68; .dat ID 1-11, YEAR 12-15, ELEMENT 16-19, then 12 x (VALUE 5, DMFLAG, QCFLAG, DSFLAG).
INV = (
    "RSM00024266  67.5500  133.3833  137.0 VERHOJANSK\n"
    "KZ000036870  43.2331   76.9331  851.0 ALMATY\n"
)
DAT = (
    "RSM000242662001TAVG-4512  E-3890  E-2201  E -940  E  410  E 1380  E 1611  E 1103  E"
    "  280  E-1446  E-3400  E-4230  E\n"
    "KZ0000368702001TAVG -520  K -310  K  480  K 1120  K 1630  K 2150  K 2390  K-9999   "
    " 1720  K  960 OK  110  K -360  K\n"
)


@pytest.fixture
def ghcn_files(tmp_path):
    inv, dat = tmp_path / "v4.inv", tmp_path / "v4.dat"
    inv.write_text(INV)
    dat.write_text(DAT)
    return inv, dat


def test_fixture_lines_follow_the_documented_columns():
    assert [len(x) for x in DAT.splitlines()] == [115, 115]
    line = DAT.splitlines()[0]
    assert len(line) == 115 and line[0:11] == "RSM00024266" and line[11:15] == "2001"
    assert line[15:19] == "TAVG" and line[19:24] == "-4512" and line[107:112] == "-4230"
    inv = INV.splitlines()[0]
    assert inv[12:20] == " 67.5500" and inv[21:30] == " 133.3833" and inv[31:37] == " 137.0"
    assert inv[38:] == "VERHOJANSK"


def test_read_ghcnm_parses_hundredths_missing_and_flags(ghcn_files):
    inventory, monthly = read_ghcnm(*ghcn_files)
    assert inventory.to_dict("list") == {
        "station_id": ["RSM00024266", "KZ000036870"],
        "lat": [67.55, 43.2331],
        "lon": [133.3833, 76.9331],
        "elev_m": [137.0, 851.0],
        "name": ["VERHOJANSK", "ALMATY"],
    }
    v = monthly[monthly["station_id"] == "RSM00024266"]["value_c"].tolist()
    assert v[:3] == [-45.12, -38.90, -22.01] and len(monthly) == 24
    kz = monthly[monthly["station_id"] == "KZ000036870"].set_index("month")
    assert np.isnan(kz.loc[8, "value_c"]) and kz.loc[8, "dsflag"] == ""
    assert kz.loc[10, "qcflag"] == "O" and kz.loc[1, "dsflag"] == "K"


def test_ghcn_reader_then_writer_is_byte_identical(ghcn_files, tmp_path):
    inventory, monthly = read_ghcnm(*ghcn_files)
    inv, dat = write_ghcnm(inventory, monthly, tmp_path / "out.inv", tmp_path / "out.dat")
    assert inv.read_text() == INV and dat.read_text() == DAT


def test_ghcn_writer_then_reader_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    ids = ["CHM00052866", "MGM00044292", "RSM00023955"]
    inventory = pd.DataFrame(
        {
            "station_id": ids,
            "lat": [36.6167, 47.9167, 60.4333],
            "lon": [101.7667, 106.8500, 77.8667],
            "elev_m": [2296.0, 1350.0, -3.5],
            "name": ["XINING", "ULAANBAATAR", "ALEKSANDROVSKOE"],
        }
    )
    years = np.arange(1995, 2006)
    monthly = pd.DataFrame(
        [(s, int(y), m) for s in ids for y in years for m in range(1, 13)],
        columns=["station_id", "year", "month"],
    )
    monthly["value_c"] = rng.integers(-4500, 3000, len(monthly)) / 100.0
    monthly.loc[rng.choice(len(monthly), 20, replace=False), "value_c"] = np.nan
    monthly["dmflag"] = ""
    monthly["qcflag"] = np.where(rng.random(len(monthly)) < 0.05, "O", "")
    monthly["dsflag"] = "K"
    inv, dat = write_ghcnm(inventory, monthly, tmp_path / "x.inv", tmp_path / "x.dat")
    inv_back, mon_back = read_ghcnm(inv, dat)
    pd.testing.assert_frame_equal(inv_back, inventory)
    pd.testing.assert_frame_equal(mon_back, monthly, check_dtype=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RSM000242662001TAVG-45x2  E" + " -940  E" * 11 + "\n", r"line 1: .*integer year"),
        ("RSM000242662001TMAX-4512  E" + " -940  E" * 11 + "\n", "no TAVG lines"),
    ],
)
def test_ghcn_bad_data_files(tmp_path, text, message):
    p = tmp_path / "bad.dat"
    p.write_text(text)
    with pytest.raises(InputFileError, match=message) as err:
        read_ghcnm(_inv(tmp_path), p)
    assert str(p) in str(err.value)


def _inv(tmp_path):
    p = tmp_path / "ok.inv"
    p.write_text(INV)
    return p


def test_ghcn_bad_inventory_and_writer_checks(tmp_path):
    p = tmp_path / "bad.inv"
    p.write_text("RSM00024266  67.55N   133.3833  137.0 VERHOJANSK\n")
    with pytest.raises(InputFileError, match=r"bad.inv, line 1: .*numeric latitude"):
        read_ghcnm(p, tmp_path / "x.dat")
    inv = pd.DataFrame({"station_id": ["SHORT"], "lat": [1.0], "lon": [2.0]})
    with pytest.raises(DataError, match="11 characters"):
        write_ghcnm(inv, pd.DataFrame(columns=["station_id", "year", "month", "value_c"]), p, p)


# -- GTN-P ------------------------------------------------------------------------------------


def _gtnp_export(tmp_path, rows: pd.DataFrame, meta: list[dict] | None = None):
    csv = tmp_path / "export.csv"
    rows.to_csv(csv, index=False)
    meta = meta or [
        {
            "id": 11,
            "borehole": {
                "id": 1,
                "name": "BH_A",
                "site_name": "A",
                "location": {"latitude": 67.5, "longitude": 100.2, "elevation": 50.0},
            },
        },
        {
            "id": 12,
            "borehole": {
                "id": 2,
                "name": "BH_B",
                "site_name": "B",
                "location": {"latitude": 50.1, "longitude": 60.9, "elevation": 300.0},
            },
        },
    ]
    (tmp_path / "export_metadata.json").write_text(json.dumps(meta))
    return csv


def _gtnp_rows() -> pd.DataFrame:
    dates = pd.date_range("2004-01-01", "2005-12-31")
    t = (dates - pd.Timestamp("2004-01-01")).days.to_numpy() / 365.25
    parts = []
    for dataset, mean in [(11, -2.0), (12, 1.5)]:
        for depth, amp in [(1.0, 6.0), (12.0, 0.03)]:
            parts.append(
                pd.DataFrame(
                    {
                        "id": 0,
                        "date": dates.strftime("%Y-%m-%d"),
                        "depth": depth,
                        "temperature": mean + amp * np.sin(2 * np.pi * t),
                        "flag": "",
                        "dataset_id": dataset,
                        "borehole_id": dataset - 10,
                        "site_id": 0,
                    }
                )
            )
    out = pd.concat(parts, ignore_index=True)
    out.loc[5, "temperature"] = np.nan
    out.loc[5, "flag"] = "no data entry"
    return out


def test_read_gtnp_magt_labels_and_coordinates(tmp_path):
    sites = read_gtnp(_gtnp_export(tmp_path, _gtnp_rows()))
    assert sites["site_id"].tolist() == ["gtnp:BH_A", "gtnp:BH_B"]
    assert sites[["lon", "lat"]].to_numpy().tolist() == [[100.2, 67.5], [60.9, 50.1]]
    np.testing.assert_allclose(sites["magt"], [-2.0, 1.5], atol=1e-3)
    assert sites["magt_depth_m"].tolist() == [12.0, 12.0]
    assert set(sites["magt_method"]) == {"annual/zaa"}
    assert sites["label"].tolist() == [1, 0] and set(sites["kind"]) == {"borehole"}
    assert sites["year"].tolist() == [2005, 2005]


def test_read_gtnp_errors_name_file_line_and_fix(tmp_path):
    rows = _gtnp_rows()
    bad_date = rows.copy()
    bad_date.loc[7, "date"] = "2004-13-45"
    with pytest.raises(
        DataError, match=r"export.csv: column 'date' .* line 9: '2004-13-45'.*YYYY-MM-DD"
    ):
        read_gtnp(_gtnp_export(tmp_path, bad_date))
    with pytest.raises(InputFileError, match=r"lacks column\(s\) \['temperature'\].*read_permos"):
        read_gtnp(_gtnp_export(tmp_path, rows.drop(columns="temperature")))
    unknown = rows.copy()
    unknown.loc[0, "dataset_id"] = 99
    with pytest.raises(InputFileError, match=r"dataset_id\(s\) \[99\] have no record"):
        read_gtnp(_gtnp_export(tmp_path, unknown))
    (tmp_path / "export_metadata.json").unlink()
    with pytest.raises(
        InputFileError, match=r"export_metadata\.json .* does not exist.*pass metadata="
    ):
        read_gtnp(tmp_path / "export.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match=r"empty\.csv is empty"):
        read_gtnp(tmp_path / "empty.csv")


# -- PERMOS -----------------------------------------------------------------------------------


def test_read_permos_wide_file_with_missing_codes(tmp_path):
    dates = pd.date_range("2010-01-01", "2011-12-31")
    t = (dates - pd.Timestamp("2010-01-01")).days.to_numpy() / 365.25
    wide = pd.DataFrame(
        {
            "time": dates.strftime("%Y-%m-%d %H:%M:%S"),
            "0.5": 0.8 + 5 * np.sin(2 * np.pi * t),
            "10": -0.6 + 0.02 * np.sin(2 * np.pi * t),
        }
    )
    wide.loc[3, "10"] = -999
    wide.loc[4, "0.5"] = np.nan
    p = tmp_path / "COR_0287.csv"
    wide.to_csv(p, index=False, na_rep="NA")
    sites = read_permos(p, lon=9.82, lat=46.43)
    row = sites.iloc[0]
    assert row["site_id"] == "permos:COR_0287" and row["source"] == "permos"
    assert row["magt_depth_m"] == 10.0 and row["label"] == 1
    assert row["magt"] == pytest.approx(-0.6, abs=1e-3)  # -999 was not averaged in


def test_read_permos_rejects_a_non_depth_header(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("time,0.5,deep\n2010-01-01,1,2\n")
    with pytest.raises(InputFileError, match=r"x.csv: column 'deep' is not a depth"):
        read_permos(p, lon=9.0, lat=46.0)


# -- generic tables ---------------------------------------------------------------------------

MAPPING = {
    "source_id": "name",
    "lat": "Y",
    "lon": "X",
    "label": "pf",
    "magt": "magt_c",
    "year": "date",
}


def _csv(tmp_path, text, name="lit.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_table_csv_with_mapping(tmp_path):
    p = _csv(
        tmp_path,
        "name,Y,X,pf,magt_c,date,ref\n"
        "A,67.9,61.7,yes,,2004-08-01,Smith 2005\n"
        "B,50.2,100.8,,-0.4,1999,Li 2001\n"
        "C,48.0,90.0,0,,,\n",
    )
    t = read_table(p, MAPPING, kind="literature")
    assert t["site_id"].tolist() == ["table:lit:A", "table:lit:B", "table:lit:C"]
    assert t["label"].tolist() == [1, pd.NA, 0]
    assert t["year"].tolist() == [2004, 1999, pd.NA]
    assert t["magt"].iloc[1] == -0.4 and set(t["kind"]) == {"literature"}
    assert t["ref"].tolist()[:2] == ["Smith 2005", "Li 2001"]  # provenance kept


@pytest.mark.parametrize(
    ("text", "mapping", "error", "message"),
    [
        (
            "name,lat,lon,pf\nA,60,100,1\n",
            {"label": "permafrost"},
            InputFileError,
            r"lit.csv has no column 'permafrost' \(columns.label\).*fix columns.label",
        ),
        ("name,lat,lon,pf\nA,60,100,1\n", {"labels": "pf"}, ConfigError, "unknown field"),
        ("name,lat,lon,pf\n", {"label": "pf"}, InputFileError, "header but no data rows"),
        (
            "name,lat,lon,pf\nA,60,100,1\nB,,100,0\n",
            {"label": "pf", "source_id": "name"},
            DataError,
            r"lit.csv: 1 row\(s\) have empty .*lines \[3\].*\['B'\].*on_missing_coordinates='keep'",
        ),
        (
            "name,lat,lon,pf\nA,sixty,100,1\n",
            {"label": "pf"},
            DataError,
            r"lit.csv: column 'lat' .* line 2: 'sixty'.*decimal degrees",
        ),
        (
            "name,lat,lon,pf\nA,60,100,maybe\n",
            {"label": "pf"},
            DataError,
            r"column 'pf' .* line 2: 'maybe'.*1 \(permafrost\), 0",
        ),
        (
            "name,lat,lon,pf,when\nA,60,100,1,last summer\n",
            {"label": "pf", "year": "when"},
            DataError,
            r"column 'when' .* line 2: 'last summer'.*give a year",
        ),
        (
            "name,lat,lon,pf\nA,60,100,1\nA,61,101,1\n",
            {"label": "pf", "source_id": "name"},
            DataError,
            "identifier 'A' .* appears 2 times",
        ),
        ("name,lat,lon\nA,60,100\n", {}, InputFileError, "neither a label nor a MAGT column"),
        (
            "name,Y,X,pf\nA,60,100,1\n",
            {"label": "pf"},
            InputFileError,
            r"no 'lon' column and no point",
        ),
    ],
)
def test_read_table_bad_input_names_file_column_and_fix(tmp_path, text, mapping, error, message):
    p = _csv(tmp_path, text)
    with pytest.raises(error, match=message) as err:
        read_table(p, mapping)
    if error is not ConfigError:
        assert "lit.csv" in str(err.value)


def test_read_table_empty_and_missing_files(tmp_path):
    with pytest.raises(InputFileError, match=r"empty.csv is empty \(0 bytes\)"):
        read_table(_csv(tmp_path, "", "empty.csv"), {"label": "pf"})
    with pytest.raises(InputFileError, match=r"nope\.csv does not exist"):
        read_table(tmp_path / "nope.csv")


def test_read_table_can_keep_nan_coordinates_for_qc(tmp_path):
    p = _csv(tmp_path, "name,lat,lon,pf\nA,60,100,1\nB,,100,0\n")
    t = read_table(p, {"label": "pf", "source_id": "name"}, on_missing_coordinates="keep")
    assert np.isnan(t["lat"].iloc[1])


def test_read_table_geopackage_and_geoparquet(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"code": ["p1", "p2"], "permafrost": [1, 0], "obs_year": [2003, 2012]},
        geometry=[Point(100.5, 60.25), Point(80.0, 45.0)],
        crs="EPSG:4326",
    ).to_crs("EPSG:3857")
    gpkg, gpq = tmp_path / "sites.gpkg", tmp_path / "sites.parquet"
    gdf.to_file(gpkg, layer="boreholes", driver="GPKG")
    gdf.to_parquet(gpq)
    mapping = {"source_id": "code", "label": "permafrost", "year": "obs_year"}
    for path in (gpkg, gpq):
        t = read_table(path, mapping, layer="boreholes" if path.suffix == ".gpkg" else None)
        np.testing.assert_allclose(t["lon"], [100.5, 80.0], atol=1e-9)
        np.testing.assert_allclose(t["lat"], [60.25, 45.0], atol=1e-9)
        assert t["label"].tolist() == [1, 0] and t["year"].tolist() == [2003, 2012]
        assert t["source"].iloc[0] == "table:sites"


@pytest.mark.filterwarnings("ignore:GPKG. bad application_id:RuntimeWarning")
def test_read_table_corrupt_geopackage(tmp_path):
    p = tmp_path / "broken.gpkg"
    p.write_bytes(b"SQLite format 3\x00" + b"\x13" * 300)
    with pytest.raises(InputFileError, match=r"broken.gpkg cannot be read .*export it again"):
        read_table(p, {"label": "pf"})
