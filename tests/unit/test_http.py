"""The http_tiles adapter against a local HTTP server with fault injection (no other host is used).

The server holds synthetic GeoTIFFs under the real paths and file names of ESA WorldCover and ESA CCI
Biomass for Baoting; faults are queued per path and consumed one per request. Every test ends in the
exact bytes the server holds, or in a clear SourceError, and never with a partial or temporary file
in the target folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import socket
from collections.abc import Iterator

import numpy as np
import pytest
from affine import Affine
from servers import TileServer, tif_bytes

from sinkmap.errors import SourceError
from sinkmap.sources import Manifest, fetch, get_adapter
from sinkmap.sources.http import HttpTilesAdapter, base_url_env_var

from ._helpers import listing, use_local_server

#: Baoting county's bounding box (lon/lat), from ../shared/sources.md.
BAOTING = (109.401, 18.389, 109.848, 18.836)
WC_2021 = "ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
WC_2020 = "ESA_WorldCover_10m_2020_v100_N18E108_Map.tif"
WC_2021_PATH = f"/v200/2021/map/{WC_2021}"
WC_2020_PATH = f"/v100/2020/map/{WC_2020}"
AGB = "N20E100_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2020-fv6.0.tif"
SD = "N20E100_ESACCI-BIOMASS-L4-AGB_SD-MERGED-100m-2020-fv6.0.tif"
AGB_PATH, SD_PATH = f"/2020/{AGB}", f"/2020/{SD}"


# -- the server (tests/servers.py) ------------------------------------------------------------
def _geotiff(
    dtype: str,
    origin: tuple[float, float],
    res: float,
    crs: str = "EPSG:4326",
    seed: int = 0,
) -> bytes:
    """Bytes of a small uncompressed GeoTIFF in the product's form (CRS, lattice, data type)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 200, size=(96, 96)).astype(dtype)
    return tif_bytes(data, crs=crs, transform=Affine(res, 0.0, origin[0], 0.0, -res, origin[1]))


@pytest.fixture
def server() -> Iterator[TileServer]:
    srv = TileServer()
    srv.files[WC_2021_PATH] = _geotiff("uint8", (108.0, 21.0), 1 / 12000, seed=1)
    srv.files[WC_2020_PATH] = _geotiff("uint8", (108.0, 21.0), 1 / 12000, seed=2)
    srv.files[AGB_PATH] = _geotiff("uint16", (100.0, 20.0), 1 / 1125, seed=3)
    srv.files[SD_PATH] = _geotiff("uint16", (100.0, 20.0), 1 / 1125, seed=4)
    assert len(set(srv.files.values())) == 4
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch, server: TileServer) -> None:
    """Point both datasets at the test server, keep retries fast, and refuse any other host."""
    use_local_server(
        monkeypatch, server.url, ["ESA_WORLDCOVER", "ESA_CCI_BIOMASS"], retries=3, timeout=5
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- correct downloads -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("year", "version", "name", "path"),
    [(2021, "v200", WC_2021, WC_2021_PATH), (2020, "v100", WC_2020, WC_2020_PATH)],
)
def test_worldcover_real_path_and_name(registry, server, tmp_path, year, version, name, path):
    manifest = fetch(registry["esa_worldcover"], year, BAOTING, tmp_path)
    served = server.files[path]
    assert (tmp_path / name).read_bytes() == served
    assert listing(tmp_path) == sorted([name, "manifest.json", ".verified-files.json"])
    assert server.requests == [path]
    assert (manifest.version, manifest.adapter, manifest.synthetic) == (
        version,
        "http_tiles",
        False,
    )
    (record,) = manifest.files
    assert (record.layer, record.path, record.size) == ("map", name, len(served))
    assert record.sha256 == sha(served)
    assert record.url == server.url + path
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["files"] == [
        {
            "layer": "map",
            "path": name,
            "size": len(served),
            "sha256": sha(served),
            "url": record.url,
        }
    ]
    assert Manifest.read(tmp_path / "manifest.json").paths("map") == [tmp_path / name]


