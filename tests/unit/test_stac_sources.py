"""The ``stac`` and ``sentinel2_composite`` adapters against a local STAC API (tests/servers.py).

The server holds synthetic COGs in the form of Impact Observatory annual LULC and Sentinel-2 L2A
(Earth Search) under their real collection names, item ids and file names; nothing leaves 127.0.0.1.
Expected values are computed here from what was served and from the NDVI equation, never taken from
the adapters' output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from servers import IO_LULC, S2_L2A, StacServer, add_io_lulc, add_s2_scene

from sinkmap.errors import SourceError
from sinkmap.sources import fetch, get_adapter
from sinkmap.sources.sentinel2 import Sentinel2CompositeAdapter
from sinkmap.sources.stac import StacItemsAdapter

from ._helpers import listing, use_local_server

#: A ~550 m box inside Baoting (lon/lat), about x 362874-363406, y 2061488-2062046 in UTM 49N.
BOX = (109.700, 18.640, 109.705, 18.645)
#: IO LULC test raster: 400 x 400 px of 10 m from this upper-left corner (EPSG:32649).
IO_T = Affine(10.0, 0.0, 361_000.0, 0.0, -10.0, 2_063_000.0)
IO_CLASSES = np.array([1, 2, 4, 5, 7, 8, 11], dtype="uint8")
#: Sentinel-2 test scenes: 96 x 96 px of 10 m (SCL 48 x 48 of 20 m) from this corner.
S2_T = Affine(10.0, 0.0, 362_700.0, 0.0, -10.0, 2_062_200.0)
S2_N = 96
CLOUDY_SCL = (0, 1, 3, 8, 9, 10)


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch, stac_server: StacServer) -> None:
    """Point both datasets at the local API, keep retries fast, and refuse any other host."""
    use_local_server(
        monkeypatch, stac_server.url, ["IO_LULC", "SENTINEL2_NDVI"], retries=3, timeout=5
    )


def utm_box(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The UTM 49N box of the four corners of a lon/lat box (pyproj, independent of rasterio)."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    xs, ys = to_utm.transform(
        [bounds[0], bounds[2], bounds[0], bounds[2]], [bounds[1], bounds[1], bounds[3], bounds[3]]
    )
    return min(xs), min(ys), max(xs), max(ys)


# -- Impact Observatory annual LULC (adapter stac) -------------------------------------------------
def io_array(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = rng.choice(IO_CLASSES, size=(400, 400)).astype("uint8")
    arr[:, :3] = 0  # a nodata edge
    return arr


@pytest.fixture
def io_served(pc_token_service: StacServer) -> dict[int, tuple[str, np.ndarray]]:
    """Items 49Q-2020 and 49Q-2021 (each standing for Jan 1 to Jan 1 of the next year)."""
    out = {}
    for year, seed in ((2020, 1), (2021, 2)):
        arr = io_array(seed)
        out[year] = (add_io_lulc(pc_token_service, year, arr, IO_T), arr)
    return out


def check_window(path: Path, served: np.ndarray) -> None:
    """``path`` holds a window of ``served`` on its lattice that covers BOX."""
    with rasterio.open(path) as ds:
        data, t, crs, nodata = ds.read(1), ds.transform, ds.crs, ds.nodata
    assert crs == "EPSG:32649" and nodata == 0
    assert (t.a, t.b, t.d, t.e) == (10.0, 0.0, 0.0, -10.0)
    col0, row0 = (t.c - IO_T.c) / 10.0, (IO_T.f - t.f) / 10.0
    assert col0 == int(col0) and row0 == int(row0)  # on the product's own pixel lattice
    col0, row0 = int(col0), int(row0)
    h, w = data.shape
    np.testing.assert_array_equal(data, served[row0 : row0 + h, col0 : col0 + w])
    left, bottom, right, top = utm_box(BOX)
    assert t.c <= left and t.c + 10 * w >= right and t.f >= top and t.f - 10 * h <= bottom
    assert w < 100 and h < 100  # only the window (~55 px plus a margin) of the 400 px raster


def test_io_lulc_fetch_signed_window(registry, io_served, pc_token_service, tmp_path):
    path, served = io_served[2021]
    manifest = fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    name = f"{IO_LULC}_49Q-2021_data.tif"
    assert listing(tmp_path) == sorted([name, "manifest.json", ".verified-files.json"])
    check_window(tmp_path / name, served)
    assert pc_token_service.tokens_issued >= 1  # the file answers 403 without the SAS token
    (record,) = manifest.files
    assert record.layer == "map" and record.path == name
    assert record.url == pc_token_service.url + path  # the unsigned href
    assert record.sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert (manifest.dataset, manifest.version, manifest.year, manifest.adapter) == (
        "io_lulc",
        "v02",
        2021,
        "stac",
    )
    text = (tmp_path / "manifest.json").read_text()
    assert "sig=" not in text and "TESTSIG" not in text and "?" not in text
    with rasterio.open(tmp_path / name) as ds:
        assert "TESTSIG" not in json.dumps(ds.tags())
    # the 2020 item also meets the search (it ends on 2021-01-01) but is not used
    assert pc_token_service.count(io_served[2020][0]) == 0


def test_io_lulc_without_token_is_a_clear_error(registry, io_served, tmp_path):
    ds = registry["io_lulc"]
    unsigned = dataclasses.replace(ds, options={k: v for k, v in ds.options.items() if k != "sign"})
    with pytest.raises(SourceError, match=r"answered HTTP 403 \(is the SAS token missing"):
        fetch(unsigned, 2021, BOX, tmp_path)
    assert [n for n in listing(tmp_path) if n != "manifest.json"] == []


def test_second_fetch_makes_no_request(registry, io_served, pc_token_service, tmp_path):
    first = fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    before = pc_token_service.count()
    second = fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    assert pc_token_service.count() == before
    assert second.files == first.files
    # a larger AOI than the file was cut for is fetched again
    fetch(registry["io_lulc"], 2021, (109.699, 18.639, 109.706, 18.646), tmp_path)
    assert pc_token_service.count() > before


@pytest.mark.parametrize("where", ["search", "file"])
def test_503_twice_then_success(registry, io_served, pc_token_service, tmp_path, where):
    path, served = io_served[2021]
    pc_token_service.fail("/search" if where == "search" else path, "503", "503")
    fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    check_window(tmp_path / f"{IO_LULC}_49Q-2021_data.tif", served)
    assert pc_token_service.count("/search" if where == "search" else path) >= 3


@pytest.mark.parametrize("faults", [("drop",), ("ok", "drop"), ("ok", "ok", "drop")])
def test_connection_drop_mid_read(registry, io_served, pc_token_service, tmp_path, faults):
    path, served = io_served[2021]
    pc_token_service.fail(path, *faults)
    name = f"{IO_LULC}_49Q-2021_data.tif"
    try:
        fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    except SourceError as exc:  # acceptable only as a clear error, with nothing kept
        assert "could not read the AOI's window" in str(exc)
        assert listing(tmp_path) == []
    else:
        check_window(tmp_path / name, served)
        assert listing(tmp_path) == sorted([name, "manifest.json", ".verified-files.json"])


def test_persistent_failure_is_a_clear_error(registry, io_served, pc_token_service, tmp_path):
    path, _ = io_served[2021]
    pc_token_service.fail(path, *["503"] * 40)
    with pytest.raises(SourceError) as err:
        fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    message = str(err.value)
    assert f"could not read the AOI's window of {pc_token_service.url}{path}" in message
    assert "after 3 tries" in message and "SINKMAP_BASE_URL_IO_LULC" in message
    assert listing(tmp_path) == []


def test_offline_fails_fast_naming_the_search(registry, io_served, pc_token_service, tmp_path):
    adapter = StacItemsAdapter(offline=True)
    with pytest.raises(SourceError) as err:
        adapter.fetch(registry["io_lulc"], 2021, BOX, tmp_path, None)
    message = str(err.value)
    assert "offline mode (SINKMAP_OFFLINE=1)" in message
    assert f"{pc_token_service.url}/search" in message and f"collection {IO_LULC}" in message
    assert "bbox [109.7, 18.64, 109.705, 18.645]" in message
    assert "datetime 2021-01-01T00:00:00Z/2021-12-31T23:59:59Z" in message
    assert pc_token_service.count() == 0 and listing(tmp_path) == []


def test_offline_env_with_complete_folder_succeeds(
    registry, io_served, pc_token_service, tmp_path, monkeypatch
):
    first = fetch(registry["io_lulc"], 2021, BOX, tmp_path)
    before = pc_token_service.count()
    monkeypatch.setenv("SINKMAP_OFFLINE", "1")
    assert fetch(registry["io_lulc"], 2021, BOX, tmp_path).files == first.files
    assert pc_token_service.count() == before


def test_no_items_is_a_clear_error(registry, io_served, pc_token_service, tmp_path):
    with pytest.raises(SourceError) as err:
        fetch(registry["io_lulc"], 2019, BOX, tmp_path)
    message = str(err.value)
    assert "found no item of 2019" in message and f"collection {IO_LULC}" in message
    assert f"{pc_token_service.url}/search" in message and "datetime 2019-01-01" in message
    assert "years:" in message and "SINKMAP_BASE_URL_IO_LULC" in message
    assert listing(tmp_path) == []


def test_plan_lists_item_files(registry, io_served, pc_token_service, tmp_path):
    planned = get_adapter(registry["io_lulc"]).plan(registry["io_lulc"], 2021, BOX, tmp_path, None)
    assert [(p.path.name, p.url) for p in planned] == [
        (f"{IO_LULC}_49Q-2021_data.tif", pc_token_service.url + io_served[2021][0])
    ]
    assert listing(tmp_path) == []


# -- Sentinel-2 NDVI composite (adapter sentinel2_composite) -----------------------------------------
def reflectances(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Red and nir surface reflectance on a 1e-4 grid (so digital numbers are exact integers)."""
    rng = np.random.default_rng(seed)
    red = rng.integers(200, 1500, size=(S2_N, S2_N)) / 10_000
    nir = rng.integers(1500, 5000, size=(S2_N, S2_N)) / 10_000
    return red, nir


