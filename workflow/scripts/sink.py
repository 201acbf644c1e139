"""Stock-difference sink between two consecutive years.

Inputs: total stock and land cover of both years, grid. Outputs: net_flux_co2e.tif (COG,
Mg CO2e/ha/yr, emissions positive), class_summary.csv, change_matrix.csv, ipcc_change_matrix.csv. Settings: wildcards y0, y1; threads.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.interval import compute_sink

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
pools = [Path(p).stem.rsplit("_", 1)[-1] for p in sm.output.pool_flux]
with step(sm.log[0], f"sink {y0}-{y1} from {sm.input.stock0} and {sm.input.stock1}"):
    compute_sink(
        load_config(dict(sm.config)),
        y0,
        y1,
        stock0=Path(sm.input.stock0),
        stock1=Path(sm.input.stock1),
        land_cover0=Path(sm.input.land_cover0),
        land_cover1=Path(sm.input.land_cover1),
        grid_path=Path(sm.input.grid),
        flux_out=Path(sm.output.flux),
        summary_out=Path(sm.output.summary),
        matrix_out=Path(sm.output.matrix),
        ipcc_matrix_out=Path(sm.output.ipcc_matrix),
        pool_stocks={
            p: (Path(sm.input[f"pool0_{p}"]), Path(sm.input[f"pool1_{p}"])) for p in pools
        },
        pool_flux_out=dict(zip(pools, map(Path, sm.output.pool_flux), strict=True)),
        threads=sm.threads,
    )
