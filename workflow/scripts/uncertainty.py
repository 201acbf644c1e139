"""Monte Carlo totals of a year's stocks per zone and pool (IPCC Approach 2), optional SD layer.

Inputs: what the Monte Carlo reads (mc<year>_<role>: the model's inputs, land cover, per-pixel
SD roles, a stateful model's state layers; the stage finds them by Run.mc_inputs), grid, zones
(optional). Outputs: monte_carlo.csv, monte_carlo_sensitivity.csv, carbon_stock_total_sd.tif (optional). Settings: wildcard
year; threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.context import Run
from sinkmap.stages.uncertainty import run_monte_carlo

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
cfg = load_config(dict(sm.config))
with step(sm.log[0], f"Monte Carlo {year}, {cfg.account.uncertainty.draws} draws"):
    run_monte_carlo(
        cfg,
        year,
        aligned=Run(cfg).mc_inputs(year),
        grid_path=Path(sm.input.grid),
        out=Path(sm.output.draws),
        sensitivity_out=Path(sm.output.sensitivity),
        sd_out=Path(sm.output.sd[0]) if sm.output.sd else None,
        threads=sm.threads,
    )
