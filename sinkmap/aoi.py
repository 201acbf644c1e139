"""The area of interest and the account's zones: read, validate, reproject, rasterise per chunk."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from sinkmap.errors import AOIError, GridError, InputDataError
from sinkmap.grid import AREA_BLOCK, Grid

log = logging.getLogger("sinkmap")


@dataclass(frozen=True)
class AOI:
    """A single (multi)polygon with its CRS and a name."""

    geometry: BaseGeometry
    crs: str
    name: str = "aoi"

    def to_crs(self, crs: str) -> AOI:
        import geopandas as gpd

        geom = gpd.GeoSeries([self.geometry], crs=self.crs).to_crs(crs).iloc[0]
        return AOI(shapely.make_valid(geom), CRS.from_user_input(crs).to_string(), self.name)

    def area_km2(self, crs: str = "EPSG:32649") -> float:
        """Area in km² measured in ``crs`` (a projected CRS)."""
        return float(self.to_crs(crs).geometry.area / 1e6)


#: An equal-area CRS for comparing AOIs anywhere (WGS 84 / NSIDC EASE-Grid 2.0 Global).
EQUAL_AREA_CRS = "EPSG:6933"


def check_disjoint(aois: dict[str, AOI], tolerance: float = 0.005) -> dict[tuple[str, str], float]:
    """The area (ha) each pair of AOIs shares; an :class:`AOIError` when a pair shares more than
    ``tolerance`` of the smaller AOI (their sum would count that land twice). Slivers below it,
    where two digitised boundaries disagree along a shared border, are logged."""
    names = list(aois)
    geoms = [shapely.make_valid(aois[n].to_crs(EQUAL_AREA_CRS).geometry) for n in names]
    tree = shapely.STRtree(geoms)
    shared: dict[tuple[str, str], float] = {}
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        if i >= j:
            continue
        ha = float(shapely.intersection(geoms[i], geoms[j]).area / 1e4)
        if ha <= 0:
            continue
        a, b = names[i], names[j]
        shared[(a, b)] = ha
        smaller = min(geoms[i].area, geoms[j].area) / 1e4
        if ha > tolerance * smaller:
            raise AOIError(
                f"AOIs {a} and {b} overlap by {ha:,.1f} ha ({ha / smaller:.1%} of the smaller): "
                "the sum of the AOIs would count that land twice; give AOIs that do not overlap "
                "(e.g. the counties of one boundary file)"
            )
        log.info("AOIs %s and %s share %.2f ha along their border (digitising slivers)", a, b, ha)
    return shared


def read_aoi(
    path: str | Path,
    *,
    layer: str | None = None,
    name: str | None = None,
    where: str | None = None,
) -> AOI:
    """Read an AOI from any vector file GDAL reads (GeoPackage, shapefile, GeoJSON …).

    All features of the layer (those ``where``, an OGR SQL attribute filter, selects) are
    dissolved into one geometry. Invalid rings are repaired with
    :func:`shapely.make_valid`; non-polygon parts are dropped.
    """
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise AOIError(
            f"AOI file {path} does not exist; set aoi.path in the config to a polygon file"
        )
    if where is not None and ";" in where:
        raise AOIError(
            f"aoi.where {where!r} holds ';': give one attribute filter, e.g. \"adcode = 469029\""
        )
    try:
        if layer is not None:
            layers = [str(row[0]) for row in pyogrio.list_layers(path)]
            if layer not in layers:
                raise AOIError(
                    f"AOI file {path} has no layer {layer!r}; its layers are {layers}: set aoi.layer"
                )
        gdf = gpd.read_file(path, layer=layer, where=where)
    except AOIError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        if where is not None:
            raise AOIError(
                f"cannot read AOI file {path} with aoi.where {where!r}: {exc}; check the filter "
                '(OGR SQL, e.g. "adcode = 469029" or "name = \'Baoting\'") and the field names'
            ) from exc
        raise AOIError(
            f"cannot read AOI file {path}: {exc}; give a GeoPackage, shapefile or GeoJSON"
        ) from exc
    if gdf.crs is None:
        raise AOIError(
            f"AOI file {path} has no CRS; assign one (e.g. in QGIS: Layer CRS > Set Layer CRS) and save"
        )
    if gdf.empty and where is not None:
        raise AOIError(
            f"no feature of AOI file {path} (layer {layer}) matches aoi.where {where!r}; check "
            "the value (text in single quotes) against the layer's attribute table"
        )
    if gdf.empty:
        raise AOIError(
            f"AOI file {path} (layer {layer}) has no features; give a file with the AOI polygon"
        )
    geom = shapely.make_valid(shapely.union_all(gdf.geometry.values))
    polys = _polygonal_part(geom)
    if polys.is_empty or polys.area == 0:
        raise AOIError(
            f"AOI file {path} holds no polygon (found {geom.geom_type}); the AOI must be a polygon layer"
        )
    invalid = ~shapely.is_valid(gdf.geometry.values)
    if invalid.any():
        reasons = sorted({shapely.is_valid_reason(g) for g in gdf.geometry.values[invalid]})
        area = gpd.GeoSeries([polys], crs=gdf.crs).to_crs(gdf.estimate_utm_crs()).area.iloc[0]
        log.warning(
            "AOI file %s: %d feature(s) are not valid polygons (%s); repaired, the AOI covers "
            "%.2f km2. Check that this is the area you meant (QGIS: Vector > Geometry Tools > "
            "Check Validity) and fix the polygon if not",
            path,
            int(invalid.sum()),
            "; ".join(reasons[:3]),
            area / 1e6,
        )
    label = name or (str(gdf["name"].iloc[0]) if "name" in gdf.columns else path.stem)
    return AOI(polys, gdf.crs.to_string(), label)


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


#: How far a projected grid's cell areas may depart from their nominal size over the AOI: beyond
#: WARN_DISTORTION a warning, beyond MAX_DISTORTION the grid is refused (UTM: about 8 and 17
#: degrees of longitude from the zone's central meridian at the equator).
WARN_DISTORTION = 0.02
MAX_DISTORTION = 0.10


def grid_for_aoi(
    aoi: AOI,
    *,
    crs: str,
    resolution: float,
    chunk: int,
    anchor: tuple[float, float] | None = None,
) -> Grid:
    """The canonical grid of a run: ``aoi`` bounds in ``crs`` snapped outward to ``resolution``.

    ``anchor`` (left, top): the upper-left corner of a larger grid on the same lattice (a split
    AOI's, :func:`group_boxes`); the grid's corner is then snapped outward to a whole number of
    :data:`~sinkmap.grid.AREA_BLOCK` cells from it, so that its cells' areas are evaluated on the
    same blocks as the larger grid's, to the bit.

    A projected ``crs`` whose cells over the AOI cover much more or less ground than their nominal
    size (a UTM zone far from the AOI) is refused with the UTM zone of the AOI to use instead.
    """
    check_scale(aoi, crs, resolution)
    projected = aoi.to_crs(crs)
    grid = Grid.from_bounds(projected.geometry.bounds, crs=crs, resolution=resolution, chunk=chunk)
    if anchor is None:
        return grid
    step = AREA_BLOCK * resolution
    left = anchor[0] + math.floor(round((grid.left - anchor[0]) / step, 9)) * step
    top = anchor[1] - math.floor(round((anchor[1] - grid.top) / step, 9)) * step
    right, bottom = grid.left + grid.width * resolution, grid.top - grid.height * resolution
    return Grid(
        crs=grid.crs,
        resolution=grid.resolution,
        left=left,
        top=top,
        width=int(round((right - left) / resolution)),
        height=int(round((top - bottom) / resolution)),
        chunk=chunk,
    )


def clip_to_box(aoi: AOI, box: tuple[float, float, float, float], crs: str) -> AOI:
    """``aoi`` in ``crs`` clipped to ``box`` (minx, miny, maxx, maxy in ``crs``): a group of tiles
    of a split AOI (:func:`group_boxes`). An :class:`AOIError` when nothing of it is in the box."""
    projected = aoi.to_crs(crs)
    clipped = shapely.make_valid(projected.geometry.intersection(shapely.box(*box)))
    polygons = [g for g in shapely.get_parts(clipped) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons or shapely.union_all(polygons).area <= 0:
        raise AOIError(
            f"the AOI {aoi.name!r} has no area inside aoi.box {list(box)} ({crs}); give a box "
            "that overlaps it, or remove aoi.box"
        )
    return AOI(shapely.union_all(polygons), projected.crs, aoi.name)


def group_boxes(aoi: AOI, grid: Grid, group_tiles: int) -> dict[str, tuple[float, ...]]:
    """The groups of at most ``group_tiles`` x ``group_tiles`` tiles of ``grid`` that hold some of
    ``aoi``: name ``g<row>x<col>`` (the group's place) → its box in the grid's CRS, on the grid's
    lattice, so every pixel is in one group; {} when the grid is not larger than one group."""
    rows, cols = (list(c) for c in grid.chunks)
    if len(rows) <= group_tiles and len(cols) <= group_tiles:
        return {}
    projected = aoi.to_crs(grid.crs).geometry
    res = grid.resolution

    def edges(sizes: list[int]) -> list[int]:
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        return [int(offsets[i]) for i in range(0, len(sizes), group_tiles)] + [int(offsets[-1])]

    out: dict[str, tuple[float, ...]] = {}
    r_edges, c_edges = edges(rows), edges(cols)
    for gr, (r0, r1) in enumerate(zip(r_edges[:-1], r_edges[1:], strict=True)):
        for gc, (c0, c1) in enumerate(zip(c_edges[:-1], c_edges[1:], strict=True)):
            box = (
                grid.left + c0 * res,
                grid.top - r1 * res,
                grid.left + c1 * res,
                grid.top - r0 * res,
            )
            if projected.intersection(shapely.box(*box)).area > 0:
                out[f"g{gr}x{gc}"] = box
    return out


def check_scale(aoi: AOI, crs: str, resolution: float) -> float:
    """The largest relative departure of a cell's ground area from ``resolution`` squared over
    the AOI (corners and centre of its bounds), for a projected ``crs``; 0 for a geographic one.

    Raises :class:`GridError` beyond :data:`MAX_DISTORTION`, warns beyond :data:`WARN_DISTORTION`.
    """
    from pyproj import Proj

    crs_obj = CRS.from_user_input(crs)
    if crs_obj.is_geographic:
        return 0.0
    west, south, east, north = aoi.to_crs("EPSG:4326").geometry.bounds
    lon = np.array([west, east, west, east, (west + east) / 2])
    lat = np.array([south, south, north, north, (south + north) / 2])
    factors = Proj(crs_obj).get_factors(lon, lat, errcheck=False)
    areal = np.asarray(factors.areal_scale, dtype="float64")
    distortion = float(np.nanmax(np.abs(areal - 1.0))) if np.isfinite(areal).any() else math.inf
    if distortion <= WARN_DISTORTION:
        return distortion
    lon0, lat0 = float(lon[-1]), float(lat[-1])
    zone = min(int((lon0 + 180) // 6) + 1, 60)
    utm = f"EPSG:{32600 + zone if lat0 >= 0 else 32700 + zone}"
    what = (
        f"grid.crs {crs} is far from true to scale over the AOI (centred at {lon0:.2f}, "
        f"{lat0:.2f}): a {resolution:g} x {resolution:g} cell there covers up to "
        f"{distortion:.0%} more or less ground than its nominal area"
    )
    if distortion > MAX_DISTORTION:
        raise GridError(
            f"{what}; set grid.crs to the AOI's UTM zone, {utm} (UTM zone {zone}"
            f"{'N' if lat0 >= 0 else 'S'}), or to an equal-area CRS that covers it"
        )
    log.warning("%s; the AOI's UTM zone is %s", what, utm)
    return distortion


def aoi_mask(aoi_in_grid_crs: AOI, grid: Grid, window: Window) -> np.ndarray:
    """Boolean array, True where the cell centre lies inside the AOI (one chunk)."""
    return polygon_mask(aoi_in_grid_crs.geometry, grid, window)


def polygon_mask(geometry: BaseGeometry, grid: Grid, window: Window) -> np.ndarray:
    """Boolean array, True where the cell centre lies inside ``geometry`` (in the grid's CRS)."""
    bounds = _window_bounds(grid, window)
    part = shapely.clip_by_rect(geometry, *bounds)
    shape = (int(window.height), int(window.width))
    if part.is_empty:
        return np.zeros(shape, dtype=bool)
    if part.equals(shapely.box(*bounds)):
        return np.ones(shape, dtype=bool)
    return geometry_mask(
        [part], out_shape=shape, transform=grid.window_transform(window), invert=True
    )


def _window_bounds(grid: Grid, window: Window) -> tuple[float, float, float, float]:
    left = grid.left + window.col_off * grid.resolution
    top = grid.top - window.row_off * grid.resolution
    return (left, top - window.height * grid.resolution, left + window.width * grid.resolution, top)


def read_zones(
    zones: str | Path | Any,
    crs: str,
    *,
    layer: str | None = None,
    id_field: str | None = None,
) -> Any:
    """Zone polygons as a GeoDataFrame in ``crs`` with a ``zone_id`` column (str).

    ``zones`` is a vector file (GeoPackage, …) or a GeoDataFrame. ``id_field`` names the column
    holding each zone's id; without it zones are numbered from 1 in file order.
    """
    import geopandas as gpd
    import pandas as pd

    if isinstance(zones, gpd.GeoDataFrame):
        gdf = zones.copy()
        label = "the zones GeoDataFrame"
    else:
        path = Path(zones)
        if not path.exists():
            raise InputDataError(f"zones file {path} does not exist")
        gdf = gpd.read_file(path, layer=layer)
        label = str(path)
    if gdf.empty:
        raise InputDataError(f"{label} has no zones")
    if gdf.crs is None:
        raise InputDataError(f"{label} has no CRS; set one (e.g. with ogr2ogr -a_srs)")
    kinds = set(gdf.geometry.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"} or gdf.geometry.isna().any():
        raise InputDataError(f"{label}: zones must be polygons, found {sorted(kinds)}")
    if id_field is not None:
        if id_field not in gdf.columns:
            raise InputDataError(
                f"{label} has no column {id_field!r}; columns: {[c for c in gdf.columns if c != 'geometry']}"
            )
        ids = gdf[id_field].astype(str)
    else:
        ids = pd.Series([str(i + 1) for i in range(len(gdf))], index=gdf.index)
    if ids.duplicated().any():
        raise InputDataError(f"{label}: zone ids repeat: {sorted(set(ids[ids.duplicated()]))}")
    out = gpd.GeoDataFrame({"zone_id": ids.to_numpy()}, geometry=gdf.geometry.values, crs=gdf.crs)
    return out.to_crs(crs).reset_index(drop=True)
