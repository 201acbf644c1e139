"""sinkmap.aoi: the committed Baoting boundary, read errors, and per-chunk masks."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from rasterio.windows import Window
from shapely.geometry import Point, Polygon, box

from sinkmap.aoi import AOI, aoi_mask, check_disjoint, grid_for_aoi, read_aoi
from sinkmap.errors import AOIError
from sinkmap.grid import Grid

from ._helpers import AOI_GPKG


# -- the committed AOI ----------------------------------------------------------------------------
def test_baoting_reads_valid_polygon(baoting):
    assert baoting.geometry.is_valid
    assert baoting.geometry.geom_type in ("Polygon", "MultiPolygon")
    assert baoting.crs == "EPSG:4326"
    assert baoting.name == "Baoting Li and Miao Autonomous County"  # the layer's 'name' field


def test_baoting_area_close_to_official(baoting):
    # official county area 1,153.24 km2; the boundary measures ~1,152 km2 in UTM 49N
    area = baoting.area_km2("EPSG:32649")
    assert area == pytest.approx(1152.0, rel=0.01)
    assert area == pytest.approx(1153.24, rel=0.01)


def test_baoting_bounds(baoting):
    w, s, e, n = baoting.geometry.bounds
    assert w == pytest.approx(109.40, abs=0.01)
    assert e == pytest.approx(109.85, abs=0.01)
    assert s == pytest.approx(18.39, abs=0.01)
    assert n == pytest.approx(18.84, abs=0.01)


def test_read_aoi_name_override():
    assert read_aoi(AOI_GPKG, layer="baoting", name="x").name == "x"


def test_grid_for_baoting_is_utm_and_covers_county(baoting):
    g = grid_for_aoi(baoting, crs="EPSG:32649", resolution=10, chunk=2048)
    minx, miny, maxx, maxy = baoting.to_crs("EPSG:32649").geometry.bounds
    left, bottom, right, top = g.bounds
    assert left <= minx < left + 10 and right - 10 < maxx <= right
    assert bottom <= miny < bottom + 10 and top - 10 < maxy <= top
    assert left % 10 == 0 and top % 10 == 0
    # the county is ~47 km east-west and ~49 km north-south
    assert 4500 < g.width < 5000 and 4700 < g.height < 5100


# -- errors ---------------------------------------------------------------------------------------
def test_missing_file_names_config_key(tmp_path):
    with pytest.raises(AOIError, match=r"does not exist; set aoi\.path"):
        read_aoi(tmp_path / "nope.gpkg")


def test_unknown_layer_lists_layers():
    with pytest.raises(AOIError, match=r"no layer 'counties'.*\['baoting'\].*aoi\.layer"):
        read_aoi(AOI_GPKG, layer="counties")


def test_file_without_crs(tmp_path):
    path = tmp_path / "nocrs.shp"  # a shapefile without .prj has no CRS
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=None).to_file(path)
    assert not (tmp_path / "nocrs.prj").exists()
    with pytest.raises(AOIError, match=r"has no CRS; assign one"):
        read_aoi(path)


def test_point_layer_is_not_an_aoi(tmp_path):
    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[Point(109.7, 18.64)], crs="EPSG:4326").to_file(path)
    with pytest.raises(AOIError, match=r"holds no polygon.*must be a polygon layer"):
        read_aoi(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.gpkg"
    path.write_bytes(b"this is not a geopackage")
    with pytest.raises(AOIError, match=r"cannot read AOI file.*GeoPackage, shapefile or GeoJSON"):
        read_aoi(path)


# -- masks ----------------------------------------------------------------------------------------
# A 4 x 4 grid of 1 m cells with upper-left corner (0, 4): cell (r, c) has centre (c + 0.5, 3.5 - r).
GRID = Grid("EPSG:32649", 1.0, 0.0, 4.0, width=4, height=4, chunk=16)
FULL = Window(0, 0, 4, 4)


def test_mask_left_half():
    aoi = AOI(box(0, 0, 2, 4), "EPSG:32649")  # x in [0, 2]: centres at x = 0.5, 1.5 are inside
    expected = np.array(
        [
            [1, 1, 0, 0],
            [1, 1, 0, 0],
            [1, 1, 0, 0],
            [1, 1, 0, 0],
        ],
        dtype=bool,
    )
    mask = aoi_mask(aoi, GRID, FULL)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, expected)


def test_mask_triangle():
    # Triangle x >= 0, y >= 0, x + y < 4.2. Centre (c + 0.5, 3.5 - r): sum = 4 + c - r < 4.2
    # <=> c <= r, the lower triangle including the diagonal.
    aoi = AOI(Polygon([(0, 0), (4.2, 0), (0, 4.2)]), "EPSG:32649")
    expected = np.array(
        [
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [1, 1, 1, 1],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(aoi_mask(aoi, GRID, FULL), expected)
    # a window at an offset gives the same cells: rows 1-3, columns 1-2
    np.testing.assert_array_equal(aoi_mask(aoi, GRID, Window(1, 1, 2, 3)), expected[1:4, 1:3])


def test_mask_window_fully_inside_and_outside():
    aoi = AOI(box(-10, -10, 2, 14), "EPSG:32649")  # covers columns 0-1 entirely
    np.testing.assert_array_equal(aoi_mask(aoi, GRID, Window(0, 0, 2, 4)), np.ones((4, 2), bool))
    np.testing.assert_array_equal(aoi_mask(aoi, GRID, Window(2, 0, 2, 4)), np.zeros((4, 2), bool))


# -- several AOIs: no land counted twice ---------------------------------------------------------
def _square(x0: float, width: float = 0.01) -> AOI:
    return AOI(shapely.box(x0, 18.60, x0 + width, 18.61), "EPSG:4326", "square")


def test_aois_that_share_only_a_border_are_disjoint():
    assert check_disjoint({"a": _square(109.60), "b": _square(109.61), "c": _square(109.70)}) == {}


def test_a_sliver_along_a_shared_border_is_tolerated_and_measured():
    # b starts 0.00001 deg (about 1.05 m) inside a: a strip 1.05 m x 1.11 km, about 0.117 ha
    shared = check_disjoint({"a": _square(109.60), "b": _square(109.60999)})
    strip = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(
        shapely.box(109.60999, 18.60, 109.61, 18.61)
    )[0]
    assert shared.keys() == {("a", "b")}
    assert shared[("a", "b")] == pytest.approx(abs(strip) / 1e4, rel=1e-3)


def test_overlapping_aois_are_refused():
    # b covers the east half of a: 50 % of the smaller
    with pytest.raises(AOIError, match=r"AOIs a and b overlap by .* \(50\.0% of the smaller\)"):
        check_disjoint({"a": _square(109.60), "b": _square(109.605)})


# -- one AOI out of a file of several (aoi.where) --------------------------------------------------
@pytest.fixture
def counties(tmp_path: Path) -> Path:
    path = tmp_path / "counties.gpkg"
    gpd.GeoDataFrame(
        {"adcode": [469029, 469001], "name": ["Baoting", "Wuzhishan"]},
        geometry=[box(109.60, 18.60, 109.61, 18.61), box(109.50, 18.70, 109.52, 18.71)],
        crs="EPSG:4326",
    ).to_file(path, layer="counties")
    return path


def test_where_selects_the_aoi_among_the_features(counties):
    aoi = read_aoi(counties, layer="counties", where="adcode = 469001")
    assert aoi.name == "Wuzhishan"
    assert aoi.geometry.equals(box(109.50, 18.70, 109.52, 18.71))
    assert read_aoi(counties, where="name = 'Baoting'").name == "Baoting"


@pytest.mark.parametrize(
    ("where", "match"),
    [
        ("adcode = 1", r"no feature of AOI file .* matches aoi.where 'adcode = 1'"),
        ("code = 469001", r"cannot read AOI file .* with aoi.where 'code = 469001'.*field names"),
    ],
)
def test_a_where_that_selects_nothing_names_the_filter(counties, where, match):
    with pytest.raises(AOIError, match=match):
        read_aoi(counties, where=where)


# -- one AOI split into groups of tiles (grid.group_tiles) -----------------------------------------
def _rect_aoi(width_px: int, height_px: int, res: float = 10.0) -> AOI:
    """A rectangle in UTM 49N near Baoting: a grid of width_px x height_px cells once snapped."""
    left, top = 640_000.0, 2_060_000.0
    return AOI(
        box(left + 1, top - height_px * res + 1, left + width_px * res - 1, top - 1),
        "EPSG:32649",
        "r",
    )


def test_groups_of_tiles_cover_every_pixel_once():
    from sinkmap.aoi import group_boxes

    aoi = _rect_aoi(5 * 256 - 40, 3 * 256 - 10)  # 5 x 3 tiles of 256 px, the last ones partial
    grid = grid_for_aoi(aoi, crs="EPSG:32649", resolution=10.0, chunk=256)
    assert [len(c) for c in grid.chunks] == [3, 5]
    boxes = group_boxes(aoi, grid, 2)  # groups of 2 x 2 tiles: 2 rows x 3 columns of groups
    assert sorted(boxes) == ["g0x0", "g0x1", "g0x2", "g1x0", "g1x1", "g1x2"]
    assert boxes["g0x0"] == (grid.left, grid.top - 512 * 10.0, grid.left + 512 * 10.0, grid.top)
    polygons = [box(*b) for b in boxes.values()]
    whole = box(*grid.bounds)
    assert shapely.union_all(polygons).equals(whole)
    assert sum(p.area for p in polygons) == pytest.approx(whole.area, rel=1e-12)  # no overlap
    for left, bottom, right, top in boxes.values():  # on the grid's lattice, at tile corners
        for x in (left, right):
            assert ((x - grid.left) / 10.0) % 256 == 0 or x == grid.left + grid.width * 10.0
        for y in (bottom, top):
            assert ((grid.top - y) / 10.0) % 256 == 0 or y == grid.top - grid.height * 10.0
    assert group_boxes(aoi, grid, 5) == {}  # one group holds the whole grid: no split


def test_a_group_without_any_of_the_aoi_is_left_out():
    from sinkmap.aoi import group_boxes

    left, top = 640_000.0, 2_060_000.0
    # an L: the upper-right tile of a 2 x 2 tile grid is empty
    shape = Polygon(
        [
            (left, top),
            (left + 2560, top),
            (left + 2560, top - 2560),
            (left + 5120, top - 2560),
            (left + 5120, top - 5120),
            (left, top - 5120),
        ]
    )
    aoi = AOI(shape, "EPSG:32649", "L")
    grid = grid_for_aoi(aoi, crs="EPSG:32649", resolution=10.0, chunk=256)
    assert sorted(group_boxes(aoi, grid, 1)) == ["g0x0", "g1x0", "g1x1"]


def test_a_group_grid_keeps_the_whole_grids_area_blocks():
    """A group's AOI that starts 5 cells into its box: its grid's corner is moved out to a whole
    number of 16-cell area blocks from the box's, so its cells' areas are the whole grid's."""
    from sinkmap.aoi import clip_to_box

    aoi = _rect_aoi(600, 600)
    whole = grid_for_aoi(aoi, crs="EPSG:32649", resolution=10.0, chunk=256)
    inner = AOI(
        box(whole.left + 2610, whole.top - 5000, whole.left + 5000, whole.top - 2605), aoi.crs
    )
    box_ = (whole.left + 2560, whole.top - 5120, whole.left + 5120, whole.top - 2560)
    part = clip_to_box(inner, box_, "EPSG:32649")
    free = grid_for_aoi(part, crs="EPSG:32649", resolution=10.0, chunk=256)
    anchored = grid_for_aoi(
        part, crs="EPSG:32649", resolution=10.0, chunk=256, anchor=(box_[0], box_[3])
    )
    assert (free.left - box_[0], box_[3] - free.top) == (50.0, 40.0)
    assert (anchored.left - box_[0], box_[3] - anchored.top) == (0.0, 0.0)  # 5 and 4 cells < 16
    assert anchored.left + anchored.width * 10 == free.left + free.width * 10
    # the same cells, the same areas as the whole grid's, to the bit
    col, row = int((anchored.left - whole.left) / 10), int((whole.top - anchored.top) / 10)
    mine = anchored.cell_area_ha(Window(0, 0, 64, 64))
    theirs = whole.cell_area_ha(Window(col, row, 64, 64))
    assert np.array_equal(mine, theirs)
    with pytest.raises(AOIError, match=r"no area inside aoi.box"):
        clip_to_box(inner, (whole.left, whole.top - 100, whole.left + 100, whole.top), "EPSG:32649")
