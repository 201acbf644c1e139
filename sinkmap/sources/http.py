"""The ``http_tiles`` adapter: downloads a product's tiles by URL template, safely and only once.

Each file's URL comes from the dataset's ``url`` template, e.g.
``{base_url}/{version}/{year}/map/{file}``, with ``{base_url}``, ``{version}``, ``{year}``, ``{file}``
and ``{tile}`` filled in. The base URL is, first found: the ``base_url`` argument of
:class:`HttpTilesAdapter`, the environment variable ``SINKMAP_BASE_URL_<DATASET>`` (the dataset name in
upper case, e.g. ``SINKMAP_BASE_URL_ESA_WORLDCOVER``), the dataset's ``base_url`` field. So a mirror
or a local server can stand in for a public host without editing the registry.

Every file is streamed in chunks to a temporary name in the target folder, checked (its size equals
the ``Content-Length``; it opens with rasterio and has the dataset's CRS) and only then renamed onto its
real name: a partial or corrupt download never counts as done. A file already present whose size and
SHA-256 match the folder's ``manifest.json`` is not downloaded again. Transient failures (HTTP 5xx,
408, 429, connection errors, resets, short reads, timeouts) are retried with exponential backoff; a
404 or 403 fails at once. With ``SINKMAP_OFFLINE=1`` nothing is downloaded: missing files are named,
with their URLs, in the error.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import rasterio
import rasterio.errors
import requests
from rasterio.crs import CRS

from sinkmap.errors import SourceError
from sinkmap.io import atomic_path, sha256_file
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile
from sinkmap.sources.tiles import tiles_for_bounds

log = logging.getLogger("sinkmap")

#: Environment variables read by the adapter (each overridden by the matching constructor argument).
ENV_OFFLINE = "SINKMAP_OFFLINE"
ENV_BASE_URL_PREFIX = "SINKMAP_BASE_URL_"
ENV_RETRIES = "SINKMAP_HTTP_RETRIES"
ENV_BACKOFF = "SINKMAP_HTTP_BACKOFF"
ENV_TIMEOUT = "SINKMAP_HTTP_TIMEOUT"

_CHUNK = 1 << 20  # bytes per write: memory stays bounded whatever the file size
_MAX_DELAY = 60.0  # seconds, cap of one backoff wait
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_TRUE = frozenset({"1", "true", "yes", "on"})


class _Transient(Exception):
    """A failure worth another try (server error, dropped connection, short read)."""


@dataclass(frozen=True)
class PlannedFile:
    """One file to obtain: its layer, tile, final path and URL."""

    layer: str
    tile: str
    path: Path
    url: str


def base_url_env_var(dataset_name: str) -> str:
    """The environment variable that overrides ``dataset_name``'s base URL."""
    return ENV_BASE_URL_PREFIX + re.sub(r"[^A-Z0-9]", "_", dataset_name.upper())


