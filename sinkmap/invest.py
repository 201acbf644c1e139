"""InVEST-Carbon-compatible single-raster commands, usable without a config file.

``sinkmap stock --lulc LULC.tif --pools POOLS.csv --out DIR`` and
``sinkmap change --lulc-bas A.tif --lulc-alt B.tif --pools POOLS.csv --out DIR`` run the lookup of
InVEST's Carbon Storage and Sequestration model (natcap.invest 3.20) on any projected land-cover
raster, on the raster's own grid (no warping), chunk by chunk on threads, and write the outputs under
InVEST's names as Cloud-Optimized GeoTIFFs::

    DIR/c_storage_bas.tif                          total carbon storage, baseline    Mg C/ha
    DIR/c_storage_alt.tif                          total carbon storage, alternate   Mg C/ha
    DIR/c_change_bas_alt.tif                       alternate minus baseline          Mg C/ha
    DIR/intermediate_outputs/c_{above,below,soil,dead}_{bas,alt}.tif   per pool      Mg C/ha
    DIR/summary.json                               the summary the command prints

Units follow the current InVEST release: since InVEST 3.15.0 the Carbon rasters hold Mg C per
*hectare* (earlier releases wrote Mg C per pixel), and the totals are Mg C, i.e. the sum of the pixel
values times the pixel area in hectares taken from the geotransform (planar, as InVEST does; not
the ellipsoidal cell area the workflow uses). Pixel values are float32 like InVEST's, and the totals
are computed from exactly those float32 values (from per-code pixel counts, in float64), so they
equal the sum of the written raster times the pixel area, and InVEST's totals to floating-point
precision (``bench/bench_invest.py``). The change raster uses InVEST's sign: **alternate minus
baseline**, positive where carbon is gained (sequestered), negative where it is lost — the opposite
of the inventory sign of the workflow's CO2e fluxes.

Differences from InVEST, all on purpose: nodata is NaN in every output (InVEST writes -1, which is
also a possible change value); the alternate raster must be on exactly the baseline's pixel grid
(InVEST checks only pixel size and dimensions); rasters must have square, north-up pixels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError

from sinkmap import __version__
from sinkmap.carbon import PoolTable
from sinkmap.constants import M2_PER_HA
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.files import atomic_path
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, read_window, write_tiles

#: The pools in InVEST's order; the per-pixel total is their float32 sum in this order, as InVEST's.
INVEST_POOLS: tuple[str, ...] = ("above", "below", "soil", "dead")
#: Units of every raster written here (InVEST >= 3.15.0: per hectare).
UNITS_DENSITY = "Mg C ha-1"
#: Units of every total in the summary.
UNITS_TOTAL = "Mg C"
#: Sign of the change raster and of the change totals (InVEST's).
CHANGE_SIGN = (
    "alternate minus baseline (alt - bas): positive = carbon gained (sequestered), "
    "negative = carbon lost"
)
INVEST_COMPAT = (
    "InVEST Carbon Storage and Sequestration 3.20 (natcap.invest): same file names; pixel values "
    "in Mg C per hectare as in InVEST >= 3.15.0 (earlier releases wrote Mg C per pixel)"
)
_POOL_NAMES = {
    "above": "above-ground biomass",
    "below": "below-ground biomass",
    "soil": "soil organic carbon",
    "dead": "dead organic matter",
}
_SCENARIOS = {"bas": "baseline", "alt": "alternate"}
#: The layers of a scenario, in the order they are written: the pools, then their total.
_STOCK_KEYS: tuple[str, ...] = (*INVEST_POOLS, "total")
#: Largest joint histogram of (alternate row, baseline row) counted with ``bincount`` per chunk.
_MAX_JOINT_BINS = 1 << 22


# -- inputs -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LulcRaster:
    """A land-cover raster checked for use here, and the :class:`Grid` of its own pixels."""

    path: Path
    grid: Grid
    nodata: int | None
    pixel_area_m2: float
    dtype: str
    crs_name: str


def open_lulc(path: str | Path, *, chunk: int = 2048) -> LulcRaster:
    """Check a LULC raster (projected CRS in metres, integer codes, square north-up pixels).

    Returns it with a :class:`~sinkmap.grid.Grid` that matches its own transform, CRS and shape, so
    its tiles are read window by window without warping. Raises
    :class:`InputDataError` saying how to fix the raster otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"LULC raster {path} does not exist; give the path of a GeoTIFF")
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputDataError(
            f"cannot open LULC raster {path}: {exc}; give a GeoTIFF (or another GDAL raster)"
        ) from exc
    with ds:
        crs, t, width, height = ds.crs, ds.transform, ds.width, ds.height
        dtype, nodata = ds.dtypes[0], ds.nodata
    if crs is None:
        raise InputDataError(
            f"LULC raster {path} has no coordinate reference system; assign its projected CRS, "
            f"e.g. gdal_edit.py -a_srs EPSG:32649 {path}"
        )
    if crs.is_geographic or not crs.is_projected:
        kind = "the geographic CRS" if crs.is_geographic else "the CRS"
        what = "(degrees)" if crs.is_geographic else "(not a projected one)"
        raise InputDataError(
            f"LULC raster {path} is in {kind} '{_wkt_name(crs)}' {what}: pixel areas "
            "need a projected CRS in metres, as in InVEST Carbon, which refuses such rasters too. "
            f"Reproject it first, e.g. gdalwarp -t_srs EPSG:32649 -tr 10 10 -r near {path} "
            "lulc_utm.tif (EPSG:32649 = UTM 49N, Hainan; use the UTM zone of your area)"
        )
    try:
        unit, factor = crs.linear_units_factor
    except CRSError:
        unit, factor = "unknown", float("nan")
    if factor != 1.0:
        raise InputDataError(
            f"LULC raster {path} is in '{_wkt_name(crs)}', whose unit is {unit}, not metre; InVEST "
            f"Carbon needs metres too. Reproject it to a metric CRS, e.g. gdalwarp -t_srs "
            f"EPSG:32649 -r near {path} lulc_utm.tif"
        )
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise InputDataError(
            f"LULC raster {path} is rotated or not north-up (geotransform {tuple(t)[:6]}); "
            f"resample it to a north-up grid: gdalwarp -r near {path} lulc_northup.tif"
        )
    if abs(t.a + t.e) > 1e-9 * t.a:
        raise InputDataError(
            f"LULC raster {path} has non-square pixels ({t.a} x {-t.e}); resample it to square "
            f"pixels: gdalwarp -tr {t.a} {t.a} -r near {path} lulc_square.tif"
        )
    if not np.issubdtype(np.dtype(dtype), np.integer):
        raise InputDataError(
            f"LULC raster {path} holds {dtype} values; land-cover codes must be integers "
            f"(InVEST needs that too): gdal_translate -ot Int32 {path} lulc_int.tif"
        )
    return LulcRaster(
        path=path,
        grid=Grid(
            crs=crs.to_wkt(),
            resolution=float(t.a),
            left=float(t.c),
            top=float(t.f),
            width=int(width),
            height=int(height),
            chunk=int(chunk),
        ),
        nodata=_integer_nodata(nodata, dtype),
        pixel_area_m2=abs(t.a * t.e),  # from the geotransform, like InVEST's summary
        dtype=dtype,
        crs_name=_crs_name(crs),
    )


