"""Land-cover lookup model (IPCC Tier 1, InVEST Carbon): four pools per class from a table."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import Field

from sinkmap.carbon import lookup_pools
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.tables import PoolTable


class LookupParams(ModelParams):
    table: Path = Field(
        description="Pool table CSV in the InVEST Carbon layout lucode,c_above,c_below,c_soil,c_dead (Mg C/ha)."
    )


class LookupModel(CarbonModel):
    """Each pixel's stock is its land-cover class's row of a pool table (Mg C/ha).

    C_pool = T[class, pool]. Accepts InVEST Carbon tables unchanged.
    """

    name = "lookup"
    inputs = ("land_cover",)
    Params = LookupParams
    citation = (
        "IPCC 2006 Vol. 4 Tier 1 default stocks; InVEST Carbon Storage and Sequestration model"
    )
    params: LookupParams

    def __init__(self, params: LookupParams) -> None:
        super().__init__(params)
        _ = self.table  # read and validate the table now, before any work starts

    @cached_property
    def table(self) -> PoolTable:
        return PoolTable.from_csv(self.params.table)

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return lookup_pools(chunk["land_cover"], self.table, nodata=0)
