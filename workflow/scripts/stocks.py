"""A year's carbon stocks: the model over every chunk, its layers, summaries and stock tally; a
stateful model also steps the state of the year before (or starts one) and writes it.

Inputs: the aligned layers the model reads (keys in_<role>), land cover, zones (optional), grid;
for a stateful model the previous year's state (prev_state_<name>) and land cover.
Outputs: carbon_stock_<pool>.tif for each pool and the total (COG, Mg C/ha), class_summary.csv,
tile_summary.csv, account_stocks.csv; state_<name>.tif and state_summary.csv (stateful model).
Settings: config model and account.zones; wildcard year; threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.stocks import PreviousYear, compute_stocks

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
aligned = {k.removeprefix("in_"): Path(v) for k, v in sm.input.items() if k.startswith("in_")}
state = {
    k.removeprefix("prev_state_"): Path(v)
    for k, v in sm.input.items()
    if k.startswith("prev_state_")
}
with step(sm.log[0], f"carbon stocks {year} from {sorted(map(str, aligned.values()))}"):
    cfg = load_config(dict(sm.config))
    earlier = [y for y in cfg.years if y < year]
    compute_stocks(
        cfg,
        year,
        aligned,
        Path(sm.input.grid),
        outputs={k: Path(v) for k, v in sm.output.items()},
        previous=PreviousYear(max(earlier), state, Path(sm.input.prev_land_cover))
        if state
        else None,
        threads=sm.threads,
    )
