"""The ``http_tiles`` adapter: downloads a product's tiles by URL template, safely and only once.

Each file's URL comes from the dataset's ``url`` template, e.g.
``{base_url}/{version}/{year}/map/{file}``, with ``{base_url}``, ``{version}``, ``{year}``, ``{file}``,
``{tile}`` and ``{layer}`` filled in. The base URL is, first found: the ``base_url`` argument of
:class:`HttpTilesAdapter`, the environment variable ``SINKMAP_BASE_URL_<DATASET>`` (the dataset name in
upper case, e.g. ``SINKMAP_BASE_URL_ESA_WORLDCOVER``), the dataset's ``base_url`` field. So a mirror
or a local server can stand in for a public host without editing the registry.

Every file is streamed in chunks to a temporary name in the target folder, checked (its size equals
the ``Content-Length``; its MD5 equals the one the server publishes, if any; it opens with rasterio and
has the dataset's CRS) and only then renamed onto its real name: a partial or corrupt download never
counts as done. A file already present whose size and SHA-256 match the folder's ``manifest.json``, or
the ``.verified-files.json`` beside it (each verified file is recorded there at once, and kept when a
fetch fails or Snakemake deletes the manifest to rerun the job), is not downloaded again. A download
is verified by decoding every block of it: one cut short past its header opens but is refused (and
fetched again).

Publishers' checksums: a Google Storage ``x-goog-hash: md5=...`` header is always checked; an ``ETag``
is taken as the file's MD5 only with ``options: {checksums: etag}`` (S3 multipart ETags are not
MD5s); callers such as the ``archive`` adapter pass a checksum from the publisher's API. A mismatch is
an error at once (no retry), and the checksum verified is recorded in the manifest
(``published_checksum``).

Transient failures (HTTP 5xx, 408, 429, connection errors, resets, short reads, timeouts) are retried
with exponential backoff; a 404 or 403 fails at once. The machinery is reusable: :func:`download`
fetches one URL to one path, :func:`get_json` a JSON document, :func:`call_with_retries` retries any
call. With ``SINKMAP_OFFLINE=1`` nothing is downloaded: missing files are named,
with their URLs, in the error.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import rasterio
import rasterio.errors
import requests
import urllib3.exceptions
from rasterio.crs import CRS

from sinkmap.errors import SourceError
from sinkmap.files import atomic_path, sha256_file
from sinkmap.progress import Progress
from sinkmap.sources import (
    Bounds,
    Dataset,
    Manifest,
    RawFile,
    previous_records,
    remember_file,
)
from sinkmap.sources.cache import cache_folder, cached_download, from_cache
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

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another try (server error, dropped connection, short read)."""


@dataclass(frozen=True)
class PlannedFile:
    """One file to obtain: its layer, tile, final path and URL."""

    layer: str
    tile: str
    path: Path
    url: str


@dataclass(frozen=True)
class Downloaded:
    """What :func:`download` wrote: the file's size and checksums, and the publisher's checksum."""

    size: int
    sha256: str
    md5: str
    #: ``"md5:<hex>"`` announced by the publisher and verified, or None if none was announced.
    published_checksum: str | None = None

    def record(self, layer: str, name: str, url: str) -> RawFile:
        """The manifest's record of the file, saved as ``name`` for ``layer`` from ``url``."""
        return RawFile(
            layer, name, self.size, self.sha256, url, published_checksum=self.published_checksum
        )


def base_url_env_var(dataset_name: str) -> str:
    """The environment variable that overrides ``dataset_name``'s base URL."""
    return ENV_BASE_URL_PREFIX + re.sub(r"[^A-Z0-9]", "_", dataset_name.upper())


def is_offline() -> bool:
    """Whether ``SINKMAP_OFFLINE`` asks for no network access."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def mirror_hint(dataset_name: str) -> str:
    """The usual fix when a dataset's host fails: a mirror, or local files."""
    return (
        f"point {base_url_env_var(dataset_name)} (or the dataset's base_url) at a mirror, or "
        "download the file by other means and use local files (adapter: local)"
    )


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


