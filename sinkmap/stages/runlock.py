"""The locks of a killed run: recognised and cleared, so a plain rerun goes on.

Snakemake locks a working directory's outputs while it runs (``.snakemake/locks``) and removes the
locks when it ends; a run killed with ``kill -9`` (or a power loss) leaves them, and the next run
stops with ``LockException`` until the user finds ``--unlock``. The workflow records which process
holds the locks (:func:`record_owner`, from ``onstart``); at the next start
(:func:`clear_stale_locks`), the locks are removed with a warning when every recorded holder has
ended (its process no longer runs on this host) and no lock is newer than the record (a run that
has locked but not yet recorded itself). Locks of a live run, or of an unknown holder, are left:
Snakemake's own error then applies.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sinkmap.files import write_json

log = logging.getLogger("sinkmap")

#: Where the owner of a working directory's locks is recorded.
OWNER = Path(".snakemake") / "sinkmap_lock_owner.json"
LOCKS = Path(".snakemake") / "locks"


def _owners(path: Path) -> list[dict[str, Any]] | None:
    """The recorded holders of the locks (None if the record is unreadable)."""
    try:
        owners = json.loads(path.read_text(encoding="utf-8"))["owners"]
        return [{"pid": int(o["pid"]), "host": str(o["host"])} for o in owners]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_owner(workdir: Path = Path("."), pid: int | None = None) -> Path:
    """Record this process (or ``pid``) as a holder of the working directory's locks, beside the
    holders recorded before that still run (Snakemake lets runs whose outputs do not overlap work
    in one directory at once)."""
    path = Path(workdir) / OWNER
    me = {"pid": pid or os.getpid(), "host": socket.gethostname()}
    alive = [o for o in (_owners(path) or []) if o != me and not _gone(o)]
    return write_json({"owners": [*alive, me]}, path)


def _gone(owner: Mapping[str, Any]) -> bool:
    """Whether a recorded holder is known to have ended: its process no longer runs on this host
    (one on another host sharing the folder is never known to have ended)."""
    if owner["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        pass
    return False


def clear_stale_locks(workdir: Path = Path(".")) -> list[Path]:
    """Remove the locks killed runs left in ``workdir``, when every recorded holder has ended;
    returns what was removed."""
    workdir = Path(workdir)
    locks_dir = workdir / LOCKS
    locks = sorted(p for p in locks_dir.glob("*.lock") if p.is_file()) if locks_dir.is_dir() else []
    owner_path = workdir / OWNER
    owners = _owners(owner_path) if locks and owner_path.is_file() else None
    if not owners or not all(_gone(o) for o in owners):
        return []
    recorded = owner_path.stat().st_mtime_ns
    if any(p.stat().st_mtime_ns > recorded for p in locks):
        return []  # locked after the record: a run that has not recorded itself yet
    for p in locks:
        p.unlink(missing_ok=True)
    log.warning(
        "removed %d lock(s) left by an interrupted run (process(es) %s no longer run); its "
        "incomplete outputs are remade",
        len(locks),
        [o["pid"] for o in owners],
    )
    return locks
