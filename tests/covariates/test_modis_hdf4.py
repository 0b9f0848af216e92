"""MODIS snow HDF4-EOS granules (MOD10A1 sinusoidal tiles, MOD10CM CMG) read with pyhdf.

The granules are written here with pyhdf in the real layout: the real SDS and grid names, the
real fill and flag values, and ``StructMetadata.0`` in the ODL layout NASA writes, only with
shrunken dimensions (24 × 24 for a 2400 × 2400 tile, a 40 × 20 subset of the 7200 × 3600 CMG).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from permamap.covariates.sources import hdf4
from permamap.covariates.sources.modis import ModisSnow
from permamap.errors import DataError, GridMismatchError, InputFileError
from permamap.grid import Grid

pyhdf_sd = pytest.importorskip("pyhdf.SD")

TILE_M = 1111950.519667  # MODIS sinusoidal tile side (m)
X0, Y0 = -20015109.354, 10007554.677  # upper-left corner of tile h00v00


def struct_metadata(
    grid_name: str,
    field: str,
    xdim: int,
    ydim: int,
    ul: tuple[float, float],
    lr: tuple[float, float],
    projection: str,
) -> str:
    """``StructMetadata.0`` as the MODIS snow granules carry it (ODL, tabs, one grid)."""
    params = (
        "\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n\t\tSphereCode=-1\n"
        if projection == "GCTP_SNSOID"
        else "\t\tSphereCode=12\n"
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n"
        "\tGROUP=GRID_1\n"
        f'\t\tGridName="{grid_name}"\n'
        f"\t\tXDim={xdim}\n\t\tYDim={ydim}\n"
        f"\t\tUpperLeftPointMtrs=({ul[0]:.6f},{ul[1]:.6f})\n"
        f"\t\tLowerRightMtrs=({lr[0]:.6f},{lr[1]:.6f})\n"
        f"\t\tProjection={projection}\n{params}"
        "\t\tGridOrigin=HDFE_GD_UL\n"
        "\t\tGROUP=Dimension\n\t\tEND_GROUP=Dimension\n"
        "\t\tGROUP=DataField\n"
        "\t\t\tOBJECT=DataField_1\n"
        f'\t\t\t\tDataFieldName="{field}"\n'
        "\t\t\t\tDataType=DFNT_UINT8\n"
        '\t\t\t\tDimList=("YDim","XDim")\n'
        "\t\t\tEND_OBJECT=DataField_1\n"
        "\t\t\tOBJECT=DataField_2\n"
        '\t\t\t\tDataFieldName="Snow_Albedo_Daily_Tile"\n'
        "\t\t\t\tDataType=DFNT_UINT8\n"
        '\t\t\t\tDimList=("YDim","XDim")\n'
        "\t\t\tEND_OBJECT=DataField_2\n"
        "\t\tEND_GROUP=DataField\n"
        "\t\tGROUP=MergedFields\n\t\tEND_GROUP=MergedFields\n"
        "\tEND_GROUP=GRID_1\n"
        "END_GROUP=GridStructure\nGROUP=PointStructure\nEND_GROUP=PointStructure\nEND\n"
        + "\x00"
        * 7  # the attribute is a fixed-length, NUL-padded string
    )


def write_granule(
    path: Path, grid_name: str, field: str, data: np.ndarray, metadata: str | None
) -> Path:
    """An HDF4 file with one uint8 SDS (fill 255) on the grid named in ``metadata``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = pyhdf_sd.SD(str(path), pyhdf_sd.SDC.WRITE | pyhdf_sd.SDC.CREATE)
    sds = sd.create(field, pyhdf_sd.SDC.UINT8, data.shape)
    sds.dim(0).setname(f"YDim:{grid_name}")
    sds.dim(1).setname(f"XDim:{grid_name}")
    sds.setfillvalue(255)
    sds.valid_range = [0, 100]
    sds[:] = data.astype(np.uint8)
    sds.endaccess()
    if metadata is not None:
        setattr(sd, "StructMetadata.0", metadata)
    sd.end()
    return path


def tile_corners(h: int, v: int) -> tuple[tuple[float, float], tuple[float, float]]:
    ul = (X0 + h * TILE_M, Y0 - v * TILE_M)
    return ul, (ul[0] + TILE_M, ul[1] - TILE_M)


def write_daily(folder: Path, h: int, v: int, year: int, doy: int, value: np.ndarray) -> Path:
    ul, lr = tile_corners(h, v)
    name = f"MOD10A1.A{year}{doy:03d}.h{h:02d}v{v:02d}.061.2020123456789.hdf"
    meta = struct_metadata("MOD_Grid_Snow_500m", "NDSI_Snow_Cover", 24, 24, ul, lr, "GCTP_SNSOID")
    return write_granule(folder / name, "MOD_Grid_Snow_500m", "NDSI_Snow_Cover", value, meta)


