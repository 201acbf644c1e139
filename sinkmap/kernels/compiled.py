"""The Numba kernels of :mod:`sinkmap.kernels` (imported on a kernel's first call: Numba, and
the SciPy it imports, only in the processes that run one): the carbon state's per-pixel kernels
here (the first year, a step, the pools' parts, the stack of a chunk's layers), and, re-exported,
the sums and tallies of :mod:`sinkmap.kernels.sums`.

Each loops over pixels (or entries) and makes the NumPy reference's operations in its order, with
IEEE arithmetic (no fast-math): the same bits. A kernel returns :data:`OK`, or :data:`OUTSIDE` at
the first pixel it does not handle, whose reference then runs and raises the error naming it.

The per-pixel functions (``_pixel``: inlined into each kernel that calls them) live in the file of
the kernels that inline them: Numba's disk cache knows a kernel's own file only, so a kernel would
keep running an old copy of a helper changed in another file. The one exception,
:func:`~sinkmap.kernels.sums.positive`, is pinned by :data:`INLINED`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from sinkmap.kernels.sums import (  # noqa: F401  the sums and tallies, re-exported
    OK,
    OPTIONS,
    OUTSIDE,
    add_key,
    change_codes,
    change_sums,
    change_tally,
    class_tally,
    codes_present,
    count_and_sum,
    positive,
    state_codes,
    state_tally,
    valid_cells,
    weighted_sum,
    weighted_sum4,
)

#: The helpers this file's kernels inline from another file, each with the first 16 hex digits of
#: the SHA-256 of its source: Numba's cache keys a kernel on the text of its own file only, so a
#: change to the helper alone would leave the kernels here running the old one from the cache.
#: ``tests/unit/test_kernels.py`` checks the digests: a change there must change this line too,
#: which recompiles this file's kernels.
INLINED: dict[str, str] = {"positive": "52df15bb5858874b"}

_jit = numba.njit(**OPTIONS)
#: A per-pixel helper, inlined into each kernel that calls it (Numba's IR, before LLVM): a call
#: passes the lookup tables, tuples of a dozen arrays, by value (the step 25 % slower).
_pixel = numba.njit(inline="always", **OPTIONS)


@_jit
def net_flux(start, end, years, co2_per_c, out):
    """out[i] = float32(0.0 − float64(float32((float64(end[i]) − float64(start[i])) / years)) ×
    co2_per_c): ``co2e_flux(stock_difference(start, end, …))``, a pixel at a time."""
    for i in range(out.size):
        delta = np.float32((np.float64(end[i]) - np.float64(start[i])) / years)
        out[i] = np.float32(0.0 - np.float64(delta) * co2_per_c)
    return OK


@_pixel
def _step_flux_px(gain, lost, years, co2_per_c, out, row, at):
    """One pixel's net, removals and emissions (``step_fluxes``' body) into out[row … row + 2,
    at]."""
    g = gain / years
    loss = lost / years
    out[row, at] = np.float32(0.0 - (g - loss) * co2_per_c)
    out[row + 1, at] = np.float32(0.0 - g * co2_per_c)
    if loss != loss:
        # NumPy's −loss flips a NaN's sign bit, which × and − then keep; LLVM may fold
        # 0.0 − (−l) × c into 0.0 + l × c, which keeps the sign it had: flipped here
        out[row + 2, at] = np.float32(math.copysign(loss, -math.copysign(1.0, loss)))
    else:
        out[row + 2, at] = np.float32(0.0 + loss * co2_per_c)  # = 0.0 − (−l) × c, exactly


@_jit
def step_fluxes(gains, losses, years, co2_per_c, out):
    """out[:, i] = float32 of 0.0 − x × co2_per_c for x in (g − l, g, −l), g = gains[i] / years,
    l = losses[i] / years: ``carbon.step_fluxes`` (net, removals, emissions), a pixel at a time."""
    for i in range(gains.size):
        _step_flux_px(gains[i], losses[i], years, co2_per_c, out, 0, i)
    return OK


@_jit
def window_uniform(r0, c0, out):
    """out[i, j] = ``stocks.pixel_uniform`` of grid row r0 + i and column c0 + j: splitmix64 of
    the two, in unsigned 64-bit arithmetic, its top 53 bits / 2**53."""
    m_row = np.uint64(0x9E3779B97F4A7C15)
    m_col = np.uint64(0xC2B2AE3D27D4EB4F)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    m2 = np.uint64(0x94D049BB133111EB)
    rows, cols = out.shape
    for i in range(rows):
        r = np.uint64(r0 + i) * m_row
        for j in range(cols):
            h = r ^ (np.uint64(c0 + j) * m_col)
            h ^= h >> np.uint64(30)
            h *= m1
            h ^= h >> np.uint64(27)
            h *= m2
            h ^= h >> np.uint64(31)
            out[i, j] = np.float64(h >> np.uint64(11)) / 9007199254740992.0
    return OK


@_pixel
def _row(s, z, row_table, woody):
    """The strata-table row of a woody stratum in ecozone z; 0 for a stratum without woody
    vegetation (a placeholder); -1 where there is none (or a code past the table)."""
    n_st, n_zone = row_table.shape
    if s < 0 or s >= n_st:
        return -1
    if not woody[s]:
        return 0
    if z < 0 or z >= n_zone:
        return -1
    return row_table[s, z]


@_pixel
def _parts(s, cat, age, y, p, soil_start, c, z, t, out, at):
    """The 7 parts of one pixel with data (stratum s > 0) into out[:, at]; False where the
    reference raises. ``t``: the tables of :attr:`sinkmap.dynamics.Dynamics.kernel_tables`."""
    row_table, woody, agb_by_age, root_shoot, mature_agb, dead_cf, litter = t[:7]
    above, below, dead, soil, numbers, codes = t[7:]
    cf, lcf, agb_scale, soil_scale = numbers[0], numbers[1], numbers[2], numbers[3]
    years, shrub_class, tree_class, shrub, forest = codes[0], codes[1], codes[2], codes[3], codes[4]
    n_lut = above.size
    if c < 0 or c >= n_lut:
        return False
    row = _row(s, z, row_table, woody)
    if row < 0:
        return False
    w = woody[s]
    a = min(max(age, 0), agb_by_age.shape[1] - 1)
    agb = agb_by_age[row, a] * agb_scale if w else 0.0
    converted_now = y == 0 and p > 0
    open_above = 0.0 if converted_now else above[c]
    open_below = 0.0 if converted_now else below[c]
    open_dead = dead[c]
    mature = mature_agb[row] * agb_scale
    dom_ref = mature * (dead_cf[row] + litter[row] * lcf)
    built_up = min(y, years) / years if (p != forest and p > 0 and y < years) else 1.0
    soil_class = shrub_class if s == shrub else c
    if w and s != shrub:
        soil_class = tree_class
    if soil_class < 0 or soil_class >= n_lut:
        return False
    eq = soil[soil_class] * soil_scale
    if np.isnan(eq) or (not w and np.isnan(open_above + open_below + open_dead + eq)):
        return False
    start = soil_start * soil_scale
    out[0, at] = agb * cf
    out[1, at] = agb * root_shoot[row] * cf
    out[2, at] = dom_ref * built_up if (w and cat == forest) else 0.0
    out[3, at] = 0.0 if w else open_above
    out[4, at] = 0.0 if w else open_below
    out[5, at] = 0.0 if w else open_dead
    out[6, at] = start + (eq - start) * min(y, years) / years
    return True


@_pixel
def _initial_px(c, f, p, z, u, year, t, a, it, ints, soil, at):
    """One pixel's first-year state (``initial``'s body): its integer layers into ints[:, at],
    its soil start into soil[at]; False where the reference raises or its result is not the
    kernel's (see :func:`initial`)."""
    row_table, woody = t[0], t[1]
    soil_lut, codes = t[10], t[12]
    d, shrub_class, tree_class = codes[0], codes[1], codes[2]
    canopy_age, by_row, category_lut, is_tree, is_shrub, is_open, is_plantation, k = a
    natural, shrub_stratum, nonwoody = k[0], k[2], k[3]
    mature_age, rotation = it
    n_lut = is_tree.size
    n_zone = row_table.shape[1]
    inside = 0 <= c < n_lut
    tree = inside and is_tree[c]
    shrub_cover = inside and is_shrub[c]
    plantation = 0 <= f < n_lut and is_plantation[f] and (tree or (inside and is_open[c]))
    s = nonwoody
    if tree:
        s = natural
    if shrub_cover:
        s = shrub_stratum
    if plantation:
        s = f
    if c == 0:
        s = 0
    row = 0
    w = 0 <= s < woody.size and woody[s]
    if w:
        if z < 0 or z >= n_zone:
            return False
        row = row_table[s, z]
        if row < 0:
            return False
    age = 0
    if s == natural or s == shrub_stratum:
        age = mature_age[row]
    known = p > 0 and p <= year
    if s == natural and known:
        age = year - p
    if 0 <= s < n_lut and is_plantation[s]:
        rot = rotation[row]
        canopy = canopy_age[row]
        guess = 0
        if tree:
            x = np.floor(u * np.float64(max(rot - canopy, 1)))
            if not (x >= -9.2e18 and x <= 9.2e18):
                return False
            guess = canopy + np.int64(x)
        if shrub_cover and not tree:
            guess = canopy // 2
        if known:
            guess = year - p
            if tree and year - p < canopy:
                guess = rot
        age = guess
    if w:
        category = by_row[row]
    else:
        if c < 0 or c >= category_lut.size:
            return False
        category = category_lut[c]
        if category == 0 and c != 0:
            return False
    valid = c != 0
    ints[0, at] = category if valid else 0
    ints[1, at] = s
    ints[2, at] = age
    ints[3, at] = d if valid else 0
    ints[4, at] = 0
    ints[5, at] = 0
    if valid:
        soil_class = c
        if s == shrub_stratum:
            soil_class = shrub_class
        elif w:
            soil_class = tree_class
        if soil_class < 0 or soil_class >= soil_lut.size:
            return False
        soil[at] = soil_lut[soil_class]
    else:
        soil[at] = np.nan
    return True


