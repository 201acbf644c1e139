# Configuration (validated before the DAG is built), paths and input functions.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from sinkmap.config import load_config
from sinkmap.errors import ConfigError, SinkmapError
from sinkmap.models import get_model
from sinkmap.pipeline import (
    raw_dir,
    sink_dir,
    stock_path,
    year_dir,
)
from sinkmap.sources import get_dataset, load_registry

try:
    CFG = load_config(dict(config))
    REGISTRY = load_registry(CFG.datasets)
    for _role, _inp in CFG.inputs.items():
        get_dataset(REGISTRY, _inp.dataset)
    MODEL = get_model(CFG.model.name, CFG.model.params)
    _missing = [r for r in MODEL.inputs if r not in CFG.inputs]
    if _missing:
        raise ConfigError(
            f"model {MODEL.name!r} reads input role(s) {_missing}; add them under inputs: in the config"
        )
except SinkmapError as _exc:
    raise WorkflowError(f"configuration error:\n{_exc}") from None

RESULTS = str(CFG.results_dir)
SYNTHETIC = any(REGISTRY[inp.dataset].synthetic for inp in CFG.inputs.values())
RESOURCES = str(CFG.resources_dir)
YEARS = CFG.years
INTERVALS = CFG.intervals
POOL_NAMES = ["above", "below", "dead", "soil", "total"]
LOGS = "logs"


wildcard_constraints:
    year=r"\d{4}",
    y0=r"\d{4}",
    y1=r"\d{4}",
    role="|".join(CFG.inputs),
    dataset=r"[A-Za-z0-9_\-]+",


def previous_year(year):
    """The configured year before ``year``, or None for the first."""
    year = int(year)
    earlier = [y for y in YEARS if y < year]
    return max(earlier) if earlier else None


def manifest_for(wildcards):
    return f"{raw_dir(CFG, wildcards.role, int(wildcards.year))}/manifest.json"


def stock_roles():
    """Roles the stocks step reads: the model's, and land cover for the per-class summaries."""
    return sorted(set(MODEL.inputs) | {"land_cover"})


def aligned(role, year):
    return f"{RESULTS}/{year}/{role}.tif"


def sink_summary_for(wildcards):
    y0 = previous_year(wildcards.year)
    if y0 is None:
        return []
    return f"{RESULTS}/sink/{y0}-{wildcards.year}/class_summary.csv"


def check_interval(wildcards):
    y0, y1 = int(wildcards.y0), int(wildcards.y1)
    if (y0, y1) not in INTERVALS:
        raise WorkflowError(
            f"{y0}-{y1} is not an interval of consecutive configured years {YEARS}; "
            "request results/sink/<year>-<next year>/ for years listed in the config"
        )
    return []


def all_outputs():
    return [
        *core_outputs(),
        f"{RESULTS}/carbon_account.json",
        f"{RESULTS}/stac/catalog.json",
        f"{RESULTS}/report.html",
    ]


def core_outputs():
    """The layers and tables of every year and interval, and the account."""
    out = [f"{RESULTS}/carbon_account.csv", f"{RESULTS}/grid.json"]
    for year in YEARS:
        out += [f"{RESULTS}/{year}/carbon_stock_{p}.tif" for p in POOL_NAMES]
        out += [aligned(role, year) for role in CFG.inputs]
        out.append(f"{RESULTS}/{year}/sinkmap_{year}.gpkg")
    for y0, y1 in INTERVALS:
        out.append(f"{RESULTS}/sink/{y0}-{y1}/net_flux_co2e.tif")
    return out
