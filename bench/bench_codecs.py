"""GeoTIFF codecs for the published COGs: write time, size, and which readers open them.

For each layer of a finished run (default: the demo's ``results/``, from ``make run``) and each
codec setting, the step sinkmap takes to publish a layer — ``sinkmap.io``'s: the overviews
built on the staged file, then GDAL's COG driver (before 3 December 2026,
``rio_cogeo.cog_translate``) — is timed (median of ``--repeat``
runs, each in this process, the staged file in the page cache), the file size recorded, and the
result read back by rasterio (its bundled GDAL) and by the system's GDAL (``/usr/bin/python3``
with ``osgeo``, the GDAL QGIS uses on Debian), each compared pixel for pixel with the source.
Besides codecs, the settings vary the COG's internal tile size (256, 512: sinkmap's, 1024), and
each file is also timed as a reader uses it: 200 windows of 256 × 256 pixels at full resolution.

    .venv/bin/python bench/bench_codecs.py                    # the demo's results/
    .venv/bin/python bench/bench_codecs.py --results path/to/results --repeat 5
    .venv/bin/python bench/bench_codecs.py --settings "DEFLATE 6 (sinkmap 0.4)" "DEFLATE 6, 256 blocks"

Figures go to ``bench/out/codecs/bench_codecs.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "codecs"

#: The layers compared: a float stock, a float flux (signed, mostly small), the uint8 land cover
#: (palette) and an integer state layer.
LAYERS = (
    "{last}/carbon_stock_total.tif",
    "sink/{interval}/net_flux_co2e.tif",
    "{last}/land_cover.tif",
    "{last}/state_age.tif",
)

#: Codec settings: name -> GDAL creation options added to sinkmap's COG profile. PREDICTOR 2 is
#: horizontal differencing (integers), 3 the floating-point predictor; each layer gets the one
#: that suits its type.
SETTINGS: dict[str, dict[str, Any]] = {
    "DEFLATE 6 (sinkmap 0.4)": {"compress": "DEFLATE"},
    "DEFLATE 1": {"compress": "DEFLATE", "level": 1},
    "DEFLATE 6 + predictor": {"compress": "DEFLATE", "predictor": "auto"},
    "ZSTD 1": {"compress": "ZSTD", "level": 1},
    "ZSTD 9": {"compress": "ZSTD", "level": 9},
    "ZSTD 1 + predictor": {"compress": "ZSTD", "level": 1, "predictor": "auto"},
    "LERC_ZSTD (lossless)": {"compress": "LERC_ZSTD", "max_z_error": 0},
    # the COG's internal tile size (sinkmap's is 512, the COG driver's default): what it costs to
    # write, its size, and what a reader pays for a map view's worth of small windows
    "DEFLATE 6, 256 blocks": {"compress": "DEFLATE", "blockxsize": 256, "blockysize": 256},
    "DEFLATE 6, 1024 blocks": {"compress": "DEFLATE", "blockxsize": 1024, "blockysize": 1024},
}
#: Windows a reader takes per layer (:func:`_read_windows`): 256 × 256 pixels at fixed random
#: places, as a map canvas or a tile server reads a COG at full resolution.
READ_WINDOWS = 200
#: GDAL's COG driver (rio-cogeo's ``use_cog_driver``) takes the codec level as ``LEVEL``.

SYSTEM_GDAL_READ = """
import sys, hashlib
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
a = ds.GetRasterBand(1).ReadAsArray()
print(gdal.__version__, hashlib.sha256(a.tobytes()).hexdigest())
"""


def _profile(setting: dict[str, Any], dtype: str) -> dict[str, Any]:
    from sinkmap.io import COG_PROFILE

    profile = dict(COG_PROFILE) | setting
    if profile.get("predictor") == "auto":
        profile["predictor"] = 3 if np.dtype(dtype).kind == "f" else 2
    return profile


def _publish(
    staged: Path, dst: Path, profile: dict[str, Any], dtype: str, nodata: Any, resampling: str
) -> float:
    """Time the publishing step as ``sinkmap.io`` runs it (its ``_publish``: the overviews built
    on the staged file, then GDAL's COG driver), on a fresh copy of the staged file (the copy is
    not timed), with ``profile``'s codec."""
    from sinkmap.io import LayerSpec
    from sinkmap.io import _publish as publish

    work = staged.with_name("work.tif")
    shutil.copy(staged, work)
    # the step reads the staged file, not the layer's data
    spec = LayerSpec(None, dtype, nodata, overview_resampling=resampling)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    publish(work, dst, spec, cog=True, profile=profile)
    return time.perf_counter() - t0


