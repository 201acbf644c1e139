"""Local HTTP servers of the tests (127.0.0.1 only): files with fault injection, a STAC API, SAS tokens.

:class:`TileServer` serves ``files`` (URL path -> bytes) with HTTP Range support (206 Partial
Content, as GDAL's /vsicurl reads COGs) and per-path queues of faults, consumed one per request:
``503``, ``404``, ``403`` (status only); ``drop`` (half the body, then a TCP reset); ``truncate``
(Content-Length of the whole body, half of it, then a clean close); ``short`` (the first half of
the file with its own Content-Length: a truncated file served as if whole); ``stall`` (wait 1 s before
answering, to trigger a client's timeout); ``ok`` (answer normally: lets a fault hit a later request).

:class:`StacServer` adds a minimal STAC API (``GET /``, ``GET /collections/{id}``, ``GET|POST /search``
with ``collections``, ``bbox``, ``datetime``, ``ids``, ``query`` on ``eo:cloud_cover``, ``limit`` and
paging by ``next`` links) and a Planetary Computer style SAS token endpoint
(``GET /api/sas/v1/token/{account}/{container}``). Paths in ``private`` answer 403 unless the request
carries the token's query string.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

STATUS_FAULTS = ("503", "404", "403")
SAS_TOKEN = "st=2030-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rl&sv=2021&sr=c&sig=TESTSIG"
SAS_PREFIX = "/api/sas/v1/token"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/collections",
]


class TileServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1, with per-path queues of faults."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[str] = []  # paths (without query string) in the order asked
        self.queries: list[str] = []  # the query strings, in the same order
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self  # type: ignore[attr-defined]
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> TileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return len([p for p in self.requests if path is None or p == path])

    def fail(self, path: str, *faults: str) -> None:
        with self.lock:
            self.faults.setdefault(path, []).extend(faults)

    # hook of StacServer: answer a JSON route, or None to serve a file
    def route(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[int, Any] | None:  # pragma: no cover - overridden
        return None

    def allowed(self, path: str, query: str) -> bool:
        return True


class StacServer(TileServer):
    """A TileServer that is also a minimal STAC API and SAS token service."""

    def __init__(self) -> None:
        super().__init__()
        self.collections: dict[str, dict[str, Any]] = {}
        self.items: list[dict[str, Any]] = []
        self.private: set[str] = set()  # file paths that need the SAS token
        self.tokens_issued = 0

    @property
    def sas_url(self) -> str:
        return self.url + SAS_PREFIX

    def add_collection(self, cid: str, start: str = "2017-01-01T00:00:00Z") -> None:
        self.collections[cid] = {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": cid,
            "description": f"test collection {cid}",
            "license": "CC-BY-4.0",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [[start, None]]},
            },
            "links": [
                {"rel": "self", "href": f"{self.url}/collections/{cid}"},
                {"rel": "root", "href": f"{self.url}/"},
                {"rel": "items", "href": f"{self.url}/collections/{cid}/items"},
            ],
        }

    def add_item(
        self,
        collection: str,
        item_id: str,
        bbox: list[float],
        assets: dict[str, dict[str, Any]],
        properties: dict[str, Any],
    ) -> dict[str, Any]:
        """Add an item; each asset's ``href`` may be a path, made absolute on this server."""
        if collection not in self.collections:
            self.add_collection(collection)
        west, south, east, north = bbox
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": [],
            "id": item_id,
            "collection": collection,
            "bbox": bbox,
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[west, south], [east, south], [east, north], [west, north], [west, south]]
                ],
            },
            "properties": properties,
            "assets": {
                key: {**asset, "href": self.url + asset["href"]}
                if asset["href"].startswith("/")
                else asset
                for key, asset in assets.items()
            },
            "links": [
                {"rel": "collection", "href": f"{self.url}/collections/{collection}"},
                {"rel": "root", "href": f"{self.url}/"},
            ],
        }
        self.items.append(item)
        return item

    def allowed(self, path: str, query: str) -> bool:
        return path not in self.private or query == SAS_TOKEN

    def route(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any] | None:
        if path in ("/", ""):
            return 200, self._landing()
        if path == "/conformance":
            return 200, {"conformsTo": CONFORMANCE}
        if path.startswith("/collections/") and path.count("/") == 2:
            found = self.collections.get(path.split("/")[2])
            return (200, found) if found else (404, {"code": "NotFound"})
        if path == "/search":
            if method == "POST":
                params = json.loads(body or b"{}")
            else:
                params = {k: v[0] for k, v in parse_qs(query).items()}
            return 200, self._search(method, params)
        if path.startswith(SAS_PREFIX + "/"):
            with self.lock:
                self.tokens_issued += 1
            return 200, {"token": SAS_TOKEN, "msft:expiry": "2099-01-01T00:00:00Z"}
        return None

    def _landing(self) -> dict[str, Any]:
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "sinkmap-test-api",
            "description": "STAC API of the sinkmap tests",
            "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "href": f"{self.url}/"},
                {"rel": "root", "href": f"{self.url}/"},
                {"rel": "conformance", "href": f"{self.url}/conformance"},
                {"rel": "data", "href": f"{self.url}/collections"},
                {"rel": "search", "href": f"{self.url}/search", "method": "GET"},
                {"rel": "search", "href": f"{self.url}/search", "method": "POST"},
            ],
        }

    def _search(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        collections = _as_list(params.get("collections"))
        ids = _as_list(params.get("ids"))
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        interval = _interval(params.get("datetime"))
        query = params.get("query") or {}
        if isinstance(query, str):
            query = json.loads(query)
        limit = int(params.get("limit") or 10)
        page = int(params.get("page") or 1)
        hits = [
            it
            for it in self.items
            if (not collections or it["collection"] in collections)
            and (not ids or it["id"] in ids)
            and (bbox is None or _overlaps(it["bbox"], bbox))
            and (interval is None or _intersects(_item_interval(it), interval))
            and _matches(it["properties"], query)
        ]
        chunk = hits[(page - 1) * limit : page * limit]
        links: list[dict[str, Any]] = [{"rel": "root", "href": f"{self.url}/"}]
        if page * limit < len(hits):
            nxt = {**params, "page": page + 1}
            if method == "POST":
                links.append(
                    {"rel": "next", "href": f"{self.url}/search", "method": "POST", "body": nxt}
                )
            else:
                from urllib.parse import urlencode

                links.append({"rel": "next", "href": f"{self.url}/search?{urlencode(nxt)}"})
        return {
            "type": "FeatureCollection",
            "features": chunk,
            "links": links,
            "numberMatched": len(hits),
            "numberReturned": len(chunk),
        }


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value.split(",") if isinstance(value, str) else list(value)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _interval(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    if not text:
        return None
    start, _, end = text.partition("/")
    if not end:
        return _time(start), _time(start)
    return (
        None if start in ("", "..") else _time(start),
        None if end in ("", "..") else _time(end),
    )


def _item_interval(item: dict[str, Any]) -> tuple[datetime, datetime]:
    props = item["properties"]
    if props.get("start_datetime"):
        return _time(props["start_datetime"]), _time(props["end_datetime"])
    return _time(props["datetime"]), _time(props["datetime"])


def _intersects(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    return (b[1] is None or a[0] <= b[1]) and (b[0] is None or a[1] >= b[0])


def _overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


def _matches(props: dict[str, Any], query: dict[str, Any]) -> bool:
    ops = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__}
    for key, cond in query.items():
        for op, value in cond.items():
            if key not in props or not ops[op](float(props[key]), float(value)):
                return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def _answer(self, method: str) -> None:
        state: TileServer = self.server.state  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        with state.lock:
            state.requests.append(path)
            state.queries.append(query)
            queue = state.faults.get(path)
            fault = queue.pop(0) if queue else None
            body = state.files.get(path)
        if fault == "stall":
            time.sleep(1.0)
        if fault in STATUS_FAULTS:
            return self._status(int(fault))
        routed = state.route(method, path, query, body_in)
        if routed is not None:
            status, doc = routed
            data = json.dumps(doc).encode()
            return self._send(status, data, "application/json", method, fault)
        if body is None:
            return self._status(404)
        if not state.allowed(path, query):
            return self._status(403)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].split(",")[0].partition("-")
            start = int(first) if first else max(0, len(body) - int(last))
            end = min(int(last), len(body) - 1) if first and last else len(body) - 1
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {"Content-Range": f"bytes {start}-{end}/{len(body)}"}
            return self._send(206, body[start : end + 1], "image/tiff", method, fault, headers)
        return self._send(200, body, "image/tiff", method, fault)

    def _status(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(
        self,
        status: int,
        data: bytes,
        ctype: str,
        method: str,
        fault: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if fault == "short":  # a truncated file served as if whole: its own, honest length
            data = data[: len(data) // 2]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if method == "HEAD":
            return
        if fault in ("drop", "truncate"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            if fault == "drop":  # RST instead of FIN: "connection reset by peer"
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.connection.shutdown(socket.SHUT_WR)
            self.connection.close()
            return
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


# -- synthetic products in the form of the real ones ------------------------------------------------
IO_LULC = "io-lulc-annual-v02"
S2_L2A = "sentinel-2-l2a"


def tif_bytes(
    array: Any,
    *,
    crs: str,
    transform: Any,
    nodata: float | int | None = None,
    driver: str = "GTiff",
    **creation: Any,
) -> bytes:
    """Bytes of a one-band north-up GeoTIFF of ``array`` (``driver`` and creation options as given).

    The one GeoTIFF writer of the tests: files on disk (``tests/unit/_helpers.write_tif``), files
    served by the local servers, and COGs (:func:`cog_bytes`) all come from here.
    """
    import rasterio
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with rasterio.open(
            mem.name,
            "w",
            driver=driver,
            width=array.shape[1],
            height=array.shape[0],
            count=1,
            dtype=array.dtype,
            crs=crs,
            transform=transform,
            nodata=nodata,
            **creation,
        ) as dst:
            dst.write(array, 1)
        return bytes(mem.read())


def cog_bytes(
    array: Any, *, crs: str, transform: Any, nodata: float | int | None, blocksize: int = 256
) -> bytes:
    """Bytes of a Cloud-Optimized GeoTIFF of ``array`` (one band), as a public bucket holds it."""
    return tif_bytes(
        array,
        crs=crs,
        transform=transform,
        nodata=nodata,
        driver="COG",
        blocksize=blocksize,
        compress="DEFLATE",
        overviews="NONE",
    )


def add_io_lulc(
    server: StacServer,
    year: int,
    array: Any,
    transform: Any,
    *,
    tile: str = "49Q",
    private: bool = True,
) -> str:
    """Serve an Impact Observatory annual LULC item ``{tile}-{year}`` (EPSG:32649); its file path.

    Like the real collection, the item stands for the year from 1 January to 1 January of the next
    year (so a search for the next year finds it too), and its file is private (needs a SAS token)
    unless ``private=False`` (for a Snakemake subprocess, whose ``planetary_computer`` signs only
    ``*.blob.core.windows.net`` hrefs and leaves this server's unsigned).
    """
    path = f"/io-annual-lulc/v02/{tile}_{year}.tif"
    server.files[path] = cog_bytes(array, crs="EPSG:32649", transform=transform, nodata=0)
    if private:
        server.private.add(path)
    server.add_item(
        IO_LULC,
        f"{tile}-{year}",
        [108.0, 16.0, 114.0, 24.0],
        {
            "data": {
                "href": path,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            }
        },
        {
            "datetime": None,
            "start_datetime": f"{year}-01-01T00:00:00Z",
            "end_datetime": f"{year + 1}-01-01T00:00:00Z",
            "proj:epsg": 32649,
            "io:tile_id": tile,
        },
    )
    return path


def add_s2_scene(
    server: StacServer,
    scene_id: str,
    when: str,
    bands: dict[str, Any],
    transform10: Any,
    *,
    offset: float,
    baseline: str,
    cloud_cover: float = 10.0,
    tile: str = "49QCA",
) -> dict[str, str]:
    """Serve a Sentinel-2 L2A scene in Earth Search's form: red/nir at 10 m, scl at 20 m.

    ``bands`` holds the digital numbers of ``red``, ``nir`` (uint16, 10 m) and ``scl`` (uint8,
    20 m); ``offset`` is the reflectance offset its ``raster:bands`` announce (-0.1 from baseline
    04.00). Returns asset key -> file path.
    """
    from affine import Affine

    base = f"/sentinel-s2-l2a-cogs/{tile[:2]}/{tile[2]}/{tile[3:]}/{when[:4]}/{int(when[5:7])}"
    paths = {}
    assets = {}
    transform20 = transform10 @ Affine.scale(2)
    for key, name in (("red", "B04"), ("nir", "B08"), ("scl", "SCL")):
        path = f"{base}/{scene_id}/{name}.tif"
        paths[key] = path
        server.files[path] = cog_bytes(
            bands[key],
            crs="EPSG:32649",
            transform=transform20 if key == "scl" else transform10,
            nodata=0,
        )
        rb: dict[str, Any] = {"nodata": 0, "data_type": str(bands[key].dtype)}
        if key != "scl":
            rb |= {"scale": 0.0001, "offset": offset, "spatial_resolution": 10}
        assets[key] = {"href": path, "type": "image/tiff", "raster:bands": [rb]}
    server.add_item(
        S2_L2A,
        scene_id,
        [109.0, 18.0, 110.1, 19.1],
        assets,
        {
            "datetime": when,
            "eo:cloud_cover": cloud_cover,
            "s2:processing_baseline": baseline,
            "proj:epsg": 32649,
            "grid:code": f"MGRS-{tile}",
        },
    )
    return paths


def add_zenodo_record(server: TileServer, record: str, files: dict[str, bytes]) -> dict[str, str]:
    """Serve ``files`` as Zenodo record ``record``: file name -> its URL path.

    Files under ``/records/{record}/files/{name}`` (Zenodo answers ``?download=1`` there too), and
    the record's JSON at ``/api/records/{record}`` with each file's size and ``md5:`` checksum.
    """
    import hashlib

    entries = []
    paths = {}
    for name, data in files.items():
        paths[name] = f"/records/{record}/files/{name}"
        server.files[paths[name]] = data
        entries.append(
            {
                "key": name,
                "size": len(data),
                "checksum": "md5:" + hashlib.md5(data).hexdigest(),
                "links": {"self": f"{server.url}/api/records/{record}/files/{name}/content"},
            }
        )
    doc = {"id": int(record), "files": entries}
    server.files[f"/api/records/{record}"] = json.dumps(doc).encode()
    return paths
