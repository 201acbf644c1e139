"""The carbon state, pixel by pixel, through the real stages (stocks, interval), checked against the
IPCC equations worked out by hand here.

A small strata table with round numbers makes the arithmetic visible (CF = 0.5):

- natural and regrowing forest: AGB grows 5 t/ha/yr for 10 years (50 t), then 2 t/ha/yr until
  100 t (old growth begins at 35 yr), then 1 t/ha/yr up to 200 t; R = 0.25; dead wood 0.1 of the
  mature AGB (100 t) → DOM 100 × 0.1 × 0.5 = 5 Mg C/ha, no litter;
- rubber: the sinkmap curve 185 (1 − e^(−0.1 a))^2.5, R = 0.2, litter 0.01 of the AGB at the
  30-year rotation (× CF_litter 0.37), canopy visible from 4 years;
- shrubland: 5 t/ha/yr up to 40 t, R = 0.5, Grassland.

Pool table (Mg C/ha; open land only, soil of every class): tree cover soil 60; shrub soil 60;
grass 2 + 3 biomass, soil 60; cropland 4 + 0, soil 30; built-up 0, soil 0. IPCC 2006 Vol. 4:
Eq. 2.16 (biomass of the new land use from the year after conversion), Eq. 2.23 (DOM lost at once
when land leaves forest, built up over D = 20 years when it becomes forest), Eq. 2.25 (soil moves
linearly to the new equilibrium over D).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from sinkmap.config import load_config
from sinkmap.contract import AOI_ZONE, GAIN_LOSS, STOCK_DIFFERENCE
from sinkmap.errors import InputDataError
from sinkmap.grid import Grid
from sinkmap.paths import Paths
from sinkmap.stages.interval import compute_interval
from sinkmap.stages.stocks import PreviousYear, compute_stocks

from ._helpers import AOI_GPKG, DATASETS_YAML, UTM_LEFT, UTM_TOP, write_tif

CF = 0.5
C44_12 = 44 / 12
TREE, SHRUB, GRASS, CROP, BUILT = 10, 20, 30, 40, 50
STRATA = """stratum,stratum_name,ecozone,ipcc_category,curve,young_rate,young_years,old_secondary_rate,old_growth_agb,old_growth_rate,max_agb,k,p,root_shoot,dead_wood_fraction,litter_fraction,rotation_years,canopy_age,source,confirmed
1,natural forest,0,Forest land,capped_linear,5,10,2,100,1,200,,,0.25,0.1,0.0,,4,test,test
5,regrowing forest,0,Forest land,capped_linear,5,10,2,100,1,200,,,0.25,0.1,0.0,,4,test,test
2,rubber,0,Forest land,chapman_richards,,,,,,185,0.10,2.5,0.20,0.0,0.01,30,4,test,test
6,shrubland,0,Grassland,capped_linear,5,10,5,40,0,40,,,0.5,0.0,0.0,,0,test,test
"""
POOLS_CSV = """lucode,c_above,c_below,c_dead,c_soil
10,0,0,0,60
20,0,0,0,60
30,2,3,0,60
40,4,0,0,30
50,0,0,0,0
80,0,0,0,0
"""


def natural_agb(age: float) -> float:
    """AGB (t/ha) of the test curve by hand: 5/yr to 10 yr, 2/yr to 100 t, then 1/yr."""
    if age <= 10:
        return 5.0 * age
    if age <= 35:
        return 50.0 + 2.0 * (age - 10)
    return min(100.0 + (age - 35), 200.0)


def rubber_agb(age: float) -> float:
    return 185.0 * (1.0 - math.exp(-0.1 * age)) ** 2.5


class History:
    """Pixels (one row of a tiny grid) run year by year through the stocks and interval stages."""

    def __init__(self, tmp: Path, n: int, *, roles: dict[str, str] | None = None, **params):
        self.dir = tmp
        self.paths = Paths(tmp / "results", tmp / "resources", tmp / "logs")
        self.grid = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, n, 1, chunk=16)
        self.grid_path = tmp / "grid.json"
        self.grid.to_json(self.grid_path)
        (tmp / "strata.csv").write_text(STRATA)
        (tmp / "pools.csv").write_text(POOLS_CSV)
        inputs = {"land_cover": {"dataset": "demo_worldcover"}}
        for role in roles or {}:
            inputs[role] = {"dataset": "demo_worldcover"}
        self.roles = roles or {}
        self.cfg = load_config(
            {
                "aoi": {"path": str(AOI_GPKG), "layer": "baoting", "name": "pixels"},
                "years": [2000, 2001],
                "inputs": inputs,
                "model": {
                    "name": "dynamics",
                    "params": {
                        "strata": str(tmp / "strata.csv"),
                        "table": str(tmp / "pools.csv"),
                        "carbon_fraction": CF,
                        "default_ecozone": 12,
                        **{f"{k}_role": v for k, v in self.roles.items()},
                        **params,
                    },
                },
                "datasets": str(DATASETS_YAML),
                "results_dir": str(tmp / "results"),
                "account": {"gain_loss": {"enabled": True}, "uncertainty": {"enabled": False}},
            }
        )
        self.years: list[int] = []

    def _write(self, role: str, year: int, values, nodata=0) -> Path:
        path = self.paths.aligned(role, year)
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = np.asarray(values)[None, :]
        return write_tif(path, arr, res=10.0, left=UTM_LEFT, top=UTM_TOP, nodata=nodata)

    def year(self, year: int, lc, **layers) -> dict[str, np.ndarray]:
        """Run the stocks stage for ``year`` with land cover ``lc`` (and other role layers)."""
        aligned = {"land_cover": self._write("land_cover", year, np.asarray(lc, np.uint8))}
        for key, role in self.roles.items():
            dtype = np.uint16 if key == "planting_year" else np.uint8
            aligned[role] = self._write(role, year, np.asarray(layers[key], dtype))
        previous = None
        if self.years:
            y0 = self.years[-1]
            previous = PreviousYear(y0, self.paths.states(y0), self.paths.aligned("land_cover", y0))
        compute_stocks(
            self.cfg,
            year,
            aligned,
            self.grid_path,
            outputs=self.paths.year_outputs(year, stateful=True, steps=True),
            previous=previous,
            threads=1,
        )
        self.years.append(year)
        return self.stocks(year)

    def stocks(self, year: int) -> dict[str, np.ndarray]:
        out = {}
        for pool, path in self.paths.stocks(year).items():
            with rasterio.open(path) as ds:
                out[pool] = ds.read(1).astype("float64")
        for name, path in self.paths.states(year).items():
            with rasterio.open(path) as ds:
                out[f"state_{name}"] = ds.read(1)
        return out

    def interval(
        self, y0: int, y1: int, *, from_step: bool = False, out: Path | None = None
    ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """The interval stage; its flux layers (Mg CO2e/ha/yr) and the change tally. Gain-loss
        steps the state from ``y0`` again, or with ``from_step`` reads the stocks stage's step
        into ``y1``; ``out``: another results folder for the interval's outputs."""
        outputs = (Paths(out) if out else self.paths).interval_outputs(y0, y1)
        roles1 = {r: self.paths.aligned(r, y1) for r in self.roles.values()}
        table = compute_interval(
            self.cfg,
            y0,
            y1,
            land_cover=(self.paths.aligned("land_cover", y0), self.paths.aligned("land_cover", y1)),
            stocks0=self.paths.stocks(y0),
            stocks1=self.paths.stocks(y1),
            grid_path=self.grid_path,
            outputs=outputs,
            states=({} if from_step else self.paths.states(y0), self.paths.states(y1)),
            inputs1={} if from_step else roles1,
            step=self.paths.steps(y1) if from_step else None,
            threads=1,
        )
        layers = {}
        for key in ("flux", "gain_loss_net", "gain_loss_removals", "gain_loss_emissions"):
            with rasterio.open(outputs[key]) as ds:
                layers[key] = ds.read(1).astype("float64")
        return layers, table


