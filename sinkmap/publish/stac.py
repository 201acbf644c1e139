"""A self-contained static STAC catalog of a finished results folder.

:func:`build_catalog` scans ``results/`` and writes ``results/stac/catalog.json`` with three
collections: ``stocks`` (one item per year), ``sinks`` (one item per interval) and ``account`` (one
item: the account table and the grid). Every raster asset carries the projection, raster and file
extensions, read from the file itself; every asset carries its size and SHA-256 (multihash). Hrefs
are relative, so the results folder can be moved or served as it is.

Validation is offline: the STAC core schemas ship with pystac, the three extension schemas are
vendored in ``sinkmap/publish/schemas/`` (see the README there) and the PROJJSON schema comes with
pyproj. :class:`OfflineValidator` refuses to fetch any other schema instead of going to the network.
The catalog is built in a temporary sibling folder, validated, and only then renamed onto
``results/stac``, so an invalid or half-written catalog is never published.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pystac
import rasterio
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import (
    DataType,
    NoDataStrings,
    RasterBand,
    RasterExtension,
    Sampling,
)
from pystac.validation import JsonSchemaSTACValidator, RegisteredValidator, set_validator
from pystac.validation.stac_validator import GetSchemaError

from sinkmap import __version__
from sinkmap.constants import (
    POOLS,
    SIGN_CONVENTION,
    UNITS_FLUX,
    UNITS_FLUX_TOTAL,
    UNITS_STOCK,
    UNITS_STOCK_TOTAL,
)
from sinkmap.contract import ACCOUNT_UNITS, FLUX_TITLE, OUTPUT_VERSION, YEAR_QUICKLOOKS
from sinkmap.errors import OutputError
from sinkmap.files import sha256_file
from sinkmap.grid import Grid
from sinkmap.paths import Paths

#: Folder of the catalog inside the results folder, and the catalog file in it.
STAC_DIR = "stac"
CATALOG_FILE = "catalog.json"

MEDIA_COG = pystac.MediaType.COG
MEDIA_CSV = "text/csv"
MEDIA_GPKG = pystac.MediaType.GEOPACKAGE
MEDIA_JSON = pystac.MediaType.JSON

_INTERVAL = re.compile(r"^(\d{4})-(\d{4})$")

#: Units of the per-class CSV tables (and GeoPackage fields), by column.
_MATRIX_UNITS: dict[str, str | None] = {
    "area_ha": "ha",
    "stock_t1_mgc": "Mg C",
    "stock_t2_mgc": "Mg C",
    "stock_change_mgc": "Mg C",
    "stock_change_mgc_per_yr": "Mg C yr-1",
    "co2e_mgco2e": "Mg CO2e",
    "co2e_mgco2e_per_yr": "Mg CO2e yr-1",
}
MEDIA_QML = "application/xml"
MEDIA_HTML = "text/html"
MEDIA_PARQUET = "application/vnd.apache.parquet"
#: A QGIS project (.qgz): a zip holding the project's .qgs XML. No registered media type exists.
MEDIA_QGZ = "application/zip"
MEDIA_PNG = pystac.MediaType.PNG

#: Units of the account's building blocks (tallies, IPCC summary, Monte Carlo draws), by column.
_TALLY_UNITS: dict[str, str | None] = dict(ACCOUNT_UNITS) | {
    "living_biomass_mgc_per_yr": "Mg C yr-1",
    "dead_organic_matter_mgc_per_yr": "Mg C yr-1",
    "soil_mgc_per_yr": "Mg C yr-1",
    "total_mgc_per_yr": "Mg C yr-1",
    "net_co2e_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "gl_gains_mgc_per_yr": "Mg C yr-1",
    "gl_losses_mgc_per_yr": "Mg C yr-1",
    "gl_net_co2e_mgco2e_per_yr": UNITS_FLUX_TOTAL,
}
#: Units of the class and tile summaries of a year and an interval (their own columns, not the
#: account's).
_SUMMARY_UNITS: dict[str, str | None] = {
    "area_ha": "ha",
    **{f"stock_{p}_mgc": UNITS_STOCK_TOTAL for p in POOLS},
    "stock_total_mgc": UNITS_STOCK_TOTAL,
    "stock_density_mgc_per_ha": UNITS_STOCK,
    "net_flux_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "emissions_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "removals_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "net_flux_mgco2e_per_ha_yr": UNITS_FLUX,
}


# -- offline validation ----------------------------------------------------------------------------
def vendored_schemas() -> dict[str, dict[str, Any]]:
    """The vendored extension schemas (projection, raster, file) and pyproj's PROJJSON, by URI."""
    schemas: dict[str, dict[str, Any]] = {}
    folder = resources.files("sinkmap.publish").joinpath("schemas")
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            schema = json.loads(entry.read_text(encoding="utf-8"))
            schemas[schema["$id"].rstrip("#")] = schema
    projjson = _projjson_schema()
    if projjson is not None:
        schemas[projjson["$id"].rstrip("#")] = projjson
    return schemas