@_jit
def initial(lc, ft, py, zone, u, year, t, a, it, out_int, out_soil):
    """The first year's state of each pixel (``initial_state_reference``): its stratum from the
    land cover and forest type, its age (mature; regenerated or planted in ``py``; a plantation
    placed along its rotation by ``u``), its category and equilibrium soil carbon, "remaining"
    (years since conversion = D). ``it``: the mature age and rotation of each strata-table row.
    OUTSIDE where the reference raises (a code past the tables, a woody stratum without a row,
    a class without a category), where its NumPy indexing would wrap (a negative code), or where
    a plantation's position along its rotation is not finite (or past int64)."""
    for i in range(lc.size):
        if not _initial_px(
            lc[i], ft[i], py[i], zone[i], u[i], year, t, a, it, out_int, out_soil, i
        ):
            return OUTSIDE
    return OK


@_jit
def pool_parts(stratum, category, age, ysc, previous, soil_start, lc, zone, t, out):
    """:func:`sinkmap.dynamics.pool_parts_reference`, pixel by pixel, into ``out`` (7, n)."""
    for i in range(stratum.size):
        s = stratum[i]
        if s <= 0:
            if lc[i] < 0 or lc[i] >= t[7].size:  # the reference looks every code up
                return OUTSIDE
            for k in range(7):
                out[k, i] = np.nan
            continue
        ok = _parts(
            s,
            category[i],
            age[i],
            ysc[i],
            previous[i],
            soil_start[i],
            lc[i],
            zone[i],
            t,
            out,
            i,
        )
        if not ok:
            return OUTSIDE
    return OK


