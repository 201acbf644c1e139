"""The Numba kernels that add up: a tile's entries' sums (``weighted_sum`` … ``change_sums``)
and its tallies in one or two passes over its pixels (``class_tally``, ``state_tally``,
``change_tally``), with the base the kernels of :mod:`sinkmap.kernels.compiled` share (the
options, :data:`OK`/:data:`OUTSIDE`, :func:`positive`). :mod:`~sinkmap.kernels.compiled`
re-exports every kernel here: it is the one module :mod:`sinkmap.kernels` calls.

Each loops over pixels (or entries) and makes the NumPy reference's operations in its order, with
IEEE arithmetic (no fast-math): the same bits. A kernel returns :data:`OK`, or :data:`OUTSIDE` at
the first entry or pixel it does not handle, whose reference then runs and raises the error naming
it. Numba's disk cache knows a kernel's own file only: the per-pixel helpers inlined here are
defined here, and the one this file lends to the other (:func:`positive`) is pinned there by the
digest of its source (``compiled.INLINED``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

OK, OUTSIDE = 0, 1

#: Without Numba's reference counting (``_nrt=False``): the kernels allocate nothing (their
#: callers pass every array), and a helper called per pixel with the lookup tables would otherwise
#: count a reference to each table at each call (the step 7x slower; bench/README.md).
OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy", "_nrt": False}
_jit = numba.njit(**OPTIONS)
#: A per-pixel helper, inlined into each kernel that calls it (Numba's IR, before LLVM): a call
#: passes the lookup tables, tuples of a dozen arrays, by value (the step 25 % slower).
_pixel = numba.njit(inline="always", **OPTIONS)


@_jit
def _outside(k, n, j, m):
    """An entry's key k outside 0 … n − 1 or its cell j outside 0 … m − 1."""
    return k < 0 or k >= n or j < 0 or j >= m


@_jit
def weighted_sum(key, cell, weight, layer, total):
    """total[key[i]] += float64(layer[cell[i]]) × weight[i], entry by entry in order (the order
    and rounding of ``np.bincount(key, weights=layer[cell] * weight)``)."""
    n = total.size
    m = layer.size
    for i in range(key.size):
        k = key[i]
        c = cell[i]
        if _outside(k, n, c, m):
            return OUTSIDE
        total[k] += np.float64(layer[c]) * weight[i]
    return OK


@_jit
def weighted_sum4(key, cell, weight, a, b, c, d, total):
    """:func:`weighted_sum` of four layers of one dtype and size in one pass over the entries
    (each row of ``total`` (4, n) added in the entries' order: the same bits as four passes)."""
    n = total.shape[1]
    m = a.size
    for i in range(key.size):
        k = key[i]
        j = cell[i]
        if _outside(k, n, j, m):
            return OUTSIDE
        w = weight[i]
        total[0, k] += np.float64(a[j]) * w
        total[1, k] += np.float64(b[j]) * w
        total[2, k] += np.float64(c[j]) * w
        total[3, k] += np.float64(d[j]) * w
    return OK


@_jit
def count_and_sum(key, weight, count, total):
    """count[k] += 1 and total[k] += weight[i] for each entry's key, in the entries' order (the
    bits of ``np.bincount(key)`` and ``np.bincount(key, weights=weight)``)."""
    n = total.size
    for i in range(key.size):
        k = key[i]
        if k < 0 or k >= n:
            return OUTSIDE
        count[k] += 1
        total[k] += weight[i]
    return OK


@_jit
def codes_present(layer, cell, seen):
    """seen[code] = True for the code of ``layer`` at each entry's cell; OUTSIDE at a code that is
    not 0 … 65535 once made int64 (NaN included) or a cell out of range."""
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


@_jit
def add_key(key, layer, cell, rank, bins):
    """key ← key × bins + rank[layer[cell]], entry by entry (codes checked by codes_present)."""
    for i in range(key.size):
        key[i] = key[i] * bins + rank[np.int64(layer[cell[i]])]


