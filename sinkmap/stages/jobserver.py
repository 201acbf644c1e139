"""Warm job starts: a run's ``script:`` jobs forked from one process that has imported their modules.

Every job of a local run is a fresh Python process, and importing the geospatial stack (NumPy,
rasterio, dask.array, xarray, pandas, pydantic) takes it about 1 CPU s before its first line of
work: most of a small run's time (a one-year run of the tiny test AOI, 12 jobs: 12 CPU s, of which
about 9 s imports; bench/README.md, "Warm job starts"). So, for a local run, ``onstart`` starts one
**job server** (:func:`start`, :func:`server_command`) in the run's process group.
A workflow script's first statement, :func:`run_warm`, sends the job to it: the server imports
the modules the script imports at its top, its own and its Snakemake preamble's, and those the
stages import on first use (:data:`_ALSO_WARM`), once (the first job of each kind pays them), then
forks a child that runs the script (Snakemake's own copy, with its preamble) in the job's folder,
environment and standard streams; the job's process waits for the child's exit status and exits
with it. The child is the job in every way that matters: its output reaches the job's stdout and
stderr, a signal sent to the job (SIGTERM, SIGINT, SIGHUP) is passed to it, and if the job's
process dies (``kill -9``) the server kills the child at once, so nothing of a killed job runs on.
``kill -9`` of the run's process group (the fault matrix does it) reaches the server and the
children as it reaches the jobs. Forking is how Python's own ``multiprocessing`` starts workers;
the child exits as theirs do (threads joined, streams flushed, ``os._exit``).

:func:`run_forked` hands the server any Python script the same way, from a process that waits
for it (the workflow tests run Snakemake's command line so: ``tests/workflow/snakemake_main.py``).

Whenever it cannot be used, a job runs as before, in its own process: no server (a dry run, a
cluster run, ``SINKMAP_JOB_SERVER=0``), another Python than the server's (``--use-conda``), a
server not started yet or gone, an environment that differs from the server's in what Python reads
only when it starts (``PYTHONPATH``, a plug-in's folder, and the other ``PYTHON*`` variables, the
locale; ``PYTHONWARNINGS`` set to one action, ``ignore`` say, is applied in the fork). Dask's
``DASK_*`` settings are read again in a fork whose environment sets others. Only jobs of the same
user reach it (its folder is private, and it checks the peer's uid). Jobs sent to a cluster
(SLURM) never use it: the server is started only when the run executes its jobs locally.
"""

from __future__ import annotations

import ast
import atexit
import errno
import importlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: The environment variable naming the run's job server (its socket); ``0`` turns it off.
ENV = "SINKMAP_JOB_SERVER"
#: The server's Python, which a job must share to be forked from it.
ENV_PYTHON = "SINKMAP_JOB_SERVER_PYTHON"
_HEADER = struct.Struct("!q")
#: Passed on to the child. Not SIGINT: a terminal's Ctrl-C reaches the child itself (the run's
#: process group), and the job's process ignores it while it waits.
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Set in a child forked by the server: :func:`run_warm` then lets the script run on.
_in_child = False
#: The server this process started, and its socket.
_server: subprocess.Popen[bytes] | None = None
_socket: Path | None = None


# -- the run's side: start and stop ------------------------------------------------------------


def start(workflow: Any = None) -> Path | None:
    """Start the run's job server (from ``onstart``, in Snakemake's process) and name it in the
    environment its jobs inherit; returns its socket, or None when it is not used: jobs sent to a
    cluster (``workflow.local_exec`` false), ``SINKMAP_JOB_SERVER=0``, or not on POSIX. A live
    server already named in the environment (for the same Python) serves the run instead: the
    forks of a server share only its imports, so one server can serve many runs. Stopped when
    the process that started it exits (and by itself when that process is gone)."""
    global _server, _socket
    if os.environ.get(ENV, "").strip() == "0" or os.name != "posix":
        return None
    if workflow is not None and not getattr(workflow, "local_exec", True):
        # jobs sent to a cluster must not reach a server of this machine, not even an inherited one
        os.environ.pop(ENV, None)
        os.environ.pop(ENV_PYTHON, None)
        return None
    inherited = os.environ.get(ENV, "")
    if inherited and os.environ.get(ENV_PYTHON) == sys.executable and _reachable(inherited):
        # a server this process already runs, or one of the session that started this run (the
        # tests start one per test process): its forks import nothing of a run, so it serves any
        return Path(inherited)
    folder = Path(tempfile.mkdtemp(prefix="sinkmap-jobs-"))  # mode 0700: this user's only
    path = folder / "socket"
    _server = subprocess.Popen(
        server_command(path, os.getpid()),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        close_fds=True,
    )
    _socket = path
    os.environ[ENV] = str(path)
    os.environ[ENV_PYTHON] = sys.executable
    atexit.register(stop)
    return path


