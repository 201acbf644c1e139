"""An interval's sinks: stock difference (total and per pool), gain-loss, the land-use change
matrices, the per-class summary, and the change tally per zone × class × pool × method.

Rules ``sink``, ``gain_loss`` and ``tally_changes``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account.gain_loss import gain_loss
from sinkmap.account.rows import long_rows
from sinkmap.account.transitions import (
    change_matrix_table,
    combine_sums,
    ipcc_category_matrix,
    ipcc_summary,
    transition_sums,
)
from sinkmap.account.zones import Zones, add_group_sums, group_sums, membership
from sinkmap.carbon import carbon_of, class_sums, co2e, co2e_flux, flux_between, stock_difference
from sinkmap.config import Config
from sinkmap.constants import SIGN_CONVENTION, UNITS_FLUX
from sinkmap.contract import ACCOUNT_POOLS, GAIN_LOSS, STOCK_DIFFERENCE
from sinkmap.errors import InputDataError
from sinkmap.files import sha256_file, write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, compute, open_on_grid, write_layers
from sinkmap.legends import class_names, ipcc_categories
from sinkmap.paths import GAIN_LOSS_PARTS
from sinkmap.provenance import layer_provenance, read_sources, style_rasters
from sinkmap.stages.context import Run, now, tile_blocks
from sinkmap.stages.stocks import pool_arrays, sum_tiles
from sinkmap.tables import GrowthRates


def compute_sink(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    stock0: Path,
    stock1: Path,
    land_cover0: Path,
    land_cover1: Path,
    grid_path: Path,
    flux_out: Path,
    summary_out: Path,
    matrix_out: Path,
    ipcc_matrix_out: Path,
    pool_stocks: Mapping[str, tuple[Path, Path]] | None = None,
    pool_flux_out: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> None:
    """Stock-difference sink between two years: net CO2e flux per pixel (inventory sign), per class,
    and the land-use change matrix of the interval (by class and by IPCC land category).

    With ``pool_stocks`` (pool → (stock at y0, stock at y1)) and ``pool_flux_out`` (pool → path),
    also one flux layer per pool, by the same equation."""
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    c0 = open_on_grid(stock0, grid)
    c1 = open_on_grid(stock1, grid)
    flux = da.map_blocks(
        lambda a, b: co2e_flux(stock_difference(a, b, y0, y1)), c0, c1, dtype="float32"
    )
    blocks = zip(
        grid.tiles(),
        *(
            a.to_delayed().ravel()
            for a in (open_on_grid(land_cover0, grid), open_on_grid(land_cover1, grid))
        ),
        *(a.to_delayed().ravel() for a in (c0, c1, flux)),
        strict=True,
    )
    summaries = [dask.delayed(_sink_tile_sums)(grid, tile, *parts) for tile, *parts in blocks]
    sources, synthetic = read_sources([stock0, stock1])
    tags = run.tags(sources=sources, synthetic=synthetic) | {
        "INTERVAL": f"{y0}-{y1}",
        "YEAR_START": y0,
        "YEAR_END": y1,
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "QUANTITY": "net CO2e flux by stock difference, -(C_end - C_start)/(t_end - t_start) x 44/12 (IPCC 2006 V4 Eq. 2.5)",
        "POOL": "total",
    }
    spec = LayerSpec(
        data=flux,
        dtype="float32",
        nodata=float("nan"),
        tags=tags,
        description=f"net CO2e flux ({UNITS_FLUX}, emissions +, removals -) {y0}-{y1}",
    )
    layers = {flux_out: spec}
    for pool, out in (pool_flux_out or {}).items():
        if pool_stocks is None or pool not in pool_stocks:
            raise InputDataError(f"the {pool} flux layer needs the {pool} stocks of both years")
        p0, p1 = (open_on_grid(x, grid) for x in pool_stocks[pool])
        layers[out] = LayerSpec(
            data=da.map_blocks(
                lambda a, b: co2e_flux(stock_difference(a, b, y0, y1)), p0, p1, dtype="float32"
            ),
            dtype="float32",
            nodata=float("nan"),
            tags=tags | {"POOL": pool, "QUANTITY": tags["QUANTITY"] + f", {pool} pool"},
            description=f"net CO2e flux, {pool} pool ({UNITS_FLUX}, emissions +) {y0}-{y1}",
        )
    (tile_sums,) = write_layers(grid, layers, extra=[summaries], threads=threads)
    style_rasters(layers)
    per_class = sum_tiles([t[0] for t in tile_sums])
    legend = run.legend
    transitions = combine_sums(t[1] for t in tile_sums)
    write_csv(change_matrix_table(transitions, legend, y0, y1), matrix_out)
    write_csv(ipcc_category_matrix(transitions, legend, y0, y1), ipcc_matrix_out)
    names, categories = class_names(legend), ipcc_categories(legend)
    rows = []
    for code in np.flatnonzero(per_class["area_ha"] > 0):
        area = per_class["area_ha"][code]
        rows.append(
            {
                "interval_start": y0,
                "interval_end": y1,
                "class_code": int(code),
                "class_name": names.get(int(code), str(code)),
                "ipcc_category": categories.get(int(code), ""),
                "area_ha": area,
                "net_flux_mgco2e_per_yr": per_class["net"][code],
                "emissions_mgco2e_per_yr": per_class["emissions"][code],
                "removals_mgco2e_per_yr": per_class["removals"][code],
                "net_flux_mgco2e_per_ha_yr": per_class["net"][code] / area,
            }
        )
    write_csv(pd.DataFrame(rows), summary_out)


def _sink_tile_sums(
    grid: Grid,
    tile: Tile,
    classes0: np.ndarray,
    classes1: np.ndarray,
    stock0: np.ndarray,
    stock1: np.ndarray,
    flux: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-class flux sums (by the class at the end) and the transition matrix of one tile."""
    area = grid.cell_area_ha(tile.window)
    by_class = class_sums(
        classes1,
        area,
        {
            "net": flux,
            "emissions": np.where(flux > 0, flux, 0),
            "removals": np.where(flux < 0, flux, 0),
        },
    )
    return by_class, transition_sums(classes0, classes1, area, stock0, stock1)


