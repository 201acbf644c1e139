"""The account's rows: per-zone and per-class sums in long form, joined across years and methods,
with the Monte Carlo intervals. Pure pandas: the stages read the tallies and write the table.

One row per (year, zone, class, pool, method) with the columns of
:data:`sinkmap.contract.ACCOUNT_COLUMNS`; see docs/outputs.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sinkmap import __version__
from sinkmap.account.zones import Zones
from sinkmap.constants import CO2_PER_C
from sinkmap.contract import (
    ACCOUNT_COLUMNS,
    ACCOUNT_INTEGER,
    ACCOUNT_JSON_TEXT,
    ACCOUNT_POOLS,
    ACCOUNT_TEXT,
    ACCOUNT_UNITS,
    ALL_CLASSES,
    AOI_ZONE,
    GAIN_LOSS,
    OUTPUT_VERSION,
    STOCK_DIFFERENCE,
)
from sinkmap.legends import class_names, ipcc_categories

log = logging.getLogger("sinkmap")

#: Columns of a change tally that the account takes onto a year's stock rows.
CHANGE_COLUMNS = [
    "interval_start",
    "interval_end",
    "stock_change_mgc_per_yr",
    "net_flux_mgco2e_per_yr",
    "emissions_mgco2e_per_yr",
    "removals_mgco2e_per_yr",
]


def long_rows(sums: pd.DataFrame, legend: str | None, zones: Zones | None = None) -> pd.DataFrame:
    """Per-class sums with columns ``"{measure}:{pool}"`` → one row per (zone, class, pool) with one
    column per measure, plus the "all classes" rows of each zone (the sum over its classes)."""
    names, cats = class_names(legend), ipcc_categories(legend)
    value_cols = [c for c in sums.columns if ":" in c]
    totals = sums.groupby(["zone_id", "zone_name"], sort=False, as_index=False)[
        ["area_ha", *value_cols]
    ].sum()
    if zones is not None:  # every zone gets its "all classes" rows, 0 where it has no valid cell
        every = pd.DataFrame({"zone_id": zones.ids, "zone_name": zones.names})
        totals = every.merge(totals, on=["zone_id", "zone_name"], how="left").fillna(
            dict.fromkeys(["area_ha", *value_cols], 0.0)
        )
    totals["class_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    both = pd.concat(
        [sums.assign(class_code=sums["class_code"].astype("Int64")), totals], ignore_index=True
    )
    pools = [p for p in ACCOUNT_POOLS if any(c.endswith(f":{p}") for c in value_cols)]
    measures = sorted({c.split(":")[0] for c in value_cols})
    frames = []
    for pool in pools:
        part = both[["zone_id", "zone_name", "class_code", "area_ha"]].copy()
        part["pool"] = pool
        for m in measures:
            part[m] = both.get(f"{m}:{pool}", np.nan)
        frames.append(part)
    rows = pd.concat(frames, ignore_index=True)
    rows["class_name"] = [
        ALL_CLASSES if pd.isna(c) else names.get(int(c), str(c)) for c in rows["class_code"]
    ]
    rows["ipcc_category"] = ["" if pd.isna(c) else cats.get(int(c), "") for c in rows["class_code"]]
    return rows


def aoi_areas(st: pd.DataFrame) -> pd.Series:
    """Counted area per zone of a year's stock rows (all classes, total pool)."""
    rows = st[(st["class_name"] == ALL_CLASSES) & (st["pool"] == "total")]
    return rows.set_index("zone_id")["area_ha"]


