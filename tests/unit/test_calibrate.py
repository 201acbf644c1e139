"""sinkmap.calibrate: plot tables, sampling, the log-log fit, cross-validation, bad rows, the file."""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pytest
import yaml
from pyproj import Transformer

from sinkmap.calibrate import (
    calibrate,
    cross_validate,
    fit_form,
    folds,
    read_plots,
)
from sinkmap.cli import main
from sinkmap.errors import InputDataError, SourceError
from sinkmap.models import get_model

from ._helpers import POOL_CSV, UTM_LEFT, UTM_TOP, write_tif

RES = 10.0
SIZE = 100  # pixels per side of the synthetic canopy-height raster
A_TRUE, B_TRUE, SIGMA = 0.5, 1.8, 0.2  # AGB = a H^b; ln-scale noise sd
N_PLOTS = 120
TO_LONLAT = Transformer.from_crs("EPSG:32649", "EPSG:4326", always_xy=True)


def _centre(row: int, col: int) -> tuple[float, float]:
    return UTM_LEFT + (col + 0.5) * RES, UTM_TOP - (row + 0.5) * RES


@pytest.fixture(scope="module")
def chm(tmp_path_factory):
    """A canopy-height GeoTIFF (m, EPSG:32649, nodata -9999): uniform 5-40 m, seeded; pixel (0, 0)
    is nodata and pixel (0, 1) has height 0."""
    rng = np.random.default_rng(42)
    h = rng.uniform(5.0, 40.0, (SIZE, SIZE)).astype("float32")
    h[0, 0] = -9999.0
    h[0, 1] = 0.0
    path = tmp_path_factory.mktemp("chm") / "chm.tif"
    write_tif(path, h, res=RES, left=UTM_LEFT, top=UTM_TOP, nodata=-9999.0)
    return path, h


@pytest.fixture(scope="module")
def synthetic(chm, tmp_path_factory):
    """N_PLOTS plot-level rows generated from the true model with mean-one lognormal noise.

    AGB_i = a H_i^b exp(eps_i), eps_i ~ N(-sigma^2/2, sigma^2), so E[AGB | H] = a H^b exactly and
    the bias-corrected a should recover A_TRUE. Half the plots are given as lon/lat (reprojected
    by the calibration), half as UTM x/y with a crs column.
    """
    path, h = chm
    rng = np.random.default_rng(7)
    cells = rng.choice(np.arange(2, SIZE * SIZE), size=N_PLOTS, replace=False)  # skip (0,0), (0,1)
    rows, cols = np.divmod(cells, SIZE)
    height = h[rows, cols].astype(np.float64)
    eps = rng.normal(-(SIGMA**2) / 2, SIGMA, N_PLOTS)
    agb = A_TRUE * height**B_TRUE * np.exp(eps)
    lines = ["plot_id,lon,lat,x,y,crs,plot_area_ha,agb_mg_ha"]
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        x, y = _centre(r, c)
        if i % 2:
            lon, lat = TO_LONLAT.transform(x, y)
            lines.append(f"P{i},{lon:.9f},{lat:.9f},,,,0.1,{agb[i]:.6f}")
        else:
            lines.append(f"P{i},,,{x:.3f},{y:.3f},EPSG:32649,0.1,{agb[i]:.6f}")
    csv = tmp_path_factory.mktemp("plots") / "plots.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv, height, agb, eps


def test_calibration_recovers_known_coefficients(chm, synthetic):
    csv, height, agb, eps = synthetic
    res = calibrate(csv, chm[0], k=5, seed=0)
    assert res.bad_rows == [] and res.fit.n == N_PLOTS
    np.testing.assert_allclose(
        res.plots["predictor"], height, rtol=1e-6
    )  # sampled the right pixels

    # Tolerances from the noise: OLS standard errors of b and ln a for this design,
    # se(b) = sigma / sqrt(Sxx), se(ln a) = sigma sqrt(1/n + mean(ln H)^2 / Sxx), here 0.034 and
    # 0.10; 4 se bounds a seeded draw with probability 0.99994.
    x = np.log(height)
    sxx = np.sum((x - x.mean()) ** 2)
    se_b = SIGMA / math.sqrt(sxx)
    se_ln_a = SIGMA * math.sqrt(1 / N_PLOTS + x.mean() ** 2 / sxx)
    assert abs(res.b - B_TRUE) < 4 * se_b
    assert abs(math.log(res.a) - math.log(A_TRUE)) < 4 * se_ln_a
    # the reported standard errors and residual error agree with the design (sigma within 15 %)
    assert res.fit.se_b == pytest.approx(se_b, rel=0.15)
    assert res.fit.sigma == pytest.approx(SIGMA, rel=0.15)
    # Baskerville: a = exp(ln a) * exp(sigma_hat^2 / 2), reported
    assert res.fit.bias_correction == pytest.approx(math.exp(res.fit.sigma**2 / 2))
    assert res.a == pytest.approx(res.fit.a_uncorrected * res.fit.bias_correction)


