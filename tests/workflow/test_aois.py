"""Several AOIs in one run (``aois:``): each AOI's jobs fan out in one DAG, each AOI's outputs
equal a run of that AOI alone, and their sum adds the AOIs' accounts and draws exactly.

The AOIs: ``town``, the tiny AOI of the published run (tests/workflow/conftest.py), with its
zones and the demo's carbon-state model, and ``west``, the same polygon 0.03° west, without zones.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
import yaml
from conftest import PUBLISHED_YEARS
from tinyrun import (
    AOI_LONLAT,
    dynamics_settings,
    output_digests,
    snakemake,
    write_aoi,
    write_config,
)

pytestmark = pytest.mark.workflow

AOIS_ACCOUNT = "results/carbon_account_aois.csv"


def _config(workdir: Path, **west: object) -> Path:
    """The published run's config with two AOIs instead of one."""
    write_aoi(workdir)
    west_poly = shapely.affinity.translate(shapely.Polygon(AOI_LONLAT), -0.03, 0)
    gpd.GeoDataFrame({"name": ["west AOI"]}, geometry=[west_poly], crs="EPSG:4326").to_file(
        workdir / "west.geojson"
    )
    path = write_config(workdir, PUBLISHED_YEARS, **dynamics_settings(workdir))
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["aois"] = {
        "town": {"aoi": cfg.pop("aoi")},
        "west": {
            "aoi": {"path": str(workdir / "west.geojson"), "name": "west AOI"},
            "account": {"zones": None},
        }
        | west,
    }
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def aois_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Both AOIs' accounts and their sum (what the sum needs: stocks, Monte Carlo, intervals)."""
    workdir = tmp_path_factory.mktemp("aois")
    _config(workdir)
    proc = snakemake(workdir, AOIS_ACCOUNT)
    return workdir, proc.stdout + proc.stderr


def test_each_aoi_is_its_own_jobs_and_folders(aois_run):
    workdir, output = aois_run
    for name in ("town", "west"):
        for rule in ("fetch", "align", "stocks", "uncertainty", "interval", "account"):
            assert f"rule {name}_{rule}:" in output
        assert (workdir / "results" / name / "2021" / "carbon_stock_total.tif").is_file()
        assert (workdir / "logs" / name / "stocks" / "2021.log").is_file()
        assert list((workdir / "resources" / name / "raw").iterdir())
    assert sorted(p.name for p in (workdir / "results").iterdir()) == [
        "carbon_account_aois.csv",
        "town",
        "west",
    ]


def test_an_aoi_gives_what_it_gives_alone(aois_run, published_run):
    """Every layer and table the several-AOI run made for ``town`` equals the published run's of
    the same AOI, config and model: tables byte for byte (without ``computed_at``), layers pixel
    for pixel with the same tags, but for the AOI tag, the path of the AOI's file (the same file
    in another folder)."""
    workdir, _ = aois_run
    mine_root, alone_root = workdir / "results" / "town", published_run / "results"
    tables = {k: v for k, v in output_digests(mine_root).items() if k.endswith(".csv")}
    alone = output_digests(alone_root)
    assert {"2021/monte_carlo.csv", "carbon_account.csv"} <= set(tables)
    assert {k: alone.get(k) for k in tables} == tables
    layers = sorted(p.relative_to(mine_root) for p in mine_root.rglob("*.tif"))
    assert Path("2021/carbon_stock_total.tif") in layers and len(layers) > 30
    for rel in layers:
        with rasterio.open(mine_root / rel) as a, rasterio.open(alone_root / rel) as b:
            ta, tb = a.tags(), b.tags()
            assert ta.pop("AOI") == str(workdir / "aoi.geojson")
            assert tb.pop("AOI") == str(published_run / "aoi.geojson")
            assert ta == tb, rel
            assert a.profile["transform"] == b.profile["transform"] and a.count == b.count
            assert np.array_equal(a.read(), b.read(), equal_nan=True), rel


