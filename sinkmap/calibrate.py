"""Calibrate a pixel model's coefficients against field plots (``sinkmap calibrate``).

1. Read the plot table (CSV): tree lists (``plot_id, dbh_cm, [height_m], wood_density,
   plot_area_ha`` and coordinates) or plot-level biomass (``plot_id, agb_mg_ha`` and
   coordinates). Coordinates are ``lon, lat`` (WGS84 degrees) or ``x, y`` with a ``crs``.
2. Tree lists: tree AGB by Chave et al. (2014) Eq. 4; a missing height is estimated by Eq. 6a
   from the diameter and the environmental stress E (an ``e`` column or the ``e`` argument);
   plot AGB = Σ tree AGB / area (:mod:`sinkmap.allometry`).
3. Sample the predictor raster (canopy height, or an index) at each plot centre, in any CRS.
4. Fit the model's form: ln AGB = ln a + b ln H for ``height_allometry`` (ordinary least squares
   on the logs), back-transformed with the Baskerville (1972) correction a = exp(ln a)·exp(σ²/2).
5. k-fold cross-validation (seeded folds): RMSE, bias and R² of AGB (Mg/ha) on held-out plots.
6. Write a YAML parameter file for ``model.params.coefficients_file`` with the fit, the CV
   metrics and provenance (the plot file's sha256, counts, every bad row; no date).

Rows that cannot be used — a missing or impossible diameter, height or wood density, coordinates
outside the raster or the AOI, no predictor data at the plot — are reported with their CSV line
numbers (in the result, the log and the parameter file), never silently dropped. A tree list
with a bad tree excludes the whole plot (dropping the tree would understate the plot's AGB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sinkmap import __version__
from sinkmap.constants import FORMS_BY_MODEL
from sinkmap.errors import InputDataError
from sinkmap.field_plots import (
    BadRow,
    Plot,
    PlotTable,
    RasterInfo,
    outside_aoi,
    read_plots,
    sample_raster,
    sorted_bad_rows,
)
from sinkmap.files import atomic_path
from sinkmap.regression import (
    EQUATIONS,
    LOG_FORMS,
    CrossValidation,
    Fit,
    cross_validate,
    fit_form,
    folds,
)

log = logging.getLogger("sinkmap.calibrate")

#: Fewest usable plots a fit accepts (two coefficients and a residual variance).
MIN_PLOTS = 3
#: The regression actually solved for each form.
REGRESSIONS: dict[str, str] = {
    "power": "ordinary least squares of ln AGB on ln V",
    "exponential": "ordinary least squares of ln AGB on V",
    "linear": "ordinary least squares of AGB on V",
}
#: What the predictor is, by model (for messages and the parameter file).
PREDICTORS: dict[str, tuple[str, str]] = {
    "height_allometry": ("canopy height", "m"),
    "spectral": ("index", "dimensionless"),
}


# -- the whole calibration -----------------------------------------------------------------------
def _r(v: float, digits: int = 6) -> float:
    """A float for the parameter file: 6 significant digits, plain Python float."""
    return float(f"{v:.{digits}g}")


@dataclass(frozen=True)
class CalibrationResult:
    """Fit, cross-validation, the plots used and the rows not used, with provenance."""

    model: str
    form: str
    fit: Fit
    cv: CrossValidation
    plots: pd.DataFrame
    bad_rows: list[BadRow]
    table: PlotTable
    raster: RasterInfo
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def a(self) -> float:
        return self.fit.a

    @property
    def b(self) -> float:
        return self.fit.b

    @property
    def bad_lines(self) -> list[int]:
        """Every CSV line that did not go into the fit."""
        return sorted({n for r in self.bad_rows for n in r.lines})

    def _named(self, text: str) -> str:
        """``text`` with the predictor V named H for the height model."""
        return text.replace(" V", " H") if self.model == "height_allometry" else text

    def parameters(self) -> dict[str, Any]:
        """The parameter file's content (``model.params.coefficients_file``)."""
        f, cv = self.fit, self.cv
        what, unit = PREDICTORS[self.model]
        log_form = self.form in LOG_FORMS
        return {
            "model": self.model,
            "form": self.form,
            "equation": self._named(EQUATIONS[self.form]),
            "a": _r(f.a),
            "b": _r(f.b),
            "units": {"agb": "Mg dry matter/ha", "predictor": f"{what} ({unit})"},
            "fit": {
                "method": self._named(REGRESSIONS[self.form]),
                "n_plots": f.n,
                "intercept": _r(f.intercept),
                "intercept_means": "ln a (before bias correction)" if log_form else "a",
                "se_intercept": _r(f.se_intercept),
                "se_b": _r(f.se_b),
                "residual_se": _r(f.sigma),
                "residual_se_scale": "ln AGB" if log_form else "Mg/ha",
                "r2": _r(f.r2),
                "a_uncorrected": _r(f.a_uncorrected),
                "bias_correction": {
                    "method": "Baskerville (1972): a = exp(ln a) * exp(residual_se^2 / 2)"
                    if log_form
                    else "none (linear fit on the AGB scale)",
                    "factor": _r(f.bias_correction),
                    "applied_to_a": log_form,
                },
            },
            "cross_validation": {
                "k": cv.k,
                "seed": cv.seed,
                "rmse_mg_ha": _r(cv.rmse),
                "relative_rmse": _r(cv.relative_rmse),
                "bias_mg_ha": _r(cv.bias),
                "bias_means": "mean(predicted - observed) on held-out plots",
                "r2": _r(cv.r2),
                ("rmse_ln" if log_form else "rmse_fit_scale"): _r(cv.rmse_fit_scale),
            },
            "provenance": {
                "plots_file": str(self.table.path),
                "plots_sha256": self.table.sha256,
                "plots_format": self.table.kind,
                "data_rows": self.table.n_rows,
                "plots_used": f.n,
                "bad_rows": [r.to_dict() for r in self.bad_rows],
                "plot_agb": (
                    "Chave et al. 2014 Eq. 4 per tree; missing heights from Eq. 6a "
                    "(bias-corrected); sum / plot_area_ha"
                    if self.table.kind == "trees"
                    else "agb_mg_ha column"
                ),
                **({"e": self.table.e} if self.table.e is not None else {}),
                "predictor_file": self.raster.path,
                "predictor_crs": self.raster.crs,
                "predictor_resolution": list(self.raster.resolution),
                "sampling": "value of the pixel containing the plot centre (band 1)",
                **self.extra,
                "sinkmap_version": __version__,
            },
        }

    def write(self, path: str | Path) -> Path:
        """Write the parameter file (YAML), atomically."""

        path = Path(path)
        text = (
            f"# Coefficients of the {self.model!r} model fitted by `sinkmap calibrate`.\n"
            f"# Use them with model: {{name: {self.model}, params: {{coefficients_file: {path}, ...}}}}\n"
            + yaml.safe_dump(self.parameters(), sort_keys=False, allow_unicode=True)
        )
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    def summary(self) -> dict[str, Any]:
        """The JSON summary printed by the command."""
        p = self.parameters()
        return {
            "model": self.model,
            "form": self.form,
            "equation": p["equation"],
            "a": p["a"],
            "b": p["b"],
            "n_plots": self.fit.n,
            "bias_correction": p["fit"]["bias_correction"],
            "cross_validation": p["cross_validation"],
            "bad_rows": [str(r) for r in self.bad_rows],
        }


