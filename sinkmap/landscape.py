"""A deterministic synthetic landscape shaped like Baoting, for the offline demo and tests.

**Synthetic, not real data.** Every value is a pure function of (longitude, latitude, year), so any
window, at any resolution, on any machine gives the same answer, and the demo source can write it
window by window in the form of the real products (ESA WorldCover classes, ESA CCI Biomass Mg/ha).

The picture it paints follows published descriptions of the county (../shared/sources.md): tree
cover over most of the land with mountains rising to the north (Qixianling, Maogan), rubber and
areca plantations on the lower slopes, paddy and cropland in river valleys, the county town near
109.70 E 18.64 N on its river, scattered villages; each year a little forest and plantation is
cleared, cleared land regrows through shrub to trees, and the town grows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sinkmap.grid import Grid

# WorldCover class codes used by the landscape.
TREE, SHRUB, GRASS, CROP, BUILT, BARE, WATER = 10, 20, 30, 40, 50, 60, 80
# Subtypes carried alongside the class (they drive biomass, not the land-cover map).
NATURAL, PLANTATION, REGROWTH, OTHER = 1, 2, 3, 0

_LON0, _LAT0 = 109.40, 18.38  # local origin of the metric frame
_KX = 111_320.0 * np.cos(np.deg2rad(18.6))  # metres per degree of longitude
_KY = 110_600.0  # metres per degree of latitude
TOWN_LON, TOWN_LAT = 109.700, 18.640
_FIRST_CLEARING_YEAR = 2012
_CLEARING_YEARS = 20  # clearing years span 2012..2031
_RATE_NATURAL = 0.005  # share of natural-forest patches cleared per year
_RATE_PLANTATION = 0.03  # share of plantation patches cleared (and replanted) per year


def _hash01(iy: np.ndarray, ix: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) from integer lattice coordinates (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = (
            ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64((seed * 0x165667B19E3779F9) & 0xFFFFFFFFFFFFFFFF)
        )
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def _smooth(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def value_noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1] on the rectilinear lattice ``y[:, None] x x[None, :]`` (metres)."""
    gx, gy = x / cell, y / cell
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    fx, fy = _smooth(gx - ix).astype(np.float32), _smooth(gy - iy).astype(np.float32)
    ux = np.arange(ix.min(), ix.max() + 2)
    uy = np.arange(iy.min(), iy.max() + 2)
    lattice = _hash01(uy[:, None], ux[None, :], seed).astype(np.float32)
    jx, jy = ix - ux[0], iy - uy[0]
    along_x = lattice[:, jx] * (1 - fx) + lattice[:, jx + 1] * fx
    return along_x[jy] * (1 - fy)[:, None] + along_x[jy + 1] * fy[:, None]


def fbm(x: np.ndarray, y: np.ndarray, cell: float, octaves: int, seed: int) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1]."""
    total = np.zeros((y.size, x.size), dtype=np.float32)
    norm = 0.0
    for k in range(octaves):
        amp = 0.5**k
        total += amp * value_noise(x, y, cell / 2**k, seed + 101 * k)
        norm += amp
    return total / norm


def _metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(lon, float) - _LON0) * _KX, (np.asarray(lat, float) - _LAT0) * _KY


def _river_offset(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed north-south distance (m) to the main river, which flows NW -> SE through the town."""
    tx, ty = _metres(np.array([TOWN_LON]), np.array([TOWN_LAT]))
    dx = x - tx[0]
    centre = ty[0] - 0.45 * dx + 1800.0 * np.sin(dx / 5200.0) + 600.0 * np.sin(dx / 1300.0)
    return y[:, None] - centre[None, :]


