"""Quick-look PNG maps and the county time-series chart (matplotlib, Agg; no display needed).

A quick look never reads the full raster: it opens the Cloud-Optimized GeoTIFF at the overview level
closest to the size of the figure (GDAL ``OVERVIEW_LEVEL``) and, if that level is still larger,
reads it decimated (``out_shape``). Figures are drawn with matplotlib's object API on an Agg canvas,
so no display and no pyplot state are involved. Colours are those of the QGIS styles
(:mod:`sinkmap.publish.qgis`), so a map looks the same in the report and in QGIS.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import BoundaryNorm, LinearSegmentedColormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter
from rasterio.enums import Resampling

from sinkmap.aoi import AOI
from sinkmap.contract import ALL_CLASSES, AOI_ZONE, FLUX_TITLE, GAIN_LOSS, YEAR_QUICKLOOKS
from sinkmap.errors import OutputError
from sinkmap.files import atomic_path
from sinkmap.legends import LEGENDS
from sinkmap.paths import Paths
from sinkmap.publish.account_json import account_rows, read_account
from sinkmap.publish.qgis import RAMPS, kind_from_tags

#: Size of the quick-look figures in pixels (width, height) at :data:`DPI`.
DPI = 100
MAP_SIZE = (900, 760)
CHART_SIZE = (900, 620)
#: Banner text of figures made from synthetic demo data.
SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA - not a real measurement"
_BANNER_RED = "#b00020"


@dataclass(frozen=True)
class OverviewRead:
    """What :func:`read_overview` read: the array, its transform and how it was obtained."""

    data: np.ma.MaskedArray
    transform: Affine
    crs: Any
    tags: dict[str, str]
    full_shape: tuple[int, int]
    overview_level: int | None  # GDAL OVERVIEW_LEVEL opened (0 = first overview), None = full res
    decimated: bool  # whether the opened level was read with a smaller out_shape


def read_overview(tif: str | Path, max_size: int = 800) -> OverviewRead:
    """Band 1 of ``tif`` with at most ``max_size`` pixels on its long side, from its overviews.

    Opens the coarsest overview that still has ``max_size`` pixels on its long side (or the finest
    one, if all are smaller), then reads it decimated if it is still larger than ``max_size``.
    """
    with rasterio.open(tif) as ds:
        full = (ds.height, ds.width)
        factors = ds.overviews(1)
        tags = ds.tags()
        crs = ds.crs
    long_side = max(full)
    level: int | None = None
    if long_side > max_size and factors:
        sizes = [math.ceil(long_side / f) for f in factors]
        fitting = [i for i, s in enumerate(sizes) if s >= max_size]
        level = fitting[-1] if fitting else 0
    opts = {} if level is None else {"OVERVIEW_LEVEL": level}
    with rasterio.open(tif, **opts) as ds:
        h, w = ds.height, ds.width
        scale = max(h, w) / max_size
        decimated = scale > 1
        if decimated:
            shape = (max(1, round(h / scale)), max(1, round(w / scale)))
            resampling = Resampling.nearest
            data = ds.read(1, out_shape=shape, resampling=resampling, masked=True)
            transform = ds.transform @ Affine.scale(w / shape[1], h / shape[0])
        else:
            data = ds.read(1, masked=True)
            transform = ds.transform
    if np.issubdtype(data.dtype, np.floating):
        data = np.ma.masked_invalid(data)
    return OverviewRead(data, transform, crs, tags, full, level, decimated)


def quicklook_png(
    tif: str | Path,
    out_png: str | Path,
    *,
    kind: str | None = None,
    aoi_gpkg: str | Path | None = None,
    aoi: AOI | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    size: tuple[int, int] = MAP_SIZE,
) -> Path:
    """A PNG map of a sinkmap raster, read from its overviews.

    With a colour bar and its units (a class legend for land cover), a scale bar, the AOI outline
    (``aoi``, or the ``aoi`` layer of ``aoi_gpkg``, or its first layer) and a "SYNTHETIC DEMO
    DATA" banner when the raster's ``SYNTHETIC`` tag is ``yes``. ``kind`` (``stock``, ``flux``, ``biomass``,
    ``land_cover``) defaults to the one the tags imply; ``title`` to one made from the tags.
    """
    out_png = Path(out_png)
    max_px = max(size)
    read = read_overview(tif, max_size=max_px)
    kind = kind or kind_from_tags(read.tags)
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    synthetic = read.tags.get("SYNTHETIC") == "yes"
    top = 0.86 if synthetic else 0.92
    ax = fig.add_axes((0.04, 0.07, 0.68, top - 0.09))
    h, w = read.data.shape
    left, tp = read.transform.c, read.transform.f
    right, bottom = left + read.transform.a * w, tp + read.transform.e * h
    extent = (left, right, bottom, tp)

    if kind == "land_cover":
        legend = LEGENDS.get(read.tags.get("LEGEND") or "worldcover", LEGENDS["worldcover"])
        codes = [c.code for c in legend]
        cmap = ListedColormap([c.color for c in legend])
        cmap.set_bad((1, 1, 1, 0))
        norm = BoundaryNorm([*codes, codes[-1] + 1], cmap.N)
        data = np.ma.masked_where(~np.isin(read.data.filled(0), codes), read.data)
        ax.imshow(data, extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
        present = set(np.unique(data.compressed()).tolist())
        handles = [
            Patch(
                facecolor=c.color,
                edgecolor="#555555",
                label=textwrap.fill(f"{c.code} {c.name}", 20, subsequent_indent="   "),
            )
            for c in legend
            if c.code in present
        ]
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.73, top - 0.02),
            title="Land cover (class)",
            fontsize=9,
            title_fontsize=10,
            frameon=False,
        )
    else:
        ramp = RAMPS[kind]
        lo = ramp.vmin if vmin is None else vmin
        hi = ramp.vmax if vmax is None else vmax
        if ramp.diverging:
            half = max(abs(lo), abs(hi))
            lo, hi = -half, half
        ramp_cmap = LinearSegmentedColormap.from_list(ramp.name, list(ramp.colors))
        ramp_cmap.set_bad((1, 1, 1, 0))
        im = ax.imshow(
            read.data.astype("float32"),
            extent=extent,
            cmap=ramp_cmap,
            norm=Normalize(lo, hi),
            interpolation="nearest",
        )
        cax = fig.add_axes((0.78, 0.12, 0.03, top - 0.22))
        cb = fig.colorbar(im, cax=cax, extend="both" if ramp.diverging else "max")
        label = ramp.units
        if ramp.diverging:
            label += "\nemissions +, removals \u2212"
        cb.set_label(label, fontsize=10)
        if ramp.diverging:
            cax.text(1.0, 1.06, "emission", transform=cax.transAxes, ha="center", fontsize=8)
            cax.text(1.0, -0.09, "removal", transform=cax.transAxes, ha="center", fontsize=8)

    outline = aoi if aoi is not None else aoi_gpkg
    if outline is not None:
        _plot_aoi(ax, outline, read.crs)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, tp)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, read.crs, (left, right, bottom, tp))
    _north_arrow(ax)
    fig.text(0.04, top + 0.02, title or _title(kind, read.tags), fontsize=14, weight="bold")
    fig.text(0.04, 0.025, _footer(read), fontsize=8, color="#444444")
    if synthetic:
        _banner(fig)
    return _save(fig, Path(out_png))


def year_quicklooks(
    results: str | Path,
    year: int,
    out: Mapping[str, str | Path] | None = None,
    *,
    aoi: AOI | None = None,
) -> dict[str, Path]:
    """Draw the quick looks of the year's layers (:data:`YEAR_QUICKLOOKS`): ``out`` (name → PNG)
    or, by default, each one whose layer is in ``results/<year>/``, to
    ``results/<year>/quicklook_<name>.png`` (:meth:`sinkmap.paths.Paths.quicklooks`), with the
    outline of ``aoi``. Rule ``quicklooks`` (:mod:`sinkmap.stages.quicklooks`); the report embeds
    them, and draws one that is missing or older than its layer itself."""
    paths = Paths(Path(results))
    folder = paths.year_dir(year)
    if out is None:
        wanted = paths.quicklooks(year, stateful=True)
        out = {k: v for k, v in wanted.items() if (folder / YEAR_QUICKLOOKS[k][0]).exists()}
    drawn = {}
    for name, png in out.items():
        layer, kind, title = YEAR_QUICKLOOKS[name]
        drawn[name] = quicklook_png(
            folder / layer, png, kind=kind, aoi=aoi, title=title.format(year=year)
        )
    return drawn


def flux_quicklook(
    results: str | Path,
    y0: int,
    y1: int,
    out: str | Path | None = None,
    *,
    aoi: AOI | None = None,
) -> Path:
    """Draw the quick look of the interval's net flux (default
    ``results/sink/<y0>-<y1>/quicklook_net_flux.png``), with the outline of ``aoi``. Rule
    ``flux_quicklook``."""
    paths = Paths(Path(results))
    return quicklook_png(
        paths.flux(y0, y1),
        out if out is not None else paths.flux_quicklook(y0, y1),
        kind="flux",
        aoi=aoi,
        title=FLUX_TITLE.format(y0=y0, y1=y1),
    )


def timeseries_png(account_csv: str | Path, out_png: str | Path, *, size=CHART_SIZE) -> Path:
    """Total carbon stock (Mg C) per year and net flux (Mg CO2e/yr) per interval of the AOI.

    Reads the rows of ``carbon_account.csv`` (output contract 0.4) of zone ``aoi``, "all classes",
    pool ``total``: the stock-difference stock per year, with the Monte Carlo 95 % interval
    (``stock_mgc_p025``, ``stock_mgc_p975``) as a band where the account has it; per interval the
    net flux of both methods side by side, stock-difference (solid, with its Monte Carlo 95 %
    interval as error bars where present) and gain-loss (lighter, hatched). The flux keeps the inventory sign
    (emissions positive, removals negative).
    """
    df = read_account(account_csv)
    sd = account_rows(df).sort_values("year")
    gl = account_rows(df, method=GAIN_LOSS).sort_values("year")
    years = sorted({int(y) for y in (*sd["year"], *gl["year"])})
    if not years:
        raise OutputError(
            f"{account_csv} has no rows of zone {AOI_ZONE!r}, {ALL_CLASSES!r}, pool 'total'; "
            "re-run the account step"
        )
    by_year = sd.set_index("year")
    stock = by_year["stock_mgc"].reindex(years).to_numpy(dtype=float)
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    synthetic = bool((df["synthetic"] == "yes").any())
    top = 0.86 if synthetic else 0.92
    ax1 = fig.add_axes((0.14, 0.52, 0.82, top - 0.55))
    ax2 = fig.add_axes((0.14, 0.09, 0.82, 0.33), sharex=ax1)
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")

    ax1.plot(years, stock, "-o", color="#238443", label="total stock")
    lo = by_year["stock_mgc_p025"].reindex(years).to_numpy(dtype=float)
    hi = by_year["stock_mgc_p975"].reindex(years).to_numpy(dtype=float)
    if np.isfinite(lo).any() and np.isfinite(hi).any():
        ax1.fill_between(
            years, lo, hi, color="#78c679", alpha=0.35, label="Monte Carlo 95 % interval"
        )
        ax1.legend(fontsize=9, loc="best")
    ax1.set_ylabel("Mg C")
    ax1.set_title("County total carbon stock", fontsize=11, loc="left")
    ax1.yaxis.set_major_formatter(fmt)
    ax1.grid(alpha=0.3)

    sd_flux = _by_interval(sd)
    gl_flux = _by_interval(gl)
    intervals = sorted(set(sd_flux) | set(gl_flux))
    if intervals:
        ramp = RAMPS["flux"].colors
        methods: list[tuple[Any, tuple[str, str], str | None]] = [
            (sd_flux, (ramp[-2], ramp[1]), None)
        ]
        if gl_flux:
            methods.append((gl_flux, (ramp[-4], ramp[3]), "///"))
        for k, (flux, (emission, removal), hatch) in enumerate(methods):
            xs, values, widths, lows, highs = [], [], [], [], []
            for y0, y1 in intervals:
                row = flux.get((y0, y1))
                if row is None:
                    continue
                span = y1 - y0
                width = 0.6 * span / len(methods)
                xs.append((y0 + y1) / 2 + (k - (len(methods) - 1) / 2) * width)
                widths.append(width)
                values.append(float(row["net_flux_mgco2e_per_yr"]))
                lows.append(float(row["net_flux_mgco2e_per_yr_p025"]))
                highs.append(float(row["net_flux_mgco2e_per_yr_p975"]))
            v = np.asarray(values)
            ax2.bar(
                xs,
                v,
                width=widths,
                color=[emission if x > 0 else removal for x in v],
                edgecolor="#333333",
                linewidth=0.5,
                hatch=hatch,
            )
            low, high = np.asarray(lows), np.asarray(highs)
            has = np.isfinite(low) & np.isfinite(high)
            if has.any():  # the interval as drawn: it need not contain the value itself
                x, w = np.asarray(xs)[has], np.asarray(widths)[has] / 4
                ax2.vlines(x, low[has], high[has], color="#222222", linewidth=1.2)
                for end in (low[has], high[has]):
                    ax2.hlines(end, x - w / 2, x + w / 2, color="#222222", linewidth=1.2)
        if gl_flux:
            ax2.legend(
                handles=[
                    Patch(facecolor="#888888", edgecolor="#333333", label="stock-difference"),
                    Patch(facecolor="#dddddd", edgecolor="#333333", hatch="///", label="gain-loss"),
                ],
                fontsize=9,
                loc="best",
            )
    else:
        ax2.text(0.5, 0.5, "no interval yet (one year only)", transform=ax2.transAxes, ha="center")
    ax2.axhline(0, color="#333333", linewidth=0.8)
    ax2.set_ylabel("Mg CO2e/yr")
    ax2.set_title(
        "County net CO2e flux per interval (emissions +, removals \u2212)", fontsize=11, loc="left"
    )
    ax2.yaxis.set_major_formatter(fmt)
    ax2.grid(alpha=0.3)
    ax2.set_xticks(years)
    ax2.set_xticklabels([str(y) for y in years])
    if intervals:  # the intervals, a row below the years, under their bars
        ax2.set_xticks(
            [(y0 + y1) / 2 for y0, y1 in intervals],
            [f"{y0}\u2013{y1}" for y0, y1 in intervals],
            minor=True,
        )
        ax2.tick_params(axis="x", which="minor", length=0, pad=18, labelsize=8)
        for label in ax2.get_xticklabels(minor=True):
            label.set_color("#444444")
    ax1.tick_params(axis="x", which="both", labelbottom=False)
    ax1.tick_params(axis="x", which="minor", length=0)
    pad = 0.5
    ax1.set_xlim(years[0] - pad, years[-1] + pad)
    fig.text(0.04, top + 0.02, "Carbon account, county totals", fontsize=14, weight="bold")
    if synthetic:
        _banner(fig)
    return _save(fig, Path(out_png))


# -- helpers ---------------------------------------------------------------------------------------
def _by_interval(rows: pd.DataFrame) -> dict[tuple[int, int], dict[str, Any]]:
    """The rows that have an interval, by (start, end)."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for rec in rows.to_dict("records"):
        if pd.isna(rec["interval_start"]) or pd.isna(rec["interval_end"]):
            continue
        out[(int(rec["interval_start"]), int(rec["interval_end"]))] = rec
    return out


