"""A compiled per-pixel kernel against NumPy: the tallies of one tile, as evidence for a design choice.

The chain's time over its floor is NumPy's many elementwise passes (bench/README.md, "Where the
cores go"). This asks how much a compiled kernel that makes one pass per entry would save, on the
simplest part to port: the tallies (``sinkmap.account.zones.group_sums``: Σ area and Σ value ×
area per zone × start class × end class) of one 2048 × 2048 tile, 90 % of its cells valid, counted
in the AOI and in one of three zones each (7.5 M entries), ten float32 value layers. The kernel
(Numba, ``bench/.venv-numba``: sinkmap does not depend on Numba) adds each entry's weight and
values into dense key slots in the entries' order, as ``group_sums`` does, so the sums must be
the same bit for bit; the script checks it.

    python bench/kernel_numba.py --setup     # once: bench/.venv-numba with numba and this NumPy
    python bench/kernel_numba.py             # both, min of 5 calls each after a warm-up
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "bench" / ".venv-numba"
SIDE, LAYERS, REPEAT = 2048, 10, 5


def tile() -> tuple[np.ndarray, ...]:
    """A tile's entries (zone, cell, weight in ha), two uint8 class layers and the value layers."""
    rng = np.random.default_rng(3)
    n = SIDE * SIDE
    cells = np.flatnonzero(rng.random(n) < 0.9)
    third = 1 + (cells // SIDE) * 3 // SIDE  # zones 1-3: horizontal thirds
    fraction = np.where(rng.random(cells.size) < 0.1, rng.random(cells.size), 1.0)
    zone = np.concatenate([np.zeros(cells.size, np.int64), third.astype(np.int64)])
    cell = np.concatenate([cells, cells])
    weight = np.concatenate([np.full(cells.size, 0.01), 0.01 * fraction])
    classes = np.array([10, 20, 30, 40, 50, 60, 80, 90], np.uint8)
    start = rng.choice(classes, n)
    end = np.where(rng.random(n) < 0.05, rng.choice(classes[[0, 2, 3, 4]], n), start)
    values = np.stack([rng.gamma(2.0, 30.0, n).astype(np.float32) for _ in range(LAYERS)])
    return zone, cell, weight, start, end, values


def numpy_side(out: Path) -> float:
    from sinkmap.account.zones import Membership, group_sums

    zone, cell, weight, start, end, values = tile()
    member = Membership(zone, cell, weight)
    keys = {"class_start": start, "class_end": end}
    layers = {f"v{i}": v for i, v in enumerate(values)}
    group_sums(member, keys, layers)
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        table = group_sums(member, keys, layers)
        times.append(time.perf_counter() - t0)
    np.save(out, table.to_numpy(dtype="float64"))
    return min(times)


def state_inputs(out: Path) -> float:
    """The carbon state of a 2048² window of the demo's synthetic landscape, started in 2020 and
    stepped to 2021 (untimed); then ``sinkmap.dynamics.pool_parts`` of it, slice by slice as the
    model calls it, timed. Saves the arrays, the lookup tables and the parts for the other side."""
    from sinkmap import landscape
    from sinkmap.dynamics import FOREST_LAND, SHRUB, WOODY, advance, initial_state, pool_parts
    from sinkmap.models import get_model
    from sinkmap.models.dynamics import _sliced

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
    state, _ = advance(state, lc0, lc1, 2021, dyn, forest_type=ftype, ecozone=zone)
    _sliced(pool_parts, state, lc1, dyn, ecozone=zone)
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        parts = _sliced(pool_parts, state, lc1, dyn, ecozone=zone)
        times.append(time.perf_counter() - t0)
    st = dyn.strata
    rows = np.where(st.row_table < 0, 0, st.row_table)  # no row: the placeholder _rows gives
    woody = np.zeros(256, bool)
    woody[list(WOODY)] = True
    np.savez(
        out,
        **{f"state_{k}": v for k, v in state._asdict().items()},
        lc=lc1,
        zone=np.where(zone > 0, zone, dyn.default_ecozone),
        rows=rows,
        woody=woody,
        agb_by_age=st.agb_by_age,
        root_shoot=st.root_shoot.astype("float64"),
        mature_agb=st.mature_agb(np.arange(len(st.strata))),
        dead=st.dead_wood_fraction.astype("float64") * dyn.carbon_fraction,
        litter=st.litter_fraction.astype("float64"),
        **{
            f"lut_{k}": dyn.table.lut(k, 256).astype("float64")
            for k in ("above", "below", "dead", "soil")
        },
        constants=np.array(
            [dyn.carbon_fraction, dyn.litter_carbon_fraction, dyn.agb_scale, dyn.soil_scale]
        ),
        codes=np.array(
            [dyn.transition_years, dyn.shrub_classes[0], dyn.tree_classes[0], SHRUB, FOREST_LAND]
        ),
        **{f"part_{k}": v for k, v in parts.items()},
    )
    return min(times)


def numba_side(out: Path) -> float:  # runs in bench/.venv-numba, without sinkmap
    import numba

    @numba.njit(cache=False)
    def sums(zone, cell, weight, start, end, values):  # type: ignore[no-untyped-def]
        slots = (zone.max() + 1) * 65536
        area = np.zeros(slots)
        total = np.zeros((values.shape[0], slots))
        for i in range(cell.size):
            c = cell[i]
            k = (zone[i] * 256 + start[c]) * 256 + end[c]
            w = weight[i]
            area[k] += w
            for j in range(values.shape[0]):
                total[j, k] += np.float64(values[j, c]) * w
        return area, total

    data = tile()
    sums(*data)  # compile
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        area, total = sums(*data)
        times.append(time.perf_counter() - t0)
    present = np.flatnonzero(area)
    np.save(
        out,
        np.column_stack(
            [
                present // 65536,
                present // 256 % 256,
                present % 256,
                area[present],
                total[:, present].T,
            ]
        ),
    )
    return min(times)


def numba_parts(path: Path) -> tuple[float, bool]:  # runs in bench/.venv-numba, without sinkmap
    """``pool_parts`` as one compiled pass per pixel, the same operations in the same order;
    its time and whether every part equals sinkmap's bit for bit."""
    import numba

    d = dict(np.load(path))
    cf, lcf, agb_scale, soil_scale = d["constants"]
    years, shrub_class, tree_class, shrub, forest = (int(v) for v in d["codes"])

    @numba.njit(cache=False)
    def parts(  # type: ignore[no-untyped-def]
        stratum,
        category,
        age,
        ysc,
        previous,
        soil_start,
        lc,
        zone,
        rows,
        woody,
        agb_by_age,
        root_shoot,
        mature_agb,
        dead,
        litter,
        above,
        below,
        dom,
        soil_lut,
        out,
    ):
        top = agb_by_age.shape[1] - 1
        for i in range(stratum.size):
            s = stratum[i]
            if s <= 0:
                for k in range(7):
                    out[k, i] = np.nan
                continue
            w = woody[s]
            row = rows[s, zone[i]] if w else 0
            y = ysc[i]
            a = min(max(age[i], 0), top)
            agb = agb_by_age[row, a] * agb_scale if w else 0.0
            c = lc[i]
            converted_now = y == 0 and previous[i] > 0
            open_above = 0.0 if converted_now else above[c]
            open_below = 0.0 if converted_now else below[c]
            mature = mature_agb[row] * agb_scale
            dom_ref = mature * (dead[row] + litter[row] * lcf)
            p = previous[i]
            built_up = min(y, years) / years if (p != forest and p > 0 and y < years) else 1.0
            soil_class = shrub_class if s == shrub else c
            if w and s != shrub:
                soil_class = tree_class
            eq = soil_lut[soil_class] * soil_scale
            start = soil_start[i] * soil_scale
            out[0, i] = agb * cf
            out[1, i] = agb * root_shoot[row] * cf
            out[2, i] = dom_ref * built_up if (w and category[i] == forest) else 0.0
            out[3, i] = 0.0 if w else open_above
            out[4, i] = 0.0 if w else open_below
            out[5, i] = 0.0 if w else dom[c]
            out[6, i] = start + (eq - start) * min(y, years) / years

    args = [
        d[f"state_{k}"]
        for k in (
            "stratum",
            "category",
            "age",
            "years_since_conversion",
            "previous_category",
            "soil_start",
        )
    ]
    args += [
        d[k]
        for k in (
            "lc",
            "zone",
            "rows",
            "woody",
            "agb_by_age",
            "root_shoot",
            "mature_agb",
            "dead",
            "litter",
            "lut_above",
            "lut_below",
            "lut_dead",
            "lut_soil",
        )
    ]
    out = np.empty((7, d["lc"].size))
    parts(*args, out)
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        parts(*args, out)
        times.append(time.perf_counter() - t0)
    names = (
        "woody_above",
        "woody_below",
        "forest_dead",
        "open_above",
        "open_below",
        "open_dead",
        "soil",
    )
    same = all(np.array_equal(out[k], d[f"part_{n}"], equal_nan=True) for k, n in enumerate(names))
    return min(times), same


def setup() -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "numba", f"numpy=={np.__version__}"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setup", action="store_true", help="build bench/.venv-numba and exit")
    parser.add_argument("--numba-side", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup()
        return
    if args.numba_side:
        print(numba_side(args.numba_side))
        print(*numba_parts(args.numba_side.with_name("state.npz")))
        return
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"{VENV} does not exist: run `python bench/kernel_numba.py --setup` first")
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "numpy.npy", Path(tmp) / "numba.npy"
        t_numpy = numpy_side(a)
        t_parts = state_inputs(Path(tmp) / "state.npz")
        run = [str(VENV / "bin" / "python"), __file__, "--numba-side", str(b)]
        lines = subprocess.run(run, check=True, capture_output=True, text=True).stdout.split("\n")
        t_numba = float(lines[0])
        t_parts_numba, parts_same = float(lines[1].split()[0]), lines[1].split()[1] == "True"
        x, y = np.load(a), np.load(b)
        same = x.shape == y.shape and np.array_equal(x, y)
    print(
        f"tallies of a {SIDE}² tile, {LAYERS} layers: group_sums {t_numpy * 1000:.0f} ms, one "
        f"compiled pass {t_numba * 1000:.0f} ms ({t_numpy / t_numba:.1f}x); bit for bit: {same}"
    )
    print(
        f"pool_parts of a {SIDE}² state: NumPy {t_parts * 1000:.0f} ms, one compiled pass "
        f"{t_parts_numba * 1000:.0f} ms ({t_parts / t_parts_numba:.1f}x); bit for bit: {parts_same}"
    )


if __name__ == "__main__":
    main()
