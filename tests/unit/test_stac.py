"""sinkmap.publish: the STAC catalog of a results folder (offline-valid, projection/raster/file
fields checked by hand) and the account table's JSON form (output contract 0.2, a hand-written
account: tests/unit/_account.py) against its committed JSON Schema."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import dask.array as da
import geopandas as gpd
import jsonschema
import numpy as np
import pandas as pd
import pystac
import pytest
import shapely
from pyproj import Transformer

from sinkmap import OUTPUT_VERSION, __version__
from sinkmap.constants import SIGN_CONVENTION, UNITS_FLUX, UNITS_STOCK
from sinkmap.contract import ACCOUNT_COLUMNS, ACCOUNT_JSON_TEXT, ACCOUNT_UNITS
from sinkmap.errors import OutputError
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_layers
from sinkmap.publish import stac
from sinkmap.publish.account_json import write_account_json
from sinkmap.publish.stac import (
    OfflineValidator,
    build_catalog,
    offline_validation,
    validate_catalog,
)

from ._account import ADJUSTED, GAIN_LOSS_PARAMS, INPUTS, MODEL, account_table, write_account
from ._helpers import ROOT, UTM_LEFT, UTM_TOP

GRID = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=40, height=30, chunk=16)
ACCOUNT_SCHEMA = ROOT / "docs" / "schemas" / "carbon_account.schema.json"
MODEL_PARAMS = {"table": "pools.csv"}
SOURCES = [{"dataset": "demo_worldcover", "version": "v200", "year": 2020, "files": ["x.tif"]}]
# The AOI: a polygon inside the grid, in the grid CRS (as in the GeoPackage).
AOI = shapely.Polygon(
    [
        (UTM_LEFT + 20, UTM_TOP - 20),
        (UTM_LEFT + 380, UTM_TOP - 40),
        (UTM_LEFT + 300, UTM_TOP - 280),
        (UTM_LEFT + 30, UTM_TOP - 250),
    ]
)


def _tags(**extra: object) -> dict[str, object]:
    return {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "MODEL": "lookup",
        "MODEL_PARAMS": json.dumps(MODEL_PARAMS),
        "SOURCES": json.dumps(SOURCES),
        "SYNTHETIC": "yes",
        "NOTE": "SYNTHETIC DEMO DATA",
        "CO2_PER_C": 44 / 12,
    } | extra


def _layer(values: np.ndarray, dtype: str, nodata: float | int, **tags: object) -> LayerSpec:
    return LayerSpec(da.from_array(values, chunks=GRID.chunks), dtype, nodata, tags=_tags(**tags))


def _summary(year: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": [year, year],
            "class_code": [10, 40],
            "class_name": ["Tree cover", "Cropland"],
            "ipcc_category": ["Forest land", "Cropland"],
            "area_ha": [7.0, 5.0],
            "stock_above_mgc": [900.0, 30.0],
            "stock_below_mgc": [300.0, 10.0],
            "stock_dead_mgc": [50.0, 0.0],
            "stock_soil_mgc": [500.0, 200.0],
            "stock_total_mgc": [1750.0, 240.0],
            "stock_density_mgc_per_ha": [250.0, 48.0],
        }
    )


def _make_results(root: Path) -> Path:
    """A results folder shaped like the workflow's: 2020, 2021, the 2020-2021 sink, the account."""
    results = root / "results"
    lc = np.where(np.arange(30 * 40).reshape(30, 40) % 3, 10, 40).astype("uint8")
    lc[0, :] = 0
    for year in (2020, 2021):
        folder = results / str(year)
        total = np.where(lc == 10, 250.0, 48.0).astype("float32") + (year - 2020)
        total[lc == 0] = np.nan
        write_layers(
            GRID,
            {
                folder / "land_cover.tif": _layer(lc, "uint8", 0, YEAR=year, UNITS="class code"),
                folder / "carbon_stock_total.tif": _layer(
                    total,
                    "float32",
                    float("nan"),
                    YEAR=year,
                    UNITS=UNITS_STOCK,
                    POOL="total",
                    QUANTITY="carbon stock, sum of above, below, dead, soil",
                ),
            },
            threads=1,
        )
        _summary(year).to_csv(folder / "class_summary.csv", index=False)
        pd.DataFrame(
            {"tile_id": ["r000c000"], "area_ha": [12.0], "stock_total_mgc": [1990.0]}
        ).to_csv(folder / "tile_summary.csv", index=False)
        aoi = gpd.GeoDataFrame(
            {"name": ["test"], "area_ha": [9.0], "year": [year], "synthetic": ["yes"]},
            geometry=[shapely.MultiPolygon([AOI])],
            crs=GRID.crs,
        )
        aoi.to_file(folder / f"sinkmap_{year}.gpkg", layer="aoi", driver="GPKG")
    sink = results / "sink" / "2020-2021"
    flux = np.full(lc.shape, -3.6666667, "float32")
    flux[lc == 0] = np.nan
    write_layers(
        GRID,
        {
            sink / "net_flux_co2e.tif": _layer(
                flux,
                "float32",
                float("nan"),
                INTERVAL="2020-2021",
                YEAR_START=2020,
                YEAR_END=2021,
                UNITS=UNITS_FLUX,
                SIGN_CONVENTION=SIGN_CONVENTION,
                POOL="total",
            )
        },
        threads=1,
    )
    pd.DataFrame(
        {
            "interval_start": [2020],
            "interval_end": [2021],
            "class_code": [10],
            "class_name": ["Tree cover"],
            "ipcc_category": ["Forest land"],
            "area_ha": [7.0],
            "net_flux_mgco2e_per_yr": [-25.7],
            "emissions_mgco2e_per_yr": [0.0],
            "removals_mgco2e_per_yr": [-25.7],
            "net_flux_mgco2e_per_ha_yr": [-3.67],
        }
    ).to_csv(sink / "class_summary.csv", index=False)
    write_account(results / "carbon_account.csv")
    GRID.to_json(results / "grid.json")
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_results(tmp_path_factory.mktemp("stac"))


