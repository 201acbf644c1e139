"""The HTML report's account tables, read from a hand-written account (tests/unit/_account.py).

The account: the AOI (tree cover 7 ha and cropland 5 ha) and a park zone (3 ha of tree cover), 2020
and 2021, both methods, the Monte Carlo interval on the "all classes" stock-difference totals. Every
number the tests expect is summed by hand from tests/unit/_account.py.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import yaml

from sinkmap import OUTPUT_VERSION, __version__
from sinkmap.constants import UNITS_FLUX, UNITS_STOCK
from sinkmap.errors import OutputError
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_layers
from sinkmap.publish import report as report_module
from sinkmap.publish.report import build_report

from ._account import GAINS_LOSSES, STOCKS, account_table, write_account
from ._helpers import UTM_LEFT, UTM_TOP

GRID = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, width=40, height=30, chunk=16)
DASH = "\u2013"


class _Page(HTMLParser):
    """The text of each table cell by table id (header row first), the h2 headings, all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.h2: list[str] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        self._tag = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._tag == "h2":
            self.h2.append(data)


def _results(root: Path, *, synthetic: str = "yes", **account: object) -> Path:
    """A results folder: two years of rasters, one interval, the account table, a config."""
    results = root / "results"
    lc = np.where(np.arange(30 * 40).reshape(30, 40) % 3, 10, 40).astype("uint8")
    tags = {
        "SINKMAP_VERSION": __version__,
        "OUTPUT_VERSION": OUTPUT_VERSION,
        "MODEL": "lookup",
        "MODEL_PARAMS": json.dumps({"table": "pools.csv"}),
        "SOURCES": json.dumps([{"dataset": "demo_worldcover", "version": "v200", "year": 2020}]),
        "SYNTHETIC": synthetic,
    }

    def layer(values: np.ndarray, dtype: str, nodata: float | int, **extra: object) -> LayerSpec:
        return LayerSpec(
            da.from_array(values, chunks=GRID.chunks), dtype, nodata, tags=tags | extra
        )

    for year in (2020, 2021):
        stock = np.where(lc == 10, 250.0, 48.0).astype("float32")
        write_layers(
            GRID,
            {
                results / str(year) / "land_cover.tif": layer(lc, "uint8", 0, UNITS="class code"),
                results / str(year) / "carbon_stock_total.tif": layer(
                    stock, "float32", float("nan"), UNITS=UNITS_STOCK, YEAR=year
                ),
            },
            threads=1,
        )
    flux = np.full(lc.shape, -3.0, "float32")
    write_layers(
        GRID,
        {
            results / "sink" / "2020-2021" / "net_flux_co2e.tif": layer(
                flux, "float32", float("nan"), UNITS=UNITS_FLUX, INTERVAL="2020-2021"
            )
        },
        threads=1,
    )
    account_synthetic = str(account.pop("account_synthetic", synthetic))
    table = account_table(synthetic=account_synthetic, **account)  # type: ignore[arg-type]
    write_account(results / "carbon_account.csv", table)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"aoi": {"name": "Test county"}, "datasets": "none.yaml"}))
    return results


def _page(results: Path) -> tuple[_Page, str]:
    out = build_report(results, results.parent / "config.yaml", results.parent / "report.html")
    text = out.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return page, text


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Page, str]:
    return _page(_results(tmp_path_factory.mktemp("report")))


