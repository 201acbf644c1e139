"""Build the self-contained HTML report (quicklooks, time series, account tables, citations, config).

Inputs: every published output. Outputs: results/report.html. Settings: params title; the run's config.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

import tempfile
from pathlib import Path

import yaml

from sinkmap.publish.report import build_report
from sinkmap.stages import step

sm = snakemake  # noqa: F821
with step(sm.log[0], "HTML report"), tempfile.TemporaryDirectory() as tmp:
    config_path = Path(tmp) / "config.yaml"  # the effective config, --config overrides included
    config_path.write_text(yaml.safe_dump(dict(sm.config), sort_keys=False), encoding="utf-8")
    out = Path(sm.output[0])
    build_report(
        out.parent, config_path, out, title=sm.params.title, config_label=sm.params.config_files
    )
