"""Faults of issue 16 that used to run to the end or fail late, each reproduced first:

- a biomass input × 1,000 (≈ 150,000 Mg/ha) ran to the end; now refused at align against the
  registry's plausible range (``valid_range``), or kept with a warning on request;
- land cover that misses the AOI, or is all nodata, passed align, stocks, sink and uncertainty and
  failed only at the stock tally; now refused at align with the count of the AOI's cells;
- land cover over part of the AOI: a warning with the share of the AOI's cells that have a value;
- a grid CRS in US survey feet was accepted (a 4 km² AOI reported as 47.7 km²);
- a malformed dataset registry entry gave a Python traceback.

In every refused case no layer reaches its final name and no temporary is left.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from sinkmap.config import Config, load_config
from sinkmap.errors import ConfigError, InputDataError
from sinkmap.grid import Grid
from sinkmap.sources import Manifest, file_record, load_registry
from sinkmap.stages.align import align_input

from ._helpers import AOI_GPKG, DATASETS_YAML, POOL_CSV, UTM_LEFT, UTM_TOP, write_tif

SIDE, RES = 64, 30.0  # the grid: 64 × 64 cells of 30 m inside Baoting


def _align(
    tmp_path: Path,
    role: str,
    dataset: str,
    layer: str,
    array: np.ndarray,
    *,
    left: float = UTM_LEFT,
    nodata: float | int | None = None,
    out_of_range: str | None = None,
    cut: bool = False,
) -> Path:
    """Align ``array`` (30 m cells from (left, UTM_TOP)) as ``role`` from ``dataset`` onto the
    grid; returns where the aligned layer goes. ``cut``: the file is cut in half after its
    manifest recorded it (damaged in the cache)."""
    grid = Grid("EPSG:32649", RES, UTM_LEFT, UTM_TOP, SIDE, SIDE, chunk=32)
    raw = tmp_path / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    grid.to_json(tmp_path / "grid.json")
    src = write_tif(raw / f"{layer}.tif", array, res=RES, left=left, top=UTM_TOP, nodata=nodata)
    Manifest(dataset, "v1", 2020, "local", False, (file_record(layer, src, raw),), raw).write(
        raw / "manifest.json"
    )
    if cut:
        data = src.read_bytes()
        src.write_bytes(data[: len(data) // 2])
    inputs: dict[str, dict[str, str]] = {"land_cover": {"dataset": "esa_worldcover"}}
    inputs[role] = {"dataset": dataset} | ({"out_of_range": out_of_range} if out_of_range else {})
    cfg = Config.model_validate(
        {
            "aoi": {"path": str(AOI_GPKG), "layer": "baoting"},
            "years": [2020],
            "inputs": inputs,
            "model": {"name": "lookup", "params": {"table": str(POOL_CSV)}},
            "datasets": str(DATASETS_YAML),
            "resources_dir": str(tmp_path / "resources"),
            "results_dir": str(tmp_path / "results"),
        }
    )
    out = tmp_path / "out" / f"{role}.tif"
    align_input(cfg, role, 2020, raw / "manifest.json", tmp_path / "grid.json", out)
    return out


def _nothing_left(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_biomass_times_1000_is_refused_at_align(tmp_path: Path) -> None:
    agb = np.full((SIDE, SIDE), 150_000, "float32")
    with pytest.raises(InputDataError) as exc:
        _align(tmp_path, "biomass", "esa_cci_biomass", "agb", agb)
    message = str(exc.value)
    assert f"{SIDE * SIDE:,} of {SIDE * SIDE:,} cells (100.0%)" in message
    assert "plausible range 0 to 1000 Mg ha-1" in message and "values 150000 to 150000" in message
    assert "inputs.biomass.out_of_range: warn" in message
    _nothing_left(tmp_path)


def test_biomass_out_of_range_is_kept_with_a_warning_on_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agb = np.full((SIDE, SIDE), 150.0, "float32")
    agb[:8, :8] = 1500.0  # 64 cells beyond 1,000 Mg/ha
    with caplog.at_level(logging.WARNING, logger="sinkmap"):
        out = _align(tmp_path, "biomass", "esa_cci_biomass", "agb", agb, out_of_range="warn")
    assert out.is_file()
    assert any(f"64 of {SIDE * SIDE:,} cells" in r.getMessage() for r in caplog.records)
    with rasterio.open(out) as ds:
        assert float(np.nanmax(ds.read(1))) == 1500.0  # kept as it is


def test_plausible_biomass_passes_without_a_word(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sinkmap"):
        out = _align(
            tmp_path, "biomass", "esa_cci_biomass", "agb", np.full((SIDE, SIDE), 1000.0, "f4")
        )
    assert out.is_file() and not caplog.records  # the bound itself is plausible


def test_land_cover_that_misses_the_aoi_is_refused_at_align(tmp_path: Path) -> None:
    far = UTM_LEFT + 200_000  # 200 km east: no overlap with the grid
    with pytest.raises(InputDataError, match=r"no value inside the area of interest \(0 of"):
        _align(
            tmp_path,
            "land_cover",
            "esa_worldcover",
            "map",
            np.full((SIDE, SIDE), 10, "uint8"),
            left=far,
            nodata=0,
        )
    _nothing_left(tmp_path)


def test_partial_land_cover_warns_with_the_share_of_the_aoi(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quarter of the grid has land cover (the first 16 of 64 columns). The message's share
    is the aligned layer's own count of cells with a value over the AOI's cells in the grid."""
    lc = np.zeros((SIDE, SIDE), "uint8")
    lc[:, :16] = 10
    with caplog.at_level(logging.WARNING, logger="sinkmap"):
        out = _align(tmp_path, "land_cover", "esa_worldcover", "map", lc, nodata=0)
    with rasterio.open(out) as ds:
        valid = int((ds.read(1) > 0).sum())
    warned = [r.getMessage() for r in caplog.records if "has a value in only" in r.getMessage()]
    assert len(warned) == 1 and f"({valid:,} of " in warned[0]
    assert valid <= SIDE * 16


