"""What real QGIS makes of sinkmap's outputs: run with the system Python that has PyQGIS.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 pyqgis_probe.py request.json answer.json

PyQGIS lives in Debian's system Python (``python3-qgis``), not in the project's virtualenv, so
the tests run this script in a subprocess and read its JSON answer. The request is an object with

- ``layers``: a list of ``{"uri", "provider" ("gdal" or "ogr"), "name"}``, each optionally with
  ``"render": {"png", "width", "height", "extent": [xmin, ymin, xmax, ymax], "points": [[x, y]]}``:
  the layer is drawn alone (no antialiasing, transparent background) over ``extent`` into a
  ``width`` x ``height`` PNG with QgsMapRendererParallelJob, and the RGBA of the pixel under
  each map point is returned;
- ``project`` (optional): a .qgs/.qgz path read with ``QgsProject.instance().read``: its layer
  tree, every layer as above and the layers QGIS could not load; with ``render`` (as above) the
  map of the layers the project shows, in its order, is drawn and sampled.

Each layer's answer holds what QGIS loaded: validity, CRS, the renderer (its type, and its
palette, colour ramp items or graduated classes as QGIS parsed them) and the layer's metadata.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402 (the platform must be set before Qt loads)
    Qgis,
    QgsApplication,
    QgsColorRampShader,
    QgsCoordinateReferenceSystem,
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize, Qt  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402


def _hex(color: QColor) -> str:
    return f"#{color.red():02x}{color.green():02x}{color.blue():02x}"


def raster_renderer(layer: QgsRasterLayer) -> dict[str, Any]:
    renderer = layer.renderer()
    out: dict[str, Any] = {"type": renderer.type()}
    if renderer.type() == "paletted":
        out["classes"] = [
            {"value": c.value, "color": _hex(c.color), "alpha": c.color.alpha(), "label": c.label}
            for c in renderer.classes()
        ]
    elif renderer.type() == "singlebandpseudocolor":
        shader = renderer.shader().rasterShaderFunction()
        out["minimum"] = shader.minimumValue()
        out["maximum"] = shader.maximumValue()
        out["ramp_type"] = {
            QgsColorRampShader.Interpolated: "INTERPOLATED",
            QgsColorRampShader.Discrete: "DISCRETE",
            QgsColorRampShader.Exact: "EXACT",
        }.get(shader.colorRampType(), str(shader.colorRampType()))
        out["clip"] = shader.clip()
        out["items"] = [
            {"value": i.value, "color": _hex(i.color), "label": i.label}
            for i in shader.colorRampItemList()
        ]
    return out


def vector_renderer(layer: QgsVectorLayer) -> dict[str, Any]:
    renderer = layer.renderer()
    if renderer is None:
        return {"type": None}
    out: dict[str, Any] = {"type": renderer.type()}
    if renderer.type() == "graduatedSymbol":
        out["attribute"] = renderer.classAttribute()
        out["ranges"] = [
            {
                "lower": r.lowerValue(),
                "upper": r.upperValue(),
                "color": _hex(r.symbol().color()),
                "label": r.label(),
            }
            for r in renderer.ranges()
        ]
    elif renderer.type() == "singleSymbol":
        sym = renderer.symbol().symbolLayer(0)
        out["symbol_layer"] = sym.layerType()
        props = sym.properties()
        out["fill_style"] = props.get("style")
        out["fill_color"] = _hex(sym.fillColor()) if hasattr(sym, "fillColor") else None
        out["outline_color"] = _hex(sym.strokeColor()) if hasattr(sym, "strokeColor") else None
        out["outline_width"] = sym.strokeWidth() if hasattr(sym, "strokeWidth") else None
    return out


def metadata(layer: QgsMapLayer) -> dict[str, Any]:
    md = layer.metadata()
    return {
        "title": md.title(),
        "abstract": md.abstract(),
        "keywords": {k: list(v) for k, v in md.keywords().items()},
        "licenses": list(md.licenses()),
        "rights": list(md.rights()),
    }


def render(
    layers: list[QgsMapLayer], spec: dict[str, Any], crs: QgsCoordinateReferenceSystem
) -> dict[str, Any]:
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(int(spec["width"]), int(spec["height"])))
    settings.setExtent(QgsRectangle(*spec["extent"]))
    settings.setBackgroundColor(QColor(Qt.transparent))
    settings.setFlag(QgsMapSettings.Antialiasing, False)  # the QGIS 3.22 API
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(spec["png"], "PNG")
    to_pixel = settings.mapToPixel()
    pixels = []
    for x, y in spec.get("points", []):
        p = to_pixel.transform(QgsPointXY(x, y))
        col, row = int(p.x()), int(p.y())  # the pixel whose square holds the point
        c = image.pixelColor(col, row)
        pixels.append([c.red(), c.green(), c.blue(), c.alpha()])
    return {
        "png": spec["png"],
        "size": [image.width(), image.height()],
        "extent": settings.visibleExtent().toRectF().getCoords(),
        "pixels": pixels,
        "errors": [e.message for e in job.errors()],
    }


def describe(layer: QgsMapLayer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": layer.name(),
        "id": layer.id(),
        "valid": layer.isValid(),
        "source": layer.source(),
        "crs": layer.crs().authid() if layer.crs().isValid() else "",
        "metadata": metadata(layer),
    }
    if isinstance(layer, QgsRasterLayer):
        out["kind"] = "raster"
        if layer.isValid():
            out["renderer"] = raster_renderer(layer)
            out["size"] = [layer.width(), layer.height()]
    elif isinstance(layer, QgsVectorLayer):
        out["kind"] = "vector"
        if layer.isValid():
            out["renderer"] = vector_renderer(layer)
            out["spatial"] = layer.isSpatial()
            out["features"] = layer.featureCount()
    return out


def tree(group: QgsLayerTreeGroup) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for child in group.children():
        if isinstance(child, QgsLayerTreeGroup):
            nodes.append(
                {
                    "group": child.name(),
                    "visible": child.isVisible(),
                    "children": tree(child),
                }
            )
        elif isinstance(child, QgsLayerTreeLayer):
            nodes.append(
                {"layer": child.name(), "id": child.layerId(), "visible": child.isVisible()}
            )
    return nodes


def probe_project(path: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    project = QgsProject.instance()
    ok = project.read(path)
    layers = project.mapLayers()
    absolute, _ = project.readBoolEntry("Paths", "/Absolute", True)
    rendered = None
    if spec is not None:  # the map as the project opens: its shown layers, top first
        root = project.layerTreeRoot()
        shown = [lyr for lyr in root.layerOrder() if root.findLayer(lyr.id()).isVisible()]
        rendered = render(shown, spec, project.crs())
        rendered["layers"] = [lyr.name() for lyr in shown]
    return {
        "render": rendered,
        "read": ok,
        "error": project.error(),
        "title": project.title(),
        "crs": project.crs().authid(),
        "absolute_paths": absolute,
        "tree": tree(project.layerTreeRoot()),
        "layers": [describe(layer) for layer in layers.values()],
        "invalid": [layer.name() for layer in layers.values() if not layer.isValid()],
    }


def main(app: QgsApplication) -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        request = json.load(fh)
    messages: list[list[str]] = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda message, tag, level: messages.append([tag, str(int(level)), message])
    )
    answer: dict[str, Any] = {"qgis_version": Qgis.QGIS_VERSION, "layers": []}
    for spec in request.get("layers", []):
        if spec["provider"] == "gdal":
            layer: QgsMapLayer = QgsRasterLayer(spec["uri"], spec["name"], "gdal")
        else:
            layer = QgsVectorLayer(spec["uri"], spec["name"], spec["provider"])
        info = describe(layer)
        if layer.isValid() and "render" in spec:
            info["render"] = render([layer], spec["render"], layer.crs())
        answer["layers"].append(info)
        del layer  # freed while QGIS is up: a layer outliving exitQgis() crashes Python at exit
    if request.get("project"):
        answer["project"] = probe_project(request["project"], request.get("render"))
    app.processEvents()
    answer["messages"] = messages
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(answer, fh)
    QgsProject.instance().clear()


if __name__ == "__main__":
    APP = QgsApplication([], False)
    APP.initQgis()
    main(APP)
    APP.exitQgis()