def test_cci_biomass_both_layers(registry, server, tmp_path):
    manifest = fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert [(f.layer, f.path) for f in manifest.files] == [("agb", AGB), ("sd", SD)]
    for name, path in ((AGB, AGB_PATH), (SD, SD_PATH)):
        assert (tmp_path / name).read_bytes() == server.files[path]
    assert [f.sha256 for f in manifest.files] == [
        sha(server.files[AGB_PATH]),
        sha(server.files[SD_PATH]),
    ]
    assert sorted(server.requests) == sorted([AGB_PATH, SD_PATH])
    assert listing(tmp_path) == sorted([AGB, SD, "manifest.json", ".verified-files.json"])


def test_second_fetch_makes_no_request(registry, server, tmp_path):
    first = fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert server.count() == 2
    second = fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert server.count() == 2
    assert second.files == first.files


def test_changed_file_is_downloaded_again(registry, server, tmp_path):
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    target = tmp_path / WC_2021
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, other content: only the checksum tells
    target.write_bytes(bytes(data))
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert server.count(WC_2021_PATH) == 2
    assert target.read_bytes() == server.files[WC_2021_PATH]


def test_stale_temporary_of_killed_download_is_removed(registry, server, tmp_path):
    (tmp_path / f".{WC_2021}.0badf00d.part.tif").write_bytes(b"half a file")
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert listing(tmp_path) == sorted([WC_2021, "manifest.json", ".verified-files.json"])


def test_download_logged_at_info(registry, server, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="sinkmap"):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    messages = [r.getMessage() for r in caplog.records if r.name == "sinkmap"]
    assert any(server.url + WC_2021_PATH in m for m in messages)


def test_small_chunks_give_the_same_bytes(registry, server, tmp_path):
    adapter = HttpTilesAdapter(base_url=server.url, chunk_size=1000, retries=1)
    manifest = adapter.fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path, None)
    assert (tmp_path / WC_2021).read_bytes() == server.files[WC_2021_PATH]
    assert manifest.files[0].sha256 == sha(server.files[WC_2021_PATH])


# -- transient faults that recover ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("faults", "requests_made"),
    [
        (("503", "503"), 3),
        (("drop",), 2),
        (("truncate",), 2),
        (("stall",), 2),
        (("503", "truncate"), 3),
    ],
)
def test_transient_fault_then_success(
    registry, server, tmp_path, monkeypatch, faults, requests_made
):
    monkeypatch.setenv("SINKMAP_HTTP_TIMEOUT", "0.3")
    server.fail(WC_2021_PATH, *faults)
    manifest = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert server.count(WC_2021_PATH) == requests_made
    assert (tmp_path / WC_2021).read_bytes() == server.files[WC_2021_PATH]
    assert manifest.files[0].sha256 == sha(server.files[WC_2021_PATH])
    assert manifest.files[0].size == len(server.files[WC_2021_PATH])
    assert listing(tmp_path) == sorted([WC_2021, "manifest.json", ".verified-files.json"])


# -- faults that end in a clear error ---------------------------------------------------------------
@pytest.mark.parametrize("fault", ["503", "drop", "truncate"])
def test_persistent_fault_gives_clear_error(registry, server, tmp_path, fault):
    server.fail(WC_2021_PATH, *[fault] * 3)
    with pytest.raises(SourceError) as err:
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    message = str(err.value)
    assert f"could not download {server.url}{WC_2021_PATH} after 3 tries" in message
    assert "SINKMAP_BASE_URL_ESA_WORLDCOVER" in message and "adapter: local" in message
    assert server.count(WC_2021_PATH) == 3
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_partly_written_file_is_removed(registry, server, tmp_path, fault):
    # small chunks: half the file reaches the temporary file before the connection breaks
    adapter = HttpTilesAdapter(base_url=server.url, chunk_size=512, retries=2, backoff=0.0)
    server.fail(WC_2021_PATH, fault, fault)
    with pytest.raises(
        SourceError,
        match=r"after 2 tries; last error: connection lost after [1-9][\d,]* of [\d,]+ bytes",
    ):
        adapter.fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path, None)
    assert listing(tmp_path) == []


