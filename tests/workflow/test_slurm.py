"""The tiny workflow on a real one-node SLURM cluster (Debian's slurm-wlm and munge, installed by
``make slurm``): munged, slurmctld and slurmd started here with a config written here, no
accounting database; Snakemake submits every job with ``--executor slurm`` and the repository's
profile (profiles/slurm), its threads and memory overridden to fit this 2-CPU node. The outputs
equal a local run's, byte for byte (CSV rows without their ``computed_at`` time).

The profile alone does not run here: without an accounting database the plugin (2.8.0) still
picks ``sacct`` for job status (the binary is installed), every query fails ("Slurm accounting
storage is disabled"), and the plugin then drops the submitted jobs without reporting them done
or failed, so Snakemake stops scheduling. ``--slurm-status-command squeue`` (with the MinJobAge
below, finished jobs stay in squeue for a day) is the fix, given here on the command line.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyrun import (
    CLUSTER_TARGETS,
    REPO,
    output_digests,
    snakemake,
    stop_processes,
    write_aoi,
    write_config,
)

pytestmark = pytest.mark.workflow

SLURM_CONF = Path("/etc/slurm/slurm.conf")
#: What fits this machine's 2-CPU node (the profile asks for 8-16 threads and up to 32 GB).
FIT_TO_NODE = [
    "--jobs",
    "2",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--set-threads",
    "align=1",
    "stocks=2",
    "interval=2",
    "uncertainty=2",
    "gain_loss_uncertainty=2",
    "--set-resources",
    "stocks:mem_mb=2000",
    "--default-resources",
    "mem_mb=1000",
    "runtime=30",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _config(d: Path, host: str) -> str:
    return f"""\
ClusterName=sinkmaptest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=86400
ReturnToService=2
NodeName={host} CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[Path]:
    """munged, slurmctld and slurmd in the foreground (stopped by PID at the end); the config at
    /etc/slurm/slurm.conf (srun inside a job reads it there: the plugin clears SLURM_* variables),
    whatever was there put back afterwards. Yields the folder of the daemons' logs."""
    assert os.geteuid() == 0, "the SLURM test starts slurmd and munged: run it as root"
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"):
        assert shutil.which(tool), f"{tool} is missing: run `make slurm` (apt slurm-wlm munge)"
    d = tmp_path / "slurm"
    for sub in ("state", "spool", "log"):
        (d / sub).mkdir(parents=True)
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname()
    saved = SLURM_CONF.read_bytes() if SLURM_CONF.exists() else None
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(_config(d, host))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={d}/munge.socket",
                    f"--key-file={key}",
                    f"--pid-file={d}/munged.pid",
                    f"--log-file={d}/log/munged.log",
                    f"--seed-file={d}/munged.seed",
                ]
            )
        )
        _wait(lambda: (d / "munge.socket").exists(), "munged did not open its socket")
        procs.append(subprocess.Popen(["slurmctld", "-D", "-f", str(SLURM_CONF)]))
        procs.append(subprocess.Popen(["slurmd", "-D", "-f", str(SLURM_CONF)]))
        _wait(lambda: _node_state() == "idle", f"the node is not idle: {_node_state()!r}")
        yield d / "log"
    finally:
        stop_processes(procs)
        if saved is None:
            SLURM_CONF.unlink(missing_ok=True)
        else:
            SLURM_CONF.write_bytes(saved)


def _node_state() -> str:
    proc = subprocess.run(
        ["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or proc.stderr.strip()


def _wait(ok, message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


def _jobs() -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|") for line in out.split())


def test_tiny_workflow_on_slurm_equals_local(tmp_path: Path, slurm: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    write_aoi(workdir)
    write_config(workdir, [2020, 2021])
    snakemake(workdir, *CLUSTER_TARGETS)
    local = output_digests(workdir / "results")
    assert "sink/2020-2021/net_flux_co2e.tif" in local

    # the same targets again, every job through sbatch (same folder: the layers' tags name the
    # AOI file by its path); the inputs fetched by the local run are fetched again
    for made in ("results", "logs", "resources"):
        shutil.rmtree(workdir / made)
    profile = ["--workflow-profile", str(REPO / "profiles" / "slurm")]
    proc = snakemake(workdir, *CLUSTER_TARGETS, *profile, *FIT_TO_NODE)
    on_slurm = output_digests(workdir / "results")

    assert on_slurm == local
    # every job went through SLURM and completed there
    submitted = proc.stdout.count("has been submitted with SLURM jobid") + proc.stderr.count(
        "has been submitted with SLURM jobid"
    )
    jobs = _jobs()
    assert submitted >= 10 and len(jobs) == submitted, (submitted, jobs)
    assert set(jobs.values()) == {"COMPLETED"}, jobs
    assert "Will exit after finishing currently running jobs" not in proc.stderr
