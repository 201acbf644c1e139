"""The compiled kernels (:mod:`sinkmap.kernels`) against the NumPy references they replace.

The references are the equations as NumPy expressions (``SINKMAP_KERNELS=numpy`` runs them all:
:func:`sinkmap.dynamics.advance_reference`, ``pool_parts_reference``, ``np.bincount`` for the
weighted sums); the hand-worked values of the carbon state are checked in test_dynamics.py and
test_account.py through the stages, which run the kernels. Here: the kernels give the
references' results bit for bit, on states the demo's landscape steps through and on random
states that reach every branch, with any reference running in their place failing the test; and
they leave every case they do not handle to the reference, which raises the error naming it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from sinkmap import carbon, dynamics, kernels, landscape
from sinkmap.account import zones
from sinkmap.account.zones import Membership, group_sums, weighted_sums
from sinkmap.dynamics import (
    PARTS,
    POOL_NAMES,
    State,
    Step,
    advance,
    initial_state,
    pool_parts,
)
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.kernels import slices
from sinkmap.models import get_model
from sinkmap.models.dynamics import DynamicsModel
from sinkmap.stacks import stack_of_rows
from sinkmap.stages import interval, stocks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dyn() -> dynamics.Dynamics:
    model = get_model(
        "dynamics",
        {
            "strata": str(ROOT / "config" / "dynamics" / "strata.csv"),
            "table": str(ROOT / "config" / "pools" / "worldcover_ipcc_tier1.csv"),
        },
    )
    return model.dynamics  # type: ignore[attr-defined]


def _no_reference(*args: object, **kwargs: object) -> None:
    raise AssertionError("the reference ran where the kernel should have")


def _compiled(monkeypatch: pytest.MonkeyPatch, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``fn(*args, **kwargs)`` with the kernels, any reference running at all failing the test:
    the results are the kernels', not a fallback's."""
    with monkeypatch.context() as m:
        m.delenv(kernels.ENV, raising=False)
        m.setattr(dynamics, "advance_reference", _no_reference)
        m.setattr(dynamics, "pool_parts_reference", _no_reference)
        m.setattr(dynamics, "initial_state_reference", _no_reference)
        m.setattr(zones, "_combined_keys_reference", _no_reference)
        m.setattr(carbon, "stock_difference", _no_reference)
        m.setattr(carbon, "co2e", _no_reference)
        m.setattr(stocks, "pixel_uniform", _no_reference)
        m.setattr(interval, "_stock_change_sums_reference", _no_reference)
        m.setattr(State, "from_arrays_reference", _no_reference)
        m.setattr(State, "stack_reference", _no_reference)
        m.setattr(zones, "membership_reference", _no_reference)
        m.setattr(stocks, "_stock_tile_reference", _no_reference)
        m.setattr(stocks, "_state_tile_reference", _no_reference)
        m.setattr(interval, "_change_tile_reference", _no_reference)
        return fn(*args, **kwargs)


