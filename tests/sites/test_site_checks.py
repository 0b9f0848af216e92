"""[[sites.inputs]] checked in full at load (check_site_inputs), and unreadable site files.

Every input table is checked for its type, keys and values, every file it names must exist, and
each file is parsed with its reader, so a site file that cannot be read fails before any stage
runs, with one line naming the input, the file, the value, the rule and the fix. The site stage
(read_site_inputs) runs the same steps and gives the same errors.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from permamap.errors import ConfigError, DataError, InputFileError, PermamapError
from permamap.sites import (
    SiteReadContext,
    check_site_inputs,
    read_site_inputs,
    write_ghcnm,
)

EPOCHS = (2000, 2005)
LIT = "name,lat,lon,pf\nA,67.9,61.7,1\nB,50.2,100.8,0\nC,60.0,90.0,\n"
LIT_SPEC = {"type": "table", "path": "lit.csv", "columns": {"source_id": "name", "label": "pf"}}


def _one_line_error(exc: pytest.ExceptionInfo, *names: str) -> str:
    """The message, checked to be one line naming every ``names``."""
    text = str(exc.value)
    assert "\n" not in text, text
    assert "Traceback" not in text
    for name in names:
        assert name in text, (name, text)
    return text


# -- tiny input files with known contents ---------------------------------------------------------


def _gtnp(tmp_path, name="boreholes"):
    """Two boreholes, 2004-2005 daily at 1 m and 12 m: BH_A MAGT -2 °C, BH_B +1.5 °C."""
    dates = pd.date_range("2004-01-01", "2005-12-31")
    t = (dates - pd.Timestamp("2004-01-01")).days.to_numpy() / 365.25
    parts = [
        pd.DataFrame(
            {
                "date": dates.strftime("%Y-%m-%d"),
                "depth": depth,
                "temperature": mean + amp * np.sin(2 * np.pi * t),
                "dataset_id": dataset,
            }
        )
        for dataset, mean in [(11, -2.0), (12, 1.5)]
        for depth, amp in [(1.0, 6.0), (12.0, 0.03)]
    ]
    pd.concat(parts).to_csv(tmp_path / f"{name}.csv", index=False)
    meta = [
        {
            "id": dataset,
            "borehole": {
                "id": dataset,
                "name": bh,
                "location": {"latitude": lat, "longitude": lon, "elevation": 100.0},
            },
        }
        for dataset, bh, lat, lon in [(11, "BH_A", 67.5, 100.2), (12, "BH_B", 50.1, 60.9)]
    ]
    (tmp_path / f"{name}_metadata.json").write_text(json.dumps(meta))
    return {"type": "gtnp", "path": f"{name}.csv"}


def _permos(tmp_path, name="COR_0287.csv"):
    """One borehole, 2003-2004 daily at 0.5 m and 10 m, MAGT -0.6 °C at 10 m."""
    dates = pd.date_range("2003-01-01", "2004-12-31")
    t = (dates - pd.Timestamp("2003-01-01")).days.to_numpy() / 365.25
    wide = pd.DataFrame(
        {
            "time": dates.strftime("%Y-%m-%d"),
            "0.5": 0.8 + 5 * np.sin(2 * np.pi * t),
            "10": -0.6 + 0.02 * np.sin(2 * np.pi * t),
        }
    )
    wide.to_csv(tmp_path / name, index=False)
    return {"type": "permos", "path": name, "lon": 9.82, "lat": 46.43}


def _ghcn(tmp_path):
    """Three stations 1990-2009: two warm (5 °C, 8 °C) and one cold (-12 °C)."""
    ids = ["KZ000036870", "KZ000036871", "RSM00024266"]
    inventory = pd.DataFrame({"station_id": ids, "lat": [43.2, 44.0, 67.5], "lon": [76.9, 77, 133]})
    years = np.repeat(np.arange(1990, 2010), 12)
    monthly = pd.concat(
        pd.DataFrame(
            {
                "station_id": sid,
                "year": years,
                "month": np.tile(np.arange(1, 13), 20),
                "value_c": value,
            }
        )
        for sid, value in zip(ids, [5.0, 8.0, -12.0], strict=True)
    )
    write_ghcnm(inventory, monthly, tmp_path / "s.inv", tmp_path / "s.dat")
    return {"type": "ghcn", "path": "s.inv", "data": "s.dat"}


@pytest.fixture
def context(tmp_path, grid):
    return SiteReadContext(
        base_dir=tmp_path, grid=grid, epochs=EPOCHS, window_years=9, random_state=0
    )


# -- plan lines -----------------------------------------------------------------------------------


def test_every_reader_gives_one_plan_line_with_its_site_count(tmp_path):
    (tmp_path / "lit.csv").write_text(LIT)
    specs = [LIT_SPEC, _gtnp(tmp_path), _permos(tmp_path), _ghcn(tmp_path), {"type": "demo"}]
    lines = check_site_inputs(specs, tmp_path, EPOCHS)
    assert lines == [
        "[[sites.inputs]] #1 table: lit.csv, 3 sites; 1 of its 3 site rows have no label and no "
        "MAGT (QC drops them as unclear_label)",
        "[[sites.inputs]] #2 gtnp: boreholes.csv, 2 sites (4 site rows, by epoch)",
        "[[sites.inputs]] #3 permos: COR_0287.csv, 1 site (2 site rows, by epoch)",
        "[[sites.inputs]] #4 ghcn: s.inv + s.dat, 2 sites (4 site rows, by epoch): stations "
        "with MAAT 2 to 10 °C, as non-permafrost sites",
        "[[sites.inputs]] #5 demo: the virtual world's boreholes and weather stations, sampled "
        "when the site stage runs",
    ]


def test_the_plan_counts_what_the_stage_reads(tmp_path, context):
    (tmp_path / "lit.csv").write_text(LIT)
    specs = [LIT_SPEC, _gtnp(tmp_path), _ghcn(tmp_path)]
    check_site_inputs(specs, tmp_path, EPOCHS)
    raw = read_site_inputs(specs, context).raw
    assert raw.groupby("source")["site_id"].nunique().to_dict() == {
        "ghcn": 2,
        "gtnp": 2,
        "table:lit": 3,
    }


def test_an_input_that_adds_no_site_says_so(tmp_path):
    ghcn = _ghcn(tmp_path)
    lines = check_site_inputs([{**ghcn, "maat_range": [20.0, 30.0]}], tmp_path, EPOCHS)
    assert lines == [
        "[[sites.inputs]] #1 ghcn: s.inv + s.dat, 0 sites: stations with MAAT 20 to 30 °C, as "
        "non-permafrost sites; this input adds no site, check its file and keys"
    ]


# -- config mistakes: one code path for the check and the stage ----------------------------------

MISTAKES = [
    (
        {"type": "tabel", "path": "lit.csv"},
        ConfigError,
        "#1 has type = 'tabel', which is not a site reader (did you mean `table`?)",
    ),
    (
        {**LIT_SPEC, "colums": {"label": "pf"}},
        ConfigError,
        '#1 (type = "table") has unknown key `colums` (did you mean `columns`?)',
    ),
    (
        {"type": "permos", "path": "lit.csv", "lon": 9.8},
        ConfigError,
        '#1 (type = "permos") lacks the required key `lat`; add e.g. `lat = 46.43`',
    ),
    (
        {"type": "permos", "path": "lit.csv", "lon": 9.8, "lat": "46.4"},
        ConfigError,
        "has lat = '46.4', which is not a finite number (write it without quotes); write e.g. "
        "lat = 46.43",
    ),
    (
        {"type": "ghcn", "path": "lit.csv", "data": "lit.csv", "min_years": 2.5},
        ConfigError,
        "has min_years = 2.5, which is not a whole number; write e.g. min_years = 5",
    ),
    (
        {"type": "ghcn", "path": "lit.csv", "data": "lit.csv", "maat_range": [2.0]},
        ConfigError,
        "has maat_range = [2.0], which is not a list of 2 numbers; write e.g. "
        "maat_range = [2.0, 10.0]",
    ),
    (
        {**LIT_SPEC, "on_missing_coordinates": "kep"},
        ConfigError,
        'on_missing_coordinates = \'kep\', which is not one of "raise", "keep" (did you mean '
        "`keep`?)",
    ),
    (
        {"type": "permos", "path": "lit.csv", "lon": 9.8, "lat": 46.4, "missing_values": -999},
        ConfigError,
        "has missing_values = -999, which is not a list of numbers; write e.g. "
        "missing_values = [-999.0, -9999.0]",
    ),
    (
        {**LIT_SPEC, "columns": "name"},
        ConfigError,
        "has columns = 'name', which is not a table",
    ),
    (
        {"type": "permos", "path": "lit.csv", "lon": 9.8, "lat": 146.4},
        ConfigError,
        "has lat = 146.4, which is not from -90 to 90; fix the value",
    ),
    (
        {"type": "gtnp", "path": "lit.csv", "min_days_per_month": 40},
        ConfigError,
        "has min_days_per_month = 40, which is not from 1 to 31",
    ),
    (
        {"type": "ghcn", "path": "lit.csv", "data": "lit.csv", "min_years": 0},
        ConfigError,
        "has min_years = 0, which is not at least 1",
    ),
    (
        {**LIT_SPEC, "drop": True},
        ConfigError,
        "unknown key `drop`",
    ),
    (
        {**LIT_SPEC, "encoding": "utf-9"},
        ConfigError,
        "encoding = 'utf-9', which is not a text encoding Python knows",
    ),
    (
        {**LIT_SPEC, "columns": {"lable": "pf"}},
        ConfigError,
        "columns has unknown field 'lable' (did you mean `label`?)",
    ),
    (
        {**LIT_SPEC, "kind": "bore hole"},
        ConfigError,
        "kind = 'bore hole' is not a kind of site (did you mean `borehole`?)",
    ),
    (
        {"type": "table", "path": "nowhere.csv"},
        InputFileError,
        '#1 (type = "table") has path = "nowhere.csv", but ',
    ),
    (
        {"type": "gtnp", "path": "lit.csv", "metadata": "m.json"},
        InputFileError,
        'has metadata = "m.json", but ',
    ),
    (
        {**LIT_SPEC, "columns": {"source_id": "nmae", "label": "pf"}},
        InputFileError,
        "has no column 'nmae' (columns.source_id) (did you mean `name`?); its columns are "
        "['name', 'lat', 'lon', 'pf']: fix columns.source_id or the file's header",
    ),
]


@pytest.mark.parametrize(("spec", "error", "text"), MISTAKES)
def test_mistakes_are_one_line_naming_the_input_value_and_fix(tmp_path, spec, error, text):
    (tmp_path / "lit.csv").write_text(LIT)
    with pytest.raises(error) as exc:
        check_site_inputs([spec], tmp_path, EPOCHS)
    message = _one_line_error(exc, "[[sites.inputs]] #1", text)
    assert message.startswith("[[sites.inputs]] #1")


@pytest.mark.parametrize(("spec", "error", "text"), MISTAKES)
def test_the_site_stage_gives_the_same_error_as_the_check(tmp_path, context, spec, error, text):
    (tmp_path / "lit.csv").write_text(LIT)
    with pytest.raises(error) as at_load:
        check_site_inputs([spec], tmp_path, EPOCHS)
    with pytest.raises(error) as in_stage:
        read_site_inputs([spec], context)
    assert str(in_stage.value) == str(at_load.value)


def test_every_table_is_checked_before_any_file_and_every_path_before_any_read(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01\x02")
    bad = {"type": "table", "path": "bad.csv"}
    with pytest.raises(ConfigError, match=r"#3 \(type = \"table\"\) has unknown key `kid`"):
        check_site_inputs(
            [bad, {"type": "table", "path": "x.csv"}, {**bad, "kid": 1}], tmp_path, [2000]
        )
    with pytest.raises(InputFileError, match=r"#2 \(type = \"table\"\) has path = \"x.csv\""):
        check_site_inputs([bad, {"type": "table", "path": "x.csv"}], tmp_path, [2000])
    with pytest.raises(InputFileError, match=r"#1 \(type = \"table\"\): site table .*binary"):
        check_site_inputs([bad], tmp_path, [2000])


def test_an_empty_file_and_a_folder_are_named_before_reading(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([{"type": "table", "path": "empty.csv"}], tmp_path, [2000])
    _one_line_error(exc, "empty.csv", "is empty (0 bytes)")
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([{"type": "table", "path": "folder.csv"}], tmp_path, [2000])
    _one_line_error(exc, "folder.csv", "is a folder, not a file")


def test_demo_needs_no_file_but_its_keys_are_checked(tmp_path):
    assert len(check_site_inputs([{"type": "demo", "seed_offset": 3}], tmp_path, [2000])) == 1
    with pytest.raises(ConfigError, match=r"seed_offset = '3', which is not a whole number"):
        check_site_inputs([{"type": "demo", "seed_offset": "3"}], tmp_path, [2000])


# -- unreadable files, every reader ---------------------------------------------------------------

LATIN1 = "name,lat,lon,pf\nZürich,47.4,8.5,0\n".encode("latin-1")


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"\n\n", ["has no header or rows"]),
        (b"name,lat,lon,pf\n", ["has a header but no data rows"]),
        (b"name,lat\x00,lon\n\x00\x00\x01", ["is a binary file (a NUL byte on line 1)"]),
        (b"PK\x03\x04\x14\x00\x06\x00", ["is a ZIP archive or an Excel workbook", "CSV UTF-8"]),
        (LATIN1, ["is not utf-8 text: line 2 has the byte(s) b'\\xfc'", "rich,47.4", "UTF-8"]),
        (b'name,lat,lon,pf\n"A,67.9,61.7,1\n', ["is not a readable CSV", "EOF inside string"]),
        (b"name;lat;lon;pf\nA;67.9;61.7;1\n", ["separated by semicolons, not commas"]),
        (b"name,lat,lon\nA,67.9,61.7,1\n", ["first data line has more fields than the header"]),
        (b"name,lat,lon\nA,67.9,61.7\n", ["neither a label nor a MAGT column"]),
    ],
)
def test_unreadable_csv_tables(tmp_path, content, names):
    (tmp_path / "lit.csv").write_bytes(content)
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([{"type": "table", "path": "lit.csv"}], tmp_path, [2000])
    _one_line_error(exc, '[[sites.inputs]] #1 (type = "table")', "lit.csv", *names)


def test_a_csv_saved_by_excel_as_utf8_with_a_byte_order_mark_reads(tmp_path):
    (tmp_path / "lit.csv").write_bytes(LIT.encode("utf-8-sig"))
    assert check_site_inputs([LIT_SPEC], tmp_path, [2000]) == [
        "[[sites.inputs]] #1 table: lit.csv, 3 sites; 1 of its 3 site rows have no label and no "
        "MAGT (QC drops them as unclear_label)"
    ]


def test_a_latin1_table_reads_with_its_encoding(tmp_path):
    (tmp_path / "lit.csv").write_bytes(LATIN1)
    spec = {**LIT_SPEC, "encoding": "latin-1"}
    lines = check_site_inputs([spec], tmp_path, [2000])
    assert lines == ["[[sites.inputs]] #1 table: lit.csv, 1 site"]


def test_a_bad_value_in_a_table_is_a_one_line_data_error(tmp_path):
    (tmp_path / "lit.csv").write_text("name,lat,lon,pf\nA,67.9,61.7,maybe\n")
    with pytest.raises(DataError) as exc:
        check_site_inputs([LIT_SPEC], tmp_path, [2000])
    _one_line_error(exc, "#1", "lit.csv", "column 'pf'", "line 2: 'maybe'", "labels must be 1")


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg", "plain.parquet"])
def test_truncated_and_corrupt_binary_tables(tmp_path, suffix):
    import geopandas as gpd

    df = pd.DataFrame({"name": ["A", "B"], "pf": [1, 0]})
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy([61.7, 100.8], [67.9, 50.2]), crs=4326)
    path = tmp_path / f"sites{suffix}"
    if suffix == "plain.parquet":  # no geometry: lon/lat columns
        df.assign(lon=[61.7, 100.8], lat=[67.9, 50.2]).to_parquet(path)
        suffix = ".parquet"
    elif suffix == ".parquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path, layer="sites")
    spec = {"type": "table", "path": path.name, "columns": {"source_id": "name", "label": "pf"}}
    assert check_site_inputs([spec], tmp_path, [2000]) == [
        f"[[sites.inputs]] #1 table: {path.name}, 2 sites"
    ]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([spec], tmp_path, [2000])
    _one_line_error(exc, "#1", path.name, f"cannot be read as {suffix[1:]}", "export it again")
    path.write_bytes(b"this is not a table at all\n" * 10)
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([spec], tmp_path, [2000])
    _one_line_error(exc, "#1", path.name, f"cannot be read as {suffix[1:]}")


def test_a_table_with_an_unknown_extension(tmp_path):
    (tmp_path / "sites.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([{"type": "table", "path": "sites.xlsx"}], tmp_path, [2000])
    _one_line_error(exc, "sites.xlsx", "unknown extension '.xlsx'", "save it as .csv")


def _gtnp_bad(tmp_path, what):
    spec = _gtnp(tmp_path)
    csv, meta = tmp_path / "boreholes.csv", tmp_path / "boreholes_metadata.json"
    if what == "binary":
        csv.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    elif what == "latin-1":
        csv.write_bytes(csv.read_bytes().replace(b"date,", "d\xe4te,".encode("latin-1"), 1))
    elif what == "no column":
        pd.read_csv(csv).rename(columns={"temperature": "temp"}).to_csv(csv, index=False)
    elif what == "truncated metadata":
        meta.write_text(meta.read_text()[:50])
    elif what == "metadata not a list":
        meta.write_text('"boreholes"')
    elif what == "empty metadata":
        meta.write_text("")
    elif what == "binary metadata":
        meta.write_bytes(b"\x00\x01")
    return spec


@pytest.mark.parametrize(
    ("what", "names"),
    [
        ("binary", ["boreholes.csv", "is a binary file"]),
        ("latin-1", ["boreholes.csv", "is not utf-8 text: line 1 has the byte(s) b'\\xe4'"]),
        ("no column", ["boreholes.csv", "lacks column(s) ['temperature']", "'temp'"]),
        ("truncated metadata", ["boreholes_metadata.json", "is not valid JSON", "download it"]),
        ("metadata not a list", ["boreholes_metadata.json", "not a list of dataset records"]),
        ("empty metadata", ["boreholes_metadata.json", "is empty (0 bytes)"]),
        ("binary metadata", ["boreholes_metadata.json", "is a binary file"]),
    ],
)
def test_unreadable_gtnp_exports(tmp_path, what, names):
    spec = _gtnp_bad(tmp_path, what)
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([spec], tmp_path, EPOCHS)
    _one_line_error(exc, '[[sites.inputs]] #1 (type = "gtnp")', *names)


def test_gtnp_rows_without_an_integer_dataset_id_are_named(tmp_path):
    spec = _gtnp(tmp_path)
    csv = tmp_path / "boreholes.csv"
    rows = pd.read_csv(csv).astype({"dataset_id": object})
    rows.loc[2, "dataset_id"], rows.loc[4, "dataset_id"] = 11.5, None
    rows.to_csv(csv, index=False)
    with pytest.raises(DataError) as exc:
        check_site_inputs([spec], tmp_path, EPOCHS)
    _one_line_error(
        exc, "#1", "column 'dataset_id' has 2 value(s)", "line 4: 11.5, line 6: nan", "integer id"
    )


@pytest.mark.parametrize(
    ("content", "error", "names"),
    [
        (b"\x00\x00\x00\x00", InputFileError, ["is a binary file"]),
        (
            "time,0.5,10\n2003-01-01,1.0,-0.5\n2003-01-02,1.\xb0,-0.5\n".encode("latin-1"),
            InputFileError,
            ["is not utf-8 text: line 3"],
        ),
        (b"time;0.5;10\n2003-01-01;1.0;-0.5\n", InputFileError, ["separated by semicolons"]),
        (b"time,0.5,deep\n2003-01-01,1.0,-0.5\n", InputFileError, ["column 'deep' is not a depth"]),
        (b"time\n2003-01-01\n", InputFileError, ["has only the column 'time'"]),
        (b'time,0.5,10\n2003-01-01,1.0,"-0.', InputFileError, ["not a readable CSV"]),
        (b"time,0.5,10\n2003-01-01,1.0,minus\n", DataError, ["column '10'", "line 2: 'minus'"]),
    ],
)
def test_unreadable_permos_files(tmp_path, content, error, names):
    spec = _permos(tmp_path)
    (tmp_path / "COR_0287.csv").write_bytes(content)
    with pytest.raises(error) as exc:
        check_site_inputs([spec], tmp_path, EPOCHS)
    _one_line_error(exc, '[[sites.inputs]] #1 (type = "permos")', "COR_0287.csv", *names)


def test_unreadable_ghcn_files(tmp_path):
    spec = _ghcn(tmp_path)
    inv, dat = tmp_path / "s.inv", tmp_path / "s.dat"
    good_inv, good_dat = inv.read_bytes(), dat.read_bytes()
    where = '[[sites.inputs]] #1 (type = "ghcn")'

    def fails(*names):
        with pytest.raises(InputFileError) as exc:
            check_site_inputs([spec], tmp_path, EPOCHS)
        _one_line_error(exc, where, *names)

    swapped = {**spec, "path": "s.dat", "data": "s.inv"}
    with pytest.raises(InputFileError) as exc:
        check_site_inputs([swapped], tmp_path, EPOCHS)
    _one_line_error(exc, where, "s.dat, line 1", "is a data line", "are the two swapped?")
    dat.write_bytes(good_dat[: len(good_dat) // 2 + 30])  # cut inside a line
    fails("s.dat, line", "cut short", "download it again")
    dat.write_bytes(good_dat[:-9].rstrip() + b"\n")  # cut inside December's value of the last line
    fails("s.dat, line 60", "cut short")
    dat.write_bytes(b"\n \n")
    fails("s.dat has no TAVG lines")
    dat.write_bytes(b"")
    fails('data = "s.dat"', "is empty (0 bytes)")
    dat.write_bytes(good_dat)
    inv.write_bytes(b"\x1f\x8b\x08\x00" + good_inv)
    fails("s.inv is a gzip archive")
    inv.write_bytes(good_inv[:27])  # cut inside the first station's longitude
    fails("s.inv, line 1: 'KZ000036870  43.2000   76.9' is cut short", "download it again")
    inv.write_bytes(good_inv[:40])  # cut inside the second station's id
    fails("s.inv, line 2: 'KZ'", "is cut short")


def test_every_error_is_a_permamap_error(tmp_path):
    """The CLI turns PermamapError into one line; nothing else may escape the readers."""
    (tmp_path / "lit.csv").write_bytes(LIT.encode("utf-16"))
    with pytest.raises(PermamapError) as exc:
        check_site_inputs([LIT_SPEC], tmp_path, [2000])
    _one_line_error(exc, "lit.csv", "is UTF-16 text", 'encoding = "utf-16"')
    assert len(check_site_inputs([{**LIT_SPEC, "encoding": "utf-16"}], tmp_path, [2000])) == 1
