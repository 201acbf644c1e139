"""Quick-look PNGs: read from the COG's overviews, with legend, scale bar, AOI and synthetic banner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from PIL import Image

from sinkmap.errors import OutputError
from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_layers
from sinkmap.legends import WORLDCOVER_COLORMAP
from sinkmap.publish import quicklook

from ._account import account_table, write_account
from ._helpers import UTM_LEFT, UTM_TOP

SIZE = 1030  # > 2 x 512: rio-cogeo gives the COG overviews (x2, x4)
BANNER_RED = (0xB0, 0x00, 0x20)


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cogs")
    grid = Grid(
        crs="EPSG:32649", resolution=10, left=UTM_LEFT, top=UTM_TOP, width=SIZE, height=SIZE
    )
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    inside = (xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2 < (0.45 * SIZE) ** 2
    stock = np.where(inside, xx / SIZE * 400, np.nan).astype("float32")
    flux = np.where(inside, (xx - SIZE / 2) / SIZE * 300, np.nan).astype("float32")
    lc = np.where(inside, np.where(yy < SIZE / 2, 10, 40), 0).astype("uint8")
    base = {"SYNTHETIC": "yes", "OUTPUT_VERSION": "0.1.0", "SINKMAP_VERSION": "0.1.0"}
    paths = {k: folder / f"{k}.tif" for k in ("stock", "flux", "land_cover", "real_stock")}
    write_layers(
        grid,
        {
            paths["stock"]: LayerSpec(
                da.from_array(stock, chunks=512),
                "float32",
                float("nan"),
                tags=base | {"UNITS": "Mg C ha-1", "YEAR": 2021, "POOL": "total"},
            ),
            paths["real_stock"]: LayerSpec(
                da.from_array(stock, chunks=512),
                "float32",
                float("nan"),
                tags=base | {"UNITS": "Mg C ha-1", "YEAR": 2021, "SYNTHETIC": "no"},
            ),
            paths["flux"]: LayerSpec(
                da.from_array(flux, chunks=512),
                "float32",
                float("nan"),
                tags=base | {"UNITS": "Mg CO2e ha-1 yr-1", "INTERVAL": "2020-2021"},
            ),
            paths["land_cover"]: LayerSpec(
                da.from_array(lc, chunks=512),
                "uint8",
                0,
                tags=base | {"UNITS": "class code", "ROLE": "land_cover", "LEGEND": "worldcover"},
                colormap=WORLDCOVER_COLORMAP,
                overview_resampling="mode",
            ),
        },
        threads=2,
    )
    aoi = gpd.GeoDataFrame(
        {"name": ["aoi"]},
        geometry=[shapely.Point(UTM_LEFT + SIZE * 5, UTM_TOP - SIZE * 5).buffer(0.45 * SIZE * 10)],
        crs=grid.crs,
    )
    paths["aoi"] = folder / "aoi.gpkg"
    aoi.to_file(paths["aoi"], layer="aoi")
    return paths


class _Spy:
    """Wraps rasterio.open: records how every dataset was opened and what each read returned."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.opens: list[dict[str, Any]] = []
        self.reads: list[tuple[int, int]] = []

    def __call__(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        ds = self.real(path, *args, **kwargs)
        self.opens.append({"kwargs": kwargs, "shape": (ds.height, ds.width)})
        spy = self
        real_read = ds.read

        def read(*a: Any, **kw: Any) -> Any:
            out = real_read(*a, **kw)
            spy.reads.append(out.shape[-2:])
            return out

        ds.read = read
        return ds


def _colours(png: Path) -> np.ndarray:
    return np.asarray(Image.open(png).convert("RGB"))


def _has(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 6) -> int:
    return int((np.abs(img.astype(int) - rgb).max(axis=-1) <= tol).sum())


def test_read_overview_never_reads_full_resolution(
    cogs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with rasterio.open(cogs["stock"]) as ds:
        assert ds.overviews(1)[0] == 2
    spy = _Spy(rasterio.open)
    monkeypatch.setattr(rasterio, "open", spy)
    read = quicklook.read_overview(cogs["stock"], max_size=300)
    assert read.full_shape == (SIZE, SIZE)
    assert read.overview_level == 0 and read.decimated
    assert max(read.data.shape) == 300
    # the data were read from the overview dataset (515 px), decimated: never 1030 x 1030
    assert any(o["kwargs"].get("OVERVIEW_LEVEL") == 0 for o in spy.opens)
    assert spy.reads and all(max(shape) <= 300 for shape in spy.reads)
    # georeferencing follows the decimation: the array still spans the whole raster
    assert read.transform.a * read.data.shape[1] == pytest.approx(SIZE * 10)
    assert read.transform.c == UTM_LEFT and read.transform.f == UTM_TOP


def test_read_overview_of_a_small_raster_is_the_raster(cogs: dict[str, Path]) -> None:
    read = quicklook.read_overview(cogs["land_cover"], max_size=2000)
    assert read.overview_level is None and not read.decimated
    assert read.data.shape == (SIZE, SIZE)
    assert read.data.mask.any() and set(np.unique(read.data.compressed())) == {10, 40}


@pytest.mark.parametrize("kind", ["stock", "flux", "land_cover"])
def test_quicklook_png(cogs: dict[str, Path], tmp_path: Path, kind: str, monkeypatch) -> None:
    spy = _Spy(rasterio.open)
    monkeypatch.setattr(rasterio, "open", spy)
    out = quicklook.quicklook_png(
        cogs[kind], tmp_path / f"{kind}.png", kind=kind, aoi_gpkg=cogs["aoi"], title=f"A {kind}"
    )
    assert out.exists() and out.stat().st_size > 10_000
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == quicklook.MAP_SIZE
    img = _colours(out)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # a map, not a blank canvas
    assert _has(img[:40], BANNER_RED) > 5000  # the synthetic banner across the top
    assert all(max(s) <= max(quicklook.MAP_SIZE) for s in spy.reads)
    if kind == "land_cover":
        assert _has(img, (0x00, 0x64, 0x00), tol=2) > 1000  # WorldCover tree cover
        assert _has(img, (0xF0, 0x96, 0xFF), tol=2) > 1000  # WorldCover cropland
    if kind == "flux":  # both ends of the diverging ramp appear
        assert _has(img, (0x21, 0x66, 0xAC), tol=40) > 100  # blue removals
        assert _has(img, (0xB2, 0x18, 0x2B), tol=40) > 100  # red emissions


def test_quicklook_without_synthetic_tag_has_no_banner(cogs: dict[str, Path], tmp_path) -> None:
    out = quicklook.quicklook_png(cogs["real_stock"], tmp_path / "real.png", title="real")
    assert _has(_colours(out)[:40], BANNER_RED) == 0


def _chart_account(years: list[int], *, band: bool, gain_loss: bool = False) -> pd.DataFrame:
    """Cropland (5 ha) losing 4 Mg C/yr above ground: +4 x 44/12 = 14.67 Mg CO2e/yr emitted per
    interval by stock-difference; gain-loss losses of 3 Mg C/yr, +11 Mg CO2e/yr."""
    stocks = {
        ("aoi", y, 40): {"above": 100.0 - 4 * i, "below": 20.0, "dead": 0.0, "soil": 200.0}
        for i, y in enumerate(years)
    }
    areas = {("aoi", y, 40): 5.0 for y in years}
    gains_losses = {("aoi", y, 40): (0.0, 3.0) for y in years[1:]} if gain_loss else {}
    mc = None
    if band:
        mc = {
            ("aoi", y): (
                0.9 * (320 - 4 * i),
                1.1 * (320 - 4 * i),
                4.0 if i else None,
                25.0 if i else None,
            )
            for i, y in enumerate(years)
        }
    return account_table(stocks, areas, gains_losses, mc)


def test_timeseries_png(tmp_path: Path) -> None:
    years = [2020, 2021, 2022, 2023]
    pngs = {}
    for name, band, gl in [("plain", False, False), ("banded", True, False), ("both", True, True)]:
        csv = write_account(
            tmp_path / f"{name}.csv", _chart_account(years, band=band, gain_loss=gl)
        )
        pngs[name] = quicklook.timeseries_png(csv, tmp_path / f"{name}.png")
    for png in pngs.values():
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size == quicklook.CHART_SIZE
        img = _colours(png)
        assert _has(img[:40], BANNER_RED) > 5000
        # stock-difference net flux bars: emissions (red) in every interval here
        assert _has(img, (0xB2, 0x18, 0x2B), tol=3) > 500
    # the Monte Carlo band (light green fill) appears only when the account has the interval
    band_green = (0xC9, 0xE8, 0xBD)  # #78c679 at alpha 0.35 over white
    assert _has(_colours(pngs["banded"]), band_green, tol=12) > 1000
    assert _has(_colours(pngs["plain"]), band_green, tol=12) < 50  # (anti-aliased edges only)
    # gain-loss bars (light red, hatched) beside the stock-difference ones, only with gain-loss rows
    light_red = (0xF4, 0xA5, 0x82)
    assert _has(_colours(pngs["both"]), light_red, tol=3) > 300
    assert _has(_colours(pngs["banded"]), light_red, tol=3) < 50


def test_timeseries_reads_only_the_aoi_all_classes_total_rows(tmp_path: Path) -> None:
    """Zone, class and pool rows do not enter the chart: it equals the chart of the rows of zone
    aoi, "all classes", pool total alone (no double counting)."""
    full = account_table()  # two classes, a park zone, four pools, both methods
    keep = (full["zone_id"] == "aoi") & (full["class_name"] == "all classes")
    keep &= full["pool"] == "total"
    a = quicklook.timeseries_png(write_account(tmp_path / "full.csv", full), tmp_path / "a.png")
    b = quicklook.timeseries_png(
        write_account(tmp_path / "aoi.csv", full[keep]), tmp_path / "b.png"
    )
    assert keep.sum() == 3 and len(full) == 55
    assert np.array_equal(_colours(a), _colours(b))
    # and it does follow those rows
    doubled = full.copy()
    doubled.loc[keep, ["stock_mgc", "net_flux_mgco2e_per_yr"]] *= 2
    c = quicklook.timeseries_png(write_account(tmp_path / "x2.csv", doubled), tmp_path / "c.png")
    assert not np.array_equal(_colours(a), _colours(c))


def test_timeseries_of_a_single_year(tmp_path: Path) -> None:
    one = write_account(tmp_path / "one.csv", _chart_account([2020], band=False))
    png = quicklook.timeseries_png(one, tmp_path / "one.png")
    with Image.open(png) as im:
        assert im.size == quicklook.CHART_SIZE


def test_timeseries_refuses_the_old_account_layout(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text(
        "year,class_code,stock_total_mgc,interval,net_flux_mgco2e_per_yr\n2020,10,1.0,,\n"
    )
    with pytest.raises(OutputError, match="re-run the account step"):
        quicklook.timeseries_png(old, tmp_path / "old.png")


def test_the_aoi_outline_is_geopandas_own_and_the_map_is_rendered_once(
    cogs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AOI outline is what ``GeoSeries.boundary.plot`` draws (the PNGs are equal, byte for
    byte), and the map is rendered once, when it is saved: GeoSeries.plot ends with
    ``canvas.draw_idle()``, which on an Agg canvas renders the whole figure a second time."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renders: list[int] = []
    real_draw = FigureCanvasAgg.draw

    def draw(self: FigureCanvasAgg, *args: Any, **kwargs: Any) -> Any:
        renders.append(1)
        return real_draw(self, *args, **kwargs)

    monkeypatch.setattr(FigureCanvasAgg, "draw", draw)
    ours = quicklook.quicklook_png(cogs["stock"], tmp_path / "ours.png", aoi_gpkg=cogs["aoi"])
    assert len(renders) == 1

    def geopandas_outline(ax: Any, aoi_gpkg: Path, crs: Any) -> None:
        aoi = gpd.read_file(aoi_gpkg, layer="aoi").to_crs(crs)
        aoi.boundary.plot(ax=ax, color="#111111", linewidth=1.2)

    monkeypatch.setattr(quicklook, "_plot_aoi", geopandas_outline)
    theirs = quicklook.quicklook_png(cogs["stock"], tmp_path / "theirs.png", aoi_gpkg=cogs["aoi"])
    assert len(renders) == 3  # GeoSeries.plot's own render, then the save's
    assert ours.read_bytes() == theirs.read_bytes()


def test_the_aoi_outline_from_the_aoi_equals_the_one_from_the_geopackage(
    cogs: dict[str, Path], tmp_path: Path
) -> None:
    """The workflow draws a quick look with the run's AOI (rule ``quicklooks``), the report with
    the ``aoi`` layer of the year's GeoPackage when it has none: the same AOI in another CRS gives
    the same PNG, byte for byte (the outline is reprojected to the raster's CRS either way)."""
    from sinkmap.aoi import AOI

    frame = gpd.read_file(cogs["aoi"], layer="aoi")
    aoi = AOI(frame.geometry.iloc[0], str(frame.crs)).to_crs("EPSG:4326")
    with_aoi = quicklook.quicklook_png(cogs["stock"], tmp_path / "aoi.png", aoi=aoi)
    with_gpkg = quicklook.quicklook_png(cogs["stock"], tmp_path / "gpkg.png", aoi_gpkg=cogs["aoi"])
    without = quicklook.quicklook_png(cogs["stock"], tmp_path / "none.png")
    assert with_aoi.read_bytes() == with_gpkg.read_bytes() != without.read_bytes()
