"""Compare `sinkmap change` (sinkmap.invest) with InVEST Carbon 3.20 on the same rasters and table.

    python bench/bench_invest.py --setup      # once: build bench/.venv-invest with natcap.invest
    python bench/bench_invest.py              # compare and time, both in this run

InVEST needs the GDAL Python bindings, built against the system GDAL, so it lives in a venv of its
own (``bench/.venv-invest``, git-ignored) and runs there in a subprocess through its Python API
(``natcap.invest.carbon.execute``). ``--setup`` builds that venv; it needs the GDAL headers first
(Debian/Ubuntu: ``apt-get install -y libgdal-dev``), see bench/README.md.

Inputs: the demo land cover of two years (``results/2020/land_cover.tif`` as baseline,
``results/2024/land_cover.tif`` as alternate; EPSG:32649, 4718 x 4930 px, made by ``make run``) or,
if absent, two synthetic years of the same size from ``sinkmap.landscape``; the pool table
``config/pools/worldcover_ipcc_tier1.csv``. Each tool runs in a fresh process after both inputs
were read once (warm page cache), and only its own call is timed:

- sinkmap: ``sinkmap.invest.change`` — 11 float32 tiled GeoTIFFs (DEFLATE, no overviews, as InVEST writes; `--cog` in the CLI adds the COG layout) + per-code counts;
- InVEST: ``natcap.invest.carbon.execute`` with ``calc_sequestration`` — 11 float32 GeoTIFFs and
  its summary table; its workspace is deleted first so taskgraph cannot skip work.

Totals compared (Mg C): the three of InVEST's ``raster_values_summary.csv`` (storage baseline and
alternate, change), and per pool and scenario the sums of InVEST's intermediate rasters computed by
InVEST's own summary function. Then every output raster is compared pixel by pixel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "invest"
VENV = REPO / "bench" / ".venv-invest"
POOLS_CSV = REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv"
DEMO = (REPO / "results" / "2020" / "land_cover.tif", REPO / "results" / "2024" / "land_cover.tif")
INVEST_SPEC = "natcap.invest==3.20.*"
#: pygeoprocessing (an sdist on Linux) does not compile with Cython >= 3.1.
BUILD_DEPS = [
    "cython>=3.0,<3.1",
    "setuptools>=77",  # PEP 639 license strings in pygeoprocessing's pyproject.toml
    "wheel",
    "setuptools_scm>=8",
    "babel",
    "numpy>=2",
]
POOLS = ("above", "below", "soil", "dead")
RASTERS = [
    "c_storage_bas.tif",
    "c_storage_alt.tif",
    "c_change_bas_alt.tif",
    *[f"intermediate_outputs/c_{p}_{s}.tif" for s in ("bas", "alt") for p in POOLS],
]

# Runs in bench/.venv-invest: InVEST's execute(), timed, then InVEST's own summary function on the
# per-pool intermediate rasters. Prints one JSON line. Without "alt": the baseline's storage only
# (bench_invest_stock.py).
INVEST_CHILD = r"""
import csv, json, os, shutil, sys, time
a = json.loads(sys.argv[1])
import natcap.invest
from natcap.invest.carbon import carbon
shutil.rmtree(a["workspace"], ignore_errors=True)
args = {
    "workspace_dir": a["workspace"], "results_suffix": "", "n_workers": a["n_workers"],
    "lulc_bas_path": a["bas"], "calc_sequestration": bool(a.get("alt")),
    "carbon_pools_path": a["pools"], "do_valuation": False,
}
if a.get("alt"):
    args["lulc_alt_path"] = a["alt"]
t0 = time.perf_counter()
carbon.execute(args)
seconds = time.perf_counter() - t0
totals = {}
with open(os.path.join(a["workspace"], "raster_values_summary.csv"), newline="") as f:
    for row in csv.DictReader(f):
        totals[row["Filename"]] = float(row["Total"])
inter = os.path.join(a["workspace"], "intermediate_outputs")
rasters = [(os.path.join(inter, f"c_{p}_{s}.tif"), f"c_{p}_{s}", "Mg C")
           for s in (("bas", "alt") if a.get("alt") else ("bas",))
           for p in ("above", "below", "soil", "dead")]
pool_csv = os.path.join(a["workspace"], "pool_totals.csv")
carbon._generate_summary_results_table(rasters, pool_csv)
with open(pool_csv, newline="") as f:
    for row in csv.DictReader(f):
        totals[row["Filename"]] = float(row["Total"])
