"""QGIS styles for sinkmap's outputs, so they open styled in QGIS.

Rasters get a sidecar ``<name>.qml`` next to the GeoTIFF (QGIS loads a same-named ``.qml`` as the
layer's default style); GeoPackage layers get rows in the ``layer_styles`` table, which QGIS reads
as the default style of a layer when it opens it. The table is created with the schema QGIS itself
uses (``QgsOgrUtils::saveStyle``: the same columns and types as its SpatiaLite and PostgreSQL
providers, ``id`` as the primary key) and is registered in ``gpkg_contents`` as an ``attributes``
table, as GDAL does when QGIS creates it, so the file stays a valid GeoPackage.

The colour ramps here are shared with the quick-look PNGs (:mod:`sinkmap.publish.quicklook`), so a
map looks the same in QGIS and in the report:

- carbon stock: sequential (ColorBrewer YlGn), 0 to 400 Mg C/ha;
- net flux: diverging (ColorBrewer RdBu, reversed) centred on 0, -100 to +100 Mg CO2e/ha/yr:
  blue = removals (negative), red = emissions (positive), the inventory sign of the outputs;
- land cover: the product's palette and class names (:mod:`sinkmap.legends`).
"""

from __future__ import annotations

import math
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sinkmap.errors import OutputError
from sinkmap.files import atomic_path, build_timestamp
from sinkmap.legends import LEGENDS, LegendClass

#: The QGIS version written in the styles (the oldest one they were checked against: 3.22 LTR).
QGIS_VERSION = "3.22.0"
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"

# ColorBrewer (Brewer, Harrower and The Pennsylvania State University), 9-class YlGn, 11-class RdBu.
_YLGN = (
    "#ffffe5",
    "#f7fcb9",
    "#d9f0a3",
    "#addd8e",
    "#78c679",
    "#41ab5d",
    "#238443",
    "#006837",
    "#004529",
)
_RDBU_R = (
    "#053061",
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
    "#67001f",
)


@dataclass(frozen=True)
class ColorRamp:
    """A continuous colour ramp: colours evenly spaced from ``vmin`` to ``vmax``."""

    name: str
    colors: tuple[str, ...]
    vmin: float
    vmax: float
    units: str
    title: str
    diverging: bool = False

    def values(self, vmin: float | None = None, vmax: float | None = None) -> list[float]:
        lo, hi = self.vmin if vmin is None else vmin, self.vmax if vmax is None else vmax
        n = len(self.colors)
        return [lo + (hi - lo) * i / (n - 1) for i in range(n)]

    def color_at(self, fraction: float) -> str:
        """The ramp's colour at ``fraction`` (0..1) of its length, linearly interpolated in RGB."""
        f = min(max(fraction, 0.0), 1.0) * (len(self.colors) - 1)
        i = min(int(f), len(self.colors) - 2)
        a, b = _rgb(self.colors[i]), _rgb(self.colors[i + 1])
        t = f - i
        return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


#: Colour ramps of the continuous rasters, by kind (see :func:`raster_qml`).
#: ColorBrewer Purples (9) and YlOrBr (9): light to dark.
_PURPLES = (
    "#fcfbfd",
    "#efedf5",
    "#dadaeb",
    "#bcbddc",
    "#9e9ac8",
    "#807dba",
    "#6a51a3",
    "#54278f",
    "#3f007d",
)
_YLORBR = (
    "#ffffe5",
    "#fff7bc",
    "#fee391",
    "#fec44f",
    "#fe9929",
    "#ec7014",
    "#cc4c02",
    "#993404",
    "#662506",
)
RAMPS: dict[str, ColorRamp] = {
    "stock": ColorRamp("stock", _YLGN, 0.0, 400.0, "Mg C/ha", "Carbon stock"),
    "biomass": ColorRamp("biomass", _YLGN, 0.0, 500.0, "Mg/ha", "Above-ground biomass"),
    "flux": ColorRamp(
        "flux",
        _RDBU_R,
        -100.0,
        100.0,
        "Mg CO2e/ha/yr",
        "Net CO2e flux (emissions +, removals -)",
        diverging=True,
    ),
    # the carbon state's ages (years since establishment or conversion) and calendar years
    # (planting, last loss: 0 = none takes the lightest colour, as values below a ramp do)
    "age": ColorRamp("age", _PURPLES, 0.0, 60.0, "years", "Years"),
    "year": ColorRamp("year", _YLORBR, 1980.0, 2030.0, "calendar year", "Year"),
}
#: Every raster kind :func:`raster_qml` styles.
RASTER_KINDS: tuple[str, ...] = ("stock", "flux", "land_cover", "biomass", "age", "year")


