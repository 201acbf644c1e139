"""Assemble carbon_account.csv and its Parquet twin: one row per year x zone x class x pool x method.

Inputs: per-year stock tallies, per-interval change tallies, per-year Monte Carlo draws and
sensitivity draws (optional), the intervals' gain-loss Monte Carlo and sensitivity draws (a model
without a carbon state), the assessed intervals' adjusted_account.csv. Outputs:
carbon_account.csv, carbon_account.parquet, uncertainty_sensitivity.csv. Settings: params years,
intervals, assessed.
"""

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.account import assemble_account

sm = snakemake  # noqa: F821
with step(sm.log[0], "carbon account"):
    years = list(sm.params.years)
    assemble_account(
        load_config(dict(sm.config)),
        stocks={y: Path(p) for y, p in zip(years, sm.input.stocks, strict=True)},
        changes={
            y1: Path(p) for (_, y1), p in zip(sm.params.intervals, sm.input.changes, strict=True)
        },
        monte_carlo={y: Path(p) for y, p in zip(years, sm.input.monte_carlo, strict=True)}
        if sm.input.monte_carlo
        else None,
        sensitivity={y: Path(p) for y, p in zip(years, sm.input.sensitivity, strict=True)}
        if sm.input.sensitivity
        else None,
        adjusted={
            (int(a), int(b)): Path(p)
            for (a, b), p in zip(sm.params.assessed, sm.input.adjusted, strict=True)
        },
        gain_loss={
            y1: Path(p) for (_, y1), p in zip(sm.params.intervals, sm.input.gain_loss, strict=True)
        }
        if sm.input.gain_loss
        else None,
        gain_loss_sensitivity={
            y1: Path(p)
            for (_, y1), p in zip(sm.params.intervals, sm.input.gain_loss_sensitivity, strict=True)
        }
        if sm.input.gain_loss_sensitivity
        else None,
        out=Path(sm.output.csv),
        parquet_out=Path(sm.output.parquet),
        sensitivity_out=Path(sm.output.sensitivity),
    )