def _total(s: dict[str, np.ndarray]) -> np.ndarray:
    return s["above"] + s["below"] + s["dead"] + s["soil"]


# -- one history of five pixels, 2000-2025 ------------------------------------------------------------
#: pixel 0: natural forest cleared to cropland in 2003, trees again from 2006 (regrowing)
#: pixel 1: natural forest built over in 2001 (settlement)
#: pixel 2: rubber planted in 1990 (10 years old in 2000), rotation 30 years
#: pixel 3: cropland in 2000, shrubland 2001-2003, trees from 2004
#: pixel 4: natural forest throughout
YEARS = range(2000, 2026)


def _rubber_lc(age: int) -> int:
    """What a rubber stand looks like at ``age``: cleared and replanted (0-1), young (2-3), trees."""
    return GRASS if age <= 1 else SHRUB if age <= 3 else TREE


def _land_cover(year: int) -> list[int]:
    p0 = CROP if 2003 <= year <= 2005 else TREE
    p1 = TREE if year == 2000 else BUILT
    p2 = _rubber_lc((year - 1990) % 30)
    p3 = CROP if year == 2000 else SHRUB if year <= 2003 else TREE
    return [p0, p1, p2, p3, TREE]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[History, dict]:
    h = History(
        tmp_path_factory.mktemp("history"),
        5,
        roles={"plantation": "plantation", "planting_year": "planting_year"},
    )
    got = {
        year: h.year(
            year, _land_cover(year), plantation=[0, 0, 2, 0, 0], planting_year=[0, 0, 1990, 0, 0]
        )
        for year in YEARS
    }
    return h, got


