"""The sum of several AOIs (sinkmap.stages.aois.combine_accounts) on hand-made accounts and draws:
values added, blanks kept blank, an interval only where every AOI has one, the contract columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sinkmap.config import summable_uncertainty
from sinkmap.contract import OUTPUT_VERSION
from sinkmap.stages.aois import ALL_AOIS, combine_accounts

SD = "stock-difference"


def _account(path: Path, stock0: float, stock1: float, *, flux_p025: float | None) -> Path:
    """An AOI's whole-AOI total rows: the 2020 stock, the 2021 stock with the 2020-2021 flux by
    stock difference, and the gain-loss flux."""
    flux = (stock0 - stock1) * 44 / 12
    rows = [
        {"year": 2020, "method": SD, "area_ha": 10.0, "stock_mgc": stock0, "stock_mgc_p025": 1.0},
        {
            "year": 2021,
            "interval_start": 2020,
            "interval_end": 2021,
            "method": SD,
            "area_ha": 10.0,
            "stock_mgc": stock1,
            "stock_mgc_p025": 1.0,
            "net_flux_mgco2e_per_yr": flux,
            "net_flux_mgco2e_per_yr_p025": flux_p025,
        },
        {
            "year": 2021,
            "interval_start": 2020,
            "interval_end": 2021,
            "method": "gain-loss",
            "area_ha": 10.0,
            "net_flux_mgco2e_per_yr": -5.0,
        },
    ]
    t = pd.DataFrame(rows)
    t["zone_id"], t["class_name"], t["pool"] = "aoi", "all classes", "total"
    t["model"], t["inputs"], t["method_params"], t["synthetic"] = "{}", "[]", "{}", "yes"
    t.to_csv(path, index=False)
    return path


def _draws(path: Path, year: int, values: list[float]) -> Path:
    pd.DataFrame(
        {
            "year": year,
            "draw": range(len(values)),
            "zone_id": "aoi",
            "pool": "total",
            "stock_mgc": values,
            "seed": 7,
        }
    ).to_csv(path, index=False)
    return path


def _sum(table: pd.DataFrame, **key: object) -> pd.Series:
    sel = table[table["aoi"] == ALL_AOIS]
    for k, v in key.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, key
    return sel.iloc[0]


def test_the_sum_adds_values_and_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = _account(tmp_path / "a.csv", 100.0, 110.0, flux_p025=-50.0)
    b = _account(tmp_path / "b.csv", 200.0, 190.0, flux_p025=20.0)
    mc = {
        "a": {
            2020: _draws(tmp_path / "a0.csv", 2020, [90, 100, 110, 120]),
            2021: _draws(tmp_path / "a1.csv", 2021, [100, 110, 120, 130]),
        },
        "b": {
            2020: _draws(tmp_path / "b0.csv", 2020, [180, 200, 220, 240]),
            2021: _draws(tmp_path / "b1.csv", 2021, [170, 190, 210, 230]),
        },
    }
    table = combine_accounts({"a": a, "b": b}, tmp_path / "out.csv", monte_carlo=mc)
    s0 = _sum(table, year=2020, method=SD)
    assert (s0["area_ha"], s0["stock_mgc"], s0["stock_density_mgc_per_ha"]) == (20.0, 300.0, 15.0)
    # summed draws 270, 300, 330, 360: numpy's linear percentiles
    assert s0["stock_mgc_p025"] == pytest.approx(np.percentile([270, 300, 330, 360], 2.5))
    s1 = _sum(table, year=2021, method=SD)
    assert s1["stock_mgc"] == 300.0 and s1["net_flux_mgco2e_per_yr"] == pytest.approx(0.0)
    # flux draws: -(T2021 - T2020) x 44/12 = -(270-270, 300-300, ...) = 0 in every draw
    assert s1["net_flux_mgco2e_per_yr_p025"] == pytest.approx(0.0)
    assert s1["mc_draws"] == 4
    gl = _sum(table, year=2021, method="gain-loss")
    assert gl["net_flux_mgco2e_per_yr"] == -10.0 and np.isnan(gl["net_flux_mgco2e_per_yr_p025"])
    assert np.isnan(gl["stock_mgc_p025"])
    assert s0["output_version"] == OUTPUT_VERSION and s0["sinkmap_version"]
    assert s0["computed_at"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH 1700000000
    assert s0["synthetic"] == "yes"
    # each AOI's own rows come first, unchanged
    assert list(table["aoi"][:3]) == ["a"] * 3 and list(table["aoi"][3:6]) == ["b"] * 3


def test_a_blank_in_one_aoi_leaves_the_sum_blank(tmp_path):
    a = _account(tmp_path / "a.csv", 100.0, 110.0, flux_p025=-50.0)
    b = _account(tmp_path / "b.csv", 200.0, float("nan"), flux_p025=None)
    table = combine_accounts({"a": a, "b": b}, tmp_path / "out.csv")
    assert np.isnan(_sum(table, year=2021, method=SD)["stock_mgc"])
    assert _sum(table, year=2020, method=SD)["stock_mgc"] == 300.0


def test_no_flux_interval_where_an_aoi_withheld_its_own(tmp_path):
    """An AOI whose two years count different cells has no flux interval: nor has the sum."""
    a = _account(tmp_path / "a.csv", 100.0, 110.0, flux_p025=-50.0)
    b = _account(tmp_path / "b.csv", 200.0, 190.0, flux_p025=None)
    mc = {
        n: {y: _draws(tmp_path / f"{n}{y}.csv", y, [1.0, 2.0, 3.0]) for y in (2020, 2021)}
        for n in ("a", "b")
    }
    table = combine_accounts({"a": a, "b": b}, tmp_path / "out.csv", monte_carlo=mc)
    s1 = _sum(table, year=2021, method=SD)
    assert np.isnan(s1["net_flux_mgco2e_per_yr_p025"])
    assert not np.isnan(s1["stock_mgc_p025"])  # the stocks' intervals stand


def test_draws_of_other_uncertainty_settings_are_not_added():
    from sinkmap.config import load_aoi_configs

    base = {
        "years": [2020, 2021],
        "inputs": {"land_cover": {"dataset": "demo_worldcover"}},
        "aois": {"a": {"aoi": {"path": "a.gpkg"}}, "b": {"aoi": {"path": "b.gpkg"}}},
    }
    assert summable_uncertainty(load_aoi_configs(base)) is None
    base["aois"]["b"]["account"] = {"uncertainty": {"seed": 1}}
    assert "another model or account.uncertainty than 'a'" in str(
        summable_uncertainty(load_aoi_configs(base))
    )
