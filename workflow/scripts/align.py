"""Warp inputs onto the grid, decode them and mask them to the AOI: every role of a year (rule
align) or one role (rule align_role).

Inputs: manifest_<role> (or manifest), grid, aoi. Outputs: results/<year>/<role>.tif (COG), named
by role (or one). Settings: wildcards year (and role); threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.align import align_input

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
if "role" in sm.wildcards.keys():
    jobs = {sm.wildcards.role: (Path(sm.input.manifest), Path(sm.output[0]))}
else:
    jobs = {
        role: (Path(sm.input[f"manifest_{role}"]), Path(out)) for role, out in sm.output.items()
    }
with step(sm.log[0], f"align {', '.join(jobs)} {year}"):
    cfg = load_config(dict(sm.config))
    for role, (manifest, out) in jobs.items():
        align_input(cfg, role, year, manifest, Path(sm.input.grid), out, threads=sm.threads)
