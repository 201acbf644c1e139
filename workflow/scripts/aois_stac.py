"""The STAC catalog of a run with several AOIs: a child link to each AOI's own catalog.

Inputs: each AOI's stac/catalog.json (in the order of params.aois), carbon_account_aois.csv.
Outputs: stac/catalog.json. Settings: params aois (the AOIs' names).
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.publish.stac import build_aois_catalog
from sinkmap.stages import step

sm = snakemake  # noqa: F821
with step(sm.log[0], f"STAC catalog of {len(sm.params.aois)} AOIs"):
    build_aois_catalog(
        Path(sm.output[0]).parent.parent,
        dict(zip(sm.params.aois, map(Path, sm.input.catalogs), strict=True)),
        title=f"sinkmap: {len(sm.params.aois)} AOIs ({', '.join(sm.params.aois)})",
    )
