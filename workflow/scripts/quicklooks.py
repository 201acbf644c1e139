"""Draw the quick looks of a year's layers (total stock, land cover, the carbon state's strata).

Inputs: the layers, the AOI. Outputs: results/<year>/quicklook_<name>.png. Settings: wildcard year.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.quicklooks import draw_year_quicklooks

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
with step(sm.log[0], f"quick looks {year}"):
    out = {name: Path(path) for name, path in sm.output.items()}
    draw_year_quicklooks(load_config(dict(sm.config)), year, out)
