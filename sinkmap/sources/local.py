"""The ``local`` adapter: a folder of GeoTIFFs a user obtained by other means.

Common where the public hosts are slow or blocked: someone downloads the tiles once (by browser, a
mirror, a USB disk) and points a dataset at the folder. A registry entry looks like the product's own
entry (same CRS, dtype, nodata, legend, so the files are read with the same encoding rules) with::

    adapter: local
    path: /data/worldcover                               # relative paths: to the working folder
    pattern: "ESA_WorldCover_10m_{year}_*_Map.tif"      # optional

``pattern`` is a glob with ``{year}`` and optionally ``{version}`` and ``{tile}``. A string applies to
the dataset's main layer (``options.main_layer``, else ``map`` if it has one, else its first layer);
a mapping gives one pattern per layer (``{agb: ..., sd: ...}``). Without ``pattern`` the product's
own file names (``files:``) are looked for. With ``{tile}`` every tile covering the AOI must be
present; without it every matching file is used. The files are not copied: the manifest points at
them by absolute path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import rasterio
import rasterio.errors
from rasterio.crs import CRS

from sinkmap.errors import SourceError
from sinkmap.files import inside, sha256_file
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile, fill_pattern
from sinkmap.sources.tiles import tiles_for_bounds

log = logging.getLogger("sinkmap")

_CHUNK = 1 << 20


class LocalFilesAdapter:
    """Finds a dataset's files in a local folder by pattern, checks them, and lists them.

    Args:
        path: The folder to search, overriding the dataset's ``path`` field.
    """

    name = "local"

    def __init__(self, *, path: str | Path | None = None) -> None:
        self.path = path

    def folder_for(self, dataset: Dataset) -> Path:
        """The absolute folder holding ``dataset``'s files."""
        raw = self.path if self.path is not None else dataset.path
        if not raw:
            raise SourceError(
                f"dataset {dataset.name} uses adapter local but has no `path:`; set it in the "
                "dataset registry to the folder holding the GeoTIFFs"
            )
        root = Path(raw).expanduser().resolve()
        if not root.is_dir():
            raise SourceError(
                f"folder {root} of dataset {dataset.name} does not exist or is not a folder; fix "
                "`path:` in the dataset registry, or mount/copy the files there"
            )
        return root

    def layer_patterns(self, dataset: Dataset) -> dict[str, str]:
        """Layer -> filename pattern (with ``{year}``, ``{version}``, ``{tile}`` fields)."""
        pattern = dataset.pattern
        if pattern is None:
            return dict(dataset.files)
        if isinstance(pattern, str):
            return {dataset.main_layer: pattern}
        if isinstance(pattern, dict) and pattern:
            return {str(k): str(v) for k, v in pattern.items()}
        raise SourceError(
            f"`pattern:` of dataset {dataset.name} must be a filename pattern or a mapping of layer "
            f"to pattern, not {pattern!r}"
        )

    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """List the files of ``dataset`` for ``year`` over ``bounds`` (lon/lat) found by pattern.

        Nothing is copied into ``folder``; the manifest (written there by the caller) records each
        file's absolute path, size and SHA-256.
        """
        root = self.folder_for(dataset)
        ver = dataset.version_for(year, version)
        records: list[RawFile] = []
        for layer, pattern in self.layer_patterns(dataset).items():
            if "{tile}" in pattern:
                tiles: list[str | None] = list(tiles_for_bounds(dataset.tile_scheme, bounds))
            else:
                tiles = [None]
            for tile in tiles:
                glob = _expand(dataset, pattern, year, ver, tile)
                matches = sorted(p for p in root.glob(glob) if p.is_file())
                if not matches:
                    what = f"tile {tile} of " if tile else ""
                    raise SourceError(
                        f"no file for {what}{dataset.name} {year} (layer {layer}) in {root} matches "
                        f"{glob!r} (pattern {pattern!r}). Put the file there, or fix `path:` / "
                        "`pattern:` of the dataset in the dataset registry."
                    )
                for path in matches:
                    inside(path, root, f"file of dataset {dataset.name} (pattern {pattern!r})")
                    _check_raster(path, dataset)
                    records.append(_record(layer, path))
                    log.info("using local file %s for %s %s (%s)", path, dataset.name, year, layer)
        return Manifest(
            dataset.name, ver, year, self.name, dataset.synthetic, tuple(records), Path(folder)
        )


def _expand(dataset: Dataset, pattern: str, year: int, version: str, tile: str | None) -> str:
    return fill_pattern(
        pattern,
        f"pattern {pattern!r} of dataset {dataset.name}",
        "{year}, {version} and {tile} (and glob wildcards such as *)",
        year=year,
        version=version,
        tile=tile,
    )


def _check_raster(path: Path, dataset: Dataset) -> None:
    """Raise SourceError unless ``path`` opens as a raster; warn when its CRS is not the dataset's."""
    try:
        with rasterio.open(path) as ds:
            crs = ds.crs
    except rasterio.errors.RasterioError as exc:
        raise SourceError(
            f"local file {path} of dataset {dataset.name} cannot be opened as a raster: {exc}. "
            "Replace it with a complete copy, or narrow `pattern:` so it does not match it."
        ) from exc
    if crs is None:
        raise SourceError(
            f"local file {path} of dataset {dataset.name} has no CRS; assign the product's CRS "
            f"(e.g. `gdal_edit.py -a_srs {dataset.crs} {path}`) or replace it with the original file"
        )
    if crs != CRS.from_user_input(dataset.crs):
        log.warning(
            "local file %s has CRS %s, not %s as dataset %s says; it will be warped from its own CRS",
            path,
            crs.to_string(),
            dataset.crs,
            dataset.name,
        )


def _record(layer: str, path: Path) -> RawFile:
    return RawFile(layer, str(path), path.stat().st_size, sha256_file(path), path.as_uri())
