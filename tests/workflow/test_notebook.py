"""The researchers' notebook, docs/examples/swap_a_model.ipynb, runs and says what the files say.

The notebook runs the workflow for one year with the ``lookup`` model, the ``biomass`` model and
the own model of docs/models.md (``BiomassShare``), and compares them. Here it runs on the tiny
AOI (tinyrun.write_aoi) in a temporary folder: the cell tagged ``parameters`` is replaced before
execution. nbclient starts the kernel ``python3`` of this interpreter's environment (ipykernel
installs its kernel spec in ``<venv>/share/jupyter/kernels``, found first in a venv, and
jupyter_client starts ``python`` there as ``sys.executable``), so nothing is registered globally;
the notebook prints its kernel's interpreter, and the test checks it is this one.

The totals the notebook prints from the account are checked against the rasters times each cell's
true area, computed here as the geodesic area of the cell's four corners on WGS 84 (pyproj Geod),
not as the library does it (a projection scale factor per block of cells); the lookup and the own
model's maps against their definitions worked out by hand from the inputs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import rasterio
from nbclient import NotebookClient
from pyproj import Geod, Transformer
from tinyrun import REPO, TABLE, write_aoi

pytestmark = pytest.mark.workflow

NOTEBOOK = REPO / "docs" / "examples" / "swap_a_model.ipynb"
YEAR = 2021
RUNS = ("lookup", "biomass", "own")


def tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return cell


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook executed on the tiny AOI for one year; the folder of its runs."""
    root = tmp_path_factory.mktemp("notebook")
    aoi = write_aoi(root)
    workdir = root / "runs"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tagged(nb, "parameters").source = "\n".join(
        [
            f"WORKDIR = {str(workdir)!r}",
            f"AOI = {str(aoi)!r}",
            "AOI_LAYER = None",
            f"YEAR = {YEAR}",
            "CORES = 2",
        ]
    )
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # the kernel's working folder
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    nbformat.write(nb, root / "executed.ipynb")  # kept for a look after a failure
    return nb, workdir


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def cell_areas_ha(path: Path) -> np.ndarray:
    """True area (ha) of every cell of a raster: the geodesic area of its four corners."""
    with rasterio.open(path) as src:
        t, height, width, crs = src.transform, src.height, src.width, src.crs
    cols, rows = np.meshgrid(np.arange(width + 1), np.arange(height + 1))
    x, y = t.c + cols * t.a + rows * t.b, t.f + cols * t.d + rows * t.e
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    geod = Geod(ellps="WGS84")
    areas = np.empty((height, width))
    for r in range(height):
        for c in range(width):
            ring_lon = [lon[r, c], lon[r, c + 1], lon[r + 1, c + 1], lon[r + 1, c]]
            ring_lat = [lat[r, c], lat[r, c + 1], lat[r + 1, c + 1], lat[r + 1, c]]
            areas[r, c] = abs(geod.polygon_area_perimeter(ring_lon, ring_lat)[0])
    return areas / 10_000


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1, masked=True).astype("float64").filled(np.nan)


def test_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert tagged(nb, "parameters") is code[0]


def test_own_model_is_the_docs_example() -> None:
    """The notebook plugs in docs/models.md's complete model, character for character."""
    docs = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Your own model") :]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    source = "".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert example.group(1) in source
    assert 'name: "models/share.py:BiomassShare"' in docs
    assert '{"name": "models/share.py:BiomassShare"}' in source


def test_notebook_runs(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    kernel = re.search(r"^kernel: (.+)$", stdout(code[1]), re.M)
    assert kernel is not None
    assert Path(kernel.group(1)).resolve() == Path(sys.executable).resolve()
    # the maps, histogram and scatter, and the account's bar charts were drawn
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3
    for run in RUNS:
        assert (workdir / run / "results" / "carbon_account.csv").is_file()


def test_printed_totals_match_the_rasters(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    """Each run's AOI total the notebook printed (from its account) = Σ stock × cell area."""
    nb, workdir = executed
    summary = json.loads(stdout(tagged(nb, "summary")))
    assert summary["year"] == YEAR
    assert set(summary) == {"year", *RUNS}
    area = cell_areas_ha(workdir / "lookup" / "results" / str(YEAR) / "carbon_stock_total.tif")
    for run in RUNS:
        stock = read(workdir / run / "results" / str(YEAR) / "carbon_stock_total.tif")
        valid = np.isfinite(stock)
        assert valid.sum() > 40_000  # the tiny AOI: ~6.5 km² of 10 m cells
        expected_area = area[valid].sum()
        expected_stock = (stock * area)[valid].sum()
        # printed rounded to 4, 3 and 4 decimals; the account's CSV holds 6
        assert summary[run]["area_ha"] == pytest.approx(expected_area, abs=1e-3)
        assert summary[run]["stock_mgc"] == pytest.approx(expected_stock, rel=1e-5)
        assert summary[run]["stock_density_mgc_per_ha"] == pytest.approx(
            expected_stock / expected_area, abs=1e-3
        )
    # the models differ on this AOI (else the comparison shows nothing)
    assert summary["biomass"]["stock_mgc"] != pytest.approx(
        summary["lookup"]["stock_mgc"], rel=0.01
    )


def test_maps_follow_their_models(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    """lookup: each cell the pool table's row sum of its class; own model: 0.47 × AGB + 50."""
    _, workdir = executed
    year = workdir / "lookup" / "results" / str(YEAR)
    land_cover = read(year / "land_cover.tif")
    table = pd.read_csv(TABLE, index_col="lucode")
    row_sum = table[["c_above", "c_below", "c_soil", "c_dead"]].sum(axis=1)
    lookup = read(year / "carbon_stock_total.tif")
    valid = np.isfinite(lookup)
    by_hand = row_sum.reindex(land_cover[valid].astype(int)).to_numpy()
    np.testing.assert_allclose(lookup[valid], by_hand, rtol=1e-6)

    own = workdir / "own" / "results" / str(YEAR)
    agb = read(own / "biomass.tif")
    above, soil = read(own / "carbon_stock_above.tif"), read(own / "carbon_stock_soil.tif")
    valid = np.isfinite(above)
    np.testing.assert_allclose(above[valid], 0.47 * agb[valid], rtol=1e-6)
    assert np.all(soil[valid] == 50.0)
    assert np.all(read(own / "carbon_stock_below.tif")[valid] == 0.0)
