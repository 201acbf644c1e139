"""Implausible values in a pool table are refused before any job, with the line and the fix: an
infinite stock (it wrote +inf stocks and dropped the class from the account), and a biomass or
dead-matter stock beyond any forest's (a unit error: kg C/ha or ×1000). Empty, NaN and negative
values were refused before; they stay in the matrix here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sinkmap.errors import InputDataError
from sinkmap.tables import PoolTable

TABLE = Path(__file__).resolve().parents[2] / "config" / "pools" / "worldcover_ipcc_tier1.csv"


def _with(tmp_path: Path, value: object) -> Path:
    df = pd.read_csv(TABLE)
    df["c_above"] = df["c_above"].astype(object)
    df.loc[df["lucode"] == 10, "c_above"] = value
    path = tmp_path / "pools.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", ""])
def test_a_pool_table_value_that_is_not_finite_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputDataError, match=r"c_above is empty, not a number, infinite") as exc:
        PoolTable.from_csv(_with(tmp_path, value))
    assert "line(s) [2]" in str(exc.value) and "Mg C/ha" in str(exc.value)


def test_a_pool_table_value_beyond_any_ecosystem_is_a_unit_error(tmp_path: Path) -> None:
    original = float(pd.read_csv(TABLE).set_index("lucode").loc[10, "c_above"])
    with pytest.raises(InputDataError, match=r"above 1000 Mg C/ha .*check the unit"):
        PoolTable.from_csv(_with(tmp_path, original * 1000))
    # the shipped table and the bound itself pass
    assert PoolTable.from_csv(TABLE).values["above"].max() <= 1000.0
    assert PoolTable.from_csv(_with(tmp_path, 1000.0)).values["above"].max() == 1000.0
