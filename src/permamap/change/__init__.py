"""Area statistics per epoch, change between epochs and comparison with a reference map.

This package owns the numbers that people quote from a permamap run, so it is strict about two
things the literature often gets wrong:

* **Area, not cell counts.** Every sum is in km² with exact cell areas on the WGS84 ellipsoid
  (:meth:`permamap.grid.Grid.cell_area_km2`); a cell at 80 °N counts about a third of one at 25 °N.
* **Region versus area.** Three different "how much permafrost" figures are kept apart by name:

  ``permafrost_region_km2``
      area of the cells with any permafrost (probability ≥ 1 %) — the "permafrost region"
      (Obu et al. 2021: ≈ 21 M km² in the Northern Hemisphere);
  ``permafrost_extent_km2``
      area of the cells classed as permafrost (band ``class`` = 1);
  ``probability_weighted_km2``
      Σ probability × cell area — the area actually underlain by permafrost (≈ 14 M km²).

The maths lives in small pure functions on arrays (:func:`area_sums`, :func:`change_classes`,
:func:`transition_area`, :func:`confusion_area`, :func:`agreement_stats`); the functions that read
maps (:func:`area_by_epoch`, :func:`transitions`, :func:`compare_with_reference`,
:func:`change_stage`) loop over :meth:`Grid.tiles` windows, so a continental 7,080 × 18,600 map
is never held in memory at once. Tables are returned, not written: the pipeline writes them; the
rasters (change maps, the reference on the grid) are streamed through :mod:`permamap.fileio`
into the paths the caller gives.

Modules, one concept each:

- :mod:`~permamap.change.maps`: opening and checking maps, reading class and probability blocks;
- :mod:`~permamap.change.areas`: area per epoch, latitude bands, elevation zones;
- :mod:`~permamap.change.regions`: user polygons on the grid;
- :mod:`~permamap.change.transitions`: change classes, transition areas, the change map;
- :mod:`~permamap.change.agreement`: confusion in km², agreement and kappa;
- :mod:`~permamap.change.reference`: a reference map on the grid and its comparison with a map;
- :mod:`~permamap.change.members`: the model ensemble's member files (checks, decoding bits);
- :mod:`~permamap.change.uncertainty`: areas and changes with 95 % intervals from the members;
- :mod:`~permamap.change.inputs`: header-level checks of the ``[change]`` inputs at config load;
- :mod:`~permamap.change.stage`: the change stage.

Change classes (``change_<a>_<b>.tif``, uint8, 255 = no data in either epoch;
:data:`permamap.contracts.CHANGE_CODES`):

====  ======================  ================
code  name                    class a → b
====  ======================  ================
0     stable non-permafrost   0 → 0
1     stable permafrost       1 → 1
2     degraded                1 → 0
3     aggraded                0 → 1
====  ======================  ================
"""

from __future__ import annotations

from ..contracts import CHANGE_CODES, CHANGE_NODATA, CLASS_NODATA
from .agreement import agreement_stats, confusion_area, confusion_table
from .areas import (
    AREA_COLUMNS,
    DEFAULT_ELEVATION_EDGES_M,
    area_by_epoch,
    area_sums,
    check_area_options,
    elevation_band,
)
from .inputs import check_change_inputs
from .maps import find_run_maps
from .members import MemberFiles, check_members, member_area
from .reference import (
    IPA_ZONE_PERCENT,
    REFERENCE_KINDS,
    ReferenceComparison,
    compare_with_reference,
    resample_reference,
)
from .stage import NO_ELEVATION_NOTE, ChangeResult, change_stage
from .transitions import change_classes, epoch_pairs, transition_area, transitions
from .uncertainty import (
    AreaIntervals,
    Estimate,
    area_intervals,
    normal_interval,
    uncertainty_summary,
)

__all__ = [
    "AREA_COLUMNS",
    "CHANGE_CODES",
    "CHANGE_NODATA",
    "CLASS_NODATA",
    "DEFAULT_ELEVATION_EDGES_M",
    "IPA_ZONE_PERCENT",
    "NO_ELEVATION_NOTE",
    "REFERENCE_KINDS",
    "AreaIntervals",
    "ChangeResult",
    "Estimate",
    "MemberFiles",
    "ReferenceComparison",
    "agreement_stats",
    "area_by_epoch",
    "area_intervals",
    "area_sums",
    "change_classes",
    "change_stage",
    "check_area_options",
    "check_change_inputs",
    "check_members",
    "compare_with_reference",
    "confusion_area",
    "confusion_table",
    "elevation_band",
    "epoch_pairs",
    "find_run_maps",
    "member_area",
    "normal_interval",
    "resample_reference",
    "transition_area",
    "transitions",
    "uncertainty_summary",
]
