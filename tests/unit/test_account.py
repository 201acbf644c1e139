"""sinkmap.account: change matrix, gain-loss, Monte Carlo, zones — on landscapes computed by hand."""

from __future__ import annotations

import pickle
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from sinkmap.account.gain_loss import gain_loss
from sinkmap.account.montecarlo import (
    Parameter,
    draw_parameters,
    draw_pools,
    monte_carlo_tile,
    pixel_draws,
    pixel_noise,
)
from sinkmap.account.transitions import change_matrix_table, ipcc_category_matrix
from sinkmap.account.zones import (
    ZoneCover,
    ZoneCoverage,
    Zones,
    add_group_sums,
    group_sums,
    membership,
    zone_coverage,
    zones_key,
)
from sinkmap.aoi import read_zones
from sinkmap.carbon import co2e_flux, stock_difference
from sinkmap.constants import CO2_PER_C
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid
from sinkmap.models.biomass import BiomassModel, BiomassParams
from sinkmap.models.lookup import LookupModel, LookupParams
from sinkmap.tables import GrowthRates

from ._helpers import POOL_CSV, ROOT, UTM_LEFT, UTM_TOP, write_tif

GROWTH_CSV = ROOT / "config" / "growth_rates.csv"
POOLS_TABLE = ("above", "below", "dead", "soil")

# Total stocks of config/pools/worldcover_ipcc_tier1.csv (above + below + dead + soil, Mg C/ha):
TREE = 131.6 + 48.7 + 8.9 + 52.0  # 241.2
TREE_BIOMASS = 131.6 + 48.7 + 8.9  # 189.2: what a disturbed forest pixel emits
CROP = 5.0 + 43.2  # 48.2
WATER = 0.0

# The hand-computed landscape. Cell (2, 2) is nodata at t1 and so never counts.
C1 = np.array([[10, 10, 10], [10, 40, 40], [40, 80, 0]], dtype=np.uint8)
C2 = np.array([[10, 10, 40], [10, 10, 40], [40, 80, 10]], dtype=np.uint8)
AREA = np.arange(1.0, 10.0).reshape(3, 3)  # ha: cell (i, j) has 1 + 3i + j
STOCK = {10: TREE, 40: CROP, 80: WATER, 0: np.nan}


def _stocks(classes: np.ndarray) -> np.ndarray:
    return np.vectorize(STOCK.__getitem__, otypes=[float])(classes)


S1, S2 = _stocks(C1), _stocks(C2)


# == change matrix ================================================================================
def _pairs(c1, c2, area, s1, s2) -> pd.DataFrame:
    """Area and stocks per (from, to) class pair, by the account's tally engine (one tile)."""
    valid = (c1 != 0) & (c2 != 0) & np.isfinite(s1) & np.isfinite(s2)
    sums = group_sums(
        membership(valid, area),
        {"from_code": c1, "to_code": c2},
        {"stock_t1_mgc": s1, "stock_t2_mgc": s2},
    )
    return sums.drop(columns="zone")


def test_transition_matrix_by_hand():
    pairs = _pairs(C1, C2, AREA, S1, S2).set_index(["from_code", "to_code"])
    # 10->10: cells (0,0) 1 ha, (0,1) 2 ha, (1,0) 4 ha; 10->40: (0,2) 3 ha; 40->10: (1,1) 5 ha;
    # 40->40: (1,2) 6 ha + (2,0) 7 ha; 80->80: (2,1) 8 ha; (2,2) 9 ha is nodata at t1.
    expected_area = {(10, 10): 7.0, (10, 40): 3.0, (40, 10): 5.0, (40, 40): 13.0, (80, 80): 8.0}
    assert pairs["area_ha"].to_dict() == expected_area
    change = pairs["stock_t2_mgc"] - pairs["stock_t1_mgc"]
    assert change[(10, 40)] == pytest.approx((CROP - TREE) * 3.0)  # -579.0 Mg C
    assert change[(40, 10)] == pytest.approx((TREE - CROP) * 5.0)  # +965.0 Mg C
    assert change[(10, 10)] == 0.0 and change[(40, 40)] == 0.0 and change[(80, 80)] == 0.0
    assert pairs.loc[(10, 10), "stock_t1_mgc"] == pytest.approx(TREE * 7.0)
    assert pairs.loc[(40, 10), "stock_t2_mgc"] == pytest.approx(TREE * 5.0)


def test_transition_sums_add_over_tiles():
    whole = _pairs(C1, C2, AREA, S1, S2)
    top = _pairs(C1[:2], C2[:2], AREA[:2], S1[:2], S2[:2])
    bottom = _pairs(C1[2:], C2[2:], AREA[2:], S1[2:], S2[2:])
    combined = add_group_sums([top, bottom])
    pd.testing.assert_frame_equal(
        combined, whole.sort_values(["from_code", "to_code"]).reset_index(drop=True)
    )


def test_group_sums_refuse_codes_beyond_16_bits():
    with pytest.raises(InputDataError, match="0..65535"):
        group_sums(membership(np.ones(2, bool), np.ones(2)), {"c": np.array([1, 70000])}, {})


