"""The ``sinkmap`` command.

sinkmap run [--configfile F] [snakemake args…]   run the workflow (Snakemake) in this folder
sinkmap validate [CONFIG]                        check a config and its inputs, say what to fix
sinkmap schema                                   print the config JSON Schema
sinkmap datasets [CONFIG]                        list the datasets the registry knows
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from sinkmap import __version__
from sinkmap.errors import SinkmapError


def _validate(args: argparse.Namespace) -> int:
    from sinkmap.aoi import grid_for_aoi
    from sinkmap.config import load_config
    from sinkmap.models import get_model
    from sinkmap.pipeline import load_aoi
    from sinkmap.sources import get_dataset, load_registry

    cfg = load_config(args.config)
    registry = load_registry(cfg.datasets)
    for inp in cfg.inputs.values():
        get_dataset(registry, inp.dataset)
    model = get_model(cfg.model.name, cfg.model.params)
    aoi = load_aoi(cfg)
    grid = grid_for_aoi(aoi, crs=cfg.grid.crs, resolution=cfg.grid.resolution, chunk=cfg.grid.chunk)
    print(
        json.dumps(
            {
                "config": str(args.config),
                "aoi": aoi.name,
                "aoi_area_km2": round(aoi.area_km2(cfg.grid.crs), 2),
                "grid": {
                    "crs": grid.crs,
                    "width": grid.width,
                    "height": grid.height,
                    "tiles": len(list(grid.tiles())),
                },
                "years": cfg.years,
                "intervals": [f"{a}-{b}" for a, b in cfg.intervals],
                "model": model.describe(),
                "inputs": {role: inp.dataset for role, inp in cfg.inputs.items()},
                "synthetic": any(registry[i.dataset].synthetic for i in cfg.inputs.values()),
            },
            indent=2,
        )
    )
    return 0


def _schema(_: argparse.Namespace) -> int:
    from sinkmap.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from sinkmap.sources import load_registry

    for name, ds in load_registry(args.registry).items():
        flag = " [synthetic]" if ds.synthetic else ""
        print(
            f"{name}{flag}: {ds.title}\n    adapter={ds.adapter} licence={ds.licence}\n    {ds.citation}"
        )
    return 0


def _models(_: argparse.Namespace) -> int:
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


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    snakefile = Path.cwd() / "Snakefile"
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
    if args.configfile:
        cmd += ["--configfile", args.configfile]
    if not snakefile.exists():
        raise SinkmapError(
            f"no Snakefile in {Path.cwd()}; run `sinkmap run` from the sinkmap checkout"
        )
    return subprocess.call(cmd + rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sinkmap", description="Year-by-year land carbon stocks and sinks."
    )
    parser.add_argument("--version", action="version", version=f"sinkmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the Snakemake workflow (extra arguments go to snakemake)")
    p.add_argument("--configfile", default=None)
    p.add_argument("--cores", default="all")
    p = sub.add_parser("validate", help="validate a config, its AOI, model and datasets")
    p.add_argument("config", nargs="?", default="config/config.yaml")
    sub.add_parser("schema", help="print the configuration JSON Schema")
    sub.add_parser("models", help="list the installed carbon models and their parameters")
    p = sub.add_parser("datasets", help="list the datasets of a registry")
    p.add_argument("registry", nargs="?", default="config/datasets.yaml")
    from sinkmap import calibrate, invest
    from sinkmap.publish import report

    calibrate.add_cli(sub)
    invest.add_cli(sub)
    report.add_cli(sub)
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "run":
            return _run(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if hasattr(args, "func"):
            return int(args.func(args))
        commands = {
            "validate": _validate,
            "schema": _schema,
            "datasets": _datasets,
            "models": _models,
        }
        return commands[args.command](args)
    except SinkmapError as exc:
        print(f"sinkmap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
