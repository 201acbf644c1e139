"""The locks of a killed run are cleared at the next start; a live run's are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sinkmap.stages.runlock import LOCKS, clear_stale_locks, record_owner


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lock(workdir: Path) -> Path:
    path = workdir / LOCKS / "0.output.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("results/x.tif\n", encoding="utf-8")
    return path


def test_locks_of_a_process_that_no_longer_runs_are_removed(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    time.sleep(0.01)
    record_owner(tmp_path, pid=_dead_pid())
    assert clear_stale_locks(tmp_path) == [lock] and not lock.exists()


def test_locks_of_a_live_run_or_an_unknown_owner_stay(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    assert clear_stale_locks(tmp_path) == []  # no owner recorded: Snakemake's own error applies
    time.sleep(0.01)
    record_owner(tmp_path, pid=os.getpid())  # this test's process: alive
    assert clear_stale_locks(tmp_path) == [] and lock.exists()


def test_locks_newer_than_the_record_belong_to_a_run_starting_now(tmp_path: Path) -> None:
    record_owner(tmp_path, pid=_dead_pid())
    time.sleep(0.05)
    lock = _lock(tmp_path)  # a new run locked, and has not recorded itself yet
    assert clear_stale_locks(tmp_path) == [] and lock.exists()


def test_a_killed_run_beside_a_live_one_leaves_the_live_runs_locks(tmp_path: Path) -> None:
    """Two runs with disjoint outputs in one folder: the second is killed; its death must not
    clear the first's locks (both are recorded, and one still runs)."""
    lock = _lock(tmp_path)
    time.sleep(0.01)
    record_owner(tmp_path, pid=os.getpid())  # run A, alive
    record_owner(tmp_path, pid=_dead_pid())  # run B, killed
    assert clear_stale_locks(tmp_path) == [] and lock.exists()
