"""Demo inputs of the carbon state: forest management (FML codes), planting years, ecological zones.

The files are checked for the real products' form (name, CRS, lattice, encoding); the synthetic
landscape behind them against the rules it states (sinkmap/landscape.py docstring): rotations of
30 (rubber), 40 (areca) and 7 (other plantation) years, land cover by age, protected natural forest
with a little clearing and regrowth, biomass curves by age, and the county-scale shares aimed at.
Expected values are written out from those rules, not read from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import shapely

from sinkmap import landscape
from sinkmap.crosswalk import Crosswalk
from sinkmap.errors import SourceError
from sinkmap.landscape import LANDSCAPE_VERSION
from sinkmap.sources import Manifest, fetch, get_adapter, load_registry
from sinkmap.sources.demo import check_landscape_version

from ._helpers import DATASETS_YAML, ROOT

#: The small box around the county town of test_demo.py.
BOX = (109.69, 18.63, 109.71, 18.65)
#: The county's bounds (lon/lat).
COUNTY = (109.4005, 18.3894, 109.8481, 18.8355)
FML_FILE = "FML_v3-2_with-colorbar.tif"
PY_FILE = "sinkmap_Du2022_plantyear_2020.tif"
GEZ_FILE = "gez2010_gez_code_30arcsec.tif"

# The stated rules, written out here.
TREE, SHRUB, GRASS, CROP, BUILT = 10, 20, 30, 40, 50
OTHER, NATURAL, RUBBER, ARECA, OTHER_PL, REGROWTH = 0, 1, 2, 3, 4, 5
ROTATION = {RUBBER: 30, ARECA: 40, OTHER_PL: 7}
#: (last age as grassland, last age as shrubland) after planting.
GRASS_SHRUB_AGES = {RUBBER: (1, 3), ARECA: (1, 3), OTHER_PL: (0, 1)}
#: FML code of each subtype (natural forest and regrowth only where tree cover).
FML = {NATURAL: 11, REGROWTH: 11, RUBBER: 31, OTHER_PL: 32, ARECA: 53}
#: Forest Management Layer code -> forest_type legend code (config/crosswalks/README.md).
FML_TO_FOREST_TYPE = {0: 0, 11: 1, 20: 1, 31: 2, 32: 4, 40: 3, 53: 3}


def rubber_agb(a):
    return 185.0 * (1.0 - np.exp(-0.10 * np.asarray(a, float))) ** 2.5


def areca_agb(a):
    return 33.5 * (1.0 - np.exp(-0.22 * np.asarray(a, float))) ** 7


def other_agb(a):
    return np.minimum(10.0 * np.asarray(a, float), 120.0)


def regrowth_agb(a):
    return np.minimum(3.4 * np.asarray(a, float), 200.0)


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATASETS_YAML)


@pytest.fixture(scope="module")
def fetched(registry, tmp_path_factory):
    """name -> (manifest, folder) of each new demo dataset fetched over BOX in its product year."""
    out = {}
    for name, year in (
        ("demo_forest_management", 2015),
        ("demo_planting_year", 2020),
        ("demo_gez", 2010),
    ):
        folder = tmp_path_factory.mktemp(name)
        out[name] = (fetch(registry[name], year, BOX, folder), folder)
    return out


@pytest.fixture(scope="module")
def county(baoting):
    """Pixel centres every 0.002 degree over the county's bounds and the inside-the-AOI mask."""
    w, s, e, n = COUNTY
    lon = np.arange(w + 0.001, e, 0.002)
    lat = np.arange(n - 0.001, s, -0.002)
    inside = shapely.contains_xy(baoting.geometry, lon[None, :], lat[:, None])
    assert inside.sum() > 20_000
    return lon, lat, inside


@pytest.fixture(scope="module")
def history(county):
    """Class, subtype and planting year of every county sample in 2011-2035."""
    lon, lat, _ = county
    years = list(range(2011, 2036))
    cls, sub, planted = {}, {}, {}
    for year in years:
        cls[year], sub[year] = landscape.landscape(lon, lat, year)
        planted[year] = landscape.planting_year(lon, lat, year).astype(int)
    return years, cls, sub, planted