# grid (lon/lat) across the h23v02 / h24v02 boundary (x = 6671703 m, ~142° E at 65° N)
ACROSS = Grid.from_bounds((140, 64, 150, 66), 0.5)
INSIDE_H23 = Grid.from_bounds((125, 64, 130, 66), 0.5)


def _daily_folder(root: Path, tiles: tuple[int, ...] = (23, 24)) -> Path:
    """40 days of 2005: h23 snow (NDSI 80) on days 1-30, h24 (NDSI 60) on days 1-20; cloud on
    days 5 and 6; the rows of h24 south of 65° N (rows 12-23) are ocean (239) every day."""
    for doy in range(1, 41):
        for h in tiles:
            snow_until, ndsi = (30, 80) if h == 23 else (20, 60)
            v = np.full((24, 24), ndsi if doy <= snow_until else 0, np.uint8)
            if doy in (5, 6):
                v[:] = 250
            if h == 24:
                v[12:, :] = 239
            write_daily(root, h, 2, 2005, doy, v)
    return root


def test_struct_metadata_gives_the_sinusoidal_grid(tmp_path: Path) -> None:
    path = write_daily(tmp_path, 23, 2, 2005, 1, np.zeros((24, 24), np.uint8))
    head = hdf4.read_header(path, "NDSI_Snow_Cover")
    g = head.grid
    assert (g.name, g.width, g.height, g.projection) == (
        "MOD_Grid_Snow_500m",
        24,
        24,
        "GCTP_SNSOID",
    )
    assert g.fields == ("NDSI_Snow_Cover", "Snow_Albedo_Daily_Tile")
    assert head.fill == 255.0 and head.dtype == "uint8"
    assert g.transform.a == pytest.approx(TILE_M / 24) and g.transform.e == pytest.approx(
        -TILE_M / 24
    )
    assert (g.transform.c, g.transform.f) == pytest.approx((5559752.598, 7783653.638), abs=1e-2)
    # the tile's centre is at 65° N; sinusoidal x = R·lon·cos(lat)
    to_geo = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(g.transform.c + TILE_M / 2, g.transform.f - TILE_M / 2)
    assert lat == pytest.approx(65.0, abs=1e-6)
    assert lon == pytest.approx(
        np.degrees((X0 + 23.5 * TILE_M) / (6371007.181 * np.cos(np.radians(65)))), abs=1e-6
    )


def test_daily_tiles_mosaic_into_known_snow_days(tmp_path: Path) -> None:
    src = ModisSnow(_daily_folder(tmp_path / "modis"), "MOD10A1", min_valid_days=10)
    assert src.available_years() == {2005}
    days = src.snow_days(ACROSS, ACROSS.full_window, [2005])
    h23, h24 = 28 / 38 * 365, 18 / 38 * 365  # snow days / clear days, scaled to the year
    # cells wholly inside one tile (the tile edge x = 6671703 m runs from 140.3° E at 66° N to
    # 142.6° E at 64° N; west rows 0-1 lie in h23, east rows 0-1 in h24)
    np.testing.assert_allclose(days[:2, 0], h23, rtol=1e-5)
    np.testing.assert_allclose(days[:2, -1], h24, rtol=1e-5)
    finite = days[np.isfinite(days)]
    assert finite.min() >= h24 - 1e-3 and finite.max() <= h23 + 1e-3  # straddling cells: a mix
    # the ocean rows of h24 (flag 239) are no observation at all: NaN there, not zero
    assert np.isnan(days[3, -1])


def test_check_notes_and_partial_coverage(tmp_path: Path) -> None:
    full = ModisSnow(_daily_folder(tmp_path / "both"), "MOD10A1", min_valid_days=10)
    notes = full.check(ACROSS, [2005], 1)
    assert notes == ["MODIS MOD10A1 snow cover, years 2005, 80 files (HDF4)"]
    one = _daily_folder(tmp_path / "h23", tiles=(23,))
    with pytest.raises(GridMismatchError, match=r"covers \d+ % of the grid.*coverage = 'partial'"):
        ModisSnow(one, "MOD10A1", min_valid_days=10).check(ACROSS, [2005], 1)
    part = ModisSnow(one, "MOD10A1", min_valid_days=10, coverage="partial")
    (note,) = part.check(ACROSS, [2005], 1)
    pct = int(note.rsplit("coverage, ", 1)[1].split(" %")[0])
    assert 20 < pct < 80 and note.endswith("% of the grid")
    days = part.snow_days(ACROSS, ACROSS.full_window, [2005])
    assert np.isnan(days[:, -1]).all() and np.isfinite(days[:2, 0]).all()
    assert ModisSnow(one, "MOD10A1").check(INSIDE_H23, [2005], 1)[0].endswith("40 files (HDF4)")
    with pytest.raises(DataError, match=r"missing years: \[2004, 2006\]"):
        full.check(ACROSS, [2005], 3)