def test_truncated_file_with_an_honest_length_is_not_accepted(registry, server, tmp_path):
    """Half a GeoTIFF served with its own Content-Length: its header opens, its last blocks do
    not. Before, it was recorded in the manifest and failed align with an unexpected error; now
    every block is read before the file is accepted, and it is fetched again."""
    server.fail(WC_2021_PATH, "short", "short", "short")
    with pytest.raises(SourceError) as err:
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    message = str(err.value)
    assert "after 3 tries" in message and "truncated or corrupt" in message
    assert listing(tmp_path) == []
    server.fail(WC_2021_PATH, "short")  # once: the retry gets the whole file
    manifest = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert (tmp_path / WC_2021).read_bytes() == server.files[WC_2021_PATH]
    assert manifest.files[0].sha256 == sha(server.files[WC_2021_PATH])


def test_a_retry_counts_the_bytes_that_arrived(registry, server, tmp_path, caplog):
    """Half the body, then a reset: the warning said "after 0 bytes" (the bytes sat in the
    client's buffer, short of one chunk); it gives what arrived of what was announced."""
    body = server.files[WC_2021_PATH]
    server.fail(WC_2021_PATH, "drop")
    with caplog.at_level(logging.WARNING, logger="sinkmap"):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    (warning,) = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert f"after {len(body) // 2:,} of {len(body):,} bytes" in warning


def test_a_rerun_after_the_manifest_is_deleted_downloads_nothing(registry, server, tmp_path):
    """Snakemake deletes a job's outputs (manifest.json) before it reruns it: the files it
    verified stay trusted (size and SHA-256 from the folder's record file), not fetched again."""
    fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    (tmp_path / "manifest.json").unlink()
    manifest = fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert (server.count(AGB_PATH), server.count(SD_PATH)) == (1, 1)
    assert [f.sha256 for f in manifest.files] == [
        sha(server.files[AGB_PATH]),
        sha(server.files[SD_PATH]),
    ]
    (tmp_path / AGB).write_bytes(b"x" * len(server.files[AGB_PATH]))  # corrupted in the cache
    (tmp_path / "manifest.json").unlink()
    fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert (server.count(AGB_PATH), server.count(SD_PATH)) == (2, 1)  # only it, again
    assert (tmp_path / AGB).read_bytes() == server.files[AGB_PATH]


@pytest.mark.parametrize("status", ["404", "403"])
def test_missing_tile_fails_at_once(registry, server, tmp_path, status):
    server.fail(WC_2021_PATH, status)
    with pytest.raises(SourceError) as err:
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    message = str(err.value)
    assert f"{server.url}{WC_2021_PATH} answered HTTP {status}" in message
    assert "tile N18E108" in message and "should exist" in message
    assert "SINKMAP_BASE_URL_ESA_WORLDCOVER" in message and "adapter: local" in message
    assert server.count() == 1
    assert listing(tmp_path) == []


def test_second_layer_missing_leaves_first_complete_and_no_manifest(registry, server, tmp_path):
    del server.files[SD_PATH]
    with pytest.raises(SourceError, match=r"answered HTTP 404"):
        fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert listing(tmp_path) == [".verified-files.json", AGB]
    assert (tmp_path / AGB).read_bytes() == server.files[AGB_PATH]


def test_rerun_after_a_failure_downloads_only_the_missing_file(registry, server, tmp_path):
    sd = server.files.pop(SD_PATH)  # the second file fails for good (404, no retry)
    with pytest.raises(SourceError, match=r"answered HTTP 404"):
        fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert (server.count(AGB_PATH), server.count(SD_PATH)) == (1, 1)
    partial = json.loads((tmp_path / ".verified-files.json").read_text())
    assert [(f["path"], f["size"], f["sha256"]) for f in partial["files"]] == [
        (AGB, len(server.files[AGB_PATH]), sha(server.files[AGB_PATH]))
    ]
    server.files[SD_PATH] = sd  # the server is fixed; the failed job left no manifest.json
    manifest = fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert (server.count(AGB_PATH), server.count(SD_PATH)) == (1, 2)
    assert [f.sha256 for f in manifest.files] == [sha(server.files[AGB_PATH]), sha(sd)]
    assert listing(tmp_path) == sorted([AGB, SD, "manifest.json", ".verified-files.json"])


