"""The carbon state: each pixel's land-use history, carried from year to year, and the carbon it
holds (IPCC 2006 Vol. 4 Ch. 2 with the 2019 Refinement).

Pure functions of numpy chunks; the stocks and interval stages map them over the grid and write the
state as layers (``results/<year>/state_<name>.tif``). Every number comes from two tables: the
strata table (:class:`sinkmap.tables.StrataTable`: growth curves, root-to-shoot ratios, dead-wood
and litter fractions, rotations, the land category of each woody stratum) and the pool table
(:class:`sinkmap.tables.PoolTable`: biomass of land without woody vegetation, and equilibrium soil
carbon per land-cover class). ``docs/accounting.md`` gives the equations and the transitions.

The state of a pixel (:class:`State`):

- ``category`` — IPCC land category (1 Forest land … 6 Other land, ``legends.IPCC_CATEGORY_CODES``);
- ``stratum`` — natural forest, rubber, areca and other palms, other tree plantation, regrowing
  forest, shrubland, or without woody vegetation (``legends.STRATUM``);
- ``age`` — years since the woody vegetation was established or last disturbed (cleared,
  harvested, lost);
- ``years_since_conversion`` — years since the category last changed, 0 … D (D = the transition
  period, 20 years by default: "land converted to X" for D years, then "X remaining X");
- ``previous_category`` — the category before that conversion (0: none since the state began);
- ``last_loss_year`` — the calendar year of the last loss of woody biomass (0: none);
- ``soil_start`` — soil organic carbon (Mg C/ha) when the current transition began.

Carbon of a state (:func:`pools`, Mg C/ha):

- woody strata: AGB from the stratum's growth curve at the pixel's age (× ``agb_scale``);
  above = AGB × CF, below = AGB × R × CF;
- land without woody vegetation: the pool table's biomass of the land-cover class, reached in the
  year after a conversion (IPCC Eq. 2.16: B_after = 0 in the year of conversion);
- dead organic matter (IPCC Eq. 2.23, Tier 1): forest land holds DOM = mature AGB × (dead-wood
  fraction × CF + litter fraction × CF_litter), built up linearly over D years on land converted
  to forest, lost in the year of conversion on land converted from forest, unchanged on forest
  land remaining forest land (harvests included); other land holds the pool table's DOM;
- soil (IPCC Eq. 2.25): SOC moves linearly from ``soil_start`` to the equilibrium of the current
  land use (the pool table's soil of the class; of tree cover for forest and plantation strata)
  over D years: SOC = SOC_start + (SOC_eq − SOC_start) × min(t_conversion, D) / D.

One year's step (:func:`advance`) from the land cover (and forest type, ecozone, loss year) of
the new year: a plantation pixel whose stand is old enough to show as tree cover but does not is
harvested (its age restarts; Forest land remaining Forest land); natural forest that loses its
tree cover is cleared (a conversion); woody vegetation appearing on open land starts at age 0 as
regrowing forest or shrubland; a loss year inside the step disturbs the stand. Gains and losses
of the step (the gain-loss method, IPCC Eq. 2.4) are the growth of the stands and the carbon lost
at disturbances and conversions, so gains − losses is the stock change of the step exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from sinkmap import kernels
from sinkmap.constants import CARBON_FRACTION, CARBON_FRACTION_LITTER
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.kernels.slices import (
    flat_for_kernel,
    kernel_codes,
    reference_or_slices,
    stack_for_kernel,
)
from sinkmap.legends import IPCC_CATEGORY_CODES
from sinkmap.tables import PoolTable, StrataTable

# Strata (legends.STRATUM): the forest types of the plantation role are codes 1-4.
NATURAL, RUBBER, PALM, OTHER_PLANTATION, REGROWING, SHRUB, NONWOODY = 1, 2, 3, 4, 5, 6, 7
PLANTATIONS = (RUBBER, PALM, OTHER_PLANTATION)
WOODY = (NATURAL, RUBBER, PALM, OTHER_PLANTATION, REGROWING, SHRUB)
FOREST_LAND = IPCC_CATEGORY_CODES["Forest land"]

#: The state's layers, their dtype and nodata, in the order of :class:`State`.
STATE_LAYERS: dict[str, tuple[str, int | float]] = {
    "category": ("uint8", 0),
    "stratum": ("uint8", 0),
    "age": ("uint16", 65535),
    "years_since_conversion": ("uint8", 255),
    "previous_category": ("uint8", 255),
    "last_loss_year": ("uint16", 65535),
    "soil_start": ("float32", float("nan")),
}


class State(NamedTuple):
    """The carbon state of a chunk (arrays of one shape; ``stratum == 0`` outside the data)."""

    category: np.ndarray
    stratum: np.ndarray
    age: np.ndarray
    years_since_conversion: np.ndarray
    previous_category: np.ndarray
    last_loss_year: np.ndarray
    soil_start: np.ndarray

    def stack(self, out: np.ndarray | None = None) -> np.ndarray:
        """float32 (7, …) of the layers with each layer's nodata outside the data (exact: every
        integer layer holds values below 2**24), into ``out`` if given.

        One pass of a compiled kernel (:func:`sinkmap.kernels.state_stack`) for a state as the
        kernels and :meth:`from_arrays` make it (int64 layers, float64 soil start) into an
        ``out`` whose layers are each contiguous (C order, or the stocks stage's rows apart:
        ``sinkmap.stacks.stack_of_rows``): the bits of :meth:`stack_reference`, else."""
        shape = np.shape(self.stratum)
        if out is None:
            out = np.empty((len(STATE_LAYERS), *shape), np.float32)
        if kernels.enabled() and stack_for_kernel(out, (len(STATE_LAYERS),), shape):
            flat = flat_for_kernel(shape, tuple(self), "iiiiiif")
            # an out that overlaps the layers: the reference's row-by-row copies
            if flat is not None and not any(np.may_share_memory(out, a) for a in flat):
                kernels.state_stack(flat, STATE_NODATA32, out.reshape(len(STATE_LAYERS), -1))
                return out
        return self.stack_reference(out)

    def stack_reference(self, out: np.ndarray) -> np.ndarray:
        """:meth:`stack` as NumPy casts: each layer copied into its row of ``out`` (an unsafe
        cast), then its nodata where the stratum is not above 0."""
        outside = ~(self.stratum > 0)
        for i, ((_dtype, nodata), arr) in enumerate(zip(STATE_LAYERS.values(), self, strict=True)):
            np.copyto(out[i], arr, casting="unsafe")
            np.copyto(out[i], nodata, casting="unsafe", where=outside)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> State:
        """A state from its layers as read (``{name: array}``, nodata outside the data).

        One pass of a compiled kernel (:func:`sinkmap.kernels.state_from_layers`) for layers of
        the dtypes they are written in (:data:`STATE_LAYERS`) and of one shape: the bits of
        :meth:`from_arrays_reference`, which runs otherwise."""
        if kernels.enabled():
            layers = tuple(np.asarray(arrays[name]) for name in STATE_LAYERS)
            shape = layers[0].shape
            flat = flat_for_kernel(shape, layers, STATE_FILE_CODES)
            if flat is not None:
                return cls._of_kernel(*kernels.state_from_layers(flat, layers[0].size), shape)
        return cls.from_arrays_reference(arrays)

    @classmethod
    def _of_kernel(cls, ints: np.ndarray, soil: np.ndarray, shape: tuple[int, ...]) -> State:
        """A state of ``shape`` from a kernel's integer layers (6, n) and soil start (n)."""
        return cls._make([*(a.reshape(shape) for a in ints), soil.reshape(shape)])

    @classmethod
    def from_arrays_reference(cls, arrays: Mapping[str, np.ndarray]) -> State:
        """:meth:`from_arrays` as NumPy expressions: the integer layers as int64 and the soil
        start as float64, 0 and NaN where the stratum is not above 0."""
        stratum = np.asarray(arrays["stratum"]).astype(np.int64)
        valid = stratum > 0
        parts = []
        for name, (dtype, _nodata) in STATE_LAYERS.items():
            a = np.asarray(arrays[name])
            if dtype == "float32":
                parts.append(np.where(valid, a.astype("float64"), np.nan))
            else:
                parts.append(np.where(valid, a.astype(np.int64), 0))
        return cls(*parts)


