"""The run folder: every path a run writes or reads, named once.

:class:`RunLayout` is the only place where the layout of a run folder is spelled out; the
pipeline, the CLI, the report and ``permamap map`` ask it for paths instead of joining strings::

    <root>/
      run.json                       config fingerprint and status (running / complete / failed at <stage>)
      summary.json                   the headline figures
      report.html
      sites/       sites.parquet, qc_report.csv, input/ (files a site reader rendered)
      covariates/  stack_<year>.tif, factors.csv
      models/      feature_table.parquet, cv_scores.csv, selection.json, model.skops, model_card.json,
                   ensemble.skops (the bootstrap refits behind the uncertainty band)
      maps/        permafrost_<year>.tif  (.tiles_permafrost_<year>/ while being predicted),
                   members/members_<year>.tif + .json (each ensemble member's class, one bit each)
      change/      area_by_epoch.csv, area_intervals.csv, transitions_<a>_<b>.csv, change_<a>_<b>.tif,
                   reference_on_grid.tif, reference_comparison.csv, reference_confusion_<year>.csv
      truth/       permafrost_truth_<year>.tif  (virtual world only)

    projections (``[projections]``; ``<s>_<p>`` is e.g. ``ssp585_2081-2100``):
      maps/future/     permafrost_<s>_<p>.tif + .json (GCM-mean map, per-GCM totals),
                       gcms/gcms_<s>_<p>.tif (each GCM's class, one bit each)
      change/future/   change_<baseline>_<s>_<p>.tif, transitions_<baseline>_<s>_<p>.csv
      change/          future_areas.csv (lost / stable / gained per zone)
      truth/future/    permafrost_truth_<s>_<p>.tif  (virtual world only)

>>> lay = RunLayout(Path("out/demo"))
>>> lay.map(2020).as_posix()
'out/demo/maps/permafrost_2020.tif'
>>> lay.change_map(2000, 2020).name
'change_2000_2020.tif'
>>> RunLayout.epoch_of_map(Path("maps/permafrost_2015.tif"))
2015
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout"]

# File names that carry epochs: (folder, name template). ``pattern()`` shows them to people.
_PER_EPOCH = {
    "stack": ("covariates", "stack_{year}.tif"),
    "map": ("maps", "permafrost_{year}.tif"),
    "members": ("maps/members", "members_{year}.tif"),
    "transitions": ("change", "transitions_{a}_{b}.csv"),
    "change_map": ("change", "change_{a}_{b}.tif"),
    "reference_confusion": ("change", "reference_confusion_{year}.csv"),
    "truth": ("truth", "permafrost_truth_{year}.tif"),
}
_MAP_RE = re.compile(r"^permafrost_(\d{4})\.tif$")
_CHANGE_RE = re.compile(r"^transitions_(\d{4})_(\d{4})\.csv$")


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run folder (a value object: it creates nothing).

    Parameters
    ----------
    root : Path
        The run folder (``[run] out`` of the config, ``--out`` on the command line).
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def _per_epoch(self, kind: str, **years: int) -> Path:
        folder, template = _PER_EPOCH[kind]
        return self.root / folder / template.format(**{k: int(v) for k, v in years.items()})

    @staticmethod
    def pattern(kind: str) -> str:
        """How people see a per-epoch file name, relative to the run folder.

        >>> RunLayout.pattern("transitions")
        'change/transitions_<a>_<b>.csv'
        """
        folder, template = _PER_EPOCH[kind]
        return f"{folder}/" + re.sub(r"\{(\w+)\}", r"<\1>", template)

    # ------------------------------------------------------------------ top level
    #: the names a run creates directly in its folder (``--overwrite`` removes only these)
    ENTRIES = (
        "run.json", "summary.json", "report.html",
        "sites", "covariates", "models", "maps", "change", "truth",
    )  # fmt: skip

    @property
    def run_record(self) -> Path:
        return self.root / "run.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    # ------------------------------------------------------------------ sites
    @property
    def sites_dir(self) -> Path:
        return self.root / "sites"

    @property
    def sites(self) -> Path:
        return self.sites_dir / "sites.parquet"

    @property
    def qc_report(self) -> Path:
        return self.sites_dir / "qc_report.csv"

    @property
    def site_inputs_dir(self) -> Path:
        return self.sites_dir / "input"

    # ------------------------------------------------------------------ covariates
    @property
    def covariates_dir(self) -> Path:
        return self.root / "covariates"

    def stack(self, epoch: int) -> Path:
        return self._per_epoch("stack", year=epoch)

    @property
    def factors(self) -> Path:
        return self.covariates_dir / "factors.csv"

    # ------------------------------------------------------------------ models
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def feature_table(self) -> Path:
        return self.models_dir / "feature_table.parquet"

    @property
    def cv_scores(self) -> Path:
        return self.models_dir / "cv_scores.csv"

    @property
    def selection(self) -> Path:
        return self.models_dir / "selection.json"

    @property
    def model(self) -> Path:
        return self.models_dir / "model.skops"

    @property
    def model_card(self) -> Path:
        return self.models_dir / "model_card.json"

    @property
    def ensemble(self) -> Path:
        return self.models_dir / "ensemble.skops"

    # ------------------------------------------------------------------ maps
    @property
    def maps_dir(self) -> Path:
        return self.root / "maps"

    def map(self, epoch: int) -> Path:
        return self._per_epoch("map", year=epoch)

    def members(self, epoch: int) -> Path:
        return self._per_epoch("members", year=epoch)

    def find_maps(self) -> dict[int, Path]:
        """Epoch → map of every ``permafrost_<year>.tif`` present in ``maps/``, in epoch order."""
        if not self.maps_dir.is_dir():
            return {}
        found = {}
        for p in self.maps_dir.iterdir():
            m = _MAP_RE.match(p.name)
            if m and p.is_file():
                found[int(m.group(1))] = p
        return dict(sorted(found.items()))

    @staticmethod
    def epoch_of_map(path: Path) -> int | None:
        """The year in a map's file name (``permafrost_<year>.tif``), or None for another name."""
        m = _MAP_RE.match(Path(path).name)
        return int(m.group(1)) if m else None

    # ------------------------------------------------------------------ change
    @property
    def change_dir(self) -> Path:
        return self.root / "change"

    @property
    def area_by_epoch(self) -> Path:
        return self.change_dir / "area_by_epoch.csv"

    @property
    def area_intervals(self) -> Path:
        return self.change_dir / "area_intervals.csv"

    def transitions(self, a: int, b: int) -> Path:
        return self._per_epoch("transitions", a=a, b=b)

    def change_map(self, a: int, b: int) -> Path:
        return self._per_epoch("change_map", a=a, b=b)

    def find_transitions(self) -> dict[tuple[int, int], Path]:
        """(a, b) → ``transitions_<a>_<b>.csv`` present in ``change/``, in time order."""
        if not self.change_dir.is_dir():
            return {}
        found = {}
        for p in self.change_dir.iterdir():
            m = _CHANGE_RE.match(p.name)
            if m and p.is_file():
                found[(int(m.group(1)), int(m.group(2)))] = p
        return dict(sorted(found.items()))

    @property
    def reference_on_grid(self) -> Path:
        return self.change_dir / "reference_on_grid.tif"

    @property
    def reference_comparison(self) -> Path:
        return self.change_dir / "reference_comparison.csv"

    def reference_confusion(self, epoch: int) -> Path:
        return self._per_epoch("reference_confusion", year=epoch)

    # ------------------------------------------------------------------ truth (virtual world)
    @property
    def truth_dir(self) -> Path:
        return self.root / "truth"

    def truth(self, epoch: int) -> Path:
        return self._per_epoch("truth", year=epoch)

    # ------------------------------------------------------------------ projections
    @property
    def future_dir(self) -> Path:
        return self.maps_dir / "future"

    def future_map(self, scenario: str, period: str) -> Path:
        """``maps/future/permafrost_<scenario>_<period>.tif``."""
        return self.future_dir / f"permafrost_{scenario}_{period}.tif"

    def future_gcms(self, scenario: str, period: str) -> Path:
        """``maps/future/gcms/gcms_<scenario>_<period>.tif``: bit k = GCM k says permafrost."""
        return self.future_dir / "gcms" / f"gcms_{scenario}_{period}.tif"

    def future_change_map(self, baseline: int, scenario: str, period: str) -> Path:
        return self.change_dir / "future" / f"change_{int(baseline)}_{scenario}_{period}.tif"

    def future_transitions(self, baseline: int, scenario: str, period: str) -> Path:
        return self.change_dir / "future" / f"transitions_{int(baseline)}_{scenario}_{period}.csv"

    @property
    def future_areas(self) -> Path:
        return self.change_dir / "future_areas.csv"

    def future_truth(self, scenario: str, period: str) -> Path:
        return self.truth_dir / "future" / f"permafrost_truth_{scenario}_{period}.tif"

    def relative(self, path: Path) -> str:
        """``path`` relative to the run folder, POSIX style (how files are named in reports)."""
        return Path(path).relative_to(self.root).as_posix()