def test_partial_record_of_a_changed_file_is_not_trusted(registry, server, tmp_path):
    sd = server.files.pop(SD_PATH)
    with pytest.raises(SourceError):
        fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    (tmp_path / AGB).write_bytes(b"x" * len(server.files[AGB_PATH]))  # same size, other bytes
    server.files[SD_PATH] = sd
    fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path)
    assert (server.count(AGB_PATH), server.count(SD_PATH)) == (2, 2)
    assert (tmp_path / AGB).read_bytes() == server.files[AGB_PATH]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (np.random.default_rng(3).bytes(20_000), "did not give a readable GeoTIFF:"),
        (b"<html><body>Access denied</body></html>", "looks like an HTML page"),
    ],
)
def test_corrupt_geotiff_is_an_error(registry, server, tmp_path, body, hint):
    server.files[WC_2021_PATH] = body
    with pytest.raises(SourceError) as err:
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert f"{server.url}{WC_2021_PATH}" in str(err.value) and hint in str(err.value)
    assert server.count() == 1
    assert listing(tmp_path) == []


def test_wrong_crs_is_an_error(registry, server, tmp_path):
    server.files[WC_2021_PATH] = _geotiff("uint8", (360_000.0, 2_062_000.0), 10.0, "EPSG:32649")
    with pytest.raises(
        SourceError, match=r"has CRS EPSG:32649, but dataset esa_worldcover is in EPSG:4326"
    ):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert listing(tmp_path) == []


def test_unreachable_host_gives_clear_error(registry, server, tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port on 127.0.0.1 that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SINKMAP_BASE_URL_ESA_WORLDCOVER", f"http://127.0.0.1:{port}")
    with pytest.raises(
        SourceError, match=r"could not download .* after 3 tries; last error: ConnectionError"
    ):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert listing(tmp_path) == []


# -- offline mode ---------------------------------------------------------------------------------------
def test_offline_names_missing_files_and_makes_no_request(registry, server, tmp_path, monkeypatch):
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    with pytest.raises(SourceError) as err:
        fetch(registry["esa_cci_biomass"], 2020, BAOTING, tmp_path / "raw")
    message = str(err.value)
    assert "offline mode" in message and "2 file(s)" in message
    for name, path in ((AGB, AGB_PATH), (SD, SD_PATH)):
        assert f"{name}  <-  {server.url}{path}" in message
    assert server.count() == 0
    assert listing(tmp_path) == []


def test_offline_with_complete_folder_succeeds(registry, server, tmp_path, monkeypatch):
    first = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    assert fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path).files == first.files
    assert server.count() == 1


def test_offline_without_env_is_real_registry_url(registry, server, tmp_path, monkeypatch):
    monkeypatch.delenv("SINKMAP_BASE_URL_ESA_WORLDCOVER")
    monkeypatch.setenv("SINKMAP_OFFLINE", "yes")
    real = "https://esa-worldcover.s3.eu-central-1.amazonaws.com/v200/2021/map/" + WC_2021
    with pytest.raises(SourceError, match=re.escape(f"{WC_2021}  <-  {real}")):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    assert server.count() == 0


# -- base URL override and URL template -----------------------------------------------------------
def test_base_url_precedence(registry, server, monkeypatch):
    ds = registry["esa_worldcover"]
    assert base_url_env_var("esa_worldcover") == "SINKMAP_BASE_URL_ESA_WORLDCOVER"
    assert base_url_env_var("my-mirror.v2") == "SINKMAP_BASE_URL_MY_MIRROR_V2"
    assert (
        HttpTilesAdapter(base_url="http://127.0.0.1:1/m/").resolve_base_url(ds)
        == "http://127.0.0.1:1/m"
    )
    assert HttpTilesAdapter().resolve_base_url(ds) == server.url
    monkeypatch.delenv("SINKMAP_BASE_URL_ESA_WORLDCOVER")
    assert (
        HttpTilesAdapter().resolve_base_url(ds)
        == "https://esa-worldcover.s3.eu-central-1.amazonaws.com"
    )
    with pytest.raises(SourceError, match=r"no base URL.*SINKMAP_BASE_URL_ESA_WORLDCOVER"):
        HttpTilesAdapter().resolve_base_url(dataclasses.replace(ds, base_url=None))


