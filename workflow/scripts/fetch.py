"""Obtain one dataset for one year over the AOI (generate, download or find), with its manifest.

Inputs: aoi. Outputs: resources/raw/<dataset>/<version>/<year>/manifest.json and the files it lists.
Settings: wildcards dataset, version, year; config datasets (the registry).
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.pipeline import fetch_input
from sinkmap.steps import step

w = snakemake.wildcards  # noqa: F821
with step(snakemake.log[0], f"fetch {w.dataset} {w.version} {w.year}"):  # noqa: F821
    fetch_input(
        load_config(dict(snakemake.config)),
        w.dataset,
        w.version,
        int(w.year),
        Path(snakemake.output[0]),
    )  # noqa: F821
