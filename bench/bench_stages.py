"""Benchmark the stocks and interval stages against the I/O floor, and their peak memory.

    python bench/bench_stages.py                 # sizes 2048 (4 Mpx), 5120 (26 Mpx) and 10240 (105 Mpx)
    python bench/bench_stages.py --sides 10240   # one size
    python bench/bench_stages.py --model lookup  # the one-year lookup model instead of the state
    python bench/bench_stages.py --sides 5120 --per-phase  # also each phase against its own floor
    python bench/bench_stages.py --sides 10240 --per-phase --repeat 3  # medians of three runs
    SINKMAP_BENCH_KEEP=1 python bench/bench_stages.py --sides 2048  # keep bench/out/side2048/

For each size a fresh child process (so peak memory is its own), which first imports and loads
what a workflow job finds loaded when the job server forks it (geopandas, pyogrio, the compiled
kernels; not timed):
1. writes two years of synthetic land cover (sinkmap.landscape, uint8 GeoTIFF) on a 10 m UTM grid,
   and for the carbon state the forest type, planting year and ecozone (in a process of its own:
   neither timed nor counted in peak memory);
2. times the real stages, ``sinkmap.stages.stocks.compute_stocks`` (the demo's model, the carbon
   state: it starts the state in the first year and steps it to the second, writing the 7 state
   layers and the gain-loss of the step; or ``--model lookup``; 4 pools + total as COGs, the per-class, per-tile and per-zone
   tallies) for both years and ``sinkmap.stages.interval.compute_interval`` (stock-difference flux
   of the total and of each pool, gain-loss net, removals and emissions, change matrices and
   tallies) for the interval;
3. times the I/O floor: reading every input once, chunk by chunk, plus writing the same outputs
   with the same GDAL creation options and overviews (``sinkmap.io.write_layers``), fed from the
   outputs on disk;
   the time to read those outputs back is measured separately and subtracted;
4. reports wall time / floor and peak RSS (``ru_maxrss``) of the child, and each phase's wall and
   CPU time (``time.process_time``: all the process's threads, GDAL's compression threads
   included): where the cores are busy throughout, the ratio of wall times is a ratio of CPU
   times, and only less CPU work moves it.

Peak memory should stay flat as the raster grows: it is bounded by chunks in flight, not size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from iofloor import io_floor  # noqa: E402


def _grid(side: int, chunk: int = 2048) -> Any:
    """The benchmark's square grid of ``side`` 10 m cells (UTM 49N)."""
    from sinkmap.grid import Grid

    return Grid(
        crs="EPSG:32649",
        resolution=10.0,
        left=700_000.0,
        top=2_090_000.0,
        width=side,
        height=side,
        chunk=chunk,
    )


def _write_landcover(path: Path, side: int, year: int) -> None:
    from sinkmap.landscape import write_landcover

    write_landcover(path, _grid(side), year)


#: Input roles of the carbon state besides the land cover, and the landscape layer of each.
STATE_ROLES = {"plantation": "forest_type", "planting_year": "planting_year", "ecozone": "ecozone"}


def _prepare(side: int, model: str) -> None:
    from sinkmap.landscape import write_layer

    work = OUT / f"side{side}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for year in (2020, 2021):
        _write_landcover(work / f"lc_{year}.tif", side, year)
    if model == "dynamics":
        grid = _grid(side)
        for role, layer in STATE_ROLES.items():
            write_layer(work / f"{role}.tif", grid, 2020, layer)


