"""Shared fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helpers import AOI_GPKG, POOL_CSV, ROOT


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def pool_table():
    from sinkmap.tables import PoolTable

    return PoolTable.from_csv(POOL_CSV)


@pytest.fixture(scope="session")
def baoting():
    from sinkmap.aoi import read_aoi

    return read_aoi(AOI_GPKG, layer="baoting")
