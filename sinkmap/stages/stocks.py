"""A year's carbon stocks, in one pass: the model over every chunk, one layer per pool and the
total, and from the same blocks the stock tally per zone × class × pool, the per-class summary of
the AOI and the per-tile summary.

Rule ``stocks``. Every table comes from the one tally engine
(:func:`sinkmap.account.zones.group_sums`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap import kernels
from sinkmap.account.rows import long_rows
from sinkmap.account.zones import (
    ZoneCoverage,
    Zones,
    add_group_sums,
    group_sums,
    kernel_entries,
    membership,
    split_keys,
    summed_values,
)
from sinkmap.carbon import pool_sum
from sinkmap.config import Config
from sinkmap.constants import POOLS, SIGN_CONVENTION, UNITS_FLUX, UNITS_STOCK
from sinkmap.contract import ACCOUNT_POOLS, AOI_ZONE, STOCK_TALLY_COLUMNS
from sinkmap.dynamics import STATE_LAYERS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, open_on_grid, shared, write_layers
from sinkmap.kernels.slices import flat_for_kernel
from sinkmap.legends import (
    IPCC_CATEGORIES,
    LEGENDS,
    class_names,
    colormap,
    ipcc_categories,
    ipcc_label,
)
from sinkmap.paths import GAIN_LOSS_PARTS, STATE_NAMES, STOCK_LAYERS
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stacks import band, bands, stack_of_rows
from sinkmap.stages.context import Run, now

#: Tables the stocks stage writes besides the layers (``outputs`` keys).
STOCK_TABLES = ("class_summary", "tile_summary", "stock_tally")
#: Units and meaning of each state layer (its ``UNITS`` and ``QUANTITY`` tags) and its legend.
STATE_TAGS: dict[str, tuple[str, str, str | None]] = {
    "category": (
        "IPCC land category code",
        "IPCC land category (1 Forest land ... 6 Other land)",
        "ipcc_category",
    ),
    "stratum": ("stratum code", "stratum of the carbon state (legend 'stratum')", "stratum"),
    "age": ("years", "years since the woody vegetation was established or last disturbed", None),
    "years_since_conversion": (
        "years",
        "years since the land category last changed (transition period D = land converted)",
        None,
    ),
    "previous_category": (
        "IPCC land category code",
        "land category before the last conversion (0: none since the state began)",
        "ipcc_category",
    ),
    "last_loss_year": ("calendar year", "year of the last loss of woody biomass (0: none)", None),
    "soil_start": (
        UNITS_STOCK,
        "soil organic carbon when the current transition began (IPCC 2006 V4 Eq. 2.25)",
        None,
    ),
}


@dataclass(frozen=True)
class PreviousYear:
    """What a stateful model needs of the mapped year before: its year, state layers (name →
    path) and land cover."""

    year: int
    state: Mapping[str, Path]
    land_cover: Path


def compute_stocks(
    cfg: Config,
    year: int,
    aligned: Mapping[str, Path],
    grid_path: Path,
    *,
    outputs: Mapping[str, Path],
    previous: PreviousYear | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Run the model over all chunks; write one COG per pool and the total, and the year's tables.

    ``aligned``: input role → its layer on the grid (the model's roles and ``land_cover``).
    ``outputs`` (:meth:`sinkmap.paths.Paths.year_outputs`): ``stock_<pool>`` for each of
    :data:`~sinkmap.paths.STOCK_LAYERS` (Mg C/ha), ``class_summary`` (per class of the AOI),
    ``tile_summary`` (per chunk) and ``stock_tally`` (``account_stocks.csv``: per zone × class ×
    pool, zones counted by the exact covered fraction of each cell). Returns the stock tally.

    A stateful model (:mod:`sinkmap.models.dynamics`) also writes ``state_<name>`` layers and
    ``state_summary``: it steps the state of ``previous`` (the mapped year before) to ``year``, or
    starts one in the first year. Given ``step_<part>`` outputs (net, removals, emissions), it also
    writes the gain-loss of that step (:meth:`sinkmap.paths.Paths.step`; NaN in the first year),
    which the interval ending in ``year`` reads instead of stepping the state again.
    """
    missing = [
        k for k in (*(f"stock_{p}" for p in STOCK_LAYERS), *STOCK_TABLES) if k not in outputs
    ]
    if missing:
        raise InputDataError(f"compute_stocks needs the output path(s) {missing}")
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    model = run.model
    roles = list(model.input_roles)
    missing = [r for r in (*roles, "land_cover") if r not in aligned]
    if missing:
        raise InputDataError(
            f"model {model.name} needs input role(s) {missing}; add them to config inputs"
        )
    zones = run.zones(grid)
    arrays = [open_on_grid(aligned[r], grid) for r in roles]
    state_layers: dict[Path, LayerSpec] = {}
    if model.stateful:
        missing = [f"state_{n}" for n in STATE_NAMES if f"state_{n}" not in outputs]
        if missing:
            raise InputDataError(f"compute_stocks needs the output path(s) {missing}")
        steps = all(f"step_{k}" in outputs for k in GAIN_LOSS_PARTS)
        stacked, state, step = _stateful(model, grid, roles, arrays, year, previous, steps)
    else:
        stacked = da.map_blocks(
            _pools_block,
            *arrays,
            model=shared(model),  # one copy in the graph, not one per chunk
            roles=list(roles),
            new_axis=0,
            chunks=((len(POOLS),), *grid.chunks),
            dtype="float32",
            meta=np.array((), dtype="float32"),
        )
    total = stacked.sum(axis=0)
    land_cover = open_on_grid(aligned["land_cover"], grid)
    zones_k = shared(zones)

    sources, synthetic = read_sources(aligned.values())
    base = run.tags(sources=sources, synthetic=synthetic) | {"YEAR": year, "UNITS": UNITS_STOCK}
    layers = {
        outputs[f"stock_{pool}"]: LayerSpec(
            data=band(stacked, i),
            dtype="float32",
            nodata=float("nan"),
            tags=base | {"POOL": pool, "QUANTITY": f"carbon stock, {pool} pool"},
            description=f"carbon stock {pool} ({UNITS_STOCK}) {year}",
        )
        for i, pool in enumerate(POOLS)
    }
    layers[outputs["stock_total"]] = LayerSpec(
        data=total,
        dtype="float32",
        nodata=float("nan"),
        tags=base | {"POOL": "total", "QUANTITY": "carbon stock, sum of above, below, dead, soil"},
        description=f"carbon stock total ({UNITS_STOCK}) {year}",
    )
    if model.stateful:
        state_layers = _state_layers(state, outputs, base, year)
        layers |= state_layers
        if step is not None:
            layers |= _step_layers(step, outputs, base, year, previous)
    # each tile's tallies in one task: the stock tally and, for a stateful model, the state's
    states = (
        state.to_delayed(optimize_graph=False).ravel()
        if model.stateful
        else [None] * land_cover.npartitions
    )
    tasks = [
        dask.delayed(_year_tile)(grid, zones_k, tile, lc, pools, st)
        for tile, lc, pools, st in zip(
            grid.tiles(),
            land_cover.to_delayed(optimize_graph=False).ravel(),
            stacked.to_delayed(optimize_graph=False).ravel(),
            states,
            strict=True,
        )
    ]
    (tallies,) = write_layers(grid, layers, extra=[tasks], threads=threads)
    parts = [stock for stock, _ in tallies]
    state_sums = [st for _, st in tallies if st is not None]
    style_rasters(path for path, spec in layers.items() if not spec.internal)
    stamp = now()

    write_csv(_tile_summary(grid, parts), outputs["tile_summary"])
    if model.stateful:
        write_csv(_state_summary(state_sums, run, year), outputs["state_summary"])
    sums = zones.label(add_group_sums(parts), f"stock tally {year}")
    write_csv(_class_summary(sums, run.legend, year), outputs["class_summary"])
    rows = long_rows(
        sums.rename(columns={p: f"stock_mgc:{p}" for p in ACCOUNT_POOLS}), run.legend, zones
    )
    table = rows.assign(year=year)[STOCK_TALLY_COLUMNS]
    table["stock_density_mgc_per_ha"] = table["stock_mgc"] / table["area_ha"]
    table = table.assign(**run.provenance_columns(sources, synthetic), computed_at=stamp)
    write_csv(table, outputs["stock_tally"])
    return table


