"""``python -m snakemake``, as the tests' job server forks it (:func:`tinyrun.run_snakemake`).

The server imports what this file imports at its top from Snakemake and sinkmap once, before its
first fork: Snakemake's command line (0.7 CPU s of every run's 1.2 s in the suite), the modules a
run imports later (its report and storage parts) and the workflow's own top-level imports (the
Snakefile's and workflow/rules/common.smk's). A module the workflow stops importing, or one left
out, costs only time: the fork imports what it lacks itself. Snakemake's command line comes first
(``snakemake.storage`` imported before it fails on a circular import).
"""

import importlib.util
import os
import sys

import snakemake.cli
import snakemake.report.html_reporter  # noqa: F401
import snakemake.storage  # noqa: F401

import sinkmap.aoi  # noqa: F401
import sinkmap.config  # noqa: F401
import sinkmap.contract  # noqa: F401
import sinkmap.paths  # noqa: F401
import sinkmap.sources  # noqa: F401
import sinkmap.stages.context  # noqa: F401
import sinkmap.stages.runlock  # noqa: F401

if __name__ == "__main__":
    # as `python -m snakemake` starts: its module's file as argv[0] (Snakemake prints and records
    # its command line), the working folder first on the module path
    sys.argv[0] = importlib.util.find_spec("snakemake.__main__").origin  # type: ignore[union-attr]
    sys.path.insert(0, os.getcwd())
    snakemake.cli.main()
