"""Faults a user meets, reproduced first (issue "faults and bad input"), each named after its fault.

Each case checks the message (what, where, the fix), that nothing half-written reached a final
name, and that the run recovers with a plain rerun once the fault is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tinyrun import (
    REPO,
    run_snakemake,
    snakemake,
    snakemake_command,
    tmpdir_beside,
    write_aoi,
    write_config,
)

pytestmark = pytest.mark.workflow

#: A run as small as the faults need: one year, no Monte Carlo, no gain-loss.
SMALL = {
    "account": {"gain_loss": {"enabled": False}, "uncertainty": {"enabled": False}},
    "change_filter": {"enabled": False},
}


def _small_run(workdir: Path) -> None:
    write_aoi(workdir)
    write_config(workdir, [2020], **SMALL)


def _leftovers(results: Path) -> list[Path]:
    """Temporaries a killed job may leave: staged GeoTIFFs and partial files."""
    return sorted(
        p
        for p in results.rglob(".*")
        if p.is_file() and any(f".{k}" in p.name for k in ("stage.", "part", "cog."))
    )


def test_default_profile_applies_to_a_plain_snakemake(tmp_path: Path) -> None:
    """Snakemake 9 finds the repository's default profile (rerun-incomplete, show-failed-logs)
    from the Snakefile's folder, with no --profile flag."""
    _small_run(tmp_path)
    proc = snakemake(tmp_path, "-n")
    out = proc.stdout + proc.stderr
    assert "profiles/default" in out, out[-2000:]


def test_a_killed_run_recovers_with_a_plain_rerun(tmp_path: Path) -> None:
    """kill -9 of the whole Snakemake process group while the stocks job writes its layers, then
    a plain rerun (no --unlock, no --rerun-incomplete): it finishes, and no temporary is left."""
    _small_run(tmp_path)
    snakemake(tmp_path, "--until", "align")  # the inputs, so the kill lands in stocks
    proc = subprocess.Popen(
        snakemake_command(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ | {"PYTHONWARNINGS": "ignore"} | tmpdir_beside(tmp_path),
    )
    results = tmp_path / "results" / "2020"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _leftovers(results):  # a stage file exists: the job is writing
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the kill; make the test's run larger"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    # the kill landed mid-write: temporaries and the dead run's locks left, no stock published
    assert _leftovers(results) and not (results / "carbon_stock_total.tif").exists()
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock"))
    snakemake(tmp_path)  # plain rerun
    assert (results / "carbon_stock_total.tif").is_file()
    assert _leftovers(tmp_path / "results") == []


def test_a_user_configfile_replaces_the_demo_config(tmp_path: Path) -> None:
    """--configfile my.yaml from the repository's folder runs the user's config alone: a role the
    user left out (the demo's biomass) is not merged in from config/config.yaml."""
    write_aoi(tmp_path)
    write_config(tmp_path, [2020], **SMALL)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    assert "biomass" in cfg["inputs"]
    del cfg["inputs"]["biomass"]
    for key in ("resources_dir", "results_dir"):
        cfg[key] = str(tmp_path / cfg[key])
    mine = tmp_path / "my.yaml"
    mine.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = run_snakemake(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(mine)],
        cwd=REPO,
        timeout=300,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "demo_cci_biomass" not in out and "/biomass" not in out, out[-3000:]
    assert str(tmp_path / "results") in out
