"""What sinkmap installs on the workers of a Dask scheduler it connects to (:mod:`sinkmap.cluster`).

Apart from :mod:`sinkmap.cluster`, which every workflow job imports: ``distributed`` is imported
only by a job that uses a scheduler.
"""

from __future__ import annotations

import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from sinkmap.errors import ConfigError


class WorkingDirectory(WorkerPlugin):
    """A worker plugin: the workers work in the job's folder, so the relative paths of a run
    (Snakemake's inputs and outputs are relative to the workflow's folder) name the same files on
    the workers as in the job. Workers started later get it too. One scheduler therefore serves
    one workflow folder at a time, and its workers must see that folder at the same path."""

    name = "sinkmap-working-directory"

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self, worker: Any) -> None:
        try:
            os.chdir(self.path)
        except OSError as exc:
            raise ConfigError(
                f"Dask worker {worker.address} cannot enter the workflow folder {self.path} ({exc});"
                " run the workers where that folder is mounted at the same path"
            ) from None
