"""QGIS styles: raster .qml sidecars and the GeoPackage layer_styles table."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely

from sinkmap.errors import OutputError
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_gpkg_layer, write_layers
from sinkmap.legends import WORLDCOVER, WORLDCOVER_COLORMAP
from sinkmap.publish import qgis
from sinkmap.publish.qgis_project import build_project

from ._helpers import UTM_LEFT, UTM_TOP

# The table QGIS creates (QgsOgrUtils::saveStyle through GDAL's GPKG driver), as PRAGMA table_info
# reports it: column -> declared type.
QGIS_LAYER_STYLES = {
    "id": "INTEGER",
    "f_table_catalog": "TEXT(256)",
    "f_table_schema": "TEXT(256)",
    "f_table_name": "TEXT(256)",
    "f_geometry_column": "TEXT(256)",
    "styleName": "TEXT(30)",
    "styleQML": "TEXT",
    "styleSLD": "TEXT",
    "useAsDefault": "BOOLEAN",
    "description": "TEXT",
    "owner": "TEXT(30)",
    "ui": "TEXT(30)",
    "update_time": "DATETIME",
}


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _items(qml: str) -> list[tuple[float, str, str]]:
    root = ET.fromstring(qml)
    return [
        (float(i.get("value")), i.get("color"), i.get("label"))
        for i in root.iter("item")
        if i.get("value") is not None
    ]


def test_stock_style_is_a_sequential_ramp_in_mg_c_per_ha() -> None:
    qml = qgis.raster_qml("stock")
    assert qml.startswith("<!DOCTYPE qgis")
    assert qgis.check_qml(qml) == "singlebandpseudocolor"
    root = ET.fromstring(qml)
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("band") == "1"
    assert (float(renderer.get("classificationMin")), float(renderer.get("classificationMax"))) == (
        0.0,
        400.0,
    )
    shader = root.find(".//colorrampshader")
    assert shader is not None and shader.get("colorRampType") == "INTERPOLATED"
    items = _items(qml)
    values = [v for v, _, _ in items]
    assert values == sorted(values) and values[0] == 0 and values[-1] == 400
    assert all("Mg C/ha" in label for _, _, label in items)
    # sequential: darker (lower luminance) with more carbon
    lum = [sum(_rgb(c)) for _, c, _ in items]
    assert lum == sorted(lum, reverse=True)
    assert root.find(".//rampLegendSettings").get("suffix").strip() == "Mg C/ha"


def test_flux_style_diverges_around_zero_blue_removals_red_emissions() -> None:
    qml = qgis.raster_qml("flux")
    assert qgis.check_qml(qml) == "singlebandpseudocolor"
    renderer = ET.fromstring(qml).find("pipe/rasterrenderer")
    lo, hi = float(renderer.get("classificationMin")), float(renderer.get("classificationMax"))
    assert lo == -hi < 0
    items = _items(qml)
    assert all("Mg CO2e/ha/yr" in label for _, _, label in items)
    for value, color, _ in items:
        r, g, b = _rgb(color)
        if value < 0:
            assert b > r, (value, color)  # removals blue
        elif value > 0:
            assert r > b, (value, color)  # emissions red
        else:
            assert max(r, g, b) - min(r, g, b) < 10 and r > 230  # neutral at zero
    # a custom range stays centred on zero
    renderer = ET.fromstring(qgis.raster_qml("flux", vmin=-5, vmax=20)).find("pipe/rasterrenderer")
    assert float(renderer.get("classificationMin")) == -20 and float(
        renderer.get("classificationMax")
    ) == pytest.approx(20)


def test_land_cover_style_is_the_worldcover_palette() -> None:
    qml = qgis.raster_qml("land_cover")
    assert qgis.check_qml(qml) == "paletted"
    entries = ET.fromstring(qml).findall("pipe/rasterrenderer/colorPalette/paletteEntry")
    got = [(int(e.get("value")), e.get("color"), e.get("label")) for e in entries]
    assert got == [(c.code, c.color, c.name) for c in WORLDCOVER]


def test_unknown_kind_and_bad_xml_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown raster style kind"):
        qgis.raster_qml("rainbow")
    with pytest.raises(ValueError, match="well-formed"):
        qgis.check_qml("<qgis><pipe>")
    with pytest.raises(ValueError, match="not <qgis>"):
        qgis.check_qml("<style/>")


def _tiny_cogs(folder: Path) -> dict[str, Path]:
    grid = Grid(crs="EPSG:32649", resolution=10, left=UTM_LEFT, top=UTM_TOP, width=40, height=30)
    xx = np.tile(np.arange(40, dtype="float32"), (30, 1))
    paths = {
        "stock": folder / "carbon_stock_total.tif",
        "flux": folder / "net_flux_co2e.tif",
        "land_cover": folder / "land_cover.tif",
    }
    write_layers(
        grid,
        {
            paths["stock"]: LayerSpec(
                da.from_array(xx * 10), "float32", float("nan"), tags={"UNITS": "Mg C ha-1"}
            ),
            paths["flux"]: LayerSpec(
                da.from_array(xx - 20), "float32", float("nan"), tags={"UNITS": "Mg CO2e ha-1 yr-1"}
            ),
            paths["land_cover"]: LayerSpec(
                da.from_array(np.where(xx < 20, 10, 40).astype("uint8")),
                "uint8",
                0,
                tags={"UNITS": "class code", "ROLE": "land_cover", "LEGEND": "worldcover"},
                colormap=WORLDCOVER_COLORMAP,
                overview_resampling="mode",
            ),
        },
        threads=1,
    )
    return paths


def test_sidecar_qml_next_to_the_tif(tmp_path: Path) -> None:
    paths = _tiny_cogs(tmp_path)
    expected = {"stock": "singlebandpseudocolor", "flux": "singlebandpseudocolor"}
    expected["land_cover"] = "paletted"
    for kind, tif in paths.items():
        qml_path = qgis.write_sidecar_qml(tif)  # kind from the tags
        assert qml_path == tif.with_suffix(".qml") and qml_path.exists()
        text = qml_path.read_text(encoding="utf-8")
        assert qgis.check_qml(text) == expected[kind]
        assert text == qgis.raster_qml(kind)
    # an explicit kind wins over the tags
    qgis.write_sidecar_qml(paths["stock"], "flux")
    assert "Mg CO2e/ha/yr" in paths["stock"].with_suffix(".qml").read_text(encoding="utf-8")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _gpkg(path: Path) -> Path:
    boxes = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)]
    tiles = gpd.GeoDataFrame(
        {"tile_id": ["r000c000", "r000c001"], "stock_total_mgc": [1234.5, 98765.0]},
        geometry=boxes,
        crs="EPSG:32649",
    )
    pyogrio.write_dataframe(tiles, path, layer="tiles", driver="GPKG")
    aoi = gpd.GeoDataFrame(
        {"name": ["x"]},
        geometry=[shapely.MultiPolygon([shapely.box(10, 10, 190, 90)])],
        crs="EPSG:32649",
    )
    pyogrio.write_dataframe(aoi, path, layer="aoi", driver="GPKG")
    classes = pd.DataFrame({"class_code": [10], "area_ha": [1.0]})
    pyogrio.write_dataframe(classes, path, layer="class_summary", driver="GPKG")
    return path


def test_layer_styles_table_as_qgis_writes_it(tmp_path: Path) -> None:
    gpkg = _gpkg(tmp_path / "t.gpkg")
    qgis.style_geopackage(gpkg)
    with sqlite3.connect(gpkg) as con:
        info = con.execute('PRAGMA table_info("layer_styles")').fetchall()
        assert {row[1]: row[2] for row in info} == QGIS_LAYER_STYLES
        assert [row[1] for row in info][1:] == list(qgis.LAYER_STYLES_COLUMNS)
        assert [row[1] for row in info if row[5]] == ["id"]  # the primary key
        contents = con.execute(
            "SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
        assert contents == [("attributes", "layer_styles")]
        rows = con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
            "styleQML, useAsDefault, update_time FROM layer_styles ORDER BY id"
        ).fetchall()
        counts = dict(con.execute("SELECT table_name, feature_count FROM gpkg_ogr_contents"))
    assert [r[:5] for r in rows] == [
        ("", "", "tiles", "geom", "tiles"),
        ("", "", "aoi", "geom", "aoi"),
    ]
    assert all(r[6] == 1 and r[7] for r in rows)  # default style, timestamped
    assert counts.get("layer_styles", 2) == 2

    tiles_qml, aoi_qml = rows[0][5], rows[1][5]
    assert qgis.check_qml(tiles_qml) == "graduatedSymbol"
    renderer = ET.fromstring(tiles_qml).find("renderer-v2")
    assert renderer.get("attr") == "stock_total_mgc"
    ranges = renderer.findall("ranges/range")
    assert float(ranges[0].get("lower")) == 0 and float(ranges[-1].get("upper")) >= 98765.0
    assert len(renderer.findall("symbols/symbol")) == len(ranges)
    assert qgis.check_qml(aoi_qml) == "singleSymbol"
    fill = ET.fromstring(aoi_qml).find(".//layer[@class='SimpleFill']")
    props = {o.get("name"): o.get("value") for o in fill.find("Option").findall("Option")}
    assert props["style"] == "no" and props["outline_color"] == "0,0,0,255"  # outline only

    # GDAL reads it as an ordinary attribute table of the GeoPackage, with QGIS's field types
    layers = {str(name): geom for name, geom in pyogrio.list_layers(gpkg)}
    assert layers["layer_styles"] is None and layers["tiles"] == "Polygon"
    info = pyogrio.read_info(gpkg, layer="layer_styles")
    assert info["fid_column"] == "id"
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["useAsDefault"] == "bool" and types["update_time"].startswith("datetime64")
    table = pyogrio.read_dataframe(gpkg, layer="layer_styles")
    assert list(table["f_table_name"]) == ["tiles", "aoi"]
    # the other layers are untouched
    assert len(gpd.read_file(gpkg, layer="tiles")) == 2


def test_zones_layer_gets_a_purple_outline_style(tmp_path: Path) -> None:
    gpkg = _gpkg(tmp_path / "t.gpkg")
    zones = gpd.GeoDataFrame(
        {"zone_id": ["a"], "stock_total_mgc": [5.0]},
        geometry=[shapely.MultiPolygon([shapely.box(10, 10, 90, 90)])],
        crs="EPSG:32649",
    )
    pyogrio.write_dataframe(zones, gpkg, layer="zones", driver="GPKG")
    qgis.style_geopackage(gpkg)
    with sqlite3.connect(gpkg) as con:
        rows = dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles"))
    assert sorted(rows) == ["aoi", "tiles", "zones"]
    fill = ET.fromstring(rows["zones"]).find(".//layer[@class='SimpleFill']")
    props = {o.get("name"): o.get("value") for o in fill.find("Option").findall("Option")}
    # outline only, 0.4 mm of #7b3294 (123, 50, 148)
    assert props["style"] == "no" and props["outline_color"] == "123,50,148,255"
    assert float(props["outline_width"]) == 0.4


def test_geopackages_are_written_as_version_1_2(tmp_path: Path) -> None:
    """GeoPackage 1.2 (user_version 10200): QGIS 3.22's GDAL warns on 1.4, the default of GDAL
    3.7.1 and later; appending a layer keeps the version."""
    path = tmp_path / "v.gpkg"
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:32649")
    write_gpkg_layer(frame, path, "one", metadata={"YEAR": "2020"})
    write_gpkg_layer(pd.DataFrame({"b": [2]}), path, "two")
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (10200,)
        assert con.execute("PRAGMA application_id").fetchone() == (0x47504B47,)  # "GPKG"
    assert [str(n) for n, _ in pyogrio.list_layers(path)] == ["one", "two"]
    assert pyogrio.read_info(path, layer="one")["layer_metadata"] == {"YEAR": "2020"}


def test_restyling_replaces_the_default_style(tmp_path: Path) -> None:
    gpkg = _gpkg(tmp_path / "t.gpkg")
    qgis.style_geopackage(gpkg)
    qgis.add_layer_styles(gpkg, {"aoi": qgis.outline_qml(color="#ff0000", width_mm=1.0)})
    with sqlite3.connect(gpkg) as con:
        rows = con.execute(
            "SELECT f_table_name, styleQML, useAsDefault FROM layer_styles ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == ["tiles", "aoi"]
    assert "255,0,0,255" in rows[1][1] and rows[1][2] == 1


def test_bad_styles_leave_the_geopackage_unchanged(tmp_path: Path) -> None:
    gpkg = _gpkg(tmp_path / "t.gpkg")
    before = gpkg.read_bytes()
    with pytest.raises(OutputError, match="no layer"):
        qgis.add_layer_styles(gpkg, {"aoi": qgis.outline_qml(), "rivers": qgis.outline_qml()})
    with pytest.raises(ValueError, match="well-formed"):
        qgis.add_layer_styles(gpkg, {"aoi": "<qgis"})
    assert gpkg.read_bytes() == before
    with pytest.raises(OutputError, match="does not exist"):
        qgis.add_layer_styles(tmp_path / "missing.gpkg", {"aoi": qgis.outline_qml()})


def test_nice_breaks() -> None:
    assert qgis.nice_breaks([1234.5, 98765.0]) == [0, 20000, 40000, 60000, 80000, 100000]
    assert qgis.nice_breaks([0.0, float("nan")]) == [0.0, 1.0]
    breaks = qgis.nice_breaks([3.3e6, 7.1e6, 12.9e6])
    assert breaks[0] == 0 and breaks[-1] >= 12.9e6 and len(breaks) <= 7
    with pytest.raises(ValueError, match="increasing"):
        qgis.graduated_qml("x", [0, 0])


# -- the QGIS project --------------------------------------------------------------------------------
def _results(tmp_path: Path) -> Path:
    """A results folder of one year: three styled rasters and the year's styled GeoPackage."""
    results = tmp_path / "results"
    year = results / "2020"
    year.mkdir(parents=True)
    for tif in _tiny_cogs(year).values():
        qgis.write_sidecar_qml(tif)
    gpkg = _gpkg(year / "sinkmap_2020.gpkg")
    qgis.style_geopackage(gpkg)
    return results


