"""sinkmap.io: COG writes (valid, tagged, overviews), atomicity, and reads on the grid."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from sinkmap.errors import ConfigError, InputDataError, OutputError
from sinkmap.files import atomic_path
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, check_on_grid, open_on_grid, write_layers, write_tiles

from ._helpers import UTM_LEFT, UTM_TOP, write_tif

# 1100 x 1100 px: larger than two 512-px blocks, so the COG carries overviews (1/2, 1/4).
BIG = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=1100, height=1100, chunk=512)
SMALL = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=64, height=48, chunk=32)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cog")
    classes = (np.arange(1100 * 1100) % 251).astype(np.uint8).reshape(1100, 1100)
    stock = (np.arange(1100 * 1100, dtype=np.float32) / 7).reshape(1100, 1100)
    stock[0, 0] = np.nan
    stock[1099, 5] = np.nan
    layers = {
        folder / "classes.tif": LayerSpec(
            da.from_array(classes, chunks=BIG.chunks),
            "uint8",
            0,
            tags={"UNITS": "class code", "YEAR": 2020},
        ),
        folder / "out" / "stock.tif": LayerSpec(
            da.from_array(stock, chunks=BIG.chunks),
            "float32",
            float("nan"),
            tags={"UNITS": "Mg C ha-1", "SCALE": 0.25},
            description="total carbon stock",
        ),
    }
    extra = da.from_array(classes, chunks=BIG.chunks).sum()
    results = write_layers(BIG, layers, extra=[extra], threads=2)
    return folder, classes, stock, results


def test_write_layers_returns_extra(written):
    _, classes, _, results = written
    assert results == [int(classes.sum(dtype=np.int64))]


@pytest.mark.parametrize("name", ["classes.tif", "out/stock.tif"])
def test_written_layers_are_valid_cogs(written, name):
    folder = written[0]
    is_valid, errors, _ = cog_validate(str(folder / name))
    assert is_valid, errors


def test_uint8_layer_values_and_metadata(written):
    folder, classes, _, _ = written
    with rasterio.open(folder / "classes.tif") as ds:
        assert ds.dtypes == ("uint8",) and ds.nodata == 0
        assert ds.crs.to_string() == "EPSG:32649"
        assert ds.transform.almost_equals(BIG.transform)
        assert (ds.width, ds.height) == (1100, 1100)
        assert ds.overviews(1) == [2, 4]
        assert ds.block_shapes[0] == (512, 512)
        tags = ds.tags()
        assert tags["UNITS"] == "class code" and tags["YEAR"] == "2020"
        np.testing.assert_array_equal(ds.read(1), classes)


def test_float_layer_values_and_metadata(written):
    folder, _, stock, _ = written
    with rasterio.open(folder / "out" / "stock.tif") as ds:
        assert ds.dtypes == ("float32",) and np.isnan(ds.nodata)
        assert ds.tags()["SCALE"] == "0.25" and ds.tags()["UNITS"] == "Mg C ha-1"
        assert ds.descriptions == ("total carbon stock",)
        assert ds.overviews(1) == [2, 4]
        np.testing.assert_array_equal(ds.read(1), stock)  # NaN in the same places


def test_overviews_are_the_averages_of_the_pixels_with_data(written):
    """The 1/2 overview of the stock: each value the mean of its 2 x 2 pixels with data (the one
    NaN pixel left out), by hand."""
    folder, _, stock, _ = written
    blocks = stock.astype(np.float64).reshape(550, 2, 550, 2)
    expected = np.nanmean(blocks, axis=(1, 3))
    with rasterio.open(folder / "out" / "stock.tif") as ds:
        half = ds.read(1, out_shape=(550, 550))
    np.testing.assert_allclose(half, expected, rtol=1e-6)
    assert half[0, 0] == pytest.approx((1 + 1100 + 1101) / 7 / 3, rel=1e-6)


@pytest.mark.parametrize("codec", ["DEFLATE", "ZSTD"])
@pytest.mark.parametrize("kind", ["float with NaN", "classes with a colormap", "small"])
def test_published_cog_is_rio_cogeos_byte_for_byte(tmp_path, monkeypatch, kind, codec):
    """sinkmap lays a layer out as a COG itself (overviews on the staged file, then GDAL's COG
    driver): the file is the one ``rio_cogeo.cogeo.cog_translate`` (use_cog_driver) makes from
    the same plain GeoTIFF with sinkmap's options, byte for byte."""
    from rio_cogeo.cogeo import cog_translate

    from sinkmap.io import _GDAL_ENV, cog_profile

    monkeypatch.setenv("SINKMAP_COMPRESS", codec)
    grid = SMALL if kind == "small" else BIG
    rng = np.random.default_rng(7)
    if kind == "classes with a colormap":
        data = rng.integers(1, 5, grid.shape).astype(np.uint8)
        spec = LayerSpec(
            da.from_array(data, chunks=grid.chunks),
            "uint8",
            0,
            tags={"UNITS": "class code"},
            colormap={1: (0, 100, 0, 255), 2: (255, 187, 34, 255), 4: (240, 150, 255, 255)},
            overview_resampling="nearest",
        )
    else:
        data = rng.gamma(2.0, 40.0, grid.shape).astype(np.float32)
        data[rng.random(grid.shape) < 0.1] = np.nan
        data[rng.random(grid.shape) < 0.1] = -np.nan  # e.g. the emissions, -(losses), of no data
        spec = LayerSpec(
            da.from_array(data, chunks=grid.chunks),
            "float32",
            float("nan"),
            tags={"UNITS": "Mg C ha-1", "YEAR": 2024},
            description="total carbon stock",
            scale_offset=(1.0, 0.0),
        )
    ours, plain, theirs = tmp_path / "ours.tif", tmp_path / "plain.tif", tmp_path / "theirs.tif"
    write_layers(grid, {ours: spec}, threads=2)
    write_layers(grid, {plain: spec}, threads=2, cog=False)  # the same tags, no overviews
    cog_translate(
        str(plain),
        str(theirs),
        cog_profile(),
        nodata=spec.nodata,
        overview_resampling=spec.overview_resampling,
        config=dict(_GDAL_ENV),
        in_memory=False,
        quiet=True,
        forward_band_tags=True,
        colormap=dict(spec.colormap) if spec.colormap else None,
        use_cog_driver=True,
    )
    assert ours.read_bytes() == theirs.read_bytes()
    with rasterio.open(ours) as ds:
        nan = np.isnan(ds.read(1))
        assert not np.signbit(ds.read(1)[nan]).any()  # NaN written positive, as GDAL's warper does
        assert ds.overviews(1) == ([] if kind == "small" else [2, 4])
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == codec


