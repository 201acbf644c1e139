"""The annual update of the carbon state: adding a year to a finished run steps the stored state of
the year before and gives, pixel for pixel, what a run of all the years from scratch gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from conftest import PUBLISHED_YEARS
from tinyrun import snakemake, write_aoi

from sinkmap.paths import GAIN_LOSS_PARTS, STOCK_LAYERS, Paths

pytestmark = pytest.mark.workflow

NEW_YEAR = PUBLISHED_YEARS[-1] + 1
SPAN = (PUBLISHED_YEARS[-1], NEW_YEAR)


def _values(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_a_new_year_steps_the_stored_state_as_a_run_from_scratch(
    published_run: Path, tmp_path: Path
) -> None:
    # the annual update: a copy of the finished run, one year added to its config (nothing else)
    update = tmp_path / "update"
    shutil.copytree(published_run, update, symlinks=True)
    config = yaml.safe_load((update / "config.yaml").read_text(encoding="utf-8"))
    config["years"] = [*PUBLISHED_YEARS, NEW_YEAR]
    (update / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    before = {
        p: p.stat().st_mtime_ns
        for year in PUBLISHED_YEARS
        for p in (update / rel for rel in Paths().states(year).values())
    }
    targets = [str(Paths().stock(NEW_YEAR, "total")), str(Paths().flux(*SPAN))]
    snakemake(update, *targets)
    # the earlier years' states are read, not rewritten
    assert before and all(p.stat().st_mtime_ns == t for p, t in before.items())

    # the same years from scratch, in a fresh folder with the same settings
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    write_aoi(scratch)
    config["aoi"]["path"] = str(scratch / "aoi.geojson")
    (scratch / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    snakemake(scratch, *targets)

    y0 = PUBLISHED_YEARS[-1]
    layers = [*Paths().states(NEW_YEAR).values()]
    layers += [Paths().stock(NEW_YEAR, pool) for pool in STOCK_LAYERS]
    layers += [Paths().flux(y0, NEW_YEAR)]
    layers += [Paths().gain_loss(y0, NEW_YEAR, part) for part in GAIN_LOSS_PARTS]
    for rel in layers:
        a = _values(update / rel)
        b = _values(scratch / rel)
        np.testing.assert_array_equal(a, b, err_msg=str(rel))
    # and the state moved on: every woody stand that kept its stratum grew a year older or was
    # disturbed (harvested, lost) and restarted at age 0; most grew
    age0 = _values(update / Paths().states(y0)["age"]).astype(int)
    age1 = _values(update / Paths().states(NEW_YEAR)["age"]).astype(int)
    s0 = _values(update / Paths().states(y0)["stratum"])
    s1 = _values(update / Paths().states(NEW_YEAR)["stratum"])
    woody = (s1 == s0) & (s1 >= 1) & (s1 <= 6)
    assert woody.sum() > 1000
    grew = (age1 == age0 + 1) & woody
    assert np.all((grew | (age1 == 0))[woody])
    assert grew.sum() > 0.8 * woody.sum()
