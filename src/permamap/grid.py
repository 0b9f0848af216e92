"""The Grid value object: CRS, affine transform and shape, snapped to pixel edges; its tiles and cell areas.

Everything that is rasterised in permamap lives on one :class:`Grid`. Tiles are
:class:`rasterio.windows.Window` objects derived from it that cover the grid exactly once.
Cell areas are exact on the WGS84 ellipsoid for geographic (lat/lon) grids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.windows import Window

from .errors import ConfigError

__all__ = [
    "WGS84_A",
    "WGS84_F",
    "Grid",
    "ellipsoid_area_km2",
    "zone_area_km2",
]

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_F = 1 / 298.257223563  # flattening
_E2 = WGS84_F * (2 - WGS84_F)
_E = math.sqrt(_E2)
_B = WGS84_A * (1 - WGS84_F)


def _authalic_q(lat_deg: np.ndarray) -> np.ndarray:
    """Integral of the ellipsoid's area element from the equator to ``lat`` (per radian of longitude, / b²)."""
    s = np.sin(np.radians(lat_deg))
    es = _E * s
    return s / (1 - _E2 * s * s) + np.log((1 + es) / (1 - es)) / (2 * _E)


def zone_area_km2(south_deg: np.ndarray, north_deg: np.ndarray, dlon_deg: float) -> np.ndarray:
    """Exact area in km² of a lat/lon cell on the WGS84 ellipsoid.

    The area between two parallels over ``dlon_deg`` degrees of longitude is
    ``b²/2 · Δλ · [q(φ₂) − q(φ₁)]`` with ``q(φ) = sinφ/(1 − e² sin²φ) + atanh(e sinφ)/e``.

    >>> round(float(zone_area_km2(np.array(0.0), np.array(1.0), 1.0)), 1)
    12308.5
    """
    q = _authalic_q(np.asarray(north_deg, dtype=float)) - _authalic_q(
        np.asarray(south_deg, dtype=float)
    )
    return (_B**2 / 2.0) * math.radians(dlon_deg) * q / 1e6


def ellipsoid_area_km2() -> float:
    """Total surface area of the WGS84 ellipsoid in km² (≈ 510,065,622)."""
    return float(zone_area_km2(np.array(-90.0), np.array(90.0), 360.0))


