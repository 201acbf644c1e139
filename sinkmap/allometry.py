"""Tree-level and plot-level allometry: plain, vectorised numpy functions.

Every function takes scalars or numpy arrays, broadcasts them against each other and returns a
float64 ndarray (0-d for scalar inputs). NaN in gives NaN out, and physically impossible values
(a diameter, height or wood density that is not a finite number > 0, a negative biomass …) give
NaN instead of raising, so one bad tree never stops a table. To *report* bad trees by row, call
:func:`validate_trees` first.

Units are in the names: ``dbh_cm`` diameter at 1.3 m in cm, ``height_m`` total tree height in m,
``wood_density`` in g/cm³ (= Mg/m³, oven-dry mass over green volume), tree biomass in kg,
biomass density in Mg/ha (= t/ha).

Sources
-------
Chave, J. et al. (2014) Improved allometric models to estimate the aboveground biomass of tropical
trees. Global Change Biology 20: 3177–3190. doi:10.1111/gcb.12629.
Mokany, K., Raison, R.J. & Prokushkin, A.S. (2006) Critical analysis of root:shoot ratios in
terrestrial biomes. Global Change Biology 12: 84–96. doi:10.1111/j.1365-2486.2005.001043.x.
IPCC (2006) Guidelines for National Greenhouse Gas Inventories, Vol. 4 AFOLU, Table 4.4.
Réjou-Méchain, M. et al. (2017) BIOMASS: an R package for estimating above-ground biomass and its
uncertainty in tropical forests. Methods in Ecology and Evolution 8: 1163–1167.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from sinkmap.constants import CARBON_FRACTION
from sinkmap.errors import InputDataError

# -- Chave et al. 2014, Eq. 4 (height known) ------------------------------------------------------
#: Eq. 4 coefficient: AGB [kg] = A × (ρ D² H)^B (Chave et al. 2014, Global Change Biology 20:3177).
CHAVE2014_EQ4_A = 0.0673
#: Eq. 4 exponent (Chave et al. 2014).
CHAVE2014_EQ4_B = 0.976

# -- Chave et al. 2014, Eq. 7 (height unknown, environmental stress E) ----------------------------
#: Eq. 7 intercept of ln AGB [ln kg] (Chave et al. 2014).
CHAVE2014_EQ7_INTERCEPT = -1.803
#: Eq. 7 coefficient of E (Chave et al. 2014).
CHAVE2014_EQ7_E = -0.976
#: Eq. 7 coefficient of ln ρ (Chave et al. 2014).
CHAVE2014_EQ7_LN_WD = 0.976
#: Eq. 7 coefficient of ln D (Chave et al. 2014).
CHAVE2014_EQ7_LN_D = 2.673
#: Eq. 7 coefficient of (ln D)² (Chave et al. 2014).
CHAVE2014_EQ7_LN_D2 = -0.0299

# -- Chave et al. 2014, Eq. 6a (height from diameter and E) --------------------------------------
#: Eq. 6a intercept of ln H [ln m] (Chave et al. 2014).
CHAVE2014_EQ6A_INTERCEPT = 0.893
#: Eq. 6a coefficient of E (Chave et al. 2014).
CHAVE2014_EQ6A_E = -1.0
#: Eq. 6a coefficient of ln D (Chave et al. 2014).
CHAVE2014_EQ6A_LN_D = 0.760
#: Eq. 6a coefficient of (ln D)² (Chave et al. 2014).
CHAVE2014_EQ6A_LN_D2 = -0.0340
#: Eq. 6a residual standard error σ of ln H (Chave et al. 2014); back-transform bias exp(σ²/2).
CHAVE2014_EQ6A_RSE = 0.243

# -- Chave et al. 2014, environmental stress E ---------------------------------------------------
#: Coefficient of temperature seasonality TS in E (Chave et al. 2014).
CHAVE2014_E_TS = 0.178
#: Coefficient of climatic water deficit CWD [mm/yr] in E (Chave et al. 2014).
CHAVE2014_E_CWD = -0.938
#: Coefficient of precipitation seasonality PS in E (Chave et al. 2014).
CHAVE2014_E_PS = -6.61
#: Scale of E: E = (…) × 10⁻³ (Chave et al. 2014).
CHAVE2014_E_SCALE = 1.0e-3

# -- Mokany et al. 2006, below-ground biomass ----------------------------------------------------
#: Coefficient of BGB = A × AGB^B, both in Mg/ha (Mokany et al. 2006, Global Change Biology 12:84).
MOKANY2006_A = 0.489
#: Exponent of BGB = A × AGB^B (Mokany et al. 2006).
MOKANY2006_B = 0.890


# -- IPCC 2006 Vol. 4 Table 4.4, root-to-shoot ratios --------------------------------------------
class RootShootRule(NamedTuple):
    """Root-to-shoot ratio R of one ecozone: ``r_low`` if AGB ≤ ``threshold_mg_ha``, else ``r_high``."""

    threshold_mg_ha: float
    r_low: float
    r_high: float


#: Root-to-shoot ratio R [Mg root d.m. / Mg shoot d.m.] by ecological zone, IPCC 2006 Vol. 4
#: Table 4.4 as transcribed in the methods reference (reference.md) — NOT YET CONFIRMED against
#: the table itself, nor on which side of a breakpoint (125, 20 Mg/ha) the breakpoint falls.
ROOT_SHOOT_IPCC2006: dict[str, RootShootRule] = {
    "tropical_rainforest": RootShootRule(np.inf, 0.37, 0.37),
    "tropical_moist_deciduous": RootShootRule(125.0, 0.20, 0.24),
    "tropical_dry": RootShootRule(20.0, 0.56, 0.28),
    "tropical_mountain": RootShootRule(np.inf, 0.27, 0.27),
}
#: Other spellings accepted for the ecozones of :data:`ROOT_SHOOT_IPCC2006`.
ECOZONE_ALIASES: dict[str, str] = {
    "tropical_rain_forest": "tropical_rainforest",
    "tropical_moist_deciduous_forest": "tropical_moist_deciduous",
    "tropical_dry_forest": "tropical_dry",
    "tropical_mountain_system": "tropical_mountain",
    "tropical_mountain_systems": "tropical_mountain",
}

# -- Diameter measurement error (BIOMASS R package) ----------------------------------------------
#: Slope of the diameter measurement error sd [cm/cm]: sd = 0.0062 D + 0.0904 (Chave et al. 2004,
#: Phil. Trans. R. Soc. B 359:409, as used by BIOMASS, Réjou-Méchain et al. 2017).
DIAMETER_ERROR_SD_SLOPE = 0.0062
#: Intercept of the diameter measurement error sd [cm] (same source).
DIAMETER_ERROR_SD_INTERCEPT_CM = 0.0904

# -- Plausibility bounds of validate_trees -------------------------------------------------------
#: Largest plausible diameter [cm]; BIOMASS truncates simulated diameters at 500 cm. Above it the
#: value is most likely in mm.
DBH_MAX_CM = 500.0
#: Tallest plausible tree [m]; the tallest measured tree is about 116 m.
HEIGHT_MAX_M = 120.0
#: Densest plausible wood [g/cm³]; the Global Wood Density Database spans 0.08–1.39 (BIOMASS
#: bounds). Above it the value is most likely in kg/m³.
WOOD_DENSITY_MAX_G_CM3 = 1.5

KG_PER_MG = 1000.0


# -- helpers -------------------------------------------------------------------------------------
def _f64(x: npt.ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _positive(x: npt.ArrayLike) -> np.ndarray:
    """``x`` as float64 with NaN wherever it is not a finite number > 0."""
    a = _f64(x)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _nonnegative(x: npt.ArrayLike) -> np.ndarray:
    """``x`` as float64 with NaN wherever it is not a finite number ≥ 0."""
    a = _f64(x)
    return np.where(np.isfinite(a) & (a >= 0), a, np.nan)


def _finite(x: npt.ArrayLike) -> np.ndarray:
    """``x`` as float64 with NaN wherever it is not finite."""
    a = _f64(x)
    return np.where(np.isfinite(a), a, np.nan)


# -- tree level ----------------------------------------------------------------------------------
def chave2014(
    dbh_cm: npt.ArrayLike, height_m: npt.ArrayLike, wood_density: npt.ArrayLike
) -> np.ndarray:
    """Above-ground biomass of a tree with known height, Chave et al. (2014) Eq. 4.

    .. math:: AGB = 0.0673 \\times (\\rho D^2 H)^{0.976}

    Parameters
    ----------
    dbh_cm : array_like
        Diameter at 1.3 m (or above buttresses), D, in cm.
    height_m : array_like
        Total tree height, H, in m.
    wood_density : array_like
        Wood density (specific gravity), ρ, in g/cm³.

    Returns
    -------
    numpy.ndarray
        Above-ground biomass in kg (oven-dry) per tree, float64, broadcast shape of the inputs.
        NaN where any input is NaN or not a finite number > 0.

    References
    ----------
    Chave, J. et al. (2014) Global Change Biology 20: 3177–3190, Eq. 4.

    Examples
    --------
    >>> round(float(chave2014(30.0, 25.0, 0.6)), 1)  # ρ D² H = 0.6 × 900 × 25 = 13500
    723.1
    """
    d, h, rho = _positive(dbh_cm), _positive(height_m), _positive(wood_density)
    return _f64(CHAVE2014_EQ4_A * (rho * d**2 * h) ** CHAVE2014_EQ4_B)


def chave2014_e(dbh_cm: npt.ArrayLike, wood_density: npt.ArrayLike, e: npt.ArrayLike) -> np.ndarray:
    """Above-ground biomass of a tree without height, Chave et al. (2014) Eq. 7.

    .. math::

        \\ln AGB = -1.803 - 0.976 E + 0.976 \\ln\\rho + 2.673 \\ln D - 0.0299 (\\ln D)^2

    This is the published equation. The R package BIOMASS (``computeAGB(coord=…)``) uses refitted
    ("modified Eq. 7") coefficients instead and so gives somewhat different values.

    Parameters
    ----------
    dbh_cm : array_like
        Diameter at 1.3 m, D, in cm.
    wood_density : array_like
        Wood density, ρ, in g/cm³.
    e : array_like
        Environmental stress index E (dimensionless), from :func:`chave2014_e_from_climate` or
        the global E raster of Chave et al. (2014). Any finite value; NaN or ±inf give NaN.

    Returns
    -------
    numpy.ndarray
        Above-ground biomass in kg per tree, float64. NaN where D or ρ is not a finite number > 0
        or E is not finite.

    References
    ----------
    Chave, J. et al. (2014) Global Change Biology 20: 3177–3190, Eq. 7.

    Examples
    --------
    >>> round(float(chave2014_e(30.0, 0.6, 0.0)), 1)
    628.9
    """
    d, rho, e_ = _positive(dbh_cm), _positive(wood_density), _finite(e)
    ln_d = np.log(d)
    ln_agb = (
        CHAVE2014_EQ7_INTERCEPT
        + CHAVE2014_EQ7_E * e_
        + CHAVE2014_EQ7_LN_WD * np.log(rho)
        + CHAVE2014_EQ7_LN_D * ln_d
        + CHAVE2014_EQ7_LN_D2 * ln_d**2
    )
    return _f64(np.exp(ln_agb))


def chave2014_height(
    dbh_cm: npt.ArrayLike, e: npt.ArrayLike, *, bias_correct: bool = True
) -> np.ndarray:
    """Tree height from diameter and environmental stress, Chave et al. (2014) Eq. 6a.

    .. math::

        \\ln H = 0.893 - E + 0.760 \\ln D - 0.0340 (\\ln D)^2

    Back-transforming a log-log regression underestimates the mean; with ``bias_correct`` the
    height is multiplied by :math:`\\exp(\\sigma^2/2)`, σ = 0.243 (the residual standard error of
    Eq. 6a), i.e. by 1.0300. The R package BIOMASS (``retrieveH(coord=…)``) applies the same
    correction.

    Parameters
    ----------
    dbh_cm : array_like
        Diameter at 1.3 m, D, in cm.
    e : array_like
        Environmental stress index E (dimensionless), see :func:`chave2014_e_from_climate`.
    bias_correct : bool, default True
        Multiply by exp(σ²/2) (mean height) instead of returning exp(ln H) (median height).

    Returns
    -------
    numpy.ndarray
        Total tree height in m, float64. NaN where D is not a finite number > 0 or E is not finite.

    References
    ----------
    Chave, J. et al. (2014) Global Change Biology 20: 3177–3190, Eq. 6a.

    Examples
    --------
    >>> round(float(chave2014_height(30.0, 0.0, bias_correct=False)), 2)
    21.86
    >>> round(float(chave2014_height(30.0, 0.0)), 2)
    22.51
    """
    d, e_ = _positive(dbh_cm), _finite(e)
    ln_d = np.log(d)
    ln_h = (
        CHAVE2014_EQ6A_INTERCEPT
        + CHAVE2014_EQ6A_E * e_
        + CHAVE2014_EQ6A_LN_D * ln_d
        + CHAVE2014_EQ6A_LN_D2 * ln_d**2
    )
    if bias_correct:
        ln_h = ln_h + CHAVE2014_EQ6A_RSE**2 / 2.0
    return _f64(np.exp(ln_h))


def chave2014_e_from_climate(
    ts: npt.ArrayLike, cwd: npt.ArrayLike, ps: npt.ArrayLike
) -> np.ndarray:
    """Environmental stress index E of Chave et al. (2014).

    .. math:: E = (0.178\\,TS - 0.938\\,CWD - 6.61\\,PS) \\times 10^{-3}

    The units matter and are easy to get wrong by a factor of 10:

    Parameters
    ----------
    ts : array_like
        Temperature seasonality, WorldClim 1.4 bioclimatic variable 4 as Chave et al. used it:
        the standard deviation of the 12 monthly mean temperatures in °C × 1000 (the layer
        stores SD × 100 of temperatures in °C × 10). WorldClim 2.x BIO4 is SD in °C × 100:
        multiply it by 10 first. Must be ≥ 0.
    cwd : array_like
        Climatic water deficit in mm/yr, ≤ 0 by definition (Chave et al. 2014); 0 means no
        seasonal water stress. Positive values (deficit reported as a positive number, as in
        some products) give NaN: negate them first.
    ps : array_like
        Precipitation seasonality, WorldClim bioclimatic variable 15: the coefficient of
        variation of the 12 monthly precipitation totals **in percent** (e.g. 80, not 0.8).
        Must be ≥ 0.

    Returns
    -------
    numpy.ndarray
        E, dimensionless, float64. NaN where an input is NaN or out of its range.

    References
    ----------
    Chave, J. et al. (2014) Global Change Biology 20: 3177–3190 (E; also published as a raster).

    Examples
    --------
    >>> round(float(chave2014_e_from_climate(3000.0, -300.0, 80.0)), 4)  # illustrative values
    0.2866
    """
    ts_, ps_ = _nonnegative(ts), _nonnegative(ps)
    cwd_ = _f64(cwd)
    cwd_ = np.where(np.isfinite(cwd_) & (cwd_ <= 0), cwd_, np.nan)
    return _f64(
        (CHAVE2014_E_TS * ts_ + CHAVE2014_E_CWD * cwd_ + CHAVE2014_E_PS * ps_) * CHAVE2014_E_SCALE
    )


def diameter_error_sd(dbh_cm: npt.ArrayLike) -> np.ndarray:
    """Standard deviation of a diameter measurement, for Monte Carlo error propagation.

    .. math:: sd = 0.0062\\,D + 0.0904

    BIOMASS applies this to 95 % of the trees and a large error (sd = 4.64 cm) to a random 5 %
    (``Dpropag = "chave2004"``); that split is left to the Monte Carlo code.

    Parameters
    ----------
    dbh_cm : array_like
        Diameter at 1.3 m, D, in cm.

    Returns
    -------
    numpy.ndarray
        Standard deviation of D in cm, float64. NaN where D is not a finite number > 0.

    References
    ----------
    Chave, J. et al. (2004) Phil. Trans. R. Soc. B 359: 409–420; Réjou-Méchain, M. et al. (2017)
    Methods in Ecology and Evolution 8: 1163–1167 (R package BIOMASS, ``AGBmonteCarlo``).

    Examples
    --------
    >>> float(diameter_error_sd(30.0))
    0.2764
    """
    d = _positive(dbh_cm)
    return _f64(DIAMETER_ERROR_SD_SLOPE * d + DIAMETER_ERROR_SD_INTERCEPT_CM)


# -- plot level ----------------------------------------------------------------------------------
def plot_agb_mg_ha(
    tree_agb_kg: npt.ArrayLike, plot_area_ha: npt.ArrayLike, *, axis: int = -1
) -> np.ndarray:
    """Above-ground biomass density of a plot from the biomass of its trees.

    .. math:: AGB_{plot} = \\frac{\\sum_i AGB_i / 1000}{A}

    Parameters
    ----------
    tree_agb_kg : array_like
        Biomass of each tree in kg, trees along ``axis`` (e.g. shape ``(n_trees,)`` for one plot,
        ``(n_plots, n_trees)`` for equal-sized, NaN-free tree lists).
    plot_area_ha : array_like
        Plot area in ha (horizontal projection), broadcast against the result.
    axis : int, default -1
        Axis of ``tree_agb_kg`` that holds the trees.

    Returns
    -------
    numpy.ndarray
        Biomass density in Mg/ha (= t/ha), float64. A plot with no trees has 0. NaN where any tree
        is NaN or negative (a bad tree is never silently dropped: filter it out first, with
        :func:`validate_trees`) or the area is not a finite number > 0.

    Examples
    --------
    >>> float(plot_agb_mg_ha([723.1, 276.9], 0.04))  # 1000 kg on 400 m²
    25.0
    """
    trees = _nonnegative(tree_agb_kg)
    area = _positive(plot_area_ha)
    return _f64(np.sum(trees, axis=axis) / KG_PER_MG / area)


def mokany_bgb(agb_mg_ha: npt.ArrayLike) -> np.ndarray:
    """Below-ground (root) biomass density from above-ground biomass, Mokany et al. (2006).

    .. math:: BGB = 0.489 \\times AGB^{0.890}

    Parameters
    ----------
    agb_mg_ha : array_like
        Above-ground (shoot) biomass density in Mg/ha.

    Returns
    -------
    numpy.ndarray
        Below-ground biomass density in Mg/ha, float64. 0 for AGB = 0; NaN where AGB is NaN,
        negative or infinite.

    References
    ----------
    Mokany, K., Raison, R.J. & Prokushkin, A.S. (2006) Global Change Biology 12: 84–96.

    Examples
    --------
    >>> round(float(mokany_bgb(100.0)), 2)
    29.47
    """
    agb = _nonnegative(agb_mg_ha)
    return _f64(MOKANY2006_A * agb**MOKANY2006_B)


def _ecozone_key(name: object) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = ECOZONE_ALIASES.get(key, key)
    if key not in ROOT_SHOOT_IPCC2006:
        raise InputDataError(
            f"unknown ecozone {name!r} for the IPCC 2006 Table 4.4 root-to-shoot ratio; use one of "
            f"{sorted(ROOT_SHOOT_IPCC2006)}"
        )
    return key


def root_shoot_ratio(agb_mg_ha: npt.ArrayLike, ecozone: str | npt.ArrayLike) -> np.ndarray:
    """Root-to-shoot ratio R by ecological zone, IPCC (2006) Vol. 4 Table 4.4.

    ======================================  ===========================================
    ecozone                                 R [Mg root d.m. / Mg shoot d.m.]
    ======================================  ===========================================
    ``tropical_rainforest``                 0.37
    ``tropical_moist_deciduous``            0.20 if AGB ≤ 125 Mg/ha, else 0.24
    ``tropical_dry``                        0.56 if AGB ≤ 20 Mg/ha, else 0.28
    ``tropical_mountain``                   0.27
    ======================================  ===========================================

    .. warning:: These values are taken from the project's methods reference
       (``reference.md``, marked "confirm") and are **still to be confirmed against
       Table 4.4 itself**, including on which side of the breakpoint AGB = 125 (or 20) falls
       (the table writes "< 125" and "> 125").

    Parameters
    ----------
    agb_mg_ha : array_like
        Above-ground biomass density in Mg/ha (= t/ha), which selects the row for zones with a
        breakpoint.
    ecozone : str or array_like of str
        Ecological zone, broadcast against ``agb_mg_ha``. Case, spaces and hyphens are ignored;
        ``"tropical rain forest"``, ``"tropical dry forest"``, ``"tropical mountain systems"``
        … are accepted too. An unknown name raises :class:`~sinkmap.errors.InputDataError`.

    Returns
    -------
    numpy.ndarray
        R, dimensionless, float64. NaN where AGB is NaN, negative or infinite.

    References
    ----------
    IPCC (2006) Guidelines for National Greenhouse Gas Inventories, Vol. 4, Table 4.4; the same
    values are given by Mokany et al. (2006).

    Examples
    --------
    >>> root_shoot_ratio([100.0, 200.0], "tropical moist deciduous forest").tolist()
    [0.2, 0.24]
    """
    agb = _nonnegative(agb_mg_ha)
    zones = np.asarray(ecozone, dtype=object)
    names, inverse = np.unique(zones.ravel().astype(str), return_inverse=True)
    rules = [ROOT_SHOOT_IPCC2006[_ecozone_key(n)] for n in names]
    inverse = inverse.reshape(zones.shape)
    threshold = np.array([r.threshold_mg_ha for r in rules], dtype=np.float64)[inverse]
    r_low = np.array([r.r_low for r in rules], dtype=np.float64)[inverse]
    r_high = np.array([r.r_high for r in rules], dtype=np.float64)[inverse]
    ratio = np.where(agb <= threshold, r_low, r_high)
    return _f64(np.where(np.isnan(agb), np.nan, ratio))


def biomass_to_carbon(
    agb: npt.ArrayLike, carbon_fraction: npt.ArrayLike = CARBON_FRACTION
) -> np.ndarray:
    """Carbon in biomass: C = B × CF.

    Parameters
    ----------
    agb : array_like
        Dry biomass in any unit (kg per tree, Mg/ha …); the result is carbon in the same unit
        (kg C, Mg C/ha …).
    carbon_fraction : array_like, default :data:`sinkmap.constants.CARBON_FRACTION` (0.47)
        Carbon fraction of dry matter, Mg C / Mg d.m.; the default is IPCC (2006) Vol. 4
        Table 4.3 (tropical and subtropical, all parts).

    Returns
    -------
    numpy.ndarray
        Carbon, float64, in the unit of ``agb``. NaN where biomass is NaN, negative or infinite,
        or the fraction is not in (0, 1].

    References
    ----------
    IPCC (2006) Guidelines for National Greenhouse Gas Inventories, Vol. 4, Table 4.3.

    Examples
    --------
    >>> float(biomass_to_carbon(100.0))
    47.0
    """
    b = _nonnegative(agb)
    cf = _positive(carbon_fraction)
    cf = np.where(cf <= 1.0, cf, np.nan)
    return _f64(b * cf)


# -- validation of a tree table ------------------------------------------------------------------
class TreeValidation(NamedTuple):
    """Result of :func:`validate_trees`: one entry per tree (row), in input order."""

    #: True where the tree can go into the allometry.
    valid: np.ndarray
    #: Why each tree is invalid ("" for a valid tree); several reasons are joined by "; ".
    reasons: list[str]


def _column(values: npt.ArrayLike | None, n: int, name: str) -> tuple[np.ndarray, list[str]]:
    """A column as float64 of length ``n`` and, per row, a reason if a cell is not a number."""
    if values is None:
        return np.full(n, np.nan), [""] * n
    raw = np.atleast_1d(np.asarray(values, dtype=object))
    if raw.ndim != 1 or raw.shape[0] != n:
        raise InputDataError(
            f"{name} has {raw.size} values in shape {raw.shape} but dbh_cm has {n}; give one value "
            "per tree, in the same order"
        )
    out = np.full(n, np.nan)
    notes = [""] * n
    for i, cell in enumerate(raw):
        if cell is None:
            continue
        if isinstance(cell, str) and cell.strip() == "":
            continue
        try:
            out[i] = float(cell)
        except (TypeError, ValueError):
            notes[i] = f"{name} is not a number ({cell!r})"
    return out, notes


def validate_trees(
    dbh_cm: npt.ArrayLike,
    height_m: npt.ArrayLike | None = None,
    wood_density: npt.ArrayLike | None = None,
    *,
    require_height: bool = False,
    require_wood_density: bool = True,
    dbh_max_cm: float = DBH_MAX_CM,
    height_max_m: float = HEIGHT_MAX_M,
    wood_density_max: float = WOOD_DENSITY_MAX_G_CM3,
) -> TreeValidation:
    """Check a table of trees before the allometry and say why each bad row is bad.

    The allometric functions turn bad values into NaN silently; this tells the user which rows
    and why, so that the calibration command can report them by row number instead of dropping
    them. A row is invalid when:

    - ``dbh_cm`` is missing, not a number, ≤ 0, infinite or > ``dbh_max_cm`` (likely mm);
    - ``height_m`` is not a number, ≤ 0, infinite or > ``height_max_m``, or is missing while
      ``require_height`` (a missing height is otherwise fine: Eq. 6a or Eq. 7 will be used);
    - ``wood_density`` is missing (when ``require_wood_density``), not a number, ≤ 0, infinite or
      > ``wood_density_max`` g/cm³ (likely kg/m³).

    Parameters
    ----------
    dbh_cm : array_like
        Diameter at 1.3 m in cm, one value per tree (a 1-D column; strings and None allowed).
    height_m : array_like, optional
        Total height in m, same length; None when the table has no height column.
    wood_density : array_like, optional
        Wood density in g/cm³, same length; None when not yet known (then it is not checked).
    require_height : bool, default False
        Treat a missing height as an error (for Eq. 4 without height imputation).
    require_wood_density : bool, default True
        Treat a missing wood density as an error (only when ``wood_density`` is given).
    dbh_max_cm, height_max_m, wood_density_max : float
        Upper plausibility bounds (see :data:`DBH_MAX_CM`, :data:`HEIGHT_MAX_M`,
        :data:`WOOD_DENSITY_MAX_G_CM3`).

    Returns
    -------
    TreeValidation
        ``valid`` (bool array) and ``reasons`` (list of str, "" for valid rows), both indexed by
        the 0-based position of the tree; a CSV reader adds 2 to get the line number (header on
        line 1). Unpacks as ``valid, reasons = validate_trees(...)``.

    Raises
    ------
    InputDataError
        If the columns do not have the same length.

    Examples
    --------
    >>> valid, reasons = validate_trees([30.0, None, 25.0], [25.0, 20.0, -3.0], [0.6, 0.6, 600])
    >>> valid.tolist()
    [True, False, False]
    >>> reasons[1]
    'dbh_cm is missing'
    """
    d_raw = np.atleast_1d(np.asarray(dbh_cm, dtype=object))
    if d_raw.ndim != 1:
        raise InputDataError(f"dbh_cm must be one column of trees, got shape {d_raw.shape}")
    n = d_raw.shape[0]
    reasons: list[list[str]] = [[] for _ in range(n)]

    def check(
        values: npt.ArrayLike | None,
        name: str,
        unit: str,
        upper: float,
        hint: str,
        *,
        required: bool,
    ) -> None:
        col, notes = _column(values, n, name)
        for i in range(n):
            v = col[i]
            if notes[i]:
                reasons[i].append(notes[i])
            elif np.isnan(v):
                if required:
                    reasons[i].append(f"{name} is missing")
            elif not np.isfinite(v) or v <= 0:
                reasons[i].append(f"{name} must be a number > 0 {unit} (got {v:g})")
            elif v > upper:
                reasons[i].append(f"{name} {v:g} exceeds {upper:g} {unit}; {hint}")

    check(d_raw, "dbh_cm", "cm", dbh_max_cm, "is it in mm? divide by 10", required=True)
    if height_m is not None:
        check(
            height_m, "height_m", "m", height_max_m, "is it in dm or ft?", required=require_height
        )
    elif require_height:
        for r in reasons:
            r.append("height_m is missing")
    if wood_density is not None:
        check(
            wood_density,
            "wood_density",
            "g/cm³",
            wood_density_max,
            "is it in kg/m³? divide by 1000",
            required=require_wood_density,
        )
    valid = np.array([not r for r in reasons], dtype=bool)
    return TreeValidation(valid=valid, reasons=["; ".join(r) for r in reasons])