def _forest(agb: float, dom: float, soil: float) -> float:
    return agb * CF + agb * 0.25 * CF + dom + soil


def test_forest_cleared_to_cropland_then_regrowing(history) -> None:
    h, got = history
    # 2000: natural forest starts mature (old growth begins at 35 yr: AGB 100), DOM 5, soil 60
    assert got[2000]["state_age"][0, 0] == 35
    assert _total(got[2000])[0, 0] == pytest.approx(_forest(100, 5, 60))
    assert got[2002]["above"][0, 0] == pytest.approx(102 * CF)  # old growth: +1 t a year
    # 2003: cleared. Eq. 2.16: no biomass in the year of conversion; Eq. 2.23: DOM lost at once;
    # Eq. 2.25: soil still 60, moving towards cropland's 30 over 20 years
    s = got[2003]
    assert (s["above"][0, 0], s["below"][0, 0], s["dead"][0, 0]) == (0, 0, 0)
    assert s["soil"][0, 0] == pytest.approx(60)
    assert s["state_category"][0, 0] == 2 and s["state_previous_category"][0, 0] == 1
    assert s["state_years_since_conversion"][0, 0] == 0 and s["state_last_loss_year"][0, 0] == 2003
    # 2004: cropland biomass 4; soil 60 + (30 - 60) x 1/20 = 58.5; 2005: 57
    assert got[2004]["above"][0, 0] == 4 and got[2004]["soil"][0, 0] == pytest.approx(58.5)
    assert got[2005]["soil"][0, 0] == pytest.approx(57.0)
    # 2006: trees again, regrowing forest at age 0: no biomass, DOM 0 of 5 built up over 20 years,
    # soil from 57 back towards 60 over 20 years
    s = got[2006]
    assert s["state_stratum"][0, 0] == 5 and s["state_age"][0, 0] == 0
    assert _total(s)[0, 0] == pytest.approx(57.0)
    # 2011: age 5, AGB 25; DOM 5 x 5/20; soil 57 + 3 x 5/20
    assert _total(got[2011])[0, 0] == pytest.approx(_forest(25, 5 * 5 / 20, 57 + 3 * 5 / 20))
    # The stock-difference flux of the clearing year, and gain-loss the same (one annual step):
    # loss of the 2002 forest (biomass 102 t x 1.25 x 0.5, DOM 5) and no gain
    fl, _ = h.interval(2002, 2003)
    lost = 102 * 1.25 * CF + 5
    assert fl["flux"][0, 0] == pytest.approx(lost * C44_12, rel=1e-5)
    assert fl["gain_loss_emissions"][0, 0] == pytest.approx(lost * C44_12, rel=1e-5)
    assert fl["gain_loss_removals"][0, 0] == 0
    fl, _ = h.interval(2005, 2006)  # regrowth begins: the cropland's 4 Mg C is lost
    assert fl["gain_loss_emissions"][0, 0] == pytest.approx(4 * C44_12, rel=1e-5)
    assert fl["flux"][0, 0] == pytest.approx(4 * C44_12, rel=1e-5)