def test_change_matrix_table_by_hand():
    table = change_matrix_table(_pairs(C1, C2, AREA, S1, S2), "worldcover", 2020, 2022)
    assert list(zip(table["from_code"], table["to_code"], strict=True)) == [
        (10, 10),
        (10, 40),
        (40, 10),
        (40, 40),
        (80, 80),
    ]
    row = table.set_index(["from_code", "to_code"]).loc[(10, 40)]
    assert row["from_name"] == "Tree cover" and row["to_name"] == "Cropland"
    assert row["ipcc_category"] == "Forest land converted to Cropland"
    assert row["area_ha"] == 3.0
    assert row["stock_change_mgc"] == pytest.approx(-579.0)
    assert row["stock_change_mgc_per_yr"] == pytest.approx(-289.5)
    # Inventory sign: a loss of 579 Mg C is an emission of +579 x 44/12 = +2123 Mg CO2e.
    assert row["co2e_mgco2e"] == pytest.approx(2123.0)
    assert row["co2e_mgco2e_per_yr"] == pytest.approx(1061.5)
    gain = table.set_index(["from_code", "to_code"]).loc[(40, 10)]
    assert gain["ipcc_category"] == "Cropland converted to Forest land"
    assert gain["co2e_mgco2e"] == pytest.approx(-965.0 * 44 / 12)  # a removal, negative
    assert table["area_ha"].sum() == pytest.approx(36.0)


def test_ipcc_category_matrix_by_hand():
    m = ipcc_category_matrix(_pairs(C1, C2, AREA, S1, S2), "worldcover", 2020, 2022)
    expected = [
        ("4.A.1", "Forest land remaining Forest land", 7.0, 0.0),
        ("4.A.2", "Cropland converted to Forest land", 5.0, 965.0),
        ("4.B.1", "Cropland remaining Cropland", 13.0, 0.0),
        ("4.B.2", "Forest land converted to Cropland", 3.0, -579.0),
        ("4.D.1", "Wetlands remaining Wetlands", 8.0, 0.0),
    ]
    got = list(
        zip(m["crf_code"], m["ipcc_category"], m["area_ha"], m["stock_change_mgc"], strict=True)
    )
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    np.testing.assert_allclose([g[3] for g in got], [e[3] for e in expected], atol=1e-9)
    np.testing.assert_allclose(m["co2e_mgco2e"], -m["stock_change_mgc"] * CO2_PER_C)
    assert set(m["interval_start"]) == {2020} and set(m["interval_end"]) == {2022}


def test_ipcc_category_matrix_needs_a_category_for_every_code():
    pairs = _pairs(
        np.array([[10, 33]]),
        np.array([[10, 33]]),
        np.ones((1, 2)),
        np.ones((1, 2)),
        np.ones((1, 2)),
    )
    with pytest.raises(InputDataError, match=r"\[33\]"):
        ipcc_category_matrix(pairs, "worldcover", 2020, 2021)


# == gain-loss ====================================================================================
RATES = GrowthRates.from_columns(
    pd.DataFrame(
        {
            "lucode": [10, 10, 10, 40],
            "state_code": [0, 1, 2, 3],
            "state": ["unspecified", "old_growth", "secondary_le20", "plantation"],
            "rate": [0.7, 0.7, 3.4, 10.0],
            "unit": ["t_dm_ha_yr", "t_dm_ha_yr", "t_dm_ha_yr", "t_c_ha_yr"],
        }
    ),
    name="test rates",
)
R, CF = 0.37, 0.47
G_OLD = 0.7 * (1 + R) * CF  # 0.450730 Mg C/ha/yr
G_YOUNG = 3.4 * (1 + R) * CF  # 2.189260 Mg C/ha/yr
STATE = np.array([[1, 2, 0], [0, 0, 0], [3, 0, 255]])  # 255 (outside the data) is ignored
# Hansen lossyear: 20 = 2020 (before the interval: ignored), 21 = 2021 (inside), 22 = 2022.
LOSS = np.array([[20, 0, 22], [21, 0, 0], [0, 0, 0]])
BIOMASS = np.where(C1 == 10, TREE_BIOMASS, np.where(C1 == 40, 5.0, 0.0))


