"""The linear Monte Carlo path of the carbon-state model against the model run on every pixel.

For ``dynamics`` the uncertainty stage does not run the model once per draw: each tile's pools are
split into parts each proportional to one drawn parameter (``model.mc_components``), summed once
per tile and zone (``linear_stats``, ``add_stats``), and the draws are applied to the sums
(``linear_totals``) and, for the per-pixel SD layer, to the factors' covariances
(``linear_sd``). Its docstrings claim it gives the totals of running the model with the drawn
parameters on every pixel (``pixel_draws``). Checked here on a small landscape with every kind
of pixel the state knows, and by hand for a few pixels.

The landscape: 24 x 32 pixels of 10 m in UTM 49N, chunk 16 (four tiles, two of them partial),
the AOI plus two zone polygons whose edges cut through pixels. The demo's tables
(``config/dynamics/strata.csv``, ``config/pools/worldcover_ipcc_tier1.csv``) and roles (forest
type, planting year, ecozone: 16 in columns 0-9, 12 elsewhere). The state is made by the model's
own functions, as the stocks stage makes it: started in 2018 (``model.initial``), stepped to 2019
and then to 2022 (``model.step``) with random changes of land cover between years, so it holds
natural forest, plantations (rubber, areca, other trees), regrowing forest, shrubland, land
without woody vegetation, land converted this year and three years ago (soil and DOM in
transition), losses, and nodata. It reaches the kernels as the uncertainty stage reads it: one
layer per ``STATE_KEYS`` key, in the layer's file dtype with its nodata outside the data.

Row 0, columns 10-14 are hand pixels, never changed, ecozone 12:

- (0, 10) natural forest regenerated in 1988 (planting year), so 34 years old in 2022. Its AGB
  (strata.csv, natural forest, ecozone 12: 3.4 t/ha/yr for 20 years, then 2.3 t/ha/yr) is
  3.4 x 20 + 2.3 x 14 = 100.2 t d.m./ha; CF 0.47, R 0.24: above 47.094, below 11.30256 Mg C/ha;
  DOM of forest land = mature AGB 180 x (dead wood 0.06 x 0.47 + litter 0.01 x 0.37) = 5.742.
  Everything agb_scale scales: 47.094 + 11.30256 + 5.742 = 64.13856 Mg C/ha. Soil: the tree
  cover class's 52 (remaining forest land: at equilibrium).
- (0, 11) cropland (above 5.0, below 0, dead 0, soil 43.2), (0, 12) nodata, (0, 13) grassland
  (2.9, 4.7, 0, 52), (0, 14) built-up (all 0).
"""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from sinkmap.account.montecarlo import (
    add_stats,
    draw_factors,
    draw_parameters,
    linear_parts,
    linear_sd,
    linear_stats,
    linear_totals,
    mc_parameters,
    parts_sd,
    parts_stats,
    pixel_draws,
)
from sinkmap.account.zones import Zones
from sinkmap.aoi import read_zones
from sinkmap.config import ParameterSpec
from sinkmap.constants import POOLS
from sinkmap.dynamics import STATE_LAYERS, State
from sinkmap.dynamics import pools as state_pools
from sinkmap.grid import Grid
from sinkmap.models import get_model
from sinkmap.models.dynamics import STATE_KEYS, DynamicsModel

from ._helpers import POOL_CSV, ROOT, UTM_LEFT, UTM_TOP

STRATA_CSV = ROOT / "config" / "dynamics" / "strata.csv"
H, W, CHUNK = 24, 32, 16
SEED = 20240601
ROLES = {
    "plantation_role": "plantation",
    "planting_year_role": "planting_year",
    "ecozone_role": "ecozone",
}

# The hand pixels (row 0) and what they hold (module docstring).
FOREST, CROP, NODATA, GRASS, BUILT = (0, 10), (0, 11), (0, 12), (0, 13), (0, 14)
HAND_LC = {FOREST: 10, CROP: 40, NODATA: 0, GRASS: 30, BUILT: 50}
FOREST_AGB = 3.4 * 20 + 2.3 * 14  # 100.2 t d.m./ha at 34 years
FOREST_WOODY = FOREST_AGB * 0.47 + FOREST_AGB * 0.24 * 0.47 + 180 * (0.06 * 0.47 + 0.01 * 0.37)
FOREST_SOIL = 52.0
GRASS_OPEN = 2.9 + 4.7  # above + below of class 30
CROP_OPEN = 5.0  # above of class 40 (below 0)

