"""Account tallies: per zone × class × pool tables built from the published layers.

The carbon account (``results/carbon_account.csv``) has one row per year × zone × land-cover class
× pool × method. This module defines its columns and (below) the stages that tally the layers into
those rows; ``docs/outputs.md`` documents every column.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd

from sinkmap.account import (
    IPCC_CATEGORIES,
    GrowthRates,
    add_group_sums,
    gain_loss,
    group_sums,
    ipcc_label,
    membership,
    read_zones,
    zone_coverage,
)
from sinkmap.config import Config
from sinkmap.constants import (
    CO2_PER_C,
    POOLS,
    SIGN_CONVENTION,
    UNITS_FLUX,
    UNITS_FLUX_TOTAL,
    UNITS_STOCK,
    UNITS_STOCK_TOTAL,
)
from sinkmap.errors import ConfigError, InputDataError
from sinkmap.grid import Grid, Tile
from sinkmap.io import LayerSpec, atomic_path, open_on_grid, sha256_file, write_layers

#: Zone id of the whole area of interest (every valid cell, whatever the user zones).
AOI_ZONE = "aoi"
#: ``class_name`` of the rows that add up every class of a zone (``class_code`` is empty there).
ALL_CLASSES = "all classes"
#: Pools of the account, in order; ``total`` = above + below + dead + soil.
ACCOUNT_POOLS: tuple[str, ...] = ("above", "below", "dead", "soil", "total")
#: The two methods reported side by side.
STOCK_DIFFERENCE = "stock-difference"
GAIN_LOSS = "gain-loss"

#: Columns of the account table and their units (None: a label, code or text without units).
ACCOUNT_UNITS: dict[str, str | None] = {
    "year": None,
    "interval_start": None,
    "interval_end": None,
    "zone_id": None,
    "zone_name": None,
    "class_code": None,
    "class_name": None,
    "ipcc_category": None,
    "pool": None,
    "method": None,
    "area_ha": "ha",
    "stock_mgc": UNITS_STOCK_TOTAL,
    "stock_density_mgc_per_ha": UNITS_STOCK,
    "stock_change_mgc_per_yr": "Mg C yr-1",
    "net_flux_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "emissions_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "removals_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "stock_mgc_p05": UNITS_STOCK_TOTAL,
    "stock_mgc_p95": UNITS_STOCK_TOTAL,
    "net_flux_mgco2e_per_yr_p05": UNITS_FLUX_TOTAL,
    "net_flux_mgco2e_per_yr_p95": UNITS_FLUX_TOTAL,
    "mc_draws": None,
    "model": None,
    "method_params": None,
    "inputs": None,
    "synthetic": None,
    "computed_at": None,
    "sinkmap_version": None,
    "output_version": None,
}
ACCOUNT_COLUMNS: list[str] = list(ACCOUNT_UNITS)
#: Integer columns (empty where not applicable), JSON-text columns, and plain text columns.
ACCOUNT_INTEGER = ("year", "interval_start", "interval_end", "class_code", "mc_draws")
ACCOUNT_JSON_TEXT = ("model", "method_params", "inputs")
ACCOUNT_TEXT = (
    "zone_id",
    "zone_name",
    "class_name",
    "ipcc_category",
    "pool",
    "method",
    "synthetic",
    "computed_at",
    "sinkmap_version",
    "output_version",
)


# == stages ========================================================================================
log = logging.getLogger("sinkmap")

_CRF_LETTER = dict(zip(IPCC_CATEGORIES, "ABCDEF", strict=True))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- zones -----------------------------------------------------------------------------------------
class Zones:
    """The user's zones on the run's grid (or none): ids, names and per-tile coverage."""

    def __init__(self, cfg: Config, grid: Grid) -> None:
        self.grid = grid
        self.gdf: Any = None
        self.ids: list[str] = [AOI_ZONE]
        self.names: list[str] = [cfg.aoi.name or AOI_ZONE]
        zc = cfg.account.zones
        if zc is None:
            return
        import geopandas as gpd

        if not Path(zc.path).exists():
            raise ConfigError(
                f"account.zones.path {zc.path} does not exist; give a polygon file of the zones "
                "(GeoPackage, shapefile, GeoJSON) or remove account.zones"
            )
        self.gdf = read_zones(zc.path, grid.crs, layer=zc.layer, id_field=zc.id_field)
        if (self.gdf["zone_id"] == AOI_ZONE).any():
            raise InputDataError(
                f"zone id {AOI_ZONE!r} is reserved for the whole AOI; rename that zone in {zc.path}"
            )
        names = list(self.gdf["zone_id"])
        if zc.name_field:
            raw = gpd.read_file(zc.path, layer=zc.layer)
            if zc.name_field not in raw.columns:
                raise InputDataError(
                    f"zones file {zc.path} has no column {zc.name_field!r} "
                    f"(account.zones.name_field); columns: {[c for c in raw.columns if c != 'geometry']}"
                )
            names = [str(v) for v in raw[zc.name_field]]
        self.ids += list(self.gdf["zone_id"])
        self.names += names

    def coverage(self, tile: Tile) -> Any:
        return None if self.gdf is None else zone_coverage(self.gdf, self.grid, tile)

    def label(self, table: pd.DataFrame) -> pd.DataFrame:
        """Replace the zone index column by ``zone_id`` and ``zone_name``."""
        idx = table.pop("zone").to_numpy()
        table.insert(0, "zone_name", np.asarray(self.names, dtype=object)[idx])
        table.insert(0, "zone_id", np.asarray(self.ids, dtype=object)[idx])
        return table


def _tile_blocks(arrays: Mapping[str, da.Array]) -> list[dict[str, Any]]:
    """Per tile, the delayed block of each array (tiles in grid order)."""
    delayed = {k: a.to_delayed().ravel() for k, a in arrays.items()}
    n = len(next(iter(delayed.values())))
    return [{k: v[i] for k, v in delayed.items()} for i in range(n)]


def _compute(tasks: Sequence[Any], threads: int) -> list[Any]:
    from sinkmap.io import _scheduler

    with _scheduler(threads):
        return list(dask.compute(*tasks))


# -- gain-loss layers --------------------------------------------------------------------------------
GAIN_LOSS_LAYERS = {
    "net": "gain_loss_net_co2e.tif",
    "removals": "gain_loss_removals_co2e.tif",
    "emissions": "gain_loss_emissions_co2e.tif",
}


def compute_gain_loss(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover0: Path,
    land_cover1: Path,
    stocks0: Mapping[str, Path],
    stock1_total: Path,
    grid_path: Path,
    out_dir: Path,
    loss_year: Path | None = None,
    state: Path | None = None,
    threads: int = 1,
) -> dict[str, Path]:
    """Gain-loss CO2e layers of an interval (IPCC 2006 V4 Eq. 2.4, 2.9, 2.10): net, removals
    (growth), emissions (transitions and forest loss), Mg CO2e/ha/yr with the inventory sign."""
    from sinkmap.pipeline import _provenance, _sources_from_tags, _style_rasters

    gl = cfg.account.gain_loss
    rates = GrowthRates.from_csv(gl.growth_rates)
    grid = Grid.from_json(grid_path)
    arrays = {
        "c0": open_on_grid(land_cover0, grid),
        "c1": open_on_grid(land_cover1, grid),
        "s0": open_on_grid(stocks0["total"], grid),
        "s1": open_on_grid(stock1_total, grid),
        "bio0": sum(
            open_on_grid(stocks0[p], grid, dtype="float64") for p in ("above", "below", "dead")
        ),
    }
    if loss_year is not None:
        arrays["loss"] = open_on_grid(loss_year, grid)
    if state is not None:
        arrays["state"] = open_on_grid(state, grid)
    names = list(arrays)

    def _block(*blocks: np.ndarray) -> np.ndarray:
        b = dict(zip(names, blocks, strict=True))
        r = gain_loss(
            b["c0"],
            b["c1"],
            b.get("state"),
            rates,
            gl.root_shoot,
            gl.carbon_fraction,
            (y0, y1),
            b.get("loss"),
            stock_t1=b["s0"],
            stock_t2=b["s1"],
            biomass_t1=b["bio0"] if "loss" in b else None,
            loss_year_base=gl.loss_year_base,
            grow_converted=gl.grow_converted,
        )
        return np.stack([r.net_co2e, r.removals_co2e, r.emissions_co2e])

    stacked = da.map_blocks(
        _block, *arrays.values(), new_axis=0, chunks=((3,), *grid.chunks), dtype="float32"
    )
    sources, synthetic = _sources_from_tags([stocks0["total"], stock1_total])
    base = _provenance(cfg, sources=sources, synthetic=synthetic) | {
        "INTERVAL": f"{y0}-{y1}",
        "YEAR_START": y0,
        "YEAR_END": y1,
        "UNITS": UNITS_FLUX,
        "SIGN_CONVENTION": SIGN_CONVENTION,
        "POOL": "total",
        "METHOD": GAIN_LOSS,
        "METHOD_PARAMS": json.dumps(gain_loss_params(cfg), sort_keys=True),
    }
    what = {
        "net": "net CO2e flux by gain-loss, -(gains - losses) x 44/12 (IPCC 2006 V4 Eq. 2.4)",
        "removals": "CO2e removals by growth, -gains x 44/12 (IPCC 2006 V4 Eq. 2.9, 2.10), <= 0",
        "emissions": "CO2e emissions from transitions and forest loss, losses x 44/12, >= 0",
    }
    outs = {k: Path(out_dir) / name for k, name in GAIN_LOSS_LAYERS.items()}
    layers = {
        outs[k]: LayerSpec(
            data=stacked[i],
            dtype="float32",
            nodata=float("nan"),
            tags=base | {"QUANTITY": what[k]},
            description=f"{what[k]} ({UNITS_FLUX}) {y0}-{y1}",
        )
        for i, k in enumerate(GAIN_LOSS_LAYERS)
    }
    write_layers(grid, layers, threads=threads)
    _style_rasters(layers)
    return outs


def gain_loss_params(cfg: Config) -> dict[str, Any]:
    """What the gain-loss result depends on besides the layers (for the provenance columns)."""
    gl = cfg.account.gain_loss
    path = Path(gl.growth_rates)
    return {
        "growth_rates": str(path),
        "growth_rates_sha256": sha256_file(path) if path.exists() else None,
        "root_shoot": gl.root_shoot,
        "carbon_fraction": gl.carbon_fraction,
        "grow_converted": gl.grow_converted,
        "loss_role": gl.loss_role,
        "state_role": gl.state_role,
    }


# -- tallies -----------------------------------------------------------------------------------------
def _pool_arrays(stocks: Mapping[str, Path], grid: Grid, suffix: str) -> dict[str, da.Array]:
    out = {f"{p}{suffix}": open_on_grid(stocks[p], grid, dtype="float64") for p in POOLS}
    out[f"total{suffix}"] = sum(out[f"{p}{suffix}"] for p in POOLS)
    return out


def _stock_tile(
    grid: Grid, zones: Zones, tile: Tile, blocks: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    area = grid.cell_area_ha(tile.window)
    values = {k: v for k, v in blocks.items() if k != "lc"}
    valid = blocks["lc"] != 0
    for v in values.values():
        valid &= np.isfinite(v)
    member = membership(valid, area, zones.coverage(tile))
    return group_sums(member, {"class_code": blocks["lc"]}, values)


def tally_stocks(
    cfg: Config,
    year: int,
    *,
    land_cover: Path,
    stocks: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Stock per zone × class × pool of one year (``account_stocks.csv``): the AOI and each zone,
    cells weighted by their true area and, for zones, by the exact covered fraction."""
    from sinkmap.pipeline import _legend

    grid = Grid.from_json(grid_path)
    zones = Zones(cfg, grid)
    arrays = {"lc": open_on_grid(land_cover, grid)} | _pool_arrays(stocks, grid, "")
    tasks = [
        dask.delayed(_stock_tile)(grid, zones, tile, blocks)
        for tile, blocks in zip(grid.tiles(), _tile_blocks(arrays), strict=True)
    ]
    sums = zones.label(add_group_sums(_compute(tasks, threads)))
    rows = _long_rows(
        sums.rename(columns={p: f"stock_mgc:{p}" for p in ACCOUNT_POOLS}), _legend(cfg)
    )
    table = rows.assign(year=year)[
        [
            "year",
            "zone_id",
            "zone_name",
            "class_code",
            "class_name",
            "ipcc_category",
            "pool",
            "area_ha",
            "stock_mgc",
        ]
    ]
    table["stock_density_mgc_per_ha"] = table["stock_mgc"] / table["area_ha"]
    table["computed_at"] = _now()
    _write_csv(table, out)
    return table


