"""The local adapter: a folder of GeoTIFFs obtained by other means, found by filename pattern."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from sinkmap.errors import SourceError
from sinkmap.sources import Manifest, fetch, get_adapter, load_registry
from sinkmap.sources.local import LocalFilesAdapter

from ._helpers import DATASETS_YAML, write_tif

BAOTING = (109.401, 18.389, 109.848, 18.836)
WC_2021 = "ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
WC_2020 = "ESA_WorldCover_10m_2020_v100_N18E108_Map.tif"
AGB = "N20E100_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2020-fv6.0.tif"
SD = "N20E100_ESACCI-BIOMASS-L4-AGB_SD-MERGED-100m-2020-fv6.0.tif"


@pytest.fixture
def registry():
    return load_registry(DATASETS_YAML)


def _tif(path: Path, seed: int, *, crs: str | None = "EPSG:4326") -> bytes:
    """Write a small WorldCover-like GeoTIFF at ``path``; return its bytes."""
    data = np.random.default_rng(seed).integers(1, 100, size=(32, 32)).astype("uint8")
    write_tif(path, data, res=1 / 12000, left=108.0, top=21.0, crs=crs)  # type: ignore[arg-type]
    return path.read_bytes()


@pytest.fixture
def user_folder(tmp_path: Path) -> dict[str, bytes]:
    """A user's download folder with WorldCover 2020 and 2021 and CCI biomass 2020."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return {
        name: _tif(folder / name, seed)
        for seed, name in enumerate([WC_2021, WC_2020, AGB, SD, "readme.txt.tif.bak"])
    }


