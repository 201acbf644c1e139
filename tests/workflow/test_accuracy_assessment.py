"""The accuracy assessment of an interval on a finished run, through the command line: draw the
sample, interpret it (labels from the map, a few changed by hand), assess; the adjusted areas are
worked out in the test from the stratified estimator (Olofsson et al. 2014, Eqs. 4 and 9)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from conftest import PUBLISHED_YEARS

from sinkmap.paths import Paths

pytestmark = pytest.mark.workflow

Y0, Y1 = PUBLISHED_YEARS
FOREST = 1  # IPCC category code of Forest land (legends.IPCC_CATEGORY)
PLANTATION_STRATA = (2, 3, 4)  # rubber, palms, other plantations (legends.STRATUM)


def _aoi_total(account: pd.DataFrame, method: str) -> pd.Series:
    """The account's one AOI "all classes" total row of ``method`` in the year ``Y1``."""
    rows = account[
        (account["method"] == method)
        & (account["zone_id"] == "aoi")
        & (account["class_name"] == "all classes")
        & (account["pool"] == "total")
        & (account["year"] == Y1)
    ]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinkmap.cli", *args, "--config", "config.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def sampled(published_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("accuracy") / "run"
    shutil.copytree(published_run, work, symlinks=True)
    done = _cli(work, "sample", f"{Y0}-{Y1}", "--seed", "3", "--min-per-stratum", "10")
    assert done.returncode == 0, done.stderr
    return work


def _at(path: Path, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    with rasterio.open(path) as ds:
        a = ds.read(1)
    return a[rows, cols]


def test_the_sample_follows_its_design(sampled: Path) -> None:
    out = sampled / Paths().accuracy_dir(Y0, Y1)
    points = pyogrio.read_dataframe(out / "sample.gpkg", layer="sample_points")
    plots = pyogrio.read_dataframe(out / "sample.gpkg", layer="sample_plots")
    strata = pd.read_csv(out / "strata.csv")
    assert len(points) == len(plots) == strata["sample_units"].sum()
    assert (points["reference_class"].fillna("") == "").all()
    # each stratum got its allocation, at least the minimum where it has the cells
    got = points.groupby("stratum").size()
    for row in strata.itertuples():
        assert got.get(row.stratum, 0) == row.sample_units
        assert row.sample_units >= min(row.pixels, 10)
    # every point's stratum is the change stratum of its cell, worked out from the state layers
    res = sampled / "results"
    rows, cols = points["row"].to_numpy(), points["col"].to_numpy()
    c0 = _at(res / f"{Y0}/state_category.tif", rows, cols)
    c1 = _at(res / f"{Y1}/state_category.tif", rows, cols)
    s1 = _at(res / f"{Y1}/state_stratum.tif", rows, cols)
    expect = np.where(
        (c0 == FOREST) & (c1 == FOREST),
        np.where(np.isin(s1, PLANTATION_STRATA), 2, 1),
        np.where(c0 == FOREST, 3, np.where(c1 == FOREST, 4, 5)),
    )
    assert (points["stratum"].to_numpy() == expect).all()
    # the strata's pixels add up to the cells with data in both years
    lc = _at(res / f"{Y1}/land_cover.tif", slice(None), slice(None))
    assert strata["pixels"].sum() == int((lc > 0).sum())
    assert strata["weight"].sum() == pytest.approx(1.0)
    # one cell per unit, drawn without replacement; the plot is the cell's square
    assert not points.duplicated(["row", "col"]).any()
    side = np.sqrt(plots.geometry.area.to_numpy())
    assert side == pytest.approx(np.full(len(plots), 10.0))


def test_assess_gives_the_stratified_estimates(sampled: Path) -> None:
    out = sampled / Paths().accuracy_dir(Y0, Y1)
    points = pd.read_csv(out / "sample.csv", keep_default_na=False)
    strata = pd.read_csv(out / "strata.csv").set_index("stratum")
    # The interpreter agrees with the map except for the first 4 units of the largest stratum,
    # which the reference shows as forest loss.
    big = int(strata["pixels"].idxmax())
    points["reference_class"] = points["stratum_name"]
    flipped = points.index[points["stratum"] == big][:4]
    points.loc[flipped, "reference_class"] = "Forest loss"
    labelled = sampled / "labelled.csv"
    points.to_csv(labelled, index=False)
    done = _cli(sampled, "assess", f"{Y0}-{Y1}", str(labelled))
    assert done.returncode == 0, done.stderr
    # the GeoPackage layer holds the full precision (the CSV six decimals)
    acc = pyogrio.read_dataframe(out / "assessment.gpkg", layer="accuracy").set_index("stratum")
    csv = pd.read_csv(out / "accuracy.csv").set_index("stratum")
    assert csv["adjusted_area_ha"].to_numpy() == pytest.approx(
        acc["adjusted_area_ha"].to_numpy(), abs=1e-6, nan_ok=True
    )

    # By hand: Â_j = A Σ_h W_h n_hj / n_h, W_h = A_h / A (Olofsson et al. 2014 Eqs. 4, 9)
    area = strata["area_ha"].sum()
    n_big = strata.loc[big, "sample_units"]
    w_big = strata.loc[big, "area_ha"] / area
    moved = area * w_big * 4 / n_big
    assert acc.loc[big, "adjusted_area_ha"] == pytest.approx(strata.loc[big, "area_ha"] - moved)
    loss_mapped = strata["area_ha"].get(3, 0.0)
    assert acc.loc[3, "adjusted_area_ha"] == pytest.approx(loss_mapped + moved)
    # user's accuracy of the big stratum: (n − 4)/n; its SE sqrt(U(1 − U)/(n − 1)) (Eq. 6)
    u = (n_big - 4) / n_big
    assert acc.loc[big, "users_accuracy"] == pytest.approx(u)
    assert acc.loc[big, "users_accuracy_se"] == pytest.approx(np.sqrt(u * (1 - u) / (n_big - 1)))
    # overall accuracy 1 − W_big · 4 / n_big; the areas still add up to the AOI's
    assert acc.loc[0, "overall_accuracy"] == pytest.approx(1 - w_big * 4 / n_big)
    assert acc.loc[acc.index > 0, "adjusted_area_ha"].sum() == pytest.approx(area)
    layers = {name for name, _ in pyogrio.list_layers(out / "assessment.gpkg")}
    assert layers == {"accuracy", "error_matrix", "adjusted_account"}

    # The adjusted account: per method, the strata's mapped fluxes add up to the AOI's net flux of
    # the interval in the carbon account (another tally of the same layers), and each stratum's
    # adjusted flux is its flux per hectare times its adjusted area.
    adj = pd.read_csv(out / "adjusted_account.csv")
    account = pd.read_csv(sampled / "results" / "carbon_account.csv")
    for method in ("stock-difference", "gain-loss"):
        rows = adj[adj["method"] == method]
        strata_rows = rows[rows["stratum"] != "total"]
        strata_rows = strata_rows.set_index(strata_rows["stratum"].astype(str))
        net = _aoi_total(account, method)["net_flux_mgco2e_per_yr"]
        assert strata_rows["net_flux_mapped_mgco2e_per_yr"].sum() == pytest.approx(
            float(net),
            rel=1e-5,
            abs=1e-3,  # the flux layer is float32
        )
        for h, r in strata_rows.iterrows():
            assert r["net_flux_adjusted_mgco2e_per_yr"] == pytest.approx(
                r["net_flux_mgco2e_per_ha_yr"] * acc.loc[int(h), "adjusted_area_ha"],
                rel=1e-5,
                abs=1e-6,
            )
        total = rows[rows["stratum"] == "total"].iloc[0]
        assert total["net_flux_adjusted_mgco2e_per_yr"] == pytest.approx(
            strata_rows["net_flux_adjusted_mgco2e_per_yr"].sum(), rel=1e-6, abs=1e-6
        )
        assert (
            total["net_flux_adjusted_mgco2e_per_yr_p025"]
            <= total["net_flux_adjusted_mgco2e_per_yr_p5"]
            <= total["net_flux_adjusted_mgco2e_per_yr"]
            <= total["net_flux_adjusted_mgco2e_per_yr_p95"]
            <= total["net_flux_adjusted_mgco2e_per_yr_p975"]
        )
        # the stocks' Monte Carlo gives each stratum's factor its draws; the carbon state's
        # gain-loss equals its stock difference pixel by pixel, so it takes the same draws
        assert set(rows["uncertainty_sources"]) == {
            "areas (stratified bootstrap) and emission factors (Monte Carlo of the stocks)"
        }


def test_bad_interpretations_are_refused_and_nothing_is_written(sampled: Path) -> None:
    out = sampled / Paths().accuracy_dir(Y0, Y1)
    points = pd.read_csv(out / "sample.csv", keep_default_na=False)
    points["reference_class"] = points["stratum_name"]
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}

    blank = points.copy()
    blank.loc[[2, 5], "reference_class"] = ""
    blank.to_csv(sampled / "blank.csv", index=False)
    done = _cli(sampled, "assess", f"{Y0}-{Y1}", str(sampled / "blank.csv"))
    assert done.returncode == 2
    ids = blank.loc[[2, 5], "point_id"].tolist()
    assert f"have no reference_class (point_id {ids[0]}, {ids[1]})" in done.stderr

    odd = points.copy()
    odd.loc[0, "reference_class"] = "Jungle"
    odd.to_csv(sampled / "odd.csv", index=False)
    done = _cli(sampled, "assess", f"{Y0}-{Y1}", str(sampled / "odd.csv"))
    assert done.returncode == 2
    assert "unknown reference_class" in done.stderr and "'Jungle'" in done.stderr

    away = points.copy()
    away.loc[1, "lon"] = 110.5
    away.to_csv(sampled / "away.csv", index=False)
    done = _cli(sampled, "assess", f"{Y0}-{Y1}", str(sampled / "away.csv"))
    assert done.returncode == 2
    assert f"sample units {away.loc[1, 'point_id']} lie outside the AOI" in done.stderr
    # nothing written, nothing half-written
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_a_configured_assessment_adds_area_adjusted_rows_to_the_account(sampled: Path) -> None:
    """account.assessments: the workflow assesses the interval and the account gets one
    area-adjusted row per method. With labels copied from the map the adjusted areas are the mapped
    ones (no sampling spread), so the adjusted net flux is the mapped net flux of the account, and
    its 95 % interval, from the stocks' Monte Carlo run over the five change strata and added up,
    is the account's own interval from the Monte Carlo over the whole AOI: two tallies of the same
    draws."""
    import yaml
    from tinyrun import snakemake

    out = sampled / Paths().accuracy_dir(Y0, Y1)
    points = pd.read_csv(out / "sample.csv", keep_default_na=False)
    points["reference_class"] = points["stratum_name"]
    points.to_csv(sampled / "labelled.csv", index=False)
    cfg = yaml.safe_load((sampled / "config.yaml").read_text())
    cfg["account"]["assessments"] = {f"{Y0}-{Y1}": "labelled.csv"}
    (sampled / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(sampled, "results/carbon_account.csv")
    account = pd.read_csv(sampled / "results" / "carbon_account.csv")
    adjusted = pd.read_csv(out / "adjusted_account.csv")

    for method in ("stock-difference", "gain-loss"):
        row = _aoi_total(account, f"{method} (area-adjusted)")
        mapped = _aoi_total(account, method)
        adj = adjusted[(adjusted["method"] == method) & (adjusted["stratum"] == "total")].iloc[0]
        assert row["net_flux_mgco2e_per_yr"] == adj["net_flux_adjusted_mgco2e_per_yr"]
        assert row["net_flux_mgco2e_per_yr_p025"] == adj["net_flux_adjusted_mgco2e_per_yr_p025"]
        assert row["interval_start"] == Y0 and pd.isna(row["stock_mgc"])
        assert row["net_flux_mgco2e_per_yr"] == pytest.approx(
            mapped["net_flux_mgco2e_per_yr"], rel=1e-5, abs=1e-3
        )
        assert row["area_ha"] == pytest.approx(mapped["area_ha"], rel=1e-9)
    sd = _aoi_total(account, "stock-difference")
    # the carbon state's gain-loss equals its stock difference draw by draw: the same interval
    gl = _aoi_total(account, "gain-loss")
    assert gl["net_flux_mgco2e_per_yr"] == pytest.approx(sd["net_flux_mgco2e_per_yr"], rel=1e-5)
    for q in ("p025", "p05", "p95", "p975", "mcse"):
        assert gl[f"net_flux_mgco2e_per_yr_{q}"] == sd[f"net_flux_mgco2e_per_yr_{q}"]
    assert pd.isna(gl["stock_mgc_p025"]) and gl["mc_draws"] == sd["mc_draws"]
    row = _aoi_total(account, "stock-difference (area-adjusted)")
    for q in ("p025", "p975"):
        assert row[f"net_flux_mgco2e_per_yr_{q}"] == pytest.approx(
            sd[f"net_flux_mgco2e_per_yr_{q}"], rel=1e-4, abs=1e-2
        )