def _plot_aoi(ax: Any, source: AOI | str | Path, crs: Any) -> None:
    """The outline of an AOI, or of the ``aoi`` layer (else the first) of a vector file."""
    import geopandas as gpd
    import pyogrio

    if isinstance(source, AOI):
        aoi = gpd.GeoDataFrame(geometry=[source.geometry], crs=source.crs)
    else:
        layers = [str(name) for name, _ in pyogrio.list_layers(source)]
        aoi = gpd.read_file(source, layer="aoi" if "aoi" in layers else layers[0])
    if aoi.crs is not None and crs is not None:
        aoi = aoi.to_crs(crs)
    # the outline as GeoSeries.plot draws it (one LineCollection of the normalised boundaries'
    # parts), without its closing canvas.draw_idle(): on an Agg canvas that renders the whole
    # figure, raster included, once more before it is saved (about a quarter of the report job)
    boundary = aoi.geometry[~aoi.geometry.is_empty].boundary.to_numpy()
    lines = shapely.get_parts(shapely.normalize(boundary))  # normalised, as GeoSeries.plot does
    segments = [np.asarray(line.coords)[:, :2] for line in lines]
    ax.add_collection(LineCollection(segments, color="#111111", linewidth=1.2), autolim=True)
    ax.autoscale_view()


