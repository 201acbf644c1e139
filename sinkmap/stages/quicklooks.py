"""The quick looks of a year's layers and of an interval's net flux (rules ``quicklooks`` and
``flux_quicklook``): PNG maps that the report embeds and the STAC items carry as overviews.

Each one is drawn once, when its layer is made: a year added to a series draws its own and the
report takes the earlier years' as they are (:func:`sinkmap.publish.report.build_report`).
They read the layer's overviews and the AOI, nothing else, so they run beside the heavy jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sinkmap.config import Config
from sinkmap.publish.quicklook import flux_quicklook, year_quicklooks
from sinkmap.stages.context import Run


def draw_year_quicklooks(cfg: Config, year: int, out: Mapping[str, Path]) -> dict[str, Path]:
    """Draw the year's quick looks ``out`` (name → PNG, :meth:`sinkmap.paths.Paths.quicklooks`)
    with the outline of the run's AOI."""
    run = Run(cfg)
    return year_quicklooks(run.paths.results, year, out, aoi=run.aoi)


def draw_flux_quicklook(cfg: Config, y0: int, y1: int, out: Path) -> Path:
    """Draw the quick look of the interval's net flux to ``out`` with the outline of the AOI."""
    run = Run(cfg)
    return flux_quicklook(run.paths.results, y0, y1, out, aoi=run.aoi)