def test_gain_loss_by_hand():
    gl = gain_loss(
        C1,
        C2,
        STATE,
        RATES,
        R,
        CF,
        (2020, 2022),
        LOSS,
        stock_t1=S1,
        stock_t2=S2,
        biomass_t1=BIOMASS,
    )
    nan = np.nan
    expected_gains = [
        [G_OLD, G_YOUNG, 0.0],  # (0,2) converted: no growth
        [0.0, 0.0, 0.0],  # (1,0) disturbed in 2021: no growth; (1,1) converted; (1,2) annual crop
        [10.0, 0.0, nan],  # (2,0) perennial crop 10 t C/ha/yr; water; nodata
    ]
    expected_losses = [
        # (0,2): transition 241.2 - 48.2 = 193 > disturbance 189.2 (2022): counted once, over 2 yr
        [0.0, 0.0, (TREE - CROP) / 2],
        [TREE_BIOMASS / 2, 0.0, 0.0],  # (1,0): Hansen loss of its biomass, 189.2 over 2 yr
        [0.0, 0.0, nan],
    ]
    np.testing.assert_allclose(gl.gains, expected_gains, rtol=1e-6)
    np.testing.assert_allclose(gl.losses, expected_losses, rtol=1e-6)
    np.testing.assert_allclose(gl.net, np.subtract(expected_gains, expected_losses), rtol=1e-6)
    np.testing.assert_allclose(gl.removals_co2e, -np.array(expected_gains) * 44 / 12, rtol=1e-6)
    np.testing.assert_allclose(gl.emissions_co2e, np.array(expected_losses) * 44 / 12, rtol=1e-6)
    np.testing.assert_allclose(gl.net_co2e, -(gl.gains - gl.losses) * 44 / 12, rtol=1e-6)
    assert gl.loss_year.tolist() == [[0, 0, 2022], [2021, 0, 0], [0, 0, 0]]
    assert gl.gains.dtype == np.float32 and gl.loss_year.dtype == np.int16
    assert not np.signbit(gl.removals_co2e[np.asarray(expected_gains) == 0]).any()  # no -0.0


def test_gain_loss_grow_converted_counts_land_converted_to_forest():
    gl = gain_loss(
        C1, C2, None, RATES, R, CF, (2020, 2022), stock_t1=S1, stock_t2=S2, grow_converted=True
    )
    assert gl.gains[1, 1] == pytest.approx(G_OLD)  # cropland -> tree cover grows at state 0
    assert gl.gains[0, 2] == 0.0  # tree cover -> cropland (annual): no growth
    assert gl.losses[1, 1] == 0.0  # a change to a higher-stock class loses nothing


def test_gain_loss_refuses_loss_year_without_biomass_and_unknown_states():
    with pytest.raises(InputDataError, match="biomass_t1"):
        gain_loss(C1, C2, None, RATES, R, CF, (2020, 2022), LOSS, stock_t1=S1, stock_t2=S2)
    with pytest.raises(InputDataError, match=r"state code\(s\) \[7\]"):
        gain_loss(C1, C2, np.full((3, 3), 7), RATES, R, CF, (2020, 2022), stock_t1=S1, stock_t2=S2)
    with pytest.raises(InputDataError, match="forwards"):
        gain_loss(C1, C2, None, RATES, R, CF, (2022, 2022), stock_t1=S1, stock_t2=S2)


def test_stock_difference_and_gain_loss_agree_when_they_must():
    """Only forest remaining forest, growing at a known rate: C_t2 = C_t1 + ΔC_G × years."""
    rng = np.random.default_rng(5)
    classes = np.full((4, 5), 10, np.uint8)
    state = np.full((4, 5), 2)  # young secondary forest, 3.4 t d.m./ha/yr
    s1 = rng.uniform(100, 300, (4, 5))
    s2 = s1 + G_YOUNG * 3
    gl = gain_loss(classes, classes, state, RATES, R, CF, (2020, 2023), stock_t1=s1, stock_t2=s2)
    sd = stock_difference(s1, s2, 2020, 2023)
    np.testing.assert_allclose(gl.net, sd, rtol=1e-5)
    np.testing.assert_allclose(gl.net_co2e, co2e_flux(sd), rtol=1e-5)
    np.testing.assert_allclose(gl.net, G_YOUNG, rtol=1e-6)
    area = np.full((4, 5), 0.01)
    member = membership(np.ones(classes.shape, bool), area)
    a = group_sums(member, {"c": classes}, {"net": gl.net_co2e})["net"].item()
    b = group_sums(member, {"c": classes}, {"net": co2e_flux(sd)})["net"].item()
    assert a == pytest.approx(b, rel=1e-5)
    assert a == pytest.approx(-20 * 0.01 * G_YOUNG * 44 / 12, rel=1e-5)


def test_committed_growth_rates_table():
    rates = GrowthRates.from_csv(GROWTH_CSV)
    table = pd.read_csv(GROWTH_CSV)
    assert table["source"].str.len().min() > 20 and "confirmed" in table
    by = table.set_index(["lucode", "state"])["rate"]
    assert by[(10, "secondary_le20")] == 3.4 and by[(10, "old_growth")] == 0.7
    assert by[(40, "plantation")] == 10.0
    unconfirmed = table[table["confirmed"].str.startswith("no")]
    assert set(unconfirmed["rate"]) >= {10.0}  # Table 5.1 is not confirmed
    gain = rates.carbon_gain(
        np.array([10, 10, 10, 10, 40, 40, 80]),
        np.array([0, 1, 2, 3, 0, 3, 0]),
        root_shoot=R,
        carbon_fraction=CF,
    )
    np.testing.assert_allclose(gain, [G_OLD, G_OLD, G_YOUNG, 10.0, 0.0, 10.0, 0.0])


