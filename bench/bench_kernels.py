"""sinkmap's compiled kernels against their NumPy references, on one 2048² tile, in one process.

- the tallies: ``sinkmap.account.zones.group_sums`` (Σ area and Σ value × area per zone × start
  class × end class) of a tile, 90 % of its cells valid, counted in the AOI and in one of three
  zones each (7.5 M entries), ten float32 value layers;
- the carbon parts of a state: ``sinkmap.dynamics.pool_parts`` of a 2048² window of the demo's
  synthetic landscape started in 2020 and stepped to 2021, as the model calls it (the kernel on
  the whole, the reference slice by slice);
- one year's step: ``sinkmap.dynamics.advance`` of that window (which values the pools before
  and after the step), and its gain-loss layers (``sinkmap.carbon.step_fluxes``);
- the first year's state of that window (``sinkmap.dynamics.initial_state``) and its plantations'
  positions along their rotations (``sinkmap.stages.stocks.window_uniform``);
- the interval's change tally of a tile (``sinkmap.stages.interval._change_tile``: the classes at
  both ends, four float32 pools at each, the gain-loss layers; 90 % of the cells valid, in the
  AOI only), whose stock-difference sums are one kernel's pass over the entries;
- the interval's five flux layers of a tile (``sinkmap.carbon.net_flux`` of each pool and the
  total);
- the stepped state as the stocks stage writes it (``State.stack``, float32) and as the next
  year reads it back (``State.from_arrays`` of its layers in their file dtypes);
- a tile's entries (``sinkmap.account.zones.membership``: its valid cells, 90 %, and their
  areas).

Each is timed with the kernels and with ``SINKMAP_KERNELS=numpy`` (the references), alternating,
the minimum of five calls each after a warm-up; the results must be equal bit for bit.

    python bench/bench_kernels.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sinkmap import kernels, landscape, reuse_freed_memory

REPO = Path(__file__).resolve().parents[1]
SIDE, LAYERS, REPEAT = 2048, 10, 5


def tally_inputs() -> tuple[Any, ...]:
    """A tile's membership, its two uint8 class layers and the value layers."""
    from sinkmap.account.zones import Membership

    rng = np.random.default_rng(3)
    n = SIDE * SIDE
    cells = np.flatnonzero(rng.random(n) < 0.9)
    third = 1 + (cells // SIDE) * 3 // SIDE  # zones 1-3: horizontal thirds
    fraction = np.where(rng.random(cells.size) < 0.1, rng.random(cells.size), 1.0)
    member = Membership(
        np.concatenate([np.zeros(cells.size, np.int64), third.astype(np.int64)]),
        np.concatenate([cells, cells]),
        np.concatenate([np.full(cells.size, 0.01), 0.01 * fraction]),
    )
    classes = np.array([10, 20, 30, 40, 50, 60, 80, 90], np.uint8)
    start = rng.choice(classes, n)
    end = np.where(rng.random(n) < 0.05, rng.choice(classes[[0, 2, 3, 4]], n), start)
    values = {f"v{i}": rng.gamma(2.0, 30.0, n).astype(np.float32) for i in range(LAYERS)}
    return member, {"class_start": start, "class_end": end}, values


def state_inputs() -> tuple[Any, ...]:
    """The demo landscape's state of a 2048² window in 2020 and its inputs of 2021."""
    from sinkmap.dynamics import advance, initial_state
    from sinkmap.models import get_model

    model = get_model(
        "dynamics",
        {
            "strata": str(REPO / "config" / "dynamics" / "strata.csv"),
            "table": str(REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv"),
        },
    )
    dyn = model.dynamics  # type: ignore[attr-defined]
    lon = np.linspace(109.45, 109.75, SIDE)  # the axes: the landscape's layers are (lat, lon)
    lat = np.linspace(18.75, 18.45, SIDE)
    lc0, lc1 = (
        landscape.landscape(lon, lat, year)[0].ravel().astype(np.int64) for year in (2020, 2021)
    )
    ftype = landscape.forest_type(lon, lat, 2021).ravel().astype(np.int64)
    zone = landscape.ecozone(lon, lat).ravel().astype(np.int64)
    state = initial_state(
        lc0,
        2020,
        dyn,
        forest_type=ftype,
        planting_year=landscape.planting_year(lon, lat, 2020).ravel(),
        ecozone=zone,
    )
    stepped, _ = advance(state, lc0, lc1, 2021, dyn, forest_type=ftype, ecozone=zone)
    return dyn, state, stepped, lc0, lc1, ftype, zone


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any, Any]:
    """(kernels' time, references' time, kernels' result, references' result), alternating."""
    best = {"": np.inf, "numpy": np.inf}
    out: dict[str, Any] = {}
    for mode in best:  # warm-up: the kernels' first call loads them
        os.environ[kernels.ENV] = mode
        out[mode] = fn()
    for _ in range(REPEAT):
        for mode in best:
            os.environ[kernels.ENV] = mode
            t0 = time.perf_counter()
            fn()
            best[mode] = min(best[mode], time.perf_counter() - t0)
    os.environ.pop(kernels.ENV)
    return best[""], best["numpy"], out[""], out["numpy"]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "equals"):  # a DataFrame
        return bool(a.equals(b))
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def main() -> None:
    from sinkmap.account.zones import group_sums
    from sinkmap.dynamics import advance

    reuse_freed_memory()  # as the stages' processes
    member, keys, values = tally_inputs()
    dyn, state, stepped, lc0, lc1, ftype, zone = state_inputs()
    from sinkmap.account.zones import Zones
    from sinkmap.carbon import net_flux, step_fluxes
    from sinkmap.dynamics import initial_state, pool_parts
    from sinkmap.grid import Grid
    from sinkmap.stages.interval import _change_tile
    from sinkmap.stages.stocks import window_uniform

    grid = Grid("EPSG:32649", 10.0, 700_000.0, 2_060_000.0, width=SIDE, height=SIDE, chunk=SIDE)
    (tile,) = grid.tiles()
    square = (SIDE, SIDE)
    blocks = {"c0": keys["class_start"].reshape(square), "c1": keys["class_end"].reshape(square)}
    layers = [v.reshape(square) for v in values.values()]
    for i, name in enumerate(["above0", "below0", "dead0", "soil0", "above1", "below1", "dead1"]):
        blocks[name] = layers[i]
    blocks["soil1"] = layers[7].copy()
    blocks["soil1"].ravel()[::10] = np.nan  # a tenth of the cells not valid
    blocks["gl_removals"], blocks["gl_emissions"] = -layers[8], layers[9]
    for t in "01":  # the total stock layer, float32 as the stocks stage writes it
        blocks["total" + t] = sum(blocks[p + t] for p in ("above", "below", "dead", "soil"))
    fluxes = [(p + "0", p + "1") for p in ("above", "below", "dead", "soil", "total")]

    lon = np.linspace(109.45, 109.75, SIDE)
    lat = np.linspace(18.75, 18.45, SIDE)
    planted = landscape.planting_year(lon, lat, 2020).ravel()
    first = {"forest_type": ftype, "planting_year": planted, "ecozone": zone}
    _, step = advance(state, lc0, lc1, 2021, dyn, forest_type=ftype, ecozone=zone)

    from sinkmap.account.zones import membership
    from sinkmap.dynamics import STATE_LAYERS, State

    stacked = stepped.stack()
    as_read = {  # the layers in the dtypes they are written in
        name: stacked[i].astype(dtype) for i, (name, (dtype, _)) in enumerate(STATE_LAYERS.items())
    }
    valid = np.random.default_rng(5).random(square) < 0.9
    area = grid.cell_area_ha(tile.window)

    def entries() -> tuple[np.ndarray, ...]:
        m = membership(valid, area)
        return m.zone, m.cell, m.weight

    cases: dict[str, Callable[[], Any]] = {
        "the first year's state (initial_state)": lambda: initial_state(lc0, 2020, dyn, **first),
        "its positions (window_uniform)": lambda: window_uniform(2048, 4096, 0, SIDE),
        "a step's gain-loss layers (step_fluxes)": lambda: step_fluxes(step.gains, step.losses, 1),
        "the interval's change tally": lambda: _change_tile(grid, Zones(grid), tile, blocks, 1),
        "the interval's five flux layers": lambda: [
            net_flux(blocks[a], blocks[b], 2020, 2021) for a, b in fluxes
        ],
        f"tallies (group_sums), {LAYERS} layers": lambda: group_sums(member, keys, values),
        "pool_parts of a stepped state": lambda: pool_parts(stepped, lc1, dyn, ecozone=zone),
        "one year's step (advance)": lambda: advance(
            state, lc0, lc1, 2021, dyn, forest_type=ftype, ecozone=zone
        ),
        "the state written (State.stack)": lambda: stepped.stack(),
        "the state read (State.from_arrays)": lambda: State.from_arrays(as_read),
        "a tile's entries (membership)": entries,
    }
    print(f"{SIDE}² tile, min of {REPEAT} calls each, kernels and references alternating")
    for name, fn in cases.items():
        t_k, t_ref, a, b = timed(fn)
        print(
            f"  {name:40s} NumPy {t_ref * 1000:6.0f} ms   kernels {t_k * 1000:6.0f} ms  "
            f"({t_ref / t_k:4.1f}x)   bit for bit: {same(a, b)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
