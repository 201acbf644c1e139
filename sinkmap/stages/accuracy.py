"""The reference sample of an interval's change map and its assessment: files in, files out.

``draw_sample`` (``sinkmap sample``) maps the change strata of an interval (stable forest, stable
plantation forest where the carbon state maps plantations, forest loss, forest gain, stable
non-forest) from the IPCC land categories of its two years, sizes a stratified random sample for a
target standard error of overall accuracy (Olofsson et al. 2014, Eq. 13), allocates it with a
minimum per stratum and draws it, tile by tile, reproducibly from a seed. It writes the sample as a
GeoPackage (points at cell centres and plot squares of the cell, an empty ``reference_class``
field for the interpreter) and as CSV, with the strata table (pixels, area, weight).

``assess_sample`` (``sinkmap assess``) reads the interpreted sample, checks it and writes the error
matrix in area proportions, user's, producer's and overall accuracy and the area-adjusted area of
every stratum with its 95 % interval (:mod:`sinkmap.account.accuracy`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window

from sinkmap import __version__
from sinkmap.account.accuracy import (
    FOREST_GAIN,
    FOREST_LOSS,
    STABLE_FOREST,
    STABLE_NONFOREST,
    STABLE_PLANTATION,
    StratifiedSample,
    adjusted_flux,
    allocate,
    assess,
    change_strata,
    draw_positions,
    sample_size,
)
from sinkmap.carbon import flux_between
from sinkmap.config import Config
from sinkmap.constants import MIN_PER_STRATUM, TARGET_SE
from sinkmap.contract import (
    ADJUSTED_QUANTILES,
    GAIN_LOSS,
    OUTPUT_VERSION,
    STOCK_DIFFERENCE,
    SYNTHETIC_NOTE,
)
from sinkmap.dynamics import PLANTATIONS
from sinkmap.errors import InputDataError
from sinkmap.files import atomic_path, write_csv, write_json
from sinkmap.grid import Grid, Tile
from sinkmap.io import read_window, write_gpkg_layer
from sinkmap.legends import CHANGE_STRATUM_NAMES, class_names, ipcc_category_lut
from sinkmap.stages.context import Run, now
from sinkmap.stages.uncertainty import strata_stock_draws

#: Conjectured user's accuracy of each change stratum, for the sample size (the values of the
#: worked example of Olofsson et al. 2014, §5.1.1: change strata 0.7 and 0.6, stable 0.9, 0.95).
EXPECTED_USERS: dict[int, float] = {
    STABLE_FOREST: 0.90,
    STABLE_PLANTATION: 0.90,
    FOREST_LOSS: 0.70,
    FOREST_GAIN: 0.60,
    STABLE_NONFOREST: 0.95,
}
#: The area columns of an assessment (``account.accuracy.assess``), written with their unit (ha).
ADJUSTED_AREA_COLUMNS = tuple(
    f"adjusted_area{suffix}" for suffix in ("", "_se", "_ci95", "_low", "_high")
)
#: Columns the interpreter fills in.
INTERPRETATION_COLUMNS = ("reference_class", "interpreter", "confidence", "notes")


class IntervalStrata:
    """The change strata of an interval, read tile by tile from a run's results: from the carbon
    state's land categories (and plantation strata) where the state exists, else from the land
    cover through its legend's IPCC categories."""

    def __init__(self, run: Run, y0: int, y1: int) -> None:
        paths = run.paths
        self.grid_path = paths.grid()
        if not self.grid_path.exists():
            raise InputDataError(
                f"{self.grid_path} does not exist; run the workflow for {y0} and {y1} first "
                "(make run, or sinkmap run)"
            )
        self.grid = Grid.from_json(self.grid_path)
        state = [paths.state(y, "category") for y in (y0, y1)]
        self.stateful = all(p.exists() for p in state)
        if self.stateful:
            self.layers = {"category0": state[0], "category1": state[1]}
            self.layers["stratum1"] = paths.state(y1, "stratum")
            self.lut = None
        else:  # the land cover the account read
            self.layers = {
                f"category{i}": run.layer("land_cover", y) for i, y in enumerate((y0, y1))
            }
            self.lut = ipcc_category_lut(run.legend)
        self.land_cover = {y: paths.aligned("land_cover", y) for y in (y0, y1)}
        missing = [
            str(p) for p in [*self.layers.values(), *self.land_cover.values()] if not p.exists()
        ]
        if missing:
            raise InputDataError(
                f"the interval {y0}-{y1} needs {missing}; run the workflow for both years first "
                "(make run, or sinkmap run with these years in the config)"
            )
        self.source = (
            "carbon state (state_category, state_stratum)"
            if self.stateful
            else (f"land cover ({run.legend or 'product codes'}) through its IPCC categories")
        )

    def tiles(self) -> list[Tile]:
        return list(self.grid.tiles())

    def block(self, tile: Tile) -> np.ndarray:
        """The change strata of one tile (uint8, 0 = no data)."""
        arrs = {k: read_window(p, tile.window) for k, p in self.layers.items()}
        if self.lut is None:
            plantation = np.isin(arrs["stratum1"], PLANTATIONS)
            return change_strata(arrs["category0"], arrs["category1"], plantation)
        return change_strata(self.lut[arrs["category0"]], self.lut[arrs["category1"]])

    def blocks(self) -> Iterator[np.ndarray]:
        for tile in self.tiles():
            yield self.block(tile)