def _pools_block(*blocks: np.ndarray, model: Any, roles: list[str]) -> np.ndarray:
    """The model's pools of one chunk (its inputs in the order of ``roles``), stacked."""
    pools = model.pools(dict(zip(roles, blocks, strict=True)))
    return np.stack([np.asarray(pools[p], "float32") for p in POOLS])


def _year_tile(
    grid: Grid,
    zones: Zones,
    tile: Tile,
    lc: np.ndarray,
    pools: np.ndarray,
    state: np.ndarray | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One tile's stock tally (:func:`_stock_tile`) and, given the state's layers, its state
    tally (:func:`_state_tile`), from one computation of its cells' areas."""
    area = grid.cell_area_ha(tile.window)
    stock = _stock_tile(grid, zones, tile, lc, pools, area)
    return stock, None if state is None else _state_tile(grid, tile, state, pools, area)


def _stock_tile(
    grid: Grid,
    zones: Zones,
    tile: Tile,
    lc: np.ndarray,
    pools: np.ndarray,
    area: np.ndarray,
) -> pd.DataFrame:
    """One tile's area and stock of each pool (and the total) per zone and land-cover class
    (``area``: its cells' areas, ha): one pass of a compiled kernel over the tile
    (:func:`sinkmap.kernels.class_tally`: the same rows, bit for bit) where the land cover is
    uint8 and the pools the stage's float32 rows, else :func:`_stock_tile_reference`."""
    coverage = zones.coverage(tile)
    lc = np.asarray(lc)
    cover = kernel_entries(coverage)
    counted = None
    if kernels.enabled() and lc.ndim > 0 and len(pools) == len(POOLS) and cover is not None:
        flat = flat_for_kernel(lc.shape, (lc, *pools, area), "B" + "s" * len(POOLS) + "f")
        if flat is not None:
            counted = kernels.class_tally(flat[0], flat[1:-1], flat[-1], *cover)
    if counted is None:
        return _stock_tile_reference(lc, pools, area, coverage)
    count, sums = counted
    zone, code = np.nonzero(count)  # the keys present, zone by zone, codes ascending
    columns = {"zone": zone.astype(np.int64), "class_code": code.astype(np.int64)}
    names = ["area_ha", *POOLS, "total"]
    return pd.DataFrame(columns | {n: sums[i][zone, code] for i, n in enumerate(names)})


def _stock_tile_reference(
    lc: np.ndarray, pools: np.ndarray, area: np.ndarray, coverage: ZoneCoverage | None
) -> pd.DataFrame:
    """:func:`_stock_tile` as its tallies' NumPy steps: the cells whose code is not 0 and whose
    pools are finite, their entries per zone (:func:`membership`), :func:`group_sums` of the pools
    and of their float64 total (:func:`pool_sum`) per zone and class."""
    # the pools as they are (summed as float64 at the entries), their total in float64
    values = {p: summed_values(pools[i]) for i, p in enumerate(POOLS)}
    values["total"] = pool_sum(values)
    valid = np.asarray(lc) != 0
    for v in values.values():
        valid &= np.isfinite(v)
    member = membership(valid, area, coverage)
    return group_sums(member, {"class_code": lc}, values)


def _class_summary(sums: pd.DataFrame, legend: str | None, year: int) -> pd.DataFrame:
    """Area and stock per pool of each class of the whole AOI (``class_summary.csv``)."""
    names, categories = class_names(legend), ipcc_categories(legend)
    aoi = sums[(sums["zone_id"] == AOI_ZONE) & (sums["area_ha"] > 0)].sort_values("class_code")
    codes = aoi["class_code"].astype(int)
    table = pd.DataFrame(
        {
            "year": year,
            "class_code": codes,
            "class_name": [names.get(c, str(c)) for c in codes],
            "ipcc_category": [categories.get(c, "") for c in codes],
            "area_ha": aoi["area_ha"],
        }
    )
    for pool in POOLS:
        table[f"stock_{pool}_mgc"] = aoi[pool]
    table["stock_total_mgc"] = sum(aoi[p] for p in POOLS)
    table["stock_density_mgc_per_ha"] = table["stock_total_mgc"] / table["area_ha"]
    return table.reset_index(drop=True)


def _tile_summary(grid: Grid, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Counted area and total stock of each chunk of the grid (``tile_summary.csv``)."""
    rows: list[dict[str, Any]] = []
    for tile, part in zip(grid.tiles(), parts, strict=True):
        aoi = part[part["zone"] == 0] if len(part) else part
        rows.append(
            {
                "tile_id": tile.id,
                "area_ha": float(aoi["area_ha"].sum()) if len(aoi) else 0.0,
                "stock_total_mgc": float(sum(aoi[p].sum() for p in POOLS)) if len(aoi) else 0.0,
            }
        )
    return pd.DataFrame(rows)


def pixel_uniform(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) per grid pixel, a fixed function of its row and column
    (splitmix64): the same whatever the chunking."""
    with np.errstate(over="ignore"):
        h = rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ cols.astype(
            np.uint64
        ) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def window_uniform(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """:func:`pixel_uniform` of every pixel of the grid window rows r0 … r1 − 1, columns
    c0 … c1 − 1: one pass of a compiled kernel (:func:`sinkmap.kernels.window_uniform`, the
    same bits), or with ``SINKMAP_KERNELS=numpy`` the function of the window's rows and columns."""
    if kernels.enabled() and r1 >= r0 and c1 >= c0:
        return kernels.window_uniform(r0, r1, c0, c1)
    rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    return pixel_uniform(rr, cc)


def _stateful(
    model: Any,
    grid: Grid,
    roles: list[str],
    arrays: list[da.Array],
    year: int,
    previous: PreviousYear | None,
    steps: bool = False,
) -> tuple[da.Array, da.Array, da.Array | None]:
    """Pools (4, …) and the state (7, …) of ``year`` for a stateful model, float32; with
    ``steps`` also the net, removals and emissions of the step from ``previous`` (3, …; Mg CO2e/ha/yr,
    :func:`~sinkmap.carbon.step_fluxes`; NaN in the first year, whose state starts there)."""
    extra: list[da.Array] = []
    if previous is not None:
        if previous.year >= year:
            raise InputDataError(
                f"the state of {previous.year} cannot be stepped to {year}; give the year before"
            )
        extra = [open_on_grid(previous.state[n], grid) for n in STATE_NAMES]
        extra.append(open_on_grid(previous.land_cover, grid))
    n_roles = len(roles)

    n_pools, n_state = len(POOLS), len(STATE_NAMES)
    n = n_pools + n_state + (len(GAIN_LOSS_PARTS) if steps else 0)

    def _block(*blocks: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        chunk = dict(zip(roles, blocks[:n_roles], strict=True))
        # every layer written once into the chunk's stack (no stacks of stacks to concatenate),
        # its layers apart in the caches' sets (stack_of_rows)
        out = stack_of_rows(n, np.shape(blocks[0]))
        if previous is None:
            assert block_info is not None
            (r0, r1), (c0, c1) = block_info[0]["array-location"]
            return model.first_layers(chunk, year, window_uniform(r0, r1, c0, c1), out)
        before = dict(zip(STATE_NAMES, blocks[n_roles:-1], strict=True))
        return model.step_layers(before, blocks[-1], chunk, previous.year, year, out)

    both = da.map_blocks(
        _block, *arrays, *extra, new_axis=0, chunks=((n,), *grid.chunks), dtype="float32"
    )
    step = bands(both, n_pools + n_state, n) if steps else None
    return bands(both, 0, n_pools), bands(both, n_pools, n_pools + n_state), step


def _step_layers(
    step: da.Array,
    outputs: Mapping[str, Path],
    base: Mapping[str, Any],
    year: int,
    previous: PreviousYear | None,
) -> dict[Path, LayerSpec]:
    """The step's gain-loss layers (intermediate, :meth:`sinkmap.paths.Paths.step`), tagged with
    the years they span (the interval that reads them checks them)."""
    start = previous.year if previous is not None else year
    tags = dict(base) | {
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "YEAR_START": start,
        "YEAR_END": year,
        "POOL": "total",
    }
    return {
        outputs[f"step_{k}"]: LayerSpec(
            data=band(step, i),
            dtype="float32",
            nodata=float("nan"),
            tags=tags | {"QUANTITY": f"gain-loss {k} of the carbon state's step {start}-{year}"},
            description=f"gain-loss {k} ({UNITS_FLUX}) of the step {start}-{year}"
            + ("" if previous is not None else ": none, the state starts this year"),
            internal=True,
        )
        for i, k in enumerate(GAIN_LOSS_PARTS)
    }


def _state_layers(
    state: da.Array, outputs: Mapping[str, Path], base: Mapping[str, Any], year: int
) -> dict[Path, LayerSpec]:
    layers = {}
    for i, name in enumerate(STATE_NAMES):
        dtype, nodata = STATE_LAYERS[name]
        units, quantity, legend = STATE_TAGS[name]
        tags = dict(base) | {"UNITS": units, "QUANTITY": quantity, "STATE": name}
        tags.pop("POOL", None)
        if legend:
            tags["LEGEND"] = legend
        layers[outputs[f"state_{name}"]] = LayerSpec(
            data=band(state, i),
            dtype=dtype,
            nodata=nodata,
            tags=tags,
            description=f"carbon state: {quantity} ({units}) {year}",
            colormap=colormap(LEGENDS[legend]) if legend else None,
            overview_resampling="mode" if dtype != "float32" else "average",
        )
    return layers


#: The state's layers the state tally reads: its keys (category, stratum, years since
#: conversion; the previous category, which gives the from-category).
_TALLY_STATE = tuple(
    STATE_NAMES.index(n)
    for n in ("category", "stratum", "years_since_conversion", "previous_category")
)
#: The state tally's keys, in the order of its rows.
_STATE_KEYS = ("category", "stratum", "from_category", "years_since_conversion")
#: The layers of the state's and the pools' stacks.
_STACKS = (len(STATE_NAMES), len(POOLS))


def _state_tile(
    grid: Grid,
    tile: Tile,
    state: np.ndarray,
    pools: np.ndarray,
    area: np.ndarray,
) -> pd.DataFrame:
    """One tile's area and stock per (land category, stratum, converted or remaining); ``area``:
    its cells' areas (ha). The state's layers as the stage stacks them (float32, whole numbers
    below 2**24: compared and taken as keys as they are, exactly). Two passes of compiled kernels
    over the tile (:func:`sinkmap.kernels.state_tally`: the codes present, then the sums; the
    same rows, bit for bit) where the state's codes are 0 … 255, else
    :func:`_state_tile_reference`."""
    flat = None
    if kernels.enabled() and np.ndim(area) > 0 and (len(state), len(pools)) == _STACKS:
        layers = (*(state[i] for i in _TALLY_STATE), *pools, area)
        flat = flat_for_kernel(np.shape(area), layers, "s" * 8 + "f")
    tallied = None if flat is None else kernels.state_tally(flat[:4], flat[4:8], flat[8])
    if tallied is None:
        return _state_tile_reference(state, pools, area)
    seen, count, sums = tallied
    present = np.flatnonzero(count)
    zone, keys = split_keys(present, [np.flatnonzero(s) for s in seen])
    columns = {"zone": zone} | dict(zip(_STATE_KEYS, keys, strict=True))
    names = ["area_ha", *POOLS]
    return pd.DataFrame(columns | {n: sums[i][present] for i, n in enumerate(names)})


def _state_tile_reference(state: np.ndarray, pools: np.ndarray, area: np.ndarray) -> pd.DataFrame:
    """:func:`_state_tile` as its tally's NumPy steps: the cells of a stratum with finite pools,
    :func:`group_sums` of the pools per category, stratum, from-category (the previous category
    where the land converted within the record, else 0) and years since conversion."""
    stratum = state[STATE_NAMES.index("stratum")]
    ysc = state[STATE_NAMES.index("years_since_conversion")]
    previous = state[STATE_NAMES.index("previous_category")]
    valid = (stratum > 0) & (stratum < 255)
    for i in range(len(POOLS)):
        valid &= np.isfinite(pools[i])
    converted = (previous > 0) & (previous < 255) & (ysc < 255)
    # group_sums reads the valid cells only, and converts the keys after taking them
    return group_sums(
        membership(valid, area),
        {
            "category": state[STATE_NAMES.index("category")],
            "stratum": stratum,
            "from_category": np.where(converted, previous, 0),
            "years_since_conversion": ysc,
        },
        {p: pools[i] for i, p in enumerate(POOLS)},
    )


def _state_summary(parts: list[pd.DataFrame], run: Run, year: int) -> pd.DataFrame:
    """Area and stocks of the AOI per land category, stratum and transition (``state_summary.csv``):
    land converted from another category within the transition period, or remaining."""
    sums = add_group_sums(parts)
    d = run.model.params.transition_years  # type: ignore[attr-defined]
    converted = (sums["years_since_conversion"] < d) & (sums["from_category"] > 0)
    sums["from_category"] = np.where(converted, sums["from_category"], sums["category"])
    keys = ["category", "stratum", "from_category"]
    table = sums.groupby(keys, as_index=False)[["area_ha", *POOLS]].sum()
    cats = dict(enumerate(IPCC_CATEGORIES, start=1))
    strata = {c.code: c.name for c in LEGENDS["stratum"]}
    out = pd.DataFrame(
        {
            "year": year,
            "land_category": [cats[c] for c in table["category"]],
            "transition": [
                ipcc_label(cats[f], cats[t])
                for f, t in zip(table["from_category"], table["category"], strict=True)
            ],
            "stratum": [strata.get(s, str(s)) for s in table["stratum"]],
            "area_ha": table["area_ha"],
        }
    )
    for pool in POOLS:
        out[f"stock_{pool}_mgc"] = table[pool]
    out["stock_total_mgc"] = pool_sum({p: table[p].to_numpy() for p in POOLS})
    out["stock_density_mgc_per_ha"] = out["stock_total_mgc"] / out["area_ha"]
    return out
