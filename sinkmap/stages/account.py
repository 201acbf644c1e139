"""The carbon account of a run: every year's stock tally, the changes of the interval ending in it
(both methods) and the Monte Carlo intervals, as ``carbon_account.csv`` and its Parquet twin.

Rule ``account``. The joins are :func:`sinkmap.account.rows.account_table`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sinkmap.account.rows import account_table, sensitivity_table
from sinkmap.config import Config
from sinkmap.files import atomic_path, write_csv
from sinkmap.stages.context import Run


def read_tally(path: Path) -> pd.DataFrame:
    """A stock or change tally as written (zone ids as text, empty class codes as missing)."""
    return pd.read_csv(
        path, dtype={"zone_id": str}, keep_default_na=False, na_values={"class_code": [""]}
    )


def assemble_account(
    cfg: Config,
    *,
    stocks: Mapping[int, Path],
    changes: Mapping[int, Path],
    monte_carlo: Mapping[int, Path] | None = None,
    sensitivity: Mapping[int, Path] | None = None,
    adjusted: Mapping[tuple[int, int], Path] | None = None,
    gain_loss: Mapping[int, Path] | None = None,
    gain_loss_sensitivity: Mapping[int, Path] | None = None,
    out: Path,
    parquet_out: Path | None = None,
    sensitivity_out: Path | None = None,
) -> pd.DataFrame:
    """``carbon_account.csv`` (and its Parquet twin) from the tallies.

    ``stocks``: year → ``account_stocks.csv``; ``changes``: end year → ``account_changes.csv``;
    ``monte_carlo``: year → ``monte_carlo.csv``; ``sensitivity``: year →
    ``monte_carlo_sensitivity.csv``, whose variance shares go to ``sensitivity_out``;
    ``adjusted``: assessed interval → its ``adjusted_account.csv`` (area-adjusted rows);
    ``gain_loss``: end year → the interval's ``monte_carlo_gain_loss.csv``, and
    ``gain_loss_sensitivity`` its ``monte_carlo_gain_loss_sensitivity.csv`` (variance shares of
    the gain-loss net flux, to ``sensitivity_out``). Rows of
    a year come only from that year's (and its interval's) tallies, so adding a year leaves
    earlier rows as they were, ``computed_at`` included.
    """
    draws = {
        y: pd.read_csv(p, dtype={"zone_id": str, "pool": str}, keep_default_na=False)
        for y, p in (monte_carlo or {}).items()
    }
    gain_loss_draws = {
        y: pd.read_csv(p, dtype={"zone_id": str}) for y, p in (gain_loss or {}).items()
    }
    table = account_table(
        {y: read_tally(p) for y, p in stocks.items()},
        {y: read_tally(p) for y, p in changes.items()},
        draws,
        cfg.account.uncertainty.tolerance,
        {k: pd.read_csv(p, dtype={"stratum": str}) for k, p in (adjusted or {}).items()},
        gain_loss_is_stock_difference=Run(cfg).gain_loss_is_stock_difference,
        gain_loss_mc=gain_loss_draws,
    )
    write_csv(table, out)
    if sensitivity_out is not None:

        def held(paths: Mapping[int, Path] | None) -> dict[int, pd.DataFrame]:
            return {
                y: pd.read_csv(p, dtype={"parameter": str}, keep_default_na=False)
                for y, p in (paths or {}).items()
            }

        shares = sensitivity_table(
            draws, held(sensitivity), gain_loss_draws, held(gain_loss_sensitivity)
        )
        write_csv(shares, sensitivity_out)
    if parquet_out is not None:
        with atomic_path(Path(parquet_out)) as tmp:
            table.to_parquet(tmp, index=False)
    return table
