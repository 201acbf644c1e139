# sinkmap: year-by-year carbon stock and sink maps for a county (Baoting demo by default).
#
#   snakemake --cores all                    # the whole run (make run does this in .venv)
#   snakemake -n                             # show what would run
#   snakemake --configfile my.yaml --cores 4 # another AOI, years or model (replaces the demo config)
#
# Rules live in workflow/rules/, their scripts in workflow/scripts/; all maths is in the sinkmap package.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version

from sinkmap.aoi import check_disjoint
from sinkmap.config import expand_aois, load_aoi_configs, summable_uncertainty
from sinkmap.errors import SinkmapError
from sinkmap.paths import Paths
from sinkmap.stages.context import Run, split_into_groups
from sinkmap.stages.jobserver import start as start_job_server
from sinkmap.stages.runlock import record_owner

min_version("8.10")


# The demo config, unless the user gives their own: a --configfile replaces it (nothing of the demo
# is merged into it), while --config key=value on its own still edits the demo.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Several AOIs (aois: in the config, docs/scaling.md): each AOI's workflow is a module with its own
# config and folders (results/<name>/, resources/<name>/, logs/<name>/) and its rules named
# <name>_<rule>, so its jobs fan out beside the other AOIs' in one DAG.
try:
    # one AOI larger than grid.group_tiles tiles a side: its groups of tiles as several AOIs
    RAW_CONFIG = split_into_groups(dict(config))
    AOI_CONFIGS = load_aoi_configs(RAW_CONFIG)  # every AOI valid before any is loaded
    AOIS = expand_aois(RAW_CONFIG)
    if AOIS and workflow.is_main_process:
        check_disjoint({n: Run(c).aoi for n, c in AOI_CONFIGS.items()})
except SinkmapError as _exc:
    raise WorkflowError(f"configuration error:\n{_exc}") from None

if not AOIS:

    include: "workflow/run.smk"

    # an include keeps the including file's default target: name run.smk's target here
    workflow.default_target = "all"

else:
    for AOI_NAME, AOI_CFG in AOIS.items():
        AOI_RULES = f"{AOI_NAME}_"

        module:
            name: AOI_NAME
            snakefile:
                "workflow/run.smk"
            config:
                AOI_CFG

        use rule * from AOI_NAME as AOI_RULES*

    TOP = Paths(Path(config.get("results_dir", "results")))
    # the sum's Monte Carlo intervals: the AOIs' draws added draw by draw, when they can be
    NO_SUM_MC = summable_uncertainty(AOI_CONFIGS)
    if NO_SUM_MC and workflow.is_main_process:
        logger.warning(
            f"the sum of the AOIs gets no Monte Carlo interval: {NO_SUM_MC}"
        )

    # a module's onstart is not run: the run records its lock owner here (runlock.py)
    onstart:
        record_owner()
        start_job_server(workflow)

    rule aois_account:
        input:
            accounts=[str(c.paths.account()) for c in AOI_CONFIGS.values()],
            monte_carlo=[
                str(c.paths.monte_carlo(y))
                for c in AOI_CONFIGS.values()
                for y in c.years
                if not NO_SUM_MC
            ],
        output:
            str(TOP.aois_account()),
        log:
            str(Path(config.get("logs_dir", "logs")) / "aois_account.log"),
        conda:
            "workflow/envs/sinkmap.yaml"
        params:
            aois={n: c.years for n, c in AOI_CONFIGS.items()},
            monte_carlo=not NO_SUM_MC,
        script:
            "workflow/scripts/aois_account.py"

    rule aois_stac:
        input:
            catalogs=[str(c.paths.stac_catalog()) for c in AOI_CONFIGS.values()],
            account=str(TOP.aois_account()),
        output:
            str(TOP.stac_catalog()),
        log:
            str(Path(config.get("logs_dir", "logs")) / "aois_stac.log"),
        conda:
            "workflow/envs/sinkmap.yaml"
        params:
            aois=list(AOI_CONFIGS),
        script:
            "workflow/scripts/aois_stac.py"

    # an AOI split into groups of tiles (grid.group_tiles): its whole layers as VRTs of the groups'
    SPLIT = not config.get("aois")
    if SPLIT:

        rule aois_mosaic:
            input:
                catalogs=[str(c.paths.stac_catalog()) for c in AOI_CONFIGS.values()],
            output:
                directory(str(TOP.mosaics())),
            log:
                str(Path(config.get("logs_dir", "logs")) / "aois_mosaic.log"),
            conda:
                "workflow/envs/sinkmap.yaml"
            params:
                groups={n: str(c.results_dir) for n, c in AOI_CONFIGS.items()},
            script:
                "workflow/scripts/aois_mosaic.py"

    rule all:
        default_target: True
        input:
            [f for name in AOIS for f in getattr(rules, f"{name}_all").input],
            str(TOP.aois_account()),
            str(TOP.stac_catalog()),
            [str(TOP.mosaics())] if SPLIT else [],
