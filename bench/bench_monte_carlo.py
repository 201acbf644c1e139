"""Benchmark the three paths of the Monte Carlo stage (IPCC Approach 2): draws per second.

    python bench/bench_monte_carlo.py                        # all three paths, 26 Mpx (Baoting at 10 m)
    python bench/bench_monte_carlo.py --side 10240           # 105 Mpx
    python bench/bench_monte_carlo.py --path linear          # one path
    python bench/bench_monte_carlo.py --side 1024 --draws 200 --pixel-draws 5   # a quick check

``sinkmap.stages.uncertainty.run_monte_carlo`` takes one of three paths:

- ``class``: class by class, for a model that reads only the land cover. Here model ``lookup``
  with ``config/pools/worldcover_ipcc_tier1.csv`` and four pool-table errors (above and below
  lognormal 30 % in one correlated group, dead matter triangular 0.5-1.5, soil normal 20 % with
  one draw shared by every class); ``--draws`` draws (default 1000).
- ``pixel``: pixel by pixel (the path of per-pixel input errors and of models with more inputs),
  forced with ``pixelwise=True``; the same lookup model and errors, ``--pixel-draws`` draws
  (default 20: a draw costs about a model pass).
- ``linear``: the demo config's model (``dynamics``, the carbon state) and its uncertainty
  settings as they are in config/config.yaml (``agb_scale``, ``soil_scale``, ``table.above``,
  ``table.below``): each tile's sums of ``model.mc_components`` once, the draws applied to the
  sums; ``--draws`` draws.

For each path, in turn:

1. a first child process prepares the inputs on a 10 m UTM grid (not timed, its memory not
   counted): one year (2020) of synthetic land cover (``sinkmap.landscape``) and, for ``linear``,
   the forest type, planting year and ecozone, and the year's carbon state (the 7 state layers)
   from ``sinkmap.stages.stocks.compute_stocks`` (the first year: the state starts there), as
   bench/bench_stages.py does. Files go to ``bench/out/mc/side<N>/`` and are reused by later runs
   at the same side (``--fresh`` writes them again, e.g. after a change to the carbon state);
2. a second, fresh child (so peak memory is its own) times ``T1``, one deterministic pass over
   every chunk, reading included: ``model.pools`` summed per chunk (for ``linear`` with the state
   layers; the ``model.mc_components`` pass, the work the linear path does once, is timed too);
3. times ``run_monte_carlo`` (sensitivity draws included, as in the workflow) without the
   per-pixel SD layer, ``TD``, and with it, ``TD_sd`` (``--no-sd`` skips it);
4. prints one line per path: draws, ``TD``, draws per second (draws / TD), ``TD_sd``, ``T1`` and
   TD / (draws x T1) (a draw's cost in model passes), peak RSS of the child (``ru_maxrss``), and
   the command that reruns that path alone; then, for ``class`` and ``linear``, whether 1,000
   draws ran in under a minute.

Zones: the AOI only (the demo's zones do not overlap the synthetic grid).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "mc"
YEAR = 2020
PATHS = ("class", "pixel", "linear")
POOL_TABLE = REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv"

#: Input roles of the carbon state besides the land cover, and the landscape layer of each (as in
#: bench/bench_stages.py and the demo config's model parameters).
STATE_ROLES = {"plantation": "forest_type", "planting_year": "planting_year", "ecozone": "ecozone"}

#: Parameter errors of the lookup model (class and pixel paths), ``sinkmap.config.ParameterSpec``.
LOOKUP_PARAMETERS: dict[str, Any] = {
    "table.above": {"distribution": "lognormal", "rel_sd": 0.3},
    "table.below": {"distribution": "lognormal", "rel_sd": 0.3},
    "table.dead": {"distribution": "triangular", "rel_range": [0.5, 1.5]},
    "table.soil": {"distribution": "normal", "rel_sd": 0.2, "classes": "shared"},
}
LOOKUP_CORRELATED = {"biomass": ["table.above", "table.below"]}


def _work(side: int) -> Path:
    return OUT / f"side{side}"


def _grid(side: int) -> Any:
    """The benchmark's square grid of ``side`` 10 m cells (UTM 49N), chunks of 2048."""
    from sinkmap.grid import Grid

    return Grid(
        crs="EPSG:32649", resolution=10.0, left=700_000.0, top=2_090_000.0, width=side, height=side
    )


