"""Uncertainty propagation (sinkmap.account.distributions, sinkmap.account.montecarlo) against
closed forms written out by hand in this file.

Every expected value below comes from an equation in the test (math / numpy / statistics), never
from the library's output. Monte Carlo estimates are compared with ``pytest.approx`` at a
tolerance of 4 standard errors of the estimate, the standard error also written out by hand
(a two-sided 4 SE band fails by chance with probability 6e-5 per check).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from sinkmap.account.distributions import Distribution
from sinkmap.account.montecarlo import (
    NOISE_BLOCK,
    Parameter,
    bound_mcse,
    class_draws,
    draw_parameters,
    fix_parameter,
    mc_parameters,
    pixel_noise,
    variance_shares,
)
from sinkmap.config import ParameterSpec, UncertaintyConfig
from sinkmap.errors import InputDataError
from sinkmap.models.lookup import LookupModel, LookupParams

#: Pools in the order of the last axis of ``class_draws`` totals (the total stock comes last).
ABOVE, BELOW, DEAD, SOIL, TOTAL = range(5)
N = 200_000  # draws of the distribution tests
K_SE = 4.0  # tolerance, in standard errors of the Monte Carlo estimate


def phi(x: float) -> float:
    """Standard normal density (0 at ±inf)."""
    return 0.0 if math.isinf(x) else math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def Phi(x: float) -> float:
    """Standard normal distribution function, from the error function."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2)))


def mean_se(sd: float, n: int) -> float:
    """Standard error of a sample mean of n draws of SD ``sd``."""
    return sd / math.sqrt(n)


def sd_se(sd: float, kurtosis: float, n: int) -> float:
    """Standard error of a sample SD of n draws: Var(s²) ≈ (μ4 − σ⁴)/n = σ⁴(κ − 1)/n, and by the
    delta method SE(s) ≈ SE(s²)/(2σ) = σ √((κ − 1)/(4n)) (κ = 3 for a normal: σ/√(2n))."""
    return sd * math.sqrt((kurtosis - 1.0) / (4.0 * n))


def quantile_se(q: float, density: float, n: int) -> float:
    """Standard error of the sample q quantile: √(q(1 − q)/n) / f(x_q)."""
    return math.sqrt(q * (1 - q) / n) / density


