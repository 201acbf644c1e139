"""The ``archive`` adapter: a national file or a zip of provincial files, cut to the AOI.

For products published as one big file per year, such as CLCD on Zenodo (a national GeoTIFF, and a
zip of per-province GeoTIFFs). Registry entry (see config/datasets.yaml, ``clcd``)::

    adapter: archive
    base_url: "https://zenodo.org"
    url: "{base_url}/records/{record}/files/{file}?download=1"
    files:
      map: "CLCD_v01_{year}_albert.tif"            # the product's GeoTIFF (downloaded if no archive)
    options:
      record: 12779975                            # fills {record} in the url
      archive: "CLCD_v01_{year}_albert_province.zip"   # optional: download this zip instead ...
      member: "*[Hh]ainan*.tif"                   # ... and read the member matching this glob
      checksums: zenodo                           # verify against the record's published MD5
      margin: 1000                                # CRS units added around the AOI (default 1000)

Steps: (1) the file (``archive``, else ``files.map``) is downloaded with :func:`sinkmap.sources.http.
download` (streamed to a temporary name, retried, verified, renamed; with ``checksums: zenodo`` its
size and MD5 must equal those of ``{base_url}/api/records/{record}``) and kept, so a rerun (or a
fix of ``member:``) does not download it again; (2) the member matching ``member`` (a glob on the
member's path or its base name, case-insensitive; exactly one must match) is read through
``/vsizip/`` on the local archive; (3) the AOI's bounding box in the product's CRS, plus ``margin``,
is written as ``<member or file stem>_aoi.tif`` (block by block: memory stays bounded). The manifest
lists that window (layer ``map``: what the align step reads; with the archive URL and member) and the
downloaded file (layer ``source``: size, SHA-256, the publisher's checksum). The window is cut again
on every run (it depends on the AOI); the download is reused when its size and SHA-256 match.
"""

from __future__ import annotations

import fnmatch
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import requests
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sinkmap.errors import SourceError
from sinkmap.files import atomic_path, sha256_file
from sinkmap.sources import (
    Bounds,
    Dataset,
    Manifest,
    RawFile,
    file_record,
    fill_pattern,
    previous_records,
    remember_file,
)
from sinkmap.sources.http import (
    ENV_OFFLINE,
    HttpClient,
    PlannedFile,
    mirror_hint,
)

log = logging.getLogger("sinkmap")

_STRIP = 1024  # rows copied at a time
_DEFAULT_MARGIN = 1000.0
_RASTER_SUFFIXES = (".tif", ".tiff", ".img", ".vrt")


@dataclass(frozen=True)
class ArchivePlan:
    """What to download, from where, and which member to read."""

    name: str  # file name of the download (archive or GeoTIFF)
    url: str
    member: str | None  # glob of the member inside the zip; None for a plain GeoTIFF
    record: str | None


