"""Where inputs come from: a registry of datasets and the adapters that obtain their files.

A dataset (config/datasets.yaml) says *what* a product is: its tiles, file names, encoding, licence.
An adapter says *how* its files are obtained for one year and AOI: generated (``demo``), downloaded
by URL and tile (``http_tiles``, issue #3), searched in a STAC API, or found in a local folder. Every
adapter writes the same thing: the product's files under their real names, and a ``manifest.json``
listing them with their sizes, checksums and URLs, which the align step reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from sinkmap.errors import ConfigError, InputDataError, SourceError
from sinkmap.files import atomic_path, plain_name, read_yaml, sha256_file
from sinkmap.sources.tiles import tiles_for_bounds

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Dataset:
    """One entry of the dataset registry."""

    name: str
    title: str
    adapter: str
    kind: str  # "categorical" | "continuous"
    files: dict[str, str]
    crs: str
    pixel_size: float
    dtype: str
    nodata: float | int | None
    units: str
    licence: str
    citation: str
    version: str
    synthetic: bool = False
    #: How the product's files are tiled (sinkmap.sources.tiles); None for products found by search
    #: (adapters ``stac``, ``sentinel2_composite``), whose files are named by item.
    tile_scheme: str | None = None
    versions: dict[int, str] = field(default_factory=dict)
    years: tuple[int, ...] = ()
    legend: str | None = None
    generator: str | None = None
    base_url: str | None = None
    url: str | None = None
    mimics: str | None = None
    #: ``local`` adapter: the folder holding the files, and their filename pattern(s) (see local.py).
    path: str | None = None
    pattern: str | dict[str, str] | None = None
    #: Categorical datasets: CSV mapping the product's class codes to the run's legend and IPCC
    #: land categories (``config/crosswalks/``), applied when the product is aligned.
    crosswalk: str | None = None
    #: The legend the crosswalk maps onto: the run's land-cover legend (``worldcover``, the
    #: default) or, for the ``plantation`` role, ``forest_type`` (sinkmap.legends).
    crosswalk_legend: str | None = None
    #: Adapter-specific settings (STAC API URL, collection, assets, archive members, checksums, ...).
    options: dict[str, Any] = field(default_factory=dict)
    #: Plausible range of the decoded values, in ``units`` (e.g. AGB 0-1,000 Mg/ha): values
    #: outside stop the align step (or are logged, ``inputs.<role>.out_of_range: warn``).
    valid_range: tuple[float, float] | None = None
    #: Share of the AOI's cells expected to hold a value: below it the align step warns, and with
    #: no value at all it stops. Default 0.5, and 0 for ``index`` data (sparse by nature: a
    #: planting year, a loss year); 0 turns both checks off.
    min_coverage: float | None = None

    def __post_init__(self) -> None:
        """A file name pattern or version with a path in it would read or write outside the
        dataset's folder under resources/: refused however the entry was made."""
        for layer, pattern in self.files.items():
            plain_name(pattern, f"dataset {self.name}: file pattern of layer {layer}")
        for year, version in {0: self.version, **self.versions}.items():
            what = "version" if year == 0 else f"version of {year}"
            plain_name(version, f"dataset {self.name}: {what}")
        if self.valid_range is not None and not (
            len(self.valid_range) == 2 and self.valid_range[0] <= self.valid_range[1]
        ):
            raise ConfigError(
                f"dataset {self.name}: valid_range {self.valid_range!r} must be [low, high] with "
                "low <= high; fix it in the dataset registry"
            )

    @property
    def expected_coverage(self) -> float:
        """:attr:`min_coverage`, or its default for the dataset's kind."""
        if self.min_coverage is not None:
            return float(self.min_coverage)
        return 0.0 if self.kind == "index" else 0.5

    @property
    def main_layer(self) -> str:
        """The layer aligned when the dataset plays a role.

        ``options.main_layer`` if set (so one product can play several roles through registry
        entries that differ only in it, e.g. Hansen ``lossyear`` as ``forest_loss``), else ``map``
        if the dataset has that layer, else its first layer.
        """
        chosen = self.options.get("main_layer")
        if chosen is not None:
            if chosen not in self.files:
                raise ConfigError(
                    f"dataset {self.name}: options.main_layer {chosen!r} is not one of its layers "
                    f"{list(self.files)}; fix it in the dataset registry"
                )
            return str(chosen)
        return "map" if "map" in self.files else next(iter(self.files), "map")

    def version_for(self, year: int, override: str | None = None) -> str:
        return override or self.versions.get(year, self.version)

    def check_year(self, year: int) -> None:
        if self.years and year not in self.years:
            raise SourceError(
                f"dataset {self.name} has no year {year}; it covers {list(self.years)}. "
                "Choose another dataset for that year in config inputs, or drop the year."
            )

    def filenames(
        self, year: int, bounds: Bounds, version: str | None = None
    ) -> dict[str, list[str]]:
        """Layer -> file names (one per tile) covering ``bounds`` (lon/lat) for ``year``."""
        ver = self.version_for(year, version)
        tiles = tiles_for_bounds(self.tile_scheme, bounds)
        return {
            layer: [pattern.format(year=year, version=ver, tile=t) for t in tiles]
            for layer, pattern in self.files.items()
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "licence": self.licence,
            "citation": self.citation,
            "synthetic": self.synthetic,
        }


