"""Spectral regression model: AGB from an annual vegetation index (e.g. NDVI), then biomass pools.

Per cell, with V the index (dimensionless, in [-1, 1] after ``scale``) and a, b global or per
land-cover class, in one of three documented forms (``form``):

    exponential (default)   AGB = a × exp(b × V)                       a > 0
    power                   AGB = a × V^b  for V > 0,  0 for V ≤ 0     a > 0
    linear                  AGB = max(0, a + b × V)

AGB is in Mg dry matter/ha; NaN where V is NaN. The exponential form never reaches 0: cells with
V ≤ 0 (water, bare soil) get a small positive AGB a·exp(b·V); use per-class coefficients with
a tiny a, or the power form, if that matters. The four pools follow from AGB exactly as in the
biomass model (:class:`sinkmap.models.biomass.BiomassModel`, which this model calls).

The exponential and power forms are fitted by least squares on ln AGB (``sinkmap calibrate --model
spectral --form …``), with the Baskerville bias correction applied to a; the linear form by
ordinary least squares on AGB.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sinkmap.errors import InputDataError
from sinkmap.models.biomass import BiomassModel, BiomassParams
from sinkmap.models.height import CoefficientParams, PoolsFromAGB, power_law

#: The functional forms, by name, as written in docs and coefficients files.
FORMS: dict[str, str] = {
    "exponential": "AGB = a * exp(b * V)",
    "power": "AGB = a * V^b (V > 0; 0 otherwise)",
    "linear": "AGB = max(0, a + b * V)",
}
#: Tolerance on |V| ≤ 1 (rounding in stored products).
_INDEX_SLACK = 1e-6


class SpectralParams(BiomassParams, CoefficientParams):
    form: Literal["exponential", "power", "linear"] = Field(
        "exponential",
        description="Functional form: exponential a*exp(b*V), power a*V^b, or linear a + b*V.",
    )
    scale: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="Multiplier turning the raster's values into the index (e.g. 0.0001 for MODIS NDVI x 10000).",
    )

    @model_validator(mode="after")
    def _positive_a(self) -> SpectralParams:
        if self.form == "linear":
            return self
        pairs = [("a", self.a)] + [
            (f"coefficients.{c}.a", v.a) for c, v in (self.coefficients or {}).items()
        ]
        for key, a in pairs:
            if a is not None and a <= 0:
                raise ValueError(f"{key} must be > 0 in the {self.form} form (got {a})")
        return self


def spectral_agb(
    v: np.ndarray, a: np.ndarray | float, b: np.ndarray | float, form: str
) -> np.ndarray:
    """AGB (Mg/ha, float64) from index ``v`` in the given form; NaN where ``v`` is NaN."""
    v = np.asarray(v, dtype=np.float64)
    finite = np.isfinite(v)
    if form == "power":
        return power_law(v, a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        if form == "exponential":
            y = np.asarray(a) * np.exp(np.asarray(b) * np.where(finite, v, 0.0))
        elif form == "linear":
            y = np.maximum(np.asarray(a) + np.asarray(b) * np.where(finite, v, 0.0), 0.0)
        else:
            raise ValueError(f"unknown form {form!r}; use one of {sorted(FORMS)}")
    return np.where(finite, y, np.nan)


class SpectralRegressionModel(PoolsFromAGB):
    """AGB from an annual index (NDVI) by an exponential, power or linear form; pools as `biomass`."""

    name = "spectral"
    inputs = ("ndvi", "land_cover")
    Params = SpectralParams
    citation = (
        "AGB regressed on an annual vegetation index (exponential, power or linear form; see "
        "Lu 2006, Int. J. Remote Sens. 27:1297 for the approach), coefficients fitted to field "
        "plots (sinkmap calibrate); pools: " + BiomassModel.citation
    )
    predictor = "ndvi"
    params: SpectralParams

    def __init__(self, params: SpectralParams) -> None:
        self.form = params.form
        super().__init__(params)

    @property
    def positive_a(self) -> bool:
        return self.form != "linear"

    def agb(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64) * self.params.scale
        finite = np.isfinite(v)
        if finite.any():
            worst = float(np.max(np.abs(v[finite])))
            if worst > 1.0 + _INDEX_SLACK:
                raise InputDataError(
                    f"input 'ndvi' has values up to {worst:g} in magnitude, outside the index range "
                    "[-1, 1]; if the product stores the index scaled (e.g. NDVI x 10000), set "
                    f"model.params.scale (e.g. {10.0 ** -np.ceil(np.log10(worst)):g})"
                )
        active = finite if self.form != "power" else finite & (v > 0)
        a, b = self.coefficients.arrays(classes, active)
        return spectral_agb(v, a, b, str(self.form))


__all__ = ["FORMS", "SpectralParams", "SpectralRegressionModel", "spectral_agb"]
