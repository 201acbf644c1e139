"""An interval's sinks, in one pass over the two years: the stock-difference flux layers (total and
per pool), the gain-loss layers, and from the same blocks the change tally per zone × class × pool
× method, the IPCC summary, the land-use change matrices and the per-class summary.

Rule ``interval``. Each raster of the two years is read once; every table comes from the one tally
engine (:func:`sinkmap.account.zones.group_sums`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rasterio

from sinkmap import kernels
from sinkmap.account.gain_loss import gain_loss
from sinkmap.account.rows import long_rows
from sinkmap.account.transitions import (
    change_matrix_table,
    ipcc_category_matrix,
    ipcc_summary,
)
from sinkmap.account.zones import (
    WeightedSums,
    ZoneCoverage,
    Zones,
    add_group_sums,
    group_sums,
    kernel_entries,
    membership,
    split_keys,
    summed_values,
)
from sinkmap.carbon import (
    carbon_of,
    co2e,
    flux_between,
    interval_years,
    net_flux,
    pool_sum,
    step_fluxes,
)
from sinkmap.config import Config
from sinkmap.constants import BIOMASS_POOLS, CO2_PER_C, POOLS, SIGN_CONVENTION, UNITS_FLUX
from sinkmap.contract import ACCOUNT_POOLS, AOI_ZONE, GAIN_LOSS, STOCK_DIFFERENCE
from sinkmap.dynamics import State
from sinkmap.errors import InputDataError
from sinkmap.files import sha256_file, write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, open_on_grid, shared, write_layers
from sinkmap.kernels.slices import flat_for_kernel
from sinkmap.legends import class_names, ipcc_categories
from sinkmap.paths import GAIN_LOSS_PARTS, STOCK_LAYERS
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stacks import band
from sinkmap.stages.context import Run, now, tile_blocks
from sinkmap.tables import GrowthRates

#: What each gain-loss layer holds (its ``QUANTITY`` tag).
GAIN_LOSS_QUANTITY = {
    "net": "net CO2e flux by gain-loss, -(gains - losses) x 44/12 (IPCC 2006 V4 Eq. 2.4)",
    "removals": "CO2e removals by growth, -gains x 44/12 (IPCC 2006 V4 Eq. 2.9, 2.10), <= 0",
    "emissions": "CO2e emissions from transitions and forest loss, losses x 44/12, >= 0",
}
#: Tables the interval stage always writes (``outputs`` keys).
INTERVAL_TABLES = (
    "sink_summary",
    "change_matrix",
    "ipcc_change_matrix",
    "change_tally",
    "ipcc_summary",
)


def gain_loss_params(cfg: Config, model: Any = None) -> dict[str, Any]:
    """What the gain-loss result depends on besides the layers (for the provenance columns): the
    carbon state's tables with a stateful model, the growth-rate table otherwise."""
    if model is not None and model.stateful:
        p = model.params
        return {
            "method": "carbon state: growth along the strata's curves, losses at disturbances "
            "and conversions (IPCC 2006 V4 Eq. 2.4, 2.16, 2.23, 2.25)",
            "strata": str(p.strata),
            "strata_sha256": sha256_file(p.strata) if Path(p.strata).exists() else None,
            "table": str(p.table),
            "table_sha256": sha256_file(p.table) if Path(p.table).exists() else None,
            "transition_years": p.transition_years,
            "carbon_fraction": p.carbon_fraction,
        }
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