def _long_rows(sums: pd.DataFrame, legend: str | None) -> pd.DataFrame:
    """Per-class sums with columns ``"{measure}:{pool}"`` → one row per (zone, class, pool) with one
    column per measure, plus the "all classes" rows of each zone (the sum over its classes)."""
    from sinkmap.styles import class_names, ipcc_categories

    names, cats = class_names(legend), ipcc_categories(legend)
    value_cols = [c for c in sums.columns if ":" in c]
    totals = sums.groupby(["zone_id", "zone_name"], sort=False, as_index=False)[
        ["area_ha", *value_cols]
    ].sum()
    totals["class_code"] = pd.array([pd.NA] * len(totals), dtype="Int64")
    both = pd.concat(
        [sums.assign(class_code=sums["class_code"].astype("Int64")), totals], ignore_index=True
    )
    pools = [p for p in ACCOUNT_POOLS if any(c.endswith(f":{p}") for c in value_cols)]
    measures = sorted({c.split(":")[0] for c in value_cols})
    frames = []
    for pool in pools:
        part = both[["zone_id", "zone_name", "class_code", "area_ha"]].copy()
        part["pool"] = pool
        for m in measures:
            part[m] = both.get(f"{m}:{pool}", np.nan)
        frames.append(part)
    rows = pd.concat(frames, ignore_index=True)
    rows["class_name"] = [
        ALL_CLASSES if pd.isna(c) else names.get(int(c), str(c)) for c in rows["class_code"]
    ]
    rows["ipcc_category"] = ["" if pd.isna(c) else cats.get(int(c), "") for c in rows["class_code"]]
    return rows


