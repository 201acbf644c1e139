"""Compiled per-pixel kernels: one pass over the pixels where NumPy makes one pass per operation.

The chain's time over its I/O floor is NumPy's many elementwise passes over each chunk, not any
one of them (bench/README.md, "Where the cores go"). The hottest parts run here as Numba kernels
(:mod:`sinkmap.kernels.compiled`): the first year's carbon state
(:func:`sinkmap.dynamics.initial_state`, :func:`sinkmap.stages.stocks.window_uniform`), a year's
step of the carbon state (:func:`sinkmap.dynamics.advance`), the carbon parts of a state
(:func:`sinkmap.dynamics.pool_parts`), the tallies' keys and weighted sums
(:func:`sinkmap.account.zones.group_sums`, :func:`~sinkmap.account.zones.weighted_sums`) and their
entries (:func:`~sinkmap.account.zones.membership`), the state as read and as written
(:meth:`sinkmap.dynamics.State.from_arrays`, :meth:`~sinkmap.dynamics.State.stack`), and the
gain-loss and flux layers (:func:`sinkmap.carbon.step_fluxes`, :func:`sinkmap.carbon.net_flux`)
and the interval's stock-difference sums (``sinkmap.stages.interval._stock_change_sums``).

A year's tallies of a tile and the interval's are each one or two passes over its pixels
(:func:`class_tally`; :func:`state_codes`, :func:`state_tally`; :func:`change_tally`): the codes
present, then every sum per zone and key, where the chain of ``membership`` and ``group_sums``
(their references, ``_stock_tile_reference``, ``_state_tile_reference`` and
``_change_tile_reference`` in the stages) makes the tile's entries, then passes over them per
key and per value.

The stocks stage's layers of a chunk of the carbon state come from one kernel per year
(:func:`sinkmap.state_layers.initial_layers` in the first year, :func:`~sinkmap.state_layers.advance_layers`
after): it reads the inputs and last year's state in their files' dtypes and writes the pools,
the state and the step's fluxes as the float32 rows the writer takes, pixel by pixel, through the
same per-pixel functions as the kernels above (inlined, ``_pixel``). Its reference is the chain of
those kernels' dispatchers (``DynamicsModel.first_layers_reference``,
``step_layers_reference``), which it equals bit for bit; it leaves the int64 and float64 copies of
the chunk that chain makes (a 2048² tile's step 120 → 52 ns a pixel; at 105 Mpx the two stocks
phases 58.2 and 53.8 s → 48.6 and 49.9 s, peak memory 2.9 → 1.6 GB; bench/README.md, "one pass
per chunk"). A pixel whose inputs are the pixel before's takes its rows, into the stage's stack
of layers apart in the cache (:func:`sinkmap.stacks.stack_of_rows`): the step 52.6 → 13.8 ns a
pixel ("the tallies in one pass, and layers apart in the cache"). Each kernel makes the same operations in the same order as the NumPy code, one pixel at a time: the results
equal the NumPy code's bit for bit (no fast-math, so no reassociation or fused multiply-add;
tests/unit/test_kernels.py checks it on the demo's landscape and on random states that reach
every branch).

The NumPy code stays as the readable reference, next to the function it implements
(:func:`~sinkmap.dynamics.initial_state_reference`, :func:`~sinkmap.dynamics.advance_reference`,
:func:`~sinkmap.dynamics.pool_parts_reference`, ``np.bincount``, ``_combined_keys_reference``,
``_stock_change_sums_reference``, :func:`~sinkmap.account.zones.membership_reference`,
``State.from_arrays_reference``, ``State.stack_reference``,
``co2e_flux(stock_difference(...))``, the expressions of
``step_fluxes``, ``pixel_uniform``). It also serves every case a kernel reports as not
its own (a code outside its lookup tables, a stratum without a table row, a class without pool
values or land category, a pixel whose state starts afresh): the reference then runs and raises
its error, which names the fix; so does an input of a dtype or shape the wrappers do not pass
to a kernel. ``SINKMAP_KERNELS=numpy`` runs the references everywhere (to compare; without Numba,
or where the kernels' module cannot be imported, that is what happens, with a warning).

The kernels make NumPy's values, not its floating-point warnings: a cast that overflows or
quiets a signalling NaN warns in the reference (and raises under ``np.errstate(all="raise")``)
and not in the kernel, which gives the same bits.

The kernels release the GIL (Dask's threads run them side by side) and are cached on disk by
Numba (``__pycache__`` beside :mod:`~sinkmap.kernels.compiled` and :mod:`~sinkmap.kernels.sums`, else ``NUMBA_CACHE_DIR`` or the
user's cache): the first run on a machine compiles them (seconds), later processes load them
(0.4–0.6 s for all, :func:`warm`), and the job server loads them once for all its jobs.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger("sinkmap")

#: The environment variable that selects the NumPy references (``numpy``) over the kernels.
ENV = "SINKMAP_KERNELS"


def enabled() -> bool:
    """Whether the compiled kernels run: ``SINKMAP_KERNELS`` is not ``numpy``, and they load."""
    return os.environ.get(ENV, "").strip().lower() != "numpy" and _impl() is not None


@functools.cache
def _impl() -> Any:
    """The compiled module, or None where it cannot load (no Numba: a dependency of sinkmap, but
    a platform may lack its wheels). Imported on a kernel's first use: Numba, and the SciPy it
    imports, only in the processes that run a kernel."""
    try:
        from sinkmap.kernels import compiled
    except Exception as exc:  # the references run instead, slower, the same numbers
        log.warning("compiled kernels unavailable (%s); using the NumPy references", exc)
        return None
    return compiled


def weighted_sum(
    key: np.ndarray, cell: np.ndarray, weight: np.ndarray, layer: np.ndarray, n: int
) -> np.ndarray | None:
    """Σ layer[cell] × weight per key (0 … n − 1) of a float32 or float64 ``layer`` (1-D,
    contiguous), entry by entry in order; None where a key or cell is out of range (the caller's
    reference then says so)."""
    k = _impl()
    total = np.zeros(n)
    if k.weighted_sum(key, cell, weight, layer, total) != k.OK:
        return None
    return total


def weighted_sum4(
    key: np.ndarray, cell: np.ndarray, weight: np.ndarray, layers: list[np.ndarray], n: int
) -> np.ndarray | None:
    """:func:`weighted_sum` of four layers of one dtype (float32 or float64) and size, in one pass
    over the entries (a fourth of the memory traffic of the entries): (4, n); None where a key or
    cell is out of range."""
    k = _impl()
    total = np.zeros((4, n))
    if k.weighted_sum4(key, cell, weight, *layers, total) != k.OK:
        return None
    return total


def net_flux(start: np.ndarray, end: np.ndarray, years: int, co2_per_c: float) -> np.ndarray:
    """The float32 net CO2e flux of each pixel between two float32 stock layers of one size
    (1-D, contiguous) over ``years``: ``co2e_flux(stock_difference(start, end, …))`` in one
    pass."""
    out = np.empty(start.size, np.float32)
    _impl().net_flux(start, end, np.int64(years), float(co2_per_c), out)
    return out


def step_fluxes(gains: np.ndarray, losses: np.ndarray, years: int, co2_per_c: float) -> np.ndarray:
    """The float32 (3, n) net, removals and emissions of float64 gains and losses of one size
    (1-D, contiguous) over ``years``: ``carbon.step_fluxes`` in one pass."""
    out = np.empty((3, gains.size), np.float32)
    _impl().step_fluxes(gains, losses, np.int64(years), float(co2_per_c), out)
    return out


def window_uniform(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """``stocks.pixel_uniform`` of every pixel of the grid window rows r0 … r1 − 1, columns
    c0 … c1 − 1 (float64), without the rows' and columns' arrays."""
    out = np.empty((r1 - r0, c1 - c0))
    _impl().window_uniform(np.int64(r0), np.int64(c0), out)
    return out


def change_sums(
    key: np.ndarray,
    cell: np.ndarray,
    weight: np.ndarray,
    start: list[np.ndarray],
    end: list[np.ndarray],
    factor: float,
    n: int,
) -> np.ndarray | None:
    """Per key 0 … n − 1, for each of the four pools of ``start`` and ``end`` (eight layers of
    one dtype, float32 or float64, and size; 1-D, contiguous) and their float64 sum: Σ start ×
    weight, Σ end × weight, and Σ of the emissions (≥ 0) and removals (≤ 0) parts of
    (start − end) × factor, × weight: (20, n), pool by pool; in one pass over the entries. None
    where a key or cell is out of range."""
    k = _impl()
    total = np.zeros((20, n))
    if k.change_sums(key, cell, weight, *start, *end, float(factor), total) != k.OK:
        return None
    return total


def count_and_sum(
    key: np.ndarray, weight: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The entries (int64) and Σ weight (float64) per key 0 … n − 1, in one pass; None where a
    key is out of range."""
    k = _impl()
    count, total = np.zeros(n, np.int64), np.zeros(n)
    if k.count_and_sum(key, weight, count, total) != k.OK:
        return None
    return count, total


