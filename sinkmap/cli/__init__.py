"""The ``sinkmap`` command: one module per command family.

sinkmap run [--configfile F] [snakemake args…]   run the workflow (Snakemake) in this folder
sinkmap validate [CONFIG]                        check a config and its inputs, say what to fix
sinkmap schema                                   print the config JSON Schema
sinkmap datasets|sources [REGISTRY]              list the datasets the registry knows
sinkmap fetch [CONFIG] [--dry-run]               obtain (or list) every input file of a config
sinkmap models                                   list the carbon models and their parameters
sinkmap calibrate PLOTS --predictor R --out F    fit a model's coefficients to field plots
sinkmap stock | change                           InVEST-style storage and change of LULC rasters
sinkmap report                                   the HTML report of a results folder
sinkmap sample Y0-Y1 | assess Y0-Y1 LABELS       reference sample of a change map; its accuracy

``sinkmap --dask SCHEDULER <command>`` computes on a Dask cluster (:mod:`sinkmap.cluster`).

- :mod:`sinkmap.cli.workflow` — run, validate, schema
- :mod:`sinkmap.cli.data` — datasets/sources, fetch
- :mod:`sinkmap.cli.models` — models, calibrate
- :mod:`sinkmap.cli.invest` — stock, change
- :mod:`sinkmap.cli.report` — report
- :mod:`sinkmap.cli.accuracy` — sample, assess
"""

from __future__ import annotations

import argparse
import os
import sys

from sinkmap import __version__, reuse_freed_memory
from sinkmap.cli import accuracy, data, invest, models, report, workflow
from sinkmap.errors import SinkmapError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sinkmap", description="Year-by-year land carbon stocks and sinks."
    )
    parser.add_argument("--version", action="version", version=f"sinkmap {__version__}")
    parser.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="where to compute: threads, local (a cluster of worker processes) or a Dask "
        "scheduler's address (tcp://host:8786); for this command and the workflow jobs it starts "
        "(sets SINKMAP_DASK_SCHEDULER; default: that variable, else the config's dask key)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for family in (workflow, data, models, invest, report, accuracy):
        family.add_cli(sub)
    args, rest = parser.parse_known_args(argv)
    reuse_freed_memory()  # before any thread starts (a command computing raster chunks)
    if args.dask:
        os.environ["SINKMAP_DASK_SCHEDULER"] = args.dask  # sinkmap.cluster.ENV_SCHEDULER
    try:
        if getattr(args, "takes_rest", False):
            # sinkmap run: the jobs choose (the variable above, else the config's dask key)
            return int(args.func(args, rest))
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if not os.environ.get("SINKMAP_DASK_SCHEDULER"):
            return int(args.func(args))
        from sinkmap.cluster import dask_cluster  # imports distributed: only when asked for

        with dask_cluster(None):
            return int(args.func(args))
    except SinkmapError as exc:
        print(f"sinkmap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
