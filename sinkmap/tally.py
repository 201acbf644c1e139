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

from sinkmap import OUTPUT_VERSION, __version__
from sinkmap.account import (
    IPCC_CATEGORIES,
    GrowthRates,
    Parameter,
    add_group_sums,
    draw_parameters,
    draw_pools,
    gain_loss,
    group_sums,
    ipcc_label,
    membership,
    monte_carlo_tile,
    parameter_target,
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
from sinkmap.io import (
    LayerSpec,
    atomic_path,
    open_on_grid,
    sha256_file,
    write_csv,
    write_layers,
)

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

    def label(self, table: pd.DataFrame, what: str) -> pd.DataFrame:
        """Replace the zone index column by ``zone_id`` and ``zone_name``; warn about zones that
        cover no valid cell (they still get "all classes" rows of area 0, see :func:`_long_rows`)."""
        if table.empty:
            raise InputDataError(
                f"{what}: no cell of the AOI has valid land cover and stocks; check the land cover "
                "and the model's inputs for that year (are they all nodata over the AOI?)"
            )
        idx = table.pop("zone").to_numpy()
        empty = sorted(set(self.ids) - {self.ids[i] for i in np.unique(idx)})
        if empty:
            log.warning("%s: zone(s) %s cover no valid cell; their rows are 0", what, empty)
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
    sums = zones.label(add_group_sums(_compute(tasks, threads)), f"stock tally {year}")
    rows = _long_rows(
        sums.rename(columns={p: f"stock_mgc:{p}" for p in ACCOUNT_POOLS}), _legend(cfg), zones
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
    table = table.assign(**_layer_provenance([stocks["total"]]), computed_at=_now())
    write_csv(table, out)
    return table


def _long_rows(sums: pd.DataFrame, legend: str | None, zones: Zones | None = None) -> pd.DataFrame:
    """Per-class sums with columns ``"{measure}:{pool}"`` → one row per (zone, class, pool) with one
    column per measure, plus the "all classes" rows of each zone (the sum over its classes)."""
    from sinkmap.styles import class_names, ipcc_categories

    names, cats = class_names(legend), ipcc_categories(legend)
    value_cols = [c for c in sums.columns if ":" in c]
    totals = sums.groupby(["zone_id", "zone_name"], sort=False, as_index=False)[
        ["area_ha", *value_cols]
    ].sum()
    if zones is not None:  # every zone gets its "all classes" rows, 0 where it has no valid cell
        every = pd.DataFrame({"zone_id": zones.ids, "zone_name": zones.names})
        totals = every.merge(totals, on=["zone_id", "zone_name"], how="left").fillna(
            dict.fromkeys(["area_ha", *value_cols], 0.0)
        )
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
    # only the valid cells are summed, so NaN elsewhere does no harm
    for pool in ACCOUNT_POOLS:
        s0, s1 = blocks[f"{pool}0"], blocks[f"{pool}1"]
        flux = (s0 - s1) * (CO2_PER_C / years)  # Mg CO2e/ha/yr, inventory sign
        values[f"sd_s0:{pool}"] = s0
        values[f"sd_s1:{pool}"] = s1
        values[f"sd_emissions:{pool}"] = np.maximum(flux, 0.0)
        values[f"sd_removals:{pool}"] = np.minimum(flux, 0.0)
    if "gl_removals" in blocks:
        rem = blocks["gl_removals"].astype("float64")
        em = blocks["gl_emissions"].astype("float64")
        valid &= np.isfinite(rem) & np.isfinite(em)
        values["gl_removals:total"] = rem
        values["gl_emissions:total"] = em
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
    sums = zones.label(add_group_sums(_compute(tasks, threads)), f"change tally {y0}-{y1}")
    for pool in ACCOUNT_POOLS:  # linear: the change of the sums is the sum of the changes
        sums[f"sd_change:{pool}"] = (sums[f"sd_s1:{pool}"] - sums[f"sd_s0:{pool}"]) / n
    legend = _legend(cfg)
    stamp = _now()
    write_csv(ipcc_summary(sums, legend, y0, y1).assign(computed_at=stamp), ipcc_out)

    by_end = (
        sums.drop(columns=["class_start"])
        .groupby(["zone_id", "zone_name", "class_code"], sort=False, as_index=False)
        .sum()
    )
    rows = _long_rows(by_end, legend, zones)
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
        gl["stock_change_mgc_per_yr"] = 0.0 - (g["gl_emissions"] + g["gl_removals"]) / CO2_PER_C
        frames.append(gl)
    table = pd.concat(frames, ignore_index=True)
    table["net_flux_mgco2e_per_yr"] = 0.0 - table["stock_change_mgc_per_yr"] * CO2_PER_C
    table.insert(0, "interval_end", y1)
    table.insert(0, "interval_start", y0)
    table["method_params"] = np.where(
        table["method"] == GAIN_LOSS, json.dumps(gain_loss_params(cfg), sort_keys=True), "{}"
    )
    table = table.assign(**_layer_provenance([stocks0["total"], stocks1["total"]]))
    table["computed_at"] = stamp
    write_csv(table, out)
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
            "gl_gains_mgc_per_yr": 0.0 - frame["gl_removals:total"] / CO2_PER_C
            if have_gl
            else np.nan,
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
    table["net_co2e_mgco2e_per_yr"] = 0.0 - table["total_mgc_per_yr"] * CO2_PER_C
    table["gl_net_co2e_mgco2e_per_yr"] = (
        0.0 - (table["gl_gains_mgc_per_yr"] - table["gl_losses_mgc_per_yr"]) * CO2_PER_C
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


# -- Monte Carlo ---------------------------------------------------------------------------------------
def mc_parameters(model: Any, rel_sds: Mapping[str, float]) -> dict[str, Parameter]:
    """The uncertain parameters of ``model``: a numeric parameter by name, or ``"{attr}.{pool}"``
    for a pool-table column (every class's value drawn independently), each with its relative SD."""
    out: dict[str, Parameter] = {}
    for name, sd in rel_sds.items():
        attr, pool = parameter_target(model, name)
        if pool is None:
            mean: float | np.ndarray = float(getattr(model.params, name))
        else:
            mean = np.asarray(getattr(model, attr).values[pool], "float64")
        out[name] = Parameter(mean=mean, rel_sd=float(sd))
    return out


def _mc_tile(
    model: Any,
    grid: Grid,
    zones: Zones,
    tile: Tile,
    blocks: Mapping[str, np.ndarray],
    param_draws: Mapping[str, np.ndarray],
    seed: int,
    draws: int,
    input_errors: Mapping[str, str],
    want_sd: bool,
) -> tuple[np.ndarray | None, np.ndarray]:
    """All draws of one tile: totals (draws, zones, pools + total) in Mg C, and the per-pixel SD
    of the total stock (Mg C/ha) if asked. Memory: one tile of pixels plus draws × zones × 5."""
    area = grid.cell_area_ha(tile.window)
    data = {k: np.asarray(v) for k, v in blocks.items()}
    base = model.pools(data)
    valid = np.asarray(data["land_cover"]) != 0
    valid &= np.isfinite(sum(np.asarray(base[p], "float64") for p in POOLS))
    member = membership(valid, area, zones.coverage(tile))
    user = member.zone > 0
    z_idx, z_cell, z_w = member.zone[user], member.cell[user], member.weight[user]
    w_aoi = np.where(valid, area, 0.0).ravel()
    n_zones = len(zones.ids)
    acc = np.zeros(valid.shape) if want_sd else None  # Σ total and Σ total² over draws, per pixel
    acc2 = np.zeros(valid.shape) if want_sd else None

    def one_draw(
        data: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray], noise: Any
    ) -> dict[str, np.ndarray]:
        pools = draw_pools(model, data, params, noise, input_errors)
        sums = np.zeros((n_zones, len(POOLS) + 1))
        total = np.zeros(valid.shape)
        for i, p in enumerate(POOLS):
            v = np.where(valid, np.nan_to_num(np.asarray(pools[p], "float64")), 0.0)
            total += v
            flat = v.ravel()
            sums[0, i] = flat @ w_aoi
            if z_idx.size:
                sums[:, i] += np.bincount(z_idx, weights=flat[z_cell] * z_w, minlength=n_zones)
        sums[:, -1] = sums[:, :-1].sum(axis=1)
        if acc is not None and acc2 is not None:  # in place: the closure's arrays
            acc[...] += total
            acc2[...] += total * total
        return {"totals": sums}

    totals = monte_carlo_tile(one_draw, data, tile, param_draws, seed, draws)["totals"]
    sd = None
    if acc is not None and acc2 is not None:
        var = np.maximum(acc2 - acc * acc / draws, 0.0) / max(draws - 1, 1)
        sd = np.where(valid, np.sqrt(var), np.nan).astype("float32")
    return sd, totals


def _mc_by_pixel(
    model: Any,
    grid: Grid,
    zones: Zones,
    arrays: Mapping[str, da.Array],
    param_draws: Mapping[str, np.ndarray],
    mc: Any,
    want_sd: bool,
) -> tuple[Any, da.Array | None]:
    """Delayed totals (draws, zones, pools + total) and the SD layer, model run on every pixel."""
    results = [
        dask.delayed(_mc_tile, nout=2)(
            model,
            grid,
            zones,
            tile,
            blocks,
            param_draws,
            mc.seed,
            mc.draws,
            mc.input_errors,
            want_sd,
        )
        for tile, blocks in zip(grid.tiles(), _tile_blocks(arrays), strict=True)
    ]
    totals = dask.delayed(np.sum)([r[1] for r in results], axis=0)  # tiles added in order
    if not want_sd:
        return totals, None
    return totals, _tiles_to_array(grid, [r[0] for r in results])


def _class_areas(grid: Grid, zones: Zones, tile: Tile, lc: np.ndarray) -> np.ndarray:
    """Area (ha) of each land-cover class in each zone over one tile: (zones, 256)."""
    area = grid.cell_area_ha(tile.window)
    member = membership(np.asarray(lc) != 0, area, zones.coverage(tile))
    codes = np.asarray(lc).ravel().astype(np.int64)[member.cell]
    n = len(zones.ids)
    key = member.zone * 256 + codes
    return np.bincount(key, weights=member.weight, minlength=n * 256).reshape(n, 256)


def _mc_by_class(
    model: Any,
    grid: Grid,
    zones: Zones,
    land_cover: da.Array,
    param_draws: Mapping[str, np.ndarray],
    mc: Any,
) -> tuple[Any, da.Array]:
    """Delayed totals and the SD layer of a model whose pools depend on each pixel's class only."""
    parts = [
        dask.delayed(_class_areas)(grid, zones, tile, block)
        for tile, block in zip(grid.tiles(), land_cover.to_delayed().ravel(), strict=True)
    ]
    areas = dask.delayed(np.sum)(parts, axis=0)
    totals, lut = dask.delayed(_class_draws, nout=2)(model, areas, param_draws, mc.draws)
    return totals, _tiles_to_array(
        grid, [dask.delayed(_lookup)(lut, block) for block in land_cover.to_delayed().ravel()]
    )


def _lookup(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return lut[np.asarray(codes, np.intp)]


def _tiles_to_array(grid: Grid, blocks: Sequence[Any]) -> da.Array:
    """One float32 dask array of the grid from delayed per-tile blocks (tiles in grid order)."""
    tiles = list(grid.tiles())
    ncol = len(grid.chunks[1])
    return da.block(
        [
            [
                da.from_delayed(
                    blocks[r * ncol + c],
                    (tiles[r * ncol + c].height, tiles[r * ncol + c].width),
                    dtype="float32",
                )
                for c in range(ncol)
            ]
            for r in range(len(grid.chunks[0]))
        ]
    )


def _class_draws(
    model: Any, areas: np.ndarray, param_draws: Mapping[str, np.ndarray], draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """Totals (draws, zones, pools + total) from the class areas, and the SD of each class's total
    stock over the draws as a 256-entry lookup (NaN for nodata and absent classes)."""
    present = np.flatnonzero(areas[0] > 0)
    codes = present.astype(np.uint8)[None, :]
    values = np.zeros((draws, len(POOLS), present.size))

    def no_noise(stream: str) -> np.ndarray:
        raise InputDataError(f"input {stream!r} has per-pixel errors: run the Monte Carlo by pixel")

    for d in range(draws):
        pools = draw_pools(
            model, {"land_cover": codes}, {k: v[d] for k, v in param_draws.items()}, no_noise
        )
        for i, p in enumerate(POOLS):
            values[d, i] = np.nan_to_num(np.asarray(pools[p], "float64")[0])
    totals = np.zeros((draws, areas.shape[0], len(POOLS) + 1))
    totals[:, :, :-1] = np.einsum("zk,dik->dzi", areas[:, present], values)
    totals[:, :, -1] = totals[:, :, :-1].sum(axis=2)
    lut = np.full(256, np.nan, "float32")
    per_class = values.sum(axis=1)  # (draws, classes)
    lut[present] = per_class.std(axis=0, ddof=1) if draws > 1 else 0.0
    return totals, lut


def run_monte_carlo(
    cfg: Config,
    year: int,
    *,
    aligned: Mapping[str, Path],
    grid_path: Path,
    out: Path,
    sd_out: Path | None = None,
    threads: int = 1,
    pixelwise: bool | None = None,
) -> pd.DataFrame:
    """Monte Carlo totals of the year's stocks per zone and pool (``monte_carlo.csv``: one row per
    draw × zone × pool), and optionally the per-pixel SD of the total stock (a COG).

    A model that reads only the land cover (``lookup``, or any such model of yours: its pools must
    be a function of each pixel's class) is drawn class by class: each draw evaluates the model once
    per class present and weights it by the class's area in each zone, which gives the same totals
    as running it over every pixel, thousands of times faster. Other models, and any per-pixel
    input error, run pixel by pixel, chunk by chunk (``pixelwise=True`` forces that path).

    Parameters are drawn once per draw for the whole run (and every year: the same seed gives the
    same parameter draws and the same per-pixel errors in every year, so they are fully
    correlated in time and largely cancel in a stock difference); per-pixel input errors are
    independent between pixels. See docs/accounting.md.
    """
    from sinkmap.models import get_model
    from sinkmap.pipeline import _provenance, _sources_from_tags, _style_rasters

    mc = cfg.account.uncertainty
    model = get_model(cfg.model.name, cfg.model.params)
    grid = Grid.from_json(grid_path)
    zones = Zones(cfg, grid)
    roles = sorted(
        set(model.inputs) | {"land_cover"} | set(mc.input_errors) | set(mc.input_errors.values())
    )
    missing = [r for r in roles if r not in aligned]
    if missing:
        raise InputDataError(f"the Monte Carlo needs aligned input role(s) {missing}")
    arrays = {r: open_on_grid(aligned[r], grid) for r in roles}
    param_draws = draw_parameters(mc_parameters(model, mc.parameters), mc.draws, mc.seed)
    if pixelwise is None:
        pixelwise = set(model.inputs) != {"land_cover"} or bool(mc.input_errors)
    if pixelwise:
        totals, sd = _mc_by_pixel(model, grid, zones, arrays, param_draws, mc, sd_out is not None)
    else:
        totals, sd = _mc_by_class(model, grid, zones, arrays["land_cover"], param_draws, mc)
    if sd_out is not None and sd is not None:
        sources, synthetic = _sources_from_tags([aligned["land_cover"]])
        tags = _provenance(cfg, sources=sources, synthetic=synthetic) | {
            "YEAR": year,
            "UNITS": "Mg C ha-1",
            "POOL": "total",
            "QUANTITY": "standard deviation of the total carbon stock over the Monte Carlo draws",
            "MC_DRAWS": mc.draws,
            "MC_SEED": mc.seed,
        }
        spec = LayerSpec(
            data=sd,
            dtype="float32",
            nodata=float("nan"),
            tags=tags,
            description=f"SD of the total carbon stock (Mg C ha-1) {year}, {mc.draws} draws",
        )
        (totals,) = write_layers(grid, {Path(sd_out): spec}, extra=[totals], threads=threads)
        _style_rasters([Path(sd_out)])
    else:
        (totals,) = _compute([totals], threads)
    names = [*POOLS, "total"]
    d, z, p = np.meshgrid(
        np.arange(mc.draws), np.arange(len(zones.ids)), np.arange(len(names)), indexing="ij"
    )
    table = pd.DataFrame(
        {
            "year": year,
            "draw": d.ravel(),
            "zone_id": np.asarray(zones.ids, dtype=object)[z.ravel()],
            "pool": np.asarray(names, dtype=object)[p.ravel()],
            "stock_mgc": totals.ravel(),
            "seed": mc.seed,
        }
    )
    write_csv(table, out)
    return table


# -- the account -------------------------------------------------------------------------------------
def _layer_provenance(paths: Sequence[Path]) -> dict[str, Any]:
    """Model, inputs and synthetic flag of the layers a tally read (from their tags)."""
    import rasterio

    from sinkmap.pipeline import _sources_from_tags

    sources, synthetic = _sources_from_tags(paths)
    with rasterio.open(paths[0]) as ds:
        tags = ds.tags()
    model = {"model": tags.get("MODEL", ""), "params": json.loads(tags.get("MODEL_PARAMS", "{}"))}
    return {
        "model": json.dumps(model, sort_keys=True),
        "inputs": json.dumps(sources, sort_keys=True),
        "synthetic": "yes" if synthetic else "no",
    }


def assemble_account(
    cfg: Config,
    *,
    stocks: Mapping[int, Path],
    changes: Mapping[int, Path],
    monte_carlo: Mapping[int, Path] | None = None,
    out: Path,
    parquet_out: Path | None = None,
) -> pd.DataFrame:
    """``carbon_account.csv`` (and its Parquet twin): the per-year stock tallies joined with the
    changes of the interval ending in each year, both methods, and the Monte Carlo intervals.

    ``stocks``: year → ``account_stocks.csv``; ``changes``: end year → ``account_changes.csv``;
    ``monte_carlo``: year → ``monte_carlo.csv``. Rows of a year come only from that year's (and its
    interval's) tallies, so adding a year leaves earlier rows as they were, ``computed_at``
    included.
    """
    keys = ["zone_id", "class_code", "pool"]
    frames = []
    draws = {
        y: pd.read_csv(p, dtype={"zone_id": str, "pool": str}, keep_default_na=False)
        for y, p in (monte_carlo or {}).items()
    }
    years = sorted(stocks)
    valid_area: dict[int, pd.Series] = {}
    for k, year in enumerate(years):
        st = pd.read_csv(
            stocks[year],
            dtype={"zone_id": str},
            keep_default_na=False,
            na_values={"class_code": [""]},
        )
        st["class_code"] = st["class_code"].astype("Int64")
        st["method"] = STOCK_DIFFERENCE
        st["method_params"] = "{}"
        if year in changes:
            ch = pd.read_csv(
                changes[year],
                dtype={"zone_id": str},
                keep_default_na=False,
                na_values={"class_code": [""]},
            )
            ch["class_code"] = ch["class_code"].astype("Int64")
            sd = ch[ch["method"] == STOCK_DIFFERENCE]
            change_cols = [
                "interval_start",
                "interval_end",
                "stock_change_mgc_per_yr",
                "net_flux_mgco2e_per_yr",
                "emissions_mgco2e_per_yr",
                "removals_mgco2e_per_yr",
            ]
            sd = sd.rename(columns={"computed_at": "_changed_at"})
            st = st.merge(sd[[*keys, *change_cols, "_changed_at"]], on=keys, how="left")
            later = st["_changed_at"].notna() & (st["_changed_at"] > st["computed_at"])
            st.loc[later, "computed_at"] = st.loc[later, "_changed_at"]
            st = st.drop(columns="_changed_at")
            gl = ch[ch["method"] == GAIN_LOSS].drop(columns=["computed_at"], errors="ignore")
            if not gl.empty:
                gl = gl.assign(year=year)
                gl["computed_at"] = ch.loc[gl.index, "computed_at"]
                frames.append(gl)
        if year in draws:
            st = _with_intervals(st, draws, year, years[k - 1] if k else None, valid_area)
        valid_area[year] = _aoi_areas(st)
        frames.append(st)
    table = pd.concat(frames, ignore_index=True)
    for col in ACCOUNT_COLUMNS:  # a column no tally filled keeps its type (Parquet schema)
        if col not in table.columns:
            table[col] = np.nan if ACCOUNT_UNITS[col] is not None else pd.NA
    for col in ACCOUNT_UNITS:
        if ACCOUNT_UNITS[col] is not None:
            table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    for col in ACCOUNT_TEXT + ACCOUNT_JSON_TEXT:
        table[col] = table[col].astype("string")
    table["sinkmap_version"] = __version__
    table["output_version"] = OUTPUT_VERSION
    for col in ACCOUNT_INTEGER:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    order = {m: i for i, m in enumerate((STOCK_DIFFERENCE, GAIN_LOSS))}
    table["_m"] = table["method"].map(order)
    table["_p"] = table["pool"].map({p: i for i, p in enumerate(ACCOUNT_POOLS)})
    table["_z"] = (table["zone_id"] != AOI_ZONE).astype(int)
    table = table.sort_values(
        ["year", "_z", "zone_id", "_m", "class_code", "_p"], na_position="last", kind="stable"
    )[ACCOUNT_COLUMNS].reset_index(drop=True)
    write_csv(table, out)
    if parquet_out is not None:
        with atomic_path(Path(parquet_out)) as tmp:
            table.to_parquet(tmp, index=False)
    return table


def _aoi_areas(st: pd.DataFrame) -> pd.Series:
    """Counted area per zone of a year's stock rows (all classes, total pool)."""
    rows = st[(st["class_name"] == ALL_CLASSES) & (st["pool"] == "total")]
    return rows.set_index("zone_id")["area_ha"]


def _with_intervals(
    st: pd.DataFrame,
    draws: Mapping[int, pd.DataFrame],
    year: int,
    prev: int | None,
    valid_area: Mapping[int, pd.Series],
) -> pd.DataFrame:
    """Monte Carlo 5th/95th percentiles on the "all classes" rows of a year's stock table.

    The flux interval is the spread of −(T_year − T_prev)/n × 44/12 over draws. It brackets the
    flux only where both years count the same cells, so a zone whose counted area differs between
    the two years (a nodata patch in one year's inputs) gets no flux interval, with a warning.
    """
    cur = draws[year].pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
    n = cur.shape[1]
    q = cur.quantile([0.05, 0.95], axis=1).T
    q.columns = ["stock_mgc_p05", "stock_mgc_p95"]
    if prev is not None and prev in draws:
        before = (
            draws[prev]
            .pivot_table(index=["zone_id", "pool"], columns="draw", values="stock_mgc")
            .reindex(index=cur.index, columns=cur.columns)
        )
        flux = -(cur - before) / (year - prev) * CO2_PER_C
        fq = flux.quantile([0.05, 0.95], axis=1).T
        q["net_flux_mgco2e_per_yr_p05"] = fq[0.05]
        q["net_flux_mgco2e_per_yr_p95"] = fq[0.95]
        now, then = _aoi_areas(st), valid_area.get(prev)
        if then is not None:
            differs = [
                z
                for z in now.index
                if not np.isclose(now[z], then.get(z, np.nan), rtol=1e-9, atol=1e-9)
            ]
            if differs:
                log.warning(
                    "no Monte Carlo flux interval for zone(s) %s in %s-%s: the two years count "
                    "different cells (nodata in one year's inputs)",
                    differs,
                    prev,
                    year,
                )
                mask = q.index.get_level_values("zone_id").isin(differs)
                q.loc[mask, ["net_flux_mgco2e_per_yr_p05", "net_flux_mgco2e_per_yr_p95"]] = np.nan
    q["mc_draws"] = n
    q = q.reset_index()
    q["zone_id"] = q["zone_id"].astype(str)
    q["class_name"] = ALL_CLASSES
    return st.merge(q, on=["zone_id", "pool", "class_name"], how="left")