def _frac(value: float) -> Fraction:
    # Resolutions like 1/120° are not exact in binary; limit the denominator to recover them.
    return Fraction(value).limit_denominator(1_000_000)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, pixel size, origin and shape.

    Arrays on a grid are ``(row, col)`` (or ``(band, row, col)``), row 0 at the north edge.

    Parameters
    ----------
    west, north : float
        Coordinates of the upper-left corner (pixel edge) in CRS units.
    res : float
        Pixel size in CRS units (square pixels).
    height, width : int
        Number of rows and columns.
    crs : str
        Any CRS string rasterio understands; EPSG:4326 by default.

    Examples
    --------
    >>> g = Grid.from_bounds((25, 25, 180, 84), res=1 / 12)
    >>> g.shape
    (708, 1860)
    >>> g.bounds
    (25.0, 25.0, 180.0, 84.0)
    """

    west: float
    north: float
    res: float
    height: int
    width: int
    crs: str = "EPSG:4326"

    def __post_init__(self) -> None:
        if not (self.res > 0 and math.isfinite(self.res)):
            raise ConfigError(
                f"grid resolution {self.res!r} must be a positive number; set e.g. res = 0.008333333333"
            )
        if self.height < 1 or self.width < 1:
            raise ConfigError(
                f"grid shape ({self.height}, {self.width}) must have at least one row and column; "
                "check the extent and resolution"
            )
        try:
            CRS.from_user_input(self.crs)
        except CRSError as exc:
            raise ConfigError(
                f"grid CRS {self.crs!r} is not understood ({exc}); use e.g. 'EPSG:4326'"
            ) from exc

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_bounds(
        cls, bounds: tuple[float, float, float, float], res: float, crs: str = "EPSG:4326"
    ) -> Grid:
        """Grid covering ``bounds = (west, south, east, north)`` exactly with pixels of size ``res``.

        The bounds must be whole multiples of ``res`` apart; otherwise the grid would not end on a
        pixel edge and a :class:`~permamap.errors.ConfigError` says which side to move.
        """
        west, south, east, north = (float(v) for v in bounds)
        if not (west < east and south < north):
            raise ConfigError(
                f"extent {bounds} is empty or inverted; give (west, south, east, north) with west < east "
                "and south < north"
            )
        if CRS.from_user_input(crs).is_geographic and (
            south < -90 or north > 90 or west < -180 or east > 360
        ):
            raise ConfigError(
                f"extent {bounds} is outside the globe for geographic CRS {crs}; latitudes must lie in "
                "[-90, 90] and longitudes in [-180, 360]"
            )
        r = _frac(res)
        nx = (_frac(east) - _frac(west)) / r
        ny = (_frac(north) - _frac(south)) / r
        if nx.denominator != 1 or ny.denominator != 1:
            raise ConfigError(
                f"extent {bounds} is not a whole number of {res}-wide pixels "
                f"({float(nx):.4f} × {float(ny):.4f}); move east/north so that both are whole numbers"
            )
        return cls(west=west, north=north, res=float(r), height=int(ny), width=int(nx), crs=crs)

    # -- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.west, 0.0, -self.res, self.north)

    @property
    def east(self) -> float:
        return float(_frac(self.west) + _frac(self.res) * self.width)

    @property
    def south(self) -> float:
        return float(_frac(self.north) - _frac(self.res) * self.height)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)``."""
        return (self.west, self.south, self.east, self.north)

    @property
    def is_geographic(self) -> bool:
        return bool(CRS.from_user_input(self.crs).is_geographic)

    def lon_centers(self, window: Window | None = None) -> np.ndarray:
        """Centre x (longitude on a geographic grid) of each column of ``window`` (whole grid by default)."""
        w = window or self.full_window
        cols = np.arange(int(w.col_off), int(w.col_off) + int(w.width))
        return self.west + (cols + 0.5) * self.res

    def lat_centers(self, window: Window | None = None) -> np.ndarray:
        """Centre y (latitude on a geographic grid) of each row of ``window``, north to south."""
        w = window or self.full_window
        rows = np.arange(int(w.row_off), int(w.row_off) + int(w.height))
        return self.north - (rows + 0.5) * self.res

    def index(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells holding the points; ``-1`` for points outside the grid.

        >>> g = Grid.from_bounds((0, 0, 10, 10), res=1)
        >>> g.index(np.array([0.5, 9.99, 10.5]), np.array([9.5, 0.01, 5.0]))
        (array([ 0,  9, -1]), array([ 0,  9, -1]))
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        with np.errstate(invalid="ignore"):
            col = np.floor((lon - self.west) / self.res)
            row = np.floor((self.north - lat) / self.res)
            inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        row = np.where(inside, row, -1).astype(np.int64)
        col = np.where(inside, col, -1).astype(np.int64)
        return row, col

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where the point falls inside the grid."""
        return self.index(lon, lat)[0] >= 0

    # -- tiles ----------------------------------------------------------------------------------
    @property
    def full_window(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def tiles(self, tile_shape: tuple[int, int] = (512, 512)) -> Iterator[Window]:
        """Windows of at most ``tile_shape = (rows, cols)`` that cover the grid exactly once, row-major.

        >>> g = Grid.from_bounds((0, 0, 5, 3), res=1)
        >>> [(w.row_off, w.col_off, w.height, w.width) for w in g.tiles((2, 3))]
        [(0, 0, 2, 3), (0, 3, 2, 2), (2, 0, 1, 3), (2, 3, 1, 2)]
        """
        th, tw = (int(v) for v in tile_shape)
        if th < 1 or tw < 1:
            raise ConfigError(f"tile shape {tile_shape} must be positive; use e.g. (512, 512)")
        for r0 in range(0, self.height, th):
            for c0 in range(0, self.width, tw):
                yield Window(c0, r0, min(tw, self.width - c0), min(th, self.height - r0))

    def n_tiles(self, tile_shape: tuple[int, int] = (512, 512)) -> int:
        th, tw = tile_shape
        return math.ceil(self.height / th) * math.ceil(self.width / tw)

    def window_transform(self, window: Window) -> Affine:
        return Affine(
            self.res, 0.0, self.west + window.col_off * self.res,
            0.0, -self.res, self.north - window.row_off * self.res,
        )  # fmt: skip

    # -- areas ----------------------------------------------------------------------------------
    def cell_area_km2(self, window: Window | None = None) -> np.ndarray:
        """Area of each cell in km², shape ``(rows, cols)`` of ``window``.

        Exact on the WGS84 ellipsoid for geographic grids; ``res²`` (in km²) for projected grids,
        which are assumed equal-area (use an equal-area CRS for area statistics there).
        """
        w = window or self.full_window
        rows, cols = int(w.height), int(w.width)
        if self.is_geographic:
            lat_c = self.lat_centers(w)
            north = np.minimum(lat_c + self.res / 2, 90.0)
            south = np.maximum(lat_c - self.res / 2, -90.0)
            per_row = zone_area_km2(south, north, self.res)
            return np.broadcast_to(per_row[:, None], (rows, cols)).copy()
        units = CRS.from_user_input(self.crs).linear_units_factor[1]
        return np.full((rows, cols), (self.res * units) ** 2 / 1e6)

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "west": self.west,
            "north": self.north,
            "res": self.res,
            "height": self.height,
            "width": self.width,
            "crs": self.crs,
        }

    def matches(self, crs: object, transform: Affine, shape: tuple[int, int]) -> bool:
        """True if a raster with this CRS, transform and shape lies on this grid."""
        return (
            CRS.from_user_input(crs) == CRS.from_user_input(self.crs)
            and tuple(shape) == self.shape
            and transform.almost_equals(self.transform, precision=1e-9)
        )