def _centres(ds):
    t = ds.transform
    lon = t.c + (np.arange(ds.width) + 0.5) * t.a
    lat = t.f + (np.arange(ds.height) + 0.5) * t.e
    return lon, lat


def _on_lattice(value: float, per_degree: int) -> bool:
    return abs(value * per_degree - round(value * per_degree)) < 1e-6


# -- files: names, CRS, lattice, encoding ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "file", "per_degree", "dtype", "year"),
    [
        ("demo_forest_management", FML_FILE, 1008, "uint8", "2015"),
        ("demo_planting_year", PY_FILE, 3600, "uint16", "2020"),
        ("demo_gez", GEZ_FILE, 120, "uint8", "2010"),
    ],
)
def test_file_name_and_form(fetched, name, file, per_degree, dtype, year):
    manifest, folder = fetched[name]
    assert [(f.layer, f.path) for f in manifest.files] == [("map", file)]
    assert manifest.synthetic and manifest.adapter == "demo"
    assert manifest.files[0].url == f"synthetic://{name}/{file}?landscape={LANDSCAPE_VERSION}"
    with rasterio.open(folder / file) as ds:
        assert ds.crs.to_string() == "EPSG:4326"
        assert ds.res == pytest.approx((1 / per_degree, 1 / per_degree), rel=1e-9)
        assert ds.dtypes == (dtype,) and ds.nodata == 0
        tags = ds.tags()
        assert tags["SINKMAP_SYNTHETIC"] == "yes" and tags["YEAR"] == year
        # one global file: its lattice starts at 180 W, 90 N
        assert _on_lattice(ds.transform.c + 180, per_degree)
        assert _on_lattice(90 - ds.transform.f, per_degree)
        w, s, e, n = ds.bounds
        assert w <= BOX[0] and s <= BOX[1] and e >= BOX[2] and n >= BOX[3]
        # cropped to the box plus 8 pixels a side, not the globe
        assert e - w <= BOX[2] - BOX[0] + 18 / per_degree
        assert n - s <= BOX[3] - BOX[1] + 18 / per_degree


def test_dry_run_plan_names_the_files_fetch_writes(registry, fetched):
    for name, (manifest, folder) in fetched.items():
        dataset = registry[name]
        planned = get_adapter(dataset).plan(dataset, manifest.year, BOX, folder, None)
        assert [(p.path, p.url) for p in planned] == [
            (folder / f.path, f.url) for f in manifest.files
        ]


def test_static_products_have_one_year(registry, tmp_path):
    with pytest.raises(SourceError, match=r"has no year 2020; it covers \[2015\]"):
        fetch(registry["demo_forest_management"], 2020, BOX, tmp_path)
    with pytest.raises(SourceError, match=r"has no year 2020; it covers \[2010\]"):
        fetch(registry["demo_gez"], 2020, BOX, tmp_path)


def test_demo_mimics_the_real_forest_management_layer(registry):
    demo, real = registry["demo_forest_management"], registry["lesiv_fml"]
    assert demo.mimics == "lesiv_fml" and demo.synthetic and not real.synthetic
    for field in ("files", "crs", "pixel_size", "dtype", "nodata", "kind", "version", "years"):
        assert getattr(demo, field) == getattr(real, field), field
    for ds in (demo, real):
        assert ds.crosswalk == "config/crosswalks/fml_hainan.csv"
        assert ds.crosswalk_legend == "forest_type"
    assert real.adapter == "archive" and real.options["record"] == 5879022
    assert real.pixel_size == pytest.approx(1 / 1008, rel=1e-12)


