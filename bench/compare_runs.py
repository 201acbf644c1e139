"""Compare two results folders file by file: the same bytes, or the same values.

    python bench/compare_runs.py BEFORE/results AFTER/results [--ignore-timestamps]

For every file in either folder it prints one line: ``same`` (identical sha256), ``same values``
(different bytes, equal content once the run's timestamps are set aside), ``values differ`` with
the largest relative difference of any number, or ``only in …``. Timestamps set aside: the
``computed_at`` column of the tables and the JSON/Parquet twins, the GeoPackage's own
``last_change`` and ``update_time`` fields, the STAC ``created``/``updated`` fields and the
checksums and sizes of STAC assets whose files differ only by those, and the report's "made at"
line and the temporary folder the report's config was copied from. Exit status 0 when nothing differs in value, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TIME_COLUMNS = {"computed_at", "update_time"}
TIME_KEYS = {"computed_at", "created", "updated", "file:checksum", "file:size"}
_TS = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?( UTC)?")
_TMP = re.compile(r"/tmp/tmp\w+/")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(a: float, b: float) -> float:
    if a == b or (np.isnan(a) and np.isnan(b)):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _frames(a: pd.DataFrame, b: pd.DataFrame) -> float | str:
    a = a.drop(columns=[c for c in a.columns if c in TIME_COLUMNS])
    b = b.drop(columns=[c for c in b.columns if c in TIME_COLUMNS])
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"layout differs: {list(a.columns)} x {len(a)} vs {list(b.columns)} x {len(b)}"
    worst = 0.0
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            same_nan = np.isnan(xv) == np.isnan(yv)
            if not same_nan.all():
                return f"column {col}: missing values differ"
            ok = ~np.isnan(xv)
            if ok.any():
                d = np.abs(xv[ok] - yv[ok]) / np.maximum(
                    np.maximum(np.abs(xv[ok]), np.abs(yv[ok])), 1e-300
                )
                worst = max(worst, float(d.max()))
        elif not x.astype(str).equals(y.astype(str)):
            return f"column {col}: text differs"
    return worst


def _json(a: Any, b: Any, where: str = "") -> float | str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - TIME_KEYS
        worst = 0.0
        for k in sorted(keys):
            if k not in a or k not in b:
                return f"{where}/{k}: only on one side"
            r = _json(a[k], b[k], f"{where}/{k}")
            if isinstance(r, str):
                return r
            worst = max(worst, r)
        return worst
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: lengths differ"
        worst = 0.0
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            r = _json(x, y, f"{where}[{i}]")
            if isinstance(r, str):
                return r
            worst = max(worst, r)
        return worst
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _rel(float(a), float(b))
    if isinstance(a, str) and isinstance(b, str) and _TS.fullmatch(a) and _TS.fullmatch(b):
        return 0.0
    return 0.0 if a == b else f"{where}: {a!r} != {b!r}"


def _gpkg(a: Path, b: Path) -> float | str:
    import pyogrio

    layers_a = [str(r[0]) for r in pyogrio.list_layers(a)]
    layers_b = [str(r[0]) for r in pyogrio.list_layers(b)]
    if layers_a != layers_b:
        return f"layers differ: {layers_a} vs {layers_b}"
    worst = 0.0
    for layer in layers_a:
        da = pyogrio.read_dataframe(a, layer=layer)
        db = pyogrio.read_dataframe(b, layer=layer)
        geoms = "geometry" in da.columns
        if geoms:
            if not da.geometry.geom_equals_exact(db.geometry, tolerance=0).all():
                return f"layer {layer}: geometries differ"
            da, db = (
                pd.DataFrame(da.drop(columns="geometry")),
                pd.DataFrame(db.drop(columns="geometry")),
            )
        r = _frames(da, db)
        if isinstance(r, str):
            return f"layer {layer}: {r}"
        worst = max(worst, r)
        ma = pyogrio.read_info(a, layer=layer).get("layer_metadata")
        mb = pyogrio.read_info(b, layer=layer).get("layer_metadata")
        if ma != mb:
            return f"layer {layer}: metadata differs"
    with sqlite3.connect(a) as ca, sqlite3.connect(b) as cb:
        q = "SELECT f_table_name, styleQML FROM layer_styles ORDER BY f_table_name"
        try:
            if ca.execute(q).fetchall() != cb.execute(q).fetchall():
                return "layer_styles differ"
        except sqlite3.OperationalError:
            pass
    return worst


def _tif(a: Path, b: Path) -> float | str:
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        if x.tags() != y.tags():
            return "tags differ"
        if (x.profile["dtype"], x.shape, x.transform, x.crs) != (
            y.profile["dtype"],
            y.shape,
            y.transform,
            y.crs,
        ):
            return "layout differs"
        u, v = x.read(1).astype("float64"), y.read(1).astype("float64")
    if not (np.isnan(u) == np.isnan(v)).all():
        return "nodata cells differ"
    ok = ~np.isnan(u)
    if not ok.any():
        return 0.0
    d = np.abs(u[ok] - v[ok]) / np.maximum(np.maximum(np.abs(u[ok]), np.abs(v[ok])), 1e-300)
    return float(d.max())


def compare(a: Path, b: Path) -> float | str:
    """Largest relative difference of the two files' values, or a sentence saying what differs."""
    suffix = a.suffix.lower()
    if suffix == ".csv":
        return _frames(pd.read_csv(a), pd.read_csv(b))
    if suffix == ".parquet":
        return _frames(pd.read_parquet(a), pd.read_parquet(b))
    if suffix == ".json":
        return _json(json.loads(a.read_text()), json.loads(b.read_text()))
    if suffix == ".gpkg":
        return _gpkg(a, b)
    if suffix == ".tif":
        return _tif(a, b)
    if suffix == ".html":
        ta = _TMP.sub("<tmp>/", _TS.sub("<time>", a.read_text(encoding="utf-8")))
        tb = _TMP.sub("<tmp>/", _TS.sub("<time>", b.read_text(encoding="utf-8")))
        return 0.0 if ta == tb else "text differs"
    return "bytes differ"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    files = sorted(
        {p.relative_to(args.before) for p in args.before.rglob("*") if p.is_file()}
        | {p.relative_to(args.after) for p in args.after.rglob("*") if p.is_file()}
    )
    counts = {"same": 0, "same values": 0, "values differ": 0, "only in one": 0}
    bad = False
    for rel in files:
        a, b = args.before / rel, args.after / rel
        if not a.exists() or not b.exists():
            print(f"only in {'after' if b.exists() else 'before'}: {rel}")
            counts["only in one"] += 1
            bad = True
            continue
        if sha256(a) == sha256(b):
            counts["same"] += 1
            continue
        r = compare(a, b)
        if r == 0.0:
            counts["same values"] += 1
            print(f"same values, other bytes: {rel}")
        else:
            counts["values differ"] += 1
            bad = True
            what = f"max relative difference {r:.3g}" if isinstance(r, float) else r
            print(f"values differ: {rel}: {what}")
    print(
        f"{len(files)} files: {counts['same']} byte-identical, {counts['same values']} with the "
        f"same values (timestamps aside), {counts['values differ']} differing, "
        f"{counts['only in one']} only on one side"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
