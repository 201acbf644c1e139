"""The fault matrix: every fault a user or an attacker can cause, one parametrised case each.

Each case runs the real workflow (a Snakemake subprocess on the tiny AOI) and asserts:

1. the message says what is wrong, where, and the fix (patterns per case);
2. the exit status (1 for a refused run, 0 where the tool recovers by itself);
3. nothing reached a final name that a clean run would not write byte for byte (a run refused
   before its first job leaves the folder and everything around it as it was);
4. no temporary is left (the library's atomic writes: ``.<name>.<hex>.part<suffix>``,
   ``.stage.tif``, ``.cog.tif``);
5. once the fault is removed, a plain rerun gives the same bytes as a clean run
   (``SOURCE_DATE_EPOCH`` is set, so the timestamps agree too).

Two clean references: the demo (synthetic inputs, one year, every output) and the real
registry entries (ESA WorldCover and CCI Biomass under their real paths and names) served by a
local file server that injects the network faults.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from affine import Affine
from servers import TileServer, tif_bytes
from tinyrun import REPO, TABLE, run_snakemake, snakemake_command, tmpdir_beside, write_aoi

from sinkmap.sources import REFUSED_SUFFIX, VERIFIED_RECORDS

pytestmark = pytest.mark.workflow

EPOCH = "1767225600"  # 2026-01-01T00:00:00Z: every timestamp of every run here
YEAR = 2021
WC = "ESA_WorldCover_10m_2021_v200_N18E108_Map.tif"
WC_PATH = f"/v200/2021/map/{WC}"
AGB = "N20E100_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2021-fv6.0.tif"
AGB_PATH = f"/2021/{AGB}"
SD_PATH = "/2021/N20E100_ESACCI-BIOMASS-L4-AGB_SD-MERGED-100m-2021-fv6.0.tif"
WC_T = Affine(1 / 12000, 0.0, 109.68, 0.0, -1 / 12000, 18.66)
CCI_T = Affine(1 / 1125, 0.0, 109.68, 0.0, -1 / 1125, 18.66)
WC_FETCH = f"resources/raw/esa_worldcover/v200/{YEAR}/manifest.json"
STOCK = f"results/{YEAR}/carbon_stock_total.tif"
LAND_COVER = f"results/{YEAR}/land_cover.tif"
BIOMASS = f"results/{YEAR}/biomass.tif"
#: A run as small as the faults need: one year, no gain-loss, no Monte Carlo, no change filter.
SMALL = {
    "account": {"gain_loss": {"enabled": False}, "uncertainty": {"enabled": False}},
    "change_filter": {"enabled": False},
}
HTTP_INPUTS = {
    "land_cover": {"dataset": "esa_worldcover"},
    "biomass": {"dataset": "esa_cci_biomass"},
}
TEMPORARY = re.compile(r"^\..+\.([0-9a-f]{8})\.(part.*|stage\.tif|cog\.tif)$")
#: The folders a catalog is written in and swapped through: ``.stac-<8 hex>-part``, ``-old``.
TEMPORARY_FOLDER = re.compile(r"^\..+-[0-9a-f]{8}-(part|old)$")


def _temporary(path: Path, root: Path) -> bool:
    """A temporary file, or a file inside a temporary folder (not at a final name)."""
    parts = path.relative_to(root).parts
    return bool(TEMPORARY.match(path.name)) or any(TEMPORARY_FOLDER.match(p) for p in parts)


# -- runs -------------------------------------------------------------------------------------


def write_config(workdir: Path, **edits: object) -> Path:
    """The matrix's config in ``workdir``: paths relative to it (the same bytes in any folder)."""
    cfg: dict[str, object] = {
        "aoi": {"path": "aoi.geojson", "name": "test AOI"},
        "years": [YEAR],
        "grid": {"crs": "EPSG:32649", "resolution": 10, "chunk": 256},
        "inputs": {
            "land_cover": {"dataset": "demo_worldcover"},
            "biomass": {"dataset": "demo_cci_biomass"},
        },
        "model": {"name": "lookup", "params": {"table": "pools.csv"}},
        "datasets": str(REPO / "config" / "datasets.yaml"),
        "resources_dir": "resources",
        "results_dir": "results",
        **SMALL,
    }
    cfg.update(edits)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def new_workdir(root: Path, **edits: object) -> Path:
    workdir = root / "work"
    workdir.mkdir(parents=True)
    write_aoi(workdir)
    shutil.copyfile(TABLE, workdir / "pools.csv")  # the demo's pool table, the user's copy
    write_config(workdir, **edits)
    return workdir


