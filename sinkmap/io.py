"""Raster I/O: chunked reads, atomic Cloud-Optimized GeoTIFF writes, tags, the dask scheduler.

Nothing here holds a whole raster in memory: reads are windowed per chunk and writes stream dask
blocks into a temporary tiled GeoTIFF, which rio-cogeo then lays out as a COG (again block by
block). A layer appears under its final name only once it is complete (``os.replace``), so a failed
or killed run never leaves a half-written layer behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import rasterio
from rasterio.windows import Window

from sinkmap.errors import ConfigError, InputDataError
from sinkmap.files import gdal_build_time, remove_stale_temporaries, unlink
from sinkmap.grid import Grid, Tile
from sinkmap.progress import Progress

if TYPE_CHECKING:
    import dask.array as da

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# GDAL caches written blocks up to GDAL_CACHEMAX (default 5 % of RAM) before flushing them; a fixed
# default keeps a step's memory bounded by its chunks, not by the machine. Users may set their own.
os.environ.setdefault("GDAL_CACHEMAX", "256")

#: GDAL creation options of every published GeoTIFF (COG layout added by rio-cogeo).
COG_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
    "compress": "DEFLATE",
}
#: Codecs of the published COGs (``SINKMAP_COMPRESS``): DEFLATE by default, which every GeoTIFF
#: reader decodes (web maps built on geotiff.js before 3.0 do not decode ZSTD); ZSTD level 1 takes
#: 0.73x DEFLATE's publishing time at 1.03x its size on the demo's layers
#: (bench/bench_codecs.py, bench/README.md).
COMPRESSION: dict[str, dict[str, Any]] = {
    "DEFLATE": {"compress": "DEFLATE"},
    "ZSTD": {"compress": "ZSTD", "level": 1},
}


def cog_profile() -> dict[str, Any]:
    """GDAL creation options of a published COG: :data:`COG_PROFILE` with the codec that
    ``SINKMAP_COMPRESS`` names (``DEFLATE`` when unset)."""
    name = os.environ.get("SINKMAP_COMPRESS", "DEFLATE").strip().upper() or "DEFLATE"
    if name not in COMPRESSION:
        raise ConfigError(
            f"SINKMAP_COMPRESS={name!r} is not a codec sinkmap publishes; use one of "
            f"{sorted(COMPRESSION)} or unset it"
        )
    return COG_PROFILE | COMPRESSION[name]


#: GeoPackage version of every GeoPackage sinkmap writes: 1.2, what GDAL wrote by default before
#: 3.7.1. GDAL 3.7.1 and later write 1.4, which the GDAL of QGIS 3.22 LTR (Debian 12: GDAL 3.6)
#: opens with "This version of GeoPackage ... may only be partially supported"; sinkmap uses
#: nothing of 1.3 or 1.4.
GPKG_VERSION = "1.2"
#: Options of the short-lived intermediate file a COG is built from.
_TEMP_OPTIONS: dict[str, Any] = {"compress": "ZSTD", "zstd_level": 1}
_GDAL_ENV: dict[str, Any] = {"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": True}


@dataclass
class LayerSpec:
    """A single-band raster to publish: data (dask), dtype, nodata, and its metadata.

    ``data`` is None for :func:`write_tiles`, whose function of a tile makes the blocks."""

    data: da.Array | None
    dtype: str
    nodata: float | int | None
    tags: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None
    overview_resampling: str = "average"
    scale_offset: tuple[float, float] | None = None
    #: An intermediate layer another stage reads, not a published one: written as the staged file
    #: is (tiled, ZSTD level 1, no overviews), with its tags, whatever the writer's ``cog``.
    internal: bool = False
    #: Every NaN of ``data`` is the positive quiet NaN by construction (values taken from a table
    #: that holds only that NaN): the writer skips its per-block check (:func:`_positive_nan`).
    nan_positive: bool = False


class _WindowWriter:
    """A ``__setitem__`` target for :func:`dask.array.store` that writes windows to one band."""

    def __init__(self, dataset: rasterio.io.DatasetWriter, *, nan_positive: bool = False) -> None:
        self.dataset = dataset
        self.nan_positive = nan_positive
        # one lock per file: a GDAL dataset takes one thread at a time, different files do not
        # wait for each other (the threads compress different layers side by side)
        self.lock = threading.Lock()

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        rows, cols = key
        window = Window.from_slices(
            rows, cols, height=self.dataset.height, width=self.dataset.width
        )
        if value.shape != (window.height, window.width):  # GDAL would resample it, silently
            raise ValueError(
                f"a block of shape {value.shape} for the window {window.height} x {window.width} "
                f"at row {window.row_off}, column {window.col_off} of {self.dataset.name}"
            )
        if not self.nan_positive:
            value = _positive_nan(value)
        with self.lock:
            # as a (bands, rows, cols) view: rasterio copies a 2-D block into a stack first
            self.dataset.write(value[np.newaxis], [1], window=window)


#: Per float width: the unsigned type of the same width and the largest of its bit patterns that
#: is not a NaN with the sign bit set (negative infinity).
_NEGATIVE_INFINITY: dict[int, tuple[type[np.unsignedinteger], int]] = {
    4: (np.uint32, 0xFF80_0000),
    8: (np.uint64, 0xFFF0_0000_0000_0000),
}


def _positive_nan(block: np.ndarray) -> np.ndarray:
    """``block`` with every NaN that carries the sign bit (``-x`` of a NaN does) replaced by the
    positive quiet NaN, so that a layer's bytes do not depend on the arithmetic that made its
    NaN (GDAL's warper, which every layer went through before the COG step wrote them directly,
    wrote them positive). A copy only where there are any: one comparison per pixel otherwise."""
    if block.dtype.kind != "f" or block.dtype.itemsize not in _NEGATIVE_INFINITY:
        return block
    unsigned, negative_infinity = _NEGATIVE_INFINITY[block.dtype.itemsize]
    negative_nan = block.view(unsigned) > unsigned(negative_infinity)
    if not negative_nan.any():
        return block
    out = block.copy()
    out[negative_nan] = np.nan
    return out


def write_layers(
    grid: Grid,
    layers: Mapping[Path, LayerSpec],
    *,
    extra: Sequence[Any] = (),
    per_tile: Sequence[Any] | None = None,
    threads: int | None = None,
    cog: bool = True,
    check: Callable[[list[Any]], None] | None = None,
) -> list[Any]:
    """Compute ``layers`` (and ``extra`` dask/delayed objects) in one pass and publish them as COGs.

    ``per_tile``: one delayed object per tile of ``grid`` (in :meth:`Grid.tiles` order) that reads
    the same blocks as the layers (a tile's tally): the tiles are then computed a few at a time,
    each tile's layer blocks with its object, so that a tile's blocks are released once both have
    used them and memory is the tiles in flight, whatever the raster's size (one graph for all
    tiles lets the blocks pile up between the layers' writes and the tallies). Their results come
    last in the returned list, as one list in tile order.

    ``check`` is called with the computed ``extra`` before any layer is published: an error it
    raises leaves no layer at its final name (e.g. an input found empty or implausible in the
    same pass that aligned it).

    With ``cog=False`` the layers are plain tiled GeoTIFFs without overviews (as InVEST writes;
    about three times faster to publish), with the same tags and codec (``SINKMAP_COMPRESS``).

    Shared parts of the graph (e.g. a model computed once for all its pools) are computed once per
    chunk. Returns the computed values of ``extra``. Every layer is first completed as a COG under a
    temporary name; only when all are complete are they renamed onto their final names. On any error
    no layer of this call reaches its final name, and no temporary file is left behind.
    """
    # imported here, not at the top: the jobs that only write vectors or tables start
    # without it (0.7 s each; tests/unit/test_architecture.py LIGHT_SCRIPTS)
    import dask
    import dask.array as da

    missing = [str(path) for path, spec in layers.items() if spec.data is None]
    if missing:
        raise ValueError(f"layers without data for write_layers (use write_tiles): {missing}")
    with _Staging(grid, layers, cog=cog) as staging:
        targets = staging.targets
        sources = [spec.data.astype(spec.dtype) for spec in layers.values()]  # type: ignore[union-attr]
        with staging.progress(sum(source.npartitions for source in sources)) as progress:
            if distributed_client() is not None:
                every = [*extra, list(per_tile)] if per_tile is not None else extra
                results = _store_on_cluster(sources, targets, staging.temporaries, every, progress)
            elif per_tile is not None:
                with dask_scheduler(threads), chunk_progress(progress):
                    results = _store_by_tiles(grid, sources, targets, extra, per_tile, threads)
            else:
                stores = da.store(sources, targets, lock=False, compute=False)  # type: ignore[arg-type]
                with dask_scheduler(threads), chunk_progress(progress):
                    _, *results = dask.compute(stores, *extra)
        staging.close()
        if check is not None:
            check(list(results))
        staging.publish(threads)
    return list(results)


def write_tiles(
    grid: Grid,
    layers: Mapping[Path, LayerSpec],
    blocks: Callable[[Tile], tuple[Iterable[np.ndarray], _T]],
    *,
    threads: int | None = None,
    cog: bool = True,
) -> list[_T]:
    """Publish ``layers`` (their ``data`` None) from a function of one tile, without Dask.

    ``blocks(tile)`` returns the tile's block of every layer, in the order of ``layers`` (an
    iterator is written block by block as it yields them), and a result of its own (a tile's
    counts); the results come back in :meth:`Grid.tiles` order. The tiles run on ``threads``
    threads, each computing and writing its blocks, so memory is the tiles in flight.

    For work that is one function of a tile's pixels (``sinkmap stock``) this spares the process
    Dask's array module (0.5 s of start-up: it imports xarray and SciPy) and its graph; work that
    shares parts between layers and tiles goes through :func:`write_layers`. The same pixels, tags
    and guarantees as :func:`write_layers`: nothing reaches its final name until every layer is
    complete, and after an error in one tile no tile not yet started is computed. (A plain
    layer's blocks, ``cog=False``, lie in the file in the order the threads wrote them: the same
    pixels, not always the same bytes, as with :func:`write_layers`; a COG is laid out anew, its
    bytes the same every time.)

    With a Dask cluster active (``sinkmap --dask``, :func:`distributed_client`) its workers
    compute the tiles, one task each, written as :func:`write_layers` writes a cluster's blocks.
    """
    from concurrent.futures import ThreadPoolExecutor

    given = [str(path) for path, spec in layers.items() if spec.data is not None]
    if given:
        raise ValueError(f"layers with data for write_tiles (use write_layers): {given}")
    if distributed_client() is not None:  # a cluster (``sinkmap --dask``): its workers compute
        return _tiles_on_cluster(grid, layers, blocks, threads=threads, cog=cog)
    tiles = list(grid.tiles())
    failed = threading.Event()
    with _Staging(grid, layers, cog=cog) as staging:
        targets = staging.targets
        dtypes = [spec.dtype for spec in layers.values()]
        with staging.progress(len(tiles) * len(targets)) as progress:

            def one(tile: Tile) -> _T | None:
                if failed.is_set():  # an earlier tile failed: its error is what the caller gets
                    return None
                try:
                    values, result = blocks(tile)
                    # each block written as it comes (values may be lazy)
                    for target, block in zip(targets, _layer_blocks(values, dtypes), strict=True):
                        target[tile.slices] = block
                except BaseException:
                    failed.set()
                    raise
                progress.update(len(targets))
                return result

            with ThreadPoolExecutor(max_workers=max(1, threads or os.cpu_count() or 1)) as pool:
                results = list(pool.map(one, tiles))
        staging.publish(threads)
    return results  # type: ignore[return-value]  # None only for tiles after a failed one


def _tiles_on_cluster(
    grid: Grid,
    layers: Mapping[Path, LayerSpec],
    blocks: Callable[[Tile], tuple[Iterable[np.ndarray], _T]],
    *,
    threads: int | None,
    cog: bool,
) -> list[_T]:
    """:func:`write_tiles` on the active Dask cluster: one task per tile (the function sent once,
    :func:`shared`) whose blocks are the layers' chunks, written by :func:`write_layers` as the
    workers save them; the tiles' results gathered in tile order."""
    import dask
    import dask.array as da

    dtypes = [spec.dtype for spec in layers.values()]
    fn = shared(blocks)
    tiles = list(grid.tiles())
    parts = [dask.delayed(_tile_blocks, nout=2)(fn, tile, dtypes) for tile in tiles]
    per_row = len(grid.chunks[1])

    def layer(k: int) -> da.Array:
        chunks = [
            da.from_delayed(part[0][k], shape=(tile.height, tile.width), dtype=dtypes[k])
            for part, tile in zip(parts, tiles, strict=True)
        ]
        return da.block([chunks[i : i + per_row] for i in range(0, len(chunks), per_row)])

    specs = {
        path: dataclasses.replace(spec, data=layer(k))
        for k, (path, spec) in enumerate(layers.items())
    }
    results = dask.delayed(list)([part[1] for part in parts])
    (done,) = write_layers(grid, specs, extra=[results], threads=threads, cog=cog)
    return list(done)


