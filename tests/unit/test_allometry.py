"""sinkmap.allometry: Chave et al. 2014 Eqs. 4, 6a, 7 and E; Mokany 2006; IPCC root:shoot; plots.

Expected values are computed here by hand from the published equations with plain ``math``, never
by calling the module under test.
"""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest

import sinkmap.allometry as allometry
from sinkmap.allometry import (
    biomass_to_carbon,
    chave2014,
    chave2014_e,
    chave2014_e_from_climate,
    chave2014_height,
    diameter_error_sd,
    mokany_bgb,
    plot_agb_mg_ha,
    root_shoot_ratio,
    validate_trees,
)
from sinkmap.constants import CARBON_FRACTION
from sinkmap.errors import InputDataError

# Illustrative (not measured) climate of a lowland site in central Hainan:
# TS = SD of monthly mean temperature 3.0 degC x 1000 (WorldClim 1.4 bio4), CWD = -300 mm/yr,
# PS = 80 % (bio15). E = (0.178*3000 + 0.938*300 - 6.61*80) * 1e-3 = (534 + 281.4 - 528.8) / 1000.
HAINAN_TS, HAINAN_CWD, HAINAN_PS = 3000.0, -300.0, 80.0
HAINAN_E = (534.0 + 281.4 - 528.8) / 1000.0  # 0.2866


def _eq4(d: float, h: float, rho: float) -> float:
    """Chave 2014 Eq. 4 by hand: 0.0673 * (rho D^2 H)^0.976, in kg."""
    return 0.0673 * math.exp(0.976 * math.log(rho * d * d * h))


def _eq7(d: float, rho: float, e: float) -> float:
    """Chave 2014 Eq. 7 by hand, in kg."""
    ln_d = math.log(d)
    return math.exp(-1.803 - 0.976 * e + 0.976 * math.log(rho) + 2.673 * ln_d - 0.0299 * ln_d**2)


def _eq6a(d: float, e: float) -> float:
    """Chave 2014 Eq. 6a by hand, without bias correction, in m."""
    ln_d = math.log(d)
    return math.exp(0.893 - e + 0.760 * ln_d - 0.0340 * ln_d**2)


# -- Eq. 4 ----------------------------------------------------------------------------------------
def test_chave2014_eq4_by_hand():
    # D = 30 cm, H = 25 m, rho = 0.6 g/cm3: rho D^2 H = 0.6 * 900 * 25 = 13500
    expected = 0.0673 * math.exp(0.976 * math.log(0.6 * 900 * 25))
    assert float(chave2014(30.0, 25.0, 0.6)) == pytest.approx(expected, rel=1e-12)
    # D = 12.5 cm, H = 11 m, rho = 0.45: rho D^2 H = 0.45 * 156.25 * 11 = 773.4375
    expected = 0.0673 * math.exp(0.976 * math.log(773.4375))
    assert float(chave2014(12.5, 11.0, 0.45)) == pytest.approx(expected, rel=1e-12)


def test_chave2014_eq4_against_an_independent_figure():
    # Worked by hand: ln 13500 = 9.510445; x 0.976 = 9.282194; e^9.282194 = 10745.0;
    # x 0.0673 = 723.14 kg (= 0.7231 Mg, what BIOMASS computeAGB returns for this tree).
    assert float(chave2014(30.0, 25.0, 0.6)) == pytest.approx(723.14, abs=0.01)
    # Same tree, same rho D^2 H product, arranged differently: only the product matters.
    assert float(chave2014(15.0, 100.0, 0.6)) == pytest.approx(723.14, abs=0.01)


# -- Eq. 7 and E ----------------------------------------------------------------------------------
def test_chave2014_eq7_by_hand():
    # D = 30, rho = 0.6, E = 0.2866: ln D = 3.4012, (ln D)^2 = 11.568
    ln_d = math.log(30.0)
    ln_agb = -1.803 - 0.976 * 0.2866 + 0.976 * math.log(0.6) + 2.673 * ln_d - 0.0299 * ln_d**2
    assert float(chave2014_e(30.0, 0.6, 0.2866)) == pytest.approx(math.exp(ln_agb), rel=1e-12)
    # E = 0 removes the climate term; E enters with -0.976, so higher stress, lower biomass
    assert float(chave2014_e(30.0, 0.6, 0.0)) == pytest.approx(_eq7(30.0, 0.6, 0.0), rel=1e-12)
    ratio = float(chave2014_e(30.0, 0.6, 0.5) / chave2014_e(30.0, 0.6, 0.0))
    assert ratio == pytest.approx(math.exp(-0.976 * 0.5), rel=1e-12)


