"""The output contract in code: version, the account's columns with units and types, table columns.

``docs/outputs.md`` documents every name here (``tests/workflow/test_contract.py`` keeps the two in
step). Stages write these columns; :mod:`sinkmap.publish` reads them here, never from a stage.
"""

from __future__ import annotations

from sinkmap.constants import SIGN_CONVENTION, UNITS_FLUX_TOTAL, UNITS_STOCK, UNITS_STOCK_TOTAL

#: Version of the output contract (docs/outputs.md). Bump the major part on breaking changes.
OUTPUT_VERSION = "0.4.5"

#: Written on every output made from synthetic demo data.
SYNTHETIC_NOTE = "SYNTHETIC DEMO DATA - not a real measurement of Baoting"

#: Zone id of the whole area of interest (every valid cell, whatever the user zones).
AOI_ZONE = "aoi"
#: ``class_name`` of the rows that add up every class of a zone (``class_code`` is empty there).
ALL_CLASSES = "all classes"
#: Pools of the account, in order; ``total`` = above + below + dead + soil.
ACCOUNT_POOLS: tuple[str, ...] = ("above", "below", "dead", "soil", "total")
#: The two methods reported side by side.
STOCK_DIFFERENCE = "stock-difference"
GAIN_LOSS = "gain-loss"
#: A method's net flux from area-adjusted activity data (an accuracy assessment of the interval:
#: emission factor of each change stratum × its adjusted area), beside the mapped one.
ADJUSTED = {m: f"{m} (area-adjusted)" for m in (STOCK_DIFFERENCE, GAIN_LOSS)}
#: Every ``method`` of the account, in its order.
METHODS: tuple[str, ...] = (STOCK_DIFFERENCE, GAIN_LOSS, *ADJUSTED.values())

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
    "stock_mgc_p025": UNITS_STOCK_TOTAL,
    "stock_mgc_p975": UNITS_STOCK_TOTAL,
    "net_flux_mgco2e_per_yr_p025": UNITS_FLUX_TOTAL,
    "net_flux_mgco2e_per_yr_p975": UNITS_FLUX_TOTAL,
    "stock_mgc_mcse": UNITS_STOCK_TOTAL,
    "net_flux_mgco2e_per_yr_mcse": UNITS_FLUX_TOTAL,
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
#: ``results/carbon_account_aois.csv`` (several AOIs): the AOI's name, then the account's columns.
AOIS_ACCOUNT_COLUMNS: list[str] = ["aoi", *ACCOUNT_COLUMNS]
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

#: Percentiles of the Monte Carlo draws in the account: 95 % (IPCC) and 90 % (VCS, CDM) intervals.
INTERVAL_QUANTILES: dict[str, float] = {"p025": 0.025, "p05": 0.05, "p95": 0.95, "p975": 0.975}
#: The same quantiles as ``adjusted_account.csv`` (``sinkmap assess``) names them, in that order.
ADJUSTED_QUANTILES: dict[str, float] = {"p025": 0.025, "p5": 0.05, "p95": 0.95, "p975": 0.975}

#: ``results/<year>/monte_carlo_sensitivity.csv``: the AOI's total stock per draw with one
#: parameter held at its value (the other parameters drawn as in ``monte_carlo.csv``).
SENSITIVITY_DRAW_COLUMNS = ["year", "parameter", "draw", "stock_mgc", "seed"]

#: ``results/sink/<y0>-<y1>/monte_carlo_gain_loss.csv`` (models without a carbon state): the AOI's
#: gain-loss net flux, removals and emissions (Mg CO2e/yr, emissions +) in each draw.
GAIN_LOSS_DRAW_COLUMNS = [
    "interval_start",
    "interval_end",
    "draw",
    "zone_id",
    "part",
    "mgco2e_per_yr",
    "seed",
]

#: ``results/sink/<y0>-<y1>/monte_carlo_gain_loss_sensitivity.csv``: the AOI's gain-loss net flux
#: per draw with one source held at its value (a stock parameter or group, a gain-loss parameter).
GAIN_LOSS_SENSITIVITY_COLUMNS = [
    "interval_start",
    "interval_end",
    "parameter",
    "draw",
    "mgco2e_per_yr",
    "seed",
]

#: ``results/uncertainty_sensitivity.csv``: the share of the variance owed to each parameter.
SENSITIVITY_COLUMNS = [
    "year",
    "interval_start",
    "quantity",
    "parameter",
    "variance_share",
    "sd",
    "sd_parameter_fixed",
    "units",
    "mc_draws",
]

