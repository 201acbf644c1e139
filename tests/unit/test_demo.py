"""The demo source (sinkmap.sources.fetch with demo_* datasets) and the synthetic landscape."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import rasterio
import shapely

from sinkmap import landscape
from sinkmap.errors import ConfigError, SourceError
from sinkmap.legends import FOREST_TYPE, STRATUM
from sinkmap.sources import Manifest, fetch, get_dataset, load_registry

from ._helpers import DATASETS_YAML

#: A small box around the county town, to stay fast.
BOX = (109.69, 18.63, 109.71, 18.65)
WC_FILE = "ESA_WorldCover_10m_2020_v200_N18E108_Map.tif"
AGB_FILE = "N20E100_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2020-fv6.0.tif"
SD_FILE = "N20E100_ESACCI-BIOMASS-L4-AGB_SD-MERGED-100m-2020-fv6.0.tif"


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATASETS_YAML)


@pytest.fixture(scope="module")
def worldcover(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wc")
    return fetch(registry["demo_worldcover"], 2020, BOX, folder), folder


@pytest.fixture(scope="module")
def cci(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cci")
    return fetch(registry["demo_cci_biomass"], 2020, BOX, folder), folder


def _is_integer(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- file names, grid lattice, encoding -----------------------------------------------------------
def test_worldcover_file_name_and_form(worldcover):
    manifest, folder = worldcover
    assert [f.path for f in manifest.files] == [WC_FILE]
    with rasterio.open(folder / WC_FILE) as ds:
        assert ds.crs.to_string() == "EPSG:4326"
        assert ds.res == pytest.approx((1 / 12000, 1 / 12000), rel=1e-9)
        assert ds.dtypes == ("uint8",) and ds.nodata == 0
        assert ds.tags()["SINKMAP_SYNTHETIC"] == "yes"
        t = ds.transform
        # tile N18E108 spans 108-111 E, 18-21 N on a 1/12000-degree lattice
        assert _is_integer((t.c - 108) * 12000)
        assert _is_integer((21 - t.f) * 12000)
        w, s, e, n = ds.bounds
        assert w <= BOX[0] and s <= BOX[1] and e >= BOX[2] and n >= BOX[3]
        # cropped to the box (plus a margin), not the whole tile
        assert e - w < 0.05 and n - s < 0.05
        values = set(np.unique(ds.read(1)).tolist())
    assert values <= {10, 20, 30, 40, 50, 60, 80}


def test_cci_file_names_and_form(cci):
    manifest, folder = cci
    assert {(f.layer, f.path) for f in manifest.files} == {("agb", AGB_FILE), ("sd", SD_FILE)}
    for name in (AGB_FILE, SD_FILE):
        with rasterio.open(folder / name) as ds:
            assert ds.crs.to_string() == "EPSG:4326"
            assert ds.res == pytest.approx((1 / 1125, 1 / 1125), rel=1e-9)
            assert ds.dtypes == ("uint16",)
            assert ds.tags()["SINKMAP_SYNTHETIC"] == "yes"
            t = ds.transform
            # N20E100 is named by its upper-left corner: 100 E, 20 N
            assert _is_integer((t.c - 100) * 1125)
            assert _is_integer((20 - t.f) * 1125)
            w, s, e, n = ds.bounds
            assert w <= BOX[0] and s <= BOX[1] and e >= BOX[2] and n >= BOX[3]
    with rasterio.open(folder / AGB_FILE) as agb, rasterio.open(folder / SD_FILE) as sd:
        a, d = agb.read(1).astype(float), sd.read(1).astype(float)
    # the documented SD model: 0.3 x AGB + 12 where AGB > 0 (both rounded to whole Mg/ha)
    assert np.all(np.abs(d[a > 0] - (0.3 * a[a > 0] + 12)) <= 1.0)
    assert a.max() < 500  # Mg/ha: no tropical forest holds more


def test_manifest_lists_files_with_checksums(worldcover, cci):
    for manifest, folder in (worldcover, cci):
        data = json.loads((folder / "manifest.json").read_text())
        assert data["synthetic"] is True and data["adapter"] == "demo" and data["year"] == 2020
        assert len(data["files"]) == len(manifest.files)
        for f in data["files"]:
            path = folder / f["path"]
            assert f["sha256"] == _sha256(path)
            assert f["size"] == path.stat().st_size
        assert Manifest.read(folder / "manifest.json") == manifest
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["manifest.json", ".verified-files.json"] + [f["path"] for f in data["files"]]
        )


def test_manifest_paths(cci):
    manifest, folder = cci
    assert manifest.paths("agb") == [folder / AGB_FILE]
    with pytest.raises(SourceError, match=r"lists no 'map' file; delete the folder"):
        manifest.paths("map")


def test_fetch_is_deterministic(registry, worldcover, tmp_path):
    again = fetch(registry["demo_worldcover"], 2020, BOX, tmp_path)
    with rasterio.open(worldcover[1] / WC_FILE) as a, rasterio.open(tmp_path / WC_FILE) as b:
        assert a.transform == b.transform
        np.testing.assert_array_equal(a.read(1), b.read(1))
    assert again.files[0].sha256 == worldcover[0].files[0].sha256


def test_year_outside_real_dataset(registry, tmp_path):
    with pytest.raises(SourceError, match=r"has no year 2030.*Choose another dataset"):
        fetch(registry["esa_worldcover"], 2030, BOX, tmp_path)


def test_real_adapter_offline(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    with pytest.raises(
        SourceError, match=r"(?s)offline mode.*N18E108_Map\.tif  <-  https://esa-worldcover"
    ):
        fetch(registry["esa_worldcover"], 2021, BOX, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset(registry):
    with pytest.raises(ConfigError, match=r"unknown dataset 'worldcover'.*inputs\.<role>\.dataset"):
        get_dataset(registry, "worldcover")


def test_filenames_use_year_version(registry):
    ds = registry["esa_worldcover"]
    assert ds.filenames(2020, BOX) == {"map": ["ESA_WorldCover_10m_2020_v100_N18E108_Map.tif"]}
    assert ds.filenames(2021, BOX) == {"map": ["ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"]}


# -- the synthetic landscape over the county ------------------------------------------------------
@pytest.fixture(scope="module")
def county_sample(baoting):
    """Classes of 2020 and 2021 every 0.002 degree over the AOI box, and the inside-AOI mask."""
    w, s, e, n = baoting.geometry.bounds
    lon = np.arange(w + 0.001, e, 0.002)
    lat = np.arange(n - 0.001, s, -0.002)
    inside = shapely.contains_xy(baoting.geometry, lon[None, :], lat[:, None])
    c2020, _ = landscape.landscape(lon, lat, 2020)
    c2021, _ = landscape.landscape(lon, lat, 2021)
    return c2020, c2021, inside


def test_tree_cover_share_matches_published_forest_cover(county_sample):
    c2020, _, inside = county_sample
    assert inside.sum() > 20_000  # ~1152 km2 / (0.002 deg)^2 ~ 24,000 samples
    share = (c2020[inside] == landscape.TREE).mean()
    # Baoting's forest cover is reported at 70-85 % (../shared/sources.md); the demo aims at 70-80 %
    assert 0.70 <= share <= 0.80


def test_subtype_codes_are_those_of_the_forest_type_and_stratum_legends():
    by_code = {c.code: c.name for c in FOREST_TYPE}
    assert by_code == {
        landscape.NATURAL: "Natural forest",
        landscape.RUBBER: "Rubber plantation",
        landscape.ARECA: "Areca and other palm plantation",
        landscape.OTHER_PLANTATION: "Other tree plantation",
    }
    strata = {c.code: c.name for c in STRATUM}
    assert {k: strata[k] for k in by_code} == by_code
    assert strata[landscape.REGROWTH] == "Regrowing forest"
    assert landscape.OTHER == 0 and 0 not in strata
    # WorldCover codes unchanged
    assert (landscape.TREE, landscape.SHRUB, landscape.GRASS, landscape.CROP) == (10, 20, 30, 40)
    assert (landscape.BUILT, landscape.BARE, landscape.WATER) == (50, 60, 80)


def test_built_up_near_county_town():
    # within ~500 m of 109.70 E 18.64 N (the town's radius is at least 0.8 x 1300 m in 2020)
    lon = np.linspace(109.695, 109.705, 21)
    lat = np.linspace(18.645, 18.635, 21)
    cls, _ = landscape.landscape(lon, lat, 2020)
    assert (cls == landscape.BUILT).mean() > 0.5
    # the river crosses the town: only built-up and water
    assert set(np.unique(cls).tolist()) <= {landscape.BUILT, landscape.WATER}


def test_some_but_few_pixels_change_between_years(county_sample):
    c2020, c2021, inside = county_sample
    changed = (c2020 != c2021)[inside].mean()
    assert 0 < changed < 0.10


def test_landscape_is_a_pure_function_of_position():
    # any window gives the same values as the same pixels of a larger window
    lon = 109.6 + np.arange(40) / 12000
    lat = 18.6 - np.arange(30) / 12000
    big, big_sub = landscape.landscape(lon, lat, 2022)
    small, small_sub = landscape.landscape(lon[7:20], lat[5:25], 2022)
    np.testing.assert_array_equal(small, big[5:25, 7:20])
    np.testing.assert_array_equal(small_sub, big_sub[5:25, 7:20])
    # the same for the plantation blocks' planting years, on a wider window with plantations
    lon = 109.5 + np.arange(0, 400, 4) / 12000
    lat = 18.5 - np.arange(0, 400, 4) / 12000
    big = landscape.planting_year(lon, lat, 2022)
    assert (big > 0).mean() > 0.1
    small = landscape.planting_year(lon[30:70], lat[10:45], 2022)
    np.testing.assert_array_equal(small, big[10:45, 30:70])


def test_a_cells_hash_is_taken_once_and_repeated_over_its_pixels():
    """The landscape hashes the lattice cell of each pixel (clearings, villages, logging) once per
    cell: the same numbers as hashing every pixel, for rows running south (decreasing y) and
    columns east, cells of uneven widths, and one pixel."""
    x = np.array([-1.0, -0.2, 0.1, 0.4, 0.9, 1.3, 2.0, 2.1, 5.5])
    y = np.array([3.9, 3.1, 2.8, 2.2, 1.0, -0.3, -0.4])
    cx, cy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    per_pixel = landscape._hash01(cy[:, None], cx[None, :], 23)
    np.testing.assert_array_equal(landscape._cell_hash01(cy, cx, 23), per_pixel)
    assert per_pixel.shape == (7, 9)
    np.testing.assert_array_equal(
        landscape._cell_hash01(cy[:1], cx[:1], 5), landscape._hash01(cy[:1, None], cx[None, :1], 5)
    )
