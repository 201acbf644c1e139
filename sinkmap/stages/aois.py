"""Several AOIs of one run (``aois:``) in one table: every AOI's account, and their sum.

Each AOI runs as its own workflow (``results/<name>/``). :func:`combine_accounts` writes
``results/carbon_account_aois.csv``: every AOI's ``carbon_account.csv`` with an ``aoi`` column in
front, then the AOIs' sum (``aoi`` = :data:`ALL_AOIS`) on the whole-AOI rows (zone ``aoi``, all
classes): each year's stock per pool and each interval's flux per pool and method. The AOIs do
not overlap (:func:`sinkmap.aoi.check_disjoint`, run before the workflow starts), so areas,
stocks and fluxes add.

The sum's Monte Carlo intervals come from summing the AOIs' draws draw by draw
(``monte_carlo.csv``: stocks, and the stock-difference fluxes between them). With one uncertainty
setting and model for every AOI (seed, draws, parameters), draw *d* gives a parameter the same value
in every AOI, so a parameter's error is shared by all AOIs, as it is when one table serves them all
(the Tier 1 value of a stratum is wrong in the same direction everywhere). Where that does not
hold (:func:`sinkmap.config.summable_uncertainty`: other settings per AOI, or per-pixel input
errors, whose noise fields are keyed to each AOI's grid) the workflow gives the sum no interval,
with a warning. Gain-loss sums carry no interval
(its draws are the stock difference's with a carbon state, per AOI otherwise; not combined here).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap import __version__
from sinkmap.account.rows import interval_columns
from sinkmap.carbon import flux_between
from sinkmap.contract import (
    ACCOUNT_INTEGER,
    ACCOUNT_UNITS,
    ALL_CLASSES,
    AOI_ZONE,
    AOIS_ACCOUNT_COLUMNS,
    OUTPUT_VERSION,
    STOCK_DIFFERENCE,
)
from sinkmap.errors import InputDataError
from sinkmap.files import atomic_path, write_csv
from sinkmap.stages.context import now

log = logging.getLogger("sinkmap")

#: The ``aoi`` of the rows that sum every AOI.
ALL_AOIS = "all AOIs"
#: Columns of the whole-AOI rows that add up over AOIs that do not overlap.
ADDITIVE = (
    "area_ha",
    "stock_mgc",
    "stock_change_mgc_per_yr",
    "net_flux_mgco2e_per_yr",
    "emissions_mgco2e_per_yr",
    "removals_mgco2e_per_yr",
)
_KEYS = ["year", "interval_start", "interval_end", "pool", "method"]


def summed_draws(draws: Mapping[str, Path]) -> pd.DataFrame:
    """The AOIs' whole-AOI stock per pool (rows) and draw (columns), summed draw by draw, of one
    year's ``monte_carlo.csv`` files (AOI name → path). Raises :class:`InputDataError` if the
    files do not hold the same draws of the same seed."""
    total: pd.DataFrame | None = None
    seeds: dict[str, set[int]] = {}
    for name, path in draws.items():
        d = pd.read_csv(path, dtype={"zone_id": str, "pool": str})
        d = d[d["zone_id"] == AOI_ZONE]
        seeds[name] = set(d["seed"].unique().tolist())
        wide = d.pivot_table(index="pool", columns="draw", values="stock_mgc", aggfunc="sum")
        if total is not None and not wide.columns.equals(total.columns):
            raise InputDataError(
                f"{path} holds draws {wide.columns.min()}-{wide.columns.max()}, the other AOIs "
                f"{total.columns.min()}-{total.columns.max()}: give every AOI the same "
                "account.uncertainty.draws"
            )
        total = wide if total is None else total.add(wide, fill_value=np.nan)
    if len({frozenset(s) for s in seeds.values()}) > 1:
        raise InputDataError(
            f"the AOIs' Monte Carlo draws come from different seeds ({seeds}): give every AOI the "
            "same account.uncertainty.seed so that draw d is the same parameter draw everywhere"
        )
    assert total is not None
    return total


def combine_accounts(
    accounts: Mapping[str, Path],
    out: Path,
    *,
    monte_carlo: Mapping[str, Mapping[int, Path]] | None = None,
) -> pd.DataFrame:
    """``carbon_account_aois.csv``: each AOI's account rows (AOI name → ``carbon_account.csv``)
    with ``aoi`` in front, and their sum (module docstring).

    ``monte_carlo``: AOI name → year → ``monte_carlo.csv`` of every AOI (the sum's intervals), or
    None. A sum row gets an interval only where every AOI's own row has one (an AOI whose two years
    count different cells has none for that interval), and a value only where every AOI has one.
    """
    tables = []
    for name, path in accounts.items():
        t = pd.read_csv(path, dtype={"zone_id": str}, keep_default_na=False)
        t.insert(0, "aoi", name)
        tables.append(t)
    rows = pd.concat(tables, ignore_index=True)
    for col in AOIS_ACCOUNT_COLUMNS:  # a column an account lacks is blank (older accounts)
        if col not in rows.columns:
            rows[col] = pd.NA
    for col in ACCOUNT_INTEGER:
        rows[col] = pd.to_numeric(rows[col], errors="coerce").astype("Int64")
    for col, unit in ACCOUNT_UNITS.items():
        if unit is not None:
            rows[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")

    whole = rows[(rows["zone_id"] == AOI_ZONE) & (rows["class_name"] == ALL_CLASSES)]
    groups = whole.groupby(_KEYS, dropna=False)
    counts = groups["aoi"].nunique()
    if (counts != len(accounts)).any():
        log.warning(
            "rows not every AOI has are left out of the sum: %s",
            counts[counts != len(accounts)].index.tolist(),
        )
    keep = counts[counts == len(accounts)].index
    grouped = whole.set_index(_KEYS).loc[lambda t: t.index.isin(keep)]
    by = grouped.groupby(level=_KEYS, dropna=False)
    # a value only where every AOI has one: a blank in one AOI leaves the sum blank
    total = by[list(ADDITIVE)].sum(min_count=len(accounts))
    partial = (by[list(ADDITIVE)].count() != len(accounts)) & (by[list(ADDITIVE)].count() > 0)
    if partial.any().any():
        log.warning(
            "sum of the AOIs left blank where some AOIs have no value: %s",
            [(k, c) for k, row in partial.iterrows() for c in row.index[row]],
        )
    ok = by[["stock_mgc_p025", "net_flux_mgco2e_per_yr_p025"]].agg(lambda v: bool(v.notna().all()))
    ok.columns = ["stock_ok", "flux_ok"]
    text = by[["model", "inputs", "method_params"]].agg(
        lambda v: v.iloc[0] if v.nunique() == 1 else ""
    )
    synthetic = by["synthetic"].agg(lambda v: "yes" if (v == "yes").any() else "no")
    total = total.join(text).join(synthetic).join(ok).reset_index()
    total["stock_density_mgc_per_ha"] = total["stock_mgc"] / total["area_ha"]
    total.insert(0, "aoi", ALL_AOIS)
    total["zone_id"] = AOI_ZONE
    total["zone_name"] = ALL_AOIS
    total["class_name"] = ALL_CLASSES
    total["computed_at"] = now()
    total["sinkmap_version"] = __version__
    total["output_version"] = OUTPUT_VERSION

    if monte_carlo:
        total = _with_intervals(total, monte_carlo)
    total = total.drop(columns=["stock_ok", "flux_ok"])
    for col in AOIS_ACCOUNT_COLUMNS:
        if col not in total.columns:
            total[col] = np.nan if ACCOUNT_UNITS.get(col) is not None else pd.NA
    table = pd.concat([rows[AOIS_ACCOUNT_COLUMNS], total[AOIS_ACCOUNT_COLUMNS]], ignore_index=True)
    for col in ACCOUNT_INTEGER:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    write_csv(table, out)
    return table


def _with_intervals(
    total: pd.DataFrame, monte_carlo: Mapping[str, Mapping[int, Path]]
) -> pd.DataFrame:
    """The sum's stock intervals and stock-difference flux intervals, from the AOIs' draws summed
    draw by draw, on the rows where every AOI has its own (``stock_ok``, ``flux_ok``)."""
    years = sorted(set.intersection(*(set(m) for m in monte_carlo.values())))
    draws = {y: summed_draws({n: m[y] for n, m in monte_carlo.items()}) for y in years}
    total = total.copy()
    total["mc_draws"] = np.nan
    for y in years:
        q = interval_columns(draws[y], "stock_mgc")
        rows = (total["year"] == y) & total["stock_mgc"].notna() & total["stock_ok"]
        for col in q.columns:
            total.loc[rows, col] = total.loc[rows, "pool"].map(q[col]).astype("float64")
        total.loc[rows, "mc_draws"] = draws[y].shape[1]
    for y0, y1 in zip(years[:-1], years[1:], strict=True):
        flux = flux_between(draws[y0], draws[y1].reindex_like(draws[y0]), y1 - y0)
        q = interval_columns(flux, "net_flux_mgco2e_per_yr")
        rows = (
            (total["interval_start"] == y0)
            & (total["interval_end"] == y1)
            & (total["method"] == STOCK_DIFFERENCE)
            & total["net_flux_mgco2e_per_yr"].notna()
            & total["flux_ok"]
        )
        for col in q.columns:
            total.loc[rows, col] = total.loc[rows, "pool"].map(q[col]).astype("float64")
        total.loc[rows, "mc_draws"] = flux.shape[1]
    return total


def write_mosaics(groups: Mapping[str, Path], out: Path) -> list[Path]:
    """The whole AOI's layers of an AOI split into groups of tiles (``grid.group_tiles``): for
    each raster of the groups' ``<year>/`` and ``sink/<y0>-<y1>/`` folders, a GDAL VRT at the same
    relative path under ``out`` (``.vrt``) that places every group's COG on the whole lattice,
    with the first group's tags, band description, nodata and colour table, and its QGIS style
    beside it. The groups' grids are windows of one lattice that do not overlap, so each pixel
    comes from the one group that has it. Returns the VRTs written."""
    import shutil

    rasters: dict[Path, list[Path]] = {}
    for folder in groups.values():
        for path in sorted(folder.glob("[0-9]*/*.tif")) + sorted(folder.glob("sink/*/*.tif")):
            if not path.name.startswith("."):
                rasters.setdefault(path.relative_to(folder), []).append(path)
    written = []
    for rel, sources in rasters.items():
        target = out / rel.with_suffix(".vrt")
        with atomic_path(target) as tmp:
            tmp.write_text(_vrt(sources, target.parent), encoding="utf-8")
        style = sources[0].with_suffix(".qml")
        if style.is_file():
            shutil.copyfile(style, target.with_suffix(".qml"))
        written.append(target)
    log.info("%d mosaic(s) of %d groups in %s", len(written), len(groups), out)
    return written


def _vrt(sources: list[Path], folder: Path) -> str:
    """The VRT (in ``folder``) of single-band rasters on one lattice that do not overlap: the
    union of their extents, each placed by its transform, described by the first."""
    from xml.sax.saxutils import escape, quoteattr

    import rasterio
    from rasterio.dtypes import dtype_rev, typename_fwd

    places = []
    for src in sources:
        with rasterio.open(src) as ds:
            places.append((src, ds.transform, ds.width, ds.height))
    with rasterio.open(sources[0]) as ds:
        crs, dtype, nodata, tags = ds.crs.to_wkt(), ds.dtypes[0], ds.nodata, ds.tags()
        description = ds.descriptions[0] or ""
        colormap = ds.colormap(1) if ds.colorinterp[0].name == "palette" else None
    res = places[0][1].a
    left = min(t.c for _, t, _, _ in places)
    top = max(t.f for _, t, _, _ in places)
    right = max(t.c + w * res for _, t, w, _ in places)
    bottom = min(t.f - h * res for _, t, _, h in places)
    lines = [
        f'<VRTDataset rasterXSize="{round((right - left) / res)}" '
        f'rasterYSize="{round((top - bottom) / res)}">',
        f"  <SRS>{escape(crs)}</SRS>",
        f"  <GeoTransform>{left!r}, {res!r}, 0.0, {top!r}, 0.0, {-res!r}</GeoTransform>",
        "  <Metadata>",
        *(f"    <MDI key={quoteattr(k)}>{escape(v)}</MDI>" for k, v in sorted(tags.items())),
        "  </Metadata>",
        f'  <VRTRasterBand dataType="{typename_fwd[dtype_rev[dtype]]}" band="1">',
        f"    <Description>{escape(description)}</Description>",
    ]
    if nodata is not None:
        lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
    if colormap:
        lines += ["    <ColorInterp>Palette</ColorInterp>", "    <ColorTable>"]
        for code in range(max(colormap) + 1):
            r, g, b, a = colormap.get(code, (0, 0, 0, 0))
            lines.append(f'      <Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>')
        lines.append("    </ColorTable>")
    for src, t, w, h in places:
        x, y = round((t.c - left) / res), round((top - t.f) / res)
        lines += [
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="1">{escape(os.path.relpath(src, folder))}'
            "</SourceFilename>",
            "      <SourceBand>1</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            f'      <DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/>',
            "    </SimpleSource>",
        ]
    return "\n".join([*lines, "  </VRTRasterBand>", "</VRTDataset>", ""])
