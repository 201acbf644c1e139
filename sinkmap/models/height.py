"""Canopy-height allometry model: AGB = a · H^b from a canopy-height raster, then biomass pools.

Per cell, with H the canopy height (m) and a, b global or per land-cover class:

    AGB = a × H^b        if H > 0      (Mg dry matter/ha)
        = 0              if H ≤ 0      (no canopy)
        = NaN            if H is NaN   (no data)

and the four pools follow from AGB exactly as in the biomass model
(:class:`sinkmap.models.biomass.BiomassModel`, which this model calls): above = AGB × CF, below by
the root-to-shoot rule, dead wood and litter as fractions of AGB, soil from the pool table.

a and b come from the parameters — ``a`` and ``b`` (global), ``coefficients`` (per land-cover
code, with ``a``/``b`` as the default for codes not listed), or ``coefficients_file``, the YAML
written by ``sinkmap calibrate`` (see docs/calibration.md). The coefficients actually used are
written into every output's provenance (``describe()``).

This module also holds the coefficient machinery shared with the spectral model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sinkmap.errors import InputDataError, UnknownClassError, format_validation_error
from sinkmap.files import sha256_file
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.models.biomass import BiomassModel, BiomassParams

#: Land-cover code that means "no data" on the aligned grid (as in the lookup and biomass models).
LAND_COVER_NODATA = 0


class Coefficients(ModelParams):
    """One pair of coefficients (the meaning of a and b depends on the model's equation)."""

    a: float = Field(allow_inf_nan=False, description="Coefficient a.")
    b: float = Field(allow_inf_nan=False, description="Coefficient b.")


class _CoefficientFile(BaseModel):
    """The keys of a coefficients file that a model reads; other keys (fit, cv, provenance) are kept
    for people and ignored here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str | None = None
    form: str | None = None
    a: float | None = Field(None, allow_inf_nan=False)
    b: float | None = Field(None, allow_inf_nan=False)
    coefficients: dict[int, Coefficients] | None = None


class MissingCoefficientsError(UnknownClassError):
    """A land-cover code needs coefficients (its cells have a predictor value) and has none."""

    def __init__(self, codes: list[int], source: str) -> None:
        self.codes = sorted(int(c) for c in codes)
        self.table = source
        listed = ", ".join(str(c) for c in self.codes)
        InputDataError.__init__(
            self,
            f"land-cover code(s) {listed} occur with data but have no coefficients in {source}; "
            f"add them (coefficients: {{{self.codes[0]}: {{a: ..., b: ...}}}}) or give global a "
            "and b, which serve as the default for codes not listed",
        )


@dataclass(frozen=True)
class CoefficientSet:
    """The coefficients a model uses: a default pair and/or pairs per land-cover code."""

    default: Coefficients | None
    per_class: Mapping[int, Coefficients] = field(default_factory=dict)
    #: Where they came from, for messages ("model.params.coefficients" or the file).
    source: str = "model.params"
    #: The coefficients file and its sha256, when they came from one.
    file: str | None = None
    sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.default is not None:
            out.update(a=self.default.a, b=self.default.b)
        if self.per_class:
            out["coefficients"] = {
                int(c): {"a": v.a, "b": v.b} for c, v in sorted(self.per_class.items())
            }
        if self.file is not None:
            out.update(file=self.file, sha256=self.sha256)
        return out

    def arrays(
        self, classes: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray | float, np.ndarray | float]:
        """a and b for every cell (scalars when there are no per-class values).

        ``active`` marks the cells whose coefficients matter; a code that occurs there with no
        coefficients of its own and no default raises :class:`MissingCoefficientsError`.
        """
        if not self.per_class:
            assert self.default is not None  # guaranteed by the parameter validation
            return self.default.a, self.default.b
        classes = np.asarray(classes)
        valid = classes != LAND_COVER_NODATA
        codes = np.array(sorted(self.per_class), dtype=np.intp)
        present = np.unique(classes[active & valid]).astype(np.intp)
        missing = np.setdiff1d(present, codes)
        if missing.size and self.default is None:
            raise MissingCoefficientsError(missing.tolist(), self.source)
        size = int(max(codes.max(), classes.max(initial=0))) + 1
        fill_a = self.default.a if self.default is not None else np.nan
        fill_b = self.default.b if self.default is not None else np.nan
        lut_a = np.full(size, fill_a, dtype=np.float64)
        lut_b = np.full(size, fill_b, dtype=np.float64)
        lut_a[codes] = [self.per_class[int(c)].a for c in codes]
        lut_b[codes] = [self.per_class[int(c)].b for c in codes]
        idx = np.where(valid & (classes >= 0), classes, 0).astype(np.intp)
        a, b = lut_a[idx], lut_b[idx]
        # nodata land cover: NaN coefficients (the pools are NaN there anyway)
        return np.where(valid, a, np.nan), np.where(valid, b, np.nan)


def load_coefficients_file(
    path: str | Path, *, model: str, form: str | None = None
) -> CoefficientSet:
    """Read a coefficients file (YAML or JSON, as written by ``sinkmap calibrate``).

    It holds ``a`` and ``b`` (global) and/or ``coefficients: {code: {a:, b:}}``; ``model`` and
    ``form``, when present, must match the model that reads it.
    """

    path = Path(path)
    if not path.exists():
        raise InputDataError(
            f"coefficients file {path} does not exist; write it with `sinkmap calibrate PLOTS.csv "
            f"--predictor RASTER.tif --out {path}` or give a and b in model.params"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputDataError(
            f"coefficients file {path} is not valid YAML/JSON ({exc}); write it with `sinkmap calibrate`"
        ) from exc
    if not isinstance(data, dict):
        raise InputDataError(
            f"coefficients file {path} must be a mapping with a and b (or coefficients), "
            f"got {type(data).__name__}"
        )
    try:
        parsed = _CoefficientFile.model_validate(data)
    except ValidationError as exc:
        raise InputDataError(format_validation_error(exc, f"coefficients file {path}")) from None
    if parsed.model is not None and parsed.model != model:
        raise InputDataError(
            f"coefficients file {path} was fitted for model {parsed.model!r}, not {model!r}; "
            f"calibrate with `--model {model}` or set model.name: {parsed.model}"
        )
    if form is not None and parsed.form is not None and parsed.form != form:
        raise InputDataError(
            f"coefficients file {path} holds the {parsed.form!r} form but model.params.form is "
            f"{form!r}; set model.params.form: {parsed.form}"
        )
    if (parsed.a is None) != (parsed.b is None):
        raise InputDataError(f"coefficients file {path} must give both a and b, or neither")
    default = None if parsed.a is None else Coefficients(a=parsed.a, b=parsed.b)
    per_class = dict(parsed.coefficients or {})
    if default is None and not per_class:
        raise InputDataError(
            f"coefficients file {path} has neither a and b nor coefficients; "
            "write it with `sinkmap calibrate`"
        )
    return CoefficientSet(
        default,
        per_class,
        source=f"coefficients file {path}",
        file=str(path),
        sha256=sha256_file(path),
    )


class CoefficientParams(ModelParams):
    """Where a model's a and b come from: inline (global and/or per class) or a file."""

    a: float | None = Field(
        None,
        allow_inf_nan=False,
        description="Global coefficient a (also the default for codes missing from coefficients).",
    )
    b: float | None = Field(None, allow_inf_nan=False, description="Global coefficient b.")
    coefficients: dict[int, Coefficients] | None = Field(
        None, description="a and b per land-cover code: {code: {a: ..., b: ...}}."
    )
    coefficients_file: Path | None = Field(
        None,
        description="YAML/JSON file with a and b (or coefficients), as written by `sinkmap calibrate`.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> CoefficientParams:
        inline = self.a is not None or self.b is not None or self.coefficients is not None
        if self.coefficients_file is not None and inline:
            raise ValueError(
                "give either coefficients_file or a/b/coefficients, not both "
                "(remove a, b and coefficients to use the file)"
            )
        if (self.a is None) != (self.b is None):
            raise ValueError(
                "give both a and b (or neither, with coefficients or coefficients_file)"
            )
        if self.coefficients_file is None and self.a is None and not self.coefficients:
            raise ValueError(
                "no coefficients: give a and b, coefficients: {code: {a:, b:}}, or "
                "coefficients_file: (written by `sinkmap calibrate`)"
            )
        return self

    def coefficient_set(self, *, model: str, form: str | None = None) -> CoefficientSet:
        """The coefficients to use (reading ``coefficients_file`` if given)."""
        if self.coefficients_file is not None:
            return load_coefficients_file(self.coefficients_file, model=model, form=form)
        default = None if self.a is None else Coefficients(a=self.a, b=self.b)
        return CoefficientSet(default, dict(self.coefficients or {}), source="model.params")


def biomass_params(params: BiomassParams) -> BiomassParams:
    """The biomass-model parameters (soil table, carbon fraction, root:shoot …) inside ``params``."""
    return BiomassParams.model_validate(params.model_dump(include=set(BiomassParams.model_fields)))


class HeightParams(BiomassParams, CoefficientParams):
    @model_validator(mode="after")
    def _positive_a(self) -> HeightParams:
        pairs = [("a", self.a)] + [
            (f"coefficients.{c}.a", v.a) for c, v in (self.coefficients or {}).items()
        ]
        for key, a in pairs:
            if a is not None and a <= 0:
                raise ValueError(f"{key} must be > 0 in AGB = a * H^b (got {a})")
        return self


def power_law(x: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """a · x^b where x > 0, 0 where x ≤ 0, NaN where x is NaN or infinite (float64)."""
    x = np.asarray(x, dtype=np.float64)
    pos = np.isfinite(x) & (x > 0)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.asarray(a) * np.where(pos, x, 1.0) ** np.asarray(b)
    return np.where(pos, y, np.where(np.isfinite(x), 0.0, np.nan))


class PoolsFromAGB(CarbonModel):
    """Shared part of the models that predict AGB and take the pools from the biomass model."""

    #: Input role of the predictor raster.
    predictor: str = ""
    #: Equation form given to the coefficients file check (None: the model has one form).
    form: str | None = None

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.coefficients = params.coefficient_set(model=self.name, form=self.form)
        if self.positive_a:
            cs = self.coefficients
            pairs = [("a", cs.default)] + [
                (f"coefficients.{c}.a", v) for c, v in cs.per_class.items()
            ]
            for key, pair in pairs:
                if pair is not None and pair.a <= 0:
                    raise InputDataError(
                        f"{key} in {cs.source} must be > 0 (got {pair.a}); refit or correct it"
                    )
        self.biomass = BiomassModel(biomass_params(params))  # reads and checks the soil table

    @property
    def positive_a(self) -> bool:
        """Whether the equation needs a > 0 (checked again here for values read from a file)."""
        return True

    def agb(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        classes = np.asarray(chunk["land_cover"])
        agb = self.agb(np.asarray(chunk[self.predictor]), classes)
        return self.biomass.pools({**chunk, "biomass": agb, "land_cover": classes})

    @property
    def input_roles(self) -> tuple[str, ...]:
        return (*type(self).inputs, *self.biomass.input_roles[len(BiomassModel.inputs) :])

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["coefficients"] = self.coefficients.as_dict()
        return out


class HeightAllometryModel(PoolsFromAGB):
    """AGB = a · H^b from a canopy-height raster (m), a and b global or per class; pools as `biomass`."""

    name = "height_allometry"
    inputs = ("canopy_height", "land_cover")
    Params = HeightParams
    citation = (
        "AGB = a H^b, coefficients fitted to field plots by log-log least squares with the "
        "Baskerville (1972, Can. J. For. Res. 2:49) bias correction (sinkmap calibrate); "
        "pools: " + BiomassModel.citation
    )
    predictor = "canopy_height"
    params: HeightParams

    def agb(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """AGB (Mg/ha, float64) from canopy height ``x`` (m): a·H^b, 0 where H ≤ 0, NaN where NaN."""
        h = np.asarray(x, dtype=np.float64)
        a, b = self.coefficients.arrays(classes, np.isfinite(h) & (h > 0))
        return power_law(h, a, b)


__all__ = [
    "CoefficientParams",
    "CoefficientSet",
    "Coefficients",
    "HeightAllometryModel",
    "HeightParams",
    "MissingCoefficientsError",
    "load_coefficients_file",
    "power_law",
]