#: ``results/<year>/account_stocks.csv``.
STOCK_TALLY_COLUMNS = [
    "year",
    "zone_id",
    "zone_name",
    "class_code",
    "class_name",
    "ipcc_category",
    "pool",
    "area_ha",
    "stock_mgc",
]

#: ``results/<year>/class_summary.csv`` (besides one ``stock_<pool>_mgc`` column per pool).
CLASS_SUMMARY_KEYS = ["year", "class_code", "class_name", "ipcc_category", "area_ha"]

#: Flux columns of ``results/sink/<y0>-<y1>/class_summary.csv`` that the year's GeoPackage adds
#: to its class summary.
SINK_COLUMNS = ["net_flux_mgco2e_per_yr", "emissions_mgco2e_per_yr", "removals_mgco2e_per_yr"]

#: ``results/sink/<y0>-<y1>/change_matrix.csv``.
CHANGE_MATRIX_COLUMNS = [
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

#: ``results/sink/<y0>-<y1>/ipcc_summary.csv``.
IPCC_SUMMARY_COLUMNS = [
    "interval_start",
    "interval_end",
    "zone_id",
    "zone_name",
    "crf_code",
    "category",
    "from_category",
    "to_category",
    "area_ha",
    "living_biomass_mgc_per_yr",
    "dead_organic_matter_mgc_per_yr",
    "soil_mgc_per_yr",
    "total_mgc_per_yr",
    "net_co2e_mgco2e_per_yr",
    "gl_gains_mgc_per_yr",
    "gl_losses_mgc_per_yr",
    "gl_net_co2e_mgco2e_per_yr",
]

#: Rows of ``change_filter.csv``, in order: (quantity, what it measures).
CHANGE_FILTER_ROWS: tuple[tuple[str, str], ...] = (
    ("changed as mapped", "class differs between the two years' maps"),
    ("held: not persistent", "category change not yet mapped in enough consecutive years"),
    ("removed: below the MMU", "patch of change smaller than the minimum mapping unit"),
    ("changed after filtering", "class differs between the two years' filtered maps"),
    ("forest loss as mapped", "Forest land in the earlier map, another category in the later"),
    ("forest loss after filtering", "the same between the filtered maps"),
    ("forest gain as mapped", "another category in the earlier map, Forest land in the later"),
    ("forest gain after filtering", "the same between the filtered maps"),
)

#: ``results/sinkmap.qgz``, the run's QGIS project: the metadata keywords of every layer, by QGIS
#: keyword vocabulary (the value of each: the layer's ``UNITS``, the sign convention, ``yes``/``no``
#: synthetic, the contract and software versions).
PROJECT_KEYWORDS: tuple[str, ...] = (
    "units",
    "sign_convention",
    "synthetic",
    "output_version",
    "sinkmap_version",
)
#: The sign convention in every layer's metadata of the QGIS project (all fluxes are inventory-signed).
PROJECT_SIGN_CONVENTION = SIGN_CONVENTION
#: Title and abstract of each GeoPackage layer the QGIS project shows (rasters take theirs from
#: their band description and ``QUANTITY`` tag).
GPKG_LAYER_TEXT: dict[str, tuple[str, str]] = {
    "aoi": ("Area of interest", "The area of interest of the run, in the grid CRS."),
    "zones": (
        "Zones",
        "The account's zones with the year's area (ha) and stock per pool (Mg C, all classes) and "
        "stock density (Mg C/ha).",
    ),
    "tiles": (
        "Tiles",
        "The processing tiles (chunks) of the grid with their area (ha) and total stock (Mg C).",
    ),
}


#: A year's quick looks (``results/<year>/quicklook_<name>.png``): name → the layer of
#: ``results/<year>/`` it maps, its kind (:data:`sinkmap.publish.qgis.RAMPS`) and its title.
YEAR_QUICKLOOKS: dict[str, tuple[str, str, str]] = {
    "stock": ("carbon_stock_total.tif", "stock", "Total carbon stock {year}"),
    "land_cover": ("land_cover.tif", "land_cover", "Land cover {year}"),
    "stratum": ("state_stratum.tif", "land_cover", "Carbon state: strata {year}"),
}
#: The title of an interval's quick look (its net flux, ``quicklook_net_flux.png``).
FLUX_TITLE = "Net CO2e flux {y0}\u2013{y1}"
