"""End-to-end: the workflow fetches the real registry entries from local servers (127.0.0.1 only).

Only the base URLs are overridden (``SINKMAP_BASE_URL_<DATASET>``; ``SINKMAP_OFFLINE=0`` for these
runs): land cover from ``esa_worldcover`` and biomass from ``esa_cci_biomass`` (adapter http_tiles),
and an annual NDVI from ``sentinel2_ndvi`` (adapter sentinel2_composite, a STAC API), each served
under its real paths and file names.

The two other land-cover products come through their crosswalks to the WorldCover legend of the
pool table: ``io_lulc`` (adapter stac: ``io-lulc-annual-v02`` items ``49Q-<year>`` of a local STAC
API) and ``clcd`` (adapter archive: the provincial zip of Zenodo record 12779975 and the record's
JSON with the MD5). Expected land cover is the crosswalk CSV applied to the served codes, read at
pixel centres at least 3 m from any class edge of the source (so nearest resampling cannot change
it) inside the AOI shrunk by 15 m; expected stocks are the pool table's sums of those classes.

The Snakemake subprocess cannot make ``planetary_computer`` treat 127.0.0.1 as Azure Blob Storage:
``planetary_computer.sign`` returns any href outside ``*.blob.core.windows.net`` unchanged and asks
no token, so the IO files are served unsigned here (the signed path is tested in
tests/unit/test_stac_sources.py). ``PC_SDK_SAS_URL`` still points at the local token service, and
the test checks that no token was asked for and that no SAS query part is in any output.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from servers import (
    SAS_TOKEN,
    StacServer,
    add_io_lulc,
    add_s2_scene,
    add_zenodo_record,
    cog_bytes,
    tif_bytes,
)
from tinyrun import AOI_LONLAT, GROWTH_RATES, REPO, TABLE, snakemake, write_aoi, write_config

from sinkmap.sources import VERIFIED_RECORDS

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


@pytest.fixture
def served(stac_server: StacServer) -> StacServer:
    """The three products for 2021 around the tiny AOI, under their real paths and names."""
    rng = np.random.default_rng(7)
    lc = np.repeat(np.repeat(rng.choice(WC_CODES, size=(40, 40)), 12, 0), 12, 1).astype("uint8")
    wc_t = Affine(1 / 12000, 0.0, 109.68, 0.0, -1 / 12000, 18.66)
    stac_server.files[WC_PATH] = tif_bytes(lc, crs="EPSG:4326", transform=wc_t)
    cci_t = Affine(1 / 1125, 0.0, 109.68, 0.0, -1 / 1125, 18.66)
    agb = rng.integers(20, 300, size=(48, 48)).astype("uint16")
    stac_server.files[f"/2021/{AGB}"] = tif_bytes(agb, crs="EPSG:4326", transform=cci_t)
    stac_server.files[f"/2021/{SD}"] = tif_bytes(agb // 5, crs="EPSG:4326", transform=cci_t)
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
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SINKMAP_", "PC_SDK_")) or k.startswith("SINKMAP_JOB_SERVER")
    }
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
    # real products have no year before the first here: no warm-up of the change filter
    write_config(workdir, YEARS, inputs=INPUTS, change_filter={"warmup_years": 0})
    proc = snakemake(workdir, *targets, env=_env(server))
    assert proc.returncode == 0


def _leftovers(workdir: Path) -> list[str]:
    """Partial or hidden files left in resources/ or results/ (a fetch folder's record of the
    files it verified, VERIFIED_RECORDS, is kept on purpose)."""
    return [
        str(p.relative_to(workdir))
        for top in ("resources", "results")
        for p in (workdir / top).rglob("*")
        if (".part" in p.name or p.name.startswith(".") and p.is_file())
        and p.name != VERIFIED_RECORDS
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


# -- land cover from io_lulc and clcd, through their crosswalks ----------------------------------------
#: Account of the crosswalk runs: no Monte Carlo, no zones (only per-year layers are asked for).
LC_ACCOUNT = {
    "gain_loss": {"growth_rates": str(GROWTH_RATES)},
    "uncertainty": {"enabled": False},
}
POOLS = ["c_above", "c_below", "c_dead", "c_soil"]
#: Metres a checked pixel centre keeps from any class edge of the source (GDAL's approximate
#: transformer errs by at most 1/8 of a 10 m pixel).
EDGE_M = 3.0
#: A SAS token's query parameters (Azure: signature, expiry, version, start, permissions, resource).
SAS_QUERY = re.compile(rb"[?&](?:sig|se|sv|st|sp|sr|skoid|sktid)=")
#: IO LULC v02 codes (10 clouds, which the crosswalk maps to nodata; 0 nodata) in 8 x 8 px blocks
#: of 10 m, on a lattice 3 m off the grid's, so only class interiors have a certain nearest pixel.
IO_CODES = np.array([0, 1, 2, 4, 5, 7, 8, 9, 10, 11], dtype="uint8")
IO_T = Affine(10.0, 0.0, 361_003.0, 0.0, -10.0, 2_063_597.0)
IO_YEARS = [2020, 2021]
#: CLCD v01 codes (0 nodata) in 5 x 5 px blocks of 30 m, in CLCD's Albers CRS.
CLCD_CODES = np.arange(0, 10, dtype="uint8")
ALBERS = (
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
CLCD_RECORD = "12779975"
CLCD_YEAR = 2021
CLCD_ZIP = f"CLCD_v01_{CLCD_YEAR}_albert_province.zip"
HAINAN = f"CLCD_v01_{CLCD_YEAR}_albert_province/CLCD_v01_{CLCD_YEAR}_albert_hainan.tif"
GUANGDONG = f"CLCD_v01_{CLCD_YEAR}_albert_province/CLCD_v01_{CLCD_YEAR}_albert_guangdong.tif"


def _blocks(rng: np.random.Generator, codes: np.ndarray, n: int, size: int) -> np.ndarray:
    """An ``n*size`` square raster of ``codes`` drawn per ``size`` x ``size`` block."""
    return np.kron(rng.choice(codes, size=(n, n)), np.ones((size, size), dtype="uint8"))


def _crosswalk_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REPO / "config" / "crosswalks" / f"{name}.csv")


def _crosswalk(name: str) -> dict[int, int]:
    """Source code -> WorldCover code, read from the crosswalk CSV (0 -> 0 as its README says)."""
    table = _crosswalk_csv(name)
    return {0: 0} | {
        int(s): int(t) for s, t in zip(table.source_code, table.target_code, strict=True)
    }


def _lc_env(server: StacServer, dataset: str) -> dict[str, str]:
    env = _env(server) | {f"SINKMAP_BASE_URL_{dataset.upper()}": server.url}
    return env | {"PC_SDK_SAS_URL": server.sas_url}  # any token request would stay local


def _lc_run(workdir: Path, server: StacServer, dataset: str, years: list[int]) -> None:
    write_aoi(workdir)
    write_config(
        workdir,
        years,
        inputs={"land_cover": {"dataset": dataset}},
        account=LC_ACCOUNT,
        change_filter={"warmup_years": 0},
    )
    targets = [
        f"results/{y}/{name}.tif" for y in years for name in ("land_cover", "carbon_stock_total")
    ]
    snakemake(workdir, *targets, env=_lc_env(server, dataset))


def _expected_land_cover(
    lc_path: Path, source: np.ndarray, transform: Affine, crs: str, crosswalk: dict[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(certain, expected, outside) on the aligned raster's pixels.

    ``certain``: the centre lies inside the AOI shrunk by 15 m, and it and the 8 points
    :data:`EDGE_M` metres around it fall in source pixels of one class (so nearest resampling,
    whatever its rounding, gives that class, while a shift by a source pixel would not);
    ``expected``: the crosswalk of that class; ``outside``: the centre lies outside the AOI grown
    by 15 m.
    """
    with rasterio.open(lc_path) as ds:
        height, width, grid_t, grid_crs = ds.height, ds.width, ds.transform, ds.crs.to_string()
    rows, cols = np.mgrid[0:height, 0:width]
    xs = grid_t.c + (cols + 0.5) * grid_t.a
    ys = grid_t.f + (rows + 0.5) * grid_t.e
    to_grid = Transformer.from_crs("EPSG:4326", grid_crs, always_xy=True)
    aoi = shapely.Polygon([to_grid.transform(lon, lat) for lon, lat in AOI_LONLAT])
    inner = shapely.contains_xy(aoi.buffer(-15.0), xs, ys)
    outside = ~shapely.contains_xy(aoi.buffer(15.0), xs, ys)
    to_source = Transformer.from_crs(grid_crs, crs, always_xy=True)

    def source_code(dx: float, dy: float) -> np.ndarray:
        sx, sy = to_source.transform(xs + dx, ys + dy)
        col = np.floor((sx - transform.c) / transform.a).astype(int)
        row = np.floor((sy - transform.f) / transform.e).astype(int)
        assert (col[inner] >= 0).all() and (col[inner] < source.shape[1]).all()  # source covers
        assert (row[inner] >= 0).all() and (row[inner] < source.shape[0]).all()  # the AOI
        return source[np.clip(row, 0, source.shape[0] - 1), np.clip(col, 0, source.shape[1] - 1)]

    code = source_code(0.0, 0.0)
    uniform = np.ones(code.shape, dtype=bool)
    for dx in (-EDGE_M, 0.0, EDGE_M):
        for dy in (-EDGE_M, 0.0, EDGE_M):
            uniform &= source_code(dx, dy) == code
    lut = np.zeros(256, dtype="uint8")
    for src_code, target in crosswalk.items():
        lut[src_code] = target
    return inner & uniform, lut[code], outside