def _local(registry, name: str, path: Path, pattern=None):
    return dataclasses.replace(registry[name], adapter="local", path=str(path), pattern=pattern)


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_pattern_with_year_points_at_files_without_copying(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    before = listing(src)
    ds = _local(registry, "esa_worldcover", src, "ESA_WorldCover_10m_{year}_*_Map.tif")
    out = tmp_path / "raw"
    manifest = fetch(ds, 2021, BAOTING, out)
    (record,) = manifest.files
    assert record.path == str(src / WC_2021) and Path(record.path).is_absolute()
    assert record.size == len(user_folder[WC_2021])
    assert record.sha256 == hashlib.sha256(user_folder[WC_2021]).hexdigest()
    assert record.url == (src / WC_2021).as_uri()
    assert (manifest.adapter, manifest.version, manifest.synthetic) == ("local", "v200", False)
    assert listing(out) == [".verified-files.json", "manifest.json"]  # nothing copied
    assert listing(src) == before  # nothing added to or removed from the user's folder
    assert Manifest.read(out / "manifest.json").paths("map") == [src / WC_2021]


def test_default_pattern_is_the_product_file_names(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    manifest = fetch(_local(registry, "esa_cci_biomass", src), 2020, BAOTING, tmp_path / "raw")
    assert [(f.layer, Path(f.path).name) for f in manifest.files] == [("agb", AGB), ("sd", SD)]
    assert manifest.files[1].sha256 == hashlib.sha256(user_folder[SD]).hexdigest()


def test_pattern_per_layer(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    pattern = {"agb": "*AGB-MERGED*{year}*.tif", "sd": "*AGB_SD-MERGED*{year}-{version}.tif"}
    manifest = fetch(
        _local(registry, "esa_cci_biomass", src, pattern), 2020, BAOTING, tmp_path / "r"
    )
    assert [(f.layer, Path(f.path).name) for f in manifest.files] == [("agb", AGB), ("sd", SD)]


def test_string_pattern_applies_to_the_main_layer(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    ds = _local(registry, "esa_cci_biomass", src, "*AGB-MERGED-100m-{year}-*.tif")
    manifest = fetch(ds, 2020, BAOTING, tmp_path / "raw")
    assert [(f.layer, Path(f.path).name) for f in manifest.files] == [("agb", AGB)]


def test_tile_pattern_requires_every_tile(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    ds = _local(
        registry, "esa_worldcover", src, "ESA_WorldCover_10m_{year}_{version}_{tile}_Map.tif"
    )
    manifest = fetch(ds, 2021, BAOTING, tmp_path / "raw")
    assert [Path(f.path).name for f in manifest.files] == [WC_2021]
    # a box reaching into the next tile east (N18E111) needs that tile too
    with pytest.raises(SourceError, match=r"no file for tile N18E111 of esa_worldcover 2021"):
        fetch(ds, 2021, (110.9, 18.4, 111.2, 18.8), tmp_path / "raw2")


def test_no_match_names_folder_and_pattern(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    ds = _local(registry, "esa_worldcover", src, "WorldCover_{year}_*.tif")
    with pytest.raises(SourceError) as err:
        fetch(ds, 2021, BAOTING, tmp_path / "raw")
    message = str(err.value)
    assert str(src) in message and "'WorldCover_{year}_*.tif'" in message
    assert "'WorldCover_2021_*.tif'" in message and "`pattern:`" in message
    assert listing(tmp_path / "raw") == []


def test_unreadable_file_is_an_error(registry, user_folder, tmp_path):
    src = tmp_path / "downloads"
    (src / WC_2021).write_bytes(b"II*\x00 not really a tiff")
    ds = _local(registry, "esa_worldcover", src, "ESA_WorldCover_10m_{year}_*_Map.tif")
    with pytest.raises(
        SourceError, match=re.escape(f"local file {src / WC_2021} ") + ".* cannot be opened"
    ):
        fetch(ds, 2021, BAOTING, tmp_path / "raw")


def test_file_without_crs_is_an_error(registry, tmp_path):
    _tif(tmp_path / WC_2021, 1, crs=None)
    ds = _local(registry, "esa_worldcover", tmp_path, "ESA_WorldCover_10m_{year}_*_Map.tif")
    with pytest.raises(SourceError, match=r"has no CRS; assign the product's CRS"):
        fetch(ds, 2021, BAOTING, tmp_path / "raw")


def test_missing_folder_and_path(registry, tmp_path):
    with pytest.raises(SourceError, match=r"does not exist or is not a folder; fix `path:`"):
        fetch(_local(registry, "esa_worldcover", tmp_path / "nowhere"), 2021, BAOTING, tmp_path)
    ds = dataclasses.replace(registry["esa_worldcover"], adapter="local")
    with pytest.raises(SourceError, match=r"has no `path:`"):
        fetch(ds, 2021, BAOTING, tmp_path)


def test_unknown_pattern_field(registry, user_folder, tmp_path):
    ds = _local(registry, "esa_worldcover", tmp_path / "downloads", "WC_{month}.tif")
    with pytest.raises(SourceError, match=r"unknown field 'month'"):
        fetch(ds, 2021, BAOTING, tmp_path / "raw")


def test_relative_path_and_path_argument(registry, user_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = _local(registry, "esa_worldcover", Path("downloads"), "ESA_WorldCover_10m_{year}_*.tif")
    manifest = fetch(ds, 2020, BAOTING, tmp_path / "raw")
    assert [f.path for f in manifest.files] == [str(tmp_path / "downloads" / WC_2020)]
    adapter = LocalFilesAdapter(path=tmp_path / "downloads")
    other = dataclasses.replace(ds, path="/nonexistent")
    assert adapter.fetch(other, 2020, BAOTING, tmp_path / "raw", None).files == manifest.files


def test_registry_entry_with_local_adapter(tmp_path, user_folder):
    registry_yaml = DATASETS_YAML.read_text(encoding="utf-8") + (
        "\nmy_worldcover:\n"
        "  title: ESA WorldCover 10 m from a local folder\n"
        "  adapter: local\n"
        f"  path: {tmp_path / 'downloads'}\n"
        '  pattern: "ESA_WorldCover_10m_{year}_*_Map.tif"\n'
        "  version: v200\n"
        "  kind: categorical\n"
        "  legend: worldcover\n"
        "  tile_scheme: worldcover_3deg\n"
        "  files:\n"
        '    map: "ESA_WorldCover_10m_{year}_{version}_{tile}_Map.tif"\n'
        "  crs: EPSG:4326\n"
        "  pixel_size: 8.333333333333333e-05\n"
        "  dtype: uint8\n"
        "  nodata: 0\n"
        "  units: class code\n"
        "  licence: CC-BY-4.0\n"
        "  citation: Zanaga et al. (2022)\n"
    )
    path = tmp_path / "datasets.yaml"
    path.write_text(registry_yaml, encoding="utf-8")
    registry = load_registry(path)
    assert registry["esa_worldcover"].path is None and registry["esa_worldcover"].pattern is None
    assert isinstance(get_adapter(registry["my_worldcover"]), LocalFilesAdapter)
    manifest = fetch(registry["my_worldcover"], 2021, BAOTING, tmp_path / "raw")
    assert [Path(f.path).name for f in manifest.files] == [WC_2021]


def test_unknown_adapter_names_the_known_ones(registry):
    ds = dataclasses.replace(registry["esa_worldcover"], adapter="ftp")
    with pytest.raises(SourceError, match=r"'archive', 'demo', 'http_tiles', 'local'"):
        get_adapter(ds)