print(json.dumps({"seconds": seconds, "totals": totals, "version": natcap.invest.__version__}))
"""


# -- setup ------------------------------------------------------------------------------------------
def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def setup() -> None:
    """Build bench/.venv-invest: GDAL bindings matching the system GDAL, then natcap.invest."""
    gdal_config = shutil.which("gdal-config")
    if gdal_config is None:
        sys.exit(
            "gdal-config not found: install the GDAL headers first, e.g.\n"
            "    apt-get update && apt-get install -y libgdal-dev\n"
            "then run this again."
        )
    gdal = subprocess.run([gdal_config, "--version"], capture_output=True, text=True, check=True)
    gdal_version = gdal.stdout.strip()
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--clear", str(VENV)])
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install"]
    # natcap.invest's build calls pybabel from the venv's bin
    env = os.environ | {"PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run([*pip, "--upgrade", "pip"], env)
    _run([*pip, *BUILD_DEPS], env)
    # No build isolation: a constraint on Cython would not reach the nested build environments.
    _run([*pip, "--no-build-isolation", f"GDAL=={gdal_version}"], env)
    # natcap.invest's build imports pygeoprocessing: installed first, on its own
    _run([*pip, "--no-build-isolation", "pygeoprocessing"], env)
    _run([*pip, "--no-build-isolation", INVEST_SPEC], env)
    _run(
        [
            str(VENV / "bin" / "python"),
            "-c",
            "import natcap.invest, osgeo; print('natcap.invest', natcap.invest.__version__, "
            "'GDAL', osgeo.__version__)",
        ]
    )


# -- inputs -----------------------------------------------------------------------------------------
def _synthetic(path: Path, year: int, width: int = 4718, height: int = 4930) -> None:
    from sinkmap.grid import Grid
    from sinkmap.landscape import write_landcover

    write_landcover(
        path, Grid("EPSG:32649", 10.0, 331_260.0, 2_083_130.0, width=width, height=height), year
    )


def _inputs(args: argparse.Namespace) -> tuple[Path, Path, str]:
    if args.bas and args.alt:
        return Path(args.bas), Path(args.alt), "given"
    if all(p.exists() for p in DEMO):
        return DEMO[0], DEMO[1], "demo land cover (results/2020, results/2024)"
    OUT.mkdir(parents=True, exist_ok=True)
    paths = (OUT / "lc_2020.tif", OUT / "lc_2021.tif")
    for path, year in zip(paths, (2020, 2021), strict=True):
        if not path.exists():
            _synthetic(path, year)
    return paths[0], paths[1], "synthetic (sinkmap.landscape), 4718 x 4930"


# -- runs -------------------------------------------------------------------------------------------
def _sinkmap_child(bas: str, alt: str, out: str, threads: int, chunk: int) -> None:
    from sinkmap.invest import change

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = change(bas, alt, POOLS_CSV, out, threads=threads, chunk=chunk)
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "lookup_s": _lookup_only(bas, alt, threads, chunk),
                "summary": summary,
            }
        )
    )


def _lookup_only(bas: str, alt: str, threads: int, chunk: int) -> float:
    """Seconds of the same per-tile work as ``change`` (read, lookups, counts, every layer's
    block made) on as many threads, without writing any raster."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from sinkmap.carbon import PoolTable
    from sinkmap.invest import _change_plan, _Lookup, open_lulc

    lookup = _Lookup.from_table(PoolTable.from_csv(POOLS_CSV))
    t0 = time.perf_counter()
    lulc_bas, lulc_alt = open_lulc(bas, chunk=chunk), open_lulc(alt, chunk=chunk)
    _, blocks = _change_plan(lulc_bas, lulc_alt, lookup, Path("unused"), POOLS_CSV)

    def tile_work(tile: object) -> object:
        made, counts = blocks(tile)  # type: ignore[arg-type]
        deque(made, maxlen=0)  # each block made, then dropped
        return counts

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(tile_work, lulc_bas.grid.tiles()))
    return time.perf_counter() - t0