def server_command(path: Path, parent: int) -> list[str]:
    """The command of a job server at ``path`` that ends with process ``parent``. ``-P``: its
    module path is the interpreter's, not its working folder's (as a job's). ``-c``, not ``-m``:
    ``sinkmap.stages`` imports this module, which ``-m`` would then run a second time as
    ``__main__`` (with a warning), apart from the module the jobs' scripts import."""
    code = "from sinkmap.stages.jobserver import main; main()"
    return [sys.executable, "-P", "-c", code, str(path), str(parent)]


def _reachable(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(path)
    except OSError:
        return False
    return True


def stop() -> None:
    """Stop the job server this process started (SIGTERM: it ends the jobs it still runs), remove
    its folder and its name from the environment. A server it did not start (one it found in the
    environment) is left as it is."""
    global _server, _socket
    server, path = _server, _socket
    _server = _socket = None
    if server is None or path is None:
        return
    if os.environ.get(ENV) == str(path):
        os.environ.pop(ENV, None)
        os.environ.pop(ENV_PYTHON, None)
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    shutil.rmtree(path.parent, ignore_errors=True)


# -- the job's side ----------------------------------------------------------------------------


def forked() -> bool:
    """Whether this process was forked from a job server: a job (:func:`run_warm`), or a script
    :func:`run_forked` sent."""
    return _in_child


def run_warm(sm: object) -> None:
    """Run this workflow script's job in the run's job server and exit with its status; return
    at once (the script then runs here, as any script does) in a child of the server, or when no
    server can take it. ``sm`` is the script's ``snakemake`` object (not used: the server runs
    Snakemake's copy of the script, whose preamble makes it again)."""
    if _in_child:
        return
    path = _named_server(os.environ)
    if path is None:
        return
    # Snakemake's copy of the script (its preamble, then the script) is the file Python runs; the
    # preamble names it __real_file__ and points __file__ at the workflow's script
    script = getattr(sys.modules.get("__main__"), "__real_file__", None)
    if not isinstance(script, str) or not os.path.isfile(script):
        return
    request = {
        "script": os.path.abspath(script),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "argv": sys.argv,
    }
    sent = _send(path, request, {fd: fd for fd in (0, 1, 2) if _is_open(fd)})
    if sent is None:
        return  # not started yet, gone, refused, or it cannot fork safely now: run here
    conn, child = sent
    _forward_signals(child)
    with conn:
        try:
            status: int | None = _read_int(conn)
        except OSError:
            status = None
    if status is None:
        print(
            f"sinkmap: the run's job server ended before this job (pid {child}) did; run the"
            f" workflow again (or set {ENV}=0 to start each job in its own process)",
            file=sys.stderr,
        )
        raise SystemExit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    if status < 0:  # killed by a signal: end the same way, so Snakemake sees what the job saw
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status)