def _projjson_schema() -> dict[str, Any] | None:
    """PROJJSON's schema as shipped in pyproj's PROJ data folder (referenced by proj:projjson)."""
    try:
        from pyproj.datadir import get_data_dir

        path = Path(get_data_dir()) / "projjson.schema.json"
        return json.loads(path.read_text(encoding="utf-8"))
    except (ImportError, OSError, ValueError):
        return None


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON-Schema validator with every schema local; never reaches the network.

    Core schemas come from pystac (``get_local_schema_cache``), extension schemas from
    :func:`vendored_schemas`. A schema that is in neither raises a :class:`GetSchemaError` naming
    it, so a catalog that declares an extension sinkmap has not vendored fails loudly.
    """

    def __init__(self) -> None:
        super().__init__()
        self.schema_cache.update(vendored_schemas())

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        key = schema_uri.rstrip("#")
        if key in self.schema_cache:
            return self.schema_cache[key]
        if schema_uri in self.schema_cache:
            return self.schema_cache[schema_uri]
        raise GetSchemaError(
            schema_uri,
            LookupError(
                f"schema {schema_uri} is not available offline; vendor it under "
                "sinkmap/publish/schemas/ (see the README there)"
            ),
        )


@contextlib.contextmanager
def offline_validation() -> Iterator[OfflineValidator]:
    """Make :class:`OfflineValidator` pystac's registered validator for the block, then restore."""
    previous = RegisteredValidator.get_validator()
    validator = OfflineValidator()
    set_validator(validator)
    try:
        yield validator
    finally:
        set_validator(previous)


def validate_catalog(catalog_json: Path) -> None:
    """Validate a written catalog, its children and items (pystac ``validate_all``), offline, and
    check that every asset href points at an existing file. Raises on the first problem."""
    catalog_json = Path(catalog_json)
    stac_dict = json.loads(catalog_json.read_text(encoding="utf-8"))
    # validate_all(dict, href) is deprecated in favour of validate_all_dict (pystac >= 1.14)
    validate_all = getattr(pystac.validation, "validate_all_dict", pystac.validation.validate_all)
    with offline_validation():
        validate_all(stac_dict, str(catalog_json))
    missing = []
    for item_json in catalog_json.parent.rglob("*.json"):
        data = json.loads(item_json.read_text(encoding="utf-8"))
        for key, asset in data.get("assets", {}).items():
            if not (item_json.parent / asset["href"]).resolve().is_file():
                missing.append(f"{item_json.name}: {key} -> {asset['href']}")
    if missing:
        raise OutputError(f"STAC assets point at missing files: {missing}")


