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

# Appended to a copy of the page (the page itself has no script): after load, record each
# image's natural and rendered size and each headline element, into a <pre> that --dump-dom shows.
CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
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
  var out = document.createElement("pre");
  out.id = "permamap-check";
  out.textContent = JSON.stringify({images: images, headline: headline,
                                    height: document.body.scrollHeight,
                                    title: document.title});
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
    proc = _run(chromium, tmp, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
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
        "map-2000",
        "map-2010",
        "map-2020",
        "change-2000-2020",
        "cv-chart",
        "importance-chart",
        "area-timeseries",
    } <= figures
    assert check["height"] > 2000


def test_headline_numbers_equal_summary(rendered) -> None:
    _, summary, check, _ = rendered
    shown = {h["key"]: h for h in check["headline"]}
    expected = headline_values(summary)
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert json.loads(shown[key]["value"]) == value, key
        if key.startswith("area_km2."):
            assert shown[key]["text"] == f"{value:,.0f} km²"
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
