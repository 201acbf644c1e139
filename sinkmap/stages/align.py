"""Inputs aligned onto the run's grid: warped, decoded, masked to the AOI, checked (rule ``align``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dask.array as da

from sinkmap.align import KINDS, InputStats, aligned_array, check_input_stats, input_stats
from sinkmap.config import Config
from sinkmap.crosswalk import TARGET_LEGEND, Crosswalk, resolve_crosswalk
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_layers
from sinkmap.legends import LEGENDS, colormap
from sinkmap.provenance import source_record, style_rasters
from sinkmap.sources import Manifest, set_aside, verify_fetched
from sinkmap.sources.demo import check_landscape_version
from sinkmap.stages.context import Run

log = logging.getLogger("sinkmap")


def align_input(
    cfg: Config,
    role: str,
    year: int,
    manifest_path: Path,
    grid_path: Path,
    out: Path,
    *,
    threads: int = 1,
) -> None:
    """Warp the fetched files of ``role`` onto the grid, decode, mask to the AOI, write a COG."""
    run = Run(cfg)
    manifest = Manifest.read(manifest_path)
    check_landscape_version(manifest)
    verify_fetched(manifest)
    try:
        _align(run, cfg, role, year, manifest, grid_path, out, threads)
    except UnknownClassError:
        raise  # a code the user's tables lack: fixed in the tables, the files are right
    except InputDataError as exc:
        # refused for what the files hold: fetched anew by the next run, as the source may have
        # been corrected (a user's own files, adapter local, are never moved)
        raise InputDataError(
            f"{str(exc).rstrip('.')}. {set_aside(manifest, refused=True, download_cache=cfg.download_cache)}"
        ) from None


def _align(
    run: Run,
    cfg: Config,
    role: str,
    year: int,
    manifest: Manifest,
    grid_path: Path,
    out: Path,
    threads: int,
) -> None:
    dataset = run.dataset(role)
    grid = Grid.from_json(grid_path)
    arr = aligned_array(
        manifest.paths(dataset.main_layer),
        grid,
        run.aoi,
        kind=dataset.kind,
        src_nodata=dataset.nodata,
    )
    categorical = dataset.kind == "categorical"
    dtype, nodata = KINDS[dataset.kind]
    legend = dataset.legend
    tags = run.tags(sources=[source_record(dataset.name, manifest)], synthetic=manifest.synthetic)
    if dataset.crosswalk:
        # Codes are translated after resampling (mode picks among the product's own classes),
        # chunk by chunk, into the run's legend.
        crosswalk = Crosswalk.from_csv(
            resolve_crosswalk(dataset, cfg.datasets),
            target_legend=dataset.crosswalk_legend or TARGET_LEGEND,
        )
        arr = da.map_blocks(crosswalk.apply, arr, dtype="uint8")
        legend = crosswalk.target_legend
        tags |= {"CROSSWALK": dataset.crosswalk, "SOURCE_LEGEND": dataset.legend or ""}
    if legend:
        tags["LEGEND"] = legend
    tags |= {
        "YEAR": year,
        "ROLE": role,
        "UNITS": dataset.units,
        "QUANTITY": f"{role} from {dataset.title}, on the run's grid, masked to the AOI",
    }
    spec = LayerSpec(
        data=arr,
        dtype=dtype,
        nodata=nodata,
        tags=tags,
        description=f"{role} ({dataset.name}) {year}",
        colormap=colormap(LEGENDS[legend]) if categorical and legend in LEGENDS else None,
        overview_resampling="average" if dataset.kind == "continuous" else "mode",
    )
    stats = input_stats(arr, grid, run.aoi, kind=dataset.kind, valid_range=dataset.valid_range)
    what = f"input {role} of {year} ({dataset.name} {manifest.version})"

    def check(results: list[Any]) -> None:
        found: InputStats = results[0]
        for warning in check_input_stats(
            found,
            what,
            role=role,
            units=dataset.units,
            min_coverage=dataset.expected_coverage,
            valid_range=dataset.valid_range,
            out_of_range=cfg.inputs[role].out_of_range,
        ):
            log.warning(warning)
        log.info("%s: a value in %.1f %% of the AOI's cells", what, 100 * found.coverage)

    write_layers(grid, {out: spec}, extra=[stats], threads=threads, check=check)
    style_rasters([out])
