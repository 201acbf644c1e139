"""A year's carbon stocks, in one pass: the model over every chunk, one layer per pool and the
total, and from the same blocks the stock tally per zone × class × pool, the per-class summary of
the AOI and the per-tile summary.

Rule ``stocks``. Every table comes from the one tally engine
(:func:`sinkmap.account.zones.group_sums`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account.rows import long_rows
from sinkmap.account.zones import Zones, add_group_sums, group_sums, membership
from sinkmap.carbon import pool_sum
from sinkmap.config import Config
from sinkmap.constants import POOLS, UNITS_STOCK
from sinkmap.contract import ACCOUNT_POOLS, AOI_ZONE, STOCK_TALLY_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, open_on_grid, write_layers
from sinkmap.legends import class_names, ipcc_categories
from sinkmap.paths import STOCK_LAYERS
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stages.context import Run, now

#: Tables the stocks stage writes besides the layers (``outputs`` keys).
STOCK_TABLES = ("class_summary", "tile_summary", "stock_tally")


def compute_stocks(
    cfg: Config,
    year: int,
    aligned: Mapping[str, Path],
    grid_path: Path,
    *,
    outputs: Mapping[str, Path],
    threads: int = 1,
) -> pd.DataFrame:
    """Run the model over all chunks; write one COG per pool and the total, and the year's tables.

    ``aligned``: input role → its layer on the grid (the model's roles and ``land_cover``).
    ``outputs`` (:meth:`sinkmap.paths.Paths.year_outputs`): ``stock_<pool>`` for each of
    :data:`~sinkmap.paths.STOCK_LAYERS` (Mg C/ha), ``class_summary`` (per class of the AOI),
    ``tile_summary`` (per chunk) and ``stock_tally`` (``account_stocks.csv``: per zone × class ×
    pool, zones counted by the exact covered fraction of each cell). Returns the stock tally.
    """
    missing = [
        k for k in (*(f"stock_{p}" for p in STOCK_LAYERS), *STOCK_TABLES) if k not in outputs
    ]
    if missing:
        raise InputDataError(f"compute_stocks needs the output path(s) {missing}")
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    model = run.model
    roles = list(model.inputs)
    missing = [r for r in (*roles, "land_cover") if r not in aligned]
    if missing:
        raise InputDataError(
            f"model {model.name} needs input role(s) {missing}; add them to config inputs"
        )
    zones = run.zones(grid)
    arrays = [open_on_grid(aligned[r], grid) for r in roles]

    def _block(*blocks: np.ndarray) -> np.ndarray:
        pools = model.pools(dict(zip(roles, blocks, strict=True)))
        return np.stack([np.asarray(pools[p], "float32") for p in POOLS])

    stacked = da.map_blocks(
        _block, *arrays, new_axis=0, chunks=((len(POOLS),), *grid.chunks), dtype="float32"
    )
    total = stacked.sum(axis=0)
    land_cover = open_on_grid(aligned["land_cover"], grid)
    tasks = [
        dask.delayed(_stock_tile)(grid, zones, tile, lc, pools)
        for tile, lc, pools in zip(
            grid.tiles(),
            land_cover.to_delayed().ravel(),
            stacked.to_delayed().ravel(),
            strict=True,
        )
    ]

    sources, synthetic = read_sources(aligned.values())
    base = run.tags(sources=sources, synthetic=synthetic) | {"YEAR": year, "UNITS": UNITS_STOCK}
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
    (parts,) = write_layers(grid, layers, extra=[tasks], threads=threads)
    style_rasters(layers)
    stamp = now()

    write_csv(_tile_summary(grid, parts), outputs["tile_summary"])
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


def _stock_tile(
    grid: Grid, zones: Zones, tile: Tile, lc: np.ndarray, pools: np.ndarray
) -> pd.DataFrame:
    """One tile's area and stock of each pool (and the total) per zone and land-cover class."""
    area = grid.cell_area_ha(tile.window)
    values = {p: np.asarray(pools[i], "float64") for i, p in enumerate(POOLS)}
    values["total"] = pool_sum(values)
    valid = np.asarray(lc) != 0
    for v in values.values():
        valid &= np.isfinite(v)
    member = membership(valid, area, zones.coverage(tile))
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
