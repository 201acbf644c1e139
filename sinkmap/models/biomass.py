"""Biomass-raster model: pools from an above-ground biomass product (e.g. ESA CCI Biomass).

Per cell, with AGB the product's dry above-ground biomass (Mg/ha) and CF the carbon fraction:

    above = AGB × CF                                       (IPCC 2006 Vol. 4 Table 4.3: CF = 0.47)
    below = BGB × CF, BGB = R × AGB                        (R of the cell's stratum and ecozone,
                                                            one R per land-cover code, or one R)
                 or BGB = 0.489 × AGB^0.890                (Mokany et al. 2006)
    dead  = AGB × f_deadwood × CF + AGB × f_litter × CF_litter   on forest land, 0 elsewhere
                                                           (IPCC Tier 1: no DOM outside forest
                                                            land; fractions of the stratum, or
                                                            GFW's 0.06 and 0.01, CF_litter 0.37)
    soil  = T[class, c_soil]                               (a pool table, as the lookup model)

The cell's stratum is what the carbon state (:mod:`sinkmap.dynamics`) would start it as, from the
land cover and an optional forest-type role (:func:`sinkmap.dynamics.cover_strata`): tree cover is
natural forest unless the forest type makes it rubber, areca or another plantation; shrubland is
shrubland; the rest is without woody vegetation. With ``root_shoot: strata`` (the default) its R and
DOM fractions are the strata table's, in the cell's FAO ecozone, so this model and the carbon state
use one root-to-shoot ratio per stratum and zone; land without woody vegetation takes the pool
table's below/above ratio of its class (0 where the table holds no above-ground biomass). Forest
land is the strata table's category of the stratum (rubber and other tree plantations are forest,
areca is cropland).

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
from sinkmap.dynamics import WOODY, cover_strata
from sinkmap.errors import UnknownClassError
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.tables import PoolTable, StrataTable


class BiomassParams(ModelParams):
    soil_table: Path = Field(
        description="Pool table whose c_soil column gives soil carbon per class (Mg C/ha)."
    )
    carbon_fraction: float = Field(
        CARBON_FRACTION, gt=0, le=1, description="Carbon fraction of dry matter."
    )
    root_shoot: Literal["strata", "mokany"] | float | dict[int, float] = Field(
        "strata",
        description="'strata' (R of each cell's stratum and ecozone in the strata table, as the "
        "carbon state), 'mokany' (BGB = 0.489 AGB^0.890), one ratio R for all cells, or R per "
        "land-cover code.",
    )
    strata: Path = Field(
        Path("config/dynamics/strata.csv"),
        description="Strata table: R, DOM fractions and land category per stratum and ecozone.",
    )
    plantation_role: str | None = Field(
        None, description="Input role of a forest-type layer (codes of the forest_type legend)."
    )
    ecozone_role: str | None = Field(
        None, description="Input role of an FAO GEZ 2010 ecological-zone layer (gez_code)."
    )
    default_ecozone: int = Field(
        12, ge=1, le=255, description="FAO GEZ code where no ecozone layer is given."
    )
    deadwood_fraction: float | None = Field(
        None,
        ge=0,
        description="Dead wood as a fraction of AGB on forest land; none: the stratum's "
        "(strata table), e.g. 0.06 (GFW flux model).",
    )
    litter_fraction: float | None = Field(
        None,
        ge=0,
        description="Litter as a fraction of AGB on forest land; none: the stratum's, e.g. 0.01.",
    )
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
        "Harris et al. 2021 Nat. Clim. Change 11:234 (dead wood and litter fractions); R and "
        "DOM fractions per stratum and ecozone from the strata table (sources in its rows)"
    )
    params: BiomassParams

    def __init__(self, params: BiomassParams) -> None:
        super().__init__(params)
        _ = self.soil, self.strata  # validate the tables before any work starts

    @property
    def input_roles(self) -> tuple[str, ...]:
        p = self.params
        return (*type(self).inputs, *(r for r in (p.plantation_role, p.ecozone_role) if r))

    @cached_property
    def soil(self) -> PoolTable:
        return PoolTable.from_csv(self.params.soil_table)

    @cached_property
    def strata(self) -> StrataTable:
        return StrataTable.from_csv(self.params.strata)

    def _strata_params(
        self, chunk: Mapping[str, np.ndarray], classes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per cell: R of its stratum and zone (the pool table's below/above of its class where
        it has no woody vegetation), whether it is forest land, and its stratum's dead-wood and
        litter fractions."""
        p = self.params
        ftype = chunk[p.plantation_role] if p.plantation_role else None
        stratum = cover_strata(classes, ftype)
        zones = np.full(classes.shape, p.default_ecozone, np.int64)
        if p.ecozone_role:
            z = np.asarray(chunk[p.ecozone_role]).astype(np.int64)
            zones = np.where(z > 0, z, p.default_ecozone)
        woody = np.isin(stratum, WOODY)
        rows = np.zeros(classes.shape, np.int64)
        if woody.any():
            rows[woody] = self.strata.row_index(stratum[woody], zones[woody])
        forest_rows = np.array([c == "Forest land" for c in self.strata.categories], bool)
        above = self.soil.lut("above", 256).astype("float64")
        below = self.soil.lut("below", 256).astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            open_ratio = np.where(above > 0, below / above, 0.0)
        codes = classes.astype(np.intp)
        r = np.where(woody, self.strata.root_shoot[rows], open_ratio[codes])
        forest = woody & forest_rows[rows]
        return (
            r,
            forest,
            self.strata.dead_wood_fraction[rows],
            self.strata.litter_fraction[rows],
        )

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        p = self.params
        agb = np.asarray(chunk["biomass"], dtype="float64")
        classes = np.asarray(chunk["land_cover"])
        soil = lookup_pools(classes, self.soil, nodata=0)["soil"].astype("float64")
        agb = np.where(np.isnan(soil), np.nan, np.maximum(agb, 0.0))
        r_strata, forest, deadwood, litter = self._strata_params(chunk, classes)
        if p.root_shoot == "strata":
            bgb = r_strata * agb
        elif p.root_shoot == "mokany":
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
        if p.deadwood_fraction is not None:
            deadwood = np.full(classes.shape, p.deadwood_fraction)
        if p.litter_fraction is not None:
            litter = np.full(classes.shape, p.litter_fraction)
        dead = agb * deadwood * p.carbon_fraction + agb * litter * p.litter_carbon_fraction
        out = {
            "above": agb * p.carbon_fraction,
            "below": bgb * p.carbon_fraction,
            "dead": np.where(forest, dead, np.where(np.isnan(agb), np.nan, 0.0)),
            "soil": np.where(np.isnan(agb), np.nan, soil),
        }
        return {k: v.astype("float32") for k, v in out.items()}
