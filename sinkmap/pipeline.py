"""The stages of a sinkmap run, each a function from files to files.

The Snakemake rules in ``workflow/`` are thin wrappers around these; they can equally be called from
Python or a notebook. Every stage validates what it reads, computes chunk by chunk with dask, and
publishes its outputs atomically (nothing appears under a final name until it is complete).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rasterio

from sinkmap import OUTPUT_VERSION, __version__
from sinkmap.account import (
    change_matrix_table,
    combine_sums,
    ipcc_category_matrix,
    transition_sums,
)
from sinkmap.align import aligned_array
from sinkmap.aoi import AOI, grid_for_aoi, read_aoi
from sinkmap.carbon import class_sums, co2e_flux, stock_difference
from sinkmap.config import Config
from sinkmap.constants import (
    CO2_PER_C,
    POOLS,
    SIGN_CONVENTION,
    UNITS_FLUX,
    UNITS_STOCK,
)
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, atomic_path, open_on_grid, write_csv, write_layers
from sinkmap.models import get_model
from sinkmap.sources import Manifest, fetch, get_dataset, load_registry
from sinkmap.styles import LEGENDS, class_names, colormap, ipcc_categories
from sinkmap.tally import ACCOUNT_COLUMNS  # noqa: F401  (re-exported: the account's columns)

log = logging.getLogger("sinkmap")

SYNTHETIC_NOTE = "SYNTHETIC DEMO DATA - not a real measurement of Baoting"


# -- paths -----------------------------------------------------------------------------------------
def year_dir(cfg: Config, year: int) -> Path:
    return cfg.results_dir / str(year)


def stock_path(cfg: Config, year: int, pool: str) -> Path:
    return year_dir(cfg, year) / f"carbon_stock_{pool}.tif"


def sink_dir(cfg: Config, y0: int, y1: int) -> Path:
    return cfg.results_dir / "sink" / f"{y0}-{y1}"


def raw_dir(cfg: Config, role: str, year: int) -> Path:
    """``resources/raw/<dataset>/<version>/<year>``: where the files of ``role`` for ``year`` land."""
    inp = cfg.inputs[role]
    dataset = get_dataset(load_registry(cfg.datasets), inp.dataset)
    year = inp.year or year  # a static layer: one year of the dataset for every mapped year
    return (
        cfg.resources_dir / "raw" / inp.dataset / dataset.version_for(year, inp.version) / str(year)
    )


def load_aoi(cfg: Config) -> AOI:
    return read_aoi(cfg.aoi.path, layer=cfg.aoi.layer, name=cfg.aoi.name)


# -- stage 1: grid -----------------------------------------------------------------------------------
def make_grid(cfg: Config, out: Path) -> Grid:
    """Derive the canonical grid from the AOI and write it as JSON."""
    aoi = load_aoi(cfg)
    grid = grid_for_aoi(aoi, crs=cfg.grid.crs, resolution=cfg.grid.resolution, chunk=cfg.grid.chunk)
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


# -- stage 2: fetch ----------------------------------------------------------------------------------
def fetch_input(
    cfg: Config, dataset_name: str, version: str, year: int, manifest_out: Path
) -> Manifest:
    """Obtain ``dataset_name`` at ``version`` for ``year`` over the AOI (bounds in lon/lat)."""
    dataset = get_dataset(load_registry(cfg.datasets), dataset_name)
    bounds = load_aoi(cfg).to_crs("EPSG:4326").geometry.bounds
    manifest = fetch(dataset, year, bounds, manifest_out.parent, version)
    log.info("fetched %s %s: %s", dataset.name, year, [f.path for f in manifest.files])
    return manifest


# -- stage 3: align ----------------------------------------------------------------------------------
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
    registry = load_registry(cfg.datasets)
    dataset = get_dataset(registry, cfg.inputs[role].dataset)
    manifest = Manifest.read(manifest_path)
    grid = Grid.from_json(grid_path)
    arr = aligned_array(
        manifest.paths(dataset.main_layer),
        grid,
        load_aoi(cfg),
        kind=dataset.kind,
        src_nodata=dataset.nodata,
    )
    categorical = dataset.kind == "categorical"
    legend = dataset.legend
    tags = _provenance(
        cfg, sources=[_source_record(dataset.name, manifest)], synthetic=manifest.synthetic
    )
    if dataset.crosswalk:
        # Codes are translated after resampling (mode picks among the product's own classes),
        # chunk by chunk, into the run's legend.
        from sinkmap.crosswalk import Crosswalk, resolve_crosswalk

        crosswalk = Crosswalk.from_csv(resolve_crosswalk(dataset, cfg.datasets))
        arr = arr.map_blocks(crosswalk.apply, dtype="uint8")
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
        dtype="uint8" if categorical else "float32",
        nodata=0 if categorical else float("nan"),
        tags=tags,
        description=f"{role} ({dataset.name}) {year}",
        colormap=colormap(LEGENDS[legend]) if categorical and legend in LEGENDS else None,
        overview_resampling="mode" if categorical else "average",
    )
    write_layers(grid, {out: spec}, threads=threads)
    _style_rasters([out])


# -- stage 4: stocks ---------------------------------------------------------------------------------
def compute_stocks(
    cfg: Config,
    year: int,
    aligned: Mapping[str, Path],
    grid_path: Path,
    *,
    class_summary_out: Path,
    tile_summary_out: Path,
    threads: int = 1,
) -> None:
    """Run the model over all chunks; write one COG per pool and the total, and summary tables."""
    grid = Grid.from_json(grid_path)
    model = get_model(cfg.model.name, cfg.model.params)
    missing = [r for r in model.inputs if r not in aligned]
    if missing:
        raise InputDataError(
            f"model {model.name} needs input role(s) {missing}; add them to config inputs"
        )
    roles = list(model.inputs)
    arrays = [open_on_grid(aligned[r], grid) for r in roles]

    def _block(*blocks: np.ndarray) -> np.ndarray:
        pools = model.pools(dict(zip(roles, blocks, strict=True)))
        return np.stack([np.asarray(pools[p], "float32") for p in POOLS])

    stacked = da.map_blocks(
        _block, *arrays, new_axis=0, chunks=((len(POOLS),), *grid.chunks), dtype="float32"
    )
    total = stacked.sum(axis=0)
    land_cover = open_on_grid(aligned["land_cover"], grid)
    summaries = _per_tile(grid, land_cover, stacked)

    legend = _legend(cfg)
    sources, synthetic = _sources_from_tags(aligned.values())
    base = _provenance(cfg, sources=sources, synthetic=synthetic) | {
        "YEAR": year,
        "UNITS": UNITS_STOCK,
    }
    layers = {
        stock_path(cfg, year, pool): LayerSpec(
            data=stacked[i],
            dtype="float32",
            nodata=float("nan"),
            tags=base | {"POOL": pool, "QUANTITY": f"carbon stock, {pool} pool"},
            description=f"carbon stock {pool} ({UNITS_STOCK}) {year}",
        )
        for i, pool in enumerate(POOLS)
    }
    layers[stock_path(cfg, year, "total")] = LayerSpec(
        data=total,
        dtype="float32",
        nodata=float("nan"),
        tags=base | {"POOL": "total", "QUANTITY": "carbon stock, sum of above, below, dead, soil"},
        description=f"carbon stock total ({UNITS_STOCK}) {year}",
    )
    (tile_sums,) = write_layers(grid, layers, extra=[summaries], threads=threads)
    _style_rasters(layers)

    per_class = _sum_tiles(tile_sums)
    names, categories = class_names(legend), ipcc_categories(legend)
    rows = []
    for code in np.flatnonzero(per_class["area_ha"] > 0):
        area = per_class["area_ha"][code]
        row: dict[str, Any] = {
            "year": year,
            "class_code": int(code),
            "class_name": names.get(int(code), str(code)),
            "ipcc_category": categories.get(int(code), ""),
            "area_ha": area,
        }
        for pool in POOLS:
            row[f"stock_{pool}_mgc"] = per_class[pool][code]
        row["stock_total_mgc"] = sum(per_class[p][code] for p in POOLS)
        row["stock_density_mgc_per_ha"] = row["stock_total_mgc"] / area
        rows.append(row)
    write_csv(pd.DataFrame(rows), class_summary_out)

    tiles = [
        {
            "tile_id": tile.id,
            "area_ha": float(sums["area_ha"].sum()),
            "stock_total_mgc": float(sum(sums[p].sum() for p in POOLS)),
        }
        for tile, sums in zip(grid.tiles(), tile_sums, strict=True)
    ]
    write_csv(pd.DataFrame(tiles), tile_summary_out)


def _per_tile(grid: Grid, land_cover: da.Array, stacked: da.Array) -> list[Any]:
    """One delayed per-class sum for each tile, sharing the blocks of ``stacked``."""
    lc_blocks = land_cover.to_delayed()
    pool_blocks = stacked.to_delayed()
    out = []
    for tile in grid.tiles():
        out.append(
            dask.delayed(_tile_sums)(
                lc_blocks[tile.row, tile.col], pool_blocks[0, tile.row, tile.col], grid, tile
            )
        )
    return out


def _tile_sums(
    classes: np.ndarray, pools: np.ndarray, grid: Grid, tile: Tile
) -> dict[str, np.ndarray]:
    area = grid.cell_area_ha(tile.window)
    return class_sums(classes, area, {p: pools[i] for i, p in enumerate(POOLS)})


def _sum_tiles(tile_sums: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = tile_sums[0].keys()
    return {k: np.sum([t[k] for t in tile_sums], axis=0) for k in keys}


# -- stage 5: sink -----------------------------------------------------------------------------------
def compute_sink(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    stock0: Path,
    stock1: Path,
    land_cover0: Path,
    land_cover1: Path,
    grid_path: Path,
    flux_out: Path,
    summary_out: Path,
    matrix_out: Path,
    ipcc_matrix_out: Path,
    pool_stocks: Mapping[str, tuple[Path, Path]] | None = None,
    pool_flux_out: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> None:
    """Stock-difference sink between two years: net CO2e flux per pixel (inventory sign), per class,
    and the land-use change matrix of the interval (by class and by IPCC land category).

    With ``pool_stocks`` (pool → (stock at y0, stock at y1)) and ``pool_flux_out`` (pool → path),
    also one flux layer per pool, by the same equation."""
    grid = Grid.from_json(grid_path)
    c0 = open_on_grid(stock0, grid)
    c1 = open_on_grid(stock1, grid)
    flux = da.map_blocks(
        lambda a, b: co2e_flux(stock_difference(a, b, y0, y1)), c0, c1, dtype="float32"
    )
    blocks = zip(
        grid.tiles(),
        *(
            a.to_delayed().ravel()
            for a in (open_on_grid(land_cover0, grid), open_on_grid(land_cover1, grid))
        ),
        *(a.to_delayed().ravel() for a in (c0, c1, flux)),
        strict=True,
    )
    summaries = [dask.delayed(_sink_tile_sums)(grid, tile, *parts) for tile, *parts in blocks]
    sources, synthetic = _sources_from_tags([stock0, stock1])
    tags = _provenance(cfg, sources=sources, synthetic=synthetic) | {
        "INTERVAL": f"{y0}-{y1}",
        "YEAR_START": y0,
        "YEAR_END": y1,
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "QUANTITY": "net CO2e flux by stock difference, -(C_end - C_start)/(t_end - t_start) x 44/12 (IPCC 2006 V4 Eq. 2.5)",
        "POOL": "total",
    }
    spec = LayerSpec(
        data=flux,
        dtype="float32",
        nodata=float("nan"),
        tags=tags,
        description=f"net CO2e flux ({UNITS_FLUX}, emissions +, removals -) {y0}-{y1}",
    )
    layers = {flux_out: spec}
    for pool, out in (pool_flux_out or {}).items():
        if pool_stocks is None or pool not in pool_stocks:
            raise InputDataError(f"the {pool} flux layer needs the {pool} stocks of both years")
        p0, p1 = (open_on_grid(x, grid) for x in pool_stocks[pool])
        layers[out] = LayerSpec(
            data=da.map_blocks(
                lambda a, b: co2e_flux(stock_difference(a, b, y0, y1)), p0, p1, dtype="float32"
            ),
            dtype="float32",
            nodata=float("nan"),
            tags=tags | {"POOL": pool, "QUANTITY": tags["QUANTITY"] + f", {pool} pool"},
            description=f"net CO2e flux, {pool} pool ({UNITS_FLUX}, emissions +) {y0}-{y1}",
        )
    (tile_sums,) = write_layers(grid, layers, extra=[summaries], threads=threads)
    _style_rasters(layers)
    per_class = _sum_tiles([t[0] for t in tile_sums])
    legend = _legend(cfg)
    transitions = combine_sums(t[1] for t in tile_sums)
    write_csv(change_matrix_table(transitions, legend, y0, y1), matrix_out)
    write_csv(ipcc_category_matrix(transitions, legend, y0, y1), ipcc_matrix_out)
    names, categories = class_names(legend), ipcc_categories(legend)
    rows = []
    for code in np.flatnonzero(per_class["area_ha"] > 0):
        area = per_class["area_ha"][code]
        rows.append(
            {
                "interval_start": y0,
                "interval_end": y1,
                "class_code": int(code),
                "class_name": names.get(int(code), str(code)),
                "ipcc_category": categories.get(int(code), ""),
                "area_ha": area,
                "net_flux_mgco2e_per_yr": per_class["net"][code],
                "emissions_mgco2e_per_yr": per_class["emissions"][code],
                "removals_mgco2e_per_yr": per_class["removals"][code],
                "net_flux_mgco2e_per_ha_yr": per_class["net"][code] / area,
            }
        )
    write_csv(pd.DataFrame(rows), summary_out)


def _sink_tile_sums(
    grid: Grid,
    tile: Tile,
    classes0: np.ndarray,
    classes1: np.ndarray,
    stock0: np.ndarray,
    stock1: np.ndarray,
    flux: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-class flux sums (by the class at the end) and the transition matrix of one tile."""
    area = grid.cell_area_ha(tile.window)
    by_class = class_sums(
        classes1,
        area,
        {
            "net": flux,
            "emissions": np.where(flux > 0, flux, 0),
            "removals": np.where(flux < 0, flux, 0),
        },
    )
    return by_class, transition_sums(classes0, classes1, area, stock0, stock1)


