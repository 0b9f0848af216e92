"""The ``[[sites.inputs]]`` machinery: one registry of site readers keyed by ``type``.

Every ``[[sites.inputs]]`` table of a run config names a reader by ``type`` and gives that
reader's keys; :func:`read_site_inputs` checks every table against the reader's signature
(unknown type, missing or unknown key: a :class:`~permamap.errors.ConfigError` naming the input,
the value, the rule and the fix), calls the readers in order and concatenates their raw site
tables (docs/contracts.md). Real sources and the virtual world go through the same door:

=========  ==================================================================================
type       reader
=========  ==================================================================================
demo       the virtual world's boreholes and weather stations
           (:func:`permamap.demo.site_reader.read_demo_sites`; needs the virtual world as the
           run's covariate source)
ghcn       GHCN-M v4 stations (``path`` = ``.inv``, ``data`` = ``.dat``) →
           :func:`~permamap.sites.stations_nonpermafrost`
gtnp       a GTN-P export (:func:`~permamap.sites.read_gtnp`)
permos     a PERMOS borehole file (:func:`~permamap.sites.read_permos`)
table      any CSV / GeoPackage / GeoParquet table (:func:`~permamap.sites.read_table`)
=========  ==================================================================================

A reader is a function ``reader(context, /, *, key=default, ...) -> SiteInputs``: its keyword-only
parameters are exactly the keys its table may hold (those without a default are required), and
the :class:`SiteReadContext` carries what the run supplies (config folder, grid, epochs, window,
random state, virtual world). Relative paths resolve against the config file's folder. Files a
reader renders (the demo's GHCN-M files and borehole table) come back in
:attr:`SiteInputs.rendered`; the pipeline keeps them under the run folder's ``sites/input/``.

Examples
--------
>>> import tempfile, pathlib
>>> from permamap.grid import Grid
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "lit.csv").write_text("name,lat,lon,pf\\nA,67.9,61.7,1\\n")
>>> context = SiteReadContext(base_dir=d, grid=Grid.from_bounds((25, 25, 180, 84), res=1),
...                           epochs=(2000,), window_years=9, random_state=0)
>>> spec = {"type": "table", "path": "lit.csv", "columns": {"source_id": "name", "label": "pf"}}
>>> read_site_inputs([spec], context).raw[["site_id", "lon", "lat", "label"]].to_numpy().tolist()
[['table:lit:A', 61.7, 67.9, 1]]
>>> read_site_inputs([{"type": "tabel", "path": "lit.csv"}], context)
Traceback (most recent call last):
...
permamap.errors.ConfigError: [[sites.inputs]] #1 has type = 'tabel', which is not a site reader; use one of "demo", "ghcn", "gtnp", "permos", "table" (did you mean "table"?)
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..errors import ConfigError
from ..grid import Grid
from .ghcn import read_ghcnm
from .gtnp import read_gtnp
from .labels import stations_nonpermafrost
from .permos import read_permos
from .table import read_table

__all__ = [
    "SITE_READERS",
    "SiteInputs",
    "SiteReadContext",
    "SiteReader",
    "read_site_inputs",
    "reader_keys",
]

#: Keys that name files: they must be strings and resolve against the config file's folder.
PATH_KEYS = frozenset({"path", "data", "metadata"})


@dataclass(frozen=True)
class SiteReadContext:
    """What the run supplies to every site reader.

    Attributes
    ----------
    base_dir : Path
        Folder that relative paths resolve against (the config file's folder).
    grid : Grid
        The run's grid.
    epochs : tuple of int
        The run's epochs.
    window_years : int
        Years per epoch window.
    random_state : int
        The run's random state (``[run] seed``).
    world : object, optional
        The virtual world, when it is the run's covariate source; readers that need it check it.
    """

    base_dir: Path
    grid: Grid
    epochs: tuple[int, ...]
    window_years: int
    random_state: int
    world: Any | None = None

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """``path`` relative to :attr:`base_dir` (an absolute path stays as it is)."""
        return Path(self.base_dir) / path


@dataclass(frozen=True, eq=False)
class SiteInputs:
    """What site readers produced.

    Attributes
    ----------
    raw : DataFrame
        The raw site table (docs/contracts.md); for several inputs, their tables concatenated in
        order.
    rendered : dict
        Files a reader produced that the run folder keeps under ``sites/input/``, by file name:
        ``bytes`` are written as they are, ``str`` as UTF-8 text, a DataFrame as CSV without
        the index.
    notes : list of str
        What the user should see in the console and the report.
    """

    raw: pd.DataFrame
    rendered: dict[str, bytes | str | pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: A site reader: ``reader(context, /, *, key=default, ...) -> SiteInputs``.
SiteReader = Callable[..., SiteInputs]


# -- the readers --------------------------------------------------------------------------------
# Their keyword-only parameters are the keys of the config table; the defaults repeat those of
# the library functions they call (a test checks that they agree).


def _demo(context: SiteReadContext, /, *, seed_offset: int = 7) -> SiteInputs:
    """The virtual world's sites (see :func:`permamap.demo.site_reader.read_demo_sites`)."""
    from ..demo.site_reader import read_demo_sites

    return read_demo_sites(context, seed_offset=seed_offset)


def _ghcn(
    context: SiteReadContext,
    /,
    *,
    path: str,
    data: str,
    maat_range: tuple[float, float] = (2.0, 10.0),
    min_years: int = 5,
    source: str = "ghcn",
    drop_qc_flagged: bool = True,
) -> SiteInputs:
    """GHCN-M v4 stations with a warm MAAT as non-permafrost sites.

    ``path`` is the ``.inv`` inventory, ``data`` the ``.dat`` file.
    """
    inventory, monthly = read_ghcnm(context.resolve(path), context.resolve(data))
    return SiteInputs(
        stations_nonpermafrost(
            inventory,
            monthly,
            list(context.epochs),
            window=context.window_years,
            maat_range=maat_range,
            min_years=min_years,
            source=source,
            drop_qc_flagged=drop_qc_flagged,
        )
    )


def _gtnp(
    context: SiteReadContext,
    /,
    *,
    path: str,
    metadata: str | None = None,
    source: str = "gtnp",
    window: int = 9,
    depth_m: float | None = None,
    threshold_c: float = 0.0,
    min_days_per_month: int = 20,
    min_months_harmonic: int = 7,
) -> SiteInputs:
    """A GTN-P export (see :func:`~permamap.sites.read_gtnp`)."""
    return SiteInputs(
        read_gtnp(
            context.resolve(path),
            None if metadata is None else context.resolve(metadata),
            source=source,
            epochs=list(context.epochs),
            window=window,
            depth_m=depth_m,
            threshold_c=threshold_c,
            min_days_per_month=min_days_per_month,
            min_months_harmonic=min_months_harmonic,
        )
    )


def _permos(
    context: SiteReadContext,
    /,
    *,
    path: str,
    lon: float,
    lat: float,
    borehole: str | None = None,
    source: str = "permos",
    missing_values: Sequence[float] = (-999.0, -9999.0),
    window: int = 9,
    depth_m: float | None = None,
    threshold_c: float = 0.0,
    min_days_per_month: int = 20,
    min_months_harmonic: int = 7,
) -> SiteInputs:
    """A PERMOS borehole file (see :func:`~permamap.sites.read_permos`)."""
    return SiteInputs(
        read_permos(
            context.resolve(path),
            lon=lon,
            lat=lat,
            borehole=borehole,
            source=source,
            missing_values=missing_values,
            epochs=list(context.epochs),
            window=window,
            depth_m=depth_m,
            threshold_c=threshold_c,
            min_days_per_month=min_days_per_month,
            min_months_harmonic=min_months_harmonic,
        )
    )


def _table(
    context: SiteReadContext,
    /,
    *,
    path: str,
    columns: Mapping[str, str] | None = None,
    source: str | None = None,
    kind: str = "other",
    layer: str | None = None,
    on_missing_coordinates: Literal["raise", "keep"] = "raise",
) -> SiteInputs:
    """A generic site table (see :func:`~permamap.sites.read_table`)."""
    return SiteInputs(
        read_table(
            context.resolve(path),
            columns,
            source=source,
            kind=kind,
            layer=layer,
            on_missing_coordinates=on_missing_coordinates,
        )
    )


#: The site readers by ``type``.
SITE_READERS: dict[str, SiteReader] = {
    "demo": _demo,
    "ghcn": _ghcn,
    "gtnp": _gtnp,
    "permos": _permos,
    "table": _table,
}


def reader_keys(reader: SiteReader) -> dict[str, bool]:
    """The config keys a reader takes, each with whether it is required (no default).

    Examples
    --------
    >>> reader_keys(SITE_READERS["permos"])["lon"], reader_keys(SITE_READERS["permos"])["source"]
    (True, False)
    """
    return {
        name: p.default is inspect.Parameter.empty
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _check_spec(i: int, spec: Any) -> tuple[str, SiteReader, dict[str, Any]]:
    """The reader and its keyword arguments for input number ``i`` (1-based), or a ConfigError."""
    types = sorted(SITE_READERS)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"[[sites.inputs]] #{i} is {spec!r}, not a table; write each input as a "
            f'[[sites.inputs]] table with a type, e.g. type = "gtnp" and path = "boreholes.csv"'
        )
    keys = dict(spec)
    kind = keys.pop("type", None)
    if kind is None:
        raise ConfigError(
            f"[[sites.inputs]] #{i} has no `type`; add type = one of {_quoted(types)}"
        )
    if kind not in SITE_READERS:
        close = difflib.get_close_matches(str(kind), types, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise ConfigError(
            f"[[sites.inputs]] #{i} has type = {kind!r}, which is not a site reader; use one "
            f"of {_quoted(types)}{hint}"
        )
    reader = SITE_READERS[kind]
    allowed = reader_keys(reader)
    where = f'[[sites.inputs]] #{i} (type = "{kind}")'
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), list(allowed), n=1)
            if close:
                hints.append(f"{close[0]!r} for {k!r}")
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ConfigError(
            f"{where} has unknown key(s) {unknown}{hint}; a {kind!r} input takes only "
            f"{list(allowed) or 'no keys'}: remove or rename the key"
        )
    missing = [k for k, required in allowed.items() if required and k not in keys]
    if missing:
        first = missing[0]
        needed = [k for k, required in allowed.items() if required]
        fix = (
            'add the file to read, e.g. path = "boreholes.csv"'
            if first == "path"
            else f"add {first} = ... (a {kind!r} input needs {needed})"
        )
        raise ConfigError(f"{where} lacks `{first}`; {fix}")
    for k in PATH_KEYS & set(keys):
        if not isinstance(keys[k], str | os.PathLike):
            raise ConfigError(
                f"{where} has {k} = {keys[k]!r}, which is not a file path; write it as a string, "
                f'e.g. {k} = "sites/boreholes.csv" (relative to the config file\'s folder)'
            )
    return kind, reader, keys