def compute_interval(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover: tuple[Path, Path],
    stocks0: Mapping[str, Path],
    stocks1: Mapping[str, Path],
    grid_path: Path,
    outputs: Mapping[str, Path],
    loss_year: Path | None = None,
    state: Path | None = None,
    states: tuple[Mapping[str, Path], Mapping[str, Path]] | None = None,
    inputs1: Mapping[str, Path] | None = None,
    step: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Both methods for the interval ``y0``–``y1``, layers and tables, from one read of the years.

    ``land_cover``: the land cover at ``y0`` and ``y1``; ``stocks0``, ``stocks1``: pool (and
    ``total``) → stock layer of each year; ``loss_year``, ``state``: the optional forest-loss-year
    layer (at ``y1``) and forest-state layer (at ``y0``) of the gain-loss method.

    With a stateful model (:mod:`sinkmap.models.dynamics`), ``states`` holds the state layers of
    both years (name → path) and ``inputs1`` the model's other input roles at ``y1`` (forest type,
    ecozone, loss year): gain-loss is then the growth and the losses of the annual steps from the
    state at ``y0`` to ``y1`` (IPCC Eq. 2.4), and the IPCC tables take each pixel's land category
    from the state, "land converted to X" for the transition period (20 years) after a conversion.
    ``step`` (part → path, :meth:`sinkmap.paths.Paths.steps` of ``y1``): the gain-loss layers the
    stocks stage wrote for its step from ``y0`` to ``y1``, read instead of stepping the state again
    (the same numbers; then ``states[0]`` and ``inputs1`` may be empty).

    ``outputs`` (:meth:`sinkmap.paths.Paths.interval_outputs`): ``flux`` and ``flux_<pool>``
    (stock difference, −(C_y1 − C_y0)/(y1 − y0) × 44/12, Mg CO2e/ha/yr, emissions +),
    ``gain_loss_<part>`` for net, removals and emissions (IPCC 2006 V4 Eq. 2.4, 2.9, 2.10; when
    gain-loss is on), and the tables ``sink_summary`` (per class at the end), ``change_matrix``,
    ``ipcc_change_matrix``, ``change_tally`` (``account_changes.csv``) and ``ipcc_summary``.
    Returns the change tally.
    """
    missing = [k for k in ("flux", *INTERVAL_TABLES) if k not in outputs]
    missing += [
        f"stocks{i}[{p}]"
        for i, s in enumerate((stocks0, stocks1))
        for p in STOCK_LAYERS
        if p not in s
    ]
    run = Run(cfg)
    model = run.model
    if model.stateful and states is None:
        missing.append("states (the state layers of both years)")
    if missing:
        raise InputDataError(f"the interval stage needs {missing}")
    years = interval_years(y0, y1)
    grid = Grid.from_json(grid_path)
    zones = run.zones(grid)
    lc0, lc1 = (open_on_grid(p, grid) for p in land_cover)
    s0 = {p: open_on_grid(stocks0[p], grid) for p in STOCK_LAYERS}
    s1 = {p: open_on_grid(stocks1[p], grid) for p in STOCK_LAYERS}

    sources, synthetic = read_sources([stocks0["total"], stocks1["total"]])
    base = run.tags(sources=sources, synthetic=synthetic) | {
        "INTERVAL": f"{y0}-{y1}",
        "YEAR_START": y0,
        "YEAR_END": y1,
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
    }
    equation = (
        "net CO2e flux by stock difference, -(C_end - C_start)/(t_end - t_start) x 44/12 "
        "(IPCC 2006 V4 Eq. 2.5)"
    )

    def sd_flux(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return net_flux(a, b, y0, y1)

    layers: dict[Path, LayerSpec] = {}
    for pool in ("total", *POOLS):
        key = "flux" if pool == "total" else f"flux_{pool}"
        if key not in outputs:
            continue
        layers[outputs[key]] = LayerSpec(
            data=da.map_blocks(sd_flux, s0[pool], s1[pool], dtype="float32"),
            dtype="float32",
            nodata=float("nan"),
            tags=base
            | {"POOL": pool, "QUANTITY": equation + ("" if pool == "total" else f", {pool} pool")},
            description=(
                f"net CO2e flux ({UNITS_FLUX}, emissions +, removals -) {y0}-{y1}"
                if pool == "total"
                else f"net CO2e flux, {pool} pool ({UNITS_FLUX}, emissions +) {y0}-{y1}"
            ),
        )

    tally_arrays: dict[str, da.Array] = {"c0": lc0, "c1": lc1}
    for pool in POOLS:
        tally_arrays[f"{pool}0"] = s0[pool]
        tally_arrays[f"{pool}1"] = s1[pool]
    with_gl = cfg.account.gain_loss.enabled and all(
        f"gain_loss_{k}" in outputs for k in GAIN_LOSS_PARTS
    )
    if model.stateful and states is not None:
        st0 = {n: open_on_grid(p, grid) for n, p in states[0].items()}
        st1 = {n: open_on_grid(p, grid) for n, p in states[1].items()}
        tally_arrays["cat_to"] = st1["category"]
        tally_arrays["cat_prev"] = st1["previous_category"]
        tally_arrays["ysc"] = st1["years_since_conversion"]
    if with_gl:
        if model.stateful and step is not None:
            stacked = _read_step(step, grid, y0, y1)
        elif model.stateful and states is not None:
            roles1 = {r: open_on_grid(p, grid) for r, p in (inputs1 or {}).items()}
            stacked = _state_gain_loss(model, y0, y1, grid, lc0, lc1, st0, roles1)
        else:
            stacked = _gain_loss_layers(cfg, y0, y1, grid, lc0, lc1, s0, s1, loss_year, state)
        gl_tags = base | {
            "POOL": "total",
            "METHOD": GAIN_LOSS,
            "METHOD_PARAMS": json.dumps(gain_loss_params(cfg, model), sort_keys=True),
        }
        for i, k in enumerate(GAIN_LOSS_PARTS):
            layers[outputs[f"gain_loss_{k}"]] = LayerSpec(
                data=band(stacked, i),
                dtype="float32",
                nodata=float("nan"),
                tags=gl_tags | {"QUANTITY": GAIN_LOSS_QUANTITY[k]},
                description=f"{GAIN_LOSS_QUANTITY[k]} ({UNITS_FLUX}) {y0}-{y1}",
            )
        tally_arrays["gl_removals"] = band(stacked, 1)
        tally_arrays["gl_emissions"] = band(stacked, 2)

    transition = int(getattr(model.params, "transition_years", 20))
    zones_k = shared(zones)  # one copy in the graph, not one per tile
    tasks = [
        dask.delayed(_change_tile)(grid, zones_k, tile, blocks, years, transition)
        for tile, blocks in zip(grid.tiles(), tile_blocks(tally_arrays), strict=True)
    ]
    (parts,) = write_layers(grid, layers, per_tile=tasks, threads=threads)
    style_rasters(layers)
    stamp = now()
    sums = zones.label(add_group_sums(parts), f"change tally {y0}-{y1}")
    for pool in ACCOUNT_POOLS:  # linear: the change of the sums is the sum of the changes
        sums[f"sd_change:{pool}"] = (sums[f"sd_s1:{pool}"] - sums[f"sd_s0:{pool}"]) / years
    legend = run.legend
    aoi = sums[sums["zone_id"] == AOI_ZONE]
    write_csv(_sink_summary(aoi, legend, y0, y1), outputs["sink_summary"])
    pairs = (
        aoi.groupby(["class_start", "class_code"], as_index=False)[
            ["area_ha", "sd_s0:total", "sd_s1:total"]
        ]
        .sum()
        .rename(
            columns={
                "class_start": "from_code",
                "class_code": "to_code",
                "sd_s0:total": "stock_t1_mgc",
                "sd_s1:total": "stock_t2_mgc",
            }
        )
    )
    write_csv(change_matrix_table(pairs, legend, y0, y1), outputs["change_matrix"])
    if "cat_to" in sums.columns:  # land categories of the state: converted for D years
        categories = (
            aoi.groupby(["cat_from", "cat_to"], as_index=False)[
                ["area_ha", "sd_s0:total", "sd_s1:total"]
            ]
            .sum()
            .rename(
                columns={
                    "cat_from": "from_code",
                    "cat_to": "to_code",
                    "sd_s0:total": "stock_t1_mgc",
                    "sd_s1:total": "stock_t2_mgc",
                }
            )
        )
        write_csv(
            ipcc_category_matrix(categories, "ipcc_category", y0, y1),
            outputs["ipcc_change_matrix"],
        )
        by_category = sums.drop(columns=["class_start", "class_code"]).rename(
            columns={"cat_from": "class_start", "cat_to": "class_code"}
        )
        summary = ipcc_summary(by_category, "ipcc_category", y0, y1)
    else:
        write_csv(ipcc_category_matrix(pairs, legend, y0, y1), outputs["ipcc_change_matrix"])
        summary = ipcc_summary(sums, legend, y0, y1)
    write_csv(summary.assign(computed_at=stamp), outputs["ipcc_summary"])
    table = _change_rows(run, sums, zones, y0, y1, sources, synthetic)
    table["computed_at"] = stamp
    write_csv(table, outputs["change_tally"])
    return table


def _gain_loss_layers(
    cfg: Config,
    y0: int,
    y1: int,
    grid: Grid,
    lc0: da.Array,
    lc1: da.Array,
    s0: Mapping[str, da.Array],
    s1: Mapping[str, da.Array],
    loss_year: Path | None,
    state: Path | None,
) -> da.Array:
    """Net, removals and emissions (Mg CO2e/ha/yr) of the gain-loss method, stacked (3, …)."""
    gl = cfg.account.gain_loss
    rates = GrowthRates.from_csv(gl.growth_rates)
    arrays = {
        "c0": lc0,
        "c1": lc1,
        "s0": s0["total"],
        "s1": s1["total"],
        "bio0": sum(s0[p].astype("float64") for p in BIOMASS_POOLS),
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

    return da.map_blocks(
        _block, *arrays.values(), new_axis=0, chunks=((3,), *grid.chunks), dtype="float32"
    )


def _state_gain_loss(
    model: Any,
    y0: int,
    y1: int,
    grid: Grid,
    lc0: da.Array,
    lc1: da.Array,
    state0: Mapping[str, da.Array],
    roles1: Mapping[str, da.Array],
) -> da.Array:
    """Net, removals and emissions (Mg CO2e/ha/yr) of the annual steps from the state at ``y0``:
    gains are the growth of the stands, losses the carbon lost at disturbances and conversions."""
    names = list(state0)
    role_names = list(roles1)
    years = interval_years(y0, y1)

    def _block(*blocks: np.ndarray) -> np.ndarray:
        b0, b1 = blocks[0], blocks[1]
        st = State.from_arrays(dict(zip(names, blocks[2 : 2 + len(names)], strict=True)))
        chunk = dict(zip(role_names, blocks[2 + len(names) :], strict=True))
        chunk["land_cover"] = b1
        _, step = model.step(st, b0, chunk, y0, y1)
        return step_fluxes(step.gains, step.losses, years)

    return da.map_blocks(
        _block,
        lc0,
        lc1,
        *state0.values(),
        *roles1.values(),
        new_axis=0,
        chunks=((3,), *grid.chunks),
        dtype="float32",
    )


def _read_step(step: Mapping[str, Path], grid: Grid, y0: int, y1: int) -> da.Array:
    """The stocks stage's gain-loss layers of the step ``y0``-``y1``, stacked (3, …) as
    :func:`_state_gain_loss` gives them; an error if they span other years."""
    missing = [k for k in GAIN_LOSS_PARTS if k not in step]
    if missing:
        raise InputDataError(f"the interval stage needs the step layer(s) {missing}")
    for k in GAIN_LOSS_PARTS:
        with rasterio.open(step[k]) as ds:
            tags = ds.tags()
        span = (tags.get("YEAR_START"), tags.get("YEAR_END"))
        if span != (str(y0), str(y1)):
            raise InputDataError(
                f"{step[k]} holds the step {span[0]}-{span[1]}, not {y0}-{y1}: it was written "
                f"for another series of years; rerun the stocks of {y1} (delete that file)"
            )
    return da.stack([open_on_grid(step[k], grid) for k in GAIN_LOSS_PARTS])


def _emissions(a: np.ndarray, b: np.ndarray, years: int) -> np.ndarray:
    """The emissions part (≥ 0) of the flux between stocks ``a`` and ``b``."""
    return np.maximum(flux_between(a, b, years), 0.0)


def _removals(a: np.ndarray, b: np.ndarray, years: int) -> np.ndarray:
    """The removals part (≤ 0) of the flux between stocks ``a`` and ``b``."""
    return np.minimum(flux_between(a, b, years), 0.0)


#: The columns of :func:`_stock_change_sums`, pool by pool (the total last, as ACCOUNT_POOLS).
_CHANGE_SUMS = [
    f"sd_{part}:{pool}" for pool in ACCOUNT_POOLS for part in ("s0", "s1", "emissions", "removals")
]


def _stock_change_sums(
    by_key: WeightedSums, start: list[np.ndarray], end: list[np.ndarray], years: int
) -> dict[str, np.ndarray]:
    """Σ × the entry's weight (its cell's area × the zone's cover) per key, for each pool's
    stock layers at the start and the end of the interval (``start``, ``end``: in the order of
    POOLS) and for their total (the float64 sum of the pools, :func:`~sinkmap.carbon.pool_sum`):
    the stocks at the start (``sd_s0``) and at the end (``sd_s1``), and the emissions (≥ 0) and
    removals (≤ 0) parts of the stock-difference flux between them (:func:`_emissions`,
    :func:`_removals`; Mg C and Mg CO2e/yr).

    Eight layers of one native dtype (float32 or float64) and shape are one pass of a compiled
    kernel over the entries (:func:`sinkmap.kernels.change_sums`), with nothing made at the
    tile's size (but a contiguous copy of a layer that is not); anything else, and
    ``SINKMAP_KERNELS=numpy``, :func:`_stock_change_sums_reference`: the same bits, but for the
    sign or payload of a sum that is NaN (where two NaNs meet, which one an addition keeps is
    not fixed; the stage sums finite values only). The sums are (20, n) float64 at once: 160 MB
    at the largest key space counted densely (``zones._DENSE_BINS``)."""
    layers, shape = (*start, *end), np.shape(start[0])
    flat = None
    if kernels.enabled():  # eight layers of one shape, all float32 or all float64
        flat = flat_for_kernel(shape, layers, "s" * 8) or flat_for_kernel(shape, layers, "f" * 8)
    if flat is not None:
        factor = CO2_PER_C / years  # flux_between's factor
        sums = kernels.change_sums(
            by_key.key, by_key.cell, by_key.weight, [*flat[:4]], [*flat[4:]], factor, by_key.n
        )
        if sums is not None:
            return dict(zip(_CHANGE_SUMS, sums, strict=True))
    return _stock_change_sums_reference(by_key, start, end, years)


def _stock_change_sums_reference(
    by_key: WeightedSums, start: list[np.ndarray], end: list[np.ndarray], years: int
) -> dict[str, np.ndarray]:
    """:func:`_stock_change_sums` as NumPy expressions: the stocks made float64 and their
    totals, the fluxes' parts made one at a time as their sums are taken."""
    s0 = [np.asarray(a, "float64") for a in start]
    s1 = [np.asarray(b, "float64") for b in end]
    s0.append(pool_sum(dict(zip(POOLS, s0, strict=True))))
    s1.append(pool_sum(dict(zip(POOLS, s1, strict=True))))
    held = by_key.many([x for pair in zip(s0, s1, strict=True) for x in pair])
    out: dict[str, np.ndarray] = {}
    for i, (a, b) in enumerate(zip(s0, s1, strict=True)):
        names = _CHANGE_SUMS[4 * i : 4 * i + 4]
        out[names[0]], out[names[1]] = held[2 * i], held[2 * i + 1]
        out[names[2]] = by_key(_emissions(a, b, years))
        out[names[3]] = by_key(_removals(a, b, years))
    return out