def _child(
    side: int, chunk: int, threads: int, model: str, per_phase: bool = False
) -> dict[str, Any]:
    import importlib

    from sinkmap import kernels, reuse_freed_memory
    from sinkmap.config import load_config
    from sinkmap.paths import Paths
    from sinkmap.stages.interval import compute_interval
    from sinkmap.stages.stocks import PreviousYear, compute_stocks

    # as a workflow job starts, forked from the job server (sinkmap.stages.jobserver: _warm_up):
    # geopandas, pyogrio, pyproj and dask imported, the compiled kernels loaded; the floor,
    # measured last in this process, finds everything loaded too. Not timed: before 5 December
    # (802f37f) the first phase paid them (about 1 s: stocks 2020 at 1 Mpx 1.4 s, stocks 2021
    # 0.7 s). After sinkmap: NumPy imported before it would ask for huge pages (sinkmap's
    # __init__), which on this machine made the stages twice as slow (2.38 of the floor at 26 Mpx
    # in one try, 07:24)
    for name in ("geopandas", "pyogrio", "pyproj", "dask"):
        importlib.import_module(name)
    kernels.warm()

    reuse_freed_memory()  # as a workflow job's step() does (SINKMAP_MALLOC=default: glibc's own)
    work = OUT / f"side{side}"
    grid = _grid(side, chunk)
    grid.to_json(work / "grid.json")
    cfg = load_config(REPO / "config" / "config.yaml").model_copy(
        update={"results_dir": work / "results"}
    )
    table = str(REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv")
    if model == "lookup":
        params: dict[str, object] = {"table": table}
    else:
        params = {
            "strata": str(REPO / "config" / "dynamics" / "strata.csv"),
            "table": table,
            "plantation_role": "plantation",
            "planting_year_role": "planting_year",
            "ecozone_role": "ecozone",
        }
    cfg = cfg.model_copy(
        update={"model": cfg.model.model_copy(update={"name": model, "params": params})}
    )
    import os as _os

    _os.chdir(REPO)  # the config's relative dataset registry path
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    stateful = model == "dynamics"
    extra = {role: work / f"{role}.tif" for role in STATE_ROLES} if stateful else {}
    paths = Paths(work / "results", work / "resources")
    phases: dict[str, tuple[float, float]] = {}  # phase: (wall s, CPU s of all threads)

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        w0, c0 = time.perf_counter(), time.process_time()
        yield
        phases[name] = (time.perf_counter() - w0, time.process_time() - c0)

    for year in (2020, 2021):
        with phase(f"stocks {year}"):
            compute_stocks(
                cfg,
                year,
                {"land_cover": work / f"lc_{year}.tif", **extra},
                work / "grid.json",
                outputs=paths.year_outputs(year, stateful=stateful, steps=stateful),
                previous=PreviousYear(2020, paths.states(2020), work / "lc_2020.tif")
                if stateful and year == 2021
                else None,
                threads=threads,
            )
    interval = paths.interval_outputs(2020, 2021)
    with phase("interval"):
        compute_interval(
            cfg,
            2020,
            2021,
            land_cover=(work / "lc_2020.tif", work / "lc_2021.tif"),
            stocks0=paths.stocks(2020),
            stocks1=paths.stocks(2021),
            grid_path=work / "grid.json",
            outputs=interval,
            states=({}, paths.states(2021)) if stateful else None,
            step=paths.steps(2021) if stateful else None,  # as the workflow's consecutive years
            threads=threads,
        )
    t_pipeline = sum(wall for wall, _ in phases.values())

    # I/O floor: read the inputs once (both land covers for the stocks; both land covers and both
    # years' stocks for the interval) ...
    inputs = [work / "lc_2020.tif", work / "lc_2021.tif"] * 2
    inputs += [*paths.stocks(2020).values(), *paths.stocks(2021).values()]
    # the stocks read the roles (twice) and the state of 2020; the interval the state of 2021 and
    # the gain-loss of the stocks' step into 2021
    if stateful:
        inputs += [*extra.values()] * 2 + [*paths.states(2020).values()]
        inputs += [*paths.states(2021).values(), *paths.steps(2021).values()]
    # ... and write the same outputs with the same options, fed from the outputs on disk
    flux_layers = [v for v in interval.values() if v.suffix == ".tif"]
    groups = [list(paths.stocks(2020).values()), list(paths.stocks(2021).values()), flux_layers]
    if stateful:
        groups += [list(paths.states(2020).values()), list(paths.states(2021).values())]
        groups += [list(paths.steps(2020).values()), list(paths.steps(2021).values())]
    floor_io = io_floor(inputs, groups, grid, work / "floor", threads)
    phase_floors: dict[str, tuple[float, float]] = {}  # phase: (floor wall s, floor CPU s)
    if per_phase and stateful:
        # each phase's own floor: what it reads, what it writes
        roles = [*extra.values()]
        lc = {y: work / f"lc_{y}.tif" for y in (2020, 2021)}

        def year_layers(y: int) -> list[list[Path]]:  # a stocks phase's: stocks, state, step
            return [list(d(y).values()) for d in (paths.stocks, paths.states, paths.steps)]

        own = {
            "stocks 2020": ([lc[2020], *roles], year_layers(2020)),
            "stocks 2021": (
                [lc[2021], *roles, *paths.states(2020).values(), lc[2020]],
                year_layers(2021),
            ),
            "interval": (
                [lc[2020], lc[2021], *paths.stocks(2020).values(), *paths.stocks(2021).values()]
                + [*paths.states(2021).values(), *paths.steps(2021).values()],
                [flux_layers],
            ),
        }
        for name, (reads, written) in own.items():
            shutil.rmtree(work / "floor", ignore_errors=True)
            f = io_floor(reads, written, grid, work / "floor", threads)
            phase_floors[name] = (f.floor_s, f.cpu_s)
    phases["I/O floor"] = (floor_io.floor_s, floor_io.cpu_s)
    t_read_inputs, t_write = floor_io.read_inputs_s, floor_io.write_outputs_s
    floor = floor_io.floor_s
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "model": model,
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
        "phases": phases,
        "phase_floors": phase_floors,
    }
    if not os.environ.get("SINKMAP_BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", type=int, nargs="+", default=[2048, 5120, 10240])
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", choices=("dynamics", "lookup"), default="dynamics")
    parser.add_argument(
        "--per-phase", action="store_true", help="also each phase's own I/O floor (dynamics)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per size (each a fresh child); with more than one, also their medians",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        _prepare(args.prepare, args.model)
        return
    if args.child:
        print(json.dumps(_child(args.child, args.chunk, args.threads, args.model, args.per_phase)))
        return
    rows = []
    for side in args.sides:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(side),
            "--chunk",
            str(args.chunk),
            "--threads",
            str(args.threads),
            "--model",
            args.model,
        ] + (["--per-phase"] if args.per_phase else [])
        runs = []
        for _ in range(args.repeat):  # the inputs made afresh each time: the child removes them
            prepare = [sys.executable, __file__, "--prepare", str(side), "--model", args.model]
            subprocess.run(prepare, check=True)
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            _report(runs[-1], args.threads)
        if len(runs) > 1:
            _report_medians(runs)
        rows.append(runs)
    if len(rows) > 1:
        rss = [statistics.median(r["peak_rss_mb"] for r in runs) for runs in rows]
        print(
            f"peak RSS, largest / smallest raster: {rss[-1] / rss[0]:.2f} "
            f"for {rows[-1][0]['mpx'] / rows[0][0]['mpx']:.0f}x the pixels (chunk {args.chunk}, "
            f"threads {args.threads}{', medians' if args.repeat > 1 else ''})"
        )


