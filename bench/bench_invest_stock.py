"""`sinkmap stock` against InVEST Carbon 3.20 and against the I/O floor, whole processes, one run.

    python bench/bench_invest.py --setup                        # once: bench/.venv-invest
    python bench/bench_invest_stock.py --side 12000 --repeat 3  # 144 Mpx, DEFLATE
    python bench/bench_invest_stock.py --side 12000 --repeat 3 --compress ZSTD

The target of issue 14: at >= 100 Mpx, ``sinkmap stock`` >= 10x faster than InVEST for the same
five layers (the four pools and the total, float32, Mg C/ha), whole process, and <= 1.3x the I/O
floor of writing those layers with the same options.

Input: a synthetic land-cover raster of ``--side`` x ``--side`` pixels (``sinkmap.landscape``, as
``bench_invest.py`` makes its synthetic years; EPSG:32649, 10 m; written once to
``bench/out/invest_stock/``, not timed) and the pool table ``config/pools/worldcover_ipcc_tier1.csv``.
The input is read once first (warm page cache). Then, ``--repeat`` times, alternating:

- **sinkmap**: the command as a user runs it, ``python -m sinkmap.cli stock --lulc ... --pools ...
  --out ... --threads N`` (plain tiled GeoTIFFs, 512-px blocks, the codec ``SINKMAP_COMPRESS``
  names), timed from its start to its exit;
- **InVEST**: a fresh Python in ``bench/.venv-invest`` that imports ``natcap.invest`` and runs
  ``carbon.execute`` without sequestration (its four pool rasters and the total: LZW, 256-px blocks,
  pygeoprocessing's defaults), timed from its start to its exit (its own call is reported too);
- **the I/O floor**, in a fresh process: the land cover read once chunk by chunk, plus the five
  layers written once with the same options, fed from sinkmap's outputs on disk (the time to
  read those back is measured and subtracted), as ``iofloor.py`` does for the other benchmarks;
  written both through ``sinkmap.io.write_layers`` (Dask) and ``sinkmap.io.write_tiles`` (the
  writer ``sinkmap stock`` uses), and the faster of the two is the floor. Its Python start-up is not in it: the start-up of
  ``python -c "import sinkmap.invest"`` is reported beside it.

Medians over the repeats. The totals (Mg C) of sinkmap's summary and InVEST's
(``raster_values_summary.csv`` and InVEST's own summary of its pool rasters) and the five rasters
pixel by pixel are compared. Writes ``bench/out/invest_stock/bench_invest_stock.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_invest import (  # noqa: E402
    INVEST_CHILD,
    POOLS,
    POOLS_CSV,
    REPO,
    _compare_pixels,
    _synthetic,
    _warm,
    invest_python,
)

OUT = REPO / "bench" / "out" / "invest_stock"
LAYERS = ["c_storage_bas.tif", *[f"intermediate_outputs/c_{p}_bas.tif" for p in POOLS]]


def _floor_child(lulc: str, outputs: str, floor_dir: str, threads: int, chunk: int) -> None:
    from iofloor import read_seconds, write_seconds

    from sinkmap.invest import open_lulc

    grid = open_lulc(lulc, chunk=chunk).grid
    layers = [Path(outputs) / name for name in LAYERS]
    shutil.rmtree(floor_dir, ignore_errors=True)
    read_in = read_seconds([Path(lulc)], grid, threads)
    read_back = read_seconds(layers, grid, threads)
    # both of sinkmap.io's writers, fed from the files; the floor is the faster
    dask_write = write_seconds([layers], grid, Path(floor_dir), threads, cog=False) - read_back
    shutil.rmtree(floor_dir, ignore_errors=True)
    tiles_write = (
        write_seconds([layers], grid, Path(floor_dir), threads, cog=False, tiles=True) - read_back
    )
    print(
        json.dumps(
            {
                "read_s": read_in,
                "write_s": min(dask_write, tiles_write),
                "write_layers_s": dask_write,
                "write_tiles_s": tiles_write,
                "read_back_s": read_back,
            }
        )
    )


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--side", type=int, default=12000, help="raster side in pixels")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--compress", default="DEFLATE", help="SINKMAP_COMPRESS for sinkmap")
    parser.add_argument("--invest-workers", type=int, default=-1, help="InVEST n_workers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        _floor_child(*args.floor_child, threads=args.threads, chunk=args.chunk)
        return
    python = invest_python()

    OUT.mkdir(parents=True, exist_ok=True)
    lulc = OUT / f"lulc_{args.side}.tif"
    if not lulc.exists():
        _synthetic(lulc, 2020, width=args.side, height=args.side)
    _warm([lulc])
    ours, theirs, floor_dir = OUT / "sinkmap", OUT / "invest", OUT / "floor"
    env = os.environ | {"SINKMAP_COMPRESS": args.compress}
    sinkmap_cmd = [sys.executable, "-m", "sinkmap.cli", "stock", "--lulc", str(lulc)]
    sinkmap_cmd += ["--pools", str(POOLS_CSV), "--out", str(ours), "--threads", str(args.threads)]
    sinkmap_cmd += ["--chunk", str(args.chunk)]
    invest_args = {
        "workspace": str(theirs),
        "bas": str(lulc),
        "pools": str(POOLS_CSV),
        "n_workers": args.invest_workers,
    }
    runs: dict[str, list[float]] = {
        "sinkmap": [],
        "invest": [],
        "invest_call": [],
        "floor": [],
        "floor_read": [],
        "floor_write": [],
        "floor_write_layers": [],
        "floor_write_tiles": [],
        "startup": [],
    }
    summary: dict = {}
    invest: dict = {}
    for _ in range(args.repeat):
        shutil.rmtree(ours, ignore_errors=True)
        seconds, out = _timed(sinkmap_cmd, env)
        runs["sinkmap"].append(seconds)
        summary = json.loads(out)
        seconds, out = _timed([str(python), "-c", INVEST_CHILD, json.dumps(invest_args)], env)
        runs["invest"].append(seconds)
        invest = json.loads(out.strip().splitlines()[-1])
        runs["invest_call"].append(invest["seconds"])
        floor_cmd = [
            sys.executable,
            __file__,
            "--floor-child",
            str(lulc),
            str(ours),
            str(floor_dir),
        ]
        floor_cmd += ["--threads", str(args.threads), "--chunk", str(args.chunk)]
        _, out = _timed(floor_cmd, env)
        floor = json.loads(out.strip().splitlines()[-1])
        runs["floor"].append(floor["read_s"] + floor["write_s"])
        runs["floor_read"].append(floor["read_s"])
        runs["floor_write"].append(floor["write_s"])
        runs["floor_write_layers"].append(floor["write_layers_s"])
        runs["floor_write_tiles"].append(floor["write_tiles_s"])
        seconds, _ = _timed([sys.executable, "-c", "import sinkmap.invest"], env)
        runs["startup"].append(seconds)
    med = {k: statistics.median(v) for k, v in runs.items()}

    ref = invest["totals"]
    ours_totals = summary["baseline"]["totals_mg_c"]
    pairs = {"c_storage_bas.tif": ours_totals["total"]}
    pairs |= {f"c_{p}_bas.tif": ours_totals[p] for p in POOLS}
    rel = {n: abs(v - ref[n]) / abs(ref[n]) if ref[n] else abs(v) for n, v in pairs.items()}
    pixels = {n: _compare_pixels(ours / n, theirs / n) for n in LAYERS}
    mpx = args.side * args.side / 1e6
    size = {
        "sinkmap_mb": sum((ours / n).stat().st_size for n in LAYERS) / 2**20,
        "invest_mb": sum((theirs / n).stat().st_size for n in LAYERS) / 2**20,
    }
    print(f"input: {lulc.name}, {args.side} x {args.side} = {mpx:.1f} Mpx; {args.repeat} repeats")
    print(
        "runs (s): "
        + "; ".join(f"{k} " + ", ".join(f"{x:.1f}" for x in v) for k, v in runs.items())
    )
    print(f"{'raster':22s} {'sinkmap (Mg C)':>22s} {'InVEST (Mg C)':>22s} {'rel diff':>9s}")
    for n, v in pairs.items():
        print(f"{n:22s} {v:22.3f} {ref[n]:22.3f} {rel[n]:9.1e}")
    print(
        "pixels, 5 rasters: max |difference| "
        f"{max(p['max_abs_diff'] for p in pixels.values()):g} Mg C/ha, "
        f"{sum(p['mask_mismatch'] for p in pixels.values())} pixels valid in one output only"
    )
    print(
        f"whole process, median: sinkmap {med['sinkmap']:.1f} s ({args.compress}, "
        f"{args.threads} threads, {size['sinkmap_mb']:,.0f} MB) | InVEST {invest['version']} "
        f"{med['invest']:.1f} s (its call {med['invest_call']:.1f} s; LZW, "
        f"{size['invest_mb']:,.0f} MB) | InVEST / sinkmap = {med['invest'] / med['sinkmap']:.2f}"
    )
    print(
        f"I/O floor, median: {med['floor']:.1f} s (read {med['floor_read']:.1f} + write "
        f"{med['floor_write']:.1f}: the faster of write_layers {med['floor_write_layers']:.1f} and "
        f"write_tiles {med['floor_write_tiles']:.1f}) | sinkmap / floor = {med['sinkmap'] / med['floor']:.2f}; "
        f"without the start-up ({med['startup']:.1f} s, `import sinkmap.invest`): "
        f"{(med['sinkmap'] - med['startup']) / med['floor']:.2f}"
    )
    record = {
        "side": args.side,
        "mpx": mpx,
        "compress": args.compress,
        "threads": args.threads,
        "chunk": args.chunk,
        "invest_version": invest["version"],
        "runs_s": runs,
        "median_s": med,
        "ratio_invest_over_sinkmap": med["invest"] / med["sinkmap"],
        "ratio_sinkmap_over_floor": med["sinkmap"] / med["floor"],
        "totals": {
            n: {"sinkmap": v, "invest": ref[n], "rel_diff": rel[n]} for n, v in pairs.items()
        },
        "pixels": pixels,
        "size_mb": size,
    }
    (OUT / "bench_invest_stock.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