def run_forked(
    script: str | Path,
    args: Sequence[str] = (),
    *,
    cwd: str | Path,
    env: Mapping[str, str],
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    timeout: float | None = None,
    warm: Sequence[str] = (),
) -> int | None:
    """``python script *args`` in a fork of the job server that ``env`` names, in folder ``cwd``,
    with environment ``env`` and the given file descriptors as its standard streams (``None``:
    ``/dev/null``); waits for it and returns its exit status (negative: the signal that ended
    it), or None when no server takes it (none named, another Python's, gone, or it cannot fork
    safely now, or ``env`` differs from the server's in what Python reads only at its start):
    the caller then runs the script itself. The server first imports what the script imports at
    its top from sinkmap and Snakemake, and the modules ``warm`` names (what the script imports
    later), once for all the scripts it forks. The fork ends as the interpreter does: threads
    joined, then the ``atexit`` handlers (a workflow's temporary folders are removed by them),
    unlike a job's fork (:func:`run_warm`), which ends as a ``multiprocessing`` worker does. After
    ``timeout`` seconds (counted from the call) the server kills the fork (SIGKILL) and
    :class:`subprocess.TimeoutExpired` is raised, as :func:`subprocess.run` does."""
    path = _named_server(env)
    if path is None:
        return None
    script = os.path.abspath(script)
    request = {
        "script": script,
        "cwd": str(cwd),
        "env": dict(env),
        "argv": [script, *args],
        "job": False,
        "warm": list(warm),
    }
    given = {0: stdin, 1: stdout, 2: stderr}
    deadline = None if timeout is None else time.monotonic() + timeout
    sent = _send(path, request, {t: fd for t, fd in given.items() if fd is not None})
    if sent is None:
        return None
    # the server kills the child of a connection that its caller closes (or shuts for writing)
    # before the child's end, which is how an interrupted caller leaves nothing running on
    conn, _ = sent
    with conn:
        try:
            if deadline is not None:
                conn.settimeout(max(deadline - time.monotonic(), 1e-3))
            return _read_int(conn)
        except TimeoutError:
            conn.settimeout(None)
            conn.shutdown(socket.SHUT_WR)
            _read_int(conn)  # killed and reaped
            raise subprocess.TimeoutExpired(
                [sys.executable, script, *args], timeout or 0.0
            ) from None


