"""sinkmap.models: the registry and the lookup model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sinkmap.errors import ConfigError, InputDataError
from sinkmap.models import get_model, model_class

from ._helpers import DATASETS_YAML, POOL_CSV


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
        "citation": "IPCC 2006 Vol. 4 Tier 1 default stocks; InVEST Carbon Storage and Sequestration model",
    }


def test_unknown_model_name():
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'forest' \(model\.name\); available: \['biomass', 'dynamics', 'height_allometry', 'lookup', 'spectral'\]",
    ):
        get_model("forest", {})


def test_missing_table_param():
    with pytest.raises(
        ConfigError,
        match=r"model\.params of model 'lookup' is invalid:\n  - table: required key is missing",
    ):
        get_model("lookup", {})


def test_unknown_param():
    with pytest.raises(ConfigError, match=r"  - tabel: unknown key; remove it"):
        get_model("lookup", {"table": str(POOL_CSV), "tabel": "x"})


def test_missing_table_file(tmp_path):
    with pytest.raises(InputDataError, match=r"does not exist; set model\.params\.table"):
        get_model("lookup", {"table": str(tmp_path / "none.csv")})


# -- the biomass model (hand values from the equations in sinkmap/models/biomass.py) -------------------
CF = 0.47


def _biomass(**params):
    return get_model("biomass", {"soil_table": str(POOL_CSV), **params})


def test_biomass_model_mokany():
    model = _biomass(root_shoot="mokany", deadwood_fraction=0.06, litter_fraction=0.01)
    chunk = {
        "biomass": np.array([[200.0, 50.0, np.nan]], dtype=np.float32),
        "land_cover": np.array([[10, 40, 10]], dtype=np.uint8),
    }
    pools = model.pools(chunk)
    np.testing.assert_allclose(
        pools["above"][0, :2], [200 * 0.47, 50 * 0.47], rtol=1e-6
    )  # 94.0, 23.5
    np.testing.assert_allclose(
        pools["below"][0, :2], [0.489 * 200**0.890 * CF, 0.489 * 50**0.890 * CF], rtol=1e-6
    )
    # dead wood 0.06 x AGB x 0.47 + litter 0.01 x AGB x 0.37: 200 -> 5.64 + 0.74 = 6.38 on forest
    # land; cropland (40) holds no dead organic matter (IPCC Tier 1)
    np.testing.assert_allclose(pools["dead"][0, :2], [6.38, 0.0], rtol=1e-6)
    np.testing.assert_allclose(
        pools["soil"][0, :2], [52.0, 43.2], rtol=1e-6
    )  # c_soil of rows 10 and 40
    for pool in pools.values():
        assert pool.dtype == np.float32 and np.isnan(
            pool[0, 2]
        )  # no biomass data -> NaN everywhere


def test_biomass_model_constant_and_per_class_root_shoot():
    chunk = {
        "biomass": np.array([[200.0, 100.0]]),
        "land_cover": np.array([[10, 40]], dtype=np.uint8),
    }
    below = _biomass(root_shoot=0.37).pools(chunk)["below"]
    np.testing.assert_allclose(
        below, [[200 * 0.37 * CF, 100 * 0.37 * CF]], rtol=1e-6
    )  # 34.78, 17.39
    below = _biomass(root_shoot={10: 0.37, 40: 0.0}).pools(chunk)["below"]
    np.testing.assert_allclose(below, [[34.78, 0.0]], rtol=1e-6)
    with pytest.raises(InputDataError, match=r"code\(s\) 40 .*model\.params\.root_shoot"):
        _biomass(root_shoot={10: 0.37}).pools(chunk)


def test_biomass_model_takes_r_and_dom_from_the_strata_table():
    """The default: one root-to-shoot ratio per stratum and ecozone, the carbon state's
    (config/dynamics/strata.csv): natural forest 0.24 in the tropical moist forest zone (12),
    0.27 in the mountain system (16), rubber 0.20, areca 0.30 (a Cropland stratum, so no DOM);
    grassland and cropland take the pool table's below/above (4.7 / 2.9, 0 / 5.0)."""
    model = _biomass(plantation_role="plantation", ecozone_role="ecozone")
    assert model.input_roles == ("biomass", "land_cover", "plantation", "ecozone")
    chunk = {
        "biomass": np.array([[200.0, 200.0, 100.0, 30.0, 10.0, 5.0]]),
        "land_cover": np.array([[10, 10, 10, 10, 30, 40]], np.uint8),
        "plantation": np.array([[1, 1, 2, 3, 0, 0]], np.uint8),
        "ecozone": np.array([[12, 16, 12, 12, 0, 12]], np.uint8),
    }
    pools = model.pools(chunk)
    r = [0.24, 0.27, 0.20, 0.30, 4.7 / 2.9, 0.0]
    agb = [200.0, 200.0, 100.0, 30.0, 10.0, 5.0]
    np.testing.assert_allclose(
        pools["below"][0], [a * ri * CF for a, ri in zip(agb, r, strict=True)], rtol=1e-6
    )
    # DOM on forest land: natural forest (12) dead wood 0.06, litter 0.01 -> 200 x (0.06 x 0.47 +
    # 0.01 x 0.37) = 6.38; (16) 0.07 and 0.01 -> 200 x (0.0329 + 0.0037) = 7.32; rubber: dead
    # wood 0, litter 0.01 -> 100 x 0.0037 = 0.37; areca, grassland, cropland: 0
    np.testing.assert_allclose(pools["dead"][0], [6.38, 7.32, 0.37, 0.0, 0.0, 0.0], rtol=1e-6)


