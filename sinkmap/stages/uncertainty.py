"""A year's Monte Carlo (IPCC Approach 2): totals per draw × zone × pool, optional per-pixel SD.

Rule ``uncertainty``. The kernels are in :mod:`sinkmap.account.montecarlo`; this stage reads the
year's inputs, maps them over the tiles and writes ``monte_carlo.csv`` (and the SD layer).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account.montecarlo import (
    NoiseStream,
    Parameter,
    add_stats,
    class_areas,
    class_draws,
    draw_factors,
    draw_parameters,
    fix_parameter,
    linear_parts,
    linear_totals,
    mc_parameters,
    parts_sd,
    parts_stats,
    pixel_draws,
    sources,
)
from sinkmap.account.zones import RasterZones, Zones
from sinkmap.config import Config
from sinkmap.constants import POOLS
from sinkmap.contract import SENSITIVITY_DRAW_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, compute, open_on_grid, read_window, shared, write_layers
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stages.context import Run, tile_blocks


def _mc_by_pixel(
    model: Any,
    grid: Grid,
    zones: Zones,
    arrays: Mapping[str, da.Array],
    param_draws: Mapping[str, np.ndarray],
    mc: Any,
    streams: Mapping[str, NoiseStream],
    want_sd: bool,
) -> tuple[Any, da.Array | None]:
    """Delayed totals (draws, zones, pools + total) and the SD layer, model run on every pixel."""
    errors = {role: spec.sd for role, spec in mc.input_errors.items()}
    # one copy of each in the graph (not one per tile's task)
    model_k, zones_k, draws_k, streams_k = map(shared, (model, zones, param_draws, streams))
    results = [
        dask.delayed(pixel_draws, nout=2)(
            model_k,
            grid,
            zones_k,
            tile,
            blocks,
            draws_k,
            mc.seed,
            mc.draws,
            errors,
            want_sd,
            streams_k,
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
    parameters: Mapping[str, Parameter],
    factors: Mapping[str, np.ndarray],
    draws: int,
    sensitivity: bool,
    want_sd: bool,
) -> tuple[Any, Any, da.Array | None]:
    """Delayed totals, sensitivity draws and SD layer of a model whose drawn parameters scale
    parts of its pools: each tile's sums are taken once, the draws applied to their total."""
    sizes = {name: int(np.size(p.mean)) for name, p in parameters.items()}
    tiles = list(zip(grid.tiles(), tile_blocks(arrays), strict=True))
    model_k, zones_k = shared(model), shared(zones)  # one copy in the graph, not one per tile
    # one model run per tile, read by its sums and (with the SD layer) its SD block
    parts = [dask.delayed(linear_parts)(model_k, grid, t, b, list(sizes)) for t, b in tiles]
    per_tile = [
        dask.delayed(parts_stats)(p, zones_k, t, sizes)
        for p, (t, _) in zip(parts, tiles, strict=True)
    ]
    stats = dask.delayed(add_stats)(per_tile)
    totals = dask.delayed(linear_totals)(stats, factors, draws)
    sens = (
        dask.delayed(_linear_sensitivity)(stats, factors, sources(parameters), draws)
        if sensitivity
        else None
    )
    if not want_sd:
        return totals, sens, None
    factors_k = shared(factors)
    sd = [dask.delayed(parts_sd)(p, factors_k, draws) for p in parts]
    return totals, sens, _tiles_to_array(grid, sd)


def _linear_sensitivity(
    stats: Mapping[str, np.ndarray],
    factors: Mapping[str, np.ndarray],
    groups: Mapping[str, list[str]],
    draws: int,
) -> dict[str, np.ndarray]:
    """The totals (draws, zones, pools + total) with each source in turn (a parameter, or a
    correlated group as one) at its value (factor 1)."""
    out = {}
    for label, names in groups.items():
        held = {**factors, **{n: np.ones_like(factors[n]) for n in names}}
        out[label] = linear_totals(stats, held, draws)
    return out


