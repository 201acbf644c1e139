"""The carbon model interface: parameters validated before any work, pools from one chunk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from sinkmap.errors import ConfigError, format_validation_error


class ModelParams(BaseModel):
    """Base of every model's parameters: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CarbonModel:
    """Base class of carbon models. Subclasses set ``name``, ``inputs``, ``Params`` and ``pools``."""

    #: Name used in config ``model.name`` and written into outputs.
    name: ClassVar[str] = ""
    #: Input roles (keys of config ``inputs``) the model reads, e.g. ``("land_cover",)``.
    inputs: ClassVar[tuple[str, ...]] = ()
    #: Parameters, validated before any work starts.
    Params: ClassVar[type[ModelParams]] = ModelParams
    #: Citation of the method, written into provenance.
    citation: ClassVar[str] = ""
    #: Whether the model carries a state from year to year (see sinkmap.models.dynamics).
    stateful: ClassVar[bool] = False

    def __init__(self, params: ModelParams) -> None:
        self.params = params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CarbonModel:
        try:
            parsed = cls.Params.model_validate(dict(params))
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, f"model.params of model {cls.name!r}")
            ) from None
        return cls(parsed)

    @property
    def input_roles(self) -> tuple[str, ...]:
        """The input roles this instance reads (``inputs``, and any its parameters add)."""
        return type(self).inputs

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pool stocks (Mg C/ha, float32, NaN where no data) for one chunk of aligned inputs."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Name, parameters and citation, written into every output's provenance."""
        return {
            "model": self.name,
            "params": self.params.model_dump(mode="json"),
            "citation": self.citation,
        }
