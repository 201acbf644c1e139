"""Calibrate a pixel model's coefficients against field plots (``sinkmap calibrate``).

1. Read the plot table (CSV): tree lists (``plot_id, dbh_cm, [height_m], wood_density,
   plot_area_ha`` and coordinates) or plot-level biomass (``plot_id, agb_mg_ha`` and
   coordinates). Coordinates are ``lon, lat`` (WGS84 degrees) or ``x, y`` with a ``crs``.
2. Tree lists: tree AGB by Chave et al. (2014) Eq. 4; a missing height is estimated by Eq. 6a
   from the diameter and the environmental stress E (an ``e`` column or the ``e`` argument);
   plot AGB = Σ tree AGB / area (:mod:`sinkmap.allometry`).
3. Sample the predictor raster (canopy height, or an index) at each plot centre, in any CRS.
4. Fit the model's form: ln AGB = ln a + b ln H for ``height_allometry`` (ordinary least squares
   on the logs), back-transformed with the Baskerville (1972) correction a = exp(ln a)·exp(σ²/2).
5. k-fold cross-validation (seeded folds): RMSE, bias and R² of AGB (Mg/ha) on held-out plots.
6. Write a YAML parameter file for ``model.params.coefficients_file`` with the fit, the CV
   metrics and provenance (the plot file's sha256, counts, every bad row; no date).

Rows that cannot be used — a missing or impossible diameter, height or wood density, coordinates
outside the raster or the AOI, no predictor data at the plot — are reported with their CSV line
numbers (in the result, the log and the parameter file), never silently dropped. A tree list
with a bad tree excludes the whole plot (dropping the tree would understate the plot's AGB).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from sinkmap import __version__
from sinkmap.allometry import chave2014, chave2014_height, plot_agb_mg_ha, validate_trees
from sinkmap.errors import InputDataError, SourceError
from sinkmap.files import atomic_path, sha256_file

log = logging.getLogger("sinkmap.calibrate")

#: Fewest usable plots a fit accepts (two coefficients and a residual variance).
MIN_PLOTS = 3
#: The forms each model can be calibrated in; the first is the default.
FORMS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "height_allometry": ("power",),
    "spectral": ("exponential", "power", "linear"),
}
#: The fitted equation of each form (V the predictor).
EQUATIONS: dict[str, str] = {
    "power": "AGB = a * V^b",
    "exponential": "AGB = a * exp(b * V)",
    "linear": "AGB = max(0, a + b * V)",
}
#: The regression actually solved for each form.
REGRESSIONS: dict[str, str] = {
    "power": "ordinary least squares of ln AGB on ln V",
    "exponential": "ordinary least squares of ln AGB on V",
    "linear": "ordinary least squares of AGB on V",
}
#: What the predictor is, by model (for messages and the parameter file).
PREDICTORS: dict[str, tuple[str, str]] = {
    "height_allometry": ("canopy height", "m"),
    "spectral": ("index", "dimensionless"),
}
_LOG_FORMS = ("power", "exponential")


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
    return PlotTable(path, sha256_file(path), kind, n_rows, plots, _sorted(bad), e)


def _sorted(bad: list[BadRow]) -> list[BadRow]:
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
        for i in range(n):
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
        info = RasterInfo(
            str(path), src.crs.to_string(), tuple(abs(r) for r in src.res), src.nodata
        )
    return values, reasons, info


def _outside_aoi(
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


# -- the fit -------------------------------------------------------------------------------------
def _design(x: np.ndarray, form: str) -> np.ndarray:
    return np.log(x) if form == "power" else np.asarray(x, dtype=np.float64)


def _response(y: np.ndarray, form: str) -> np.ndarray:
    return np.log(y) if form in _LOG_FORMS else np.asarray(y, dtype=np.float64)


@dataclass(frozen=True)
class Fit:
    """A least-squares fit of one form. For the log forms, ``a`` is bias-corrected."""

    form: str
    n: int
    intercept: float  # ln a (log forms) or a (linear), as fitted
    b: float
    sigma: float  # residual standard error, on the regression's scale (ln AGB or Mg/ha)
    se_intercept: float
    se_b: float
    r2: float  # of the regression, on its own scale

    @property
    def bias_correction(self) -> float:
        """exp(σ²/2) for the log forms (Baskerville 1972), 1 for the linear form."""
        return math.exp(self.sigma**2 / 2.0) if self.form in _LOG_FORMS else 1.0

    @property
    def a_uncorrected(self) -> float:
        """exp(ln a): predicts the median AGB (log forms); a itself for the linear form."""
        return math.exp(self.intercept) if self.form in _LOG_FORMS else self.intercept

    @property
    def a(self) -> float:
        """a with the bias correction applied: predicts the mean AGB."""
        return self.a_uncorrected * self.bias_correction

    def predict(self, x: np.ndarray) -> np.ndarray:
        """AGB (Mg/ha) by the same equation the model uses."""
        from sinkmap.models.spectral import spectral_agb

        return spectral_agb(np.asarray(x, dtype=np.float64), self.a, self.b, self.form)

    def predict_fit_scale(self, x: np.ndarray) -> np.ndarray:
        """The regression's prediction on its own scale (ln AGB for log forms, uncorrected)."""
        return self.intercept + self.b * _design(x, self.form)


