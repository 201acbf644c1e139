"""Sample design, accuracy and area estimation of a (change) map from a reference sample.

Arrays and tables only. The estimators are those of a stratified random sample (Cochran 1977,
Ch. 5-6) as written for map accuracy by Stehman (2014, Int. J. Remote Sens. 35:4923-4939): every
quantity is the estimated proportion of area of an indicator ``y`` (or a ratio of two), so the
same code serves strata that are the map classes (where it reduces to Olofsson et al. 2014,
Remote Sens. Environ. 148:42-57, Eqs. 2-11) and strata that differ from the map classes (e.g.
after change filtering).

Notation: stratum ``h`` with area weight ``W_h = A_h / A`` and ``n_h`` sample units; a unit ``u``
has its stratum, its map class ``m(u)`` and its reference class ``r(u)``.

- proportion of area with ``y``:   p̂ = Σ_h W_h ȳ_h
- its variance:                    V̂(p̂) = Σ_h W_h² (1 − f_h) s²_yh / n_h
- a ratio ``R = p_y / p_x``:       R̂ = p̂_y / p̂_x,
                                   V̂(R̂) = Σ_h W_h² (1 − f_h)(s²_yh + R̂² s²_xh − 2 R̂ s_xyh) / n_h / p̂_x²

with ``s²`` the sample variances (ddof 1) within the stratum, and ``f_h = n_h / N_h`` when the
finite population correction is asked for (off by default, as in Olofsson et al. 2014). Cell
``(i, j)`` of the error matrix is ``y = [m = i and r = j]``; the area of class ``j`` is ``A`` times
the proportion of ``y = [r = j]``; user's accuracy of ``i`` is the ratio ``[m = i, r = i] / [m = i]``,
producer's of ``j`` is ``[m = j, r = j] / [r = j]``, overall accuracy the proportion of ``[m = r]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sinkmap.contract import ADJUSTED_QUANTILES
from sinkmap.errors import InputDataError
from sinkmap.legends import IPCC_CATEGORY_CODES

#: Change-stratum codes (legend ``change_stratum``).
STABLE_FOREST, STABLE_PLANTATION, FOREST_LOSS, FOREST_GAIN, STABLE_NONFOREST = 1, 2, 3, 4, 5
_FOREST = IPCC_CATEGORY_CODES["Forest land"]

#: Two-sided 95 % normal quantile (Olofsson et al. 2014 use 1.96).
Z95 = 1.96


def change_strata(
    category0: np.ndarray,
    category1: np.ndarray,
    plantation1: np.ndarray | None = None,
) -> np.ndarray:
    """The change stratum of each cell of an interval from its IPCC land category (codes of
    ``legends.IPCC_CATEGORY``, 0 = no data) at the start and the end: stable forest, forest loss
    (Forest land → another category), forest gain (→ Forest land), stable non-forest; where
    ``plantation1`` (boolean) marks plantation strata at the end, stable forest that is plantation
    is its own stratum. uint8, 0 where either year has no data."""
    c0 = np.asarray(category0)
    c1 = np.asarray(category1)
    f0, f1 = c0 == _FOREST, c1 == _FOREST
    out = np.full(c0.shape, STABLE_NONFOREST, dtype=np.uint8)
    out[f0 & f1] = STABLE_FOREST
    if plantation1 is not None:
        out[f0 & f1 & np.asarray(plantation1, dtype=bool)] = STABLE_PLANTATION
    out[f0 & ~f1] = FOREST_LOSS
    out[~f0 & f1] = FOREST_GAIN
    out[(c0 == 0) | (c1 == 0)] = 0
    return out


def sample_size(weights: Sequence[float], expected_users: Sequence[float], target_se: float) -> int:
    """Total sample size of a stratified random sample for a target standard error of overall
    accuracy (Olofsson et al. 2014, Eq. 13; Cochran 1977, Eq. 5.25, without the finite population
    correction): ``n = (Σ_h W_h S_h / S(Ô))²`` with ``S_h = sqrt(U_h (1 − U_h))`` from the
    conjectured user's accuracy ``U_h`` of each stratum. Rounded up."""
    w = np.asarray(weights, dtype=float)
    u = np.asarray(expected_users, dtype=float)
    if w.shape != u.shape:
        raise InputDataError("sample_size: one expected user's accuracy per stratum")
    if not 0 < target_se < 1:
        raise InputDataError(f"target standard error {target_se} must be in (0, 1), e.g. 0.01")
    if np.any((u <= 0) | (u > 1)):
        raise InputDataError("expected user's accuracies must be in (0, 1]")
    total = float(np.sum(w * np.sqrt(u * (1.0 - u))) / target_se) ** 2
    return max(int(np.ceil(total - 1e-9)), 1)