# -- one download, reusable -------------------------------------------------------------------------
def download(
    url: str,
    dest: Path,
    *,
    session: requests.Session,
    what: str,
    fix: str,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    chunk_size: int = _CHUNK,
    check: Callable[[Path], None] | None = None,
    expected_md5: str | None = None,
    md5_source: str = "the publisher",
    expected_size: int | None = None,
    etag_md5: bool = False,
) -> Downloaded:
    """Download ``url`` to ``dest``: streamed to a temporary name, verified, then renamed.

    Verified: the size equals ``Content-Length`` (and ``expected_size``); the MD5 equals
    ``expected_md5`` (e.g. from Zenodo's record API; ``md5_source`` names it in errors) and the
    server's ``x-goog-hash`` MD5 (and its ``ETag`` if ``etag_md5``); ``check(tmp)`` passes (it raises
    SourceError otherwise). Transient failures are retried ``retries`` times with exponential backoff
    from ``backoff`` seconds; a checksum mismatch, a 403/404/410 or a failed ``check`` fail at once.
    Nothing is left under ``dest`` or a temporary name when it fails.

    Args:
        what: What the file is, for errors (e.g. ``"tile N18E108 of esa_worldcover (file ...)"``).
        fix: What the user can do when the host fails (see :func:`mirror_hint`).
    """

    def once() -> Downloaded:
        return _try_download(
            session,
            url,
            dest,
            what=what,
            fix=fix,
            timeout=timeout,
            chunk_size=chunk_size,
            check=check,
            expected=[(md5_source, expected_md5.lower())] if expected_md5 else [],
            expected_size=expected_size,
            etag_md5=etag_md5,
        )

    return _with_retries(once, url, retries=retries, backoff=backoff, fix=fix)


