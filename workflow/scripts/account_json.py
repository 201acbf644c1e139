"""Write the account table's JSON twin (validated by docs/schemas/carbon_account.schema.json).

Inputs: carbon_account.csv. Outputs: carbon_account.json.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.publish.account_json import write_account_json
from sinkmap.stages import step

sm = snakemake  # noqa: F821
with step(sm.log[0], "account JSON"):
    write_account_json(Path(sm.input[0]), Path(sm.output[0]))