def test_no_temporary_files_left(written):
    folder = written[0]
    assert _listing(folder) == ["classes.tif", "out"]
    assert _listing(folder / "out") == ["stock.tif"]


def _failing(data: np.ndarray, chunks) -> da.Array:
    def boom(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 0):
            raise RuntimeError("block (1, 0) failed")
        return block

    return da.map_blocks(boom, da.from_array(data, chunks=chunks), dtype=data.dtype)


def test_failing_block_leaves_nothing(tmp_path):
    data = np.ones(SMALL.shape, np.uint8)
    target = tmp_path / "layer.tif"
    with pytest.raises(RuntimeError, match=r"block \(1, 0\) failed"):
        write_layers(
            SMALL, {target: LayerSpec(_failing(data, SMALL.chunks), "uint8", 0)}, threads=1
        )
    assert not target.exists()
    assert _listing(tmp_path) == []  # no '.layer.tif.*' staging or part file


def test_failing_block_leaves_no_layer_of_the_call(tmp_path):
    data = np.ones(SMALL.shape, np.uint8)
    good, bad = tmp_path / "good.tif", tmp_path / "bad.tif"
    with pytest.raises(RuntimeError, match="failed"):
        write_layers(
            SMALL,
            {
                good: LayerSpec(da.from_array(data, chunks=SMALL.chunks), "uint8", 0),
                bad: LayerSpec(_failing(data, SMALL.chunks), "uint8", 0),
            },
            threads=1,
        )
    assert _listing(tmp_path) == []


