"""Class crosswalks: a product's land-cover codes mapped onto the run's legend, as data.

A crosswalk is a CSV file in ``config/crosswalks/`` (see the README there), one row per source code::

    source_code,source_name,target_code,target_name,ipcc_category,note
    11,Rangeland,30,Grassland,Grassland,"IO rangeland mixes grass and shrub; both are IPCC Grassland"

``target_code`` is a class of the run's legend (ESA WorldCover, :data:`TARGET_LEGEND`) or 0 (nodata);
``ipcc_category`` is one of the six IPCC 2006 land categories and must be the target class's category
in that legend (empty for rows mapped to nodata). Code 0 (the products' nodata) maps to 0 unless a row
says otherwise. A dataset names its crosswalk in the registry (``crosswalk:``); the align step applies
it chunk by chunk after resampling, so mode resampling still chooses among the product's own classes.

Example::

    >>> xw = Crosswalk.from_csv("config/crosswalks/io_lulc.csv")
    >>> xw.apply(np.array([[1, 2], [5, 11]], dtype="uint8")).tolist()
    [[80, 10], [40, 30]]
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sinkmap.errors import ConfigError, InputDataError, UnmappedClassError
from sinkmap.legends import IPCC_CATEGORIES, LEGENDS

if TYPE_CHECKING:
    from sinkmap.sources import Dataset

#: The legend every crosswalk maps onto: the run's land-cover legend.
TARGET_LEGEND = "worldcover"
REQUIRED_COLUMNS = ("source_code", "target_code", "ipcc_category")
COLUMNS = ("source_code", "source_name", "target_code", "target_name", "ipcc_category", "note")
NODATA = 0


@dataclass(frozen=True)
class CrosswalkRow:
    """One source code and the class it becomes."""

    source_code: int
    source_name: str
    target_code: int
    target_name: str
    ipcc_category: str  # "" for rows mapped to nodata
    note: str
    line: int  # line of the CSV file, for messages


@dataclass(frozen=True)
class Crosswalk:
    """A validated mapping of a product's codes (0–255) onto the run's legend."""

    path: str
    rows: tuple[CrosswalkRow, ...]
    target_legend: str = TARGET_LEGEND
    _lut: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lut = np.full(256, -1, dtype=np.int16)
        lut[NODATA] = NODATA
        for row in self.rows:
            lut[row.source_code] = row.target_code
        lut.flags.writeable = False
        object.__setattr__(self, "_lut", lut)

    @classmethod
    def from_csv(cls, path: str | Path, target_legend: str = TARGET_LEGEND) -> Crosswalk:
        """Read and validate a crosswalk CSV onto ``target_legend`` (the land-cover legend by
        default; ``forest_type`` for the plantation role); every problem is a ConfigError naming
        file, line, fix."""
        if target_legend not in LEGENDS:
            raise ConfigError(
                f"crosswalk {path}: unknown target legend {target_legend!r}; use one of "
                f"{sorted(LEGENDS)} (crosswalk_legend in the dataset registry)"
            )
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"crosswalk {path} does not exist; fix `crosswalk:` of the dataset in the dataset "
                "registry (paths are relative to the working folder) or create the file "
                "(see config/crosswalks/README.md)"
            )
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                lines = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ConfigError(
                f"crosswalk {path} cannot be read ({exc}); save it as a UTF-8 CSV"
            ) from exc
        if not lines:
            raise ConfigError(f"crosswalk {path} is empty; add the header {','.join(COLUMNS)}")
        header = [h.strip() for h in lines[0]]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ConfigError(
                f"crosswalk {path}, line 1: column(s) {missing} missing from the header {header}; "
                f"the header should be {','.join(COLUMNS)}"
            )
        target = {c.code: c for c in LEGENDS[target_legend]}
        rows: list[CrosswalkRow] = []
        seen: dict[int, int] = {}
        for number, values in enumerate(lines[1:], start=2):
            if not any(v.strip() for v in values) or values[0].lstrip().startswith("#"):
                continue
            if len(values) > len(header):
                raise ConfigError(
                    f"crosswalk {path}, line {number}: {len(values)} fields but the header has "
                    f"{len(header)}; quote fields that contain commas"
                )
            cell = {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}
            where = f"crosswalk {path}, line {number}"
            source = _code(cell["source_code"], "source_code", where)
            dest = _code(cell["target_code"], "target_code", where)
            if source in seen:
                raise ConfigError(
                    f"{where}: source_code {source} is already mapped on line {seen[source]}; "
                    "keep one row per source code"
                )
            seen[source] = number
            if dest != NODATA and dest not in target:
                raise ConfigError(
                    f"{where}: target_code {dest} is not a class of the {target_legend} legend "
                    f"{sorted(target)}; use one of them, or 0 for nodata"
                )
            category = _category(cell["ipcc_category"], where)
            if dest == NODATA:
                if category:
                    raise ConfigError(
                        f"{where}: rows mapped to 0 (nodata) have no IPCC category, got "
                        f"{category!r}; leave ipcc_category empty"
                    )
            elif category != target[dest].ipcc_category:
                raise ConfigError(
                    f"{where}: target_code {dest} ({target[dest].name}) is IPCC "
                    f"{target[dest].ipcc_category!r} in the {target_legend} legend, but the row "
                    f"says {category or '(empty)'!r}; write {target[dest].ipcc_category!r}, or map "
                    "the code to a class of the category you mean"
                )
            rows.append(
                CrosswalkRow(
                    source,
                    cell.get("source_name", ""),
                    dest,
                    cell.get("target_name", ""),
                    category,
                    cell.get("note", ""),
                    number,
                )
            )
        if not rows:
            raise ConfigError(
                f"crosswalk {path} has no rows; add one per class code of the product"
            )
        return cls(str(path), tuple(rows), target_legend)

    def mapping(self) -> dict[int, int]:
        """Source code -> target code (nodata 0 -> 0 included)."""
        return {int(c): int(t) for c, t in enumerate(self._lut) if t >= 0}

    def ipcc_categories(self) -> dict[int, str]:
        """Source code -> IPCC land category (codes mapped to nodata left out)."""
        return {r.source_code: r.ipcc_category for r in self.rows if r.target_code != NODATA}

    def apply(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` (any integer array) in the target legend, as uint8 with 0 as nodata.

        Raises :class:`~sinkmap.errors.UnmappedClassError` (an ``UnknownClassError``) listing every
        code that occurs but has no row, and naming this file.
        """
        arr = np.asarray(codes)
        if arr.dtype.kind not in "iub":
            raise InputDataError(
                f"crosswalk {self.path} maps integer class codes, but got an array of {arr.dtype}; "
                "the dataset's kind must be categorical"
            )
        if arr.dtype == np.uint8:
            out = self._lut[arr]
        else:
            inside = (arr >= 0) & (arr <= 255)
            out = np.full(arr.shape, -1, dtype=np.int16)
            out[inside] = self._lut[arr[inside].astype(np.intp)]
        bad = out < 0
        if bad.any():
            raise UnmappedClassError([int(c) for c in np.unique(arr[bad])], self.path)
        return out.astype(np.uint8)


