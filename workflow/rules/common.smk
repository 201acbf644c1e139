# Configuration (validated before the DAG is built), paths and input functions.
# Every path comes from sinkmap.paths.Paths (P), which the library uses too.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from sinkmap.config import load_config
from sinkmap.contract import YEAR_QUICKLOOKS
from sinkmap.errors import SinkmapError
from sinkmap.paths import GAIN_LOSS_PARTS, STOCK_LAYERS
from sinkmap.sources import get_dataset
from sinkmap.stages.context import validate_run
from sinkmap.stages.jobserver import start as start_job_server
from sinkmap.stages.runlock import clear_stale_locks, record_owner

try:
    CFG = load_config(dict(config))
    # the AOI and its grid are read once, by the main process (each job would read them again)
    RUN = validate_run(CFG, aoi=workflow.is_main_process)
except SinkmapError as _exc:
    raise WorkflowError(f"configuration error:\n{_exc}") from None
P = RUN.paths
# a run killed with kill -9 leaves its locks: cleared when their process is gone (a live run's stay)
clear_stale_locks()


# the run's jobs forked from one process that has their imports (local runs; jobserver.py)
onstart:
    record_owner()
    start_job_server(workflow)


YEARS = CFG.years
INTERVALS = CFG.intervals
GAIN_LOSS = CFG.account.gain_loss
MC = CFG.account.uncertainty
POOL_FLUX = [p for p in STOCK_LAYERS[:-1]] if CFG.account.pool_flux_layers else []
#: What the tallies' rows depend on besides their input files: the zones and the AOI's name.
ZONES_PARAMS = {
    "zones": CFG.account.zones.model_dump(mode="json") if CFG.account.zones else None,
    "aoi_name": CFG.aoi.name,
} | ({"aoi_where": CFG.aoi.where} if CFG.aoi.where else {})
#: A rule param that reruns what depends on the AOI's polygon when aoi.where changes (absent
#: without one, so runs without it keep their params).
AOI_WHERE = {"aoi_where": CFG.aoi.where} if CFG.aoi.where else {}


wildcard_constraints:
    year=r"\d{4}",
    y0=r"\d{4}",
    y1=r"\d{4}",
    role="|".join(CFG.inputs),
    dataset=r"[A-Za-z0-9_\-]+",


STATEFUL = RUN.model.stateful
FILTER = CFG.change_filter
#: The land-cover series the filter runs over: the warm-up years, then the accounted years.
SERIES = FILTER.warmup(YEARS[0]) + YEARS
#: The stocks jobs keep the gain-loss of the state's step, which the intervals read.
KEEP_STEPS = STATEFUL and GAIN_LOSS.enabled
#: The accounted years as a wildcard pattern (rule align makes every role of these years).
ACCOUNTED = "|".join(str(y) for y in YEARS)


def config_label():
    """The config file(s) of the run as the report names them: relative to the working
    directory when inside it, so the same run in another folder writes the same report.
    """
    names = []
    for f in workflow.configfiles:
        path = Path(f).resolve()
        names.append(
            str(path.relative_to(Path.cwd()))
            if path.is_relative_to(Path.cwd())
            else str(f)
        )
    return ", ".join(names) or "(no config file: built-in defaults and --config)"


def earlier_first(base):
    """A rule's priority: ``base``, plus one for each mapped year after the job's (a dataset
    year before the series, e.g. a 2015 forest map, counts as the first). The carbon state steps
    year after year, so the first years' inputs and stocks gate everything after them; the
    stocks chain goes first, then the inputs it waits for (after the grid, which every
    alignment needs), then the rest (bench/README.md, "bench_demo.py")."""

    def priority(wildcards):
        year = int(wildcards.get("year") or wildcards.get("y1") or 0)
        return base + sum(1 for y in SERIES if y > year)

    return priority


