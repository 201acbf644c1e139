"""Every AOI's account and their sum, of a run with several AOIs: carbon_account_aois.csv.

Inputs: each AOI's carbon_account.csv and (with Monte Carlo) its years' monte_carlo.csv, in the
order of params.aois. Outputs: carbon_account_aois.csv. Settings: params aois (AOI name -> years),
monte_carlo (whether every AOI has draws).
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.stages import step
from sinkmap.stages.aois import combine_accounts

sm = snakemake  # noqa: F821
names = list(sm.params.aois)
with step(sm.log[0], f"account of {len(names)} AOIs"):
    draws = iter(map(Path, sm.input.monte_carlo))
    monte_carlo = (
        {n: {int(y): next(draws) for y in sm.params.aois[n]} for n in names}
        if sm.params.monte_carlo
        else None
    )
    combine_accounts(
        dict(zip(names, map(Path, sm.input.accounts), strict=True)),
        Path(sm.output[0]),
        monte_carlo=monte_carlo,
    )
