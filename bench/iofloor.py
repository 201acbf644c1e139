"""The I/O floor of a benchmark: read rasters once, write layers once through sinkmap's writer.

Shared by ``bench_stages.py`` and ``bench_hainan.py``. Reads go chunk by chunk on the grid's
windows (``sinkmap.io.open_on_grid``, as the stages read); writes go through
``sinkmap.io.write_layers`` (or ``write_tiles``, the writer of ``sinkmap stock``) with the
published layers' creation options (COG, DEFLATE, 512-px blocks, overviews built with each layer's
own resampling), fed from the layers on disk, whose read-back time is measured and subtracted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def written_as(path: Path) -> tuple[str, float | int | None, str]:
    """The data type and nodata value of a raster's first band, and the resampling its overviews
    were built with (the ``OVERVIEW_RESAMPLING`` tag the writer sets; ``average`` without one):
    the floor builds the same overviews. Until 5 December (afternoon) it built every layer's with
    ``average``, where the state's integer layers have ``mode``, which costs GDAL more: the floor's
    write at 105 Mpx was 3.0–4.6 s too short (bench/README.md, "the floor builds the layers' own
    overviews")."""
    import rasterio

    with rasterio.open(path) as ds:
        resampling = ds.tags().get("OVERVIEW_RESAMPLING", "average").lower()
        return ds.dtypes[0], ds.nodata, resampling


def read_seconds(paths: Sequence[Path], grid: Any, threads: int) -> float:
    """Seconds to read every raster of ``paths`` once, chunk by chunk, on ``threads`` threads."""
    import dask

    from sinkmap.io import open_on_grid

    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=threads):
        dask.compute(*[open_on_grid(p, grid).sum() for p in paths])
    return time.perf_counter() - t0


def write_seconds(
    groups: Sequence[Sequence[Path]],
    grid: Any,
    out_dir: Path,
    threads: int,
    *,
    cog: bool = True,
    tiles: bool = False,
) -> float:
    """Seconds to write each group of layers with one ``write_layers`` call (as a stage writes its
    layers; ``cog=False``: plain tiled GeoTIFFs, as ``sinkmap stock`` writes), fed from the files
    themselves: the time to read them is included. ``tiles``: through ``write_tiles`` instead (no
    Dask: each tile's blocks read on the writer's threads, as ``sinkmap stock`` computes them)."""
    from sinkmap.io import LayerSpec, open_on_grid, read_window, write_layers, write_tiles

    t0 = time.perf_counter()
    for group in groups:
        layers = {}
        for p in group:
            dtype, nodata, resampling = written_as(p)
            layers[out_dir / f"{p.parent.name}_{p.name}"] = LayerSpec(
                data=None if tiles else open_on_grid(p, grid).astype(dtype),
                dtype=dtype,
                nodata=nodata,
                overview_resampling=resampling,
                internal="steps" in p.parts,  # as the stage writes them (Paths.step)
            )
        if not tiles:
            write_layers(grid, layers, threads=threads, cog=cog)
            continue

        def blocks(tile: Any, group: Sequence[Path] = group) -> tuple[Iterator[Any], None]:
            return (read_window(p, tile.window) for p in group), None

        write_tiles(grid, layers, blocks, threads=threads, cog=cog)
    return time.perf_counter() - t0


@dataclass
class Floor:
    """An I/O floor: inputs read once plus outputs written once (net of reading them back)."""

    read_inputs_s: float
    read_outputs_s: float
    write_outputs_s: float
    #: CPU seconds of all the process's threads, the same parts (the read-back subtracted)
    cpu_s: float = float("nan")

    @property
    def floor_s(self) -> float:
        return self.read_inputs_s + self.write_outputs_s


def io_floor(
    inputs: Sequence[Path],
    output_groups: Sequence[Sequence[Path]],
    grid: Any,
    out_dir: Path,
    threads: int,
) -> Floor:
    """Read ``inputs`` once, then write every group of ``output_groups`` once into ``out_dir``;
    the time to read the outputs (measured on its own) is subtracted from the write; the same for
    the CPU time of all threads."""
    c0 = time.process_time()
    t_in = read_seconds(inputs, grid, threads)
    c1 = time.process_time()
    t_out = read_seconds([p for g in output_groups for p in g], grid, threads)
    c2 = time.process_time()
    t_write = write_seconds(output_groups, grid, out_dir, threads) - t_out
    c3 = time.process_time()
    return Floor(t_in, t_out, t_write, cpu_s=(c1 - c0) + (c3 - c2) - (c2 - c1))