def is_offline() -> bool:
    """Whether ``SINKMAP_OFFLINE`` asks for no network access."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SourceError(
            f"environment variable {name}={raw!r} is not a number; unset it or set e.g. {default}"
        ) from None


class HttpTilesAdapter:
    """Downloads a dataset's tiles over HTTP(S) into a folder and describes them in a manifest.

    Args:
        base_url: Overrides the dataset's base URL (and ``SINKMAP_BASE_URL_<DATASET>``).
        retries: Number of tries per file for transient errors (default 5, env
            ``SINKMAP_HTTP_RETRIES``).
        backoff: First wait in seconds between tries, doubled after each (default 2, env
            ``SINKMAP_HTTP_BACKOFF``).
        timeout: Seconds to wait for a connection or for the next bytes of a response (default 60,
            env ``SINKMAP_HTTP_TIMEOUT``).
        chunk_size: Bytes read and written at a time.
        offline: Fail instead of downloading (default: env ``SINKMAP_OFFLINE``).
        session: A ``requests.Session`` to use (e.g. with a proxy or auth); one is made otherwise.
    """

    name = "http_tiles"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        chunk_size: int = _CHUNK,
        offline: bool | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url
        self.retries = max(1, int(retries if retries is not None else _env_number(ENV_RETRIES, 5)))
        self.backoff = float(backoff if backoff is not None else _env_number(ENV_BACKOFF, 2.0))
        self.timeout = float(timeout if timeout is not None else _env_number(ENV_TIMEOUT, 60.0))
        self.chunk_size = chunk_size
        self.offline = offline
        self.session = session

    # -- planning --------------------------------------------------------------------------------
    def resolve_base_url(self, dataset: Dataset) -> str:
        """The base URL used for ``dataset``: argument, then environment variable, then registry."""
        env = base_url_env_var(dataset.name)
        base = self.base_url or os.environ.get(env) or dataset.base_url
        if not base:
            raise SourceError(
                f"dataset {dataset.name} has no base URL; set `base_url:` in its registry entry or "
                f"the environment variable {env} (e.g. a mirror), or use local files (adapter: local)"
            )
        return base.rstrip("/")

    def plan(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> list[PlannedFile]:
        """The files covering ``bounds`` for ``year``, with their final paths and URLs."""
        if not dataset.url:
            raise SourceError(
                f"dataset {dataset.name} uses adapter http_tiles but has no `url:` template; add one "
                "such as '{base_url}/{year}/{file}' to its entry in the dataset registry"
            )
        ver = dataset.version_for(year, version)
        base = self.resolve_base_url(dataset)
        planned = []
        for tile in tiles_for_bounds(dataset.tile_scheme, bounds):
            for layer, pattern in dataset.files.items():
                name = pattern.format(year=year, version=ver, tile=tile)
                try:
                    url = dataset.url.format(
                        base_url=base, version=ver, year=year, file=name, tile=tile
                    )
                except (KeyError, IndexError) as exc:
                    raise SourceError(
                        f"url template {dataset.url!r} of dataset {dataset.name} uses an unknown "
                        f"field {exc}; use only {{base_url}}, {{version}}, {{year}}, {{file}}, {{tile}}"
                    ) from None
                planned.append(PlannedFile(layer, tile, folder / name, url))
        return planned

    # -- fetching --------------------------------------------------------------------------------
    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """Download the files of ``dataset`` for ``year`` over ``bounds`` (lon/lat) into ``folder``.

        Files already there and matching the folder's manifest are kept. Returns the manifest (the
        caller, :func:`sinkmap.sources.fetch`, writes it).
        """
        folder = Path(folder)
        ver = dataset.version_for(year, version)
        planned = self.plan(dataset, year, bounds, folder, version)
        known = _previous_records(folder)
        records: dict[Path, RawFile] = {}
        missing: list[PlannedFile] = []
        for item in planned:
            record = _verified_record(item, known.get(item.path.name))
            if record is not None:
                log.info(
                    "%s is present and matches its manifest record; not downloading", item.path
                )
                records[item.path] = record
            else:
                missing.append(item)

        offline = self.offline if self.offline is not None else is_offline()
        if missing and offline:
            listed = "\n".join(f"  - {m.path.name}  <-  {m.url}" for m in missing)
            raise SourceError(
                f"offline mode ({ENV_OFFLINE}=1): {len(missing)} file(s) of {dataset.name} {year} are "
                f"missing from {folder}:\n{listed}\nDownload them on a machine with access (or from "
                f"a mirror) into that folder and run again, unset {ENV_OFFLINE}, or use local files "
                "(adapter: local)."
            )

        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            session = self.session or requests.Session()
            try:
                for item in missing:
                    _remove_stale_temporaries(item.path)
                    records[item.path] = self._download(session, dataset, item)
            finally:
                if self.session is None:
                    session.close()

        files = tuple(records[item.path] for item in planned)
        return Manifest(dataset.name, ver, year, self.name, dataset.synthetic, files, folder)

    def _download(self, session: requests.Session, dataset: Dataset, item: PlannedFile) -> RawFile:
        """Download one file with retries; return its record. Raise SourceError when it fails."""
        last: str = ""
        for attempt in range(1, self.retries + 1):
            try:
                return self._try_download(session, dataset, item)
            except _Transient as exc:
                last = str(exc)
            if attempt < self.retries:
                delay = min(self.backoff * 2 ** (attempt - 1), _MAX_DELAY)
                log.warning(
                    "try %d/%d of %s failed (%s); retrying in %.3g s",
                    attempt,
                    self.retries,
                    item.url,
                    last,
                    delay,
                )
                time.sleep(delay)
        env = base_url_env_var(dataset.name)
        raise SourceError(
            f"could not download {item.url} after {self.retries} tries; last error: {last}. "
            f"If the host is slow or blocked, point {env} (or the dataset's base_url) at a mirror, "
            f"or download the file by other means and use local files (adapter: local); "
            f"{ENV_RETRIES}, {ENV_BACKOFF} and {ENV_TIMEOUT} tune the retries."
        )

    def _try_download(
        self, session: requests.Session, dataset: Dataset, item: PlannedFile
    ) -> RawFile:
        """One try: stream to a temporary name, verify, rename. Transient failures raise _Transient."""
        log.info("downloading %s -> %s", item.url, item.path)
        started = time.monotonic()
        try:
            response = session.get(
                item.url,
                stream=True,
                timeout=(self.timeout, self.timeout),
                headers={"Accept-Encoding": "identity"},
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        with response:
            _check_status(response, dataset, item)
            expected = _content_length(response)
            digest = hashlib.sha256()
            size = 0
            with atomic_path(item.path) as tmp:
                try:
                    with open(tmp, "wb") as out:
                        for block in response.iter_content(chunk_size=self.chunk_size):
                            out.write(block)
                            digest.update(block)
                            size += len(block)
                except (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError,
                    ConnectionError,
                ) as exc:
                    raise _Transient(
                        f"connection lost after {size} bytes ({type(exc).__name__}: {exc})"
                    ) from exc
                if expected is not None and size != expected:
                    raise _Transient(f"short read: got {size} of {expected} bytes")
                _check_raster(tmp, dataset, item)
        seconds = time.monotonic() - started
        log.info(
            "downloaded %s (%d bytes in %.1f s, sha256 %s)",
            item.path.name,
            size,
            seconds,
            digest.hexdigest(),
        )
        return RawFile(item.layer, item.path.name, size, digest.hexdigest(), item.url)


def _check_status(response: requests.Response, dataset: Dataset, item: PlannedFile) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in _TRANSIENT_STATUS or status >= 500:
        raise _Transient(f"HTTP {status} {response.reason}")
    env = base_url_env_var(dataset.name)
    if status in (403, 404, 410):
        raise SourceError(
            f"{item.url} answered HTTP {status} {response.reason}, but tile {item.tile} of "
            f"{dataset.name} (file {item.path.name}) should exist there. Check the dataset's version "
            f"and url template, point {env} (or the dataset's base_url) at a complete mirror, or "
            "download the file by other means and use local files (adapter: local)."
        )
    raise SourceError(
        f"{item.url} answered HTTP {status} {response.reason}; check the URL, or point {env} "
        "at a mirror, or use local files (adapter: local)"
    )


def _content_length(response: requests.Response) -> int | None:
    """The body size the server announced, if it is the size of the bytes we will receive."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    raw = response.headers.get("Content-Length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _check_raster(path: Path, dataset: Dataset, item: PlannedFile) -> None:
    """Raise SourceError unless ``path`` opens as a raster in the dataset's CRS."""
    try:
        with rasterio.open(path) as ds:
            crs = ds.crs
    except rasterio.errors.RasterioError as exc:
        with open(path, "rb") as fh:
            head = fh.read(64)
        hint = (
            " (it looks like an HTML page: the server or a proxy answered with an error page)"
            if head.lstrip().startswith(b"<")
            else ""
        )
        raise SourceError(
            f"{item.url} did not give a readable GeoTIFF{hint}: {exc}. Nothing was kept. Check that "
            f"the URL serves {item.path.name}; point {base_url_env_var(dataset.name)} at a good "
            "mirror, or use local files (adapter: local)."
        ) from exc
    want = CRS.from_user_input(dataset.crs)
    if crs is None or crs != want:
        raise SourceError(
            f"{item.url} has CRS {crs.to_string() if crs else 'none'}, but dataset {dataset.name} is "
            f"in {dataset.crs}. Nothing was kept. Check that the base URL serves this product, or fix "
            "`crs:` in the dataset registry."
        )


def _previous_records(folder: Path) -> dict[str, RawFile]:
    """File name -> record, from the folder's manifest.json if there is a readable one."""
    path = folder / "manifest.json"
    if not path.exists():
        return {}
    try:
        manifest = Manifest.read(path)
    except (SourceError, TypeError, KeyError) as exc:
        log.warning("ignoring unreadable %s (%s); files will be checked by downloading", path, exc)
        return {}
    return {Path(f.path).name: f for f in manifest.files}


def _verified_record(item: PlannedFile, record: RawFile | None) -> RawFile | None:
    """The record of ``item`` if its file exists with the recorded size and SHA-256, else None."""
    if record is None or not item.path.is_file():
        return None
    if item.path.stat().st_size != record.size:
        return None
    if sha256_file(item.path) != record.sha256:
        log.warning("%s differs from its manifest record; downloading it again", item.path)
        return None
    return RawFile(item.layer, item.path.name, record.size, record.sha256, record.url or item.url)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove temporaries of ``path`` left by a process that was killed mid-download."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part{path.suffix}"):
        log.info("removing %s, left by an interrupted download", stale)
        stale.unlink(missing_ok=True)
