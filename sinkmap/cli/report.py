"""``sinkmap report``: the self-contained HTML report of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to ``sinkmap``'s subparsers (handler set as ``func``)."""
    p = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of a results folder",
        description="Write a self-contained HTML report (maps, time series, account tables, "
        "citations, configuration) of a results folder.",
    )
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    p.add_argument(
        "--config", type=Path, default=Path("config/config.yaml"), help="the run's config"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="HTML file (default: <results>/report.html)"
    )
    p.set_defaults(func=_report)
    return p


def _report(args: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
    from sinkmap.publish.report import build_report

    out = args.out or args.results / "report.html"
    build_report(args.results, args.config, out)
    print(f"wrote {out}")
    return 0