def codes_present(layer: np.ndarray, cell: np.ndarray) -> np.ndarray | None:
    """The codes (int64, ascending) of an integer or float code ``layer`` (1-D) at ``cell``; None
    where one is out of 0 … 65535 (the caller's reference then says so)."""
    k = _impl()
    seen = np.zeros(0x10000, np.bool_)
    if k.codes_present(layer, cell, seen) != k.OK:
        return None
    return np.flatnonzero(seen)


def add_key(
    key: np.ndarray, layer: np.ndarray, cell: np.ndarray, rank: np.ndarray, bins: int
) -> None:
    """key ← key × bins + rank[layer[cell]], in place, entry by entry (the codes checked first by
    :func:`codes_present`: ``rank`` covers each)."""
    _impl().add_key(key, layer, cell, rank, bins)


def pool_parts(
    arrays: tuple[np.ndarray, ...], tables: tuple[np.ndarray, ...], n: int
) -> np.ndarray | None:
    """The (7, n) parts of a state's pixels (``arrays``: stratum, category, age, years since
    conversion, previous category, soil start, land cover, ecozone; 1-D) with the pool
    ``tables`` (:attr:`sinkmap.dynamics.Dynamics.kernel_tables`); None where a pixel is not the
    kernel's case."""
    k = _impl()
    out = np.empty((7, n))
    if k.pool_parts(*arrays, tables, out) != k.OK:
        return None
    return out


