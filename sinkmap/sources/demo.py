"""The demo adapter: writes the synthetic Baoting landscape in the form of the real products.

Files carry the real product's name, tile, CRS, pixel lattice, data type and nodata, cropped to the
AOI's bounding box (plus a margin) on the product's own lattice, so the align step reads them exactly
as it will read real downloads. Every file is tagged ``SINKMAP_SYNTHETIC=yes``.

The dataset's ``generator:`` says what is written (functions of :mod:`sinkmap.landscape`):

- ``land_cover``: WorldCover classes (:func:`~sinkmap.landscape.landscape`), with the colour table;
- ``biomass``: above-ground biomass and its SD in Mg/ha, rounded (layers ``agb`` and ``sd``);
- ``forest_type``: Forest Management Layer codes (:func:`~sinkmap.landscape.forest_type`);
- ``planting_year``: calendar year of the last planting, 0 off plantations
  (:func:`~sinkmap.landscape.planting_year`);
- ``ecozone``: FAO GEZ 2010 codes (:func:`~sinkmap.landscape.ecozone`; the same every year).

A product published as one global file (``tile_scheme: null``) is cropped from a global lattice whose
corner is (180 W, 90 N).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from sinkmap import landscape
from sinkmap.errors import SourceError
from sinkmap.files import atomic_path
from sinkmap.legends import WORLDCOVER_COLORMAP
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile, file_record
from sinkmap.sources.http import PlannedFile
from sinkmap.sources.tiles import tile_boxes

log = logging.getLogger("sinkmap")

_MARGIN = 8  # product pixels around the AOI box
#: Rows generated and written at a time: the landscape holds about 130 bytes of temporaries per
#: pixel of a strip, so a 36,000-px-wide tile (the island's WorldCover) peaks at 1.3 GB with 256
#: rows against 2.5 GB with 512, no slower and with the same file bytes
#: (bench/README.md, "bench_hainan.py").
_STRIP = 256
GENERATORS = ("land_cover", "biomass", "forest_type", "planting_year", "ecozone")
#: The lattice of products published as one global file: (west, south, east, north).
_GLOBAL: Bounds = (-180.0, -90.0, 180.0, 90.0)


class DemoAdapter:
    def plan(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> list[PlannedFile]:
        """The files ``fetch`` would write (as ``sinkmap fetch --dry-run`` lists them)."""
        _check_generator(dataset)
        return [
            PlannedFile(layer, tile, path, _url(dataset, path))
            for layer, tile, path, _ in _files(dataset, year, bounds, Path(folder), version)
        ]

    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        _check_generator(dataset)
        warning = outside_hainan(bounds)
        if warning:
            log.warning("%s: %s", dataset.name, warning)
        ver = dataset.version_for(year, version)
        folder.mkdir(parents=True, exist_ok=True)
        records: list[RawFile] = []
        for layer, _, path, crop in _files(dataset, year, bounds, folder, version):
            _write(dataset, layer, year, crop, path)
            records.append(file_record(layer, path, folder, url=_url(dataset, path)))
        return Manifest(dataset.name, ver, year, "demo", True, tuple(records), folder)


#: Hainan island's bounding box (lon/lat), with a margin: the demo landscape's model.
HAINAN = (108.3, 17.9, 111.3, 20.4)


def outside_hainan(bounds: Bounds) -> str | None:
    """A warning when an AOI (lon/lat bounds) lies outside Hainan: the demo landscape is shaped
    like Baoting's and invents tropical land cover wherever it is asked for."""
    west, south, east, north = bounds
    if west >= HAINAN[0] and south >= HAINAN[1] and east <= HAINAN[2] and north <= HAINAN[3]:
        return None
    return (
        f"the area of interest ({west:.2f}-{east:.2f} E, {south:.2f}-{north:.2f} N) is outside "
        "Hainan: the synthetic demo landscape is modelled on Baoting's tropical rainforest, "
        "plantations and farmland and invents that land cover anywhere; use real datasets "
        "(config inputs) for this AOI"
    )