def test_forest_to_settlement_soil_moves_over_20_years(history) -> None:
    h, got = history
    soils = [got[year]["soil"][0, 1] for year in range(2001, 2024)]
    # conversion in 2001: 60 that year, then 60 - 60 x k/20 for k = 1..20, then 0
    expected = [60 - 60 * min(k, 20) / 20 for k in range(0, 23)]
    np.testing.assert_allclose(soils, expected, atol=1e-5)
    assert got[2021]["state_years_since_conversion"][0, 1] == 20  # now "remaining"
    # one annual step in the middle: 3 Mg C/ha of soil a year = 11 Mg CO2e/ha/yr, both methods
    fl, _ = h.interval(2010, 2011)
    assert fl["flux"][0, 1] == pytest.approx(3 * C44_12, rel=1e-5)
    assert fl["gain_loss_net"][0, 1] == pytest.approx(3 * C44_12, rel=1e-5)
    ipcc = pd.read_csv(h.paths.ipcc_summary(2010, 2011))
    ipcc = ipcc[ipcc["zone_id"] == AOI_ZONE].set_index("crf_code")
    area = float(h.grid.cell_area_ha(next(h.grid.tiles()).window)[0, 1])
    assert ipcc.loc["4.E.2.1", "category"] == "Forest land converted to Settlements"
    assert ipcc.loc["4.E.2.1", "area_ha"] == pytest.approx(area, abs=1e-6)  # CSV: 6 decimals
    assert ipcc.loc["4.E.2.1", "soil_mgc_per_yr"] == pytest.approx(-3 * area, abs=1e-6)
    # 2021-2022: 20 years on, the settlement is "remaining"
    h.interval(2021, 2022)
    ipcc = pd.read_csv(h.paths.ipcc_summary(2021, 2022))
    assert "4.E.2.1" not in set(ipcc["crf_code"]) and "4.E.1" in set(ipcc["crf_code"])


def test_rubber_rotation_is_harvest_and_regrowth_not_deforestation(history) -> None:
    h, got = history
    for year, s in got.items():
        age = (year - 1990) % 30
        assert s["state_stratum"][0, 2] == 2 and s["state_category"][0, 2] == 1, year
        assert s["state_age"][0, 2] == age, year
        agb = rubber_agb(age)
        assert s["above"][0, 2] == pytest.approx(agb * CF, rel=1e-5), year
        assert s["below"][0, 2] == pytest.approx(agb * 0.2 * CF, rel=1e-5), year
        # DOM of forest land remaining forest land is unchanged through the harvest (Tier 1):
        # litter 0.01 of the AGB at the 30-year rotation x CF_litter 0.37
        assert s["dead"][0, 2] == pytest.approx(rubber_agb(30) * 0.01 * 0.37, rel=1e-5), year
        assert s["soil"][0, 2] == pytest.approx(60.0), year  # no conversion: soil unchanged
        assert s["state_previous_category"][0, 2] == 0  # never converted
    assert got[2020]["state_last_loss_year"][0, 2] == 2020  # the harvest year
    # the harvest interval: the 29-year-old stand's biomass is lost, nothing else changes
    fl, _ = h.interval(2019, 2020)
    harvested = rubber_agb(29) * 1.2 * CF
    assert fl["gain_loss_emissions"][0, 2] == pytest.approx(harvested * C44_12, rel=1e-5)
    assert fl["gain_loss_removals"][0, 2] == 0
    assert fl["flux"][0, 2] == pytest.approx(harvested * C44_12, rel=1e-5)
    # a growing year: removals = growth of biomass along the curve
    fl, _ = h.interval(2010, 2011)
    growth = (rubber_agb(21) - rubber_agb(20)) * 1.2 * CF
    assert fl["gain_loss_removals"][0, 2] == pytest.approx(-growth * C44_12, rel=1e-5)
    assert fl["flux"][0, 2] == pytest.approx(-growth * C44_12, rel=1e-5)


def test_tree_cover_younger_than_its_canopy_is_the_previous_rotation(tmp_path: Path) -> None:
    """The first year: a rubber pixel planted this very year by its planting-year layer but still
    mapped as tree cover (the clearing not yet shown, e.g. held back by the change filter) is the
    previous rotation's stand at the end of its 30-year rotation; when the clearing shows the next
    year, its biomass is the harvest: AGB(30) x (1 + R) x CF, as CO2e."""
    h = History(tmp_path, 2, roles={"plantation": "plantation", "planting_year": "planting_year"})
    s = h.year(2000, [TREE, TREE], plantation=[2, 2], planting_year=[2000, 1990])
    assert s["state_age"][0].tolist() == [30, 10]
    assert s["above"][0, 0] == pytest.approx(rubber_agb(30) * CF, rel=1e-5)
    h.year(2001, [GRASS, TREE], plantation=[2, 2], planting_year=[2000, 1990])
    fl, _ = h.interval(2000, 2001)
    harvested = rubber_agb(30) * 1.2 * CF
    assert fl["gain_loss_emissions"][0, 0] == pytest.approx(harvested * C44_12, rel=1e-5)
    assert fl["flux"][0, 0] == pytest.approx(harvested * C44_12, rel=1e-5)