def test_cross_validation_matches_the_noise(chm, synthetic):
    csv, height, agb, eps = synthetic
    res = calibrate(csv, chm[0], k=5, seed=0)
    cv = res.cv
    assert cv.k == 5 and all(np.isfinite([cv.rmse, cv.bias, cv.r2, cv.rmse_fit_scale]))
    # On the log scale the held-out error is the noise itself: sd of eps plus a little
    # estimation error (factor ~ sqrt(1 + 2/96) for 2 coefficients fitted on 96 plots).
    assert cv.rmse_fit_scale == pytest.approx(np.std(eps), rel=0.05)
    # On the AGB scale: the RMSE of the true mean model on these very data (the realised noise)
    true_rmse = math.sqrt(np.mean((agb - A_TRUE * height**B_TRUE) ** 2))
    assert cv.rmse == pytest.approx(true_rmse, rel=0.10)
    # and its expectation sqrt(mean(mu^2 (exp(sigma^2) - 1))); the sample RMSE of this design has
    # a relative sd of 0.11 (2,000 simulated draws), so 3 sd = 0.33
    mu = A_TRUE * height**B_TRUE
    assert cv.rmse == pytest.approx(math.sqrt(np.mean(mu**2 * math.expm1(SIGMA**2))), rel=0.33)
    assert abs(cv.bias) < 3 * cv.rmse / math.sqrt(N_PLOTS)  # unbiased: within 3 standard errors
    assert 0.8 < cv.r2 < 1.0
    # seeded folds: the same seed gives the same folds and metrics, another seed others
    again = calibrate(csv, chm[0], k=5, seed=0).cv
    assert again.rmse == cv.rmse and np.array_equal(again.fold, cv.fold)
    assert not np.array_equal(calibrate(csv, chm[0], k=5, seed=1).cv.fold, cv.fold)


