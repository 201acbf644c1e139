"""A run's configuration and what every stage derives from it, computed once per stage.

:class:`Run` holds the validated config and, on first use, the dataset registry, the model (its
tables read and validated once), the land-cover legend, the synthetic flag, the AOI, the zones and
the provenance tags. :func:`validate_run` checks everything a run needs before any job starts: the
workflow calls it before it builds its DAG, and ``sinkmap validate`` prints what it found.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkmap.account.zones import ZoneCover, Zones, zones_key
from sinkmap.aoi import AOI, clip_to_box, grid_for_aoi, group_boxes, read_aoi, read_zones
from sinkmap.config import Config, load_config
from sinkmap.errors import ConfigError, InputDataError, SourceError
from sinkmap.files import build_time
from sinkmap.grid import Grid
from sinkmap.models import CarbonModel, get_model
from sinkmap.models.dynamics import STATE_KEYS
from sinkmap.paths import Paths
from sinkmap.provenance import account_columns, base_tags, is_synthetic, land_cover_legend
from sinkmap.sources import Dataset, get_dataset, load_registry
from sinkmap.tables import GrowthRates

if TYPE_CHECKING:
    import dask.array as da


class Run:
    """One run: its config, and the registry, model, legend, AOI and tags derived from it."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    @cached_property
    def registry(self) -> dict[str, Dataset]:
        return load_registry(self.cfg.datasets)

    def dataset(self, role: str) -> Dataset:
        """The dataset that plays ``role`` (``inputs.<role>.dataset``)."""
        return get_dataset(self.registry, self.cfg.inputs[role].dataset)

    @cached_property
    def model(self) -> CarbonModel:
        return get_model(self.cfg.model.name, self.cfg.model.params)

    @cached_property
    def model_description(self) -> dict[str, Any]:
        return self.model.describe()

    @cached_property
    def paths(self) -> Paths:
        return self.cfg.paths

    @cached_property
    def legend(self) -> str | None:
        """Legend of the aligned land cover (the crosswalk's target when the product has one)."""
        return land_cover_legend(self.dataset("land_cover"))

    @cached_property
    def synthetic(self) -> bool:
        """Whether any input of the run is synthetic demo data."""
        return is_synthetic(self.dataset(role) for role in self.cfg.inputs)

    @cached_property
    def aoi(self) -> AOI:
        a = self.cfg.aoi
        aoi = read_aoi(a.path, layer=a.layer, name=a.name, where=a.where)
        return aoi if a.box is None else clip_to_box(aoi, a.box, self.cfg.grid.crs)

    def aoi_grid(self) -> Grid:
        """The grid of the run's AOI (:func:`sinkmap.aoi.grid_for_aoi`); for a group of a split
        AOI (``aoi.box``) on the split grid's lattice and area blocks."""
        g, box = self.cfg.grid, self.cfg.aoi.box
        anchor = (box[0], box[3]) if box is not None else None
        return grid_for_aoi(
            self.aoi, crs=g.crs, resolution=g.resolution, chunk=g.chunk, anchor=anchor
        )

    def raw_dir(self, role: str, year: int) -> Path:
        """``resources/raw/<dataset>/<version>/<year>``: where the files of ``role`` for ``year``
        land (a static layer, ``inputs.<role>.year``, has one year for every mapped year)."""
        inp = self.cfg.inputs[role]
        year = inp.year or year
        version = self.dataset(role).version_for(year, inp.version)
        return self.paths.raw_dir(inp.dataset, version, year)

    def layer(self, role: str, year: int | str) -> Path:
        """The layer of ``role`` the account reads in ``year``: the land cover's change-filtered
        series when ``change_filter`` is on, else the aligned layer (the workflow's rules and the
        stages both ask here)."""
        if role == "land_cover" and self.cfg.change_filter.enabled:
            return self.paths.filtered_land_cover(year)
        return self.paths.aligned(role, year)

    @property
    def mc_roles(self) -> set[str]:
        """Input roles the Monte Carlo reads: the model's, land cover, and the per-pixel errors'
        roles and their SD roles (a stateful model also reads its state layers)."""
        mc = self.cfg.account.uncertainty
        return (
            set(self.model.input_roles)
            | {"land_cover"}
            | set(mc.input_errors)
            | {e.sd for e in mc.input_errors.values()}
        )

    def mc_inputs(self, year: int) -> dict[str, Path]:
        """The layers the Monte Carlo of ``year`` reads, by role (``state_<name>`` for the state)."""
        out = {r: self.layer(r, year) for r in self.mc_roles}
        if self.model.stateful:
            out |= {STATE_KEYS[n]: p for n, p in self.paths.states(year).items()}
        return out

    @property
    def gain_loss_is_stock_difference(self) -> bool:
        """Whether the model's gain-loss equals its stock difference pixel by pixel (the carbon
        state: gains and losses of the same annual steps), so that it takes the stock
        difference's Monte Carlo draws; otherwise gain-loss has its own (rule
        ``gain_loss_uncertainty``)."""
        return bool(self.model.stateful)

    def tags(self, *, sources: list[dict[str, Any]], synthetic: bool) -> dict[str, Any]:
        """The provenance tags of a layer made from ``sources`` (with ``VERSION_CHANGE`` when
        ``account.allow_version_change`` lets an interval span two versions of a product)."""
        tags = base_tags(
            model=self.model_description,
            aoi=self.cfg.aoi.path,
            sources=sources,
            synthetic=synthetic,
        )
        if self.version_changes:
            tags["VERSION_CHANGE"] = "; ".join(self.version_changes)
        return tags

    @cached_property
    def version_changes(self) -> list[str]:
        """Each pair of consecutive years (the change filter's warm-up years included, for the
        land cover) and input role whose two years come from different versions of the same
        dataset, e.g. ``land_cover 2020-2021: esa_worldcover v100 -> v200``."""
        out = []
        years = self.cfg.change_filter.warmup(self.cfg.years[0]) + self.cfg.years
        for y0, y1 in zip(years, years[1:], strict=False):
            for role, inp in self.cfg.inputs.items():
                if inp.year is not None:
                    continue  # one year of the dataset serves every year
                if y0 not in self.cfg.years and role != "land_cover":
                    continue  # a warm-up year reads the land cover only
                ds = self.dataset(role)
                v0, v1 = ds.version_for(y0, inp.version), ds.version_for(y1, inp.version)
                if v0 != v1:
                    out.append(f"{role} {y0}-{y1}: {inp.dataset} {v0} -> {v1}")
        return out

    def provenance_columns(self, sources: list[dict[str, Any]], synthetic: bool) -> dict[str, str]:
        """The account's ``model``, ``inputs`` and ``synthetic`` columns of rows made from
        ``sources`` with this run's model."""
        return account_columns(self.model_description, sources, synthetic)

    def zones(self, grid: Grid, *, cover: bool = True) -> Zones:
        """The account's zones on ``grid``: the AOI, then each polygon of ``account.zones``; with
        the run's zone cover (rule ``zone_cover``) when ``cover`` and it was made for these zones
        and this grid."""
        zc = self.cfg.account.zones
        aoi_name = self.cfg.aoi.name
        if zc is None:
            return Zones(grid, aoi_name)
        import geopandas as gpd

        if not Path(zc.path).exists():
            raise ConfigError(
                f"account.zones.path {zc.path} does not exist; give a polygon file of the zones "
                "(GeoPackage, shapefile, GeoJSON) or remove account.zones"
            )
        gdf = read_zones(zc.path, grid.crs, layer=zc.layer, id_field=zc.id_field)
        names = None
        if zc.name_field:
            raw = gpd.read_file(zc.path, layer=zc.layer)
            if zc.name_field not in raw.columns:
                raise InputDataError(
                    f"zones file {zc.path} has no column {zc.name_field!r} "
                    f"(account.zones.name_field); columns: {[c for c in raw.columns if c != 'geometry']}"
                )
            names = [str(v) for v in raw[zc.name_field]]
        found = ZoneCover.open(self.paths.zone_cover(), zones_key(gdf, grid)) if cover else None
        try:
            return Zones(grid, aoi_name, gdf, names, cover=found)
        except InputDataError as exc:
            raise InputDataError(f"{exc} in {zc.path}") from None