def run_env(server: TileServer | None = None, **extra: str) -> dict[str, str]:
    env = {  # no setting of the user's, but the tests' job server (tests/conftest.py)
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SINKMAP_") or k.startswith("SINKMAP_JOB_SERVER")
    }
    env |= {"PYTHONWARNINGS": "ignore", "SOURCE_DATE_EPOCH": EPOCH, "SINKMAP_OFFLINE": "1"}
    if server is not None:
        env |= {
            "SINKMAP_OFFLINE": "0",
            "SINKMAP_BASE_URL_ESA_WORLDCOVER": server.url,
            "SINKMAP_BASE_URL_ESA_CCI_BIOMASS": server.url,
            "SINKMAP_HTTP_RETRIES": "3",
            "SINKMAP_HTTP_BACKOFF": "0.05",
            "SINKMAP_HTTP_TIMEOUT": "10",
            "NO_PROXY": "127.0.0.1",
        }
    return env | extra


def command(workdir: Path, *targets: str) -> list[str]:
    """Snakemake as a user runs it: from the run's folder, its config by a relative name."""
    cmd = snakemake_command(workdir, *targets)
    cmd[cmd.index("--configfile") + 1] = "config.yaml"
    return cmd


def run(
    workdir: Path, *targets: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_snakemake(command(workdir, *targets), cwd=workdir, env=env or run_env(), timeout=600)


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


# -- what a folder holds -----------------------------------------------------------------------


def snapshot(root: Path, tops: tuple[str, ...] = ("results", "resources")) -> dict[str, str]:
    """sha256 of every file at a final name under ``tops`` of ``root``: not temporaries (see
    :func:`temporaries`), a fetch folder's verified records (a cache of checks) or downloads set
    aside (``*.refused``, kept for the user to inspect)."""
    out = {}
    for top in tops:
        for p in sorted((root / top).rglob("*")):
            if (
                p.is_file()
                and p.name != VERIFIED_RECORDS
                and not p.name.endswith(REFUSED_SUFFIX)
                and not _temporary(p, root)
            ):
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def everything(root: Path) -> dict[str, str]:
    """Every file under ``root`` but Snakemake's own records (.snakemake/)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".snakemake" not in p.relative_to(root).parts
    }


def temporaries(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if TEMPORARY.match(p.name) or (p.is_dir() and TEMPORARY_FOLDER.match(p.name))
    )


def published_subset_of(
    workdir: Path, clean: dict[str, str], tops: tuple[str, ...] = ("results", "resources")
) -> None:
    """Every file at a final name under ``tops`` is the clean run's, byte for byte (nothing
    half-written)."""
    now = snapshot(workdir, tops)
    wrong = sorted(k for k, v in now.items() if clean.get(k) != v)
    assert wrong == [], f"files at final names that a clean run does not write so: {wrong}"


def within(clean: dict[str, str], *prefixes: str) -> dict[str, str]:
    return {k: v for k, v in clean.items() if k.startswith(prefixes)}


def message_has(proc: subprocess.CompletedProcess[str], patterns: tuple[str, ...]) -> None:
    out = proc.stdout + proc.stderr
    for pattern in patterns:
        assert re.search(pattern, out, re.S), f"no {pattern!r} in:\n{out[-4000:]}"
    assert "Traceback (most recent call last)" not in out, out[-4000:]


# -- the two clean references ------------------------------------------------------------------


def served_files(server: TileServer) -> None:
    """ESA WorldCover 2021 and CCI Biomass 2021 around the tiny AOI, real paths and names."""
    rng = np.random.default_rng(11)
    codes = np.array([10, 20, 30, 40, 50, 80], dtype="uint8")
    lc = np.repeat(np.repeat(rng.choice(codes, size=(40, 40)), 12, 0), 12, 1).astype("uint8")
    agb = rng.integers(20, 300, size=(48, 48)).astype("uint16")
    server.files = {
        WC_PATH: tif_bytes(lc, crs="EPSG:4326", transform=WC_T, nodata=0),
        AGB_PATH: tif_bytes(agb, crs="EPSG:4326", transform=CCI_T),
        SD_PATH: tif_bytes(agb // 5, crs="EPSG:4326", transform=CCI_T),
    }
    server.faults.clear()


@pytest.fixture(scope="module")
def server() -> Iterator[TileServer]:
    srv = TileServer().start()
    served_files(srv)
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(server: TileServer) -> Iterator[TileServer]:
    """The module's server with its clean files and no faults, restored after the test."""
    served_files(server)
    yield server
    served_files(server)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a clean demo run (one year, all targets); tests copy it, never change it.
    Made twice: forked from the test process's job server, as the reruns it is compared with are
    (they share the server's hash seed), and with a hash seed of its own, which the server
    declines, so in processes of their own; the two are the same bytes (an output that depended
    on the order of a set of strings, or on a process being forked, would differ)."""
    workdir = new_workdir(tmp_path_factory.mktemp("demo_clean"))
    ok(run(workdir))
    seeded = new_workdir(tmp_path_factory.mktemp("demo_seeded"))
    ok(run(seeded, env=run_env(PYTHONHASHSEED="1")))
    assert snapshot(seeded) == snapshot(workdir)
    return workdir


@pytest.fixture(scope="module")
def demo_clean(demo_run: Path) -> dict[str, str]:
    """Every output of the clean demo run."""
    return snapshot(demo_run)


@pytest.fixture(scope="module")
def http_clean(tmp_path_factory: pytest.TempPathFactory, server: TileServer) -> dict[str, str]:
    """The downloads and the year's stocks of a clean run of the real registry entries."""
    served_files(server)
    workdir = new_workdir(tmp_path_factory.mktemp("http_clean"), inputs=HTTP_INPUTS)
    ok(run(workdir, STOCK, BIOMASS, env=run_env(server)))
    return snapshot(workdir)


# -- network -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    faults: tuple[str, ...]
    status: int
    message: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


NETWORK = {
    # 3 tries (SINKMAP_HTTP_RETRIES=3): a fault on every one of them is persistent
    "connection reset mid-file": Network(
        ("drop",) * 3, 1, (WC, r"after [\d,]+ of [\d,]+ bytes", "run again later")
    ),
    "503 twice, then the file": Network(("503", "503"), 0),
    "truncated body, dishonest length": Network(
        ("truncate",) * 3, 1, (WC, r"[\d,]+ of [\d,]+ bytes", "run again later")
    ),
    "truncated body, honest length": Network(
        ("short",) * 3, 1, (WC, r"truncated or corrupt", "run again later")
    ),
    "404": Network(("404",), 1, (WC_PATH, "404", r"version|year|SINKMAP_BASE_URL")),
    "slow host past the timeout": Network(
        ("stall",) * 3,
        1,
        (WC, r"time(d)? ?out", "SINKMAP_HTTP_TIMEOUT"),
        {"SINKMAP_HTTP_TIMEOUT": "0.3"},
    ),
    "offline": Network((), 1, (WC, "SINKMAP_OFFLINE"), {"SINKMAP_OFFLINE": "1"}),
}


@pytest.mark.parametrize("case", NETWORK.values(), ids=NETWORK.keys())
def test_network_fault(
    case: Network, fresh_server: TileServer, http_clean: dict[str, str], tmp_path: Path
) -> None:
    """A fault of the land-cover download: a clear error or the right file, then a plain rerun
    fetches the clean run's bytes."""
    workdir = new_workdir(tmp_path, inputs=HTTP_INPUTS)
    if case.faults:
        fresh_server.fail(WC_PATH, *case.faults)
    asked = fresh_server.count()
    proc = run(workdir, WC_FETCH, env=run_env(fresh_server, **case.env))
    assert proc.returncode == case.status, proc.stderr[-4000:]
    message_has(proc, case.message)
    if case.env.get("SINKMAP_OFFLINE") == "1":
        assert fresh_server.count() == asked  # offline asks the network nothing
    published_subset_of(workdir, http_clean)
    assert temporaries(workdir) == []
    served_files(fresh_server)  # the fault removed
    ok(run(workdir, WC_FETCH, env=run_env(fresh_server)))
    assert snapshot(workdir) == within(http_clean, "resources/raw/esa_worldcover")
    assert temporaries(workdir) == []


# -- inputs ------------------------------------------------------------------------------------


def _land_cover(server: TileServer, edit: Callable[[np.ndarray], np.ndarray], **kw: object) -> None:
    array, transform = _read(server.files[WC_PATH])
    kw = {"crs": "EPSG:4326", "transform": transform, "nodata": 0} | kw
    server.files[WC_PATH] = tif_bytes(edit(array), **kw)  # type: ignore[arg-type]


def _biomass(server: TileServer, edit: Callable[[np.ndarray], np.ndarray]) -> None:
    array, transform = _read(server.files[AGB_PATH])
    server.files[AGB_PATH] = tif_bytes(edit(array), crs="EPSG:4326", transform=transform)


def _read(data: bytes) -> tuple[np.ndarray, Affine]:
    """The array and transform of a GeoTIFF's bytes."""
    from rasterio.io import MemoryFile

    with MemoryFile(data) as mem, mem.open() as ds:
        return ds.read(1), ds.transform


def corrupt(server: TileServer) -> None:
    server.files[WC_PATH] = b"II*\x00" + bytes(range(256)) * 40


def no_crs(server: TileServer) -> None:
    array, transform = _read(server.files[WC_PATH])
    server.files[WC_PATH] = tif_bytes(array, crs=None, transform=transform, nodata=0)  # type: ignore[arg-type]


def elsewhere(server: TileServer) -> None:
    """The tile's content moved 2 degrees east: it covers none of the AOI."""
    _land_cover(server, lambda a: a, transform=WC_T * Affine.translation(24000, 0))


INPUTS = {
    # fault, targets that meet it, message
    "corrupt GeoTIFF": (
        corrupt,
        (STOCK,),
        (WC, r"not a (readable )?GeoTIFF|cannot (be )?read|corrupt"),
    ),
    "no CRS": (no_crs, (STOCK,), (WC, r"no CRS|CRS")),
    "no overlap with the AOI": (
        elsewhere,
        (STOCK,),
        (r"land.cover", r"AOI", r"0(\.0)? ?%|no value"),
    ),
    "all nodata": (
        lambda s: _land_cover(s, np.zeros_like),
        (STOCK,),
        (r"land.cover", r"AOI", r"no value|nodata"),
    ),
    "biomass outside its plausible range (x10, a wrong scale)": (
        lambda s: _biomass(s, lambda a: a * 10),
        (BIOMASS,),
        (r"biomass", r"1,?000", r"out_of_range|unit|scale"),
    ),
}


@pytest.mark.parametrize(("fault", "targets", "message"), INPUTS.values(), ids=INPUTS.keys())
def test_bad_input(
    fault: Callable[[TileServer], None],
    targets: tuple[str, ...],
    message: tuple[str, ...],
    fresh_server: TileServer,
    http_clean: dict[str, str],
    tmp_path: Path,
) -> None:
    """A served input that is wrong in content: refused with a message naming it and the fix,
    then the right file served and a plain rerun gives the clean run's bytes."""
    workdir = new_workdir(tmp_path, inputs=HTTP_INPUTS)
    fault(fresh_server)
    bad = dict(fresh_server.files)
    proc = run(workdir, *targets, env=run_env(fresh_server))
    assert proc.returncode == 1, proc.stderr[-4000:]
    message_has(proc, message)
    assert fresh_server.files == bad
    # a download refused at align is set aside (renamed *.refused), one refused at fetch never
    # kept: either way no result, and nothing under resources/ a clean run does not write
    published_subset_of(workdir, http_clean)
    assert temporaries(workdir) == []
    served_files(fresh_server)
    ok(run(workdir, *targets, env=run_env(fresh_server)))
    now = snapshot(workdir)
    assert now == {k: http_clean[k] for k in now}, "a rerun differs from the clean run"
    assert {t for t in targets} <= set(now)
    assert temporaries(workdir) == []


def test_a_cached_download_damaged_on_disk_is_fetched_anew(
    fresh_server: TileServer, http_clean: dict[str, str], tmp_path: Path
) -> None:
    """A downloaded tile cut short on disk after its fetch: align refuses it against its manifest
    record, sets it aside (renamed, not deleted) and says the next run fetches it anew; a plain
    rerun does, and gives the clean run's bytes."""
    workdir = new_workdir(tmp_path, inputs=HTTP_INPUTS)
    ok(run(workdir, WC_FETCH, env=run_env(fresh_server)))
    tile = workdir / "resources/raw/esa_worldcover/v200/2021" / WC
    tile.write_bytes(tile.read_bytes()[:5000])
    proc = run(workdir, LAND_COVER, env=run_env(fresh_server))
    assert proc.returncode == 1
    message_has(proc, (WC, "5,000 bytes", r"set aside", "fetches them anew"))
    assert tile.with_name(WC + ".refused").stat().st_size == 5000
    published_subset_of(workdir, http_clean, ("results",))
    ok(run(workdir, LAND_COVER, env=run_env(fresh_server)))
    now = snapshot(workdir)
    assert now == {k: http_clean[k] for k in now} and LAND_COVER in now
    assert temporaries(workdir) == []


def test_a_class_missing_from_the_pool_table(demo_clean: dict[str, str], tmp_path: Path) -> None:
    """The land cover holds a class (20, shrubland) the user's pool table has no row for: refused
    with the class and the table named; with the row back, a plain rerun gives the clean bytes."""
    workdir = new_workdir(tmp_path)
    table = TABLE.read_text(encoding="utf-8")
    lines = table.splitlines(keepends=True)
    (workdir / "pools.csv").write_text(
        "".join(line for line in lines if not line.startswith("20,")), encoding="utf-8"
    )
    proc = run(workdir, STOCK)
    assert proc.returncode == 1
    message_has(proc, (r"\b20\b", r"pools\.csv"))
    published_subset_of(workdir, demo_clean)
    assert temporaries(workdir) == []
    (workdir / "pools.csv").write_text(table, encoding="utf-8")
    ok(run(workdir, STOCK))
    now = snapshot(workdir)
    assert now == {k: demo_clean[k] for k in now} and STOCK in now
    assert temporaries(workdir) == []


# -- refused before any job: AOI, config, security ---------------------------------------------


def _aoi_file(workdir: Path, what: str) -> None:
    path = workdir / "aoi.geojson"
    if what == "missing":
        path.unlink()
    elif what == "invalid":
        path.write_text("{not json", encoding="utf-8")
    elif what == "empty":
        gpd.GeoDataFrame({"name": []}, geometry=[], crs="EPSG:4326").to_file(path)
    elif what == "no CRS":
        gdf = gpd.read_file(path)
        gdf.set_crs(None, allow_override=True).to_file(workdir / "aoi.shp")
        path.unlink()
        for f in workdir.glob("aoi.*"):
            if f.suffix == ".prj":
                f.unlink()
    elif what == "far outside the grid's zone":  # Lyon, France, with a UTM 49N grid
        poly = shapely.box(4.80, 45.70, 4.86, 45.76)
        gpd.GeoDataFrame({"name": ["far"]}, geometry=[poly], crs="EPSG:4326").to_file(path)


@dataclass(frozen=True)
class Refused:
    edit: Callable[[Path], None]
    message: tuple[str, ...]


def _config(**edits: object) -> Callable[[Path], None]:
    def edit(workdir: Path) -> None:
        cfg = yaml.safe_load((workdir / "config.yaml").read_text(encoding="utf-8"))
        for dotted, value in edits.items():
            *parents, last = dotted.split(".")
            node = cfg
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        (workdir / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")

    return edit


def _config_text(replace: str, by: str) -> Callable[[Path], None]:
    def edit(workdir: Path) -> None:
        path = workdir / "config.yaml"
        text = path.read_text(encoding="utf-8")
        assert replace in text
        path.write_text(text.replace(replace, by), encoding="utf-8")

    return edit


def _registry(text: Callable[[str], str]) -> Callable[[Path], None]:
    """A user's own datasets.yaml: the repository's, edited as text."""

    def edit(workdir: Path) -> None:
        original = (REPO / "config" / "datasets.yaml").read_text(encoding="utf-8")
        (workdir / "datasets.yaml").write_text(text(original), encoding="utf-8")
        _config(datasets="datasets.yaml")(workdir)

    return edit


def _traversal_in_pattern(text: str) -> str:
    pattern = '    map: "ESA_WorldCover_10m_{year}_{version}_{tile}_Map.tif"'
    assert pattern in text
    return text.replace(pattern, '    map: "../../../../../escaped_{year}_{tile}.tif"', 1)


PWNED = "pwned-by-yaml"
TAG = f'!!python/object/apply:os.system ["touch {PWNED}"]'

REFUSED = {
    "AOI missing": Refused(
        lambda w: _aoi_file(w, "missing"), ("aoi.geojson", "does not exist", "aoi.path")
    ),
    "AOI not a vector file": Refused(
        lambda w: _aoi_file(w, "invalid"), ("aoi.geojson", r"cannot read", "GeoPackage")
    ),
    "AOI empty": Refused(lambda w: _aoi_file(w, "empty"), ("aoi.geojson", "no features")),
    "AOI without a CRS": Refused(
        lambda w: (_aoi_file(w, "no CRS"), _config(**{"aoi.path": "aoi.shp"})(w)),
        ("aoi.shp", "no CRS", "Set Layer CRS"),
    ),
    "AOI far outside the grid's zone": Refused(
        lambda w: _aoi_file(w, "far outside the grid's zone"),
        ("EPSG:32649", r"zone", r"EPSG:326(31|32)"),
    ),
    "config key misspelt": Refused(_config_text("years:", "yeras:"), ("yeras", "years")),
    "config value of the wrong type": Refused(
        _config(**{"grid.resolution": "ten"}), ("grid.resolution", "ten")
    ),
    "config value out of range": Refused(_config(**{"grid.resolution": -10}), ("grid.resolution",)),
    "grid units not metres (US feet)": Refused(
        _config(**{"grid.crs": "EPSG:2264"}), ("EPSG:2264", r"met(re|er)")
    ),
    "traversal in inputs.<role>.version": Refused(
        _config(**{"inputs.land_cover.version": "../../../../escaped"}), ("version", r"\.\./")
    ),
    "traversal in a registry file pattern": Refused(
        _registry(_traversal_in_pattern), ("demo_worldcover", r"\.\./")
    ),
    "YAML tag in the dataset registry": Refused(
        _registry(lambda text: f"note: {TAG}\n{text}"), (r"datasets\.yaml", r"python/object")
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_refused_before_any_job(case: Refused, tmp_path: Path) -> None:
    """Bad AOI, config or a hostile path or tag: exit status 1 before any job, the message names
    the key or file and the fix, and nothing in or around the run's folder changed (so a rerun
    once it is fixed is a clean run)."""
    workdir = new_workdir(tmp_path)
    case.edit(workdir)
    before = everything(tmp_path)
    proc = run(workdir)
    assert proc.returncode == 1, proc.stdout[-3000:]
    message_has(proc, case.message)
    assert "Job stats" not in proc.stdout + proc.stderr  # no job was planned
    assert everything(tmp_path) == before
    assert not (workdir / PWNED).exists() and not (REPO / PWNED).exists()


def test_yaml_tag_in_the_config_is_refused_by_every_entry_point(tmp_path: Path) -> None:
    """A tag that would run a command when the config is read: plain Snakemake refuses the file
    (its own loader, with its own words), ``sinkmap validate`` and ``sinkmap run`` name the
    file, the line and the fix; nothing runs and nothing is written."""
    workdir = new_workdir(tmp_path)
    _config_text("years:", f"note: {TAG}\nyears:")(workdir)
    before = everything(tmp_path)
    proc = run(workdir)
    assert proc.returncode == 1
    message_has(proc, ("not valid JSON or YAML",))
    cli = [sys.executable, "-m", "sinkmap.cli"]
    for args, cwd in (
        (["validate", str(workdir / "config.yaml")], workdir),
        (["run", "--configfile", str(workdir / "config.yaml")], REPO),
    ):
        proc = subprocess.run(
            cli + args, cwd=cwd, capture_output=True, text=True, env=run_env(), timeout=300
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr  # a sinkmap command's error
        message_has(proc, ("config.yaml", r"line \d+", "python/object", "remove the tag"))
    assert everything(tmp_path) == before
    assert not (workdir / PWNED).exists() and not (REPO / PWNED).exists()


# -- run: kill -9 at every stage, deleted outputs ----------------------------------------------


#: The jobs that write for long: their kill waits for a temporary (their imports and reads alone
#: can take more than 1.5 s on a loaded machine, so a fixed delay would miss the write). The
#: others are killed as soon as their start is logged: forked
#: warm from the job server (sinkmap.stages.jobserver), a light job's whole life (0.03-0.5 s) is
#: shorter than a few of this test's polls, so a later kill would find it, and the jobs started
#: beside it, already made.
WRITERS = {"align": 120.0, "stocks": 120.0}


def _kill_at(workdir: Path, rule: str, later: Sequence[str] = ()) -> str:
    """Start a plain run and kill -9 its process group while ``rule`` runs: when a temporary
    appears (:data:`WRITERS`, up to 120 s), else as soon as it starts. Returns how the kill
    landed. "already made" when an earlier run made ``rule`` beside another job: the kill then
    lands in the first job of ``later`` that starts (or the run ends without any), so that the
    run does not go on to make every later stage before the next kill."""
    proc = subprocess.Popen(
        command(workdir),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=run_env() | tmpdir_beside(workdir),
        start_new_session=True,
    )
    headers = {f"{local}rule {name}:": name for name in (rule, *later) for local in ("", "local")}
    started = threading.Event()
    hit: list[str] = []  # the first of rule and later whose job started
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            name = headers.get(line.strip())
            if name is not None and not hit:
                hit.append(name)
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    how = "ended before the kill"
    try:
        deadline = time.monotonic() + 300
        while not started.wait(0.05):
            if proc.poll() is not None:  # made earlier (jobs of one stage may run side by side)
                return "already made"
            assert time.monotonic() < deadline, f"rule {rule} never started:\n{''.join(lines)}"
        wait = WRITERS.get(hit[0], 0.0)
        t0 = time.monotonic()
        while proc.poll() is None:
            if not wait:  # a light job: killed at once (a scan for temporaries takes longer)
                how = "at its start"
                break
            if temporaries(workdir):
                how = "mid-write"
                break
            if time.monotonic() - t0 > wait:
                how = f"{wait} s into the job"
                break
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        reader.join(5)
    assert how != "ended before the kill", "".join(lines)[-3000:]
    return how if hit[0] == rule else "already made"


#: The demo's rules in the order a one-year run meets them.
STAGES = (
    "fetch",
    "grid",
    "align",
    "stocks",
    "geopackage",
    "account",
    "account_json",
    "report",
    "qgis_project",
    "stac",
)


def test_kill_9_at_every_stage_then_plain_reruns(
    demo_clean: dict[str, str], tmp_path: Path
) -> None:
    """kill -9 of the whole run while each stage runs in turn, each time a plain rerun (no
    --unlock, no --rerun-incomplete) that goes on to the next kill; after every kill nothing at a
    final name differs from a clean run, and the last rerun gives the clean run's bytes, with no
    temporary left."""
    workdir = new_workdir(tmp_path)
    landed = {}
    for i, rule in enumerate(STAGES):
        landed[rule] = _kill_at(workdir, rule, STAGES[i + 1 :])
        published_subset_of(workdir, demo_clean)
    proc = run(workdir)
    ok(proc)
    assert snapshot(workdir) == demo_clean
    assert temporaries(workdir) == []
    print("kill -9 landed:", landed)  # shown with pytest -s
    # the jobs that write for long are caught mid-write; where the others' kills land (start,
    # computation or write) depends on the machine's speed
    assert landed["align"] == "mid-write" or landed["stocks"] == "mid-write", landed
    assert sum(how == "already made" for how in landed.values()) <= 2, landed


def test_a_deleted_output_is_rebuilt_alone(
    demo_run: Path, demo_clean: dict[str, str], tmp_path: Path
) -> None:
    """A deleted stock layer: the rerun makes it and what reads it, downloads and aligns nothing,
    and every file is the clean run's again."""
    workdir = tmp_path / "work"
    shutil.copytree(demo_run, workdir)  # with Snakemake's records and the files' times
    (workdir / STOCK).unlink()
    proc = run(workdir)
    ok(proc)
    jobs = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))
    assert "stocks" in jobs and not jobs & {"fetch", "grid", "align"}, jobs
    assert snapshot(workdir) == demo_clean


# -- markup in names that reach the report -----------------------------------------------------


class _Elements(HTMLParser):
    """Script elements, event-handler attributes and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.handlers += [f"{tag} {k}" for k, _ in attrs if k.lower().startswith("on")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_every_name_reaches_the_report_as_text(tmp_path: Path) -> None:
    """The AOI's name, zone names and codes, and the pool table's class names carry markup: the
    run completes and the report shows them as text (escaped), never as elements."""
    workdir = new_workdir(tmp_path)
    aoi = gpd.read_file(workdir / "aoi.geojson")
    west = aoi.geometry.iloc[0].intersection(shapely.box(109.60, 18.60, 109.70, 18.70))
    gpd.GeoDataFrame(
        {"code": ["<b>W</b>"], "name": [f"west {MARKUP}"]}, geometry=[west], crs="EPSG:4326"
    ).to_file(workdir / "zones.geojson")
    table = (REPO / "config" / "pools" / "worldcover_ipcc_tier1.csv").read_text(encoding="utf-8")
    table = table.replace("Tree cover", f"Tree cover {MARKUP}".replace(",", ";"), 1)
    (workdir / "pools.csv").write_text(table, encoding="utf-8")
    write_config(
        workdir,
        aoi={"path": "aoi.geojson", "name": f"AOI {MARKUP}"},
        model={"name": "lookup", "params": {"table": "pools.csv"}},
        account=SMALL["account"]
        | {"zones": {"path": "zones.geojson", "id_field": "code", "name_field": "name"}},
    )
    ok(run(workdir))
    page = (workdir / "results" / "report.html").read_text(encoding="utf-8")
    elements = _Elements()
    elements.feed(page)
    assert elements.scripts == 0 and elements.handlers == [], elements.handlers
    text = " ".join(elements.text)
    for name in (f"AOI {MARKUP}", f"west {MARKUP}", "Tree cover <script>"):
        assert name in text, name  # shown as text
    assert temporaries(workdir) == []
