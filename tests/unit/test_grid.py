"""sinkmap.grid: snapping, chunking, persistence and true cell areas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod, Transformer
from rasterio.windows import Window

from sinkmap.errors import GridError
from sinkmap.grid import Grid

from ._helpers import UTM_LEFT, UTM_TOP

# WGS84 ellipsoid, written out for the closed-form zone area.
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563


# -- construction ---------------------------------------------------------------------------------
def test_from_bounds_snaps_outward_to_whole_pixels():
    # minx 1003 -> floor(100.3)*10 = 1000; maxx 1051 -> ceil(105.1)*10 = 1060 -> 6 columns
    # miny 2007 -> 2000; maxy 2049 -> 2050 -> 5 rows
    g = Grid.from_bounds((1003, 2007, 1051, 2049), crs="EPSG:32649", resolution=10)
    assert (g.left, g.top, g.width, g.height) == (1000.0, 2050.0, 6, 5)
    assert g.bounds == (1000.0, 2000.0, 1060.0, 2050.0)
    assert g.shape == (5, 6)
    assert g.crs == "EPSG:32649"
    assert tuple(g.transform) == (10.0, 0.0, 1000.0, 0.0, -10.0, 2050.0, 0.0, 0.0, 1.0)


def test_from_bounds_already_aligned_keeps_bounds():
    g = Grid.from_bounds((1000, 2000, 1060, 2050), crs="EPSG:32649", resolution=10)
    assert g.bounds == (1000.0, 2000.0, 1060.0, 2050.0)


def test_from_bounds_geographic_crs_with_metre_resolution_raises():
    with pytest.raises(GridError, match=r"projected CRS such as EPSG:32649"):
        Grid.from_bounds((109.4, 18.4, 109.8, 18.8), crs="EPSG:4326", resolution=10)


def test_from_bounds_empty_bounds_raises():
    with pytest.raises(GridError, match="check the AOI geometry"):
        Grid.from_bounds((10, 10, 10, 20), crs="EPSG:32649", resolution=10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 0.0}, "set grid.resolution"),
        ({"width": 0}, "finer grid.resolution or a larger AOI"),
        ({"chunk": 8}, "set grid.chunk"),
    ],
)
def test_invalid_grid_raises(kwargs, match):
    args = {
        "crs": "EPSG:32649",
        "resolution": 10.0,
        "left": 0.0,
        "top": 0.0,
        "width": 4,
        "height": 4,
    }
    with pytest.raises(GridError, match=match):
        Grid(**(args | kwargs))


# -- chunks and tiles -----------------------------------------------------------------------------
def test_chunks_split_with_remainder():
    g = Grid("EPSG:32649", 10.0, 0.0, 0.0, width=5000, height=2048, chunk=2048)
    # 5000 = 2048 + 2048 + 904
    assert g.chunks == ((2048,), (2048, 2048, 904))


def test_chunks_exact_multiple_has_no_empty_chunk():
    g = Grid("EPSG:32649", 10.0, 0.0, 0.0, width=4096, height=100, chunk=2048)
    assert g.chunks == ((100,), (2048, 2048))


def test_tiles_ids_and_windows_cover_grid_exactly_once():
    g = Grid("EPSG:32649", 10.0, 1000.0, 5000.0, width=50, height=37, chunk=16)
    tiles = list(g.tiles())
    # rows: 16, 16, 5 ; cols: 16, 16, 16, 2 -> 3 x 4 = 12 tiles, row-major
    assert len(tiles) == 12
    assert [t.id for t in tiles[:5]] == ["r000c000", "r000c001", "r000c002", "r000c003", "r001c000"]
    assert tiles[-1].id == "r002c003"
    last = tiles[-1]
    assert (last.row_off, last.col_off, last.height, last.width) == (32, 48, 5, 2)
    count = np.zeros(g.shape, dtype=int)
    for t in tiles:
        count[t.slices] += 1
        w = t.window
        assert (w.row_off, w.col_off, w.height, w.width) == (
            t.row_off,
            t.col_off,
            t.height,
            t.width,
        )
    assert (count == 1).all()


def test_tile_bounds_and_window_transform():
    g = Grid("EPSG:32649", 10.0, 1000.0, 5000.0, width=50, height=37, chunk=16)
    t = [t for t in g.tiles() if t.id == "r001c002"][0]
    # col_off 32 -> left 1000 + 320 = 1320; row_off 16 -> top 5000 - 160 = 4840; 16 x 16 px
    assert g.tile_bounds(t) == (1320.0, 4680.0, 1480.0, 4840.0)
    wt = g.window_transform(t.window)
    assert (wt.c, wt.f, wt.a, wt.e) == (1320.0, 4840.0, 10.0, -10.0)


def test_json_round_trip(tmp_path):
    g = Grid.from_bounds((1003, 2007, 1051, 2049), crs="EPSG:32649", resolution=10, chunk=256)
    path = tmp_path / "sub" / "grid.json"
    g.to_json(path)
    assert Grid.from_json(path) == g
    assert [p.name for p in path.parent.iterdir()] == ["grid.json"]  # no temporary file left


def test_profile_matches_grid():
    g = Grid("EPSG:32649", 10.0, 1000.0, 5000.0, width=50, height=37, chunk=16)
    p = g.profile(dtype="float32", nodata=None)
    assert (p["width"], p["height"], p["crs"], p["transform"]) == (
        50,
        37,
        "EPSG:32649",
        g.transform,
    )


# -- cell areas: projected ------------------------------------------------------------------------
def _geodesic_cell_area_ha(x0: float, y0: float, res: float, crs: str, n: int = 10) -> float:
    """Area of the cell with upper-left corner (x0, y0): its outline densified (n points per edge),
    taken to lon/lat with pyproj and measured on the WGS84 ellipsoid (Karney's geodesic area)."""
    t = np.linspace(0.0, res, n, endpoint=False)
    xs = np.concatenate([x0 + t, np.full(n, x0 + res), x0 + res - t, np.full(n, x0)])
    ys = np.concatenate([np.full(n, y0), y0 - t, np.full(n, y0 - res), y0 - res + t])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    return abs(area) / 1e4


def test_cell_area_projected_matches_geodesic_area():
    g = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=64, height=64, chunk=32)
    areas = g.cell_area_ha(Window(0, 0, 64, 64))
    assert areas.shape == (64, 64) and areas.dtype == np.float64
    for r, c in [(0, 0), (5, 7), (20, 33), (63, 63), (40, 2)]:
        ref = _geodesic_cell_area_ha(UTM_LEFT + 10 * c, UTM_TOP - 10 * r, 10.0, "EPSG:32649")
        assert areas[r, c] == pytest.approx(ref, rel=1e-5)


