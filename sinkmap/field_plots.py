"""Field plots for calibration: the plot table (tree lists or plot-level AGB) read and checked row
by row, and a predictor raster sampled at the plot centres.

Tree lists give plot AGB by Chave et al. (2014) Eq. 4 (a missing height by Eq. 6a from the
diameter and the environmental stress E; :mod:`sinkmap.allometry`); a tree list with a bad tree
excludes the whole plot. Rows that cannot be used are returned as :class:`BadRow` with their CSV
line numbers, never dropped silently. Used by :mod:`sinkmap.calibrate`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sinkmap.allometry import chave2014, chave2014_height, plot_agb_mg_ha, validate_trees
from sinkmap.errors import InputDataError, SourceError
from sinkmap.files import sha256_file
from sinkmap.progress import Progress


# -- bad rows ------------------------------------------------------------------------------------
def _lines_text(lines: Sequence[int]) -> str:
    """``line 7`` / ``lines 7-9, 12``."""
    lines = sorted(lines)
    runs: list[str] = []
    start = prev = lines[0]
    for n in [*lines[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(runs)


@dataclass(frozen=True)
class BadRow:
    """Rows of the plot table that do not go into the fit, and why. ``lines`` are CSV line numbers
    (the header is line 1)."""

    lines: tuple[int, ...]
    plot_id: str | None
    reason: str

    def __str__(self) -> str:
        plot = f" (plot {self.plot_id})" if self.plot_id else ""
        return f"{_lines_text(self.lines)}{plot}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"lines": list(self.lines), "plot_id": self.plot_id, "reason": self.reason}


# -- reading the plot table ----------------------------------------------------------------------
@dataclass(frozen=True)
class Plot:
    """One plot with its AGB, ready to be sampled."""

    plot_id: str
    lines: tuple[int, ...]
    x: float
    y: float
    crs: str
    agb_mg_ha: float
    plot_area_ha: float | None = None
    n_trees: int | None = None


@dataclass(frozen=True)
class PlotTable:
    """A read plot table: the usable plots and the rows that are not."""

    path: Path
    sha256: str
    kind: Literal["trees", "plots"]
    n_rows: int
    plots: list[Plot]
    bad_rows: list[BadRow]
    e: float | None = None


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[BadRow]]:
    """Header, ``(line, row)`` pairs with exact CSV line numbers, and malformed rows."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise InputDataError(f"plot table {path} is empty; see docs/calibration.md")
            columns = [c.strip().lower() for c in header]
            dup = sorted({c for c in columns if columns.count(c) > 1})
            if dup:
                raise InputDataError(f"plot table {path} repeats column(s) {dup}; keep one of each")
            rows: list[tuple[int, dict[str, str]]] = []
            bad: list[BadRow] = []
            end = reader.line_num
            for record in reader:
                line, end = end + 1, reader.line_num
                if not any(c.strip() for c in record):
                    continue  # blank line
                if len(record) != len(columns):
                    bad.append(
                        BadRow(
                            (line,),
                            None,
                            f"has {len(record)} fields but the header has {len(columns)}; "
                            "check for a stray or missing comma",
                        )
                    )
                    continue
                rows.append((line, dict(zip(columns, (c.strip() for c in record), strict=True))))
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"plot table {path} is not UTF-8 ({exc}); save it as UTF-8 CSV"
        ) from exc
    except csv.Error as exc:
        raise InputDataError(f"plot table {path} is not a readable CSV: {exc}") from exc
    return columns, rows, bad


def _number(cell: str | None, name: str) -> tuple[float | None, str]:
    """``(value, "")``, ``(None, "")`` for an empty cell, or ``(None, reason)``."""
    if cell is None or cell == "":
        return None, ""
    try:
        v = float(cell)
    except ValueError:
        return None, f"{name} is not a number ({cell!r})"
    if not math.isfinite(v):
        return None, f"{name} is not a finite number ({cell!r})"
    return v, ""


_CRS_CACHE: dict[str, str | None] = {}


def _crs_ok(crs: str) -> bool:
    if crs not in _CRS_CACHE:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            _CRS_CACHE[crs] = CRS.from_user_input(crs).to_string()
        except CRSError:
            _CRS_CACHE[crs] = None
    return _CRS_CACHE[crs] is not None