def _mc_by_class(
    model: Any,
    grid: Grid,
    zones: Zones,
    land_cover: da.Array,
    parameters: Mapping[str, Parameter],
    param_draws: Mapping[str, np.ndarray],
    draws: int,
    sensitivity: bool,
) -> tuple[Any, Any, da.Array]:
    """Delayed totals, sensitivity draws and the SD layer of a model whose pools depend on each
    pixel's class only."""
    zones_k = shared(zones)  # one copy in the graph, not one per tile
    parts = [
        dask.delayed(class_areas)(grid, zones_k, tile, block)
        for tile, block in zip(
            grid.tiles(), land_cover.to_delayed(optimize_graph=False).ravel(), strict=True
        )
    ]
    areas = dask.delayed(np.sum)(parts, axis=0)
    totals, lut = dask.delayed(class_draws, nout=2)(model, areas, param_draws, draws)
    sens = (
        dask.delayed(_class_sensitivity)(model, areas, parameters, param_draws, draws)
        if sensitivity
        else None
    )
    sd = _tiles_to_array(
        grid,
        [
            dask.delayed(_lookup)(lut, block)
            for block in land_cover.to_delayed(optimize_graph=False).ravel()
        ],
    )
    return totals, sens, sd


def _class_sensitivity(
    model: Any,
    areas: np.ndarray,
    parameters: Mapping[str, Parameter],
    param_draws: Mapping[str, np.ndarray],
    draws: int,
) -> dict[str, np.ndarray]:
    """The totals (draws, zones, pools + total) with each source in turn at its value."""
    return {
        label: class_draws(model, areas, fix_parameter(parameters, param_draws, names), draws)[0]
        for label, names in sources(parameters).items()
    }


