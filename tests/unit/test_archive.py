"""The archive adapter (CLCD on Zenodo) against a local server under Zenodo's real paths and names.

The server holds a zip of per-province GeoTIFFs in CLCD's Albers CRS and encoding (uint8 codes 1-9,
nodata 0), the national GeoTIFF, and the record's JSON (``/api/records/12779975``) with each file's
size and MD5. Expected values (checksums, windows, pixel values) are computed here, from the bytes
and arrays the test made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from servers import TileServer, tif_bytes

from sinkmap.errors import SourceError
from sinkmap.sources import Manifest, fetch, get_adapter
from sinkmap.sources.archive import ArchiveAdapter

from ._helpers import listing, use_local_server

BAOTING = (109.401, 18.389, 109.848, 18.836)
ALBERS = (
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
REC = "12779975"
ZIP = "CLCD_v01_2020_albert_province.zip"
NATIONAL = "CLCD_v01_2020_albert.tif"
ZIP_PATH = f"/records/{REC}/files/{ZIP}"
NATIONAL_PATH = f"/records/{REC}/files/{NATIONAL}"
API_PATH = f"/api/records/{REC}"
HAINAN = "CLCD_v01_2020_albert_province/CLCD_v01_2020_albert_hainan.tif"
GUANGDONG = "CLCD_v01_2020_albert_province/CLCD_v01_2020_albert_guangdong.tif"
RES = 300.0  # coarser than the real 30 m, to keep the files small
MARGIN = 1000.0


def _corners_albers() -> tuple[float, float, float, float]:
    """Baoting's lon/lat box corners in Albers (a box inside the adapter's densified one)."""
    to = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    w, s, e, n = BAOTING
    xs, ys = to.transform([w, e, e, w], [s, s, n, n])
    return min(xs), min(ys), max(xs), max(ys)


#: Upper-left corner and codes of the synthetic Hainan raster (100 x 100 km around Baoting).
LEFT = np.floor((_corners_albers()[0] - 25_000) / RES) * RES
TOP = np.ceil((_corners_albers()[3] + 25_000) / RES) * RES
CODES = np.random.default_rng(7).integers(1, 10, size=(350, 350)).astype("uint8")


def _tif(array: np.ndarray, left: float, top: float) -> bytes:
    transform = Affine(RES, 0, left, 0, -RES, top)
    return tif_bytes(array.astype("uint8"), crs=ALBERS, transform=transform, nodata=0)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _record(files: dict[str, bytes], md5: dict[str, str] | None = None) -> bytes:
    """The record JSON as Zenodo's API gives it (only the fields the adapter reads, and some more)."""
    entries = [
        {
            "key": name,
            "size": len(data),
            "checksum": "md5:" + (md5 or {}).get(name, hashlib.md5(data).hexdigest()),
            "links": {"self": f"https://zenodo.org/api/records/{REC}/files/{name}/content"},
        }
        for name, data in files.items()
    ]
    return json.dumps({"id": int(REC), "files": entries}).encode()


HAINAN_TIF = _tif(CODES, LEFT, TOP)
GUANGDONG_TIF = _tif(CODES[:50, :50], LEFT - 500_000, TOP + 300_000)
ZIP_BYTES = _zip({HAINAN: HAINAN_TIF, GUANGDONG: GUANGDONG_TIF, "readme.txt": b"CLCD"})


@pytest.fixture
def server() -> Iterator[TileServer]:
    srv = TileServer()
    srv.files[ZIP_PATH] = ZIP_BYTES
    srv.files[NATIONAL_PATH] = HAINAN_TIF
    srv.files[API_PATH] = _record({ZIP: ZIP_BYTES, NATIONAL: HAINAN_TIF})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def clcd(registry):
    return registry["clcd"]


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch, server: TileServer) -> None:
    use_local_server(monkeypatch, server.url, ["CLCD"], retries=2)