@_pixel
def _advance_px(
    cat0,
    s_in,
    age0,
    ysc0,
    prev0,
    loss0,
    soil0,
    cb,
    c_in,
    ft_in,
    z_in,
    lost_in,
    year,
    t,
    a,
    new_int,
    new_soil,
    gains,
    losses,
    pools,
    at,
    buf,
):
    """One pixel's step (``advance``'s body): the new state into new_int[:, at] and
    new_soil[at], the gains, losses and pools (4) of the step into gains[at], losses[at] and
    pools[:, at]; False where ``advance`` returns OUTSIDE. ``lost_in``: a loss dated ``year``."""
    canopy_age, by_row, category_lut, is_tree, is_shrub, is_open, is_plantation, k = a
    natural, regrowing, shrub, nonwoody = k[0], k[1], k[2], k[3]
    row_table, woody, numbers, codes = t[0], t[1], t[11], t[12]
    years, soil_scale = codes[0], numbers[3]
    n_lut = is_tree.size
    c = c_in
    prev = s_in
    before = prev > 0
    valid_now = c != 0
    if c < 0 or c >= n_lut or prev < 0 or prev >= n_lut:
        return False
    if valid_now and not before:
        return False
    z = z_in
    ft = ft_in
    lost = lost_in
    tree = is_tree[c]
    shrub_cover = is_shrub[c]
    prev_row = _row(prev, z, row_table, woody)
    if prev_row < 0:
        return False
    prev_woody = woody[prev]
    if before:
        if not _parts(
            prev,
            cat0,
            age0,
            ysc0,
            prev0,
            soil0,
            cb,
            z,
            t,
            buf,
            0,
        ):
            return False
    # the new stratum and age
    plantation = 0 <= ft < n_lut and is_plantation[ft] and (tree or is_open[c])
    st = nonwoody
    if tree:
        st = natural if prev == natural else regrowing
    elif shrub_cover:
        st = shrub
    if plantation:
        st = ft
    if st == natural and lost:
        st = regrowing
    row = _row(st, z, row_table, woody)
    if row < 0:
        return False
    w = woody[st]
    same = st == prev
    continues = w and (
        same or ((prev == regrowing or prev == shrub) and (st == regrowing or st == shrub))
    )
    harvested = (
        0 <= prev < n_lut
        and is_plantation[prev]
        and same
        and not tree
        and age0 >= max(canopy_age[prev_row], 1)
    )
    degraded = (prev == natural or prev == regrowing) and st == shrub
    disturbed = (
        before and prev_woody and (lost or harvested or degraded or not w or (w and not continues))
    )
    new_age = age0 + 1 if (continues and not disturbed) else 0
    if not w:
        new_age = 0
    # category, conversions, soil
    if w:
        cat = by_row[row]
    else:
        cat = category_lut[c]
        if cat == 0 and c != 0:
            return False
    converted = before and cat != cat0
    if not valid_now:
        for j in range(6):
            new_int[j, at] = 0
        new_soil[at] = np.nan
        gains[at] = np.nan
        losses[at] = np.nan
        for j in range(4):
            pools[j, at] = np.nan
        return True
    new_ysc = 0 if converted else min(ysc0 + 1, years)
    new_prev = cat0 if converted else prev0
    soil = buf[6, 0] / soil_scale if converted else soil0
    new_int[0, at] = cat
    new_int[1, at] = st
    new_int[2, at] = new_age
    new_int[3, at] = new_ysc
    new_int[4, at] = new_prev
    new_int[5, at] = year if disturbed else loss0
    new_soil[at] = soil
    if not _parts(
        st,
        cat,
        new_age,
        new_ysc,
        new_prev,
        soil,
        c,
        z,
        t,
        buf,
        1,
    ):
        return False
    above1 = buf[0, 1] + buf[3, 1]
    below1 = buf[1, 1] + buf[4, 1]
    dead1 = buf[2, 1] + buf[5, 1]
    soil1 = buf[6, 1]
    pools[0, at] = above1
    pools[1, at] = below1
    pools[2, at] = dead1
    pools[3, at] = soil1
    bio0 = (buf[0, 0] + buf[3, 0]) + (buf[1, 0] + buf[4, 0])
    bio1 = above1 + below1
    g = bio1 if disturbed else positive(bio1 - bio0)
    loss = bio0 if disturbed else positive(bio0 - bio1)
    change = dead1 - (buf[2, 0] + buf[5, 0])
    g = g + positive(change)
    loss = loss + positive(-change)
    change = soil1 - buf[6, 0]
    g = g + positive(change)
    loss = loss + positive(-change)
    gains[at] = g
    losses[at] = loss
    return True


