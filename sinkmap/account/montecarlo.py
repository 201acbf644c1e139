"""Monte Carlo propagation of uncertainty (IPCC 2006 Vol. 1 Ch. 3, Approach 2), tile by tile.

Parameters (numbers of the model, columns of its pool table) are drawn once per draw for the whole
run (:func:`draw_parameters`); per-pixel input errors are drawn on a fixed lattice of the grid
(:func:`pixel_noise`), so a pixel's error does not depend on the chunking. Each tile runs all its
draws and keeps only draws × zones × pools totals (:func:`pixel_draws`); a model whose pools depend
on each pixel's class only is drawn class by class instead (:func:`class_areas`,
:func:`class_draws`): the same totals, thousands of times faster. See ``docs/accounting.md``.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from sinkmap.account.distributions import Distribution
from sinkmap.account.zones import Zones, membership, weighted_sums
from sinkmap.constants import POOLS
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid, Tile
from sinkmap.tables import PoolTable

Sums = dict[str, np.ndarray]


#: Side, in pixels, of the fixed lattice of blocks on which per-pixel random errors are seeded.
#: A pixel's error depends only on (seed, draw, stream, its block), never on the chunking.
NOISE_BLOCK = 128


@dataclass(frozen=True)
class Parameter:
    """An uncertain model parameter: central value(s) ``mean`` and the shape of its uncertainty.

    ``mean`` may be an array (one pool's column of a pool table, one value per class): each class
    is drawn independently unless ``shared_classes`` (one draw for every class: the classes share
    one source, e.g. one soil reference stock). Parameters with the same ``group`` share their
    standard normal draws (class by class for table columns): perfectly rank-correlated, as pools
    derived from one biomass value are. ``distribution`` defaults to a normal of relative SD
    ``rel_sd``; nothing is clipped (:mod:`sinkmap.account.distributions`).
    """

    mean: float | np.ndarray
    rel_sd: float = 0.0
    distribution: Distribution | None = None
    shared_classes: bool = False
    group: str | None = None

    @property
    def dist(self) -> Distribution:
        return self.distribution or Distribution("normal", float(self.rel_sd))

    @property
    def z_shape(self) -> tuple[int, ...]:
        """Shape of one draw's standard normals: one per class, or one for all."""
        return () if self.shared_classes else np.shape(self.mean)

    def values(self, z: np.ndarray) -> np.ndarray:
        """Draws (draws, *shape of mean) from standard normals (draws, *z_shape)."""
        mean = np.asarray(self.mean, "float64")
        z = np.asarray(z, "float64")
        z = z.reshape((z.shape[0], *self.z_shape, *(1,) * (mean.ndim - len(self.z_shape))))
        return np.broadcast_to(self.dist.values(mean, z), (z.shape[0], *mean.shape)).copy()


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def draw_parameters(
    parameters: Mapping[str, Parameter], draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Draw every parameter once per Monte Carlo draw, for the whole run.

    Returns ``{name: array (draws, *shape)}``. Each parameter has its own random stream keyed by
    (seed, name), or by (seed, its group) when it belongs to a group, so adding a parameter leaves
    the draws of the others unchanged. A value drawn here is used for every pixel of the run:
    fully correlated across pixels and tiles.
    """
    check_draws(draws, seed)

    def stream(name: str, p: Parameter) -> str:
        return f"group:{p.group}" if p.group else name

    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, p in parameters.items():
        p.dist.check(name)
        shapes.setdefault(stream(name, p), {})[name] = p.z_shape
    if len({stream_key(s) for s in shapes}) != len(shapes):
        raise InputDataError(f"parameter names {sorted(parameters)} collide; rename one")
    for key, members in shapes.items():
        if len(set(members.values())) > 1:
            raise InputDataError(
                f"correlated group {key.removeprefix('group:')!r} mixes parameters drawn per "
                f"class and drawn once ({members}): put only table columns of one table (or only "
                "single numbers) in one group"
            )
    z = {
        key: np.random.default_rng(
            np.random.SeedSequence([seed, 0, stream_key(key)])
        ).standard_normal((draws, *next(iter(members.values()))))
        for key, members in shapes.items()
    }
    return {name: p.values(z[stream(name, p)]) for name, p in parameters.items()}


def check_draws(draws: int, seed: int) -> None:
    if int(draws) < 1:
        raise InputDataError(f"Monte Carlo needs at least 1 draw, got {draws}")
    if int(seed) < 0:
        raise InputDataError(f"the Monte Carlo seed must be an integer >= 0, got {seed}")


def pixel_noise(
    seed: int,
    draw: int,
    stream: str,
    row_off: int,
    col_off: int,
    height: int,
    width: int,
    cell: int = 1,
    sigma: float = 0.0,
) -> np.ndarray:
    """Standard normal errors for a window of the grid, independent per source cell, stream and
    draw, or spatially correlated between source cells.

    A source cell is ``cell`` × ``cell`` grid cells from the grid's origin (the product's own
    resolution: ``cell`` = 10 for a 100 m product on a 10 m grid): its one error is shared by the
    grid cells inside it, so averaging over many grid cells does not average it away. With
    ``sigma`` > 0 (in source cells) the source cells' errors are white noise smoothed by a
    Gaussian kernel of that SD, scaled back to unit variance: a stationary field whose
    correlation at a distance of h source cells is exp(−h² / (4 sigma²)) (e-folding length
    2 sigma). The white noise is generated on a fixed lattice of :data:`NOISE_BLOCK` source cells,
    each block from a generator keyed by (seed, stream, draw, block row, block column), and the
    smoothing reads a halo of 4 sigma around the window: a pixel gets the same value whatever
    chunk it is read in, in whatever order chunks run.

    Returns
    -------
    numpy.ndarray
        float64, shape (``height``, ``width``).
    """
    if cell > 1:
        r0, c0 = row_off // cell, col_off // cell
        coarse = pixel_noise(
            seed,
            draw,
            stream,
            r0,
            c0,
            (row_off + height - 1) // cell - r0 + 1,
            (col_off + width - 1) // cell - c0 + 1,
            sigma=sigma,
        )
        fine = np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)
        dr, dc = row_off - r0 * cell, col_off - c0 * cell
        return fine[dr : dr + height, dc : dc + width]
    if sigma > 0:
        from scipy.ndimage import correlate1d

        halo = int(np.ceil(4 * sigma))
        white = pixel_noise(
            seed, draw, stream, row_off - halo, col_off - halo, height + 2 * halo, width + 2 * halo
        )
        x = np.arange(-halo, halo + 1)
        k = np.exp(-(x**2) / (2 * sigma**2))
        k /= np.sqrt(np.sum(k**2))  # unit variance: the 2-D kernel's squares add up to 1
        smooth = correlate1d(correlate1d(white, k, axis=0, mode="constant"), k, axis=1)
        return smooth[halo : halo + height, halo : halo + width]
    b = NOISE_BLOCK
    key = stream_key(stream)
    out = np.empty((height, width))
    for br in range(row_off // b, (row_off + height - 1) // b + 1):
        for bc in range(col_off // b, (col_off + width - 1) // b + 1):
            # a halo may reach blocks before the origin: SeedSequence takes entries >= 0
            entropy = [seed, 1, key, draw, br % 2**32, bc % 2**32]
            rng = np.random.default_rng(np.random.SeedSequence(entropy))
            r0, r1 = max(row_off, br * b), min(row_off + height, (br + 1) * b)
            # the block's rows down to the last one read: numpy's generator (2.x) fills an array
            # one value after the other, so these are the first rows of the whole b × b block
            # (how numpy behaves, not a promise of its compatibility policy: a test pins each
            # block's numbers). A window that ends inside a block draws only its rows down to there.
            block = rng.standard_normal((r1 - br * b, b))
            k0, k1 = max(col_off, bc * b), min(col_off + width, (bc + 1) * b)
            out[r0 - row_off : r1 - row_off, k0 - col_off : k1 - col_off] = block[
                r0 - br * b : r1 - br * b, k0 - bc * b : k1 - bc * b
            ]
    return out


@dataclass(frozen=True)
class NoiseStream:
    """Where one input's per-pixel errors come from: the random stream (its role, plus the year
    when errors are independent between years), the source cell in grid cells, and the SD of the
    smoothing kernel in source cells (0: independent source cells)."""

    stream: str
    cell: int = 1
    sigma: float = 0.0


#: ``chunk_fn(data, params, noise) -> sums``: one chunk's totals for one draw. ``data`` the
#: chunk's arrays, ``params`` one draw of each parameter, ``noise(stream)`` standard normal
#: errors for the chunk (one independent field per stream name).
ChunkFn = Callable[
    [Mapping[str, np.ndarray], Mapping[str, np.ndarray], Callable[[str], np.ndarray]],
    Mapping[str, np.ndarray],
]


def monte_carlo_tile(
    chunk_fn: ChunkFn,
    data: Mapping[str, np.ndarray],
    tile: Tile,
    param_draws: Mapping[str, np.ndarray],
    seed: int,
    draws: int,
    streams: Mapping[str, NoiseStream] | None = None,
) -> Sums:
    """All draws of one tile: ``{key: array (draws, …)}`` of the totals ``chunk_fn`` returns.

    Only one draw of the tile's pixels is in memory at a time; the result holds draws × groups,
    never draws × pixels. Tiles combine by adding.
    """
    check_draws(draws, seed)
    for k, v in param_draws.items():
        if np.shape(v)[0] != draws:
            raise InputDataError(f"parameter {k} has {np.shape(v)[0]} draws, expected {draws}")
    for k, v in data.items():
        if np.shape(v) != (tile.height, tile.width):
            raise InputDataError(
                f"data {k} has shape {np.shape(v)} but tile {tile.id} is {tile.height} x {tile.width}"
            )
    out: Sums = {}
    for d in range(draws):
        params = {k: v[d] for k, v in param_draws.items()}

        def noise(role: str, _d: int = d) -> np.ndarray:
            src = (streams or {}).get(role, NoiseStream(role))
            return pixel_noise(
                seed,
                _d,
                src.stream,
                tile.row_off,
                tile.col_off,
                tile.height,
                tile.width,
                src.cell,
                src.sigma,
            )

        result = chunk_fn(data, params, noise)
        if d == 0:
            out = {k: np.zeros((draws, *np.shape(v))) for k, v in result.items()}
        for k, v in result.items():
            out[k][d] = v
    return out


def parameter_target(model: Any, name: str) -> tuple[str, str | None]:
    """What a Monte Carlo parameter name draws: ``(name, None)`` for a numeric parameter of the
    model, ``(attr, pool)`` for one pool's column of the model's :class:`PoolTable` ``attr``
    (``"table.above"``). Anything else is an error naming what can be drawn."""
    fields = type(model.params).model_fields
    if name in fields:
        current = getattr(model.params, name)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise InputDataError(
                f"Monte Carlo parameter {name!r}: model {model.name!r} has {name} = "
                f"{current!r}, not one number, so it cannot be drawn; give it a number or remove it"
            )
        return name, None
    attr, _, pool = name.partition(".")
    table = getattr(model, attr, None) if pool else None
    if not isinstance(table, PoolTable) or pool not in table.values:
        raise InputDataError(
            f"Monte Carlo parameter {name!r} is neither a numeric parameter of model "
            f"{model.name!r} ({sorted(fields)}) nor '<table attribute>.<pool>' (e.g. table.above)"
        )
    return attr, pool


def draw_pools(
    model: Any,
    data: Mapping[str, np.ndarray],
    params: Mapping[str, np.ndarray],
    noise: Callable[[str], np.ndarray],
    input_errors: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """The pools ``model`` gives for one Monte Carlo draw of its parameters and inputs.

    ``params`` holds one draw of each parameter: a numeric parameter of the model by name (e.g.
    ``carbon_fraction``), or ``"{attr}.{pool}"`` for one pool's column of the model's
    :class:`PoolTable` attribute ``attr`` (:func:`table_parameters`). Each input role in
    ``input_errors`` becomes ``data[role] + data[sd_key] × noise(role)``. ``model`` is not modified.
    """
    m = copy.copy(model)
    updates: dict[str, float] = {}
    tables: dict[str, dict[str, np.ndarray]] = {}
    for name, value in params.items():
        attr, pool = parameter_target(model, name)
        if pool is None:
            updates[name] = float(value)
        else:
            tables.setdefault(attr, {})[pool] = np.asarray(value, "float64")
    if updates:
        m.params = model.params.model_copy(update=updates)
    for attr, pools in tables.items():
        base: PoolTable = getattr(model, attr)
        values = {p: pools.get(p, v) for p, v in base.values.items()}
        m.__dict__[attr] = PoolTable(
            codes=base.codes, values=values, name=base.name, names=base.names
        )
    chunk = dict(data)
    for role, sd_key in (input_errors or {}).items():
        chunk[role] = np.asarray(data[role], "float64") + np.asarray(
            data[sd_key], "float64"
        ) * noise(role)
    return m.pools(chunk)


def mc_parameters(
    model: Any,
    specs: Mapping[str, Any],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Parameter]:
    """The uncertain parameters of ``model``: a numeric parameter by name, or ``"{attr}.{pool}"``
    for a pool-table column, each from its spec: a relative SD (a normal), or an object with
    ``distribution``, ``rel_sd``, ``rel_range``, ``rel_bounds`` and ``classes``
    (:class:`sinkmap.config.ParameterSpec`). ``groups``: name → parameters sharing their draws."""
    member = {p: g for g, names in (groups or {}).items() for p in names}
    clash = sorted(set(groups or {}) & set(specs))
    if clash:
        raise InputDataError(
            f"correlated group name(s) {clash} are also parameter names; name the group(s) "
            "differently (e.g. after their source: open_land_biomass)"
        )
    targets = {n: parameter_target(model, n) for n in specs}
    tables = {
        g: {targets[n][0] for n in names if targets[n][1]}
        for g, names in (groups or {}).items()
        if set(names) <= set(specs)
    }
    mixed = {g: sorted(t) for g, t in tables.items() if len(t) > 1}
    if mixed:
        raise InputDataError(
            f"correlated group(s) {mixed} pair columns of different tables row by row; put the "
            "columns of one table in a group"
        )
    unknown = sorted(set(member) - set(specs))
    if unknown:
        raise InputDataError(
            f"correlated group(s) name parameter(s) {unknown} that have no uncertainty under "
            "account.uncertainty.parameters; add them there or remove them from the group"
        )
    out: dict[str, Parameter] = {}
    for name, spec in specs.items():
        attr, pool = targets[name]
        if pool is None:
            mean: float | np.ndarray = float(getattr(model.params, name))
        else:
            mean = np.asarray(getattr(model, attr).values[pool], "float64")
        out[name] = parameter(name, mean, spec, member.get(name))
    return out


def parameter(
    name: str, mean: float | np.ndarray, spec: Any, group: str | None = None
) -> Parameter:
    """A :class:`Parameter` of value(s) ``mean`` from its config spec: a relative SD (a normal) or
    a :class:`sinkmap.config.ParameterSpec`; its distribution checked."""
    if isinstance(spec, int | float):
        dist, shared = Distribution("normal", float(spec)), False
    else:
        dist = Distribution(
            spec.distribution,
            float(spec.rel_sd),
            None if spec.rel_range is None else tuple(spec.rel_range),
            tuple(spec.rel_bounds),
        )
        shared = spec.classes == "shared"
    dist.check(name)
    return Parameter(mean, dist.rel_sd, dist, shared, group)


def pixel_draws(
    model: Any,
    grid: Grid,
    zones: Zones,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    param_draws: Mapping[str, np.ndarray],
    seed: int,
    draws: int,
    input_errors: Mapping[str, str],
    want_sd: bool,
    streams: Mapping[str, NoiseStream] | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """All draws of one tile: totals (draws, zones, pools + total) in Mg C, and the per-pixel SD
    of the total stock (Mg C/ha) if asked. Memory: one tile of pixels plus draws × zones × 5."""
    area = grid.cell_area_ha(tile.window)
    data = {k: np.asarray(v) for k, v in blocks.items()}
    base = model.pools(data)
    valid = np.asarray(data["land_cover"]) != 0
    valid &= np.isfinite(sum(np.asarray(base[p], "float64") for p in POOLS))
    member = membership(valid, area, zones.coverage(tile))
    user = member.zone > 0
    z_idx, z_cell, z_w = member.zone[user], member.cell[user], member.weight[user]
    w_aoi = np.where(valid, area, 0.0).ravel()
    n_zones = len(zones.ids)
    acc = np.zeros(valid.shape) if want_sd else None  # Σ total and Σ total² over draws, per pixel
    acc2 = np.zeros(valid.shape) if want_sd else None

    def one_draw(
        data: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray], noise: Any
    ) -> dict[str, np.ndarray]:
        pools = draw_pools(model, data, params, noise, input_errors)
        sums = np.zeros((n_zones, len(POOLS) + 1))
        total = np.zeros(valid.shape)
        for i, p in enumerate(POOLS):
            v = np.where(valid, np.nan_to_num(np.asarray(pools[p], "float64")), 0.0)
            total += v
            flat = v.ravel()
            sums[0, i] = flat @ w_aoi
            if z_idx.size:
                sums[:, i] += np.bincount(z_idx, weights=flat[z_cell] * z_w, minlength=n_zones)
        sums[:, -1] = sums[:, :-1].sum(axis=1)
        if acc is not None and acc2 is not None:  # in place: the closure's arrays
            acc[...] += total
            acc2[...] += total * total
        return {"totals": sums}

    totals = monte_carlo_tile(one_draw, data, tile, param_draws, seed, draws, streams)["totals"]
    sd = None
    if acc is not None and acc2 is not None:
        var = np.maximum(acc2 - acc * acc / draws, 0.0) / max(draws - 1, 1)
        sd = np.where(valid, np.sqrt(var), np.nan).astype("float32")
    return sd, totals


class LinearParts(NamedTuple):
    """One tile's model run on the linear path (:func:`linear_parts`)."""

    valid: np.ndarray  # the cells with data
    area: np.ndarray  # cell areas (ha)
    fixed: dict[str, np.ndarray]  # per pool, the part no drawn parameter scales (Mg C/ha)
    used: dict[str, Any]  # per drawn parameter, (its parts per pool, its table row per cell)


