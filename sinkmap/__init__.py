"""sinkmap: year-by-year land carbon stocks and sinks for a county, aligned with IPCC practice.

The package is usable without Snakemake: every stage of the workflow is a function here. Layers,
from the bottom up (each imports only from below; ``tests/unit/test_architecture.py`` checks it):

Base — values and names every layer shares
    :mod:`~sinkmap.constants` (physical and IPCC constants, units), :mod:`~sinkmap.errors` (one
    exception hierarchy), :mod:`~sinkmap.files` (atomic writes, checksums, CSV tables),
    :mod:`~sinkmap.contract` (output version, the account's columns), :mod:`~sinkmap.legends`
    (class legends, colours, IPCC land categories), :mod:`~sinkmap.grid` (the run's grid),
    :mod:`~sinkmap.paths` (every path and file name), :mod:`~sinkmap.config` (typed config)
Kernels and tables — pure maths and validated parameter tables
    :mod:`~sinkmap.carbon` (the carbon equations), :mod:`~sinkmap.tables` (pool tables, growth
    rates), :mod:`~sinkmap.allometry` (tree equations), :mod:`~sinkmap.field_plots` (field plot
    tables and the predictor at the plots), :mod:`~sinkmap.landscape` (the synthetic
    demo landscape), :mod:`~sinkmap.io` (chunked raster reads, atomic COG writes),
    :mod:`~sinkmap.aoi` (AOI and zone polygons)
Domain — the carbon state, models, the account, sources, alignment, provenance, publication
    :mod:`~sinkmap.dynamics` (the carbon state: land-use history, growth curves, transitions),
    :mod:`~sinkmap.crosswalk` (class crosswalks), :mod:`~sinkmap.regression` (calibration fits
    in the models' forms, cross-validation),
    :mod:`~sinkmap.models` (carbon models and their registry), :mod:`~sinkmap.account` (zones,
    tallies, change matrices, gain-loss, Monte Carlo, sample design and accuracy),
    :mod:`~sinkmap.sources` (dataset registry and adapters), :mod:`~sinkmap.align` (warping
    onto the grid), :mod:`~sinkmap.provenance` (tags, legend, synthetic flag, QGIS sidecars),
    :mod:`~sinkmap.publish` (STAC, report, quicklooks, QGIS styles, the account's JSON)
Stages — files in, files out: what the workflow's rules call
    :mod:`~sinkmap.stages` (inputs, stocks, interval, uncertainty, account, geopackage,
    accuracy),
    :mod:`~sinkmap.invest` (InVEST-style stock and change), :mod:`~sinkmap.calibrate`
Command line
    :mod:`~sinkmap.cli`
"""

import os

# NumPy asks Linux for transparent huge pages for every large array (madvise, from kernel 4.6) when
# it is imported. On the machines sinkmap is measured on (2-core VMs, THP "madvise") that made each
# numeric stage about twice as slow: each new array's first touch waited for huge pages (the
# demo's interval job 42-48 s with the advice, 22-24 s without; the whole demo 544 s -> 327 s;
# bench/README.md, "Huge pages"). So a process that imports sinkmap before NumPy runs without the
# advice, and so do the processes it starts (the workflow's jobs, Dask workers);
# NUMPY_MADVISE_HUGEPAGE=1 in the environment keeps NumPy's default (compare with
# bench/bench_demo.py on your own machine).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

from sinkmap.contract import OUTPUT_VERSION  # noqa: E402
from sinkmap.errors import SinkmapError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "MALLOC_SETTINGS",
    "OUTPUT_VERSION",
    "SinkmapError",
    "__version__",
    "malloc_settings",
    "reuse_freed_memory",
]

#: glibc malloc settings (mallopt(3); as environment variables for processes sinkmap starts)
#: under which freed memory is kept for reuse: see :func:`reuse_freed_memory`.
MALLOC_SETTINGS: dict[str, int] = {
    "MALLOC_ARENA_MAX": 1,
    "MALLOC_MMAP_MAX_": 0,
    "MALLOC_TRIM_THRESHOLD_": 2**31 - 1,
}


def malloc_settings() -> dict[str, str]:
    """:data:`MALLOC_SETTINGS` as environment variables, or none when the user set one of them
    (theirs apply) or ``SINKMAP_MALLOC=default`` (glibc's own behaviour)."""
    if os.environ.get("SINKMAP_MALLOC", "").strip().lower() == "default" or any(
        name in os.environ for name in MALLOC_SETTINGS
    ):
        return {}
    return {name: str(value) for name, value in MALLOC_SETTINGS.items()}


def reuse_freed_memory() -> bool:
    """Make this process's malloc (glibc) keep the memory a raster chunk frees for the next one.

    A stage allocates and frees arrays of tens of MB per chunk. By default glibc maps each one
    from the kernel (``mmap``) and hands it back when freed, so every array's pages are zeroed by
    the kernel again: about a third of the demo interval's CPU time (10 of 33 s, all in the
    kernel). One heap (``M_ARENA_MAX`` 1), no ``mmap`` for large blocks (``M_MMAP_MAX`` 0) and no
    trimming below 2 GB of free space (``M_TRIM_THRESHOLD``) reuse the memory instead
    (bench/README.md, "Freed memory"). Memory stays bounded by the chunks in flight: what is
    freed is reused, not added to.

    Call it before the stage starts its threads (:func:`sinkmap.stages.step` and the command
    line do; the local Dask cluster's workers start with :func:`malloc_settings`). Returns
    whether it applied: not on other C libraries (musl, macOS, Windows), nor when
    :func:`malloc_settings` is empty.
    """
    if not malloc_settings():
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    option = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_MAX_": -4, "MALLOC_TRIM_THRESHOLD_": -1}
    return all(mallopt(option[name], value) == 1 for name, value in MALLOC_SETTINGS.items())