def kind_from_tags(tags: Mapping[str, str]) -> str:
    """The style kind of a sinkmap raster from its GDAL tags (``UNITS``, ``ROLE``)."""
    units = tags.get("UNITS", "")
    if tags.get("LEGEND") in LEGENDS and units.endswith("code"):
        return "land_cover"  # paletted: land cover, forest type, the state's strata and categories
    if "CO2e" in units:
        return "flux"
    if units.startswith("Mg C"):
        return "stock"
    if tags.get("ROLE") == "land_cover" or units == "class code":
        return "land_cover"
    if tags.get("ROLE") == "biomass" or units.startswith("Mg ha-1"):
        return "biomass"
    if units == "years":
        return "age"
    if units == "calendar year":
        return "year"
    raise ValueError(
        f"cannot tell the style of a raster with UNITS={units!r}; pass kind= one of {RASTER_KINDS}"
    )


# -- rasters ---------------------------------------------------------------------------------------
def raster_qml(
    kind: str,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    legend: str = "worldcover",
) -> str:
    """A QGIS style (.qml) for a sinkmap raster.

    ``kind`` is ``"stock"`` (Mg C/ha, sequential 0..400), ``"flux"`` (Mg CO2e/ha/yr, diverging,
    centred on 0: blue = removals, red = emissions), ``"biomass"`` (Mg/ha, sequential 0..500) or
    ``"land_cover"`` (paletted, the colours and class names of ``legend``). ``vmin``/``vmax``
    override the range of a continuous ramp (a flux range is kept symmetric about 0).
    """
    if kind == "land_cover":
        if legend not in LEGENDS:
            raise ValueError(f"unknown legend {legend!r}; known: {sorted(LEGENDS)}")
        renderer = _paletted_renderer(LEGENDS[legend])
    elif kind in RAMPS:
        ramp = RAMPS[kind]
        lo, hi = ramp.vmin if vmin is None else vmin, ramp.vmax if vmax is None else vmax
        if ramp.diverging:
            half = max(abs(lo), abs(hi))
            lo, hi = -half, half
        if not hi > lo:
            raise ValueError(f"vmax must be > vmin, got {lo}..{hi}")
        renderer = _pseudocolor_renderer(ramp, lo, hi)
    else:
        raise ValueError(f"unknown raster style kind {kind!r}; use one of {RASTER_KINDS}")
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    root.append(_collection("pipe-data-defined-properties"))
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        {
            "enabled": "false",
            "zoomedInResamplingMethod": "nearestNeighbour",
            "zoomedOutResamplingMethod": "nearestNeighbour",
            "maxOversampling": "2",
        },
    )
    pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(
        pipe,
        "huesaturation",
        {
            "saturation": "0",
            "grayscaleMode": "0",
            "invertColors": "0",
            "colorizeOn": "0",
            "colorizeRed": "255",
            "colorizeGreen": "128",
            "colorizeBlue": "128",
            "colorizeStrength": "100",
        },
    )
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    _text(pipe, "resamplingStage", "resamplingFilter")
    _text(root, "blendMode", "0")
    return _serialize(root)


def write_sidecar_qml(tif_path: str | Path, kind: str | None = None, **kwargs: object) -> Path:
    """Write ``<name>.qml`` next to ``tif_path`` (QGIS's default style for that file).

    ``kind`` defaults to the one the raster's tags imply (:func:`kind_from_tags`); other keyword
    arguments go to :func:`raster_qml`. Returns the path of the style.
    """

    tif_path = Path(tif_path)
    if kind is None:
        import rasterio

        with rasterio.open(tif_path) as ds:
            tags = ds.tags()
        kind = kind_from_tags(tags)
        if kind == "land_cover" and tags.get("LEGEND"):
            kwargs.setdefault("legend", tags["LEGEND"])
    qml = raster_qml(kind, **kwargs)  # type: ignore[arg-type]
    out = tif_path.with_suffix(".qml")
    with atomic_path(out) as tmp:
        tmp.write_text(qml, encoding="utf-8")
    return out


