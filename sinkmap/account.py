"""The carbon account: land-use change matrices, gain-loss, Monte Carlo uncertainty, zonal totals.

Pure functions over numpy chunks plus small combiners, in the style of :mod:`sinkmap.carbon`: no
Snakemake, and files only in :func:`zonal_totals`. Per-tile sums are dicts of arrays that combine
across tiles by adding (:func:`combine_sums`), so the workflow maps the chunk functions over dask
blocks exactly as :func:`sinkmap.pipeline.compute_stocks` maps :func:`sinkmap.carbon.class_sums`.

Units: stocks in Mg C/ha, areas in ha, stock changes in Mg C (or Mg C/ha/yr per pixel), CO2e in
Mg CO2e with the inventory sign (emissions positive, removals negative): CO2e = −ΔC × 44/12.
Land-cover code 0 is nodata. See ``docs/accounting.md`` for the equations and simplifications.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinkmap.carbon import PoolTable, class_sums
from sinkmap.constants import CO2_PER_C
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid, Tile
from sinkmap.styles import LEGENDS, LegendClass

#: The six IPCC land categories (2006 Vol. 4 Ch. 3), in reporting order (CRF 4.A … 4.F).
IPCC_CATEGORIES: tuple[str, ...] = (
    "Forest land",
    "Cropland",
    "Grassland",
    "Wetlands",
    "Settlements",
    "Other land",
)
_CRF_LETTER = dict(zip(IPCC_CATEGORIES, "ABCDEF", strict=True))

#: Side, in pixels, of the fixed lattice of blocks on which per-pixel random errors are seeded.
#: A pixel's error depends only on (seed, draw, stream, its block), never on the chunking.
NOISE_BLOCK = 128

Sums = dict[str, np.ndarray]


# == helpers ======================================================================================
def combine_sums(parts: Iterable[Mapping[str, np.ndarray]]) -> Sums:
    """Add per-tile sums key by key (tile totals → run totals). All parts must have the same keys."""
    out: Sums | None = None
    for part in parts:
        if out is None:
            out = {k: np.array(v, dtype="float64", copy=True) for k, v in part.items()}
            continue
        if part.keys() != out.keys():
            raise InputDataError(
                f"cannot add sums with keys {sorted(part)} to sums with keys {sorted(out)}"
            )
        for k, v in part.items():
            out[k] += v
    if out is None:
        raise InputDataError("no sums to combine: the run has no tiles")
    return out


def _legend_maps(
    legend: str | Sequence[LegendClass] | None,
) -> tuple[dict[int, str], dict[int, str]]:
    """Class names and IPCC categories by code, from a legend name or a sequence of classes."""
    if legend is None:
        classes: Sequence[LegendClass] = ()
    elif isinstance(legend, str):
        if legend not in LEGENDS:
            raise InputDataError(f"unknown legend {legend!r}; known legends: {sorted(LEGENDS)}")
        classes = LEGENDS[legend]
    else:
        classes = legend
    return {c.code: c.name for c in classes}, {c.code: c.ipcc_category for c in classes}


def _years(t1: int, t2: int) -> int:
    if t2 <= t1:
        raise InputDataError(f"the interval must run forwards (t1 < t2), got {t1}-{t2}")
    return t2 - t1


def _same_shape(**arrays: np.ndarray | None) -> tuple[int, ...]:
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    first = next(iter(shapes.values()))
    bad = {k: s for k, s in shapes.items() if s != first}
    if bad:
        raise InputDataError(f"arrays of one chunk must have the same shape; got {shapes}")
    return first


def _check_codes(codes: np.ndarray, nbins: int, what: str = "class code") -> None:
    if not codes.size:
        return
    lo, hi = int(codes.min()), int(codes.max())
    if hi >= nbins or lo < 0:
        raise InputDataError(
            f"{what} {hi if hi >= nbins else lo} is outside 0..{nbins - 1}; "
            "codes must fit in uint8 (or raise nbins)"
        )


# == land-use change matrix ========================================================================
def transition_sums(
    classes_t1: npt.ArrayLike,
    classes_t2: npt.ArrayLike,
    area_ha: npt.ArrayLike,
    stock_t1: npt.ArrayLike,
    stock_t2: npt.ArrayLike,
    nbins: int = 256,
    *,
    nodata: int = 0,
) -> Sums:
    """Area and stock of every (from, to) class pair over one chunk.

    Parameters
    ----------
    classes_t1, classes_t2 : array_like of int
        Land-cover codes at the start and end of the interval (0..``nbins`` − 1); ``nodata``
        marks cells outside the AOI.
    area_ha : array_like of float
        True area of each cell in ha (:meth:`sinkmap.grid.Grid.cell_area_ha`).
    stock_t1, stock_t2 : array_like of float
        Total carbon stock at the start and end, Mg C/ha; NaN where unknown.
    nbins : int, default 256
        Number of class codes; the matrices are ``nbins`` × ``nbins``.
    nodata : int, default 0
        Class code of cells that are not counted.

    Returns
    -------
    dict of numpy.ndarray
        ``nbins`` × ``nbins`` float64 matrices indexed ``[from_code, to_code]``: ``area_ha`` (ha),
        ``stock_t1_mgc`` and ``stock_t2_mgc`` (Mg C at each date), ``stock_change_mgc``
        (Σ (C_t2 − C_t1) × area, Mg C; positive when the stock grows). A cell counts only where
        both classes are valid and both stocks finite. Sum over tiles with :func:`combine_sums`.

    Examples
    --------
    >>> s = transition_sums([[10, 40]], [[40, 40]], [[1.0, 1.0]], [[241.2, 48.2]], [[48.2, 48.2]])
    >>> float(s["area_ha"][10, 40]), round(float(s["stock_change_mgc"][10, 40]), 1)
    (1.0, -193.0)
    """
    _same_shape(
        classes_t1=np.asarray(classes_t1),
        classes_t2=np.asarray(classes_t2),
        area_ha=np.asarray(area_ha),
        stock_t1=np.asarray(stock_t1),
        stock_t2=np.asarray(stock_t2),
    )
    c1 = np.asarray(classes_t1).ravel().astype(np.int64)
    c2 = np.asarray(classes_t2).ravel().astype(np.int64)
    a = np.asarray(area_ha, "float64").ravel()
    s1 = np.asarray(stock_t1, "float64").ravel()
    s2 = np.asarray(stock_t2, "float64").ravel()
    ok = (c1 != nodata) & (c2 != nodata) & np.isfinite(s1) & np.isfinite(s2) & np.isfinite(a)
    _check_codes(c1[ok], nbins)
    _check_codes(c2[ok], nbins)
    idx = c1[ok] * nbins + c2[ok]
    w = a[ok]
    size = nbins * nbins

    def _bin(weights: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=weights, minlength=size).reshape(nbins, nbins)

    return {
        "area_ha": _bin(w),
        "stock_t1_mgc": _bin(s1[ok] * w),
        "stock_t2_mgc": _bin(s2[ok] * w),
        "stock_change_mgc": _bin((s2[ok] - s1[ok]) * w),
    }


def ipcc_label(from_category: str, to_category: str) -> str:
    """IPCC 2006 Vol. 4 name of a land-use transition between two land categories.

    >>> ipcc_label("Forest land", "Forest land")
    'Forest land remaining Forest land'
    >>> ipcc_label("Cropland", "Forest land")
    'Cropland converted to Forest land'
    """
    if from_category == to_category:
        return f"{to_category} remaining {to_category}"
    return f"{from_category} converted to {to_category}"


def _crf_code(from_category: str, to_category: str) -> str:
    letter = _CRF_LETTER.get(to_category)
    if letter is None:
        return ""
    return f"4.{letter}.{1 if from_category == to_category else 2}"


def change_matrix_table(
    sums: Mapping[str, np.ndarray],
    legend: str | Sequence[LegendClass] | None,
    t1: int,
    t2: int,
) -> pd.DataFrame:
    """The land-use change matrix of an interval in long form: one row per (from, to) class pair.

    Parameters
    ----------
    sums : mapping
        Run totals of :func:`transition_sums` (tiles added with :func:`combine_sums`).
    legend : str or sequence of LegendClass or None
        Legend name (``"worldcover"``) or classes, for class names and IPCC categories; codes
        absent from it are named by their number and have no category.
    t1, t2 : int
        Start and end year of the interval.

    Returns
    -------
    pandas.DataFrame
        Pairs with area > 0, sorted by ``from_code``, ``to_code``; columns ``interval_start``,
        ``interval_end``, ``from_code``, ``from_name``, ``from_category``, ``to_code``,
        ``to_name``, ``to_category``, ``ipcc_category`` (e.g. "Cropland converted to Forest
        land"), ``area_ha``, ``stock_t1_mgc``, ``stock_t2_mgc``, ``stock_change_mgc`` (Mg C over
        the interval, + when the stock grows), ``stock_change_mgc_per_yr``, ``co2e_mgco2e``
        (−ΔC × 44/12 over the interval: emissions +, removals −) and ``co2e_mgco2e_per_yr``.
    """
    years = _years(t1, t2)
    names, categories = _legend_maps(legend)
    area = np.asarray(sums["area_ha"])
    rows = []
    for f, t in zip(*np.nonzero(area > 0), strict=True):
        f, t = int(f), int(t)
        change = float(sums["stock_change_mgc"][f, t])
        fc, tc = categories.get(f, ""), categories.get(t, "")
        rows.append(
            {
                "interval_start": t1,
                "interval_end": t2,
                "from_code": f,
                "from_name": names.get(f, str(f)),
                "from_category": fc,
                "to_code": t,
                "to_name": names.get(t, str(t)),
                "to_category": tc,
                "ipcc_category": ipcc_label(fc, tc) if fc and tc else "",
                "area_ha": float(area[f, t]),
                "stock_t1_mgc": float(sums["stock_t1_mgc"][f, t]),
                "stock_t2_mgc": float(sums["stock_t2_mgc"][f, t]),
                "stock_change_mgc": change,
                "stock_change_mgc_per_yr": change / years,
                "co2e_mgco2e": 0.0 - change * CO2_PER_C,
                "co2e_mgco2e_per_yr": 0.0 - change * CO2_PER_C / years,
            }
        )
    columns = [
        "interval_start",
        "interval_end",
        "from_code",
        "from_name",
        "from_category",
        "to_code",
        "to_name",
        "to_category",
        "ipcc_category",
        "area_ha",
        "stock_t1_mgc",
        "stock_t2_mgc",
        "stock_change_mgc",
        "stock_change_mgc_per_yr",
        "co2e_mgco2e",
        "co2e_mgco2e_per_yr",
    ]
    return pd.DataFrame(rows, columns=columns)


def ipcc_category_matrix(
    sums: Mapping[str, np.ndarray],
    legend: str | Sequence[LegendClass] | None,
    t1: int,
    t2: int,
) -> pd.DataFrame:
    """The change matrix aggregated to IPCC land categories ("Forest land remaining Forest land" …).

    Parameters are those of :func:`change_matrix_table`. Every class present must have an IPCC
    category in the legend (else :class:`~sinkmap.errors.InputDataError` names the codes).

    Returns
    -------
    pandas.DataFrame
        One row per (from, to) category pair with area > 0, in reporting order (the land category
        at the end of the interval, CRF 4.A Forest land … 4.F Other land; "remaining" before
        "converted to", conversions in category order). Columns ``interval_start``,
        ``interval_end``, ``crf_code`` (``4.A.1`` remaining / ``4.A.2`` land converted to …),
        ``land_category`` (end category), ``ipcc_category``, ``from_category``, ``to_category`` and
        the sums of :func:`change_matrix_table` (area, stocks, change, CO2e, per year).
    """
    years = _years(t1, t2)
    table = change_matrix_table(sums, legend, t1, t2)
    missing = sorted(
        set(table.loc[table["from_category"] == "", "from_code"])
        | set(table.loc[table["to_category"] == "", "to_code"])
    )
    if missing:
        raise InputDataError(
            f"land-cover code(s) {missing} have no IPCC land category in legend {legend!r}; "
            "add them to the legend in sinkmap/styles.py or map them in the dataset's crosswalk"
        )
    order = {c: i for i, c in enumerate(IPCC_CATEGORIES)}
    sum_cols = ["area_ha", "stock_t1_mgc", "stock_t2_mgc", "stock_change_mgc"]
    grouped = table.groupby(["from_category", "to_category"], as_index=False)[sum_cols].sum()
    grouped["land_category"] = grouped["to_category"]
    grouped["ipcc_category"] = [
        ipcc_label(f, t)
        for f, t in zip(grouped["from_category"], grouped["to_category"], strict=True)
    ]
    grouped["crf_code"] = [
        _crf_code(f, t)
        for f, t in zip(grouped["from_category"], grouped["to_category"], strict=True)
    ]
    grouped["_k"] = [
        (order.get(t, 99), 0 if f == t else 1, order.get(f, 99))
        for f, t in zip(grouped["from_category"], grouped["to_category"], strict=True)
    ]
    grouped = grouped.sort_values("_k").drop(columns="_k").reset_index(drop=True)
    grouped["stock_change_mgc_per_yr"] = grouped["stock_change_mgc"] / years
    grouped["co2e_mgco2e"] = 0.0 - grouped["stock_change_mgc"] * CO2_PER_C
    grouped["co2e_mgco2e_per_yr"] = grouped["co2e_mgco2e"] / years
    grouped.insert(0, "interval_start", t1)
    grouped.insert(1, "interval_end", t2)
    columns = [
        "interval_start",
        "interval_end",
        "crf_code",
        "land_category",
        "ipcc_category",
        "from_category",
        "to_category",
        *sum_cols,
        "stock_change_mgc_per_yr",
        "co2e_mgco2e",
        "co2e_mgco2e_per_yr",
    ]
    return grouped[columns]


# == gain-loss ====================================================================================
#: Units accepted in the ``unit`` column of a growth-rate table, and how each becomes carbon.
RATE_UNITS: dict[str, str] = {
    "t_dm_ha_yr": "above-ground biomass growth G_W (t d.m./ha/yr): ΔC_G = G_W × (1 + R) × CF",
    "t_c_ha_yr": "biomass carbon accumulation (t C/ha/yr): ΔC_G = rate, used as given",
}


@dataclass(frozen=True)
class GrowthRates:
    """Biomass growth rates per land-cover code and forest state, read from a CSV with sources.

    Columns: ``lucode``, ``state_code`` (0 = unspecified, the fallback of a class), ``rate`` ≥ 0,
    ``unit`` (a key of :data:`RATE_UNITS`); optional ``state``, ``class_name``, ``source``,
    ``confirmed``. A (class, state) pair without a row takes the class's state-0 row; a class
    without rows does not grow (e.g. annual cropland, IPCC Tier 1).
    """

    codes: np.ndarray  # int64 per row
    states: np.ndarray  # int64 per row
    rates: np.ndarray  # float64 per row
    units: tuple[str, ...]
    state_names: Mapping[int, str]
    name: str

    @classmethod
    def from_csv(cls, path: str | Path) -> GrowthRates:
        """Read a growth-rate table such as ``config/growth_rates.csv``."""
        from sinkmap.io import read_csv_table

        return cls.from_frame(read_csv_table(path, "growth-rate table"), name=str(path))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str) -> GrowthRates:
        df = df.rename(columns=lambda c: str(c).strip().lower())
        missing = [c for c in ("lucode", "state_code", "rate", "unit") if c not in df.columns]
        if missing:
            raise InputDataError(
                f"growth-rate table {name} lacks column(s) {missing}; it needs "
                "lucode,state_code,rate,unit (see config/growth_rates.csv)"
            )
        if df.empty:
            raise InputDataError(f"growth-rate table {name} has no rows")
        ints = {}
        for col in ("lucode", "state_code"):
            v = pd.to_numeric(df[col], errors="coerce")
            bad = df.index[v.isna() | (v < 0) | (v % 1 != 0)].tolist()
            if bad:
                raise InputDataError(
                    f"growth-rate table {name}: {col} is not a whole number >= 0 on line(s) "
                    f"{[i + 2 for i in bad]}"
                )
            ints[col] = v.to_numpy(dtype="int64")
        rate = pd.to_numeric(df["rate"], errors="coerce")
        bad = df.index[rate.isna() | (rate < 0)].tolist()
        if bad:
            raise InputDataError(
                f"growth-rate table {name}: rate is empty, not a number or negative on line(s) "
                f"{[i + 2 for i in bad]}; give a rate >= 0 in the row's unit"
            )
        units = tuple(str(u).strip() for u in df["unit"])
        bad = [i + 2 for i, u in enumerate(units) if u not in RATE_UNITS]
        if bad:
            raise InputDataError(
                f"growth-rate table {name}: unit must be one of {sorted(RATE_UNITS)} "
                f"(line(s) {bad})"
            )
        pairs = list(zip(ints["lucode"].tolist(), ints["state_code"].tolist(), strict=True))
        dup = sorted({p for p in pairs if pairs.count(p) > 1})
        if dup:
            raise InputDataError(
                f"growth-rate table {name} repeats (lucode, state_code) {dup}; keep one row each"
            )
        state_names: dict[int, str] = {0: "unspecified"}
        if "state" in df.columns:
            for s, n in zip(ints["state_code"].tolist(), df["state"], strict=True):
                state_names.setdefault(int(s), str(n))
        return cls(
            codes=ints["lucode"],
            states=ints["state_code"],
            rates=rate.to_numpy(dtype="float64"),
            units=units,
            state_names=state_names,
            name=name,
        )

    def carbon_gain(
        self,
        classes: npt.ArrayLike,
        state: npt.ArrayLike | None,
        *,
        root_shoot: npt.ArrayLike,
        carbon_fraction: float,
    ) -> np.ndarray:
        """Annual biomass carbon gain ΔC_G of each cell in its class and state (Mg C/ha/yr).

        ``t_dm_ha_yr`` rows give G_W × (1 + R) × CF (IPCC 2006 Vol. 4 Eq. 2.9, 2.10); ``t_c_ha_yr``
        rows give their rate as is. Classes without a row gain 0. A state code that no row uses
        (other than 0) is an error naming the codes and the table.
        """
        codes = np.asarray(classes).astype(np.int64)
        st = np.zeros(codes.shape, np.int64) if state is None else np.asarray(state, np.int64)
        _same_shape(classes=codes, state=st)
        known = np.unique(np.concatenate([[0], self.states]))
        unknown = np.setdiff1d(np.unique(st), known)
        if unknown.size:
            raise InputDataError(
                f"forest state code(s) {unknown.tolist()} occur in the state layer but not in the "
                f"growth-rate table {self.name} (known: {known.tolist()}); add rows for them or "
                "use 0 for unspecified"
            )
        if codes.size and codes.min() < 0:
            raise InputDataError("land-cover codes must be >= 0")
        size = int(max(self.codes.max(), codes.max(initial=0))) + 1
        nstate = int(known.max()) + 1
        dm = np.zeros((size, nstate))
        c = np.zeros((size, nstate))
        order = np.argsort(self.states, kind="stable")  # state-0 rows first: they set the defaults
        for i in order:
            code, s, rate, unit = self.codes[i], self.states[i], self.rates[i], self.units[i]
            cols = slice(None) if s == 0 else slice(s, s + 1)
            dm[code, cols] = rate if unit == "t_dm_ha_yr" else 0.0
            c[code, cols] = rate if unit == "t_c_ha_yr" else 0.0
        r = np.asarray(root_shoot, "float64")
        return dm[codes, st] * (1.0 + r) * float(carbon_fraction) + c[codes, st]


class GainLoss(NamedTuple):
    """Per-pixel result of :func:`gain_loss` (float32 layers, NaN outside the data)."""

    #: ΔC_G, biomass carbon gain, Mg C/ha/yr (≥ 0).
    gains: np.ndarray
    #: ΔC_L, carbon loss averaged over the interval, Mg C/ha/yr (≥ 0).
    losses: np.ndarray
    #: ΔC = ΔC_G − ΔC_L, Mg C/ha/yr (+ when the stock grows).
    net: np.ndarray
    #: −ΔC_G × 44/12, Mg CO2e/ha/yr (≤ 0: removals).
    removals_co2e: np.ndarray
    #: ΔC_L × 44/12, Mg CO2e/ha/yr (≥ 0: emissions).
    emissions_co2e: np.ndarray
    #: −ΔC × 44/12, Mg CO2e/ha/yr, inventory sign.
    net_co2e: np.ndarray
    #: Calendar year the loss is booked in (the Hansen loss year, else ``t2``); 0 where no loss.
    loss_year: np.ndarray


def gain_loss(
    classes_t1: npt.ArrayLike,
    classes_t2: npt.ArrayLike,
    state: npt.ArrayLike | None,
    rates: GrowthRates,
    root_shoot: npt.ArrayLike,
    carbon_fraction: float,
    years: tuple[int, int],
    loss_year: npt.ArrayLike | None = None,
    *,
    stock_t1: npt.ArrayLike,
    stock_t2: npt.ArrayLike,
    biomass_t1: npt.ArrayLike | None = None,
    loss_year_base: int = 2000,
    grow_converted: bool = False,
    nodata: int = 0,
) -> GainLoss:
    """Gain-loss carbon balance per pixel, IPCC 2006 Vol. 4 Eq. 2.4 (ΔC = ΔC_G − ΔC_L).

    Gains (Eq. 2.9, 2.10): a pixel whose class is the same at both dates, and that has no
    disturbance in the interval, gains ΔC_G = G_W × (1 + R) × CF each year, G_W the rate of its
    class and forest state (:class:`GrowthRates`); with ``grow_converted`` a pixel converted *to*
    a growing class gains at the rate of its end class too ("Land converted to Forest land").

    Losses: a pixel whose class changes loses max(C_t1 − C_t2, 0) (a change to a lower-stock
    class); a pixel with a Hansen loss year in (t1, t2] loses its biomass carbon ``biomass_t1``.
    A pixel with both loses the larger of the two, once. Losses are averaged over the interval
    per pixel; ``loss_year`` says in which calendar year each is booked.

    Parameters
    ----------
    classes_t1, classes_t2 : array_like of int
        Land cover at the start and end of the interval (``nodata`` = outside the AOI).
    state : array_like of int or None
        Forest state code per pixel (codes of the growth-rate table; 0 unspecified), or None.
    rates : GrowthRates
        Growth rates per class and state (``GrowthRates.from_csv("config/growth_rates.csv")``).
    root_shoot : float or array_like
        Root-to-shoot ratio R (IPCC Table 4.4; e.g. 0.37 tropical rainforest), per pixel or one.
    carbon_fraction : float
        Carbon fraction of dry matter CF (0.47, IPCC Table 4.3).
    years : (int, int)
        The interval (t1, t2), t1 < t2.
    loss_year : array_like of int, optional
        Hansen Global Forest Change ``lossyear``: 0 no loss, k = loss in ``loss_year_base`` + k.
    stock_t1, stock_t2 : array_like of float
        Total carbon stock at t1 and t2, Mg C/ha (for transition losses).
    biomass_t1 : array_like of float, optional
        Carbon in above-ground, below-ground biomass and dead organic matter at t1 (Mg C/ha):
        what a Hansen loss pixel emits. Required with ``loss_year``.
    loss_year_base : int, default 2000
        Calendar year of Hansen code 0 (GFC: 1 = 2001). Use 0 if ``loss_year`` holds years.
    grow_converted : bool, default False
        Also count growth on land converted to a growing class.
    nodata : int, default 0
        Land-cover code of cells outside the AOI.

    Returns
    -------
    GainLoss
        ``gains``, ``losses``, ``net`` (Mg C/ha/yr), ``removals_co2e``, ``emissions_co2e``,
        ``net_co2e`` (Mg CO2e/ha/yr, inventory sign), float32, NaN where a class is nodata or a
        stock is NaN; ``loss_year`` int16.
    """
    t1, t2 = int(years[0]), int(years[1])
    n = _years(t1, t2)
    c1 = np.asarray(classes_t1).astype(np.int64)
    c2 = np.asarray(classes_t2).astype(np.int64)
    s1 = np.asarray(stock_t1, "float64")
    s2 = np.asarray(stock_t2, "float64")
    _same_shape(
        classes_t1=c1,
        classes_t2=c2,
        stock_t1=s1,
        stock_t2=s2,
        state=None if state is None else np.asarray(state),
        loss_year=None if loss_year is None else np.asarray(loss_year),
        biomass_t1=None if biomass_t1 is None else np.asarray(biomass_t1),
    )
    valid = (c1 != nodata) & (c2 != nodata) & np.isfinite(s1) & np.isfinite(s2)
    same = c1 == c2
    if state is not None:
        state = np.where(valid, np.asarray(state).astype(np.int64), 0)

    disturbed = np.zeros(c1.shape, dtype=bool)
    cal = np.zeros(c1.shape, dtype=np.int64)
    disturbance = np.zeros(c1.shape)
    if loss_year is not None:
        if biomass_t1 is None:
            raise InputDataError(
                "gain_loss: a loss_year layer needs biomass_t1 (Mg C/ha in biomass and dead "
                "organic matter at t1), the carbon a loss pixel emits"
            )
        ly = np.asarray(loss_year).astype(np.int64)
        cal = np.where(ly > 0, loss_year_base + ly, 0)
        disturbed = (cal > t1) & (cal <= t2)
        disturbance = np.where(disturbed, np.maximum(np.asarray(biomass_t1, "float64"), 0.0), 0.0)

    grow_class = np.where(same, c1, c2 if grow_converted else 0)
    growing = (same | grow_converted) & ~disturbed
    gain_rate = rates.carbon_gain(
        np.where(valid, grow_class, 0),
        state,
        root_shoot=root_shoot,
        carbon_fraction=carbon_fraction,
    )
    gains = np.where(growing, gain_rate, 0.0)

    transition = np.where(~same, np.maximum(s1 - s2, 0.0), 0.0)
    loss_total = np.maximum(transition, disturbance)
    losses = loss_total / n
    booked = np.where(loss_total > 0, np.where(disturbed & (disturbance >= transition), cal, t2), 0)
    net = gains - losses

    def _out(x: np.ndarray) -> np.ndarray:
        return np.where(valid, x, np.nan).astype("float32")

    return GainLoss(
        gains=_out(gains),
        losses=_out(losses),
        net=_out(net),
        removals_co2e=_out(0.0 - gains * CO2_PER_C),
        emissions_co2e=_out(losses * CO2_PER_C),
        net_co2e=_out(0.0 - net * CO2_PER_C),
        loss_year=np.where(valid, booked, 0).astype(np.int16),
    )


# == Monte Carlo (IPCC Approach 2) =================================================================
@dataclass(frozen=True)
class Parameter:
    """An uncertain model parameter: value(s) ``mean`` with relative SD ``rel_sd``.

    A draw is ``mean × (1 + rel_sd × z)``, z standard normal, clipped to [``lower``, ``upper``]
    (the clipping slightly biases the mean when rel_sd is large). ``mean`` may be an array (e.g.
    one pool's column of a pool table): each element is drawn independently.
    """

    mean: float | np.ndarray
    rel_sd: float | np.ndarray = 0.0
    lower: float = 0.0
    upper: float = np.inf

    def draw(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        mean = np.asarray(self.mean, "float64")
        z = rng.standard_normal((draws, *mean.shape))
        x = mean * (1.0 + np.asarray(self.rel_sd, "float64") * z)
        return np.clip(x, self.lower, self.upper)


def _stream_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def draw_parameters(
    parameters: Mapping[str, Parameter], draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Draw every parameter once per Monte Carlo draw, for the whole run.

    Returns ``{name: array (draws, *shape)}``. Each parameter has its own random stream keyed by
    (seed, name), so adding a parameter leaves the draws of the others unchanged. A value drawn
    here is used for every pixel of the run: fully correlated across pixels and tiles.
    """
    _check_mc(draws, seed)
    keys = {_stream_key(n): n for n in parameters}
    if len(keys) != len(parameters):
        raise InputDataError(f"parameter names {sorted(parameters)} collide; rename one")
    out = {}
    for name, p in parameters.items():
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, _stream_key(name)]))
        out[name] = p.draw(rng, draws)
    return out