#: The model keeps its pools as float32 (``DynamicsModel.pools_of``) and looks its pool-table values
#: up as float32 (``PoolTable.lut``): the pixel path rounds each pixel's pools of each draw, and
#: each drawn table value, to float32; the linear path sums float64 parts, its fixed part being
#: the float32 pools of the central values minus those parts. Both are exact but for that rounding
#: (unit 2**-24 = 6e-8, relative to a pool; found: at most 5e-8 of a total): RTOL_F32 leaves room
#: for a few units. Without it (float64 pools, float32-exact table values) they agree to float64
#: summation order: RTOL_EXACT (test_linear_totals_exact_without_float32_rounding).
RTOL_F32 = 1e-6
RTOL_EXACT = 1e-9
#: The pixel path's SD is a one-pass variance (Σ x² − (Σ x)² / n over the draws), which loses
#: about float64 eps × x² of the variance: about √eps ≈ 1.5e-8 × the pixel's total in its SD,
#: up to 8e-6 Mg C/ha on this landscape (mangroves, about 530 Mg C/ha). It shows where a pixel's
#: SD is tiny beside its total (an areca stand a year old beside its soil).
ATOL_SD = 1e-5

LOGNORMAL_30 = ParameterSpec(distribution="lognormal", rel_sd=0.3)
SHARED_30 = ParameterSpec(distribution="lognormal", rel_sd=0.3, classes="shared")

#: name -> (specs, correlated groups)
CASES = {
    "agb_soil": ({"agb_scale": LOGNORMAL_30, "soil_scale": 0.2}, {}),
    # the demo's parameters (config/config.yaml): one correlated group of two table columns
    "demo": (
        {
            "agb_scale": LOGNORMAL_30,
            "soil_scale": 0.2,
            "table.above": LOGNORMAL_30,
            "table.below": LOGNORMAL_30,
        },
        {"open_land_biomass": ["table.above", "table.below"]},
    ),
    # table columns drawn once for every class: the group shared, and table.dead on its own
    # (mangroves, class 95, are the land without woody vegetation that has DOM)
    "shared": (
        {
            "agb_scale": LOGNORMAL_30,
            "soil_scale": ParameterSpec(distribution="triangular", rel_range=(0.7, 1.4)),
            "table.above": SHARED_30,
            "table.below": SHARED_30,
            "table.dead": SHARED_30,
        },
        {"open_land_biomass": ["table.above", "table.below"]},
    ),
    # one column shared, the others drawn per class, no group
    "mixed": (
        {
            "agb_scale": 0.1,
            "table.above": SHARED_30,
            "table.below": LOGNORMAL_30,
            "table.dead": ParameterSpec(distribution="truncnormal", rel_sd=0.5),
        },
        {},
    ),
}
DRAWS = 50


# == the landscape ===============================================================================
def _model(table=POOL_CSV):
    return get_model("dynamics", {"strata": STRATA_CSV, "table": table, **ROLES})


def _state_blocks(state) -> dict[str, np.ndarray]:
    """The state as the uncertainty stage reads its layers: written by the stocks stage from
    ``state.stack()`` in each layer's dtype (nodata outside the data), keyed by STATE_KEYS."""
    stack = state.stack()
    return {
        STATE_KEYS[name]: stack[i].astype(dtype)
        for i, (name, (dtype, _nodata)) in enumerate(STATE_LAYERS.items())
    }