def advance(
    arrays: tuple[np.ndarray, ...],
    year: int,
    tables: tuple[np.ndarray, ...],
    advance_tables: tuple[np.ndarray, ...],
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One year's step of n pixels (``arrays``: the state's seven layers in the order of
    :class:`sinkmap.dynamics.State`, the land cover before and now, forest type, ecozone, loss
    year; 1-D): the new state's integer layers (6, n) and soil start, the gains, the losses and
    the pools (4, n); None where a pixel is not the kernel's case."""
    k = _impl()
    new_int = np.empty((6, n), np.int64)
    new_soil, gains, losses = np.empty(n), np.empty(n), np.empty(n)
    pools = np.empty((4, n))
    args = (*arrays, np.int64(year), tables, advance_tables)
    if k.advance(*args, new_int, new_soil, gains, losses, pools, np.empty((7, 2))) != k.OK:
        return None
    return new_int, new_soil, gains, losses, pools


def initial(
    arrays: tuple[np.ndarray, ...],
    year: int,
    tables: tuple[np.ndarray, ...],
    advance_tables: tuple[np.ndarray, ...],
    initial_tables: tuple[np.ndarray, ...],
    n: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The first year's state of n pixels (``arrays``: land cover, forest type, planting year
    (0: none), ecozone (int64) and position (float64); 1-D): its integer layers (6, n) and soil
    start; None where a pixel is not the kernel's case."""
    k = _impl()
    out_int, out_soil = np.empty((6, n), np.int64), np.empty(n)
    args = (*arrays, np.int64(year), tables, advance_tables, initial_tables, out_int, out_soil)
    if k.initial(*args) != k.OK:
        return None
    return out_int, out_soil


