"""The ``sentinel2_composite`` adapter: an annual cloud-masked median NDVI of Sentinel-2 L2A scenes.

A registry entry::

    adapter: sentinel2_composite
    options:
      stac_api: https://earth-search.aws.element84.com/v1
      collection: sentinel-2-l2a
      assets: {red: red, nir: nir, scl: scl}     # asset keys (these are the defaults)
      scl_mask: [0, 1, 3, 8, 9, 10]              # SCL classes treated as not clear (default)
      max_cloud_cover: 60                        # optional: eo:cloud_cover below this (percent)
      mgrs_tiles: [49QCA]                        # optional: keep only scenes of these tiles
      window: 512                                # output pixels per side processed at a time
    files:
      ndvi: "S2L2A_NDVI_median_{year}.tif"
      valid_count: "S2L2A_NDVI_valid_count_{year}.tif"
      scenes: "S2L2A_NDVI_scenes_{year}.json"

The scenes of the year over the AOI's bounding box are found in the STAC API (as for the ``stac``
adapter: same API override ``SINKMAP_BASE_URL_<DATASET>``, retries, offline rule). The output lies on
the 10 m lattice of the scenes in their UTM CRS (the first scene's; scenes in another CRS are
skipped with a warning), over the AOI's bounds snapped outwards to that lattice. For every output
window, each scene's red, nir and scl are read for that window only (SCL, at 20 m, by nearest
neighbour on the 10 m lattice: each 10 m pixel lies in one 20 m pixel), digital numbers are turned
into reflectance with each asset's own ``raster:bands`` scale and offset (processing baseline 04.00
adds an offset of -1000 digital numbers from 2022-01-25; the item metadata says so, nothing here
assumes it), pixels whose SCL class is in ``scl_mask``, or whose red or nir is the nodata value, or
whose red + nir reflectance is not positive, are dropped, and NDVI = (nir - red) / (nir + red),
clipped to [-1, 1], is reduced to its median over the scenes (NaN where no scene is clear). Memory
is bounded by ``window`` squared times the number of scenes.

Written (temporary name, then renamed): the NDVI median (float32, NaN nodata), the number of clear
observations per pixel (``valid_count``, uint16), and a JSON list of the scenes used (id, date,
hrefs, scale/offset, processing baseline, cloud cover). The manifest's URL of each file is the STAC
search URL that returns exactly the scenes used (``.../search?collections=...&ids=...``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sinkmap.errors import SourceError
from sinkmap.files import atomic_path, sha256_file
from sinkmap.sources import Bounds, Dataset, Manifest, RawFile
from sinkmap.sources.http import (
    ENV_BACKOFF,
    ENV_RETRIES,
    ENV_TIMEOUT,
    HttpClient,
    PlannedFile,
    Transient,
    base_url_env_var,
    call_with_retries,
)
from sinkmap.sources.stac import (
    BOUNDS_TAG,
    RetrySettings,
    StacSearch,
    asset_href,
    file_name,
    gdal_status,
    offline_error,
    resolve_api,
    reusable_manifest,
    search_items,
    signer,
    vsicurl,
    year_interval,
)

log = logging.getLogger("sinkmap")

DEFAULT_ASSETS = {"red": "red", "nir": "nir", "scl": "scl"}
DEFAULT_SCL_MASK = (0, 1, 3, 8, 9, 10)
LAYERS = ("ndvi", "valid_count", "scenes")


@dataclass(frozen=True)
class BandCoding:
    """How an asset's digital numbers become values: value = dn * scale + offset; nodata dn."""

    scale: float
    offset: float
    nodata: float | None

    @classmethod
    def of(cls, item: pystac.Item, key: str) -> BandCoding:
        bands = item.assets[key].extra_fields.get("raster:bands") or [{}]
        band = bands[0]
        if "scale" not in band and "offset" not in band and key != "scl":
            log.warning(
                "asset %s of %s has no raster:bands scale/offset; reflectance taken as dn * 1 + 0",
                key,
                item.id,
            )
        return cls(
            float(band.get("scale", 1.0)), float(band.get("offset", 0.0)), band.get("nodata", 0)
        )


@dataclass(frozen=True)
class Lattice:
    """The output grid: CRS, transform (on the scenes' pixel lattice), width, height."""

    crs: CRS
    transform: Affine
    width: int
    height: int


def lattice_for(crs: CRS, scene: Affine, bounds: Bounds) -> Lattice:
    """The AOI's lon/lat ``bounds`` in ``crs``, snapped outwards to the pixel lattice of ``scene``."""
    res = abs(scene.a)
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, *bounds, densify_pts=21)
    x0, y0 = scene.c, scene.f
    eps = 1e-6
    c0 = int(np.floor((left - x0) / res + eps))
    c1 = int(np.ceil((right - x0) / res - eps))
    r0 = int(np.floor((y0 - top) / res + eps))
    r1 = int(np.ceil((y0 - bottom) / res - eps))
    transform = Affine(res, 0.0, x0 + c0 * res, 0.0, -res, y0 - r0 * res)
    return Lattice(crs, transform, c1 - c0, r1 - r0)


