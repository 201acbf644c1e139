"""Derive the run's canonical grid from the AOI.

Inputs: aoi (polygon file). Outputs: grid.json. Settings: config grid.crs, grid.resolution, grid.chunk.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.inputs import make_grid

sm = snakemake  # noqa: F821
with step(sm.log[0], "derive the grid from the AOI"):
    make_grid(load_config(dict(sm.config)), Path(sm.output[0]))
