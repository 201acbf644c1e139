"""Probability distributions of uncertain parameters, drawn through a standard normal (a Gaussian
copula), so parameters that share a source can share a draw whatever their distributions.

Every distribution is stated relative to the parameter's central value (its ``mean``: one number,
or one pool's column of a table): a relative SD, a relative range, relative bounds. A draw maps a
standard normal ``z`` to a value with :meth:`Distribution.values`; two parameters given the same
``z`` are perfectly rank-correlated (IPCC 2006 Vol. 1 Ch. 3, 3.2.3: "correlated inputs").

- ``normal``: ``mean × (1 + rel_sd × z)``. Nothing is clipped: a parameter whose normal puts more
  than :data:`MAX_TAIL` of its draws below ``rel_bounds[0]`` is refused (use a lognormal or a
  truncated normal), so a rare draw below it is kept as drawn and the mean stays unbiased.
- ``lognormal``: positive and right-skewed (IPCC 2006 Vol. 1 3.2.2.4 for large uncertainties of
  positive quantities). From ``rel_sd``: the mean and SD are matched (σ² = ln(1 + cv²),
  μ = ln(mean) − σ²/2). From ``rel_range`` (the 2.5th and 97.5th percentiles as multiples of the
  mean, e.g. an IPCC range): σ = ln(hi/lo) / (2 × 1.96), median = mean × √(lo × hi).
- ``truncnormal``: the normal of ``rel_sd`` restricted to ``rel_bounds`` (redrawn, not clipped:
  no mass piles up at a bound; the mean moves inward by the truncated tail).
- ``triangular``: minimum ``mean × rel_range[0]``, mode ``mean``, maximum ``mean × rel_range[1]``
  (an IPCC range read as the extremes, e.g. 120–680 around 280 is ``rel_range: [0.43, 2.43]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sinkmap.errors import InputDataError

Kind = Literal["normal", "lognormal", "truncnormal", "triangular"]
KINDS: tuple[str, ...] = ("normal", "lognormal", "truncnormal", "triangular")

#: Largest share of a normal's draws allowed below its lower bound before it is refused.
MAX_TAIL = 1e-3
#: Standard normal quantile of 97.5 %: a 95 % range spans ± this many σ. SciPy's
#: ``scipy.special.ndtri(0.975)``, written out (a test compares them): the Snakefile's checks and
#: the jobs that draw only normal and lognormal parameters then start without SciPy.
Z975 = 1.959963984540054


def _phi(x: float) -> float:
    """The standard normal CDF of one number (the refusal of too wide a normal needs no array)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@dataclass(frozen=True)