def test_growth_rates_validation(tmp_path):
    bad = tmp_path / "rates.csv"
    bad.write_text("lucode,state_code,rate,unit\n10,0,1.0,t_per_ha\n")
    with pytest.raises(InputDataError, match="unit must be one of"):
        GrowthRates.from_csv(bad)
    bad.write_text("lucode,state_code,rate,unit\n10,0,1.0,t_c_ha_yr\n10,0,2.0,t_c_ha_yr\n")
    with pytest.raises(InputDataError, match="repeats"):
        GrowthRates.from_csv(bad)
    bad.write_text("lucode,state_code,rate,unit\n10,0,-1,t_c_ha_yr\n")
    with pytest.raises(InputDataError, match="line"):
        GrowthRates.from_csv(bad)


# == Monte Carlo ==================================================================================
def _grid(n: int, chunk: int) -> Grid:
    return Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, n, n, chunk=chunk)


def _landscape(n: int = 40):
    rng = np.random.default_rng(11)
    classes = rng.choice(np.array([0, 10, 20, 40, 80], np.uint8), size=(n, n))
    agb = np.where(classes == 10, rng.uniform(150, 300, (n, n)), rng.uniform(0, 20, (n, n)))
    return classes, agb.astype("float32")


def _mc(model, grid, arrays, params, draws, seed, input_errors=None) -> np.ndarray:
    """The workflow's per-pixel Monte Carlo (``pixel_draws``) over every tile of ``grid``, tiles
    added in order: totals (draws, pools + total) of the whole grid, Mg C."""
    zones = Zones(grid)
    param_draws = draw_parameters(params, draws, seed)
    total = 0.0
    for tile in grid.tiles():
        blocks = {k: v[tile.slices] for k, v in arrays.items()}
        _, t = pixel_draws(
            model, grid, zones, tile, blocks, param_draws, seed, draws, input_errors or {}, False
        )
        total = total + t
    return np.asarray(total)[:, 0, :]


def _deterministic(model, grid, arrays) -> np.ndarray:
    """Σ pool × true cell area over the valid cells, pool by pool (above, below, dead, soil)."""
    out = np.zeros(4)
    for tile in grid.tiles():
        blocks = {k: v[tile.slices] for k, v in arrays.items()}
        pools = model.pools(blocks)
        area = grid.cell_area_ha(tile.window)
        valid = (blocks["land_cover"] != 0) & np.isfinite(sum(pools[p] for p in pools))
        for i, p in enumerate(("above", "below", "dead", "soil")):
            out[i] += float(np.sum(np.where(valid, pools[p], 0.0) * area))
    return out


@pytest.fixture(scope="module")
def lookup_model():
    return LookupModel(LookupParams(table=POOL_CSV))


@pytest.fixture(scope="module")
def biomass_model():
    return BiomassModel(BiomassParams(soil_table=POOL_CSV, root_shoot=0.37))


def test_zero_error_monte_carlo_equals_deterministic_lookup(lookup_model):
    grid = _grid(40, 16)  # 3 x 3 tiles, the last ones partial
    classes, _ = _landscape()
    params = {f"table.{p}": Parameter(lookup_model.table.values[p], 0.0) for p in POOLS_TABLE}
    totals = _mc(lookup_model, grid, {"land_cover": classes}, params, 4, seed=1)
    expected = _deterministic(lookup_model, grid, {"land_cover": classes})
    for d in range(4):
        np.testing.assert_allclose(totals[d, :4], expected, rtol=1e-12)
        assert totals[d, 4] == pytest.approx(expected.sum(), rel=1e-12)


def test_zero_error_monte_carlo_equals_deterministic_biomass(biomass_model):
    grid = _grid(40, 16)
    classes, agb = _landscape()
    arrays = {"land_cover": classes, "biomass": agb, "biomass_sd": np.zeros_like(agb)}
    params = {"carbon_fraction": Parameter(0.47, 0.0), "root_shoot": Parameter(0.37, 0.0)}
    totals = _mc(biomass_model, grid, arrays, params, 3, 9, {"biomass": "biomass_sd"})
    expected = _deterministic(biomass_model, grid, arrays)
    for d in range(3):
        np.testing.assert_allclose(totals[d, :4], expected, rtol=1e-12)


def test_monte_carlo_does_not_depend_on_chunking(biomass_model):
    classes, agb = _landscape()
    arrays = {"land_cover": classes, "biomass": agb, "biomass_sd": np.full_like(agb, 30.0)}
    params = {"carbon_fraction": Parameter(0.47, 0.03)}
    results = [
        _mc(biomass_model, _grid(40, chunk), arrays, params, 5, 3, {"biomass": "biomass_sd"})
        for chunk in (16, 16, 32, 64)
    ]
    np.testing.assert_array_equal(results[0], results[1])  # same tiles: bit for bit
    for other in results[2:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12)  # only summation order differs
    assert np.ptp(results[0][:, 4]) > 0  # the draws do differ


def test_monte_carlo_seed_reproducible(biomass_model):
    classes, agb = _landscape(20)
    arrays = {"land_cover": classes, "biomass": agb, "biomass_sd": agb * 0.2}
    run = [
        _mc(biomass_model, _grid(20, 64), arrays, {}, 3, s, {"biomass": "biomass_sd"})
        for s in (4, 4, 5)
    ]
    np.testing.assert_array_equal(run[0], run[1])
    assert not np.array_equal(run[0], run[2])