def test_a_grid_crs_in_feet_is_refused() -> None:
    """EPSG:2227 (California zone 3, US survey feet) is projected but not metric."""
    with pytest.raises(ConfigError, match=r"US survey foot, not metres"):
        load_config(
            {
                "aoi": {"path": str(AOI_GPKG), "layer": "baoting"},
                "years": [2020],
                "grid": {"crs": "EPSG:2227"},
                "inputs": {"land_cover": {"dataset": "demo_worldcover"}},
                "model": {"name": "lookup", "params": {"table": str(POOL_CSV)}},
                "datasets": str(DATASETS_YAML),
            }
        )


@pytest.mark.parametrize(
    ("change", "fix"),
    [
        ("just a string", "is malformed"),
        ([1, 2, 3], "is malformed"),
        ({"versions": {"abc": "v1"}}, "is malformed"),
        ({"valid_range": [5, 1]}, r"valid_range \(5.0, 1.0\) must be \[low, high\]"),
        ({"valid_range": ["a", 1]}, "is malformed"),
    ],
)
def test_a_malformed_registry_entry_is_a_config_error(
    tmp_path: Path, change: object, fix: str
) -> None:
    """An entry that is not a mapping, a year that is not a number, a range upside down or not
    numbers: a ConfigError naming the dataset, never a traceback."""
    good = yaml.safe_load(DATASETS_YAML.read_text())["esa_cci_biomass"]
    entry = good | change if isinstance(change, dict) else change
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump({"broken": entry}))
    with pytest.raises(ConfigError, match=r"dataset '?broken'?") as exc:
        load_registry(path)
    assert re.search(fix, str(exc.value))


def test_a_corrupt_file_under_resources_is_set_aside_and_fetched_anew(tmp_path: Path) -> None:
    """A GeoTIFF cut in half after it was fetched: its header opens, its last rows do not. Before,
    align failed with "unexpected error, please report" and no hint; now align checks each fetched
    file against its manifest record first, renames the damaged one *.refused (nothing deleted),
    removes the folder's manifest so the next run fetches it anew, and says so; nothing reaches
    the output's name."""
    lc = np.full((SIDE, SIDE), 10, "uint8")
    assert _align(tmp_path / "good", "land_cover", "esa_worldcover", "map", lc, nodata=0).is_file()
    with pytest.raises(InputDataError) as exc:
        _align(tmp_path / "bad", "land_cover", "esa_worldcover", "map", lc, nodata=0, cut=True)
    raw = tmp_path / "bad" / "raw"
    size = (raw / "map.tif.refused").stat().st_size
    assert re.search(
        rf"map\.tif has {size:,} bytes, not the {2 * size:,} it was fetched with.*"
        r"set aside in .*raw \(renamed \*\.refused\).*the next run fetches them anew",
        str(exc.value),
    ), str(exc.value)
    assert sorted(p.name for p in raw.iterdir()) == ["map.tif.refused"]
    _nothing_left(tmp_path / "bad")


def test_all_nodata_land_cover_is_refused_at_align_and_set_aside(tmp_path: Path) -> None:
    """Land cover refused for what it holds (all nodata): nothing is written, the fetched file is
    renamed *.refused and the manifest removed, so a rerun asks the source again (it may have
    been corrected)."""
    with pytest.raises(
        InputDataError,
        match=r"(?s)no value inside .*miss the AOI or hold only nodata.*fetches them anew",
    ):
        _align(
            tmp_path,
            "land_cover",
            "esa_worldcover",
            "map",
            np.zeros((SIDE, SIDE), "uint8"),
            nodata=0,
        )
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["map.tif.refused"]
    _nothing_left(tmp_path)


def test_the_demo_landscape_outside_hainan_is_flagged() -> None:
    """The demo adapter invented 100 % tropical land cover for an AOI in Europe without a word."""
    from sinkmap.sources.demo import outside_hainan

    baoting = (109.401, 18.389, 109.848, 18.836)  # ../shared/sources.md
    assert outside_hainan(baoting) is None
    assert outside_hainan((108.6, 18.1, 111.1, 20.2)) is None  # the whole island
    europe = outside_hainan((11.0, 48.0, 11.5, 48.3))
    assert europe is not None and "outside Hainan" in europe and "use real datasets" in europe


def test_a_self_intersecting_aoi_is_repaired_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bow-tie (two 1 km triangles meeting at a point, drawn as one ring) was repaired to half
    its area without a word. make_valid keeps both triangles: 2 × ½ × 1 km × 0.5 km = 0.5 km²."""
    import geopandas as gpd
    import shapely

    from sinkmap.aoi import read_aoi

    x, y = UTM_LEFT, UTM_TOP
    bowtie = shapely.Polygon([(x, y), (x + 1000, y - 1000), (x + 1000, y), (x, y - 1000)])
    assert not bowtie.is_valid
    path = tmp_path / "aoi.gpkg"
    gpd.GeoDataFrame({"name": ["bow"]}, geometry=[bowtie], crs="EPSG:32649").to_file(path)
    with caplog.at_level(logging.WARNING, logger="sinkmap"):
        aoi = read_aoi(path)
    assert aoi.geometry.area == pytest.approx(500_000.0)
    (warning,) = [r.getMessage() for r in caplog.records if "AOI file" in r.getMessage()]
    assert "not valid polygons (Self-intersection" in warning and "0.50 km2" in warning
