"""Gain-loss carbon balance per pixel (IPCC 2006 Vol. 4 Eq. 2.4, 2.9, 2.10).

ΔC = ΔC_G − ΔC_L: growth of biomass at the rates of :class:`sinkmap.tables.GrowthRates`, losses
from land-cover transitions and forest-loss years. Pure functions of numpy chunks; see
``docs/accounting.md`` for the equations and simplifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinkmap.account.montecarlo import Parameter, parameter
from sinkmap.carbon import co2e, interval_years
from sinkmap.errors import InputDataError
from sinkmap.tables import GrowthRates


def same_shape(**arrays: np.ndarray | None) -> tuple[int, ...]:
    """The common shape of the arrays of one chunk (None ones skipped); an error if they differ."""
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    first = next(iter(shapes.values()))
    bad = {k: s for k, s in shapes.items() if s != first}
    if bad:
        raise InputDataError(f"arrays of one chunk must have the same shape; got {shapes}")
    return first


def booked_loss_year(
    loss_year: npt.ArrayLike, years: tuple[int, int], base: int
) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year of each Hansen loss code (0 where none) and whether it falls in the interval
    (t1, t2]: the cells the method treats as disturbed."""
    ly = np.asarray(loss_year).astype(np.int64)
    cal = np.where(ly > 0, base + ly, 0)
    return cal, (cal > years[0]) & (cal <= years[1])


