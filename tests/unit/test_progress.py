"""Progress of long work: lines in a job's log (chunks written), a bar in a real terminal."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from sinkmap.grid import Grid
from sinkmap.io import LayerSpec, write_layers
from sinkmap.progress import Progress

from ._helpers import POOL_CSV, UTM_LEFT, UTM_TOP, write_tif


def _messages(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(start)]


def test_a_layer_write_logs_its_chunks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two layers of a 40 x 24 grid in 16-pixel chunks: 3 x 2 = 6 chunks each, 12 in all; with
    no interval every chunk is logged, ending at 12 of 12."""
    monkeypatch.setenv("SINKMAP_PROGRESS_INTERVAL", "0")
    grid = Grid("EPSG:32649", 10.0, UTM_LEFT, UTM_TOP, 24, 40, chunk=16)
    data = da.ones(grid.shape, chunks=grid.chunks, dtype="float32")
    layers = {
        tmp_path / "out" / f"{name}.tif": LayerSpec(data=data * k, dtype="float32", nodata=-1.0)
        for k, name in ((1, "a"), (2, "b"))
    }
    with caplog.at_level(logging.INFO, logger="sinkmap"):
        write_layers(grid, layers, threads=1, cog=False)
    lines = _messages(caplog, f"writing 2 layer(s) to {tmp_path / 'out'}:")
    counts = [int(m.group(1)) for line in lines if (m := re.search(r": (\d+) of 12 chunks", line))]
    assert lines[-1].endswith(": 12 of 12 chunks (100 %)"), lines
    assert counts == sorted(counts) and len(lines) == 12


def test_a_short_job_logs_one_line_at_its_end(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default interval (10 s) a count that ends at once is logged once, when it ends;
    SINKMAP_PROGRESS=0 logs nothing."""
    monkeypatch.delenv("SINKMAP_PROGRESS_INTERVAL", raising=False)
    with caplog.at_level(logging.INFO, logger="sinkmap"), Progress("x", 3, "plots") as p:
        for _ in range(3):
            p.update()
    assert _messages(caplog, "x:") == ["x: 3 of 3 plots (100 %)"]
    monkeypatch.setenv("SINKMAP_PROGRESS", "0")
    with caplog.at_level(logging.INFO, logger="sinkmap"), Progress("y", 3, "plots") as p:
        p.update(3)
    assert _messages(caplog, "y:") == []


def test_sinkmap_stock_in_a_terminal_shows_a_bar(tmp_path: Path) -> None:
    """`sinkmap stock` run in a real pseudo-terminal draws tqdm's bar of chunks on it (a 64 x 48
    land-cover map in 16-pixel chunks: 12 chunks per layer, 5 layers, 60 in all); the same command
    with its standard error in a file (as in a workflow job) draws none."""
    lulc = np.full((48, 64), 10, dtype="uint8")
    path = write_tif(tmp_path / "lulc.tif", lulc, res=10, left=UTM_LEFT, top=UTM_TOP, nodata=0)
    argv = [sys.executable, "-m", "sinkmap.cli", "stock", "--lulc", str(path)]
    argv += ["--pools", str(POOL_CSV), "--chunk", "16", "--threads", "1"]
    env = dict(os.environ)
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 x 100
    proc = subprocess.Popen(
        [*argv, "--out", str(tmp_path / "tty")],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(120) == 0, out.decode(errors="replace")
    os.close(main)
    text = out.decode(errors="replace")
    assert re.search(r"writing 5 layer\(s\) to /[^ ]*…: +\d+%\|", text), text
    assert re.search(r" \d+/60 \[", text), text  # 5 layers x 12 chunks
    with open(tmp_path / "stderr.txt", "w") as err:
        proc2 = subprocess.run(
            [*argv, "--out", str(tmp_path / "file")],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            timeout=120,
        )
    assert proc2.returncode == 0
    assert "%|" not in (tmp_path / "stderr.txt").read_text()