def _pair(a: str, b: str, name_a: str, name_b: str) -> tuple[float | None, float | None, list[str]]:
    """Two numbers of a row, and the reasons either is missing or not a number."""
    (va, ra), (vb, rb) = _number(a, name_a), _number(b, name_b)
    reasons = [r for r in (ra, rb) if r]
    reasons += [
        f"{n} is missing" for v, r, n in ((va, ra, name_a), (vb, rb, name_b)) if v is None and not r
    ]
    return va, vb, reasons


def _coordinates(
    row: dict[str, str], default_crs: str | None
) -> tuple[tuple[float, float, str] | None, list[str]]:
    """A row's plot centre as ``(x, y, crs)``, or the reasons it has none."""
    lon, lat = row.get("lon", ""), row.get("lat", "")
    if lon or lat:
        vx, vy, reasons = _pair(lon, lat, "lon", "lat")
        if reasons:
            return None, reasons
        assert vx is not None and vy is not None
        if not -90 <= vy <= 90:
            return None, [f"lat {vy:g} is outside [-90, 90]; are lon and lat swapped?"]
        if not -180 <= vx <= 360:
            return None, [f"lon {vx:g} is outside [-180, 360]"]
        return (vx, vy, "EPSG:4326"), []
    x, y = row.get("x", ""), row.get("y", "")
    if not (x or y):
        return None, ["no coordinates: give lon and lat (WGS84 degrees), or x, y and crs"]
    vx, vy, reasons = _pair(x, y, "x", "y")
    crs = row.get("crs", "") or default_crs
    if not crs:
        reasons.append("x, y given without a crs; add a crs column (e.g. EPSG:32649) or --crs")
    elif not _crs_ok(crs):
        reasons.append(f"crs {crs!r} is not a CRS pyproj knows (e.g. 'EPSG:32649')")
    if reasons:
        return None, reasons
    assert vx is not None and vy is not None and crs
    return (vx, vy, crs), []


def _require(path: Path, columns: list[str], needed: Sequence[str], kind: str) -> None:
    missing = [c for c in needed if c not in columns]
    has_coords = {"lon", "lat"} <= set(columns) or {"x", "y"} <= set(columns)
    if not has_coords:
        missing.append("lon,lat (or x,y,crs)")
    if missing:
        raise InputDataError(
            f"plot table {path} ({kind}) lacks column(s) {missing}; see docs/calibration.md "
            "for the two accepted layouts"
        )


