"""Monte Carlo of an interval's gain-loss totals (a model without a carbon state).

Inputs: land cover of both years (land_cover0, land_cover1), the gain-loss net layer (valid), the
growth-rate table, optional loss-year and forest-state layers, what the stocks' Monte Carlo reads
in each year (mc<year>_<role>; the stage finds them by Run.mc_inputs), grid. Output:
monte_carlo_gain_loss.csv, monte_carlo_gain_loss_sensitivity.csv. Settings: wildcards y0, y1; threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.context import Run
from sinkmap.stages.gain_loss_mc import run_gain_loss_monte_carlo

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
cfg = load_config(dict(sm.config))
keys = sm.input.keys()
with step(sm.log[0], f"gain-loss Monte Carlo {y0}-{y1}, {cfg.account.uncertainty.draws} draws"):
    run = Run(cfg)
    run_gain_loss_monte_carlo(
        cfg,
        y0,
        y1,
        land_cover=(Path(sm.input.land_cover0), Path(sm.input.land_cover1)),
        valid=Path(sm.input.valid),
        aligned={y: run.mc_inputs(y) for y in (y0, y1)},
        grid_path=Path(sm.input.grid),
        out=Path(sm.output.draws),
        sensitivity_out=Path(sm.output.sensitivity),
        loss_year=Path(sm.input.loss_year) if "loss_year" in keys else None,
        state=Path(sm.input.state) if "state" in keys else None,
        threads=sm.threads,
    )