def test_pixel_noise_is_the_same_in_any_window():
    big = pixel_noise(7, 2, "biomass", 0, 0, 300, 300)
    np.testing.assert_array_equal(
        big[100:230, 50:250], pixel_noise(7, 2, "biomass", 100, 50, 130, 200)
    )
    assert abs(big.mean()) < 0.02 and big.std() == pytest.approx(1.0, abs=0.02)
    other = pixel_noise(7, 2, "height", 0, 0, 300, 300)
    assert abs(np.corrcoef(big.ravel(), other.ravel())[0, 1]) < 0.02
    assert not np.array_equal(big, pixel_noise(7, 3, "biomass", 0, 0, 300, 300))


def test_draw_parameters_zero_sd_is_exact_and_streams_are_stable():
    p = {"cf": Parameter(0.47, 0.0), "table.above": Parameter(np.array([131.6, 5.0]), 0.0)}
    d = draw_parameters(p, 5, 0)
    assert d["cf"].shape == (5,) and np.all(d["cf"] == 0.47)
    assert d["table.above"].shape == (5, 2) and np.all(d["table.above"] == [131.6, 5.0])
    a = draw_parameters({"cf": Parameter(0.47, 0.1)}, 100, 3)["cf"]
    b = draw_parameters({"cf": Parameter(0.47, 0.1), "r": Parameter(0.37, 0.2)}, 100, 3)["cf"]
    np.testing.assert_array_equal(a, b)  # adding a parameter does not change the others
    with pytest.raises(InputDataError, match="seed"):
        draw_parameters(p, 5, -1)


def test_monte_carlo_tile_memory_is_draws_times_groups():
    grid = _grid(20, 64)
    (tile,) = grid.tiles()
    out = monte_carlo_tile(
        lambda data, params, noise: {"s": np.array([noise("a").sum(), 1.0])},
        {"a": np.zeros((20, 20))},
        tile,
        {},
        seed=0,
        draws=7,
    )
    assert out["s"].shape == (7, 2)
    assert out["s"][:, 1].tolist() == [1.0] * 7


def test_draw_pools_refuses_what_the_model_cannot_draw(lookup_model):
    data = {"land_cover": np.array([[10]], np.uint8)}
    with pytest.raises(InputDataError, match="neither"):
        draw_pools(lookup_model, data, {"nope": np.array(1.0)}, lambda s: np.zeros((1, 1)))
    pools = draw_pools(
        lookup_model, data, {"table.above": np.full(11, 2.0)}, lambda s: np.zeros((1, 1))
    )
    assert pools["above"][0, 0] == 2.0 and pools["soil"][0, 0] == pytest.approx(52.0)


# == zones and the tally engine (exactextract fractions) ===========================================
RES = 10.0


def test_group_sums_by_class_by_hand():
    classes = np.array([[10, 10, 40], [40, 80, 10]], dtype=np.uint8)
    area = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    stock = np.array([[100.0, 50.0, 10.0], [20.0, 0.0, np.nan]])
    sums = group_sums(membership(np.isfinite(stock), area), {"class_code": classes}, {"s": stock})
    by = sums.set_index("class_code")
    # class 10: cells (0,0) area 1 stock 100, (0,1) area 2 stock 50; (1,2) is NaN -> not valid
    assert by.loc[10, "area_ha"] == 3.0 and by.loc[10, "s"] == 1 * 100 + 2 * 50
    # class 40: (0,2) area 3 stock 10, (1,0) area 4 stock 20; class 80: area 5, stock 0
    assert by.loc[40, "area_ha"] == 7.0 and by.loc[40, "s"] == 3 * 10 + 4 * 20
    assert by.loc[80, "area_ha"] == 5.0 and by.loc[80, "s"] == 0.0
    assert set(sums["zone"]) == {0} and sums["area_ha"].sum() == 15.0


def test_group_sums_with_one_cell_area_by_hand():
    """A projected grid (every cell 0.01 ha), float32 layers and a layer made on demand."""
    classes = np.array([[10, 10, 40], [40, 80, 10]], dtype=np.uint8)
    stock = np.array([[100.0, 50.0, 10.0], [20.0, 0.0, np.nan]], dtype=np.float32)
    sums = group_sums(
        membership(np.isfinite(stock), np.full((2, 3), 0.01)),
        {"class_code": classes},
        {"s": stock, "twice": lambda: 2 * stock},
    )
    by = sums.set_index("class_code")
    assert by.loc[10, "area_ha"] == pytest.approx(0.02)
    assert by.loc[10, "s"] == pytest.approx(0.01 * (100 + 50))
    assert by.loc[40, "s"] == pytest.approx(0.01 * (10 + 20))
    assert by.loc[40, "twice"] == pytest.approx(0.01 * 2 * (10 + 20))
    assert by.loc[80, "s"] == 0.0 and sums["s"].dtype == np.float64


