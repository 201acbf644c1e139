"""The stages of a run, each a function from files to files; the workflow's rules call these.

- :mod:`sinkmap.stages.context` — a run's configuration and what every stage derives from it once
  (registry, model, legend, synthetic flag, AOI, zones, provenance tags); :func:`validate_run`
- :mod:`sinkmap.stages.inputs` — grid from the AOI, fetch (rules ``grid``, ``fetch``)
- :mod:`sinkmap.stages.align` — inputs aligned onto the grid (rule ``align``)
- :mod:`sinkmap.stages.stocks` — a year's pools and stocks, their summaries and tallies
- :mod:`sinkmap.stages.interval` — an interval's sinks by both methods, change matrices, tallies
- :mod:`sinkmap.stages.uncertainty` — a year's Monte Carlo totals (and per-pixel SD)
- :mod:`sinkmap.stages.gain_loss_mc` — an interval's gain-loss Monte Carlo (models without a state)
- :mod:`sinkmap.stages.runlock` — the locks of a killed run, recognised and cleared
- :mod:`sinkmap.stages.account` — the carbon account table of all years
- :mod:`sinkmap.stages.geopackage` — a year's GeoPackage
- :mod:`sinkmap.stages.accuracy` — an interval's reference sample and its assessment
  (``sinkmap sample``, ``sinkmap assess``)

Every stage validates what it reads, computes chunk by chunk with dask, and publishes its outputs
atomically (nothing appears under a final name until it is complete). Output paths are arguments:
the rules take them from :class:`sinkmap.paths.Paths`, so a stage never builds one itself.
:func:`step` sends a stage's log to its log file and turns a failure into one clear line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from sinkmap import reuse_freed_memory
from sinkmap.errors import SinkmapError
from sinkmap.stages import jobserver


def _in_workflow_script() -> bool:
    """Whether this process runs a Snakemake ``script:`` (its preamble defines ``snakemake`` in
    the script's module)."""
    return hasattr(sys.modules.get("__main__"), "snakemake")


def _job_cluster() -> contextlib.AbstractContextManager[object]:
    """In a workflow script, the job's dask scheduler from the config's ``dask`` key and the
    environment (:func:`sinkmap.cluster.dask_cluster`); elsewhere the caller's choice stands."""
    sm = getattr(sys.modules.get("__main__"), "snakemake", None)
    if sm is None:
        return contextlib.nullcontext()
    from sinkmap.cluster import dask_cluster

    return dask_cluster(dict(sm.config).get("dask"), threads=sm.threads)


@contextlib.contextmanager
def step(log_path: str | Path | None, what: str) -> Iterator[logging.Logger]:
    """Send sinkmap's logging (and warnings) to ``log_path`` for the duration of one step.

    A :class:`SinkmapError` is logged as ``FAILED <what>: <message>`` (the message says how to fix
    it) and re-raised, or, in a workflow script, ends the job with exit status 1 and no Python
    traceback (the message is the whole story; Snakemake then names the rule and its log); any
    other exception is logged with its traceback.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log = logging.getLogger("sinkmap")
    log.info("start: %s", what)
    if jobserver.forked():
        log.info(
            "forked from the run's job server (%s=0 starts each job on its own)", jobserver.ENV
        )
    if reuse_freed_memory():
        log.info("malloc keeps freed memory for reuse (SINKMAP_MALLOC=default leaves glibc's)")
    try:
        with _job_cluster():
            yield log
    except SinkmapError as exc:
        log.error("FAILED %s: %s", what, exc)
        if _in_workflow_script():
            raise SystemExit(1) from None
        raise
    except Exception:
        log.error("FAILED %s (unexpected error, please report):\n%s", what, traceback.format_exc())
        raise
    else:
        log.info("done: %s", what)
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
