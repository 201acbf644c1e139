"""One published tiny run, shared (read-only) by the contract and report tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyrun import dynamics_settings, snakemake, write_aoi, write_config

PUBLISHED_YEARS = [2020, 2021]


@pytest.fixture(scope="session")
def published_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workdir of a complete run (all targets: layers, the carbon state, account, STAC, report,
    QGIS project) for 2020-2021 with the demo's model (the carbon state) and inputs."""
    workdir = tmp_path_factory.mktemp("published")
    write_aoi(workdir)
    write_config(workdir, PUBLISHED_YEARS, **dynamics_settings(workdir))
    snakemake(workdir)
    return workdir
