"""sinkmap.account: change matrix, gain-loss, Monte Carlo, zones — on landscapes computed by hand."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from sinkmap.account import (
    GrowthRates,
    Parameter,
    change_matrix_table,
    combine_sums,
    draw_parameters,
    gain_loss,
    ipcc_category_matrix,
    model_draw_fn,
    monte_carlo_tile,
    monte_carlo_totals,
    pixel_noise,
    read_zones,
    summarize_draws,
    table_parameters,
    transition_sums,
    zonal_sums,
    zonal_totals,
    zone_coverage,
)
from sinkmap.carbon import class_sums, co2e_flux, lookup_pools, stock_difference
from sinkmap.constants import CO2_PER_C
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid
from sinkmap.models.biomass import BiomassModel, BiomassParams
from sinkmap.models.lookup import LookupModel, LookupParams

from ._helpers import POOL_CSV, ROOT, UTM_LEFT, UTM_TOP, write_tif

GROWTH_CSV = ROOT / "config" / "growth_rates.csv"

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
def test_transition_matrix_by_hand():
    sums = transition_sums(C1, C2, AREA, S1, S2)
    area = sums["area_ha"]
    assert area.shape == (256, 256)
    # 10->10: cells (0,0) 1 ha, (0,1) 2 ha, (1,0) 4 ha; 10->40: (0,2) 3 ha; 40->10: (1,1) 5 ha;
    # 40->40: (1,2) 6 ha + (2,0) 7 ha; 80->80: (2,1) 8 ha; (2,2) 9 ha is nodata at t1.
    expected_area = {(10, 10): 7.0, (10, 40): 3.0, (40, 10): 5.0, (40, 40): 13.0, (80, 80): 8.0}
    nonzero = {(int(f), int(t)): float(area[f, t]) for f, t in zip(*np.nonzero(area), strict=True)}
    assert nonzero == expected_area
    change = sums["stock_change_mgc"]
    assert change[10, 40] == pytest.approx((CROP - TREE) * 3.0)  # -579.0 Mg C
    assert change[40, 10] == pytest.approx((TREE - CROP) * 5.0)  # +965.0 Mg C
    assert change[10, 10] == 0.0 and change[40, 40] == 0.0 and change[80, 80] == 0.0
    assert sums["stock_t1_mgc"][10, 10] == pytest.approx(TREE * 7.0)
    assert sums["stock_t2_mgc"][40, 10] == pytest.approx(TREE * 5.0)


def test_transition_sums_add_over_tiles():
    whole = transition_sums(C1, C2, AREA, S1, S2)
    top = transition_sums(C1[:2], C2[:2], AREA[:2], S1[:2], S2[:2])
    bottom = transition_sums(C1[2:], C2[2:], AREA[2:], S1[2:], S2[2:])
    combined = combine_sums([top, bottom])
    for k in whole:
        np.testing.assert_allclose(combined[k], whole[k], rtol=1e-15)


def test_transition_sums_rejects_mismatched_shapes_and_big_codes():
    with pytest.raises(InputDataError, match="same shape"):
        transition_sums(C1, C2[:2], AREA, S1, S2)
    with pytest.raises(InputDataError, match="outside 0..15"):
        transition_sums(C1, C2, AREA, S1, S2, nbins=16)


def test_change_matrix_table_by_hand():
    table = change_matrix_table(transition_sums(C1, C2, AREA, S1, S2), "worldcover", 2020, 2022)
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
    m = ipcc_category_matrix(transition_sums(C1, C2, AREA, S1, S2), "worldcover", 2020, 2022)
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
    sums = transition_sums(
        np.array([[10, 33]]),
        np.array([[10, 33]]),
        np.ones((1, 2)),
        np.ones((1, 2)),
        np.ones((1, 2)),
    )
    with pytest.raises(InputDataError, match=r"\[33\]"):
        ipcc_category_matrix(sums, "worldcover", 2020, 2021)


# == gain-loss ====================================================================================
RATES = GrowthRates.from_frame(
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
    a = class_sums(classes, area, {"net": gl.net_co2e})["net"][10]
    b = class_sums(classes, area, {"net": co2e_flux(sd)})["net"][10]
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


def _loader(grid: Grid, arrays: dict[str, np.ndarray]):
    def load(tile):
        out = {k: v[tile.slices] for k, v in arrays.items()}
        out["area_ha"] = grid.cell_area_ha(tile.window)
        return out

    return load


@pytest.fixture(scope="module")
def lookup_model():
    return LookupModel(LookupParams(table=POOL_CSV))


@pytest.fixture(scope="module")
def biomass_model():
    return BiomassModel(BiomassParams(soil_table=POOL_CSV, root_shoot=0.37))


def test_zero_error_monte_carlo_equals_deterministic_lookup(lookup_model, pool_table):
    grid = _grid(40, 16)  # 3 x 3 tiles, the last ones partial
    classes, _ = _landscape()
    load = _loader(grid, {"land_cover": classes})
    tiles = list(grid.tiles())
    expected = combine_sums(
        [
            class_sums(d["land_cover"], d["area_ha"], lookup_pools(d["land_cover"], pool_table))
            for d in (load(t) for t in tiles)
        ]
    )
    totals = monte_carlo_totals(
        model_draw_fn(lookup_model),
        4,
        seed=1,
        tiles=tiles,
        load=load,
        parameters=table_parameters(pool_table, 0.0),
    )
    for pool in ("area_ha", "above", "below", "dead", "soil"):
        assert totals[pool].shape == (4, 256)
        for d in range(4):
            np.testing.assert_array_equal(totals[pool][d], expected[pool])  # exactly


def test_zero_error_monte_carlo_equals_deterministic_biomass(biomass_model):
    grid = _grid(40, 16)
    classes, agb = _landscape()
    load = _loader(grid, {"land_cover": classes, "biomass": agb, "biomass_sd": np.zeros_like(agb)})
    tiles = list(grid.tiles())
    expected = combine_sums(
        [
            class_sums(d["land_cover"], d["area_ha"], biomass_model.pools(d))
            for d in (load(t) for t in tiles)
        ]
    )
    params = {"carbon_fraction": Parameter(0.47, 0.0), "root_shoot": Parameter(0.37, 0.0)}
    fn = model_draw_fn(biomass_model, input_errors={"biomass": "biomass_sd"})
    totals = monte_carlo_totals(fn, 3, seed=9, tiles=tiles, load=load, parameters=params)
    for pool in ("above", "below", "dead", "soil"):
        for d in range(3):
            np.testing.assert_array_equal(totals[pool][d], expected[pool])


def test_monte_carlo_does_not_depend_on_chunking_or_scheduler(biomass_model):
    classes, agb = _landscape()
    sd = np.full_like(agb, 30.0)
    params = {"carbon_fraction": Parameter(0.47, 0.03, upper=1.0)}
    fn = model_draw_fn(biomass_model, input_errors={"biomass": "biomass_sd"})
    results = []
    for chunk, scheduler in [(16, "threads"), (16, "sync"), (32, "threads"), (64, "sync")]:
        grid = _grid(40, chunk)
        load = _loader(grid, {"land_cover": classes, "biomass": agb, "biomass_sd": sd})
        results.append(
            monte_carlo_totals(
                fn,
                5,
                3,
                tiles=list(grid.tiles()),
                load=load,
                parameters=params,
                scheduler=scheduler,
            )["total"]
        )
    np.testing.assert_array_equal(results[0], results[1])  # same tiles: bit for bit
    for other in results[2:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12)  # only summation order differs
    assert np.ptp(results[0].sum(axis=1)) > 0  # the draws do differ


def test_monte_carlo_seed_reproducible(biomass_model):
    classes, agb = _landscape(20)
    grid = _grid(20, 64)
    load = _loader(grid, {"land_cover": classes, "biomass": agb, "biomass_sd": agb * 0.2})
    fn = model_draw_fn(biomass_model, input_errors={"biomass": "biomass_sd"})
    run = [
        monte_carlo_totals(fn, 3, s, tiles=list(grid.tiles()), load=load)["total"]
        for s in (4, 4, 5)
    ]
    np.testing.assert_array_equal(run[0], run[1])
    assert not np.array_equal(run[0], run[2])


def test_independent_pixel_errors_average_out_correlated_parameters_do_not(biomass_model):
    """40 x 40 forest pixels, AGB 200 ± 50 Mg/ha each, independent: the SD of the above-ground
    total is sqrt(Σ (50 × CF × a_i)²) ≈ sqrt(N) × 50 × 0.47 × a — not N × 50 × 0.47 × a."""
    n = 40
    grid = _grid(n, 64)
    classes = np.full((n, n), 10, np.uint8)
    agb = np.full((n, n), 200.0, "float32")
    sd = np.full((n, n), 50.0, "float32")
    load = _loader(grid, {"land_cover": classes, "biomass": agb, "biomass_sd": sd})
    area = grid.cell_area_ha(grid.tiles().__next__().window)
    fn = model_draw_fn(biomass_model, input_errors={"biomass": "biomass_sd"})
    draws = 1000
    totals = monte_carlo_totals(
        fn, draws, 21, tiles=list(grid.tiles()), load=load, scheduler="sync"
    )
    above = totals["above"][:, 10]
    by_hand = math.sqrt(float(np.sum((50.0 * 0.47 * area) ** 2)))  # ≈ 40 × 50 × 0.47 × 0.0100 ha
    assert by_hand == pytest.approx(40 * 50 * 0.47 * 0.01, rel=1e-3)
    s = summarize_draws(above)
    assert s.sd == pytest.approx(by_hand, rel=0.08)  # SE of an SD from 1000 draws ≈ 2.2 %
    assert s.mean == pytest.approx(float(np.sum(200.0 * 0.47 * area)), rel=1e-3)
    # A carbon fraction with 5 % SD, drawn once per draw for every pixel, is fully correlated:
    # the SD of the total is 5 % of the total, N times one pixel's, not sqrt(N) times.
    load0 = _loader(grid, {"land_cover": classes, "biomass": agb, "biomass_sd": sd * 0})
    totals = monte_carlo_totals(
        fn,
        draws,
        21,
        tiles=list(grid.tiles()),
        load=load0,
        parameters={"carbon_fraction": Parameter(0.47, 0.05)},
        scheduler="sync",
    )
    total = float(np.sum(200.0 * 0.47 * area))
    assert summarize_draws(totals["above"][:, 10]).sd == pytest.approx(0.05 * total, rel=0.08)


def test_interval_estimate_converges_as_draws_grow():
    """The 90 % interval of the total does not shrink with more draws, but its Monte Carlo
    estimate stabilises: the spread of p05/p95 and of the mean across seeds falls ~ 1/sqrt(n)."""
    grid = _grid(4, 16)
    tiles = list(grid.tiles())
    load = _loader(grid, {"v": np.ones((4, 4))})

    def fn(data, params, noise):
        return {"x": np.array([params["k"] * data["v"].sum()])}

    sigma = 16 * 1.0  # k ~ N(10, 1): the total 16 k has SD 16
    est: dict[int, list[tuple[float, float, float]]] = {50: [], 1600: []}
    for n in est:
        for seed in range(30):
            x = monte_carlo_totals(
                fn,
                n,
                seed,
                tiles=tiles,
                load=load,
                parameters={"k": Parameter(10.0, 0.1)},
                scheduler="sync",
            )["x"][:, 0]
            s = summarize_draws(x)
            est[n].append((float(s.mean), float(s.p05), float(s.p95)))
    small, large = np.array(est[50]), np.array(est[1600])
    width_true = 2 * 1.6449 * sigma
    assert np.mean(large[:, 2] - large[:, 1]) == pytest.approx(width_true, rel=0.03)
    assert np.mean(small[:, 2] - small[:, 1]) == pytest.approx(width_true, rel=0.2)  # no shrinking
    for col in (1, 2):  # p05, p95: spread across seeds ~ 1/sqrt(n), sqrt(32) ≈ 5.7 times smaller
        assert large[:, col].std() < small[:, col].std() / 3
    assert large[:, 0].std() == pytest.approx(sigma / math.sqrt(1600), rel=0.35)
    assert small[:, 0].std() == pytest.approx(sigma / math.sqrt(50), rel=0.35)


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


def test_model_draw_fn_zones_add_up_to_classes(lookup_model, pool_table):
    grid = _grid(20, 64)
    classes, _ = _landscape(20)
    zone = np.where(np.arange(20)[None, :] < 7, 0, 1) * np.ones((20, 1), int)
    zone[0, 0] = -1  # outside every zone
    load = _loader(grid, {"land_cover": classes, "zone": zone})
    (tile,) = grid.tiles()
    data = load(tile)
    by_zone = model_draw_fn(lookup_model, zones="zone", n_zones=2)(data, {}, None)
    plain = model_draw_fn(lookup_model)(
        {**data, "land_cover": np.where(zone >= 0, classes, 0)}, {}, None
    )
    np.testing.assert_allclose(by_zone["total"].reshape(2, 256).sum(axis=0), plain["total"])
    with pytest.raises(InputDataError, match="neither"):
        model_draw_fn(lookup_model)(data, {"nope": np.array(1.0)}, None)


def test_summarize_draws_known_values():
    s = summarize_draws(np.arange(101.0))
    assert (s.mean, s.p05, s.p95) == (50.0, 5.0, 95.0)
    assert s.sd == pytest.approx(np.arange(101.0).std(ddof=1))
    assert summarize_draws(np.array([3.0])).sd == 0.0


# == zones (exactextract) =========================================================================
RES = 10.0


@pytest.fixture()
def zone_rasters(tmp_path):
    stock = np.array([[1, 2, 3, 4], [5, 6, 7, np.nan]], dtype="float32")
    classes = np.array([[10, 10, 40, 40], [10, 40, 40, 40]], dtype=np.uint8)
    kw = {"res": RES, "left": UTM_LEFT, "top": UTM_TOP}
    s = write_tif(tmp_path / "stock.tif", stock, nodata=float("nan"), **kw)
    c = write_tif(tmp_path / "classes.tif", classes, nodata=0, **kw)
    L, T = UTM_LEFT, UTM_TOP
    zones = gpd.GeoDataFrame(
        {"name": ["A", "B", "C"]},
        geometry=[
            shapely.box(L, T - 20, L + 15, T),  # column 0 whole, column 1 half, both rows
            shapely.box(L + 15, T - 10, L + 40, T),  # row 0: column 1 half, columns 2 and 3
            shapely.box(L + 25, T - 20, L + 40, T - 15),  # row 1: (1,2) a quarter, (1,3) NaN
        ],
        crs="EPSG:32649",
    )
    path = tmp_path / "zones.gpkg"
    zones.to_file(path, layer="townships", driver="GPKG")
    a = float(_grid(4, 16).cell_area_ha(_grid(4, 16).tiles().__next__().window)[0, 0])
    return s, c, path, a


def test_zonal_totals_exact_fractions_by_hand(zone_rasters):
    stock, _, zones, a = zone_rasters
    out = zonal_totals({"stock": stock}, zones, layer="townships", id_field="name")
    got = out.set_index("zone_id")
    # A: 1 x 1 + 2 x 0.5 + 5 x 1 + 6 x 0.5 = 10 cells' worth; area 3 cells
    # B: 2 x 0.5 + 3 + 4 = 8; area 2.5.  C: 7 x 0.25 = 1.75; area 0.25 (the NaN cell not counted)
    assert got.loc["A", "stock_total"] == pytest.approx(10 * a, rel=1e-12)
    assert got.loc["A", "area_ha"] == pytest.approx(3 * a, rel=1e-12)
    assert got.loc["B", "stock_total"] == pytest.approx(8 * a, rel=1e-12)
    assert got.loc["B", "area_ha"] == pytest.approx(2.5 * a, rel=1e-12)
    assert got.loc["C", "stock_total"] == pytest.approx(1.75 * a, rel=1e-12)
    assert got.loc["C", "area_ha"] == pytest.approx(0.25 * a, rel=1e-12)
    assert a == pytest.approx(0.01, rel=1e-3)  # a true 10 m cell near Baoting


def test_zonal_totals_per_class_by_hand(zone_rasters):
    stock, classes, zones, a = zone_rasters
    out = zonal_totals(
        {"stock": stock}, zones, classes=classes, id_field="name", legend="worldcover"
    ).set_index(["zone_id", "class_code"])
    # A, class 10: (0,0) 1 x 1, (0,1) 2 x 0.5, (1,0) 5 x 1 -> 7, area 2.5; class 40: (1,1) 6 x 0.5
    assert out.loc[("A", 10), "stock_total"] == pytest.approx(7 * a, rel=1e-12)
    assert out.loc[("A", 10), "area_ha"] == pytest.approx(2.5 * a, rel=1e-12)
    assert out.loc[("A", 40), "stock_total"] == pytest.approx(3 * a, rel=1e-12)
    assert out.loc[("A", 40), "class_name"] == "Cropland"
    assert out.loc[("B", 10), "stock_total"] == pytest.approx(1 * a, rel=1e-12)
    assert out.loc[("B", 40), "stock_total"] == pytest.approx(7 * a, rel=1e-12)
    assert sorted(out.index.tolist()) == [("A", 10), ("A", 40), ("B", 10), ("B", 40), ("C", 40)]


def test_zonal_totals_match_exactextract_weighted_sum_across_tiles(tmp_path):
    """Tile by tile (chunk 16, polygons crossing tile edges) equals exactextract's own
    weighted_sum over the whole raster with the true cell areas as weights."""
    from exactextract import exact_extract

    n = 40
    rng = np.random.default_rng(2)
    values = rng.uniform(0, 300, (n, n)).astype("float32")
    kw = {"res": RES, "left": UTM_LEFT, "top": UTM_TOP}
    path = write_tif(tmp_path / "v.tif", values, nodata=float("nan"), **kw)
    grid = _grid(n, 2048)
    (tile,) = grid.tiles()
    area = write_tif(tmp_path / "area.tif", grid.cell_area_ha(tile.window), **kw)
    zones = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(UTM_LEFT + 170, UTM_TOP - 190).buffer(120),
            shapely.box(UTM_LEFT + 3, UTM_TOP - 397, UTM_LEFT + 161.5, UTM_TOP - 250.25),
        ],
        crs="EPSG:32649",
    )
    ours = zonal_totals({"v": path}, zones, chunk=16)
    ref = exact_extract(
        str(path), zones, ["weighted_sum", "sum"], weights=str(area), output="pandas"
    )
    np.testing.assert_allclose(ours["v_total"], ref["weighted_sum"], rtol=1e-9)
    assert ours["zone_id"].tolist() == ["1", "2"]


def test_zone_coverage_and_zonal_sums_over_a_tile():
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
    sums = zonal_sums(
        cov, 1, np.full((4, 4), 10), np.ones((4, 4)), {"v": np.arange(16.0).reshape(4, 4)}
    )
    assert sums["area_ha"][0, 10] == 2.0 and sums["v"][0, 10] == (0 + 4 + 8 + 12) * 0.5


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
