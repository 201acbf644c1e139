"""Typed configuration of a run, validated before any work starts.

The JSON Schema in ``workflow/schemas/config.schema.json`` is generated from these models
(``sinkmap schema``) and a test keeps the two in sync.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sinkmap.errors import ConfigError, format_validation_error
from sinkmap.files import plain_name, read_yaml
from sinkmap.paths import Paths


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AOIConfig(_Strict):
    """The area of interest: a polygon file."""

    path: Path = Field(description="Polygon file (GeoPackage, shapefile, GeoJSON) of the AOI.")
    layer: str | None = Field(None, description="Layer in the file; the first layer when omitted.")
    name: str | None = Field(
        None, description="Name used in outputs; the file's 'name' field when omitted."
    )
    where: str | None = Field(
        None,
        description=(
            "Attribute filter (an SQL WHERE clause: OGR SQL, SQLite's for a GeoPackage) selecting the AOI's features in the layer, e.g. "
            '"adcode = 469029" for one county of a file of counties; all features when omitted.'
        ),
    )
    box: tuple[float, float, float, float] | None = Field(
        None,
        description="Clip the AOI to this box (minx, miny, maxx, maxy in the grid's CRS): a group "
        "of tiles of an AOI split by grid.group_tiles (set by the split itself).",
    )


class GridConfig(_Strict):
    """The canonical target grid every input is warped onto."""

    crs: str = Field(
        "EPSG:32649", description="Projected CRS of the grid (default UTM 49N for Hainan)."
    )
    resolution: float = Field(10.0, gt=0, description="Pixel size in CRS units (metres).")
    chunk: int = Field(
        2048,
        ge=256,
        description="Chunk (tile) side in pixels; memory per worker grows with its square.",
    )
    group_tiles: int | None = Field(
        None,
        ge=1,
        description="Split an AOI whose grid is more than this many tiles wide or high into groups "
        "of at most group_tiles x group_tiles tiles, each run as an AOI of its own (aois), their "
        "accounts added (docs/scaling.md); none: never split.",
    )

    @field_validator("chunk")
    @classmethod
    def _multiple_of_block(cls, v: int) -> int:
        if v % 256:
            raise ValueError(
                f"must be a multiple of 256 (the output block size divides it), got {v}"
            )
        return v

    @field_validator("crs")
    @classmethod
    def _valid_crs(cls, v: str) -> str:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(v)
        except CRSError as exc:
            raise ValueError(f"{v!r} is not a CRS pyproj knows (e.g. 'EPSG:32649')") from exc
        if not crs.is_projected:
            raise ValueError(f"{v!r} is not projected; use a metric CRS such as 'EPSG:32649'")
        units = sorted({a.unit_name for a in crs.axis_info})
        if units != ["metre"]:
            raise ValueError(
                f"{v!r} measures in {', '.join(units)}, not metres: cell sizes, areas (ha) and "
                "stocks per hectare would be wrong; use a metric CRS such as 'EPSG:32649'"
            )
        return v


class InputConfig(_Strict):
    """Which dataset plays a role (land_cover, biomass, …) and how to reach it."""

    dataset: str = Field(description="A dataset name from config/datasets.yaml.")
    version: str | None = Field(
        None, description="Dataset version; the dataset's default when omitted."
    )
    year: int | None = Field(
        None,
        description="Use this year of the dataset for every mapped year: static layers such as a "
        "DEM, a canopy height map of one year, or Hansen GFC (cumulative loss years).",
    )
    out_of_range: Literal["error", "warn"] = Field(
        "error",
        description="Values outside the dataset's plausible range (valid_range in the dataset "
        "registry) stop the run at align ('error') or are logged and kept ('warn').",
    )

    @field_validator("version")
    @classmethod
    def _plain_version(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                plain_name(v, "version")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v


class ModelConfig(_Strict):
    """The carbon model and its parameters."""

    name: str = Field(
        "lookup",
        description="Model name (see `sinkmap models`), or 'module:Class' / 'file.py:Class' for your own.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Model parameters (`sinkmap models`)."
    )


class GainLossConfig(_Strict):
    """The gain-loss method (IPCC 2006 Vol. 4 Eq. 2.4, 2.9, 2.10), reported beside stock difference."""

    enabled: bool = Field(True, description="Compute gain-loss sinks for every interval.")
    growth_rates: Path = Field(
        Path("config/growth_rates.csv"),
        description="Growth rates per land-cover class and forest state, with sources.",
    )
    root_shoot: float = Field(
        0.37, gt=0, le=5, description="Root-to-shoot ratio R (IPCC Table 4.4; tropical rainforest)."
    )
    carbon_fraction: float = Field(
        0.47, gt=0, lt=1, description="Carbon fraction of dry matter CF (IPCC Table 4.3)."
    )
    grow_converted: bool = Field(
        False, description="Also credit growth on land converted to a growing class."
    )
    loss_role: str | None = Field(
        None,
        description="Input role of a forest-loss-year layer (Hansen GFC lossyear), if any.",
    )
    loss_year_base: int = Field(
        2000,
        description="Calendar year of loss code 0 (Hansen GFC: 1 = 2001); 0 if it holds years.",
    )
    state_role: str | None = Field(
        None,
        description="Input role of a forest-state layer (codes of the growth-rate table), if any.",
    )


class ParameterSpec(_Strict):
    """The uncertainty of one parameter (sinkmap.account.distributions): relative to its value."""

    distribution: Literal["normal", "lognormal", "truncnormal", "triangular"] = Field(
        "normal", description="Shape of the uncertainty."
    )
    rel_sd: float = Field(0.0, ge=0, le=5, description="SD as a fraction of the value.")
    rel_range: tuple[float, float] | None = Field(
        None,
        description="Range as multiples of the value: the 2.5th and 97.5th percentiles of a "
        "lognormal, or the minimum and maximum of a triangular (mode = the value).",
    )
    rel_bounds: tuple[float, float] = Field(
        (0.0, float("inf")),
        description="Bounds as multiples of the value: where a truncnormal is cut; a normal with "
        "more than 0.1 % of its draws outside is refused.",
    )
    classes: Literal["independent", "shared"] = Field(
        "independent",
        description="For a table column: one draw per class, or one draw shared by every class "
        "(the classes take their values from one source).",
    )


class InputErrorSpec(_Strict):
    """A per-pixel error of an input: its SD layer, the product's own cell and its persistence."""

    sd: str = Field(description="Input role of the SD layer (e.g. biomass_sd).")
    source_cell_m: float | None = Field(
        None,
        gt=0,
        description="Cell size of the product the error belongs to (CCI Biomass: 100): one draw "
        "per source cell, shared by the grid cells inside it. Omitted: the grid's own cell.",
    )
    correlation_length_m: float | None = Field(
        None,
        gt=0,
        description="Spatial correlation length of the errors (metres; the distance at which "
        "their correlation falls to 1/e): smoothed white noise over source cells. Omitted: "
        "source cells independent.",
    )
    years: Literal["persistent", "independent"] = Field(
        "persistent",
        description="persistent: a pixel's error is the same every year (a lasting bias; cancels "
        "in a stock difference); independent: drawn afresh each year (independent retrievals).",
    )


