"""The [[sites.inputs]] registry: readers by type, checked against their signatures, in order."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from permamap.errors import ConfigError
from permamap.sites import (
    SITE_READERS,
    SiteInputs,
    SiteReadContext,
    read_ghcnm,
    read_gtnp,
    read_permos,
    read_site_inputs,
    read_table,
    stations_nonpermafrost,
    write_ghcnm,
)
from permamap.sites.inputs import reader_keys

LIT = "name,lat,lon,pf\nA,67.9,61.7,1\nB,50.2,100.8,0\n"


@pytest.fixture
def context(tmp_path, grid):
    return SiteReadContext(
        base_dir=tmp_path, grid=grid, epochs=(2000, 2005), window_years=9, random_state=0
    )


def _lit(tmp_path, name="lit.csv"):
    (tmp_path / name).write_text(LIT)
    return {"type": "table", "path": name, "columns": {"source_id": "name", "label": "pf"}}


def test_tables_are_read_in_order_with_paths_relative_to_the_config_folder(tmp_path, context):
    first, second = _lit(tmp_path, "a.csv"), _lit(tmp_path, "b.csv")
    second["path"] = str(tmp_path / "b.csv")  # an absolute path stays as it is
    inputs = read_site_inputs([first, second], context)
    assert inputs.raw["site_id"].tolist() == ["table:a:A", "table:a:B", "table:b:A", "table:b:B"]
    assert inputs.raw.index.tolist() == [0, 1, 2, 3]
    expected = read_table(tmp_path / "a.csv", {"source_id": "name", "label": "pf"})
    pd.testing.assert_frame_equal(inputs.raw.iloc[:2], expected)
    assert inputs.rendered == {} and inputs.notes == []


def test_a_ghcn_input_is_the_stations_reader_with_the_run_epochs_and_window(tmp_path, context):
    inventory = pd.DataFrame({"station_id": ["KZ000036870"], "lat": [43.2], "lon": [76.9]})
    years = np.repeat(np.arange(1990, 2010), 12)
    monthly = pd.DataFrame(
        {
            "station_id": "KZ000036870",
            "year": years,
            "month": np.tile(np.arange(1, 13), 20),
            "value_c": 5.0,
        }
    )
    inv, dat = write_ghcnm(inventory, monthly, tmp_path / "s.inv", tmp_path / "s.dat")
    spec = {"type": "ghcn", "path": "s.inv", "data": "s.dat", "min_years": 4}
    got = read_site_inputs([spec], context).raw
    expected = stations_nonpermafrost(*read_ghcnm(inv, dat), [2000, 2005], window=9, min_years=4)
    pd.testing.assert_frame_equal(got, expected)
    assert got["year"].tolist() == [2000, 2005]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"type": "tabel", "path": "x.csv"}, r"#1 has type = .tabel.*did you mean `table`"),
        ({"path": "x.csv"}, r"#1 has no `type`; add type = one of \"climate_absences\", \"demo\""),
        (
            {"type": "gtnp"},
            r'#1 \(type = "gtnp"\) lacks the required key `path`; add e.g. `path = "boreholes',
        ),
        ({"type": "permos", "path": "p.csv", "lon": 9.0}, r"lacks the required key `lat`; add"),
        (
            {"type": "gtnp", "path": "g.csv", "dept_m": 10},
            r"has unknown key `dept_m` \(did you mean `depth_m`\?\); allowed keys: ",
        ),
        ({"type": "ghcn", "path": "s.inv", "data": "s.dat", "window": 5}, r"`window`"),
        ({"type": "table", "path": 3}, r"path = 3, which is not a file path"),
        ({"type": "demo", "path": "x.csv"}, r"unknown key `path`; allowed keys: seed_offset, type"),
        ("gtnp", r"#1 is 'gtnp', not a table"),
    ],
)
def test_config_mistakes_name_the_input_the_value_and_the_fix(context, spec, match):
    with pytest.raises(ConfigError, match=match):
        read_site_inputs([spec], context)


def test_every_input_is_checked_before_any_file_is_read(tmp_path, context):
    missing_file = {"type": "table", "path": "does-not-exist.csv"}
    with pytest.raises(ConfigError, match="#2"):
        read_site_inputs([missing_file, {"type": "table", "path": "x.csv", "kid": "x"}], context)


def test_no_inputs_is_an_error(context):
    with pytest.raises(ConfigError, match=r"\[sites\] has no inputs"):
        read_site_inputs([], context)


@pytest.mark.parametrize("world", [None, object()])
def test_the_demo_reader_needs_the_virtual_world(context, world):
    ctx = SiteReadContext(**{**context.__dict__, "world": world})
    with pytest.raises(ConfigError, match=r'#1 \(type = "demo"\).*\[covariates\] source = "demo"'):
        read_site_inputs([{"type": "demo"}], ctx)


def test_two_inputs_may_not_render_the_same_file(tmp_path, context, monkeypatch):
    def rendering(ctx, /, *, name: str = "a.csv"):
        return SiteInputs(pd.DataFrame({"site_id": [name]}), {name: "x"}, [f"note {name}"])

    monkeypatch.setitem(SITE_READERS, "rendering", rendering)
    two = read_site_inputs([{"type": "rendering"}, {"type": "rendering", "name": "b"}], context)
    assert list(two.rendered) == ["a.csv", "b"] and two.notes == ["note a.csv", "note b"]
    with pytest.raises(ConfigError, match=r"renders 'a\.csv', which input #1 rendered already"):
        read_site_inputs([{"type": "rendering"}, {"type": "rendering"}], context)


@pytest.mark.parametrize(
    ("kind", "library"),
    [("gtnp", read_gtnp), ("permos", read_permos), ("table", read_table)],
)
def test_reader_defaults_are_those_of_the_library_functions(kind, library):
    lib = inspect.signature(library).parameters
    keys = inspect.signature(SITE_READERS[kind]).parameters
    for name, required in reader_keys(SITE_READERS[kind]).items():
        if name in lib:
            assert keys[name].default == lib[name].default, name
            assert required == (lib[name].default is inspect.Parameter.empty), name


def test_ghcn_and_demo_defaults_are_those_of_the_library_functions():
    from permamap.demo.site_reader import read_demo_sites

    lib = inspect.signature(stations_nonpermafrost).parameters
    keys = inspect.signature(SITE_READERS["ghcn"]).parameters
    for name in ("maat_range", "min_years", "source", "drop_qc_flagged"):
        assert keys[name].default == lib[name].default, name
    demo = inspect.signature(read_demo_sites).parameters["seed_offset"].default
    assert inspect.signature(SITE_READERS["demo"]).parameters["seed_offset"].default == demo
