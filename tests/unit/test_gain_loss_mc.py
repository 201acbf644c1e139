"""The gain-loss Monte Carlo over strata (models without a carbon state).

Expected values by hand from IPCC 2006 Vol. 4 Eq. 2.4, 2.9, 2.10: ΔC_G = G_W × (1 + R) × CF per
hectare of growing land, losses = max(C_t1 − C_t2, 0) on a change of class or the t1 biomass on a
disturbed cell, spread over the interval, × 44/12 with emissions positive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sinkmap.account.gain_loss import (
    decode_strata,
    gain_loss,
    gain_loss_draws,
    gain_loss_parameters,
    gain_loss_strata,
)
from sinkmap.account.montecarlo import draw_parameters, parameter
from sinkmap.config import ParameterSpec
from sinkmap.errors import InputDataError
from sinkmap.tables import GrowthRates

CO2 = 44 / 12
RATES = GrowthRates.from_columns(
    pd.DataFrame(
        {
            "lucode": [10, 10],
            "state_code": [0, 2],
            "rate": [0.7, 3.4],
            "unit": ["t_dm_ha_yr", "t_dm_ha_yr"],
        }
    ),
    name="test rates",
)
#: Stocks per class (Mg C/ha): total and biomass (above + below + dead), a lookup model's.
TOTAL = {10: 200.0, 40: 60.0, 50: 20.0}
BIOMASS = {10: 150.0, 40: 5.0, 50: 0.0}


def _landscape() -> dict[str, np.ndarray]:
    """Ten cells of 0.01 ha over 2020-2022: 4 forest remaining forest, 2 forest to cropland,
    1 cropland to forest, 1 forest with a loss in 2021 (GFC code 21), 2 cropland remaining."""
    c0 = np.array([10, 10, 10, 10, 10, 10, 40, 10, 40, 40])
    c1 = np.array([10, 10, 10, 10, 40, 40, 10, 10, 40, 40])
    loss = np.array([0, 0, 0, 0, 0, 0, 0, 21, 0, 0])
    return {"c0": c0, "c1": c1, "loss": loss}


def _codes(land: dict[str, np.ndarray]) -> np.ndarray:
    valid = np.ones(land["c0"].size, bool)
    return gain_loss_strata(
        land["c0"], land["c1"], None, land["loss"], valid, years=(2020, 2022), n_states=3
    )


def _stratum_totals(codes: np.ndarray, strata: list[int], per_ha: np.ndarray) -> np.ndarray:
    return np.array([float(np.sum(per_ha[codes == h]) * 0.01) for h in strata])


def test_strata_codes_round_trip_and_split_what_the_method_treats_differently() -> None:
    land = _landscape()
    codes = _codes(land)
    fields = decode_strata(codes, 3)
    assert fields["class_t1"].tolist() == land["c0"].tolist()
    assert fields["class_t2"].tolist() == land["c1"].tolist()
    assert fields["disturbed"].tolist() == [False] * 7 + [True] + [False] * 2
    assert len(np.unique(codes)) == 5  # 10-10, 10-40, 40-10, 10-10 disturbed, 40-40
    # a loss outside (2020, 2022] does not disturb; invalid cells get no stratum
    outside = gain_loss_strata(
        land["c0"],
        land["c1"],
        None,
        np.where(land["loss"] > 0, 20, 0),
        np.arange(10) != 0,
        years=(2020, 2022),
        n_states=3,
    )
    assert outside[0] == 0 and not decode_strata(outside[1:], 3)["disturbed"].any()


def test_codes_above_a_byte_are_refused_with_the_fix() -> None:
    with pytest.raises(InputDataError, match="reclassify the land cover to byte codes"):
        gain_loss_strata(
            np.array([300]), np.array([10]), None, None, np.ones(1, bool), years=(1, 2), n_states=1
        )


def test_draws_at_the_values_give_the_hand_computed_totals() -> None:
    land = _landscape()
    codes = _codes(land)
    strata = sorted(set(codes.tolist()))
    area = np.array([np.sum(codes == h) * 0.01 for h in strata])
    s0 = np.array([TOTAL[c] for c in land["c0"]])
    s1 = np.array([TOTAL[c] for c in land["c1"]])
    b0 = np.array([BIOMASS[c] for c in land["c0"]])
    t0 = _stratum_totals(codes, strata, s0)[None, :]
    t1 = _stratum_totals(codes, strata, s1)[None, :]
    bio = _stratum_totals(codes, strata, b0)[None, :]
    out = gain_loss_draws(
        decode_strata(strata, 3),
        area,
        t0,
        t1,
        bio,
        RATES,
        np.ones((1, 2)),
        np.array([0.37]),
        np.array([0.47]),
        (2020, 2022),
    )
    # gains: 4 cells x 0.01 ha x 0.7 x 1.37 x 0.47 = 0.0180292 Mg C/yr
    # losses: (2 x 0.01 x (200 - 60) + 0.01 x 150) / 2 years = 2.15 Mg C/yr
    gains, losses = 4 * 0.01 * 0.7 * 1.37 * 0.47, (2 * 0.01 * 140 + 0.01 * 150) / 2
    assert out.removals[0] == pytest.approx(-gains * CO2, rel=1e-12)
    assert out.emissions[0] == pytest.approx(losses * CO2, rel=1e-12)
    assert out.net[0] == pytest.approx((losses - gains) * CO2, rel=1e-12)
    assert out.net[0] == pytest.approx(7.8172263, rel=1e-7)
    # and the per-cell method agrees (Mg CO2e/ha/yr x 0.01 ha)
    cells = gain_loss(
        land["c0"],
        land["c1"],
        None,
        RATES,
        0.37,
        0.47,
        (2020, 2022),
        land["loss"],
        stock_t1=s0,
        stock_t2=s1,
        biomass_t1=b0,
    )
    assert float(np.sum(cells.net_co2e.astype("float64")) * 0.01) == pytest.approx(
        out.net[0], rel=1e-6
    )


def test_losses_follow_the_stock_draws() -> None:
    """Forest to cropland: draw 0 loses 5 - 1 = 4 Mg C, draw 1 gains stock (no loss); a disturbed
    forest stratum loses its biomass, or the transition if larger (there is none: same class)."""
    strata = pd.DataFrame(
        {"class_t1": [10, 10], "class_t2": [40, 10], "state": [0, 0], "disturbed": [False, True]}
    )
    out = gain_loss_draws(
        strata,
        np.array([0.02, 0.01]),
        np.array([[5.0, 2.0], [3.0, 2.0]]),
        np.array([[1.0, 0.5], [4.0, 0.5]]),
        np.array([[0.2, 1.5], [0.2, 1.2]]),
        RATES,
        np.ones((2, 2)),
        np.full(2, 0.37),
        np.full(2, 0.47),
        (2020, 2021),
    )
    assert out.emissions.tolist() == pytest.approx([(4.0 + 1.5) * CO2, (0.0 + 1.2) * CO2])
    assert out.removals.tolist() == [0.0, 0.0]  # nothing grows: converted or disturbed


def test_growth_parameters_give_the_closed_form_sd() -> None:
    """100 ha of forest remaining forest, G_W lognormal 30 %, R normal 20 %, CF fixed: removals
    = −A × G_W × f × (1 + R × r) × CF × 44/12 with f, r independent of mean 1, so
    Var = (A G CF 44/12)² (E[f²] E[(1 + R r)²] − (1 + R)²)."""
    draws = 40_000
    specs = {
        "gain_loss.growth_rates": parameter(
            "g", RATES.rates, ParameterSpec(distribution="lognormal", rel_sd=0.3)
        ),
        "gain_loss.root_shoot": parameter("r", 0.37, 0.2),
    }
    drawn = draw_parameters(specs, draws, seed=7)
    strata = pd.DataFrame({"class_t1": [10], "class_t2": [10], "state": [0], "disturbed": [False]})
    zero = np.zeros((draws, 1))
    out = gain_loss_draws(
        strata,
        np.array([100.0]),
        zero,
        zero,
        zero,
        RATES,
        drawn["gain_loss.growth_rates"] / RATES.rates,
        drawn["gain_loss.root_shoot"],
        np.full(draws, 0.47),
        (2020, 2021),
    )
    scale = 100 * 0.7 * 0.47 * CO2
    e_f2 = 1 + 0.3**2
    e_y2 = 1.37**2 + (0.37 * 0.2) ** 2
    sd = scale * np.sqrt(e_f2 * e_y2 - 1.37**2)
    assert np.std(out.removals) == pytest.approx(sd, rel=0.02)
    assert np.mean(out.removals) == pytest.approx(-scale * 1.37, rel=0.01)


# == coverage of the gain-loss 95 % interval ======================================================
# Forest (class 10, state 0) remaining forest 600 ha, forest to cropland 40 ha, forest disturbed
# 15 ha, over 2020-2025 (5 years). Biomass stocks B (Mg C/ha): forest 150, cropland 5; growth
# 0.7 t d.m./ha/yr (RATES' row 0), R 0.37, CF 0.47.
GL_AREA = {"remain": 600.0, "convert": 40.0, "disturbed": 15.0}
GL_YEARS, GL_FOREST, GL_CROP = 5, 150.0, 5.0
GL_REPS, GL_DRAWS = 400, 400
GL_CV = {"growth_rates": 0.3, "root_shoot": 0.2, "carbon_fraction": 0.05, "stock": 0.25}


def test_gain_loss_interval_covers_the_truth_95_percent() -> None:
    """Coverage of the gain-loss Monte Carlo's 95 % interval, R = 400 repetitions.

    The truth of each repetition: growth-rate factor f ~ lognormal (30 %), R × (1 + 0.2 z),
    CF × (1 + 0.05 z), forest biomass stock × g with g ~ lognormal (25 %), cropland as tabled;
    net by hand (IPCC 2006 Eq. 2.9, 2.10 and the losses of the map):
    gains = 600 × 0.7 f × (1 + R) × CF; losses = (40 × (150 g − 5) + 15 × 150 g) / 5;
    net = (losses − gains) × 44/12. The Monte Carlo draws the same distributions through
    gain_loss_parameters and draw_parameters (400 draws, its own seed) and gain_loss_draws; its
    [2.5 %, 97.5 %] quantiles should hold the truth in 95 % of the repetitions, asserted within
    0.95 ± 3√(0.95 × 0.05 / 400) = ± 0.033 (3 binomial SE; empirical quantiles of 400 draws hold
    a new draw with probability (389.025 − 9.975)/401 = 0.945, inside the band).
    """
    specs = {
        "growth_rates": ParameterSpec(distribution="lognormal", rel_sd=GL_CV["growth_rates"]),
        "root_shoot": GL_CV["root_shoot"],
        "carbon_fraction": GL_CV["carbon_fraction"],
    }
    strata = pd.DataFrame(
        {
            "class_t1": [10, 10, 10],
            "class_t2": [10, 40, 10],
            "state": [0, 0, 0],
            "disturbed": [False, False, True],
        }
    )
    area = np.array([GL_AREA["remain"], GL_AREA["convert"], GL_AREA["disturbed"]])
    stock_spec = ParameterSpec(distribution="lognormal", rel_sd=GL_CV["stock"])
    s2_rate = np.log(1 + GL_CV["growth_rates"] ** 2)
    s2_stock = np.log(1 + GL_CV["stock"] ** 2)
    truth_rng = np.random.default_rng(2024)
    inside = []
    for rep in range(GL_REPS):
        params = gain_loss_parameters(RATES, 0.37, 0.47, specs)
        params["stock.forest"] = parameter("stock.forest", GL_FOREST, stock_spec)
        drawn = draw_parameters(params, GL_DRAWS, seed=10_000 + rep)
        forest = drawn["stock.forest"]  # (draws,) Mg C/ha
        t1 = np.stack([forest * a for a in area], axis=1)  # every stratum starts as forest
        t2 = np.stack(
            [forest * area[0], np.full(GL_DRAWS, GL_CROP * area[1]), forest * area[2]], axis=1
        )
        mc = gain_loss_draws(
            strata,
            area,
            t1,
            t2,
            t1,  # biomass = the stock here (no soil)
            RATES,
            drawn["gain_loss.growth_rates"] / RATES.rates,
            drawn["gain_loss.root_shoot"],
            drawn["gain_loss.carbon_fraction"],
            (2020, 2020 + GL_YEARS),
        )
        f = np.exp(np.sqrt(s2_rate) * truth_rng.standard_normal() - s2_rate / 2)
        g = np.exp(np.sqrt(s2_stock) * truth_rng.standard_normal() - s2_stock / 2)
        r = 0.37 * (1 + GL_CV["root_shoot"] * truth_rng.standard_normal())
        cf = 0.47 * (1 + GL_CV["carbon_fraction"] * truth_rng.standard_normal())
        gains = 600 * 0.7 * f * (1 + r) * cf
        losses = (40 * (150 * g - 5) + 15 * 150 * g) / 5
        truth = (losses - gains) * CO2
        lo, hi = np.quantile(mc.net, [0.025, 0.975])
        inside.append(lo <= truth <= hi)
    band = 3 * np.sqrt(0.95 * 0.05 / GL_REPS)
    assert band == pytest.approx(0.033, abs=5e-4)
    coverage = float(np.mean(inside))
    assert abs(coverage - 0.95) <= band, f"coverage {coverage:.4f} over {GL_REPS} repetitions"


def _four_rows(class_30_state: int) -> GrowthRates:
    """Class 10: a state-0 row (0.7 t d.m./ha/yr) and a state-2 row (3.4); class 30: one row
    (1.3) for ``class_30_state``; class 40: 0.25 t C/ha/yr."""
    return GrowthRates.from_columns(
        pd.DataFrame(
            {
                "lucode": [10, 10, 30, 40],
                "state_code": [0, 2, class_30_state, 0],
                "rate": [0.7, 3.4, 1.3, 0.25],
                "unit": ["t_dm_ha_yr", "t_dm_ha_yr", "t_dm_ha_yr", "t_c_ha_yr"],
            }
        ),
        name="test rates",
    )


def test_gain_loss_draws_give_each_draws_gains_as_carbon_gain_does_bit_for_bit() -> None:
    """All draws at once give, with ==, what a loop over the draws gives: the table with the
    draw's rates (rate x factor), GrowthRates.carbon_gain of each stratum's class and state with
    the draw's R and CF, summed over the growing strata (a state-2 row over a state-0 default, a
    state-2 stratum of a class with only a state-0 row, a t C/ha/yr row, a class without a row, a
    disturbed and a converted stratum). This guards the vectorisation; what carbon_gain gives is
    checked by hand in test_carbon_gain_takes_the_states_row_else_the_class_default."""
    import dataclasses

    from sinkmap.account.gain_loss import growth
    from sinkmap.carbon import co2e

    rates = _four_rows(class_30_state=0)
    strata = pd.DataFrame(
        {
            "class_t1": [10, 10, 30, 30, 40, 50, 10, 40],
            "class_t2": [10, 10, 30, 30, 40, 50, 40, 10],
            "state": [0, 2, 2, 0, 0, 0, 0, 0],
            "disturbed": [False, False, False, False, False, False, False, True],
        }
    )
    rng = np.random.default_rng(5)
    draws, n = 50, len(strata)
    area = rng.uniform(1, 100, n)
    s1, s2, b1 = (rng.uniform(0, 1e4, (draws, n)) for _ in range(3))
    factor = rng.lognormal(0, 0.3, (draws, 4))
    r, cf = rng.uniform(0.2, 0.5, draws), rng.uniform(0.4, 0.5, draws)
    got = gain_loss_draws(strata, area, s1, s2, b1, rates, factor, r, cf, (2020, 2022))

    c1, c2 = strata["class_t1"].to_numpy(), strata["class_t2"].to_numpy()
    growing, grow_class = growth(c1, c2, strata["disturbed"].to_numpy(), False)
    for d in range(draws):
        drawn = dataclasses.replace(rates, rates=rates.rates * factor[d])
        per_ha = drawn.carbon_gain(
            grow_class, strata["state"].to_numpy(), root_shoot=r[d], carbon_fraction=cf[d]
        )
        gains = float(np.sum(np.where(growing, per_ha, 0.0) * area))
        assert got.removals[d] == co2e(gains), d  # -gains x 44/12, as gain_loss_draws reports
    assert (got.removals < 0).all()

    with pytest.raises(InputDataError, match="one factor per draw and growth-rate table row"):
        gain_loss_draws(strata, area, s1, s2, b1, rates, factor[:, :3], r, cf, (2020, 2022))


def test_carbon_gain_takes_the_states_row_else_the_class_default() -> None:
    """ΔC_G by hand (IPCC 2006 V4 Eq. 2.9, 2.10: G_W (1 + R) CF for t d.m. rows, the rate for
    t C rows), R 0.37, CF 0.47: class 10 has a state-0 row (0.7) and a state-2 row (3.4), class 30
    only a state-3 row (1.3), class 40 a t C/ha/yr row (0.25), class 50 none. A state without a
    row of its class takes the class's state-0 row, or gains 0 if there is none."""
    rates = _four_rows(class_30_state=3)
    classes = np.array([10, 10, 10, 30, 30, 40, 40, 50])
    states = np.array([0, 2, 3, 0, 3, 0, 2, 3])
    k = 1.37 * 0.47
    want = [0.7 * k, 3.4 * k, 0.7 * k, 0.0, 1.3 * k, 0.25, 0.25, 0.0]
    got = rates.carbon_gain(classes, states, root_shoot=0.37, carbon_fraction=0.47)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert rates.table_rows(classes, states).tolist() == [0, 1, 0, -1, 2, 3, 3, -1]