@_jit
def positive(x):
    """``np.maximum(x, 0.0)`` as NumPy's array loop makes it: x above 0 or NaN, else +0.0 (also
    for −0.0; a sum starting at +0.0 is the same either way)."""
    return x if (x > 0.0 or x != x) else 0.0


@_jit
def _negative(x):
    """``np.minimum(x, 0.0)`` as NumPy's array loop makes it: x below 0 or NaN, else +0.0."""
    return x if (x < 0.0 or x != x) else 0.0


@_jit
def _add_change(total, row, k, s0, s1, factor, w):
    """The four sums of one pool at one entry: start and end stock, and the emissions (≥ 0)
    and removals (≤ 0) of the flux (s0 − s1) × factor, each × w."""
    f = (s0 - s1) * factor
    total[row, k] += s0 * w
    total[row + 1, k] += s1 * w
    total[row + 2, k] += positive(f) * w
    total[row + 3, k] += _negative(f) * w


@_jit
def change_sums(key, cell, weight, a0, b0, c0, d0, a1, b1, c1, d1, factor, total):
    """For each entry, for the four pools (start ``a0``–``d0``, end ``a1``–``d1``, one dtype)
    and their float64 sum in that order (``pool_sum``): the start and end stocks, and the
    emissions and removals parts of the flux (start − end) × factor, each × the entry's weight,
    added to its key's rows 4q … 4q + 3 of ``total`` (20, n), in the entries' order (the bits of
    ``np.bincount`` of each such layer, made whole, at the entries)."""
    n = total.shape[1]
    m = a0.size
    for i in range(key.size):
        k = key[i]
        j = cell[i]
        if _outside(k, n, j, m):
            return OUTSIDE
        w = weight[i]
        t0 = np.float64(a0[j])  # the totals start from the first pool, as pool_sum's
        t1 = np.float64(a1[j])
        _add_change(total, 0, k, t0, t1, factor, w)
        for row, x0, x1 in ((4, b0[j], b1[j]), (8, c0[j], c1[j]), (12, d0[j], d1[j])):
            s0 = np.float64(x0)
            s1 = np.float64(x1)
            _add_change(total, row, k, s0, s1, factor, w)
            t0 += s0
            t1 += s1
        _add_change(total, 16, k, t0, t1, factor, w)
    return OK


@_jit
def valid_cells(valid, area, cell, weight):
    """The tile's valid cells in order (``cell``) and their areas (``weight``): ``np.flatnonzero``
    and the gather of ``area`` at it, in one pass (``cell`` and ``weight`` sized to the count)."""
    k = 0
    for j in range(valid.size):
        if valid[j]:
            if k >= cell.size:
                return OUTSIDE
            cell[k] = j
            weight[k] = area[j]
            k += 1
    return OK if k == cell.size else OUTSIDE