def test_mirror_with_tile_in_url_template(registry, server, tmp_path):
    ds = dataclasses.replace(
        registry["esa_worldcover"], url="{base_url}/mirror/{tile}/{year}/{file}"
    )
    server.files[f"/mirror/N18E108/2021/{WC_2021}"] = server.files[WC_2021_PATH]
    manifest = HttpTilesAdapter(base_url=server.url + "/").fetch(ds, 2021, BAOTING, tmp_path, None)
    assert manifest.files[0].url == f"{server.url}/mirror/N18E108/2021/{WC_2021}"
    assert (tmp_path / WC_2021).read_bytes() == server.files[WC_2021_PATH]


def test_bad_url_template_is_a_clear_error(registry, tmp_path):
    ds = dataclasses.replace(registry["esa_worldcover"], url="{base_url}/{month}/{file}")
    with pytest.raises(SourceError, match=r"unknown field 'month'"):
        HttpTilesAdapter().fetch(ds, 2021, BAOTING, tmp_path, None)


def test_registry_selects_http_adapter(registry):
    assert isinstance(get_adapter(registry["esa_worldcover"]), HttpTilesAdapter)
    assert isinstance(get_adapter(registry["esa_cci_biomass"]), HttpTilesAdapter)


def test_download_progress_is_logged_in_bytes(registry, server, tmp_path, caplog, monkeypatch):
    """With no interval every block of a download is logged as bytes of the Content-Length, and
    the last line is the whole file (its size from the served bytes, in KiB by hand)."""
    monkeypatch.setenv("SINKMAP_PROGRESS_INTERVAL", "0")
    with caplog.at_level(logging.INFO, logger="sinkmap"):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path)
    size = len(server.files[WC_2021_PATH])
    assert 1024 < size < 1 << 20
    kib = f"{size / 1024:,.1f} KiB"
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"downloading {WC_2021}:")
    ]
    assert lines[-1] == f"downloading {WC_2021}: {kib} of {kib} (100 %)", lines


# -- the download cache (sinkmap.sources.cache) ----------------------------------------------------
def test_two_folders_share_one_download_through_the_cache(registry, server, tmp_path):
    """Two AOIs' folders that need the same tile: one request, the same file in both (a hard
    link to the cache's copy), and each folder's manifest as without a cache."""
    import os

    cache = tmp_path / "cache"
    a = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "a", download_cache=cache)
    b = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "b", download_cache=cache)
    assert server.count(WC_2021_PATH) == 1
    served = server.files[WC_2021_PATH]
    for folder in ("a", "b"):
        assert (tmp_path / folder / WC_2021).read_bytes() == served
    assert a.files == b.files and a.files[0].sha256 == sha(served)
    assert a.files[0].url == server.url + WC_2021_PATH
    inodes = {os.stat(tmp_path / f / WC_2021).st_ino for f in ("a", "b")}
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    assert inodes == {os.stat(entry / WC_2021).st_ino}
    assert entry.name == sha((server.url + WC_2021_PATH).encode())  # keyed by the URL
    record = json.loads((entry / "record.json").read_text())
    found = record["download"]
    assert (record["url"], found["size"], found["sha256"]) == (
        server.url + WC_2021_PATH,
        len(served),
        sha(served),
    )


def test_a_cached_file_damaged_on_disk_is_downloaded_again(registry, server, tmp_path):
    cache = tmp_path / "cache"
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "a", download_cache=cache)
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    assert (entry / WC_2021).stat().st_mode & 0o222 == 0  # read-only: links share it
    damaged = bytearray((entry / WC_2021).read_bytes())
    damaged[-1] ^= 0xFF  # in place, same size: only the SHA-256 tells
    (entry / WC_2021).chmod(0o644)  # damage that gets past the read-only mode
    (entry / WC_2021).write_bytes(bytes(damaged))
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "b", download_cache=cache)
    assert server.count(WC_2021_PATH) == 2
    assert (tmp_path / "b" / WC_2021).read_bytes() == server.files[WC_2021_PATH]
    assert (entry / WC_2021).read_bytes() == server.files[WC_2021_PATH]


