"""The ``[[sites.inputs]]`` machinery: one registry of site readers keyed by ``type``.

Every ``[[sites.inputs]]`` table of a run config names a reader by ``type`` and gives that
reader's keys. One path checks and reads them: :func:`parse_site_input` checks a table against
the reader's signature (unknown type, missing or unknown key, a value of the wrong type: a
:class:`~permamap.errors.ConfigError` naming the input, the value, the rule and the fix),
:func:`check_input_files` checks that its files exist, :func:`read_site_input` runs the reader
and prefixes its errors with the input. :func:`check_site_inputs` runs these steps at load and
returns a plan line per input; :func:`read_site_inputs` runs them in the site stage and
concatenates the raw site tables (docs/contracts.md). Real sources and the virtual world go through the same door:

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
permamap.errors.ConfigError: [[sites.inputs]] #1 has type = 'tabel', which is not a site reader (did you mean `table`?); use one of "climate_absences", "demo", "ghcn", "gtnp", "permos", "table"
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InputFileError
from ..grid import Grid
from ..keys import check_keys, did_you_mean
from .ghcn import read_ghcnm
from .gtnp import read_gtnp
from .labels import stations_nonpermafrost
from .permos import read_permos
from .table import read_table
from .values import EXAMPLES, check_value

__all__ = [
    "READ_IN_STAGE",
    "SITE_READERS",
    "SiteInputSpec",
    "SiteInputs",
    "SiteReadContext",
    "SiteReader",
    "check_input_files",
    "check_site_inputs",
    "describe_input",
    "parse_site_input",
    "parse_site_inputs",
    "read_site_input",
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
    grid : Grid or None
        The run's grid (``None`` while the inputs are only checked, see
        :func:`check_site_inputs`; only the ``demo`` reader uses it).
    epochs : tuple of int
        The run's epochs.
    window_years : int
        Years per epoch window.
    random_state : int
        The run's random state (``[run] seed``).
    world : object, optional
        The virtual world, when it is the run's covariate source; readers that need it check it.
    maat : callable, optional
        ``maat(lon, lat, epoch)``: the run's MAAT factor at points (None without one).
    is_land : callable, optional
        ``is_land(lon, lat)``: the run's land mask at points.
    """

    base_dir: Path
    grid: Grid | None
    epochs: tuple[int, ...]
    window_years: int
    random_state: int
    world: Any | None = None
    maat: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None
    is_land: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

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
    encoding: str = "utf-8",
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
            encoding=encoding,
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
    encoding: str = "utf-8",
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
            encoding=encoding,
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
    encoding: str = "utf-8",
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
            encoding=encoding,
        )
    )


def _climate_absences(
    context: SiteReadContext,
    /,
    *,
    n: int = 100,
    maat_min_c: float = 2.0,
    maat_max_c: float = 10.0,
    source: str = "climate_absences",
) -> SiteInputs:
    """Non-permafrost cells where the run's MAAT is in range (:func:`~.absences.climate_absences`)."""
    from .absences import climate_absences

    if context.grid is None or context.maat is None:
        raise ConfigError(
            'type = "climate_absences" draws cells whose MAAT factor lies in range, but the run '
            "has no maat factor; add a climate source ([covariates.real.climate]) or list "
            "non-permafrost sites in a table"
        )
    rows = climate_absences(
        context.grid,
        list(context.epochs),
        context.maat,
        context.is_land,
        n=n,
        maat_min_c=maat_min_c,
        maat_max_c=maat_max_c,
        source=source,
        random_state=context.random_state,
    )
    return SiteInputs(rows)


#: The site readers by ``type``.
SITE_READERS: dict[str, SiteReader] = {
    "climate_absences": _climate_absences,
    "demo": _demo,
    "ghcn": _ghcn,
    "gtnp": _gtnp,
    "permos": _permos,
    "table": _table,
}

