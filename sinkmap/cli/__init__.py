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

- :mod:`sinkmap.cli.workflow` — run, validate, schema
- :mod:`sinkmap.cli.data` — datasets/sources, fetch
- :mod:`sinkmap.cli.models` — models, calibrate
- :mod:`sinkmap.cli.invest` — stock, change
- :mod:`sinkmap.cli.report` — report
- :mod:`sinkmap.cli.accuracy` — sample, assess
"""

from __future__ import annotations

import argparse
import sys

from sinkmap import __version__
from sinkmap.cli import accuracy, data, invest, models, report, workflow
from sinkmap.errors import SinkmapError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sinkmap", description="Year-by-year land carbon stocks and sinks."
    )
    parser.add_argument("--version", action="version", version=f"sinkmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for family in (workflow, data, models, invest, report, accuracy):
        family.add_cli(sub)
    args, rest = parser.parse_known_args(argv)
    try:
        if getattr(args, "takes_rest", False):
            return int(args.func(args, rest))
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return int(args.func(args))
    except SinkmapError as exc:
        print(f"sinkmap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