def ndvi_stack(
    red: np.ndarray,
    nir: np.ndarray,
    scl: np.ndarray,
    codings: list[tuple[BandCoding, BandCoding]],
    scl_mask: tuple[int, ...],
) -> np.ndarray:
    """NDVI per scene (NaN where not clear) from digital numbers, shape (scenes, rows, cols)."""
    out = np.full(red.shape, np.nan, dtype="float32")
    for i, (c_red, c_nir) in enumerate(codings):
        r = red[i].astype("float64") * c_red.scale + c_red.offset
        n = nir[i].astype("float64") * c_nir.scale + c_nir.offset
        valid = ~np.isin(scl[i], scl_mask)
        if c_red.nodata is not None:
            valid &= red[i] != c_red.nodata
        if c_nir.nodata is not None:
            valid &= nir[i] != c_nir.nodata
        denom = n + r
        valid &= denom > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi = np.clip((n - r) / denom, -1.0, 1.0)
        out[i][valid] = ndvi[valid]
    return out


def median_and_count(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the first axis ignoring NaN (NaN where all are NaN), and the count of values."""
    count = np.sum(~np.isnan(stack), axis=0).astype("uint16")
    if stack.shape[0] == 0:
        return np.full(stack.shape[1:], np.nan, dtype="float32"), count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: NaN, as wanted
        median = np.nanmedian(stack, axis=0).astype("float32")
    return median, count


class _Scene:
    """One scene's assets opened as windows of the output lattice, reopened after a failure."""

    def __init__(
        self,
        item: pystac.Item,
        hrefs: dict[str, str],
        lattice: Lattice,
        sign: Callable[[str], str],
        settings: RetrySettings,
    ) -> None:
        self.item = item
        self.hrefs = hrefs
        self.lattice = lattice
        self.sign = sign
        self.settings = settings
        self.stack: contextlib.ExitStack | None = None
        self.vrts: dict[str, WarpedVRT] = {}

    def _open(self) -> None:
        stack = contextlib.ExitStack()
        try:
            for role, href in self.hrefs.items():
                src = stack.enter_context(rasterio.open(vsicurl(self.sign(href))))
                nodata = src.nodata if src.nodata is not None else 0
                self.vrts[role] = stack.enter_context(
                    WarpedVRT(
                        src,
                        crs=self.lattice.crs,
                        transform=self.lattice.transform,
                        width=self.lattice.width,
                        height=self.lattice.height,
                        resampling=Resampling.nearest,
                        src_nodata=nodata,
                        nodata=nodata,
                    )
                )
        except BaseException:
            stack.close()
            self.vrts = {}
            raise
        self.stack = stack

    def close(self) -> None:
        if self.stack is not None:
            self.stack.close()
        self.stack, self.vrts = None, {}

    def read(self, window: Window) -> dict[str, np.ndarray]:
        def once() -> dict[str, np.ndarray]:
            try:
                if self.stack is None:
                    self._open()
                return {role: vrt.read(1, window=window) for role, vrt in self.vrts.items()}
            except rasterio.errors.RasterioError as exc:
                self.close()
                if gdal_status(exc) in (401, 403, 404, 410):
                    raise SourceError(
                        f"an asset of scene {self.item.id} ({', '.join(self.hrefs.values())}) "
                        f"answered HTTP {gdal_status(exc)}: {exc}. Check the asset keys in the "
                        "registry's options, or point the dataset's SINKMAP_BASE_URL_ at a mirror."
                    ) from exc
                raise Transient(f"{type(exc).__name__}: {exc}") from exc

        return call_with_retries(
            once,
            retries=self.settings.retries,
            backoff=self.settings.backoff,
            what=f"scene {self.item.id}",
        )


class Sentinel2CompositeAdapter(HttpClient):
    """Computes an annual median NDVI composite of Sentinel-2 L2A scenes over the AOI.

    Args:
        base_url: Overrides the STAC API root (and ``SINKMAP_BASE_URL_<DATASET>``).
        retries, backoff, timeout, offline: As for ``http_tiles`` (env ``SINKMAP_HTTP_*``,
            ``SINKMAP_OFFLINE``).
        window: Output pixels per side processed at a time (default ``options.window`` or 512).
    """

    name = "sentinel2_composite"

    def __init__(self, *, window: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = RetrySettings(self.retries, self.backoff, self.timeout)
        self.window = window

    # -- planning --------------------------------------------------------------------------------
    def search_for(self, dataset: Dataset, year: int, bounds: Bounds) -> StacSearch:
        cloud = dataset.options.get("max_cloud_cover")
        return StacSearch(
            resolve_api(dataset, self.base_url),
            str(dataset.options.get("collection", "sentinel-2-l2a")),
            tuple(float(v) for v in bounds),  # type: ignore[arg-type]
            year_interval(year),
            {"eo:cloud_cover": {"lt": float(cloud)}} if cloud is not None else None,
        )

    def names(self, dataset: Dataset, year: int, version: str) -> dict[str, str]:
        missing = [layer for layer in LAYERS if layer not in dataset.files]
        if missing:
            raise SourceError(
                f"dataset {dataset.name} (adapter sentinel2_composite) needs the layers {LAYERS} "
                f"in `files:` (file name patterns with {{year}}); {missing} are missing"
            )
        return {
            layer: file_name(dataset.files[layer], year=year, version=version) for layer in LAYERS
        }

    def plan(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> list[PlannedFile]:
        """The files ``fetch`` writes, each with the search URL of the scenes (no search made)."""
        ver = dataset.version_for(year, version)
        url = self.search_for(dataset, year, bounds).url()
        return [
            PlannedFile(layer, "", Path(folder) / name, url)
            for layer, name in self.names(dataset, year, ver).items()
        ]

    # -- fetching --------------------------------------------------------------------------------
    def fetch(
        self, dataset: Dataset, year: int, bounds: Bounds, folder: Path, version: str | None
    ) -> Manifest:
        """Compute the composite of ``year`` over ``bounds`` (lon/lat) into ``folder``."""
        folder = Path(folder)
        ver = dataset.version_for(year, version)
        names = self.names(dataset, year, ver)
        done = reusable_manifest(dataset, year, ver, bounds, folder, self.name)
        if done is not None:
            return done
        search = self.search_for(dataset, year, bounds)
        if self.offline_mode():
            raise offline_error(dataset, year, folder, search.describe())
        items = self._scenes(dataset, search, year)
        assets = {**DEFAULT_ASSETS, **dict(dataset.options.get("assets") or {})}
        sign = signer(dataset)

        first = asset_href(items[0], assets["red"], dataset)
        try:
            with self.settings.gdal_env(), rasterio.open(vsicurl(sign(first))) as ds:
                crs, scene_transform = ds.crs, ds.transform
        except rasterio.errors.RasterioError as exc:
            raise SourceError(
                f"cannot open {first} (red band of scene {items[0].id}) to find the scenes' grid: "
                f"{exc}. Check that the API's assets are reachable, or point "
                f"{base_url_env_var(dataset.name)} at a mirror."
            ) from exc
        kept = [it for it in items if _item_crs(it) in (None, crs)]
        for it in items:
            if it not in kept:
                log.warning("skipping scene %s: not in %s like the first scene", it.id, crs)
        lattice = lattice_for(crs, scene_transform, bounds)
        scenes = [
            _Scene(
                it,
                {r: asset_href(it, k, dataset) for r, k in assets.items()},
                lattice,
                sign,
                self.settings,
            )
            for it in kept
        ]
        codings = [
            (BandCoding.of(s.item, assets["red"]), BandCoding.of(s.item, assets["nir"]))
            for s in scenes
        ]
        mask = tuple(int(c) for c in dataset.options.get("scl_mask", DEFAULT_SCL_MASK))
        size = int(self.window or dataset.options.get("window", 512))
        source_url = search.url(ids=[s.item.id for s in scenes])
        tags = {
            BOUNDS_TAG: json.dumps(list(bounds)),
            "SCENES": ",".join(s.item.id for s in scenes),
            "SCL_MASK": json.dumps(list(mask)),
            "SOURCE_SEARCH": source_url,
        }

        folder.mkdir(parents=True, exist_ok=True)
        paths = {layer: folder / name for layer, name in names.items()}
        profile = {
            "driver": "GTiff",
            "width": lattice.width,
            "height": lattice.height,
            "count": 1,
            "crs": lattice.crs,
            "transform": lattice.transform,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "DEFLATE",
        }
        log.info(
            "compositing NDVI of %d scene(s) of %s on a %d x %d grid of %s",
            len(scenes),
            year,
            lattice.width,
            lattice.height,
            crs,
        )
        try:
            with (
                self.settings.gdal_env(),
                atomic_path(paths["ndvi"]) as tmp_ndvi,
                atomic_path(paths["valid_count"]) as tmp_count,
                atomic_path(paths["scenes"]) as tmp_scenes,
            ):
                with (
                    rasterio.open(
                        tmp_ndvi, "w", dtype="float32", nodata=float("nan"), predictor=3, **profile
                    ) as out_ndvi,
                    rasterio.open(tmp_count, "w", dtype="uint16", nodata=None, **profile) as out_n,
                ):
                    out_ndvi.update_tags(**tags, UNITS="NDVI (unitless)", STATISTIC="median")
                    out_n.update_tags(**tags, UNITS="count of clear observations")
                    for row in range(0, lattice.height, size):
                        for col in range(0, lattice.width, size):
                            win = Window(
                                col,
                                row,
                                min(size, lattice.width - col),
                                min(size, lattice.height - row),
                            )
                            ndvi, count = self._composite(scenes, codings, mask, win)
                            out_ndvi.write(ndvi, 1, window=win)
                            out_n.write(count, 1, window=win)
                tmp_scenes.write_text(
                    json.dumps(_scene_records(scenes, codings, assets), indent=2) + "\n",
                    encoding="utf-8",
                )
                for tmp in (tmp_ndvi, tmp_count):
                    with rasterio.open(tmp) as check:
                        if (check.width, check.height, check.crs) != (
                            lattice.width,
                            lattice.height,
                            lattice.crs,
                        ):
                            raise SourceError(
                                f"{tmp} reopened with another shape; nothing was kept"
                            )
                records = [
                    RawFile(
                        layer, paths[layer].name, tmp.stat().st_size, sha256_file(tmp), source_url
                    )
                    for layer, tmp in (
                        ("ndvi", tmp_ndvi),
                        ("valid_count", tmp_count),
                        ("scenes", tmp_scenes),
                    )
                ]
        except Transient as exc:
            raise SourceError(
                f"could not read the scenes of {search.describe()} after {self.settings.retries} "
                f"tries; last error: {exc}. Nothing was kept. Point {base_url_env_var(dataset.name)} "
                f"at a mirror, or retry later; {ENV_RETRIES}, {ENV_BACKOFF} and {ENV_TIMEOUT} tune "
                "the retries."
            ) from None
        finally:
            for scene in scenes:
                scene.close()
        return Manifest(
            dataset.name, ver, year, self.name, dataset.synthetic, tuple(records), folder
        )

    def _scenes(self, dataset: Dataset, search: StacSearch, year: int) -> list[pystac.Item]:
        items = search_items(search, dataset, self.settings, year)
        cloud = dataset.options.get("max_cloud_cover")
        tiles = {
            str(t).upper().removeprefix("MGRS-") for t in dataset.options.get("mgrs_tiles") or ()
        }
        kept = []
        for item in items:
            cc = item.properties.get("eo:cloud_cover")
            if cloud is not None and cc is not None and float(cc) >= float(cloud):
                continue
            if tiles and _mgrs_tile(item) not in tiles:
                continue
            kept.append(item)
        if not kept:
            raise SourceError(
                f"{search.describe()} found {len(items)} scene(s) of {year}, but none passes "
                f"options max_cloud_cover={cloud} / mgrs_tiles={sorted(tiles) or None} of dataset "
                f"{dataset.name}; relax them in the dataset registry"
            )
        return kept

    @staticmethod
    def _composite(
        scenes: list[_Scene],
        codings: list[tuple[BandCoding, BandCoding]],
        mask: tuple[int, ...],
        window: Window,
    ) -> tuple[np.ndarray, np.ndarray]:
        shape = (len(scenes), int(window.height), int(window.width))
        stack = np.full(shape, np.nan, dtype="float32")
        for i, scene in enumerate(scenes):
            bands = scene.read(window)
            stack[i] = ndvi_stack(
                bands["red"][None], bands["nir"][None], bands["scl"][None], [codings[i]], mask
            )[0]
        return median_and_count(stack)


def _item_crs(item: pystac.Item) -> CRS | None:
    code = item.properties.get("proj:code") or item.properties.get("proj:epsg")
    if code is None:
        return None
    return CRS.from_user_input(f"EPSG:{code}" if isinstance(code, int) else code)


def _mgrs_tile(item: pystac.Item) -> str | None:
    grid = item.properties.get("grid:code")
    if grid:
        return str(grid).upper().removeprefix("MGRS-")
    parts = [
        item.properties.get(k) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")
    ]
    return "".join(str(p) for p in parts).upper() if all(p is not None for p in parts) else None


def _scene_records(
    scenes: list[_Scene], codings: list[tuple[BandCoding, BandCoding]], assets: dict[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            "id": s.item.id,
            "datetime": s.item.datetime.isoformat() if s.item.datetime else None,
            "hrefs": s.hrefs,
            "red": c_red.__dict__,
            "nir": c_nir.__dict__,
            "processing_baseline": s.item.properties.get("s2:processing_baseline"),
            "cloud_cover": s.item.properties.get("eo:cloud_cover"),
        }
        for s, (c_red, c_nir) in zip(scenes, codings, strict=True)
    ]
