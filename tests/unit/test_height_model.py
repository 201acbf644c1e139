"""The models that predict AGB from a raster: height_allometry (a H^b) and spectral (index forms).

Hand values follow the equations in sinkmap/models/height.py, spectral.py and biomass.py:
above = AGB x 0.47; below = 0.489 AGB^0.890 x 0.47 (Mokany); dead = AGB x (0.06 x 0.47 + 0.01 x
0.37) = AGB x 0.0319; soil = c_soil of the class (52 for 10 and 20, 43.2 for 40).
"""

from __future__ import annotations

import json
import math

import dask.array as da
import numpy as np
import pytest
import yaml

from sinkmap.config import ModelConfig
from sinkmap.errors import ConfigError, InputDataError, UnknownClassError
from sinkmap.models import available_models, get_model

from ._helpers import POOL_CSV

CF = 0.47
DEAD = 0.06 * 0.47 + 0.01 * 0.37  # 0.0319


def _height(**params):
    return get_model("height_allometry", {"soil_table": str(POOL_CSV), **params})


def _chunk(h, lc):
    return {
        "canopy_height": np.array(h, dtype=np.float32),
        "land_cover": np.array(lc, dtype=np.uint8),
    }


def test_registered_with_inputs():
    models = available_models()
    assert models["height_allometry"].inputs == ("canopy_height", "land_cover")
    assert models["spectral"].inputs == ("ndvi", "land_cover")


def test_height_model_hand_computed_pools():
    # H = 20 m, a = 0.5, b = 1.8: 20^1.8 = e^(1.8 ln 20) = e^5.39232 = 219.712, AGB = 109.856 Mg/ha
    #   above = 109.856 x 0.47 = 51.632
    #   below = 109.856 x R 0.24 (natural forest, ecozone 12, the strata table) x 0.47 = 12.3918
    #   dead  = 109.856 x 0.0319 = 3.5044;  soil = 52 (class 10)
    # H = 0 and H < 0: no canopy, AGB 0 -> biomass pools 0, soil kept; NaN -> NaN everywhere;
    # land cover 0 (nodata) -> NaN everywhere.
    pools = _height(a=0.5, b=1.8).pools(
        _chunk([[20.0, 0.0, -3.0, np.nan, 20.0]], [[10, 10, 40, 10, 0]])
    )
    expected = {
        "above": [51.632, 0.0, 0.0, np.nan, np.nan],
        "below": [12.3918, 0.0, 0.0, np.nan, np.nan],
        "dead": [3.5044, 0.0, 0.0, np.nan, np.nan],
        "soil": [52.0, 52.0, 43.2, np.nan, np.nan],
    }
    for pool, values in expected.items():
        assert pools[pool].dtype == np.float32 and pools[pool].shape == (1, 5)
        np.testing.assert_allclose(pools[pool][0], values, rtol=5e-5, err_msg=pool)


def test_height_model_agb_and_root_shoot_from_biomass_params():
    model = _height(a=2.0, b=1.0, root_shoot=0.37, carbon_fraction=0.5)
    pools = model.pools(_chunk([[10.0]], [[10]]))
    # AGB = 2 x 10 = 20: above 20 x 0.5 = 10, below 0.37 x 20 x 0.5 = 3.7,
    # dead 20 x 0.06 x 0.5 + 20 x 0.01 x 0.37 = 0.6 + 0.074
    np.testing.assert_allclose(
        [pools[p][0, 0] for p in ("above", "below", "dead")], [10.0, 3.7, 0.674], rtol=1e-6
    )
    assert model.biomass.params.root_shoot == 0.37  # delegated, same parameters


def test_per_class_coefficients_with_and_without_default():
    coefs = {10: {"a": 0.5, "b": 1.8}, 20: {"a": 1.0, "b": 1.5}}
    chunk = _chunk([[20.0, 4.0, 0.0]], [[10, 20, 40]])
    agb = _height(coefficients=coefs).agb(chunk["canopy_height"], chunk["land_cover"])
    # class 10: 0.5 x 20^1.8 = 109.856; class 20: 1 x 4^1.5 = 8; class 40 has H = 0: AGB 0 without
    # needing coefficients
    np.testing.assert_allclose(agb, [[109.85605, 8.0, 0.0]], rtol=1e-6)
    chunk = _chunk([[20.0, 4.0, 9.0]], [[10, 20, 40]])
    with pytest.raises(UnknownClassError, match=r"code\(s\) 40 occur .* no coefficients in model"):
        _height(coefficients=coefs).pools(chunk)
    # a and b as the default for class 40: 2 x 9^1 = 18
    agb = _height(coefficients=coefs, a=2.0, b=1.0).agb(chunk["canopy_height"], chunk["land_cover"])
    np.testing.assert_allclose(agb, [[109.85605, 8.0, 18.0]], rtol=1e-6)


