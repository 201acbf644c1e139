"""Carbon models: one small interface, a registry, and the built-in models.

A model declares the input roles it reads (``inputs``), validates its parameters (a pydantic
``Params`` class, so bad values are refused before any work starts) and turns one chunk of aligned
inputs into pool arrays in Mg C/ha (``above``, ``below``, ``dead``, ``soil``). It never opens a
file: the pipeline maps it over dask chunks.

Models are found by name, in this order:

1. built-in models (``lookup``, ``biomass``, ``height_allometry``, ``spectral``, ``dynamics``);
2. the ``sinkmap.models`` entry-point group of installed packages
   (``[project.entry-points."sinkmap.models"] mymodel = "mypkg.models:MyModel"``);
3. a dotted path or a file path with the class name: ``mypkg.models:MyModel`` or
   ``models/my_model.py:MyModel`` (for quick work without packaging).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from sinkmap.errors import ConfigError
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.models.biomass import BiomassModel
from sinkmap.models.dynamics import DynamicsModel
from sinkmap.models.height import HeightAllometryModel
from sinkmap.models.lookup import LookupModel
from sinkmap.models.spectral import SpectralRegressionModel

ENTRY_POINT_GROUP = "sinkmap.models"


def builtin_models() -> dict[str, type[CarbonModel]]:
    return {
        m.name: m
        for m in (
            LookupModel,
            BiomassModel,
            HeightAllometryModel,
            SpectralRegressionModel,
            DynamicsModel,
        )
    }


def available_models() -> dict[str, type[CarbonModel]]:
    """Built-in and entry-point models by name (every installed plugin loaded: for listing)."""
    models = builtin_models()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in models:
            models[ep.name] = _load(ep, ", or uninstall it if you do not use this model")
    return models


def _load(ep: importlib.metadata.EntryPoint, fix: str = "") -> type[CarbonModel]:
    """The class an entry point names; an error names the package that declares it and the fix
    (``fix``: what else the user can do)."""
    package = getattr(ep.dist, "name", None) or "its package"
    what = f"model {ep.name!r} ({ep.value}, declared by {package})"
    try:
        cls = ep.load()
    except Exception as exc:  # a third-party module: any error of its import
        raise ConfigError(f"{what} does not load: {exc}; fix or reinstall {package}{fix}") from exc
    return _model_type(cls, what)


def _model_type(cls: Any, what: str) -> type[CarbonModel]:
    """``cls``, if it is a model class (``what`` names it in the error otherwise)."""
    if not (isinstance(cls, type) and issubclass(cls, CarbonModel)):
        raise ConfigError(f"{what} is not a sinkmap.models.CarbonModel subclass")
    return cast(type[CarbonModel], cls)


def model_class(name: str) -> type[CarbonModel]:
    """The model class for ``name`` (built-in, entry point, ``module:Class`` or ``file.py:Class``).

    Only what ``name`` needs is loaded: a built-in model without looking at the installed
    plugins, an entry-point model without importing the others (each job of a run looks its
    model up; a plugin that fails to import breaks only the runs that use it)."""
    builtins = builtin_models()
    if name in builtins:
        return builtins[name]
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        return _load(ep)  # the first, as available_models() keeps it
    if ":" in name:
        target, _, attr = name.rpartition(":")
        try:
            if target.endswith(".py"):
                path = Path(target)
                spec = importlib.util.spec_from_file_location(
                    f"sinkmap_user_model_{path.stem}", path
                )
                if spec is None or spec.loader is None or not path.exists():
                    raise ImportError(f"no file {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(target)
            cls = getattr(module, attr)
        except (ImportError, AttributeError, OSError) as exc:
            raise ConfigError(
                f"cannot load model {name!r}: {exc}; check model.name ('module:Class' or 'file.py:Class')"
            ) from exc
        return _model_type(cls, f"model {name!r}")
    names = {
        *builtins,
        *(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)),
    }
    raise ConfigError(
        f"unknown model {name!r} (model.name); available: {sorted(names)}, "
        "or give 'module:Class' / 'path/to/file.py:Class' for your own model (see docs/models.md)"
    )


def get_model(name: str, params: Mapping[str, Any]) -> CarbonModel:
    """Instantiate model ``name`` with validated ``params``."""
    return model_class(name).from_params(params)


# Kept for type annotations elsewhere.
Model = CarbonModel

__all__ = ["CarbonModel", "Model", "ModelParams", "available_models", "get_model", "model_class"]
