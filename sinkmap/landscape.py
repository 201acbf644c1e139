"""A deterministic synthetic landscape shaped like Baoting, for the offline demo and tests.

**Synthetic, not real data.** Every value is a pure function of (longitude, latitude, year), so any
window, at any resolution, on any machine gives the same answer, and the demo source can write it
window by window in the form of the real products (ESA WorldCover classes, ESA CCI Biomass Mg/ha,
the Forest Management Layer of Lesiv et al. 2022, planting years as Du et al. 2022 map them, FAO
ecological zones). No number here was measured in Baoting; the shares are targets of the demo.

The picture follows published descriptions of the county (../shared/sources.md): tree cover over
most of the land (about three quarters), natural forest on the higher, northern ground (Qixianling,
Maogan), plantations on the lower slopes (rubber on about a quarter of the land, areca on about a
tenth, nearest the valleys, and a little eucalyptus/acacia), paddy and cropland in river valleys,
the county town near 109.70 E 18.64 N on its river, scattered villages and quarries. What changes
from year to year, and the rules it follows (steady state, forever):

- **Plantation rotations.** Plantation blocks (~200 m, edges wobbling by up to ~90 m) each have a
  phase φ in [0, R) from a hash; a block was last planted in ``year - ((year - φ) mod R)``, so 1/R of
  each plantation type is cleared and replanted every year. Rotation R: rubber 30 years, areca 40,
  other plantation (eucalyptus/acacia) 7. Land cover by age a (years since planting): rubber and
  areca grassland at a = 0–1, shrubland at 2–3, tree cover from 4; other plantation grassland at 0,
  shrubland at 1, tree cover from 2. The subtype stays the plantation's all through the rotation.
- **Natural forest** is protected: 0.1 % of its 700 m cells a year (a hash gives each its year,
  2012–2031) lose a blob of forest, which is cropland for 2 years, shrubland for 2, then tree cover
  (subtype :data:`REGROWTH` from the first shrubland year on).
- **The town** grows by 70 m of radius a year; villages, quarries and rivers stay.

Biomass (:func:`biomass`, in the form of CCI Biomass) follows the same states: natural forest from
terrain vigour, plantations from their age (rubber 185·(1 − e^(−0.10·a))^2.5, areca
33.5·(1 − e^(−0.22·a))^7, other min(10·a, 120) Mg/ha), regrowth min(3.4·a, 200) Mg/ha with a the
years since the first shrubland year.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from sinkmap.grid import Grid

# WorldCover class codes used by the landscape.
TREE, SHRUB, GRASS, CROP, BUILT, BARE, WATER = 10, 20, 30, 40, 50, 60, 80
# Subtypes carried alongside the class: the codes of the forest_type legend (1-4) and of the
# carbon state's strata (1-5) in sinkmap.legends. OTHER is land without woody vegetation (and
# everything that is neither forest nor plantation).
OTHER, NATURAL, RUBBER, ARECA, OTHER_PLANTATION, REGROWTH = 0, 1, 2, 3, 4, 5
PLANTATIONS = (RUBBER, ARECA, OTHER_PLANTATION)
#: Rotation length (years) of each plantation type.
ROTATION: dict[int, int] = {RUBBER: 30, ARECA: 40, OTHER_PLANTATION: 7}
#: Age (years since planting) from which a replanted plantation is shrubland, and tree cover.
SHRUB_FROM_AGE: dict[int, int] = {RUBBER: 2, ARECA: 2, OTHER_PLANTATION: 1}
TREE_FROM_AGE: dict[int, int] = {RUBBER: 4, ARECA: 4, OTHER_PLANTATION: 2}
#: Forest Management Layer (Lesiv et al. 2022) code of each subtype in forest or plantation.
FML_CODE: dict[int, int] = {NATURAL: 11, REGROWTH: 11, RUBBER: 31, OTHER_PLANTATION: 32, ARECA: 53}
#: FAO Global Ecological Zones 2010 codes used: tropical moist forest, tropical mountain system.
GEZ_MOIST, GEZ_MOUNTAIN = 12, 16
#: The terrain index above which the ground is tropical mountain system (~20 % of the county).
MOUNTAIN_ELEV = 0.50

#: Version of the synthetic landscape, recorded in every demo file's provenance (``?landscape=``):
#: raised whenever a generator's output changes, so demo inputs fetched by an older version are
#: found (:func:`sinkmap.sources.demo.check_landscape_version`) rather than silently reused.
LANDSCAPE_VERSION = 3

_LON0, _LAT0 = 109.40, 18.38  # local origin of the metric frame
_KX = 111_320.0 * np.cos(np.deg2rad(18.6))  # metres per degree of longitude
_KY = 110_600.0  # metres per degree of latitude
TOWN_LON, TOWN_LAT = 109.700, 18.640
_FIRST_CLEARING_YEAR = 2012
_CLEARING_YEARS = 20  # clearing years span 2012..2031
_RATE_NATURAL = 0.001  # share of natural-forest cells cleared per year
_CROP_YEARS, _SHRUB_YEARS = 2, 2  # a natural-forest clearing is cropland, then shrubland
#: Historical logging of natural forest (before Hainan's logging ban of 1994): share of the 700 m
#: cells of the lowland (tropical moist forest) and of the mountains logged, and the years over
#: which they were, uniformly; the forest regenerated naturally the year after.
_LOGGED_LOWLAND, _LOGGED_MOUNTAIN = 0.6, 0.2
_LOGGING_FROM, _LOGGING_TO = 1960, 1994
_BLOCK = 200.0  # m, side of a plantation block (one planting phase)
_BLOCK_WOBBLE = 90.0  # m, how far block edges are pushed by noise


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


def _cell_hash01(cy: np.ndarray, cx: np.ndarray, seed: int) -> np.ndarray:
    """:func:`_hash01` of each pixel's lattice cell, ``(cy.size, cx.size)``: taken once per cell
    and repeated over its pixels. ``cy`` and ``cx`` are the cells of the rows and columns (pixel
    centres in order, so a cell's pixels are consecutive); the same numbers as hashing every
    pixel, 10x faster."""

    def runs(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        return c[starts], np.diff(np.r_[starts, c.size])

    (vy, ny), (vx, nx) = runs(np.asarray(cy)), runs(np.asarray(cx))
    return np.repeat(np.repeat(_hash01(vy[:, None], vx[None, :], seed), ny, 0), nx, 1)


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
    # a * (1 - fy) + b * fy over the pixels, in place (the same float32 operations, fewer passes)
    out = along_x[jy]
    out *= (1 - fy)[:, None]
    far = along_x[jy + 1]
    far *= fy[:, None]
    out += far
    return out


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


def _elevation(x: np.ndarray, y: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Terrain index (~0.2-0.65 over the county): rolling hills rising to the north."""
    north = np.clip((np.asarray(lat, float) - 18.45) / 0.35, 0, 1).astype(np.float32)[:, None]
    return 0.62 * fbm(x, y, 12_000.0, 4, seed=2) + 0.38 * north


def _phase01(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A number in [0, 1) per plantation block (~200 m blocks whose edges wobble, noise-warped),
    spread evenly over the blocks: a Kronecker (Weyl) sequence of the block indices, so every
    phase of a rotation covers the same share of the plantations, year after year, as in a
    plantation in steady state (a hash would leave each year's share a few per cent off)."""
    wx = x[None, :] + _BLOCK_WOBBLE * (2.0 * value_noise(x, y, 500.0, seed=43) - 1.0)
    wy = y[:, None] + _BLOCK_WOBBLE * (2.0 * value_noise(x, y, 500.0, seed=47) - 1.0)
    bx = np.floor(wx / _BLOCK).astype(np.int64)
    by = np.floor(wy / _BLOCK).astype(np.int64)
    weyl = (bx % 100_003) * 0.6180339887498949 + (by % 100_019) * 0.7548776662466927
    return np.mod(weyl, 1.0)


class _Scene(NamedTuple):
    cls: np.ndarray  # uint8 WorldCover class
    sub: np.ndarray  # uint8 subtype
    planted: np.ndarray  # int32 year of the last planting (plantations), else 0
    shrub_since: np.ndarray  # int32 first shrubland year after a clearing (regrowth), else 0
    elev: np.ndarray  # float32 terrain index
    x: np.ndarray
    y: np.ndarray


def _scene(lon: np.ndarray, lat: np.ndarray, year: int) -> _Scene:
    """Everything :func:`landscape`, :func:`biomass` and :func:`planting_year` read."""
    x, y = _metres(lon, lat)
    shape = (y.size, x.size)
    elev = _elevation(x, y, lat)
    drain = fbm(x, y, 9_000.0, 3, seed=7)
    creek = np.abs(drain - 0.5)
    river = np.abs(_river_offset(x, y))
    valley = ((creek < 0.05) | (river < 1_600.0)) & (elev < 0.52)

    cls = np.full(shape, TREE, dtype=np.uint8)
    sub = np.full(shape, NATURAL, dtype=np.uint8)

    # Plantations on the lower slopes, most likely lowest down; natural forest above them. Areca
    # on the slopes nearest the valleys and cropland, patches of eucalyptus/acacia, rubber elsewhere.
    patches = fbm(x, y, 2_500.0, 2, seed=13)
    plantation = (patches - 1.6 * (elev - 0.42) > 0.54) & (elev < 0.56)
    near_valley = ((creek < 0.075) | (river < 2_400.0)) & (elev < 0.47)
    areca = plantation & near_valley
    other = plantation & ~areca & (value_noise(x, y, 1_100.0, seed=59) > 0.83)
    sub[plantation] = RUBBER
    sub[areca] = ARECA
    sub[other] = OTHER_PLANTATION

    field = value_noise(x, y, 450.0, seed=11)
    crop = valley & (field > 0.40)
    grass = valley & ~crop & (field < 0.16)
    cls[crop], sub[crop] = CROP, OTHER
    cls[grass], sub[grass] = GRASS, OTHER
    ridge = elev > 0.86
    cls[ridge & (value_noise(x, y, 300.0, seed=19) > 0.6)] = SHRUB

    # Rotations: a block's phase gives its planting years; land cover follows the age.
    phase01 = _phase01(x, y)
    planted = np.zeros(shape, dtype=np.int32)
    for code in PLANTATIONS:
        mask = sub == code
        rotation = ROTATION[code]
        phase = np.floor(phase01[mask] * rotation).astype(np.int32)
        last = year - np.mod(year - phase, rotation)
        planted[mask] = last
        age = year - last
        cls[mask] = np.where(
            age < SHRUB_FROM_AGE[code], GRASS, np.where(age < TREE_FROM_AGE[code], SHRUB, TREE)
        )

    # Natural-forest clearings: each 700 m cell has a clearing year; blobs of 350 m noise inside it.
    cx = np.floor(x / 700.0).astype(np.int64)
    cy = np.floor(y / 700.0).astype(np.int64)
    h = _cell_hash01(cy, cx, seed=23)
    cleared_once = (h < _RATE_NATURAL * _CLEARING_YEARS) & (cls == TREE) & (sub == NATURAL)
    cleared_once &= value_noise(x, y, 350.0, seed=17) > 0.45
    clear_year = _FIRST_CLEARING_YEAR + np.floor(h / _RATE_NATURAL).astype(np.int32)
    age = year - clear_year
    fresh = cleared_once & (age >= 0) & (age < _CROP_YEARS)
    regrowing = cleared_once & (age >= _CROP_YEARS)
    young = regrowing & (age < _CROP_YEARS + _SHRUB_YEARS)
    cls[fresh], sub[fresh] = CROP, OTHER
    cls[young] = SHRUB
    sub[regrowing] = REGROWTH
    shrub_since = np.where(regrowing, clear_year + _CROP_YEARS, 0).astype(np.int32)

    # Villages on a 3.5 km lattice, in valleys; quarries on a 6 km lattice.
    for cell, seed, radius, code, where in (
        (3_500.0, 29, 120.0, BUILT, valley),
        (6_000.0, 31, 70.0, BARE, ~valley),
    ):
        vx, vy = np.floor(x / cell), np.floor(y / cell)
        jx = (vx + 0.2 + 0.6 * _cell_hash01(vy, vx, seed)) * cell
        jy = (vy[:, None] + 0.2 + 0.6 * _cell_hash01(vy, vx, seed + 1)) * cell
        exists = _cell_hash01(vy, vx, seed + 2) < 0.6
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

    # Natural forest logged before 1994 and regenerated since (secondary forest): its stand year.
    lx = np.floor(x / 700.0).astype(np.int64)
    ly = np.floor(y / 700.0).astype(np.int64)
    u = _cell_hash01(ly, lx, seed=61)
    share = np.where(elev > MOUNTAIN_ELEV, _LOGGED_MOUNTAIN, _LOGGED_LOWLAND)
    logged = (u < share) & (sub == NATURAL)
    span = _LOGGING_TO - _LOGGING_FROM + 1
    regenerated = _LOGGING_FROM + 1 + np.floor(u / np.maximum(share, 1e-9) * span).astype(np.int32)
    planted = np.where(logged, np.minimum(regenerated, _LOGGING_TO + 1), planted)

    planted[~(np.isin(sub, PLANTATIONS) | logged)] = 0
    shrub_since[sub != REGROWTH] = 0
    return _Scene(cls, sub, planted, shrub_since, elev, x, y)


def landscape(lon: np.ndarray, lat: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Land-cover class (WorldCover codes) and subtype at pixel centres ``lat[:, None] x lon[None, :]``.

    Returns two uint8 arrays of shape ``(lat.size, lon.size)``. Subtypes: :data:`OTHER` (0),
    :data:`NATURAL` (1), :data:`RUBBER` (2), :data:`ARECA` (3), :data:`OTHER_PLANTATION` (4),
    :data:`REGROWTH` (5).
    """
    scene = _scene(lon, lat, year)
    return scene.cls, scene.sub


def planting_year(lon: np.ndarray, lat: np.ndarray, year: int) -> np.ndarray:
    """Year the stand was established: the last planting of plantation pixels (subtypes 2-4), the
    regeneration year of natural forest logged before 1994 (secondary forest); 0 elsewhere
    (old-growth forest, land without trees).

    uint16 of shape ``(lat.size, lon.size)``; ``year - planting_year`` is the stand's age.
    """
    return _scene(lon, lat, year).planted.astype(np.uint16)


def forest_type(lon: np.ndarray, lat: np.ndarray, year: int) -> np.ndarray:
    """Forest management in the codes of the Forest Management Layer (Lesiv et al. 2022), uint8.

    Natural forest and regrowth in tree cover 11 (naturally regenerating, no signs of management;
    20, with signs of management, where it was logged before 1994),
    rubber 31 (planted forest), other plantation 32 (plantation forest, rotation up to 15 years),
    areca 53 (agroforestry), also while a plantation is replanted; 0 elsewhere (no forest).
    """
    scene = _scene(lon, lat, year)
    cls, sub = scene.cls, scene.sub
    out = np.zeros(cls.shape, dtype=np.uint8)
    forest = (cls == TREE) & ((sub == NATURAL) | (sub == REGROWTH))
    out[forest] = FML_CODE[NATURAL]
    out[forest & (sub == NATURAL) & (scene.planted > 0)] = 20  # logged: signs of management
    for code in PLANTATIONS:
        out[sub == code] = FML_CODE[code]
    return out


def ecozone(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """FAO Global Ecological Zone 2010 code, uint8: 16 (tropical mountain system) where the terrain
    index exceeds :data:`MOUNTAIN_ELEV` (the higher, mostly northern ground), 12 (tropical moist
    forest) elsewhere."""
    x, y = _metres(lon, lat)
    elev = _elevation(x, y, lat)
    return np.where(elev > MOUNTAIN_ELEV, GEZ_MOUNTAIN, GEZ_MOIST).astype(np.uint8)


def biomass(lon: np.ndarray, lat: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Above-ground biomass and its standard deviation (Mg dry matter / ha), float32.

    Natural forest: 140 + 260·vigour + 40·local noise, 200-380 Mg/ha at altitude (IPCC Table 4.7
    gives 280 for Asian tropical rain forest; Jianfengling plots hold ~450-500). Plantations by age
    a = year − planting year, whatever their land cover: rubber 185·(1 − e^(−0.10·a))^2.5, areca
    33.5·(1 − e^(−0.22·a))^7, other plantation min(10·a, 120). Regrowth after a natural-forest
    clearing: min(3.4·a, 200) with a the years since the first shrubland year. Otherwise shrubland
    25, grassland 8, cropland 6, built-up 4, bare 2, water 0. SD: 0.3·AGB + 12 where AGB > 0.
    """
    scene = _scene(lon, lat, year)
    cls, sub = scene.cls, scene.sub
    local = value_noise(scene.x, scene.y, 800.0, seed=41)
    agb = np.zeros(cls.shape, dtype=np.float32)
    agb[cls == SHRUB] = 25.0
    agb[cls == GRASS] = 8.0
    agb[cls == CROP] = 6.0
    agb[cls == BUILT] = 4.0
    agb[cls == BARE] = 2.0
    natural = (cls == TREE) & (sub == NATURAL)
    agb[natural] = (140.0 + 260.0 * scene.elev + 40.0 * local)[natural]
    age = (year - scene.planted).astype(np.float32)
    rubber, areca, other = sub == RUBBER, sub == ARECA, sub == OTHER_PLANTATION
    agb[rubber] = 185.0 * (1.0 - np.exp(-0.10 * age[rubber])) ** 2.5
    agb[areca] = 33.5 * (1.0 - np.exp(-0.22 * age[areca])) ** 7
    agb[other] = np.minimum(10.0 * age[other], 120.0)
    regrowth = sub == REGROWTH
    agb[regrowth] = np.minimum(3.4 * (year - scene.shrub_since[regrowth]), 200.0)
    sd = np.where(agb > 0, 0.3 * agb + 12.0, 0.0).astype(np.float32)
    return agb, sd


def write_landcover(path: str | Path, grid: Grid, year: int, *, strip: int = 1024) -> None:
    """Write the synthetic land cover for ``year`` onto any ``grid`` (:func:`write_layer`)."""
    write_layer(path, grid, year, "land_cover", strip=strip)


#: Layers :func:`write_layer` writes, with their dtype.
GRID_LAYERS: dict[str, str] = {
    "land_cover": "uint8",
    "forest_type": "uint8",
    "planting_year": "uint16",
    "ecozone": "uint8",
}


def write_layer(
    path: str | Path, grid: Grid, year: int, layer: str = "land_cover", *, strip: int = 1024
) -> None:
    """Write one synthetic layer for ``year`` onto any ``grid`` (nodata 0), as the aligned inputs
    of a run: ``land_cover`` (WorldCover codes), ``forest_type`` (codes of the ``forest_type``
    legend: 1 natural forest, 2 rubber, 3 areca, 4 other plantation), ``planting_year`` or
    ``ecozone`` (FAO GEZ code).

    For benchmarks and tests of large rasters: pixel (row, col) takes the landscape at lon
    109.40 + 9e-5·col, lat 18.85 − 9e-5·row (about 10 m steps), whatever the grid's CRS, so the
    class mix is Baoting's at any size. Written ``strip`` rows at a time (bounded memory).
    """
    import rasterio

    if layer not in GRID_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; use one of {sorted(GRID_LAYERS)}")
    step = 9.0e-5
    profile = grid.profile(dtype=GRID_LAYERS[layer], nodata=0) | {"compress": "DEFLATE"}
    lon = 109.40 + (np.arange(grid.width) + 0.5) * step
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, grid.height, strip):
            rows = min(strip, grid.height - r0)
            lat = 18.85 - (r0 + np.arange(rows) + 0.5) * step
            if layer == "ecozone":
                out = ecozone(lon, lat)
            else:
                scene = _scene(lon, lat, year)
                if layer == "land_cover":
                    out = scene.cls
                elif layer == "planting_year":
                    out = scene.planted.astype(np.uint16)
                else:
                    sub = np.where(scene.sub == REGROWTH, NATURAL, scene.sub)
                    out = np.where((scene.cls == TREE) | np.isin(sub, PLANTATIONS), sub, 0)
                    out = out.astype(np.uint8)
            dst.write(out, 1, window=((r0, r0 + rows), (0, grid.width)))
