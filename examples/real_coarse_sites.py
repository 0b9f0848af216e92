"""Real data through the same CLI: NCEP/CMAP/ETOPO20 covariates and GTN-P sites, QC'd on a 1° grid.

Uses the small real datasets in ``../shared/data/real-coarse`` (not part of the package) and writes a
run config beside the outputs, then runs ``permamap sites CONFIG``: the covariate stage builds a
stack from the NCEP/NCAR air temperature and CMAP precipitation long-term means (a climatology, used
for every epoch) and ETOPO20 relief; the site stage reads the hand-transcribed GTN-P borehole pages
and flags Baganuur, whose latitude (41.69 °N) is an entry error, because its label contradicts the
local climate.

Usage: ``.venv/bin/python examples/real_coarse_sites.py [OUT_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from permamap.cli import main as cli

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-coarse"

CONFIG = """
[run]
out = "run"
epochs = [2000, 2010]

[grid]
bounds = [25, 25, 180, 84]
res = 1.0
tile = [64, 64]

[covariates]
source = "real"

[covariates.real.climate]
type = "ncep"
air = "{real}/ncep-air-ltm/air.mon.ltm.nc"
precip = "{real}/cmap-precip-ltm/precip.mon.ltm.nc"

[covariates.real.elevation]
type = "etopo20"
path = "{real}/ferret-etopo/etopo20.cdf"

[[sites.inputs]]
type = "table"
path = "{real}/gtnp-pages-seed/gtnp_pages_seed.csv"
kind = "borehole"
columns = {{ source_id = "name", magt = "magt_c", label = "label_pf" }}
"""


def write_config(folder: Path) -> Path:
    """Write the run config for the real coarse data into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "real_coarse.toml"
    path.write_text(CONFIG.format(real=REAL.as_posix()))
    return path


def main(out: Path) -> int:
    if not REAL.is_dir():
        print(f"{REAL} is absent: this example needs the shared real-coarse data")
        return 1
    result = CliRunner().invoke(cli, ["-q", "sites", str(write_config(out))])
    print(result.output)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/real-coarse")))
