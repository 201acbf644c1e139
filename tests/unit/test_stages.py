"""The stages (stocks, interval, Monte Carlo, account) on a hand-built landscape where every
transition, removal and loss is known.

The landscape is 4 x 2 "hand cells" of 8 x 8 pixels of 10 m in an equal-area CRS (EPSG:6933), so
every hand cell is exactly 0.64 ha and every expected value below is worked out by hand from the
pool values and IPCC Eq. 2.4, 2.5, 2.9 and 2.10; 16-pixel chunks make the tallies add two tiles.
The zone polygon's east edge cuts through pixels, so exact coverage fractions count.

Land cover (WorldCover codes; 0 = outside the AOI), 2020 -> 2022 (two years):

    2020: 10 10 10 40        2022: 10 40 10 40
          40 40 50  0              40 10 50  0

Pools (Mg C/ha; above, below, dead, soil): 10 tree = 100, 37, 10, 50 (total 197);
40 crop = 5, 1, 0, 40 (46); 50 built = 0, 0, 0, 20 (20).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from sinkmap.config import InputErrorSpec, load_config
from sinkmap.contract import ALL_CLASSES, AOI_ZONE, GAIN_LOSS, STOCK_DIFFERENCE
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid
from sinkmap.paths import Paths
from sinkmap.stages.account import assemble_account
from sinkmap.stages.interval import compute_interval
from sinkmap.stages.stocks import compute_stocks
from sinkmap.stages.uncertainty import run_monte_carlo

from ._helpers import AOI_GPKG, DATASETS_YAML, write_tif

CRS, RES, LEFT, TOP = "EPSG:6933", 10.0, 10_560_000.0, 2_300_000.0
K = 8  # pixels per hand-cell side
CELL = K * K * 0.01  # ha per hand cell
C44_12 = 44.0 / 12.0
POOLS = {10: (100.0, 37.0, 10.0, 50.0), 40: (5.0, 1.0, 0.0, 40.0), 50: (0.0, 0.0, 0.0, 20.0)}
LC0 = np.kron(np.array([[10, 10, 10, 40], [40, 40, 50, 0]], np.uint8), np.ones((K, K), np.uint8))
LC1 = np.kron(np.array([[10, 40, 10, 40], [40, 10, 50, 0]], np.uint8), np.ones((K, K), np.uint8))
#: Share of hand column 2 inside the zone: its east edge at 195 m cuts column 2 (160-240 m) after
#: three whole pixels and half of the fourth: (3 + 0.5) / 8.
W_FRAC = 3.5 / 8
#: Stock change of one converted hand cell: |197 - 46| Mg C/ha over 2 years, Mg C/yr.
CHANGE = 151 / 2 * CELL
POOL_CSV = "lucode,c_above,c_below,c_dead,c_soil\n" + "".join(
    f"{c},{a},{b},{d},{s}\n" for c, (a, b, d, s) in POOLS.items()
)


def _stocks(cfg, grid: Path, year: int, lc: Path, results: Path) -> tuple[dict[str, Path], Path]:
    """The stocks stage for ``year`` (lookup model over ``lc``) into ``results``: the stock layers
    (pool → path) and the stock tally."""
    out = Paths(results).year_outputs(year)
    compute_stocks(cfg, year, {"land_cover": lc}, grid, outputs=out)
    return {
        k.removeprefix("stock_"): v
        for k, v in out.items()
        if k.startswith("stock_") and k != "stock_tally"
    }, out["stock_tally"]


def _interval(cfg, land, lc0: Path, stocks0: dict[str, Path], results: Path) -> pd.DataFrame:
    """The interval stage 2020-2022 into ``results``; returns the change tally."""
    return compute_interval(
        cfg,
        2020,
        2022,
        land_cover=(lc0, land["lc2022"]),
        stocks0=stocks0,
        stocks1=land["stocks2022"],
        grid_path=land["grid"],
        outputs=Paths(results).interval_outputs(2020, 2022),
    )


@pytest.fixture()
def land(tmp_path: Path):
    grid = Grid(crs=CRS, resolution=RES, left=LEFT, top=TOP, width=4 * K, height=2 * K, chunk=16)
    grid_path = tmp_path / "grid.json"
    grid.to_json(grid_path)
    paths: dict[str, object] = {"grid": grid_path}
    for year, lc in ((2020, LC0), (2022, LC1)):
        d = tmp_path / str(year)
        d.mkdir()
        paths[f"lc{year}"] = write_tif(
            d / "land_cover.tif", lc, res=RES, left=LEFT, top=TOP, crs=CRS, nodata=0
        )
    table = tmp_path / "pools.csv"
    table.write_text(POOL_CSV)
    rates = tmp_path / "rates.csv"
    rates.write_text("lucode,state_code,rate,unit\n10,0,1.0,t_dm_ha_yr\n")
    zones = tmp_path / "zones.gpkg"
    # hand columns 0-1 whole and W_FRAC of column 2, both rows
    gpd.GeoDataFrame(
        {"code": ["W"], "name": ["west"]},
        geometry=[shapely.box(LEFT, TOP - 2 * K * RES, LEFT + 195.0, TOP)],
        crs=CRS,
    ).to_file(zones, layer="zones")
    cfg = load_config(
        {
            "aoi": {"path": str(AOI_GPKG), "layer": "baoting", "name": "hand AOI"},
            "years": [2020, 2022],
            "grid": {"crs": "EPSG:32649"},
            "inputs": {"land_cover": {"dataset": "demo_worldcover"}},
            "model": {"name": "lookup", "params": {"table": str(table)}},
            "datasets": str(DATASETS_YAML),
            "account": {
                "gain_loss": {
                    "growth_rates": str(rates),
                    "root_shoot": 0.37,
                    "carbon_fraction": 0.47,
                },
                "zones": {
                    "path": str(zones),
                    "layer": "zones",
                    "id_field": "code",
                    "name_field": "name",
                },
                "uncertainty": {"draws": 50, "seed": 7},
            },
        }
    )
    paths["cfg"] = cfg
    paths["dir"] = tmp_path
    for year in (2020, 2022):
        paths[f"stocks{year}"], paths[f"tally{year}"] = _stocks(
            cfg, grid_path, year, paths[f"lc{year}"], tmp_path
        )
    return paths


def _row(table: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(table), bool)
    for k, v in where.items():
        mask &= (table[k].isna() if v is None else table[k] == v).fillna(False).to_numpy(bool)
    rows = table[mask]
    assert len(rows) == 1, (where, rows)
    return rows.iloc[0]


def test_stock_layers_and_tables_by_hand(land):
    import rasterio

    for pool, cell in {"above": 100.0, "soil": 50.0, "total": 197.0}.items():
        with rasterio.open(land["stocks2020"][pool]) as ds:
            assert ds.read(1)[0, 0] == cell and np.isnan(ds.read(1)[-1, -1])  # tree; nodata
    classes = pd.read_csv(land["dir"] / "2020" / "class_summary.csv").set_index("class_code")
    assert classes.loc[10, "area_ha"] == pytest.approx(3 * CELL)
    assert classes.loc[10, "stock_total_mgc"] == pytest.approx(3 * 197 * CELL)
    assert classes.loc[40, "stock_soil_mgc"] == pytest.approx(3 * 40 * CELL)
    assert classes.loc[50, "stock_density_mgc_per_ha"] == pytest.approx(20.0)
    tiles = pd.read_csv(land["dir"] / "2020" / "tile_summary.csv")
    assert len(tiles) == 2  # two 16-pixel chunks
    assert tiles["stock_total_mgc"].sum() == pytest.approx(749 * CELL)
    assert tiles["area_ha"].tolist() == pytest.approx([4 * CELL, 3 * CELL])


def test_stock_tally_by_zone_class_and_pool(land):
    out = land["tally2020"]
    table = pd.read_csv(
        out, dtype={"zone_id": str}, keep_default_na=False, na_values={"class_code": [""]}
    )
    # AOI, tree cover (3 hand cells): above 3 x 100 x CELL Mg C; total 3 x 197 x CELL
    row = _row(table, zone_id=AOI_ZONE, class_code=10, pool="above")
    assert row["area_ha"] == pytest.approx(3 * CELL, rel=1e-9)
    assert row["stock_mgc"] == pytest.approx(3 * 100 * CELL, rel=1e-9)
    assert _row(table, zone_id=AOI_ZONE, class_code=10, pool="total")["stock_mgc"] == pytest.approx(
        3 * 197 * CELL
    )
    # AOI, all classes: 3 tree + 3 crop + 1 built = 7 cells; total = (3 x 197 + 3 x 46 + 20) x CELL
    row = _row(table, zone_id=AOI_ZONE, class_name=ALL_CLASSES, pool="total")
    assert row["area_ha"] == pytest.approx(7 * CELL)
    assert row["stock_mgc"] == pytest.approx(749 * CELL)
    assert row["stock_density_mgc_per_ha"] == pytest.approx(749 / 7)
    # zone W: hand cells (0,0) (0,1) (1,0) (1,1) whole, W_FRAC of (0,2) tree and (1,2) built
    # tree: 2 + W_FRAC cells; crop: 2 cells; built: W_FRAC
    assert _row(table, zone_id="W", class_code=10, pool="total")["area_ha"] == pytest.approx(
        (2 + W_FRAC) * CELL
    )
    assert _row(table, zone_id="W", class_code=10, pool="total")["stock_mgc"] == pytest.approx(
        (2 + W_FRAC) * 197 * CELL
    )
    assert _row(table, zone_id="W", class_code=40, pool="soil")["stock_mgc"] == pytest.approx(
        2 * 40 * CELL
    )
    assert _row(table, zone_id="W", class_code=50, pool="total")["stock_mgc"] == pytest.approx(
        W_FRAC * 20 * CELL
    )
    assert _row(table, zone_id="W", class_name=ALL_CLASSES, pool="total")["zone_name"] == "west"
    assert set(pd.read_csv(out)["zone_id"]) == {AOI_ZONE, "W"}


def test_change_tally_both_methods_by_hand(land):
    cfg = land["cfg"]
    table = _interval(cfg, land, land["lc2020"], land["stocks2020"], land["dir"])
    sd = table[table["method"] == STOCK_DIFFERENCE]
    g = table[table["method"] == GAIN_LOSS]
    # stock difference, end class 10: (1,1) crop -> tree gains (197 - 46) / 2 yr x CELL
    row = _row(sd, zone_id=AOI_ZONE, class_code=10, pool="total")
    assert row["stock_change_mgc_per_yr"] == pytest.approx(CHANGE)
    assert row["net_flux_mgco2e_per_yr"] == pytest.approx(-CHANGE * C44_12)
    assert row["removals_mgco2e_per_yr"] == pytest.approx(-CHANGE * C44_12)
    assert row["emissions_mgco2e_per_yr"] == 0
    assert _row(sd, zone_id=AOI_ZONE, class_code=10, pool="above")[
        "stock_change_mgc_per_yr"
    ] == pytest.approx((100 - 5) / 2 * CELL)
    # end class 40: (0,1) tree -> crop loses 151 / 2 x CELL
    row = _row(sd, zone_id=AOI_ZONE, class_code=40, pool="total")
    assert row["net_flux_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12)
    assert row["emissions_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12)
    # gain-loss: the two cells that stay tree grow 1.0 t d.m. x (1 + 0.37) x 0.47 per ha and year
    gain = 2 * 1.0 * 1.37 * 0.47 * CELL
    row = _row(g, zone_id=AOI_ZONE, class_code=10, pool="total")
    assert row["removals_mgco2e_per_yr"] == pytest.approx(-gain * C44_12, rel=1e-6)
    assert row["emissions_mgco2e_per_yr"] == pytest.approx(0.0, abs=1e-12)
    # ... and the tree -> crop cell loses max(197 - 46, 0) / 2 x CELL: where there is only a loss,
    # the two methods must agree
    row_gl = _row(g, zone_id=AOI_ZONE, class_code=40, pool="total")
    assert row_gl["net_flux_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12, rel=1e-6)
    assert row_gl["net_flux_mgco2e_per_yr"] == pytest.approx(
        _row(sd, zone_id=AOI_ZONE, class_code=40, pool="total")["net_flux_mgco2e_per_yr"], rel=1e-6
    )
    # zone W holds (0,0) and (1,1) whole and W_FRAC of (0,2): tree at the end = 2 + W_FRAC cells
    row = _row(sd, zone_id="W", class_code=10, pool="total")
    assert row["area_ha"] == pytest.approx((2 + W_FRAC) * CELL)
    assert row["stock_change_mgc_per_yr"] == pytest.approx(CHANGE)  # only (1,1) changed
    row = _row(g, zone_id="W", class_code=10, pool="total")
    assert row["removals_mgco2e_per_yr"] == pytest.approx(
        -(1 + W_FRAC) * 1.37 * 0.47 * CELL * C44_12, rel=1e-6
    )
    # gain-loss rows carry their parameters
    params = json.loads(row["method_params"])
    assert params["root_shoot"] == 0.37 and params["carbon_fraction"] == 0.47

    ipcc = pd.read_csv(Paths(land["dir"]).ipcc_summary(2020, 2022))
    aoi = ipcc[ipcc["zone_id"] == AOI_ZONE].set_index("crf_code")
    # 4.A.1 forest remaining forest: 2 cells, no stock change, gain-loss gains only
    assert aoi.loc["4.A.1", "area_ha"] == pytest.approx(2 * CELL)
    assert aoi.loc["4.A.1", "total_mgc_per_yr"] == pytest.approx(0.0)
    assert aoi.loc["4.A.1", "gl_gains_mgc_per_yr"] == pytest.approx(gain, rel=1e-6)
    # 4.A.2.1 cropland converted to forest land: living biomass (100 + 37) - (5 + 1), DOM 10, soil 10
    assert aoi.loc["4.A.2.1", "category"] == "Cropland converted to Forest land"
    assert aoi.loc["4.A.2.1", "living_biomass_mgc_per_yr"] == pytest.approx(131 / 2 * CELL)
    assert aoi.loc["4.A.2.1", "dead_organic_matter_mgc_per_yr"] == pytest.approx(10 / 2 * CELL)
    assert aoi.loc["4.A.2.1", "soil_mgc_per_yr"] == pytest.approx(10 / 2 * CELL)
    # 4.B.2.1 forest land converted to cropland: emissions, inventory sign +
    assert aoi.loc["4.B.2.1", "net_co2e_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12)
    assert aoi.loc["4.A", "area_ha"] == pytest.approx(3 * CELL)
    # 4.E.1 settlements remaining settlements: the built cell
    assert aoi.loc["4.E.1", "area_ha"] == pytest.approx(CELL)


def test_monte_carlo_without_errors_equals_the_deterministic_totals(land):
    cfg = land["cfg"]
    table = run_monte_carlo(
        cfg,
        2020,
        aligned={"land_cover": land["lc2020"]},
        grid_path=land["grid"],
        out=land["dir"] / "mc.csv",
    )
    aoi = table[(table["zone_id"] == AOI_ZONE) & (table["pool"] == "total")]
    assert len(aoi) == 50
    assert np.allclose(aoi["stock_mgc"], 749 * CELL)


def _mc_total(land, draws: int, seed: int, sd_out=None) -> np.ndarray:
    cfg = land["cfg"].model_copy(
        update={
            "account": land["cfg"].account.model_copy(
                update={
                    "uncertainty": land["cfg"].account.uncertainty.model_copy(
                        update={"draws": draws, "seed": seed, "parameters": {"table.above": 0.3}}
                    )
                }
            )
        }
    )
    table = run_monte_carlo(
        cfg,
        2020,
        aligned={"land_cover": land["lc2020"]},
        grid_path=land["grid"],
        out=land["dir"] / f"mc_{draws}_{seed}.csv",
        sd_out=sd_out,
    )
    return table[(table["zone_id"] == AOI_ZONE) & (table["pool"] == "above")][
        "stock_mgc"
    ].to_numpy()


def test_monte_carlo_parameter_error_and_its_convergence(land):
    # above-ground stock (3 x 100 + 3 x 5) x CELL, each class's value drawn with 30 % SD:
    # SD of the total = 0.3 x CELL x sqrt(300^2 + 15^2) Mg C
    expected_sd = 0.3 * CELL * np.hypot(300.0, 15.0)
    big = _mc_total(land, 4000, 1)
    assert big.mean() == pytest.approx(315 * CELL, rel=0.02)
    assert big.std(ddof=1) == pytest.approx(expected_sd, rel=0.06)
    # the estimate of the 90 % bound steadies as draws grow: its spread across seeds falls
    spread = {
        n: np.std([np.quantile(_mc_total(land, n, s), 0.95) for s in range(8)]) for n in (20, 800)
    }
    assert spread[800] < spread[20] / 2
    # same seed, same draws
    assert np.array_equal(_mc_total(land, 20, 3), _mc_total(land, 20, 3))


def test_per_pixel_sd_layer(land):
    import rasterio

    out = land["dir"] / "sd.tif"
    _mc_total(land, 400, 2, sd_out=out)
    with rasterio.open(out) as ds:
        sd = ds.read(1)
        assert ds.tags()["UNITS"] == "Mg C ha-1"
    # a tree cell's total varies only through its above-ground value: SD = 0.3 x 100 Mg C/ha
    assert sd[0, 0] == pytest.approx(30.0, rel=0.12)
    assert sd[K, 2 * K] == pytest.approx(0.0, abs=1e-6)  # built: nothing drawn
    assert np.isnan(sd[K, 3 * K])  # outside the AOI


def _account(cfg, land, lc2020, stocks2020, tally2020, **kwargs) -> pd.DataFrame:
    """The interval 2020-2022 (from the given 2020 land cover and stocks), each year's Monte Carlo,
    and the account assembled from them."""
    d = land["dir"]
    lcs = {2020: lc2020, 2022: land["lc2022"]}
    for year, lc in lcs.items():
        run_monte_carlo(
            cfg, year, aligned={"land_cover": lc}, grid_path=land["grid"], out=d / f"m{year}.csv"
        )
    _interval(cfg, land, lc2020, stocks2020, d / "interval")
    return assemble_account(
        cfg,
        stocks={2020: tally2020, 2022: land["tally2022"]},
        changes={2022: Paths(d / "interval").change_tally(2020, 2022)},
        monte_carlo={y: d / f"m{y}.csv" for y in lcs},
        out=d / "account.csv",
        **kwargs,
    )


def test_account_rows_join_stocks_changes_and_intervals(land):
    cfg = land["cfg"]
    d = land["dir"]
    table = _account(
        cfg,
        land,
        land["lc2020"],
        land["stocks2020"],
        land["tally2020"],
        parquet_out=d / "account.parquet",
    )
    assert list(pd.read_parquet(d / "account.parquet").columns) == list(table.columns)
    row = _row(
        table,
        year=2022,
        zone_id=AOI_ZONE,
        class_name=ALL_CLASSES,
        pool="total",
        method=STOCK_DIFFERENCE,
    )
    # 2022: 3 tree, 3 crop... (0,1) became crop, (1,1) became tree: still 3 and 3, plus built
    assert row["stock_mgc"] == pytest.approx(749 * CELL)
    assert row["net_flux_mgco2e_per_yr"] == pytest.approx(0.0, abs=1e-9)
    assert row["emissions_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12)
    assert row["interval_start"] == 2020 and row["interval_end"] == 2022
    # no parameter error: the Monte Carlo interval collapses on the deterministic value
    assert row["stock_mgc_p05"] == pytest.approx(749 * CELL) and row[
        "stock_mgc_p95"
    ] == pytest.approx(749 * CELL)
    assert row["net_flux_mgco2e_per_yr_p05"] == pytest.approx(0.0, abs=1e-9)
    assert row["mc_draws"] == 50
    first = _row(table, year=2020, zone_id=AOI_ZONE, class_code=10, pool="total")
    assert pd.isna(first["net_flux_mgco2e_per_yr"]) and pd.isna(first["interval_start"])
    # class rows add up to the "all classes" row
    classes = table[
        (table["year"] == 2022)
        & (table["zone_id"] == AOI_ZONE)
        & (table["pool"] == "total")
        & (table["method"] == STOCK_DIFFERENCE)
        & (table["class_name"] != ALL_CLASSES)
    ]
    assert classes["stock_mgc"].sum() == pytest.approx(row["stock_mgc"])


def test_class_and_pixel_monte_carlo_agree(land):
    """The lookup model is drawn class by class; the pixel-by-pixel path gives the same numbers."""
    import rasterio

    cfg = land["cfg"]
    mc = cfg.account.uncertainty.model_copy(
        update={"draws": 30, "parameters": {"table.above": 0.3, "table.soil": 0.2}}
    )
    cfg = cfg.model_copy(update={"account": cfg.account.model_copy(update={"uncertainty": mc})})
    out = {}
    for pixelwise in (False, True):
        sd = land["dir"] / f"sd_{pixelwise}.tif"
        table = run_monte_carlo(
            cfg,
            2020,
            aligned={"land_cover": land["lc2020"]},
            grid_path=land["grid"],
            out=land["dir"] / f"mc_{pixelwise}.csv",
            sd_out=sd,
            pixelwise=pixelwise,
        )
        with rasterio.open(sd) as ds:
            out[pixelwise] = (table["stock_mgc"].to_numpy(), ds.read(1))
    np.testing.assert_allclose(out[False][0], out[True][0], rtol=1e-9)
    np.testing.assert_allclose(out[False][1], out[True][1], rtol=1e-5, equal_nan=True)


def _mc_cfg(land, **update):
    cfg = land["cfg"]
    mc = cfg.account.uncertainty.model_copy(update=update)
    return cfg.model_copy(update={"account": cfg.account.model_copy(update={"uncertainty": mc})})


def _shares(land, cfg, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2020 Monte Carlo draws of ``cfg`` and its variance shares (uncertainty_sensitivity)."""
    from sinkmap.account.rows import sensitivity_table

    d = land["dir"]
    table = run_monte_carlo(
        cfg,
        2020,
        aligned={"land_cover": land["lc2020"]},
        grid_path=land["grid"],
        out=d / f"{name}.csv",
        sensitivity_out=d / f"{name}_fixed.csv",
    )
    return table, sensitivity_table({2020: table}, {2020: pd.read_csv(d / f"{name}_fixed.csv")})