def _check_land_cover_and_stocks(
    results: Path, source: np.ndarray, transform: Affine, crs: str, crosswalk: dict[int, int]
) -> None:
    """The aligned codes are the crosswalk's, and the total stock the pool table's, of the source.

    The class summary lists the WorldCover classes of the aligned raster with the target names and
    IPCC categories of the crosswalk CSVs and the pool table's stock densities.
    """
    lc, lc_tags = _read(results / "land_cover.tif")
    certain, expected, outside = _expected_land_cover(
        results / "land_cover.tif", source, transform, crs, crosswalk
    )
    assert certain.sum() > 8_000
    # every served class (nodata, clouds and all) is among the checked pixels
    served = set(np.unique(source[np.isin(source, list(crosswalk))]).tolist())
    assert set(np.unique(expected[certain]).tolist()) == {crosswalk[c] for c in served}
    np.testing.assert_array_equal(lc[certain], expected[certain])
    assert (lc[outside] == 0).all()
    assert set(np.unique(lc).tolist()) <= set(crosswalk.values())  # never a raw source code

    # the stocks are those of the land cover the account reads: the change-filtered map (a
    # category change not yet seen twice keeps the year before's class)
    filtered, _ = _read(results / "land_cover_filtered.tif")
    assert (filtered[lc == 0] == 0).all() and (filtered[lc != 0] != 0).all()
    table = pd.read_csv(TABLE).set_index("lucode")
    total_of = table[POOLS].sum(axis=1)
    total, _ = _read(results / "carbon_stock_total.tif")
    mapped = certain & (expected != 0)
    want = np.array([total_of.loc[int(c)] for c in filtered[mapped]])
    np.testing.assert_allclose(total[mapped], want, rtol=1e-5)
    assert np.isnan(total[certain & (expected == 0)]).all()
    assert np.isnan(total[outside]).all()
    assert lc_tags["LEGEND"] == "worldcover"

    names = pd.concat([_crosswalk_csv("io_lulc"), _crosswalk_csv("clcd")]).drop_duplicates(
        "target_code"
    )
    names = names[names.target_code != 0].set_index("target_code")
    summary = pd.read_csv(results / "class_summary.csv").set_index("class_code")
    assert sorted(summary.index) == sorted(set(np.unique(filtered).tolist()) - {0})
    for code, row in summary.iterrows():
        assert (row.class_name, row.ipcc_category) == (
            names.loc[code, "target_name"],
            names.loc[code, "ipcc_category"],
        )
        assert row.stock_density_mgc_per_ha == pytest.approx(total_of.loc[code], rel=1e-5)


