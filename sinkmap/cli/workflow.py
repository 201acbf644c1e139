"""``sinkmap run``, ``validate`` and ``schema``: the workflow and its configuration."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkmap.errors import SinkmapError

if TYPE_CHECKING:
    from sinkmap.stages.context import Run


def add_cli(sub: Any) -> None:
    p = sub.add_parser("run", help="run the Snakemake workflow (extra arguments go to snakemake)")
    p.add_argument("--configfile", default=None)
    p.add_argument("--cores", default="all")
    p.set_defaults(func=_run, takes_rest=True)
    p = sub.add_parser("validate", help="validate a config, its AOI, model and datasets")
    p.add_argument("config", nargs="?", default="config/config.yaml")
    p.set_defaults(func=_validate)
    p = sub.add_parser("schema", help="print the configuration JSON Schema")
    p.set_defaults(func=_schema)


def _validate(args: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
    from sinkmap.aoi import check_disjoint
    from sinkmap.config import load_aoi_configs, load_config, read_config_file
    from sinkmap.stages.context import validate_run

    path = Path(args.config)
    configs = load_aoi_configs(read_config_file(path)) if path.exists() else {}
    if not configs:
        run = validate_run(load_config(path))
        print(json.dumps({"config": str(args.config), **_describe(run)}, indent=2))
        return 0
    runs = {name: validate_run(cfg) for name, cfg in configs.items()}
    described = {name: _describe(run) for name, run in runs.items()}
    shared = check_disjoint({name: run.aoi for name, run in runs.items()})
    print(
        json.dumps(
            {
                "config": str(args.config),
                "aois": described,
                "shared_border_ha": {f"{a}/{b}": round(ha, 4) for (a, b), ha in shared.items()},
            },
            indent=2,
        )
    )
    return 0


def _describe(run: Run) -> dict[str, Any]:
    """What ``sinkmap validate`` prints of one AOI's run (checked by :func:`validate_run`)."""
    cfg, model, aoi = run.cfg, run.model, run.aoi
    grid = run.aoi_grid()
    return {
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
        "synthetic": run.synthetic,
        "results": str(cfg.results_dir),
    }


def _schema(_: argparse.Namespace) -> int:
    from sinkmap.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def snakemake_command(
    *args: str,
    cores: int | str = "all",
    configfile: str | Path | None = None,
    snakefile: Path | None = None,
    directory: Path | None = None,
) -> list[str]:
    """The command that runs the workflow with this Python's Snakemake: ``snakefile`` (default:
    the one in the folder it runs in) in ``directory``, with ``configfile``, then ``args``."""
    cmd = [sys.executable, "-m", "snakemake"]
    if snakefile is not None:
        cmd += ["--snakefile", str(snakefile)]
    if directory is not None:
        cmd += ["--directory", str(directory)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return [*cmd, "--cores", str(cores), *args]


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    from sinkmap.config import read_config_file

    snakefile = Path.cwd() / "Snakefile"
    if args.configfile:
        # read by sinkmap first: a YAML error gets its line and fix (Snakemake's own loader says
        # only that the file "is not valid JSON or YAML"); the workflow validates the rest
        read_config_file(Path(args.configfile))
    if not snakefile.exists():
        raise SinkmapError(
            f"no Snakefile in {Path.cwd()}; run `sinkmap run` from the sinkmap checkout"
        )
    return subprocess.call(snakemake_command(*rest, cores=args.cores, configfile=args.configfile))
