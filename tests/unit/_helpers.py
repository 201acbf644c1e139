"""Helpers of the unit tests: repository paths and a tiny-GeoTIFF writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

#: The repository root (tests/unit/_helpers.py -> parents[2]).
ROOT = Path(__file__).resolve().parents[2]
POOL_CSV = ROOT / "config" / "pools" / "worldcover_ipcc_tier1.csv"
AOI_GPKG = ROOT / "aoi" / "baoting.gpkg"
CONFIG_YAML = ROOT / "config" / "config.yaml"
DATASETS_YAML = ROOT / "config" / "datasets.yaml"
SCHEMA_JSON = ROOT / "workflow" / "schemas" / "config.schema.json"

#: A UTM 49N corner inside Baoting county (109.7 E 18.64 N is at about x=362874, y=2061492).
UTM_LEFT, UTM_TOP = 360_000.0, 2_062_000.0


def write_tif(
    path: Path,
    array: np.ndarray,
    *,
    res: float,
    left: float,
    top: float,
    crs: str = "EPSG:32649",
    nodata: float | int | None = None,
) -> Path:
    """Write a single-band north-up GeoTIFF of ``array`` with its upper-left corner at (left, top)."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=Affine(res, 0.0, left, 0.0, -res, top),
        nodata=nodata,
    ) as dst:
        dst.write(array, 1)
    return path
