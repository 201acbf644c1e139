"""A year's Monte Carlo (IPCC Approach 2): totals per draw × zone × pool, optional per-pixel SD.

Rule ``uncertainty``. The kernels are in :mod:`sinkmap.account.montecarlo`; this stage reads the
year's inputs, maps them over the tiles and writes ``monte_carlo.csv`` (and the SD layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account.montecarlo import (
    class_areas,
    class_draws,
    draw_factors,
    draw_parameters,
    linear_draws,
    mc_parameters,
    pixel_draws,
)
from sinkmap.account.zones import Zones
from sinkmap.config import Config
from sinkmap.constants import POOLS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, compute, open_on_grid, write_layers
from sinkmap.models.dynamics import STATE_KEYS
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stages.context import Run, tile_blocks


def _mc_by_pixel(
    model: Any,
    grid: Grid,
    zones: Zones,
    arrays: Mapping[str, da.Array],
    param_draws: Mapping[str, np.ndarray],
    mc: Any,
    want_sd: bool,
) -> tuple[Any, da.Array | None]:
    """Delayed totals (draws, zones, pools + total) and the SD layer, model run on every pixel."""
    results = [
        dask.delayed(pixel_draws, nout=2)(
            model,
            grid,
            zones,
            tile,
            blocks,
            param_draws,
            mc.seed,
            mc.draws,
            mc.input_errors,
            want_sd,
        )
        for tile, blocks in zip(grid.tiles(), tile_blocks(arrays), strict=True)
    ]
    totals = dask.delayed(np.sum)([r[1] for r in results], axis=0)  # tiles added in order
    if not want_sd:
        return totals, None
    return totals, _tiles_to_array(grid, [r[0] for r in results])


#: Parameters of each model that scale parts of its pools linearly (``model.mc_components``):
#: drawn on the linear path, without running the model per draw.
LINEAR_PARAMETERS: dict[str, tuple[str, ...]] = {
    "dynamics": ("agb_scale", "soil_scale", "table.above", "table.below", "table.dead"),
}


def _mc_linear(
    model: Any,
    grid: Grid,
    zones: Zones,
    arrays: Mapping[str, da.Array],
    factors: Mapping[str, np.ndarray],
    mc: Any,
    want_sd: bool,
) -> tuple[Any, da.Array | None]:
    """Delayed totals and SD layer of a model whose drawn parameters scale parts of its pools."""
    results = [
        dask.delayed(linear_draws, nout=2)(model, grid, zones, tile, blocks, factors, want_sd)
        for tile, blocks in zip(grid.tiles(), tile_blocks(arrays), strict=True)
    ]
    totals = dask.delayed(_add_draws)([r[1] for r in results], mc.draws)
    if not want_sd:
        return totals, None
    return totals, _tiles_to_array(grid, [r[0] for r in results])


def _add_draws(parts: list[np.ndarray], draws: int) -> np.ndarray:
    """Tiles' totals added in order; a total without drawn parameters repeated for every draw."""
    total = np.sum(parts, axis=0)
    return np.repeat(total, draws, axis=0) if total.shape[0] == 1 and draws > 1 else total


def _mc_by_class(
    model: Any,
    grid: Grid,
    zones: Zones,
    land_cover: da.Array,
    param_draws: Mapping[str, np.ndarray],
    mc: Any,
) -> tuple[Any, da.Array]:
    """Delayed totals and the SD layer of a model whose pools depend on each pixel's class only."""
    parts = [
        dask.delayed(class_areas)(grid, zones, tile, block)
        for tile, block in zip(
            grid.tiles(), land_cover.to_delayed(optimize_graph=False).ravel(), strict=True
        )
    ]
    areas = dask.delayed(np.sum)(parts, axis=0)
    totals, lut = dask.delayed(class_draws, nout=2)(model, areas, param_draws, mc.draws)
    return totals, _tiles_to_array(
        grid,
        [
            dask.delayed(_lookup)(lut, block)
            for block in land_cover.to_delayed(optimize_graph=False).ravel()
        ],
    )


