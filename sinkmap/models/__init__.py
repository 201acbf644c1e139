"""Carbon models: a small interface, a registry, and the built-in models.

A model declares the input roles it needs and turns one chunk of aligned inputs into pool arrays
(Mg C/ha). It never opens a file; the pipeline maps it over dask chunks. More models, entry-point
registration and calibration arrive with issue #4.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from sinkmap.errors import ConfigError


class Model(Protocol):
    """The interface every carbon model implements."""

    name: str
    #: Input roles (keys of config ``inputs``) the model reads.
    inputs: tuple[str, ...]

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pool stocks (Mg C/ha, float32, NaN outside data) for one chunk of aligned inputs."""
        ...

    def describe(self) -> dict[str, Any]:
        """Name, parameters and citations, written into every output's provenance."""
        ...


def get_model(name: str, params: Mapping[str, Any]) -> Model:
    from sinkmap.models.lookup import LookupModel

    registry = {"lookup": LookupModel}
    try:
        cls = registry[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; available: {sorted(registry)} (model.name)"
        ) from None
    return cls.from_params(dict(params))