def _write_csv(df: pd.DataFrame, out: Path) -> None:
    with atomic_path(Path(out)) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")


def _change_tile(
    grid: Grid, zones: Zones, tile: Tile, blocks: Mapping[str, np.ndarray], years: int
) -> pd.DataFrame:
    """One tile's per (zone, class at start, class at end) sums of the interval's changes."""
    area = grid.cell_area_ha(tile.window)
    c0, c1 = blocks["c0"], blocks["c1"]
    valid = (c0 != 0) & (c1 != 0)
    values: dict[str, np.ndarray] = {}
    for pool in ACCOUNT_POOLS:
        s0, s1 = blocks[f"{pool}0"], blocks[f"{pool}1"]
        valid &= np.isfinite(s0) & np.isfinite(s1)
    for pool in ACCOUNT_POOLS:
        s0 = np.nan_to_num(blocks[f"{pool}0"])
        s1 = np.nan_to_num(blocks[f"{pool}1"])
        change = (s1 - s0) / years  # Mg C/ha/yr, + when the stock grows
        flux = -change * CO2_PER_C  # Mg CO2e/ha/yr, inventory sign
        values[f"sd_s0:{pool}"] = s0
        values[f"sd_s1:{pool}"] = s1
        values[f"sd_change:{pool}"] = change
        values[f"sd_emissions:{pool}"] = np.maximum(flux, 0.0)
        values[f"sd_removals:{pool}"] = np.minimum(flux, 0.0)
    if "gl_removals" in blocks:
        rem = blocks["gl_removals"].astype("float64")
        em = blocks["gl_emissions"].astype("float64")
        valid &= np.isfinite(rem) & np.isfinite(em)
        values["gl_removals:total"] = np.nan_to_num(rem)
        values["gl_emissions:total"] = np.nan_to_num(em)
    member = membership(valid, area, zones.coverage(tile))
    return group_sums(member, {"class_start": c0, "class_code": c1}, values)


