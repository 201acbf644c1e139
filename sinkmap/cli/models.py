"""``sinkmap models`` and ``sinkmap calibrate``: the carbon models, and fitting them to plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sinkmap.constants import FORMS_BY_MODEL
from sinkmap.stages import step


def add_cli(sub: Any) -> None:
    p = sub.add_parser("models", help="list the installed carbon models and their parameters")
    p.set_defaults(func=_models)
    _add_calibrate(sub)


def _models(_: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
    from sinkmap.models import available_models

    for name, cls in available_models().items():
        print(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print(f"    inputs: {', '.join(cls.inputs)}")
        if cls.citation:
            print(f"    citation: {cls.citation}")
        for field, info in cls.Params.model_fields.items():
            default = "required" if info.is_required() else f"default {info.default!r}"
            print(f"    {field} ({default}): {info.description or ''}")
    return 0


def _add_calibrate(subparsers: Any) -> argparse.ArgumentParser:
    """The ``calibrate`` subcommand; its handler is :func:`run_calibrate`."""
    p = subparsers.add_parser(
        "calibrate",
        help="fit a model's coefficients to field plots; write a parameter file",
        description="Fit a model's coefficients to field plots (tree lists or plot AGB), "
        "cross-validate them and write a parameter file for model.params.coefficients_file. "
        "See docs/calibration.md.",
    )
    p.add_argument("plots", type=Path, help="plot table (CSV)")
    p.add_argument(
        "--predictor",
        type=Path,
        required=True,
        help="predictor raster (canopy height in m, or the index)",
    )
    p.add_argument("--out", type=Path, required=True, help="parameter file to write (YAML)")
    p.add_argument("--model", default="height_allometry", choices=sorted(FORMS_BY_MODEL))
    p.add_argument("--form", default=None, help="spectral: exponential (default), power or linear")
    p.add_argument("--k", type=int, default=5, help="folds of the cross-validation (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    p.add_argument("--e", type=float, default=None, help="Chave 2014 E for trees without height")
    p.add_argument("--crs", default=None, help="CRS of x,y when the table has no crs column")
    p.add_argument(
        "--aoi", type=Path, default=None, help="polygon file; plots outside are reported"
    )
    p.add_argument("--log", type=Path, default=None, help="also write the log to this file")
    p.set_defaults(func=run_calibrate)
    return p


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``sinkmap calibrate`` and print its JSON summary."""
    from sinkmap.calibrate import calibrate

    with step(args.log, f"calibrate {args.plots}"):
        result = calibrate(
            args.plots,
            args.predictor,
            model=args.model,
            k=args.k,
            seed=args.seed,
            form=args.form,
            e=args.e,
            crs=args.crs,
            aoi=args.aoi,
            out=args.out,
        )
    print(json.dumps({**result.summary(), "out": str(args.out)}, indent=2))
    return 0
