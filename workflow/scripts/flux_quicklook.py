"""Draw the quick look of an interval's net flux.

Inputs: the net flux layer, the AOI. Outputs: results/sink/<y0>-<y1>/quicklook_net_flux.png.
Settings: wildcards y0, y1.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.quicklooks import draw_flux_quicklook

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
with step(sm.log[0], f"quick look of the net flux {y0}-{y1}"):
    draw_flux_quicklook(load_config(dict(sm.config)), y0, y1, Path(sm.output[0]))
