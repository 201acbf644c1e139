"""``sinkmap stock`` and ``sinkmap change``: InVEST-style carbon storage of LULC rasters."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_cli(subparsers: Any) -> None:
    """Add the ``stock`` and ``change`` subcommands to ``sinkmap``'s subparsers (``func`` set)."""
    p = subparsers.add_parser(
        "stock",
        help="InVEST-style carbon storage of one LULC raster (no config); prints a JSON summary",
        description="Map an InVEST Carbon pool table (lucode,c_above,c_below,c_soil,c_dead in "
        "Mg C/ha) onto a projected LULC raster. Writes c_storage_bas.tif and "
        "intermediate_outputs/c_<pool>_bas.tif (Mg C/ha, COG) and prints totals in Mg C.",
    )
    p.add_argument("--lulc", type=Path, required=True, help="land-cover raster (projected, metres)")
    _common_args(p)
    p.set_defaults(func=_stock_cli)
    p = subparsers.add_parser(
        "change",
        help="InVEST-style carbon storage of two LULC rasters and its change (alt - bas)",
        description="Like `sinkmap stock` for a baseline and an alternate LULC raster on the same "
        "pixel grid; also writes c_change_bas_alt.tif (alternate minus baseline, Mg C/ha: positive "
        "= carbon gained) and prints the totals and their change in Mg C.",
    )
    p.add_argument("--lulc-bas", type=Path, required=True, help="baseline land-cover raster")
    p.add_argument("--lulc-alt", type=Path, required=True, help="alternate land-cover raster")
    _common_args(p)
    p.set_defaults(func=_change_cli)


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pools", type=Path, required=True, help="carbon pool table (CSV, Mg C/ha)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all)")
    p.add_argument(
        "--cog", action="store_true", help="write Cloud-Optimized GeoTIFFs (with overviews)"
    )
    p.add_argument("--chunk", type=int, default=2048, help="chunk side in pixels (default 2048)")


def _stock_cli(args: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
    from sinkmap.invest import stock

    summary = stock(
        args.lulc, args.pools, args.out, threads=args.threads, chunk=args.chunk, cog=args.cog
    )
    print(json.dumps(summary, indent=2))
    return 0


def _change_cli(args: argparse.Namespace) -> int:
    from sinkmap.invest import change

    summary = change(
        args.lulc_bas,
        args.lulc_alt,
        args.pools,
        args.out,
        threads=args.threads,
        chunk=args.chunk,
        cog=args.cog,
    )
    print(json.dumps(summary, indent=2))
    return 0
