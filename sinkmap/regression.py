"""Least-squares fits of a calibration's forms (power, exponential, linear) and their k-fold
cross-validation: arrays in, numbers out. The log forms are fitted on the logs and
back-transformed with the Baskerville (1972) correction. Used by :mod:`sinkmap.calibrate`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from sinkmap.errors import InputDataError

log = logging.getLogger("sinkmap.calibrate")

#: The fitted equation of each form (V the predictor).
EQUATIONS: dict[str, str] = {
    "power": "AGB = a * V^b",
    "exponential": "AGB = a * exp(b * V)",
    "linear": "AGB = max(0, a + b * V)",
}
#: Forms fitted on the log of AGB (back-transformed with the Baskerville correction).
LOG_FORMS = ("power", "exponential")


# -- the fit -------------------------------------------------------------------------------------
def _design(x: np.ndarray, form: str) -> np.ndarray:
    return np.log(x) if form == "power" else np.asarray(x, dtype=np.float64)


def _response(y: np.ndarray, form: str) -> np.ndarray:
    return np.log(y) if form in LOG_FORMS else np.asarray(y, dtype=np.float64)


@dataclass(frozen=True)
class Fit:
    """A least-squares fit of one form. For the log forms, ``a`` is bias-corrected."""

    form: str
    n: int
    intercept: float  # ln a (log forms) or a (linear), as fitted
    b: float
    sigma: float  # residual standard error, on the regression's scale (ln AGB or Mg/ha)
    se_intercept: float
    se_b: float
    r2: float  # of the regression, on its own scale

    @property
    def bias_correction(self) -> float:
        """exp(σ²/2) for the log forms (Baskerville 1972), 1 for the linear form."""
        return math.exp(self.sigma**2 / 2.0) if self.form in LOG_FORMS else 1.0

    @property
    def a_uncorrected(self) -> float:
        """exp(ln a): predicts the median AGB (log forms); a itself for the linear form."""
        return math.exp(self.intercept) if self.form in LOG_FORMS else self.intercept

    @property
    def a(self) -> float:
        """a with the bias correction applied: predicts the mean AGB."""
        return self.a_uncorrected * self.bias_correction

    def predict(self, x: np.ndarray) -> np.ndarray:
        """AGB (Mg/ha) by the same equation the model uses."""
        from sinkmap.models.spectral import spectral_agb

        return spectral_agb(np.asarray(x, dtype=np.float64), self.a, self.b, self.form)

    def predict_fit_scale(self, x: np.ndarray) -> np.ndarray:
        """The regression's prediction on its own scale (ln AGB for log forms, uncorrected)."""
        return self.intercept + self.b * _design(x, self.form)


def fit_form(x: np.ndarray, y: np.ndarray, form: str) -> Fit:
    """Least-squares fit of ``form`` to predictor ``x`` and AGB ``y`` (Mg/ha)."""
    if form not in EQUATIONS:
        raise InputDataError(f"unknown form {form!r}; use one of {sorted(EQUATIONS)}")
    X, Y = _design(np.asarray(x, float), form), _response(np.asarray(y, float), form)
    n = X.size
    if n < 2:
        raise InputDataError(f"a fit needs at least 2 plots, got {n}")
    xm, ym = X.mean(), Y.mean()
    sxx = float(np.sum((X - xm) ** 2))
    if sxx <= 0:
        raise InputDataError(
            f"all {n} plots have the same predictor value ({float(x[0]):g}), so b cannot be "
            "fitted; add plots spanning a range of the predictor"
        )
    b = float(np.sum((X - xm) * (Y - ym)) / sxx)
    c = float(ym - b * xm)
    resid = Y - (c + b * X)
    ssr = float(np.sum(resid**2))
    sst = float(np.sum((Y - ym) ** 2))
    s2 = ssr / (n - 2) if n > 2 else 0.0
    return Fit(
        form=form,
        n=n,
        intercept=c,
        b=b,
        sigma=math.sqrt(s2),
        se_intercept=math.sqrt(s2 * (1.0 / n + xm**2 / sxx)),
        se_b=math.sqrt(s2 / sxx),
        r2=1.0 - ssr / sst if sst > 0 else float("nan"),
    )


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold predictions and their errors (AGB in Mg/ha)."""

    k: int
    seed: int
    fold: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    rmse: float
    bias: float  # mean(predicted - observed)
    r2: float  # 1 - SS_res / SS_tot of the held-out predictions
    rmse_fit_scale: float  # RMSE of ln AGB (log forms, uncorrected) or of AGB (linear)

    @property
    def relative_rmse(self) -> float:
        """RMSE as a fraction of the mean observed AGB."""
        return self.rmse / float(np.mean(self.observed))


def folds(n: int, k: int, seed: int) -> np.ndarray:
    """Fold number (0 … k-1) of each of ``n`` plots: a seeded random permutation split in k."""
    fold = np.empty(n, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    for i, part in enumerate(np.array_split(perm, k)):
        fold[part] = i
    return fold


def cross_validate(
    x: np.ndarray, y: np.ndarray, form: str, *, k: int, seed: int
) -> CrossValidation:
    """k-fold cross-validation of :func:`fit_form` (k is capped at n: leave-one-out)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if k < 2:
        raise InputDataError(f"k-fold cross-validation needs k >= 2, got {k}; use --k 5")
    if k > n:
        log.warning("k=%d exceeds the %d usable plots; using leave-one-out (k=%d)", k, n, n)
        k = n
    fold = folds(n, k, seed)
    smallest_train = n - int(np.bincount(fold).max())
    if smallest_train < 2:
        raise InputDataError(
            f"with {n} plots and k={k}, a fold leaves only {smallest_train} plot to fit; "
            f"use --k {n} (leave-one-out) or add plots"
        )
    pred = np.full(n, np.nan)
    pred_fit = np.full(n, np.nan)
    for i in range(k):
        test = fold == i
        try:
            f = fit_form(x[~test], y[~test], form)
        except InputDataError as exc:
            raise InputDataError(
                f"cross-validation fold {i + 1} of {k} cannot be fitted: {exc}; try another --seed"
            ) from exc
        pred[test] = f.predict(x[test])
        pred_fit[test] = f.predict_fit_scale(x[test])
    err = pred - y
    sst = float(np.sum((y - y.mean()) ** 2))
    return CrossValidation(
        k=k,
        seed=seed,
        fold=fold,
        predicted=pred,
        observed=y,
        rmse=float(np.sqrt(np.mean(err**2))),
        bias=float(np.mean(err)),
        r2=1.0 - float(np.sum(err**2)) / sst if sst > 0 else float("nan"),
        rmse_fit_scale=float(np.sqrt(np.mean((pred_fit - _response(y, form)) ** 2))),
    )
