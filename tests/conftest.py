"""Shared test settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import StacServer

# The tests' own processes run as the workflow's do, without NumPy's huge-page advice (see
# sinkmap/__init__.py: set here too, since a test module may import NumPy before sinkmap).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

# No test reaches the internet: real-data adapters fail fast instead (tests serve files on 127.0.0.1
# and set their own base URLs where they need downloads).
os.environ.setdefault("SINKMAP_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]

#: Seconds each slow test module took on 2 cores (``pytest -n 3 --dist loadfile
#: --no-loadscope-reorder --durations=0``, 4 December 2026 at 571b318 on a fresh checkout, summed
#: per module; test_stages.py's 57 s less about 9 s that e5d9dc3 saved, test_cli.py's 11 s left
#: out since b36a3e8 made it 3 s). ``make test`` hands whole modules to the workers (``--dist
#: loadfile --no-loadscope-reorder``) in this order, the longest first, so that no long module
#: starts last and holds the run while the other workers are idle; the others follow in their
#: usual order.
MODULE_SECONDS = {
    "workflow/test_fault_matrix.py": 224,
    "workflow/test_slurm.py": 170,
    "workflow/test_aois.py": 86,
    "workflow/test_workflow.py": 80,
    "workflow/test_distributed.py": 53,
    "unit/test_stages.py": 48,
    "workflow/test_real_sources.py": 29,
    "unit/test_dynamics.py": 27,
    "workflow/test_state_update.py": 27,
    "workflow/test_notebook.py": 22,
    "workflow/test_faults.py": 21,
    "workflow/test_accuracy_assessment.py": 20,
    "unit/test_gain_loss_mc.py": 13,
    "unit/test_architecture.py": 12,
    "workflow/test_report.py": 10,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest modules first (:data:`MODULE_SECONDS`); the order within a module is kept."""
    tests = Path(__file__).resolve().parent

    def seconds(item: pytest.Item) -> int:
        try:
            return MODULE_SECONDS.get(item.path.relative_to(tests).as_posix(), 0)
        except ValueError:
            return 0

    items.sort(key=lambda item: -seconds(item))  # stable: each module's own order stays


@pytest.fixture(autouse=True)
def _python_environment_restored() -> Iterator[None]:
    """What Python reads at its start (``PYTHON*``) is, after each test, what it was before it.
    Distributed's Nanny, started in the test's process, sets ``PYTHONHASHSEED=6640`` in
    ``os.environ`` for its workers and leaves it there: every later workflow run of the test
    process would inherit it, and the job server would decline its runs and jobs (another seed
    than its own) into processes of their own."""
    before = {k: v for k, v in os.environ.items() if k.startswith("PYTHON")}
    yield
    for key in [k for k in os.environ if k.startswith("PYTHON") and k not in before]:
        del os.environ[key]
    os.environ.update(before)


@pytest.fixture(autouse=True)
def _dask_config_keeps_distributed(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves Dask's config without distributed's section (dask.config.set on a
    distributed.* key before distributed is imported deletes the section on exit) fails itself,
    instead of every later test in its process that computes with Dask."""
    yield
    if "distributed" in sys.modules:
        import dask

        assert "distributed" in dask.config.config, (
            f"{request.node.nodeid} removed distributed's section from dask.config: import "
            "distributed before dask.config.set on a distributed.* key"
        )


@pytest.fixture(scope="session", autouse=True)
def _one_job_server() -> Iterator[None]:
    """One warm job server for every workflow run of this test process (sinkmap.stages.jobserver):
    a run started from here finds it in the environment and forks its jobs from it, instead of
    starting a server of its own that imports every kind of job again (a run's jobs, its
    folders, environment and kill semantics are the same; tests/unit/test_jobserver.py checks
    the server on its own). ``SINKMAP_JOB_SERVER=0`` in the environment turns it off."""
    from sinkmap.stages import jobserver

    jobserver.start()
    yield
    jobserver.stop()  # only the server this process started


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
