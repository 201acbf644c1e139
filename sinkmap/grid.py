"""The canonical target grid of a run: one CRS, one transform, one shape, cut into chunks.

Every raster of a run is warped onto this grid, so all layers align pixel for pixel. The grid is a
value (like odc-geo's GeoBox): it is derived once from the AOI, written as a small JSON file, and
read by every later step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from rasterio.windows import Window

from sinkmap.constants import M2_PER_HA
from sinkmap.errors import GridError
from sinkmap.files import atomic_path

if TYPE_CHECKING:  # pyproj is imported where a CRS is worked with, not by every grid user
    from pyproj import CRS, Geod, Transformer

#: Pixels per side of the block on which true cell areas are evaluated in projected grids.
#: The areal scale factor of a conformal projection varies by < 1e-6 across 16 pixels of 10 m.
AREA_BLOCK = 16


@dataclass(frozen=True)
class Tile:
    """One chunk of the grid: an id, and its window in grid pixel coordinates."""

    id: str
    row: int
    col: int
    row_off: int
    col_off: int
    height: int
    width: int

    @property
    def window(self) -> Window:
        return Window(self.col_off, self.row_off, self.width, self.height)

    @property
    def slices(self) -> tuple[slice, slice]:
        return (
            slice(self.row_off, self.row_off + self.height),
            slice(self.col_off, self.col_off + self.width),
        )


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: ``crs``, pixel ``resolution``, upper-left corner, shape and chunk size.

    Attributes
    ----------
    crs:
        CRS as an authority string (``"EPSG:32649"``) or WKT.
    resolution:
        Pixel size in CRS units (metres for a projected CRS).
    left, top:
        Upper-left corner of the grid, a whole multiple of ``resolution``.
    width, height:
        Number of columns and rows.
    chunk:
        Side of a processing chunk (and a tile) in pixels.
    """

    crs: str
    resolution: float
    left: float
    top: float
    width: int
    height: int
    chunk: int = 2048

    def __post_init__(self) -> None:
        if self.resolution <= 0:
            raise GridError(
                f"grid resolution must be > 0, got {self.resolution}; set grid.resolution"
            )
        if self.width <= 0 or self.height <= 0:
            raise GridError(
                f"grid has no pixels ({self.width} x {self.height}); the AOI is smaller than one "
                "pixel: use a finer grid.resolution or a larger AOI"
            )
        if self.chunk < 16:
            raise GridError(
                f"grid chunk must be at least 16 pixels, got {self.chunk}; set grid.chunk"
            )

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_bounds(
        cls,
        bounds: tuple[float, float, float, float],
        *,
        crs: str,
        resolution: float,
        chunk: int = 2048,
    ) -> Grid:
        """Smallest grid aligned to whole multiples of ``resolution`` that covers ``bounds``."""
        from pyproj import CRS

        crs_obj = CRS.from_user_input(crs)
        if crs_obj.is_geographic and resolution > 1:
            raise GridError(
                f"grid.resolution {resolution} is in degrees for the geographic CRS {crs}; "
                "use a projected CRS such as EPSG:32649 (UTM 49N) for a metre resolution"
            )
        minx, miny, maxx, maxy = bounds
        if not (minx < maxx and miny < maxy):
            raise GridError(f"bounds {bounds} are empty; check the AOI geometry")
        left = math.floor(minx / resolution) * resolution
        right = math.ceil(maxx / resolution) * resolution
        bottom = math.floor(miny / resolution) * resolution
        top = math.ceil(maxy / resolution) * resolution
        width = int(round((right - left) / resolution))
        height = int(round((top - bottom) / resolution))
        return cls(
            crs=_crs_string(crs_obj),
            resolution=float(resolution),
            left=float(left),
            top=float(top),
            width=width,
            height=height,
            chunk=int(chunk),
        )

    # -- geometry ----------------------------------------------------------------------------
    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.left, 0.0, -self.resolution, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            self.left,
            self.top - self.height * self.resolution,
            self.left + self.width * self.resolution,
            self.top,
        )

    @property
    def crs_obj(self) -> CRS:
        from pyproj import CRS

        return CRS.from_user_input(self.crs)

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Dask chunk sizes along rows and columns."""
        return (_split(self.height, self.chunk), _split(self.width, self.chunk))

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def tiles(self) -> Iterator[Tile]:
        """The chunks of the grid, row-major, with ids ``r{row:03d}c{col:03d}``."""
        row_off = 0
        for r, h in enumerate(self.chunks[0]):
            col_off = 0
            for c, w in enumerate(self.chunks[1]):
                yield Tile(f"r{r:03d}c{c:03d}", r, c, row_off, col_off, h, w)
                col_off += w
            row_off += h

    def tile_bounds(self, tile: Tile) -> tuple[float, float, float, float]:
        left = self.left + tile.col_off * self.resolution
        top = self.top - tile.row_off * self.resolution
        return (left, top - tile.height * self.resolution, left + tile.width * self.resolution, top)

    # -- areas -------------------------------------------------------------------------------
    def cell_area_ha(self, window: Window) -> np.ndarray:
        """True (ellipsoidal) area in hectares of every cell in ``window``, float64.

        For a geographic grid the area of each row of cells is exact on the ellipsoid. For a
        projected grid the planar cell area is divided by the projection's areal scale factor
        (pyproj ``get_factors``), evaluated at the centre of each 16 x 16 block of cells; in UTM the
        factor changes by less than 1e-6 across such a block.
        """
        row_off, col_off = int(window.row_off), int(window.col_off)
        height, width = int(window.height), int(window.width)
        crs = self.crs_obj
        if crs.is_geographic:
            geod = _geod(crs)
            tops = self.top - (row_off + np.arange(height)) * self.resolution
            areas = np.array(
                [_geographic_cell_area(geod, t, self.resolution) for t in tops], dtype="float64"
            )
            return np.broadcast_to((areas / M2_PER_HA)[:, None], (height, width)).copy()
        planar_m2 = self.resolution**2 * _metres_per_unit(crs) ** 2
        b = AREA_BLOCK
        # Block centres on the lattice of whole blocks containing the window (stable across chunks).
        r0, c0 = row_off // b, col_off // b
        r1, c1 = (row_off + height - 1) // b + 1, (col_off + width - 1) // b + 1
        rows = (np.arange(r0, r1) * b + b / 2) * -self.resolution + self.top
        cols = (np.arange(c0, c1) * b + b / 2) * self.resolution + self.left
        xx, yy = np.meshgrid(cols, rows)
        lon, lat = _to_lonlat(self.crs).transform(xx, yy)
        from pyproj import Proj

        factors = Proj(crs).get_factors(lon, lat, errcheck=False)
        scale = np.asarray(factors.areal_scale, dtype="float64").reshape(xx.shape)
        block_area = planar_m2 / scale / M2_PER_HA
        full = np.repeat(np.repeat(block_area, b, axis=0), b, axis=1)
        rs, cs = row_off - r0 * b, col_off - c0 * b
        return np.ascontiguousarray(full[rs : rs + height, cs : cs + width])

    # -- rasterio ----------------------------------------------------------------------------
    def profile(
        self, *, dtype: str, nodata: float | int | None, blocksize: int = 512
    ) -> dict[str, Any]:
        """A rasterio creation profile for a single-band tiled GeoTIFF on this grid."""
        return {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": 1,
            "dtype": dtype,
            "nodata": nodata,
            "crs": self.crs,
            "transform": self.transform,
            "tiled": True,
            "blockxsize": blocksize,
            "blockysize": blocksize,
        }

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, path: str | Path) -> None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> Grid:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**data)


def _split(n: int, size: int) -> tuple[int, ...]:
    full, rest = divmod(n, size)
    return (size,) * full + ((rest,) if rest else ())


def _crs_string(crs: CRS) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()


def _metres_per_unit(crs: CRS) -> float:
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return float(factor)


def _to_lonlat(crs: str) -> Transformer:
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _geod(crs: CRS) -> Geod:
    from pyproj import Geod

    ell = crs.ellipsoid
    if ell is None:
        return Geod(ellps="WGS84")
    return Geod(a=ell.semi_major_metre, rf=ell.inverse_flattening or 0.0)


def _geographic_cell_area(geod: Geod, top: float, res: float) -> float:
    area, _ = geod.polygon_area_perimeter([0.0, res, res, 0.0], [top, top, top - res, top - res])
    return abs(area)