# -- building ----------------------------------------------------------------------------------
def build_catalog(results_dir: Path, *, title: str, synthetic: bool) -> Path:
    """Describe the finished ``results_dir`` as a self-contained STAC catalog; return its path.

    ``synthetic`` is the run's demo-data flag; it must agree with the ``SYNTHETIC`` tags of the
    rasters (an :class:`OutputError` otherwise, so demo data is never published as real data).
    The catalog is written to ``results_dir/stac/catalog.json`` atomically and validated offline.
    """
    results_dir = Path(results_dir).resolve()
    years = Paths(results_dir).accounted_years()
    if not years:
        raise OutputError(
            f"no year folders with stocks (results/<year>/carbon_stock_total.tif) in "
            f"{results_dir}; run the workflow before building the STAC catalog"
        )
    sink_root = results_dir / "sink"
    intervals = sorted(
        (int(m[1]), int(m[2]))
        for p in (sink_root.iterdir() if sink_root.is_dir() else [])
        if p.is_dir() and (m := _INTERVAL.match(p.name))
    )

    stocks = pystac.Collection(
        id="stocks",
        title="Carbon stocks per year",
        description=f"Carbon stock per pool ({', '.join(POOLS)}) and total in {UNITS_STOCK}, the "
        "land cover and inputs on the grid, per-class and per-tile summaries and the year's "
        "GeoPackage.",
        extent=_empty_extent(),
        license="other",
    )
    sinks = pystac.Collection(
        id="sinks",
        title="Net CO2e flux per interval",
        description=f"Net CO2e flux by stock difference in {UNITS_FLUX}; {SIGN_CONVENTION}.",
        extent=_empty_extent(),
        license="other",
    )
    account = pystac.Collection(
        id="account",
        title="Carbon account",
        description="The account table (one row per year and class, with provenance) and the "
        "run's grid.",
        extent=_empty_extent(),
        license="other",
    )
    footprints = {y: _footprint(results_dir / str(y) / f"sinkmap_{y}.gpkg") for y in years}
    for year in years:
        stocks.add_item(_year_item(results_dir, year, footprints[year]))
    for y0, y1 in intervals:
        if y1 not in footprints:
            raise OutputError(
                f"{sink_root / f'{y0}-{y1}'} has no year folder {y1}; re-run the workflow"
            )
        sinks.add_item(_interval_item(results_dir, y0, y1, footprints[y1]))
    account_item = _account_item(results_dir, years, footprints[years[-1]])
    if account_item is not None:
        account.add_item(account_item)

    flags = {
        bool(item.properties["sinkmap:synthetic"])
        for c in (stocks, sinks, account)
        for item in c.get_items()
    }
    if flags and flags != {synthetic}:
        raise OutputError(
            f"build_catalog(synthetic={synthetic}) but the outputs say synthetic="
            f"{sorted(flags)} (SYNTHETIC tags / synthetic column); pass the run's flag "
            "(true when any configured input is synthetic demo data)"
        )

    description = (
        f"{title}: carbon stocks ({UNITS_STOCK}) and net CO2e flux ({UNITS_FLUX}, {SIGN_CONVENTION}) "
        f"made by sinkmap {__version__}, output contract {OUTPUT_VERSION} (docs/outputs.md)."
    )
    if synthetic:
        description += " SYNTHETIC DEMO DATA: not a real measurement."
    catalog = pystac.Catalog(
        id="sinkmap",
        title=title,
        description=description,
        extra_fields={
            "sinkmap:synthetic": synthetic,
            "sinkmap:output_version": OUTPUT_VERSION,
            "sinkmap:sinkmap_version": __version__,
        },
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    for collection in (stocks, sinks, account):
        if any(True for _ in collection.get_items()):
            collection.update_extent_from_items()
            catalog.add_child(collection)

    final = results_dir / STAC_DIR
    _remove_stale_folders(final)
    # no dot-suffix in the folder name: pystac would take "x.part" for a file and use its parent
    tmp = results_dir / f".{STAC_DIR}-{uuid.uuid4().hex[:8]}-part"
    try:
        catalog.normalize_hrefs(str(tmp))
        catalog.make_all_asset_hrefs_relative()
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        validate_catalog(tmp / CATALOG_FILE)
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / CATALOG_FILE


def build_aois_catalog(results_dir: Path, children: dict[str, Path], *, title: str) -> Path:
    """The catalog of a run with several AOIs: ``results_dir/stac/catalog.json``, a child link to
    each AOI's own catalog (AOI name → its ``catalog.json``, built by :func:`build_catalog`),
    validated offline with them. Synthetic when any AOI's catalog is."""
    results_dir = Path(results_dir).resolve()
    synthetic = False
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": f"./{CATALOG_FILE}", "type": "application/json", "title": title}
    ]
    for name, child in children.items():
        child = Path(child).resolve()
        data = json.loads(child.read_text(encoding="utf-8"))
        synthetic |= bool(data.get("sinkmap:synthetic"))
        href = os.path.relpath(child, results_dir / STAC_DIR)
        links.append({"rel": "child", "href": href, "type": "application/json", "title": name})
    description = (
        f"{title}: {len(children)} AOIs, each its own catalog (carbon stocks in {UNITS_STOCK}, net "
        f"CO2e flux in {UNITS_FLUX}, {SIGN_CONVENTION}); their accounts and sum in "
        f"carbon_account_aois.csv beside this folder. sinkmap {__version__}, output contract "
        f"{OUTPUT_VERSION} (docs/outputs.md)."
    )
    if synthetic:
        description += " SYNTHETIC DEMO DATA: not a real measurement."
    catalog = {
        "type": "Catalog",
        "stac_version": pystac.get_stac_version(),
        "id": "sinkmap-aois",
        "title": title,
        "description": description,
        "sinkmap:synthetic": synthetic,
        "sinkmap:output_version": OUTPUT_VERSION,
        "sinkmap:sinkmap_version": __version__,
        "links": links,
    }
    final = results_dir / STAC_DIR
    _remove_stale_folders(final)
    tmp = results_dir / f".{STAC_DIR}-{uuid.uuid4().hex[:8]}-part"  # beside final: same hrefs
    try:
        tmp.mkdir()
        (tmp / CATALOG_FILE).write_text(json.dumps(catalog, indent=2), encoding="utf-8")
        validate_catalog(tmp / CATALOG_FILE)
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / CATALOG_FILE


