"""Could the COGs' overviews be built from the chunks in memory and stay GDAL's bytes?

Two questions, on a synthetic float32 layer with NaN holes (and a uint8 layer for ``mode``):

1. Are GDAL's overview levels 2, 3, 4 built from level 1 the same as those it builds from the full
   resolution? (Then only level 1 would need the full-resolution data.)
2. Is level 1 a NumPy NaN-aware mean of 2 × 2 blocks (summed in float64, rounded to float32)?
   Asked for an even size (every block whole) and an odd one (the grids of real AOIs).

    .venv/bin/python bench/overview_levels.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin


def _levels(path: Path, n: int) -> list[np.ndarray]:
    out = []
    for k in range(n):
        with rasterio.open(path, OVERVIEW_LEVEL=k) as ds:
            out.append(ds.read(1))
    return out


def _same(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels that differ (NaN equals NaN); -1 if the shapes differ."""
    if a.shape != b.shape:
        return -1
    same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
    return int(np.count_nonzero(~same))


def _layer(height: int, width: int, resampling: Resampling) -> np.ndarray:
    rng = np.random.default_rng(1)
    if resampling == Resampling.mode:
        a = rng.integers(1, 6, (height, width)).astype("uint8")
        a[:700, :900] = 0
        return a
    a = rng.gamma(2.0, 40.0, (height, width)).astype("float32")
    a[rng.random((height, width)) < 0.05] = np.nan
    a[:700, :900] = np.nan
    return a


def _numpy_level1(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    pad = np.pad(a.astype("float64"), ((0, h % 2), (0, w % 2)), constant_values=np.nan)
    blocks = pad.reshape(pad.shape[0] // 2, 2, pad.shape[1] // 2, 2)
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / valid.sum(axis=(1, 3))).astype("float32")


def check(tmp: Path, height: int, width: int, resampling: Resampling) -> None:
    a = _layer(height, width, resampling)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": a.dtype.name,
        "nodata": 0 if a.dtype.kind == "u" else float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "ZSTD",
        "crs": "EPSG:32649",
        "transform": from_origin(0, 0, 10, 10),
    }
    full, first = tmp / "full.tif", tmp / "level1.tif"
    with rasterio.open(full, "w", **profile) as ds:
        ds.write(a, 1)
    with rasterio.open(full, "r+") as ds:
        ds.build_overviews([2, 4, 8, 16], resampling)
    from_full = _levels(full, 4)
    h1, w1 = from_full[0].shape
    with rasterio.open(first, "w", **(profile | {"width": w1, "height": h1})) as ds:
        ds.write(from_full[0], 1)
    with rasterio.open(first, "r+") as ds:
        ds.build_overviews([2, 4, 8], resampling)
    from_first = _levels(first, 3)
    differ = [_same(b, f) for b, f in zip(from_first, from_full[1:], strict=True)]
    line = f"{resampling.name:7s} {height} x {width}: levels 2-4 from level 1, pixels differing {differ}"
    if resampling == Resampling.average:
        line += f"; NumPy's level 1 against GDAL's: {_same(_numpy_level1(a), from_full[0]):,} of {h1 * w1:,} differ"
    print(line, flush=True)


def main() -> None:
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), tempfile.TemporaryDirectory() as tmp:
        print(f"GDAL {rasterio.__gdal_version__}")
        for resampling in (Resampling.average, Resampling.mode):
            for height, width in ((4102, 4102), (4101, 4103)):
                check(Path(tmp), height, width, resampling)


if __name__ == "__main__":
    main()