def test_parameter_file_and_model_use_it(chm, synthetic, tmp_path):
    csv, *_ = synthetic
    out = tmp_path / "params.yaml"
    res = calibrate(csv, chm[0], out=out)
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["model"] == "height_allometry" and doc["form"] == "power"
    assert doc["a"] == pytest.approx(res.a, rel=1e-5) and doc["b"] == pytest.approx(res.b, rel=1e-5)
    assert doc["fit"]["bias_correction"]["applied_to_a"] is True
    assert "Baskerville" in doc["fit"]["bias_correction"]["method"]
    prov = doc["provenance"]
    assert prov["plots_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert prov["plots_used"] == N_PLOTS and prov["data_rows"] == N_PLOTS
    assert prov["bad_rows"] == []
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"(19|20)\d\d-\d\d-\d\d|date|time", text)  # date-free
    assert doc["equation"] == "AGB = a * H^b"
    assert doc["fit"]["method"] == "ordinary least squares of ln AGB on ln H"
    # the same inputs give the same file, byte for byte (no date)
    first = out.read_bytes()
    calibrate(csv, chm[0], out=out)
    assert out.read_bytes() == first

    model = get_model(
        "height_allometry", {"soil_table": str(POOL_CSV), "coefficients_file": str(out)}
    )
    pools = model.pools(
        {"canopy_height": np.array([[20.0]]), "land_cover": np.array([[10]], np.uint8)}
    )
    assert pools["above"][0, 0] == pytest.approx(doc["a"] * 20 ** doc["b"] * 0.47, rel=1e-6)
    assert model.describe()["coefficients"]["a"] == doc["a"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_rows_are_reported_with_line_numbers(chm, tmp_path, caplog):
    x0, y0 = _centre(50, 50)
    lon0, lat0 = TO_LONLAT.transform(*_centre(60, 10))
    text = "\n".join(
        [
            "plot_id,lon,lat,x,y,crs,plot_area_ha,agb_mg_ha",  # line 1
            f"G1,,,{x0},{y0},EPSG:32649,0.1,150",  # 2 good
            f"B1,,,{x0},{y0},EPSG:32649,0.1,",  # 3 agb missing
            f"B2,,,{UTM_LEFT - 500},{y0},EPSG:32649,0.1,80",  # 4 outside the raster
            f"B3,,,{_centre(0, 0)[0]},{_centre(0, 0)[1]},EPSG:32649,0.1,80",  # 5 nodata pixel
            "",  # 6 blank line: skipped, but counted
            f"B4,{lat0},{lon0},,,,0.1,80",  # 7 lon/lat swapped
            f"G2,{lon0},{lat0},,,,0.1,90",  # 8 good
            f"B5,,,{_centre(0, 1)[0]},{_centre(0, 1)[1]},EPSG:32649,0.1,80",  # 9 height 0
            f"G3,,,{_centre(20, 70)[0]},{_centre(20, 70)[1]},EPSG:32649,0.1,60",  # 10 good
            f"G4,,,{_centre(80, 30)[0]},{_centre(80, 30)[1]},EPSG:32649,0.1,120",  # 11 good
            f"B6,,,{x0},{y0},,0.1,80",  # 12 x/y without crs
            f"B7,,,{x0},{y0},EPSG:32649,-1,abc",  # 13 two problems
            "B8,1,2",  # 14 wrong number of fields
        ]
    )
    csv = _write(tmp_path, "plots.csv", text + "\n")
    with caplog.at_level("WARNING", logger="sinkmap.calibrate"):
        res = calibrate(csv, chm[0], k=4)
    got = {r.lines: (r.plot_id, r.reason) for r in res.bad_rows}
    assert sorted(got) == [(3,), (4,), (5,), (7,), (9,), (12,), (13,), (14,)]
    assert got[(3,)] == ("B1", "agb_mg_ha is missing")
    assert "outside the predictor raster" in got[(4,)][1]
    assert "no data at the plot centre" in got[(5,)][1]
    assert "outside [-90, 90]; are lon and lat swapped?" in got[(7,)][1]
    assert "canopy height 0 m" in got[(9,)][1]
    assert "without a crs" in got[(12,)][1]
    assert (
        "plot_area_ha must be > 0" in got[(13,)][1] and "agb_mg_ha is not a number" in got[(13,)][1]
    )
    assert "has 3 fields but the header has 8" in got[(14,)][1]
    assert res.fit.n == 4 and sorted(res.plots["plot_id"]) == ["G1", "G2", "G3", "G4"]
    assert res.bad_lines == [3, 4, 5, 7, 9, 12, 13, 14]
    # every bad row is in the log, with its line
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for line in res.bad_lines:
        assert re.search(rf"\bline {line}[ :]", logged)
    assert "line 3 (plot B1): agb_mg_ha is missing" in logged
    assert [b["lines"] for b in res.parameters()["provenance"]["bad_rows"]] == [
        [n] for n in res.bad_lines
    ]


def test_outside_the_aoi_is_reported(chm, tmp_path):
    from shapely.geometry import box

    from sinkmap.aoi import AOI

    lines = ["plot_id,x,y,crs,plot_area_ha,agb_mg_ha"]
    for i, (r, c) in enumerate([(10, 10), (20, 40), (30, 20), (40, 30), (90, 90)]):
        x, y = _centre(r, c)
        lines.append(f"P{i},{x},{y},EPSG:32649,0.1,{50 + 20 * i}")
    csv = _write(tmp_path, "plots.csv", "\n".join(lines) + "\n")
    # the AOI covers the upper-left 600 m x 600 m: the plot on line 6 (row 90, col 90) is outside
    aoi = AOI(box(UTM_LEFT, UTM_TOP - 600, UTM_LEFT + 600, UTM_TOP), "EPSG:32649", "test")
    res = calibrate(csv, chm[0], aoi=aoi, k=4)
    assert [(r.lines, r.reason) for r in res.bad_rows] == [
        ((6,), "the plot centre is outside the AOI; check its coordinates")
    ]


def test_fewer_than_three_good_plots_is_refused(chm, tmp_path):
    x, y = _centre(5, 5)
    text = (
        "plot_id,x,y,crs,plot_area_ha,agb_mg_ha\n"
        f"P1,{x},{y},EPSG:32649,0.1,100\n"
        f"P2,{x},{y},EPSG:32649,0.1,\n"
        f"P3,{UTM_LEFT - 1e4},{y},EPSG:32649,0.1,100\n"
        f"P4,{x + 10},{y},EPSG:32649,0.1,90\n"
    )
    csv = _write(tmp_path, "few.csv", text)
    with pytest.raises(InputDataError) as exc:
        calibrate(csv, chm[0])
    msg = str(exc.value)
    assert "only 2 usable plot(s)" in msg and "at least 3 are needed" in msg
    assert "line 3 (plot P2): agb_mg_ha is missing" in msg
    assert "line 4 (plot P3): the plot centre is outside the predictor raster" in msg


def test_missing_inputs_and_bad_layouts(chm, tmp_path):
    with pytest.raises(SourceError, match=r"plot table .*none\.csv does not exist"):
        calibrate(tmp_path / "none.csv", chm[0])
    csv = _write(tmp_path, "p.csv", "plot_id,x,y,crs,agb_mg_ha\nP1,1,2,EPSG:32649,3\n")
    with pytest.raises(SourceError, match=r"predictor raster .*chm\.tif does not exist"):
        calibrate(csv, tmp_path / "chm.tif")
    odd = _write(tmp_path, "odd.csv", "plot_id,lon,lat,biomass\nP1,109.6,18.6,100\n")
    with pytest.raises(InputDataError, match=r"neither a dbh_cm column .* nor an agb_mg_ha"):
        read_plots(odd)
    trees = _write(tmp_path, "t.csv", "plot_id,dbh_cm,lon,lat\nP1,30,109.6,18.6\n")
    with pytest.raises(
        InputDataError, match=r"lacks column\(s\) \['wood_density', 'plot_area_ha'\]"
    ):
        read_plots(trees)
    with pytest.raises(InputDataError, match=r"model 'spectral' has no form 'cubic'"):
        calibrate(csv, chm[0], model="spectral", form="cubic")


# -- tree lists ----------------------------------------------------------------------------------
def test_tree_lists_use_chave_eq4_and_report_bad_trees(chm, tmp_path):
    path, h = chm
    (xa, ya), (xb, yb), (xc, yc), (xd, yd) = (
        _centre(10, 10),
        _centre(30, 60),
        _centre(70, 20),
        _centre(90, 80),
    )
    text = "\n".join(
        [
            "plot_id,x,y,crs,plot_area_ha,dbh_cm,height_m,wood_density",  # 1
            f"T1,{xa},{ya},EPSG:32649,0.04,30,25,0.6",  # 2
            f"T1,{xa},{ya},EPSG:32649,0.04,20,18,0.5",  # 3
            f"T2,{xb},{yb},EPSG:32649,0.04,45,30,0.55",  # 4
            f"T2,{xb},{yb},EPSG:32649,0.04,,22,0.6",  # 5 dbh missing -> T2 excluded
            f"T2,{xb},{yb},EPSG:32649,0.04,25,20,0.6",  # 6
            f"T3,{xc},{yc},EPSG:32649,0.04,35,28,0.7",  # 7
            f"T3,{xc},{yc},EPSG:32649,0.04,12,10,0.45",  # 8
            f"T4,{xd},{yd},EPSG:32649,0.04,50,35,0.65",  # 9
            f"T5,{xd},{yd},EPSG:32649,0.04,3000,20,650",  # 10 mm and kg/m3
            f"T6,{xd},{yd},EPSG:32649,0.04,40,,0.6",  # 11 no height, no E
            f"T7,{xa},{ya},EPSG:32649,0.04,30,25,0.6",  # 12
            f"T7,{xb},{yb},EPSG:32649,0.04,30,25,0.6",  # 13 two centres for one plot
        ]
    )
    csv = _write(tmp_path, "trees.csv", text + "\n")
    res = calibrate(csv, path, k=3)
    # T1 by hand, Chave et al. 2014 Eq. 4, AGB = 0.0673 (rho D^2 H)^0.976:
    #   tree 1: rho D^2 H = 0.6 x 30^2 x 25 = 13500 -> 0.0673 x e^(0.976 x 9.51044) = 723.14 kg
    #   tree 2: rho D^2 H = 0.5 x 20^2 x 18 = 3600  -> 0.0673 x e^(0.976 x 8.18869) = 199.05 kg
    #   plot: (723.14 + 199.05) kg / 1000 / 0.04 ha = 23.055 Mg/ha
    t1 = res.plots.set_index("plot_id").loc["T1"]
    assert t1["agb_mg_ha"] == pytest.approx(23.055, abs=5e-4)
    assert t1["predictor"] == pytest.approx(float(h[10, 10]))
    assert t1["lines"] == (2, 3)
    assert sorted(res.plots["plot_id"]) == ["T1", "T3", "T4"]
    got = {r.lines: r.reason for r in res.bad_rows}
    assert got[(5,)] == "dbh_cm is missing"
    assert got[(4, 6)].startswith("plot excluded: its tree(s) on line 5 are bad")
    assert "dbh_cm 3000 exceeds 500 cm; is it in mm?" in got[(10,)]
    assert "wood_density 650 exceeds 1.5 g/cm³" in got[(10,)]
    assert "height_m is missing and no E is given" in got[(11,)]
    assert got[(12, 13)].startswith("coordinates differ between the rows of plot T7")
    # every data line is either in the fit or reported, exactly once
    used = [n for lines in res.plots["lines"] for n in lines]
    assert sorted(used + res.bad_lines) == list(range(2, 14))
    assert res.parameters()["provenance"]["plots_format"] == "trees"


def test_tree_without_height_uses_eq6a_with_e(chm, tmp_path):
    from sinkmap.allometry import chave2014, chave2014_height

    rows = ["plot_id,x,y,crs,plot_area_ha,dbh_cm,height_m,wood_density,e"]
    for i, (r, c) in enumerate([(10, 10), (30, 60), (70, 20)]):
        x, y = _centre(r, c)
        rows.append(f"Q{i},{x},{y},EPSG:32649,0.1,30,,0.6,{'' if i else 0.2}")
        rows.append(f"Q{i},{x},{y},EPSG:32649,0.1,20,15,0.5,")
    csv = _write(tmp_path, "e.csv", "\n".join(rows) + "\n")
    res = calibrate(csv, chm[0], e=0.1, k=3)
    agb = res.plots.set_index("plot_id")["agb_mg_ha"]
    # Q0 takes its E (0.2) from the e column, the others the e argument (0.1); the second tree has
    # its height measured. Eq. 6a: ln H = 0.893 - E + 0.760 ln D - 0.0340 (ln D)^2, x exp(0.243^2/2)
    h0 = math.exp(0.893 - 0.2 + 0.760 * math.log(30) - 0.0340 * math.log(30) ** 2 + 0.243**2 / 2)
    assert float(chave2014_height(30, 0.2)) == pytest.approx(h0)
    second = float(chave2014(20, 15, 0.5))
    assert agb["Q0"] == pytest.approx((float(chave2014(30, h0, 0.6)) + second) / 1000 / 0.1)
    h1 = float(chave2014_height(30, 0.1))
    assert agb["Q1"] == pytest.approx((float(chave2014(30, h1, 0.6)) + second) / 1000 / 0.1)
    assert res.parameters()["provenance"]["e"] == 0.1


# -- the fit and the folds on their own -----------------------------------------------------------
def test_fit_is_exact_on_noise_free_data():
    h = np.array([5.0, 10.0, 20.0, 30.0])
    f = fit_form(h, 0.5 * h**1.8, "power")
    assert f.b == pytest.approx(1.8) and f.a == pytest.approx(0.5)
    assert f.sigma == pytest.approx(0.0, abs=1e-12) and f.bias_correction == pytest.approx(1.0)
    v = np.array([0.2, 0.4, 0.6, 0.8])
    f = fit_form(v, 10 * np.exp(3 * v), "exponential")
    assert (f.a, f.b) == (pytest.approx(10), pytest.approx(3))
    f = fit_form(v, -20 + 300 * v, "linear")
    assert (f.a, f.b) == (pytest.approx(-20), pytest.approx(300)) and f.bias_correction == 1.0
    with pytest.raises(InputDataError, match=r"same predictor value \(7\)"):
        fit_form(np.array([7.0, 7.0, 7.0]), np.array([1.0, 2.0, 3.0]), "power")


def test_bias_correction_by_hand():
    # ln AGB residuals +-0.1 around ln a + b ln H: sigma^2 = SSR / (n - 2) = 4 x 0.01 / 2 = 0.02,
    # so the Baskerville factor is exp(0.01) = 1.01005
    h = np.array([5.0, 10.0, 20.0, 40.0])
    e = np.array([0.1, -0.1, -0.1, 0.1])
    f = fit_form(h, 2.0 * h**1.5 * np.exp(e), "power")
    # e is orthogonal to 1 but not to ln H; take the fitted residuals instead
    x, y = np.log(h), np.log(2.0 * h**1.5 * np.exp(e))
    b, c = np.polyfit(x, y, 1)
    s2 = np.sum((y - c - b * x) ** 2) / 2
    assert (f.b, f.intercept) == (pytest.approx(b), pytest.approx(c))
    assert f.bias_correction == pytest.approx(math.exp(s2 / 2))
    assert f.a == pytest.approx(math.exp(c) * math.exp(s2 / 2))


def test_folds_and_cv_edge_cases():
    f = folds(10, 3, seed=0)
    assert sorted(np.bincount(f).tolist()) == [3, 3, 4]
    assert np.array_equal(f, folds(10, 3, seed=0))
    h = np.array([5.0, 10.0, 20.0])
    cv = cross_validate(h, 0.5 * h**1.8, "power", k=5, seed=0)  # k capped: leave-one-out
    assert cv.k == 3 and cv.rmse == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InputDataError, match=r"leaves only 1 plot to fit; use --k 3"):
        cross_validate(h, 0.5 * h**1.8, "power", k=2, seed=0)
    with pytest.raises(InputDataError, match=r"needs k >= 2"):
        cross_validate(h, h, "power", k=1, seed=0)


