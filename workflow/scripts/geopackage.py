"""Write the per-year GeoPackage (AOI, class summary, tile grid, zones, the interval's tables).

Inputs: grid, aoi, class_summary, tile_summary, account_stocks, and the sink summary and tables of
the interval ending in the year (if any). Outputs: sinkmap_<year>.gpkg.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.geopackage import write_geopackage

sm = snakemake  # noqa: F821
keys = sm.input.keys()
with step(sm.log[0], f"geopackage {sm.wildcards.year}"):
    write_geopackage(
        load_config(dict(sm.config)),
        int(sm.wildcards.year),
        grid_path=Path(sm.input.grid),
        class_summary=Path(sm.input.class_summary),
        tile_summary=Path(sm.input.tile_summary),
        sink_summary=Path(sm.input.sink_summary) if "sink_summary" in keys else None,
        out=Path(sm.output[0]),
        tables={
            name: Path(sm.input[name])
            for name in ("change_matrix", "ipcc_change_matrix", "ipcc_summary")
            if name in keys
        },
        account_stocks=Path(sm.input.stock_tally),
    )