def draw_sample(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    seed: int = 0,
    target_se: float = TARGET_SE,
    minimum: int = MIN_PER_STRATUM,
    expected_users: Mapping[int, float] | None = None,
    n_total: int | None = None,
    outputs: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Draw the stratified random reference sample of interval ``y0``-``y1`` and write it
    (``Paths.sample_outputs``). Returns the paths written."""
    run = Run(cfg)
    if y1 <= y0:
        raise InputDataError(f"interval {y0}-{y1}: the first year must come before the second")
    outputs = dict(outputs or run.paths.sample_outputs(y0, y1))
    strata = IntervalStrata(run, y0, y1)
    grid = strata.grid
    counts: dict[int, int] = {}
    areas: dict[int, float] = {}
    for tile in strata.tiles():
        block = strata.block(tile)
        cell = grid.cell_area_ha(tile.window)
        for code in np.unique(block):
            if code == 0:
                continue
            sel = block == code
            counts[int(code)] = counts.get(int(code), 0) + int(sel.sum())
            areas[int(code)] = areas.get(int(code), 0.0) + float(cell[sel].sum())
    if not counts:
        raise InputDataError(f"the interval {y0}-{y1} has no cells with data in both years")
    codes = sorted(counts)
    users = {**EXPECTED_USERS, **(expected_users or {})}
    total_area = sum(areas.values())
    weights = [areas[h] / total_area for h in codes]
    n = n_total or sample_size(weights, [users[h] for h in codes], target_se)
    sizes = allocate(n, weights, minimum=minimum, available=[counts[h] for h in codes])
    rng = np.random.default_rng(seed)
    picks = draw_positions(strata.blocks(), dict(zip(codes, sizes, strict=True)), counts, rng)
    points = _sample_table(run, strata, picks, y0, y1)
    table = pd.DataFrame(
        {
            "stratum": codes,
            "stratum_name": [CHANGE_STRATUM_NAMES[h] for h in codes],
            "pixels": [counts[h] for h in codes],
            "area_ha": [areas[h] for h in codes],
            "weight": weights,
            "expected_users_accuracy": [users[h] for h in codes],
            "sample_units": [int(s) for s in sizes],
        }
    )
    meta = {
        "interval": f"{y0}-{y1}",
        "seed": seed,
        "target_se_overall_accuracy": target_se,
        "minimum_per_stratum": minimum,
        "sample_size_planned": int(n),
        "sample_size": int(sizes.sum()),
        "strata_from": strata.source,
        "design": "stratified random sample of cells, simple random without replacement in each "
        "stratum (Olofsson et al. 2014); weights are the strata's areas",
        "grid": str(strata.grid_path),
        "chunk": grid.chunk,
        "synthetic": "yes" if run.synthetic else "no",
        "sinkmap_version": __version__,
        "output_version": OUTPUT_VERSION,
        "computed_at": now(),
    }
    _write_sample(points, table, meta, grid, outputs, synthetic=run.synthetic)
    return outputs


def _sample_table(
    run: Run, strata: IntervalStrata, picks: Mapping[int, list[tuple[int, int]]], y0: int, y1: int
) -> pd.DataFrame:
    from pyproj import Transformer

    grid = strata.grid
    tiles = strata.tiles()
    rows = []
    for h in sorted(picks):
        for b, flat in picks[h]:
            tile = tiles[b]
            r, c = divmod(flat, tile.width)
            rows.append((h, tile.row_off + r, tile.col_off + c))
    df = pd.DataFrame(rows, columns=["stratum", "row", "col"])
    # Shuffle the order the interpreter sees (strata would otherwise come in blocks), reproducibly.
    order = np.random.default_rng(len(df)).permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "point_id", np.arange(1, len(df) + 1))
    df.insert(2, "stratum_name", df["stratum"].map(CHANGE_STRATUM_NAMES))
    df.insert(3, "map_class", df["stratum_name"])
    names = class_names(run.legend)
    for y in (y0, y1):
        with rasterio.open(strata.land_cover[y]) as ds:
            vals = [
                int(ds.read(1, window=Window(c, r, 1, 1))[0, 0])
                for r, c in zip(df["row"], df["col"], strict=True)
            ]
        df[f"land_cover_{y}"] = vals
        df[f"land_cover_{y}_name"] = [names.get(v, str(v)) for v in vals]
    t = grid.transform
    df["x"] = t.c + (df["col"] + 0.5) * t.a
    df["y"] = t.f + (df["row"] + 0.5) * t.e
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(
        df["x"].to_numpy(), df["y"].to_numpy()
    )
    df["lon"], df["lat"] = np.round(lon, 7), np.round(lat, 7)
    for col in INTERPRETATION_COLUMNS:
        df[col] = ""
    return df


def _write_sample(
    points: pd.DataFrame,
    table: pd.DataFrame,
    meta: dict[str, Any],
    grid: Grid,
    outputs: Mapping[str, Path],
    *,
    synthetic: bool,
) -> None:
    import geopandas as gpd
    import shapely

    half = grid.resolution / 2
    pts = gpd.GeoDataFrame(
        points, geometry=gpd.points_from_xy(points["x"], points["y"]), crs=grid.crs
    )
    plots = pts.copy()
    plots.geometry = shapely.box(
        points["x"] - half, points["y"] - half, points["x"] + half, points["y"] + half
    )
    layer_meta = {k.upper(): str(v) for k, v in meta.items()}
    if synthetic:
        layer_meta["SYNTHETIC_NOTE"] = SYNTHETIC_NOTE
    with atomic_path(outputs["gpkg"]) as tmp:
        for name, frame in (("sample_points", pts), ("sample_plots", plots), ("strata", table)):
            write_gpkg_layer(frame, tmp, name, metadata=layer_meta)
    write_csv(points, outputs["csv"])
    write_csv(table, outputs["strata"])
    write_json(meta, Path(outputs["strata"]).with_suffix(".json"))


# -- assessment -----------------------------------------------------------------------------------
def read_labels(path: Path) -> pd.DataFrame:
    """The interpreted sample: a GeoPackage (layer ``sample_points``) or a CSV written by
    ``sinkmap sample`` with ``reference_class`` filled in."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"the interpreted sample {path} does not exist")
    if path.suffix.lower() == ".gpkg":
        import pyogrio

        df = pyogrio.read_dataframe(path, layer="sample_points", read_geometry=False)
    else:
        df = pd.read_csv(path, dtype={"reference_class": str}, keep_default_na=False)
    need = {"point_id", "stratum", "map_class", "reference_class"}
    if need - set(df.columns):
        raise InputDataError(
            f"{path} lacks columns {sorted(need - set(df.columns))}; interpret the file written "
            "by sinkmap sample (sample.gpkg or sample.csv)"
        )
    return df


def _reference_codes(df: pd.DataFrame, path: Path) -> pd.Series:
    by_name = {v.lower(): k for k, v in CHANGE_STRATUM_NAMES.items()}
    raw = df["reference_class"].fillna("").astype(str).str.strip()
    missing = df.loc[raw == "", "point_id"].tolist()
    if missing:
        raise InputDataError(
            f"{path}: {len(missing)} sample unit(s) have no reference_class (point_id "
            f"{_ids(missing)}); interpret them, or remove them only if they could not be "
            "interpreted and say so in the report"
        )

    def code(v: str) -> int:
        if v.isdigit() and int(v) in CHANGE_STRATUM_NAMES:
            return int(v)
        return by_name.get(v.lower(), -1)

    codes = raw.map(code)
    bad = df.loc[codes < 0, ["point_id"]].assign(value=raw[codes < 0])
    if len(bad):
        shown = ", ".join(f"{p}: {v!r}" for p, v in bad.head(10).itertuples(index=False))
        raise InputDataError(
            f"{path}: unknown reference_class in {len(bad)} row(s) ({shown}); use a change "
            f"stratum's name or code: {CHANGE_STRATUM_NAMES}"
        )
    return codes


def _ids(ids: list[Any]) -> str:
    head = ", ".join(str(i) for i in ids[:10])
    return head + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def assess_sample(
    cfg: Config,
    y0: int,
    y1: int,
    labelled: Path,
    *,
    strata_table: Path | None = None,
    outputs: Mapping[str, Path] | None = None,
    threads: int = 1,
) -> dict[str, Path]:
    """Assess the change map of ``y0``-``y1`` from the interpreted sample ``labelled`` and write
    ``Paths.assessment_outputs``. The strata table defaults to the one written with the sample;
    ``threads`` serve the stocks' Monte Carlo over the strata."""
    run = Run(cfg)
    outputs = dict(outputs or run.paths.assessment_outputs(y0, y1))
    strata_table = Path(strata_table or run.paths.sample_outputs(y0, y1)["strata"])
    if not strata_table.exists():
        raise InputDataError(
            f"the strata table {strata_table} does not exist; give the one written by sinkmap "
            "sample with --strata"
        )
    strata = pd.read_csv(strata_table)
    df = read_labels(labelled)
    _check_inside(run, df, labelled)
    ref = _reference_codes(df, labelled)
    known = set(strata["stratum"].astype(int))
    bad_stratum = df.loc[~df["stratum"].astype(int).isin(known), "point_id"].tolist()
    if bad_stratum:
        raise InputDataError(
            f"{labelled}: sample units {_ids(bad_stratum)} are in strata the strata table "
            f"{strata_table} does not have; use the table written with this sample"
        )
    sample = StratifiedSample(
        df["stratum"].astype(int).to_numpy(),
        df["stratum"].astype(int).to_numpy(),  # the map class of a unit is its change stratum
        ref.to_numpy(),
        dict(zip(strata["stratum"].astype(int), strata["area_ha"], strict=True)),
    )
    # the strata, then any class the interpreters found that the map has no stratum of
    codes = list(strata["stratum"].astype(int))
    codes += sorted(set(int(c) for c in ref) - set(codes))
    mapped = dict(zip(strata["stratum"].astype(int), strata["area_ha"], strict=False))
    total = float(strata["area_ha"].sum())
    result = assess(sample, total_area=total, mapped_area=mapped, classes=codes)
    acc = result.classes.rename(
        columns={"class": "stratum", "mapped_area": "mapped_area_ha"}
        | {c: c.replace("adjusted_area", "adjusted_area_ha") for c in ADJUSTED_AREA_COLUMNS}
    )
    acc.insert(1, "stratum_name", acc["stratum"].map(CHANGE_STRATUM_NAMES))
    overall = {
        "stratum": 0,
        "stratum_name": "Overall",
        "mapped_area_ha": total,
        "sample_units": len(df),
        "overall_accuracy": result.overall.value,
        "overall_accuracy_se": result.overall.se,
        "overall_accuracy_ci95": result.overall.half_width,
    }
    acc = pd.concat([acc, pd.DataFrame([overall])], ignore_index=True)
    acc.insert(0, "interval", f"{y0}-{y1}")
    acc["units"] = "areas in ha; accuracies and proportions as fractions; ci95 = 1.96 x se"
    acc["synthetic"] = "yes" if run.synthetic else "no"
    matrix = result.matrix.copy()
    matrix.index = [CHANGE_STRATUM_NAMES[c] for c in matrix.index]
    matrix.columns = [CHANGE_STRATUM_NAMES[c] for c in matrix.columns]
    matrix.index.name = "map_class \\ reference_class (area proportion)"
    matrix_out = matrix.reset_index()
    adjusted = _adjusted_account(run, y0, y1, sample, total, codes, threads)
    write_csv(acc, outputs["accuracy"])
    write_csv(matrix_out, outputs["error_matrix"])
    if adjusted is not None:
        adjusted = adjusted.assign(synthetic="yes" if run.synthetic else "no", computed_at=now())
        write_csv(adjusted, outputs["adjusted_account"])

    meta = {
        "INTERVAL": f"{y0}-{y1}",
        "SAMPLE": str(labelled),
        "ESTIMATOR": "stratified estimator (Olofsson et al. 2014 Eqs. 2-11; Stehman 2014)",
        "SYNTHETIC": "yes" if run.synthetic else "no",
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
    }
    with atomic_path(outputs["gpkg"]) as tmp:
        write_gpkg_layer(acc, tmp, "accuracy", metadata=meta)
        write_gpkg_layer(matrix_out, tmp, "error_matrix", metadata=meta)
        if adjusted is not None:
            write_gpkg_layer(adjusted, tmp, "adjusted_account", metadata=meta)
    return outputs


#: The interval's flux layers an adjusted account is made from, by method.
FLUX_METHODS = {STOCK_DIFFERENCE: "flux", GAIN_LOSS: "gain_loss_net"}


def _adjusted_account(
    run: Run,
    y0: int,
    y1: int,
    sample: StratifiedSample,
    total: float,
    codes: list[int],
    threads: int = 1,
) -> pd.DataFrame | None:
    """Net fluxes of the interval from area-adjusted activity data, by method and stratum: the
    map's flux per hectare of each stratum × its adjusted area, with the 95 % and 90 % intervals
    of the areas' bootstrap joined with the emission factors' Monte Carlo draws. None when the
    interval's flux layers do not exist."""
    layers = {
        m: run.paths.flux(y0, y1) if k == "flux" else run.paths.gain_loss(y0, y1, "net")
        for m, k in FLUX_METHODS.items()
    }
    layers = {m: p for m, p in layers.items() if p.exists()}
    if not layers:
        return None
    strata = IntervalStrata(run, y0, y1)
    grid = strata.grid
    area = dict.fromkeys(codes, 0.0)
    flux = {m: dict.fromkeys(codes, 0.0) for m in layers}
    for tile in strata.tiles():
        block = strata.block(tile)
        cell = grid.cell_area_ha(tile.window)
        values = {m: read_window(p, tile.window) for m, p in layers.items()}
        for h in codes:
            sel = block == h
            area[h] += float(cell[sel].sum())
            for m, v in values.items():
                ok = sel & np.isfinite(v)
                flux[m][h] += float((v[ok] * cell[ok]).sum())
    factor_draws = _factor_draws(run, y0, y1, strata, codes, area, threads)
    parts = []
    for m in layers:
        factors = {h: flux[m][h] / area[h] if area[h] > 0 else 0.0 for h in codes}
        # gain-loss from a growth-rate table keeps its factors (its own Monte Carlo is the mapped
        # account's, stages/gain_loss_mc.py)
        draws = (
            factor_draws if (m == STOCK_DIFFERENCE or run.gain_loss_is_stock_difference) else None
        )
        t = adjusted_flux(
            sample,
            total_area=total,
            factors=factors,
            mapped_flux=flux[m],
            draws=run.cfg.account.uncertainty.draws,
            seed=run.cfg.account.uncertainty.seed,
            factor_draws=draws,
        )
        t.insert(0, "method", m)
        t["draws"] = run.cfg.account.uncertainty.draws
        t["uncertainty_sources"] = (
            "areas (stratified bootstrap) and emission factors (Monte Carlo of the stocks)"
            if draws is not None
            else "areas (stratified bootstrap); emission factors held at their values"
        )
        parts.append(t)
    names = {"class": "stratum", "flux_per_ha": "net_flux_mgco2e_per_ha_yr"}
    names |= {"mapped_flux": "net_flux_mapped_mgco2e_per_yr", "adjusted_area": "adjusted_area_ha"}
    names |= {"adjusted_flux": "net_flux_adjusted_mgco2e_per_yr"}
    for k in ADJUSTED_QUANTILES:
        names[f"adjusted_area_{k}"] = f"adjusted_area_ha_{k}"
        names[f"adjusted_flux_{k}"] = f"net_flux_adjusted_mgco2e_per_yr_{k}"
    out = pd.concat(parts, ignore_index=True).rename(columns=names)
    out.insert(2, "stratum_name", out["stratum"].map(CHANGE_STRATUM_NAMES).fillna("All strata"))
    out.insert(0, "interval", f"{y0}-{y1}")
    out["mapped_area_ha"] = out["stratum"].map(area)
    out.loc[out["stratum"] == "total", "mapped_area_ha"] = sum(area.values())
    out["units"] = (
        "Mg CO2e/yr (fluxes), Mg CO2e/ha/yr (per ha), ha (areas); emissions +, removals -"
    )
    return out


def _factor_draws(
    run: Run,
    y0: int,
    y1: int,
    strata: IntervalStrata,
    codes: list[int],
    area: Mapping[int, float],
    threads: int = 1,
) -> dict[int, np.ndarray] | None:
    """Each stratum's flux per hectare in every draw of the stocks' Monte Carlo (the same seed and
    parameters as ``monte_carlo.csv``): −(T_y1 − T_y0) / (y1 − y0) × 44/12 over the stratum's
    cells with stocks in both years (the cells the flux layer counts; a cell with a stock in one
    year only would count its whole stock as a flux), divided by its mapped area. None when the
    Monte Carlo is off."""
    if not run.cfg.account.uncertainty.enabled:
        return None
    flux_layer = run.paths.flux(y0, y1)  # finite where both years have a stock

    def both_years(tile: Tile) -> np.ndarray:
        block = strata.block(tile)
        return np.where(np.isfinite(read_window(flux_layer, tile.window)), block, 0)

    counted, totals, _ = strata_stock_draws(
        run.cfg,
        (y0, y1),
        aligned={y: run.mc_inputs(y) for y in (y0, y1)},
        grid=strata.grid,
        block=both_years,
        folder=flux_layer.parent,
        threads=threads,
    )
    index = {int(h): k for k, h in enumerate(counted.index)}
    out = {}
    for h in codes:
        if h not in index or area[h] <= 0:
            out[h] = np.zeros(run.cfg.account.uncertainty.draws)
            continue
        k = index[h]
        out[h] = flux_between(totals[y0][:, k, -1], totals[y1][:, k, -1], y1 - y0) / area[h]
    return out


def _check_inside(run: Run, df: pd.DataFrame, path: Path) -> None:
    """Sample units with coordinates must lie inside the AOI (to within one cell: a cell the AOI
    touches is mapped, its centre may lie just outside)."""
    if not {"lon", "lat"} <= set(df.columns):
        return
    import shapely
    from pyproj import Transformer

    grid = Grid.from_json(run.paths.grid())
    aoi = run.aoi.to_crs(grid.crs).geometry.buffer(grid.resolution * 1.5)
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy()
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy()
    x, y = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(lon, lat)
    inside = shapely.contains_xy(aoi, x, y)
    outside = df.loc[~inside, "point_id"].tolist()
    if outside:
        raise InputDataError(
            f"{path}: sample units {_ids(outside)} lie outside the AOI {run.cfg.aoi.path}; "
            "the sample must come from sinkmap sample over this AOI (check lon/lat were not edited)"
        )
