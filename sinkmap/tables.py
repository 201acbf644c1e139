"""Parameter tables read from ``config/``: carbon pool tables and growth rates.

Each table is validated when read, and every problem names the file, the line and the fix. The
tables are values (frozen dataclasses of numpy arrays): the models and the account kernels use
them without touching a file.

- :class:`PoolTable` — carbon stock per land-cover code and pool, Mg C/ha (the InVEST Carbon
  layout ``lucode,c_above,c_below,c_soil,c_dead``; ``config/pools/``).
- :class:`GrowthRates` — biomass growth per land-cover code and forest state
  (``config/growth_rates.csv``), for the gain-loss method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from sinkmap.errors import InputDataError
from sinkmap.files import read_csv_table

#: Column of the InVEST-style table holding each pool.
POOL_COLUMNS: dict[str, str] = {
    "above": "c_above",
    "below": "c_below",
    "dead": "c_dead",
    "soil": "c_soil",
}


@dataclass(frozen=True)
class PoolTable:
    """Carbon stock per land-cover code and pool (Mg C/ha), with the table's name for messages."""

    codes: np.ndarray  # int64, unique
    values: Mapping[str, np.ndarray]  # pool -> float64 per code
    name: str
    names: Mapping[int, str]

    @classmethod
    def from_csv(cls, path: str | Path) -> PoolTable:
        """Read an InVEST Carbon pool table (``lucode,c_above,c_below,c_soil,c_dead``, Mg C/ha).

        Extra columns (``name``, ``source`` …) are allowed. Missing pools, duplicate codes, empty or
        negative values are errors naming the row.
        """
        path = Path(path)
        df = read_csv_table(path, "carbon pool table", missing_hint="set model.params.table")
        df.columns = [c.strip().lower() for c in df.columns]
        missing = [c for c in ["lucode", *POOL_COLUMNS.values()] if c not in df.columns]
        if missing:
            raise InputDataError(
                f"carbon pool table {path} lacks column(s) {missing}; it needs "
                "lucode,c_above,c_below,c_soil,c_dead in Mg C/ha (the InVEST Carbon layout)"
            )
        return cls.from_frame(df, name=str(path))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str) -> PoolTable:
        if df.empty:
            raise InputDataError(
                f"carbon pool table {name} has no rows; add one row per land-cover code"
            )
        lucode = pd.to_numeric(df["lucode"], errors="coerce")
        bad = df.index[lucode.isna() | (lucode < 0) | (lucode % 1 != 0)].tolist()
        if bad:
            raise InputDataError(
                f"carbon pool table {name}: lucode is empty, negative or not a whole number on line(s) "
                f"{[i + 2 for i in bad]}; give the land-cover code as an integer >= 0"
            )
        df = df.assign(lucode=lucode.astype("int64"))
        dup = df["lucode"][df["lucode"].duplicated()].tolist()
        if dup:
            raise InputDataError(
                f"carbon pool table {name} repeats lucode(s) {dup}; keep one row per code"
            )
        values: dict[str, np.ndarray] = {}
        for pool, col in POOL_COLUMNS.items():
            series = pd.to_numeric(df[col], errors="coerce")
            bad = df.index[series.isna() | (series < 0)].tolist()
            if bad:
                rows = [i + 2 for i in bad]  # 1-based, after the header line
                raise InputDataError(
                    f"carbon pool table {name}: {col} is empty, not a number or negative on line(s) "
                    f"{rows}; give a stock >= 0 in Mg C/ha"
                )
            values[pool] = series.to_numpy(dtype="float64")
        codes = df["lucode"].to_numpy(dtype="int64")
        names = (
            {int(c): str(n) for c, n in zip(codes, df["name"], strict=True)}
            if "name" in df.columns
            else {}
        )
        return cls(codes=codes, values=values, name=name, names=names)

    def lut(self, pool: str, size: int = 256) -> np.ndarray:
        """A lookup array indexed by code: the pool's stock, NaN for codes absent from the table."""
        size = max(size, int(self.codes.max()) + 1)
        out = np.full(size, np.nan, dtype="float32")
        out[self.codes] = self.values[pool]
        return out


#: Units accepted in the ``unit`` column of a growth-rate table, and how each becomes carbon.
RATE_UNITS: dict[str, str] = {
    "t_dm_ha_yr": "above-ground biomass growth G_W (t d.m./ha/yr): ΔC_G = G_W × (1 + R) × CF",
    "t_c_ha_yr": "biomass carbon accumulation (t C/ha/yr): ΔC_G = rate, used as given",
}


