"""The QGIS project of a run, ``results/sinkmap.qgz``, written without QGIS.

The project file is QGIS's own XML (a ``.qgs``, as QGIS 3.22 writes it) zipped into a ``.qgz``.
It is built here with :mod:`xml.etree` from the published files, so the workflow needs no QGIS:

- the layer tree: the AOI and the zones (of the last year) on top, then one group per year and
  one per interval, in order; in each group its principal layer (the total stock, the net flux)
  is shown and the others are listed unchecked;
- every raster of the years and intervals, and the spatial layers of each year's GeoPackage,
  with paths relative to the project (``./2021/carbon_stock_total.tif``), so ``results/`` can be
  moved or shared as it is;
- each layer styled as it opens on its own: the raster's ``.qml`` sidecar and the GeoPackage's
  ``layer_styles`` default style, copied into the project (rasters without a sidecar keep
  QGIS's default);
- each layer's metadata (title, abstract, keywords for units, sign convention, synthetic flag and
  versions, licences of its input datasets) from the files' tags and the contract
  (:mod:`sinkmap.contract`).
"""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sinkmap import __version__
from sinkmap.contract import (
    GPKG_LAYER_TEXT,
    OUTPUT_VERSION,
    PROJECT_SIGN_CONVENTION,
    SYNTHETIC_NOTE,
)
from sinkmap.errors import OutputError
from sinkmap.files import atomic_path
from sinkmap.paths import Paths
from sinkmap.publish.qgis import QGIS_VERSION

_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_INTERVAL = re.compile(r"^(\d{4})-(\d{4})$")
#: The principal layer of a year's and an interval's group: the one shown when the project opens.
PRINCIPAL_YEAR = "carbon_stock_total"
PRINCIPAL_INTERVAL = "net_flux_co2e"
#: The GeoPackage layers of a year's group (attribute tables are not map layers).
YEAR_VECTOR_LAYERS: tuple[str, ...] = ("zones", "tiles")


@dataclass
class ProjectLayer:
    """One map layer of the project: its file, provider, style and metadata."""

    id: str
    name: str
    path: Path  # the file
    provider: str  # "gdal" or "ogr"
    title: str
    abstract: str
    units: str
    synthetic: bool
    licences: list[str]
    visible: bool = False
    gpkg_layer: str | None = None
    keywords: dict[str, list[str]] = field(default_factory=dict)

    def source(self, root: Path) -> str:
        rel = "./" + self.path.relative_to(root).as_posix()
        return f"{rel}|layername={self.gpkg_layer}" if self.gpkg_layer else rel


@dataclass
class ProjectGroup:
    name: str
    layers: list[ProjectLayer]