@pytest.fixture(scope="module")
def catalog(results: Path) -> Path:
    write_account_json(results / "carbon_account.csv", results / "carbon_account.json")
    return build_catalog(results, title="Test county", synthetic=True)


def _item(catalog: Path, collection: str, item_id: str) -> dict:
    return json.loads((catalog.parent / collection / item_id / f"{item_id}.json").read_text())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of an http(s) href by pystac fails the test (schemas must all be local)."""
    original = pystac.stac_io.DefaultStacIO.read_text_from_href

    def read(self: object, href: str) -> str:
        assert not href.startswith(("http://", "https://")), f"network read of {href}"
        return original(self, href)  # type: ignore[arg-type]

    monkeypatch.setattr(pystac.stac_io.DefaultStacIO, "read_text_from_href", read)


# -- catalog -----------------------------------------------------------------------------------
def test_catalog_is_self_contained_and_lists_every_output(catalog: Path, results: Path) -> None:
    assert catalog == results / "stac" / "catalog.json"
    root = pystac.Catalog.from_file(str(catalog))
    assert root.catalog_type == pystac.CatalogType.SELF_CONTAINED
    assert root.title == "Test county" and root.extra_fields["sinkmap:synthetic"] is True
    items = {i.id: i for i in root.get_items(recursive=True)}
    assert set(items) == {"stocks-2020", "stocks-2021", "sink-2020-2021", "account-2020-2021"}
    assert set(items["stocks-2021"].assets) == {
        "land_cover",
        "carbon_stock_total",
        "class_summary",
        "tile_summary",
        "geopackage",
    }
    assert set(items["sink-2020-2021"].assets) == {"net_flux_co2e", "class_summary"}
    assert set(items["account-2020-2021"].assets) == {
        "carbon_account",
        "carbon_account_json",
        "grid",
    }
    published = {
        Path(a.get_absolute_href()).resolve() for i in items.values() for a in i.assets.values()
    }
    on_disk = {p.resolve() for p in results.rglob("*") if p.is_file() and "stac" not in p.parts}
    assert published == on_disk
    for path in catalog.parent.rglob("*.json"):
        data = json.loads(path.read_text())
        assert "self" not in {link["rel"] for link in data["links"]}  # self-contained
        for link in data["links"]:
            assert not Path(link["href"]).is_absolute()
        for asset in data.get("assets", {}).values():
            assert asset["href"].startswith("../")
    assert not [p for p in results.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_catalog_validates_offline(catalog: Path, no_network: None) -> None:
    with offline_validation():
        pystac.validation.validate_all(pystac.Catalog.from_file(str(catalog)))
    validate_catalog(catalog)
    item = _item(catalog, "stocks", "stocks-2020")
    assert set(item["stac_extensions"]) == {
        "https://stac-extensions.github.io/file/v2.1.0/schema.json",
        "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    }


def test_validation_checks_the_extension_schemas(catalog: Path, tmp_path: Path) -> None:
    """A wrong proj:shape or a non-hex checksum is caught by the vendored extension schemas."""
    item = _item(catalog, "stocks", "stocks-2020")
    bad_shape = json.loads(json.dumps(item))
    bad_shape["assets"]["carbon_stock_total"]["proj:shape"] = ["30", 40]
    bad_sum = json.loads(json.dumps(item))
    bad_sum["assets"]["land_cover"]["file:checksum"] = "not hex"
    for bad in (bad_shape, bad_sum):
        with pytest.raises(pystac.errors.STACValidationError):
            pystac.validation.validate_dict(bad, validator=OfflineValidator())
    assert pystac.validation.validate_dict(item, validator=OfflineValidator())


def test_pystac_alone_would_fetch_the_extension_schemas(catalog: Path, no_network: None) -> None:
    """Why the schemas are vendored: pystac's own validator goes to the network for them."""
    item = _item(catalog, "stocks", "stocks-2020")
    with pytest.raises(pystac.validation.stac_validator.GetSchemaError):
        pystac.validation.validate_dict(item, validator=pystac.validation.JsonSchemaSTACValidator())
    assert pystac.validation.validate_dict(item, validator=OfflineValidator())


