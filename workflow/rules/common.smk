# Configuration (validated before the DAG is built), paths and input functions.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from sinkmap.config import load_config
from sinkmap.constants import POOLS
from sinkmap.errors import SinkmapError
from sinkmap.paths import GAIN_LOSS_PARTS
from sinkmap.sources import get_dataset
from sinkmap.stages.context import validate_run

try:
    CFG = load_config(dict(config))
    RUN = validate_run(CFG)
except SinkmapError as _exc:
    raise WorkflowError(f"configuration error:\n{_exc}") from None
REGISTRY = RUN.registry
MODEL = RUN.model

RESULTS = str(CFG.results_dir)
SYNTHETIC = RUN.synthetic
RESOURCES = str(CFG.resources_dir)
YEARS = CFG.years
INTERVALS = CFG.intervals
POOL_NAMES = [*POOLS, "total"]
POOL_FLUX = list(POOLS) if CFG.account.pool_flux_layers else []
GAIN_LOSS_FILES = [RUN.paths.gain_loss(0, 1, k).name for k in GAIN_LOSS_PARTS]
#: What the tallies' rows depend on besides their input files: the zones and the AOI's name.
ZONES_PARAMS = {
    "zones": CFG.account.zones.model_dump(mode="json") if CFG.account.zones else None,
    "aoi_name": CFG.aoi.name,
}


def model_files(wildcards=None):
    """The model's parameter files (pool tables, ...): inputs, so editing one reruns its jobs."""
    return {
        f"model_{key}": str(value)
        for key, value in CFG.model.params.items()
        if isinstance(value, str) and Path(value).is_file()
    }
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
    return f"{RUN.raw_dir(wildcards.role, int(wildcards.year))}/manifest.json"


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
    """Any two configured years, earlier first: consecutive ones are built by default, others on
    request (e.g. ``snakemake results/sink/2020-2024/net_flux_co2e.tif``)."""
    y0, y1 = int(wildcards.y0), int(wildcards.y1)
    if y0 not in YEARS or y1 not in YEARS or y0 >= y1:
        raise WorkflowError(
            f"{y0}-{y1} is not an interval of two configured years {YEARS}, earlier first; "
            "request results/sink/<year>-<later year>/ for years listed in the config"
        )
    return []


def pool_stock_inputs(wildcards):
    """Per-pool stocks of both years, for the per-pool flux layers of the sink rule."""
    out = {}
    for p in POOL_FLUX:
        out[f"pool0_{p}"] = f"{RESULTS}/{wildcards.y0}/carbon_stock_{p}.tif"
        out[f"pool1_{p}"] = f"{RESULTS}/{wildcards.y1}/carbon_stock_{p}.tif"
    return out


def gain_loss_inputs(wildcards):
    """Optional forest-loss-year and forest-state layers of the gain-loss rule."""
    gl = CFG.account.gain_loss
    out = {}
    if gl.loss_role:
        out["loss_year"] = aligned(gl.loss_role, wildcards.y1)
    if gl.state_role:
        out["state"] = aligned(gl.state_role, wildcards.y0)
    return out


def gain_loss_layers_for(wildcards):
    if not CFG.account.gain_loss.enabled:
        return {}
    base = f"{RESULTS}/sink/{wildcards.y0}-{wildcards.y1}"
    return {
        "gl_removals": f"{base}/gain_loss_removals_co2e.tif",
        "gl_emissions": f"{base}/gain_loss_emissions_co2e.tif",
    }


def zones_input(wildcards):
    return {"zones": str(CFG.account.zones.path)} if CFG.account.zones else {}


def mc_roles():
    """Input roles the Monte Carlo reads: the model's, land cover, and the per-pixel SD roles."""
    mc = CFG.account.uncertainty
    return sorted(set(stock_roles()) | set(mc.input_errors) | set(mc.input_errors.values()))


def interval_tables_for(wildcards):
    """Tables of the interval ending in ``year`` that its GeoPackage carries as layers."""
    y0 = previous_year(wildcards.year)
    if y0 is None:
        return {}
    base = f"{RESULTS}/sink/{y0}-{wildcards.year}"
    return {
        "change_matrix": f"{base}/change_matrix.csv",
        "ipcc_change_matrix": f"{base}/ipcc_change_matrix.csv",
        "ipcc_summary": f"{base}/ipcc_summary.csv",
    }


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
        out += [f"{RESULTS}/sink/{y0}-{y1}/net_flux_co2e_{p}.tif" for p in POOL_FLUX]
        out.append(f"{RESULTS}/sink/{y0}-{y1}/ipcc_summary.csv")
        if CFG.account.gain_loss.enabled:
            out += [f"{RESULTS}/sink/{y0}-{y1}/{name}" for name in GAIN_LOSS_FILES]
    if CFG.account.uncertainty.pixel_sd and CFG.account.uncertainty.enabled:
        out += [f"{RESULTS}/{year}/carbon_stock_total_sd.tif" for year in YEARS]
    out.append(f"{RESULTS}/carbon_account.parquet")
    return out