def _lookup(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return lut[np.asarray(codes, np.intp)]


def _tiles_to_array(grid: Grid, blocks: Sequence[Any], dtype: str = "float32") -> da.Array:
    """One dask array of the grid from delayed per-tile blocks (tiles in grid order)."""
    tiles = list(grid.tiles())
    ncol = len(grid.chunks[1])
    return da.block(
        [
            [
                da.from_delayed(
                    blocks[r * ncol + c],
                    (tiles[r * ncol + c].height, tiles[r * ncol + c].width),
                    dtype=dtype,
                )
                for c in range(ncol)
            ]
            for r in range(len(grid.chunks[0]))
        ]
    )


def noise_streams(cfg: Config, grid: Grid, year: int) -> dict[str, NoiseStream]:
    """Each per-pixel input error's random stream, source cell (in grid cells) and smoothing (in
    source cells): the role (and the year, for errors independent between years); an error if the
    product's cell is not a whole number of grid cells."""
    out = {}
    res = float(abs(grid.transform.a))
    for role, spec in cfg.account.uncertainty.input_errors.items():
        cell = 1
        if spec.source_cell_m is not None:
            ratio = spec.source_cell_m / res
            cell = round(ratio)
            if cell < 1 or abs(ratio - cell) > 1e-6 * ratio:
                raise InputDataError(
                    f"account.uncertainty.input_errors.{role}.source_cell_m = "
                    f"{spec.source_cell_m:g} m is not a whole number of the grid's {res:g} m "
                    "cells; give the product's cell size, a multiple of the grid's resolution"
                )
        stream = role if spec.years == "persistent" else f"{role}@{year}"
        # correlation exp(-h^2 / (4 sigma^2)) falls to 1/e at h = 2 sigma = the length
        length = spec.correlation_length_m
        sigma = 0.0 if length is None else length / (cell * res) / 2
        out[role] = NoiseStream(stream, cell, sigma)
    return out


def mc_path(
    model: Any, parameters: Mapping[str, Parameter], mc: Any, pixelwise: bool | None = None
) -> Literal["linear", "pixel", "class"]:
    """The Monte Carlo path a model takes: ``class`` (its pools a function of each pixel's class
    alone), ``linear`` (its drawn parameters scale parts of its pools, :data:`LINEAR_PARAMETERS`;
    no per-pixel input error) or ``pixel``. ``pixelwise`` True or False forces the pixel or the
    class path (an error if the model cannot be drawn class by class)."""
    by_class = set(model.input_roles) == {"land_cover"} and not model.stateful
    if pixelwise is False and not by_class:
        raise InputDataError(
            f"model {model.name!r} reads more than each pixel's land-cover class, so it cannot be "
            "drawn class by class; leave pixelwise unset or True"
        )
    if pixelwise is not None:  # an explicit choice: pixel by pixel, or class by class
        return "pixel" if pixelwise else "class"
    if by_class and not mc.input_errors:
        return "class"
    linear = (
        hasattr(model, "mc_components")
        and not mc.input_errors
        and set(parameters) <= set(LINEAR_PARAMETERS.get(model.name, ()))
    )
    return "linear" if linear else "pixel"


def _draw_graph(
    run: Run,
    year: int,
    aligned: Mapping[str, Path],
    grid: Grid,
    zones: Zones,
    *,
    want_sd: bool,
    sensitivity: bool,
    pixelwise: bool | None,
) -> tuple[Any, Any, da.Array | None]:
    """The delayed Monte Carlo of a year over ``zones``: totals (draws, zones, pools + total),
    the sensitivity draws (source → totals with that source at its value, or None) and the SD
    layer (or None), on the path the model allows."""
    cfg = run.cfg
    mc = cfg.account.uncertainty
    model = run.model
    roles = sorted(run.mc_inputs(year))  # the roles, and the state's layers (state_<name>)
    missing = [r for r in roles if r not in aligned]
    if missing:
        raise InputDataError(f"the Monte Carlo needs aligned input role(s) {missing}")
    arrays = {r: open_on_grid(aligned[r], grid) for r in roles}
    parameters = mc_parameters(model, mc.parameters, mc.correlated)
    param_draws = draw_parameters(parameters, mc.draws, mc.seed)
    path = mc_path(model, parameters, mc, pixelwise)
    if path == "linear":
        factors = draw_factors(parameters, param_draws)
        return _mc_linear(
            model, grid, zones, arrays, parameters, factors, mc.draws, sensitivity, want_sd
        )
    if path == "pixel":
        streams = noise_streams(cfg, grid, year)
        totals, sd = _mc_by_pixel(model, grid, zones, arrays, param_draws, mc, streams, want_sd)
        return totals, None, sd
    totals, sens, sd = _mc_by_class(
        model, grid, zones, arrays["land_cover"], parameters, param_draws, mc.draws, sensitivity
    )
    return totals, sens, sd if want_sd else None


def stock_draws(
    cfg: Config,
    year: int,
    *,
    aligned: Mapping[str, Path],
    grid: Grid,
    zones: Zones,
    threads: int = 1,
) -> np.ndarray:
    """The Monte Carlo totals of a year's stocks (draws, zones, pools + total) in Mg C over any
    zones (e.g. :class:`~sinkmap.account.zones.RasterZones` of an interval's change strata): the
    same draws as ``monte_carlo.csv`` for the same seed."""
    totals, _, _ = _draw_graph(
        Run(cfg), year, aligned, grid, zones, want_sd=False, sensitivity=False, pixelwise=None
    )
    (out,) = compute([totals], threads)
    return np.asarray(out)


def _code_areas(codes: np.ndarray, grid: Grid, tile: Tile) -> dict[int, float]:
    """Area (ha) of each code > 0 of one tile."""
    keep = np.asarray(codes).ravel() > 0
    if not keep.any():
        return {}
    ha = np.broadcast_to(grid.cell_area_ha(tile.window), (tile.height, tile.width)).ravel()
    u, inv = np.unique(np.asarray(codes).ravel()[keep], return_inverse=True)
    return dict(zip(u.tolist(), np.bincount(inv, weights=ha[keep]).tolist(), strict=True))


def _add_areas(parts: Sequence[Mapping[int, float]]) -> pd.Series:
    total: dict[int, float] = {}
    for part in parts:
        for code, area in part.items():
            total[code] = total.get(code, 0.0) + area
    return pd.Series(total, dtype="float64").sort_index()


class StrataDraws(NamedTuple):
    """:func:`strata_stock_draws`: each stratum's area (ha, indexed by code), year → the stocks'
    totals (draws, strata, pools + total; Mg C), and source → year → the same with that source
    of uncertainty held at its value (empty without sensitivity or on the pixel path)."""

    area: pd.Series
    totals: dict[int, np.ndarray]
    held: dict[str, dict[int, np.ndarray]]


def strata_stock_draws(
    cfg: Config,
    years: Sequence[int],
    *,
    aligned: Mapping[int, Mapping[str, Path]],
    grid: Grid,
    block: Callable[[Tile], np.ndarray],
    folder: Path,
    threads: int = 1,
    sensitivity: bool = False,
) -> StrataDraws:
    """The area (ha) of each stratum code, and the Monte Carlo totals of the stocks of each year
    (draws, strata, pools + total; Mg C, the same draws as ``monte_carlo.csv``) over the strata
    that ``block(tile)`` gives (int codes, 0 = none; e.g. an interval's change strata); with
    ``sensitivity``, also the totals with each source of the stocks' uncertainty held at its value
    (the class and linear paths; none on the pixel path).

    The strata are computed once per tile, written to a temporary GeoTIFF in ``folder`` with
    their areas tallied in the same pass, and read back by window for every year's draws, all
    years in one graph: no input layer of the strata is read more than once.
    """
    tiles = list(grid.tiles())
    codes = [dask.delayed(block)(t) for t in tiles]
    areas = dask.delayed(_add_areas)(
        [dask.delayed(_code_areas)(c, grid, t) for c, t in zip(codes, tiles, strict=True)]
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".strata-") as tmp:
        raster = Path(tmp) / "strata.tif"
        spec = LayerSpec(_tiles_to_array(grid, codes, "int32"), "int32", 0)
        (area,) = write_layers(grid, {raster: spec}, extra=[areas], threads=threads, cog=False)
        if area.empty:
            return StrataDraws(area, {}, {})
        zones = RasterZones(grid, area.index.tolist(), lambda t: read_window(raster, t.window))
        run = Run(cfg)
        graphs = [
            _draw_graph(
                run,
                y,
                aligned[y],
                grid,
                zones,
                want_sd=False,
                sensitivity=sensitivity,
                pixelwise=None,
            )[:2]
            for y in years
        ]
        computed = compute(graphs, threads)
    totals = {y: np.asarray(t)[:, 1:] for y, (t, _) in zip(years, computed, strict=True)}
    held: dict[str, dict[int, np.ndarray]] = {}
    for y, (_, sens) in zip(years, computed, strict=True):
        for label, t in (sens or {}).items():
            held.setdefault(label, {})[y] = np.asarray(t)[:, 1:]
    return StrataDraws(area, totals, held)


def run_monte_carlo(
    cfg: Config,
    year: int,
    *,
    aligned: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    sensitivity_out: Path | None = None,
    sd_out: Path | None = None,
    threads: int = 1,
    pixelwise: bool | None = None,
) -> pd.DataFrame:
    """Monte Carlo totals of the year's stocks per zone and pool (``monte_carlo.csv``: one row per
    draw × zone × pool), the AOI's total with each parameter held at its value
    (``monte_carlo_sensitivity.csv``), and optionally the per-pixel SD of the total stock (a COG).

    A model that reads only the land cover (``lookup``, or any such model of yours: its pools must
    be a function of each pixel's class) is drawn class by class: each draw evaluates the model once
    per class present and weights it by the class's area in each zone, which gives the same totals
    as running it over every pixel, thousands of times faster. A model whose drawn parameters
    scale parts of its pools (``dynamics``) sums those parts once per tile and applies the draws to
    the sums. Other models, and any per-pixel input error, run pixel by pixel, chunk by chunk
    (``pixelwise=True`` forces that path; it writes no sensitivity draws).

    Parameters are drawn once per draw for the whole run (and every year: the same seed gives the
    same parameter draws in every year, so they are fully correlated in time and largely cancel in
    a stock difference); parameters of one ``correlated`` group share their draws. Per-pixel input
    errors are drawn once per source cell, independent between source cells, the same every year
    or independent between years as configured. See docs/accounting.md.
    """
    run = Run(cfg)
    mc = cfg.account.uncertainty
    grid = Grid.from_json(grid_path)
    zones = run.zones(grid)
    want_sd = sd_out is not None
    totals, sens, sd = _draw_graph(
        run,
        year,
        aligned,
        grid,
        zones,
        want_sd=want_sd,
        sensitivity=mc.sensitivity,
        pixelwise=pixelwise,
    )
    extra = [totals, sens]
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
        totals, sens = write_layers(grid, {Path(sd_out): spec}, extra=extra, threads=threads)
        style_rasters([Path(sd_out)])
    else:
        totals, sens = compute(extra, threads)
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
    if sensitivity_out is not None:
        aoi_total = {k: np.asarray(v)[:, 0, -1] for k, v in (sens or {}).items()}
        held = held_draws_table(
            aoi_total, {"year": year}, "stock_mgc", mc.seed, SENSITIVITY_DRAW_COLUMNS
        )
        write_csv(held, sensitivity_out)
    return table


def held_draws_table(
    held: Mapping[str, np.ndarray],
    labels: Mapping[str, Any],
    value: str,
    seed: int,
    columns: Sequence[str],
) -> pd.DataFrame:
    """A total per draw with each source held at its value (``held``: source → draws), one row
    per source × draw, in ``columns``: ``labels`` (e.g. the year), ``parameter``, ``draw``, the
    draws under ``value``, ``seed``. Empty, with its columns, when nothing was held (the pixel
    path, or sensitivity off): ``monte_carlo_sensitivity.csv`` and
    ``monte_carlo_gain_loss_sensitivity.csv``."""
    frames = [
        pd.DataFrame(
            {**labels, "parameter": name, "draw": np.arange(v.size), value: v, "seed": seed}
        )
        for name, v in held.items()
    ]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True)[list(columns)]
