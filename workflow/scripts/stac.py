"""Build and validate the static STAC catalog of every year's and interval's outputs.

Inputs: every published output. Outputs: results/stac/catalog.json (and its collections and items).
Settings: params title, synthetic.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.publish.stac import build_catalog
from sinkmap.stages import step

sm = snakemake  # noqa: F821
with step(sm.log[0], "STAC catalog"):
    catalog = build_catalog(
        Path(sm.output[0]).parents[1], title=sm.params.title, synthetic=sm.params.synthetic
    )
    if catalog.resolve() != Path(sm.output[0]).resolve():
        raise RuntimeError(f"catalog written to {catalog}, expected {sm.output[0]}")