def _scale_bar(ax: Any, crs: Any, extent: tuple[float, float, float, float]) -> None:
    left, right, bottom, top = extent
    width = right - left
    metres_per_unit = 1.0
    if crs is not None and crs.is_geographic:
        metres_per_unit = 111_320 * math.cos(math.radians((bottom + top) / 2))
    elif crs is not None and crs.linear_units_factor:
        metres_per_unit = float(crs.linear_units_factor[1])
    target_m = width * metres_per_unit / 4
    length_m = _nice_length(target_m)
    length = length_m / metres_per_unit
    x0, y0 = left + 0.04 * width, bottom + 0.04 * (top - bottom)
    bar_h = 0.012 * (top - bottom)
    half = length / 2
    ax.add_patch(Rectangle((x0, y0), half, bar_h, facecolor="#111111", edgecolor="#111111"))
    ax.add_patch(Rectangle((x0 + half, y0), half, bar_h, facecolor="white", edgecolor="#111111"))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.text(
        x0 + length / 2,
        y0 + 2.2 * bar_h,
        label,
        ha="center",
        va="bottom",
        fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1},
    )


def _north_arrow(ax: Any) -> None:
    ax.annotate(
        "N",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.85),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11,
        weight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#111111", "lw": 1.5},
    )


def _nice_length(x: float) -> float:
    if x <= 0:
        return 1.0
    exp = math.floor(math.log10(x))
    for step in (5.0, 2.0, 1.0):
        if step * 10**exp <= x:
            return step * 10**exp
    return 10**exp


