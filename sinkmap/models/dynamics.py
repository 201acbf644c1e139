"""The carbon-state model: stocks carried per pixel from year to year along growth curves, with
IPCC's 20-year transitions (:mod:`sinkmap.dynamics`).

Unlike the other models, which map one year's inputs to pools, this one is *stateful*: the stocks
stage gives it the state of the year before (or, in the first year, lets it start one from stated
assumptions), steps it to the new year with that year's land cover (and forest type, ecozone,
loss year), writes the state as layers and the pools it implies. Both the stock-difference and the
gain-loss results of an interval come from the same states.

Input roles: ``land_cover`` (required) and, each optional and named in the parameters, a forest
type (``plantation_role``: natural forest / rubber / areca and palms / other plantation, e.g. the
Forest Management Layer through ``config/crosswalks/fml_hainan.csv``), a planting year
(``planting_year_role``, used to age plantations in the first year), an FAO ecological zone
(``ecozone_role``; else ``default_ecozone`` everywhere) and a forest-loss year (``loss_role``, e.g.
Hansen GFC ``lossyear``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from sinkmap.carbon import step_fluxes
from sinkmap.constants import CARBON_FRACTION, POOLS
from sinkmap.dynamics import (
    STATE_LAYERS,
    Dynamics,
    State,
    Step,
    advance_span,
    initial_state,
    pool_parts,
    pools,
    pools_from_parts,
)
from sinkmap.legends import ipcc_categories
from sinkmap.models.base import CarbonModel, ModelParams
from sinkmap.state_layers import advance_layers, initial_layers
from sinkmap.tables import PoolTable, StrataTable

#: The stocks stage's rows of a chunk before the step's: the pools, then the state's layers.
_ROWS = len(POOLS) + len(STATE_LAYERS)
#: Key of each state layer in a chunk given to :meth:`DynamicsModel.pools`.
STATE_KEYS = {name: f"state_{name}" for name in STATE_LAYERS}


class DynamicsParams(ModelParams):
    strata: Path = Field(
        Path("config/dynamics/strata.csv"),
        description="Growth curves and parameters of the woody strata per ecological zone, with sources.",
    )
    table: Path = Field(
        description="Pool table (InVEST layout, Mg C/ha): biomass, DOM and equilibrium soil carbon "
        "of each land-cover class (biomass and DOM used for land without woody vegetation)."
    )
    legend: str = Field("worldcover", description="Legend of the aligned land cover.")
    plantation_role: str | None = Field(
        None, description="Input role of a forest-type layer (codes of the forest_type legend)."
    )
    planting_year_role: str | None = Field(
        None, description="Input role of a planting-year layer (calendar years, 0 = none)."
    )
    ecozone_role: str | None = Field(
        None, description="Input role of an FAO GEZ 2010 ecological-zone layer (gez_code)."
    )
    loss_role: str | None = Field(
        None, description="Input role of a forest-loss-year layer (Hansen GFC lossyear)."
    )
    loss_year_base: int = Field(
        2000,
        description="Calendar year of loss code 0 (Hansen GFC: 1 = 2001); 0 if it holds years.",
    )
    default_ecozone: int = Field(
        12,
        ge=1,
        le=255,
        description="FAO GEZ code used where no ecozone layer is given (12 tropical moist forest).",
    )
    transition_years: int = Field(
        20, ge=1, le=100, description="IPCC transition period D (years): 'land converted to X'."
    )
    carbon_fraction: float = Field(CARBON_FRACTION, gt=0, le=1, description="Carbon fraction CF.")
    agb_scale: float = Field(
        1.0, gt=0, description="Multiplies every stratum's AGB curve (Monte Carlo parameter)."
    )
    soil_scale: float = Field(
        1.0, gt=0, description="Multiplies every equilibrium soil stock (Monte Carlo parameter)."
    )


class DynamicsModel(CarbonModel):
    """Stocks carried per pixel from year to year: growth curves by stratum and ecological zone,
    harvests and rotations, IPCC 20-year transitions of soil and dead organic matter."""

    name = "dynamics"
    inputs = ("land_cover",)
    stateful: ClassVar[bool] = True
    Params = DynamicsParams
    citation = (
        "IPCC 2006 Vol. 4 Ch. 2 (Eq. 2.4, 2.16, 2.23, 2.25) and the 2019 Refinement (Table 4.9, "
        "Requena Suarez et al. 2019); growth curves and sources in the strata table"
    )
    params: DynamicsParams

    def __init__(self, params: DynamicsParams) -> None:
        super().__init__(params)
        _ = self.dynamics  # read and validate both tables now, before any work starts

    @property
    def input_roles(self) -> tuple[str, ...]:
        p = self.params
        optional = (p.plantation_role, p.planting_year_role, p.ecozone_role, p.loss_role)
        return ("land_cover", *(r for r in optional if r))

    @cached_property
    def table(self) -> PoolTable:
        return PoolTable.from_csv(self.params.table)

    @cached_property
    def strata(self) -> StrataTable:
        return StrataTable.from_csv(self.params.strata)

    @property
    def dynamics(self) -> Dynamics:
        """The kernels' parameters (tables read once; numbers from the current parameters, so a
        Monte Carlo draw of ``agb_scale`` or ``soil_scale`` takes effect)."""
        p = self.params
        return Dynamics(
            strata=self.strata,
            table=self.table,
            categories=ipcc_categories(p.legend),
            transition_years=p.transition_years,
            carbon_fraction=p.carbon_fraction,
            agb_scale=p.agb_scale,
            soil_scale=p.soil_scale,
            default_ecozone=p.default_ecozone,
        )

    def _role(self, chunk: Mapping[str, np.ndarray], role: str | None) -> np.ndarray | None:
        return None if role is None else np.asarray(chunk[role])

    def _loss_years(self, chunk: Mapping[str, np.ndarray]) -> np.ndarray | None:
        raw = self._role(chunk, self.params.loss_role)
        if raw is None:
            return None
        codes = np.asarray(raw).astype(np.int64)
        return np.where(codes > 0, self.params.loss_year_base + codes, 0)

    def initial(
        self, chunk: Mapping[str, np.ndarray], year: int, position: np.ndarray | None = None
    ) -> State:
        """The state in the first mapped year (:func:`sinkmap.dynamics.initial_state`)."""
        p = self.params
        packed = _Packed(np.asarray(chunk["land_cover"]) != 0)
        c = packed.chunk(chunk)
        state = initial_state(
            c["land_cover"],
            year,
            self.dynamics,
            forest_type=self._role(c, p.plantation_role),
            planting_year=self._role(c, p.planting_year_role),
            ecozone=self._role(c, p.ecozone_role),
            position=None if position is None else packed.take(position),
        )
        return packed.state(state)

    def step(
        self,
        state: State,
        land_cover_before: np.ndarray,
        chunk: Mapping[str, np.ndarray],
        start: int,
        end: int,
    ) -> tuple[State, Step]:
        """The state in ``end`` from the state in ``start`` and ``end``'s inputs, with the gains
        and losses of the span and the pools (float32) of the state reached
        (:func:`sinkmap.dynamics.advance_span`)."""
        p = self.params
        packed = _Packed((np.asarray(chunk["land_cover"]) != 0) | (state.stratum > 0))
        c = packed.chunk(chunk)
        new, step = advance_span(
            packed.state_in(state),
            packed.take(land_cover_before),
            c["land_cover"],
            start,
            end,
            self.dynamics,
            forest_type=self._role(c, p.plantation_role),
            ecozone=self._role(c, p.ecozone_role),
            loss_year=self._loss_years(c),
        )
        reached = _float32_pools(packed, step.pools)
        return packed.state(new), Step(
            packed.put(step.gains, np.nan), packed.put(step.losses, np.nan), reached
        )

    def first_layers(
        self, chunk: Mapping[str, np.ndarray], year: int, position: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """The stocks stage's layers of a chunk in the first mapped year, into ``out`` (float32,
        (11 or 14, …)): the pools (4), the state :meth:`initial` starts (7) and, given 14 rows,
        NaN for the step (3). One pass of a compiled kernel
        (:func:`sinkmap.state_layers.initial_layers`) where it takes the chunk, else
        :meth:`first_layers_reference`: the same bits."""
        p = self.params
        if initial_layers(
            np.asarray(chunk["land_cover"]),
            year,
            self.dynamics,
            out,
            position=position,
            forest_type=self._role(chunk, p.plantation_role),
            planting_year=self._role(chunk, p.planting_year_role),
            ecozone=self._role(chunk, p.ecozone_role),
        ):
            return out
        return self.first_layers_reference(chunk, year, position, out)

    def first_layers_reference(
        self, chunk: Mapping[str, np.ndarray], year: int, position: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """:meth:`first_layers` from :meth:`initial`, :meth:`pools_of` and :meth:`State.stack`."""
        state = self.initial(chunk, year, position=position)
        out[_ROWS:] = np.nan
        return _rows_into(out, self.pools_of(state, chunk), state)

    def step_layers(
        self,
        before: Mapping[str, np.ndarray],
        land_cover_before: np.ndarray,
        chunk: Mapping[str, np.ndarray],
        start: int,
        end: int,
        out: np.ndarray,
    ) -> np.ndarray:
        """The stocks stage's layers of a chunk stepped from the state of ``start`` (``before``:
        its layers as read) to ``end``, into ``out`` (float32, (11 or 14, …)): the pools (4), the
        state reached (7) and, given 14 rows, the step's net, removals and emissions (3,
        :func:`~sinkmap.carbon.step_fluxes`). One pass of a compiled kernel
        (:func:`sinkmap.state_layers.advance_layers`) where it takes the chunk, else
        :meth:`step_layers_reference`: the same bits."""
        p = self.params
        if advance_layers(
            before,
            land_cover_before,
            np.asarray(chunk["land_cover"]),
            start,
            end,
            self.dynamics,
            out,
            forest_type=self._role(chunk, p.plantation_role),
            ecozone=self._role(chunk, p.ecozone_role),
            loss_codes=self._role(chunk, p.loss_role),
            loss_year_base=p.loss_year_base,
        ):
            return out
        return self.step_layers_reference(before, land_cover_before, chunk, start, end, out)

    def step_layers_reference(
        self,
        before: Mapping[str, np.ndarray],
        land_cover_before: np.ndarray,
        chunk: Mapping[str, np.ndarray],
        start: int,
        end: int,
        out: np.ndarray,
    ) -> np.ndarray:
        """:meth:`step_layers` from :meth:`State.from_arrays`, :meth:`step`, ``step_fluxes`` and
        :meth:`State.stack`."""
        state, step = self.step(State.from_arrays(before), land_cover_before, chunk, start, end)
        if len(out) > _ROWS:
            out[_ROWS:] = step_fluxes(step.gains, step.losses, end - start)
        return _rows_into(out, step.pools, state)

    def _valued(
        self,
        fn: Callable[..., dict[str, np.ndarray]],
        state: State,
        chunk: Mapping[str, np.ndarray],
    ) -> tuple[_Packed, dict[str, np.ndarray]]:
        """``fn`` (:func:`pools` or :func:`pool_parts`) of a state with the year's inputs, on the
        pixels with data only (the kernels take them whole, the references slice by slice); the
        packing to put the results back with."""
        packed = _Packed(state.stratum > 0)
        return packed, self._on_packed(fn, packed.state_in(state), packed.chunk(chunk))

    def _layers_valued(
        self, fn: Callable[..., dict[str, np.ndarray]], chunk: Mapping[str, np.ndarray]
    ) -> tuple[_Packed, dict[str, np.ndarray]]:
        """:meth:`_valued` of the state layers a chunk carries (keys :data:`STATE_KEYS`), taken
        at the pixels with data before they are made int64 and float64 (the same state as
        :meth:`State.from_arrays` of the whole chunk, on those pixels)."""
        packed = _Packed(np.asarray(chunk[STATE_KEYS["stratum"]]) > 0)
        c = packed.chunk(chunk)
        state = State.from_arrays({name: c[key] for name, key in STATE_KEYS.items()})
        return packed, self._on_packed(fn, state, c)

    def _on_packed(
        self,
        fn: Callable[..., dict[str, np.ndarray]],
        state: State,
        c: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """``fn`` of a packed state with the year's packed inputs."""
        return fn(
            state,
            c["land_cover"],
            self.dynamics,
            ecozone=self._role(c, self.params.ecozone_role),
        )

    def pools_of(self, state: State, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pools (Mg C/ha, float32) of a state with the year's inputs."""
        return _float32_pools(*self._valued(pools, state, chunk))

    def pools(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Pools of a chunk that carries the year's state layers (keys :data:`STATE_KEYS`)."""
        return _float32_pools(*self._layers_valued(pools, chunk))

    def mc_components(
        self, chunk: Mapping[str, np.ndarray]
    ) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]]:
        """The pools of a chunk (with its state layers) split into parts each proportional to
        one Monte Carlo parameter: ``agb_scale`` (woody biomass and forest DOM), ``soil_scale``
        (soil), and ``table.<pool>`` (a class's pool-table value; with the index of each pixel's
        class in the table). A draw's pools are the sum of each part times its parameter's draw
        over its mean, which the uncertainty stage sums without running the model per draw."""
        return self._split(chunk)[0]

    def mc_split(
        self, chunk: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]], dict[str, np.ndarray]]:
        """:meth:`mc_components` and :meth:`pools` of a chunk from one run of the kernel: the
        pools are the sums of the parts (:func:`sinkmap.dynamics.pools_from_parts`), as
        :meth:`pools` gives them (float32), bit for bit."""
        return self._split(chunk)

    def _split(
        self, chunk: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, tuple[dict[str, np.ndarray], np.ndarray | None]], dict[str, np.ndarray]]:
        packed, packed_parts = self._layers_valued(pool_parts, chunk)
        base = _float32_pools(packed, pools_from_parts(packed_parts))
        parts = {k: packed.put(v, np.nan) for k, v in packed_parts.items()}
        lc = np.asarray(chunk["land_cover"]).astype(np.int64)
        row = np.full(256, -1, np.int64)
        row[self.table.codes] = np.arange(self.table.codes.size)
        index = row[lc]
        components = {
            "agb_scale": (
                {
                    "above": parts["woody_above"],
                    "below": parts["woody_below"],
                    "dead": parts["forest_dead"],
                },
                None,
            ),
            "soil_scale": ({"soil": parts["soil"]}, None),
            "table.above": ({"above": parts["open_above"]}, index),
            "table.below": ({"below": parts["open_below"]}, index),
            "table.dead": ({"dead": parts["open_dead"]}, index),
        }
        return components, base