def _config(path: str, side: int, draws: int) -> Any:
    """The demo config, with the lookup model and its errors for ``class``/``pixel``, ``draws``
    draws, the AOI as the only zone and results under the side's working folder."""
    from sinkmap.config import ModelConfig, UncertaintyConfig, load_config

    demo = load_config(REPO / "config" / "config.yaml")
    mc = demo.account.uncertainty
    if path == "linear":
        model = demo.model
        mc = mc.model_copy(update={"draws": draws})
    else:
        model = ModelConfig(name="lookup", params={"table": str(POOL_TABLE)})
        mc = UncertaintyConfig.model_validate(
            mc.model_dump(exclude={"parameters", "correlated"})
            | {"draws": draws, "parameters": LOOKUP_PARAMETERS, "correlated": LOOKUP_CORRELATED}
        )
    account = demo.account.model_copy(update={"zones": None, "uncertainty": mc})
    return demo.model_copy(
        update={"model": model, "account": account, "results_dir": _work(side) / "results"}
    )


def _aligned(path: str, side: int) -> dict[str, Path]:
    """Input role → its layer: the land cover, and for ``linear`` the model's roles and the
    year's state layers (keys ``sinkmap.models.dynamics.STATE_KEYS``)."""
    from sinkmap.models.dynamics import STATE_KEYS
    from sinkmap.paths import Paths

    work = _work(side)
    aligned = {"land_cover": work / f"lc_{YEAR}.tif"}
    if path == "linear":
        aligned |= {role: work / f"{role}.tif" for role in STATE_ROLES}
        paths = Paths(work / "results")
        aligned |= {key: paths.state(YEAR, name) for name, key in STATE_KEYS.items()}
    return aligned


def _prepare(path: str, side: int, threads: int) -> None:
    """Write what ``path`` needs at ``side`` unless a previous run did (each file written under a
    temporary name and renamed, the state marked done once complete)."""
    from sinkmap.landscape import write_layer
    from sinkmap.paths import Paths
    from sinkmap.stages.stocks import compute_stocks

    os.chdir(REPO)  # the demo config's relative paths
    work = _work(side)
    work.mkdir(parents=True, exist_ok=True)
    grid = _grid(side)
    grid.to_json(work / "grid.json")
    layers = {f"lc_{YEAR}": "land_cover"}
    if path == "linear":
        layers |= STATE_ROLES
    for name, layer in layers.items():
        target = work / f"{name}.tif"
        if not target.exists():
            tmp = work / f"{name}.partial.tif"
            write_layer(tmp, grid, YEAR, layer)
            tmp.replace(target)
    done = work / f"state_{YEAR}.done"
    if path == "linear" and not done.exists():
        cfg = _config(path, side, 1)
        compute_stocks(
            cfg,
            YEAR,
            {"land_cover": work / f"lc_{YEAR}.tif"}
            | {role: work / f"{role}.tif" for role in STATE_ROLES},
            work / "grid.json",
            outputs=Paths(work / "results").year_outputs(YEAR, stateful=True),
            threads=threads,
        )
        done.touch()