def _empty_extent() -> pystac.Extent:
    """A placeholder extent, replaced by the items' extent before the catalog is written."""
    unknown: list[list[datetime | None]] = [[None, None]]
    return pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
        pystac.TemporalExtent(unknown),
    )


def _remove_stale_folders(dst: Path) -> None:
    """Remove the ``.<name>-<8 hex>-part`` and ``-old`` folders a killed job left beside ``dst``
    (a ``kill -9`` runs no cleanup; Snakemake runs one job per catalog at a time)."""
    for kind in ("part", "old"):
        for stale in dst.parent.glob(f".{dst.name}-{'[0-9a-f]' * 8}-{kind}"):
            shutil.rmtree(stale, ignore_errors=True)


def _replace_dir(src: Path, dst: Path) -> None:
    """Put the folder ``src`` at ``dst``: renames only; an old ``dst`` is removed afterwards."""
    old = dst.with_name(f".{dst.name}-{uuid.uuid4().hex[:8]}-old")
    if dst.exists():
        os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        if old.exists():
            os.replace(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- items ---------------------------------------------------------------------------------------
def _year_item(results: Path, year: int, geometry: dict[str, Any]) -> pystac.Item:
    folder = results / str(year)
    rasters = sorted(p for p in folder.glob("*.tif") if not p.name.startswith("."))
    if not rasters:
        raise OutputError(f"no rasters in {folder}; re-run the workflow for {year}")
    item = _item(
        f"stocks-{year}",
        geometry,
        datetime=datetime(year, 7, 1, tzinfo=UTC),
        start=datetime(year, 1, 1, tzinfo=UTC),
        end=datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    item.properties["sinkmap:year"] = year
    principal = folder / "carbon_stock_total.tif"
    _add_rasters(item, rasters, principal if principal in rasters else rasters[0])
    gpkg = folder / f"sinkmap_{year}.gpkg"
    _add_table(item, "class_summary", folder / "class_summary.csv", "Class summary", _SUMMARY_UNITS)
    _add_table(item, "tile_summary", folder / "tile_summary.csv", "Tile summary", _SUMMARY_UNITS)
    _add_table(
        item,
        "state_summary",
        folder / "state_summary.csv",
        "The carbon state: area and stock by land category, transition and stratum",
        _SUMMARY_UNITS,
    )
    _add_table(
        item,
        "change_filter",
        folder / "change_filter.csv",
        "Changed areas before and after change filtering (persistence, minimum mapping unit)",
        {"area_ha": "ha"},
    )
    _add_table(
        item,
        "account_stocks",
        folder / "account_stocks.csv",
        "Stocks by zone, class and pool",
        _TALLY_UNITS,
    )
    _add_table(
        item,
        "monte_carlo",
        folder / "monte_carlo.csv",
        "Monte Carlo totals by draw, zone and pool",
        _TALLY_UNITS,
    )
    _add_table(
        item,
        "monte_carlo_sensitivity",
        folder / "monte_carlo_sensitivity.csv",
        "Monte Carlo totals of the AOI by draw with one parameter held at its value",
        _TALLY_UNITS,
    )
    if gpkg.is_file():
        _add_file(
            item,
            "geopackage",
            gpkg,
            MEDIA_GPKG,
            f"AOI, class summary with the sink, tiles ({year})",
            ["data"],
        )
        ProjectionExtension.ext(
            item.assets["geopackage"], add_if_missing=True
        ).code = item.properties.get("proj:code")
        if "sinkmap:sign_convention" not in item.properties:
            item.properties["sinkmap:sign_convention"] = _gpkg_meta(gpkg).get(
                "SIGN_CONVENTION", SIGN_CONVENTION
            )
    for name, (_layer, _kind, title) in YEAR_QUICKLOOKS.items():
        _add_quicklook(
            item, folder / f"quicklook_{name}.png", title.format(year=year), name == "stock"
        )
    return item


def _add_quicklook(item: pystac.Item, png: Path, title: str, thumbnail: bool) -> None:
    """A quick look of the item (``quicklook_<name>`` when ``png`` exists): role ``overview``,
    and ``thumbnail`` too for the map of the item's principal layer."""
    if png.is_file():
        roles = ["thumbnail", "overview"] if thumbnail else ["overview"]
        _add_file(item, png.stem, png, MEDIA_PNG, f"Quick look: {title}", roles)


def _interval_item(results: Path, y0: int, y1: int, geometry: dict[str, Any]) -> pystac.Item:
    folder = results / "sink" / f"{y0}-{y1}"
    rasters = sorted(p for p in folder.glob("*.tif") if not p.name.startswith("."))
    if not rasters:
        raise OutputError(f"no rasters in {folder}; re-run the sink step for {y0}-{y1}")
    # Stocks describe the middle of their year; the flux is the change between two such dates.
    item = _item(
        f"sink-{y0}-{y1}",
        geometry,
        datetime=None,
        start=datetime(y0, 7, 1, tzinfo=UTC),
        end=datetime(y1, 7, 1, tzinfo=UTC),
    )
    item.properties["sinkmap:interval"] = f"{y0}-{y1}"
    principal = folder / "net_flux_co2e.tif"
    _add_rasters(item, rasters, principal if principal in rasters else rasters[0])
    _add_table(
        item,
        "class_summary",
        folder / "class_summary.csv",
        "Class summary of the sink",
        _SUMMARY_UNITS,
    )
    for key, title in (
        ("change_matrix", "Land-use change matrix by class"),
        ("ipcc_change_matrix", "Land-use change matrix by IPCC land category"),
    ):
        _add_table(item, key, folder / f"{key}.csv", title, _MATRIX_UNITS)
    for key, title in (
        ("account_changes", "Changes by zone, class, pool and method"),
        ("ipcc_summary", "Stock changes by IPCC land-use category and pool"),
    ):
        _add_table(item, key, folder / f"{key}.csv", title, _TALLY_UNITS)
    _add_table(
        item,
        "monte_carlo_gain_loss",
        folder / "monte_carlo_gain_loss.csv",
        "Monte Carlo totals of the AOI's gain-loss net flux, removals and emissions by draw",
        {"mgco2e_per_yr": UNITS_FLUX_TOTAL},
    )
    _add_table(
        item,
        "monte_carlo_gain_loss_sensitivity",
        folder / "monte_carlo_gain_loss_sensitivity.csv",
        "The AOI's gain-loss net flux by draw with one source of uncertainty held at its value",
        {"mgco2e_per_yr": UNITS_FLUX_TOTAL},
    )
    _add_quicklook(
        item, folder / "quicklook_net_flux.png", FLUX_TITLE.format(y0=y0, y1=y1), thumbnail=True
    )
    return item


def _account_item(results: Path, years: list[int], geometry: dict[str, Any]) -> pystac.Item | None:
    table = results / "carbon_account.csv"
    if not table.is_file():
        return None
    item = _item(
        f"account-{years[0]}-{years[-1]}",
        geometry,
        datetime=None,
        start=datetime(years[0], 1, 1, tzinfo=UTC),
        end=datetime(years[-1], 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    import pandas as pd

    rows = pd.read_csv(table, dtype=str, keep_default_na=False)
    versions = sorted(set(rows.get("output_version", [])))
    item.properties |= {
        "sinkmap:synthetic": bool((rows.get("synthetic", pd.Series(dtype=str)) == "yes").any()),
        "sinkmap:output_version": versions[-1] if versions else OUTPUT_VERSION,
        "sinkmap:sinkmap_version": __version__,
        "sinkmap:sign_convention": SIGN_CONVENTION,
        "sinkmap:years": years,
    }
    _add_table(item, "carbon_account", table, "Carbon account", ACCOUNT_UNITS)
    _add_table(
        item,
        "uncertainty_sensitivity",
        Paths(results=results).sensitivity(),
        "Share of the Monte Carlo variance of the AOI totals owed to each parameter",
        {"variance_share": "1"},
    )
    parquet = results / "carbon_account.parquet"
    if parquet.is_file():
        _add_file(
            item,
            "carbon_account_parquet",
            parquet,
            MEDIA_PARQUET,
            "Carbon account (Parquet)",
            ["data"],
        )
    as_json = results / "carbon_account.json"
    if as_json.is_file():
        _add_file(
            item, "carbon_account_json", as_json, MEDIA_JSON, "Carbon account (JSON)", ["data"]
        )
    report = results / "report.html"
    if report.is_file():
        _add_file(item, "report", report, MEDIA_HTML, "Report (self-contained HTML)", ["overview"])
    project = Paths(results=results).qgis_project()
    if project.is_file():
        _add_file(
            item,
            "qgis_project",
            project,
            MEDIA_QGZ,
            "QGIS project: every layer styled, by year and interval (QGIS 3.22 or later)",
            ["overview"],
        )
    grid = results / "grid.json"
    if grid.is_file():
        _add_file(item, "grid", grid, MEDIA_JSON, "The run's grid", ["metadata"])
        g = Grid.from_json(grid)
        proj = ProjectionExtension.ext(item, add_if_missing=True)
        _set_projection(proj, g.crs, g.shape, g.transform, g.bounds)
    return item


def _item(
    item_id: str,
    geometry: dict[str, Any],
    *,
    datetime: datetime | None,
    start: datetime,
    end: datetime,
) -> pystac.Item:
    return pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=list(_bbox(geometry)),
        datetime=datetime,
        start_datetime=start,
        end_datetime=end,
        properties={},
    )


def _add_rasters(item: pystac.Item, rasters: list[Path], principal: Path) -> None:
    """Add one COG asset per raster; item properties (provenance) from the principal raster."""
    sources: list[Any] = []
    synthetic = False
    main: dict[str, str] = {}
    units: dict[str, str] = {}
    for path in rasters:
        with rasterio.open(path) as ds:
            tags = ds.tags()
            key = path.stem
            asset = _add_file(
                item,
                key,
                path,
                MEDIA_COG,
                ds.descriptions[0] or key,
                ["data"],
                description=tags.get("QUANTITY"),
            )
            proj = ProjectionExtension.ext(asset, add_if_missing=True)
            _set_projection(proj, ds.crs, ds.shape, ds.transform, tuple(ds.bounds))
            style = path.with_suffix(".qml")
            if style.is_file():  # the QGIS default style written beside the raster
                _add_file(item, f"{key}_qml", style, MEDIA_QML, f"QGIS style of {key}", ["style"])
            nodata = ds.nodata
            band = RasterBand.create(
                nodata=None
                if nodata is None
                else (NoDataStrings.NAN if nodata != nodata else nodata),
                data_type=DataType(ds.dtypes[0]),
                unit=tags.get("UNITS"),
                spatial_resolution=abs(ds.transform.a),
                sampling=Sampling.AREA,
            )
            RasterExtension.ext(asset, add_if_missing=True).apply([band])
            if "POOL" in tags:
                asset.extra_fields["sinkmap:pool"] = tags["POOL"]
            if tags.get("UNITS"):
                units[key] = tags["UNITS"]
            for rec in json.loads(tags.get("SOURCES", "[]")):
                if rec not in sources:
                    sources.append(rec)
            synthetic |= tags.get("SYNTHETIC") == "yes"
            if path == principal:
                main = tags
                item.properties["proj:code"] = proj.code
                if proj.code is None:
                    item.properties["proj:wkt2"] = proj.wkt2
                item.properties["proj:bbox"] = list(ds.bounds)
    ProjectionExtension.add_to(item)
    item.properties |= {
        "sinkmap:units": units,
        "sinkmap:model": main.get("MODEL"),
        "sinkmap:model_params": json.loads(main.get("MODEL_PARAMS", "{}")),
        "sinkmap:sources": sources,
        "sinkmap:synthetic": synthetic,
        "sinkmap:output_version": main.get("OUTPUT_VERSION"),
        "sinkmap:sinkmap_version": main.get("SINKMAP_VERSION"),
        "sinkmap:co2_per_c": float(main["CO2_PER_C"]) if "CO2_PER_C" in main else None,
    }
    if "SIGN_CONVENTION" in main:
        item.properties["sinkmap:sign_convention"] = main["SIGN_CONVENTION"]
    if main.get("NOTE"):
        item.properties["sinkmap:note"] = main["NOTE"]


def _set_projection(
    proj: Any, crs: Any, shape: tuple[int, int], transform: Any, bounds: tuple[float, ...]
) -> None:
    crs = rasterio.crs.CRS.from_user_input(crs)
    auth = crs.to_authority()
    proj.code = f"{auth[0]}:{auth[1]}" if auth else None
    if auth is None:
        proj.wkt2 = crs.to_wkt()
    proj.shape = [int(shape[0]), int(shape[1])]
    proj.transform = [float(v) for v in list(transform)[:6]]
    proj.bbox = [float(v) for v in bounds]


def _add_table(
    item: pystac.Item, key: str, path: Path, title: str, units: dict[str, str | None]
) -> None:
    if not path.is_file():
        return
    asset = _add_file(item, key, path, MEDIA_CSV, title, ["data"])
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    asset.extra_fields["sinkmap:columns"] = header
    asset.extra_fields["sinkmap:column_units"] = {c: units[c] for c in header if units.get(c)}


def _add_file(
    item: pystac.Item,
    key: str,
    path: Path,
    media_type: str,
    title: str,
    roles: list[str],
    *,
    description: str | None = None,
) -> pystac.Asset:
    asset = pystac.Asset(
        href=str(path), media_type=media_type, title=title, roles=roles, description=description
    )
    item.add_asset(key, asset)
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size = path.stat().st_size
    file_ext.checksum = multihash_sha256(path)
    return asset


def multihash_sha256(path: Path) -> str:
    """``file:checksum`` of a file: the multihash of its SHA-256 (code 0x12, 32 bytes), hex."""
    return "1220" + sha256_file(path)


def _footprint(gpkg: Path) -> dict[str, Any]:
    """The AOI of a year's GeoPackage as a GeoJSON geometry in EPSG:4326."""
    if not gpkg.is_file():
        raise OutputError(
            f"{gpkg} is missing: the STAC items take their footprint from its 'aoi' layer; "
            "run the workflow (geopackage step) before building the catalog"
        )
    import pyogrio
    import shapely

    aoi = pyogrio.read_dataframe(gpkg, layer="aoi")
    geom = shapely.union_all(aoi.to_crs("EPSG:4326").geometry.values)
    return shapely.geometry.mapping(geom)


def _bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    import shapely.geometry

    return tuple(float(v) for v in shapely.geometry.shape(geometry).bounds)  # type: ignore[return-value]


def _gpkg_meta(gpkg: Path) -> dict[str, str]:
    import pyogrio

    return pyogrio.read_info(gpkg, layer="aoi").get("layer_metadata") or {}