def _integer_nodata(nodata: float | None, dtype: str) -> int | None:
    """The raster's nodata as an int, or None if unset or not representable in ``dtype``."""
    if nodata is None or not np.isfinite(nodata) or float(nodata) % 1:
        return None
    info = np.iinfo(np.dtype(dtype))
    value = int(nodata)
    return value if info.min <= value <= info.max else None


def _wkt_name(crs: CRS) -> str:
    """The CRS's name, the first field of its WKT (what pyproj's ``CRS.name`` gives, without
    importing pyproj: 0.04 s of ``sinkmap stock``)."""
    match = re.match(r'\s*\w+\[\s*"((?:[^"]|"")*)"', crs.to_wkt())  # WKT doubles a quote in a name
    return match.group(1).replace('""', '"') if match else crs.to_string()


def _crs_name(crs: CRS) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]} ({_wkt_name(crs)})" if auth else _wkt_name(crs)


def _check_same_grid(bas: LulcRaster, alt: LulcRaster) -> None:
    a, b = alt.grid, bas.grid
    same = (
        (a.width, a.height) == (b.width, b.height)
        and rasterio.crs.CRS.from_wkt(a.crs) == rasterio.crs.CRS.from_wkt(b.crs)
        and a.transform.almost_equals(b.transform)
    )
    if not same:
        left, bottom, right, top = b.bounds
        raise InputDataError(
            f"the alternate LULC {alt.path} ({a.width}x{a.height} px of {a.resolution} m, "
            f"{alt.crs_name}, corner {a.left}, {a.top}) is not on the pixel grid of the baseline "
            f"{bas.path} ({b.width}x{b.height} px of {b.resolution} m, {bas.crs_name}, corner "
            f"{b.left}, {b.top}); warp it onto the baseline's grid: gdalwarp -t_srs "
            f"<baseline CRS> -te {left} {bottom} {right} {top} -tr {b.resolution} {b.resolution} "
            f"-r near {alt.path} alt_aligned.tif"
        )