def _numpy_only(monkeypatch: pytest.MonkeyPatch, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``fn(*args, **kwargs)`` with the NumPy references everywhere (SINKMAP_KERNELS=numpy)."""
    with monkeypatch.context() as m:
        m.setenv(kernels.ENV, "numpy")
        return fn(*args, **kwargs)


def _bits(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """The same dtype, shape and bytes (signed zeros and NaNs included)."""
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), what


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b) == list(PARTS)
    for k in PARTS:
        assert a[k].dtype == np.float64, k
        _bits(a[k], b[k], k)


def test_kernels_run_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert kernels.enabled()
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert not kernels.enabled()
    # they release the GIL: Dask's threads run them side by side
    from sinkmap.kernels import compiled

    for fn in (
        compiled.pool_parts,
        compiled.advance,
        compiled.initial,
        compiled.weighted_sum,
        compiled.add_key,
        compiled.change_sums,
        compiled.net_flux,
        compiled.step_fluxes,
        compiled.window_uniform,
        compiled.state_from_layers,
        compiled.state_stack,
        compiled.valid_cells,
        compiled.first_layers,
        compiled.step_layers,
    ):
        assert fn.targetoptions["nogil"]


def test_a_helper_inlined_from_another_file_is_pinned_by_its_digest() -> None:
    """Numba's cache keys a kernel on its own file's text: a change to ``sums.positive`` must come
    with a new digest in ``compiled.INLINED`` (which changes compiled.py, so its kernels compile
    anew) and this test says so where it does not."""
    import hashlib
    import inspect

    from sinkmap.kernels import compiled, sums

    for name, digest in compiled.INLINED.items():
        source = inspect.getsource(getattr(sums, name).py_func)
        now = hashlib.sha256(source.encode()).hexdigest()[:16]
        assert now == digest, f"sums.{name} changed: set compiled.INLINED[{name!r}] = {now!r}"
    # every function of sums that compiled.py's kernels call is pinned (the others it only
    # re-exports)
    body = inspect.getsource(compiled).split("INLINED: dict", 1)[1]
    called = {
        name
        for name, fn in vars(sums).items()
        if hasattr(fn, "py_func") and vars(compiled).get(name) is fn and f"{name}(" in body
    }
    assert called == set(compiled.INLINED)


def _same_state(a: State, b: State) -> None:
    for name, x, y in zip(State._fields, a, b, strict=True):
        _bits(x, y, name)


def _same_step(a: tuple[State, Step], b: tuple[State, Step]) -> None:
    _same_state(a[0], b[0])
    _bits(a[1].gains, b[1].gains, "gains")
    _bits(a[1].losses, b[1].losses, "losses")
    assert a[1].gains.dtype == np.float64
    assert list(a[1].pools) == list(b[1].pools)
    for pool in b[1].pools:
        _bits(a[1].pools[pool], b[1].pools[pool], pool)


def test_the_demo_landscape_steps_as_the_reference_does(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five years of the synthetic Baoting landscape (plantations harvested and replanted, forest
    cleared, land converted both ways, losses dated inside the years): every year's step and
    parts, from the kernels and from the references."""
    side = 160
    lon = np.linspace(109.45, 109.75, side)
    lat = np.linspace(18.75, 18.45, side)
    zone = landscape.ecozone(lon, lat)
    lc = {y: landscape.landscape(lon, lat, y)[0].astype(np.int64) for y in range(2018, 2024)}
    ftype = landscape.forest_type(lon, lat, 2023)
    start = (lc[2018], 2018, dyn)
    kw0 = {
        "forest_type": ftype,
        "planting_year": landscape.planting_year(lon, lat, 2018),
        "ecozone": zone,
    }
    state = _compiled(monkeypatch, initial_state, *start, **kw0)
    _same_state(state, _numpy_only(monkeypatch, initial_state, *start, **kw0))
    rng = np.random.default_rng(2)
    converted = disturbed = 0
    for year in range(2019, 2024):
        loss = np.where(rng.random(lc[year].shape) < 0.02, year, 0).astype(np.uint16)
        args = (state, lc[year - 1], lc[year], year, dyn)
        kw = {"forest_type": ftype, "ecozone": zone, "loss_year": loss}
        stepped = _compiled(monkeypatch, advance, *args, **kw)
        _same_step(stepped, _numpy_only(monkeypatch, advance, *args, **kw))
        parts = (stepped[0], lc[year], dyn)
        _same(
            _compiled(monkeypatch, pool_parts, *parts, ecozone=zone),
            _numpy_only(monkeypatch, pool_parts, *parts, ecozone=zone),
        )
        converted += int((stepped[0].years_since_conversion == 0).sum())
        disturbed += int((stepped[0].last_loss_year == year).sum())
        state = stepped[0]
    assert converted > 0 and disturbed > 0  # the conversion and disturbance branches ran


def test_the_first_state_equals_the_reference_on_every_branch(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random inputs of the first year: every land cover (and none), plantation forest types on
    tree, open and other cover, planting years before, in and after the year, both ecozones and
    none, positions along the rotation; with and without the optional inputs. A class without a
    land category, an ecozone past the tables, a position that is not a number: the reference's
    result or error."""
    rng = np.random.default_rng(41)
    n = 60_000
    classes = dyn.table.codes[(dyn.table.codes > 0) & (dyn.table.codes < 256)]
    classes = np.array([c for c in classes if c in dyn.categories])
    lc = np.where(rng.random(n) < 0.05, 0, rng.choice(classes, n))
    kw = {
        "forest_type": rng.choice([0, 1, 2, 3, 4, 9], n),
        "planting_year": rng.choice([0, 1990, 2015, 2019, 2020, 2021], n),
        "ecozone": rng.choice([0, 12, 16], n),
        "position": rng.random(n),
    }
    strata: set[int] = set()
    for year in (2020, 2021):
        for given in (kw, {}, {"planting_year": kw["planting_year"]}, {"ecozone": kw["ecozone"]}):
            args = (lc, year, dyn)
            first = _compiled(monkeypatch, initial_state, *args, **given)
            _same_state(first, _numpy_only(monkeypatch, initial_state, *args, **given))
            strata |= set(np.unique(first.stratum).tolist())
    # every stratum a first year can hold (regrowing land comes only from a step)
    assert strata == {0, 1, 2, 3, 4, 6, 7}
    no_category = np.where(np.arange(n) == 7, 99, lc)
    with pytest.raises(InputDataError, match=r"\[99\] have no IPCC land category"):
        initial_state(no_category, 2020, dyn, **kw)
    far = kw | {"ecozone": np.where(lc == 10, 300, kw["ecozone"])}
    with pytest.raises(IndexError):
        initial_state(lc, 2020, dyn, **far)
    odd = kw | {"position": np.where(np.arange(n) % 2, np.nan, kw["position"])}
    with np.errstate(invalid="ignore"):
        _same_state(
            initial_state(lc, 2020, dyn, **odd),
            _numpy_only(monkeypatch, initial_state, lc, 2020, dyn, **odd),
        )


def test_the_first_state_of_odd_inputs_one_pixel_at_a_time(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each odd value alone in a chunk of natural forest or rubber (codes past the tables or
    negative, an ecozone without a row for the stratum or past the tables, positions that are
    not finite), with the county's ecozone and a default one without rows: the kernel's result
    equals the reference's, or the reference's error is raised. Plantations without positions
    start at the middle of their rotation, and a 0-d pixel or a list is taken as the reference
    takes it."""
    rng = np.random.default_rng(0)
    n = 64
    base = {
        "lc": np.full(n, 10),
        "forest_type": np.zeros(n, np.int64),
        "planting_year": np.zeros(n, np.int64),
        "ecozone": np.full(n, 12),
        "position": rng.random(n),
    }
    edits = [("lc", v) for v in (256, 1000, -1, -246, 99)]
    edits += [("forest_type", v) for v in (258, -254, 2**32 + 2)]
    edits += [("ecozone", v) for v in (13, 255, 256, 300)]
    edits += [("position", v) for v in (np.nan, np.inf, 1e300)]
    for d in (dyn, replace(dyn, default_ecozone=13)):
        for key, v in edits:
            for ft in (0, 2):
                kw = {k: a.copy() for k, a in base.items()}
                kw["forest_type"][:] = ft
                kw[key][5] = v
                lc = kw.pop("lc")
                try:
                    with np.errstate(invalid="ignore"):  # a position cast to an age
                        want: object = dynamics.initial_state_reference(lc, 2020, d, **kw)
                except Exception as exc:  # the reference's error, raised by both
                    with pytest.raises(type(exc)):
                        initial_state(lc, 2020, d, **kw)
                    continue
                with np.errstate(invalid="ignore"):
                    got = initial_state(lc, 2020, d, **kw)
                _same_state(got, cast(State, want))
    rubber = (np.full(n, 10), 2020, dyn)
    got = _compiled(monkeypatch, initial_state, *rubber, forest_type=np.full(n, 2))
    _same_state(got, dynamics.initial_state_reference(*rubber, forest_type=np.full(n, 2)))
    _same_state(
        initial_state(np.array(40), 2020, dyn),
        dynamics.initial_state_reference(np.array(40), 2020, dyn),
    )
    with pytest.raises(InputDataError, match="no IPCC land category"):
        initial_state(np.array(99), 2020, dyn)
    many = [40] * 140_000
    _same_state(initial_state(many, 2020, dyn), initial_state(np.array(many), 2020, dyn))


def _random_state(rng: np.random.Generator, n: int) -> State:
    """n random states (int64, float64 soil): every stratum and none, ages past the curves' end,
    conversions within the transition and not, losses in several years."""
    stratum = rng.integers(0, 8, n)
    return State(
        category=np.where(stratum > 0, rng.integers(1, 7, n), 0),
        stratum=stratum,
        age=rng.integers(0, 400, n),
        years_since_conversion=rng.integers(0, 21, n),
        previous_category=rng.integers(0, 7, n),
        last_loss_year=rng.choice([0, 2005, 2019], n),
        soil_start=np.where(stratum > 0, rng.uniform(0, 120, n), np.nan),
    )


def test_a_step_equals_the_reference_on_every_branch(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random states and inputs: every stratum before and every land cover after, plantation
    forest types on tree, open and other cover, ages around the canopy age and past the curves'
    end, losses dated this year and other years, pixels without data before and after."""
    rng = np.random.default_rng(13)
    n = 60_000
    classes = dyn.table.codes[(dyn.table.codes > 0) & (dyn.table.codes < 256)]
    classes = np.array([c for c in classes if c in dyn.categories])
    state = _random_state(rng, n)
    stratum = state.stratum
    lc_before = np.where(stratum > 0, rng.choice(classes, n), 0)
    # no data now only where there was none before either, or anywhere (data lost)
    lc = np.where(rng.random(n) < 0.03, 0, rng.choice(classes, n))
    lc = np.where(stratum > 0, lc, 0)
    kw = {
        "forest_type": rng.choice([0, 1, 2, 3, 4, 9], n),
        "ecozone": rng.choice([0, 12, 16], n),
        "loss_year": rng.choice([0, 2019, 2020], n, p=[0.8, 0.1, 0.1]),
    }
    for d in (dyn, replace(dyn, agb_scale=0.87, soil_scale=1.21, transition_years=7)):
        args = (state, lc_before, lc, 2020, d)
        stepped = _compiled(monkeypatch, advance, *args, **kw)
        _same_step(stepped, _numpy_only(monkeypatch, advance, *args, **kw))
        assert set(np.unique(stepped[0].stratum)) == set(range(8))
    # without the optional inputs
    args = (state, lc_before, lc, 2020, dyn)
    _same_step(_compiled(monkeypatch, advance, *args), _numpy_only(monkeypatch, advance, *args))
    # a pixel with data now but none last year starts afresh: the reference steps that chunk
    fresh = np.where(np.arange(n) == 5, 40, lc)
    args = (state._replace(stratum=np.where(np.arange(n) == 5, 0, stratum)), lc_before, fresh, 2020)
    with pytest.raises(AssertionError, match="the reference ran"):
        _compiled(monkeypatch, advance, *args, dyn, **kw)
    _same_step(advance(*args, dyn, **kw), _numpy_only(monkeypatch, advance, *args, dyn, **kw))


def test_inputs_the_kernels_do_not_take_go_to_the_reference(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state of other dtypes (the layers' uint8/uint16 on disk, a float32 soil start),
    arguments of other shapes, year 0 without a loss layer: the reference's results (its NumPy
    dtype rules, its broadcasting and errors), not the kernels'."""
    rng = np.random.default_rng(17)
    n = 3000
    stratum = rng.integers(1, 8, n)
    state = State(
        category=np.where(stratum <= 5, 1, 3),
        stratum=stratum,
        age=rng.integers(0, 60, n),
        years_since_conversion=rng.integers(0, 21, n),
        previous_category=rng.integers(0, 7, n),
        last_loss_year=np.zeros(n, np.int64),
        soil_start=rng.uniform(0, 120, n),
    )
    lc = rng.choice([10, 20, 30, 40], n)
    scaled = replace(dyn, soil_scale=1.21)
    narrow = state._replace(stratum=stratum.astype(np.uint8), age=state.age.astype(np.uint16))
    for s in (narrow, state._replace(soil_start=state.soil_start.astype(np.float32))):
        _same_step(
            advance(s, lc, lc, 2020, scaled),
            _numpy_only(monkeypatch, advance, s, lc, lc, 2020, scaled),
        )
        _same(pool_parts(s, lc, scaled), _numpy_only(monkeypatch, pool_parts, s, lc, scaled))
    _same_step(
        advance(state, lc, lc, 0, dyn), _numpy_only(monkeypatch, advance, state, lc, lc, 0, dyn)
    )
    with pytest.raises(IndexError):  # as the reference: an ecozone of another shape
        pool_parts(state, lc, dyn, ecozone=np.full((2, n // 2), 12))


def test_pool_parts_equal_the_reference_on_every_branch(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random states over every stratum, category, age (beyond the curves' end too), years since
    conversion (converted this year, in transition, remaining), previous category and class with
    pool values; the scales away from 1; pixels without data among them."""
    rng = np.random.default_rng(7)
    n = 50_000
    classes = dyn.table.codes[(dyn.table.codes > 0) & (dyn.table.codes < 256)]
    stratum = rng.integers(0, 8, n)
    lc = np.where(stratum > 0, rng.choice(classes, n), 0)
    state = State(
        category=rng.integers(1, 7, n),
        stratum=stratum,
        age=rng.integers(-3, 400, n),
        years_since_conversion=rng.integers(0, 25, n),
        previous_category=rng.integers(0, 7, n),
        last_loss_year=np.zeros(n, np.int64),
        soil_start=rng.uniform(0, 120, n),
    )
    zone = rng.choice([0, 12, 16], n)  # 0: the default zone; natural forest has rows for 12, 16
    scaled = replace(dyn, agb_scale=1.13, soil_scale=0.91)
    for d in (dyn, scaled):
        _same(
            _compiled(monkeypatch, pool_parts, state, lc, d, ecozone=zone),
            _numpy_only(monkeypatch, pool_parts, state, lc, d, ecozone=zone),
        )
    # 2-D chunks keep their shape
    two_d = (State(*(a.reshape(250, 200) for a in state)), lc.reshape(250, 200), dyn)
    _same(
        _compiled(monkeypatch, pool_parts, *two_d, ecozone=zone.reshape(250, 200)),
        _numpy_only(monkeypatch, pool_parts, *two_d, ecozone=zone.reshape(250, 200)),
    )


def test_pool_parts_leave_what_they_cannot_value_to_the_reference(
    dyn: dynamics.Dynamics,
) -> None:
    """A class without pool values, a stratum without a row for its ecozone, a code past the lookup
    tables: the kernel hands the chunk to the reference, whose error names the fix."""
    n = 4
    ones = np.ones(n, np.int64)
    base = State(
        category=ones * 3,
        stratum=ones * 7,
        age=ones,
        years_since_conversion=ones * 20,
        previous_category=np.zeros(n, np.int64),
        last_loss_year=np.zeros(n, np.int64),
        soil_start=np.full(n, 50.0),
    )
    missing = next(c for c in range(1, 256) if c not in set(dyn.table.codes.tolist()))
    lc = np.array([40, 40, missing, 40])
    with pytest.raises(UnknownClassError) as err:
        pool_parts(base, lc, dyn)
    assert str(missing) in str(err.value)

    # every row given to ecozone 12: no "any zone" row for a pixel of another zone
    strata = replace(dyn.strata, ecozones=np.full(len(dyn.strata.strata), 12, np.int64))
    no_row = replace(dyn, strata=strata)
    woody = base._replace(stratum=np.array([7, 1, 7, 7]), category=np.array([3, 1, 3, 3]))
    with pytest.raises(InputDataError, match="no row for"):
        pool_parts(woody, np.array([40, 10, 40, 40]), no_row, ecozone=np.array([12, 99, 12, 12]))

    with pytest.raises(IndexError):  # as the reference: a code past its 256-entry tables
        pool_parts(base, np.array([40, 300, 40, 40]), dyn)

    # a step to a class the legend gives no IPCC land category
    lc = np.array([40, 40, 40, 40])
    no_category = replace(dyn, categories={k: v for k, v in dyn.categories.items() if k != 30})
    with pytest.raises(InputDataError, match=r"land-cover code\(s\) \[30\] have no IPCC"):
        advance(base, lc, np.array([40, 30, 40, 40]), 2020, no_category)
    with pytest.raises(InputDataError, match="no row for"):
        advance(
            woody, lc, np.array([40, 10, 40, 40]), 2020, no_row, ecozone=np.array([12, 99, 12, 12])
        )


def test_weighted_sums_equal_bincount_bit_for_bit() -> None:
    """Σ layer × weight per key, in the entries' order, as ``np.bincount`` adds them: float32,
    float64 and integer layers, weights of partly covered cells, keys in any order."""
    rng = np.random.default_rng(11)
    cells = 300 * 200
    entries = 90_000
    cell = np.sort(rng.integers(0, cells, entries))
    key = rng.integers(0, 37, entries)
    weight = rng.uniform(0.0, 0.01, entries)
    member = Membership(np.zeros(entries, np.int64), cell, weight)
    sums = weighted_sums(member, key, 40)
    for layer in (
        rng.gamma(2.0, 30.0, cells).astype(np.float32).reshape(300, 200),
        rng.gamma(2.0, 30.0, cells),
        rng.integers(0, 200, cells).astype(np.int16),
    ):
        want = np.bincount(
            key, weights=layer.ravel()[cell].astype("float64") * weight, minlength=40
        )
        _bits(sums(layer), want, str(layer.dtype))
        if layer.dtype != np.int16:  # the kernel itself, not a fallback
            got = kernels.weighted_sum(key, cell, weight, np.ascontiguousarray(layer).ravel(), 40)
            assert got is not None
            _bits(got, want, str(layer.dtype))
    with pytest.raises(ValueError, match="within 0..39"):
        weighted_sums(member, np.full(entries, 40), 40)(np.ones(cells))
    # the entries and their weights per key, as the tallies count them
    counted = kernels.count_and_sum(key, weight, 40)
    assert counted is not None
    _bits(counted[0], np.bincount(key, minlength=40).astype(np.int64), "count")
    _bits(counted[1], np.bincount(key, weights=weight, minlength=40), "area")
    assert kernels.count_and_sum(np.full(3, 40), np.ones(3), 40) is None


def _random_entries(
    rng: np.random.Generator, cells: int, entries: int, n: int
) -> zones.WeightedSums:
    """The :class:`WeightedSums` of ``entries`` random entries (cells in order, weights of partly
    covered cells) of a tile of ``cells`` cells, keyed 0 … n − 1 at random."""
    cell = np.sort(rng.integers(0, cells, entries))
    key = rng.integers(0, n, entries)
    weight = rng.uniform(0.0, 0.01, entries)
    return weighted_sums(Membership(np.zeros(entries, np.int64), cell, weight), key, n)


def test_weighted_sums_of_several_layers_four_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers held at once are summed four of one dtype in a pass: each layer's sums the same
    bits as alone (and as ``np.bincount``), in the layers' order, whatever their dtypes."""
    rng = np.random.default_rng(19)
    cells = 200 * 100
    sums = _random_entries(rng, cells, 30_000, 11)
    cell, key, weight = sums.cell, sums.key, sums.weight
    layers = [
        rng.gamma(2.0, 30.0, cells).astype(np.float32 if i % 3 else np.float64) for i in range(11)
    ]
    layers.append(rng.integers(0, 9, cells).astype(np.uint8))
    passes = []
    four = kernels.weighted_sum4

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        passes.append(args[3][0].dtype)
        return four(*args, **kwargs)

    monkeypatch.setattr(kernels, "weighted_sum4", counted)
    got = sums.many(layers)
    # 7 float32 layers, 5 float64 (the uint8 one made float64): one pass of four each, the rest
    # alone
    assert sorted(map(str, passes)) == ["float32", "float64"]
    for layer, total in zip(layers, got, strict=True):
        want = np.bincount(key, weights=layer[cell].astype("float64") * weight, minlength=11)
        _bits(total, want, str(layer.dtype))


def test_group_sums_with_and_without_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tally engine's table is the same, bit for bit, either way: keys of uint8, int64 and
    float32 codes (the state's layers are read as float32), values as arrays and as functions."""
    rng = np.random.default_rng(5)
    side = 64
    valid = rng.random(side * side) < 0.9
    cells = np.flatnonzero(valid)
    member = Membership(
        np.concatenate([np.zeros(cells.size, np.int64), 1 + cells % 3]),
        np.concatenate([cells, cells]),
        np.concatenate([np.full(cells.size, 0.01), rng.uniform(0, 0.01, cells.size)]),
    )
    keys = {
        "class_start": rng.choice([10, 20, 30], side * side).astype(np.uint8),
        "stratum": rng.choice([1, 5, 7], side * side).astype(np.float32).reshape(side, side),
        "years": rng.choice([0, 20, 3000], side * side),
    }
    values = {
        "a": rng.gamma(2.0, 30.0, side * side).astype(np.float32),
        "b": lambda: np.ones(4096),
        **{f"s{i}": rng.gamma(2.0, 30.0, side * side) for i in range(5)},
    }
    compiled = _compiled(monkeypatch, group_sums, member, keys, values)
    reference = _numpy_only(monkeypatch, group_sums, member, keys, values)
    assert compiled.equals(reference)
    assert len(compiled) == 4 * 3 * 3 * 3
    assert list(compiled["stratum"].unique()) == [1, 5, 7]
    # key layers of dtypes the kernels do not take: the reference's keys, the same table
    other = {
        "class_start": keys["class_start"].astype(">i2"),
        "stratum": keys["stratum"].astype(np.float16),
        "years": keys["years"],
    }
    assert group_sums(member, other, values).equals(reference)


def test_net_flux_is_the_stock_difference_in_co2e(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interval's flux layers: ``co2e_flux(stock_difference(...))`` bit for bit, with NaN,
    infinities, signed zeros and equal stocks; by hand, 10 → 8 Mg C/ha in 2 years is an emission
    of (10 − 8) / 2 × 44/12 Mg CO2e/ha/yr, and 4 → 5 a removal."""
    rng = np.random.default_rng(23)
    start = rng.gamma(2.0, 30.0, (300, 200)).astype(np.float32)
    end = (start * rng.uniform(0.9, 1.1, start.shape)).astype(np.float32)
    start.ravel()[:6] = [np.nan, 1.0, np.inf, -0.0, 0.0, -np.nan]
    end.ravel()[:6] = [1.0, np.nan, 5.0, 0.0, -0.0, 3.0]
    end.ravel()[6:9] = start.ravel()[6:9]
    for t0, t1 in ((2020, 2021), (2018, 2023)):
        got = _compiled(monkeypatch, carbon.net_flux, start, end, t0, t1)
        want = _numpy_only(monkeypatch, carbon.net_flux, start, end, t0, t1)
        _bits(got, want, f"{t0}-{t1}")
    hand = _compiled(monkeypatch, carbon.net_flux, np.float32([10, 4]), np.float32([8, 5]), 0, 2)
    np.testing.assert_allclose(hand, [2 / 2 * 44 / 12, -1 / 2 * 44 / 12], rtol=1e-6)
    # float64 stocks, or of other shapes: the reference's rules (float32 out, broadcasting)
    wide = start.astype(np.float64)
    _bits(
        carbon.net_flux(wide, end, 2020, 2021),
        carbon.co2e_flux(carbon.stock_difference(wide, end, 2020, 2021)),
        "float64",
    )
    _bits(
        carbon.net_flux(start, end[:1], 2020, 2021),
        carbon.co2e_flux(carbon.stock_difference(start, end[:1], 2020, 2021)),
        "broadcast",
    )
    with pytest.raises(InputDataError, match="forwards"):
        carbon.net_flux(start, end, 2021, 2021)


def test_step_fluxes_equal_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gain-loss layers of a step: ``step_fluxes``' expressions bit for bit (NaN outside the
    data, zero gains and losses, infinities); by hand, 3 Mg C/ha gained and 1 lost in 2 years:
    net −(1.5 − 0.5) × 44/12, removals −1.5 × 44/12, emissions 0.5 × 44/12 Mg CO2e/ha/yr."""
    rng = np.random.default_rng(31)
    gains = rng.gamma(1.0, 2.0, (300, 200))
    losses = np.where(rng.random(gains.shape) < 0.1, rng.gamma(2.0, 20.0, gains.shape), 0.0)
    gains.ravel()[:5] = [np.nan, 0.0, -0.0, np.inf, 1.0]
    losses.ravel()[:5] = [np.nan, 0.0, 0.0, 1.0, np.inf]
    for years in (1, 3, np.int64(2)):
        got = _compiled(monkeypatch, carbon.step_fluxes, gains, losses, years)
        want = _numpy_only(monkeypatch, carbon.step_fluxes, gains, losses, years)
        _bits(got, want, str(years))
    # every pair of special values: zeros of both signs, infinities, a subnormal, NaNs of both
    # signs and other payloads, a signalling NaN
    special = np.concatenate(
        [
            [0.0, -0.0, np.inf, -np.inf, 1.0, 5e-324],
            np.array(
                [0x7FF8000000000001, 0xFFF8000000000123, 0x7FF0000000000001, 0xFFF8000000000000],
                np.uint64,
            ).view(np.float64),
        ]
    )
    g, loss = np.meshgrid(special, special)
    with np.errstate(invalid="ignore"):  # inf − inf in the reference
        for years in (1, np.int64(3)):
            got = _compiled(monkeypatch, carbon.step_fluxes, g, loss, years)
            _bits(got, _numpy_only(monkeypatch, carbon.step_fluxes, g, loss, years), "special")
    with monkeypatch.context() as m:
        m.setattr(carbon, "co2e", _no_reference)
        hand = carbon.step_fluxes(np.array([3.0]), np.array([1.0]), 2)
    np.testing.assert_allclose(hand[:, 0], [-1.0 * 44 / 12, -1.5 * 44 / 12, 0.5 * 44 / 12], 1e-6)
    # float32 inputs, a fractional span: the expressions themselves; other shapes: their error
    for args in ((gains.astype(np.float32), losses, 1), (gains, losses, 1.5)):
        want = _numpy_only(monkeypatch, carbon.step_fluxes, *args)
        _bits(carbon.step_fluxes(*args), want, "reference")
    with pytest.raises(ValueError, match="same shape"):
        carbon.step_fluxes(gains, losses[:1], 1)


def test_the_interval_change_sums_equal_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interval's stock-difference sums in one pass over the entries: the same bits as the
    stocks, totals and fluxes' parts made whole and summed (float32 and float64 stocks, NaN at
    cells no entry reads); layers of mixed dtypes go to the reference. By hand: one key, two
    cells of 1 and 2 ha, above-ground 10 → 8 and 4 → 5 Mg C/ha in 2 years (the other pools 0):
    emissions (10 − 8) / 2 × 44/12 × 1, removals (4 − 5) / 2 × 44/12 × 2, stocks 18 and 18."""
    rng = np.random.default_rng(29)
    cells = 120 * 90
    by_key = _random_entries(rng, cells, 20_000, 13)
    cell = by_key.cell
    start = [rng.gamma(2.0, 30.0, (120, 90)).astype(np.float32) for _ in range(4)]
    end = [(a * rng.uniform(0.8, 1.2, a.shape)).astype(np.float32) for a in start]
    end[1].ravel()[cell[:50]] = start[1].ravel()[cell[:50]]  # no change: +0.0 in both parts
    unread = np.setdiff1d(np.arange(cells), cell)
    start[2].ravel()[unread[:5]] = np.nan
    wide = ([a.astype(np.float64) for a in start], [b.astype(np.float64) for b in end])
    for years in (1, 5):
        for s0, s1 in ((start, end), wide):
            got = _compiled(monkeypatch, interval._stock_change_sums, by_key, s0, s1, years)
            want = _numpy_only(monkeypatch, interval._stock_change_sums, by_key, s0, s1, years)
            assert (
                list(got)
                == list(want)
                == [
                    f"sd_{part}:{pool}"
                    for pool in ("above", "below", "dead", "soil", "total")
                    for part in ("s0", "s1", "emissions", "removals")
                ]
            )
            for name in want:
                _bits(got[name], want[name], name)

    def no_kernel(*args: object) -> None:
        raise AssertionError("the kernel ran on layers of two dtypes")

    with monkeypatch.context() as m:  # layers of two dtypes: the reference makes them
        m.setattr(kernels, "change_sums", no_kernel)
        mixed = interval._stock_change_sums(by_key, start, [end[0].astype(np.float64), *end[1:]], 3)
    reference = interval._stock_change_sums_reference(
        by_key, start, [end[0].astype(np.float64), *end[1:]], 3
    )
    for name in reference:
        _bits(mixed[name], reference[name], name)
    two_cells = Membership(np.zeros(2, np.int64), np.arange(2), np.array([1.0, 2.0]))
    one = weighted_sums(two_cells, np.zeros(2, np.int64), 1)
    zeros = [np.zeros(2, np.float32)] * 3
    s0, s1 = [np.float32([10, 4]), *zeros], [np.float32([8, 5]), *zeros]
    hand = _compiled(monkeypatch, interval._stock_change_sums, one, s0, s1, 2)
    for pool in ("above", "total"):
        np.testing.assert_allclose(hand[f"sd_emissions:{pool}"], [2 / 2 * 44 / 12 * 1])
        np.testing.assert_allclose(hand[f"sd_removals:{pool}"], [-1 / 2 * 44 / 12 * 2])
        np.testing.assert_allclose(hand[f"sd_s0:{pool}"], [18.0])
        np.testing.assert_allclose(hand[f"sd_s1:{pool}"], [18.0])
    assert hand["sd_emissions:soil"].tolist() == [0.0]


def test_change_sums_of_pools_far_apart_in_size_and_with_nan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pools of very different magnitudes (their float64 totals inexact, so the order of the
    additions shows), stocks that triple or vanish, a key whose cells hold NaN: the same bits as
    the reference; a key or cell out of range is left to it."""
    rng = np.random.default_rng(31)
    by_key = _random_entries(rng, 60 * 50, 8_000, 7)
    scale = [10 ** rng.uniform(-8, 8, (60, 50)) for _ in range(4)]
    start = [(rng.gamma(2.0, 30.0, (60, 50)) * f).astype(np.float32) for f in scale]
    end = [(a * rng.uniform(0.0, 3.0, a.shape)).astype(np.float32) for a in start]
    nan_start = [a.copy() for a in start]
    nan_start[2].ravel()[by_key.cell[by_key.key == 3]] = np.nan  # key 3's sums NaN only
    wide = ([a.astype(np.float64) for a in start], [b.astype(np.float64) for b in end])
    for years in (1, 3):
        for s0, s1 in ((start, end), (nan_start, end), wide):
            with np.errstate(all="ignore"):
                got = _compiled(monkeypatch, interval._stock_change_sums, by_key, s0, s1, years)
                want = _numpy_only(monkeypatch, interval._stock_change_sums, by_key, s0, s1, years)
            for name in want:
                _bits(got[name], want[name], name)
    one, weights = np.zeros(3, np.float32), np.ones(2)
    for key, cell in (([0, 5], [0, 1]), ([0, 1], [0, 3])):
        args = (np.array(key), np.array(cell), weights, [one] * 4, [one] * 4, 1.0, 2)
        assert kernels.change_sums(*args) is None


def test_net_flux_of_any_float32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random float32 bit patterns (NaN payloads, subnormals, infinities, stocks far apart):
    the net flux the same bits as the reference's; a fractional span goes to the reference."""
    rng = np.random.default_rng(37)
    bits = rng.integers(0, 2**32, (2, 200_000), dtype=np.uint64).astype(np.uint32)
    start, end = bits.view(np.float32)
    with np.errstate(all="ignore"):
        for t0, t1 in ((2020, 2021), (2018, 2023)):
            got = _compiled(monkeypatch, carbon.net_flux, start, end, t0, t1)
            want = _numpy_only(monkeypatch, carbon.net_flux, start, end, t0, t1)
            _bits(got, want, f"{t0}-{t1}")
        half = carbon.co2e_flux(carbon.stock_difference(start, end, 2020, 2021.5))
        _bits(carbon.net_flux(start, end, 2020, 2021.5), half, "1.5 years")


def _splitmix_by_hand(row: int, col: int) -> float:
    """The plantations' position of a pixel, in Python integers mod 2**64."""
    mask = (1 << 64) - 1
    h = (row * 0x9E3779B97F4A7C15 & mask) ^ (col * 0xC2B2AE3D27D4EB4F & mask)
    h ^= h >> 30
    h = h * 0xBF58476D1CE4E5B9 & mask
    h ^= h >> 27
    h = h * 0x94D049BB133111EB & mask
    h ^= h >> 31
    return (h >> 11) / 2**53


def test_the_positions_of_a_window_equal_the_pixels_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first year's plantation positions of a chunk (``window_uniform``): the same bits as
    ``pixel_uniform`` of its rows and columns, anywhere on the grid, and as splitmix64 by hand."""
    for r0, r1, c0, c1 in (
        (0, 300, 0, 200),
        (2048, 2100, 4096, 4099),
        (10**9, 10**9 + 3, 2**40, 2**40 + 5),
    ):
        got = _compiled(monkeypatch, stocks.window_uniform, r0, r1, c0, c1)
        rows, cols = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        _bits(got, stocks.pixel_uniform(rows, cols), f"{r0}, {c0}")
        _bits(_numpy_only(monkeypatch, stocks.window_uniform, r0, r1, c0, c1), got, "reference")
        assert got[1, 2] == _splitmix_by_hand(r0 + 1, c0 + 2)
    assert 0.0 <= got.min() and got.max() < 1.0


def test_the_tallies_take_a_long_double_as_float64() -> None:
    """A value layer of another dtype than float32/float64 (a long double: no raster holds one,
    but the library takes any array) is made float64 before the tallies check and sum it: a
    value past float64's range is then infinite, and not counted; the totals are float64's."""
    from sinkmap.account.zones import Zones
    from sinkmap.grid import Grid

    grid = Grid("EPSG:32649", 10.0, 700_000.0, 2_060_000.0, width=2, height=1, chunk=16)
    (tile,) = grid.tiles()
    lc = np.ones((1, 2), np.uint8)
    pools = np.array([[[1.0, 2**53 + 1 + 2**-10]]] * 4, np.longdouble)
    area = grid.cell_area_ha(tile.window)
    tally = stocks._stock_tile(grid, Zones(grid), tile, lc, pools, area)
    wide = pools.astype(np.float64)
    assert tally.equals(stocks._stock_tile(grid, Zones(grid), tile, lc, wide, area))
    ones = np.ones((1, 2), np.float32)
    blocks = {"c0": lc, "c1": lc, **{p + t: ones for p in POOL_NAMES for t in "01"}}
    blocks["gl_removals"] = np.array([[np.longdouble("-1e4000"), -1.0]], np.longdouble)
    blocks["gl_emissions"] = ones
    with np.errstate(over="ignore"):
        change = interval._change_tile(grid, Zones(grid), tile, blocks, 1)
    area = grid.cell_area_ha(tile.window)[0, 1]
    assert change["area_ha"].tolist() == [area]  # the first cell not counted
    assert change["gl_removals:total"].tolist() == [-area]


@pytest.mark.parametrize("bad", [-1, 70_000, np.nan])
def test_group_sums_name_a_key_out_of_range(bad: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code outside 0 … 65535 at a counted cell (NaN included): the error names the key."""
    member = Membership(np.zeros(3, np.int64), np.arange(3), np.full(3, 0.01))
    layer = np.array([10.0, bad, 20.0, bad])  # the last cell is not counted
    with pytest.raises(InputDataError, match="class_start codes must be within 0..65535"):
        group_sums(member, {"class_start": layer}, {"v": np.ones(4)})
    fine = _compiled(
        monkeypatch,
        group_sums,
        member,
        {"class_start": np.array([10.0, 20.0, 20.0, bad])},
        {"v": np.ones(4)},
    )
    assert fine["class_start"].tolist() == [10, 20]


def test_a_chunk_the_kernel_cannot_step_whole_is_stepped_slice_by_slice(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pixel starting afresh in a chunk of five slices: the kernel steps the four slices
    without it, the reference only the fifth; the whole equals the references' step."""
    rng = np.random.default_rng(23)
    n = 5000
    stratum = rng.integers(1, 8, n)
    stratum[2500] = 0  # no data last year, land cover now: starts afresh
    state = State(
        category=np.where(stratum <= 5, 1, 3) * (stratum > 0),
        stratum=stratum,
        age=rng.integers(0, 60, n),
        years_since_conversion=np.full(n, 20),
        previous_category=np.zeros(n, np.int64),
        last_loss_year=np.zeros(n, np.int64),
        soil_start=np.where(stratum > 0, 50.0, np.nan),
    )
    lc = rng.choice([10, 20, 30, 40], n)
    monkeypatch.setattr(slices, "SLICE", 1000)
    calls = []
    reference = dynamics.advance_reference

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(args[0].stratum))
        return reference(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(dynamics, "advance_reference", counted)
        stepped = advance(state, lc, lc, 2020, dyn, ecozone=np.full(n, 12))
    assert calls == [1000]
    _same_step(
        stepped, _numpy_only(monkeypatch, advance, state, lc, lc, 2020, dyn, ecozone=np.full(n, 12))
    )
    assert stepped[0].stratum[2500] > 0 and stepped[0].age[2500] >= 0


def test_arguments_that_broadcast_and_empty_tallies_keep_the_references_rules(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk larger than a slice with an argument that broadcasts (a 0-d loss year) steps as
    the reference steps it whole; a tally without entries gives float64 sums either way."""
    n = 3000
    monkeypatch.setattr(slices, "SLICE", 1000)
    state = initial_state(np.full(n, 40), 2019, dyn)
    lc = np.full(n, 40)
    for loss in (np.array(2020), np.array([0]), 2020):
        _same_step(
            advance(state, lc, lc, 2020, dyn, loss_year=loss),
            _numpy_only(monkeypatch, advance, state, lc, lc, 2020, dyn, loss_year=loss),
        )
    empty = Membership(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    keys, values = {"class_code": np.full(4, 10, np.uint8)}, {"v": np.ones(4)}
    compiled = group_sums(empty, keys, values)
    reference = _numpy_only(monkeypatch, group_sums, empty, keys, values)
    assert compiled.equals(reference)
    assert compiled["area_ha"].dtype == compiled["v"].dtype == np.float64


def _state_layers(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A state's seven layers as written (:data:`sinkmap.dynamics.STATE_LAYERS`' dtypes): codes
    of every value of their dtype, a stratum of 0 (outside the data) in about a third of the
    pixels, and soil starts of any float32 bits (NaNs of both signs, infinities, signed zeros,
    subnormals)."""
    layers = {
        name: rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
        for name, (dtype, _nodata) in dynamics.STATE_LAYERS.items()
        if dtype != "float32"
    }
    layers["stratum"][rng.random(shape) < 0.35] = 0
    bits = rng.integers(0, 2**32, shape, dtype=np.uint64).astype(np.uint32)
    soil = bits.view(np.float32)
    soil.ravel()[:8] = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.5]
    layers["soil_start"] = soil
    return layers


def test_a_state_read_and_stacked_equals_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state as the stages read it (``State.from_arrays``) and write it (``State.stack``):
    the references' bits, and by hand: outside the data (stratum 0) the state is 0 with a NaN
    soil start, and its stack each layer's nodata."""
    rng = np.random.default_rng(31)
    layers = _state_layers(rng, (300, 211))
    got = _compiled(monkeypatch, State.from_arrays, layers)
    with np.errstate(invalid="ignore"):  # signalling NaNs made float64 (quiet), as in the kernel
        _same_state(got, _numpy_only(monkeypatch, State.from_arrays, layers))
        _same_state(got, State.from_arrays_reference(layers))
    assert [a.dtype for a in got] == [np.dtype(np.int64)] * 6 + [np.dtype(np.float64)]
    stacked = _compiled(monkeypatch, got.stack)
    _bits(stacked, got.stack_reference(np.empty_like(stacked)), "stack")
    # into a slice of a larger stack, as the stocks stage writes it
    out = np.full((10, 300, 211), 7.0, np.float32)
    _compiled(monkeypatch, got.stack, out=out[2:9])
    _bits(out[2:9], stacked, "stack into out")
    assert (out[:2] == 7.0).all() and (out[9:] == 7.0).all()
    # into a strided out (the reference writes it), or an out that holds the layers' memory
    for other in (
        np.full((7, 300, 422), 7.0, np.float32)[:, :, ::2],
        np.full((211, 300, 7), 7.0, np.float32).T,  # Fortran order
    ):
        assert got.stack(out=other) is other
        _bits(np.ascontiguousarray(other), stacked, "strided out")
    # big-endian layers: the reference reads them
    swapped = {k: v.astype(v.dtype.newbyteorder()) for k, v in layers.items()}
    with np.errstate(invalid="ignore"):
        _same_state(State.from_arrays(swapped), got)

    one = {name: np.array([layers[name].ravel()[0]] * 2) for name in layers}
    one["stratum"] = np.array([0, 4], np.uint8)
    one["category"] = np.array([9, 3], np.uint8)
    one["age"] = np.array([40_000, 12], np.uint16)
    one["soil_start"] = np.array([5.0, 61.25], np.float32)
    state = _compiled(monkeypatch, State.from_arrays, one)
    assert (state.stratum.tolist(), state.category.tolist(), state.age.tolist()) == (
        [0, 4],
        [0, 3],
        [0, 12],
    )
    assert np.isnan(state.soil_start[0]) and state.soil_start[1] == 61.25
    stack = _compiled(monkeypatch, state.stack)
    assert stack[:6, 0].tolist() == [0, 0, 65535, 255, 255, 65535] and np.isnan(stack[6, 0])
    assert stack[[0, 1, 2, 6], 1].tolist() == [3, 4, 12, 61.25]


def test_a_state_of_other_dtypes_or_values_is_read_and_stacked_by_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Layers of other dtypes than the files' (float32 codes, as an in-memory chunk may hold),
    or a state whose values float32 rounds (integers past 2**24, float64 soil starts): the
    kernels' dispatchers give the references' bits; a stack into float64 or non-contiguous
    arrays is the reference's."""
    rng = np.random.default_rng(37)
    layers = {k: v.astype(np.float32) for k, v in _state_layers(rng, (40, 30)).items()}
    with np.errstate(invalid="ignore"):  # NaN codes made int64, as NumPy casts them
        layers["soil_start"] = layers["soil_start"].astype(np.float64)
        _same_state(State.from_arrays(layers), State.from_arrays_reference(layers))
    n = 1000
    big = rng.integers(-(2**62), 2**62, n)
    # float32 of int64 rounds once (2**53 + 2**29 + 1 is 2**53 + 2**30, not 2**53 as through
    # float64)
    big[:5] = [2**24 + 1, 2**24 + 3, -(2**53) - 1, 2**63 - 1, 2**53 + 2**29 + 1]
    stratum = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 2**40, n))
    stratum[:6] = 1
    state = State(
        category=big,
        stratum=stratum,
        age=big[::-1].copy(),
        years_since_conversion=big // 3,
        previous_category=big // 7,
        last_loss_year=-big,
        soil_start=rng.standard_normal(n) * 1e30,
    )
    state.soil_start[:6] = [np.nan, -np.nan, 1e300, -0.0, 0.0, -1e300]
    got = _compiled(monkeypatch, state.stack)
    assert got[0, 4] == np.float32(2**53 + 2**30)
    assert np.signbit(got[6, 3]) and not np.signbit(got[6, 4])
    with np.errstate(over="ignore"):  # 1e300 is an infinite float32, in both
        _bits(got, state.stack_reference(np.empty((7, n), np.float32)), "rounded")
    wide = np.empty((7, n))
    _bits(state.stack(out=wide), state.stack_reference(np.empty((7, n))), "float64 out")
    strided = np.empty((7, 2 * n), np.float32)[:, ::2]
    with np.errstate(over="ignore"):
        _bits(state.stack(out=strided), got, "strided out")
    # a 0-d state, a read-only out, an out that holds the layers: the reference's results
    point = State(*[np.array(5)] * 6, np.array(1.5))
    with pytest.raises(TypeError):
        point.stack()
    frozen = np.empty((7, n), np.float32)
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        state.stack(out=frozen)

    def in_one_buffer() -> tuple[np.ndarray, State]:
        """Six int64 layers of 8 pixels in one buffer, and an out over its first bytes."""
        buffer = np.arange(1, 6 * 8 + 1, dtype=np.int64)
        layers = [buffer[8 * i : 8 * i + 8] for i in range(6)]
        return buffer, State(*layers, np.linspace(0.0, 1.0, 8))

    buffer, overlapping = in_one_buffer()
    overlapping.stack(out=buffer.view(np.float32)[: 7 * 8].reshape(7, 8))
    reference, same = in_one_buffer()
    same.stack_reference(reference.view(np.float32)[: 7 * 8].reshape(7, 8))
    _bits(buffer, reference, "out over the layers")


def _random_coverage(rng: np.random.Generator, m: int, cells: int) -> zones.ZoneCoverage:
    """m entries of three zones over a tile of ``cells`` cells, in no order, fractions in
    (0.01, 1)."""
    return zones.ZoneCoverage(
        rng.integers(0, 3, m), rng.integers(0, cells, m), rng.uniform(0.01, 1.0, m)
    )


def test_membership_equals_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile's entries (``membership``): the AOI's valid cells and areas, then the zones'
    covered cells, the reference's arrays bit for bit, with and without zones, with no or every
    cell valid; by hand on three cells."""
    rng = np.random.default_rng(41)
    shape = (120, 97)
    area = rng.uniform(0.009, 0.011, shape)
    m = 900
    coverage = _random_coverage(rng, m, area.size)
    for valid in (rng.random(shape) < 0.6, np.zeros(shape, bool), np.ones(shape, bool)):
        for cover in (None, coverage):
            got = _compiled(monkeypatch, zones.membership, valid, area, cover)
            want = zones.membership_reference(valid, area, cover)
            for field in ("zone", "cell", "weight"):
                _bits(getattr(got, field), getattr(want, field), field)
    hand = _compiled(
        monkeypatch,
        zones.membership,
        np.array([True, False, True]),
        np.array([0.5, 0.25, 0.125]),
        zones.ZoneCoverage(np.array([1, 0]), np.array([1, 2]), np.array([1.0, 0.5])),
    )
    assert hand.zone.tolist() == [0, 0, 1] and hand.cell.tolist() == [0, 2, 2]
    assert hand.weight.tolist() == [0.5, 0.125, 0.0625]
    # an area that is not one per cell, or a coverage of other dtypes: the reference's rules
    with pytest.raises(IndexError):
        zones.membership(np.ones(4, bool), 0.5)
    odd = zones.ZoneCoverage(
        coverage.zone.astype(np.uint64), coverage.cell, coverage.fraction.astype(np.longdouble)
    )
    valid = rng.random(shape) < 0.6
    got, want = zones.membership(valid, area, odd), zones.membership_reference(valid, area, odd)
    _bits(got.cell, want.cell, "cell")
    for a, b in ((got.zone, want.zone), (got.weight, want.weight)):  # float64, long double
        assert a.dtype == b.dtype != np.int64 and np.array_equal(a, b)  # (padding bytes aside)


def test_a_chunk_given_as_lists_is_stepped_slice_by_slice_as_arrays(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists of one value per pixel are cut into the slices as arrays are (a chunk the kernel
    cannot step whole: one pixel starting afresh)."""
    n = 3000
    monkeypatch.setattr(slices, "SLICE", 1000)
    state = initial_state(np.full(n, 40), 2019, dyn)
    stratum = state.stratum.copy()
    stratum[1500] = 0  # no data last year, land cover now: starts afresh
    state = state._replace(stratum=stratum)
    lc = [40] * n
    _same_step(
        advance(state, lc, lc, 2020, dyn), advance(state, np.array(lc), np.array(lc), 2020, dyn)
    )


# -- the stocks stage's one-pass layers (DynamicsModel.first_layers, step_layers) ---------------
def _state_model(**params: object) -> object:
    """The dynamics model with every optional role (as the demo's config names them)."""
    return get_model(
        "dynamics",
        {
            "strata": str(ROOT / "config" / "dynamics" / "strata.csv"),
            "table": str(ROOT / "config" / "pools" / "worldcover_ipcc_tier1.csv"),
            "plantation_role": "forest_type",
            "planting_year_role": "planting_year",
            "ecozone_role": "ecozone",
            "loss_role": "loss",
            "loss_year_base": 2000,
            **params,
        },
    )


def _as_read(stack: np.ndarray) -> dict[str, np.ndarray]:
    """The state rows (4 … 10) of a stage's stack as the next year reads them: each layer in the
    dtype it is written in (dynamics.STATE_LAYERS)."""
    return {
        name: stack[4 + i].astype(dtype)
        for i, (name, (dtype, _nodata)) in enumerate(dynamics.STATE_LAYERS.items())
    }


def _first(model, *args):  # type: ignore[no-untyped-def]
    return model.first_layers(*args)


def _first_ref(model, *args):  # type: ignore[no-untyped-def]
    return model.first_layers_reference(*args)


def _step(model, *args):  # type: ignore[no-untyped-def]
    return model.step_layers(*args)


def _step_ref(model, *args):  # type: ignore[no-untyped-def]
    return model.step_layers_reference(*args)


def _takes(monkeypatch: pytest.MonkeyPatch, fn, *args) -> bool:  # type: ignore[no-untyped-def]
    """Whether the one-pass kernel takes the chunk: ``fn(*args)`` runs without the model's
    reference (``SINKMAP_KERNELS`` as it is set)."""
    with monkeypatch.context() as m:
        m.setattr(DynamicsModel, "first_layers_reference", _no_reference)
        m.setattr(DynamicsModel, "step_layers_reference", _no_reference)
        try:
            fn(*args)
        except AssertionError as exc:
            if "the reference ran" not in str(exc):
                raise
            return False
    return True


def _one_pass(monkeypatch: pytest.MonkeyPatch, fn, *args):  # type: ignore[no-untyped-def]
    """``fn(*args)`` with the model's one-pass kernel, its reference failing the test if it ran."""
    with monkeypatch.context() as m:
        m.delenv(kernels.ENV, raising=False)
        m.setattr(DynamicsModel, "first_layers_reference", _no_reference)
        m.setattr(DynamicsModel, "step_layers_reference", _no_reference)
        return fn(*args)


def test_the_stocks_layers_of_one_pass_are_the_models_layers_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six years of the synthetic Baoting landscape, every input in its file's dtype (uint8 codes,
    a uint16 planting year, Hansen-style uint8 loss codes): the stage's layers from the one-pass
    kernels equal, byte for byte, those of the model's initial state, step, pools and the state's
    stack (the functions test_dynamics checks by hand), with and without the step's rows."""
    side = 160
    lon = np.linspace(109.45, 109.75, side)
    lat = np.linspace(18.75, 18.45, side)
    model = _state_model()
    rng = np.random.default_rng(5)
    roles = {
        "forest_type": landscape.forest_type(lon, lat, 2023).astype(np.uint8),
        "planting_year": landscape.planting_year(lon, lat, 2018).astype(np.uint16),
        "ecozone": landscape.ecozone(lon, lat).astype(np.uint8),
    }
    lc = {y: landscape.landscape(lon, lat, y)[0].astype(np.uint8) for y in range(2018, 2024)}
    position = stocks.window_uniform(0, side, 0, side)
    chunk = {**roles, "land_cover": lc[2018], "loss": np.zeros((side, side), np.uint8)}
    for rows in (11, 14):
        got = _one_pass(
            monkeypatch,
            _first,
            model,
            chunk,
            2018,
            position,
            np.empty((rows, side, side), np.float32),
        )
        want = _first_ref(model, chunk, 2018, position, np.full((rows, side, side), 7, np.float32))
        _bits(got, want, f"first year, {rows} rows")
    assert np.isnan(got[11:]).all() and np.isfinite(got[:4]).any()
    changed = 0
    for year in range(2019, 2024):
        loss = np.where(rng.random((side, side)) < 0.03, year - 2000, 0).astype(np.uint8)
        chunk = {**roles, "land_cover": lc[year], "loss": loss}
        args = (model, _as_read(got), lc[year - 1], chunk, year - 1, year)
        for rows in (11, 14):
            out = np.empty((rows, side, side), np.float32)
            step = _one_pass(monkeypatch, _step, *args, out)
            ref = np.full((rows, side, side), 7, np.float32)
            _bits(step, _step_ref(*args, ref), f"{year}, {rows} rows")
        changed += int((step[11] != 0).sum())
        got = step
    assert changed > 0  # the step's fluxes are not all zero


def test_the_stocks_layers_of_one_pass_on_every_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random states as read (every stratum, ages past the curves, conversions within the
    transition and not, losses dated this year and others, pixels without data before, now or
    both) and random first-year inputs: the one-pass layers equal the model's, with scaled
    parameters, with and without the optional roles."""
    rng = np.random.default_rng(23)
    shape = (150, 400)
    n = shape[0] * shape[1]
    base = _state_model()
    dyn = base.dynamics  # type: ignore[attr-defined]
    classes = dyn.table.codes[(dyn.table.codes > 0) & (dyn.table.codes < 256)]
    classes = np.array([c for c in classes if c in dyn.categories], np.uint8)
    state = _random_state(rng, n)
    stratum = state.stratum
    stack = np.empty((14, *shape), np.float32)
    state.stack(out=stack[4:11].reshape(7, -1))
    before = _as_read(stack)
    lc_before = np.where(stratum > 0, rng.choice(classes, n), 0).astype(np.uint8).reshape(shape)
    lc = np.where(rng.random(n) < 0.03, 0, rng.choice(classes, n))
    lc = np.where(stratum > 0, lc, 0).astype(np.uint8).reshape(shape)
    roles = {
        "forest_type": rng.choice([0, 1, 2, 3, 4, 9], shape).astype(np.uint8),
        "planting_year": rng.choice([0, 1990, 2015, 2019, 2020, 2021], shape).astype(np.uint16),
        "ecozone": rng.choice([0, 12, 16], shape).astype(np.uint8),
        "loss": rng.choice([0, 19, 20], shape, p=[0.8, 0.1, 0.1]).astype(np.uint8),
    }
    first_lc = np.where(rng.random(shape) < 0.05, 0, rng.choice(classes, shape)).astype(np.uint8)
    position = rng.random(shape)
    scaled = _state_model(agb_scale=0.87, soil_scale=1.21, transition_years=7)
    bare = get_model(
        "dynamics",
        {
            "strata": str(ROOT / "config" / "dynamics" / "strata.csv"),
            "table": str(ROOT / "config" / "pools" / "worldcover_ipcc_tier1.csv"),
        },
    )
    strata: set[int] = set()
    for model in (base, scaled, bare):
        chunk = {**roles, "land_cover": lc}
        args = (model, before, lc_before, chunk, 2019, 2020)
        got = _one_pass(monkeypatch, _step, *args, np.empty((14, *shape), np.float32))
        want = _step_ref(*args, np.full((14, *shape), 7, np.float32))
        _bits(got, want, "step")
        strata |= set(np.unique(got[5][np.isfinite(got[5])]).tolist())
        first = {**roles, "land_cover": first_lc}
        for year in (2020, 2021):
            a = (model, first, year, position)
            got = _one_pass(monkeypatch, _first, *a, np.empty((11, *shape), np.float32))
            _bits(got, _first_ref(*a, np.zeros((11, *shape), np.float32)), "1")
    assert set(range(1, 8)) <= strata  # every stratum reached


def _repeats_but_one(
    rng: np.random.Generator, layers: dict[str, np.ndarray], group: np.ndarray
) -> dict[str, np.ndarray]:
    """Each pixel of ``layers`` (1-D) three times in a row, the third with one layer's value (one
    layer at random per pixel) taken from another pixel of its ``group``; a float32 value one
    ulp up instead, or −0 for +0."""
    n = group.size
    order = np.argsort(group, kind="stable")
    donor = np.empty(n, np.int64)
    for g in np.unique(group):
        members = order[group[order] == g]
        donor[members] = rng.choice(members, members.size)
    out = {name: np.repeat(a, 3) for name, a in layers.items()}
    names = list(layers)
    for j, which in enumerate(rng.integers(0, len(names), n)):
        name = names[which]
        a, at = layers[name], 3 * j + 2
        if a.dtype == np.float32:
            out[name][at] = (
                np.float32(-0.0) if a[j] == 0 else np.nextafter(a[j], np.float32(np.inf))
            )
        else:
            out[name][at] = a[donor[j]]
    return out


def test_a_pixel_like_the_one_before_but_in_one_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-pass kernels reuse the rows of a pixel whose inputs are the pixel before's: pixels
    that repeat and then differ in one input only (a code, a state layer, the soil start by one
    ulp or by its sign, the position of a plantation of unknown age) get the model's rows."""
    rng = np.random.default_rng(31)
    n = 6000
    model = _state_model()
    dyn = model.dynamics  # type: ignore[attr-defined]
    classes = dyn.table.codes[(dyn.table.codes > 0) & (dyn.table.codes < 256)]
    classes = np.array([c for c in classes if c in dyn.categories], np.uint8)
    state = _random_state(rng, n)
    state = state._replace(soil_start=np.where(rng.random(n) < 0.2, 0.0, state.soil_start))
    stack = np.empty((14, n), np.float32)
    state.stack(out=stack[4:11])
    live = state.stratum > 0
    lc = np.where(live & (rng.random(n) < 0.97), rng.choice(classes, n), 0).astype(np.uint8)
    layers = {
        **{f"state:{k}": v for k, v in _as_read(stack).items()},
        "lc_before": np.where(live, rng.choice(classes, n), 0).astype(np.uint8),
        "land_cover": lc,
        "forest_type": rng.choice([0, 1, 2, 3, 4, 9], n).astype(np.uint8),
        "ecozone": rng.choice([0, 12, 16], n).astype(np.uint8),
        "loss": rng.choice([0, 19, 20], n, p=[0.8, 0.1, 0.1]).astype(np.uint8),
    }
    # a donor keeps the pixel's case: data before, data now (none before and some now starts
    # the pixel afresh, which the kernel leaves to the model)
    three = _repeats_but_one(rng, layers, live * 2 + (lc > 0))
    before = {k.removeprefix("state:"): v for k, v in three.items() if k.startswith("state:")}
    chunk = {k: three[k] for k in ("land_cover", "forest_type", "ecozone", "loss")}
    args = (model, before, three["lc_before"], chunk, 2019, 2020)
    got = _one_pass(monkeypatch, _step, *args, stack_of_rows(14, (3 * n,)))  # as the stage's
    _bits(got, _step_ref(*args, np.full((14, 3 * n), 7, np.float32)), "step")
    # the first year: the codes, and each pixel's own position
    first = _repeats_but_one(
        rng,
        {
            "land_cover": np.where(rng.random(n) < 0.05, 0, rng.choice(classes, n)).astype(
                np.uint8
            ),
            "forest_type": layers["forest_type"],
            "planting_year": rng.choice([0, 1990, 2019, 2021], n).astype(np.uint16),
            "ecozone": layers["ecozone"],
        },
        np.zeros(n, np.int64),
    )
    position = rng.random(3 * n)
    a = (model, first, 2020, position)
    got = _one_pass(monkeypatch, _first, *a, stack_of_rows(11, (3 * n,)))
    _bits(got, _first_ref(*a, np.zeros((11, 3 * n), np.float32)), "first")
    plantations = np.isin(got[5], [1, 2, 3, 4]) & (first["planting_year"] == 0)
    assert np.unique(got[6][plantations]).size > 10  # ages set by the positions


def test_chunks_the_one_pass_kernels_do_not_take_go_to_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pixel with data now and none before (it starts afresh), a span of two years, a role of
    floats, a state in other dtypes, SINKMAP_KERNELS=numpy: the one-pass kernel declines and the
    stage runs the model's functions, with their result or their error."""
    side = 64
    model = _state_model()
    lon = np.linspace(109.45, 109.75, side)
    lat = np.linspace(18.75, 18.45, side)
    lc0 = landscape.landscape(lon, lat, 2019)[0].astype(np.uint8)
    lc1 = landscape.landscape(lon, lat, 2020)[0].astype(np.uint8)
    roles = {
        "forest_type": landscape.forest_type(lon, lat, 2020).astype(np.uint8),
        "planting_year": landscape.planting_year(lon, lat, 2019).astype(np.uint16),
        "ecozone": landscape.ecozone(lon, lat).astype(np.uint8),
        "loss": np.zeros((side, side), np.uint8),
    }
    position = stocks.window_uniform(0, side, 0, side)
    start = _first(
        model, {**roles, "land_cover": lc0}, 2019, position, np.empty((14, side, side), np.float32)
    )
    before = _as_read(start)
    chunk = {**roles, "land_cover": lc1}
    out = np.empty((14, side, side), np.float32)
    assert _takes(monkeypatch, _step, model, before, lc0, chunk, 2019, 2020, out)
    fresh = dict(before, stratum=before["stratum"].copy())
    fresh["stratum"][3, 3] = 0  # no state last year, a land cover now
    floats = dict(chunk, ecozone=chunk["ecozone"].astype(np.float32))
    wide = dict(before, age=before["age"].astype(np.int64))
    for b, c, end in (
        (fresh, chunk, 2020),
        (before, chunk, 2021),
        (before, floats, 2020),
        (wide, chunk, 2020),
    ):
        assert not _takes(monkeypatch, _step, model, b, lc0, c, 2019, end, out)
        got = _step(model, b, lc0, c, 2019, end, np.empty((14, side, side), np.float32))
        want = _step_ref(model, b, lc0, c, 2019, end, np.empty((14, side, side), np.float32))
        _bits(got, want, f"declined, {end}")
    first = dict(roles, land_cover=lc0, planting_year=roles["planting_year"].astype(np.float64))
    assert not _takes(monkeypatch, _first, model, first, 2019, position, out)
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert not _takes(monkeypatch, _step, model, before, lc0, chunk, 2019, 2020, out)
    assert not _takes(monkeypatch, _first, model, {**roles, "land_cover": lc0}, 2019, position, out)


def test_the_one_pass_layers_with_some_roles_and_other_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Models with some of the optional roles, another default ecozone and a loss layer holding
    calendar years (base 0): the one-pass layers equal the model's; and they decline an output
    stack of another layout or dtype, a position of float32, codes in another byte order and a
    chunk of no dimension, where the model's functions then run."""
    rng = np.random.default_rng(31)
    side = (90, 120)
    lc0 = rng.choice(np.array([0, 10, 20, 30, 40, 50, 60, 80, 90, 95], np.uint8), side)
    lc1 = np.where(
        rng.random(side) < 0.2, rng.choice(np.array([10, 20, 30, 40], np.uint8), side), lc0
    )
    lc1 = np.where(lc0 == 0, 0, lc1).astype(np.uint8)
    ft = rng.choice(np.array([0, 1, 2, 3, 4], np.uint8), side)
    py = rng.choice(np.array([0, 1995, 2012, 2019], np.uint16), side)
    zone = rng.choice(np.array([0, 12, 16], np.uint8), side)
    loss = rng.choice(np.array([0, 2019, 2020], np.uint16), side, p=[0.8, 0.1, 0.1])
    position = rng.random(side)
    disturbed = 0
    for params in (
        {"plantation_role": "forest_type", "planting_year_role": None, "default_ecozone": 16},
        {"planting_year_role": None, "ecozone_role": None, "loss_year_base": 0},
        {"plantation_role": None, "ecozone_role": None, "default_ecozone": 16, "loss_role": None},
    ):
        model = _state_model(**params)
        chunk = {"land_cover": lc0, "forest_type": ft, "planting_year": py, "ecozone": zone}
        a = (model, {**chunk, "loss": loss}, 2019, position)
        got = _one_pass(monkeypatch, _first, *a, np.empty((14, *side), np.float32))
        _bits(got, _first_ref(*a, np.zeros((14, *side), np.float32)), "first")
        args = (model, _as_read(got), lc0, {**chunk, "land_cover": lc1, "loss": loss}, 2019, 2020)
        step = _one_pass(monkeypatch, _step, *args, np.empty((14, *side), np.float32))
        _bits(step, _step_ref(*args, np.zeros((14, *side), np.float32)), "step")
        disturbed += int((step[9] == 2020).sum())
    assert disturbed > 0  # a loss dated 2020 (a calendar year, base 0) disturbed stands
    # declined: the model's functions run, with the same result
    model = _state_model(loss_year_base=0)
    chunk = {"land_cover": lc0, "forest_type": ft, "planting_year": py, "ecozone": zone}
    first = {**chunk, "loss": loss}
    out = np.empty((14, *side), np.float32)
    assert _takes(monkeypatch, _first, model, first, 2019, position, out)
    before = _as_read(out)
    stepped = {**chunk, "land_cover": lc1, "loss": loss}
    fortran = np.asfortranarray(np.empty((14, *side), np.float32))
    reversed_ = stack_of_rows(14, side)[::-1]
    overlapping = np.lib.stride_tricks.as_strided(out, strides=(4 * side[1], *out.strides[1:]))
    for o in (
        fortran,
        np.empty((14, *side), np.float64),
        np.empty((13, *side), np.float32),
        reversed_,
        overlapping,
    ):
        assert not _takes(monkeypatch, _first, model, first, 2019, position, o)
        assert not _takes(monkeypatch, _step, model, before, lc0, stepped, 2019, 2020, o)
    assert not _takes(monkeypatch, _first, model, first, 2019, position.astype(np.float32), out)
    swapped = {**first, "planting_year": py.astype(">u2")}
    assert not _takes(monkeypatch, _first, model, swapped, 2019, position, out)
    got = _first(model, swapped, 2019, position, np.empty((14, *side), np.float32))
    _bits(got, _first_ref(model, first, 2019, position, out.copy()), "swapped")
    big = lc0.astype(">u2")
    assert not _takes(monkeypatch, _step, model, before, big, stepped, 2019, 2020, out)
    got = _step(model, before, big, stepped, 2019, 2020, np.empty((14, *side), np.float32))
    want = _step_ref(model, before, lc0, stepped, 2019, 2020, out.copy())
    _bits(got, want, "swapped step")
    point = {k: v[0, 0] for k, v in first.items()}
    assert not _takes(
        monkeypatch, _first, model, point, 2019, position[0, 0], np.empty(14, np.float32)
    )  # type: ignore[attr-defined]


# -- a year's tallies of a tile in one pass (stocks._stock_tile, stocks._state_tile) ------------
class _Cover:
    """The zones of a stage as a tile's tally asks them: a tile's coverage (or None)."""

    def __init__(self, coverage: zones.ZoneCoverage | None) -> None:
        self.cover = coverage

    def coverage(self, tile: object) -> zones.ZoneCoverage | None:
        return self.cover


def _stock_tally(lc, pools, area, coverage):  # type: ignore[no-untyped-def]
    return stocks._stock_tile(None, _Cover(coverage), None, lc, pools, area)  # type: ignore[arg-type]


def _same_rows(got: object, want: object) -> None:
    """The same columns, dtypes and rows, each column's values bit for bit."""
    import pandas as pd

    assert isinstance(got, pd.DataFrame) and isinstance(want, pd.DataFrame)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for name in got.columns:
        _bits(got[name].to_numpy(), want[name].to_numpy(), name)


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """``module.name`` made to count its calls: the list it appends a 1 to at each."""
    called: list[int] = []
    reference = getattr(module, name)

    def _counted(*args: object) -> object:
        called.append(1)
        return reference(*args)

    monkeypatch.setattr(module, name, _counted)
    return called


def _blocky(rng: np.random.Generator, codes: list[float], shape: tuple[int, int], dtype: str):  # type: ignore[no-untyped-def]
    """Codes in blocks of 8 × 8 (runs of one key, as a landscape has), with single odd pixels."""
    coarse = rng.choice(codes, (shape[0] // 8 + 1, shape[1] // 8 + 1))
    out = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[: shape[0], : shape[1]]
    odd = rng.random(shape) < 0.05
    out[odd] = rng.choice(codes, int(odd.sum()))
    return out.astype(dtype)


def _tile_pools(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Four float32 pools with NaN, ±inf, −0 and values far apart in size."""
    pools = (rng.gamma(2.0, 40.0, (4, *shape)) * 10.0 ** rng.integers(-3, 4, (4, *shape))).astype(
        np.float32
    )
    for value, share in ((np.nan, 0.02), (np.inf, 0.002), (-np.inf, 0.002), (-0.0, 0.02)):
        pools[rng.random(pools.shape) < share] = value
    # pools that cancel: their float64 total is exact only when added in pool_sum's order
    huge = rng.random(shape) < 0.02
    pools[0][huge], pools[1][huge], pools[2][huge] = 3e38, -3e38, 1.0
    return pools


def test_a_tiles_stock_tally_in_one_pass_equals_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tile's stock tally per zone and class (``_stock_tile``: one pass of ``class_tally``) is
    the reference's (the cells' entries, then ``group_sums``) bit for bit: with zones covering
    cells in any order and one covering none, invalid pools of every kind, codes in runs and
    scattered, no valid cell at all."""
    rng = np.random.default_rng(73)
    shape = (150, 203)
    area = rng.uniform(0.009, 0.011, shape)
    m = 4000
    scattered = _random_coverage(rng, m, area.size)
    order = np.lexsort((scattered.cell, scattered.zone))  # by zone, then cell: as zones make it
    made = zones.ZoneCoverage(
        scattered.zone[order], scattered.cell[order], scattered.fraction[order]
    )
    idle = zones.ZoneCoverage(np.array([4, 4]), np.array([0, 1]), np.array([1.0, 0.5]))
    codes = [0, 10, 20, 30, 40, 50, 80, 95, 255]
    for lc in (
        _blocky(rng, codes, shape, "uint8"),
        rng.choice(np.array(codes, np.uint8), shape),
        np.zeros(shape, np.uint8),
    ):
        pools = _tile_pools(rng, shape)
        lc[:2, :2] = 0  # the idle zone's cells: none valid
        for cover in (None, made, scattered, idle):
            got = _compiled(monkeypatch, _stock_tally, lc, pools, area, cover)
            _same_rows(got, stocks._stock_tile_reference(lc, pools, area, cover))
        assert len(got) == 0 or got["area_ha"].gt(0).all()


def test_a_tiles_stock_tally_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cells (classes 10, 20, 10; 2, 2 and 4 ha), one zone covering the third cell by half:
    Σ area and Σ stock × area per (zone, class), the total the four pools' sum."""
    lc = np.array([[10, 20, 10]], np.uint8)
    pools = np.array([[[1, 2, 3]], [[0.5, 0.5, 0.25]], [[0, 0, 1]], [[10, 20, 30]]], np.float32)
    area = np.array([[2.0, 2.0, 4.0]])
    cover = zones.ZoneCoverage(np.array([0]), np.array([2]), np.array([0.5]))
    got = _compiled(monkeypatch, _stock_tally, lc, pools, area, cover)
    assert got["zone"].tolist() == [0, 0, 1] and got["class_code"].tolist() == [10, 20, 10]
    assert got["area_ha"].tolist() == [6.0, 2.0, 2.0]
    # class 10 in the AOI: cells 1 and 3, 1 × 2 + 3 × 4 = 14 Mg C above ground, …
    assert got["above"].tolist() == [14.0, 4.0, 6.0]
    assert got["below"].tolist() == [2.0, 1.0, 0.5]
    assert got["dead"].tolist() == [4.0, 0.0, 2.0]
    assert got["soil"].tolist() == [140.0, 40.0, 60.0]
    assert got["total"].tolist() == [160.0, 45.0, 68.5]


def test_stock_tallies_the_kernel_does_not_take_go_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Codes wider than a byte, float64 pools, areas of another shape, a coverage of other
    dtypes or naming a cell outside the tile, ``SINKMAP_KERNELS=numpy``: the reference's rows
    (and its error for the cell outside)."""
    rng = np.random.default_rng(74)
    shape = (40, 30)
    lc = _blocky(rng, [0, 10, 30, 60], shape, "uint8")
    pools, area = _tile_pools(rng, shape), rng.uniform(0.009, 0.011, shape)
    cover = zones.ZoneCoverage(np.array([0, 1]), np.array([5, 7]), np.array([1.0, 0.5]))
    reference = stocks._stock_tile_reference
    called = _counting(monkeypatch, stocks, "_stock_tile_reference")
    lc[0, 5] = lc[0, 7] = 10  # the covered cells valid
    want = reference(lc, pools, area, cover)
    odd_cover = zones.ZoneCoverage(cover.zone.astype(np.int32), cover.cell, cover.fraction)
    below = zones.ZoneCoverage(np.array([-1, 0]), cover.cell, cover.fraction)
    for args in (
        (lc, pools, area, below),
        (lc.astype(np.uint16), pools, area, cover),
        (lc, pools.astype(np.float64), area, cover),
        (lc, pools, area[None], cover),
        (lc, pools, area, odd_cover),
    ):
        called.clear()
        _same_rows(_stock_tally(*args), reference(*args))
        assert called == [1]
    called.clear()
    monkeypatch.setenv(kernels.ENV, "numpy")
    _same_rows(_stock_tally(lc, pools, area, cover), want)
    assert called == [1]
    monkeypatch.delenv(kernels.ENV)
    outside = zones.ZoneCoverage(np.array([0]), np.array([lc.size]), np.array([1.0]))
    lc[0, 0] = 10
    with pytest.raises(IndexError):
        _stock_tally(lc, pools, area, outside)


def _tally_state(
    rng: np.random.Generator, shape: tuple[int, int], **codes: list[float]
) -> np.ndarray:
    """The stage's state stack (7, …) float32, the tally's layers in runs of one state."""
    from sinkmap.paths import STATE_NAMES

    values = {
        "category": [1, 2, 3, 4, 5, 6],
        "stratum": [0, 2, 3, 7, 12, 40, 255],
        "years_since_conversion": [0, 1, 5, 19, 20, 21, 254, 255],
        "previous_category": [0, 1, 2, 3, 6, 255],
    } | codes
    state = np.zeros((len(STATE_NAMES), *shape), np.float32)
    for name, choice in values.items():
        state[STATE_NAMES.index(name)] = _blocky(rng, choice, shape, "float32")
    return state


def test_a_tiles_state_tally_in_one_pass_equals_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tile's state tally (``_state_tile``: ``state_codes`` then ``state_tally``) is the
    reference's bit for bit: strata outside 1 … 254 and invalid pools not counted, converted and
    remaining land, −0 codes, no valid cell."""
    rng = np.random.default_rng(75)
    shape = (140, 170)
    area = rng.uniform(0.009, 0.011, shape)
    from sinkmap.paths import STATE_NAMES

    for state in (
        _tally_state(rng, shape),
        _tally_state(rng, shape, category=[-0.0, 1, 3], previous_category=[-0.0, 0, 2]),
        _tally_state(rng, shape, stratum=[0, 255]),
    ):
        pools = _tile_pools(rng, shape)
        got = _compiled(monkeypatch, stocks._state_tile, None, None, state, pools, area)
        _same_rows(got, stocks._state_tile_reference(state, pools, area))
    assert len(got) == 0
    # by hand: two cells of one stratum, one converted from category 2 five years ago
    state = np.zeros((len(STATE_NAMES), 1, 3), np.float32)
    for name, row in {
        "category": [1, 1, 1],
        "stratum": [3, 3, 0],
        "years_since_conversion": [5, 255, 5],
        "previous_category": [2, 255, 2],
    }.items():
        state[STATE_NAMES.index(name)] = row
    pools = np.array([[[1, 2, 3]], [[1, 1, 1]], [[0, 0, 0]], [[4, 8, 8]]], np.float32)
    area = np.array([[2.0, 3.0, 5.0]])
    got = _compiled(monkeypatch, stocks._state_tile, None, None, state, pools, area)
    assert got["from_category"].tolist() == [0, 2]  # remaining first (its key sorts lower)
    assert got["years_since_conversion"].tolist() == [255, 5]
    assert got["area_ha"].tolist() == [3.0, 2.0]
    assert got["above"].tolist() == [6.0, 2.0] and got["soil"].tolist() == [24.0, 8.0]


def test_state_tallies_the_kernels_do_not_take_go_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A code above 255 (the reference counts codes to 65535), a key space past
    ``kernels.TALLY_BINS``, a state of another dtype: the reference's rows; a code that is
    not a whole number: the reference's error, which names it."""
    rng = np.random.default_rng(76)
    shape = (60, 50)
    area = rng.uniform(0.009, 0.011, shape)
    pools = _tile_pools(rng, shape)
    reference = stocks._state_tile_reference
    called = _counting(monkeypatch, stocks, "_state_tile_reference")
    wide = _tally_state(rng, shape, category=[1, 300])  # (a stratum of 300 is not counted)
    many = _tally_state(rng, (300, 300), stratum=list(range(1, 255)))
    many[4] = rng.integers(0, 256, (300, 300))  # years since conversion, no runs
    for state, pools_, area_ in (
        (wide, pools, area),
        (many, _tile_pools(rng, (300, 300)), np.full((300, 300), 0.01)),
        (_tally_state(rng, shape).astype(np.float64), pools, area),
    ):
        called.clear()
        got = stocks._state_tile(None, None, state, pools_, area_)  # type: ignore[arg-type]
        _same_rows(got, reference(state, pools_, area_))
        assert called == [1]
    # a code that is not a whole number: the reference takes its whole part (as it does for
    # any tally's key); one outside 0 … 65535, NaN too: the reference's error, naming the key
    for bad in (1.5, -1.0, np.nan):
        odd = _tally_state(rng, shape, stratum=[3])
        odd[0, 10, 10] = bad  # the category of a valid cell
        if bad == 1.5:
            called.clear()
            _same_rows(
                stocks._state_tile(None, None, odd, pools, area), reference(odd, pools, area)
            )  # type: ignore[arg-type]
            assert called == [1]
        else:
            with pytest.raises(InputDataError, match="category codes must be within 0..65535"):
                stocks._state_tile(None, None, odd, np.ones((4, *shape), np.float32), area)  # type: ignore[arg-type]


# -- the interval's tally of a tile in one pass (interval._change_tile) --------------------------
def _change_blocks(
    rng: np.random.Generator, shape: tuple[int, int], state: bool, gl: bool
) -> dict[str, np.ndarray]:
    """A tile's layers as the interval reads them: land covers and state codes (uint8) in runs,
    the stocks at both ends and the gain-loss layers float32 with NaN, ±inf and −0."""
    blocks = {
        "c0": _blocky(rng, [0, 10, 20, 30, 50, 95], shape, "uint8"),
        "c1": _blocky(rng, [0, 10, 20, 40, 50, 95], shape, "uint8"),
    }
    start, end = _tile_pools(rng, shape), _tile_pools(rng, shape)
    for i, pool in enumerate(POOL_NAMES):
        blocks[pool + "0"], blocks[pool + "1"] = start[i], end[i]
    if gl:
        removals, emissions = _tile_pools(rng, shape)[:2]
        blocks["gl_removals"], blocks["gl_emissions"] = -removals, emissions
    if state:
        blocks["cat_to"] = _blocky(rng, [0, 1, 2, 3, 5, 255], shape, "uint8")
        blocks["cat_prev"] = _blocky(rng, [0, 1, 2, 4, 255], shape, "uint8")
        blocks["ysc"] = _blocky(rng, [0, 1, 6, 7, 19, 20, 255], shape, "uint8")
    return blocks


def _change_tally(blocks, area, coverage, years=5, transition=20):  # type: ignore[no-untyped-def]
    return interval._change_tile(
        _AreaGrid(area), _Cover(coverage), _Window(), blocks, years, transition
    )  # type: ignore[arg-type]


class _AreaGrid:
    """A grid as a tile's tally asks it: its cells' areas."""

    def __init__(self, area: np.ndarray) -> None:
        self.area = area

    def cell_area_ha(self, window: object) -> np.ndarray:
        return self.area


class _Window:
    window = None


def test_a_tiles_interval_tally_in_one_pass_equals_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interval's tally of a tile (``_change_tile``: ``change_codes`` then ``change_tally``)
    is the reference's (the cells' entries, then ``group_sums`` with the stock-difference sums)
    bit for bit: with and without the state's categories, the gain-loss layers and zones (in
    any order), another transition period and interval length."""
    rng = np.random.default_rng(77)
    shape = (130, 170)
    area = rng.uniform(0.009, 0.011, shape)
    m = 3000
    scattered = _random_coverage(rng, m, area.size)
    for state in (False, True):
        for gl in (False, True):
            blocks = _change_blocks(rng, shape, state, gl)
            for cover in (None, scattered):
                for years, transition in ((5, 20), (1, 7)):
                    args = (blocks, area, cover, years, transition)
                    got = _compiled(monkeypatch, _change_tally, *args)
                    _same_rows(got, interval._change_tile_reference(*args))
                    assert len(got) > 0
    none = _change_blocks(rng, shape, True, True)
    none["c1"][:] = 0
    _same_rows(
        _compiled(monkeypatch, _change_tally, none, area, None),
        interval._change_tile_reference(none, area, None, 5, 20),
    )


def test_a_tiles_interval_tally_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cells of 2 and 4 ha, forest (10) to cropland (40) and forest remaining, over 5 years;
    the second converted from category 2 six years ago (within a period of 20: counted from 2):
    their stocks at both ends and the flux's parts (−ΔC × 44/12, emissions ≥ 0, removals ≤ 0)."""
    blocks: dict[str, np.ndarray] = {
        "c0": np.array([[10, 10]], np.uint8),
        "c1": np.array([[40, 10]], np.uint8),
        "cat_to": np.array([[3, 1]], np.uint8),
        "cat_prev": np.array([[0, 2]], np.uint8),
        "ysc": np.array([[255, 6]], np.uint8),
    }
    for pool, (s0, s1) in zip(
        POOL_NAMES,
        [([100, 50], [10, 60]), ([20, 10], [2, 12]), ([0, 0], [0, 0]), ([60, 40], [55, 40])],
        strict=True,
    ):
        blocks[pool + "0"] = np.array([s0], np.float32)
        blocks[pool + "1"] = np.array([s1], np.float32)
    got = _compiled(monkeypatch, _change_tally, blocks, np.array([[2.0, 4.0]]), None)
    assert got["class_start"].tolist() == [10, 10] and got["class_code"].tolist() == [10, 40]
    assert got["cat_from"].tolist() == [2, 3] and got["cat_to"].tolist() == [1, 3]
    assert got["area_ha"].tolist() == [4.0, 2.0]
    # forest remaining: above 50 → 60 Mg C/ha on 4 ha; total 100 → 112
    assert got["sd_s0:above"].tolist() == [200.0, 200.0]
    assert got["sd_s1:total"].tolist() == [448.0, 134.0]
    # to cropland: total 180 → 67 Mg C/ha over 5 years on 2 ha: (180 − 67) / 5 × 44/12 × 2
    emissions = got["sd_emissions:total"].tolist()
    assert emissions[0] == 0.0 and emissions[1] == pytest.approx(113 / 5 * 44 / 12 * 2, rel=1e-12)
    removals = got["sd_removals:total"].tolist()
    assert removals[0] == pytest.approx(-12 / 5 * 44 / 12 * 4, rel=1e-12) and removals[1] == 0.0


def test_interval_tallies_the_kernels_do_not_take_go_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Codes wider than a byte, stocks of float64, a coverage of other dtypes, a key space past
    ``kernels.TALLY_BINS``, ``SINKMAP_KERNELS=numpy``: the reference's rows; a covered cell
    outside the tile: the reference's error."""
    rng = np.random.default_rng(78)
    shape = (40, 50)
    area = rng.uniform(0.009, 0.011, shape)
    blocks = _change_blocks(rng, shape, True, True)
    cover = zones.ZoneCoverage(np.array([0, 1]), np.array([5, 7]), np.array([1.0, 0.5]))
    reference = interval._change_tile_reference
    called = _counting(monkeypatch, interval, "_change_tile_reference")
    odd_cover = zones.ZoneCoverage(cover.zone.astype(np.int32), cover.cell, cover.fraction)
    wide = dict(blocks, c0=blocks["c0"].astype(np.uint16))
    doubles = dict(blocks, above0=blocks["above0"].astype(np.float64))
    many = _change_blocks(rng, (400, 400), True, False)
    many["c0"] = rng.integers(1, 256, (400, 400)).astype(np.uint8)
    many["c1"] = rng.integers(1, 256, (400, 400)).astype(np.uint8)
    for b, a, c in (
        (wide, area, cover),
        (doubles, area, cover),
        (blocks, area, odd_cover),
        (many, np.full((400, 400), 0.01), None),
    ):
        called.clear()
        _same_rows(_change_tally(b, a, c), reference(b, a, c, 5, 20))
        assert called == [1]
    called.clear()  # a transition period that is not a whole number of years
    _same_rows(_change_tally(blocks, area, cover, 5, 6.5), reference(blocks, area, cover, 5, 6.5))
    assert called == [1]
    short = zones.ZoneCoverage(np.array([0]), cover.cell, cover.fraction)  # arrays of two lengths
    with pytest.raises(IndexError):
        _change_tally(blocks, area, short)
    monkeypatch.setenv(kernels.ENV, "numpy")
    called.clear()
    _same_rows(_change_tally(blocks, area, cover), reference(blocks, area, cover, 5, 20))
    assert called == [1]
    monkeypatch.delenv(kernels.ENV)
    outside = zones.ZoneCoverage(np.array([0]), np.array([area.size]), np.array([1.0]))
    blocks["c0"][:] = 10
    blocks["c1"][:] = 10
    with pytest.raises(IndexError):
        _change_tally(blocks, area, outside)


def test_a_run_whose_years_since_conversion_alone_cross_the_transition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four cells alike but for their years since conversion (255, 255, 5, 5; a period of 20):
    the first two remain in category 1, the last two converted from 2; the codes present and the
    keys follow the years, not only the classes and categories."""
    blocks: dict[str, np.ndarray] = {
        "c0": np.full((1, 4), 10, np.uint8),
        "c1": np.full((1, 4), 10, np.uint8),
        "cat_to": np.full((1, 4), 1, np.uint8),
        "cat_prev": np.full((1, 4), 2, np.uint8),
        "ysc": np.array([[255, 255, 5, 5]], np.uint8),
    }
    for pool in POOL_NAMES:
        blocks[pool + "0"] = blocks[pool + "1"] = np.ones((1, 4), np.float32)
    area = np.array([[1.0, 2.0, 4.0, 8.0]])
    got = _compiled(monkeypatch, _change_tally, blocks, area, None)
    assert got["cat_from"].tolist() == [1, 2] and got["area_ha"].tolist() == [3.0, 12.0]
    _same_rows(got, interval._change_tile_reference(blocks, area, None, 5, 20))


def test_an_empty_chunk_gets_an_empty_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk of no pixels (a grid's edge can make one): its stack, empty, from the kernels, in
    a stack as the stage makes it and in a C-ordered one."""
    model = _state_model(
        plantation_role=None, planting_year_role=None, ecozone_role=None, loss_role=None
    )
    for shape in ((0, 4), (4, 0), (0,)):
        lc = np.zeros(shape, np.uint8)
        for out in (stack_of_rows(14, shape), np.empty((14, *shape), np.float32)):
            got = _one_pass(
                monkeypatch, _first, model, {"land_cover": lc}, 2020, np.zeros(shape), out
            )
            assert got.shape == (14, *shape)