def _whole(t: pd.DataFrame) -> pd.DataFrame:
    return t[(t["zone_id"] == "aoi") & (t["class_name"] == "all classes")]


def test_the_sum_adds_the_aois_accounts_and_their_draws(aois_run):
    workdir, _ = aois_run
    res = workdir / "results"
    table = pd.read_csv(res / "carbon_account_aois.csv", dtype={"zone_id": str})
    # the contract (docs/outputs.md): the AOI's name, then the account's columns
    assert list(table.columns) == [
        "aoi",
        *pd.read_csv(res / "town" / "carbon_account.csv", nrows=0).columns,
    ]
    alone = {
        n: pd.read_csv(res / n / "carbon_account.csv", dtype={"zone_id": str})
        for n in ("town", "west")
    }
    # every AOI's rows, as its own account has them, with the AOI's name in front
    for name, t in alone.items():
        mine = table[table["aoi"] == name].drop(columns="aoi").reset_index(drop=True)
        assert len(mine) == len(t)
        assert np.allclose(
            mine["stock_mgc"].fillna(-1), t["stock_mgc"].fillna(-1), rtol=0, atol=1e-6
        )
    total = _whole(table[table["aoi"] == "all AOIs"])
    town, west = (_whole(alone[n]) for n in ("town", "west"))

    def one(t: pd.DataFrame, **key: object) -> pd.Series:
        sel = t
        for k, v in key.items():
            sel = sel[sel[k] == v]
        assert len(sel) == 1, key
        return sel.iloc[0]

    # draws of the whole AOI's total stock, summed draw by draw over the AOIs
    def draws(year: int) -> np.ndarray:
        out = 0
        for n in ("town", "west"):
            d = pd.read_csv(res / n / str(year) / "monte_carlo.csv", dtype={"zone_id": str})
            d = d[(d["zone_id"] == "aoi") & (d["pool"] == "total")].sort_values("draw")
            out = out + d["stock_mgc"].to_numpy()
        return np.asarray(out)

    for year in PUBLISHED_YEARS:
        for pool in ("above", "below", "dead", "soil", "total"):
            key = {"year": year, "pool": pool, "method": "stock-difference"}
            s, a, b = one(total, **key), one(town, **key), one(west, **key)
            assert s["area_ha"] == pytest.approx(a["area_ha"] + b["area_ha"], rel=1e-12, abs=1e-6)
            assert s["stock_mgc"] == pytest.approx(a["stock_mgc"] + b["stock_mgc"], abs=1e-6)
            assert s["stock_density_mgc_per_ha"] == pytest.approx(
                s["stock_mgc"] / s["area_ha"], rel=1e-6
            )
        s = one(total, year=year, pool="total", method="stock-difference")
        lo, hi = np.percentile(draws(year), [2.5, 97.5])
        assert (s["stock_mgc_p025"], s["stock_mgc_p975"]) == pytest.approx((lo, hi), abs=1e-5)
        assert s["mc_draws"] == 20
    y0, y1 = PUBLISHED_YEARS
    key = {"interval_start": y0, "interval_end": y1, "pool": "total"}
    for method in ("stock-difference", "gain-loss"):
        s, a, b = (one(t, method=method, **key) for t in (total, town, west))
        for col in ("net_flux_mgco2e_per_yr", "emissions_mgco2e_per_yr", "removals_mgco2e_per_yr"):
            assert s[col] == pytest.approx(a[col] + b[col], abs=1e-6)
    # the flux's draws: -(T1 - T0) x 44/12 per year, T the summed stock of each draw
    flux = -(draws(y1) - draws(y0)) * 44 / 12 / (y1 - y0)
    s = one(total, method="stock-difference", **key)
    lo, hi = np.percentile(flux, [2.5, 97.5])
    assert (s["net_flux_mgco2e_per_yr_p025"], s["net_flux_mgco2e_per_yr_p975"]) == pytest.approx(
        (lo, hi), abs=1e-5
    )
    assert np.isnan(one(total, method="gain-loss", **key)["net_flux_mgco2e_per_yr_p025"])
    assert set(total["synthetic"]) == {"yes"}