def linear_parts(
    model: Any, grid: Grid, tile: Tile, blocks: Mapping[str, np.ndarray], names: Sequence[str]
) -> LinearParts:
    """A tile's valid cells, cell areas, the part of each pool no drawn parameter scales, and the
    parts each drawn parameter ``names`` scales (``model.mc_components``; 0 outside the valid
    cells and where the model gives NaN): what :func:`parts_stats` and :func:`parts_sd` read, so
    one run of the model serves both.

    A model whose pools are the sums of its parts gives both from one run (``model.mc_split``);
    otherwise ``model.mc_components`` and ``model.pools`` run each. The parts add up to the pools,
    so they are finite wherever the pools' sum is: the cells counted."""
    area = grid.cell_area_ha(tile.window)
    data = {k: np.asarray(v) for k, v in blocks.items()}
    split = getattr(model, "mc_split", None)
    if split is not None:
        components, base = split(data)
    else:
        components, base = model.mc_components(data), model.pools(data)
    valid = np.asarray(data["land_cover"]) != 0
    valid &= np.isfinite(sum(np.asarray(base[p], "float64") for p in POOLS))
    fixed = {p: np.where(valid, np.asarray(base[p], "float64"), 0.0) for p in POOLS}
    wanted = [name for name in names if name in components]
    used = {}
    for name in wanted:
        parts, index = components[name]
        clean = {pool: np.where(valid, arr, 0.0) for pool, arr in parts.items()}
        for pool, arr in clean.items():
            fixed[pool] = fixed[pool] - arr
        if index is not None and (index[valid] < 0).any():
            raise InputDataError(f"a class of the map has no row in the table of {sorted(wanted)}")
        used[name] = (clean, index)
    return LinearParts(valid, area, fixed, used)


