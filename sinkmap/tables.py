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

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sinkmap.errors import InputDataError
from sinkmap.files import read_csv_table

#: Column of the InVEST-style table holding each pool.
POOL_COLUMNS: dict[str, str] = {
    "above": "c_above",
    "below": "c_below",
    "dead": "c_dead",
    "soil": "c_soil",
}


#: Largest plausible stock (Mg C/ha) of a biomass or dead-matter pool: above it a table value is
#: a unit error (the tallest tropical forests hold a few hundred). Soil has no such bound: deep
#: peat can hold more.
MAX_POOL_STOCK = 1000.0


#: Cells that pandas' ``read_csv`` reads as missing (its default ``na_values``): a blank optional
#: number (a strata table's ``rotation_years``) may be written as any of them.
NA_TOKENS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
#: A number as a table may write it: decimal digits, a point, an exponent, or inf / nan. Not what
#: else Python's ``float`` takes (``1_000``, other scripts' digits), which pandas refused too.
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.ASCII | re.IGNORECASE
)
#: Codes a table gives are below this: float64 holds every whole number below it exactly.
CODE_LIMIT = 2**53


@dataclass(frozen=True)
class _Cells:
    """A table's columns by stripped, lower-cased name, each a list of cells, and the file's line
    of each row (for messages)."""

    columns: dict[str, list[Any]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)

    def at(self, mask: np.ndarray) -> list[int]:
        """The lines of the rows ``mask`` marks."""
        return [self.lines[i] for i in np.flatnonzero(mask)]


def _cells(
    table: Mapping[str, Any],
    what: str,
    required: tuple[str, ...],
    *,
    layout: str,
    empty: str = "",
) -> _Cells:
    """``table`` (what :func:`~sinkmap.files.read_csv_table` returns, a dict of sequences or a
    pandas DataFrame: anything with ``items()``) as :class:`_Cells`, checked to hold the
    ``required`` columns (else an error ending with ``layout``) and a row (else one ending with
    ``empty``); ``what`` names it in errors. Rows not from a file are numbered as a file's would
    be, from line 2."""
    columns: dict[str, list[Any]] = {}
    for key, values in table.items():
        name = str(key).strip().lower()
        if name in columns:
            raise InputDataError(
                f"{what} has two columns named {name!r} (column names ignore case and spaces); "
                "keep one"
            )
        columns[name] = list(values)
    lengths = sorted({len(v) for v in columns.values()})
    if len(lengths) > 1:
        raise InputDataError(
            f"{what}: its columns differ in length ({lengths}); give each a value per row"
        )
    n = lengths[0] if lengths else 0
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputDataError(f"{what} lacks column(s) {missing}; {layout}")
    if n == 0:
        raise InputDataError(f"{what} has no rows{empty}")
    lines = getattr(table, "lines", None)
    return _Cells(columns, list(lines) if lines is not None else list(range(2, n + 2)))


def _number(cell: Any) -> float:
    """A cell as a float; NaN where it is empty or not a number."""
    if isinstance(cell, str):
        text = cell.strip(" \t\r\n")
        return float(text) if _NUMBER.fullmatch(text) else float("nan")
    try:
        return float(cell)
    except (TypeError, ValueError):  # None, pandas' NA
        return float("nan")


def _numbers(cells: list[Any]) -> np.ndarray:
    """Cells as float64, NaN where one is empty or not a number."""
    return np.array([_number(c) for c in cells], dtype="float64")


def _not_code(v: np.ndarray) -> np.ndarray:
    """Where numbers are not codes: empty, negative, fractional or not below :data:`CODE_LIMIT`."""
    with np.errstate(invalid="ignore"):
        return np.isnan(v) | (v < 0) | (v % 1 != 0) | (v >= CODE_LIMIT)


def _blank(cell: Any) -> bool:
    """Whether a cell is empty: absent, blank, one of :data:`NA_TOKENS`, or a DataFrame's NaN or
    NA."""
    if isinstance(cell, str):
        return cell.strip() in NA_TOKENS
    if cell is None:
        return True
    try:
        return bool(cell != cell)  # NaN
    except (TypeError, ValueError):  # pandas' NA, whose truth is ambiguous
        return True


