"""The report in a real browser: headless Chromium renders it, every image loads, numbers match.

Needs Debian's ``chromium`` (``scripts/install-chromium.sh``, which the Makefile's test target
runs). If Chromium is absent the fixture tries that script once; if it still is absent the tests
skip and say why.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from permamap.report import headline_values, write_report
from permamap.report.markup import km2

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "install-chromium.sh"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

VIEWPORT = "--window-size=1280,2400"

# Appended to a copy of the page (the page itself has no script): after load, open every
# <details>, then record each image's natural and rendered size, each headline element, the
# banner, how far each table reaches past its container and the page, and the model card's text
# without its <code> (hashes, versions), into a <pre> that --dump-dom shows.
CHECK_SCRIPT = """
<div style="width:300px" id="overflow-control-box"><table id="overflow-control"><tr>
<td style="white-space:nowrap">a control table far wider than its 300 px box, so that the
overflow check is seen to catch one</td></tr></table></div>
<script>
window.addEventListener("load", function () {
  Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
    d.open = true;
  });
  var images = Array.prototype.map.call(document.images, function (im) {
    var r = im.getBoundingClientRect();
    var fig = im.closest("figure");
    return {figure: fig ? fig.id : "", complete: im.complete, naturalWidth: im.naturalWidth,
            naturalHeight: im.naturalHeight, width: r.width, height: r.height};
  });
  var headline = Array.prototype.map.call(
    document.querySelectorAll("[data-summary-key]"), function (el) {
      return {key: el.getAttribute("data-summary-key"), value: el.getAttribute("data-value"),
              text: el.textContent};
    });
  var docWidth = document.documentElement.clientWidth;
  var tables = Array.prototype.map.call(document.querySelectorAll("table"), function (t) {
    var r = t.getBoundingClientRect();
    var box = t.parentElement.getBoundingClientRect();
    var sec = t.closest("section, #overflow-control-box");
    var secBox = sec ? sec.getBoundingClientRect() : box;
    return {id: t.id, section: sec ? sec.id : "", right: r.right, width: r.width,
            scrollWidth: t.scrollWidth, clientWidth: t.clientWidth,
            parentRight: box.right, sectionRight: secBox.right, docWidth: docWidth};
  });
  var banner = document.getElementById("virtual-banner");
  var bannerBox = banner ? banner.getBoundingClientRect() : null;
  var card = document.getElementById("model-card");
  var cardText = "";
  if (card) {
    var copy = card.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll("code"), function (c) { c.remove(); });
    // text node by text node: a cell "f1" beside "0.883" must not read as "f10.883"
    var walker = document.createTreeWalker(copy, NodeFilter.SHOW_TEXT);
    var parts = [];
    while (walker.nextNode()) { parts.push(walker.currentNode.nodeValue); }
    cardText = parts.join("\\n");
  }
  var out = document.createElement("pre");
  out.id = "permamap-check";
  out.textContent = JSON.stringify({
    images: images, headline: headline, tables: tables, cardText: cardText,
    banner: banner ? {text: banner.textContent, top: bannerBox.top, height: bannerBox.height,
                      width: bannerBox.width} : null,
    pageScrollWidth: document.documentElement.scrollWidth, docWidth: docWidth,
    height: document.body.scrollHeight, title: document.title});
  document.body.appendChild(out);
});
</script>
"""


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = _find_chromium()
    if exe is not None:
        return exe
    if os.environ.get("PERMAMAP_NO_CHROMIUM_INSTALL"):
        pytest.skip(
            "Chromium is not installed and PERMAMAP_NO_CHROMIUM_INSTALL is set; "
            "run scripts/install-chromium.sh"
        )
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
        )
        why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    except (OSError, subprocess.TimeoutExpired) as exc:
        why = [str(exc)]
    exe = _find_chromium()
    if exe is None:
        pytest.skip(f"Chromium is not installed and {INSTALL.name} could not install it: {why[0]}")
    return exe


def _run(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )


@pytest.fixture(scope="module")
def rendered(run_folder, chromium: str, tmp_path_factory: pytest.TempPathFactory):
    run, summary = run_folder
    page = write_report(run)  # default coastlines: the land-mask package, as users get it
    tmp = tmp_path_factory.mktemp("chromium")
    probe = tmp / "report_probe.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"),
        encoding="utf-8",
    )
    proc = _run(
        chromium, tmp, VIEWPORT, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()
    )
    m = re.search(r'<pre id="permamap-check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the page did not finish loading in Chromium; stderr: {proc.stderr[-2000:]}"
    return page, summary, json.loads(html.unescape(m.group(1))), tmp


def test_every_image_loads(rendered) -> None:
    _, _, check, _ = rendered
    images = check["images"]
    assert len(images) >= 10
    broken = [im for im in images if not (im["complete"] and im["naturalWidth"] > 0)]
    assert broken == []
    assert all(im["width"] > 0 and im["height"] > 0 for im in images)  # laid out, visible
    figures = {im["figure"] for im in images}
    assert {
        "maps-panel",
        "map-2020",
        "change-2000-2020",
        "cv-chart",
        "importance-chart",
        "area-timeseries",
    } <= figures
    assert check["height"] > 2000


def test_how_sure_are_we_images_load(rendered) -> None:
    _, _, check, _ = rendered
    shown = {im["figure"]: im for im in check["images"]}
    for ident in (
        "reliability-diagram",
        "spread-2020",
        "expected-accuracy-2020",
        "aoa-beside-accuracy-2020",
        "expected-vs-observed",
        "area-intervals",
    ):
        im = shown[ident]
        assert im["complete"] and im["naturalWidth"] > 0, ident
        assert im["width"] > 100 and im["height"] > 100, ident  # laid out at a readable size
    # the expected-accuracy map and the AOA stand side by side, not one under the other
    ea, aoa = shown["expected-accuracy-2020"], shown["aoa-beside-accuracy-2020"]
    assert ea["width"] < 700 and aoa["width"] < 700


def test_headline_numbers_equal_summary(rendered) -> None:
    _, summary, check, _ = rendered
    shown = {h["key"]: h for h in check["headline"]}
    expected = headline_values(summary)
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert json.loads(shown[key]["value"]) == value, key
        if key.startswith("area_km2."):
            assert shown[key]["text"] == km2(value)
        elif key.startswith(("cv.", "truth_agreement.")):
            assert shown[key]["text"].startswith(f"{value:.3f}")
    random_acc = summary["cv"]["random"]["accuracy"]["mean"]
    assert json.loads(shown["cv.random.accuracy.mean"]["value"]) == random_acc


def test_page_renders_to_a_screenshot(rendered, chromium: str) -> None:
    page, _, _, tmp = rendered
    shot = tmp / "report.png"
    proc = _run(chromium, tmp, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1280)
    assert float(np.std(pixels[..., :3])) > 0.05  # not a blank page


def test_virtual_world_banner_is_at_the_top(rendered) -> None:
    _, summary, check, _ = rendered
    assert summary["virtual_world"] is True
    banner = check["banner"]
    assert banner is not None
    assert banner["text"].startswith("VIRTUAL DATA — demonstration world")
    assert banner["top"] == 0 and banner["height"] > 20
    assert banner["width"] == check["docWidth"]  # across the page


def test_no_table_is_wider_than_the_page(rendered) -> None:
    _, _, check, _ = rendered
    assert check["docWidth"] == 1280
    tables = [t for t in check["tables"] if t["id"] != "overflow-control"]
    assert len(tables) >= 15  # headline cards, area, change, reference, CV, sites, model card
    assert {
        "reference",
        "model-card-cv",
        "cv-candidates",
        "plausibility",
        "area-intervals-table",
        "change-intervals",
        "error-profile-bins",
    } <= {t["id"] for t in tables}
    wide = [
        t
        for t in tables
        if t["right"] > min(t["parentRight"], t["sectionRight"]) + 1
        or t["scrollWidth"] > t["clientWidth"] + 1
        or t["right"] > t["docWidth"]
    ]
    assert wide == []
    assert check["pageScrollWidth"] <= check["docWidth"]  # no sideways scrolling
    # the check catches a table that does overflow: the control appended to the probe
    (control,) = [t for t in check["tables"] if t["id"] == "overflow-control"]
    assert control["right"] > control["sectionRight"] + 100


def _significant_digits(number: str) -> int:
    """Significant digits of a number as the page writes it ("12,560", "0.0001", "2000")."""
    digits = number.replace(",", "")
    if "." in digits:
        return len(digits.replace(".", "").lstrip("0"))
    return len(digits.strip("0")) or 1


def test_model_card_numbers_have_at_most_four_significant_digits(rendered) -> None:
    _, _, check, _ = rendered
    text = check["cardText"]
    assert "p < 0.001" in text  # the KS test's 8e-144, explained
    assert "0.0000" not in text and "deprecated" not in text
    numbers = re.findall(r"\d[\d,]*(?:\.\d+)?", text)
    assert len(numbers) > 30
    long = [n for n in numbers if _significant_digits(n) > 4]
    assert long == []
    assert _significant_digits("0.1235") == 4 and _significant_digits("20,000") == 1
    assert _significant_digits("0.12346") == 5  # what the raw card would have shown
