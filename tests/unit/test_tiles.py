"""sinkmap.sources.tiles: tile names and boxes of the public products."""

from __future__ import annotations

import pytest

from sinkmap.errors import ConfigError
from sinkmap.sources.tiles import tile_boxes, tiles_for_bounds

BAOTING = (109.4005, 18.3894, 109.8481, 18.8355)


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        # 3-degree tiles named by lower-left corner: 108 <= lon < 111, 18 <= lat < 21
        ("worldcover_3deg", ["N18E108"]),
        # 10-degree tiles named by upper-left corner: 100 <= lon < 110, 10 <= lat < 20 -> N20E100
        ("cci_10deg", ["N20E100"]),
        ("hansen_10deg", ["20N_100E"]),
        # 1-degree tiles named by lower-left corner
        ("copdem_1deg", ["N18_00_E109_00"]),
    ],
)
def test_baoting_tiles(scheme, expected):
    assert tiles_for_bounds(scheme, BAOTING) == expected


@pytest.mark.parametrize(
    ("scheme", "box"),
    [
        ("worldcover_3deg", (108.0, 18.0, 111.0, 21.0)),
        ("cci_10deg", (100.0, 10.0, 110.0, 20.0)),
        ("hansen_10deg", (100.0, 10.0, 110.0, 20.0)),
        ("copdem_1deg", (109.0, 18.0, 110.0, 19.0)),
    ],
)
def test_baoting_tile_boxes(scheme, box):
    [(name, got)] = tile_boxes(scheme, BAOTING)
    assert name == tiles_for_bounds(scheme, BAOTING)[0]
    assert got == box
    w, s, e, n = got
    assert w <= BAOTING[0] and s <= BAOTING[1] and e >= BAOTING[2] and n >= BAOTING[3]


def test_box_crossing_meridian_boundary_gives_both_tiles():
    bounds = (108.9, 18.5, 109.2, 18.6)  # crosses 109 E
    assert tile_boxes("copdem_1deg", bounds) == [
        ("N18_00_E108_00", (108.0, 18.0, 109.0, 19.0)),
        ("N18_00_E109_00", (109.0, 18.0, 110.0, 19.0)),
    ]


def test_box_crossing_parallel_lists_north_first():
    # crosses 20 N: the 20-30 N tile (named N30E100) comes first
    bounds = (109.5, 19.9, 109.6, 20.1)
    assert tile_boxes("cci_10deg", bounds) == [
        ("N30E100", (100.0, 20.0, 110.0, 30.0)),
        ("N20E100", (100.0, 10.0, 110.0, 20.0)),
    ]
    assert tiles_for_bounds("hansen_10deg", bounds) == ["30N_100E", "20N_100E"]


def test_bounds_ending_on_a_tile_edge_do_not_add_a_tile():
    # east edge exactly on 109 E: only the 108 E tile
    assert tiles_for_bounds("copdem_1deg", (108.5, 18.5, 109.0, 18.6)) == ["N18_00_E108_00"]


def test_southern_western_hemispheres():
    # 1-degree tile with lower-left corner (-1 lat, -1 lon) -> S01_00_W001_00
    assert tiles_for_bounds("copdem_1deg", (-0.5, -0.5, -0.2, -0.2)) == ["S01_00_W001_00"]
    # 3-degree WorldCover tile containing (-0.5, -0.5): lower-left (-3, -3)
    assert tiles_for_bounds("worldcover_3deg", (-0.5, -0.5, -0.2, -0.2)) == ["S03W003"]


def test_unknown_scheme():
    with pytest.raises(
        ConfigError, match=r"unknown tile_scheme 'utm'; set the dataset's tile_scheme to one of \["
    ):
        tiles_for_bounds("utm", BAOTING)