def test_cell_area_projected_exceeds_planar_by_utm_scale_factor():
    g = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=16, height=16, chunk=16)
    area = g.cell_area_ha(Window(0, 0, 16, 16))[8, 8]
    # Baoting lies ~1.3-1.6 degrees west of the 111 E central meridian, where the UTM point scale
    # k = k0 (1 + x^2 / (2 R^2)) is below 1, so the true area exceeds the planar 0.01 ha by 1/k^2.
    x = UTM_LEFT + 85.0 - 500_000.0  # easting of the cell centre relative to the central meridian
    k = 0.9996 * (1 + x**2 / (2 * 6_371_000.0**2))
    ratio = area / 0.01
    assert ratio > 1.0
    assert 1.0002 < ratio < 1.0004
    assert ratio == pytest.approx(1 / k**2, abs=1e-5)
    # and the geodesic area says the same, independently of the formula above
    ref = _geodesic_cell_area_ha(UTM_LEFT + 80.0, UTM_TOP - 80.0, 10.0, "EPSG:32649")
    assert ref / 0.01 > 1.0


def test_cell_area_projected_consistent_across_windows():
    g = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=80, height=80, chunk=32)
    big = g.cell_area_ha(Window(0, 0, 80, 80))
    small = g.cell_area_ha(Window(7, 5, 30, 20))  # col_off 7, row_off 5, 30 wide, 20 high
    assert small.shape == (20, 30)
    np.testing.assert_array_equal(small, big[5:25, 7:37])


# -- cell areas: geographic -----------------------------------------------------------------------
def _zone_area_ha(lat_top: float, lat_bottom: float, dlon: float) -> float:
    """Closed-form area of an ellipsoid quadrangle (authalic q function), WGS84, in ha."""
    a, f = WGS84_A, WGS84_F
    e2 = f * (2 - f)
    e = math.sqrt(e2)
    b = a * math.sqrt(1 - e2)

    def q(phi: float) -> float:
        s = math.sin(phi)
        return s / (1 - e2 * s * s) + (1 / (2 * e)) * math.log((1 + e * s) / (1 - e * s))

    area_m2 = (
        (b**2 / 2) * math.radians(dlon) * (q(math.radians(lat_top)) - q(math.radians(lat_bottom)))
    )
    return area_m2 / 1e4


def test_cell_area_geographic_matches_closed_form():
    res = 1 / 12000
    g = Grid("EPSG:4326", res, 109.4, 18.84, width=40, height=60, chunk=16)
    areas = g.cell_area_ha(Window(0, 0, 40, 60))
    assert areas.shape == (60, 40)
    for r in range(60):
        top = 18.84 - r * res
        ref = _zone_area_ha(top, top - res, res)
        np.testing.assert_allclose(areas[r], ref, rtol=1e-6)
    # sanity: a 1/12000-degree cell at 18.8 N is about 9.26 m x 8.77 m = 0.0081 ha
    assert areas[0, 0] == pytest.approx(0.0081, rel=0.01)


def test_cell_area_geographic_consistent_across_windows():
    res = 1 / 12000
    g = Grid("EPSG:4326", res, 109.4, 18.84, width=60, height=60, chunk=16)
    big = g.cell_area_ha(Window(0, 0, 60, 60))
    small = g.cell_area_ha(Window(7, 5, 30, 20))
    np.testing.assert_array_equal(small, big[5:25, 7:37])