def growth(
    c1: np.ndarray, c2: np.ndarray, disturbed: np.ndarray, grow_converted: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Which cells grow (same class at both dates, or converted to a growing class with
    ``grow_converted``; not disturbed) and the class whose rate they grow at (0 where none)."""
    same = c1 == c2
    growing = (same | grow_converted) & ~disturbed
    return growing, np.where(growing, np.where(same, c1, c2), 0)


def loss_total(
    same: np.ndarray, s1: np.ndarray, s2: np.ndarray, disturbance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The transition loss max(C_t1 − C_t2, 0) of a change of class, and the loss counted: the
    larger of it and the disturbance loss, once."""
    transition = np.where(~same, np.maximum(s1 - s2, 0.0), 0.0)
    return transition, np.maximum(transition, disturbance)


class GainLoss(NamedTuple):
    """Per-pixel result of :func:`gain_loss` (float32 layers, NaN outside the data)."""

    #: ΔC_G, biomass carbon gain, Mg C/ha/yr (≥ 0).
    gains: np.ndarray
    #: ΔC_L, carbon loss averaged over the interval, Mg C/ha/yr (≥ 0).
    losses: np.ndarray
    #: ΔC = ΔC_G − ΔC_L, Mg C/ha/yr (+ when the stock grows).
    net: np.ndarray
    #: −ΔC_G × 44/12, Mg CO2e/ha/yr (≤ 0: removals).
    removals_co2e: np.ndarray
    #: ΔC_L × 44/12, Mg CO2e/ha/yr (≥ 0: emissions).
    emissions_co2e: np.ndarray
    #: −ΔC × 44/12, Mg CO2e/ha/yr, inventory sign.
    net_co2e: np.ndarray
    #: Calendar year the loss is booked in (the Hansen loss year, else ``t2``); 0 where no loss.
    loss_year: np.ndarray


def gain_loss(
    classes_t1: npt.ArrayLike,
    classes_t2: npt.ArrayLike,
    state: npt.ArrayLike | None,
    rates: GrowthRates,
    root_shoot: npt.ArrayLike,
    carbon_fraction: float,
    years: tuple[int, int],
    loss_year: npt.ArrayLike | None = None,
    *,
    stock_t1: npt.ArrayLike,
    stock_t2: npt.ArrayLike,
    biomass_t1: npt.ArrayLike | None = None,
    loss_year_base: int = 2000,
    grow_converted: bool = False,
    nodata: int = 0,
) -> GainLoss:
    """Gain-loss carbon balance per pixel, IPCC 2006 Vol. 4 Eq. 2.4 (ΔC = ΔC_G − ΔC_L).

    Gains (Eq. 2.9, 2.10): a pixel whose class is the same at both dates, and that has no
    disturbance in the interval, gains ΔC_G = G_W × (1 + R) × CF each year, G_W the rate of its
    class and forest state (:class:`GrowthRates`); with ``grow_converted`` a pixel converted *to*
    a growing class gains at the rate of its end class too ("Land converted to Forest land").

    Losses: a pixel whose class changes loses max(C_t1 − C_t2, 0) (a change to a lower-stock
    class); a pixel with a Hansen loss year in (t1, t2] loses its biomass carbon ``biomass_t1``.
    A pixel with both loses the larger of the two, once. Losses are averaged over the interval
    per pixel; ``loss_year`` says in which calendar year each is booked.

    Parameters
    ----------
    classes_t1, classes_t2 : array_like of int
        Land cover at the start and end of the interval (``nodata`` = outside the AOI).
    state : array_like of int or None
        Forest state code per pixel (codes of the growth-rate table; 0 unspecified), or None.
    rates : GrowthRates
        Growth rates per class and state (``GrowthRates.from_csv("config/growth_rates.csv")``).
    root_shoot : float or array_like
        Root-to-shoot ratio R (IPCC Table 4.4; e.g. 0.37 tropical rainforest), per pixel or one.
    carbon_fraction : float
        Carbon fraction of dry matter CF (0.47, IPCC Table 4.3).
    years : (int, int)
        The interval (t1, t2), t1 < t2.
    loss_year : array_like of int, optional
        Hansen Global Forest Change ``lossyear``: 0 no loss, k = loss in ``loss_year_base`` + k.
    stock_t1, stock_t2 : array_like of float
        Total carbon stock at t1 and t2, Mg C/ha (for transition losses).
    biomass_t1 : array_like of float, optional
        Carbon in above-ground, below-ground biomass and dead organic matter at t1 (Mg C/ha):
        what a Hansen loss pixel emits. Required with ``loss_year``.
    loss_year_base : int, default 2000
        Calendar year of Hansen code 0 (GFC: 1 = 2001). Use 0 if ``loss_year`` holds years.
    grow_converted : bool, default False
        Also count growth on land converted to a growing class.
    nodata : int, default 0
        Land-cover code of cells outside the AOI.

    Returns
    -------
    GainLoss
        ``gains``, ``losses``, ``net`` (Mg C/ha/yr), ``removals_co2e``, ``emissions_co2e``,
        ``net_co2e`` (Mg CO2e/ha/yr, inventory sign), float32, NaN where a class is nodata or a
        stock is NaN; ``loss_year`` int16.
    """
    t1, t2 = int(years[0]), int(years[1])
    n = interval_years(t1, t2)
    c1 = np.asarray(classes_t1).astype(np.int64)
    c2 = np.asarray(classes_t2).astype(np.int64)
    s1 = np.asarray(stock_t1, "float64")
    s2 = np.asarray(stock_t2, "float64")
    same_shape(
        classes_t1=c1,
        classes_t2=c2,
        stock_t1=s1,
        stock_t2=s2,
        state=None if state is None else np.asarray(state),
        loss_year=None if loss_year is None else np.asarray(loss_year),
        biomass_t1=None if biomass_t1 is None else np.asarray(biomass_t1),
    )
    valid = (c1 != nodata) & (c2 != nodata) & np.isfinite(s1) & np.isfinite(s2)
    same = c1 == c2
    if state is not None:
        state = np.where(valid, np.asarray(state).astype(np.int64), 0)

    disturbed = np.zeros(c1.shape, dtype=bool)
    cal = np.zeros(c1.shape, dtype=np.int64)
    disturbance = np.zeros(c1.shape)
    if loss_year is not None:
        if biomass_t1 is None:
            raise InputDataError(
                "gain_loss: a loss_year layer needs biomass_t1 (Mg C/ha in biomass and dead "
                "organic matter at t1), the carbon a loss pixel emits"
            )
        cal, disturbed = booked_loss_year(loss_year, (t1, t2), loss_year_base)
        disturbance = np.where(disturbed, np.maximum(np.asarray(biomass_t1, "float64"), 0.0), 0.0)

    growing, grow_class = growth(c1, c2, disturbed, grow_converted)
    gain_rate = rates.carbon_gain(
        np.where(valid, grow_class, 0),
        state,
        root_shoot=root_shoot,
        carbon_fraction=carbon_fraction,
    )
    gains = np.where(growing, gain_rate, 0.0)

    transition, lost = loss_total(same, s1, s2, disturbance)
    losses = lost / n
    booked = np.where(lost > 0, np.where(disturbed & (disturbance >= transition), cal, t2), 0)
    net = gains - losses

    def _out(x: np.ndarray) -> np.ndarray:
        return np.where(valid, x, np.nan).astype("float32")

    return GainLoss(
        gains=_out(gains),
        losses=_out(losses),
        net=_out(net),
        removals_co2e=_out(co2e(gains)),
        emissions_co2e=_out(co2e(-losses)),
        net_co2e=_out(co2e(net)),
        loss_year=np.where(valid, booked, 0).astype(np.int16),
    )


#: A gain-loss stratum is one combination of (class at t1, class at t2, forest state, disturbed):
#: within it every cell has the same growth rate and the same kind of loss, so the Monte Carlo of
#: the method can run on the strata's areas and stock totals instead of on each cell.
STRATUM_FIELDS = ("class_t1", "class_t2", "state", "disturbed")
#: Land-cover codes a stratum code holds (8 bits per class).
MAX_CLASS = 255


def gain_loss_strata(
    classes_t1: npt.ArrayLike,
    classes_t2: npt.ArrayLike,
    state: npt.ArrayLike | None,
    loss_year: npt.ArrayLike | None,
    valid: npt.ArrayLike,
    *,
    years: tuple[int, int],
    n_states: int,
    loss_year_base: int = 2000,
) -> np.ndarray:
    """The gain-loss stratum of each cell (int64; 0 where ``valid`` is false): a code of its class
    at both dates, its forest state (< ``n_states``) and whether a loss year falls in the interval
    (t1, t2] (:func:`decode_strata` reads it back). ``valid``: the cells :func:`gain_loss` counts
    (finite in its layers)."""
    c1 = np.asarray(classes_t1).astype(np.int64)
    c2 = np.asarray(classes_t2).astype(np.int64)
    for c in (c1, c2):
        if c.size and (c.min() < 0 or c.max() > MAX_CLASS):
            raise InputDataError(
                f"land-cover codes of the gain-loss Monte Carlo must be 0-{MAX_CLASS}; got "
                f"{int(c.min())}-{int(c.max())}: reclassify the land cover to byte codes"
            )
    st = np.zeros(c1.shape, np.int64) if state is None else np.asarray(state).astype(np.int64)
    ok = np.asarray(valid, bool)
    if ok.any() and (st[ok].min() < 0 or st[ok].max() >= n_states):
        raise InputDataError(
            f"forest state codes must be 0-{n_states - 1} (the growth-rate table's); got "
            f"{int(st[ok].min())}-{int(st[ok].max())}"
        )
    disturbed = np.zeros(c1.shape, np.int64)
    if loss_year is not None:
        disturbed = booked_loss_year(loss_year, years, loss_year_base)[1].astype(np.int64)
    code = 1 + (((c1 << 8) | c2) * n_states + st) * 2 + disturbed
    return np.where(ok, code, 0)


def decode_strata(codes: npt.ArrayLike, n_states: int) -> pd.DataFrame:
    """The fields (:data:`STRATUM_FIELDS`) of stratum codes of :func:`gain_loss_strata`."""
    k = np.asarray(codes, np.int64) - 1
    disturbed, k = k % 2, k // 2
    state, k = k % n_states, k // n_states
    values = (k >> 8, k & 0xFF, state, disturbed == 1)
    return pd.DataFrame(dict(zip(STRATUM_FIELDS, values, strict=True)))


#: The gain-loss method's own parameters a Monte Carlo can draw (``account.uncertainty.gain_loss``).
GAIN_LOSS_PARAMETERS = ("growth_rates", "root_shoot", "carbon_fraction")


def gain_loss_parameters(
    rates: GrowthRates, root_shoot: float, carbon_fraction: float, specs: Mapping[Any, Any]
) -> dict[str, Parameter]:
    """The method's parameters (:data:`GAIN_LOSS_PARAMETERS`) with their uncertainty from
    ``specs`` (none given: a relative SD of 0, their value in every draw), named
    ``gain_loss.<name>`` so their random streams are their own."""
    means: dict[str, float | np.ndarray] = {
        "growth_rates": rates.rates,
        "root_shoot": root_shoot,
        "carbon_fraction": carbon_fraction,
    }
    return {
        f"gain_loss.{n}": parameter(f"gain_loss.{n}", means[n], specs.get(n, 0.0))
        for n in GAIN_LOSS_PARAMETERS
    }


class GainLossDraws(NamedTuple):
    """Monte Carlo draws of a gain-loss total (Mg CO2e/yr, inventory sign), one value per draw."""

    net: np.ndarray
    removals: np.ndarray
    emissions: np.ndarray


def gain_loss_draws(
    strata: pd.DataFrame,
    area_ha: npt.ArrayLike,
    stock_t1: npt.ArrayLike,
    stock_t2: npt.ArrayLike,
    biomass_t1: npt.ArrayLike,
    rates: GrowthRates,
    rate_factor: npt.ArrayLike,
    root_shoot: npt.ArrayLike,
    carbon_fraction: npt.ArrayLike,
    years: tuple[int, int],
    *,
    grow_converted: bool = False,
) -> GainLossDraws:
    """Draws of the gain-loss totals of :func:`gain_loss` over strata (:func:`gain_loss_strata`).

    For stratum h of area A_h (ha) and draw d:

    - gains (growing strata: same class at both dates, or converted to a growing class with
      ``grow_converted``; not disturbed): A_h × ΔC_G(class, state) with the draw's growth rate
      (the table's rate × ``rate_factor[d, row]``), R and CF (Eq. 2.9, 2.10);
    - losses: max(T1_h − T2_h, 0) for a change of class and T1 biomass B1_h for a disturbed
      stratum, the larger of the two (:func:`gain_loss`), spread over the interval's years, with
      T1_h, T2_h, B1_h the stratum's stock totals (Mg C) in the draw of the stocks' Monte Carlo.

    The totals equal :func:`gain_loss` summed over the cells exactly where the cells of a stratum
    lose in the same direction (true of any model whose stocks depend on the class alone); see
    docs/accounting.md. ``stock_t1``, ``stock_t2``, ``biomass_t1``: (draws, strata) in Mg C;
    ``rate_factor``: (draws, rows of ``rates``); ``root_shoot``, ``carbon_fraction``: (draws,).
    Returns net, removals (≤ 0) and emissions (≥ 0), Mg CO2e/yr.
    """
    n = interval_years(*years)
    s1 = np.asarray(stock_t1, "float64")
    s2 = np.asarray(stock_t2, "float64")
    b1 = np.asarray(biomass_t1, "float64")
    area = np.asarray(area_ha, "float64")
    factor = np.asarray(rate_factor, "float64")
    r = np.broadcast_to(np.asarray(root_shoot, "float64"), (s1.shape[0],))
    cf = np.broadcast_to(np.asarray(carbon_fraction, "float64"), (s1.shape[0],))
    c1 = strata["class_t1"].to_numpy(np.int64)
    c2 = strata["class_t2"].to_numpy(np.int64)
    disturbed = strata["disturbed"].to_numpy(bool)
    growing, grow_class = growth(c1, c2, disturbed, grow_converted)
    state = strata["state"].to_numpy(np.int64)
    want = (s1.shape[0], rates.rates.size)
    if factor.shape != want:
        raise InputDataError(
            f"rate_factor must hold one factor per draw and growth-rate table row, {want}; got "
            f"{factor.shape}"
        )
    # every draw's rates at once: each stratum's table row, the draws' rates of those rows (the
    # table's rate x the draw's factor), then ΔC_G as GrowthRates.carbon_gain computes it per
    # draw, in the same order of operations (the same numbers as a loop over draws)
    dm, c = rates.rates_by_unit(rates.table_rows(grow_class, state), rates.rates * factor)
    per_ha = dm * (1.0 + r)[:, None] * cf[:, None] + c
    weighted = np.where(growing, per_ha, 0.0) * area
    gains = np.array([float(np.sum(row)) for row in weighted])  # each draw's sum as a 1-D sum
    disturbance = np.where(disturbed, np.maximum(b1, 0.0), 0.0)
    losses = loss_total(c1 == c2, s1, s2, disturbance)[1].sum(axis=1) / n
    return GainLossDraws(net=co2e(gains - losses), removals=co2e(gains), emissions=co2e(-losses))