def _check_generator(dataset: Dataset) -> None:
    if dataset.generator not in GENERATORS:
        raise SourceError(
            f"demo dataset {dataset.name} has unknown generator {dataset.generator!r}; use one of "
            f"{list(GENERATORS)} in the dataset registry"
        )


def _url(dataset: Dataset, path: Path) -> str:
    return f"synthetic://{dataset.name}/{path.name}?landscape={landscape.LANDSCAPE_VERSION}"


def check_landscape_version(manifest: Manifest) -> None:
    """Refuse demo inputs written by another version of the synthetic landscape (they would mix
    two landscapes in one run), naming the folder to delete."""
    if manifest.adapter != "demo":
        return
    want = f"?landscape={landscape.LANDSCAPE_VERSION}"
    if any(not (f.url or "").endswith(want) for f in manifest.files):
        raise SourceError(
            f"the demo inputs in {manifest.folder} were made by another version of the synthetic "
            f"landscape than this sinkmap's ({landscape.LANDSCAPE_VERSION}); delete "
            f"{manifest.folder.parent.parent} (or all of resources/raw/demo_*) and run again"
        )


def _files(
    dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
) -> Iterator[tuple[str, str, Path, tuple[Affine, int, int]]]:
    """(layer, tile, path, crop) of every file covering ``bounds``."""
    ver = dataset.version_for(year, version)
    if dataset.tile_scheme is None:
        boxes = [("", _GLOBAL)]
    else:
        boxes = tile_boxes(dataset.tile_scheme, bounds)
    for tile, box in boxes:
        crop = _crop(box, bounds, dataset.pixel_size)
        if crop is None:
            continue
        for layer, pattern in dataset.files.items():
            yield layer, tile, folder / pattern.format(year=year, version=ver, tile=tile), crop


def _crop(box: Bounds, bounds: Bounds, px: float) -> tuple[Affine, int, int] | None:
    """Transform and size of the AOI box (plus margin) on the lattice of the tile ``box``."""
    west, south, east, north = box
    minx, miny = max(bounds[0], west), max(bounds[1], south)
    maxx, maxy = min(bounds[2], east), min(bounds[3], north)
    if minx >= maxx or miny >= maxy:
        return None
    cols = int(round((east - west) / px))
    rows = int(round((north - south) / px))
    c0 = max(math.floor((minx - west) / px) - _MARGIN, 0)
    c1 = min(math.ceil((maxx - west) / px) + _MARGIN, cols)
    r0 = max(math.floor((north - maxy) / px) - _MARGIN, 0)
    r1 = min(math.ceil((north - miny) / px) + _MARGIN, rows)
    transform = Affine(px, 0.0, west + c0 * px, 0.0, -px, north - r0 * px)
    return transform, c1 - c0, r1 - r0


def _generate(
    dataset: Dataset, layer: str, lon: np.ndarray, lat: np.ndarray, year: int
) -> np.ndarray:
    """The values of ``layer`` at pixel centres ``lat[:, None] x lon[None, :]``."""
    generator = dataset.generator
    if generator == "land_cover":
        return landscape.landscape(lon, lat, year)[0]
    if generator == "biomass":
        agb, sd = landscape.biomass(lon, lat, year)
        return np.rint(agb if layer == "agb" else sd)
    if generator == "forest_type":
        return landscape.forest_type(lon, lat, year)
    if generator == "planting_year":
        return landscape.planting_year(lon, lat, year)
    return landscape.ecozone(lon, lat)


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
            data = _generate(dataset, layer, lon, lat, year)
            dst.write(data.astype(dataset.dtype), 1, window=((r0, r0 + rows), (0, width)))
        dst.update_tags(
            SINKMAP_SYNTHETIC="yes",
            DESCRIPTION=dataset.title,
            YEAR=str(year),
            UNITS=dataset.units,
        )
