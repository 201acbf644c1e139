"""End-to-end: Snakemake runs the real workflow on a tiny AOI in a temporary folder.

Every expected value is recomputed here from the pool table and the equations (IPCC 2006 Vol. 4
Eq. 2.5, x 44/12, inventory sign), not taken from the code's own output.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from tinyrun import REPO, TABLE, account_settings, snakemake, write_aoi, write_config

pytestmark = pytest.mark.workflow

POOLS = {"above": "c_above", "below": "c_below", "dead": "c_dead", "soil": "c_soil"}
CO2_PER_C = 44 / 12


def _job_counts(dry_run_output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    block = dry_run_output.split("Job stats:", 1)[1]
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts


def _job_threads(dry_run_output: str) -> dict[str, set[int]]:
    """The threads of each rule's jobs in a dry run (Snakemake prints ``threads: N`` when N > 1)."""
    threads: dict[str, set[int]] = {}
    for block in dry_run_output.split("\n\n"):
        m = re.search(r"^(?:localrule|rule) (\w+):", block, re.M)
        if m:
            n = re.search(r"^\s+threads: (\d+)$", block, re.M)
            threads.setdefault(m.group(1), set()).add(int(n.group(1)) if n else 1)
    return threads


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("run")
    write_aoi(workdir)
    write_config(workdir, [2020, 2021])
    snakemake(workdir)
    return workdir


def _read(path: Path) -> tuple[np.ndarray, dict[str, str], float | None]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.tags(), ds.nodata


def test_stock_layers_equal_pool_table_lookup(run: Path) -> None:
    table = pd.read_csv(TABLE).set_index("lucode")
    for year in (2020, 2021):
        # the stocks are those of the land cover the account reads: the change-filtered map
        lc, _, lc_nodata = _read(run / f"results/{year}/land_cover_filtered.tif")
        assert lc_nodata == 0
        inside = lc != 0
        assert inside.sum() > 10_000  # ~4 km2 of 10 m cells
        expected_total = np.zeros(lc.shape)
        for pool, column in POOLS.items():
            stock, tags, _ = _read(run / f"results/{year}/carbon_stock_{pool}.tif")
            expected = np.full(lc.shape, np.nan)
            for code in np.unique(lc[inside]):
                expected[lc == code] = table.loc[int(code), column]
            np.testing.assert_allclose(stock[inside], expected[inside], rtol=1e-6)
            assert np.isnan(stock[~inside]).all()
            assert (
                tags["UNITS"] == "Mg C ha-1" and tags["POOL"] == pool and tags["YEAR"] == str(year)
            )
            expected_total += np.nan_to_num(expected)
        total, tags, nodata = _read(run / f"results/{year}/carbon_stock_total.tif")
        assert np.isnan(nodata)
        np.testing.assert_allclose(total[inside], expected_total[inside], rtol=1e-6)
        assert tags["SYNTHETIC"] == "yes" and "SYNTHETIC" in tags["NOTE"]
        assert tags["MODEL"] == "lookup" and json.loads(tags["MODEL_PARAMS"]) == {
            "table": str(TABLE)
        }
        # the filtered land cover of a year is made from its map and the year before's (2019
        # warms the filter up): both are among the stocks' sources
        sources = json.loads(tags["SOURCES"])
        files = [f for s in sources if s["dataset"] == "demo_worldcover" for f in s["files"]]
        for y in (year - 1, year):
            assert any(f"ESA_WorldCover_10m_{y}_v200_N18E108_Map.tif" in f for f in files), y


def test_the_filtered_land_cover_differs_from_the_map_where_the_filter_says(run: Path) -> None:
    """Where the filtered map differs from the aligned map, the filter held a change back or
    removed it: the areas agree with change_filter.csv (10 m cells, 0.01 ha to within the UTM
    scale factor)."""
    for year in (2020, 2021):
        mapped, _, _ = _read(run / f"results/{year}/land_cover.tif")
        filtered, tags, _ = _read(run / f"results/{year}/land_cover_filtered.tif")
        assert ((mapped == 0) == (filtered == 0)).all()
        table = pd.read_csv(run / f"results/{year}/change_filter.csv").set_index("quantity")
        reverted = table.loc[["held: not persistent", "removed: below the MMU"], "area_ha"].sum()
        assert (mapped != filtered).sum() * 0.01 == pytest.approx(reverted, rel=1e-3, abs=1e-6)
        assert json.loads(tags["CHANGE_FILTER"])["min_mapping_unit_cells"] == 7
    # the town grows: changes pass the filter once confirmed (2019 warms it up)
    table = pd.read_csv(run / "results/2021/change_filter.csv").set_index("quantity")
    assert table.loc["changed after filtering", "area_ha"] > 0


