"""Shared test settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test reaches the internet: real-data adapters fail fast instead (tests serve files on 127.0.0.1
# and set their own base URLs where they need downloads).
os.environ.setdefault("SINKMAP_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