@_jit
def advance(
    category,
    stratum,
    age,
    ysc,
    previous,
    last_loss,
    soil_start,
    lc_before,
    lc,
    ftype,
    zone,
    loss_year,
    year,
    t,
    a,
    new_int,
    new_soil,
    gains,
    losses,
    pools,
    buf,
):
    """:func:`sinkmap.dynamics.advance_reference`, pixel by pixel: the new state into ``new_int``
    (6, n: category, stratum, age, years since conversion, previous category, last loss year)
    and ``new_soil``; the gains, losses and pools (4, n) of the step. ``t``: the pool tables,
    ``a``: :attr:`sinkmap.dynamics.Dynamics.advance_tables`. OUTSIDE also where a pixel without
    data last year has data now (the reference starts it afresh)."""
    for i in range(stratum.size):
        if not _advance_px(
            category[i],
            stratum[i],
            age[i],
            ysc[i],
            previous[i],
            last_loss[i],
            soil_start[i],
            lc_before[i],
            lc[i],
            ftype[i],
            zone[i],
            loss_year[i] == year,
            year,
            t,
            a,
            new_int,
            new_soil,
            gains,
            losses,
            pools,
            i,
            buf,
        ):
            return OUTSIDE
    return OK


@_pixel
def _zone(zone, default_zone):
    """``dynamics._ecozones`` of one pixel: its ecozone code where above 0, else the default."""
    z = np.int64(zone)
    return z if z > 0 else default_zone


