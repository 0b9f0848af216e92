"""HDF4-EOS grids (the MODIS snow products) read with pyhdf: georeferencing from StructMetadata.0.

The GDAL inside the rasterio wheels has no HDF4 driver, so the granules are read with
``pyhdf.SD``. An HDF-EOS file describes its grids in the global attribute ``StructMetadata.0``
(continued in ``.1``, ``.2`` … for long texts), written in ODL::

    GROUP=GridStructure
        GROUP=GRID_1
            GridName="MOD_Grid_Snow_500m"
            XDim=2400
            YDim=2400
            UpperLeftPointMtrs=(5559752.598333,7783653.637667)
            LowerRightMtrs=(6671703.118000,6671703.118000)
            Projection=GCTP_SNSOID
            ProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)
            SphereCode=-1
            GridOrigin=HDFE_GD_UL
            GROUP=DataField
                OBJECT=DataField_1
                    DataFieldName="NDSI_Snow_Cover"
                    DataType=DFNT_UINT8
                    DimList=("YDim","XDim")
                END_OBJECT=DataField_1
            END_GROUP=DataField
        END_GROUP=GRID_1
    END_GROUP=GridStructure
    END

The corners are the outer edges of the corner pixels: metres for ``GCTP_SNSOID`` (MODIS
sinusoidal, sphere of radius ``ProjParams[0]`` = 6371007.181 m) and packed degrees-minutes-seconds
(``DDDMMMSSS.SS``) for ``GCTP_GEO`` (the 0.05° climate-modelling grid, −180…180, 90…−90). Nothing
about tiles is hard-coded: the transform comes from the corners and the dimensions.

Flag values of the snow products (everything above 100 is a flag, not a cover value):

- ``NDSI_Snow_Cover`` (MOD10A1/MYD10A1, 0–100 NDSI snow cover): :data:`NDSI_FLAGS`;
- ``Snow_Cover_Monthly_CMG`` (MOD10CM/MYD10CM, 0–100 % of the month): :data:`CMG_FLAGS`.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from affine import Affine
from pyhdf.error import HDF4Error
from pyhdf.SD import SD, SDC
from rasterio.crs import CRS
from rasterio.warp import transform
from rasterio.windows import Window

from permamap.covariates.align import SourcePart
from permamap.errors import InputFileError
from permamap.grid import Grid

__all__ = [
    "CMG_FLAGS",
    "MODIS_SINUSOIDAL",
    "NDSI_FLAGS",
    "SINUSOIDAL_RADIUS_M",
    "EosGrid",
    "HdfHeader",
    "dms_to_degrees",
    "eos_grids",
    "parse_odl",
    "read_header",
    "read_window",
]

log = logging.getLogger(__name__)

SINUSOIDAL_RADIUS_M = 6371007.181
MODIS_SINUSOIDAL = f"+proj=sinu +R={SINUSOIDAL_RADIUS_M} +nadgrids=@null +wktext"
NDSI_FLAGS: dict[int, str] = {
    200: "missing data",
    201: "no decision",
    211: "night",
    237: "inland water",
    239: "ocean",
    250: "cloud",
    254: "detector saturated",
    255: "fill",
}
CMG_FLAGS: dict[int, str] = {
    211: "night",
    250: "cloud obscured",
    253: "not mapped",
    254: "water mask",
    255: "fill",
}
_REFETCH = "delete it and download it again"


def parse_odl(text: str) -> dict[str, Any]:
    """Nested dict of an ODL text (``GROUP``/``OBJECT`` blocks; tuples, strings, numbers).

    >>> parse_odl('GROUP=G\\n  X=(1.5,-2)\\n  N="a"\\nEND_GROUP=G\\nEND')["G"]
    {'X': (1.5, -2), 'N': 'a'}
    """
    root: dict[str, Any] = {}
    stack = [root]
    pending = ""
    for raw in text.replace("\x00", "").splitlines():
        line = (pending + raw.strip()) if pending else raw.strip()
        if not line or line == "END":
            continue
        if line.count("(") > line.count(")"):  # a tuple continued on the next line
            pending = line
            continue
        pending = ""
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key in ("GROUP", "OBJECT"):
            child: dict[str, Any] = {}
            stack[-1][value] = child
            stack.append(child)
        elif key in ("END_GROUP", "END_OBJECT"):
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = _odl_value(value)
    return root


def _odl_value(text: str) -> Any:
    if text.startswith("(") and text.endswith(")"):
        return tuple(_odl_value(v.strip()) for v in text[1:-1].split(",") if v.strip())
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def dms_to_degrees(value: float) -> float:
    """GCTP packed degrees-minutes-seconds ``DDDMMMSSS.SS`` to decimal degrees.

    >>> dms_to_degrees(-180000000.0), dms_to_degrees(45030000.0)
    (-180.0, 45.5)
    """
    sign = -1.0 if value < 0 else 1.0
    v = abs(value)
    deg = math.floor(v / 1e6)
    minutes = math.floor((v - deg * 1e6) / 1e3)
    seconds = v - deg * 1e6 - minutes * 1e3
    return sign * (deg + minutes / 60.0 + seconds / 3600.0)


@dataclass(frozen=True)
class EosGrid:
    """One grid of an HDF-EOS file: size, corners (in the projection's units) and fields."""

    name: str
    width: int
    height: int
    upper_left: tuple[float, float]
    lower_right: tuple[float, float]
    projection: str
    proj_params: tuple[float, ...]
    fields: tuple[str, ...]

    @property
    def crs(self) -> CRS:
        """``GCTP_SNSOID`` → MODIS sinusoidal sphere; ``GCTP_GEO`` → EPSG:4326."""
        if self.projection == "GCTP_SNSOID":
            radius = self.proj_params[0] if self.proj_params and self.proj_params[0] > 0 else None
            lon0 = dms_to_degrees(self.proj_params[4]) if len(self.proj_params) > 4 else 0.0
            text = MODIS_SINUSOIDAL.replace(
                f"+R={SINUSOIDAL_RADIUS_M}", f"+R={radius or SINUSOIDAL_RADIUS_M}"
            )
            if lon0:
                text += f" +lon_0={lon0}"
            return CRS.from_proj4(text)
        if self.projection == "GCTP_GEO":
            return CRS.from_epsg(4326)
        raise InputFileError(
            f"HDF-EOS grid {self.name} uses projection {self.projection}; permamap reads "
            "GCTP_SNSOID (MODIS tiles) and GCTP_GEO (MODIS CMG) grids; reproject the file to "
            "GeoTIFF first"
        )

    @property
    def _corners(self) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self.upper_left, self.lower_right
        if self.projection == "GCTP_GEO":
            x0, y0, x1, y1 = (dms_to_degrees(v) for v in (x0, y0, x1, y1))
        return x0, y0, x1, y1

    @property
    def transform(self) -> Affine:
        """Affine transform of the grid's pixel edges (north-up)."""
        x0, y0, x1, y1 = self._corners
        return Affine((x1 - x0) / self.width, 0.0, x0, 0.0, (y1 - y0) / self.height, y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in the grid's CRS."""
        x0, y0, x1, y1 = self._corners
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@functools.lru_cache(maxsize=64)
def eos_grids(struct_metadata: str) -> tuple[EosGrid, ...]:
    """The grids described by a ``StructMetadata.0`` text (cached: tiles repeat every day)."""
    tree = parse_odl(struct_metadata)
    structure = tree.get("GridStructure")
    if not isinstance(structure, dict):
        raise ValueError("no GridStructure group")
    out = []
    for block in structure.values():
        if not isinstance(block, dict) or "GridName" not in block:
            continue
        fields = tuple(
            str(obj["DataFieldName"])
            for obj in (block.get("DataField") or {}).values()
            if isinstance(obj, dict) and "DataFieldName" in obj
        )
        params = block.get("ProjParams", ())
        out.append(
            EosGrid(
                name=str(block["GridName"]),
                width=int(block["XDim"]),
                height=int(block["YDim"]),
                upper_left=tuple(float(v) for v in block["UpperLeftPointMtrs"]),  # type: ignore[arg-type]
                lower_right=tuple(float(v) for v in block["LowerRightMtrs"]),  # type: ignore[arg-type]
                projection=str(block.get("Projection", "")),
                proj_params=tuple(float(v) for v in (params if isinstance(params, tuple) else ())),
                fields=fields,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class HdfHeader:
    """One SDS of an HDF-EOS file: its grid (georeferencing), data type and fill value."""

    path: Path
    sds: str
    grid: EosGrid
    dtype: str
    fill: float | None

    @property
    def label(self) -> str:
        return f"{self.path} (SDS {self.sds})"


_HDF4_LOCK = threading.RLock()
_F = TypeVar("_F", bound=Callable[..., Any])


def _serialised(fn: _F) -> _F:
    """One HDF4 call at a time: the HDF4 library is not thread-safe, and stack tiles run on
    threads (:func:`permamap.covariates.stack.build_stack`)."""

    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _HDF4_LOCK:
            return fn(*args, **kwargs)

    return cast(_F, locked)


def _open(path: Path) -> SD:
    if not path.is_file():
        raise InputFileError(f"HDF4 file {path} does not exist; fix the path or download it")
    if path.stat().st_size == 0:
        raise InputFileError(f"HDF4 file {path} is empty (0 bytes); {_REFETCH}")
    try:
        return SD(str(path), SDC.READ)
    except HDF4Error as exc:
        raise InputFileError(
            f"{path} cannot be opened as an HDF4 file (pyhdf: {exc}): it is truncated, corrupt "
            f"or not HDF4; {_REFETCH}"
        ) from None


def _struct_metadata(sd: SD, path: Path) -> str:
    attrs = sd.attributes()
    parts = sorted(
        (k for k in attrs if k.startswith("StructMetadata.")),
        key=lambda k: int(k.rsplit(".", 1)[1]) if k.rsplit(".", 1)[1].isdigit() else 0,
    )
    if not parts:
        raise InputFileError(
            f"{path} has no StructMetadata.0 attribute, so it is not an HDF-EOS grid file (no "
            "georeferencing); use the original MODIS granule"
        )
    return "".join(str(attrs[k]) for k in parts)


def _header(sd: SD, path: Path, sds: str) -> HdfHeader:
    names = sd.datasets()
    if sds not in names:
        raise InputFileError(
            f"{path} has no SDS {sds!r} (it has {sorted(names)}); use the MODIS product that "
            f"holds {sds}"
        )
    try:
        grids = eos_grids(_struct_metadata(sd, path))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputFileError(
            f"{path}: StructMetadata.0 cannot be parsed as an HDF-EOS grid ({type(exc).__name__}: "
            f"{exc}); the file is corrupt: {_REFETCH}"
        ) from None
    grid = next((g for g in grids if sds in g.fields), grids[0] if len(grids) == 1 else None)
    if grid is None:
        raise InputFileError(
            f"{path}: no grid in StructMetadata.0 lists the field {sds!r} "
            f"(grids {[g.name for g in grids]}); the file is not a MODIS snow product"
        )
    obj = sd.select(sds)
    try:
        _, rank, dims, _, _ = obj.info()
        attrs = obj.attributes()
        dtype = str(obj.get(start=(0,) * rank, count=(1,) * rank).dtype)
    finally:
        obj.endaccess()
    if list(dims)[-2:] != [grid.height, grid.width]:
        raise InputFileError(
            f"{path}: SDS {sds} has shape {tuple(dims)} but grid {grid.name} says "
            f"{grid.height} × {grid.width} (YDim × XDim); the file is corrupt: {_REFETCH}"
        )
    fill = attrs.get("_FillValue")
    return HdfHeader(path, sds, grid, dtype, None if fill is None else float(fill))


@_serialised
def read_header(path: str | Path, sds: str) -> HdfHeader:
    """Open an HDF4-EOS file at header level and georeference SDS ``sds``.

    Raises
    ------
    InputFileError
        The file is missing, empty, not HDF4 (or truncated), lacks the SDS or a readable
        ``StructMetadata.0``, or the SDS disagrees with its grid's dimensions.
    """
    p = Path(path)
    sd = _open(p)
    try:
        return _header(sd, p, sds)
    except HDF4Error as exc:
        raise InputFileError(f"{p} could not be read (pyhdf: {exc}); {_REFETCH}") from None
    finally:
        sd.end()


def _source_window(
    header: HdfHeader, grid: Grid, window: Window, pad: int = 2
) -> tuple[int, int, int, int] | None:
    """``(row0, row1, col0, col1)`` of the SDS under the grid window, or None if disjoint."""
    t = grid.window_transform(window)
    west, north = t.c, t.f
    east, south = west + window.width * grid.res, north - window.height * grid.res
    n = 21
    xs = np.concatenate([np.linspace(west, east, n)] * 2 + [np.full(n, west), np.full(n, east)])
    ys = np.concatenate([np.full(n, south), np.full(n, north)] + [np.linspace(south, north, n)] * 2)
    with np.errstate(all="ignore"):
        sx, sy = (
            np.asarray(v)
            for v in transform(
                CRS.from_user_input(grid.crs), header.grid.crs, xs.tolist(), ys.tolist()
            )
        )
    ok = np.isfinite(sx) & np.isfinite(sy)
    if not ok.any():
        return None
    cols, rows = ~header.grid.transform @ (sx[ok], sy[ok])
    c0 = max(math.floor(float(np.min(cols))) - pad, 0)
    c1 = min(math.ceil(float(np.max(cols))) + pad, header.grid.width)
    r0 = max(math.floor(float(np.min(rows))) - pad, 0)
    r1 = min(math.ceil(float(np.max(rows))) + pad, header.grid.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


@_serialised
def read_window(path: str | Path, sds: str, grid: Grid, window: Window) -> SourcePart | None:
    """The part of SDS ``sds`` under a grid window, raw values as float32 ``(1, row, col)``.

    Only the rows and columns under the window are read (``SDS.get(start, count)``). The values
    are not masked: the caller maps the product's flag values (:data:`NDSI_FLAGS`,
    :data:`CMG_FLAGS`) to no-data. ``None`` when the file does not overlap the window.
    """
    p = Path(path)
    sd = _open(p)
    try:
        header = _header(sd, p, sds)
        sub = _source_window(header, grid, window)
        if sub is None:
            return None
        r0, r1, c0, c1 = sub
        obj = sd.select(sds)
        try:
            data = np.asarray(obj.get(start=(r0, c0), count=(r1 - r0, c1 - c0)))
        finally:
            obj.endaccess()
    except HDF4Error as exc:
        raise InputFileError(
            f"{p} could not be read (pyhdf: {exc}); the file may be truncated or corrupt: "
            f"{_REFETCH}"
        ) from None
    finally:
        sd.end()
    t = header.grid.transform @ Affine.translation(c0, r0)
    return SourcePart(data.astype(np.float32)[None], t, header.grid.crs)