def allocate(
    n_total: int,
    weights: Sequence[float],
    *,
    minimum: int = 0,
    available: Sequence[int] | None = None,
) -> np.ndarray:
    """Sample sizes per stratum: proportional to area (largest remainders), then every stratum
    below ``minimum`` raised to it, the units this adds taken proportionally from the strata
    above it (the "proportional, with a minimum for the rare strata" allocation of Olofsson et
    al. 2014, §5.1.1), and no stratum given more units than it has pixels (``available``). The
    total can exceed ``n_total`` when the minimums alone exceed it."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        raise InputDataError("allocate: the strata have no area")
    w = w / w.sum()
    cap = np.full(w.shape, np.iinfo(np.int64).max) if available is None else np.asarray(available)
    n = _largest_remainder(n_total, w)
    floor = np.minimum(np.where(w > 0, minimum, 0), cap)
    low = n < floor
    if low.any():
        n = np.where(low, floor, 0)
        rest = max(n_total - int(n.sum()), 0)
        if (~low).any() and w[~low].sum() > 0:
            n[~low] = _largest_remainder(rest, w[~low] / w[~low].sum())
        n = np.maximum(n, floor)
    return np.minimum(n, cap).astype(np.int64)


def _largest_remainder(n: int, w: np.ndarray) -> np.ndarray:
    exact = n * w
    base = np.floor(exact).astype(np.int64)
    short = n - int(base.sum())
    if short > 0:
        order = np.argsort(-(exact - base), kind="stable")
        base[order[:short]] += 1
    return base


@dataclass(frozen=True)
class Estimate:
    """An estimate and its standard error."""

    value: float
    se: float

    @property
    def half_width(self) -> float:
        """Half-width of the 95 % confidence interval."""
        return Z95 * self.se


class StratifiedSample:
    """A stratified random sample: each unit's stratum, map class and reference class, and the
    strata's area weights (and pixel counts, for the finite population correction)."""

    def __init__(
        self,
        stratum: Sequence[object],
        map_class: Sequence[object],
        ref_class: Sequence[object],
        weights: Mapping[object, float],
        *,
        population: Mapping[object, int] | None = None,
    ) -> None:
        self.stratum = np.asarray(stratum, dtype=object)
        self.map_class = np.asarray(map_class, dtype=object)
        self.ref_class = np.asarray(ref_class, dtype=object)
        if not (len(self.stratum) == len(self.map_class) == len(self.ref_class)):
            raise InputDataError("the sample's stratum, map and reference columns differ in length")
        total = float(sum(weights.values()))
        self.weights = {h: float(w) / total for h, w in weights.items()}
        unknown = sorted({str(h) for h in self.stratum} - {str(h) for h in self.weights})
        if unknown:
            raise InputDataError(
                f"sample units in strata {unknown} that the strata table does not have; "
                "use the strata table written with the sample"
            )
        self.strata = [h for h in self.weights if self.weights[h] > 0]
        self.counts = {h: int(np.sum(self.stratum == h)) for h in self.strata}
        thin = [str(h) for h in self.strata if self.counts[h] < 2]
        if thin:
            raise InputDataError(
                f"strata {thin} have fewer than 2 sample units, so their variance cannot be "
                "estimated; interpret more units in them (or merge them into another stratum)"
            )
        self.population = dict(population) if population else None

    def _fpc(self, h: object) -> float:
        if self.population is None:
            return 1.0
        return 1.0 - self.counts[h] / self.population[h]

    def proportion(self, y: np.ndarray) -> Estimate:
        """Estimated proportion of area where the indicator ``y`` (one value per unit) is 1."""
        value = var = 0.0
        for h in self.strata:
            yh = y[self.stratum == h].astype(float)
            w = self.weights[h]
            value += w * yh.mean()
            var += w * w * self._fpc(h) * yh.var(ddof=1) / len(yh)
        return Estimate(value, float(np.sqrt(var)))

    def ratio(self, y: np.ndarray, x: np.ndarray) -> Estimate:
        """Estimated ratio of the area proportions of ``y`` and ``x`` (NaN where ``x`` has no area)."""
        py = self.proportion(y).value
        px = self.proportion(x).value
        if px <= 0:
            return Estimate(float("nan"), float("nan"))
        r = py / px
        var = 0.0
        for h in self.strata:
            sel = self.stratum == h
            yh, xh = y[sel].astype(float), x[sel].astype(float)
            w = self.weights[h]
            cov = np.cov(yh, xh, ddof=1)
            s2 = cov[0, 0] + r * r * cov[1, 1] - 2 * r * cov[0, 1]
            var += w * w * self._fpc(h) * s2 / len(yh)
        return Estimate(r, float(np.sqrt(max(var, 0.0)) / px))

    def classes(self) -> list[object]:
        """The classes met in the map or reference columns, strata order first."""
        seen: list[object] = []
        for c in [*self.strata, *self.map_class, *self.ref_class]:
            if c not in seen:
                seen.append(c)
        return seen


