"""Every output of a published run opened, styled and drawn by real QGIS (Debian's PyQGIS).

PyQGIS lives in the system Python (``make test`` installs ``qgis`` and ``python3-qgis``), so each
test writes a request, runs ``pyqgis_probe.py`` with ``/usr/bin/python3`` offscreen and reads what
QGIS made of the files: validity, CRS, the renderer it loaded from the ``.qml`` sidecar or the
GeoPackage's ``layer_styles``, and the colours of a map it rendered. The expected colours are
worked out here from the values read with rasterio/pyogrio and the style the contract states
(docs/outputs.md), never from QGIS's answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import yaml
from conftest import PUBLISHED_YEARS
from PIL import Image

from sinkmap.constants import SIGN_CONVENTION
from sinkmap.contract import OUTPUT_VERSION, SYNTHETIC_NOTE
from sinkmap.legends import LEGENDS, WORLDCOVER

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("pyqgis_probe.py")
SYSTEM_PYTHON = "/usr/bin/python3"
CRS = "EPSG:32649"  # the tiny runs' grid (tinyrun.write_config)

# The contract's styles (docs/outputs.md, "Styles"): the legend of each categorical raster, the
# ramp of each continuous one, and the rasters sinkmap leaves to QGIS's default (grey) style.
PALETTED = {
    "land_cover": "worldcover",
    "land_cover_filtered": "worldcover",
    "plantation": "forest_type",
    "ecozone": "gez",
    "state_category": "ipcc_category",
    "state_previous_category": "ipcc_category",
    "state_stratum": "stratum",
}
UNSTYLED: set[str] = set()  # every raster has a style (the four below had none before)
AGES = {"state_age", "state_years_since_conversion"}  # years
YEARS = {"planting_year", "state_last_loss_year"}  # calendar years
# ColorBrewer YlGn (9) and RdBu reversed (11), the ramps the contract names, with their ranges.
YLGN = ["#ffffe5", "#f7fcb9", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d", "#238443", "#006837"]
YLGN.append("#004529")
RDBU_R = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582"]
RDBU_R += ["#d6604d", "#b2182b", "#67001f"]
PURPLES = ["#fcfbfd", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3"]
PURPLES += ["#54278f", "#3f007d"]
YLORBR = ["#ffffe5", "#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#993404"]
YLORBR.append("#662506")
RAMPS = {
    "age": (PURPLES, 0.0, 60.0),
    "year": (YLORBR, 1980.0, 2030.0),
    "stock": (YLGN, 0.0, 400.0),
    "biomass": (YLGN, 0.0, 500.0),
    "flux": (RDBU_R, -100.0, 100.0),
}
# The GeoPackage layers' default styles: the AOI a black outline, the zones a purple one, the
# tiles graduated by their total stock.
AOI_OUTLINE = "#000000"
ZONES_OUTLINE = "#7b3294"


def snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def raster_kind(stem: str) -> str:
    if stem in PALETTED:
        return "paletted"
    if stem in UNSTYLED:
        return "default"
    if stem in AGES:
        return "age"
    if stem in YEARS:
        return "year"
    if stem.startswith(("carbon_stock_", "state_soil_start")):
        return "stock"
    if stem.startswith(("net_flux_co2e", "gain_loss_")):
        return "flux"
    if stem == "biomass":
        return "biomass"
    raise AssertionError(f"the contract names no style for {stem}.tif")


def rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def ramp_color(colors: list[str], lo: float, hi: float, value: float) -> tuple[int, int, int]:
    """The colour of ``value`` on colours evenly spaced from lo to hi, linear in RGB, clamped to
    the end colours (the contract: values beyond the range take the end colours)."""
    stops = np.linspace(lo, hi, len(colors))
    channels = np.array([rgb(c) for c in colors], dtype=float)
    v = min(max(value, lo), hi)
    return tuple(int(round(float(np.interp(v, stops, channels[:, k])))) for k in range(3))  # type: ignore[return-value]


def assert_shows(px: list[int], want: tuple[int, int, int], *where: object) -> None:
    """A rendered pixel (RGBA) is opaque and ``want`` within 2 per channel."""
    close = all(abs(a - b) <= 2 for a, b in zip(px[:3], want, strict=True))
    assert px[3] == 255 and close, (*where, px, want)


def run_qgis(request: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the probe in real QGIS; return its answer and what QGIS and GDAL printed."""
    req, ans = workdir / "request.json", workdir / "answer.json"
    req.write_text(json.dumps(request), encoding="utf-8")
    runtime = workdir / "xdg-runtime"  # Qt wants its own, private
    runtime.mkdir(mode=0o700, exist_ok=True)
    # GDAL_PAM_ENABLED=NO: QGIS computes statistics for the rasters it stretches (those without
    # a style) and GDAL would save them as <name>.tif.aux.xml beside the shared published run
    env = os.environ | {
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(runtime),
        "GDAL_PAM_ENABLED": "NO",
    }
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(PROBE), str(req), str(ans)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=workdir,
    )
    assert proc.returncode == 0, f"PyQGIS failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
    answer: dict[str, Any] = json.loads(ans.read_text(encoding="utf-8"))
    answer["stderr"] = proc.stderr
    return answer