class Distribution:
    """The shape of a parameter's uncertainty, relative to its central value (see module doc)."""

    kind: Kind = "normal"
    rel_sd: float = 0.0
    rel_range: tuple[float, float] | None = None
    rel_bounds: tuple[float, float] = (0.0, float("inf"))

    def check(self, name: str) -> None:
        """An error naming the fix when the distribution cannot be drawn as stated."""
        lo, hi = self.rel_bounds
        if not lo < hi:
            raise InputDataError(f"parameter {name!r}: rel_bounds {self.rel_bounds} must rise")
        if self.kind not in KINDS:
            raise InputDataError(f"parameter {name!r}: distribution {self.kind!r} not in {KINDS}")
        if self.rel_sd < 0:
            raise InputDataError(f"parameter {name!r}: rel_sd {self.rel_sd} must be >= 0")
        if self.kind == "triangular" or (self.kind == "lognormal" and self.rel_range):
            r = self.rel_range
            if r is None or not 0 < r[0] <= 1 <= r[1] or r[0] == r[1]:
                raise InputDataError(
                    f"parameter {name!r}: a {self.kind} needs rel_range [lo, hi] with "
                    f"0 < lo <= 1 <= hi (multiples of the central value), got {r}"
                )
        if self.kind == "normal" and self.rel_sd > 0:
            tail = _phi((lo - 1.0) / self.rel_sd) + _phi((1.0 - hi) / self.rel_sd)
            if tail > MAX_TAIL:
                raise InputDataError(
                    f"parameter {name!r}: a normal with relative SD {self.rel_sd:g} puts "
                    f"{tail:.2%} of its draws outside {list(self.rel_bounds)} x the value; "
                    "give it distribution: lognormal (positive, skewed) or truncnormal "
                    "(with rel_bounds), or a smaller rel_sd"
                )
        if self.kind == "truncnormal" and self.rel_sd == 0:
            raise InputDataError(f"parameter {name!r}: a truncnormal needs rel_sd > 0")
        if self.kind == "truncnormal" and not lo < 1.0 < hi:
            raise InputDataError(
                f"parameter {name!r}: a truncnormal's rel_bounds {list(self.rel_bounds)} must "
                "contain the value (1): lower < 1 < upper"
            )

    def values(self, mean: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Draws of a parameter of central value ``mean`` from standard normals ``z``
        (broadcast: ``z`` (draws, …) against ``mean`` (…))."""
        mean = np.asarray(mean, "float64")
        z = np.asarray(z, "float64")
        if self.kind == "normal":
            return mean * (1.0 + self.rel_sd * z)
        if self.kind == "lognormal":
            if self.rel_range:
                lo, hi = self.rel_range
                sigma = np.log(hi / lo) / (2 * Z975)
                return mean * np.sqrt(lo * hi) * np.exp(sigma * z)
            s2 = np.log1p(self.rel_sd**2)
            return mean * np.exp(np.sqrt(s2) * z - s2 / 2)
        from scipy.special import ndtr, ndtri  # the two kinds drawn through the normal's CDF

        u = ndtr(z)
        if self.kind == "truncnormal":
            lo, hi = ((b - 1.0) / self.rel_sd for b in self.rel_bounds)
            a, b = ndtr(lo), ndtr(hi)
            q = np.clip(a + u * (b - a), 1e-300, 1 - 1e-16)  # strictly inside (0, 1)
            return mean * (1.0 + self.rel_sd * ndtri(q))
        assert self.rel_range is not None  # triangular, checked
        lo, hi = self.rel_range
        f_mode = (1.0 - lo) / (hi - lo)
        rel = np.where(
            u < f_mode,
            lo + np.sqrt(u * (hi - lo) * (1.0 - lo)),
            hi - np.sqrt((1.0 - u) * (hi - lo) * (hi - 1.0)),
        )
        return mean * rel

    def moments(self) -> tuple[float, float]:
        """Mean and SD of a draw relative to the central value (closed forms; for tests and docs)."""
        if self.kind == "normal":
            return 1.0, self.rel_sd
        if self.kind == "lognormal":
            if self.rel_range:
                lo, hi = self.rel_range
                s = np.log(hi / lo) / (2 * Z975)
                m = np.sqrt(lo * hi) * np.exp(s * s / 2)
                return float(m), float(m * np.sqrt(np.expm1(s * s)))
            return 1.0, self.rel_sd
        if self.kind == "truncnormal":
            from scipy.special import ndtr

            a, b = ((x - 1.0) / self.rel_sd for x in self.rel_bounds)
            za = ndtr(a)
            zb = ndtr(b)
            pa, pb = _pdf(a), _pdf(b)
            d = zb - za
            mu = (pa - pb) / d
            var = 1 + (_times(a, pa) - _times(b, pb)) / d - mu * mu
            return float(1 + self.rel_sd * mu), float(self.rel_sd * np.sqrt(var))
        assert self.rel_range is not None
        lo, hi = self.rel_range
        c = 1.0
        m = (lo + c + hi) / 3
        var = (lo * lo + c * c + hi * hi - lo * c - lo * hi - c * hi) / 18
        return float(m), float(np.sqrt(var))


def _pdf(x: float) -> float:
    return 0.0 if not np.isfinite(x) else float(np.exp(-x * x / 2) / np.sqrt(2 * np.pi))


def _times(x: float, p: float) -> float:
    return 0.0 if not np.isfinite(x) else x * p