def _change_tile(
    grid: Grid,
    zones: Zones,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    years: int,
    transition: int = 20,
) -> pd.DataFrame:
    """One tile's per (zone, class at start, class at end) sums of the interval's changes; with
    the state's categories also per (category converted from, category at the end). Two passes
    of compiled kernels over the tile (:func:`sinkmap.kernels.change_tally`: the codes present,
    then the sums; the same rows, bit for bit) where the codes are bytes and the layers float32
    as the stage reads them, else :func:`_change_tile_reference`."""
    area = grid.cell_area_ha(tile.window)
    coverage = zones.coverage(tile)
    tallied = _change_tally(blocks, area, coverage, years, transition)
    if tallied is not None:
        return tallied
    return _change_tile_reference(blocks, area, coverage, years, transition)


#: The interval tally's keys, in the order of its rows and of ``change_tally``'s codes.
_CHANGE_KEYS = ("class_start", "class_code", "cat_from", "cat_to")


def _change_tally(
    blocks: Mapping[str, np.ndarray],
    area: np.ndarray,
    coverage: ZoneCoverage | None,
    years: int,
    transition: int,
) -> pd.DataFrame | None:
    """:func:`_change_tile` by :func:`sinkmap.kernels.change_tally`; None where it does not
    take the tile (then the reference runs)."""
    if not (kernels.enabled() and isinstance(transition, int | np.integer)):
        return None
    shape = np.shape(blocks["c0"])
    state = ("cat_to", "cat_prev", "ysc") if "cat_to" in blocks else ()
    codes = flat_for_kernel(
        shape, tuple(blocks[n] for n in ("c0", "c1", *state)), "B" * (2 + len(state))
    )
    names = [f"{pool}{end}" for end in "01" for pool in POOLS]
    gl = ("gl_removals", "gl_emissions") if "gl_removals" in blocks else ()
    values = flat_for_kernel(
        shape, (*(blocks[n] for n in (*names, *gl)), area), "s" * (8 + len(gl)) + "f"
    )
    cover = kernel_entries(coverage)
    if codes is None or values is None or len(shape) == 0 or cover is None:
        return None
    gain_loss = (values[8], values[9]) if gl else None
    factor = CO2_PER_C / years  # flux_between's factor
    tally = kernels.change_tally(
        codes, values[:8], gain_loss, transition, values[-1], cover, factor
    )
    if tally is None:
        return None
    seen, count, sums = tally
    zone, key = np.nonzero(count)  # the keys present, zone by zone, in the keys' order
    _, keys = split_keys(key, [np.flatnonzero(s) for s in seen])
    columns = {"zone": zone.astype(np.int64)}
    n_keys = 4 if state else 2  # (the state's two keys: one code each where it is not given)
    columns |= dict(zip(_CHANGE_KEYS[:n_keys], keys[:n_keys], strict=True))
    at = sums[zone, key]  # the keys present's sums (n, 23)
    columns["area_ha"] = at[:, 0]
    for i, name in enumerate(_CHANGE_SUMS):
        columns[name] = at[:, 1 + i]
    if gl:
        columns["gl_removals:total"] = at[:, 21]
        columns["gl_emissions:total"] = at[:, 22]
    return pd.DataFrame(columns)


