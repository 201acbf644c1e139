"""A hand-written carbon account table (output contract 0.4) for the unit tests of its readers.

The numbers are given by hand: per zone, year and class the stock of each pool (Mg C) and the area
(ha); per zone, interval end and class the gain-loss gains and losses (Mg C/yr); per zone and year
the Monte Carlo 90 % interval of the total stock and net flux. :func:`account_table` lays them out
as the producer does: the pool "total" rows (sum of the four pools), the "all classes" rows of each
zone (sum of its classes), the stock-difference change and flux of each year that has an earlier
year, and the gain-loss rows (pool total only).

:data:`STOCKS`, :data:`AREAS`, :data:`GAINS_LOSSES` and :data:`MC` describe a two-year, two-class
account of the AOI and one park zone; the sums that tests expect from it are written out by hand in
the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap import __version__
from sinkmap.contract import (
    ACCOUNT_COLUMNS,
    ACCOUNT_INTEGER,
    ALL_CLASSES,
    AOI_ZONE,
    OUTPUT_VERSION,
)

CO2_PER_C = 44 / 12
POOLS = ("above", "below", "dead", "soil")
CLASSES = {10: ("Tree cover", "Forest land"), 40: ("Cropland", "Cropland")}
ZONE_NAMES = {AOI_ZONE: "Test county", "z1": "Park"}
MODEL = {"model": "lookup", "params": {"table": "pools.csv"}, "citation": "IPCC 2006"}
GAIN_LOSS_PARAMS = {"growth_rates": "growth.csv", "root_shoot": 0.24, "carbon_fraction": 0.47}
INPUTS = [{"dataset": "demo_worldcover", "version": "v200", "year": 2020, "files": ["x.tif"]}]
COMPUTED_AT = "2024-05-01T08:00:00Z"

Key = tuple[str, int, int]  # zone, year, class code

#: Stock of each pool (Mg C) per (zone, year, class). AOI totals: 2020 1750 + 240 = 1990 Mg C,
#: 2021 1757 + 236 = 1993 Mg C; the park (class 10 only): 750 and 753 Mg C.
STOCKS: dict[Key, dict[str, float]] = {
    ("aoi", 2020, 10): {"above": 900.0, "below": 300.0, "dead": 50.0, "soil": 500.0},
    ("aoi", 2020, 40): {"above": 30.0, "below": 10.0, "dead": 0.0, "soil": 200.0},
    ("aoi", 2021, 10): {"above": 907.0, "below": 300.0, "dead": 50.0, "soil": 500.0},
    ("aoi", 2021, 40): {"above": 27.0, "below": 9.0, "dead": 0.0, "soil": 200.0},
    ("z1", 2020, 10): {"above": 400.0, "below": 130.0, "dead": 20.0, "soil": 200.0},
    ("z1", 2021, 10): {"above": 403.0, "below": 130.0, "dead": 20.0, "soil": 200.0},
}
#: Area (ha) per (zone, year, class): the AOI 7 + 5 = 12 ha, the park 3 ha.
AREAS: dict[Key, float] = {
    ("aoi", 2020, 10): 7.0,
    ("aoi", 2020, 40): 5.0,
    ("aoi", 2021, 10): 7.0,
    ("aoi", 2021, 40): 5.0,
    ("z1", 2020, 10): 3.0,
    ("z1", 2021, 10): 3.0,
}
#: Gain-loss (gains, losses) in Mg C/yr per (zone, interval end, class).
GAINS_LOSSES: dict[Key, tuple[float, float]] = {
    ("aoi", 2021, 10): (8.0, 0.0),
    ("aoi", 2021, 40): (0.0, 3.5),
    ("z1", 2021, 10): (3.5, 0.0),
}
#: Monte Carlo 90 % interval per (zone, year): (stock p05, stock p95, net flux p05, p95).
MC: dict[tuple[str, int], tuple[float, float, float | None, float | None]] = {
    ("aoi", 2020): (1890.0, 2090.0, None, None),
    ("aoi", 2021): (1893.0, 2093.0, -14.0, -8.0),
    ("z1", 2020): (700.0, 800.0, None, None),
    ("z1", 2021): (720.0, 790.0, -13.0, -9.0),
}
MC_DRAWS = 500
#: Monte Carlo 95 % interval per (zone, year): (stock p025, p975, net flux p025, p975), and the
#: Monte Carlo standard errors of the 95 % bounds (stock, flux).
MC95: dict[tuple[str, int], tuple[float, float, float | None, float | None]] = {
    ("aoi", 2020): (1870.0, 2110.0, None, None),
    ("aoi", 2021): (1873.0, 2113.0, -15.0, -7.0),
    ("z1", 2020): (690.0, 810.0, None, None),
    ("z1", 2021): (710.0, 800.0, -14.0, -8.0),
}
MCSE: tuple[float, float] = (4.0, 0.25)
#: Area-adjusted net flux of an interval (area ha, net, 2.5th and 97.5th percentiles, Mg CO2e/yr).
ADJUSTED: dict[tuple[int, int], tuple[float, float, float, float]] = {
    (2020, 2021): (12.0, -13.0, -20.0, -6.0)
}


def account_table(
    stocks: Mapping[Key, Mapping[str, float]] = STOCKS,
    areas: Mapping[Key, float] = AREAS,
    gains_losses: Mapping[Key, tuple[float, float]] = GAINS_LOSSES,
    mc: Mapping[tuple[str, int], tuple[float, float, float | None, float | None]] | None = MC,
    adjusted: Mapping[tuple[int, int], tuple[float, float, float, float]] | None = None,
    *,
    synthetic: str = "yes",
    output_version: str = OUTPUT_VERSION,
) -> pd.DataFrame:
    """The account rows of ``stocks`` etc., with the contract's columns in order."""
    years = sorted({y for _, y, _ in stocks})
    zones = list(dict.fromkeys(z for z, _, _ in stocks))
    rows: list[dict[str, object]] = []
    for i, year in enumerate(years):
        prev = years[i - 1] if i else None
        for zone in zones:
            codes = sorted(c for z, y, c in stocks if z == zone and y == year)
            sd = {c: _stock_rows(stocks, areas, zone, year, prev, c) for c in codes}
            for code in [None, *codes]:
                parts = [sd[c] for c in codes] if code is None else [sd[code]]
                for pool in (*POOLS, "total"):
                    row = _sum_rows([p[pool] for p in parts])
                    row["stock_density_mgc_per_ha"] = row["stock_mgc"] / row["area_ha"]
                    row |= _labels(zone, year, code, pool, "stock-difference", prev)
                    if code is None and pool == "total" and mc and (zone, year) in mc:
                        s05, s95, f05, f95 = mc[(zone, year)]
                        row |= {"stock_mgc_p05": s05, "stock_mgc_p95": s95, "mc_draws": MC_DRAWS}
                        row |= {
                            "net_flux_mgco2e_per_yr_p05": np.nan if f05 is None else f05,
                            "net_flux_mgco2e_per_yr_p95": np.nan if f95 is None else f95,
                        }
                        s025, s975, f025, f975 = MC95.get(
                            (zone, year),  # other accounts: 10 Mg C and 1 Mg CO2e/yr wider
                            (
                                s05 - 10,
                                s95 + 10,
                                None if f05 is None else f05 - 1,
                                None if f95 is None else f95 + 1,
                            ),
                        )
                        row |= {
                            "stock_mgc_p025": s025,
                            "stock_mgc_p975": s975,
                            "stock_mgc_mcse": MCSE[0],
                            "net_flux_mgco2e_per_yr_p025": np.nan if f025 is None else f025,
                            "net_flux_mgco2e_per_yr_p975": np.nan if f975 is None else f975,
                            "net_flux_mgco2e_per_yr_mcse": np.nan if f025 is None else MCSE[1],
                        }
                    rows.append(row)
        if prev is None:
            continue
        for zone in zones:
            codes = sorted(c for z, y, c in gains_losses if z == zone and y == year)
            if not codes:
                continue
            gl = {
                c: _gain_loss_row(gains_losses[(zone, year, c)], areas[(zone, year, c)])
                for c in codes
            }
            for code in [None, *codes]:
                row = _sum_rows([gl[c] for c in codes] if code is None else [gl[code]])
                rows.append(row | _labels(zone, year, code, "total", "gain-loss", prev))
    for (y0, y1), (area, net, lo, hi) in (adjusted or {}).items():
        row = _labels(AOI_ZONE, y1, None, "total", "stock-difference (area-adjusted)", y0)
        row |= {"area_ha": area, "net_flux_mgco2e_per_yr": net, "mc_draws": MC_DRAWS}
        row |= {"stock_change_mgc_per_yr": -net / CO2_PER_C}
        row |= {"net_flux_mgco2e_per_yr_p025": lo, "net_flux_mgco2e_per_yr_p975": hi}
        row |= {"net_flux_mgco2e_per_yr_p05": lo + 1, "net_flux_mgco2e_per_yr_p95": hi - 1}
        row["method_params"] = json.dumps({"uncertainty_sources": "areas"})
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ACCOUNT_COLUMNS:
        if column not in table:
            table[column] = np.nan
    table["model"] = json.dumps(MODEL)
    table["inputs"] = json.dumps(INPUTS)
    table["synthetic"] = synthetic
    table["computed_at"] = COMPUTED_AT
    table["sinkmap_version"] = __version__
    table["output_version"] = output_version
    table = table[ACCOUNT_COLUMNS].copy()
    for column in ACCOUNT_INTEGER:
        table[column] = table[column].astype("Int64")
    return table


