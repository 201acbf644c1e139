"""Compute the account zones' cover of the grid once, for the jobs that tally by zone.

Inputs: zones (polygon file), grid. Outputs: resources/zones/cover.npz. Settings: config
account.zones.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.inputs import make_zone_cover

sm = snakemake  # noqa: F821
with step(sm.log[0], "the zones' cover of the grid"):
    make_zone_cover(load_config(dict(sm.config)), Path(sm.input.grid))
