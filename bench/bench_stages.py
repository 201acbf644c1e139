"""Benchmark the stocks and interval stages against the I/O floor, and their peak memory.

    python bench/bench_stages.py                 # sizes 2048 (4 Mpx), 5120 (26 Mpx) and 10240 (105 Mpx)
    python bench/bench_stages.py --sides 10240   # one size

For each size a fresh child process (so peak memory is its own):
1. writes two years of synthetic land cover (sinkmap.landscape, uint8 GeoTIFF) on a 10 m UTM grid
   (in a process of its own: neither timed nor counted in peak memory);
2. times the real stages, ``sinkmap.stages.stocks.compute_stocks`` (lookup model, 4 pools + total
   as COGs, the per-class, per-tile and per-zone tallies) for both years and
   ``sinkmap.stages.interval.compute_interval`` (stock-difference flux of the total and of each
   pool, gain-loss net, removals and emissions, change matrices and tallies) for the interval;
3. times the I/O floor: reading every input once, chunk by chunk, plus writing the same outputs
   with the same GDAL creation options (``sinkmap.io.write_layers``), fed from the outputs on disk;
   the time to read those outputs back is measured separately and subtracted;
4. reports wall time / floor and peak RSS (``ru_maxrss``) of the child.

Peak memory should stay flat as the raster grows: it is bounded by chunks in flight, not size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def _write_landcover(path: Path, side: int, year: int) -> None:
    from sinkmap.grid import Grid
    from sinkmap.landscape import write_landcover

    grid = Grid(
        crs="EPSG:32649", resolution=10.0, left=700_000.0, top=2_090_000.0, width=side, height=side
    )
    write_landcover(path, grid, year)


def _prepare(side: int) -> None:
    work = OUT / f"side{side}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for year in (2020, 2021):
        _write_landcover(work / f"lc_{year}.tif", side, year)


def _child(side: int, chunk: int, threads: int) -> dict[str, float]:
    import dask
    import dask.array as da

    from sinkmap.config import load_config
    from sinkmap.grid import Grid
    from sinkmap.io import LayerSpec, open_on_grid, write_layers
    from sinkmap.paths import Paths
    from sinkmap.stages.interval import compute_interval
    from sinkmap.stages.stocks import compute_stocks

    work = OUT / f"side{side}"
    grid = Grid(
        crs="EPSG:32649",
        resolution=10.0,
        left=700_000.0,
        top=2_090_000.0,
        width=side,
        height=side,
        chunk=chunk,
    )
    grid.to_json(work / "grid.json")
    cfg = load_config(REPO / "config" / "config.yaml").model_copy(
        update={"results_dir": work / "results"}
    )
    cfg = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(
                update={"params": {"table": str(REPO / cfg.model.params["table"])}}
            )
        }
    )
    import os as _os

    _os.chdir(REPO)  # the config's relative dataset registry path
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    paths = Paths(work / "results")
    t0 = time.perf_counter()
    for year in (2020, 2021):
        compute_stocks(
            cfg,
            year,
            {"land_cover": work / f"lc_{year}.tif"},
            work / "grid.json",
            outputs=paths.year_outputs(year),
            threads=threads,
        )
    interval = paths.interval_outputs(2020, 2021)
    compute_interval(
        cfg,
        2020,
        2021,
        land_cover=(work / "lc_2020.tif", work / "lc_2021.tif"),
        stocks0=paths.stocks(2020),
        stocks1=paths.stocks(2021),
        grid_path=work / "grid.json",
        outputs=interval,
        threads=threads,
    )
    t_pipeline = time.perf_counter() - t0

    # I/O floor: read the inputs once (both land covers for the stocks; both land covers and both
    # years' stocks for the interval) ...
    inputs = [work / "lc_2020.tif", work / "lc_2021.tif"] * 2
    inputs += [*paths.stocks(2020).values(), *paths.stocks(2021).values()]
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=threads):
        dask.compute(*[open_on_grid(p, grid).sum() for p in inputs])
    t_read_inputs = time.perf_counter() - t0
    # ... and write the same outputs with the same options, fed from the outputs on disk
    outputs = [*paths.stocks(2020).values(), *paths.stocks(2021).values()]
    flux_layers = [v for v in interval.values() if v.suffix == ".tif"]
    outputs += flux_layers
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=threads):
        dask.compute(*[open_on_grid(p, grid).sum() for p in outputs])
    t_read_outputs = time.perf_counter() - t0
    floor_dir = work / "floor"
    t0 = time.perf_counter()
    for group in (
        list(paths.stocks(2020).values()),
        list(paths.stocks(2021).values()),
        flux_layers,
    ):
        layers = {
            floor_dir / f"{p.parent.name}_{p.name}": LayerSpec(
                data=open_on_grid(p, grid), dtype="float32", nodata=float("nan")
            )
            for p in group
        }
        write_layers(grid, layers, threads=threads)
    t_write = time.perf_counter() - t0 - t_read_outputs
    floor = t_read_inputs + t_write
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "side": side,
        "mpx": side * side / 1e6,
        "chunk": chunk,
        "threads": threads,
        "pipeline_s": t_pipeline,
        "floor_s": floor,
        "read_inputs_s": t_read_inputs,
        "write_outputs_s": t_write,
        "ratio": t_pipeline / floor,
        "peak_rss_mb": peak,
        "rss_before_mb": rss_before,
    }
    shutil.rmtree(work, ignore_errors=True)
    _ = da  # imported for parity with the stages
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", type=int, nargs="+", default=[2048, 5120, 10240])
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        _prepare(args.prepare)
        return
    if args.child:
        print(json.dumps(_child(args.child, args.chunk, args.threads)))
        return
    rows = []
    for side in args.sides:
        subprocess.run([sys.executable, __file__, "--prepare", str(side)], check=True)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(side),
            "--chunk",
            str(args.chunk),
            "--threads",
            str(args.threads),
        ]
        out = (
            subprocess.run(cmd, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        rows.append(json.loads(out))
        r = rows[-1]
        print(
            f"{r['mpx']:7.1f} Mpx  stocks x2 + interval: {r['pipeline_s']:6.1f} s   I/O floor: {r['floor_s']:6.1f} s "
            f"(read {r['read_inputs_s']:.1f} + write {r['write_outputs_s']:.1f})   ratio {r['ratio']:.2f}   "
            f"peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    if len(rows) > 1:
        print(
            f"peak RSS, largest / smallest raster: {rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f} "
            f"for {rows[-1]['mpx'] / rows[0]['mpx']:.0f}x the pixels (chunk {args.chunk}, threads {args.threads})"
        )


if __name__ == "__main__":
    main()