def test_offline_validator_refuses_unknown_schemas() -> None:
    with pytest.raises(pystac.validation.stac_validator.GetSchemaError, match="not available"):
        OfflineValidator()._get_schema("https://stac-extensions.github.io/eo/v1.1.0/schema.json")
    vendored = stac.vendored_schemas()
    assert {
        "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    } <= set(vendored)


def test_raster_assets_carry_projection_raster_and_file_fields(
    catalog: Path, results: Path
) -> None:
    item = _item(catalog, "stocks", "stocks-2021")
    for key, dtype, nodata, unit in [
        ("carbon_stock_total", "float32", "nan", UNITS_STOCK),
        ("land_cover", "uint8", 0, "class code"),
    ]:
        asset = item["assets"][key]
        path = results / "2021" / f"{key}.tif"
        data = path.read_bytes()
        assert asset["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
        assert asset["file:size"] == len(data)
        assert asset["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert asset["roles"] == ["data"]
        assert asset["proj:code"] == "EPSG:32649"
        assert asset["proj:shape"] == [30, 40]
        assert asset["proj:transform"] == [10.0, 0.0, UTM_LEFT, 0.0, -10.0, UTM_TOP]
        assert asset["proj:bbox"] == [UTM_LEFT, UTM_TOP - 300, UTM_LEFT + 400, UTM_TOP]
        (band,) = asset["raster:bands"]
        assert band["data_type"] == dtype and band["nodata"] == nodata and band["unit"] == unit
        assert band["spatial_resolution"] == 10.0
    flux = _item(catalog, "sinks", "sink-2020-2021")["assets"]["net_flux_co2e"]
    assert flux["raster:bands"][0]["unit"] == UNITS_FLUX
    gpkg = item["assets"]["geopackage"]
    assert gpkg["type"] == "application/geopackage+sqlite3"
    assert (
        gpkg["file:checksum"]
        == "1220"
        + hashlib.sha256((results / "2021" / "sinkmap_2021.gpkg").read_bytes()).hexdigest()
    )
    table = item["assets"]["class_summary"]
    assert table["type"] == "text/csv"
    assert table["sinkmap:column_units"]["stock_total_mgc"] == "Mg C"
    assert table["sinkmap:columns"] == list(_summary(2021).columns)


def test_item_times_geometry_and_provenance(catalog: Path) -> None:
    year = _item(catalog, "stocks", "stocks-2020")
    props = year["properties"]
    assert props["datetime"] == "2020-07-01T00:00:00Z"
    assert props["start_datetime"] == "2020-01-01T00:00:00Z"
    assert props["end_datetime"] == "2020-12-31T23:59:59Z"
    assert props["sinkmap:synthetic"] is True
    assert props["sinkmap:output_version"] == OUTPUT_VERSION
    assert props["sinkmap:model"] == "lookup" and props["sinkmap:model_params"] == MODEL_PARAMS
    assert props["sinkmap:sources"] == SOURCES
    assert props["sinkmap:units"] == {"carbon_stock_total": UNITS_STOCK, "land_cover": "class code"}
    assert props["sinkmap:sign_convention"] == SIGN_CONVENTION
    assert props["proj:code"] == "EPSG:32649"
    # the footprint is the AOI of the GeoPackage, in lon/lat
    to_lonlat = Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True)
    expected = shapely.Polygon([to_lonlat.transform(x, y) for x, y in AOI.exterior.coords])
    got = shapely.geometry.shape(year["geometry"])
    assert got.symmetric_difference(expected).area < 1e-12
    assert year["bbox"] == pytest.approx(list(expected.bounds))
    assert 109 < year["bbox"][0] < 110 and 18 < year["bbox"][1] < 19  # Baoting

    sink = _item(catalog, "sinks", "sink-2020-2021")["properties"]
    assert sink["datetime"] is None
    assert sink["start_datetime"] == "2020-07-01T00:00:00Z"
    assert sink["end_datetime"] == "2021-07-01T00:00:00Z"
    assert sink["sinkmap:sign_convention"] == SIGN_CONVENTION
    assert sink["sinkmap:units"] == {"net_flux_co2e": UNITS_FLUX}

    collection = pystac.Collection.from_file(str(catalog.parent / "stocks" / "collection.json"))
    (interval,) = collection.extent.temporal.intervals
    assert interval == [
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]


def test_catalog_survives_a_move(catalog: Path, results: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(results, moved)
    root = pystac.Catalog.from_file(str(moved / "stac" / "catalog.json"))
    for item in root.get_items(recursive=True):
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file()
            assert str(moved) in asset.get_absolute_href()


def test_rebuild_replaces_the_catalog(results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    build_catalog(copy, title="one", synthetic=True)
    (copy / "2021" / "class_summary.csv").write_text("year\n2021\n")
    out = build_catalog(copy, title="two", synthetic=True)
    assert json.loads(out.read_text())["title"] == "two"
    asset = _item(out, "stocks", "stocks-2021")["assets"]["class_summary"]
    assert asset["file:checksum"] == "1220" + hashlib.sha256(b"year\n2021\n").hexdigest()
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]


def test_a_killed_build_leaves_nothing_after_the_next(results: Path, tmp_path: Path) -> None:
    """The folders a build killed with kill -9 left (written, or swapped out) are removed by the
    next build of that catalog; a user's own hidden folder is not."""
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    for name in (".stac-0123abcd-part", ".stac-89abcdef-old", ".mine"):
        (copy / name / "stocks").mkdir(parents=True)
        (copy / name / "catalog.json").write_text("{}")
    build_catalog(copy, title="one", synthetic=True)
    assert sorted(p.name for p in copy.iterdir() if p.name.startswith(".")) == [".mine"]


def test_invalid_catalog_is_not_published(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    good = build_catalog(copy, title="good", synthetic=True)
    before = {p: p.read_bytes() for p in good.parent.rglob("*.json")}
    monkeypatch.setattr(stac, "multihash_sha256", lambda path: "sha256:not-a-multihash")
    with pytest.raises(pystac.errors.STACValidationError, match="file"):
        build_catalog(copy, title="bad", synthetic=True)
    assert {p: p.read_bytes() for p in good.parent.rglob("*.json")} == before
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]


def test_synthetic_flag_must_agree_with_the_outputs(results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    shutil.rmtree(copy / "stac")
    with pytest.raises(OutputError, match="synthetic"):
        build_catalog(copy, title="real?", synthetic=False)
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        p.name for p in results.iterdir() if p.name != "stac"
    )


def test_missing_results_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no year folders"):
        build_catalog(tmp_path, title="x", synthetic=True)


# -- account JSON ------------------------------------------------------------------------------
SD, GL = "stock-difference", "gain-loss"


def _find(records: list[dict], **where: object) -> dict:
    """The one record whose keys have the values of ``where``."""
    (found,) = [r for r in records if all(r[k] == v for k, v in where.items())]
    return found


def _aoi_total(records: list[dict], year: int, method: str = SD) -> dict:
    return _find(records, year=year, zone_id="aoi", class_code=None, pool="total", method=method)


def _doc(results: Path) -> dict:
    return json.loads((results / "carbon_account.json").read_text())


def test_account_json_validates_against_the_committed_schema(catalog: Path, results: Path) -> None:
    assert OUTPUT_VERSION.startswith("0.4."), (
        f"sinkmap.OUTPUT_VERSION is {OUTPUT_VERSION}: the account layout of sinkmap.contract and "
        "docs/schemas/carbon_account.schema.json are those of output contract 0.4"
    )
    schema = json.loads(ACCOUNT_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = _doc(results)
    jsonschema.Draft202012Validator(schema).validate(doc)
    # the schema's column list and units are sinkmap.contract's
    assert schema["properties"]["columns"]["const"] == ACCOUNT_COLUMNS
    assert schema["properties"]["units"]["const"] == ACCOUNT_UNITS
    assert schema["$defs"]["record"]["required"] == ACCOUNT_COLUMNS
    assert list(schema["$defs"]["record"]["properties"]) == ACCOUNT_COLUMNS
    csv = pd.read_csv(results / "carbon_account.csv")
    assert doc["columns"] == list(csv.columns) == ACCOUNT_COLUMNS
    assert doc["units"] == ACCOUNT_UNITS
    assert doc["units"]["stock_mgc"] == "Mg C" and doc["units"]["mc_draws"] is None
    assert doc["units"]["net_flux_mgco2e_per_yr"] == "Mg CO2e yr-1"
    assert doc["sign_convention"] == SIGN_CONVENTION and doc["output_version"] == OUTPUT_VERSION
    assert doc["synthetic"] is True and doc["table"] == "carbon_account"
    # the account item of the catalog lists the same columns and units
    asset = _item(catalog, "account", "account-2020-2021")["assets"]["carbon_account"]
    assert asset["sinkmap:columns"] == ACCOUNT_COLUMNS
    assert asset["sinkmap:column_units"]["stock_mgc"] == "Mg C"


def test_account_json_records_are_the_table_rows(catalog: Path, results: Path) -> None:
    """Record i is row i of the CSV: empty cells null, integers int, JSON text parsed."""
    records = _doc(results)["records"]
    rows = account_table().to_dict("records")  # what the fixture wrote to carbon_account.csv
    assert len(records) == len(rows) == 55
    for record, row in zip(records, rows, strict=True):
        assert list(record) == ACCOUNT_COLUMNS
        for column in ACCOUNT_COLUMNS:
            value = row[column]
            if column in ACCOUNT_JSON_TEXT:
                expected = json.loads(value)
            elif pd.isna(value) or value == "":
                expected = None
            else:
                expected = value
            assert record[column] == expected, (column, row)
            assert type(record[column]) is type(expected) or isinstance(expected, float)
    for column in ("year", "interval_start", "interval_end", "class_code", "mc_draws"):
        assert {type(r[column]) for r in records} <= {int, type(None)}


def test_account_json_holds_the_hand_computed_numbers(catalog: Path, results: Path) -> None:
    records = _doc(results)["records"]
    first = _aoi_total(records, 2020)
    assert first["class_name"] == "all classes" and first["ipcc_category"] is None
    assert first["stock_mgc"] == 1990.0  # 1750 + 240
    assert first["stock_density_mgc_per_ha"] == pytest.approx(1990 / 12)
    assert (first["stock_mgc_p05"], first["stock_mgc_p95"], first["mc_draws"]) == (1890, 2090, 500)
    for column in ("interval_start", "interval_end", "stock_change_mgc_per_yr"):
        assert first[column] is None
    assert first["net_flux_mgco2e_per_yr"] is None and first["net_flux_mgco2e_per_yr_p05"] is None
    assert first["model"] == MODEL and first["inputs"] == INPUTS and first["method_params"] == {}
    assert first["computed_at"] == "2024-05-01T08:00:00Z" and first["synthetic"] == "yes"

    last = _aoi_total(records, 2021)
    assert (last["interval_start"], last["interval_end"]) == (2020, 2021)
    assert last["stock_mgc"] == 1993.0 and last["stock_change_mgc_per_yr"] == 3.0
    assert last["net_flux_mgco2e_per_yr"] == pytest.approx(-11.0)  # -3 x 44/12
    assert last["emissions_mgco2e_per_yr"] == pytest.approx(4 * 44 / 12)  # cropland loses 4 Mg C
    assert last["removals_mgco2e_per_yr"] == pytest.approx(-7 * 44 / 12)  # trees gain 7 Mg C
    assert (last["net_flux_mgco2e_per_yr_p05"], last["net_flux_mgco2e_per_yr_p95"]) == (-14, -8)

    gl = _aoi_total(records, 2021, GL)
    assert gl["stock_mgc"] is None and gl["stock_density_mgc_per_ha"] is None
    assert gl["mc_draws"] is None and gl["stock_mgc_p05"] is None
    assert gl["net_flux_mgco2e_per_yr"] == pytest.approx(-16.5)  # -(8 - 3.5) x 44/12
    assert gl["method_params"] == GAIN_LOSS_PARAMS
    assert not [
        r for r in records if r["method"] == GL and (r["pool"] != "total" or r["year"] == 2020)
    ]

    crop = _find(records, year=2021, zone_id="aoi", class_code=40, pool="total", method=SD)
    assert crop["class_name"] == "Cropland" and crop["ipcc_category"] == "Cropland"
    assert crop["stock_mgc"] == 236.0 and crop["mc_draws"] is None
    park = _find(records, year=2021, zone_id="z1", class_code=None, pool="total", method=SD)
    assert park["zone_name"] == "Park" and park["stock_mgc"] == 753.0


def test_account_json_signs(catalog: Path, results: Path) -> None:
    records = _doc(results)["records"]
    emissions = [r["emissions_mgco2e_per_yr"] for r in records]
    removals = [r["removals_mgco2e_per_yr"] for r in records]
    assert all(e >= 0 for e in emissions if e is not None) and max(filter(None, emissions)) > 0
    assert all(r <= 0 for r in removals if r is not None) and min(filter(None, removals)) < 0
    for r in records:
        if r["net_flux_mgco2e_per_yr"] is not None:  # net = emissions + removals = -change x 44/12
            net = r["emissions_mgco2e_per_yr"] + r["removals_mgco2e_per_yr"]
            assert r["net_flux_mgco2e_per_yr"] == pytest.approx(net, abs=1e-9)
            assert net == pytest.approx(-r["stock_change_mgc_per_yr"] * 44 / 12, abs=1e-9)
        if r["stock_mgc"] is not None:
            assert r["stock_mgc"] >= 0


def _at(where: dict, **change: object):
    def apply(doc: dict) -> None:
        _find(doc["records"], **where).update(change)

    apply.__name__ = f"{where['method']}-{where['year']}-{where['class_code']}-" + "-".join(change)
    return apply


FIRST = {"year": 2020, "zone_id": "aoi", "class_code": None, "pool": "total", "method": SD}
LAST = FIRST | {"year": 2021}
LAST_GL = LAST | {"method": GL}
CLASS_ROW = LAST | {"class_code": 10}


@pytest.mark.parametrize(
    "change",
    [
        _at(LAST, emissions_mgco2e_per_yr=-1.0),  # emissions are >= 0
        _at(LAST, removals_mgco2e_per_yr=2.0),  # removals are <= 0
        _at(LAST, stock_mgc=-5.0),  # stocks are >= 0
        _at(LAST, stock_mgc_p05=-5.0),
        _at(FIRST, net_flux_mgco2e_per_yr=1.0),  # no flux in the first year
        _at(FIRST, interval_start=2019),  # an interval without its change columns
        _at(LAST, net_flux_mgco2e_per_yr=None),  # an interval without its flux
        _at(LAST, stock_mgc=None),  # stock-difference rows have stocks
        _at(LAST, method_params={"root_shoot": 0.24}),  # stock-difference has no parameters
        _at(LAST, pool="leaves"),
        _at(LAST, method="stock difference"),
        _at(LAST, synthetic="maybe"),
        _at(LAST, computed_at="yesterday"),
        _at(LAST, zone_id=""),
        _at(LAST_GL, pool="above"),  # gain-loss: pool total only
        _at(LAST_GL, stock_mgc=1993.0),  # gain-loss: no stocks
        _at(LAST_GL, stock_mgc_p05=1.0, stock_mgc_p95=2.0),  # gain-loss: no stock interval
        _at(LAST_GL | {"class_code": 10}, net_flux_mgco2e_per_yr_p05=1.0),  # class rows: none
        _at(CLASS_ROW, stock_mgc_p05=1.0, stock_mgc_p95=2.0, mc_draws=500),
        _at(LAST, mc_draws=None),  # percentiles without their number of draws
        _at(LAST, class_code=10),  # "all classes" rows have no class code
        _at(CLASS_ROW, class_code=None),  # class rows have one
        _at(LAST, model={"params": {}}),
        _at(LAST, inputs=[{"dataset": "x"}]),
        lambda d: d["records"][0].pop("stock_mgc"),
        lambda d: d["records"][0].update(extra=1),
        lambda d: d["columns"].reverse(),
        lambda d: d["units"].update(stock_mgc="t C"),
        lambda d: d.update(output_version="1.0.0"),
    ],
)
def test_account_schema_rejects_drift(catalog: Path, results: Path, change) -> None:
    schema = json.loads(ACCOUNT_SCHEMA.read_text())
    doc = _doc(results)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(doc)
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.drop(columns=["method"]), "missing \\['method'\\]"),
        (lambda t: t[[*ACCOUNT_COLUMNS[1:], "year"]], "the order must be"),
        (lambda t: t.rename(columns={"stock_mgc": "stock_total_mgc"}), "stock_total_mgc"),
        (lambda t: t.assign(class_code=t["class_code"].astype("Float64") + 0.5), "class_code"),
        (lambda t: t.assign(stock_mgc="lots"), "stock_mgc"),
        (lambda t: t.assign(model="{not json"), "model"),
    ],
)
def test_account_json_refuses_a_table_of_another_layout(tmp_path: Path, edit, match: str) -> None:
    table = edit(account_table())
    table.to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(OutputError, match=match):
        write_account_json(tmp_path / "old.csv", tmp_path / "old.json")
    assert not (tmp_path / "old.json").exists()


def test_account_json_refuses_another_contract_version(tmp_path: Path) -> None:
    account_table(output_version="0.1.0" if OUTPUT_VERSION != "0.1.0" else "9.0.0").to_csv(
        tmp_path / "old.csv", index=False
    )
    with pytest.raises(OutputError, match="output contract"):
        write_account_json(tmp_path / "old.csv", tmp_path / "old.json")


def test_area_adjusted_rows_validate_and_keep_their_shape(tmp_path: Path) -> None:
    """An assessed interval's area-adjusted row (hand values: 12 ha, -13 Mg CO2e/yr, 95 % -20 to
    -6) validates; with a stock, gross flows or outside the AOI's total it does not."""
    schema = json.loads(ACCOUNT_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    account_table(adjusted=ADJUSTED).to_csv(tmp_path / "a.csv", index=False)
    write_account_json(tmp_path / "a.csv", tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    validator.validate(doc)
    (row,) = [r for r in doc["records"] if r["method"] == "stock-difference (area-adjusted)"]
    assert row["net_flux_mgco2e_per_yr"] == -13.0 and row["interval_start"] == 2020
    assert row["stock_change_mgc_per_yr"] == pytest.approx(13.0 * 12 / 44)
    for bad in ({"stock_mgc": 1990.0}, {"emissions_mgco2e_per_yr": 1.0}, {"zone_id": "z1"}):
        broken = json.loads(json.dumps(doc))
        (r,) = [r for r in broken["records"] if r["method"].endswith("(area-adjusted)")]
        r.update(bad)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


def test_quick_looks_are_overviews_and_the_principal_one_the_thumbnail(
    results: Path, tmp_path: Path
) -> None:
    """The workflow's quick looks, where they exist, are PNG assets of their item: role
    ``overview``, and ``thumbnail`` too for the map of the item's principal layer."""
    import shutil

    from PIL import Image

    from sinkmap.paths import Paths

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    paths = Paths(copy)
    year = paths.accounted_years()[-1]
    (y0, y1) = sorted(p.name for p in (copy / "sink").iterdir())[0].split("-")
    pngs = [paths.quicklook(year, "stock"), paths.quicklook(year, "land_cover")]
    pngs.append(paths.flux_quicklook(y0, y1))
    for png in pngs:
        Image.new("RGB", (4, 4), "white").save(png)
    built = build_catalog(copy, title="Test county", synthetic=True)
    year_assets = _item(built, "stocks", f"stocks-{year}")["assets"]
    sink_assets = _item(built, "sinks", f"sink-{y0}-{y1}")["assets"]
    got = {
        key: (asset["type"], asset["roles"])
        for assets in (year_assets, sink_assets)
        for key, asset in assets.items()
        if key.startswith("quicklook_")
    }
    assert got == {
        "quicklook_stock": ("image/png", ["thumbnail", "overview"]),
        "quicklook_land_cover": ("image/png", ["overview"]),
        "quicklook_net_flux": ("image/png", ["thumbnail", "overview"]),
    }
    assert year_assets["quicklook_stock"]["file:size"] == pngs[0].stat().st_size