def _tile_blocks(
    blocks: Callable[[Tile], tuple[Iterable[np.ndarray], _T]], tile: Tile, dtypes: Sequence[str]
) -> tuple[list[np.ndarray], _T]:
    """A tile's blocks (a list, in the layers' dtypes) and its result, on a cluster's worker."""
    values, result = blocks(tile)
    return list(_layer_blocks(values, dtypes)), result


def _layer_blocks(values: Iterable[np.ndarray], dtypes: Sequence[str]) -> Iterator[np.ndarray]:
    """A tile's blocks in the layers' dtypes, one per layer, as ``values`` yields them; a
    ``ValueError`` for one block more or less than the layers."""
    rest = iter(values)
    count = 0
    for dtype, value in zip(dtypes, rest, strict=False):
        count += 1
        yield np.asarray(value, dtype=dtype)
    if count < len(dtypes):
        raise ValueError(f"{count} blocks for {len(dtypes)} layers")
    if next(rest, _END) is not _END:
        raise ValueError(f"more blocks than the {len(dtypes)} layers")


_END = object()


class _Staging:
    """The layers of one write: each staged as a tiled GeoTIFF beside its final name, then
    tagged, laid out (a COG unless ``cog=False`` or internal) and renamed onto its final name
    only when every layer is complete (:meth:`publish`). Leaving the ``with`` block closes and
    deletes whatever is left: on an error no layer reaches its final name and no temporary file
    stays behind."""

    def __init__(self, grid: Grid, layers: Mapping[Path, LayerSpec], *, cog: bool) -> None:
        self.grid, self.layers, self.cog = grid, layers, cog
        self.profile = cog_profile()  # a bad SINKMAP_COMPRESS stops here, before any work
        self.temps: dict[Path, Path] = {}
        self.cogs: dict[Path, Path] = {}
        self.datasets: list[Any] = []
        self.targets: list[_WindowWriter] = []
        self._env = rasterio.Env(**_GDAL_ENV)

    @property
    def temporaries(self) -> list[Path]:
        return list(self.temps.values())

    def __enter__(self) -> _Staging:
        self._env.__enter__()
        try:
            for path, spec in self.layers.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                remove_stale_temporaries(path)
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.stage.tif")
                self.temps[path] = tmp
                plain = _plain(self.profile)
                options = _TEMP_OPTIONS if self.cog or spec.internal else plain
                profile = self.grid.profile(dtype=spec.dtype, nodata=spec.nodata) | options
                ds = rasterio.open(tmp, "w", **profile)
                self.datasets.append(ds)
                self.targets.append(_WindowWriter(ds, nan_positive=spec.nan_positive))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def progress(self, total: int) -> Progress:
        folders = sorted({str(path.parent) for path in self.layers})
        return Progress(
            f"writing {len(self.layers)} layer(s) to {', '.join(folders)}", total, "chunks"
        )

    def close(self) -> None:
        """Close the staged files (every block written); each one even if another fails."""
        datasets, self.datasets = self.datasets, []
        errors = []
        for ds in datasets:
            try:
                ds.close()
            except Exception as exc:  # a full disk: the first error is raised, after the rest
                errors.append(exc)
        if errors:
            raise errors[0]

    def publish(self, threads: int | None) -> None:
        """Tag and lay out every staged layer, then rename them all onto their final names."""
        self.close()
        for path in self.layers:
            self.cogs[path] = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.cog.tif")
        _parallel(
            [
                lambda p=path, s=spec: _publish(
                    self.temps[p],
                    self.cogs[p],
                    s,
                    cog=self.cog and not s.internal,
                    profile=self.profile,
                )
                for path, spec in self.layers.items()
            ],
            threads,
        )
        for path, cog_path in self.cogs.items():
            os.replace(cog_path, path)

    def __exit__(self, *exc: object) -> None:
        try:
            try:
                self.close()
            finally:
                for tmp in [*self.temps.values(), *self.cogs.values()]:
                    unlink(tmp)
        finally:
            self._env.__exit__(None, None, None)