def _qgs(qgz: Path) -> ET.Element:
    with zipfile.ZipFile(qgz) as zf:
        assert zf.namelist() == ["sinkmap.qgs"]
        text = zf.read("sinkmap.qgs").decode("utf-8")
    assert text.startswith("<!DOCTYPE qgis")
    return ET.fromstring(text)


def test_qgis_project_is_written_without_qgis_with_relative_paths(tmp_path: Path) -> None:
    results = _results(tmp_path)
    out = build_project(results, title="t", licences={})
    assert out == results / "sinkmap.qgz"
    root = _qgs(out)
    assert root.tag == "qgis" and root.get("version") == qgis.QGIS_VERSION
    assert root.findtext("properties/Paths/Absolute") == "false"
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:32649"
    # the tree: the AOI on top (no zones in this file), then the year's group, the total stock first
    tree = root.find("layer-tree-group")
    top = [(n.tag, n.get("name")) for n in tree if n.tag.startswith("layer-tree")]
    assert top == [("layer-tree-layer", "AOI"), ("layer-tree-group", "2020")]
    group = tree.find("layer-tree-group")
    layers = [(n.get("name"), n.get("source"), n.get("checked")) for n in group]
    layers = [x for x in layers if x[0]]
    assert layers == [
        ("carbon_stock_total 2020", "./2020/carbon_stock_total.tif", "Qt::Checked"),
        ("land_cover 2020", "./2020/land_cover.tif", "Qt::Unchecked"),
        ("net_flux_co2e 2020", "./2020/net_flux_co2e.tif", "Qt::Unchecked"),
        ("tiles 2020", "./2020/sinkmap_2020.gpkg|layername=tiles", "Qt::Unchecked"),
    ]
    # every map layer once, with a relative datasource and the style of its file
    maplayers = {m.findtext("layername"): m for m in root.iter("maplayer")}
    assert sorted(maplayers) == sorted(["AOI", *(name for name, _, _ in layers)])
    assert all(m.findtext("datasource").startswith("./") for m in maplayers.values())
    lc = maplayers["land_cover 2020"].find("pipe/rasterrenderer")
    assert lc.get("type") == "paletted"
    assert [e.get("color") for e in lc.iter("paletteEntry")] == [c.color for c in WORLDCOVER]
    flux = maplayers["net_flux_co2e 2020"].find("pipe/rasterrenderer")
    assert flux.get("type") == "singlebandpseudocolor"
    assert (flux.get("classificationMin"), flux.get("classificationMax")) == ("-100", "100")
    aoi = maplayers["AOI"]
    assert aoi.get("type") == "vector" and aoi.findtext("provider") == "ogr"
    assert aoi.find("renderer-v2").get("type") == "singleSymbol"
    assert maplayers["tiles 2020"].find("renderer-v2").get("type") == "graduatedSymbol"
    # the same bytes from the same files
    first = out.read_bytes()
    assert build_project(results, title="t", licences={}).read_bytes() == first