def test_cog_stage_failure_leaves_no_layer_of_the_call(tmp_path, monkeypatch):
    # write_layers' contract: "on any error no layer of this call is left under its final name".
    # Simulate the disk filling up while the second COG is written.
    import rasterio.shutil

    real = rasterio.shutil.copy

    def flaky(src, dst, *args, **kwargs):
        if Path(dst).name.startswith(".second.tif"):
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", flaky)
    data = np.ones(SMALL.shape, np.uint8)
    first, second = tmp_path / "first.tif", tmp_path / "second.tif"
    with pytest.raises(OSError, match="No space left"):
        write_layers(
            SMALL,
            {
                first: LayerSpec(da.from_array(data, chunks=SMALL.chunks), "uint8", 0),
                second: LayerSpec(da.from_array(data, chunks=SMALL.chunks), "uint8", 0),
            },
            threads=1,
        )
    assert not second.exists()
    assert not first.exists()
    assert not [n for n in _listing(tmp_path) if n.startswith(".")]


# -- atomic_path ----------------------------------------------------------------------------------
def test_atomic_path_success(tmp_path):
    target = tmp_path / "a" / "file.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".file.json.")
        tmp.write_text("{}")
        assert not target.exists()
    assert target.read_text() == "{}"
    assert _listing(target.parent) == ["file.json"]


