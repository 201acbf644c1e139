"""A year's GeoPackage: the AOI, the class summary (with the sink of the interval ending in the
year), the tile grid, the interval's tables and the zones' stocks, styled for QGIS.

Rule ``geopackage``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap import __version__
from sinkmap.aoi import AOI
from sinkmap.config import Config
from sinkmap.constants import SIGN_CONVENTION
from sinkmap.contract import ALL_CLASSES, OUTPUT_VERSION, SINK_COLUMNS, SYNTHETIC_NOTE
from sinkmap.files import atomic_path
from sinkmap.grid import Grid
from sinkmap.io import write_gpkg_layer
from sinkmap.publish.qgis import style_geopackage
from sinkmap.stages.context import Run


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
    import shapely

    run = Run(cfg)
    grid = Grid.from_json(grid_path)
    aoi = run.aoi.to_crs(grid.crs)
    classes = with_sink(
        pd.read_csv(class_summary), pd.read_csv(sink_summary) if sink_summary else None
    )
    synthetic = "yes" if run.synthetic else "no"
    meta = {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "YEAR": str(year),
        "SYNTHETIC": synthetic,
        "UNITS": "area_ha: ha; stock_*_mgc: Mg C; stock_density_mgc_per_ha: Mg C/ha; "
        "*_mgco2e_per_yr: Mg CO2e/yr; net_flux_mgco2e_per_ha_yr: Mg CO2e/ha/yr",
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "MODEL": json.dumps(run.model_description),
    }
    if synthetic == "yes":
        meta["NOTE"] = SYNTHETIC_NOTE
    with atomic_path(out) as tmp:
        aoi_df = gpd.GeoDataFrame(
            {
                "name": [aoi.name],
                "area_ha": [geodesic_area_ha(run.aoi)],
                "year": [year],
                "synthetic": [synthetic],
            },
            geometry=[aoi.geometry],
            crs=grid.crs,
        )
        aoi_df["geometry"] = aoi_df.geometry.apply(
            lambda g: shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
        )
        write_gpkg_layer(aoi_df, tmp, "aoi", metadata=meta)
        write_gpkg_layer(classes, tmp, "class_summary", metadata=meta)
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
        write_gpkg_layer(tiles_df, tmp, "tiles", metadata=meta)
        for name, csv in (tables or {}).items():
            table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
            write_gpkg_layer(table, tmp, name, metadata=meta)
        if account_stocks is not None and cfg.account.zones is not None:
            _write_zones_layer(run, grid, account_stocks, tmp, meta)
        style_geopackage(tmp)  # QGIS default styles in layer_styles, before the file is published


def _write_zones_layer(
    run: Run, grid: Grid, account_stocks: Path, gpkg: Path, meta: Mapping[str, str]
) -> None:
    """Zone polygons with their area and stock per pool (all classes) for the year."""
    import geopandas as gpd
    import shapely

    zones = run.zones(grid)
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
    write_gpkg_layer(gdf, gpkg, "zones", metadata=meta)


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


def geodesic_area_ha(aoi: AOI) -> float:
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(aoi.to_crs("EPSG:4326").geometry)
    return abs(area) / 1e4