# -- stage 6: GeoPackage ---------------------------------------------------------------------------
def write_geopackage(
    cfg: Config,
    year: int,
    *,
    grid_path: Path,
    class_summary: Path,
    tile_summary: Path,
    sink_summary: Path | None,
    out: Path,
    tables: Mapping[str, Path] | None = None,
    account_stocks: Path | None = None,
) -> None:
    """Per-year GeoPackage: the AOI, the per-class summary (with the sink of the interval ending in
    the year, if any) and the tile grid; ``tables`` (layer name → CSV, e.g. the change matrices
    and IPCC summary of the interval ending in the year) as attribute-only layers; with
    ``account_stocks`` and zones configured, a ``zones`` layer of the zones' stocks."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from sinkmap.publish.qgis import style_geopackage

    grid = Grid.from_json(grid_path)
    aoi = load_aoi(cfg).to_crs(grid.crs)
    classes = with_sink(
        pd.read_csv(class_summary), pd.read_csv(sink_summary) if sink_summary else None
    )
    synthetic = "yes" if _is_synthetic(cfg) else "no"
    meta = {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "YEAR": str(year),
        "SYNTHETIC": synthetic,
        "UNITS": "area_ha: ha; stock_*_mgc: Mg C; stock_density_mgc_per_ha: Mg C/ha; "
        "*_mgco2e_per_yr: Mg CO2e/yr; net_flux_mgco2e_per_ha_yr: Mg CO2e/ha/yr",
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "MODEL": json.dumps(get_model(cfg.model.name, cfg.model.params).describe()),
    }
    if synthetic == "yes":
        meta["NOTE"] = SYNTHETIC_NOTE
    with atomic_path(out) as tmp:
        aoi_df = gpd.GeoDataFrame(
            {
                "name": [aoi.name],
                "area_ha": [_geodesic_area_ha(load_aoi(cfg))],
                "year": [year],
                "synthetic": [synthetic],
            },
            geometry=[aoi.geometry],
            crs=grid.crs,
        )
        aoi_df["geometry"] = aoi_df.geometry.apply(
            lambda g: shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
        )
        pyogrio.write_dataframe(aoi_df, tmp, layer="aoi", driver="GPKG", layer_metadata=meta)
        pyogrio.write_dataframe(
            classes, tmp, layer="class_summary", driver="GPKG", layer_metadata=meta
        )
        tiles = pd.read_csv(tile_summary).set_index("tile_id")
        tile_geoms, records = [], []
        for tile in grid.tiles():
            tile_geoms.append(shapely.box(*grid.tile_bounds(tile)))
            records.append(
                {
                    "tile_id": tile.id,
                    "row_off": tile.row_off,
                    "col_off": tile.col_off,
                    "width": tile.width,
                    "height": tile.height,
                    "area_ha": float(tiles.loc[tile.id, "area_ha"]),
                    "stock_total_mgc": float(tiles.loc[tile.id, "stock_total_mgc"]),
                }
            )
        tiles_df = gpd.GeoDataFrame(records, geometry=tile_geoms, crs=grid.crs)
        pyogrio.write_dataframe(tiles_df, tmp, layer="tiles", driver="GPKG", layer_metadata=meta)
        for name, csv in (tables or {}).items():
            table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
            pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG", layer_metadata=meta)
        if account_stocks is not None and cfg.account.zones is not None:
            _write_zones_layer(cfg, grid, account_stocks, tmp, meta)
        style_geopackage(tmp)  # QGIS default styles in layer_styles, before the file is published


def _write_zones_layer(
    cfg: Config, grid: Grid, account_stocks: Path, gpkg: Path, meta: Mapping[str, str]
) -> None:
    """Zone polygons with their area and stock per pool (all classes) for the year."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from sinkmap.tally import ALL_CLASSES, Zones

    zones = Zones(cfg, grid)
    stocks = pd.read_csv(account_stocks, dtype={"zone_id": str}, keep_default_na=False)
    rows = stocks[(stocks["class_name"] == ALL_CLASSES) & (stocks["zone_id"] != "aoi")]
    wide = rows.pivot_table(index="zone_id", columns="pool", values="stock_mgc")
    wide.columns = [f"stock_{c}_mgc" for c in wide.columns]
    area = rows.groupby("zone_id")["area_ha"].first()
    gdf = zones.gdf.copy()
    gdf["zone_name"] = zones.names[1:]
    gdf["area_ha"] = gdf["zone_id"].map(area).astype(float)
    for col in wide.columns:
        gdf[col] = gdf["zone_id"].map(wide[col]).astype(float)
    if "stock_total_mgc" in gdf.columns:
        gdf["stock_density_mgc_per_ha"] = gdf["stock_total_mgc"] / gdf["area_ha"]
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=grid.crs)
    gdf["geometry"] = gdf.geometry.apply(
        lambda g: shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
    )
    pyogrio.write_dataframe(gdf, gpkg, layer="zones", driver="GPKG", layer_metadata=meta)


