"""Land-cover lookup model (IPCC Tier 1, InVEST Carbon): four pools per class from a table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sinkmap.carbon import PoolTable, lookup_pools
from sinkmap.errors import ConfigError


class LookupModel:
    """Each pixel's stock is its land-cover class's row of a pool table (Mg C/ha).

    Parameters
    ----------
    table:
        CSV in the InVEST Carbon layout ``lucode,c_above,c_below,c_soil,c_dead`` (Mg C/ha).
    """

    name = "lookup"
    inputs = ("land_cover",)

    def __init__(self, table: PoolTable, table_path: str) -> None:
        self.table = table
        self.table_path = table_path

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LookupModel:
        unknown = set(params) - {"table"}
        if unknown:
            raise ConfigError(
                f"model.params has unknown key(s) {sorted(unknown)}; the lookup model takes 'table'"
            )
        if "table" not in params:
            raise ConfigError(
                "model.params.table is missing: give the carbon pool CSV, e.g. config/pools/worldcover_ipcc_tier1.csv"
            )
        path = str(Path(params["table"]))
        return cls(PoolTable.from_csv(path), path)

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return lookup_pools(chunk["land_cover"], self.table, nodata=0)

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "params": {"table": self.table_path}}