def _change_tile_reference(
    blocks: Mapping[str, np.ndarray],
    area: np.ndarray,
    coverage: ZoneCoverage | None,
    years: int,
    transition: int,
) -> pd.DataFrame:
    """:func:`_change_tile` as NumPy steps: the cells counted, their entries per zone
    (:func:`membership`), :func:`group_sums` of the stock-difference sums
    (:func:`_stock_change_sums`) and the gain-loss layers per key."""
    c0, c1 = blocks["c0"], blocks["c1"]
    valid = (c0 != 0) & (c1 != 0)
    start = [summed_values(blocks[pool + "0"]) for pool in POOLS]
    end = [summed_values(blocks[pool + "1"]) for pool in POOLS]
    for layer in (*start, *end):
        valid &= np.isfinite(layer)
    if any(a.dtype != np.float32 for a in (*start, *end)):
        # the totals (float64 sums of the pools) are finite where float32 pools are; other
        # pools could overflow them
        for layers in (start, end):
            valid &= np.isfinite(pool_sum(dict(zip(POOLS, layers, strict=True))))
    # only the valid cells are summed, so NaN elsewhere does no harm; the stock-difference sums
    # (Mg C and Mg CO2e/yr, inventory sign) are made from the stock layers by _stock_change_sums
    values: dict[str, np.ndarray] = {}
    if "gl_removals" in blocks:
        rem, em = summed_values(blocks["gl_removals"]), summed_values(blocks["gl_emissions"])
        valid &= np.isfinite(rem) & np.isfinite(em)
        values["gl_removals:total"] = rem
        values["gl_emissions:total"] = em
    keys = {"class_start": c0, "class_code": c1}
    if "cat_to" in blocks:
        # the state's codes as read (uint8 on disk, whole numbers below 2**24 in any dtype the
        # stage is given): compared and taken as keys as they are, exactly, no int64 copies
        cat_to = np.asarray(blocks["cat_to"])
        prev = np.asarray(blocks["cat_prev"])
        ysc = np.asarray(blocks["ysc"])
        valid &= (cat_to > 0) & (cat_to < 255)
        converted = (ysc < transition) & (prev > 0) & (prev < 255)
        keys["cat_from"] = np.where(valid, np.where(converted, prev, cat_to), 0)
        keys["cat_to"] = np.where(valid, cat_to, 0)
    member = membership(valid, area, coverage)
    changes = partial(_stock_change_sums, start=start, end=end, years=years)
    return group_sums(member, keys, values, sums_by=changes)


