"""Compiled per-pixel kernels: one pass over the pixels where NumPy makes one pass per operation.

The chain's time over its I/O floor is NumPy's many elementwise passes over each chunk, not any
one of them (bench/README.md, "Where the cores go"). The two hottest parts, the carbon parts of a
state (:func:`sinkmap.dynamics.pool_parts`) and the weighted sums of the tallies
(:func:`sinkmap.account.zones.weighted_sums`), run here as Numba kernels that make the same
operations in the same order, one pixel at a time: the results equal the NumPy code's bit for bit
(no fast-math, so no reassociation or fused multiply-add; tests/unit/test_kernels.py checks it).

The NumPy code stays as the readable reference, next to the function it implements. It also
serves every case a kernel reports as not its own (a code outside its lookup tables, a stratum
without a table row, a class without pool values): the reference then runs and raises its error,
which names the fix. ``SINKMAP_KERNELS=numpy`` runs the references everywhere (to compare, or on
a platform without Numba; without Numba installed that is what happens).

The kernels release the GIL (Dask's threads run them side by side) and are cached on disk by
Numba (``__pycache__`` beside this file, else ``NUMBA_CACHE_DIR`` or the user's cache): the first
run on a machine compiles them (about a second each), later processes load them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np

#: The environment variable that selects the NumPy references (``numpy``) over the kernels.
ENV = "SINKMAP_KERNELS"


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """Whether the compiled kernels run: Numba installed (a dependency of sinkmap; without it, on
    a platform without its wheels, the references run) and ``SINKMAP_KERNELS`` not ``numpy``."""
    return os.environ.get(ENV, "").strip().lower() != "numpy" and _numba_installed()


@functools.cache
def _compiled(fn: Callable[..., Any]) -> Any:
    """``fn`` compiled (on its first call in a process: Numba, and the SciPy it imports, are
    imported only by the jobs that run a kernel)."""
    import numba

    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)


#: What a kernel returns when a pixel is not its own case: the reference then runs and raises.
OK, OUTSIDE = 0, 1


def _weighted_sum(key, cell, weight, layer, total):
    """total[key[i]] += float64(layer[cell[i]]) × weight[i], entry by entry in order (the order
    and rounding of ``np.bincount(key, weights=layer[cell] * weight)``)."""
    n = total.size
    m = layer.size
    for i in range(key.size):
        k = key[i]
        c = cell[i]
        if k < 0 or k >= n or c < 0 or c >= m:
            return OUTSIDE
        total[k] += np.float64(layer[c]) * weight[i]
    return OK


def weighted_sum(
    key: np.ndarray, cell: np.ndarray, weight: np.ndarray, layer: np.ndarray, n: int
) -> np.ndarray | None:
    """Σ layer[cell] × weight per key (0 … n − 1) of float64 ``layer`` or float32 ``layer`` (1-D,
    contiguous); None where a key or cell is out of range (the caller's reference then says so)."""
    total = np.zeros(n)
    if _compiled(_weighted_sum)(key, cell, weight, layer, total) != OK:
        return None
    return total


def _codes_present(layer, cell, seen):
    """seen[code] = True for the code of ``layer`` at each entry's cell; OUTSIDE at a code that is
    not a whole number 0 … 65535 read as int64 (NaN included) or a cell out of range."""
    m = layer.size
    for i in range(cell.size):
        c = cell[i]
        if c < 0 or c >= m:
            return OUTSIDE
        v = layer[c]
        if not (v >= 0 and v <= 65535):
            return OUTSIDE
        seen[np.int64(v)] = True
    return OK


def codes_present(layer: np.ndarray, cell: np.ndarray) -> np.ndarray | None:
    """The codes (int64, ascending) of an integer or float code ``layer`` (1-D) at ``cell``; None
    where one is out of 0 … 65535 (the caller's reference then says so)."""
    seen = np.zeros(0x10000, np.bool_)
    if _compiled(_codes_present)(layer, cell, seen) != OK:
        return None
    return np.flatnonzero(seen)


def _add_key(key, layer, cell, rank, bins):
    for i in range(key.size):
        key[i] = key[i] * bins + rank[np.int64(layer[cell[i]])]


def add_key(
    key: np.ndarray, layer: np.ndarray, cell: np.ndarray, rank: np.ndarray, bins: int
) -> None:
    """key ← key × bins + rank[layer[cell]], in place, entry by entry (the codes checked first by
    :func:`codes_present`: ``rank`` covers each)."""
    _compiled(_add_key)(key, layer, cell, rank, bins)


def _pool_parts(
    stratum,
    category,
    age,
    ysc,
    previous,
    soil_start,
    lc,
    zone,
    row_table,
    woody,
    agb_by_age,
    root_shoot,
    mature_agb,
    dead_cf,
    litter,
    above,
    below,
    dead,
    soil,
    numbers,
    codes,
    out,
):
    """:func:`sinkmap.dynamics.pool_parts_reference`, pixel by pixel, into ``out`` (7, n)."""
    cf, lcf, agb_scale, soil_scale = numbers[0], numbers[1], numbers[2], numbers[3]
    years, shrub_class, tree_class, shrub, forest = codes[0], codes[1], codes[2], codes[3], codes[4]
    top = agb_by_age.shape[1] - 1
    n_lut = above.size
    n_st, n_zone = row_table.shape
    for i in range(stratum.size):
        s = stratum[i]
        if s <= 0:
            for k in range(7):
                out[k, i] = np.nan
            continue
        c = lc[i]
        if s >= n_st or c < 0 or c >= n_lut:
            return OUTSIDE
        w = woody[s]
        row = 0
        if w:
            z = zone[i]
            if z < 0 or z >= n_zone:
                return OUTSIDE
            row = row_table[s, z]
            if row < 0:
                return OUTSIDE
        y = ysc[i]
        a = min(max(age[i], 0), top)
        agb = agb_by_age[row, a] * agb_scale if w else 0.0
        converted_now = y == 0 and previous[i] > 0
        open_above = 0.0 if converted_now else above[c]
        open_below = 0.0 if converted_now else below[c]
        open_dead = dead[c]
        mature = mature_agb[row] * agb_scale
        dom_ref = mature * (dead_cf[row] + litter[row] * lcf)
        p = previous[i]
        built_up = min(y, years) / years if (p != forest and p > 0 and y < years) else 1.0
        soil_class = shrub_class if s == shrub else c
        if w and s != shrub:
            soil_class = tree_class
        if soil_class < 0 or soil_class >= n_lut:
            return OUTSIDE
        eq = soil[soil_class] * soil_scale
        if np.isnan(eq) or (not w and np.isnan(open_above + open_below + open_dead + eq)):
            return OUTSIDE
        start = soil_start[i] * soil_scale
        out[0, i] = agb * cf
        out[1, i] = agb * root_shoot[row] * cf
        out[2, i] = dom_ref * built_up if (w and category[i] == forest) else 0.0
        out[3, i] = 0.0 if w else open_above
        out[4, i] = 0.0 if w else open_below
        out[5, i] = 0.0 if w else open_dead
        out[6, i] = start + (eq - start) * min(y, years) / years
    return OK


def pool_parts(
    arrays: tuple[np.ndarray, ...], tables: tuple[np.ndarray, ...], n: int
) -> np.ndarray | None:
    """The (7, n) parts of :func:`_pool_parts` from the state's and the year's ``arrays`` and the
    lookup ``tables`` (in its argument order); None where a pixel is not the kernel's case."""
    out = np.empty((7, n))
    if _compiled(_pool_parts)(*arrays, *tables, out) != OK:
        return None
    return out


#: The dtypes of the layers the stages give the kernels (codes; values).
_CODE_DTYPES = ("uint8", "uint16", "int64", "float32")
_VALUE_DTYPES = ("float32", "float64")


def warm() -> None:
    """Load every kernel for the argument types the stages call it with (compiling it where the
    disk cache has none): about a second, once per process. The job server calls it before it
    forks jobs, which then start with the kernels loaded, not each paying for it again."""
    if not _numba_installed():  # pragma: no cover
        return
    cell = np.zeros(1, np.int64)
    for dtype in _CODE_DTYPES:
        layer = np.zeros(1, dtype)
        codes_present(layer, cell)
        add_key(np.zeros(1, np.int64), layer, cell, np.zeros(1, np.int64), 1)
    for dtype in _VALUE_DTYPES:
        weighted_sum(cell, cell, np.zeros(1), np.zeros(1, dtype), 1)
    ints = np.zeros(1, np.int64)
    row_table = np.zeros((1, 1), np.int64)
    row_table.setflags(write=False)  # as StrataTable.row_table
    floats = np.zeros(1)
    tables = (
        row_table,
        np.zeros(1, np.bool_),
        np.zeros((1, 1)),
        *(floats,) * 8,
        np.ones(4),
        np.ones(5, np.int64),
    )
    pool_parts((ints, ints, ints, ints, ints, floats, ints, ints), tables, 1)
