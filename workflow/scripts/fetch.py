"""Obtain one dataset for one year over the AOI (generate, download or find), with its manifest.

Inputs: aoi. Outputs: resources/raw/<dataset>/<version>/<year>/manifest.json and the files it lists.
Settings: wildcards dataset, version, year; config datasets (the registry).
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.inputs import fetch_input

sm = snakemake  # noqa: F821
w = sm.wildcards
with step(sm.log[0], f"fetch {w.dataset} {w.version} {w.year}"):
    fetch_input(load_config(dict(sm.config)), w.dataset, w.version, int(w.year), Path(sm.output[0]))
