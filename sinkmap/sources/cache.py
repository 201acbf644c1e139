"""A download cache shared by runs and AOIs: each URL is downloaded once, then linked into every
folder that needs it.

The counties of a province share the tiles of a global product (ESA WorldCover's 3° tiles, CCI
Biomass's 10° tiles): without a cache each AOI of a run with several (``aois:``) downloads them
again into its own ``resources/<name>/raw/``. With one (config ``download_cache``, default
``<resources_dir>/downloads`` for a run with several AOIs; ``SINKMAP_DOWNLOAD_CACHE`` overrides
both) a file is downloaded into ``<cache>/<sha256 of its URL>/<file name>``, verified as every
download is (:func:`sinkmap.sources.http.download`), recorded beside it (``record.json``: the URL, and the size,
SHA-256, MD5 and publisher's checksum the download verified) and then hard-linked into the run's folder (copied when
the two are on different file systems). The run's folder keeps its own manifest, so everything
downstream is as without a cache.

A cached file is used only while its size and SHA-256 equal its record: one damaged on disk is
downloaded again. One file lock per URL (``fcntl``, released when its process ends, kill -9 too)
lets jobs of several AOIs ask for the same tile at once: the first downloads it, the others wait
and link it. A file that a run refuses later (:func:`sinkmap.sources.set_aside`) leaves the cache
too, so the next run downloads it anew. In offline mode (``SINKMAP_OFFLINE=1``) a file the cache
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
    """An exclusive lock on ``folder`` (its ``.lock`` file), waited for."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_download(
    cache: Path, url: str, dest: Path, download: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """``url``'s file at ``dest``, from the cache, or downloaded into it first by ``download(path)``
    (which verifies it, writes it atomically and returns what it found: size, checksums).
    Returns that, as the download reported it then."""
    folder = entry(cache, url)
    with _locked(folder):
        found = _use(folder, url, dest)
        if found is None:
            found = download(folder / dest.name)
            with atomic_path(folder / RECORD) as tmp:
                text = json.dumps({"url": url, "file": dest.name, "download": found}, indent=1)
                tmp.write_text(text, encoding="utf-8")
            _link(folder / dest.name, dest)
    return found


def from_cache(cache: Path, url: str, dest: Path) -> dict[str, Any] | None:
    """``url``'s file linked at ``dest`` from the cache, if the cache has it intact (what its
    download found), else None: nothing is downloaded (offline mode)."""
    folder = entry(cache, url)
    if not (folder / RECORD).is_file():
        return None
    with _locked(folder):
        return _use(folder, url, dest)


def _use(folder: Path, url: str, dest: Path) -> dict[str, Any] | None:
    """Link the cached file of ``folder`` at ``dest`` if it matches its record."""
    record = _valid_record(folder, folder / dest.name, url)
    if record is None:
        return None
    log.info("%s from the download cache (%s)", dest.name, folder)
    _link(folder / dest.name, dest)
    found: dict[str, Any] = record["download"]
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
    """``src`` at ``dest``: a hard link, or a copy across file systems; replaced atomically."""
    with atomic_path(dest) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
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