def calibrate(
    plots: str | Path | PlotTable,
    predictor: str | Path,
    *,
    model: str = "height_allometry",
    k: int = 5,
    seed: int = 0,
    form: str | None = None,
    e: float | None = None,
    crs: str | None = None,
    aoi: Any = None,
    out: str | Path | None = None,
) -> CalibrationResult:
    """Fit ``model``'s coefficients to field plots and cross-validate them.

    Parameters
    ----------
    plots : path or PlotTable
        The plot table (see :func:`read_plots` and docs/calibration.md).
    predictor : path
        Raster of the model's predictor (canopy height in m, or the index), any CRS.
    model : str
        ``height_allometry`` (form ``power``) or ``spectral`` (``exponential``, ``power`` or
        ``linear``; default exponential).
    k, seed : int
        Folds and seed of the cross-validation.
    e : float, optional
        Chave et al. (2014) E for trees without height (an ``e`` column overrides it).
    crs : str, optional
        CRS of ``x, y`` coordinates when the table has no ``crs`` column.
    aoi : path or :class:`sinkmap.aoi.AOI`, optional
        Plots outside it are reported and not used.
    out : path, optional
        Write the parameter file there.

    Raises
    ------
    InputDataError
        Fewer than 3 usable plots (the message lists the bad rows), or a fit that cannot be made.
    """
    if model not in FORMS_BY_MODEL:
        raise InputDataError(
            f"calibration of model {model!r} is not supported; use one of {sorted(FORMS_BY_MODEL)}"
        )
    form = form or FORMS_BY_MODEL[model][0]
    if form not in FORMS_BY_MODEL[model]:
        raise InputDataError(
            f"model {model!r} has no form {form!r}; use one of {list(FORMS_BY_MODEL[model])}"
        )
    table = plots if isinstance(plots, PlotTable) else read_plots(plots, e=e, crs=crs)
    bad = list(table.bad_rows)
    ps = table.plots
    xs, ys, crss = [p.x for p in ps], [p.y for p in ps], [p.crs for p in ps]
    values, reasons, info = sample_raster(predictor, xs, ys, crss)
    extra: dict[str, Any] = {}
    if aoi is not None and ps:
        from sinkmap.aoi import AOI, read_aoi

        aoi_obj = aoi if isinstance(aoi, AOI) else read_aoi(aoi)
        extra["aoi"] = str(aoi) if not isinstance(aoi, AOI) else aoi.name
        outside = outside_aoi(aoi_obj, xs, ys, crss)
        for j in np.flatnonzero(outside):
            reasons[j] = reasons[j] or "the plot centre is outside the AOI; check its coordinates"
    what, unit = PREDICTORS[model]
    for i, p in enumerate(ps):
        if reasons[i]:
            continue
        v = values[i]
        if form == "power" and v <= 0:
            reasons[i] = (
                f"{what} {v:g} {unit} at the plot centre: a power law cannot be fitted to values "
                "<= 0 (the model gives AGB 0 there); check the coordinates or the raster's date"
            )
        elif model == "spectral" and abs(v) > 1:
            reasons[i] = (
                f"index {v:g} at the plot centre is outside [-1, 1]; rescale the raster to "
                "index units (e.g. NDVI x 10000 -> multiply by 0.0001)"
            )
        elif form in LOG_FORMS and p.agb_mg_ha <= 0:
            reasons[i] = (
                f"AGB {p.agb_mg_ha:g} Mg/ha cannot enter a fit on ln AGB; use the linear form "
                "or leave the plot out deliberately"
            )
    for i, p in enumerate(ps):
        if reasons[i]:
            bad.append(BadRow(p.lines, p.plot_id, reasons[i]))
    bad = sorted_bad_rows(bad)
    for r in bad:
        log.warning("%s: %s", table.path, r)
    good = [i for i in range(len(ps)) if not reasons[i]]
    if len(good) < MIN_PLOTS:
        listed = "\n".join(f"  - {r}" for r in bad[:20])
        more = f"\n  … and {len(bad) - 20} more (see the log)" if len(bad) > 20 else ""
        raise InputDataError(
            f"only {len(good)} usable plot(s) in {table.path} (at least {MIN_PLOTS} are needed to "
            f"fit a and b and estimate the residual error); fix the rows below and run again"
            + (f":\n{listed}{more}" if bad else "")
        )
    x = values[good]
    y = np.array([ps[i].agb_mg_ha for i in good])
    f = fit_form(x, y, form)
    cv = cross_validate(x, y, form, k=k, seed=seed)
    frame = pd.DataFrame(
        {
            "plot_id": [ps[i].plot_id for i in good],
            "lines": [ps[i].lines for i in good],
            "x": [ps[i].x for i in good],
            "y": [ps[i].y for i in good],
            "crs": [ps[i].crs for i in good],
            "predictor": x,
            "agb_mg_ha": y,
            "fitted_mg_ha": f.predict(x),
            "cv_fold": cv.fold,
            "cv_predicted_mg_ha": cv.predicted,
        }
    )
    result = CalibrationResult(model, form, f, cv, frame, bad, table, info, extra)
    log.info(
        "calibrated %s (%s) on %d plots: a=%.6g (bias-corrected by %.4f), b=%.6g; "
        "%d-fold CV RMSE %.3g Mg/ha, bias %.3g, R2 %.3f; %d bad row record(s)",
        model,
        form,
        f.n,
        f.a,
        f.bias_correction,
        f.b,
        cv.k,
        cv.rmse,
        cv.bias,
        cv.r2,
        len(bad),
    )
    if out is not None:
        result.write(out)
    return result


# -- public names (the reading and the fit live in field_plots and regression) --------------------


__all__ = [
    "BadRow",
    "CalibrationResult",
    "CrossValidation",
    "Fit",
    "Plot",
    "PlotTable",
    "calibrate",
    "cross_validate",
    "fit_form",
    "folds",
    "read_plots",
    "sample_raster",
]