def _plain(profile: Mapping[str, Any]) -> dict[str, Any]:
    """GeoTIFF creation options of a plain layer (``cog=False``) with a COG profile's codec: the
    COG driver's ``level`` is the GTiff driver's ``zstd_level`` (ZSTD) or ``zlevel`` (DEFLATE)."""
    codec = str(profile["compress"]).upper()
    options: dict[str, Any] = {"compress": codec}
    if "level" in profile:
        options[{"ZSTD": "zstd_level", "DEFLATE": "zlevel"}[codec]] = profile["level"]
    return options


def _store_by_tiles(
    grid: Grid,
    sources: Sequence[da.Array],
    targets: Sequence[_WindowWriter],
    extra: Sequence[Any],
    per_tile: Sequence[Any],
    threads: int | None,
) -> list[Any]:
    """:func:`dask.array.store` of ``sources`` with ``per_tile`` (one object per tile), a few
    tiles per compute: the layers' blocks of those tiles and their objects in one graph (what
    they share is computed once), then released. ``extra`` first, in a graph of its own."""
    import dask
    import dask.array as da

    tiles = list(grid.tiles())
    if len(per_tile) != len(tiles):
        raise ValueError(f"per_tile holds {len(per_tile)} objects for {len(tiles)} tiles")
    results: list[Any] = list(dask.compute(*extra)) if extra else []
    batch = 2 * max(threads or 1, 1)
    done: list[Any] = []
    for start in range(0, len(tiles), batch):
        group = tiles[start : start + batch]
        stores = [
            da.store(
                [src[tile.slices] for src in sources],
                list(targets),  # type: ignore[arg-type]
                regions=[tile.slices] * len(sources),
                lock=False,
                compute=False,
            )
            for tile in group
        ]
        _, part = dask.compute(stores, list(per_tile[start : start + batch]))
        done.extend(part)
    return [*results, done]