@dataclass(frozen=True)
class Assessment:
    """The error matrix in area proportions, per-class accuracies and areas, overall accuracy."""

    matrix: pd.DataFrame  # map class (rows) x reference class (columns), p̂_ij
    classes: pd.DataFrame  # per class: accuracies, areas and their standard errors
    overall: Estimate
    total_area: float


def assess(
    sample: StratifiedSample,
    *,
    total_area: float,
    mapped_area: Mapping[object, float] | None = None,
    classes: Iterable[object] | None = None,
) -> Assessment:
    """Error matrix, user's, producer's and overall accuracy and area-adjusted areas (with standard
    errors and 95 % intervals) of every class, from a stratified sample over ``total_area``."""
    names = list(classes) if classes is not None else sample.classes()
    m, r = sample.map_class, sample.ref_class
    matrix = pd.DataFrame(
        [[sample.proportion((m == i) & (r == j)).value for j in names] for i in names],
        index=pd.Index(names, name="map_class"),
        columns=pd.Index(names, name="reference_class"),
    )
    rows = []
    for c in names:
        hit = (m == c) & (r == c)
        users = sample.ratio(hit, m == c)
        producers = sample.ratio(hit, r == c)
        area = sample.proportion(r == c)
        adjusted = area.value * total_area
        half = area.half_width * total_area
        rows.append(
            {
                "class": c,
                "mapped_area": None if mapped_area is None else mapped_area.get(c, 0.0),
                "sample_units": int(np.sum(m == c)),
                "users_accuracy": users.value,
                "users_accuracy_se": users.se,
                "users_accuracy_ci95": users.half_width,
                "producers_accuracy": producers.value,
                "producers_accuracy_se": producers.se,
                "producers_accuracy_ci95": producers.half_width,
                "adjusted_proportion": area.value,
                "adjusted_area": adjusted,
                "adjusted_area_se": area.se * total_area,
                "adjusted_area_ci95": half,
                "adjusted_area_low": adjusted - half,
                "adjusted_area_high": adjusted + half,
            }
        )
    overall = sample.proportion(m == r)
    return Assessment(matrix, pd.DataFrame(rows), overall, float(total_area))


