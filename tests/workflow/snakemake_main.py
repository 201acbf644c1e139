"""``python -m snakemake``, as the tests' job server forks it (:func:`tinyrun.run_snakemake`).

The server imports what this file imports at its top from Snakemake and sinkmap once, before its
first fork: Snakemake's command line (0.7 CPU s of every run's 1.2 s in the suite), the modules a
run imports later (its report and storage parts) and the workflow's own top-level imports (the
Snakefile's and workflow/rules/common.smk's). A module left out of this list, or one the workflow
stops importing, costs only time: the fork imports what it lacks itself.
"""

import importlib.util
import os
import sys
import warnings

import snakemake.report.html_reporter  # noqa: F401
import snakemake.storage  # noqa: F401
from snakemake.cli import main

import sinkmap.aoi  # noqa: F401
import sinkmap.config  # noqa: F401
import sinkmap.contract  # noqa: F401
import sinkmap.paths  # noqa: F401
import sinkmap.sources  # noqa: F401
import sinkmap.stages.context  # noqa: F401
import sinkmap.stages.runlock  # noqa: F401

if __name__ == "__main__":
    # the interpreter reads PYTHONWARNINGS at its start: the fork's is its server's
    if os.environ.get("PYTHONWARNINGS") == "ignore":
        warnings.simplefilter("ignore")
    # as `python -m snakemake` names it (Snakemake prints and records its command line)
    sys.argv[0] = importlib.util.find_spec("snakemake.__main__").origin  # type: ignore[union-attr]
    main()
