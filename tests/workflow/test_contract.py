"""The output contract: a real workflow run checked against docs/outputs.md, parsed from the doc.

Nothing expected here is typed twice: raster paths, dtypes, nodata, units and tags, CSV columns,
GeoPackage layers, fields and metadata, and the STAC collections and assets are read from the doc's
tables and lists, so a drift in either the doc or the outputs fails a test. Each test gathers every
mismatch and reports them together.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jsonschema
import pandas as pd
import pyogrio
import pystac
import pytest
import rasterio

from sinkmap.publish.stac import offline_validation, validate_catalog

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "outputs.md"
ACCOUNT_SCHEMA = REPO / "docs" / "schemas" / "carbon_account.schema.json"
YEARS = [2020, 2021]
INTERVALS = [(2020, 2021)]
#: The change filter's warm-up year (tinyrun.write_config) and what its folder holds.
WARMUP = [2019]
WARMUP_FILES = ("/land_cover.tif", "/land_cover_filtered.tif", "/change_filter.csv")


@pytest.fixture(scope="module")
def results(published_run: Path) -> Path:
    return published_run / "results"


# -- reading the doc ---------------------------------------------------------------------------
def _section(heading: str) -> str:
    """The body of the ``## <heading>...`` section of docs/outputs.md."""
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    found = [p for p in parts[1:] if p.startswith(heading)]
    assert len(found) == 1, f"docs/outputs.md has {len(found)} sections '## {heading}'"
    return found[0]