def sample_cells(path: Path, kind: str) -> list[tuple[int, int, float | None]]:
    """A few cells to check: (row, col, value); value None for a nodata cell."""
    with rasterio.open(path) as ds:
        data = ds.read(1).astype("float64")
        nodata = ds.nodata
    valid = ~np.isnan(data) if nodata is None or np.isnan(nodata) else data != nodata
    rows, cols = np.nonzero(valid)
    assert rows.size, f"{path} has no valid cell"
    values = data[rows, cols]
    picks: list[int] = []
    if kind == "paletted":
        for v in np.unique(values)[:6]:  # the first cell of each class present
            picks.append(int(np.flatnonzero(values == v)[0]))
    else:
        order = np.argsort(values, kind="stable")
        picks += [int(order[0]), int(order[-1]), int(order[len(order) // 2])]
        if kind == "flux":  # a removal and an emission where there are both
            for sel in (values < 0, values > 0):
                if sel.any():
                    idx = np.flatnonzero(sel)
                    picks.append(int(idx[len(idx) // 3]))
    cells: list[tuple[int, int, float | None]] = [
        (int(rows[i]), int(cols[i]), float(values[i])) for i in dict.fromkeys(picks)
    ]
    empty = np.argwhere(~valid)
    if empty.size:
        cells.append((int(empty[0][0]), int(empty[0][1]), None))
    return cells


def raster_request(path: Path, out: Path) -> tuple[dict[str, Any], list[tuple]]:
    kind = raster_kind(path.stem)
    with rasterio.open(path) as ds:
        assert ds.crs.to_string() == CRS
        width, height, bounds, transform = ds.width, ds.height, ds.bounds, ds.transform
    cells = sample_cells(path, kind)
    points = [list(transform * (c + 0.5, r + 0.5)) for r, c, _ in cells]
    spec = {
        "uri": str(path),
        "provider": "gdal",
        "name": path.stem,
        "render": {
            "png": str(out),
            "width": width,
            "height": height,
            "extent": [bounds.left, bounds.bottom, bounds.right, bounds.top],
            "points": points,
        },
    }
    return spec, cells


def check_raster(path: Path, layer: dict[str, Any], cells: list[tuple]) -> None:
    stem = path.stem
    kind = raster_kind(stem)
    assert layer["valid"], f"QGIS could not open {path}"
    assert layer["crs"] == CRS, (stem, layer["crs"])
    renderer = layer["renderer"]
    render = layer["render"]
    assert not render["errors"], (stem, render["errors"])
    assert Path(render["png"]).stat().st_size > 0
    with rasterio.open(path) as ds:
        assert render["size"] == [ds.width, ds.height]
    pixels = render["pixels"]
    if kind == "paletted":
        legend = LEGENDS[PALETTED[stem]]
        assert renderer["type"] == "paletted", (stem, renderer["type"])
        palette = {c["value"]: (c["color"], c["label"]) for c in renderer["classes"]}
        assert palette == {c.code: (c.color, c.name) for c in legend}, stem
        colors = {c.code: rgb(c.color) for c in legend}
        for (row, col, value), px in zip(cells, pixels, strict=True):
            if value is None or int(value) not in colors:  # nodata, or a code without a class
                assert px[3] == 0, (stem, row, col, value, px)
            else:
                assert px == [*colors[int(value)], 255], (stem, row, col, value, px)
        return
    if kind == "default":  # no sidecar: QGIS's own grey stretch
        assert not path.with_suffix(".qml").exists()
        assert renderer["type"] == "singlebandgray", (stem, renderer["type"])
        for (row, col, value), px in zip(cells, pixels, strict=True):
            if value is None:
                assert px[3] == 0, (stem, row, col, px)
            else:
                assert px[0] == px[1] == px[2] and px[3] == 255, (stem, row, col, value, px)
        return
    colors, lo, hi = RAMPS[kind]
    assert renderer["type"] == "singlebandpseudocolor", (stem, renderer["type"])
    assert renderer["ramp_type"] == "INTERPOLATED" and not renderer["clip"], stem
    assert (renderer["minimum"], renderer["maximum"]) == (lo, hi), stem
    items = renderer["items"]
    assert [i["color"] for i in items] == colors, stem
    assert [i["value"] for i in items] == pytest.approx(list(np.linspace(lo, hi, len(colors))))
    if kind == "flux":  # diverging, centred on 0: removals blue, emissions red
        mid = len(items) // 2
        assert items[mid]["value"] == pytest.approx(0.0) and lo == -hi
        for item in items:
            r, _, b = rgb(item["color"])
            if item["value"] < 0:
                assert b > r, item
            elif item["value"] > 0:
                assert r > b, item
    else:  # sequential: darker with more carbon
        lum = [sum(rgb(i["color"])) for i in items]
        assert lum == sorted(lum, reverse=True), stem
    for (row, col, value), px in zip(cells, pixels, strict=True):
        if value is None:
            assert px[3] == 0, (stem, row, col, px)
            continue
        assert_shows(px, ramp_color(colors, lo, hi, value), stem, row, col, value)


def graduated_color(breaks_qml: str, value: float) -> str | None:
    """The colour of the class of ``value`` in a graduated QML: the range it falls in."""
    root = ET.fromstring(breaks_qml)
    symbols = {
        s.get("name"): s.find("layer/prop[@k='color']").get("v")  # type: ignore[union-attr]
        for s in root.iterfind("renderer-v2/symbols/symbol")  # not the source symbol
    }
    for r in root.iter("range"):
        if float(r.get("lower", "nan")) <= value <= float(r.get("upper", "nan")):
            qcolor = symbols[r.get("symbol")].split(",")
            return "#" + "".join(f"{int(c):02x}" for c in qcolor[:3])
    return None


def vector_request(gpkg: Path, layer: str, out: Path) -> tuple[dict[str, Any], list[Any]]:
    info = pyogrio.read_info(gpkg, layer=layer)
    spec: dict[str, Any] = {"uri": f"{gpkg}|layername={layer}", "provider": "ogr", "name": layer}
    if info["geometry_type"] is None:
        return spec, []
    frame = pyogrio.read_dataframe(gpkg, layer=layer)
    xmin, ymin, xmax, ymax = frame.total_bounds
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    width = 400
    height = int(round(width * (ymax - ymin) / (xmax - xmin)))
    # a point well inside each feature (away from its outline), with its attributes
    inner = [g.buffer(-0.1 * np.sqrt(g.area)).representative_point() for g in frame.geometry]
    spec["render"] = {
        "png": str(out),
        "width": width,
        "height": height,
        "extent": [xmin, ymin, xmax, ymax],
        "points": [[p.x, p.y] for p in inner],
    }
    return spec, [frame.drop(columns="geometry").iloc[i] for i in range(len(frame))]


def check_vector(gpkg: Path, name: str, layer: dict[str, Any], rows: list[Any]) -> None:
    assert layer["valid"], f"QGIS could not open layer {name} of {gpkg}"
    info = pyogrio.read_info(gpkg, layer=name)
    assert layer["features"] == info["features"], name
    if info["geometry_type"] is None:
        assert not layer["spatial"], name
        return
    assert layer["spatial"] and layer["crs"] == CRS, (name, layer["crs"])
    renderer, render = layer["renderer"], layer["render"]
    assert not render["errors"], (name, render["errors"])
    png = Path(render["png"])
    if name == "tiles":
        assert renderer["type"] == "graduatedSymbol", (name, renderer)
        assert renderer["attribute"] == "stock_total_mgc"
        qml = stored_style(gpkg, name)
        for row, px in zip(rows, render["pixels"], strict=True):
            want = graduated_color(qml, float(row["stock_total_mgc"]))
            assert want is not None, row
            assert px == [*rgb(want), 255], (name, row["tile_id"], px, want)
        # the classes are the stock ramp's colours, lighter for less carbon
        lum = [sum(rgb(r["color"])) for r in renderer["ranges"]]
        assert lum == sorted(lum, reverse=True)
        return
    outline = {"aoi": AOI_OUTLINE, "zones": ZONES_OUTLINE}.get(name)
    assert outline is not None, f"the contract names no style for layer {name}"
    assert renderer["type"] == "singleSymbol", (name, renderer)
    assert renderer["fill_style"] == "no" and renderer["outline_color"] == outline, (name, renderer)
    for px in render["pixels"]:  # no fill: the map shows through inside the polygons
        assert px[3] == 0, (name, px)
    image = np.asarray(Image.open(png).convert("RGBA"))
    drawn = image[image[..., 3] > 0]
    assert len(drawn) > 100, f"{name}: nothing drawn"
    assert {tuple(int(v) for v in p[:3]) for p in drawn} == {rgb(outline)}, name


def stored_style(gpkg: Path, layer: str) -> str:
    import sqlite3

    con = sqlite3.connect(gpkg)
    try:
        row = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault", (layer,)
        ).fetchone()
    finally:
        con.close()
    assert row, f"no default style of layer {layer} in {gpkg}"
    return str(row[0])


def test_every_raster_and_geopackage_layer_opens_styled_in_qgis(
    published_run: Path, tmp_path: Path
) -> None:
    results = published_run / "results"
    rasters = sorted(results.rglob("*.tif"))
    gpkgs = sorted(results.rglob("*.gpkg"))
    assert len(rasters) > 40 and len(gpkgs) == 2  # two years + the warm-up year, one interval
    layers: list[dict[str, Any]] = []
    checks: list[Any] = []
    for i, tif in enumerate(rasters):
        spec, cells = raster_request(tif, tmp_path / f"r{i:02d}_{tif.stem}.png")
        layers.append(spec)
        checks.append(("raster", tif, cells))
    for gpkg in gpkgs:
        for name, _ in pyogrio.list_layers(gpkg):
            spec, rows = vector_request(gpkg, name, tmp_path / f"{gpkg.stem}_{name}.png")
            layers.append(spec)
            checks.append(("vector", gpkg, name, rows))
    before = snapshot(results)
    answer = run_qgis({"layers": layers}, tmp_path)
    assert snapshot(results) == before  # QGIS read the files and left them as they were
    assert answer["qgis_version"].startswith("3.")
    assert len(answer["layers"]) == len(checks)
    for layer, check in zip(answer["layers"], checks, strict=True):
        if check[0] == "raster":
            check_raster(check[1], layer, check[2])
        else:
            check_vector(check[1], check[2], layer, check[3])
    # the land cover is drawn in the WorldCover palette: its pixels are its classes' colours
    lc = next(c for c in checks if c[0] == "raster" and c[1].stem == "land_cover")
    assert len([v for _, _, v in lc[2] if v is not None]) >= 2
    assert {c.code for c in WORLDCOVER} >= {int(v) for _, _, v in lc[2] if v is not None}
    # GDAL in QGIS 3.22 reads GeoPackage 1.4 "only partially": the files must not need it
    assert "partially supported" not in answer["stderr"], answer["stderr"][:2000]
    gdal_said = [ln for ln in answer["stderr"].splitlines() if ln.startswith(("Warning", "ERROR"))]
    assert not gdal_said, gdal_said[:5]


def test_the_run_opens_as_a_qgis_project_with_nothing_to_fix(
    published_run: Path, tmp_path: Path
) -> None:
    results = published_run / "results"
    qgz = results / "sinkmap.qgz"
    with zipfile.ZipFile(qgz) as zf:
        assert zf.namelist() == ["sinkmap.qgs"]
        qgs = ET.fromstring(zf.read("sinkmap.qgs"))
    sources = [e.text or "" for e in qgs.iter("datasource")]
    assert sources and all(s.startswith("./") for s in sources), sources[:3]
    # relative paths: the project still opens with results/ moved elsewhere
    moved = tmp_path / "moved"
    shutil.copytree(results, moved)
    stock = moved / "2020" / "carbon_stock_total.tif"
    cells = inner_cells(stock, moved / "2021" / "sinkmap_2021.gpkg")
    with rasterio.open(stock) as ds:
        b, transform = ds.bounds, ds.transform
        spec = {
            "png": str(tmp_path / "project.png"),
            "width": ds.width,
            "height": ds.height,
            "extent": [b.left, b.bottom, b.right, b.top],
            "points": [list(transform * (c + 0.5, r + 0.5)) for r, c, _ in cells],
        }
    answer = run_qgis({"project": str(moved / "sinkmap.qgz"), "render": spec}, tmp_path)
    project = answer["project"]
    assert project["read"] and not project["error"], project["error"]
    assert project["invalid"] == []  # no bad layers: nothing to fix
    assert project["crs"] == CRS and project["absolute_paths"] is False
    assert "partially supported" not in answer["stderr"]
    layers = {layer["name"]: layer for layer in project["layers"]}
    for layer in layers.values():
        assert layer["valid"] and layer["crs"] == CRS, layer["name"]
        assert Path(layer["source"].split("|")[0]).is_relative_to(moved), layer["source"]

    # the layer tree: AOI and zones on top, a group per year, then per interval, in order
    tree = project["tree"]
    years = [str(y) for y in PUBLISHED_YEARS]
    intervals = [f"{a}-{b}" for a, b in zip(PUBLISHED_YEARS, PUBLISHED_YEARS[1:], strict=False)]
    top = [node.get("layer") or node.get("group") for node in tree]
    assert top == ["AOI", f"zones {years[-1]}", *years, *intervals]
    assert tree[0]["visible"] and tree[1]["visible"]
    in_project: set[Path] = set()
    for node in tree[2:]:
        name = node["group"]
        folder = results / name if name in years else results / "sink" / name
        principal = "carbon_stock_total" if name in years else "net_flux_co2e"
        stems = sorted(p.stem for p in folder.glob("*.tif") if p.stem != principal)
        expected = [f"{s} {name}" for s in [principal, *stems]]
        if name in years:
            expected += [f"zones {name}", f"tiles {name}"]
        children = node["children"]
        assert [c["layer"] for c in children] == expected, name
        assert node["visible"] and [c["visible"] for c in children] == [True] + [False] * (
            len(children) - 1
        )
        in_project |= {(folder / f"{s}.tif").resolve() for s in [principal, *stems]}
    # every published raster is in the project (the warm-up year's are not published)
    published = {
        p.resolve()
        for y in [*years, "sink"]
        for p in (results / y).rglob("*.tif")
        if y == "sink" or p.parent.name == y
    }
    assert in_project == published

    # each layer styled as its file opens on its own
    for name, layer in layers.items():
        stem, _, when = name.rpartition(" ")
        renderer = layer["renderer"]
        if stem in ("AOI", "zones", "tiles", ""):
            if stem == "tiles":
                assert renderer["type"] == "graduatedSymbol"
                assert renderer["attribute"] == "stock_total_mgc"
            else:
                outline = AOI_OUTLINE if name == "AOI" else ZONES_OUTLINE
                assert renderer["fill_style"] == "no" and renderer["outline_color"] == outline
            continue
        kind = raster_kind(stem)
        if kind == "paletted":
            palette = {c["value"]: c["color"] for c in renderer["classes"]}
            assert palette == {c.code: c.color for c in LEGENDS[PALETTED[stem]]}, name
        elif kind == "default":
            assert renderer["type"] == "singlebandgray", name
        else:
            colors, lo, hi = RAMPS[kind]
            assert renderer["type"] == "singlebandpseudocolor", name
            assert (renderer["minimum"], renderer["maximum"]) == (lo, hi), name
            assert [i["color"] for i in renderer["items"]] == colors, name

    # metadata from the contract: title, abstract, units, sign convention, licence, synthetic
    registry = yaml.safe_load((REPO / "config" / "datasets.yaml").read_text(encoding="utf-8"))
    for name, layer in layers.items():
        md = layer["metadata"]
        path = Path(layer["source"].split("|")[0])
        if path.suffix == ".tif":
            with rasterio.open(path) as ds:
                tags, title = ds.tags(), ds.descriptions[0]
            units = tags["UNITS"]
            datasets = {rec["dataset"] for rec in json.loads(tags["SOURCES"])}
            assert md["title"] == title, name
            assert md["licenses"] == [f"{d}: {registry[d]['licence']}" for d in sorted(datasets)]
        else:
            layer_name = layer["source"].split("layername=")[1]
            units = pyogrio.read_info(path, layer=layer_name)["layer_metadata"]["UNITS"]
            assert md["title"].startswith({"aoi": "Area of interest"}.get(layer_name, ""))
            assert md["licenses"], name
        assert md["abstract"].startswith(SYNTHETIC_NOTE), name
        assert f"Units: {units}." in md["abstract"], name
        assert md["keywords"]["units"] == [units], name
        assert md["keywords"]["sign_convention"] == [SIGN_CONVENTION], name
        assert md["keywords"]["synthetic"] == ["yes"], name
        assert md["keywords"]["output_version"] == [OUTPUT_VERSION], name
        assert md["rights"] == [SYNTHETIC_NOTE], name

    # the map as the project opens: the 2020 total stock under the outlines, in the stock ramp
    rendered = project["render"]
    assert rendered["layers"][:3] == ["AOI", f"zones {years[-1]}", f"carbon_stock_total {years[0]}"]
    colors, lo, hi = RAMPS["stock"]
    for (row, col, value), px in zip(cells, rendered["pixels"], strict=True):
        assert_shows(px, ramp_color(colors, lo, hi, value), row, col, value)


def inner_cells(tif: Path, gpkg: Path, n: int = 5) -> list[tuple[int, int, float]]:
    """Cells with a value, 50 m or more from the AOI's and the zones' outlines (drawn on top)."""
    with rasterio.open(tif) as ds:
        data = ds.read(1).astype("float64")
        transform = ds.transform
    lines = shapely.union_all(
        [
            shapely.boundary(g)
            for layer in ("aoi", "zones")
            for g in pyogrio.read_dataframe(gpkg, layer=layer).geometry
        ]
    )
    rows, cols = np.nonzero(~np.isnan(data))
    order = np.argsort(data[rows, cols], kind="stable")  # from the least to the most carbon
    cells: list[tuple[int, int, float]] = []
    for i in order[:: max(1, len(order) // 200)]:
        r, c = int(rows[i]), int(cols[i])
        x, y = transform * (c + 0.5, r + 0.5)
        value = float(data[r, c])
        if (not cells or value > cells[-1][2]) and shapely.Point(x, y).distance(lines) >= 50:
            cells.append((r, c, value))  # one cell per value, from low to high
    assert len(cells) >= n, cells
    picks = np.linspace(0, len(cells) - 1, n).round().astype(int)
    return [cells[i] for i in dict.fromkeys(picks.tolist())]