def with_intervals(
    st: pd.DataFrame,
    draws: Mapping[int, pd.DataFrame],
    year: int,
    prev: int | None,
    valid_area: Mapping[int, pd.Series],
) -> pd.DataFrame:
    """Monte Carlo 5th/95th percentiles on the "all classes" rows of a year's stock table.

    The flux interval is the spread of −(T_year − T_prev)/n × 44/12 over draws. It brackets the
    flux only where both years count the same cells, so a zone whose counted area differs between
    the two years (a nodata patch in one year's inputs) gets no flux interval, with a warning.
    """
    cur = draws[year].pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
    n = cur.shape[1]
    q = cur.quantile([0.05, 0.95], axis=1).T
    q.columns = ["stock_mgc_p05", "stock_mgc_p95"]
    if prev is not None and prev in draws:
        before = (
            draws[prev]
            .pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
            .reindex(index=cur.index, columns=cur.columns)
        )
        flux = -(cur - before) / (year - prev) * CO2_PER_C
        fq = flux.quantile([0.05, 0.95], axis=1).T
        q["net_flux_mgco2e_per_yr_p05"] = fq[0.05]
        q["net_flux_mgco2e_per_yr_p95"] = fq[0.95]
        now, then = aoi_areas(st), valid_area.get(prev)
        if then is not None:
            differs = [
                z
                for z in now.index
                if not np.isclose(now[z], then.get(z, np.nan), rtol=1e-9, atol=1e-9)
            ]
            if differs:
                log.warning(
                    "no Monte Carlo flux interval for zone(s) %s in %s-%s: the two years count "
                    "different cells (nodata in one year's inputs)",
                    differs,
                    prev,
                    year,
                )
                mask = q.index.get_level_values("zone_id").isin(differs)
                q.loc[mask, ["net_flux_mgco2e_per_yr_p05", "net_flux_mgco2e_per_yr_p95"]] = np.nan
    q["mc_draws"] = n
    q = q.reset_index()
    q["zone_id"] = q["zone_id"].astype(str)
    q["class_name"] = ALL_CLASSES
    return st.merge(q, on=["zone_id", "pool", "class_name"], how="left")


def account_table(
    stock_tallies: Mapping[int, pd.DataFrame],
    change_tallies: Mapping[int, pd.DataFrame],
    draws: Mapping[int, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The carbon account: each year's stock tally joined with the changes of the interval ending in
    it (both methods), and the Monte Carlo intervals, with the contract's columns and types.

    ``stock_tallies``: year → ``account_stocks.csv`` as read; ``change_tallies``: end year →
    ``account_changes.csv``; ``draws``: year → ``monte_carlo.csv``. Rows of a year come only from
    that year's (and its interval's) tallies, so adding a year leaves earlier rows as they were,
    ``computed_at`` included.
    """
    keys = ["zone_id", "class_code", "pool"]
    frames = []
    draws = dict(draws or {})
    years = sorted(stock_tallies)
    valid_area: dict[int, pd.Series] = {}
    for k, year in enumerate(years):
        st = stock_tallies[year].copy()
        st["class_code"] = st["class_code"].astype("Int64")
        st["method"] = STOCK_DIFFERENCE
        st["method_params"] = "{}"
        if year in change_tallies:
            ch = change_tallies[year].copy()
            ch["class_code"] = ch["class_code"].astype("Int64")
            sd = ch[ch["method"] == STOCK_DIFFERENCE]
            sd = sd.rename(columns={"computed_at": "_changed_at"})
            st = st.merge(sd[[*keys, *CHANGE_COLUMNS, "_changed_at"]], on=keys, how="left")
            later = st["_changed_at"].notna() & (st["_changed_at"] > st["computed_at"])
            st.loc[later, "computed_at"] = st.loc[later, "_changed_at"]
            st = st.drop(columns="_changed_at")
            gl = ch[ch["method"] == GAIN_LOSS].drop(columns=["computed_at"], errors="ignore")
            if not gl.empty:
                gl = gl.assign(year=year)
                gl["computed_at"] = ch.loc[gl.index, "computed_at"]
                frames.append(gl)
        if year in draws:
            st = with_intervals(st, draws, year, years[k - 1] if k else None, valid_area)
        valid_area[year] = aoi_areas(st)
        frames.append(st)
    table = pd.concat(frames, ignore_index=True)
    for col in ACCOUNT_COLUMNS:  # a column no tally filled keeps its type (Parquet schema)
        if col not in table.columns:
            table[col] = np.nan if ACCOUNT_UNITS[col] is not None else pd.NA
    for col in ACCOUNT_UNITS:
        if ACCOUNT_UNITS[col] is not None:
            table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    for col in ACCOUNT_TEXT + ACCOUNT_JSON_TEXT:
        table[col] = table[col].astype("string")
    table["sinkmap_version"] = __version__
    table["output_version"] = OUTPUT_VERSION
    for col in ACCOUNT_INTEGER:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    order = {m: i for i, m in enumerate((STOCK_DIFFERENCE, GAIN_LOSS))}
    table["_m"] = table["method"].map(order)
    table["_p"] = table["pool"].map({p: i for i, p in enumerate(ACCOUNT_POOLS)})
    table["_z"] = (table["zone_id"] != AOI_ZONE).astype(int)
    return table.sort_values(
        ["year", "_z", "zone_id", "_m", "class_code", "_p"], na_position="last", kind="stable"
    )[ACCOUNT_COLUMNS].reset_index(drop=True)