def landscape(lon: np.ndarray, lat: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Land-cover class (WorldCover codes) and subtype at pixel centres ``lat[:, None] x lon[None, :]``.

    Returns two uint8 arrays of shape ``(lat.size, lon.size)``.
    """
    x, y = _metres(lon, lat)
    shape = (y.size, x.size)
    north = np.clip((np.asarray(lat, float) - 18.45) / 0.35, 0, 1).astype(np.float32)[:, None]
    elev = 0.62 * fbm(x, y, 12_000.0, 4, seed=2) + 0.38 * north
    drain = fbm(x, y, 9_000.0, 3, seed=7)
    creek = np.abs(drain - 0.5)
    river = np.abs(_river_offset(x, y))
    valley = ((creek < 0.05) | (river < 1_600.0)) & (elev < 0.52)

    cls = np.full(shape, TREE, dtype=np.uint8)
    sub = np.full(shape, NATURAL, dtype=np.uint8)

    plantation = (elev < 0.56) & (fbm(x, y, 2_500.0, 2, seed=13) > 0.53)
    sub[plantation] = PLANTATION
    field = value_noise(x, y, 450.0, seed=11)
    crop = valley & (field > 0.40)
    grass = valley & ~crop & (field < 0.16)
    cls[crop], sub[crop] = CROP, OTHER
    cls[grass], sub[grass] = GRASS, OTHER
    ridge = elev > 0.86
    cls[ridge & (value_noise(x, y, 300.0, seed=19) > 0.6)] = SHRUB

    # Clearing and regrowth: each 700 m cell has a clearing year; blobs of 350 m noise inside it.
    cx, cy = np.floor(x / 700.0), np.floor(y / 700.0)
    h = _hash01(cy[:, None], cx[None, :], seed=23)
    rate = np.where(sub == PLANTATION, _RATE_PLANTATION, _RATE_NATURAL)
    cleared_once = (h < rate * _CLEARING_YEARS) & (cls == TREE)
    cleared_once &= value_noise(x, y, 350.0, seed=17) > 0.45
    clear_year = _FIRST_CLEARING_YEAR + np.floor(h / rate).astype(np.int32)
    age = year - clear_year
    fresh = cleared_once & (age >= 0) & (age <= 1)
    young = cleared_once & (age >= 2) & (age <= 3)
    regrown = cleared_once & (age >= 4)
    cls[fresh & (sub == NATURAL)] = CROP
    cls[fresh & (sub == PLANTATION)] = GRASS
    cls[young] = SHRUB
    sub[(fresh | young) & (sub == NATURAL)] = OTHER
    sub[regrown & (sub == NATURAL)] = REGROWTH

    # Villages on a 3.5 km lattice, in valleys; quarries on a 6 km lattice.
    for cell, seed, radius, code, where in (
        (3_500.0, 29, 120.0, BUILT, valley),
        (6_000.0, 31, 70.0, BARE, ~valley),
    ):
        vx, vy = np.floor(x / cell), np.floor(y / cell)
        jx = (vx + 0.2 + 0.6 * _hash01(vy[:, None], vx[None, :], seed)) * cell
        jy = (vy[:, None] + 0.2 + 0.6 * _hash01(vy[:, None], vx[None, :], seed + 1)) * cell
        exists = _hash01(vy[:, None], vx[None, :], seed + 2) < 0.6
        near = (x[None, :] - jx) ** 2 + (y[:, None] - jy) ** 2 < radius**2
        hit = near & exists & where
        cls[hit], sub[hit] = code, OTHER

    # The county town grows by 70 m of radius a year.
    tx, ty = _metres(np.array([TOWN_LON]), np.array([TOWN_LAT]))
    dist = np.hypot(x[None, :] - tx[0], y[:, None] - ty[0])
    town_radius = (1_300.0 + 70.0 * (year - 2020)) * (0.8 + 0.4 * value_noise(x, y, 600.0, seed=37))
    town = dist < town_radius
    cls[town], sub[town] = BUILT, OTHER

    water = (river < 28.0) | ((creek < 0.0035) & (elev < 0.7))
    cls[water], sub[water] = WATER, OTHER
    return cls, sub


def biomass(lon: np.ndarray, lat: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Above-ground biomass and its standard deviation (Mg dry matter / ha), float32.

    Old-growth rainforest at altitude holds 200-380 Mg/ha (IPCC Table 4.7 gives 280 for Asian
    tropical rain forest; Jianfengling plots hold ~450-500), plantations 50-110, regrowth builds
    up by ~12 Mg/ha/yr after clearing.
    """
    cls, sub = landscape(lon, lat, year)
    x, y = _metres(lon, lat)
    north = np.clip((np.asarray(lat, float) - 18.45) / 0.35, 0, 1).astype(np.float32)[:, None]
    vigour = 0.62 * fbm(x, y, 12_000.0, 4, seed=2) + 0.38 * north
    local = value_noise(x, y, 800.0, seed=41)
    agb = np.zeros(cls.shape, dtype=np.float32)
    agb[cls == SHRUB] = 25.0
    agb[cls == GRASS] = 8.0
    agb[cls == CROP] = 6.0
    agb[cls == BUILT] = 4.0
    agb[cls == BARE] = 2.0
    natural = (cls == TREE) & (sub == NATURAL)
    agb[natural] = (140.0 + 260.0 * vigour + 40.0 * local)[natural]
    planted = (cls == TREE) & (sub == PLANTATION)
    agb[planted] = (50.0 + 60.0 * local)[planted]
    regrowth = (cls == TREE) & (sub == REGROWTH)
    agb[regrowth] = 60.0 + 30.0 * local[regrowth]
    sd = np.where(agb > 0, 0.3 * agb + 12.0, 0.0).astype(np.float32)
    return agb, sd


def write_landcover(path: str | Path, grid: Grid, year: int, *, strip: int = 1024) -> None:
    """Write the synthetic land cover for ``year`` onto any ``grid`` (uint8 WorldCover codes, nodata 0).

    For benchmarks and tests of large rasters: pixel (row, col) takes the landscape at lon
    109.40 + 9e-5·col, lat 18.85 − 9e-5·row (about 10 m steps), whatever the grid's CRS, so the
    class mix is Baoting's at any size. Written ``strip`` rows at a time (bounded memory).
    """
    import rasterio

    step = 9.0e-5
    profile = grid.profile(dtype="uint8", nodata=0) | {"compress": "DEFLATE"}
    lon = 109.40 + (np.arange(grid.width) + 0.5) * step
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, grid.height, strip):
            rows = min(strip, grid.height - r0)
            lat = 18.85 - (r0 + np.arange(rows) + 0.5) * step
            cls, _ = landscape(lon, lat, year)
            dst.write(cls, 1, window=((r0, r0 + rows), (0, grid.width)))
