"""The sinkmap command: dry-run fetch planning, dataset listing, validation errors."""

from __future__ import annotations

import json

import pytest
import yaml

from sinkmap.cli import main

from ._helpers import AOI_GPKG, DATASETS_YAML, POOL_CSV


def _config(tmp_path, dataset: str, years: list[int], aoi: dict | None = None) -> str:
    cfg = {
        "aoi": aoi or {"path": str(AOI_GPKG), "layer": "baoting"},
        "years": years,
        "inputs": {"land_cover": {"dataset": dataset}},
        "model": {"name": "lookup", "params": {"table": str(POOL_CSV)}},
        "datasets": str(DATASETS_YAML),
        "resources_dir": str(tmp_path / "resources"),
        "results_dir": str(tmp_path / "results"),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def test_fetch_dry_run_lists_real_urls_without_network(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")  # any network access would fail
    assert main(["fetch", "--dry-run", _config(tmp_path, "esa_worldcover", [2020, 2021])]) == 0
    rows = json.loads(capsys.readouterr().out)
    base = "https://esa-worldcover.s3.eu-central-1.amazonaws.com"
    assert [r["url"] for r in rows] == [
        f"{base}/v100/2020/map/ESA_WorldCover_10m_2020_v100_N18E108_Map.tif",
        f"{base}/v200/2021/map/ESA_WorldCover_10m_2021_v200_N18E108_Map.tif",
    ]
    assert all(r["status"] == "to fetch" and r["size_bytes"] is None for r in rows)
    assert not (tmp_path / "resources").exists()


def test_fetch_then_dry_run_reports_present_files(tmp_path, capsys):
    # a 2 km square in the county: the demo's synthetic tile is made for the AOI's window only
    import geopandas as gpd
    import shapely

    square = shapely.box(109.60, 18.60, 109.62, 18.62)
    gpd.GeoDataFrame(geometry=[square], crs="EPSG:4326").to_file(tmp_path / "aoi.geojson")
    config = _config(tmp_path, "demo_worldcover", [2021], {"path": str(tmp_path / "aoi.geojson")})
    assert main(["fetch", config]) == 0
    capsys.readouterr()
    assert main(["fetch", "--dry-run", config]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    path = (
        tmp_path
        / "resources/raw/demo_worldcover/v200/2021/ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
    )
    assert row["status"] == "present" and row["size_bytes"] == path.stat().st_size


def test_sources_lists_licences_and_years(capsys):
    assert main(["sources", str(DATASETS_YAML)]) == 0
    out = capsys.readouterr().out
    assert "esa_worldcover: ESA WorldCover 10 m" in out and "years=2020, 2021" in out
    assert "licence: CC-BY-4.0" in out


def test_validate_reports_config_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("aoi: {path: x}\nyears: [2020]\ninputs: {}\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "inputs: needs a 'land_cover' role" in err


def test_validate_describes_every_aoi_of_a_several_aoi_config(capsys, monkeypatch):
    from ._helpers import ROOT

    monkeypatch.chdir(ROOT)  # the example's paths are relative to the checkout
    assert main(["validate", "config/examples/hainan_counties.yaml"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["aois"]) == 18 and out["shared_border_ha"] == {}
    baoting = out["aois"]["baoting"]
    assert baoting["aoi"] == "Baoting Li and Miao Autonomous County"
    assert baoting["results"] == "results/hainan_counties/baoting"
    # the committed county boundary: 1,152 km² in UTM 49N (aoi/README.md), and its bounds in UTM
    # 49N out to whole 10 m cells
    import math

    import geopandas as gpd

    left, bottom, right, top = (
        gpd.read_file(ROOT / "aoi" / "baoting.gpkg").to_crs(32649).total_bounds
    )
    cells = (
        math.ceil(right / 10) - math.floor(left / 10),
        math.ceil(top / 10) - math.floor(bottom / 10),
    )
    assert baoting["aoi_area_km2"] == pytest.approx(1152.1, abs=0.1)
    assert (baoting["grid"]["width"], baoting["grid"]["height"]) == cells