def test_file_values_are_the_landscape_at_pixel_centres(fetched):
    manifest, folder = fetched["demo_forest_management"]
    with rasterio.open(folder / FML_FILE) as ds:
        fml = ds.read(1)
        lon, lat = _centres(ds)
    cls, sub = landscape.landscape(lon, lat, 2015)
    stand = landscape.planting_year(lon, lat, 2015)
    expected = np.zeros(cls.shape, dtype=int)
    for code, fml_code in FML.items():
        where = sub == code
        if code in (NATURAL, REGROWTH):
            where &= cls == TREE
        expected[where] = fml_code
    # natural forest logged before 1994 shows signs of management (FML 20)
    expected[(cls == TREE) & (sub == NATURAL) & (stand > 0)] = 20
    np.testing.assert_array_equal(fml, expected)
    assert {0, 11, 31, 53} <= set(np.unique(fml).tolist()) <= {0, 11, 20, 31, 32, 53}

    manifest, folder = fetched["demo_planting_year"]
    with rasterio.open(folder / PY_FILE) as ds:
        years = ds.read(1).astype(int)
        lon, lat = _centres(ds)
    _, sub = landscape.landscape(lon, lat, 2020)
    planted = np.isin(sub, list(ROTATION))
    assert planted.any() and (~planted).any()
    # natural forest: the year it regenerated after logging (1961-1995), or 0 (old growth)
    natural = sub == NATURAL
    assert ((years[natural] == 0) | ((years[natural] > 1960) & (years[natural] <= 1995))).all()
    assert (years[~planted & ~natural] == 0).all()
    rotation = np.select([sub == c for c in ROTATION], list(ROTATION.values()), 1)
    assert ((years[planted] <= 2020) & (years[planted] > 2020 - rotation[planted])).all()
    np.testing.assert_array_equal(years, landscape.planting_year(lon, lat, 2020))

    manifest, folder = fetched["demo_gez"]
    with rasterio.open(folder / GEZ_FILE) as ds:
        gez = ds.read(1)
        lon, lat = _centres(ds)
    np.testing.assert_array_equal(gez, landscape.ecozone(lon, lat))
    assert set(np.unique(gez).tolist()) == {12, 16}  # the box reaches the hills north of town


# -- forest types and the crosswalk -----------------------------------------------------------------------
def test_crosswalk_maps_fml_codes_onto_forest_types():
    xw = Crosswalk.from_csv(ROOT / "config/crosswalks/fml_hainan.csv", target_legend="forest_type")
    assert xw.target_legend == "forest_type"
    assert xw.mapping() == FML_TO_FOREST_TYPE
    assert all(r.ipcc_category == "" for r in xw.rows)


def test_forest_type_follows_the_subtypes(county):
    lon, lat, inside = county
    xw = Crosswalk.from_csv(ROOT / "config/crosswalks/fml_hainan.csv", target_legend="forest_type")
    for year in (2015, 2022):
        cls, sub = landscape.landscape(lon, lat, year)
        fml = landscape.forest_type(lon, lat, year)
        assert not ((cls == TREE) & (sub == OTHER)).any()  # tree cover is forest or plantation
        forest = (cls == TREE) & np.isin(sub, [NATURAL, REGROWTH])
        logged = forest & (sub == NATURAL) & (landscape.planting_year(lon, lat, year) > 0)
        assert (fml[forest & ~logged] == 11).all() and (fml[logged] == 20).all()
        assert logged.any()
        for code, fml_code in ((RUBBER, 31), (ARECA, 53), (OTHER_PL, 32)):
            # the plantation's code all through its rotation, also while grass or shrub
            assert (fml[sub == code] == fml_code).all()
        assert (fml[~forest & ~np.isin(sub, list(ROTATION))] == 0).all()
        # through the crosswalk: the landscape's own subtype, regrowth counted as natural forest
        forest_type = xw.apply(fml)
        expected = np.where(sub == REGROWTH, NATURAL, sub)
        np.testing.assert_array_equal(forest_type[fml > 0], expected[fml > 0])
        assert set(np.unique(forest_type[inside]).tolist()) == {0, 1, 2, 3, 4}


def test_plantation_mask_is_static_but_for_the_growing_town(history):
    _, cls, sub, _ = history
    planted_2015 = np.isin(sub[2015], list(ROTATION))
    planted_2024 = np.isin(sub[2024], list(ROTATION))
    assert (planted_2024 <= planted_2015).all()
    lost = planted_2015 & ~planted_2024
    assert (cls[2024][lost] == BUILT).all()
    both = planted_2015 & planted_2024
    np.testing.assert_array_equal(sub[2015][both], sub[2024][both])


