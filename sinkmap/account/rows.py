"""The account's rows: per-zone and per-class sums in long form, joined across years and methods,
with the Monte Carlo intervals. Pure pandas: the stages read the tallies and write the table.

One row per (year, zone, class, pool, method) with the columns of
:data:`sinkmap.contract.ACCOUNT_COLUMNS`; see docs/outputs.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sinkmap import __version__
from sinkmap.account.montecarlo import bound_mcse, draws_needed, variance_shares
from sinkmap.account.zones import Zones
from sinkmap.carbon import carbon_of, flux_between
from sinkmap.constants import UNITS_FLUX_TOTAL, UNITS_STOCK_TOTAL
from sinkmap.contract import (
    ACCOUNT_COLUMNS,
    ACCOUNT_INTEGER,
    ACCOUNT_JSON_TEXT,
    ACCOUNT_POOLS,
    ACCOUNT_TEXT,
    ACCOUNT_UNITS,
    ADJUSTED,
    ADJUSTED_QUANTILES,
    ALL_CLASSES,
    AOI_ZONE,
    GAIN_LOSS,
    INTERVAL_QUANTILES,
    METHODS,
    OUTPUT_VERSION,
    SENSITIVITY_COLUMNS,
    STOCK_DIFFERENCE,
)
from sinkmap.errors import InputDataError
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


#: The net flux interval columns (percentiles and the bounds' Monte Carlo SE) of a row.
_NET_INTERVAL = [f"net_flux_mgco2e_per_yr_{k}" for k in [*INTERVAL_QUANTILES, "mcse"]]


def interval_columns(values: pd.DataFrame, name: str) -> pd.DataFrame:
    """Percentiles (:data:`~sinkmap.contract.INTERVAL_QUANTILES`) of each row's draws, and the
    Monte Carlo standard error of the 95 % bounds (the larger of the two)."""
    q = values.quantile(list(INTERVAL_QUANTILES.values()), axis=1).T
    q.columns = [f"{name}_{k}" for k in INTERVAL_QUANTILES]
    x = values.to_numpy()
    q[f"{name}_mcse"] = np.maximum(bound_mcse(x, 0.025), bound_mcse(x, 0.975))
    return q


def with_intervals(
    st: pd.DataFrame,
    draws: Mapping[int, pd.DataFrame],
    year: int,
    prev: int | None,
    valid_area: Mapping[int, pd.Series],
    tolerance: float | None = None,
) -> pd.DataFrame:
    """Monte Carlo 95 % (2.5th/97.5th percentiles, IPCC) and 90 % (5th/95th, VCS and CDM)
    intervals, with the Monte Carlo standard error of the 95 % bounds, on the "all classes" rows
    of a year's stock table.

    The flux interval is the spread of −(T_year − T_prev)/n × 44/12 over draws. It brackets the
    flux only where both years count the same cells, so a zone whose counted area differs between
    the two years (a nodata patch in one year's inputs) gets no flux interval, with a warning.
    With a ``tolerance``, a bound of the AOI's total whose standard error exceeds that fraction of
    the interval's half-width gets a warning naming the draws needed.
    """
    cur = draws[year].pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
    n = cur.shape[1]
    q = interval_columns(cur, "stock_mgc")
    if prev is not None and prev in draws:
        before = (
            draws[prev]
            .pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
            .reindex(index=cur.index, columns=cur.columns)
        )
        flux = flux_between(before, cur, year - prev)
        q = q.join(interval_columns(flux, "net_flux_mgco2e_per_yr"))
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
                q.loc[mask, _NET_INTERVAL] = np.nan
    if tolerance is not None:
        _check_convergence(q, n, year, tolerance)
    q["mc_draws"] = n
    q = q.reset_index()
    q["zone_id"] = q["zone_id"].astype(str)
    q["class_name"] = ALL_CLASSES
    return st.merge(q, on=["zone_id", "pool", "class_name"], how="left")


def _check_convergence(q: pd.DataFrame, n: int, year: int, tolerance: float) -> None:
    """Warn when a 95 % bound of the AOI's total is not stable to ``tolerance``."""
    if (AOI_ZONE, "total") not in q.index:
        return
    row = q.loc[(AOI_ZONE, "total")]
    for name in ("stock_mgc", "net_flux_mgco2e_per_yr"):
        if f"{name}_mcse" not in row or pd.isna(row[f"{name}_mcse"]):
            continue
        half = (row[f"{name}_p975"] - row[f"{name}_p025"]) / 2
        need = draws_needed(n, float(row[f"{name}_mcse"]), float(half), tolerance)
        if need > n:
            log.warning(
                "%s %s: the Monte Carlo standard error of a 95 %% bound (%.4g) is above %.3g x "
                "the interval's half-width (%.4g) with %d draws; set "
                "account.uncertainty.draws to at least %d",
                year,
                name,
                row[f"{name}_mcse"],
                tolerance,
                half,
                n,
                need,
            )


def account_table(
    stock_tallies: Mapping[int, pd.DataFrame],
    change_tallies: Mapping[int, pd.DataFrame],
    draws: Mapping[int, pd.DataFrame] | None = None,
    tolerance: float | None = None,
    adjusted: Mapping[tuple[int, int], pd.DataFrame] | None = None,
    gain_loss_is_stock_difference: bool = False,
    gain_loss_mc: Mapping[int, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The carbon account: each year's stock tally joined with the changes of the interval ending in
    it (both methods), and the Monte Carlo intervals, with the contract's columns and types.

    ``stock_tallies``: year → ``account_stocks.csv`` as read; ``change_tallies``: end year →
    ``account_changes.csv``; ``draws``: year → ``monte_carlo.csv``; ``gain_loss_is_stock_difference``:
    the gain-loss rows take the stock difference's net flux interval (a model with a carbon state);
    ``gain_loss_mc``: end year → ``monte_carlo_gain_loss.csv`` (the gain-loss Monte Carlo of a
    model without one). Rows of a year come only from
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
        else:
            gl = pd.DataFrame()
        if year in draws:
            st = with_intervals(st, draws, year, years[k - 1] if k else None, valid_area, tolerance)
            if gain_loss_is_stock_difference and not gl.empty:
                gl = _gain_loss_intervals(gl, st)
        if year in (gain_loss_mc or {}) and not gl.empty:
            gl = _gain_loss_mc_intervals(gl, (gain_loss_mc or {})[year])
        if not gl.empty:
            frames.append(gl)
        valid_area[year] = aoi_areas(st)
        frames.append(st)
    table = pd.concat(frames, ignore_index=True)
    if adjusted:
        table = pd.concat(
            [table, *(adjusted_rows(adj, y0, y1, table) for (y0, y1), adj in adjusted.items())],
            ignore_index=True,
        )
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
    order = {m: i for i, m in enumerate(METHODS)}
    table["_m"] = table["method"].map(order)
    table["_p"] = table["pool"].map({p: i for i, p in enumerate(ACCOUNT_POOLS)})
    table["_z"] = (table["zone_id"] != AOI_ZONE).astype(int)
    return table.sort_values(
        ["year", "_z", "zone_id", "_m", "class_code", "_p"], na_position="last", kind="stable"
    )[ACCOUNT_COLUMNS].reset_index(drop=True)


def _gain_loss_intervals(gl: pd.DataFrame, st: pd.DataFrame) -> pd.DataFrame:
    """The gain-loss "all classes" rows with the net flux interval of the stock difference's
    draws: a model whose gain-loss equals its stock difference pixel by pixel (the carbon state,
    docs/accounting.md) has, draw by draw, the same net flux in both methods."""
    src = st[(st["class_name"] == ALL_CLASSES) & (st["pool"] == "total")]
    return _with_net_interval(
        gl, src[["zone_id", *_NET_INTERVAL, "mc_draws"]].dropna(subset=["mc_draws"])
    )


def _gain_loss_mc_intervals(gl: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """The gain-loss "all classes" rows of the zones in ``draws`` (``monte_carlo_gain_loss.csv``)
    with the intervals of their net flux draws."""
    net = draws[draws["part"] == "net"].astype({"zone_id": str})
    values = net.pivot_table(index="zone_id", columns="draw", values="mgco2e_per_yr")
    q = interval_columns(values, "net_flux_mgco2e_per_yr")
    q["mc_draws"] = values.shape[1]
    return _with_net_interval(gl, q.reset_index())


def _with_net_interval(gl: pd.DataFrame, q: pd.DataFrame) -> pd.DataFrame:
    """``gl`` with the net flux interval columns and ``mc_draws`` of ``q`` (one row per zone) on
    its "all classes" rows; other rows, and zones ``q`` lacks, without."""
    rows = gl.drop(columns=[c for c in [*_NET_INTERVAL, "mc_draws"] if c in gl.columns])
    keep = rows["class_name"] == ALL_CLASSES
    merged = rows[keep].merge(q, on="zone_id", how="left")
    merged.index = rows.index[keep]
    return pd.concat([merged, rows[~keep]]).sort_index()


def adjusted_rows(adjusted: pd.DataFrame, y0: int, y1: int, own: pd.DataFrame) -> pd.DataFrame:
    """The account rows of an interval's area-adjusted net flux (``adjusted_account.csv`` of
    ``sinkmap assess``): per method, the AOI's "all classes" total, its 95 % and 90 % intervals,
    the adjusted area; stock and gross columns empty. Labels and provenance come from the
    interval's own stock-difference row (in ``own``, the account's other rows)."""
    base = own[
        (own["year"] == y1)
        & (own["zone_id"].astype(str) == AOI_ZONE)
        & (own["class_name"] == ALL_CLASSES)
        & (own["pool"] == "total")
        & (own["method"] == STOCK_DIFFERENCE)
    ]
    if base.empty:
        raise InputDataError(
            f"the account has no {y1} stock-difference total for the AOI, so the area-adjusted "
            f"rows of {y0}-{y1} have nothing to join; run the workflow for {y0} and {y1}"
        )
    ref = base.iloc[0]
    rows = []
    for method, part in adjusted.groupby("method", sort=False):
        total = part[part["stratum"].astype(str) == "total"].iloc[0]
        net = float(total["net_flux_adjusted_mgco2e_per_yr"])
        params = {
            "activity_data": "area-adjusted (Olofsson et al. 2014; Stehman 2014)",
            "emission_factors": "the map's net flux per ha of each change stratum",
            "uncertainty_sources": str(total.get("uncertainty_sources", "")),
        }
        row = {
            "year": y1,
            "interval_start": y0,
            "interval_end": y1,
            "zone_id": AOI_ZONE,
            "zone_name": ref["zone_name"],
            "class_code": pd.NA,
            "class_name": ALL_CLASSES,
            "ipcc_category": "",
            "pool": "total",
            "method": ADJUSTED[str(method)],
            "area_ha": float(total["adjusted_area_ha"]),
            "stock_change_mgc_per_yr": 0.0 - carbon_of(net),
            "net_flux_mgco2e_per_yr": net,
            "model": ref["model"],
            "method_params": json.dumps(params, sort_keys=True),
            "inputs": ref["inputs"],
            "synthetic": ref["synthetic"],
            "computed_at": str(total.get("computed_at", ref["computed_at"])),
        }
        for k, a in zip(INTERVAL_QUANTILES, ADJUSTED_QUANTILES, strict=True):
            row[f"net_flux_mgco2e_per_yr_{k}"] = float(
                total[f"net_flux_adjusted_mgco2e_per_yr_{a}"]
            )
        row["mc_draws"] = int(total["draws"]) if "draws" in total else pd.NA
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity_table(
    draws: Mapping[int, pd.DataFrame],
    fixed: Mapping[int, pd.DataFrame],
    gain_loss: Mapping[int, pd.DataFrame] | None = None,
    gain_loss_fixed: Mapping[int, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """``uncertainty_sensitivity.csv``: for each year's AOI total stock, each interval's net
    flux and each interval's gain-loss net flux, the share of the Monte Carlo variance owed to
    each parameter (:func:`~sinkmap.account.montecarlo.variance_shares`), largest first.

    ``draws``: year → ``monte_carlo.csv``; ``fixed``: year → ``monte_carlo_sensitivity.csv`` (the
    AOI's total with one parameter held at its value). A flux is compared draw by draw between two
    years, so a parameter's share of the flux variance is what it adds through the change (a
    parameter drawn the same in both years cancels where the land did not change).
    ``gain_loss``: end year → ``monte_carlo_gain_loss.csv``; ``gain_loss_fixed``: end year →
    ``monte_carlo_gain_loss_sensitivity.csv`` (quantity ``net_flux_gain_loss``).
    """

    def aoi_total(t: pd.DataFrame) -> np.ndarray:
        rows = t[(t["zone_id"].astype(str) == AOI_ZONE) & (t["pool"] == "total")]
        return rows.sort_values("draw")["stock_mgc"].to_numpy("float64")

    def per_param(t: pd.DataFrame, column: str = "stock_mgc") -> dict[str, np.ndarray]:
        return {
            str(p): g.sort_values("draw")[column].to_numpy("float64")
            for p, g in t.groupby("parameter", sort=False)
        }

    rows = []
    years = sorted(y for y in draws if y in fixed)
    gain_loss, gain_loss_fixed = gain_loss or {}, gain_loss_fixed or {}
    for k, year in enumerate(years):
        total, held = aoi_total(draws[year]), per_param(fixed[year])
        prev = years[k - 1] if k else None
        cases: list[tuple[str, int | None, np.ndarray, dict[str, np.ndarray], str]] = []
        if held:
            cases.append(("stock", None, total, held, UNITS_STOCK_TOTAL))
        if held and prev is not None:
            before, held_before = aoi_total(draws[prev]), per_param(fixed[prev])
            n = year - prev

            def flux(a: np.ndarray, b: np.ndarray, n: int = n) -> np.ndarray:
                return np.asarray(flux_between(b, a, n))

            if before.size == total.size and set(held_before) == set(held):
                cases.append(
                    (
                        "net_flux",
                        prev,
                        flux(total, before),
                        {p: flux(v, held_before[p]) for p, v in held.items()},
                        UNITS_FLUX_TOTAL,
                    )
                )
        held_gl = (
            per_param(gain_loss_fixed[year], "mgco2e_per_yr") if year in gain_loss_fixed else {}
        )
        if held_gl and year in gain_loss:
            gl = gain_loss[year]
            net = gl[(gl["part"] == "net") & (gl["zone_id"].astype(str) == AOI_ZONE)]
            values = net.sort_values("draw")["mgco2e_per_yr"].to_numpy("float64")
            y0 = int(net["interval_start"].iloc[0])
            cases.append(("net_flux_gain_loss", y0, values, held_gl, UNITS_FLUX_TOTAL))
        for quantity, start, values, with_fixed, units in cases:
            shares = variance_shares(values, with_fixed)
            for p in sorted(shares, key=lambda p: -np.nan_to_num(shares[p], nan=-1)):
                rows.append(
                    {
                        "year": year,
                        "interval_start": start,
                        "quantity": quantity,
                        "parameter": p,
                        "variance_share": shares[p],
                        "sd": float(np.std(values, ddof=1)) if values.size > 1 else np.nan,
                        "sd_parameter_fixed": float(np.std(with_fixed[p], ddof=1))
                        if values.size > 1
                        else np.nan,
                        "units": units,
                        "mc_draws": values.size,
                    }
                )
    table = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    table["interval_start"] = table["interval_start"].astype("Int64")
    return table
