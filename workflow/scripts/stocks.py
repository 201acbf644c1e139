"""Run the carbon model over all chunks of one year.

Inputs: aligned inputs the model needs, grid. Outputs: carbon_stock_<pool>.tif (COG, Mg C/ha) for each pool
and the total, class_summary.csv, tile_summary.csv. Settings: config model; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.paths import STOCK_LAYERS
from sinkmap.stages import step
from sinkmap.stages.stocks import compute_stocks

sm = snakemake  # noqa: F821
inputs = {
    key.removeprefix("in_"): Path(path) for key, path in sm.input.items() if key.startswith("in_")
}
with step(sm.log[0], f"carbon stocks {sm.wildcards.year} from {sorted(map(str, inputs.values()))}"):
    compute_stocks(
        load_config(dict(sm.config)),
        int(sm.wildcards.year),
        inputs,
        Path(sm.input.grid),
        outputs={
            **{f"stock_{p}": Path(x) for p, x in zip(STOCK_LAYERS, sm.output.pools, strict=True)},
            "class_summary": Path(sm.output.class_summary),
            "tile_summary": Path(sm.output.tile_summary),
        },
        threads=sm.threads,
    )