def _send(
    path: str, request: dict[str, Any], streams: Mapping[int, int]
) -> tuple[socket.socket, int] | None:
    """Send a job to the server at ``path``: its request and, as its standard streams 0-2, the
    file descriptors ``streams`` maps them to (a missing one is ``/dev/null``). Returns the
    connection, on which the server sends the job's exit status, and the pid of the child that
    runs it; None when the server cannot be reached, or refuses or cannot fork it."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    payload = json.dumps(request).encode()
    targets = [t for t in (0, 1, 2) if t in streams]
    try:
        socket.send_fds(conn, [_HEADER.pack(len(payload))], [streams[t] for t in targets])
        conn.sendall(struct.pack("!3b", *[int(t in streams) for t in (0, 1, 2)]))
        conn.sendall(payload)
        child = _read_int(conn)
    except OSError:
        conn.close()
        return None  # refused before the job started
    except BaseException:  # interrupted: the server kills a child whose connection is closed
        conn.close()
        raise
    if child <= 0:
        conn.close()
        return None  # the server cannot fork safely now
    return conn, child


def _named_server(env: Mapping[str, str]) -> str | None:
    """The socket of the server ``env`` names for this Python, if any."""
    path = env.get(ENV, "")
    if not path or path == "0" or env.get(ENV_PYTHON) != sys.executable:
        return None
    return path


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            part = conn.recv(size - len(data))
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if not part:
            raise ConnectionResetError(errno.ECONNRESET, "job server closed the connection")
        data += part
    return data


def _read_int(conn: socket.socket) -> int:
    return int(_HEADER.unpack(_read_exact(conn, _HEADER.size))[0])


def _forward_signals(child: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in _SIGNALS:
        signal.signal(signum, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the server --------------------------------------------------------------------------------


#: The top-level packages whose imports a script makes at its top are made once by the server:
#: the workflow's own, and Snakemake's, whose preamble (the first line of Snakemake's copy of the
#: script) unpickles the job's ``snakemake`` object and imports its logger.
_WARM_PACKAGES = ("sinkmap", "snakemake")
#: Imported by the server too: what the stages import at their first call rather than at their
#: top (``sinkmap.aoi.read_aoi``, the zones, the GeoPackage and STAC writers: geopandas and
#: pyogrio; a CRS's work in ``sinkmap.grid``: pyproj; ``sinkmap.io``'s computing: dask), which
#: every job reading the AOI, writing a vector layer or computing would import again.
_ALSO_WARM = ("geopandas", "pyogrio", "pyproj", "dask")


def _warm_imports(script: str) -> list[str]:
    """The modules of :data:`_WARM_PACKAGES` a script imports at its top level (its preamble
    included)."""
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n for n in names if n.split(".")[0] in _WARM_PACKAGES]


#: Read from the environment only when Python starts (``PYTHON*``: the module path, the hash
#: seed, the encodings, bytecode, buffering ...; the locale): a job or script whose environment
#: differs from the server's in one of them runs in a process of its own, as the fork would not
#: see it. The exception: ``PYTHONWARNINGS`` set to one action where the server has none, which
#: the fork applies as ``-W`` would (the tests run Snakemake with ``ignore``).
_STARTUP_PREFIXES = ("PYTHON",)
_STARTUP_NAMES = ("LANG", "LC_ALL", "LC_CTYPE")
_WARNING_ACTIONS = ("default", "error", "ignore", "always", "module", "once")


def _startup_differs(server: dict[str, str], env: dict[str, str]) -> bool:
    names = {k for k in (*server, *env) if k.startswith(_STARTUP_PREFIXES) or k in _STARTUP_NAMES}
    differ = {k for k in names if server.get(k) != env.get(k)}
    return bool(differ - {"PYTHONWARNINGS"}) or (
        "PYTHONWARNINGS" in differ
        and ("PYTHONWARNINGS" in server or env.get("PYTHONWARNINGS") not in _WARNING_ACTIONS)
    )


class Server:
    """The job server's loop: accept a job, import its modules, fork, report the exit status."""

    def __init__(self, path: str, parent: int) -> None:
        self.path = path
        self.parent = parent
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.children: dict[int, socket.socket] = {}  # pid -> its job's connection
        self.imported: set[str] = set()
        self.stopping = False
        #: The environment before any job's imports: what those imports add to it (sinkmap.io's
        #: GDAL_CACHEMAX default) is kept in a child where the job does not set it, as it would
        #: be had the job imported them itself.
        self.environ = dict(os.environ)

    def serve(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the jobs' to act on
        signal.signal(signal.SIGTERM, self._stop)
        self.listener.bind(self.path)
        self.listener.listen(64)
        while not self.stopping or self.children:
            watched = [self.listener, *self.children.values()]
            try:
                readable, _, _ = select.select(watched, [], [], 0.2)
            except (OSError, ValueError):
                readable = []
            for conn in readable:
                if conn is self.listener:
                    if not self.stopping:
                        self._accept()
                else:
                    self._job_side(conn)
            self._reap()
            if not self.stopping and os.getppid() != self.parent:
                self._stop(signal.SIGTERM, None)  # the run is gone: end what it left
        self.listener.close()
        for remove in (os.unlink, os.rmdir):  # the socket, then its private folder
            try:
                remove(self.path if remove is os.unlink else os.path.dirname(self.path))
            except OSError:
                pass

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _job_side(self, conn: socket.socket) -> None:
        """A job's connection readable: it sends nothing after its request, so its process is
        gone (``kill -9``): kill the child that runs its job."""
        try:
            gone = conn.recv(1) == b""
        except OSError:
            gone = True
        if gone:
            for pid, c in self.children.items():
                if c is conn:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            try:
                conn.sendall(_HEADER.pack(code))
            except OSError:
                pass
            conn.close()

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                conn.close()
                return
            conn.settimeout(10)
            head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
            head += _read_exact(conn, _HEADER.size - len(head))
            has = struct.unpack("!3b", _read_exact(conn, 3))
            request = json.loads(_read_exact(conn, int(_HEADER.unpack(head)[0])))
            conn.settimeout(None)
        except (OSError, ValueError):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        streams = dict(zip([fd for fd in (0, 1, 2) if has[fd]], fds, strict=False))
        refused = _startup_differs(self.environ, request["env"])
        if not refused:
            self._warm_up(request["script"], request.get("warm", ()))
        if refused or threading.active_count() > 1:  # or an import started a thread
            conn.sendall(_HEADER.pack(0))
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: becomes the job
            self._child(conn, streams, request)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        try:
            conn.sendall(_HEADER.pack(pid))
        except OSError:
            pass  # the job is gone: _job_side kills the child

    def _warm_up(self, script: str, also: Sequence[str] = ()) -> None:
        for name in (*_warm_imports(script), *_ALSO_WARM, *also):
            if name in self.imported:
                continue
            self.imported.add(name)
            try:
                importlib.import_module(name)
            except Exception:  # the job meets it and reports it itself
                pass
        kernels = sys.modules.get("sinkmap.kernels")
        if kernels is not None and "sinkmap.kernels" not in self.imported:
            # the compiled kernels loaded once here, not by every job that runs one
            self.imported.add("sinkmap.kernels")
            try:
                kernels.warm()
            except Exception:  # a job compiles them itself (and reports what fails)
                pass

    def _child(self, conn: socket.socket, streams: dict[int, int], request: dict[str, Any]) -> None:
        global _in_child
        code = 1
        job = bool(request.get("job", True))  # a workflow job's script (run_warm), or run_forked's
        try:
            _in_child = True
            self.listener.close()
            for other in self.children.values():
                other.close()
            conn.close()
            for target in (0, 1, 2):
                if target in streams:
                    os.dup2(streams[target], target)
                else:
                    devnull = os.open(os.devnull, os.O_RDWR)
                    os.dup2(devnull, target)
                    os.close(devnull)
            for fd in streams.values():
                if fd > 2:
                    os.close(fd)
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(request["cwd"])
            added = {k: v for k, v in os.environ.items() if k not in self.environ}
            os.environ.clear()
            os.environ.update(added | request["env"])
            action = os.environ.get("PYTHONWARNINGS")
            if action != self.environ.get("PYTHONWARNINGS"):  # one action (_startup_differs)
                warnings.simplefilter(action)  # type: ignore[arg-type]
            _dask_config(self.environ)
            sys.argv = list(request["argv"])
            _name_process(request["script"], job=job)
            tempfile.tempdir = None  # from the job's TMPDIR, which Snakemake sets per job
            _blas_threads(os.environ.get("OPENBLAS_NUM_THREADS", ""))
            code = _run_script(request["script"])
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            _exit(code, run_atexit=not job)


#: The prefix of a forked job's process name (``sm:stocks`` in ps and top).
JOB_NAME_PREFIX = "sm:"
#: The prefix of the name of a script's fork (:func:`run_forked`): not a job.
FORK_NAME_PREFIX = "py:"


def _dask_config(server: dict[str, str]) -> None:
    """Dask reads its ``DASK_*`` settings when imported, in the server: read them again for a
    fork whose environment sets others."""
    config = sys.modules.get("dask.config")
    keys = {k for k in (*server, *os.environ) if k.startswith("DASK_")}
    if config is not None and any(server.get(k) != os.environ.get(k) for k in keys):
        config.refresh()


def _name_process(script: str, *, job: bool = True) -> None:
    """Name the child after its script (``sm:interval``; Linux keeps 15 bytes of a name, so 12
    of the script's, which tell the workflow's scripts apart), from Snakemake's copy of the script,
    ``tmp<random>.<script>.py``: it shows the server's command line otherwise. A script that is
    not a job (:func:`run_forked`) is ``py:<script>``."""
    stem = Path(script).name.removesuffix(".py").rsplit(".", 1)[-1]
    try:
        import ctypes

        prefix = JOB_NAME_PREFIX if job else FORK_NAME_PREFIX
        name = f"{prefix}{stem}"[:15].encode()
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


#: OpenBLAS's thread setter under the names NumPy's and SciPy's wheels and distributions give it.
_BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _blas_threads(value: str) -> None:
    """Give the OpenBLAS libraries the server has loaded the job's thread count. Snakemake sets
    ``OPENBLAS_NUM_THREADS`` (and ``OMP_NUM_THREADS``) to a job's threads, but OpenBLAS reads it
    once, when NumPy loads it: in the server, before the job's environment existed."""
    if not value.isdigit() or int(value) < 1:
        return
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            libraries = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return
    for path in sorted(libraries):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(int(value))
                break


def _run_script(script: str) -> int:
    """Run a script as ``__main__``; its exit status, as the interpreter would give it."""
    import runpy
    import traceback

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _exit(code: int, *, run_atexit: bool = False) -> None:
    """End a forked child as multiprocessing ends its workers: non-daemon threads joined, then
    the standard streams flushed and ``os._exit``; with ``run_atexit``, as the interpreter ends,
    the ``atexit`` handlers run after the threads are joined."""
    shutdown: Callable[[], None] | None = getattr(threading, "_shutdown", None)
    try:
        if shutdown is not None:
            shutdown()
        if run_atexit:
            atexit._run_exitfuncs()  # what Py_Finalize calls after joining the threads
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """The server's process (:func:`server_command`): ``argv`` is its socket and its parent."""
    path, parent = (argv if argv is not None else sys.argv[1:])[:2]
    Server(path, int(parent)).serve()
