"""Changes of an interval per zone x land-cover class x pool x method, and the IPCC summary.

Inputs: land cover and pool stocks of both years, gain-loss layers (optional), grid, zones
(optional). Outputs: account_changes.csv, ipcc_summary.csv. Settings: wildcards y0, y1; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.interval import tally_changes

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)


def _pools(paths):
    return {Path(p).stem.rsplit("_", 1)[-1]: Path(p) for p in paths}


with step(sm.log[0], f"change tally {y0}-{y1}"):
    keys = sm.input.keys()
    tally_changes(
        load_config(dict(sm.config)),
        y0,
        y1,
        land_cover0=Path(sm.input.land_cover0),
        land_cover1=Path(sm.input.land_cover1),
        stocks0=_pools(sm.input.stocks0),
        stocks1=_pools(sm.input.stocks1),
        gain_loss_layers={
            "removals": Path(sm.input.gl_removals),
            "emissions": Path(sm.input.gl_emissions),
        }
        if "gl_removals" in keys
        else None,
        grid_path=Path(sm.input.grid),
        out=Path(sm.output.changes),
        ipcc_out=Path(sm.output.ipcc_summary),
        threads=sm.threads,
    )
