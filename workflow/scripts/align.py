"""Warp one input onto the grid, decode it and mask it to the AOI.

Inputs: manifest, grid, aoi. Outputs: results/<year>/<role>.tif (COG). Settings: wildcards role, year; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.inputs import align_input

sm = snakemake  # noqa: F821
with step(sm.log[0], f"align {sm.wildcards.role} {sm.wildcards.year} from {sm.input.manifest}"):
    align_input(
        load_config(dict(sm.config)),
        sm.wildcards.role,
        int(sm.wildcards.year),
        Path(sm.input.manifest),
        Path(sm.input.grid),
        Path(sm.output[0]),
        threads=sm.threads,
    )