def linear_stats(
    model: Any,
    grid: Grid,
    zones: Zones,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    sizes: Mapping[str, int],
) -> dict[str, np.ndarray]:
    """One tile's sums for a model whose pools are a sum of parts each proportional to one
    parameter (``model.mc_components``): ``"fixed"`` (zones, pools), the area-weighted sum (Mg C)
    of what no drawn parameter scales, and for each drawn parameter (pools, zones, n) the sum of
    the part it scales per zone and table row (n = ``sizes[name]``: 1 for a number). Tiles add;
    :func:`linear_totals` turns the sums into draws without running the model per draw."""
    return parts_stats(linear_parts(model, grid, tile, blocks, list(sizes)), zones, tile, sizes)


def parts_stats(
    linear: LinearParts, zones: Zones, tile: Tile, sizes: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """:func:`linear_stats` of a tile's :func:`linear_parts`."""
    valid, area, fixed, used = linear
    member = membership(valid, area, zones.coverage(tile))
    n_zones = len(zones.ids)
    pool_index = {p: i for i, p in enumerate(POOLS)}
    # one sparse product per key space (zone, or zone × table row of a table's index), shared by
    # every part summed over it: the three table.<pool> parameters share one index object, which
    # ``used`` keeps alive while this runs (so its id names it)
    by_space: dict[tuple[int, int], Callable[[npt.ArrayLike], np.ndarray]] = {}

    def zone_sums(values: np.ndarray, index: np.ndarray | None, n: int) -> np.ndarray:
        """Σ value × weight per zone (and per index entry): (zones, n)."""
        space = (id(index), n)
        if space not in by_space:
            key = member.zone * n
            if index is not None:
                key = key + np.where(valid, index, 0).ravel()[member.cell]
            by_space[space] = weighted_sums(member, key, n_zones * n)
        return by_space[space](values).reshape(n_zones, n)

    out = {"fixed": np.zeros((n_zones, len(POOLS)))}
    for pool, arr in fixed.items():
        out["fixed"][:, pool_index[pool]] = zone_sums(arr, None, 1)[:, 0]
    for name, n in sizes.items():
        out[name] = np.zeros((len(POOLS), n_zones, n))
        if name not in used:
            continue
        parts, index = used[name]
        for pool, arr in parts.items():
            out[name][pool_index[pool]] = zone_sums(arr, index, n)
    return out


def add_stats(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Tiles' :func:`linear_stats` added, in order."""
    return {k: np.sum([p[k] for p in parts], axis=0) for k in parts[0]}


def linear_totals(
    stats: Mapping[str, np.ndarray], factors: Mapping[str, np.ndarray], draws: int
) -> np.ndarray:
    """Totals (draws, zones, pools + total) in Mg C from :func:`linear_stats` and each drawn
    parameter's draws over its mean (``factors``: (draws,) for a number, (draws, n) for a table
    column). Exact: the totals of running the model with the drawn parameters, up to the order of
    additions and the model's float32 rounding of its pools (the pixel path rounds every draw,
    this path the central values only: ~1e-7 of a total; tests/unit/test_mc_linear.py)."""
    fixed = stats["fixed"]
    totals = np.zeros((draws, fixed.shape[0], len(POOLS) + 1))
    totals[:, :, :-1] = fixed
    for name, f in factors.items():
        s = stats[name]  # (pools, zones, n)
        fd = np.asarray(f, "float64").reshape(draws, -1)  # (draws, n)
        totals[:, :, :-1] += np.einsum("dn,pzn->dzp", fd, s)
    totals[:, :, -1] = totals[:, :, :-1].sum(axis=2)
    return totals


def linear_sd(
    model: Any,
    grid: Grid,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    factors: Mapping[str, np.ndarray],
    draws: int,
) -> np.ndarray:
    """Per-pixel SD of the total stock (Mg C/ha) over the draws of the linear path (float32, NaN
    outside the data), without a pass over the pixels per draw.

    A pixel's total in draw d is fixed + Σ_a f_a,d × P_a (P_a the part parameter a scales, f_a,d
    its factor for the pixel's class), so its sample variance over the draws is exactly
    Σ_a Σ_b Cov(f_a, f_b) × P_a × P_b, with the factors' sample covariances per table row taken
    once from the draws."""
    return parts_sd(linear_parts(model, grid, tile, blocks, list(factors)), factors, draws)


def parts_sd(linear: LinearParts, factors: Mapping[str, np.ndarray], draws: int) -> np.ndarray:
    """:func:`linear_sd` of a tile's :func:`linear_parts` (of the parameters of ``factors``, in
    their order)."""
    valid, _, _, used = linear
    if list(used) != [name for name in factors if name in used]:
        raise ValueError(f"the parts of {list(used)} are not those of {list(factors)}")
    if draws < 2 or not used:
        return np.where(valid, 0.0, np.nan).astype("float32")
    indexes = [index for _, index in used.values() if index is not None]
    index = indexes[0] if indexes else None
    if any(not np.array_equal(i, indexes[0]) for i in indexes[1:]):
        raise InputDataError(f"parameters {sorted(used)} index different tables")
    n = max((np.asarray(factors[name]).reshape(draws, -1).shape[1] for name in used), default=1)
    f = np.stack(
        [
            np.broadcast_to(np.asarray(factors[name], "float64").reshape(draws, -1), (draws, n))
            for name in used
        ],
        axis=1,
    )  # (draws, parameters, table rows)
    f = f - f.mean(axis=0)
    cov = np.einsum("dak,dbk->kab", f, f) / (draws - 1)  # (table rows, parameters, parameters)
    row = np.zeros(valid.shape, np.intp) if index is None else np.where(valid, index, 0)
    parts = [sum(p.values()) for p, _ in used.values()]
    var = np.zeros(valid.shape)
    for a, pa in enumerate(parts):
        for b, pb in enumerate(parts):
            var += cov[row, a, b] * pa * pb
    return np.where(valid, np.sqrt(np.maximum(var, 0.0)), np.nan).astype("float32")


def draw_factors(
    parameters: Mapping[str, Parameter], param_draws: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each parameter's draws divided by its mean (1 where the mean is 0: nothing to scale)."""
    out = {}
    for name, p in parameters.items():
        mean = np.asarray(p.mean, "float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(mean != 0, param_draws[name] / mean, 1.0)
    return out


def class_areas(grid: Grid, zones: Zones, tile: Tile, lc: np.ndarray) -> np.ndarray:
    """Area (ha) of each land-cover class in each zone over one tile: (zones, 256)."""
    area = grid.cell_area_ha(tile.window)
    member = membership(np.asarray(lc) != 0, area, zones.coverage(tile))
    codes = np.asarray(lc).ravel().astype(np.int64)[member.cell]
    n = len(zones.ids)
    key = member.zone * 256 + codes
    return np.bincount(key, weights=member.weight, minlength=n * 256).reshape(n, 256)


def class_draws(
    model: Any, areas: np.ndarray, param_draws: Mapping[str, np.ndarray], draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """Totals (draws, zones, pools + total) from the class areas, and the SD of each class's total
    stock over the draws as a 256-entry lookup (NaN for nodata and absent classes).

    The classes drawn are those with area in zone 0, which must contain every other zone (the
    account's zone 0 is the whole AOI)."""
    present = np.flatnonzero(areas[0] > 0)
    codes = present.astype(np.uint8)[None, :]
    values = np.zeros((draws, len(POOLS), present.size))

    def no_noise(stream: str) -> np.ndarray:
        raise InputDataError(f"input {stream!r} has per-pixel errors: run the Monte Carlo by pixel")

    for d in range(draws):
        pools = draw_pools(
            model, {"land_cover": codes}, {k: v[d] for k, v in param_draws.items()}, no_noise
        )
        for i, p in enumerate(POOLS):
            values[d, i] = np.nan_to_num(np.asarray(pools[p], "float64")[0])
    totals = np.zeros((draws, areas.shape[0], len(POOLS) + 1))
    totals[:, :, :-1] = np.einsum("zk,dik->dzi", areas[:, present], values)
    totals[:, :, -1] = totals[:, :, :-1].sum(axis=2)
    lut = np.full(256, np.nan, "float32")
    per_class = values.sum(axis=1)  # (draws, classes)
    lut[present] = per_class.std(axis=0, ddof=1) if draws > 1 else 0.0
    return totals, lut


def bound_mcse(draws: np.ndarray, q: float) -> np.ndarray:
    """Monte Carlo standard error of the ``q`` quantile of ``draws`` along the last axis.

    The sample quantile's rank is binomial (n, q): its ±1 SD range, the probabilities
    q ± √(q·(1−q)/n), maps through the draws' empirical quantiles (interpolated, as the account's
    percentiles are) to ±1 SE of the quantile, so the SE is half the spread between those two
    quantiles (the order-statistics interval of a quantile, e.g. Gelman et al., Bayesian Data
    Analysis 3rd ed., 10.5). NaN with fewer than 2 draws.
    """
    x = np.asarray(draws, "float64")
    n = x.shape[-1]
    if n < 2:
        return np.full(x.shape[:-1], np.nan)
    half = np.sqrt(q * (1 - q) / n)
    lo, hi = np.quantile(x, [max(q - half, 0.0), min(q + half, 1.0)], axis=-1)
    return (hi - lo) / 2.0


def draws_needed(draws: int, mcse: float, half_width: float, tolerance: float) -> int:
    """Draws for a bound's standard error to fall to ``tolerance`` × the interval's half-width
    (the SE falls as 1/√draws)."""
    if not np.isfinite(mcse) or half_width <= 0 or mcse <= tolerance * half_width:
        return draws
    return int(np.ceil(draws * (mcse / (tolerance * half_width)) ** 2))


def sources(parameters: Mapping[str, Parameter]) -> dict[str, list[str]]:
    """The independent sources of uncertainty: each correlated group (named "group (members)")
    and each parameter outside a group. A group is held or drawn as one: holding one member of a
    group while the others vary would break the correlation the group states."""
    groups: dict[str, list[str]] = {}
    for name, p in parameters.items():
        groups.setdefault(p.group or name, []).append(name)
    return {
        (f"{key} ({', '.join(names)})" if parameters[names[0]].group else key): names
        for key, names in groups.items()
    }


def fix_parameter(
    parameters: Mapping[str, Parameter],
    param_draws: Mapping[str, np.ndarray],
    name: str | Sequence[str],
) -> dict[str, np.ndarray]:
    """The draws with parameter(s) ``name`` held at their central values in every draw (the others
    as drawn: common random numbers, so the difference in variance is their share)."""
    out = dict(param_draws)
    for n in [name] if isinstance(name, str) else name:
        mean = np.asarray(parameters[n].mean, "float64")
        out[n] = np.broadcast_to(mean, param_draws[n].shape).copy()
    return out


def variance_shares(total: np.ndarray, fixed: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Share of the variance of ``total`` (draws,) owed to each parameter: 1 − Var(total with the
    parameter fixed) / Var(total), the variance a perfectly known parameter would remove
    (a first-order "what if we knew it" index; shares need not add to 1 where parameters
    interact). NaN when the total does not vary."""
    var = float(np.var(total, ddof=1)) if total.size > 1 else 0.0
    if var <= 0:
        return dict.fromkeys(fixed, float("nan"))
    return {k: 1.0 - float(np.var(v, ddof=1)) / var for k, v in fixed.items()}
