"""The stocks, interval and Monte Carlo stages on a real Dask cluster: a ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1, started here, give the same outputs, byte for byte, as
the jobs' own threads (CSV rows compared without their ``computed_at`` time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tinyrun import (
    CLUSTER_STAGES,
    CLUSTER_TARGETS,
    output_digests,
    snakemake,
    stop_processes,
    write_aoi,
    write_config,
)

pytestmark = pytest.mark.workflow

DASK = Path(sys.executable).with_name("dask")


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A scheduler and two single-threaded worker processes; yields (address, their log folder).
    Stopped by PID at the end."""
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    info = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    try:
        with open(logs / "scheduler.log", "wb") as out:
            procs.append(
                subprocess.Popen(
                    [DASK, "scheduler", "--port", "0", "--scheduler-file", info, *common],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        for i in range(2):
            with open(logs / f"worker{i}.log", "wb") as out:
                cmd = [DASK, "worker", "--scheduler-file", info, "--nthreads", "1"]
                procs.append(
                    subprocess.Popen(
                        [*cmd, "--name", f"w{i}", *common], stdout=out, stderr=subprocess.STDOUT
                    )
                )
        address = _wait_for_workers(info, 2)
        yield address, logs
    finally:
        stop_processes(procs)


def _wait_for_workers(info: Path, n: int) -> str:
    from distributed import Client

    deadline = time.monotonic() + 120
    while not info.exists():
        assert time.monotonic() < deadline, "dask scheduler did not start"
        time.sleep(0.5)
    address = str(json.loads(info.read_text())["address"])
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(n, timeout=120)
    return address


def test_stages_on_dask_workers_equal_threaded(tmp_path: Path, dask_cluster) -> None:
    address, _ = dask_cluster
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_aoi(workdir)
    write_config(workdir, [2020, 2021])

    snakemake(workdir, *CLUSTER_TARGETS)
    threaded = output_digests(workdir / "results")
    assert {"2020/monte_carlo.csv", "sink/2020-2021/monte_carlo_gain_loss.csv"} <= set(threaded)
    assert "sink/2020-2021/net_flux_co2e.tif" in threaded

    # the same run, on the cluster, from the config's dask key (same folder: the layers' tags
    # name the AOI file by its path); a graph over 128 kB (a raster, or a table copied per tile) would warn into the job logs
    shutil.rmtree(workdir / "results")
    shutil.rmtree(workdir / "logs")
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["dask"] = {"scheduler": address}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {
        "PYTHONWARNINGS": "default",
        "DASK_DISTRIBUTED__ADMIN__LARGE_GRAPH_WARNING_THRESHOLD": "128kB",
    }
    snakemake(workdir, *CLUSTER_TARGETS, env=env)
    distributed = output_digests(workdir / "results")

    assert distributed == threaded
    logs = {p: p.read_text() for p in (workdir / "logs").rglob("*.log")}
    for stage in CLUSTER_STAGES:
        for path, text in logs.items():
            if path.parent.name == stage:
                assert f"dask: scheduler {address} with 2 workers" in text, path
    # every layer of the stocks and interval jobs was computed by the workers, block by block
    for path, text in logs.items():
        if path.parent.name in ("stocks", "interval"):
            assert "computed by the cluster's workers" in text, path
        assert "large graph" not in text, (path, text)
    # ... and both workers did some of it
    from distributed import Client

    with Client(address, timeout="60s") as client:
        done = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    assert len(done) == 2 and min(done.values()) > 100, done
    leftovers = [p for p in (workdir / "results").rglob(".*") if ".blocks" in p.name]
    assert leftovers == []


def test_write_layers_on_a_local_cluster_equal_threaded(tmp_path: Path) -> None:
    """``dask.scheduler: local`` (a LocalCluster of two worker processes): the layers a
    library call publishes are the same files, byte for byte, as on threads; its extra values
    (a tally) the same; no block file is left."""
    import dask.array as da
    import numpy as np

    from sinkmap.cluster import dask_cluster
    from sinkmap.grid import Grid
    from sinkmap.io import LayerSpec, write_layers

    grid = Grid("EPSG:32649", 10.0, 700_000.0, 2_060_000.0, width=1100, height=900, chunk=256)
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 40.0, size=grid.shape).astype(np.float32)
    values[rng.random(grid.shape) < 0.05] = np.nan

    def publish(folder: Path) -> tuple[bytes, float]:
        data = da.from_array(values, chunks=grid.chunks)
        spec = LayerSpec(data * 2, "float32", float("nan"), tags={"UNITS": "Mg C ha-1"})
        (total,) = write_layers(grid, {folder / "stock.tif": spec}, extra=[da.nansum(data)])
        return (folder / "stock.tif").read_bytes(), float(total)

    (tmp_path / "threads").mkdir()
    (tmp_path / "local").mkdir()
    threaded = publish(tmp_path / "threads")
    with dask_cluster({"scheduler": "local", "workers": 2}) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        on_cluster = publish(tmp_path / "local")
    assert on_cluster[0] == threaded[0]
    assert (
        on_cluster[1]
        == threaded[1]
        == pytest.approx(float(np.nansum(values, dtype=np.float64)), rel=1e-5)
    )
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == ["stock.tif"]


def test_write_tiles_on_a_local_cluster_equal_threaded(tmp_path: Path, caplog) -> None:
    """``write_tiles`` (what ``sinkmap stock`` writes through) with a cluster active: its workers
    compute the tiles (the writer's log says so), and the files are the same bytes and the
    tiles' results the same, in tile order, as on threads."""
    import logging

    import numpy as np

    from sinkmap.cluster import dask_cluster
    from sinkmap.grid import Grid
    from sinkmap.io import LayerSpec, write_tiles

    grid = Grid("EPSG:32649", 10.0, 700_000.0, 2_060_000.0, width=700, height=500, chunk=256)

    def blocks(tile):  # pixel (r, c) holds r * 1000 + c; the second layer its codes mod 200
        rows = np.arange(tile.row_off, tile.row_off + tile.height, dtype=np.float32)[:, None]
        cols = np.arange(tile.col_off, tile.col_off + tile.width, dtype=np.float32)[None, :]
        v = rows * 1000 + cols
        return iter([v, (v % 200).astype(np.uint8)]), (tile.id, float(v.sum(dtype=np.float64)))

    def publish(folder: Path) -> tuple[dict[str, bytes], list]:
        layers = {
            folder / "values.tif": LayerSpec(None, "float32", float("nan")),
            folder / "codes.tif": LayerSpec(None, "uint8", 0),
        }
        results = write_tiles(grid, layers, blocks, threads=2)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}, results

    threaded = publish(tmp_path / "threads")
    with dask_cluster({"scheduler": "local", "workers": 2}):
        with caplog.at_level(logging.INFO, logger="sinkmap.io"):
            on_cluster = publish(tmp_path / "local")
    assert "12 blocks of 2 layer(s) computed by the cluster's workers" in caplog.text
    assert list(threaded[0]) == ["codes.tif", "values.tif"]
    assert on_cluster == threaded
    assert [i for i, _ in threaded[1]] == [t.id for t in grid.tiles()]
    assert sum(total for _, total in threaded[1]) == sum(
        r * 1000 + c for r in range(500) for c in range(700)
    )