def build_project(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    title: str,
    licences: Mapping[str, str] | None = None,
) -> Path:
    """Write the QGIS project of the run in ``results_dir`` (default ``results/sinkmap.qgz``).

    ``licences`` maps a dataset name (as in the rasters' ``SOURCES`` tags) to its licence (the
    dataset registry's ``licence``); each layer's metadata lists those of its inputs. The project
    must sit in ``results_dir``: its layers' paths are relative to it.
    """
    results = Path(results_dir).resolve()
    paths = Paths(results=results)
    target = Path(out).resolve() if out is not None else paths.qgis_project()
    if target.parent != results:
        raise OutputError(
            f"the QGIS project {target} must be written in {results} (its layer paths are "
            "relative to the results folder)"
        )
    top, groups = collect_layers(results, licences or {})
    root = project_xml(results, top, groups, title=title)
    ET.indent(root, space="  ")
    text = _DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(target.with_suffix(".qgs").name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
            zf.writestr(info, text.encode("utf-8"))
    return target


# -- the layers ------------------------------------------------------------------------------------
def collect_layers(
    results: Path, licences: Mapping[str, str]
) -> tuple[list[ProjectLayer], list[ProjectGroup]]:
    """The layers on top (AOI, zones of the last year) and the groups of years and intervals."""
    paths = Paths(results=results)
    years = paths.accounted_years()
    if not years:
        raise OutputError(
            f"no year folders with stocks (results/<year>/carbon_stock_total.tif) in {results}; "
            "run the workflow before writing the QGIS project"
        )
    sink_root = results / "sink"
    intervals = sorted(
        (int(m[1]), int(m[2]))
        for p in (sink_root.iterdir() if sink_root.is_dir() else [])
        if p.is_dir() and (m := _INTERVAL.match(p.name))
    )
    groups: list[ProjectGroup] = []
    year_licences: dict[int, list[str]] = {}
    for year in years:
        folder = paths.year_dir(year)
        rasters = _rasters(folder, PRINCIPAL_YEAR)
        layers = [_raster_layer(results, p, f"{p.stem} {year}", licences) for p in rasters]
        year_licences[year] = sorted({lic for layer in layers for lic in layer.licences})
        gpkg = paths.geopackage(year)
        present = _gpkg_layers(gpkg)
        for name in YEAR_VECTOR_LAYERS:
            if name in present:
                layers.append(
                    _vector_layer(results, gpkg, name, f"{name} {year}", year_licences[year])
                )
        groups.append(ProjectGroup(str(year), layers))
    for y0, y1 in intervals:
        folder = paths.interval_dir(y0, y1)
        rasters = _rasters(folder, PRINCIPAL_INTERVAL)
        layers = [_raster_layer(results, p, f"{p.stem} {y0}-{y1}", licences) for p in rasters]
        groups.append(ProjectGroup(f"{y0}-{y1}", layers))
    for group in groups:
        if group.layers:
            group.layers[0].visible = True
    last = paths.geopackage(years[-1])
    present = _gpkg_layers(last)
    if "aoi" not in present:
        raise OutputError(f"{last} has no 'aoi' layer; re-run the geopackage step")
    top = [_vector_layer(results, last, "aoi", "AOI", year_licences[years[-1]], key="aoi")]
    if "zones" in present:
        top.append(
            _vector_layer(
                results, last, "zones", f"zones {years[-1]}", year_licences[years[-1]], key="zones"
            )
        )
    for layer in top:
        layer.visible = True
    return top, groups


def _rasters(folder: Path, principal: str) -> list[Path]:
    """The published rasters of a folder, the principal one first, then by name."""
    found = sorted(p for p in folder.glob("*.tif") if not p.name.startswith("."))
    return sorted(found, key=lambda p: (p.stem != principal, p.stem))


def _gpkg_layers(gpkg: Path) -> set[str]:
    if not gpkg.is_file():
        raise OutputError(f"{gpkg} is missing; run the geopackage step before the QGIS project")
    import pyogrio

    return {str(name) for name, geom in pyogrio.list_layers(gpkg) if geom is not None}


def _layer_id(results: Path, path: Path, layer: str | None = None) -> str:
    rel = path.relative_to(results).with_suffix("").as_posix()
    text = f"{rel}_{layer}" if layer else rel
    return "sinkmap_" + re.sub(r"[^0-9A-Za-z]+", "_", text)


def _raster_layer(
    results: Path, path: Path, name: str, licences: Mapping[str, str]
) -> ProjectLayer:
    import rasterio

    with rasterio.open(path) as ds:
        tags = ds.tags()
        description = ds.descriptions[0] or path.stem
    synthetic = tags.get("SYNTHETIC") == "yes"
    units = tags.get("UNITS", "")
    datasets = sorted({str(rec.get("dataset")) for rec in json.loads(tags.get("SOURCES", "[]"))})
    abstract = _abstract(
        tags.get("QUANTITY") or description,
        units,
        synthetic,
        tags.get("OUTPUT_VERSION", OUTPUT_VERSION),
        tags.get("SINKMAP_VERSION", __version__),
        extra=f"Input datasets: {', '.join(datasets)}." if datasets else "",
    )
    return ProjectLayer(
        id=_layer_id(results, path),
        name=name,
        path=path,
        provider="gdal",
        title=description,
        abstract=abstract,
        units=units,
        synthetic=synthetic,
        licences=[f"{d}: {licences[d]}" for d in datasets if d in licences],
        keywords=_keywords(
            units,
            synthetic,
            tags.get("OUTPUT_VERSION", OUTPUT_VERSION),
            tags.get("SINKMAP_VERSION", __version__),
        ),
    )


def _vector_layer(
    results: Path,
    gpkg: Path,
    layer: str,
    name: str,
    licences: list[str],
    key: str | None = None,
) -> ProjectLayer:
    import pyogrio

    meta = pyogrio.read_info(gpkg, layer=layer).get("layer_metadata") or {}
    synthetic = meta.get("SYNTHETIC") == "yes"
    units = meta.get("UNITS", "")
    title, text = GPKG_LAYER_TEXT.get(layer, (layer, ""))
    year = meta.get("YEAR")
    output_version = meta.get("OUTPUT_VERSION", OUTPUT_VERSION)
    sinkmap_version = meta.get("SINKMAP_VERSION", __version__)
    return ProjectLayer(
        id="sinkmap_" + key if key else _layer_id(results, gpkg, layer),
        name=name,
        path=gpkg,
        provider="ogr",
        gpkg_layer=layer,
        title=f"{title} {year}" if year and layer != "aoi" else title,
        abstract=_abstract(text, units, synthetic, output_version, sinkmap_version),
        units=units,
        synthetic=synthetic,
        licences=list(licences),
        keywords=_keywords(units, synthetic, output_version, sinkmap_version),
    )


def _abstract(
    what: str,
    units: str,
    synthetic: bool,
    output_version: str,
    sinkmap_version: str,
    extra: str = "",
) -> str:
    parts = []
    if synthetic:
        parts.append(f"{SYNTHETIC_NOTE}.")
    parts.append(what.rstrip(".") + ".")
    if units:
        parts.append(f"Units: {units}.")
    parts.append(f"Sign convention: {PROJECT_SIGN_CONVENTION}.")
    if extra:
        parts.append(extra)
    parts.append(
        f"Made by sinkmap {sinkmap_version}, output contract {output_version} (docs/outputs.md)."
    )
    return " ".join(parts)


def _keywords(
    units: str, synthetic: bool, output_version: str, sinkmap_version: str
) -> dict[str, list[str]]:
    words = {
        "units": [units] if units else [],
        "sign_convention": [PROJECT_SIGN_CONVENTION],
        "synthetic": ["yes" if synthetic else "no"],
        "output_version": [output_version],
        "sinkmap_version": [sinkmap_version],
    }
    return {k: v for k, v in words.items() if v}


# -- the XML ---------------------------------------------------------------------------------------
def project_xml(
    results: Path, top: Sequence[ProjectLayer], groups: Sequence[ProjectGroup], *, title: str
) -> ET.Element:
    """The ``<qgis>`` element of the project: CRS, layer tree, map layers, relative paths."""
    everything = [*top, *(layer for g in groups for layer in g.layers)]
    crs = _crs_of(everything[0])
    root = ET.Element("qgis", {"projectname": title, "version": QGIS_VERSION})
    ET.SubElement(root, "homePath", {"path": ""})
    _text(root, "title", title)
    project_crs = ET.SubElement(root, "projectCrs")
    project_crs.append(_spatialrefsys(crs))

    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for layer in top:
        tree.append(_tree_layer(results, layer))
    for group in groups:
        node = ET.SubElement(
            tree,
            "layer-tree-group",
            {"name": group.name, "checked": "Qt::Checked", "expanded": "1"},
        )
        ET.SubElement(node, "customproperties")
        for layer in group.layers:
            node.append(_tree_layer(results, layer))

    maplayers = ET.SubElement(root, "projectlayers")
    for layer in everything:
        maplayers.append(_map_layer(results, layer))
    order = ET.SubElement(root, "layerorder")
    for layer in everything:
        ET.SubElement(order, "layer", {"id": layer.id})

    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    _text(paths, "Absolute", "false").set("type", "bool")
    srs = ET.SubElement(props, "SpatialRefSys")
    _text(srs, "ProjectionsEnabled", "1").set("type", "int")

    meta = ET.SubElement(root, "projectMetadata")
    for tag in ("identifier", "parentidentifier", "language", "type"):
        ET.SubElement(meta, tag)
    _text(meta, "title", title)
    synthetic = any(layer.synthetic for layer in everything)
    _text(
        meta,
        "abstract",
        (f"{SYNTHETIC_NOTE}. " if synthetic else "")
        + f"Carbon stocks and fluxes of the run in {results.name}/, made by sinkmap "
        f"{__version__}, output contract {OUTPUT_VERSION} (docs/outputs.md). Sign convention: "
        f"{PROJECT_SIGN_CONVENTION}.",
    )
    ET.SubElement(meta, "links")
    _text(meta, "author", "sinkmap")
    return root


def _tree_layer(results: Path, layer: ProjectLayer) -> ET.Element:
    node = ET.Element(
        "layer-tree-layer",
        {
            "id": layer.id,
            "name": layer.name,
            "source": layer.source(results),
            "providerKey": layer.provider,
            "checked": "Qt::Checked" if layer.visible else "Qt::Unchecked",
            "expanded": "1" if layer.visible else "0",
        },
    )
    ET.SubElement(node, "customproperties")
    return node


def _map_layer(results: Path, layer: ProjectLayer) -> ET.Element:
    if layer.provider == "gdal":
        el = ET.Element("maplayer", {"type": "raster", "styleCategories": "AllStyleCategories"})
        extent, crs = _raster_extent(layer.path)
    else:
        geometry = _gpkg_geometry(layer)
        el = ET.Element(
            "maplayer",
            {
                "type": "vector",
                "geometry": "Polygon",
                "wkbType": geometry,
                "styleCategories": "AllStyleCategories",
            },
        )
        extent, crs = _vector_extent(layer)
    ext = ET.SubElement(el, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        _text(ext, tag, repr(float(value)))
    _text(el, "id", layer.id)
    _text(el, "datasource", layer.source(results))
    _text(el, "layername", layer.name)
    srs = ET.SubElement(el, "srs")
    srs.append(_spatialrefsys(crs))
    el.append(_resource_metadata(layer, crs))
    if layer.provider == "gdal":
        _text(el, "provider", "gdal")
        nodata = ET.SubElement(el, "noData")
        ET.SubElement(nodata, "noDataList", {"bandNo": "1", "useSrcNoData": "1"})
        el.extend(_raster_style(layer.path))
    else:
        _text(el, "provider", "ogr").set("encoding", "UTF-8")
        el.extend(_vector_style(layer))
    return el


def _resource_metadata(layer: ProjectLayer, crs: object) -> ET.Element:
    md = ET.Element("resourceMetadata")
    _text(md, "identifier", layer.id)
    ET.SubElement(md, "parentidentifier")
    _text(md, "language", "en")
    _text(md, "type", "dataset")
    _text(md, "title", layer.title)
    _text(md, "abstract", layer.abstract)
    for vocabulary, words in layer.keywords.items():
        kw = ET.SubElement(md, "keywords", {"vocabulary": vocabulary})
        for word in words:
            _text(kw, "keyword", word)
    ET.SubElement(md, "links")
    ET.SubElement(md, "fees")
    if layer.synthetic:
        _text(md, "rights", SYNTHETIC_NOTE)
    for licence in layer.licences:
        _text(md, "license", licence)
    _text(md, "encoding", "UTF-8" if layer.provider == "ogr" else "")
    md_crs = ET.SubElement(md, "crs")
    md_crs.append(_spatialrefsys(crs))
    ET.SubElement(md, "extent")
    return md


def _raster_style(path: Path) -> list[ET.Element]:
    """The renderer pipe of the raster's ``.qml`` sidecar (none: QGIS's default style)."""
    qml = path.with_suffix(".qml")
    if not qml.is_file():
        return []
    style = ET.fromstring(qml.read_text(encoding="utf-8"))
    return [el for el in style if el.tag in ("pipe-data-defined-properties", "pipe", "blendMode")]


def _vector_style(layer: ProjectLayer) -> list[ET.Element]:
    """The renderer of the layer's default style in its GeoPackage's ``layer_styles``."""
    con = sqlite3.connect(f"file:{layer.path}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault "
            "ORDER BY id DESC LIMIT 1",
            (layer.gpkg_layer,),
        ).fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        con.close()
    if not row:
        raise OutputError(
            f"layer {layer.gpkg_layer!r} of {layer.path} has no default style in layer_styles; "
            "re-run the geopackage step (it writes the styles)"
        )
    style = ET.fromstring(row[0])
    keep = ("renderer-v2", "blendMode", "featureBlendMode", "layerOpacity")
    return [el for el in style if el.tag in keep]


def _raster_extent(path: Path) -> tuple[tuple[float, float, float, float], object]:
    import rasterio

    with rasterio.open(path) as ds:
        b = ds.bounds
        return (b.left, b.bottom, b.right, b.top), ds.crs


def _gpkg_geometry(layer: ProjectLayer) -> str:
    import pyogrio

    info = pyogrio.read_info(layer.path, layer=layer.gpkg_layer)
    return str(info["geometry_type"])


def _vector_extent(layer: ProjectLayer) -> tuple[tuple[float, float, float, float], object]:
    import pyogrio

    info = pyogrio.read_info(layer.path, layer=layer.gpkg_layer)
    xmin, ymin, xmax, ymax = info["total_bounds"]
    return (xmin, ymin, xmax, ymax), info["crs"]


def _crs_of(layer: ProjectLayer) -> object:
    if layer.provider == "gdal":
        return _raster_extent(layer.path)[1]
    return _vector_extent(layer)[1]


def _spatialrefsys(crs: object) -> ET.Element:
    """A CRS as QGIS writes it: WKT2, PROJ string, authority id, name."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    auth = c.to_authority()
    el = ET.Element("spatialrefsys", {"nativeFormat": "Wkt"})
    _text(el, "wkt", c.to_wkt())
    with warnings.catch_warnings():  # pyproj: a PROJ string loses information (WKT is kept too)
        warnings.simplefilter("ignore", UserWarning)
        _text(el, "proj4", c.to_proj4())
    _text(el, "srid", auth[1] if auth and auth[0] == "EPSG" else "0")
    _text(el, "authid", f"{auth[0]}:{auth[1]}" if auth else "")
    _text(el, "description", c.name)
    _text(el, "geographicflag", "true" if c.is_geographic else "false")
    return el


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el