def test_overlapping_aois_are_refused_before_any_job(tmp_path):
    """An AOI that covers another's land would count it twice in the sum."""
    _config(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    cfg["aois"]["copy"] = {"aoi": {"path": str(tmp_path / "aoi.geojson")}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    # the config's keys come sorted (yaml.safe_dump): copy, town, west
    found = re.search(r"AOIs copy and town overlap by ([\d.,]+) ha \(100\.0% of the smaller\)", err)
    assert found, err
    geodesic, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(shapely.Polygon(AOI_LONLAT))
    assert float(found[1].replace(",", "")) == pytest.approx(abs(geodesic) / 1e4, rel=1e-3)
    assert "would count that land twice" in err
    assert "Traceback" not in err
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_aois_catalog_links_each_aois_catalog(tmp_path, published_run):
    """results/stac/catalog.json of a several-AOI run: a child link per AOI's catalog, valid
    STAC, walked by pystac down to the AOIs' items (here one AOI's, the published run's)."""
    import pystac

    from sinkmap.publish.stac import build_aois_catalog

    child = published_run / "results" / "stac" / "catalog.json"
    top = build_aois_catalog(tmp_path, {"town": child}, title="two counties")
    assert top == tmp_path / "stac" / "catalog.json"
    catalog = pystac.Catalog.from_file(str(top))
    assert catalog.extra_fields["sinkmap:synthetic"] is True
    assert "SYNTHETIC DEMO DATA" in catalog.description
    (town,) = catalog.get_children()
    assert town.get_self_href() == str(child)
    items = list(town.get_items(recursive=True))
    assert {i.id for i in items} >= {"stocks-2021", "sink-2020-2021"}, [i.id for i in items]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stac"]


def test_the_aois_download_a_tile_they_share_once(tmp_path: Path) -> None:
    """Both AOIs lie in ESA WorldCover's tile N18E108: their fetch jobs download it once into the
    run's download cache (``resources/downloads``), and each AOI's folder holds it, hard-linked,
    with its own manifest."""
    import os

    from affine import Affine
    from servers import TileServer, tif_bytes

    name = "ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
    path = f"/v200/2021/map/{name}"
    server = TileServer()
    lc = np.full((120, 120), 10, dtype="uint8")
    server.files[path] = tif_bytes(
        lc, crs="EPSG:4326", transform=Affine(1 / 1200, 0, 109.6, 0, -1 / 1200, 18.7), nodata=0
    )
    server.start()
    try:
        config = _config(tmp_path)
        cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
        cfg["inputs"]["land_cover"] = {"dataset": "esa_worldcover"}
        cfg["years"] = [2021]
        cfg["change_filter"] = {"enabled": False}  # no warm-up year (v100 in 2020)
        config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        targets = [
            f"resources/{aoi}/raw/esa_worldcover/v200/2021/manifest.json"
            for aoi in ("town", "west")
        ]
        env = {
            "SINKMAP_OFFLINE": "0",
            "SINKMAP_BASE_URL_ESA_WORLDCOVER": server.url,
            "NO_PROXY": "127.0.0.1",
        }
        proc = snakemake(tmp_path, *targets, env=env)
    finally:
        server.stop()
    assert server.count(path) == 1, proc.stderr[-3000:]
    files = [tmp_path / Path(t).parent / name for t in targets]
    assert all(f.read_bytes() == server.files[path] for f in files)
    (cached,) = (tmp_path / "resources" / "downloads").glob(f"*/{name}")
    assert {os.stat(f).st_ino for f in files} == {os.stat(cached).st_ino}


def test_an_aoi_split_into_groups_of_tiles_adds_up_to_the_whole(tmp_path: Path) -> None:
    """``grid.group_tiles``: the tiny AOI, 2 x 2 tiles of 256 px, split into groups of one tile,
    each run as an AOI of its own (``results/g<row>x<col>/``); every pixel is in one group and
    each group's cell areas are evaluated on the whole grid's blocks, so the groups' summed area
    and stock are a run of the whole AOI's (the pool table's model, without change filtering,
    whose minimum mapping unit would judge a patch a group border cuts)."""
    settings: dict[str, object] = {
        "account": {"gain_loss": {"enabled": False}, "uncertainty": {"enabled": False}},
        "change_filter": {"enabled": False},
    }
    whole, split = tmp_path / "whole", tmp_path / "split"
    for workdir in (whole, split):
        workdir.mkdir()
        write_aoi(workdir)
    write_config(whole, [2021], **settings)
    grid = {"crs": "EPSG:32649", "resolution": 10, "chunk": 256, "group_tiles": 1}
    write_config(split, [2021], grid=grid, **settings)
    snakemake(whole, "results/carbon_account.csv")
    snakemake(split, AOIS_ACCOUNT)

    one = pd.read_csv(whole / "results/carbon_account.csv", dtype={"zone_id": str})
    total = one[(one["zone_id"] == "aoi") & (one["class_name"] == "all classes")]
    total = total[(total["pool"] == "total") & (total["year"] == 2021)]
    summed = pd.read_csv(split / AOIS_ACCOUNT, dtype={"zone_id": str})
    groups = sorted(set(summed["aoi"]) - {"all AOIs"})
    assert len(groups) >= 2 and all(re.fullmatch(r"g\dx\d", g) for g in groups), groups
    rows = summed[(summed["aoi"] == "all AOIs") & (summed["pool"] == "total")]
    rows = rows[rows["year"] == 2021]
    # equal but for the tables' 6 decimals: each group's value and the whole's rounded once
    rounding = 0.5e-6 * (len(groups) + 1)
    for column in ("area_ha", "stock_mgc"):
        assert rows[column].iloc[0] == pytest.approx(total[column].iloc[0], abs=rounding), column
    assert all((split / "results" / g / "2021" / "carbon_stock_total.tif").exists() for g in groups)

    # the whole AOI's layers: a VRT of the groups' COGs each (rule aois_mosaic, once every group
    # is published; here the library call on the layers made above), the whole run's pixels
    from sinkmap.stages.aois import write_mosaics

    plan = snakemake(split, "-n", "results/mosaic").stdout
    assert "aois_mosaic" in plan
    mosaics = write_mosaics({g: split / "results" / g for g in groups}, tmp_path / "mosaic")
    assert tmp_path / "mosaic" / "2021" / "carbon_stock_total.vrt" in mosaics
    for name in ("carbon_stock_total", "land_cover"):
        with (
            rasterio.open(tmp_path / "mosaic" / "2021" / f"{name}.vrt") as vrt,
            rasterio.open(whole / "results" / "2021" / f"{name}.tif") as tif,
        ):
            assert vrt.crs == tif.crs and vrt.res == tif.res
            tags = vrt.tags()
            assert tags.pop("AOI").endswith("split/aoi.geojson")  # the two runs' own AOI files
            assert tags == {k: v for k, v in tif.tags().items() if k != "AOI"}
            window = rasterio.windows.from_bounds(*vrt.bounds, transform=tif.transform)
            ours, theirs = vrt.read(1), tif.read(1, window=window.round_offsets().round_lengths())
            assert np.array_equal(ours, theirs, equal_nan=name != "land_cover"), name
            if name == "land_cover":
                assert vrt.colormap(1) == tif.colormap(1)
    assert (tmp_path / "mosaic" / "2021" / "carbon_stock_total.qml").is_file()