def _check_window(path: Path) -> None:
    """The window holds the source's pixels, on its lattice, covering the AOI's box plus margin."""
    with rasterio.open(path) as ds:
        data = ds.read(1)
        t = ds.transform
        assert ds.crs == rasterio.crs.CRS.from_string(ALBERS)
        assert ds.nodata == 0
    col0, row0 = (t.c - LEFT) / RES, (TOP - t.f) / RES
    assert (t.a, t.e) == (RES, -RES) and col0 == int(col0) and row0 == int(row0)
    col0, row0 = int(col0), int(row0)
    np.testing.assert_array_equal(
        data, CODES[row0 : row0 + data.shape[0], col0 : col0 + data.shape[1]]
    )
    w, s, e, n = _corners_albers()
    left, top = t.c, t.f
    right, bottom = left + data.shape[1] * RES, top - data.shape[0] * RES
    assert left <= w - MARGIN and right >= e + MARGIN and bottom <= s - MARGIN and top >= n + MARGIN
    # no more than the box + margin, a densified edge (< 2 km here) and a pixel of rounding
    assert data.shape[1] * RES < (e - w) + 2 * MARGIN + 2 * 2_000 + 2 * RES
    assert data.shape[0] * RES < (n - s) + 2 * MARGIN + 2 * 2_000 + 2 * RES


# -- the province zip -------------------------------------------------------------------------------
def test_zip_member_window_checksums_and_manifest(clcd, server, tmp_path):
    manifest = fetch(clcd, 2020, BAOTING, tmp_path)
    assert server.requests == [API_PATH, ZIP_PATH]
    assert server.queries[1] == "download=1"
    assert (tmp_path / ZIP).read_bytes() == ZIP_BYTES
    window_name = "CLCD_v01_2020_albert_hainan_aoi.tif"
    assert listing(tmp_path) == sorted([ZIP, window_name, "manifest.json", ".verified-files.json"])
    window, source = manifest.files
    assert (window.layer, window.path, window.member) == ("map", window_name, HAINAN)
    assert window.url == source.url == f"{server.url}{ZIP_PATH}?download=1"
    assert (source.layer, source.path, source.size) == ("source", ZIP, len(ZIP_BYTES))
    assert source.sha256 == hashlib.sha256(ZIP_BYTES).hexdigest()
    assert source.published_checksum == "md5:" + hashlib.md5(ZIP_BYTES).hexdigest()
    assert window.sha256 == hashlib.sha256((tmp_path / window_name).read_bytes()).hexdigest()
    _check_window(tmp_path / window_name)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["files"][0]["member"] == HAINAN
    assert on_disk["files"][1]["published_checksum"] == source.published_checksum
    assert Manifest.read(tmp_path / "manifest.json").paths("map") == [tmp_path / window_name]


def test_second_fetch_downloads_nothing(clcd, server, tmp_path):
    first = fetch(clcd, 2020, BAOTING, tmp_path)
    second = fetch(clcd, 2020, BAOTING, tmp_path)
    assert server.count() == 2
    assert second.files == first.files


def test_checksum_mismatch_is_an_error_and_leaves_nothing(clcd, server, tmp_path):
    server.files[API_PATH] = _record({ZIP: ZIP_BYTES}, md5={ZIP: "0" * 32})
    with pytest.raises(SourceError) as err:
        fetch(clcd, 2020, BAOTING, tmp_path)
    message = str(err.value)
    assert f"MD5 of the downloaded file is {hashlib.md5(ZIP_BYTES).hexdigest()}" in message
    assert f"Zenodo record {REC} says {'0' * 32}" in message and "Nothing was kept" in message
    assert server.count(ZIP_PATH) == 1  # a mismatch is not retried
    assert listing(tmp_path) == []


def test_size_mismatch_is_an_error(clcd, server, tmp_path):
    record = json.loads(_record({ZIP: ZIP_BYTES}))
    record["files"][0]["size"] = len(ZIP_BYTES) + 1
    server.files[API_PATH] = json.dumps(record).encode()
    with pytest.raises(SourceError, match=rf"gave {len(ZIP_BYTES)} bytes, but the publisher"):
        fetch(clcd, 2020, BAOTING, tmp_path)
    assert listing(tmp_path) == []


def test_record_without_the_file_lists_its_files(clcd, server, tmp_path):
    server.files[API_PATH] = _record({"CLCD_v01_2019_albert_province.zip": b"x"})
    with pytest.raises(SourceError, match=r"lists no file CLCD_v01_2020.*2019_albert_province"):
        fetch(clcd, 2020, BAOTING, tmp_path)
    assert server.count(ZIP_PATH) == 0


def test_no_matching_member_lists_members_and_keeps_the_archive(clcd, server, tmp_path):
    other = dataclasses.replace(clcd, options={**clcd.options, "member": "*hubei*.tif"})
    with pytest.raises(SourceError) as err:
        fetch(other, 2020, BAOTING, tmp_path)
    message = str(err.value)
    assert f"no member of {ZIP} matches options.member '*hubei*.tif'" in message
    assert f"  - {HAINAN}\n  - {GUANGDONG}\n" in message and "readme.txt" not in message
    assert listing(tmp_path) == sorted([".verified-files.json", ZIP])
    fetch(clcd, 2020, BAOTING, tmp_path)  # member fixed: the archive is not downloaded again
    assert server.count(ZIP_PATH) == 1