# -- rotations ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [RUBBER, ARECA, OTHER_PL])
def test_rotation_rule(history, code):
    years, cls, sub, planted = history
    rotation = ROTATION[code]
    # pixels of this plantation type in every year of the history
    mask = np.logical_and.reduce([sub[y] == code for y in years])
    assert mask.sum() > 200
    for y in years[:-1]:
        now, nxt = planted[y][mask], planted[y + 1][mask]
        # either the same planting, or replanted the next year
        assert ((nxt == now) | (nxt == y + 1)).all()
        assert ((now <= y) & (now > y - rotation)).all()
    # the phase is fixed: planting years differ by whole rotations
    assert ((planted[years[-1]][mask] - planted[years[0]][mask]) % rotation == 0).all()
    # land cover by age
    grass_until, shrub_until = GRASS_SHRUB_AGES[code]
    for y in years:
        age = y - planted[y][mask]
        expected = np.where(age <= grass_until, GRASS, np.where(age <= shrub_until, SHRUB, TREE))
        np.testing.assert_array_equal(cls[y][mask], expected)


@pytest.mark.parametrize("code", [RUBBER, ARECA, OTHER_PL])
def test_each_block_replanted_once_a_rotation(county, code):
    lon, lat, inside = county
    rotation = ROTATION[code]
    # this type's pixels from 2020 on (the growing town takes some later)
    _, sub = landscape.landscape(lon, lat, 2020)
    _, last = landscape.landscape(lon, lat, 2020 + rotation - 1)
    mask = (sub == code) & (last == code) & inside
    times = np.zeros(mask.sum(), dtype=int)
    shares = []
    for year in range(2020, 2020 + rotation):
        replanted = landscape.planting_year(lon, lat, year)[mask] == year
        times += replanted
        shares.append(replanted.mean())
    assert (times == 1).all()
    # in any one year about 1/R of the type is replanted (blocks of ~200 m; sample ~210 m apart)
    n = mask.sum()
    tolerance = 4 * math.sqrt((1 / rotation) * (1 - 1 / rotation) / n)
    assert abs(shares[0] - 1 / rotation) < tolerance
    assert np.mean(shares) == pytest.approx(1 / rotation, rel=1e-9)


# -- natural forest: protected, a little clearing, regrowth --------------------------------------------------
def test_natural_forest_clearing_and_regrowth(history, county):
    years, cls, sub, _ = history
    _, _, inside = county
    natural_2011 = (sub[2011] == NATURAL) & (cls[2011] == TREE) & inside
    crop = np.stack([cls[y] == CROP for y in years])
    town = np.stack([cls[y] == BUILT for y in years]).any(axis=0)
    cleared = natural_2011 & crop.any(axis=0) & ~town
    assert cleared.any()
    first = np.array(years)[crop.argmax(axis=0)]  # the first cropland year
    assert first[cleared].min() >= 2012 and first[cleared].max() <= 2031
    rows, cols = np.nonzero(cleared & (first <= years[-1] - 5))
    assert rows.size > 20
    for r, c in zip(rows, cols, strict=True):
        y0 = first[r, c]
        seq = [(int(cls[y][r, c]), int(sub[y][r, c])) for y in range(y0 - 1, y0 + 6)]
        assert seq == [
            (TREE, NATURAL),
            (CROP, OTHER),
            (CROP, OTHER),
            (SHRUB, REGROWTH),
            (SHRUB, REGROWTH),
            (TREE, REGROWTH),
            (TREE, REGROWTH),
        ]
    # 0.1 % of natural-forest cells a year, a blob of each: at most ~0.1 % of the area a year
    # (cleared in year y + 1: natural tree cover in y, cropland in y + 1)
    per_year = [
        ((sub[y] == NATURAL) & (cls[y] == TREE) & (cls[y + 1] == CROP) & inside).sum()
        / ((sub[y] == NATURAL) & (cls[y] == TREE) & inside).sum()
        for y in range(2011, 2031)
    ]
    assert 0.0002 < np.mean(per_year) < 0.0015
    # nothing is cleared after 2031
    for y in range(2031, 2035):
        assert not ((sub[y] == NATURAL) & (cls[y] == TREE) & (cls[y + 1] == CROP)).any()


