"""Zones and tallies: which cells count in which zone, and sums per zone and key over a tile.

Zone 0 is always the whole area of interest (every cell whose data are valid, weighted by its true
area); zones 1..n are the user's polygons, each cell weighted by the exact fraction of its area
inside the polygon (exactextract). :func:`group_sums` adds per-hectare layers × weight per zone and
small integer keys (land-cover class, class at the start of an interval, …) over one tile, and
:func:`add_group_sums` adds the tiles up: the one tally engine of the account.

Arrays and geometries only: the zones' polygons come in as a GeoDataFrame
(:func:`sinkmap.aoi.read_zones` reads them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinkmap import kernels
from sinkmap.contract import AOI_ZONE
from sinkmap.errors import InputDataError
from sinkmap.files import atomic_path
from sinkmap.grid import Grid, Tile

log = logging.getLogger("sinkmap")


@dataclass
class ZoneCoverage:
    """Which cells of a tile each zone covers, and by what fraction (from exactextract)."""

    zone: np.ndarray  # int64 zone index per entry
    cell: np.ndarray  # int64 row-major cell index within the tile
    fraction: np.ndarray  # float64 covered fraction of the cell, (0, 1]


def zone_coverage(zones: Any, grid: Grid, tile: Tile) -> ZoneCoverage:
    """Exact fraction of each cell of ``tile`` covered by each zone polygon (exactextract).

    ``zones`` is a GeoDataFrame in the grid's CRS (:func:`read_zones`); zones are indexed by row.
    Overlapping zones each get their full share of a cell.
    """
    import shapely
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    empty = ZoneCoverage(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    bounds = grid.tile_bounds(tile)
    hits = np.sort(zones.sindex.query(shapely.box(*bounds), predicate="intersects"))
    if hits.size == 0:
        return empty
    left, bottom, right, top = bounds
    src = NumPyRasterSource(
        np.zeros((tile.height, tile.width), dtype="float32"),
        left,
        bottom,
        right,
        top,
        srs_wkt=grid.crs_obj.to_wkt(),
    )
    subset = zones.iloc[hits][["geometry"]].reset_index(drop=True)
    result = exact_extract(src, subset, ["cell_id", "coverage"])
    zone_idx, cells, fracs = [], [], []
    for i, feature in zip(hits, result, strict=True):
        props = feature["properties"]
        cell = np.asarray(props["cell_id"], np.int64)
        frac = np.asarray(props["coverage"], "float64")
        keep = frac > 0
        zone_idx.append(np.full(int(keep.sum()), int(i), np.int64))
        cells.append(cell[keep])
        fracs.append(frac[keep])
    if not cells:
        return empty
    zone, cell = np.concatenate(zone_idx), np.concatenate(cells)
    fraction = np.concatenate(fracs)
    step = np.diff(zone * (tile.height * tile.width) + cell)
    if (step <= 0).any():  # by zone, then by cell (as exactextract gives them): ZoneCover's order
        order = np.lexsort((cell, zone))
        zone, cell, fraction = zone[order], cell[order], fraction[order]
    return ZoneCoverage(zone, cell, fraction)


def zones_key(zones: Any, grid: Grid) -> str:
    """What a :class:`ZoneCover` is computed from: the grid, and the zones' ids and polygons (a
    digest of their WKB), as a JSON string."""
    import shapely

    digest = hashlib.sha256()
    for zone_id, wkb in zip(zones["zone_id"], shapely.to_wkb(zones.geometry.values), strict=True):
        digest.update(str(zone_id).encode() + b"\0" + wkb)
    return json.dumps(
        {"version": ZoneCover.VERSION, "grid": grid.to_dict(), "zones": digest.hexdigest()},
        sort_keys=True,
    )


class ZoneCover:
    """Every tile's :func:`zone_coverage`, computed once for a run and kept in a ``.npz`` file, so
    that each job reading the zones (the stocks, interval and Monte Carlo of every year) takes it
    from there instead of running exactextract over the tile again (about 0.17 s a tile with the
    demo's zones).

    Compact: the cells covered whole by a zone (fraction 1.0; by the first such zone) are stored
    as runs of consecutive cells, row-major (``start_``, ``length_``, ``value_<tile id>``: the
    zone's number + 1), a few per row and polygon; the other entries (cells cut by a polygon's
    edge, or covered whole by a second, overlapping zone) as they are (``zone_``, ``cell_``,
    ``fraction_<tile id>``). :meth:`coverage` gives back the same arrays in
    the same order (zone, then cell) as :func:`zone_coverage`, hence the same sums, bit for bit.
    ``key`` says what the cover was computed from (:func:`zones_key`: the grid, and a digest of
    the zones' ids and polygons): :meth:`open` refuses a file made for anything else."""

    VERSION = 1

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)  # opened by each call of coverage(): safe across threads, and the
        with np.load(self.path) as npz:  # object pickles as its path (distributed workers)
            self.key = str(npz["key"])

    @classmethod
    def open(cls, path: str | Path, key: str) -> ZoneCover | None:
        """The cover in ``path`` if it exists and was made for ``key``, else None."""
        if not Path(path).is_file():
            return None
        cover = cls(path)
        if cover.key != key:
            log.warning("%s was made for other zones or another grid; not used", path)
            return None
        return cover

    @staticmethod
    def write(zones: Any, grid: Grid, path: str | Path, key: str) -> Path:
        """Compute every tile's :func:`zone_coverage` of the zone polygons ``zones`` (a
        GeoDataFrame in the grid's CRS) and write them to ``path`` (atomically)."""
        if len(zones) >= 0xFFFF:  # each zone's number + 1 in a uint16
            raise InputDataError(
                f"{len(zones):,} zones: the zone cover holds up to 65,534; split the zones into "
                "several runs (aois:) or merge small ones"
            )
        arrays: dict[str, Any] = {"key": np.asarray(key)}
        for tile in grid.tiles():
            cov = zone_coverage(zones, grid, tile)
            if cov.cell.size == 0:
                continue
            full = np.zeros(tile.height * tile.width, np.uint16)
            whole = cov.fraction == 1.0
            # the first zone covering a cell whole takes it (np.unique: first occurrence)
            first = np.zeros(cov.cell.size, bool)
            whole_at = np.flatnonzero(whole)
            _, at = np.unique(cov.cell[whole_at], return_index=True)
            first[whole_at[at]] = True
            full[cov.cell[first]] = cov.zone[first] + 1
            # as runs of cells (row-major) of one zone number: a few per row and polygon
            starts = np.flatnonzero(np.diff(full, prepend=np.uint16(0), append=np.uint16(0)))
            values = full[starts[:-1]]
            keep = values > 0
            rest = ~first
            arrays[f"start_{tile.id}"] = starts[:-1][keep].astype(np.int64)
            arrays[f"length_{tile.id}"] = np.diff(starts)[keep].astype(np.int64)
            arrays[f"value_{tile.id}"] = values[keep]
            arrays[f"zone_{tile.id}"] = cov.zone[rest].astype(np.uint16)
            arrays[f"cell_{tile.id}"] = cov.cell[rest].astype(np.int64)
            arrays[f"fraction_{tile.id}"] = cov.fraction[rest]
        path = Path(path)
        with atomic_path(path) as tmp:
            # np.savez's layout with a fixed date in the zip entries: the same bytes every run
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, array in arrays.items():
                    entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    with zf.open(entry, "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
        return path

    def coverage(self, tile: Tile) -> ZoneCoverage:
        """The tile's :func:`zone_coverage`, the same arrays."""
        with np.load(self.path) as npz:
            if f"start_{tile.id}" not in npz:
                return ZoneCoverage(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
            start = npz[f"start_{tile.id}"]
            length = npz[f"length_{tile.id}"]
            value = npz[f"value_{tile.id}"].astype(np.int64) - 1  # the zone of each run
            p_zone = npz[f"zone_{tile.id}"].astype(np.int64)
            p_cell = npz[f"cell_{tile.id}"]
            p_frac = npz[f"fraction_{tile.id}"]
        zones = np.union1d(value, p_zone)
        p_start = np.searchsorted(p_zone, zones)  # stored by zone, then cell
        p_end = np.searchsorted(p_zone, zones, side="right")
        zone, cell, fraction = [], [], []
        for z, c, d in zip(zones, p_start, p_end, strict=True):
            runs = value == z
            s, n = start[runs], length[runs]
            # the cells of the runs, ascending: each run's start, then one more per cell
            fc = np.arange(int(n.sum()), dtype=np.int64) + np.repeat(s - (np.cumsum(n) - n), n)
            pc = p_cell[c:d]
            at = np.searchsorted(fc, pc)  # the other cells among the whole ones, by cell
            cell.append(np.insert(fc, at, pc))
            fraction.append(np.insert(np.ones(fc.size), at, p_frac[c:d]))
            zone.append(np.full(fc.size + pc.size, z, np.int64))
        return ZoneCoverage(np.concatenate(zone), np.concatenate(cell), np.concatenate(fraction))


@dataclass(frozen=True)
class Membership:
    """Which cells of a tile count in which zone, and by what weight (ha).

    Zone 0 is the whole area of interest (every cell whose data are valid, weight = its area);
    zones 1..n are the user's polygons (weight = area × covered fraction, :func:`zone_coverage`).
    """

    zone: np.ndarray  # int64 zone index per entry (0 = AOI)
    cell: np.ndarray  # int64 row-major cell index in the tile
    weight: np.ndarray  # float64 ha counted in that zone


def membership(
    valid: np.ndarray, area_ha: npt.ArrayLike, coverage: ZoneCoverage | None = None
) -> Membership:
    """The :class:`Membership` of a tile's ``valid`` cells: the AOI, plus each covered zone.

    The AOI's entries (the valid cells in order and their areas) are one pass of a compiled
    kernel (:func:`sinkmap.kernels.valid_cells`) where ``area_ha`` has a value per cell, written
    straight into the entries' arrays: the same arrays as :func:`membership_reference`."""
    if (
        not kernels.enabled()
        or np.size(area_ha) != np.size(valid)
        or not (coverage is None or kernel_coverage(coverage))
    ):
        return membership_reference(valid, area_ha, coverage)
    ok = np.asarray(valid, bool).ravel()
    a = np.asarray(area_ha, "float64").ravel()
    n = int(np.count_nonzero(ok))
    covered = _covered_entries(ok, a, coverage)
    total = n + (0 if covered is None else covered[1].size)
    zone = np.zeros(total, np.int64)
    cell, weight = np.empty(total, np.int64), np.empty(total)
    kernels.valid_cells(ok, a, cell[:n], weight[:n])
    if covered is not None:
        zone[n:], cell[n:], weight[n:] = covered
    return Membership(zone, cell, weight)


def _covered_entries(
    ok: np.ndarray, area: np.ndarray, coverage: ZoneCoverage | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The zones' entries of a tile (1-D ``ok`` and ``area``): each zone's covered valid cells,
    its index + 1 and area × covered fraction; None without a coverage."""
    if coverage is None or not coverage.cell.size:
        return None
    keep = ok[coverage.cell]
    cell = coverage.cell[keep]
    return coverage.zone[keep] + 1, cell, area[cell] * coverage.fraction[keep]


def kernel_coverage(coverage: ZoneCoverage) -> bool:
    """A coverage as :func:`zone_coverage` makes it (1-D int64 zones and cells, float64
    fractions): its entries then have the dtypes the reference's concatenation gives them."""
    arrays = (coverage.zone, coverage.cell, coverage.fraction)
    kinds = (np.int64, np.int64, np.float64)
    return all(
        isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype == k and a.size == arrays[1].size
        for a, k in zip(arrays, kinds, strict=True)
    )


def kernel_entries(
    coverage: ZoneCoverage | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A tile's coverage as the tally kernels take it (``sinkmap.kernels.class_tally``,
    ``change_tally``): its zones, cells and fractions, none without zones; None for a coverage
    not as :func:`zone_coverage` makes it (:func:`kernel_coverage`), which the references take."""
    if coverage is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if not kernel_coverage(coverage):
        return None
    return coverage.zone, coverage.cell, coverage.fraction


def split_keys(key: np.ndarray, codes: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Combined keys (… (lead × n1 + r1) × n2 + r2 …: r_i the rank of a code among ``codes[i]``,
    n_i their count) split into their lead part and each key's codes (int64), in ``codes``'
    order: a tally's key columns from the keys present."""
    rest = np.asarray(key)
    columns = []
    for present in reversed(codes):
        columns.append(np.asarray(present)[rest % present.size].astype(np.int64))
        rest = rest // present.size
    return rest, columns[::-1]


def membership_reference(
    valid: np.ndarray, area_ha: npt.ArrayLike, coverage: ZoneCoverage | None = None
) -> Membership:
    """:func:`membership` as NumPy expressions: the valid cells (``np.flatnonzero``) in zone 0
    with their areas, then each zone's covered valid cells with area × covered fraction."""
    ok = np.asarray(valid, bool).ravel()
    a = np.asarray(area_ha, "float64").ravel()
    cells = np.flatnonzero(ok)
    parts = [(np.zeros(cells.size, np.int64), cells, a[cells])]
    covered = _covered_entries(ok, a, coverage)
    if covered is not None:
        parts.append(covered)
    zone, cell, weight = (np.concatenate(p) for p in zip(*parts, strict=True))
    return Membership(zone, cell, weight)


def summed_values(layer: npt.ArrayLike) -> np.ndarray:
    """A value layer as a tally takes it: float32 and float64 as they are (made float64 at the
    entries by the sums), any other dtype made float64 first, so that checks and sums of it see
    the float64 values (a long double's range and precision are not float64's)."""
    a = np.asarray(layer)
    return a if a.dtype in (np.float32, np.float64) else a.astype("float64")


def weighted_sums(member: Membership, key: np.ndarray, n: int) -> WeightedSums:
    """Σ layer × weight per key of a tile's entries (``key``: one of 0 … ``n`` − 1 per entry of
    ``member``), as a function of a tile layer (per hectare → per key; float64):
    :class:`WeightedSums`."""
    return WeightedSums(member, key, n)


class WeightedSums:
    """Σ layer × weight per key of a tile's entries, for one layer (called) or several
    (:meth:`many`).

    Each layer's sums are a pass of a compiled kernel over the entries
    (:func:`sinkmap.kernels.weighted_sum`: the layer's value at the entry's cell × its weight,
    added to its key's sum in the entries' order), with no per-entry copy of the layer and nothing
    built per key space; :meth:`many` takes layers of one dtype four at a time in one pass. The
    same sums as ``np.bincount(key, weights=layer[cell] × weight)``, the reference (and what runs
    without the kernels), bit for bit: the same products, added one by one from 0 in the same
    order (but for the sign or payload of a sum that is NaN: where two NaNs meet, which one an
    addition keeps is not fixed).
    """

    def __init__(self, member: Membership, key: np.ndarray, n: int) -> None:
        self.key = np.ascontiguousarray(key, np.int64)
        self.cell = np.ascontiguousarray(member.cell, np.int64)
        self.weight = np.ascontiguousarray(member.weight, np.float64)
        self.n = n

    @staticmethod
    def _flat(layer: npt.ArrayLike) -> np.ndarray:
        return np.ascontiguousarray(summed_values(layer)).reshape(-1)

    def __call__(self, layer: npt.ArrayLike) -> np.ndarray:
        values = self._flat(layer)
        if kernels.enabled():
            total = kernels.weighted_sum(self.key, self.cell, self.weight, values, self.n)
            if total is not None:
                return total
        key = self.key
        if key.size and (key.min() < 0 or key.max() >= self.n):
            raise ValueError(f"weighted_sums: keys must be within 0..{self.n - 1}")
        weights = values[self.cell].astype("float64") * self.weight
        # float64 also without entries (bincount of no weights gives int64)
        return np.bincount(key, weights=weights, minlength=self.n).astype(np.float64)

    def many(self, layers: list[npt.ArrayLike]) -> list[np.ndarray]:
        """The sums of each of ``layers``, in their order (the layers held at once: arrays
        already in memory)."""
        flat = [self._flat(layer) for layer in layers]
        out: list[np.ndarray | None] = [None] * len(flat)
        if kernels.enabled():
            groups: dict[tuple[str, int], list[int]] = {}
            for i, a in enumerate(flat):
                groups.setdefault((a.dtype.str, a.size), []).append(i)
            for members in groups.values():
                for at in range(0, len(members) - len(members) % 4, 4):
                    four = members[at : at + 4]
                    sums = kernels.weighted_sum4(
                        self.key, self.cell, self.weight, [flat[i] for i in four], self.n
                    )
                    if sums is not None:
                        for row, i in enumerate(four):
                            out[i] = sums[row]
        return [self(a) if s is None else s for a, s in zip(flat, out, strict=True)]


#: Largest key space :func:`group_sums` counts densely (8 MB per sum); beyond, it sorts the keys.
_DENSE_BINS = 1 << 20


def group_sums(
    member: Membership,
    keys: Mapping[str, npt.ArrayLike],
    values: Mapping[str, npt.ArrayLike | Callable[[], npt.ArrayLike]],
    sums_by: Callable[[WeightedSums], Mapping[str, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Σ weight (``area_ha``) and Σ value × weight per zone and key combination, over one tile.

    ``keys`` are small non-negative integer layers of the tile (e.g. ``{"class_end": lc1}``),
    ``values`` per-hectare layers (Mg C/ha → Mg C), or functions that make one when its sum is
    taken (so that a tally of many derived layers holds one of them at a time). Returns one row
    per (zone, keys…) present,
    columns ``zone``, the key names, ``area_ha`` and the value names; tiles combine with
    :func:`add_group_sums`. Memory: one entry per counted cell and zone, never a dense matrix.

    ``sums_by``: sums the caller makes itself from the tile's :class:`WeightedSums` (several
    derived layers in one pass, e.g. the interval's stock changes), name → Σ per key; their
    columns come before those of ``values``.

    Keys are taken at the entries (:func:`_combined_keys`): a key layer may come in its own
    dtype (float32 codes) without a whole-tile conversion first. Value layers are summed as
    float64 (:func:`weighted_sums`).
    """
    names = list(keys)
    key, seen = _combined_keys(member, names, [np.asarray(keys[name]) for name in names])
    bins = [codes.size for codes in seen]
    n_zone = int(member.zone.max(initial=0)) + 1
    size = n_zone * int(np.prod(bins, dtype=np.float64))
    area: np.ndarray | None = None
    if size <= _DENSE_BINS:  # small key space: bincount straight on the keys, no sort
        counted = kernels.count_and_sum(key, member.weight, size) if kernels.enabled() else None
        if counted is None:  # the reference
            present = np.flatnonzero(np.bincount(key, minlength=size))
        else:  # the entries per key and their weights in one pass
            present, area = np.flatnonzero(counted[0]), counted[1]
        index, n = key, size
    else:  # hash the keys (7x faster than np.unique's sort on a 2048² tile), then sort the few
        found, uniques = pd.factorize(key)
        order = np.argsort(uniques)
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        present, index = np.asarray(uniques)[order], position[found]
        n = present.size

    def _present(total: np.ndarray) -> np.ndarray:
        """The sums of the keys present (a dense key space holds every possible key)."""
        return total[present] if size <= _DENSE_BINS else total

    by_key = weighted_sums(member, index, n)

    out: dict[str, np.ndarray] = {}
    out["zone"], columns = split_keys(present, seen)
    out |= dict(zip(names, columns, strict=True))
    if area is None:
        # float64 also without entries (bincount of no weights gives int64)
        area = np.bincount(index, weights=member.weight, minlength=n).astype(np.float64)
    out["area_ha"] = _present(area)
    if sums_by is not None:
        for name, total in sums_by(by_key).items():
            out[name] = _present(total)
    # the layers in memory in passes of four, the ones made on demand one at a time
    held = [name for name, v in values.items() if not callable(v)]
    sums = by_key.many([cast(npt.ArrayLike, values[name]) for name in held])
    summed = dict(zip(held, sums, strict=True))
    for name, v in values.items():
        if callable(v):
            summed[name] = by_key(v())  # the layer made, summed and dropped
        out[name] = _present(summed.pop(name))
    return pd.DataFrame(out)


#: The key layers' dtypes the kernels take (integers, float32 and float64, native byte order).
_KERNEL_CODE_TYPES = "bBhHiIlLqQfd"


def _combined_keys(
    member: Membership, names: list[str], layers: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each entry's key, zone × key 1 × key 2 …, each key the rank of its code among the codes
    present at the entries (in code order: a key space of the codes present, not of every
    possible code); and those codes per key. Two passes of a compiled kernel per key (the codes
    present, then the key), else, and for every error, :func:`_combined_keys_reference`."""
    if not kernels.enabled():
        return _combined_keys_reference(member, names, layers)
    cell = np.ascontiguousarray(member.cell, np.int64)
    flat = []
    for layer in layers:
        a = np.ascontiguousarray(layer).reshape(-1)
        if not a.dtype.isnative or a.dtype.char not in _KERNEL_CODE_TYPES:
            return _combined_keys_reference(member, names, layers)
        flat.append(a)
    seen = []
    for a in flat:
        codes = kernels.codes_present(a, cell)
        if codes is None:  # a code out of range: the reference names the layer
            return _combined_keys_reference(member, names, layers)
        seen.append(codes if codes.size else np.zeros(1, np.int64))
    key = np.array(member.zone, np.int64)
    for a, codes in zip(flat, seen, strict=True):
        kernels.add_key(key, a, cell, _rank(codes), codes.size)
    return key, seen


def _rank(codes: np.ndarray) -> np.ndarray:
    """The rank of each code among ``codes`` (ascending), indexed by code."""
    rank = np.zeros(int(codes[-1]) + 1, np.int64)
    rank[codes] = np.arange(codes.size)
    return rank


def _combined_keys_reference(
    member: Membership, names: list[str], layers: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`_combined_keys` as NumPy expressions: keys are taken at the entries, then made
    int64 (a key layer may come in its own dtype, float32 codes, without a whole-tile
    conversion first)."""
    cols, seen = [], []
    for name, layer in zip(names, layers, strict=True):
        with np.errstate(invalid="ignore"):  # NaN: out of range, said just below
            col = layer.ravel()[member.cell].astype(np.int64)
        if col.size and (col.min() < 0 or col.max() > 0xFFFF):
            raise InputDataError(f"{name} codes must be within 0..65535")
        codes = np.flatnonzero(np.bincount(col, minlength=1)) if col.size else np.zeros(1, int)
        cols.append(_rank(codes)[col])
        seen.append(codes)
    key = member.zone.copy()
    for col, codes in zip(cols, seen, strict=True):
        key = key * codes.size + col
    return key, seen


def add_group_sums(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Add the :func:`group_sums` of several tiles (rows with the same zone and keys add up)."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    keys = [c for c in table.columns if c == "zone" or table[c].dtype.kind in "iu"]
    return table.groupby(keys, sort=True, as_index=False).sum()


class Zones:
    """The account's zones on the run's grid: ids, names and each tile's coverage.

    ``ids[0]`` is :data:`~sinkmap.contract.AOI_ZONE`, the whole AOI (named ``aoi_name``); then one
    entry per polygon of ``gdf`` (a GeoDataFrame in the grid's CRS with a ``zone_id`` column, as
    :func:`sinkmap.aoi.read_zones` returns), named by ``names`` (default: their ids). ``cover``:
    the zones' cover of the grid computed once for the run (:class:`ZoneCover`), read instead of
    running exactextract over each tile.
    """

    def __init__(
        self,
        grid: Grid,
        aoi_name: str | None = None,
        gdf: Any = None,
        names: list[str] | None = None,
        *,
        cover: ZoneCover | None = None,
    ) -> None:
        self.grid = grid
        self.gdf = gdf
        self.cover = cover
        self.ids: list[str] = [AOI_ZONE]
        self.names: list[str] = [aoi_name or AOI_ZONE]
        if gdf is None:
            return
        if (gdf["zone_id"] == AOI_ZONE).any():
            raise InputDataError(
                f"zone id {AOI_ZONE!r} is reserved for the whole AOI; rename that zone"
            )
        self.ids += list(gdf["zone_id"])
        self.names += list(names) if names is not None else list(gdf["zone_id"])

    def coverage(self, tile: Tile) -> ZoneCoverage | None:
        if self.gdf is None:
            return None
        if self.cover is not None:
            return self.cover.coverage(tile)
        return zone_coverage(self.gdf, self.grid, tile)

    def label(self, table: pd.DataFrame, what: str) -> pd.DataFrame:
        """Replace the zone index column by ``zone_id`` and ``zone_name``; warn about zones that
        cover no valid cell (they still get "all classes" rows of area 0)."""
        if table.empty:
            raise InputDataError(
                f"{what}: no cell of the AOI has valid land cover and stocks; check the land cover "
                "and the model's inputs for that year (are they all nodata over the AOI?)"
            )
        idx = table.pop("zone").to_numpy()
        empty = sorted(set(self.ids) - {self.ids[i] for i in np.unique(idx)})
        if empty:
            log.warning("%s: zone(s) %s cover no valid cell; their rows are 0", what, empty)
        table.insert(0, "zone_name", np.asarray(self.names, dtype=object)[idx])
        table.insert(0, "zone_id", np.asarray(self.ids, dtype=object)[idx])
        return table


class RasterZones(Zones):
    """Zones given by a raster of codes instead of polygons (e.g. the change strata of an
    interval): zone k ≥ 1 is every cell of code ``codes[k - 1]``, whole. ``block(tile)`` returns
    the tile's codes."""

    def __init__(
        self,
        grid: Grid,
        codes: Iterable[int],
        block: Any,
        names: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(grid)
        self.codes = [int(c) for c in codes]
        self.block = block
        self.ids += [str(c) for c in self.codes]
        self.names += [(names or {}).get(c, str(c)) for c in self.codes]
        # the codes sorted, and each one's zone index (0-based among the codes): a lookup by
        # search, small whatever the codes' range (the object goes to every tile's task)
        listed = np.asarray(self.codes, dtype=np.int64)
        self._order = np.argsort(listed, kind="stable")
        self._sorted = listed[self._order]

    def coverage(self, tile: Tile) -> ZoneCoverage | None:
        codes = np.asarray(self.block(tile)).ravel()
        if self._sorted.size:
            pos = np.minimum(np.searchsorted(self._sorted, codes), self._sorted.size - 1)
            zone = np.where(self._sorted[pos] == codes, self._order[pos], -1)
        else:
            zone = np.full(codes.shape, -1, np.int64)
        cell = np.flatnonzero(zone >= 0)
        return ZoneCoverage(zone[cell], cell.astype(np.int64), np.ones(cell.size))