def test_qgis_project_layer_metadata(tmp_path: Path) -> None:
    results = _results(tmp_path)
    flux = results / "2020" / "net_flux_co2e.tif"
    with rasterio.open(flux, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(
            SYNTHETIC="yes", SOURCES=json.dumps([{"dataset": "demo_worldcover", "year": 2020}])
        )
    root = _qgs(build_project(results, title="t", licences={"demo_worldcover": "CC0-1.0"}))
    maplayers = {m.findtext("layername"): m for m in root.iter("maplayer")}
    md = maplayers["net_flux_co2e 2020"].find("resourceMetadata")
    keywords = {k.get("vocabulary"): [w.text for w in k] for k in md.iter("keywords")}
    assert keywords["units"] == ["Mg CO2e ha-1 yr-1"]
    assert keywords["sign_convention"] == [
        "inventory: emissions positive, removals (sinks) negative"
    ]
    assert keywords["synthetic"] == ["yes"]
    assert [e.text for e in md.iter("license")] == ["demo_worldcover: CC0-1.0"]
    assert md.findtext("abstract").startswith("SYNTHETIC DEMO DATA")
    assert "Units: Mg CO2e ha-1 yr-1." in md.findtext("abstract")
    stock = maplayers["carbon_stock_total 2020"].find("resourceMetadata")
    assert {k.get("vocabulary"): [w.text for w in k] for k in stock.iter("keywords")}[
        "synthetic"
    ] == ["no"]
    assert stock.find("license") is None  # no input datasets named


def test_qgis_project_needs_the_results(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="run the workflow"):
        build_project(tmp_path, title="t")
    results = _results(tmp_path)
    with pytest.raises(OutputError, match="must be written in"):
        build_project(results, tmp_path / "elsewhere.qgz", title="t")
