"""Resume inside the change stage (issue 14, point 2): kill -9 anywhere, rerun, same bytes.

A child process runs the change stage as the pipeline does (``change_stage`` then
``write_change_outputs``) with :func:`permamap.change.tilepass._checkpoint` hooked to
``os._exit`` at the n-th durable step, like a kill -9 there; the rerun must finish the work left
and leave change maps and CSV tables byte-identical to an uninterrupted run's. A rerun killed after
the tiles were summed must read no tile of any input again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio

from permamap.change import change_stage, tilepass
from permamap.change import stage as stage_module
from permamap.grid import Grid
from permamap.layout import RunLayout
from permamap.stages import write_change_outputs

from .conftest import write_map
from .ensemble import write_members

GRID = Grid.from_bounds((100, 60, 112, 70), res=0.5)  # 20 × 24 cells
TILE = (8, 8)  # 3 × 3 = 9 tiles
N_TILES = 9
EPOCHS = (2000, 2010, 2020)
PAIRS = 3  # 2000-2010, 2010-2020, 2000-2020
FIRST_PAIR = (2000, 2010)

_CHILD = """
import json, os, sys
from pathlib import Path
args = json.loads(sys.argv[1])
from permamap.change import tilepass
if args["kill"] is not None:
    event, n = args["kill"]
    seen = {"n": 0}
    def hook(name):
        if name == event:
            seen["n"] += 1
            if seen["n"] == n:
                os._exit(9)
    tilepass._checkpoint = hook