@_jit
def class_tally(lc, a, b, c, d, area, zone, cell, fraction, count, sums):
    """A tile's stock tally per (zone, class code) in one pass over its pixels and one over its
    zones' covered cells: the entries, the area and Σ value × area of four float32 pool layers
    and of their float64 total (above + below + dead + soil, in that order) at the cells whose
    code is not 0 and whose pools are finite; zone 0 every such cell in order with its area, zone
    z + 1 the covered cells of zone z in the coverage's order with area × covered fraction. Each
    key's sums are added in the order of :func:`sinkmap.account.zones.membership`'s entries: the
    bits of ``group_sums``. A run of one key is summed in registers and stored when the key
    changes (the same additions in the same order, without a store and load between them).
    ``lc`` uint8 and the pools 1-D, ``count`` (n_zones, 256) int64, ``sums`` (6, n_zones, 256)."""
    m = lc.size
    nz = count.shape[0]
    n = len(cell)
    z, k = 0, -1  # the key summed in registers
    e, s0, s1, s2, s3, s4, s5 = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for i in range(m + n):
        if i < m:  # zone 0: the tile's cells in order
            j, zi, w = i, 0, 1.0
        else:  # the zones' covered cells
            j = cell[i - m]
            zi = zone[i - m] + 1
            if j < 0 or j >= m or zi < 1 or zi >= nz:
                return OUTSIDE
            w = fraction[i - m]
        code = np.int64(lc[j])
        if code == 0:
            continue
        x, y, u, v = np.float64(a[j]), np.float64(b[j]), np.float64(c[j]), np.float64(d[j])
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(u) and np.isfinite(v)):
            continue
        if code != k or zi != z:
            if k >= 0:
                count[z, k] += e
                sums[0, z, k], sums[1, z, k], sums[2, z, k] = s0, s1, s2
                sums[3, z, k], sums[4, z, k], sums[5, z, k] = s3, s4, s5
            z, k, e = zi, code, 0
            s0, s1, s2 = sums[0, z, k], sums[1, z, k], sums[2, z, k]
            s3, s4, s5 = sums[3, z, k], sums[4, z, k], sums[5, z, k]
        w = area[j] if i < m else area[j] * w
        e += 1
        s0 += w
        s1 += x * w
        s2 += y * w
        s3 += u * w
        s4 += v * w
        s5 += (((x + y) + u) + v) * w
    if k >= 0:
        count[z, k] += e
        sums[0, z, k], sums[1, z, k], sums[2, z, k] = s0, s1, s2
        sums[3, z, k], sums[4, z, k], sums[5, z, k] = s3, s4, s5
    return OK


@_pixel
def _state_valid(stratum, a, b, c, d, j):
    return (
        stratum[j] > 0
        and stratum[j] < 255
        and np.isfinite(a[j])
        and np.isfinite(b[j])
        and np.isfinite(c[j])
        and np.isfinite(d[j])
    )


@_pixel
def _code(x):
    """A float32 state code as a key 0 … 255, or -1 where it is not one."""
    if x >= 0 and x <= 255 and np.float32(np.int64(x)) == x:
        return np.int64(x)
    return -1


@_pixel
def _from_category(previous, ysc):
    """The category a pixel converted from (0 where it remains): ``_state_tile``'s rule."""
    if previous > 0 and previous < 255 and ysc < 255:
        return previous
    return np.float32(0)


@_jit
def state_codes(category, stratum, ysc, previous, a, b, c, d, seen):
    """Which codes of the state tally's four keys (category, stratum, from-category, years since
    conversion) the tile's valid cells hold: ``seen`` (4, 256) bool; OUTSIDE at a code that is not
    a whole number 0 … 255 (the reference then takes it). Each run of one state is checked once."""
    q0 = q1 = q2 = q3 = np.float32(np.nan)  # no state yet (NaN equals nothing)
    for j in range(stratum.size):
        if _state_valid(stratum, a, b, c, d, j):
            f = _from_category(previous[j], ysc[j])
            if category[j] == q0 and stratum[j] == q1 and f == q2 and ysc[j] == q3:
                continue
            q0, q1, q2, q3 = category[j], stratum[j], f, ysc[j]
            k0 = _code(q0)
            k1 = _code(q1)
            k2 = _code(q2)
            k3 = _code(q3)
            if k0 < 0 or k1 < 0 or k2 < 0 or k3 < 0:
                return OUTSIDE
            seen[0, k0] = True
            seen[1, k1] = True
            seen[2, k2] = True
            seen[3, k3] = True
    return OK