def write_table(path: Path, rows: list[tuple[int, float, float, float, float]]) -> Path:
    """An InVEST-layout pool table from rows (code, above, below, dead, soil), Mg C/ha."""
    lines = ["lucode,c_above,c_below,c_soil,c_dead"]
    lines += [f"{c},{a!r},{b!r},{s!r},{d!r}" for c, a, b, d, s in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def z() -> np.ndarray:
    return np.random.default_rng(20240601).standard_normal(N)


# == 1. distributions: draws and moments against their closed forms ===============================
def test_normal_draws_and_moments(z):
    """normal: value × (1 + rel_sd × z): mean = value, SD = rel_sd × value (κ = 3)."""
    value, rel_sd = 50.0, 0.15
    d = Distribution("normal", rel_sd)
    d.check("x")
    x = d.values(value, z)
    sd = rel_sd * value
    assert x.mean() == pytest.approx(value, abs=K_SE * mean_se(sd, N))
    assert x.std(ddof=1) == pytest.approx(sd, abs=K_SE * sd_se(sd, 3.0, N))
    assert d.moments() == pytest.approx((1.0, rel_sd), rel=1e-12)


def test_lognormal_from_rel_sd_matches_mean_and_sd(z):
    """lognormal from rel_sd = cv: σ² = ln(1 + cv²), μ = ln(m) − σ²/2, so a draw is exp(μ + σz),
    with mean exp(μ + σ²/2) = m, SD m √(e^{σ²} − 1) = cv × m, median e^μ = m / √(1 + cv²) and
    kurtosis e^{4σ²} + 2e^{3σ²} + 3e^{2σ²} − 3."""
    m, cv = 100.0, 0.6
    s2 = math.log(1 + cv * cv)
    mu, s = math.log(m) - s2 / 2, math.sqrt(s2)
    d = Distribution("lognormal", cv)
    d.check("x")
    x = d.values(m, z)
    np.testing.assert_allclose(x, np.exp(mu + s * z), rtol=1e-12)  # the copula map itself
    mean, sd = math.exp(mu + s2 / 2), math.sqrt(math.expm1(s2) * math.exp(2 * mu + s2))
    assert mean == pytest.approx(m, rel=1e-12) and sd == pytest.approx(cv * m, rel=1e-12)
    kurt = math.exp(4 * s2) + 2 * math.exp(3 * s2) + 3 * math.exp(2 * s2) - 3
    assert x.mean() == pytest.approx(mean, abs=K_SE * mean_se(sd, N))
    assert x.std(ddof=1) == pytest.approx(sd, abs=K_SE * sd_se(sd, kurt, N))
    median = math.exp(mu)
    assert median == pytest.approx(m / math.sqrt(1 + cv * cv), rel=1e-12)
    f_median = phi(0.0) / (median * s)  # lognormal density at its median
    assert np.median(x) == pytest.approx(median, abs=K_SE * quantile_se(0.5, f_median, N))
    assert d.moments() == pytest.approx((1.0, cv), rel=1e-12)


def test_lognormal_from_rel_range_puts_the_range_at_2_5_and_97_5_percent(z):
    """lognormal from rel_range [lo, hi]: σ = ln(hi/lo)/(2 × 1.96), median = value √(lo·hi), so
    the 2.5th and 97.5th percentiles are value × lo and value × hi; mean = median × e^{σ²/2},
    SD = mean √(e^{σ²} − 1)."""
    value, lo, hi = 280.0, 0.43, 2.43  # an IPCC range 120-680 around 280
    z975 = NormalDist().inv_cdf(0.975)
    s = math.log(hi / lo) / (2 * z975)
    median = math.sqrt(lo * hi)
    assert median * math.exp(-z975 * s) == pytest.approx(lo, rel=1e-12)
    assert median * math.exp(z975 * s) == pytest.approx(hi, rel=1e-12)
    d = Distribution("lognormal", rel_range=(lo, hi))
    d.check("x")
    x = d.values(value, z)
    for q, bound in ((0.025, lo), (0.975, hi)):
        xq = value * bound
        density = phi(z975) / (xq * s)  # lognormal density at its q quantile (φ(±1.96) alike)
        got = np.quantile(x, q)
        assert got == pytest.approx(xq, abs=K_SE * quantile_se(q, density, N)), q
    mean = median * math.exp(s * s / 2)
    sd = mean * math.sqrt(math.expm1(s * s))
    assert d.moments() == pytest.approx((mean, sd), rel=1e-12)
    assert x.mean() == pytest.approx(value * mean, abs=K_SE * mean_se(value * sd, N))


def test_triangular_min_max_mean_and_variance(z):
    """triangular (a, c, b) = (lo, 1, hi) × value: a ≤ x ≤ b, mean (a + b + c)/3, variance
    (a² + b² + c² − ab − ac − bc)/18, kurtosis 2.4, and P(x ≤ c) = (c − a)/(b − a)."""
    value, lo, hi = 280.0, 0.43, 2.43
    a, c, b = lo * value, value, hi * value
    d = Distribution("triangular", rel_range=(lo, hi))
    d.check("x")
    x = d.values(value, z)
    assert x.min() >= a and x.max() <= b
    assert x.min() < a + 0.02 * (b - a) and x.max() > b - 0.02 * (b - a)  # tails reach the ends
    mean = (a + b + c) / 3
    var = (a * a + b * b + c * c - a * b - a * c - b * c) / 18
    sd = math.sqrt(var)
    assert x.mean() == pytest.approx(mean, abs=K_SE * mean_se(sd, N))
    var_se = var * math.sqrt((2.4 - 1.0) / N)  # Var(s²) = σ⁴(κ − 1)/n
    assert x.var(ddof=1) == pytest.approx(var, abs=K_SE * var_se)
    p_mode = (c - a) / (b - a)
    assert np.mean(x <= c) == pytest.approx(p_mode, abs=K_SE * math.sqrt(p_mode * (1 - p_mode) / N))
    assert d.moments() == pytest.approx((mean / value, sd / value), rel=1e-12)


def _truncnorm_raw(alpha: float, beta: float) -> tuple[float, float, float, float]:
    """E[Z^k], k = 1..4, of a standard normal truncated to [α, β]: the recurrence
    m_k = (k − 1) m_{k−2} + (α^{k−1} φ(α) − β^{k−1} φ(β)) / (Φ(β) − Φ(α)), m_0 = 1."""
    zz = Phi(beta) - Phi(alpha)

    def edge(k: int) -> float:
        ends = [(t**k) * phi(t) if math.isfinite(t) else 0.0 for t in (alpha, beta)]
        return (ends[0] - ends[1]) / zz

    m1 = edge(0)  # (φ(α) − φ(β)) / Z
    m2 = 1 + edge(1)
    m3 = 2 * m1 + edge(2)
    m4 = 3 * m2 + edge(3)
    return m1, m2, m3, m4


def test_truncnormal_stays_in_its_bounds_and_matches_the_truncated_mean(z):
    """truncnormal of rel_sd σ in [lo, hi] × value: with α = (lo − 1)/σ, β = (hi − 1)/σ,
    mean = value (1 + σ (φ(α) − φ(β))/(Φ(β) − Φ(α))),
    variance = (value σ)² (1 + (αφ(α) − βφ(β))/(Φ(β) − Φ(α)) − ((φ(α) − φ(β))/(Φ(β) − Φ(α)))²),
    kurtosis from the raw moments of the recurrence; one-sided (hi = ∞) likewise."""
    value, rel_sd, lo, hi = 10.0, 0.5, 0.2, 1.6
    alpha, beta = (lo - 1) / rel_sd, (hi - 1) / rel_sd  # -1.6, 1.2
    d = Distribution("truncnormal", rel_sd, rel_bounds=(lo, hi))
    d.check("x")
    x = d.values(value, z)
    assert x.min() >= lo * value and x.max() <= hi * value
    zz = Phi(beta) - Phi(alpha)
    ratio = (phi(alpha) - phi(beta)) / zz
    mean = value * (1 + rel_sd * ratio)
    var = (value * rel_sd) ** 2 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / zz - ratio**2)
    m1, m2, m3, m4 = _truncnorm_raw(alpha, beta)
    assert m1 == pytest.approx(ratio, rel=1e-12) and m2 - m1 * m1 == pytest.approx(
        var / (value * rel_sd) ** 2, rel=1e-12
    )
    v = m2 - m1 * m1
    kurt = (m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4) / (v * v)
    sd = math.sqrt(var)
    assert x.mean() == pytest.approx(mean, abs=K_SE * mean_se(sd, N))
    assert x.std(ddof=1) == pytest.approx(sd, abs=K_SE * sd_se(sd, kurt, N))
    assert d.moments() == pytest.approx((mean / value, sd / value), rel=1e-12)
    # Redrawn, not clipped: no mass piles up at a bound (a clipped normal would put
    # Φ(α) = 5.5 % of the draws exactly on lo × value).
    assert np.mean(x <= lo * value * (1 + 1e-9)) < 1e-4
    # One-sided, the default bounds [0, ∞): α = −1/σ, β = ∞ (φ(β) = βφ(β) = 0, Φ(β) = 1).
    one = Distribution("truncnormal", 0.6)
    a1 = -1 / 0.6
    r1 = phi(a1) / (1 - Phi(a1))
    v1 = 1 + a1 * phi(a1) / (1 - Phi(a1)) - r1 * r1
    assert one.moments() == pytest.approx((1 + 0.6 * r1, 0.6 * math.sqrt(v1)), rel=1e-12)
    y = one.values(value, z)
    assert y.min() >= 0.0
    assert y.mean() == pytest.approx(
        value * (1 + 0.6 * r1), abs=K_SE * mean_se(value * 0.6 * math.sqrt(v1), N)
    )


