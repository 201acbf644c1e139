"""sinkmap.invest: InVEST-Carbon-compatible `stock` and `change` on tiny projected rasters.

Every expected total is computed by hand: pixel count x table value x pixel area in ha. The table
values are exact in float32, so the totals must match to double precision.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from sinkmap.cli import main
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.invest import change, stock

from ._helpers import UTM_LEFT, UTM_TOP, write_tif

RES = 30.0  # m: a pixel is 900 m2 = 0.09 ha
HA = RES * RES / 10_000
POOLS = ("above", "below", "soil", "dead")
#: code -> (c_above, c_below, c_soil, c_dead) in Mg C/ha, all exact in float32
TABLE = {
    10: (100.5, 20.25, 50.0, 5.125),
    20: (10.0, 5.5, 30.0, 0.0),
    40: (5.0, 0.0, 40.75, 0.0),
}


def _total(code: int) -> float:
    return sum(TABLE[code])


@pytest.fixture(scope="module")
def pools_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("pools") / "pools.csv"
    rows = ["lucode,name,c_above,c_below,c_soil,c_dead"]
    rows += [f"{c},class {c},{a},{b},{s},{d}" for c, (a, b, s, d) in TABLE.items()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _lulc(seed: int, shape=(37, 41)) -> np.ndarray:
    """A uint8 map of codes 10/20/40 with nodata (0) in the first row and a corner block."""
    rng = np.random.default_rng(seed)
    arr = rng.choice(np.array([10, 20, 40], np.uint8), size=shape)
    arr[0, :] = 0
    arr[-5:, -7:] = 0
    return arr


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lulc")
    bas = _lulc(1)
    alt = bas.copy()
    alt[5:20, 3:30] = 40  # conversions to cropland
    alt[25, 10] = 0  # nodata in the alternate only
    alt[0, 3] = 10  # valid in the alternate only
    kw = {"res": RES, "left": UTM_LEFT, "top": UTM_TOP, "nodata": 0}
    return {
        "bas": bas,
        "alt": alt,
        "bas_path": write_tif(folder / "bas.tif", bas, **kw),
        "alt_path": write_tif(folder / "alt.tif", alt, **kw),
    }


def _hand_totals(arr: np.ndarray) -> dict[str, float]:
    out = {p: 0.0 for p in (*POOLS, "total")}
    for code, values in TABLE.items():
        n = int((arr == code).sum())
        for pool, v in zip(POOLS, values, strict=True):
            out[pool] += n * v * HA
        out["total"] += n * _total(code) * HA
    return out


@pytest.fixture(scope="module")
def stocked(maps, pools_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("stock")
    # chunk 16 on a 41 x 37 raster: 9 chunks, partial ones at the right and bottom edges
    return out, stock(maps["bas_path"], pools_csv, out, threads=2, chunk=16, cog=True)


@pytest.fixture(scope="module")
def changed(maps, pools_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("change")
    return out, change(
        maps["bas_path"], maps["alt_path"], pools_csv, out, threads=2, chunk=16, cog=True
    )


def test_stock_totals_by_hand(maps, stocked):
    _, summary = stocked
    expected = _hand_totals(maps["bas"])
    assert summary["baseline"]["totals_mg_c"] == pytest.approx(expected, rel=1e-12)
    valid = int((maps["bas"] != 0).sum())
    assert summary["baseline"]["valid_pixels"] == valid
    assert summary["baseline"]["nodata_pixels"] == maps["bas"].size - valid
    assert summary["baseline"]["area_ha"] == pytest.approx(valid * HA)
    assert summary["pixel_area_m2"] == RES * RES
    assert summary["units"] == {"totals": "Mg C", "rasters": "Mg C ha-1"}


def test_stock_writes_invest_names_as_valid_cogs(stocked):
    out, summary = stocked
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [
        "c_storage_bas.tif",
        "intermediate_outputs/c_above_bas.tif",
        "intermediate_outputs/c_below_bas.tif",
        "intermediate_outputs/c_dead_bas.tif",
        "intermediate_outputs/c_soil_bas.tif",
        "summary.json",
    ]
    for name in names[:-1]:
        assert cog_validate(str(out / name), strict=True)[0], name
    assert json.loads((out / "summary.json").read_text()) == summary


def test_plain_geotiff_by_default(maps, pools_csv, tmp_path):
    """Without cog=True the outputs are tiled GeoTIFFs without overviews (like InVEST's), same values."""
    summary = stock(maps["bas_path"], pools_csv, tmp_path, threads=2, chunk=16)
    with rasterio.open(tmp_path / "c_storage_bas.tif") as ds:
        assert ds.overviews(1) == [] and ds.profile["tiled"]
        assert ds.tags()["UNITS"] == "Mg C ha-1"
    as_cog = stock(maps["bas_path"], pools_csv, tmp_path / "c", threads=2, chunk=16, cog=True)
    assert summary["baseline"]["totals_mg_c"] == as_cog["baseline"]["totals_mg_c"]


def test_stock_pixels_units_and_nodata(maps, stocked):
    out, _ = stocked
    bas = maps["bas"]
    with rasterio.open(out / "c_storage_bas.tif") as ds:
        total = ds.read(1)
        tags = ds.tags()
        assert ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
        assert ds.transform.almost_equals(rasterio.open(maps["bas_path"]).transform)
    assert tags["UNITS"] == "Mg C ha-1" and tags["POOL"] == "total"
    assert "per hectare" in tags["INVEST_COMPAT"]
    assert np.isnan(total[bas == 0]).all()
    assert not np.signbit(total[bas == 0]).any()  # the positive NaN, as every sinkmap layer
    for code in TABLE:
        assert (total[bas == code] == np.float32(_total(code))).all()
    with rasterio.open(out / "intermediate_outputs" / "c_soil_bas.tif") as ds:
        soil = ds.read(1)
        assert ds.tags()["UNITS"] == "Mg C ha-1"
    assert (soil[bas == 40] == 40.75).all() and np.isnan(soil[bas == 0]).all()
    # the totals are the sum of the written raster times the pixel area
    assert np.nansum(total, dtype=np.float64) * HA == pytest.approx(
        _hand_totals(bas)["total"], rel=1e-12
    )


def test_change_totals_by_hand(maps, changed):
    _, summary = changed
    bas, alt = maps["bas"], maps["alt"]
    assert summary["baseline"]["totals_mg_c"] == pytest.approx(_hand_totals(bas), rel=1e-12)
    assert summary["alternate"]["totals_mg_c"] == pytest.approx(_hand_totals(alt), rel=1e-12)
    both = (bas != 0) & (alt != 0)
    lut = np.zeros(256)
    for code in TABLE:
        lut[code] = _total(code)
    by_hand = float(((lut[alt] - lut[bas]) * both).sum() * HA)
    assert by_hand < 0  # forest and shrubland converted to cropland: carbon lost
    ch = summary["change"]
    assert ch["totals_mg_c"]["total"] == pytest.approx(by_hand, rel=1e-12)
    assert ch["valid_pixels"] == int(both.sum())
    assert ch["changed_pixels"] == int((both & (alt != bas)).sum())
    assert sum(ch["totals_mg_c"][p] for p in POOLS) == pytest.approx(by_hand, rel=1e-12)
    assert ch["sign"].startswith("alternate minus baseline")
    # not alt total - bas total: those also count pixels valid in one map only
    diff = (
        summary["alternate"]["totals_mg_c"]["total"] - summary["baseline"]["totals_mg_c"]["total"]
    )
    assert diff != pytest.approx(by_hand, rel=1e-9)


def test_change_raster_is_alt_minus_bas(maps, changed):
    out, _ = changed
    bas, alt = maps["bas"], maps["alt"]
    with rasterio.open(out / "c_change_bas_alt.tif") as ds:
        delta = ds.read(1)
        tags = ds.tags()
    assert tags["UNITS"] == "Mg C ha-1" and tags["SIGN"].startswith("alternate minus baseline")
    assert np.isnan(delta[(bas == 0) | (alt == 0)]).all()
    assert np.isnan(delta[25, 10]) and np.isnan(delta[0, 3])  # nodata in one of the two maps
    ok = (bas != 0) & (alt != 0)
    lut = np.zeros(256, np.float32)
    for code in TABLE:
        lut[code] = _total(code)
    np.testing.assert_array_equal(delta[ok], lut[alt][ok] - lut[bas][ok])
    assert delta[10, 5] == lut[40] - lut[bas[10, 5]]
    names = sorted(p.name for p in out.glob("*.tif"))
    assert names == ["c_change_bas_alt.tif", "c_storage_alt.tif", "c_storage_bas.tif"]
    assert len(list((out / "intermediate_outputs").glob("c_*_alt.tif"))) == 4
    for path in out.rglob("*.tif"):
        assert cog_validate(str(path), strict=True)[0], path


def test_change_writes_each_scenarios_pixels_under_its_own_names(maps, changed):
    """Every storage and pool raster of ``change`` holds its own scenario's table values, pixel by
    pixel (the two maps differ in a block of conversions and in two nodata pixels), and its tags
    name that scenario."""
    out, _ = changed
    for scenario, name in (("bas", "baseline"), ("alt", "alternate")):
        codes = maps[scenario]
        for pool, column in (("storage", None), *((p, i) for i, p in enumerate(POOLS))):
            folder = out if pool == "storage" else out / "intermediate_outputs"
            with rasterio.open(folder / f"c_{pool}_{scenario}.tif") as ds:
                values, tags = ds.read(1), ds.tags()
            assert tags["SCENARIO"] == name, (pool, scenario)
            expected = np.full(codes.shape, np.nan, np.float32)
            for code, row in TABLE.items():
                expected[codes == code] = _total(code) if column is None else row[column]
            np.testing.assert_array_equal(values, expected, err_msg=f"c_{pool}_{scenario}")


def test_signed_codes_with_negative_nodata(pools_csv, tmp_path):
    arr = np.array([[10, -9999, 20], [40, 40, -9999]], np.int16)
    path = write_tif(tmp_path / "i16.tif", arr, res=RES, left=UTM_LEFT, top=UTM_TOP, nodata=-9999)
    summary = stock(path, pools_csv, tmp_path / "out", threads=1)
    expected = (_total(10) + _total(20) + 2 * _total(40)) * HA
    assert summary["baseline"]["totals_mg_c"]["total"] == pytest.approx(expected, rel=1e-12)
    assert summary["baseline"]["pixels_by_code"] == {"10": 1, "20": 1, "40": 2}
    assert summary["lulc_nodata"] == -9999


def test_no_nodata_means_every_pixel_counts(pools_csv, tmp_path):
    arr = np.full((3, 4), 20, np.uint8)
    path = write_tif(tmp_path / "all.tif", arr, res=10.0, left=UTM_LEFT, top=UTM_TOP)
    summary = stock(path, pools_csv, tmp_path / "out", threads=1)
    assert summary["baseline"]["totals_mg_c"]["soil"] == pytest.approx(12 * 30.0 * 0.01)
    assert summary["baseline"]["nodata_pixels"] == 0


def test_unknown_code_is_named_and_nothing_is_written(pools_csv, tmp_path):
    arr = np.array([[10, 30], [20, 0]], np.uint8)
    path = write_tif(tmp_path / "lc.tif", arr, res=RES, left=UTM_LEFT, top=UTM_TOP, nodata=0)
    with pytest.raises(UnknownClassError, match=r"code\(s\) 30 occur") as err:
        stock(path, pools_csv, tmp_path / "out", threads=1)
    assert err.value.codes == [30] and str(pools_csv) in str(err.value)
    assert not list((tmp_path / "out").rglob("*.tif*"))
    # a code above every lucode, in a signed raster (the range-checked path)
    arr16 = np.array([[10, 300]], np.int16)
    p16 = write_tif(tmp_path / "lc16.tif", arr16, res=RES, left=UTM_LEFT, top=UTM_TOP)
    with pytest.raises(UnknownClassError, match="300"):
        stock(p16, pools_csv, tmp_path / "out16", threads=1)


def test_sixteen_bit_codes_and_a_nodata_code_that_is_also_a_lucode(pools_csv, tmp_path):
    """uint16 codes index a table of all 65,536 codes; nodata wins over a table row of the same
    code (as in InVEST); a uint16 code above 255 that is not in the table is named."""
    arr = np.array([[10, 20, 40, 40], [20, 20, 10, 40]], np.uint16)
    path = write_tif(tmp_path / "u16.tif", arr, res=RES, left=UTM_LEFT, top=UTM_TOP, nodata=20)
    summary = stock(path, pools_csv, tmp_path / "out", threads=2, chunk=16)
    expected = (2 * _total(10) + 3 * _total(40)) * HA  # the three 20s are nodata
    assert summary["baseline"]["totals_mg_c"]["total"] == pytest.approx(expected, rel=1e-12)
    assert summary["baseline"]["pixels_by_code"] == {"10": 2, "40": 3}
    assert summary["baseline"]["nodata_pixels"] == 3
    with rasterio.open(tmp_path / "out" / "intermediate_outputs" / "c_soil_bas.tif") as ds:
        soil = ds.read(1)
    assert np.isnan(soil[arr == 20]).all()
    assert soil[0, 0] == TABLE[10][2] and soil[1, 3] == TABLE[40][2]
    bad = np.array([[10, 40000], [513, 0]], np.uint16)
    p16 = write_tif(tmp_path / "bad16.tif", bad, res=RES, left=UTM_LEFT, top=UTM_TOP, nodata=0)
    with pytest.raises(UnknownClassError, match=r"code\(s\) 513, 40000 occur"):
        stock(p16, pools_csv, tmp_path / "out_bad", threads=1)
    assert not list((tmp_path / "out_bad").rglob("*.tif*"))


def test_change_of_an_8_bit_and_a_16_bit_signed_raster(pools_csv, tmp_path):
    """A uint8 baseline (codes index the table) against an int16 alternate (codes mapped to
    rows): the change counts pairs of table rows, whichever way each map was indexed."""
    bas = np.array([[10, 10, 20, 0], [40, 20, 10, 40]], np.uint8)
    alt = np.array([[40, 10, -1, 40], [40, 20, 20, -1]], np.int16)
    kw = {"res": RES, "left": UTM_LEFT, "top": UTM_TOP}
    pb = write_tif(tmp_path / "bas.tif", bas, nodata=0, **kw)
    pa = write_tif(tmp_path / "alt.tif", alt, nodata=-1, **kw)
    summary = change(pb, pa, pools_csv, tmp_path / "out", threads=2)
    # pairs valid in both maps: (10->40), (10->10), (40->40), (20->20), (10->20)
    by_hand = (_total(40) - _total(10)) + 0 + 0 + 0 + (_total(20) - _total(10))
    ch = summary["change"]
    assert ch["valid_pixels"] == 5 and ch["changed_pixels"] == 2
    assert ch["totals_mg_c"]["total"] == pytest.approx(by_hand * HA, rel=1e-12)
    soil = (TABLE[40][2] - TABLE[10][2]) + (TABLE[20][2] - TABLE[10][2])
    assert ch["totals_mg_c"]["soil"] == pytest.approx(soil * HA, rel=1e-12)
    assert summary["alternate"]["pixels_by_code"] == {"10": 1, "20": 2, "40": 3}
    with rasterio.open(tmp_path / "out" / "c_change_bas_alt.tif") as ds:
        delta = ds.read(1)
    assert delta[0, 0] == np.float32(_total(40)) - np.float32(_total(10))
    assert np.isnan(delta[0, 2]) and np.isnan(delta[0, 3]) and np.isnan(delta[1, 3])


@pytest.mark.parametrize("shape", [(6, 8), (5, 7), (1, 1)])
def test_eight_bit_histogram_counts_every_pixel_once(shape):
    """The 8-bit histogram counts two pixels at a time: checked against a count of each code by
    comparison, on even and odd pixel counts and on a strided (non-contiguous) chunk."""
    from sinkmap.invest import _histogram

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=shape, dtype=np.uint8)
    for chunk in (codes, codes[:, ::2], codes.T):
        hist = _histogram(chunk, 256)
        assert hist.shape == (256,) and hist.sum() == chunk.size
        for code in np.unique(chunk):
            assert hist[code] == int((chunk == code).sum())


