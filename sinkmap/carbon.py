"""The carbon equations, in one place: pools by lookup, totals, stock difference, CO2e.

Pure functions of numpy arrays (one chunk; the stages map them over dask chunks) or of totals
(numbers, arrays, pandas columns): no files, no URLs, no Snakemake. Every other module that turns
a stock change into CO2e calls :func:`co2e` or :func:`co2e_flux` (IPCC 2006 Vol. 4: CO2 = −ΔC ×
44/12 with the inventory sign).

Units: stocks in Mg C/ha, fluxes in Mg CO2e/ha/yr with the inventory sign convention (emissions
positive, removals negative). NaN marks cells outside the AOI or without data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sinkmap import kernels
from sinkmap.constants import CO2_PER_C, POOLS
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.kernels.slices import flat_for_kernel
from sinkmap.tables import PoolTable


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


def pool_sum(pools: Mapping[str, np.ndarray]) -> np.ndarray:
    """Above + below + dead + soil in float64, added in that order (NaN where any is NaN)."""
    total = np.array(pools[POOLS[0]], dtype="float64")
    for pool in POOLS[1:]:
        total += pools[pool]
    return total


def stock_difference(stock_t1: np.ndarray, stock_t2: np.ndarray, t1: int, t2: int) -> np.ndarray:
    """Annual stock change ΔC = (C_t2 − C_t1) / (t2 − t1), IPCC 2006 Vol. 4 Eq. 2.5 (Mg C/ha/yr).

    Positive when the stock grows. NaN where either stock is NaN.
    """
    n = interval_years(t1, t2)
    return ((np.asarray(stock_t2, "float64") - np.asarray(stock_t1, "float64")) / n).astype(
        "float32"
    )


def co2e_flux(delta_c: np.ndarray) -> np.ndarray:
    """Net CO2e flux (Mg CO2e/ha/yr) from a stock change (Mg C/ha/yr), inventory sign convention.

    A growing stock is a removal, reported negative; a shrinking stock an emission, positive:
    flux = −ΔC × 44/12.
    """
    return (0.0 - np.asarray(delta_c, "float64") * CO2_PER_C).astype("float32")  # 0.0 - x: no -0.0


def net_flux(stock_t1: np.ndarray, stock_t2: np.ndarray, t1: int, t2: int) -> np.ndarray:
    """Net CO2e flux (Mg CO2e/ha/yr, inventory sign; float32) of stocks that went from
    ``stock_t1`` to ``stock_t2``: ``co2e_flux(stock_difference(stock_t1, stock_t2, t1, t2))``.

    Two float32 chunks of one shape over a whole number of years are one pass of a compiled kernel
    (:func:`sinkmap.kernels.net_flux`, the same operations: the same bits); anything else, or
    ``SINKMAP_KERNELS=numpy``, the two functions."""
    a, b = np.asarray(stock_t1), np.asarray(stock_t2)
    n = interval_years(t1, t2)
    kept = flat_for_kernel(a.shape, (a, b), "ss") if _kernel_span(n) else None
    if kept is not None:
        start, end = kept
        return kernels.net_flux(start, end, n, CO2_PER_C).reshape(a.shape)
    return co2e_flux(stock_difference(a, b, t1, t2))


def _kernel_span(years: Any) -> bool:
    """Whether the kernels run and take a span of ``years``: a whole number, 1 … 2**62."""
    return bool(isinstance(years, int | np.integer) and 0 < years < 2**62 and kernels.enabled())


def co2e(stock_change: Any) -> Any:
    """CO2e of a carbon stock change (any units of C → the same units of CO2e), inventory sign.

    A gain of carbon (``stock_change`` > 0) is a removal, negative; a loss an emission, positive:
    −ΔC × 44/12 (IPCC 2006 Vol. 4). Works on numbers, numpy arrays and pandas columns; written as
    ``0.0 − x`` so that no change gives +0.0, not −0.0.
    """
    return 0.0 - stock_change * CO2_PER_C


def carbon_of(co2: Any) -> Any:
    """Carbon in a mass of CO2 (the same units of C): × 12/44, sign unchanged."""
    return co2 / CO2_PER_C


def interval_years(t1: int, t2: int) -> int:
    """Length t2 − t1 of an interval in years; an interval must run forwards."""
    if t2 <= t1:
        raise InputDataError(f"the interval must run forwards (t1 < t2), got {t1}-{t2}")
    return t2 - t1


def step_fluxes(gains: np.ndarray, losses: np.ndarray, years: int) -> np.ndarray:
    """Net, removals and emissions (Mg CO2e/ha/yr, inventory sign), stacked (3, …) float32, of a
    carbon state's steps over ``years`` that gained ``gains`` and lost ``losses`` (Mg C/ha, both
    ≥ 0; IPCC 2006 V4 Eq. 2.4: ΔC = ΔC_G − ΔC_L): removals −ΔC_G/years × 44/12 (≤ 0), emissions
    ΔC_L/years × 44/12 (≥ 0), net their sum.

    float64 gains and losses of one shape over a whole number of years are one pass of a compiled
    kernel (:func:`sinkmap.kernels.step_fluxes`, the same operations: the same bits); anything
    else, or ``SINKMAP_KERNELS=numpy``, these expressions."""
    g_all, l_all = np.asarray(gains), np.asarray(losses)
    kept = flat_for_kernel(g_all.shape, (g_all, l_all), "ff") if _kernel_span(years) else None
    if kept is not None:
        g_flat, l_flat = kept
        return kernels.step_fluxes(g_flat, l_flat, years, CO2_PER_C).reshape(3, *g_all.shape)
    g, loss = gains / years, losses / years
    return np.stack([co2e(g - loss), co2e(g), co2e(-loss)]).astype("float32")


def flux_between(stock_t1: Any, stock_t2: Any, years: int) -> Any:
    """Net CO2e flux per year of a stock that went from ``stock_t1`` to ``stock_t2`` in ``years``:
    (C_t1 − C_t2) × 44/12 / years, emissions positive (float64; numbers or arrays)."""
    return (stock_t1 - stock_t2) * (CO2_PER_C / years)
