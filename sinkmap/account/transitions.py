"""Land-use change: transition matrices by class and by IPCC land category, and the CRF-style
summary of an interval's stock changes (IPCC 2006 Vol. 4 Ch. 3; reporting tables 4.A–4.F).

Pure functions of pandas tables: the per-pair and per-zone totals come from the account's one
tally engine (:func:`sinkmap.account.zones.group_sums`), keyed by the class at each date.
Signs: stock changes + when the stock grows; CO2e with the inventory sign (:func:`sinkmap.carbon.co2e`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sinkmap.carbon import carbon_of, co2e, interval_years
from sinkmap.contract import CHANGE_MATRIX_COLUMNS, IPCC_SUMMARY_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.legends import (
    CRF_LETTER,
    IPCC_CATEGORIES,
    LegendClass,
    ipcc_categories,
    ipcc_label,
    legend_maps,
)


def crf_code(from_category: str, to_category: str) -> str:
    letter = CRF_LETTER.get(to_category)
    if letter is None:
        return ""
    return f"4.{letter}.{1 if from_category == to_category else 2}"


def change_matrix_table(
    pairs: pd.DataFrame,
    legend: str | Sequence[LegendClass] | None,
    t1: int,
    t2: int,
) -> pd.DataFrame:
    """The land-use change matrix of an interval in long form: one row per (from, to) class pair.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Run totals per class pair, from the tallies (:func:`sinkmap.account.zones.group_sums` of
        the whole AOI keyed by the class at each date): columns ``from_code``, ``to_code``,
        ``area_ha`` (ha), ``stock_t1_mgc`` and ``stock_t2_mgc`` (Mg C at each date).
    legend : str or sequence of LegendClass or None
        Legend name (``"worldcover"``) or classes, for class names and IPCC categories; codes
        absent from it are named by their number and have no category.
    t1, t2 : int
        Start and end year of the interval.

    Returns
    -------
    pandas.DataFrame
        Pairs with area > 0, sorted by ``from_code``, ``to_code``; the columns of
        :data:`sinkmap.contract.CHANGE_MATRIX_COLUMNS`: codes, names and IPCC categories of both
        classes, ``ipcc_category`` (e.g. "Cropland converted to Forest land"), ``area_ha``,
        ``stock_t1_mgc``, ``stock_t2_mgc``, ``stock_change_mgc`` (Mg C over the interval, + when
        the stock grows), ``stock_change_mgc_per_yr``, ``co2e_mgco2e`` (−ΔC × 44/12 over the
        interval: emissions +, removals −) and ``co2e_mgco2e_per_yr``.
    """
    years = interval_years(t1, t2)
    names, categories = legend_maps(legend)
    table = pairs[pairs["area_ha"] > 0].sort_values(["from_code", "to_code"])
    table = pd.DataFrame(
        {
            "from_code": table["from_code"].astype("int64"),
            "to_code": table["to_code"].astype("int64"),
            "area_ha": table["area_ha"].astype("float64"),
            "stock_t1_mgc": table["stock_t1_mgc"].astype("float64"),
            "stock_t2_mgc": table["stock_t2_mgc"].astype("float64"),
        }
    ).reset_index(drop=True)
    table.insert(0, "interval_start", t1)
    table.insert(1, "interval_end", t2)
    table["from_name"] = [names.get(c, str(c)) for c in table["from_code"]]
    table["from_category"] = [categories.get(c, "") for c in table["from_code"]]
    table["to_name"] = [names.get(c, str(c)) for c in table["to_code"]]
    table["to_category"] = [categories.get(c, "") for c in table["to_code"]]
    table["ipcc_category"] = [
        ipcc_label(f, t) if f and t else ""
        for f, t in zip(table["from_category"], table["to_category"], strict=True)
    ]
    table["stock_change_mgc"] = table["stock_t2_mgc"] - table["stock_t1_mgc"]
    table["stock_change_mgc_per_yr"] = table["stock_change_mgc"] / years
    table["co2e_mgco2e"] = co2e(table["stock_change_mgc"])
    table["co2e_mgco2e_per_yr"] = table["co2e_mgco2e"] / years
    return table[CHANGE_MATRIX_COLUMNS]


def ipcc_category_matrix(
    pairs: pd.DataFrame,
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
    years = interval_years(t1, t2)
    table = change_matrix_table(pairs, legend, t1, t2)
    missing = sorted(
        set(table.loc[table["from_category"] == "", "from_code"])
        | set(table.loc[table["to_category"] == "", "to_code"])
    )
    if missing:
        raise InputDataError(
            f"land-cover code(s) {missing} have no IPCC land category in legend {legend!r}; "
            "add them to the legend in sinkmap/legends.py or map them in the dataset's crosswalk"
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
        crf_code(f, t)
        for f, t in zip(grouped["from_category"], grouped["to_category"], strict=True)
    ]
    grouped["_k"] = [
        (order.get(t, 99), 0 if f == t else 1, order.get(f, 99))
        for f, t in zip(grouped["from_category"], grouped["to_category"], strict=True)
    ]
    grouped = grouped.sort_values("_k").drop(columns="_k").reset_index(drop=True)
    grouped["stock_change_mgc_per_yr"] = grouped["stock_change_mgc"] / years
    grouped["co2e_mgco2e"] = co2e(grouped["stock_change_mgc"])
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


def ipcc_summary(sums: pd.DataFrame, legend: str | None, y0: int, y1: int) -> pd.DataFrame:
    """Annual carbon stock changes by IPCC land-use category and pool, in the order of the
    reporting tables 4.A–4.F: for each end category, its "remaining" row (4.X.1), a "converted to"
    subtotal (4.X.2) and one row per category of origin (4.X.2.k, k in reporting order), then the
    category total (4.X). Stock-difference columns by pool (living biomass = above + below, dead
    organic matter, soil; Mg C/yr, + = stock gain) and net CO2e; gain-loss gains, losses (Mg C/yr)
    and net CO2e. Inventory sign on CO2e: emissions +, removals −."""
    cats = ipcc_categories(legend)
    frame = sums.copy()
    for col, codes in (("from_category", "class_start"), ("to_category", "class_code")):
        unknown = sorted({int(c) for c in frame[codes] if int(c) not in cats})
        if unknown:
            raise InputDataError(
                f"land-cover code(s) {unknown} have no IPCC category in legend {legend!r}; add "
                "them to the legend's crosswalk (config/crosswalks/)"
            )
        frame[col] = [cats[int(c)] for c in frame[codes]]
    have_gl = "gl_removals:total" in frame.columns
    out = pd.DataFrame(
        {
            "zone_id": frame["zone_id"],
            "zone_name": frame["zone_name"],
            "from_category": frame["from_category"],
            "to_category": frame["to_category"],
            "area_ha": frame["area_ha"],
            "living_biomass_mgc_per_yr": frame["sd_change:above"] + frame["sd_change:below"],
            "dead_organic_matter_mgc_per_yr": frame["sd_change:dead"],
            "soil_mgc_per_yr": frame["sd_change:soil"],
            "total_mgc_per_yr": frame["sd_change:total"],
            "gl_gains_mgc_per_yr": 0.0 - carbon_of(frame["gl_removals:total"])
            if have_gl
            else np.nan,
            "gl_losses_mgc_per_yr": carbon_of(frame["gl_emissions:total"]) if have_gl else np.nan,
        }
    )
    pairs = out.groupby(
        ["zone_id", "zone_name", "from_category", "to_category"], sort=False, as_index=False
    ).sum(min_count=1)
    rows = []
    measure = [c for c in pairs.columns if c.endswith("_per_yr") or c == "area_ha"]
    for zone_key, zone in pairs.groupby(["zone_id", "zone_name"], sort=False):
        for to_cat in IPCC_CATEGORIES:
            into = zone[zone["to_category"] == to_cat]
            if into.empty:
                continue
            letter = CRF_LETTER[to_cat]
            remaining = into[into["from_category"] == to_cat]
            converted = into[into["from_category"] != to_cat]

            def _row(code: str, label: str, frm: str, part: pd.DataFrame) -> dict[str, Any]:
                return _summary_row(zone_key, code, label, frm, to_cat, part, measure)  # noqa: B023

            rows.append(_row(f"4.{letter}", f"Total {to_cat}", "all", into))
            if not remaining.empty:
                rows.append(_row(f"4.{letter}.1", ipcc_label(to_cat, to_cat), to_cat, remaining))
            if not converted.empty:
                rows.append(
                    _row(f"4.{letter}.2", f"Land converted to {to_cat}", "other", converted)
                )
                others = [c for c in IPCC_CATEGORIES if c != to_cat]
                for k, frm in enumerate(others, start=1):
                    part = converted[converted["from_category"] == frm]
                    if not part.empty:
                        rows.append(_row(f"4.{letter}.2.{k}", ipcc_label(frm, to_cat), frm, part))
    derived = ("net_co2e_mgco2e_per_yr", "gl_net_co2e_mgco2e_per_yr")
    table = pd.DataFrame(rows, columns=[c for c in IPCC_SUMMARY_COLUMNS[2:] if c not in derived])
    table["net_co2e_mgco2e_per_yr"] = co2e(table["total_mgc_per_yr"])
    table["gl_net_co2e_mgco2e_per_yr"] = co2e(
        table["gl_gains_mgc_per_yr"] - table["gl_losses_mgc_per_yr"]
    )
    table.insert(0, "interval_end", y1)
    table.insert(0, "interval_start", y0)
    return table[IPCC_SUMMARY_COLUMNS]


def _summary_row(
    zone: tuple[str, str],
    code: str,
    label: str,
    frm: str,
    to: str,
    part: pd.DataFrame,
    measure: list[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {"zone_id": zone[0], "zone_name": zone[1], "crf_code": code}
    row |= {"category": label, "from_category": frm, "to_category": to}
    return row | {m: part[m].sum(min_count=1) for m in measure}
