"""Where a job computes its dask graphs: its own threads, a local cluster, or a Dask scheduler.

The setting is the config's ``dask`` key (:class:`sinkmap.config.DaskConfig`), overridden by the
environment variables ``SINKMAP_DASK_SCHEDULER`` (``threads``, ``local`` or an address such as
``tcp://10.0.0.5:8786``) and ``SINKMAP_DASK_WORKERS`` (worker processes of a ``local`` cluster).
:func:`dask_cluster` makes the distributed client the default for its duration, and
:func:`sinkmap.io.dask_scheduler` then computes on it. Every workflow job enters it through
:func:`sinkmap.stages.step`; library users wrap their calls in it.

On a cluster, tasks read their windows from files by path and write each block of a published
layer to a scratch file beside the layer (:func:`sinkmap.io.write_layers`): rasters never travel
through the scheduler, only small values (tallies, sums) do. Paths are relative to the workflow's
folder, so a scheduler's workers are moved into the job's folder
(:class:`sinkmap.workers.WorkingDirectory`):
workers on other nodes need it mounted at the same path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from sinkmap import malloc_settings
from sinkmap.config import DaskConfig
from sinkmap.errors import ConfigError, format_validation_error

log = logging.getLogger(__name__)

ENV_SCHEDULER = "SINKMAP_DASK_SCHEDULER"
ENV_WORKERS = "SINKMAP_DASK_WORKERS"


def resolve(settings: DaskConfig | dict[str, Any] | None = None) -> DaskConfig:
    """The settings with the environment's overrides applied (and checked like the config)."""
    if settings is None:
        settings = DaskConfig()
    data = settings.model_dump() if isinstance(settings, DaskConfig) else dict(settings)
    if os.environ.get(ENV_SCHEDULER):
        data["scheduler"] = os.environ[ENV_SCHEDULER]
    if os.environ.get(ENV_WORKERS):
        data["workers"] = os.environ[ENV_WORKERS]
    try:
        return DaskConfig.model_validate(data)
    except ValidationError as exc:
        where = f"dask settings ({ENV_SCHEDULER}/{ENV_WORKERS} or the config's dask key)"
        raise ConfigError(format_validation_error(exc, where)) from None


@contextlib.contextmanager
def dask_cluster(
    settings: DaskConfig | dict[str, Any] | None = None, *, threads: int | None = None
) -> Iterator[Any]:
    """Compute on the configured scheduler inside the block; yields the distributed client, or
    None for ``threads`` (the job's own threaded scheduler, the default).

    ``local`` starts ``workers`` (default ``threads``, else 2) worker processes of one thread each
    and stops them at the end; an address connects to a running scheduler (its workers are
    left running). A scheduler that cannot be reached is a :class:`ConfigError`.
    """
    s = resolve(settings)
    if s.scheduler == "threads":
        yield None
        return
    import dask  # here: a job on its own threads (the default) starts without it
    from distributed import Client, LocalCluster

    if s.scheduler == "local":
        n = s.workers or threads or 2
        # the workers' malloc keeps freed chunks for reuse (sinkmap.reuse_freed_memory): set
        # before they are spawned, over distributed's own MALLOC_TRIM_THRESHOLD_
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        with (
            _main_not_rerun(),
            dask.config.set({"distributed.nanny.pre-spawn-environ": environ | malloc_settings()}),
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            log.info(
                "dask: local cluster of %d worker processes at %s", n, cluster.scheduler_address
            )
            yield client
        return
    try:  # waits distributed.comm.timeouts.connect (dask config; 30 s by default)
        client = Client(s.scheduler)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {s.scheduler} ({exc}); start it (dask scheduler; "
            "dask worker <address>) or set dask.scheduler (or SINKMAP_DASK_SCHEDULER) to threads"
        ) from None
    from sinkmap.workers import WorkingDirectory

    with client:
        client.register_plugin(WorkingDirectory(os.getcwd()), name="sinkmap-working-directory")
        n = len(client.scheduler_info().get("workers", {}))
        log.info("dask: scheduler %s with %d workers", s.scheduler, n)
        yield client


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Worker processes are spawned, and a spawned process re-runs the parent's main file unless it
    is guarded by ``if __name__ == "__main__"`` — a Snakemake script is not, so each worker would
    run the whole job again. Without ``__main__.__file__`` multiprocessing does not re-run it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if main is None or path is None or spec is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path