def compute_gain_loss(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover0: Path,
    land_cover1: Path,
    stocks0: Mapping[str, Path],
    stock1_total: Path,
    grid_path: Path,
    out_dir: Path,
    loss_year: Path | None = None,
    state: Path | None = None,
    threads: int = 1,
) -> dict[str, Path]:
    """Gain-loss CO2e layers of an interval (IPCC 2006 V4 Eq. 2.4, 2.9, 2.10): net, removals
    (growth), emissions (transitions and forest loss), Mg CO2e/ha/yr with the inventory sign."""
    run = Run(cfg)
    gl = cfg.account.gain_loss
    rates = GrowthRates.from_csv(gl.growth_rates)
    grid = Grid.from_json(grid_path)
    arrays = {
        "c0": open_on_grid(land_cover0, grid),
        "c1": open_on_grid(land_cover1, grid),
        "s0": open_on_grid(stocks0["total"], grid),
        "s1": open_on_grid(stock1_total, grid),
        "bio0": sum(
            open_on_grid(stocks0[p], grid, dtype="float64") for p in ("above", "below", "dead")
        ),
    }
    if loss_year is not None:
        arrays["loss"] = open_on_grid(loss_year, grid)
    if state is not None:
        arrays["state"] = open_on_grid(state, grid)
    names = list(arrays)

    def _block(*blocks: np.ndarray) -> np.ndarray:
        b = dict(zip(names, blocks, strict=True))
        r = gain_loss(
            b["c0"],
            b["c1"],
            b.get("state"),
            rates,
            gl.root_shoot,
            gl.carbon_fraction,
            (y0, y1),
            b.get("loss"),
            stock_t1=b["s0"],
            stock_t2=b["s1"],
            biomass_t1=b["bio0"] if "loss" in b else None,
            loss_year_base=gl.loss_year_base,
            grow_converted=gl.grow_converted,
        )
        return np.stack([r.net_co2e, r.removals_co2e, r.emissions_co2e])

    stacked = da.map_blocks(
        _block, *arrays.values(), new_axis=0, chunks=((3,), *grid.chunks), dtype="float32"
    )
    sources, synthetic = read_sources([stocks0["total"], stock1_total])
    base = run.tags(sources=sources, synthetic=synthetic) | {
        "INTERVAL": f"{y0}-{y1}",
        "YEAR_START": y0,
        "YEAR_END": y1,
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "POOL": "total",
        "METHOD": GAIN_LOSS,
        "METHOD_PARAMS": json.dumps(gain_loss_params(cfg), sort_keys=True),
    }
    what = {
        "net": "net CO2e flux by gain-loss, -(gains - losses) x 44/12 (IPCC 2006 V4 Eq. 2.4)",
        "removals": "CO2e removals by growth, -gains x 44/12 (IPCC 2006 V4 Eq. 2.9, 2.10), <= 0",
        "emissions": "CO2e emissions from transitions and forest loss, losses x 44/12, >= 0",
    }
    outs = {k: Path(out_dir) / run.paths.gain_loss(y0, y1, k).name for k in GAIN_LOSS_PARTS}
    layers = {
        outs[k]: LayerSpec(
            data=stacked[i],
            dtype="float32",
            nodata=float("nan"),
            tags=base | {"QUANTITY": what[k]},
            description=f"{what[k]} ({UNITS_FLUX}) {y0}-{y1}",
        )
        for i, k in enumerate(GAIN_LOSS_PARTS)
    }
    write_layers(grid, layers, threads=threads)
    style_rasters(layers)
    return outs


def gain_loss_params(cfg: Config) -> dict[str, Any]:
    """What the gain-loss result depends on besides the layers (for the provenance columns)."""
    gl = cfg.account.gain_loss
    path = Path(gl.growth_rates)
    return {
        "growth_rates": str(path),
        "growth_rates_sha256": sha256_file(path) if path.exists() else None,
        "root_shoot": gl.root_shoot,
        "carbon_fraction": gl.carbon_fraction,
        "grow_converted": gl.grow_converted,
        "loss_role": gl.loss_role,
        "state_role": gl.state_role,
    }


