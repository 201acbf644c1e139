"""Assess an interval's change map from its interpreted reference sample (account.assessments).

Inputs: labelled (the interpreted sample), strata (the table sinkmap sample wrote), the interval's
flux layers and what its strata and the stocks' Monte Carlo read in both years. Outputs:
assessment.gpkg, accuracy.csv, error_matrix.csv, adjusted_account.csv. Settings: wildcards y0, y1.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.accuracy import assess_sample

sm = snakemake  # noqa: F821
y0, y1 = int(sm.wildcards.y0), int(sm.wildcards.y1)
with step(sm.log[0], f"accuracy assessment {y0}-{y1}"):
    assess_sample(
        load_config(dict(sm.config)),
        y0,
        y1,
        Path(sm.input.labelled),
        strata_table=Path(sm.input.strata),
        outputs={k: Path(v) for k, v in sm.output.items()},
        threads=sm.threads,
    )