def test_sink_is_stock_difference_in_co2e(run: Path) -> None:
    s0, _, _ = _read(run / "results/2020/carbon_stock_total.tif")
    s1, _, _ = _read(run / "results/2021/carbon_stock_total.tif")
    flux, tags, _ = _read(run / "results/sink/2020-2021/net_flux_co2e.tif")
    inside = np.isfinite(s0)
    expected = -(s1.astype(float) - s0) / (2021 - 2020) * CO2_PER_C
    np.testing.assert_allclose(flux[inside], expected[inside], rtol=1e-5, atol=1e-4)
    assert np.isnan(flux[~inside]).all()
    # the synthetic town grows each year: its new built-up cells are emissions
    assert (flux[inside] > 0).any()
    assert not np.signbit(flux[inside & (flux == 0)]).any()  # no -0.0 in unchanged cells
    assert tags["UNITS"] == "Mg CO2e ha-1 yr-1"
    assert tags["SIGN_CONVENTION"].startswith("inventory: emissions positive")
    assert tags["INTERVAL"] == "2020-2021"


def test_a_job_log_says_how_far_its_layers_are(run: Path) -> None:
    """The stocks job's log ends its write with the chunks it wrote: its five stock layers times
    the grid's chunks (counted here from grid.json: ceil(height / chunk) x ceil(width / chunk))."""
    grid = json.loads((run / "results" / "grid.json").read_text())
    chunks = math.ceil(grid["height"] / grid["chunk"]) * math.ceil(grid["width"] / grid["chunk"])
    log = (run / "logs" / "stocks" / "2021.log").read_text()
    total = 5 * chunks
    assert f"writing 5 layer(s) to results/2021: {total} of {total} chunks (100 %)" in log, log


def test_outputs_are_valid_cogs(run: Path) -> None:
    for path in [
        run / "results/2021/carbon_stock_total.tif",
        run / "results/2021/land_cover.tif",
        run / "results/2021/biomass.tif",
        run / "results/sink/2020-2021/net_flux_co2e.tif",
    ]:
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, (path, errors)


