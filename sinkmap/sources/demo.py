"""The demo adapter: writes the synthetic Baoting landscape in the form of the real products.

Files carry the real product's name, tile, CRS, pixel lattice, data type and nodata, cropped to the
AOI's bounding box (plus a margin) on the product's own lattice, so the align step reads them exactly
as it will read real downloads. Every file is tagged ``SINKMAP_SYNTHETIC=yes``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from sinkmap import landscape
from sinkmap.errors import SourceError
from sinkmap.files import atomic_path
from sinkmap.legends import WORLDCOVER_COLORMAP
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile, file_record
from sinkmap.sources.tiles import tile_boxes

_MARGIN = 8  # product pixels around the AOI box
_STRIP = 512  # rows generated and written at a time


class DemoAdapter:
    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        if dataset.generator not in ("land_cover", "biomass"):
            raise SourceError(
                f"demo dataset {dataset.name} has unknown generator {dataset.generator!r}"
            )
        ver = dataset.version_for(year, version)
        folder.mkdir(parents=True, exist_ok=True)
        records: list[RawFile] = []
        for tile, box in tile_boxes(dataset.tile_scheme, bounds):
            crop = _crop(box, bounds, dataset.pixel_size)
            if crop is None:
                continue
            for layer, pattern in dataset.files.items():
                path = folder / pattern.format(year=year, version=ver, tile=tile)
                _write(dataset, layer, year, crop, path)
                records.append(
                    file_record(layer, path, folder, url=f"synthetic://{dataset.name}/{path.name}")
                )
        return Manifest(dataset.name, ver, year, "demo", True, tuple(records), folder)


def _crop(box: Bounds, bounds: Bounds, px: float) -> tuple[Affine, int, int] | None:
    """Transform and size of the AOI box (plus margin) on the lattice of the tile ``box``."""
    west, south, east, north = box
    minx, miny = max(bounds[0], west), max(bounds[1], south)
    maxx, maxy = min(bounds[2], east), min(bounds[3], north)
    if minx >= maxx or miny >= maxy:
        return None
    total = int(round((east - west) / px))
    c0 = max(math.floor((minx - west) / px) - _MARGIN, 0)
    c1 = min(math.ceil((maxx - west) / px) + _MARGIN, total)
    r0 = max(math.floor((north - maxy) / px) - _MARGIN, 0)
    r1 = min(math.ceil((north - miny) / px) + _MARGIN, total)
    transform = Affine(px, 0.0, west + c0 * px, 0.0, -px, north - r0 * px)
    return transform, c1 - c0, r1 - r0


def _write(
    dataset: Dataset, layer: str, year: int, crop: tuple[Affine, int, int], path: Path
) -> None:
    transform, width, height = crop
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": dataset.dtype,
        "nodata": dataset.nodata,
        "crs": dataset.crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "DEFLATE",
    }
    lon = transform.c + (np.arange(width) + 0.5) * transform.a
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        if dataset.generator == "land_cover":
            dst.write_colormap(1, WORLDCOVER_COLORMAP)
        for r0 in range(0, height, _STRIP):
            rows = min(_STRIP, height - r0)
            lat = transform.f + (r0 + np.arange(rows) + 0.5) * transform.e
            if dataset.generator == "land_cover":
                data, _ = landscape.landscape(lon, lat, year)
            else:
                agb, sd = landscape.biomass(lon, lat, year)
                data = np.rint(agb if layer == "agb" else sd)
            dst.write(data.astype(dataset.dtype), 1, window=((r0, r0 + rows), (0, width)))
        dst.update_tags(
            SINKMAP_SYNTHETIC="yes",
            DESCRIPTION=dataset.title,
            YEAR=str(year),
            UNITS=dataset.units,
        )
