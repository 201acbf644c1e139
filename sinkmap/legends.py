"""Product legends: class names, official colours and IPCC land categories.

The ESA WorldCover legend and colours are those of the product specification (WorldCover PUM v2).
The IPCC land category of each class follows the six categories of IPCC 2006 Vol. 4 Ch. 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sinkmap.errors import InputDataError

#: The six IPCC land categories (2006 Vol. 4 Ch. 3), in reporting order (CRF 4.A … 4.F).
IPCC_CATEGORIES: tuple[str, ...] = (
    "Forest land",
    "Cropland",
    "Grassland",
    "Wetlands",
    "Settlements",
    "Other land",
)
#: Letter of each category in the reporting tables (4.A Forest land … 4.F Other land).
CRF_LETTER: dict[str, str] = dict(zip(IPCC_CATEGORIES, "ABCDEF", strict=True))


@dataclass(frozen=True)
class LegendClass:
    code: int
    name: str
    color: str  # hex RGB
    ipcc_category: str


WORLDCOVER: tuple[LegendClass, ...] = (
    LegendClass(10, "Tree cover", "#006400", "Forest land"),
    LegendClass(20, "Shrubland", "#ffbb22", "Grassland"),
    LegendClass(30, "Grassland", "#ffff4c", "Grassland"),
    LegendClass(40, "Cropland", "#f096ff", "Cropland"),
    LegendClass(50, "Built-up", "#fa0000", "Settlements"),
    LegendClass(60, "Bare / sparse vegetation", "#b4b4b4", "Other land"),
    LegendClass(70, "Snow and ice", "#f0f0f0", "Other land"),
    LegendClass(80, "Permanent water bodies", "#0064c8", "Wetlands"),
    LegendClass(90, "Herbaceous wetland", "#0096a0", "Wetlands"),
    LegendClass(95, "Mangroves", "#00cf75", "Forest land"),
    LegendClass(100, "Moss and lichen", "#fae6a0", "Other land"),
)

#: Impact Observatory / Esri annual land use and land cover (10 m, v02), with the producer's colours.
#: The IPCC category is that of the WorldCover class each code is mapped to in
#: ``config/crosswalks/io_lulc.csv``; clouds (10) are mapped to nodata and have none.
IO_LULC: tuple[LegendClass, ...] = (
    LegendClass(1, "Water", "#419bdf", "Wetlands"),
    LegendClass(2, "Trees", "#397d49", "Forest land"),
    LegendClass(4, "Flooded vegetation", "#7a87c6", "Wetlands"),
    LegendClass(5, "Crops", "#e49635", "Cropland"),
    LegendClass(7, "Built area", "#c4281b", "Settlements"),
    LegendClass(8, "Bare ground", "#a59b8f", "Other land"),
    LegendClass(9, "Snow/ice", "#a8ebff", "Other land"),
    LegendClass(10, "Clouds", "#616161", ""),
    LegendClass(11, "Rangeland", "#e3e2c3", "Grassland"),
)

#: China Land Cover Dataset (CLCD, Yang & Huang), 30 m annual. Colours follow the colour table
#: built into the CLCD GeoTIFFs (check against a downloaded file); IPCC categories as in
#: ``config/crosswalks/clcd.csv``.
CLCD: tuple[LegendClass, ...] = (
    LegendClass(1, "Cropland", "#fae39c", "Cropland"),
    LegendClass(2, "Forest", "#446f33", "Forest land"),
    LegendClass(3, "Shrub", "#33a02c", "Grassland"),
    LegendClass(4, "Grassland", "#abd37b", "Grassland"),
    LegendClass(5, "Water", "#1e69ff", "Wetlands"),
    LegendClass(6, "Snow/Ice", "#d2ebff", "Other land"),
    LegendClass(7, "Barren", "#a0a0a0", "Other land"),
    LegendClass(8, "Impervious", "#ff0000", "Settlements"),
    LegendClass(9, "Wetland", "#59e2ff", "Wetlands"),
)

#: Forest types of the ``plantation`` input role: which tree cover is natural forest and which a
#: plantation, and of what. The run's codes (a product's own codes are mapped to these by its
#: crosswalk, e.g. ``config/crosswalks/fml_hainan.csv``); the land category of a plantation is set
#: per stratum in the dynamics table (``config/dynamics/strata.csv``), so it is empty here.
FOREST_TYPE: tuple[LegendClass, ...] = (
    LegendClass(1, "Natural forest", "#1b5e20", ""),
    LegendClass(2, "Rubber plantation", "#9ccc65", ""),
    LegendClass(3, "Areca and other palm plantation", "#d4e157", ""),
    LegendClass(4, "Other tree plantation", "#26a69a", ""),
)

#: FAO Global Ecological Zones 2010 (FAO 2012), the tropical zones, by ``gez_code``: the
#: ``ecozone`` input role. Colours are sinkmap's.
GEZ: tuple[LegendClass, ...] = (
    LegendClass(11, "Tropical rainforest", "#00441b", ""),
    LegendClass(12, "Tropical moist forest", "#238b45", ""),
    LegendClass(13, "Tropical dry forest", "#a1d99b", ""),
    LegendClass(14, "Tropical shrubland", "#e5f5e0", ""),
    LegendClass(15, "Tropical desert", "#fee391", ""),
    LegendClass(16, "Tropical mountain system", "#8c6bb1", ""),
)

#: The carbon state's strata (``results/<year>/state_stratum.tif``): the forest types, forest
#: regrowing after clearing, shrubland, and land without woody vegetation.
STRATUM: tuple[LegendClass, ...] = (
    LegendClass(1, "Natural forest", "#1b5e20", ""),
    LegendClass(2, "Rubber plantation", "#9ccc65", ""),
    LegendClass(3, "Areca and other palm plantation", "#d4e157", ""),
    LegendClass(4, "Other tree plantation", "#26a69a", ""),
    LegendClass(5, "Regrowing forest", "#66bb6a", ""),
    LegendClass(6, "Shrubland", "#ffbb22", ""),
    LegendClass(7, "Without woody vegetation", "#f0f0f0", ""),
)

#: Change strata of an interval (``sinkmap sample``): the map classes of the change map that the
#: reference sample is stratified by (Olofsson et al. 2014). Forest is the IPCC category Forest
#: land; a plantation stratum is split from stable forest where the carbon state maps it.
CHANGE_STRATUM: tuple[LegendClass, ...] = (
    LegendClass(1, "Stable forest", "#1b5e20", "Forest land"),
    LegendClass(2, "Stable plantation forest", "#9ccc65", "Forest land"),
    LegendClass(3, "Forest loss", "#e53935", ""),
    LegendClass(4, "Forest gain", "#42a5f5", "Forest land"),
    LegendClass(5, "Stable non-forest", "#f0e68c", ""),
)
#: Change-stratum names by code.
CHANGE_STRATUM_NAMES: dict[int, str] = {c.code: c.name for c in CHANGE_STRATUM}

#: The six IPCC land categories by code (``results/<year>/state_category.tif``), CRF order.
IPCC_CATEGORY_CODES: dict[str, int] = {c: i for i, c in enumerate(IPCC_CATEGORIES, start=1)}
IPCC_CATEGORY: tuple[LegendClass, ...] = tuple(
    LegendClass(i, c, color, c)
    for (c, i), color in zip(
        IPCC_CATEGORY_CODES.items(),
        ("#1b7837", "#f096ff", "#ffff4c", "#0064c8", "#fa0000", "#b4b4b4"),
        strict=True,
    )
)

LEGENDS: dict[str, tuple[LegendClass, ...]] = {
    "worldcover": WORLDCOVER,
    "io_lulc": IO_LULC,
    "clcd": CLCD,
    "forest_type": FOREST_TYPE,
    "gez": GEZ,
    "stratum": STRATUM,
    "ipcc_category": IPCC_CATEGORY,
    "change_stratum": CHANGE_STRATUM,
}


def _rgba(hex_color: str) -> tuple[int, int, int, int]:
    h = hex_color.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)


def colormap(legend: tuple[LegendClass, ...]) -> dict[int, tuple[int, int, int, int]]:
    """A GDAL colour table: nodata 0 transparent, each class its colour."""
    cmap = {0: (0, 0, 0, 0)}
    cmap.update({c.code: _rgba(c.color) for c in legend})
    return cmap


WORLDCOVER_COLORMAP = colormap(WORLDCOVER)


def class_names(legend: str | None) -> dict[int, str]:
    return {c.code: c.name for c in LEGENDS.get(legend or "", ())}


def ipcc_categories(legend: str | None) -> dict[int, str]:
    return {c.code: c.ipcc_category for c in LEGENDS.get(legend or "", ())}


def ipcc_category_lut(legend: str | None) -> np.ndarray:
    """A lookup array ``class code → IPCC category code`` (``IPCC_CATEGORY_CODES``; 0 for codes
    the legend does not have), 65,536 entries so any uint8 or uint16 class code indexes it."""
    cats = ipcc_categories(legend)
    if not cats:
        raise InputDataError(
            f"the land cover's legend {legend!r} has no IPCC categories; give the land cover a "
            "crosswalk to a legend sinkmap knows (config/datasets.yaml), or set its legend"
        )
    lut = np.zeros(65536, dtype=np.uint8)
    for code, cat in cats.items():
        lut[code] = IPCC_CATEGORY_CODES.get(cat, 0)
    return lut


def legend_maps(
    legend: str | Sequence[LegendClass] | None,
) -> tuple[dict[int, str], dict[int, str]]:
    """Class names and IPCC categories by code, from a legend name or a sequence of classes."""
    if legend is None:
        classes: Sequence[LegendClass] = ()
    elif isinstance(legend, str):
        if legend not in LEGENDS:
            raise InputDataError(f"unknown legend {legend!r}; known legends: {sorted(LEGENDS)}")
        classes = LEGENDS[legend]
    else:
        classes = legend
    return {c.code: c.name for c in classes}, {c.code: c.ipcc_category for c in classes}


def ipcc_label(from_category: str, to_category: str) -> str:
    """IPCC 2006 Vol. 4 name of a land-use transition between two land categories.

    >>> ipcc_label("Forest land", "Forest land")
    'Forest land remaining Forest land'
    >>> ipcc_label("Cropland", "Forest land")
    'Cropland converted to Forest land'
    """
    if from_category == to_category:
        return f"{to_category} remaining {to_category}"
    return f"{from_category} converted to {to_category}"