def test_group_sums_of_several_keys_far_apart_by_hand():
    """Three keys whose codes lie far apart (0, 7 and 65535; 1 and 300) and a zone covering part
    of the tile: one row per (zone, codes) present, in the order of the zone and then each key's
    codes, and the sums by hand."""
    a = np.array([[0, 65535, 7], [65535, 0, 7]])
    b = np.array([[1, 1, 300], [1, 1, 300]])
    c = np.array([[5, 5, 5], [6, 5, 6]], dtype=np.uint8)
    area = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    value = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    # zone 1 covers the second column whole and half of the first cell
    coverage = ZoneCoverage(np.array([0, 0, 0]), np.array([0, 1, 4]), np.array([0.5, 1.0, 1.0]))
    sums = group_sums(
        membership(np.ones((2, 3), bool), area, coverage), {"a": a, "b": b, "c": c}, {"v": value}
    )
    rows = [tuple(int(x) for x in r) for r in sums[["zone", "a", "b", "c"]].to_numpy()]
    assert rows == [
        (0, 0, 1, 5),  # cells (0,0) and (1,1)
        (0, 7, 300, 5),  # (0,2)
        (0, 7, 300, 6),  # (1,2)
        (0, 65535, 1, 5),  # (0,1)
        (0, 65535, 1, 6),  # (1,0)
        (1, 0, 1, 5),  # half of (0,0), all of (1,1)
        (1, 65535, 1, 5),  # (0,1)
    ]
    assert sums["area_ha"].tolist() == [1 + 5, 3, 6, 2, 4, 0.5 + 5, 2]
    assert sums["v"].tolist() == [10 + 250, 90, 360, 40, 160, 5 + 250, 40]


