"""Pure array maths of carbon accounting: no files, no URLs, no Snakemake.

Every function takes and returns numpy arrays (one chunk); the workflow maps them over dask chunks.
Units: stocks in Mg C/ha, fluxes in Mg CO2e/ha/yr with the inventory sign convention (emissions
positive, removals negative). NaN marks cells outside the AOI or without data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap.constants import CO2_PER_C, POOLS
from sinkmap.errors import InputDataError, UnknownClassError

#: Column of the InVEST-style table holding each pool.
POOL_COLUMNS: dict[str, str] = {
    "above": "c_above",
    "below": "c_below",
    "dead": "c_dead",
    "soil": "c_soil",
}


@dataclass(frozen=True)
class PoolTable:
    """Carbon stock per land-cover code and pool (Mg C/ha), with the table's name for messages."""

    codes: np.ndarray  # int64, unique
    values: Mapping[str, np.ndarray]  # pool -> float64 per code
    name: str
    names: Mapping[int, str]

    @classmethod
    def from_csv(cls, path: str | Path) -> PoolTable:
        """Read an InVEST Carbon pool table (``lucode,c_above,c_below,c_soil,c_dead``, Mg C/ha).

        Extra columns (``name``, ``source`` …) are allowed. Missing pools, duplicate codes, empty or
        negative values are errors naming the row.
        """
        from sinkmap.io import read_csv_table

        path = Path(path)
        df = read_csv_table(path, "carbon pool table", missing_hint="set model.params.table")
        df.columns = [c.strip().lower() for c in df.columns]
        missing = [c for c in ["lucode", *POOL_COLUMNS.values()] if c not in df.columns]
        if missing:
            raise InputDataError(
                f"carbon pool table {path} lacks column(s) {missing}; it needs "
                "lucode,c_above,c_below,c_soil,c_dead in Mg C/ha (the InVEST Carbon layout)"
            )
        return cls.from_frame(df, name=str(path))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str) -> PoolTable:
        if df.empty:
            raise InputDataError(
                f"carbon pool table {name} has no rows; add one row per land-cover code"
            )
        lucode = pd.to_numeric(df["lucode"], errors="coerce")
        bad = df.index[lucode.isna() | (lucode < 0) | (lucode % 1 != 0)].tolist()
        if bad:
            raise InputDataError(
                f"carbon pool table {name}: lucode is empty, negative or not a whole number on line(s) "
                f"{[i + 2 for i in bad]}; give the land-cover code as an integer >= 0"
            )
        df = df.assign(lucode=lucode.astype("int64"))
        dup = df["lucode"][df["lucode"].duplicated()].tolist()
        if dup:
            raise InputDataError(
                f"carbon pool table {name} repeats lucode(s) {dup}; keep one row per code"
            )
        values: dict[str, np.ndarray] = {}
        for pool, col in POOL_COLUMNS.items():
            series = pd.to_numeric(df[col], errors="coerce")
            bad = df.index[series.isna() | (series < 0)].tolist()
            if bad:
                rows = [i + 2 for i in bad]  # 1-based, after the header line
                raise InputDataError(
                    f"carbon pool table {name}: {col} is empty, not a number or negative on line(s) "
                    f"{rows}; give a stock >= 0 in Mg C/ha"
                )
            values[pool] = series.to_numpy(dtype="float64")
        codes = df["lucode"].to_numpy(dtype="int64")
        names = (
            {int(c): str(n) for c, n in zip(codes, df["name"], strict=True)}
            if "name" in df.columns
            else {}
        )
        return cls(codes=codes, values=values, name=name, names=names)

    def lut(self, pool: str, size: int = 256) -> np.ndarray:
        """A lookup array indexed by code: the pool's stock, NaN for codes absent from the table."""
        size = max(size, int(self.codes.max()) + 1)
        out = np.full(size, np.nan, dtype="float32")
        out[self.codes] = self.values[pool]
        return out


def lookup_pools(
    classes: np.ndarray, table: PoolTable, *, nodata: int | None = 0
) -> dict[str, np.ndarray]:
    """Carbon stock of each pool (Mg C/ha, float32) by land-cover lookup (IPCC Tier 1 / InVEST).

    Cells equal to ``nodata`` get NaN. A code present in ``classes`` but absent from the table raises
    :class:`~sinkmap.errors.UnknownClassError` naming the code(s) and the table.
    """
    codes = np.asarray(classes)
    valid = codes != nodata if nodata is not None else np.ones(codes.shape, dtype=bool)
    present = np.unique(codes[valid])
    unknown = np.setdiff1d(present, table.codes)
    if unknown.size:
        raise UnknownClassError(unknown.tolist(), table.name)
    size = int(max(table.codes.max(), present.max() if present.size else 0)) + 1
    idx = np.where(valid, codes, 0).astype(np.intp)
    out = {}
    for pool in POOLS:
        stock = table.lut(pool, size)[idx]
        stock[~valid] = np.nan
        out[pool] = stock
    return out


def total_stock(pools: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum of the pools (Mg C/ha); NaN where any pool is NaN."""
    arrays = [np.asarray(pools[p], dtype="float32") for p in POOLS]
    return np.sum(arrays, axis=0, dtype="float32")


def stock_difference(stock_t1: np.ndarray, stock_t2: np.ndarray, t1: int, t2: int) -> np.ndarray:
    """Annual stock change ΔC = (C_t2 − C_t1) / (t2 − t1), IPCC 2006 Vol. 4 Eq. 2.5 (Mg C/ha/yr).

    Positive when the stock grows. NaN where either stock is NaN.
    """
    if t2 <= t1:
        raise InputDataError(f"the interval must run forwards (t1 < t2), got {t1}-{t2}")
    return ((np.asarray(stock_t2, "float64") - np.asarray(stock_t1, "float64")) / (t2 - t1)).astype(
        "float32"
    )


def co2e_flux(delta_c: np.ndarray) -> np.ndarray:
    """Net CO2e flux (Mg CO2e/ha/yr) from a stock change (Mg C/ha/yr), inventory sign convention.

    A growing stock is a removal, reported negative; a shrinking stock an emission, positive:
    flux = −ΔC × 44/12.
    """
    return (0.0 - np.asarray(delta_c, "float64") * CO2_PER_C).astype("float32")  # 0.0 - x: no -0.0


def class_sums(
    classes: np.ndarray,
    area_ha: np.ndarray,
    values: Mapping[str, np.ndarray],
    *,
    nbins: int = 256,
) -> dict[str, np.ndarray]:
    """Per-class sums over one chunk: ``area_ha`` and, for each value layer, Σ value × area.

    Only cells where every value is finite count. Returns arrays of length ``nbins`` indexed by
    class code: ``{"area_ha": …, name: …}`` (value units × ha, e.g. Mg C/ha × ha = Mg C).
    """
    codes = np.asarray(classes).ravel()
    ok = np.ones(codes.shape, dtype=bool)
    flat = {k: np.asarray(v, "float64").ravel() for k, v in values.items()}
    for v in flat.values():
        ok &= np.isfinite(v)
    if codes.size and int(codes.max()) >= nbins:
        raise InputDataError(
            f"class code {int(codes.max())} exceeds {nbins - 1}; codes must fit in uint8"
        )
    c = codes[ok].astype(np.intp)
    a = np.asarray(area_ha, "float64").ravel()[ok]
    out = {"area_ha": np.bincount(c, weights=a, minlength=nbins)}
    for k, v in flat.items():
        out[k] = np.bincount(c, weights=v[ok] * a, minlength=nbins)
    return out
