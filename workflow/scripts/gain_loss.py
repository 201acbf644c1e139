"""Gain-loss sink of an interval (IPCC 2006 V4 Eq. 2.4, 2.9, 2.10), beside the stock difference.

Inputs: land cover of both years, pool stocks at the start, total stock at the end, growth rates,
optional loss-year and forest-state layers, grid. Outputs: gain_loss_{net,removals,emissions}_co2e.tif
(COGs, Mg CO2e/ha/yr, emissions positive). Settings: wildcards y0, y1; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.interval import compute_gain_loss

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
with step(sm.log[0], f"gain-loss {y0}-{y1} with {sm.input.growth_rates}"):
    compute_gain_loss(
        load_config(dict(sm.config)),
        y0,
        y1,
        land_cover0=Path(sm.input.land_cover0),
        land_cover1=Path(sm.input.land_cover1),
        stocks0={Path(p).stem.rsplit("_", 1)[-1]: Path(p) for p in sm.input.stocks0},
        stock1_total=Path(sm.input.stock1),
        loss_year=Path(sm.input.loss_year) if "loss_year" in sm.input.keys() else None,
        state=Path(sm.input.state) if "state" in sm.input.keys() else None,
        grid_path=Path(sm.input.grid),
        out_dir=Path(sm.output[0]).parent,
        threads=sm.threads,
    )
