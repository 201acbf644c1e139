"""Shared helpers of the workflow tests: a tiny AOI, its config, and a Snakemake runner.

The AOI is an irregular polygon of ~4 km² around the county town, so its edges cut through chunks
(the tests use 256-pixel chunks).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import geopandas as gpd
import shapely
import yaml

from sinkmap.cli.workflow import snakemake_command as workflow_command
from sinkmap.stages import jobserver

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE_MAIN = Path(__file__).with_name("snakemake_main.py")
TABLE = REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv"
GROWTH_RATES = REPO / "config" / "growth_rates.csv"
AOI_LONLAT = [
    (109.688, 18.628),
    (109.713, 18.631),
    (109.716, 18.649),
    (109.700, 18.655),
    (109.690, 18.646),
]


def write_aoi(workdir: Path) -> Path:
    """The AOI, and two zones that split it at 109.70 E (the line cuts through pixels)."""
    path = workdir / "aoi.geojson"
    aoi = shapely.Polygon(AOI_LONLAT)
    gpd.GeoDataFrame({"name": ["test AOI"]}, geometry=[aoi], crs="EPSG:4326").to_file(path)
    west = aoi.intersection(shapely.box(109.60, 18.60, 109.70, 18.70))
    east = aoi.intersection(shapely.box(109.70, 18.60, 109.80, 18.70))
    gpd.GeoDataFrame(
        {"code": ["T-W", "T-E"], "name": ["west township", "east township"]},
        geometry=[west, east],
        crs="EPSG:4326",
    ).to_file(workdir / "zones.geojson")
    return path


def account_settings(
    workdir: Path, parameters: dict[str, float] | None = None, **gain_loss: object
) -> dict[str, object]:
    """The tiny runs' account: gain-loss, a small Monte Carlo with a per-pixel SD layer, zones.

    ``parameters``: the Monte Carlo's relative SDs (default: the lookup table's above and soil)."""
    if parameters is None:
        parameters = {"table.above": 0.2, "table.soil": 0.1}
    return {
        "gain_loss": {"growth_rates": str(GROWTH_RATES)} | gain_loss,
        "uncertainty": {
            "draws": 20,
            "parameters": parameters,
            "pixel_sd": True,
        },
        "zones": {"path": str(workdir / "zones.geojson"), "id_field": "code", "name_field": "name"},
    }


STRATA = REPO / "config" / "dynamics" / "strata.csv"


def dynamics_settings(workdir: Path) -> dict[str, object]:
    """The demo's carbon-state model and its inputs (forest type, planting year, ecozone), and the
    account with Monte Carlo parameters it draws by linear parts."""
    account = account_settings(workdir, parameters={"agb_scale": 0.3, "soil_scale": 0.2})
    return {
        "inputs": {
            "land_cover": {"dataset": "demo_worldcover"},
            "biomass": {"dataset": "demo_cci_biomass"},
            "plantation": {"dataset": "demo_forest_management", "year": 2015},
            "planting_year": {"dataset": "demo_planting_year", "year": 2020},
            "ecozone": {"dataset": "demo_gez", "year": 2010},
        },
        "model": {
            "name": "dynamics",
            "params": {
                "strata": str(STRATA),
                "table": str(TABLE),
                "plantation_role": "plantation",
                "planting_year_role": "planting_year",
                "ecozone_role": "ecozone",
            },
        },
        "account": account,
    }


def write_config(workdir: Path, years: list[int], table: Path = TABLE, **extra: object) -> Path:
    cfg = {
        "aoi": {"path": str(workdir / "aoi.geojson"), "name": "test AOI"},
        "years": years,
        "grid": {"crs": "EPSG:32649", "resolution": 10, "chunk": 256},
        "inputs": {
            "land_cover": {"dataset": "demo_worldcover"},
            "biomass": {"dataset": "demo_cci_biomass"},
        },
        "model": {"name": "lookup", "params": {"table": str(table)}},
        "datasets": str(REPO / "config" / "datasets.yaml"),
        "resources_dir": "resources",
        "results_dir": "results",
        "account": account_settings(workdir),
        # the demo's setting: the year before the first warms the change filter up, so the first
        # interval books land-use changes (the demo land cover has every year)
        "change_filter": {"warmup_years": 1},
    } | extra
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def tmpdir_beside(workdir: Path) -> dict[str, str]:
    """``TMPDIR`` for a run a test kills with SIGKILL: a folder beside ``workdir`` (not in it,
    whose leftovers the tests inspect), so that the folders Snakemake makes in the system's
    temporary folder and removes at its exit, which a killed run never reaches, stay among the
    test's own files (pytest prunes them) instead of piling up in /tmp."""
    folder = workdir.with_name(f"{workdir.name}-tmp")
    folder.mkdir(exist_ok=True)
    return {"TMPDIR": str(folder)}


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command that runs the repository's workflow in ``workdir`` with its ``config.yaml``."""
    return workflow_command(
        *args,
        cores=2,
        configfile=workdir / "config.yaml",
        snakefile=REPO / "Snakefile",
        directory=workdir,
    )


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the repository's workflow in ``workdir`` with its ``config.yaml`` on 2 cores."""
    cmd = snakemake_command(workdir, *args)
    full_env = os.environ | {"PYTHONWARNINGS": "ignore"} | (env or {})
    proc = run_snakemake(cmd, env=full_env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


#: What Snakemake imports after its start, at a run's first job: the script's language check
#: (nbformat) and its storage's URI parser (smart_open).
SNAKEMAKE_LATER = ("nbformat", "smart_open")


def run_snakemake(
    cmd: list[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(cmd, capture_output=True, text=True, ...)`` of a ``python -m snakemake``
    command, run by a fork of the job server ``env`` names (the test process's, tests/conftest.py):
    the real Snakemake command line in a process of its own, its streams, folder, environment and
    exit status its own, without the 0.7 CPU s of imports each fresh run pays
    (:mod:`snakemake_main`). In a process of its own when no server is named, or the server
    declines (``env`` changes what a Python reads at its start, such as ``PYTHONPATH`` or
    ``PYTHONHASHSEED``: ``jobserver.run_forked``); a run to be killed as a process group is started
    with ``subprocess.Popen`` by its test. Every fork of one server has the server's hash seed: the
    fault matrix's clean run is also made with a ``PYTHONHASHSEED`` of its own and compared."""
    if cmd[:3] == [sys.executable, "-m", "snakemake"]:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                status = jobserver.run_forked(
                    SNAKEMAKE_MAIN,
                    cmd[3:],
                    cwd=cwd or Path.cwd(),
                    env=env,
                    stdout=out.fileno(),
                    stderr=err.fileno(),
                    timeout=timeout,
                    warm=SNAKEMAKE_LATER,
                )
            except subprocess.TimeoutExpired:
                raise subprocess.TimeoutExpired(cmd, timeout, _text(out), _text(err)) from None
            if status is not None:
                return subprocess.CompletedProcess(cmd, status, _text(out), _text(err))
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def _text(stream: IO[bytes]) -> str:
    """What ``text=True`` makes of a captured stream: the locale's encoding, universal newlines."""
    stream.seek(0)
    return io.TextIOWrapper(stream).read()


#: The stages a cluster test runs (and what they need): a year's stocks and Monte Carlo, an
#: interval's sinks and its gain-loss Monte Carlo, of the years 2020 and 2021.
CLUSTER_STAGES = ("stocks", "uncertainty", "interval", "gain_loss_uncertainty")
#: One output of each job of those stages (a job makes all its outputs).
CLUSTER_TARGETS = (
    "results/2020/carbon_stock_total.tif",
    "results/2021/carbon_stock_total.tif",
    "results/2020/monte_carlo.csv",
    "results/2021/monte_carlo.csv",
    "results/sink/2020-2021/net_flux_co2e.tif",
    "results/sink/2020-2021/monte_carlo_gain_loss.csv",
)


def output_digests(results: Path) -> dict[str, str]:
    """sha256 of every file under ``results`` (by relative path). A CSV with a ``computed_at``
    column (when the row was computed, the one field the output contract lets differ between two
    runs of the same inputs) is hashed without that column; everything else byte for byte."""
    import csv
    import hashlib

    digests = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            if rows and "computed_at" in rows[0]:
                i = rows[0].index("computed_at")
                out = io.StringIO(newline="")
                csv.writer(out, lineterminator="\n").writerows(r[:i] + r[i + 1 :] for r in rows)
                data = out.getvalue().encode("utf-8")
        digests[str(path.relative_to(results))] = hashlib.sha256(data).hexdigest()
    return digests


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the daemons a test started, by PID, the last started first: SIGTERM, then SIGKILL
    after 30 s."""
    for p in reversed(procs):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