# -- per-chunk maths --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Lookup:
    """Table rows by code, and float32 pool values by row; row ``n`` (the last) is nodata (NaN)."""

    codes: np.ndarray  # int64, table order
    n: int
    row_dtype: np.dtype
    values: Mapping[str, np.ndarray]  # pool or "total" -> float32[n + 1]
    name: str

    @classmethod
    def from_table(cls, table: PoolTable) -> _Lookup:
        n = len(table.codes)
        nan = np.float32(np.nan)
        values = {
            p: np.append(np.asarray(table.values[p], "float64").astype(np.float32), nan)
            for p in INVEST_POOLS
        }
        # InVEST sums the four float32 pool rasters with numpy.sum(stack, axis=0) in this order.
        values["total"] = np.sum(np.stack([values[p] for p in INVEST_POOLS]), axis=0)
        row_dtype = np.dtype(np.int16 if n < np.iinfo(np.int16).max else np.int32)
        return cls(table.codes, n, row_dtype, values, table.name)

    def row_lut(self, lulc_dtype: str, nodata: int | None) -> tuple[np.ndarray, bool]:
        """A code -> row array (-1: not in the table; ``n``: nodata) and whether it spans the dtype.

        For 8- and 16-bit unsigned rasters the array covers every possible value, so the codes
        can index the value tables directly (:class:`_Index`); otherwise codes outside
        ``0 … max(lucode)`` are checked separately (:func:`_rows`).
        """
        dt = np.dtype(lulc_dtype)
        full = dt.kind == "u" and dt.itemsize <= 2
        size = (1 << (8 * dt.itemsize)) if full else int(self.codes.max()) + 1
        lut = np.full(size, -1, dtype=self.row_dtype)
        lut[self.codes[self.codes < size]] = np.arange(self.n, dtype=self.row_dtype)[
            self.codes < size
        ]
        if full and nodata is not None:
            lut[nodata] = self.n  # nodata wins over a table row with the same code, as in InVEST
        return lut, full

    def index(self, lulc: LulcRaster) -> _Index:
        """How ``lulc``'s pixels index the value tables (:class:`_Index`)."""
        lut, by_code = self.row_lut(lulc.dtype, lulc.nodata)
        if not by_code:
            return _Index(lut, lut, False, self.values, self, lulc.nodata)
        # by code: the row of every possible code, unknown ones as nodata (NaN values; _Index.count
        # raises for them), and the row values spread over the codes
        rows = np.where(lut < 0, self.n, lut)
        values = {key: np.take(v, rows) for key, v in self.values.items()}
        return _Index(lut, rows, True, values, self, lulc.nodata)