def test_parameter_validation_names_the_fix():
    with pytest.raises(ConfigError, match=r"give both a and b"):
        _height(a=0.5)
    with pytest.raises(ConfigError, match=r"no coefficients: give a and b"):
        _height()
    with pytest.raises(ConfigError, match=r"a must be > 0 in AGB = a \* H\^b \(got -1"):
        _height(a=-1.0, b=2.0)
    with pytest.raises(ConfigError, match=r"coefficients\.10\.a must be > 0"):
        _height(coefficients={10: {"a": 0.0, "b": 2.0}})
    with pytest.raises(ConfigError, match=r"either coefficients_file or a/b/coefficients"):
        _height(a=1.0, b=1.0, coefficients_file="x.yaml")
    with pytest.raises(ConfigError, match=r"coefficients\.10\.c: unknown key"):
        _height(coefficients={10: {"a": 1.0, "b": 1.0, "c": 3}})
    with pytest.raises(ConfigError, match=r"soil_table: required key is missing"):
        get_model("height_allometry", {"a": 1.0, "b": 1.0})


def test_coefficients_file_yaml_and_json(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text(
        yaml.safe_dump(
            {"model": "height_allometry", "a": 0.5, "b": 1.8, "fit": {"n_plots": 9}},
        )
    )
    model = _height(coefficients_file=str(y))
    agb = model.agb(np.array([[20.0]]), np.array([[10]]))
    np.testing.assert_allclose(agb, [[109.85605]], rtol=1e-6)
    described = model.describe()
    assert described["coefficients"]["a"] == 0.5 and len(described["coefficients"]["sha256"]) == 64
    j = tmp_path / "c.json"  # JSON, string keys, per class only
    j.write_text(json.dumps({"coefficients": {"20": {"a": 1.0, "b": 1.5}}}))
    agb = _height(coefficients_file=str(j)).agb(np.array([[4.0]]), np.array([[20]]))
    np.testing.assert_allclose(agb, [[8.0]])
    wrong = tmp_path / "w.yaml"
    wrong.write_text("model: spectral\na: 1\nb: 2\n")
    with pytest.raises(
        InputDataError, match=r"fitted for model 'spectral', not 'height_allometry'"
    ):
        _height(coefficients_file=str(wrong))
    with pytest.raises(InputDataError, match=r"does not exist; write it with `sinkmap calibrate"):
        _height(coefficients_file=str(tmp_path / "none.yaml"))
    negative = tmp_path / "n.yaml"
    negative.write_text("a: -0.5\nb: 1.8\n")
    with pytest.raises(InputDataError, match=r"a in coefficients file .*n\.yaml must be > 0"):
        _height(coefficients_file=str(negative))
    empty = tmp_path / "e.yaml"
    empty.write_text("model: height_allometry\n")
    with pytest.raises(InputDataError, match=r"neither a and b nor coefficients"):
        _height(coefficients_file=str(empty))


def test_swap_lookup_for_height_changes_outputs_as_the_equation_says():
    chunk = _chunk([[30.0, 10.0, 0.0]], [[10, 20, 40]])
    chunk_lookup = {"land_cover": chunk["land_cover"]}
    before = get_model(**ModelConfig(name="lookup", params={"table": str(POOL_CSV)}).model_dump())
    cfg = ModelConfig(
        name="height_allometry", params={"soil_table": str(POOL_CSV), "a": 0.5, "b": 1.8}
    )
    after = get_model(**cfg.model_dump())
    old = before.pools(chunk_lookup)
    new = after.pools(chunk)
    # lookup: above is the table's c_above (131.6, 28.2, 5.0); height: 0.47 x 0.5 x H^1.8
    np.testing.assert_allclose(old["above"][0], [131.6, 28.2, 5.0], rtol=1e-6)
    h = np.array([30.0, 10.0, 0.0])
    agb = 0.5 * h**1.8  # 226.1, 31.5, 0
    np.testing.assert_allclose(new["above"][0], CF * agb, rtol=1e-6)
    # DOM on forest land only (tree cover = natural forest); shrubland and cropland hold none
    np.testing.assert_allclose(new["dead"][0], DEAD * agb * [1, 0, 0], rtol=1e-6)
    # R of each stratum: natural forest 0.24, shrubland 0.40 (the strata table); cropland's AGB is 0
    np.testing.assert_allclose(new["below"][0], agb * [0.24, 0.40, 0.0] * CF, rtol=1e-5)
    np.testing.assert_array_equal(new["soil"], old["soil"])  # same soil table: soil unchanged
    assert before.describe()["model"] == "lookup"
    assert after.describe()["model"] == "height_allometry"


def test_numpy_and_dask_paths_agree():
    rng = np.random.default_rng(0)
    h = rng.uniform(-2, 45, (64, 64)).astype(np.float32)
    h[rng.random((64, 64)) < 0.05] = np.nan
    lc = rng.choice(np.array([0, 10, 20, 40], np.uint8), (64, 64))
    model = _height(coefficients={10: {"a": 0.5, "b": 1.8}}, a=1.0, b=1.5)
    whole = model.pools(_chunk(h, lc))
    dh, dl = da.from_array(h, chunks=16), da.from_array(lc, chunks=16)
    for pool in whole:
        lazy = da.map_blocks(
            lambda hh, ll, p=pool: model.pools({"canopy_height": hh, "land_cover": ll})[p],
            dh,
            dl,
            dtype=np.float32,
        )
        np.testing.assert_array_equal(lazy.compute(), whole[pool])


# -- the spectral model --------------------------------------------------------------------------
def _spectral(**params):
    return get_model("spectral", {"soil_table": str(POOL_CSV), **params})


def test_spectral_forms_by_hand():
    v = np.array([[0.5, 0.0, -0.2, np.nan]])
    lc = np.array([[10, 10, 10, 10]], np.uint8)
    # exponential (default): 10 e^(4 x 0.5) = 73.891, 10 e^0 = 10, 10 e^-0.8 = 4.4933
    agb = _spectral(a=10.0, b=4.0).agb(v, lc)
    np.testing.assert_allclose(agb, [[10 * math.e**2, 10.0, 10 * math.exp(-0.8), np.nan]])
    # power: 200 x 0.5^2 = 50; V <= 0 -> 0
    agb = _spectral(form="power", a=200.0, b=2.0).agb(v, lc)
    np.testing.assert_allclose(agb, [[50.0, 0.0, 0.0, np.nan]])
    # linear: -20 + 300 V = 130, -20 -> 0, -80 -> 0
    agb = _spectral(form="linear", a=-20.0, b=300.0).agb(v, lc)
    np.testing.assert_allclose(agb, [[130.0, 0.0, 0.0, np.nan]])
    pools = _spectral(form="linear", a=-20.0, b=300.0).pools({"ndvi": v, "land_cover": lc})
    np.testing.assert_allclose(pools["above"][0, 0], 130.0 * CF, rtol=1e-6)


def test_spectral_scale_and_range():
    lc = np.array([[10, 10]], np.uint8)
    raw = np.array([[5000.0, 8000.0]])
    with pytest.raises(
        InputDataError, match=r"values up to 8000 .* set model\.params\.scale \(e\.g\. 0\.0001\)"
    ):
        _spectral(a=10.0, b=4.0).agb(raw, lc)
    agb = _spectral(a=10.0, b=4.0, scale=1e-4).agb(raw, lc)
    np.testing.assert_allclose(agb, [[10 * math.exp(2.0), 10 * math.exp(3.2)]])
    with pytest.raises(
        ConfigError, match=r"form: Input should be 'exponential', 'power' or 'linear'"
    ):
        _spectral(form="cubic", a=1.0, b=1.0)
    with pytest.raises(ConfigError, match=r"a must be > 0 in the exponential form"):
        _spectral(a=-1.0, b=1.0)


def test_spectral_file_form_must_match(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("model: spectral\nform: linear\na: -20\nb: 300\n")
    with pytest.raises(
        InputDataError,
        match=r"holds the 'linear' form but model\.params\.form is 'exponential'; set model\.params\.form: linear",
    ):
        _spectral(coefficients_file=str(f))
    agb = _spectral(form="linear", coefficients_file=str(f)).agb(
        np.array([[0.5]]), np.array([[10]])
    )
    np.testing.assert_allclose(agb, [[130.0]])
