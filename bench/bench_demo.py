"""The demo run as ``make run`` does it, measured per job: the target of ``make run`` (issue 14).

    python bench/bench_demo.py                 # the whole demo from scratch (2 cores)
    python bench/bench_demo.py --added-year    # the demo without its last year, then that year

The config is ``config/config.yaml`` as it is (the SYNTHETIC Baoting demo: five years, the
carbon-state model, the change filter and its warm-up year, gain-loss, the Monte Carlo, every
published output), with the repository's files named by absolute paths, run by the real workflow
in its own folder ``bench/out/demo/`` (git-ignored; removed first, so every job runs):
``snakemake --snakefile <repo>/Snakefile --directory bench/out/demo --configfile
bench/out/demo/config.yaml --cores N``. Measured as ``bench_hainan.py`` measures its run (the
same code): wall time, every job's span in Snakemake's log and its stage's span in its own log,
per rule the sums, the peak RSS of the process tree and of each rule's largest process, and the
CPU time other processes of the machine used meanwhile (a busy machine's run is an upper bound).

``--added-year``: the config without its last year first (measured too), then the whole config:
the second run is what adding a year costs (only that year's jobs, and the ones that read every
year: the account, the catalog, the report).

Writes ``bench/out/demo/bench_demo.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hainan import REPO, _absolute, _git_commit, report, run_workflow  # noqa: E402

OUT = REPO / "bench" / "out" / "demo"


def write_config(years: list[int] | None = None) -> Path:
    """The demo config with absolute paths (and ``years`` if given) in ``bench/out/demo``."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    if years is not None:
        cfg["years"] = years
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "config.yaml"
    path.write_text(yaml.safe_dump(_absolute(cfg), sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--added-year", action="store_true", help="all years but the last, then it")
    parser.add_argument(
        "--set-threads",
        nargs="+",
        metavar="RULE=N",
        default=[],
        help="threads per rule instead of the Snakefile's (snakemake --set-threads)",
    )
    args = parser.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    years = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["years"]
    result: dict[str, Any] = {
        "commit": _git_commit(),
        "cores": args.cores,
        "set_threads": args.set_threads,
        "machine": {
            "cpus": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": sys.version.split()[0],
        },
        "runs": [],
    }
    steps = [years[:-1], years] if args.added_year else [years]
    for step in steps:
        config = write_config(step)
        extra = ["--set-threads", *args.set_threads] if args.set_threads else []
        run = run_workflow(config, args.cores, None, OUT, extra)
        run.pop("samples", None)
        result["runs"].append({"years": step, "run": run})
        print(f"\n== years {step[0]}-{step[-1]}", flush=True)
        report({"years": step, "run": run})
        if run["returncode"] != 0:
            sys.exit(f"the run failed: see {OUT / 'snakemake.out'} and the job logs under {OUT}")
    (OUT / "bench_demo.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwritten: {OUT / 'bench_demo.json'}")


if __name__ == "__main__":
    main()
