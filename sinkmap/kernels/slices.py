"""How a kernel's dispatcher runs a chunk: whole through the kernel, or in slices through the
NumPy reference.

A dispatcher (:func:`sinkmap.dynamics.initial_state`, :func:`~sinkmap.dynamics.advance`,
:func:`~sinkmap.dynamics.pool_parts`) makes its arguments 1-D and of the kernel's dtypes
(:func:`flat_for_kernel`) and calls the kernel on the whole chunk. Where the kernel does not
take the chunk (a pixel it does not handle, an argument of another dtype or shape),
:func:`reference_or_slices` gives the reference's result: the kernel again slice by slice where
it took the chunk's arguments, so that the reference runs only on the slices that need it, else
the reference; both through :func:`in_slices`, which keeps the reference's temporaries at a few MB
each whatever the chunk's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

_T = TypeVar("_T")

#: Pixels per call of a NumPy reference (:func:`in_slices`).
SLICE = 1 << 17
#: The dtypes of :func:`flat_for_kernel`'s codes (native byte order).
_KINDS = {
    "i": np.dtype(np.int64),
    "f": np.dtype(np.float64),
    "s": np.dtype(np.float32),
    "B": np.dtype(np.uint8),
    "H": np.dtype(np.uint16),
}


def kernel_codes(dtypes: Any) -> str:
    """:func:`flat_for_kernel`'s codes of ``dtypes`` (any NumPy dtype names or objects of
    :data:`_KINDS`)."""
    codes = {dtype: code for code, dtype in _KINDS.items()}
    return "".join(codes[np.dtype(d)] for d in dtypes)


def flat_for_kernel(
    shape: tuple[int, ...], arrays: tuple[np.ndarray, ...], dtypes: str
) -> tuple[np.ndarray, ...] | None:
    """``arrays`` 1-D and contiguous for a kernel, each of ``shape`` and of its dtype in
    ``dtypes`` (``i`` int64, ``f`` float64, ``s`` float32: a state's layers as the stages make
    them, the inputs as the wrappers convert them, the stock layers as read; ``B`` uint8, ``H``
    uint16: the state's integer layers as written); None where one is not (the reference then runs: its NumPy rules for other dtypes and for broadcasting are its
    own)."""
    flat = []
    for a, kind in zip(arrays, dtypes, strict=True):
        a = np.asarray(a)
        if a.shape != shape or a.dtype != _KINDS[kind]:
            return None
        flat.append(np.ascontiguousarray(a).reshape(-1))
    return tuple(flat)


def layers_apart(out: np.ndarray) -> bool:
    """Whether a stack (n, …) has each layer C-contiguous and no two layers overlapping: laid
    end to end (C order) or apart (:func:`sinkmap.stacks.stack_of_rows`). Its (n, size) reshape is
    then a view, which a kernel writes into."""
    return bool(out.ndim >= 1 and len(out) > 0 and out[0].flags.c_contiguous) and (
        out.strides[0] >= out[0].nbytes
    )


def stack_for_kernel(out: Any, counts: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether ``out`` is a float32 stack a kernel writes into: (n, *shape) for an n of
    ``counts`` and a ``shape`` of at least one axis (a 0-d one: the reference's error), writeable,
    its layers each contiguous and apart (:func:`layers_apart`)."""
    return (
        len(shape) > 0
        and isinstance(out, np.ndarray)
        and out.dtype == np.float32
        and out.shape in {(n, *shape) for n in counts}
        and out.flags.writeable
        and layers_apart(out)
    )


def reference_or_slices(
    dispatcher: Callable[..., _T],
    reference: Callable[..., _T],
    took: bool,
    first: Any,
    *args: Any,
    **kwargs: Any,
) -> _T:
    """The result for a chunk the kernel did not take whole, ``dispatcher``'s call being
    ``first, *args, **kwargs``: where the kernel took its arguments (``took``) and the chunk is
    1-D and over :data:`SLICE` pixels, the dispatcher again slice by slice (only the slices that
    need it go to the reference); else ``reference``, slice by slice."""
    lead = _lead(first)
    retry = took and np.ndim(lead) == 1 and len(lead) > SLICE
    return in_slices(dispatcher if retry else reference, first, *args, **kwargs)


def _lead(first: Any) -> Any:
    """The array that gives a call's pixels: ``first``, or a state's first layer."""
    return first[0] if hasattr(first, "_fields") else first


def in_slices(fn: Callable[..., _T], first: Any, *args: Any, **kwargs: Any) -> _T:
    """``fn(first, *args, **kwargs)`` for an elementwise function of 1-D arrays, called on slices
    of :data:`SLICE` pixels of every array argument (named tuples of them, such as states,
    included) and the results joined: the NumPy references' temporaries (a few dozen arrays) stay
    at a few MB each, whatever the chunk size. The compiled kernels make none, and take a chunk
    whole."""
    lead = _lead(first)
    if np.ndim(lead) != 1 or len(lead) <= SLICE:  # a chunk of another shape: whole
        return fn(first, *args, **kwargs)
    n = len(lead)

    def cut(v: Any, s: slice) -> Any:
        if isinstance(v, list) and len(v) == n:  # one value per pixel, as NumPy reads a list
            v = np.asarray(v)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == n:  # one value per pixel
            return v[s]
        if hasattr(v, "_fields"):  # a state: each layer
            return type(v)(*(a[s] for a in v))
        return v

    out: Any = None
    for a in range(0, n, SLICE):
        s = slice(a, a + SLICE)
        part = fn(
            cut(first, s),
            *(cut(v, s) for v in args),
            **{k: cut(v, s) for k, v in kwargs.items()},
        )
        if out is None:  # the whole result allocated once, each slice's written in place
            out = _alloc(part, n)
        _fill(out, part, s)
    return cast(_T, out)


def _alloc(part: Any, n: int) -> Any:
    """Empty arrays of ``n`` elements shaped like the 1-D arrays of a kernel's result."""
    if isinstance(part, np.ndarray):
        return np.empty(n, part.dtype)
    if isinstance(part, dict):
        return {k: _alloc(v, n) for k, v in part.items()}
    if hasattr(part, "_fields"):  # State, Step
        return type(part)(*(_alloc(v, n) for v in part))
    return tuple(_alloc(v, n) for v in part)


def _fill(out: Any, part: Any, s: slice) -> None:
    """Write one slice's result into the arrays :func:`_alloc` made (each a 1-D array of the
    slice's length and of the first slice's dtype, as the kernels give: anything else is a bug,
    not something to broadcast or cast)."""
    if isinstance(out, np.ndarray):
        n = len(range(*s.indices(out.shape[0])))
        if not isinstance(part, np.ndarray) or part.shape != (n,) or part.dtype != out.dtype:
            raise TypeError(
                f"a sliced kernel returned {getattr(part, 'shape', type(part))} "
                f"{getattr(part, 'dtype', '')} for a slice of {n} {out.dtype} pixels"
            )
        out[s] = part
    elif isinstance(out, dict):
        for k, v in out.items():
            _fill(v, part[k], s)
    else:
        for v, p in zip(out, part, strict=True):
            _fill(v, p, s)
