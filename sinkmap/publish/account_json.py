"""The carbon account table (``carbon_account.csv``) in JSON form, for platforms that read JSON.

The file is one object: the contract version, the sign convention, the units of every column and the
rows as records. Empty cells (the flux of the first year, which has no earlier year) become ``null``;
the ``model`` and ``sources`` columns, JSON text in the CSV, become JSON values. Its JSON Schema
(draft 2020-12) is ``docs/schemas/carbon_account.schema.json``; see docs/outputs.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sinkmap import OUTPUT_VERSION
from sinkmap.constants import (
    POOLS,
    SIGN_CONVENTION,
    UNITS_FLUX_TOTAL,
    UNITS_STOCK,
    UNITS_STOCK_TOTAL,
)
from sinkmap.errors import OutputError
from sinkmap.io import atomic_path

#: Units of every column of the account table (``None``: a label, code or text without units).
ACCOUNT_UNITS: dict[str, str | None] = {
    "year": None,
    "class_code": None,
    "class_name": None,
    "ipcc_category": None,
    "area_ha": "ha",
    **{f"stock_{p}_mgc": UNITS_STOCK_TOTAL for p in POOLS},
    "stock_total_mgc": UNITS_STOCK_TOTAL,
    "stock_density_mgc_per_ha": UNITS_STOCK,
    "interval": None,
    "net_flux_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "emissions_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "removals_mgco2e_per_yr": UNITS_FLUX_TOTAL,
    "method": None,
    "model": None,
    "sources": None,
    "synthetic": None,
    "sinkmap_version": None,
    "output_version": None,
}

_INTEGER = ("year", "class_code")
_JSON_TEXT = ("model", "sources")
_TEXT = (
    "class_name",
    "ipcc_category",
    "interval",
    "method",
    "synthetic",
    "sinkmap_version",
    "output_version",
)


def account_document(account_csv: Path) -> dict[str, Any]:
    """The JSON form of ``account_csv`` as a Python object (see :func:`write_account_json`)."""
    table = pd.read_csv(account_csv, dtype={c: "string" for c in _TEXT}, keep_default_na=False)
    columns = list(table.columns)
    if columns != list(ACCOUNT_UNITS):
        raise OutputError(
            f"{account_csv} has columns {columns}, but the account table of output contract "
            f"{OUTPUT_VERSION} has {list(ACCOUNT_UNITS)}; re-run the account step "
            "(snakemake results/carbon_account.csv --force) with this sinkmap version"
        )
    records = [_record(row) for row in table.to_dict(orient="records")]
    versions = sorted({r["output_version"] for r in records})
    if versions and versions != [OUTPUT_VERSION]:
        raise OutputError(
            f"{account_csv} was written under output contract {versions}, this sinkmap writes "
            f"{OUTPUT_VERSION}; re-run the workflow so that table and JSON agree"
        )
    return {
        "output_version": OUTPUT_VERSION,
        "table": "carbon_account",
        "description": "Carbon stocks and net CO2e flux per year and land-cover class "
        "(one record per row of carbon_account.csv)",
        "sign_convention": SIGN_CONVENTION,
        "synthetic": any(r["synthetic"] == "yes" for r in records),
        "columns": columns,
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


def _record(row: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for column in ACCOUNT_UNITS:
        value = row[column]
        if column in _INTEGER:
            rec[column] = int(value)
        elif column in _JSON_TEXT:
            rec[column] = json.loads(value) if value else None
        elif column in _TEXT:
            rec[column] = str(value) if value != "" else None
        else:
            value = float(value) if value != "" else math.nan
            rec[column] = None if math.isnan(value) else value
    return rec