def fit_form(x: np.ndarray, y: np.ndarray, form: str) -> Fit:
    """Least-squares fit of ``form`` to predictor ``x`` and AGB ``y`` (Mg/ha)."""
    if form not in EQUATIONS:
        raise InputDataError(f"unknown form {form!r}; use one of {sorted(EQUATIONS)}")
    X, Y = _design(np.asarray(x, float), form), _response(np.asarray(y, float), form)
    n = X.size
    if n < 2:
        raise InputDataError(f"a fit needs at least 2 plots, got {n}")
    xm, ym = X.mean(), Y.mean()
    sxx = float(np.sum((X - xm) ** 2))
    if sxx <= 0:
        raise InputDataError(
            f"all {n} plots have the same predictor value ({float(x[0]):g}), so b cannot be "
            "fitted; add plots spanning a range of the predictor"
        )
    b = float(np.sum((X - xm) * (Y - ym)) / sxx)
    c = float(ym - b * xm)
    resid = Y - (c + b * X)
    ssr = float(np.sum(resid**2))
    sst = float(np.sum((Y - ym) ** 2))
    s2 = ssr / (n - 2) if n > 2 else 0.0
    return Fit(
        form=form,
        n=n,
        intercept=c,
        b=b,
        sigma=math.sqrt(s2),
        se_intercept=math.sqrt(s2 * (1.0 / n + xm**2 / sxx)),
        se_b=math.sqrt(s2 / sxx),
        r2=1.0 - ssr / sst if sst > 0 else float("nan"),
    )


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold predictions and their errors (AGB in Mg/ha)."""

    k: int
    seed: int
    fold: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    rmse: float
    bias: float  # mean(predicted - observed)
    r2: float  # 1 - SS_res / SS_tot of the held-out predictions
    rmse_fit_scale: float  # RMSE of ln AGB (log forms, uncorrected) or of AGB (linear)

    @property
    def relative_rmse(self) -> float:
        """RMSE as a fraction of the mean observed AGB."""
        return self.rmse / float(np.mean(self.observed))


def folds(n: int, k: int, seed: int) -> np.ndarray:
    """Fold number (0 … k-1) of each of ``n`` plots: a seeded random permutation split in k."""
    fold = np.empty(n, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    for i, part in enumerate(np.array_split(perm, k)):
        fold[part] = i
    return fold


def cross_validate(
    x: np.ndarray, y: np.ndarray, form: str, *, k: int, seed: int
) -> CrossValidation:
    """k-fold cross-validation of :func:`fit_form` (k is capped at n: leave-one-out)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if k < 2:
        raise InputDataError(f"k-fold cross-validation needs k >= 2, got {k}; use --k 5")
    if k > n:
        log.warning("k=%d exceeds the %d usable plots; using leave-one-out (k=%d)", k, n, n)
        k = n
    fold = folds(n, k, seed)
    smallest_train = n - int(np.bincount(fold).max())
    if smallest_train < 2:
        raise InputDataError(
            f"with {n} plots and k={k}, a fold leaves only {smallest_train} plot to fit; "
            f"use --k {n} (leave-one-out) or add plots"
        )
    pred = np.full(n, np.nan)
    pred_fit = np.full(n, np.nan)
    for i in range(k):
        test = fold == i
        try:
            f = fit_form(x[~test], y[~test], form)
        except InputDataError as exc:
            raise InputDataError(
                f"cross-validation fold {i + 1} of {k} cannot be fitted: {exc}; try another --seed"
            ) from exc
        pred[test] = f.predict(x[test])
        pred_fit[test] = f.predict_fit_scale(x[test])
    err = pred - y
    sst = float(np.sum((y - y.mean()) ** 2))
    return CrossValidation(
        k=k,
        seed=seed,
        fold=fold,
        predicted=pred,
        observed=y,
        rmse=float(np.sqrt(np.mean(err**2))),
        bias=float(np.mean(err)),
        r2=1.0 - float(np.sum(err**2)) / sst if sst > 0 else float("nan"),
        rmse_fit_scale=float(np.sqrt(np.mean((pred_fit - _response(y, form)) ** 2))),
    )