def load_registry(path: str | Path) -> dict[str, Dataset]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"dataset registry {path} does not exist; set `datasets:` in the config")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"dataset registry {path} is not valid YAML ({exc}); fix that file"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"dataset registry {path} must map dataset names to entries; see config/datasets.yaml"
        )
    out: dict[str, Dataset] = {}
    for name, entry in raw.items():
        try:
            entry = dict(entry)
            entry["versions"] = {int(k): str(v) for k, v in (entry.get("versions") or {}).items()}
            entry["years"] = tuple(int(y) for y in entry.get("years") or ())
            if entry.get("valid_range") is not None:
                entry["valid_range"] = tuple(float(v) for v in entry["valid_range"])
            out[name] = Dataset(name=name, **entry)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"dataset {name!r} in {path} is malformed ({exc}); compare it with an entry of "
                "config/datasets.yaml"
            ) from exc
        out[name].main_layer  # noqa: B018 (validates options.main_layer)
    return out


def get_dataset(registry: dict[str, Dataset], name: str) -> Dataset:
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; known datasets: {sorted(registry)}. "
            "Fix inputs.<role>.dataset in the config or add the dataset to config/datasets.yaml"
        ) from None


@dataclass(frozen=True)
class RawFile:
    """One file an adapter obtained: its layer, where it is, its size and SHA-256, where it came from."""

    layer: str
    path: str  # relative to the manifest's folder
    size: int
    sha256: str
    url: str | None = None
    #: The checksum the publisher announced and the download was verified against, as
    #: ``"<algorithm>:<hex>"`` (e.g. ``"md5:..."`` from Zenodo's record API or a Google Storage
    #: ``x-goog-hash`` header); None when the publisher announced none.
    published_checksum: str | None = None
    #: For a file cut from an archive (adapter ``archive``): the archive member it was read from.
    member: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record as written to a manifest (optional fields only when set)."""
        out = dict(self.__dict__)
        for key in _OPTIONAL_RECORD_FIELDS:
            if out.get(key) is None:
                out.pop(key, None)
        return out


_OPTIONAL_RECORD_FIELDS = ("published_checksum", "member")

#: Records of the files of a folder already verified (see :func:`remember_file`). Not a workflow
#: output, so it survives when Snakemake deletes a fetch job's ``manifest.json`` (a failed job,
#: or a rerun: it deletes the outputs first), and the files stay trusted while their size and
#: SHA-256 match.
VERIFIED_RECORDS = ".verified-files.json"


@dataclass(frozen=True)
class Manifest:
    """What an adapter obtained for one dataset and year."""

    dataset: str
    version: str
    year: int
    adapter: str
    synthetic: bool
    files: tuple[RawFile, ...]
    folder: Path

    def paths(self, layer: str) -> list[Path]:
        found = [self.folder / f.path for f in self.files if f.layer == layer]
        if not found:
            raise SourceError(
                f"manifest of {self.dataset} {self.year} in {self.folder} lists no {layer!r} file; "
                "delete the folder so the fetch step runs again"
            )
        return found

    def urls(self) -> list[str]:
        return [f.url or f.path for f in self.files]

    def write(self, path: Path) -> None:
        data = {
            "dataset": self.dataset,
            "version": self.version,
            "year": self.year,
            "adapter": self.adapter,
            "synthetic": self.synthetic,
            "files": [f.as_dict() for f in self.files],
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SourceError(
                f"cannot read manifest {path}: {exc}; delete it and run again"
            ) from exc
        files = tuple(RawFile(**f) for f in data.pop("files"))
        return cls(files=files, folder=path.parent, **data)


def previous_records(folder: Path) -> dict[str, RawFile]:
    """File name -> record of the files a previous fetch into ``folder`` verified.

    Read from the folder's ``manifest.json`` and from :data:`VERIFIED_RECORDS` (every file a fetch
    verified, also when it failed later or its manifest was deleted); unreadable files are ignored
    with a warning, so the files are checked by downloading them again. The caller still checks
    each file's size and SHA-256.
    """
    out: dict[str, RawFile] = {}
    for name in ("manifest.json", VERIFIED_RECORDS):
        out.update(_records_in(Path(folder) / name))
    return out


def _records_in(path: Path) -> dict[str, RawFile]:
    import logging

    if not path.exists():
        return {}
    try:
        manifest = Manifest.read(path)
    except (SourceError, TypeError, KeyError, AttributeError) as exc:
        logging.getLogger("sinkmap").warning(
            "ignoring unreadable %s (%s); its files will be downloaded again", path, exc
        )
        return {}
    return {Path(f.path).name: f for f in manifest.files}


def remember_file(folder: Path, record: RawFile, manifest: Manifest) -> None:
    """Add ``record`` (a file just verified) to ``folder``'s :data:`VERIFIED_RECORDS`.

    So when the fetch fails later (another tile, the network), or Snakemake deletes the folder's
    ``manifest.json`` to rerun its job, the next run trusts this file (after checking its size
    and SHA-256) instead of downloading it again. :func:`fetch` writes every file's record there
    with ``manifest.json``.
    """
    path = Path(folder) / VERIFIED_RECORDS
    known = {
        name: rec for name, rec in _records_in(path).items() if (Path(folder) / name).is_file()
    }
    known[Path(record.path).name] = record
    replace(manifest, files=tuple(known.values()), folder=Path(folder)).write(path)


#: The suffix a refused download is renamed with (kept beside its folder's files, never read).
REFUSED_SUFFIX = ".refused"


def fetched_files(manifest: Manifest) -> list[tuple[Path, RawFile]]:
    """The files of ``manifest`` that its fetch wrote into its own folder (downloads, files cut
    from archives, the demo's landscape), not a user's files that it only points at (``local``)."""
    folder = manifest.folder.resolve()
    out = []
    for record in manifest.files:
        path = (manifest.folder / record.path).resolve()
        if path.parent == folder:
            out.append((path, record))
    return out


def verify_fetched(manifest: Manifest) -> None:
    """Check each fetched file against the size and SHA-256 recorded when it was fetched, before
    it is used: a file changed or damaged on disk since is set aside (:func:`set_aside`) and the
    run stops with an :class:`InputDataError` saying so. (A download cache checks its own copy
    against its record when it is next asked for it.)"""
    for path, record in fetched_files(manifest):
        if not path.is_file():
            problem = "is missing"
        elif path.stat().st_size != record.size:
            problem = (
                f"has {path.stat().st_size:,} bytes, not the {record.size:,} it was fetched with"
            )
        elif sha256_file(path) != record.sha256:
            problem = "differs from the SHA-256 recorded when it was fetched"
        else:
            continue
        raise InputDataError(
            f"{path} {problem}: it changed or was damaged on disk since. " + set_aside(manifest)
        )


def set_aside(
    manifest: Manifest, *, refused: bool = False, download_cache: Path | None = None
) -> str:
    """Make the next run fetch ``manifest``'s files anew: each fetched file is renamed with
    :data:`REFUSED_SUFFIX` (replacing an older one; nothing is deleted), and the folder's
    ``manifest.json`` and :data:`VERIFIED_RECORDS` are removed. When their content was
    ``refused``, each downloaded file leaves the download cache too (``download_cache``, or
    ``SINKMAP_DOWNLOAD_CACHE``; :func:`sinkmap.sources.cache.forget`): the next fetch downloads
    it anew. Returns a sentence saying so."""
    from sinkmap.sources.cache import cache_folder, forget

    cache = cache_folder(download_cache) if refused else None
    moved = []
    for path, record in fetched_files(manifest):
        if cache is not None and record.url:
            forget(cache, record.url)
        if path.is_file():
            path.replace(path.with_name(path.name + REFUSED_SUFFIX))
            moved.append(path.name)
    for name in ("manifest.json", VERIFIED_RECORDS):
        (manifest.folder / name).unlink(missing_ok=True)
    if not moved:
        return "Replace the file with a good copy, then run again."
    return (
        f"The fetched file(s) {', '.join(moved)} were set aside in {manifest.folder} (renamed "
        f"*{REFUSED_SUFFIX}) and the folder's manifest removed: the next run fetches them anew. "
        "If the source still gives the same file, fix the source or its registry entry."
    )


def fill_pattern(template: str, what: str, use_only: str | None = None, /, **fields: Any) -> str:
    """``template`` with ``fields`` filled in (``str.format``); SourceError on a field it lacks.

    ``what`` names the template in the error (e.g. ``"url '...' of dataset clcd"``); ``use_only``
    says which fields may be used (by default the names of ``fields``).
    """
    try:
        return template.format(**fields)
    except (KeyError, IndexError) as exc:
        allowed = use_only or ", ".join("{" + k + "}" for k in fields)
        raise SourceError(f"{what} uses an unknown field {exc}; use only {allowed}") from None


def file_record(layer: str, path: Path, folder: Path, url: str | None = None) -> RawFile:
    return RawFile(
        layer, str(path.relative_to(folder)), path.stat().st_size, sha256_file(path), url
    )


class Adapter(Protocol):
    """Obtains a dataset's files for one year into a folder, and describes them in a manifest."""

    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest: ...


#: Adapter name -> "module:Class" of its implementation (imported when first used).
ADAPTERS: dict[str, str] = {
    "demo": "sinkmap.sources.demo:DemoAdapter",
    "http_tiles": "sinkmap.sources.http:HttpTilesAdapter",
    "local": "sinkmap.sources.local:LocalFilesAdapter",
    "stac": "sinkmap.sources.stac:StacItemsAdapter",
    "sentinel2_composite": "sinkmap.sources.sentinel2:Sentinel2CompositeAdapter",
    "archive": "sinkmap.sources.archive:ArchiveAdapter",
}


def get_adapter(dataset: Dataset) -> Adapter:
    """The adapter that obtains ``dataset``'s files (one of :data:`ADAPTERS`)."""
    import importlib

    target = ADAPTERS.get(dataset.adapter)
    if target is None:
        raise SourceError(
            f"dataset {dataset.name} uses adapter {dataset.adapter!r}, which this sinkmap version "
            f"does not have; use one of {sorted(ADAPTERS)} in its entry in the dataset registry."
        )
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()


def fetch(
    dataset: Dataset,
    year: int,
    bounds: Bounds,
    folder: Path,
    version: str | None = None,
    *,
    download_cache: Path | None = None,
) -> Manifest:
    """Obtain ``dataset`` for ``year`` over ``bounds`` (lon/lat) into ``folder``; write its manifest.

    ``download_cache``: the folder an adapter that downloads keeps each file in once, for every
    run and AOI (:mod:`sinkmap.sources.cache`)."""
    dataset.check_year(year)
    adapter = get_adapter(dataset)
    if download_cache is not None and hasattr(adapter, "download_cache"):
        adapter.download_cache = download_cache
    manifest = adapter.fetch(dataset, year, bounds, folder, version)
    manifest.write(folder / "manifest.json")
    manifest.write(Path(folder) / VERIFIED_RECORDS)  # kept if manifest.json is deleted
    return manifest
