"""Monte Carlo of the gain-loss method of an interval (models without a carbon state).

Rule ``gain_loss_uncertainty``. The interval's cells fall into gain-loss strata (class at both
dates, forest state, disturbed: :func:`sinkmap.account.gain_loss.gain_loss_strata`); the stocks'
Monte Carlo of both years (the same draws as ``monte_carlo.csv``) gives each stratum's stock totals
per draw, and the method's own parameters (growth rates, R, CF) are drawn on their own streams.
Each draw's totals are :func:`sinkmap.account.gain_loss.gain_loss_draws`. A model with a carbon
state needs none of this: its gain-loss equals its stock difference draw by draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap.account.gain_loss import decode_strata, gain_loss_draws, gain_loss_strata
from sinkmap.account.montecarlo import draw_parameters, parameter
from sinkmap.account.zones import RasterZones
from sinkmap.config import Config
from sinkmap.constants import POOLS
from sinkmap.contract import AOI_ZONE, GAIN_LOSS_DRAW_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import read_window
from sinkmap.stages.uncertainty import stock_draws
from sinkmap.tables import GrowthRates

#: Pools whose carbon a disturbed cell loses (:func:`sinkmap.account.gain_loss.gain_loss`).
BIOMASS_POOLS = ("above", "below", "dead")


class GainLossStrata:
    """The gain-loss strata of an interval, read tile by tile from its layers."""

    def __init__(
        self,
        grid: Grid,
        *,
        land_cover: tuple[Path, Path],
        valid: Path,
        loss_year: Path | None,
        state: Path | None,
        years: tuple[int, int],
        n_states: int,
        loss_year_base: int,
    ) -> None:
        self.grid = grid
        self.land_cover = land_cover
        self.valid = valid
        self.loss_year = loss_year
        self.state = state
        self.years = years
        self.n_states = n_states
        self.loss_year_base = loss_year_base

    def block(self, tile: Tile) -> np.ndarray:
        """The strata codes of one tile (0 where the gain-loss layer has no value)."""
        w = tile.window
        return gain_loss_strata(
            read_window(self.land_cover[0], w),
            read_window(self.land_cover[1], w),
            None if self.state is None else read_window(self.state, w),
            None if self.loss_year is None else read_window(self.loss_year, w),
            np.isfinite(read_window(self.valid, w)),
            years=self.years,
            n_states=self.n_states,
            loss_year_base=self.loss_year_base,
        )

    def areas(self) -> pd.Series:
        """Area (ha) of each stratum code present, one tile at a time."""
        total: dict[int, float] = {}
        for tile in self.grid.tiles():
            codes = self.block(tile).ravel()
            keep = codes > 0
            if not keep.any():
                continue
            ha = np.broadcast_to(self.grid.cell_area_ha(tile.window), (tile.height, tile.width))
            u, inv = np.unique(codes[keep], return_inverse=True)
            sums = np.bincount(inv, weights=ha.ravel()[keep])
            for c, a in zip(u.tolist(), sums.tolist(), strict=True):
                total[c] = total.get(c, 0.0) + a
        return pd.Series(total, dtype="float64").sort_index()


def run_gain_loss_monte_carlo(
    cfg: Config,
    y0: int,
    y1: int,
    *,
    land_cover: tuple[Path, Path],
    valid: Path,
    aligned: Mapping[int, Mapping[str, Path]],
    grid_path: Path,
    out: Path,
    loss_year: Path | None = None,
    state: Path | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """``monte_carlo_gain_loss.csv`` of the interval: the AOI's gain-loss net flux, removals and
    emissions (Mg CO2e/yr, emissions +) in each draw.

    ``land_cover``: the two years' land cover the interval read; ``valid``: its gain-loss net
    layer (the cells it counts); ``aligned``: year → the layers the stocks' Monte Carlo reads
    (:meth:`~sinkmap.stages.context.Run.mc_inputs`); ``loss_year``, ``state``: the optional
    gain-loss layers. Growth rates, R and CF take the uncertainty of
    ``account.uncertainty.gain_loss`` (none given: their values), each on its own random stream.
    """
    mc = cfg.account.uncertainty
    gl = cfg.account.gain_loss
    rates = GrowthRates.from_csv(gl.growth_rates)
    grid = Grid.from_json(grid_path)
    n_states = int(max(rates.states.max(initial=0), 0)) + 1
    strata = GainLossStrata(
        grid,
        land_cover=land_cover,
        valid=valid,
        loss_year=loss_year,
        state=state,
        years=(y0, y1),
        n_states=n_states,
        loss_year_base=gl.loss_year_base,
    )
    area = strata.areas()
    if area.empty:
        raise InputDataError(
            f"the gain-loss layer of {y0}-{y1} ({valid}) has no valid cell; check that both "
            "years' land cover and stocks cover the area of interest"
        )
    codes = area.index.tolist()
    zones = RasterZones(grid, codes, strata.block)
    totals = {
        y: stock_draws(cfg, y, aligned=aligned[y], grid=grid, zones=zones, threads=threads)[:, 1:]
        for y in (y0, y1)
    }
    pool = {p: i for i, p in enumerate([*POOLS, "total"])}
    means: dict[str, float | np.ndarray] = {
        "growth_rates": rates.rates,
        "root_shoot": gl.root_shoot,
        "carbon_fraction": gl.carbon_fraction,
    }
    specs = {n: parameter(f"gain_loss.{n}", means[n], s) for n, s in mc.gain_loss.items()}
    drawn = draw_parameters({f"gain_loss.{n}": p for n, p in specs.items()}, mc.draws, mc.seed)
    ones = np.ones((mc.draws, rates.rates.size))
    factor = (
        drawn["gain_loss.growth_rates"] / np.where(rates.rates > 0, rates.rates, 1.0)
        if "gain_loss.growth_rates" in drawn
        else ones
    )
    result = gain_loss_draws(
        decode_strata(codes, n_states),
        area.to_numpy(),
        totals[y0][:, :, pool["total"]],
        totals[y1][:, :, pool["total"]],
        sum(totals[y0][:, :, pool[p]] for p in BIOMASS_POOLS),
        rates,
        factor,
        drawn.get("gain_loss.root_shoot", np.full(mc.draws, gl.root_shoot)),
        drawn.get("gain_loss.carbon_fraction", np.full(mc.draws, gl.carbon_fraction)),
        (y0, y1),
        grow_converted=gl.grow_converted,
    )
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "interval_start": y0,
                    "interval_end": y1,
                    "draw": np.arange(mc.draws),
                    "zone_id": AOI_ZONE,
                    "part": part,
                    "mgco2e_per_yr": getattr(result, part),
                    "seed": mc.seed,
                }
            )
            for part in ("net", "removals", "emissions")
        ],
        ignore_index=True,
    )[list(GAIN_LOSS_DRAW_COLUMNS)]
    write_csv(table, out)
    return table