def _tables(section: str) -> list[list[list[str]]]:
    """The markdown tables of a section: rows of cells, header and separator dropped."""
    tables, current = [], []
    for line in [*section.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append([r for r in current[1:] if not set("".join(r)) <= set("-: ")])
            current = []
    return tables


def _ticks(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _strip_parens(text: str) -> str:
    while True:
        new = re.sub(r"\([^()]*\)", "", text)
        if new == text:
            return text
        text = new


def _names(text: str) -> list[str]:
    """Column or field names in ``text``: backticked, comma-separated, parentheticals removed."""
    names = []
    for tick in _ticks(_strip_parens(text)):
        for name in tick.split(","):
            name = name.strip()
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.endswith(".csv"):
                names.append(name)
    return names


def _expand(template: str) -> list[Path]:
    """Paths of a doc template (``results/<year>/...``, ``<y0>-<y1>``) for this run."""
    if "<y0>" in template:
        return [
            Path(template.replace("<y0>", str(a)).replace("<y1>", str(b))) for a, b in INTERVALS
        ]
    if "<year>" in template:
        # a warm-up year of the change filter has the land cover, its filtered map and summary
        warm = any(t in template for t in WARMUP_FILES)
        return [Path(template.replace("<year>", str(y))) for y in (WARMUP if warm else []) + YEARS]
    return [Path(template)]


def _doc_rasters() -> dict[Path, dict[str, str]]:
    """results-relative path -> {dtype, nodata, units} for every raster of the Rasters table."""
    (table, _tags_table) = _tables(_section("Rasters"))[:2]
    out = {}
    for path_cell, dtype, nodata, units, *_ in table:
        (template,) = [t for t in _ticks(path_cell) if t.endswith(".tif")]
        values = [None]
        if "∈" in path_cell:
            var, listed = path_cell.split("`,", 1)[1].split("∈")
            values = [v.strip() for v in listed.split(",")]
        for value in values:
            name = template if value is None else template.replace(f"<{var.strip()}>", value)
            for path in _expand(name):
                out[path] = {"dtype": dtype, "nodata": nodata, "units": units}
    return out


def _doc_csv_columns() -> dict[str, list[str]]:
    """Table template -> documented columns, from the Tables section's paragraphs."""
    columns: dict[str, list[str]] = {}
    for para in re.split(r"\n\s*\n", _section("Tables")):
        para = para.strip()
        m = re.match(r"`(results/[^`]+\.csv)` — [^:]*:(.*)", para, flags=re.S)
        if not m:
            continue
        template, body = m.groups()
        names = []
        if "the class summary columns" in body:
            names += columns["results/<year>/class_summary.csv"]
        names += _names(body)
        columns[template] = names
    return columns


def _conditional_csv() -> set[str]:
    """Tables the doc says are written "only with" some setting."""
    return {
        m.group(1)
        for para in re.split(r"\n\s*\n", _section("Tables"))
        if (m := re.match(r"`(results/[^`]+\.csv)` — only with", para.strip()))
    }


# -- rasters -----------------------------------------------------------------------------------
def _nodata_matches(doc: str, actual: float | None) -> bool:
    if doc.lower() == "nan":
        return actual is not None and math.isnan(actual)
    return actual is not None and float(doc) == actual


def test_rasters_match_the_doc(results: Path) -> None:
    doc = _doc_rasters()
    # 2 years x (land cover, biomass, plantation, planting year, ecozone, 5 stocks, SD, 7 state
    # layers) + 1 interval x (sink, 4 pools, 3 gain-loss)
    assert len(doc) >= 44, doc
    heading = _section("Rasters").splitlines()[0]
    grid = json.loads((results / "grid.json").read_text())
    problems = []
    for rel, spec in doc.items():
        path = results.parent / rel
        if not path.is_file():
            problems.append(f"{rel}: documented, not written")
            continue
        with rasterio.open(path) as ds:
            units = ds.tags().get("UNITS")
            if ds.dtypes[0] != spec["dtype"]:
                problems.append(f"{rel}: dtype {ds.dtypes[0]}, doc {spec['dtype']}")
            if not _nodata_matches(spec["nodata"], ds.nodata):
                problems.append(f"{rel}: nodata {ds.nodata}, doc {spec['nodata']}")
            if units != spec["units"]:
                problems.append(f"{rel}: UNITS tag {units!r}, doc {spec['units']!r}")
            if "DEFLATE" in heading and ds.compression.name.upper() != "DEFLATE":
                problems.append(f"{rel}: compression {ds.compression}, doc DEFLATE")
            if "512 × 512" in heading and ds.block_shapes[0] != (512, 512):
                problems.append(f"{rel}: blocks {ds.block_shapes[0]}, doc 512 x 512")
            if (ds.crs.to_string(), ds.width, ds.height, ds.transform.c, ds.transform.f) != (
                grid["crs"],
                grid["width"],
                grid["height"],
                grid["left"],
                grid["top"],
            ):
                problems.append(f"{rel}: not on results/grid.json")
    written = {
        p.relative_to(results.parent) for p in results.rglob("*.tif") if not p.name.startswith(".")
    }
    problems += [f"{rel}: written, not documented" for rel in sorted(written - set(doc))]
    assert not problems, "rasters drift from docs/outputs.md:\n" + "\n".join(problems)


def test_raster_tags_match_the_doc(results: Path) -> None:
    """Every tag of the doc's tag table is on every raster it applies to (qualifiers in the
    meaning column: 'flux layers', 'stock and flux layers', 'aligned inputs', 'categorical';
    `YEAR` or the interval tags)."""
    (_, tag_table) = _tables(_section("Rasters"))[:2]
    problems = []
    for rel in _doc_rasters():
        is_flux = "sink" in rel.parts
        is_stock = rel.name.startswith("carbon_stock_")
        is_state = rel.name.startswith("state_")
        with rasterio.open(results.parent / rel) as ds:
            tags, categorical = ds.tags(), ds.dtypes[0] == "uint8"
        for tag_cell, _example, meaning in tag_table:
            if "stock and flux layers" in meaning and not (is_stock or is_flux):
                continue
            if "aligned" in meaning and (is_stock or is_flux or is_state):
                continue
            if "state layers" in meaning and not is_state:
                continue
            if "categorical" in meaning and not categorical:
                continue
            if "flux layers" in meaning and "stock" not in meaning and not is_flux:
                continue
            if "gain-loss layers" in meaning and not rel.name.startswith("gain_loss"):
                continue
            if "Monte Carlo layers" in meaning and not rel.name.endswith("_sd.tif"):
                continue
            if meaning.startswith("only with"):  # conditional (tests/unit/test_config.py)
                continue
            if " or " in tag_cell:
                year_part, interval_part = tag_cell.split(" or ", 1)
                names = _ticks(interval_part if is_flux else year_part)
            else:
                names = _ticks(tag_cell)
            problems += [f"{rel}: no {name} tag" for name in names if not tags.get(name)]
    assert not problems, "raster tags drift from docs/outputs.md:\n" + "\n".join(problems)


# -- tables ------------------------------------------------------------------------------------
def test_csv_columns_match_the_doc(results: Path) -> None:
    doc = _doc_csv_columns()
    assert set(doc) == {
        "results/<year>/class_summary.csv",
        "results/sink/<y0>-<y1>/class_summary.csv",
        "results/<year>/tile_summary.csv",
        "results/<year>/state_summary.csv",
        "results/<year>/change_filter.csv",
        "results/<year>/account_stocks.csv",
        "results/<year>/monte_carlo.csv",
        "results/<year>/monte_carlo_sensitivity.csv",
        "results/uncertainty_sensitivity.csv",
        "results/carbon_account.csv",
        "results/sink/<y0>-<y1>/change_matrix.csv",
        "results/sink/<y0>-<y1>/ipcc_change_matrix.csv",
        "results/sink/<y0>-<y1>/account_changes.csv",
        "results/sink/<y0>-<y1>/ipcc_summary.csv",
        "results/sink/<y0>-<y1>/monte_carlo_gain_loss.csv",  # only without the carbon state
        "results/sink/<y0>-<y1>/monte_carlo_gain_loss_sensitivity.csv",  # the same
        "results/carbon_account_aois.csv",  # only with several AOIs (tests/workflow/test_aois.py)
    }, sorted(doc)
    assert "results/carbon_account_aois.csv" in _conditional_csv()
    problems = []
    for template, columns in doc.items():
        for rel in _expand(template):
            path = results.parent / rel
            if not path.is_file() and template in _conditional_csv():
                continue
            if not path.is_file():
                problems.append(f"{rel}: documented, not written")
                continue
            header = list(pd.read_csv(path, nrows=0).columns)
            if header != columns:
                problems.append(
                    f"{rel}: columns {header}\n  doc {columns}\n"
                    f"  not in doc: {sorted(set(header) - set(columns))}, "
                    f"not in file: {sorted(set(columns) - set(header))}"
                )
    written = {p.relative_to(results.parent) for p in results.rglob("*.csv")}
    documented = {rel for t in doc for rel in _expand(t)}
    problems += [f"{rel}: written, not documented" for rel in sorted(written - documented)]
    assert not problems, "tables drift from docs/outputs.md:\n" + "\n".join(problems)


def test_geopackage_matches_the_doc(results: Path) -> None:
    section = _section("GeoPackage")
    (table,) = _tables(section)
    csv_columns = _doc_csv_columns()
    doc_layers = {}
    for layer_cell, geometry, fields in table:
        (layer,) = _ticks(layer_cell)
        names = []
        for name in _names(fields):
            if name.endswith(".csv"):
                key = f"results/<year>/{name}"
                names += csv_columns.get(key) or csv_columns[f"results/sink/<y0>-<y1>/{name}"]
            else:
                names.append(name)
        geometry_type = None if geometry.lower().startswith("none") else geometry.split(" (")[0]
        doc_layers[layer] = (geometry_type, names, "years after the first" in geometry)
    meta_sentence = section.split("metadata holds", 1)[1].split(".", 1)[0]
    meta_keys = _ticks(meta_sentence)
    assert "OUTPUT_VERSION" in meta_keys
    (template,) = [t for t in _ticks(section.splitlines()[0]) if t.endswith(".gpkg")]
    grid_crs = json.loads((results / "grid.json").read_text())["crs"]
    problems = []
    for year, rel in zip(YEARS, _expand(template), strict=True):
        path = results.parent / rel
        layers = [name for name, _ in pyogrio.list_layers(path)]
        expected = [k for k, v in doc_layers.items() if year != YEARS[0] or not v[2]]
        if sorted(layers) != sorted(expected):
            problems.append(f"{rel}: layers {sorted(layers)}, doc {sorted(expected)}")
        for layer in set(layers) & set(doc_layers):
            info = pyogrio.read_info(path, layer=layer)
            geometry_type, fields, _ = doc_layers[layer]
            if info["geometry_type"] != geometry_type:
                problems.append(
                    f"{rel}:{layer}: geometry {info['geometry_type']}, doc {geometry_type}"
                )
            if list(info["fields"]) != fields:
                problems.append(f"{rel}:{layer}: fields {list(info['fields'])}\n  doc {fields}")
            if geometry_type and info["crs"] != grid_crs:
                problems.append(f"{rel}:{layer}: CRS {info['crs']}, doc the grid's {grid_crs}")
            meta = info["layer_metadata"] or {}
            if layer == "layer_styles":  # QGIS's table: QGIS's schema, no sinkmap metadata
                continue
            missing = [k for k in meta_keys if not meta.get(k)]
            if missing:
                problems.append(f"{rel}:{layer}: metadata lacks {missing}")
    assert not problems, "GeoPackage drifts from docs/outputs.md:\n" + "\n".join(problems)


# -- STAC and the account JSON -------------------------------------------------------------------
def test_stac_catalog_validates_and_matches_the_doc(results: Path) -> None:
    catalog_path = results / "stac" / "catalog.json"
    assert f"`{catalog_path.relative_to(results.parent)}`" in _section("STAC catalog")
    validate_catalog(catalog_path)
    catalog = pystac.Catalog.from_file(str(catalog_path))
    with offline_validation():
        assert catalog.validate_all() >= 1 + len(YEARS) + len(INTERVALS)
    collections = {c.id: c for c in catalog.get_children()}
    table = _tables(_section("STAC catalog"))[0]
    problems = []
    assert {_ticks(row[0])[0] for row in table} == set(collections)
    for collection_cell, item_cell, _time, assets_cell in table:
        (collection,) = _ticks(collection_cell)
        (item_template,) = _ticks(item_cell)
        # names outside parentheses are fixed keys; `<raster stem>` for each raster of a folder
        fixed = _names(assets_cell)
        rasters = []
        if "<raster stem>" in assets_cell:
            rasters = [t for t in _ticks(_strip_parens(assets_cell)) if t.startswith("results/")]
        items = {i.id: i for i in collections[collection].get_items()}
        if "<year>" in item_template:
            expected = {item_template.replace("<year>", str(y)): str(y) for y in YEARS}
        elif "<y0>" in item_template:
            expected = {
                item_template.replace("<y0>", str(a)).replace("<y1>", str(b)): f"{a}-{b}"
                for a, b in INTERVALS
            }
        else:
            expected = {f"account-{YEARS[0]}-{YEARS[-1]}": ""}
        if set(items) != set(expected):
            problems.append(f"{collection}: items {sorted(items)}, doc {sorted(expected)}")
            continue
        for item_id, when in expected.items():
            keys = set(fixed)
            for folder in rasters:
                folder = folder.replace("<year>", when).replace("<y0>-<y1>", when)
                keys |= {p.stem for p in (results.parent / folder).glob("*.tif")}
                if "<raster stem>_qml" in assets_cell:
                    keys |= {f"{p.stem}_qml" for p in (results.parent / folder).glob("*.qml")}
            # a key the doc says is written "only with" some setting may be absent
            optional = set(re.findall(r"`(\w+)` \(only with", assets_cell))
            if set(items[item_id].assets) - optional != keys - optional:
                problems.append(
                    f"{item_id}: assets {sorted(items[item_id].assets)}, doc {sorted(keys)}"
                )
    # every output file is an asset of some item
    hrefs = {
        Path(a.get_absolute_href()).resolve()
        for i in catalog.get_items(recursive=True)
        for a in i.assets.values()
    }
    # (a warm-up year of the change filter is read by the filter, not published: docs/outputs.md)
    warmup = {str(y) for y in WARMUP}
    files = {
        p.resolve()
        for p in results.rglob("*")
        if p.is_file() and "stac" not in p.parts and not warmup & set(p.relative_to(results).parts)
    }
    problems += [f"{p}: not in the catalog" for p in sorted(files - hrefs)]
    assert not problems, "STAC catalog drifts from docs/outputs.md:\n" + "\n".join(problems)


def test_account_json_validates_against_the_committed_schema(results: Path) -> None:
    schema = json.loads(ACCOUNT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((results / "carbon_account.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
    table = pd.read_csv(results / "carbon_account.csv")
    assert doc["columns"] == list(table.columns) == _doc_csv_columns()["results/carbon_account.csv"]
    assert len(doc["records"]) == len(table) and doc["synthetic"] is True
    for record, (_, row) in zip(doc["records"], table.iterrows(), strict=True):
        assert record["year"] == row["year"]
        assert (record["class_code"] is None) == pd.isna(row["class_code"])
        if record["class_code"] is not None:
            assert record["class_code"] == row["class_code"]
        for column in ("stock_mgc", "net_flux_mgco2e_per_yr", "stock_mgc_p05"):
            if pd.isna(row[column]):
                assert record[column] is None
            else:
                assert record[column] == pytest.approx(row[column])
        if pd.isna(row["net_flux_mgco2e_per_yr"]):
            assert record["interval_start"] is None and record["interval_end"] is None