def test_atomic_path_exception_leaves_nothing(tmp_path):
    target = tmp_path / "file.json"
    with pytest.raises(KeyError, match="inside"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise KeyError("inside")
    assert _listing(tmp_path) == []


def test_atomic_path_exception_keeps_previous_version(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("stop")
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["file.json"]


def test_atomic_path_nothing_written(tmp_path):
    with pytest.raises(OutputError, match="was not written; see the log"):
        with atomic_path(tmp_path / "x.tif"):
            pass
    assert _listing(tmp_path) == []


# -- reading on the grid --------------------------------------------------------------------------
def test_open_on_grid_reads_by_chunk(tmp_path):
    data = np.arange(SMALL.width * SMALL.height, dtype=np.int16).reshape(SMALL.shape)
    p = write_tif(tmp_path / "g.tif", data, res=10, left=UTM_LEFT, top=UTM_TOP)
    arr = open_on_grid(p, SMALL, dtype="float32")
    assert arr.chunks == ((32, 16), (32, 32)) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr.compute(), data.astype("float32"))


def test_check_on_grid_rejects_shifted_raster(tmp_path):
    data = np.zeros(SMALL.shape, np.uint8)
    p = write_tif(tmp_path / "shifted.tif", data, res=10, left=UTM_LEFT + 5, top=UTM_TOP)
    with pytest.raises(InputDataError, match=r"is not on the run's grid.*align it"):
        check_on_grid(p, SMALL)


def test_check_on_grid_missing_file(tmp_path):
    with pytest.raises(InputDataError, match=r"cannot open raster.*Re-run the step"):
        check_on_grid(tmp_path / "none.tif", SMALL)


def test_stale_temporaries_of_a_killed_job_are_removed_before_the_next_write(
    tmp_path: Path,
) -> None:
    """kill -9 runs no cleanup: the next job that makes the output removes what the killed one
    left beside it (its staged GeoTIFF, its COG, a partial CSV), and nothing of other outputs."""
    from sinkmap.files import remove_stale_temporaries, write_text

    out = tmp_path / "carbon_stock_total.tif"
    left = [
        tmp_path / ".carbon_stock_total.tif.0123abcd.stage.tif",
        tmp_path / ".carbon_stock_total.tif.0123abcd.stage.tif.aux.xml",
        tmp_path / ".carbon_stock_total.tif.deadbeef.cog.tif",
    ]
    other = tmp_path / ".carbon_stock_soil.tif.0123abcd.stage.tif"
    for p in [*left, other]:
        p.write_bytes(b"")
    # the block files of a job that computed on a Dask cluster
    blocks = tmp_path / ".carbon_stock_total.tif.0123abcd.blocks"
    blocks.mkdir()
    (blocks / "0_0.npy").write_bytes(b"")
    removed = remove_stale_temporaries(out)
    assert sorted(removed) == sorted([*left[::2], blocks])
    assert not any(p.exists() for p in [*left, blocks]) and other.exists()
    csv = tmp_path / "summary.csv"
    partial = tmp_path / ".summary.csv.89abcdef.part.csv"
    partial.write_text("half", encoding="utf-8")
    write_text("a,b\n", csv)
    assert not partial.exists() and csv.read_text(encoding="utf-8") == "a,b\n"


def test_a_killed_geopackage_write_leaves_no_sqlite_journal(tmp_path: Path) -> None:
    """kill -9 while a GeoPackage is written leaves its part file and SQLite's journal beside it
    (found by the fault matrix's kill at the geopackage stage): the next job removes both."""
    from sinkmap.files import remove_stale_temporaries

    out = tmp_path / "sinkmap_2021.gpkg"
    left = [tmp_path / f".sinkmap_2021.gpkg.0123abcd.part.gpkg{end}" for end in ("", "-journal")]
    other = tmp_path / ".sinkmap_2020.gpkg.0123abcd.part.gpkg-journal"
    for p in [*left, other]:
        p.write_bytes(b"")
    assert sorted(remove_stale_temporaries(out)) == sorted(left)
    assert other.exists()


# -- the published codec (SINKMAP_COMPRESS) -------------------------------------------------------
def test_layers_are_deflate_by_default_and_zstd_on_request(tmp_path, monkeypatch, written):
    folder = written[0]
    with rasterio.open(folder / "out" / "stock.tif") as ds:
        assert ds.compression.name == "deflate"
    stock = written[2]
    monkeypatch.setenv("SINKMAP_COMPRESS", "zstd")
    target = tmp_path / "stock.tif"
    write_layers(
        BIG, {target: LayerSpec(da.from_array(stock, chunks=BIG.chunks), "float32", float("nan"))}
    )
    with rasterio.open(target) as ds:
        assert ds.compression.name == "zstd"
        assert np.array_equal(ds.read(1), stock, equal_nan=True)
    is_valid, errors, _ = cog_validate(str(target))
    assert is_valid, errors


def test_plain_layers_take_the_codec_too(tmp_path, monkeypatch, written):
    """``cog=False`` (``sinkmap stock``/``change``): plain tiled GeoTIFFs in the same codec, ZSTD at
    the COG profile's level 1."""
    stock = written[2]
    for codec, name in (("DEFLATE", "deflate"), ("ZSTD", "zstd")):
        monkeypatch.setenv("SINKMAP_COMPRESS", codec)
        target = tmp_path / f"plain_{codec}.tif"
        spec = LayerSpec(da.from_array(stock, chunks=BIG.chunks), "float32", float("nan"))
        write_layers(BIG, {target: spec}, cog=False)
        with rasterio.open(target) as ds:
            assert ds.compression.name == name and ds.overviews(1) == []
            assert np.array_equal(ds.read(1), stock, equal_nan=True)
            structure = ds.tags(ns="IMAGE_STRUCTURE")
        assert structure.get("COMPRESSION") == codec


def test_an_unknown_codec_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SINKMAP_COMPRESS", "jpeg")

    def never(block: np.ndarray) -> np.ndarray:
        raise AssertionError("computed although the codec is unknown")

    data = da.from_array(np.ones(SMALL.shape, np.uint8), chunks=SMALL.chunks).map_blocks(
        never, dtype="uint8"
    )
    with pytest.raises(ConfigError, match=r"SINKMAP_COMPRESS='JPEG'.*\['DEFLATE', 'ZSTD'\]"):
        write_layers(SMALL, {tmp_path / "x.tif": LayerSpec(data, "uint8", 0)})
    assert _listing(tmp_path) == []


# -- tiles a few at a time (per_tile) --------------------------------------------------------------
def test_per_tile_objects_come_back_in_tile_order_with_the_layers_written(tmp_path):
    """Each tile's object computed with that tile's blocks: results in Grid.tiles() order, equal to
    the tile's own sum taken with numpy, and every layer whole."""
    import dask

    values = np.arange(SMALL.height * SMALL.width, dtype=np.float32).reshape(SMALL.shape)
    arr = da.from_array(values, chunks=SMALL.chunks) * 2
    blocks = arr.to_delayed(optimize_graph=False).ravel()
    per_tile = [dask.delayed(np.sum)(b) for b in blocks]
    target = tmp_path / "doubled.tif"
    (sums,) = write_layers(
        SMALL, {target: LayerSpec(arr, "float32", float("nan"))}, per_tile=per_tile, threads=2
    )
    tiles = list(SMALL.tiles())
    assert len(tiles) == 4 and len(sums) == 4
    for tile, got in zip(tiles, sums, strict=True):
        assert got == pytest.approx(float(values[tile.slices].sum() * 2))
    with rasterio.open(target) as ds:
        assert np.array_equal(ds.read(1), values * 2)


def test_per_tile_must_match_the_tiles(tmp_path):
    arr = da.zeros(SMALL.shape, chunks=SMALL.chunks, dtype="uint8")
    with pytest.raises(ValueError, match="per_tile holds 1 objects for 4 tiles"):
        write_layers(SMALL, {tmp_path / "x.tif": LayerSpec(arr, "uint8", 0)}, per_tile=[1])
    assert _listing(tmp_path) == []


# -- without Dask: a function of one tile (write_tiles) -----------------------------------------
def _tile_values(tile) -> np.ndarray:
    """A tile's block of a layer whose pixel (r, c) holds r * 1000 + c."""
    rows = np.arange(tile.row_off, tile.row_off + tile.height, dtype=np.float32)[:, None]
    cols = np.arange(tile.col_off, tile.col_off + tile.width, dtype=np.float32)[None, :]
    return rows * 1000 + cols


def test_write_tiles_writes_each_tiles_blocks_and_returns_results_in_tile_order(tmp_path):
    """Two layers from one function of a tile (the second the first's integer part mod 200, as
    uint8): every pixel where its tile put it, the tags and COG layout of write_layers, and the
    tiles' results in Grid.tiles() order."""
    values, codes = tmp_path / "values.tif", tmp_path / "sub" / "codes.tif"
    layers = {
        values: LayerSpec(None, "float32", float("nan"), tags={"UNITS": "Mg C ha-1"}),
        codes: LayerSpec(None, "uint8", 0, description="codes"),
    }

    def blocks(tile):
        v = _tile_values(tile)
        return [v, (v % 200).astype(np.uint8)], tile.id

    ids = write_tiles(BIG, layers, blocks, threads=2)
    assert ids == [t.id for t in BIG.tiles()] and len(ids) == 9
    r, c = np.mgrid[0 : BIG.height, 0 : BIG.width]
    whole = (r * 1000 + c).astype(np.float32)
    with rasterio.open(values) as ds:
        assert np.array_equal(ds.read(1), whole)
        assert ds.tags()["UNITS"] == "Mg C ha-1" and ds.overviews(1) == [2, 4]
    with rasterio.open(codes) as ds:
        assert np.array_equal(ds.read(1), (whole % 200).astype(np.uint8))
        assert ds.descriptions == ("codes",) and ds.nodata == 0
    assert cog_validate(str(values), strict=True)[0]
    assert _listing(tmp_path) == ["sub", "values.tif"] and _listing(tmp_path / "sub") == [
        "codes.tif"
    ]


def test_a_failing_tile_leaves_no_layer_and_the_tiles_after_it_unstarted(tmp_path):
    """An error in one tile's function reaches the caller; no layer of the call is at its final
    name, no temporary file is left, and (one thread) the tiles after it are not computed."""
    seen = []

    def blocks(tile):
        seen.append(tile.id)
        if tile.id == "r000c001":
            raise RuntimeError("tile r000c001 failed")
        return [np.ones((tile.height, tile.width), np.uint8)] * 2, None

    layers = {
        tmp_path / "a.tif": LayerSpec(None, "uint8", 0),
        tmp_path / "b.tif": LayerSpec(None, "uint8", 0),
    }
    with pytest.raises(RuntimeError, match="tile r000c001 failed"):
        write_tiles(SMALL, layers, blocks, threads=1)
    assert _listing(tmp_path) == []
    assert seen == ["r000c000", "r000c001"]


def test_write_tiles_needs_a_block_per_layer_and_write_layers_data(tmp_path):
    layers = {tmp_path / "a.tif": LayerSpec(None, "uint8", 0)}
    with pytest.raises(ValueError, match="more blocks than the 1 layers"):
        write_tiles(SMALL, layers, lambda t: ([np.zeros((t.height, t.width), np.uint8)] * 2, 0))
    two = {**layers, tmp_path / "b.tif": LayerSpec(None, "uint8", 0)}
    with pytest.raises(ValueError, match="1 blocks for 2 layers"):
        write_tiles(SMALL, two, lambda t: ([np.zeros((t.height, t.width), np.uint8)], 0))
    with pytest.raises(ValueError, match="without data for write_layers"):
        write_layers(SMALL, layers)
    assert _listing(tmp_path) == []


def test_write_tiles_runs_its_tiles_on_the_threads_asked_for(tmp_path):
    """threads=2: two tiles are computed at the same time (each waits for the other at a
    barrier, which on one thread would time out); their blocks written, the progress counted per
    layer and tile."""
    from sinkmap.progress import Progress

    barrier = threading.Barrier(2, timeout=20)
    counted = []
    real_update = Progress.update

    def update(self, n=1):
        counted.append(n)
        real_update(self, n)

    def blocks(tile):
        if tile.row == 0:  # the first two tiles meet
            barrier.wait()
        return [_tile_values(tile)], None

    layers = {tmp_path / "v.tif": LayerSpec(None, "float32", float("nan"))}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Progress, "update", update)
        write_tiles(SMALL, layers, blocks, threads=2)
    assert counted == [1, 1, 1, 1]  # one layer, four tiles
    with rasterio.open(tmp_path / "v.tif") as ds:
        r, c = np.mgrid[0 : SMALL.height, 0 : SMALL.width]
        assert np.array_equal(ds.read(1), (r * 1000 + c).astype(np.float32))