def test_group_sums_add_each_keys_cells_in_order_bit_for_bit():
    """Each sum is Σ value × weight added one cell at a time, in cell order, from 0.0: the same
    float64 number, bit for bit, as a plain loop over the cells (so the tallies do not depend on
    how the sums are computed). Two zones, one cutting cells; a float32 and a float64 layer, NaN
    outside the valid cells."""
    rng = np.random.default_rng(11)
    shape = (23, 31)
    classes = rng.choice(np.array([10, 20, 40], np.uint8), size=shape)
    area = 0.0099 + rng.random(shape) * 1e-4
    valid = rng.random(shape) > 0.1
    layers = {
        "f32": np.where(valid, rng.random(shape) * 300, np.nan).astype(np.float32),
        "f64": np.where(valid, rng.random(shape) * 7 - 3, np.nan),
    }
    n = classes.size
    cells = [np.arange(0, n, 2), np.arange(n // 3, n)]
    fractions = [np.ones(cells[0].size), np.where(cells[1] % 5 == 0, 0.37, 1.0)]
    coverage = ZoneCoverage(
        np.concatenate([np.zeros(cells[0].size, np.int64), np.ones(cells[1].size, np.int64)]),
        np.concatenate(cells),
        np.concatenate(fractions),
    )
    sums = group_sums(membership(valid, area, coverage), {"class_code": classes}, layers)
    expected: dict[tuple[int, int], dict[str, float]] = {}
    zone_cells = [(0, np.flatnonzero(valid.ravel()), np.ones(int(valid.sum())))]
    zone_cells += [(z + 1, c, f) for z, (c, f) in enumerate(zip(cells, fractions, strict=True))]
    for zone, zcells, zfrac in zone_cells:
        for cell, frac in zip(zcells.tolist(), zfrac.tolist(), strict=True):
            if not valid.ravel()[cell]:
                continue
            acc = expected.setdefault(
                (zone, int(classes.ravel()[cell])), dict.fromkeys(layers, 0.0)
            )
            weight = float(area.ravel()[cell]) * frac if zone else float(area.ravel()[cell])
            for name, layer in layers.items():
                acc[name] += float(layer.ravel()[cell]) * weight
    assert len(sums) == len(expected)
    for row in sums.itertuples():
        for name in layers:
            assert getattr(row, name) == expected[(row.zone, row.class_code)][name]


def _zone_sums(grid: Grid, gdf, classes: np.ndarray, values: dict) -> pd.DataFrame:
    """Tile by tile, as the stages do: the AOI and each zone, per class."""
    zones = Zones(grid, "aoi", gdf)
    parts = []
    for tile in grid.tiles():
        v = {k: a[tile.slices] for k, a in values.items()}
        valid = classes[tile.slices] != 0
        for a in v.values():
            valid &= np.isfinite(a)
        member = membership(valid, grid.cell_area_ha(tile.window), zones.coverage(tile))
        parts.append(group_sums(member, {"class_code": classes[tile.slices]}, v))
    return zones.label(add_group_sums(parts), "test")


@pytest.fixture()
def zone_grid():
    stock = np.array([[1, 2, 3, 4], [5, 6, 7, np.nan]], dtype="float64")
    classes = np.array([[10, 10, 40, 40], [10, 40, 40, 40]], dtype=np.uint8)
    L, T = UTM_LEFT, UTM_TOP
    gdf = read_zones(
        gpd.GeoDataFrame(
            {"name": ["A", "B", "C"]},
            geometry=[
                shapely.box(L, T - 20, L + 15, T),  # column 0 whole, column 1 half, both rows
                shapely.box(L + 15, T - 10, L + 40, T),  # row 0: column 1 half, columns 2 and 3
                shapely.box(L + 25, T - 20, L + 40, T - 15),  # row 1: (1,2) a quarter, (1,3) NaN
            ],
            crs="EPSG:32649",
        ),
        "EPSG:32649",
        id_field="name",
    )
    grid = Grid("EPSG:32649", RES, L, T, 4, 2, chunk=256)
    a = float(grid.cell_area_ha(next(grid.tiles()).window)[0, 0])
    return grid, gdf, classes, stock, a


def test_zone_totals_exact_fractions_by_hand(zone_grid):
    grid, gdf, classes, stock, a = zone_grid
    got = _zone_sums(grid, gdf, np.ones_like(classes), {"stock": stock})
    got = got.groupby("zone_id")[["area_ha", "stock"]].sum()
    # A: 1 x 1 + 2 x 0.5 + 5 x 1 + 6 x 0.5 = 10 cells' worth; area 3 cells
    # B: 2 x 0.5 + 3 + 4 = 8; area 2.5.  C: 7 x 0.25 = 1.75; area 0.25 (the NaN cell not counted)
    assert got.loc["A", "stock"] == pytest.approx(10 * a, rel=1e-12)
    assert got.loc["A", "area_ha"] == pytest.approx(3 * a, rel=1e-12)
    assert got.loc["B", "stock"] == pytest.approx(8 * a, rel=1e-12)
    assert got.loc["B", "area_ha"] == pytest.approx(2.5 * a, rel=1e-12)
    assert got.loc["C", "stock"] == pytest.approx(1.75 * a, rel=1e-12)
    assert got.loc["C", "area_ha"] == pytest.approx(0.25 * a, rel=1e-12)
    assert got.loc["aoi", "stock"] == pytest.approx(28 * a, rel=1e-12)  # every valid cell, whole
    assert a == pytest.approx(0.01, rel=1e-3)  # a true 10 m cell near Baoting


def test_zone_totals_per_class_by_hand(zone_grid):
    grid, gdf, classes, stock, a = zone_grid
    out = _zone_sums(grid, gdf, classes, {"stock": stock}).set_index(["zone_id", "class_code"])
    # A, class 10: (0,0) 1 x 1, (0,1) 2 x 0.5, (1,0) 5 x 1 -> 7, area 2.5; class 40: (1,1) 6 x 0.5
    assert out.loc[("A", 10), "stock"] == pytest.approx(7 * a, rel=1e-12)
    assert out.loc[("A", 10), "area_ha"] == pytest.approx(2.5 * a, rel=1e-12)
    assert out.loc[("A", 40), "stock"] == pytest.approx(3 * a, rel=1e-12)
    assert out.loc[("B", 10), "stock"] == pytest.approx(1 * a, rel=1e-12)
    assert out.loc[("B", 40), "stock"] == pytest.approx(7 * a, rel=1e-12)
    zones = sorted(k for k in out.index.tolist() if k[0] != "aoi")
    assert zones == [("A", 10), ("A", 40), ("B", 10), ("B", 40), ("C", 40)]


def test_zone_totals_match_exactextract_weighted_sum_across_tiles(tmp_path):
    """Tile by tile (chunk 16, polygons crossing tile edges) equals exactextract's own
    weighted_sum over the whole raster with the true cell areas as weights."""
    from exactextract import exact_extract

    n = 40
    rng = np.random.default_rng(2)
    values = rng.uniform(0, 300, (n, n))
    kw = {"res": RES, "left": UTM_LEFT, "top": UTM_TOP}
    path = write_tif(tmp_path / "v.tif", values, nodata=float("nan"), **kw)
    whole = _grid(n, 2048)
    area = write_tif(tmp_path / "area.tif", whole.cell_area_ha(next(whole.tiles()).window), **kw)
    gdf = read_zones(
        gpd.GeoDataFrame(
            geometry=[
                shapely.Point(UTM_LEFT + 170, UTM_TOP - 190).buffer(120),
                shapely.box(UTM_LEFT + 3, UTM_TOP - 397, UTM_LEFT + 161.5, UTM_TOP - 250.25),
            ],
            crs="EPSG:32649",
        ),
        "EPSG:32649",
    )
    ours = _zone_sums(_grid(n, 16), gdf, np.ones((n, n), np.uint8), {"v": values})
    ours = ours[ours["zone_id"] != "aoi"].groupby("zone_id")["v"].sum()
    ref = exact_extract(str(path), gdf, ["weighted_sum"], weights=str(area), output="pandas")
    np.testing.assert_allclose(ours.loc[["1", "2"]], ref["weighted_sum"], rtol=1e-9)


def test_zone_coverage_over_a_tile():
    grid = _grid(4, 16)
    zones = read_zones(
        gpd.GeoDataFrame(
            {"id": [7]},
            geometry=[shapely.box(UTM_LEFT + 5, UTM_TOP - 40, UTM_LEFT + 10, UTM_TOP)],
            crs="EPSG:32649",
        ),
        grid.crs,
        id_field="id",
    )
    (tile,) = grid.tiles()
    cov = zone_coverage(zones, grid, tile)
    assert cov.cell.tolist() == [0, 4, 8, 12] and cov.fraction.tolist() == [0.5] * 4
    member = membership(np.ones((4, 4), bool), np.ones((4, 4)), cov)
    sums = group_sums(member, {"c": np.full((4, 4), 10)}, {"v": np.arange(16.0).reshape(4, 4)})
    zone1 = sums[sums["zone"] == 1].iloc[0]
    assert zone1["area_ha"] == 2.0 and zone1["v"] == (0 + 4 + 8 + 12) * 0.5


def test_read_zones_errors(tmp_path):
    lines = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:32649")
    with pytest.raises(InputDataError, match="polygons"):
        read_zones(lines, "EPSG:32649")
    with pytest.raises(InputDataError, match="does not exist"):
        read_zones(tmp_path / "none.gpkg", "EPSG:32649")
    poly = gpd.GeoDataFrame(
        {"n": ["a", "a"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs="EPSG:32649"
    )
    with pytest.raises(InputDataError, match="repeat"):
        read_zones(poly, "EPSG:32649", id_field="n")
    aoi_named = gpd.GeoDataFrame(
        {"n": ["aoi"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:32649"
    )
    with pytest.raises(InputDataError, match="reserved"):
        Zones(_grid(4, 16), "x", read_zones(aoi_named, "EPSG:32649", id_field="n"))


def test_zone_cover_gives_exactextracts_coverage_back(tmp_path):
    """The run's zone cover (one file for every tile) holds each tile's coverage: the same zones,
    cells and fractions in the same order as exactextract's, with cells covered whole, cells cut
    by an edge, cells covered whole by two overlapping zones and a tile no zone reaches; a file
    made for other zones or another grid is not used."""
    grid = _grid(40, 16)  # 40 x 40 cells of 10 m, tiles of 16
    L, T = UTM_LEFT, UTM_TOP
    gdf = read_zones(
        gpd.GeoDataFrame(
            {"id": ["a", "b", "c"]},
            geometry=[
                shapely.box(L, T - 200, L + 155, T),  # 20 x 15.5 cells: column 15 cut in half
                shapely.box(L + 100, T - 100, L + 200, T),  # overlaps a: rows 0-9, columns 10-14
                shapely.Point(L + 170, T - 190).buffer(60),  # cut cells all round
            ],
            crs="EPSG:32649",
        ),
        "EPSG:32649",
        id_field="id",
    )
    path = ZoneCover.write(gdf, grid, tmp_path / "cover.npz", zones_key(gdf, grid))
    # the same bytes each time: no clock in the file (np.savez stamps its entries with the time)
    with zipfile.ZipFile(path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    again = ZoneCover.write(gdf, grid, tmp_path / "again.npz", zones_key(gdf, grid))
    assert path.read_bytes() == again.read_bytes()
    cover = ZoneCover.open(path, zones_key(gdf, grid))
    assert cover is not None
    cover = pickle.loads(pickle.dumps(cover))  # as a Dask worker process gets it
    tiles = list(grid.tiles())
    assert len(tiles) == 9
    for tile in tiles:
        want, got = zone_coverage(gdf, grid, tile), cover.coverage(tile)
        for name in ("zone", "cell", "fraction"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (tile.id, name)
    first = cover.coverage(tiles[0])  # rows 0-15, columns 0-15 of the grid
    # cell (0, 12) of the tile: whole in a and in b; (0, 15): half in a, whole in b
    for cell, zones, fractions in ((12, [0, 1], [1.0, 1.0]), (15, [0, 1], [0.5, 1.0])):
        at = first.cell == cell
        assert first.zone[at].tolist() == zones and first.fraction[at].tolist() == fractions
    assert (first.zone == 0).sum() == 16 * 16  # a covers the tile's 16 x 15.5 cells: 256 entries
    assert cover.coverage(tiles[-1]).cell.size == 0  # rows and columns 32-39: no zone
    # another grid or other zones: not this file
    assert ZoneCover.open(path, zones_key(gdf, _grid(40, 32))) is None
    assert ZoneCover.open(path, zones_key(gdf.iloc[:2], grid)) is None
    assert ZoneCover.open(tmp_path / "none.npz", zones_key(gdf, grid)) is None


def test_zone_cover_refuses_more_zones_than_it_numbers(tmp_path):
    """Each zone's number + 1 is a uint16 in the cover: 65,535 zones are refused before any
    work, with the fix."""
    boxes = shapely.box(np.arange(65535.0), 0.0, np.arange(65535.0) + 1, 1.0)
    gdf = gpd.GeoDataFrame({"zone_id": np.arange(65535).astype(str)}, geometry=boxes)
    with pytest.raises(InputDataError, match=r"65,535 zones.*65,534.*aois:"):
        ZoneCover.write(gdf, _grid(4, 16), tmp_path / "cover.npz", "key")
    assert not (tmp_path / "cover.npz").exists()