@pytest.fixture(scope="module")
def land():
    model = _model()
    rng = np.random.default_rng(7)
    lc1 = rng.choice(np.array([0, 10, 10, 10, 20, 30, 40, 50, 60, 80, 90, 95], np.uint8), (H, W))
    plantation = np.zeros((H, W), np.uint8)
    plantation[:, 20:] = rng.choice(np.array([0, 2, 3, 4], np.uint8), (H, W - 20))
    planting_year = np.where(rng.random((H, W)) < 0.3, rng.integers(1990, 2018, (H, W)), 0)
    planting_year = planting_year.astype(np.uint16)
    ecozone = np.where(np.arange(W) < 10, 16, 12).astype(np.uint8)[None, :].repeat(H, axis=0)
    lc2 = np.where(
        rng.random((H, W)) < 0.2, rng.choice(np.array([0, 10, 20, 30, 40], np.uint8), (H, W)), lc1
    ).astype(np.uint8)
    lc3 = np.where(
        rng.random((H, W)) < 0.1, rng.choice(np.array([0, 10, 30, 40], np.uint8), (H, W)), lc2
    ).astype(np.uint8)
    for (r, c), code in HAND_LC.items():
        for lc in (lc1, lc2, lc3):
            lc[r, c] = code
        plantation[r, c], ecozone[r, c] = 0, 12
        planting_year[r, c] = 1988 if (r, c) == FOREST else 0
    roles = {"plantation": plantation, "planting_year": planting_year, "ecozone": ecozone}

    state = model.initial({"land_cover": lc1, **roles}, 2018, position=rng.random((H, W)))
    state, _ = model.step(state, lc1, {"land_cover": lc2, **roles}, 2018, 2019)
    state, _ = model.step(state, lc2, {"land_cover": lc3, **roles}, 2019, 2022)
    data = {"land_cover": lc3, **roles, **_state_blocks(state)}

    grid = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, W, H, chunk=CHUNK)
    left, top = UTM_LEFT, UTM_TOP
    gdf = read_zones(
        gpd.GeoDataFrame(
            {"name": ["west", "south"]},
            geometry=[
                shapely.box(left + 5, top - 125, left + 163, top - 3),
                shapely.box(left + 100, top - 236, left + 317, top - 97),
            ],
            crs="EPSG:32649",
        ),
        "EPSG:32649",
        id_field="name",
    )
    return SimpleNamespace(
        model=model, grid=grid, zones=Zones(grid, "aoi", gdf), data=data, state=state
    )


def test_the_landscape_holds_what_the_linear_path_must_handle(land):
    s = land.state
    assert set(np.unique(s.stratum)) == set(
        range(8)
    )  # nodata, 4 forest types, regrowth, shrub, open
    assert {0, 3, 20} <= set(np.unique(s.years_since_conversion[s.stratum > 0]))
    assert set(np.unique(s.previous_category)) > {0}  # conversions on record
    assert (s.last_loss_year > 0).any()
    assert {0, 10, 20, 30, 40, 50, 80, 90, 95} <= set(np.unique(land.data["land_cover"]))
    assert len(list(land.grid.tiles())) == 4
    assert len(land.zones.ids) == 3
    # the hand forest pixel: natural forest (stratum 1), forest land, 34 years, remaining
    assert s.stratum[FOREST] == 1 and s.category[FOREST] == 1 and s.age[FOREST] == 34
    assert s.years_since_conversion[FOREST] == 20 and s.stratum[NODATA] == 0


# == the two paths ===============================================================================
def _linear(land, model, parameters, factors, draws, sd: bool = True):
    """linear_stats per tile, added in order, then linear_totals; linear_sd per tile."""
    sizes = {name: int(np.size(p.mean)) for name, p in parameters.items()}
    parts, layer = [], np.full((H, W), -1.0, np.float32)
    for tile in land.grid.tiles():
        blocks = {k: v[tile.slices] for k, v in land.data.items()}
        parts.append(linear_stats(model, land.grid, land.zones, tile, blocks, sizes))
        if sd:
            layer[tile.slices] = linear_sd(model, land.grid, tile, blocks, factors, draws)
    return linear_totals(add_stats(parts), factors, draws), layer


def _fused(land, model, parameters, factors, draws):
    """As :func:`_linear`, from one run of the model per tile (what the workflow does when it
    writes the SD layer): linear_parts, then parts_stats and parts_sd of it."""
    sizes = {name: int(np.size(p.mean)) for name, p in parameters.items()}
    parts, layer = [], np.full((H, W), -1.0, np.float32)
    for tile in land.grid.tiles():
        blocks = {k: v[tile.slices] for k, v in land.data.items()}
        run = linear_parts(model, land.grid, tile, blocks, list(sizes))
        parts.append(parts_stats(run, land.zones, tile, sizes))
        layer[tile.slices] = parts_sd(run, factors, draws)
    return linear_totals(add_stats(parts), factors, draws), layer


