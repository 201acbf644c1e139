"""Where publishing a layer's CPU goes: the staged file, its overviews, the COG copy.

``sinkmap.io.write_layers`` publishes each layer in three steps: the chunks are written into a
staged tiled GeoTIFF (ZSTD level 1), the overviews are built on it (GDAL reads the staged file
back), and GDAL's COG driver copies it, with its overviews, into the published codec (DEFLATE).
This script times the three steps, wall and CPU (``time.process_time``: all the process's
threads, GDAL's included), over every published layer of a finished run (not the internal
``steps/`` layers, which are only staged), once with the staged file as sinkmap writes it and once
uncompressed. The layers go one after the other, each whole, where ``write_layers`` publishes two
at a time from chunks: read the shares of the steps, not the sums as the writer's.

    SINKMAP_BENCH_KEEP=1 .venv/bin/python bench/bench_stages.py --sides 5120   # 26 Mpx layers
    .venv/bin/python bench/bench_publish.py bench/out/side5120/results
    .venv/bin/python bench/bench_publish.py bench/out/side5120/results --gdal-threads 1

Each layer is read whole into memory first (not timed): run it on layers that fit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rio_cogeo.utils import get_maximum_overview_level

from sinkmap.io import _GDAL_ENV, _NOT_COG_OPTIONS, _TEMP_OPTIONS, cog_profile

STAGES = {"ZSTD 1 (sinkmap)": _TEMP_OPTIONS, "uncompressed": {"compress": "NONE"}}


def publish_seconds(
    layers: list[Path], stage: dict[str, object], scratch: Path, gdal: dict[str, str]
) -> dict:
    """(wall s, CPU s) of each step, summed over ``layers``, as ``sinkmap.io._publish`` does them;
    the overviews by resampling method (the layer's ``OVERVIEW_RESAMPLING`` tag)."""
    totals: dict[str, list[float]] = {}
    profile = cog_profile()
    block = int(profile["blockxsize"])

    def timed(step: str, fn) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        total = totals.setdefault(step, [0.0, 0.0])
        total[0] += time.perf_counter() - w0
        total[1] += time.process_time() - c0

    with rasterio.Env(**(_GDAL_ENV | gdal)):
        for layer in layers:
            with rasterio.open(layer) as src:
                data, meta = src.read(1), src.profile
                resampling = src.tags().get("OVERVIEW_RESAMPLING", "AVERAGE").lower()
            meta = {k: v for k, v in meta.items() if k not in ("compress", "interleave")}
            meta |= {"driver": "GTiff", "tiled": True, "blockxsize": block, "blockysize": block}
            staged, cog = scratch / "staged.tif", scratch / "cog.tif"

            def write(meta=meta, data=data, staged=staged) -> None:
                with rasterio.open(staged, "w", **meta, **stage) as ds:
                    ds.write(data, 1)

            levels = get_maximum_overview_level(meta["width"], meta["height"], minsize=block)

            def overviews(staged=staged, resampling=resampling, levels=levels) -> None:
                if levels:
                    with rasterio.open(staged, "r+") as ds:
                        ds.build_overviews(
                            [2**k for k in range(1, levels + 1)], Resampling[resampling]
                        )

            def copy(staged=staged, cog=cog, resampling=resampling, levels=levels) -> None:
                options = {k: v for k, v in profile.items() if k not in _NOT_COG_OPTIONS}
                options |= {
                    "blocksize": block,
                    "overview_resampling": resampling,
                    "warp_resampling": "nearest",
                }
                if not levels:
                    options["overviews"] = "NONE"
                rasterio.shutil.copy(str(staged), str(cog), driver="COG", **options)

            timed("stage", write)
            totals.setdefault("staged MB", [0.0, 0.0])[0] += staged.stat().st_size / 1e6
            timed(f"overviews ({resampling})", overviews)
            timed("COG copy", copy)
    return totals


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
            totals = publish_seconds(layers, stage, Path(tmp), gdal)
            size = totals.pop("staged MB")[0]
            cpu = sum(c for _, c in totals.values())
            parts = ", ".join(f"{s} {w:.1f} s / {c:.1f} CPU s" for s, (w, c) in totals.items())
            parts += f"; the staged files {size:,.0f} MB"
            print(f"staged {name:17s}: {parts}; {cpu:.1f} CPU s in all", flush=True)


if __name__ == "__main__":
    main()
