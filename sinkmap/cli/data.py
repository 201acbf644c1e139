"""``sinkmap datasets`` (or ``sources``) and ``sinkmap fetch``: the dataset registry and the inputs."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_cli(sub: Any) -> None:
    for name in ("datasets", "sources"):
        p = sub.add_parser(name, help="list the datasets of a registry: years, licences, citations")
        p.add_argument("registry", nargs="?", default="config/datasets.yaml")
        p.set_defaults(func=_datasets)
    p = sub.add_parser(
        "fetch", help="obtain every input file of a config (--dry-run: only list them)"
    )
    p.add_argument("config", nargs="?", default="config/config.yaml")
    p.add_argument(
        "--dry-run", action="store_true", help="list files, URLs and sizes; fetch nothing"
    )
    p.set_defaults(func=_fetch)


def _datasets(args: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
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


def _fetch(args: argparse.Namespace) -> int:
    """List (``--dry-run``) or obtain every input file a config needs, role by role and year by year."""
    from sinkmap.config import load_config
    from sinkmap.sources import Manifest, get_adapter, get_dataset
    from sinkmap.stages.context import Run
    from sinkmap.stages.inputs import fetch_input

    cfg = load_config(args.config)
    run = Run(cfg)
    registry = run.registry
    bounds = run.aoi.to_crs("EPSG:4326").geometry.bounds
    rows = []
    for role, inp in cfg.inputs.items():
        dataset = get_dataset(registry, inp.dataset)
        for year in cfg.years:
            folder = run.raw_dir(role, year)
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