def test_sensitivity_shares_are_the_hand_variances(land):
    """table.above drawn per class with 30 % SD, table.soil with 20 % shared by every class (one
    SOC_REF): Var(above) = (0.3 CELL)^2 (300^2 + 15^2) from 3 tree and 3 crop cells, Var(soil) =
    (0.2 CELL x (3 x 50 + 3 x 40 + 20))^2; each parameter's share is its variance over the sum
    (independent, additive): 8120.25 / 11484.25 = 0.7071 and 3364 / 11484.25 = 0.2929."""
    from sinkmap.config import ParameterSpec

    cfg = _mc_cfg(
        land,
        draws=4000,
        parameters={"table.above": 0.3, "table.soil": ParameterSpec(rel_sd=0.2, classes="shared")},
    )
    table, shares = _shares(land, cfg, "s")
    got = dict(zip(shares["parameter"], shares["variance_share"], strict=True))
    va, vs = 0.09 * (300**2 + 15**2), 0.04 * 290**2
    # the shares' sampling error at 4000 draws is about 1 %: 0.03 is 3 of them
    assert got["table.above"] == pytest.approx(va / (va + vs), abs=0.03)
    assert got["table.soil"] == pytest.approx(vs / (va + vs), abs=0.03)
    assert list(shares["parameter"]) == ["table.above", "table.soil"]  # largest first
    total = table[(table["zone_id"] == AOI_ZONE) & (table["pool"] == "total")]["stock_mgc"]
    assert total.std(ddof=1) == pytest.approx(CELL * np.sqrt(va + vs), rel=0.05)


