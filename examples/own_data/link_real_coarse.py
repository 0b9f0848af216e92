"""Put the real coarse example data where ``own_data.toml`` expects it: ``<folder>/data/``.

Links (or copies, where links are not allowed) the small real datasets of
``../shared/data/real-coarse`` (beside the project) and the HWSD topsoil clay that the ``permamodel``
package installs. A user with their own files skips this step and edits the paths in the config.

Usage: ``.venv/bin/python examples/own_data/link_real_coarse.py [FOLDER]`` (default: this folder)
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[1].parent / "shared" / "data" / "real-coarse"
FILES = {
    "air.mon.ltm.nc": "ncep-air-ltm/air.mon.ltm.nc",
    "precip.mon.ltm.nc": "cmap-precip-ltm/precip.mon.ltm.nc",
    "etopo20.cdf": "ferret-etopo/etopo20.cdf",
    "bioclim_global.tif": "cast-bioclim-global/bioclim_global.tif",
    "gtnp_pages_seed.csv": "gtnp-pages-seed/gtnp_pages_seed.csv",
    "gtnp2026-multi.csv": "tsp-gtnp-samples/gtnp2026-multi.csv",
    "gtnp2026-multi_metadata.json": "tsp-gtnp-samples/gtnp2026-multi_metadata.json",
}


def hwsd_clay() -> Path:
    """``permamodel/data/T_CLAY.nc4`` of the installed ``permamodel`` package."""
    spec = importlib.util.find_spec("permamodel")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("permamodel is not installed: pip install permamodel (HWSD soils)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "T_CLAY.nc4"


def link(folder: Path = HERE) -> Path:
    """Create ``folder/data`` with every input of ``own_data.toml``; return it."""
    if not REAL.is_dir():
        raise SystemExit(f"{REAL} is absent: this example needs the shared real-coarse data")
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    sources = {name: REAL / rel for name, rel in FILES.items()}
    sources["T_CLAY.nc4"] = hwsd_clay()
    for name, src in sources.items():
        target = data / name
        if target.exists() or target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(src)
        except OSError:
            shutil.copyfile(src, target)
    return data


if __name__ == "__main__":
    print(link(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