def test_class_summary_and_account(run: Path) -> None:
    table = pd.read_csv(TABLE).set_index("lucode")
    lc, _, _ = _read(run / "results/2021/land_cover_filtered.tif")
    summary = pd.read_csv(run / "results/2021/class_summary.csv").set_index("class_code")
    codes, counts = np.unique(lc[lc != 0], return_counts=True)
    assert sorted(summary.index) == sorted(int(c) for c in codes)
    for code, n in zip(codes, counts, strict=True):
        row = summary.loc[int(code)]
        # 10 m cells are 0.01 ha on the UTM plane; true areas differ by the UTM scale factor (< 0.1 %)
        assert row["area_ha"] == pytest.approx(n * 0.01, rel=1e-3)
        density = sum(table.loc[int(code), c] for c in POOLS.values())
        # (area_ha is written with 6 decimals: a few-pixel class is 0.03 ha +- 5e-7)
        assert row["stock_total_mgc"] == pytest.approx(
            density * row["area_ha"], rel=1e-6, abs=density * 1e-6
        )

    account = pd.read_csv(run / "results/carbon_account.csv")
    assert set(account["year"]) == {2020, 2021}
    sd = account[(account["method"] == "stock-difference") & (account["zone_id"] == "aoi")]
    totals = sd[(sd["class_name"] == "all classes") & (sd["pool"] == "total")].set_index("year")
    classes = sd[(sd["class_name"] != "all classes") & (sd["pool"] == "total")]
    first = classes[classes["year"] == 2020]
    assert first["net_flux_mgco2e_per_yr"].isna().all()
    second = classes[classes["year"] == 2021].set_index("class_code")
    # the account's stocks are the class summary's (two independent tallies of the same layers)
    for code in summary.index:
        assert second.loc[code, "stock_mgc"] == pytest.approx(
            summary.loc[code, "stock_total_mgc"], rel=1e-6
        )
    sink = pd.read_csv(run / "results/sink/2020-2021/class_summary.csv").set_index("class_code")
    for code in sink.index:
        assert second.loc[code, "interval_start"] == 2020
        assert second.loc[code, "net_flux_mgco2e_per_yr"] == pytest.approx(
            sink.loc[code, "net_flux_mgco2e_per_yr"], rel=1e-5, abs=1e-6
        )
    # county net flux = -(total stock change) x 44/12 for a one-year interval
    stock_change = totals.loc[2021, "stock_mgc"] - totals.loc[2020, "stock_mgc"]
    assert totals.loc[2021, "net_flux_mgco2e_per_yr"] == pytest.approx(
        -stock_change * CO2_PER_C, rel=1e-6
    )
    assert sink["net_flux_mgco2e_per_yr"].sum() == pytest.approx(
        -stock_change * CO2_PER_C, rel=1e-4
    )
    # gain-loss beside it: forest remaining forest grows 0.7 t d.m./ha/yr x 1.37 x 0.47
    # (config/growth_rates.csv, unspecified state), so its removals are area x that x 44/12
    ipcc = pd.read_csv(run / "results/sink/2020-2021/ipcc_summary.csv")
    ffl = ipcc[(ipcc["zone_id"] == "aoi") & (ipcc["crf_code"] == "4.A.1")].iloc[0]
    assert ffl["gl_gains_mgc_per_yr"] == pytest.approx(ffl["area_ha"] * 0.7 * 1.37 * 0.47, rel=1e-5)
    gl = account[(account["method"] == "gain-loss") & (account["class_name"] == "all classes")]
    assert set(gl["pool"]) == {"total"} and set(gl["year"]) == {2021}
    assert (gl["removals_mgco2e_per_yr"] <= 0).all() and (gl["emissions_mgco2e_per_yr"] >= 0).all()
    # the gain-loss Monte Carlo (no growth-rate uncertainty in tinyrun): the removals are the same
    # in every draw and the emissions take the drawn table stocks
    mc = pd.read_csv(run / "results/sink/2020-2021/monte_carlo_gain_loss.csv")
    assert list(mc.columns) == [  # docs/outputs.md
        "interval_start",
        "interval_end",
        "draw",
        "zone_id",
        "part",
        "mgco2e_per_yr",
        "seed",
    ]
    parts = mc.pivot_table(index="draw", columns="part", values="mgco2e_per_yr")
    aoi_gl = gl[gl["zone_id"] == "aoi"].iloc[0]
    assert len(parts) == 20
    assert parts["removals"].to_numpy() == pytest.approx(aoi_gl["removals_mgco2e_per_yr"], rel=1e-5)
    assert parts["emissions"].std() > 0  # the losses follow the drawn table stocks
    assert aoi_gl["mc_draws"] == 20
    assert aoi_gl["net_flux_mgco2e_per_yr_p025"] == pytest.approx(
        np.percentile(parts["net"], 2.5), rel=1e-9
    )
    # its variance shares: the stocks' sources (tinyrun gives the gain-loss parameters none),
    # each 1 - Var(net with the source held) / Var(net), from the two files
    held = pd.read_csv(run / "results/sink/2020-2021/monte_carlo_gain_loss_sensitivity.csv")
    stock_held = pd.read_csv(run / "results/2021/monte_carlo_sensitivity.csv")
    assert set(held["parameter"]) == set(stock_held["parameter"]) and len(held) > 0
    shares = pd.read_csv(run / "results/uncertainty_sensitivity.csv")
    gl_shares = shares[shares["quantity"] == "net_flux_gain_loss"].set_index("parameter")
    assert set(gl_shares.index) == set(held["parameter"])
    assert (gl_shares["interval_start"] == 2020).all() and (gl_shares["year"] == 2021).all()
    for name, rows in held.groupby("parameter"):
        share = 1 - rows["mgco2e_per_yr"].var() / parts["net"].var()
        assert gl_shares.loc[name, "variance_share"] == pytest.approx(share, rel=1e-5)  # 6 digits
    # Monte Carlo: above-ground and soil table values drawn (tinyrun); the interval brackets
    assert (totals["stock_mgc_p05"] < totals["stock_mgc"]).all()
    assert (totals["stock_mgc"] < totals["stock_mgc_p95"]).all()
    assert (totals["mc_draws"] == 20).all()
    assert (account["synthetic"] == "yes").all()
    twin = pd.read_parquet(run / "results/carbon_account.parquet")
    assert list(twin.columns) == list(account.columns) and len(twin) == len(account)