def _change_tile(
    grid: Grid, zones: Zones, tile: Tile, blocks: Mapping[str, np.ndarray], years: int
) -> pd.DataFrame:
    """One tile's per (zone, class at start, class at end) sums of the interval's changes."""
    area = grid.cell_area_ha(tile.window)
    c0, c1 = blocks["c0"], blocks["c1"]
    valid = (c0 != 0) & (c1 != 0)
    values: dict[str, np.ndarray] = {}
    for pool in ACCOUNT_POOLS:
        s0, s1 = blocks[f"{pool}0"], blocks[f"{pool}1"]
        valid &= np.isfinite(s0) & np.isfinite(s1)
    # only the valid cells are summed, so NaN elsewhere does no harm
    for pool in ACCOUNT_POOLS:
        s0, s1 = blocks[f"{pool}0"], blocks[f"{pool}1"]
        flux = flux_between(s0, s1, years)  # Mg CO2e/ha/yr, inventory sign
        values[f"sd_s0:{pool}"] = s0
        values[f"sd_s1:{pool}"] = s1
        values[f"sd_emissions:{pool}"] = np.maximum(flux, 0.0)
        values[f"sd_removals:{pool}"] = np.minimum(flux, 0.0)
    if "gl_removals" in blocks:
        rem = blocks["gl_removals"].astype("float64")
        em = blocks["gl_emissions"].astype("float64")
        valid &= np.isfinite(rem) & np.isfinite(em)
        values["gl_removals:total"] = rem
        values["gl_emissions:total"] = em
    member = membership(valid, area, zones.coverage(tile))
    return group_sums(member, {"class_start": c0, "class_code": c1}, values)


def tally_changes(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover0: Path,
    land_cover1: Path,
    stocks0: Mapping[str, Path],
    stocks1: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    ipcc_out: Path,
    gain_loss_layers: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Changes of an interval per zone × class (at the end) × pool × method
    (``account_changes.csv``), and the IPCC summary by land category (``ipcc_summary.csv``)."""
    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    zones = run.zones(grid)
    arrays = {"c0": open_on_grid(land_cover0, grid), "c1": open_on_grid(land_cover1, grid)}
    arrays |= pool_arrays(stocks0, grid, "0") | pool_arrays(stocks1, grid, "1")
    if gain_loss_layers:
        arrays["gl_removals"] = open_on_grid(gain_loss_layers["removals"], grid)
        arrays["gl_emissions"] = open_on_grid(gain_loss_layers["emissions"], grid)
    n = y1 - y0
    tasks = [
        dask.delayed(_change_tile)(grid, zones, tile, blocks, n)
        for tile, blocks in zip(grid.tiles(), tile_blocks(arrays), strict=True)
    ]
    sums = zones.label(add_group_sums(compute(tasks, threads)), f"change tally {y0}-{y1}")
    for pool in ACCOUNT_POOLS:  # linear: the change of the sums is the sum of the changes
        sums[f"sd_change:{pool}"] = (sums[f"sd_s1:{pool}"] - sums[f"sd_s0:{pool}"]) / n
    legend = run.legend
    stamp = now()
    write_csv(ipcc_summary(sums, legend, y0, y1).assign(computed_at=stamp), ipcc_out)

    by_end = (
        sums.drop(columns=["class_start"])
        .groupby(["zone_id", "zone_name", "class_code"], sort=False, as_index=False)
        .sum()
    )
    rows = long_rows(by_end, legend, zones)
    base = ["zone_id", "zone_name", "class_code", "class_name", "ipcc_category", "pool", "area_ha"]
    sd = rows[base].copy()
    sd["method"] = STOCK_DIFFERENCE
    sd["stock_change_mgc_per_yr"] = rows["sd_change"]
    sd["emissions_mgco2e_per_yr"] = rows["sd_emissions"]
    sd["removals_mgco2e_per_yr"] = rows["sd_removals"]
    frames = [sd]
    if "gl_removals" in rows.columns:
        g = rows[rows["pool"] == "total"]
        gl = g[base].copy()
        gl["method"] = GAIN_LOSS
        gl["emissions_mgco2e_per_yr"] = g["gl_emissions"]
        gl["removals_mgco2e_per_yr"] = g["gl_removals"]
        gl["stock_change_mgc_per_yr"] = 0.0 - carbon_of(g["gl_emissions"] + g["gl_removals"])
        frames.append(gl)
    table = pd.concat(frames, ignore_index=True)
    table["net_flux_mgco2e_per_yr"] = co2e(table["stock_change_mgc_per_yr"])
    table.insert(0, "interval_end", y1)
    table.insert(0, "interval_start", y0)
    table["method_params"] = np.where(
        table["method"] == GAIN_LOSS, json.dumps(gain_loss_params(cfg), sort_keys=True), "{}"
    )
    table = table.assign(**layer_provenance([stocks0["total"], stocks1["total"]]))
    table["computed_at"] = stamp
    write_csv(table, out)
    return table