def test_z975_is_the_standard_normal_quantile_of_97_5_percent():
    """Z975, written out so that the jobs drawing normals and lognormals start without SciPy, is
    SciPy's quantile to the bit, and the standard normal's 97.5 % point (Python's NormalDist)."""
    from scipy.special import ndtri

    from sinkmap.account.distributions import Z975

    assert Z975 == float(ndtri(0.975))
    assert Z975 == pytest.approx(NormalDist().inv_cdf(0.975), rel=1e-15)


# == 2. a normal that would go negative is refused; an accepted one is never clipped ===============
def test_normal_with_a_negative_tail_is_refused_and_an_accepted_one_is_not_clipped():
    """A normal puts Φ(−1/rel_sd) of its draws below 0: refused above 0.1 %, i.e. above
    rel_sd* = −1/Φ⁻¹(0.001) = 0.3236 (rel_sd 0.5: Φ(−2) = 2.3 %); an accepted normal's draw is
    exactly value × (1 + rel_sd × z), negative for z = −6 at rel_sd 0.2."""
    threshold = -1.0 / NormalDist().inv_cdf(1e-3)
    assert threshold == pytest.approx(0.3236, abs=1e-4)
    assert Phi(-1 / 0.5) > 1e-3 and Phi(-1 / 0.33) > 1e-3 and Phi(-1 / 0.32) < 1e-3
    for rel_sd in (0.5, 0.33):
        with pytest.raises(InputDataError, match="lognormal") as err:
            Distribution("normal", rel_sd).check("table.soil")
        assert "truncnormal" in str(err.value) and "table.soil" in str(err.value)
    with pytest.raises(InputDataError, match="lognormal"):
        draw_parameters({"table.soil": Parameter(52.0, 0.5)}, 10, 0)
    Distribution("normal", 0.32).check("x")  # 0.089 % below 0: accepted
    d = Distribution("normal", 0.2)
    d.check("x")
    zs = np.array([-6.0, -1.0, 0.0, 2.5])
    expected = [50.0 * (1 + 0.2 * v) for v in (-6.0, -1.0, 0.0, 2.5)]  # -10, 40, 50, 75
    np.testing.assert_allclose(d.values(50.0, zs), expected, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(Parameter(50.0, 0.2).values(zs), expected, rtol=1e-14, atol=1e-12)
    assert d.values(50.0, zs)[0] == pytest.approx(-10.0)  # kept as drawn, not clipped to 0


# == 3. correlated pools of one biomass value =====================================================
AGB, R_S, F_DEAD, CF = 280.0, 0.37, 0.07, 0.47  # t d.m./ha, root:shoot, dead:AGB, C fraction
SOIL_ONE = 52.0
AREA = 1234.5  # ha of the one class
MC_DRAWS = 2000


@pytest.fixture(scope="module")
def biomass_model(tmp_path_factory) -> LookupModel:
    """One class (10): above = AGB·CF, below = AGB·R·CF, dead = AGB·f·CF, soil 52 Mg C/ha."""
    path = tmp_path_factory.mktemp("pools") / "one.csv"
    write_table(path, [(10, AGB * CF, AGB * R_S * CF, AGB * F_DEAD * CF, SOIL_ONE)])
    return LookupModel(LookupParams(table=path))


def test_pools_of_one_biomass_value_are_drawn_together(biomass_model):
    """above, below, dead in one group with normal rel_sd s: every pool moves by the same factor
    (1 + s z), so SD(total) = (1 + R + f) CF s AGB × area; drawn independently,
    SD(total) = CF s AGB √(1 + R² + f²) × area. Mean in both: (AGB CF (1 + R + f) + soil) × area.
    Tolerance: 4 SE of a sample SD of 2000 normal draws, σ/√(2(n − 1))."""
    s = 0.1
    pools = ["table.above", "table.below", "table.dead"]
    areas = np.zeros((1, 256))
    areas[0, 10] = AREA
    sd_correlated = (1 + R_S + F_DEAD) * CF * s * AGB * AREA
    sd_independent = CF * s * AGB * math.sqrt(1 + R_S**2 + F_DEAD**2) * AREA
    mean = (AGB * CF * (1 + R_S + F_DEAD) + SOIL_ONE) * AREA
    for correlated, expected_sd in ((True, sd_correlated), (False, sd_independent)):
        cfg = UncertaintyConfig(
            parameters=dict.fromkeys(pools, s),
            correlated={"biomass": pools} if correlated else {},
        )
        params = mc_parameters(biomass_model, cfg.parameters, cfg.correlated)
        draws = draw_parameters(params, MC_DRAWS, seed=3)
        totals, _ = class_draws(biomass_model, areas, draws, MC_DRAWS)
        # class_draws sums area × the drawn pools (float32 stocks of the lookup: rtol 1e-6)
        by_hand = AREA * (sum(draws[p][:, 0] for p in pools) + SOIL_ONE)
        np.testing.assert_allclose(totals[:, 0, TOTAL], by_hand, rtol=1e-6)
        below_over_above = draws["table.below"][:, 0] / draws["table.above"][:, 0]
        if correlated:  # one factor for the three pools: below/above stays R in every draw
            np.testing.assert_allclose(below_over_above, R_S, rtol=1e-12)
        else:
            assert np.ptp(below_over_above) > 0.1
        got = totals[:, 0, TOTAL]
        se = expected_sd / math.sqrt(2 * (MC_DRAWS - 1))
        assert got.std(ddof=1) == pytest.approx(expected_sd, abs=K_SE * se), correlated
        assert got.mean() == pytest.approx(mean, abs=K_SE * mean_se(expected_sd, MC_DRAWS))
    assert sd_correlated / sd_independent == pytest.approx(1.347, abs=1e-3)  # 1.44 / 1.0687


# == 4. one soil reference stock shared by two classes ============================================
SOIL_A, SOIL_B = 52.0, 52.0 * 0.83  # forest SOC_REF and cropland SOC_REF × F_LU


@pytest.fixture(scope="module")
def soil_model(tmp_path_factory) -> LookupModel:
    path = tmp_path_factory.mktemp("pools") / "soil.csv"
    write_table(path, [(10, 131.6, 48.7, 8.9, SOIL_A), (40, 5.0, 0.0, 0.0, SOIL_B)])
    return LookupModel(LookupParams(table=path))


def test_shared_soil_reference_cancels_in_a_conversion(soil_model):
    """A conversion of ``area`` ha from class a to b changes soil by (soil_b − soil_a) × area.
    One SOC_REF shared by both classes (classes: shared) scales both by one factor (1 + s z):
    SD = |soil_b − soil_a| s × area; drawn per class: SD = √(soil_a² + soil_b²) s × area.
    Tolerance: 4 SE of a sample SD of 2000 normal draws, σ/√(2(n − 1))."""
    s, area = 0.1, 250.0
    areas = np.zeros((3, 256))
    areas[0, [10, 40]] = area  # zone 0, the AOI, holds every class (class_draws reads its classes)
    areas[1, 10] = area  # before: class a
    areas[2, 40] = area  # after: class b
    cases = (
        ("shared", abs(SOIL_B - SOIL_A) * s * area),
        ("independent", math.sqrt(SOIL_A**2 + SOIL_B**2) * s * area),
    )
    for classes, expected_sd in cases:
        spec = ParameterSpec(rel_sd=s, classes=classes)
        params = mc_parameters(soil_model, {"table.soil": spec})
        draws = draw_parameters(params, MC_DRAWS, seed=5)
        totals, _ = class_draws(soil_model, areas, draws, MC_DRAWS)
        change = totals[:, 2, SOIL] - totals[:, 1, SOIL]
        soil = draws["table.soil"]  # (draws, classes in table order: 10, 40)
        # float32 lookup stocks: each rounded within 2⁻²⁴ ≈ 6e-8 relative, so the difference of
        # two ~50 Mg C/ha stocks (which can cancel) is exact to within 1e-6 × (a + b) × area.
        exact = (soil[:, 1] - soil[:, 0]) * area
        np.testing.assert_allclose(change, exact, rtol=0, atol=1e-6 * (SOIL_A + SOIL_B) * area)
        if classes == "shared":  # one factor: the ratio of the two stocks never moves
            np.testing.assert_allclose(soil[:, 1] / soil[:, 0], SOIL_B / SOIL_A, rtol=1e-12)
        se = expected_sd / math.sqrt(2 * (MC_DRAWS - 1))
        assert change.std(ddof=1) == pytest.approx(expected_sd, abs=K_SE * se), classes
        mean_change = (SOIL_B - SOIL_A) * area
        assert change.mean() == pytest.approx(
            mean_change, abs=K_SE * mean_se(expected_sd, MC_DRAWS)
        )


# == 5. per-pixel noise of a coarser source cell ==================================================
def test_pixel_noise_of_a_source_cell_is_one_value_per_block_in_any_window():
    """cell = 10: one standard normal per 10 × 10 block from the grid origin (constant inside,
    different between blocks, mean 0 and SD 1 over the blocks: 4 SE = 4/√n and 4/√(2n)); the
    value of a pixel does not depend on the window it is read through, across NOISE_BLOCK edges
    of the lattice (source cell 128 = grid rows 1280.. here)."""
    cell, n = 10, 1500
    big = pixel_noise(7, 2, "biomass", 0, 0, n, n, cell=cell)
    blocks = big.reshape(n // cell, cell, n // cell, cell)
    assert np.all(blocks.max(axis=(1, 3)) == blocks.min(axis=(1, 3)))  # constant in each block
    per_block = blocks[:, 0, :, 0]
    assert np.unique(per_block).size == per_block.size  # a different value in every block
    k = per_block.size
    assert per_block.mean() == pytest.approx(0.0, abs=K_SE / math.sqrt(k))
    assert per_block.std(ddof=1) == pytest.approx(1.0, abs=K_SE / math.sqrt(2 * (k - 1)))
    for r0, c0, h, w in ((7, 13, 47, 61), (0, 0, 10, 10), (1275, 3, 20, 95), (5, 1271, 33, 30)):
        window = pixel_noise(7, 2, "biomass", r0, c0, h, w, cell=cell)
        np.testing.assert_array_equal(window, big[r0 : r0 + h, c0 : c0 + w])
    assert NOISE_BLOCK * cell < n  # the windows above cross a lattice edge
    assert not np.array_equal(big, pixel_noise(7, 3, "biomass", 0, 0, n, n, cell=cell))


def test_pixel_noise_is_each_lattice_blocks_own_stream_of_normals():
    """The errors of a window are those of the lattice blocks it overlaps: block (br, bc) is the
    standard normal stream of numpy's generator seeded with SeedSequence([seed, 1, crc32(stream),
    draw, br, bc]), filling its NOISE_BLOCK x NOISE_BLOCK cells row by row; also where a window
    reads only the first rows of a block (only those are drawn) or its last rows (a halo's block
    before the origin, br = -1 keyed as 2^32 - 1)."""
    b = NOISE_BLOCK

    def block(br: int, bc: int) -> np.ndarray:
        key = [3, 1, zlib.crc32(b"agb"), 4, br % 2**32, bc % 2**32]
        return np.random.default_rng(np.random.SeedSequence(key)).standard_normal((b, b))

    np.testing.assert_array_equal(pixel_noise(3, 4, "agb", 0, 0, 5, 7), block(0, 0)[:5, :7])
    window = pixel_noise(3, 4, "agb", b - 2, 10, 6, b)  # rows across two blocks, columns too
    np.testing.assert_array_equal(window[:2, : b - 10], block(0, 0)[b - 2 :, 10:])
    np.testing.assert_array_equal(window[2:, : b - 10], block(1, 0)[:4, 10:])
    np.testing.assert_array_equal(window[2:, b - 10 :], block(1, 1)[:4, :10])
    halo = pixel_noise(3, 4, "agb", -3, 0, 5, 4)
    np.testing.assert_array_equal(halo[:3], block(-1, 0)[b - 3 :, :4])
    np.testing.assert_array_equal(halo[3:], block(0, 0)[:2, :4])


# == 6. Monte Carlo standard error of a bound =====================================================
def test_bound_mcse_matches_the_spread_of_the_sample_quantile():
    """Over 300 repetitions of n = 1000 standard normals, the SD of the sample 2.5 % quantile and
    the mean of bound_mcse both approach √(q(1 − q)/n)/φ(z_q) = 0.0845."""
    q, n, reps = 0.025, 1000, 300
    x = np.random.default_rng(11).standard_normal((reps, n))
    zq = NormalDist().inv_cdf(q)
    asymptotic = math.sqrt(q * (1 - q) / n) / phi(zq)
    assert asymptotic == pytest.approx(0.0845, abs=1e-4)
    spread = float(np.quantile(x, q, axis=1).std(ddof=1))
    mcse = bound_mcse(x, q)
    assert mcse.shape == (reps,)
    # The brief's criterion: the two estimates agree within 25 %.
    assert float(mcse.mean()) == pytest.approx(spread, rel=0.25)
    # SD of 300 near-normal quantiles: 4 SE = 4/√(2 × 299) = 16 %, plus O(1/n) bias: 20 %.
    assert spread == pytest.approx(asymptotic, rel=0.20)
    # One bound_mcse is half the gap of order statistics ~10 ranks apart (relative SD ≈ 1/√10),
    # so the mean of 300 has relative SE ≈ 1.8 %: 4 SE = 7.3 %, plus +1.3 % from rounding the
    # ranks outward to whole ranks (nq ± √(nq(1 − q)) = 20.06..29.94 -> 20..30): 10 %.
    assert float(mcse.mean()) == pytest.approx(asymptotic, rel=0.10)
    assert np.isnan(bound_mcse(np.array([1.0]), q))


# == 7. variance shares ===========================================================================
def test_variance_share_of_a_linear_total_by_hand():
    """T = aX + bY with X, Y independent: fixing X at its mean leaves Var(bY), so X's share is
    a²Var(X)/(a²Var(X) + b²Var(Y)) and Y's the rest. By the delta method the estimate of a share
    s from n draws has SE 2(1 − s)√(s/n); tolerance 4 SE."""
    a, b = 3.0, 2.0
    params = {"x": Parameter(2.0, 0.3), "y": Parameter(5.0, 0.1)}  # SD 0.6 and 0.5
    n = 100_000
    draws = draw_parameters(params, n, seed=17)
    total = a * draws["x"] + b * draws["y"]
    fixed = {}
    for name in params:
        held = fix_parameter(params, draws, name)
        assert np.all(held[name] == params[name].mean)
        other = "y" if name == "x" else "x"
        np.testing.assert_array_equal(held[other], draws[other])  # the others as drawn
        fixed[name] = a * held["x"] + b * held["y"]
    shares = variance_shares(total, fixed)
    vx, vy = (a * 0.6) ** 2, (b * 0.5) ** 2  # 3.24 and 1.0
    share_x = vx / (vx + vy)  # 0.764
    for name, share in (("x", share_x), ("y", 1 - share_x)):
        se = 2 * (1 - share) * math.sqrt(share / n)
        assert shares[name] == pytest.approx(share, abs=K_SE * se), name
    assert math.isnan(variance_shares(np.full(5, 3.0), {"x": np.full(5, 3.0)})["x"])


# == 8. coverage of the 95 % interval =============================================================
# Three classes: forest, shrubland, cropland (Mg C/ha: above, below, dead, soil) and their areas
# (ha) in two years five years apart.
CLASSES = np.array(
    [[131.6, 48.7, 8.9, 52.0], [28.2, 11.3, 0.0, 52.0], [5.0, 0.0, 0.0, 52.0 * 0.83]]
)
AREA_1 = np.array([600.0, 250.0, 150.0])
AREA_2 = np.array([520.0, 230.0, 250.0])
YEARS = 5
REPS_PER_RUN, RUNS, DRAWS = 80, 5, 500  # 400 repetitions of a 500-draw Monte Carlo
CV_BIOMASS, SD_SOIL = 0.3, 0.2


@pytest.fixture(scope="module")
def coverage_model(tmp_path_factory) -> LookupModel:
    """80 disjoint copies of the three-class landscape: copy k has codes 3k+1, 3k+2, 3k+3."""
    rows = [(3 * k + i + 1, *map(float, CLASSES[i])) for k in range(REPS_PER_RUN) for i in range(3)]
    path = tmp_path_factory.mktemp("pools") / "copies.csv"
    write_table(path, rows)
    return LookupModel(LookupParams(table=path))


def test_monte_carlo_interval_covers_the_truth_95_percent(coverage_model):
    """Coverage of the Monte Carlo 95 % interval, R = 400 repetitions, stock and flux.

    The inventory's estimate is the table; the truth is the table times factors from the stated
    distributions, drawn here by hand: above and below one lognormal factor per class,
    exp(σz − σ²/2) with σ² = ln(1 + 0.3²); soil one normal factor 1 + 0.2 z for all three
    classes; dead as tabled. Stock T = Σ area × (above + below + dead + soil); flux
    −(T₂ − T₁)/5 × 44/12 with the year-2 areas. The Monte Carlo (draw_parameters + class_draws,
    500 draws, its own seed) is run with the same distributions; its [2.5 %, 97.5 %] quantiles
    should hold the truth in 95 % of the repetitions: asserted within 0.95 ± 3√(0.95 × 0.05/400)
    = ± 0.033 (3 binomial SE; empirical quantiles of 500 draws hold a new draw with probability
    (486.525 − 12.475)/501 = 0.946, inside the band).

    Speed: class_draws costs ~0.35 ms per draw whatever the number of classes, so 80 repetitions
    run in one class_draws call as 80 disjoint copies of the landscape (independent per-class
    biomass draws); the soil factor, one per draw for every class, is then shared by the 80
    copies' Monte Carlo runs (not by their truths), which correlates their intervals a little
    but leaves each repetition's Monte Carlo distribution exactly that of a lone run.
    """
    table = coverage_model.table
    params = {
        "table.above": Parameter(
            table.values["above"], distribution=Distribution("lognormal", CV_BIOMASS), group="agb"
        ),
        "table.below": Parameter(
            table.values["below"], distribution=Distribution("lognormal", CV_BIOMASS), group="agb"
        ),
        "table.soil": Parameter(
            table.values["soil"], distribution=Distribution("normal", SD_SOIL), shared_classes=True
        ),
    }
    k = REPS_PER_RUN
    codes = (3 * np.arange(k)[:, None] + np.arange(3)[None, :] + 1).ravel()  # (k × 3,)
    areas = np.zeros((1 + 2 * k, 256))
    areas[0, codes] = np.tile(AREA_1 + AREA_2, k)  # zone 0, the AOI: every class present
    for r in range(k):
        areas[1 + r, codes[3 * r : 3 * r + 3]] = AREA_1  # repetition r, year 1
        areas[1 + k + r, codes[3 * r : 3 * r + 3]] = AREA_2  # repetition r, year 2
    s2 = math.log(1 + CV_BIOMASS**2)
    truth_rng = np.random.default_rng(99)
    inside_stock, inside_flux = [], []
    for run in range(RUNS):
        draws = draw_parameters(params, DRAWS, seed=1000 + run)
        totals, _ = class_draws(coverage_model, areas, draws, DRAWS)
        t1, t2 = totals[:, 1 : 1 + k, TOTAL], totals[:, 1 + k :, TOTAL]
        if run == 0:  # class_draws is Σ area × drawn stock (float32 lookup stocks: rtol 1e-6)
            stock = sum(draws[f"table.{p}"] for p in ("above", "below", "soil")) + np.tile(
                CLASSES[:, DEAD], k
            )
            np.testing.assert_allclose(
                t1, (stock * np.tile(AREA_1, k)).reshape(DRAWS, k, 3).sum(axis=2), rtol=1e-6
            )
        flux = -(t2 - t1) / YEARS * 44 / 12
        # The truths of the k repetitions, by hand: factors (k, 3) for biomass, (k,) for soil.
        f_bio = np.exp(math.sqrt(s2) * truth_rng.standard_normal((k, 3)) - s2 / 2)
        f_soil = 1 + SD_SOIL * truth_rng.standard_normal(k)
        true_stock = (
            (CLASSES[:, ABOVE] + CLASSES[:, BELOW]) * f_bio
            + CLASSES[:, DEAD]
            + CLASSES[:, SOIL] * f_soil[:, None]
        )  # (k, 3) Mg C/ha
        true_t1, true_t2 = true_stock @ AREA_1, true_stock @ AREA_2
        true_flux = -(true_t2 - true_t1) / YEARS * 44 / 12
        for mc, truth, inside in ((t1, true_t1, inside_stock), (flux, true_flux, inside_flux)):
            lo, hi = np.quantile(mc, [0.025, 0.975], axis=0)
            inside.extend(((lo <= truth) & (truth <= hi)).tolist())
    reps = RUNS * REPS_PER_RUN
    band = 3 * math.sqrt(0.95 * 0.05 / reps)
    assert band == pytest.approx(0.033, abs=5e-4)
    for what, inside in (("stock", inside_stock), ("flux", inside_flux)):
        assert len(inside) == reps
        coverage = float(np.mean(inside))
        assert abs(coverage - 0.95) <= band, (
            f"{what}: coverage {coverage:.4f} over {reps} repetitions, not within 0.95 ± {band:.3f}"
        )


def test_spatially_correlated_noise_has_the_gaussian_correlation_and_ignores_chunks():
    """White noise smoothed by a Gaussian kernel of SD sigma, scaled to unit variance, has
    correlation exp(-h^2 / (4 sigma^2)) at a distance of h cells: with sigma = 2, 0.7788 at h = 2
    and 1/e = 0.3679 at h = 4 (the correlation length, 2 sigma). Over 2,000 draws the SE of a
    correlation near 0.5 is about 0.02 and of a variance about 0.03: tolerances of 0.07 and 0.1.
    The field read through any window, across a 128-cell block edge or at the grid's origin
    (where the halo reaches before it), is the same."""
    from sinkmap.account.montecarlo import pixel_noise

    n = 2000
    a, b2, b4 = np.empty(n), np.empty(n), np.empty(n)
    for d in range(n):
        f = pixel_noise(5, d, "agb", 100, 100, 12, 12, sigma=2.0)
        a[d], b2[d], b4[d] = f[4, 4], f[4, 6], f[4, 8]
    assert a.var() == pytest.approx(1.0, abs=0.1)
    assert np.corrcoef(a, b2)[0, 1] == pytest.approx(math.exp(-4 / 16), abs=0.07)
    assert np.corrcoef(a, b4)[0, 1] == pytest.approx(math.exp(-1), abs=0.07)
    big = pixel_noise(9, 3, "agb", 0, 0, 300, 300, sigma=3.0)
    np.testing.assert_allclose(
        pixel_noise(9, 3, "agb", 120, 110, 30, 40, sigma=3.0), big[120:150, 110:150], rtol=1e-12
    )
    np.testing.assert_allclose(
        pixel_noise(9, 3, "agb", 0, 0, 20, 20, sigma=3.0), big[:20, :20], rtol=1e-12
    )
    # on a 10 m grid with 100 m source cells: constant within a source cell, smooth across them
    fine = pixel_noise(9, 3, "agb", 0, 0, 100, 100, cell=10, sigma=3.0)
    np.testing.assert_array_equal(fine[:10, :10], fine[0, 0])
    coarse = pixel_noise(9, 3, "agb", 0, 0, 10, 10, sigma=3.0)
    np.testing.assert_allclose(fine[::10, ::10], coarse, rtol=1e-12)


def test_bound_mcse_holds_at_the_default_100_draws():
    """At 100 draws (the package default) the standard error of a 2.5 % bound from
    ``bound_mcse`` matches the spread of the sample quantile over 3,000 repetitions to 10 % (the
    spread itself is known to about 1.3 %, sqrt(1 / (2 x 3000)))."""
    from sinkmap.account.montecarlo import bound_mcse

    x = np.random.default_rng(11).standard_normal((3000, 100))
    for q in (0.025, 0.975):
        spread = np.quantile(x, q, axis=1).std()
        assert bound_mcse(x, q).mean() == pytest.approx(spread, rel=0.10)


def test_a_truncnormal_must_contain_its_value():
    from sinkmap.account.distributions import Distribution
    from sinkmap.errors import InputDataError

    with pytest.raises(InputDataError, match=r"must contain the value \(1\)"):
        Distribution("truncnormal", 0.05, rel_bounds=(1.5, 3.0)).check("x")
    Distribution("truncnormal", 0.05, rel_bounds=(0.5, 3.0)).check("x")