def test_biomass_model_nodata_land_cover_and_bad_params():
    pools = _biomass().pools(
        {"biomass": np.array([[120.0]]), "land_cover": np.array([[0]], np.uint8)}
    )
    assert all(np.isnan(p[0, 0]) for p in pools.values())
    with pytest.raises(
        ConfigError, match=r"carbon_fraction: Input should be less than or equal to 1"
    ):
        _biomass(carbon_fraction=4.7)
    with pytest.raises(ConfigError, match=r"soil_table: required key is missing"):
        get_model("biomass", {})


# -- registry: the documented example, by file path ---------------------------------------------------
def _docs_example() -> str:
    text = (POOL_CSV.parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
    return text.split("This is a complete model:\n\n```python\n", 1)[1].split("```", 1)[0]


def test_docs_example_model_is_short_and_loads_by_file_path(tmp_path):
    code = _docs_example()
    assert len(code.strip().splitlines()) < 30
    path = tmp_path / "share.py"
    path.write_text(code, encoding="utf-8")
    model = get_model(f"{path}:BiomassShare", {"share": 0.5})
    pools = model.pools({"biomass": np.array([[10.0, np.nan]], np.float32)})
    np.testing.assert_allclose(pools["above"], [[5.0, np.nan]])
    np.testing.assert_allclose(pools["soil"], [[50.0, np.nan]])
    assert model.describe()["params"] == {"share": 0.5, "soil": 50.0}


def test_bad_model_paths(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot load model .*nothere\.py"):
        get_model(f"{tmp_path}/nothere.py:X", {})
    (tmp_path / "notmodel.py").write_text("class X:\n    pass\n")
    with pytest.raises(ConfigError, match=r"is not a sinkmap.models.CarbonModel subclass"):
        get_model(f"{tmp_path}/notmodel.py:X", {})


def _plugin(site, dist: str, entry_points: str, module: str, code: str) -> None:
    """An installed package as pip leaves one: its module and a dist-info folder declaring
    ``entry_points`` (lines of the ``sinkmap.models`` group)."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[sinkmap.models]\n{entry_points}\n")
    (site / f"{module}.py").write_text(code)


def test_a_model_is_looked_up_without_loading_the_other_plugins(tmp_path, monkeypatch, request):
    """A plugin that fails to import breaks only the runs that use its model: the built-in models
    and the other plugins' load without it, and its own error names its package and the fix."""
    site = tmp_path / "site"
    tried = tmp_path / "broken_models was imported"  # a failed import leaves no module behind
    _plugin(
        site,
        "broken_models",
        "broken = broken_models:Model",
        "broken_models",
        f"open({str(tried)!r}, 'a').close()\nraise ImportError('needs libfoo 2')\n",
    )
    _plugin(site, "good_models", "good = good_models:BiomassShare", "good_models", _docs_example())
    monkeypatch.syspath_prepend(str(site))
    request.addfinalizer(lambda: sys.modules.pop("good_models", None))

    assert model_class("lookup").name == "lookup"
    assert not tried.exists()  # built-in: the plugins not even imported
    assert model_class("good").__name__ == "BiomassShare"
    assert not tried.exists()
    with pytest.raises(
        ConfigError,
        match=r"model 'broken' \(broken_models:Model, declared by broken_models\) does not load: "
        r"needs libfoo 2; fix or reinstall broken_models\Z",
    ):
        model_class("broken")
    assert tried.exists()
    tried.unlink()
    # an unknown name lists every model by name, without loading the plugins
    with pytest.raises(ConfigError, match=r"available: \['biomass', 'broken', .*'good', "):
        model_class("forest")
    assert not tried.exists()
    # an entry point that names something else than a model class is refused by name
    _plugin(site, "odd_models", "odd = good_models:np", "odd_models", "")
    with pytest.raises(
        ConfigError,
        match=r"model 'odd' \(good_models:np, declared by odd_models\) is not a "
        r"sinkmap.models.CarbonModel subclass",
    ):
        model_class("odd")


# -- the numpy path (one whole array) and the dask path (the pipeline, chunk by chunk) agree -------
def test_chunked_pipeline_equals_whole_array_model(tmp_path):
    import rasterio

    from sinkmap.config import load_config
    from sinkmap.grid import Grid
    from sinkmap.paths import Paths
    from sinkmap.stages.stocks import compute_stocks

    from ._helpers import CONFIG_YAML, UTM_LEFT, UTM_TOP, write_tif

    rng = np.random.default_rng(7)
    codes = np.array([0, 10, 20, 30, 40, 50, 80], dtype=np.uint8)
    lc = rng.choice(codes, size=(45, 38))  # 3 x 3 chunks of 16, ragged at the edges
    agb = rng.uniform(0, 400, size=lc.shape).astype("float32")
    agb[lc == 0] = np.nan
    lc_path = write_tif(tmp_path / "lc.tif", lc, res=10, left=UTM_LEFT, top=UTM_TOP, nodata=0)
    agb_path = write_tif(tmp_path / "agb.tif", agb, res=10, left=UTM_LEFT, top=UTM_TOP)
    grid = Grid(
        crs="EPSG:32649", resolution=10.0, left=UTM_LEFT, top=UTM_TOP, width=38, height=45, chunk=16
    )
    grid.to_json(tmp_path / "grid.json")
    base = load_config(CONFIG_YAML)
    for name, params in (
        ("lookup", {"table": str(POOL_CSV)}),
        ("biomass", {"soil_table": str(POOL_CSV)}),
    ):
        cfg = base.model_copy(
            update={
                "results_dir": tmp_path / name,
                "datasets": DATASETS_YAML,
                "model": base.model.model_copy(update={"name": name, "params": params}),
            }
        )
        compute_stocks(
            cfg,
            2020,
            {"land_cover": lc_path, "biomass": agb_path},
            tmp_path / "grid.json",
            outputs=Paths(tmp_path / name).year_outputs(2020),
            threads=2,
        )
        whole = get_model(name, params).pools({"land_cover": lc, "biomass": agb})
        for pool, expected in whole.items():
            with rasterio.open(tmp_path / name / "2020" / f"carbon_stock_{pool}.tif") as ds:
                np.testing.assert_array_equal(ds.read(1), expected, err_msg=f"{name} {pool}")