def _repeated(codes: np.ndarray) -> list[int]:
    """The codes that repeat one on an earlier row, each time it does, in row order."""
    later = np.ones(codes.size, bool)
    later[np.unique(codes, return_index=True)[1]] = False
    return [int(c) for c in codes[later]]


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
        table = read_csv_table(path, "carbon pool table", missing_hint="set model.params.table")
        return cls.from_columns(table, name=str(path))

    @classmethod
    def from_columns(cls, table: Mapping[str, Any], *, name: str) -> PoolTable:
        """The table from its columns (a dict of sequences, a pandas DataFrame, or what
        :func:`~sinkmap.files.read_csv_table` returns), validated as :meth:`from_csv` says."""
        cells = _cells(
            table,
            f"carbon pool table {name}",
            ("lucode", *POOL_COLUMNS.values()),
            layout="it needs lucode,c_above,c_below,c_soil,c_dead in Mg C/ha (the InVEST Carbon "
            "layout)",
            empty="; add one row per land-cover code",
        )
        cols, n = cells.columns, len(cells)
        lucode = _numbers(cols["lucode"])
        bad = cells.at(_not_code(lucode))
        if bad:
            raise InputDataError(
                f"carbon pool table {name}: lucode is empty, negative, not a whole number or not below "
                f"2^53 on line(s) {bad}; give the land-cover code as an integer >= 0"
            )
        codes = lucode.astype("int64")
        dup = _repeated(codes)
        if dup:
            raise InputDataError(
                f"carbon pool table {name} repeats lucode(s) {dup}; keep one row per code"
            )
        values: dict[str, np.ndarray] = {}
        for pool, col in POOL_COLUMNS.items():
            series = _numbers(cols[col])
            with np.errstate(invalid="ignore"):
                bad = cells.at(~np.isfinite(series) | (series < 0))
            if bad:
                raise InputDataError(
                    f"carbon pool table {name}: {col} is empty, not a number, infinite or negative "
                    f"on line(s) {bad}; give a stock >= 0 in Mg C/ha"
                )
            high = series > MAX_POOL_STOCK if pool != "soil" else np.zeros(n, bool)
            if high.any():
                raise InputDataError(
                    f"carbon pool table {name}: {col} is above {MAX_POOL_STOCK:g} Mg C/ha on "
                    f"line(s) {cells.at(high)} ({series[high].tolist()}), beyond any "
                    "forest's biomass or dead wood; check the unit (Mg C/ha, not kg C/ha or "
                    "t d.m./ha)"
                )
            values[pool] = series
        names = (
            {int(c): str(label) for c, label in zip(codes, cols["name"], strict=True)}
            if "name" in cols
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
        return cls.from_columns(read_csv_table(path, "growth-rate table"), name=str(path))

    @classmethod
    def from_columns(cls, table: Mapping[str, Any], *, name: str) -> GrowthRates:
        """The table from its columns (a dict of sequences, a pandas DataFrame, or what
        :func:`~sinkmap.files.read_csv_table` returns), validated."""
        cells = _cells(
            table,
            f"growth-rate table {name}",
            ("lucode", "state_code", "rate", "unit"),
            layout="it needs lucode,state_code,rate,unit (see config/growth_rates.csv)",
        )
        cols = cells.columns
        ints = {}
        for col in ("lucode", "state_code"):
            v = _numbers(cols[col])
            bad = cells.at(_not_code(v))
            if bad:
                raise InputDataError(
                    f"growth-rate table {name}: {col} is not a whole number from 0 to 2^53 - 1 on "
                    f"line(s) {bad}"
                )
            ints[col] = v.astype("int64")
        rate = _numbers(cols["rate"])
        with np.errstate(invalid="ignore"):
            bad = cells.at(np.isnan(rate) | (rate < 0))
        if bad:
            raise InputDataError(
                f"growth-rate table {name}: rate is empty, not a number or negative on line(s) "
                f"{bad}; give a rate >= 0 in the row's unit"
            )
        units = tuple(str(u).strip() for u in cols["unit"])
        bad = [line for line, u in zip(cells.lines, units, strict=True) if u not in RATE_UNITS]
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
        if "state" in cols:
            for s, label in zip(ints["state_code"].tolist(), cols["state"], strict=True):
                state_names.setdefault(int(s), str(label))
        return cls(
            codes=ints["lucode"],
            states=ints["state_code"],
            rates=rate,
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
        codes, st, lut = self._row_lut(classes, state)
        # the rates by (class, state) first, then two gathers per cell
        dm, c = self.rates_by_unit(lut, self.rates)
        r = np.asarray(root_shoot, "float64")
        return dm[codes, st] * (1.0 + r) * float(carbon_fraction) + c[codes, st]

    def table_rows(self, classes: npt.ArrayLike, state: npt.ArrayLike | None) -> np.ndarray:
        """The table row that gives each cell's rate: its class's row for its state, else for
        state 0 (any state); -1 where its class has neither. A state code that no row uses
        (other than 0) is an error naming the codes and the table."""
        codes, st, lut = self._row_lut(classes, state)
        return lut[codes, st]

    def _row_lut(
        self, classes: npt.ArrayLike, state: npt.ArrayLike | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cells' codes and states (int64, checked) and the table row of every (class,
        state) up to the largest of each (-1: none)."""
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
        lut = np.full((size, int(known.max()) + 1), -1, np.int64)
        order = np.argsort(self.states, kind="stable")  # state-0 rows first: they set the defaults
        for i in order:
            code, s = self.codes[i], self.states[i]
            lut[code, slice(None) if s == 0 else slice(s, s + 1)] = i
        return codes, st, lut

    def rates_by_unit(
        self, table_rows: np.ndarray, rates: npt.ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rates`` (one per table row, on the last axis: e.g. (draws, rows) of drawn rates)
        taken at ``table_rows`` (:meth:`table_rows`, any shape), split by unit: (t d.m./ha/yr,
        t C/ha/yr), each 0 where the row has the other unit or there is no row (-1)."""
        r = np.asarray(rates, "float64")
        has = table_rows >= 0
        at = np.where(has, table_rows, 0)
        taken = r[..., at]
        dm_row = np.array([u == "t_dm_ha_yr" for u in self.units], bool)[at] & has
        c_row = np.array([u == "t_c_ha_yr" for u in self.units], bool)[at] & has
        return np.where(dm_row, taken, 0.0), np.where(c_row, taken, 0.0)


#: Oldest age (years) a growth curve is tabulated to; older stands take this age's biomass.
AGE_MAX = 400
#: Growth-curve forms of :class:`StrataTable` and the columns each needs.
CURVES: dict[str, tuple[str, ...]] = {
    "capped_linear": (
        "young_rate",
        "young_years",
        "old_secondary_rate",
        "old_growth_agb",
        "old_growth_rate",
        "max_agb",
    ),
    "chapman_richards": ("max_agb", "k", "p"),
}
#: Numeric columns of a strata table besides the curve's (every row needs them).
STRATA_NUMBERS = ("root_shoot", "dead_wood_fraction", "litter_fraction", "canopy_age")


def growth_curve(curve: str, ages: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """Above-ground biomass (t d.m./ha) at whole ``ages`` (years) along a growth curve.

    ``capped_linear``: ``young_rate`` a year for ``young_years`` (IPCC 2019 Table 4.9, secondary
    forest ≤ 20 yr), then ``old_secondary_rate`` (> 20 yr) until ``old_growth_agb``, then
    ``old_growth_rate`` (old-growth forest) until ``max_agb``. ``chapman_richards``:
    ``max_agb`` × (1 − e^(−k·age))^p.
    """
    a = np.asarray(ages, "float64")
    if curve == "chapman_richards":
        return params["max_agb"] * (1.0 - np.exp(-params["k"] * a)) ** params["p"]
    if curve != "capped_linear":
        raise InputDataError(f"unknown growth curve {curve!r}; use one of {sorted(CURVES)}")
    young, years = params["young_rate"], params["young_years"]
    b = np.minimum(a, years) * young
    b_young = young * years
    second, old_agb = params["old_secondary_rate"], params["old_growth_agb"]
    if second > 0 and b_young < old_agb:
        t_old = years + (old_agb - b_young) / second  # age at which old growth begins
    else:
        t_old = years
        old_agb = min(b_young, old_agb) if second <= 0 else b_young
    b = np.where(a > years, b_young + np.minimum(a - years, t_old - years) * second, b)
    b = np.where(a > t_old, old_agb + (a - t_old) * params["old_growth_rate"], b)
    return np.minimum(b, params["max_agb"])


@dataclass(frozen=True)
class StrataTable:
    """Growth curves and parameters of the carbon state's woody strata, per ecological zone.

    Read from ``config/dynamics/strata.csv``: one row per ``stratum`` (code of
    :data:`sinkmap.legends.STRATUM`) and ``ecozone`` (FAO GEZ 2010 code; 0 = any zone, the row used
    where no row names the pixel's zone), with the IPCC land category of the stratum, its growth
    curve (:data:`CURVES`), root-to-shoot ratio, dead-wood and litter fractions of AGB, rotation
    (plantations) and the age from which its canopy shows as tree cover, each number with its
    source. Above-ground biomass is tabulated by whole year of age (:attr:`agb_by_age`).
    """

    strata: np.ndarray  # int per row
    ecozones: np.ndarray  # int per row (0 = any)
    categories: tuple[str, ...]
    curves: tuple[str, ...]
    agb_by_age: np.ndarray  # (rows, AGE_MAX + 1) t d.m./ha
    root_shoot: np.ndarray
    dead_wood_fraction: np.ndarray
    litter_fraction: np.ndarray
    rotation: np.ndarray  # years, 0 where none
    canopy_age: np.ndarray  # int years
    old_growth_agb: np.ndarray  # t d.m./ha where old growth begins (capped_linear), else NaN
    names: Mapping[int, str]
    name: str

    @classmethod
    def from_csv(cls, path: str | Path) -> StrataTable:
        """Read and validate a strata table; every problem names the file, the line and the fix."""
        table = read_csv_table(path, "strata table", missing_hint="set model.params.strata")
        return cls.from_columns(table, name=str(path))

    @classmethod
    def from_columns(cls, table: Mapping[str, Any], *, name: str) -> StrataTable:
        """The table from its columns (a dict of sequences, a pandas DataFrame, or what
        :func:`~sinkmap.files.read_csv_table` returns), validated as :meth:`from_csv` says."""
        from sinkmap.legends import IPCC_CATEGORIES

        cells = _cells(
            table,
            f"strata table {name}",
            ("stratum", "ecozone", "ipcc_category", "curve", *STRATA_NUMBERS),
            layout="see config/dynamics/strata.csv",
        )
        cols = cells.columns

        def _checked(col: str, line: int, value: object, *, whole: bool = False) -> float:
            v = _number(value)
            if _not_code(np.array(v)) if whole else (not np.isfinite(v) or v < 0):
                kind = "a whole number from 0 to 2^53 - 1" if whole else "a finite number >= 0"
                raise InputDataError(
                    f"strata table {name}, line {line}: {col} is {value!r}; give {kind}"
                )
            return v

        rows: list[Any] = []
        seen: dict[tuple[int, int], int] = {}
        for i, line in enumerate(cells.lines):
            rec = {c: column[i] for c, column in cols.items()}
            stratum = int(_checked("stratum", line, rec["stratum"], whole=True))
            zone = int(_checked("ecozone", line, rec["ecozone"], whole=True))
            if (stratum, zone) in seen:
                raise InputDataError(
                    f"strata table {name}, line {line}: stratum {stratum} in ecozone {zone} is "
                    f"already on line {seen[(stratum, zone)]}; keep one row each"
                )
            seen[(stratum, zone)] = line
            category = str(rec["ipcc_category"]).strip()
            if category not in IPCC_CATEGORIES:
                raise InputDataError(
                    f"strata table {name}, line {line}: ipcc_category {category!r} is not one of "
                    f"{list(IPCC_CATEGORIES)}"
                )
            curve = str(rec["curve"]).strip()
            if curve not in CURVES:
                raise InputDataError(
                    f"strata table {name}, line {line}: curve {curve!r} is not one of "
                    f"{sorted(CURVES)}"
                )
            params = {c: _checked(c, line, rec.get(c)) for c in CURVES[curve]}
            numbers = {c: _checked(c, line, rec[c]) for c in STRATA_NUMBERS}
            rotation = rec.get("rotation_years")
            rotation = 0.0 if _blank(rotation) else _checked("rotation_years", line, rotation)
            rows.append((stratum, zone, category, curve, params, numbers, rotation, rec))
        ages = np.arange(AGE_MAX + 1)
        return cls(
            strata=np.array([r[0] for r in rows], np.int64),
            ecozones=np.array([r[1] for r in rows], np.int64),
            categories=tuple(r[2] for r in rows),
            curves=tuple(r[3] for r in rows),
            agb_by_age=np.stack([growth_curve(r[3], ages, r[4]) for r in rows]),
            root_shoot=np.array([r[5]["root_shoot"] for r in rows]),
            dead_wood_fraction=np.array([r[5]["dead_wood_fraction"] for r in rows]),
            litter_fraction=np.array([r[5]["litter_fraction"] for r in rows]),
            rotation=np.array([r[6] for r in rows]),
            canopy_age=np.array([int(r[5]["canopy_age"]) for r in rows], np.int64),
            old_growth_agb=np.array([r[4].get("old_growth_agb", np.nan) for r in rows]),
            names={
                r[0]: str(r[0] if _blank(r[7].get("stratum_name")) else r[7]["stratum_name"])
                for r in rows
            },
            name=name,
        )

    @cached_property
    def row_table(self) -> np.ndarray:
        """The table row of every (stratum, ecozone) code pair, 256 × 256 (read-only): the zone's
        own row, else the stratum's first row for any zone (ecozone 0); -1 where there is none.
        Built once per table, not per call of :meth:`row_index`."""
        lut = np.full((256, 256), -1, np.int64)
        for i, (st, zone) in enumerate(zip(self.strata, self.ecozones, strict=True)):
            if zone == 0:
                lut[st, :] = np.where(lut[st, :] < 0, i, lut[st, :])
        for i, (st, zone) in enumerate(zip(self.strata, self.ecozones, strict=True)):
            if zone != 0:
                lut[st, zone] = i
        lut.setflags(write=False)
        return lut

    def row_index(self, strata: npt.ArrayLike, ecozones: npt.ArrayLike) -> np.ndarray:
        """The table row of each (stratum, ecozone) pair (:attr:`row_table`). A pair without a
        row is an error naming it and the table."""
        s = np.asarray(strata).astype(np.int64)
        z = np.asarray(ecozones).astype(np.int64)
        rows = self.row_table[s, z]
        if (rows < 0).any():
            bad = sorted({(int(a), int(b)) for a, b in zip(s[rows < 0], z[rows < 0], strict=True)})
            raise InputDataError(
                f"strata table {self.name} has no row for (stratum, ecozone) {bad[:10]}; add a row "
                "for that ecological zone, or one with ecozone 0 (any zone)"
            )
        return rows

    def agb(self, rows: np.ndarray, ages: npt.ArrayLike) -> np.ndarray:
        """Above-ground biomass (t d.m./ha) of table ``rows`` at whole ``ages``."""
        a = np.clip(np.asarray(ages).astype(np.int64), 0, AGE_MAX)
        return self.agb_by_age[rows, a]

    def mature_agb(self, rows: np.ndarray) -> np.ndarray:
        """AGB at maturity (t d.m./ha): at the rotation age for plantations, where old growth
        begins for capped-linear curves, the curve's maximum otherwise."""
        out = np.where(np.isnan(self.old_growth_agb), self.agb_by_age[:, -1], self.old_growth_agb)
        out = np.minimum(out, self.agb_by_age[:, -1])
        rotating = self.rotation > 0
        ages = np.minimum(self.rotation.astype(np.int64), AGE_MAX)
        out = np.where(rotating, self.agb_by_age[np.arange(len(out)), ages], out)
        return out[rows]

    def mature_age(self, rows: np.ndarray) -> np.ndarray:
        """The youngest whole age at which a stratum's AGB reaches :meth:`mature_agb` (the age a
        mature stand of unknown age is given when the state starts)."""
        target = self.mature_agb(np.arange(len(self.strata)))
        reached = self.agb_by_age >= target[:, None] - 1e-9
        return np.argmax(reached, axis=1)[rows]