def first_layers(
    arrays: tuple[np.ndarray, ...],
    flags: np.ndarray,
    year: int,
    tables: tuple[tuple[np.ndarray, ...], ...],
    nodata: np.ndarray,
    out: np.ndarray,
) -> bool:
    """The first year's pools, state and (given 14 rows) NaN step of n pixels into ``out``
    (float32, (11 or 14, n)) in one pass (``arrays``: land cover, forest type, planting year,
    ecozone as read, 1-D (0 for a role the model does not have), and the position, float64;
    ``flags``: int64, see the kernel;
    ``tables``: the pool, advance and initial tables); False where a pixel is not the kernel's
    case."""
    k = _impl()
    scratch = (np.empty((6, 1), np.int64), np.empty(1), np.empty((7, 2)))
    args = (*arrays, flags, np.int64(year), *tables, nodata, _NAN, out, *scratch)
    return bool(k.first_layers(*args) == k.OK)


def step_layers(
    arrays: tuple[np.ndarray, ...],
    flags: np.ndarray,
    year: int,
    years: int,
    co2_per_c: float,
    tables: tuple[tuple[np.ndarray, ...], ...],
    nodata: np.ndarray,
    out: np.ndarray,
) -> bool:
    """One year's step of n pixels into ``out`` (float32, (11 or 14, n): pools, state and, given
    14 rows, the step's fluxes over ``years``) in one pass (``arrays``: the state's seven layers
    in their file dtypes, the land cover before and now, forest type, ecozone, loss-year code;
    1-D, 0 for a role the model does not have; ``flags``: int64, see the kernel; ``tables``: the pool and advance tables); False where
    a pixel is not the kernel's case."""
    k = _impl()
    scratch = (
        np.empty((6, 1), np.int64),
        np.empty(1),
        np.empty(1),
        np.empty(1),
        np.empty((4, 1)),
        np.empty((7, 2)),
    )
    soil_bits = arrays[6].view(f"u{arrays[6].dtype.itemsize}")  # compared bit for bit
    args = (*arrays, soil_bits, flags, np.int64(year), np.int64(years), float(co2_per_c), *tables)
    return bool(k.step_layers(*args, nodata, _NAN, out, *scratch) == k.OK)


#: A NaN the kernels read at run time (the NumPy code's ``np.nan``), which LLVM cannot fold.
_NAN = np.array([np.nan])