def _pixel(land, model, param_draws, draws):
    """pixel_draws per tile, tiles added in order: totals and the SD layer."""
    total, layer = 0.0, np.full((H, W), -1.0, np.float32)
    for tile in land.grid.tiles():
        blocks = {k: v[tile.slices] for k, v in land.data.items()}
        sd, t = pixel_draws(
            model, land.grid, land.zones, tile, blocks, param_draws, SEED, draws, {}, True
        )
        total = total + t
        layer[tile.slices] = sd
    return np.asarray(total), layer


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, land):
    specs, groups = CASES[request.param]
    parameters = mc_parameters(land.model, specs, groups)
    param_draws = draw_parameters(parameters, DRAWS, SEED)
    factors = draw_factors(parameters, param_draws)
    lin_totals, lin_sd = _linear(land, land.model, parameters, factors, DRAWS)
    px_totals, px_sd = _pixel(land, land.model, param_draws, DRAWS)
    fused_totals, fused_sd = _fused(land, land.model, parameters, factors, DRAWS)
    return SimpleNamespace(
        lin_totals=lin_totals,
        lin_sd=lin_sd,
        fused_totals=fused_totals,
        fused_sd=fused_sd,
        px_totals=px_totals,
        px_sd=px_sd,
    )


def test_linear_totals_equal_the_model_run_on_every_pixel(case):
    assert case.px_totals.shape == (DRAWS, 3, 5)  # draws, zones (AOI + 2), pools + total
    assert case.lin_totals.shape == case.px_totals.shape
    np.testing.assert_allclose(case.lin_totals, case.px_totals, rtol=RTOL_F32, atol=0)
    # the draws do move every pool of every zone (a vacuous match would not)
    assert (case.px_totals[:, :, [0, 1, 4]].std(axis=0) > 0).all()
    # the zones are parts of the AOI, and the polygons cut pixels: not the AOI's total
    assert (case.px_totals[:, 1:, 4] < case.px_totals[:, :1, 4]).all()


def test_linear_sd_equals_the_sd_layer_of_the_pixel_path(case):
    assert (case.lin_sd != -1).all() and (case.px_sd != -1).all()  # every tile written
    np.testing.assert_array_equal(np.isnan(case.lin_sd), np.isnan(case.px_sd))
    assert np.isnan(case.lin_sd[NODATA]) and np.isnan(case.lin_sd).sum() > 10
    np.testing.assert_allclose(case.lin_sd, case.px_sd, rtol=1e-5, atol=ATOL_SD)
    assert (case.lin_sd[np.isfinite(case.lin_sd)] >= 0).all()
    assert np.nanmax(case.lin_sd) > 1.0
    assert case.lin_sd[BUILT] == 0.0 and case.px_sd[BUILT] == 0.0  # nothing there to draw


def test_one_model_run_per_tile_gives_the_same_numbers_as_two(case):
    """The workflow's path with the SD layer (one model run per tile for its sums and its SD
    block) gives, bit for bit, the totals and SD of the two runs the tests above check."""
    np.testing.assert_array_equal(case.fused_totals, case.lin_totals)
    np.testing.assert_array_equal(case.fused_sd, case.lin_sd)


class _Float64Pools(DynamicsModel):
    """The carbon-state model with its pools left in float64: the kernel's own
    (:func:`sinkmap.dynamics.pools`), which the model rounds to float32."""

    def pools(self, chunk):
        state = State.from_arrays({name: chunk[key] for name, key in STATE_KEYS.items()})
        return state_pools(state, chunk["land_cover"], self.dynamics, ecozone=chunk["ecozone"])

    def mc_split(self, chunk):
        return self.mc_components(chunk), self.pools(chunk)


def _entry_loop(member, valid, n_zones: int, values, rows, size: int) -> np.ndarray:
    """Σ value × weight per (zone, table row), one entry of ``member`` after the other from 0."""
    v, out = values.ravel().tolist(), np.zeros((n_zones, size))
    r = None if rows is None else np.where(valid, rows, 0).ravel().tolist()
    entries = zip(member.zone.tolist(), member.cell.tolist(), member.weight.tolist(), strict=True)
    for z, c, w in entries:
        out[z, 0 if r is None else r[c]] += v[c] * w
    return out


def test_parts_stats_add_each_zones_cells_in_order_bit_for_bit(land):
    """parts_stats of agb_scale, soil_scale and two table columns on every tile equal, with ==, a
    plain loop over the tile's zone entries (the AOI's valid cells, then each polygon's covered
    cells, by cell) that adds part x weight from 0 into (zone, table row): the sums summed as
    bincount summed them."""
    from sinkmap.account.zones import membership

    n = land.model.table.codes.size  # the pool table's rows
    sizes = {"agb_scale": 1, "soil_scale": 1, "table.above": n, "table.dead": n}
    n_zones, checked = len(land.zones.ids), 0
    for tile in land.grid.tiles():
        blocks = {k: v[tile.slices] for k, v in land.data.items()}
        run = linear_parts(land.model, land.grid, tile, blocks, list(sizes))
        got = parts_stats(run, land.zones, tile, sizes)
        member = membership(run.valid, run.area, land.zones.coverage(tile))
        for i, pool in enumerate(POOLS):
            want = _entry_loop(member, run.valid, n_zones, run.fixed[pool], None, 1)
            assert (got["fixed"][:, i] == want[:, 0]).all(), pool
        for name, size in sizes.items():
            parts, rows = run.used[name]
            for pool, arr in parts.items():
                want = _entry_loop(member, run.valid, n_zones, arr, rows, size)
                assert (got[name][POOLS.index(pool)] == want).all(), (name, pool)
                checked += int(np.count_nonzero(want))
    assert checked > 20  # sums of real parts were compared, not zeros


