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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sinkmap.account.zones import Zones, membership
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
    """An uncertain model parameter: value(s) ``mean`` with relative SD ``rel_sd``.

    A draw is ``mean × (1 + rel_sd × z)``, z standard normal, clipped to [``lower``, ``upper``]
    (the clipping slightly biases the mean when rel_sd is large). ``mean`` may be an array (e.g.
    one pool's column of a pool table): each element is drawn independently.
    """

    mean: float | np.ndarray
    rel_sd: float | np.ndarray = 0.0
    lower: float = 0.0
    upper: float = np.inf

    def draw(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        mean = np.asarray(self.mean, "float64")
        z = rng.standard_normal((draws, *mean.shape))
        x = mean * (1.0 + np.asarray(self.rel_sd, "float64") * z)
        return np.clip(x, self.lower, self.upper)


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def draw_parameters(
    parameters: Mapping[str, Parameter], draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Draw every parameter once per Monte Carlo draw, for the whole run.

    Returns ``{name: array (draws, *shape)}``. Each parameter has its own random stream keyed by
    (seed, name), so adding a parameter leaves the draws of the others unchanged. A value drawn
    here is used for every pixel of the run: fully correlated across pixels and tiles.
    """
    check_draws(draws, seed)
    keys = {stream_key(n): n for n in parameters}
    if len(keys) != len(parameters):
        raise InputDataError(f"parameter names {sorted(parameters)} collide; rename one")
    out = {}
    for name, p in parameters.items():
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, stream_key(name)]))
        out[name] = p.draw(rng, draws)
    return out


def check_draws(draws: int, seed: int) -> None:
    if int(draws) < 1:
        raise InputDataError(f"Monte Carlo needs at least 1 draw, got {draws}")
    if int(seed) < 0:
        raise InputDataError(f"the Monte Carlo seed must be an integer >= 0, got {seed}")


def pixel_noise(
    seed: int, draw: int, stream: str, row_off: int, col_off: int, height: int, width: int
) -> np.ndarray:
    """Standard normal errors for a window of the grid, independent per pixel, stream and draw.

    The errors are generated on a fixed lattice of :data:`NOISE_BLOCK`-pixel blocks of the grid,
    each from a generator keyed by (seed, stream, draw, block row, block column): a pixel gets the
    same value whatever chunk it is read in, in whatever order chunks run.

    Returns
    -------
    numpy.ndarray
        float64, shape (``height``, ``width``).
    """
    b = NOISE_BLOCK
    key = stream_key(stream)
    out = np.empty((height, width))
    for br in range(row_off // b, (row_off + height - 1) // b + 1):
        for bc in range(col_off // b, (col_off + width - 1) // b + 1):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, key, draw, br, bc]))
            block = rng.standard_normal((b, b))
            r0, r1 = max(row_off, br * b), min(row_off + height, (br + 1) * b)
            k0, k1 = max(col_off, bc * b), min(col_off + width, (bc + 1) * b)
            out[r0 - row_off : r1 - row_off, k0 - col_off : k1 - col_off] = block[
                r0 - br * b : r1 - br * b, k0 - bc * b : k1 - bc * b
            ]
    return out


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

        def noise(stream: str, _d: int = d) -> np.ndarray:
            return pixel_noise(
                seed, _d, stream, tile.row_off, tile.col_off, tile.height, tile.width
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


def mc_parameters(model: Any, rel_sds: Mapping[str, float]) -> dict[str, Parameter]:
    """The uncertain parameters of ``model``: a numeric parameter by name, or ``"{attr}.{pool}"``
    for a pool-table column (every class's value drawn independently), each with its relative SD."""
    out: dict[str, Parameter] = {}
    for name, sd in rel_sds.items():
        attr, pool = parameter_target(model, name)
        if pool is None:
            mean: float | np.ndarray = float(getattr(model.params, name))
        else:
            mean = np.asarray(getattr(model, attr).values[pool], "float64")
        out[name] = Parameter(mean=mean, rel_sd=float(sd))
    return out


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

    totals = monte_carlo_tile(one_draw, data, tile, param_draws, seed, draws)["totals"]
    sd = None
    if acc is not None and acc2 is not None:
        var = np.maximum(acc2 - acc * acc / draws, 0.0) / max(draws - 1, 1)
        sd = np.where(valid, np.sqrt(var), np.nan).astype("float32")
    return sd, totals


def linear_draws(
    model: Any,
    grid: Grid,
    zones: Zones,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    factors: Mapping[str, np.ndarray],
    want_sd: bool,
) -> tuple[np.ndarray | None, np.ndarray]:
    """All draws of one tile for a model whose pools are a sum of parts each proportional to one
    parameter (``model.mc_components``): totals (draws, zones, pools + total) in Mg C and the
    per-pixel SD of the total stock if asked, without running the model per draw.

    ``factors``: parameter → its draws divided by its mean, (draws,) for a number or (draws, n) for
    a table column (each pixel takes its class's entry). Exact: the same totals as running the
    model with the drawn parameters (:func:`pixel_draws`), up to the order of additions.
    """
    area = grid.cell_area_ha(tile.window)
    data = {k: np.asarray(v) for k, v in blocks.items()}
    components = model.mc_components(data)
    base = model.pools(data)
    valid = np.asarray(data["land_cover"]) != 0
    valid &= np.isfinite(sum(np.asarray(base[p], "float64") for p in POOLS))
    member = membership(valid, area, zones.coverage(tile))
    n_zones = len(zones.ids)
    draws = len(next(iter(factors.values()))) if factors else 1
    pool_index = {p: i for i, p in enumerate(POOLS)}
    # the part of each pool that no parameter scales
    fixed = {p: np.where(valid, np.nan_to_num(np.asarray(base[p], "float64")), 0.0) for p in POOLS}
    used = [name for name in components if name in factors]
    for name in used:
        for pool, arr in components[name][0].items():
            fixed[pool] = fixed[pool] - np.where(valid, np.nan_to_num(arr), 0.0)

    def zone_sums(values: np.ndarray, index: np.ndarray | None, n: int) -> np.ndarray:
        """Σ value × weight per zone (and per index entry): (zones, n)."""
        v = values.ravel()[member.cell] * member.weight
        key = member.zone * n + (0 if index is None else index.ravel()[member.cell])
        return np.bincount(key, weights=v, minlength=n_zones * n).reshape(n_zones, n)

    totals = np.zeros((draws, n_zones, len(POOLS) + 1))
    for pool, arr in fixed.items():
        totals[:, :, pool_index[pool]] += zone_sums(arr, None, 1)[:, 0]
    for name in used:
        parts, index = components[name]
        f = np.asarray(factors[name], "float64")
        n = 1 if index is None else f.shape[1]
        if index is not None and (index[valid] < 0).any():
            raise InputDataError(f"parameter {name!r}: a class of the map has no table row")
        idx = None if index is None else np.where(valid, index, 0)
        for pool, arr in parts.items():
            s = zone_sums(np.where(valid, np.nan_to_num(arr), 0.0), idx, n)  # (zones, n)
            fd = f[:, None] if index is None else f  # (draws, n)
            totals[:, :, pool_index[pool]] += fd @ s.T
    totals[:, :, -1] = totals[:, :, :-1].sum(axis=2)
    sd = None
    if want_sd:
        acc = np.zeros(valid.shape)
        acc2 = np.zeros(valid.shape)
        fixed_total = sum(fixed.values())
        for d in range(draws):
            total = np.array(fixed_total, copy=True)
            for name in used:
                parts, index = components[name]
                f = np.asarray(factors[name], "float64")[d]
                scale = f if index is None else f[np.where(valid, index, 0)]
                for arr in parts.values():
                    total += scale * np.where(valid, np.nan_to_num(arr), 0.0)
            acc += total
            acc2 += total * total
        var = np.maximum(acc2 - acc * acc / draws, 0.0) / max(draws - 1, 1)
        sd = np.where(valid, np.sqrt(var), np.nan).astype("float32")
    return sd, totals


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
    stock over the draws as a 256-entry lookup (NaN for nodata and absent classes)."""
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