@_pixel
def _stack_px(ints, soil, nodata, out, at):
    """``state_stack`` of one state (ints[:, 0], soil[0]) into out[4 … 10, at]."""
    if ints[1, 0] > 0:
        for j in range(6):
            out[4 + j, at] = np.float32(ints[j, 0])
        out[10, at] = np.float32(soil[0])
    else:
        for j in range(7):
            out[4 + j, at] = nodata[j]


@_pixel
def _as_before(out, i):
    """Pixel i's rows those of pixel i − 1 (its inputs are the same: so are its rows, bit for
    bit)."""
    for j in range(out.shape[0]):
        out[j, i] = out[j, i - 1]


@_jit
def first_layers(lc, ft, py, zone, u, flags, year, t, a, it, nodata, nan, out, ints, soil, buf):
    """The stocks stage's layers of a chunk in the first mapped year, in one pass, float32 into
    ``out`` (11 or 14, n): the pools (4) of the state :func:`initial` starts (``pool_parts``
    summed as ``pools_from_parts``; NaN outside the data), the state (7, as ``state_stack``)
    and, given 14 rows, NaN for the step. From the inputs as read (1-D, integer codes of any
    width, 0 where the model has no such role, as it reads it then; ``u`` float64): ``flags`` =
    (the default ecozone,). ``nan``: a NaN read at run time (not folded into a constant);
    ``ints`` (6, 1), ``soil`` (1), ``buf`` (7, 2): scratch. The bits of ``DynamicsModel.initial``,
    ``pools_of`` and ``State.stack`` through their kernels; OUTSIDE where one of those returns it.
    A pixel whose codes are the pixel before's takes that pixel's rows, unless the position
    ``u`` set the pixel before's age (a plantation of trees without a known planting year,
    :func:`_initial_px`): otherwise a pixel's rows are a function of its codes."""
    default_zone = flags[0]
    nan32 = np.float32(nan[0])
    is_tree, is_plantation = a[3], a[6]
    n_lut = is_tree.size
    positioned = True  # whether the pixel before's rows depend on its position
    for i in range(lc.size):
        if (
            not positioned
            and lc[i] == lc[i - 1]
            and ft[i] == ft[i - 1]
            and py[i] == py[i - 1]
            and zone[i] == zone[i - 1]
        ):
            _as_before(out, i)
            continue
        c = np.int64(lc[i])
        positioned = False
        valid = False
        z = default_zone
        if c != 0:  # DynamicsModel.initial starts the pixels with a land cover only
            z = _zone(zone[i], default_zone)
            f, p = np.int64(ft[i]), np.int64(py[i])
            if not _initial_px(c, f, p, z, u[i], year, t, a, it, ints, soil, 0):
                return OUTSIDE
            valid = ints[1, 0] > 0
            s = ints[1, 0]
            positioned = (
                0 <= s < n_lut
                and is_plantation[s]
                and 0 <= c < n_lut
                and is_tree[c]
                and not (p > 0 and p <= year)
            )
        if valid:
            s = ints[1, 0]
            if not _parts(
                s, ints[0, 0], ints[2, 0], ints[3, 0], ints[4, 0], soil[0], c, z, t, buf, 0
            ):
                return OUTSIDE
            out[0, i] = np.float32(buf[0, 0] + buf[3, 0])
            out[1, i] = np.float32(buf[1, 0] + buf[4, 0])
            out[2, i] = np.float32(buf[2, 0] + buf[5, 0])
            out[3, i] = np.float32(buf[6, 0])
            _stack_px(ints, soil, nodata, out, i)
        else:
            for j in range(4):
                out[j, i] = nan32
            for j in range(7):
                out[4 + j, i] = nodata[j]
        for j in range(11, out.shape[0]):
            out[j, i] = nan32
    return OK


