"""Physical and IPCC constants, each named once with its source."""

from __future__ import annotations

#: Carbon fraction of dry matter, IPCC 2006 Vol. 4 Table 4.3 (tropical and subtropical, all parts).
CARBON_FRACTION = 0.47
#: Carbon fraction of litter used by the Global Forest Watch flux model (Harris et al. 2021).
CARBON_FRACTION_LITTER = 0.37
#: Molecular weight ratio CO2 / C = 44 / 12.
CO2_PER_C = 44.0 / 12.0
#: Square metres per hectare.
M2_PER_HA = 10_000.0

#: The four carbon pools of the InVEST Carbon table, in output order.
POOLS: tuple[str, ...] = ("above", "below", "dead", "soil")
#: The pools a disturbed cell loses in gain-loss: living biomass and dead organic matter.
BIOMASS_POOLS: tuple[str, ...] = ("above", "below", "dead")

#: Units written on every output (tags, docs, tables).
UNITS_STOCK = "Mg C ha-1"
UNITS_STOCK_TOTAL = "Mg C"
UNITS_FLUX = "Mg CO2e ha-1 yr-1"
UNITS_FLUX_TOTAL = "Mg CO2e yr-1"
SIGN_CONVENTION = "inventory: emissions positive, removals (sinks) negative"

#: The forms each model can be calibrated in; the first is the default.
FORMS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "height_allometry": ("power",),
    "spectral": ("exponential", "power", "linear"),
}

#: Default target standard error of overall accuracy, and minimum units per stratum, of the
#: reference sample of a change map (Olofsson et al. 2014 allocate 50-100 units to each rare
#: stratum; ``sinkmap sample``).
TARGET_SE = 0.01
MIN_PER_STRATUM = 50