def test_pattern_matching_two_members_is_an_error(clcd, server, tmp_path):
    both = dataclasses.replace(clcd, options={**clcd.options, "member": "*albert_*.tif"})
    with pytest.raises(SourceError, match=r"matches 2 members .* Narrow the pattern"):
        fetch(both, 2020, BAOTING, tmp_path)


def test_member_not_covering_the_aoi(clcd, server, tmp_path):
    far = dataclasses.replace(clcd, options={**clcd.options, "member": "*guangdong*"})
    with pytest.raises(SourceError, match=r"does not cover the AOI"):
        fetch(far, 2020, BAOTING, tmp_path)


def test_corrupt_zip_is_an_error(clcd, server, tmp_path):
    server.files[ZIP_PATH] = b"<html>rate limited</html>"
    server.files[API_PATH] = _record({ZIP: server.files[ZIP_PATH]})
    with pytest.raises(SourceError, match=r"did not give a readable zip archive"):
        fetch(clcd, 2020, BAOTING, tmp_path)
    assert listing(tmp_path) == []


def test_transient_failure_is_retried(clcd, server, tmp_path):
    server.fail(ZIP_PATH, "truncate")
    fetch(clcd, 2020, BAOTING, tmp_path)
    assert server.count(ZIP_PATH) == 2
    assert (tmp_path / ZIP).read_bytes() == ZIP_BYTES


# -- the national GeoTIFF, no checksums ------------------------------------------------------------------
def test_plain_national_file(clcd, server, tmp_path):
    national = dataclasses.replace(clcd, options={"record": int(REC), "margin": MARGIN})
    manifest = fetch(national, 2020, BAOTING, tmp_path)
    assert server.requests == [NATIONAL_PATH]
    window, source = manifest.files
    assert (window.path, window.member) == ("CLCD_v01_2020_albert_aoi.tif", None)
    assert (source.path, source.published_checksum) == (NATIONAL, None)
    _check_window(tmp_path / window.path)


# -- offline, URLs, registry --------------------------------------------------------------------------------
def test_offline_names_the_real_url(clcd, server, tmp_path, monkeypatch):
    monkeypatch.delenv("SINKMAP_BASE_URL_CLCD")
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    real = f"https://zenodo.org/records/{REC}/files/{ZIP}?download=1"
    with pytest.raises(SourceError, match=r"offline mode") as err:
        fetch(clcd, 2020, BAOTING, tmp_path)
    assert f"{ZIP}  <-  {real}" in str(err.value)
    assert server.count() == 0


def test_year_outside_the_record(clcd, tmp_path):
    with pytest.raises(SourceError, match=r"no year 2024"):
        fetch(clcd, 2024, BAOTING, tmp_path)


def test_dry_run_plan_lists_the_download(clcd, server, tmp_path):
    (planned,) = get_adapter(clcd).plan(clcd, 2020, BAOTING, tmp_path, None)
    assert (planned.path, planned.url) == (tmp_path / ZIP, f"{server.url}{ZIP_PATH}?download=1")
    assert server.count() == 0


def test_registry_selects_archive_adapter(clcd):
    assert isinstance(get_adapter(clcd), ArchiveAdapter)
    assert clcd.crosswalk == "config/crosswalks/clcd.csv" and clcd.legend == "clcd"


def test_two_folders_share_the_archive_through_the_cache_online_and_offline(
    clcd, server, tmp_path, monkeypatch
):
    """The archive is downloaded once into the cache (its MD5 checked against the record API's
    on every use) and linked into each folder; offline, a folder gets it from the cache."""
    cache = tmp_path / "cache"
    first = fetch(clcd, 2020, BAOTING, tmp_path / "a", download_cache=cache)
    second = fetch(clcd, 2020, BAOTING, tmp_path / "b", download_cache=cache)
    assert server.requests.count(ZIP_PATH) == 1  # the record API is asked each time
    assert second.files == first.files
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    asked = server.count()
    third = fetch(clcd, 2020, BAOTING, tmp_path / "c", download_cache=cache)
    assert server.count() == asked and third.files == first.files
    assert (tmp_path / "c" / ZIP).read_bytes() == ZIP_BYTES
