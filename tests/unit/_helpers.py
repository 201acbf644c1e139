"""Helpers of the unit tests: repository paths, a tiny-GeoTIFF writer, and local-server settings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import requests
from affine import Affine
from servers import tif_bytes

#: The repository root (tests/unit/_helpers.py -> parents[2]).
ROOT = Path(__file__).resolve().parents[2]
POOL_CSV = ROOT / "config" / "pools" / "worldcover_ipcc_tier1.csv"
AOI_GPKG = ROOT / "aoi" / "baoting.gpkg"
CONFIG_YAML = ROOT / "config" / "config.yaml"
DATASETS_YAML = ROOT / "config" / "datasets.yaml"
SCHEMA_JSON = ROOT / "workflow" / "schemas" / "config.schema.json"

#: A UTM 49N corner inside Baoting county (109.7 E 18.64 N is at about x=362874, y=2061492).
UTM_LEFT, UTM_TOP = 360_000.0, 2_062_000.0


def write_tif(
    path: Path,
    array: np.ndarray,
    *,
    res: float,
    left: float,
    top: float,
    crs: str = "EPSG:32649",
    nodata: float | int | None = None,
) -> Path:
    """Write a single-band north-up GeoTIFF of ``array`` with its upper-left corner at (left, top)."""
    transform = Affine(res, 0.0, left, 0.0, -res, top)
    Path(path).write_bytes(tif_bytes(array, crs=crs, transform=transform, nodata=nodata))
    return path


def use_local_server(
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    datasets: Iterable[str],
    *,
    retries: int,
    timeout: float | None = None,
) -> None:
    """Point ``datasets`` at the local server ``base_url``, keep retries fast, refuse other hosts.

    Every ``SINKMAP_*`` setting is cleared first; then ``SINKMAP_BASE_URL_<DATASET>`` is set for
    each of ``datasets`` (upper-case, as in the variables), ``SINKMAP_HTTP_RETRIES`` to ``retries``,
    ``SINKMAP_HTTP_BACKOFF`` to 0.01 s and, if given, ``SINKMAP_HTTP_TIMEOUT`` to ``timeout``.
    """
    for key in list(os.environ):
        if key.startswith("SINKMAP_"):
            monkeypatch.delenv(key)
    for name in datasets:
        monkeypatch.setenv(f"SINKMAP_BASE_URL_{name}", base_url)
    monkeypatch.setenv("SINKMAP_HTTP_RETRIES", str(retries))
    monkeypatch.setenv("SINKMAP_HTTP_BACKOFF", "0.01")
    if timeout is not None:
        monkeypatch.setenv("SINKMAP_HTTP_TIMEOUT", str(timeout))
    real = requests.Session.request

    def guarded(self: requests.Session, method: str, url: str, *args: object, **kw: object):
        assert url.startswith("http://127.0.0.1:"), f"test tried to reach {url}"
        return real(self, method, url, *args, **kw)

    monkeypatch.setattr(requests.Session, "request", guarded)


def listing(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included ([] if it does not exist)."""
    return sorted(os.listdir(folder)) if folder.exists() else []
