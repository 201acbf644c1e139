"""One published tiny run, shared (read-only) by the contract, report, QGIS, state-update and
accuracy tests: made once per test session, also when pytest-xdist runs the tests in several
worker processes (the first worker to need it makes it under a file lock; the others wait and
read it)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from tinyrun import dynamics_settings, snakemake, write_aoi, write_config

PUBLISHED_YEARS = [2020, 2021]


@pytest.fixture(scope="session")
def published_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workdir of a complete run (all targets: layers, the carbon state, account, STAC, report,
    QGIS project) for 2020-2021 with the demo's model (the carbon state) and inputs."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest-xdist: the workers' common folder
        root = root.parent
    workdir = root / "published"
    with open(root / "published.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "published.complete").exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            write_aoi(workdir)
            write_config(workdir, PUBLISHED_YEARS, **dynamics_settings(workdir))
            snakemake(workdir)
            (root / "published.complete").touch()
    return workdir
