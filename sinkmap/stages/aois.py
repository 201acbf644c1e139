"""Several AOIs of one run (``aois:``) in one table: every AOI's account, and their sum.

Each AOI runs as its own workflow (``results/<name>/``). :func:`combine_accounts` writes
``results/carbon_account_aois.csv``: every AOI's ``carbon_account.csv`` with an ``aoi`` column in
front, then the AOIs' sum (``aoi`` = :data:`ALL_AOIS`) on the whole-AOI rows (zone ``aoi``, all
classes): each year's stock per pool and each interval's flux per pool and method. The AOIs do
not overlap (:func:`sinkmap.aoi.check_disjoint`, run before the workflow starts), so areas,
stocks and fluxes add.

The sum's Monte Carlo intervals come from summing the AOIs' draws draw by draw
(``monte_carlo.csv``: stocks, and the stock-difference fluxes between them). With one uncertainty
setting for every AOI (seed, draws, parameters), draw *d* gives a parameter the same value in every
AOI, so a parameter's error is shared by all AOIs, as it is when one table serves them all (the
Tier 1 value of a stratum is wrong in the same direction everywhere). AOIs with their own
uncertainty settings get sums without intervals, with a warning. Gain-loss sums carry no interval
(its draws are the stock difference's with a carbon state, per AOI otherwise; not combined here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap.account.rows import interval_columns
from sinkmap.carbon import flux_between
from sinkmap.contract import (
    ALL_CLASSES,
    AOI_ZONE,
    AOIS_ACCOUNT_COLUMNS,
    STOCK_DIFFERENCE,
)
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv

log = logging.getLogger("sinkmap")

#: The ``aoi`` of the rows that sum every AOI.
ALL_AOIS = "all AOIs"
#: Columns of the whole-AOI rows that add up over AOIs that do not overlap.
ADDITIVE = (
    "area_ha",
    "stock_mgc",
    "stock_change_mgc_per_yr",
    "net_flux_mgco2e_per_yr",
    "emissions_mgco2e_per_yr",
    "removals_mgco2e_per_yr",
)
_KEYS = ["year", "interval_start", "interval_end", "pool", "method"]


def summed_draws(draws: Mapping[str, Path]) -> pd.DataFrame:
    """The AOIs' whole-AOI stock per pool (rows) and draw (columns), summed draw by draw, of one
    year's ``monte_carlo.csv`` files (AOI name → path). Raises :class:`InputDataError` if the
    files do not hold the same draws of the same seed."""
    total: pd.DataFrame | None = None
    seeds: dict[str, set[int]] = {}
    for name, path in draws.items():
        d = pd.read_csv(path, dtype={"zone_id": str, "pool": str}, keep_default_na=False)
        d = d[d["zone_id"] == AOI_ZONE]
        seeds[name] = set(d["seed"].unique().tolist())
        wide = d.pivot_table(index="pool", columns="draw", values="stock_mgc", aggfunc="sum")
        if total is not None and not wide.columns.equals(total.columns):
            raise InputDataError(
                f"{path} holds draws {wide.columns.min()}-{wide.columns.max()}, the other AOIs "
                f"{total.columns.min()}-{total.columns.max()}: give every AOI the same "
                "account.uncertainty.draws"
            )
        total = wide if total is None else total.add(wide, fill_value=np.nan)
    if len({frozenset(s) for s in seeds.values()}) > 1:
        raise InputDataError(
            f"the AOIs' Monte Carlo draws come from different seeds ({seeds}): give every AOI the "
            "same account.uncertainty.seed so that draw d is the same parameter draw everywhere"
        )
    assert total is not None
    return total


def combine_accounts(
    accounts: Mapping[str, Path],
    out: Path,
    *,
    monte_carlo: Mapping[str, Mapping[int, Path]] | None = None,
) -> pd.DataFrame:
    """``carbon_account_aois.csv``: each AOI's account rows (AOI name → ``carbon_account.csv``)
    with ``aoi`` in front, and their sum (module docstring).

    ``monte_carlo``: AOI name → year → ``monte_carlo.csv`` (all AOIs, or none: the sum's
    intervals).
    """
    tables = []
    for name, path in accounts.items():
        t = pd.read_csv(path, dtype={"zone_id": str, "class_code": "Int64"}, keep_default_na=False)
        t.insert(0, "aoi", name)
        tables.append(t)
    rows = pd.concat(tables, ignore_index=True)
    for col in ("year", "interval_start", "interval_end"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce").astype("Int64")
    for col in ADDITIVE:
        rows[col] = pd.to_numeric(rows[col], errors="coerce")

    whole = rows[(rows["zone_id"] == AOI_ZONE) & (rows["class_name"] == ALL_CLASSES)]
    counts = whole.groupby(_KEYS, dropna=False)["aoi"].nunique()
    if (counts != len(accounts)).any():
        missing = counts[counts != len(accounts)].index.tolist()
        log.warning("rows not every AOI has are left out of the sum: %s", missing)
    keep = counts[counts == len(accounts)].index
    grouped = whole.set_index(_KEYS).loc[lambda t: t.index.isin(keep)]
    total = grouped.groupby(level=_KEYS, dropna=False)[list(ADDITIVE)].sum(min_count=1)
    text = grouped.groupby(level=_KEYS, dropna=False)[["model", "inputs", "method_params"]].agg(
        lambda s: s.iloc[0] if s.nunique() == 1 else ""
    )
    synthetic = grouped.groupby(level=_KEYS, dropna=False)["synthetic"].agg(
        lambda s: "yes" if (s == "yes").any() else "no"
    )
    total = total.join(text).join(synthetic).reset_index()
    total["stock_density_mgc_per_ha"] = total["stock_mgc"] / total["area_ha"]
    total.insert(0, "aoi", ALL_AOIS)
    total["zone_id"] = AOI_ZONE
    total["zone_name"] = ALL_AOIS
    total["class_name"] = ALL_CLASSES
    total["computed_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()

    if monte_carlo and len(monte_carlo) == len(accounts):
        total = _with_intervals(total, monte_carlo)
    elif monte_carlo:
        log.warning("Monte Carlo draws of only some AOIs: the sum has no interval")

    for col in rows.columns:
        if col not in total.columns:
            total[col] = pd.NA
    table = pd.concat([rows, total[rows.columns]], ignore_index=True)
    for col in AOIS_ACCOUNT_COLUMNS:
        if col not in table.columns:
            table[col] = pd.NA
    table = table[AOIS_ACCOUNT_COLUMNS]
    write_csv(table, out)
    return table


def _with_intervals(
    total: pd.DataFrame, monte_carlo: Mapping[str, Mapping[int, Path]]
) -> pd.DataFrame:
    """The sum's stock intervals (rows with a stock) and stock-difference flux intervals (rows
    of that method with a flux), from the AOIs' draws summed draw by draw."""
    years = sorted(set.intersection(*(set(m) for m in monte_carlo.values())))
    draws = {y: summed_draws({n: m[y] for n, m in monte_carlo.items()}) for y in years}
    total = total.copy()
    n_draws = total["mc_draws"] if "mc_draws" in total else pd.Series(pd.NA, index=total.index)
    for y in years:
        q = interval_columns(draws[y], "stock_mgc")
        rows = (total["year"] == y) & total["stock_mgc"].notna()
        for col in q.columns:
            total.loc[rows, col] = total.loc[rows, "pool"].map(q[col])
        n_draws[rows] = draws[y].shape[1]
    for y0, y1 in zip(years[:-1], years[1:], strict=True):
        flux = flux_between(draws[y0], draws[y1].reindex_like(draws[y0]), y1 - y0)
        q = interval_columns(flux, "net_flux_mgco2e_per_yr")
        rows = (
            (total["interval_start"] == y0)
            & (total["interval_end"] == y1)
            & (total["method"] == STOCK_DIFFERENCE)
            & total["net_flux_mgco2e_per_yr"].notna()
        )
        for col in q.columns:
            total.loc[rows, col] = total.loc[rows, "pool"].map(q[col])
        n_draws[rows] = flux.shape[1]
    total["mc_draws"] = n_draws
    return total
