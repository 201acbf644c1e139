"""The whole AOI's layers of an AOI split into groups of tiles (grid.group_tiles): a VRT of its
groups' COGs for each raster, with its QGIS style.

Inputs: each group's stac/catalog.json (written once all its layers are). Outputs: mosaic/.
Settings: params groups (the groups' names and results folders).
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.stages import step
from sinkmap.stages.aois import write_mosaics

sm = snakemake  # noqa: F821
with step(sm.log[0], f"mosaics of {len(sm.params.groups)} groups of tiles"):
    groups = {name: Path(folder) for name, folder in sm.params.groups.items()}
    write_mosaics(groups, Path(sm.output[0]))