def to_dn(refl: np.ndarray, offset: float) -> np.ndarray:
    """Digital numbers of a reflectance: dn = (reflectance - offset) / 0.0001."""
    return np.rint((refl - offset) * 10_000).astype("uint16")


@pytest.fixture
def s2_served(stac_server: StacServer) -> dict[str, dict]:
    """Three scenes of 2022 over the box: before and after baseline 04.00 (offset -0.1), one cloudy.

    A (2022-01-10, baseline 03.01, offset 0): all clear. B (2022-03-05, 04.00, offset -0.1): all
    clear. C (2022-06-10, 04.00, offset -0.1): SCL 9 (cloud high probability) on the 20 m pixels of
    rows 0-23 and 3 (cloud shadow) on column block 40-47, 4 (vegetation) elsewhere; its red is the
    nodata value 0 in the last 10 m row. D (2022-08-01) has 95 % cloud cover and is filtered out.
    """
    scenes = {}
    specs = [
        ("S2B_49QCA_20220110_0_L2A", "2022-01-10T03:20:00Z", 0.0, "03.01", 11, 20.0),
        ("S2A_49QCA_20220305_0_L2A", "2022-03-05T03:20:00Z", -0.1, "04.00", 12, 5.0),
        ("S2B_49QCA_20220610_0_L2A", "2022-06-10T03:20:00Z", -0.1, "04.00", 13, 40.0),
        ("S2A_49QCA_20220801_0_L2A", "2022-08-01T03:20:00Z", -0.1, "04.00", 14, 95.0),
    ]
    for sid, when, offset, baseline, seed, cc in specs:
        red, nir = reflectances(seed)
        scl = np.full((S2_N // 2, S2_N // 2), 4, dtype="uint8")
        red_dn, nir_dn = to_dn(red, offset), to_dn(nir, offset)
        if sid.endswith("0610_0_L2A"):
            scl[0:12, :] = 9
            scl[:, 40:48] = 3
            red_dn[-1, :] = 0
        bands = {"red": red_dn, "nir": nir_dn, "scl": scl}
        add_s2_scene(
            stac_server, sid, when, bands, S2_T, offset=offset, baseline=baseline, cloud_cover=cc
        )
        scenes[sid] = {"red": red, "nir": nir, "scl": scl, "red_dn": red_dn}
    return scenes


def expected_composite(scenes: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Median NDVI and clear count on the scenes' 96 x 96 grid, from the reflectances served."""
    stack = []
    for sid, s in scenes.items():
        if sid.endswith("0801_0_L2A"):  # 95 % cloud cover: above max_cloud_cover 80
            continue
        ndvi = (s["nir"] - s["red"]) / (s["nir"] + s["red"])
        scl10 = np.kron(s["scl"], np.ones((2, 2), dtype="uint8"))
        clear = ~np.isin(scl10, CLOUDY_SCL) & (s["red_dn"] != 0)
        stack.append(np.where(clear, ndvi, np.nan))
    arr = np.array(stack)
    count = (~np.isnan(arr)).sum(axis=0)
    median = np.full(arr.shape[1:], np.nan)
    for r in range(arr.shape[1]):
        for c in range(arr.shape[2]):
            values = sorted(v for v in arr[:, r, c] if not np.isnan(v))
            if values:
                k = len(values)
                median[r, c] = (
                    values[k // 2] if k % 2 else (values[k // 2 - 1] + values[k // 2]) / 2
                )
    return median, count


def test_sentinel2_composite_equals_hand_computation(registry, s2_served, stac_server, tmp_path):
    adapter = Sentinel2CompositeAdapter(window=32)  # several windows over the ~55 px box
    manifest = adapter.fetch(registry["sentinel2_ndvi"], 2022, BOX, tmp_path, None)
    names = {
        "ndvi": "S2L2A_NDVI_median_2022.tif",
        "valid_count": "S2L2A_NDVI_valid_count_2022.tif",
        "scenes": "S2L2A_NDVI_scenes_2022.json",
    }
    assert [(f.layer, f.path) for f in manifest.files] == list(names.items())
    assert listing(tmp_path) == sorted(names.values())
    median, count = expected_composite(s2_served)
    with rasterio.open(tmp_path / names["ndvi"]) as ds:
        ndvi, t, nodata, crs = ds.read(1), ds.transform, ds.nodata, ds.crs
        assert ds.dtypes[0] == "float32" and ds.profile["tiled"]
    with rasterio.open(tmp_path / names["valid_count"]) as ds:
        got_count = ds.read(1)
        assert ds.transform == t
    assert crs == "EPSG:32649" and np.isnan(nodata)
    col0, row0 = (t.c - S2_T.c) / 10.0, (S2_T.f - t.f) / 10.0
    assert col0 == int(col0) and row0 == int(row0) and t.a == 10.0  # on the scenes' lattice
    col0, row0 = int(col0), int(row0)
    h, w = ndvi.shape
    left, bottom, right, top = utm_box(BOX)
    assert t.c <= left < t.c + 10 and t.f >= top > t.f - 10  # the box snapped outwards
    assert t.c + 10 * w >= right > t.c + 10 * (w - 1) and t.f - 10 * h <= bottom
    np.testing.assert_allclose(ndvi, median[row0 : row0 + h, col0 : col0 + w], rtol=1e-6)
    np.testing.assert_array_equal(got_count, count[row0 : row0 + h, col0 : col0 + w])
    assert set(np.unique(got_count).tolist()) == {2, 3}  # C masked by cloud, shadow, nodata
    # one pixel by hand: row 40, column 30 of the scenes, clear in A, B and C: the middle value
    used = sorted(k for k in s2_served if "0801" not in k)
    by_hand = sorted(
        (s2_served[k]["nir"][40, 30] - s2_served[k]["red"][40, 30])
        / (s2_served[k]["nir"][40, 30] + s2_served[k]["red"][40, 30])
        for k in used
    )[1]
    assert abs(ndvi[40 - row0, 30 - col0] - by_hand) < 1e-6
    # provenance: the search URL returning exactly the scenes used, and the scenes' hrefs
    for record in manifest.files:
        assert record.url.startswith(f"{stac_server.url}/search?collections={S2_L2A}&ids=")
        assert sorted(record.url.split("ids=")[1].split(",")) == used
    listed = json.loads((tmp_path / names["scenes"]).read_text())
    assert sorted(s["id"] for s in listed) == used
    assert all(s["hrefs"]["red"].startswith(stac_server.url) for s in listed)
    assert {s["id"]: s["red"]["offset"] for s in listed}[used[0]] == -0.1  # from raster:bands


def test_sentinel2_ignoring_the_offset_would_differ(s2_served):
    """The test data make the baseline 04.00 offset matter (guards the test above)."""
    b = s2_served["S2A_49QCA_20220305_0_L2A"]
    dn_red, dn_nir = to_dn(b["red"], -0.1).astype(float), to_dn(b["nir"], -0.1).astype(float)
    naive = (dn_nir - dn_red) / (dn_nir + dn_red)
    right = (b["nir"] - b["red"]) / (b["nir"] + b["red"])
    assert (np.abs(naive - right) > 1e-3).all()


def test_sentinel2_second_fetch_and_offline(registry, s2_served, stac_server, tmp_path):
    first = fetch(registry["sentinel2_ndvi"], 2022, BOX, tmp_path)
    before = stac_server.count()
    assert fetch(registry["sentinel2_ndvi"], 2022, BOX, tmp_path).files == first.files
    assert stac_server.count() == before
    with pytest.raises(SourceError, match=r"offline mode .*collection sentinel-2-l2a"):
        Sentinel2CompositeAdapter(offline=True).fetch(
            registry["sentinel2_ndvi"], 2022, BOX, tmp_path / "other", None
        )
    assert stac_server.count() == before


def test_sentinel2_drop_mid_read(registry, s2_served, stac_server, tmp_path):
    nir = next(p for p in stac_server.files if "0305" in p and p.endswith("B08.tif"))
    stac_server.fail(nir, "ok", "drop")
    try:
        manifest = Sentinel2CompositeAdapter(window=32).fetch(
            registry["sentinel2_ndvi"], 2022, BOX, tmp_path, None
        )
    except SourceError as exc:
        assert "could not read the scenes" in str(exc)
        assert listing(tmp_path) == []
    else:
        median, _ = expected_composite(s2_served)
        with rasterio.open(tmp_path / manifest.files[0].path) as ds:
            t = ds.transform
            row0, col0 = round((S2_T.f - t.f) / 10), round((t.c - S2_T.c) / 10)
            got = ds.read(1)
        np.testing.assert_allclose(
            got, median[row0 : row0 + got.shape[0], col0 : col0 + got.shape[1]], rtol=1e-6
        )
        assert not [n for n in listing(tmp_path) if ".part" in n]


def test_sentinel2_no_scenes_is_a_clear_error(registry, s2_served, stac_server, tmp_path):
    with pytest.raises(SourceError, match=r"collection sentinel-2-l2a.*found no item of 2021"):
        fetch(registry["sentinel2_ndvi"], 2021, BOX, tmp_path)
    assert listing(tmp_path) == []


def test_registry_selects_stac_adapters(registry):
    assert isinstance(get_adapter(registry["io_lulc"]), StacItemsAdapter)
    assert isinstance(get_adapter(registry["sentinel2_ndvi"]), Sentinel2CompositeAdapter)
    assert registry["io_lulc"].crosswalk == "config/crosswalks/io_lulc.csv"