def test_same_seed_same_draws_whatever_the_threads(land):
    """Class by class and pixel by pixel (tiles added in tile order): 1 or 2 threads, the same
    bytes. (Per-pixel errors: test_per_pixel_input_errors_average_out_and_repeat_across_years
    runs them on the same lattice, which does not depend on the chunk either.)"""
    cfg = _mc_cfg(land, draws=40, parameters={"table.above": 0.3})
    for pixelwise in (False, True):
        out = []
        for threads in (1, 2):
            path = land["dir"] / f"t{threads}_{pixelwise}.csv"
            run_monte_carlo(
                cfg,
                2020,
                aligned={"land_cover": land["lc2020"]},
                grid_path=land["grid"],
                out=path,
                threads=threads,
                pixelwise=pixelwise,
            )
            out.append(path.read_bytes())
        assert out[0] == out[1]


def _input_error_run(land, error: InputErrorSpec, draws: int = 1500) -> dict[int, np.ndarray]:
    """Monte Carlo of the above-ground total for 2020 and 2021 with AGB 200 ± 20 Mg/ha on every
    valid pixel (``biomass`` model, no parameter drawn): the AOI's draws per year."""
    d = land["dir"]
    valid = LC0 != 0
    agb = np.where(valid, 200.0, np.nan).astype("float32")
    biomass = write_tif(d / "agb.tif", agb, res=RES, left=LEFT, top=TOP, crs=CRS)
    sd = write_tif(
        d / "agb_sd.tif", np.full(LC0.shape, 20.0, "float32"), res=RES, left=LEFT, top=TOP, crs=CRS
    )
    table = d / "pools.csv"
    cfg = land["cfg"].model_copy(
        update={
            "inputs": {
                "land_cover": land["cfg"].inputs["land_cover"],
                "biomass": land["cfg"].inputs["land_cover"],
                "biomass_sd": land["cfg"].inputs["land_cover"],
            },
            "model": land["cfg"].model.model_copy(
                update={"name": "biomass", "params": {"soil_table": str(table), "root_shoot": 0.37}}
            ),
        }
    )
    mc = cfg.account.uncertainty.model_copy(
        update={"draws": draws, "parameters": {}, "input_errors": {"biomass": error}}
    )
    cfg = cfg.model_copy(update={"account": cfg.account.model_copy(update={"uncertainty": mc})})
    aligned = {"land_cover": land["lc2020"], "biomass": biomass, "biomass_sd": sd}
    out = {}
    for year in (2020, 2021):
        t = run_monte_carlo(
            cfg, year, aligned=aligned, grid_path=land["grid"], out=d / f"e{year}.csv"
        )
        out[year] = t[(t["zone_id"] == AOI_ZONE) & (t["pool"] == "above")]["stock_mgc"].to_numpy()
    return out


