"""Change filtering of a year's land cover before accounting: files in, files out.

Rule ``filter_land_cover``. Reads the aligned land cover of the year and of the mapped years before
it that persistence needs, and the filtered land cover of the year before; writes the filtered land
cover (what the account reads) and the changed areas before and after filtering. The first mapped
year has nothing to filter against: its filtered map is its map. Kernels:
:mod:`sinkmap.account.filtering`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
from rasterio.windows import Window

from sinkmap.account.accuracy import FOREST_GAIN, FOREST_LOSS, change_strata
from sinkmap.account.filtering import mmu_cells, persistence_filter, sieve_changes
from sinkmap.config import Config
from sinkmap.contract import CHANGE_FILTER_ROWS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, open_on_grid, shared, write_layers
from sinkmap.legends import LEGENDS, colormap, ipcc_category_lut
from sinkmap.provenance import read_sources, style_rasters
from sinkmap.stages.context import Run, now


def filter_land_cover(
    cfg: Config,
    year: int,
    *,
    mapped: Mapping[int, Path],
    previous: Path | None,
    grid_path: Path,
    outputs: Mapping[str, Path],
    threads: int = 1,
) -> pd.DataFrame:
    """Filter the land cover of ``year`` and write ``outputs['land_cover']`` (COG) and
    ``outputs['summary']`` (CSV); returns the summary.

    ``mapped``: year → aligned land cover, for ``year`` and the mapped years before it that the
    persistence filter reads (``change_filter.persistence_years − 1`` of them, fewer at the start
    of the series). ``previous``: the filtered land cover of the mapped year before (None in the
    first year)."""
    run = Run(cfg)
    fc = cfg.change_filter
    grid = Grid.from_json(grid_path)
    if year not in mapped:
        raise InputDataError(f"filter_land_cover needs the land cover of {year} itself")
    years = sorted(y for y in mapped if y <= year)
    arrays = [open_on_grid(mapped[y], grid) for y in years]
    now_lc = arrays[-1]
    dtype = now_lc.dtype
    lut = ipcc_category_lut(run.legend)
    lut_key = shared(lut)  # one copy in the graph, not one per tile
    height, width = grid.shape
    cell_ha = float(grid.cell_area_ha(Window(width // 2, height // 2, 1, 1))[0, 0])
    min_cells = mmu_cells(fc.min_mapping_unit_ha, cell_ha)
    if previous is None:
        prev = filtered = now_lc
        held = removed = da.zeros(grid.shape, chunks=grid.chunks, dtype=bool)
        before = now_lc
    else:
        prev = open_on_grid(previous, grid, dtype=str(dtype))
        use = arrays[-fc.persistence_years :] if fc.persistence_years > 1 else arrays[-1:]

        stacked = da.map_blocks(
            _persist,
            prev,
            *use,
            lut=lut_key,
            new_axis=0,
            chunks=((2,), *grid.chunks),
            dtype=dtype,
            meta=np.array((), dtype=dtype),
        )
        candidate, held = stacked[0], stacked[1].astype(bool)
        changed = (candidate != prev) & (candidate != 0) & (prev != 0)
        if min_cells > 1:
            kept = changed.map_overlap(
                sieve_changes,
                depth=min_cells,
                boundary="none",
                dtype=bool,
                min_cells=min_cells,
                connectivity=fc.connectivity,
            )
        else:
            kept = changed
        removed = changed & ~kept
        filtered = da.where(removed, prev, candidate).astype(dtype)
        before = arrays[-2] if len(arrays) > 1 else now_lc
    parts = [
        dask.delayed(_tile_areas)(grid, tile, lut_key, *blocks)
        for tile, *blocks in zip(
            grid.tiles(),
            *(
                a.to_delayed(optimize_graph=False).ravel()
                for a in (before, now_lc, prev, filtered, held, removed)
            ),
            strict=True,
        )
    ]
    sources, synthetic = read_sources(list(mapped.values()))
    params = {
        "persistence_years": fc.persistence_years,
        "min_mapping_unit_ha": fc.min_mapping_unit_ha,
        "min_mapping_unit_cells": min_cells,
        "connectivity": fc.connectivity,
    }
    legend = run.legend
    tags = run.tags(sources=sources, synthetic=synthetic) | {
        "YEAR": year,
        "ROLE": "land_cover",
        "UNITS": "class code",
        "QUANTITY": "land cover after change filtering (persistence of IPCC category changes, "
        "minimum mapping unit); what the account reads",
        "CHANGE_FILTER": json.dumps(params, sort_keys=True),
    }
    if legend:
        tags["LEGEND"] = legend
    spec = LayerSpec(
        data=filtered,
        dtype=str(dtype),
        nodata=0,
        tags=tags,
        description=f"land cover after change filtering {year}",
        colormap=colormap(LEGENDS[legend]) if legend in LEGENDS else None,
        overview_resampling="mode",
    )
    (areas,) = write_layers(grid, {outputs["land_cover"]: spec}, extra=[parts], threads=threads)
    style_rasters([outputs["land_cover"]])
    totals = np.sum(np.stack(areas), axis=0)
    earlier = [y for y in mapped if y < year]
    table = pd.DataFrame(
        {
            "year": year,
            "previous_year": max(earlier) if earlier and previous is not None else pd.NA,
            "quantity": [q for q, _ in CHANGE_FILTER_ROWS],
            "area_ha": totals if previous is not None else np.zeros(len(CHANGE_FILTER_ROWS)),
            "meaning": [m for _, m in CHANGE_FILTER_ROWS],
            "change_filter": json.dumps(params, sort_keys=True),
            "synthetic": "yes" if synthetic else "no",
            "computed_at": now(),
        }
    )
    write_csv(table, outputs["summary"])
    return table


def _persist(prev: np.ndarray, *blocks: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The persistence filter's candidate map and held cells of a chunk, stacked."""
    cand, held = persistence_filter(blocks, prev, lut)
    return np.stack([cand, held.astype(cand.dtype)])


def _tile_areas(
    grid: Grid,
    tile: Tile,
    lut: np.ndarray,
    before: np.ndarray,
    now_lc: np.ndarray,
    prev: np.ndarray,
    filtered: np.ndarray,
    held: np.ndarray,
    removed: np.ndarray,
) -> np.ndarray:
    """Areas (ha) of the rows of :data:`CHANGE_FILTER_ROWS` in one tile."""
    area = grid.cell_area_ha(tile.window)
    # forest loss and gain are those of the change strata (sinkmap sample's); a class without an
    # IPCC category is neither forest nor non-forest there
    mapped = change_strata(lut[before], lut[now_lc])
    after = change_strata(lut[prev], lut[filtered])
    masks: list[Any] = [
        (before != 0) & (now_lc != 0) & (before != now_lc),
        held,
        removed,
        (prev != 0) & (filtered != 0) & (prev != filtered),
        mapped == FOREST_LOSS,
        after == FOREST_LOSS,
        mapped == FOREST_GAIN,
        after == FOREST_GAIN,
    ]
    return np.array([float(area[m].sum()) for m in masks])