def test_geopackage_layers(run: Path) -> None:
    layers = {row[0] for row in pyogrio.list_layers(run / "results/2021/sinkmap_2021.gpkg")}
    assert layers == {
        "aoi",
        "class_summary",
        "tiles",
        "layer_styles",
        "change_matrix",
        "ipcc_change_matrix",
        "ipcc_summary",
        "zones",
    }
    zones = gpd.read_file(run / "results/2021/sinkmap_2021.gpkg", layer="zones")
    assert list(zones["zone_id"]) == ["T-W", "T-E"]
    stocks = pd.read_csv(run / "results/2021/account_stocks.csv")
    whole = stocks[(stocks["class_name"] == "all classes") & (stocks["pool"] == "total")]
    by_zone = whole.set_index("zone_id")["stock_mgc"]
    # the two zones split the AOI: their stocks add up to the AOI's, up to the AOI's edge cells
    # (the AOI row counts a cell by its centre, as the maps do; zones by the exact covered fraction)
    assert by_zone["T-W"] + by_zone["T-E"] == pytest.approx(by_zone["aoi"], rel=0.01)
    assert zones.set_index("zone_id")["stock_total_mgc"]["T-W"] == pytest.approx(by_zone["T-W"])
    matrix = gpd.read_file(run / "results/2021/sinkmap_2021.gpkg", layer="change_matrix")
    csv = pd.read_csv(run / "results/sink/2020-2021/change_matrix.csv")
    assert matrix["area_ha"].sum() == pytest.approx(csv["area_ha"].sum())
    # the class summary carries the sink of the interval ending in the year, empty in the first year
    first = gpd.read_file(run / "results/2020/sinkmap_2020.gpkg", layer="class_summary")
    second = gpd.read_file(run / "results/2021/sinkmap_2021.gpkg", layer="class_summary")
    assert list(first.columns) == list(second.columns)  # one schema, whatever the year
    second = second.set_index("class_code")
    assert first["net_flux_mgco2e_per_yr"].isna().all()
    sink = pd.read_csv(run / "results/sink/2020-2021/class_summary.csv").set_index("class_code")
    for code in sink.index:
        assert second.loc[code, "net_flux_mgco2e_per_yr"] == pytest.approx(
            sink.loc[code, "net_flux_mgco2e_per_yr"]
        )
        assert second.loc[code, "interval"] == "2020-2021"
    tiles = gpd.read_file(run / "results/2021/sinkmap_2021.gpkg", layer="tiles")
    grid = json.loads((run / "results/grid.json").read_text())
    n_tiles = -(-grid["width"] // 256) * -(-grid["height"] // 256)
    assert len(tiles) == n_tiles
    aoi = gpd.read_file(run / "results/2021/sinkmap_2021.gpkg", layer="aoi")
    assert aoi.crs.to_epsg() == 32649
    meta = pyogrio.read_info(run / "results/2021/sinkmap_2021.gpkg", layer="class_summary")[
        "layer_metadata"
    ]
    assert meta["SYNTHETIC"] == "yes" and "Mg C" in meta["UNITS"]


def test_rerun_does_nothing_and_new_year_runs_only_its_jobs(run: Path) -> None:
    proc = snakemake(run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr

    before = {
        p: p.stat().st_mtime_ns
        for p in (run / "results").rglob("*")
        if p.is_file() and "2022" not in str(p) and "stac" not in p.parts
    }
    account_before = pd.read_csv(run / "results/carbon_account.csv")
    write_config(run, [2020, 2021, 2022])
    proc = snakemake(run, "-n")
    counts = _job_counts(proc.stdout + proc.stderr)
    # one new year: its jobs are one chain, so its alignment and heavy jobs take both cores
    heavy = ("align", "filter_land_cover", "stocks", "uncertainty", "interval")
    threads = _job_threads(proc.stdout)
    assert {rule: threads[rule] for rule in (*heavy, "gain_loss_uncertainty", "fetch")} == {
        **{rule: {2} for rule in (*heavy, "gain_loss_uncertainty")},
        "fetch": {1},
    }
    # 2022: fetch for both roles and one align job for both, the change filtering of its land
    # cover (reading the 2021 filtered map, not redoing it), one stocks job (layers and tallies)
    # and its Monte Carlo, the 2021-2022 interval (both methods and its tallies) and its
    # gain-loss Monte Carlo, the 2022 GeoPackage, the quick looks of 2022 and of the interval,
    # the account table, which gains the new rows, its JSON twin, the report (embedding the
    # earlier years' quick looks as they are), the QGIS project and the STAC catalog.
    # Nothing for 2020 or 2021.
    assert counts == {
        "fetch": 2,
        "align": 1,
        "filter_land_cover": 1,
        "stocks": 1,
        "uncertainty": 1,
        "interval": 1,
        "gain_loss_uncertainty": 1,
        "geopackage": 1,
        "quicklooks": 1,
        "flux_quicklook": 1,
        "account": 1,
        "account_json": 1,
        "stac": 1,
        "report": 1,
        "qgis_project": 1,
        "all": 1,
    }
    snakemake(run)
    # the earlier rows are kept as they were, computed_at included; only 2022 rows are new
    account_after = pd.read_csv(run / "results/carbon_account.csv")
    kept = account_after[account_after["year"] < 2022].drop(columns="sinkmap_version")
    pd.testing.assert_frame_equal(
        kept.reset_index(drop=True), account_before.drop(columns="sinkmap_version")
    )
    assert set(account_after["year"]) == {2020, 2021, 2022}
    # any two mapped years on request: the 2020-2022 stock difference needs only its own job
    counts = _job_counts(snakemake(run, "-n", "results/sink/2020-2022/net_flux_co2e.tif").stdout)
    assert counts == {"interval": 1}
    assert (run / "results/sink/2021-2022/net_flux_co2e.tif").exists()
    # two new years: one thread per heavy job (of the 2 cores), so that two run side by side
    write_config(run, [2020, 2021, 2022, 2023, 2024])
    threads = _job_threads(snakemake(run, "-n").stdout)
    assert {rule: threads[rule] for rule in heavy} == {rule: {1} for rule in heavy}
    write_config(run, [2020, 2021, 2022])
    # only the run-wide aggregates (account table and its JSON twin, the variance shares, the
    # report, the QGIS project; the STAC catalog, left out above) are rewritten
    aggregates = {
        "uncertainty_sensitivity.csv",
        "carbon_account.csv",
        "carbon_account.parquet",
        "carbon_account.json",
        "report.html",
        "sinkmap.qgz",
    }
    changed = [
        p for p, t in before.items() if p.stat().st_mtime_ns != t and p.name not in aggregates
    ]
    assert changed == []
    write_config(run, [2020, 2021])


def test_a_method_parameter_change_reruns_only_what_it_affects(run: Path, tmp_path: Path) -> None:
    """A new root-to-shoot ratio changes the interval's gain-loss layers and what is made from them
    only: no stocks, Monte Carlo or alignment."""
    config = run / "config.yaml"
    original = config.read_text(encoding="utf-8")
    try:
        write_config(
            run,
            [2020, 2021],
            account=account_settings(run, root_shoot=0.24),
        )
        counts = _job_counts(snakemake(run, "-n").stdout)
        assert counts == {
            "interval": 1,
            "gain_loss_uncertainty": 1,  # draws R
            "geopackage": 1,  # carries the interval's IPCC summary
            "flux_quicklook": 1,  # the interval's job writes its net flux layer again
            "account": 1,
            "account_json": 1,
            "stac": 1,
            "report": 1,
            "qgis_project": 1,
            "all": 1,
        }
    finally:
        config.write_text(original, encoding="utf-8")


def test_unknown_class_fails_cleanly(run: Path, tmp_path: Path) -> None:
    table = pd.read_csv(TABLE)
    partial = tmp_path / "no_cropland.csv"
    table[table["lucode"] != 40].to_csv(partial, index=False)
    workdir = tmp_path / "fail"
    workdir.mkdir()
    for name in ("aoi.geojson", "zones.geojson"):
        (workdir / name).write_bytes((run / name).read_bytes())
    write_config(workdir, [2020], table=partial)
    proc = snakemake(workdir, check=False)
    assert proc.returncode != 0
    # the first job to meet the code (the stocks or the Monte Carlo, which both run the model)
    # stops the run and its log names the code, the table and the fix
    logs = [p.read_text() for p in (workdir / "logs").rglob("*.log")]
    assert any(
        "land-cover code(s) 40" in log and str(partial) in log and "Add a row" in log
        for log in logs
    )
    # the console shows sinkmap's message, not a Python traceback after it (issue 16)
    out = proc.stdout + proc.stderr
    assert "land-cover code(s) 40" in out and "Traceback (most recent call last)" not in out
    year_dir = workdir / "results/2020"
    assert not list(year_dir.glob("carbon_stock_*.tif"))
    assert not [p for p in year_dir.iterdir() if p.name.startswith(".")]


def test_bad_config_is_refused_before_any_job(tmp_path: Path) -> None:
    (tmp_path / "aoi.geojson").write_text("{}")
    write_config(tmp_path, [2020], grid={"crs": "EPSG:4326", "resolution": 10, "chunk": 256})
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "grid.crs" in out and "EPSG:32649" in out
    assert not (tmp_path / "results").exists()


def test_model_from_an_entry_point_runs_the_workflow(run: Path, tmp_path: Path) -> None:
    """Install the docs' example model as a distribution with a sinkmap.models entry point, swap to
    it: the config is checked with it (its Monte Carlo parameter too), and the jobs that load it
    run: the year's stocks, its Monte Carlo and its GeoPackage (which describes the model)."""
    docs = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    code = docs.split("This is a complete model:\n\n```python\n", 1)[1].split("```", 1)[0]
    site = tmp_path / "site"
    (site / "share_models-0.1.dist-info").mkdir(parents=True)
    (site / "share_models.py").write_text(code, encoding="utf-8")
    (site / "share_models-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: share-models\nVersion: 0.1\n"
    )
    (site / "share_models-0.1.dist-info" / "entry_points.txt").write_text(
        "[sinkmap.models]\nbiomass_share = share_models:BiomassShare\n"
    )
    workdir = tmp_path / "plugin"
    workdir.mkdir()
    for name in ("aoi.geojson", "zones.geojson"):
        (workdir / name).write_bytes((run / name).read_bytes())
    write_config(
        workdir,
        [2020],
        model={"name": "biomass_share", "params": {"share": 0.5}},
        account=account_settings(workdir, parameters={"share": 0.1}),
    )
    targets = ("carbon_stock_above.tif", "carbon_stock_soil.tif", "monte_carlo.csv")
    targets += ("sinkmap_2020.gpkg",)
    snakemake(workdir, *(f"results/2020/{t}" for t in targets), env={"PYTHONPATH": str(site)})

    agb, _, _ = _read(workdir / "results/2020/biomass.tif")
    above, tags, _ = _read(workdir / "results/2020/carbon_stock_above.tif")
    soil, _, _ = _read(workdir / "results/2020/carbon_stock_soil.tif")
    inside = np.isfinite(agb)
    assert inside.sum() > 10_000
    np.testing.assert_allclose(above[inside], 0.5 * agb[inside], rtol=1e-6)  # above = share x AGB
    np.testing.assert_allclose(soil[inside], 50.0)
    assert tags["MODEL"] == "biomass_share" and json.loads(tags["MODEL_PARAMS"]) == {
        "share": 0.5,
        "soil": 50.0,
    }
    # the Monte Carlo drew the plugin's own parameter: the AOI's above-ground stock moves from
    # draw to draw (above = share x AGB), its soil (50, no parameter) does not
    mc = pd.read_csv(workdir / "results/2020/monte_carlo.csv")
    aoi = mc[mc["zone_id"] == "aoi"]
    assert aoi["draw"].nunique() == 20
    assert aoi[aoi["pool"] == "above"]["stock_mgc"].std() > 0
    assert aoi[aoi["pool"] == "soil"]["stock_mgc"].nunique() == 1