class ArchiveAdapter(HttpClient):
    """Downloads one archive (or big GeoTIFF) per year and writes the AOI's window of it.

    Takes the arguments of :class:`~sinkmap.sources.http.HttpClient` (base URL, retries, offline, ...).
    """

    name = "archive"

    def plan(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> list[PlannedFile]:
        """The file to download for ``year`` (as ``sinkmap fetch --dry-run`` lists it)."""
        plan = self.archive_plan(dataset, year, version)
        return [PlannedFile("source", "", Path(folder) / plan.name, plan.url)]

    def archive_plan(self, dataset: Dataset, year: int, version: str | None) -> ArchivePlan:
        """The file to download for ``year``, its URL and the member pattern."""
        opts = dataset.options
        ver = dataset.version_for(year, version)
        if not dataset.url:
            raise SourceError(
                f"dataset {dataset.name} uses adapter archive but has no `url:` template; add one "
                "such as '{base_url}/records/{record}/files/{file}?download=1'"
            )
        archive = opts.get("archive")
        if archive:
            name = _fill(dataset, "options.archive", str(archive), year=year, version=ver)
            member = opts.get("member")
            if not member:
                raise SourceError(
                    f"dataset {dataset.name} sets options.archive but no options.member; add a glob "
                    "of the member to read, e.g. member: '*Hainan*.tif'"
                )
            member = _fill(dataset, "options.member", str(member), year=year, version=ver)
        else:
            main = dataset.main_layer
            name = _fill(dataset, f"files.{main}", dataset.files[main], year=year, version=ver)
            member = None
        record = str(opts["record"]) if opts.get("record") is not None else None
        base = self.resolve_base_url(dataset)
        url = _fill(
            dataset,
            "url",
            dataset.url,
            base_url=base,
            year=year,
            version=ver,
            file=name,
            record=record or "",
        )
        return ArchivePlan(name, url, member, record)

    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """Obtain the archive for ``year`` (once) and write the window covering ``bounds`` (lon/lat)."""
        folder = Path(folder)
        ver = dataset.version_for(year, version)
        plan = self.archive_plan(dataset, year, version)
        target = folder / plan.name
        stub = Manifest(dataset.name, ver, year, self.name, dataset.synthetic, (), folder)
        source = _verified(target, previous_records(folder).get(plan.name))
        if source is None and self.offline_mode():
            cached = self.from_cache(plan.url, target)
            if cached is not None:
                source = cached.record("source", plan.name, plan.url)
                remember_file(folder, source, stub)
        if source is None:
            if self.offline_mode():
                raise SourceError(
                    f"offline mode ({ENV_OFFLINE}=1): {plan.name} of {dataset.name} {year} is missing "
                    f"from {folder}:\n  - {plan.name}  <-  {plan.url}\nDownload it on a machine with "
                    f"access (or from a mirror) into that folder and run again, unset {ENV_OFFLINE}, "
                    "or use local files (adapter: local)."
                )
            folder.mkdir(parents=True, exist_ok=True)
            source = self._download(dataset, plan, target)
            remember_file(folder, source, stub)
        else:
            log.info("%s is present and matches its manifest record; not downloading", target)

        if plan.member is not None:
            member = _find_member(target, plan.member, dataset)
            raster = f"/vsizip/{target.resolve()}/{member}"
            stem = PurePosixPath(member).stem
        else:
            member = None
            raster = str(target)
            stem = target.stem
        window_path = folder / f"{stem}_aoi.tif"
        margin = float(dataset.options.get("margin", _DEFAULT_MARGIN))
        _write_window(raster, window_path, bounds, margin, dataset, plan, member)
        window = file_record("map", window_path, folder, plan.url)
        window = RawFile(
            window.layer, window.path, window.size, window.sha256, window.url, member=member
        )
        return Manifest(
            dataset.name, ver, year, self.name, dataset.synthetic, (window, source), folder
        )

    # -- downloading ------------------------------------------------------------------------------
    def _download(self, dataset: Dataset, plan: ArchivePlan, target: Path) -> RawFile:
        fix = mirror_hint(dataset.name)
        with self.open_session() as session:
            md5, size, source = self._published(session, dataset, plan)
            got = self.download(
                session,
                plan.url,
                target,
                what=f"{plan.name} of {dataset.name}",
                fix=fix,
                check=lambda tmp: _check_download(tmp, plan, dataset),
                expected_md5=md5,
                md5_source=source,
                expected_size=size,
            )
        return got.record("source", plan.name, plan.url)

    def _published(
        self, session: requests.Session, dataset: Dataset, plan: ArchivePlan
    ) -> tuple[str | None, int | None, str]:
        """(MD5, size, who says so) the publisher lists for the download, if ``checksums`` asks."""
        how = dataset.options.get("checksums")
        if not how:
            return None, None, ""
        if str(how).lower() != "zenodo":
            raise SourceError(
                f"dataset {dataset.name}: options.checksums {how!r} is not known to the archive "
                "adapter; use 'zenodo' (the record's published MD5) or leave it out"
            )
        if plan.record is None:
            raise SourceError(
                f"dataset {dataset.name} asks for Zenodo checksums but has no options.record; add "
                "the Zenodo record id"
            )
        api = f"{self.resolve_base_url(dataset)}/api/records/{plan.record}"
        data = self.get_json(
            session,
            api,
            what=f"Zenodo record {plan.record}",
            fix=mirror_hint(dataset.name),
        )
        entries = _zenodo_files(data)
        entry = entries.get(plan.name)
        if entry is None:
            raise SourceError(
                f"Zenodo record {plan.record} ({api}) lists no file {plan.name}; it has "
                f"{sorted(entries)[:40]}. Check the year (the record's coverage) and the record "
                f"id in options.record, or the file names in the dataset registry."
            )
        algo, _, digest = str(entry.get("checksum") or "").rpartition(":")
        md5 = digest.lower() if (algo or "md5").lower() == "md5" and len(digest) == 32 else None
        size = entry.get("size")
        return md5, int(size) if isinstance(size, int) else None, f"Zenodo record {plan.record}"


def _zenodo_files(data: Any) -> dict[str, dict[str, Any]]:
    """File name -> entry of a Zenodo record (both the current and the legacy API layout)."""
    files = data.get("files") if isinstance(data, dict) else None
    if isinstance(files, dict):  # InvenioRDM layout: {"entries": {name: {...}}}
        files = list((files.get("entries") or {}).values())
    out = {}
    for entry in files or []:
        if isinstance(entry, dict):
            name = entry.get("key") or entry.get("filename")
            if name:
                out[str(name)] = entry
    return out


def _verified(path: Path, record: RawFile | None) -> RawFile | None:
    """``record`` if ``path`` exists with its size and SHA-256."""
    if record is None or not path.is_file() or path.stat().st_size != record.size:
        return None
    if sha256_file(path) != record.sha256:
        log.warning("%s differs from its manifest record; downloading it again", path)
        return None
    return RawFile(
        "source",
        path.name,
        record.size,
        record.sha256,
        record.url,
        published_checksum=record.published_checksum,
    )


def _check_download(tmp: Path, plan: ArchivePlan, dataset: Dataset) -> None:
    """A zip must open as one; a plain file must open as a raster with a CRS."""
    if plan.member is not None:
        try:
            with zipfile.ZipFile(tmp) as zf:
                zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(
                f"{plan.url} did not give a readable zip archive ({exc}). Nothing was kept. Check "
                f"that the URL serves {plan.name}, or {mirror_hint(dataset.name)}."
            ) from exc
        return
    _open_raster(str(tmp), plan, dataset)


def _open_raster(path: str, plan: ArchivePlan, dataset: Dataset) -> CRS:
    try:
        with rasterio.open(path) as src:
            crs = src.crs
    except rasterio.errors.RasterioError as exc:
        raise SourceError(
            f"{path} (from {plan.url}) is not a readable raster: {exc}. Check the file names of "
            f"{dataset.name} in the dataset registry, or {mirror_hint(dataset.name)}."
        ) from exc
    if crs is None:
        raise SourceError(
            f"{path} (from {plan.url}) has no CRS; dataset {dataset.name} is in {dataset.crs}. "
            "Replace the file with the original, or use local files with the CRS assigned."
        )
    return crs


def _find_member(archive: Path, pattern: str, dataset: Dataset) -> str:
    """The one member of ``archive`` matching ``pattern`` (path or base name, case-insensitive)."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    pat = pattern.lower()
    found = [
        n
        for n in names
        if fnmatch.fnmatchcase(n.lower(), pat)
        or fnmatch.fnmatchcase(PurePosixPath(n).name.lower(), pat)
    ]
    rasters = [n for n in names if n.lower().endswith(_RASTER_SUFFIXES)]
    if len(found) > 1:
        found_rasters = [n for n in found if n.lower().endswith(_RASTER_SUFFIXES)]
        if len(found_rasters) == 1:
            return found_rasters[0]
        raise SourceError(
            f"options.member {pattern!r} of dataset {dataset.name} matches {len(found)} members of "
            f"{archive.name}: {found}. Narrow the pattern in the dataset registry so it matches one."
        )
    if not found:
        shown = rasters or names
        listed = "\n".join(f"  - {n}" for n in shown[:60])
        more = f"\n  ... and {len(shown) - 60} more" if len(shown) > 60 else ""
        raise SourceError(
            f"no member of {archive.name} matches options.member {pattern!r} of dataset "
            f"{dataset.name}. Its {'raster ' if rasters else ''}members are:\n{listed}{more}\n"
            f"Set options.member in the dataset registry to a glob matching the one you need; the "
            f"archive is kept in {archive.parent}, so the next run does not download it again."
        )
    return found[0]


def _write_window(
    raster: str,
    out: Path,
    bounds: Bounds,
    margin: float,
    dataset: Dataset,
    plan: ArchivePlan,
    member: str | None,
) -> None:
    """Write the part of ``raster`` covering ``bounds`` (lon/lat) plus ``margin`` to ``out``."""
    crs = _open_raster(raster, plan, dataset)
    if crs != CRS.from_user_input(dataset.crs):
        log.warning(
            "%s has CRS %s, not %s as dataset %s says; its own CRS is used",
            raster,
            crs.to_string(),
            dataset.crs,
            dataset.name,
        )
    with rasterio.open(raster) as src:
        t = src.transform
        if t.b != 0 or t.d != 0:
            raise SourceError(
                f"{raster} is rotated (transform {tuple(t)[:6]}); the archive adapter reads "
                "north-up rasters only. Warp it to north-up and use local files (adapter: local)."
            )
        left, bottom, right, top = transform_bounds("EPSG:4326", src.crs, *bounds, densify_pts=21)
        left, bottom, right, top = left - margin, bottom - margin, right + margin, top + margin
        col0 = max(0, int(np.floor((left - t.c) / t.a)))
        col1 = min(src.width, int(np.ceil((right - t.c) / t.a)))
        row0 = max(0, int(np.floor((t.f - top) / -t.e)))
        row1 = min(src.height, int(np.ceil((t.f - bottom) / -t.e)))
        if col1 <= col0 or row1 <= row0:
            raise SourceError(
                f"{raster} (from {plan.url}) does not cover the AOI (lon/lat {bounds}); choose the "
                f"member covering it (options.member of dataset {dataset.name}) or check the AOI."
            )
        window = Window(col0, row0, col1 - col0, row1 - row0)
        profile = {
            "driver": "GTiff",
            "width": int(window.width),
            "height": int(window.height),
            "count": 1,
            "dtype": src.dtypes[0],
            "crs": src.crs,
            "transform": Affine(t.a, 0.0, t.c + col0 * t.a, 0.0, t.e, t.f + row0 * t.e),
            "nodata": src.nodata if src.nodata is not None else dataset.nodata,
            "compress": "DEFLATE",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        try:
            colormap = src.colormap(1)
        except ValueError:
            colormap = None
        with atomic_path(out) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for r in range(0, int(window.height), _STRIP):
                    h = min(_STRIP, int(window.height) - r)
                    strip = Window(col0, row0 + r, int(window.width), h)
                    dst.write(src.read(1, window=strip), 1, window=Window(0, r, strip.width, h))
                if colormap:
                    dst.write_colormap(1, colormap)
                dst.update_tags(
                    SOURCE_URL=plan.url,
                    SOURCE_FILE=plan.name,
                    SOURCE_MEMBER=member or "",
                    SINKMAP_REQUEST_BOUNDS=str(list(bounds)),
                )
    log.info("wrote %s (%d x %d px of %s)", out, window.width, window.height, raster)


def _fill(dataset: Dataset, what: str, template: str, **fields: Any) -> str:
    return fill_pattern(template, f"{what} {template!r} of dataset {dataset.name}", **fields)
