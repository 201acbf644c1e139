"""Tile naming schemes of the public products (see ../shared/sources.md)."""

from __future__ import annotations

import math
from collections.abc import Callable

from sinkmap.errors import ConfigError

Bounds = tuple[float, float, float, float]


def _ns(lat: int) -> str:
    return f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}"


def _ew(lon: int) -> str:
    return f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}"


def _corners(bounds: Bounds, step: int, upper: bool) -> list[tuple[int, int]]:
    """(lat, lon) of the named corner of every ``step``-degree tile touching ``bounds``."""
    minx, miny, maxx, maxy = bounds
    lons = range(math.floor(minx / step) * step, math.ceil(maxx / step) * step, step)
    lats = range(math.floor(miny / step) * step, math.ceil(maxy / step) * step, step)
    return [(lat + step if upper else lat, lon) for lat in reversed(lats) for lon in lons]


def worldcover_3deg(bounds: Bounds) -> list[str]:
    """ESA WorldCover and ETH canopy height: 3-degree tiles named by lower-left corner (N18E108)."""
    return [f"{_ns(lat)}{_ew(lon)}" for lat, lon in _corners(bounds, 3, upper=False)]


def cci_10deg(bounds: Bounds) -> list[str]:
    """ESA CCI Biomass: 10-degree tiles named by upper-left corner (N20E100)."""
    return [f"{_ns(lat)}{_ew(lon)}" for lat, lon in _corners(bounds, 10, upper=True)]


def hansen_10deg(bounds: Bounds) -> list[str]:
    """Hansen/UMD GFC: 10-degree tiles named by upper-left corner (20N_100E)."""
    out = []
    for lat, lon in _corners(bounds, 10, upper=True):
        out.append(
            f"{abs(lat):02d}{'N' if lat >= 0 else 'S'}_{abs(lon):03d}{'E' if lon >= 0 else 'W'}"
        )
    return out


def copdem_1deg(bounds: Bounds) -> list[str]:
    """Copernicus DEM: 1-degree tiles named by lower-left corner (N18_00_E109_00)."""
    return [f"{_ns(lat)}_00_{_ew(lon)}_00" for lat, lon in _corners(bounds, 1, upper=False)]


SCHEMES: dict[str, Callable[[Bounds], list[str]]] = {
    "worldcover_3deg": worldcover_3deg,
    "cci_10deg": cci_10deg,
    "hansen_10deg": hansen_10deg,
    "copdem_1deg": copdem_1deg,
}

#: Tile size in degrees of each scheme, and whether the tile is named by its upper-left corner.
TILE_GEOMETRY: dict[str, tuple[int, bool]] = {
    "worldcover_3deg": (3, False),
    "cci_10deg": (10, True),
    "hansen_10deg": (10, True),
    "copdem_1deg": (1, False),
}


def tiles_for_bounds(scheme: str | None, bounds: Bounds) -> list[str]:
    """Names of the tiles of ``scheme`` touching ``bounds`` (lon/lat)."""
    if scheme is None or scheme not in SCHEMES:
        raise ConfigError(
            f"unknown tile_scheme {scheme!r}; set the dataset's tile_scheme to one of "
            f"{sorted(SCHEMES)} in the dataset registry"
        )
    return SCHEMES[scheme](bounds)


def tile_boxes(scheme: str | None, bounds: Bounds) -> list[tuple[str, Bounds]]:
    """Name and (west, south, east, north) box of every tile of ``scheme`` touching ``bounds``."""
    names = tiles_for_bounds(scheme, bounds)
    step, upper = TILE_GEOMETRY[str(scheme)]
    boxes = []
    for lat, lon in _corners(bounds, step, upper):
        south = lat - step if upper else lat
        boxes.append((float(lon), float(south), float(lon + step), float(south + step)))
    return list(zip(names, boxes, strict=True))
