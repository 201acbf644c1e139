"""The warm job server (sinkmap.stages.jobserver): a real server process, real job processes.

Each job here is a script laid out as Snakemake writes one (its preamble names the file Python
runs ``__real_file__`` and defines ``snakemake``), run as Snakemake runs it: ``python <file>``
with the run's environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinkmap.stages import jobserver

#: Snakemake's preamble, shortened: the script's object and the two file names.
PREAMBLE = (
    "snakemake = object(); __real_file__ = __file__; __file__ = '/workflow/scripts/job.py'\n"
    "from sinkmap.stages.jobserver import run_warm\n"
    "run_warm(snakemake)\n"
    "import os, sys, time\n"
)


def _wait_for(predicate, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Running, not a zombie. A process reaped between the signal check and the read of its
    /proc entry (reading then fails with ESRCH, or finds no file) is gone, not an error (a CI run
    of 80f4122 read /proc/<pid>/stat just as the process went)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return not state.startswith("Z")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A job server, as onstart starts one, for this test process; it writes nothing of its own
    to its stderr (the run's), not even a warning."""
    folder = tmp_path / "srv"
    folder.mkdir(mode=0o700)
    path = folder / "socket"
    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    proc = subprocess.Popen(
        jobserver.server_command(path, os.getpid()), env=env, stderr=subprocess.PIPE
    )
    _wait_for(path.exists)
    yield path, proc
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert err == b"", err.decode()


def _env(path: Path | str, **extra: str) -> dict[str, str]:
    """This process's environment (without the test session's job server, and without what
    sinkmap.io's import sets, as the ``server`` fixture's) naming the server at ``path``."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SINKMAP_JOB") and k != "GDAL_CACHEMAX"
    }
    return environ | {jobserver.ENV: str(path), jobserver.ENV_PYTHON: sys.executable} | extra


def _job(
    tmp_path: Path, body: str, path: Path | str, *, wait: bool = True, **env: str
) -> subprocess.Popen[str]:
    script = tmp_path / "tmpjob.py"
    script.write_text(PREAMBLE + body, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), "an-argument"],
        cwd=tmp_path,
        env=_env(path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        proc.wait(60)
    return proc


def _forked_prints(tmp_path: Path, body: str, path: Path, **env: str) -> str:
    """What a job prints after its pid (``body`` prints both), checking it ran well and forked."""
    job = _job(tmp_path, body, path, **env)
    out, err = job.communicate()
    pid, value = out.split()
    assert job.returncode == 0, err
    assert int(pid) != job.pid  # not in the job's own process
    return value


def test_a_job_runs_forked_from_the_server_in_its_own_folder_environment_and_streams(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    path, srv = server
    job = _job(
        tmp_path,
        "print(os.getpid(), os.getppid(), os.getcwd(), os.environ['MARK'], sys.argv[1:], __file__)\n"
        "print('to stderr', file=sys.stderr)\n"
        "raise SystemExit(3)\n",
        path,
        MARK="marked",
    )
    out, err = job.communicate()
    pid, ppid, cwd, mark, rest = out.split(maxsplit=4)
    assert job.returncode == 3, err
    assert int(pid) != job.pid and int(ppid) == srv.pid  # forked from the server, not this process
    assert (cwd, mark) == (str(tmp_path), "marked")  # the job's folder and environment
    assert rest.strip() == "['an-argument'] /workflow/scripts/job.py"  # argv; Snakemake's __file__
    assert err.strip() == "to stderr"


def test_what_the_servers_imports_set_in_the_environment_the_job_gets_unless_it_sets_it(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """sinkmap.io sets GDAL_CACHEMAX (256 MB) when imported, unless set: imported by the server
    for the job, the job sees it as if it had imported sinkmap.io itself."""
    body = "import sinkmap.io\nprint(os.getpid(), os.environ.get('GDAL_CACHEMAX'))\n"
    for env, expected in (({}, "256"), ({"GDAL_CACHEMAX": "64"}, "64")):
        assert _forked_prints(tmp_path, body, server[0], **env) == expected


def test_the_server_imports_what_the_preamble_and_the_stages_first_calls_import(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Snakemake's modules the script imports at its top (its preamble's logger) and the libraries
    the stages import at their first call (geopandas, pyogrio) are already imported when the job
    starts: the server imported them once, not each job."""
    warm = ("snakemake.logging", "geopandas", "pyogrio")
    body = (
        f"print(os.getpid(), all(m in sys.modules for m in {warm!r}))\n"
        "from snakemake.logging import logger\n"
    )
    assert _forked_prints(tmp_path, body, server[0]) == "True"
    # in its own process (no server) the job imports them itself
    alone = _job(tmp_path, body, "0")
    out, err = alone.communicate()
    assert alone.returncode == 0, err
    assert out.split()[1] == "False"


