"""A year's carbon stocks: the model over every chunk, one layer per pool and the total, the
per-class and per-tile summaries, and the stock tally per zone × class × pool.

Rules ``stocks`` and ``tally_stocks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account.rows import long_rows
from sinkmap.account.zones import Zones, add_group_sums, group_sums, membership
from sinkmap.carbon import class_sums
from sinkmap.config import Config
from sinkmap.constants import POOLS, UNITS_STOCK
from sinkmap.contract import ACCOUNT_POOLS, STOCK_TALLY_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, compute, open_on_grid, write_layers
from sinkmap.legends import class_names, ipcc_categories
from sinkmap.paths import STOCK_LAYERS
from sinkmap.provenance import layer_provenance, read_sources, style_rasters
from sinkmap.stages.context import Run, now, tile_blocks


def compute_stocks(
    cfg: Config,
    year: int,
    aligned: Mapping[str, Path],
    grid_path: Path,
    *,
    outputs: Mapping[str, Path],
    threads: int = 1,
) -> None:
    """Run the model over all chunks; write one COG per pool and the total, and summary tables.

    ``aligned``: input role → its layer on the grid (the model's roles and ``land_cover``);
    ``outputs``: ``stock_<pool>`` for each of :data:`~sinkmap.paths.STOCK_LAYERS`,
    ``class_summary`` and ``tile_summary`` (:meth:`sinkmap.paths.Paths.year_outputs`).
    """
    missing_out = [
        k
        for k in (*(f"stock_{p}" for p in STOCK_LAYERS), "class_summary", "tile_summary")
        if k not in outputs
    ]
    if missing_out:
        raise InputDataError(f"compute_stocks needs the output path(s) {missing_out}")
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    model = run.model
    missing = [r for r in model.inputs if r not in aligned]
    if missing:
        raise InputDataError(
            f"model {model.name} needs input role(s) {missing}; add them to config inputs"
        )
    roles = list(model.inputs)
    arrays = [open_on_grid(aligned[r], grid) for r in roles]

    def _block(*blocks: np.ndarray) -> np.ndarray:
        pools = model.pools(dict(zip(roles, blocks, strict=True)))
        return np.stack([np.asarray(pools[p], "float32") for p in POOLS])

    stacked = da.map_blocks(
        _block, *arrays, new_axis=0, chunks=((len(POOLS),), *grid.chunks), dtype="float32"
    )
    total = stacked.sum(axis=0)
    land_cover = open_on_grid(aligned["land_cover"], grid)
    summaries = _per_tile(grid, land_cover, stacked)

    legend = run.legend
    sources, synthetic = read_sources(aligned.values())
    base = run.tags(sources=sources, synthetic=synthetic) | {
        "YEAR": year,
        "UNITS": UNITS_STOCK,
    }
    layers = {
        outputs[f"stock_{pool}"]: LayerSpec(
            data=stacked[i],
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
    (tile_sums,) = write_layers(grid, layers, extra=[summaries], threads=threads)
    style_rasters(layers)

    per_class = sum_tiles(tile_sums)
    names, categories = class_names(legend), ipcc_categories(legend)
    rows = []
    for code in np.flatnonzero(per_class["area_ha"] > 0):
        area = per_class["area_ha"][code]
        row: dict[str, Any] = {
            "year": year,
            "class_code": int(code),
            "class_name": names.get(int(code), str(code)),
            "ipcc_category": categories.get(int(code), ""),
            "area_ha": area,
        }
        for pool in POOLS:
            row[f"stock_{pool}_mgc"] = per_class[pool][code]
        row["stock_total_mgc"] = sum(per_class[p][code] for p in POOLS)
        row["stock_density_mgc_per_ha"] = row["stock_total_mgc"] / area
        rows.append(row)
    write_csv(pd.DataFrame(rows), outputs["class_summary"])

    tiles = [
        {
            "tile_id": tile.id,
            "area_ha": float(sums["area_ha"].sum()),
            "stock_total_mgc": float(sum(sums[p].sum() for p in POOLS)),
        }
        for tile, sums in zip(grid.tiles(), tile_sums, strict=True)
    ]
    write_csv(pd.DataFrame(tiles), outputs["tile_summary"])


def _per_tile(grid: Grid, land_cover: da.Array, stacked: da.Array) -> list[Any]:
    """One delayed per-class sum for each tile, sharing the blocks of ``stacked``."""
    lc_blocks = land_cover.to_delayed()
    pool_blocks = stacked.to_delayed()
    out = []
    for tile in grid.tiles():
        out.append(
            dask.delayed(_tile_sums)(
                lc_blocks[tile.row, tile.col], pool_blocks[0, tile.row, tile.col], grid, tile
            )
        )
    return out


def _tile_sums(
    classes: np.ndarray, pools: np.ndarray, grid: Grid, tile: Tile
) -> dict[str, np.ndarray]:
    area = grid.cell_area_ha(tile.window)
    return class_sums(classes, area, {p: pools[i] for i, p in enumerate(POOLS)})


def sum_tiles(tile_sums: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = tile_sums[0].keys()
    return {k: np.sum([t[k] for t in tile_sums], axis=0) for k in keys}


def pool_arrays(stocks: Mapping[str, Path], grid: Grid, suffix: str) -> dict[str, da.Array]:
    out = {f"{p}{suffix}": open_on_grid(stocks[p], grid, dtype="float64") for p in POOLS}
    out[f"total{suffix}"] = sum(out[f"{p}{suffix}"] for p in POOLS)
    return out


def _stock_tile(
    grid: Grid, zones: Zones, tile: Tile, blocks: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    area = grid.cell_area_ha(tile.window)
    values = {k: v for k, v in blocks.items() if k != "lc"}
    valid = blocks["lc"] != 0
    for v in values.values():
        valid &= np.isfinite(v)
    member = membership(valid, area, zones.coverage(tile))
    return group_sums(member, {"class_code": blocks["lc"]}, values)


def tally_stocks(
    cfg: Config,
    year: int,
    *,
    land_cover: Path,
    stocks: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Stock per zone × class × pool of one year (``account_stocks.csv``): the AOI and each zone,
    cells weighted by their true area and, for zones, by the exact covered fraction."""
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    zones = run.zones(grid)
    arrays = {"lc": open_on_grid(land_cover, grid)} | pool_arrays(stocks, grid, "")
    tasks = [
        dask.delayed(_stock_tile)(grid, zones, tile, blocks)
        for tile, blocks in zip(grid.tiles(), tile_blocks(arrays), strict=True)
    ]
    sums = zones.label(add_group_sums(compute(tasks, threads)), f"stock tally {year}")
    rows = long_rows(
        sums.rename(columns={p: f"stock_mgc:{p}" for p in ACCOUNT_POOLS}), run.legend, zones
    )
    table = rows.assign(year=year)[STOCK_TALLY_COLUMNS]
    table["stock_density_mgc_per_ha"] = table["stock_mgc"] / table["area_ha"]
    table = table.assign(**layer_provenance([stocks["total"]]), computed_at=now())
    write_csv(table, out)
    return table