def test_spectral_calibration(tmp_path):
    rng = np.random.default_rng(3)
    ndvi = rng.uniform(0.2, 0.9, (40, 40)).astype("float32")
    tif = write_tif(tmp_path / "ndvi.tif", ndvi, res=RES, left=UTM_LEFT, top=UTM_TOP)
    lines = ["plot_id,x,y,crs,agb_mg_ha"]
    for i in range(30):
        r, c = divmod(int(rng.integers(0, 1600)), 40)
        x, y = _centre(r, c)
        lines.append(f"S{i},{x},{y},EPSG:32649,{8 * math.exp(4 * float(ndvi[r, c])):.6f}")
    csv = _write(tmp_path, "s.csv", "\n".join(lines) + "\n")
    out = tmp_path / "spectral.yaml"
    res = calibrate(csv, tif, model="spectral", out=out)
    assert res.form == "exponential"
    assert (res.a, res.b) == (pytest.approx(8, rel=1e-4), pytest.approx(4, rel=1e-4))
    model = get_model("spectral", {"soil_table": str(POOL_CSV), "coefficients_file": str(out)})
    agb = model.agb(np.array([0.5]), np.array([10]))
    assert agb[0] == pytest.approx(8 * math.exp(2), rel=1e-4)


# -- command line --------------------------------------------------------------------------------
def test_cli_prints_json_and_writes_the_file(chm, synthetic, tmp_path, capsys):
    out = tmp_path / "p.yaml"
    argv = ["calibrate", str(synthetic[0]), "--predictor", str(chm[0]), "--out", str(out)]
    assert main([*argv, "--k", "4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "height_allometry" and summary["n_plots"] == N_PLOTS
    assert summary["cross_validation"]["k"] == 4 and summary["out"] == str(out)
    assert summary["a"] == yaml.safe_load(out.read_text())["a"]