def test_shrub_regrows_into_forest_over_25_years(history) -> None:
    h, got = history
    # 2001: cropland -> shrubland (Grassland), age 0: no biomass yet; the crop's 4 is lost
    assert got[2001]["state_stratum"][0, 3] == 6 and got[2001]["above"][0, 3] == 0
    assert got[2003]["above"][0, 3] == pytest.approx(2 * 5 * CF)  # age 2: 10 t
    assert got[2003]["below"][0, 3] == pytest.approx(2 * 5 * 0.5 * CF)  # shrub R 0.5
    # 2004: trees (Grassland -> Forest land): regrowing forest, its age goes on (3 years)
    s = got[2004]
    assert s["state_stratum"][0, 3] == 5 and s["state_age"][0, 3] == 3
    assert s["above"][0, 3] == pytest.approx(15 * CF)
    assert s["below"][0, 3] == pytest.approx(15 * 0.25 * CF)
    # DOM builds up over 20 years from the conversion to forest land (2004)
    for year in (2004, 2014, 2024, 2025):
        k = min(year - 2004, 20)
        assert got[year]["dead"][0, 3] == pytest.approx(5 * k / 20), year
    # 25 years of growth from the first shrub year (2001): age 24 in 2025: AGB 50 + 2 x 14
    assert got[2025]["state_age"][0, 3] == 24
    assert got[2025]["above"][0, 3] == pytest.approx(natural_agb(24) * CF)
    # soil: cropland 30 -> shrubland 60 from 2001 (2 years of 20 by 2003), then from that level
    # -> tree cover 60 over 20 years from the conversion to forest land in 2004
    soil_2004 = 30 + (60 - 30) * 2 / 20
    assert got[2004]["soil"][0, 3] == pytest.approx(soil_2004)
    assert got[2024]["soil"][0, 3] == pytest.approx(60.0)
    assert got[2014]["soil"][0, 3] == pytest.approx(soil_2004 + (60 - soil_2004) * 10 / 20)
    # the regrowing years are removals by both methods, equal (one annual step each)
    fl, _ = h.interval(2010, 2011)
    growth = (natural_agb(10) - natural_agb(9)) * 1.25 * CF + 5 / 20
    soil_gain = (60 - soil_2004) / 20
    assert fl["gain_loss_removals"][0, 3] == pytest.approx(-(growth + soil_gain) * C44_12, rel=1e-5)
    assert fl["flux"][0, 3] == pytest.approx(fl["gain_loss_net"][0, 3], rel=1e-5)


def test_growth_only_pixels_give_both_methods_the_same_removals(history) -> None:
    h, _ = history
    fl, table = h.interval(2012, 2013)
    # pixel 4 natural forest (old growth: +1 t AGB a year), pixel 3 regrowing (age 11 -> 12)
    for px in (3, 4):
        assert fl["flux"][0, px] == pytest.approx(fl["gain_loss_removals"][0, px], rel=1e-5)
        assert fl["gain_loss_emissions"][0, px] == 0
    assert fl["flux"][0, 4] == pytest.approx(-1 * 1.25 * CF * C44_12, rel=1e-5)
    dom_and_soil = 5 / 20 + (60 - 33) / 20
    assert fl["flux"][0, 3] == pytest.approx(
        -((natural_agb(12) - natural_agb(11)) * 1.25 * CF + dom_and_soil) * C44_12, rel=1e-5
    )


