"""The site stage's outputs: the sites and the QC report written together, and their summary.

:func:`write_sites` writes the sites (GeoParquet) and the QC report (CSV) together, atomically,
to the paths the caller gives; :func:`summarize` counts kept and dropped rows per source and rule.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from .. import fileio
from ..errors import DataError
from . import qc
from .build import QC_REPORT_COLUMNS, SITE_COLUMNS

__all__ = ["summarize", "write_sites"]

logger = logging.getLogger(__name__)


def write_sites(
    sites: pd.DataFrame,
    qc_report: pd.DataFrame,
    sites_path: str | os.PathLike[str],
    qc_report_path: str | os.PathLike[str],
) -> dict[str, Path]:
    """Write the sites as GeoParquet (EPSG:4326 points) and the QC report as CSV.

    Both files are written to temporary names and renamed only when both succeeded
    (:func:`permamap.fileio.write_files_together`), so a failed run never leaves a half-written
    or mismatched pair.

    Parameters
    ----------
    sites, qc_report : DataFrame
        The two tables returned by :func:`build_sites`.
    sites_path, qc_report_path : path
        Final paths, e.g. :attr:`permamap.layout.RunLayout.sites` and
        :attr:`~permamap.layout.RunLayout.qc_report`; their folders are created.

    Returns
    -------
    dict
        ``{"sites": path, "qc_report": path}``.
    """
    import geopandas as gpd

    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    missing_qc = [c for c in QC_REPORT_COLUMNS if c not in qc_report.columns]
    if missing or missing_qc:
        raise DataError(
            f"cannot write sites: columns {missing} (sites) / {missing_qc} (qc report) are "
            "missing; pass the two tables returned by build_sites"
        )
    gdf = gpd.GeoDataFrame(
        sites.copy(),
        geometry=gpd.points_from_xy(sites["lon"], sites["lat"]),
        crs="EPSG:4326",
    )
    for c in gdf.columns:
        if gdf[c].dtype == object and c != "geometry":
            gdf[c] = gdf[c].astype("string")  # mixed provenance columns must not break Arrow
    paths = {"sites": Path(sites_path), "qc_report": Path(qc_report_path)}

    def _write_parquet(p: Path) -> None:
        gdf.to_parquet(p, index=False)

    def _write_csv(p: Path) -> None:
        qc_report.to_csv(p, index=False)

    fileio.write_files_together({paths["sites"]: _write_parquet, paths["qc_report"]: _write_csv})
    logger.info(
        "wrote %d sites to %s and %d QC entries to %s",
        len(sites),
        paths["sites"],
        len(qc_report),
        paths["qc_report"],
    )
    return paths


def summarize(sites: pd.DataFrame, qc_report: pd.DataFrame) -> pd.DataFrame:
    """Kept and reported rows per source and rule, ready to print.

    ``kept`` counts site-epoch rows in ``sites`` (``sites_kept`` distinct sites); every rule
    column counts QC report entries (rows before epoch expansion for the coordinate, label and
    epoch rules, site-epoch rows for the climate and duplicate rules). ``dropped`` sums the
    entries whose action is ``dropped``. The last row, ``total``, sums the sources.

    Examples
    --------
    >>> sites = pd.DataFrame({"site_id": ["a:1", "a:1", "b:1"], "source": ["a", "a", "b"]})
    >>> rep = pd.DataFrame({"source": ["a", "b"], "rule": ["in_sea", "swapped_coordinates"],
    ...                     "action": ["dropped", "changed"]})
    >>> print(summarize(sites, rep))  # doctest: +NORMALIZE_WHITESPACE
            kept  sites_kept  dropped  swapped_coordinates  in_sea
    source
    a          2           1        1                    0       1
    b          1           1        0                    1       0
    total      3           2        1                    1       1
    """
    kept = sites.groupby("source").agg(kept=("site_id", "size"), sites_kept=("site_id", "nunique"))
    dropped = qc_report[qc_report["action"] == "dropped"].groupby("source").size().rename("dropped")
    by_rule = qc_report.groupby(["source", "rule"]).size().unstack("rule", fill_value=0)
    rules = [r for r in qc.RULES if r in by_rule.columns]
    table = pd.concat([kept, dropped, by_rule[rules]], axis=1).fillna(0).astype(int)
    table.index.name = "source"
    table = table.sort_index()
    table.loc["total"] = table.sum()
    return table[["kept", "sites_kept", "dropped", *rules]]
