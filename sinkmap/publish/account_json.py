"""The carbon account table (``carbon_account.csv``): a typed reader, and its JSON form.

The table has one row per year × zone × land-cover class × pool × method; its columns, their units
and types are those of :mod:`sinkmap.tally` (``ACCOUNT_COLUMNS``, ``ACCOUNT_UNITS``,
``ACCOUNT_INTEGER``, ``ACCOUNT_JSON_TEXT``, ``ACCOUNT_TEXT``; every other column is a number).
:func:`read_account` reads it with those types and refuses a table of another layout.

The JSON form is one object: the contract version, the sign convention, the units of every column
and the rows as records. Empty cells (the change and flux columns of the first year, the stock
columns of the gain-loss rows, the Monte Carlo columns where the uncertainty step did not run, the
class code of an "all classes" row) become ``null``; integer columns are integers; the ``model``,
``method_params`` and ``inputs`` columns, JSON text in the CSV, become JSON values. Its JSON Schema
(draft 2020-12) is ``docs/schemas/carbon_account.schema.json``; see docs/outputs.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sinkmap.constants import SIGN_CONVENTION
from sinkmap.contract import (
    ACCOUNT_COLUMNS,
    ACCOUNT_INTEGER,
    ACCOUNT_JSON_TEXT,
    ACCOUNT_TEXT,
    ACCOUNT_UNITS,
    ALL_CLASSES,
    AOI_ZONE,
    OUTPUT_VERSION,
    STOCK_DIFFERENCE,
)
from sinkmap.errors import OutputError
from sinkmap.files import atomic_path

__all__ = [
    "ACCOUNT_UNITS",
    "account_document",
    "account_rows",
    "read_account",
    "write_account_json",
]

#: Columns holding numbers (floats): every column that is not integer, JSON text or text.
ACCOUNT_NUMBER: tuple[str, ...] = tuple(
    c for c in ACCOUNT_COLUMNS if c not in (*ACCOUNT_INTEGER, *ACCOUNT_JSON_TEXT, *ACCOUNT_TEXT)
)


def read_account(account_csv: str | Path) -> pd.DataFrame:
    """``carbon_account.csv`` with the contract's types.

    Integer columns are ``Int64`` (``<NA>`` where empty), number columns ``float64`` (NaN where
    empty), text and JSON-text columns ``str`` (``""`` where empty; JSON text is not parsed).
    Raises :class:`OutputError` when the columns are not those of the contract, or a cell of an
    integer or number column does not hold one.
    """
    path = Path(account_csv)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = list(raw.columns)
    if columns != ACCOUNT_COLUMNS:
        missing = [c for c in ACCOUNT_COLUMNS if c not in columns]
        extra = [c for c in columns if c not in ACCOUNT_COLUMNS]
        raise OutputError(
            f"{path} does not have the columns of the account table of output contract "
            f"{OUTPUT_VERSION} (missing {missing}, unexpected {extra}; the order must be "
            f"{ACCOUNT_COLUMNS}); re-run the account step "
            "(snakemake results/carbon_account.csv --force) with this sinkmap version"
        )
    table = pd.DataFrame(index=raw.index)
    for column in ACCOUNT_COLUMNS:
        cells = raw[column]
        if column in ACCOUNT_INTEGER:
            table[column] = pd.array(
                [_integer(v, path, column, i) for i, v in enumerate(cells)], dtype="Int64"
            )
        elif column in ACCOUNT_NUMBER:
            table[column] = [_number(v, path, column, i) for i, v in enumerate(cells)]
            table[column] = table[column].astype("float64")
        else:
            table[column] = cells.astype(str)
    return table


def account_rows(
    table: pd.DataFrame,
    *,
    zone_id: str | None = AOI_ZONE,
    all_classes: bool = True,
    pool: str = "total",
    method: str = STOCK_DIFFERENCE,
) -> pd.DataFrame:
    """The rows of one slice of the account (a table from :func:`read_account`) that add up
    without double counting: one zone (``None``: every zone), either the "all classes" rows or the
    class rows, one pool (``total`` = the four pools) and one method. Raises :class:`OutputError`
    when the slice has two rows for one year, zone and class."""
    keep = (table["method"] == method) & (table["pool"] == pool)
    keep &= (table["class_name"] == ALL_CLASSES) == all_classes
    if zone_id is not None:
        keep &= table["zone_id"] == zone_id
    rows = table[keep]
    repeated = rows[rows.duplicated(["year", "zone_id", "class_code"], keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        raise OutputError(
            f"the account table has more than one row for year {first['year']}, zone "
            f"{first['zone_id']!r}, class {first['class_name']!r}, pool {pool!r}, method "
            f"{method!r}; re-run the account step (snakemake results/carbon_account.csv --force)"
        )
    return rows


def account_document(account_csv: Path) -> dict[str, Any]:
    """The JSON form of ``account_csv`` as a Python object (see :func:`write_account_json`)."""
    table = read_account(account_csv)
    records = [_record(row) for row in table.to_dict(orient="records")]
    versions = sorted({str(r["output_version"]) for r in records})
    if versions and versions != [OUTPUT_VERSION]:
        raise OutputError(
            f"{account_csv} was written under output contract {versions}, this sinkmap writes "
            f"{OUTPUT_VERSION}; re-run the workflow so that table and JSON agree"
        )
    return {
        "output_version": OUTPUT_VERSION,
        "table": "carbon_account",
        "description": "Carbon stocks and CO2e fluxes per year, zone, land-cover class, pool and "
        "method (stock-difference, gain-loss), one record per row of carbon_account.csv",
        "sign_convention": SIGN_CONVENTION,
        "synthetic": any(r["synthetic"] == "yes" for r in records),
        "columns": list(ACCOUNT_COLUMNS),
        "units": dict(ACCOUNT_UNITS),
        "records": records,
    }


def write_account_json(account_csv: Path, out: Path) -> Path:
    """Write ``account_csv`` as JSON at ``out`` (atomically) and return ``out``."""
    doc = account_document(Path(account_csv))
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(
            json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )
    return out


def _integer(text: str, path: Path, column: str, row: int) -> int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value)):
        raise OutputError(
            f"{path}, row {row + 2}: {column} is {text!r}, not an integer; re-run the account step"
        )
    return int(value)


def _number(text: str, path: Path, column: str, row: int) -> float:
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.inf
    if math.isinf(value):
        raise OutputError(
            f"{path}, row {row + 2}: {column} is {text!r}, not a finite number; re-run the "
            "account step"
        )
    return value


def _json_value(text: str, column: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise OutputError(
            f"the account table's {column} column holds {text[:80]!r}, which is not JSON text "
            f"({err}); re-run the account step"
        ) from None


def _record(row: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for column in ACCOUNT_COLUMNS:
        value = row[column]
        if column in ACCOUNT_INTEGER:
            rec[column] = None if pd.isna(value) else int(value)
        elif column in ACCOUNT_JSON_TEXT:
            rec[column] = _json_value(value, column) if value else None
        elif column in ACCOUNT_TEXT:
            rec[column] = value if value != "" else None
        else:
            rec[column] = None if math.isnan(value) else float(value)
    return rec