# -- a loss year inside an interval ----------------------------------------------------------------
def test_a_loss_year_inside_an_interval_disturbs_the_stand(tmp_path: Path) -> None:
    """Hansen lossyear 3 (= 2003) on a tree pixel that is tree cover again at the end: the interval
    2001-2004 is stepped year by year; the stand is lost in 2003 and regrows from age 0."""
    h = History(tmp_path, 2, roles={"loss": "forest_loss"})
    h.year(2000, [TREE, TREE], loss=[0, 0])
    h.year(2001, [TREE, TREE], loss=[0, 0])
    s = h.year(2004, [TREE, TREE], loss=[3, 0])
    assert s["state_last_loss_year"][0].tolist() == [2003, 0]
    assert s["state_age"][0].tolist() == [1, 39]  # 2003 age 0, 2004 age 1; undisturbed 35 + 4
    assert s["state_stratum"][0].tolist() == [5, 1]  # regrowing; natural forest
    fl, _ = h.interval(2001, 2004)
    # pixel 0: 2002 growth +1 t, 2003 loss of the 102 t stand, 2004 growth 0 -> 5 t
    gains = (1 + 5) * 1.25 * CF
    losses = 102 * 1.25 * CF
    assert fl["gain_loss_removals"][0, 0] == pytest.approx(-gains / 3 * C44_12, rel=1e-5)
    assert fl["gain_loss_emissions"][0, 0] == pytest.approx(losses / 3 * C44_12, rel=1e-5)
    # stock difference sees only the net of the ends: 101 t (2001) -> 5 t (2004)
    assert fl["flux"][0, 0] == pytest.approx((101 - 5) * 1.25 * CF / 3 * C44_12, rel=1e-5)
    assert fl["gain_loss_net"][0, 0] == pytest.approx(fl["flux"][0, 0], rel=1e-5)
    # pixel 1 grows 1 t a year, old growth
    assert fl["flux"][0, 1] == pytest.approx(-1.25 * CF * C44_12, rel=1e-5)


# -- the interval reads the step the stocks stage kept -----------------------------------------------
def test_the_interval_reads_the_step_the_stocks_stage_kept(history, tmp_path: Path) -> None:
    """For consecutive years the interval reads the gain-loss of the step that the stocks stage
    took (resources/steps/<year>/) instead of stepping the state again: the same layers, byte for
    byte, and the same tables, through a clearing, a conversion, a rubber harvest and regrowth.
    The first year has no step (NaN); a step of other years is refused."""
    h, _ = history
    for y0, y1 in ((2000, 2001), (2002, 2003), (2005, 2006), (2010, 2011), (2019, 2020)):
        again, t_again = h.interval(y0, y1, out=tmp_path / f"again{y0}")
        kept, t_kept = h.interval(y0, y1, from_step=True, out=tmp_path / f"kept{y0}")
        for key in ("gain_loss_net", "gain_loss_removals", "gain_loss_emissions"):
            np.testing.assert_array_equal(kept[key], again[key], err_msg=f"{key} {y0}-{y1}")
            a = Paths(tmp_path / f"again{y0}").interval_outputs(y0, y1)[key].read_bytes()
            b = Paths(tmp_path / f"kept{y0}").interval_outputs(y0, y1)[key].read_bytes()
            assert a == b, f"{key} {y0}-{y1}"
        pd.testing.assert_frame_equal(
            t_kept.drop(columns="computed_at"), t_again.drop(columns="computed_at")
        )
    # by hand, from the kept step: the 2003 clearing of pixel 0 loses the 102 t stand and its DOM
    fl, _ = h.interval(2002, 2003, from_step=True, out=tmp_path / "hand")
    lost = 102 * 1.25 * CF + 5
    assert fl["gain_loss_emissions"][0, 0] == pytest.approx(lost * C44_12, rel=1e-5)
    assert fl["gain_loss_removals"][0, 0] == 0
    # the first year: the state starts there, no step
    with rasterio.open(h.paths.step(2000, "net")) as ds:
        assert np.isnan(ds.read(1)).all()
        tags = ds.tags()
    assert (tags["YEAR_START"], tags["YEAR_END"], tags["UNITS"]) == (
        "2000",
        "2000",
        "Mg CO2e ha-1 yr-1",
    )
    assert "SIGN_CONVENTION" in tags
    with pytest.raises(InputDataError, match=r"2002-2003, not 2001-2003.*rerun the stocks of 2003"):
        h.interval(2001, 2003, from_step=True, out=tmp_path / "other")