def write_account(path: Path, table: pd.DataFrame | None = None) -> Path:
    """Write ``table`` (default :func:`account_table`) as the workflow writes carbon_account.csv."""
    (account_table() if table is None else table).to_csv(path, index=False)
    return path


def _stock_rows(stocks, areas, zone, year, prev, code) -> dict[str, dict[str, float]]:
    """Per pool (and total), the stock-difference numbers of one zone × class × year."""
    area = areas[(zone, year, code)]
    now = dict(stocks[(zone, year, code)])
    now["total"] = sum(now[p] for p in POOLS)
    before = None
    if prev is not None:
        before = dict(stocks.get((zone, prev, code), dict.fromkeys(POOLS, 0.0)))
        before["total"] = sum(before[p] for p in POOLS)
    out = {}
    for pool in (*POOLS, "total"):
        row = {"area_ha": area, "stock_mgc": now[pool]}
        if before is not None:
            change = (now[pool] - before[pool]) / (year - prev)
            flux = -change * CO2_PER_C
            row |= {
                "stock_change_mgc_per_yr": change,
                "net_flux_mgco2e_per_yr": flux,
                "emissions_mgco2e_per_yr": max(flux, 0.0),
                "removals_mgco2e_per_yr": min(flux, 0.0),
            }
        out[pool] = row
    if before is not None:  # the total's emissions and removals add up those of the pools
        for key in ("emissions_mgco2e_per_yr", "removals_mgco2e_per_yr"):
            out["total"][key] = sum(out[p][key] for p in POOLS)
    return out


def _gain_loss_row(gains_losses: tuple[float, float], area: float) -> dict[str, float]:
    gains, losses = gains_losses
    return {
        "area_ha": area,
        "stock_change_mgc_per_yr": gains - losses,
        "net_flux_mgco2e_per_yr": -(gains - losses) * CO2_PER_C,
        "emissions_mgco2e_per_yr": losses * CO2_PER_C,
        "removals_mgco2e_per_yr": -gains * CO2_PER_C,
    }


def _sum_rows(parts: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(p[k] for p in parts) for k in parts[0]}


def _labels(
    zone: str, year: int, code: int | None, pool: str, method: str, prev: int | None
) -> dict[str, object]:
    name, category = (ALL_CLASSES, "") if code is None else CLASSES[code]
    row: dict[str, object] = {
        "year": year,
        "interval_start": prev if prev is not None else pd.NA,
        "interval_end": year if prev is not None else pd.NA,
        "zone_id": zone,
        "zone_name": ZONE_NAMES.get(zone, zone),
        "class_code": pd.NA if code is None else code,
        "class_name": name,
        "ipcc_category": category,
        "pool": pool,
        "method": method,
        "method_params": json.dumps({} if method == "stock-difference" else GAIN_LOSS_PARAMS),
    }
    return row
