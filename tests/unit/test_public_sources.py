"""Registry entries of issue #3 (Hansen GFC, Copernicus DEM, ETH canopy height) fetched from a local
server under the providers' real paths and file names, and publishers' checksums in HTTP headers.

Expected paths are written out by hand from ../shared/sources.md; checksums are computed here from
the bytes served.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import numpy as np
import pytest
from affine import Affine
from servers import TileServer, tif_bytes

from sinkmap.errors import SourceError
from sinkmap.sources import fetch

from ._helpers import use_local_server

BAOTING = (109.401, 18.389, 109.848, 18.836)
GFC = "GFC-2024-v1.12"
HANSEN = {
    layer: f"/{GFC}/Hansen_{GFC}_{layer}_20N_100E.tif"
    for layer in ("treecover2000", "lossyear", "gain", "datamask")
}
DEM = "Copernicus_DSM_COG_10_N18_00_E109_00_DEM.tif"
DEM_PATH = f"/Copernicus_DSM_COG_10_N18_00_E109_00_DEM/{DEM}"
ETH = {
    "map": "ETH_GlobalCanopyHeight_10m_2020_N18E108_Map.tif",
    "sd": "ETH_GlobalCanopyHeight_10m_2020_N18E108_Map_SD.tif",
}
ETH_PATH = "/download"


def _tif(dtype: str, left: float, top: float, res: float, seed: int) -> bytes:
    data = np.random.default_rng(seed).integers(0, 100, size=(64, 64)).astype(dtype)
    return tif_bytes(data, crs="EPSG:4326", transform=Affine(res, 0.0, left, 0.0, -res, top))


@pytest.fixture
def server() -> Iterator[TileServer]:
    srv = TileServer()
    for i, path in enumerate(HANSEN.values()):
        srv.files[path] = _tif("uint8", 100.0, 20.0, 1 / 4000, seed=i)
    srv.files[DEM_PATH] = _tif("float32", 109.0, 19.0, 1 / 3600, seed=9)
    srv.headers = {}  # path -> extra response headers
    base = srv.httpd.RequestHandlerClass

    class WithHeaders(base):  # type: ignore[misc, valid-type]
        def end_headers(self) -> None:
            for key, value in srv.headers.get(self.path.partition("?")[0], {}).items():
                self.send_header(key, value)
            super().end_headers()

    srv.httpd.RequestHandlerClass = WithHeaders
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch, server: TileServer) -> None:
    names = ("HANSEN_GFC", "HANSEN_GFC_LOSSYEAR", "COPERNICUS_DEM", "ETH_CANOPY_HEIGHT")
    use_local_server(monkeypatch, server.url, names, retries=2)


def _goog_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# -- Hansen GFC --------------------------------------------------------------------------------------------
def test_hansen_four_layers_of_20N_100E(registry, server, tmp_path):
    for path, data in server.files.items():
        server.headers[path] = {"x-goog-hash": f"crc32c=AAAAAA==, md5={_goog_md5(data)}"}
    manifest = fetch(registry["hansen_gfc"], 2020, BAOTING, tmp_path)
    assert sorted(server.requests) == sorted(HANSEN.values())
    assert [f.layer for f in manifest.files] == ["treecover2000", "lossyear", "gain", "datamask"]
    for record in manifest.files:
        served = server.files[HANSEN[record.layer]]
        assert record.path == f"Hansen_{GFC}_{record.layer}_20N_100E.tif"
        assert record.url == server.url + HANSEN[record.layer]
        assert (tmp_path / record.path).read_bytes() == served
        assert record.published_checksum == "md5:" + hashlib.md5(served).hexdigest()
    assert registry["hansen_gfc"].main_layer == "treecover2000"


def test_hansen_md5_header_mismatch_is_an_error(registry, server, tmp_path):
    wrong = base64.b64encode(b"\x00" * 16).decode()
    server.headers[HANSEN["treecover2000"]] = {"x-goog-hash": f"md5={wrong}"}
    with pytest.raises(SourceError) as err:
        fetch(registry["hansen_gfc"], 2020, BAOTING, tmp_path)
    assert "the server's x-goog-hash header says " + "0" * 32 in str(err.value)
    assert "Nothing was kept" in str(err.value)
    assert server.count(HANSEN["treecover2000"]) == 1
    assert not (tmp_path / f"Hansen_{GFC}_treecover2000_20N_100E.tif").exists()


def test_hansen_lossyear_role_entry_fetches_one_layer(registry, server, tmp_path):
    ds = registry["hansen_gfc_lossyear"]
    assert (ds.main_layer, ds.kind, ds.version) == ("lossyear", "categorical", GFC)
    manifest = fetch(ds, 2020, BAOTING, tmp_path)
    assert server.requests == [HANSEN["lossyear"]]
    assert manifest.paths("lossyear") == [tmp_path / f"Hansen_{GFC}_lossyear_20N_100E.tif"]
    assert manifest.files[0].published_checksum is None  # no header, nothing recorded


def test_etag_counts_only_when_the_dataset_says_so(registry, server, tmp_path):
    import dataclasses

    data = server.files[DEM_PATH]
    server.headers[DEM_PATH] = {"ETag": '"' + "f" * 32 + '"'}  # not this file's MD5
    plain = fetch(registry["copernicus_dem"], 2021, BAOTING, tmp_path / "a")
    assert plain.files[0].published_checksum is None
    strict = dataclasses.replace(registry["copernicus_dem"], options={"checksums": "etag"})
    with pytest.raises(SourceError, match=r"the server's ETag header says f{32}"):
        fetch(strict, 2021, BAOTING, tmp_path / "b")
    server.headers[DEM_PATH] = {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
    good = fetch(strict, 2021, BAOTING, tmp_path / "c")
    assert good.files[0].published_checksum == "md5:" + hashlib.md5(data).hexdigest()


# -- Copernicus DEM, ETH canopy height ------------------------------------------------------------------------
def test_copernicus_dem_nested_folder(registry, server, tmp_path):
    manifest = fetch(registry["copernicus_dem"], 2021, BAOTING, tmp_path)
    assert server.requests == [DEM_PATH]
    assert manifest.files[0].path == DEM
    assert (tmp_path / DEM).read_bytes() == server.files[DEM_PATH]


def test_eth_canopy_height_query_string_url(registry, server, tmp_path):
    maps = _tif("uint8", 108.0, 21.0, 1 / 12000, seed=11)
    sds = _tif("uint8", 108.0, 21.0, 1 / 12000, seed=12)
    # the server keys files by path only; libdrive serves both from /download?path=...&files=...
    served = {ETH["map"]: maps, ETH["sd"]: sds}
    base = server.httpd.RequestHandlerClass

    class ByQuery(base):  # type: ignore[misc, valid-type]
        def _answer(self, method: str) -> None:
            name = self.path.partition("files=")[2]
            server.files[ETH_PATH] = served.get(name, b"")
            super()._answer(method)

    server.httpd.RequestHandlerClass = ByQuery
    manifest = fetch(registry["eth_canopy_height"], 2020, BAOTING, tmp_path)
    assert server.queries == [
        f"path=%2F3deg_cogs&files={ETH['map']}",
        f"path=%2F3deg_cogs&files={ETH['sd']}",
    ]
    assert [(f.layer, f.path) for f in manifest.files] == [("map", ETH["map"]), ("sd", ETH["sd"])]
    assert (tmp_path / ETH["map"]).read_bytes() == maps
    assert (tmp_path / ETH["sd"]).read_bytes() == sds


def test_real_urls_in_offline_errors(registry, monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("SINKMAP_BASE_URL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    expected = {
        "hansen_gfc": "https://storage.googleapis.com/earthenginepartners-hansen/GFC-2024-v1.12/"
        "Hansen_GFC-2024-v1.12_lossyear_20N_100E.tif",
        "copernicus_dem": "https://copernicus-dem-30m.s3.amazonaws.com/"
        "Copernicus_DSM_COG_10_N18_00_E109_00_DEM/Copernicus_DSM_COG_10_N18_00_E109_00_DEM.tif",
        "eth_canopy_height": "https://libdrive.ethz.ch/index.php/s/cO8or7iOe5dT2Rt/download?"
        "path=%2F3deg_cogs&files=ETH_GlobalCanopyHeight_10m_2020_N18E108_Map_SD.tif",
    }
    for name, url in expected.items():
        with pytest.raises(SourceError) as err:
            fetch(registry[name], 2020, BAOTING, tmp_path / name)
        assert url in str(err.value)
