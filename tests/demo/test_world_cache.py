"""The virtual world's fast paths give the same bits as the plain ones.

The window cache, the land-only computation, the compiled plane-wave sum and the compiled bilinear
sampler are each compared with the computation they replace: values must be identical, not close.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from rasterio.windows import Window
from scipy.ndimage import map_coordinates

from permamap.demo import climate, layers
from permamap.demo.truthcheck import truth_tile
from permamap.demo.world import VirtualWorld
from permamap.grid import Grid

EPOCHS = [2000, 2005, 2010]


@pytest.fixture(scope="module")
def grid() -> Grid:
    # the Sea of Okhotsk coast: land, sea and the wrap-free interior of every layer
    return Grid.from_bounds((135, 52, 150, 62), res=0.25)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def test_cached_products_equal_uncached_in_any_order(grid: Grid) -> None:
    cold = VirtualWorld(cache_mb=0)
    warm = VirtualWorld()
    tiles = list(grid.tiles((16, 24)))
    expected = {
        (e, i): (cold.factors(grid, e, w), truth_tile(cold, grid, e, w, 9))
        for e in EPOCHS
        for i, w in enumerate(tiles)
    }
    # tile by tile, every epoch: the order whose statics, years and climate the cache shares
    for i, w in enumerate(tiles):
        for e in EPOCHS:
            truth = truth_tile(warm, grid, e, w, 9)  # the truth first, then the factors
            assert _same(truth, expected[e, i][1])
            assert _same(warm.factors(grid, e, w), expected[e, i][0])
    assert len(warm._cache) > 0
    assert cold._cache.nbytes == 0


def test_cache_stays_within_its_bound(grid: Grid) -> None:
    world = VirtualWorld(cache_mb=0.05)  # 52 kB: a few small windows
    for w in grid.tiles((8, 8)):
        world.factors(grid, 2000, w)
        assert world._cache.nbytes <= world._cache.max_bytes
    big = Window(0, 0, 60, 40)  # its pieces are larger than the bound: computed, never stored
    before = len(world._cache)
    stack = world.factors(grid, 2000, big)
    assert stack.shape == (20, 40, 60)
    assert world._cache.nbytes <= world._cache.max_bytes
    assert len(world._cache) <= before + 8


def test_a_world_pickles_without_its_cache(grid: Grid) -> None:
    world = VirtualWorld(cache_mb=8)
    first = world.factors(grid, 2005, Window(0, 0, 20, 10))
    copy = pickle.loads(pickle.dumps(world))
    assert len(copy._cache) == 0
    assert copy._cache.max_bytes == world._cache.max_bytes
    assert _same(copy.factors(grid, 2005, Window(0, 0, 20, 10)), first)


def test_tiles_equal_the_whole_window_bit_for_bit(grid: Grid) -> None:
    world = VirtualWorld(cache_mb=0)
    whole_f, whole_t = world.factors(grid, 2010), truth_tile(world, grid, 2010, grid.full_window, 9)
    land = world.land(grid)
    for w in grid.tiles((7, 11)):
        r, c = slice(w.row_off, w.row_off + w.height), slice(w.col_off, w.col_off + w.width)
        assert _same(world.factors(grid, 2010, w), whole_f[:, r, c])
        assert _same(truth_tile(world, grid, 2010, w, 9), whole_t[:, r, c])
    # a window with a single land cell is computed whole (module _Cells) and still matches; a
    # 1 x 1 window never did: its month sums are a 12-element pairwise sum, then as now
    i, j = next(
        (int(i), int(j)) for i, j in zip(*np.nonzero(land[:, 1:] & ~land[:, :-1]), strict=True)
    )
    w = Window(j, i, 2, 1)  # sea, then land
    assert world.land(grid, w).sum() == 1
    assert _same(world.factors(grid, 2010, w), whole_f[:, i : i + 1, j : j + 2])
    assert _same(truth_tile(world, grid, 2010, w, 9), whole_t[:, i : i + 1, j : j + 2])


def test_an_ocean_window_is_nodata_without_computing(grid: Grid) -> None:
    world = VirtualWorld()
    sea = Grid.from_bounds((160, 40, 170, 45), res=0.5)  # the open North Pacific
    assert not world.land(sea).any()
    assert np.isnan(world.factors(sea, 2000)).all()
    assert (truth_tile(world, sea, 2000, sea.full_window, 9) == 255).all()
    found = world.truth_window(sea, 2000, sea.full_window)
    assert found.sel is None and found.ttop is None and found.inputs is None


def test_compiled_wave_sum_equals_numpy() -> None:
    kernel = climate._kernel()
    if kernel is None:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(25, 180, 200_000), rng.uniform(25, 84, 200_000)
    xyz = climate.unit_vectors(lon, lat)
    dirs, k, phase = climate._wave_parameters(42, 2003, 12, (3.0, 8.0))
    out = np.zeros(lon.size, np.float32)
    unsure, redo = np.zeros(lon.size, np.uint8), np.empty(lon.size, np.int64)
    n_redo = kernel(*xyz, dirs, k, phase, out, unsure, redo)
    # about 1 cell in 1,000 has a cosine too near a float32 rounding boundary to trust: redone
    assert 0 < n_redo < lon.size // 100
    reference = climate._wave_sum_numpy(dirs, k, phase, xyz)
    assert _same(climate._wave_sum(dirs, k, phase, xyz), reference)
    trusted = unsure == 0
    assert _same(out[trusted], reference[trusted])


def test_window_climate_without_numba_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    lon, lat = np.array([129.7, 37.6, 90.0, 150.1]), np.array([62.0, 55.7, 32.0, 59.6])
    world = VirtualWorld()
    fast = world.climate_at(lon, lat, 2015)
    monkeypatch.setattr(climate, "_kernel", lambda: None)
    monkeypatch.setattr(layers, "_bilinear_kernel", lambda: None)
    slow = world.climate_at(lon, lat, 2015)
    assert _same(fast[0], slow[0]) and _same(fast[1], slow[1])


def test_compiled_bilinear_equals_scipy() -> None:
    kernel = layers._bilinear_kernel()
    if kernel is None:
        pytest.skip("numba is not installed")
    alt = layers._altitude()
    rng = np.random.default_rng(5)
    # anywhere on the globe, the date line (column wrap) and the poles included
    lon = np.concatenate([rng.uniform(-180, 180, 50_000), [179.99, -179.99, 180.0, -180.0]])
    lat = np.concatenate([rng.uniform(-90, 90, 50_000), [89.99, -89.99, 0.0, 45.0]])
    step = 180.0 / alt.shape[0]
    r = (90.0 - step / 2 - lat) / step
    c = ((lon - (-180.0 + step / 2)) / step) % alt.shape[1]
    expected = map_coordinates(alt, [r, c], order=1, mode="grid-wrap", prefilter=False)
    assert _same(layers._bilinear(kernel, alt, r, c), expected)
    assert _same(layers.elevation_m(lon, lat), expected.astype(np.float32))