@_jit
def state_tally(category, stratum, ysc, previous, a, b, c, d, area, rank, bins, count, sums):
    """The state tally of a tile's valid cells in one pass, after :func:`state_codes`: key
    ((r0 × n1 + r1) × n2 + r2) × n3 + r3 of the keys' ranks (``rank`` (4, 256), ``bins`` their
    counts), its entries (``count``) and Σ area and Σ value × area of the pools (``sums``
    (5, n)), added cell by cell in order: the bits of ``group_sums``. A run of one key is summed
    in registers (as :func:`class_tally`), and its key computed once per run of one state."""
    k = -1  # the key summed in registers
    e, s0, s1, s2, s3, s4 = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    q0 = q1 = q2 = q3 = np.float32(np.nan)  # no state yet (NaN equals nothing)
    key = -1
    for j in range(stratum.size):
        if not _state_valid(stratum, a, b, c, d, j):
            continue
        f = _from_category(previous[j], ysc[j])
        if category[j] != q0 or stratum[j] != q1 or f != q2 or ysc[j] != q3:
            q0, q1, q2, q3 = category[j], stratum[j], f, ysc[j]
            key = rank[0, np.int64(q0)]
            key = key * bins[1] + rank[1, np.int64(q1)]
            key = key * bins[2] + rank[2, np.int64(q2)]
            key = key * bins[3] + rank[3, np.int64(q3)]
        if key != k:
            if k >= 0:
                count[k] += e
                sums[0, k], sums[1, k], sums[2, k], sums[3, k], sums[4, k] = s0, s1, s2, s3, s4
            k, e = key, 0
            s0, s1, s2, s3, s4 = sums[0, k], sums[1, k], sums[2, k], sums[3, k], sums[4, k]
        w = area[j]
        e += 1
        s0 += w
        s1 += np.float64(a[j]) * w
        s2 += np.float64(b[j]) * w
        s3 += np.float64(c[j]) * w
        s4 += np.float64(d[j]) * w
    if k >= 0:
        count[k] += e
        sums[0, k], sums[1, k], sums[2, k], sums[3, k], sums[4, k] = s0, s1, s2, s3, s4
    return OK


@_pixel
def _change_valid(c0, c1, a0, b0, e0, d0, a1, b1, e1, d1, rem, em, cat_to, has_gl, has_state, j):
    """Whether the interval's tally counts cell j: a class at both ends, eight finite pools,
    finite gain-loss layers (given), a land category 1 … 254 at the end (given the state)."""
    return (
        c0[j] != 0
        and c1[j] != 0
        and np.isfinite(a0[j])
        and np.isfinite(b0[j])
        and np.isfinite(e0[j])
        and np.isfinite(d0[j])
        and np.isfinite(a1[j])
        and np.isfinite(b1[j])
        and np.isfinite(e1[j])
        and np.isfinite(d1[j])
        and (not has_gl or (np.isfinite(rem[j]) and np.isfinite(em[j])))
        and (not has_state or (cat_to[j] > 0 and cat_to[j] < 255))
    )


@_pixel
def _converted_from(cat_to, previous, ysc, transition):
    """The category the land converted from within the transition period, else its own
    (``_change_tile``'s rule)."""
    if ysc < transition and previous > 0 and previous < 255:
        return previous
    return cat_to


@_jit
def change_codes(
    c0, c1, a0, b0, e0, d0, a1, b1, e1, d1, rem, em, cat_to, previous, ysc, flags, seen
):
    """The codes of the interval tally's keys at the cells it counts (uint8 layers): ``seen``
    (4, 256) bool of the class at the start, at the end and, given the state, the category
    converted from and the category at the end; ``flags`` = (gain-loss layers given, the state
    given, the transition period in years). Each run of one set of codes is marked once."""
    has_gl, has_state, transition = flags[0] != 0, flags[1] != 0, flags[2]
    q0, q1, q2, q3, q4 = -1, -1, -1, -1, -1  # the codes of the run (none yet: no code is -1)
    for j in range(c0.size):
        if not _change_valid(
            c0, c1, a0, b0, e0, d0, a1, b1, e1, d1, rem, em, cat_to, has_gl, has_state, j
        ):
            continue
        if c0[j] == q0 and c1[j] == q1:
            if not has_state or (cat_to[j] == q2 and previous[j] == q3 and ysc[j] == q4):
                continue
        q0, q1 = np.int64(c0[j]), np.int64(c1[j])
        seen[0, q0] = True
        seen[1, q1] = True
        if has_state:
            q2, q3, q4 = np.int64(cat_to[j]), np.int64(previous[j]), np.int64(ysc[j])
            seen[2, _converted_from(q2, q3, q4, transition)] = True
            seen[3, q2] = True
    return OK