def read_site_inputs(specs: Sequence[Mapping[str, Any]], context: SiteReadContext) -> SiteInputs:
    """Read every ``[[sites.inputs]]`` table, in order, into one raw site table.

    Every table is checked before any file is read, so a typo in the last input fails at once.

    Parameters
    ----------
    specs : sequence of mapping
        The ``[[sites.inputs]]`` tables: ``type`` (a key of :data:`SITE_READERS`) and the
        reader's keys (see :func:`reader_keys`).
    context : SiteReadContext
        What the run supplies.

    Returns
    -------
    SiteInputs
        The raw tables concatenated in order, every file the readers rendered, their notes.

    Raises
    ------
    ConfigError
        No inputs, an unknown ``type``, a missing or unknown key, two inputs that render the same
        file; a reader's own configuration error, prefixed with the input it came from.
    """
    if not specs:
        raise ConfigError(
            '[sites] has no inputs; add [[sites.inputs]] tables, e.g. type = "demo" for the '
            'virtual world\'s sites or type = "gtnp" with path = "boreholes.csv"'
        )
    checked = [_check_spec(i, spec) for i, spec in enumerate(specs, start=1)]
    tables: list[pd.DataFrame] = []
    rendered: dict[str, bytes | str | pd.DataFrame] = {}
    origin: dict[str, int] = {}
    notes: list[str] = []
    for i, (kind, reader, keys) in enumerate(checked, start=1):
        try:
            result = reader(context, **keys)
        except ConfigError as exc:
            raise ConfigError(f'[[sites.inputs]] #{i} (type = "{kind}"): {exc}') from exc
        for name, content in result.rendered.items():
            if name in rendered:
                raise ConfigError(
                    f'[[sites.inputs]] #{i} (type = "{kind}") renders {name!r}, which input '
                    f"#{origin[name]} rendered already; keep one of the two inputs"
                )
            rendered[name], origin[name] = content, i
        tables.append(result.raw)
        notes.extend(result.notes)
    return SiteInputs(pd.concat(tables, ignore_index=True), rendered, notes)