def state_from_layers(layers: tuple[np.ndarray, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    """A state's seven layers as read (1-D: six of integer codes, then the float soil start) as
    the state's integer layers (6, n) int64 and soil start float64, 0 and NaN outside the data."""
    ints, soil = np.empty((6, n), np.int64), np.empty(n)
    _impl().state_from_layers(*layers, ints, soil)
    return ints, soil


def state_stack(layers: tuple[np.ndarray, ...], nodata: np.ndarray, out: np.ndarray) -> None:
    """A state's seven layers (1-D: six int64, then the float64 soil start) as float32 rows of
    ``out`` (7, n), each layer's ``nodata`` (float32, 7) outside the data."""
    _impl().state_stack(*layers, nodata, out)


def valid_cells(valid: np.ndarray, area: np.ndarray, cell: np.ndarray, weight: np.ndarray) -> None:
    """The valid cells of a tile (``valid`` bool, 1-D) in order into ``cell`` (int64) and their
    ``area`` (float64, 1-D, the same size) into ``weight``: ``np.flatnonzero(valid)`` and
    ``area`` at it; ``cell`` and ``weight`` sized to the count of valid cells."""
    k = _impl()
    if k.valid_cells(valid, area, cell, weight) != k.OK:
        raise ValueError(f"valid_cells: the tile does not have {cell.size} valid cells")


#: Largest key space of the tallies' dense sums (:func:`class_tally`, :func:`state_tally`,
#: :func:`change_tally`): 56, 48 and 192 MB at most.
TALLY_BINS = 1 << 20


def class_tally(
    lc: np.ndarray,
    pools: tuple[np.ndarray, ...],
    area: np.ndarray,
    zone: np.ndarray,
    cell: np.ndarray,
    fraction: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """A tile's stock tally per (zone, class code): the entries (int64 (n_zones, 256)) and the
    Σ area, Σ value × area of the four ``pools`` (float32, n each) and of their float64
    total ((6, n_zones, 256)), zone 0 the cells of ``lc`` (uint8, n) not 0 with finite pools and
    their ``area`` (float64, n), zone z + 1 such cells of the coverage's zone z (``zone``,
    ``cell`` int64, ``fraction`` float64) × their covered fraction; None where a covered cell is
    outside the tile, a zone below 0, or the key space past :data:`TALLY_BINS`."""
    k = _impl()
    nz = int(zone.max(initial=-1)) + 2
    if nz * 256 > TALLY_BINS:  # zones numbered past 4,094: the reference's sparse sums
        return None
    count, sums = np.zeros((nz, 256), np.int64), np.zeros((6, nz, 256))
    if k.class_tally(lc, *pools, area, zone, cell, fraction, count, sums) != k.OK:
        return None
    return count, sums


def state_tally(
    state: tuple[np.ndarray, ...], pools: tuple[np.ndarray, ...], area: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The state tally of a tile (``state``: its category, stratum, years since conversion and
    previous category, float32, 1-D; the four ``pools`` float32 (n); ``area`` float64 (n)): the codes
    present of each key ((4, 256) bool: category, stratum, from-category, years since conversion),
    the entries (int64) and the Σ area and Σ value × area of the pools ((5, n_keys)) per combined
    key in the order of those codes; None where a code is not a whole number 0 … 255 or the key
    space exceeds :data:`TALLY_BINS`."""
    k = _impl()
    seen = np.zeros((4, 256), np.bool_)
    if k.state_codes(*state, *pools, seen) != k.OK:
        return None
    rank, bins, size = _ranks(seen)
    if size > TALLY_BINS:
        return None
    count, sums = np.zeros(size, np.int64), np.zeros((5, size))
    k.state_tally(*state, *pools, area, rank, bins, count, sums)
    return seen, count, sums


def _ranks(seen: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The rank of each code among the codes present of its key (``seen`` (keys, 256) bool), the
    count of codes per key, and the size of their combined key space."""
    bins = seen.sum(axis=1).astype(np.int64)
    return np.cumsum(seen, axis=1, dtype=np.int64) - 1, bins, int(np.prod(bins, dtype=np.float64))


def change_tally(
    codes: tuple[np.ndarray, ...],
    stocks: tuple[np.ndarray, ...],
    gain_loss: tuple[np.ndarray, np.ndarray] | None,
    transition: int,
    area: np.ndarray,
    coverage: tuple[np.ndarray, np.ndarray, np.ndarray],
    factor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The interval's tally of a tile: ``codes`` the class at the start and at the end and, given
    the state, its category at the end, previous category and years since conversion (uint8,
    1-D); ``stocks`` the four pools at the start, then at the end (float32); ``gain_loss`` the
    removals and emissions layers (float32) or None; ``coverage`` the zones' covered cells (zone,
    cell, fraction). Returns the codes present of each key ((4, 256) bool: class at the start,
    at the end, category converted from, category at the end; one code, 0, for a key not
    given), the entries per zone and key (int64 (n_zones, n_keys)) and the sums
    ((n_zones, n_keys, 23): area, the twenty stock-difference sums, removals, emissions); None
    where a covered cell is outside the tile or the key space exceeds :data:`TALLY_BINS`."""
    k = _impl()
    has_state = len(codes) == 5
    none8 = np.zeros(1, np.uint8)  # a layer not given: never read
    c0, c1, cat_to, previous, ysc = codes if has_state else (*codes, none8, none8, none8)
    none32 = np.zeros(1, np.float32)
    rem, em = gain_loss if gain_loss is not None else (none32, none32)
    flags = np.array([gain_loss is not None, has_state, transition], np.int64)
    layers = (c0, c1, *stocks, rem, em, cat_to, previous, ysc, flags)
    seen = np.zeros((4, 256), np.bool_)
    k.change_codes(*layers, seen)
    if not has_state:
        seen[2:, 0] = True
    rank, bins, size = _ranks(seen)
    zone, cell, fraction = coverage
    n_zones = int(zone.max(initial=-1)) + 2
    if n_zones * size > TALLY_BINS:
        return None
    count, sums = np.zeros((n_zones, size), np.int64), np.zeros((n_zones, size, 23))
    tally = (area, zone, cell, fraction, float(factor), rank, bins, count, sums)
    if k.change_tally(*layers, *tally) != k.OK:
        return None
    return seen, count, sums


#: The dtypes of the layers the stages give the kernels (codes; values).
_CODE_DTYPES = ("uint8", "uint16", "int64", "float32")
_VALUE_DTYPES = ("float32", "float64")


def warm() -> None:
    """Load every kernel for the argument types the stages call it with (compiling it where the
    disk cache has none): about a second, once per process. The job server calls it before it
    forks jobs, which then start with the kernels loaded, not each paying for it again."""
    if _impl() is None:  # pragma: no cover
        return
    cell = np.zeros(1, np.int64)
    for dtype in _CODE_DTYPES:
        layer = np.zeros(1, dtype)
        codes_present(layer, cell)
        add_key(np.zeros(1, np.int64), layer, cell, np.zeros(1, np.int64), 1)
    count_and_sum(cell, np.zeros(1), 1)
    for dtype in _VALUE_DTYPES:
        weighted_sum(cell, cell, np.zeros(1), np.zeros(1, dtype), 1)
        weighted_sum4(cell, cell, np.zeros(1), [np.zeros(1, dtype)] * 4, 1)
        change_sums(
            cell, cell, np.zeros(1), [np.zeros(1, dtype)] * 4, [np.zeros(1, dtype)] * 4, 1.0, 1
        )
    net_flux(np.zeros(1, np.float32), np.zeros(1, np.float32), 1, 1.0)
    step_fluxes(np.zeros(1), np.zeros(1), 1, 1.0)
    window_uniform(0, 1, 0, 1)
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
    advance_tables = (
        ints,
        ints,
        ints,
        *(np.zeros(1, np.bool_),) * 4,
        np.ones(4, np.int64),
    )
    initial((ints, ints, ints, ints, floats), 0, tables, advance_tables, (ints, ints), 1)
    state = (ints,) * 6 + (floats,)
    advance((*state, ints, ints, ints, ints, floats), 0, tables, advance_tables, 1)
    # the state's layers as the stages read them (STATE_LAYERS' file dtypes) and as they make them
    u1, u2 = np.zeros(1, np.uint8), np.zeros(1, np.uint16)
    state_from_layers((u1, u1, u2, u1, u1, u2, np.zeros(1, np.float32)), 1)
    state_stack(state, np.zeros(7, np.float32), np.zeros((7, 1), np.float32))
    state_stack(state, np.zeros(7, np.float32), np.zeros((7, 2), np.float32)[:, :1])  # rows apart
    # the stocks stage's one-pass layers, from the land cover and roles as the demo's files hold
    # them (uint8 codes, a uint16 planting year; a role not given: the land cover in its place)
    flags = np.zeros(3, np.int64)
    nodata = np.zeros(7, np.float32)
    # as the stage makes it (sinkmap.stacks.stack_of_rows): each layer contiguous, the layers apart
    out = np.zeros((14, 2), np.float32)[:, :1]
    first_layers(
        (u1, u1, u2, u1, floats), flags, 0, (tables, advance_tables, (ints, ints)), nodata, out
    )
    first_layers(
        (u1, u1, u1, u1, floats), flags, 0, (tables, advance_tables, (ints, ints)), nodata, out
    )
    read = (u1, u1, u2, u1, u1, u2, np.zeros(1, np.float32))
    step_layers(
        (*read, u1, u1, u1, u1, u1), flags, 0, 1, 1.0, (tables, advance_tables), nodata, out
    )
    valid_cells(np.zeros(1, np.bool_), floats, np.zeros(0, np.int64), np.zeros(0))
    # the tallies of a year's tile: the land cover as read (uint8), the stage's float32 rows
    f1 = np.zeros((4, 1), np.float32)
    f32 = (f1[0],) * 4
    class_tally(u1, f32, floats, ints, ints, floats)
    state_tally(f32, f32, floats)
    cover = (ints, ints, floats)
    change_tally((u1, u1), f32 * 2, None, 20, floats, cover, 1.0)
    change_tally((u1,) * 5, f32 * 2, (f1[0], f1[0]), 20, floats, cover, 1.0)