def _code(raw: str, column: str, where: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{where}: {column} {raw!r} is not an integer class code; write a whole number 0–255"
        ) from None
    if not 0 <= value <= 255:
        raise ConfigError(f"{where}: {column} {value} is outside 0–255; class codes are uint8")
    return value


def _category(raw: str, where: str) -> str:
    if not raw:
        return ""
    for name in IPCC_CATEGORIES:
        if raw.lower() == name.lower():
            return name
    raise ConfigError(
        f"{where}: ipcc_category {raw!r} is not an IPCC land category; use one of "
        f"{list(IPCC_CATEGORIES)}"
    )


def resolve_crosswalk(dataset: Dataset, registry: str | Path) -> Path:
    """The file of ``dataset.crosswalk``.

    A relative path is looked up in the working folder, then next to the registry file and in its
    parent folder (so ``config/crosswalks/x.csv`` works from the project root or with the registry
    given by absolute path). Only categorical datasets can have one.
    """
    if not dataset.crosswalk:
        raise ConfigError(f"dataset {dataset.name} has no `crosswalk:`")
    if dataset.kind != "categorical":
        raise ConfigError(
            f"dataset {dataset.name} has a crosswalk but is {dataset.kind}; crosswalks map class "
            "codes: remove `crosswalk:` or set `kind: categorical` in the dataset registry"
        )
    raw = Path(dataset.crosswalk).expanduser()
    if raw.is_absolute():
        return raw
    folder = Path(registry).resolve().parent
    candidates = [Path.cwd() / raw, folder / raw, folder.parent / raw]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"crosswalk {dataset.crosswalk!r} of dataset {dataset.name} was not found; looked at "
        f"{[str(c) for c in candidates]}. Fix `crosswalk:` in the dataset registry or create the file "
        "(see config/crosswalks/README.md)"
    )