def _no_sas_anywhere(workdir: Path) -> int:
    """Assert that no manifest, CSV, log, raster tag or other file holds a SAS query; files read."""
    seen = 0
    for path in workdir.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix.lower() in (".tif", ".tiff"):
            with rasterio.open(path) as ds:
                tags = [ds.tags()] + [ds.tags(b) for b in ds.indexes]
                data = json.dumps([tags, ds.descriptions]).encode()
        else:
            data = path.read_bytes()
        assert not SAS_QUERY.search(data), f"SAS query part in {path}"
        assert b"TESTSIG" not in data and SAS_TOKEN.encode() not in data, path
        seen += 1
    return seen


def test_io_lulc_through_its_crosswalk(stac_server: StacServer, tmp_path: Path) -> None:
    """IO LULC items of 2020 and 2021 from a local STAC API, aligned in the WorldCover legend."""
    rng = np.random.default_rng(11)
    served = {}
    for year in IO_YEARS:
        arr = _blocks(rng, IO_CODES, 50, 8)  # 400 x 400 px, 4 x 4 km around the AOI
        path = add_io_lulc(stac_server, year, arr, IO_T, private=False)
        served[year] = (path, arr)
    workdir = tmp_path / "io"
    workdir.mkdir()
    _lc_run(workdir, stac_server, "io_lulc", IO_YEARS)

    crosswalk = _crosswalk("io_lulc")
    for year, (path, arr) in served.items():
        results = workdir / "results" / str(year)
        # the year's own item (the 2020 item, ending on 1 January 2021, is found for 2021 too)
        _check_land_cover_and_stocks(results, arr, IO_T, "EPSG:32649", crosswalk)
        url = stac_server.url + path
        _, lc_tags = _read(results / "land_cover.tif")
        assert (lc_tags["SOURCE_LEGEND"], lc_tags["CROSSWALK"]) == (
            "io_lulc",
            "config/crosswalks/io_lulc.csv",
        )
        assert lc_tags["SYNTHETIC"] == "no"
        record = {"dataset": "io_lulc", "version": "v02", "year": year, "files": [url]}
        assert json.loads(lc_tags["SOURCES"]) == [record]
        assert record in json.loads(_read(results / "carbon_stock_total.tif")[1]["SOURCES"])
        raw = workdir / f"resources/raw/io_lulc/v02/{year}"
        manifest = json.loads((raw / "manifest.json").read_text())
        assert (manifest["adapter"], manifest["version"]) == ("stac", "v02")
        assert [(f["path"], f["url"]) for f in manifest["files"]] == [
            (f"io-lulc-annual-v02_49Q-{year}_data.tif", url)
        ]

    # nothing was signed: no token asked for, no asset read with a query, none written anywhere
    assert stac_server.tokens_issued == 0
    reads = [
        q
        for p, q in zip(stac_server.requests, stac_server.queries, strict=True)
        if p.endswith(".tif")
    ]
    assert reads and all(q == "" for q in reads)
    assert _no_sas_anywhere(workdir) > 10
    assert _leftovers(workdir) == []