def test_per_pixel_input_errors_average_out_and_repeat_across_years(land):
    """CCI-style biomass SD on the grid's own cells: independent per pixel, so the total's SD is
    sqrt(N) x sd x CF x area; the same seed gives the same errors in every year (persistent)."""
    draws = _input_error_run(land, InputErrorSpec(sd="biomass_sd"))
    n = int((LC0 != 0).sum())  # 7 hand cells x 64 pixels of 0.01 ha
    assert draws[2020].mean() == pytest.approx(n * 200 * 0.47 * 0.01, rel=1e-3)
    assert draws[2020].std(ddof=1) == pytest.approx(np.sqrt(n) * 20 * 0.47 * 0.01, rel=0.08)
    np.testing.assert_array_equal(draws[2020], draws[2021])


def test_input_errors_are_drawn_once_per_source_cell_and_afresh_each_year(land):
    """A product of 80 m cells on the 10 m grid: the 64 pixels of a hand cell share one error, so
    the total's SD is sqrt(7 source cells) x 64 x sd x CF x 0.01 ha, 8 times the per-pixel SD
    (sqrt(64)); with years: independent, the two years' draws are uncorrelated."""
    draws = _input_error_run(
        land, InputErrorSpec(sd="biomass_sd", source_cell_m=8 * RES, years="independent"), 2000
    )
    sd = np.sqrt(7) * 64 * 20 * 0.47 * 0.01
    assert draws[2020].std(ddof=1) == pytest.approx(sd, rel=0.08)
    assert draws[2021].std(ddof=1) == pytest.approx(sd, rel=0.08)
    # correlation of independent series: |r| < 3 / sqrt(2000) = 0.067 with 99.7 % probability
    assert abs(np.corrcoef(draws[2020], draws[2021])[0, 1]) < 3 / np.sqrt(2000)