def split_into_groups(data: dict[str, Any]) -> dict[str, Any]:
    """A one-AOI config with ``grid.group_tiles`` whose grid is larger than one group, as a
    several-AOI config (``aois``): one AOI per group of tiles (:func:`sinkmap.aoi.group_boxes`),
    the AOI clipped to the group's box (``aoi.box``). Every pixel is in one group, so the
    groups' accounts add up to the AOI's (``results/carbon_account_aois.csv``). Any other config
    is returned as it is."""
    group_tiles = (data.get("grid") or {}).get("group_tiles")
    if not group_tiles:
        return data
    if data.get("aois"):
        raise ConfigError(
            "grid.group_tiles splits one AOI into groups of tiles, and this config has several "
            "(aois): split them by hand, or remove grid.group_tiles"
        )
    cfg = load_config(data)
    aoi = Run(cfg).aoi
    g = cfg.grid
    grid = grid_for_aoi(aoi, crs=g.crs, resolution=g.resolution, chunk=g.chunk)
    boxes = group_boxes(aoi, grid, group_tiles)
    if not boxes:
        return data
    aoi_settings = dict(data["aoi"])
    groups = {name: {"aoi": aoi_settings | {"box": list(box)}} for name, box in boxes.items()}
    rest = {k: v for k, v in data.items() if k != "aoi"}
    rest["grid"] = {k: v for k, v in data["grid"].items() if k != "group_tiles"}
    return rest | {"aois": groups}