def _sink_summary(aoi: pd.DataFrame, legend: str | None, y0: int, y1: int) -> pd.DataFrame:
    """Per class at the end of the interval: area and the stock-difference net flux, emissions and
    removals of the whole AOI (Mg CO2e/yr; emissions and removals split per pixel)."""
    names, categories = class_names(legend), ipcc_categories(legend)
    by = aoi.groupby("class_code", as_index=False)[
        ["area_ha", "sd_emissions:total", "sd_removals:total"]
    ].sum()
    by = by[by["area_ha"] > 0]
    codes = by["class_code"].astype(int)
    net = by["sd_emissions:total"] + by["sd_removals:total"]
    return pd.DataFrame(
        {
            "interval_start": y0,
            "interval_end": y1,
            "class_code": codes,
            "class_name": [names.get(c, str(c)) for c in codes],
            "ipcc_category": [categories.get(c, "") for c in codes],
            "area_ha": by["area_ha"],
            "net_flux_mgco2e_per_yr": net,
            "emissions_mgco2e_per_yr": by["sd_emissions:total"],
            "removals_mgco2e_per_yr": by["sd_removals:total"],
            "net_flux_mgco2e_per_ha_yr": net / by["area_ha"],
        }
    )


def _change_rows(
    run: Run,
    sums: pd.DataFrame,
    zones: Zones,
    y0: int,
    y1: int,
    sources: list[dict[str, Any]],
    synthetic: bool,
) -> pd.DataFrame:
    """The change tally: one row per zone × class at the end × pool × method."""
    by_end = (
        sums.drop(columns=[c for c in ("class_start", "cat_from", "cat_to") if c in sums])
        .groupby(["zone_id", "zone_name", "class_code"], sort=False, as_index=False)
        .sum()
    )
    rows = long_rows(by_end, run.legend, zones)
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
        table["method"] == GAIN_LOSS,
        json.dumps(gain_loss_params(run.cfg, run.model), sort_keys=True),
        "{}",
    )
    return table.assign(**run.provenance_columns(sources, synthetic))