# -- landscapes: a rotation in steady state, growth only -------------------------------------------
def test_steady_state_rotation_both_methods_near_zero(tmp_path: Path) -> None:
    """30 rubber stands, one of each age 0-29 (planted 1971-2000): each year one is harvested
    and replanted. The landscape's stock is constant, so both methods give net 0 within 1 % of
    the gross flux, and gain-loss's gross removals equal its gross emissions."""
    n = 30
    planted = 2000 - np.arange(n)  # ages 0..29 in 2000
    roles = {"plantation": "plantation", "planting_year": "planting_year"}
    h = History(tmp_path, n, roles=roles)
    for year in (2000, 2001, 2002):
        ages = (year - planted) % 30
        h.year(
            year,
            [_rubber_lc(a) for a in ages],
            plantation=[2] * n,
            planting_year=planted,
        )
    totals = {y: float(np.sum(_total(h.stocks(y)))) for y in (2000, 2001, 2002)}
    assert totals[2001] == pytest.approx(totals[2000], rel=1e-6)
    for y0, y1 in ((2000, 2001), (2001, 2002)):
        fl, table = h.interval(y0, y1)
        gross = float(np.sum(fl["gain_loss_emissions"]))
        assert gross == pytest.approx(rubber_agb(29) * 1.2 * CF * C44_12, rel=1e-5)
        assert abs(float(np.sum(fl["gain_loss_net"]))) <= 0.01 * gross
        assert abs(float(np.sum(fl["flux"]))) <= 0.01 * gross
        assert float(-np.sum(fl["gain_loss_removals"])) == pytest.approx(gross, rel=1e-4)
        aoi = table[(table["zone_id"] == AOI_ZONE) & (table["class_name"] == "all classes")]
        for method in (STOCK_DIFFERENCE, GAIN_LOSS):
            row = aoi[(aoi["pool"] == "total") & (aoi["method"] == method)].iloc[0]
            assert abs(row["net_flux_mgco2e_per_yr"]) <= 0.01 * row["emissions_mgco2e_per_yr"]


def test_strata_table_blank_and_bad_cells(tmp_path):
    """A blank rotation is none (0 years) and a blank stratum name is the stratum's code; a
    rotation that is not a number is an error naming its line, not a silent 0."""
    from sinkmap.tables import StrataTable

    path = tmp_path / "strata.csv"
    path.write_text(STRATA.replace("1,natural forest,", "1,,"), encoding="utf-8")
    table = StrataTable.from_csv(path)
    assert table.rotation.tolist() == [0.0, 0.0, 30.0, 0.0]
    assert table.names[1] == "1" and table.names[2] == "rubber"
    path.write_text(STRATA.replace(",30,4,test", ",thirty,4,test"), encoding="utf-8")
    with pytest.raises(InputDataError, match=r"line 4: rotation_years is 'thirty'; give a finite"):
        StrataTable.from_csv(path)
    path.write_text(STRATA.replace("\n2,rubber", "\n2.5,rubber"), encoding="utf-8")
    with pytest.raises(InputDataError, match=r"line 4: stratum is '2.5'; give a whole number"):
        StrataTable.from_csv(path)


@pytest.mark.parametrize("empty", ["NA", "N/A", "#N/A", "nan", "null", "None", " "])
def test_strata_table_empty_rotation_as_spreadsheets_write_it(tmp_path, empty):
    """An empty rotation written as pandas and spreadsheets write one (pandas read these as
    missing before sinkmap read its tables with the csv module) is none, 0 years."""
    from sinkmap.tables import StrataTable

    path = tmp_path / "strata.csv"
    path.write_text(STRATA.replace(",,4,test", f",{empty},4,test", 1), encoding="utf-8")
    assert StrataTable.from_csv(path).rotation.tolist() == [0.0, 0.0, 30.0, 0.0]


def test_strata_table_from_a_dataframe(tmp_path):
    """A DataFrame's NaN and NA cells are empty, as in a file."""
    import io

    import pandas as pd

    from sinkmap.tables import StrataTable

    for frame in (
        pd.read_csv(io.StringIO(STRATA)),
        pd.read_csv(io.StringIO(STRATA), dtype_backend="numpy_nullable"),
    ):
        table = StrataTable.from_columns(frame, name="frame")
        assert table.rotation.tolist() == [0.0, 0.0, 30.0, 0.0]
        assert table.strata.tolist() == [1, 5, 2, 6] and table.names[2] == "rubber"