def _lookup(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return lut[np.asarray(codes, np.intp)]


def _tiles_to_array(grid: Grid, blocks: Sequence[Any]) -> da.Array:
    """One float32 dask array of the grid from delayed per-tile blocks (tiles in grid order)."""
    tiles = list(grid.tiles())
    ncol = len(grid.chunks[1])
    return da.block(
        [
            [
                da.from_delayed(
                    blocks[r * ncol + c],
                    (tiles[r * ncol + c].height, tiles[r * ncol + c].width),
                    dtype="float32",
                )
                for c in range(ncol)
            ]
            for r in range(len(grid.chunks[0]))
        ]
    )


def run_monte_carlo(
    cfg: Config,
    year: int,
    *,
    aligned: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    sd_out: Path | None = None,
    threads: int = 1,
    pixelwise: bool | None = None,
) -> pd.DataFrame:
    """Monte Carlo totals of the year's stocks per zone and pool (``monte_carlo.csv``: one row per
    draw × zone × pool), and optionally the per-pixel SD of the total stock (a COG).

    A model that reads only the land cover (``lookup``, or any such model of yours: its pools must
    be a function of each pixel's class) is drawn class by class: each draw evaluates the model once
    per class present and weights it by the class's area in each zone, which gives the same totals
    as running it over every pixel, thousands of times faster. Other models, and any per-pixel
    input error, run pixel by pixel, chunk by chunk (``pixelwise=True`` forces that path).

    Parameters are drawn once per draw for the whole run (and every year: the same seed gives the
    same parameter draws and the same per-pixel errors in every year, so they are fully
    correlated in time and largely cancel in a stock difference); per-pixel input errors are
    independent between pixels. See docs/accounting.md.
    """
    run = Run(cfg)
    mc = cfg.account.uncertainty
    model = run.model
    grid = Grid.from_json(grid_path)
    zones = run.zones(grid)
    roles = sorted(
        set(model.input_roles)
        | {"land_cover"}
        | set(mc.input_errors)
        | set(mc.input_errors.values())
        | (set(STATE_KEYS.values()) if model.stateful else set())
    )
    missing = [r for r in roles if r not in aligned]
    if missing:
        raise InputDataError(f"the Monte Carlo needs aligned input role(s) {missing}")
    arrays = {r: open_on_grid(aligned[r], grid) for r in roles}
    parameters = mc_parameters(model, mc.parameters)
    param_draws = draw_parameters(parameters, mc.draws, mc.seed)
    linear = (
        hasattr(model, "mc_components")
        and not mc.input_errors
        and set(parameters) <= set(LINEAR_PARAMETERS.get(model.name, ()))
    )
    if pixelwise is None:
        pixelwise = (
            set(model.input_roles) != {"land_cover"} or bool(mc.input_errors) or model.stateful
        )
    if linear and pixelwise:
        factors = draw_factors(parameters, param_draws)
        if not factors:  # no parameter drawn: every draw is the deterministic total
            factors = {}
        totals, sd = _mc_linear(model, grid, zones, arrays, factors, mc, sd_out is not None)
    elif pixelwise:
        totals, sd = _mc_by_pixel(model, grid, zones, arrays, param_draws, mc, sd_out is not None)
    else:
        totals, sd = _mc_by_class(model, grid, zones, arrays["land_cover"], param_draws, mc)
    if sd_out is not None and sd is not None:
        sources, synthetic = read_sources([aligned["land_cover"]])
        tags = run.tags(sources=sources, synthetic=synthetic) | {
            "YEAR": year,
            "UNITS": "Mg C ha-1",
            "POOL": "total",
            "QUANTITY": "standard deviation of the total carbon stock over the Monte Carlo draws",
            "MC_DRAWS": mc.draws,
            "MC_SEED": mc.seed,
        }
        spec = LayerSpec(
            data=sd,
            dtype="float32",
            nodata=float("nan"),
            tags=tags,
            description=f"SD of the total carbon stock (Mg C ha-1) {year}, {mc.draws} draws",
        )
        (totals,) = write_layers(grid, {Path(sd_out): spec}, extra=[totals], threads=threads)
        style_rasters([Path(sd_out)])
    else:
        (totals,) = compute([totals], threads)
    names = [*POOLS, "total"]
    d, z, p = np.meshgrid(
        np.arange(mc.draws), np.arange(len(zones.ids)), np.arange(len(names)), indexing="ij"
    )
    table = pd.DataFrame(
        {
            "year": year,
            "draw": d.ravel(),
            "zone_id": np.asarray(zones.ids, dtype=object)[z.ravel()],
            "pool": np.asarray(names, dtype=object)[p.ravel()],
            "stock_mgc": totals.ravel(),
            "seed": mc.seed,
        }
    )
    write_csv(table, out)
    return table