def _publish(src: Path, dst: Path, spec: LayerSpec, *, cog: bool, profile: dict[str, Any]) -> None:
    """Tag the staged file, then lay it out as a COG at ``dst`` (or move it there as it is).

    The COG is what ``rio_cogeo.cogeo.cog_translate(..., use_cog_driver=True)`` makes, byte for
    byte (``tests/unit/test_io.py`` compares them), in about half the time: the overviews are
    built on the staged file (the same levels and resampling, so the same values) and GDAL's COG
    driver copies it once, where ``cog_translate`` first copies the whole raster through a
    warped VRT into a temporary file of its own.
    """
    import rasterio.shutil
    from rasterio.enums import Resampling

    tags = {k: _tag_value(v) for k, v in spec.tags.items()}
    resampling = Resampling[spec.overview_resampling]
    block = min(int(profile["blockxsize"]), int(profile["blockysize"]))
    with rasterio.Env(**_GDAL_ENV):  # GDAL options are per thread, and this runs on a pool
        with rasterio.open(src, "r+") as ds:
            ds.update_tags(**tags)
            if spec.description:
                ds.set_band_description(1, spec.description)
            if spec.scale_offset:
                ds.scales, ds.offsets = (spec.scale_offset[0],), (spec.scale_offset[1],)
            if spec.colormap:
                ds.write_colormap(1, dict(spec.colormap))
            if cog:
                # here, not at the top: a plain layer's process (`sinkmap stock`) starts without
                # rio-cogeo's imports (0.08 s)
                from rio_cogeo.utils import get_maximum_overview_level

                levels = get_maximum_overview_level(ds.width, ds.height, minsize=block)
                if levels:
                    ds.build_overviews([2**k for k in range(1, levels + 1)], resampling)
                ds.update_tags(OVERVIEW_RESAMPLING=resampling.name.upper())
        if not cog:
            os.replace(src, dst)
            return
        options = {k: v for k, v in profile.items() if k not in _NOT_COG_OPTIONS}
        options |= {
            "blocksize": block,
            "overview_resampling": spec.overview_resampling,
            "warp_resampling": "nearest",
        }
        if not levels:
            options["overviews"] = "NONE"
        rasterio.shutil.copy(str(src), str(dst), driver="COG", **options)


