"""sinkmap.align: resampling rules and warping tiny rasters onto a 10 m UTM grid."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry import box

from sinkmap.align import aligned_array, choose_resampling, source_pixel_metres, warp_chunk
from sinkmap.aoi import AOI
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid

from ._helpers import UTM_LEFT as L
from ._helpers import UTM_TOP as T
from ._helpers import write_tif

# The target: 4 x 4 cells of 10 m, upper-left corner (L, T) in UTM 49N. Cell (r, c) covers
# x in [L + 10c, L + 10c + 10], y in [T - 10r - 10, T - 10r].
GRID = Grid("EPSG:32649", 10.0, L, T, width=4, height=4, chunk=16)
FULL = Window(0, 0, 4, 4)
#: AOI covering the left half of the grid (columns 0 and 1).
LEFT_HALF = AOI(box(L, T - 40, L + 20, T), "EPSG:32649")

#: Class of each 10 m cell ...
MAJORITY = np.array(
    [
        [50, 40, 30, 20],
        [20, 10, 10, 10],
        [10, 50, 40, 50],
        [30, 40, 50, 40],
    ],
    dtype=np.uint8,
)


def _five_metre_classes() -> np.ndarray:
    """... drawn at 5 m: each 2 x 2 block holds its cell's class 3 times and 80 (water) once."""
    src = np.repeat(np.repeat(MAJORITY, 2, axis=0), 2, axis=1)
    src[0::2, 0::2] = 80  # the upper-left pixel of every block: a minority of 1 in 4
    return src


# -- rules ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "src_m", "grid_m", "expected"),
    [
        ("categorical", 5, 10, Resampling.mode),  # 5 < 10 / 1.5: much finer -> mode
        ("categorical", 10, 10, Resampling.nearest),
        ("categorical", 30, 10, Resampling.nearest),
        ("categorical", 7, 10, Resampling.nearest),  # 7 > 6.67: not much finer
        ("continuous", 5, 10, Resampling.average),
        ("continuous", 100, 10, Resampling.bilinear),
        ("continuous", 10, 10, Resampling.bilinear),
    ],
)
def test_choose_resampling(kind, src_m, grid_m, expected):
    assert choose_resampling(kind, src_m, grid_m) == expected


def test_choose_resampling_unknown_kind():
    with pytest.raises(ValueError, match=r"one of \['categorical', 'continuous', 'index'\]"):
        choose_resampling("ordinal", 5, 10)


def test_source_pixel_metres(tmp_path):
    p = write_tif(tmp_path / "utm.tif", np.zeros((2, 2), np.uint8), res=5, left=L, top=T)
    assert source_pixel_metres(p) == pytest.approx(5.0)
    # 1/12000 degree at latitude 18.64 (centre): 111320 * cos(18.64 deg) / 12000 ~ 8.79 m
    g = write_tif(
        tmp_path / "geo.tif",
        np.zeros((2, 2), np.uint8),
        res=1 / 12000,
        left=109.7,
        top=18.64 + 1 / 12000,
        crs="EPSG:4326",
    )
    assert source_pixel_metres(g) == pytest.approx(
        111_320 * np.cos(np.deg2rad(18.64)) / 12000, rel=1e-4
    )


# -- warp_chunk -----------------------------------------------------------------------------------
def test_categorical_5m_gives_block_majority(tmp_path):
    p = write_tif(tmp_path / "lc.tif", _five_metre_classes(), res=5, left=L, top=T, nodata=0)
    out = warp_chunk([p], GRID, FULL, resampling=Resampling.mode, dtype="uint8", dst_nodata=0)
    np.testing.assert_array_equal(out, MAJORITY)


