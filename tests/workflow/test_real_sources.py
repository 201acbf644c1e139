"""End-to-end: the workflow fetches the real registry entries from local servers (127.0.0.1 only).

Only the base URLs are overridden (``SINKMAP_BASE_URL_<DATASET>``; ``SINKMAP_OFFLINE=0`` for these
runs): land cover from ``esa_worldcover`` and biomass from ``esa_cci_biomass`` (adapter http_tiles),
and an annual NDVI from ``sentinel2_ndvi`` (adapter sentinel2_composite, a STAC API), each served
under its real paths and file names. ``io_lulc`` joins once its crosswalk is applied by align.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from servers import StacServer, add_s2_scene
from tinyrun import TABLE, snakemake, write_aoi, write_config

pytestmark = pytest.mark.workflow

YEARS = [2021]
WC = "ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
WC_PATH = f"/v200/2021/map/{WC}"
AGB = "N20E100_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2021-fv6.0.tif"
SD = "N20E100_ESACCI-BIOMASS-L4-AGB_SD-MERGED-100m-2021-fv6.0.tif"
WC_CODES = np.array([10, 20, 30, 40, 50, 80], dtype="uint8")
#: Sentinel-2 test scenes over the tiny AOI (x 361598-364574, y 2060173-2063140 in UTM 49N).
S2_T = Affine(10.0, 0.0, 361_500.0, 0.0, -10.0, 2_063_200.0)
S2_N = 320
INPUTS = {
    "land_cover": {"dataset": "esa_worldcover"},
    "biomass": {"dataset": "esa_cci_biomass"},
    "ndvi": {"dataset": "sentinel2_ndvi"},
}
NDVI_RAW = "resources/raw/sentinel2_ndvi/l2a-median-v1/2021"
#: The ndvi role is fetched, not aligned: styling an aligned NDVI layer is not supported yet
#: (sinkmap.publish.qgis.kind_from_tags knows no NDVI units).
TARGETS = [
    "results/2021/carbon_stock_total.tif",
    "results/2021/biomass.tif",
    f"{NDVI_RAW}/manifest.json",
]


def _tif(path: Path, array: np.ndarray, transform: Affine, crs: str) -> bytes:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(array, 1)
    return path.read_bytes()


@pytest.fixture
def served(stac_server: StacServer, tmp_path_factory: pytest.TempPathFactory) -> StacServer:
    """The three products for 2021 around the tiny AOI, under their real paths and names."""
    tmp = tmp_path_factory.mktemp("product")
    rng = np.random.default_rng(7)
    lc = np.repeat(np.repeat(rng.choice(WC_CODES, size=(40, 40)), 12, 0), 12, 1).astype("uint8")
    wc_t = Affine(1 / 12000, 0.0, 109.68, 0.0, -1 / 12000, 18.66)
    stac_server.files[WC_PATH] = _tif(tmp / "wc.tif", lc, wc_t, "EPSG:4326")
    cci_t = Affine(1 / 1125, 0.0, 109.68, 0.0, -1 / 1125, 18.66)
    agb = rng.integers(20, 300, size=(48, 48)).astype("uint16")
    stac_server.files[f"/2021/{AGB}"] = _tif(tmp / "agb.tif", agb, cci_t, "EPSG:4326")
    stac_server.files[f"/2021/{SD}"] = _tif(tmp / "sd.tif", agb // 5, cci_t, "EPSG:4326")
    for sid, when in (
        ("S2A_49QCA_20210305_0_L2A", "2021-03-05T03:20:00Z"),
        ("S2B_49QCA_20211112_0_L2A", "2021-11-12T03:20:00Z"),
    ):
        red = rng.integers(300, 1200, size=(S2_N, S2_N)).astype("uint16")
        nir = rng.integers(2000, 4500, size=(S2_N, S2_N)).astype("uint16")
        scl = np.full((S2_N // 2, S2_N // 2), 4, dtype="uint8")
        bands = {"red": red, "nir": nir, "scl": scl}
        add_s2_scene(stac_server, sid, when, bands, S2_T, offset=-0.1, baseline="04.00")
    return stac_server


def _env(server: StacServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINKMAP_")}
    return env | {
        "SINKMAP_OFFLINE": "0",
        "SINKMAP_BASE_URL_ESA_WORLDCOVER": server.url,
        "SINKMAP_BASE_URL_ESA_CCI_BIOMASS": server.url,
        "SINKMAP_BASE_URL_SENTINEL2_NDVI": server.url,
        "SINKMAP_HTTP_RETRIES": "3",
        "SINKMAP_HTTP_BACKOFF": "0.05",
        "SINKMAP_HTTP_TIMEOUT": "10",
        "NO_PROXY": "127.0.0.1",
    }


def _run(workdir: Path, server: StacServer, targets: list[str] = TARGETS) -> None:
    write_aoi(workdir)
    write_config(workdir, YEARS, inputs=INPUTS)
    proc = snakemake(workdir, *targets, env=_env(server))
    assert proc.returncode == 0


def _leftovers(workdir: Path) -> list[str]:
    return [
        str(p.relative_to(workdir))
        for top in ("resources", "results")
        for p in (workdir / top).rglob("*")
        if ".part" in p.name or p.name.startswith(".") and p.is_file()
    ]


def _read(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.tags()


def test_real_registry_entries_from_local_servers(served: StacServer, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    _run(first, served)

    # outputs, and the lookup model's stock equals the pool table on the fetched land cover
    lc, _ = _read(first / "results/2021/land_cover.tif")
    total, tags = _read(first / "results/2021/carbon_stock_total.tif")
    inside = lc != 0
    assert inside.sum() > 10_000 and set(np.unique(lc[inside])) <= set(WC_CODES.tolist())
    table = pd.read_csv(TABLE).set_index("lucode")
    pools = table[["c_above", "c_below", "c_dead", "c_soil"]].sum(axis=1)
    expected = np.vectorize(lambda c: pools.loc[int(c)])(lc[inside])
    np.testing.assert_allclose(total[inside], expected, rtol=1e-5)

    # provenance: real dataset names, versions and URL paths; not synthetic
    assert tags["SYNTHETIC"] == "no" or "SYNTHETIC" not in tags.get("NOTE", "")
    sources = {}
    for name in ("carbon_stock_total", "biomass"):
        layer_tags = _read(first / f"results/2021/{name}.tif")[1]
        sources |= {s["dataset"]: s for s in json.loads(layer_tags["SOURCES"])}
    assert {"esa_worldcover", "esa_cci_biomass"} <= set(sources)
    assert sources["esa_worldcover"]["version"] == "v200"
    assert sources["esa_worldcover"]["files"] == [served.url + WC_PATH]
    assert sources["esa_cci_biomass"]["version"] == "fv6.0"
    assert sorted(sources["esa_cci_biomass"]["files"]) == sorted(
        [f"{served.url}/2021/{AGB}", f"{served.url}/2021/{SD}"]
    )
    ndvi = json.loads((first / NDVI_RAW / "manifest.json").read_text())
    assert (ndvi["dataset"], ndvi["version"], ndvi["adapter"]) == (
        "sentinel2_ndvi",
        "l2a-median-v1",
        "sentinel2_composite",
    )
    ids = "S2A_49QCA_20210305_0_L2A,S2B_49QCA_20211112_0_L2A"
    assert [f["url"] for f in ndvi["files"]] == [
        f"{served.url}/search?collections=sentinel-2-l2a&ids={ids}"
    ] * 3
    with rasterio.open(first / NDVI_RAW / "S2L2A_NDVI_median_2021.tif") as ds:
        assert ds.crs == "EPSG:32649" and -1 <= np.nanmin(ds.read(1)) <= np.nanmax(ds.read(1)) <= 1
    assert (first / "resources/raw/esa_worldcover/v200/2021" / WC).read_bytes() == served.files[
        WC_PATH
    ]
    assert _leftovers(first) == []

    # a second run downloads nothing
    before = served.count()
    snakemake(first, *TARGETS, env=_env(served))
    assert served.count() == before

    # a connection dropped mid-file once: the same outputs, nothing partial left
    served.fail(WC_PATH, "drop")
    served.fail(served_nir(served), "ok", "drop")
    second = tmp_path / "second"
    second.mkdir()
    _run(second, served, ["results/2021/land_cover.tif", f"{NDVI_RAW}/manifest.json"])
    assert served.count(WC_PATH) == 3  # first run, the dropped try, its retry
    for name in (
        "results/2021/land_cover.tif",
        f"{NDVI_RAW}/S2L2A_NDVI_median_2021.tif",
    ):
        np.testing.assert_array_equal(_read(first / name)[0], _read(second / name)[0])
    assert _leftovers(second) == []


def served_nir(server: StacServer) -> str:
    return next(p for p in server.files if "20210305" in p and p.endswith("B08.tif"))