def test_e_from_climate_by_hand():
    e = chave2014_e_from_climate(HAINAN_TS, HAINAN_CWD, HAINAN_PS)
    assert float(e) == pytest.approx(0.2866, abs=1e-12)
    # each term alone
    assert float(chave2014_e_from_climate(1000.0, 0.0, 0.0)) == pytest.approx(0.178)
    assert float(chave2014_e_from_climate(0.0, -1000.0, 0.0)) == pytest.approx(0.938)
    assert float(chave2014_e_from_climate(0.0, 0.0, 100.0)) == pytest.approx(-0.661)


def test_e_from_climate_rejects_out_of_range_inputs():
    out = chave2014_e_from_climate(
        [-1.0, 3000.0, 3000.0, np.nan], [-300.0, 50.0, -300.0, -300.0], 80.0
    )
    assert np.isnan(out[:2]).all()  # negative TS; positive CWD (deficit with the wrong sign)
    assert out[2] == pytest.approx(HAINAN_E)
    assert np.isnan(out[3])
    assert np.isnan(chave2014_e_from_climate(3000.0, -300.0, -5.0))  # negative PS


# -- Eq. 6a ---------------------------------------------------------------------------------------
def test_chave2014_height_by_hand():
    # D = 30, E = 0: ln H = 0.893 + 0.760 * 3.4012 - 0.0340 * 11.568
    ln_d = math.log(30.0)
    ln_h = 0.893 - 0.0 + 0.760 * ln_d - 0.0340 * ln_d**2
    assert float(chave2014_height(30.0, 0.0, bias_correct=False)) == pytest.approx(
        math.exp(ln_h), rel=1e-12
    )
    assert float(chave2014_height(30.0, 0.0)) == pytest.approx(
        math.exp(ln_h) * math.exp(0.243**2 / 2), rel=1e-12
    )
    # E lowers ln H one for one
    h_e = float(chave2014_height(30.0, HAINAN_E, bias_correct=False))
    assert h_e == pytest.approx(math.exp(ln_h - HAINAN_E), rel=1e-12)


def test_height_bias_correction_factor_is_1_0300():
    d = np.array([5.0, 30.0, 120.0])
    factor = chave2014_height(d, 0.1) / chave2014_height(d, 0.1, bias_correct=False)
    assert math.exp(0.243**2 / 2) == pytest.approx(1.0300, abs=5e-5)  # 1.02996
    np.testing.assert_allclose(factor, math.exp(0.243**2 / 2), rtol=1e-12)


def test_eq7_agrees_with_eq4_and_eq6a_for_typical_trees():
    # Chave's Eq. 7 is Eq. 4 with H from Eq. 6a folded in. Substituting by hand:
    # ln 0.0673 + 0.976 * 0.893 = -2.6987 + 0.8716 = -1.827 (Eq. 7: -1.803);
    # 0.976 * (2 + 0.760) = 2.694 (2.673); 0.976 * -0.0340 = -0.0332 (-0.0299).
    assert math.log(0.0673) + 0.976 * 0.893 == pytest.approx(-1.803, abs=0.03)
    assert 0.976 * 2.760 == pytest.approx(2.673, abs=0.03)
    assert 0.976 * -0.0340 == pytest.approx(-0.0299, abs=0.004)
    e = float(chave2014_e_from_climate(HAINAN_TS, HAINAN_CWD, HAINAN_PS))
    for d in (10.0, 30.0, 60.0):
        rho = 0.6
        agb7 = float(chave2014_e(d, rho, e))
        assert agb7 == pytest.approx(_eq7(d, rho, e), rel=1e-12)
        for bias_correct in (False, True):
            h = float(chave2014_height(d, e, bias_correct=bias_correct))
            agb4 = float(chave2014(d, h, rho))
            assert agb4 == pytest.approx(
                _eq4(d, _eq6a(d, e) * (math.exp(0.243**2 / 2) if bias_correct else 1.0), rho)
            )
            assert abs(agb7 / agb4 - 1.0) < 0.30
            # in fact within 4 %: the refit changed the coefficients only a little
            assert abs(agb7 / agb4 - 1.0) < 0.04


# -- below ground, carbon, plots ------------------------------------------------------------------
def test_mokany_bgb_by_hand():
    # 0.489 * 100^0.890 = 0.489 * e^(0.890 * 4.60517) = 0.489 * 60.256 = 29.465 Mg/ha
    assert float(mokany_bgb(100.0)) == pytest.approx(0.489 * 100**0.89, rel=1e-12)
    assert float(mokany_bgb(100.0)) == pytest.approx(29.465, abs=1e-3)
    assert float(mokany_bgb(0.0)) == 0.0
    assert np.isnan(mokany_bgb([-1.0, np.nan, np.inf])).all()


