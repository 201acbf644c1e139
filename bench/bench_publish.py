"""Where publishing a layer's CPU goes: the staged file, its overviews, the COG copy.

``sinkmap.io.write_layers`` publishes each layer in three steps: the chunks are written into a
staged tiled GeoTIFF (ZSTD level 1), the overviews are built on it (GDAL reads the staged file
back), and GDAL's COG driver copies it, with its overviews, into the published codec (DEFLATE).
This script times the three steps, wall and CPU (``time.process_time``: all the process's
threads, GDAL's included), over every published layer of a finished run (not the internal
``steps/`` layers, which are only staged), once with the staged file as sinkmap writes it and once
uncompressed. The layers go one after the other, where ``write_layers`` publishes two at a time:
read the shares of the steps, not the sums as the writer's.

    SINKMAP_BENCH_KEEP=1 .venv/bin/python bench/bench_stages.py --sides 5120   # 26 Mpx layers
    .venv/bin/python bench/bench_publish.py bench/out/side5120/results
    .venv/bin/python bench/bench_publish.py bench/out/side5120/results --gdal-threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.windows import Window
from rio_cogeo.utils import get_maximum_overview_level

from sinkmap.io import _GDAL_ENV, _NOT_COG_OPTIONS, _TEMP_OPTIONS, cog_profile

#: The grid's chunk: the stages write their staged files in windows of this many pixels a side.
CHUNK = 2048
STAGES = {"ZSTD 1 (sinkmap)": _TEMP_OPTIONS, "uncompressed": {"compress": "NONE"}}


def _clock() -> np.ndarray:
    """(wall, CPU of all threads) now, in seconds."""
    return np.array([time.perf_counter(), time.process_time()])


def publish_seconds(
    layers: list[Path], stage: dict[str, object], scratch: Path, gdal: dict[str, str]
) -> tuple[dict[str, np.ndarray], float]:
    """(wall s, CPU s) of each step, summed over ``layers``, as ``sinkmap.io.write_layers`` and
    ``_publish`` do them: the staged file written chunk by chunk (the reads of the published layer
    not counted), its overviews (by resampling method, the layer's ``OVERVIEW_RESAMPLING`` tag),
    the COG copy; and the staged files' MB."""
    totals: dict[str, np.ndarray] = {}
    staged_mb = 0.0
    profile = cog_profile()
    block = int(profile["blockxsize"])
    staged, cog = scratch / "staged.tif", scratch / "cog.tif"

    def add(step: str, seconds: np.ndarray) -> None:
        totals[step] = totals.get(step, 0.0) + seconds

    with rasterio.Env(**(_GDAL_ENV | gdal)):
        for layer in layers:
            with rasterio.open(layer) as src:
                resampling = src.tags().get("OVERVIEW_RESAMPLING", "AVERAGE").lower()
                meta = {k: v for k, v in src.profile.items() if k not in ("compress", "interleave")}
                meta |= {"driver": "GTiff", "tiled": True, "blockxsize": block, "blockysize": block}
                t0, reading = _clock(), np.zeros(2)
                with rasterio.open(staged, "w", **meta, **stage) as dst:
                    for row in range(0, src.height, CHUNK):
                        for col in range(0, src.width, CHUNK):
                            window = Window(
                                col, row, min(CHUNK, src.width - col), min(CHUNK, src.height - row)
                            )
                            r0 = _clock()
                            data = src.read(1, window=window)
                            reading += _clock() - r0
                            dst.write(data, 1, window=window)
                add("stage", _clock() - t0 - reading)
            staged_mb += staged.stat().st_size / 1e6

            levels = get_maximum_overview_level(meta["width"], meta["height"], minsize=block)
            t0 = _clock()
            if levels:
                with rasterio.open(staged, "r+") as ds:
                    ds.build_overviews([2**k for k in range(1, levels + 1)], Resampling[resampling])
            add(f"overviews ({resampling})", _clock() - t0)

            options = {k: v for k, v in profile.items() if k not in _NOT_COG_OPTIONS}
            options |= {
                "blocksize": block,
                "overview_resampling": resampling,
                "warp_resampling": "nearest",
            }
            if not levels:
                options["overviews"] = "NONE"
            t0 = _clock()
            rasterio.shutil.copy(str(staged), str(cog), driver="COG", **options)
            add("COG copy", _clock() - t0)
    return totals, staged_mb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="a run's results folder")
    parser.add_argument(
        "--gdal-threads",
        help="GDAL_NUM_THREADS instead of sinkmap's (sinkmap.io._GDAL_ENV: ALL_CPUS), e.g. 1",
    )
    args = parser.parse_args()
    gdal = {"GDAL_NUM_THREADS": args.gdal_threads} if args.gdal_threads else {}
    layers = sorted(p for p in args.results.rglob("*.tif") if "steps" not in p.parts)
    print(f"{len(layers)} published layers under {args.results}")
    with tempfile.TemporaryDirectory(dir=args.results.parent) as tmp:
        for name, stage in STAGES.items():
            totals, size = publish_seconds(layers, stage, Path(tmp), gdal)
            cpu = sum(c for _, c in totals.values())
            parts = ", ".join(f"{s} {w:.1f} s / {c:.1f} CPU s" for s, (w, c) in totals.items())
            parts += f"; the staged files {size:,.0f} MB"
            print(f"staged {name:17s}: {parts}; {cpu:.1f} CPU s in all", flush=True)


if __name__ == "__main__":
    main()
