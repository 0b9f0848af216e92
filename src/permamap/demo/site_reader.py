"""The virtual world's site reader, ``[[sites.inputs]] type = "demo"``: its sites read like real data.

The boreholes and weather stations of :func:`permamap.demo.sites.sample_sites` take the route of
real observations: the stations are rendered as GHCN-M v4 files by the real writer and parsed back
by the real reader (so their values pass the format's rounding to hundredths of °C), then turned
into non-permafrost sites by :func:`permamap.sites.stations_nonpermafrost`; the boreholes (planted
defects included) are already a raw site table. Nothing is written here: the rendered files come
back in :attr:`permamap.sites.inputs.SiteInputs.rendered` for the pipeline to keep.
"""

from __future__ import annotations

import pandas as pd

from ..errors import ConfigError
from ..sites.ghcn import GHCNM_ENCODING, format_ghcnm, parse_ghcnm
from ..sites.inputs import SiteInputs, SiteReadContext
from ..sites.labels import stations_nonpermafrost
from .sites import sample_sites

__all__ = [
    "BOREHOLES_FILE",
    "GHCNM_DAT_FILE",
    "GHCNM_INV_FILE",
    "PLANTED_FILE",
    "read_demo_sites",
]

#: Names of the rendered files (kept under the run folder's ``sites/input/``).
GHCNM_INV_FILE = "ghcnm.tavg.virtual.inv"
GHCNM_DAT_FILE = "ghcnm.tavg.virtual.dat"
BOREHOLES_FILE = "boreholes.csv"
#: The manifest of planted defects: ``site_id, rule`` that QC must find.
PLANTED_FILE = "planted_defects.csv"

# what sample_sites needs of the world
_WORLD_METHODS = ("land", "ttop_at", "maat_at", "monthly_at", "years")


def read_demo_sites(context: SiteReadContext, *, seed_offset: int = 7) -> SiteInputs:
    """Sample the virtual world's sites and read them like real inputs.

    Parameters
    ----------
    context : SiteReadContext
        The run's grid, epochs, window and random state; ``context.world`` must be the virtual
        world (the run's covariate source).
    seed_offset : int
        The sites are sampled with ``random_state = context.random_state + seed_offset``
        (default 7).

    Returns
    -------
    SiteInputs
        ``raw``: the boreholes (with planted defects) followed by the non-permafrost stations;
        ``rendered``: the GHCN-M v4 ``.inv`` and ``.dat`` files (Latin-1 bytes), the borehole
        table and the planted-defect manifest (DataFrames), under the names of this module.

    Raises
    ------
    ConfigError
        ``context.world`` is not the virtual world, or ``context.grid`` is ``None``.
    """
    world = context.world
    if world is None or not all(hasattr(world, m) for m in _WORLD_METHODS):
        what = "missing" if world is None else f"a {type(world).__name__}"
        raise ConfigError(
            f'type = "demo" samples its sites from the virtual world, but the run\'s covariate '
            f'source is {what}, not the virtual world; set [covariates] source = "demo", or list '
            'your own site files as [[sites.inputs]] tables (type = "table", "gtnp", "permos" or '
            '"ghcn")'
        )
    if context.grid is None:
        raise ConfigError(
            'type = "demo" samples its sites on the run\'s grid, but none was given; read the '
            "demo input with the run's SiteReadContext (grid set), not while only checking inputs"
        )
    epochs = list(context.epochs)
    demo = sample_sites(
        world, context.grid, epochs, random_state=context.random_state + seed_offset
    )
    inv_text, dat_text = format_ghcnm(demo.stations, demo.station_monthly)
    inv_bytes, dat_bytes = inv_text.encode(GHCNM_ENCODING), dat_text.encode(GHCNM_ENCODING)
    inventory, monthly = parse_ghcnm(
        inv_bytes.decode(GHCNM_ENCODING),
        dat_bytes.decode(GHCNM_ENCODING),
        origins=(GHCNM_INV_FILE, GHCNM_DAT_FILE),
    )
    stations = stations_nonpermafrost(inventory, monthly, epochs, window=context.window_years)
    raw = pd.concat([demo.boreholes, stations], ignore_index=True)
    rendered: dict[str, bytes | str | pd.DataFrame] = {
        GHCNM_INV_FILE: inv_bytes,
        GHCNM_DAT_FILE: dat_bytes,
        BOREHOLES_FILE: demo.boreholes,
        PLANTED_FILE: demo.planted,
    }
    return SiteInputs(raw, rendered)
