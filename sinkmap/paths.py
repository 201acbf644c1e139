"""Every path and file name of a run, in one place: the workflow's rules and the library both use it.

``results/`` holds the published outputs (docs/outputs.md), ``resources/`` the inputs as fetched,
``logs/`` one log per job. Years may be given as numbers or as Snakemake wildcards (``"{year}"``),
so the rules build their output patterns from the same functions the library uses.

Per year::

    results/<year>/<role>.tif                       aligned inputs
    results/<year>/land_cover_filtered.tif, change_filter.csv   change filtering (on by default)
    results/<year>/carbon_stock_<pool>.tif          stocks (above, below, dead, soil, total)
    results/<year>/class_summary.csv, tile_summary.csv, account_stocks.csv, monte_carlo.csv,
    monte_carlo_sensitivity.csv
    results/<year>/carbon_stock_total_sd.tif        Monte Carlo SD (optional)
    results/<year>/sinkmap_<year>.gpkg

Per interval (two mapped years, earlier first)::

    results/sink/<y0>-<y1>/net_flux_co2e.tif, net_flux_co2e_<pool>.tif
    results/sink/<y0>-<y1>/gain_loss_{net,removals,emissions}_co2e.tif
    results/sink/<y0>-<y1>/class_summary.csv, change_matrix.csv, ipcc_change_matrix.csv,
                           account_changes.csv, ipcc_summary.csv

Per interval with an accuracy assessment (``sinkmap sample`` / ``sinkmap assess``)::

    results/accuracy/<y0>-<y1>/sample.gpkg, sample.csv, strata.csv     the reference sample
    results/accuracy/<y0>-<y1>/assessment.gpkg, accuracy.csv, error_matrix.csv,
                               adjusted_account.csv

A stateful model's step into each year (intermediate: read by the interval that ends there, not
published)::

    resources/steps/<year>/gain_loss_{net,removals,emissions}_co2e.tif

Per run: ``results/grid.json``, ``results/carbon_account.{csv,parquet,json}``,
``results/stac/catalog.json``, ``results/report.html``, ``results/sinkmap.qgz`` (the QGIS
project); inputs under
``resources/raw/<dataset>/<version>/<year>/`` with their ``manifest.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sinkmap.constants import POOLS
from sinkmap.contract import YEAR_QUICKLOOKS
from sinkmap.files import plain_name

Year = int | str

#: Layers of a year's stocks: the four pools and their total.
STOCK_LAYERS: tuple[str, ...] = (*POOLS, "total")
#: The gain-loss layers of an interval.
GAIN_LOSS_PARTS: tuple[str, ...] = ("net", "removals", "emissions")
#: Name of the manifest every fetch writes beside the files it obtained.
MANIFEST = "manifest.json"
#: A year's quick looks (PNG maps of its layers; :data:`sinkmap.contract.YEAR_QUICKLOOKS`): of the
#: total stock, the land cover and, with a carbon state, its strata.
QUICKLOOK_NAMES: tuple[str, ...] = tuple(YEAR_QUICKLOOKS)
#: Layers of a year's carbon state (stateful models; sinkmap.dynamics.STATE_LAYERS).
STATE_NAMES: tuple[str, ...] = (
    "category",
    "stratum",
    "age",
    "years_since_conversion",
    "previous_category",
    "last_loss_year",
    "soil_start",
)


@dataclass(frozen=True)
class Paths:
    """The folders of a run; every file name below them comes from a method of this class."""

    results: Path = Path("results")
    resources: Path = Path("resources")
    logs: Path = Path("logs")

    # -- run ---------------------------------------------------------------------------------
    def grid(self) -> Path:
        return self.results / "grid.json"

    def sensitivity(self) -> Path:
        """``uncertainty_sensitivity.csv``: each parameter's share of the Monte Carlo variance."""
        return self.results / "uncertainty_sensitivity.csv"

    def account(self, suffix: str = "csv") -> Path:
        """``carbon_account.csv`` (``suffix`` ``parquet`` or ``json`` for its twins)."""
        return self.results / f"carbon_account.{suffix}"

    def aois_account(self) -> Path:
        """``carbon_account_aois.csv``: every AOI's account and their sum (a several-AOI run)."""
        return self.results / "carbon_account_aois.csv"

    def stac_catalog(self) -> Path:
        return self.results / "stac" / "catalog.json"

    def mosaics(self) -> Path:
        """``mosaic/``: the whole AOI's layers of a split AOI, as VRTs of its groups' COGs."""
        return self.results / "mosaic"

    def report(self) -> Path:
        return self.results / "report.html"

    def qgis_project(self) -> Path:
        return self.results / "sinkmap.qgz"

    def log(self, rule: str, name: str | None = None) -> Path:
        """``logs/<rule>.log`` or ``logs/<rule>/<name>.log``."""
        return self.logs / f"{rule}.log" if name is None else self.logs / rule / f"{name}.log"

    def zone_cover(self) -> Path:
        """``resources/zones/cover.npz``: each tile's cover by the account's zones, computed once
        (:class:`sinkmap.account.zones.ZoneCover`; intermediate)."""
        return self.resources / "zones" / "cover.npz"

    # -- inputs ------------------------------------------------------------------------------
    def raw_dir(self, dataset: str, version: str, year: Year) -> Path:
        """``resources/raw/<dataset>/<version>/<year>``: where a fetch puts a dataset's files."""
        return (
            self.resources
            / "raw"
            / plain_name(dataset, "dataset name")
            / plain_name(version, f"version of dataset {dataset}")
            / str(year)
        )

    def manifest(self, dataset: str, version: str, year: Year) -> Path:
        return self.raw_dir(dataset, version, year) / MANIFEST

    # -- years -------------------------------------------------------------------------------
    def year_dir(self, year: Year) -> Path:
        return self.results / str(year)

    def aligned(self, role: str, year: Year) -> Path:
        """An input role aligned on the grid, e.g. ``results/2020/land_cover.tif``."""
        return self.year_dir(year) / f"{role}.tif"

    def accounted_years(self) -> list[int]:
        """The years of ``results/`` with stocks, in order (a change filter's warm-up year has
        a folder with the land cover only)."""
        if not self.results.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in self.results.iterdir()
            if p.name.isdigit() and len(p.name) == 4 and self.stock(p.name, "total").exists()
        )

    def filtered_land_cover(self, year: Year) -> Path:
        """The land cover after change filtering (what the account reads when it is on)."""
        return self.year_dir(year) / "land_cover_filtered.tif"

    def change_filter_summary(self, year: Year) -> Path:
        """Changed areas of the year before and after change filtering."""
        return self.year_dir(year) / "change_filter.csv"

    def stock(self, year: Year, pool: str) -> Path:
        return self.year_dir(year) / f"carbon_stock_{pool}.tif"

    def stocks(self, year: Year) -> dict[str, Path]:
        """Pool (and ``total``) → its stock layer."""
        return {p: self.stock(year, p) for p in STOCK_LAYERS}

    def stock_sd(self, year: Year) -> Path:
        return self.year_dir(year) / "carbon_stock_total_sd.tif"

    def class_summary(self, year: Year) -> Path:
        return self.year_dir(year) / "class_summary.csv"

    def tile_summary(self, year: Year) -> Path:
        return self.year_dir(year) / "tile_summary.csv"

    def stock_tally(self, year: Year) -> Path:
        return self.year_dir(year) / "account_stocks.csv"

    def monte_carlo(self, year: Year) -> Path:
        return self.year_dir(year) / "monte_carlo.csv"

    def monte_carlo_sensitivity(self, year: Year) -> Path:
        return self.year_dir(year) / "monte_carlo_sensitivity.csv"

    def geopackage(self, year: Year) -> Path:
        return self.year_dir(year) / f"sinkmap_{year}.gpkg"

    def quicklook(self, year: Year, name: str) -> Path:
        """A quick look of the year's layers, e.g. ``results/2021/quicklook_stock.png``
        (:data:`QUICKLOOK_NAMES`)."""
        return self.year_dir(year) / f"quicklook_{name}.png"

    def quicklooks(self, year: Year, *, stateful: bool = False) -> dict[str, Path]:
        """Name → the year's quick look: the total stock and the land cover, and the strata of
        the carbon state with a stateful model."""
        names = [n for n in QUICKLOOK_NAMES if stateful or n != "stratum"]
        return {name: self.quicklook(year, name) for name in names}

    def state(self, year: Year, name: str) -> Path:
        """A layer of the year's carbon state, e.g. ``results/2021/state_age.tif``."""
        return self.year_dir(year) / f"state_{name}.tif"

    def states(self, year: Year) -> dict[str, Path]:
        """State layer name → its file."""
        return {name: self.state(year, name) for name in STATE_NAMES}

    def state_summary(self, year: Year) -> Path:
        return self.year_dir(year) / "state_summary.csv"

    def step(self, year: Year, part: str) -> Path:
        """Gain-loss layer ``part`` (net, removals, emissions) of a stateful model's step into
        ``year`` from the mapped year before, as the stocks stage computed it: intermediate, read
        by the interval that ends in ``year`` (``resources/steps/<year>/``)."""
        return self.resources / "steps" / str(year) / f"gain_loss_{part}_co2e.tif"

    def steps(self, year: Year) -> dict[str, Path]:
        """Part → its step layer (:meth:`step`)."""
        return {part: self.step(year, part) for part in GAIN_LOSS_PARTS}

    def year_outputs(
        self, year: Year, *, stateful: bool = False, steps: bool = False
    ) -> dict[str, Path]:
        """What the stocks stage writes for ``year``: ``stock_<pool>`` layers and its tables, and
        with a stateful model the ``state_<name>`` layers and the state summary (and with
        ``steps``, the ``step_<part>`` layers of the step into the year, :meth:`step`)."""
        out = {f"stock_{p}": path for p, path in self.stocks(year).items()}
        out["class_summary"] = self.class_summary(year)
        out["tile_summary"] = self.tile_summary(year)
        out["stock_tally"] = self.stock_tally(year)
        if stateful:
            out |= {f"state_{name}": path for name, path in self.states(year).items()}
            out["state_summary"] = self.state_summary(year)
            if steps:
                out |= {f"step_{part}": path for part, path in self.steps(year).items()}
        return out

    # -- intervals ---------------------------------------------------------------------------
    def interval_dir(self, y0: Year, y1: Year) -> Path:
        return self.results / "sink" / f"{y0}-{y1}"

    def flux(self, y0: Year, y1: Year, pool: str = "total") -> Path:
        """Stock-difference flux layer of the total stock, or of one pool."""
        name = "net_flux_co2e" if pool == "total" else f"net_flux_co2e_{pool}"
        return self.interval_dir(y0, y1) / f"{name}.tif"

    def flux_quicklook(self, y0: Year, y1: Year) -> Path:
        """The quick look of the interval's net flux, ``quicklook_net_flux.png``."""
        return self.interval_dir(y0, y1) / "quicklook_net_flux.png"

    def gain_loss(self, y0: Year, y1: Year, part: str) -> Path:
        """Gain-loss layer ``part`` (net, removals, emissions) of an interval."""
        return self.interval_dir(y0, y1) / f"gain_loss_{part}_co2e.tif"

    def gain_loss_monte_carlo(self, y0: Year, y1: Year) -> Path:
        """Monte Carlo draws of an interval's gain-loss totals (models without a carbon state)."""
        return self.interval_dir(y0, y1) / "monte_carlo_gain_loss.csv"

    def gain_loss_sensitivity(self, y0: Year, y1: Year) -> Path:
        """An interval's gain-loss net flux per draw with each source held at its value."""
        return self.interval_dir(y0, y1) / "monte_carlo_gain_loss_sensitivity.csv"

    def sink_summary(self, y0: Year, y1: Year) -> Path:
        return self.interval_dir(y0, y1) / "class_summary.csv"

    def change_matrix(self, y0: Year, y1: Year) -> Path:
        return self.interval_dir(y0, y1) / "change_matrix.csv"

    def ipcc_change_matrix(self, y0: Year, y1: Year) -> Path:
        return self.interval_dir(y0, y1) / "ipcc_change_matrix.csv"

    def change_tally(self, y0: Year, y1: Year) -> Path:
        return self.interval_dir(y0, y1) / "account_changes.csv"

    def ipcc_summary(self, y0: Year, y1: Year) -> Path:
        return self.interval_dir(y0, y1) / "ipcc_summary.csv"

    # -- accuracy assessment of an interval ---------------------------------------------------
    def accuracy_dir(self, y0: Year, y1: Year) -> Path:
        return self.results / "accuracy" / f"{y0}-{y1}"

    def sample_outputs(self, y0: Year, y1: Year) -> dict[str, Path]:
        """What ``sinkmap sample`` writes: the sample as a GeoPackage and CSV, and its strata."""
        d = self.accuracy_dir(y0, y1)
        return {"gpkg": d / "sample.gpkg", "csv": d / "sample.csv", "strata": d / "strata.csv"}

    def assessment_outputs(self, y0: Year, y1: Year) -> dict[str, Path]:
        """What ``sinkmap assess`` writes: accuracies and areas per class, the error matrix in
        area proportions, the fluxes from the adjusted areas (when the interval's flux layers
        exist), and all of them as a GeoPackage."""
        d = self.accuracy_dir(y0, y1)
        return {
            "gpkg": d / "assessment.gpkg",
            "accuracy": d / "accuracy.csv",
            "error_matrix": d / "error_matrix.csv",
            "adjusted_account": d / "adjusted_account.csv",
        }

    def interval_outputs(
        self, y0: Year, y1: Year, *, pool_flux: Iterable[str] = POOLS, gain_loss: bool = True
    ) -> dict[str, Path]:
        """What the interval stage writes: ``flux`` and ``flux_<pool>`` layers, ``gain_loss_<part>``
        layers (with ``gain_loss``), the change matrices, the class summary and the tallies."""
        out = {"flux": self.flux(y0, y1)}
        out |= {f"flux_{p}": self.flux(y0, y1, p) for p in pool_flux}
        if gain_loss:
            out |= {f"gain_loss_{k}": self.gain_loss(y0, y1, k) for k in GAIN_LOSS_PARTS}
        out["sink_summary"] = self.sink_summary(y0, y1)
        out["change_matrix"] = self.change_matrix(y0, y1)
        out["ipcc_change_matrix"] = self.ipcc_change_matrix(y0, y1)
        out["change_tally"] = self.change_tally(y0, y1)
        out["ipcc_summary"] = self.ipcc_summary(y0, y1)
        return out
