"""A catalogue of bad configs and inputs: each is exit 2 with one line, before anything is written.

Every case starts from a valid own-data config (``tests/own_data.py``) or the demo's, changes one
thing a user gets wrong, and runs ``permamap check`` and ``permamap run``: both must exit 2 with one
line that names the table or file, the value and the fix, and the run folder must not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from permamap.cli import main

from .own_data import make_own_data

DEMO = files("permamap.demo").joinpath("demo.toml").read_text()
Edit = Callable[[Path, str], str]


def _sub(old: str, new: str) -> Edit:
    def edit(folder: Path, text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def _add(extra: str) -> Edit:
    return lambda folder, text: text + "\n" + extra + "\n"


def _truncate(name: str, to: str, keep: int = 300) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / to).write_bytes((folder / name).read_bytes()[:keep])

    return damage


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def _half_raster(folder: Path) -> None:
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(folder / "tmean.tif") as src:
        profile = src.profile
        w = Window(0, 0, src.width - 60, src.height)
        data = src.read(1, window=w)
        profile.update(width=w.width, transform=src.window_transform(w))
    with rasterio.open(folder / "tmean_west.tif", "w", **profile) as dst:
        dst.write(data, 1)


def _no_year(year: int) -> Callable[[Path], None]:
    return lambda folder: (folder / f"ndvi_{year}.tif").unlink()


# (id, edit of the config text, damage to the files or None, fragments the one line must hold)
CASES: list[tuple[str, Edit, Callable[[Path], None] | None, tuple[str, ...]]] = [
    ("typo in covariates source key", _sub('source = "none"', 'sourse = "none"'), None,
     ("[covariates] has unknown key `sourse`", "did you mean `source`")),
    ("no covariate source", _sub('source = "none"\n', ""), None,
     ("[covariates] lacks `source`", 'source = "real"')),
    ("unknown covariate source", _sub('source = "none"', 'source = "reel"'), None,
     ("source = 'reel' is unknown", "did you mean `real`")),
    ("typo in run key", _sub("window_years = 3", "windw_years = 3"), None,
     ("[run] has unknown key `windw_years`", "did you mean `window_years`")),
    ("typo in grid key", _sub("tile = [64, 64]", "tiles = [64, 64]"), None,
     ("[grid] has unknown key `tiles`", "did you mean `tile`")),
    ("typo in a section name", _sub("[models]", "[modles]"), None,
     ("unknown section [modles]", "did you mean `models`")),
    ("typo in a models key", _sub("n_repeats = 1", "n_repeat = 1"), None,
     ("[models]", "n_repeat", "did you mean `n_repeats`")),
    ("unknown candidate", _sub('"random_forest"]', '"random_forrest"]'), None,
     ("random_forrest", "did you mean `random_forest`")),
    ("typo in qc", _add("[qc]\npermafrost_max_maat = 2"), None,
     ("[qc]", "permafrost_max_maat", "did you mean `permafrost_max_maat_c`")),
    ("typo in change", _add('[change]\nreferense = "tmean.tif"'), None,
     ("[change] has unknown key `referense`", "did you mean `reference`")),
    ("missing change reference", _add('[change]\nreference = "obu2019.tif"'), None,
     ("[change].reference = 'obu2019.tif'", "does not exist")),
    ("truncated change reference", _add('[change]\nreference = "ref.tif"'),
     lambda f: (f / "ref.tif").write_bytes((f / "tmean.tif").read_bytes()[:400]),
     ("ref.tif", "truncated")),
    ("unknown reference kind", _add('[change]\nreference_kind = "clas"'), None,
     ("reference_kind = 'clas' is unknown", "did you mean `class`")),
    ("reference epochs outside the run", _add("[change]\nreference_epochs = [1990]"), None,
     ("reference_epochs = [1990]", "not among [run].epochs")),
    ("demo source with custom factors", _sub('source = "none"', 'source = "demo"'), None,
     ('source = "demo" is the virtual world', "[covariates.factors]")),
    ("custom factor kind typo", _sub('kind = "continuous"', 'kind = "continous"'), None,
     ("[covariates.factors.tmean]", "continous", "did you mean `continuous`")),
    ("custom factor key typo", _sub('path = "tmean.tif"', 'pth = "tmean.tif"'), None,
     ("[covariates.factors.tmean]", "pth", "did you mean `path`")),
    ("custom factor named like a built-in", _sub("[covariates.factors.tmean]", "[covariates.factors.maat]"), None,
     ("maat",)),
    ("custom factor file missing", _sub('path = "tmean.tif"', 'path = "tmean_v2.tif"'), None,
     ("tmean_v2.tif",)),
    ("custom factor truncated", _sub('path = "tmean.tif"', 'path = "broken.tif"'), _truncate("tmean.tif", "broken.tif"),
     ("broken.tif", "truncated")),
    ("custom yearly factor lacks a year", lambda f, t: t, _no_year(2010),
     ("ndvi", "2010")),
    ("categorical factor with a scale", _sub('kind = "categorical"', 'kind = "categorical"\nscale = 2.0'), None,
     ("[covariates.factors.soil]", "scale")),
    ("custom factor short of the grid", _sub('path = "tmean.tif"', 'path = "tmean_west.tif"'), _half_raster,
     ("tmean_west.tif", "east", 'coverage = "partial"')),
    ("grid raster missing", _sub('like = "survey.tif"', 'like = "surveys.tif"'), None,
     ("[grid].like = 'surveys.tif'", "does not exist")),
    ("grid like with res", _sub('like = "survey.tif"', 'like = "survey.tif"\nres = 0.01'), None,
     ("gives `like` and ['res']", "drop")),
    ("grid bounds not on whole pixels", _sub('like = "survey.tif"', "bounds = [100, 64.805, 101.85, 66]\nres = 0.01"), None,
     ("[grid]", "whole number")),
    ("epochs as strings", _sub("epochs = [2000, 2010]", 'epochs = ["2000"]'), None,
     ("[run].epochs = ['2000']", "list of years")),
    ("even window", _sub("window_years = 3", "window_years = 4"), None,
     ("[run].window_years = 4", "odd positive integer")),
    ("zero workers", _sub("seed = 3", "seed = 3\nn_jobs = 0"), None,
     ("[run].n_jobs = 0", "-1")),
    ("site reader typo", _sub('type = "table"', 'type = "tabel"'), None,
     ("tabel", "did you mean `table`")),
    ("site key typo", _sub('path = "sites.csv"', 'pth = "sites.csv"'), None,
     ("pth", "did you mean `path`")),
    ("site table missing", _sub('path = "sites.csv"', 'path = "site.csv"'), None,
     ("site.csv",)),
    ("site column mapping to a missing column", _sub('label = "pf"', 'label = "permafrost"'), None,
     ("sites.csv", "permafrost")),
    ("site table is binary", lambda f, t: t, _write("sites.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
     ("sites.csv",)),
    ("demo sites with own covariates", _add('[[sites.inputs]]\ntype = "demo"'), None,
     ('type = "demo"', "virtual world")),
    ("world settings without the virtual world", _add("[world]\nseed = 1"), None,
     ("[world]", 'source is not "demo"')),
    ("use names an unknown factor", _sub('source = "none"', 'source = "none"\nuse = ["tmean", "tmeen"]'), None,
     ("tmeen", "did you mean `tmean`")),
    ("use and drop together", _sub('source = "none"', 'source = "none"\nuse = ["tmean"]\ndrop = ["soil"]'), None,
     ("both `use` and `drop`",)),
    ("invalid TOML", _add("[run\nepochs = 1"), None,
     ("is not valid TOML",)),
    ("real source with an unknown reader", _sub('source = "none"', 'source = "real"\n[covariates.real.climate]\ntype = "era5"'), None,
     ("type = 'era5'", "climate reader")),
]  # fmt: skip

DEMO_CASES: list[tuple[str, Edit, tuple[str, ...]]] = [
    ("demo with a real site table", _add('[[sites.inputs]]\ntype = "table"\npath = "demo.toml"'),
     ('type = \'table\' gives real sites', 'source = "demo" is the virtual world')),
    ("demo with a world typo", _add("[world]\nsed = 1"), ("[world] has unknown key `sed`", "did you mean `seed`")),
    ("no sites at all", lambda f, t: t.replace('[[sites.inputs]]\ntype = "demo"', ""), ("lacks [sites]",)),
    ("projection key typo", lambda f, t: t.replace("baseline_epoch = 2020", "baseline_epoh = 2020"),
     ("[projections] has unknown key `baseline_epoh`", "did you mean `baseline_epoch`")),
    ("projection scenario typo", lambda f, t: t.replace('"ssp585"]', '"ssp858"]'),
     ("'ssp858' is not a CMIP6 scenario", "did you mean `ssp585`")),
    ("projection baseline not an epoch", lambda f, t: t.replace("baseline_epoch = 2020", "baseline_epoch = 2019"),
     ("baseline_epoch", "must be one of [run].epochs")),
    ("projection unknown virtual GCM", lambda f, t: t.replace('"ve-pine"]', '"ve-oak"]'),
     ("'ve-oak' is not a virtual GCM",)),
    ("projection method with the virtual world", _add('method = "delta"'),
     ("remove [projections.source] and `method`",)),
    ("projection without GCMs", lambda f, t: t.replace('gcms = ["ve-alder"', 'gcm = ["ve-alder"'),
     ("[projections]", "gcm")),
]  # fmt: skip


def _one_line_exit_2(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out
    return out


@pytest.mark.parametrize(("edit", "damage", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_own_data_config(
    tmp_path: Path,
    edit: Edit,
    damage: Callable[[Path], None] | None,
    fragments: tuple[str, ...],
) -> None:
    config = make_own_data(tmp_path)
    if damage is not None:
        damage(tmp_path)
    config.write_text(edit(tmp_path, config.read_text()))
    for args in (["check", str(config)], ["-q", "run", str(config)]):
        out = _one_line_exit_2(args)
        for fragment in fragments:
            assert fragment in out, (fragment, out)
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize(("edit", "fragments"), [c[1:] for c in DEMO_CASES], ids=[c[0] for c in DEMO_CASES])  # fmt: skip
def test_bad_demo_config(tmp_path: Path, edit: Edit, fragments: tuple[str, ...]) -> None:
    (tmp_path / "demo.toml").write_text("placeholder")
    config = tmp_path / "bad.toml"
    config.write_text(edit(tmp_path, DEMO).replace('out = "out/demo"', 'out = "run"'))
    out = _one_line_exit_2(["check", str(config)])
    for fragment in fragments:
        assert fragment in out, (fragment, out)
    assert not (tmp_path / "run").exists()


def test_the_catalogue_is_at_least_thirty_cases() -> None:
    assert len(CASES) + len(DEMO_CASES) >= 30