def _check_mc(draws: int, seed: int) -> None:
    if int(draws) < 1:
        raise InputDataError(f"Monte Carlo needs at least 1 draw, got {draws}")
    if int(seed) < 0:
        raise InputDataError(f"the Monte Carlo seed must be an integer >= 0, got {seed}")


def pixel_noise(
    seed: int, draw: int, stream: str, row_off: int, col_off: int, height: int, width: int
) -> np.ndarray:
    """Standard normal errors for a window of the grid, independent per pixel, stream and draw.

    The errors are generated on a fixed lattice of :data:`NOISE_BLOCK`-pixel blocks of the grid,
    each from a generator keyed by (seed, stream, draw, block row, block column): a pixel gets the
    same value whatever chunk it is read in, in whatever order chunks run.

    Returns
    -------
    numpy.ndarray
        float64, shape (``height``, ``width``).
    """
    b = NOISE_BLOCK
    key = _stream_key(stream)
    out = np.empty((height, width))
    for br in range(row_off // b, (row_off + height - 1) // b + 1):
        for bc in range(col_off // b, (col_off + width - 1) // b + 1):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, key, draw, br, bc]))
            block = rng.standard_normal((b, b))
            r0, r1 = max(row_off, br * b), min(row_off + height, (br + 1) * b)
            k0, k1 = max(col_off, bc * b), min(col_off + width, (bc + 1) * b)
            out[r0 - row_off : r1 - row_off, k0 - col_off : k1 - col_off] = block[
                r0 - br * b : r1 - br * b, k0 - bc * b : k1 - bc * b
            ]
    return out


#: ``chunk_fn(data, params, noise) -> sums``: one chunk's totals for one draw. ``data`` the
#: chunk's arrays, ``params`` one draw of each parameter, ``noise(stream)`` standard normal
#: errors for the chunk (one independent field per stream name).
ChunkFn = Callable[
    [Mapping[str, np.ndarray], Mapping[str, np.ndarray], Callable[[str], np.ndarray]],
    Mapping[str, np.ndarray],
]


def monte_carlo_tile(
    chunk_fn: ChunkFn,
    data: Mapping[str, np.ndarray],
    tile: Tile,
    param_draws: Mapping[str, np.ndarray],
    seed: int,
    draws: int,
) -> Sums:
    """All draws of one tile: ``{key: array (draws, …)}`` of the totals ``chunk_fn`` returns.

    Only one draw of the tile's pixels is in memory at a time; the result holds draws × groups,
    never draws × pixels. Tiles combine by adding (:func:`combine_sums`).
    """
    _check_mc(draws, seed)
    for k, v in param_draws.items():
        if np.shape(v)[0] != draws:
            raise InputDataError(f"parameter {k} has {np.shape(v)[0]} draws, expected {draws}")
    for k, v in data.items():
        if np.shape(v) != (tile.height, tile.width):
            raise InputDataError(
                f"data {k} has shape {np.shape(v)} but tile {tile.id} is {tile.height} x {tile.width}"
            )
    out: Sums = {}
    for d in range(draws):
        params = {k: v[d] for k, v in param_draws.items()}

        def noise(stream: str, _d: int = d) -> np.ndarray:
            return pixel_noise(
                seed, _d, stream, tile.row_off, tile.col_off, tile.height, tile.width
            )

        result = chunk_fn(data, params, noise)
        if d == 0:
            out = {k: np.zeros((draws, *np.shape(v))) for k, v in result.items()}
        for k, v in result.items():
            out[k][d] = v
    return out


def _mc_loaded_tile(
    chunk_fn: ChunkFn,
    load: Callable[[Tile], Mapping[str, np.ndarray]],
    tile: Tile,
    param_draws: Mapping[str, np.ndarray],
    seed: int,
    draws: int,
) -> Sums:
    return monte_carlo_tile(chunk_fn, load(tile), tile, param_draws, seed, draws)


def _chain_sum(parts: list[Any]) -> Any:
    """Add delayed tile sums in tile order: (((t0 + t1) + t2) + …), as :func:`combine_sums` does,
    so the result is bit-for-bit the same whatever the scheduler, and consumed tiles are freed."""
    import dask

    total = parts[0]
    for part in parts[1:]:
        total = dask.delayed(combine_sums)([total, part])
    return total


def monte_carlo_totals(
    chunk_fn: ChunkFn,
    draws: int,
    seed: int,
    *,
    tiles: Sequence[Tile],
    load: Callable[[Tile], Mapping[str, np.ndarray]],
    parameters: Mapping[str, Parameter] | None = None,
    scheduler: str = "threads",
) -> Sums:
    """Run-wide totals for every Monte Carlo draw (IPCC Approach 2), streamed tile by tile.

    Parameters
    ----------
    chunk_fn : ChunkFn
        One chunk's totals for one draw, e.g. :func:`model_draw_fn`.
    draws : int
        Number of draws (IPCC suggests enough for stable 2.5–97.5 % or 5–95 % bounds; 500–1000).
    seed : int
        Seed ≥ 0; the same seed gives the same totals whatever the scheduler.
    tiles : sequence of Tile
        The grid's tiles (``list(grid.tiles())``).
    load : callable
        ``load(tile) -> {name: array}``: the tile's inputs (classes, ``area_ha``, values, SDs).
    parameters : mapping of Parameter, optional
        Uncertain parameters, drawn once per draw for the whole run (:func:`draw_parameters`).
    scheduler : str, default "threads"
        Dask scheduler of the per-tile tasks ("threads", "sync", "processes").

    Returns
    -------
    dict of numpy.ndarray
        ``{key: array (draws, …)}``: the totals of every draw, tiles added in a fixed order.
        Summarise with :func:`summarize_draws`.
    """
    import dask

    param_draws = draw_parameters(parameters or {}, draws, seed)
    if not tiles:
        raise InputDataError("monte_carlo_totals: no tiles")
    parts = [
        dask.delayed(_mc_loaded_tile)(chunk_fn, load, tile, param_draws, seed, draws)
        for tile in tiles
    ]
    (total,) = dask.compute(_chain_sum(parts), scheduler=scheduler)
    return total


class DrawSummary(NamedTuple):
    """Mean, standard deviation and 5th/95th percentiles of Monte Carlo totals (the 90 % interval)."""

    mean: np.ndarray
    sd: np.ndarray
    p05: np.ndarray
    p95: np.ndarray


def summarize_draws(totals: npt.ArrayLike, axis: int = 0) -> DrawSummary:
    """Summarise Monte Carlo totals along the draw axis.

    ``sd`` uses ddof = 1 (0 for a single draw); ``p05``/``p95`` are linear-interpolated sample
    quantiles, the bounds of the 90 % interval.
    """
    x = np.asarray(totals, "float64")
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    sd = x.std(axis=axis, ddof=1) if n > 1 else np.zeros_like(mean)
    p05, p95 = np.quantile(x, [0.05, 0.95], axis=axis)
    return DrawSummary(mean=mean, sd=sd, p05=p05, p95=p95)


def table_parameters(
    table: PoolTable,
    rel_sd: float | Mapping[str, float],
    *,
    prefix: str = "table",
) -> dict[str, Parameter]:
    """Uncertain pool-table values: one :class:`Parameter` per pool, named ``"{prefix}.{pool}"``.

    Each (class, pool) value is drawn independently of the others, and once per draw for every
    pixel of that class. ``prefix`` is the model's attribute holding the table (``table`` for
    the lookup model, ``soil`` for the biomass models). ``rel_sd`` is one relative SD or one per
    pool (missing pools: 0).
    """
    sds = rel_sd if isinstance(rel_sd, Mapping) else dict.fromkeys(table.values, float(rel_sd))
    return {
        f"{prefix}.{pool}": Parameter(mean=np.asarray(values, "float64"), rel_sd=sds.get(pool, 0.0))
        for pool, values in table.values.items()
    }


def parameter_target(model: Any, name: str) -> tuple[str, str | None]:
    """What a Monte Carlo parameter name draws: ``(name, None)`` for a numeric parameter of the
    model, ``(attr, pool)`` for one pool's column of the model's :class:`PoolTable` ``attr``
    (``"table.above"``). Anything else is an error naming what can be drawn."""
    fields = type(model.params).model_fields
    if name in fields:
        current = getattr(model.params, name)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise InputDataError(
                f"Monte Carlo parameter {name!r}: model {model.name!r} has {name} = "
                f"{current!r}, not one number, so it cannot be drawn; give it a number or remove it"
            )
        return name, None
    attr, _, pool = name.partition(".")
    table = getattr(model, attr, None) if pool else None
    if not isinstance(table, PoolTable) or pool not in table.values:
        raise InputDataError(
            f"Monte Carlo parameter {name!r} is neither a numeric parameter of model "
            f"{model.name!r} ({sorted(fields)}) nor '<table attribute>.<pool>' (e.g. table.above)"
        )
    return attr, pool


def draw_pools(
    model: Any,
    data: Mapping[str, np.ndarray],
    params: Mapping[str, np.ndarray],
    noise: Callable[[str], np.ndarray],
    input_errors: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """The pools ``model`` gives for one Monte Carlo draw of its parameters and inputs.

    ``params`` holds one draw of each parameter: a numeric parameter of the model by name (e.g.
    ``carbon_fraction``), or ``"{attr}.{pool}"`` for one pool's column of the model's
    :class:`PoolTable` attribute ``attr`` (:func:`table_parameters`). Each input role in
    ``input_errors`` becomes ``data[role] + data[sd_key] × noise(role)``. ``model`` is not modified.
    """
    m = copy.copy(model)
    updates: dict[str, float] = {}
    tables: dict[str, dict[str, np.ndarray]] = {}
    for name, value in params.items():
        attr, pool = parameter_target(model, name)
        if pool is None:
            updates[name] = float(value)
        else:
            tables.setdefault(attr, {})[pool] = np.asarray(value, "float64")
    if updates:
        m.params = model.params.model_copy(update=updates)
    for attr, pools in tables.items():
        base: PoolTable = getattr(model, attr)
        values = {p: pools.get(p, v) for p, v in base.values.items()}
        m.__dict__[attr] = PoolTable(
            codes=base.codes, values=values, name=base.name, names=base.names
        )
    chunk = dict(data)
    for role, sd_key in (input_errors or {}).items():
        chunk[role] = np.asarray(data[role], "float64") + np.asarray(
            data[sd_key], "float64"
        ) * noise(role)
    return m.pools(chunk)


def model_draw_fn(
    model: Any,
    *,
    input_errors: Mapping[str, str] | None = None,
    classes: str = "land_cover",
    zones: str | None = None,
    n_zones: int = 0,
    nbins: int = 256,
) -> ChunkFn:
    """A Monte Carlo chunk function that runs a carbon model with drawn parameters and inputs.

    For each draw: the model's numeric parameters named in the draw (e.g. ``carbon_fraction``,
    ``root_shoot``) take the drawn value; parameters ``"{attr}.{pool}"`` (:func:`table_parameters`)
    replace that pool's column of the model's :class:`PoolTable` attribute ``attr``; each input
    role in ``input_errors`` becomes ``data[role] + data[sd_role] × z`` with z independent per pixel
    (``input_errors={"biomass": "biomass_sd"}`` for the CCI biomass SD layer). The model then
    computes the pools and the chunk's totals are summed per class (and per zone).

    Parameters
    ----------
    model : sinkmap.models.CarbonModel
        The configured model (``get_model(cfg.model.name, cfg.model.params)``); not modified.
    input_errors : mapping, optional
        Input role → key of its per-pixel SD (same units) in the chunk data.
    classes : str, default "land_cover"
        Key of the class codes in the chunk data (0 = nodata).
    zones : str, optional
        Key of an integer zone index per pixel (0..``n_zones`` − 1; < 0 outside every zone).
    n_zones : int
        Number of zones when ``zones`` is given.
    nbins : int, default 256
        Number of class codes.

    Returns
    -------
    ChunkFn
        Returns, for one draw, :func:`sinkmap.carbon.class_sums` of the pools plus ``total``:
        arrays of length ``nbins`` (Mg C and ha), or ``n_zones * nbins`` indexed
        ``zone * nbins + class`` with ``zones``. The chunk data needs ``area_ha``.
    """
    errors = dict(input_errors or {})

    def chunk_fn(
        data: Mapping[str, np.ndarray],
        params: Mapping[str, np.ndarray],
        noise: Callable[[str], np.ndarray],
    ) -> Mapping[str, np.ndarray]:
        pools = draw_pools(model, data, params, noise, errors)
        codes = np.asarray(data[classes]).astype(np.int64)
        size = nbins
        if zones is not None:
            z = np.asarray(data[zones]).astype(np.int64)
            inside = (z >= 0) & (z < n_zones)
            codes = np.where(inside, z * nbins + codes, 0)
            pools = {k: np.where(inside, v, np.nan) for k, v in pools.items()}
            size = n_zones * nbins
        sums = class_sums(codes, data["area_ha"], pools, nbins=size)
        sums["total"] = np.sum([sums[p] for p in pools], axis=0)
        return sums

    return chunk_fn


# == zones ========================================================================================
@dataclass
class ZoneCoverage:
    """Which cells of a tile each zone covers, and by what fraction (from exactextract)."""

    zone: np.ndarray  # int64 zone index per entry
    cell: np.ndarray  # int64 row-major cell index within the tile
    fraction: np.ndarray  # float64 covered fraction of the cell, (0, 1]


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
    return ZoneCoverage(np.concatenate(zone_idx), np.concatenate(cells), np.concatenate(fracs))


def zonal_sums(
    coverage: ZoneCoverage,
    n_zones: int,
    classes: npt.ArrayLike,
    area_ha: npt.ArrayLike,
    values: Mapping[str, npt.ArrayLike],
    *,
    nbins: int = 256,
    nodata: int = 0,
) -> Sums:
    """Per zone and class sums over one tile, cells weighted by their covered fraction.

    Returns ``{"area_ha": …, name: …}``, arrays (``n_zones``, ``nbins``): covered area (ha) and
    Σ value × area × fraction (value units × ha, e.g. Mg C for a stock in Mg C/ha). Only cells
    whose class is valid and whose values are all finite count. Combine tiles by adding.
    """
    codes = np.asarray(classes).ravel().astype(np.int64)
    a = np.asarray(area_ha, "float64").ravel()
    flat = {k: np.asarray(v, "float64").ravel() for k, v in values.items()}
    ok = (codes != nodata) & np.isfinite(a)
    for v in flat.values():
        ok &= np.isfinite(v)
    keep = ok[coverage.cell]
    cell = coverage.cell[keep]
    _check_codes(codes[cell], nbins)
    idx = coverage.zone[keep] * nbins + codes[cell]
    w = a[cell] * coverage.fraction[keep]
    size = n_zones * nbins
    out = {"area_ha": np.bincount(idx, weights=w, minlength=size).reshape(n_zones, nbins)}
    for k, v in flat.items():
        out[k] = np.bincount(idx, weights=v[cell] * w, minlength=size).reshape(n_zones, nbins)
    return out


def _grid_of(path: Path, chunk: int) -> Grid:
    import rasterio

    with rasterio.open(path) as ds:
        t = ds.transform
        if t.b != 0 or t.d != 0 or t.e >= 0 or not np.isclose(t.a, -t.e):
            raise InputDataError(
                f"{path} is not a north-up raster with square pixels; warp it onto the run's grid"
            )
        if ds.crs is None:
            raise InputDataError(f"{path} has no CRS")
        return Grid(
            crs=ds.crs.to_string(),
            resolution=float(t.a),
            left=float(t.c),
            top=float(t.f),
            width=ds.width,
            height=ds.height,
            chunk=chunk,
        )


def zonal_totals(
    rasters: Mapping[str, str | Path],
    zones: str | Path | Any,
    *,
    classes: str | Path | None = None,
    layer: str | None = None,
    id_field: str | None = None,
    legend: str | Sequence[LegendClass] | None = None,
    chunk: int = 2048,
) -> pd.DataFrame:
    """Area-weighted totals of per-hectare rasters per zone polygon (and per class), exactly.

    Each cell counts in a zone by the fraction of its area inside the polygon, computed by
    exactextract, times its true area (:meth:`Grid.cell_area_ha`). Works tile by tile (memory
    bounded by ``chunk``).

    Parameters
    ----------
    rasters : mapping of str to path
        ``{name: GeoTIFF}`` of per-hectare layers on one grid (stocks in Mg C/ha, fluxes in
        Mg CO2e/ha/yr, …). NaN or nodata cells do not count (nor their area).
    zones : path or GeoDataFrame
        Zone polygons (e.g. townships, a national park), reprojected to the rasters' CRS.
    classes : path, optional
        Land-cover raster on the same grid: totals per zone *and* class. Without it, per zone.
    layer, id_field : str, optional
        Layer of the zones file; column of zone ids (else zones are numbered from 1).
    legend : str or sequence of LegendClass, optional
        For class names with ``classes``.
    chunk : int, default 2048
        Tile side in pixels.

    Returns
    -------
    pandas.DataFrame
        Columns ``zone_id`` (and ``class_code``, ``class_name`` with ``classes``), ``area_ha``
        (covered area of counted cells) and ``{name}_total`` = Σ value × cell area × fraction
        (raster units × ha: Mg C for Mg C/ha). One row per zone (per zone and class present).
    """
    import rasterio

    if not rasters:
        raise InputDataError("zonal_totals needs at least one raster")
    paths = {k: Path(v) for k, v in rasters.items()}
    if classes is not None:
        paths_all = {**paths, "__classes__": Path(classes)}
    else:
        paths_all = dict(paths)
    for p in paths_all.values():
        if not p.exists():
            raise InputDataError(f"raster {p} does not exist")
    first = next(iter(paths.values()))
    grid = _grid_of(first, chunk)
    for p in paths_all.values():
        g = _grid_of(p, chunk)
        if (g.crs, g.resolution, g.left, g.top, g.shape) != (
            grid.crs,
            grid.resolution,
            grid.left,
            grid.top,
            grid.shape,
        ):
            raise InputDataError(
                f"raster {p} is not on the grid of {first}; all layers of zonal_totals must align"
            )
    gdf = read_zones(zones, grid.crs, layer=layer, id_field=id_field)
    n_zones = len(gdf)
    nbins = 256 if classes is not None else 2
    datasets = {k: rasterio.open(p) for k, p in paths_all.items()}
    try:
        parts = []
        for tile in grid.tiles():
            cov = zone_coverage(gdf, grid, tile)
            if cov.cell.size == 0:
                continue
            values = {}
            for name in paths:
                ds = datasets[name]
                arr = ds.read(1, window=tile.window).astype("float64")
                if ds.nodata is not None and not np.isnan(ds.nodata):
                    arr[arr == ds.nodata] = np.nan
                values[name] = arr
            if classes is not None:
                cls = datasets["__classes__"].read(1, window=tile.window)
            else:
                cls = np.ones((tile.height, tile.width), np.int64)
            parts.append(
                zonal_sums(cov, n_zones, cls, grid.cell_area_ha(tile.window), values, nbins=nbins)
            )
    finally:
        for ds in datasets.values():
            ds.close()
    names_by_code, _ = _legend_maps(legend)
    rows = []
    totals = combine_sums(parts) if parts else None
    for z in range(n_zones):
        codes = (
            [1]
            if classes is None
            else ([] if totals is None else np.flatnonzero(totals["area_ha"][z] > 0).tolist())
        )
        for code in codes:
            row: dict[str, Any] = {"zone_id": gdf["zone_id"].iloc[z]}
            if classes is not None:
                row["class_code"] = int(code)
                row["class_name"] = names_by_code.get(int(code), str(code))
            row["area_ha"] = 0.0 if totals is None else float(totals["area_ha"][z, code])
            for name in paths:
                row[f"{name}_total"] = 0.0 if totals is None else float(totals[name][z, code])
            rows.append(row)
    return pd.DataFrame(rows)


# == tallies by zone and class =====================================================================
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
    """The :class:`Membership` of a tile's ``valid`` cells: the AOI, plus each covered zone."""
    ok = np.asarray(valid, bool).ravel()
    a = np.asarray(area_ha, "float64").ravel()
    cells = np.flatnonzero(ok)
    zone, cell, weight = [np.zeros(cells.size, np.int64)], [cells], [a[cells]]
    if coverage is not None and coverage.cell.size:
        keep = ok[coverage.cell]
        c = coverage.cell[keep]
        zone.append(coverage.zone[keep] + 1)
        cell.append(c)
        weight.append(a[c] * coverage.fraction[keep])
    return Membership(np.concatenate(zone), np.concatenate(cell), np.concatenate(weight))


#: Largest key space :func:`group_sums` counts densely (8 MB per sum); beyond, it sorts the keys.
_DENSE_BINS = 1 << 20


def group_sums(
    member: Membership,
    keys: Mapping[str, npt.ArrayLike],
    values: Mapping[str, npt.ArrayLike],
) -> pd.DataFrame:
    """Σ weight (``area_ha``) and Σ value × weight per zone and key combination, over one tile.

    ``keys`` are small non-negative integer layers of the tile (e.g. ``{"class_end": lc1}``),
    ``values`` per-hectare layers (Mg C/ha → Mg C). Returns one row per (zone, keys…) present,
    columns ``zone``, the key names, ``area_ha`` and the value names; tiles combine with
    :func:`add_group_sums`. Memory: one entry per counted cell and zone, never a dense matrix.
    """
    names = list(keys)
    cols = [np.asarray(keys[k]).ravel().astype(np.int64)[member.cell] for k in names]
    for name, col in zip(names, cols, strict=True):
        if col.size and (col.min() < 0 or col.max() > 0xFFFF):
            raise InputDataError(f"{name} codes must be within 0..65535")
    bins = [256 if col.size == 0 or col.max() < 256 else 0x10000 for col in cols]
    n_zone = int(member.zone.max(initial=0)) + 1
    size = n_zone * int(np.prod(bins))
    key = member.zone.copy()
    for col, b in zip(cols, bins, strict=True):
        key = key * b + col
    if size <= _DENSE_BINS:  # small key space: bincount straight on the keys, no sort
        present = np.flatnonzero(np.bincount(key, minlength=size))
        index, n = key, size
    else:
        present, index = np.unique(key, return_inverse=True)
        n = present.size

    def _sum(weights: np.ndarray) -> np.ndarray:
        total = np.bincount(index, weights=weights, minlength=n)
        return total[present] if size <= _DENSE_BINS else total

    out: dict[str, np.ndarray] = {}
    rest = present
    decoded = []
    for b in reversed(bins):
        decoded.append(rest % b)
        rest = rest // b
    out["zone"] = rest
    for name, col in zip(names, reversed(decoded), strict=True):
        out[name] = col
    out["area_ha"] = _sum(member.weight)
    for name, v in values.items():
        out[name] = _sum(np.asarray(v, "float64").ravel()[member.cell] * member.weight)
    return pd.DataFrame(out)


def add_group_sums(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Add the :func:`group_sums` of several tiles (rows with the same zone and keys add up)."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    keys = [c for c in table.columns if c == "zone" or table[c].dtype.kind in "iu"]
    return table.groupby(keys, sort=True, as_index=False).sum()