class UncertaintyConfig(_Strict):
    """Monte Carlo propagation of parameter and per-pixel input errors (IPCC Approach 2)."""

    enabled: bool = Field(True, description="Run the Monte Carlo for every year.")
    draws: int = Field(100, ge=1, le=100_000, description="Number of draws.")
    seed: int = Field(20240601, ge=0, description="Seed; the same seed gives the same intervals.")
    tolerance: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Largest Monte Carlo standard error of a 95 % bound of the AOI totals, as a "
        "fraction of the interval's half-width; a warning names the draws needed when exceeded.",
    )
    parameters: dict[str, float | ParameterSpec] = Field(
        default_factory=dict,
        description="Parameter -> relative SD (a normal) or a distribution: model parameters by "
        "name (e.g. carbon_fraction) or '<table attribute>.<pool>' for a pool-table column "
        "(e.g. table.above).",
    )
    correlated: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name -> parameters that share their draws (derived from one source, "
        "e.g. the above-ground, below-ground and dead-matter columns of one biomass value).",
    )
    input_errors: dict[str, InputErrorSpec] = Field(
        default_factory=dict,
        description="Input role -> its per-pixel error: the role of its SD layer (biomass: "
        "biomass_sd), or {sd, source_cell_m, years}.",
    )
    gain_loss: dict[
        Literal["growth_rates", "root_shoot", "carbon_fraction"], float | ParameterSpec
    ] = Field(
        default_factory=dict,
        description="Uncertainty of the gain-loss method's own parameters (relative SD or a "
        "distribution): growth_rates (every row of the growth-rate table; classes: shared "
        "for one draw for all rows), root_shoot, carbon_fraction. Its losses take the "
        "stocks' draws. Models without a carbon state only.",
    )
    pixel_sd: bool = Field(
        False, description="Also write a per-pixel SD layer of the total stock for every year."
    )
    sensitivity: bool = Field(
        True,
        description="Share of the variance of the AOI totals owed to each parameter (re-drawn "
        "with that parameter at its value); on the class and linear paths only.",
    )

    @field_validator("parameters", "gain_loss")
    @classmethod
    def _sds(cls, v: dict[str, float | ParameterSpec]) -> dict[str, float | ParameterSpec]:
        bad = {k: s for k, s in v.items() if isinstance(s, int | float) and not 0 <= s <= 5}
        if bad:
            raise ValueError(f"relative SDs must be between 0 and 5, got {bad}")
        return v

    @field_validator("input_errors", mode="before")
    @classmethod
    def _short_errors(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"sd": e} if isinstance(e, str) else e for k, e in v.items()}
        return v

    @field_validator("correlated")
    @classmethod
    def _groups(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for group, names in v.items():
            for n in names:
                if n in seen:
                    raise ValueError(f"parameter {n!r} is in groups {seen[n]!r} and {group!r}")
                seen[n] = group
        return v


class ZonesConfig(_Strict):
    """Polygons to total the account over (townships, a park, ...), besides the whole AOI."""

    path: Path = Field(description="Polygon file of the zones.")
    layer: str | None = Field(None, description="Layer in the file; the first when omitted.")
    id_field: str | None = Field(
        None, description="Column of zone ids; zones are numbered from 1 when omitted."
    )
    name_field: str | None = Field(None, description="Column of zone names, if any.")


class AccountConfig(_Strict):
    """The carbon account: methods, uncertainty and zones."""

    gain_loss: GainLossConfig = GainLossConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    zones: ZonesConfig | None = Field(None, description="Zones to total over, besides the AOI.")
    pool_flux_layers: bool = Field(
        True, description="Write a stock-difference flux layer per pool, besides the total."
    )
    allow_version_change: bool = Field(
        False,
        description="Allow an interval whose two years come from different versions of one "
        "product (e.g. ESA WorldCover v100 for 2020, v200 for 2021: ESA made them with different "
        "algorithms, so their differences are not all land change). Off by default: such an "
        "interval stops the run; when allowed, every layer carries a VERSION_CHANGE tag.",
    )
    assessments: dict[str, Path] = Field(
        default_factory=dict,
        description="Interval 'Y0-Y1' -> its interpreted reference sample (the file sinkmap "
        "sample wrote, reference_class filled in): the workflow assesses it (sinkmap assess) and "
        "the account adds area-adjusted rows of the interval's net flux.",
    )

    @field_validator("assessments")
    @classmethod
    def _intervals(cls, v: dict[str, Path]) -> dict[str, Path]:
        for key in v:
            m = re.fullmatch(r"(\d{4})-(\d{4})", key)
            if not m or int(m.group(1)) >= int(m.group(2)):
                raise ValueError(
                    f"{key!r} is not an interval 'Y0-Y1' with Y0 < Y1 (e.g. 2023-2024)"
                )
        return v

    def assessed(self) -> dict[tuple[int, int], Path]:
        """The assessed intervals, (y0, y1) -> interpreted sample."""
        return {(int(k[:4]), int(k[5:])): p for k, p in self.assessments.items()}


class ChangeFilterConfig(_Strict):
    """Change filtering of the land-cover series before accounting (docs/accounting.md)."""

    enabled: bool = Field(
        True,
        description="Filter the land-cover series before accounting; the account reads "
        "results/<year>/land_cover_filtered.tif, and results/<year>/change_filter.csv gives the "
        "changed areas before and after.",
    )
    persistence_years: int = Field(
        2,
        ge=1,
        le=10,
        description="A change of IPCC land category must be mapped in this many consecutive "
        "mapped years to count (1: off). Causal: the change is booked in the year it is "
        "confirmed, so earlier years never change when a year is added.",
    )
    min_mapping_unit_ha: float = Field(
        0.0667,
        ge=0,
        description="Patches of change smaller than this keep the previous classes (0: off). "
        "Default: China's forest definition, 0.0667 ha (1 mu).",
    )
    connectivity: Literal[4, 8] = Field(8, description="Cell connectivity of a patch.")
    warmup_years: int = Field(
        0,
        ge=0,
        le=10,
        description="Calendar years before the first of `years` whose land cover warms the filter "
        "up (aligned and filtered, not accounted). Without them the first interval books no "
        "change of land category: nothing before it confirms one. Give persistence_years - 1 "
        "when the land-cover dataset has those years.",
    )

    def warmup(self, first_year: int) -> list[int]:
        """The warm-up years before ``first_year`` (none when filtering is off)."""
        if not self.enabled:
            return []
        return [first_year - i for i in range(self.warmup_years, 0, -1)]


class DaskConfig(_Strict):
    """Where a job computes its dask graphs. Overridden by the environment variables
    ``SINKMAP_DASK_SCHEDULER`` and ``SINKMAP_DASK_WORKERS`` (:mod:`sinkmap.cluster`)."""

    scheduler: str = Field(
        "threads",
        pattern=r"^(threads|local|(tcp|tls|inproc|ucx|ws|wss)://\S+)$",
        description="'threads': the job's threads (Snakemake's threads: of the rule); 'local': a "
        "local cluster of worker processes started by each job; or the address of a running Dask "
        "scheduler (e.g. tcp://10.0.0.5:8786) that every job connects to. Outputs are the same "
        "byte for byte on each.",
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Worker processes of a 'local' cluster (one thread each); default: the job's "
        "threads. Ignored for 'threads' and for a scheduler address.",
    )


class Config(_Strict):
    """A sinkmap run."""

    aoi: AOIConfig
    years: list[int] = Field(
        min_length=1, description="Years to map; sinks are computed between consecutive years."
    )
    grid: GridConfig = GridConfig()
    inputs: dict[str, InputConfig] = Field(description="Role -> dataset. 'land_cover' is required.")
    model: ModelConfig = ModelConfig()
    datasets: Path = Field(Path("config/datasets.yaml"), description="Dataset registry file.")
    resources_dir: Path = Field(
        Path("resources"), description="Where raw inputs are downloaded or generated."
    )
    download_cache: Path | None = Field(
        None,
        description="A folder each downloaded file is kept in once and hard-linked from, for every "
        "run and AOI that uses it (default: none; <resources_dir>/downloads with several AOIs; "
        "the environment variable SINKMAP_DOWNLOAD_CACHE overrides it).",
    )
    results_dir: Path = Field(Path("results"), description="Where outputs are written.")
    logs_dir: Path = Field(Path("logs"), description="Where each job writes its log.")
    account: AccountConfig = Field(
        AccountConfig(), description="Carbon account: methods, uncertainty, zones."
    )
    change_filter: ChangeFilterConfig = Field(
        ChangeFilterConfig(),
        description="Persistence and minimum-mapping-unit filters on the land-cover series.",
    )
    dask: DaskConfig = Field(
        DaskConfig(), description="Where the jobs compute: threads, a local cluster, a scheduler."
    )

    @field_validator("years")
    @classmethod
    def _years(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"years must not repeat, got {v}")
        bad = [y for y in v if not 1985 <= y <= 2100]
        if bad:
            raise ValueError(f"years {bad} are outside 1985-2100")
        return sorted(v)

    @field_validator("inputs")
    @classmethod
    def _roles(cls, v: dict[str, InputConfig]) -> dict[str, InputConfig]:
        if "land_cover" not in v:
            raise ValueError(
                "needs a 'land_cover' role, e.g. inputs: {land_cover: {dataset: demo_worldcover}}"
            )
        return v

    @model_validator(mode="after")
    def _assessed_intervals(self) -> Config:
        bad = [f"{a}-{b}" for a, b in self.account.assessed() if (a, b) not in self.intervals]
        if bad:
            raise ValueError(
                f"account.assessments: {bad} are not intervals of consecutive configured years "
                f"({[f'{a}-{b}' for a, b in self.intervals]}); assess an interval the account has"
            )
        return self

    @model_validator(mode="after")
    def _account_roles(self) -> Config:
        gl, mc = self.account.gain_loss, self.account.uncertainty
        named = {
            "account.gain_loss.loss_role": gl.loss_role,
            "account.gain_loss.state_role": gl.state_role,
        }
        named |= {f"account.uncertainty.input_errors.{k}": k for k in mc.input_errors}
        named |= {
            f"account.uncertainty.input_errors.{k} (SD)": v.sd for k, v in mc.input_errors.items()
        }
        missing = {k: v for k, v in named.items() if v is not None and v not in self.inputs}
        if missing:
            raise ValueError(
                "; ".join(
                    f"{k} names role {v!r}, which is not under inputs" for k, v in missing.items()
                )
                + f" (inputs: {sorted(self.inputs)}); add the role under inputs or remove the setting"
            )
        return self

    @property
    def paths(self) -> Paths:
        """Every path of the run under ``results_dir``, ``resources_dir`` and ``logs_dir``."""
        return Paths(self.results_dir, self.resources_dir, self.logs_dir)

    @property
    def intervals(self) -> list[tuple[int, int]]:
        """Consecutive pairs of the configured years."""
        return list(zip(self.years[:-1], self.years[1:], strict=True))


def read_config_file(path: Path) -> Any:
    """The YAML of a config file, parsed safely: a tag that would build a Python object
    (``!!python/...``) or any other YAML error is a :class:`ConfigError` naming the file and line."""
    try:
        return read_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(
            f"{path} is not plain YAML: {exc}. sinkmap reads config files as plain data; remove "
            "the tag (a value is a string, number, list or mapping)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None


def load_config(source: str | Path | dict[str, Any]) -> Config:
    """Read and validate a config (a YAML path or an already-parsed mapping).

    Raises :class:`ConfigError` listing every problem as ``key: message``.
    """
    if isinstance(source, dict):
        data, where = source, "config"
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(
                f"config file {path} does not exist; copy config/config.yaml and edit it"
            )
        data = read_config_file(path)
        where = str(path)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None


#: What an AOI of a several-AOI run may not set: its folders follow from its name.
_RUN_FOLDERS = {"results_dir": "results", "resources_dir": "resources", "logs_dir": "logs"}
_AOI_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: Names an AOI may not take: folders and rules of the run itself.
_RESERVED_AOI_NAMES = frozenset({"stac", "aois", "all", "logs", "sink", "downloads"})


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in: mappings key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def expand_aois(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configs of a several-AOI run (``aois:``), by AOI name; ``{}`` for a one-AOI config.

    Each AOI's config is the rest of ``data`` with the AOI's own settings merged in (mappings key by
    key, so ``account: {zones: ...}`` replaces only the zones; ``aoi`` is replaced whole), and its
    folders below the run's: ``<results_dir>/<name>``, ``<resources_dir>/<name>``,
    ``<logs_dir>/<name>``. Each AOI runs as its own workflow; nothing is shared but the settings
    and the downloads (``download_cache``, by default ``<resources_dir>/downloads``).
    Raises :class:`ConfigError` naming the AOI and the fix; the configs themselves are validated
    by :func:`load_config` (:func:`load_aoi_configs` does both).
    """
    aois = data.get("aois")
    if aois is None or aois == {}:
        return {}
    if not isinstance(aois, dict):
        raise ConfigError(
            f"aois must map each AOI's name to its settings, e.g. aois: {{baoting: {{aoi: {{path: "
            f"aoi/baoting.gpkg}}}}}}; got {type(aois).__name__}"
        )
    if "aoi" in data:
        raise ConfigError(
            "the config has both aoi and aois: with aois, each AOI gives its own aoi "
            "(aois.<name>.aoi); remove the top-level aoi"
        )
    base = {k: v for k, v in data.items() if k != "aois"}
    out: dict[str, dict[str, Any]] = {}
    for name, entry in aois.items():
        if not isinstance(name, str) or not _AOI_KEY.fullmatch(name):
            raise ConfigError(
                f"aois: {name!r} is not a usable AOI name: it names the AOI's folders and rules, so "
                "it must start with a lower-case letter and hold only lower-case letters, digits "
                "and '_' (at most 63)"
            )
        if name in _RESERVED_AOI_NAMES:
            raise ConfigError(
                f"aois: {name!r} names a folder or rule of the run itself "
                f"({sorted(_RESERVED_AOI_NAMES)}); give the AOI another name"
            )
        clash = [other for other in aois if other != name and str(other).startswith(f"{name}_")]
        if clash:
            raise ConfigError(
                f"aois: {name!r} and {clash[0]!r}: the rules of one would take the names of the "
                f"other's (<name>_<rule>); rename one so that neither starts with the other and '_'"
            )
        entry = {} if entry is None else entry
        if not isinstance(entry, dict):
            raise ConfigError(
                f"aois.{name} must be a mapping of settings (at least aoi: {{path: ...}}); "
                f"got {entry!r}"
            )
        fixed = sorted(set(entry) & {*_RUN_FOLDERS, "aois"})
        if fixed:
            raise ConfigError(
                f"aois.{name} sets {fixed}: an AOI's folders follow from its name "
                "(<results_dir>/<name>, ...); set results_dir, resources_dir and logs_dir once, "
                "at the top of the config"
            )
        if "aoi" not in entry:
            raise ConfigError(f"aois.{name} has no aoi; give aois.{name}.aoi.path (a polygon file)")
        merged = _merge({k: v for k, v in base.items() if k != "aoi"}, entry)
        for key, default in _RUN_FOLDERS.items():
            merged[key] = str(Path(str(base.get(key, default))) / name)
        if "download_cache" not in merged:  # the AOIs share the tiles they download (null: not)
            resources = Path(str(base.get("resources_dir", _RUN_FOLDERS["resources_dir"])))
            merged["download_cache"] = str(resources / "downloads")
        out[name] = merged
    return out


def load_aoi_configs(data: dict[str, Any]) -> dict[str, Config]:
    """Every AOI's validated config of a several-AOI run (see :func:`expand_aois`); an error names
    the AOI (``aois.<name>: ...``). The AOIs must map the same years (their sum is per year and
    interval)."""
    out: dict[str, Config] = {}
    for name, raw in expand_aois(data).items():
        try:
            out[name] = load_config(raw)
        except ConfigError as exc:
            raise ConfigError(f"aois.{name}: {exc}") from None
    if out:
        first, *rest = out.items()
        for name, cfg in rest:
            if cfg.years != first[1].years:
                raise ConfigError(
                    f"aois.{name}.years {cfg.years} differ from aois.{first[0]}'s "
                    f"{first[1].years}: the AOIs are added up year by year; give every AOI the "
                    "same years (set years once, at the top of the config)"
                )
    return out


def summable_uncertainty(configs: dict[str, Config]) -> str | None:
    """Why the AOIs' Monte Carlo draws cannot be added draw by draw into the sum's intervals, or
    None when they can: every AOI with the same model and uncertainty settings (draw *d* is then
    the same parameter draw in each), and no per-pixel input errors (their noise fields are keyed
    to each AOI's own grid, so they would repeat from AOI to AOI instead of being drawn across
    them)."""
    settings = {
        name: (cfg.model.model_dump(mode="json"), cfg.account.uncertainty.model_dump(mode="json"))
        for name, cfg in configs.items()
    }
    if not all(cfg.account.uncertainty.enabled for cfg in configs.values()):
        return "the Monte Carlo is off for some AOIs (account.uncertainty.enabled)"
    names = list(settings)
    differ = [n for n in names[1:] if settings[n] != settings[names[0]]]
    if differ:
        return (
            f"aois {differ} have another model or account.uncertainty than {names[0]!r}: their "
            "draws are not the same parameter draws"
        )
    if any(cfg.account.uncertainty.input_errors for cfg in configs.values()):
        return "account.uncertainty.input_errors: per-pixel noise fields repeat from AOI to AOI"
    return None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the configuration (written to workflow/schemas/config.schema.json)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sinkmap configuration"
    # several AOIs in one run (expand_aois): the top-level aoi then comes from each entry
    schema["properties"]["aois"] = {
        "type": "object",
        "title": "Aois",
        "description": (
            "Several AOIs in one run: AOI name -> its settings (aoi, and any other key to change "
            "for it, e.g. grid or account.zones), merged onto the rest of this config. Each AOI "
            "runs as its own workflow under <results_dir>/<name>/ (resources and logs likewise)."
        ),
        "propertyNames": {"pattern": f"^{_AOI_KEY.pattern}$"},
        "additionalProperties": {"type": "object", "required": ["aoi"]},
    }
    schema["required"] = [k for k in schema["required"] if k != "aoi"]
    schema["anyOf"] = [{"required": ["aoi"]}, {"required": ["aois"]}]
    return schema
