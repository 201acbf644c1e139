"""The workflow tests' Snakemake runs, forked from the tests' job server (tinyrun.run_snakemake),
are what the same command prints, exits with and refuses in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from tinyrun import run_snakemake, snakemake_command, write_aoi, write_config

from sinkmap.stages import jobserver

pytestmark = pytest.mark.workflow

#: What differs between two runs of one command: the times Snakemake prints (its log's name, the
#: jobs' "[Sat Dec  5 02:06:52 2026]") and the run's workflow ID (a random UUID).
_PER_RUN = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d[:.]?\d\d[:.]?\d\d(\.\d+)?|\d\d:\d\d:\d\d"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _words(text: str) -> list[str]:
    """The words of ``text`` but what differs per run, in order: Snakemake lists its jobs, and a
    job's files, in the order of sets of strings, which differs between two Pythons (each has its
    own hash seed)."""
    return sorted(re.split(r"[\s,;{}]+", _PER_RUN.sub("<per run>", text)))


def test_a_forked_snakemake_prints_and_exits_as_the_command_in_its_own_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_aoi(tmp_path)
    write_config(tmp_path, [2020, 2021])
    forks: list[int | None] = []
    real = jobserver.run_forked

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        forks.append(real(*args, **kwargs))
        return forks[-1]

    monkeypatch.setattr(jobserver, "run_forked", counted)
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    cases = (
        ("-n",),  # the plan of a whole run
        ("-n", "no/such/target.tif"),  # a target no rule makes: exit 1
        ("-n", "--config", "years=[1800]"),  # a config sinkmap refuses: exit 1, its message
        ("--no-such-option",),  # refused by Snakemake's parser: exit 2
    )
    statuses = []
    for args in cases:
        cmd = snakemake_command(tmp_path, *args)
        forked = run_snakemake(cmd, env=env)
        fresh = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert forked.returncode == fresh.returncode, forked.stderr[-3000:]
        assert _words(forked.stdout) == _words(fresh.stdout)
        assert _words(forked.stderr) == _words(fresh.stderr)
        statuses.append(fresh.returncode)
    assert statuses == [0, 1, 1, 2]
    assert forks == statuses  # each forked from the server, none run in a process of its own
    # a Python started with another module path is not a fork of the server's
    run_snakemake(snakemake_command(tmp_path, "-n"), env=env | {"PYTHONPATH": str(tmp_path)})
    assert len(forks) == len(cases)
