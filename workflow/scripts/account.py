"""Assemble carbon_account.csv and its Parquet twin: one row per year x zone x class x pool x method.

Inputs: per-year stock tallies, per-interval change tallies, per-year Monte Carlo draws and
sensitivity draws (optional), the intervals' gain-loss Monte Carlo and sensitivity draws (a model
without a carbon state), the assessed intervals' adjusted_account.csv. Outputs:
carbon_account.csv, carbon_account.parquet, uncertainty_sensitivity.csv. Settings: params years,
intervals, assessed.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.account import assemble_account

sm = snakemake  # noqa: F821
years = [int(y) for y in sm.params.years]
end_years = [int(y1) for _, y1 in sm.params.intervals]


def by(keys, paths):
    """Key -> path of a per-year or per-interval input list (empty: an input the run lacks)."""
    return dict(zip(keys, map(Path, paths), strict=True)) if paths else {}


with step(sm.log[0], "carbon account"):
    assemble_account(
        load_config(dict(sm.config)),
        stocks=by(years, sm.input.stocks),
        changes=by(end_years, sm.input.changes),
        monte_carlo=by(years, sm.input.monte_carlo),
        sensitivity=by(years, sm.input.sensitivity),
        adjusted=by([(int(a), int(b)) for a, b in sm.params.assessed], sm.input.adjusted),
        gain_loss=by(end_years, sm.input.gain_loss),
        gain_loss_sensitivity=by(end_years, sm.input.gain_loss_sensitivity),
        out=Path(sm.output.csv),
        parquet_out=Path(sm.output.parquet),
        sensitivity_out=Path(sm.output.sensitivity),
    )