def test_a_refused_file_leaves_the_cache(registry, server, tmp_path):
    """A file whose content a run refuses (set aside at alignment) leaves the cache, so the next
    fetch downloads it anew; a folder's copy set aside as damaged leaves the cache's copy, which
    is checked against its record when next asked for."""
    from sinkmap.sources import set_aside

    cache = tmp_path / "cache"
    manifest = fetch(
        registry["esa_worldcover"], 2021, BAOTING, tmp_path / "a", download_cache=cache
    )
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    set_aside(manifest)
    assert (entry / WC_2021).is_file()
    set_aside(manifest, refused=True, download_cache=cache)
    assert sorted(p.name for p in entry.iterdir()) == [".lock"]
    fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "b", download_cache=cache)
    assert server.count(WC_2021_PATH) == 2


def test_the_environment_names_the_cache(registry, server, tmp_path, monkeypatch):
    monkeypatch.setenv("SINKMAP_DOWNLOAD_CACHE", str(tmp_path / "env-cache"))
    for folder in ("a", "b"):
        fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / folder)
    assert server.count(WC_2021_PATH) == 1
    assert any((tmp_path / "env-cache").iterdir())


def test_fetches_side_by_side_download_a_tile_once(registry, server, tmp_path):
    """Jobs of several AOIs asking for the same tile at once (here four threads, each with its
    own lock file handle, as separate processes have): one download, the others wait and link."""
    from concurrent.futures import ThreadPoolExecutor

    cache = tmp_path / "cache"
    server.fail(AGB_PATH, "stall")  # the first download takes 1 s: the others ask meanwhile

    def one(i: int) -> Manifest:
        return fetch(
            registry["esa_cci_biomass"], 2020, BAOTING, tmp_path / f"aoi{i}", download_cache=cache
        )

    with ThreadPoolExecutor(4) as pool:
        manifests = list(pool.map(one, range(4)))
    assert server.count(AGB_PATH) == 1 and server.count(SD_PATH) == 1
    assert all(m.files == manifests[0].files for m in manifests)
    for i in range(4):
        assert (tmp_path / f"aoi{i}" / AGB).read_bytes() == server.files[AGB_PATH]


def test_offline_a_fetch_links_what_the_cache_holds(registry, server, tmp_path, monkeypatch):
    """With SINKMAP_OFFLINE=1 nothing is downloaded: a file the cache holds is linked from it,
    and a file it lacks is named as missing, as without a cache."""
    cache = tmp_path / "cache"
    online = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "a", download_cache=cache)
    asked = server.count()
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    offline = fetch(registry["esa_worldcover"], 2021, BAOTING, tmp_path / "b", download_cache=cache)
    assert server.count() == asked
    assert offline.files == online.files
    assert (tmp_path / "b" / WC_2021).read_bytes() == server.files[WC_2021_PATH]
    with pytest.raises(SourceError, match=r"offline mode .*1 file\(s\) of esa_worldcover 2020"):
        fetch(registry["esa_worldcover"], 2020, BAOTING, tmp_path / "c", download_cache=cache)
    assert server.count() == asked


def test_a_cached_file_the_publisher_now_lists_otherwise_is_downloaded_again(server, tmp_path):
    """An adapter that asks the publisher (the archive adapter's record API) passes what it
    lists now: a cached file with another MD5 is not used."""
    import requests

    from sinkmap.sources.http import HttpClient

    cache = tmp_path / "cache"
    client = HttpClient(download_cache=cache, retries=1)
    url = server.url + WC_2021_PATH
    served = server.files[WC_2021_PATH]
    md5 = hashlib.md5(served).hexdigest()
    with requests.Session() as session:
        client.download(session, url, tmp_path / "a" / WC_2021, what="a", fix="-", expected_md5=md5)
        client.download(session, url, tmp_path / "b" / WC_2021, what="b", fix="-", expected_md5=md5)
        assert server.count(WC_2021_PATH) == 1
        server.files[WC_2021_PATH] = served[:-1] + bytes([served[-1] ^ 0xFF])  # a new version
        new_md5 = hashlib.md5(server.files[WC_2021_PATH]).hexdigest()
        got = client.download(
            session, url, tmp_path / "c" / WC_2021, what="c", fix="-", expected_md5=new_md5
        )
    assert server.count(WC_2021_PATH) == 2 and got.md5 == new_md5
    assert (tmp_path / "c" / WC_2021).read_bytes() == server.files[WC_2021_PATH]