def test_monthly_cmg_subset_with_dms_corners(tmp_path: Path) -> None:
    # 0.05° cells: 40 × 20 covering 100°30'E-102°30'E, 61°-60° N (packed DMS corners)
    ul, lr = (100030000.0, 61000000.0), (102030000.0, 60000000.0)
    meta = struct_metadata("MOD_CMG_Snow_5km", "Snow_Cover_Monthly_CMG", 40, 20, ul, lr, "GCTP_GEO")
    for m in range(1, 13):
        doy = (dt.date(2005, m, 1) - dt.date(2005, 1, 1)).days + 1
        v = np.full((20, 40), 100 if m in (1, 2, 12) else 0, np.uint8)
        if m == 7:
            v[:, 20:] = 250  # cloud obscured in July over the eastern half
        write_granule(
            tmp_path / f"MOD10CM.A2005{doy:03d}.061.2021001000000.hdf",
            "MOD_CMG_Snow_5km",
            "Snow_Cover_Monthly_CMG",
            v,
            meta,
        )
    head = hdf4.read_header(next(tmp_path.glob("*.hdf")), "Snow_Cover_Monthly_CMG")
    assert head.grid.bounds == pytest.approx((100.5, 60.0, 102.5, 61.0))
    assert head.grid.crs.to_epsg() == 4326 and head.grid.transform.a == pytest.approx(0.05)
    src = ModisSnow(tmp_path, "MOD10CM")
    g = Grid.from_bounds((100.5, 60, 102.5, 61), 0.25)
    days = src.snow_days(g, g.full_window, [2005])
    np.testing.assert_allclose(days[:, :4], 31 + 28 + 31)
    assert np.isnan(days[:, 4:]).all()  # a cloud-obscured month leaves the year unknown
    assert src.check(g, [2005], 1) == ["MODIS MOD10CM snow cover, years 2005, 12 files (HDF4)"]
    assert calendar.isleap(2005) is False


def test_unreadable_granules_are_one_line_errors(tmp_path: Path) -> None:
    good = write_daily(tmp_path / "ok", 23, 2, 2005, 1, np.zeros((24, 24), np.uint8))
    cut = tmp_path / "cut" / good.name
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(
        InputFileError, match=r"cut.*cannot be opened as an HDF4 file.*download it again"
    ):
        ModisSnow(cut.parent).check(INSIDE_H23, [2005], 1)
    nometa = write_granule(
        tmp_path / "nometa" / good.name,
        "MOD_Grid_Snow_500m",
        "NDSI_Snow_Cover",
        np.zeros((24, 24)),
        None,
    )
    with pytest.raises(InputFileError, match=r"no StructMetadata\.0.*not an HDF-EOS grid"):
        hdf4.read_header(nometa, "NDSI_Snow_Cover")
    with pytest.raises(InputFileError, match=r"no SDS 'Snow_Cover_Monthly_CMG'.*NDSI_Snow_Cover"):
        hdf4.read_header(good, "Snow_Cover_Monthly_CMG")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no MOD10A1 files.*under"):
        ModisSnow(tmp_path / "empty")
    with pytest.raises(InputFileError, match=r"holds \['MOD10A1'\]: set product"):
        ModisSnow(tmp_path / "ok", "MYD10A1")
    text = tmp_path / "text" / good.name
    text.parent.mkdir()
    text.write_text("not an hdf file")
    with pytest.raises(InputFileError, match=r"cannot be opened as an HDF4 file"):
        ModisSnow(text.parent).snow_days(INSIDE_H23, INSIDE_H23.full_window, [2005])


def test_odl_parser_and_dms() -> None:
    tree = hdf4.parse_odl('GROUP=A\n\tK=(1,\n2)\n\tS="x y"\n\tF=2.5\nEND_GROUP=A\nEND\n')
    assert tree == {"A": {"K": (1, 2), "S": "x y", "F": 2.5}}
    assert hdf4.dms_to_degrees(-179030000.0) == pytest.approx(-179.5)
    assert hdf4.dms_to_degrees(12000036.0) == pytest.approx(12.01)