def test_a_source_cell_that_is_not_whole_grid_cells_is_refused(land):
    with pytest.raises(InputDataError, match="not a whole number"):
        _input_error_run(land, InputErrorSpec(sd="biomass_sd", source_cell_m=1.5 * RES), 2)


def test_bad_account_settings_are_refused_with_the_fix(land):
    from sinkmap.account.montecarlo import mc_parameters
    from sinkmap.errors import ConfigError, InputDataError
    from sinkmap.models import get_model

    cfg = land["cfg"]
    model = get_model(cfg.model.name, cfg.model.params)
    with pytest.raises(InputDataError, match=r"'table\.leaves'.*e\.g\. table\.above"):
        mc_parameters(model, {"table.leaves": 0.1})
    with pytest.raises(InputDataError, match="'table' is neither|not one number"):
        mc_parameters(model, {"table": 0.1})
    raw = cfg.model_dump(mode="json")
    raw["account"]["gain_loss"]["loss_role"] = "forest_loss"
    with pytest.raises(ConfigError, match=r"loss_role names role 'forest_loss'.*add the role"):
        load_config(raw)


def _with_zones(land, zones: gpd.GeoDataFrame):
    path = land["dir"] / "zones2.gpkg"
    zones.to_file(path, layer="zones")
    zc = land["cfg"].account.zones.model_copy(update={"path": path})
    account = land["cfg"].account.model_copy(update={"zones": zc})
    return land["cfg"].model_copy(update={"account": account})


