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
        years = (
            ", ".join(map(str, ds.years)) if ds.years else "any" if ds.synthetic else "see provider"
        )
        print(f"{name}{flag}: {ds.title}")
        print(f"    adapter={ds.adapter} version={ds.version} years={years}")
        print(f"    licence: {ds.licence}\n    citation: {ds.citation}")
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


def _fetch(args: argparse.Namespace) -> int:
    """List (``--dry-run``) or obtain every input file a config needs, role by role and year by year."""
    from sinkmap.config import load_config
    from sinkmap.pipeline import fetch_input, load_aoi, raw_dir
    from sinkmap.sources import Manifest, get_adapter, get_dataset, load_registry

    cfg = load_config(args.config)
    registry = load_registry(cfg.datasets)
    bounds = load_aoi(cfg).to_crs("EPSG:4326").geometry.bounds
    rows = []
    for role, inp in cfg.inputs.items():
        dataset = get_dataset(registry, inp.dataset)
        for year in cfg.years:
            folder = raw_dir(cfg, role, year)
            manifest = folder / "manifest.json"
            if not args.dry_run:
                fetch_input(
                    cfg, dataset.name, dataset.version_for(year, inp.version), year, manifest
                )
            known = (
                {f.path: f.size for f in Manifest.read(manifest).files} if manifest.exists() else {}
            )
            adapter = get_adapter(dataset)
            if hasattr(adapter, "plan"):  # http_tiles, stac, sentinel2_composite
                planned = [
                    (p.path.name, p.url)
                    for p in adapter.plan(dataset, year, bounds, folder, inp.version)
                ]
            else:
                names = dataset.filenames(year, bounds, inp.version)
                planned = [
                    (n, f"{dataset.adapter}:{dataset.name}") for ns in names.values() for n in ns
                ]
            for name, url in planned:
                size = known.get(name)
                rows.append(
                    {
                        "role": role,
                        "year": year,
                        "dataset": dataset.name,
                        "file": str(folder / name),
                        "url": url,
                        "status": "present" if size is not None else "to fetch",
                        "size_bytes": size,
                    }
                )
    print(json.dumps(rows, indent=2))
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
    for name in ("datasets", "sources"):
        p = sub.add_parser(name, help="list the datasets of a registry: years, licences, citations")
        p.add_argument("registry", nargs="?", default="config/datasets.yaml")
    p = sub.add_parser(
        "fetch", help="obtain every input file of a config (--dry-run: only list them)"
    )
    p.add_argument("config", nargs="?", default="config/config.yaml")
    p.add_argument(
        "--dry-run", action="store_true", help="list files, URLs and sizes; fetch nothing"
    )
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
            "sources": _datasets,
            "fetch": _fetch,
            "models": _models,
        }
        return commands[args.command](args)
    except SinkmapError as exc:
        print(f"sinkmap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