#: The accounted years whose stock tally is not on disk when the run starts: the years it
#: computes (more if a changed input or setting reruns finished ones). Counted for a local run
#: only, by its main process: on a cluster each job parses the workflow again, when earlier
#: years are done, and its threads must stay those it was submitted with (SLURM refuses a step
#: that asks for more CPUs than the job holds); a cluster's jobs get their threads from the
#: profile and --set-threads.
NEW_YEARS = (
    [y for y in YEARS if not P.stock_tally(y).exists()]
    if workflow.is_main_process and workflow.local_exec
    else []
)


def _cores():
    """The run's ``--cores``; None without it (a cluster executor)."""
    try:
        return int(workflow.cores)
    except (WorkflowError, TypeError, ValueError):
        return None


def heavy_threads(wildcards):
    """Threads of a heavy job (stocks, interval, Monte Carlo, change filter, assessment): half the
    run's cores (``--cores``), at least one, so that two run side by side, e.g. a year's stocks
    beside the year before's interval or Monte Carlo. A job's serial parts (start-up, publishing,
    tables) leave a core idle that the other job then uses: the demo on 2 cores took 195 s with
    one thread per job against 234 s with both cores per job (bench/README.md, "bench_demo.py").

    All the cores when the run computes one accounted year (:data:`NEW_YEARS`; a year added to a
    finished series): its jobs form one chain (align, filter, stocks, then the interval and the
    Monte Carlo), and a second job has nothing to run beside them. ``--set-threads`` (and the
    SLURM profile) override it; without ``--cores``, 2."""
    cores = _cores()
    if cores is None:
        return 2  # no --cores (a cluster executor): each job asks for 2
    return cores if len(NEW_YEARS) == 1 else max(1, cores // 2)


def align_threads(wildcards):
    """Threads of an accounted year's alignment: one, so that two years align side by side (or
    beside a one-thread fetch), or all the cores when the run computes one accounted year
    (:func:`heavy_threads`)."""
    cores = _cores()
    return cores if cores is not None and len(NEW_YEARS) == 1 else 1


#: The layer of a role the account reads in a year (the filtered land cover when filtering is on).
layer = RUN.layer


def filter_inputs(wildcards):
    """The aligned land cover of the year and of the mapped years before it that persistence
    reads, and the filtered land cover of the year before (none in the first year)."""
    year = int(wildcards.year)
    earlier = [y for y in SERIES if y < year]
    k = FILTER.persistence_years
    years = (earlier[-(k - 1) :] if k > 1 else []) + [year]
    out = {f"mapped_{y}": str(P.aligned("land_cover", y)) for y in years}
    if earlier:
        out["previous"] = str(P.filtered_land_cover(earlier[-1]))
    return out


def year_outputs(year="{year}"):
    outs = P.year_outputs(year, stateful=STATEFUL, steps=KEEP_STEPS)
    return {k: str(v) for k, v in outs.items()}


def interval_outputs(y0="{y0}", y1="{y1}"):
    outs = P.interval_outputs(y0, y1, pool_flux=POOL_FLUX, gain_loss=GAIN_LOSS.enabled)
    return {k: str(v) for k, v in outs.items()}


def previous_year(year):
    """The configured year before ``year``, or None for the first."""
    earlier = [y for y in YEARS if y < int(year)]
    return max(earlier) if earlier else None


def model_files(wildcards=None):
    """The model's parameter files (pool and strata tables, ...), defaults included: inputs, so
    editing one reruns its jobs."""
    return {
        f"model_{key}": str(value)
        for key, value in RUN.model_description["params"].items()
        if isinstance(value, str) and Path(value).is_file()
    }


def previous_state(wildcards):
    """A stateful model's state and land cover of the mapped year before (none in the first)."""
    y0 = previous_year(wildcards.year)
    if not STATEFUL or y0 is None:
        return {}
    out = {f"prev_state_{n}": str(p) for n, p in P.states(y0).items()}
    return out | {"prev_land_cover": str(layer("land_cover", y0))}


def assess_inputs(wildcards):
    """An assessed interval's interpreted sample and strata table, its flux layers, and what its
    strata and the stocks' Monte Carlo read in both years."""
    y0, y1 = int(wildcards.y0), int(wildcards.y1)
    outs = interval_outputs(y0, y1)
    out = {
        "labelled": str(CFG.account.assessed()[(y0, y1)]),
        "strata": str(P.sample_outputs(y0, y1)["strata"]),
        "grid": str(P.grid()),
        "flux": outs["flux"],
    }
    if "gain_loss_net" in outs:
        out["gain_loss_net"] = outs["gain_loss_net"]
    for y in (y0, y1):
        out[f"land_cover{y}"] = str(P.aligned("land_cover", y))
    return out | mc_inputs(wildcards)


def mc_inputs(wildcards):
    """What the stocks' Monte Carlo reads in the job's year, or in both years of its interval
    (``Run.mc_inputs``, which the stage itself calls): inputs, so a change reruns the job.
    """
    keys = wildcards.keys()
    years = [wildcards.year] if "year" in keys else [wildcards.y0, wildcards.y1]
    return {
        f"mc{y}_{k}": str(v) for y in years for k, v in RUN.mc_inputs(int(y)).items()
    }


#: The gain-loss method gets its own Monte Carlo unless it equals the stock difference.
GAIN_LOSS_MC = (
    MC.enabled and GAIN_LOSS.enabled and not RUN.gain_loss_is_stock_difference
)


def gain_loss_mc_inputs(wildcards):
    """An interval's land cover, gain-loss net layer (the cells it counts) and optional layers, and
    what the stocks' Monte Carlo reads in both years."""
    y0, y1 = int(wildcards.y0), int(wildcards.y1)
    out = {
        "land_cover0": str(layer("land_cover", y0)),
        "land_cover1": str(layer("land_cover", y1)),
        "valid": str(P.gain_loss(y0, y1, "net")),
        "growth_rates": str(GAIN_LOSS.growth_rates),
        "grid": str(P.grid()),
    }
    if GAIN_LOSS.loss_role:
        out["loss_year"] = str(P.aligned(GAIN_LOSS.loss_role, y1))
    if GAIN_LOSS.state_role:
        out["state"] = str(P.aligned(GAIN_LOSS.state_role, y0))
    return out | mc_inputs(wildcards)


def zones_input(wildcards=None):
    """The zones' polygons and their cover of the grid (computed once, rule zone_cover)."""
    if not CFG.account.zones:
        return {}
    return {"zones": str(CFG.account.zones.path), "zone_cover": str(P.zone_cover())}


def fetched(role, year):
    """The fetched files of a role and year: immutable once verified, so only their presence
    counts (ancient), not their modification time."""
    return ancient(str(RUN.raw_dir(role, int(year)) / "manifest.json"))


def year_manifests(wildcards):
    """The fetched files of every input role of the job's year (``manifest_<role>``)."""
    return {f"manifest_{role}": fetched(role, wildcards.year) for role in CFG.inputs}


def manifest_for(wildcards):
    """The fetched files of the job's role and year."""
    return fetched(wildcards.role, wildcards.year)


def aligned_inputs(roles):
    """An input function: ``in_<role>`` → the role's aligned layer of the job's year."""
    return lambda w: {f"in_{r}": str(layer(r, w.year)) for r in sorted(roles)}


def stock_roles():
    """Roles the stocks step reads: the model's, and land cover for the per-class tallies."""
    return set(RUN.model.input_roles) | {"land_cover"}


def interval_inputs(wildcards):
    """Both years' land cover and stocks, the growth-rate table and the optional gain-loss layers.
    Any two configured years, earlier first: consecutive ones are built by default, others on
    request (e.g. ``snakemake results/sink/2020-2024/net_flux_co2e.tif``)."""
    y0, y1 = int(wildcards.y0), int(wildcards.y1)
    if y0 not in YEARS or y1 not in YEARS or y0 >= y1:
        raise WorkflowError(
            f"{y0}-{y1} is not an interval of two configured years {YEARS}, earlier first; "
            "request results/sink/<year>-<later year>/ for years listed in the config"
        )
    out = {"land_cover0": str(layer("land_cover", y0))}
    out["land_cover1"] = str(layer("land_cover", y1))
    out |= {f"stock0_{p}": str(path) for p, path in P.stocks(y0).items()}
    out |= {f"stock1_{p}": str(path) for p, path in P.stocks(y1).items()}
    if STATEFUL:
        out |= {f"state1_{n}": str(p) for n, p in P.states(y1).items()}
    if KEEP_STEPS and previous_year(y1) == y0:
        # consecutive years: the stocks of y1 stepped the state from y0 and kept its gain-loss
        out |= {f"step_{k}": str(p) for k, p in P.steps(y1).items()}
    elif STATEFUL:
        out |= {f"state0_{n}": str(p) for n, p in P.states(y0).items()}
        roles = set(RUN.model.input_roles) - {"land_cover"}
        out |= {f"in1_{r}": str(P.aligned(r, y1)) for r in sorted(roles)}
    elif GAIN_LOSS.enabled:
        out["growth_rates"] = str(GAIN_LOSS.growth_rates)
    if GAIN_LOSS.enabled and GAIN_LOSS.loss_role:
        out["loss_year"] = str(P.aligned(GAIN_LOSS.loss_role, y1))
    if GAIN_LOSS.enabled and GAIN_LOSS.state_role:
        out["state"] = str(P.aligned(GAIN_LOSS.state_role, y0))
    return out


def geopackage_inputs(wildcards):
    """A year's tables, and those of the interval ending in it (if any)."""
    out = {k: str(v) for k, v in P.year_outputs(wildcards.year).items() if k in TABLES}
    y0 = previous_year(wildcards.year)
    if y0 is not None:
        tables = interval_outputs(y0, wildcards.year)
        out |= {k: tables[k] for k in ("sink_summary", *INTERVAL_LAYERS)}
    return out


TABLES = ("class_summary", "tile_summary", "stock_tally")
#: The interval's tables each year's GeoPackage carries as layers.
INTERVAL_LAYERS = ("change_matrix", "ipcc_change_matrix", "ipcc_summary")


def core_outputs():
    """The layers and tables of every year and interval, and the account."""
    out = [str(P.account()), str(P.account("parquet")), str(P.grid())]
    for year in YEARS:
        out += [str(p) for p in P.stocks(year).values()]
        out += [str(P.aligned(role, year)) for role in CFG.inputs]
        if FILTER.enabled:
            out += [
                str(P.filtered_land_cover(year)),
                str(P.change_filter_summary(year)),
            ]
        out.append(str(P.geopackage(year)))
        if MC.enabled and MC.pixel_sd:
            out.append(str(P.stock_sd(year)))
    for y0, y1 in INTERVALS:
        out += list(interval_outputs(y0, y1).values())
    for y0, y1 in CFG.account.assessed():
        out += [str(p) for p in P.assessment_outputs(y0, y1).values()]
    return out


def quicklook_inputs(wildcards):
    """The layers a year's quick looks map (:data:`sinkmap.contract.YEAR_QUICKLOOKS`)."""
    folder = P.year_dir(wildcards.year)
    names = P.quicklooks(wildcards.year, stateful=STATEFUL)
    return {name: str(folder / YEAR_QUICKLOOKS[name][0]) for name in names}


def quicklook_outputs():
    """The quick looks of every year and interval (rules quicklooks and flux_quicklook)."""
    out = [str(p) for y in YEARS for p in P.quicklooks(y, stateful=STATEFUL).values()]
    return out + [str(P.flux_quicklook(y0, y1)) for y0, y1 in INTERVALS]


def all_outputs():
    return [
        *core_outputs(),
        *quicklook_outputs(),
        str(P.account("json")),
        str(P.stac_catalog()),
        str(P.report()),
        str(P.qgis_project()),
    ]