@pytest.fixture
def no_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The map quick looks as a blank PNG (the tables are under test, not the maps)."""
    from PIL import Image

    def blank(tif: Path, out_png: Path, **_: object) -> Path:
        Image.new("RGB", (8, 8), "white").save(out_png)
        return Path(out_png)

    monkeypatch.setattr(report_module, "quicklook_png", blank)


def test_totals_are_the_hand_sums_of_the_aoi_with_both_methods(full: tuple[_Page, str]) -> None:
    page, _ = full
    header, *rows = page.tables["totals"]
    assert header == [
        "Year",
        "Interval",
        "Area (ha)",
        "Total stock (Mg C)",
        "Mean density (Mg C/ha)",
        "Net flux, stock-difference (Mg CO2e/yr)",
        "Emissions, stock-difference (Mg CO2e/yr)",
        "Removals, stock-difference (Mg CO2e/yr)",
        "Net flux, gain-loss (Mg CO2e/yr)",
        "Emissions, gain-loss (Mg CO2e/yr)",
        "Removals, gain-loss (Mg CO2e/yr)",
    ]
    # 2020: 1750 + 240 = 1990 Mg C on 7 + 5 = 12 ha (165.8 Mg C/ha); Monte Carlo 95 % 1870-2110
    # (the hand account's MC95); no flux
    # 2021: 1757 + 236 = 1993 Mg C (166.1); change +3 Mg C/yr -> -3 x 44/12 = -11.0 Mg CO2e/yr,
    # emissions 4 x 44/12 = 14.7 (cropland), removals -7 x 44/12 = -25.7 (trees); gain-loss
    # -(8 - 3.5) x 44/12 = -16.5, emissions 3.5 x 44/12 = 12.8, removals -8 x 44/12 = -29.3.
    # The park zone (753 Mg C) is inside the AOI and is not added again.
    assert rows == [
        ["2020", "", "12.0", f"1,990 (1,870 {DASH} 2,110)", "165.8", "", "", "", "", "", ""],
        [
            "2021",
            f"2020{DASH}2021",
            "12.0",
            f"1,993 (1,873 {DASH} 2,113)",
            "166.1",
            f"-11.0 (-15.0 {DASH} -7.0)",
            "14.7",
            "-25.7",
            "-16.5",
            "12.8",
            "-29.3",
        ],
    ]
    assert (
        "Monte Carlo 95 % interval (2.5th to 97.5th percentile of 500 draws; IPCC Approach 2)"
        in " ".join(page.text)
    )


def test_classes_are_the_aoi_class_rows_with_the_gain_loss_flux(full: tuple[_Page, str]) -> None:
    page, _ = full
    header, *rows = page.tables["classes-2021"]
    assert header[-4:] == [
        "Net flux, stock-difference (Mg CO2e/yr)",
        "Emissions, stock-difference (Mg CO2e/yr)",
        "Removals, stock-difference (Mg CO2e/yr)",
        "Net flux, gain-loss (Mg CO2e/yr)",
    ]
    # trees: 907+300+50+500 = 1757 Mg C / 7 ha, +7 Mg C/yr (-25.7), gain-loss -8 x 44/12 = -29.3;
    # cropland: 27+9+0+200 = 236 / 5 ha, -4 Mg C/yr (+14.7), gain-loss 3.5 x 44/12 = 12.8
    assert rows == [
        [
            "10",
            "Tree cover",
            "Forest land",
            "7.0",
            "1,757",
            "251.0",
            "-25.7",
            "0.0",
            "-25.7",
            "-29.3",
        ],
        ["40", "Cropland", "Cropland", "5.0", "236", "47.2", "14.7", "14.7", "0.0", "12.8"],
    ]
    assert page.tables["classes-2020"][1:] == [
        ["10", "Tree cover", "Forest land", "7.0", "1,750", "250.0", "", "", "", ""],
        ["40", "Cropland", "Cropland", "5.0", "240", "48.0", "", "", "", ""],
    ]
    text = " ".join(page.text)
    assert f"2021 (flux of 2020{DASH}2021)" in text and "2020 (first year: no flux)" in text


def test_zones_section_lists_the_user_zones(full: tuple[_Page, str]) -> None:
    page, _ = full
    assert "Zones" in page.h2
    header, *rows = page.tables["zones-2021"]
    assert header == [
        "Zone",
        "Name",
        "Area (ha)",
        "Stock (Mg C)",
        "Density (Mg C/ha)",
        "Net flux, stock-difference (Mg CO2e/yr)",
        "Net flux, gain-loss (Mg CO2e/yr)",
    ]
    # the park: 403+130+20+200 = 753 Mg C on 3 ha, +3 Mg C/yr -> -11.0; gain-loss -3.5 x 44/12
    assert rows == [
        [
            "z1",
            "Park",
            "3.0",
            f"753 (710 {DASH} 800)",
            "251.0",
            f"-11.0 (-14.0 {DASH} -8.0)",
            "-12.8",
        ]
    ]
    assert page.tables["zones-2020"][1:] == [
        ["z1", "Park", "3.0", f"750 (690 {DASH} 810)", "250.0", "", ""]
    ]


def test_methods_and_sources_come_from_the_account(full: tuple[_Page, str]) -> None:
    page, text = full
    body = " ".join(page.text)
    assert "Account methods: stock-difference; gain-loss." in body
    assert '"root_shoot": 0.24' in body  # the gain-loss parameters (method_params)
    assert "IPCC 2006" in body  # the model's citation (model column)
    (dataset,) = page.tables["datasets"][1:]
    assert dataset[0] == "demo_worldcover" and dataset[3] == "2020"
    assert dataset[-1] == "x.tif"  # the files of the account's inputs column
    assert 'id="synthetic-banner"' in text
    assert text.count("<img") == 2 * 2 + 1 + 1  # stock and land cover per year, flux, chart


def test_without_zones_mc_or_gain_loss(tmp_path: Path, no_maps: None) -> None:
    aoi_only = {k: v for k, v in STOCKS.items() if k[0] == "aoi"}
    results = _results(tmp_path, stocks=aoi_only, gains_losses={}, mc=None)
    page, _ = _page(results)
    assert "Zones" not in page.h2 and not [t for t in page.tables if t.startswith("zones")]
    header, *rows = page.tables["totals"]
    assert len(header) == 8 and not [h for h in header if "gain-loss" in h]
    assert rows[0] == ["2020", "", "12.0", "1,990", "165.8", "", "", ""]
    assert rows[1] == [
        "2021",
        f"2020{DASH}2021",
        "12.0",
        "1,993",
        "166.1",
        "-11.0",
        "14.7",
        "-25.7",
    ]
    assert len(page.tables["classes-2021"][0]) == 9
    body = " ".join(page.text)
    assert "Monte Carlo" not in body and "the account has no gain-loss rows" in body


def test_gain_loss_flux_is_joined_to_the_class_rows(tmp_path: Path, no_maps: None) -> None:
    """The gain-loss flux is joined to the stock-difference class rows by class code."""
    gl = dict(GAINS_LOSSES) | {("aoi", 2021, 40): (1.0, 0.0)}  # cropland now gains 1 Mg C/yr
    page, _ = _page(_results(tmp_path, gains_losses=gl))
    assert [r[-1] for r in page.tables["classes-2021"][1:]] == ["-29.3", "-3.7"]
    # all classes: -(8 + 1) x 44/12 = -33.0
    assert page.tables["totals"][2][8] == "-33.0"


@pytest.mark.parametrize(
    ("tags", "account", "banner"),
    [("yes", "yes", True), ("no", "yes", True), ("no", "no", False)],
)
def test_synthetic_banner(
    tmp_path: Path, no_maps: None, tags: str, account: str, banner: bool
) -> None:
    _, text = _page(_results(tmp_path, synthetic=tags, account_synthetic=account))
    assert ('id="synthetic-banner"' in text) is banner


def test_a_table_of_the_old_layout_is_refused(tmp_path: Path, no_maps: None) -> None:
    results = _results(tmp_path)
    (results / "carbon_account.csv").write_text(
        "year,class_code,class_name,stock_total_mgc,interval,net_flux_mgco2e_per_yr\n"
        "2020,10,Tree cover,1750.0,,\n"
    )
    with pytest.raises(OutputError, match="re-run the account step"):
        build_report(results, tmp_path / "config.yaml", tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_a_repeated_total_row_is_refused(tmp_path: Path, no_maps: None) -> None:
    results = _results(tmp_path)
    table = account_table()
    write_account(results / "carbon_account.csv", table.iloc[[*range(len(table)), 4]])
    with pytest.raises(OutputError, match="more than one row"):
        build_report(results, tmp_path / "config.yaml", tmp_path / "report.html")


def test_change_filtering_and_accuracy_sections(tmp_path: Path, no_maps: None) -> None:
    """The report shows change_filter.csv of each year after the first, and accuracy.csv of each
    assessed interval, as written."""
    results = _results(tmp_path)
    quantities = [
        "changed as mapped",
        "held: not persistent",
        "removed: below the MMU",
        "changed after filtering",
        "forest loss as mapped",
        "forest loss after filtering",
        "forest gain as mapped",
        "forest gain after filtering",
    ]
    (results / "2021" / "change_filter.csv").write_text(
        "year,previous_year,quantity,area_ha\n"
        + "".join(f"2021,2020,{q},{i + 0.25}\n" for i, q in enumerate(quantities))
    )
    acc = results / "accuracy" / "2020-2021"
    acc.mkdir(parents=True)
    (acc / "accuracy.csv").write_text(
        "stratum,stratum_name,sample_units,mapped_area_ha,adjusted_area_ha,adjusted_area_ha_ci95,"
        "users_accuracy,producers_accuracy,overall_accuracy\n"
        "3,Forest loss,50,334.9,412.3,88.1,0.88,0.714,\n"
        "0,Overall,765,115247.9,,,,,0.953\n"
    )
    (acc / "adjusted_account.csv").write_text(
        "method,stratum,stratum_name,net_flux_mapped_mgco2e_per_yr,net_flux_mgco2e_per_ha_yr,"
        "adjusted_area_ha,net_flux_adjusted_mgco2e_per_yr,net_flux_adjusted_mgco2e_per_yr_p025,"
        "net_flux_adjusted_mgco2e_per_yr_p975,uncertainty_sources\n"
        "stock-difference,3,Forest loss,120000,358.3,412.3,147727,110000,185000,areas\n"
    )
    page, _ = _page(results)
    assert page.tables["adjusted-2020-2021"][1] == [
        "stock-difference",
        "Forest loss",
        "120,000",
        "358.30",
        "412.3",
        "147,727",
        "110,000",
        "185,000",
        "areas",
    ]
    assert "Change filtering" in page.h2
    header, row = page.tables["change-filter"]
    assert header[0] == "Year" and header[1] == "Changed as mapped (ha)"
    assert row == ["2021", "0.2", "1.2", "2.2", "3.2", "4.2", "5.2", "6.2", "7.2"]
    assert "Accuracy assessment and area-adjusted areas" in page.h2
    _, loss, overall = page.tables["accuracy-2020-2021"]
    assert loss == ["Forest loss", "50", "334.9", "412.3", "88.1", "0.88", "0.71", ""]
    assert overall[0] == "Overall" and overall[-1] == "0.95"


def test_the_workflows_quick_looks_are_embedded_and_a_stale_one_is_drawn_again(
    tmp_path: Path, no_maps: None
) -> None:
    """A quick look the workflow drew (rules ``quicklooks``, ``flux_quicklook``) is embedded as it
    is, not drawn again; one older than its layer (the layer was made again since) is not used."""
    import base64
    import os

    from PIL import Image

    from sinkmap.paths import Paths

    results = _results(tmp_path)
    paths = Paths(results)
    mine = {paths.quicklook(2021, "stock"): "red", paths.flux_quicklook(2020, 2021): "blue"}
    for png, colour in mine.items():
        Image.new("RGB", (5, 3), colour).save(png)
    uris = {
        png: "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode() for png in mine
    }
    _, text = _page(results)
    assert all(uri in text for uri in uris.values())
    # made before the layer: drawn again (here by the blank stand-in, 8 x 8 px)
    stock = paths.stock(2021, "total")
    old = stock.stat().st_mtime - 60
    os.utime(paths.quicklook(2021, "stock"), (old, old))
    _, text = _page(results)
    assert uris[paths.quicklook(2021, "stock")] not in text
    assert uris[paths.flux_quicklook(2020, 2021)] in text
