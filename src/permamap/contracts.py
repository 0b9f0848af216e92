"""The data contracts every stage shares: map bands, class and change codes, no-data values, tiles.

One place for the numbers written into files, so that the predictor, the change stage, the
report and a user's script agree on what a byte in a map means (``docs/contracts.md``).

>>> MAP_BANDS
('class', 'probability', 'uncertainty')
>>> CHANGE_CODES[2]
'degraded'
"""

from __future__ import annotations

__all__ = [
    "AOA_BAND",
    "CHANGE_CODES",
    "CHANGE_NODATA",
    "CLASS_NODATA",
    "DEFAULT_TILE",
    "EXPECTED_ACCURACY_BAND",
    "MAP_BANDS",
    "MAP_NODATA",
    "MAX_MEMBERS",
    "MEMBER_CLASSES_BAND",
    "M_PER_DEGREE",
    "TRUTH_NODATA",
]

MAP_NODATA = 255
"""No-data value of every band of a map (``maps/permafrost_<year>.tif``): ocean or a missing factor."""

CLASS_NODATA = MAP_NODATA
"""No-data value of the ``class`` and ``probability`` bands (the same byte as :data:`MAP_NODATA`)."""

MAP_BANDS: tuple[str, ...] = ("class", "probability", "uncertainty")
"""Bands every map carries, in order: class (1 permafrost, 0 not), probability (percent 0–100),
uncertainty (percentage points 0–50: 100 × the standard deviation of the calibrated probabilities
of a spatial block-bootstrap ensemble of the model; 255 when no ensemble was given)."""

AOA_BAND = "aoa"
"""Fourth band, written when the model carries an area-of-applicability reference (1 inside, 0 outside)."""

EXPECTED_ACCURACY_BAND = "expected_accuracy"
"""Fifth band, written with an error profile (needs the AOA): expected accuracy in percent (0–100)."""

MEMBER_CLASSES_BAND = "member_classes"
"""The one uint32 band of ``maps/members/members_<year>.tif``: bit k set = ensemble member k says
permafrost (its calibrated probability reaches the map's threshold); 0 where the map has no data."""

MAX_MEMBERS = 32
"""Most ensemble members a member-classes file can hold (one bit each in a uint32)."""

CHANGE_NODATA = 255
"""No-data value of a change map (``change/change_<a>_<b>.tif``): no data in either epoch."""

CHANGE_CODES: dict[int, str] = {
    0: "stable non-permafrost",
    1: "stable permafrost",
    2: "degraded",
    3: "aggraded",
}
"""Code → name of the change classes (class a → b: 0→0, 1→1, 1→0, 0→1)."""

TRUTH_NODATA = 255
"""No-data value (off land) of the virtual world's true map (``truth/permafrost_truth_<year>.tif``)."""

DEFAULT_TILE: tuple[int, int] = (512, 512)
"""Rows and columns of one tile of work when a caller does not say (the run config's ``[grid] tile``)."""

M_PER_DEGREE = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator) used for terrain gradients."""