def tally_changes(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover0: Path,
    land_cover1: Path,
    stocks0: Mapping[str, Path],
    stocks1: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    ipcc_out: Path,
    gain_loss_layers: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Changes of an interval per zone × class (at the end) × pool × method
    (``account_changes.csv``), and the IPCC summary by land category (``ipcc_summary.csv``)."""
    from sinkmap.pipeline import _legend

    grid = Grid.from_json(grid_path)
    zones = Zones(cfg, grid)
    arrays = {"c0": open_on_grid(land_cover0, grid), "c1": open_on_grid(land_cover1, grid)}
    arrays |= _pool_arrays(stocks0, grid, "0") | _pool_arrays(stocks1, grid, "1")
    if gain_loss_layers:
        arrays["gl_removals"] = open_on_grid(gain_loss_layers["removals"], grid)
        arrays["gl_emissions"] = open_on_grid(gain_loss_layers["emissions"], grid)
    n = y1 - y0
    tasks = [
        dask.delayed(_change_tile)(grid, zones, tile, blocks, n)
        for tile, blocks in zip(grid.tiles(), _tile_blocks(arrays), strict=True)
    ]
    sums = zones.label(add_group_sums(_compute(tasks, threads)))
    legend = _legend(cfg)
    stamp = _now()
    _write_csv(ipcc_summary(sums, legend, y0, y1).assign(computed_at=stamp), ipcc_out)

    by_end = (
        sums.drop(columns=["class_start"])
        .groupby(["zone_id", "zone_name", "class_code"], sort=False, as_index=False)
        .sum()
    )
    rows = _long_rows(by_end, legend)
    base = ["zone_id", "zone_name", "class_code", "class_name", "ipcc_category", "pool", "area_ha"]
    sd = rows[base].copy()
    sd["method"] = STOCK_DIFFERENCE
    sd["stock_change_mgc_per_yr"] = rows["sd_change"]
    sd["emissions_mgco2e_per_yr"] = rows["sd_emissions"]
    sd["removals_mgco2e_per_yr"] = rows["sd_removals"]
    frames = [sd]
    if "gl_removals" in rows.columns:
        g = rows[rows["pool"] == "total"]
        gl = g[base].copy()
        gl["method"] = GAIN_LOSS
        gl["emissions_mgco2e_per_yr"] = g["gl_emissions"]
        gl["removals_mgco2e_per_yr"] = g["gl_removals"]
        gl["stock_change_mgc_per_yr"] = -(g["gl_emissions"] + g["gl_removals"]) / CO2_PER_C
        frames.append(gl)
    table = pd.concat(frames, ignore_index=True)
    table["net_flux_mgco2e_per_yr"] = -table["stock_change_mgc_per_yr"] * CO2_PER_C
    table.insert(0, "interval_end", y1)
    table.insert(0, "interval_start", y0)
    table["computed_at"] = stamp
    _write_csv(table, out)
    return table


IPCC_SUMMARY_COLUMNS = [
    "interval_start",
    "interval_end",
    "zone_id",
    "zone_name",
    "crf_code",
    "category",
    "from_category",
    "to_category",
    "area_ha",
    "living_biomass_mgc_per_yr",
    "dead_organic_matter_mgc_per_yr",
    "soil_mgc_per_yr",
    "total_mgc_per_yr",
    "net_co2e_mgco2e_per_yr",
    "gl_gains_mgc_per_yr",
    "gl_losses_mgc_per_yr",
    "gl_net_co2e_mgco2e_per_yr",
]


def ipcc_summary(sums: pd.DataFrame, legend: str | None, y0: int, y1: int) -> pd.DataFrame:
    """Annual carbon stock changes by IPCC land-use category and pool, in the order of the
    reporting tables 4.A–4.F: for each end category, its "remaining" row (4.X.1), a "converted to"
    subtotal (4.X.2) and one row per category of origin (4.X.2.k, k in reporting order), then the
    category total (4.X). Stock-difference columns by pool (living biomass = above + below, dead
    organic matter, soil; Mg C/yr, + = stock gain) and net CO2e; gain-loss gains, losses (Mg C/yr)
    and net CO2e. Inventory sign on CO2e: emissions +, removals −."""
    from sinkmap.styles import ipcc_categories

    cats = ipcc_categories(legend)
    frame = sums.copy()
    for col, codes in (("from_category", "class_start"), ("to_category", "class_code")):
        unknown = sorted({int(c) for c in frame[codes] if int(c) not in cats})
        if unknown:
            raise InputDataError(
                f"land-cover code(s) {unknown} have no IPCC category in legend {legend!r}; add "
                "them to the legend's crosswalk (config/crosswalks/)"
            )
        frame[col] = [cats[int(c)] for c in frame[codes]]
    have_gl = "gl_removals:total" in frame.columns
    out = pd.DataFrame(
        {
            "zone_id": frame["zone_id"],
            "zone_name": frame["zone_name"],
            "from_category": frame["from_category"],
            "to_category": frame["to_category"],
            "area_ha": frame["area_ha"],
            "living_biomass_mgc_per_yr": frame["sd_change:above"] + frame["sd_change:below"],
            "dead_organic_matter_mgc_per_yr": frame["sd_change:dead"],
            "soil_mgc_per_yr": frame["sd_change:soil"],
            "total_mgc_per_yr": frame["sd_change:total"],
            "gl_gains_mgc_per_yr": -frame["gl_removals:total"] / CO2_PER_C if have_gl else np.nan,
            "gl_losses_mgc_per_yr": frame["gl_emissions:total"] / CO2_PER_C if have_gl else np.nan,
        }
    )
    pairs = out.groupby(
        ["zone_id", "zone_name", "from_category", "to_category"], sort=False, as_index=False
    ).sum(min_count=1)
    rows = []
    measure = [c for c in pairs.columns if c.endswith("_per_yr") or c == "area_ha"]
    for zone_key, zone in pairs.groupby(["zone_id", "zone_name"], sort=False):
        for to_cat in IPCC_CATEGORIES:
            into = zone[zone["to_category"] == to_cat]
            if into.empty:
                continue
            letter = _CRF_LETTER[to_cat]
            remaining = into[into["from_category"] == to_cat]
            converted = into[into["from_category"] != to_cat]

            def _row(code: str, label: str, frm: str, part: pd.DataFrame) -> dict[str, Any]:
                return _summary_row(zone_key, code, label, frm, to_cat, part, measure)  # noqa: B023

            rows.append(_row(f"4.{letter}", f"Total {to_cat}", "all", into))
            if not remaining.empty:
                rows.append(_row(f"4.{letter}.1", ipcc_label(to_cat, to_cat), to_cat, remaining))
            if not converted.empty:
                rows.append(
                    _row(f"4.{letter}.2", f"Land converted to {to_cat}", "other", converted)
                )
                others = [c for c in IPCC_CATEGORIES if c != to_cat]
                for k, frm in enumerate(others, start=1):
                    part = converted[converted["from_category"] == frm]
                    if not part.empty:
                        rows.append(_row(f"4.{letter}.2.{k}", ipcc_label(frm, to_cat), frm, part))
    derived = ("net_co2e_mgco2e_per_yr", "gl_net_co2e_mgco2e_per_yr")
    table = pd.DataFrame(rows, columns=[c for c in IPCC_SUMMARY_COLUMNS[2:] if c not in derived])
    table["net_co2e_mgco2e_per_yr"] = -table["total_mgc_per_yr"] * CO2_PER_C
    table["gl_net_co2e_mgco2e_per_yr"] = (
        -(table["gl_gains_mgc_per_yr"] - table["gl_losses_mgc_per_yr"]) * CO2_PER_C
    )
    table.insert(0, "interval_end", y1)
    table.insert(0, "interval_start", y0)
    return table[IPCC_SUMMARY_COLUMNS]


def _summary_row(
    zone: tuple[str, str],
    code: str,
    label: str,
    frm: str,
    to: str,
    part: pd.DataFrame,
    measure: list[str],
) -> dict[str, Any]:
    row: dict[str, Any] = {"zone_id": zone[0], "zone_name": zone[1], "crf_code": code}
    row |= {"category": label, "from_category": frm, "to_category": to}
    return row | {m: part[m].sum(min_count=1) for m in measure}