def test_the_job_gets_its_own_blas_threads(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Snakemake gives a job its thread count in OPENBLAS_NUM_THREADS; NumPy's OpenBLAS, loaded by
    the server (with sinkmap.io, for the job) before that job existed, is set to it in the child
    (OpenBLAS's own default: one thread per core, at most)."""
    body = (
        "import ctypes\n"
        "import sinkmap.io\n"
        "lib = [l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower()][0]\n"
        "print(os.getpid(), ctypes.CDLL(lib).scipy_openblas_get_num_threads64_())\n"
    )
    for threads in ("1", str(min(2, os.cpu_count() or 1))):
        assert _forked_prints(tmp_path, body, server[0], OPENBLAS_NUM_THREADS=threads) == threads


def test_an_error_in_the_job_is_its_traceback_and_status_1(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    job = _job(tmp_path, "raise ValueError('bad value in the job')\n", server[0])
    _, err = job.communicate()
    assert job.returncode == 1
    assert "Traceback (most recent call last)" in err and "ValueError: bad value in the job" in err


def test_sigterm_to_the_job_reaches_the_child_and_kill_9_of_the_job_kills_it(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Snakemake stopping a job (SIGTERM) stops the work; a job killed outright (SIGKILL, which
    cannot be passed on) leaves no child running on."""
    pidfile = tmp_path / "child.pid"
    body = f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(120)\n"
    for sig, status in ((signal.SIGTERM, -signal.SIGTERM), (signal.SIGKILL, -signal.SIGKILL)):
        pidfile.unlink(missing_ok=True)
        job = _job(tmp_path, body, server[0], wait=False)
        _wait_for(lambda: pidfile.exists() and pidfile.read_text() != "")
        child = int(pidfile.read_text())
        assert child != job.pid and _alive(child)
        job.send_signal(sig)
        assert job.wait(30) == status
        _wait_for(lambda: not _alive(child), 10)  # noqa: B023


def test_without_a_server_the_job_runs_in_its_own_process(tmp_path: Path) -> None:
    """No server at that name (not started yet, or gone), another Python than the server's, or
    none named: the script runs on in the job's own process."""
    body = "print(os.getpid())\n"
    for path, python in (
        (tmp_path / "no-socket", sys.executable),
        (tmp_path / "no-socket", "/another/python"),
        ("0", sys.executable),
    ):
        job = _job(tmp_path, body, path, **{jobserver.ENV_PYTHON: python})
        out, err = job.communicate()
        assert job.returncode == 0, err
        assert int(out) == job.pid


def test_run_forked_runs_a_script_in_a_fork_with_its_argv_folder_environment_and_streams(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """A script run as ``python script args`` would run it, forked from the server: its argv,
    folder, environment and streams are the caller's, its status is returned; the ``atexit``
    handlers run at its end, as the interpreter runs them (a workflow's temporary folders); the
    modules named to warm are imported before the fork; its process is named ``py:<script>``."""
    path, srv = server
    script = tmp_path / "main.py"
    script.write_text(
        "import atexit, os, sys\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "print('colorsys' in sys.modules, file=sys.stderr)\n"
        "print(open('/proc/self/comm').read().strip(), file=sys.stderr)\n"
        "print(os.getpid(), os.getppid(), os.getcwd(), os.environ['MARK'], sys.argv)\n"
        "raise SystemExit(int(sys.argv[1]))\n",
        encoding="utf-8",
    )
    folder = tmp_path / "here"
    folder.mkdir()
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as o, err.open("wb") as e:
        status = jobserver.run_forked(
            script,
            ["4", "x y"],
            cwd=folder,
            env=_env(path, MARK="m"),
            stdout=o.fileno(),
            stderr=e.fileno(),
            warm=["colorsys"],
        )
    assert status == 4
    pid, ppid, cwd, mark, argv = out.read_text().split(maxsplit=4)
    assert int(pid) != os.getpid() and int(ppid) == srv.pid
    assert (cwd, mark) == (str(folder), "m")
    assert argv.strip() == repr([str(script), "4", "x y"])
    assert err.read_text() == "True\npy:main\natexit ran\n"  # named as a script, not a job


def test_run_forked_reports_a_signal_kills_on_timeout_and_declines_without_a_server(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Killed by a signal: its negative number, as subprocess reports it. Past its timeout the
    fork is killed and TimeoutExpired raised. No server named (or "0", or another Python's, or
    gone): None, for the caller to run the script itself (and the script did not run)."""
    path, _ = server
    pidfile = tmp_path / "pid"
    script = tmp_path / "main.py"
    script.write_text(
        "import os, signal, sys, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "if sys.argv[1] == 'term':\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    assert jobserver.run_forked(script, ["term"], cwd=tmp_path, env=_env(path)) == -signal.SIGTERM
    pidfile.unlink()
    with pytest.raises(subprocess.TimeoutExpired):
        jobserver.run_forked(script, ["sleep"], cwd=tmp_path, env=_env(path), timeout=2)
    child = int(pidfile.read_text())
    _wait_for(lambda: not _alive(child), 10)
    pidfile.unlink()
    for env in (
        _env("0"),
        _env(tmp_path / "no-socket"),
        _env(path, **{jobserver.ENV_PYTHON: "/another/python"}),
        {k: v for k, v in _env(path).items() if k != jobserver.ENV},
        # what Python reads only at its start, which a fork would not see
        _env(path, PYTHONPATH=str(tmp_path)),
        _env(path, PYTHONHASHSEED="7"),
        _env(path, PYTHONWARNINGS="error::DeprecationWarning"),
        _env(path, LC_ALL="C"),
    ):
        assert jobserver.run_forked(script, ["term"], cwd=tmp_path, env=env) is None
    assert not pidfile.exists()


def test_a_fork_ignores_warnings_and_reads_dask_settings_as_its_environment_says(
    server: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """``PYTHONWARNINGS=ignore``, which the server did not start with, is applied in the fork;
    Dask's ``DASK_*`` settings, read when the server imported Dask, are read again for a fork
    whose environment sets others (and are the server's otherwise)."""
    script = tmp_path / "main.py"
    script.write_text(
        "import sys, warnings\n"
        "import dask.config\n"
        "import sinkmap.io\n"
        "warnings.warn('a warning')\n"
        "print(dask.config.get('array.chunk-size'))\n",
        encoding="utf-8",
    )
    out, err = tmp_path / "out", tmp_path / "err"
    for env, chunk, warned in (
        ({}, "128MiB", True),
        ({"PYTHONWARNINGS": "ignore", "DASK_ARRAY__CHUNK_SIZE": "7MiB"}, "7MiB", False),
    ):
        with out.open("wb") as o, err.open("wb") as e:
            status = jobserver.run_forked(
                script,
                cwd=tmp_path,
                env=_env(server[0], **env),
                stdout=o.fileno(),
                stderr=e.fileno(),
            )
        assert status == 0, err.read_text()
        assert out.read_text().strip() == chunk
        assert ("a warning" in err.read_text()) is warned


def test_the_server_ends_with_its_run_and_removes_its_socket(tmp_path: Path) -> None:
    """Its run (the process that started it) gone, the server ends and removes its socket and
    folder."""
    run = subprocess.Popen(["sleep", "60"])
    folder = tmp_path / "srv"
    folder.mkdir(mode=0o700)
    path = folder / "socket"
    srv = subprocess.Popen(jobserver.server_command(path, run.pid))
    try:
        _wait_for(path.exists)
        run.kill()
        run.wait()
        assert srv.wait(10) == 0
        assert not folder.exists()
    finally:
        srv.kill()
        srv.wait()


def test_start_names_the_server_for_the_jobs_and_stop_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What onstart does: no server for a run whose jobs go to a cluster (and an inherited one
    removed from the environment its jobs get), nor with SINKMAP_JOB_SERVER=0; a live server
    already named in the environment serves the run (and only the process that started it stops
    it); otherwise a new one, named in the environment the jobs inherit, ended by stop()."""

    class ClusterRun:
        local_exec = False

    # this test's own server, not the test process's (tests/conftest.py), which stays as it was
    monkeypatch.setattr(jobserver, "_server", None)
    monkeypatch.setattr(jobserver, "_socket", None)
    monkeypatch.delenv(jobserver.ENV, raising=False)
    monkeypatch.delenv(jobserver.ENV_PYTHON, raising=False)
    try:
        monkeypatch.setenv(jobserver.ENV, "0")
        assert jobserver.start() is None
        monkeypatch.delenv(jobserver.ENV)
        path = jobserver.start()
        assert path is not None and os.environ[jobserver.ENV] == str(path)
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
        _wait_for(path.exists)
        assert jobserver.start() == path  # named in the environment and alive: it serves
        # found in the environment by a process that did not start it: that one's stop() leaves it
        with monkeypatch.context() as other:
            other.setattr(jobserver, "_server", None)
            other.setattr(jobserver, "_socket", None)
            assert jobserver.start() == path
            jobserver.stop()
            assert path.exists() and os.environ[jobserver.ENV] == str(path)
        job = _job(tmp_path, "print(os.getpid())\n", path)
        out, _ = job.communicate()
        assert int(out) != job.pid and job.returncode == 0
        assert jobserver.start(ClusterRun()) is None
        assert jobserver.ENV not in os.environ and jobserver.ENV_PYTHON not in os.environ
        monkeypatch.setenv(jobserver.ENV, str(path))
        monkeypatch.setenv(jobserver.ENV_PYTHON, sys.executable)
        jobserver.stop()
        assert jobserver.ENV not in os.environ and not path.parent.exists()
    finally:
        jobserver.stop()