def _read_windows(path: Path, seed: int = 7) -> float:
    """Seconds to read :data:`READ_WINDOWS` windows of 256 × 256 pixels at full resolution, each
    through a fresh dataset (no block cache shared between them), at the same places each time."""
    from rasterio.windows import Window

    with rasterio.open(path) as ds:
        height, width = ds.height, ds.width
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, max(height - 256, 1), READ_WINDOWS)
    cols = rng.integers(0, max(width - 256, 1), READ_WINDOWS)
    t0 = time.perf_counter()
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        with rasterio.open(path) as ds:
            ds.read(1, window=Window(c, r, 256, 256))
    return time.perf_counter() - t0


def _system_gdal(path: Path) -> tuple[str, str] | None:
    """(GDAL version, sha256 of band 1) as the system's GDAL reads ``path``; None without it."""
    if not Path("/usr/bin/python3").exists():
        return None
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", SYSTEM_GDAL_READ, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return ("error", proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    version, digest = proc.stdout.split()
    return version, digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=REPO / "results")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--settings",
        nargs="+",
        choices=sorted(SETTINGS),
        metavar="NAME",
        help=f"only these settings (the first is the base of the ratios); of {sorted(SETTINGS)}",
    )
    args = ap.parse_args()
    settings = {k: SETTINGS[k] for k in args.settings} if args.settings else SETTINGS
    years = sorted(int(p.name) for p in args.results.iterdir() if p.name.isdigit())
    intervals = sorted(p.name for p in (args.results / "sink").iterdir())
    names = [
        lay.format(last=years[-1], interval=intervals[-1])
        for lay in LAYERS
        if (args.results / lay.format(last=years[-1], interval=intervals[-1])).exists()
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    import hashlib

    rows = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmpdir:
        tmp = Path(tmpdir)
        for name in names:
            src = args.results / name
            with rasterio.open(src) as ds:
                data = ds.read(1)
                dtype, nodata, mpx = ds.dtypes[0], ds.nodata, ds.width * ds.height / 1e6
                is_palette = ds.colorinterp[0].name == "palette"
            # the staged file sinkmap publishes from (sinkmap.io._TEMP_OPTIONS, no overviews)
            staged = tmp / "staged.tif"
            rasterio.shutil.copy(
                src,
                staged,
                driver="GTiff",
                tiled=True,
                blockxsize=512,
                blockysize=512,
                compress="ZSTD",
                zstd_level=1,
            )
            want = hashlib.sha256(data.tobytes()).hexdigest()
            resampling = "mode" if is_palette or np.dtype(dtype).kind != "f" else "average"
            for label, setting in settings.items():
                profile = _profile(setting, dtype)
                dst = tmp / "out.tif"
                times = []
                for _ in range(args.repeat):
                    dst.unlink(missing_ok=True)
                    times.append(_publish(staged, dst, profile, dtype, nodata, resampling))
                with rasterio.open(dst) as ds:
                    same = np.array_equal(ds.read(1), data, equal_nan=True)
                read_s = statistics.median(_read_windows(dst) for _ in range(args.repeat))
                system = _system_gdal(dst)
                rows.append(
                    {
                        "layer": name,
                        "dtype": dtype,
                        "mpx": round(mpx, 2),
                        "setting": label,
                        "options": profile,
                        "seconds": round(statistics.median(times), 3),
                        "mb": round(dst.stat().st_size / 1e6, 2),
                        "read_windows_s": round(read_s, 3),
                        "rasterio_equal": bool(same),
                        "system_gdal": system[0] if system else None,
                        "system_gdal_equal": bool(system and system[1] == want),
                    }
                )
                r = rows[-1]
                print(
                    f"{name:36s} {label:26s} {r['seconds']:7.2f} s {r['mb']:8.2f} MB "
                    f"read {READ_WINDOWS} windows {r['read_windows_s']:6.3f} s  "
                    f"rasterio {'ok' if r['rasterio_equal'] else 'DIFFERS'}  "
                    f"GDAL {r['system_gdal']} {'ok' if r['system_gdal_equal'] else 'FAILS'}",
                    flush=True,
                )
    (OUT / "bench_codecs.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\nper setting, all layers:")
    base = None
    for label in settings:
        sel = [r for r in rows if r["setting"] == label]
        secs, mb = sum(r["seconds"] for r in sel), sum(r["mb"] for r in sel)
        read = sum(r["read_windows_s"] for r in sel)
        base = base or (secs, mb, read)
        print(
            f"  {label:26s} {secs:7.2f} s ({secs / base[0]:.2f}x)  {mb:8.2f} MB ({mb / base[1]:.2f}x)"
            f"  reads {read:6.3f} s ({read / base[2]:.2f}x)"
        )


if __name__ == "__main__":
    main()
