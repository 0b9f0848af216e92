"""report.html: self-contained, headline numbers equal summary.json, missing inputs said plainly."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from permamap.errors import InputFileError
from permamap.layout import RunLayout
from permamap.report import headline_values, write_report
from permamap.report.markup import km2

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.headline: dict[str, str] = {}
        self.ids: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.missing = 0
        self._in_missing = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if "data-summary-key" in a:
            self.headline[a["data-summary-key"]] = a["data-value"]
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "a") and a.get("href"):
            self.links.append(a["href"])
        if a.get("class") == "missing":
            self.missing += 1


def parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def test_full_report_is_self_contained_and_matches_summary(run_folder) -> None:
    run, summary = run_folder
    page = write_report(run, coastlines="data-mask")
    assert page == run / "report.html"
    c = parse(page)
    # every figure is an embedded PNG: nothing to fetch, works offline from disk
    assert len(c.imgs) >= 3 + 3 + 1 + 1 + 1 + 1  # epochs, change maps, area, cv, importance, sites
    for img in c.imgs:
        assert img["src"].startswith("data:image/png;base64,"), img["src"][:40]
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG_MAGIC
        assert img.get("alt")
    assert c.scripts == 0
    assert all(h.startswith("#") for h in c.links)
    # headline numbers: exactly the summary's values
    expected = headline_values(summary)
    assert set(c.headline) == set(expected)
    for key, value in expected.items():
        assert json.loads(c.headline[key]) == value, key
    assert "area_km2.2020.permafrost_extent_km2" in c.headline
    assert "cv.spatial.accuracy.mean" in c.headline and "truth_agreement.2000" in c.headline
    for ident in (
        "maps-panel",
        "map-2020",
        "change-2000-2020",
        "area-timeseries",
        "cv-chart",
        "importance-chart",
        "sites-map",
        "headline-area",
    ):
        assert ident in c.ids
    assert c.missing == 0
    text = page.read_text(encoding="utf-8")
    assert "permafrost_extent_km2" not in text or "Permafrost extent" in text
    assert "sha256:0123abcd" in text  # model card
    assert "outside_grid" in text  # QC report
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


def test_headline_text_is_the_rounded_value(run_folder) -> None:
    run, summary = run_folder
    text = write_report(run, coastlines="none").read_text(encoding="utf-8")
    v = summary["area_km2"]["2000"]["permafrost_extent_km2"]
    assert f">{km2(v)}</td>" in text
    assert re.search(r">\d+\.\d\d M km²</td>", text)  # millions, two decimals


def test_empty_run_folder_says_what_is_missing(tmp_path: Path) -> None:
    page = write_report(tmp_path, coastlines="none")
    c = parse(page)
    text = page.read_text(encoding="utf-8")
    assert c.imgs == []
    assert c.headline == {}
    assert "summary.json was not found" in text
    assert "models/cv_scores.csv was not found" in text
    assert "models/model_card.json was not found" in text
    assert "sites/qc_report.csv was not found" in text
    assert c.missing >= 7


def test_damaged_inputs_do_not_break_the_page(run_folder, tmp_path: Path) -> None:
    src, _ = run_folder
    run = tmp_path / "run"
    shutil.copytree(src, run)
    (run / "models" / "selection.json").write_text("{not json")
    (run / "models" / "cv_scores.csv").write_text("a,b\n1,2\n")
    (run / "change" / "area_by_epoch.csv").unlink()
    page = write_report(run, coastlines="none")
    text = page.read_text(encoding="utf-8")
    assert "could not be built" in text
    assert "change/area_by_epoch.csv not found; showing summary.json totals" in text
    assert 'id="map-2020"' in text  # the rest of the page is still there


def test_write_report_takes_a_run_layout(run_folder, tmp_path: Path) -> None:
    run, _ = run_folder
    lay = RunLayout(run)
    page = write_report(lay, out=tmp_path / "page.html", coastlines="none")
    assert page == tmp_path / "page.html"
    text = page.read_text(encoding="utf-8")
    # files are named relative to the run folder, as the layout names them
    assert f"<code>{lay.relative(lay.change_map(2000, 2020))}</code>" in text
    assert f"<code>{lay.relative(lay.map(2020))}</code>" in text
    # consecutive epoch pairs in time order, then the first → last span
    shown = [
        text.index(f"<h3>{a} → {b}</h3>") for a, b in ((2000, 2010), (2010, 2020), (2000, 2020))
    ]
    assert shown == sorted(shown)
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left


def test_missing_run_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist; run `permamap demo`"):
        write_report(tmp_path / "nope")
