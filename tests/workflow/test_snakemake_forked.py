"""The workflow tests' Snakemake runs, forked from a job server (tinyrun.run_snakemake), print,
exit with and refuse what the same command does in a process of its own."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyrun import run_snakemake, snakemake_command, tmpdir_beside, write_aoi, write_config

from sinkmap.stages import jobserver

pytestmark = pytest.mark.workflow

#: What differs between two runs of one command: the times Snakemake prints (its log's name, a
#: job's "[Sat Dec  5 02:06:52 2026]") and the run's workflow ID (a random UUID).
_PER_RUN = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d[:.]?\d\d[:.]?\d\d(\.\d+)?|\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _sorted_lists(line: str) -> str:
    """Each "; "-separated part of ``line`` with its comma-separated list after its last ": "
    sorted (a job's input, output, reason)."""
    parts = []
    for part in line.split("; "):
        head, sep, items = part.rpartition(": ")
        parts.append(head + sep + ", ".join(sorted(items.split(", "))) if sep else part)
    return "; ".join(parts)


def _plan(text: str) -> list[list[str]]:
    """``text`` as its blocks (a job of the plan, the job-stats table, a message: split at blank
    lines and at a job's time stamp), each as its sorted lines, the blocks sorted: Snakemake lists
    jobs, numbers them and lists their files in orders that differ between two runs of one
    command (sets of jobs and of strings). A job's number is masked."""
    text = _PER_RUN.sub("<per run>", text)
    blocks = []
    for block in re.split(r"\n\s*\n|\n(?=\[<per run>\])", text):
        lines = [re.sub(r"\bjobid: \d+", "jobid: <n>", line) for line in block.splitlines()]
        blocks.append(sorted(_sorted_lists(line) for line in lines))
    return sorted(blocks)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a job server of this test's own, started with a hash seed of its own
    (``PYTHONHASHSEED=0``): a fork and a fresh Python given that environment hash strings alike,
    and a run with another seed is declined by the server."""
    folder = tmp_path / "srv"
    folder.mkdir(mode=0o700)
    path = folder / "socket"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINKMAP_JOB")}
    env |= {"PYTHONHASHSEED": "0", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(jobserver.server_command(path, os.getpid()), env=env)
    deadline = time.monotonic() + 20
    while True:  # listening: its socket file exists a moment before
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(str(path)) == 0:
                break
        assert time.monotonic() < deadline and server.poll() is None, "no job server"
        time.sleep(0.02)
    yield env | {jobserver.ENV: str(path), jobserver.ENV_PYTHON: sys.executable}
    server.terminate()
    server.wait(30)


def test_a_forked_snakemake_prints_and_exits_as_the_command_in_its_own_process(
    tmp_path: Path, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_aoi(tmp_path)
    write_config(tmp_path, [2020, 2021])
    forks: list[int | None] = []
    real = jobserver.run_forked

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        forks.append(real(*args, **kwargs))
        return forks[-1]

    monkeypatch.setattr(jobserver, "run_forked", counted)
    cases = (
        ("-n",),  # the plan of a whole run
        ("-n", "no/such/target.tif"),  # a target no rule makes: exit 1
        ("-n", "--config", "years=[1800]"),  # a config sinkmap refuses: exit 1, its message
        ("--no-such-option",),  # refused by Snakemake's parser: exit 2
    )
    statuses = []
    for args in cases:
        cmd = snakemake_command(tmp_path, *args)
        forked = run_snakemake(cmd, env=seeded)
        fresh = subprocess.run(cmd, capture_output=True, text=True, env=seeded, timeout=300)
        assert forked.returncode == fresh.returncode, forked.stderr[-3000:]
        assert _plan(forked.stdout) == _plan(fresh.stdout)
        assert _plan(forked.stderr) == _plan(fresh.stderr)
        statuses.append(fresh.returncode)
    assert statuses == [0, 1, 1, 2]
    assert forks == statuses  # each forked from the server, none run in a process of its own
    # past its timeout: killed, and the error names the command and holds what it printed (the
    # folder the killed Snakemake made in TMPDIR, never removed, stays among the test's files)
    cmd = snakemake_command(tmp_path, "-n")
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        run_snakemake(cmd, env=seeded | tmpdir_beside(tmp_path), timeout=0.2)
    assert timed_out.value.cmd == cmd and isinstance(timed_out.value.stdout, str)
    # another module path, or hash seed, than the server's: declined, run in a process of its own
    for other in ({"PYTHONPATH": str(tmp_path)}, {"PYTHONHASHSEED": "1"}):
        proc = run_snakemake(snakemake_command(tmp_path, "-n"), env=seeded | other)
        assert proc.returncode == 0 and forks[-1] is None, proc.stderr[-3000:]