def test_a_zone_without_valid_cells_keeps_its_rows(land):
    # zone E covers only hand cell (1, 3), which is outside the AOI (nodata) in both years
    cfg = _with_zones(
        land,
        gpd.GeoDataFrame(
            {"code": ["W", "E"], "name": ["west", "east"]},
            geometry=[
                shapely.box(LEFT, TOP - 2 * K * RES, LEFT + 195.0, TOP),
                shapely.box(
                    LEFT + 3 * K * RES, TOP - 2 * K * RES, LEFT + 4 * K * RES, TOP - K * RES
                ),
            ],
            crs=CRS,
        ),
    )
    _, tally = _stocks(cfg, land["grid"], 2020, land["lc2020"], land["dir"] / "zones2")
    table = pd.read_csv(
        tally, dtype={"zone_id": str}, keep_default_na=False, na_values={"class_code": [""]}
    )
    row = _row(table, zone_id="E", class_name=ALL_CLASSES, pool="total")
    assert row["area_ha"] == 0 and row["stock_mgc"] == 0 and row["zone_name"] == "east"
    assert (table["zone_id"] == "E").sum() == 5  # the five pools of the "all classes" rows


def test_flux_interval_is_left_out_where_the_years_count_different_cells(land):
    """A nodata patch in one year: the Monte Carlo flux would compare different cells."""
    d = land["dir"]
    lc = LC0.copy()
    lc[K : 2 * K, :K] = 0  # hand cell (1, 0) is nodata in 2020 only
    lc_path = write_tif(d / "lc_gap.tif", lc, res=RES, left=LEFT, top=TOP, crs=CRS, nodata=0)
    stocks, tally = _stocks(land["cfg"], land["grid"], 2020, lc_path, d / "gap")
    table = _account(land["cfg"], land, lc_path, stocks, tally)
    row = _row(
        table,
        year=2022,
        zone_id=AOI_ZONE,
        class_name=ALL_CLASSES,
        pool="total",
        method=STOCK_DIFFERENCE,
    )
    # the flux counts the cells valid in both years: (0,1) tree -> crop and (1,1) crop -> tree
    # cancel; the gap cell (1,0) counts in neither. The per-year totals differ by that cell's crop
    # stock, so their difference would give an interval around -46 x CELL / 2 x 44/12, not 0.
    assert row["net_flux_mgco2e_per_yr"] == pytest.approx(0.0, abs=1e-9)
    assert row["emissions_mgco2e_per_yr"] == pytest.approx(CHANGE * C44_12)
    assert pd.isna(row["net_flux_mgco2e_per_yr_p05"]) and pd.isna(row["net_flux_mgco2e_per_yr_p95"])
    assert row["stock_mgc_p05"] == pytest.approx(749 * CELL)  # stock intervals are unaffected


