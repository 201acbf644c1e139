"""Run the demo's last interval stage once, in this process, into bench/out/profile/ (for a profiler).

    make run                                               # the demo's results/ first
    /usr/bin/time -v .venv/bin/python bench/profile_interval.py          # time and peak RSS
    .venv/bin/python bench/profile_interval.py 2 config/config.yaml again  # the state stepped again
    py-spy record -f raw -o interval.txt -- .venv/bin/python bench/profile_interval.py

The stage and its inputs are the workflow's (``sinkmap.stages.interval.compute_interval`` on the
demo's 2023 and 2024 layers, 2 threads); the outputs go to ``bench/out/profile/`` so that they can
be compared with ``results/sink/2023-2024/``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sinkmap import reuse_freed_memory
from sinkmap.config import load_config
from sinkmap.paths import STOCK_LAYERS
from sinkmap.stages.interval import compute_interval

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    reuse_freed_memory()  # as the job's step() does
    # [threads] [config]: another run's config, e.g. bench/out/demo/config.yaml from that folder
    config = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "config" / "config.yaml"
    cfg = load_config(config)
    paths = cfg.paths
    y0, y1 = cfg.intervals[-1]
    out = REPO / "bench" / "out" / "profile"
    out.mkdir(parents=True, exist_ok=True)
    outputs = paths.interval_outputs(y0, y1, pool_flux=list(STOCK_LAYERS[:-1]), gain_loss=True)
    roles = [r for r in cfg.inputs if r != "land_cover"]
    # as the workflow: the gain-loss of the stocks job's step into y1 when it kept one; with a
    # third argument "again", the state of y0 stepped again (what the interval did before)
    again = len(sys.argv) > 3 and sys.argv[3] == "again"
    step = paths.steps(y1) if not again and paths.step(y1, "net").exists() else None
    t0 = time.perf_counter()
    compute_interval(
        cfg,
        y0,
        y1,
        land_cover=(paths.filtered_land_cover(y0), paths.filtered_land_cover(y1)),
        stocks0=paths.stocks(y0),
        stocks1=paths.stocks(y1),
        grid_path=paths.grid(),
        outputs={k: out / Path(v).name for k, v in outputs.items()},
        states=({} if step else paths.states(y0), paths.states(y1)),
        inputs1={} if step else {r: paths.aligned(r, y1) for r in roles},
        step=step,
        threads=int(sys.argv[1]) if len(sys.argv) > 1 else 2,
    )
    how = "from the kept step" if step else "stepping the state again"
    print(f"interval {y0}-{y1} ({how}): {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
