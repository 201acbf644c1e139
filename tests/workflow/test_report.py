"""The HTML report of a real workflow run, rendered in a real headless browser (Debian's chromium).

Snakemake runs the workflow on a tiny AOI (two years, one interval), ``build_report`` writes the
report, and chromium loads it with JavaScript unused and no network: ``--dump-dom`` gives the DOM it
built (every <img> must be a PNG data: URI that decodes, every table must have its rows) and
``--screenshot`` what it painted (not blank; the embedded maps' colours on screen).
"""

from __future__ import annotations

import base64
import html
import io
import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sinkmap import OUTPUT_VERSION
from sinkmap.publish.report import build_report

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv"
YEARS = [2020, 2021]

# The AOI of test_workflow.py: ~4 km2 around the county town (lon/lat).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "chromium is not on PATH: the report test renders the HTML report in a real headless "
            "browser. Install it with `apt-get install chromium` (Debian; .ci/run does this).",
            pytrace=False,
        )
    return exe


def _browse(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"chromium-profile-{time.monotonic_ns()}"
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    env = os.environ | {"HOME": str(tmp)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-3000:]}"
    return proc


class _DOM(HTMLParser):
    """Collects the <img> sources, the rows of each table and anything that would load a resource."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: dict[str, int] = {}
        self.table: str | None = None
        self.external: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "table":
            self.table = a.get("id") or f"table{len(self.rows)}"
            self.rows[self.table] = 0
        elif tag == "tr" and self.table:
            self.rows[self.table] += 1
        elif tag in ("script", "iframe", "object", "embed"):
            self.scripts += 1
        elif tag == "link":
            self.external.append(str(a))
        for key in ("src", "href", "srcset"):
            value = (a.get(key) or "").strip().lower()
            if value and not value.startswith(("data:", "#")):
                self.external.append(f"{tag} {key}={value[:80]}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(published_run: Path) -> Path:
    _chromium()  # fail early, with the install command, if there is no browser
    out = build_report(
        published_run / "results", published_run / "config.yaml", published_run / "report_cli.html"
    )
    assert out == published_run / "report_cli.html"
    # the workflow's own report rule wrote the same document (modulo its generation time)
    assert (published_run / "results" / "report.html").stat().st_size > 0
    return out


def test_report_is_self_contained_and_complete(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    dom = _DOM()
    dom.feed(text)
    assert dom.external == [] and dom.scripts == 0  # loads nothing from anywhere
    assert "@import" not in text and "url(" not in text
    # maps: stock, land cover and the state's strata per year, net flux per interval, plus the
    # time series and the variance shares of the last year's stock and of each interval's flux
    assert len(dom.images) == 3 * len(YEARS) + (len(YEARS) - 1) + 1 + 1 + (len(YEARS) - 1)
    assert 'id="sensitivity-0"' in text
    assert all(src.startswith("data:image/png;base64,") for src in dom.images)
    body = " ".join(dom.text)
    assert "SYNTHETIC DEMO DATA" in body and 'id="synthetic-banner"' in text
    assert OUTPUT_VERSION in body and 'id="output-version"' in text  # output_version
    # citations: model, method, datasets (registry), pool table sources
    assert "IPCC 2006" in body and "Eq. 2.5" in body
    assert "Zanaga et al. 2022" in body  # demo_worldcover's citation in config/datasets.yaml
    pools = pd.read_csv(TABLE)
    assert pools.loc[pools["lucode"] == 10, "source"].iloc[0][:60] in body
    # the run configuration, verbatim
    config = (report.parent / "config.yaml").read_text(encoding="utf-8")
    assert html.escape(config) in text
    # account tables: totals per year, one per year by class
    account = pd.read_csv(report.parent / "results" / "carbon_account.csv")
    shown = _class_rows(account)
    assert dom.rows["totals"] == 1 + len(YEARS)
    for year in YEARS:
        assert dom.rows[f"classes-{year}"] == 1 + int((shown & (account["year"] == year)).sum())
        assert dom.rows[f"zones-{year}"] == 1 + 2  # the tiny run's two zones
    assert "Zones" in body
    # the carbon state: one table per year, a row per category x transition x stratum
    for year in YEARS:
        state = pd.read_csv(report.parent / "results" / str(year) / "state_summary.csv")
        assert dom.rows[f"state-{year}"] == 1 + len(state)
        assert all(name in body for name in set(state["stratum"]) | set(state["transition"]))


def _class_rows(account: pd.DataFrame) -> pd.Series:
    """The account rows the per-class tables show: the AOI's classes, total pool, stock difference."""
    return (
        (account["zone_id"] == "aoi")
        & (account["class_name"] != "all classes")
        & (account["pool"] == "total")
        & (account["method"] == "stock-difference")
    )


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    started = time.monotonic()
    dumped = _browse(tmp_path, "--dump-dom", url).stdout
    dom = _DOM()
    dom.feed(dumped)
    assert dom.external == [] and dom.scripts == 0
    assert len(dom.images) == 3 * len(YEARS) + (len(YEARS) - 1) + 1 + 1 + (len(YEARS) - 1)
    for src in dom.images:
        header, _, payload = src.partition(",")
        assert header == "data:image/png;base64"
        png = base64.b64decode(payload, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as im:
            im.verify()
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.width >= 600 and im.height >= 400
    account = pd.read_csv(report.parent / "results" / "carbon_account.csv")
    assert dom.rows["totals"] == 1 + len(YEARS)
    assert sum(dom.rows[f"classes-{y}"] for y in YEARS) == len(YEARS) + int(
        _class_rows(account).sum()
    )
    assert dom.rows["datasets"] >= 2 and dom.rows["pools"] >= 2
    assert "SYNTHETIC DEMO DATA" in " ".join(dom.text)

    shot = tmp_path / "shot.png"
    _browse(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", url)
    with Image.open(shot) as im:
        assert im.size == (1200, 3000)
        img = np.asarray(im.convert("RGB"))
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 100, "the screenshot is blank or nearly so"

    def count(rgb: tuple[int, int, int], tol: int = 3) -> int:
        return int((np.abs(img.astype(int) - rgb).max(axis=-1) <= tol).sum())

    # painted from the embedded PNGs (the page's own CSS uses none of these colours):
    assert count((0xFA, 0x00, 0x00)) > 2000  # WorldCover built-up, the land-cover map of the town
    # emission bars of the time-series chart (stock difference; the tiny AOI's town grows)
    assert count((0xB2, 0x18, 0x2B)) > 250
    assert count((0xB0, 0x00, 0x20)) > 20_000  # the synthetic banner (page and figures)
    assert time.monotonic() - started < 60