@_pixel
def _add_change3(total, row, z, k, s0, s1, factor, w):
    """:func:`_add_change` into sums row … row + 3 of key (z, k) of a (zones, keys, sums)
    ``total``."""
    f = (s0 - s1) * factor
    total[z, k, row] += s0 * w
    total[z, k, row + 1] += s1 * w
    total[z, k, row + 2] += positive(f) * w
    total[z, k, row + 3] += _negative(f) * w


@_jit
def change_tally(
    c0,
    c1,
    a0,
    b0,
    e0,
    d0,
    a1,
    b1,
    e1,
    d1,
    rem,
    em,
    cat_to,
    previous,
    ysc,
    flags,
    area,
    zone,
    cell,
    fraction,
    factor,
    rank,
    bins,
    count,
    sums,
):
    """The interval's tally of a tile after :func:`change_codes`, in one pass over its cells
    (zone 0) and one over its zones' covered cells (zone z + 1, area × covered fraction), as
    :func:`class_tally`: per zone and key (the keys' ranks, ``rank`` (4, 256), in ``bins``
    (4) ranks each; a key not given: one rank, 0) the entries (``count`` (n_zones, n_keys)) and
    in ``sums`` (n_zones, n_keys, 23: a key's sums side by side, in one cache line or three) Σ area, :func:`change_sums`' twenty sums of the start and
    end stocks and of each pool's and the total's emissions and removals, and, given, Σ removals
    and Σ emissions of the gain-loss layers, each × the entry's weight and added in the entries'
    order: the bits of ``group_sums`` with ``_stock_change_sums``."""
    m = c0.size
    nz = count.shape[0]
    has_gl, has_state, transition = flags[0] != 0, flags[1] != 0, flags[2]
    q0, q1, q2, q3, q4 = -1, -1, -1, -1, -1
    key = 0
    for i in range(m + cell.size):
        if i < m:
            j, z = i, 0
        else:
            j = cell[i - m]
            z = zone[i - m] + 1
            if j < 0 or j >= m or z < 1 or z >= nz:
                return OUTSIDE
        if not _change_valid(
            c0, c1, a0, b0, e0, d0, a1, b1, e1, d1, rem, em, cat_to, has_gl, has_state, j
        ):
            continue
        same = c0[j] == q0 and c1[j] == q1
        if has_state:
            same = same and cat_to[j] == q2 and previous[j] == q3 and ysc[j] == q4
        if not same:
            q0, q1 = np.int64(c0[j]), np.int64(c1[j])
            key = rank[0, q0] * bins[1] + rank[1, q1]
            if has_state:
                q2, q3, q4 = np.int64(cat_to[j]), np.int64(previous[j]), np.int64(ysc[j])
                f = _converted_from(q2, q3, q4, transition)
                key = (key * bins[2] + rank[2, f]) * bins[3] + rank[3, q2]
            else:
                key = key * bins[2] * bins[3]
        w = area[j] if i < m else area[j] * fraction[i - m]
        count[z, key] += 1
        sums[z, key, 0] += w
        t0 = np.float64(a0[j])  # the totals start from the first pool, as pool_sum's
        t1 = np.float64(a1[j])
        _add_change3(sums, 1, z, key, t0, t1, factor, w)
        for row, x0, x1 in ((5, b0[j], b1[j]), (9, e0[j], e1[j]), (13, d0[j], d1[j])):
            s0 = np.float64(x0)
            s1 = np.float64(x1)
            _add_change3(sums, row, z, key, s0, s1, factor, w)
            t0 += s0
            t1 += s1
        _add_change3(sums, 17, z, key, t0, t1, factor, w)
        if has_gl:
            sums[z, key, 21] += np.float64(rem[j]) * w
            sums[z, key, 22] += np.float64(em[j]) * w
    return OK
