"""Inputs of a run: the grid from the AOI and the datasets fetched (rules ``grid`` and ``fetch``).

Aligning them onto the grid is :mod:`sinkmap.stages.align`: apart, so that these jobs start
without the array stack (``dask.array`` imports xarray and pandas, 0.7 s per job).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sinkmap.account.zones import ZoneCover, zones_key
from sinkmap.config import Config
from sinkmap.errors import ConfigError
from sinkmap.grid import Grid
from sinkmap.sources import Manifest, fetch, get_dataset
from sinkmap.stages.context import Run

log = logging.getLogger("sinkmap")


def make_grid(cfg: Config, out: Path) -> Grid:
    """Derive the canonical grid from the AOI and write it as JSON."""
    grid = Run(cfg).aoi_grid()
    grid.to_json(out)
    log.info(
        "grid %s: %d x %d px of %s, %d chunks",
        grid.crs,
        grid.width,
        grid.height,
        grid.resolution,
        len(list(grid.tiles())),
    )
    return grid


def make_zone_cover(cfg: Config, grid_path: Path) -> Path:
    """Compute the account zones' cover of the grid once (:class:`~sinkmap.account.zones.ZoneCover`,
    ``resources/zones/cover.npz``): the stocks, interval and Monte Carlo jobs of every year read
    it instead of running exactextract over each tile again."""
    if cfg.account.zones is None:
        raise ConfigError("account.zones is not set: there is no zone cover to compute")
    grid = Grid.from_json(grid_path)
    gdf = Run(cfg).zones(grid, cover=False).gdf  # read and checked as every job reads them
    out = ZoneCover.write(gdf, grid, cfg.paths.zone_cover(), zones_key(gdf, grid))
    log.info("zone cover of %d zone(s) over %d tiles: %s", len(gdf), len(list(grid.tiles())), out)
    return out


def fetch_input(
    cfg: Config, dataset_name: str, version: str, year: int, manifest_out: Path
) -> Manifest:
    """Obtain ``dataset_name`` at ``version`` for ``year`` over the AOI (bounds in lon/lat)."""
    run = Run(cfg)
    dataset = get_dataset(run.registry, dataset_name)
    bounds = run.aoi.to_crs("EPSG:4326").geometry.bounds
    manifest = fetch(
        dataset, year, bounds, manifest_out.parent, version, download_cache=cfg.download_cache
    )
    log.info("fetched %s %s: %s", dataset.name, year, [f.path for f in manifest.files])
    return manifest