def _float32_pools(packed: _Packed, out: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pools of packed pixels on the chunk's grid, float32, NaN outside the data."""
    return {k: packed.put(out[k], np.nan).astype("float32") for k in POOLS}


class _Packed:
    """The pixels of a chunk with data, as 1-D arrays (the kernels are elementwise), and back:
    the work and memory of a step follow the county, not its bounding box."""

    def __init__(self, valid: np.ndarray) -> None:
        self.valid = np.asarray(valid, bool)
        self.all = bool(self.valid.all())

    def take(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        return a.reshape(-1) if self.all else a[self.valid]

    def chunk(self, chunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: self.take(v) for k, v in chunk.items()}

    def state_in(self, state: State) -> State:
        return State(*(self.take(a) for a in state))

    def put(self, a: np.ndarray, fill: float) -> np.ndarray:
        if self.all:
            return a.reshape(self.valid.shape)
        dtype = np.result_type(a.dtype, np.float64) if np.isnan(fill) else a.dtype
        out = np.full(self.valid.shape, fill, dtype)
        out[self.valid] = a
        return out

    def state(self, state: State) -> State:
        """A state on the chunk's grid: 0 (NaN for soil) outside the data, as the kernels give."""
        return State(
            *(
                self.put(a, np.nan if name == "soil_start" else 0)
                for name, a in zip(STATE_LAYERS, state, strict=True)
            )
        )


def _rows_into(out: np.ndarray, pools: Mapping[str, np.ndarray], state: State) -> np.ndarray:
    """The pools and the state's layers into their rows of the stocks stage's ``out``."""
    for i, pool in enumerate(POOLS):
        out[i] = pools[pool]
    state.stack(out=out[len(POOLS) : _ROWS])
    return out