def test_parquet_twin_keeps_its_types_without_monte_carlo_or_a_second_year(land):
    import pyarrow.parquet as pq

    d = land["dir"]
    assemble_account(
        land["cfg"],
        stocks={2020: land["tally2020"]},
        changes={},
        out=d / "a.csv",
        parquet_out=d / "a.parquet",
    )
    schema = pq.read_schema(d / "a.parquet")
    types = {name: str(schema.field(name).type) for name in schema.names}
    assert types["stock_mgc_p05"] == types["net_flux_mgco2e_per_yr"] == "double"
    assert types["interval_start"] == types["class_code"] == "int64"
    assert "null" not in types.values()


def test_stock_draws_over_raster_zones_are_the_hand_totals_per_code(land):
    """Zones from a raster of codes (here the land cover itself, as the change strata are used):
    with no error drawn each zone's total is its cells' stock, 3 x 197, 3 x 46 and 1 x 20 hand
    cells x CELL, and the AOI's is their sum (749 x CELL)."""
    from sinkmap.account.zones import RasterZones
    from sinkmap.grid import Grid
    from sinkmap.io import read_window
    from sinkmap.stages.uncertainty import stock_draws

    cfg = _mc_cfg(land, draws=3, parameters={})
    grid = Grid.from_json(land["grid"])
    zones = RasterZones(grid, [10, 40, 50], lambda t: read_window(land["lc2020"], t.window))
    totals = stock_draws(cfg, 2020, aligned={"land_cover": land["lc2020"]}, grid=grid, zones=zones)
    assert totals.shape == (3, 4, 5)
    expected = np.array([749, 3 * 197, 3 * 46, 20]) * CELL
    np.testing.assert_allclose(totals[:, :, -1], np.broadcast_to(expected, (3, 4)), rtol=1e-6)
    assert zones.ids == ["aoi", "10", "40", "50"]


def test_a_correlated_group_is_one_source_in_the_sensitivity(land):
    """table.above and table.below drawn as one group (below derives from above): held together,
    the variance left is the soil's, so the group's share is Var(group)/Var(total) with
    Var(group) = (0.3 CELL)^2 x ((300 + 111)^2 + (15 + 3)^2) (class 10: 3 cells x (100 + 37),
    class 40: 3 x (5 + 1), each class's pair fully correlated) and Var(soil) as in the test above."""
    from sinkmap.config import ParameterSpec

    cfg = _mc_cfg(
        land,
        draws=4000,
        parameters={
            "table.above": 0.3,
            "table.below": 0.3,
            "table.soil": ParameterSpec(rel_sd=0.2, classes="shared"),
        },
        correlated={"biomass": ["table.above", "table.below"]},
    )
    _, shares = _shares(land, cfg, "g")
    got = dict(zip(shares["parameter"], shares["variance_share"], strict=True))
    vg, vs = 0.09 * (411**2 + 18**2), 0.04 * 290**2
    assert set(got) == {"biomass (table.above, table.below)", "table.soil"}
    assert got["biomass (table.above, table.below)"] == pytest.approx(vg / (vg + vs), abs=0.03)


