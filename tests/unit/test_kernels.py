"""The compiled kernels (:mod:`sinkmap.kernels`) against the NumPy references they replace.

The references are the equations as NumPy expressions (:func:`sinkmap.dynamics.pool_parts_reference`,
``np.bincount`` for the weighted sums); the hand-worked values of the carbon state are checked in
test_dynamics.py and test_account.py through the stages, which run the kernels. Here: the kernels
give the references' results bit for bit, on states the demo's landscape steps through and on
random states that reach every branch, and leave every case they do not handle to the reference,
which raises the error that names it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sinkmap import dynamics, kernels, landscape
from sinkmap.account.zones import Membership, group_sums, weighted_sums
from sinkmap.dynamics import (
    PARTS,
    State,
    advance,
    initial_state,
    pool_parts,
    pool_parts_reference,
)
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.models import get_model

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


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b) == list(PARTS)
    for k in PARTS:
        assert a[k].dtype == b[k].dtype == np.float64, k
        assert a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_kernels_run_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert kernels.enabled()
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert not kernels.enabled()
    # they release the GIL: Dask's threads run them side by side
    for fn in (kernels._pool_parts, kernels._weighted_sum):
        assert kernels._compiled(fn).targetoptions["nogil"]


def test_pool_parts_equal_the_reference_along_the_demo_landscape(
    dyn: dynamics.Dynamics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five years of the synthetic Baoting landscape (plantations harvested and replanted, forest
    cleared, land converted both ways): every year's parts, from the kernel and the reference."""
    side = 160
    lon = np.linspace(109.45, 109.75, side)
    lat = np.linspace(18.75, 18.45, side)
    zone = landscape.ecozone(lon, lat)
    lc = {y: landscape.landscape(lon, lat, y)[0].astype(np.int64) for y in range(2018, 2024)}
    ftype = landscape.forest_type(lon, lat, 2023)
    state = initial_state(
        lc[2018],
        2018,
        dyn,
        forest_type=ftype,
        planting_year=landscape.planting_year(lon, lat, 2018),
        ecozone=zone,
    )
    converted = 0
    for year in range(2019, 2024):
        state, _ = advance(
            state, lc[year - 1], lc[year], year, dyn, forest_type=ftype, ecozone=zone
        )
        converted += int((state.years_since_conversion == 0).sum())
        with monkeypatch.context() as m:
            m.setattr(dynamics, "pool_parts_reference", _no_reference)
            compiled = pool_parts(state, lc[year], dyn, ecozone=zone)
        _same(compiled, pool_parts_reference(state, lc[year], dyn, ecozone=zone))
    assert converted > 0  # the landscape changed land use: the conversion branches ran


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
        with monkeypatch.context() as m:
            m.setattr(dynamics, "pool_parts_reference", _no_reference)
            compiled = pool_parts(state, lc, d, ecozone=zone)
        _same(compiled, pool_parts_reference(state, lc, d, ecozone=zone))
    # 2-D chunks keep their shape
    two_d = State(*(a.reshape(250, 200) for a in state))
    _same(
        pool_parts(two_d, lc.reshape(250, 200), dyn, ecozone=zone.reshape(250, 200)),
        pool_parts_reference(two_d, lc.reshape(250, 200), dyn, ecozone=zone.reshape(250, 200)),
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
        got = sums(layer)
        assert got.dtype == np.float64 and got.shape == (40,)
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="within 0..39"):
        weighted_sums(member, np.full(entries, 40), 40)(np.ones(cells))


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
    values = {"a": rng.gamma(2.0, 30.0, side * side).astype(np.float32), "b": lambda: np.ones(4096)}
    compiled = group_sums(member, keys, values)
    monkeypatch.setenv(kernels.ENV, "numpy")
    reference = group_sums(member, keys, values)
    assert compiled.equals(reference)
    assert len(compiled) == 4 * 3 * 3 * 3
    assert list(compiled["stratum"].unique()) == [1, 5, 7]


@pytest.mark.parametrize("bad", [-1, 70_000, np.nan])
def test_group_sums_name_a_key_out_of_range(bad: float) -> None:
    """A code outside 0 … 65535 at a counted cell (NaN included): the error names the key."""
    member = Membership(np.zeros(3, np.int64), np.arange(3), np.full(3, 0.01))
    layer = np.array([10.0, bad, 20.0, bad])  # the last cell is not counted
    with pytest.raises(InputDataError, match="class_start codes must be within 0..65535"):
        group_sums(member, {"class_start": layer}, {"v": np.ones(4)})
    fine = group_sums(member, {"class_start": np.array([10.0, 20.0, 20.0, bad])}, {"v": np.ones(4)})
    assert fine["class_start"].tolist() == [10, 20]
