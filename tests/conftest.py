"""Shared test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import StacServer

# No test reaches the internet: real-data adapters fail fast instead (tests serve files on 127.0.0.1
# and set their own base URLs where they need downloads).
os.environ.setdefault("SINKMAP_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def registry():
    """The dataset registry, config/datasets.yaml (name -> Dataset)."""
    from sinkmap.sources import load_registry

    return load_registry(REPO / "config" / "datasets.yaml")


@pytest.fixture
def stac_server() -> Iterator[StacServer]:
    """An empty local STAC API, file server and SAS token service (tests/servers.py)."""
    server = StacServer().start()
    yield server
    server.stop()


@pytest.fixture
def pc_token_service(
    stac_server: StacServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StacServer]:
    """``planetary_computer`` takes SAS tokens from ``stac_server`` and signs the hrefs it serves.

    The library's token service URL is its setting ``PC_SDK_SAS_URL``. It signs only hrefs in Azure
    Blob Storage (host ending in ``planetary_computer.sas.BLOB_STORAGE_DOMAIN``), so the test
    server's host is made to count as one.
    """
    import planetary_computer.sas
    import planetary_computer.settings

    monkeypatch.setenv("PC_SDK_SAS_URL", stac_server.sas_url)
    monkeypatch.setattr(planetary_computer.sas, "BLOB_STORAGE_DOMAIN", stac_server.url[7:])
    monkeypatch.setattr(planetary_computer.sas, "TOKEN_CACHE", {})
    planetary_computer.settings.Settings.get.cache_clear()
    yield stac_server
    planetary_computer.settings.Settings.get.cache_clear()