def _clcd_served(server: StacServer) -> tuple[np.ndarray, Affine, bytes]:
    """A Hainan member around the AOI (and a Guangdong one elsewhere) in the provincial zip."""
    to_albers = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    xs, ys = to_albers.transform(*zip(*AOI_LONLAT, strict=True))
    left = np.floor((min(xs) - 3_000) / 30) * 30
    top = np.ceil((max(ys) + 3_000) / 30) * 30
    n = int(np.ceil((max(max(xs) - left, top - min(ys)) + 3_000) / 150))
    arr = _blocks(np.random.default_rng(5), CLCD_CODES, n, 5)
    transform = Affine(30.0, 0.0, left, 0.0, -30.0, top)
    far = Affine(30.0, 0.0, left - 400_000, 0.0, -30.0, top + 300_000)
    members = {
        HAINAN: cog_bytes(arr, crs=ALBERS, transform=transform, nodata=0),
        GUANGDONG: cog_bytes(np.full((60, 60), 4, "uint8"), crs=ALBERS, transform=far, nodata=0),
        f"CLCD_v01_{CLCD_YEAR}_albert_province/readme.txt": b"CLCD v01",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    add_zenodo_record(server, CLCD_RECORD, {CLCD_ZIP: buf.getvalue()})
    return arr, transform, buf.getvalue()


def test_clcd_through_its_crosswalk(stac_server: StacServer, tmp_path: Path) -> None:
    """CLCD's provincial zip from a local Zenodo, its Hainan member aligned in the WorldCover legend."""
    arr, transform, zip_bytes = _clcd_served(stac_server)
    workdir = tmp_path / "clcd"
    workdir.mkdir()
    _lc_run(workdir, stac_server, "clcd", [CLCD_YEAR])

    results = workdir / "results" / str(CLCD_YEAR)
    _check_land_cover_and_stocks(results, arr, transform, ALBERS, _crosswalk("clcd"))
    url = f"{stac_server.url}/records/{CLCD_RECORD}/files/{CLCD_ZIP}?download=1"
    _, lc_tags = _read(results / "land_cover.tif")
    assert (lc_tags["SOURCE_LEGEND"], lc_tags["CROSSWALK"]) == (
        "clcd",
        "config/crosswalks/clcd.csv",
    )
    assert lc_tags["SYNTHETIC"] == "no"
    (source,) = json.loads(lc_tags["SOURCES"])
    assert (source["dataset"], source["version"], source["year"]) == ("clcd", "v01", CLCD_YEAR)
    assert set(source["files"]) == {url}
    assert source in json.loads(_read(results / "carbon_stock_total.tif")[1]["SOURCES"])

    raw = workdir / f"resources/raw/clcd/v01/{CLCD_YEAR}"
    manifest = json.loads((raw / "manifest.json").read_text())
    files = {f["layer"]: f for f in manifest["files"]}
    assert files["map"]["member"] == HAINAN and files["map"]["url"] == url
    assert files["source"]["path"] == CLCD_ZIP and files["source"]["url"] == url
    assert files["source"]["published_checksum"] == "md5:" + hashlib.md5(zip_bytes).hexdigest()
    assert (raw / CLCD_ZIP).read_bytes() == zip_bytes
    assert stac_server.count(f"/api/records/{CLCD_RECORD}") == 1
    assert stac_server.count(f"/records/{CLCD_RECORD}/files/{CLCD_ZIP}") == 1
    assert _no_sas_anywhere(workdir) > 10
    assert _leftovers(workdir) == []