@dataclass(frozen=True)
class GrowthRates:
    """Biomass growth rates per land-cover code and forest state, read from a CSV with sources.

    Columns: ``lucode``, ``state_code`` (0 = unspecified, the fallback of a class), ``rate`` ≥ 0,
    ``unit`` (a key of :data:`RATE_UNITS`); optional ``state``, ``class_name``, ``source``,
    ``confirmed``. A (class, state) pair without a row takes the class's state-0 row; a class
    without rows does not grow (e.g. annual cropland, IPCC Tier 1).
    """

    codes: np.ndarray  # int64 per row
    states: np.ndarray  # int64 per row
    rates: np.ndarray  # float64 per row
    units: tuple[str, ...]
    state_names: Mapping[int, str]
    name: str

    @classmethod
    def from_csv(cls, path: str | Path) -> GrowthRates:
        """Read a growth-rate table such as ``config/growth_rates.csv``."""
        return cls.from_frame(read_csv_table(path, "growth-rate table"), name=str(path))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, name: str) -> GrowthRates:
        df = df.rename(columns=lambda c: str(c).strip().lower())
        missing = [c for c in ("lucode", "state_code", "rate", "unit") if c not in df.columns]
        if missing:
            raise InputDataError(
                f"growth-rate table {name} lacks column(s) {missing}; it needs "
                "lucode,state_code,rate,unit (see config/growth_rates.csv)"
            )
        if df.empty:
            raise InputDataError(f"growth-rate table {name} has no rows")
        ints = {}
        for col in ("lucode", "state_code"):
            v = pd.to_numeric(df[col], errors="coerce")
            bad = df.index[v.isna() | (v < 0) | (v % 1 != 0)].tolist()
            if bad:
                raise InputDataError(
                    f"growth-rate table {name}: {col} is not a whole number >= 0 on line(s) "
                    f"{[i + 2 for i in bad]}"
                )
            ints[col] = v.to_numpy(dtype="int64")
        rate = pd.to_numeric(df["rate"], errors="coerce")
        bad = df.index[rate.isna() | (rate < 0)].tolist()
        if bad:
            raise InputDataError(
                f"growth-rate table {name}: rate is empty, not a number or negative on line(s) "
                f"{[i + 2 for i in bad]}; give a rate >= 0 in the row's unit"
            )
        units = tuple(str(u).strip() for u in df["unit"])
        bad = [i + 2 for i, u in enumerate(units) if u not in RATE_UNITS]
        if bad:
            raise InputDataError(
                f"growth-rate table {name}: unit must be one of {sorted(RATE_UNITS)} "
                f"(line(s) {bad})"
            )
        pairs = list(zip(ints["lucode"].tolist(), ints["state_code"].tolist(), strict=True))
        dup = sorted({p for p in pairs if pairs.count(p) > 1})
        if dup:
            raise InputDataError(
                f"growth-rate table {name} repeats (lucode, state_code) {dup}; keep one row each"
            )
        state_names: dict[int, str] = {0: "unspecified"}
        if "state" in df.columns:
            for s, n in zip(ints["state_code"].tolist(), df["state"], strict=True):
                state_names.setdefault(int(s), str(n))
        return cls(
            codes=ints["lucode"],
            states=ints["state_code"],
            rates=rate.to_numpy(dtype="float64"),
            units=units,
            state_names=state_names,
            name=name,
        )

    def carbon_gain(
        self,
        classes: npt.ArrayLike,
        state: npt.ArrayLike | None,
        *,
        root_shoot: npt.ArrayLike,
        carbon_fraction: float,
    ) -> np.ndarray:
        """Annual biomass carbon gain ΔC_G of each cell in its class and state (Mg C/ha/yr).

        ``t_dm_ha_yr`` rows give G_W × (1 + R) × CF (IPCC 2006 Vol. 4 Eq. 2.9, 2.10); ``t_c_ha_yr``
        rows give their rate as is. Classes without a row gain 0. A state code that no row uses
        (other than 0) is an error naming the codes and the table.
        """
        codes = np.asarray(classes).astype(np.int64)
        st = np.zeros(codes.shape, np.int64) if state is None else np.asarray(state, np.int64)
        if codes.shape != st.shape:
            raise InputDataError(
                f"classes and forest state of one chunk must have the same shape; got "
                f"{codes.shape} and {st.shape}"
            )
        known = np.unique(np.concatenate([[0], self.states]))
        unknown = np.setdiff1d(np.unique(st), known)
        if unknown.size:
            raise InputDataError(
                f"forest state code(s) {unknown.tolist()} occur in the state layer but not in the "
                f"growth-rate table {self.name} (known: {known.tolist()}); add rows for them or "
                "use 0 for unspecified"
            )
        if codes.size and codes.min() < 0:
            raise InputDataError("land-cover codes must be >= 0")
        size = int(max(self.codes.max(), codes.max(initial=0))) + 1
        nstate = int(known.max()) + 1
        dm = np.zeros((size, nstate))
        c = np.zeros((size, nstate))
        order = np.argsort(self.states, kind="stable")  # state-0 rows first: they set the defaults
        for i in order:
            code, s, rate, unit = self.codes[i], self.states[i], self.rates[i], self.units[i]
            cols = slice(None) if s == 0 else slice(s, s + 1)
            dm[code, cols] = rate if unit == "t_dm_ha_yr" else 0.0
            c[code, cols] = rate if unit == "t_c_ha_yr" else 0.0
        r = np.asarray(root_shoot, "float64")
        return dm[codes, st] * (1.0 + r) * float(carbon_fraction) + c[codes, st]