def test_continuous_5m_gives_block_average(tmp_path):
    src = (np.arange(64, dtype=np.float32).reshape(8, 8) ** 1.5).astype(np.float32)
    p = write_tif(tmp_path / "agb.tif", src, res=5, left=L, top=T)
    out = warp_chunk(
        [p], GRID, FULL, resampling=Resampling.average, dtype="float32", dst_nodata=np.nan
    )
    # cell (r, c) = mean of src[2r:2r+2, 2c:2c+2]
    expected = np.array(
        [[src[2 * r : 2 * r + 2, 2 * c : 2 * c + 2].mean() for c in range(4)] for r in range(4)]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def _bilinear(a: np.ndarray, x: float, y: float) -> float:
    """Textbook bilinear interpolation at fractional pixel-centre coordinates (x = column, y = row)."""
    i, j = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - i, x - j
    return (
        a[i, j] * (1 - fx) * (1 - fy)
        + a[i, j + 1] * fx * (1 - fy)
        + a[i + 1, j] * (1 - fx) * fy
        + a[i + 1, j + 1] * fx * fy
    )


S20 = np.array([[1, 5, 2, 8], [3, 9, 4, 7], [6, 0, 11, 2], [5, 3, 1, 10]], dtype=np.float32)


def _expected_bilinear() -> np.ndarray:
    # The 20 m source starts 20 m west and 20 m north of the grid. The centre of grid cell (r, c)
    # is 20 + 10c + 5 m east of the source's corner; in source pixel-centre units
    # x = (25 + 10c) / 20 - 0.5 = 0.75, 1.25, 1.75, 2.25 (same for rows).
    return np.array(
        [
            [_bilinear(S20, (25 + 10 * c) / 20 - 0.5, (25 + 10 * r) / 20 - 0.5) for c in range(4)]
            for r in range(4)
        ]
    )


def test_continuous_20m_gives_bilinear(tmp_path):
    p = write_tif(tmp_path / "c20.tif", S20, res=20, left=L - 20, top=T + 20)
    out = warp_chunk(
        [p], GRID, FULL, resampling=Resampling.bilinear, dtype="float32", dst_nodata=np.nan
    )
    expected = _expected_bilinear()
    # e.g. cell (0, 0): x = y = 0.75 -> 1/16*1 + 3/16*5 + 3/16*3 + 9/16*9 = 106/16 = 6.625
    assert expected[0, 0] == pytest.approx(6.625)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_two_tiles_side_by_side_are_composited(tmp_path):
    src = _five_metre_classes()
    west = write_tif(tmp_path / "west.tif", src[:, :4].copy(), res=5, left=L, top=T, nodata=0)
    east = write_tif(tmp_path / "east.tif", src[:, 4:].copy(), res=5, left=L + 20, top=T, nodata=0)
    # grid columns 0-1 lie wholly in the west tile, columns 2-3 wholly in the east tile
    out = warp_chunk(
        [west, east], GRID, FULL, resampling=Resampling.mode, dtype="uint8", dst_nodata=0
    )
    np.testing.assert_array_equal(out, MAJORITY)


def test_two_tiles_side_by_side_nearest(tmp_path):
    west = write_tif(tmp_path / "w.tif", MAJORITY[:, :2].copy(), res=10, left=L, top=T, nodata=0)
    east = write_tif(
        tmp_path / "e.tif", MAJORITY[:, 2:].copy(), res=10, left=L + 20, top=T, nodata=0
    )
    out = warp_chunk(
        [west, east], GRID, FULL, resampling=Resampling.nearest, dtype="uint8", dst_nodata=0
    )
    np.testing.assert_array_equal(out, MAJORITY)


def test_source_covering_part_of_grid_leaves_rest_nodata(tmp_path):
    # a 5 m source covering exactly grid cells rows 1-2, columns 1-2
    p = write_tif(
        tmp_path / "mid.tif",
        np.full((4, 4), 30, np.uint8),
        res=5,
        left=L + 10,
        top=T - 10,
        nodata=0,
    )
    expected = np.zeros((4, 4), np.uint8)
    expected[1:3, 1:3] = 30
    out = warp_chunk([p], GRID, FULL, resampling=Resampling.mode, dtype="uint8", dst_nodata=0)
    np.testing.assert_array_equal(out, expected)


def test_later_file_fills_only_what_earlier_left_empty(tmp_path):
    # warp_chunk's contract: "later files fill only what earlier left empty"
    first = write_tif(
        tmp_path / "a.tif", np.full((2, 4), 10, np.uint8), res=10, left=L, top=T, nodata=0
    )
    second = write_tif(
        tmp_path / "b.tif", np.full((4, 4), 20, np.uint8), res=10, left=L, top=T, nodata=0
    )
    out = warp_chunk(
        [first, second], GRID, FULL, resampling=Resampling.nearest, dtype="uint8", dst_nodata=0
    )
    expected = np.array([[10] * 4, [10] * 4, [20] * 4, [20] * 4], dtype=np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_unreadable_input(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(
        InputDataError, match=r"cannot read input .*broken\.tif.*corrupt or cut short; replace it"
    ):
        warp_chunk([bad], GRID, FULL, resampling=Resampling.nearest, dtype="uint8", dst_nodata=0)


# -- aligned_array --------------------------------------------------------------------------------
def test_aligned_categorical_masked_to_aoi(tmp_path):
    p = write_tif(tmp_path / "lc.tif", _five_metre_classes(), res=5, left=L, top=T, nodata=0)
    arr = aligned_array([p], GRID, LEFT_HALF, kind="categorical")  # mode chosen: 5 m < 10 m / 1.5
    assert arr.dtype == np.uint8 and arr.shape == (4, 4)
    expected = MAJORITY.copy()
    expected[:, 2:] = 0  # outside the AOI
    np.testing.assert_array_equal(arr.compute(), expected)


def test_aligned_continuous_masked_to_aoi_with_scale(tmp_path):
    src = np.arange(64, dtype=np.float32).reshape(8, 8)
    p = write_tif(tmp_path / "agb.tif", src, res=5, left=L, top=T)
    arr = aligned_array([p], GRID, LEFT_HALF, kind="continuous", scale=0.5, offset=1.0)
    assert arr.dtype == np.float32
    out = arr.compute()
    # block mean of src = 8*2r + 2c + 4.5 (mean of 16r+2c + {0, 1, 8, 9}); decoded x 0.5 + 1
    for r in range(4):
        for c in range(2):
            assert out[r, c] == pytest.approx((16 * r + 2 * c + 4.5) * 0.5 + 1.0)
    assert np.isnan(out[:, 2:]).all()


def test_aligned_continuous_20m_is_bilinear(tmp_path):
    p = write_tif(tmp_path / "c20.tif", S20, res=20, left=L - 20, top=T + 20)
    whole = AOI(box(L - 100, T - 100, L + 100, T + 100), "EPSG:32649")
    out = aligned_array([p], GRID, whole, kind="continuous").compute()
    np.testing.assert_allclose(out, _expected_bilinear(), rtol=1e-6)


def test_aligned_chunks_outside_aoi_are_empty(tmp_path):
    # 20 x 20 grid in chunks of 16: the AOI covers only the first chunk's upper-left 4 x 4 cells
    grid = Grid("EPSG:32649", 10.0, L, T, width=20, height=20, chunk=16)
    p = write_tif(
        tmp_path / "lc.tif", np.full((20, 20), 40, np.uint8), res=10, left=L, top=T, nodata=0
    )
    aoi = AOI(box(L, T - 40, L + 40, T), "EPSG:32649")
    arr = aligned_array([p], grid, aoi, kind="categorical")
    assert arr.chunks == ((16, 4), (16, 4))
    expected = np.zeros((20, 20), np.uint8)
    expected[:4, :4] = 40
    np.testing.assert_array_equal(arr.compute(), expected)


def test_aligned_aoi_in_lonlat_is_reprojected(tmp_path):
    from pyproj import Transformer

    p = write_tif(
        tmp_path / "lc.tif", np.full((4, 4), 10, np.uint8), res=10, left=L, top=T, nodata=0
    )
    # the whole grid's footprint, slightly enlarged, expressed in lon/lat
    to_ll = Transformer.from_crs("EPSG:32649", "EPSG:4326", always_xy=True)
    (w, e), (s, n) = to_ll.transform([L - 5, L + 45], [T - 45, T + 5])
    aoi = AOI(box(w, s, e, n), "EPSG:4326")
    np.testing.assert_array_equal(aligned_array([p], GRID, aoi, kind="categorical").compute(), 10)


def test_aligned_no_paths():
    with pytest.raises(InputDataError, match="no input files to align; check the fetch step"):
        aligned_array([], GRID, LEFT_HALF, kind="categorical")