def get_json(
    url: str,
    *,
    session: requests.Session,
    what: str,
    fix: str,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
) -> Any:
    """GET ``url`` and parse its JSON body (e.g. a record's metadata), with the same retries."""

    def once() -> Any:
        try:
            response = session.get(url, timeout=(timeout, timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        with response:
            _check_status(response, url, what, fix)
            try:
                return response.json()
            except ValueError as exc:
                raise SourceError(
                    f"{url} did not answer JSON ({exc}); check the URL of {what}, or {fix}"
                ) from exc

    return _with_retries(once, url, retries=retries, backoff=backoff, fix=fix)


def call_with_retries(fn: Callable[[], T], *, retries: int, backoff: float, what: str) -> T:
    """``fn()``, tried up to ``retries`` times while it raises :class:`Transient`.

    Waits ``backoff`` seconds after the first failure, doubling each time (capped at a minute).
    Any other exception passes through at once; after the last try the last ``Transient`` is
    raised again, for the caller to turn into an error that names the fix.
    """
    retries = max(1, int(retries))
    for attempt in range(1, retries + 1):
        try:
            return fn()
        except Transient as exc:
            if attempt == retries:
                raise
            delay = min(backoff * 2 ** (attempt - 1), _MAX_DELAY)
            log.warning(
                "try %d/%d of %s failed (%s); retrying in %.3g s",
                attempt,
                retries,
                what,
                exc,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _with_retries(once: Callable[[], T], url: str, *, retries: int, backoff: float, fix: str) -> T:
    try:
        return call_with_retries(once, retries=retries, backoff=backoff, what=url)
    except Transient as exc:
        raise SourceError(
            f"could not download {url} after {max(1, int(retries))} tries; last error: {exc}. "
            "Nothing partial was kept: run again later (files already verified are not fetched "
            f"again). If the host is slow or blocked, {fix}; {ENV_RETRIES}, {ENV_BACKOFF} and "
            f"{ENV_TIMEOUT} tune the retries."
        ) from None


def _try_download(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    what: str,
    fix: str,
    timeout: float,
    chunk_size: int,
    check: Callable[[Path], None] | None,
    expected: list[tuple[str, str]],
    expected_size: int | None,
    etag_md5: bool,
) -> Downloaded:
    """One try: stream to a temporary name, verify, rename. Transient failures raise Transient."""
    log.info("downloading %s -> %s", url, dest)
    started = time.monotonic()
    try:
        response = session.get(
            url, stream=True, timeout=(timeout, timeout), headers={"Accept-Encoding": "identity"}
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc
    with response:
        _check_status(response, url, what, fix)
        length = _content_length(response)
        published = expected + _header_md5s(response, etag_md5=etag_md5)
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        size = 0
        with atomic_path(dest) as tmp:
            try:
                with (
                    open(tmp, "wb") as out,
                    Progress(f"downloading {dest.name}", length, "bytes") as progress,
                ):
                    for block in _blocks(response, chunk_size):
                        out.write(block)
                        sha256.update(block)
                        md5.update(block)
                        size += len(block)
                        progress.update(len(block))
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                urllib3.exceptions.HTTPError,
                ConnectionError,
            ) as exc:
                of = f" of {length:,}" if length is not None else ""
                raise Transient(
                    f"connection lost after {size:,}{of} bytes ({type(exc).__name__}: {exc})"
                ) from exc
            if length is not None and size != length:
                raise Transient(f"short read: got {size:,} of {length:,} bytes")
            if expected_size is not None and size != expected_size:
                raise SourceError(
                    f"{url} gave {size} bytes, but the publisher lists {what} with {expected_size} "
                    f"bytes. Nothing was kept. The file may have been replaced by a new version: "
                    f"check the dataset's version or record, or {fix}."
                )
            if check is not None:
                check(tmp)
            for source, want in published:
                if md5.hexdigest() != want:
                    raise SourceError(
                        f"{url}: the MD5 of the downloaded file is {md5.hexdigest()}, but {source} "
                        f"says {want}. Nothing was kept. The file on the server may have been "
                        f"replaced (a new version) or a mirror serves another file: check the "
                        f"dataset's version or record, or {fix}."
                    )
    log.info(
        "downloaded %s (%d bytes in %.1f s, sha256 %s%s)",
        dest.name,
        size,
        time.monotonic() - started,
        sha256.hexdigest(),
        f", md5 verified against {published[0][0]}" if published else "",
    )
    return Downloaded(
        size,
        sha256.hexdigest(),
        md5.hexdigest(),
        f"md5:{published[0][1]}" if published else None,
    )


def _blocks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The body as it arrives: each block what the connection has (up to ``chunk_size``), so a
    connection lost mid-file leaves no bytes unaccounted in a half-filled buffer (with
    ``iter_content`` a reset after 26,575 bytes read as "after 0 bytes")."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(chunk_size=chunk_size)
        return
    while block := read1(chunk_size):
        yield block


def _header_md5s(response: requests.Response, *, etag_md5: bool) -> list[tuple[str, str]]:
    """(source, hex MD5) the server announces: ``x-goog-hash: md5=<base64>``, and the ETag if asked."""
    found: list[tuple[str, str]] = []
    for part in response.headers.get("x-goog-hash", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "md5" and value:
            try:
                digest = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(digest) == 16:
                found.append(("the server's x-goog-hash header", digest.hex()))
    etag = response.headers.get("ETag", "").strip().removeprefix("W/").strip('"').lower()
    if etag_md5 and re.fullmatch(r"[0-9a-f]{32}", etag):
        found.append(("the server's ETag header", etag))
    return found


# -- the adapter -----------------------------------------------------------------------------------
class HttpClient:
    """Download settings shared by the adapters that fetch over HTTP(S).

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
        download_cache: A folder each URL is downloaded into once and linked from
            (:mod:`sinkmap.sources.cache`; env ``SINKMAP_DOWNLOAD_CACHE`` overrides it).
    """

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
        download_cache: Path | None = None,
    ) -> None:
        self.base_url = base_url
        self.retries = max(1, int(retries if retries is not None else _env_number(ENV_RETRIES, 5)))
        self.backoff = float(backoff if backoff is not None else _env_number(ENV_BACKOFF, 2.0))
        self.timeout = float(timeout if timeout is not None else _env_number(ENV_TIMEOUT, 60.0))
        self.chunk_size = chunk_size
        self.offline = offline
        self.session = session
        self.download_cache = download_cache

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

    def offline_mode(self) -> bool:
        """Whether to refuse downloads (the ``offline`` argument, else ``SINKMAP_OFFLINE``)."""
        return self.offline if self.offline is not None else is_offline()

    @contextmanager
    def open_session(self) -> Iterator[requests.Session]:
        """The session given to the constructor, or a new one closed afterwards."""
        if self.session is not None:
            yield self.session
            return
        with requests.Session() as session:
            yield session

    def download(
        self, session: requests.Session, url: str, dest: Path, **kwargs: Any
    ) -> Downloaded:
        """:func:`download` with this client's retries, backoff, timeout and chunk size, through
        the download cache when there is one (:func:`sinkmap.sources.cache.cached_download`)."""

        def to(path: Path) -> Downloaded:
            return download(
                url,
                path,
                session=session,
                retries=self.retries,
                backoff=self.backoff,
                timeout=self.timeout,
                chunk_size=self.chunk_size,
                **kwargs,
            )

        cache = cache_folder(self.download_cache)
        if cache is None:
            return to(dest)
        md5 = kwargs.get("expected_md5")
        expected = {"md5": md5.lower() if md5 else None, "size": kwargs.get("expected_size")}
        found = cached_download(
            cache, url, dest, lambda path: dataclasses.asdict(to(path)), expected=expected
        )
        return Downloaded(**found)

    def from_cache(self, url: str, dest: Path) -> Downloaded | None:
        """Offline: ``url``'s file linked at ``dest`` from the download cache, if it holds it
        intact, else None."""
        cache = cache_folder(self.download_cache)
        found = None if cache is None else from_cache(cache, url, dest)
        return None if found is None else Downloaded(**found)

    def get_json(self, session: requests.Session, url: str, *, what: str, fix: str) -> Any:
        """:func:`get_json` with this client's retries, backoff and timeout."""
        return get_json(
            url,
            session=session,
            what=what,
            fix=fix,
            retries=self.retries,
            backoff=self.backoff,
            timeout=self.timeout,
        )


class HttpTilesAdapter(HttpClient):
    """Downloads a dataset's tiles over HTTP(S) into a folder and describes them in a manifest.

    Takes the arguments of :class:`HttpClient`. Dataset option ``checksums: etag`` makes the
    server's ``ETag`` count as the file's MD5.
    """

    name = "http_tiles"

    # -- planning --------------------------------------------------------------------------------
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
                name = pattern.format(year=year, version=ver, tile=tile, layer=layer)
                try:
                    url = dataset.url.format(
                        base_url=base, version=ver, year=year, file=name, tile=tile, layer=layer
                    )
                except (KeyError, IndexError) as exc:
                    raise SourceError(
                        f"url template {dataset.url!r} of dataset {dataset.name} uses an unknown "
                        f"field {exc}; use only {{base_url}}, {{version}}, {{year}}, {{file}}, "
                        "{tile}, {layer}"
                    ) from None
                planned.append(PlannedFile(layer, tile, folder / name, url))
        return planned

    # -- fetching --------------------------------------------------------------------------------
    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """Download the files of ``dataset`` for ``year`` over ``bounds`` (lon/lat) into ``folder``.

        Files already there and matching the folder's manifest (or its verified records) are kept.
        Returns the manifest (the caller, :func:`sinkmap.sources.fetch`, writes it).
        """
        folder = Path(folder)
        ver = dataset.version_for(year, version)
        planned = self.plan(dataset, year, bounds, folder, version)
        known = previous_records(folder)
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

        if missing and self.offline_mode():
            missing = self._from_cache(missing, records)
        if missing and self.offline_mode():
            listed = "\n".join(f"  - {m.path.name}  <-  {m.url}" for m in missing)
            raise SourceError(
                f"offline mode ({ENV_OFFLINE}=1): {len(missing)} file(s) of {dataset.name} {year} are "
                f"missing from {folder}:\n{listed}\nDownload them on a machine with access (or from "
                f"a mirror) into that folder and run again, unset {ENV_OFFLINE}, or use local files "
                "(adapter: local)."
            )

        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            stub = Manifest(dataset.name, ver, year, self.name, dataset.synthetic, (), folder)
            with self.open_session() as session:
                for item in missing:
                    records[item.path] = self._download(session, dataset, item)
                    remember_file(folder, records[item.path], stub)

        files = tuple(records[item.path] for item in planned)
        return Manifest(dataset.name, ver, year, self.name, dataset.synthetic, files, folder)

    def _from_cache(
        self, missing: list[PlannedFile], records: dict[Path, RawFile]
    ) -> list[PlannedFile]:
        """Offline: link each missing file the download cache holds (into ``records``); return
        the files still missing."""
        still = []
        for item in missing:
            found = self.from_cache(item.url, item.path)
            if found is None:
                still.append(item)
                continue
            records[item.path] = found.record(item.layer, item.path.name, item.url)
        return still

    def _download(self, session: requests.Session, dataset: Dataset, item: PlannedFile) -> RawFile:
        """Download one file with retries; return its record. Raise SourceError when it fails."""
        got = self.download(
            session,
            item.url,
            item.path,
            what=f"tile {item.tile} of {dataset.name} (file {item.path.name})",
            fix=mirror_hint(dataset.name),
            check=lambda tmp: _check_raster(tmp, dataset, item),
            etag_md5=str(dataset.options.get("checksums", "")).lower() == "etag",
        )
        return got.record(item.layer, item.path.name, item.url)


def _check_status(response: requests.Response, url: str, what: str, fix: str) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in _TRANSIENT_STATUS or status >= 500:
        raise Transient(f"HTTP {status} {response.reason}")
    if status in (403, 404, 410):
        raise SourceError(
            f"{url} answered HTTP {status} {response.reason}, but {what} should exist there. "
            f"Check the dataset's version and url template, or {fix}."
        )
    raise SourceError(f"{url} answered HTTP {status} {response.reason}; check the URL, or {fix}")


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
    """Raise SourceError unless ``path`` opens as a raster in the dataset's CRS, and Transient
    (fetched again) unless every block of it decodes: a file cut short past its header opens,
    but its last blocks do not. One open; one block in memory at a time."""
    try:
        ds = rasterio.open(path)
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
    with ds:
        want = CRS.from_user_input(dataset.crs)
        if ds.crs is None or ds.crs != want:
            raise SourceError(
                f"{item.url} has CRS {ds.crs.to_string() if ds.crs else 'none'}, but dataset "
                f"{dataset.name} is in {dataset.crs}. Nothing was kept. Check that the base URL "
                "serves this product, or fix `crs:` in the dataset registry."
            )
        try:
            for band in ds.indexes:
                for _, window in ds.block_windows(band):
                    ds.read(band, window=window)
        except rasterio.errors.RasterioError as exc:  # cut short on the way, or on the server
            raise Transient(f"the file is truncated or corrupt ({exc})") from exc


def _verified_record(item: PlannedFile, record: RawFile | None) -> RawFile | None:
    """The record of ``item`` if its file exists with the recorded size and SHA-256, else None."""
    if record is None or not item.path.is_file():
        return None
    if item.path.stat().st_size != record.size:
        return None
    if sha256_file(item.path) != record.sha256:
        log.warning("%s differs from its manifest record; downloading it again", item.path)
        return None
    return RawFile(
        item.layer,
        item.path.name,
        record.size,
        record.sha256,
        record.url or item.url,
        published_checksum=record.published_checksum,
    )
