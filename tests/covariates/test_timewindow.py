"""Temporal windows: years of an epoch, missing years listed, climatologies accepted."""

from __future__ import annotations

import logging

import pytest

from permamap.covariates.timewindow import check_years, window_years
from permamap.errors import ConfigError, DataError


def test_nine_year_window_is_centred() -> None:
    assert window_years(2020) == list(range(2016, 2025))
    assert window_years(2005, 5) == [2003, 2004, 2005, 2006, 2007]


@pytest.mark.parametrize("bad", [0, -3, 4, 2.5, True])
def test_bad_window_lengths_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError, match="window"):
        window_years(2000, bad)  # type: ignore[arg-type]


def test_missing_years_are_listed() -> None:
    with pytest.raises(DataError) as info:
        check_years(2020, 9, set(range(1990, 2022)), "wc2.1 tmin")
    msg = str(info.value)
    assert "[2022, 2023, 2024]" in msg and "wc2.1 tmin" in msg and "2016-2024" in msg


def test_climatology_is_valid_for_any_window(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert check_years(1900, 9, None, "NCEP LTM") == []
    assert "climatology" in caplog.text
