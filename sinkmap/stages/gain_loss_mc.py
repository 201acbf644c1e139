"""Monte Carlo of the gain-loss method of an interval (models without a carbon state).

Rule ``gain_loss_uncertainty``. The interval's cells fall into gain-loss strata (class at both
dates, forest state, disturbed: :func:`sinkmap.account.gain_loss.gain_loss_strata`); the stocks'
Monte Carlo of both years (the same draws as ``monte_carlo.csv``) gives each stratum's stock totals
per draw (:func:`sinkmap.stages.uncertainty.strata_stock_draws`), and the method's own parameters
(growth rates, R, CF) are drawn on their own streams. Each draw's totals are
:func:`sinkmap.account.gain_loss.gain_loss_draws`. A model with a carbon state needs none of this:
its gain-loss equals its stock difference draw by draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap.account.gain_loss import (
    GainLossDraws,
    decode_strata,
    gain_loss_draws,
    gain_loss_parameters,
    gain_loss_strata,
)
from sinkmap.account.montecarlo import draw_factors, draw_parameters, fix_parameter
from sinkmap.config import Config
from sinkmap.constants import BIOMASS_POOLS, POOLS
from sinkmap.contract import AOI_ZONE, GAIN_LOSS_DRAW_COLUMNS, GAIN_LOSS_SENSITIVITY_COLUMNS
from sinkmap.errors import InputDataError
from sinkmap.files import write_csv
from sinkmap.grid import Grid, Tile
from sinkmap.io import read_window
from sinkmap.stages.uncertainty import held_draws_table, strata_stock_draws
from sinkmap.tables import GrowthRates


@dataclass(frozen=True)
class GainLossStrata:
    """The gain-loss strata of an interval, read tile by tile from its layers."""

    land_cover: tuple[Path, Path]
    #: The interval's gain-loss net layer: the cells the method counts (finite).
    valid: Path
    loss_year: Path | None
    state: Path | None
    years: tuple[int, int]
    n_states: int
    loss_year_base: int

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
    sensitivity_out: Path | None = None,
) -> pd.DataFrame:
    """``monte_carlo_gain_loss.csv`` of the interval: the AOI's gain-loss net flux, removals and
    emissions (Mg CO2e/yr, emissions +) in each draw; with ``sensitivity_out``
    (``monte_carlo_gain_loss_sensitivity.csv``) the net flux with each source held at its value:
    each source of the stocks' uncertainty (as in ``monte_carlo_sensitivity.csv``) and each
    gain-loss parameter given an uncertainty in ``account.uncertainty.gain_loss``.

    ``land_cover``: the two years' land cover the interval read; ``valid``: its gain-loss net
    layer (the cells it counts); ``aligned``: year → the layers the stocks' Monte Carlo reads
    (:meth:`~sinkmap.stages.context.Run.mc_inputs`); ``loss_year``, ``state``: the optional
    gain-loss layers. Growth rates, R and CF take the uncertainty of
    ``account.uncertainty.gain_loss`` (none given: their values), each on its own random stream.
    """
    mc = cfg.account.uncertainty
    gl = cfg.account.gain_loss
    rates = GrowthRates.from_csv(gl.growth_rates)
    n_states = int(rates.states.max(initial=0)) + 1
    strata = GainLossStrata(
        land_cover, valid, loss_year, state, (y0, y1), n_states, gl.loss_year_base
    )
    draws = strata_stock_draws(
        cfg,
        (y0, y1),
        aligned=aligned,
        grid=Grid.from_json(grid_path),
        block=strata.block,
        folder=Path(out).parent,
        threads=threads,
        sensitivity=sensitivity_out is not None and mc.sensitivity,
    )
    if draws.area.empty:
        raise InputDataError(
            f"the gain-loss layer of {y0}-{y1} ({valid}) has no valid cell; check that both "
            "years' land cover and stocks cover the area of interest"
        )
    parameters = gain_loss_parameters(rates, gl.root_shoot, gl.carbon_fraction, mc.gain_loss)
    drawn = draw_parameters(parameters, mc.draws, mc.seed)
    bio = [POOLS.index(p) for p in BIOMASS_POOLS]
    fields = decode_strata(draws.area.index, n_states)

    def totals_of(
        stocks: Mapping[int, np.ndarray], params: Mapping[str, np.ndarray]
    ) -> GainLossDraws:
        return gain_loss_draws(
            fields,
            draws.area.to_numpy(),
            stocks[y0][:, :, -1],
            stocks[y1][:, :, -1],
            stocks[y0][:, :, bio].sum(axis=2),
            rates,
            draw_factors(parameters, params)["gain_loss.growth_rates"],
            params["gain_loss.root_shoot"],
            params["gain_loss.carbon_fraction"],
            (y0, y1),
            grow_converted=gl.grow_converted,
        )

    result = totals_of(draws.totals, drawn)
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
    if sensitivity_out is not None:
        # the stocks' sources (held in both years' stock draws; none without sensitivity), then
        # each gain-loss parameter given an uncertainty
        held = {label: totals_of(stocks, drawn).net for label, stocks in draws.held.items()}
        if mc.sensitivity:
            for key in (f"gain_loss.{name}" for name in sorted(mc.gain_loss)):
                held[key] = totals_of(draws.totals, fix_parameter(parameters, drawn, key)).net
        labels = {"interval_start": y0, "interval_end": y1}
        write_csv(
            held_draws_table(held, labels, "mgco2e_per_yr", mc.seed, GAIN_LOSS_SENSITIVITY_COLUMNS),
            sensitivity_out,
        )
    return table
