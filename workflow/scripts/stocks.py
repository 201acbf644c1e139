"""A year's carbon stocks: the model over every chunk, its layers, summaries and stock tally.

Inputs: the aligned layers the model reads (keys in_<role>), land cover, zones (optional), grid.
Outputs: carbon_stock_<pool>.tif for each pool and the total (COG, Mg C/ha), class_summary.csv,
tile_summary.csv, account_stocks.csv. Settings: config model and account.zones; wildcard year; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.stocks import compute_stocks

sm = snakemake  # noqa: F821
aligned = {k.removeprefix("in_"): Path(v) for k, v in sm.input.items() if k.startswith("in_")}
with step(
    sm.log[0], f"carbon stocks {sm.wildcards.year} from {sorted(map(str, aligned.values()))}"
):
    compute_stocks(
        load_config(dict(sm.config)),
        int(sm.wildcards.year),
        aligned,
        Path(sm.input.grid),
        outputs={k: Path(v) for k, v in sm.output.items()},
        threads=sm.threads,
    )