def test_geographic_crs_is_refused(pools_csv, tmp_path):
    arr = np.full((4, 4), 10, np.uint8)
    path = write_tif(tmp_path / "geo.tif", arr, res=0.0001, left=109.6, top=18.7, crs="EPSG:4326")
    with pytest.raises(InputDataError, match="geographic CRS .*projected CRS in metres"):
        stock(path, pools_csv, tmp_path / "out", threads=1)
    assert not (tmp_path / "out").exists()


def test_feet_and_float_rasters_are_refused(pools_csv, tmp_path):
    arr = np.full((4, 4), 10, np.uint8)
    feet = write_tif(tmp_path / "ft.tif", arr, res=30.0, left=6e6, top=2e6, crs="EPSG:2227")
    with pytest.raises(InputDataError, match="not metre"):
        stock(feet, pools_csv, tmp_path / "out", threads=1)
    flt = write_tif(tmp_path / "f.tif", arr.astype("float32"), res=RES, left=UTM_LEFT, top=UTM_TOP)
    with pytest.raises(InputDataError, match="must be integers"):
        stock(flt, pools_csv, tmp_path / "out", threads=1)


def test_change_needs_the_same_pixel_grid(maps, pools_csv, tmp_path):
    shifted = write_tif(
        tmp_path / "shifted.tif", maps["alt"], res=RES, left=UTM_LEFT + RES, top=UTM_TOP, nodata=0
    )
    with pytest.raises(InputDataError, match="not on the pixel grid of the baseline"):
        change(maps["bas_path"], shifted, pools_csv, tmp_path / "out", threads=1)