@_jit
def step_layers(
    category,
    stratum,
    age,
    ysc,
    previous,
    last_loss,
    soil_start,
    lc_before,
    lc,
    ft,
    zone,
    loss,
    soil_bits,
    flags,
    year,
    years,
    co2_per_c,
    t,
    a,
    nodata,
    nan,
    out,
    ints,
    soil,
    gain,
    lost,
    pools,
    buf,
):
    """The stocks stage's layers of a chunk stepped one year from the state of the year before,
    in one pass, float32 into ``out`` (11 or 14, n): the pools (4) of the state reached, the state
    (7, as ``state_stack``) and, given 14 rows, the step's net, removals and emissions
    (``step_fluxes`` over ``years``); NaN (nodata) outside the data. From the layers as read
    (1-D: the state in its file dtypes, as ``state_from_layers`` reads it; integer codes of any
    width, 0 where the model has no such role, as it reads it then; ``soil_bits``: the soil
    start's bits, an unsigned integer view of it). A pixel whose inputs are the pixel before's,
    bit for bit, takes that pixel's rows (a pixel's rows are a function of its inputs: the same
    bits, without stepping it again; most pixels of a landscape are). ``flags`` = (has a loss-year
    layer, the default ecozone, the loss year of code 0). ``nan``: a NaN read at run time; ``ints`` (6, 1), ``soil``,
    ``gain``, ``lost`` (1), ``pools`` (4, 1), ``buf`` (7, 2): scratch. The bits of
    ``State.from_arrays``, ``DynamicsModel.step`` (one year), ``State.stack`` and ``step_fluxes``
    through their kernels; OUTSIDE where ``advance`` returns it."""
    has_loss, default_zone, loss_base = flags[0], flags[1], flags[2]
    nan64 = nan[0]
    nan32 = np.float32(nan64)
    steps = out.shape[0] > 11
    for i in range(lc.size):
        if (
            i > 0
            and lc[i] == lc[i - 1]
            and stratum[i] == stratum[i - 1]
            and category[i] == category[i - 1]
            and age[i] == age[i - 1]
            and ysc[i] == ysc[i - 1]
            and previous[i] == previous[i - 1]
            and last_loss[i] == last_loss[i - 1]
            and soil_bits[i] == soil_bits[i - 1]
            and lc_before[i] == lc_before[i - 1]
            and ft[i] == ft[i - 1]
            and zone[i] == zone[i - 1]
            and loss[i] == loss[i - 1]
        ):
            _as_before(out, i)
            continue
        c = np.int64(lc[i])
        s0 = np.int64(stratum[i])
        if s0 <= 0 and c == 0:  # no data before or now: DynamicsModel.step leaves the pixel out
            for j in range(4):
                out[j, i] = nan32
            for j in range(7):
                out[4 + j, i] = nodata[j]
            if steps:
                _step_flux_px(nan64, nan64, years, co2_per_c, out, 11, i)
            continue
        cat0, age0, ysc0, prev0, loss0, soil0 = 0, 0, 0, 0, 0, nan64
        if s0 > 0:  # state_from_layers: the state where its stratum is above 0
            cat0 = np.int64(category[i])
            age0 = np.int64(age[i])
            ysc0 = np.int64(ysc[i])
            prev0 = np.int64(previous[i])
            loss0 = np.int64(last_loss[i])
            soil0 = np.float64(soil_start[i])
        else:
            s0 = 0
        f = np.int64(ft[i])
        z = _zone(zone[i], default_zone)
        when = nan64  # the model's loss years as float64: base + code where code > 0, else 0
        if has_loss:
            code = np.int64(loss[i])
            when = np.float64(loss_base + code if code > 0 else 0)
        if not _advance_px(
            cat0,
            s0,
            age0,
            ysc0,
            prev0,
            loss0,
            soil0,
            np.int64(lc_before[i]),
            c,
            f,
            z,
            when == year,
            year,
            t,
            a,
            ints,
            soil,
            gain,
            lost,
            pools,
            0,
            buf,
        ):
            return OUTSIDE
        for j in range(4):
            out[j, i] = np.float32(pools[j, 0])
        _stack_px(ints, soil, nodata, out, i)
        if steps:  # advance_span's sums over one year: 0.0 + the year's
            _step_flux_px(0.0 + gain[0], 0.0 + lost[0], years, co2_per_c, out, 11, i)
    return OK