def _warm(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def _last_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare_pixels(ours: Path, theirs: Path) -> dict[str, float | int]:
    """Max |difference| over pixels valid in both, and pixels whose validity differs."""
    import rasterio

    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        x, y = a.read(1), b.read(1)
        y_valid = y != b.nodata
    x_valid = np.isfinite(x)
    both = x_valid & y_valid
    diff = np.abs(x[both].astype(np.float64) - y[both].astype(np.float64))
    return {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mask_mismatch": int((x_valid != y_valid).sum()),
    }


def invest_python() -> Path:
    """The Python of ``bench/.venv-invest``; exits with what to run when it is not built."""
    python = VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"{VENV} does not exist: run `python bench/bench_invest.py --setup` first")
    return python


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setup", action="store_true", help="build bench/.venv-invest and exit")
    parser.add_argument("--bas", help="baseline LULC (default: demo 2020 or synthetic)")
    parser.add_argument("--alt", help="alternate LULC (default: demo 2024 or synthetic)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument(
        "--invest-workers",
        type=int,
        default=-1,
        help="InVEST n_workers (default -1: InVEST's default, synchronous in one process)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each tool, alternating; the fastest counts"
    )
    parser.add_argument("--sinkmap-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup()
        return
    if args.sinkmap_child:
        _sinkmap_child(*args.sinkmap_child, threads=args.threads, chunk=args.chunk)
        return
    python = invest_python()

    bas, alt, what = _inputs(args)
    ours, theirs = OUT / "sinkmap", OUT / "invest"
    _warm([bas, alt])
    child_args = {
        "workspace": str(theirs),
        "bas": str(bas),
        "alt": str(alt),
        "pools": str(POOLS_CSV),
        "n_workers": args.invest_workers,
    }
    runs_mine, runs_inv = [], []
    for _ in range(args.repeat):  # alternate the two tools; keep the fastest run of each
        runs_mine.append(
            _last_json(
                [sys.executable, __file__, "--sinkmap-child", str(bas), str(alt), str(ours)]
                + ["--threads", str(args.threads), "--chunk", str(args.chunk)]
            )
        )
        runs_inv.append(_last_json([str(python), "-c", INVEST_CHILD, json.dumps(child_args)]))
    mine = min(runs_mine, key=lambda r: r["seconds"])
    mine["lookup_s"] = min(r["lookup_s"] for r in runs_mine)
    inv = min(runs_inv, key=lambda r: r["seconds"])

    s = mine["summary"]
    pairs = {
        "c_storage_bas.tif": s["baseline"]["totals_mg_c"]["total"],
        "c_storage_alt.tif": s["alternate"]["totals_mg_c"]["total"],
        "c_change_bas_alt.tif": s["change"]["totals_mg_c"]["total"],
    }
    for scen, key in (("bas", "baseline"), ("alt", "alternate")):
        for pool in POOLS:
            pairs[f"c_{pool}_{scen}.tif"] = s[key]["totals_mg_c"][pool]
    rows = []
    for name, value in pairs.items():
        ref = inv["totals"][name]
        rel = abs(value - ref) / abs(ref) if ref else abs(value - ref)
        rows.append((name, value, ref, rel))
    pixels = {name: _compare_pixels(ours / name, theirs / name) for name in RASTERS}

    if args.repeat > 1:
        print(
            "runs (s): sinkmap "
            + ", ".join(f"{r['seconds']:.1f}" for r in runs_mine)
            + " | InVEST "
            + ", ".join(f"{r['seconds']:.1f}" for r in runs_inv)
        )
    print(f"inputs: {what}\n  {bas}\n  {alt}\npools: {POOLS_CSV.relative_to(REPO)}")
    print(f"{'raster':22s} {'sinkmap (Mg C)':>22s} {'InVEST (Mg C)':>22s} {'rel diff':>9s}")
    for name, value, ref, rel in rows:
        print(f"{name:22s} {value:22.6f} {ref:22.6f} {rel:9.1e}")
    max_rel = max(r[3] for r in rows)
    max_px = max(p["max_abs_diff"] for p in pixels.values())
    mask = sum(p["mask_mismatch"] for p in pixels.values())
    print(f"max relative difference of the totals: {max_rel:.1e}")
    print(
        f"pixels, {len(RASTERS)} rasters: max |difference| {max_px:g} Mg C/ha, "
        f"{mask} pixels valid in one output only"
    )
    ratio = inv["seconds"] / mine["seconds"]
    print(
        f"time: sinkmap {mine['seconds']:.1f} s ({args.threads} threads, 11 GeoTIFFs) | "
        f"InVEST {inv['version']} {inv['seconds']:.1f} s (n_workers {args.invest_workers}, "
        f"11 GeoTIFFs) | InVEST / sinkmap = {ratio:.2f}"
    )
    print(
        f"      sinkmap without writing rasters (read, lookups, counts, the 11 layers' blocks made): "
        f"{mine['lookup_s']:.1f} s | InVEST / that = {inv['seconds'] / mine['lookup_s']:.1f}"
    )
    record = {
        "inputs": [str(bas), str(alt)],
        "sinkmap_s": mine["seconds"],
        "sinkmap_lookup_only_s": mine["lookup_s"],
        "invest_s": inv["seconds"],
        "invest_version": inv["version"],
        "ratio_invest_over_sinkmap": ratio,
        "max_rel_diff_totals": max_rel,
        "totals": {n: {"sinkmap": v, "invest": r} for n, v, r, _ in rows},
        "pixels": pixels,
        "threads": args.threads,
        "invest_workers": args.invest_workers,
        "repeat": args.repeat,
        "all_runs_s": {
            "sinkmap": [r["seconds"] for r in runs_mine],
            "invest": [r["seconds"] for r in runs_inv],
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "bench_invest.json", "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
