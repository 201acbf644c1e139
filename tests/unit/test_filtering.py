"""Change filtering of the land-cover series (sinkmap.stages.filtering), worked by hand.

The grid is 10 m cells in an equal-area CRS (EPSG:6933), so a cell is exactly 0.01 ha and the
default minimum mapping unit, 0.0667 ha, is 7 cells; chunks of 16 cells put tile edges at rows and
columns 16. WorldCover codes: 10 tree cover (Forest land), 20 shrubland and 30 grassland
(Grassland), 40 cropland (Cropland).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from sinkmap.account.filtering import mmu_cells
from sinkmap.config import load_config
from sinkmap.grid import Grid
from sinkmap.stages.filtering import filter_land_cover

from ._helpers import AOI_GPKG, DATASETS_YAML, POOL_CSV, write_tif

CRS, RES, LEFT, TOP = "EPSG:6933", 10.0, 10_560_000.0, 2_300_000.0
TREE, SHRUB, GRASS, CROP = 10, 20, 30, 40


def _config(**change_filter: object):
    return load_config(
        {
            "aoi": {"path": str(AOI_GPKG), "layer": "baoting"},
            "years": [2020, 2021, 2022, 2023],
            "grid": {"crs": "EPSG:32649"},
            "inputs": {"land_cover": {"dataset": "demo_worldcover"}},
            "model": {"name": "lookup", "params": {"table": str(POOL_CSV)}},
            "datasets": str(DATASETS_YAML),
            "change_filter": change_filter,
        }
    )


def _series(tmp_path: Path, maps: dict[int, np.ndarray], cfg) -> dict[int, np.ndarray]:
    """Run the stage year by year as the workflow does; the filtered maps by year."""
    h, w = next(iter(maps.values())).shape
    grid = Grid(crs=CRS, resolution=RES, left=LEFT, top=TOP, width=w, height=h, chunk=16)
    grid_path = tmp_path / "grid.json"
    grid.to_json(grid_path)
    mapped = {
        y: write_tif(
            tmp_path / f"mapped_{y}.tif", m, res=RES, left=LEFT, top=TOP, crs=CRS, nodata=0
        )
        for y, m in maps.items()
    }
    out, previous = {}, None
    for y in sorted(maps):
        dst = {"land_cover": tmp_path / f"filtered_{y}.tif", "summary": tmp_path / f"cf_{y}.csv"}
        filter_land_cover(
            cfg,
            y,
            mapped={k: v for k, v in mapped.items() if k <= y},
            previous=previous,
            grid_path=grid_path,
            outputs=dst,
        )
        with rasterio.open(dst["land_cover"]) as ds:
            out[y] = ds.read(1)
        previous = dst["land_cover"]
    return out


def test_mmu_of_china_forest_definition_is_seven_cells() -> None:
    assert mmu_cells(0.0667, 0.01) == 7  # 6.67 cells, rounded up
    assert mmu_cells(0.07, 0.01) == 7 and mmu_cells(0.0, 0.01) == 1


def test_patches_below_the_mmu_keep_the_previous_classes_across_tile_edges(tmp_path) -> None:
    before = np.full((32, 32), TREE, np.uint8)
    after = before.copy()
    after[2, 2:7] = CROP  # 5 cells inside a tile: removed
    after[8, 2:12] = CROP  # 10 cells: kept
    after[20, 13:19] = CROP  # 6 cells across the tile edge at column 16 (3 | 3): removed
    after[26:28, 14:18] = CROP  # 8 cells across the edge (2 x 2 | 2 x 2): one patch, kept
    after[13:19, 28] = CROP  # 6 cells across the edge at row 16, in a column: removed
    after[29, 29] = CROP  # a single cell: removed
    cfg = _config(persistence_years=1)  # the MMU alone
    got = _series(tmp_path, {2020: before, 2021: after}, cfg)
    want = before.copy()
    want[8, 2:12] = CROP
    want[26:28, 14:18] = CROP
    np.testing.assert_array_equal(got[2021], want)
    table = pd.read_csv(tmp_path / "cf_2021.csv").set_index("quantity")["area_ha"]
    changed = 5 + 10 + 6 + 8 + 6 + 1
    assert table["changed as mapped"] == pytest.approx(changed * 0.01)
    assert table["removed: below the MMU"] == pytest.approx((5 + 6 + 6 + 1) * 0.01)
    assert table["changed after filtering"] == pytest.approx(18 * 0.01)
    assert table["forest loss as mapped"] == pytest.approx(changed * 0.01)
    assert table["forest loss after filtering"] == pytest.approx(18 * 0.01)
    assert table["held: not persistent"] == 0


def test_persistence_books_a_change_once_seen_twice_and_drops_flips(tmp_path) -> None:
    # Four pixel histories 2020-2023, one per row band (whole rows, far above the MMU) ...
    histories = {
        "flip": [TREE, CROP, TREE, TREE],  # A -> B -> A: never booked
        "lasting": [TREE, CROP, CROP, CROP],  # booked in 2022, the year it is seen again
        "within grassland": [TREE, SHRUB, GRASS, GRASS],  # Grassland from 2021, confirmed 2022
        "back and forth": [CROP, TREE, CROP, TREE],  # never twice in a row: stays cropland
    }
    want = {
        "flip": [TREE, TREE, TREE, TREE],
        "lasting": [TREE, TREE, CROP, CROP],
        "within grassland": [TREE, TREE, GRASS, GRASS],
        "back and forth": [CROP, CROP, CROP, CROP],
    }
    maps = {
        2020 + i: np.repeat(
            np.array([h[i] for h in histories.values()], np.uint8)[:, None], 8, axis=0
        ).repeat(32, axis=1)
        for i in range(4)
    }
    got = _series(tmp_path, maps, _config(min_mapping_unit_ha=0))
    for row, name in enumerate(histories):
        assert [int(got[y][row * 8, 0]) for y in sorted(got)] == want[name], name
    # held in 2021: every band changes category and none was mapped so before (4 x 8 x 32 cells)
    held = pd.read_csv(tmp_path / "cf_2021.csv").set_index("quantity")["area_ha"]
    assert held["held: not persistent"] == pytest.approx(4 * 8 * 32 * 0.01)
    # three years in a row: the lasting change waits one more year
    got3 = _series(tmp_path, maps, _config(min_mapping_unit_ha=0, persistence_years=3))
    assert [int(got3[y][8, 0]) for y in sorted(got3)] == [TREE, TREE, TREE, CROP]


def test_the_first_year_is_its_map_and_the_filter_can_be_turned_off(tmp_path) -> None:
    rng = np.random.default_rng(0)
    a = rng.choice(np.array([TREE, CROP, GRASS], np.uint8), size=(32, 32))
    b = rng.choice(np.array([TREE, CROP, GRASS], np.uint8), size=(32, 32))
    got = _series(tmp_path, {2020: a, 2021: b}, _config(persistence_years=1, min_mapping_unit_ha=0))
    np.testing.assert_array_equal(got[2020], a)
    np.testing.assert_array_equal(got[2021], b)
    first = pd.read_csv(tmp_path / "cf_2020.csv")
    assert (first["area_ha"] == 0).all() and first["previous_year"].isna().all()
