"""An interval's sinks by both methods, in one pass over the two years.

Inputs: land cover and stocks (every pool and the total) of both years; the growth-rate table and
optional loss-year and forest-state layers (models without a state), or both years' state layers
(state0_<name>, state1_<name>) and the model's other inputs at the end year (in1_<role>), or, for
consecutive years, the end year's state and the gain-loss of its step (step_<part>); zones
(optional), grid. Outputs: net_flux_co2e.tif and net_flux_co2e_<pool>.tif,
gain_loss_{net,removals,emissions}_co2e.tif (COGs, Mg CO2e/ha/yr, emissions positive),
class_summary.csv, change_matrix.csv, ipcc_change_matrix.csv, account_changes.csv,
ipcc_summary.csv. Settings: config account and model; wildcards y0, y1; threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.paths import STATE_NAMES, STOCK_LAYERS
from sinkmap.stages import step
from sinkmap.stages.interval import compute_interval

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
keys = sm.input.keys()
stateful = "state1_category" in keys
with step(sm.log[0], f"interval {y0}-{y1}"):
    compute_interval(
        load_config(dict(sm.config)),
        y0,
        y1,
        land_cover=(Path(sm.input.land_cover0), Path(sm.input.land_cover1)),
        stocks0={p: Path(sm.input[f"stock0_{p}"]) for p in STOCK_LAYERS},
        stocks1={p: Path(sm.input[f"stock1_{p}"]) for p in STOCK_LAYERS},
        grid_path=Path(sm.input.grid),
        outputs={k: Path(v) for k, v in sm.output.items()},
        loss_year=Path(sm.input.loss_year) if "loss_year" in keys else None,
        state=Path(sm.input.state) if "state" in keys else None,
        states=(
            {n: Path(sm.input[f"state0_{n}"]) for n in STATE_NAMES if f"state0_{n}" in keys},
            {n: Path(sm.input[f"state1_{n}"]) for n in STATE_NAMES},
        )
        if stateful
        else None,
        inputs1={
            k.removeprefix("in1_"): Path(v) for k, v in sm.input.items() if k.startswith("in1_")
        },
        step={
            k.removeprefix("step_"): Path(v) for k, v in sm.input.items() if k.startswith("step_")
        }
        or None,
        threads=sm.threads,
    )
