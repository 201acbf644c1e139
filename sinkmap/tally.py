"""Account tallies: per zone × class × pool tables built from the published layers.

The carbon account (``results/carbon_account.csv``) has one row per year × zone × land-cover class
× pool × method. This module defines its columns and (below) the stages that tally the layers into
those rows; ``docs/outputs.md`` documents every column.
"""

from __future__ import annotations

from sinkmap.constants import UNITS_FLUX_TOTAL, UNITS_STOCK, UNITS_STOCK_TOTAL

#: Zone id of the whole area of interest (every valid cell, whatever the user zones).
AOI_ZONE = "aoi"
#: ``class_name`` of the rows that add up every class of a zone (``class_code`` is empty there).
ALL_CLASSES = "all classes"
#: Pools of the account, in order; ``total`` = above + below + dead + soil.
ACCOUNT_POOLS: tuple[str, ...] = ("above", "below", "dead", "soil", "total")
#: The two methods reported side by side.
STOCK_DIFFERENCE = "stock-difference"
GAIN_LOSS = "gain-loss"

#: Columns of the account table and their units (None: a label, code or text without units).
ACCOUNT_UNITS: dict[str, str | None] = {
    "year": None,
    "interval_start": None,
    "interval_end": None,
    "zone_id": None,
    "zone_name": None,
    "class_code": None,
    "class_name": None,
    "ipcc_category": None,
    "pool": None,
    "method": None,
    "area_ha": "ha",
    "stock_mgc": UNITS_STOCK_TOTAL,
    "stock_density_mgc_per_ha": UNITS_STOCK,
    "stock_change_mgc_per_yr": "Mg C yr-1",
    "net_flux_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "emissions_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "removals_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "stock_mgc_p05": UNITS_STOCK_TOTAL,
    "stock_mgc_p95": UNITS_STOCK_TOTAL,
    "net_flux_mgco2e_per_yr_p05": UNITS_FLUX_TOTAL,
    "net_flux_mgco2e_per_yr_p95": UNITS_FLUX_TOTAL,
    "mc_draws": None,
    "model": None,
    "method_params": None,
    "inputs": None,
    "synthetic": None,
    "computed_at": None,
    "sinkmap_version": None,
    "output_version": None,
}
ACCOUNT_COLUMNS: list[str] = list(ACCOUNT_UNITS)
#: Integer columns (empty where not applicable), JSON-text columns, and plain text columns.
ACCOUNT_INTEGER = ("year", "interval_start", "interval_end", "class_code", "mc_draws")
ACCOUNT_JSON_TEXT = ("model", "method_params", "inputs")
ACCOUNT_TEXT = (
    "zone_id",
    "zone_name",
    "class_name",
    "ipcc_category",
    "pool",
    "method",
    "synthetic",
    "computed_at",
    "sinkmap_version",
    "output_version",
)