# -- helpers -----------------------------------------------------------------------------------------
def _style_rasters(paths: Iterable[Path]) -> None:
    """A same-named .qml next to each raster: QGIS opens it with that style (ramp, palette, units)."""
    import rasterio

    from sinkmap.publish.qgis import kind_from_tags, write_sidecar_qml

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


SINK_COLUMNS = ["net_flux_mgco2e_per_yr", "emissions_mgco2e_per_yr", "removals_mgco2e_per_yr"]


def with_sink(stocks: pd.DataFrame, sink: pd.DataFrame | None) -> pd.DataFrame:
    """A year's class summary with the flux columns of the interval ending in that year.

    Both tables are grouped by the class at the end of the interval, so rows match by class code.
    Without an earlier year the flux columns are empty (the schema stays the same).
    """
    columns = [*stocks.columns, "interval", *SINK_COLUMNS, "method"]
    if sink is None or sink.empty:
        out = stocks.assign(interval="", **{c: np.nan for c in SINK_COLUMNS})
        out["method"] = "stock (no earlier year)"
        return out[columns]
    start, end = int(sink["interval_start"].iloc[0]), int(sink["interval_end"].iloc[0])
    out = stocks.merge(sink[["class_code", *SINK_COLUMNS]], on="class_code", how="left")
    out["interval"] = f"{start}-{end}"
    out["method"] = "stock-difference (IPCC 2006 V4 Eq. 2.5)"
    return out[columns]