@dataclass(frozen=True)
class _Index:
    """What a pixel's value-table index is, for one LULC raster.

    8- and 16-bit unsigned codes (``by_code``) are the index themselves: a chunk is converted to
    ``intp`` once, and each layer is one ``np.take`` from a table of every possible code, with no
    per-pixel row lookup; codes missing from the table are found in the chunk's histogram
    (:meth:`count`). Other rasters' codes are first mapped to table rows (:func:`_rows`, which
    checks them), and the row is the index.
    """

    lut: np.ndarray  # code -> row (-1: not in the table; n: nodata)
    rows_by_code: np.ndarray  # by code: code -> row, unknown codes as nodata (n)
    by_code: bool
    values: Mapping[str, np.ndarray]  # pool or "total" -> float32 by index
    lookup: _Lookup
    nodata: int | None

    def pixels(self, codes: np.ndarray) -> np.ndarray:
        """The index of every pixel of a chunk of codes, as ``intp`` (what ``np.take`` uses)."""
        if self.by_code:
            return codes.astype(np.intp)
        n = self.lookup.n
        return _rows(codes, lut=self.lut, nodata=self.nodata, n=n, table=self.lookup.name).astype(
            np.intp
        )

    def count(self, codes: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Pixels per table row (``n``: nodata) of a chunk; a code missing from the table raises."""
        n = self.lookup.n
        if not self.by_code:
            return np.bincount(index.ravel(), minlength=n + 1)
        hist = _histogram(codes, self.lut.size)
        unknown = (hist > 0) & (self.lut < 0)
        if unknown.any():
            raise UnknownClassError(np.flatnonzero(unknown).tolist(), self.lookup.name)
        return np.bincount(self.rows_by_code, weights=hist, minlength=n + 1).astype(np.int64)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The table row of every pixel of a chunk (unknown codes as nodata: :meth:`count` raises
        for them in the same pass)."""
        return np.take(self.rows_by_code, index) if self.by_code else index


def _rows(
    codes: np.ndarray, *, lut: np.ndarray, nodata: int | None, n: int, table: str
) -> np.ndarray:
    """Table row of every pixel (``n`` for nodata) of a raster whose codes are not all in ``lut``
    (signed or wider than 16 bits); a code absent from the table raises."""
    inside = (codes >= 0) & (codes < lut.size)
    rows = np.where(inside, lut[np.where(inside, codes, 0)], lut.dtype.type(-1))
    if nodata is not None:
        rows[codes == nodata] = n
    bad = rows < 0
    if bad.any():
        raise UnknownClassError(np.unique(codes[bad]).tolist(), table)
    return rows


def _histogram(codes: np.ndarray, size: int) -> np.ndarray:
    """Pixels per code of a chunk (``size`` bins). 8-bit codes are counted two at a time, each
    pair as one 16-bit number, then folded: half the elements for ``bincount`` to widen to
    ``intp``, 2.4x faster on a 4-Mpx chunk (4.6 vs 10.8 ms)."""
    flat = codes.ravel()
    if flat.dtype != np.uint8:
        return np.bincount(flat, minlength=size)
    odd = flat.size % 2
    pairs = np.bincount(
        np.ascontiguousarray(flat[: flat.size - odd]).view(np.uint16), minlength=1 << 16
    ).reshape(256, 256)
    hist = pairs.sum(axis=0) + pairs.sum(axis=1)  # one code of a pair per axis, either byte order
    if odd:
        hist[flat[-1]] += 1
    return hist


def _gather(index: np.ndarray, *, values: np.ndarray) -> np.ndarray:
    # an intp index of valid positions (codes of a full table, or checked rows): no conversion
    # and no bounds check ("clip" never clips); 2.1 ms for a 4-Mpx chunk, 5.7 ms from int16 rows
    return np.take(values, index, mode="clip")


def _change(
    index_alt: np.ndarray, index_bas: np.ndarray, *, alt: np.ndarray, bas: np.ndarray
) -> np.ndarray:
    # float32 - float32 like InVEST's numpy.subtract of the two storage rasters; NaN if either is
    return np.take(alt, index_alt, mode="clip") - np.take(bas, index_bas, mode="clip")


def _joint_count(
    index_alt: np.ndarray, index_bas: np.ndarray, *, alt: _Index, bas: _Index
) -> tuple[np.ndarray, ...]:
    """Pixel counts of each (alternate row, baseline row) pair in a chunk, as (keys, counts)."""
    n = alt.lookup.n
    keys = alt.rows(index_alt).astype(np.int64).ravel() * (n + 1) + bas.rows(index_bas).ravel()
    if (n + 1) ** 2 <= _MAX_JOINT_BINS:
        counts = np.bincount(keys, minlength=(n + 1) ** 2)
        nz = np.flatnonzero(counts)
        return nz, counts[nz]
    return np.unique(keys, return_counts=True)


def _sum_counts(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.sum(parts, axis=0)


def _merge_joint(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=counts, minlength=uniq.size).astype(np.int64)


# -- the commands -----------------------------------------------------------------------------------
def stock(
    lulc_path: str | Path,
    pools_csv: str | Path,
    out_dir: str | Path,
    *,
    threads: int | None = None,
    chunk: int = 2048,
    cog: bool = False,
) -> dict[str, Any]:
    """Carbon storage of one LULC raster, as InVEST Carbon's baseline scenario.

    Writes ``c_storage_bas.tif`` and ``intermediate_outputs/c_<pool>_bas.tif`` (Mg C/ha, float32,
    NaN nodata; tiled GeoTIFFs like InVEST's, or COGs with ``cog=True``) and ``summary.json`` under ``out_dir``, and returns the summary: totals per pool
    and in all, in Mg C (pixel values x pixel area from the geotransform). A code missing from the
    table raises :class:`~sinkmap.errors.UnknownClassError` and writes nothing.
    """
    table = PoolTable.from_csv(pools_csv)
    lulc = open_lulc(lulc_path, chunk=chunk)
    lookup = _Lookup.from_table(table)
    out_dir = Path(out_dir)
    by = lookup.index(lulc)
    layers = _stock_layers(by, lulc, "bas", out_dir, pools_csv)

    def blocks(tile: Tile) -> tuple[Iterator[np.ndarray], np.ndarray]:
        codes = read_window(lulc.path, tile.window)
        index = by.pixels(codes)
        count = by.count(codes, index)  # first: a code missing from the table raises here
        # one layer's block at a time, each written before the next is made
        return (_gather(index, values=by.values[key]) for key in _STOCK_KEYS), count

    count = _sum_counts(write_tiles(lulc.grid, layers, blocks, threads=threads, cog=cog))
    summary = {
        "command": "stock",
        "sinkmap_version": __version__,
        "lulc": str(lulc.path),
        "pools": str(pools_csv),
        **_raster_facts(lulc),
        "units": {"totals": UNITS_TOTAL, "rasters": UNITS_DENSITY},
        "baseline": _scenario_summary(count, lookup, lulc.pixel_area_m2),
        "outputs": {_key(p): str(p) for p in layers},
        "invest_compat": INVEST_COMPAT,
    }
    _write_summary(out_dir, summary)
    return summary


def change(
    lulc_bas: str | Path,
    lulc_alt: str | Path,
    pools_csv: str | Path,
    out_dir: str | Path,
    *,
    threads: int | None = None,
    chunk: int = 2048,
    cog: bool = False,
) -> dict[str, Any]:
    """Carbon storage of a baseline and an alternate LULC raster, and its change (alt - bas).

    Writes InVEST Carbon's rasters (``c_storage_bas.tif``, ``c_storage_alt.tif``,
    ``c_change_bas_alt.tif``, per-pool ``intermediate_outputs``; Mg C/ha, float32, NaN nodata; COGs with
    ``cog=True``)
    and ``summary.json`` under ``out_dir`` in one pass, and returns the summary: totals per pool for
    each scenario and their change, in Mg C. The change covers the pixels valid in both rasters; its
    ``total`` is the sum of ``c_change_bas_alt.tif`` times the pixel area. Both rasters must be on
    the same pixel grid.
    """
    table = PoolTable.from_csv(pools_csv)
    bas = open_lulc(lulc_bas, chunk=chunk)
    alt = open_lulc(lulc_alt, chunk=chunk)
    _check_same_grid(bas, alt)
    lookup = _Lookup.from_table(table)
    out_dir = Path(out_dir)
    layers, blocks = _change_plan(bas, alt, lookup, out_dir, pools_csv)
    parts = write_tiles(bas.grid, layers, blocks, threads=threads, cog=cog)
    count_bas = _sum_counts([p[0] for p in parts])
    count_alt = _sum_counts([p[1] for p in parts])
    joint = _merge_joint([p[2] for p in parts])
    summary = {
        "command": "change",
        "sinkmap_version": __version__,
        "lulc_bas": str(bas.path),
        "lulc_alt": str(alt.path),
        "pools": str(pools_csv),
        **_raster_facts(bas),
        "units": {"totals": UNITS_TOTAL, "rasters": UNITS_DENSITY},
        "baseline": _scenario_summary(count_bas, lookup, bas.pixel_area_m2),
        "alternate": _scenario_summary(count_alt, lookup, alt.pixel_area_m2),
        "change": _change_summary(joint, lookup, bas.pixel_area_m2),
        "outputs": {_key(p): str(p) for p in layers},
        "invest_compat": INVEST_COMPAT,
    }
    _write_summary(out_dir, summary)
    return summary


def _change_plan(
    bas: LulcRaster, alt: LulcRaster, lookup: _Lookup, out_dir: Path, pools_csv: str | Path
) -> tuple[dict[Path, LayerSpec], Callable[[Tile], tuple[Iterator[np.ndarray], tuple[Any, ...]]]]:
    """The layers of :func:`change` and the function of a tile that makes their blocks (in the
    same order) and its counts: baseline pixels per row, alternate pixels per row, and the
    joint counts of (alternate row, baseline row)."""
    by_bas, by_alt = lookup.index(bas), lookup.index(alt)
    # the scenarios' layers in this order, and each tile's blocks in the same (``blocks`` below)
    scenarios = {"bas": (bas, by_bas), "alt": (alt, by_alt)}
    layers: dict[Path, LayerSpec] = {}
    for name, (lulc, by) in scenarios.items():
        layers |= _stock_layers(by, lulc, name, out_dir, pools_csv)
    layers[out_dir / "c_change_bas_alt.tif"] = LayerSpec(
        data=None,
        dtype="float32",
        nodata=float("nan"),
        tags=_common_tags(pools_csv, bas)
        | {
            "LULC_BAS": str(bas.path),
            "LULC_ALT": str(alt.path),
            "UNITS": UNITS_DENSITY,
            "POOL": "total",
            "QUANTITY": "change in carbon storage, sum of above, below, soil, dead",
            "SIGN": CHANGE_SIGN,
        },
        description=f"change in carbon storage ({UNITS_DENSITY}), alt - bas",
    )

    def blocks(tile: Tile) -> tuple[Iterator[np.ndarray], tuple[Any, ...]]:
        codes_bas = read_window(bas.path, tile.window)
        codes_alt = read_window(alt.path, tile.window)
        index_bas, index_alt = by_bas.pixels(codes_bas), by_alt.pixels(codes_alt)
        counts = (  # first: a code missing from the table raises here
            by_bas.count(codes_bas, index_bas),
            by_alt.count(codes_alt, index_alt),
            _joint_count(index_alt, index_bas, alt=by_alt, bas=by_bas),
        )

        def out() -> Iterator[np.ndarray]:  # one block at a time, in the order of ``layers``
            index = {"bas": index_bas, "alt": index_alt}
            for name, (_, by) in scenarios.items():
                for key in _STOCK_KEYS:
                    yield _gather(index[name], values=by.values[key])
            total_alt, total_bas = by_alt.values["total"], by_bas.values["total"]
            yield _change(index_alt, index_bas, alt=total_alt, bas=total_bas)

        return out(), counts

    return layers, blocks


def _stock_layers(
    by: _Index, lulc: LulcRaster, scenario: str, out_dir: Path, pools_csv: str | Path
) -> dict[Path, LayerSpec]:
    """A scenario's layers (:data:`_STOCK_KEYS`, in that order), to be written by
    :func:`~sinkmap.io.write_tiles` from each tile's blocks."""
    base = _common_tags(pools_csv, lulc) | {
        "LULC": str(lulc.path),
        "SCENARIO": _SCENARIOS[scenario],
        "UNITS": UNITS_DENSITY,
    }
    layers: dict[Path, LayerSpec] = {}
    for pool in INVEST_POOLS:
        layers[out_dir / "intermediate_outputs" / f"c_{pool}_{scenario}.tif"] = LayerSpec(
            data=None,
            dtype="float32",
            nodata=float("nan"),
            nan_positive=_nan_positive(by.values[pool]),
            tags=base | {"POOL": pool, "QUANTITY": f"carbon stock, {_POOL_NAMES[pool]}"},
            description=f"carbon stock {pool} ({UNITS_DENSITY}), {_SCENARIOS[scenario]}",
        )
    layers[out_dir / f"c_storage_{scenario}.tif"] = LayerSpec(
        data=None,
        dtype="float32",
        nodata=float("nan"),
        nan_positive=_nan_positive(by.values["total"]),
        tags=base
        | {"POOL": "total", "QUANTITY": "carbon storage, sum of above, below, soil, dead"},
        description=f"carbon storage total ({UNITS_DENSITY}), {_SCENARIOS[scenario]}",
    )
    return layers


def _nan_positive(values: np.ndarray) -> bool:
    """Whether a table holds no NaN with the sign bit set: a layer taken from it has none either,
    and the writer need not check its blocks."""
    return not np.signbit(values[np.isnan(values)]).any()


def _common_tags(pools_csv: str | Path, lulc: LulcRaster) -> dict[str, Any]:
    return {
        "SINKMAP_VERSION": __version__,
        "POOL_TABLE": str(pools_csv),
        "PIXEL_AREA_M2": float(lulc.pixel_area_m2),
        "TOTALS": f"{UNITS_TOTAL} = sum of pixel values ({UNITS_DENSITY}) x PIXEL_AREA_M2 / 10000",
        "NODATA": "NaN where the LULC raster is nodata",
        "INVEST_COMPAT": INVEST_COMPAT,
    }


def _raster_facts(lulc: LulcRaster) -> dict[str, Any]:
    return {
        "crs": lulc.crs_name,
        "width": lulc.grid.width,
        "height": lulc.grid.height,
        "pixel_size_m": lulc.grid.resolution,
        "pixel_area_m2": lulc.pixel_area_m2,
        "lulc_nodata": lulc.nodata,
    }


def _totals(weights: np.ndarray, values: np.ndarray, pixel_area_m2: float) -> float:
    """Σ weight x float32 value (float64), x pixel area in ha, InVEST's order of operations."""
    return float(
        np.dot(weights.astype(np.float64), values.astype(np.float64)) * pixel_area_m2 / M2_PER_HA
    )


def _scenario_summary(count: np.ndarray, lookup: _Lookup, pixel_area_m2: float) -> dict[str, Any]:
    valid = np.asarray(count[: lookup.n])
    return {
        "valid_pixels": int(valid.sum()),
        "nodata_pixels": int(count[lookup.n]),
        "area_ha": float(valid.sum() * pixel_area_m2 / M2_PER_HA),
        "totals_mg_c": {
            key: _totals(valid, lookup.values[key][: lookup.n], pixel_area_m2)
            for key in (*INVEST_POOLS, "total")
        },
        "pixels_by_code": {
            str(int(c)): int(k) for c, k in zip(lookup.codes, valid, strict=True) if k
        },
    }


def _change_summary(
    joint: tuple[np.ndarray, np.ndarray], lookup: _Lookup, pixel_area_m2: float
) -> dict[str, Any]:
    keys, counts = joint
    ra, rb = np.divmod(keys, lookup.n + 1)
    both = (ra < lookup.n) & (rb < lookup.n)
    ra, rb, counts = ra[both], rb[both], counts[both]
    totals = {}
    for pool in INVEST_POOLS:
        v = lookup.values[pool]
        totals[pool] = _totals(
            counts, v[ra].astype(np.float64) - v[rb].astype(np.float64), pixel_area_m2
        )
    t = lookup.values["total"]
    totals["total"] = _totals(counts, t[ra] - t[rb], pixel_area_m2)  # float32 pixel values
    changed = ra != rb
    return {
        "valid_pixels": int(counts.sum()),
        "changed_pixels": int(counts[changed].sum()),
        "area_ha": float(counts.sum() * pixel_area_m2 / M2_PER_HA),
        "totals_mg_c": totals,
        "sign": CHANGE_SIGN,
    }


def _key(path: Path) -> str:
    return path.stem


def _write_summary(out_dir: Path, summary: Mapping[str, Any]) -> None:
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


# -- command line -----------------------------------------------------------------------------------