from tests.change.test_change_resume import run_stage
run_stage(Path(args["root"]))
"""


def _prob(epoch: int) -> np.ndarray:
    """A north–south gradient that moves north by 2 rows per decade, with a no-data corner."""
    rows = np.arange(GRID.height)[:, None] * np.ones(GRID.width)[None, :]
    cols = np.ones(GRID.height)[:, None] * np.arange(GRID.width)[None, :]
    shift = (epoch - 2000) // 10 * 2
    p = np.clip(100 - (rows + shift) * 5 + (cols % 3) * 7, 0, 100).astype(np.uint8)
    p[-3:, :4] = 255
    return p


def _cls(epoch: int) -> np.ndarray:
    p = _prob(epoch)
    return np.where(p == 255, 255, (p >= 50).astype(np.uint8)).astype(np.uint8)


def _write_inputs(root: Path) -> None:
    lay = RunLayout(root)
    lay.maps_dir.mkdir(parents=True)
    for e in EPOCHS:
        aoa = np.where(_prob(e) == 255, 255, (np.arange(GRID.width) < 18)[None, :] * 1)
        write_map(
            lay.map(e), GRID, _cls(e), _prob(e), epoch=e, aoa=np.broadcast_to(aoa, GRID.shape)
        )
        members = np.stack([(_prob(e) >= t) & (_prob(e) != 255) for t in (40, 50, 60)])
        write_members(lay.members(e).parent, GRID, e, members.astype(np.uint8), _cls(e))
    ref = _cls(2010)
    write_map(root / "reference.tif", GRID, ref, epoch=2010)
    with rasterio.open(
        root / "elevation.tif",
        "w",
        driver="GTiff",
        dtype="float32",
        count=1,
        height=GRID.height,
        width=GRID.width,
        crs=GRID.crs,
        transform=GRID.transform,
    ) as dst:
        dst.write(
            (np.arange(GRID.height * GRID.width, dtype=np.float32) * 10).reshape(GRID.shape), 1
        )
        dst.set_band_description(1, "elevation")


def run_stage(root: Path) -> dict[str, int]:
    """The change stage as the pipeline calls it, with its tables written; what it had to do."""
    lay = RunLayout(root)
    result = change_stage(
        {e: lay.map(e) for e in EPOCHS},
        GRID,
        lay,
        elevation=root / "elevation.tif",
        epochs=list(EPOCHS),
        members={e: lay.members(e) for e in EPOCHS},
        reference=root / "reference.tif",
        reference_kind="map",
        tile_shape=TILE,
    )
    write_change_outputs(lay, result)
    return result.work


def _child(root: Path, kill: tuple[str, int] | None) -> int:
    args = json.dumps({"root": str(root), "kill": kill})
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, args], cwd=repo, capture_output=True, text=True
    )
    if done.returncode not in (0, 9):
        raise AssertionError(done.stderr)
    return done.returncode


def _outputs(root: Path) -> dict[str, bytes]:
    """Every change map and table of the run (not the hidden tile store)."""
    change = RunLayout(root).change_dir
    return {p.name: p.read_bytes() for p in sorted(change.glob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """A run folder and the outputs of an uninterrupted change stage in it."""
    root = tmp_path_factory.mktemp("resume") / "run"
    _write_inputs(root)
    run_stage(root)
    out = _outputs(root)
    assert {f"change_{a}_{b}.tif" for a, b in [(2000, 2010), (2010, 2020), (2000, 2020)]} <= set(
        out
    )
    return root, out


@pytest.mark.parametrize(
    ("kill", "tiles_done", "maps_done"),
    [
        (("reference", 1), 0, 0),
        (("tile", 5), 5, 0),
        (("totals", 1), N_TILES, 0),
        (("change_map", 1), N_TILES, 1),
    ],
)
def test_killed_change_stage_resumes_to_identical_bytes(
    clean: tuple[Path, dict[str, bytes]], kill: tuple[str, int], tiles_done: int, maps_done: int
) -> None:
    root, expected = clean
    shutil.rmtree(RunLayout(root).change_dir)
    assert _child(root, kill) == 9  # killed there
    assert not RunLayout(root).area_by_epoch.exists()  # the tables come after the stage
    work = run_stage(root)
    assert work["reference_written"] == 0  # made before every kill point
    assert work["tiles_reused"] == tiles_done
    assert work["tiles_computed"] == N_TILES - tiles_done
    assert work["maps_reused"] == maps_done
    assert work["maps_written"] == PAIRS - maps_done
    assert _outputs(root) == expected
    assert not (RunLayout(root).change_dir / stage_module.STORE_NAME).exists()


def test_killed_after_the_tiles_the_rerun_reads_no_tile(
    clean: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = clean
    shutil.rmtree(RunLayout(root).change_dir)
    assert _child(root, ("change_map", 1)) == 9
    # the first change map is finished: a copy elsewhere must not count as it
    RunLayout(root).change_map(*FIRST_PAIR).unlink()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("every tile was summed before the kill; none may be read again")

    monkeypatch.setattr(tilepass, "_tile", refuse)
    monkeypatch.setattr(stage_module, "resample_reference", refuse)
    work = run_stage(root)
    assert work == {
        "tiles_computed": 0,
        "tiles_reused": N_TILES,
        "maps_written": PAIRS,  # the deleted one is made again from the stored tiles
        "maps_reused": 0,
        "reference_written": 0,
    }
    assert _outputs(root) == expected


def test_killed_as_the_store_is_removed_does_no_work(
    clean: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = clean
    shutil.rmtree(RunLayout(root).change_dir)
    # dies after the last change map, before the store is removed
    assert _child(root, ("change_map", PAIRS)) == 9

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished change stage must not read or write tiles")

    monkeypatch.setattr(tilepass, "_tile", refuse)
    monkeypatch.setattr(tilepass, "write_change_map", refuse)
    monkeypatch.setattr(stage_module, "resample_reference", refuse)
    work = run_stage(root)
    assert work == {
        "tiles_computed": 0,
        "tiles_reused": N_TILES,
        "maps_written": 0,
        "maps_reused": PAIRS,
        "reference_written": 0,
    }
    assert _outputs(root) == expected


def test_outputs_do_not_depend_on_the_folder(
    clean: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    _, expected = clean
    other = tmp_path / "elsewhere"
    _write_inputs(other)
    run_stage(other)
    assert _outputs(other) == expected


def test_changed_map_clears_the_store(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _write_inputs(root)
    lay = RunLayout(root)
    assert _child(root, ("tile", 4)) == 9
    # 2020 loses all its permafrost before the rerun: the stored tiles are stale
    p = np.where(_prob(2020) == 255, 255, 0).astype(np.uint8)
    cls = np.where(p == 255, 255, 0).astype(np.uint8)
    write_map(lay.map(2020), GRID, cls, p, epoch=2020)
    write_members(lay.members(2020).parent, GRID, 2020, np.zeros((3, *GRID.shape), np.uint8), cls)
    work = run_stage(root)
    assert work["tiles_computed"] == N_TILES
    assert work["maps_written"] == PAIRS
    with rasterio.open(lay.change_map(2010, 2020)) as src:
        codes = src.read(1)
    assert set(np.unique(codes).tolist()) <= {0, 2, 255}  # stable non-permafrost or degraded
    assert (codes == 2).any()
    table = pd.read_csv(lay.transitions(2010, 2020))
    assert table.loc[table["to_class"] == "permafrost", "area_km2"].sum() == 0
