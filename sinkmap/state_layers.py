"""The stocks stage's layers of a chunk of the carbon state, in one pass of a compiled kernel.

The carbon state's model (:class:`sinkmap.models.dynamics.DynamicsModel`) gives the stocks stage
the rows it writes for a chunk: the 4 pools, the 7 layers of the state and the step's 3 fluxes,
float32. :func:`initial_layers` (the first mapped year) and :func:`advance_layers` (a one-year
step) make them in one kernel (:func:`sinkmap.kernels.first_layers`,
:func:`~sinkmap.kernels.step_layers`) from the inputs and last year's state as read, through the
same per-pixel functions as the kernels of :mod:`sinkmap.dynamics`. They return False for a chunk
the kernel does not take; the model then runs the chain of :mod:`sinkmap.dynamics`' functions,
which is their reference and which they equal bit for bit (tests/unit/test_kernels.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sinkmap import kernels
from sinkmap.constants import CO2_PER_C
from sinkmap.dynamics import STATE_FILE_CODES, STATE_LAYERS, STATE_NODATA32, Dynamics
from sinkmap.kernels.slices import flat_for_kernel, stack_for_kernel


def initial_layers(
    lc: np.ndarray,
    year: int,
    dyn: Dynamics,
    out: np.ndarray,
    *,
    position: np.ndarray,
    forest_type: np.ndarray | None = None,
    planting_year: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
) -> bool:
    """The stocks stage's layers of a chunk in the first mapped year, into ``out`` (float32,
    (11 or 14, *lc.shape)) in one pass of a compiled kernel: the pools (:func:`~sinkmap.dynamics.pools`, float32;
    NaN outside the data) of the state :func:`~sinkmap.dynamics.initial_state` starts, that state
    (:meth:`~sinkmap.dynamics.State.stack`) and, given 14 rows, NaN for the step (none in the first year).

    The same bits as those functions (tests/unit/test_kernels.py), without their int64 and
    float64 copies of the chunk. False where the kernel does not take the chunk (a code it
    does not handle, an input of another dtype or shape, ``SINKMAP_KERNELS=numpy``): ``out`` is
    then partly written, and the caller runs those functions, which give the result or the
    error that names the fix."""
    if not (kernels.enabled() and isinstance(dyn.transition_years, int)):
        return False
    lc = np.asarray(lc)
    shape = lc.shape
    # a role the model does not have: 0 everywhere, as the NumPy code reads it then
    codes = (lc, *(_or_zeros(a, shape) for a in (forest_type, planting_year, ecozone)))
    u = np.asarray(position)
    if not (
        all(_is_codes(a, shape) for a in codes)
        and u.shape == shape
        and u.dtype == np.float64
        and _is_out(out, shape)
    ):
        return False
    flags = np.array([dyn.default_ecozone], np.int64)
    flat = (*(np.ascontiguousarray(a).reshape(-1) for a in (*codes, u)),)
    tables = (dyn.kernel_tables, dyn.advance_tables, dyn.initial_tables)
    return kernels.first_layers(flat, flags, year, tables, STATE_NODATA32, _rows(out))


def advance_layers(
    before: Mapping[str, np.ndarray],
    lc_before: np.ndarray,
    lc: np.ndarray,
    start: int,
    end: int,
    dyn: Dynamics,
    out: np.ndarray,
    *,
    forest_type: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    loss_codes: np.ndarray | None = None,
    loss_year_base: int = 0,
) -> bool:
    """The stocks stage's layers of a chunk stepped from ``start`` to ``end`` = ``start`` + 1,
    into ``out`` (float32, (11 or 14, *lc.shape)) in one pass of a compiled kernel: the pools of
    the state reached (float32; NaN outside the data), that state (:meth:`~sinkmap.dynamics.State.stack`) and,
    given 14 rows, the step's net, removals and emissions (:func:`sinkmap.carbon.step_fluxes`).

    ``before``: the state of ``start`` as read (``{name: layer}`` in the dtypes of
    :data:`~sinkmap.dynamics.STATE_LAYERS`); ``loss_codes``: a loss-year layer's codes, year ``loss_year_base`` +
    code where above 0 (Hansen GFC ``lossyear``). The same bits as :meth:`~sinkmap.dynamics.State.from_arrays`,
    :func:`~sinkmap.dynamics.advance_span`, :meth:`~sinkmap.dynamics.State.stack` and ``step_fluxes`` (tests/unit/test_kernels.py),
    without their int64 and float64 copies of the chunk. False where the kernel does not take
    the chunk (a span of more than a year, a pixel that starts afresh or a code it does not
    handle, an input of another dtype or shape, ``SINKMAP_KERNELS=numpy``): the caller then runs
    those functions."""
    if not (kernels.enabled() and isinstance(dyn.transition_years, int) and end - start == 1):
        return False
    lc = np.asarray(lc)
    shape = lc.shape
    layers = flat_for_kernel(
        shape, tuple(np.asarray(before[n]) for n in STATE_LAYERS), STATE_FILE_CODES
    )
    # a role the model does not have: 0 everywhere, as the NumPy code reads it then; no loss
    # layer: no loss year (a flag: code 0 is year 0)
    given = (_or_zeros(forest_type, shape), _or_zeros(ecozone, shape))
    loss = _or_zeros(loss_codes, shape)
    codes = (np.asarray(lc_before), lc, *given, loss)
    if layers is None or not (all(_is_codes(a, shape) for a in codes) and _is_out(out, shape)):
        return False
    flags = np.array([loss_codes is not None, dyn.default_ecozone, loss_year_base], np.int64)
    flat = (*layers, *(np.ascontiguousarray(a).reshape(-1) for a in codes))
    tables = (dyn.kernel_tables, dyn.advance_tables)
    years = end - start
    return kernels.step_layers(
        flat, flags, end, years, CO2_PER_C, tables, STATE_NODATA32, _rows(out)
    )


def _or_zeros(a: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """A role's layer, or 0 everywhere (uint8) where the model has no such role."""
    return np.zeros(shape, np.uint8) if a is None else np.asarray(a)


def _is_codes(a: np.ndarray, shape: tuple[int, ...]) -> bool:
    """An integer code layer of ``shape`` (at least 1-D) in native byte order whose values int64
    holds exactly (the kernels read every code as int64, as the NumPy code's
    ``astype(np.int64)``)."""
    return (
        a.shape == shape
        and len(shape) > 0
        and a.dtype.isnative
        and (a.dtype.kind == "i" or (a.dtype.kind == "u" and a.dtype.itemsize < 8))
    )


def _is_out(out: np.ndarray, shape: tuple[int, ...]) -> bool:
    """The stocks stage's float32 stack of a chunk: pools (4), state (7) and the step (3) or not;
    each layer contiguous, the layers apart (:func:`sinkmap.stacks.stack_of_rows`) or end to end."""
    return stack_for_kernel(out, (11, 14), shape)


def _rows(out: np.ndarray) -> np.ndarray:
    """An :func:`_is_out` stack as (n, size): a view (:func:`~sinkmap.kernels.slices.layers_apart`),
    which the kernel writes."""
    return out.reshape(len(out), -1)