def _pseudocolor_renderer(ramp: ColorRamp, lo: float, hi: float) -> ET.Element:
    renderer = ET.Element(
        "rasterrenderer",
        {
            "type": "singlebandpseudocolor",
            "band": "1",
            "opacity": "1",
            "alphaBand": "-1",
            "nodataColor": "",
            "classificationMin": _num(lo),
            "classificationMax": _num(hi),
        },
    )
    ET.SubElement(renderer, "rasterTransparency")
    renderer.append(_min_max_origin())
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader")
    shader.attrib.update(
        {
            "colorRampType": "INTERPOLATED",
            "classificationMode": "1",  # continuous
            "clip": "0",  # values beyond the range take the end colours
            "minimumValue": _num(lo),
            "maximumValue": _num(hi),
            "labelPrecision": "0",
        }
    )
    shader.append(_gradient_ramp(ramp.colors))
    for value, color in zip(ramp.values(lo, hi), ramp.colors, strict=True):
        ET.SubElement(
            shader,
            "item",
            {
                "value": _num(value),
                "color": color,
                "alpha": "255",
                "label": f"{_label(value)} {ramp.units}",
            },
        )
    legend = ET.SubElement(
        shader,
        "rampLegendSettings",
        {
            "prefix": "",
            "suffix": f" {ramp.units}",
            "minimumLabel": "",
            "maximumLabel": "",
            "orientation": "2",
            "direction": "0",
            "useContinuousLegend": "1",
        },
    )
    fmt = ET.SubElement(legend, "numericFormat", {"id": "basic"})
    fmt.append(
        _option_map(
            {
                "decimals": ("int", "0"),
                "rounding_type": ("int", "0"),
                "show_plus": ("bool", "true" if ramp.diverging else "false"),
                "show_thousand_separator": ("bool", "true"),
                "show_trailing_zeros": ("bool", "false"),
            }
        )
    )
    return renderer


def _paletted_renderer(legend: Sequence[LegendClass]) -> ET.Element:
    renderer = ET.Element(
        "rasterrenderer",
        {"type": "paletted", "band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": ""},
    )
    ET.SubElement(renderer, "rasterTransparency")
    renderer.append(_min_max_origin())
    palette = ET.SubElement(renderer, "colorPalette")
    for cls in legend:
        ET.SubElement(
            palette,
            "paletteEntry",
            {"value": str(cls.code), "color": cls.color, "alpha": "255", "label": cls.name},
        )
    return renderer


