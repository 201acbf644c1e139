"""Warp any input onto the run's grid, decode it and mask it to the AOI, one chunk at a time.

Each chunk warps straight from the source files (GDAL reads only the source blocks it needs, so a
remote COG is read by window too). Several source tiles are composited into the same chunk.
Resampling follows the kind of data: nearest neighbour for classes (mode when the source is much
finer than the grid), average for continuous values from a finer source, bilinear from a coarser one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from sinkmap.aoi import AOI, aoi_mask, polygon_mask
from sinkmap.errors import ConfigError, InputDataError
from sinkmap.grid import Grid

#: Kinds of input and the array each aligns to: (dtype, nodata).
KINDS: dict[str, tuple[str, float | int]] = {
    "categorical": ("uint8", 0),  # class codes (WorldCover convention: 0 = nodata)
    "index": ("uint16", 0),  # whole numbers such as a planting year (0 = nodata)
    "continuous": ("float32", float("nan")),  # physical quantities
}


def choose_resampling(kind: str, source_pixel_m: float, grid_pixel_m: float) -> Resampling:
    """Resampling for ``kind`` (:data:`KINDS`) given both pixel sizes in metres: the most common
    value (mode) or the nearest for codes and whole numbers; the mean or bilinear for quantities."""
    finer = source_pixel_m < grid_pixel_m / 1.5
    if kind in ("categorical", "index"):
        return Resampling.mode if finer else Resampling.nearest
    if kind == "continuous":
        return Resampling.average if finer else Resampling.bilinear
    raise ConfigError(f"kind must be one of {sorted(KINDS)}, got {kind!r}; fix the dataset's kind")


def source_pixel_metres(path: str | Path) -> float:
    """Approximate pixel size of a raster in metres (degrees converted at the raster's centre)."""
    with rasterio.open(path) as src:
        res = abs(src.transform.a)
        crs = CRS.from_user_input(src.crs)
        if crs.is_geographic:
            lat = (src.bounds.top + src.bounds.bottom) / 2
            return float(res * 111_320.0 * np.cos(np.deg2rad(lat)))
        return float(res * crs.axis_info[0].unit_conversion_factor)


def warp_chunk(
    paths: Sequence[str | Path],
    grid: Grid,
    window: Window,
    *,
    resampling: Resampling,
    dtype: str,
    dst_nodata: float | int,
    src_nodata: float | int | None = None,
) -> np.ndarray:
    """One chunk of the grid filled from ``paths`` (later files fill only what earlier left empty).

    A cell takes a file's value only if the cell centre lies inside the file's footprint: GDAL's
    averaging kernels would otherwise fill cells that the file merely touches, and at a seam between
    two tiles the later tile would overwrite the earlier one's edge.
    """
    shape = (int(window.height), int(window.width))
    dst = np.full(shape, dst_nodata, dtype=dtype)
    for path in paths:
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise _unreadable(path, exc) from exc
        with src:
            nodata = src_nodata if src_nodata is not None else src.nodata
            part = np.full(shape, dst_nodata, dtype=dtype)
            try:
                reproject(
                    source=rasterio.band(src, 1),
                    destination=part,
                    src_transform=src.transform,
                    src_crs=src.crs,
                    src_nodata=nodata,
                    dst_transform=grid.window_transform(window),
                    dst_crs=grid.crs,
                    dst_nodata=dst_nodata,
                    resampling=resampling,
                )
            except rasterio.errors.RasterioError as exc:  # a block past the end of a cut file
                raise _unreadable(path, exc) from exc
            take = polygon_mask(_footprint(src, grid.crs), grid, window)
            take &= ~_is_nodata(part, dst_nodata) & _is_nodata(dst, dst_nodata)
            dst[take] = part[take]
    return dst


def _unreadable(path: str | Path, exc: Exception) -> InputDataError:
    return InputDataError(
        f"cannot read input {path} ({exc}): the file is corrupt or cut short; replace it with a "
        "good copy (the workflow sets a fetched file aside and fetches it anew)"
    )


def _is_nodata(values: np.ndarray, nodata: float | int) -> np.ndarray:
    return np.isnan(values) if isinstance(nodata, float) and np.isnan(nodata) else values == nodata


def _footprint(src: rasterio.io.DatasetReader, crs: str) -> shapely.Geometry:
    """The raster's extent as a polygon in ``crs`` (edges densified, so curved in a new projection)."""
    left, bottom, right, top = src.bounds
    box = shapely.segmentize(
        shapely.box(left, bottom, right, top), max(right - left, top - bottom) / 64
    )
    transformer = Transformer.from_crs(src.crs, crs, always_xy=True)
    return shapely.transform(
        box, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def aligned_array(
    paths: Sequence[str | Path],
    grid: Grid,
    aoi: AOI,
    *,
    kind: str,
    src_nodata: float | int | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
    resampling: Resampling | None = None,
) -> da.Array:
    """A lazy dask array of the inputs on ``grid``, decoded and masked to ``aoi``.

    Categorical inputs come back as uint8 with 0 as nodata (the WorldCover convention), index
    inputs (whole numbers such as years) as uint16 with 0 as nodata, continuous ones as float32
    in physical units (``value × scale + offset``) with NaN as nodata.
    """
    if not paths:
        raise InputDataError("no input files to align; check the fetch step's manifest")
    paths = [str(p) for p in paths]
    if resampling is None:
        resampling = choose_resampling(kind, source_pixel_metres(paths[0]), grid.resolution)
    aoi_grid = aoi.to_crs(grid.crs)
    integer = kind in ("categorical", "index")
    dtype, nodata = KINDS[kind]

    def _chunk(block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        window = Window(c0, r0, c1 - c0, r1 - r0)
        inside = aoi_mask(aoi_grid, grid, window)
        if not inside.any():
            return np.full(inside.shape, nodata, dtype)
        if integer:
            data = warp_chunk(
                paths,
                grid,
                window,
                resampling=resampling,
                dtype=dtype,
                dst_nodata=0,
                src_nodata=src_nodata,
            )
            data[~inside] = 0
            return data
        raw = warp_chunk(
            paths,
            grid,
            window,
            resampling=resampling,
            dtype="float32",
            dst_nodata=np.nan,
            src_nodata=src_nodata,
        )
        out = raw * np.float32(scale) + np.float32(offset)
        out[~inside] = np.nan
        return out

    return da.map_blocks(
        _chunk, chunks=grid.chunks, dtype=dtype, name=f"align-{da.core.tokenize(paths, grid, kind)}"
    )


class InputStats(NamedTuple):
    """What an aligned input holds inside the AOI: cells of the AOI, cells with a value, cells
    outside the plausible range, and the smallest and largest value (NaN when none)."""

    aoi_cells: int
    valid_cells: int
    outside_range: int
    low: float
    high: float

    @property
    def coverage(self) -> float:
        """The share of the AOI's cells with a value (0 when the AOI has no cell)."""
        return self.valid_cells / self.aoi_cells if self.aoi_cells else 0.0


def _block_stats(
    block: np.ndarray,
    aoi_grid: AOI,
    grid: Grid,
    window: Window,
    nodata: float | int,
    valid_range: tuple[float, float] | None,
) -> InputStats:
    inside = aoi_mask(aoi_grid, grid, window)
    values = np.asarray(block)[inside & ~_is_nodata(np.asarray(block), nodata)]
    if values.size == 0:
        return InputStats(int(inside.sum()), 0, 0, float("nan"), float("nan"))
    outside = 0
    if valid_range is not None:
        lo, hi = valid_range
        outside = int(np.count_nonzero((values < lo) | (values > hi)))
    return InputStats(
        int(inside.sum()), int(values.size), outside, float(values.min()), float(values.max())
    )


def _add_stats(parts: Sequence[InputStats]) -> InputStats:
    return InputStats(
        sum(p.aoi_cells for p in parts),
        sum(p.valid_cells for p in parts),
        sum(p.outside_range for p in parts),
        min((p.low for p in parts if p.valid_cells), default=float("nan")),
        max((p.high for p in parts if p.valid_cells), default=float("nan")),
    )


def input_stats(
    arr: da.Array,
    grid: Grid,
    aoi: AOI,
    *,
    kind: str,
    valid_range: tuple[float, float] | None = None,
) -> Any:
    """Delayed :class:`InputStats` of an aligned array (:func:`aligned_array`), chunk by chunk:
    computed in the same pass as the array's write when given to it as an extra result."""
    aoi_grid = aoi.to_crs(grid.crs)
    nodata = KINDS[kind][1]
    blocks = arr.to_delayed(optimize_graph=False).ravel()
    parts = [
        dask.delayed(_block_stats)(block, aoi_grid, grid, tile.window, nodata, valid_range)
        for tile, block in zip(grid.tiles(), blocks, strict=True)
    ]
    return dask.delayed(_add_stats)(parts)


def check_input_stats(
    stats: InputStats,
    what: str,
    *,
    role: str,
    units: str,
    min_coverage: float,
    valid_range: tuple[float, float] | None,
    out_of_range: str = "error",
) -> list[str]:
    """Refuse an aligned input with no value inside the AOI, or values outside its plausible
    range (``out_of_range="error"``); return the warnings to log (partial coverage, values out
    of range kept). ``what`` names the input in the messages (role, year, dataset)."""
    warnings: list[str] = []
    if stats.aoi_cells == 0:
        return warnings
    share = stats.coverage
    if min_coverage > 0 and stats.valid_cells == 0:
        raise InputDataError(
            f"{what} has no value inside the area of interest (0 of {stats.aoi_cells:,} cells): "
            "its files miss the AOI or hold only nodata. Check that the dataset covers the AOI "
            "(its tiles, year and version), that the AOI is where you mean it, and the dataset's "
            "nodata value in the dataset registry"
        )
    if share < min_coverage:
        warnings.append(
            f"{what} has a value in only {share:.1%} of the AOI's cells ({stats.valid_cells:,} "
            f"of {stats.aoi_cells:,}; expected at least {min_coverage:.0%}): the cells without "
            "one get no carbon. Check the dataset's extent over the AOI"
        )
    if valid_range is not None and stats.outside_range:
        lo, hi = valid_range
        message = (
            f"{what}: {stats.outside_range:,} of {stats.valid_cells:,} cells "
            f"({stats.outside_range / stats.valid_cells:.1%}) lie outside the plausible range "
            f"{lo:g} to {hi:g} {units} (values {stats.low:g} to {stats.high:g}). A wrong scale "
            "or unit (× 1,000, kg instead of Mg, a scale factor not applied) gives this: fix the "
            "input or the dataset's entry in the registry"
        )
        if out_of_range == "error":
            raise InputDataError(
                f"{message}, or set inputs.{role}.out_of_range: warn to keep the values"
            )
        warnings.append(message)
    return warnings
