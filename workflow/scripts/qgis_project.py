"""Write the run's QGIS project (every layer styled, a group per year and per interval).

Inputs: every published output. Outputs: results/sinkmap.qgz. Settings: params title; the dataset
registry of the run's config (the licences in the layers' metadata).
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.publish.qgis_project import build_project
from sinkmap.stages import step
from sinkmap.stages.context import Run

sm = snakemake  # noqa: F821
with step(sm.log[0], "QGIS project"):
    run = Run(load_config(dict(sm.config)))
    out = Path(sm.output[0])
    build_project(
        out.parent,
        out,
        title=sm.params.title,
        licences={name: ds.licence for name, ds in run.registry.items()},
    )
