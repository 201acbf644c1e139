"""Benchmark the Monte Carlo stage (IPCC Approach 2) against one deterministic model pass.

    python bench/bench_monte_carlo.py                      # 26 Mpx (Baoting at 10 m), 100 draws
    python bench/bench_monte_carlo.py --side 2048 --draws 50

In a fresh child process (so peak memory is its own):
1. writes one year of synthetic land cover (sinkmap.landscape) on a 10 m UTM grid (not timed);
2. times one deterministic pass: the lookup model over every chunk, pools summed per chunk (the
   work one Monte Carlo draw repeats), ``T1``;
3. times ``sinkmap.stages.uncertainty.run_monte_carlo`` with the demo config's parameter errors (four pool-table
   columns) for ``--draws`` draws, ``TD``, and again with the per-pixel SD layer, ``TD_sd``; the
   lookup model is drawn class by class unless ``--pixelwise`` forces the per-pixel path (the one
   models with more inputs, and per-pixel input errors, take);
4. reports draws per second, the ratio TD / (draws x T1) (what a draw costs over a plain model
   pass) and peak RSS, which should not grow with the number of draws.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "mc"


def _child(side: int, draws: int, threads: int, pixelwise: bool) -> dict[str, float]:
    import dask
    import numpy as np

    from sinkmap.config import load_config
    from sinkmap.grid import Grid
    from sinkmap.io import dask_scheduler, open_on_grid
    from sinkmap.landscape import write_landcover
    from sinkmap.models import get_model
    from sinkmap.stages.uncertainty import run_monte_carlo

    OUT.mkdir(parents=True, exist_ok=True)
    grid = Grid(
        crs="EPSG:32649", resolution=10.0, left=700_000.0, top=2_090_000.0, width=side, height=side
    )
    lc = OUT / f"lc_{side}.tif"
    if not lc.exists():
        write_landcover(lc, grid, 2020)
    grid.to_json(OUT / "grid.json")
    demo = load_config(REPO / "config" / "config.yaml")
    account = demo.account.model_copy(
        update={
            "zones": None,
            "uncertainty": demo.account.uncertainty.model_copy(update={"draws": draws}),
        }
    )
    cfg = demo.model_copy(update={"account": account})
    model = get_model(cfg.model.name, cfg.model.params)

    def _pass(block: np.ndarray) -> float:
        pools = model.pools({"land_cover": block})
        return float(sum(np.nansum(v) for v in pools.values()))

    arr = open_on_grid(lc, grid)
    tasks = [dask.delayed(_pass)(b) for b in arr.to_delayed().ravel()]
    t = time.perf_counter()
    with dask_scheduler(threads):
        dask.compute(*tasks)
    t1 = time.perf_counter() - t

    timings = []
    for sd_out in (None, OUT / "sd.tif"):  # without, then with the per-pixel SD layer
        t = time.perf_counter()
        run_monte_carlo(
            cfg,
            2020,
            aligned={"land_cover": lc},
            grid_path=OUT / "grid.json",
            out=OUT / "mc.csv",
            sd_out=sd_out,
            threads=threads,
            pixelwise=pixelwise,
        )
        timings.append(time.perf_counter() - t)
    td, td_sd = timings
    return {
        "mpx": side * side / 1e6,
        "draws": draws,
        "one_pass_s": t1,
        "mc_s": td,
        "mc_with_sd_s": td_sd,
        "draws_per_s": draws / td,
        "ratio_to_passes": td / (draws * t1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--side", type=int, default=5120)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--pixelwise", action="store_true", help="run the model on every pixel in every draw"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.side, args.draws, args.threads, args.pixelwise)))
        return
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--side",
        str(args.side),
        "--draws",
        str(args.draws),
    ]
    cmd += ["--threads", str(args.threads)] + (["--pixelwise"] if args.pixelwise else [])
    out = (
        subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    )
    r = json.loads(out[-1])
    path = "pixel by pixel" if args.pixelwise else "class by class"
    print(
        f"{path}: {r['mpx']:.1f} Mpx, {r['draws']} draws: one model pass {r['one_pass_s']:.2f} s; "
        f"Monte Carlo {r['mc_s']:.1f} s ({r['draws_per_s']:.2f} draws/s, "
        f"{r['ratio_to_passes']:.2f} x draws x one pass); with the per-pixel SD layer "
        f"{r['mc_with_sd_s']:.1f} s; peak RSS {r['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