def _report(r: dict[str, Any], threads: int) -> None:
    """One child's figures: the chain against its floor, each phase (against its own floor)."""
    print(
        f"{r['model']}: {r['mpx']:7.1f} Mpx  stocks x2 + interval: {r['pipeline_s']:6.1f} s   I/O floor: {r['floor_s']:6.1f} s "
        f"(read {r['read_inputs_s']:.1f} + write {r['write_outputs_s']:.1f})   ratio {r['ratio']:.2f}   "
        f"peak RSS {r['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    for name, (wall, cpu) in r["phases"].items():
        own = ""
        if name in r["phase_floors"]:
            f_wall, f_cpu = r["phase_floors"][name]
            own = f"   its own floor {f_wall:5.1f} s ({f_cpu:5.1f} CPU s): {wall / f_wall:.2f}"
        print(
            f"    {name:28s} {wall:6.1f} s wall  {cpu:6.1f} CPU s  "
            f"({cpu / wall / threads:4.0%} of {threads} cores){own}",
            flush=True,
        )
    print(f"    CPU, stages / floor: {_cpu_ratio(r):.2f}", flush=True)


def _cpu_ratio(r: dict[str, Any]) -> float:
    cpu = sum(c for name, (_, c) in r["phases"].items() if name != "I/O floor")
    return float(cpu / r["phases"]["I/O floor"][1])


def _report_medians(runs: list[dict[str, Any]]) -> None:
    """The medians of a size's runs: each run's ratio is of its own chain and floor (measured in
    one process, one after the other), so the ratios' median is given, with their range."""

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    print(
        f"  median of {len(runs)} runs: chain {statistics.median(r['pipeline_s'] for r in runs):.1f} s, "
        f"floor {statistics.median(r['floor_s'] for r in runs):.1f} s, ratio "
        f"{spread([r['ratio'] for r in runs])}, CPU ratio {spread([_cpu_ratio(r) for r in runs])}, "
        f"peak RSS {statistics.median(r['peak_rss_mb'] for r in runs):.0f} MB",
        flush=True,
    )
    for name in runs[0]["phase_floors"]:
        ratios = [r["phases"][name][0] / r["phase_floors"][name][0] for r in runs]
        print(f"    {name:28s} / its own floor: {spread(ratios)}", flush=True)


if __name__ == "__main__":
    main()