def _title(kind: str, tags: dict[str, str]) -> str:
    when = tags.get("INTERVAL") or tags.get("YEAR") or ""
    if kind == "stock":
        what = f"Carbon stock ({tags.get('POOL', 'total')})"
    elif kind == "flux":
        what = "Net CO2e flux"
    elif kind == "biomass":
        what = "Above-ground biomass"
    else:
        what = "Land cover"
    return f"{what} {when}".strip()


def _footer(read: OverviewRead) -> str:
    tags = read.tags
    parts = []
    if read.crs is not None:
        parts.append(str(read.crs.to_string()))
    parts.append(f"{read.full_shape[1]} x {read.full_shape[0]} px")
    if tags.get("MODEL"):
        parts.append(f"model {tags['MODEL']}")
    try:
        sources = json.loads(tags.get("SOURCES", "[]"))
        names = sorted({s.get("dataset", "") for s in sources})
        if names:
            parts.append("data " + ", ".join(names))
    except (ValueError, AttributeError):
        pass
    if tags.get("OUTPUT_VERSION"):
        parts.append(
            f"sinkmap {tags.get('SINKMAP_VERSION', '?')}, outputs {tags['OUTPUT_VERSION']}"
        )
    return " \u00b7 ".join(parts)


def _banner(fig: Figure) -> None:
    fig.patches.append(
        Rectangle(
            (0, 0.935),
            1,
            0.065,
            transform=fig.transFigure,
            facecolor=_BANNER_RED,
            edgecolor="none",
            figure=fig,
        )
    )
    fig.text(
        0.5,
        0.967,
        SYNTHETIC_BANNER,
        ha="center",
        va="center",
        color="white",
        fontsize=15,
        weight="bold",
    )


def _save(fig: Figure, out_png: Path) -> Path:
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    return out_png


def sensitivity_png(
    table: pd.DataFrame, out_png: str | Path, *, title: str, size: tuple[int, int] = CHART_SIZE
) -> Path:
    """Horizontal bars of each parameter's share of the Monte Carlo variance
    (``uncertainty_sensitivity.csv`` rows of one quantity), largest on top."""
    rows = table.sort_values("variance_share")
    fig = Figure(figsize=(size[0] / DPI, size[1] * 0.7 / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.3, 0.15, 0.65, 0.72))
    shares = np.nan_to_num(rows["variance_share"].to_numpy(dtype=float) * 100)
    ax.barh(rows["parameter"].astype(str), shares, color="#41ab5d", edgecolor="#333333")
    ax.set_xlabel("share of the variance (%)")
    ax.set_xlim(0, max(100.0, float(shares.max(initial=0)) * 1.05))
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, Path(out_png))
