"""Derive the run's canonical grid from the AOI.

Inputs: aoi (polygon file). Outputs: grid.json. Settings: config grid.crs, grid.resolution, grid.chunk.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.pipeline import make_grid
from sinkmap.steps import step

with step(snakemake.log[0], "derive the grid from the AOI"):  # noqa: F821
    make_grid(load_config(dict(snakemake.config)), Path(snakemake.output[0]))  # noqa: F821
