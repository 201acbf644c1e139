"""Stocks of a year per zone x land-cover class x pool (the AOI and each configured zone).

Inputs: land cover, pool stocks, grid, zones (optional). Outputs: account_stocks.csv.
Settings: wildcard year; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.stocks import tally_stocks

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
with step(sm.log[0], f"stock tally {year}"):
    tally_stocks(
        load_config(dict(sm.config)),
        year,
        land_cover=Path(sm.input.land_cover),
        stocks={Path(p).stem.rsplit("_", 1)[-1]: Path(p) for p in sm.input.stocks},
        grid_path=Path(sm.input.grid),
        out=Path(sm.output[0]),
        threads=sm.threads,
    )
