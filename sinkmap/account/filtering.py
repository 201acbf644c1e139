"""Change filtering of the land-cover series before accounting: arrays only.

Two map products of consecutive years differ where the land changed and where either map is
wrong; a single 10 m cell flipping between classes would otherwise be booked as deforestation and
afforestation. Two filters, each on by default (``change_filter`` in the config):

- **Persistence** (temporal consistency). A cell's IPCC land category may change in year ``y``
  only if the new category is also mapped in the ``k − 1`` mapped years before ``y`` (k = 2 by
  default: seen twice in a row). Otherwise the cell keeps the class it had in the filtered map of
  the year before. A → B → A flips never pass. The filter is causal: the filtered map of ``y``
  depends on the filtered map of the year before and on the maps up to ``y``, never on later
  years, so adding a year does not change the filtered maps of earlier years. The price: a real
  change is booked k − 1 mapped years after it was first mapped. Changes of class inside one
  category (grassland → shrubland) pass unfiltered.
- **Minimum mapping unit** (a sieve on the change map). A patch of connected changed cells
  (8-connectivity by default) smaller than the MMU keeps the previous year's classes. The default
  MMU is China's forest definition, 0.0667 ha (1 mu): 7 cells of 10 m. Applied after persistence,
  to the changes that passed it.

The sieve is GDAL's (``rasterio.features.sieve``). Across chunks it needs a halo: a patch of
fewer than ``n`` cells spans fewer than ``n`` cells in any direction, so judging a chunk with a
halo of ``n`` cells around it decides every patch that reaches into the chunk exactly (a patch
that reaches the halo's edge has at least ``n`` cells inside the halo).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rasterio.features import sieve

#: China's forest definition: area ≥ 0.0667 ha (1 mu) (GB/T 26424-2010; shared/reference.md).
MMU_HA = 0.0667


def mmu_cells(mmu_ha: float, cell_area_ha: float) -> int:
    """Smallest patch (in cells) that reaches ``mmu_ha``: 0.0667 ha of 0.01 ha cells → 7."""
    if mmu_ha <= 0:
        return 1
    return max(math.ceil(mmu_ha / cell_area_ha - 1e-9), 1)


def persistence_filter(
    mapped: Sequence[np.ndarray],
    previous: np.ndarray,
    categories: np.ndarray,
    *,
    nodata: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The classes of the newest map (``mapped[-1]``) where its IPCC category is unchanged from
    ``previous`` (the filtered map of the year before) or is confirmed by every older map in
    ``mapped`` (the k − 1 mapped years before, oldest first); elsewhere ``previous``.

    ``categories`` maps a class code to its IPCC category code (``legends.ipcc_category_lut``).
    Returns the candidate map and the cells held back (a category change not yet confirmed).
    Cells where any map has no data are not held."""
    now = np.asarray(mapped[-1])
    key = categories[now]
    valid = (now != nodata) & (previous != nodata)
    confirmed = np.ones(now.shape, dtype=bool)
    for older in mapped[:-1]:
        confirmed &= categories[older] == key
        valid &= older != nodata
    held = valid & (key != categories[previous]) & ~confirmed
    return np.where(held, previous, now).astype(now.dtype, copy=False), held


def sieve_changes(changed: np.ndarray, min_cells: int, *, connectivity: int = 8) -> np.ndarray:
    """``changed`` without its patches of fewer than ``min_cells`` connected cells."""
    changed = np.asarray(changed, dtype=bool)
    if min_cells <= 1 or not changed.any():
        return changed
    kept = sieve(changed.astype(np.uint8), size=min_cells, connectivity=connectivity)
    return changed & (kept == 1)