#: The dtypes the state's layers are written in (:data:`STATE_LAYERS`) as
#: :func:`~sinkmap.kernels.slices.flat_for_kernel`'s codes, and their nodata as the float32
#: :meth:`State.stack` writes.
STATE_FILE_CODES = kernel_codes(dtype for dtype, _nodata in STATE_LAYERS.values())
STATE_NODATA32 = np.array([nodata for _dtype, nodata in STATE_LAYERS.values()], np.float32)


class Step(NamedTuple):
    """Gains and losses of carbon over one or more years (Mg C/ha over the span, ≥ 0), and the
    pools of the state reached (Mg C/ha, :func:`pools`)."""

    gains: np.ndarray
    losses: np.ndarray
    pools: dict[str, np.ndarray]


@dataclass(frozen=True)
class Dynamics:
    """Everything the kernels need besides the arrays."""

    strata: StrataTable
    table: PoolTable  # biomass of open land, DOM and equilibrium soil per land-cover class
    categories: Mapping[int, str]  # land-cover code -> IPCC category (the legend's)
    tree_classes: tuple[int, ...] = (10,)
    shrub_classes: tuple[int, ...] = (20,)
    open_classes: tuple[int, ...] = (20, 30, 40, 60)  # what a plantation looks like when replanted
    transition_years: int = 20
    carbon_fraction: float = CARBON_FRACTION
    litter_carbon_fraction: float = CARBON_FRACTION_LITTER
    agb_scale: float = 1.0
    soil_scale: float = 1.0
    default_ecozone: int = 12

    @cached_property
    def category_lut(self) -> np.ndarray:
        """The IPCC category code of each land-cover code (0: none in the legend)."""
        lut = np.zeros(256, np.int64)
        for code, cat in self.categories.items():
            if cat in IPCC_CATEGORY_CODES:
                lut[code] = IPCC_CATEGORY_CODES[cat]
        return lut

    @cached_property
    def category_by_row(self) -> np.ndarray:
        """The IPCC category code of each strata-table row."""
        return np.array([IPCC_CATEGORY_CODES[c] for c in self.strata.categories], np.int64)

    def category_of_class(self, lc: np.ndarray) -> np.ndarray:
        out = self.category_lut[np.asarray(lc, np.intp)]
        missing = (out == 0) & (np.asarray(lc) != 0)
        if missing.any():
            codes = sorted({int(c) for c in np.asarray(lc)[missing]})
            raise InputDataError(
                f"land-cover code(s) {codes} have no IPCC land category in the run's legend; map "
                "them in the dataset's crosswalk (config/crosswalks/)"
            )
        return out

    @cached_property
    def kernel_tables(self) -> tuple[np.ndarray, ...]:
        """The lookup tables and numbers of :func:`sinkmap.kernels.pool_parts` (built once)."""
        st = self.strata
        return (
            st.row_table,
            _member_lut(WOODY),
            st.agb_by_age,
            st.root_shoot,
            st.mature_agb(np.arange(len(st.strata))),
            st.dead_wood_fraction * self.carbon_fraction,
            st.litter_fraction,
            *(self.table.lut(pool, 256).astype("float64") for pool in ("above", "below", "dead")),
            self.table.lut("soil", 256).astype("float64"),
            np.array(
                [self.carbon_fraction, self.litter_carbon_fraction, self.agb_scale, self.soil_scale]
            ),
            np.array(
                [
                    self.transition_years,
                    self.shrub_classes[0],
                    self.tree_classes[0],
                    SHRUB,
                    FOREST_LAND,
                ],
                np.int64,
            ),
        )

    @cached_property
    def advance_tables(self) -> tuple[np.ndarray, ...]:
        """The further lookup tables of :func:`sinkmap.kernels.advance` (built once): canopy age
        and IPCC category per strata-table row, category per land-cover code (0: none), whether
        a code is tree cover, shrubland, open land, a plantation forest type, and the strata's
        codes (natural, regrowing, shrubland, without woody vegetation)."""
        return (
            np.asarray(self.strata.canopy_age, np.int64),
            self.category_by_row,
            self.category_lut,
            _member_lut(self.tree_classes),
            _member_lut(self.shrub_classes),
            _member_lut(self.open_classes),
            _member_lut(PLANTATIONS),
            np.array([NATURAL, REGROWING, SHRUB, NONWOODY], np.int64),
        )

    @cached_property
    def initial_tables(self) -> tuple[np.ndarray, ...]:
        """The further lookup tables of :func:`sinkmap.kernels.initial` (built once): the mature
        age and the rotation (whole years) of each strata-table row."""
        rows = np.arange(len(self.strata.strata))
        return (
            np.asarray(self.strata.mature_age(rows), np.int64),
            np.asarray(self.strata.rotation).astype(np.int64),
        )

    def table_values(self, pool: str, codes: np.ndarray) -> np.ndarray:
        """The pool table's value of ``pool`` for each land-cover code (NaN where it has none)."""
        return self.table.lut(pool, 256)[np.asarray(codes, np.intp)].astype("float64")


