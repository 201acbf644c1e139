"""Write aoi/demo_zones.gpkg: three SYNTHETIC zones of the Baoting demo (not real townships).

The county is cut into a northern, a middle and a southern band of equal latitude span. The zones
exist only so that the demo exercises per-zone totals; replace them with real township or park
polygons (account.zones in the config) for a real account. Run: python aoi/make_demo_zones.py
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

HERE = Path(__file__).resolve().parent


def main() -> None:
    county = gpd.read_file(HERE / "baoting.gpkg", layer="baoting").geometry.union_all()
    west, south, east, north = county.bounds
    step = (north - south) / 3
    names = ["south band", "middle band", "north band"]
    rows = []
    for i, name in enumerate(names):
        band = shapely.box(west - 0.01, south + i * step, east + 0.01, south + (i + 1) * step)
        rows.append(
            {
                "zone_id": f"demo-{'SMN'[i]}",
                "name": f"Demo {name} (SYNTHETIC zone, not a township)",
                "geometry": county.intersection(band),
            }
        )
    gdf = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    gdf.to_file(HERE / "demo_zones.gpkg", layer="demo_zones", driver="GPKG")


if __name__ == "__main__":
    main()