def read_plots(path: str | Path, *, e: float | None = None, crs: str | None = None) -> PlotTable:
    """Read a plot table and compute each plot's AGB (Mg/ha); report every unusable row.

    ``e`` is the environmental stress E of Chave et al. (2014) for trees without height (an ``e``
    column overrides it row by row); ``crs`` is the CRS of ``x, y`` when there is no ``crs``
    column.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"plot table {path} does not exist; give the CSV of your field plots")
    columns, rows, bad = _read_csv(path)
    n_rows = len(rows) + len(bad)  # bad holds only the malformed rows here
    kind: Literal["trees", "plots"]
    if "dbh_cm" in columns:
        kind = "trees"
        _require(path, columns, ["plot_id", "dbh_cm", "wood_density", "plot_area_ha"], "tree list")
        plots = _tree_plots(rows, columns, bad, e=e, crs=crs)
    elif "agb_mg_ha" in columns:
        kind = "plots"
        _require(path, columns, ["plot_id", "agb_mg_ha"], "plot AGB")
        plots = _agb_plots(rows, bad, crs=crs)
    else:
        raise InputDataError(
            f"plot table {path} has neither a dbh_cm column (tree lists) nor an agb_mg_ha column "
            f"(plot AGB); its columns are {columns}. See docs/calibration.md"
        )
    return PlotTable(path, sha256_file(path), kind, n_rows, plots, sorted_bad_rows(bad), e)


def sorted_bad_rows(bad: list[BadRow]) -> list[BadRow]:
    return sorted(bad, key=lambda b: (min(b.lines), b.reason))


def _plot_values(
    rows: list[tuple[int, dict[str, str]]], crs: str | None
) -> tuple[list[tuple[float, float, str] | None], list[float | None], list[list[str]]]:
    """Per row: coordinates, plot area and reasons (plot id, coordinates, area)."""
    coords, areas, reasons = [], [], []
    for _, row in rows:
        r: list[str] = []
        if not row.get("plot_id"):
            r.append("plot_id is missing")
        c, rc = _coordinates(row, crs)
        r += rc
        area, ra = _number(row.get("plot_area_ha"), "plot_area_ha")
        if ra:
            r.append(ra)
        elif area is not None and area <= 0:
            r.append(f"plot_area_ha must be > 0 ha (got {area:g})")
            area = None
        coords.append(c)
        areas.append(area)
        reasons.append(r)
    return coords, areas, reasons


def _group(rows: list[tuple[int, dict[str, str]]]) -> dict[str, list[int]]:
    """Row indices by plot id, in order of first appearance (rows without an id left out)."""
    groups: dict[str, list[int]] = {}
    for i, (_, row) in enumerate(rows):
        if row.get("plot_id"):
            groups.setdefault(row["plot_id"], []).append(i)
    return groups


def _consistent(
    pid: str,
    idx: list[int],
    rows: list[tuple[int, dict[str, str]]],
    coords: list[Any],
    areas: list[Any],
) -> str:
    """ "" if all rows of a plot agree on its centre and area, else why not."""
    for name, values in (("coordinates", coords), ("plot_area_ha", areas)):
        first = values[idx[0]]
        differ = [i for i in idx if values[i] != first]
        if differ:
            shown = [f"{values[i]!s} on line {rows[i][0]}" for i in (idx[0], *differ[:3])]
            return (
                f"{name} differ between the rows of plot {pid} ({', '.join(shown)}); "
                "give one value per plot"
            )
    return ""


def _tree_plots(
    rows: list[tuple[int, dict[str, str]]],
    columns: list[str],
    bad: list[BadRow],
    *,
    e: float | None,
    crs: str | None,
) -> list[Plot]:
    n = len(rows)
    coords, areas, reasons = _plot_values(rows, crs)

    def col(name: str) -> Any:
        return [row.get(name) for _, row in rows] if name in columns else None

    check = validate_trees(col("dbh_cm"), col("height_m"), col("wood_density"))
    dbh = np.full(n, np.nan)
    height = np.full(n, np.nan)
    rho = np.full(n, np.nan)
    e_row = np.full(n, np.nan if e is None else float(e))
    for i, (_, row) in enumerate(rows):
        if check.reasons[i]:
            reasons[i].append(check.reasons[i])
        else:
            dbh[i] = float(row["dbh_cm"])
            rho[i] = float(row["wood_density"])
            if row.get("height_m"):
                height[i] = float(row["height_m"])
        if areas[i] is None and not any(r.startswith("plot_area_ha") for r in reasons[i]):
            reasons[i].append("plot_area_ha is missing")
        if not check.reasons[i] and np.isnan(height[i]):
            ev, re_ = _number(row.get("e"), "e")
            if re_:
                reasons[i].append(re_)
            elif ev is not None:
                e_row[i] = ev
            elif e is None:
                reasons[i].append(
                    "height_m is missing and no E is given for Chave Eq. 6a; measure the height, "
                    "add an e column, or pass e (--e)"
                )
    row_bad = [bool(r) for r in reasons]
    for i, r in enumerate(reasons):
        if r:
            bad.append(BadRow((rows[i][0],), rows[i][1].get("plot_id") or None, "; ".join(r)))
    plots: list[Plot] = []
    for pid, idx in _group(rows).items():
        good = [i for i in idx if not row_bad[i]]
        if len(good) < len(idx):
            if good:
                bad_lines = [rows[i][0] for i in idx if row_bad[i]]
                bad.append(
                    BadRow(
                        tuple(rows[i][0] for i in good),
                        pid,
                        f"plot excluded: its tree(s) on {_lines_text(bad_lines)} are bad, and "
                        "leaving them out would understate the plot's AGB; fix or remove them",
                    )
                )
            continue
        why = _consistent(pid, idx, rows, coords, areas)
        if why:
            bad.append(BadRow(tuple(rows[i][0] for i in idx), pid, why))
            continue
        sel = np.array(idx)
        h = np.where(np.isnan(height[sel]), chave2014_height(dbh[sel], e_row[sel]), height[sel])
        tree_agb = chave2014(dbh[sel], h, rho[sel])
        area = float(areas[idx[0]])  # type: ignore[arg-type]
        x, y, c = coords[idx[0]]  # type: ignore[misc]
        plots.append(
            Plot(
                pid,
                tuple(rows[i][0] for i in idx),
                x,
                y,
                c,
                float(plot_agb_mg_ha(tree_agb, area)),
                area,
                len(idx),
            )
        )
    return plots


def _agb_plots(
    rows: list[tuple[int, dict[str, str]]], bad: list[BadRow], *, crs: str | None
) -> list[Plot]:
    coords, areas, reasons = _plot_values(rows, crs)
    agb: list[float | None] = []
    for i, (_, row) in enumerate(rows):
        v, r = _number(row.get("agb_mg_ha"), "agb_mg_ha")
        if r:
            reasons[i].append(r)
        elif v is None:
            reasons[i].append("agb_mg_ha is missing")
        elif v < 0:
            reasons[i].append(f"agb_mg_ha must be >= 0 Mg/ha (got {v:g})")
            v = None
        agb.append(v)
    groups = _group(rows)
    for pid, idx in groups.items():
        if len(idx) > 1:
            lines = [rows[i][0] for i in idx]
            for i in idx:
                reasons[i].append(
                    f"plot_id {pid} occurs on {_lines_text(lines)}; give each plot one row"
                )
    plots = []
    for i, (line, row) in enumerate(rows):
        if reasons[i]:
            bad.append(BadRow((line,), row.get("plot_id") or None, "; ".join(reasons[i])))
            continue
        x, y, c = coords[i]  # type: ignore[misc]
        plots.append(Plot(row["plot_id"], (line,), x, y, c, float(agb[i]), areas[i]))  # type: ignore[arg-type]
    return plots


# -- sampling the predictor ----------------------------------------------------------------------
@dataclass(frozen=True)
class RasterInfo:
    path: str
    crs: str
    resolution: tuple[float, float]
    nodata: float | None


def sample_raster(
    path: str | Path, xs: Sequence[float], ys: Sequence[float], crss: Sequence[str]
) -> tuple[np.ndarray, list[str], RasterInfo]:
    """Value of band 1 at each point (reprojected to the raster's CRS); NaN and a reason where the
    point is outside the raster or the pixel has no data."""
    import rasterio
    from pyproj import Transformer
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    path = Path(path)
    if not path.exists():
        raise SourceError(f"predictor raster {path} does not exist; give --predictor a GeoTIFF")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise SourceError(
            f"predictor raster {path} cannot be read ({exc}); give a GeoTIFF"
        ) from exc
    with src:
        if src.crs is None:
            raise InputDataError(
                f"predictor raster {path} has no CRS; set one (gdal_edit.py -a_srs EPSG:32649 {path})"
            )
        n = len(xs)
        rx, ry = np.full(n, np.nan), np.full(n, np.nan)
        for crs in sorted(set(crss)):
            sel = np.array([c == crs for c in crss])
            t = Transformer.from_crs(crs, src.crs, always_xy=True)
            rx[sel], ry[sel] = t.transform(np.asarray(xs)[sel], np.asarray(ys)[sel])
        values = np.full(n, np.nan)
        reasons = [""] * n
        inverse = ~src.transform
        progress = Progress(f"sampling {Path(path).name} at the plots", n, "plots")
        for i in range(n):
            progress.update(1)
            if not (np.isfinite(rx[i]) and np.isfinite(ry[i])):
                reasons[i] = "the coordinates cannot be transformed to the raster's CRS"
                continue
            col = math.floor(inverse.a * rx[i] + inverse.b * ry[i] + inverse.c)
            row = math.floor(inverse.d * rx[i] + inverse.e * ry[i] + inverse.f)
            if not (0 <= row < src.height and 0 <= col < src.width):
                reasons[i] = (
                    f"the plot centre is outside the predictor raster ({rx[i]:.1f}, {ry[i]:.1f} "
                    f"in {src.crs.to_string()}); check the coordinates and their CRS"
                )
                continue
            cell = src.read(1, window=Window(col, row, 1, 1), masked=True)
            v = float(cell.filled(np.nan)[0, 0]) if not np.ma.getmaskarray(cell)[0, 0] else np.nan
            if not np.isfinite(v):
                reasons[i] = (
                    f"the predictor raster has no data at the plot centre (row {row}, col {col})"
                )
                continue
            values[i] = v
        progress.close()
        info = RasterInfo(
            str(path), src.crs.to_string(), tuple(abs(r) for r in src.res), src.nodata
        )
    return values, reasons, info


def outside_aoi(
    aoi: Any, xs: Sequence[float], ys: Sequence[float], crss: Sequence[str]
) -> np.ndarray:
    import shapely
    from pyproj import Transformer

    out = np.zeros(len(xs), dtype=bool)
    for crs in sorted(set(crss)):
        sel = np.array([c == crs for c in crss])
        t = Transformer.from_crs(crs, aoi.crs, always_xy=True)
        ax, ay = t.transform(np.asarray(xs)[sel], np.asarray(ys)[sel])
        out[sel] = ~shapely.intersects_xy(aoi.geometry, ax, ay)
    return out
