"""Sites: read observation sources, derive labels, quality-control them.

The site stage turns borehole records (GTN-P, PERMOS), literature tables and weather stations
(GHCN-M v4) into one table with one row per site and epoch (docs/contracts.md), and records
every dropped, changed or merged point with its rule in a QC report.

- :mod:`.inputs`: the ``[[sites.inputs]]`` registry of readers by ``type`` (the virtual world's
  ``"demo"`` reader included), :func:`check_site_inputs` (every table and file checked at load)
  and :func:`read_site_inputs`; :mod:`.values` checks the values of an input table;
- :mod:`.gtnp`, :mod:`.permos`, :mod:`.ghcn`, :mod:`.table`: one reader per source, with the
  shared parsing helpers in :mod:`.parsing`;
- :mod:`.labels`: MAGT profiles and labels, station MAAT;
- :mod:`.qc`, :mod:`.build`, :mod:`.outputs`: the QC rules, :func:`build_sites`,
  :func:`write_sites` and :func:`summarize`.

Examples
--------
>>> from permamap.grid import Grid
>>> import pandas as pd
>>> raw = pd.DataFrame({"site_id": ["lit:1", "lit:2"], "source": "lit",
...                     "lon": [100.5, 500.0], "lat": [60.5, 60.5], "label": [1, 0]})
>>> sites, report = build_sites(raw, Grid.from_bounds((25, 25, 180, 84), res=1), [2000, 2005])
>>> sites[["site_id", "epoch"]].to_numpy().tolist()
[['lit:1', 2000], ['lit:1', 2005]]
>>> report["rule"].tolist()
['invalid_coordinates']
"""

from __future__ import annotations

from .build import (
    QC_REPORT_COLUMNS,
    SITE_COLUMNS,
    SiteQC,
    build_sites,
    validate_raw,
)
from .ghcn import (
    format_ghcnm,
    parse_ghcnm,
    read_ghcnm,
    write_ghcnm,
)
from .gtnp import read_gtnp
from .inputs import (
    SITE_READERS,
    SiteInputs,
    SiteInputSpec,
    SiteReadContext,
    check_site_inputs,
    read_site_inputs,
)
from .labels import (
    label_from_magt,
    magt_profile,
    monthly_means,
    select_magt,
    station_maat,
    stations_nonpermafrost,
)
from .outputs import summarize, write_sites
from .parsing import KINDS, RAW_COLUMNS
from .permos import read_permos
from .qc import (
    CLIMATE_CONTRADICTION,
    DUPLICATE_CONFLICT,
    DUPLICATE_MERGED,
    IN_SEA,
    INVALID_COORDINATES,
    NO_EPOCH,
    OUTSIDE_GRID,
    RULES,
    SWAPPED_COORDINATES,
    UNCLEAR_LABEL,
    QCSettings,
)
from .table import TABLE_FIELDS, read_table

__all__ = [
    "CLIMATE_CONTRADICTION",
    "DUPLICATE_CONFLICT",
    "DUPLICATE_MERGED",
    "INVALID_COORDINATES",
    "IN_SEA",
    "KINDS",
    "NO_EPOCH",
    "OUTSIDE_GRID",
    "QC_REPORT_COLUMNS",
    "RAW_COLUMNS",
    "RULES",
    "SITE_COLUMNS",
    "SITE_READERS",
    "SWAPPED_COORDINATES",
    "TABLE_FIELDS",
    "UNCLEAR_LABEL",
    "QCSettings",
    "SiteInputSpec",
    "SiteInputs",
    "SiteQC",
    "SiteReadContext",
    "build_sites",
    "check_site_inputs",
    "format_ghcnm",
    "label_from_magt",
    "magt_profile",
    "monthly_means",
    "parse_ghcnm",
    "read_ghcnm",
    "read_gtnp",
    "read_permos",
    "read_site_inputs",
    "read_table",
    "select_magt",
    "station_maat",
    "stations_nonpermafrost",
    "summarize",
    "validate_raw",
    "write_ghcnm",
    "write_sites",
]