# -- the whole calibration -----------------------------------------------------------------------
def _r(v: float, digits: int = 6) -> float:
    """A float for the parameter file: 6 significant digits, plain Python float."""
    return float(f"{v:.{digits}g}")


@dataclass(frozen=True)
class CalibrationResult:
    """Fit, cross-validation, the plots used and the rows not used, with provenance."""

    model: str
    form: str
    fit: Fit
    cv: CrossValidation
    plots: pd.DataFrame
    bad_rows: list[BadRow]
    table: PlotTable
    raster: RasterInfo
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def a(self) -> float:
        return self.fit.a

    @property
    def b(self) -> float:
        return self.fit.b

    @property
    def bad_lines(self) -> list[int]:
        """Every CSV line that did not go into the fit."""
        return sorted({n for r in self.bad_rows for n in r.lines})

    def _named(self, text: str) -> str:
        """``text`` with the predictor V named H for the height model."""
        return text.replace(" V", " H") if self.model == "height_allometry" else text

    def parameters(self) -> dict[str, Any]:
        """The parameter file's content (``model.params.coefficients_file``)."""
        f, cv = self.fit, self.cv
        what, unit = PREDICTORS[self.model]
        log_form = self.form in _LOG_FORMS
        return {
            "model": self.model,
            "form": self.form,
            "equation": self._named(EQUATIONS[self.form]),
            "a": _r(f.a),
            "b": _r(f.b),
            "units": {"agb": "Mg dry matter/ha", "predictor": f"{what} ({unit})"},
            "fit": {
                "method": self._named(REGRESSIONS[self.form]),
                "n_plots": f.n,
                "intercept": _r(f.intercept),
                "intercept_means": "ln a (before bias correction)" if log_form else "a",
                "se_intercept": _r(f.se_intercept),
                "se_b": _r(f.se_b),
                "residual_se": _r(f.sigma),
                "residual_se_scale": "ln AGB" if log_form else "Mg/ha",
                "r2": _r(f.r2),
                "a_uncorrected": _r(f.a_uncorrected),
                "bias_correction": {
                    "method": "Baskerville (1972): a = exp(ln a) * exp(residual_se^2 / 2)"
                    if log_form
                    else "none (linear fit on the AGB scale)",
                    "factor": _r(f.bias_correction),
                    "applied_to_a": log_form,
                },
            },
            "cross_validation": {
                "k": cv.k,
                "seed": cv.seed,
                "rmse_mg_ha": _r(cv.rmse),
                "relative_rmse": _r(cv.relative_rmse),
                "bias_mg_ha": _r(cv.bias),
                "bias_means": "mean(predicted - observed) on held-out plots",
                "r2": _r(cv.r2),
                ("rmse_ln" if log_form else "rmse_fit_scale"): _r(cv.rmse_fit_scale),
            },
            "provenance": {
                "plots_file": str(self.table.path),
                "plots_sha256": self.table.sha256,
                "plots_format": self.table.kind,
                "data_rows": self.table.n_rows,
                "plots_used": f.n,
                "bad_rows": [r.to_dict() for r in self.bad_rows],
                "plot_agb": (
                    "Chave et al. 2014 Eq. 4 per tree; missing heights from Eq. 6a "
                    "(bias-corrected); sum / plot_area_ha"
                    if self.table.kind == "trees"
                    else "agb_mg_ha column"
                ),
                **({"e": self.table.e} if self.table.e is not None else {}),
                "predictor_file": self.raster.path,
                "predictor_crs": self.raster.crs,
                "predictor_resolution": list(self.raster.resolution),
                "sampling": "value of the pixel containing the plot centre (band 1)",
                **self.extra,
                "sinkmap_version": __version__,
            },
        }

    def write(self, path: str | Path) -> Path:
        """Write the parameter file (YAML), atomically."""

        path = Path(path)
        text = (
            f"# Coefficients of the {self.model!r} model fitted by `sinkmap calibrate`.\n"
            f"# Use them with model: {{name: {self.model}, params: {{coefficients_file: {path}, ...}}}}\n"
            + yaml.safe_dump(self.parameters(), sort_keys=False, allow_unicode=True)
        )
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    def summary(self) -> dict[str, Any]:
        """The JSON summary printed by the command."""
        p = self.parameters()
        return {
            "model": self.model,
            "form": self.form,
            "equation": p["equation"],
            "a": p["a"],
            "b": p["b"],
            "n_plots": self.fit.n,
            "bias_correction": p["fit"]["bias_correction"],
            "cross_validation": p["cross_validation"],
            "bad_rows": [str(r) for r in self.bad_rows],
        }