def validate_run(cfg: Config, *, aoi: bool = True) -> Run:
    """Check what a run needs before it starts: the AOI file (readable, with a CRS and a polygon)
    and the grid it gives (units in metres, true to scale over the AOI) when ``aoi``, every input's
    dataset is in the registry, the model loads with its parameters (its tables read and
    validated), and it finds every input role it reads. Raises
    :class:`~sinkmap.errors.ConfigError` (or the AOI's, grid's or model's error) naming the fix."""
    run = Run(cfg)
    if aoi:
        run.aoi_grid()
    for role in cfg.inputs:
        run.dataset(role)
    model = run.model
    missing = [r for r in model.input_roles if r not in cfg.inputs]
    if missing:
        raise ConfigError(
            f"model {model.name!r} reads input role(s) {missing}; add them under inputs: in the config"
        )
    mc = cfg.account.uncertainty
    if mc.enabled:
        # imported here: the jobs that only fetch, grid or publish vectors start without SciPy
        from sinkmap.account.gain_loss import gain_loss_parameters
        from sinkmap.account.montecarlo import draw_parameters, mc_parameters

        try:  # names, distributions and groups: refused before any work
            draw_parameters(mc_parameters(model, mc.parameters, mc.correlated), 1, mc.seed)
            if cfg.account.gain_loss.enabled and not run.gain_loss_is_stock_difference:
                gl = cfg.account.gain_loss
                rates = GrowthRates.from_csv(gl.growth_rates)
                specs = gain_loss_parameters(rates, gl.root_shoot, gl.carbon_fraction, mc.gain_loss)
                draw_parameters(specs, 1, mc.seed)
        except InputDataError as exc:
            raise ConfigError(f"account.uncertainty: {exc}") from None
    for (y0, y1), labelled in cfg.account.assessed().items():
        strata = run.paths.sample_outputs(y0, y1)["strata"]
        if not Path(labelled).is_file():
            raise ConfigError(
                f"account.assessments.{y0}-{y1}: {labelled} does not exist; draw the sample with "
                f"`sinkmap sample {y0}-{y1}`, fill in its reference_class and give that file"
            )
        if not strata.is_file():
            raise ConfigError(
                f"account.assessments.{y0}-{y1}: the strata table {strata} written with the "
                f"sample is missing; run `sinkmap sample {y0}-{y1}` again (same --seed) or "
                "restore it"
            )
    warmup = cfg.change_filter.warmup(cfg.years[0])
    if warmup:
        land_cover = run.dataset("land_cover")
        try:
            for year in warmup:
                land_cover.check_year(year)
        except SourceError as exc:
            raise ConfigError(
                f"change_filter.warmup_years: {exc} Set change_filter.warmup_years to 0 (the "
                "first interval then books no change of land category) or use a land cover "
                "with those years"
            ) from None
    if run.version_changes and not cfg.account.allow_version_change:
        raise ConfigError(
            "an interval spans two versions of one product, so its change would mix land change "
            f"with the change of algorithm: {'; '.join(run.version_changes)}. Use one version "
            "for both years (inputs.<role>.version), or set account.allow_version_change: true "
            "to accept it (every layer is then tagged VERSION_CHANGE)"
        )
    return run


def now() -> str:
    """The run's time in UTC, ISO 8601 to the second (the tables' ``computed_at``):
    ``SOURCE_DATE_EPOCH`` when set (:func:`sinkmap.files.build_time`)."""
    return build_time().strftime("%Y-%m-%dT%H:%M:%SZ")


def tile_blocks(arrays: Mapping[str, da.Array]) -> list[dict[str, Any]]:
    """Per tile, the delayed block of each array (tiles in grid order)."""
    delayed = {k: a.to_delayed(optimize_graph=False).ravel() for k, a in arrays.items()}
    n = len(next(iter(delayed.values())))
    return [{k: v[i] for k, v in delayed.items()} for i in range(n)]