@_jit
def state_from_layers(category, stratum, age, since, previous, loss_year, soil, ints, soil_out):
    """``State.from_arrays``: the state's integer layers as int64 (``ints`` (6, n), in the
    state's order) and its soil start as float64, each 0 (NaN for the soil) where the stratum is
    not above 0 (nodata outside the data)."""
    for i in range(stratum.size):
        if np.int64(stratum[i]) > 0:
            ints[0, i] = np.int64(category[i])
            ints[1, i] = np.int64(stratum[i])
            ints[2, i] = np.int64(age[i])
            ints[3, i] = np.int64(since[i])
            ints[4, i] = np.int64(previous[i])
            ints[5, i] = np.int64(loss_year[i])
            soil_out[i] = np.float64(soil[i])
        else:
            for k in range(6):
                ints[k, i] = 0
            soil_out[i] = np.nan
    return OK


@_jit
def state_stack(category, stratum, age, since, previous, loss_year, soil, nodata, out):
    """``State.stack``: the state's seven layers as float32 rows of ``out`` (7, n), each layer's
    ``nodata`` where the stratum is not above 0."""
    for i in range(stratum.size):
        if stratum[i] > 0:
            out[0, i] = np.float32(category[i])
            out[1, i] = np.float32(stratum[i])
            out[2, i] = np.float32(age[i])
            out[3, i] = np.float32(since[i])
            out[4, i] = np.float32(previous[i])
            out[5, i] = np.float32(loss_year[i])
            out[6, i] = np.float32(soil[i])
        else:
            for k in range(7):
                out[k, i] = nodata[k]
    return OK