def test_linear_totals_exact_without_float32_rounding(land, tmp_path):
    """Pools kept in float64, table values that float32 holds exactly (multiples of 1/64) and
    drawn table values rounded to float32 beforehand: nothing is rounded on either path, and the
    linear totals are the pixel path's to float64 summation order, as the docstrings claim."""
    table = pd.read_csv(POOL_CSV)
    for col in ("c_above", "c_below", "c_dead", "c_soil"):
        table[col] = np.round(table[col] * 64) / 64
    path = tmp_path / "pools_f32.csv"
    table.to_csv(path, index=False)
    model = _Float64Pools(_model(path).params)
    specs, groups = CASES["demo"]
    parameters = mc_parameters(model, specs | {"table.dead": 0.1}, groups)
    param_draws = {
        name: v.astype(np.float32).astype("float64") if name.startswith("table.") else v
        for name, v in draw_parameters(parameters, DRAWS, SEED).items()
    }
    factors = draw_factors(parameters, param_draws)
    lin_totals, _ = _linear(land, model, parameters, factors, DRAWS, sd=False)
    px_totals, _ = _pixel(land, model, param_draws, DRAWS)
    np.testing.assert_allclose(lin_totals, px_totals, rtol=RTOL_EXACT, atol=0)
    # the model itself differs from its float64 kernel by float32 rounding only
    px32, _ = _pixel(land, _model(path), param_draws, DRAWS)
    np.testing.assert_allclose(px32, px_totals, rtol=RTOL_F32, atol=0)
    assert not np.array_equal(px32, px_totals)


# == linear_sd by hand ===========================================================================
def _sd_only(land, specs, groups=None, draws=200):
    parameters = mc_parameters(land.model, specs, groups)
    factors = draw_factors(parameters, draw_parameters(parameters, draws, SEED))
    _, layer = _linear(land, land.model, parameters, factors, draws)
    return factors, layer


def _woody_part(land) -> np.ndarray:
    """What agb_scale scales in each pixel (Mg C/ha): the model's own split of its pools."""
    parts, _index = land.model.mc_components(land.data)["agb_scale"]
    return sum(np.nan_to_num(a) for a in parts.values())


def test_linear_sd_of_a_pixel_scaled_by_agb_scale_alone(land):
    factors, sd = _sd_only(land, {"agb_scale": LOGNORMAL_30})
    f_sd = float(np.std(factors["agb_scale"], ddof=1))
    assert 0.2 < f_sd < 0.4  # a lognormal of relative SD 0.3
    assert FOREST_WOODY == pytest.approx(64.13856, rel=1e-12)  # the module docstring's sum
    woody = _woody_part(land)
    assert woody[FOREST] == pytest.approx(FOREST_WOODY, rel=1e-12)
    assert sd[FOREST] == pytest.approx(f_sd * FOREST_WOODY, rel=1e-6)
    # every pixel: the sample SD of the factor times its woody part; none elsewhere
    valid = land.data["land_cover"] != 0
    np.testing.assert_allclose(sd[valid], (f_sd * woody)[valid], rtol=1e-6)
    assert np.isnan(sd[~valid]).all() and np.isnan(sd[NODATA])
    for pixel in (CROP, GRASS, BUILT):  # no woody vegetation: nothing drawn
        assert sd[pixel] == 0.0
    assert (sd[valid & (land.state.stratum == 7)] == 0.0).all()  # without woody vegetation
    assert (sd[woody > 0] > 0.0).all() and (woody > 0).sum() > 100
    # one draw has no spread: 0 where there are data
    parameters = mc_parameters(land.model, {"agb_scale": LOGNORMAL_30})
    one = draw_factors(parameters, draw_parameters(parameters, 1, SEED))
    tile = next(iter(land.grid.tiles()))
    blocks = {k: v[tile.slices] for k, v in land.data.items()}
    layer = linear_sd(land.model, land.grid, tile, blocks, one, 1)
    np.testing.assert_array_equal(layer, np.where(valid[tile.slices], 0.0, np.nan))


