"""Path traversal: a '..' or a separator in any user-controlled part of a path (a dataset version in
the config, a file pattern of the dataset registry, a local pattern) is refused with the fix,
before anything is read or written outside its folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from sinkmap.config import load_config
from sinkmap.errors import ConfigError
from sinkmap.paths import Paths
from sinkmap.sources import fetch, load_registry

from ._helpers import CONFIG_YAML, DATASETS_YAML, write_tif

BAOTING = (109.401, 18.389, 109.848, 18.836)
FIX = "not a plain file or folder name"


@pytest.mark.parametrize("version", ["../../etc", "v200/../../x", "..", "a\\b"])
def test_a_version_with_a_path_in_the_config_is_refused(version: str) -> None:
    cfg = yaml.safe_load(CONFIG_YAML.read_text(encoding="utf-8"))
    cfg["inputs"]["land_cover"]["version"] = version
    with pytest.raises(ConfigError, match=FIX):
        load_config(cfg)


def test_resources_paths_stay_in_resources(tmp_path: Path) -> None:
    paths = Paths(resources=tmp_path / "resources", results=tmp_path / "results")
    assert paths.raw_dir("esa_worldcover", "v200", 2021).is_relative_to(tmp_path / "resources")
    for dataset, version in (("../x", "v1"), ("esa_worldcover", "../../../tmp")):
        with pytest.raises(ConfigError, match=FIX):
            paths.raw_dir(dataset, version, 2021)


@pytest.mark.parametrize(
    "name", ["esa_worldcover", "demo_worldcover", "clcd", "lesiv_fml", "io_lulc", "sentinel2_ndvi"]
)
def test_a_registry_file_pattern_or_version_that_climbs_out_is_refused(name: str) -> None:
    """Every adapter (http_tiles, demo, archive, stac, sentinel2_composite) builds its file names
    from the registry's patterns and versions: a dataset entry with a path in either is refused
    however it is made, before any adapter runs."""
    registry = load_registry(DATASETS_YAML)
    layer = next(iter(registry[name].files))
    with pytest.raises(ConfigError, match=FIX):
        dataclasses.replace(registry[name], files={layer: "../../escaped_{year}.tif"})
    with pytest.raises(ConfigError, match=FIX):
        dataclasses.replace(registry[name], version="../../v1")


def test_a_local_pattern_cannot_read_outside_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    data = np.ones((32, 32), "uint8") * 10
    write_tif(tmp_path / "secret_2021.tif", data, res=1 / 12000, left=108.0, top=21.0)
    registry = load_registry(DATASETS_YAML)
    local = dataclasses.replace(
        registry["esa_worldcover"],
        adapter="local",
        path=str(folder),
        pattern="../secret_{year}.tif",
    )
    with pytest.raises(ConfigError, match="outside its folder"):
        fetch(local, 2021, BAOTING, tmp_path / "raw")
