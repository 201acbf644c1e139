"""The dask settings: the config's ``dask`` key and its environment overrides."""

from __future__ import annotations

import pytest

from sinkmap.cluster import ENV_SCHEDULER, ENV_WORKERS, dask_cluster, resolve
from sinkmap.config import DaskConfig
from sinkmap.errors import ConfigError


def test_default_is_the_jobs_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SCHEDULER, raising=False)
    monkeypatch.delenv(ENV_WORKERS, raising=False)
    assert resolve(None) == DaskConfig(scheduler="threads", workers=None)
    with dask_cluster(None) as client:
        assert client is None


def test_environment_overrides_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SCHEDULER, "tcp://10.0.0.5:8786")
    monkeypatch.setenv(ENV_WORKERS, "3")
    s = resolve({"scheduler": "local", "workers": 1})
    assert (s.scheduler, s.workers) == ("tcp://10.0.0.5:8786", 3)


@pytest.mark.parametrize("value", ["thread", "10.0.0.5:8786", "tcp://", "slurm"])
def test_a_scheduler_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_SCHEDULER, value)
    with pytest.raises(ConfigError, match=ENV_SCHEDULER):
        resolve(None)


def test_an_unreachable_scheduler_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SCHEDULER, raising=False)
    import dask
    import distributed  # noqa: F401

    # distributed is imported first, for its config defaults: dask.config.set on a section that
    # is not there yet deletes the whole section on exit, and every later compute in this test
    # process then fails on a missing distributed.* key (sinkmap imports distributed lazily)
    # port 9 (discard) on this machine: nothing listens there
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "2s"}),
        pytest.raises(ConfigError, match="cannot reach the Dask scheduler.*threads"),
        dask_cluster({"scheduler": "tcp://127.0.0.1:9"}),
    ):
        pass


def test_a_worker_without_the_workflow_folder_names_the_fix(tmp_path) -> None:
    """A scheduler's workers are moved into the job's folder (paths are relative to it); a worker
    on a node where that folder is not mounted stops the job with what to do."""
    import os
    from types import SimpleNamespace

    from sinkmap.workers import WorkingDirectory

    here = os.getcwd()
    try:
        WorkingDirectory(str(tmp_path)).setup(SimpleNamespace(address="tcp://w:1"))
        assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(here)
    with pytest.raises(ConfigError, match="tcp://w:1 cannot enter the workflow folder.*same path"):
        WorkingDirectory(str(tmp_path / "absent")).setup(SimpleNamespace(address="tcp://w:1"))


def test_local_cluster_workers_keep_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local cluster's worker processes start with the malloc settings of the stages
    (sinkmap.MALLOC_SETTINGS, over distributed's own MALLOC_TRIM_THRESHOLD_); a user's own
    MALLOC_ variable leaves distributed's."""
    import os

    from sinkmap import MALLOC_SETTINGS

    def worker_env() -> dict[str, str | None]:
        with dask_cluster({"scheduler": "local", "workers": 1}) as client:
            (env,) = client.run(lambda: {k: os.environ.get(k) for k in MALLOC_SETTINGS}).values()
        return env

    def clear() -> None:  # distributed sets them in this process too, to spawn the workers
        for name in (*MALLOC_SETTINGS, "SINKMAP_MALLOC"):
            monkeypatch.delenv(name, raising=False)

    clear()
    assert worker_env() == {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0"} | {
        "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)
    }
    clear()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert worker_env()["MALLOC_TRIM_THRESHOLD_"] == "65536"  # distributed's default
