"""The ``stac`` adapter: finds a product's items in a STAC API and cuts the AOI out of their COGs.

A registry entry names the API, the collection and the asset (Impact Observatory annual land cover
in Microsoft's Planetary Computer, for example)::

    adapter: stac
    options:
      stac_api: https://planetarycomputer.microsoft.com/api/stac/v1
      collection: io-lulc-annual-v02
      asset: data
      sign: planetary_computer        # optional: SAS-sign hrefs before reading them
    files:
      map: "{collection}_{item}_{asset}.tif"

For one year the adapter searches the collection by the AOI's bounding box and the year's dates,
keeps the items whose own date (``start_datetime``, else ``datetime``) falls in that year (annual
products often end at 1 January of the next year, so a plain search also returns the previous
year's items), and for each item reads only the AOI's window, plus a margin of a few pixels, from
the asset's COG, on the product's own pixel lattice (no resampling). The window is written under a
name made from the collection, item id and asset (e.g. ``io-lulc-annual-v02_49Q-2021_data.tif``) to
a temporary name, reopened and checked, then renamed. The manifest records each file's unsigned href
(never a SAS token) and SHA-256.

Signing (``sign: planetary_computer``) uses :func:`planetary_computer.sign`, which SAS-signs hrefs
in Azure Blob Storage (``*.blob.core.windows.net``) with a token from the Planetary Computer's token
service; tokens are cached and renewed by the library. The token service URL is the library's
setting ``PC_SDK_SAS_URL`` (environment variable, or ``~/.planetarycomputer/settings.env``), and an
optional API key is ``PC_SDK_SUBSCRIPTION_KEY``.

The STAC API root is, first found: the ``base_url`` argument, ``SINKMAP_BASE_URL_<DATASET>`` (e.g.
``SINKMAP_BASE_URL_IO_LULC``), ``options.stac_api``. Searches are retried on transient errors by
urllib3 (through pystac-client's ``StacApiIO``), window reads by GDAL (``GDAL_HTTP_MAX_RETRY``) and
again by the adapter, with the retry settings of ``http_tiles`` (``SINKMAP_HTTP_RETRIES``,
``SINKMAP_HTTP_BACKOFF``, ``SINKMAP_HTTP_TIMEOUT``). With ``SINKMAP_OFFLINE=1`` nothing is searched or
read: a folder whose manifest already covers the AOI is used as it is, otherwise the error names
the search that would have been made.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pystac
import rasterio
import rasterio.errors
import requests
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sinkmap.errors import SourceError
from sinkmap.files import atomic_path, sha256_file
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile, fill_pattern
from sinkmap.sources.http import (
    ENV_BACKOFF,
    ENV_OFFLINE,
    ENV_RETRIES,
    ENV_TIMEOUT,
    HttpClient,
    PlannedFile,
    Transient,
    base_url_env_var,
    call_with_retries,
)

log = logging.getLogger("sinkmap")

#: GeoTIFF tag of every file this module writes: the lon/lat bounds it was cut for (JSON list).
BOUNDS_TAG = "SINKMAP_REQUEST_BOUNDS"
#: Signing methods known to ``options.sign``.
SIGNERS = ("planetary_computer",)
_STRIP = 512  # rows copied at a time: memory stays bounded by the strip, not the window
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_FINAL_STATUS = frozenset({401, 403, 404, 410})


@dataclass(frozen=True)
class RetrySettings:
    """Tries, first backoff wait (s, doubled after each try) and timeout (s) of remote access."""

    retries: int
    backoff: float
    timeout: float

    def gdal_env(self) -> rasterio.Env:
        """GDAL settings for windowed reads of remote COGs (see ../shared/sources.md)."""
        return rasterio.Env(
            GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
            CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif,.TIF,.tiff,.TIFF",
            GDAL_HTTP_MAX_RETRY=str(max(0, self.retries - 1)),
            GDAL_HTTP_RETRY_DELAY=str(max(self.backoff, 0.001)),
            GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
            GDAL_HTTP_TIMEOUT=str(max(1, math.ceil(self.timeout))),
            GDAL_HTTP_CONNECTTIMEOUT=str(max(1, math.ceil(self.timeout))),
            VSI_CACHE="TRUE",
        )


@dataclass(frozen=True)
class StacSearch:
    """One item search: API root, collection, lon/lat bbox, datetime interval, optional query."""

    api: str
    collection: str
    bbox: Bounds
    datetime: str
    query: dict[str, Any] | None = None

    def url(self, ids: list[str] | None = None) -> str:
        """The search as a GET URL; with ``ids``, the URL that returns exactly those items."""
        params: dict[str, str] = {"collections": self.collection}
        if ids is not None:
            params["ids"] = ",".join(ids)
        else:
            params["bbox"] = ",".join(f"{v:.6f}" for v in self.bbox)
            params["datetime"] = self.datetime
            if self.query:
                params["query"] = json.dumps(self.query, separators=(",", ":"))
        return f"{self.api}/search?{urlencode(params, safe=',:/')}"

    def describe(self) -> str:
        query = f", query {json.dumps(self.query)}" if self.query else ""
        return (
            f"STAC search {self.api}/search (collection {self.collection}, bbox "
            f"{[round(v, 6) for v in self.bbox]}, datetime {self.datetime}{query})"
        )


def resolve_api(dataset: Dataset, override: str | None) -> str:
    """The STAC API root of ``dataset``: argument, then ``SINKMAP_BASE_URL_<DATASET>``, then registry."""
    env = base_url_env_var(dataset.name)
    api = override or os.environ.get(env) or dataset.options.get("stac_api") or dataset.base_url
    if not api:
        raise SourceError(
            f"dataset {dataset.name} has no STAC API; set `options: {{stac_api: ...}}` in its "
            f"registry entry or the environment variable {env}"
        )
    return str(api).rstrip("/")


def option(dataset: Dataset, key: str, default: Any = None) -> Any:
    """``options.<key>`` of ``dataset``; a missing required option is a SourceError naming it."""
    value = dataset.options.get(key, default)
    if value is None:
        raise SourceError(
            f"dataset {dataset.name} (adapter {dataset.adapter}) needs `options: {{{key}: ...}}` "
            "in its entry in the dataset registry"
        )
    return value


def year_interval(year: int) -> str:
    return f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z"


def nominal_year(item: pystac.Item) -> int | None:
    """The year an item stands for: its ``start_datetime``, else its ``datetime``."""
    start = item.common_metadata.start_datetime or item.datetime
    return start.year if start is not None else None


def search_items(
    search: StacSearch, dataset: Dataset, settings: RetrySettings, year: int
) -> list[pystac.Item]:
    """Items of ``search`` whose own date is in ``year``, sorted by date and id.

    Transient HTTP errors are retried (urllib3 ``Retry`` through ``StacApiIO``); what still fails is
    a SourceError naming the search and the fix. No item is a SourceError too.
    """
    from pystac_client import Client
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO
    from urllib3.util.retry import Retry

    retry = Retry(
        total=settings.retries - 1,
        backoff_factor=settings.backoff,
        backoff_max=60.0,
        status_forcelist=sorted(_TRANSIENT_STATUS),
        allowed_methods=None,  # POST searches are safe to repeat
        raise_on_status=False,
    )
    env = base_url_env_var(dataset.name)
    try:
        client = Client.open(
            search.api, stac_io=StacApiIO(max_retries=retry, timeout=settings.timeout)
        )
        found = client.search(
            collections=[search.collection],
            bbox=list(search.bbox),
            datetime=search.datetime,
            query=search.query,
            limit=100,
        ).item_collection()
    except (APIError, requests.RequestException, pystac.STACError, ValueError) as exc:
        raise SourceError(
            f"{search.describe()} failed: {exc}. Check that the API is reachable (after "
            f"{settings.retries} tries), or point {env} at a mirror of the STAC API; "
            f"{ENV_RETRIES}, {ENV_BACKOFF} and {ENV_TIMEOUT} tune the retries."
        ) from exc
    items = [item for item in found if nominal_year(item) == year]
    for item in found:
        if item not in items:
            log.info(
                "ignoring item %s: it stands for %s, not %s", item.id, nominal_year(item), year
            )
    if not items:
        raise SourceError(
            f"{search.describe()} found no item of {year} ({len(found)} item(s) of other years). "
            f"The collection should cover the AOI in {year}: check the collection's extent and the "
            f"dataset's `years:` in the registry, that {env} (if set) points at a complete mirror, "
            "or choose another year or dataset in the config."
        )
    return sorted(items, key=lambda it: (str(it.datetime or ""), it.id))


def asset_href(item: pystac.Item, key: str, dataset: Dataset) -> str:
    asset = item.assets.get(key)
    if asset is None:
        raise SourceError(
            f"item {item.id} of {dataset.name} has no asset {key!r} (it has {sorted(item.assets)}); "
            "fix the asset name in the dataset's options in the registry"
        )
    return asset.href


def signer(dataset: Dataset) -> Callable[[str], str]:
    """The function that turns an href into a readable URL (SAS-signed when ``options.sign``)."""
    how = dataset.options.get("sign")
    if not how:
        return lambda href: href
    if how != "planetary_computer":
        raise SourceError(
            f"dataset {dataset.name}: unknown `options.sign` {how!r}; use one of {list(SIGNERS)} "
            "or leave it out"
        )

    def sign(href: str) -> str:
        import planetary_computer

        try:
            return str(planetary_computer.sign(href))
        except (requests.RequestException, ValueError) as exc:
            from planetary_computer.settings import Settings

            raise SourceError(
                f"could not get a Planetary Computer SAS token to read {href}: {exc}. The token "
                f"service is {Settings.get().sas_url} (setting PC_SDK_SAS_URL); check that it is "
                "reachable, set PC_SDK_SUBSCRIPTION_KEY if you have a key, or download the file by "
                "other means and use local files (adapter: local)."
            ) from exc

    return sign


def gdal_status(exc: Exception) -> int | None:
    """The HTTP status in a GDAL error message, if any."""
    found = re.search(r"HTTP (?:response code|error code)\D{0,3}(\d{3})", str(exc))
    return int(found.group(1)) if found else None


def vsicurl(url: str) -> str:
    return url if url.startswith("/vsi") or "://" not in url else f"/vsicurl/{url}"


def reusable_manifest(
    dataset: Dataset, year: int, version: str, bounds: Bounds, folder: Path, adapter: str
) -> Manifest | None:
    """The folder's manifest if it is this request's and its files are intact and cover ``bounds``.

    Every file must have its recorded size and SHA-256 and have been cut for bounds containing
    ``bounds`` (tag :data:`BOUNDS_TAG`; files without the tag, such as sidecars, count as covering).
    """
    path = Path(folder) / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = Manifest.read(path)
    except (SourceError, TypeError, KeyError) as exc:
        log.warning("ignoring unreadable %s (%s); fetching again", path, exc)
        return None
    if (manifest.dataset, manifest.year, manifest.version, manifest.adapter) != (
        dataset.name,
        year,
        version,
        adapter,
    ) or not manifest.files:
        return None
    for record in manifest.files:
        file = Path(folder) / record.path
        if not file.is_file() or file.stat().st_size != record.size:
            return None
        if sha256_file(file) != record.sha256:
            log.warning("%s differs from its manifest record; fetching again", file)
            return None
        if file.suffix.lower() in (".tif", ".tiff") and not _covers(file, bounds):
            log.info("%s was cut for a smaller area; fetching again", file)
            return None
    log.info("%s is complete and covers the AOI; not fetching %s again", path, dataset.name)
    return Manifest(
        manifest.dataset,
        manifest.version,
        manifest.year,
        manifest.adapter,
        manifest.synthetic,
        manifest.files,
        Path(folder),
    )


def _covers(file: Path, bounds: Bounds) -> bool:
    try:
        with rasterio.open(file) as ds:
            raw = ds.tags().get(BOUNDS_TAG)
    except rasterio.errors.RasterioError:
        return False
    if raw is None:
        return False
    done = json.loads(raw)
    tol = 1e-9
    return (
        done[0] <= bounds[0] + tol
        and done[1] <= bounds[1] + tol
        and done[2] >= bounds[2] - tol
        and done[3] >= bounds[3] - tol
    )


def offline_error(dataset: Dataset, year: int, folder: Path, what: str) -> SourceError:
    return SourceError(
        f"offline mode ({ENV_OFFLINE}=1): {dataset.name} {year} is not in {folder} (no complete "
        f"manifest.json covering the AOI), and getting it needs the {what}. Run the fetch on a "
        f"machine with access and copy the folder here, unset {ENV_OFFLINE}, or use local files "
        "(adapter: local)."
    )


def aoi_window(ds: Any, bounds: Bounds, margin: int) -> Window | None:
    """The window of ``ds`` covering lon/lat ``bounds`` plus ``margin`` pixels, on its own lattice."""
    left, bottom, right, top = transform_bounds("EPSG:4326", ds.crs, *bounds, densify_pts=21)
    inv = ~ds.transform
    cols, rows = zip(
        *(inv @ (x, y) for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))),
        strict=True,
    )
    eps = 1e-6  # a bound exactly on a pixel edge does not pull in the next pixel
    col0 = max(0, math.floor(min(cols) + eps) - margin)
    row0 = max(0, math.floor(min(rows) + eps) - margin)
    col1 = min(ds.width, math.ceil(max(cols) - eps) + margin)
    row1 = min(ds.height, math.ceil(max(rows) - eps) + margin)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def strips(height: int, width: int, size: int = _STRIP) -> Iterator[Window]:
    for row in range(0, height, size):
        yield Window(0, row, width, min(size, height - row))


def file_name(pattern: str, **fields: Any) -> str:
    safe = {k: re.sub(r"[^A-Za-z0-9._-]", "_", str(v)) for k, v in fields.items()}
    return fill_pattern(pattern, f"file name pattern {pattern!r}", **safe)


class StacItemsAdapter(HttpClient):
    """Searches a STAC API for a dataset's items of one year and cuts the AOI out of their COGs.

    Args:
        base_url: Overrides the STAC API root (and ``SINKMAP_BASE_URL_<DATASET>``).
        retries, backoff, timeout, offline: As for ``http_tiles`` (env ``SINKMAP_HTTP_*``,
            ``SINKMAP_OFFLINE``).
        margin: Pixels added around the AOI's window on every side.
    """

    name = "stac"

    def __init__(self, *, margin: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = RetrySettings(self.retries, self.backoff, self.timeout)
        self.margin = margin

    def search_for(self, dataset: Dataset, year: int, bounds: Bounds) -> StacSearch:
        return StacSearch(
            resolve_api(dataset, self.base_url),
            str(option(dataset, "collection")),
            tuple(float(v) for v in bounds),  # type: ignore[arg-type]
            year_interval(year),
        )

    def _layer(self, dataset: Dataset) -> tuple[str, str]:
        if len(dataset.files) != 1:
            raise SourceError(
                f"dataset {dataset.name} (adapter stac) must list exactly one layer in `files:` "
                f'(e.g. map: "{{collection}}_{{item}}_{{asset}}.tif"), not {list(dataset.files)}'
            )
        return next(iter(dataset.files.items()))

    def _planned(
        self, dataset: Dataset, items: list[pystac.Item], year: int, folder: Path, version: str
    ) -> list[tuple[PlannedFile, pystac.Item]]:
        layer, pattern = self._layer(dataset)
        asset = str(option(dataset, "asset"))
        collection = str(option(dataset, "collection"))
        out = []
        for item in items:
            name = file_name(
                pattern,
                collection=collection,
                item=item.id,
                asset=asset,
                year=year,
                version=version,
            )
            href = asset_href(item, asset, dataset)
            out.append((PlannedFile(layer, item.id, Path(folder) / name, href), item))
        return out

    def plan(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> list[PlannedFile]:
        """The files ``fetch`` would write, with their hrefs (searches the API unless offline).

        Offline, the files of a complete manifest in ``folder`` are listed; without one, the search
        is listed as a single entry named by the file name pattern.
        """
        ver = dataset.version_for(year, version)
        done = reusable_manifest(dataset, year, ver, bounds, Path(folder), self.name)
        if done is not None:
            return [
                PlannedFile(f.layer, "", Path(folder) / f.path, f.url or "") for f in done.files
            ]
        search = self.search_for(dataset, year, bounds)
        if self.offline_mode():
            layer, pattern = self._layer(dataset)
            name = file_name(
                pattern,
                collection=search.collection,
                item="*",
                asset=option(dataset, "asset"),
                year=year,
                version=ver,
            )
            return [PlannedFile(layer, "*", Path(folder) / name, search.url())]
        items = search_items(search, dataset, self.settings, year)
        return [p for p, _ in self._planned(dataset, items, year, Path(folder), ver)]

    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """Cut the AOI's window of every item of ``year`` into ``folder``; return the manifest."""
        folder = Path(folder)
        ver = dataset.version_for(year, version)
        done = reusable_manifest(dataset, year, ver, bounds, folder, self.name)
        if done is not None:
            return done
        search = self.search_for(dataset, year, bounds)
        if self.offline_mode():
            raise offline_error(dataset, year, folder, search.describe())
        items = search_items(search, dataset, self.settings, year)
        sign = signer(dataset)
        records = []
        folder.mkdir(parents=True, exist_ok=True)
        for planned, _item in self._planned(dataset, items, year, folder, ver):
            record = self._read_item(dataset, planned, bounds, sign)
            if record is not None:
                records.append(record)
        if not records:
            raise SourceError(
                f"{search.describe()} found {len(items)} item(s) of {year}, but none of their "
                f"{option(dataset, 'asset')!r} rasters overlaps the AOI; check the AOI and that the "
                f"collection covers it"
            )
        return Manifest(
            dataset.name, ver, year, self.name, dataset.synthetic, tuple(records), folder
        )

    def _read_item(
        self, dataset: Dataset, planned: PlannedFile, bounds: Bounds, sign: Callable[[str], str]
    ) -> RawFile | None:
        env = base_url_env_var(dataset.name)
        try:
            return call_with_retries(
                lambda: self._try_read(dataset, planned, bounds, sign),
                retries=self.settings.retries,
                backoff=self.settings.backoff,
                what=planned.url,
            )
        except Transient as exc:
            raise SourceError(
                f"could not read the AOI's window of {planned.url} (item {planned.tile}) after "
                f"{self.settings.retries} tries; last error: {exc}. Nothing was kept: run again "
                f"later. If the host is "
                f"slow or blocked, point {env} at a mirror of the STAC API, or download the file by "
                f"other means and use local files (adapter: local); {ENV_RETRIES}, {ENV_BACKOFF} "
                f"and {ENV_TIMEOUT} tune the retries."
            ) from None

    def _try_read(
        self, dataset: Dataset, planned: PlannedFile, bounds: Bounds, sign: Callable[[str], str]
    ) -> RawFile | None:
        href = planned.url
        log.info("reading the AOI's window of %s -> %s", href, planned.path)
        try:
            with self.settings.gdal_env(), rasterio.open(vsicurl(sign(href))) as src:
                window = aoi_window(src, bounds, self.margin)
                if window is None:
                    log.info("item %s does not overlap the AOI; skipped", planned.tile)
                    return None
                profile = {
                    "driver": "GTiff",
                    "width": int(window.width),
                    "height": int(window.height),
                    "count": src.count,
                    "dtype": src.dtypes[0],
                    "crs": src.crs,
                    "transform": src.window_transform(window),
                    "nodata": src.nodata if src.nodata is not None else dataset.nodata,
                    "tiled": True,
                    "blockxsize": 256,
                    "blockysize": 256,
                    "compress": "DEFLATE",
                }
                colormap = _colormap(src)
                with atomic_path(planned.path) as tmp:
                    with rasterio.open(tmp, "w", **profile) as dst:
                        dst.update_tags(
                            **{BOUNDS_TAG: json.dumps(list(bounds)), "SOURCE_HREF": href}
                        )
                        if colormap:
                            dst.write_colormap(1, colormap)
                        for strip in strips(int(window.height), int(window.width)):
                            src_win = Window(
                                window.col_off,
                                window.row_off + strip.row_off,
                                strip.width,
                                strip.height,
                            )
                            dst.write(src.read(window=src_win), window=strip)
                    _verify(tmp, profile, planned)
                    size, digest = tmp.stat().st_size, sha256_file(tmp)
        except rasterio.errors.RasterioError as exc:
            status = gdal_status(exc)
            if status in _FINAL_STATUS:
                raise SourceError(
                    f"{href} (item {planned.tile} of {dataset.name}) answered HTTP {status}"
                    f"{' (is the SAS token missing or expired?)' if status in (401, 403) else ''}: "
                    f"{exc}. Nothing was kept. Check the collection and asset in the registry, "
                    f"`options.sign`, or point {base_url_env_var(dataset.name)} at a complete mirror."
                ) from exc
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        log.info("wrote %s (%d bytes, sha256 %s)", planned.path.name, size, digest)
        return RawFile(planned.layer, planned.path.name, size, digest, href)


def _colormap(src: Any) -> dict[int, tuple[int, ...]] | None:
    try:
        return dict(src.colormap(1))
    except ValueError:  # no colour table
        return None


def _verify(path: Path, profile: dict[str, Any], planned: PlannedFile) -> None:
    """Raise Transient unless ``path`` reopens with the expected shape, CRS and data type."""
    try:
        with rasterio.open(path) as ds:
            ok = (
                ds.width == profile["width"]
                and ds.height == profile["height"]
                and ds.crs == profile["crs"]
                and ds.dtypes[0] == profile["dtype"]
            )
            if ok:
                for _, win in ds.block_windows(1):
                    ds.read(1, window=win)
    except rasterio.errors.RasterioError as exc:
        raise Transient(f"the window written from {planned.url} does not reopen: {exc}") from exc
    if not ok:
        raise Transient(f"the window written from {planned.url} reopened with another shape or CRS")