def test_linear_sd_adds_correlated_table_columns_linearly(land):
    """table.above and table.below in one group share their standard normals, with the same
    lognormal: the same factor for a class in both columns, so a grassland pixel's SD is the
    factor's SD times above + below (not their root sum of squares)."""
    groups = {"open_land_biomass": ["table.above", "table.below"]}
    factors, sd = _sd_only(land, {"table.above": LOGNORMAL_30, "table.below": LOGNORMAL_30}, groups)
    codes = list(land.model.table.codes)
    grass, crop = codes.index(30), codes.index(40)
    both = (land.model.table.values["above"] > 0) & (land.model.table.values["below"] > 0)
    assert both[grass] and not both[crop]  # cropland: below 0, its factor 1 (nothing to scale)
    np.testing.assert_allclose(
        factors["table.above"][:, both], factors["table.below"][:, both], rtol=1e-12
    )
    f_grass = float(np.std(factors["table.above"][:, grass], ddof=1))
    f_crop = float(np.std(factors["table.above"][:, crop], ddof=1))
    assert f_grass != f_crop  # classes drawn independently
    assert sd[GRASS] == pytest.approx(f_grass * GRASS_OPEN, rel=1e-6)
    assert sd[CROP] == pytest.approx(f_crop * CROP_OPEN, rel=1e-6)
    assert sd[FOREST] == 0.0 and sd[BUILT] == 0.0  # woody: no open-land biomass; built: none


def test_linear_sd_of_two_independent_parameters_has_their_sample_covariance(land):
    """The hand forest pixel with agb_scale and soil_scale drawn: total = W f_a + S f_s, whose
    sample variance is W² Var(f_a) + S² Var(f_s) + 2 W S Cov(f_a, f_s) (sample moments of the
    same draws; the covariance is small but not 0)."""
    factors, sd = _sd_only(land, {"agb_scale": LOGNORMAL_30, "soil_scale": 0.2})
    cov = np.cov(np.stack([factors["agb_scale"], factors["soil_scale"]]), ddof=1)
    w, s = FOREST_WOODY, FOREST_SOIL
    var = w * w * cov[0, 0] + s * s * cov[1, 1] + 2 * w * s * cov[0, 1]
    assert abs(2 * w * s * cov[0, 1]) > 1e-3 * var  # the cross term counts at this tolerance
    assert sd[FOREST] == pytest.approx(np.sqrt(var), rel=1e-6)
    # the cropland pixel: only its soil (43.2, the class's equilibrium) is drawn
    assert sd[CROP] == pytest.approx(43.2 * np.sqrt(cov[1, 1]), rel=1e-6)


# == one run of the kernel for the parts and the pools ===========================================
def test_the_split_gives_the_parts_and_pools_of_the_separate_runs_bit_for_bit(land):
    """``mc_split`` runs the kernel once for what ``linear_parts`` reads; its pools equal the
    model's own :meth:`pools` and the pools of the state read whole (``State.from_arrays`` of the
    full chunk, then ``pools_of``), and each pool is the sum of its parts, bit for bit."""
    model = land.model
    components, base = model.mc_split(land.data)
    state = State.from_arrays({name: land.data[key] for name, key in STATE_KEYS.items()})
    whole = model.pools_of(state, land.data)
    for pool in ("above", "below", "dead", "soil"):
        assert base[pool].dtype == np.float32
        np.testing.assert_array_equal(base[pool], model.pools(land.data)[pool])
        np.testing.assert_array_equal(base[pool], whole[pool])
    parts = {
        pool: [p[pool] for p, _ in components.values() if pool in p]
        for pool in ("above", "below", "dead", "soil")
    }
    for pool, arrays in parts.items():
        np.testing.assert_array_equal(base[pool], sum(arrays).astype("float32"))
    valid = land.data["land_cover"] != 0
    assert np.isfinite(base["above"][valid]).all() and np.isnan(base["above"][~valid]).all()
    # the land of the module docstring: forest land's DOM, 5.742 Mg C/ha, is agb_scale's
    assert components["agb_scale"][0]["dead"][FOREST] == pytest.approx(5.742, rel=1e-12)
