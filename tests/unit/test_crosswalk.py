"""Class crosswalks (config/crosswalks/*.csv): values by hand, validation messages, agreement with styles."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from sinkmap.crosswalk import IPCC_CATEGORIES, Crosswalk
from sinkmap.errors import ConfigError, UnknownClassError
from sinkmap.legends import CLCD, IO_LULC, WORLDCOVER
from sinkmap.sources import load_registry

from ._helpers import DATASETS_YAML, ROOT

XW = ROOT / "config" / "crosswalks"
HEADER = "source_code,source_name,target_code,target_name,ipcc_category,note\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "xw.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


# -- the shipped files, values by hand ---------------------------------------------------------------
def test_io_lulc_values_by_hand():
    xw = Crosswalk.from_csv(XW / "io_lulc.csv")
    # water -> permanent water, trees -> tree cover, crops -> cropland, rangeland -> grassland
    codes = np.array([[1, 2], [5, 11]], dtype="uint8")
    assert xw.apply(codes).tolist() == [[80, 10], [40, 30]]
    # flooded vegetation -> herbaceous wetland, built -> built-up, bare, snow, clouds -> nodata, 0 -> 0
    codes = np.array([4, 7, 8, 9, 10, 0], dtype="uint8")
    assert xw.apply(codes).tolist() == [90, 50, 60, 70, 0, 0]
    assert xw.apply(codes).dtype == np.uint8


def test_clcd_values_by_hand():
    xw = Crosswalk.from_csv(XW / "clcd.csv")
    codes = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 2, 2]], dtype="uint8")
    assert xw.apply(codes).tolist() == [[0, 40, 10], [20, 30, 80], [70, 60, 50], [90, 10, 10]]
    assert xw.ipcc_categories() == {
        1: "Cropland",
        2: "Forest land",
        3: "Grassland",
        4: "Grassland",
        5: "Wetlands",
        6: "Other land",
        7: "Other land",
        8: "Settlements",
        9: "Wetlands",
    }


def test_worldcover_is_identity_and_agrees_with_styles():
    xw = Crosswalk.from_csv(XW / "worldcover.csv")
    codes = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100, 0], dtype="uint8")
    assert xw.apply(codes).tolist() == codes.tolist()
    assert xw.ipcc_categories() == {c.code: c.ipcc_category for c in WORLDCOVER}
    assert {r.source_code: r.source_name for r in xw.rows} == {c.code: c.name for c in WORLDCOVER}


@pytest.mark.parametrize(("name", "legend"), [("io_lulc", IO_LULC), ("clcd", CLCD)])
def test_source_legends_in_styles_agree_with_their_crosswalks(name, legend):
    xw = Crosswalk.from_csv(XW / f"{name}.csv")
    assert {r.source_code for r in xw.rows} == {c.code for c in legend}
    assert {r.source_code: r.source_name for r in xw.rows} == {c.code: c.name for c in legend}
    mapped = xw.ipcc_categories()
    assert {c.code: c.ipcc_category for c in legend} == {
        r.source_code: mapped.get(r.source_code, "") for r in xw.rows
    }


def test_registry_crosswalks_exist_and_load():
    registry = load_registry(DATASETS_YAML)
    named = {n: d for n, d in registry.items() if d.crosswalk}
    assert {"clcd", "lesiv_fml"} <= set(named)
    for d in named.values():
        legend = d.crosswalk_legend or "worldcover"
        assert Crosswalk.from_csv(ROOT / str(d.crosswalk), target_legend=legend).rows


def test_other_integer_types_and_dask_chunks():
    xw = Crosswalk.from_csv(XW / "clcd.csv")
    assert xw.apply(np.array([2, 8], dtype="int32")).tolist() == [10, 50]
    codes = da.from_array(np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype="uint8"), chunks=(1, 2))
    out = codes.map_blocks(xw.apply, dtype="uint8").compute()
    assert out.tolist() == [[40, 10, 20, 30], [80, 70, 60, 50]]


# -- unmapped codes --------------------------------------------------------------------------------------
def test_unmapped_codes_are_listed_with_the_file():
    xw = Crosswalk.from_csv(XW / "io_lulc.csv")
    with pytest.raises(UnknownClassError) as err:
        xw.apply(np.array([[1, 3], [6, 3]], dtype="uint8"))  # 3 and 6 were IO v1 classes
    assert err.value.codes == [3, 6]
    assert "code(s) 3, 6" in str(err.value) and str(XW / "io_lulc.csv") in str(err.value)
    assert "Add a row for each code" in str(err.value)


def test_codes_outside_uint8_are_unmapped():
    xw = Crosswalk.from_csv(XW / "clcd.csv")
    with pytest.raises(UnknownClassError, match=r"code\(s\) -1, 300"):
        xw.apply(np.array([1, 300, -1], dtype="int16"))


# -- validation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "1,a,40,Cropland,Cropland,\n1,b,10,Tree cover,Forest land,\n",
            r"line 3: source_code 1 is already mapped on line 2",
        ),
        ("1.5,a,40,Cropland,Cropland,\n", r"line 2: source_code '1.5' is not an integer"),
        ("300,a,40,Cropland,Cropland,\n", r"line 2: source_code 300 is outside 0–255"),
        ("1,a,41,x,Cropland,\n", r"line 2: target_code 41 is not a class of the worldcover legend"),
        (
            "1,a,40,Cropland,Farmland,\n",
            r"line 2: ipcc_category 'Farmland' is not an IPCC land category",
        ),
        ("1,a,40,Cropland,Grassland,\n", r"line 2: target_code 40 \(Cropland\) is IPCC 'Cropland'"),
        ("1,a,0,No data,Cropland,\n", r"line 2: rows mapped to 0 \(nodata\) have no IPCC category"),
        ("1,a,40,Cropland,Cropland,x,y\n", r"line 2: 7 fields but the header has 6"),
        ("", r"has no rows"),
    ],
)
def test_validation_names_file_line_and_fix(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as err:
        Crosswalk.from_csv(path)
    assert str(path) in str(err.value)


def test_missing_column_and_missing_file(tmp_path):
    path = write(tmp_path, "1,40\n", header="source_code,target_code\n")
    with pytest.raises(ConfigError, match=r"line 1: column\(s\) \['ipcc_category'\] missing"):
        Crosswalk.from_csv(path)
    with pytest.raises(ConfigError, match=r"does not exist; fix `crosswalk:`"):
        Crosswalk.from_csv(tmp_path / "nope.csv")


def test_category_case_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "# a comment\n\n2,forest,10,Tree cover,forest LAND,\n")
    xw = Crosswalk.from_csv(path)
    assert xw.ipcc_categories() == {2: "Forest land"}
    assert xw.rows[0].line == 4
    assert set(xw.ipcc_categories().values()) <= set(IPCC_CATEGORIES)


# -- applied by the align step -------------------------------------------------------------------------------
ALBERS = (
    "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)


def _align_clcd(tmp_path: Path, code: int) -> Path:
    """Align a CLCD-shaped raster holding ``code`` everywhere onto a 256 x 256 grid in Baoting."""
    import rasterio
    from pyproj import Transformer

    from sinkmap.config import Config
    from sinkmap.grid import Grid
    from sinkmap.sources import Manifest, file_record
    from sinkmap.stages.align import align_input

    from ._helpers import AOI_GPKG, POOL_CSV, UTM_LEFT, UTM_TOP, write_tif

    grid = Grid("EPSG:32649", 30.0, UTM_LEFT, UTM_TOP, 256, 256, chunk=256)
    grid.to_json(tmp_path / "grid.json")
    to_albers = Transformer.from_crs("EPSG:32649", ALBERS, always_xy=True)
    x, y = to_albers.transform(UTM_LEFT + 3840, UTM_TOP - 3840)  # the grid's centre
    left, top = (x // 30) * 30 - 9000, (y // 30) * 30 + 9000  # 18 km around it
    raw = tmp_path / "raw"
    raw.mkdir()
    src = write_tif(
        raw / "CLCD_v01_2020_albert_hainan_aoi.tif",
        np.full((600, 600), code, dtype="uint8"),
        res=30.0,
        left=left,
        top=top,
        crs=ALBERS,
        nodata=0,
    )
    Manifest("clcd", "v01", 2020, "archive", False, (file_record("map", src, raw),), raw).write(
        raw / "manifest.json"
    )
    cfg = Config.model_validate(
        {
            "aoi": {"path": str(AOI_GPKG), "layer": "baoting"},
            "years": [2020],
            "inputs": {"land_cover": {"dataset": "clcd"}},
            "model": {"name": "lookup", "params": {"table": str(POOL_CSV)}},
            "datasets": str(DATASETS_YAML),
            "resources_dir": str(tmp_path / "resources"),
            "results_dir": str(tmp_path / "results"),
        }
    )
    out = tmp_path / "land_cover.tif"
    align_input(cfg, "land_cover", 2020, raw / "manifest.json", tmp_path / "grid.json", out)
    with rasterio.open(out) as ds:
        assert ds.read(1).shape == (256, 256)
    return out


def test_align_applies_the_crosswalk_and_tags_it(tmp_path):
    import rasterio

    out = _align_clcd(tmp_path, 2)  # CLCD 2 forest -> WorldCover 10 tree cover
    with rasterio.open(out) as ds:
        values = ds.read(1)
        tags = ds.tags()
        colour = ds.colormap(1)[10]
    assert set(np.unique(values)) <= {0, 10} and (values == 10).sum() > 0
    assert tags["LEGEND"] == "worldcover" and tags["SOURCE_LEGEND"] == "clcd"
    assert tags["CROSSWALK"] == "config/crosswalks/clcd.csv"
    assert colour[:3] == (0x00, 0x64, 0x00)  # WorldCover tree cover #006400


def test_align_stops_on_an_unmapped_code(tmp_path):
    with pytest.raises(UnknownClassError, match=r"code\(s\) 12 .*crosswalks/clcd.csv"):
        _align_clcd(tmp_path, 12)