def test_cli_prints_the_summary(maps, pools_csv, tmp_path, capsys):
    argv = ["stock", "--lulc", str(maps["bas_path"]), "--pools", str(pools_csv)]
    assert main([*argv, "--out", str(tmp_path / "s"), "--threads", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["baseline"]["totals_mg_c"] == pytest.approx(_hand_totals(maps["bas"]))
    argv = ["change", "--lulc-bas", str(maps["bas_path"]), "--lulc-alt", str(maps["alt_path"])]
    argv += ["--pools", str(pools_csv), "--out", str(tmp_path / "c"), "--threads", "1"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["change"]["totals_mg_c"]["total"] < 0
    assert (tmp_path / "c" / "c_change_bas_alt.tif").exists()


def test_the_stock_commands_run_without_dask_pandas_or_pyproj(maps, pools_csv, tmp_path):
    """`sinkmap stock` and `sinkmap change`, run in a fresh interpreter, import neither Dask (nor
    what its array module imports when installed: xarray, SciPy), pandas nor pyproj: 0.4 s of a
    run's start-up (bench/README.md). They read and write tile by tile on threads
    (sinkmap.io.write_tiles), read the pool table with the csv module and check the CRS with
    rasterio's."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sinkmap.cli import main\n"
        f"main(['stock', '--lulc', {str(maps['bas_path'])!r}, '--pools', {str(pools_csv)!r},"
        f" '--out', {str(tmp_path / 's')!r}, '--chunk', '16'])\n"
        f"main(['change', '--lulc-bas', {str(maps['bas_path'])!r}, '--lulc-alt',"
        f" {str(maps['alt_path'])!r}, '--pools', {str(pools_csv)!r},"
        f" '--out', {str(tmp_path / 'c')!r}, '--chunk', '16'])\n"
        "heavy = ('dask', 'xarray', 'scipy', 'pandas', 'pyproj')\n"
        "print('IMPORTED', *[m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "IMPORTED"
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["baseline"]["totals_mg_c"] == pytest.approx(_hand_totals(maps["bas"]), rel=1e-12)


def test_the_crs_is_named_and_a_local_one_is_refused(pools_csv, tmp_path):
    """The summary names the land cover's CRS by its EPSG code and name (from its WKT, as pyproj
    names it); a local (engineering) CRS in metres is refused as not projected."""
    from sinkmap.invest import open_lulc

    arr = np.full((4, 4), 10, np.uint8)
    utm = write_tif(tmp_path / "utm.tif", arr, res=RES, left=UTM_LEFT, top=UTM_TOP)
    assert open_lulc(utm).crs_name == "EPSG:32649 (WGS 84 / UTM zone 49N)"
    local = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    site = write_tif(tmp_path / "site.tif", arr, res=RES, left=0.0, top=400.0, crs=local)
    with pytest.raises(InputDataError, match=r"in the CRS 'site grid' \(not a projected one\)"):
        stock(site, pools_csv, tmp_path / "out", threads=1)
    assert not (tmp_path / "out").exists()
