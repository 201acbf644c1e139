"""Biomass-raster model: pools from an above-ground biomass product (e.g. ESA CCI Biomass).

Per cell, with AGB the product's dry above-ground biomass (Mg/ha) and CF the carbon fraction:

    above = AGB × CF                                       (IPCC 2006 Vol. 4 Table 4.3: CF = 0.47)
    below = BGB × CF, BGB = R × AGB                        (R constant, or per land-cover class)
                 or BGB = 0.489 × AGB^0.890                (Mokany et al. 2006)
    dead  = AGB × f_deadwood × CF + AGB × f_litter × CF_litter
                                                           (GFW flux model / CDM AR-Tool-12:
                                                            0.06 and 0.01, CF_litter = 0.37)
    soil  = T[class, c_soil]                               (a pool table, as the lookup model)

Cells where AGB is missing (NaN) or the land cover is nodata get NaN in every pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from sinkmap.allometry import mokany_bgb
from sinkmap.carbon import lookup_pools
from sinkmap.constants import CARBON_FRACTION, CARBON_FRACTION_LITTER
from sinkmap.errors import UnknownClassError
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.tables import PoolTable


class BiomassParams(ModelParams):
    soil_table: Path = Field(
        description="Pool table whose c_soil column gives soil carbon per class (Mg C/ha)."
    )
    carbon_fraction: float = Field(
        CARBON_FRACTION, gt=0, le=1, description="Carbon fraction of dry matter."
    )
    root_shoot: Literal["mokany"] | float | dict[int, float] = Field(
        "mokany",
        description="'mokany' (BGB = 0.489 AGB^0.890), one ratio R for all cells, or R per land-cover code.",
    )
    deadwood_fraction: float = Field(
        0.06, ge=0, description="Dead wood biomass as a fraction of AGB."
    )
    litter_fraction: float = Field(0.01, ge=0, description="Litter biomass as a fraction of AGB.")
    litter_carbon_fraction: float = Field(
        CARBON_FRACTION_LITTER, gt=0, le=1, description="Carbon fraction of litter."
    )


class BiomassModel(CarbonModel):
    """Pools from an above-ground biomass raster (Mg/ha) and the land cover (for soil and R)."""

    name = "biomass"
    inputs = ("biomass", "land_cover")
    Params = BiomassParams
    citation = (
        "IPCC 2006 Vol. 4 Eq. 2.8-2.10, Table 4.3; Mokany et al. 2006 Glob. Change Biol. 12:84; "
        "Harris et al. 2021 Nat. Clim. Change 11:234 (dead wood and litter fractions)"
    )
    params: BiomassParams

    def __init__(self, params: BiomassParams) -> None:
        super().__init__(params)
        _ = self.soil  # validate the table before any work starts

    @cached_property
    def soil(self) -> PoolTable:
        return PoolTable.from_csv(self.params.soil_table)

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        p = self.params
        agb = np.asarray(chunk["biomass"], dtype="float64")
        classes = np.asarray(chunk["land_cover"])
        soil = lookup_pools(classes, self.soil, nodata=0)["soil"].astype("float64")
        agb = np.where(np.isnan(soil), np.nan, np.maximum(agb, 0.0))
        if p.root_shoot == "mokany":
            bgb = mokany_bgb(agb)
        elif isinstance(p.root_shoot, dict):
            codes = np.array(sorted(p.root_shoot), dtype=np.intp)
            present = np.unique(classes[np.isfinite(agb)])
            missing = np.setdiff1d(present, codes)
            if missing.size:
                raise UnknownClassError(missing.tolist(), "model.params.root_shoot")
            lut = np.full(max(int(codes.max()), int(classes.max(initial=0))) + 1, np.nan)
            lut[codes] = [p.root_shoot[int(c)] for c in codes]
            bgb = lut[classes.astype(np.intp)] * agb
        else:
            bgb = float(p.root_shoot) * agb
        out = {
            "above": agb * p.carbon_fraction,
            "below": bgb * p.carbon_fraction,
            "dead": agb * p.deadwood_fraction * p.carbon_fraction
            + agb * p.litter_fraction * p.litter_carbon_fraction,
            "soil": np.where(np.isnan(agb), np.nan, soil),
        }
        return {k: v.astype("float32") for k, v in out.items()}
