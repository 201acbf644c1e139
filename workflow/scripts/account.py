"""Assemble carbon_account.csv: one row per year and class, with the flux of the interval ending in the year.

Inputs: per-year class summaries and total stocks, per-interval sink summaries. Outputs: carbon_account.csv.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.pipeline import build_account
from sinkmap.steps import step

sm = snakemake  # noqa: F821
with step(sm.log[0], "carbon account"):
    cfg = load_config(dict(sm.config))
    years = list(sm.params.years)
    build_account(
        cfg,
        {y: Path(p) for y, p in zip(years, sm.input.class_summaries, strict=True)},
        {y1: Path(p) for (_, y1), p in zip(cfg.intervals, sm.input.sink_summaries, strict=True)},
        Path(sm.output[0]),
    )