def _geodesic_area_ha(aoi: AOI) -> float:
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(aoi.to_crs("EPSG:4326").geometry)
    return abs(area) / 1e4


def _legend(cfg: Config) -> str | None:
    """Legend of the aligned land cover: the crosswalk's target when the product has one."""
    registry = load_registry(cfg.datasets)
    dataset = get_dataset(registry, cfg.inputs["land_cover"].dataset)
    return CROSSWALK_LEGEND if dataset.crosswalk else dataset.legend


#: Legend every crosswalk maps to (config/crosswalks/): the run's land-cover legend.
CROSSWALK_LEGEND = "worldcover"


def _is_synthetic(cfg: Config) -> bool:
    registry = load_registry(cfg.datasets)
    return any(get_dataset(registry, inp.dataset).synthetic for inp in cfg.inputs.values())


def _source_record(name: str, manifest: Manifest) -> dict[str, Any]:
    return {
        "dataset": name,
        "version": manifest.version,
        "year": manifest.year,
        "files": manifest.urls(),
    }


def _sources_from_tags(paths: Sequence[Path] | Any) -> tuple[list[dict[str, Any]], bool]:
    """Union of the SOURCES tags of upstream rasters, and whether any of them is synthetic."""
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


def _provenance(cfg: Config, *, sources: list[dict[str, Any]], synthetic: bool) -> dict[str, Any]:
    model = get_model(cfg.model.name, cfg.model.params).describe()
    tags: dict[str, Any] = {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "MODEL": model["model"],
        "MODEL_PARAMS": json.dumps(model["params"], sort_keys=True),
        "SOURCES": json.dumps(sources, sort_keys=True),
        "SYNTHETIC": "yes" if synthetic else "no",
        "AOI": str(cfg.aoi.path),
        "CO2_PER_C": repr(CO2_PER_C),
    }
    if synthetic:
        tags["NOTE"] = SYNTHETIC_NOTE
    return tags