def test_input_errors_with_a_correlation_length_add_up_by_hand(land):
    """80 m source cells (the hand cells) with a correlation length of 160 m (sigma = 1 source
    cell): the errors of hand cells i, j correlate as exp(-h_ij^2 / 4), h_ij their distance in
    hand cells, so Var(total) = (64 x 20 x 0.47 x 0.01)^2 x sum_ij exp(-h_ij^2 / 4) over the 7
    valid hand cells."""
    draws = _input_error_run(
        land, InputErrorSpec(sd="biomass_sd", source_cell_m=8 * RES, correlation_length_m=16 * RES)
    )
    cells = [(r, c) for r in range(2) for c in range(4) if LC0[r * K, c * K] != 0]
    rho = sum(
        np.exp(-((r1 - r2) ** 2 + (c1 - c2) ** 2) / 4) for r1, c1 in cells for r2, c2 in cells
    )
    sd = 64 * 20 * 0.47 * 0.01 * np.sqrt(rho)
    assert draws[2020].std(ddof=1) == pytest.approx(sd, rel=0.08)


def test_gain_loss_variance_shares_are_the_hand_variances(land):
    """The gain-loss Monte Carlo of 2020-2022 with table.dead drawn per class (normal 15 %) and
    the growth rate lognormal 50 % (IPCC 2006 Eq. 2.9, 2.10; 1.0 t d.m./ha/yr, R 0.37, CF 0.47).

    Gains: the two forest-remaining-forest hand cells, 2 CELL × 1.0 f × 1.37 × 0.47 per year, so
    Var_g = (2 CELL × 0.6439 × 0.5)²; losses: the one forest-to-cropland cell loses
    (197 + 10 e − 46) × CELL over 2 years (e the dead factor's noise; cropland has no dead matter,
    and no other stratum loses), so Var_l = (CELL / 2 × 10 × 0.15)². Independent and additive:
    net SD = 44/12 √(Var_g + Var_l), shares Var_l / (Var_g + Var_l) = 0.5757 for table.dead and
    0.4243 for the growth rate, within 0.05 (the shares' sampling error at 4,000 draws with a
    lognormal 50 % is about 2 %).
    """
    from sinkmap.account.rows import sensitivity_table
    from sinkmap.config import ParameterSpec
    from sinkmap.stages.gain_loss_mc import run_gain_loss_monte_carlo

    d = land["dir"]
    cfg = _mc_cfg(
        land,
        draws=4000,
        parameters={"table.dead": 0.15},
        gain_loss={"growth_rates": ParameterSpec(distribution="lognormal", rel_sd=0.5)},
    )
    _interval(cfg, land, land["lc2020"], land["stocks2020"], d)
    draws = run_gain_loss_monte_carlo(
        cfg,
        2020,
        2022,
        land_cover=(land["lc2020"], land["lc2022"]),
        valid=Paths(d).gain_loss(2020, 2022, "net"),
        aligned={y: {"land_cover": land[f"lc{y}"]} for y in (2020, 2022)},
        grid_path=land["grid"],
        out=d / "gl.csv",
        sensitivity_out=d / "gl_fixed.csv",
    )
    fixed = pd.read_csv(d / "gl_fixed.csv")
    assert sorted(set(fixed["parameter"])) == ["gain_loss.growth_rates", "table.dead"]
    var_g = (2 * CELL * 1.0 * 1.37 * 0.47 * 0.5) ** 2
    var_l = (CELL / 2 * 10 * 0.15) ** 2
    net = draws[draws["part"] == "net"].sort_values("draw")["mgco2e_per_yr"]
    assert net.std(ddof=1) == pytest.approx(C44_12 * np.sqrt(var_g + var_l), rel=0.05)
    # with the growth rate held, the removals are the same in every draw
    held = fixed[fixed["parameter"] == "gain_loss.growth_rates"]["mgco2e_per_yr"]
    assert held.std(ddof=1) == pytest.approx(C44_12 * np.sqrt(var_l), rel=0.05)
    # stock draws of both years are needed by the account's table; the gain-loss rows do not
    # depend on them, so any year with the same parameters stands in
    stock = run_monte_carlo(
        cfg,
        2022,
        aligned={"land_cover": land["lc2022"]},
        grid_path=land["grid"],
        out=d / "mc2022.csv",
        sensitivity_out=d / "mc2022_fixed.csv",
    )
    shares = sensitivity_table(
        {2022: stock},
        {2022: pd.read_csv(d / "mc2022_fixed.csv")},
        {2022: draws},
        {2022: fixed},
    )
    gl = shares[shares["quantity"] == "net_flux_gain_loss"]
    assert gl["interval_start"].tolist() == [2020, 2020] and gl["year"].tolist() == [2022, 2022]
    got = dict(zip(gl["parameter"], gl["variance_share"], strict=True))
    assert got["table.dead"] == pytest.approx(var_l / (var_g + var_l), abs=0.05)
    assert got["gain_loss.growth_rates"] == pytest.approx(var_g / (var_g + var_l), abs=0.05)
    assert (gl["units"] == "Mg CO2e yr-1").all()