def test_cli_dask_option_computes_on_a_local_cluster(tmp_path: Path) -> None:
    """``sinkmap --dask local stock …`` (the real command, in its own process): the same layers
    byte for byte and the same totals as on threads; the totals also by hand (pixels × pool)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    lulc = rng.choice(np.array([0, 10, 40], np.uint8), size=(300, 260))
    with rasterio.open(
        tmp_path / "lulc.tif",
        "w",
        driver="GTiff",
        width=260,
        height=300,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32649",
        transform=from_origin(700_000.0, 2_060_000.0, 10.0, 10.0),
    ) as ds:
        ds.write(lulc, 1)
    pools = tmp_path / "pools.csv"
    pools.write_text(
        "lucode,c_above,c_below,c_soil,c_dead\n10,100.5,20.25,50,5.125\n40,5,0,40.75,0\n"
    )
    sinkmap = Path(sys.executable).with_name("sinkmap")

    def run(name: str, *dask: str) -> tuple[dict[str, bytes], dict[str, float]]:
        out = tmp_path / name
        proc = subprocess.run(
            [sinkmap, *dask, "stock", "--lulc", tmp_path / "lulc.tif", "--pools", pools]
            + ["--out", out, "--chunk", "128"],
            capture_output=True,
            text=True,
            check=True,
        )
        files = {p.name: p.read_bytes() for p in sorted(out.glob("*.tif"))}
        return files, json.loads(proc.stdout)

    threaded = run("threads")
    on_cluster = run("local", "--dask", "local")
    assert on_cluster[0] == threaded[0] and list(threaded[0]) == ["c_storage_bas.tif"]
    totals = threaded[1]["baseline"]["totals_mg_c"]
    assert on_cluster[1]["baseline"]["totals_mg_c"] == totals
    ha = 10 * 10 / 10_000
    n10, n40 = int((lulc == 10).sum()), int((lulc == 40).sum())
    by_hand = (n10 * (100.5 + 20.25 + 50 + 5.125) + n40 * (5 + 40.75)) * ha
    assert sum(totals[p] for p in ("above", "below", "soil", "dead")) == pytest.approx(by_hand)
    # the option is what chose the cluster: an address nothing listens on stops the command
    proc = subprocess.run(
        [sinkmap, "--dask", "tcp://127.0.0.1:9", "stock", "--lulc", tmp_path / "lulc.tif"]
        + ["--pools", pools, "--out", tmp_path / "none"],
        capture_output=True,
        text=True,
        env=os.environ | {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert proc.returncode == 2 and "cannot reach the Dask scheduler" in proc.stderr
