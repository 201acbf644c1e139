"""sinkmap.models: the registry and the lookup model."""

from __future__ import annotations

import numpy as np
import pytest

from sinkmap.errors import ConfigError, InputDataError
from sinkmap.models import get_model

from ._helpers import POOL_CSV


def test_lookup_model_pools_on_a_chunk():
    model = get_model("lookup", {"table": str(POOL_CSV)})
    assert model.name == "lookup" and model.inputs == ("land_cover",)
    chunk = {"land_cover": np.array([[10, 0], [40, 20]], dtype=np.uint8)}
    pools = model.pools(chunk)
    # CSV rows: 10 Tree cover above 131.6 below 48.7 soil 52 dead 8.9;
    #           40 Cropland  above 5.0   below 0    soil 43.2 dead 0;
    #           20 Shrubland above 28.2  below 11.3 soil 52 dead 0
    expected = {
        "above": [[131.6, np.nan], [5.0, 28.2]],
        "below": [[48.7, np.nan], [0.0, 11.3]],
        "soil": [[52.0, np.nan], [43.2, 52.0]],
        "dead": [[8.9, np.nan], [0.0, 0.0]],
    }
    assert set(pools) == set(expected)
    for pool, values in expected.items():
        np.testing.assert_array_equal(pools[pool], np.array(values, dtype=np.float32))


def test_lookup_model_describe():
    assert get_model("lookup", {"table": str(POOL_CSV)}).describe() == {
        "model": "lookup",
        "params": {"table": str(POOL_CSV)},
    }


def test_unknown_model_name():
    with pytest.raises(
        ConfigError, match=r"unknown model 'forest'; available: \['lookup'\] \(model\.name\)"
    ):
        get_model("forest", {})


def test_missing_table_param():
    with pytest.raises(
        ConfigError, match=r"model\.params\.table is missing: give the carbon pool CSV"
    ):
        get_model("lookup", {})


def test_unknown_param():
    with pytest.raises(
        ConfigError, match=r"unknown key\(s\) \['tabel'\]; the lookup model takes 'table'"
    ):
        get_model("lookup", {"table": str(POOL_CSV), "tabel": "x"})


def test_missing_table_file(tmp_path):
    with pytest.raises(InputDataError, match=r"does not exist; set model\.params\.table"):
        get_model("lookup", {"table": str(tmp_path / "none.csv")})