def adjusted_flux(
    sample: StratifiedSample,
    *,
    total_area: float,
    factors: Mapping[Any, float],
    mapped_flux: Mapping[Any, float] | None = None,
    draws: int = 1000,
    seed: int = 0,
    factor_draws: Mapping[Any, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Fluxes from area-adjusted activity data: the flux per hectare of each map class (its
    "emission factor", Mg CO2e/ha/yr: the map's flux over the class divided by its mapped area)
    times the area-adjusted area of the class (IPCC: emission factor × activity data).

    The sampling uncertainty of the areas is propagated by drawing each stratum's reference
    counts from a multinomial with the observed proportions (the stratified bootstrap: resampling
    the units of each stratum with replacement), ``draws`` times. With ``factor_draws`` (class →
    the factor's Monte Carlo draws, e.g. from the stocks' Monte Carlo over each stratum), draw d
    multiplies the d-th area draw by the d-th factor draw, so both sources enter the interval
    (they are independent: the sample does not depend on the parameters); without, the factors
    are held at their values. The 2.5th, 5th, 95th and 97.5th percentiles (95 % and 90 %
    intervals) of each class's area and flux and of the total are given.
    Rows: one per class of ``factors``, then ``total``."""
    classes = list(factors)
    ef = np.array([float(factors[c]) for c in classes])
    if factor_draws is not None:
        ef_d = np.stack([np.asarray(factor_draws[c], "float64") for c in classes], axis=1)
        draws = ef_d.shape[0]
    else:
        ef_d = np.broadcast_to(ef, (draws, len(classes)))
    rng = np.random.default_rng(seed)
    props = np.zeros((draws, len(classes)))
    point = np.zeros(len(classes))
    for h in sample.strata:
        sel = sample.stratum == h
        n = int(sel.sum())
        ref = sample.ref_class[sel]
        q = np.array([np.mean(ref == c) for c in classes])
        w = sample.weights[h]
        point += w * q
        # reference classes without a factor form one more category of the draw
        full = np.append(q, max(1.0 - q.sum(), 0.0))
        counts = rng.multinomial(n, full / full.sum(), size=draws)[:, :-1]
        props += w * counts / n
    areas = props * total_area
    fluxes = areas * ef_d

    def pct(x: np.ndarray) -> dict[str, float]:
        q = np.quantile(x, list(ADJUSTED_QUANTILES.values()))
        return dict(zip(ADJUSTED_QUANTILES, map(float, q), strict=True))

    rows = []
    for i, c in enumerate(classes):
        a, f = pct(areas[:, i]), pct(fluxes[:, i])
        rows.append(
            {
                "class": c,
                "flux_per_ha": ef[i],
                "mapped_flux": None if mapped_flux is None else mapped_flux.get(c),
                "adjusted_area": point[i] * total_area,
                **{f"adjusted_area_{k}": v for k, v in a.items()},
                "adjusted_flux": point[i] * total_area * ef[i],
                **{f"adjusted_flux_{k}": v for k, v in f.items()},
            }
        )
    total = pct(fluxes.sum(axis=1))
    rows.append(
        {
            "class": "total",
            "flux_per_ha": None,
            "mapped_flux": None if mapped_flux is None else float(sum(mapped_flux.values())),
            "adjusted_area": total_area * float(point.sum()),
            **{f"adjusted_area_{k}": None for k in total},
            "adjusted_flux": float(np.sum(point * total_area * ef)),
            **{f"adjusted_flux_{k}": v for k, v in total.items()},
        }
    )
    return pd.DataFrame(rows)


def draw_positions(
    blocks: Iterable[np.ndarray],
    sizes: Mapping[int, int],
    counts: Mapping[int, int],
    rng: np.random.Generator,
) -> dict[int, list[tuple[int, int]]]:
    """A simple random sample without replacement inside each stratum, drawn over blocks read one
    at a time: stratum ``h`` (a code of the blocks) gets ``sizes[h]`` of its ``counts[h]`` cells.

    The ranks are drawn first (``rng.choice`` per stratum, strata in ascending code order), then
    the blocks are scanned in the order given, cells in C order inside a block, and the cell of
    each drawn rank is recorded as ``(block index, flat index in the block)``. Memory is one block
    and the sample; the result depends only on the seed, the counts and the block order."""
    ranks: dict[int, np.ndarray] = {}
    for h in sorted(sizes):
        n, big_n = int(sizes[h]), int(counts.get(h, 0))
        if n > big_n:
            raise InputDataError(f"stratum {h}: {n} sample units asked, {big_n} cells exist")
        ranks[h] = np.sort(rng.choice(big_n, size=n, replace=False)) if n else np.empty(0, int)
    seen = dict.fromkeys(ranks, 0)
    out: dict[int, list[tuple[int, int]]] = {h: [] for h in ranks}
    for b, block in enumerate(blocks):
        flat = np.asarray(block).ravel()
        for h, rk in ranks.items():
            lo = seen[h]
            if not len(rk) or rk[-1] < lo:
                continue
            where = np.flatnonzero(flat == h)
            hi = lo + len(where)
            pick = rk[(rk >= lo) & (rk < hi)] - lo
            out[h].extend((b, int(i)) for i in where[pick])
            seen[h] = hi
    short = {h: (len(out[h]), len(ranks[h])) for h in ranks if len(out[h]) != len(ranks[h])}
    if short:
        raise InputDataError(
            f"the blocks hold fewer cells than counted for strata {short}; the strata layer "
            "changed between counting and drawing: draw the sample again"
        )
    return out
