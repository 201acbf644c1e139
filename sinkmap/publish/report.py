"""A self-contained HTML report of a results folder (``sinkmap report``).

One HTML file with everything inside it: the quick-look maps of every year (carbon stock, land
cover) and interval (net flux), the county time series, the account tables, the method and data
citations (from the rasters' tags, the dataset registry and the carbon pool table's ``source``
column), the run's configuration and the output contract version. Figures are PNGs embedded as
base64 ``data:`` URIs and the style sheet is inline: the report loads nothing from anywhere, so it
can be mailed, archived or opened offline. When any output is made from synthetic demo data, the
report says so in a banner at the top of the page.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import rasterio
import yaml

from sinkmap import __version__
from sinkmap.constants import CO2_PER_C, SIGN_CONVENTION
from sinkmap.contract import (
    AOI_ZONE,
    CHANGE_FILTER_ROWS,
    FLUX_TITLE,
    GAIN_LOSS,
    OUTPUT_VERSION,
    STOCK_DIFFERENCE,
    YEAR_QUICKLOOKS,
)
from sinkmap.errors import OutputError
from sinkmap.files import atomic_path, build_time
from sinkmap.paths import Paths
from sinkmap.publish import markup
from sinkmap.publish.account_json import account_rows, read_account
from sinkmap.publish.markup import Column
from sinkmap.publish.quicklook import (
    SYNTHETIC_BANNER,
    quicklook_png,
    sensitivity_png,
    timeseries_png,
)


def build_report(
    results_dir: str | Path,
    config_path: str | Path,
    out_html: str | Path,
    *,
    title: str = "",
    config_label: str | None = None,
) -> Path:
    """Write the HTML report of ``results_dir`` (made with the config ``config_path``) to ``out_html``.

    ``config_label`` names the config where the report shows it (default: ``config_path``); the
    report's date is :func:`sinkmap.files.build_time` (``SOURCE_DATE_EPOCH`` when set).

    Raises :class:`OutputError` when the folder holds no results.
    """
    results = Path(results_dir)
    config_path = Path(config_path)
    out_html = Path(out_html)
    config_text = config_path.read_text(encoding="utf-8")
    config = yaml.safe_load(config_text) or {}
    years = Paths(results).accounted_years()
    if not years:
        raise OutputError(
            f"{results} holds no results (no <year>/carbon_stock_total.tif); run the workflow first"
        )
    intervals = sorted(
        (int(m.group(1)), int(m.group(2)))
        for p in (results / "sink").glob("*-*")
        if (m := re.fullmatch(r"(\d{4})-(\d{4})", p.name)) and (p / "net_flux_co2e.tif").exists()
    )
    rasters = [results / str(y) / "carbon_stock_total.tif" for y in years] + [
        results / "sink" / f"{a}-{b}" / "net_flux_co2e.tif" for a, b in intervals
    ]
    tags = {path: _tags(path) for path in rasters}
    account_path = results / "carbon_account.csv"
    account = read_account(account_path) if account_path.exists() else None
    synthetic = any(t.get("SYNTHETIC") == "yes" for t in tags.values()) or (
        account is not None and bool((account["synthetic"] == "yes").any())
    )
    versions = sorted({t.get("OUTPUT_VERSION", "") for t in tags.values()} - {""}) or [
        OUTPUT_VERSION
    ]
    aoi_name = (config.get("aoi") or {}).get("name") or "the area of interest"

    with tempfile.TemporaryDirectory(prefix="sinkmap-report-") as tmp:
        maps, series = _figures(results, years, intervals, account_path, Path(tmp))
        uncertainty = _uncertainty_section(results, Path(tmp))

    parts: list[str] = []
    if synthetic:
        parts.append(
            f'<div class="banner" id="synthetic-banner">{html.escape(SYNTHETIC_BANNER)}'
            "<small>These outputs are made from sinkmap's synthetic demo landscape. Their numbers "
            "describe no real place.</small></div>"
        )
    parts.append("<main>")
    heading = title or f"Land carbon stocks and sinks: {aoi_name}"
    parts.append(f"<h1>{html.escape(heading)}</h1>")
    parts.append(
        '<p class="meta">'
        f"Years {years[0]}&ndash;{years[-1]} &middot; output_version "
        f'<b id="output-version">{html.escape(", ".join(versions))}</b> &middot; sinkmap '
        f"{html.escape(__version__)} &middot; generated "
        f"{build_time().strftime('%Y-%m-%d %H:%M UTC')} from "
        f"<code>{html.escape(str(results))}</code></p>"
    )
    parts.append(
        '<p class="note">Stocks in Mg C/ha (maps) and Mg C (tables); fluxes in Mg CO2e/ha/yr '
        f"(maps) and Mg CO2e/yr (tables), with the inventory sign: {html.escape(SIGN_CONVENTION)}."
        "</p>"
    )
    parts += _summary_section(account, series)
    parts += _maps_section(maps)
    parts += _class_section(account)
    parts += _state_section(results, years)
    parts += _filter_section(results, years)
    parts += _accuracy_section(results)
    parts += uncertainty
    parts += _zones_section(account)
    parts += _methods_section(tags, account, config, config_path)
    parts.append("<h2>Run configuration</h2>")
    parts.append(f"<p>From <code>{html.escape(config_label or str(config_path))}</code>:</p>")
    parts.append(f'<pre id="config">{html.escape(config_text)}</pre>')
    parts.append(
        f'<p class="meta">Output contract {html.escape(", ".join(versions))} '
        "(docs/outputs.md in the sinkmap repository).</p></main>"
    )
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(heading)}</title><style>{markup.CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
    with atomic_path(out_html) as tmp_html:
        tmp_html.write_text(doc, encoding="utf-8")
    return out_html


# -- figures -----------------------------------------------------------------------------------------
def _figures(
    results: Path,
    years: Sequence[int],
    intervals: Sequence[tuple[int, int]],
    account_path: Path,
    tmp: Path,
) -> tuple[list[tuple[str, list[tuple[str, str]]]], str | None]:
    """The quick looks (the workflow's, :func:`_quicklook`, else drawn into ``tmp``); return
    (section title, [(caption, data URI)]) and the time-series data URI."""
    paths = Paths(results)
    captions = {
        "stock": "Total carbon stock {year} (Mg C/ha, all four pools)",
        "land_cover": "Land cover {year}",
        "stratum": "Strata of the carbon state {year}",
    }
    maps: list[tuple[str, list[tuple[str, str]]]] = []
    for year in years:
        figs = []
        for name, (layer, kind, title) in YEAR_QUICKLOOKS.items():
            tif = paths.year_dir(year) / layer
            if name != "stock" and not tif.exists():
                continue
            png = _quicklook(
                paths.quicklook(year, name),
                tif,
                tmp / f"{name}_{year}.png",
                kind=kind,
                aoi_gpkg=_aoi(results, year),
                title=title.format(year=year),
            )
            figs.append((captions[name].format(year=year), markup.data_uri(png)))
        maps.append((f"Year {year}", figs))
    for y0, y1 in intervals:
        png = _quicklook(
            paths.flux_quicklook(y0, y1),
            paths.flux(y0, y1),
            tmp / f"flux_{y0}_{y1}.png",
            kind="flux",
            aoi_gpkg=_aoi(results, y1),
            title=FLUX_TITLE.format(y0=y0, y1=y1),
        )
        caption = f"Net CO2e flux {y0}&ndash;{y1} (Mg CO2e/ha/yr; red = emissions, blue = removals)"
        maps.append((f"Interval {y0}&ndash;{y1}", [(caption, markup.data_uri(png))]))
    series = None
    if account_path.exists():
        series = markup.data_uri(timeseries_png(account_path, tmp / "timeseries.png"))
    return maps, series


def _quicklook(png: Path, tif: Path, tmp_png: Path, **kwargs: Any) -> Path:
    """The workflow's quick look of ``tif`` (rules ``quicklooks`` and ``flux_quicklook``) when it
    is there and not older than the layer; else one drawn into ``tmp_png``, the same way."""
    if png.is_file() and png.stat().st_mtime >= tif.stat().st_mtime:
        return png
    return quicklook_png(tif, tmp_png, **kwargs)


def _aoi(results: Path, year: int) -> Path | None:
    gpkg = results / str(year) / f"sinkmap_{year}.gpkg"
    return gpkg if gpkg.exists() else None


# -- sections ----------------------------------------------------------------------------------------
def _summary_section(account: pd.DataFrame | None, series: str | None) -> list[str]:
    out = ["<h2>County totals</h2>"]
    if account is None:
        return [*out, "<p>No carbon_account.csv in the results folder.</p>"]
    sd = _by(account_rows(account, method=STOCK_DIFFERENCE), "year")
    gl = _by(account_rows(account, method=GAIN_LOSS), "year")
    records = []
    for year in sorted(set(sd) | set(gl)):
        s, g = sd.get(year), gl.get(year)
        first = s if s is not None else g
        assert first is not None
        rec: dict[str, Any] = {"year": year, "interval": _interval(first)}
        if s is not None:
            rec |= {
                "area_ha": s["area_ha"],
                "stock": _with_mc(s, "stock_mgc", markup.f0),
                "density": s["stock_density_mgc_per_ha"],
                "sd_net": _with_mc(s, "net_flux_mgco2e_per_yr", markup.f1),
                "sd_emissions": s["emissions_mgco2e_per_yr"],
                "sd_removals": s["removals_mgco2e_per_yr"],
            }
        if g is not None:
            rec |= {
                "gl_net": g["net_flux_mgco2e_per_yr"],
                "gl_emissions": g["emissions_mgco2e_per_yr"],
                "gl_removals": g["removals_mgco2e_per_yr"],
            }
        records.append(rec)
    columns: list[Column] = [
        ("Year", "year", markup.text),  # (as numbers: never wrapped)
        ("Interval", "interval", markup.text),
        ("Area (ha)", "area_ha", markup.f1),
        ("Total stock (Mg C)", "stock", markup.text),
        ("Mean density (Mg C/ha)", "density", markup.f1),
        ("Net flux, stock-difference (Mg CO2e/yr)", "sd_net", markup.text),
        ("Emissions, stock-difference (Mg CO2e/yr)", "sd_emissions", markup.f1),
        ("Removals, stock-difference (Mg CO2e/yr)", "sd_removals", markup.f1),
    ]
    if gl:
        columns += [
            ("Net flux, gain-loss (Mg CO2e/yr)", "gl_net", markup.f1),
            ("Emissions, gain-loss (Mg CO2e/yr)", "gl_emissions", markup.f1),
            ("Removals, gain-loss (Mg CO2e/yr)", "gl_removals", markup.f1),
        ]
    out.append(
        "<p>The whole area of interest (zone <code>aoi</code>), all land-cover classes and all four "
        "pools. The stock-difference flux is &minus;(change of the stock) &times; 44/12 over the "
        "interval ending in the year; the gain-loss flux adds up growth (removals) and losses "
        "(emissions) over the same interval"
        + ("" if gl else " (the account has no gain-loss rows)")
        + ".</p>"
    )
    out.append(markup.table(columns, records, table_id="totals"))
    out += _mc_note(account)
    if series:
        out.append(
            '<div class="figures">'
            + markup.img(
                "County total stock per year and net CO2e flux per interval by both methods "
                "(emissions +, removals &minus;)",
                series,
            )
            + "</div>"
        )
    return out


def _maps_section(maps: list[tuple[str, list[tuple[str, str]]]]) -> list[str]:
    out = [
        "<h2>Maps</h2>",
        "<p>Quick looks read from the overviews of the Cloud-Optimized GeoTIFFs; the black line "
        "is the AOI. The GeoTIFFs themselves hold the full-resolution values.</p>",
    ]
    for heading, figs in maps:
        out.append(f"<h3>{heading}</h3>")
        out.append('<div class="figures">' + "".join(markup.img(c, u) for c, u in figs) + "</div>")
    return out


def _class_section(account: pd.DataFrame | None) -> list[str]:
    if account is None:
        return []
    out = [
        "<h2>Account by land-cover class</h2>",
        "<p>The area of interest by class at the year (all four pools); the flux of a class is that "
        "of the land in the class at the end of the interval.</p>",
    ]
    classes = account_rows(account, all_classes=False)
    gain_loss = account_rows(account, all_classes=False, method=GAIN_LOSS)
    columns: list[Column] = [
        ("Code", "class_code", None),
        ("Class", "class_name", None),
        ("IPCC category", "ipcc_category", None),
        ("Area (ha)", "area_ha", markup.f1),
        ("Stock (Mg C)", "stock_mgc", markup.f0),
        ("Density (Mg C/ha)", "stock_density_mgc_per_ha", markup.f1),
        ("Net flux, stock-difference (Mg CO2e/yr)", "net_flux_mgco2e_per_yr", markup.f1),
        ("Emissions, stock-difference (Mg CO2e/yr)", "emissions_mgco2e_per_yr", markup.f1),
        ("Removals, stock-difference (Mg CO2e/yr)", "removals_mgco2e_per_yr", markup.f1),
    ]
    if not gain_loss.empty:
        columns.append(("Net flux, gain-loss (Mg CO2e/yr)", "gl_net", markup.f1))
    for year, rows in classes.groupby("year", sort=True):
        gl = _by(gain_loss[gain_loss["year"] == year], "class_code")
        interval = _interval(rows.iloc[0])
        when = f" (flux of {interval})" if interval else " (first year: no flux)"
        out.append(f"<h3>{int(year)}{html.escape(when)}</h3>")
        records = []
        for rec in rows.sort_values("class_code").to_dict("records"):
            g = gl.get(rec["class_code"])
            rec["gl_net"] = None if g is None else g["net_flux_mgco2e_per_yr"]
            records.append(rec)
        out.append(markup.table(columns, records, table_id=f"classes-{int(year)}"))
    return out


def _state_section(results: Path, years: Sequence[int]) -> list[str]:
    """The carbon state of each year (``state_summary.csv``): area and stock by land category,
    transition and stratum."""
    tables = [(y, results / str(y) / "state_summary.csv") for y in years]
    tables = [(y, p) for y, p in tables if p.exists()]
    if not tables:
        return []
    out = [
        "<h2>The carbon state: land categories, transitions and strata</h2>",
        "<p>Each pixel carries its land-use history from year to year (model <code>dynamics</code>;"
        " docs/accounting.md): its IPCC land category, whether it was converted from another "
        "within the transition period (20 years), and its stratum. Stocks in Mg C, all four pools."
        "</p>",
    ]
    columns: list[Column] = [
        ("Land category", "land_category", None),
        ("Transition", "transition", None),
        ("Stratum", "stratum", None),
        ("Area (ha)", "area_ha", markup.f1),
        ("Stock (Mg C)", "stock_total_mgc", markup.f0),
        ("Density (Mg C/ha)", "stock_density_mgc_per_ha", markup.f1),
    ]
    for year, path in tables:
        rows = pd.read_csv(path).to_dict("records")
        out.append(f"<h3>{year}</h3>")
        out.append(markup.table(columns, rows, table_id=f"state-{year}"))
    return out


def _filter_section(results: Path, years: Sequence[int]) -> list[str]:
    """Changed areas before and after change filtering, one row per year (``change_filter.csv``)."""
    rows = []
    for y in years[1:]:
        path = results / str(y) / "change_filter.csv"
        if path.exists():
            t = pd.read_csv(path)
            rows.append({"year": y, **dict(zip(t["quantity"], t["area_ha"], strict=True))})
    if not rows:
        return []
    columns: list[Column] = [("Year", "year", None)] + [
        (f"{q[0].upper()}{q[1:]} (ha)", q, markup.f1) for q, _ in CHANGE_FILTER_ROWS
    ]
    return [
        "<h2>Change filtering</h2>",
        "<p>Before accounting, a change of land category counts once it is mapped in consecutive "
        "years (persistence) and patches of change below the minimum mapping unit keep their "
        "classes (docs/accounting.md). Areas changed against the mapped year before, as mapped and "
        "after filtering.</p>",
        markup.table(columns, rows, table_id="change-filter"),
    ]


def _accuracy_section(results: Path) -> list[str]:
    """Accuracy and area-adjusted areas of each assessed interval (``sinkmap assess``)."""
    found = sorted((results / "accuracy").glob("*/accuracy.csv"))
    if not found:
        return []
    out = [
        "<h2>Accuracy assessment and area-adjusted areas</h2>",
        "<p>From an interpreted stratified reference sample (<code>sinkmap sample</code>, "
        "<code>sinkmap assess</code>; Olofsson et al. 2014). Areas in ha with the half-width of "
        "their 95 % confidence interval; accuracies as fractions.</p>",
    ]
    columns: list[Column] = [
        ("Stratum", "stratum_name", None),
        ("Units", "sample_units", markup.f0),
        ("Mapped (ha)", "mapped_area_ha", markup.f1),
        ("Adjusted (ha)", "adjusted_area_ha", markup.f1),
        ("± 95 % (ha)", "adjusted_area_ha_ci95", markup.f1),
        ("User's", "users_accuracy", markup.f2),
        ("Producer's", "producers_accuracy", markup.f2),
        ("Overall", "overall_accuracy", markup.f2),
    ]
    flux_columns: list[Column] = [
        ("Method", "method", None),
        ("Stratum", "stratum_name", None),
        ("Mapped net flux (Mg CO2e/yr)", "net_flux_mapped_mgco2e_per_yr", markup.f0),
        ("Per ha (Mg CO2e/ha/yr)", "net_flux_mgco2e_per_ha_yr", markup.f2),
        ("Adjusted area (ha)", "adjusted_area_ha", markup.f1),
        ("Adjusted net flux (Mg CO2e/yr)", "net_flux_adjusted_mgco2e_per_yr", markup.f0),
        ("2.5th pct.", "net_flux_adjusted_mgco2e_per_yr_p025", markup.f0),
        ("97.5th pct.", "net_flux_adjusted_mgco2e_per_yr_p975", markup.f0),
        ("Interval includes", "uncertainty_sources", None),
    ]
    for path in found:
        interval = path.parent.name
        rows = pd.read_csv(path).to_dict("records")
        out.append(f"<h3>{html.escape(interval)}</h3>")
        out.append(markup.table(columns, rows, table_id=f"accuracy-{interval}"))
        adjusted = path.parent / "adjusted_account.csv"
        if adjusted.exists():
            out.append(
                "<p>Net flux from the adjusted areas: each stratum's flux per hectare on the map "
                "times its adjusted area; the 95 % interval (2.5th&ndash;97.5th percentiles) from "
                "the areas' sampling spread and, with the Monte Carlo on, the emission factors' "
                "draws.</p>"
            )
            rows = pd.read_csv(adjusted).to_dict("records")
            out.append(markup.table(flux_columns, rows, table_id=f"adjusted-{interval}"))
    return out


def _uncertainty_section(results: Path, tmp: Path) -> list[str]:
    """Which parameters drive the variance of the county totals (``uncertainty_sensitivity.csv``):
    the last year's stock and every interval's net flux, a chart and a table each."""
    path = Paths(results=results).sensitivity()
    table = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if table.empty:
        return []
    out = [
        "<h2>What drives the uncertainty</h2>",
        "<p>The share of the Monte Carlo variance of the county total that each parameter "
        "carries: 1 &minus; the variance with that parameter held at its value over the variance "
        "with every parameter drawn (the same draws of the others). Improve the parameter at the "
        "top first. Shares need not add to 1 where parameters interact.</p>",
    ]
    columns: list[Column] = [
        ("Parameter", "parameter", None),
        ("Share of the variance", "variance_share", markup.f2),
        ("SD, all drawn", "sd", markup.f0),
        ("SD, parameter at its value", "sd_parameter_fixed", markup.f0),
        ("Units", "units", None),
    ]
    last = int(table["year"].max())
    cases = [
        (f"Total stock {last}", table[(table["quantity"] == "stock") & (table["year"] == last)])
    ]
    for quantity, method in (("net_flux", ""), ("net_flux_gain_loss", ", gain-loss")):
        flux = table[table["quantity"] == quantity]
        for (start, end), rows in flux.groupby(["interval_start", "year"], sort=True):
            cases.append((f"Net flux{method} {int(start)}&ndash;{int(end)}", rows))
    for k, (caption, rows) in enumerate(cases):
        if rows.empty:
            continue
        png = sensitivity_png(
            rows, tmp / f"sensitivity_{k}.png", title=re.sub("&ndash;", "-", caption)
        )
        out.append(f"<h3>{caption}</h3>")
        out.append(
            markup.img(f"{caption}: share of the variance per parameter", markup.data_uri(png))
        )
        out.append(markup.table(columns, rows.to_dict("records"), table_id=f"sensitivity-{k}"))
    return out


def _zones_section(account: pd.DataFrame | None) -> list[str]:
    if account is None:
        return []
    zones = [z for z in dict.fromkeys(account["zone_id"]) if z != AOI_ZONE]
    if not zones:
        return []
    out = [
        "<h2>Zones</h2>",
        "<p>Each zone's totals (all classes, all four pools). Zones may overlap and need not "
        "cover the whole area of interest: they do not add up to the county totals.</p>",
    ]
    sd = account_rows(account, zone_id=None)
    gl = account_rows(account, zone_id=None, method=GAIN_LOSS)
    columns: list[Column] = [
        ("Zone", "zone_id", None),
        ("Name", "zone_name", None),
        ("Area (ha)", "area_ha", markup.f1),
        ("Stock (Mg C)", "stock", markup.text),
        ("Density (Mg C/ha)", "stock_density_mgc_per_ha", markup.f1),
        ("Net flux, stock-difference (Mg CO2e/yr)", "sd_net", markup.text),
    ]
    if not gl.empty:
        columns.append(("Net flux, gain-loss (Mg CO2e/yr)", "gl_net", markup.f1))
    for year in sorted(set(sd["year"]) | set(gl["year"])):
        s = _by(sd[sd["year"] == year], "zone_id")
        g = _by(gl[gl["year"] == year], "zone_id")
        records = []
        for zone in zones:
            row = s.get(zone)
            if row is None:
                continue
            rec = dict(row) | {
                "stock": _with_mc(row, "stock_mgc", markup.f0),
                "sd_net": _with_mc(row, "net_flux_mgco2e_per_yr", markup.f1),
                "gl_net": None if zone not in g else g[zone]["net_flux_mgco2e_per_yr"],
            }
            records.append(rec)
        interval = next((_interval(r) for r in s.values() if _interval(r)), "")
        when = f" (flux of {interval})" if interval else " (first year: no flux)"
        out.append(f"<h3>{int(year)}{html.escape(when)}</h3>")
        out.append(markup.table(columns, records, table_id=f"zones-{int(year)}"))
    out += _mc_note(account)
    return out


def _methods_section(
    tags: dict[Path, dict[str, str]],
    account: pd.DataFrame | None,
    config: dict[str, Any],
    config_path: Path,
) -> list[str]:
    out = ["<h2>Method</h2>"]
    first = next(iter(tags.values()))
    model_name = first.get("MODEL", "")
    params = _json(first.get("MODEL_PARAMS", "{}"), {})
    citation = ""
    if account is not None and "model" in account:
        citation = _json(str(account["model"].iloc[0]), {}).get("citation", "")
    if not citation and model_name:
        try:
            from sinkmap.models import model_class

            citation = model_class(model_name).citation
        except Exception:  # a plug-in model that is not installed here
            citation = ""
    flux_quantity = next(
        (t["QUANTITY"] for t in tags.values() if t.get("INTERVAL") and t.get("QUANTITY")), ""
    )
    items = [
        f"<li>Carbon model <b>{html.escape(model_name)}</b>, parameters "
        f"<code>{html.escape(json.dumps(params, sort_keys=True))}</code>"
        + (f". {html.escape(citation)}" if citation else "")
        + "</li>",
        "<li>Stocks per pool (above-ground, below-ground, dead organic matter, soil) in Mg C/ha; "
        "the total is their sum.</li>",
    ]
    if flux_quantity:
        items.append(f"<li>Sink: {html.escape(flux_quantity)}.</li>")
    items.append(
        f"<li>CO2 per C: 44/12 = {CO2_PER_C:.6g}; sign convention: "
        f"{html.escape(SIGN_CONVENTION)}.</li>"
    )
    if account is not None:
        methods = list(dict.fromkeys(account["method"]))
        items.append(f"<li>Account methods: {html.escape('; '.join(methods))}.</li>")
        for method in methods:
            for text in dict.fromkeys(account.loc[account["method"] == method, "method_params"]):
                params_of = _json(text, {})
                if params_of:
                    items.append(
                        f"<li>{html.escape(method)} parameters <code>"
                        f"{html.escape(json.dumps(params_of, sort_keys=True))}</code></li>"
                    )
    out.append("<ul>" + "".join(items) + "</ul>")

    out.append("<h2>Data sources</h2>")
    account_inputs = [] if account is None else list(dict.fromkeys(account["inputs"]))
    sources = _sources([*tags.values(), *({"SOURCES": t} for t in account_inputs)])
    registry = _registry(config, config_path)
    if not sources:
        out.append("<p>The rasters name no input datasets.</p>")
    rows = []
    for name in sorted(sources):
        entry = registry.get(name, {})
        recs = sources[name]
        rows.append(
            {
                "dataset": name,
                "title": entry.get("title", ""),
                "version": ", ".join(sorted({str(r.get("version", "")) for r in recs})),
                "years": ", ".join(sorted({str(r.get("year", "")) for r in recs})),
                "synthetic": "yes" if entry.get("synthetic") else "no",
                "licence": entry.get("licence", ""),
                "citation": entry.get("citation", ""),
                "files": "\n".join(sorted({f for r in recs for f in r.get("files", [])})),
            }
        )
    if rows:
        columns: list[Column] = [
            ("Dataset", "dataset", None),
            ("Title", "title", None),
            ("Version", "version", None),
            ("Years", "years", None),
            ("Synthetic", "synthetic", None),
            ("Licence", "licence", None),
            ("Citation", "citation", None),
            ("Files", "files", None),
        ]
        out.append(markup.table(columns, rows, table_id="datasets"))

    table_path = params.get("table") if isinstance(params, dict) else None
    pools = _resolve(table_path, config_path) if table_path else None
    if pools is not None:
        df = pd.read_csv(pools)
        if "source" in df:
            present = (
                {int(c) for c in account["class_code"].dropna()} if account is not None else set()
            )
            if present and "lucode" in df:
                df = df[df["lucode"].astype(int).isin(present)]
            out.append("<h3>Carbon pool table</h3>")
            out.append(f"<p>From <code>{html.escape(str(table_path))}</code> (Mg C/ha).</p>")
            cols: list[Column] = [(c, c, None) for c in df.columns]
            out.append(markup.table(cols, df.to_dict("records"), table_id="pools"))
    strata_path = params.get("strata") if isinstance(params, dict) else None
    strata = _resolve(strata_path, config_path) if strata_path else None
    if strata is not None:
        df = pd.read_csv(strata)
        out.append("<h3>Growth curves of the carbon state</h3>")
        out.append(
            f"<p>From <code>{html.escape(str(strata_path))}</code>: per stratum and FAO ecozone, "
            "above-ground biomass (t d.m./ha) by age, root-to-shoot ratio, dead-wood and litter "
            "fractions, rotation; each row with its sources and whether they were confirmed.</p>"
        )
        cols = [(c, c, None) for c in df.columns]
        out.append(markup.table(cols, df.to_dict("records"), table_id="strata"))
    return out


# -- helpers -----------------------------------------------------------------------------------------
def _tags(path: Path) -> dict[str, str]:
    with rasterio.open(path) as ds:
        return ds.tags()


def _json(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _sources(all_tags: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for t in all_tags:
        for rec in _json(t.get("SOURCES", "[]"), []):
            if isinstance(rec, dict) and rec.get("dataset"):
                lst = out.setdefault(str(rec["dataset"]), [])
                if rec not in lst:
                    lst.append(rec)
    return out


def _resolve(path: str | Path, config_path: Path) -> Path | None:
    """A path from the config: as given (absolute or from the working folder), else relative to the
    config file's folder or its parent (config/config.yaml names files from the repository root)."""
    p = Path(path)
    for candidate in (p, config_path.parent / p, config_path.parent.parent / p):
        if candidate.exists():
            return candidate
    return None


def _registry(config: dict[str, Any], config_path: Path) -> dict[str, dict[str, Any]]:
    path = _resolve(config.get("datasets", "config/datasets.yaml"), config_path)
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _by(rows: pd.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    """The records of ``rows`` by ``key``; :class:`OutputError` when a key repeats."""
    out: dict[Any, dict[str, Any]] = {}
    for rec in rows.to_dict("records"):
        k = rec[key]
        if k in out:
            where = {c: rec[c] for c in ("year", "zone_id", "class_name", "pool", "method")}
            raise OutputError(
                f"the account table has more than one row for {where}; re-run the account step "
                "(snakemake results/carbon_account.csv --force)"
            )
        out[k] = rec
    return out


def _interval(row: Any) -> str:
    start, end = row["interval_start"], row["interval_end"]
    return f"{int(start)}\u2013{int(end)}" if markup.present(start) and markup.present(end) else ""


def _with_mc(row: Any, column: str, fmt: Callable[[Any], str]) -> str | None:
    """``row[column]`` formatted, with its Monte Carlo 95 % interval in brackets when given."""
    value, lo, hi = row[column], row[f"{column}_p025"], row[f"{column}_p975"]
    if not markup.present(value):
        return None
    text = fmt(value)
    if markup.present(lo) and markup.present(hi):
        text += f" ({fmt(lo)} \u2013 {fmt(hi)})"
    return text


def _mc_note(account: pd.DataFrame) -> list[str]:
    draws = sorted({int(n) for n in account["mc_draws"].dropna()})
    if not draws:
        return []
    n = " or ".join(f"{d:,}" for d in draws)
    return [
        '<p class="meta">In brackets: the Monte Carlo 95 % interval (2.5th to 97.5th percentile '
        f"of {n} draws; IPCC Approach 2). The 90 % interval (VCS, CDM) and the Monte Carlo "
        "standard error of each bound are in carbon_account.csv.</p>"
    ]