def test_a_block_of_the_wrong_shape_is_refused_not_resampled(tmp_path):
    """GDAL resamples a buffer of another size into the window without a word: the writer
    refuses it, and nothing is left."""
    layers = {tmp_path / "v.tif": LayerSpec(None, "float32", float("nan"))}
    with pytest.raises(ValueError, match=r"a block of shape \(16, 32\) for the window 32 x 32"):
        write_tiles(SMALL, layers, lambda t: ([np.zeros((t.height // 2, t.width), "f4")], 0))
    assert _listing(tmp_path) == []


def test_write_tiles_takes_no_data_and_cleans_up_when_staging_fails(tmp_path, monkeypatch):
    """A layer given with data goes to write_layers; a staged file that cannot be opened (the
    second) leaves no temporary and GDAL's environment as it was."""
    arr = da.zeros(SMALL.shape, chunks=SMALL.chunks, dtype="uint8")
    with pytest.raises(ValueError, match="with data for write_tiles"):
        write_tiles(SMALL, {tmp_path / "a.tif": LayerSpec(arr, "uint8", 0)}, lambda t: ([], 0))
    real_open = rasterio.open

    def failing(path, *args, **kwargs):
        if str(path).endswith(".stage.tif") and ".b.tif." in str(path):
            raise OSError(28, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", failing)
    layers = {tmp_path / n: LayerSpec(None, "uint8", 0) for n in ("a.tif", "b.tif")}
    with pytest.raises(OSError, match="No space left"):
        write_tiles(SMALL, layers, lambda t: ([np.zeros((t.height, t.width), np.uint8)] * 2, 0))
    assert _listing(tmp_path) == []
    assert not rasterio.env.hasenv()


def _python(probe: str, env: dict[str, str]) -> str:
    """What ``python -c probe`` prints, run in a new process with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


def test_processes_importing_sinkmap_run_numpy_without_huge_page_advice() -> None:
    """Importing sinkmap before NumPy turns NumPy's madvise(MADV_HUGEPAGE) off (the measured
    slowdown in bench/README.md, "Huge pages"), in that process and the ones it starts; a user's
    own NUMPY_MADVISE_HUGEPAGE wins."""
    probe = (
        "import os, subprocess, sys, sinkmap, numpy as np; "
        "print(np._core.multiarray._get_madvise_hugepage(), os.environ['NUMPY_MADVISE_HUGEPAGE'], "
        "subprocess.run([sys.executable, '-c', 'import numpy as np; "
        "print(np._core.multiarray._get_madvise_hugepage())'], capture_output=True, text=True)"
        ".stdout.strip())"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}

    def run(**extra: str) -> str:
        return _python(probe, env | extra)

    assert run() == "False 0 False"
    assert run(NUMPY_MADVISE_HUGEPAGE="1") == "True 1 True"


def test_a_stage_process_reuses_the_memory_its_chunks_free() -> None:
    """After sinkmap.reuse_freed_memory() (what every stage's step() calls), an array of 64 MB
    allocated, written and freed 20 times takes its pages from the kernel once, not 20 times
    (bench/README.md, "Freed memory"); SINKMAP_MALLOC=default or a user's own MALLOC_ variable
    leaves glibc's behaviour."""
    probe = (
        "import resource, sinkmap, numpy as np; "
        "applied = sinkmap.reuse_freed_memory(); "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20):\n"
        "    a = np.ones(8 * 2**20); del a\n"
        "print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "SINKMAP_MALLOC"))}

    def run(**extra: str) -> tuple[str, int]:
        applied, faults = _python(probe, env | extra).split()
        return applied, int(faults)

    pages = 64 * 2**20 // 4096  # one array's 4 KiB pages
    applied, faults = run()
    assert applied == "True" and faults < 2 * pages, faults
    for extra in ({"SINKMAP_MALLOC": "default"}, {"MALLOC_ARENA_MAX": "4"}):
        applied, faults = run(**extra)
        assert applied == "False" and faults > 10 * pages, (extra, faults)


def test_band_and_bands_are_views_of_the_stacks_blocks() -> None:
    """A layer of a stack in one chunk along its first axis: each block a view of the stack's
    block (Dask's ``stack[i]`` copies it), with the values of ``stack[i]``; a stack in a chunk per
    layer sliced as it is; indices out of the stack refused before any work."""
    import dask

    from sinkmap.stacks import band, bands

    values = np.arange(14 * 6 * 8, dtype=np.float32).reshape(14, 6, 8)
    stack = da.from_array(values, chunks=(14, 3, 4))
    seen: list[bool] = []

    def owns(block: np.ndarray) -> np.ndarray:
        seen.append(block.base is not None)  # a view of another array
        return block

    with dask.config.set(scheduler="synchronous"):
        for i in (0, 5, 13, -1):
            got = band(stack, i).map_blocks(owns, dtype=np.float32).compute()
            np.testing.assert_array_equal(got, values[i])
        np.testing.assert_array_equal(bands(stack, 4, 11).compute(), values[4:11])
        assert bands(stack, 4, 11).chunks == ((7,), (3, 3), (4, 4))
        per_layer = da.stack([da.from_array(v, chunks=(3, 4)) for v in values])
        np.testing.assert_array_equal(band(per_layer, 3).compute(), values[3])
        np.testing.assert_array_equal(bands(per_layer, 2, 5).compute(), values[2:5])
    assert seen and all(seen)
    for bad in (14, -15):
        with pytest.raises(IndexError, match="of a stack of 14 layers"):
            band(stack, bad)
    for start, stop in ((10, 16), (5, 5), (-1, 3)):
        with pytest.raises(IndexError, match="of a stack of 14 layers"):
            bands(stack, start, stop)


def test_a_stack_of_rows_keeps_its_layers_apart_in_the_caches_sets() -> None:
    """``stack_of_rows``: n layers of the shape and dtype asked, each contiguous (the writer's
    view of a layer is the layer), none overlapping another; a 2048² float32 layer is 16 MiB,
    so layers end to end would all start at one offset modulo 4 KiB: here 16 layers start at 16
    offsets."""
    from sinkmap.stacks import ROW_PAD, stack_of_rows

    stack = stack_of_rows(16, (2048, 2048))
    assert stack.shape == (16, 2048, 2048) and stack.dtype == np.float32
    assert all(stack[i].flags.c_contiguous for i in range(16))
    assert not stack.flags.c_contiguous
    starts = [stack[i].ctypes.data for i in range(16)]
    assert np.diff(starts).tolist() == [16 * 2**20 + ROW_PAD] * 15
    assert len({s % 4096 for s in starts}) == 16
    small = stack_of_rows(3, (5, 7), "uint16")
    assert small.shape == (3, 5, 7) and small.dtype == np.uint16
    small[...] = np.arange(3, dtype=np.uint16)[:, None, None]
    assert [int(small[i].min()) == int(small[i].max()) == i for i in range(3)] == [True] * 3
    assert stack_of_rows(14, (0, 4)).shape == (14, 0, 4)