#: Readers that need what only the site stage has (the virtual world, the run's stack), by type,
#: with the plan line :func:`check_site_inputs` shows for them: their keys are checked at load,
#: their sites are read when the stage runs.
READ_IN_STAGE: dict[str, str] = {
    "climate_absences": "non-permafrost cells where the run's MAAT lies in range, drawn when the "
    "site stage runs",
    "demo": "the virtual world's boreholes and weather stations, sampled when the site stage runs",
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


# -- checking a table ---------------------------------------------------------------------------


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


@dataclass(frozen=True)
class SiteInputSpec:
    """One ``[[sites.inputs]]`` table whose type, keys and values have been checked.

    Attributes
    ----------
    index : int
        Position in the config, 1-based (as messages show it).
    type : str
        A key of :data:`SITE_READERS`.
    keys : dict
        The reader's keyword arguments (the table without ``type``).
    """

    index: int
    type: str
    keys: dict[str, Any]

    @property
    def reader(self) -> SiteReader:
        """The reader function."""
        return SITE_READERS[self.type]

    @property
    def where(self) -> str:
        """How the user finds the table, e.g. ``[[sites.inputs]] #2 (type = "gtnp")``."""
        return f'[[sites.inputs]] #{self.index} (type = "{self.type}")'

    def files(self, base_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """The table's file keys resolved against ``base_dir``, in the reader's key order."""
        return {
            k: Path(base_dir) / self.keys[k]
            for k in reader_keys(self.reader)
            if k in PATH_KEYS and self.keys.get(k) is not None
        }

    def label(self) -> str:
        """The files of the input as the user wrote them, e.g. ``s.inv + s.dat``."""
        names = [str(self.keys[k]) for k in ("path", "data", "metadata") if self.keys.get(k)]
        return " + ".join(names) if names else "no file"


def parse_site_input(index: int, spec: Any) -> SiteInputSpec:
    """Check one ``[[sites.inputs]]`` table without reading any file.

    Parameters
    ----------
    index : int
        Its position in the config, 1-based.
    spec : mapping
        The table as loaded: ``type`` and the reader's keys.

    Returns
    -------
    SiteInputSpec

    Raises
    ------
    ConfigError
        Not a table, no or an unknown ``type``, an unknown or missing key, a value of the wrong
        type (each with the fix, and "did you mean" for near misses).

    Examples
    --------
    >>> parse_site_input(1, {"type": "permos", "path": "m.csv", "lon": 9.8, "lat": 46.4}).keys
    {'path': 'm.csv', 'lon': 9.8, 'lat': 46.4}
    >>> parse_site_input(2, {"type": "permos", "path": "m.csv", "lon": 9.8, "lat": "46.4"})
    Traceback (most recent call last):
    ...
    permamap.errors.ConfigError: [[sites.inputs]] #2 (type = "permos") has lat = '46.4', which is not a finite number (write it without quotes); write e.g. lat = 46.43
    """
    types = sorted(SITE_READERS)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"[[sites.inputs]] #{index} is {spec!r}, not a table; write each input as a "
            f'[[sites.inputs]] table with a type, e.g. type = "gtnp" and path = "boreholes.csv"'
        )
    kind = spec.get("type")
    if kind is None:
        raise ConfigError(
            f"[[sites.inputs]] #{index} has no `type`; add type = one of {_quoted(types)}"
        )
    if kind not in SITE_READERS:
        raise ConfigError(
            f"[[sites.inputs]] #{index} has type = {kind!r}, which is not a site reader"
            f"{did_you_mean(str(kind), types)}; use one of {_quoted(types)}"
        )
    reader = SITE_READERS[kind]
    allowed = reader_keys(reader)
    where = f'[[sites.inputs]] #{index} (type = "{kind}")'
    required = [k for k, req in allowed.items() if req]
    examples = {k: EXAMPLES.get(k, "...") for k in required}
    check_keys(spec, [*allowed, "type"], where, required=required, example=examples)
    keys = {k: v for k, v in spec.items() if k != "type"}
    params = inspect.signature(reader).parameters
    hints = typing.get_type_hints(reader)
    for k, v in keys.items():
        check_value(where, k, v, hints.get(k), params[k].default, path=k in PATH_KEYS)
    return SiteInputSpec(index, kind, keys)


def parse_site_inputs(specs: Sequence[Any]) -> list[SiteInputSpec]:
    """Check every ``[[sites.inputs]]`` table (see :func:`parse_site_input`); none may be missing."""
    if not specs:
        raise ConfigError(
            '[sites] has no inputs; add [[sites.inputs]] tables, e.g. type = "demo" for the '
            'virtual world\'s sites or type = "gtnp" with path = "boreholes.csv"'
        )
    return [parse_site_input(i, spec) for i, spec in enumerate(specs, start=1)]


def check_input_files(spec: SiteInputSpec, base_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`InputFileError` when a file the table names is missing, a folder or empty."""
    for key, path in spec.files(base_dir).items():
        written = spec.keys[key]
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise InputFileError(
                f'{spec.where} has {key} = "{written}", but {path} {what}; fix the path '
                f"(relative paths start at the config file's folder {Path(base_dir)})"
            )
        if path.stat().st_size == 0:
            raise InputFileError(
                f'{spec.where} has {key} = "{written}", but {path} is empty (0 bytes); export '
                "it again or remove the input"
            )


def read_site_input(spec: SiteInputSpec, context: SiteReadContext) -> SiteInputs:
    """Run the reader of one checked table; its errors are prefixed with the table they came from.

    Raises
    ------
    ConfigError, InputFileError, DataError
        The reader's own error, one line: ``[[sites.inputs]] #i (type = "..."): <message>``.
    """
    check_input_files(spec, context.base_dir)
    try:
        return spec.reader(context, **spec.keys)
    except (ConfigError, InputFileError, DataError) as exc:
        raise type(exc)(f"{spec.where}: {exc}") from exc


def describe_input(spec: SiteInputSpec, result: SiteInputs) -> str:
    """The plan line of an input that was read: its files and how many sites they gave.

    >>> spec = SiteInputSpec(1, "gtnp", {"path": "boreholes.csv"})
    >>> raw = pd.DataFrame({"site_id": ["g:a", "g:a", "g:b"], "label": [1, 1, None]})
    >>> describe_input(spec, SiteInputs(raw))  # doctest: +NORMALIZE_WHITESPACE
    '[[sites.inputs]] #1 gtnp: boreholes.csv, 2 sites (3 site rows, by epoch); 1 of its 3 site
    rows have no label and no MAGT (QC drops them as unclear_label)'
    """
    raw = result.raw
    n_rows = len(raw)
    n_sites = int(raw["site_id"].nunique()) if "site_id" in raw.columns else n_rows
    rows = f" ({n_rows} site rows, by epoch)" if n_rows != n_sites else ""
    sites = f"{n_sites} site{'' if n_sites == 1 else 's'}"
    line = f"[[sites.inputs]] #{spec.index} {spec.type}: {spec.label()}, {sites}{rows}"
    if spec.type == "ghcn":
        default = inspect.signature(spec.reader).parameters["maat_range"].default
        low, high = spec.keys.get("maat_range", default)
        line += f": stations with MAAT {low:g} to {high:g} °C, as non-permafrost sites"
    if n_sites == 0:
        return line + "; this input adds no site, check its file and keys"
    label = raw["label"] if "label" in raw.columns else pd.Series(pd.NA, index=raw.index)
    magt = raw["magt"] if "magt" in raw.columns else pd.Series(float("nan"), index=raw.index)
    unclear = int((label.isna() & pd.to_numeric(magt, errors="coerce").isna()).sum())
    if unclear:
        line += (
            f"; {unclear} of its {n_rows} site rows have no label and no MAGT (QC drops them "
            "as unclear_label)"
        )
    return line


def check_site_inputs(
    specs: Sequence[Mapping[str, Any]],
    base_dir: str | os.PathLike[str],
    epochs: Sequence[int],
    *,
    window_years: int = 9,
) -> list[str]:
    """Check every ``[[sites.inputs]]`` table in full, before any stage runs; return the plan lines.

    Every table is checked first (type, keys, values), then every file it names must exist, then
    each input is read with its reader — site files are small — so that a file that does not
    parse with its column mapping fails at load, with the same one-line error the site stage
    would give (:func:`read_site_inputs` runs the same steps). Inputs of the types in
    :data:`READ_IN_STAGE` (``demo``: sampled from the virtual world) have their keys checked only;
    whether the run has what they need is the caller's check.

    Parameters
    ----------
    specs : sequence of mapping
        The ``[[sites.inputs]]`` tables.
    base_dir : path
        The config file's folder (relative paths start there).
    epochs : sequence of int
        The run's epochs (the borehole and station readers label per epoch).
    window_years : int
        Years per epoch window (``[run] window_years``).

    Returns
    -------
    list of str
        One line per input, e.g. ``[[sites.inputs]] #1 gtnp: boreholes.csv, 42 sites``, then any
        note a reader gave.

    Raises
    ------
    ConfigError, InputFileError, DataError
        One line naming the input (index and type), the file, the value, the rule and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "lit.csv").write_text("name,lat,lon,pf\\nA,67.9,61.7,1\\nB,50.2,100.8,0\\n")
    >>> spec = {"type": "table", "path": "lit.csv", "columns": {"source_id": "name", "label": "pf"}}
    >>> check_site_inputs([spec, {"type": "demo"}], d, [2000])
    ['[[sites.inputs]] #1 table: lit.csv, 2 sites', "[[sites.inputs]] #2 demo: the virtual world's boreholes and weather stations, sampled when the site stage runs"]
    >>> check_site_inputs([{**spec, "columns": {"source_id": "nmae"}}], d, [2000])
    Traceback (most recent call last):
    ...
    permamap.errors.InputFileError: [[sites.inputs]] #1 (type = "table"): site table .../lit.csv has no column 'nmae' (columns.source_id) (did you mean `name`?); its columns are ['name', 'lat', 'lon', 'pf']: fix columns.source_id or the file's header
    """
    checked = parse_site_inputs(specs)
    for spec in checked:
        check_input_files(spec, base_dir)
    context = SiteReadContext(
        base_dir=Path(base_dir),
        grid=None,
        epochs=tuple(int(e) for e in epochs),
        window_years=window_years,
        random_state=0,
    )
    lines: list[str] = []
    for spec in checked:
        if spec.type in READ_IN_STAGE:
            lines.append(f"[[sites.inputs]] #{spec.index} {spec.type}: {READ_IN_STAGE[spec.type]}")
            continue
        result = read_site_input(spec, context)
        lines.append(describe_input(spec, result))
        lines.extend(result.notes)
    return lines


def read_site_inputs(specs: Sequence[Mapping[str, Any]], context: SiteReadContext) -> SiteInputs:
    """Read every ``[[sites.inputs]]`` table, in order, into one raw site table.

    The steps are those of :func:`check_site_inputs`: every table is checked before any file is
    touched and every file must exist before any is read, so a typo in the last input fails at
    once.

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
        No inputs, an unknown ``type``, a missing or unknown key, a value of the wrong type, two
        inputs that render the same file; a reader's own configuration error, prefixed with the
        input it came from.
    InputFileError, DataError
        A file is missing, empty, unreadable or in the wrong layout, or holds a value that cannot
        be parsed; prefixed with the input.
    """
    checked = parse_site_inputs(specs)
    for spec in checked:
        check_input_files(spec, context.base_dir)
    tables: list[pd.DataFrame] = []
    rendered: dict[str, bytes | str | pd.DataFrame] = {}
    origin: dict[str, int] = {}
    notes: list[str] = []
    for spec in checked:
        result = read_site_input(spec, context)
        for name, content in result.rendered.items():
            if name in rendered:
                raise ConfigError(
                    f"{spec.where} renders {name!r}, which input #{origin[name]} rendered "
                    "already; keep one of the two inputs"
                )
            rendered[name], origin[name] = content, spec.index
        tables.append(result.raw)
        notes.extend(result.notes)
    return SiteInputs(pd.concat(tables, ignore_index=True), rendered, notes)