@pytest.mark.parametrize(
    ("ecozone", "agb", "expected"),
    [
        ("tropical_rainforest", 0.0, 0.37),
        ("tropical_rainforest", 500.0, 0.37),
        ("tropical_moist_deciduous", 0.0, 0.20),
        ("tropical_moist_deciduous", 125.0, 0.20),  # at the breakpoint: the <= 125 row
        ("tropical_moist_deciduous", 125.000001, 0.24),
        ("tropical_moist_deciduous", 300.0, 0.24),
        ("tropical_dry", 19.999, 0.56),
        ("tropical_dry", 20.0, 0.56),  # at the breakpoint: the <= 20 row
        ("tropical_dry", 20.000001, 0.28),
        ("tropical_mountain", 80.0, 0.27),
        ("Tropical rain forest", 80.0, 0.37),
        ("tropical moist deciduous forest", 200.0, 0.24),
        ("tropical-dry-forest", 10.0, 0.56),
        ("tropical mountain systems", 10.0, 0.27),
    ],
)
def test_root_shoot_ratio_rows_and_breakpoints(ecozone, agb, expected):
    assert float(root_shoot_ratio(agb, ecozone)) == expected


def test_root_shoot_ratio_arrays_nan_and_unknown_zone():
    agb = np.array([[10.0, 130.0, np.nan, -5.0]])
    zones = np.array([["tropical_dry"], ["tropical_moist_deciduous"]])
    out = root_shoot_ratio(agb, zones)  # (1, 4) against (2, 1) -> (2, 4)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out[0, :2], [0.56, 0.28])
    np.testing.assert_array_equal(out[1, :2], [0.20, 0.24])
    assert np.isnan(out[:, 2:]).all()
    with pytest.raises(InputDataError, match="tropical_rainforest"):
        root_shoot_ratio(100.0, "boreal coniferous")


def test_plot_agb_sums_trees_over_area():
    # (723.1 + 276.9) kg = 1000 kg = 1 Mg on 20 m x 20 m = 0.04 ha -> 25 Mg/ha
    assert float(plot_agb_mg_ha([723.1, 276.9], 0.04)) == pytest.approx(25.0, rel=1e-12)
    plots = np.array([[500.0, 500.0], [100.0, 0.0]])
    np.testing.assert_allclose(plot_agb_mg_ha(plots, np.array([0.1, 0.01])), [10.0, 10.0])
    assert float(plot_agb_mg_ha([], 0.1)) == 0.0  # a plot without trees holds no tree biomass
    assert np.isnan(plot_agb_mg_ha([100.0, np.nan], 0.1))  # a bad tree is not silently dropped
    assert np.isnan(plot_agb_mg_ha([100.0, -1.0], 0.1))
    assert np.isnan(plot_agb_mg_ha([100.0], 0.0))
    assert np.isnan(plot_agb_mg_ha([100.0], -0.1))


def test_biomass_to_carbon():
    assert float(biomass_to_carbon(100.0)) == pytest.approx(100.0 * 0.47)
    assert float(biomass_to_carbon(1.0)) == CARBON_FRACTION
    assert float(biomass_to_carbon(723.14, 0.5)) == pytest.approx(361.57)
    np.testing.assert_allclose(biomass_to_carbon([0.0, 10.0], [0.47, 0.5]), [0.0, 5.0])
    assert np.isnan(biomass_to_carbon([-1.0, np.nan])).all()
    assert np.isnan(biomass_to_carbon(10.0, 47.0))  # a percentage, not a fraction
    assert np.isnan(biomass_to_carbon(10.0, 0.0))


def test_diameter_error_sd_by_hand():
    # 0.0062 * 30 + 0.0904 = 0.186 + 0.0904 = 0.2764 cm
    assert float(diameter_error_sd(30.0)) == pytest.approx(0.2764, abs=1e-12)
    np.testing.assert_allclose(diameter_error_sd([10.0, 100.0]), [0.1524, 0.7104])
    assert np.isnan(diameter_error_sd([0.0, -3.0, np.nan])).all()


