"""Provenance on every output: the tags written into layers and read back from inputs, the legend,
the synthetic flag, and the QGIS style sidecars.

Every raster a stage writes carries :func:`base_tags` (software and contract versions, the model
and its parameters, the sources of its inputs, whether any is synthetic, the AOI, the CO2/C factor)
plus its own (units, year or interval, pool, quantity). A stage that reads layers made by another
job takes their sources from their tags (:func:`read_sources`), so provenance flows from the
downloads to the account without any side table. docs/outputs.md lists every tag.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import rasterio

from sinkmap import __version__
from sinkmap.constants import CO2_PER_C
from sinkmap.contract import OUTPUT_VERSION, SYNTHETIC_NOTE
from sinkmap.crosswalk import TARGET_LEGEND
from sinkmap.publish.qgis import kind_from_tags, write_sidecar_qml
from sinkmap.sources import Dataset, Manifest

log = logging.getLogger("sinkmap")


def base_tags(
    *, model: Mapping[str, Any], aoi: str | Path, sources: list[dict[str, Any]], synthetic: bool
) -> dict[str, Any]:
    """The provenance tags of every layer: ``model`` is the model's ``describe()``."""
    tags: dict[str, Any] = {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "MODEL": model["model"],
        "MODEL_PARAMS": json.dumps(model["params"], sort_keys=True),
        "SOURCES": json.dumps(sources, sort_keys=True),
        "SYNTHETIC": "yes" if synthetic else "no",
        "AOI": str(aoi),
        "CO2_PER_C": repr(CO2_PER_C),
    }
    if synthetic:
        tags["NOTE"] = SYNTHETIC_NOTE
    return tags


def source_record(dataset: str, manifest: Manifest) -> dict[str, Any]:
    """The ``SOURCES`` entry of a fetched dataset: name, version, year and file URLs."""
    return {
        "dataset": dataset,
        "version": manifest.version,
        "year": manifest.year,
        "files": manifest.urls(),
    }


def read_sources(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], bool]:
    """Union of the ``SOURCES`` tags of upstream rasters, and whether any of them is synthetic."""
    sources: list[dict[str, Any]] = []
    synthetic = False
    for path in paths:
        with rasterio.open(path) as ds:
            tags = ds.tags()
        for rec in json.loads(tags.get("SOURCES", "[]")):
            if rec not in sources:
                sources.append(rec)
        synthetic |= tags.get("SYNTHETIC") == "yes"
    return sources, synthetic


def account_columns(
    model: Mapping[str, Any], sources: list[dict[str, Any]], synthetic: bool
) -> dict[str, str]:
    """The account's provenance columns: ``model`` (JSON of the model's name and parameters),
    ``inputs`` (JSON of the sources) and ``synthetic`` (``yes``/``no``)."""
    return {
        "model": json.dumps({"model": model["model"], "params": model["params"]}, sort_keys=True),
        "inputs": json.dumps(sources, sort_keys=True),
        "synthetic": "yes" if synthetic else "no",
    }


def land_cover_legend(dataset: Dataset) -> str | None:
    """Legend of the aligned land cover: the crosswalk's target when the product has one."""
    return TARGET_LEGEND if dataset.crosswalk else dataset.legend


def is_synthetic(datasets: Iterable[Dataset]) -> bool:
    """Whether any of the datasets a run reads is synthetic demo data."""
    return any(d.synthetic for d in datasets)


def style_rasters(paths: Iterable[Path]) -> None:
    """A same-named .qml next to each raster: QGIS opens it with that style (ramp, palette, units)."""
    for path in paths:
        with rasterio.open(path) as ds:
            tags = ds.tags()
        try:
            kind_from_tags(tags)
        except ValueError:  # an input sinkmap has no ramp for (NDVI, heights, ...): QGIS's default
            log.info(
                "no QGIS style for %s (UNITS=%r); QGIS will use its default",
                path,
                tags.get("UNITS"),
            )
            continue
        write_sidecar_qml(path)
