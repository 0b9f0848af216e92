"""``type = "climate_absences"``: non-permafrost cells where the run's MAAT lies in range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from permamap.errors import ConfigError, DataError
from permamap.grid import Grid
from permamap.sites.absences import climate_absences
from permamap.sites.inputs import SiteReadContext, read_site_inputs

GRID = Grid.from_bounds((0, 40, 20, 60), res=0.5)


def _maat(lon: np.ndarray, lat: np.ndarray, epoch: int) -> np.ndarray:
    """34 °C − 0.6 · lat, +1 °C in 2020: 10 °C at 40 °N, 2 °C at ~53.3 °N (2000)."""
    return 34.0 - 0.6 * np.asarray(lat) + (1.0 if epoch == 2020 else 0.0)


def test_cells_lie_in_range_on_land_one_row_per_epoch_in_range() -> None:
    west_is_sea = lambda lon, lat: np.asarray(lon) >= 5.0  # noqa: E731
    rows = climate_absences(GRID, [2000, 2020], _maat, west_is_sea, n=40, random_state=3)
    assert rows.site_id.nunique() == 40
    assert (rows.label == 0).all() and (rows.kind == "other").all()
    assert (rows.label_from == "climate_absence").all()
    assert (rows.lon >= 5.0).all()  # never in the sea
    assert rows.maat.between(2.0, 10.0).all()
    assert np.allclose(rows.maat, _maat(rows.lon, rows.lat, 0) + (rows.year == 2020))
    # a cell whose MAAT is in range in one epoch only has that epoch's row only
    per_site = rows.groupby("site_id").year.apply(set)
    lat_of = rows.groupby("site_id").lat.first()
    for site, years in per_site.items():
        in_range = {e for e in (2000, 2020) if 2 <= _maat(0, lat_of[site], e) <= 10}
        assert years == in_range
    again = climate_absences(GRID, [2000, 2020], _maat, west_is_sea, n=40, random_state=3)
    assert rows.equals(again)  # seeded


def test_none_in_range_is_a_data_error_and_bad_settings_are_config_errors() -> None:
    cold = lambda lon, lat, epoch: np.full(np.shape(lon), -20.0)  # noqa: E731
    with pytest.raises(DataError, match="no land cell of the grid has MAAT in"):
        climate_absences(GRID, [2000], cold, None, n=5)
    with pytest.raises(ConfigError, match="maat_min_c = 10"):
        climate_absences(GRID, [2000], _maat, None, n=5, maat_min_c=10, maat_max_c=2)


def test_the_reader_needs_the_runs_maat_factor(tmp_path: Path) -> None:
    spec = {"type": "climate_absences", "n": 10}
    context = SiteReadContext(tmp_path, GRID, (2000,), 9, 0)
    with pytest.raises(ConfigError, match="has no maat factor"):
        read_site_inputs([spec], context)
    with_maat = SiteReadContext(tmp_path, GRID, (2000,), 9, 0, maat=_maat)
    raw = read_site_inputs([spec], with_maat).raw
    assert len(raw) == 10 and (raw.source == "climate_absences").all()