# -- vectorisation, NaN and invalid values --------------------------------------------------------
ELEMENTWISE = {
    "chave2014": (chave2014, ([10.0, 30.0, 55.5], [8.0, 25.0, 31.0], [0.4, 0.6, 0.85])),
    "chave2014_e": (chave2014_e, ([10.0, 30.0, 55.5], [0.4, 0.6, 0.85], [-0.1, 0.0, 0.3])),
    "chave2014_height": (chave2014_height, ([10.0, 30.0, 55.5], [-0.1, 0.0, 0.3])),
    "e_from_climate": (chave2014_e_from_climate, ([500.0, 3000.0], [0.0, -300.0], [30.0, 80.0])),
    "mokany_bgb": (mokany_bgb, ([0.0, 50.0, 300.0],)),
    "biomass_to_carbon": (biomass_to_carbon, ([0.0, 50.0, 300.0], [0.47, 0.48, 0.5])),
    "diameter_error_sd": (diameter_error_sd, ([5.0, 30.0, 90.0],)),
    "root_shoot_ratio": (
        root_shoot_ratio,
        ([10.0, 150.0], ["tropical_dry", "tropical_rainforest"]),
    ),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_arrays_give_the_same_as_scalars(name):
    func, columns = ELEMENTWISE[name]
    out = func(*[np.asarray(c) for c in columns])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    for i, row in enumerate(zip(*columns, strict=True)):
        scalar = func(*row)
        assert isinstance(scalar, np.ndarray) and scalar.dtype == np.float64 and scalar.ndim == 0
        assert out[i] == pytest.approx(float(scalar), rel=1e-15)


def test_broadcasting_and_integer_inputs():
    d = np.array([10, 20, 40])[:, None]  # ints, as a column
    rho = np.array([0.4, 0.7])  # a row
    out = chave2014(d, 20, rho)
    assert out.shape == (3, 2) and out.dtype == np.float64
    assert out[2, 1] == pytest.approx(_eq4(40.0, 20.0, 0.7), rel=1e-12)
    h = chave2014_height(d, np.array([0.0, 0.3]))
    assert h.shape == (3, 2)
    assert h[1, 1] == pytest.approx(_eq6a(20.0, 0.3) * math.exp(0.243**2 / 2), rel=1e-12)


def test_nan_and_invalid_values_give_nan_without_warnings():
    bad = [np.nan, 0.0, -1.0, np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a RuntimeWarning from log(0) or log(-1)
        assert np.isnan(chave2014(bad, 25.0, 0.6)).all()
        assert np.isnan(chave2014(30.0, bad, 0.6)).all()
        assert np.isnan(chave2014(30.0, 25.0, bad)).all()
        assert np.isnan(chave2014_e(bad, 0.6, 0.1)).all()
        assert np.isnan(chave2014_e(30.0, bad, 0.1)).all()
        assert np.isnan(chave2014_e(30.0, 0.6, [np.nan, np.inf, -np.inf])).all()
        assert np.isnan(chave2014_height(bad, 0.1)).all()
        assert np.isnan(chave2014_height(30.0, np.nan))
        assert np.isnan(diameter_error_sd(bad)).all()
        # good neighbours stay good
        out = chave2014([30.0, -30.0, 30.0], [25.0, 25.0, np.nan], 0.6)
        assert out[0] == pytest.approx(_eq4(30.0, 25.0, 0.6))
        assert np.isnan(out[1:]).all()
    # E may be negative (unstressed sites): that is valid
    assert float(chave2014_height(30.0, -0.2)) > float(chave2014_height(30.0, 0.0))


# -- tree table validation ------------------------------------------------------------------------
def test_validate_trees_reports_each_bad_row_with_a_reason():
    dbh = [30.0, None, "abc", -4.0, 650.0, 25.0, 20.0, 18.0]
    height = [25.0, 20.0, 20.0, 20.0, 30.0, np.nan, 0.0, 140.0]
    rho = [0.6, 0.6, 0.6, 0.6, 0.6, 0.55, 620.0, np.nan]
    valid, reasons = validate_trees(dbh, height, rho)
    assert valid.dtype == bool
    assert valid.tolist() == [True, False, False, False, False, True, False, False]
    assert reasons[0] == "" and reasons[5] == ""  # a missing height is fine (Eq. 6a / Eq. 7)
    assert reasons[1] == "dbh_cm is missing"
    assert reasons[2] == "dbh_cm is not a number ('abc')"
    assert reasons[3] == "dbh_cm must be a number > 0 cm (got -4)"
    assert "dbh_cm 650 exceeds 500 cm" in reasons[4] and "mm" in reasons[4]
    assert "height_m must be a number > 0 m (got 0)" in reasons[6]
    assert "wood_density 620 exceeds 1.5" in reasons[6] and "kg/m³" in reasons[6]
    assert reasons[7] == ("height_m 140 exceeds 120 m; is it in dm or ft?; wood_density is missing")


def test_validate_trees_options_and_length_mismatch():
    valid, reasons = validate_trees([30.0, 20.0], [25.0, np.nan], require_height=True)
    assert valid.tolist() == [True, False]
    assert reasons[1] == "height_m is missing"
    valid, reasons = validate_trees([30.0], require_height=True)
    assert reasons == ["height_m is missing"]
    valid, reasons = validate_trees(np.array([30.0, 20.0]))  # diameters only
    assert valid.all() and reasons == ["", ""]
    valid, _ = validate_trees([30.0], wood_density=[np.nan], require_wood_density=False)
    assert valid.all()
    with pytest.raises(InputDataError, match="one value per tree"):
        validate_trees([30.0, 20.0], [25.0])


def test_docstring_examples_run():
    result = doctest.testmod(allometry, verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0