def calibrate(
    plots: str | Path | PlotTable,
    predictor: str | Path,
    *,
    model: str = "height_allometry",
    k: int = 5,
    seed: int = 0,
    form: str | None = None,
    e: float | None = None,
    crs: str | None = None,
    aoi: Any = None,
    out: str | Path | None = None,
) -> CalibrationResult:
    """Fit ``model``'s coefficients to field plots and cross-validate them.

    Parameters
    ----------
    plots : path or PlotTable
        The plot table (see :func:`read_plots` and docs/calibration.md).
    predictor : path
        Raster of the model's predictor (canopy height in m, or the index), any CRS.
    model : str
        ``height_allometry`` (form ``power``) or ``spectral`` (``exponential``, ``power`` or
        ``linear``; default exponential).
    k, seed : int
        Folds and seed of the cross-validation.
    e : float, optional
        Chave et al. (2014) E for trees without height (an ``e`` column overrides it).
    crs : str, optional
        CRS of ``x, y`` coordinates when the table has no ``crs`` column.
    aoi : path or :class:`sinkmap.aoi.AOI`, optional
        Plots outside it are reported and not used.
    out : path, optional
        Write the parameter file there.

    Raises
    ------
    InputDataError
        Fewer than 3 usable plots (the message lists the bad rows), or a fit that cannot be made.
    """
    if model not in FORMS_BY_MODEL:
        raise InputDataError(
            f"calibration of model {model!r} is not supported; use one of {sorted(FORMS_BY_MODEL)}"
        )
    form = form or FORMS_BY_MODEL[model][0]
    if form not in FORMS_BY_MODEL[model]:
        raise InputDataError(
            f"model {model!r} has no form {form!r}; use one of {list(FORMS_BY_MODEL[model])}"
        )
    table = plots if isinstance(plots, PlotTable) else read_plots(plots, e=e, crs=crs)
    bad = list(table.bad_rows)
    ps = table.plots
    xs, ys, crss = [p.x for p in ps], [p.y for p in ps], [p.crs for p in ps]
    values, reasons, info = sample_raster(predictor, xs, ys, crss)
    extra: dict[str, Any] = {}
    if aoi is not None and ps:
        from sinkmap.aoi import AOI, read_aoi

        aoi_obj = aoi if isinstance(aoi, AOI) else read_aoi(aoi)
        extra["aoi"] = str(aoi) if not isinstance(aoi, AOI) else aoi.name
        outside = _outside_aoi(aoi_obj, xs, ys, crss)
        for j in np.flatnonzero(outside):
            reasons[j] = reasons[j] or "the plot centre is outside the AOI; check its coordinates"
    what, unit = PREDICTORS[model]
    for i, p in enumerate(ps):
        if reasons[i]:
            continue
        v = values[i]
        if form == "power" and v <= 0:
            reasons[i] = (
                f"{what} {v:g} {unit} at the plot centre: a power law cannot be fitted to values "
                "<= 0 (the model gives AGB 0 there); check the coordinates or the raster's date"
            )
        elif model == "spectral" and abs(v) > 1:
            reasons[i] = (
                f"index {v:g} at the plot centre is outside [-1, 1]; rescale the raster to "
                "index units (e.g. NDVI x 10000 -> multiply by 0.0001)"
            )
        elif form in _LOG_FORMS and p.agb_mg_ha <= 0:
            reasons[i] = (
                f"AGB {p.agb_mg_ha:g} Mg/ha cannot enter a fit on ln AGB; use the linear form "
                "or leave the plot out deliberately"
            )
    for i, p in enumerate(ps):
        if reasons[i]:
            bad.append(BadRow(p.lines, p.plot_id, reasons[i]))
    bad = _sorted(bad)
    for r in bad:
        log.warning("%s: %s", table.path, r)
    good = [i for i in range(len(ps)) if not reasons[i]]
    if len(good) < MIN_PLOTS:
        listed = "\n".join(f"  - {r}" for r in bad[:20])
        more = f"\n  … and {len(bad) - 20} more (see the log)" if len(bad) > 20 else ""
        raise InputDataError(
            f"only {len(good)} usable plot(s) in {table.path} (at least {MIN_PLOTS} are needed to "
            f"fit a and b and estimate the residual error); fix the rows below and run again"
            + (f":\n{listed}{more}" if bad else "")
        )
    x = values[good]
    y = np.array([ps[i].agb_mg_ha for i in good])
    f = fit_form(x, y, form)
    cv = cross_validate(x, y, form, k=k, seed=seed)
    frame = pd.DataFrame(
        {
            "plot_id": [ps[i].plot_id for i in good],
            "lines": [ps[i].lines for i in good],
            "x": [ps[i].x for i in good],
            "y": [ps[i].y for i in good],
            "crs": [ps[i].crs for i in good],
            "predictor": x,
            "agb_mg_ha": y,
            "fitted_mg_ha": f.predict(x),
            "cv_fold": cv.fold,
            "cv_predicted_mg_ha": cv.predicted,
        }
    )
    result = CalibrationResult(model, form, f, cv, frame, bad, table, info, extra)
    log.info(
        "calibrated %s (%s) on %d plots: a=%.6g (bias-corrected by %.4f), b=%.6g; "
        "%d-fold CV RMSE %.3g Mg/ha, bias %.3g, R2 %.3f; %d bad row record(s)",
        model,
        form,
        f.n,
        f.a,
        f.bias_correction,
        f.b,
        cv.k,
        cv.rmse,
        cv.bias,
        cv.r2,
        len(bad),
    )
    if out is not None:
        result.write(out)
    return result


# -- command line --------------------------------------------------------------------------------


__all__ = [
    "BadRow",
    "CalibrationResult",
    "CrossValidation",
    "Fit",
    "Plot",
    "PlotTable",
    "calibrate",
    "cross_validate",
    "fit_form",
    "folds",
    "read_plots",
    "sample_raster",
]