def _ecozones(ecozone: np.ndarray | None, shape: tuple[int, ...], dyn: Dynamics) -> np.ndarray:
    if ecozone is None:
        return np.full(shape, dyn.default_ecozone, np.int64)
    z = np.asarray(ecozone).astype(np.int64)
    return np.where(z > 0, z, dyn.default_ecozone)


def _isin(a: np.ndarray, codes: tuple[int, ...]) -> np.ndarray:
    """``np.isin`` for a few codes (one comparison per code: several times faster on chunks)."""
    a = np.asarray(a)
    out = np.zeros(a.shape, bool)
    for code in codes:
        out |= a == code
    return out


def _rows(stratum: np.ndarray, zones: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """Strata-table row of each woody pixel (0 elsewhere: a placeholder row, never used)."""
    woody = _isin(stratum, WOODY)
    rows = np.zeros(stratum.shape, np.int64)
    if woody.any():
        rows[woody] = dyn.strata.row_index(stratum[woody], zones[woody])
    return rows


def _category(stratum: np.ndarray, rows: np.ndarray, lc: np.ndarray, dyn: Dynamics) -> np.ndarray:
    woody = _isin(stratum, WOODY)
    return np.where(woody, dyn.category_by_row[rows], dyn.category_of_class(np.where(woody, 0, lc)))


def _member_lut(codes: tuple[int, ...]) -> np.ndarray:
    """Whether each code 0 … 255 is one of ``codes`` (a lookup table of the kernels)."""
    out = np.zeros(256, bool)
    out[[c for c in codes if 0 <= c < 256]] = True
    return out


def _soil_equilibrium(stratum: np.ndarray, lc: np.ndarray, dyn: Dynamics) -> np.ndarray:
    """Equilibrium SOC (Mg C/ha) of the current land use: the pool table's soil of the class, of
    tree cover for forest and plantation strata, of shrubland for shrubland."""
    soil_class = np.where(_isin(stratum, (SHRUB,)), dyn.shrub_classes[0], lc)
    soil_class = np.where(
        _isin(stratum, WOODY) & (stratum != SHRUB), dyn.tree_classes[0], soil_class
    )
    return dyn.table_values("soil", soil_class)


def cover_strata(
    lc: np.ndarray,
    forest_type: np.ndarray | None = None,
    *,
    tree_classes: tuple[int, ...] = (10,),
    shrub_classes: tuple[int, ...] = (20,),
    open_classes: tuple[int, ...] = (20, 30, 40, 60),
) -> np.ndarray:
    """The stratum of each pixel from one year's land cover and forest type alone (as a state
    starts, and as the one-year models see it): tree cover is natural forest, shrubland is
    shrubland, tree cover or open land in a plantation (``forest_type`` 2-4) is that plantation,
    the rest is without woody vegetation; 0 outside the data."""
    lc = np.asarray(lc).astype(np.int64)
    ftype = np.zeros(lc.shape, np.int64) if forest_type is None else np.asarray(forest_type)
    ftype = ftype.astype(np.int64)
    tree = _isin(lc, tree_classes)
    in_plantation = _isin(ftype, PLANTATIONS) & (tree | _isin(lc, open_classes))
    stratum = np.full(lc.shape, NONWOODY, np.int64)
    stratum[tree] = NATURAL
    stratum[_isin(lc, shrub_classes)] = SHRUB
    stratum[in_plantation] = ftype[in_plantation]
    stratum[lc == 0] = 0
    return stratum


def initial_state(
    lc: np.ndarray,
    year: int,
    dyn: Dynamics,
    *,
    forest_type: np.ndarray | None = None,
    planting_year: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    position: np.ndarray | None = None,
) -> State:
    """The state in the first mapped year, from that year's inputs and stated assumptions
    (:func:`initial_state_reference` says which).

    Computed by the compiled kernel (:mod:`sinkmap.kernels`), one pass per pixel, equal bit for
    bit to :func:`initial_state_reference`, which gives the equations and runs instead where the
    kernel finds a pixel it does not handle: an error it then raises (a chunk of more than
    :data:`~sinkmap.kernels.slices.SLICE` pixels is then started slice by slice, and the error is the first failing
    slice's), or an input whose result the kernel does not make (a negative code, which NumPy's
    indexing wraps; a position that is not a finite number).
    """
    lc = np.asarray(lc)
    forest_type, planting_year, ecozone, position = (
        None if a is None else np.asarray(a)
        for a in (forest_type, planting_year, ecozone, position)
    )
    took = False
    # an integer transition period: the reference's layer then int64, as the kernel's
    if kernels.enabled() and isinstance(dyn.transition_years, int):
        zeros = np.zeros(lc.shape, np.int64)
        arrays = (
            lc.astype(np.int64),
            zeros if forest_type is None else forest_type.astype(np.int64),
            # no planting year: 0, which the reference reads as none known
            zeros if planting_year is None else planting_year.astype(np.int64),
            _ecozones(ecozone, lc.shape, dyn),
            np.full(lc.shape, 0.5) if position is None else position.astype("float64"),
        )
        kept = flat_for_kernel(lc.shape, arrays, "iiiif")
        tables = (dyn.kernel_tables, dyn.advance_tables, dyn.initial_tables)
        out = None if kept is None else kernels.initial(kept, year, *tables, lc.size)
        if out is not None:
            return State._of_kernel(*out, lc.shape)
        took = kept is not None
        del zeros, arrays, kept  # the whole chunk's copies, before any retry by slices
    # a chunk the kernel cannot take whole: an error the reference raises (the first failing
    # slice's), or an input whose result only the reference makes
    return reference_or_slices(
        initial_state,
        initial_state_reference,
        took,
        lc,
        year,
        dyn,
        forest_type=forest_type,
        planting_year=planting_year,
        ecozone=ecozone,
        position=position,
    )


def initial_state_reference(
    lc: np.ndarray,
    year: int,
    dyn: Dynamics,
    *,
    forest_type: np.ndarray | None = None,
    planting_year: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    position: np.ndarray | None = None,
) -> State:
    """:func:`initial_state` as NumPy expressions: the state in the first mapped year, from that
    year's inputs and stated assumptions.

    Tree cover in a plantation (``forest_type`` 2–4) is that plantation, aged from
    ``planting_year`` (the year the stand was established) when given, else uniformly over its
    rotation (from its canopy age up, by ``position``, a uniform [0, 1) number per pixel); open land
    in a plantation is a stand replanted this year (age 0; shrub-like cover: half its canopy age).
    Tree cover whose planting year makes it younger than its canopy age is the previous rotation's
    stand, not yet shown cleared (e.g. held by the change filter): at the end of its rotation.
    Other tree cover is natural forest, aged from ``planting_year`` where it gives the year it
    regenerated (secondary forest, e.g. after logging), else at maturity (the age at which its
    curve reaches old growth); shrubland is at its cap. Every pixel
    starts at its equilibrium soil carbon, "remaining" in its category (years since conversion =
    D), with no earlier conversion or loss on record.
    """
    lc = np.asarray(lc).astype(np.int64)
    valid = lc != 0
    zones = _ecozones(ecozone, lc.shape, dyn)
    tree, shrub = _isin(lc, dyn.tree_classes), _isin(lc, dyn.shrub_classes)
    stratum = cover_strata(
        lc,
        forest_type,
        tree_classes=dyn.tree_classes,
        shrub_classes=dyn.shrub_classes,
        open_classes=dyn.open_classes,
    )
    rows = _rows(stratum, zones, dyn)
    age = np.zeros(lc.shape, np.int64)
    mature = _isin(stratum, (NATURAL, SHRUB))
    age[mature] = dyn.strata.mature_age(rows[mature])
    if planting_year is not None:  # natural forest regenerated after logging: secondary forest
        py = np.asarray(planting_year).astype(np.int64)
        regenerated = (stratum == NATURAL) & (py > 0) & (py <= year)
        age[regenerated] = year - py[regenerated]
    plant = _isin(stratum, PLANTATIONS)
    if plant.any():
        rotation = dyn.strata.rotation[rows].astype(np.int64)
        canopy = dyn.strata.canopy_age[rows]
        u = np.full(lc.shape, 0.5) if position is None else np.asarray(position, "float64")
        span = np.maximum(rotation - canopy, 1)
        guess = np.where(tree, canopy + np.floor(u * span).astype(np.int64), 0)
        guess = np.where(shrub & ~tree, canopy // 2, guess)
        if planting_year is not None:
            py = np.asarray(planting_year).astype(np.int64)
            known = (py > 0) & (py <= year)
            guess = np.where(known, year - py, guess)
            # Tree cover younger than its canopy age by its planting year is the stand of the
            # previous rotation, whose clearing the land cover does not show yet (the change
            # filter books a clearing once confirmed): at the end of its rotation.
            uncleared = tree & known & (year - py < canopy)
            guess = np.where(uncleared, rotation, guess)
        age[plant] = guess[plant]
    category = _category(stratum, rows, np.where(valid, lc, 0), dyn) * valid
    soil = np.where(valid, _soil_equilibrium(stratum, lc, dyn), np.nan)
    d = dyn.transition_years
    return State(
        category=category,
        stratum=stratum,
        age=age,
        years_since_conversion=np.where(valid, d, 0),
        previous_category=np.zeros(lc.shape, np.int64),
        last_loss_year=np.zeros(lc.shape, np.int64),
        soil_start=soil,
    )


#: The parts of :func:`pool_parts`, in the order of the compiled kernel's rows.
PARTS = (
    "woody_above",
    "woody_below",
    "forest_dead",
    "open_above",
    "open_below",
    "open_dead",
    "soil",
)


def pool_parts(
    state: State, lc: np.ndarray, dyn: Dynamics, *, ecozone: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The parts the pools add up from (Mg C/ha, float64): ``woody_above``, ``woody_below`` and
    ``forest_dead`` (proportional to ``agb_scale``), ``open_above``, ``open_below``, ``open_dead``
    (the pool table's values of land without woody vegetation) and ``soil`` (proportional to
    ``soil_scale``); 0 where a part does not apply, NaN outside the data.

    Computed by the compiled kernel (:mod:`sinkmap.kernels`), one pass per pixel, equal bit for
    bit to :func:`pool_parts_reference`, which gives the equations and runs instead where the
    kernel finds a pixel it does not handle (and then raises the error that names it)."""
    kept = None
    if kernels.enabled():
        lc64 = np.asarray(lc).astype(np.int64)
        arrays = (
            state.stratum,
            state.category,
            state.age,
            state.years_since_conversion,
            state.previous_category,
            state.soil_start,
            lc64,
            _ecozones(ecozone, lc64.shape, dyn),
        )
        kept = flat_for_kernel(lc64.shape, arrays, "iiiiifii")
        out = None if kept is None else kernels.pool_parts(kept, dyn.kernel_tables, lc64.size)
        if out is not None:
            return {k: out[i].reshape(lc64.shape) for i, k in enumerate(PARTS)}
    return reference_or_slices(
        pool_parts, pool_parts_reference, kept is not None, state, lc, dyn, ecozone=ecozone
    )


def pool_parts_reference(
    state: State, lc: np.ndarray, dyn: Dynamics, *, ecozone: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """:func:`pool_parts` as NumPy expressions: the equations, and the errors they raise."""
    lc = np.asarray(lc).astype(np.int64)
    stratum = state.stratum
    valid = stratum > 0
    zones = _ecozones(ecozone, lc.shape, dyn)
    rows = _rows(stratum, zones, dyn)
    woody = _isin(stratum, WOODY)
    cf = dyn.carbon_fraction
    d = dyn.transition_years
    ysc = state.years_since_conversion
    converted_now = (ysc == 0) & (state.previous_category > 0)

    agb = np.where(woody, dyn.strata.agb(rows, state.age) * dyn.agb_scale, 0.0)
    r = dyn.strata.root_shoot[rows]
    open_above = dyn.table_values("above", lc)
    open_below = dyn.table_values("below", lc)
    open_dead = dyn.table_values("dead", lc)
    # Eq. 2.16: land converted to a category without woody vegetation holds no biomass in the year
    # of conversion; it grows to the class's stock by the next year (Tier 1)
    open_above = np.where(converted_now, 0.0, open_above)
    open_below = np.where(converted_now, 0.0, open_below)

    forest = woody & (state.category == FOREST_LAND)
    mature = dyn.strata.mature_agb(rows) * dyn.agb_scale
    dom_ref = mature * (
        dyn.strata.dead_wood_fraction[rows] * cf
        + dyn.strata.litter_fraction[rows] * dyn.litter_carbon_fraction
    )
    built_up = np.where(
        (state.previous_category != FOREST_LAND) & (state.previous_category > 0) & (ysc < d),
        np.minimum(ysc, d) / d,
        1.0,
    )
    eq = _soil_equilibrium(stratum, lc, dyn) * dyn.soil_scale
    start = state.soil_start * dyn.soil_scale
    soil = start + (eq - start) * np.minimum(ysc, d) / d

    unknown = valid & ~woody & np.isnan(open_above + open_below + open_dead + eq)
    unknown |= valid & woody & np.isnan(eq)
    if unknown.any():
        codes = sorted({int(c) for c in lc[unknown]})
        raise UnknownClassError(codes, dyn.table.name)
    parts = {
        "woody_above": agb * cf,
        "woody_below": agb * r * cf,
        "forest_dead": np.where(forest, dom_ref * built_up, 0.0),
        "open_above": np.where(woody, 0.0, open_above),
        "open_below": np.where(woody, 0.0, open_below),
        "open_dead": np.where(woody, 0.0, open_dead),
        "soil": soil,
    }
    return {k: np.where(valid, v, np.nan) for k, v in parts.items()}


def pools(
    state: State, lc: np.ndarray, dyn: Dynamics, *, ecozone: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Carbon of each pool (Mg C/ha, float64; NaN outside the data) of a state with the year's
    land cover ``lc`` (the sums of :func:`pool_parts`)."""
    return pools_from_parts(pool_parts(state, lc, dyn, ecozone=ecozone))


#: The pools of :func:`pools`, in the order of the compiled step's rows.
POOL_NAMES = ("above", "below", "dead", "soil")


def pools_from_parts(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pools (Mg C/ha) that the parts of :func:`pool_parts` add up to."""
    return {
        "above": p["woody_above"] + p["open_above"],
        "below": p["woody_below"] + p["open_below"],
        "dead": p["forest_dead"] + p["open_dead"],
        "soil": p["soil"],
    }


def advance(
    state: State,
    lc_before: np.ndarray,
    lc: np.ndarray,
    year: int,
    dyn: Dynamics,
    *,
    forest_type: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    loss_year: np.ndarray | None = None,
) -> tuple[State, Step]:
    """One year's step: the state in ``year`` from the state of the year before (with that year's
    land cover ``lc_before``) and the land cover (forest type, ecozone, loss year) observed in
    ``year``; with the year's gains and losses of carbon (Mg C/ha).

    ``loss_year``: the calendar year of a forest loss (e.g. Hansen GFC ``lossyear`` decoded to
    years; 0 none): a loss dated ``year`` disturbs the stand.

    Computed by the compiled kernel (:mod:`sinkmap.kernels`), one pass per pixel, equal bit for
    bit to :func:`advance_reference`, which gives the equations and runs instead where the kernel
    finds a pixel it does not handle (one that starts afresh, or an error it then raises).
    """
    kept = None
    if kernels.enabled():
        lc64 = np.asarray(lc).astype(np.int64)
        shape = lc64.shape
        arrays = (
            *state,
            np.asarray(lc_before).astype(np.int64),
            lc64,
            np.zeros(shape, np.int64)
            if forest_type is None
            else np.asarray(forest_type).astype(np.int64),
            _ecozones(ecozone, shape, dyn),
            # a loss year compared with the year as float64 (exact for any integer layer); none
            # given: NaN, equal to no year
            np.full(shape, np.nan) if loss_year is None else np.asarray(loss_year, "float64"),
        )
        kept = flat_for_kernel(shape, arrays, "iiiiiifiiiif")
        tables = (dyn.kernel_tables, dyn.advance_tables)
        out = None if kept is None else kernels.advance(kept, year, *tables, lc64.size)
        if out is not None:
            new_int, new_soil, gains, losses, reached = out
            new = State._of_kernel(new_int, new_soil, shape)
            pools_after = {p: reached[i].reshape(shape) for i, p in enumerate(POOL_NAMES)}
            return new, Step(gains.reshape(shape), losses.reshape(shape), pools_after)
    # a chunk the kernel cannot take whole: a pixel starting afresh, an error
    return reference_or_slices(
        advance,
        advance_reference,
        kept is not None,
        state,
        lc_before,
        lc,
        year,
        dyn,
        forest_type=forest_type,
        ecozone=ecozone,
        loss_year=loss_year,
    )


def advance_reference(
    state: State,
    lc_before: np.ndarray,
    lc: np.ndarray,
    year: int,
    dyn: Dynamics,
    *,
    forest_type: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    loss_year: np.ndarray | None = None,
) -> tuple[State, Step]:
    """:func:`advance` as NumPy expressions: the equations, and the errors they raise."""
    lc = np.asarray(lc).astype(np.int64)
    valid_now = lc != 0
    before = state.stratum > 0
    zones = _ecozones(ecozone, lc.shape, dyn)
    ftype = np.zeros(lc.shape, np.int64) if forest_type is None else np.asarray(forest_type)
    ftype = ftype.astype(np.int64)
    lost = np.zeros(lc.shape, bool) if loss_year is None else np.asarray(loss_year) == year
    tree, shrub = _isin(lc, dyn.tree_classes), _isin(lc, dyn.shrub_classes)
    prev = state.stratum
    prev_rows = _rows(prev, zones, dyn)
    prev_woody = _isin(prev, WOODY)
    prev_lc = np.where(before, np.asarray(lc_before).astype(np.int64), 0)
    pools_before = pools(state, prev_lc, dyn, ecozone=ecozone)

    # -- the new stratum and age ---------------------------------------------------------------
    plantation = _isin(ftype, PLANTATIONS) & (tree | _isin(lc, dyn.open_classes))
    stratum = np.full(lc.shape, NONWOODY, np.int64)
    stratum[tree] = np.where(_isin(prev[tree], (NATURAL,)), NATURAL, REGROWING)
    stratum[shrub & ~tree] = SHRUB
    stratum[plantation] = ftype[plantation]
    # natural forest stays natural only while undisturbed
    stratum[(stratum == NATURAL) & lost] = REGROWING
    rows = _rows(stratum, zones, dyn)

    same = stratum == prev
    woody = _isin(stratum, WOODY)
    continues_growing = woody & (
        same | (_isin(prev, (REGROWING, SHRUB)) & _isin(stratum, (REGROWING, SHRUB)))
    )
    canopy = dyn.strata.canopy_age[prev_rows]
    harvested = _isin(prev, PLANTATIONS) & same & ~tree & (state.age >= np.maximum(canopy, 1))
    # natural forest or regrowth losing its tree cover to shrub is a disturbance too
    degraded = _isin(prev, (NATURAL, REGROWING)) & (stratum == SHRUB)
    disturbed = (
        before & prev_woody & (lost | harvested | degraded | ~woody | (woody & ~continues_growing))
    )
    age = np.where(continues_growing & ~disturbed, state.age + 1, 0)
    age = np.where(woody, age, 0)

    # -- category, conversions, soil --------------------------------------------------------------
    category = _category(stratum, rows, lc, dyn)
    converted = before & (category != state.category)
    d = dyn.transition_years
    ysc = np.where(converted, 0, np.minimum(state.years_since_conversion + 1, d))
    previous = np.where(converted, state.category, state.previous_category)
    soil_start = np.where(converted, pools_before["soil"] / dyn.soil_scale, state.soil_start)
    last_loss = np.where(disturbed, year, state.last_loss_year)

    new = State(
        category=np.where(valid_now, category, 0),
        stratum=np.where(valid_now, stratum, 0),
        age=np.where(valid_now, age, 0),
        years_since_conversion=np.where(valid_now, ysc, 0),
        previous_category=np.where(valid_now, previous, 0),
        last_loss_year=np.where(valid_now, last_loss, 0),
        soil_start=np.where(valid_now, soil_start, np.nan),
    )
    # pixels without data last year start afresh from this year's inputs
    fresh = valid_now & ~before
    if fresh.any():
        init = initial_state_reference(lc, year, dyn, forest_type=forest_type, ecozone=ecozone)
        new = State(*(np.where(fresh, a, b) for a, b in zip(init, new, strict=True)))

    pools_after = pools(new, lc, dyn, ecozone=ecozone)
    both = before & valid_now
    bio0 = pools_before["above"] + pools_before["below"]
    bio1 = pools_after["above"] + pools_after["below"]
    gains = np.where(disturbed, bio1, np.maximum(bio1 - bio0, 0.0))
    losses = np.where(disturbed, bio0, np.maximum(bio0 - bio1, 0.0))
    for pool in ("dead", "soil"):
        change = pools_after[pool] - pools_before[pool]
        gains = gains + np.maximum(change, 0.0)
        losses = losses + np.maximum(-change, 0.0)
    return new, Step(np.where(both, gains, np.nan), np.where(both, losses, np.nan), pools_after)


def advance_span(
    state: State,
    lc_start: np.ndarray,
    lc_end: np.ndarray,
    start: int,
    end: int,
    dyn: Dynamics,
    *,
    forest_type: np.ndarray | None = None,
    ecozone: np.ndarray | None = None,
    loss_year: np.ndarray | None = None,
) -> tuple[State, Step]:
    """Annual steps from ``start`` to ``end``: the land cover observed at ``end`` is dated to
    ``end`` (the years between keep ``lc_start``; a loss year dates a disturbance within the span);
    gains and losses summed over the span (Mg C/ha)."""
    if end <= start:
        raise InputDataError(f"the state steps forwards in time, got {start}-{end}")
    gains = np.zeros(np.shape(lc_end))
    losses = np.zeros(np.shape(lc_end))
    reached: dict[str, np.ndarray] = {}
    for year in range(start + 1, end + 1):
        lc = lc_end if year == end else lc_start
        state, step = advance(
            state,
            lc_start,
            lc,
            year,
            dyn,
            forest_type=forest_type,
            ecozone=ecozone,
            loss_year=loss_year,
        )
        gains = gains + step.gains
        losses = losses + step.losses
        reached = step.pools
    return state, Step(gains, losses, reached)