#: GTiff creation options that the COG driver takes otherwise (``blocksize``) or not at all.
_NOT_COG_OPTIONS = frozenset({"driver", "tiled", "blockxsize", "blockysize", "photometric"})


def _parallel(jobs: Sequence[Any], threads: int | None) -> None:
    """Run callables on up to ``threads`` threads (GDAL releases the GIL while it compresses)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(threads or 1, len(jobs)))) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _tag_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _store_on_cluster(
    sources: Sequence[da.Array],
    targets: Sequence[_WindowWriter],
    temps: Sequence[Path],
    extra: Sequence[Any],
    progress: Progress,
) -> list[Any]:
    """:func:`dask.array.store` for worker processes: an open dataset cannot go to a worker, and
    rasters must not travel through the scheduler. Each worker saves its blocks as ``.npy`` files
    in a scratch folder beside the layer (by path and window); this process writes each into the
    staged GeoTIFF as soon as it is saved and deletes it, so its memory stays one block and the
    scratch folder holds only the blocks not yet written. One graph for the blocks and ``extra``:
    what they share is computed once."""
    import dask.array as da
    from distributed import as_completed, get_client

    client = get_client()
    scratch = [t.with_name(t.name.removesuffix("stage.tif") + "blocks") for t in temps]
    try:
        blocks, where = [], []
        for layer, (folder, src) in enumerate(zip(scratch, sources, strict=True)):
            folder.mkdir()
            saved = da.map_blocks(
                _save_block,
                src,
                folder=str(folder),
                dtype="int8",
                chunks=tuple((1,) * len(c) for c in src.chunks),
            )
            rows = np.cumsum((0, *src.chunks[0]))
            cols = np.cumsum((0, *src.chunks[1]))
            for (i, j), block in np.ndenumerate(saved.to_delayed(optimize_graph=False)):
                blocks.append(block)
                where.append((layer, rows[i], rows[i + 1], cols[j], cols[j + 1]))
        futures = client.compute([*blocks, *extra])
        done, rest = futures[: len(blocks)], futures[len(blocks) :]
        position = {f.key: w for f, w in zip(done, where, strict=True)}
        for future in as_completed(done):
            future.result()  # a failed task raises here
            layer, r0, r1, c0, c1 = position[future.key]
            block = scratch[layer] / f"{r0}_{c0}.npy"
            targets[layer][slice(r0, r1), slice(c0, c1)] = np.load(block)
            block.unlink()
            progress.update(1)
        results = client.gather(rest)
        log.info(
            "dask: %d blocks of %d layer(s) computed by the cluster's workers",
            len(blocks),
            len(sources),
        )
        return list(results)
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)


def _save_block(block: np.ndarray, folder: str, block_info: dict | None = None) -> np.ndarray:
    """Save one block as ``<row>_<col>.npy`` (its offset in the layer) in ``folder``."""
    assert block_info is not None
    (r0, _), (c0, _) = block_info[0]["array-location"]
    path = os.path.join(folder, f"{r0}_{c0}.npy")
    with open(path + ".part", "wb") as f:
        np.save(f, block)
    os.replace(path + ".part", path)
    return np.ones((1, 1), dtype="int8")


def distributed_client() -> Any:
    """The active distributed client (see :func:`sinkmap.cluster.dask_cluster`), or None."""
    if "distributed" not in sys.modules:  # never imported, so no client (and 0.2 s not spent)
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


@contextlib.contextmanager
def dask_scheduler(threads: int | None) -> Iterator[None]:
    """Threaded dask scheduler, unless a distributed client is active (then use it).

    The scheduler is given as its function, not by its name: dask looks a name up by importing
    ``distributed`` (0.1 s of every job that computes, for a client that is never there)."""
    if distributed_client() is not None:
        yield
        return
    import dask
    import dask.threaded

    with dask.config.set(scheduler=dask.threaded.get, num_workers=threads or os.cpu_count() or 1):
        yield


def chunk_progress(progress: Progress) -> Any:
    """A dask callback that counts the chunks :func:`dask.array.store` has written (its tasks
    named ``store-map-*``) into ``progress``; local schedulers only (the threaded one). Made
    here, not at import: this module does not import dask until it computes with it."""
    from dask.callbacks import Callback

    class ChunkProgress(Callback):
        def _posttask(
            self, key: Any, result: Any, dsk: Mapping[Any, Any], state: Any, worker_id: Any
        ) -> None:
            name = key[0] if isinstance(key, tuple) else key
            if isinstance(name, str) and name.startswith("store-map"):
                progress.update(1)

    return ChunkProgress()


def shared(value: Any) -> Any:
    """``value`` as one key of a dask graph that every task using it refers to. An object given
    to ``dask.delayed`` calls or ``map_blocks`` directly is copied into each task: harmless on
    threads, but on a Dask cluster a lookup table, model or zone index would be sent once per
    tile (megabytes per task on a province)."""
    import dask

    return dask.delayed(value, pure=False, traverse=False)


def compute(tasks: Sequence[Any], threads: int | None) -> list[Any]:
    """Compute dask/delayed ``tasks`` together on :func:`dask_scheduler` ``(threads)``."""
    import dask

    with dask_scheduler(threads):
        return list(dask.compute(*tasks))


# -- reading --------------------------------------------------------------------------------------
def read_window(path: str | Path, window: Window, *, band: int = 1) -> np.ndarray:
    """Read one window of one band (the file is opened per call, so reads are thread-safe)."""
    with rasterio.open(path) as ds:
        return ds.read(band, window=window)


def open_on_grid(path: str | Path, grid: Grid, *, dtype: str | None = None) -> da.Array:
    """A dask array of a raster that is already on ``grid``, chunked like the grid.

    Raises :class:`InputDataError` when the file is not on the grid (different shape, CRS or
    transform): align it first with :func:`sinkmap.align.align_to_grid`.
    """
    import dask.array as da

    check_on_grid(path, grid)
    with rasterio.open(path) as ds:
        file_dtype = ds.dtypes[0]
    path = str(path)

    def _block(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return read_window(path, Window(c0, r0, c1 - c0, r1 - r0))

    arr = da.map_blocks(_block, chunks=grid.chunks, dtype=file_dtype, name=f"read-{_token(path)}")
    return arr.astype(dtype) if dtype else arr


def _token(path: str) -> str:
    st = os.stat(path)
    import dask.base

    return dask.base.tokenize(path, st.st_mtime_ns, st.st_size)


def check_on_grid(path: str | Path, grid: Grid) -> None:
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"cannot open raster {path}: {exc}. Re-run the step that makes it."
        ) from exc
    with ds:
        same = (
            ds.width == grid.width
            and ds.height == grid.height
            and ds.crs == rasterio.crs.CRS.from_user_input(grid.crs)
            and ds.transform.almost_equals(grid.transform)
        )
    if not same:
        raise InputDataError(
            f"{path} is not on the run's grid ({grid.width}x{grid.height} px, {grid.crs}); "
            "align it with sinkmap.align.align_to_grid, or delete it so the workflow re-makes it"
        )


def open_dataarray(path: str | Path, *, chunks: int | None = None) -> Any:
    """Open a sinkmap output as a lazily-loaded, georeferenced ``xarray.DataArray`` (rioxarray)."""
    import rioxarray

    # chunks by dimension name: xarray 2026 deprecates the positional form that chunks=True gives
    size: int | str = chunks or "auto"
    data: Any = rioxarray.open_rasterio(path, chunks={"x": size, "y": size}, masked=True)
    return data.squeeze("band", drop=True)


def write_gpkg_layer(
    frame: Any, path: str | Path, layer: str, *, metadata: Mapping[str, str] | None = None
) -> None:
    """Write a (Geo)DataFrame as ``layer`` of the GeoPackage ``path`` (created as version
    :data:`GPKG_VERSION` when it does not exist yet; other layers of an existing file are kept).
    Its timestamps are ``SOURCE_DATE_EPOCH`` when set (:func:`sinkmap.files.gdal_build_time`)."""
    import pyogrio

    with gdal_build_time():
        pyogrio.write_dataframe(
            frame,
            path,
            layer=layer,
            driver="GPKG",
            layer_metadata=dict(metadata) if metadata else None,
            dataset_options={"VERSION": GPKG_VERSION},
        )