# -- biomass by age ----------------------------------------------------------------------------------------
def test_biomass_curves_by_hand():
    # worked by hand: 185 (1 - e^-1)^2.5 = 185 x 0.63212^2.5; 33.5 (1 - e^-2.2)^7 = 33.5 x 0.88920^7
    assert rubber_agb(10) == pytest.approx(58.77, abs=0.01)
    assert areca_agb(10) == pytest.approx(14.72, abs=0.01)
    assert other_agb([3, 15]).tolist() == [30.0, 120.0]
    assert regrowth_agb([5, 100]).tolist() == [17.0, 200.0]
    assert rubber_agb(0) == 0 and areca_agb(0) == 0


def test_biomass_follows_age(history, county):
    years, cls, sub, planted = history
    lon, lat, _ = county
    year = 2024
    agb, sd = landscape.biomass(lon, lat, year)
    age = year - planted[year]
    for code, curve in ((RUBBER, rubber_agb), (ARECA, areca_agb), (OTHER_PL, other_agb)):
        mask = sub[year] == code
        np.testing.assert_allclose(agb[mask], curve(age[mask]), rtol=1e-5, atol=1e-4)
    # regrowth: years since the first shrubland year (two years after the clearing)
    regrowth = sub[year] == REGROWTH
    assert regrowth.any()
    crop = np.stack([cls[y] == CROP for y in years])
    first_shrub = np.array(years)[crop.argmax(axis=0)] + 2
    np.testing.assert_allclose(agb[regrowth], regrowth_agb(year - first_shrub[regrowth]), rtol=1e-6)
    natural = (sub[year] == NATURAL) & (cls[year] == TREE)
    assert 140 <= agb[natural].min() and agb[natural].max() <= 440
    np.testing.assert_allclose(sd, np.where(agb > 0, 0.3 * agb + 12.0, 0.0), rtol=1e-6)


# -- county-scale shares --------------------------------------------------------------------------------------
def test_county_shares(history, county):
    _, cls, sub, _ = history
    _, _, inside = county
    for year in (2015, 2020, 2024):
        c, s = cls[year][inside], sub[year][inside]
        assert 0.70 <= (c == TREE).mean() <= 0.80
        assert 0.25 <= (s == RUBBER).mean() <= 0.30
        assert 0.08 <= (s == ARECA).mean() <= 0.10
        assert 0.01 <= (s == OTHER_PL).mean() <= 0.03
        assert 0.30 <= (s == NATURAL).mean() <= 0.50
        assert 0 < (s == REGROWTH).mean() < 0.01


def test_ecozones(county, history):
    lon, lat, inside = county
    _, _, sub, _ = history
    gez = landscape.ecozone(lon, lat)
    assert gez.dtype == np.uint8 and set(np.unique(gez).tolist()) == {12, 16}
    mountain = (gez == 16) & inside
    assert 0.15 <= mountain.sum() / inside.sum() <= 0.25
    # the high ground is the north, and natural forest
    lats = np.broadcast_to(lat[:, None], gez.shape)
    assert lats[mountain].mean() > lats[inside].mean() + 0.05
    assert (sub[2020][mountain] == NATURAL).mean() > 0.7
    assert (sub[2020][inside & ~mountain] == NATURAL).mean() < 0.4


def test_demo_inputs_of_another_landscape_version_are_refused(fetched, tmp_path):
    """Demo inputs left by an older sinkmap (another synthetic landscape) are not mixed into a run:
    the align step names the folder to delete."""
    manifest, folder = fetched["demo_gez"]
    check_landscape_version(manifest)  # this version's: accepted
    old = tmp_path / "manifest.json"
    manifest.write(old)
    old.write_text(old.read_text().replace(f"?landscape={LANDSCAPE_VERSION}", "?landscape=2"))
    with pytest.raises(SourceError, match=r"another version of the synthetic landscape.*delete"):
        check_landscape_version(Manifest.read(old))
