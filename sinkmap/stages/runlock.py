"""The locks of a killed run: recognised and cleared, so a plain rerun goes on.

Snakemake locks a working directory's outputs while it runs (``.snakemake/locks``) and removes the
locks when it ends; a run killed with ``kill -9`` (or a power loss) leaves them, and the next run
stops with ``LockException`` until the user finds ``--unlock``. The workflow records which process
holds the locks (:func:`record_owner`, from ``onstart``); at the next start
(:func:`clear_stale_locks`), locks whose owner no longer runs on this host, and that are not newer
than the record (a run that has locked but not yet recorded itself), are removed with a warning.
Locks of a live run, or of an unknown owner, are left: Snakemake's own error then applies.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger("sinkmap")

#: Where the owner of a working directory's locks is recorded.
OWNER = Path(".snakemake") / "sinkmap_lock_owner.json"
LOCKS = Path(".snakemake") / "locks"


def record_owner(workdir: Path = Path("."), pid: int | None = None) -> Path:
    """Record this process (or ``pid``) as the holder of the working directory's locks."""
    path = Path(workdir) / OWNER
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    tmp.write_text(
        json.dumps({"pid": pid or os.getpid(), "host": socket.gethostname()}), encoding="utf-8"
    )
    os.replace(tmp, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clear_stale_locks(workdir: Path = Path(".")) -> list[Path]:
    """Remove the locks a killed run left in ``workdir``; returns what was removed."""
    workdir = Path(workdir)
    locks_dir = workdir / LOCKS
    locks = sorted(p for p in locks_dir.glob("*.lock") if p.is_file()) if locks_dir.is_dir() else []
    owner_path = workdir / OWNER
    if not locks or not owner_path.is_file():
        return []
    try:
        owner = json.loads(owner_path.read_text(encoding="utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if host != socket.gethostname() or _alive(pid):
        return []
    recorded = owner_path.stat().st_mtime_ns
    if any(p.stat().st_mtime_ns > recorded for p in locks):
        return []  # locked after the record: a run that has not recorded itself yet
    for p in locks:
        p.unlink(missing_ok=True)
    log.warning(
        "removed %d lock(s) left by an interrupted run (process %d no longer runs); its "
        "incomplete outputs are remade",
        len(locks),
        pid,
    )
    return locks
