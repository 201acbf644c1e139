"""Stacks of a chunk's layers: one array (n, rows, cols) that a stage's kernel writes whole, and
each layer of it as the writer takes it.

:func:`stack_of_rows` allocates a chunk's stack with its layers apart in the CPU caches' sets;
:func:`band` and :func:`bands` give a layer (or a run of layers) of a Dask array of such stacks,
each block a view of the stack's block, not a copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import dask.array as da


def band(stack: da.Array, i: int) -> da.Array:
    """Layer ``i`` of a stack of layers (n, rows, cols) in one chunk along its first axis, each
    block a view of the stack's block.

    ``stack[i]`` would copy it: Dask's slicing copies a slice of under half a block, to let the
    block go (at 26 Mpx, 1.1 of the two stocks phases' 28 thread-seconds); so does ``map_blocks``
    dropping that axis. A stage writes every layer of a block, so the block lives until its last
    layer is written either way. A stack in several chunks along that axis: ``stack[i]``."""
    n = stack.shape[0]
    if not -n <= i < n:
        raise IndexError(f"band {i} of a stack of {n} layers")
    i %= n
    return bands(stack, i, i + 1)[0]  # a whole block of one layer: a view, not a copy


def bands(stack: da.Array, start: int, stop: int) -> da.Array:
    """Layers ``start`` … ``stop`` − 1 of a stack (n, rows, cols) in one chunk along its first
    axis, each block a view of the stack's block (:func:`band`). A stack in several chunks along
    that axis (``da.stack`` makes one per layer): ``stack[start:stop]``."""
    import dask.array as da

    n = stack.shape[0]
    if not 0 <= start < stop <= n:
        raise IndexError(f"bands {start} … {stop - 1} of a stack of {n} layers")
    if len(stack.chunks[0]) > 1:
        return stack[start:stop]
    return da.map_blocks(
        _rows,
        stack,
        start,
        stop,
        chunks=((stop - start,), *stack.chunks[1:]),
        dtype=stack.dtype,
        name=f"bands{start}-{stop}-{stack.name}",
    )


#: The padding after each layer of :func:`stack_of_rows`, bytes: 3 × 256, so that the first 16
#: layers start at 16 different offsets modulo 4 KiB.
ROW_PAD = 768


def stack_of_rows(n: int, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    """An empty stack of ``n`` layers of ``shape`` (n, *shape), each layer contiguous (a view the
    writer takes as it is), the layers :data:`ROW_PAD` bytes further apart than their size.

    A chunk's layer is a power of two bytes long (2048² float32: 16 MiB). Laid end to end, pixel
    i of every layer then falls in the same set of the CPU's caches, and a kernel that writes 14
    layers pixel by pixel evicts its own lines: on a 2048² tile the carbon state's step (reusing
    the rows of a pixel like the one before) took 82 ns a pixel into a contiguous stack, 14 ns
    into this one (bench/README.md, "the tallies in one pass, and layers apart in the cache").
    A layer is then ``stack[i]``; the stack as a whole is not C-contiguous."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    pad = -(-ROW_PAD // dtype.itemsize)
    return np.empty((n, size + pad), dtype)[:, :size].reshape(n, *shape)


def _rows(block: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start`` … ``stop`` − 1 of a block's first axis: a view."""
    return block[start:stop]
