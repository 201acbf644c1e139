"""A download cache shared by runs and AOIs: each URL is downloaded once, then linked into every
folder that needs it.

The counties of a province share the tiles of a global product (ESA WorldCover's 3° tiles, CCI
Biomass's 10° tiles): without a cache each AOI of a run with several (``aois:``) downloads them
again into its own ``resources/<name>/raw/``. With one (config ``download_cache``, default
``<resources_dir>/downloads`` for a run with several AOIs; ``SINKMAP_DOWNLOAD_CACHE`` overrides
both) a file is downloaded into ``<cache>/<sha256 of its URL>/<file name>``, verified as every
download is (:func:`sinkmap.sources.http.download`), recorded beside it (``record.json``: the URL, and the size,
SHA-256, MD5 and publisher's checksum the download verified) and then hard-linked into the run's folder (copied when
the two are on different file systems). The cached file is made read-only: the links share it,
so a write in place into one folder's copy would change them all. The run's folder keeps its own
manifest, so everything downstream is as without a cache. A cache shared by several users must be
writable by all of them (a group-writable folder with the setgid bit, umask 002) and on a file
system with file locks.

A cached file is used only while its size and SHA-256 equal its record, and its MD5 and size what
the publisher lists now where an adapter asks the publisher (the ``archive`` adapter's record
API): one damaged on disk, or replaced at the publisher, is downloaded again. One file lock per URL (``fcntl``, released when its process ends, kill -9 too)
lets jobs of several AOIs ask for the same tile at once: the first downloads it, the others wait
and link it. A file whose content a run refuses at alignment leaves the cache
(:func:`sinkmap.sources.set_aside`), so the next fetch downloads it anew. In offline mode (``SINKMAP_OFFLINE=1``) a file the cache
holds is linked from it, and only the others are missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sinkmap.errors import SourceError
from sinkmap.files import atomic_path, sha256_file, unlink

log = logging.getLogger("sinkmap")

#: Environment variable naming the cache folder (over the config's ``download_cache``).
ENV_CACHE = "SINKMAP_DOWNLOAD_CACHE"
RECORD = "record.json"


def cache_folder(configured: str | Path | None = None) -> Path | None:
    """The cache folder: ``SINKMAP_DOWNLOAD_CACHE`` if set, else ``configured`` (None: no cache)."""
    env = os.environ.get(ENV_CACHE, "").strip()
    if env:
        return Path(env)
    return Path(configured) if configured else None


def entry(cache: Path, url: str) -> Path:
    """The folder of ``url``'s file in ``cache``."""
    return cache / hashlib.sha256(url.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (its ``.lock`` file), waited for. A cache folder this user
    cannot write, or a file system without locks, is a :class:`SourceError` naming the fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        raise SourceError(
            f"cannot use the download cache at {folder.parent} ({exc}): make it writable for "
            "every user of it (a group-writable folder with the setgid bit, umask 002), or set "
            f"another with download_cache or {ENV_CACHE}, or none"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise SourceError(
                f"cannot lock {folder / '.lock'} ({exc}): the download cache needs a file system "
                f"with file locks (flock); put it on a local disk or one mounted with them, or set "
                f"another with download_cache or {ENV_CACHE}, or none"
            ) from None
        yield
    finally:
        os.close(fd)


def cached_download(
    cache: Path,
    url: str,
    dest: Path,
    download: Callable[[Path], dict[str, Any]],
    *,
    expected: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``url``'s file at ``dest``, from the cache, or downloaded into it first by ``download(path)``
    (which verifies it, writes it atomically and returns what it found: size, checksums).
    Returns that, as the download reported it then.

    ``expected``: what the publisher says now (``md5``, ``size``; None where it says nothing):
    a cached file that disagrees is downloaded again. The checksums a server sends only in the
    headers of a download are not asked for again: a cached file is trusted while it matches the
    record of its own verified download."""
    folder = entry(cache, url)
    with _locked(folder):
        found = _use(folder, url, dest, expected)
        if found is None:
            cached = folder / dest.name
            found = download(cached)
            cached.chmod(0o444)  # hard links share it: a write in place would change every copy
            with atomic_path(folder / RECORD) as tmp:
                text = json.dumps({"url": url, "file": dest.name, "download": found}, indent=1)
                tmp.write_text(text, encoding="utf-8")
            _link(cached, dest)
    return found


def from_cache(cache: Path, url: str, dest: Path) -> dict[str, Any] | None:
    """``url``'s file linked at ``dest`` from the cache, if the cache has it intact (what its
    download found), else None: nothing is downloaded (offline mode)."""
    folder = entry(cache, url)
    if not (folder / RECORD).is_file():
        return None
    with _locked(folder):
        return _use(folder, url, dest)


def _use(
    folder: Path, url: str, dest: Path, expected: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Link the cached file of ``folder`` at ``dest`` if it matches its record (and ``expected``)."""
    record = _valid_record(folder, folder / dest.name, url)
    if record is None:
        return None
    found: dict[str, Any] = record["download"]
    for key, want in (expected or {}).items():
        if want is not None and str(found.get(key)).lower() != str(want).lower():
            log.warning(
                "%s in the download cache has %s %s, the publisher now says %s; downloading it again",
                dest.name,
                key,
                found.get(key),
                want,
            )
            return None
    log.info("%s from the download cache (%s)", dest.name, folder)
    _link(folder / dest.name, dest)
    return found


def _valid_record(folder: Path, cached: Path, url: str) -> dict[str, Any] | None:
    """The record of the cached file when the file matches it (size, SHA-256), else None."""
    try:
        record: dict[str, Any] = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = record.get("download") or {}
    if record.get("url") != url or not cached.is_file():
        return None
    if cached.stat().st_size != found.get("size") or sha256_file(cached) != found.get("sha256"):
        log.warning(
            "%s in the download cache differs from its record; downloading it again", cached
        )
        return None
    return record


def _link(src: Path, dest: Path) -> None:
    """``src`` at ``dest``: a hard link, or a copy (another file system, or links not allowed);
    replaced atomically."""
    with atomic_path(dest) as tmp:
        try:
            os.link(src, tmp)
        except OSError as exc:
            log.info("copying %s from the download cache (no hard link: %s)", dest.name, exc)
            shutil.copyfile(src, tmp)


def forget(cache: Path, url: str) -> None:
    """Drop ``url``'s file from the cache (a run refused it): the next fetch downloads it anew."""
    folder = entry(cache, url)
    if not folder.is_dir():
        return
    with _locked(folder):
        unlink(folder / RECORD)
        for path in folder.iterdir():
            if path.name != ".lock":
                unlink(path)
