"""Report figures: small multiples, units on colour bars, change colours, CV and area charts."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from permamap.change.maps import CHANGE_COLORMAP, CHANGE_COLORS
from permamap.contracts import CHANGE_CODES, CHANGE_NODATA
from permamap.errors import DataError, InputFileError
from permamap.report import figures
from permamap.report.figures import (
    CHANGE_STYLE,
    RasterView,
    area_figure,
    cv_figure,
    raster_figure,
    read_raster_view,
    small_multiples,
)

TRANSFORM = rasterio.transform.from_origin(60, 75, 1.0, 1.0)


def _raster(path: Path, bands: dict[str, np.ndarray], dtype: str = "uint8", nodata=255) -> Path:
    """A 20 × 40 lon/lat raster whose bands are described by the keys of ``bands``."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype=dtype,
        count=len(bands),
        height=20,
        width=40,
        crs="EPSG:4326",
        transform=TRANSFORM,
        nodata=nodata,
    ) as dst:
        for i, (name, arr) in enumerate(bands.items(), start=1):
            dst.write(arr.astype(dtype), i)
            if name:
                dst.set_band_description(i, name)
    return path


def _colorbar_labels(fig: Figure) -> list[str]:
    return [ax.get_xlabel() or ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _map_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]


# -- colours ---------------------------------------------------------------------------------------
def _linear(hex_color: str) -> np.ndarray:
    c = np.array(to_rgb(hex_color))
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear sRGB, by the textbook formulas."""
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = m @ np.clip(linear_rgb, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


# Machado, Oliveira & Fernandes (2009), severity 1: dichromat vision in linear RGB
PROTANOPIA = np.array(
    [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ]
)
DEUTERANOPIA = np.array(
    [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ]
)


def test_lab_helper_has_known_values() -> None:
    assert _lab(_linear("#ffffff"))[0] == pytest.approx(100.0, abs=0.01)
    assert _lab(_linear("#000000"))[0] == pytest.approx(0.0, abs=0.01)
    assert _lab(_linear("#777777"))[0] == pytest.approx(50.03, abs=0.05)


def test_change_colours_differ_in_lightness_and_not_only_red_green() -> None:
    assert set(CHANGE_COLORS) == {0, 1, 2, 3}
    lab = {code: _lab(_linear(color)) for code, color in CHANGE_COLORS.items()}
    for a, b in itertools.combinations(lab, 2):
        d = lab[a] - lab[b]
        assert abs(d[0]) >= 15, (a, b, d)
        # remove the red–green axis a*: the colours still differ by lightness and blue–yellow
        assert np.hypot(d[0], d[2]) >= 15, (a, b, d)
        for vision in (PROTANOPIA, DEUTERANOPIA):
            seen = _lab(vision @ _linear(CHANGE_COLORS[a])) - _lab(
                vision @ _linear(CHANGE_COLORS[b])
            )
            assert np.linalg.norm(seen) >= 15, (a, b, seen)


def test_change_colours_have_one_definition_and_labels_by_code() -> None:
    for code, (label, color) in CHANGE_STYLE.items():
        assert label == CHANGE_CODES[code]
        assert color == CHANGE_COLORS[code]
        r, g, b = (round(255 * v) for v in to_rgb(color))
        assert CHANGE_COLORMAP[code] == (r, g, b, 255)
    assert CHANGE_COLORMAP[CHANGE_NODATA][3] == 0  # no data is transparent


# -- colour bars and units -------------------------------------------------------------------------
def _view(description: str, unit: str = "") -> RasterView:
    data = np.ma.masked_invalid(np.linspace(-5, 5, 200).reshape(10, 20))
    return RasterView(data, (60, 65, 80, 75), "EPSG:4326", description, {}, 1, unit)


@pytest.mark.parametrize(
    ("description", "unit", "label"),
    [
        ("maat", "degC", "maat (degC)"),
        ("probability", "", "permafrost probability (%)"),
        ("uncertainty", "", "uncertainty (percentage points: 100 × ensemble sd of p)"),
        ("ndvi", "1", "ndvi (dimensionless)"),
        ("snow_days", "", "snow_days (no unit recorded)"),
    ],
)
def test_raster_figure_colour_bar_names_the_unit(description: str, unit: str, label: str) -> None:
    fig = raster_figure(_view(description, unit), coastlines="none")
    (text,) = _colorbar_labels(fig)
    assert text.startswith(label + " — ")


# -- small multiples -------------------------------------------------------------------------------
def _epoch_maps(folder: Path) -> dict[str, Path]:
    """Three maps whose probability is band 3 (not band 1), with 10, 50 and 90 % in the land."""
    out = {}
    for year, p in ((2000, 10), (2010, 50), (2020, 90)):
        prob = np.full((20, 40), p)
        prob[:, :5] = 255  # sea in the west
        cls = np.where(prob == 255, 255, prob >= 50)
        out[str(year)] = _raster(
            folder / f"permafrost_{year}.tif",
            {"class": cls, "aoa": np.ones((20, 40)), "probability": prob},
        )
    return out


def test_small_multiples_one_panel_per_epoch_one_shared_colour_bar(tmp_path: Path) -> None:
    fig = small_multiples(_epoch_maps(tmp_path), coastlines="none")
    panels = _map_axes(fig)
    assert [ax.get_title() for ax in panels] == ["2000", "2010", "2020"]
    assert _colorbar_labels(fig) == ["permafrost probability (%) — grey: no data / ocean"]
    images = [ax.get_images()[0] for ax in panels]
    assert {im.get_clim() for im in images} == {(0.0, 100.0)}
    # the band read is the one described "probability" (band 3): 10, 50, 90 % on land
    assert [float(im.get_array().max()) for im in images] == [10.0, 50.0, 90.0]
    assert all(im.get_array().mask[:, :5].all() for im in images)


def test_small_multiples_shares_a_stretch_across_panels(tmp_path: Path) -> None:
    a = _raster(tmp_path / "a.tif", {"maat": np.full((20, 40), -8.0)}, "float32", -9999)
    b = _raster(tmp_path / "b.tif", {"maat": np.full((20, 40), 2.0)}, "float32", -9999)
    fig = small_multiples({"a": a, "b": b}, "maat", coastlines="none")
    clims = {ax.get_images()[0].get_clim() for ax in _map_axes(fig)}
    assert clims == {(-8.0, 2.0)}
    assert _colorbar_labels(fig) == ["maat (no unit recorded) — grey: no data / ocean"]


def test_small_multiples_of_classes_has_one_legend_and_no_colour_bar(tmp_path: Path) -> None:
    fig = small_multiples(_epoch_maps(tmp_path), "class", coastlines="none", ncols=2)
    assert _colorbar_labels(fig) == []
    assert len(_map_axes(fig)) == 3  # 2 × 2 grid, the fourth cell hidden
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "not permafrost",
        "permafrost",
        "no data / ocean",
    ]


def test_small_multiples_band_by_name_errors_and_fallback(tmp_path: Path) -> None:
    maps = _epoch_maps(tmp_path)
    with pytest.raises(InputFileError, match=r"no band of .*permafrost_2000.tif is described 'sd'"):
        small_multiples(maps, "sd", coastlines="none")
    with pytest.raises(DataError, match="no rasters"):
        small_multiples({}, coastlines="none")
    single = _raster(tmp_path / "single.tif", {"": np.full((20, 40), 30)})
    assert read_raster_view(single, "probability").band == 1  # its only, undescribed band
    bare = _raster(tmp_path / "bare.tif", {"": np.ones((20, 40)), " ": np.full((20, 40), 70)})
    assert read_raster_view(bare, "probability").band == 2  # contract order class, probability


# -- cross-validation ------------------------------------------------------------------------------
CV_MEANS = {  # model → (random mean, spatial mean) of accuracy
    "forest": (0.96, 0.93),
    "logistic": (0.95, 0.91),
    "boosting": (0.97, 0.94),
}


def _cv_table() -> pd.DataFrame:
    rows = []
    for model, means in CV_MEANS.items():
        for scheme, mean in zip(("random", "spatial"), means, strict=True):
            for fold, delta in enumerate((-0.005, 0.0, 0.005)):
                rows.append((model, scheme, 0, fold, "accuracy", mean + delta))
                rows.append((model, scheme, 0, fold, "brier", 1 - mean - delta))
    return pd.DataFrame(rows, columns=["model", "scheme", "repeat", "fold", "metric", "value"])


def _axes(fig: Figure, label: str):
    (ax,) = [ax for ax in fig.axes if ax.get_label() == label]
    return ax


def test_cv_figure_zooms_sorts_and_draws_the_gap() -> None:
    fig = cv_figure(_cv_table(), chosen="forest")
    lo, hi = _axes(fig, "cv-accuracy").get_ylim()
    assert 0.85 < lo < 0.90 and 0.975 < hi <= 1.0  # zoomed to 0.90–0.975, not 0–1
    gap_ax = _axes(fig, "cv-gap-accuracy")
    names = [t.get_text() for t in gap_ax.get_xticklabels()]
    assert names == ["boosting", "forest (chosen)", "logistic"]  # best spatial score first
    heights = [bar.get_height() for bar in gap_ax.containers[0]]
    assert heights == pytest.approx([0.03, 0.03, 0.04])
    bold = [t.get_text() for t in gap_ax.get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["forest (chosen)"]
    # brier: lower is better, the same model order (by the first metric), a negative gap
    brier_gap = [bar.get_height() for bar in _axes(fig, "cv-gap-brier").containers[0]]
    assert brier_gap == pytest.approx([-0.03, -0.03, -0.04])
    assert "lower is better" in _axes(fig, "cv-brier").get_title()


def test_cv_figure_refuses_unknown_metric_and_model() -> None:
    with pytest.raises(DataError, match=r"metric\(s\) \['kappa'\] not in the cv_scores table"):
        cv_figure(_cv_table(), ["kappa"])
    with pytest.raises(DataError, match="chosen model 'svm' is not in the cv_scores table"):
        cv_figure(_cv_table(), chosen="svm")
    assert figures.cv_summary(_cv_table())["n"].eq(3).all()


# -- area ------------------------------------------------------------------------------------------
def test_area_figure_labels_the_unit_and_scales_the_values() -> None:
    big = pd.DataFrame(
        {
            "epoch": [2000, 2010],
            "domain": "all",
            "permafrost_extent_km2": [3.2e6, 2.9e6],
            "probability_weighted_km2": [2.8e6, 2.5e6],
        }
    )
    ax = area_figure(big).axes[0]
    assert ax.get_ylabel() == "permafrost area (million km²)"
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([3.2, 2.9])
    small = pd.DataFrame({"epoch": [2000, 2010], "permafrost_extent_km2": [31_000.0, 29_000.0]})
    ax = area_figure(small).axes[0]
    assert ax.get_ylabel() == "permafrost area (km²)"
    assert list(ax.get_lines()[0].get_ydata()) == [31_000.0, 29_000.0]
    with pytest.raises(DataError, match="needs 'epoch' and at least one of"):
        area_figure(pd.DataFrame({"epoch": [2000], "area": [1.0]}))


def test_projected_maps_label_their_axes_in_km(tmp_path: Path) -> None:
    tif = tmp_path / "polar.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        dtype="uint8",
        count=1,
        height=10,
        width=10,
        crs="EPSG:3413",
        transform=rasterio.transform.from_origin(-500_000, 500_000, 100_000, 100_000),
        nodata=255,
    ) as dst:
        dst.write(np.full((1, 10, 10), 40, np.uint8))
        dst.set_band_description(1, "probability")
    ax = _map_axes(raster_figure(read_raster_view(tif), coastlines="none"))[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("easting (km)", "northing (km)")
    assert ax.xaxis.get_major_formatter()(250_000, 0) == "250"