def _child(path: str, side: int, draws: int, threads: int, with_sd: bool) -> dict[str, Any]:
    import dask
    import numpy as np

    from sinkmap.account.montecarlo import mc_parameters
    from sinkmap.constants import POOLS
    from sinkmap.io import compute, open_on_grid
    from sinkmap.stages.context import Run, tile_blocks
    from sinkmap.stages.uncertainty import mc_path, run_monte_carlo

    os.chdir(REPO)
    work = _work(side)
    grid = _grid(side)
    cfg = _config(path, side, draws)
    model = Run(cfg).model
    aligned = _aligned(path, side)
    if path == "linear":  # the stage's own choice of path, so the bench times what runs
        mc = cfg.account.uncertainty
        drawn = mc_parameters(model, mc.parameters, mc.correlated)
        if mc_path(model, drawn, mc) != "linear":
            raise SystemExit(
                f"the demo config's model {model.name} with parameters {sorted(drawn)} does not "
                "take the linear path"
            )
    arrays = {role: open_on_grid(p, grid) for role, p in aligned.items()}

    def _pools(blocks: dict[str, np.ndarray]) -> float:
        pools = model.pools({k: np.asarray(v) for k, v in blocks.items()})
        return float(sum(np.nansum(pools[p], dtype="float64") for p in POOLS))

    def _components(blocks: dict[str, np.ndarray]) -> float:
        parts = model.mc_components({k: np.asarray(v) for k, v in blocks.items()})
        return float(
            sum(np.nansum(a, dtype="float64") for ps, _ in parts.values() for a in ps.values())
        )

    def _one_pass(fn: Any) -> float:
        tasks = [dask.delayed(fn)(blocks) for blocks in tile_blocks(arrays)]
        t = time.perf_counter()
        compute(tasks, threads)
        return time.perf_counter() - t

    t1 = _one_pass(_pools)
    t1_components = _one_pass(_components) if path == "linear" else None

    timings = []
    for sd_out in (None, work / f"mc_{path}_sd.tif")[: 2 if with_sd else 1]:
        sens_out = work / f"mc_{path}_sensitivity.csv"
        t = time.perf_counter()
        table = run_monte_carlo(
            cfg,
            YEAR,
            aligned=aligned,
            grid_path=work / "grid.json",
            out=work / f"mc_{path}.csv",
            sensitivity_out=sens_out,
            sd_out=sd_out,
            threads=threads,
            pixelwise={"class": False, "pixel": True, "linear": None}[path],
        )
        timings.append(time.perf_counter() - t)
        assert len(table) == draws * (len(POOLS) + 1), len(table)  # one zone: the AOI
        # the class and linear paths write sensitivity draws, the pixel path none
        sens_rows = sum(1 for _ in sens_out.open()) - 1
        assert (sens_rows > 0) == (path != "pixel"), (path, sens_rows)
    td = timings[0]
    return {
        "path": path,
        "mpx": side * side / 1e6,
        "draws": draws,
        "one_pass_s": t1,
        "components_pass_s": t1_components,
        "mc_s": td,
        "mc_with_sd_s": timings[1] if with_sd else None,
        "draws_per_s": draws / td,
        "ratio_to_passes": td / (draws * t1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(cmd: list[str]) -> str:
    """A child's stdout; its stderr and a non-zero exit passed on."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}")
    return proc.stdout


def _minute(r: dict[str, Any]) -> str:
    """Whether 1,000 draws ran in under a minute (measured only with at least 1,000 draws)."""
    if r["draws"] < 1000:
        return (
            f"{r['path']}: 1,000 draws in under a minute: not measured ({r['draws']} draws run; "
            "rerun with --draws 1000)"
        )

    def yes(seconds: float) -> str:
        return "yes" if seconds * 1000 / r["draws"] < 60 else "no"

    text = f"{r['path']}: 1,000 draws ran in under a minute: {yes(r['mc_s'])} ({r['mc_s']:.1f} s"
    if r["mc_with_sd_s"] is not None:
        text += f"; with the SD layer {yes(r['mc_with_sd_s'])}, {r['mc_with_sd_s']:.1f} s"
    if r["draws"] > 1000:
        text += f"; for {r['draws']} draws"
    return text + ")"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--path", choices=PATHS, help="one path (default: all three in turn)")
    ap.add_argument("--side", type=int, default=5120, help="grid side in cells (default 5120)")
    ap.add_argument("--draws", type=int, default=1000, help="draws of class and linear")
    ap.add_argument("--pixel-draws", type=int, default=20, help="draws of the pixel path")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sd", action="store_true", help="skip the run with the SD layer")
    ap.add_argument("--fresh", action="store_true", help="write the prepared inputs again")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        _prepare(args.path, args.side, args.threads)
        return
    if args.child:
        draws = args.pixel_draws if args.path == "pixel" else args.draws
        print(json.dumps(_child(args.path, args.side, draws, args.threads, not args.no_sd)))
        return
    if args.fresh:
        shutil.rmtree(_work(args.side), ignore_errors=True)
    python = os.path.relpath(sys.executable, Path.cwd())
    script = os.path.relpath(__file__, Path.cwd())
    results = []
    for path in [args.path] if args.path else PATHS:
        common = ["--path", path, "--side", str(args.side), "--threads", str(args.threads)]
        _run([sys.executable, __file__, "--prepare", *common])
        draws = ["--pixel-draws", str(args.pixel_draws)] if path == "pixel" else []
        draws = draws or ["--draws", str(args.draws)]
        opts = [*common, *draws] + (["--no-sd"] if args.no_sd else [])
        r = json.loads(_run([sys.executable, __file__, "--child", *opts]).strip().splitlines()[-1])
        results.append(r)
        sd = "-" if r["mc_with_sd_s"] is None else f"{r['mc_with_sd_s']:.1f} s"
        components = (
            ""
            if r["components_pass_s"] is None
            else f" (components {r['components_pass_s']:.2f} s)"
        )
        print(
            f"{path:<6} {r['mpx']:6.1f} Mpx  {r['draws']:5d} draws  MC {r['mc_s']:7.1f} s  "
            f"{r['draws_per_s']:8.1f} draws/s  with SD {sd:>9}  "
            f"one pass {r['one_pass_s']:.2f} s{components} "
            f"(MC = {r['ratio_to_passes']:.3f} x draws x one pass)  "
            f"peak RSS {r['peak_rss_mb']:5.0f} MB  $ {shlex.join([python, script, *opts])}",
            flush=True,
        )
    for r in results:
        if r["path"] != "pixel":
            print(_minute(r))


if __name__ == "__main__":
    main()