def _min_max_origin() -> ET.Element:
    origin = ET.Element("minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        _text(origin, tag, text)
    return origin


def _gradient_ramp(colors: Sequence[str]) -> ET.Element:
    ramp = ET.Element("colorramp", {"name": "[source]", "type": "gradient"})
    n = len(colors)
    stops = ":".join(f"{i / (n - 1):.6g};{_qcolor(c)}" for i, c in enumerate(colors[1:-1], 1))
    props = {
        "color1": _qcolor(colors[0]),
        "color2": _qcolor(colors[-1]),
        "discrete": "0",
        "rampType": "gradient",
        "stops": stops,
    }
    ramp.append(_option_map({k: ("QString", v) for k, v in props.items()}))
    for k, v in props.items():
        ET.SubElement(ramp, "prop", {"k": k, "v": v})
    return ramp


# -- vector layers ---------------------------------------------------------------------------------
def graduated_qml(
    field: str,
    breaks: Sequence[float],
    *,
    ramp: ColorRamp | None = None,
    units: str = "Mg C",
    outline: str = "#6e6e6e",
) -> str:
    """A QGIS style graduating polygons by ``field`` into the classes ``breaks[i]..breaks[i+1]``.

    Class colours are sampled from ``ramp`` (the stock ramp by default); labels carry ``units``.
    """
    if len(breaks) < 2 or any(b <= a for a, b in zip(breaks, breaks[1:], strict=False)):
        raise ValueError(f"breaks must be at least two increasing values, got {list(breaks)}")
    ramp = ramp or RAMPS["stock"]
    renderer = ET.Element(
        "renderer-v2",
        {
            "type": "graduatedSymbol",
            "attr": field,
            "graduatedMethod": "GraduatedColor",
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    n = len(breaks) - 1
    for i, (lo, hi) in enumerate(zip(breaks[:-1], breaks[1:], strict=True)):
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": repr(float(lo)),
                "upper": repr(float(hi)),
                "symbol": str(i),
                "label": f"{_label(lo)} - {_label(hi)} {units}",
                "render": "true",
            },
        )
        color = ramp.color_at((i + 0.5) / n)
        symbols.append(_fill_symbol(str(i), fill=color, outline=outline, width_mm=0.26))
    source = ET.SubElement(renderer, "source-symbol")
    source.append(_fill_symbol("0", fill=ramp.colors[len(ramp.colors) // 2], outline=outline))
    colorramp = _gradient_ramp(ramp.colors)
    colorramp.set("name", "[source]")
    renderer.append(colorramp)
    method = ET.SubElement(renderer, "classificationMethod", {"id": "Custom"})
    ET.SubElement(method, "symmetricMode", {"enabled": "0", "symmetrypoint": "0", "astride": "0"})
    ET.SubElement(
        method,
        "labelFormat",
        {"format": f"%1 - %2 {units}", "labelprecision": "0", "trimtrailingzeroes": "1"},
    )
    ET.SubElement(ET.SubElement(method, "parameters"), "Option")
    ET.SubElement(method, "extraInformation")
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    return _vector_style(renderer)


def outline_qml(color: str = "#000000", width_mm: float = 0.6) -> str:
    """A QGIS style drawing polygons as an outline only (no fill)."""
    renderer = ET.Element(
        "renderer-v2",
        {
            "type": "singleSymbol",
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    symbols = ET.SubElement(renderer, "symbols")
    symbols.append(_fill_symbol("0", fill=None, outline=color, width_mm=width_mm))
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    return _vector_style(renderer)


def nice_breaks(values: Sequence[float], classes: int = 5) -> list[float]:
    """Equal-interval class breaks from 0 with a round step covering ``max(values)``."""
    top = max((float(v) for v in values if v == v), default=0.0)  # v == v drops NaN
    if top <= 0:
        return [0.0, 1.0]
    step = _nice(top / classes)
    n = max(1, math.ceil(top / step - 1e-9))
    return [step * i for i in range(n + 1)]


def _vector_style(renderer: ET.Element) -> str:
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    root.append(renderer)
    _text(root, "blendMode", "0")
    _text(root, "featureBlendMode", "0")
    _text(root, "layerOpacity", "1")
    return _serialize(root)


def _fill_symbol(
    name: str, *, fill: str | None, outline: str, width_mm: float = 0.26
) -> ET.Element:
    symbol = ET.Element(
        "symbol",
        {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    symbol.append(_collection("data_defined_properties"))
    layer = ET.SubElement(
        symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"}
    )
    props = {
        "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
        "color": _qcolor(fill or "#ffffff"),
        "joinstyle": "bevel",
        "offset": "0,0",
        "offset_map_unit_scale": "3x:0,0,0,0,0,0",
        "offset_unit": "MM",
        "outline_color": _qcolor(outline),
        "outline_style": "solid",
        "outline_width": _num(width_mm),
        "outline_width_unit": "MM",
        "style": "solid" if fill else "no",
    }
    # QGIS >= 3.26 reads the <Option> map, earlier 3.x the <prop> elements: write both, as 3.22 does.
    layer.append(_option_map({k: ("QString", v) for k, v in props.items()}))
    for k, v in props.items():
        ET.SubElement(layer, "prop", {"k": k, "v": v})
    layer.append(_collection("data_defined_properties"))
    return symbol


# -- GeoPackage layer_styles ------------------------------------------------------------------------
#: ``layer_styles`` as QGIS creates it in a GeoPackage (through GDAL, ``FID=id``).
LAYER_STYLES_DDL = (
    'CREATE TABLE IF NOT EXISTS "layer_styles" ( '
    '"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
    '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
    '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT, '
    '"useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30), '
    "\"update_time\" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
)
LAYER_STYLES_COLUMNS: tuple[str, ...] = (
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
)


def add_layer_styles(
    gpkg_path: str | Path,
    styles: Mapping[str, str],
    *,
    description: str = "sinkmap default style",
    use_as_default: bool = True,
) -> None:
    """Store a QGIS style (QML text) for each layer of ``styles`` in the GeoPackage's ``layer_styles``.

    Creates the table as QGIS does when it is missing (and registers it in ``gpkg_contents`` as an
    ``attributes`` table, and in ``gpkg_ogr_contents`` when the file has that table). A style of the
    same layer and name (the layer name) is replaced; with ``use_as_default`` it becomes the layer's
    only default style, the one QGIS applies when it opens the layer. All styles are written in one
    transaction: on any error the file is unchanged. Call it on a GeoPackage no one else is writing.
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise OutputError(f"GeoPackage {path} does not exist; write its layers first")
    for layer, qml in styles.items():
        check_qml(qml, what=f"style of layer {layer!r}")
    stamp = build_timestamp()
    # Explicit transaction: Python's sqlite3 would otherwise run CREATE TABLE outside of it.
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "gpkg_contents" not in tables:
                raise OutputError(f"{path} is not a GeoPackage (it has no gpkg_contents table)")
            contents = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
            missing = sorted(set(styles) - contents)
            if missing:
                raise OutputError(
                    f"{path} has no layer(s) {missing} to style; its layers are {sorted(contents)}"
                )
            geometry_columns = dict(
                con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns")
            )
            _create_layer_styles(con, tables, stamp)
            for layer, qml in styles.items():
                geom = geometry_columns.get(layer, "")
                key = (layer, geom, layer)
                if use_as_default:
                    con.execute(
                        "UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_schema = '' "
                        "AND f_table_name = ? AND f_geometry_column = ?",
                        key[:2],
                    )
                row = con.execute(
                    "SELECT id FROM layer_styles WHERE f_table_schema = '' AND f_table_name = ? "
                    "AND f_geometry_column = ? AND styleName = ?",
                    key,
                ).fetchone()
                if row:
                    con.execute(
                        "UPDATE layer_styles SET styleQML = ?, styleSLD = '', useAsDefault = ?, "
                        "description = ?, update_time = ? WHERE id = ?",
                        (qml, int(use_as_default), description, stamp, row[0]),
                    )
                else:
                    con.execute(
                        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                        "description, owner, update_time) VALUES ('', '', ?, ?, ?, ?, '', ?, ?, '', ?)",
                        (*key, qml, int(use_as_default), description, stamp),
                    )
            if "gpkg_ogr_contents" in tables:
                con.execute(
                    "UPDATE gpkg_ogr_contents SET feature_count = "
                    "(SELECT COUNT(*) FROM layer_styles) WHERE lower(table_name) = 'layer_styles'"
                )
            con.execute(
                "UPDATE gpkg_contents SET last_change = ? WHERE table_name = 'layer_styles'",
                (stamp,),
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def _create_layer_styles(con: sqlite3.Connection, tables: set[str], stamp: str) -> None:
    if "layer_styles" in tables:
        cols = [r[1] for r in con.execute('PRAGMA table_info("layer_styles")')]
        absent = [c for c in LAYER_STYLES_COLUMNS if c not in cols]
        if absent:
            raise OutputError(f"the GeoPackage's layer_styles table lacks the columns {absent}")
        return
    con.execute(LAYER_STYLES_DDL)
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
        "srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?, 0)",
        (stamp,),
    )
    if "gpkg_ogr_contents" in tables:
        con.execute(
            "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES ('layer_styles', 0)"
        )
        # Older GDAL keeps feature counts with triggers; add them if the file's other tables have them.
        uses_triggers = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' "
            "AND name LIKE 'trigger_insert_feature_count_%'"
        ).fetchone()
        if uses_triggers:
            for op, sign in (("insert", "+"), ("delete", "-")):
                con.execute(
                    f'CREATE TRIGGER "trigger_{op}_feature_count_layer_styles" AFTER '
                    f'{op.upper()} ON "layer_styles" BEGIN UPDATE gpkg_ogr_contents SET '
                    f"feature_count = feature_count {sign} 1 WHERE lower(table_name) = "
                    "lower('layer_styles'); END"
                )


#: Outline colours and widths (mm) of the GeoPackages' polygon layers drawn without fill: the AOI
#: black, the zones purple and thinner, so both show over the maps and apart from each other.
AOI_OUTLINE = ("#000000", 0.6)
ZONES_OUTLINE = ("#7b3294", 0.4)


def geopackage_styles(gpkg_path: str | Path) -> dict[str, str]:
    """The styles of a sinkmap GeoPackage: ``tiles`` graduated by ``stock_total_mgc`` (breaks from
    its values), ``aoi`` as a black outline and, when the file has it, ``zones`` as a purple one."""
    import pyogrio

    tiles = pyogrio.read_dataframe(
        gpkg_path, layer="tiles", columns=["stock_total_mgc"], read_geometry=False
    )
    breaks = nice_breaks(tiles["stock_total_mgc"].tolist())
    styles = {
        "tiles": graduated_qml("stock_total_mgc", breaks, units="Mg C"),
        "aoi": outline_qml(*AOI_OUTLINE),
    }
    if "zones" in {str(name) for name, _ in pyogrio.list_layers(gpkg_path)}:
        styles["zones"] = outline_qml(*ZONES_OUTLINE)
    return styles


def style_geopackage(gpkg_path: str | Path) -> None:
    """Add the default QGIS styles of a sinkmap GeoPackage (:func:`geopackage_styles`)."""
    add_layer_styles(gpkg_path, geopackage_styles(gpkg_path))


# -- checks ----------------------------------------------------------------------------------------
def check_qml(qml: str, *, what: str = "QML") -> str:
    """Parse a QGIS style; return its renderer type, or raise ValueError if it is not a QGIS style."""
    try:
        root = ET.fromstring(qml)
    except ET.ParseError as exc:
        raise ValueError(f"{what} is not well-formed XML: {exc}") from exc
    if root.tag != "qgis":
        raise ValueError(f"{what}: the root element is <{root.tag}>, not <qgis>")
    renderer = root.find("pipe/rasterrenderer")
    if renderer is None:
        renderer = root.find("renderer-v2")
    if renderer is None or not renderer.get("type"):
        raise ValueError(f"{what} has no raster or vector renderer")
    return str(renderer.get("type"))


# -- helpers ---------------------------------------------------------------------------------------
def _serialize(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return _DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


def _option_map(values: Mapping[str, tuple[str, str]]) -> ET.Element:
    opt = ET.Element("Option", {"type": "Map"})
    for name, (typ, value) in values.items():
        ET.SubElement(opt, "Option", {"name": name, "type": typ, "value": value})
    return opt


def _collection(tag: str) -> ET.Element:
    el = ET.Element(tag)
    opt = ET.SubElement(el, "Option", {"type": "Map"})
    ET.SubElement(opt, "Option", {"name": "name", "type": "QString", "value": ""})
    ET.SubElement(opt, "Option", {"name": "properties"})
    ET.SubElement(opt, "Option", {"name": "type", "type": "QString", "value": "collection"})
    return el


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _qcolor(hex_color: str) -> str:
    return "{},{},{},255".format(*_rgb(hex_color))


def _num(value: float) -> str:
    return f"{float(value):.10g}"


def _label(value: float) -> str:
    v = float(value)
    return f"{v:,.0f}" if v == round(v) or abs(v) >= 100 else f"{v:,.3g}"


def _nice(x: float) -> float:
    exp = math.floor(math.log10(x))
    frac = x / 10**exp
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if frac <= step:
            return step * 10**exp
    return 10.0 * 10**exp
